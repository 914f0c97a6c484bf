//! What the dual-write `sync` provider needs from the internal store: the outbox of changes
//! still to push, the ticket guid <-> Asana gid map, the comment guid <-> story gid map, a
//! small key/value store, and [`InternalProvider::import_remote`] to pull remote changes in.
//!
//! The outbox is written by the ticket operations themselves when
//! [`StoreOptions::record_outbox`](crate::StoreOptions::record_outbox) is on, in the same
//! transaction as the change, so a change and its outbox entry exist together or not at all.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use ticket_provider_api::model::{
    check_line, check_text, MAX_ASSIGNEE_CHARS, MAX_COMMENT_CHARS, MAX_DESCRIPTION_CHARS,
    MAX_SUBJECT_CHARS,
};
use ticket_provider_api::{Error, NewComment, Operation, Priority, Result, Status};

use crate::error::StoreError;
use crate::provider::InternalProvider;
use crate::store::schema::{
    comment_sync, data_sync_claim, data_sync_outbox, data_ticket, data_ticket_comment,
    def_asana_sync, sync_kv,
};
use crate::store::{
    self, from_micros, insert_history, new_guid, now_micros, write_transaction, CommentRow,
    NewHistoryRow, TicketChanges, TicketRow,
};

/// One change waiting to be pushed to the remote side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxEntry {
    /// Increasing id: push in this order.
    pub id: i64,
    /// The ticket changed.
    pub ticket_guid: String,
    /// The operation: `create`, `update`, `change_status`, `assign`, `add_comment`, `close`,
    /// `resolve` or `escalate`.
    pub operation: String,
    /// What changed, e.g. `{"status":"CLOSED"}`; for `escalate` with a reason also
    /// `"comment": {"comment_guid", "body", "author"}`.
    pub payload: serde_json::Value,
    /// When the change was made.
    pub created_at: DateTime<Utc>,
    /// Failed push attempts so far.
    pub attempts: u32,
    /// The last push error.
    pub last_error: Option<String>,
    /// Why the entry was set aside (no longer retried), if it was.
    pub set_aside_reason: Option<String>,
}

/// What [`InternalProvider::sync_summary`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncSummary {
    /// The links of the tickets that have one, by ticket guid.
    pub links: std::collections::HashMap<String, SyncLink>,
    /// The tickets that have outbox entries waiting to be pushed.
    pub with_pending: std::collections::HashSet<String>,
    /// The tickets that have set-aside outbox entries.
    pub with_set_aside: std::collections::HashSet<String>,
}

/// The link between a local ticket and its remote (Asana) task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncLink {
    /// The local ticket.
    pub ticket_guid: String,
    /// The Asana task gid, once known.
    pub asana_gid: Option<String>,
    /// Whether the task is being created or linked.
    pub state: LinkState,
    /// When the ticket was last pushed or pulled.
    pub last_synced_at: Option<DateTime<Utc>>,
    /// The remote task's `modified_at` as last seen.
    pub remote_modified_at: Option<DateTime<Utc>>,
    /// While `state` is `creating`: when the create started (the earliest time the remote
    /// task can have been created). `None` otherwise, and for links written before this field
    /// existed.
    pub creating_since: Option<DateTime<Utc>>,
}

/// A remote task to import with [`InternalProvider::import_remote`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteTicket {
    /// The remote task's gid.
    pub asana_gid: String,
    /// The local guid when the remote side knows it; otherwise the ticket is found through
    /// its [`SyncLink`], or created with this guid (or a new one).
    pub guid: Option<String>,
    /// Subject.
    pub subject: String,
    /// Description.
    pub description: String,
    /// Status.
    pub status: Status,
    /// Priority.
    pub priority: Priority,
    /// Assignee.
    pub assignee: Option<String>,
    /// When the remote task was created (used for new local tickets; default now).
    pub created_at: Option<DateTime<Utc>>,
    /// The remote task's modification time, kept in the link.
    pub modified_at: Option<DateTime<Utc>>,
    /// Its comments; those already imported (by story gid) are skipped.
    pub comments: Vec<RemoteComment>,
}

/// A remote comment (Asana story).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteComment {
    /// The story gid.
    pub story_gid: String,
    /// The text.
    pub body: String,
    /// Who wrote it.
    pub author: Option<String>,
    /// When (default now).
    pub created_at: Option<DateTime<Utc>>,
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
    fn into_entry(self) -> std::result::Result<OutboxEntry, StoreError> {
        Ok(OutboxEntry {
            payload: serde_json::from_str(&self.payload).map_err(|e| {
                StoreError::Corrupt(format!("outbox entry {} payload: {e}", self.id))
            })?,
            created_at: from_micros(self.created_at)?,
            id: self.id,
            ticket_guid: self.ticket_guid,
            operation: self.operation,
            attempts: u32::try_from(self.attempts).unwrap_or(0),
            last_error: self.last_error,
            set_aside_reason: self.set_aside_reason,
        })
    }
}

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = def_asana_sync, treat_none_as_null = true)]
struct LinkRow {
    ticket_guid: String,
    asana_gid: Option<String>,
    state: String,
    last_synced_at: Option<i64>,
    remote_modified_at: Option<i64>,
    creating_since: Option<i64>,
}

