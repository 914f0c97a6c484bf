//! The outbox's typed change: what one local operation asks Asana to do.
//!
//! Each entry is stored as two columns of `data_sync_outbox`: `operation` (the change's
//! name) and `payload` (its values as JSON, written and read by serde from the structs
//! below — the same text release 0.1.0 wrote by hand, so its pending entries read as they
//! are). [`Change::from_stored`] is the only place that reads them.

use chrono::{DateTime, Utc};
use provider_internal::{StatusOperation, TicketChange};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use ticket_provider_api::field_set::{TicketField, TicketValue, Values};
use ticket_provider_api::{Comment, Status, Ticket};

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
///
/// Stored as [`Values::to_stored`]'s JSON object, with the custom fields nested under
/// `"fields"` by bare name, plus `"retried": true` when set: the form release 0.1.0 wrote
/// for the built-in fields. Reading fills the fields a create may leave out
/// ([`TicketField::default_value`]); subject, priority and status are required.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatePayload {
    /// Every built-in field, the labels, and the custom fields the ticket had.
    pub values: Values,
    /// Set when the entry was set aside and retried by hand: its values are the ticket's
    /// current ones and are all written to the (existing) task.
    pub retried: bool,
}

impl CreatePayload {
    /// The values of ticket `t` as a create carries them.
    fn of(t: &Ticket, retried: bool) -> Self {
        let fields: Vec<TicketField> = TicketField::BUILT_IN
            .into_iter()
            .chain(t.fields.keys().cloned().map(TicketField::Custom))
            .chain([TicketField::Labels])
            .collect();
        CreatePayload {
            values: Values::of(t, &fields),
            retried,
        }
    }
}

impl Serialize for CreatePayload {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = payload_of(&self.values);
        if self.retried {
            map.insert("retried".into(), Json::Bool(true));
        }
        map.serialize(s)
    }
}

impl<'de> Deserialize<'de> for CreatePayload {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut map = serde_json::Map::deserialize(d)?;
        let retried = match map.remove("retried") {
            None => false,
            Some(Json::Bool(b)) => b,
            Some(other) => return Err(D::Error::custom(format!("retried: {other} is no bool"))),
        };
        let mut values = values_of(map).map_err(D::Error::custom)?;
        for field in TicketField::BUILT_IN
            .into_iter()
            .chain([TicketField::Labels])
        {
            if !values.contains(&field) {
                let value = field
                    .default_value()
                    .ok_or_else(|| D::Error::custom(format!("missing field `{field}`")))?;
                values.insert(field, value);
            }
        }
        Ok(CreatePayload { values, retried })
    }
}

/// Changed fields: the new value of each (a cleared one holds its empty value). Stored as
/// [`CreatePayload`] is, without `retried`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdatePayload {
    /// The changed fields.
    pub values: Values,
}

impl Serialize for UpdatePayload {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        payload_of(&self.values).serialize(s)
    }
}

impl<'de> Deserialize<'de> for UpdatePayload {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let map = serde_json::Map::deserialize(d)?;
        let values = values_of(map).map_err(D::Error::custom)?;
        Ok(UpdatePayload { values })
    }
}

/// `values` as a payload stores them (see [`CreatePayload`]).
fn payload_of(values: &Values) -> serde_json::Map<String, Json> {
    let mut map = serde_json::Map::new();
    let mut custom = serde_json::Map::new();
    for (name, v) in values.to_stored() {
        match name.strip_prefix("fields.") {
            Some(bare) => custom.insert(bare.to_string(), v),
            None => map.insert(name, v),
        };
    }
    if !custom.is_empty() {
        map.insert("fields".into(), Json::Object(custom));
    }
    map
}

