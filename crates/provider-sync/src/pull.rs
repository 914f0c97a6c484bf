//! The pull side: Asana tasks into the internal store through
//! [`InternalProvider::import_remote`](provider_internal::InternalProvider::import_remote),
//! applying the conflict rule, and the project-wide [`SyncProvider::pull_all`] (full read or
//! events).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use futures::stream::{self, StreamExt};
use provider_asana::{EventsPage, RemoteTask, BATCH_ACTIONS};
use provider_internal::{normalize_line, OutboxEntry, RemoteComment, RemoteTicket, SyncLink};
use ticket_provider_api::model::{
    MAX_ASSIGNEE_CHARS, MAX_COMMENT_CHARS, MAX_DESCRIPTION_CHARS, MAX_SUBJECT_CHARS,
};
use ticket_provider_api::{
    Error, ErrorKind, NewComment, Priority, Result, Status, Ticket, TicketProvider,
};
use tokio::sync::mpsc;

use crate::completion::{status_of_task, TaskStatus};
use crate::locks::ClaimGuard;
use crate::provider::SyncProvider;
use crate::push::CLOCK_SKEW_MINUTES;
use crate::push::LINKED;
use crate::report::{PullMode, PullProgress, PullReport, SkippedTask};
use crate::snapshot::{self, Values, FIELDS};
use crate::story::{decode, encode, StoryOrigin};

/// Where the events sync token is kept (internal key/value table).
pub(crate) const EVENTS_TOKEN_KEY: &str = "sync.asana.events_token";

/// Where the gids of tasks a pull skipped because another instance was pushing their ticket
/// are kept (a JSON list): the next pull reads them again.
pub(crate) const PULL_RETRY_KEY: &str = "sync.asana.pull_retry";

/// Why a task was skipped while another instance pushed its ticket.
pub(crate) const CLAIMED_ELSEWHERE: &str =
    "its ticket is being pushed by another instance; pulled next time";

/// The author of the notes the conflict rule writes.
pub const CONFLICT_AUTHOR: &str = "sync";

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
        link: Option<SyncLink>,
        stories: bool,
    },
}

/// The error for a task outside the tickets project.
fn not_in_project(gid: &str) -> Error {
    Error::invalid_input(format!("Asana task {gid} is not in the tickets project"))
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

/// Keeps at most `max` characters.
fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// One line as the store keeps it ([`normalize_line`], the rule of every write), at most
/// `max` characters.
fn clean_line(s: &str, max: usize) -> String {
    truncate(&normalize_line(s), max)
}

/// Text without control characters other than newline, carriage return and tab.
fn clean_text(s: &str, max: usize) -> String {
    let text: String = s
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'))
        .collect();
    truncate(&text, max)
}

/// The fields the pending entries of a ticket change, each with the values those entries
/// carry (an Asana value among them may be one of our own pushes whose answer was lost, not
/// a change made in Asana).
fn pending_fields(entries: &[OutboxEntry]) -> HashMap<&'static str, HashSet<Option<String>>> {
    let mut out: HashMap<&'static str, HashSet<Option<String>>> = HashMap::new();
    let mut note = |field: &'static str, v: &serde_json::Value| {
        out.entry(field)
            .or_default()
            .insert(v.get(field).and_then(|x| x.as_str()).map(str::to_string));
    };
    for e in entries.iter().filter(|e| e.set_aside_reason.is_none()) {
        let p = &e.payload;
        match e.operation.as_str() {
            "create" => FIELDS.into_iter().for_each(|f| note(f, p)),
            "update" => {
                for f in ["subject", "description", "priority"] {
                    if p.get(f).is_some() {
                        note(f, p);
                    }
                }
            }
            "change_status" | "close" | "resolve" | "escalate" => note("status", p),
            "assign" => note("assignee", p),
            _ => {}
        }
    }
    out
}

