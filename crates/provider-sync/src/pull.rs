//! The pull side: Asana tasks into the internal store through
//! [`InternalProvider::import_remote`](provider_internal::InternalProvider::import_remote),
//! applying the conflict rule, and the project-wide [`SyncProvider::pull_all`] (full read or
//! events).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use futures::stream::{self, StreamExt};
use provider_asana::{EventsPage, RemoteTask, BATCH_ACTIONS};
use provider_internal::{LinkState, OutboxEntry, RemoteComment, RemoteTicket, SyncLink};
use ticket_provider_api::model::{MAX_ASSIGNEE_CHARS, MAX_COMMENT_CHARS};
use ticket_provider_api::{Error, ErrorKind, Result, Status, Ticket, TicketProvider};
use tokio::sync::mpsc;

use crate::conflict::{merge, Pending};
use crate::locks::ClaimGuard;
use crate::provider::SyncProvider;
use crate::push::CLOCK_SKEW_MINUTES;
use crate::reconcile::{clean_line, clean_text, remote_fields};
use crate::report::{PullMode, PullProgress, PullReport, SkippedTask};
use crate::snapshot::{self, Agreed, Fields};
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

/// Whether a listed task already equals its local ticket (status and priority only where the
/// task has ours).
fn same_fields(task: &RemoteTask, t: &Ticket, agreed: Option<Status>) -> bool {
    let (r, push) = remote_fields(task, Some(t), agreed);
    !push && r == Fields::of(t)
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
                    if let Some(l) = link.filter(|l| l.state == LinkState::Linked) {
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
    /// claim) of the ticket, deciding each field by the conflict rule ([`merge`]).
    async fn import_locked(&self, task: RemoteTask, guid: Option<String>) -> Result<Imported> {
        let local = &self.inner.local;
        let before = match &guid {
            Some(g) => Some(local.get_ticket(g).await?),
            None => None,
        };
        let (entries, mut agreed) = match &guid {
            Some(g) => (
                local.outbox_for_ticket(g).await?,
                snapshot::load(local, g).await?,
            ),
            None => (Vec::new(), Agreed::default()),
        };
        let pending = Pending::of(&entries);
        let (remote, push_status) =
            remote_fields(&task, before.as_ref().map(|d| &d.ticket), agreed.status);
        let (merged, conflicts) = match &before {
            Some(d) => {
                let m = merge(&agreed, &Fields::of(&d.ticket), &remote, &pending);
                (m.fields, m.conflicts)
            }
            None => (remote.clone(), Vec::new()),
        };
        let comments = self.remote_comments(&task, &entries).await?;
        let new_guid = local
            .import_remote(RemoteTicket {
                asana_gid: task.gid.clone(),
                guid: guid.clone(),
                subject: merged.subject.clone(),
                description: merged.description.clone(),
                status: merged.status,
                priority: merged.priority,
                assignee: merged.assignee.clone(),
                created_at: Some(task.created_at),
                modified_at: Some(task.modified_at),
                comments,
            })
            .await?;
        // Asana's values are now known to both sides: the base of the next comparison.
        let agreed_status = agreed.status;
        agreed = Agreed::from(&remote);
        if push_status {
            // Section and `completed` disagreed: the next push writes the status chosen
            // (unless a push of it is pending already). Until then the last agreed status
            // stays the base of the comparison, so a pull in between decides the same.
            if !pending
                .status
                .as_ref()
                .is_some_and(|v| v.contains(&merged.status))
            {
                local.outbox_queue_status(&new_guid, merged.status).await?;
            }
            agreed.status = agreed_status;
        }
        if conflicts.is_empty() {
            snapshot::save(local, &new_guid, &agreed).await?;
        } else {
            self.record_conflicts(&new_guid, &task.gid, &conflicts, &remote, &mut agreed)
                .await?;
        }

        let kind = match &before {
            None => ImportKind::Created,
            Some(d) => {
                let after = local.get_ticket(&new_guid).await?;
                let fields_changed = Fields::of(&after.ticket) != Fields::of(&d.ticket);
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
            Some(l)
                if l.state == LinkState::Linked
                    && l.remote_modified_at == Some(task.modified_at) =>
            {
                let d = local.get_ticket(&l.ticket_guid).await?;
                let agreed = snapshot::load(local, &l.ticket_guid).await?.status;
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
