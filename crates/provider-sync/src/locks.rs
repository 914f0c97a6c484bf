//! Per-ticket exclusion for pushes, at two levels:
//!
//! * [`TicketLocks`]: async locks, so that two operations of this process never push the same
//!   outbox entry twice and a ticket's entries go out strictly in order. Created on demand and
//!   dropped again when nobody holds or waits for them.
//! * [`ClaimGuard`]: a claim (lease) on the ticket in the internal store, shared by every
//!   process and [`crate::SyncProvider`] instance using that database. Taken after the
//!   in-process lock, renewed by the push between its steps, released afterwards.
//!   A pull takes it too while it imports a task of an existing ticket, so that no other
//!   instance pushes the ticket between the pull's check and its import.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::store::SyncStore;
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// The lock table.
#[derive(Debug, Default)]
pub(crate) struct TicketLocks {
    table: Arc<Mutex<HashMap<String, Arc<AsyncMutex<()>>>>>,
}

/// A held ticket lock; released (and forgotten when unused) on drop.
pub(crate) struct TicketGuard {
    key: String,
    table: Arc<Mutex<HashMap<String, Arc<AsyncMutex<()>>>>>,
    guard: Option<OwnedMutexGuard<()>>,
}

fn with_table<T>(
    table: &Mutex<HashMap<String, Arc<AsyncMutex<()>>>>,
    f: impl FnOnce(&mut HashMap<String, Arc<AsyncMutex<()>>>) -> T,
) -> T {
    match table.lock() {
        Ok(mut g) => f(&mut g),
        Err(poisoned) => f(&mut poisoned.into_inner()),
    }
}

impl TicketLocks {
    /// Waits for the lock of `key` (a ticket guid, or `asana:<gid>` for a task not linked yet).
    pub(crate) async fn lock(&self, key: &str) -> TicketGuard {
        let mutex = with_table(&self.table, |t| {
            Arc::clone(t.entry(key.to_string()).or_default())
        });
        let guard = mutex.lock_owned().await;
        TicketGuard {
            key: key.to_string(),
            table: Arc::clone(&self.table),
            guard: Some(guard),
        }
    }

    /// The lock of `key` if nobody holds it now.
    pub(crate) fn try_lock(&self, key: &str) -> Option<TicketGuard> {
        let mutex = with_table(&self.table, |t| {
            Arc::clone(t.entry(key.to_string()).or_default())
        });
        // A failed attempt drops its reference, so the guard below forgets an unused entry.
        let guard = TicketGuard {
            key: key.to_string(),
            table: Arc::clone(&self.table),
            guard: mutex.try_lock_owned().ok(),
        };
        guard.guard.is_some().then_some(guard)
    }
}

impl Drop for TicketGuard {
    fn drop(&mut self) {
        self.guard.take();
        with_table(&self.table, |t| {
            // Only the table itself still refers to the mutex: nobody holds or waits for it.
            if t.get(&self.key).is_some_and(|m| Arc::strong_count(m) == 1) {
                t.remove(&self.key);
            }
        });
    }
}

/// A held store claim on one ticket, renewed by the push itself between its steps once a
/// third of its time to live has passed ([`ClaimGuard::still_held`]), and released at the
/// end (or, when dropped unreleased, in the background).
///
/// No task renews it in the background: a task sleeping on a timer would outlive the push
/// and could be polled while the process's runtime shuts down.
pub(crate) struct ClaimGuard {
    store: SyncStore,
    guid: String,
    owner: String,
    ttl: Duration,
    /// When the claim was last taken or renewed.
    renewed: Mutex<std::time::Instant>,
    /// Set when a renewal found the claim taken by someone else (we stalled past its expiry).
    lost: AtomicBool,
    released: bool,
    /// The instance's shutdown flag: once set, a guard dropped unreleased leaves the claim
    /// to shutdown's release of all claims instead of starting a task that could still be
    /// using the database when the process exits.
    shut_down: Option<Arc<AtomicBool>>,
}

