//! The push side: a ticket's outbox entries go to Asana in id order, under the ticket's lock
//! (in this process) and its claim in the store (shared with other processes). A push is
//! three steps:
//!
//! 1. **Prepare** (`push_store.rs`, one store transaction — on the fast path the same one as
//!    the operation's own write): take the claim, read what the push needs, mark a task
//!    about to be created `creating` and each comment about to be posted as attempted.
//! 2. **Asana** (`push_remote.rs`): create the task (or find the one an earlier, unanswered
//!    create made, by its marker), check the conflict rule before overwriting fields of a
//!    task that existed (one read), then carry out each entry.
//! 3. **Commit** (`push_store.rs`, one store transaction): the link and the agreed values,
//!    each entry completed, failed or set aside, the comment links, the conflicts found, and
//!    the claim released.
//!
//! This module runs them: [`Engine::push_ticket`] (flush, `sync push`, a push that could
//! not start inside its operation) and [`Engine::write_and_push`] (an operation and its
//! push). On an operation's fast path step 1 runs in the operation's own transaction and
//! step 3 is deferred to the next write transaction (the group commit,
//! `group_commit.rs`), so back-to-back synced operations cost one store transaction each.
//!
//! Crash safety: a task is created only after its link says `creating`; a comment is posted
//! only after its attempt is recorded (a later attempt first looks for the story); every
//! other step sets absolute values and is simply redone; an entry is removed only after its
//! effect is in Asana (an interruption between step 2 and 3 redoes step 2).

use std::sync::Arc;
use std::time::Duration;

use provider_internal::{StoreError, StoreTx};
use ticket_provider_api::Result;

