//! [`GroupCommit`]: the push's step 3 without a store transaction of its own, and the only
//! way to the store's sync tables.
//!
//! On the fast path of an operation, once Asana has answered, step 3 (the link, the entries
//! completed, the claim released: a [`PushRecord`]) waits in the queue and goes into the
//! next write transaction of this instance — usually the next operation's own, through
//! [`GroupCommit::write`] — or, after `commit_delay` ([`crate::SyncSettings`], 2 ms by
//! default) without one, into a transaction of the queue's timer task. Until then the
//! record keeps its [`Hold`] (the ticket's lock and a read hold on the pull gate, in this
//! process) and the ticket's claim in the store (for other processes), so nobody pushes or
//! pulls the ticket on the strength of the state before it. The next operation of the same
//! ticket takes the hold over ([`GroupCommit::take_over`]): the record lands in that
//! operation's transaction, before its own change, or, when it can, is carried on by that
//! operation's push (a [`Chain`]) with its claim, and stored with that push's record.
//!
//! Deferring is safe for the same reason a crash between steps 2 and 3 is (see `push.rs`):
//! a record that never lands leaves its entries pending, and pushing them again is
//! idempotent. The operation's result is already true, since it reports what Asana has.
//!
//! A reader of sync state must not see the store without this instance's records, so the
//! store is reached through this type only: [`GroupCommit::settled`] lands the queue and
//! hands out a [`Settled`] view; [`GroupCommit::write`] lands it inside the caller's write
//! transaction. [`GroupCommit::unsettled`] is for what reads no sync state (claims, the
//! push's own steps under the ticket's lock, the public raw accessors).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use provider_internal::{StoreError, StoreTx};
use ticket_provider_api::Result;

use crate::db::Link;
use crate::locks::{ClaimGuard, TicketGuard};
use crate::push_store::{commit_in_tx, Chain, PushRecord};
use crate::store::SyncStore;

/// What a push holds in this process while it runs and until its record has landed: a read
/// hold on the pull gate (no pull of this instance compares Asana with the store meanwhile)
/// and the ticket's lock (no other push of the ticket). It moves from the push to its
/// queued record, and from there to the next operation of the ticket.
pub(crate) struct Hold {
    _gate: tokio::sync::OwnedRwLockReadGuard<()>,
    _lock: TicketGuard,
}

impl Hold {
    /// A hold made of the pull gate's read guard and the ticket's lock.
    pub(crate) fn new(gate: tokio::sync::OwnedRwLockReadGuard<()>, lock: TicketGuard) -> Self {
        Hold {
            _gate: gate,
            _lock: lock,
        }
    }
}

impl std::fmt::Debug for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hold")
    }
}

/// A push's record waiting for a write transaction, with its claim and, until the next
/// operation of the ticket takes it over, its hold.
struct Queued {
    record: PushRecord,
    claim: ClaimGuard,
    hold: Option<Hold>,
}

/// What the next operation of a ticket takes over from the ticket's queued record: the
/// hold, and the record itself when its push carries it on.
#[derive(Debug)]
pub(crate) struct Takeover {
    pub(crate) hold: Hold,
    /// Set when the record left the queue to be carried on (see [`Chain`]).
    pub(crate) carried: Option<CarriedRecord>,
}

/// A queued record carried on by the next push of its ticket: the record, its claim (still
/// held in the store) and the chain the next push starts from.
pub(crate) struct CarriedRecord {
    pub(crate) record: PushRecord,
    pub(crate) claim: ClaimGuard,
    pub(crate) chain: Chain,
}

impl std::fmt::Debug for CarriedRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CarriedRecord")
            .field("guid", &self.record.guid())
            .finish_non_exhaustive()
    }
}

/// Records taken from the queue by one write transaction (kept across its retries).
type Batch = Arc<Mutex<Vec<Queued>>>;

/// The sync tables after this instance's queued records have landed: what every reader of
/// sync state reads through. Obtained from [`GroupCommit::settled`] only.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settled<'a> {
    store: &'a SyncStore,
}

impl std::ops::Deref for Settled<'_> {
    type Target = SyncStore;

    fn deref(&self) -> &SyncStore {
        self.store
    }
}

/// How many committed links [`GroupCommit`] remembers before it starts over.
const COMMITTED_LINKS: usize = 4096;

