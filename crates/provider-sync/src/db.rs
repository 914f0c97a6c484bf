//! The sync provider's tables in the internal store (its own migrations, `migrations/`), and
//! every statement on them: typed rows in, typed rows out. Everything here runs inside a
//! store transaction the caller opened ([`provider_internal::InternalProvider::write`] or
//! `read`), so several steps commit together.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use provider_internal::{from_micros, kept_update, now_micros, DbConnection, StoreError};
use ticket_provider_api::{Due, Error, Priority, Status};

use crate::outbox::{Change, OutboxEntry};
use crate::snapshot::Agreed;

/// The tables (diesel's view).
#[allow(missing_docs)]
pub(crate) mod schema {
    diesel::table! {
        /// The ticket guid <-> Asana task gid map, with the last agreed values.
        def_asana_sync (ticket_guid) {
            ticket_guid -> Text,
            asana_gid -> Nullable<Text>,
            state -> Text,
            last_synced_at -> Nullable<BigInt>,
            remote_modified_at -> Nullable<BigInt>,
            creating_since -> Nullable<BigInt>,
            agreed_subject -> Nullable<Text>,
            agreed_description -> Nullable<Text>,
            agreed_status -> Nullable<Text>,
            agreed_priority -> Nullable<Text>,
            agreed_assignee -> Nullable<Text>,
            agreed_assignee_known -> Bool,
            pushed_at -> Nullable<BigInt>,
            agreed_due -> Nullable<Text>,
            agreed_due_known -> Bool,
        }
    }

    diesel::table! {
        data_sync_outbox (id) {
            id -> BigInt,
            ticket_guid -> Text,
            operation -> Text,
            payload -> Text,
            created_at -> BigInt,
            attempts -> Integer,
            last_error -> Nullable<Text>,
            set_aside_reason -> Nullable<Text>,
        }
    }

    diesel::table! {
        comment_sync (comment_guid) {
            comment_guid -> Text,
            asana_story_gid -> Text,
        }
    }

    diesel::table! {
        data_sync_comment_attempt (comment_guid) {
            comment_guid -> Text,
            attempted_at -> BigInt,
        }
    }

    diesel::table! {
        sync_kv (key) {
            key -> Text,
            value -> Text,
        }
    }

    diesel::table! {
        data_sync_claim (ticket_guid) {
            ticket_guid -> Text,
            owner -> Text,
            claim_until -> BigInt,
        }
    }
}

use schema::{
    comment_sync, data_sync_claim, data_sync_comment_attempt, data_sync_outbox, def_asana_sync,
    sync_kv,
};

/// Where a ticket's link to its Asana task stands (stored as text in `def_asana_sync.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    /// The task is being created: an attempt may have reached Asana (look it up by marker
    /// before creating it again).
    Creating,
    /// The task exists and `asana_gid` names it.
    Linked,
    /// The task `asana_gid` named is gone for us: Asana answered 404 or 403 for it (deleted,
    /// or no longer visible to the token), a single-task read found it outside the project,
    /// or a full read of the project did not list it. Nothing is pushed to it and no task is
    /// created in its place until `relink` (a new task) or `unlink` (local only) resolves it.
    Lost,
    /// The ticket was unlinked on purpose (`unlink`): it stays in the local store only, its
    /// changes are not queued for Asana, and the old task (`asana_gid`, if any) is ignored by
    /// pulls.
    LocalOnly,
}

impl LinkState {
    /// The stored text: `creating`, `linked`, `lost` or `local`.
    pub const fn as_str(self) -> &'static str {
        match self {
            LinkState::Creating => "creating",
            LinkState::Linked => "linked",
            LinkState::Lost => "lost",
            LinkState::LocalOnly => "local",
        }
    }

    /// The state a stored text names; an unknown text is a store error (written by a newer
    /// version, or corrupted), never a guess.
    pub(crate) fn parse(stored: &str) -> Result<Self, StoreError> {
        match stored {
            "creating" => Ok(LinkState::Creating),
            "linked" => Ok(LinkState::Linked),
            "lost" => Ok(LinkState::Lost),
            "local" => Ok(LinkState::LocalOnly),
            other => Err(corrupt(format!(
                "unknown link state {other:?} in def_asana_sync"
            ))),
        }
    }

    /// The task gid `gid` of a link in this state, when the ticket is linked to it.
    fn gid(self, gid: Option<&str>) -> Option<&str> {
        match self {
            LinkState::Linked => gid,
            LinkState::Creating | LinkState::Lost | LinkState::LocalOnly => None,
        }
    }
}

fn corrupt(message: String) -> StoreError {
    StoreError::Api(Error::internal(format!(
        "stored sync data is not valid: {message}"
    )))
}

