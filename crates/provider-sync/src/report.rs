//! What the sync-specific operations report. The types belong to the
//! [`ticket_provider_api::SyncMaintenance`] extension, so that any provider offering it
//! reports the same way; they are re-exported here for convenience.

pub use ticket_provider_api::maintenance::{
    FieldDifference, FlushReport, LostLink, Orphan, OrphanKind, PullMode, PullProgress, PullReport,
    SetAsideEntry, SkippedTask, SyncStatus, VerifyReport, WebhookFallback, WebhookHealth,
    WebhookState,
};
