//! The push side: outbox entries of one ticket go to Asana in id order, under the ticket's
//! lock and its claim in the store (shared with other processes), each either completed, set aside (Asana refused it for good) or kept with its failure
//! recorded (temporary trouble; the ticket's later entries wait behind it).
//!
//! Crash safety, step by step:
//! * A task is created only after its link row says `creating` (with the time) and the values
//!   being sent are recorded as the last agreed ones; the task carries the ticket guid as a
//!   marker in its notes. Whoever later finds the link still `creating` (an unknown outcome:
//!   timeout, lost answer, 5xx, or a crash before the link was updated) first looks the task
//!   up by its marker and links it instead of creating another.
//! * A comment counts as posted once its comment link (story gid) exists. Before the first
//!   POST the attempt's time is recorded in the store, so a later attempt first looks for a
//!   story the token owner created since then with exactly the comment's text (no marker is
//!   written into the story).
//! * Every other step (field updates, section moves, assignment) sets absolute values and is
//!   simply redone.
//! * An entry is removed only after its effect is in Asana.
//!
//! Before entries overwrite fields of a task that existed, the task is read (one request)
//! and the conflict rule ([`crate::conflict`]) is applied, as a pull would: a field Asana
//! changed since the last agreement is recorded as a conflict before the local value
//! overwrites it.

use std::collections::HashSet;

use chrono::Utc;
use provider_internal::{LinkState, OutboxEntry, SyncLink};
use serde_json::Value;
use ticket_provider_api::{NewTicket, Priority, Result, Status, TicketProvider, TicketUpdate};
use tracing::Instrument;

use crate::breaker::Permit;
use crate::conflict::{merge, Field, Pending};
use crate::error::PushFailure;
use crate::locks::ClaimGuard;
use crate::provider::SyncProvider;
use crate::reconcile::remote_fields;
use crate::report::FlushReport;
use crate::snapshot::{self, Agreed, Fields};
use crate::story::encode;

/// Slack for clock differences with Asana when looking for the task of an earlier create.
pub(crate) const CLOCK_SKEW_MINUTES: i64 = 10;

/// How a push was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushMode {
    /// Inside an operation: give up at once when the breaker is not closed.
    Inline,
    /// From `flush`: wait for a probe in flight.
    Flush,
    /// From `sync_to_asana`: also create the task of a ticket without pending entries, and
    /// post the comments Asana does not have yet.
    Full,
}

/// What one push of one ticket did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PushOutcome {
    /// Entries completed.
    pub(crate) pushed: usize,
    /// Entries set aside.
    pub(crate) set_aside: usize,
    /// True when the breaker did not let the push talk to Asana.
    pub(crate) blocked: bool,
    /// True when another instance held the ticket's claim: nothing was pushed.
    pub(crate) claimed_elsewhere: bool,
}

/// A task that exists (or was just created) for a ticket.
struct Ensured {
    gid: String,
    /// Set when this push created the task from the ticket's current state (nothing in
    /// Asana to compare with).
    created: bool,
    /// Set when the task was created without the ticket's assignee, which Asana refused.
    assignee_note: Option<String>,
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// The fields pushing `entries` writes to the task: those of [`Pending::of`], except that a
/// `create` whose task exists writes nothing (unless it was retried by hand).
fn fields_written(entries: &[OutboxEntry]) -> Pending {
    let writing: Vec<OutboxEntry> = entries
        .iter()
        .filter(|e| {
            e.operation != "create"
                || e.payload.get("retried").and_then(Value::as_bool) == Some(true)
        })
        .cloned()
        .collect();
    Pending::of(&writing)
}

/// The comment guid an outbox entry posts, if any.
fn entry_comment_guid(e: &OutboxEntry) -> Option<&str> {
    str_of(&e.payload, "comment_guid").or_else(|| {
        e.payload
            .get("comment")
            .and_then(|c| str_of(c, "comment_guid"))
    })
}

impl SyncProvider {
    /// Pushes a ticket after an operation, waiting at most the push timeout; the push goes on
    /// in the background after that. Skipped at once while the breaker is open.
    pub(crate) async fn push_bounded(&self, guid: &str) {
        if self.inner.breaker.is_open() {
            tracing::debug!(guid = %guid, "Asana looks down; the change stays pending");
            return;
        }
        let this = self.clone();
        let owned = guid.to_string();
        let span = tracing::debug_span!("sync_push", guid = %guid);
        let push = async move {
            if let Err(e) = this.push_ticket(&owned, PushMode::Inline).await {
                tracing::warn!(guid = %owned, error = %e, "push failed; the change stays pending")
            }
        }
        .instrument(span);
        let timeout = self.inner.settings.push_timeout;
        if self.is_shut_down() {
            // Nothing may outlive the operation any more: push within the timeout or leave
            // the change pending (a dropped push releases its claim).
            let _ = tokio::time::timeout(timeout, push).await;
            return;
        }
        let mut handle = tokio::spawn(push);
        match tokio::time::timeout(timeout, &mut handle).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(guid = %guid, error = %e, "the push task failed"),
            Err(_) => {
                tracing::debug!(
                    guid = %guid,
                    "push timeout passed; the push goes on in the background"
                );
                self.track(handle);
            }
        }
    }