use crate::breaker::Permit;
use crate::db;
use crate::engine::Engine;
use crate::group_commit::{CarriedRecord, Hold, Takeover};
use crate::locks::ClaimGuard;
use crate::metrics::PushResult;
use crate::push_remote::EarlyRead;
use crate::push_store::{
    commit_in_tx, prepare_in_tx, Chain, EntryOutcome, Known, Prep, Prepared, PushRecord, PushRun,
    Wrote,
};
use crate::store::HookNote;

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
                    let claim = self.adopt_claim(guid);
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

    /// Step 1 in a write transaction of its own (with the group commit's queue).
    pub(crate) async fn prepare(&self, guid: &str, full: bool) -> Result<Prep> {
        let (g, owner, ttl, carried) = (
            guid.to_string(),
            self.instance_id.clone(),
            self.settings.claim_ttl,
            self.carried(),
        );
        self.commits
            .write(move |tx| prepare_in_tx(tx, &g, &owner, ttl, full, Known::default(), &carried))
            .await
    }

    /// The guard of the claim step 1 took on ticket `guid` in the store.
    fn adopt_claim(&self, guid: &str) -> ClaimGuard {
        ClaimGuard::adopt(
            self.commits.unsettled(),
            guid,
            &self.instance_id,
            self.settings.claim_ttl,
        )
        .until_shutdown(&self.shut_down)
    }

    /// Steps 2 and 3 for a prepared (claimed) ticket; `true` when conflict notes were added
    /// (to push in a further round).
    ///
    /// `hold`: the operation's hold on the ticket (its fast path). With it, a push that
    /// found no conflict and no lost task defers step 3 to the next write transaction (see
    /// `group_commit.rs`), the hold and the claim going with the record.
    pub(crate) async fn push_prepared(
        &self,
        prep: Prepared,
        claim: ClaimGuard,
        early: Option<EarlyRead>,
        hold: Option<Hold>,
        out: &mut PushOutcome,
    ) -> Result<bool> {
        let run = self.push_remote(&prep, &claim, early).await;
        let record = PushRecord::new(prep, run);
        match hold {
            Some(hold) if record.deferrable() && !self.is_shut_down() => {
                self.tally_push(&record.prep, &record.run, out);
                self.commits.defer(record, claim, hold);
                Ok(false)
            }
            hold => {
                let notes = self.commit_now(record.clone(), claim, hold).await?;
                self.tally_push(&record.prep, &record.run, out);
                Ok(notes)
            }
        }
    }

    /// Step 3 in a write transaction now (with the group commit's queue), then the hold
    /// goes; `true` when conflict notes were added. When the transaction fails, the claim
    /// guard releases the claim in the background.
    async fn commit_now(
        &self,
        record: PushRecord,
        claim: ClaimGuard,
        hold: Option<Hold>,
    ) -> Result<bool> {
        let guid = record.guid().to_string();
        let owner = self.instance_id.clone();
        let committed = self
            .commits
            .write(move |tx| commit_in_tx(tx, &record, &owner))
            .await;
        drop(hold);
        let committed = committed?;
        claim.released();
        self.commits.remember_link(&guid, committed.link.as_ref());
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

/// What an operation's transaction saw when the push's step 1 did not run in it.
#[derive(Debug, Clone, Default)]
struct Seen {
    /// The ticket's task, when linked.
    gid: Option<String>,
    /// Whether the ticket has entries waiting (the change just queued counts).
    pending: bool,
    /// Whether it has entries set aside.
    set_aside: bool,
}

impl Prep {
    /// The ticket's task gid, as far as step 1 learnt it.
    fn known_gid(&self) -> Option<String> {
        match self {
            Prep::Ready(p) => p.link.linked_gid().map(str::to_string),
            Prep::Nothing { gid, .. } => gid.clone(),
            Prep::NotClaimed | Prep::Lost { .. } => None,
        }
    }
}

impl Engine {
    /// Runs a local operation `op` (given the ticket's guid; a create gets a new one) in one
    /// store transaction, then pushes the ticket, waiting at most the push timeout (the push
    /// goes on in the background after that). `op` returns its value and what it wrote (the
    /// prepare step does not read that again). Returns `op`'s value and what is known of the
    /// push. Four steps:
    ///
    /// 1. the breaker's permission and, when the push may start at once, the ticket's hold
    ///    ([`Self::permit_and_hold`]), with the ticket's queued record when the push carries
    ///    it on (a [`Chain`](crate::push_store::Chain));
    /// 2. the write: the queued records of earlier pushes, the change, and on the fast path
    ///    the push's step 1, in one transaction ([`Self::write_and_prepare`], else
    ///    [`Self::write_local`] alone); an operation that
    ///    overwrites fields of a task this instance pushed before (`check_early`) starts
    ///    the conflict check's read just before;
    /// 3. the push ([`Self::push_fast`] with the hold, else [`Self::push_later`]);
    /// 4. the report: the task's gid and how the push ended.
    pub(crate) async fn write_and_push<T, F>(
        &self,
        guid: String,
        check_early: bool,
        op: F,
    ) -> Result<(T, Pushed)>
    where
        T: Send + 'static,
        F: FnMut(&mut StoreTx<'_>, &str) -> std::result::Result<(T, Wrote), StoreError>
            + Send
            + 'static,
    {
        let (open, takeover) = self.permit_and_hold(&guid).await;
        let (value, known_gid, outcome) = match takeover {
            Some(Takeover { hold, carried }) => {
                let early = check_early.then(|| self.start_early_read(&guid)).flatten();
                let chain = carried.as_ref().map(|c| c.chain.clone());
                let (value, prep) = match self.write_and_prepare(&guid, op, chain).await {
                    Ok(w) => w,
                    Err(e) => {
                        // The carried record waits for its commit again, with the hold.
                        if let Some(c) = carried {
                            self.commits.put_back(c, hold);
                        }
                        return Err(e);
                    }
                };
                let claim = self.carried_claim(&guid, carried, &prep);
                let known_gid = prep.known_gid();
                let outcome = self.push_fast(&guid, prep, hold, claim, early).await;
                (value, known_gid, outcome)
            }
            None => {
                let (value, seen) = self.write_local(&guid, op, seen_in_tx).await?;
                let known_gid = seen.gid.clone();
                (value, known_gid, self.push_later(&guid, seen, open).await)
            }
        };
        let gid = outcome.as_ref().and_then(|o| o.gid.clone()).or(known_gid);
        Ok((value, Pushed { gid, outcome }))
    }

    /// Step 1 of an operation: the breaker's permission, asked once (while Asana is down or
    /// a probe is in flight the change just stays pending, and the operation costs one
    /// transaction), and, when the push may start at once, the ticket's hold: taken over
    /// from the ticket's queued record (which then lands in this operation's transaction,
    /// or is carried on by its push), else the pull gate and the ticket's lock when both
    /// are free now.
    async fn permit_and_hold(&self, guid: &str) -> (bool, Option<Takeover>) {
        let open = self.permit(PushMode::Inline).await;
        if !open || self.is_shut_down() {
            return (open, None);
        }
        let takeover = self.commits.take_over(guid).or_else(|| {
            let gate = Arc::clone(&self.pull_gate).try_read_owned().ok()?;
            let hold = Hold::new(gate, self.locks.try_lock(guid)?);
            Some(Takeover {
                hold,
                carried: None,
            })
        });
        (open, takeover)
    }

    /// A carried record after the operation's transaction: its claim goes on with the push
    /// that carries it; or the transaction stored it (nothing more to push) and released
    /// its claim.
    fn carried_claim(
        &self,
        guid: &str,
        carried: Option<CarriedRecord>,
        prep: &Prep,
    ) -> Option<ClaimGuard> {
        let c = carried?;
        if matches!(prep, Prep::Ready(_)) {
            return Some(c.claim);
        }
        c.claim.released();
        self.commits.remember_link(guid, Some(&c.chain.link));
        None
    }

    /// Step 2 on the fast path: [`Self::write_local`] with the push's step 1 after the
    /// change (told what the transaction knows: no link when the hook saw none — a create —
    /// and the chain's link when one is carried on).
    async fn write_and_prepare<T, F>(
        &self,
        guid: &str,
        op: F,
        chain: Option<Chain>,
    ) -> Result<(T, Prep)>
    where
        T: Send + 'static,
        F: FnMut(&mut StoreTx<'_>, &str) -> std::result::Result<(T, Wrote), StoreError>
            + Send
            + 'static,
    {
        let (owner, ttl, carried) = (
            self.instance_id.clone(),
            self.settings.claim_ttl,
            self.carried(),
        );
        self.write_local(guid, op, move |tx, g, note, wrote| {
            let known = Known {
                no_link: note.is_some_and(|n| n.link.is_none()),
                wrote: Some(wrote),
                chain: chain.as_ref(),
            };
            prepare_in_tx(tx, g, &owner, ttl, false, known, &carried)
        })
        .await
    }

    /// Step 2 of an operation: one write transaction with the group commit's queue, `op`'s
    /// change, then `then` (given what the outbox hook saw of the ticket and what `op`
    /// wrote): the push's step 1, or a look at the ticket's sync state.
    async fn write_local<T, A, F, G>(&self, guid: &str, mut op: F, mut then: G) -> Result<(T, A)>
    where
        T: Send + 'static,
        A: Send + 'static,
        F: FnMut(&mut StoreTx<'_>, &str) -> std::result::Result<(T, Wrote), StoreError>
            + Send
            + 'static,
        G: FnMut(
                &mut StoreTx<'_>,
                &str,
                Option<HookNote>,
                Wrote,
            ) -> std::result::Result<A, StoreError>
            + Send
            + 'static,
    {
        let g = guid.to_string();
        self.commits
            .write(move |tx| {
                let (value, wrote) = op(tx, &g)?;
                let note = tx.take_note::<HookNote>().filter(|n| n.guid == g);
                Ok((value, then(tx, &g, note, wrote)?))
            })
            .await
    }

    /// Step 3 on the fast path, after step 1 ran in the operation's transaction: steps 2 and
    /// 3 with the hold (and the claim of a carried record), bounded by the push timeout (step 3 is deferred; conflict notes are
    /// pushed by a further, usual push). A ticket another instance claims is pushed the
    /// usual way (it waits up to `claim_wait`).
    async fn push_fast(
        &self,
        guid: &str,
        prep: Prep,
        hold: Hold,
        claim: Option<ClaimGuard>,
        early: Option<EarlyRead>,
    ) -> Option<PushOutcome> {
        let p = match prep {
            Prep::Ready(p) => p,
            Prep::Nothing { gid, set_aside } => {
                return Some(PushOutcome {
                    gid,
                    any_set_aside: set_aside,
                    ..PushOutcome::default()
                })
            }
            Prep::Lost { set_aside } => {
                return Some(PushOutcome {
                    any_set_aside: set_aside,
                    left_pending: 1,
                    lost: true,
                    ..PushOutcome::default()
                })
            }
            Prep::NotClaimed => {
                drop(hold);
                return self.push_bounded_as(guid, PushMode::Permitted).await;
            }
        };
        let claim = claim.unwrap_or_else(|| self.adopt_claim(guid));
        let this = self.me.upgrade()?;
        let g = guid.to_string();
        let push = async move {
            let mut out = PushOutcome::default();
            let notes = this
                .push_prepared(*p, claim, early, Some(hold), &mut out)
                .await?;
            if notes {
                this.push_ticket(&g, PushMode::Inline).await?;
            }
            Ok::<_, ticket_provider_api::Error>(out)
        };
        self.bounded(guid, Box::pin(push)).await
    }

    /// Step 3 when the operation had no hold: while Asana is down nothing is pushed (the
    /// change stays pending); else the usual push of the ticket, bounded by the push timeout.
    async fn push_later(&self, guid: &str, seen: Seen, open: bool) -> Option<PushOutcome> {
        if open {
            return self.push_bounded_as(guid, PushMode::Permitted).await;
        }
        Some(PushOutcome {
            gid: seen.gid,
            any_set_aside: seen.set_aside,
            left_pending: usize::from(seen.pending),
            blocked: seen.pending,
            ..PushOutcome::default()
        })
    }
}

/// What an operation's transaction sees of its ticket when the push's step 1 does not run
/// in it: the change just queued makes the ticket pending; only without one are the
/// ticket's entries looked at.
fn seen_in_tx(
    tx: &mut StoreTx<'_>,
    guid: &str,
    note: Option<HookNote>,
    _wrote: Wrote,
) -> std::result::Result<Seen, StoreError> {
    let (link, pending, set_aside) = match note {
        Some(n) if n.queued => (n.link, true, false),
        _ => {
            let link = db::link_brief(tx.conn(), guid)?;
            let (pending, set_aside) = db::ticket_flags(tx.conn(), guid)?;
            (link, pending, set_aside)
        }
    };
    Ok(Seen {
        gid: link.and_then(|l| l.linked_gid().map(str::to_string)),
        pending,
        set_aside,
    })
}

impl Engine {
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
        let guids = self.settled().await.pending_tickets().await?;
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
        report.pending = self.settled().await.counts().await?.0;
        Ok(report)
    }
}
