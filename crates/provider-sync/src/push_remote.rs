//! The push's step 2 (see `push.rs` for the whole push): what Asana is asked for one
//! prepared ticket, in order — create the task (or find the one an earlier, unanswered
//! create made, by its marker), check the conflict rule before overwriting fields of a task
//! that existed (one read, possibly started before the operation's own write: an
//! [`EarlyRead`]), then carry out each entry and post the comments. It never fails: what
//! went wrong is in the [`PushRun`] it returns, for step 3. It also feeds Asana's answers
//! to the circuit breaker.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use provider_asana::TaskPlace;
use ticket_provider_api::{Labels, NewTicket, Result, Ticket, TicketField, TicketValue, Values};

use crate::adoption::Adoption;
use crate::conflict::adopt;
use crate::conflict::{merge, Pending};
use crate::db::{Link, LinkState};
use crate::engine::Engine;
use crate::error::PushFailure;
use crate::locks::ClaimGuard;
use crate::outbox::{Change, CommentPayload, OutboxEntry};
use crate::push_mark;
use crate::push_store::{EntryOutcome, Prepared, PushRun};
use crate::reconcile::{remote_fields, CLOCK_SKEW_MINUTES};
use crate::snapshot::{carries, fields_of, synced_fields, CarriedFields};
use crate::story::encode;

/// The task's values as a ticket would hold them: the built-in fields, the `carried` custom
/// fields and the labels.
fn new_ticket(t: &Ticket, carried: &CarriedFields) -> NewTicket {
    NewTicket {
        subject: t.subject.clone(),
        description: t.description.clone(),
        priority: t.priority,
        assignee: t.assignee.clone(),
        due: t.due,
        fields: t
            .fields
            .iter()
            .filter(|(name, _)| carried.contains(*name))
            .map(|(name, v)| (name.clone(), v.clone()))
            .collect(),
        labels: t.labels.clone(),
    }
}

/// The labels to add to and remove from a task that has `seen` for it to have `want`.
fn label_changes(seen: &Labels, want: &Labels) -> (Labels, Labels) {
    (
        want.difference(seen).cloned().collect(),
        seen.difference(want).cloned().collect(),
    )
}

impl Engine {
    /// Feeds a failure to the breaker.
    fn note_failure(&self, f: &PushFailure) {
        match f {
            PushFailure::Temporary {
                asana_down: true, ..
            } => self.breaker.failure(),
            // Asana answered (it refused, or asked us to slow down): it is up.
            _ => self.asana_answered(),
        }
    }

    /// Asana answered. When that closes the breaker (Asana is back), the changes that piled
    /// up meanwhile are flushed in the background, once at a time.
    pub(crate) fn asana_answered(&self) {
        use std::sync::atomic::Ordering;
        if !self.breaker.success()
            || self.is_shut_down()
            || self.catching_up.swap(true, Ordering::SeqCst)
        {
            return;
        }
        let Some(this) = self.me.upgrade() else {
            return;
        };
        tracing::info!("Asana is reachable again; pushing the changes kept meanwhile");
        let handle = tokio::spawn(async move {
            match this.flush().await {
                Ok(r) => tracing::info!(
                    pushed = r.pushed,
                    pending = r.pending,
                    "catch-up flush done"
                ),
                Err(e) => tracing::warn!(error = %e, "catch-up flush failed"),
            }
            this.catching_up.store(false, Ordering::SeqCst);
        });
        self.track(handle);
    }