    /// Waits for the breaker's permission as `mode` allows.
    async fn permit(&self, mode: PushMode) -> bool {
        loop {
            match self.inner.breaker.allow() {
                Permit::Go => return true,
                Permit::Skip => return false,
                Permit::Wait if mode == PushMode::Inline => return false,
                Permit::Wait => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            }
        }
    }

    /// Feeds a failure to the breaker.
    fn note_failure(&self, f: &PushFailure) {
        match f {
            PushFailure::Temporary {
                asana_down: true, ..
            } => self.inner.breaker.failure(),
            // Asana answered (it refused, or asked us to slow down): it is up.
            _ => self.asana_reachable(),
        }
    }

    /// Asana answered. When that closes the breaker (Asana is back), the changes that piled
    /// up meanwhile are flushed in the background, once at a time.
    pub(crate) fn asana_reachable(&self) {
        use std::sync::atomic::Ordering;
        if !self.inner.breaker.success()
            || self.is_shut_down()
            || self.inner.catching_up.swap(true, Ordering::SeqCst)
        {
            return;
        }
        tracing::info!("Asana is reachable again; pushing the changes kept meanwhile");
        let this = self.clone();
        let handle = tokio::spawn(async move {
            match this.flush_inner().await {
                Ok(r) => tracing::info!(
                    pushed = r.pushed,
                    pending = r.pending,
                    "catch-up flush done"
                ),
                Err(e) => tracing::warn!(error = %e, "catch-up flush failed"),
            }
            this.inner.catching_up.store(false, Ordering::SeqCst);
        });
        self.track(handle);
    }

    /// Pushes every pending entry of one ticket, in order, under the ticket's lock and its
    /// claim in the store. When another instance holds the claim, nothing is pushed
    /// (`claimed_elsewhere`); inline and full pushes wait up to `claim_wait` for it first.
    pub(crate) async fn push_ticket(&self, guid: &str, mode: PushMode) -> Result<PushOutcome> {
        let _gate = self.inner.pull_gate.read().await;
        let _lock = self.inner.locks.lock(guid).await;
        let mut out = PushOutcome::default();
        let settings = &self.inner.settings;
        let patience = match mode {
            PushMode::Flush => std::time::Duration::ZERO,
            PushMode::Inline | PushMode::Full => settings.claim_wait,
        };
        let started = std::time::Instant::now();
        let claim = loop {
            let taken = ClaimGuard::take(
                &self.inner.local,
                guid,
                &self.inner.instance_id,
                settings.claim_ttl,
            )
            .await?;
            match taken {
                Some(c) => break c,
                None if started.elapsed() >= patience => {
                    tracing::debug!(guid = %guid, "another instance is pushing this ticket; its changes stay pending");
                    out.claimed_elsewhere = true;
                    return Ok(out);
                }
                None => tokio::time::sleep(std::time::Duration::from_millis(25)).await,
            }
        };
        let result = self.push_claimed(guid, mode, &claim, &mut out).await;
        claim.release().await;
        result.map(|()| out)
    }

