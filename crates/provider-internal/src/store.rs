//! The I/O of the internal provider: the diesel schema, one connection type over the enabled
//! backends, the pool, embedded migrations, the write-transaction helper, and every query.
//!
//! Everything here is synchronous; [`crate::InternalProvider`] runs it on
//! `tokio::task::spawn_blocking`. One code path serves SQLite and PostgreSQL through diesel's
//! [`MultiConnection`](diesel::MultiConnection); the only backend-specific steps are how a
//! write transaction begins (`BEGIN IMMEDIATE` on SQLite) and how the ticket row is locked
//! (`SELECT ... FOR UPDATE` on PostgreSQL).

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::{ManageConnection, Pool};
use ticket_provider_api::{
    Comment, Due, Error, ListQuery, NewComment, NewTicket, Priority, Status, Ticket, TicketDetails,
    TicketPage, TicketUpdate,
};

use crate::change::{FieldChanges, StatusOperation, StoreExtension, TicketChange, TicketValues};
use crate::config::{Backend, DbTarget, StoreOptions};
use crate::error::StoreError;
use std::sync::Arc;

#[cfg(not(any(feature = "sqlite", feature = "postgres")))]
compile_error!(
    "provider-internal needs at least one of the Cargo features `sqlite` and `postgres`"
);

/// The tables, as diesel sees them (the same on both backends).
#[allow(missing_docs)]
pub mod schema {
    diesel::table! {
        /// One row per ticket.
        data_ticket (guid) {
            /// UUID v7, so keys are time-ordered.
            guid -> Text,
            subject -> Text,
            description -> Text,
            /// Upper-case status name, e.g. `IN_PROGRESS`.
            status -> Text,
            /// Lower-case priority name.
            priority -> Text,
            assignee -> Nullable<Text>,
            /// Microseconds since the Unix epoch.
            created_at -> BigInt,
            /// Microseconds since the Unix epoch.
            updated_at -> BigInt,
            /// Due day, `YYYY-MM-DD`.
            due_on -> Nullable<Text>,
            /// Due instant, microseconds since the Unix epoch.
            due_at -> Nullable<BigInt>,
        }
    }

    diesel::table! {
        /// Comments on tickets.
        data_ticket_comment (comment_guid) {
            comment_guid -> Text,
            ticket_guid -> Text,
            body -> Text,
            author -> Nullable<Text>,
            created_at -> BigInt,
        }
    }

    diesel::table! {
        /// One row per changed field per operation.
        data_ticket_history (id) {
            id -> BigInt,
            ticket_guid -> Text,
            field -> Text,
            old_value -> Nullable<Text>,
            new_value -> Nullable<Text>,
            changed_at -> BigInt,
        }
    }

    diesel::allow_tables_to_appear_in_same_query!(
        data_ticket,
        data_ticket_comment,
        data_ticket_history,
    );
}

use schema::{data_ticket, data_ticket_comment, data_ticket_history};

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

/// Runs `$body` with `$c` bound to the backend's own connection (`SqliteConnection` or
/// `PgConnection`), for statements on a hot path. Through the [`DbConnection`] enum, diesel's
/// `MultiConnection` renders a statement's SQL text anew on every call (about as costly as
/// running a short `SELECT`); the backend's own connection finds it prepared by its type.
macro_rules! on_backend {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            #[cfg(feature = "sqlite")]
            DbConnection::Sqlite($c) => $body,
            #[cfg(feature = "postgres")]
            DbConnection::Postgres($c) => $body,
        }
    };
}

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
const WRITE_ATTEMPTS: u32 = 8;

#[cfg(feature = "sqlite")]
const SQLITE_MIGRATIONS: diesel_migrations::EmbeddedMigrations =
    diesel_migrations::embed_migrations!("migrations/sqlite");
#[cfg(feature = "postgres")]
const POSTGRES_MIGRATIONS: diesel_migrations::EmbeddedMigrations =
    diesel_migrations::embed_migrations!("migrations/postgres");

/// An r2d2 manager that opens the backend the URL names and applies the per-connection
/// settings (SQLite pragmas) to every new connection.
#[derive(Debug)]
pub struct DbManager {
    target: DbTarget,
}