/// Where a ticket's link to its Asana task stands (stored as text in `def_asana_sync.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    /// The task is being created: an attempt may have reached Asana (look it up by marker
    /// before creating it again).
    Creating,
    /// The task exists and `asana_gid` names it.
    Linked,
}

impl LinkState {
    /// The stored text: `creating` or `linked`.
    pub const fn as_str(self) -> &'static str {
        match self {
            LinkState::Creating => "creating",
            LinkState::Linked => "linked",
        }
    }

    /// The state a stored text names; an unknown text is a store error (written by a newer
    /// version, or corrupted), never a guess.
    pub(crate) fn parse(stored: &str) -> std::result::Result<Self, StoreError> {
        match stored {
            "creating" => Ok(LinkState::Creating),
            "linked" => Ok(LinkState::Linked),
            other => Err(StoreError::Api(Error::internal(format!(
                "unknown link state {other:?} in def_asana_sync"
            )))),
        }
    }
}

impl LinkRow {
    fn into_link(self) -> std::result::Result<SyncLink, StoreError> {
        Ok(SyncLink {
            state: LinkState::parse(&self.state)?,
            last_synced_at: self.last_synced_at.map(from_micros).transpose()?,
            remote_modified_at: self.remote_modified_at.map(from_micros).transpose()?,
            creating_since: self.creating_since.map(from_micros).transpose()?,
            ticket_guid: self.ticket_guid,
            asana_gid: self.asana_gid,
        })
    }

    fn from_link(link: &SyncLink) -> Self {
        LinkRow {
            ticket_guid: link.ticket_guid.clone(),
            asana_gid: link.asana_gid.clone(),
            state: link.state.as_str().to_string(),
            last_synced_at: link.last_synced_at.map(|t| t.timestamp_micros()),
            remote_modified_at: link.remote_modified_at.map(|t| t.timestamp_micros()),
            creating_since: link.creating_since.map(|t| t.timestamp_micros()),
        }
    }
}

fn load_entries(
    conn: &mut store::DbConnection,
    rows: Vec<OutboxRow>,
) -> std::result::Result<Vec<OutboxEntry>, StoreError> {
    let _ = conn;
    rows.into_iter().map(OutboxRow::into_entry).collect()
}

