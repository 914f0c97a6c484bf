//! Push claims (`data_sync_claim`, leases shared by every instance on the store) and small named values (`sync_kv`).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use provider_internal::{from_micros, kept_update, now_micros, DbConnection, StoreError};

use super::schema::{data_sync_claim, sync_kv};

/// A small named value.
pub(crate) fn kv_get(conn: &mut DbConnection, key: &str) -> Result<Option<String>, StoreError> {
    Ok(sync_kv::table
        .find(key)
        .select(sync_kv::value)
        .get_result(conn)
        .optional()?)
}

/// Stores a small named value.
pub(crate) fn kv_put(conn: &mut DbConnection, key: &str, value: &str) -> Result<(), StoreError> {
    let n = kept_update(
        sync_kv::table,
        sync_kv::key.eq(key),
        sync_kv::value.eq(value),
    )
    .execute(conn)?;
    if n == 0 {
        diesel::insert_into(sync_kv::table)
            .values((sync_kv::key.eq(key), sync_kv::value.eq(value)))
            .execute(conn)?;
    }
    Ok(())
}

/// The named values whose keys start with `prefix`, by key.
pub(crate) fn kv_prefixed(
    conn: &mut DbConnection,
    prefix: &str,
) -> Result<Vec<(String, String)>, StoreError> {
    let rows: Vec<(String, String)> = sync_kv::table
        .filter(sync_kv::key.like(format!("{prefix}%")))
        .order(sync_kv::key)
        .load(conn)?;
    // `_` and `%` in the prefix are wildcards to LIKE: keep exact matches only.
    Ok(rows
        .into_iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .collect())
}

/// Forgets a named value.
pub(crate) fn kv_delete(conn: &mut DbConnection, key: &str) -> Result<(), StoreError> {
    diesel::delete(sync_kv::table.find(key)).execute(conn)?;
    Ok(())
}

/// Takes (or extends) the push claim of ticket `guid` for `owner` until `ttl_us` from now:
/// `true` when it was free, expired or already `owner`'s. An `INSERT` that leaves a taken row
/// alone (SQLite `INSERT OR IGNORE`, PostgreSQL `ON CONFLICT DO NOTHING`), else a conditional
/// `UPDATE`, so concurrent takers never both win and a lost race does not abort the
/// surrounding transaction.
pub(crate) fn claim(
    conn: &mut DbConnection,
    guid: &str,
    owner: &str,
    ttl_us: i64,
) -> Result<bool, StoreError> {
    let now = now_micros();
    let until = now.saturating_add(ttl_us);
    // A released claim is deleted, so a free ticket has no row: insert first.
    let row = (
        data_sync_claim::ticket_guid.eq(guid),
        data_sync_claim::owner.eq(owner),
        data_sync_claim::claim_until.eq(until),
    );
    let inserted = match conn {
        #[cfg(feature = "sqlite")]
        DbConnection::Sqlite(c) => diesel::insert_or_ignore_into(data_sync_claim::table)
            .values(row)
            .execute(c)?,
        #[cfg(feature = "postgres")]
        DbConnection::Postgres(c) => diesel::insert_into(data_sync_claim::table)
            .values(row)
            .on_conflict(data_sync_claim::ticket_guid)
            .do_nothing()
            .execute(c)?,
        #[allow(unreachable_patterns)]
        other => return Err(super::backend_not_built(other.backend())),
    };
    if inserted > 0 {
        return Ok(true);
    }
    // Held: taken when it is ours (a renewal) or has expired.
    let n = kept_update(
        data_sync_claim::table,
        data_sync_claim::ticket_guid.eq(guid).and(
            data_sync_claim::owner
                .eq(owner)
                .or(data_sync_claim::claim_until.le(now)),
        ),
        (
            data_sync_claim::owner.eq(owner),
            data_sync_claim::claim_until.eq(until),
        ),
    )
    .execute(conn)?;
    Ok(n > 0)
}

/// Releases ticket `guid`'s claim if `owner` holds it.
pub(crate) fn release(
    conn: &mut DbConnection,
    guid: &str,
    owner: &str,
) -> Result<bool, StoreError> {
    let n = diesel::delete(
        data_sync_claim::table
            .find(guid)
            .filter(data_sync_claim::owner.eq(owner)),
    )
    .execute(conn)?;
    Ok(n > 0)
}

/// Releases every claim `owner` holds; how many.
pub(crate) fn release_all(conn: &mut DbConnection, owner: &str) -> Result<usize, StoreError> {
    Ok(
        diesel::delete(data_sync_claim::table.filter(data_sync_claim::owner.eq(owner)))
            .execute(conn)?,
    )
}

/// Who holds ticket `guid`'s claim and until when (an expired claim is not held).
pub(crate) fn claim_holder(
    conn: &mut DbConnection,
    guid: &str,
) -> Result<Option<(String, DateTime<Utc>)>, StoreError> {
    let row = data_sync_claim::table
        .find(guid)
        .filter(data_sync_claim::claim_until.gt(now_micros()))
        .select((data_sync_claim::owner, data_sync_claim::claim_until))
        .get_result::<(String, i64)>(conn)
        .optional()?;
    row.map(|(o, u)| Ok((o, from_micros(u)?))).transpose()
}