    /// [`Self::push_ticket`] once the ticket is locked and claimed.
    async fn push_claimed(
        &self,
        guid: &str,
        mode: PushMode,
        claim: &ClaimGuard,
        out: &mut PushOutcome,
    ) -> Result<()> {
        let local = &self.inner.local;
        let mut full = mode == PushMode::Full;
        // Entries written while we push are picked up by a further round.
        for _round in 0..3 {
            let entries: Vec<OutboxEntry> = local
                .outbox_for_ticket(guid)
                .await?
                .into_iter()
                .filter(|e| e.set_aside_reason.is_none())
                .collect();
            if entries.is_empty() && !full {
                return Ok(());
            }
            if !self.permit(mode).await {
                out.blocked = true;
                return Ok(());
            }
            if !claim.held() {
                return Ok(());
            }
            let mut snap = snapshot::load(local, guid).await?;
            let before = snap.clone();
            let (pushed, set_aside) = (out.pushed, out.set_aside);
            let done = self
                .push_entries(guid, &entries, full, &mut snap, out, claim)
                .await;
            if snap != before {
                snapshot::save(local, guid, &snap).await?;
            }
            // Still under the claim: a pull of another instance that read Asana before now
            // re-reads this task before importing it (see `import_linked`). Marked whenever
            // Asana may have been written (a failure after a write that reached Asana leaves
            // its entry pending, which the conflict rule covers).
            if snap != before || out.pushed != pushed || out.set_aside != set_aside || full {
                snapshot::mark_pushed(local, guid).await?;
            }
            if !done? {
                return Ok(());
            }
            full = false;
        }
        Ok(())
    }

    /// Pushes `entries` (all pending entries of the ticket, oldest first). `Ok(false)` when a
    /// temporary failure stopped it.
    async fn push_entries(
        &self,
        guid: &str,
        entries: &[OutboxEntry],
        full: bool,
        snap: &mut Agreed,
        out: &mut PushOutcome,
        claim: &ClaimGuard,
    ) -> Result<bool> {
        let mut skip: HashSet<i64> = HashSet::new();
        let gid = match self.ensure_task(guid, full, snap).await {
            Ok(ensured) => {
                if let Some(note) = ensured.assignee_note {
                    tracing::warn!(guid = %guid, reason = %note, "created the Asana task without its assignee");
                    if let Some(e) = entries.iter().find(|e| e.operation == "create") {
                        self.inner.local.outbox_set_aside(e.id, &note).await?;
                        out.set_aside += 1;
                        skip.insert(e.id);
                    }
                }
                (ensured.gid, ensured.created)
            }
            Err(f) => {
                self.note_failure(&f);
                if let Some(first) = entries.first() {
                    self.fail_entry(guid, first, &f, out).await?;
                } else {
                    tracing::warn!(guid = %guid, error = %f.message(), "cannot create the Asana task");
                }
                return Ok(false);
            }
        };
        let (gid, created) = gid;
        // Before overwriting fields of a task that existed: what changed in Asana since the
        // last agreement (one request).
        let to_apply: Vec<OutboxEntry> = entries
            .iter()
            .filter(|e| !skip.contains(&e.id))
            .cloned()
            .collect();
        let writes = fields_written(&to_apply);
        if !created && Field::ALL.iter().any(|f| writes.touches(*f)) {
            match self.check_remote(guid, &gid, entries, &writes, snap).await {
                Ok(()) => {}
                Err(PushFailure::Permanent(reason)) => {
                    // Asana refuses to show the task: it refuses the writes too, and each
                    // entry is set aside with its own reason below.
                    tracing::debug!(guid = %guid, reason = %reason, "cannot read the task before the push");
                }
                Err(f) => {
                    self.note_failure(&f);
                    if let Some(first) = to_apply.first() {
                        self.fail_entry(guid, first, &f, out).await?;
                    }
                    return Ok(false);
                }
            }
        }
        for e in &to_apply {
            if !claim.held() {
                // Another instance took the ticket over after our claim expired: leave the
                // rest to it.
                return Ok(false);
            }
            match self.apply_entry(&gid, e, snap).await {
                Ok(()) => {
                    self.asana_reachable();
                    self.inner.local.outbox_complete(e.id).await?;
                    out.pushed += 1;
                }
                Err(f) => {
                    self.note_failure(&f);
                    if self.fail_entry(guid, e, &f, out).await? {
                        return Ok(false);
                    }
                }
            }
        }
        Ok(true)
    }

