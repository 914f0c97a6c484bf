//! Per-ticket async locks, so that two operations of this process never push the same outbox
//! entry twice and a ticket's entries go out strictly in order.
//!
//! Locks are created on demand and dropped again when nobody holds or waits for them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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