impl ClaimGuard {
    /// Takes the claim of `guid` for `owner` for `ttl`; `None` when someone else holds it.
    pub(crate) async fn take(
        store: &SyncStore,
        guid: &str,
        owner: &str,
        ttl: Duration,
    ) -> ticket_provider_api::Result<Option<ClaimGuard>> {
        if !store.claim(guid, owner, ttl).await? {
            return Ok(None);
        }
        Ok(Some(Self::adopt(store, guid, owner, ttl)))
    }

    /// Guards a claim `owner` took in a transaction of its own (see `push_store::prepare_in_tx`).
    pub(crate) fn adopt(store: &SyncStore, guid: &str, owner: &str, ttl: Duration) -> ClaimGuard {
        ClaimGuard {
            store: store.clone(),
            guid: guid.to_string(),
            owner: owner.to_string(),
            ttl,
            renewed: Mutex::new(std::time::Instant::now()),
            lost: AtomicBool::new(false),
            released: false,
            shut_down: None,
        }
    }

    /// Ties the guard to the instance's shutdown flag (see the field).
    pub(crate) fn until_shutdown(mut self, shut_down: &Arc<AtomicBool>) -> ClaimGuard {
        self.shut_down = Some(Arc::clone(shut_down));
        self
    }

    /// Whether the claim is still ours, renewing it first when a third of its time to live
    /// has passed since it was taken or last renewed. A renewal the store cannot make (it is
    /// busy or down) keeps the claim as it is: it still holds until it expires.
    pub(crate) async fn still_held(&self) -> bool {
        if self.lost.load(Ordering::SeqCst) {
            return false;
        }
        let due = match self.renewed.lock() {
            Ok(t) => t.elapsed() >= self.ttl / 3,
            Err(_) => true,
        };
        if !due {
            return true;
        }
        match self.store.claim(&self.guid, &self.owner, self.ttl).await {
            Ok(true) => {
                if let Ok(mut t) = self.renewed.lock() {
                    *t = std::time::Instant::now();
                }
                tracing::trace!(guid = %self.guid, "push claim renewed");
                true
            }
            Ok(false) => {
                tracing::warn!(guid = %self.guid, "lost the push claim (another instance took it after it expired); stopping this push");
                self.lost.store(true, Ordering::SeqCst);
                false
            }
            Err(e) => {
                tracing::warn!(guid = %self.guid, error = %e, "cannot renew the push claim; going on while it holds");
                true
            }
        }
    }

    /// The claim was released in a transaction (see `push_store::commit_in_tx`).
    pub(crate) fn released(mut self) {
        self.released = true;
    }

    /// Releases the claim.
    pub(crate) async fn release(mut self) {
        self.released = true;
        if let Err(e) = self.store.release(&self.guid, &self.owner).await {
            // It expires by itself after its time to live.
            tracing::warn!(guid = %self.guid, error = %e, "cannot release the push claim");
        }
    }
}

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        if self
            .shut_down
            .as_ref()
            .is_some_and(|s| s.load(Ordering::SeqCst))
        {
            return;
        }
        // Dropped without `release` (the push was cancelled or failed): release it in the
        // background; without a runtime it simply expires.
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let (store, guid, owner) = (
                self.store.clone(),
                std::mem::take(&mut self.guid),
                std::mem::take(&mut self.owner),
            );
            handle.spawn(async move {
                if let Err(e) = store.release(&guid, &owner).await {
                    tracing::warn!(guid = %guid, error = %e, "cannot release the push claim");
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn locks_exclude_and_are_forgotten() {
        let locks = TicketLocks::default();
        let g = locks.lock("a").await;
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(20), locks.lock("a"))
                .await
                .is_err()
        );
        let _b = locks.lock("b").await;
        drop(g);
        let _a = locks.lock("a").await;
        drop(_a);
        assert_eq!(with_table(&locks.table, |t| t.len()), 1);
    }
}