impl DbManager {
    fn establish(&self) -> Result<DbConnection, StoreError> {
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

/// An open store: the pool and what it points at.
pub(crate) struct Store {
    pub(crate) pool: DbPool,
    pub(crate) target: DbTarget,
    pub(crate) pool_size: u32,
    /// The extensions: their migrations ran at open, their hooks run in every write.
    pub(crate) extensions: Vec<Arc<dyn StoreExtension>>,
    /// Store round trips so far: each takes a pooled connection and runs one read or one
    /// write transaction (see `InternalProvider::store_round_trips`).
    pub(crate) round_trips: std::sync::atomic::AtomicU64,
    /// The WAL checkpoint thread of a SQLite file.
    #[cfg(feature = "sqlite")]
    pub(crate) checkpointer: Option<crate::checkpoint::Checkpointer>,
}

impl Store {
    /// Notes a committed write transaction (for the checkpoint thread).
    pub(crate) fn wrote(&self) {
        #[cfg(feature = "sqlite")]
        if let Some(c) = &self.checkpointer {
            c.wrote();
        }
    }

    /// WAL checkpoints the store's thread has run.
    pub(crate) fn checkpoints(&self) -> u64 {
        #[cfg(feature = "sqlite")]
        if let Some(c) = &self.checkpointer {
            return c.checkpoints();
        }
        0
    }
}

/// Opens the database, brings its schema up to date and builds the pool.
pub(crate) fn open_store(url: &str, options: &StoreOptions) -> Result<Store, StoreError> {
    let target = DbTarget::parse(url)?;
    let manager = DbManager {
        target: target.clone(),
    };
    // One connection first: fails fast with a clear message, and runs the migrations.
    let mut first = manager.establish()?;
    prepare_schema(&mut first, &target, &options.extensions)?;
    for e in &options.extensions {
        let backend = target.backend();
        write_transaction(&mut first, |conn| {
            let mut tx = crate::tx::StoreTx::new(conn, &options.extensions, backend, true);
            e.on_open(&mut tx)
        })?;
    }
    let memory = target.is_memory();
    let pool_size = if memory {
        1
    } else {
        options.pool_size.unwrap_or(match target.backend() {
            Backend::Sqlite => crate::config::DEFAULT_SQLITE_POOL_SIZE,
            Backend::Postgres => crate::config::DEFAULT_POSTGRES_POOL_SIZE,
        })
    }
    .max(1);
    let mut builder = Pool::builder()
        .max_size(pool_size)
        .min_idle(Some(if memory { 1 } else { 0 }))
        .connection_timeout(Duration::from_secs(30))
        // A SQLite connection does not go stale; PostgreSQL ones are checked on checkout.
        .test_on_check_out(target.backend() == Backend::Postgres);
    if memory {
        builder = builder.idle_timeout(None).max_lifetime(None);
    }
    let pool = builder.build_unchecked(manager);
    drop(first);
    if memory {
        // Every in-memory connection is its own database: give the pool's single, never
        // recycled connection the schema too.
        let mut conn = pool.get()?;
        prepare_schema(&mut conn, &target, &options.extensions)?;
    }
    #[cfg(feature = "sqlite")]
    let checkpointer = match &target {
        DbTarget::Sqlite(path) if !memory => crate::checkpoint::Checkpointer::start(path.clone()),
        _ => None,
    };
    Ok(Store {
        round_trips: std::sync::atomic::AtomicU64::new(0),
        #[cfg(feature = "sqlite")]
        checkpointer,
        pool,
        target,
        pool_size,
        extensions: options.extensions.clone(),
    })
}

/// Runs the embedded migrations of the connection's backend, then those of each extension
/// (and turns on WAL for SQLite).
fn prepare_schema(
    conn: &mut DbConnection,
    target: &DbTarget,
    extensions: &[Arc<dyn StoreExtension>],
) -> Result<usize, StoreError> {
    let url = target.redacted();
    let mig_err = |e: Box<dyn std::error::Error + Send + Sync>| StoreError::Migration {
        url: url.clone(),
        reason: e.to_string(),
    };
    match conn {
        #[cfg(feature = "sqlite")]
        DbConnection::Sqlite(c) => {
            if !target.is_memory() {
                // Persistent per file; readers then never block writers.
                let mut attempt = 0;
                loop {
                    match c.batch_execute("PRAGMA journal_mode = WAL;") {
                        Ok(()) => break,
                        Err(e) if attempt < WRITE_ATTEMPTS => {
                            tracing::debug!(error = %e, "retrying journal_mode");
                            attempt += 1;
                            std::thread::sleep(Duration::from_millis(50));
                        }
                        Err(e) => return Err(StoreError::Query(e)),
                    }
                }
            }
            // Processes starting at once on a new file would each see no migration applied
            // and each run them: take the write lock first (BEGIN IMMEDIATE waits out the
            // busy timeout), so the others find the schema up to date once they get it.
            let mut attempt = 0;
            loop {
                match migrate_sqlite_locked(c, extensions) {
                    Ok(n) => return Ok(n),
                    Err(e)
                        if attempt + 1 < WRITE_ATTEMPTS
                            && crate::error::is_busy_message(&e.to_string()) =>
                    {
                        attempt += 1;
                        tracing::debug!(attempt, error = %e, "database busy while migrating; trying again");
                        std::thread::sleep(Duration::from_millis(50 * u64::from(attempt)));
                    }
                    Err(e) => return Err(mig_err(e)),
                }
            }
        }
        #[cfg(feature = "postgres")]
        DbConnection::Postgres(c) => migrate_postgres_locked(c, extensions).map_err(mig_err),
    }
}

/// A migration step's error.
type MigrationError = Box<dyn std::error::Error + Send + Sync>;

/// Runs the pending SQLite migrations inside one `BEGIN IMMEDIATE` transaction (diesel runs
/// each migration in a savepoint of it); the number of applied migrations.
#[cfg(feature = "sqlite")]
fn migrate_sqlite_locked(
    c: &mut diesel::SqliteConnection,
    extensions: &[Arc<dyn StoreExtension>],
) -> Result<usize, MigrationError> {
    use diesel_migrations::MigrationHarness;
    AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?;
    let run = |c: &mut diesel::SqliteConnection| -> Result<usize, MigrationError> {
        c.run_pending_migrations(SQLITE_MIGRATIONS)?;
        for e in extensions {
            if let Some(m) = e.migrations(Backend::Sqlite) {
                c.run_pending_migrations(m)?;
            }
        }
        Ok(c.applied_migrations()?.len())
    };
    match run(c) {
        Ok(n) => {
            AnsiTransactionManager::commit_transaction(c)?;
            Ok(n)
        }
        Err(e) => {
            let _ = AnsiTransactionManager::rollback_transaction(c);
            Err(e)
        }
    }
}

/// The key of the PostgreSQL advisory lock held while migrating ("ticket" in ASCII).
#[cfg(feature = "postgres")]
const MIGRATION_LOCK_KEY: i64 = 0x7469_636b_6574;

/// Runs the pending PostgreSQL migrations under a session advisory lock, so that processes
/// starting at once on a new database run them one after the other (the later ones find
/// nothing to do); the number of applied migrations. The lock goes with the session if the
/// process dies.
#[cfg(feature = "postgres")]
fn migrate_postgres_locked(
    c: &mut diesel::PgConnection,
    extensions: &[Arc<dyn StoreExtension>],
) -> Result<usize, MigrationError> {
    use diesel_migrations::MigrationHarness;
    c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))?;
    let run = |c: &mut diesel::PgConnection| -> Result<usize, MigrationError> {
        c.run_pending_migrations(POSTGRES_MIGRATIONS)?;
        for e in extensions {
            if let Some(m) = e.migrations(Backend::Postgres) {
                c.run_pending_migrations(m)?;
            }
        }
        Ok(c.applied_migrations()?.len())
    };
    let result = run(c);
    let unlocked = c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"));
    let n = result?;
    unlocked?;
    Ok(n)
}

