//! The field set of a ticket, declared once: every field a provider carries — the built-in
//! ones, the declared custom fields and the labels — as one key type, [`TicketField`], with
//! one typed value type, [`TicketValue`].
//!
//! This module is the declaration. For each field it says its name (as tickets, history and
//! conflict notes spell it), how its value is read from a [`Ticket`], written into a
//! [`TicketUpdate`], shown, and stored (the JSON form of [`TicketValue::to_stored`], which
//! is also the form release 0.1.0 wrote for the built-in fields). Code that handles fields
//! in general — the `sync` provider's agreed values, outbox payloads, conflict rule and
//! `verify` — loops over a [`Values`] map instead of naming fields.
//!
//! Adding a built-in field touches:
//! 1. this module: a [`TicketField`] variant and its arm in each `match` below (the
//!    compiler lists them), plus a [`TicketValue`] variant if its type is new;
//! 2. the model ([`Ticket`], [`NewTicket`](crate::NewTicket), [`TicketUpdate`]);
//! 3. the internal store: a migration for its column, and the column's mapping
//!    (`provider-internal`'s `schema.rs` and `rows.rs`: `TicketRow`, `TicketChanges::set`);
//! 4. its Asana mapping (`provider-asana`'s task, and `provider-sync`'s
//!    `reconcile::remote_fields` and `push_remote.rs` when it needs a request of its own);
//! 5. their tests.
//!
//! History, the outbox, the agreed values, the conflict rule, `verify` and `ticket get`
//! follow from the declaration.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::due::Due;
use crate::fields::{FieldValue, Labels};
use crate::model::{Ticket, TicketUpdate};
use crate::status::{Priority, Status};

/// A field of a ticket that providers carry.
///
/// The order (derived) is the order fields are reported in: the built-in fields as declared,
/// then the custom fields by name, then the labels.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TicketField {
    /// One line of text.
    Subject,
    /// Text.
    Description,
    /// The workflow state.
    Status,
    /// How urgent.
    Priority,
    /// Who works on it (an e-mail or name), or nobody.
    Assignee,
    /// A day or an instant, or none.
    Due,
    /// A declared custom field, by name.
    Custom(String),
    /// The set of labels.
    Labels,
}

/// The value of a [`TicketField`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketValue {
    /// Subject or description.
    Text(String),
    /// Status.
    Status(Status),
    /// Priority.
    Priority(Priority),
    /// Assignee; `None`: nobody.
    Person(Option<String>),
    /// Due date; `None`: none.
    Due(Option<Due>),
    /// A custom field's value; `None`: none.
    Custom(Option<FieldValue>),
    /// Labels.
    Labels(Labels),
}

/// A stored value that does not fit its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stored value of {field} cannot be read: {reason}")]
pub struct UnreadableValue {
    /// The field's name.
    pub field: String,
    /// Why.
    pub reason: String,
}

/// A custom field value with its type's name and its canonical elements
/// ([`FieldValue::stored`]): `{"kind": "enum", "elements": ["S1"]}`, so that a stored value
/// reads back in its type whatever the config declares later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct TypedValue {
    kind: String,
    elements: Vec<String>,
}

impl TicketField {
    /// The built-in fields, in order.
    pub const BUILT_IN: [TicketField; 6] = [
        TicketField::Subject,
        TicketField::Description,
        TicketField::Status,
        TicketField::Priority,
        TicketField::Assignee,
        TicketField::Due,
    ];

    /// The field's name, as tickets, history and conflict notes spell it: the built-in
    /// field's name, `fields.<name>` for a custom field, `labels`.
    pub fn name(&self) -> String {
        match self {
            TicketField::Custom(name) => format!("fields.{name}"),
            other => other.built_in_name().unwrap_or("labels").to_string(),
        }
    }

