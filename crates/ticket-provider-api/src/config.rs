//! Configuration from `config/config.yaml`, kept behind this one module so that nothing else
//! depends on the YAML library.
//!
//! Only the `homechoice.ticket` mapping belongs to us: other keys of the file are left alone
//! (the file may configure other parts of an application). The keys are flat, and each
//! belongs to whoever reads it:
//!
//! * this crate reads the keys every provider shares ([`TicketSettings`]: `provider`,
//!   `asana_project`, and `providers`, the per-name settings of third-party providers read
//!   with [`Config::provider_settings`]);
//! * each provider crate reads its own keys into its own type with [`Config::settings`], and
//!   declares them in its descriptor with [`crate::SettingsSpec::of`], so that loading a file can
//!   check them.
//!
//! Loading a file checks every key against the keys the linked providers declare (an unknown
//! key is an error naming the key, the file and the line, so a typo never passes silently)
//! and runs every linked provider's checks of its values.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_yaml::{Mapping, Value};

use crate::error::{Error, Result};
use crate::fields::{FieldDeclFile, FieldSchema};

/// The provider used when `homechoice.ticket.provider` is absent.
pub const DEFAULT_PROVIDER: &str = "internal";

/// The keys this crate reads (see [`TicketSettings`] and [`Config::provider_settings`]).
pub const SHARED_KEYS: [&str; 4] = ["provider", "asana_project", "providers", "fields"];

/// The largest config file read, in bytes (1 MiB): a config is a few hundred bytes, and
/// a bigger file is a mistake (`--config /dev/zero`, a log file) that must fail at once.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// The settings every provider shares, from `homechoice.ticket`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketSettings {
    /// Registered name of the provider to build (`internal`, `asana`, `sync`, or a third
    /// party's name). Default `internal`.
    pub provider: String,
    /// The Asana project GID that holds the tickets (read by `asana` and `sync`). An empty
    /// string means unset.
    pub asana_project: String,
    /// The custom fields tickets carry (`fields`; see [`crate::fields`]).
    pub fields: FieldSchema,
}

impl Default for TicketSettings {
    fn default() -> Self {
        TicketSettings {
            provider: DEFAULT_PROVIDER.to_string(),
            asana_project: String::new(),
            fields: FieldSchema::default(),
        }
    }
}

/// The shared keys as they are in the file.
#[derive(Deserialize, Default)]
struct SharedKeys {
    #[serde(default)]
    provider: Option<String>,
    #[serde(default)]
    asana_project: Option<String>,
    /// Read only so that a wrong type is an error naming its line.
    #[serde(default)]
    #[allow(dead_code)]
    providers: Option<Mapping>,
    #[serde(default)]
    fields: Option<BTreeMap<String, FieldDeclFile>>,
}

/// A file's top level, with `T` read from `homechoice.ticket`.
#[derive(Deserialize)]
#[serde(bound = "T: Deserialize<'de> + Default")]
struct FileRoot<T> {
    #[serde(default)]
    homechoice: Option<HomechoiceSection<T>>,
}

#[derive(Deserialize)]
#[serde(bound = "T: Deserialize<'de> + Default")]
struct HomechoiceSection<T> {
    #[serde(default)]
    ticket: Option<T>,
}

impl<T: Default> FileRoot<T> {
    fn into_ticket(self) -> T {
        self.homechoice.and_then(|h| h.ticket).unwrap_or_default()
    }
}

/// The loaded configuration: the shared settings, every provider's keys, and where they came
/// from.
#[derive(Clone, Default, PartialEq)]
pub struct Config {
    /// The settings every provider shares.
    pub ticket: TicketSettings,
    /// The whole `homechoice.ticket` mapping.
    raw: Mapping,
    /// The file's text, so that errors in provider settings name the line.
    text: Option<Arc<str>>,
    /// Where the text came from, for messages.
    origin: String,
    source: Option<PathBuf>,
}

impl std::fmt::Debug for Config {
    /// Shows the shared settings and which keys are set, never their values (a database URL
    /// may hold a password).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<&str> = self.raw.keys().filter_map(Value::as_str).collect();
        f.debug_struct("Config")
            .field("ticket", &self.ticket)
            .field("keys", &keys)
            .field("source", &self.source)
            .finish()
    }
}

