//! The pull side: Asana tasks into the internal store, each imported in one store
//! transaction ([`import_in_tx`]) that applies the conflict rule, and the project-wide
//! [`Engine::pull_all`] (full read or events).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use futures::stream::{self, StreamExt};
use provider_asana::{EventsPage, RemoteTask, BATCH_ACTIONS};
use provider_internal::{StatusOperation, StoreError, StoreTx};
use ticket_provider_api::model::{MAX_ASSIGNEE_CHARS, MAX_COMMENT_CHARS};
use ticket_provider_api::{Error, ErrorKind, NewComment, Result, Ticket, TicketField, TicketValue};
use tokio::sync::mpsc;

use crate::adoption::Adoption;
use crate::conflict::{adopt, merge, Pending};
use crate::db::{self, Link, LinkState};
use crate::engine::Engine;
use crate::locks::ClaimGuard;
use crate::outbox::{Change, OutboxEntry, StatusPayload};
use crate::reconcile::{
    clean_line, clean_text, cuts, record_conflicts_in_tx, record_cut_in_tx, remote_fields,
    story_cut, Cut, CutField, CLOCK_SKEW_MINUTES,
};
use crate::report::{PullMode, PullProgress, PullReport, SkippedTask};
use crate::snapshot::{fields_of, Agreed, CarriedFields};
use crate::story::{decode, encode, StoryOrigin};

/// Where the events sync token is kept (internal key/value table).
pub(crate) const EVENTS_TOKEN_KEY: &str = "sync.asana.events_token";

/// Where the gids of tasks a pull skipped because another instance was pushing their ticket
/// are kept (a JSON list): the next pull reads them again.
pub(crate) const PULL_RETRY_KEY: &str = "sync.asana.pull_retry";

/// Why a task was skipped while another instance pushed its ticket.
pub(crate) const CLAIMED_ELSEWHERE: &str =
    "its ticket is being pushed by another instance; pulled next time";

/// What importing one task did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ImportKind {
    Created,
    Updated,
    Unchanged,
    /// Not imported: another instance held the ticket's claim (it was pushing it).
    ClaimedElsewhere,
}

/// Story batches a pull keeps in flight ahead of its imports.
const STORY_BATCHES_IN_FLIGHT: usize = 3;

/// Answers of story batches waiting for the imports.
const STORY_CHUNKS_QUEUED: usize = 4;

/// The comments of the tasks of story batches, or each task's error.
type StoriesChunk = HashMap<String, Result<Vec<provider_asana::RemoteComment>>>;

/// What a pull does with a task read from Asana.
enum Plan {
    /// It equals its ticket and was not modified since the last sync: nothing.
    Unchanged,
    /// Import it, with its link by gid (read while planning); `stories` says whether its
    /// comments must be read first (a task not linked yet, or modified since the last sync).
    Import {
        link: Option<Box<Link>>,
        stories: bool,
    },
}

/// The error for a task outside the tickets project.
fn not_in_project(gid: &str) -> Error {
    Error::invalid_input(format!("Asana task {gid} is not in the tickets project"))
}

/// Whether a read of one task failed because the task is gone for us: deleted (404) or no
/// longer visible to the token (403).
pub(crate) fn task_gone(e: &Error) -> bool {
    matches!(e.kind(), ErrorKind::NotFound | ErrorKind::PermissionDenied)
}

/// A copy of `e` (kind, message, temporariness) for each task of a failed batch.
fn copy_error(e: &Error) -> Error {
    Error::new(e.kind(), e.to_string()).with_temporary(e.is_temporary())
}

/// The result of importing one task.
#[derive(Debug, Clone)]
pub(crate) struct Imported {
    pub(crate) guid: String,
    pub(crate) kind: ImportKind,
    pub(crate) conflicts: usize,
}

/// Whether a listed task already equals its local ticket (status and priority only where the
/// task has ours).
fn same_fields(task: &RemoteTask, t: &Ticket, agreed: &Agreed, carried: &CarriedFields) -> bool {
    let (r, disagreeing) = remote_fields(task, Some(t), agreed, carried);
    disagreeing.is_none() && r == fields_of(t, carried)
}

/// A comment to import: story gid, text, author, when, and whether its text was cut.
struct NewRemoteComment {
    story_gid: String,
    comment: NewComment,
    created_at: DateTime<Utc>,
    cut: Option<Cut>,
    asana_user: Option<String>,
}