    /// Step 2: everything Asana is asked, in order. Never fails: what went wrong is in the
    /// entries' outcomes.
    pub(crate) async fn push_remote(
        &self,
        prep: &Prepared,
        claim: &ClaimGuard,
        early: Option<EarlyRead>,
    ) -> PushRun {
        let guid = &prep.guid;
        let mut run = PushRun {
            agreed: prep.link.agreed.clone(),
            ..PushRun::default()
        };
        let first = prep.entries.first().map(|e| e.id);
        let fail_first = |run: &mut PushRun, f: &PushFailure| {
            if let Some(id) = first {
                run.outcomes
                    .push((id, EntryOutcome::Failed(f.message().to_string())));
            } else {
                tracing::warn!(guid = %guid, error = %f.message(), "cannot push the ticket");
            }
        };
        // The task.
        let mut skip: HashSet<i64> = HashSet::new();
        let mut created = false;
        let gid = match prep.link.linked_gid() {
            Some(g) => g.to_string(),
            None => match self.ensure_task(prep, &mut run).await {
                Ok((gid, was_created, assignee_note)) => {
                    created = was_created;
                    if let Some(note) = assignee_note {
                        tracing::warn!(guid = %guid, reason = %note, "created the Asana task without its assignee");
                        if let Some(e) = prep
                            .entries
                            .iter()
                            .find(|e| matches!(e.change, Change::Create(_)))
                        {
                            run.outcomes.push((e.id, EntryOutcome::SetAside(note)));
                            skip.insert(e.id);
                        }
                    }
                    gid
                }
                Err(f) => {
                    self.note_failure(&f);
                    // No task is linked: a 404/403 here is a refusal of the create.
                    if matches!(f, PushFailure::Permanent(_) | PushFailure::Gone(_)) {
                        if let Some(id) = first {
                            tracing::warn!(guid = %guid, reason = %f.message(), "Asana refused the task; set aside");
                            run.outcomes
                                .push((id, EntryOutcome::SetAside(f.message().to_string())));
                            return run;
                        }
                    }
                    fail_first(&mut run, &f);
                    return run;
                }
            },
        };
        run.gid = Some(gid.clone());
        let to_apply: Vec<&OutboxEntry> = prep
            .entries
            .iter()
            .filter(|e| !skip.contains(&e.id))
            .collect();
        // Before overwriting fields of a task that existed: what changed in Asana since the
        // last agreement (one request).
        let owned: Vec<OutboxEntry> = to_apply.iter().map(|e| (*e).clone()).collect();
        let writes = Pending::written_by(&owned);
        if !created && writes.any() {
            match self
                .check_remote(prep, &gid, &writes, &mut run, early)
                .await
            {
                Ok(()) => {}
                Err(PushFailure::Gone(reason)) => {
                    // The task is deleted or out of reach: the link is lost, the entries
                    // stay pending.
                    run.lost = Some(reason);
                    return run;
                }
                Err(PushFailure::Permanent(reason)) => {
                    // Asana refuses to show the task: it refuses the writes too, and each
                    // entry is set aside with its own reason below.
                    tracing::debug!(guid = %guid, reason = %reason, "cannot read the task before the push");
                }
                Err(f) => {
                    self.note_failure(&f);
                    if let Some(e) = to_apply.first() {
                        run.outcomes
                            .push((e.id, EntryOutcome::Failed(f.message().to_string())));
                    }
                    return run;
                }
            }
        }
        for e in to_apply {
            if run.asana_mark.is_some_and(|m| e.id <= m) {
                // Asana's push mark says this entry was carried out already: the store is
                // behind Asana (restored from a copy, or a push's record was lost).
                tracing::warn!(guid = %guid, entry = e.id, operation = e.change.operation(), "Asana already holds this change (the store is behind it); not pushing it again");
                if let Err(f) = self.link_pushed_comment(gid.as_str(), e, &mut run).await {
                    // The task's comments could not be read: the entry stays pending, so
                    // that its story is linked later (by this push again, or by a pull that
                    // finds the pending comment's text); done unlinked, a pull would import
                    // the story as a second comment (found by the simulation, seed 1501).
                    self.note_failure(&f);
                    run.outcomes
                        .push((e.id, EntryOutcome::Failed(f.message().to_string())));
                    return run;
                }
                run.already_pushed.push(e.id);
                run.outcomes.push((e.id, EntryOutcome::Done));
                continue;
            }
            if !claim.still_held().await {
                // Another instance took the ticket over after our claim expired.
                return run;
            }
            run.wrote = true;
            match self.apply_entry(prep, &gid, e, created, &mut run).await {
                Ok(()) => {
                    self.asana_answered();
                    run.outcomes.push((e.id, EntryOutcome::Done));
                }
                Err(f) => {
                    self.note_failure(&f);
                    match f {
                        PushFailure::Gone(reason) if prep.link.linked_gid().is_some() => {
                            run.lost = Some(reason);
                            return run;
                        }
                        PushFailure::Permanent(reason) | PushFailure::Gone(reason) => {
                            tracing::warn!(guid = %guid, entry = e.id, operation = e.change.operation(), reason = %reason, "Asana refused the change; set aside");
                            run.outcomes.push((e.id, EntryOutcome::SetAside(reason)));
                        }
                        PushFailure::Temporary { message, .. } => {
                            tracing::warn!(guid = %guid, entry = e.id, operation = e.change.operation(), error = %message, "push failed; kept for retry");
                            run.outcomes.push((e.id, EntryOutcome::Failed(message)));
                            return run;
                        }
                    }
                }
            }
        }
        for c in &prep.backfill {
            run.wrote = true;
            match self.post_comment_once(prep, &gid, c, None).await {
                Ok(story) => run.comment_links.push((c.comment_guid.clone(), story)),
                Err(PushFailure::Gone(reason)) if prep.link.linked_gid().is_some() => {
                    run.lost = Some(reason);
                    break;
                }
                Err(f) => {
                    self.note_failure(&f);
                    tracing::warn!(guid = %guid, comment = %c.comment_guid, error = %f.message(), "cannot post an earlier comment; the next full push tries again");
                    break;
                }
            }
        }
        run
    }

