//! [`Engine`]: the state the push and the pull share — the store's sync tables, the Asana
//! side, the settings, the circuit breaker, the per-ticket locks, this instance's claim
//! owner id and the background tasks. `push.rs` and `pull.rs` each add their methods to it;
//! neither imports the other, and `provider.rs` puts them together behind the
//! [`ticket_provider_api::TicketProvider`] trait.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use provider_asana::TaskClient;

use crate::breaker::CircuitBreaker;
use crate::config::SyncSettings;
use crate::db::Link;
use crate::locks::TicketLocks;
use crate::metrics::SyncMetrics;
use crate::store::SyncStore;

/// The shared state behind a [`crate::SyncProvider`].
#[derive(Debug)]
pub(crate) struct Engine {
    pub(crate) store: SyncStore,
    pub(crate) remote: TaskClient,
    pub(crate) settings: SyncSettings,
    pub(crate) breaker: CircuitBreaker,
    pub(crate) locks: TicketLocks,
    /// Set while a background catch-up flush runs.
    pub(crate) catching_up: AtomicBool,
    /// This instance's random id: the owner of the push claims it takes in the store.
    pub(crate) instance_id: String,
    /// Pushes and catch-up flushes running in the background, so that shutdown can let them
    /// finish (or stop them) before it releases this instance's claims.
    pub(crate) background: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Set by shutdown: no new background work is started afterwards.
    pub(crate) shut_down: Arc<AtomicBool>,
    /// Pushes hold it shared, pulls exclusively: a pull compares what it read from Asana with
    /// the local state, so a push of this instance landing between the read and the import
    /// would make the read stale. Pushes of other instances are kept out by the ticket's
    /// claim and detected by the push time (see `pull.rs`).
    pub(crate) pull_gate: Arc<tokio::sync::RwLock<()>>,
    /// This engine, for the background tasks it starts.
    pub(crate) me: Weak<Engine>,
    /// Counters and gauges (`ticket sync run --metrics-addr`).
    pub(crate) metrics: SyncMetrics,
    /// The links as this instance's pushes last committed them (at most
    /// [`COMMITTED_LINKS`]): an operation on a ticket whose stored link still equals its
    /// entry may use a conflict-check read started before its own write (see `push.rs`).
    committed_links: Mutex<HashMap<String, Link>>,
    /// Pushes' step 3 waiting for a write transaction (see `deferred.rs`).
    pub(crate) deferred: Mutex<Vec<crate::deferred::DeferredCommit>>,
    /// Set while a background task is due to land the queue.
    pub(crate) deferred_timer: AtomicBool,
    /// That task.
    pub(crate) deferred_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// How many committed links [`Engine`] remembers before it starts over.
const COMMITTED_LINKS: usize = 4096;

impl Engine {
    pub(crate) fn new(store: SyncStore, remote: TaskClient, settings: SyncSettings) -> Arc<Self> {
        let breaker = CircuitBreaker::new(
            settings.breaker_threshold,
            settings.breaker_base_backoff,
            settings.breaker_max_backoff,
        );
        Arc::new_cyclic(|me| Engine {
            me: me.clone(),
            store,
            remote,
            settings,
            breaker,
            locks: TicketLocks::default(),
            catching_up: AtomicBool::new(false),
            instance_id: format!(
                "sync-{}-{}",
                std::process::id(),
                uuid::Uuid::new_v4().simple()
            ),
            background: Mutex::new(Vec::new()),
            shut_down: Arc::new(AtomicBool::new(false)),
            pull_gate: Arc::new(tokio::sync::RwLock::new(())),
            metrics: SyncMetrics::default(),
            committed_links: Mutex::new(HashMap::new()),
            deferred: Mutex::new(Vec::new()),
            deferred_timer: AtomicBool::new(false),
            deferred_task: Mutex::new(None),
        })
    }

    /// Remembers the link a push of ticket `guid` committed (`None`: forget it).
    pub(crate) fn remember_link(&self, guid: &str, link: Option<&Link>) {
        let Ok(mut links) = self.committed_links.lock() else {
            return;
        };
        match link {
            Some(l) if l.linked_gid().is_some() => {
                if links.len() >= COMMITTED_LINKS && !links.contains_key(guid) {
                    links.clear();
                }
                links.insert(guid.to_string(), l.clone());
            }
            _ => {
                links.remove(guid);
            }
        }
    }

    /// The link a push of this instance last committed for ticket `guid`, if remembered.
    pub(crate) fn committed_link(&self, guid: &str) -> Option<Link> {
        self.committed_links.lock().ok()?.get(guid).cloned()
    }

    /// Whether shutdown was called.
    pub(crate) fn is_shut_down(&self) -> bool {
        self.shut_down.load(Ordering::SeqCst)
    }

    /// Remembers a background task for shutdown, forgetting finished ones.
    pub(crate) fn track(&self, handle: tokio::task::JoinHandle<()>) {
        match self.background.lock() {
            Ok(mut b) => {
                b.retain(|h| !h.is_finished());
                b.push(handle);
            }
            Err(_) => handle.abort(),
        }
    }

    /// Takes the list of background tasks (shutdown).
    pub(crate) fn take_background(&self) -> Vec<tokio::task::JoinHandle<()>> {
        match self.background.lock() {
            Ok(mut b) => std::mem::take(&mut *b),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }
}
