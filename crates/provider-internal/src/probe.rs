//! `ticket doctor`'s checks of a SQLite store file, beyond "it opens": that every page reads
//! (`PRAGMA quick_check`), and that a write fits (a probe that allocates pages and writes
//! them to the WAL, then is rolled back). A read-only, full or corrupt file thus fails the
//! doctor instead of failing the first command that writes.

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::sql_types::{BigInt, Text};
use diesel::RunQueryDsl as _;

use crate::error::{file_fault_error, StoreError};

/// Bytes the write probe writes (then rolls back): enough pages to pass the page cache it
/// runs with ([`PROBE_CACHE_PAGES`]), so that they reach the disk.
pub const PROBE_BYTES: usize = 256 * 1024;

/// The page cache of the probe's connection while it runs: smaller than the probe, so that
/// SQLite spills the probe's pages to the WAL file (a real write) before the rollback.
const PROBE_CACHE_PAGES: i64 = 16;

#[derive(diesel::QueryableByName)]
struct CheckRow {
    #[diesel(sql_type = Text)]
    quick_check: String,
}

#[derive(diesel::QueryableByName)]
struct CacheRow {
    #[diesel(sql_type = BigInt)]
    cache_size: i64,
}

/// Checks the SQLite file at `path` on connection `c`: every page reads, and a write of
/// [`PROBE_BYTES`] fits. The error names the file and what is wrong.
pub(crate) fn check_sqlite_file(
    c: &mut diesel::SqliteConnection,
    path: &str,
) -> Result<(), StoreError> {
    let fault = |message: &str| {
        StoreError::Api(file_fault_error(path, message).unwrap_or_else(|| {
            ticket_provider_api::Error::internal(format!("the SQLite file {path}: {message}"))
        }))
    };
    let rows: Vec<CheckRow> = diesel::sql_query("PRAGMA quick_check(1)")
        .load(c)
        .map_err(|e| fault(&e.to_string()))?;
    if let Some(row) = rows.iter().find(|r| r.quick_check != "ok") {
        return Err(fault(&format!(
            "database disk image is malformed ({})",
            crate::config::redact_url(&row.quick_check.replace('\n', " "))
        )));
    }
    let cache: Vec<CacheRow> = diesel::sql_query("PRAGMA cache_size").load(c)?;
    c.batch_execute(&format!("PRAGMA cache_size = {PROBE_CACHE_PAGES}"))?;
    let probed = write_probe(c);
    if let Some(old) = cache.first() {
        c.batch_execute(&format!("PRAGMA cache_size = {}", old.cache_size))?;
    }
    probed.map_err(|e| fault(&e.to_string()))
}

/// A table with [`PROBE_BYTES`] in it, made and rolled back in one write transaction.
fn write_probe(c: &mut diesel::SqliteConnection) -> Result<(), diesel::result::Error> {
    AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?;
    let wrote = c.batch_execute(&format!(
        "CREATE TABLE doctor_write_probe (b BLOB); \
         INSERT INTO doctor_write_probe VALUES (zeroblob({PROBE_BYTES}));"
    ));
    let rolled_back = AnsiTransactionManager::rollback_transaction(c);
    wrote?;
    rolled_back
}
