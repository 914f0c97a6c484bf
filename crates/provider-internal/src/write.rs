//! The store's writes of tickets, comments and history, each inside the caller's write
//! transaction. The local operations return the row as now stored and the [`TicketChange`]
//! the extensions' hooks see; the writes "from elsewhere" record history only.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use ticket_provider_api::fields::apply_field_changes;
use ticket_provider_api::{
    ChangeOrigin, Error, NewComment, NewTicket, Status, Ticket, TicketUpdate,
};

use crate::change::{FieldChanges, StatusOperation, TicketChange, TicketValues};
use crate::db::DbConnection;
use crate::error::StoreError;
use crate::rows::{
    due_columns, due_text, new_guid, now_micros, CommentRow, NewHistoryRow, TicketChanges,
    TicketRow,
};
use crate::schema::{data_ticket, data_ticket_comment, data_ticket_history};
use crate::values::{self, with_values, Values};

/// The ticket a row stands for, with its values read in this transaction.
pub(crate) fn ticket_of(conn: &mut DbConnection, row: TicketRow) -> Result<Ticket, StoreError> {
    let v = values::read_values(conn, &row.guid)?;
    Ok(with_values(row.into_ticket()?, v))
}

/// Inserts one history row.
pub fn insert_history(conn: &mut DbConnection, row: &NewHistoryRow<'_>) -> QueryResult<()> {
    diesel::insert_into(data_ticket_history::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// Reads the ticket row inside a write transaction, locking it on PostgreSQL so that
/// concurrent changes of one ticket are applied (and recorded) one after the other.
pub(crate) fn lock_ticket(conn: &mut DbConnection, guid: &str) -> Result<TicketRow, StoreError> {
    let row = match conn {
        #[cfg(feature = "sqlite")]
        DbConnection::Sqlite(c) => data_ticket::table
            .find(guid)
            .select(TicketRow::as_select())
            .get_result::<TicketRow>(c)
            .optional()?,
        #[cfg(feature = "postgres")]
        DbConnection::Postgres(c) => data_ticket::table
            .find(guid)
            .select(TicketRow::as_select())
            .for_update()
            .get_result::<TicketRow>(c)
            .optional()?,
    };
    row.ok_or_else(|| StoreError::Api(Error::ticket_not_found(guid)))
}

fn add_history(
    conn: &mut DbConnection,
    guid: &str,
    field: &str,
    old: Option<&str>,
    new: Option<&str>,
    at: i64,
    origin: &ChangeOrigin,
) -> QueryResult<()> {
    insert_history(
        conn,
        &NewHistoryRow {
            ticket_guid: guid,
            field,
            old_value: old,
            new_value: new,
            changed_at: at,
            origin: origin.as_str(),
            origin_user: origin.asana_user(),
        },
    )
}

/// The history row of a comment added: field `comment`, the comment's guid as the new value
/// (the change feed reads the comment itself).
pub(crate) const COMMENT_FIELD: &str = "comment";

/// Inserts a ticket with its values and its `created` history row.
pub(crate) fn create_in_tx(
    conn: &mut DbConnection,
    origin: &ChangeOrigin,
    guid: &str,
    new: &NewTicket,
) -> Result<(Ticket, TicketChange), StoreError> {
    let now = now_micros();
    let row = TicketRow {
        guid: guid.to_string(),
        subject: new.subject.clone(),
        description: new.description.clone(),
        status: Status::New.as_str().to_string(),
        priority: new.priority.as_str().to_string(),
        assignee: new.assignee.clone(),
        created_at: now,
        updated_at: now,
        due_on: due_columns(new.due).0,
        due_at: due_columns(new.due).1,
    };
    diesel::insert_into(data_ticket::table)
        .values(&row)
        .execute(conn)?;
    values::insert_values(conn, guid, now, &new.fields, &new.labels)?;
    add_history(
        conn,
        &row.guid,
        "created",
        None,
        Some(Status::New.as_str()),
        now,
        origin,
    )?;
    let ticket = with_values(
        row.into_ticket()?,
        Values {
            fields: new.fields.clone(),
            labels: new.labels.clone(),
        },
    );
    let change = TicketChange::Created {
        ticket: ticket.clone(),
    };
    Ok((ticket, change))
}

/// Applies field changes; one history row per field whose value differs. No change (and no
/// [`TicketChange`]) when every value is the current one.
pub(crate) fn update_in_tx(
    conn: &mut DbConnection,
    origin: &ChangeOrigin,
    guid: &str,
    update: &TicketUpdate,
) -> Result<(Ticket, Option<TicketChange>), StoreError> {
    let mut row = lock_ticket(conn, guid)?;
    let now = now_micros();
    let mut changes = TicketChanges::default();
    let mut fields = FieldChanges::default();
    let mut rows: Vec<(&str, String, String)> = Vec::new();
    let old_values = values::read_values(conn, guid)?;
    let mut new_values = old_values.clone();
    apply_field_changes(&mut new_values.fields, &update.fields);
    new_values.labels = update.apply_labels(&old_values.labels);
    if let Some(s) = &update.subject {
        if *s != row.subject {
            rows.push(("subject", row.subject.clone(), s.clone()));
            changes.subject = Some(s.clone());
            fields.subject = Some(s.clone());
            row.subject = s.clone();
        }
    }
    if let Some(d) = &update.description {
        if *d != row.description {
            rows.push(("description", row.description.clone(), d.clone()));
            changes.description = Some(d.clone());
            fields.description = Some(d.clone());
            row.description = d.clone();
        }
    }
    if let Some(p) = update.priority {
        if p.as_str() != row.priority {
            rows.push(("priority", row.priority.clone(), p.as_str().to_string()));
            changes.priority = Some(p.as_str().to_string());
            fields.priority = Some(p);
            row.priority = p.as_str().to_string();
        }
    }
    let mut history_due: Option<(Option<String>, Option<String>)> = None;
    if let Some(due) = update.due {
        let old = row.due()?;
        if due != old {
            history_due = Some((due_text(old), due_text(due)));
            changes.set_due(due);
            fields.due = Some(due);
            (row.due_on, row.due_at) = due_columns(due);
        }
    }
    if rows.is_empty() && history_due.is_none() && new_values == old_values {
        return Ok((with_values(row.into_ticket()?, old_values), None));
    }
    changes.updated_at = Some(now);
    row.updated_at = now;
    diesel::update(data_ticket::table.find(guid))
        .set(&changes)
        .execute(conn)?;
    for (field, old, new) in &rows {
        add_history(conn, guid, field, Some(old), Some(new), now, origin)?;
    }
    if let Some((old, new)) = &history_due {
        add_history(
            conn,
            guid,
            "due",
            old.as_deref(),
            new.as_deref(),
            now,
            origin,
        )?;
    }
    let value_rows = values::replace_values(conn, guid, row.created_at, &old_values, &new_values)?;
    for (field, old, new) in &value_rows {
        add_history(
            conn,
            guid,
            field,
            old.as_deref(),
            new.as_deref(),
            now,
            origin,
        )?;
    }
    for (name, value) in &update.fields {
        if old_values.fields.get(name) != value.as_ref() {
            fields.fields.insert(name.clone(), value.clone());
        }
    }
    if new_values.labels != old_values.labels {
        fields.labels = Some(new_values.labels.clone());
    }
    let change = TicketChange::Updated {
        guid: guid.to_string(),
        changes: fields,
    };
    Ok((with_values(row.into_ticket()?, new_values), Some(change)))
}

/// Moves a ticket to `status`, recording a history row for every call (an explicit status
/// transition is audited even when the status stays the same), and for `escalate` adds the
/// reason as a comment in the same transaction. The comment's guid, if any.
pub(crate) fn set_status_in_tx(
    conn: &mut DbConnection,
    origin: &ChangeOrigin,
    guid: &str,
    status: Status,
    operation: StatusOperation,
    reason: Option<&str>,
) -> Result<(Ticket, Option<String>, TicketChange), StoreError> {
    let mut row = lock_ticket(conn, guid)?;
    let now = now_micros();
    let old = std::mem::replace(&mut row.status, status.as_str().to_string());
    row.updated_at = now;
    diesel::update(data_ticket::table.find(guid))
        .set((
            data_ticket::status.eq(status.as_str()),
            data_ticket::updated_at.eq(now),
        ))
        .execute(conn)?;
    add_history(
        conn,
        guid,
        "status",
        Some(&old),
        Some(status.as_str()),
        now,
        origin,
    )?;
    let comment = match reason {
        Some(body) => {
            let c = CommentRow {
                comment_guid: new_guid(),
                ticket_guid: guid.to_string(),
                body: body.to_string(),
                author: None,
                created_at: now,
            };
            diesel::insert_into(data_ticket_comment::table)
                .values(&c)
                .execute(conn)?;
            add_history(
                conn,
                guid,
                COMMENT_FIELD,
                None,
                Some(&c.comment_guid),
                now,
                origin,
            )?;
            Some(c.into_comment()?)
        }
        None => None,
    };
    let comment_guid = comment.as_ref().map(|c| c.comment_guid.clone());
    let change = TicketChange::StatusSet {
        guid: guid.to_string(),
        operation,
        status,
        comment,
    };
    Ok((ticket_of(conn, row)?, comment_guid, change))
}

/// Sets the assignee; a history row (and a [`TicketChange`]) when it changes.
pub(crate) fn assign_in_tx(
    conn: &mut DbConnection,
    origin: &ChangeOrigin,
    guid: &str,
    assignee: &str,
) -> Result<(Ticket, Option<TicketChange>), StoreError> {
    let mut row = lock_ticket(conn, guid)?;
    if row.assignee.as_deref() == Some(assignee) {
        return Ok((ticket_of(conn, row)?, None));
    }
    let now = now_micros();
    let old = row.assignee.replace(assignee.to_string());
    row.updated_at = now;
    diesel::update(data_ticket::table.find(guid))
        .set((
            data_ticket::assignee.eq(assignee),
            data_ticket::updated_at.eq(now),
        ))
        .execute(conn)?;
    add_history(
        conn,
        guid,
        "assignee",
        old.as_deref(),
        Some(assignee),
        now,
        origin,
    )?;
    let change = TicketChange::Assigned {
        guid: guid.to_string(),
        assignee: assignee.to_string(),
    };
    Ok((ticket_of(conn, row)?, Some(change)))
}

/// Adds a comment (with its history row) and touches the ticket's `updated_at`.
pub(crate) fn add_comment_in_tx(
    conn: &mut DbConnection,
    origin: &ChangeOrigin,
    guid: &str,
    comment: &NewComment,
) -> Result<(Ticket, String, TicketChange), StoreError> {
    let mut row = lock_ticket(conn, guid)?;
    let now = now_micros();
    let c = CommentRow {
        comment_guid: new_guid(),
        ticket_guid: guid.to_string(),
        body: comment.body.clone(),
        author: comment.author.clone(),
        created_at: now,
    };
    diesel::insert_into(data_ticket_comment::table)
        .values(&c)
        .execute(conn)?;
    diesel::update(data_ticket::table.find(guid))
        .set(data_ticket::updated_at.eq(now))
        .execute(conn)?;
    add_history(
        conn,
        guid,
        COMMENT_FIELD,
        None,
        Some(&c.comment_guid),
        now,
        origin,
    )?;
    row.updated_at = now;
    let comment = c.into_comment()?;
    let comment_guid = comment.comment_guid.clone();
    let change = TicketChange::Commented {
        guid: guid.to_string(),
        comment,
    };
    Ok((ticket_of(conn, row)?, comment_guid, change))
}

/// Writes values that come from elsewhere (another system) into an existing ticket: one
/// history row per field whose value differs, `updated_at` touched when any does. The names
/// of the changed fields.
pub(crate) fn apply_values_in_tx(
    conn: &mut DbConnection,
    origin: &ChangeOrigin,
    guid: &str,
    values: &TicketValues,
) -> Result<Vec<String>, StoreError> {
    let row = lock_ticket(conn, guid)?;
    let now = now_micros();
    let mut changes = TicketChanges::default();
    let mut rows: Vec<(&'static str, Option<String>, Option<String>)> = Vec::new();
    let mut value_rows = Vec::new();
    if values.fields.is_some() || values.labels.is_some() {
        let old = values::read_values(conn, guid)?;
        let new = Values {
            fields: values.fields.clone().unwrap_or_else(|| old.fields.clone()),
            labels: values.labels.clone().unwrap_or_else(|| old.labels.clone()),
        };
        value_rows = values::replace_values(conn, guid, row.created_at, &old, &new)?;
    }
    if row.subject != values.subject {
        rows.push((
            "subject",
            Some(row.subject.clone()),
            Some(values.subject.clone()),
        ));
        changes.subject = Some(values.subject.clone());
    }
    if row.description != values.description {
        rows.push((
            "description",
            Some(row.description.clone()),
            Some(values.description.clone()),
        ));
        changes.description = Some(values.description.clone());
    }
    if row.status != values.status.as_str() {
        rows.push((
            "status",
            Some(row.status.clone()),
            Some(values.status.as_str().into()),
        ));
        changes.status = Some(values.status.as_str().into());
    }
    if row.priority != values.priority.as_str() {
        rows.push((
            "priority",
            Some(row.priority.clone()),
            Some(values.priority.as_str().into()),
        ));
        changes.priority = Some(values.priority.as_str().into());
    }
    if row.assignee != values.assignee {
        rows.push(("assignee", row.assignee.clone(), values.assignee.clone()));
        changes.assignee = Some(values.assignee.clone());
    }
    let old_due = row.due()?;
    if old_due != values.due {
        rows.push(("due", due_text(old_due), due_text(values.due)));
        changes.set_due(values.due);
    }
    if rows.is_empty() && value_rows.is_empty() {
        return Ok(Vec::new());
    }
    changes.updated_at = Some(now);
    diesel::update(data_ticket::table.find(guid))
        .set(&changes)
        .execute(conn)?;
    let mut changed = Vec::with_capacity(rows.len() + value_rows.len());
    for (field, old, new) in rows {
        add_history(
            conn,
            guid,
            field,
            old.as_deref(),
            new.as_deref(),
            now,
            origin,
        )?;
        changed.push(field.to_string());
    }
    for (field, old, new) in value_rows {
        add_history(
            conn,
            guid,
            &field,
            old.as_deref(),
            new.as_deref(),
            now,
            origin,
        )?;
        changed.push(field);
    }
    Ok(changed)
}

/// Inserts a ticket whose values come from elsewhere, with its `created` history row; its
/// guid (`guid`, else a new one).
pub(crate) fn insert_values_in_tx(
    conn: &mut DbConnection,
    origin: &ChangeOrigin,
    guid: Option<&str>,
    values: &TicketValues,
    created_at: Option<DateTime<Utc>>,
) -> Result<String, StoreError> {
    let now = now_micros();
    let guid = guid.map_or_else(new_guid, str::to_string);
    let created = created_at.map_or(now, |t| t.timestamp_micros());
    let row = TicketRow {
        guid: guid.clone(),
        subject: values.subject.clone(),
        description: values.description.clone(),
        status: values.status.as_str().into(),
        priority: values.priority.as_str().into(),
        assignee: values.assignee.clone(),
        created_at: created,
        updated_at: now,
        due_on: due_columns(values.due).0,
        due_at: due_columns(values.due).1,
    };
    diesel::insert_into(data_ticket::table)
        .values(&row)
        .execute(conn)?;
    values::insert_values(
        conn,
        &guid,
        created,
        values.fields.as_ref().unwrap_or(&Default::default()),
        values.labels.as_ref().unwrap_or(&Default::default()),
    )?;
    add_history(
        conn,
        &guid,
        "created",
        None,
        Some(values.status.as_str()),
        now,
        origin,
    )?;
    Ok(guid)
}

/// Inserts a comment that comes from elsewhere, with its history row (the ticket's
/// `updated_at` is left alone); its guid.
pub(crate) fn insert_comment_in_tx(
    conn: &mut DbConnection,
    origin: &ChangeOrigin,
    guid: &str,
    body: &str,
    author: Option<&str>,
    created_at: Option<DateTime<Utc>>,
) -> Result<String, StoreError> {
    let row = CommentRow {
        comment_guid: new_guid(),
        ticket_guid: guid.to_string(),
        body: body.to_string(),
        author: author.map(str::to_string),
        created_at: created_at.map_or_else(now_micros, |t| t.timestamp_micros()),
    };
    diesel::insert_into(data_ticket_comment::table)
        .values(&row)
        .execute(conn)?;
    add_history(
        conn,
        guid,
        COMMENT_FIELD,
        None,
        Some(&row.comment_guid),
        row.created_at,
        origin,
    )?;
    Ok(row.comment_guid)
}