fn put_link(conn: &mut store::DbConnection, row: &LinkRow) -> QueryResult<()> {
    let n = diesel::update(def_asana_sync::table.find(&row.ticket_guid))
        .set(row)
        .execute(conn)?;
    if n == 0 {
        diesel::insert_into(def_asana_sync::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(())
}

/// What [`InternalProvider::add_sync_note`] writes on a ticket, all in one transaction:
/// something the sync provider did that is not a field change (e.g. a value it had to set
/// aside in a conflict).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncNote {
    /// The comment, pushed like any other.
    pub comment: NewComment,
    /// The history row's old value.
    pub history_before: String,
    /// The history row's new value.
    pub history_after: String,
    /// A key/value entry (see [`InternalProvider::kv_put`]) stored with it, if any.
    pub kv: Option<(String, String)>,
}

fn kv_put_in_tx(conn: &mut store::DbConnection, k: &str, v: &str) -> QueryResult<()> {
    let n = diesel::update(sync_kv::table.find(k))
        .set(sync_kv::value.eq(v))
        .execute(conn)?;
    if n == 0 {
        diesel::insert_into(sync_kv::table)
            .values((sync_kv::key.eq(k), sync_kv::value.eq(v)))
            .execute(conn)?;
    }
    Ok(())
}

/// The key/value entry of a comment's post attempt.
fn comment_attempt_key(comment_guid: &str) -> String {
    format!("sync.comment_attempt.{comment_guid}")
}

fn check_gid(field: &str, gid: &str) -> Result<()> {
    check_line(field, gid, 64)
}

impl InternalProvider {
    /// Outbox entries not set aside, oldest first, at most `limit`.
    pub async fn outbox_pending(&self, limit: usize) -> Result<Vec<OutboxEntry>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run(Operation::Other("outbox_pending"), None, move |conn| {
            let rows = data_sync_outbox::table
                .filter(data_sync_outbox::set_aside_reason.is_null())
                .order(data_sync_outbox::id.asc())
                .limit(limit)
                .select(OutboxRow::as_select())
                .load(conn)?;
            load_entries(conn, rows)
        })
        .await
    }

    /// Every outbox entry of one ticket (set aside or not), oldest first.
    pub async fn outbox_for_ticket(&self, guid: &str) -> Result<Vec<OutboxEntry>> {
        let op = Operation::Other("outbox_for_ticket");
        let guid = self.guid_arg(op, guid)?;
        self.run(op, Some(&guid), {
            let guid = guid.clone();
            move |conn| {
                let rows = data_sync_outbox::table
                    .filter(data_sync_outbox::ticket_guid.eq(&guid))
                    .order(data_sync_outbox::id.asc())
                    .select(OutboxRow::as_select())
                    .load(conn)?;
                load_entries(conn, rows)
            }
        })
        .await
    }

    /// Queues a push of ticket `guid`'s `status` (a `change_status` entry) without changing
    /// the ticket or its history: for when the remote side shows the status inconsistently
    /// and must be told it again. NotFound for an unknown ticket.
    pub async fn outbox_queue_status(&self, guid: &str, status: Status) -> Result<()> {
        let op = Operation::Other("outbox_queue_status");
        let guid = self.guid_arg(op, guid)?;
        self.run(op, Some(&guid), {
            let guid = guid.clone();
            move |conn| {
                write_transaction(conn, |conn| {
                    if !store::ticket_exists(conn, &guid)? {
                        return Err(StoreError::Api(Error::ticket_not_found(&guid)));
                    }
                    store::record_outbox(
                        conn,
                        true,
                        &guid,
                        "change_status",
                        serde_json::json!({ "status": status.as_str() }),
                        now_micros(),
                    )?;
                    Ok(())
                })
            }
        })
        .await
    }

    /// Removes a pushed entry (no error when it is already gone).
    pub async fn outbox_complete(&self, id: i64) -> Result<()> {
        self.run(Operation::Other("outbox_complete"), None, move |conn| {
            write_transaction(conn, |conn| {
                diesel::delete(data_sync_outbox::table.find(id)).execute(conn)
            })?;
            Ok(())
        })
        .await
    }

    /// Records a failed push: `attempts + 1` and the error text.
    pub async fn outbox_record_failure(&self, id: i64, error: &str) -> Result<()> {
        let error = error.to_string();
        self.run(
            Operation::Other("outbox_record_failure"),
            None,
            move |conn| {
                write_transaction(conn, |conn| {
                    diesel::update(data_sync_outbox::table.find(id))
                        .set((
                            data_sync_outbox::attempts.eq(data_sync_outbox::attempts + 1),
                            data_sync_outbox::last_error.eq(&error),
                        ))
                        .execute(conn)
                })?;
                Ok(())
            },
        )
        .await
    }

    /// Sets an entry aside: kept for inspection, no longer returned by
    /// [`InternalProvider::outbox_pending`].
    pub async fn outbox_set_aside(&self, id: i64, reason: &str) -> Result<()> {
        let reason = reason.to_string();
        self.run(Operation::Other("outbox_set_aside"), None, move |conn| {
            write_transaction(conn, |conn| {
                diesel::update(data_sync_outbox::table.find(id))
                    .set(data_sync_outbox::set_aside_reason.eq(&reason))
                    .execute(conn)
            })?;
            Ok(())
        })
        .await
    }

    /// `(pending, set_aside)` entry counts.
    pub async fn outbox_counts(&self) -> Result<(u64, u64)> {
        self.run(Operation::Other("outbox_counts"), None, |conn| {
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
        })
        .await
    }

    /// Every set-aside entry, oldest first.
    pub async fn outbox_set_aside_list(&self) -> Result<Vec<OutboxEntry>> {
        self.run(Operation::Other("outbox_set_aside_list"), None, |conn| {
            let rows = data_sync_outbox::table
                .filter(data_sync_outbox::set_aside_reason.is_not_null())
                .order(data_sync_outbox::id.asc())
                .select(OutboxRow::as_select())
                .load(conn)?;
            load_entries(conn, rows)
        })
        .await
    }

    /// The link of a local ticket, if any.
    pub async fn sync_link_get(&self, guid: &str) -> Result<Option<SyncLink>> {
        let op = Operation::Other("sync_link_get");
        let guid = self.guid_arg(op, guid)?;
        self.run(op, Some(&guid), {
            let guid = guid.clone();
            move |conn| {
                def_asana_sync::table
                    .find(&guid)
                    .select(LinkRow::as_select())
                    .first(conn)
                    .optional()?
                    .map(LinkRow::into_link)
                    .transpose()
            }
        })
        .await
    }

    /// For many tickets at once (two queries, whatever their number): the links among them,
    /// and which of them have outbox entries waiting and which set aside. For decorating a
    /// list without a query per ticket.
    pub async fn sync_summary(&self, guids: &[String]) -> Result<SyncSummary> {
        let op = Operation::Other("sync_summary");
        let guids: Vec<String> = guids
            .iter()
            .map(|g| self.guid_arg(op, g))
            .collect::<Result<_>>()?;
        self.run(op, None, move |conn| {
            let links = def_asana_sync::table
                .filter(def_asana_sync::ticket_guid.eq_any(&guids))
                .select(LinkRow::as_select())
                .load(conn)?
                .into_iter()
                .map(|r| r.into_link().map(|l| (l.ticket_guid.clone(), l)))
                .collect::<std::result::Result<_, _>>()?;
            let mut summary = SyncSummary {
                links,
                ..SyncSummary::default()
            };
            let rows = data_sync_outbox::table
                .filter(data_sync_outbox::ticket_guid.eq_any(&guids))
                .select((
                    data_sync_outbox::ticket_guid,
                    data_sync_outbox::set_aside_reason.is_not_null(),
                ))
                .distinct()
                .load::<(String, bool)>(conn)?;
            for (guid, aside) in rows {
                if aside {
                    summary.with_set_aside.insert(guid);
                } else {
                    summary.with_pending.insert(guid);
                }
            }
            Ok(summary)
        })
        .await
    }

    /// The link of a remote task, if any.
    pub async fn sync_link_by_gid(&self, gid: &str) -> Result<Option<SyncLink>> {
        let gid = gid.to_string();
        self.run(Operation::Other("sync_link_by_gid"), None, move |conn| {
            def_asana_sync::table
                .filter(def_asana_sync::asana_gid.eq(&gid))
                .select(LinkRow::as_select())
                .first(conn)
                .optional()?
                .map(LinkRow::into_link)
                .transpose()
        })
        .await
    }

    /// Inserts or replaces the link of `link.ticket_guid` (which must exist: NotFound
    /// otherwise; a gid already linked to another ticket is a Conflict).
    pub async fn sync_link_put(&self, link: SyncLink) -> Result<()> {
        let op = Operation::Other("sync_link_put");
        let guid = self.guid_arg(op, &link.ticket_guid)?;
        if let Some(g) = &link.asana_gid {
            check_gid("asana_gid", g)?;
        }
        let mut row = LinkRow::from_link(&link);
        row.ticket_guid = guid.clone();
        self.run(op, Some(&guid), move |conn| {
            write_transaction(conn, |conn| {
                if !store::ticket_exists(conn, &row.ticket_guid)? {
                    return Err(StoreError::Api(Error::ticket_not_found(&row.ticket_guid)));
                }
                put_link(conn, &row)?;
                Ok(())
            })
        })
        .await
    }

    /// The Asana story gid a comment was posted as, if any.
    pub async fn comment_link_get(&self, comment_guid: &str) -> Result<Option<String>> {
        let c = comment_guid.to_string();
        self.run(Operation::Other("comment_link_get"), None, move |conn| {
            Ok(comment_sync::table
                .find(&c)
                .select(comment_sync::asana_story_gid)
                .first::<String>(conn)
                .optional()?)
        })
        .await
    }

    /// The comment a story gid was recorded for (by a push or a pull), if any.
    pub async fn comment_link_by_story(&self, story_gid: &str) -> Result<Option<String>> {
        let s = story_gid.to_string();
        self.run(
            Operation::Other("comment_link_by_story"),
            None,
            move |conn| {
                Ok(comment_sync::table
                    .filter(comment_sync::asana_story_gid.eq(&s))
                    .select(comment_sync::comment_guid)
                    .first::<String>(conn)
                    .optional()?)
            },
        )
        .await
    }

    /// Records that a comment was posted as story `story_gid` (replacing any earlier record),
    /// and forgets its post attempt (see [`InternalProvider::comment_attempt_put`]).
    pub async fn comment_link_put(&self, comment_guid: &str, story_gid: &str) -> Result<()> {
        let (c, s) = (comment_guid.to_string(), story_gid.to_string());
        self.run(Operation::Other("comment_link_put"), None, move |conn| {
            write_transaction(conn, |conn| {
                let n = diesel::update(comment_sync::table.find(&c))
                    .set(comment_sync::asana_story_gid.eq(&s))
                    .execute(conn)?;
                if n == 0 {
                    diesel::insert_into(comment_sync::table)
                        .values((
                            comment_sync::comment_guid.eq(&c),
                            comment_sync::asana_story_gid.eq(&s),
                        ))
                        .execute(conn)?;
                }
                diesel::delete(sync_kv::table.find(comment_attempt_key(&c))).execute(conn)?;
                Ok::<_, StoreError>(())
            })
        })
        .await
    }

    /// Records that comment `comment_guid` is about to be posted, at `at` (before the
    /// request: if its answer is lost, the story can only have been created after this).
    /// An earlier attempt's time is kept (it may have reached Asana). Kept until [`InternalProvider::comment_link_put`] records the story.
    pub async fn comment_attempt_put(&self, comment_guid: &str, at: DateTime<Utc>) -> Result<()> {
        let (k, v) = (
            comment_attempt_key(comment_guid),
            at.timestamp_micros().to_string(),
        );
        self.run(Operation::Other("comment_attempt_put"), None, move |conn| {
            write_transaction(conn, |conn| {
                // The first attempt counts: an earlier post may have reached Asana.
                let known = sync_kv::table
                    .find(&k)
                    .select(sync_kv::key)
                    .first::<String>(conn)
                    .optional()?;
                if known.is_none() {
                    diesel::insert_into(sync_kv::table)
                        .values((sync_kv::key.eq(&k), sync_kv::value.eq(&v)))
                        .execute(conn)?;
                }
                Ok::<_, StoreError>(())
            })
        })
        .await
    }

    /// When the first unanswered post of comment `comment_guid` started, if one did (see
    /// [`InternalProvider::comment_attempt_put`]).
    pub async fn comment_attempt_get(&self, comment_guid: &str) -> Result<Option<DateTime<Utc>>> {
        let k = comment_attempt_key(comment_guid);
        self.run(Operation::Other("comment_attempt_get"), None, move |conn| {
            let v = sync_kv::table
                .find(&k)
                .select(sync_kv::value)
                .first::<String>(conn)
                .optional()?;
            match v {
                None => Ok(None),
                Some(v) => {
                    let us: i64 = v.parse().map_err(|_| {
                        StoreError::Corrupt(format!("comment attempt time {v:?} of {k}"))
                    })?;
                    Ok(Some(from_micros(us)?))
                }
            }
        })
        .await
    }

    /// A stored value, if any.
    pub async fn kv_get(&self, key: &str) -> Result<Option<String>> {
        let key = key.to_string();
        self.run(Operation::Other("kv_get"), None, move |conn| {
            Ok(sync_kv::table
                .find(&key)
                .select(sync_kv::value)
                .first::<String>(conn)
                .optional()?)
        })
        .await
    }

    /// Stores a value under `key`, replacing any earlier one.
    pub async fn kv_put(&self, key: &str, value: &str) -> Result<()> {
        let (k, v) = (key.to_string(), value.to_string());
        self.run(Operation::Other("kv_put"), None, move |conn| {
            write_transaction(conn, |conn| {
                kv_put_in_tx(conn, &k, &v).map_err(StoreError::from)
            })
        })
        .await
    }

    /// Writes `note` on ticket `guid` in one transaction: its comment (with an outbox entry
    /// when the outbox is on, like [`TicketProvider::add_comment`]), a history row of field
    /// `sync`, and its key/value entry, so that all or none of them exist. Returns the
    /// comment's guid. NotFound for an unknown ticket; InvalidInput for a comment
    /// [`NewComment::validate`] refuses.
    ///
    /// [`TicketProvider::add_comment`]: ticket_provider_api::TicketProvider::add_comment
    pub async fn add_sync_note(&self, guid: &str, note: SyncNote) -> Result<String> {
        let op = Operation::Other("add_sync_note");
        let guid = self.guid_arg(op, guid)?;
        note.comment.validate()?;
        let outbox = self.records_outbox();
        self.run(op, Some(&guid), {
            let guid = guid.clone();
            move |conn| {
                write_transaction(conn, |conn| {
                    let (_, comment_guid) =
                        store::add_comment_in_tx(conn, &guid, &note.comment, outbox)?;
                    insert_history(
                        conn,
                        &NewHistoryRow {
                            ticket_guid: &guid,
                            field: "sync",
                            old_value: Some(&note.history_before),
                            new_value: Some(&note.history_after),
                            changed_at: now_micros(),
                        },
                    )?;
                    if let Some((k, v)) = &note.kv {
                        kv_put_in_tx(conn, k, v)?;
                    }
                    Ok::<_, StoreError>(comment_guid)
                })
            }
        })
        .await
    }

    /// Creates or updates a ticket (and its comments) from remote data, without outbox rows,
    /// recording a history row per changed field; links it to `remote.asana_gid`. Returns the
    /// local guid.
    pub async fn import_remote(&self, remote: RemoteTicket) -> Result<String> {
        let op = Operation::Other("import_remote");
        check_gid("asana_gid", &remote.asana_gid)?;
        check_line("subject", &remote.subject, MAX_SUBJECT_CHARS)?;
        check_text("description", &remote.description, MAX_DESCRIPTION_CHARS)?;
        if let Some(a) = &remote.assignee {
            check_line("assignee", a, MAX_ASSIGNEE_CHARS)?;
        }
        for c in &remote.comments {
            check_gid("story_gid", &c.story_gid)?;
            check_text("comment", &c.body, MAX_COMMENT_CHARS)?;
        }
        let given = match &remote.guid {
            Some(g) => Some(self.guid_arg(op, g)?),
            None => None,
        };
        let span_guid = given.clone();
        self.run(op, span_guid.as_deref(), move |conn| {
            write_transaction(conn, |conn| import_in_tx(conn, &remote, given.as_deref()))
        })
        .await
    }
}

