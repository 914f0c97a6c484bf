//! Connections and transactions: one connection type over the enabled backends, the pool
//! that opens them with their settings, and the write and read transactions every store
//! operation runs in.
//!
//! One code path serves SQLite and PostgreSQL through diesel's
//! [`MultiConnection`](diesel::MultiConnection); the backend-specific steps are how a
//! transaction begins (`BEGIN IMMEDIATE` for a SQLite write, `REPEATABLE READ` for a
//! PostgreSQL read) and, through `on_backend!`, statements on a hot path.

use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::{ManageConnection, Pool};

use crate::config::{Backend, DbTarget};
use crate::error::StoreError;

#[cfg(not(any(feature = "sqlite", feature = "postgres")))]
compile_error!(
    "provider-internal needs at least one of the Cargo features `sqlite` and `postgres`"
);

/// The connection types, one variant per enabled backend.
#[allow(missing_docs)]
mod connection {
    #[cfg(all(feature = "sqlite", feature = "postgres"))]
    /// A connection to either backend.
    #[derive(diesel::MultiConnection)]
    pub enum DbConnection {
        /// A SQLite connection.
        Sqlite(diesel::SqliteConnection),
        /// A PostgreSQL connection.
        Postgres(diesel::PgConnection),
    }

    #[cfg(all(feature = "sqlite", not(feature = "postgres")))]
    /// A connection to the one enabled backend.
    #[derive(diesel::MultiConnection)]
    pub enum DbConnection {
        /// A SQLite connection.
        Sqlite(diesel::SqliteConnection),
    }

    #[cfg(all(feature = "postgres", not(feature = "sqlite")))]
    /// A connection to the one enabled backend.
    #[derive(diesel::MultiConnection)]
    pub enum DbConnection {
        /// A PostgreSQL connection.
        Postgres(diesel::PgConnection),
    }
}

pub use connection::DbConnection;

impl DbConnection {
    /// The database engine behind this connection.
    pub fn backend(&self) -> crate::config::Backend {
        match self {
            #[cfg(feature = "sqlite")]
            DbConnection::Sqlite(_) => crate::config::Backend::Sqlite,
            #[cfg(feature = "postgres")]
            DbConnection::Postgres(_) => crate::config::Backend::Postgres,
        }
    }
}

/// Runs `$body` with `$c` bound to the backend's own connection (`SqliteConnection` or
/// `PgConnection`), for statements on a hot path. Through the [`DbConnection`] enum, diesel's
/// `MultiConnection` renders a statement's SQL text anew on every call (about as costly as
/// running a short `SELECT`); the backend's own connection finds it prepared by its type.
macro_rules! on_backend {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            #[cfg(feature = "sqlite")]
            $crate::db::DbConnection::Sqlite($c) => $body,
            #[cfg(feature = "postgres")]
            $crate::db::DbConnection::Postgres($c) => $body,
        }
    };
}
pub(crate) use on_backend;

/// The connection pool type.
pub type DbPool = Pool<DbManager>;

/// Settings applied to every SQLite connection: wait up to 5 s for a lock, enforce foreign
/// keys, and fsync at checkpoints only (WAL keeps committed data across application crashes).
/// Checkpoints run on the store's own thread ([`crate::checkpoint`]); SQLite's automatic
/// one is the backstop, at 10,000 pages
/// ([`crate::checkpoint::SQLITE_AUTOCHECKPOINT_PAGES`]).
pub const SQLITE_CONNECTION_PRAGMAS: &str = "PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 10000;";

/// How often a write transaction is run again after SQLite reported the database busy (or
/// PostgreSQL a serialization failure) before the caller sees a temporary error.
pub(crate) const WRITE_ATTEMPTS: u32 = 8;

/// An r2d2 manager that opens the backend the URL names and applies the per-connection
/// settings (SQLite pragmas) to every new connection.
#[derive(Debug)]
pub struct DbManager {
    target: DbTarget,
}

impl DbManager {
    /// A manager for the database `target` names.
    pub(crate) fn new(target: DbTarget) -> Self {
        DbManager { target }
    }

    pub(crate) fn establish(&self) -> Result<DbConnection, StoreError> {
        let url = self.target.redacted();
        let open_err = |e: diesel::ConnectionError| StoreError::Open {
            url: url.clone(),
            reason: crate::config::redact_url(&e.to_string()),
        };
        match &self.target {
            #[cfg(feature = "sqlite")]
            DbTarget::Sqlite(path) => {
                let mut conn = diesel::SqliteConnection::establish(path).map_err(open_err)?;
                conn.batch_execute(SQLITE_CONNECTION_PRAGMAS)
                    .map_err(|e| StoreError::Open {
                        url: url.clone(),
                        reason: e.to_string(),
                    })?;
                Ok(DbConnection::Sqlite(conn))
            }
            #[cfg(feature = "postgres")]
            DbTarget::Postgres(u) => {
                let conn = diesel::PgConnection::establish(u).map_err(open_err)?;
                Ok(DbConnection::Postgres(conn))
            }
            #[allow(unreachable_patterns)]
            other => Err(feature_disabled(other)),
        }
    }
}

fn feature_disabled(target: &DbTarget) -> StoreError {
    let (backend, feature) = match target.backend() {
        Backend::Sqlite => ("SQLite", "sqlite"),
        Backend::Postgres => ("PostgreSQL", "postgres"),
    };
    StoreError::FeatureDisabled {
        url: target.redacted(),
        backend,
        feature,
    }
}