/// The comments of `task` to import, inside the import's transaction: every comment story
/// not recorded yet, decoded (see [`crate::story`]). A story of the token owner (`me`) that is
/// the lost answer of one of our posts (a pending comment of the ticket with a recorded
/// attempt, the same text, created since the attempt) is recorded for that comment instead.
fn remote_comments_in_tx(
    tx: &mut StoreTx<'_>,
    task: &RemoteTask,
    pending: &[OutboxEntry],
    me: Option<&str>,
    started_at: DateTime<Utc>,
) -> std::result::Result<Vec<NewRemoteComment>, StoreError> {
    if task.comments.is_empty() {
        return Ok(Vec::new());
    }
    // Our comments whose post may have reached Asana without an answer.
    let mut attempted = Vec::new();
    for e in pending {
        if let Some(c) = e.change.comment() {
            if db::story_of(tx.conn(), &c.comment_guid)?.is_some() {
                continue;
            }
            // A post attempt recorded; or none, for a comment queued before this instance
            // started: the store may have lost the record of its post (a restore).
            let attempt = db::attempt_of(tx.conn(), &c.comment_guid)?
                .or((e.created_at < started_at).then_some(e.created_at));
            if let Some(at) = attempt {
                let from = at - chrono::Duration::minutes(CLOCK_SKEW_MINUTES);
                attempted.push((
                    c.comment_guid.clone(),
                    encode(&c.body, c.author.as_deref()),
                    from,
                ));
            }
        }
    }
    let mut out = Vec::new();
    for c in &task.comments {
        if db::comment_of_story(tx.conn(), &c.story_gid)?.is_some() {
            continue;
        }
        let own = me.is_some() && c.created_by_gid.as_deref() == me;
        if own {
            if let Some(i) = attempted
                .iter()
                .position(|(_, text, from)| *text == c.text && c.created_at >= *from)
            {
                let (cg, _, _) = attempted.remove(i);
                tracing::info!(asana_gid = %task.gid, comment = %cg, story = %c.story_gid, "pull: found the story of a post whose answer was lost; linking it");
                db::put_comment_link(tx.conn(), &cg, &c.story_gid)?;
                continue;
            }
        }
        let origin = if own {
            StoryOrigin::TokenOwner
        } else {
            StoryOrigin::Other(c.created_by.as_deref())
        };
        let decoded = decode(&c.text, origin);
        let cut = story_cut(&c.story_gid, &decoded.body);
        let body = clean_text(&decoded.body, MAX_COMMENT_CHARS);
        if body.trim().is_empty() {
            continue;
        }
        out.push(NewRemoteComment {
            story_gid: c.story_gid.clone(),
            comment: NewComment {
                body,
                author: decoded
                    .author
                    .map(|a| clean_line(&a, MAX_ASSIGNEE_CHARS))
                    .filter(|a| !a.is_empty()),
            },
            created_at: c.created_at,
            cut,
            asana_user: c.created_by_gid.clone(),
        });
    }
    Ok(out)
}

