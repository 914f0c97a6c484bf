//! The schema: the embedded migrations of each backend and those of the store's extensions,
//! run when the store opens under a lock, so that processes starting at once on a new
//! database do not race.

use std::sync::Arc;
#[cfg(feature = "sqlite")]
use std::time::Duration;

use diesel::connection::SimpleConnection;
#[cfg(feature = "sqlite")]
use diesel::connection::{AnsiTransactionManager, TransactionManager};

use crate::config::{Backend, DbTarget};
use crate::db::DbConnection;
#[cfg(feature = "sqlite")]
use crate::db::WRITE_ATTEMPTS;
use crate::error::StoreError;
use crate::tx::StoreExtension;

#[cfg(feature = "sqlite")]
const SQLITE_MIGRATIONS: diesel_migrations::EmbeddedMigrations =
    diesel_migrations::embed_migrations!("migrations/sqlite");

#[cfg(feature = "postgres")]
const POSTGRES_MIGRATIONS: diesel_migrations::EmbeddedMigrations =
    diesel_migrations::embed_migrations!("migrations/postgres");

/// Runs the embedded migrations of the connection's backend, then those of each extension
/// (and turns on WAL for SQLite).
pub(crate) fn prepare_schema(
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
