//! The [`SyncMaintenance`] extension (capability
//! [`SyncMaintenance`](crate::Capability::SyncMaintenance); `ticket sync ...`) and what its
//! operations report. A dual-write provider offers it through
//! [`TicketProvider::extensions`](crate::TicketProvider::extensions).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::Result;
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
}