/// Imports `task` into ticket `guid` (a new ticket when `None`) in one transaction, deciding
/// each field by the conflict rule ([`merge`]): the values, the new comments, the link with
/// the new agreed values, a queued status push when section and `completed` disagreed, and
/// the conflicts found. `me`: the token owner's gid (when the task has comments).
///
/// A task that is to become a new ticket but is linked already was imported meanwhile by
/// another instance (a concurrent pull): a gid already linked is that ticket, so nothing is
/// written and its ticket is answered ([`ImportKind::Unchanged`]).
fn import_in_tx(
    tx: &mut StoreTx<'_>,
    task: &RemoteTask,
    guid: Option<&str>,
    me: Option<&str>,
    carried: &CarriedFields,
    started_at: DateTime<Utc>,
) -> std::result::Result<Imported, StoreError> {
    if guid.is_none() {
        if let Some(l) = db::link_by_gid(tx.conn(), &task.gid)? {
            tracing::debug!(guid = %l.ticket_guid, asana_gid = %task.gid, "pull: imported meanwhile by another instance");
            return Ok(Imported {
                guid: l.ticket_guid,
                kind: ImportKind::Unchanged,
                conflicts: 0,
            });
        }
    }
    tx.set_origin(ticket_provider_api::ChangeOrigin::Pulled {
        asana_user: task.created_by.clone().filter(|_| guid.is_none()),
    });
    let before = match guid {
        Some(g) => Some(tx.details(g)?),
        None => None,
    };
    let (entries, link) = match guid {
        Some(g) => (db::outbox_of(tx.conn(), g)?, db::link(tx.conn(), g)?),
        None => (Vec::new(), None),
    };
    let pending_entries: Vec<OutboxEntry> = entries
        .into_iter()
        .filter(|e| e.set_aside_reason.is_none())
        .collect();
    let agreed = link.as_ref().map(|l| l.agreed.clone()).unwrap_or_default();
    // Entries at or below the task's push mark were carried out already (the store is
    // behind Asana): they are no pending change, so Asana's values are taken for them (the
    // next push finds them carried out and completes them).
    let mark = task
        .marker
        .as_deref()
        .and_then(|g| crate::push_mark::split(&task.description, g).1);
    let live: Vec<OutboxEntry> = pending_entries
        .iter()
        .filter(|e| mark.is_none_or(|m| e.id > m))
        .cloned()
        .collect();
    let pending = Pending::of(&live);
    let (remote, disagreeing) =
        remote_fields(task, before.as_ref().map(|d| &d.ticket), &agreed, carried);
    let (merged, conflicts) = match &before {
        Some(d) => {
            let m = merge(&agreed, &fields_of(&d.ticket, carried), &remote, &pending);
            (m.fields, m.conflicts)
        }
        None => (remote.clone(), Vec::new()),
    };
    let comments = remote_comments_in_tx(tx, task, &pending_entries, me, started_at)?;
    let guid = match guid {
        Some(g) => {
            tx.apply_values(g, &merged)?;
            g.to_string()
        }
        None => tx.insert_ticket(None, &merged, Some(task.created_at))?,
    };
    for c in &comments {
        let cg = tx.with_origin(
            ticket_provider_api::ChangeOrigin::Pulled {
                asana_user: c.asana_user.clone(),
            },
            |tx| tx.insert_comment(&guid, &c.comment, Some(c.created_at)),
        )?;
        db::put_comment_link(tx.conn(), &cg, &c.story_gid)?;
        if let Some(cut) = &c.cut {
            record_cut_in_tx(tx, &guid, &task.gid, cut)?;
        }
    }
    // A field cut to what the store keeps is recorded when its value is written.
    for cut in cuts(task) {
        let field = match cut.field {
            CutField::Subject => TicketField::Subject,
            CutField::Description => TicketField::Description,
            CutField::Assignee => TicketField::Assignee,
            CutField::Comment(_) => continue,
        };
        let written = before
            .as_ref()
            .is_none_or(|d| merged.get(&field) != Some(&field.of(&d.ticket)));
        if written {
            record_cut_in_tx(tx, &guid, &task.gid, &cut)?;
        }
    }
    // Asana's values are now known to both sides: the base of the next comparison.
    let mut new_agreed = Agreed::from(remote.clone());
    if let (Some(_), Some(status)) = (disagreeing, merged.status()) {
        // Section and `completed` disagreed: the next push writes the status chosen (unless
        // a push of it is pending already). Until then the last agreed status stays the
        // base of the comparison, so a pull in between decides the same.
        let chosen = TicketValue::Status(status);
        if !pending
            .values(&TicketField::Status)
            .is_some_and(|v| v.contains(&chosen))
        {
            let change = Change::Status(
                StatusOperation::ChangeStatus,
                StatusPayload {
                    status,
                    comment: None,
                },
            );
            db::outbox_insert(tx.conn(), &guid, &change, db::Newest::LookUp)?;
        }
        match agreed.get(&TicketField::Status) {
            Some(before) => new_agreed.insert(TicketField::Status, before.clone()),
            None => {
                new_agreed.remove(&TicketField::Status);
            }
        }
        new_agreed.status_from = agreed.status_from;
    }
    for c in &conflicts {
        tracing::warn!(
            guid = %guid,
            asana_gid = %task.gid,
            field = c.field.name(),
            "conflict: the field changed in Asana and locally; the local value wins and Asana's value is kept as a comment"
        );
        adopt(&mut new_agreed, &c.field, &remote, disagreeing);
    }
    record_conflicts_in_tx(tx, &guid, &conflicts)?;
    db::put_link(
        tx.conn(),
        &Link {
            ticket_guid: guid.clone(),
            asana_gid: Some(task.gid.clone()),
            state: LinkState::Linked,
            last_synced_at: Some(Utc::now()),
            remote_modified_at: Some(task.modified_at),
            creating_since: None,
            agreed: new_agreed,
            pushed_at: link.and_then(|l| l.pushed_at),
        },
    )?;
    let kind = match &before {
        None => ImportKind::Created,
        Some(d) if merged != fields_of(&d.ticket, carried) || !comments.is_empty() => {
            ImportKind::Updated
        }
        Some(_) => ImportKind::Unchanged,
    };
    Ok(Imported {
        guid,
        kind,
        conflicts: conflicts.len(),
    })
}