    /// The conflict rule before a push overwrites fields (`writes`) of task `gid`: reads the
    /// task (one request) and records each field both sides changed since the last agreement
    /// (see [`crate::conflict`]); the local value is pushed afterwards. `entries` are the
    /// ticket's pending entries, `snap` its last agreed values (updated for each conflict).
    async fn check_remote(
        &self,
        guid: &str,
        gid: &str,
        entries: &[OutboxEntry],
        writes: &Pending,
        snap: &mut Agreed,
    ) -> std::result::Result<(), PushFailure> {
        let lf = |e: ticket_provider_api::Error| PushFailure::local(&e);
        let rf = |e: ticket_provider_api::Error| PushFailure::from_remote(&e);
        let mut read = self
            .inner
            .remote
            .get_remote_tasks(&[gid.to_string()])
            .await
            .map_err(rf)?;
        let task = read
            .remove(gid)
            .unwrap_or_else(|| {
                Err(ticket_provider_api::Error::internal(format!(
                    "Asana task {gid} was not read"
                )))
            })
            .map_err(rf)?;
        self.asana_reachable();
        let ticket = self.inner.local.get_ticket(guid).await.map_err(lf)?.ticket;
        let (remote, _) = remote_fields(&task, Some(&ticket), snap.status);
        let merged = merge(snap, &Fields::of(&ticket), &remote, &Pending::of(entries));
        let conflicts: Vec<_> = merged
            .conflicts
            .into_iter()
            .filter(|c| writes.touches(c.field))
            .collect();
        if !conflicts.is_empty() {
            self.record_conflicts(guid, gid, &conflicts, &remote, snap)
                .await
                .map_err(lf)?;
        }
        Ok(())
    }

    /// Records a failed entry; `true` when the ticket's later entries must wait.
    async fn fail_entry(
        &self,
        guid: &str,
        e: &OutboxEntry,
        f: &PushFailure,
        out: &mut PushOutcome,
    ) -> Result<bool> {
        match f {
            PushFailure::Permanent(reason) => {
                tracing::warn!(guid = %guid, entry = e.id, operation = %e.operation, reason = %reason, "Asana refused the change; set aside");
                self.inner.local.outbox_set_aside(e.id, reason).await?;
                out.set_aside += 1;
                Ok(false)
            }
            PushFailure::Temporary { message, .. } => {
                tracing::warn!(guid = %guid, entry = e.id, operation = %e.operation, error = %message, "push failed; kept for retry");
                self.inner
                    .local
                    .outbox_record_failure(e.id, message)
                    .await?;
                Ok(true)
            }
        }
    }

    /// The ticket's task gid: from its link, found by marker after an unknown outcome, or
    /// created now from the ticket's current state.
    async fn ensure_task(
        &self,
        guid: &str,
        full: bool,
        snap: &mut Agreed,
    ) -> std::result::Result<Ensured, PushFailure> {
        let local = &self.inner.local;
        let link = local
            .sync_link_get(guid)
            .await
            .map_err(|e| PushFailure::local(&e))?;
        if let Some(l) = &link {
            if l.state == LinkState::Linked {
                if let Some(gid) = &l.asana_gid {
                    if full {
                        self.backfill_comments(guid, gid).await?;
                    }
                    return Ok(Ensured {
                        gid: gid.clone(),
                        created: false,
                        assignee_note: None,
                    });
                }
            }
            if l.state == LinkState::Creating {
                // Asana compares with its own clock: allow for skew between the two.
                let since = l
                    .creating_since
                    .or(l.last_synced_at)
                    .map(|t| t - chrono::Duration::minutes(CLOCK_SKEW_MINUTES));
                let found = self
                    .inner
                    .remote
                    .find_task_by_marker(guid, since)
                    .await
                    .map_err(|e| PushFailure::from_remote(&e))?;
                if let Some(task) = found {
                    tracing::info!(guid = %guid, asana_gid = %task.gid, "found the task of an earlier create; linking it");
                    self.put_link(guid, &task.gid, Some(task.modified_at))
                        .await?;
                    if full {
                        self.backfill_comments(guid, &task.gid).await?;
                    }
                    return Ok(Ensured {
                        gid: task.gid,
                        created: false,
                        assignee_note: None,
                    });
                }
            }
        }
        let ensured = self.create_remote_task(guid, snap).await?;
        if full {
            self.backfill_comments(guid, &ensured.gid).await?;
        }
        Ok(ensured)
    }