impl Config {
    /// A config with only the shared settings (every provider key at its default).
    pub fn new(ticket: TicketSettings) -> Self {
        let mut raw = Mapping::new();
        raw.insert("provider".into(), ticket.provider.clone().into());
        raw.insert("asana_project".into(), ticket.asana_project.clone().into());
        Config {
            ticket,
            raw,
            text: None,
            origin: "<in memory>".to_string(),
            source: None,
        }
    }

    /// Parses YAML text and checks the shared settings; `origin` names it in errors.
    /// [`Config::parse`] adds the checks of the linked providers' keys.
    pub(crate) fn parse_shared(text: &str, origin: &str) -> Result<Self> {
        let file_error = |e: serde_yaml::Error| {
            // serde_yaml names the key path and the line, e.g.
            // "homechoice.ticket.provider: invalid type: sequence ... at line 3 column 15".
            Error::config(format!("invalid config file {origin}: {e}"))
        };
        let (raw, shared) = if text.trim().is_empty() {
            (Mapping::new(), SharedKeys::default())
        } else {
            let raw = serde_yaml::from_str::<FileRoot<Mapping>>(text)
                .map_err(file_error)?
                .into_ticket();
            let shared = serde_yaml::from_str::<FileRoot<SharedKeys>>(text)
                .map_err(file_error)?
                .into_ticket();
            (raw, shared)
        };
        let ticket = TicketSettings {
            provider: shared
                .provider
                .unwrap_or_else(|| DEFAULT_PROVIDER.to_string()),
            asana_project: shared.asana_project.unwrap_or_default(),
            fields: match shared.fields {
                Some(decls) => FieldSchema::from_decls(decls).map_err(|e| {
                    Error::config(format!("invalid config file {origin}: {}", e.message()))
                })?,
                None => FieldSchema::default(),
            },
        };
        let cfg = Config {
            ticket,
            raw,
            text: Some(text.into()),
            origin: origin.to_string(),
            source: None,
        };
        cfg.check_shared().map_err(|e| cfg.in_file(e))?;
        Ok(cfg)
    }

    /// Reads a config file's text; the error names the file. Only a regular file of at most
    /// [`MAX_CONFIG_BYTES`] is read: a device (`/dev/zero`) or a FIFO is refused before it is
    /// opened, so reading never blocks or fills memory.
    pub(crate) fn read_file(path: &Path) -> Result<String> {
        use std::io::Read as _;
        let cannot = |e: std::io::Error| {
            Error::config(format!("cannot read config file {}: {e}", path.display())).with_source(e)
        };
        // Checked before opening: opening a FIFO for reading waits for a writer.
        let meta = std::fs::metadata(path).map_err(cannot)?;
        if !meta.is_file() {
            return Err(Error::config(format!(
                "config file {} is not a regular file (a device, FIFO or folder); name a YAML file",
                path.display()
            )));
        }
        let too_big = || {
            Error::config(format!(
                "config file {} is larger than {MAX_CONFIG_BYTES} bytes (1 MiB), the most a config file may be",
                path.display()
            ))
        };
        if meta.len() > MAX_CONFIG_BYTES {
            return Err(too_big());
        }
        let mut text = String::new();
        std::fs::File::open(path)
            .map_err(cannot)?
            // One byte more than the cap tells a file that grew since the check.
            .take(MAX_CONFIG_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(cannot)?;
        if text.len() as u64 > MAX_CONFIG_BYTES {
            return Err(too_big());
        }
        Ok(text)
    }

    /// Records the file the config was read from (relative paths resolve beside it).
    pub(crate) fn read_from(mut self, path: &Path) -> Self {
        self.source = Some(path.to_path_buf());
        self
    }

    /// An error about this config's text, naming where it came from.
    pub(crate) fn in_file(&self, e: Error) -> Error {
        let msg = e.message();
        if msg.starts_with("invalid config file") {
            e
        } else {
            Error::config(format!("invalid config file {}: {msg}", self.origin))
        }
    }

    /// The file this was loaded from, if any.
    pub fn source(&self) -> Option<&Path> {
        self.source.as_deref()
    }

    /// The folder relative paths in the config are resolved against: the config file's
    /// folder, or the current folder for configs not read from a file.
    pub fn base_dir(&self) -> PathBuf {
        self.source
            .as_deref()
            .and_then(Path::parent)
            .map(|p| {
                if p.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    p.to_path_buf()
                }
            })
            .unwrap_or_else(|| PathBuf::from("."))
    }