/// The ticket a task's marker names, if it exists and the task may be taken as its task
/// ([`Adoption`]: linked to it already, or made by the token's user `me` since the ticket's
/// create attempt). A copied marker is a Conflict (not imported: the task stays an orphan),
/// as is the marker of a ticket linked to another task (a duplicate).
fn marker_ticket_in_tx(
    tx: &mut StoreTx<'_>,
    task: &RemoteTask,
    me: &str,
) -> std::result::Result<Option<String>, StoreError> {
    let Some(marker) = &task.marker else {
        return Ok(None);
    };
    if uuid::Uuid::try_parse(marker).is_err() {
        return Ok(None);
    }
    let Some(t) = tx.ticket(marker)? else {
        return Ok(None);
    };
    let link = db::link(tx.conn(), &t.guid)?;
    if let Some(other) = link
        .as_ref()
        .and_then(|l| l.linked_gid().map(str::to_string))
    {
        if other == task.gid {
            return Ok(Some(t.guid));
        }
        return Err(Error::new(
            ErrorKind::Conflict,
            format!(
                "Asana task {} carries the marker of ticket {} which is linked to task {other}; a duplicate, not imported",
                task.gid, t.guid
            ),
        )
        .into());
    }
    let attempt = link
        .as_ref()
        .filter(|l| l.state == LinkState::Creating)
        .and_then(|l| l.creating_since.or(l.last_synced_at));
    let verdict = Adoption::of(task.created_by.as_deref(), task.created_at, me, attempt);
    if let Some(why) = verdict.refusal() {
        return Err(Error::new(
            ErrorKind::Conflict,
            format!(
                "Asana task {} carries the marker of ticket {} but is not its task ({why}); not imported: delete the task or its marker line in Asana",
                task.gid, t.guid
            ),
        )
        .into());
    }
    Ok(Some(t.guid))
}

/// What to do with each task read from Asana (local reads only, one transaction).
fn plan_in_tx(
    tx: &mut StoreTx<'_>,
    tasks: &[&RemoteTask],
    carried: &CarriedFields,
) -> std::result::Result<Vec<Plan>, StoreError> {
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        let link = db::link_by_gid(tx.conn(), &task.gid)?;
        if link.as_ref().map(|l| l.state) == Some(LinkState::LocalOnly) {
            // Unlinked on purpose: the task is no longer ours.
            out.push(Plan::Unchanged);
            continue;
        }
        let stories = match &link {
            // Not modified in Asana since the last sync (a new comment would have bumped
            // modified_at): its comments are known already.
            Some(l)
                if l.state == LinkState::Linked
                    && l.remote_modified_at == Some(task.modified_at) =>
            {
                if let Some(t) = tx.ticket(&l.ticket_guid)? {
                    if same_fields(task, &t, &l.agreed, carried) {
                        out.push(Plan::Unchanged);
                        continue;
                    }
                }
                false
            }
            _ => true,
        };
        out.push(Plan::Import {
            link: link.map(Box::new),
            stories,
        });
    }
    Ok(out)
}

impl Engine {
    /// Imports one task (with its comments), read from Asana at `read_at` (taken before the
    /// request was sent), into the internal store under the ticket's lock and claim (waiting
    /// up to `patience` for a claim another instance holds).
    pub(crate) async fn import_task(
        &self,
        task: RemoteTask,
        read_at: DateTime<Utc>,
        patience: std::time::Duration,
    ) -> Result<Imported> {
        if !task.in_project {
            let e = not_in_project(&task.gid);
            self.mark_lost_by_gid(&task.gid, &e.to_string()).await?;
            return Err(e);
        }
        let link = self.settled().await.link_by_gid(&task.gid).await?;
        if let Some(l) = link.as_ref().filter(|l| l.state == LinkState::LocalOnly) {
            return Err(Error::invalid_input(format!(
                "Asana task {} was unlinked from ticket {} (`ticket sync unlink`), which stays local only; it is not pulled",
                task.gid, l.ticket_guid
            )));
        }
        self.import_linked(task, link, read_at, patience).await
    }

    /// Marks the link of the ticket linked to task `gid` lost when `e` says the task is gone
    /// for us (404 or 403, or a task outside the project); `true` when it did.
    pub(crate) async fn lost_on_error(&self, gid: &str, e: &Error) -> Result<bool> {
        if !task_gone(e) {
            return Ok(false);
        }
        self.mark_lost_by_gid(gid, &e.to_string()).await
    }

    /// Marks the link of the ticket linked to task `gid` lost, saying `why`; `true` when a
    /// linked ticket was marked.
    pub(crate) async fn mark_lost_by_gid(&self, gid: &str, why: &str) -> Result<bool> {
        match self.settled().await.link_by_gid(gid).await? {
            Some(l) if l.state == LinkState::Linked => {
                self.settled()
                    .await
                    .mark_lost(&l.ticket_guid, gid, why)
                    .await
            }
            _ => Ok(false),
        }
    }

