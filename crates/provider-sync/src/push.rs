//! The push side: a ticket's outbox entries go to Asana in id order, under the ticket's lock
//! (in this process) and its claim in the store (shared with other processes). A push is
//! three steps:
//!
//! 1. **Prepare** ([`prepare_in_tx`], one store transaction — on the happy path the same one
//!    as the operation's own write): take the claim, read the pending entries, the link with
//!    the last agreed values and the ticket; mark a task about to be created as `creating`
//!    (with the time and the values being sent as the agreed ones) and record the first post
//!    attempt of each comment about to be posted.
//! 2. **Asana** ([`Engine::push_prepared`]): create the task (or find the one an earlier,
//!    unanswered create made, by its marker), check the conflict rule before overwriting
//!    fields of a task that existed (one read), then carry out each entry.
//! 3. **Commit** ([`commit_in_tx`], one store transaction): the link and the agreed values,
//!    each entry completed, failed (kept, with the error) or set aside, the comment links,
//!    the conflicts found (a note and a history row each), and the claim released.
//!
//! On the happy path step 1 runs in the operation's own transaction and step 3 is deferred
//! into the next write transaction (group commit, `deferred.rs`), so back-to-back synced
//! operations cost one store transaction each (a create too). The next operation of the
//! same ticket does not even store it first: its push goes on from the deferred record (a
//! [`Chain`]: the link in memory, the claim still held, the entries done) and the records of
//! the whole chain are stored together when it ends.
//!
//! Crash safety: a task is created only after its link says `creating`; a comment is posted
//! only after its attempt is recorded (a later attempt first looks for the story); every
//! other step sets absolute values and is simply redone; an entry is removed only after its
//! effect is in Asana (an interruption between step 2 and 3 redoes step 2).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use provider_asana::TaskPlace;
use provider_internal::{StoreError, StoreTx};
use ticket_provider_api::{NewTicket, Result, Ticket, TicketUpdate};

use crate::breaker::Permit;
use crate::conflict::{merge, Conflict, Pending};
use crate::db::{self, Link, LinkState};
use crate::deferred::{DeferredCommit, Held};
use crate::engine::Engine;
use crate::error::PushFailure;
use crate::locks::ClaimGuard;
use crate::metrics::PushResult;
use crate::outbox::{Change, CommentPayload, OutboxEntry};
use crate::reconcile::{record_conflicts_in_tx, remote_fields, CLOCK_SKEW_MINUTES};
use crate::snapshot::{Agreed, Fields};
use crate::store::HookNote;
use crate::story::encode;

/// How a push was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushMode {
    /// Inside an operation: give up at once when the breaker is not closed.
    Inline,
    /// Inside an operation whose caller already had the breaker's permission (the first
    /// round does not ask again: it may be the probe).
    Permitted,
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
    /// Entries the push saw that are still pending afterwards.
    pub(crate) left_pending: usize,
    /// Whether the ticket has set-aside entries afterwards.
    pub(crate) any_set_aside: bool,
    /// The task's gid, when linked.
    pub(crate) gid: Option<String>,
    /// True when the ticket's task is lost (before or by this push): its changes stay
    /// pending until `relink` or `unlink`.
    pub(crate) lost: bool,
}

/// What the prepare step found.
#[derive(Debug)]
pub(crate) enum Prep {
    /// Nothing pending (and not a full push): no claim was taken.
    Nothing {
        gid: Option<String>,
        set_aside: bool,
    },
    /// Another instance holds the claim.
    NotClaimed,
    /// The ticket's task is lost ([`LinkState::Lost`]): nothing is pushed, nothing created.
    Lost { set_aside: bool },
    /// Claimed and ready.
    Ready(Box<Prepared>),
}

/// What a push needs, read (and marked) under the claim in one transaction.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    pub(crate) guid: String,
    /// The pending entries, oldest first.
    pub(crate) entries: Vec<OutboxEntry>,
    /// Whether the ticket has set-aside entries.
    pub(crate) set_aside: bool,
    pub(crate) link: Link,
    /// Set when this prepare marked the link `creating` (no earlier attempt to look for).
    pub(crate) fresh_create: bool,
    pub(crate) ticket: Ticket,
    /// Comment guid → story gid of the comments already posted.
    pub(crate) stories: HashMap<String, String>,
    /// Comment guid → the time of an earlier post attempt (before this push).
    pub(crate) attempts: HashMap<String, DateTime<Utc>>,
    /// A full push: the comments no entry posts and Asana does not have yet.
    pub(crate) backfill: Vec<CommentPayload>,
    /// The link as the store holds it. `link` is newer when this push continues a chain of
    /// pushes whose records are not stored yet (see [`Chain`]).
    pub(crate) stored_link: Link,
    /// The records of those earlier pushes, committed with this one.
    pub(crate) carried: Carried,
}

/// What earlier pushes of a chain (see [`Chain`]) did that the store does not know yet:
/// the entries they completed and the comments they posted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Carried {
    pub(crate) done: Vec<i64>,
    pub(crate) comment_links: Vec<(String, String)>,
}

