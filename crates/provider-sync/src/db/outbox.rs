//! The outbox (`data_sync_outbox`): one row per change waiting for Asana (or set aside), and its statements.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use provider_internal::{from_micros, kept_update, now_micros, DbConnection, StoreError};

use super::link::LinkState;
use super::schema::{corrupt, time};
use super::schema::{data_sync_outbox, def_asana_sync};
use crate::outbox::{Change, OutboxEntry};

#[derive(Queryable, Selectable)]
#[diesel(table_name = data_sync_outbox)]
struct OutboxRow {
    id: i64,
    ticket_guid: String,
    operation: String,
    payload: String,
    created_at: i64,
    attempts: i32,
    last_error: Option<String>,
    set_aside_reason: Option<String>,
}

impl OutboxRow {
    fn into_entry(self) -> Result<OutboxEntry, StoreError> {
        let change = Change::from_stored(&self.operation, &self.payload)
            .map_err(|e| corrupt(format!("outbox entry {}: {e}", self.id)))?;
        Ok(OutboxEntry {
            created_at: from_micros(self.created_at)?,
            id: self.id,
            ticket_guid: self.ticket_guid,
            change,
            attempts: u32::try_from(self.attempts).unwrap_or(0),
            last_error: self.last_error,
            set_aside_reason: self.set_aside_reason,
        })
    }
}

fn entries(rows: Vec<OutboxRow>) -> Result<Vec<OutboxEntry>, StoreError> {
    rows.into_iter().map(OutboxRow::into_entry).collect()
}

/// The id of a new outbox entry on SQLite, whose outbox is keyed by ticket (see the
/// migration `outbox_by_ticket`), before [`outbox_insert`] raises it above the ticket's
/// newest entry: the time in microseconds, above every id this process gave before. Write
/// transactions on one SQLite database run one after the other, so two of them read two
/// different times: ids are unique and rise with the commit order, unless the system clock
/// is set back; then a ticket's entries still keep their order (its newest id + 1), and
/// [`outbox_with_id`] reports an id two entries share rather than guess.
#[cfg(feature = "sqlite")]
fn next_outbox_id() -> i64 {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = now_micros();
    let prev = LAST
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
            Some(now.max(last.saturating_add(1)))
        })
        .unwrap_or(now);
    now.max(prev.saturating_add(1))
}

/// What the caller of [`outbox_insert`] knows of the ticket's entries (on SQLite a new
/// entry's id goes above the ticket's newest, see [`next_outbox_id`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Newest {
    /// The ticket has none (it is created in this transaction).
    NoEntries,
    /// The insert looks its newest id up.
    LookUp,
}

/// Adds a change to the outbox.
pub(crate) fn outbox_insert(
    conn: &mut DbConnection,
    guid: &str,
    change: &Change,
    newest: Newest,
) -> Result<(), StoreError> {
    let row = (
        data_sync_outbox::ticket_guid.eq(guid),
        data_sync_outbox::operation.eq(change.operation()),
        data_sync_outbox::payload.eq(change.payload()),
        data_sync_outbox::created_at.eq(now_micros()),
        data_sync_outbox::attempts.eq(0),
    );
    match conn {
        #[cfg(feature = "sqlite")]
        DbConnection::Sqlite(c) => {
            let newest: Option<i64> = match newest {
                Newest::NoEntries => None,
                Newest::LookUp => data_sync_outbox::table
                    .filter(data_sync_outbox::ticket_guid.eq(guid))
                    .select(diesel::dsl::max(data_sync_outbox::id))
                    .get_result(c)?,
            };
            let id = next_outbox_id().max(newest.map_or(0, |n| n.saturating_add(1)));
            diesel::insert_into(data_sync_outbox::table)
                .values((data_sync_outbox::id.eq(id), row))
                .execute(c)?;
        }
        #[cfg(feature = "postgres")]
        DbConnection::Postgres(c) => {
            // BIGSERIAL. A ticket's changes take their ids in commit order: the change's own
            // write locks the ticket's row before this insert.
            let _ = newest;
            diesel::insert_into(data_sync_outbox::table)
                .values(row)
                .execute(c)?;
        }
        #[allow(unreachable_patterns)]
        other => return Err(super::backend_not_built(other.backend())),
    }
    Ok(())
}

/// Every outbox entry of a ticket (set aside or not), oldest first.
pub(crate) fn outbox_of(
    conn: &mut DbConnection,
    guid: &str,
) -> Result<Vec<OutboxEntry>, StoreError> {
    entries(
        data_sync_outbox::table
            .filter(data_sync_outbox::ticket_guid.eq(guid))
            .order(data_sync_outbox::id.asc())
            .select(OutboxRow::as_select())
            .load(conn)?,
    )
}

/// The entries with this id: one, or none; two only if the system clock was set back
/// while they were made (on SQLite, see [`next_outbox_id`]).
pub(crate) fn outbox_with_id(
    conn: &mut DbConnection,
    id: i64,
) -> Result<Vec<OutboxEntry>, StoreError> {
    entries(
        data_sync_outbox::table
            .filter(data_sync_outbox::id.eq(id))
            .select(OutboxRow::as_select())
            .load(conn)?,
    )
}

/// The tickets with pending (not set aside) entries, in the order of their oldest one;
/// tickets whose link is [`LinkState::Lost`] are left out (nothing can be pushed for them
/// until `relink` or `unlink`).
pub(crate) fn pending_tickets(conn: &mut DbConnection) -> Result<Vec<String>, StoreError> {
    let lost: HashSet<String> = def_asana_sync::table
        .filter(def_asana_sync::state.eq(LinkState::Lost.as_str()))
        .select(def_asana_sync::ticket_guid)
        .load::<String>(conn)?
        .into_iter()
        .collect();
    let rows: Vec<String> = data_sync_outbox::table
        .filter(data_sync_outbox::set_aside_reason.is_null())
        .order(data_sync_outbox::id.asc())
        .select(data_sync_outbox::ticket_guid)
        .load(conn)?;
    let mut seen = HashSet::new();
    Ok(rows
        .into_iter()
        .filter(|g| !lost.contains(g) && seen.insert(g.clone()))
        .collect())
}

