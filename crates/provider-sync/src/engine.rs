//! [`Engine`]: the state the push and the pull share — the group commit (the only way to
//! the store's sync tables), the Asana side, the settings, the circuit breaker, the
//! per-ticket locks, this instance's claim owner id and the background tasks. `push.rs`,
//! `push_remote.rs`, `pull.rs`, `verify.rs` and `worker.rs` each add their methods to it;
//! this module imports none of them, and `provider.rs` puts them together behind the
//! [`ticket_provider_api::TicketProvider`] trait.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use provider_asana::TaskClient;

use crate::breaker::CircuitBreaker;
use crate::config::SyncSettings;
use crate::group_commit::{GroupCommit, Settled};
use crate::locks::TicketLocks;
use crate::metrics::SyncMetrics;
use crate::snapshot::CarriedFields;
use crate::store::SyncStore;
use crate::webhook::WebhookReceiver;

/// The shared state behind a [`crate::SyncProvider`].
#[derive(Debug)]
pub(crate) struct Engine {
    /// The store's sync tables, behind the queue of deferred push records: readers go
    /// through [`Engine::settled`].
    pub(crate) commits: Arc<GroupCommit>,
    pub(crate) remote: TaskClient,
    pub(crate) settings: SyncSettings,
    pub(crate) breaker: CircuitBreaker,
    pub(crate) locks: TicketLocks,
    /// Set while a background catch-up flush runs.
    pub(crate) catching_up: AtomicBool,
    /// This instance's random id: the owner of the push claims it takes in the store.
    pub(crate) instance_id: String,
    /// When this instance started. A comment queued before, without a recorded post
    /// attempt, may have been posted by a process whose record the store lost (a restore):
    /// it is looked for before it is posted.
    pub(crate) started_at: chrono::DateTime<chrono::Utc>,
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
    /// The webhook receiver, when the settings name a webhook endpoint (see `webhook.rs`).
    pub(crate) webhook: Option<Arc<WebhookReceiver>>,
}

impl Engine {
    /// The custom fields this engine carries to Asana (the keys of `asana_fields`).
    pub(crate) fn carried(&self) -> CarriedFields {
        self.remote
            .settings()
            .asana_fields
            .keys()
            .cloned()
            .collect()
    }

    pub(crate) fn new(store: SyncStore, remote: TaskClient, settings: SyncSettings) -> Arc<Self> {
        let breaker = CircuitBreaker::new(
            settings.breaker_threshold,
            settings.breaker_base_backoff,
            settings.breaker_max_backoff,
        );
        let instance_id = format!(
            "sync-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        );
        let commits = GroupCommit::new(store, instance_id.clone(), settings.commit_delay);
        let webhook = settings
            .webhook
            .as_ref()
            .map(|e| Arc::new(WebhookReceiver::new(&e.url)));
        Arc::new_cyclic(|me| Engine {
            me: me.clone(),
            commits,
            remote,
            settings,
            breaker,
            locks: TicketLocks::default(),
            catching_up: AtomicBool::new(false),
            instance_id,
            started_at: chrono::Utc::now(),
            background: Mutex::new(Vec::new()),
            shut_down: Arc::new(AtomicBool::new(false)),
            pull_gate: Arc::new(tokio::sync::RwLock::new(())),
            metrics: SyncMetrics::default(),
            webhook,
        })
    }

    /// The store's sync tables, once this instance's deferred push records have landed:
    /// what every reader of sync state reads through (see `group_commit.rs`).
    pub(crate) async fn settled(&self) -> Settled<'_> {
        self.commits.settled().await
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