/// The longest claim owner id [`InternalProvider::sync_claim`] accepts.
pub const MAX_CLAIM_OWNER_CHARS: usize = 200;

/// Fields of an outbox payload that carry a ticket value (refreshed on a retry).
const PAYLOAD_FIELDS: [&str; 5] = ["subject", "description", "priority", "status", "assignee"];

/// What to do with a set-aside outbox entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AsideAction {
    Retry,
    Discard,
}

impl AsideAction {
    fn verb(self) -> &'static str {
        match self {
            AsideAction::Retry => "retried",
            AsideAction::Discard => "discarded",
        }
    }
}

/// Retries or discards set-aside entry `id` inside a write transaction; the entry as it is
/// afterwards (retry) or as it was (discard).
fn set_aside_action_in_tx(
    conn: &mut store::DbConnection,
    id: i64,
    action: AsideAction,
) -> std::result::Result<OutboxEntry, StoreError> {
    let row = data_sync_outbox::table
        .find(id)
        .select(OutboxRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| {
            Error::new(
                ticket_provider_api::ErrorKind::NotFound,
                format!("no outbox entry with id {id}; `ticket sync status` lists the set-aside entries"),
            )
        })?;
    let Some(reason) = row.set_aside_reason.clone() else {
        return Err(Error::invalid_input(format!(
            "outbox entry {id} is not set aside (it is still pending); only set-aside entries can be {}",
            action.verb()
        ))
        .into());
    };
    let mut entry = row.into_entry()?;
    let now = now_micros();
    let ticket = data_ticket::table
        .find(&entry.ticket_guid)
        .select(TicketRow::as_select())
        .first::<TicketRow>(conn)
        .optional()?;
    match action {
        AsideAction::Retry => {
            // The entry goes back into the queue at its old place, but later changes of the
            // same fields may have been pushed meanwhile: it carries the ticket's current
            // values, so that pushing it cannot bring back an older value.
            if let (Some(t), Some(obj)) = (&ticket, entry.payload.as_object_mut()) {
                for field in PAYLOAD_FIELDS {
                    if obj.contains_key(field) {
                        let v = match field {
                            "subject" => serde_json::json!(t.subject),
                            "description" => serde_json::json!(t.description),
                            "priority" => serde_json::json!(t.priority),
                            "status" => serde_json::json!(t.status),
                            _ => serde_json::json!(t.assignee),
                        };
                        obj.insert(field.to_string(), v);
                    }
                }
                obj.insert("retried".to_string(), serde_json::Value::Bool(true));
            }
            let note = format!("retried by hand after being set aside: {reason}");
            diesel::update(data_sync_outbox::table.find(id))
                .set((
                    data_sync_outbox::set_aside_reason.eq(None::<String>),
                    data_sync_outbox::payload.eq(entry.payload.to_string()),
                    data_sync_outbox::last_error.eq(&note),
                ))
                .execute(conn)?;
            entry.set_aside_reason = None;
            entry.last_error = Some(note);
        }
        AsideAction::Discard => {
            diesel::delete(data_sync_outbox::table.find(id)).execute(conn)?;
        }
    }
    if ticket.is_some() {
        insert_history(
            conn,
            &NewHistoryRow {
                ticket_guid: &entry.ticket_guid,
                field: "sync",
                old_value: Some(&format!("set aside: {reason}")),
                new_value: Some(&format!(
                    "{} {} (outbox entry {id})",
                    action.verb(),
                    entry.operation
                )),
                changed_at: now,
            },
        )?;
    }
    tracing::info!(
        entry = id,
        guid = %entry.ticket_guid,
        operation = %entry.operation,
        reason = %reason,
        "set-aside outbox entry {}",
        action.verb()
    );
    Ok(entry)
}