/// Now, as the store keeps times (to the microsecond): a link built with it equals the
/// link read back.
pub(crate) fn stored_now() -> DateTime<Utc> {
    use chrono::SubsecRound;
    Utc::now().trunc_subsecs(6)
}

/// The link between a local ticket and its Asana task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The local ticket.
    pub ticket_guid: String,
    /// The Asana task gid, once known.
    pub asana_gid: Option<String>,
    /// Whether the task is being created, linked, lost or the ticket is local only.
    pub state: LinkState,
    /// When the ticket was last pushed or pulled.
    pub last_synced_at: Option<DateTime<Utc>>,
    /// The task's `modified_at` as last seen.
    pub remote_modified_at: Option<DateTime<Utc>>,
    /// While `state` is `creating`: when the create started.
    pub creating_since: Option<DateTime<Utc>>,
    /// The values both sides last agreed on.
    pub agreed: Agreed,
    /// When a push last wrote the task (under the ticket's claim).
    pub pushed_at: Option<DateTime<Utc>>,
}

impl Link {
    /// The task gid when linked.
    pub fn linked_gid(&self) -> Option<&str> {
        self.state.gid(self.asana_gid.as_deref())
    }
}

/// A link's state and task gid: all a local change needs to know of it (read by the sync
/// hook in every synced operation's transaction, so only these two columns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LinkBrief {
    pub(crate) state: LinkState,
    pub(crate) asana_gid: Option<String>,
}

impl LinkBrief {
    /// As [`Link::linked_gid`].
    pub(crate) fn linked_gid(&self) -> Option<&str> {
        self.state.gid(self.asana_gid.as_deref())
    }
}

/// The state and task gid of ticket `guid`'s link.
pub(crate) fn link_brief(
    conn: &mut DbConnection,
    guid: &str,
) -> Result<Option<LinkBrief>, StoreError> {
    def_asana_sync::table
        .find(guid)
        .select((def_asana_sync::state, def_asana_sync::asana_gid))
        .get_result::<(String, Option<String>)>(conn)
        .optional()?
        .map(|(state, asana_gid)| {
            Ok(LinkBrief {
                state: LinkState::parse(&state)?,
                asana_gid,
            })
        })
        .transpose()
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = def_asana_sync)]
struct LinkRow {
    ticket_guid: String,
    asana_gid: Option<String>,
    #[diesel(embed)]
    values: LinkValues,
}

/// A link's columns but its key and its gid: an `UPDATE` of these touches no index.
#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = def_asana_sync, treat_none_as_null = true)]
struct LinkValues {
    state: String,
    last_synced_at: Option<i64>,
    remote_modified_at: Option<i64>,
    creating_since: Option<i64>,
    agreed_subject: Option<String>,
    agreed_description: Option<String>,
    agreed_status: Option<String>,
    agreed_priority: Option<String>,
    agreed_assignee: Option<String>,
    agreed_assignee_known: bool,
    pushed_at: Option<i64>,
    agreed_due: Option<String>,
    agreed_due_known: bool,
}

fn micros(t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(|t| t.timestamp_micros())
}

fn time(us: Option<i64>) -> Result<Option<DateTime<Utc>>, StoreError> {
    us.map(from_micros).transpose()
}

impl LinkRow {
    fn into_link(self) -> Result<Link, StoreError> {
        let v = self.values;
        let status = v
            .agreed_status
            .map(|s| {
                s.parse::<Status>()
                    .map_err(|_| corrupt(format!("agreed status {s:?}")))
            })
            .transpose()?;
        let priority = v
            .agreed_priority
            .map(|s| {
                s.parse::<Priority>()
                    .map_err(|_| corrupt(format!("agreed priority {s:?}")))
            })
            .transpose()?;
        let due = v
            .agreed_due
            .map(|d| {
                d.parse::<Due>()
                    .map_err(|_| corrupt(format!("agreed due date {d:?}")))
            })
            .transpose()?;
        Ok(Link {
            state: LinkState::parse(&v.state)?,
            last_synced_at: time(v.last_synced_at)?,
            remote_modified_at: time(v.remote_modified_at)?,
            creating_since: time(v.creating_since)?,
            pushed_at: time(v.pushed_at)?,
            agreed: Agreed {
                subject: v.agreed_subject,
                description: v.agreed_description,
                status,
                priority,
                assignee: v.agreed_assignee_known.then_some(v.agreed_assignee),
                due: v.agreed_due_known.then_some(due),
            },
            ticket_guid: self.ticket_guid,
            asana_gid: self.asana_gid,
        })
    }