    async fn put_link(
        &self,
        guid: &str,
        gid: &str,
        modified: Option<chrono::DateTime<Utc>>,
    ) -> std::result::Result<(), PushFailure> {
        self.inner
            .local
            .sync_link_put(SyncLink {
                ticket_guid: guid.to_string(),
                asana_gid: Some(gid.to_string()),
                state: LinkState::Linked,
                last_synced_at: Some(Utc::now()),
                remote_modified_at: modified,
                creating_since: None,
            })
            .await
            .map_err(|e| PushFailure::local(&e))
    }

    /// Creates the ticket's task from its current state (after recording `creating`).
    async fn create_remote_task(
        &self,
        guid: &str,
        snap: &mut Agreed,
    ) -> std::result::Result<Ensured, PushFailure> {
        let local = &self.inner.local;
        let lf = |e: ticket_provider_api::Error| PushFailure::local(&e);
        let t = local.get_ticket(guid).await.map_err(lf)?.ticket;
        local
            .sync_link_put(SyncLink {
                ticket_guid: guid.to_string(),
                asana_gid: None,
                state: LinkState::Creating,
                last_synced_at: None,
                remote_modified_at: None,
                creating_since: Some(Utc::now()),
            })
            .await
            .map_err(lf)?;
        *snap = Agreed::from(&Fields::of(&t));
        snapshot::save(local, guid, snap).await.map_err(lf)?;
        let new = NewTicket {
            subject: t.subject.clone(),
            description: t.description.clone(),
            priority: t.priority,
            assignee: t.assignee.clone(),
        };
        let remote = &self.inner.remote;
        let mut assignee_note = None;
        let task = match remote.create_task_with_marker(&new, t.status, guid).await {
            Ok(task) => task,
            Err(e)
                if e.kind() == ticket_provider_api::ErrorKind::InvalidInput
                    && new.assignee.is_some() =>
            {
                // A 400 is a refusal: nothing was created. Asana does not know the assignee;
                // create the task unassigned rather than not at all.
                let bare = NewTicket {
                    assignee: None,
                    ..new.clone()
                };
                let task = remote
                    .create_task_with_marker(&bare, t.status, guid)
                    .await
                    .map_err(|e| PushFailure::from_remote(&e))?;
                assignee_note = Some(format!(
                    "Asana refused the assignee {:?} ({e}); the task was created unassigned",
                    new.assignee.as_deref().unwrap_or_default()
                ));
                snap.assignee = Some(None);
                task
            }
            Err(e) => return Err(PushFailure::from_remote(&e)),
        };
        self.asana_reachable();
        self.put_link(guid, &task.gid, Some(task.modified_at))
            .await?;
        tracing::debug!(guid = %guid, asana_gid = %task.gid, "created the Asana task");
        Ok(Ensured {
            gid: task.gid,
            created: true,
            assignee_note,
        })
    }

    /// Posts the comments of a ticket that Asana does not have and no outbox entry will post
    /// (comments written before sync was turned on). A comment whose earlier post may have
    /// reached Asana is looked up first (see [`Self::post_comment_once`]).
    async fn backfill_comments(
        &self,
        guid: &str,
        gid: &str,
    ) -> std::result::Result<(), PushFailure> {
        let local = &self.inner.local;
        let lf = |e: ticket_provider_api::Error| PushFailure::local(&e);
        let details = local.get_ticket(guid).await.map_err(lf)?;
        let entries = local.outbox_for_ticket(guid).await.map_err(lf)?;
        let referenced: HashSet<&str> = entries.iter().filter_map(entry_comment_guid).collect();
        for c in &details.comments {
            if referenced.contains(c.comment_guid.as_str()) {
                continue;
            }
            self.post_comment_once(gid, &c.comment_guid, &c.body, c.author.as_deref())
                .await?;
        }
        Ok(())
    }