    /// The Asana project GID, or a config error saying how to set it.
    pub fn require_asana_project(&self) -> Result<&str> {
        let p = self.ticket.asana_project.trim();
        if p.is_empty() {
            return Err(Error::config(format!(
                "homechoice.ticket.asana_project is not set; the '{}' provider needs the GID of the Asana project that holds the tickets",
                self.ticket.provider
            )));
        }
        Ok(p)
    }

    /// Whether `homechoice.ticket` sets `key`.
    pub fn has_key(&self, key: &str) -> bool {
        self.raw.contains_key(key)
    }

    /// Returns a copy with `key` set to `value` (for configs built in code, e.g. in tests).
    /// The value is checked when a provider reads it.
    pub fn with_setting(mut self, key: &str, value: impl serde::Serialize) -> Result<Self> {
        let value = serde_yaml::to_value(value)
            .map_err(|e| Error::config(format!("cannot set homechoice.ticket.{key}: {e}")))?;
        self.raw.insert(key.into(), value);
        // The file's text no longer tells the whole truth.
        self.text = None;
        let shared: SharedKeys = serde_yaml::from_value(Value::Mapping(self.raw.clone()))
            .map_err(|e| Error::config(format!("invalid homechoice.ticket.{key}: {e}")))?;
        if let Some(p) = shared.provider {
            self.ticket.provider = p;
        }
        if let Some(p) = shared.asana_project {
            self.ticket.asana_project = p;
        }
        self.check_shared()?;
        Ok(self)
    }

    /// Reads a provider's own settings type from the flat `homechoice.ticket` keys. Errors
    /// name the key, and for a file also the file and the line.
    pub fn settings<T: DeserializeOwned + Default>(&self) -> Result<T> {
        match &self.text {
            Some(text) if !text.trim().is_empty() => serde_yaml::from_str::<FileRoot<T>>(text)
                .map(FileRoot::into_ticket)
                .map_err(|e| Error::config(format!("invalid config file {}: {e}", self.origin))),
            Some(_) => Ok(T::default()),
            None => serde_path_to_error::deserialize(Value::Mapping(self.raw.clone()))
                .map_err(|e| Error::config(format!("invalid setting homechoice.ticket.{e}"))),
        }
    }

    /// A third-party provider's settings from `homechoice.ticket.providers.<name>`, decoded
    /// into the provider's own type; `None` when absent.
    pub fn provider_settings<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>> {
        let value = self
            .raw
            .get("providers")
            .and_then(Value::as_mapping)
            .and_then(|m| m.get(name));
        match value {
            None => Ok(None),
            Some(value) => serde_yaml::from_value(value.clone())
                .map(Some)
                .map_err(|e| {
                    Error::config(format!(
                        "invalid settings under homechoice.ticket.providers.{name}: {e}"
                    ))
                }),
        }
    }

    fn check_shared(&self) -> Result<()> {
        let t = &self.ticket;
        let valid_name = !t.provider.is_empty()
            && t.provider
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !valid_name {
            return Err(Error::config(format!(
                "homechoice.ticket.provider {:?} is not a provider name (lower-case letters, digits, '-' and '_')",
                t.provider
            )));
        }
        let project = t.asana_project.trim();
        if !project.is_empty() && !project.chars().all(|c| c.is_ascii_digit()) {
            return Err(Error::config(format!(
                "homechoice.ticket.asana_project {:?} is not an Asana GID (a string of digits)",
                t.asana_project
            )));
        }
        Ok(())
    }