/// The error r2d2 sees from [`DbManager`]; only its message is kept.
#[derive(Debug)]
pub struct ManagerError(String);

impl std::fmt::Display for ManagerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ManagerError {}

impl ManageConnection for DbManager {
    type Connection = DbConnection;
    type Error = ManagerError;

    fn connect(&self) -> Result<DbConnection, ManagerError> {
        self.establish().map_err(|e| ManagerError(e.to_string()))
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), ManagerError> {
        conn.batch_execute("SELECT 1")
            .map_err(|e| ManagerError(e.to_string()))
    }

    fn has_broken(&self, _conn: &mut DbConnection) -> bool {
        false
    }
}

/// Runs `f` in one write transaction: `BEGIN IMMEDIATE` on SQLite (so two writers never
/// deadlock upgrading locks), a plain `BEGIN` on PostgreSQL. A busy database or a
/// serialization failure rolls back and runs `f` again, a bounded number of times.
pub fn write_transaction<T, E>(
    conn: &mut DbConnection,
    mut f: impl FnMut(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error> + RetryCheck,
{
    let mut attempt = 0;
    loop {
        match write_once(conn, &mut f) {
            Err(e) if e.retryable() && attempt + 1 < WRITE_ATTEMPTS => {
                attempt += 1;
                let pause = 10u64 * u64::from(attempt) + u64::from(attempt * 7 % 13);
                tracing::debug!(attempt, "database busy; running the transaction again");
                std::thread::sleep(Duration::from_millis(pause));
            }
            other => return other,
        }
    }
}

/// Whether an error allows running the transaction again.
pub trait RetryCheck {
    /// True when a fresh attempt may succeed (busy database, serialization failure).
    fn retryable(&self) -> bool;
}

impl RetryCheck for StoreError {
    fn retryable(&self) -> bool {
        self.is_retryable()
    }
}

impl RetryCheck for diesel::result::Error {
    fn retryable(&self) -> bool {
        crate::error::is_retryable_diesel(self)
    }
}

fn write_once<T, E>(
    conn: &mut DbConnection,
    f: &mut impl FnMut(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    match conn {
        #[cfg(feature = "sqlite")]
        DbConnection::Sqlite(c) => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?
        }
        #[cfg(feature = "postgres")]
        DbConnection::Postgres(c) => AnsiTransactionManager::begin_transaction(c)?,
    }
    match f(conn) {
        Ok(value) => {
            match <DbConnection as Connection>::TransactionManager::commit_transaction(conn) {
                Ok(()) => Ok(value),
                Err(e) => {
                    let _ = <DbConnection as Connection>::TransactionManager::rollback_transaction(
                        conn,
                    );
                    Err(e.into())
                }
            }
        }
        Err(e) => {
            let _ = <DbConnection as Connection>::TransactionManager::rollback_transaction(conn);
            Err(e)
        }
    }
}

/// Runs `f` in one read-only transaction, a consistent snapshot: `BEGIN` on SQLite (every
/// statement reads the snapshot the first one took), `BEGIN ISOLATION LEVEL REPEATABLE READ
/// READ ONLY` on PostgreSQL (its default level takes a new snapshot per statement); always
/// rolled back. `f` must not open a transaction of its own.
pub(crate) fn read_transaction<T>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    match conn {
        #[cfg(feature = "sqlite")]
        DbConnection::Sqlite(c) => {
            sqlite_read::Begin.execute(c)?;
        }
        #[cfg(feature = "postgres")]
        DbConnection::Postgres(c) => AnsiTransactionManager::begin_transaction_sql(
            c,
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        )?,
    }
    let out = f(conn);
    let ended = match conn {
        #[cfg(feature = "sqlite")]
        DbConnection::Sqlite(c) => sqlite_read::Rollback.execute(c).map(|_| ()),
        #[cfg(feature = "postgres")]
        DbConnection::Postgres(c) => AnsiTransactionManager::rollback_transaction(c),
    };
    let value = out?;
    ended?;
    Ok(value)
}

/// The two statements around a SQLite read, kept prepared by the connection under their
/// types. diesel's transaction manager hands `BEGIN` and `ROLLBACK` to `sqlite3_exec`, which
/// parses them anew each time: a sixth of the cost of reading a ticket. In this crate only
/// `read_transaction` runs them, and nothing in a read opens a transaction of its own, so
/// diesel's own bookkeeping (which sees no transaction) stays true. `ticket-bench`'s
/// hand-written baseline uses them too, so that both sides read the same way.
#[cfg(feature = "sqlite")]
pub mod sqlite_read {
    use diesel::query_builder::{AstPass, QueryFragment, QueryId};
    use diesel::sqlite::Sqlite;
    use diesel::QueryResult;

    /// `BEGIN` (deferred: the snapshot is taken by the first read).
    #[derive(Debug, Clone, Copy, QueryId)]
    pub struct Begin;

    /// `ROLLBACK`: a read keeps nothing.
    #[derive(Debug, Clone, Copy, QueryId)]
    pub struct Rollback;

    impl QueryFragment<Sqlite> for Begin {
        fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
            out.push_sql("BEGIN");
            Ok(())
        }
    }

    impl QueryFragment<Sqlite> for Rollback {
        fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
            out.push_sql("ROLLBACK");
            Ok(())
        }
    }

    impl<C> diesel::RunQueryDsl<C> for Begin {}
    impl<C> diesel::RunQueryDsl<C> for Rollback {}
}
