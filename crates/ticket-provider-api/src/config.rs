//! Configuration from `config/config.yaml`, kept behind this one module so that nothing else
//! depends on the YAML library.
//!
//! Only the `homechoice.ticket` mapping belongs to us: other keys of the file are left alone
//! (the file may configure other parts of an application), but an unknown key *under*
//! `homechoice.ticket` is an error, so that a typo never passes silently.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::status::{Priority, Status};

/// Asana's public API, the default for `asana_base_url`.
pub const DEFAULT_ASANA_BASE_URL: &str = "https://app.asana.com/api/1.0";
/// The provider used when `homechoice.ticket.provider` is absent.
pub const DEFAULT_PROVIDER: &str = "internal";
/// The SQLite file name used when `database_url` is absent (beside the config file).
pub const DEFAULT_DATABASE_FILE: &str = "tickets.db";

#[derive(Deserialize, Default)]
struct FileRoot {
    #[serde(default)]
    homechoice: Option<HomechoiceSection>,
}

#[derive(Deserialize, Default)]
struct HomechoiceSection {
    #[serde(default)]
    ticket: Option<TicketSettings>,
}

/// The settings under `homechoice.ticket`. Every key is optional.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TicketSettings {
    /// Registered name of the provider to build (`internal`, `asana`, `sync`, or a third
    /// party's name). Default `internal`.
    #[serde(default = "default_provider")]
    pub provider: String,
    /// The Asana project GID that holds the tickets (required by `asana` and `sync`).
    /// An empty string means unset.
    #[serde(default)]
    pub asana_project: String,
    /// Where the internal store lives: `sqlite://PATH`, a plain file path, or
    /// `postgres://...`. Default: `tickets.db` beside the config file.
    #[serde(default)]
    pub database_url: Option<String>,
    /// Connections kept in the internal store's pool.
    #[serde(default)]
    pub database_pool_size: Option<u32>,
    /// Base URL of Asana's API; point it at a local Asana-compatible server for tests.
    #[serde(default)]
    pub asana_base_url: Option<String>,
    /// Section name per status, overriding the defaults (the status' title, e.g. "In Progress").
    #[serde(default)]
    pub asana_sections: BTreeMap<Status, String>,
    /// Tag name per priority, overriding the defaults.
    #[serde(default)]
    pub asana_priority_tags: BTreeMap<Priority, String>,
    /// Upper bound on Asana requests per minute for this process (Asana allows 150 on free
    /// plans, 1,500 on paid ones). Unset: no budget beyond Asana's own 429s.
    #[serde(default)]
    pub asana_requests_per_minute: Option<u32>,
    /// Timeout of one Asana request, in milliseconds.
    #[serde(default)]
    pub asana_timeout_ms: Option<u64>,
    /// How long the `sync` provider waits for Asana inside an operation before leaving the
    /// change pending, in milliseconds.
    #[serde(default)]
    pub sync_push_timeout_ms: Option<u64>,
    /// How long the `sync` provider's claim on a ticket it is pushing lasts without renewal,
    /// in milliseconds: a process that dies mid-push delays that ticket by at most this.
    #[serde(default)]
    pub sync_claim_ttl_ms: Option<u64>,
    /// Settings of third-party providers, by provider name; read with
    /// [`Config::provider_settings`].
    #[serde(default)]
    pub providers: BTreeMap<String, serde_yaml::Value>,
}

fn default_provider() -> String {
    DEFAULT_PROVIDER.to_string()
}

impl Default for TicketSettings {
    fn default() -> Self {
        TicketSettings {
            provider: default_provider(),
            asana_project: String::new(),
            database_url: None,
            database_pool_size: None,
            asana_base_url: None,
            asana_sections: BTreeMap::new(),
            asana_priority_tags: BTreeMap::new(),
            asana_requests_per_minute: None,
            asana_timeout_ms: None,
            sync_push_timeout_ms: None,
            sync_claim_ttl_ms: None,
            providers: BTreeMap::new(),
        }
    }
}

/// The loaded configuration: the `homechoice.ticket` settings and where they came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// The settings.
    pub ticket: TicketSettings,
    source: Option<PathBuf>,
}

impl Config {
    /// Settings with every default, as if read from an empty file.
    pub fn new(ticket: TicketSettings) -> Self {
        Config {
            ticket,
            source: None,
        }
    }