/// The comment an outbox entry posts: guid, body and author.
fn entry_comment(e: &OutboxEntry) -> Option<(&str, &str, Option<&str>)> {
    let c = match e.operation.as_str() {
        "add_comment" => &e.payload,
        _ => e.payload.get("comment").filter(|c| c.is_object())?,
    };
    let cg = c.get("comment_guid")?.as_str()?;
    let body = c.get("body").and_then(|b| b.as_str()).unwrap_or_default();
    let author = c.get("author").and_then(|a| a.as_str());
    Some((cg, body, author))
}

/// A remote task's field values, cleaned to what the internal store accepts; status and
/// priority fall back to `fallback` (the local ticket) when the task has none of ours.
/// The status comes from the section and `completed` by [`status_of_task`], given the
/// `agreed` status; the flag says whether Asana must be told it (the pair disagreed).
fn remote_values(
    task: &RemoteTask,
    fallback: Option<&Ticket>,
    agreed: Option<Status>,
) -> (Values, bool) {
    let mut subject = clean_line(&task.subject, MAX_SUBJECT_CHARS);
    if subject.is_empty() {
        subject = format!("(Asana task {} without a name)", task.gid);
    }
    let section = task
        .status
        .or(fallback.map(|t| t.status))
        .unwrap_or(Status::New);
    let TaskStatus { status, push } = status_of_task(section, task.completed, agreed);
    let priority = task
        .priority
        .or(fallback.map(|t| t.priority))
        .unwrap_or(Priority::Normal);
    let assignee = task
        .assignee
        .as_deref()
        .map(|a| clean_line(a, MAX_ASSIGNEE_CHARS))
        .filter(|a| !a.is_empty());
    let mut v = Values::new();
    v.insert("subject".into(), Some(subject));
    v.insert(
        "description".into(),
        Some(clean_text(&task.description, MAX_DESCRIPTION_CHARS)),
    );
    v.insert("status".into(), Some(status.as_str().to_string()));
    v.insert("priority".into(), Some(priority.as_str().to_string()));
    v.insert("assignee".into(), assignee);
    (v, push)
}

/// The status of the last agreed values, if recorded.
fn agreed_status(snap: &Values) -> Option<Status> {
    value(snap, "status").and_then(|s| s.parse().ok())
}

fn value(v: &Values, f: &str) -> Option<String> {
    v.get(f).cloned().flatten()
}

/// Whether a listed task already equals its local ticket (status and priority only where the
/// task has ours).
fn same_fields(task: &RemoteTask, t: &Ticket, agreed: Option<Status>) -> bool {
    let (r, push) = remote_values(task, Some(t), agreed);
    !push && r == snapshot::values_of(t)
}

fn quote(v: &Option<String>) -> String {
    match v {
        Some(s) => format!("{:?}", truncate(s, 2000)),
        None => "(nobody)".to_string(),
    }
}