    /// Takes the claim of ticket `guid` for this pull, waiting up to `patience` while another
    /// instance holds it; `None` when it still does.
    async fn claim_for_pull(
        &self,
        guid: &str,
        patience: std::time::Duration,
    ) -> Result<Option<ClaimGuard>> {
        let started = std::time::Instant::now();
        loop {
            let taken = ClaimGuard::take(
                &*self.settled().await,
                guid,
                &self.instance_id,
                self.settings.claim_ttl,
            )
            .await?;
            match taken {
                Some(c) => return Ok(Some(c.until_shutdown(&self.shut_down))),
                None if started.elapsed() >= patience => return Ok(None),
                None => tokio::time::sleep(std::time::Duration::from_millis(25)).await,
            }
        }
    }

    /// [`Engine::import_task`] with the task's link (by gid) already read.
    ///
    /// A task of an existing ticket is imported under the ticket's claim in the store, so no
    /// instance pushes it meanwhile; when another instance holds the claim the task is not
    /// imported ([`ImportKind::ClaimedElsewhere`]). When a push wrote the ticket to Asana
    /// after `read_at`, `task` may be stale: the task is read again (one request) and that
    /// is imported.
    async fn import_linked(
        &self,
        task: RemoteTask,
        link: Option<Link>,
        read_at: DateTime<Utc>,
        patience: std::time::Duration,
    ) -> Result<Imported> {
        if !task.in_project {
            return Err(not_in_project(&task.gid));
        }
        let mut guid = link.map(|l| l.ticket_guid);
        if guid.is_none() && task.marker.is_some() {
            // The marker names our ticket when we created the task (perhaps in a create
            // whose answer was lost).
            let t = task.clone();
            let me = self.remote.token_owner().await?.gid;
            guid = self
                .settled()
                .await
                .local()
                .read(move |tx| marker_ticket_in_tx(tx, &t, &me))
                .await?;
        }
        let key = guid
            .clone()
            .unwrap_or_else(|| format!("asana:{}", task.gid));
        let _lock = self.locks.lock(&key).await;
        let Some(g) = guid else {
            // A new ticket: no instance can have pushed it.
            return self.import_locked(task, None).await;
        };
        let Some(claim) = self.claim_for_pull(&g, patience).await? else {
            tracing::debug!(guid = %g, asana_gid = %task.gid, "pull: another instance is pushing this ticket; not imported now");
            return Ok(Imported {
                guid: g,
                kind: ImportKind::ClaimedElsewhere,
                conflicts: 0,
            });
        };
        let result = self.import_claimed(task, g, read_at).await;
        claim.release().await;
        result
    }

    /// [`Self::import_linked`] once the ticket `guid` is locked and claimed: first reads the
    /// task again when a push wrote it after `read_at`.
    async fn import_claimed(
        &self,
        task: RemoteTask,
        guid: String,
        read_at: DateTime<Utc>,
    ) -> Result<Imported> {
        let pushed = self
            .settled()
            .await
            .link(&guid)
            .await?
            .and_then(|l| l.pushed_at);
        let task = match pushed {
            Some(at) if at >= read_at => {
                tracing::debug!(guid = %guid, asana_gid = %task.gid, "pull: pushed since Asana was read; reading the task again");
                let fresh = self.remote.get_remote_task(&task.gid).await?;
                if !fresh.in_project {
                    return Err(not_in_project(&fresh.gid));
                }
                fresh
            }
            _ => task,
        };
        self.import_locked(task, Some(guid)).await
    }

    /// Imports `task` into ticket `guid` (a new ticket when `None`) in one transaction (see
    /// [`import_in_tx`]).
    ///
    /// A new ticket's import that collides with stored data runs once more: on PostgreSQL
    /// another instance's import of the same task may commit its link between this
    /// transaction's look-up and its insert, and the second run finds that link (on SQLite
    /// the write transaction holds the lock from its start, so the look-up sees it at once).
    async fn import_locked(&self, task: RemoteTask, guid: Option<String>) -> Result<Imported> {
        let me = if task.comments.is_empty() {
            None
        } else {
            Some(self.remote.token_owner().await?.gid)
        };
        let task = std::sync::Arc::new(task);
        let carried = std::sync::Arc::new(self.carried());
        let started_at = self.started_at;
        let write = || {
            let (task, guid, me, carried) =
                (task.clone(), guid.clone(), me.clone(), carried.clone());
            async move {
                self.settled()
                    .await
                    .local()
                    .write(move |tx| {
                        import_in_tx(
                            tx,
                            &task,
                            guid.as_deref(),
                            me.as_deref(),
                            &carried,
                            started_at,
                        )
                    })
                    .await
            }
        };
        match write().await {
            Err(e) if guid.is_none() && e.kind() == ErrorKind::Conflict => {
                tracing::debug!(asana_gid = %task.gid, error = %e, "pull: a new ticket's import collided; running it again");
                write().await
            }
            other => other,
        }
    }

