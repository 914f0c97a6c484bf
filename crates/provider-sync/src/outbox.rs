//! The outbox's typed change: what one local operation asks Asana to do.
//!
//! Each entry is stored as two columns of `data_sync_outbox`: `operation` (the change's
//! name) and `payload` (its values as JSON, written and read by serde from the structs
//! below — the same text release 0.1.0 wrote by hand, so its pending entries read as they
//! are). [`Change::from_stored`] is the only place that reads them.

use chrono::{DateTime, Utc};
use provider_internal::{StatusOperation, TicketChange};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use ticket_provider_api::{Comment, Due, FieldValue, Fields, Labels, Priority, Status, Ticket};

/// A comment to post.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommentPayload {
    /// The local comment.
    pub comment_guid: String,
    /// Its text.
    pub body: String,
    /// Its author, when known.
    #[serde(default)]
    pub author: Option<String>,
}

impl From<&Comment> for CommentPayload {
    fn from(c: &Comment) -> Self {
        CommentPayload {
            comment_guid: c.comment_guid.clone(),
            body: c.body.clone(),
            author: c.author.clone(),
        }
    }
}

/// A new ticket: its values when it was created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatePayload {
    /// Subject.
    pub subject: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Priority.
    pub priority: Priority,
    /// Assignee.
    #[serde(default)]
    pub assignee: Option<String>,
    /// Status (NEW).
    pub status: Status,
    /// Due date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<Due>,
    /// Custom field values (each with its type).
    #[serde(
        default,
        skip_serializing_if = "Fields::is_empty",
        with = "crate::typed::fields"
    )]
    pub fields: Fields,
    /// Labels.
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
    /// Set when the entry was set aside and retried by hand: its values are the ticket's
    /// current ones and are all written to the (existing) task.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retried: bool,
}

/// Changed fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdatePayload {
    /// New subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// New description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// New priority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    /// New due date (`Some(None)`: cleared).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "ticket_provider_api::due::double_option"
    )]
    pub due: Option<Option<Due>>,
    /// Custom fields set (`Some`) or cleared (`None`).
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        with = "crate::typed::changes"
    )]
    pub fields: BTreeMap<String, Option<FieldValue>>,
    /// The labels after the change, when they changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
}

/// A status set by a status operation (with an escalation's reason as a comment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusPayload {
    /// The status.
    pub status: Status,
    /// The comment written with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<CommentPayload>,
}

/// A new assignee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignPayload {
    /// Who.
    pub assignee: String,
}

/// One change waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// `create`.
    Create(CreatePayload),
    /// `update`.
    Update(UpdatePayload),
    /// `change_status`, `close`, `resolve` or `escalate`.
    Status(StatusOperation, StatusPayload),
    /// `assign`.
    Assign(AssignPayload),
    /// `add_comment`.
    Comment(CommentPayload),
}

/// An outbox row that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("outbox entry with operation {operation:?} cannot be read: {reason}")]
pub struct UnreadableChange {
    /// The stored operation.
    pub operation: String,
    /// Why.
    pub reason: String,
}

impl Change {
    /// The outbox change of a local operation.
    pub fn of(change: &TicketChange) -> Change {
        match change {
            TicketChange::Created { ticket } => Change::Create(CreatePayload {
                subject: ticket.subject.clone(),
                description: ticket.description.clone(),
                priority: ticket.priority,
                assignee: ticket.assignee.clone(),
                status: ticket.status,
                due: ticket.due,
                fields: ticket.fields.clone(),
                labels: ticket.labels.clone(),
                retried: false,
            }),
            TicketChange::Updated { changes, .. } => Change::Update(UpdatePayload {
                subject: changes.subject.clone(),
                description: changes.description.clone(),
                priority: changes.priority,
                due: changes.due,
                fields: changes.fields.clone(),
                labels: changes.labels.clone(),
            }),
            TicketChange::StatusSet {
                operation,
                status,
                comment,
                ..
            } => Change::Status(
                *operation,
                StatusPayload {
                    status: *status,
                    comment: comment.as_ref().map(CommentPayload::from),
                },
            ),
            TicketChange::Assigned { assignee, .. } => Change::Assign(AssignPayload {
                assignee: assignee.clone(),
            }),
            TicketChange::Commented { comment, .. } => Change::Comment(comment.into()),
        }
    }