/// The group commit of one engine: the store, the queue of deferred records, the task that
/// lands them after the commit delay, and the links as this instance's pushes last stored
/// (or queued) them.
pub(crate) struct GroupCommit {
    store: SyncStore,
    /// The claim owner of this instance (step 3 releases the claim it holds).
    owner: String,
    /// How long a record waits for another write transaction before it gets one.
    delay: Duration,
    queue: Mutex<Vec<Queued>>,
    /// The timer task due to land the queue, when one is.
    timer: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Set while the timer task has not started landing yet.
    timer_armed: AtomicBool,
    /// The links as this instance's pushes last stored them (at most [`COMMITTED_LINKS`]):
    /// an operation on a ticket whose stored link still equals its entry may use a
    /// conflict-check read started before its own write (see `push_remote.rs`).
    links: Mutex<HashMap<String, Link>>,
    /// Itself, for the timer task.
    me: Weak<GroupCommit>,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit")
            .field("store", &self.store)
            .field("delay", &self.delay)
            .finish_non_exhaustive()
    }
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl GroupCommit {
    /// The group commit of `store` for claim owner `owner`, landing after `delay`.
    pub(crate) fn new(store: SyncStore, owner: String, delay: Duration) -> Arc<Self> {
        Arc::new_cyclic(|me| GroupCommit {
            store,
            owner,
            delay,
            queue: Mutex::new(Vec::new()),
            timer: Mutex::new(None),
            timer_armed: AtomicBool::new(false),
            links: Mutex::new(HashMap::new()),
            me: me.clone(),
        })
    }

    /// Lands every queued record (one write transaction when any is queued) and returns the
    /// view readers read through. A failure to land leaves those changes pending (they are
    /// pushed again): it is logged, and the reader sees them as pending.
    pub(crate) async fn settled(&self) -> Settled<'_> {
        if let Err(e) = self.land().await {
            tracing::warn!(error = %e, "cannot record pushes in the store; their changes stay pending and are pushed again");
        }
        Settled { store: &self.store }
    }

    /// The store without landing the queue: for what reads no sync state — claims, the
    /// push's own steps (under the ticket's lock, which a queued record of the ticket holds),
    /// and the public raw accessors.
    pub(crate) fn unsettled(&self) -> &SyncStore {
        &self.store
    }

    /// Runs `op` in one write transaction, after the queued records have landed in it (the
    /// group commit); a failed transaction leaves those records' changes pending.
    pub(crate) async fn write<T, F>(&self, mut op: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnMut(&mut StoreTx<'_>) -> std::result::Result<T, StoreError> + Send + 'static,
    {
        let batch: Batch = Arc::new(Mutex::new(std::mem::take(&mut *locked(&self.queue))));
        let (b, owner) = (Arc::clone(&batch), self.owner.clone());
        let out = self
            .store
            .local()
            .write(move |tx| {
                for q in locked(&b).iter() {
                    commit_in_tx(tx, &q.record, &owner)?;
                }
                op(tx)
            })
            .await;
        self.landed(&batch, out.is_ok());
        out
    }

    /// Lands every queued record now (nothing when none is queued).
    async fn land(&self) -> Result<()> {
        if locked(&self.queue).is_empty() {
            return Ok(());
        }
        self.write(|_| Ok(())).await
    }

    /// After the transaction that applied `batch` committed (`ok`) or failed: the claims
    /// were released by the commit, and the holds are dropped. A batch that did not land
    /// leaves its entries pending; the links remembered for it are forgotten.
    fn landed(&self, batch: &Batch, ok: bool) {
        for q in std::mem::take(&mut *locked(batch)) {
            if !ok {
                self.remember_link(q.record.guid(), None);
            }
            match (ok, q.hold) {
                // Released by the commit; or, not landed but taken over, claimed again by
                // the next operation of the ticket (the same owner), which releases it.
                (true, _) | (false, None) => q.claim.released(),
                // Not landed: the guard releases the claim in the background, then the
                // hold goes.
                (false, Some(hold)) => {
                    drop(q.claim);
                    drop(hold);
                }
            }
        }
    }

    /// Queues `record` (remembering its link) with its claim and hold, and makes sure it
    /// lands within the commit delay.
    pub(crate) fn defer(&self, record: PushRecord, claim: ClaimGuard, hold: Hold) {
        self.remember_link(record.guid(), Some(&record.link));
        locked(&self.queue).push(Queued {
            record,
            claim,
            hold: Some(hold),
        });
        if self.timer_armed.swap(true, Ordering::SeqCst) {
            return;
        }
        let Some(this) = self.me.upgrade() else {
            return;
        };
        let task = tokio::spawn(async move {
            tokio::time::sleep(this.delay).await;
            this.timer_armed.store(false, Ordering::SeqCst);
            if let Err(e) = this.land().await {
                tracing::warn!(error = %e, "cannot record pushes in the store; their changes stay pending and are pushed again");
            }
        });
        // A task replaced here had lowered the flag: it has landed the queue, or is about to.
        *locked(&self.timer) = Some(task);
    }

    /// Takes ticket `guid`'s queued record over, if one waits with its hold: the hold moves
    /// to the caller, and the record either stays queued (it lands in the caller's
    /// transaction, or any earlier one) or, when it can start a [`Chain`], leaves the queue
    /// with its claim to be carried on by the caller's push.
    pub(crate) fn take_over(&self, guid: &str) -> Option<Takeover> {
        let mut queue = locked(&self.queue);
        let i = queue
            .iter()
            .position(|q| q.record.guid() == guid && q.hold.is_some())?;
        let hold = queue[i].hold.take()?;
        let carried = Chain::after(&queue[i].record).map(|chain| {
            let Queued { record, claim, .. } = queue.remove(i);
            CarriedRecord {
                record,
                claim,
                chain,
            }
        });
        Some(Takeover { hold, carried })
    }

    /// Queues a carried record again, with the hold, when the transaction of the push that
    /// was to carry it on failed.
    pub(crate) fn put_back(&self, carried: CarriedRecord, hold: Hold) {
        self.defer(carried.record, carried.claim, hold);
    }

    /// Stops the timer task (shutdown lands the queue itself right after): waits for one
    /// landing now, cancels one still waiting for its delay.
    pub(crate) async fn stop_timer(&self) {
        let task = locked(&self.timer).take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
        self.timer_armed.store(false, Ordering::SeqCst);
    }

    /// Remembers the link a push of ticket `guid` stored or queued (`None`: forget it).
    pub(crate) fn remember_link(&self, guid: &str, link: Option<&Link>) {
        let mut links = locked(&self.links);
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

    /// The link a push of this instance last stored or queued for ticket `guid`, if
    /// remembered.
    pub(crate) fn committed_link(&self, guid: &str) -> Option<Link> {
        locked(&self.links).get(guid).cloned()
    }
}
