//! The [`SyncMaintenance`] extension (capability
//! [`SyncMaintenance`](crate::Capability::SyncMaintenance); `ticket sync ...`) and what its
//! operations report. A dual-write provider offers it through
//! [`TicketProvider::extensions`](crate::TicketProvider::extensions).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::Result;
use crate::future::BoxFuture;
use crate::model::OperationResult;

/// Maintenance of a provider that mirrors a local store to a remote one.
#[async_trait]
pub trait SyncMaintenance: Send + Sync {
    /// Pushes one ticket's pending changes now (links it first when it has no remote task).
    async fn push(&self, guid: &str) -> Result<OperationResult>;

    /// Imports one remote task (by its id) into the local store.
    async fn pull(&self, remote_id: &str) -> Result<OperationResult>;

    /// Imports every remote change since the last pull (or everything, the first time),
    /// calling `progress` as it goes.
    async fn pull_all(&self, progress: &(dyn Fn(PullProgress) + Send + Sync))
        -> Result<PullReport>;

    /// Pushes every pending change.
    async fn flush(&self) -> Result<FlushReport>;

    /// The state of the outbox.
    async fn status(&self) -> Result<SyncStatus>;

    /// Puts a set-aside change back into the queue.
    async fn retry_set_aside(&self, id: i64) -> Result<()>;

    /// Drops a set-aside change for good.
    async fn discard_set_aside(&self, id: i64) -> Result<()>;

    /// Resolves a lost link ([`SyncStatus::lost_links`]) by making a new remote task for the
    /// ticket from its current state (with its comments), pushed now.
    async fn relink(&self, guid: &str) -> Result<OperationResult>;

    /// Resolves a link (lost or not) by keeping the ticket local only: its pending changes are
    /// dropped from the outbox, later changes are not queued, and the old remote task (if
    /// any) is left alone and ignored by pulls.
    async fn unlink(&self, guid: &str) -> Result<OperationResult>;

    /// Compares every linked ticket with its remote task, field by field, and lists the
    /// orphans on either side (one full read of the remote project). With `repair`, each
    /// difference is settled by the provider's conflict rule and the report says what
    /// changed.
    async fn verify(&self, repair: bool) -> Result<VerifyReport>;
}

/// A sync that runs by itself (`ticket sync run`): pushes what is committed locally, follows
/// the remote side's changes, and reconciles the whole project now and then, until told to
/// stop. A dual-write provider offers it through
/// [`TicketProvider::extensions`](crate::TicketProvider::extensions) beside
/// [`SyncMaintenance`]; the timings come from the provider's own configuration.
#[async_trait]
pub trait SyncWorker: Send + Sync {
    /// Runs until `stop` completes, then lets the work in flight finish or leaves it pending
    /// (bounded, a few seconds), releases what it holds and returns what it did. It stops by
    /// itself, with an error, when [`SyncWorker::health`] fails.
    async fn run_worker(&self, stop: BoxFuture<'static, ()>) -> Result<WorkerReport>;

    /// The worker's metrics in the Prometheus text exposition format, gauges read now.
    async fn metrics_text(&self) -> Result<String>;

    /// Whether the worker can still do its work (a health probe's answer); the error says
    /// why not, e.g. its store's file was deleted or replaced under it.
    async fn health(&self) -> Result<()>;
}

/// What [`SyncWorker::run_worker`] did before it stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WorkerReport {
    /// Outbox entries pushed.
    pub pushed: u64,
    /// Pulls run (events followed, or full reads).
    pub pulls: u64,
    /// Full reconciles run.
    pub reconciles: u64,
    /// Whether work was still in flight at the stop deadline (it stays pending).
    pub stopped_in_flight: bool,
}

/// A link whose remote task is gone ([`SyncStatus::lost_links`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LostLink {
    /// The local ticket.
    pub ticket_guid: String,
    /// The remote task it was linked to.
    pub asana_gid: Option<String>,
    /// When the ticket was last pushed or pulled.
    pub last_synced_at: Option<DateTime<Utc>>,
}