/// The most entries a chain carries before its record is stored anyway.
const CHAIN_MAX: usize = 64;

/// A push of this process whose record (step 3) is still deferred, seen by the next
/// operation of the same ticket: instead of storing that record first, the next push goes
/// on from it — its link as the latest, its claim still held, its entries done — and stores
/// both records at once (group commit within one ticket).
#[derive(Debug, Clone)]
pub(crate) struct Chain {
    /// The link after the earlier pushes (in memory).
    pub(crate) link: Link,
    /// The link as stored.
    pub(crate) stored_link: Link,
    pub(crate) carried: Carried,
}

impl Chain {
    /// The chain a deferred record `d` starts (or extends), when it can be carried on: every
    /// entry it pushed is done, it posted no earlier comments, and the chain is short.
    pub(crate) fn after(d: &DeferredCommit) -> Option<Chain> {
        let all_done = d.run.outcomes.iter().all(|(_, o)| *o == EntryOutcome::Done);
        if !all_done
            || !d.prep.backfill.is_empty()
            || d.run.lost.is_some()
            || !d.run.conflicts.is_empty()
            || d.prep.carried.done.len() >= CHAIN_MAX
        {
            return None;
        }
        let mut carried = d.prep.carried.clone();
        carried
            .done
            .extend(d.run.outcomes.iter().map(|(id, _)| *id));
        carried
            .comment_links
            .extend(d.run.comment_links.iter().cloned());
        Some(Chain {
            link: d.link.clone(),
            stored_link: d.prep.stored_link.clone(),
            carried,
        })
    }
}

/// What an operation wrote in the transaction its push is prepared in: the prepare step
/// does not read it again.
#[derive(Debug, Clone)]
pub(crate) struct Wrote {
    /// The ticket as the operation stored it.
    pub(crate) ticket: Ticket,
    /// The comment the operation added (a comment, or an escalation's reason): it has
    /// neither a story nor a post attempt yet.
    pub(crate) comment: Option<String>,
}

impl Wrote {
    pub(crate) fn new(ticket: Ticket, comment: Option<String>) -> Self {
        Wrote { ticket, comment }
    }
}

/// What the prepare step is told instead of reading it.
#[derive(Debug, Default)]
pub(crate) struct Known<'a> {
    /// This transaction already found that the ticket has no link.
    pub(crate) no_link: bool,
    /// What the operation in this transaction wrote.
    pub(crate) wrote: Option<Wrote>,
    /// This process's deferred record of the ticket's last push, carried on (its claim is
    /// still held); when there is nothing to push, it is stored here.
    pub(crate) chain: Option<&'a Chain>,
}

/// Step 1 (see the module documentation), inside a write transaction; `known`: what the
/// transaction knows already.
pub(crate) fn prepare_in_tx(
    tx: &mut StoreTx<'_>,
    guid: &str,
    owner: &str,
    ttl: Duration,
    full: bool,
    known: Known<'_>,
) -> std::result::Result<Prep, StoreError> {
    let Known {
        no_link,
        wrote,
        chain,
    } = known;
    let (wrote_ticket, new_comment) = match wrote {
        Some(w) => (Some(w.ticket), w.comment),
        None => (None, None),
    };
    let all = db::outbox_of(tx.conn(), guid)?;
    let set_aside = all.iter().any(|e| e.set_aside_reason.is_some());
    let done: HashSet<i64> = chain
        .map(|c| c.carried.done.iter().copied().collect())
        .unwrap_or_default();
    let entries: Vec<OutboxEntry> = all
        .iter()
        .filter(|e| e.set_aside_reason.is_none() && !done.contains(&e.id))
        .cloned()
        .collect();
    if let Some(c) = chain {
        if entries.is_empty() {
            // Nothing more to push: the chain's record is stored now.
            commit_chain_in_tx(tx, guid, c, owner)?;
            let gid = c.link.linked_gid().map(str::to_string);
            return Ok(Prep::Nothing { gid, set_aside });
        }
    }
    let existing = match chain {
        Some(c) => Some(c.link.clone()),
        None if no_link => None,
        None => db::link(tx.conn(), guid)?,
    };
    match existing.as_ref().map(|l| l.state) {
        Some(LinkState::Lost) => return Ok(Prep::Lost { set_aside }),
        Some(LinkState::LocalOnly) => {
            return Ok(Prep::Nothing {
                gid: None,
                set_aside,
            })
        }
        _ => {}
    }
    if entries.is_empty() && !full {
        let gid = existing.and_then(|l| l.linked_gid().map(str::to_string));
        return Ok(Prep::Nothing { gid, set_aside });
    }
    let ttl_us = i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX);
    // A chain's claim is held (its guard renews it while pushing).
    if chain.is_none() && !db::claim(tx.conn(), guid, owner, ttl_us)? {
        return Ok(Prep::NotClaimed);
    }
    let details = if full { Some(tx.details(guid)?) } else { None };
    let ticket = match (&details, wrote_ticket) {
        (Some(d), _) => d.ticket.clone(),
        (None, Some(t)) => t,
        (None, None) => tx
            .ticket(guid)?
            .ok_or_else(|| ticket_provider_api::Error::ticket_not_found(guid))?,
    };
    let now = db::stored_now();
    let (link, fresh_create) = match existing {
        Some(l) => (l, false),
        None => {
            let l = Link {
                ticket_guid: guid.to_string(),
                asana_gid: None,
                state: LinkState::Creating,
                last_synced_at: None,
                remote_modified_at: None,
                creating_since: Some(now),
                agreed: Agreed::from(&Fields::of(&ticket)),
                pushed_at: None,
            };
            db::insert_link(tx.conn(), &l)?;
            (l, true)
        }
    };
    let mut comments: Vec<CommentPayload> = entries
        .iter()
        .filter_map(|e| e.change.comment().cloned())
        .collect();
    let mut backfill = Vec::new();
    if let Some(d) = &details {
        let referenced: HashSet<&str> = all
            .iter()
            .filter_map(|e| e.change.comment().map(|c| c.comment_guid.as_str()))
            .collect();
        for c in &d.comments {
            if !referenced.contains(c.comment_guid.as_str()) {
                backfill.push(CommentPayload::from(c));
            }
        }
        comments.extend(backfill.iter().cloned());
    }
    let (mut stories, mut attempts) = (HashMap::new(), HashMap::new());
    for c in &comments {
        let cg = &c.comment_guid;
        if new_comment.as_ref() == Some(cg) {
            db::first_attempt(tx.conn(), cg, now)?;
            continue;
        }
        if let Some(story) = db::story_of(tx.conn(), cg)? {
            stories.insert(cg.clone(), story);
            continue;
        }
        match db::attempt_of(tx.conn(), cg)? {
            Some(at) => {
                attempts.insert(cg.clone(), at);
            }
            // From here on an interruption leaves the attempt: the next try looks first.
            None => db::first_attempt(tx.conn(), cg, now)?,
        }
    }
    backfill.retain(|c| !stories.contains_key(&c.comment_guid));
    let (stored_link, carried) = match chain {
        Some(c) => (c.stored_link.clone(), c.carried.clone()),
        None => (link.clone(), Carried::default()),
    };
    Ok(Prep::Ready(Box::new(Prepared {
        guid: guid.to_string(),
        entries,
        set_aside,
        link,
        fresh_create,
        ticket,
        stories,
        attempts,
        backfill,
        stored_link,
        carried,
    })))
}