/// `(pending, set_aside)` entry counts.
pub(crate) fn outbox_counts(conn: &mut DbConnection) -> Result<(u64, u64), StoreError> {
    let pending: i64 = data_sync_outbox::table
        .filter(data_sync_outbox::set_aside_reason.is_null())
        .count()
        .get_result(conn)?;
    let aside: i64 = data_sync_outbox::table
        .filter(data_sync_outbox::set_aside_reason.is_not_null())
        .count()
        .get_result(conn)?;
    Ok((
        u64::try_from(pending).unwrap_or(0),
        u64::try_from(aside).unwrap_or(0),
    ))
}

/// Every set-aside entry, oldest first.
pub(crate) fn set_aside_entries(conn: &mut DbConnection) -> Result<Vec<OutboxEntry>, StoreError> {
    entries(
        data_sync_outbox::table
            .filter(data_sync_outbox::set_aside_reason.is_not_null())
            .order(data_sync_outbox::id.asc())
            .select(OutboxRow::as_select())
            .load(conn)?,
    )
}

/// Of these tickets: those with pending entries and those with set-aside ones.
pub(crate) fn outbox_flags(
    conn: &mut DbConnection,
    guids: &[String],
) -> Result<(HashSet<String>, HashSet<String>), StoreError> {
    let (mut pending, mut aside) = (HashSet::new(), HashSet::new());
    for chunk in guids.chunks(500) {
        let rows = data_sync_outbox::table
            .filter(data_sync_outbox::ticket_guid.eq_any(chunk))
            .select((
                data_sync_outbox::ticket_guid,
                data_sync_outbox::set_aside_reason.is_not_null(),
            ))
            .distinct()
            .load::<(String, bool)>(conn)?;
        for (g, is_aside) in rows {
            if is_aside {
                aside.insert(g);
            } else {
                pending.insert(g);
            }
        }
    }
    Ok((pending, aside))
}

/// Of one ticket: whether it has pending entries, and set-aside ones (one query diesel can
/// keep prepared, unlike [`outbox_flags`]' `IN` list).
pub(crate) fn ticket_flags(
    conn: &mut DbConnection,
    guid: &str,
) -> Result<(bool, bool), StoreError> {
    let rows = data_sync_outbox::table
        .filter(data_sync_outbox::ticket_guid.eq(guid))
        .select(data_sync_outbox::set_aside_reason.is_not_null())
        .distinct()
        .load::<bool>(conn)?;
    Ok((rows.contains(&false), rows.contains(&true)))
}

/// Removes a pushed entry (`id` of ticket `guid`).
pub(crate) fn outbox_complete(
    conn: &mut DbConnection,
    guid: &str,
    id: i64,
) -> Result<(), StoreError> {
    diesel::delete(
        data_sync_outbox::table
            .filter(data_sync_outbox::ticket_guid.eq(guid))
            .filter(data_sync_outbox::id.eq(id)),
    )
    .execute(conn)?;
    Ok(())
}

/// Records a failed push of an entry: `attempts + 1` and the error.
pub(crate) fn outbox_failed(
    conn: &mut DbConnection,
    guid: &str,
    id: i64,
    error: &str,
) -> Result<(), StoreError> {
    kept_update(
        data_sync_outbox::table,
        data_sync_outbox::ticket_guid
            .eq(guid)
            .and(data_sync_outbox::id.eq(id)),
        (
            data_sync_outbox::attempts.eq(data_sync_outbox::attempts + 1),
            data_sync_outbox::last_error.eq(error),
        ),
    )
    .execute(conn)?;
    Ok(())
}

/// Sets an entry aside with the reason.
pub(crate) fn outbox_set_aside(
    conn: &mut DbConnection,
    guid: &str,
    id: i64,
    reason: &str,
) -> Result<(), StoreError> {
    kept_update(
        data_sync_outbox::table,
        data_sync_outbox::ticket_guid
            .eq(guid)
            .and(data_sync_outbox::id.eq(id)),
        data_sync_outbox::set_aside_reason.eq(reason),
    )
    .execute(conn)?;
    Ok(())
}

/// The creation time of the oldest pending (not set aside) entry.
pub(crate) fn oldest_pending(conn: &mut DbConnection) -> Result<Option<DateTime<Utc>>, StoreError> {
    let us: Option<i64> = data_sync_outbox::table
        .filter(data_sync_outbox::set_aside_reason.is_null())
        .select(diesel::dsl::min(data_sync_outbox::created_at))
        .get_result(conn)?;
    time(us)
}

/// The id of the newest outbox entry (0 when empty): a cheap "did anything change" probe.
pub(crate) fn outbox_max_id(conn: &mut DbConnection) -> Result<i64, StoreError> {
    let id: Option<i64> = data_sync_outbox::table
        .select(diesel::dsl::max(data_sync_outbox::id))
        .get_result(conn)?;
    Ok(id.unwrap_or(0))
}

/// Removes every pending (not set aside) entry of ticket `guid`; how many.
pub(crate) fn outbox_drop_pending(
    conn: &mut DbConnection,
    guid: &str,
) -> Result<usize, StoreError> {
    Ok(diesel::delete(
        data_sync_outbox::table
            .filter(data_sync_outbox::ticket_guid.eq(guid))
            .filter(data_sync_outbox::set_aside_reason.is_null()),
    )
    .execute(conn)?)
}
