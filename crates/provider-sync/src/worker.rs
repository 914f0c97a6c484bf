//! The worker behind `ticket sync run` ([`ticket_provider_api::SyncWorker`]): one loop that
//! pushes what is committed, follows Asana's events and reconciles the whole project now and
//! then, until it is told to stop.
//!
//! * **Push.** Every `sync_outbox_poll_ms` (default 200) it reads the newest outbox id (one
//!   small read, the same on SQLite and PostgreSQL, so a change committed by any process is
//!   noticed within that time) and flushes when it changed or a retry is due. While changes
//!   stay pending because Asana looks down, retries back off ([`next_backoff`]: 0.5 s
//!   doubling to 30 s); a pull that succeeds means Asana is back, and the push is retried at
//!   once. Changes another instance is pushing are retried after 0.5 s.
//! * **Pull.** Every `sync_poll_interval_ms` (default 5000) it follows Asana's events (a
//!   full read when the token expired), and every `sync_reconcile_interval_s` (default 3600)
//!   it reads the whole project instead, which is also what finds tasks that disappeared.
//!   With a webhook ([`crate::webhook`]) that is healthy it does not poll: a delivery wakes
//!   the same pull at once.
//! * **Several workers** on one store cooperate through the claims every push and import
//!   takes (see the crate documentation): none pushes a ticket another is pushing, and one
//!   that is killed delays its tickets by at most `sync_claim_ttl_ms`.
//! * **Its store.** Before each step it checks that the store's SQLite file is still the
//!   file it opened (`InternalProvider::check_identity`); when it was deleted or replaced,
//!   the worker stops with that error instead of pulling into the unlinked file, where
//!   nothing is seen again.
//! * **Stop.** When the stop future completes, the step in progress gets [`STOP_STEP_GRACE`]
//!   to finish; then it is dropped (every step is safe to interrupt: what it did not commit
//!   stays pending), background pushes get at most [`STOP_PUSH_GRACE`], and every claim of
//!   this instance is released — within 5 seconds in all.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ticket_provider_api::maintenance::WorkerReport;
use ticket_provider_api::{BoxFuture, Result};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::engine::Engine;
use crate::webhook_driver::HookDriver;

/// How long a stop waits for the step in progress before dropping it.
pub const STOP_STEP_GRACE: Duration = Duration::from_millis(2000);

/// How long a stop waits for background pushes (at most; `sync_shutdown_grace_ms` when
/// shorter).
pub const STOP_PUSH_GRACE: Duration = Duration::from_millis(2000);

/// The first wait before pushing again when changes stayed pending.
pub const FIRST_PUSH_BACKOFF: Duration = Duration::from_millis(500);

/// The longest wait between push attempts while Asana is down.
pub const MAX_PUSH_BACKOFF: Duration = Duration::from_secs(30);

/// The wait before the next push attempt after one that left changes pending, given the
/// last wait (`ZERO`: the last attempt left nothing) and whether Asana looked down. Pure.
pub fn next_backoff(last: Duration, asana_down: bool) -> Duration {
    if !asana_down || last.is_zero() {
        FIRST_PUSH_BACKOFF
    } else {
        (last * 2).min(MAX_PUSH_BACKOFF)
    }
}

/// The loop's state between steps.
struct Loop {
    engine: Arc<Engine>,
    report: Arc<Mutex<WorkerReport>>,
    last_id: i64,
    retry_at: Option<Instant>,
    backoff: Duration,
    next_pull: Instant,
    next_reconcile: Instant,
    /// The webhook, when one is configured (see `webhook_driver.rs`).
    hook: Option<HookDriver>,
    /// The last pull failed: the next comes at the poll interval even while the webhook
    /// spares polling, so that what a delivery announced is not left waiting.
    pull_failed: bool,
}

