//! Group commit of the push's step 3 (see `push.rs`).
//!
//! On the fast path of an operation, once Asana has answered, step 3 (the link, the entries
//! completed, the claim released) does not get a store transaction of its own: it waits in
//! [`Engine`]'s queue and goes into the next write transaction of this instance — usually
//! the next operation's own — or, after `commit_delay` ([`crate::SyncSettings`], 2 ms by
//! default) without one, into a transaction of a background task. Until then the commit keeps the ticket's lock (in this process), a
//! read hold on the pull gate, and the ticket's claim in the store (for other processes), so
//! nobody pushes or pulls the ticket on the strength of the state before it.
//!
//! The next operation of the same ticket carries the record on instead (`push::Chain`): its
//! push starts from the deferred link and claim, skips the entries already done, and its own
//! record — deferred in turn, or stored at once after a conflict or a failure — includes the
//! carried ones.
//!
//! Deferring is safe for the same reason a crash between steps 2 and 3 is (see `push.rs`):
//! a commit that never lands leaves its entries pending, and pushing them again is
//! idempotent. The operation's result is already true, since it reports what Asana has.
//! Every reader of sync state in this instance (status, get, list, flush, pull, verify)
//! first lands the queue ([`Engine::settle`]); shutdown lands it before it releases claims.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use provider_internal::{StoreError, StoreTx};
use ticket_provider_api::Result;

use crate::db::Link;
use crate::engine::Engine;
use crate::locks::{ClaimGuard, TicketGuard};
use crate::push::{commit_in_tx, Prepared, PushRun};

/// A push's step 3 waiting for a write transaction.
pub(crate) struct DeferredCommit {
    pub(crate) prep: Prepared,
    pub(crate) run: PushRun,
    /// The link step 3 stores (computed once, so that it is the one remembered).
    pub(crate) link: Link,
    pub(crate) claim: ClaimGuard,
    /// This process's hold on the ticket and on the pull gate, until the commit lands (or
    /// until the next operation of the ticket takes it over).
    pub(crate) held: Option<Held>,
}

/// The pull gate (shared) and the ticket's lock, held by a push.
pub(crate) type Held = (tokio::sync::OwnedRwLockReadGuard<()>, TicketGuard);

impl std::fmt::Debug for DeferredCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeferredCommit")
            .field("guid", &self.prep.guid)
            .finish_non_exhaustive()
    }
}

/// Deferred commits taken from the queue by one write transaction (kept across its
/// retries).
pub(crate) type Batch = Arc<std::sync::Mutex<Vec<DeferredCommit>>>;

/// Step 3 of every commit in `batch`, inside the caller's write transaction (which may be a
/// retry: the batch is applied whole each time).
pub(crate) fn apply_in_tx(
    tx: &mut StoreTx<'_>,
    batch: &Batch,
    owner: &str,
) -> std::result::Result<(), StoreError> {
    let batch = match batch.lock() {
        Ok(b) => b,
        Err(poisoned) => poisoned.into_inner(),
    };
    for d in batch.iter() {
        commit_in_tx(tx, &d.prep, &d.run, &d.link, owner)?;
    }
    Ok(())
}

impl Engine {
    /// Queues step 3 of a push and makes sure it lands within the commit delay.
    pub(crate) fn defer_commit(&self, d: DeferredCommit) {
        match self.deferred.lock() {
            Ok(mut q) => q.push(d),
            Err(poisoned) => poisoned.into_inner().push(d),
        }
        if self.deferred_timer.swap(true, Ordering::SeqCst) {
            return;
        }
        let Some(this) = self.me.upgrade() else {
            return;
        };
        let task = tokio::spawn(async move {
            tokio::time::sleep(this.settings.commit_delay).await;
            this.deferred_timer.store(false, Ordering::SeqCst);
            if let Err(e) = this.settle().await {
                tracing::warn!(error = %e, "cannot record pushes in the store; their changes stay pending and are pushed again");
            }
        });
        // A task replaced here had lowered the flag: it has landed the queue, or is about to.
        if let Ok(mut slot) = self.deferred_task.lock() {
            *slot = Some(task);
        }
    }

    /// Stops the background landing (shutdown lands the queue itself right after): waits
    /// for one in progress, cancels one still waiting for its delay.
    pub(crate) async fn stop_deferred_task(&self) {
        let task = self.deferred_task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
        self.deferred_timer.store(false, Ordering::SeqCst);
    }

    /// Takes every queued commit (for a write transaction to apply).
    pub(crate) fn take_deferred(&self) -> Vec<DeferredCommit> {
        match self.deferred.lock() {
            Ok(mut q) => std::mem::take(&mut *q),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }

    /// Takes the queued commit of ticket `guid`, if any, with its hold on the ticket.
    pub(crate) fn take_deferred_of(&self, guid: &str) -> Option<DeferredCommit> {
        let mut q = match self.deferred.lock() {
            Ok(q) => q,
            Err(poisoned) => poisoned.into_inner(),
        };
        let i = q.iter().position(|d| d.prep.guid == guid)?;
        Some(q.remove(i))
    }

    /// After the transaction that applied `batch` committed (`ok`) or failed: the claims
    /// are released (in the store, by the commit) and the holds dropped. A batch that did
    /// not land leaves its entries pending; the links remembered for it are forgotten.
    pub(crate) fn landed(&self, batch: &Batch, ok: bool) {
        let taken = match batch.lock() {
            Ok(mut b) => std::mem::take(&mut *b),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        for d in taken {
            if ok {
                d.claim.released();
            } else {
                self.remember_link(&d.prep.guid, None);
            }
            drop(d.held);
        }
    }

    /// Lands every queued commit now (one write transaction when any is queued).
    pub(crate) async fn settle(&self) -> Result<()> {
        let batch: Batch = Arc::new(std::sync::Mutex::new(self.take_deferred()));
        if batch.lock().map(|b| b.is_empty()).unwrap_or(true) {
            return Ok(());
        }
        let owner = self.instance_id.clone();
        let b = Arc::clone(&batch);
        let out = self
            .store
            .local()
            .write(move |tx| apply_in_tx(tx, &b, &owner))
            .await;
        self.landed(&batch, out.is_ok());
        out
    }
}