    /// See [`crate::SyncProvider::pull_all`]; `full`: read the whole project even when the
    /// events token is valid (the worker's reconcile).
    pub(crate) async fn pull_all(
        &self,
        full: bool,
        progress: &(dyn Fn(PullProgress) + Send + Sync),
    ) -> Result<PullReport> {
        let report = self.pull_all_inner(full, progress).await?;
        self.metrics.pulled(report.created + report.updated);
        self.metrics.conflicts(report.conflicts);
        self.metrics.pull_done();
        Ok(report)
    }

    async fn pull_all_inner(
        &self,
        full: bool,
        progress: &(dyn Fn(PullProgress) + Send + Sync),
    ) -> Result<PullReport> {
        let remote = &self.remote;
        let token = if full {
            None
        } else {
            self.settled().await.kv_get(EVENTS_TOKEN_KEY).await?
        };
        // Tasks the last pull skipped while another instance pushed them: read again.
        let retry: Vec<String> = self
            .settled()
            .await
            .kv_get(PULL_RETRY_KEY)
            .await?
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        let mut page = remote.events(token.as_deref()).await?;
        let mut gids: Vec<String> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        for g in &retry {
            if seen.insert(g.clone()) {
                gids.push(g.clone());
            }
        }
        loop {
            match page {
                EventsPage::TokenInvalid { sync } => {
                    tracing::info!("no valid events token: reading the whole project");
                    return self.full_pull(&sync, !retry.is_empty(), progress).await;
                }
                EventsPage::Events {
                    events,
                    sync,
                    has_more,
                } => {
                    for ev in &events {
                        if let Some(g) = ev.task_gid() {
                            if seen.insert(g.to_string()) {
                                gids.push(g.to_string());
                            }
                        }
                    }
                    if !has_more {
                        return self
                            .incremental_pull(gids, &sync, !retry.is_empty(), progress)
                            .await;
                    }
                    page = remote.events(Some(&sync)).await?;
                }
            }
        }
    }

    fn tally(
        report: &mut PullReport,
        retry: &mut Vec<String>,
        gid: &str,
        outcome: Result<Option<Imported>>,
    ) -> Result<()> {
        match outcome {
            Ok(Some(i)) if i.kind == ImportKind::ClaimedElsewhere => {
                report.skipped.push(SkippedTask {
                    asana_gid: gid.to_string(),
                    reason: CLAIMED_ELSEWHERE.to_string(),
                });
                retry.push(gid.to_string());
                Ok(())
            }
            Ok(Some(i)) => {
                report.conflicts += i.conflicts;
                match i.kind {
                    ImportKind::Created => report.created += 1,
                    ImportKind::Updated => report.updated += 1,
                    ImportKind::Unchanged => report.unchanged += 1,
                    ImportKind::ClaimedElsewhere => {}
                }
                Ok(())
            }
            Ok(None) => {
                report.unchanged += 1;
                Ok(())
            }
            // Temporary trouble: stop, so the token is not advanced past unread changes.
            Err(e) if e.is_temporary() && e.kind() != ErrorKind::Conflict => Err(e),
            Err(e) => {
                tracing::warn!(asana_gid = %gid, error = %e, "pull: task skipped");
                report.skipped.push(SkippedTask {
                    asana_gid: gid.to_string(),
                    reason: e.to_string(),
                });
                Ok(())
            }
        }
    }

    /// Reads every task of the project (one request per 100 tasks), imports those that
    /// differ, then stores `sync` (and the tasks to read again, see [`PULL_RETRY_KEY`];
    /// `had_retry` says whether the last pull left some).
    async fn full_pull(
        &self,
        sync: &str,
        had_retry: bool,
        progress: &(dyn Fn(PullProgress) + Send + Sync),
    ) -> Result<PullReport> {
        let read_at = Utc::now();
        let listed = self.remote.list_remote_tasks(None).await?;
        let mut seen = HashSet::new();
        let tasks: Vec<(String, Result<RemoteTask>)> = listed
            .into_iter()
            .filter(|t| seen.insert(t.gid.clone()))
            .map(|t| (t.gid.clone(), Ok(t)))
            .collect();
        let mut report = PullReport {
            mode: PullMode::Full,
            tasks_seen: tasks.len(),
            created: 0,
            updated: 0,
            unchanged: 0,
            conflicts: 0,
            skipped: Vec::new(),
            lost: 0,
        };
        let listed_gids: HashSet<String> = tasks.iter().map(|(g, _)| g.clone()).collect();
        let retry = self
            .import_read(tasks, read_at, &mut report, progress)
            .await?;
        // The whole project was read: a linked task it did not list is gone for us.
        report.lost += self.mark_unlisted_lost(&listed_gids, read_at).await?;
        self.finish_pull(sync, had_retry, &retry).await?;
        Ok(report)
    }