impl InternalProvider {
    /// Puts set-aside outbox entry `id` back into the queue (at its old place), so that it
    /// is pushed again. Its payload is refreshed with the ticket's current values of the
    /// fields it carries (later changes of those fields may have been pushed while it was set
    /// aside) and marked `"retried": true`; its attempt count is kept (a comment that may have
    /// been posted is looked up before it is posted again). Records a history row (field
    /// `sync`) on the ticket and a `tracing` record. Returns the entry as it is now.
    ///
    /// NotFound for an unknown id, InvalidInput for an entry that is not set aside.
    pub async fn outbox_retry(&self, id: i64) -> Result<OutboxEntry> {
        self.run(Operation::Other("outbox_retry"), None, move |conn| {
            write_transaction(conn, |conn| {
                set_aside_action_in_tx(conn, id, AsideAction::Retry)
            })
        })
        .await
    }

    /// Removes set-aside outbox entry `id` for good (its change stays local only). Records a
    /// history row (field `sync`) on the ticket and a `tracing` record. Returns the entry as
    /// it was.
    ///
    /// NotFound for an unknown id, InvalidInput for an entry that is not set aside.
    pub async fn outbox_discard(&self, id: i64) -> Result<OutboxEntry> {
        self.run(Operation::Other("outbox_discard"), None, move |conn| {
            write_transaction(conn, |conn| {
                set_aside_action_in_tx(conn, id, AsideAction::Discard)
            })
        })
        .await
    }