    fn built_in_name(&self) -> Option<&'static str> {
        Some(match self {
            TicketField::Subject => "subject",
            TicketField::Description => "description",
            TicketField::Status => "status",
            TicketField::Priority => "priority",
            TicketField::Assignee => "assignee",
            TicketField::Due => "due",
            TicketField::Custom(_) | TicketField::Labels => return None,
        })
    }

    /// The field a [`name`](Self::name) names.
    pub fn parse(name: &str) -> Option<TicketField> {
        if name == "labels" {
            return Some(TicketField::Labels);
        }
        if let Some(custom) = name.strip_prefix("fields.") {
            return (!custom.is_empty()).then(|| TicketField::Custom(custom.to_string()));
        }
        TicketField::BUILT_IN
            .into_iter()
            .find(|f| f.built_in_name() == Some(name))
    }

    /// The built-in field named `name` (`subject`, ..., `due`).
    pub fn built_in(name: &str) -> Option<TicketField> {
        TicketField::parse(name).filter(TicketField::is_built_in)
    }

    /// Whether it is one of [`TicketField::BUILT_IN`].
    pub fn is_built_in(&self) -> bool {
        self.built_in_name().is_some()
    }

    /// The field's value on ticket `t`.
    pub fn of(&self, t: &Ticket) -> TicketValue {
        match self {
            TicketField::Subject => TicketValue::Text(t.subject.clone()),
            TicketField::Description => TicketValue::Text(t.description.clone()),
            TicketField::Status => TicketValue::Status(t.status),
            TicketField::Priority => TicketValue::Priority(t.priority),
            TicketField::Assignee => TicketValue::Person(t.assignee.clone()),
            TicketField::Due => TicketValue::Due(t.due),
            TicketField::Custom(name) => TicketValue::Custom(t.fields.get(name).cloned()),
            TicketField::Labels => TicketValue::Labels(t.labels.clone()),
        }
    }

    /// The value a field has when a new ticket does not say: `None` for the fields every
    /// ticket is created with (subject, status, priority).
    pub fn default_value(&self) -> Option<TicketValue> {
        match self {
            TicketField::Subject | TicketField::Status | TicketField::Priority => None,
            TicketField::Description => Some(TicketValue::Text(String::new())),
            TicketField::Assignee => Some(TicketValue::Person(None)),
            TicketField::Due => Some(TicketValue::Due(None)),
            TicketField::Custom(_) => Some(TicketValue::Custom(None)),
            TicketField::Labels => Some(TicketValue::Labels(Labels::new())),
        }
    }

    /// How "no value" is shown.
    pub fn nothing(&self) -> &'static str {
        match self {
            TicketField::Assignee => "(nobody)",
            _ => "(none)",
        }
    }

    /// Reads a value of this field from its stored form ([`TicketValue::to_stored`]).
    pub fn from_stored(&self, json: &Json) -> Result<TicketValue, UnreadableValue> {
        let bad = |reason: String| UnreadableValue {
            field: self.name(),
            reason,
        };
        fn read<T: serde::de::DeserializeOwned>(json: &Json) -> Result<T, String> {
            T::deserialize(json).map_err(|e| e.to_string())
        }
        Ok(match self {
            TicketField::Subject | TicketField::Description => {
                TicketValue::Text(read(json).map_err(bad)?)
            }
            TicketField::Status => TicketValue::Status(read(json).map_err(bad)?),
            TicketField::Priority => TicketValue::Priority(read(json).map_err(bad)?),
            TicketField::Assignee => TicketValue::Person(read(json).map_err(bad)?),
            TicketField::Due => TicketValue::Due(read(json).map_err(bad)?),
            TicketField::Custom(_) => {
                let typed: Option<TypedValue> = read(json).map_err(bad)?;
                TicketValue::Custom(match typed {
                    None => None,
                    Some(t) => Some(
                        FieldValue::from_stored_kind(&t.kind, t.elements)
                            .ok_or_else(|| bad(format!("not a stored {} value", t.kind)))?,
                    ),
                })
            }
            TicketField::Labels => TicketValue::Labels(read(json).map_err(bad)?),
        })
    }

    /// Whether `value` is of this field's type.
    pub fn fits(&self, value: &TicketValue) -> bool {
        matches!(
            (self, value),
            (
                TicketField::Subject | TicketField::Description,
                TicketValue::Text(_)
            ) | (TicketField::Status, TicketValue::Status(_))
                | (TicketField::Priority, TicketValue::Priority(_))
                | (TicketField::Assignee, TicketValue::Person(_))
                | (TicketField::Due, TicketValue::Due(_))
                | (TicketField::Custom(_), TicketValue::Custom(_))
                | (TicketField::Labels, TicketValue::Labels(_))
        )
    }

    /// Sets this field of ticket `t` to `value` (a value of another type is left out; an
    /// empty custom value is no value).
    pub fn set(&self, t: &mut Ticket, value: TicketValue) {
        match (self, value) {
            (TicketField::Subject, TicketValue::Text(s)) => t.subject = s,
            (TicketField::Description, TicketValue::Text(s)) => t.description = s,
            (TicketField::Status, TicketValue::Status(s)) => t.status = s,
            (TicketField::Priority, TicketValue::Priority(p)) => t.priority = p,
            (TicketField::Assignee, TicketValue::Person(a)) => t.assignee = a,
            (TicketField::Due, TicketValue::Due(d)) => t.due = d,
            (TicketField::Custom(name), TicketValue::Custom(v)) => match v {
                Some(v) if !v.is_empty() => {
                    t.fields.insert(name.clone(), v);
                }
                _ => {
                    t.fields.remove(name);
                }
            },
            (TicketField::Labels, TicketValue::Labels(l)) => t.labels = l,
            _ => {}
        }
    }

    /// The new value of this field that `update` asks for on ticket `t`, if it names the
    /// field.
    fn in_update(&self, update: &TicketUpdate, t: &Ticket) -> Option<TicketValue> {
        Some(match self {
            TicketField::Subject => TicketValue::Text(update.subject.clone()?),
            TicketField::Description => TicketValue::Text(update.description.clone()?),
            TicketField::Priority => TicketValue::Priority(update.priority?),
            TicketField::Due => TicketValue::Due(update.due?),
            TicketField::Custom(name) => {
                TicketValue::Custom(update.fields.get(name)?.clone().filter(|v| !v.is_empty()))
            }
            TicketField::Labels => {
                if update.add_labels.is_empty() && update.remove_labels.is_empty() {
                    return None;
                }
                TicketValue::Labels(update.apply_labels(&t.labels))
            }
            TicketField::Status | TicketField::Assignee => return None,
        })
    }

    /// Checks `value` as a value of this field: its type ([`fits`](Self::fits)) and the
    /// limits of the built-in text fields (one line, lengths). Custom values and labels are
    /// checked against the declared fields elsewhere ([`crate::FieldSchema`]).
    pub fn check(&self, value: &TicketValue) -> crate::Result<()> {
        use crate::model::{MAX_ASSIGNEE_CHARS, MAX_DESCRIPTION_CHARS, MAX_SUBJECT_CHARS};
        use crate::text::{check_line, check_text};
        if !self.fits(value) {
            return Err(crate::Error::invalid_input(format!(
                "{self}: {value:?} is no value of this field"
            )));
        }
        match (self, value) {
            (TicketField::Subject, TicketValue::Text(s)) => {
                check_line("subject", s, MAX_SUBJECT_CHARS)
            }
            (TicketField::Description, TicketValue::Text(s)) => {
                check_text("description", s, MAX_DESCRIPTION_CHARS)
            }
            (TicketField::Assignee, TicketValue::Person(Some(a))) => {
                check_line("assignee", a, MAX_ASSIGNEE_CHARS)
            }
            _ => Ok(()),
        }
    }

    /// Writes `value` into `update` as a change of this field (see [`Values::to_update`] for
    /// the fields an update does not carry). A value of another type ([`fits`](Self::fits))
    /// is left out.
    fn put(&self, value: TicketValue, update: &mut TicketUpdate) {
        match (self, value) {
            (TicketField::Subject, TicketValue::Text(s)) => update.subject = Some(s),
            (TicketField::Description, TicketValue::Text(s)) => update.description = Some(s),
            (TicketField::Priority, TicketValue::Priority(p)) => update.priority = Some(p),
            (TicketField::Due, TicketValue::Due(d)) => update.due = Some(d),
            (TicketField::Custom(name), TicketValue::Custom(v)) => {
                update.fields.insert(name.clone(), v);
            }
            _ => {}
        }
    }
}