/// The number of applied migrations (for the doctor).
pub(crate) fn applied_migrations(conn: &mut DbConnection) -> Result<usize, StoreError> {
    use diesel_migrations::MigrationHarness;
    let err = |e: Box<dyn std::error::Error + Send + Sync>| StoreError::Migration {
        url: String::from("(open database)"),
        reason: e.to_string(),
    };
    match conn {
        #[cfg(feature = "sqlite")]
        DbConnection::Sqlite(c) => Ok(c.applied_migrations().map_err(err)?.len()),
        #[cfg(feature = "postgres")]
        DbConnection::Postgres(c) => Ok(c.applied_migrations().map_err(err)?.len()),
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
        StoreError::is_retryable_diesel(self)
    }
}

impl StoreError {
    fn is_retryable_diesel(e: &diesel::result::Error) -> bool {
        match e {
            diesel::result::Error::DatabaseError(kind, info) => {
                matches!(
                    kind,
                    diesel::result::DatabaseErrorKind::SerializationFailure
                ) || crate::error::is_busy_message(info.message())
            }
            _ => false,
        }
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
/// parses them anew each time: a sixth of the cost of reading a ticket. Only
/// [`read_transaction`] runs them, and nothing in a read opens a transaction of its own, so
/// diesel's own bookkeeping (which sees no transaction) stays true.
#[cfg(feature = "sqlite")]
mod sqlite_read {
    use diesel::query_builder::{AstPass, QueryFragment, QueryId};
    use diesel::sqlite::Sqlite;
    use diesel::QueryResult;

    /// `BEGIN` (deferred: the snapshot is taken by the first read).
    #[derive(Debug, Clone, Copy, QueryId)]
    pub(super) struct Begin;

    /// `ROLLBACK`: a read keeps nothing.
    #[derive(Debug, Clone, Copy, QueryId)]
    pub(super) struct Rollback;

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

/// The ticket row, if any.
pub(crate) fn find_ticket(
    conn: &mut DbConnection,
    guid: &str,
) -> Result<Option<TicketRow>, StoreError> {
    Ok(data_ticket::table
        .find(guid)
        .select(TicketRow::as_select())
        .get_result::<TicketRow>(conn)
        .optional()?)
}

/// Microseconds since the epoch, now.
pub fn now_micros() -> i64 {
    Utc::now().timestamp_micros()
}

/// A stored timestamp (microseconds since the epoch) as a `DateTime`.
pub fn from_micros(us: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(us)
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {us} is out of range")))
}

/// A new time-ordered id.
pub fn new_guid() -> String {
    uuid::Uuid::now_v7().hyphenated().to_string()
}

/// Checks that `guid` is a UUID and returns its canonical (lower-case, hyphenated) form.
pub fn parse_guid(field: &str, guid: &str) -> Result<String, Error> {
    uuid::Uuid::try_parse(guid.trim())
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| {
            Error::invalid_input(format!(
                "{field} {guid:?} is not a ticket id; expected a UUID such as \"0190b7a2-5c3e-7d41-9f00-1a2b3c4d5e6f\""
            ))
            .with_guid(guid)
        })
}

/// A `data_ticket` row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, PartialEq, Eq)]
#[diesel(table_name = data_ticket)]
pub struct TicketRow {
    /// The ticket's id.
    pub guid: String,
    /// Subject.
    pub subject: String,
    /// Description.
    pub description: String,
    /// Upper-case status.
    pub status: String,
    /// Lower-case priority.
    pub priority: String,
    /// Assignee.
    pub assignee: Option<String>,
    /// Microseconds since the epoch.
    pub created_at: i64,
    /// Microseconds since the epoch.
    pub updated_at: i64,
    /// Due day (`YYYY-MM-DD`).
    pub due_on: Option<String>,
    /// Due instant (microseconds since the epoch).
    pub due_at: Option<i64>,
}

/// The columns of a due date.
pub(crate) fn due_columns(due: Option<Due>) -> (Option<String>, Option<i64>) {
    match due {
        None => (None, None),
        Some(Due::Date(d)) => (Some(d.format("%Y-%m-%d").to_string()), None),
        Some(Due::At(t)) => (None, Some(t.timestamp_micros())),
    }
}

impl TicketRow {
    /// The stored due date.
    pub(crate) fn due(&self) -> Result<Option<Due>, StoreError> {
        match (&self.due_on, self.due_at) {
            (_, Some(us)) => Ok(Some(Due::At(from_micros(us)?))),
            (Some(d), None) => chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .map(|d| Some(Due::Date(d)))
                .map_err(|_| {
                    StoreError::Corrupt(format!("due date {d:?} of ticket {}", self.guid))
                }),
            (None, None) => Ok(None),
        }
    }

    pub(crate) fn status(&self) -> Result<Status, StoreError> {
        self.status.parse().map_err(|_| {
            StoreError::Corrupt(format!("status {:?} of ticket {}", self.status, self.guid))
        })
    }

    pub(crate) fn into_ticket(self) -> Result<Ticket, StoreError> {
        let status = self.status()?;
        let priority: Priority = self.priority.parse().map_err(|_| {
            StoreError::Corrupt(format!(
                "priority {:?} of ticket {}",
                self.priority, self.guid
            ))
        })?;
        let due = self.due()?;
        Ok(Ticket {
            created_at: from_micros(self.created_at)?,
            updated_at: from_micros(self.updated_at)?,
            guid: self.guid,
            status,
            provider: crate::NAME.to_string(),
            subject: self.subject,
            description: self.description,
            priority,
            assignee: self.assignee,
            due,
            asana_gid: None,
            sync_state: None,
        })
    }
}

/// A `data_ticket_comment` row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, PartialEq, Eq)]
#[diesel(table_name = data_ticket_comment)]
pub struct CommentRow {
    /// The comment's id.
    pub comment_guid: String,
    /// The ticket it belongs to.
    pub ticket_guid: String,
    /// The text.
    pub body: String,
    /// Who wrote it.
    pub author: Option<String>,
    /// Microseconds since the epoch.
    pub created_at: i64,
}

impl CommentRow {
    pub(crate) fn into_comment(self) -> Result<Comment, StoreError> {
        Ok(Comment {
            created_at: from_micros(self.created_at)?,
            comment_guid: self.comment_guid,
            body: self.body,
            author: self.author,
        })
    }
}

/// A `data_ticket_history` row to insert.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = data_ticket_history)]
pub struct NewHistoryRow<'a> {
    /// The ticket.
    pub ticket_guid: &'a str,
    /// Which field changed (`created` for the creation itself).
    pub field: &'a str,
    /// Before.
    pub old_value: Option<&'a str>,
    /// After.
    pub new_value: Option<&'a str>,
    /// Microseconds since the epoch.
    pub changed_at: i64,
}

/// A `data_ticket_history` row as read.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = data_ticket_history)]
pub(crate) struct HistoryRow {
    pub(crate) id: i64,
    pub(crate) ticket_guid: String,
    pub(crate) field: String,
    pub(crate) old_value: Option<String>,
    pub(crate) new_value: Option<String>,
    pub(crate) changed_at: i64,
}

/// The columns of a ticket to change; `None` leaves a column as it is.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = data_ticket)]
pub(crate) struct TicketChanges {
    pub(crate) subject: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) status: Option<String>,
    pub(crate) priority: Option<String>,
    pub(crate) assignee: Option<Option<String>>,
    pub(crate) due_on: Option<Option<String>>,
    pub(crate) due_at: Option<Option<i64>>,
    pub(crate) updated_at: Option<i64>,
}