    /// Takes the push claim (lease) of ticket `guid` for `owner` until `ttl` from now: `true`
    /// when the claim was free, expired or already `owner`'s (then it is extended), `false`
    /// when someone else holds it. Atomic on both backends (one conditional `UPDATE`, else an
    /// `INSERT` that loses cleanly to a concurrent one), so several processes sharing the
    /// database never hold one ticket's claim at once. Expiry uses this machine's clock:
    /// keep `ttl` well above the clock difference between the machines sharing the database.
    ///
    /// InvalidInput for a malformed guid or an empty (or longer than
    /// [`MAX_CLAIM_OWNER_CHARS`]) owner. The ticket need not exist.
    pub async fn sync_claim(
        &self,
        guid: &str,
        owner: &str,
        ttl: std::time::Duration,
    ) -> Result<bool> {
        let op = Operation::Other("sync_claim");
        let guid = self.guid_arg(op, guid)?;
        check_line("owner", owner, MAX_CLAIM_OWNER_CHARS)?;
        let owner = owner.to_string();
        let ttl_us = i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX);
        self.run(op, Some(&guid), {
            let guid = guid.clone();
            move |conn| {
                let taken =
                    write_transaction(conn, |conn| claim_in_tx(conn, &guid, &owner, ttl_us));
                match taken {
                    // A concurrent INSERT of the same claim won (PostgreSQL).
                    Err(StoreError::Query(diesel::result::Error::DatabaseError(
                        diesel::result::DatabaseErrorKind::UniqueViolation,
                        _,
                    ))) => Ok(false),
                    other => other,
                }
            }
        })
        .await
    }

    /// Releases the push claim of ticket `guid` if `owner` holds it; `true` when it did.
    pub async fn sync_release(&self, guid: &str, owner: &str) -> Result<bool> {
        let op = Operation::Other("sync_release");
        let guid = self.guid_arg(op, guid)?;
        let owner = owner.to_string();
        self.run(op, Some(&guid), {
            let guid = guid.clone();
            move |conn| {
                let n = write_transaction(conn, |conn| {
                    diesel::delete(
                        data_sync_claim::table
                            .find(&guid)
                            .filter(data_sync_claim::owner.eq(&owner)),
                    )
                    .execute(conn)
                })?;
                Ok(n > 0)
            }
        })
        .await
    }

    /// Releases every push claim `owner` holds (an instance shutting down); how many it held.
    pub async fn sync_release_all(&self, owner: &str) -> Result<usize> {
        let op = Operation::Other("sync_release_all");
        let owner = owner.to_string();
        self.run(op, None, move |conn| {
            let n = write_transaction(conn, |conn| {
                diesel::delete(data_sync_claim::table.filter(data_sync_claim::owner.eq(&owner)))
                    .execute(conn)
            })?;
            Ok(n)
        })
        .await
    }

    /// The current holder of ticket `guid`'s push claim and until when, if it is held (an
    /// expired claim is reported as not held).
    pub async fn sync_claim_holder(&self, guid: &str) -> Result<Option<(String, DateTime<Utc>)>> {
        let op = Operation::Other("sync_claim_holder");
        let guid = self.guid_arg(op, guid)?;
        self.run(op, Some(&guid), {
            let guid = guid.clone();
            move |conn| {
                let row = data_sync_claim::table
                    .find(&guid)
                    .filter(data_sync_claim::claim_until.gt(now_micros()))
                    .select((data_sync_claim::owner, data_sync_claim::claim_until))
                    .first::<(String, i64)>(conn)
                    .optional()?;
                row.map(|(o, u)| Ok((o, from_micros(u)?))).transpose()
            }
        })
        .await
    }
}

