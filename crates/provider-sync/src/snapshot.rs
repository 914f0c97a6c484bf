//! The values of a ticket as both sides last agreed on them ("the last sync"), kept per
//! ticket in the internal store's key/value table. Pulls and pushes compare against them to
//! tell which side changed a field (see [`crate::conflict`] and the conflict rule in the crate
//! documentation).

use provider_internal::InternalProvider;
use serde::{Deserialize, Deserializer, Serialize};
use ticket_provider_api::{Priority, Result, Status, Ticket};

/// The synced fields of a ticket, typed: what a local ticket holds and what a pull reads
/// from a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fields {
    pub(crate) subject: String,
    pub(crate) description: String,
    pub(crate) status: Status,
    pub(crate) priority: Priority,
    /// `None`: nobody.
    pub(crate) assignee: Option<String>,
}

impl Fields {
    /// The synced fields of a local ticket.
    pub(crate) fn of(t: &Ticket) -> Self {
        Fields {
            subject: t.subject.clone(),
            description: t.description.clone(),
            status: t.status,
            priority: t.priority,
            assignee: t.assignee.clone(),
        }
    }
}

/// The last agreed value of each synced field; `None` where none is known (nothing recorded
/// yet, or written by an older version that did not record it).
///
/// Stored as JSON with the field names as keys (`"assignee": null` is "agreed on nobody";
/// a missing key is "not known"), the format earlier versions wrote as a string map.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Agreed {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) status: Option<Status>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) priority: Option<Priority>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "known"
    )]
    pub(crate) assignee: Option<Option<String>>,
}

/// A key that is present is known, even when its value is `null` (nobody).
fn known<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

impl From<&Fields> for Agreed {
    fn from(f: &Fields) -> Self {
        Agreed {
            subject: Some(f.subject.clone()),
            description: Some(f.description.clone()),
            status: Some(f.status),
            priority: Some(f.priority),
            assignee: Some(f.assignee.clone()),
        }
    }
}

fn key(guid: &str) -> String {
    format!("sync.snapshot.{guid}")
}

/// The last agreed values of a ticket; nothing known when none were recorded (or
/// unreadable).
pub(crate) async fn load(local: &InternalProvider, guid: &str) -> Result<Agreed> {
    Ok(local
        .kv_get(&key(guid))
        .await?
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default())
}

/// The key/value entry that records the last agreed values of a ticket.
pub(crate) fn entry(guid: &str, values: &Agreed) -> (String, String) {
    let text = serde_json::to_string(values).unwrap_or_else(|_| "{}".to_string());
    (key(guid), text)
}

/// Records the last agreed values of a ticket.
pub(crate) async fn save(local: &InternalProvider, guid: &str, values: &Agreed) -> Result<()> {
    let (k, text) = entry(guid, values);
    local.kv_put(&k, &text).await
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreed_values_read_the_format_of_earlier_versions() {
        // (stored text, what it means)
        let full = Agreed {
            subject: Some("S".into()),
            description: Some("D".into()),
            status: Some(Status::OnHold),
            priority: Some(Priority::High),
            assignee: Some(None),
        };
        let cases = [
            (
                r#"{"assignee":null,"description":"D","priority":"high","status":"ON_HOLD","subject":"S"}"#,
                full.clone(),
            ),
            (
                r#"{"assignee":"a@example.com","status":null}"#,
                Agreed {
                    assignee: Some(Some("a@example.com".into())),
                    ..Agreed::default()
                },
            ),
            ("{}", Agreed::default()),
        ];
        for (text, want) in cases {
            let got: Agreed = serde_json::from_str(text).expect(text);
            assert_eq!(got, want, "{text}");
            let again: Agreed =
                serde_json::from_str(&serde_json::to_string(&got).unwrap()).unwrap();
            assert_eq!(again, want, "round trip of {text}");
        }
    }
}