/// One field on which a ticket and its remote task disagree ([`VerifyReport::differences`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldDifference {
    /// The local ticket.
    pub ticket_guid: String,
    /// Its remote task.
    pub asana_gid: String,
    /// The field: `subject`, `description`, `status`, `priority`, `assignee` or `due`.
    pub field: String,
    /// The local value (`null`: none).
    pub local: Option<String>,
    /// The remote value (`null`: none).
    pub remote: Option<String>,
}

/// Why an item is an orphan ([`VerifyReport::orphans`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OrphanKind {
    /// A remote task of the project that no ticket is linked to.
    RemoteTaskWithoutTicket,
    /// A ticket with no remote task and no change waiting to create one.
    TicketWithoutTask,
    /// A ticket linked to a task that the remote project does not hold (or a lost link).
    TaskMissing,
}

/// An item present on one side only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Orphan {
    /// Which side has it.
    pub kind: OrphanKind,
    /// The local ticket, when there is one.
    pub ticket_guid: Option<String>,
    /// The remote task, when there is one.
    pub asana_gid: Option<String>,
}

/// What [`SyncMaintenance::verify`] found (and, with repair, changed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Linked tickets compared.
    pub compared: usize,
    /// Linked tickets not compared because a local change of theirs waits to be pushed
    /// (they are expected to differ until it is).
    pub skipped_pending: usize,
    /// Every field that differs.
    pub differences: Vec<FieldDifference>,
    /// Items on one side only.
    pub orphans: Vec<Orphan>,
    /// With repair: what was done, one line per ticket or task.
    pub repairs: Vec<String>,
    /// Differences and orphans still standing: all found without repair; with repair, those
    /// it could not settle (lost links wait for `relink` or `unlink`).
    pub unresolved: usize,
}

impl VerifyReport {
    /// Whether both sides agree (no difference, no orphan).
    pub fn agrees(&self) -> bool {
        self.differences.is_empty() && self.orphans.is_empty()
    }
}

/// How [`SyncMaintenance::pull_all`] read the remote side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PullMode {
    /// Every task of the project (first pull, or the events sync token had expired).
    Full,
    /// Only the tasks the remote event stream named since the last pull.
    Incremental,
}

impl PullMode {
    /// `"full"` or `"incremental"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            PullMode::Full => "full",
            PullMode::Incremental => "incremental",
        }
    }
}

/// Progress of [`SyncMaintenance::pull_all`], reported after each task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PullProgress {
    /// How the project is being read.
    pub mode: PullMode,
    /// Tasks handled so far.
    pub done: usize,
    /// Tasks to handle in all.
    pub total: usize,
}

/// What [`SyncMaintenance::pull_all`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PullReport {
    /// How the project was read.
    pub mode: PullMode,
    /// Tasks looked at.
    pub tasks_seen: usize,
    /// Local tickets created from new tasks.
    pub created: usize,
    /// Local tickets changed (fields or new comments).
    pub updated: usize,
    /// Tasks that matched their ticket already.
    pub unchanged: usize,
    /// Fields changed on both sides, decided by the conflict rule.
    pub conflicts: usize,
    /// Tasks skipped, with the reason (not in the project, a duplicate, an error, ...).
    pub skipped: Vec<SkippedTask>,
    /// Links this pull found lost (the task answered 404/403, was outside the project, or
    /// a full read did not list it).
    pub lost: usize,
}

/// A task [`SyncMaintenance::pull_all`] did not import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedTask {
    /// The task gid.
    pub asana_gid: String,
    /// Why.
    pub reason: String,
}

/// What [`SyncMaintenance::flush`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FlushReport {
    /// Tickets with pending changes that were tried.
    pub tickets: usize,
    /// Outbox entries pushed.
    pub pushed: usize,
    /// Outbox entries set aside because the remote side refused them for good.
    pub set_aside: usize,
    /// Outbox entries still pending afterwards (temporary failures; retried later).
    pub pending: u64,
    /// True when the flush stopped early because the remote side looks down.
    pub stopped_early: bool,
    /// Tickets skipped because another instance (process) was pushing them; their changes
    /// are counted in `pending` unless that instance pushed them meanwhile.
    pub claimed_elsewhere: usize,
}

