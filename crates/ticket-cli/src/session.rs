//! Where a command's provider comes from: the config file (`--config`, else
//! `$TICKET_CONFIG`, else `./config/config.yaml`) or, when there is none, the embedded
//! default (the `internal` provider on SQLite in the user's data directory); and the
//! provider itself, built once per command and shut down before the process exits.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use homechoice_tickets::{
    find_descriptor, get_provider, Capability, Config, Error, ErrorKind, TicketProvider,
};

/// The config file read when neither `--config` nor `$TICKET_CONFIG` names one.
pub(crate) const LOCAL_CONFIG: &str = "config/config.yaml";

/// The configuration used when there is no config file: every key at its default.
const EMBEDDED_CONFIG: &str = "homechoice:\n  ticket:\n    provider: internal\n";

/// Where a command's configuration comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ConfigSource {
    /// A file named by `--config` or `$TICKET_CONFIG`, or `./config/config.yaml`.
    File(PathBuf),
    /// No file: the embedded default, the `internal` provider on this SQLite file.
    Embedded {
        /// The store, in the user's data directory.
        store: PathBuf,
    },
}

impl ConfigSource {
    /// The source of a command: the file `named` (by `--config` or `$TICKET_CONFIG`; it need
    /// not exist, reading it says so), else `./config/config.yaml` when `local_exists`, else
    /// the default store in the data directory (`$XDG_DATA_HOME/ticket/tickets.db`, else
    /// `$HOME/.local/share/ticket/tickets.db`).
    pub(crate) fn resolve(
        named: Option<&Path>,
        local_exists: bool,
        xdg_data_home: Option<OsString>,
        home: Option<OsString>,
    ) -> Result<Self, Error> {
        if let Some(path) = named {
            return Ok(ConfigSource::File(path.to_path_buf()));
        }
        if local_exists {
            return Ok(ConfigSource::File(PathBuf::from(LOCAL_CONFIG)));
        }
        let data_dir = xdg_data_home
            .map(PathBuf::from)
            // The XDG spec: a relative path is invalid and is ignored.
            .filter(|p| p.is_absolute())
            .or_else(|| {
                home.filter(|h| !h.is_empty())
                    .map(|h| PathBuf::from(h).join(".local").join("share"))
            })
            .ok_or_else(|| {
                Error::config(format!(
                    "there is no config file (--config, $TICKET_CONFIG, ./{LOCAL_CONFIG}) and no data directory for the default store (neither XDG_DATA_HOME nor HOME is set); set one, or run `ticket init`"
                ))
            })?;
        Ok(ConfigSource::Embedded {
            store: data_dir.join("ticket").join("tickets.db"),
        })
    }

    /// Where this process keeps tickets when there is no config file, if it can tell.
    pub(crate) fn default_store() -> Option<PathBuf> {
        let source = Self::resolve(
            None,
            false,
            std::env::var_os("XDG_DATA_HOME"),
            std::env::var_os("HOME"),
        );
        match source {
            Ok(ConfigSource::Embedded { store }) => Some(store),
            _ => None,
        }
    }

    /// The source of this process: its arguments, environment and current folder.
    pub(crate) fn of_process(named: Option<&Path>) -> Result<Self, Error> {
        Self::resolve(
            named,
            Path::new(LOCAL_CONFIG).exists(),
            std::env::var_os("XDG_DATA_HOME"),
            std::env::var_os("HOME"),
        )
    }

    /// Reads the configuration. For the embedded default this creates the data directory.
    pub(crate) fn load(&self) -> Result<Config, Error> {
        match self {
            ConfigSource::File(path) => Config::load(path),
            ConfigSource::Embedded { store } => {
                let url = store.to_str().ok_or_else(|| {
                    Error::config(format!(
                        "the default store's path {} is not UTF-8; give a config file with --config",
                        store.display()
                    ))
                })?;
                if let Some(dir) = store.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        Error::config(format!(
                            "cannot create {} for the default store: {e}; give a config file with --config, or run `ticket init`",
                            dir.display()
                        ))
                    })?;
                }
                Config::parse(EMBEDDED_CONFIG, "<embedded default config>")?
                    .with_setting("database_url", url)
            }
        }
    }

    /// One line on where the configuration comes from, for `ticket doctor`.
    pub(crate) fn describe(&self) -> String {
        match self {
            ConfigSource::File(path) => path.display().to_string(),
            ConfigSource::Embedded { store } => format!(
                "no config file; the embedded default (provider internal, SQLite store {})",
                store.display()
            ),
        }
    }
}

/// The provider of one command: built on first use, through the registry only, and shut down
/// before the process exits.
pub(crate) struct Session {
    named: Option<PathBuf>,
    /// `homechoice.ticket` keys set on the command line, over the file's.
    overrides: Vec<(&'static str, String)>,
    opened: tokio::sync::OnceCell<Arc<dyn TicketProvider>>,
}

impl Session {
    /// A session for the config file `named` by `--config` or `$TICKET_CONFIG`, if any.
    pub(crate) fn new(named: Option<PathBuf>) -> Self {
        Session {
            named,
            overrides: Vec::new(),
            opened: tokio::sync::OnceCell::new(),
        }
    }