    /// The ticket's task when it is not linked: found by marker after an earlier create whose
    /// outcome is unknown, else created now from the ticket's current state. `(gid, created
    /// now, why the assignee was left out)`.
    async fn ensure_task(
        &self,
        prep: &Prepared,
        run: &mut PushRun,
    ) -> std::result::Result<(String, bool, Option<String>), PushFailure> {
        let guid = &prep.guid;
        let remote = &self.remote;
        if !prep.fresh_create {
            // Asana compares with its own clock: allow for skew between the two.
            let since = prep
                .link
                .creating_since
                .or(prep.link.last_synced_at)
                .map(|t| t - chrono::Duration::minutes(CLOCK_SKEW_MINUTES));
            let candidates = remote
                .tasks_with_marker(guid, since)
                .await
                .map_err(|e| PushFailure::from_remote(&e))?;
            let mut found = None;
            if !candidates.is_empty() {
                let me = remote
                    .token_owner()
                    .await
                    .map_err(|e| PushFailure::from_remote(&e))?
                    .gid;
                let attempt = prep.link.creating_since.or(prep.link.last_synced_at);
                for task in candidates {
                    let verdict =
                        Adoption::of(task.created_by.as_deref(), task.created_at, &me, attempt);
                    match verdict.refusal() {
                        None if found.is_none() => found = Some(task),
                        None => {}
                        Some(why) => tracing::warn!(
                            guid = %guid,
                            asana_gid = %task.gid,
                            "a task carries this ticket's marker but is not adopted: {why}; it stays an orphan"
                        ),
                    }
                }
            }
            if let Some(task) = found {
                tracing::info!(guid = %guid, asana_gid = %task.gid, "found the task of an earlier create; linking it");
                // Its `modified_at` is not recorded: people may have commented on the task
                // since it was created, and a recorded time would tell the next pull that
                // its comments are known (found by the simulation, seed 0).
                return Ok((task.gid, false, None));
            }
            // Not found: it is created now from the ticket's current state.
            run.agreed = fields_of(&prep.ticket, &self.carried()).into();
        }
        let t = &prep.ticket;
        let mut new = new_ticket(t, &self.carried());
        // The task is made from the ticket's current state, which holds every pending
        // change of fields; comments are posted afterwards. So the mark covers the entries
        // up to the first one that posts a comment.
        let made = prep
            .entries
            .iter()
            .take_while(|e| e.change.comment().is_none())
            .map(|e| e.id)
            .last();
        if let Some(m) = made {
            new.description = push_mark::with_mark(&new.description, m, &prep.guid);
        }
        run.wrote = true;
        let mut assignee_note = None;
        let task = match remote.create_task_lean(&new, t.status, guid).await {
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
                    .create_task_lean(&bare, t.status, guid)
                    .await
                    .map_err(|e| PushFailure::from_remote(&e))?;
                assignee_note = Some(format!(
                    "Asana refused the assignee {:?} ({e}); the task was created unassigned",
                    new.assignee.as_deref().unwrap_or_default()
                ));
                run.agreed
                    .insert(TicketField::Assignee, TicketValue::Person(None));
                task
            }
            Err(e) => return Err(PushFailure::from_remote(&e)),
        };
        self.asana_answered();
        tracing::debug!(guid = %guid, asana_gid = %task.gid, "created the Asana task");
        run.remote_modified_at = Some(task.modified_at);
        Ok((task.gid, true, assignee_note))
    }

    /// The conflict rule before a push overwrites fields (`writes`) of task `gid`: reads the
    /// task (one request) and records each field both sides changed since the last agreement
    /// (see [`crate::conflict`]) in `run`; the local value is pushed afterwards.
    async fn check_remote(
        &self,
        prep: &Prepared,
        gid: &str,
        writes: &Pending,
        run: &mut PushRun,
        early: Option<EarlyRead>,
    ) -> std::result::Result<(), PushFailure> {
        let rf = |e: ticket_provider_api::Error| PushFailure::from_remote(&e);
        let mut answer = None;
        if let Some(mut early) = early {
            let link = early.link.clone();
            match (&mut early.read).await {
                Ok(Ok(tasks)) => {
                    let seen = match tasks.get(gid) {
                        Some(Ok(t)) => Some(t.modified_at),
                        _ => None,
                    };
                    let usable = match seen {
                        Some(m) => early_read_usable(&link, &prep.link, m),
                        // Asana refused this task: as good as a read now, on the same link.
                        None => link == prep.link,
                    };
                    if usable {
                        answer = Some(Ok(tasks));
                    }
                }
                Ok(Err(e)) if link == prep.link => answer = Some(Err(e)),
                _ => {}
            }
        }
        let answer = match answer {
            Some(a) => a,
            None => self.remote.get_remote_tasks(&[gid.to_string()]).await,
        };
        let mut read = answer.map_err(rf)?;
        let task = read
            .remove(gid)
            .unwrap_or_else(|| {
                Err(ticket_provider_api::Error::internal(format!(
                    "Asana task {gid} was not read"
                )))
            })
            .map_err(rf)?;
        self.asana_answered();
        run.seen = Some(TaskPlace::of(&task));
        let (description, mark) = push_mark::split(&task.description, &prep.guid);
        run.seen_description = Some(description);
        run.asana_mark = mark;
        // Entries at or below Asana's push mark were carried out already: they are not
        // pending changes (see `push_remote`), so Asana's later values are taken for them.
        let live: Vec<OutboxEntry> = prep
            .entries
            .iter()
            .filter(|e| mark.is_none_or(|m| e.id > m))
            .cloned()
            .collect();
        let live_writes = Pending::written_by(&live);
        let carried = self.carried();
        let (remote, disagreeing) = remote_fields(&task, Some(&prep.ticket), &run.agreed, &carried);
        run.labels_seen = remote.labels().cloned();
        let merged = merge(
            &run.agreed,
            &fields_of(&prep.ticket, &carried),
            &remote,
            &Pending::of(&live),
        );
        for c in merged.conflicts {
            if writes.touches(&c.field) && live_writes.touches(&c.field) {
                tracing::warn!(
                    guid = %prep.guid,
                    asana_gid = %gid,
                    field = %c.field.name(),
                    "conflict: the field changed in Asana and locally; the local value wins and Asana's value is kept as a comment"
                );
                adopt(&mut run.agreed, &c.field, &remote, disagreeing);
                run.conflicts.push(c);
            }
        }
        Ok(())
    }

    /// Carries one outbox entry out on task `gid` (`created`: the task was just made from
    /// the ticket's current state).
    async fn apply_entry(
        &self,
        prep: &Prepared,
        gid: &str,
        e: &OutboxEntry,
        created: bool,
        run: &mut PushRun,
    ) -> std::result::Result<(), PushFailure> {
        let remote = &self.remote;
        let rf = |e: ticket_provider_api::Error| PushFailure::from_remote(&e);
        match &e.change {
            // A create set aside (Asana refused the assignee) and retried by hand: its payload
            // holds the ticket's values; set them all (absolute, so redone safely).
            Change::Create(p) if p.retried && !created => {
                let carried = self.carried();
                let mut values: Values = synced_fields(&carried)
                    .into_iter()
                    .filter_map(|f| p.values.get_or_default(&f).map(|v| (f, v)))
                    .collect();
                let status = values.remove(&TicketField::Status);
                let assignee = values.remove(&TicketField::Assignee);
                self.write_values(prep, gid, e, &values, run).await?;
                if let Some(TicketValue::Status(status)) = status {
                    remote.move_task(gid, status).await.map_err(rf)?;
                    run.seen = Some(TaskPlace::at(status));
                    run.agreed
                        .insert(TicketField::Status, TicketValue::Status(status));
                    run.agreed.status_from = None;
                }
                if let Some(TicketValue::Person(Some(who))) = assignee {
                    remote.assign(gid, &who).await.map_err(rf)?;
                    run.agreed
                        .insert(TicketField::Assignee, TicketValue::Person(Some(who)));
                }
                Ok(())
            }
            // The task exists: it was created (or found) from the ticket's current state.
            Change::Create(_) => Ok(()),
            Change::Update(p) => {
                let carried = self.carried();
                let values: Values = p
                    .values
                    .iter()
                    .filter(|(f, _)| carries(&carried, f))
                    .map(|(f, v)| (f.clone(), v.clone()))
                    .collect();
                self.write_values(prep, gid, e, &values, run).await
            }
            Change::Status(_, p) => {
                match run.seen {
                    Some(seen) => remote.move_task_from(gid, p.status, seen).await,
                    None => remote.move_task(gid, p.status).await,
                }
                .map_err(rf)?;
                run.seen = Some(TaskPlace::at(p.status));
                run.agreed
                    .insert(TicketField::Status, TicketValue::Status(p.status));
                run.agreed.status_from = None;
                if let Some(c) = &p.comment {
                    let story = self
                        .post_comment_once(prep, gid, c, Some(e.created_at))
                        .await?;
                    run.comment_links.push((c.comment_guid.clone(), story));
                }
                Ok(())
            }
            Change::Assign(p) => {
                remote.assign(gid, &p.assignee).await.map_err(rf)?;
                run.agreed.insert(
                    TicketField::Assignee,
                    TicketValue::Person(Some(p.assignee.clone())),
                );
                Ok(())
            }
            Change::Comment(c) => {
                let story = self
                    .post_comment_once(prep, gid, c, Some(e.created_at))
                    .await?;
                run.comment_links.push((c.comment_guid.clone(), story));
                Ok(())
            }
        }
    }

    /// Writes `values` (the fields of one entry that an update carries: not the status nor
    /// the assignee) to task `gid` in one request, with the push mark on the description
    /// (the entry's, else the one Asana has), and takes them as agreed. Labels are added and
    /// removed relative to the task's as last seen (else as agreed; else none are removed).
    /// Nothing is sent when nothing differs.
    async fn write_values(
        &self,
        prep: &Prepared,
        gid: &str,
        e: &OutboxEntry,
        values: &Values,
        run: &mut PushRun,
    ) -> std::result::Result<(), PushFailure> {
        let mut changes = values.to_update();
        if let Some(want) = values.labels() {
            let seen = run
                .labels_seen
                .clone()
                .or_else(|| run.agreed.labels().cloned())
                .unwrap_or_default();
            (changes.add_labels, changes.remove_labels) = label_changes(&seen, want);
        }
        if !changes.is_empty() {
            // The push mark rides on the same write: the entry's description, else the one
            // Asana has (unless the task was just created: its notes carry the mark).
            let description = changes
                .description
                .clone()
                .or_else(|| run.seen_description.clone());
            changes.description = description
                .as_deref()
                .map(|d| push_mark::with_mark(d, e.id, &prep.guid));
            self.remote
                .set_fields(gid, &changes)
                .await
                .map_err(|e| PushFailure::from_remote(&e))?;
            if description.is_some() {
                run.seen_description = description;
            }
            if let Some(want) = values.labels() {
                run.labels_seen = Some(want.clone());
            }
        }
        run.agreed.extend(values.clone());
        Ok(())
    }

    /// An entry carried out already (at or below Asana's push mark) that posted a comment:
    /// its story is looked for among the token owner's comments on the task since the
    /// comment was made, and linked, so that a pull does not take it for someone else's.
    /// When it cannot be found the entry is still done: posting it again would show it
    /// twice. A read that failed for a time (5xx, 429, timeout, transport) is returned, and
    /// the entry stays pending.
    async fn link_pushed_comment(
        &self,
        gid: &str,
        e: &OutboxEntry,
        run: &mut PushRun,
    ) -> std::result::Result<(), PushFailure> {
        let c = match &e.change {
            Change::Comment(c) => c,
            Change::Status(_, p) => match &p.comment {
                Some(c) => c,
                None => return Ok(()),
            },
            _ => return Ok(()),
        };
        let text = encode(&c.body, c.author.as_deref());
        match self.find_lost_story(gid, &text, e.created_at).await {
            Ok(Some(story)) => run.comment_links.push((c.comment_guid.clone(), story)),
            Ok(None) => {
                tracing::warn!(asana_gid = %gid, comment = %c.comment_guid, "a comment Asana's push mark counts as posted was not found among the task's comments")
            }
            Err(err) => {
                tracing::warn!(asana_gid = %gid, comment = %c.comment_guid, error = %err, "cannot look for the story of a comment posted before");
                let f = PushFailure::from_remote(&err);
                if matches!(f, PushFailure::Temporary { .. }) {
                    return Err(f);
                }
            }
        }
        Ok(())
    }

    /// Posts comment `c` on task `gid` exactly once; its story gid. A comment with a story
    /// is done; after an earlier attempt whose answer never came, its story is looked for
    /// among the task's comments first (see [`Self::find_lost_story`]); otherwise it is
    /// posted (its attempt was recorded by the prepare step).
    async fn post_comment_once(
        &self,
        prep: &Prepared,
        gid: &str,
        c: &CommentPayload,
        queued_at: Option<DateTime<Utc>>,
    ) -> std::result::Result<String, PushFailure> {
        let rf = |e: ticket_provider_api::Error| PushFailure::from_remote(&e);
        if let Some(story) = prep.stories.get(&c.comment_guid) {
            return Ok(story.clone());
        }
        let text = encode(&c.body, c.author.as_deref());
        // An earlier attempt recorded; or none recorded, but the comment was queued before
        // this instance started, so the store may have lost the record of its post (it was
        // restored from a copy): one read of the task's comments.
        let since = prep
            .attempts
            .get(&c.comment_guid)
            .copied()
            .or_else(|| queued_at.filter(|t| *t < self.started_at));
        if let Some(since) = since {
            if let Some(story) = self.find_lost_story(gid, &text, since).await.map_err(rf)? {
                tracing::info!(asana_gid = %gid, comment = %c.comment_guid, story = %story, "found the story of an earlier post; linking it");
                return Ok(story);
            }
        }
        self.remote.post_comment(gid, &text).await.map_err(rf)
    }

    /// The story of a post whose answer was lost: the oldest comment story on task `gid`
    /// created by the token owner no earlier than `since` (less the clock-skew allowance),
    /// with exactly `text`, that the store has not recorded for another comment. One request
    /// (the task's stories), plus `GET /users/me` once per process.
    pub(crate) async fn find_lost_story(
        &self,
        gid: &str,
        text: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<String>> {
        let remote = &self.remote;
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
                .settled()
                .await
                .comment_of_story(&s.story_gid)
                .await?
                .is_none()
            {
                return Ok(Some(s.story_gid));
            }
        }
        Ok(None)
    }
}

