//! Typed settings of the internal store: which backend a URL names, pool size, whether to
//! record an outbox, and URL redaction so that no password reaches a message or `Debug`.

use std::fmt;

use crate::error::StoreError;

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

/// Options of [`crate::InternalProvider::open`].
#[derive(Default, Clone, Debug)]
pub struct StoreOptions {
    /// Connections in the pool; default 8 for SQLite, 10 for PostgreSQL (always 1 for
    /// `sqlite://:memory:`, where every connection would be a separate database).
    pub pool_size: Option<u32>,
    /// Write one `data_sync_outbox` row per mutating operation, in the same transaction as the
    /// change (used by the dual-write `sync` provider).
    pub record_outbox: bool,
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