impl fmt::Display for TicketField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A field serialises as its [name](TicketField::name).
impl Serialize for TicketField {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TicketField {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        TicketField::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not a ticket field")))
    }
}

impl TicketValue {
    /// The value as text (`None`: no value): what `verify` compares and history records.
    /// Labels are joined by `", "`.
    pub fn display(&self) -> Option<String> {
        match self {
            TicketValue::Text(s) => Some(s.clone()),
            TicketValue::Status(s) => Some(s.as_str().to_string()),
            TicketValue::Priority(p) => Some(p.as_str().to_string()),
            TicketValue::Person(p) => p.clone(),
            TicketValue::Due(d) => d.map(|d| d.to_string()),
            TicketValue::Custom(v) => v.as_ref().map(FieldValue::display),
            TicketValue::Labels(l) if l.is_empty() => None,
            TicketValue::Labels(l) => Some(l.iter().cloned().collect::<Vec<_>>().join(", ")),
        }
    }

    /// The stored form: JSON text as release 0.1.0 wrote the built-in fields (`"NEW"`,
    /// `"high"`, `null` for nobody), a custom value with its type's name, labels as an array.
    pub fn to_stored(&self) -> Json {
        match self {
            TicketValue::Text(s) => Json::from(s.as_str()),
            TicketValue::Status(s) => Json::from(s.as_str()),
            TicketValue::Priority(p) => Json::from(p.as_str()),
            TicketValue::Person(p) => p.as_deref().map_or(Json::Null, Json::from),
            TicketValue::Due(d) => d.map_or(Json::Null, |d| Json::from(d.to_string())),
            TicketValue::Custom(None) => Json::Null,
            TicketValue::Custom(Some(v)) => serde_json::json!({
                "kind": v.kind(),
                "elements": v.stored(),
            }),
            TicketValue::Labels(l) => Json::from(l.iter().cloned().collect::<Vec<_>>()),
        }
    }
}