/// How one entry ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EntryOutcome {
    Done,
    SetAside(String),
    Failed(String),
}

/// What step 2 did, for step 3.
#[derive(Debug, Clone, Default)]
pub(crate) struct PushRun {
    /// The task, when it exists (linked, found, or created now).
    gid: Option<String>,
    remote_modified_at: Option<DateTime<Utc>>,
    agreed: Agreed,
    outcomes: Vec<(i64, EntryOutcome)>,
    comment_links: Vec<(String, String)>,
    conflicts: Vec<Conflict>,
    /// Whether Asana may have been written.
    wrote: bool,
    /// Asana answered 404/403 about the linked task: the link becomes lost.
    lost: Option<String>,
    /// Where the task stands, as the conflict check read it (and this push moved it since):
    /// a status entry writes only what differs.
    seen: Option<TaskPlace>,
}

/// What step 3 found.
pub(crate) struct Committed {
    /// Conflict notes were added (new entries to push).
    pub(crate) notes: bool,
    /// The link as committed (unless the task was found lost).
    pub(crate) link: Option<Link>,
}

/// The link step 3 stores for `prep` after `run`.
pub(crate) fn link_after(prep: &Prepared, run: &PushRun) -> Link {
    let mut link = prep.link.clone();
    if let Some(gid) = &run.gid {
        link.asana_gid = Some(gid.clone());
        link.state = LinkState::Linked;
        link.creating_since = None;
        link.last_synced_at = Some(db::stored_now());
        if run.remote_modified_at.is_some() {
            link.remote_modified_at = run.remote_modified_at;
        }
    }
    link.agreed = run.agreed.clone();
    if run.wrote {
        // Still under the claim: a pull of another instance that read Asana before now
        // reads this task again before importing it.
        link.pushed_at = Some(db::stored_now());
    }
    link
}

/// Step 3 (see the module documentation), inside a write transaction: `link` is
/// [`link_after`]`(prep, run)`.
pub(crate) fn commit_in_tx(
    tx: &mut StoreTx<'_>,
    prep: &Prepared,
    run: &PushRun,
    link: &Link,
    owner: &str,
) -> std::result::Result<Committed, StoreError> {
    let guid = &prep.guid;
    store_carried(tx, guid, &prep.carried)?;
    if *link != prep.stored_link {
        db::update_link(tx.conn(), &prep.stored_link, link)?;
    }
    for (id, outcome) in &run.outcomes {
        match outcome {
            EntryOutcome::Done => db::outbox_complete(tx.conn(), guid, *id)?,
            EntryOutcome::SetAside(reason) => {
                db::outbox_set_aside(tx.conn(), guid, *id, reason)?;
            }
            EntryOutcome::Failed(error) => db::outbox_failed(tx.conn(), guid, *id, error)?,
        }
    }
    for (cg, story) in &run.comment_links {
        db::put_comment_link(tx.conn(), cg, story)?;
    }
    record_conflicts_in_tx(tx, guid, &run.conflicts)?;
    if let (Some(why), Some(gid)) = (&run.lost, prep.link.linked_gid()) {
        crate::store::mark_lost_in_tx(tx, guid, gid, why)?;
    }
    db::release(tx.conn(), guid, owner)?;
    let lost = run.lost.is_some() && prep.link.linked_gid().is_some();
    Ok(Committed {
        notes: !run.conflicts.is_empty(),
        link: (!lost).then(|| link.clone()),
    })
}