    /// The same session with `overrides` (key, value) set over the config file's keys,
    /// as command-line flags such as `sync run --webhook-addr` do.
    pub(crate) fn with_overrides(mut self, overrides: Vec<(&'static str, String)>) -> Self {
        self.overrides = overrides;
        self
    }

    /// Where this session's configuration comes from.
    pub(crate) fn source(&self) -> Result<ConfigSource, Error> {
        ConfigSource::of_process(self.named.as_deref())
    }

    /// The custom fields the config declares (`homechoice.ticket.fields`).
    pub(crate) fn fields(&self) -> Result<homechoice_tickets::FieldSchema, Error> {
        Ok(self.source()?.load()?.ticket.fields)
    }

    /// The configured provider. With `needs`, a provider whose descriptor lacks that
    /// capability is refused before anything is opened (so nothing is written).
    pub(crate) async fn provider(
        &self,
        needs: Option<Capability>,
    ) -> Result<&Arc<dyn TicketProvider>, Error> {
        self.opened
            .get_or_try_init(|| async {
                let source = self.source()?;
                let mut config = source.load()?;
                for (key, value) in &self.overrides {
                    config = config.with_setting(key, value)?;
                }
                let name = config.ticket.provider.as_str();
                let descriptor = find_descriptor(name)?;
                if let Some(cap) = needs {
                    if !descriptor.capabilities.contains(cap) {
                        return Err(missing_capability(name, cap));
                    }
                }
                // The process that creates the file (O_EXCL: one of any that start together)
                // is the one that says so; SQLite takes an empty file as a new database.
                let new_store = match &source {
                    ConfigSource::Embedded { store } => std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(store)
                        .is_ok()
                        .then(|| store.clone()),
                    _ => None,
                };
                let provider = get_provider(&config).await?;
                if let Some(store) = new_store {
                    // Said once: when the default store is created, which is when tickets
                    // start to land somewhere the operator did not name.
                    crate::output::note(&format!(
                        "ticket: no config file; keeping tickets in {} (created now; `ticket doctor` shows it again, `ticket init` writes a config file)",
                        store.display()
                    ));
                }
                Ok(provider)
            })
            .await
    }

    /// Shuts the provider down if one was built: pushes in flight finish or stay pending,
    /// claims are released, connections close.
    pub(crate) async fn close(self) {
        if let Some(p) = self.opened.into_inner() {
            if let Err(e) = p.shutdown().await {
                tracing::warn!(error = %e, "shutting the provider down failed");
            }
        }
    }
}

/// The error for a command whose extra the configured provider does not offer.
fn missing_capability(provider: &str, cap: Capability) -> Error {
    match cap {
        Capability::SyncMaintenance => Error::config(format!(
            "'ticket sync' needs a provider with the sync_maintenance capability (such as sync), but homechoice.ticket.provider is '{provider}'; set it to sync"
        )),
        Capability::Changes => Error::new(
            ErrorKind::Unsupported,
            format!("provider '{provider}' has no change feed (it lacks the changes capability; internal and sync have it)"),
        ),
        Capability::History => Error::new(
            ErrorKind::Unsupported,
            format!("provider '{provider}' keeps no change history (it lacks the history capability; internal and sync have it)"),
        ),
        other => Error::new(
            ErrorKind::Unsupported,
            format!("provider '{provider}' cannot {other}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(s: &str) -> Option<OsString> {
        Some(OsString::from(s))
    }

    #[test]
    fn the_source_follows_flag_then_local_file_then_data_directory() {
        let store = |p: &str| ConfigSource::Embedded {
            store: PathBuf::from(p),
        };
        let named = Path::new("/etc/t.yaml");
        #[allow(clippy::type_complexity)]
        let cases: [(
            Option<&Path>,
            bool,
            Option<OsString>,
            Option<OsString>,
            ConfigSource,
        ); 7] = [
            (
                Some(named),
                true,
                os("/x"),
                os("/h"),
                ConfigSource::File(named.into()),
            ),
            (
                None,
                true,
                os("/x"),
                os("/h"),
                ConfigSource::File(LOCAL_CONFIG.into()),
            ),
            (
                None,
                false,
                os("/x"),
                os("/h"),
                store("/x/ticket/tickets.db"),
            ),
            (
                None,
                false,
                None,
                os("/h"),
                store("/h/.local/share/ticket/tickets.db"),
            ),
            // A relative or empty XDG_DATA_HOME is ignored, as the XDG spec says.
            (
                None,
                false,
                os("rel"),
                os("/h"),
                store("/h/.local/share/ticket/tickets.db"),
            ),
            (
                None,
                false,
                os(""),
                os("/h"),
                store("/h/.local/share/ticket/tickets.db"),
            ),
            (None, false, os("/x"), None, store("/x/ticket/tickets.db")),
        ];
        for (named, local, xdg, home, want) in cases {
            assert_eq!(
                ConfigSource::resolve(named, local, xdg.clone(), home.clone()).unwrap(),
                want,
                "{named:?} {local} {xdg:?} {home:?}"
            );
        }
    }

    #[test]
    fn without_a_data_directory_the_error_says_what_to_set() {
        for home in [None, os("")] {
            let err = ConfigSource::resolve(None, false, None, home).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config);
            let msg = err.to_string();
            assert!(
                msg.contains("XDG_DATA_HOME") && msg.contains("ticket init"),
                "{msg}"
            );
        }
    }
}