    /// After a complete read of the project (begun at `read_at`) that listed `listed`: marks
    /// lost every linked ticket whose task was not listed, unless it was linked, pulled or
    /// pushed since `read_at` (a task another instance created meanwhile is not "missing").
    /// How many.
    pub(crate) async fn mark_unlisted_lost(
        &self,
        listed: &HashSet<String>,
        read_at: DateTime<Utc>,
    ) -> Result<usize> {
        let listed = listed.clone();
        self.settled().await
            .local()
            .write(move |tx| {
                let mut n = 0;
                for l in db::links_in_state(tx.conn(), LinkState::Linked)? {
                    let Some(gid) = l.asana_gid.clone() else {
                        continue;
                    };
                    let recent = [l.last_synced_at, l.pushed_at]
                        .iter()
                        .any(|t| t.is_some_and(|t| t >= read_at));
                    if listed.contains(&gid) || recent {
                        continue;
                    }
                    let why = "a full read of the project did not list the task (deleted or removed from the project)";
                    if crate::store::mark_lost_in_tx(tx, &l.ticket_guid, &gid, why)? {
                        n += 1;
                    }
                }
                Ok(n)
            })
            .await
    }

    /// Stores the events token `sync` and the tasks the next pull must read again.
    async fn finish_pull(&self, sync: &str, had_retry: bool, retry: &[String]) -> Result<()> {
        if had_retry || !retry.is_empty() {
            let text = serde_json::to_string(retry).unwrap_or_else(|_| "[]".to_string());
            self.settled().await.kv_put(PULL_RETRY_KEY, &text).await?;
        }
        self.settled().await.kv_put(EVENTS_TOKEN_KEY, sync).await
    }

    /// Reads the tasks the event stream named (one request per 10 tasks) and those the last
    /// pull skipped, imports them, then stores `sync`.
    async fn incremental_pull(
        &self,
        gids: Vec<String>,
        sync: &str,
        had_retry: bool,
        progress: &(dyn Fn(PullProgress) + Send + Sync),
    ) -> Result<PullReport> {
        let read_at = Utc::now();
        let mut report = PullReport {
            mode: PullMode::Incremental,
            tasks_seen: gids.len(),
            created: 0,
            updated: 0,
            unchanged: 0,
            conflicts: 0,
            skipped: Vec::new(),
            lost: 0,
        };
        let mut tasks = Vec::with_capacity(gids.len());
        for chunk in gids.chunks(BATCH_ACTIONS) {
            let mut read = match self.remote.get_remote_tasks(chunk).await {
                Ok(read) => read,
                // The whole batch failed: a temporary failure stops the pull (in `tally`);
                // another one is each task's reason to be skipped.
                Err(e) => chunk
                    .iter()
                    .map(|g| (g.clone(), Err(copy_error(&e))))
                    .collect(),
            };
            for g in chunk {
                let task = read.remove(g).unwrap_or_else(|| {
                    Err(Error::internal(format!("Asana task {g} was not read")))
                });
                tasks.push((g.clone(), task));
            }
        }
        let retry = self
            .import_read(tasks, read_at, &mut report, progress)
            .await?;
        self.finish_pull(sync, had_retry, &retry).await?;
        Ok(report)
    }

