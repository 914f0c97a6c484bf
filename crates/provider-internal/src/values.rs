//! A ticket's custom field values and labels in `data_ticket_value`: one row per element
//! (a set field has a row per member), with the field's type name beside it so that a value
//! reads back in its type whatever the config declares today.

use std::collections::HashMap;

use diesel::prelude::*;
use ticket_provider_api::{FieldValue, Fields, Labels, Ticket};

use crate::db::{on_backend, DbConnection};
use crate::error::StoreError;
use crate::schema::data_ticket_value;

/// The `kind` of a label's row (a field's row holds its type name, see
/// [`FieldValue::kind`]).
pub(crate) const LABEL: &str = "label";

/// A ticket's custom field values and labels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Values {
    pub(crate) fields: Fields,
    pub(crate) labels: Labels,
}

/// `ticket` carrying `v`.
pub(crate) fn with_values(mut ticket: Ticket, v: Values) -> Ticket {
    ticket.fields = v.fields;
    ticket.labels = v.labels;
    ticket
}

#[derive(Insertable)]
#[diesel(table_name = data_ticket_value)]
struct NewValueRow<'a> {
    ticket_guid: &'a str,
    kind: &'a str,
    name: &'a str,
    value: &'a str,
    ticket_created_at: i64,
}

/// A row as read: (ticket, kind, name, value).
type ValueRow = (String, String, String, String);

/// The values of one ticket.
pub(crate) fn read_values(conn: &mut DbConnection, guid: &str) -> Result<Values, StoreError> {
    let rows: Vec<ValueRow> = on_backend!(conn, c => data_ticket_value::table
        .filter(data_ticket_value::ticket_guid.eq(guid))
        .select((
            data_ticket_value::ticket_guid,
            data_ticket_value::kind,
            data_ticket_value::name,
            data_ticket_value::value,
        ))
        .order((data_ticket_value::name, data_ticket_value::value))
        .load::<ValueRow>(c)?);
    Ok(collect(rows)?.remove(guid).unwrap_or_default())
}

/// The values of several tickets (a list page), by guid; a ticket without any is absent.
pub(crate) fn read_values_of(
    conn: &mut DbConnection,
    guids: &[&str],
) -> Result<HashMap<String, Values>, StoreError> {
    if guids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<ValueRow> = data_ticket_value::table
        .filter(data_ticket_value::ticket_guid.eq_any(guids))
        .select((
            data_ticket_value::ticket_guid,
            data_ticket_value::kind,
            data_ticket_value::name,
            data_ticket_value::value,
        ))
        .order((
            data_ticket_value::ticket_guid,
            data_ticket_value::name,
            data_ticket_value::value,
        ))
        .load::<ValueRow>(conn)?;
    collect(rows)
}

/// Rows (ordered by ticket, name and value) into typed values.
fn collect(rows: Vec<ValueRow>) -> Result<HashMap<String, Values>, StoreError> {
    // (ticket, field name) → (kind, elements), then typed once every element is in.
    let mut elements: HashMap<(String, String), (String, Vec<String>)> = HashMap::new();
    let mut out: HashMap<String, Values> = HashMap::new();
    for (guid, kind, name, value) in rows {
        if kind == LABEL {
            out.entry(guid).or_default().labels.insert(name);
            continue;
        }
        let key = (guid, name);
        if let Some((stored, _)) = elements.get(&key).filter(|(k, _)| *k != kind) {
            return Err(StoreError::Corrupt(format!(
                "field {:?} of ticket {} is stored as both {stored} and {kind}",
                key.1, key.0
            )));
        }
        elements
            .entry(key)
            .or_insert_with(|| (kind, Vec::new()))
            .1
            .push(value);
    }
    for ((guid, name), (kind, values)) in elements {
        let value = FieldValue::from_stored_kind(&kind, values).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "field {name:?} of ticket {guid} does not hold a {kind} value"
            ))
        })?;
        out.entry(guid).or_default().fields.insert(name, value);
    }
    Ok(out)
}

/// Inserts a new ticket's values.
pub(crate) fn insert_values(
    conn: &mut DbConnection,
    guid: &str,
    created_at: i64,
    fields: &Fields,
    labels: &Labels,
) -> QueryResult<()> {
    let mut rows = Vec::new();
    let stored: Vec<(&str, &str, Vec<String>)> = fields
        .iter()
        .map(|(name, v)| (v.kind(), name.as_str(), v.stored()))
        .collect();
    for (kind, name, elements) in &stored {
        for e in elements {
            rows.push(NewValueRow {
                ticket_guid: guid,
                kind,
                name,
                value: e,
                ticket_created_at: created_at,
            });
        }
    }
    for l in labels {
        rows.push(NewValueRow {
            ticket_guid: guid,
            kind: LABEL,
            name: l,
            value: "",
            ticket_created_at: created_at,
        });
    }
    if rows.is_empty() {
        return Ok(());
    }
    // Batch inserts exist per backend only (not through `MultiConnection`).
    on_backend!(conn, c => diesel::insert_into(data_ticket_value::table)
        .values(&rows)
        .execute(c)
        .map(|_| ()))
}

/// Sets (or with `None` clears) one field of a ticket.
pub(crate) fn set_field(
    conn: &mut DbConnection,
    guid: &str,
    created_at: i64,
    name: &str,
    value: Option<&FieldValue>,
) -> QueryResult<()> {
    diesel::delete(
        data_ticket_value::table
            .filter(data_ticket_value::ticket_guid.eq(guid))
            .filter(data_ticket_value::name.eq(name))
            .filter(data_ticket_value::kind.ne(LABEL)),
    )
    .execute(conn)?;
    match value {
        Some(v) => insert_values(
            conn,
            guid,
            created_at,
            &[(name.to_string(), v.clone())].into(),
            &Labels::new(),
        ),
        None => Ok(()),
    }
}

/// Makes a ticket's labels `new`, given that they are `old` now.
pub(crate) fn set_labels(
    conn: &mut DbConnection,
    guid: &str,
    created_at: i64,
    old: &Labels,
    new: &Labels,
) -> QueryResult<()> {
    let gone: Vec<&str> = old.difference(new).map(String::as_str).collect();
    if !gone.is_empty() {
        diesel::delete(
            data_ticket_value::table
                .filter(data_ticket_value::ticket_guid.eq(guid))
                .filter(data_ticket_value::kind.eq(LABEL))
                .filter(data_ticket_value::name.eq_any(&gone)),
        )
        .execute(conn)?;
    }
    let added: Labels = new.difference(old).cloned().collect();
    insert_values(conn, guid, created_at, &Fields::new(), &added)
}