impl Loop {
    fn note(&self, f: impl FnOnce(&mut WorkerReport)) {
        match self.report.lock() {
            Ok(mut r) => f(&mut r),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    /// Pushes when a change was committed since the last look or a retry is due.
    async fn push_step(&mut self) -> Result<()> {
        let e = &self.engine;
        let id = e.settled().await.outbox_max_id().await?;
        let due = self.retry_at.is_some_and(|t| Instant::now() >= t);
        if id == self.last_id && !due {
            return Ok(());
        }
        self.last_id = id;
        if e.settled().await.pending_tickets().await?.is_empty() {
            self.retry_at = None;
            self.backoff = Duration::ZERO;
            return Ok(());
        }
        let flushed = e.flush().await;
        let down = match &flushed {
            Ok(r) => {
                let pushed = r.pushed as u64;
                self.note(|w| w.pushed += pushed);
                r.stopped_early
            }
            Err(err) => {
                tracing::warn!(error = %err, "worker: flush failed; retrying");
                true
            }
        };
        if e.settled().await.pending_tickets().await?.is_empty() {
            self.retry_at = None;
            self.backoff = Duration::ZERO;
        } else {
            self.backoff = next_backoff(self.backoff, down);
            self.retry_at = Some(Instant::now() + self.backoff);
            tracing::debug!(
                retry_in_ms = self.backoff.as_millis() as u64,
                "worker: changes still pending"
            );
        }
        Ok(())
    }

    /// Follows Asana's events, or reads the whole project when a reconcile is due.
    async fn pull_step(&mut self) {
        let now = Instant::now();
        let woken = self.hook.as_ref().is_some_and(|h| h.rx.take_wanted());
        let polls = self.hook.as_ref().is_none_or(HookDriver::polls);
        let full = now >= self.next_reconcile;
        let poll_due = (polls || self.pull_failed) && now >= self.next_pull;
        if !(woken || full || poll_due) {
            return;
        }
        let e = Arc::clone(&self.engine);
        let pulled = {
            let _gate = e.pull_gate.write().await;
            e.pull_all(full, &|_| {}).await
        };
        match pulled {
            Ok(r) => {
                self.pull_failed = false;
                tracing::debug!(
                    mode = r.mode.as_str(),
                    created = r.created,
                    updated = r.updated,
                    lost = r.lost,
                    "worker: pulled"
                );
                self.note(|w| {
                    w.pulls += 1;
                    w.reconciles += u64::from(full);
                });
                if full {
                    self.next_reconcile = Instant::now() + e.settings.reconcile_interval;
                }
                if self.retry_at.is_some() {
                    // Asana answered: push what waits now, not after the backoff.
                    e.breaker.probe_now();
                    self.retry_at = Some(Instant::now());
                    self.backoff = Duration::ZERO;
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "worker: pull failed; trying again at the next interval");
                self.pull_failed = true;
                if let (true, Some(h)) = (woken, &self.hook) {
                    h.rx.handler_failed(&crate::reconcile::clean_line(&err.to_string(), 300));
                }
            }
        }
        self.next_pull = Instant::now() + e.settings.poll_interval;
    }

    async fn run(mut self, mut stopping: watch::Receiver<bool>) -> Result<()> {
        while !*stopping.borrow() {
            if let Err(err) = self.engine.health() {
                tracing::error!(error = %err, "worker: stopping: its store cannot be used");
                return Err(err);
            }
            if let Err(err) = self.push_step().await {
                tracing::warn!(error = %err, "worker: cannot read the outbox; trying again");
            }
            if *stopping.borrow() {
                break;
            }
            if let Some(h) = self.hook.as_mut() {
                h.step(&self.engine).await;
            }
            if *stopping.borrow() {
                break;
            }
            self.pull_step().await;
            let nap = self.engine.settings.outbox_poll;
            let delivery = async {
                match &self.hook {
                    Some(h) => h.rx.wake.notified().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(nap) => {}
                _ = stopping.changed() => {}
                _ = delivery => {}
            }
        }
        if let Some(h) = self.hook.take() {
            h.stop(&self.engine).await;
        }
        Ok(())
    }
}

impl Engine {
    /// Runs the worker loop until `stop` completes (see the module documentation); the
    /// caller then shuts the provider down.
    pub(crate) async fn run_worker(
        self: &Arc<Self>,
        stop: BoxFuture<'static, ()>,
    ) -> Result<WorkerReport> {
        let report = Arc::new(Mutex::new(WorkerReport::default()));
        // The listener is bound first: a registration's handshake needs it.
        let hook = HookDriver::start(self).await?;
        let now = Instant::now();
        let lp = Loop {
            engine: Arc::clone(self),
            report: Arc::clone(&report),
            last_id: -1,
            retry_at: None,
            backoff: Duration::ZERO,
            next_pull: now,
            next_reconcile: now + self.settings.reconcile_interval,
            hook,
            pull_failed: false,
        };
        let (tell, stopping) = watch::channel(false);
        let mut task = tokio::spawn(lp.run(stopping));
        tracing::info!(
            instance = %self.instance_id,
            poll_ms = self.settings.poll_interval.as_millis() as u64,
            reconcile_s = self.settings.reconcile_interval.as_secs(),
            "sync worker started"
        );
        let mut in_flight = false;
        let mut failed = None;
        tokio::select! {
            ended = &mut task => {
                if let Ok(Err(e)) = ended {
                    failed = Some(e);
                }
            }
            _ = stop => {
                let _ = tell.send(true);
                if tokio::time::timeout(STOP_STEP_GRACE, &mut task).await.is_err() {
                    tracing::warn!("worker: the step in progress did not finish in time; its changes stay pending");
                    task.abort();
                    let _ = task.await;
                    in_flight = true;
                }
            }
        }
        let mut out = match report.lock() {
            Ok(r) => r.clone(),
            Err(p) => p.into_inner().clone(),
        };
        out.stopped_in_flight = in_flight;
        tracing::info!(
            pushed = out.pushed,
            pulls = out.pulls,
            "sync worker stopped"
        );
        match failed {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    /// Whether the worker can go on: its store's file is the one it opened (see
    /// `InternalProvider::check_identity`).
    pub(crate) fn health(&self) -> Result<()> {
        self.commits.unsettled().local().check_identity()
    }

    /// The metrics text (see [`crate::metrics`]).
    pub(crate) async fn metrics_text(&self) -> Result<String> {
        let gauges = self.settled().await.gauges().await?;
        let hook = self.webhook.as_ref().map(|rx| rx.health());
        Ok(self
            .metrics
            .encode(&gauges, &self.remote.request_stats(), hook.as_ref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_by_table() {
        let ms = Duration::from_millis;
        // (last wait, Asana down, next wait)
        let cases = [
            (Duration::ZERO, true, ms(500)),
            (Duration::ZERO, false, ms(500)),
            (ms(500), true, ms(1000)),
            (ms(500), false, ms(500)),
            (ms(16_000), true, ms(30_000)),
            (ms(30_000), true, ms(30_000)),
        ];
        for (last, down, want) in cases {
            assert_eq!(next_backoff(last, down), want, "{last:?} {down}");
        }
    }
}