/// Asana's answer to a read of one task.
type TaskRead = ticket_provider_api::Result<
    HashMap<String, ticket_provider_api::Result<provider_asana::RemoteTask>>,
>;

/// The conflict check's read of a linked task, started before the operation's own write
/// (see [`Engine::write_and_push`]), with the link this instance last committed for the
/// ticket when it started.
/// Dropped unused, it stops the read.
pub(crate) struct EarlyRead {
    link: Link,
    read: tokio::task::JoinHandle<TaskRead>,
}

impl Drop for EarlyRead {
    fn drop(&mut self) {
        self.read.abort();
    }
}

impl Engine {
    /// Starts the conflict check's read of ticket `guid`'s task now, when this instance
    /// stored (or queued) the ticket's link, so that Asana answers while the store writes.
    pub(crate) fn start_early_read(&self, guid: &str) -> Option<EarlyRead> {
        let this = self.me.upgrade()?;
        let link = self.commits.committed_link(guid)?;
        let gid = link.linked_gid()?.to_string();
        let read = tokio::spawn(async move { this.remote.get_remote_tasks(&[gid]).await });
        Some(EarlyRead { link, read })
    }
}

/// Whether a read of the task that began after `started_with` was the stored link can stand
/// in for the conflict check's read, now that the stored link is `now` and the read saw the
/// task last modified at `seen_modified`. It can when nothing was agreed since (the same
/// link), or when only a pull agreed since — no push wrote the task (`pushed_at` is the
/// same) — and the read saw the task at least as late as that pull did. Otherwise the read
/// may predate what was agreed, and the check reads again.
pub(crate) fn early_read_usable(
    started_with: &Link,
    now: &Link,
    seen_modified: DateTime<Utc>,
) -> bool {
    if started_with == now {
        return true;
    }
    now.state == LinkState::Linked
        && now.asana_gid == started_with.asana_gid
        && now.pushed_at == started_with.pushed_at
        && now.remote_modified_at.is_some_and(|m| seen_modified >= m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn link(pushed: &str, remote_modified: &str, synced: &str) -> Link {
        Link {
            ticket_guid: "t".into(),
            asana_gid: Some("1".into()),
            state: LinkState::Linked,
            last_synced_at: Some(at(synced)),
            remote_modified_at: Some(at(remote_modified)),
            creating_since: None,
            agreed: crate::snapshot::Agreed::default(),
            pushed_at: Some(at(pushed)),
        }
    }

    #[test]
    fn early_read_usable_by_table() {
        let base = link(
            "2026-12-01T10:00:00Z",
            "2026-12-01T10:00:00Z",
            "2026-12-01T10:00:00Z",
        );
        // A pull agreed since (it saw the task modified at 10:05).
        let pulled = link(
            "2026-12-01T10:00:00Z",
            "2026-12-01T10:05:00Z",
            "2026-12-01T10:06:00Z",
        );
        // Another instance's push wrote the task since.
        let pushed = link(
            "2026-12-01T10:07:00Z",
            "2026-12-01T10:05:00Z",
            "2026-12-01T10:07:00Z",
        );
        let mut relinked = base.clone();
        relinked.asana_gid = Some("2".into());
        let mut lost = pulled.clone();
        lost.state = LinkState::Lost;
        // A pull took a value from Asana (it saw the task modified at 10:05).
        let mut agreed_else = pulled.clone();
        agreed_else
            .agreed
            .insert(TicketField::Subject, TicketValue::Text("other".into()));
        // (link when the read began, link now, the task's modified_at the read saw, usable)
        let cases = [
            (&base, &base, "2026-12-01T09:00:00Z", true),
            (&base, &base, "2026-12-01T11:00:00Z", true),
            (&base, &pulled, "2026-12-01T10:05:00Z", true),
            (&base, &pulled, "2026-12-01T10:06:00Z", true),
            (&base, &pulled, "2026-12-01T10:04:59Z", false),
            (&base, &pushed, "2026-12-01T10:08:00Z", false),
            (&base, &relinked, "2026-12-01T11:00:00Z", false),
            (&base, &lost, "2026-12-01T11:00:00Z", false),
            (&base, &agreed_else, "2026-12-01T10:01:00Z", false),
            (&base, &agreed_else, "2026-12-01T10:05:00Z", true),
        ];
        for (i, (began, now, seen, want)) in cases.into_iter().enumerate() {
            assert_eq!(early_read_usable(began, now, at(seen)), want, "case {i}");
        }
    }
}
