//! Release 0.1.0 kept per-ticket sync state as text in `sync_kv`: moved into the typed columns on open.

use super::comment::{record_attempt, story_of};
use super::link::{link, put_link};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use provider_internal::{from_micros, DbConnection, StoreError};

use super::schema::sync_kv;

/// Release 0.1.0 kept per-ticket sync state as text in `sync_kv` (`sync.snapshot.<guid>`:
/// the agreed values as JSON; `sync.pushed_at.<guid>`: RFC 3339;
/// `sync.comment_attempt.<guid>`: microseconds). Moves each such row into the typed
/// columns and deletes it; rows of tickets without a link (or unreadable) are dropped, as
/// 0.1.0 only wrote them for linked tickets. Idempotent. The number of rows moved.
pub(crate) fn upgrade_legacy_rows(conn: &mut DbConnection) -> Result<usize, StoreError> {
    const SNAPSHOT: &str = "sync.snapshot.";
    const PUSHED: &str = "sync.pushed_at.";
    const ATTEMPT: &str = "sync.comment_attempt.";
    let rows: Vec<(String, String)> = sync_kv::table
        .filter(
            sync_kv::key
                .like(format!("{SNAPSHOT}%"))
                .or(sync_kv::key.like(format!("{PUSHED}%")))
                .or(sync_kv::key.like(format!("{ATTEMPT}%"))),
        )
        .select((sync_kv::key, sync_kv::value))
        .load(conn)?;
    let mut moved = 0;
    for (key, value) in &rows {
        if let Some(guid) = key.strip_prefix(SNAPSHOT) {
            if let (Some(mut l), Ok(agreed)) = (link(conn, guid)?, serde_json::from_str(value)) {
                l.agreed = agreed;
                put_link(conn, &l)?;
                moved += 1;
            }
        } else if let Some(guid) = key.strip_prefix(PUSHED) {
            let at = DateTime::parse_from_rfc3339(value).map(|t| t.with_timezone(&Utc));
            if let (Some(mut l), Ok(at)) = (link(conn, guid)?, at) {
                l.pushed_at = Some(at);
                put_link(conn, &l)?;
                moved += 1;
            }
        } else if let Some(cg) = key.strip_prefix(ATTEMPT) {
            if let Some(at) = value
                .parse::<i64>()
                .ok()
                .and_then(|us| from_micros(us).ok())
            {
                if story_of(conn, cg)?.is_none() {
                    record_attempt(conn, cg, at)?;
                    moved += 1;
                }
            }
        }
        diesel::delete(sync_kv::table.find(key)).execute(conn)?;
    }
    Ok(moved)
}

/// Whether any 0.1.0 per-ticket row is left in `sync_kv` (a read, before taking the write
/// lock for [`upgrade_legacy_rows`]).
pub(crate) fn has_legacy_rows(conn: &mut DbConnection) -> Result<bool, StoreError> {
    let n: i64 = sync_kv::table
        .filter(
            sync_kv::key
                .like("sync.snapshot.%")
                .or(sync_kv::key.like("sync.pushed_at.%"))
                .or(sync_kv::key.like("sync.comment_attempt.%")),
        )
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}