    /// Every key must be one of `known` (this crate's and the linked providers' keys).
    pub(crate) fn check_keys(&self, known: &[&str]) -> Result<()> {
        let mut known = known.to_vec();
        known.sort_unstable();
        known.dedup();
        for key in self.raw.keys() {
            let name = match key.as_str() {
                Some(k) => k.to_string(),
                None => serde_yaml::to_string(key)
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
            };
            if !known.contains(&name.as_str()) {
                let line = self
                    .text
                    .as_deref()
                    .and_then(|t| line_of_key(t, &name))
                    .map(|n| format!(" at line {n}"))
                    .unwrap_or_default();
                return Err(Error::config(format!(
                    "unknown key `{name}` under homechoice.ticket{line}; the keys read by the providers of this build are: {}",
                    known.join(", ")
                )));
            }
        }
        Ok(())
    }
}

/// The 1-based line where `key:` is written (the first such line), for messages.
fn line_of_key(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|line| {
            let l = line.trim_start();
            [key.to_string(), format!("\"{key}\""), format!("'{key}'")]
                .iter()
                .any(|k| {
                    l.strip_prefix(k.as_str())
                        .is_some_and(|rest| rest.trim_start().starts_with(':'))
                })
        })
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn seed_keys_work_as_written() {
        let cfg = Config::parse(
            "homechoice:\n  ticket:\n    provider: sync        # internal | asana | sync\n    asana_project: \"\"     # Asana project GID\n",
            "<test>",
        )
        .unwrap();
        assert_eq!(cfg.ticket.provider, "sync");
        assert!(cfg.require_asana_project().is_err());
    }

    #[test]
    fn absent_keys_take_defaults() {
        for text in [
            "",
            "other_app: {x: 1}\n",
            "homechoice:\n",
            "homechoice:\n  ticket:\n",
        ] {
            let cfg = Config::parse(text, "<test>").unwrap();
            assert_eq!(cfg.ticket.provider, "internal", "{text:?}");
            assert_eq!(cfg.ticket.asana_project, "", "{text:?}");
        }
    }

    #[test]
    fn unknown_key_is_named_with_file_and_line() {
        let err = Config::parse(
            "homechoice:\n  ticket:\n    provider: internal\n    provder: internal\n",
            "cfg.yaml",
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        let msg = err.to_string();
        assert!(
            msg.contains("`provder`") && msg.contains("cfg.yaml") && msg.contains("line 4"),
            "{msg}"
        );
        // No provider is linked into this test: their keys are unknown here.
        let err = Config::parse("homechoice:\n  ticket:\n    database_url: x\n", "c").unwrap_err();
        assert!(err.to_string().contains("database_url"), "{err}");
    }

    #[test]
    fn wrong_type_names_key_and_line() {
        let err = Config::parse("homechoice:\n  ticket:\n    provider: [a, b]\n", "cfg.yaml")
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("homechoice.ticket.provider") && msg.contains("line 3"),
            "{msg}"
        );
    }

    #[test]
    fn malformed_yaml_names_line() {
        let err = Config::parse("homechoice:\n  ticket: [\n", "bad.yaml").unwrap_err();
        assert!(
            err.to_string().contains("bad.yaml") && err.to_string().contains("line"),
            "{err}"
        );
        let err = Config::parse("homechoice:\n  ticket: 5\n", "bad.yaml").unwrap_err();
        assert!(err.to_string().contains("homechoice.ticket"), "{err}");
    }

    #[test]
    fn shared_values_are_checked() {
        for (text, needle) in [
            ("homechoice:\n  ticket:\n    provider: ''\n", "provider"),
            (
                "homechoice:\n  ticket:\n    provider: 'My Provider'\n",
                "provider",
            ),
            (
                "homechoice:\n  ticket:\n    asana_project: 'abc'\n",
                "asana_project",
            ),
        ] {
            let err = Config::parse(text, "c").unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config);
            assert!(err.to_string().contains(needle), "{text}: {err}");
        }
    }

    #[derive(Deserialize, Default, Debug, PartialEq)]
    struct Mine {
        #[serde(default)]
        mine_limit: Option<u32>,
        #[serde(default)]
        mine_name: String,
    }

    #[test]
    fn provider_settings_read_flat_keys_with_line_numbers() {
        // Parse with no provider linked would refuse the keys; build the mapping directly.
        let text = "homechoice:\n  ticket:\n    mine_limit: lots\n";
        let cfg = Config {
            text: Some(text.into()),
            origin: "c.yaml".into(),
            ..Config::default()
        };
        let err = cfg.settings::<Mine>().unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("homechoice.ticket.mine_limit")
                && msg.contains("line 3")
                && msg.contains("c.yaml"),
            "{msg}"
        );
        let cfg = Config::new(TicketSettings::default())
            .with_setting("mine_limit", 7)
            .unwrap();
        assert_eq!(
            cfg.settings::<Mine>().unwrap(),
            Mine {
                mine_limit: Some(7),
                mine_name: String::new()
            }
        );
        assert!(cfg.has_key("mine_limit") && !cfg.has_key("mine_name"));
        let cfg = cfg.with_setting("mine_limit", "x").unwrap();
        let err = cfg.settings::<Mine>().unwrap_err().to_string();
        assert!(err.contains("homechoice.ticket.mine_limit"), "{err}");
    }

    #[test]
    fn with_setting_keeps_shared_settings_checked() {
        let cfg = Config::default().with_setting("provider", "sync").unwrap();
        assert_eq!(cfg.ticket.provider, "sync");
        assert!(Config::default()
            .with_setting("provider", "No Way")
            .is_err());
    }

    #[test]
    fn debug_shows_keys_not_values() {
        let cfg = Config::default()
            .with_setting("database_url", "postgres://u:s3cret@h/db")
            .unwrap();
        let dbg = format!("{cfg:?}");
        assert!(
            dbg.contains("database_url") && !dbg.contains("s3cret"),
            "{dbg}"
        );
    }

    #[test]
    fn relative_paths_resolve_beside_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, "").unwrap();
        let cfg = Config::load(&path).unwrap();
        assert_eq!(cfg.base_dir(), dir.path());
        assert_eq!(Config::default().base_dir(), PathBuf::from("."));
    }

    #[test]
    fn only_a_small_regular_file_is_read() {
        // A device would be read until memory runs out; it is refused at once.
        let err = Config::load("/dev/zero").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains("not a regular file"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let err = Config::load(dir.path()).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        // A FIFO with no writer: opening it would block forever.
        let fifo = dir.path().join("fifo.yaml");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let err = Config::load(&fifo).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        // The cap, named in the error; a file just under it is read.
        let big = dir.path().join("big.yaml");
        let comment = format!("# {}\n", "x".repeat(1000));
        let under = comment.repeat((MAX_CONFIG_BYTES as usize) / comment.len());
        std::fs::write(&big, &under).unwrap();
        assert!(Config::load(&big).is_ok());
        std::fs::write(&big, format!("{under}{comment}")).unwrap();
        let err = Config::load(&big).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains("1048576 bytes"), "{err}");
    }

    #[test]
    fn missing_file_is_a_config_error_naming_it() {
        let err = Config::load("/nonexistent/dir/config.yaml").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains("/nonexistent/dir/config.yaml"));
    }

    #[test]
    fn third_party_settings_decode_into_their_type() {
        #[derive(Deserialize, Debug, PartialEq)]
        struct Memory {
            greeting: String,
        }
        let cfg = Config::parse(
            "homechoice:\n  ticket:\n    providers:\n      mine: {greeting: hi}\n",
            "c",
        )
        .unwrap();
        assert_eq!(
            cfg.provider_settings::<Memory>("mine").unwrap(),
            Some(Memory {
                greeting: "hi".into()
            })
        );
        assert_eq!(cfg.provider_settings::<Memory>("other").unwrap(), None);
        let cfg = Config::parse(
            "homechoice:\n  ticket:\n    providers:\n      mine: {x: 1}\n",
            "c",
        )
        .unwrap();
        assert!(cfg.provider_settings::<Memory>("mine").is_err());
    }

    #[test]
    fn the_key_line_is_found() {
        let text = "a:\n  b: 1\nhomechoice:\n  ticket:\n    \"odd\": 1\n    oddity: 2\n";
        assert_eq!(line_of_key(text, "odd"), Some(5));
        assert_eq!(line_of_key(text, "oddity"), Some(6));
        assert_eq!(line_of_key(text, "nope"), None);
    }
}