    /// The stored `operation`.
    pub fn operation(&self) -> &'static str {
        match self {
            Change::Create(_) => "create",
            Change::Update(_) => "update",
            Change::Status(op, _) => op.as_str(),
            Change::Assign(_) => "assign",
            Change::Comment(_) => "add_comment",
        }
    }

    /// The stored `payload`.
    pub fn payload(&self) -> String {
        let text = match self {
            Change::Create(p) => serde_json::to_string(p),
            Change::Update(p) => serde_json::to_string(p),
            Change::Status(_, p) => serde_json::to_string(p),
            Change::Assign(p) => serde_json::to_string(p),
            Change::Comment(p) => serde_json::to_string(p),
        };
        // Serialising these structs cannot fail (string keys, no maps of other keys).
        text.unwrap_or_else(|_| "{}".to_string())
    }

    /// Reads a stored change.
    pub fn from_stored(operation: &str, payload: &str) -> Result<Change, UnreadableChange> {
        let bad = |e: serde_json::Error| UnreadableChange {
            operation: operation.to_string(),
            reason: e.to_string(),
        };
        Ok(match operation {
            "create" => Change::Create(serde_json::from_str(payload).map_err(bad)?),
            "update" => Change::Update(serde_json::from_str(payload).map_err(bad)?),
            "assign" => Change::Assign(serde_json::from_str(payload).map_err(bad)?),
            "add_comment" => Change::Comment(serde_json::from_str(payload).map_err(bad)?),
            other => {
                let op = StatusOperation::ALL
                    .into_iter()
                    .find(|o| o.as_str() == other)
                    .ok_or_else(|| UnreadableChange {
                        operation: other.to_string(),
                        reason: "unknown operation".to_string(),
                    })?;
                Change::Status(op, serde_json::from_str(payload).map_err(bad)?)
            }
        })
    }

    /// The comment this change posts, if any.
    pub fn comment(&self) -> Option<&CommentPayload> {
        match self {
            Change::Comment(c) => Some(c),
            Change::Status(_, p) => p.comment.as_ref(),
            _ => None,
        }
    }

    /// Whether pushing it writes task fields: everything but a comment and a `create` whose
    /// task is made from the ticket (unless retried by hand).
    pub fn writes_fields(&self) -> bool {
        match self {
            Change::Create(p) => p.retried,
            Change::Comment(_) => false,
            _ => true,
        }
    }

    /// The change retried by hand: the values it carries become the ticket's current ones
    /// (later changes of those fields may have been pushed while it was set aside), and a
    /// `create` writes them all to the existing task.
    pub fn refreshed(&self, t: &Ticket) -> Change {
        match self {
            Change::Create(p) => Change::Create(CreatePayload {
                subject: t.subject.clone(),
                description: t.description.clone(),
                priority: t.priority,
                assignee: t.assignee.clone().or_else(|| p.assignee.clone()),
                status: t.status,
                due: t.due,
                fields: t.fields.clone(),
                labels: t.labels.clone(),
                retried: true,
            }),
            Change::Update(p) => Change::Update(UpdatePayload {
                subject: p.subject.as_ref().map(|_| t.subject.clone()),
                description: p.description.as_ref().map(|_| t.description.clone()),
                priority: p.priority.map(|_| t.priority),
                due: p.due.map(|_| t.due),
                fields: p
                    .fields
                    .keys()
                    .map(|name| (name.clone(), t.fields.get(name).cloned()))
                    .collect(),
                labels: p.labels.as_ref().map(|_| t.labels.clone()),
            }),
            Change::Status(op, p) => Change::Status(
                *op,
                StatusPayload {
                    status: t.status,
                    comment: p.comment.clone(),
                },
            ),
            Change::Assign(p) => Change::Assign(AssignPayload {
                assignee: t.assignee.clone().unwrap_or_else(|| p.assignee.clone()),
            }),
            Change::Comment(c) => Change::Comment(c.clone()),
        }
    }
}

