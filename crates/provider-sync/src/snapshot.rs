//! The values of a ticket as both sides last agreed on them ("the last sync"), kept per
//! ticket in the internal store's key/value table. A pull compares against it to tell which
//! side changed a field (see the conflict rule in the crate documentation).

use std::collections::BTreeMap;

use provider_internal::InternalProvider;
use ticket_provider_api::{Result, Ticket};

/// The synced fields, by name.
pub(crate) const FIELDS: [&str; 5] = ["subject", "description", "status", "priority", "assignee"];

/// Field name → value (`None` only for "no assignee").
pub(crate) type Values = BTreeMap<String, Option<String>>;

fn key(guid: &str) -> String {
    format!("sync.snapshot.{guid}")
}

/// The synced field values of a local ticket.
pub(crate) fn values_of(t: &Ticket) -> Values {
    let mut v = Values::new();
    v.insert("subject".into(), Some(t.subject.clone()));
    v.insert("description".into(), Some(t.description.clone()));
    v.insert("status".into(), Some(t.status.as_str().to_string()));
    v.insert("priority".into(), Some(t.priority.as_str().to_string()));
    v.insert("assignee".into(), t.assignee.clone());
    v
}

/// The last agreed values of a ticket; empty when none were recorded (or unreadable).
pub(crate) async fn load(local: &InternalProvider, guid: &str) -> Result<Values> {
    Ok(local
        .kv_get(&key(guid))
        .await?
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default())
}

/// Records the last agreed values of a ticket.
pub(crate) async fn save(local: &InternalProvider, guid: &str, values: &Values) -> Result<()> {
    let text = serde_json::to_string(values).unwrap_or_else(|_| "{}".to_string());
    local.kv_put(&key(guid), &text).await
}

fn pushed_key(guid: &str) -> String {
    format!("sync.pushed_at.{guid}")
}

/// Records that a push of this ticket just wrote to Asana (called under the ticket's claim,
/// after the writes): a pull that read Asana before this moment may hold stale values of it.
pub(crate) async fn mark_pushed(local: &InternalProvider, guid: &str) -> Result<()> {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    local.kv_put(&pushed_key(guid), &now).await
}

/// When a push last wrote this ticket to Asana (see [`mark_pushed`]); `None` when never
/// recorded (or unreadable).
pub(crate) async fn pushed_at(
    local: &InternalProvider,
    guid: &str,
) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
    Ok(local
        .kv_get(&pushed_key(guid))
        .await?
        .and_then(|text| chrono::DateTime::parse_from_rfc3339(&text).ok())
        .map(|t| t.with_timezone(&chrono::Utc)))
}