/// The records of a chain's earlier pushes: their entries done, their comments linked.
fn store_carried(
    tx: &mut StoreTx<'_>,
    guid: &str,
    carried: &Carried,
) -> std::result::Result<(), StoreError> {
    for id in &carried.done {
        db::outbox_complete(tx.conn(), guid, *id)?;
    }
    for (cg, story) in &carried.comment_links {
        db::put_comment_link(tx.conn(), cg, story)?;
    }
    Ok(())
}

/// Stores a chain that ends without a further push: its records, its link, and the claim
/// released.
fn commit_chain_in_tx(
    tx: &mut StoreTx<'_>,
    guid: &str,
    chain: &Chain,
    owner: &str,
) -> std::result::Result<(), StoreError> {
    store_carried(tx, guid, &chain.carried)?;
    if chain.link != chain.stored_link {
        db::update_link(tx.conn(), &chain.stored_link, &chain.link)?;
    }
    db::release(tx.conn(), guid, owner)?;
    Ok(())
}

/// The task's values as a ticket would hold them.
fn new_ticket(t: &Ticket) -> NewTicket {
    NewTicket {
        subject: t.subject.clone(),
        description: t.description.clone(),
        priority: t.priority,
        assignee: t.assignee.clone(),
        due: t.due,
    }
}