/// One attempt at taking a claim, inside a write transaction.
fn claim_in_tx(
    conn: &mut store::DbConnection,
    guid: &str,
    owner: &str,
    ttl_us: i64,
) -> std::result::Result<bool, StoreError> {
    let now = now_micros();
    let until = now.saturating_add(ttl_us);
    // Free (expired) or ours: take or extend it. On PostgreSQL a concurrent taker waits for
    // the row lock and then re-checks this condition against the committed row.
    let n = diesel::update(
        data_sync_claim::table.find(guid).filter(
            data_sync_claim::owner
                .eq(owner)
                .or(data_sync_claim::claim_until.le(now)),
        ),
    )
    .set((
        data_sync_claim::owner.eq(owner),
        data_sync_claim::claim_until.eq(until),
    ))
    .execute(conn)?;
    if n > 0 {
        return Ok(true);
    }
    let held = data_sync_claim::table
        .find(guid)
        .select(data_sync_claim::owner)
        .first::<String>(conn)
        .optional()?;
    if held.is_some() {
        return Ok(false);
    }
    diesel::insert_into(data_sync_claim::table)
        .values((
            data_sync_claim::ticket_guid.eq(guid),
            data_sync_claim::owner.eq(owner),
            data_sync_claim::claim_until.eq(until),
        ))
        .execute(conn)?;
    Ok(true)
}

