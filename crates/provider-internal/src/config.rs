//! Typed settings of the internal store: the config keys it reads ([`StoreSettings`]), which
//! backend a URL names, pool size, whether to record an outbox, and URL redaction so that no
//! password reaches a message or `Debug`. The database URL grammar is parsed here and only
//! here.

use std::fmt;
use std::path::Path;

use serde::Deserialize;
use ticket_provider_api::{Config, Error, KeyDoc, ProviderSettings, Result};

use crate::error::StoreError;

/// The SQLite file used when `database_url` is absent (beside the config file).
pub const DEFAULT_DATABASE_FILE: &str = "tickets.db";

/// The internal store's keys under `homechoice.ticket`.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
pub struct StoreSettings {
    /// Where the store lives: `sqlite://PATH`, a plain file path (relative paths resolve
    /// beside the config file), or `postgres://...`. Default: `tickets.db` beside the config
    /// file.
    #[serde(default)]
    pub database_url: Option<String>,
    /// Connections kept in the pool (default 8 for SQLite, 10 for PostgreSQL).
    #[serde(default)]
    pub database_pool_size: Option<u32>,
}

impl fmt::Debug for StoreSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreSettings")
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .field("database_pool_size", &self.database_pool_size)
            .finish()
    }
}

impl ProviderSettings for StoreSettings {
    const KEYS: &'static [KeyDoc] = &[
        KeyDoc::new(
            "database_url",
            "string",
            "`tickets.db` beside the config file",
            "tickets.db",
            "Where the store lives: a SQLite file `PATH` or `sqlite://PATH` (relative paths resolve beside the config file), or `postgres://USER:PASSWORD@HOST:5432/DB` for a store several instances share (needs the `postgres` feature).",
        ),
        KeyDoc::new(
            "database_pool_size",
            "integer ≥ 1",
            "8 (SQLite), 10 (PostgreSQL)",
            "8",
            "Connections in the internal store's pool.",
        ),
    ];

    fn check(&self) -> Result<()> {
        if let Some(url) = &self.database_url {
            if url.trim().is_empty() {
                return Err(Error::config(
                    "homechoice.ticket.database_url is empty; remove the key for the default SQLite file",
                ));
            }
            DbTarget::parse(url).map_err(|e| {
                Error::config(format!(
                    "homechoice.ticket.database_url: {}",
                    e.into_error().message()
                ))
            })?;
        }
        if self.database_pool_size == Some(0) {
            return Err(Error::config(
                "homechoice.ticket.database_pool_size must be at least 1",
            ));
        }
        Ok(())
    }
}

impl StoreSettings {
    /// Reads and checks the keys from a config.
    pub fn from_config(config: &Config) -> Result<Self> {
        let s: StoreSettings = config.settings()?;
        s.check()?;
        Ok(s)
    }

    /// The effective database URL: `database_url`, with a relative SQLite path resolved
    /// against the config file's folder; by default `sqlite://<that folder>/tickets.db`.
    pub fn url(&self, config: &Config) -> String {
        let raw = self
            .database_url
            .as_deref()
            .unwrap_or(DEFAULT_DATABASE_FILE)
            .trim();
        match DbTarget::parse(raw) {
            Ok(DbTarget::Postgres(url)) => url,
            Ok(DbTarget::Sqlite(path)) if path == ":memory:" || Path::new(&path).is_absolute() => {
                format!("sqlite://{path}")
            }
            Ok(DbTarget::Sqlite(path)) => {
                format!("sqlite://{}", config.base_dir().join(path).display())
            }
            // Refused again, with its message, when the store opens.
            Err(_) => raw.to_string(),
        }
    }
}

/// Connections kept by default for a SQLite file (readers never block in WAL mode).
pub const DEFAULT_SQLITE_POOL_SIZE: u32 = 8;
/// Connections kept by default for PostgreSQL.
pub const DEFAULT_POSTGRES_POOL_SIZE: u32 = 10;

/// The database engine behind an [`crate::InternalProvider`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// A SQLite file (or `:memory:`).
    Sqlite,
    /// A PostgreSQL database.
    Postgres,
}

impl Backend {
    /// `"sqlite"` or `"postgres"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the database is, parsed from a URL.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum DbTarget {
    /// A SQLite path (or `:memory:`).
    Sqlite(String),
    /// A PostgreSQL connection URL.
    Postgres(String),
}

impl DbTarget {
    /// Parses `sqlite://PATH`, a plain path, or `postgres://...`/`postgresql://...`.
    pub(crate) fn parse(url: &str) -> Result<Self, StoreError> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DbTarget::Postgres(url.to_string()));
        }
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(StoreError::Api(ticket_provider_api::Error::config(
                    "the database URL sqlite:// names no file; use sqlite:///absolute/path.db",
                )));
            }
            return Ok(DbTarget::Sqlite(path.to_string()));
        }
        if let Some((scheme, _)) = url.split_once("://") {
            return Err(StoreError::Api(ticket_provider_api::Error::config(format!(
                "the database URL scheme {scheme:?} is not supported; use sqlite://PATH or postgres://..."
            ))));
        }
        if url.is_empty() {
            return Err(StoreError::Api(ticket_provider_api::Error::config(
                "the database URL is empty",
            )));
        }
        Ok(DbTarget::Sqlite(url.to_string()))
    }

    /// The backend this target needs.
    pub(crate) fn backend(&self) -> Backend {
        match self {
            DbTarget::Sqlite(_) => Backend::Sqlite,
            DbTarget::Postgres(_) => Backend::Postgres,
        }
    }

    /// The URL with any password replaced by `***`.
    pub(crate) fn redacted(&self) -> String {
        match self {
            DbTarget::Sqlite(p) => format!("sqlite://{p}"),
            DbTarget::Postgres(u) => redact_url(u),
        }
    }

    /// The path of a SQLite file (`None` for PostgreSQL and in-memory databases).
    pub(crate) fn sqlite_file(&self) -> Option<&str> {
        match self {
            DbTarget::Sqlite(p) if !self.is_memory() => Some(p),
            _ => None,
        }
    }

    /// True for an in-memory SQLite database.
    pub(crate) fn is_memory(&self) -> bool {
        matches!(self, DbTarget::Sqlite(p) if p == ":memory:" || p.contains("mode=memory"))
    }
}

