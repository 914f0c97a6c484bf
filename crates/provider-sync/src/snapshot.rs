//! A ticket's synced values, and the values both sides last agreed on ("the last sync"),
//! kept per ticket in its link (`def_asana_sync.agreed`). Pulls and pushes compare against
//! them to tell which side changed a field (see [`crate::conflict`] and the conflict rule in
//! the crate documentation).
//!
//! Both are [`Values`] maps over the field set that `ticket_provider_api::field_set`
//! declares once: the built-in fields, the carried custom fields and the labels. Nothing
//! here names a field.

use std::collections::BTreeSet;

use ticket_provider_api::field_set::{TicketField, Values};

use crate::completion::StatusPair;
use ticket_provider_api::Ticket;

/// The custom fields the sync carries to Asana: those `asana_fields` maps. Other declared
/// fields stay local.
pub(crate) type CarriedFields = BTreeSet<String>;

/// The synced values of a ticket: every field of [`synced_fields`], each with its value (a
/// custom field without one: `Custom(None)`). What a local ticket holds and what a pull reads
/// from a task.
pub(crate) type Fields = Values;

/// The last agreed value of each synced field ([`Agreed::values`]; it derefs to them). A
/// field that is absent is not known (nothing recorded yet, or written by an older version
/// that did not record it); a field agreed on no value holds its empty value
/// (`Person(None)`, `Due(None)`, `Custom(None)`).
///
/// Release 0.1.0 stored the values as JSON with the field names as keys (`"assignee": null`
/// is "agreed on nobody"; a missing key is "not known"), the form [`Values::to_stored`]
/// still writes; opening such a store reads that text once into the link (see
/// `db::upgrade_legacy_rows`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Agreed {
    /// The agreed values.
    pub values: Values,
    /// The task's section and `completed` that the agreed status was read from, when the two
    /// disagreed and a conflict made that reading the agreed status (see `completion.rs`).
    pub(crate) status_from: Option<StatusPair>,
}

impl From<Values> for Agreed {
    fn from(values: Values) -> Self {
        Agreed {
            values,
            status_from: None,
        }
    }
}

impl std::ops::Deref for Agreed {
    type Target = Values;
    fn deref(&self) -> &Values {
        &self.values
    }
}

impl std::ops::DerefMut for Agreed {
    fn deref_mut(&mut self) -> &mut Values {
        &mut self.values
    }
}

/// The fields the sync carries: the built-in ones, the `carried` custom fields, the labels.
pub(crate) fn synced_fields(carried: &CarriedFields) -> Vec<TicketField> {
    TicketField::BUILT_IN
        .into_iter()
        .chain(carried.iter().cloned().map(TicketField::Custom))
        .chain([TicketField::Labels])
        .collect()
}

/// Whether the sync carries `field`: every built-in field and the labels, and the
/// `carried` custom fields.
pub(crate) fn carries(carried: &CarriedFields, field: &TicketField) -> bool {
    match field {
        TicketField::Custom(name) => carried.contains(name),
        _ => true,
    }
}

/// The synced values of local ticket `t`.
pub(crate) fn fields_of(t: &Ticket, carried: &CarriedFields) -> Fields {
    Values::of(t, &synced_fields(carried))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ticket_provider_api::field_set::TicketValue;
    use ticket_provider_api::{Priority, Status};

    #[test]
    fn agreed_values_read_the_format_of_earlier_versions() {
        // (stored text, what it means)
        let full: Values = [
            (TicketField::Subject, TicketValue::Text("S".into())),
            (TicketField::Description, TicketValue::Text("D".into())),
            (TicketField::Status, TicketValue::Status(Status::OnHold)),
            (TicketField::Priority, TicketValue::Priority(Priority::High)),
            (TicketField::Assignee, TicketValue::Person(None)),
        ]
        .into_iter()
        .collect();
        let cases = [
            (
                r#"{"assignee":null,"description":"D","priority":"high","status":"ON_HOLD","subject":"S"}"#,
                full.clone(),
            ),
            (
                r#"{"assignee":"a@example.com","status":null}"#,
                [(
                    TicketField::Assignee,
                    TicketValue::Person(Some("a@example.com".into())),
                )]
                .into_iter()
                .collect(),
            ),
            ("{}", Values::default()),
        ];
        for (text, want) in cases {
            let map: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(text).expect(text);
            let got = Values::from_stored(&map).expect(text);
            assert_eq!(got, want, "{text}");
            let again = Values::from_stored(&got.to_stored()).unwrap();
            assert_eq!(again, want, "round trip of {text}");
        }
        for bad in [
            r#"{"status":"DONE"}"#,
            r#"{"colour":"red"}"#,
            r#"{"subject":3}"#,
        ] {
            let map: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(bad).unwrap();
            assert!(Values::from_stored(&map).is_err(), "{bad}");
        }
    }
}