    /// Imports tasks read from Asana, in order, into `report`: tasks equal to their ticket
    /// and not modified since the last sync cost nothing more; the comments of new or
    /// modified tasks are read [`BATCH_ACTIONS`] tasks per request, a few requests ahead of
    /// the imports. Stops at the first temporary failure (see [`SyncProvider::tally`]).
    /// `read_at` is when the tasks were read (taken before the first request). Returns the
    /// gids of the tasks skipped because another instance was pushing their ticket.
    async fn import_read(
        &self,
        tasks: Vec<(String, Result<RemoteTask>)>,
        read_at: DateTime<Utc>,
        report: &mut PullReport,
        progress: &(dyn Fn(PullProgress) + Send + Sync),
    ) -> Result<Vec<String>> {
        let mode = report.mode;
        let total = tasks.len();
        // Every task's plan in one read transaction.
        let readable: Vec<RemoteTask> = tasks
            .iter()
            .filter_map(|(_, t)| t.as_ref().ok())
            .filter(|t| t.in_project)
            .cloned()
            .collect();
        let carried = self.carried();
        let plans = self
            .settled()
            .await
            .local()
            .read(move |tx| {
                let refs: Vec<&RemoteTask> = readable.iter().collect();
                plan_in_tx(tx, &refs, &carried)
            })
            .await?;
        let mut plans = plans.into_iter();
        let mut planned = Vec::with_capacity(total);
        let mut need: Vec<String> = Vec::new();
        let mut outside: HashSet<String> = HashSet::new();
        for (gid, task) in tasks {
            let p = match task {
                Ok(task) if !task.in_project => {
                    outside.insert(gid.clone());
                    Err(not_in_project(&task.gid))
                }
                Ok(task) => match plans.next() {
                    Some(p) => Ok((task, p)),
                    None => Err(Error::internal("a task was not planned")),
                },
                Err(e) => Err(e),
            };
            if let Ok((_, Plan::Import { stories: true, .. })) = &p {
                need.push(gid.clone());
            }
            planned.push((gid, p));
        }

        let (tx, rx) = mpsc::channel::<StoriesChunk>(STORY_CHUNKS_QUEUED);
        let remote = &self.remote;
        let fetch = async move {
            // Owned chunks: a closure over borrowed ones is not `Send` for every lifetime,
            // which the `SyncMaintenance` trait's boxed futures need.
            let chunks: Vec<Vec<String>> =
                need.chunks(BATCH_ACTIONS).map(<[String]>::to_vec).collect();
            let mut answers = stream::iter(chunks)
                .map(|chunk| async move {
                    match remote.stories_for_tasks(&chunk).await {
                        Ok(read) => read,
                        // The whole batch failed: each task's reason (a temporary failure
                        // stops the pull in `tally`).
                        Err(e) => chunk
                            .iter()
                            .map(|g| (g.clone(), Err(copy_error(&e))))
                            .collect(),
                    }
                })
                .buffered(STORY_BATCHES_IN_FLIGHT);
            while let Some(read) = answers.next().await {
                if tx.send(read).await.is_err() {
                    // The imports stopped: read no further.
                    break;
                }
            }
        };
        let import = async move {
            let mut rx = rx;
            let mut comments: StoriesChunk = HashMap::new();
            let mut retry = Vec::new();
            for (i, (gid, p)) in planned.into_iter().enumerate() {
                let read_failed = p.is_err();
                let outcome = match p {
                    Err(e) => Err(e),
                    Ok((_, Plan::Unchanged)) => Ok(None),
                    Ok((task, Plan::Import { link, stories })) => {
                        self.import_planned(
                            task,
                            link.map(|l| *l),
                            stories,
                            read_at,
                            &mut comments,
                            &mut rx,
                        )
                        .await
                    }
                };
                if let (true, Err(e)) = (read_failed, &outcome) {
                    // The task read answered 404/403, or it is outside the project: a
                    // linked ticket's link is lost.
                    let lost = if outside.contains(&gid) {
                        self.mark_lost_by_gid(&gid, &e.to_string()).await?
                    } else {
                        self.lost_on_error(&gid, e).await?
                    };
                    report.lost += usize::from(lost);
                }
                Self::tally(report, &mut retry, &gid, outcome)?;
                progress(PullProgress {
                    mode,
                    done: i + 1,
                    total,
                });
            }
            Ok(retry)
        };
        let ((), imported) = futures::join!(fetch, import);
        imported
    }

    /// Imports one planned task, first taking its comments from the answers of the story
    /// reads when it needs them.
    async fn import_planned(
        &self,
        mut task: RemoteTask,
        link: Option<Link>,
        stories: bool,
        read_at: DateTime<Utc>,
        comments: &mut StoriesChunk,
        rx: &mut mpsc::Receiver<StoriesChunk>,
    ) -> Result<Option<Imported>> {
        if stories {
            while !comments.contains_key(&task.gid) {
                match rx.recv().await {
                    Some(read) => comments.extend(read),
                    None => break,
                }
            }
            let read = comments.remove(&task.gid).unwrap_or_else(|| {
                Err(Error::internal(format!(
                    "the comments of Asana task {} were not read",
                    task.gid
                )))
            })?;
            task.comments = read;
        }
        self.import_linked(task, link, read_at, std::time::Duration::ZERO)
            .await
            .map(Some)
    }
}