impl fmt::Debug for DbTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Replaces the password of `scheme://user:password@host/...` and any `password=` query or
/// key/value parameter with `***`.
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(scheme_end) = out.find("://") {
        let rest_start = scheme_end + 3;
        let authority_end = out[rest_start..]
            .find(['/', '?'])
            .map_or(out.len(), |i| rest_start + i);
        if let Some(at) = out[rest_start..authority_end].rfind('@') {
            let userinfo = &out[rest_start..rest_start + at];
            if let Some(colon) = userinfo.find(':') {
                let start = rest_start + colon + 1;
                let end = rest_start + at;
                out.replace_range(start..end, "***");
            }
        }
    }
    // `password=...` in a query string or a key/value connection string.
    let lower = out.to_ascii_lowercase();
    if let Some(pos) = lower.find("password=") {
        let start = pos + "password=".len();
        let end = out[start..]
            .find(['&', ' '])
            .map_or(out.len(), |i| start + i);
        out.replace_range(start..end, "***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(yaml: &str) -> Result<StoreSettings> {
        let cfg = Config::default();
        let cfg = match yaml.split_once(": ") {
            Some((k, v)) => cfg.with_setting(k, serde_yaml_value(v))?,
            None => cfg,
        };
        StoreSettings::from_config(&cfg)
    }

    fn serde_yaml_value(v: &str) -> serde_json::Value {
        v.parse::<u64>()
            .map(serde_json::Value::from)
            .unwrap_or_else(|_| serde_json::Value::from(v))
    }

    #[test]
    fn settings_are_checked_and_name_the_key() {
        for (yaml, needle) in [
            ("database_url: ", "database_url is empty"),
            ("database_url: mysql://x", "database_url"),
            ("database_url: sqlite://", "database_url"),
            ("database_pool_size: 0", "database_pool_size"),
        ] {
            let err = settings(yaml).unwrap_err();
            assert!(err.to_string().contains(needle), "{yaml}: {err}");
        }
        assert!(settings("database_pool_size: 3").is_ok());
    }

    #[test]
    fn relative_sqlite_paths_resolve_beside_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, "").unwrap();
        let cfg = Config::load(&path).unwrap();
        let s = StoreSettings::default();
        assert_eq!(
            s.url(&cfg),
            format!("sqlite://{}/tickets.db", dir.path().display())
        );
        let s = StoreSettings {
            database_url: Some("data/t.db".into()),
            ..StoreSettings::default()
        };
        assert_eq!(
            s.url(&cfg),
            format!("sqlite://{}/data/t.db", dir.path().display())
        );
        for (url, want) in [
            ("sqlite:///abs/t.db", "sqlite:///abs/t.db"),
            ("/abs/t.db", "sqlite:///abs/t.db"),
            ("sqlite://:memory:", "sqlite://:memory:"),
            ("postgres://u:p@h/db", "postgres://u:p@h/db"),
        ] {
            let s = StoreSettings {
                database_url: Some(url.into()),
                ..StoreSettings::default()
            };
            assert_eq!(s.url(&Config::default()), want);
        }
        assert_eq!(
            StoreSettings::default().url(&Config::default()),
            "sqlite://./tickets.db"
        );
    }

    #[test]
    fn debug_hides_the_password() {
        let s = StoreSettings {
            database_url: Some("postgres://bob:s3cret@db/t".into()),
            ..StoreSettings::default()
        };
        assert!(!format!("{s:?}").contains("s3cret"));
    }

    #[test]
    fn urls_parse_to_backends() {
        assert_eq!(
            DbTarget::parse("sqlite:///tmp/t.db").unwrap(),
            DbTarget::Sqlite("/tmp/t.db".into())
        );
        assert_eq!(
            DbTarget::parse("/tmp/t.db").unwrap(),
            DbTarget::Sqlite("/tmp/t.db".into())
        );
        assert_eq!(
            DbTarget::parse("postgresql://u@h/db").unwrap().backend(),
            Backend::Postgres
        );
        assert!(DbTarget::parse("mysql://x").is_err());
        assert!(DbTarget::parse("sqlite://").is_err());
        assert!(DbTarget::parse("sqlite://:memory:").unwrap().is_memory());
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://bob:s3cret@db:5432/t"),
            "postgres://bob:***@db:5432/t"
        );
        assert_eq!(
            redact_url("postgres://db/t?user=bob&password=s3cret&x=1"),
            "postgres://db/t?user=bob&password=***&x=1"
        );
        assert_eq!(redact_url("postgres://bob@db/t"), "postgres://bob@db/t");
        let t = DbTarget::parse("postgres://bob:s3cret@db/t").unwrap();
        assert!(!format!("{t:?}").contains("s3cret"));
    }
}