/// One change waiting to be pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// The entry's id: unique, and rising with the commit order of the ticket's changes
    /// (pushed in this order). On PostgreSQL a sequence; on SQLite the time the entry was
    /// made in microseconds, kept above the ticket's newest entry and every id the process
    /// gave before.
    pub id: i64,
    /// The ticket changed.
    pub ticket_guid: String,
    /// What changed.
    pub change: Change,
    /// When the change was made.
    pub created_at: DateTime<Utc>,
    /// Failed push attempts so far.
    pub attempts: u32,
    /// The last push error.
    pub last_error: Option<String>,
    /// Why the entry was set aside (no longer retried), if it was.
    pub set_aside_reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Payloads exactly as release 0.1.0 wrote them (hand-built JSON) read as typed changes,
    /// and every change written now reads back as itself.
    #[test]
    fn stored_changes_by_table() {
        let comment = CommentPayload {
            comment_guid: "c1".into(),
            body: "why".into(),
            author: None,
        };
        let cases: Vec<(&str, &str, Change)> = vec![
            (
                "create",
                r#"{"subject":"S","description":"D","priority":"high","assignee":null,"status":"NEW"}"#,
                Change::Create(CreatePayload {
                    subject: "S".into(),
                    description: "D".into(),
                    priority: Priority::High,
                    assignee: None,
                    status: Status::New,
                    due: None,
                    fields: Default::default(),
                    labels: Default::default(),
                    retried: false,
                }),
            ),
            (
                "create",
                r#"{"subject":"S","description":"","priority":"low","assignee":"a@b.c","status":"ON_HOLD","retried":true}"#,
                Change::Create(CreatePayload {
                    subject: "S".into(),
                    description: String::new(),
                    priority: Priority::Low,
                    assignee: Some("a@b.c".into()),
                    status: Status::OnHold,
                    due: None,
                    fields: Default::default(),
                    labels: Default::default(),
                    retried: true,
                }),
            ),
            (
                "create",
                r#"{"subject":"S","priority":"normal","status":"NEW","due":"2026-12-24"}"#,
                Change::Create(CreatePayload {
                    subject: "S".into(),
                    description: String::new(),
                    priority: Priority::Normal,
                    assignee: None,
                    status: Status::New,
                    due: "2026-12-24".parse().ok(),
                    fields: Default::default(),
                    labels: Default::default(),
                    retried: false,
                }),
            ),
            (
                "update",
                r#"{"due":null}"#,
                Change::Update(UpdatePayload {
                    due: Some(None),
                    ..UpdatePayload::default()
                }),
            ),
            (
                "update",
                r#"{"due":"2026-12-24T14:00:00Z"}"#,
                Change::Update(UpdatePayload {
                    due: Some("2026-12-24T15:00:00+01:00".parse().ok()),
                    ..UpdatePayload::default()
                }),
            ),
            (
                "update",
                r#"{"subject":"New"}"#,
                Change::Update(UpdatePayload {
                    subject: Some("New".into()),
                    ..UpdatePayload::default()
                }),
            ),
            (
                "escalate",
                r#"{"status":"ESCALATED","comment":{"comment_guid":"c1","body":"why","author":null}}"#,
                Change::Status(
                    StatusOperation::Escalate,
                    StatusPayload {
                        status: Status::Escalated,
                        comment: Some(comment.clone()),
                    },
                ),
            ),
            (
                "close",
                r#"{"status":"CLOSED"}"#,
                Change::Status(
                    StatusOperation::Close,
                    StatusPayload {
                        status: Status::Closed,
                        comment: None,
                    },
                ),
            ),
            (
                "assign",
                r#"{"assignee":"bob"}"#,
                Change::Assign(AssignPayload {
                    assignee: "bob".into(),
                }),
            ),
            (
                "add_comment",
                r#"{"comment_guid":"c1","body":"why","author":null}"#,
                Change::Comment(comment),
            ),
        ];
        for (op, payload, want) in cases {
            let got = Change::from_stored(op, payload).expect(payload);
            assert_eq!(got, want, "{op} {payload}");
            assert_eq!(got.operation(), op);
            let again = Change::from_stored(got.operation(), &got.payload()).unwrap();
            assert_eq!(again, want, "round trip of {op}");
        }
        for (op, payload) in [
            ("delete", "{}"),
            ("create", "{}"),
            ("update", "not json"),
            ("change_status", r#"{"status":"DONE"}"#),
        ] {
            assert!(Change::from_stored(op, payload).is_err(), "{op} {payload}");
        }
    }
}