/// Reads [`payload_of`]'s form.
fn values_of(map: serde_json::Map<String, Json>) -> Result<Values, String> {
    let mut flat = serde_json::Map::new();
    for (name, v) in map {
        if name != "fields" {
            flat.insert(name, v);
            continue;
        }
        let Json::Object(custom) = v else {
            return Err(format!("fields: {v} is no object"));
        };
        for (bare, v) in custom {
            flat.insert(format!("fields.{bare}"), v);
        }
    }
    Values::from_stored(&flat).map_err(|e| e.to_string())
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
            TicketChange::Created { ticket } => Change::Create(CreatePayload::of(ticket, false)),
            TicketChange::Updated { changes, .. } => Change::Update(UpdatePayload {
                values: changes.clone(),
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

    /// The field values it sets: a `create` every field it carries, a status operation the
    /// status, an `assign` the assignee, a comment nothing.
    pub fn sets(&self) -> Values {
        match self {
            Change::Create(p) => p.values.clone(),
            Change::Update(p) => p.values.clone(),
            Change::Status(_, p) => [(TicketField::Status, TicketValue::Status(p.status))]
                .into_iter()
                .collect(),
            Change::Assign(p) => [(
                TicketField::Assignee,
                TicketValue::Person(Some(p.assignee.clone())),
            )]
            .into_iter()
            .collect(),
            Change::Comment(_) => Values::new(),
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
            Change::Create(p) => {
                let mut fresh = CreatePayload::of(t, true);
                if t.assignee.is_none() {
                    if let Some(who) = p.values.assignee() {
                        fresh
                            .values
                            .insert(TicketField::Assignee, TicketValue::Person(who));
                    }
                }
                Change::Create(fresh)
            }
            Change::Update(p) => Change::Update(UpdatePayload {
                values: Values::of(t, p.values.fields()),
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
    use ticket_provider_api::{FieldValue, Labels, Priority};

    /// A create's values: subject, priority, status, and the fields a create may leave out
    /// at their defaults unless given.
    fn create(
        subject: &str,
        description: &str,
        priority: Priority,
        assignee: Option<&str>,
        status: Status,
        extra: &[(TicketField, TicketValue)],
    ) -> Values {
        let mut v: Values = [
            (TicketField::Subject, TicketValue::Text(subject.into())),
            (
                TicketField::Description,
                TicketValue::Text(description.into()),
            ),
            (TicketField::Status, TicketValue::Status(status)),
            (TicketField::Priority, TicketValue::Priority(priority)),
            (
                TicketField::Assignee,
                TicketValue::Person(assignee.map(str::to_string)),
            ),
            (TicketField::Due, TicketValue::Due(None)),
            (TicketField::Labels, TicketValue::Labels(Labels::new())),
        ]
        .into_iter()
        .collect();
        v.extend(extra.iter().cloned());
        v
    }

    fn update(values: &[(TicketField, TicketValue)]) -> Change {
        Change::Update(UpdatePayload {
            values: values.iter().cloned().collect(),
        })
    }

    /// Payloads exactly as release 0.1.0 wrote them (hand-built JSON), and as later versions
    /// did, read as typed changes, and every change written now reads back as itself.
    #[test]
    fn stored_changes_by_table() {
        let comment = CommentPayload {
            comment_guid: "c1".into(),
            body: "why".into(),
            author: None,
        };
        let severity = TicketField::Custom("severity".into());
        let s1 = TicketValue::Custom(Some(FieldValue::Enum("S1".into())));
        let cases: Vec<(&str, &str, Change)> = vec![
            (
                "create",
                r#"{"subject":"S","description":"D","priority":"high","assignee":null,"status":"NEW"}"#,
                Change::Create(CreatePayload {
                    values: create("S", "D", Priority::High, None, Status::New, &[]),
                    retried: false,
                }),
            ),
            (
                "create",
                r#"{"subject":"S","description":"","priority":"low","assignee":"a@b.c","status":"ON_HOLD","retried":true}"#,
                Change::Create(CreatePayload {
                    values: create("S", "", Priority::Low, Some("a@b.c"), Status::OnHold, &[]),
                    retried: true,
                }),
            ),
            (
                "create",
                r#"{"subject":"S","priority":"normal","status":"NEW","due":"2026-12-24"}"#,
                Change::Create(CreatePayload {
                    values: create(
                        "S",
                        "",
                        Priority::Normal,
                        None,
                        Status::New,
                        &[(
                            TicketField::Due,
                            TicketValue::Due("2026-12-24".parse().ok()),
                        )],
                    ),
                    retried: false,
                }),
            ),
            (
                "create",
                r#"{"subject":"S","priority":"normal","status":"NEW","fields":{"severity":{"kind":"enum","elements":["S1"]}},"labels":["vip"]}"#,
                Change::Create(CreatePayload {
                    values: create(
                        "S",
                        "",
                        Priority::Normal,
                        None,
                        Status::New,
                        &[
                            (severity.clone(), s1.clone()),
                            (
                                TicketField::Labels,
                                TicketValue::Labels(["vip".to_string()].into()),
                            ),
                        ],
                    ),
                    retried: false,
                }),
            ),
            (
                "update",
                r#"{"due":null}"#,
                update(&[(TicketField::Due, TicketValue::Due(None))]),
            ),
            (
                "update",
                r#"{"due":"2026-12-24T14:00:00Z"}"#,
                update(&[(
                    TicketField::Due,
                    TicketValue::Due("2026-12-24T15:00:00+01:00".parse().ok()),
                )]),
            ),
            (
                "update",
                r#"{"subject":"New"}"#,
                update(&[(TicketField::Subject, TicketValue::Text("New".into()))]),
            ),
            (
                "update",
                r#"{"fields":{"severity":{"kind":"enum","elements":["S1"]},"estimate":null},"labels":[]}"#,
                update(&[
                    (severity.clone(), s1.clone()),
                    (
                        TicketField::Custom("estimate".into()),
                        TicketValue::Custom(None),
                    ),
                    (TicketField::Labels, TicketValue::Labels(Labels::new())),
                ]),
            ),
            ("update", "{}", update(&[])),
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
        for (op, payload, named) in [
            ("delete", "{}", "unknown operation"),
            ("create", "{}", "subject"),
            ("create", r#"{"subject":"S","status":"NEW"}"#, "priority"),
            (
                "create",
                r#"{"subject":"S","priority":"low","status":"NEW","retried":1}"#,
                "retried",
            ),
            ("update", "not json", "expected"),
            ("update", r#"{"colour":"red"}"#, "colour"),
            ("update", r#"{"fields":[]}"#, "fields"),
            (
                "update",
                r#"{"fields":{"n":{"kind":"number","elements":["x"]}}}"#,
                "fields.n",
            ),
            ("change_status", r#"{"status":"DONE"}"#, "DONE"),
        ] {
            let err = Change::from_stored(op, payload).unwrap_err().to_string();
            assert!(err.contains(named), "{op} {payload}: {err}");
        }
    }
}