impl Engine {
    /// Waits for the breaker's permission as `mode` allows.
    pub(crate) async fn permit(&self, mode: PushMode) -> bool {
        loop {
            match self.breaker.allow() {
                Permit::Go => return true,
                Permit::Skip => return false,
                Permit::Wait if matches!(mode, PushMode::Inline | PushMode::Permitted) => {
                    return false
                }
                Permit::Wait => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

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

    /// Pushes every pending entry of one ticket, in order, under the ticket's lock and its
    /// claim in the store. When another instance holds the claim, nothing is pushed
    /// (`claimed_elsewhere`); inline and full pushes wait up to `claim_wait` for it first.
    pub(crate) async fn push_ticket(&self, guid: &str, mode: PushMode) -> Result<PushOutcome> {
        let _gate = self.pull_gate.read().await;
        let _lock = self.locks.lock(guid).await;
        let mut out = PushOutcome::default();
        let patience = match mode {
            PushMode::Flush => Duration::ZERO,
            PushMode::Inline | PushMode::Permitted | PushMode::Full => self.settings.claim_wait,
        };
        let mut full = mode == PushMode::Full;
        // Conflict notes written by a round are pushed by a further one.
        for round in 0..3 {
            let asked = round == 0 && mode == PushMode::Permitted;
            if !asked && !self.permit(mode).await {
                out.blocked = true;
                return Ok(out);
            }
            let started = std::time::Instant::now();
            let prep = loop {
                let prep = self.prepare(guid, full).await?;
                match prep {
                    Prep::NotClaimed if started.elapsed() < patience => {
                        tokio::time::sleep(Duration::from_millis(25)).await
                    }
                    other => break other,
                }
            };
            match prep {
                Prep::Nothing { gid, set_aside } => {
                    out.gid = gid;
                    out.any_set_aside = set_aside;
                    return Ok(out);
                }
                Prep::Lost { set_aside } => {
                    out.lost = true;
                    out.any_set_aside = set_aside;
                    return Ok(out);
                }
                Prep::NotClaimed => {
                    tracing::debug!(guid = %guid, "another instance is pushing this ticket; its changes stay pending");
                    out.claimed_elsewhere = true;
                    return Ok(out);
                }
                Prep::Ready(p) => {
                    let claim = ClaimGuard::adopt(
                        &self.store,
                        guid,
                        &self.instance_id,
                        self.settings.claim_ttl,
                    )
                    .until_shutdown(&self.shut_down);
                    let notes = self.push_prepared(*p, claim, None, None, &mut out).await?;
                    if !notes {
                        return Ok(out);
                    }
                }
            }
            full = false;
        }
        Ok(out)
    }

    /// Step 1 in a transaction of its own.
    pub(crate) async fn prepare(&self, guid: &str, full: bool) -> Result<Prep> {
        let (g, owner, ttl) = (
            guid.to_string(),
            self.instance_id.clone(),
            self.settings.claim_ttl,
        );
        self.store
            .local()
            .write(move |tx| prepare_in_tx(tx, &g, &owner, ttl, full, Known::default()))
            .await
    }

    /// Steps 2 and 3 for a prepared (claimed) ticket; `true` when conflict notes were added
    /// (to push in a further round).
    ///
    /// `held`: the operation's hold on the ticket (its fast path). With it, a push that
    /// found no conflict defers step 3 to the next write transaction (see `deferred.rs`).
    pub(crate) async fn push_prepared(
        &self,
        prep: Prepared,
        claim: ClaimGuard,
        early: Option<EarlyRead>,
        held: Option<Held>,
        out: &mut PushOutcome,
    ) -> Result<bool> {
        let run = self.push_remote(&prep, &claim, early).await;
        let link = link_after(&prep, &run);
        let deferrable = run.conflicts.is_empty() && run.lost.is_none() && !self.is_shut_down();
        let held = match held {
            Some(h) if deferrable => {
                self.remember_link(&prep.guid, Some(&link));
                self.tally_push(&prep, &run, out);
                self.defer_commit(DeferredCommit {
                    prep,
                    run,
                    link,
                    claim,
                    held: Some(h),
                });
                return Ok(false);
            }
            other => other,
        };
        let owner = self.instance_id.clone();
        let committed = {
            let (prep, run, link) = (prep.clone(), run.clone(), link.clone());
            self.store
                .local()
                .write(move |tx| commit_in_tx(tx, &prep, &run, &link, &owner))
                .await
        };
        drop(held);
        let committed = match committed {
            Ok(c) => {
                claim.released();
                self.remember_link(&prep.guid, c.link.as_ref());
                c
            }
            // The claim is released in the background by the guard.
            Err(e) => return Err(e),
        };
        self.tally_push(&prep, &run, out);
        Ok(committed.notes)
    }

    /// What a push did, into `out` and the metrics.
    fn tally_push(&self, prep: &Prepared, run: &PushRun, out: &mut PushOutcome) {
        let mut left = 0;
        for e in &prep.entries {
            let result = match run.outcomes.iter().find(|(id, _)| *id == e.id) {
                Some((_, EntryOutcome::Done)) => {
                    out.pushed += 1;
                    Some(PushResult::Ok)
                }
                Some((_, EntryOutcome::SetAside(_))) => {
                    out.set_aside += 1;
                    Some(PushResult::SetAside)
                }
                Some((_, EntryOutcome::Failed(_))) => {
                    left += 1;
                    Some(PushResult::Failed)
                }
                None => {
                    left += 1;
                    run.lost.as_ref().map(|_| PushResult::Lost)
                }
            };
            if let Some(r) = result {
                self.metrics.pushed(r);
            }
        }
        self.metrics.conflicts(run.conflicts.len());
        out.left_pending = left;
        out.lost = run.lost.is_some();
        out.any_set_aside = prep.set_aside || out.set_aside > 0;
        out.gid = run
            .gid
            .clone()
            .or(prep.link.linked_gid().map(str::to_string));
    }

    /// Step 2: everything Asana is asked, in order. Never fails: what went wrong is in the
    /// entries' outcomes.
    async fn push_remote(
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
        } else if let Some(e) = early {
            e.read.abort();
        }
        for e in to_apply {
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
            match self.post_comment_once(prep, &gid, c).await {
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
            let found = remote
                .find_task_by_marker(guid, since)
                .await
                .map_err(|e| PushFailure::from_remote(&e))?;
            if let Some(task) = found {
                tracing::info!(guid = %guid, asana_gid = %task.gid, "found the task of an earlier create; linking it");
                run.remote_modified_at = Some(task.modified_at);
                return Ok((task.gid, false, None));
            }
            // Not found: it is created now from the ticket's current state.
            run.agreed = Agreed::from(&Fields::of(&prep.ticket));
        }
        let t = &prep.ticket;
        let new = new_ticket(t);
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
                run.agreed.assignee = Some(None);
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
        if let Some(EarlyRead { link, read }) = early {
            match read.await {
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
        let (remote, _) = remote_fields(&task, Some(&prep.ticket), run.agreed.status);
        let merged = merge(
            &run.agreed,
            &Fields::of(&prep.ticket),
            &remote,
            &Pending::of(&prep.entries),
        );
        for c in merged.conflicts {
            if writes.touches(c.field) {
                tracing::warn!(
                    guid = %prep.guid,
                    asana_gid = %gid,
                    field = c.field.name(),
                    "conflict: the field changed in Asana and locally; the local value wins and Asana's value is kept as a comment"
                );
                run.agreed.adopt(c.field, &remote);
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
                let changes = TicketUpdate {
                    subject: Some(p.subject.clone()),
                    description: Some(p.description.clone()),
                    priority: Some(p.priority),
                    due: Some(p.due),
                };
                remote.set_fields(gid, &changes).await.map_err(rf)?;
                remote.move_task(gid, p.status).await.map_err(rf)?;
                run.seen = Some(TaskPlace::at(p.status));
                run.agreed.subject = Some(p.subject.clone());
                run.agreed.description = Some(p.description.clone());
                run.agreed.priority = Some(p.priority);
                run.agreed.due = Some(p.due);
                run.agreed.status = Some(p.status);
                if let Some(who) = &p.assignee {
                    remote.assign(gid, who).await.map_err(rf)?;
                    run.agreed.assignee = Some(Some(who.clone()));
                }
                Ok(())
            }
            // The task exists: it was created (or found) from the ticket's state.
            Change::Create(_) => Ok(()),
            Change::Update(p) => {
                let changes = TicketUpdate {
                    subject: p.subject.clone(),
                    description: p.description.clone(),
                    priority: p.priority,
                    due: p.due,
                };
                if changes.is_empty() {
                    return Ok(());
                }
                remote.set_fields(gid, &changes).await.map_err(rf)?;
                if let Some(s) = changes.subject {
                    run.agreed.subject = Some(s);
                }
                if let Some(d) = changes.description {
                    run.agreed.description = Some(d);
                }
                if let Some(pr) = changes.priority {
                    run.agreed.priority = Some(pr);
                }
                if let Some(d) = changes.due {
                    run.agreed.due = Some(d);
                }
                Ok(())
            }
            Change::Status(_, p) => {
                match run.seen {
                    Some(seen) => remote.move_task_from(gid, p.status, seen).await,
                    None => remote.move_task(gid, p.status).await,
                }
                .map_err(rf)?;
                run.seen = Some(TaskPlace::at(p.status));
                run.agreed.status = Some(p.status);
                if let Some(c) = &p.comment {
                    let story = self.post_comment_once(prep, gid, c).await?;
                    run.comment_links.push((c.comment_guid.clone(), story));
                }
                Ok(())
            }
            Change::Assign(p) => {
                remote.assign(gid, &p.assignee).await.map_err(rf)?;
                run.agreed.assignee = Some(Some(p.assignee.clone()));
                Ok(())
            }
            Change::Comment(c) => {
                let story = self.post_comment_once(prep, gid, c).await?;
                run.comment_links.push((c.comment_guid.clone(), story));
                Ok(())
            }
        }
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
    ) -> std::result::Result<String, PushFailure> {
        let rf = |e: ticket_provider_api::Error| PushFailure::from_remote(&e);
        if let Some(story) = prep.stories.get(&c.comment_guid) {
            return Ok(story.clone());
        }
        let text = encode(&c.body, c.author.as_deref());
        if let Some(since) = prep.attempts.get(&c.comment_guid) {
            if let Some(story) = self.find_lost_story(gid, &text, *since).await.map_err(rf)? {
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
            if self.store.comment_of_story(&s.story_gid).await?.is_none() {
                return Ok(Some(s.story_gid));
            }
        }
        Ok(None)
    }
}

/// What [`Engine::write_and_push`] learnt of the push.
#[derive(Debug, Clone, Default)]
pub(crate) struct Pushed {
    /// The task's gid, when known.
    pub(crate) gid: Option<String>,
    /// How the push ended; `None` when it did not finish in time (or did not run).
    pub(crate) outcome: Option<PushOutcome>,
}

/// A push handed to [`Engine::bounded`]: boxed, so that the operation's own future (and
/// every operation that pushes nothing, as while Asana is down) does not carry the push's
/// large state machine inline.
type BoxedPush =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<PushOutcome>> + Send + 'static>>;

/// Asana's answer to a read of one task.
type TaskRead = ticket_provider_api::Result<
    HashMap<String, ticket_provider_api::Result<provider_asana::RemoteTask>>,
>;

/// The conflict check's read of a linked task, started before the operation's own write
/// (see [`Engine::write_and_push`]), with the link this instance last committed for the
/// ticket when it started.
pub(crate) struct EarlyRead {
    link: Link,
    read: tokio::task::JoinHandle<TaskRead>,
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

/// What an operation's write returned, with what the push needs.
pub(crate) struct Written<T> {
    pub(crate) value: T,
    /// The prepare step, when it ran in the operation's transaction.
    pub(crate) prep: Option<Prep>,
    /// Without it: the ticket's task gid, and whether it has pending and set-aside entries.
    pub(crate) gid: Option<String>,
    pub(crate) pending: bool,
    pub(crate) set_aside: bool,
}

impl Engine {
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

    /// Runs a local operation `op` (given the ticket's guid; a create gets a new one) in one
    /// store transaction, then pushes the ticket, waiting at most the push timeout (the push
    /// goes on in the background after that). On the happy path — Asana not known to be
    /// down, no push or pull of this process busy with the ticket — the push's prepare step
    /// (claim, pending entries, link) runs in the operation's own transaction, after the
    /// deferred records of earlier pushes have landed in it, and this push's record is
    /// deferred in turn (see `deferred.rs`). An operation that overwrites fields of a task
    /// this instance pushed before (`check_early`) sends the conflict check's read before
    /// its write. `op` returns its value and what it wrote (the prepare step does not read
    /// that again). Returns `op`'s value and what is known of the push.
    pub(crate) async fn write_and_push<T, F>(
        &self,
        guid: String,
        check_early: bool,
        mut op: F,
    ) -> Result<(T, Pushed)>
    where
        T: Send + 'static,
        F: FnMut(&mut StoreTx<'_>, &str) -> std::result::Result<(T, Wrote), StoreError>
            + Send
            + 'static,
    {
        // The breaker's permission, asked once: while Asana is down (or a probe is in
        // flight) the change just stays pending, and the operation costs one transaction.
        let open = self.permit(PushMode::Inline).await;
        // The deferred commits (see `deferred.rs`) land in this operation's transaction,
        // before its own change; this ticket's own one hands its hold on the ticket over.
        let mut takeover = None;
        let mut batch = Vec::new();
        // This ticket's own deferred record: carried on by this operation's push (see
        // [`Chain`]) when it can be, else stored first like the others.
        let mut chained: Option<(DeferredCommit, Chain)> = None;
        if let Some(mut d) = self.take_deferred_of(&guid) {
            let chain = match (open && !self.is_shut_down(), &d.held) {
                (true, Some(_)) => Chain::after(&d),
                _ => None,
            };
            takeover = d.held.take();
            match chain {
                Some(c) => chained = Some((d, c)),
                None => batch.push(d),
            }
        }
        batch.extend(self.take_deferred());
        // The pull gate and the ticket lock, when free at once (the fast path).
        let guards = if open && !self.is_shut_down() {
            match takeover.take() {
                Some(held) => Some(held),
                None => match Arc::clone(&self.pull_gate).try_read_owned() {
                    Ok(gate) => self.locks.try_lock(&guid).map(|lock| (gate, lock)),
                    Err(_) => None,
                },
            }
        } else {
            None
        };
        // Not taken over: the hold stays with the commit until it has landed.
        if let (Some(held), Some(d)) = (takeover, batch.first_mut()) {
            d.held = Some(held);
        }
        let batch: crate::deferred::Batch = Arc::new(std::sync::Mutex::new(batch));
        let fast = guards.is_some();
        // An operation that overwrites fields of a linked task starts the conflict check's
        // read now, so that Asana answers while the store writes.
        let early = match (fast && check_early, self.me.upgrade()) {
            (true, Some(this)) => self.committed_link(&guid).and_then(|link| {
                let gid = link.linked_gid()?.to_string();
                let read = tokio::spawn(async move { this.remote.get_remote_tasks(&[gid]).await });
                Some(EarlyRead { link, read })
            }),
            _ => None,
        };
        let (owner, ttl) = (self.instance_id.clone(), self.settings.claim_ttl);
        let g = guid.clone();
        let b = Arc::clone(&batch);
        let chain = chained.as_ref().map(|(_, c)| c.clone());
        let written = self
            .store
            .local()
            .write(move |tx| {
                crate::deferred::apply_in_tx(tx, &b, &owner)?;
                let (value, wrote) = op(tx, &g)?;
                let note = tx.take_note::<HookNote>().filter(|n| n.guid == g);
                if fast {
                    // The hook saw no link: none to read (a create); else prepare reads it
                    // whole, unless a chain carries it.
                    let known = Known {
                        no_link: note.is_some_and(|n| n.link.is_none()),
                        wrote: Some(wrote),
                        chain: chain.as_ref(),
                    };
                    let prep = prepare_in_tx(tx, &g, &owner, ttl, false, known)?;
                    return Ok(Written {
                        value,
                        prep: Some(prep),
                        gid: None,
                        pending: false,
                        set_aside: false,
                    });
                }
                // The change just queued makes the ticket pending (set aside or not); only
                // without one are the ticket's entries looked at.
                let (link, pending, set_aside) = match note {
                    Some(n) if n.queued => (n.link, true, false),
                    _ => {
                        let link = db::link_brief(tx.conn(), &g)?;
                        let (pending, set_aside) = db::ticket_flags(tx.conn(), &g)?;
                        (link, pending, set_aside)
                    }
                };
                Ok(Written {
                    value,
                    prep: None,
                    gid: link.and_then(|l| l.linked_gid().map(str::to_string)),
                    pending,
                    set_aside,
                })
            })
            .await;
        self.landed(&batch, written.is_ok());
        let mut guards = guards;
        let written = match written {
            Ok(w) => w,
            Err(e) => {
                if let Some(e) = early {
                    e.read.abort();
                }
                // The carried record waits for its commit again, with the hold.
                if let Some((mut d, _)) = chained {
                    d.held = guards.take();
                    self.defer_commit(d);
                }
                return Err(e);
            }
        };
        // A chain is either carried into this push (its claim with it) or was stored by the
        // transaction (nothing more to push).
        let chain_claim = match (chained, &written.prep) {
            (Some((d, _)), Some(Prep::Ready(_))) => Some(d.claim),
            (Some((d, c)), _) => {
                d.claim.released();
                self.remember_link(&guid, Some(&c.link));
                None
            }
            (None, _) => None,
        };
        let Written {
            value,
            prep,
            gid,
            pending,
            set_aside,
        } = written;
        let known_gid = match &prep {
            Some(Prep::Ready(p)) => p.link.linked_gid().map(str::to_string),
            Some(Prep::Nothing { gid, .. }) => gid.clone(),
            _ => gid.clone(),
        };
        // The early read serves the fast path's push only.
        let early = match (&prep, &guards) {
            (Some(Prep::Ready(_)), Some(_)) => early,
            _ => {
                if let Some(e) = early {
                    e.read.abort();
                }
                None
            }
        };
        let outcome = match (prep, guards) {
            (Some(Prep::Nothing { gid, set_aside }), _) => Some(PushOutcome {
                gid,
                any_set_aside: set_aside,
                ..PushOutcome::default()
            }),
            (Some(Prep::Lost { set_aside }), _) => Some(PushOutcome {
                any_set_aside: set_aside,
                left_pending: 1,
                lost: true,
                ..PushOutcome::default()
            }),
            (Some(Prep::Ready(p)), Some((gate, lock))) => {
                let claim = chain_claim.unwrap_or_else(|| {
                    ClaimGuard::adopt(
                        &self.store,
                        &guid,
                        &self.instance_id,
                        self.settings.claim_ttl,
                    )
                    .until_shutdown(&self.shut_down)
                });
                let Some(this) = self.me.upgrade() else {
                    return Ok((value, Pushed::default()));
                };
                let g = guid.clone();
                let push = async move {
                    let held = (gate, lock);
                    let mut out = PushOutcome::default();
                    let notes = this
                        .push_prepared(*p, claim, early, Some(held), &mut out)
                        .await?;
                    if notes {
                        // Conflict notes to push: a further, usual push.
                        this.push_ticket(&g, PushMode::Inline).await?;
                    }
                    Ok::<_, ticket_provider_api::Error>(out)
                };
                let r = self.bounded(&guid, Box::pin(push)).await;
                r
            }
            (Some(Prep::NotClaimed), guards) => {
                drop(guards);
                self.push_bounded_as(&guid, PushMode::Permitted).await
            }
            (Some(Prep::Ready(_)), None) => None,
            (None, _) if !open => Some(PushOutcome {
                gid,
                any_set_aside: set_aside,
                left_pending: usize::from(pending),
                blocked: pending,
                ..PushOutcome::default()
            }),
            (None, _) => self.push_bounded_as(&guid, PushMode::Permitted).await,
        };
        let gid = outcome.as_ref().and_then(|o| o.gid.clone()).or(known_gid);
        Ok((value, Pushed { gid, outcome }))
    }

    /// Runs `push` for at most the push timeout; after that it goes on in the background
    /// (tracked for shutdown) and `None` is returned. After shutdown nothing may outlive the
    /// operation: the push is dropped at the timeout (a dropped push releases its claim). An
    /// operation dropped by its caller before the timeout drops its push the same way; the
    /// change stays pending for the next push of the ticket, a flush or the worker.
    async fn bounded(&self, guid: &str, push: BoxedPush) -> Option<PushOutcome> {
        use tracing::Instrument;
        let timeout = self.settings.push_timeout;
        let g = guid.to_string();
        let push = async move {
            match push.await {
                Ok(o) => Some(o),
                Err(e) => {
                    tracing::warn!(guid = %g, error = %e, "push failed; the change stays pending");
                    None
                }
            }
        }
        .instrument(tracing::debug_span!("sync_push", guid = %guid));
        // Polled right here (no task hand-off on the happy path); when the timeout passes,
        // the same, half-done future moves into a task of its own and goes on there.
        let mut push = Box::pin(push);
        match tokio::time::timeout(timeout, &mut push).await {
            Ok(out) => out,
            Err(_) if self.is_shut_down() => None,
            Err(_) => {
                tracing::debug!(guid = %guid, "push timeout passed; the push goes on in the background");
                self.track(tokio::spawn(async move {
                    push.await;
                }));
                None
            }
        }
    }

    /// Pushes a ticket (taking its lock and claim as usual), bounded by the push timeout.
    /// Skipped at once while the breaker is open.
    pub(crate) async fn push_bounded(&self, guid: &str) -> Option<PushOutcome> {
        if self.breaker.is_open() {
            tracing::debug!(guid = %guid, "Asana looks down; the change stays pending");
            return None;
        }
        self.push_bounded_as(guid, PushMode::Inline).await
    }

    /// [`Self::push_bounded`] in `mode`.
    async fn push_bounded_as(&self, guid: &str, mode: PushMode) -> Option<PushOutcome> {
        let this = self.me.upgrade()?;
        let g = guid.to_string();
        self.bounded(
            guid,
            Box::pin(async move { this.push_ticket(&g, mode).await }),
        )
        .await
    }

    /// Pushes everything pending now (see [`crate::SyncProvider::flush`]).
    pub(crate) async fn flush(&self) -> Result<crate::report::FlushReport> {
        use futures::StreamExt;
        self.breaker.probe_now();
        let guids = self.store.pending_tickets().await?;
        let mut report = crate::report::FlushReport {
            tickets: guids.len(),
            ..crate::report::FlushReport::default()
        };
        let concurrency = self.settings.flush_concurrency.max(1);
        let results: Vec<(String, Result<PushOutcome>)> = futures::stream::iter(guids)
            .map(|g| async move {
                if self.breaker.is_open() {
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
        report.pending = self.store.counts().await?.0;
        Ok(report)
    }
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
            agreed: Agreed::default(),
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
        agreed_else.agreed.subject = Some("other".into());
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