/// One outbox entry that was set aside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetAsideEntry {
    /// The outbox entry id.
    pub id: i64,
    /// The ticket.
    pub ticket_guid: String,
    /// The operation (`create`, `update`, `assign`, ...).
    pub operation: String,
    /// Why the remote side refused it.
    pub reason: String,
    /// When the change was made.
    pub created_at: DateTime<Utc>,
}

/// The state of the outbox ([`SyncMaintenance::status`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncStatus {
    /// Entries waiting to be pushed.
    pub pending: u64,
    /// Entries set aside (not retried).
    pub set_aside: u64,
    /// Every set-aside entry, oldest first.
    pub set_aside_entries: Vec<SetAsideEntry>,
    /// Whether pushes are paused because the remote side looked down.
    pub asana_paused: bool,
    /// Links whose remote task is lost (deleted, out of the project, or no longer visible);
    /// resolve each with `relink` or `unlink`.
    pub lost: u64,
    /// Every lost link.
    pub lost_links: Vec<LostLink>,
    /// When the oldest pending entry was made (`null`: none pending).
    pub oldest_pending_at: Option<DateTime<Utc>>,
    /// Entries found already carried out in the remote system, so completed without being
    /// pushed again and the remote's later values kept: the store was behind the remote
    /// (restored from an earlier copy, or a push's record was lost). A running total.
    pub already_pushed: u64,
    /// The webhook the worker follows the remote project through, as the last worker with
    /// a webhook reported it (`null`: no worker has run with one on this store).
    pub webhook: Option<WebhookHealth>,
}

/// Where the worker's webhook stands ([`WebhookHealth::state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookState {
    /// Being registered (the worker polls meanwhile).
    Registering,
    /// Registered, and a delivery or heartbeat came within the silence limit: the worker
    /// does not poll.
    Healthy,
    /// No delivery or heartbeat within the silence limit: the worker polls and registers
    /// the webhook again.
    Silent,
    /// Registering failed (the remote side could not reach the address, or refused): the
    /// worker polls and tries again later.
    Failed,
    /// The worker stopped.
    Stopped,
}

impl WebhookState {
    /// The state's name as JSON spells it (`healthy`, `silent`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookState::Registering => "registering",
            WebhookState::Healthy => "healthy",
            WebhookState::Silent => "silent",
            WebhookState::Failed => "failed",
            WebhookState::Stopped => "stopped",
        }
    }
}

/// How the worker learns of remote changes ([`WebhookHealth::fallback`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFallback {
    /// None: deliveries wake the worker; it does not poll.
    None,
    /// The worker polls the remote events every poll interval, as without a webhook.
    Polling,
}

/// The health of the worker's webhook ([`SyncStatus::webhook`]). Counts are since the
/// worker started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct WebhookHealth {
    /// The URL the remote side delivers to.
    pub target: String,
    /// The remote webhook's id, once registered.
    pub webhook_id: Option<String>,
    /// Where it stands.
    pub state: WebhookState,
    /// How the worker learns of remote changes meanwhile.
    pub fallback: WebhookFallback,
    /// When the last verified delivery or heartbeat came.
    pub last_delivery_at: Option<DateTime<Utc>>,
    /// Verified deliveries with events.
    pub deliveries: u64,
    /// Verified heartbeats (deliveries without events).
    pub heartbeats: u64,
    /// Deliveries refused because their signature was missing or wrong (nothing applied).
    pub bad_signatures: u64,
    /// Deliveries accepted whose processing failed (an unreadable body, or the pull they
    /// started failed; the next pull or reconcile catches up).
    pub handler_errors: u64,
    /// Registrations that failed.
    pub registration_failures: u64,
    /// The last failure, one line (never a secret).
    pub last_failure: Option<String>,
    /// When the worker wrote this.
    pub updated_at: DateTime<Utc>,
}
