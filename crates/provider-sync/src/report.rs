//! What the sync-specific operations report: [`FlushReport`], [`PullReport`] with
//! [`PullProgress`], and [`SyncStatus`]. All serialise to JSON for the CLI.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// How [`crate::SyncProvider::pull_all`] read the project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PullMode {
    /// Every task of the project (first pull, or the events sync token had expired).
    Full,
    /// Only the tasks Asana's event stream named since the last pull.
    Incremental,
}

/// Progress of [`crate::SyncProvider::pull_all`], reported after each task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PullProgress {
    /// How the project is being read.
    pub mode: PullMode,
    /// Tasks handled so far.
    pub done: usize,
    /// Tasks to handle in all.
    pub total: usize,
}

/// What [`crate::SyncProvider::pull_all`] did.
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
    /// Fields changed on both sides, decided by the conflict rule (see the crate docs).
    pub conflicts: usize,
    /// Tasks skipped, with the reason (not in the project, a duplicate, an error, ...).
    pub skipped: Vec<SkippedTask>,
}

/// A task [`crate::SyncProvider::pull_all`] did not import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedTask {
    /// The task gid.
    pub asana_gid: String,
    /// Why.
    pub reason: String,
}

/// What [`crate::SyncProvider::flush`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FlushReport {
    /// Tickets with pending changes that were tried.
    pub tickets: usize,
    /// Outbox entries pushed.
    pub pushed: usize,
    /// Outbox entries set aside because Asana refused them for good (see [`SyncStatus`]).
    pub set_aside: usize,
    /// Outbox entries still pending afterwards (temporary failures; retried later).
    pub pending: u64,
    /// True when the flush stopped early because Asana looks down.
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
    /// Why Asana refused it.
    pub reason: String,
    /// When the change was made.
    pub created_at: DateTime<Utc>,
}

/// The state of the outbox ([`crate::SyncProvider::status`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncStatus {
    /// Entries waiting to be pushed.
    pub pending: u64,
    /// Entries set aside (not retried).
    pub set_aside: u64,
    /// Every set-aside entry, oldest first.
    pub set_aside_entries: Vec<SetAsideEntry>,
    /// Whether pushes are paused because Asana looked down.
    pub asana_paused: bool,
}