    /// Carries one outbox entry out on task `gid`.
    async fn apply_entry(
        &self,
        gid: &str,
        e: &OutboxEntry,
        snap: &mut Agreed,
    ) -> std::result::Result<(), PushFailure> {
        let remote = &self.inner.remote;
        let rf = |e: ticket_provider_api::Error| PushFailure::from_remote(&e);
        let p = &e.payload;
        match e.operation.as_str() {
            // A create set aside (Asana refused the assignee) and retried by hand: its payload
            // holds the ticket's current values; set them all (absolute, so redone safely).
            "create" if p.get("retried").and_then(Value::as_bool) == Some(true) => {
                self.apply_retried_create(gid, e, snap).await
            }
            // The task exists: ensure_task created it from the ticket's current state.
            "create" => Ok(()),
            "update" => {
                let changes = TicketUpdate {
                    subject: str_of(p, "subject").map(str::to_string),
                    description: str_of(p, "description").map(str::to_string),
                    priority: str_of(p, "priority").and_then(|s| s.parse::<Priority>().ok()),
                };
                if changes.is_empty() {
                    return Ok(());
                }
                remote.set_fields(gid, &changes).await.map_err(rf)?;
                if let Some(s) = changes.subject {
                    snap.subject = Some(s);
                }
                if let Some(d) = changes.description {
                    snap.description = Some(d);
                }
                if let Some(pr) = changes.priority {
                    snap.priority = Some(pr);
                }
                Ok(())
            }
            "change_status" | "close" | "resolve" | "escalate" => {
                let status: Status = str_of(p, "status")
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| {
                        PushFailure::Permanent(format!(
                            "outbox entry {} has no valid status in its payload",
                            e.id
                        ))
                    })?;
                remote.move_task(gid, status).await.map_err(rf)?;
                snap.status = Some(status);
                match p.get("comment") {
                    Some(c) if c.is_object() => self.push_comment(gid, e, c).await,
                    _ => Ok(()),
                }
            }
            "assign" => {
                let who = str_of(p, "assignee").ok_or_else(|| {
                    PushFailure::Permanent(format!("outbox entry {} names no assignee", e.id))
                })?;
                TicketProvider::assign(remote, gid, who).await.map_err(rf)?;
                snap.assignee = Some(Some(who.to_string()));
                Ok(())
            }
            "add_comment" => self.push_comment(gid, e, p).await,
            other => Err(PushFailure::Permanent(format!(
                "unknown outbox operation {other:?}"
            ))),
        }
    }

    /// Sets every field of a retried `create` entry's payload on task `gid`.
    async fn apply_retried_create(
        &self,
        gid: &str,
        e: &OutboxEntry,
        snap: &mut Agreed,
    ) -> std::result::Result<(), PushFailure> {
        let remote = &self.inner.remote;
        let rf = |e: ticket_provider_api::Error| PushFailure::from_remote(&e);
        let p = &e.payload;
        let changes = TicketUpdate {
            subject: str_of(p, "subject").map(str::to_string),
            description: str_of(p, "description").map(str::to_string),
            priority: str_of(p, "priority").and_then(|s| s.parse::<Priority>().ok()),
        };
        if !changes.is_empty() {
            remote.set_fields(gid, &changes).await.map_err(rf)?;
        }
        if let Some(status) = str_of(p, "status").and_then(|s| s.parse::<Status>().ok()) {
            remote.move_task(gid, status).await.map_err(rf)?;
            snap.status = Some(status);
        }
        if let Some(who) = str_of(p, "assignee") {
            TicketProvider::assign(remote, gid, who).await.map_err(rf)?;
            snap.assignee = Some(Some(who.to_string()));
        }
        if let Some(s) = changes.subject {
            snap.subject = Some(s);
        }
        if let Some(d) = changes.description {
            snap.description = Some(d);
        }
        if let Some(pr) = changes.priority {
            snap.priority = Some(pr);
        }
        Ok(())
    }

    /// Posts the comment of outbox entry `e` (payload `c`) unless it already was.
    async fn push_comment(
        &self,
        gid: &str,
        e: &OutboxEntry,
        c: &Value,
    ) -> std::result::Result<(), PushFailure> {
        let cg = str_of(c, "comment_guid").ok_or_else(|| {
            PushFailure::Permanent(format!("outbox entry {} names no comment", e.id))
        })?;
        self.post_comment_once(
            gid,
            cg,
            str_of(c, "body").unwrap_or_default(),
            str_of(c, "author"),
        )
        .await
    }

    /// Posts comment `cg` on task `gid` exactly once: a comment with a story in the store's
    /// map is done; after an attempt whose answer never came (the attempt is recorded before
    /// each first post), its story is looked for among the task's comments first (see
    /// [`Self::find_lost_story`]); otherwise the attempt is recorded and the story posted.
    async fn post_comment_once(
        &self,
        gid: &str,
        cg: &str,
        body: &str,
        author: Option<&str>,
    ) -> std::result::Result<(), PushFailure> {
        let local = &self.inner.local;
        let lf = |e: ticket_provider_api::Error| PushFailure::local(&e);
        let rf = |e: ticket_provider_api::Error| PushFailure::from_remote(&e);
        if local.comment_link_get(cg).await.map_err(lf)?.is_some() {
            return Ok(());
        }
        let text = encode(body, author);
        if let Some(since) = local.comment_attempt_get(cg).await.map_err(lf)? {
            if let Some(story) = self.find_lost_story(gid, &text, since).await.map_err(rf)? {
                tracing::info!(asana_gid = %gid, comment = %cg, story = %story, "found the story of an earlier post; linking it");
                local.comment_link_put(cg, &story).await.map_err(lf)?;
                return Ok(());
            }
        }
        // From here on an interruption leaves the attempt: the next try looks first.
        local
            .comment_attempt_put(cg, Utc::now())
            .await
            .map_err(lf)?;
        let story = self
            .inner
            .remote
            .post_comment(gid, &text)
            .await
            .map_err(rf)?;
        local.comment_link_put(cg, &story).await.map_err(lf)?;
        Ok(())
    }

    /// The story of a post whose answer was lost: the oldest comment story on task `gid`
    /// created by the token owner no earlier than `since` (less the clock-skew allowance),
    /// with exactly `text`, that the store has not recorded for another comment. One request
    /// (the task's stories), plus `GET /users/me` once per process.
    pub(crate) async fn find_lost_story(
        &self,
        gid: &str,
        text: &str,
        since: chrono::DateTime<Utc>,
    ) -> Result<Option<String>> {
        let remote = &self.inner.remote;
        let me = remote.token_owner().await?;
        let task = remote.get_remote_task(gid).await?;
        let from = since - chrono::Duration::minutes(CLOCK_SKEW_MINUTES);
        for s in task.comments {
            if s.created_by_gid.as_deref() != Some(me.gid.as_str())
                || s.created_at < from
                || s.text != text
            {
                continue;
            }
            if self
                .inner
                .local
                .comment_link_by_story(&s.story_gid)
                .await?
                .is_none()
            {
                return Ok(Some(s.story_gid));
            }
        }
        Ok(None)
    }

    /// Pushes everything pending now (see [`SyncProvider::flush`]).
    pub(crate) async fn flush_inner(&self) -> Result<FlushReport> {
        use futures::StreamExt;
        let local = &self.inner.local;
        self.inner.breaker.probe_now();
        let entries = local.outbox_pending(usize::MAX).await?;
        let mut seen = HashSet::new();
        let guids: Vec<String> = entries
            .into_iter()
            .filter(|e| seen.insert(e.ticket_guid.clone()))
            .map(|e| e.ticket_guid)
            .collect();
        let mut report = FlushReport {
            tickets: guids.len(),
            ..FlushReport::default()
        };
        let concurrency = self.inner.settings.flush_concurrency.max(1);
        let results: Vec<(String, Result<PushOutcome>)> = futures::stream::iter(guids)
            .map(|g| async move {
                if self.inner.breaker.is_open() {
                    let blocked = PushOutcome {
                        blocked: true,
                        ..PushOutcome::default()
                    };
                    return (g, Ok(blocked));
                }
                let r = self.push_ticket(&g, PushMode::Flush).await;
                (g, r)
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        for (guid, r) in results {
            match r {
                Ok(o) => {
                    report.pushed += o.pushed;
                    report.set_aside += o.set_aside;
                    report.stopped_early |= o.blocked;
                    report.claimed_elsewhere += usize::from(o.claimed_elsewhere);
                }
                Err(e) => {
                    tracing::warn!(guid = %guid, error = %e, "flush: the ticket stays pending")
                }
            }
        }
        report.pending = local.outbox_counts().await?.0;
        Ok(report)
    }
}