    fn of(link: &Link) -> Self {
        let a = &link.agreed;
        LinkRow {
            ticket_guid: link.ticket_guid.clone(),
            asana_gid: link.asana_gid.clone(),
            values: LinkValues {
                state: link.state.as_str().to_string(),
                last_synced_at: micros(link.last_synced_at),
                remote_modified_at: micros(link.remote_modified_at),
                creating_since: micros(link.creating_since),
                agreed_subject: a.subject.clone(),
                agreed_description: a.description.clone(),
                agreed_status: a.status.map(|s| s.as_str().to_string()),
                agreed_priority: a.priority.map(|p| p.as_str().to_string()),
                agreed_assignee: a.assignee.clone().flatten(),
                agreed_assignee_known: a.assignee.is_some(),
                pushed_at: micros(link.pushed_at),
                agreed_due: a.due.flatten().map(|d| d.to_string()),
                agreed_due_known: a.due.is_some(),
            },
        }
    }
}

/// The link of ticket `guid`.
pub(crate) fn link(conn: &mut DbConnection, guid: &str) -> Result<Option<Link>, StoreError> {
    def_asana_sync::table
        .find(guid)
        .select(LinkRow::as_select())
        .get_result(conn)
        .optional()?
        .map(LinkRow::into_link)
        .transpose()
}

/// The link of Asana task `gid`.
pub(crate) fn link_by_gid(conn: &mut DbConnection, gid: &str) -> Result<Option<Link>, StoreError> {
    def_asana_sync::table
        .filter(def_asana_sync::asana_gid.eq(gid))
        .select(LinkRow::as_select())
        .get_result(conn)
        .optional()?
        .map(LinkRow::into_link)
        .transpose()
}

/// The links of these tickets.
pub(crate) fn links_of(
    conn: &mut DbConnection,
    guids: &[String],
) -> Result<HashMap<String, Link>, StoreError> {
    let mut out = HashMap::new();
    for chunk in guids.chunks(500) {
        for row in def_asana_sync::table
            .filter(def_asana_sync::ticket_guid.eq_any(chunk))
            .select(LinkRow::as_select())
            .load(conn)?
        {
            let l = row.into_link()?;
            out.insert(l.ticket_guid.clone(), l);
        }
    }
    Ok(out)
}

/// Inserts or replaces a link. A gid already linked to another ticket is a Conflict.
pub(crate) fn put_link(conn: &mut DbConnection, link: &Link) -> Result<(), StoreError> {
    let row = LinkRow::of(link);
    let n = kept_update(
        def_asana_sync::table,
        def_asana_sync::ticket_guid.eq(&row.ticket_guid),
        (def_asana_sync::asana_gid.eq(&row.asana_gid), &row.values),
    )
    .execute(conn)?;
    if n == 0 {
        insert_link(conn, link)?;
    }
    Ok(())
}

/// Stores `link` over `before`, the link as stored: when the gid stays, only the other
/// columns are written (no index is touched); else as [`put_link`].
pub(crate) fn update_link(
    conn: &mut DbConnection,
    before: &Link,
    link: &Link,
) -> Result<(), StoreError> {
    if before.ticket_guid != link.ticket_guid || before.asana_gid != link.asana_gid {
        return put_link(conn, link);
    }
    let row = LinkRow::of(link);
    let n = kept_update(
        def_asana_sync::table,
        def_asana_sync::ticket_guid.eq(&row.ticket_guid),
        &row.values,
    )
    .execute(conn)?;
    if n == 0 {
        insert_link(conn, link)?;
    }
    Ok(())
}

/// Inserts the link of a ticket that has none. A gid already linked to another ticket is a
/// Conflict.
pub(crate) fn insert_link(conn: &mut DbConnection, link: &Link) -> Result<(), StoreError> {
    diesel::insert_into(def_asana_sync::table)
        .values(LinkRow::of(link))
        .execute(conn)?;
    Ok(())
}

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

/// Puts a set-aside entry back into the queue carrying `change`, with a note.
pub(crate) fn outbox_requeue(
    conn: &mut DbConnection,
    guid: &str,
    id: i64,
    change: &Change,
    note: &str,
) -> Result<(), StoreError> {
    kept_update(
        data_sync_outbox::table,
        data_sync_outbox::ticket_guid
            .eq(guid)
            .and(data_sync_outbox::id.eq(id)),
        (
            data_sync_outbox::set_aside_reason.eq(None::<String>),
            data_sync_outbox::payload.eq(change.payload()),
            data_sync_outbox::last_error.eq(note),
        ),
    )
    .execute(conn)?;
    Ok(())
}

/// The story a comment was posted as.
pub(crate) fn story_of(
    conn: &mut DbConnection,
    comment_guid: &str,
) -> Result<Option<String>, StoreError> {
    Ok(comment_sync::table
        .find(comment_guid)
        .select(comment_sync::asana_story_gid)
        .get_result(conn)
        .optional()?)
}