fn import_in_tx(
    conn: &mut store::DbConnection,
    remote: &RemoteTicket,
    given: Option<&str>,
) -> std::result::Result<String, StoreError> {
    let now = now_micros();
    let mut local: Option<String> = None;
    if let Some(g) = given {
        if store::ticket_exists(conn, g)? {
            local = Some(g.to_string());
        }
    }
    if local.is_none() {
        local = def_asana_sync::table
            .filter(def_asana_sync::asana_gid.eq(&remote.asana_gid))
            .select(def_asana_sync::ticket_guid)
            .first::<String>(conn)
            .optional()?;
    }
    let guid = match local {
        Some(guid) => {
            let row = store::lock_ticket(conn, &guid)?;
            let mut changes = TicketChanges::default();
            let mut history: Vec<(&str, Option<String>, Option<String>)> = Vec::new();
            if row.subject != remote.subject {
                history.push((
                    "subject",
                    Some(row.subject.clone()),
                    Some(remote.subject.clone()),
                ));
                changes.subject = Some(remote.subject.clone());
            }
            if row.description != remote.description {
                history.push((
                    "description",
                    Some(row.description.clone()),
                    Some(remote.description.clone()),
                ));
                changes.description = Some(remote.description.clone());
            }
            if row.status != remote.status.as_str() {
                history.push((
                    "status",
                    Some(row.status.clone()),
                    Some(remote.status.as_str().into()),
                ));
                changes.status = Some(remote.status.as_str().into());
            }
            if row.priority != remote.priority.as_str() {
                history.push((
                    "priority",
                    Some(row.priority.clone()),
                    Some(remote.priority.as_str().into()),
                ));
                changes.priority = Some(remote.priority.as_str().into());
            }
            if row.assignee != remote.assignee {
                history.push(("assignee", row.assignee.clone(), remote.assignee.clone()));
                changes.assignee = Some(remote.assignee.clone());
            }
            if !history.is_empty() {
                changes.updated_at = Some(now);
                diesel::update(data_ticket::table.find(&guid))
                    .set(&changes)
                    .execute(conn)?;
                for (field, old, new) in &history {
                    insert_history(
                        conn,
                        &NewHistoryRow {
                            ticket_guid: &guid,
                            field,
                            old_value: old.as_deref(),
                            new_value: new.as_deref(),
                            changed_at: now,
                        },
                    )?;
                }
            }
            guid
        }
        None => {
            let guid = given.map_or_else(new_guid, str::to_string);
            let created = remote.created_at.map_or(now, |t| t.timestamp_micros());
            let row = TicketRow {
                guid: guid.clone(),
                subject: remote.subject.clone(),
                description: remote.description.clone(),
                status: remote.status.as_str().into(),
                priority: remote.priority.as_str().into(),
                assignee: remote.assignee.clone(),
                created_at: created,
                updated_at: now,
            };
            diesel::insert_into(data_ticket::table)
                .values(&row)
                .execute(conn)?;
            insert_history(
                conn,
                &NewHistoryRow {
                    ticket_guid: &guid,
                    field: "created",
                    old_value: None,
                    new_value: Some(remote.status.as_str()),
                    changed_at: now,
                },
            )?;
            guid
        }
    };
    put_link(
        conn,
        &LinkRow {
            ticket_guid: guid.clone(),
            asana_gid: Some(remote.asana_gid.clone()),
            state: LinkState::Linked.as_str().to_string(),
            last_synced_at: Some(now),
            remote_modified_at: remote.modified_at.map(|t| t.timestamp_micros()),
            creating_since: None,
        },
    )?;
    for c in &remote.comments {
        let known = comment_sync::table
            .filter(comment_sync::asana_story_gid.eq(&c.story_gid))
            .select(comment_sync::comment_guid)
            .first::<String>(conn)
            .optional()?;
        if known.is_some() || c.body.trim().is_empty() {
            continue;
        }
        let row = CommentRow {
            comment_guid: new_guid(),
            ticket_guid: guid.clone(),
            body: c.body.clone(),
            author: c.author.clone(),
            created_at: c.created_at.map_or(now, |t| t.timestamp_micros()),
        };
        diesel::insert_into(data_ticket_comment::table)
            .values(&row)
            .execute(conn)?;
        diesel::insert_into(comment_sync::table)
            .values((
                comment_sync::comment_guid.eq(&row.comment_guid),
                comment_sync::asana_story_gid.eq(&c.story_gid),
            ))
            .execute(conn)?;
    }
    Ok(guid)
}

#[cfg(test)]
mod link_state_tests {
    use super::LinkState;

    #[test]
    fn link_states_round_trip_and_unknown_text_is_refused() {
        for state in [LinkState::Creating, LinkState::Linked] {
            assert_eq!(LinkState::parse(state.as_str()).unwrap(), state);
        }
        assert!(LinkState::parse("Linked").is_err());
        assert!(LinkState::parse("").is_err());
    }
}
