//! The values of a ticket as both sides last agreed on them ("the last sync"), kept per
//! ticket as typed columns of its link (`def_asana_sync.agreed_*`). Pulls and pushes compare
//! against them to tell which side changed a field (see [`crate::conflict`] and the conflict
//! rule in the crate documentation).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Deserializer, Serialize};

use crate::completion::StatusPair;
use ticket_provider_api::{Due, FieldValue, Labels, Priority, Status, Ticket};

/// The custom fields the sync carries to Asana: those `asana_fields` maps. Other declared
/// fields stay local.
pub(crate) type CarriedFields = BTreeSet<String>;

/// The synced fields of a ticket, typed: what a local ticket holds and what a pull reads
/// from a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields {
    pub(crate) subject: String,
    pub(crate) description: String,
    pub(crate) status: Status,
    pub(crate) priority: Priority,
    /// `None`: nobody.
    pub(crate) assignee: Option<String>,
    /// `None`: no due date.
    pub(crate) due: Option<Due>,
    /// Every carried custom field, with its value (`None`: none).
    pub(crate) custom: BTreeMap<String, Option<FieldValue>>,
    /// The labels.
    pub(crate) labels: Labels,
}

impl Fields {
    /// The synced fields of a local ticket: the built-in ones, the `carried` custom fields
    /// and the labels.
    pub(crate) fn of(t: &Ticket, carried: &CarriedFields) -> Self {
        Fields {
            subject: t.subject.clone(),
            description: t.description.clone(),
            status: t.status,
            priority: t.priority,
            assignee: t.assignee.clone(),
            due: t.due,
            custom: carried
                .iter()
                .map(|name| (name.clone(), t.fields.get(name).cloned()))
                .collect(),
            labels: t.labels.clone(),
        }
    }
}

/// The last agreed value of each synced field; `None` where none is known (nothing recorded
/// yet, or written by an older version that did not record it).
///
/// Release 0.1.0 stored it as JSON with the field names as keys (`"assignee": null` is
/// "agreed on nobody"; a missing key is "not known"); opening such a store reads that text
/// once into the columns (see `db::upgrade_legacy_rows`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agreed {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Subject.
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Description.
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Status.
    pub status: Option<Status>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Priority.
    pub priority: Option<Priority>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "known"
    )]
    /// Assignee; `Some(None)`: agreed on nobody.
    pub assignee: Option<Option<String>>,
    /// Due date; `Some(None)`: agreed on none. (0.1.0 had no due dates: unknown there.)
    #[serde(default, skip)]
    pub due: Option<Option<Due>>,
    /// Carried custom fields: the agreed value of each field in the map (`None`: agreed on
    /// none); a field not in the map is not known.
    #[serde(default, skip)]
    pub custom: BTreeMap<String, Option<FieldValue>>,
    /// Labels; `None`: not known.
    #[serde(default, skip)]
    pub labels: Option<Labels>,
    /// The task's section and `completed` that `status` was read from, when the two
    /// disagreed and a conflict made that reading the agreed status (see `completion.rs`).
    #[serde(default, skip)]
    pub(crate) status_from: Option<StatusPair>,
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
            due: Some(f.due),
            custom: f.custom.clone(),
            labels: Some(f.labels.clone()),
            status_from: None,
        }
    }
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
            due: None,
            ..Agreed::default()
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