impl TicketChanges {
    fn set_due(&mut self, due: Option<Due>) {
        let (on, at) = due_columns(due);
        self.due_on = Some(on);
        self.due_at = Some(at);
    }
}

/// How a due date reads in history rows.
fn due_text(due: Option<Due>) -> Option<String> {
    due.map(|d| d.to_string())
}

/// Inserts one history row.
pub fn insert_history(conn: &mut DbConnection, row: &NewHistoryRow<'_>) -> QueryResult<()> {
    diesel::insert_into(data_ticket_history::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// Reads the ticket row inside a write transaction, locking it on PostgreSQL so that
/// concurrent changes of one ticket are applied (and recorded) one after the other.
pub(crate) fn lock_ticket(conn: &mut DbConnection, guid: &str) -> Result<TicketRow, StoreError> {
    let row = match conn {
        #[cfg(feature = "sqlite")]
        DbConnection::Sqlite(c) => data_ticket::table
            .find(guid)
            .select(TicketRow::as_select())
            .get_result::<TicketRow>(c)
            .optional()?,
        #[cfg(feature = "postgres")]
        DbConnection::Postgres(c) => data_ticket::table
            .find(guid)
            .select(TicketRow::as_select())
            .for_update()
            .get_result::<TicketRow>(c)
            .optional()?,
    };
    row.ok_or_else(|| StoreError::Api(Error::ticket_not_found(guid)))
}

fn add_history(
    conn: &mut DbConnection,
    guid: &str,
    field: &str,
    old: Option<&str>,
    new: Option<&str>,
    at: i64,
) -> QueryResult<()> {
    insert_history(
        conn,
        &NewHistoryRow {
            ticket_guid: guid,
            field,
            old_value: old,
            new_value: new,
            changed_at: at,
        },
    )
}

/// Inserts a ticket with its `created` history row.
pub(crate) fn create_in_tx(
    conn: &mut DbConnection,
    guid: &str,
    new: &NewTicket,
) -> Result<(TicketRow, TicketChange), StoreError> {
    let now = now_micros();
    let row = TicketRow {
        guid: guid.to_string(),
        subject: new.subject.clone(),
        description: new.description.clone(),
        status: Status::New.as_str().to_string(),
        priority: new.priority.as_str().to_string(),
        assignee: new.assignee.clone(),
        created_at: now,
        updated_at: now,
        due_on: due_columns(new.due).0,
        due_at: due_columns(new.due).1,
    };
    diesel::insert_into(data_ticket::table)
        .values(&row)
        .execute(conn)?;
    add_history(
        conn,
        &row.guid,
        "created",
        None,
        Some(Status::New.as_str()),
        now,
    )?;
    let change = TicketChange::Created {
        ticket: row.clone().into_ticket()?,
    };
    Ok((row, change))
}

/// Applies field changes; one history row per field whose value differs. No change (and no
/// [`TicketChange`]) when every value is the current one.
pub(crate) fn update_in_tx(
    conn: &mut DbConnection,
    guid: &str,
    update: &TicketUpdate,
) -> Result<(TicketRow, Option<TicketChange>), StoreError> {
    let mut row = lock_ticket(conn, guid)?;
    let now = now_micros();
    let mut changes = TicketChanges::default();
    let mut fields = FieldChanges::default();
    let mut rows: Vec<(&str, String, String)> = Vec::new();
    if let Some(s) = &update.subject {
        if *s != row.subject {
            rows.push(("subject", row.subject.clone(), s.clone()));
            changes.subject = Some(s.clone());
            fields.subject = Some(s.clone());
            row.subject = s.clone();
        }
    }
    if let Some(d) = &update.description {
        if *d != row.description {
            rows.push(("description", row.description.clone(), d.clone()));
            changes.description = Some(d.clone());
            fields.description = Some(d.clone());
            row.description = d.clone();
        }
    }
    if let Some(p) = update.priority {
        if p.as_str() != row.priority {
            rows.push(("priority", row.priority.clone(), p.as_str().to_string()));
            changes.priority = Some(p.as_str().to_string());
            fields.priority = Some(p);
            row.priority = p.as_str().to_string();
        }
    }
    let mut history_due: Option<(Option<String>, Option<String>)> = None;
    if let Some(due) = update.due {
        let old = row.due()?;
        if due != old {
            history_due = Some((due_text(old), due_text(due)));
            changes.set_due(due);
            fields.due = Some(due);
            (row.due_on, row.due_at) = due_columns(due);
        }
    }
    if rows.is_empty() && history_due.is_none() {
        return Ok((row, None));
    }
    changes.updated_at = Some(now);
    row.updated_at = now;
    diesel::update(data_ticket::table.find(guid))
        .set(&changes)
        .execute(conn)?;
    for (field, old, new) in &rows {
        add_history(conn, guid, field, Some(old), Some(new), now)?;
    }
    if let Some((old, new)) = &history_due {
        add_history(conn, guid, "due", old.as_deref(), new.as_deref(), now)?;
    }
    let change = TicketChange::Updated {
        guid: guid.to_string(),
        changes: fields,
    };
    Ok((row, Some(change)))
}

/// Moves a ticket to `status`, recording a history row for every call (an explicit status
/// transition is audited even when the status stays the same), and for `escalate` adds the
/// reason as a comment in the same transaction. The comment's guid, if any.
pub(crate) fn set_status_in_tx(
    conn: &mut DbConnection,
    guid: &str,
    status: Status,
    operation: StatusOperation,
    reason: Option<&str>,
) -> Result<(TicketRow, Option<String>, TicketChange), StoreError> {
    let mut row = lock_ticket(conn, guid)?;
    let now = now_micros();
    let old = std::mem::replace(&mut row.status, status.as_str().to_string());
    row.updated_at = now;
    diesel::update(data_ticket::table.find(guid))
        .set((
            data_ticket::status.eq(status.as_str()),
            data_ticket::updated_at.eq(now),
        ))
        .execute(conn)?;
    add_history(conn, guid, "status", Some(&old), Some(status.as_str()), now)?;
    let comment = match reason {
        Some(body) => {
            let c = CommentRow {
                comment_guid: new_guid(),
                ticket_guid: guid.to_string(),
                body: body.to_string(),
                author: None,
                created_at: now,
            };
            diesel::insert_into(data_ticket_comment::table)
                .values(&c)
                .execute(conn)?;
            Some(c.into_comment()?)
        }
        None => None,
    };
    let comment_guid = comment.as_ref().map(|c| c.comment_guid.clone());
    let change = TicketChange::StatusSet {
        guid: guid.to_string(),
        operation,
        status,
        comment,
    };
    Ok((row, comment_guid, change))
}

/// Sets the assignee; a history row (and a [`TicketChange`]) when it changes.
pub(crate) fn assign_in_tx(
    conn: &mut DbConnection,
    guid: &str,
    assignee: &str,
) -> Result<(TicketRow, Option<TicketChange>), StoreError> {
    let mut row = lock_ticket(conn, guid)?;
    if row.assignee.as_deref() == Some(assignee) {
        return Ok((row, None));
    }
    let now = now_micros();
    let old = row.assignee.replace(assignee.to_string());
    row.updated_at = now;
    diesel::update(data_ticket::table.find(guid))
        .set((
            data_ticket::assignee.eq(assignee),
            data_ticket::updated_at.eq(now),
        ))
        .execute(conn)?;
    add_history(conn, guid, "assignee", old.as_deref(), Some(assignee), now)?;
    let change = TicketChange::Assigned {
        guid: guid.to_string(),
        assignee: assignee.to_string(),
    };
    Ok((row, Some(change)))
}

/// Adds a comment and touches the ticket's `updated_at`.
pub(crate) fn add_comment_in_tx(
    conn: &mut DbConnection,
    guid: &str,
    comment: &NewComment,
) -> Result<(TicketRow, String, TicketChange), StoreError> {
    let mut row = lock_ticket(conn, guid)?;
    let now = now_micros();
    let c = CommentRow {
        comment_guid: new_guid(),
        ticket_guid: guid.to_string(),
        body: comment.body.clone(),
        author: comment.author.clone(),
        created_at: now,
    };
    diesel::insert_into(data_ticket_comment::table)
        .values(&c)
        .execute(conn)?;
    diesel::update(data_ticket::table.find(guid))
        .set(data_ticket::updated_at.eq(now))
        .execute(conn)?;
    row.updated_at = now;
    let comment = c.into_comment()?;
    let comment_guid = comment.comment_guid.clone();
    let change = TicketChange::Commented {
        guid: guid.to_string(),
        comment,
    };
    Ok((row, comment_guid, change))
}

/// Writes values that come from elsewhere (another system) into an existing ticket: one
/// history row per field whose value differs, `updated_at` touched when any does. The names
/// of the changed fields.
pub(crate) fn apply_values_in_tx(
    conn: &mut DbConnection,
    guid: &str,
    values: &TicketValues,
) -> Result<Vec<&'static str>, StoreError> {
    let row = lock_ticket(conn, guid)?;
    let now = now_micros();
    let mut changes = TicketChanges::default();
    let mut rows: Vec<(&'static str, Option<String>, Option<String>)> = Vec::new();
    if row.subject != values.subject {
        rows.push((
            "subject",
            Some(row.subject.clone()),
            Some(values.subject.clone()),
        ));
        changes.subject = Some(values.subject.clone());
    }
    if row.description != values.description {
        rows.push((
            "description",
            Some(row.description.clone()),
            Some(values.description.clone()),
        ));
        changes.description = Some(values.description.clone());
    }
    if row.status != values.status.as_str() {
        rows.push((
            "status",
            Some(row.status.clone()),
            Some(values.status.as_str().into()),
        ));
        changes.status = Some(values.status.as_str().into());
    }
    if row.priority != values.priority.as_str() {
        rows.push((
            "priority",
            Some(row.priority.clone()),
            Some(values.priority.as_str().into()),
        ));
        changes.priority = Some(values.priority.as_str().into());
    }
    if row.assignee != values.assignee {
        rows.push(("assignee", row.assignee.clone(), values.assignee.clone()));
        changes.assignee = Some(values.assignee.clone());
    }
    let old_due = row.due()?;
    if old_due != values.due {
        rows.push(("due", due_text(old_due), due_text(values.due)));
        changes.set_due(values.due);
    }
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    changes.updated_at = Some(now);
    diesel::update(data_ticket::table.find(guid))
        .set(&changes)
        .execute(conn)?;
    for (field, old, new) in &rows {
        add_history(conn, guid, field, old.as_deref(), new.as_deref(), now)?;
    }
    Ok(rows.into_iter().map(|(f, _, _)| f).collect())
}

/// Inserts a ticket whose values come from elsewhere, with its `created` history row; its
/// guid (`guid`, else a new one).
pub(crate) fn insert_values_in_tx(
    conn: &mut DbConnection,
    guid: Option<&str>,
    values: &TicketValues,
    created_at: Option<DateTime<Utc>>,
) -> Result<String, StoreError> {
    let now = now_micros();
    let guid = guid.map_or_else(new_guid, str::to_string);
    let row = TicketRow {
        guid: guid.clone(),
        subject: values.subject.clone(),
        description: values.description.clone(),
        status: values.status.as_str().into(),
        priority: values.priority.as_str().into(),
        assignee: values.assignee.clone(),
        created_at: created_at.map_or(now, |t| t.timestamp_micros()),
        updated_at: now,
        due_on: due_columns(values.due).0,
        due_at: due_columns(values.due).1,
    };
    diesel::insert_into(data_ticket::table)
        .values(&row)
        .execute(conn)?;
    add_history(
        conn,
        &guid,
        "created",
        None,
        Some(values.status.as_str()),
        now,
    )?;
    Ok(guid)
}

/// Inserts a comment that comes from elsewhere (the ticket's `updated_at` is left alone);
/// its guid.
pub(crate) fn insert_comment_in_tx(
    conn: &mut DbConnection,
    guid: &str,
    body: &str,
    author: Option<&str>,
    created_at: Option<DateTime<Utc>>,
) -> Result<String, StoreError> {
    let row = CommentRow {
        comment_guid: new_guid(),
        ticket_guid: guid.to_string(),
        body: body.to_string(),
        author: author.map(str::to_string),
        created_at: created_at.map_or_else(now_micros, |t| t.timestamp_micros()),
    };
    diesel::insert_into(data_ticket_comment::table)
        .values(&row)
        .execute(conn)?;
    Ok(row.comment_guid)
}

/// The ticket with its comments, oldest comment first, as of one moment: both statements run
/// in one read transaction, so a concurrent write is seen entirely or not at all.
pub(crate) fn get_ticket(conn: &mut DbConnection, guid: &str) -> Result<TicketDetails, StoreError> {
    read_transaction(conn, |conn| ticket_details(conn, guid))
}

/// The ticket with its comments, oldest comment first, read in the caller's transaction.
pub(crate) fn ticket_details(
    conn: &mut DbConnection,
    guid: &str,
) -> Result<TicketDetails, StoreError> {
    let (row, comments) = on_backend!(conn, c => {
        let row = data_ticket::table
            .find(guid)
            .select(TicketRow::as_select())
            .get_result::<TicketRow>(c)
            .optional()?
            .ok_or_else(|| StoreError::Api(Error::ticket_not_found(guid)))?;
        let comments = data_ticket_comment::table
            .filter(data_ticket_comment::ticket_guid.eq(guid))
            .order((
                data_ticket_comment::created_at.asc(),
                data_ticket_comment::comment_guid.asc(),
            ))
            .select(CommentRow::as_select())
            .load::<CommentRow>(c)?;
        (row, comments)
    });
    Ok(TicketDetails {
        ticket: row.into_ticket()?,
        comments: comments
            .into_iter()
            .map(CommentRow::into_comment)
            .collect::<Result<_, _>>()?,
    })
}

/// A decoded list cursor: where the previous page ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub(crate) created_at: i64,
    pub(crate) guid: String,
}

impl Cursor {
    /// Hex of `v1:<micros>:<guid>`: opaque to callers, trivially checked.
    pub(crate) fn encode(&self) -> String {
        let raw = format!("v1:{}:{}", self.created_at, self.guid);
        raw.bytes().map(|b| format!("{b:02x}")).collect()
    }

    pub(crate) fn decode(text: &str) -> Result<Cursor, Error> {
        let bad = || {
            Error::invalid_input(format!(
                "cursor {text:?} is not a cursor returned by list_tickets; start again without a cursor"
            ))
        };
        if text.len() % 2 != 0 || text.len() > 200 || !text.is_ascii() {
            return Err(bad());
        }
        let bytes = (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| bad())?;
        let raw = String::from_utf8(bytes).map_err(|_| bad())?;
        let mut parts = raw.splitn(3, ':');
        let (Some("v1"), Some(micros), Some(guid)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let created_at = micros.parse::<i64>().map_err(|_| bad())?;
        let guid = uuid::Uuid::try_parse(guid).map_err(|_| bad())?;
        Ok(Cursor {
            created_at,
            guid: guid.hyphenated().to_string(),
        })
    }
}

/// One page of tickets, newest first.
pub(crate) fn list_tickets(
    conn: &mut DbConnection,
    query: &ListQuery,
    limit: usize,
    cursor: Option<&Cursor>,
) -> Result<TicketPage, StoreError> {
    let mut q = data_ticket::table
        .select(TicketRow::as_select())
        .into_boxed();
    if let Some(s) = query.status {
        q = q.filter(data_ticket::status.eq(s.as_str()));
    }
    if let Some(a) = &query.assignee {
        q = q.filter(data_ticket::assignee.eq(a.clone()));
    }
    if let Some(p) = query.priority {
        q = q.filter(data_ticket::priority.eq(p.as_str()));
    }
    if let Some(day) = query.due_before {
        // A date before the day, or an instant before the day's start in UTC.
        let start = day
            .and_hms_opt(0, 0, 0)
            .map_or(i64::MIN, |t| t.and_utc().timestamp_micros());
        q = q.filter(
            data_ticket::due_on
                .lt(day.format("%Y-%m-%d").to_string())
                .or(data_ticket::due_at.lt(start)),
        );
    }
    if let Some(c) = cursor {
        // `created_at <= c` bounds the index range; the rest breaks ties on the guid.
        q = q.filter(
            data_ticket::created_at.le(c.created_at).and(
                data_ticket::created_at
                    .lt(c.created_at)
                    .or(data_ticket::guid.lt(c.guid.clone())),
            ),
        );
    }
    let fetch = i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1);
    let mut rows = q
        .order((data_ticket::created_at.desc(), data_ticket::guid.desc()))
        .limit(fetch)
        .load::<TicketRow>(conn)?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = if more {
        rows.last().map(|r| {
            Cursor {
                created_at: r.created_at,
                guid: r.guid.clone(),
            }
            .encode()
        })
    } else {
        None
    };
    Ok(TicketPage {
        tickets: rows
            .into_iter()
            .map(TicketRow::into_ticket)
            .collect::<Result<_, _>>()?,
        next_cursor,
    })
}

/// Whether a ticket exists.
pub(crate) fn ticket_exists(conn: &mut DbConnection, guid: &str) -> Result<bool, StoreError> {
    Ok(data_ticket::table
        .find(guid)
        .select(data_ticket::guid)
        .get_result::<String>(conn)
        .optional()?
        .is_some())
}

/// A ticket's history, oldest first.
pub(crate) fn history(conn: &mut DbConnection, guid: &str) -> Result<Vec<HistoryRow>, StoreError> {
    if !ticket_exists(conn, guid)? {
        return Err(StoreError::Api(Error::ticket_not_found(guid)));
    }
    Ok(data_ticket_history::table
        .filter(data_ticket_history::ticket_guid.eq(guid))
        .order(data_ticket_history::id.asc())
        .select(HistoryRow::as_select())
        .load::<HistoryRow>(conn)?)
}

/// Row counts of the ticket tables (tickets, comments, history), for tests and checks.
pub(crate) fn row_counts(conn: &mut DbConnection) -> Result<[i64; 3], StoreError> {
    Ok([
        data_ticket::table.count().get_result(conn)?,
        data_ticket_comment::table.count().get_result(conn)?,
        data_ticket_history::table.count().get_result(conn)?,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_junk() {
        let c = Cursor {
            created_at: 1_700_000_000_123_456,
            guid: new_guid(),
        };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        for junk in ["", "0", "zz", "7631", "76313a783a79", "é"] {
            let err = Cursor::decode(junk).unwrap_err();
            assert_eq!(err.kind(), ticket_provider_api::ErrorKind::InvalidInput);
        }
    }

    #[test]
    fn guids_are_checked_and_canonical() {
        let g = new_guid();
        assert_eq!(parse_guid("guid", &g.to_uppercase()).unwrap(), g);
        let err = parse_guid("guid", "ticket-1").unwrap_err();
        assert!(err.to_string().contains("ticket-1"), "{err}");
    }
}