/// Values of some fields of a ticket, by field: a ticket's synced values, the last agreed
/// ones, or what one change sets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Values(BTreeMap<TicketField, TicketValue>);

impl Values {
    /// No values.
    pub fn new() -> Self {
        Values::default()
    }

    /// The values of `fields` on ticket `t`.
    pub fn of<'a>(t: &Ticket, fields: impl IntoIterator<Item = &'a TicketField>) -> Self {
        Values(fields.into_iter().map(|f| (f.clone(), f.of(t))).collect())
    }

    /// The value of `field`, if present.
    pub fn get(&self, field: &TicketField) -> Option<&TicketValue> {
        self.0.get(field)
    }

    /// The value of `field`, or its [default](TicketField::default_value) when absent.
    pub fn get_or_default(&self, field: &TicketField) -> Option<TicketValue> {
        self.0.get(field).cloned().or_else(|| field.default_value())
    }

    /// Sets `field`'s value.
    pub fn insert(&mut self, field: TicketField, value: TicketValue) {
        self.0.insert(field, value);
    }

    /// Removes `field`'s value.
    pub fn remove(&mut self, field: &TicketField) -> Option<TicketValue> {
        self.0.remove(field)
    }

    /// Whether `field` has a value here.
    pub fn contains(&self, field: &TicketField) -> bool {
        self.0.contains_key(field)
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The fields and values, in field order.
    pub fn iter(&self) -> impl Iterator<Item = (&TicketField, &TicketValue)> {
        self.0.iter()
    }

    /// The fields, in order.
    pub fn fields(&self) -> impl Iterator<Item = &TicketField> {
        self.0.keys()
    }

    /// The status, when present.
    pub fn status(&self) -> Option<Status> {
        match self.0.get(&TicketField::Status) {
            Some(TicketValue::Status(s)) => Some(*s),
            _ => None,
        }
    }

    /// The assignee, when present (`Some(None)`: nobody).
    pub fn assignee(&self) -> Option<Option<String>> {
        match self.0.get(&TicketField::Assignee) {
            Some(TicketValue::Person(p)) => Some(p.clone()),
            _ => None,
        }
    }

    /// The labels, when present.
    pub fn labels(&self) -> Option<&Labels> {
        match self.0.get(&TicketField::Labels) {
            Some(TicketValue::Labels(l)) => Some(l),
            _ => None,
        }
    }

    /// The text of `field` (subject, description), when present.
    pub fn text(&self, field: &TicketField) -> Option<&str> {
        match self.0.get(field) {
            Some(TicketValue::Text(s)) => Some(s),
            _ => None,
        }
    }

    /// What `update` asks for on ticket `t`: the new value of each field it names (labels:
    /// the set after it, when it adds or removes any). The inverse of [`Values::to_update`].
    pub fn of_update(update: &TicketUpdate, t: &Ticket) -> Self {
        let named = TicketField::BUILT_IN
            .into_iter()
            .chain(update.fields.keys().cloned().map(TicketField::Custom))
            .chain([TicketField::Labels]);
        Values(
            named
                .filter_map(|f| f.in_update(update, t).map(|v| (f, v)))
                .collect(),
        )
    }

    /// The values that differ from ticket `t`'s.
    pub fn changed_from(self, t: &Ticket) -> Self {
        Values(self.0.into_iter().filter(|(f, v)| f.of(t) != *v).collect())
    }

    /// Sets every field of ticket `t` that has a value here.
    pub fn apply_to(&self, t: &mut Ticket) {
        for (field, value) in &self.0 {
            field.set(t, value.clone());
        }
    }

    /// The values as one [`TicketUpdate`]. It leaves out the status and the assignee, which
    /// have operations of their own, and the labels, which an update adds and removes
    /// relative to what the ticket has.
    pub fn to_update(&self) -> TicketUpdate {
        let mut update = TicketUpdate::default();
        for (field, value) in &self.0 {
            field.put(value.clone(), &mut update);
        }
        update
    }

    /// The stored form: a JSON object of [`TicketField::name`] → [`TicketValue::to_stored`].
    pub fn to_stored(&self) -> serde_json::Map<String, Json> {
        self.0
            .iter()
            .map(|(f, v)| (f.name(), v.to_stored()))
            .collect()
    }

    /// Reads [`Values::to_stored`]'s form. An unknown name is an error; `null` for a field
    /// that always has a value (earlier versions wrote `"status": null`) is "not known".
    pub fn from_stored(map: &serde_json::Map<String, Json>) -> Result<Values, UnreadableValue> {
        let mut out = Values::new();
        for (name, json) in map {
            let field = TicketField::parse(name).ok_or_else(|| UnreadableValue {
                field: name.clone(),
                reason: "no such field".to_string(),
            })?;
            match field.from_stored(json) {
                Ok(value) => out.insert(field, value),
                Err(_) if json.is_null() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}

impl FromIterator<(TicketField, TicketValue)> for Values {
    fn from_iter<I: IntoIterator<Item = (TicketField, TicketValue)>>(iter: I) -> Self {
        Values(iter.into_iter().collect())
    }
}

impl IntoIterator for Values {
    type Item = (TicketField, TicketValue);
    type IntoIter = std::collections::btree_map::IntoIter<TicketField, TicketValue>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl Extend<(TicketField, TicketValue)> for Values {
    fn extend<I: IntoIterator<Item = (TicketField, TicketValue)>>(&mut self, iter: I) {
        self.0.extend(iter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket() -> Ticket {
        let now = chrono::Utc::now();
        Ticket {
            guid: "g".into(),
            status: Status::Triaged,
            provider: "test".into(),
            subject: "S".into(),
            description: "D".into(),
            priority: Priority::High,
            assignee: None,
            due: Some("2026-12-24".parse().unwrap()),
            fields: [("severity".to_string(), FieldValue::Enum("S1".into()))].into(),
            labels: ["vip".to_string()].into(),
            created_at: now,
            updated_at: now,
            asana_gid: None,
            sync_state: None,
        }
    }

    /// Every field: its name, the value it reads from a ticket, and that value's stored form.
    #[test]
    fn every_field_by_table() {
        let t = ticket();
        let severity = TicketField::Custom("severity".into());
        let cases: Vec<(TicketField, &str, TicketValue, Json)> = vec![
            (
                TicketField::Subject,
                "subject",
                TicketValue::Text("S".into()),
                Json::from("S"),
            ),
            (
                TicketField::Description,
                "description",
                TicketValue::Text("D".into()),
                Json::from("D"),
            ),
            (
                TicketField::Status,
                "status",
                TicketValue::Status(Status::Triaged),
                Json::from("TRIAGED"),
            ),
            (
                TicketField::Priority,
                "priority",
                TicketValue::Priority(Priority::High),
                Json::from("high"),
            ),
            (
                TicketField::Assignee,
                "assignee",
                TicketValue::Person(None),
                Json::Null,
            ),
            (
                TicketField::Due,
                "due",
                TicketValue::Due(Some("2026-12-24".parse().unwrap())),
                Json::from("2026-12-24"),
            ),
            (
                severity.clone(),
                "fields.severity",
                TicketValue::Custom(Some(FieldValue::Enum("S1".into()))),
                serde_json::json!({"kind": "enum", "elements": ["S1"]}),
            ),
            (
                TicketField::Custom("estimate".into()),
                "fields.estimate",
                TicketValue::Custom(None),
                Json::Null,
            ),
            (
                TicketField::Labels,
                "labels",
                TicketValue::Labels(["vip".to_string()].into()),
                serde_json::json!(["vip"]),
            ),
        ];
        for (field, name, value, stored) in cases {
            assert_eq!(field.name(), name);
            assert_eq!(TicketField::parse(name), Some(field.clone()), "{name}");
            assert_eq!(field.of(&t), value, "{name}");
            assert_eq!(value.to_stored(), stored, "{name}");
            assert_eq!(field.from_stored(&stored).unwrap(), value, "{name}");
            assert!(field.fits(&value), "{name}");
            // Setting the value read leaves the ticket as it was.
            let mut again = t.clone();
            field.set(&mut again, value.clone());
            assert_eq!(again, t, "{name}");
        }
        for name in ["", "fields.", "colour", "Subject", "label"] {
            assert_eq!(TicketField::parse(name), None, "{name:?}");
        }
        assert_eq!(
            TicketField::BUILT_IN.map(|f| f.name()),
            [
                "subject",
                "description",
                "status",
                "priority",
                "assignee",
                "due"
            ]
        );
    }

    #[test]
    fn stored_values_of_the_wrong_type_do_not_read() {
        // (field, stored)
        let cases = [
            (TicketField::Subject, serde_json::json!(3)),
            (TicketField::Status, serde_json::json!("DONE")),
            (TicketField::Priority, Json::Null),
            (TicketField::Due, serde_json::json!("tomorrow")),
            (
                TicketField::Custom("n".into()),
                serde_json::json!({"kind": "number", "elements": ["x"]}),
            ),
            (
                TicketField::Custom("n".into()),
                serde_json::json!({"kind": "colour", "elements": ["red"]}),
            ),
            (TicketField::Labels, serde_json::json!("vip")),
        ];
        for (field, stored) in cases {
            let err = field.from_stored(&stored).unwrap_err();
            assert_eq!(err.field, field.name(), "{stored}");
        }
    }

    #[test]
    fn every_custom_type_keeps_its_type_through_the_stored_form() {
        let field = TicketField::Custom("x".into());
        for v in [
            FieldValue::Text("a, b".into()),
            FieldValue::Number("-2.50".parse().unwrap()),
            FieldValue::Enum("S1".into()),
            FieldValue::MultiEnum(["api".to_string(), "ui".to_string()].into()),
            FieldValue::Date("2026-12-24T14:00:00Z".parse().unwrap()),
            FieldValue::People(["a@x.io".to_string()].into()),
        ] {
            let value = TicketValue::Custom(Some(v.clone()));
            let back = field.from_stored(&value.to_stored()).unwrap();
            assert_eq!(back, value, "{v:?}");
        }
    }

    #[test]
    fn an_update_as_values_and_back() {
        let t = ticket();
        let update = TicketUpdate {
            subject: Some("S".into()),
            priority: Some(Priority::Low),
            due: Some(None),
            fields: [
                ("severity".to_string(), None),
                (
                    "estimate".to_string(),
                    Some(FieldValue::Number("2".parse().unwrap())),
                ),
            ]
            .into(),
            add_labels: ["ops".to_string()].into(),
            remove_labels: ["vip".to_string()].into(),
            ..TicketUpdate::default()
        };
        let values = Values::of_update(&update, &t);
        let changed = values.clone().changed_from(&t);
        let names: Vec<String> = changed.fields().map(TicketField::name).collect();
        // The subject is the current one: no change.
        assert_eq!(
            names,
            [
                "priority",
                "due",
                "fields.estimate",
                "fields.severity",
                "labels"
            ]
        );
        let mut after = t.clone();
        changed.apply_to(&mut after);
        assert_eq!(after.priority, Priority::Low);
        assert_eq!(after.due, None);
        assert_eq!(after.fields.len(), 1, "severity cleared, estimate set");
        assert_eq!(after.labels, ["ops".to_string()].into());
        // Back to an update: the same changes but the labels (relative in an update).
        let back = values.to_update();
        assert_eq!(back.subject, update.subject);
        assert_eq!(back.priority, update.priority);
        assert_eq!(back.due, update.due);
        assert_eq!(back.fields, update.fields);
        assert!(back.add_labels.is_empty() && back.remove_labels.is_empty());
        // An update naming no label changes no labels.
        let plain = Values::of_update(&TicketUpdate::default(), &t);
        assert!(plain.is_empty());
    }

    #[test]
    fn checks_name_the_field() {
        let cases = [
            (
                TicketField::Subject,
                TicketValue::Text("two\nlines".into()),
                "subject",
            ),
            (
                TicketField::Subject,
                TicketValue::Status(Status::New),
                "subject",
            ),
            (
                TicketField::Assignee,
                TicketValue::Person(Some("x".repeat(300))),
                "assignee",
            ),
            (
                TicketField::Labels,
                TicketValue::Text("vip".into()),
                "labels",
            ),
        ];
        for (field, value, named) in cases {
            let err = field.check(&value).unwrap_err().to_string();
            assert!(err.contains(named), "{err}");
        }
        assert!(TicketField::Description
            .check(&TicketValue::Text("two\nlines".into()))
            .is_ok());
    }
}