    /// Reads and checks a config file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::config(format!("cannot read config file {}: {e}", path.display())).with_source(e)
        })?;
        let mut cfg = Self::parse(&text, &path.display().to_string())?;
        cfg.source = Some(path.to_path_buf());
        Ok(cfg)
    }

    /// Parses YAML text; `origin` names it in errors (a path, or e.g. `"<string>"`).
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let root: FileRoot = if text.trim().is_empty() {
            FileRoot::default()
        } else {
            serde_yaml::from_str(text).map_err(|e| {
                // serde_yaml names the key path and the line, e.g.
                // "homechoice.ticket: unknown field `provder`, ... at line 3 column 5".
                Error::config(format!("invalid config file {origin}: {e}"))
            })?
        };
        let ticket = root.homechoice.and_then(|h| h.ticket).unwrap_or_default();
        let cfg = Config {
            ticket,
            source: None,
        };
        cfg.check()
            .map_err(|e| Error::config(format!("invalid config file {origin}: {}", e.message())))?;
        Ok(cfg)
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

    /// The effective database URL: `database_url`, with a relative SQLite path resolved
    /// against [`Config::base_dir`]; by default `sqlite://<base_dir>/tickets.db`.
    pub fn database_url(&self) -> String {
        let raw = self
            .ticket
            .database_url
            .as_deref()
            .unwrap_or(DEFAULT_DATABASE_FILE);
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            return raw.to_string();
        }
        let path = raw.strip_prefix("sqlite://").unwrap_or(raw);
        if path == ":memory:" || Path::new(path).is_absolute() {
            return format!("sqlite://{path}");
        }
        format!("sqlite://{}", self.base_dir().join(path).display())
    }

    /// The Asana API base URL, without a trailing slash.
    pub fn asana_base_url(&self) -> String {
        self.ticket
            .asana_base_url
            .as_deref()
            .unwrap_or(DEFAULT_ASANA_BASE_URL)
            .trim_end_matches('/')
            .to_string()
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

    /// A third-party provider's settings from `homechoice.ticket.providers.<name>`, decoded
    /// into the provider's own type; `None` when absent.
    pub fn provider_settings<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>> {
        match self.ticket.providers.get(name) {
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

    fn check(&self) -> Result<()> {
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
        if let Some(url) = &t.database_url {
            if url.trim().is_empty() {
                return Err(Error::config(
                    "homechoice.ticket.database_url is empty; remove the key for the default SQLite file",
                ));
            }
            let scheme = url.split_once("://").map(|(s, _)| s);
            if let Some(s) = scheme {
                if !matches!(s, "sqlite" | "postgres" | "postgresql") {
                    return Err(Error::config(format!(
                        "homechoice.ticket.database_url has the unsupported scheme {s:?}; use sqlite://PATH or postgres://..."
                    )));
                }
            }
        }
        if let Some(url) = &t.asana_base_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(Error::config(format!(
                    "homechoice.ticket.asana_base_url {url:?} must start with http:// or https://"
                )));
            }
        }
        for (status, name) in &t.asana_sections {
            if name.trim().is_empty() {
                return Err(Error::config(format!(
                    "homechoice.ticket.asana_sections.{status} must not be empty"
                )));
            }
        }
        for (priority, name) in &t.asana_priority_tags {
            if name.trim().is_empty() {
                return Err(Error::config(format!(
                    "homechoice.ticket.asana_priority_tags.{priority} must not be empty"
                )));
            }
        }
        if t.database_pool_size == Some(0) {
            return Err(Error::config(
                "homechoice.ticket.database_pool_size must be at least 1",
            ));
        }
        if matches!(t.sync_claim_ttl_ms, Some(ms) if ms < 100) {
            return Err(Error::config(
                "homechoice.ticket.sync_claim_ttl_ms must be at least 100",
            ));
        }
        if t.asana_requests_per_minute == Some(0) {
            return Err(Error::config(
                "homechoice.ticket.asana_requests_per_minute must be at least 1 (remove it for no budget)",
            ));
        }
        Ok(())
    }
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
            assert_eq!(cfg.database_url(), "sqlite://./tickets.db");
            assert_eq!(cfg.asana_base_url(), DEFAULT_ASANA_BASE_URL);
        }
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::parse(
            "homechoice:\n  ticket:\n    provder: internal\n",
            "cfg.yaml",
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        let msg = err.to_string();
        assert!(
            msg.contains("provder") && msg.contains("cfg.yaml") && msg.contains("line 3"),
            "{msg}"
        );
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
        let err = Config::parse(
            "homechoice:\n  ticket:\n    asana_requests_per_minute: lots\n",
            "c",
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("asana_requests_per_minute"),
            "{err}"
        );
    }

    #[test]
    fn malformed_yaml_names_line() {
        let err = Config::parse("homechoice:\n  ticket: [\n", "bad.yaml").unwrap_err();
        assert!(
            err.to_string().contains("bad.yaml") && err.to_string().contains("line"),
            "{err}"
        );
    }

    #[test]
    fn values_are_checked() {
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
            (
                "homechoice:\n  ticket:\n    database_url: 'mysql://x'\n",
                "database_url",
            ),
            (
                "homechoice:\n  ticket:\n    asana_base_url: 'ftp://x'\n",
                "asana_base_url",
            ),
            (
                "homechoice:\n  ticket:\n    asana_sections: {done: Done}\n",
                "done",
            ),
            (
                "homechoice:\n  ticket:\n    asana_priority_tags: {high: ' '}\n",
                "asana_priority_tags.high",
            ),
        ] {
            let err = Config::parse(text, "c").unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config);
            assert!(err.to_string().contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn relative_sqlite_paths_resolve_beside_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(
            &path,
            "homechoice:\n  ticket:\n    database_url: data/t.db\n",
        )
        .unwrap();
        let cfg = Config::load(&path).unwrap();
        assert_eq!(
            cfg.database_url(),
            format!("sqlite://{}/data/t.db", dir.path().display())
        );
        std::fs::write(&path, "").unwrap();
        let cfg = Config::load(&path).unwrap();
        assert_eq!(
            cfg.database_url(),
            format!("sqlite://{}/tickets.db", dir.path().display())
        );
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
        struct Mine {
            greeting: String,
        }
        let cfg = Config::parse(
            "homechoice:\n  ticket:\n    providers:\n      mine: {greeting: hi}\n",
            "c",
        )
        .unwrap();
        assert_eq!(
            cfg.provider_settings::<Mine>("mine").unwrap(),
            Some(Mine {
                greeting: "hi".into()
            })
        );
        assert_eq!(cfg.provider_settings::<Mine>("other").unwrap(), None);
        let cfg = Config::parse(
            "homechoice:\n  ticket:\n    providers:\n      mine: {x: 1}\n",
            "c",
        )
        .unwrap();
        assert!(cfg.provider_settings::<Mine>("mine").is_err());
    }
}