/// The comment a story was recorded for.
pub(crate) fn comment_of_story(
    conn: &mut DbConnection,
    story: &str,
) -> Result<Option<String>, StoreError> {
    Ok(comment_sync::table
        .filter(comment_sync::asana_story_gid.eq(story))
        .select(comment_sync::comment_guid)
        .get_result(conn)
        .optional()?)
}

/// Records that a comment was posted as `story` and forgets its post attempt.
pub(crate) fn put_comment_link(
    conn: &mut DbConnection,
    comment_guid: &str,
    story: &str,
) -> Result<(), StoreError> {
    // One statement: an insert that updates the row already there.
    let row = (
        comment_sync::comment_guid.eq(comment_guid),
        comment_sync::asana_story_gid.eq(story),
    );
    match conn {
        #[cfg(feature = "sqlite")]
        DbConnection::Sqlite(c) => diesel::insert_into(comment_sync::table)
            .values(row)
            .on_conflict(comment_sync::comment_guid)
            .do_update()
            .set(comment_sync::asana_story_gid.eq(story))
            .execute(c)?,
        #[cfg(feature = "postgres")]
        DbConnection::Postgres(c) => diesel::insert_into(comment_sync::table)
            .values(row)
            .on_conflict(comment_sync::comment_guid)
            .do_update()
            .set(comment_sync::asana_story_gid.eq(story))
            .execute(c)?,
    };
    diesel::delete(data_sync_comment_attempt::table.find(comment_guid)).execute(conn)?;
    Ok(())
}

/// When the first post of a comment was attempted, if it was and is not linked yet.
pub(crate) fn attempt_of(
    conn: &mut DbConnection,
    comment_guid: &str,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    time(
        data_sync_comment_attempt::table
            .find(comment_guid)
            .select(data_sync_comment_attempt::attempted_at)
            .get_result::<i64>(conn)
            .optional()?,
    )
}

/// Records a post attempt of a comment (the first one counts; see [`first_attempt`]).
pub(crate) fn record_attempt(
    conn: &mut DbConnection,
    comment_guid: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    if attempt_of(conn, comment_guid)?.is_none() {
        first_attempt(conn, comment_guid, at)?;
    }
    Ok(())
}

/// Records the first post attempt of a comment known to have none.
pub(crate) fn first_attempt(
    conn: &mut DbConnection,
    comment_guid: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    diesel::insert_into(data_sync_comment_attempt::table)
        .values((
            data_sync_comment_attempt::comment_guid.eq(comment_guid),
            data_sync_comment_attempt::attempted_at.eq(at.timestamp_micros()),
        ))
        .execute(conn)?;
    Ok(())
}

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

/// Every link in `state`, by ticket guid.
pub(crate) fn links_in_state(
    conn: &mut DbConnection,
    state: LinkState,
) -> Result<Vec<Link>, StoreError> {
    def_asana_sync::table
        .filter(def_asana_sync::state.eq(state.as_str()))
        .order(def_asana_sync::ticket_guid.asc())
        .select(LinkRow::as_select())
        .load(conn)?
        .into_iter()
        .map(LinkRow::into_link)
        .collect()
}

/// Every link, by ticket guid.
pub(crate) fn all_links(conn: &mut DbConnection) -> Result<Vec<Link>, StoreError> {
    def_asana_sync::table
        .order(def_asana_sync::ticket_guid.asc())
        .select(LinkRow::as_select())
        .load(conn)?
        .into_iter()
        .map(LinkRow::into_link)
        .collect()
}

/// How many links are in `state`.
pub(crate) fn count_links(conn: &mut DbConnection, state: LinkState) -> Result<u64, StoreError> {
    let n: i64 = def_asana_sync::table
        .filter(def_asana_sync::state.eq(state.as_str()))
        .count()
        .get_result(conn)?;
    Ok(u64::try_from(n).unwrap_or(0))
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

/// Forgets the story links (and post attempts) of these comments, so a push to a new task
/// posts them again.
pub(crate) fn forget_comment_links(
    conn: &mut DbConnection,
    comment_guids: &[String],
) -> Result<(), StoreError> {
    for chunk in comment_guids.chunks(500) {
        diesel::delete(comment_sync::table.filter(comment_sync::comment_guid.eq_any(chunk)))
            .execute(conn)?;
        diesel::delete(
            data_sync_comment_attempt::table
                .filter(data_sync_comment_attempt::comment_guid.eq_any(chunk)),
        )
        .execute(conn)?;
    }
    Ok(())
}

/// Deletes ticket `guid`'s link.
pub(crate) fn delete_link(conn: &mut DbConnection, guid: &str) -> Result<(), StoreError> {
    diesel::delete(def_asana_sync::table.find(guid)).execute(conn)?;
    Ok(())
}