impl SyncProvider {
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
            return Err(not_in_project(&task.gid));
        }
        let link = self.inner.local.sync_link_by_gid(&task.gid).await?;
        self.import_linked(task, link, read_at, patience).await
    }

    /// Takes the claim of ticket `guid` for this pull, waiting up to `patience` while another
    /// instance holds it; `None` when it still does.
    async fn claim_for_pull(
        &self,
        guid: &str,
        patience: std::time::Duration,
    ) -> Result<Option<ClaimGuard>> {
        let settings = &self.inner.settings;
        let started = std::time::Instant::now();
        loop {
            let taken = ClaimGuard::take(
                &self.inner.local,
                guid,
                &self.inner.instance_id,
                settings.claim_ttl,
            )
            .await?;
            match taken {
                Some(c) => return Ok(Some(c)),
                None if started.elapsed() >= patience => return Ok(None),
                None => tokio::time::sleep(std::time::Duration::from_millis(25)).await,
            }
        }
    }

    /// [`SyncProvider::import_task`] with the task's link (by gid) already read: imports the
    /// task's fields and `task.comments` (comments already imported are not added again).
    ///
    /// A task of an existing ticket is imported under the ticket's claim in the store, so no
    /// instance pushes it meanwhile; when another instance holds the claim the task is not
    /// imported ([`ImportKind::ClaimedElsewhere`]). When a push wrote the ticket to Asana
    /// after `read_at`, `task` may be stale: the task is read again (one request) and that
    /// is imported.
    async fn import_linked(
        &self,
        task: RemoteTask,
        link: Option<SyncLink>,
        read_at: DateTime<Utc>,
        patience: std::time::Duration,
    ) -> Result<Imported> {
        if !task.in_project {
            return Err(not_in_project(&task.gid));
        }
        let local = &self.inner.local;
        let mut guid = link.map(|l| l.ticket_guid);
        if guid.is_none() {
            if let Some(marker) = &task.marker {
                // The marker names our ticket when we created the task (perhaps in a create
                // whose answer was lost).
                if let Ok(d) = local.get_ticket(marker).await {
                    let link = local.sync_link_get(&d.ticket.guid).await?;
                    if let Some(l) = link.filter(|l| l.state == LINKED) {
                        if l.asana_gid.as_deref() != Some(task.gid.as_str()) {
                            return Err(Error::new(
                                ErrorKind::Conflict,
                                format!(
                                    "Asana task {} carries the marker of ticket {} which is linked to task {}; a duplicate, not imported",
                                    task.gid,
                                    d.ticket.guid,
                                    l.asana_gid.unwrap_or_default()
                                ),
                            ));
                        }
                    }
                    guid = Some(d.ticket.guid);
                }
            }
        }
        let key = guid
            .clone()
            .unwrap_or_else(|| format!("asana:{}", task.gid));
        let _lock = self.inner.locks.lock(&key).await;
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
        let pushed = snapshot::pushed_at(&self.inner.local, &guid).await?;
        let task = match pushed {
            Some(at) if at >= read_at => {
                tracing::debug!(guid = %guid, asana_gid = %task.gid, "pull: pushed since Asana was read; reading the task again");
                let fresh = self.inner.remote.get_remote_task(&task.gid).await?;
                if !fresh.in_project {
                    return Err(not_in_project(&fresh.gid));
                }
                fresh
            }
            _ => task,
        };
        self.import_locked(task, Some(guid)).await
    }

    /// Imports `task` into ticket `guid` (a new ticket when `None`), under the lock (and
    /// claim) of the ticket.
    async fn import_locked(&self, task: RemoteTask, guid: Option<String>) -> Result<Imported> {
        let local = &self.inner.local;
        let before = match &guid {
            Some(g) => Some(local.get_ticket(g).await?),
            None => None,
        };
        let (pending, snap) = match &guid {
            Some(g) => (
                local.outbox_for_ticket(g).await?,
                snapshot::load(local, g).await?,
            ),
            None => (Vec::new(), Values::new()),
        };
        let touched = pending_fields(&pending);
        let (mut remote_vals, push_status) = remote_values(
            &task,
            before.as_ref().map(|d| &d.ticket),
            agreed_status(&snap),
        );
        let mut merged = remote_vals.clone();
        let mut conflicts: Vec<(&str, Option<String>, Option<String>)> = Vec::new();
        if let Some(d) = &before {
            let local_vals = snapshot::values_of(&d.ticket);
            for f in FIELDS {
                let (r, l) = (value(&remote_vals, f), value(&local_vals, f));
                let Some(ours) = touched.get(f) else { continue };
                if r == l {
                    continue;
                }
                // A local change of this field is still pending: it wins and will be pushed.
                merged.insert(f.to_string(), l.clone());
                let remote_changed = snap.get(f).is_none_or(|s| *s != r) && !ours.contains(&r);
                if remote_changed {
                    conflicts.push((f, r, l));
                }
            }
        }

        let comments = self.remote_comments(&task, &pending).await?;

        let status: Status = value(&merged, "status")
            .and_then(|s| s.parse().ok())
            .unwrap_or(Status::New);
        let priority: Priority = value(&merged, "priority")
            .and_then(|s| s.parse().ok())
            .unwrap_or_default();
        let remote = RemoteTicket {
            asana_gid: task.gid.clone(),
            guid: guid.clone(),
            subject: value(&merged, "subject").unwrap_or_default(),
            description: value(&merged, "description").unwrap_or_default(),
            status,
            priority,
            assignee: value(&merged, "assignee"),
            created_at: Some(task.created_at),
            modified_at: Some(task.modified_at),
            comments,
        };
        let new_guid = local.import_remote(remote).await?;
        if push_status {
            // Section and `completed` disagreed: the next push writes the status chosen
            // (unless a push of it is pending already). Until then the last agreed status
            // stays the base of the comparison, so a pull in between decides the same.
            let pushed = Some(status.as_str().to_string());
            if !touched.get("status").is_some_and(|v| v.contains(&pushed)) {
                local.outbox_queue_status(&new_guid, status).await?;
            }
            remote_vals.insert("status".into(), snap.get("status").cloned().flatten());
        }
        // Asana's values are now known to both sides: the base of the next comparison.
        snapshot::save(local, &new_guid, &remote_vals).await?;

        for (field, r, l) in &conflicts {
            tracing::warn!(
                guid = %new_guid,
                asana_gid = %task.gid,
                field = %field,
                "conflict: the field changed in Asana and locally; the pending local value wins and Asana's value is kept as a comment"
            );
            let note = format!(
                "Sync conflict on {field}: Asana had {} while a local change to {} was waiting to be pushed. The local value was kept and will be pushed to Asana.",
                quote(r),
                quote(l)
            );
            local
                .add_comment(
                    &new_guid,
                    NewComment {
                        body: truncate(&note, MAX_COMMENT_CHARS),
                        author: Some(CONFLICT_AUTHOR.to_string()),
                    },
                )
                .await?;
        }

        let kind = match &before {
            None => ImportKind::Created,
            Some(d) => {
                let after = local.get_ticket(&new_guid).await?;
                let fields_changed =
                    snapshot::values_of(&after.ticket) != snapshot::values_of(&d.ticket);
                let comments_added = after.comments.len() > d.comments.len() + conflicts.len();
                if fields_changed || comments_added {
                    ImportKind::Updated
                } else {
                    ImportKind::Unchanged
                }
            }
        };
        Ok(Imported {
            guid: new_guid,
            kind,
            conflicts: conflicts.len(),
        })
    }

    /// The comments of `task` to import: every comment story not recorded in the store yet,
    /// decoded (see [`crate::story`]). A story of the token owner that is the lost answer of
    /// one of our posts (a pending comment of the ticket with a recorded attempt, the same
    /// text, created since the attempt) is recorded for that comment instead of imported.
    async fn remote_comments(
        &self,
        task: &RemoteTask,
        pending: &[OutboxEntry],
    ) -> Result<Vec<RemoteComment>> {
        let local = &self.inner.local;
        if task.comments.is_empty() {
            return Ok(Vec::new());
        }
        let me = self.inner.remote.token_owner().await?;
        // Our comments whose post may have reached Asana without an answer.
        let mut attempted = Vec::new();
        for e in pending {
            if let Some((cg, body, author)) = entry_comment(e) {
                if local.comment_link_get(cg).await?.is_some() {
                    continue;
                }
                if let Some(at) = local.comment_attempt_get(cg).await? {
                    let from = at - chrono::Duration::minutes(CLOCK_SKEW_MINUTES);
                    attempted.push((cg.to_string(), encode(body, author), from));
                }
            }
        }
        let mut out = Vec::new();
        for c in &task.comments {
            if local.comment_link_by_story(&c.story_gid).await?.is_some() {
                continue;
            }
            let own = c.created_by_gid.as_deref() == Some(me.gid.as_str());
            if own {
                if let Some(i) = attempted
                    .iter()
                    .position(|(_, text, from)| *text == c.text && c.created_at >= *from)
                {
                    let (cg, _, _) = attempted.remove(i);
                    tracing::info!(asana_gid = %task.gid, comment = %cg, story = %c.story_gid, "pull: found the story of a post whose answer was lost; linking it");
                    local.comment_link_put(&cg, &c.story_gid).await?;
                    continue;
                }
            }
            let origin = if own {
                StoryOrigin::TokenOwner
            } else {
                StoryOrigin::Other(c.created_by.as_deref())
            };
            let decoded = decode(&c.text, origin);
            let body = clean_text(&decoded.body, MAX_COMMENT_CHARS);
            if body.trim().is_empty() {
                continue;
            }
            out.push(RemoteComment {
                story_gid: c.story_gid.clone(),
                body,
                author: decoded
                    .author
                    .map(|a| clean_line(&a, MAX_ASSIGNEE_CHARS))
                    .filter(|a| !a.is_empty()),
                created_at: Some(c.created_at),
            });
        }
        Ok(out)
    }

    /// See [`SyncProvider::pull_all`].
    pub(crate) async fn pull_all_inner(
        &self,
        progress: &(dyn Fn(PullProgress) + Send + Sync),
    ) -> Result<PullReport> {
        let local = &self.inner.local;
        let remote = &self.inner.remote;
        let token = local.kv_get(EVENTS_TOKEN_KEY).await?;
        // Tasks the last pull skipped while another instance pushed them: read again.
        let retry: Vec<String> = local
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
        let listed = self.inner.remote.list_remote_tasks(None).await?;
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
        };
        let retry = self
            .import_read(tasks, read_at, &mut report, progress)
            .await?;
        self.finish_pull(sync, had_retry, &retry).await?;
        Ok(report)
    }

    /// Stores the events token `sync` and the tasks the next pull must read again.
    async fn finish_pull(&self, sync: &str, had_retry: bool, retry: &[String]) -> Result<()> {
        let local = &self.inner.local;
        if had_retry || !retry.is_empty() {
            let text = serde_json::to_string(retry).unwrap_or_else(|_| "[]".to_string());
            local.kv_put(PULL_RETRY_KEY, &text).await?;
        }
        local.kv_put(EVENTS_TOKEN_KEY, sync).await
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
        };
        let mut tasks = Vec::with_capacity(gids.len());
        for chunk in gids.chunks(BATCH_ACTIONS) {
            let mut read = match self.inner.remote.get_remote_tasks(chunk).await {
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

    /// What to do with a task read from Asana (local reads only).
    async fn plan(&self, task: &RemoteTask) -> Result<Plan> {
        if !task.in_project {
            return Err(not_in_project(&task.gid));
        }
        let local = &self.inner.local;
        let link = local.sync_link_by_gid(&task.gid).await?;
        let stories = match &link {
            // Not modified in Asana since the last sync (a new comment would have bumped
            // modified_at): its comments are known already.
            Some(l) if l.state == LINKED && l.remote_modified_at == Some(task.modified_at) => {
                let d = local.get_ticket(&l.ticket_guid).await?;
                let agreed = agreed_status(&snapshot::load(local, &l.ticket_guid).await?);
                if same_fields(task, &d.ticket, agreed) {
                    return Ok(Plan::Unchanged);
                }
                false
            }
            _ => true,
        };
        Ok(Plan::Import { link, stories })
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
        let mut planned = Vec::with_capacity(total);
        let mut need: Vec<String> = Vec::new();
        for (gid, task) in tasks {
            let p = match task {
                Ok(task) => self.plan(&task).await.map(|p| (task, p)),
                Err(e) => Err(e),
            };
            if let Ok((_, Plan::Import { stories: true, .. })) = &p {
                need.push(gid.clone());
            }
            planned.push((gid, p));
        }

        let (tx, rx) = mpsc::channel::<StoriesChunk>(STORY_CHUNKS_QUEUED);
        let remote = &self.inner.remote;
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
                let outcome = match p {
                    Err(e) => Err(e),
                    Ok((_, Plan::Unchanged)) => Ok(None),
                    Ok((task, Plan::Import { link, stories })) => {
                        self.import_planned(task, link, stories, read_at, &mut comments, &mut rx)
                            .await
                    }
                };
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
        link: Option<SyncLink>,
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
