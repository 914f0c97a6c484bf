//! The store's writes of tickets, comments and history, each inside the caller's write
//! transaction. The local operations return the row as now stored and the [`TicketChange`]
//! the extensions' hooks see; the writes "from elsewhere" record history only.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use ticket_provider_api::{
    ChangeOrigin, Error, NewComment, NewTicket, Status, Ticket, TicketField, TicketUpdate,
    TicketValue,
};

use crate::change::{FieldChanges, StatusOperation, TicketChange, TicketValues};
use crate::db::DbConnection;
use crate::error::StoreError;
use crate::rows::{
    due_columns, from_micros, new_guid, now_micros, CommentRow, NewHistoryRow, TicketChanges,
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

/// Inserts comment `c` with its history row (field `comment`, new value the comment's guid,
/// at the comment's time).
fn insert_comment_row(
    conn: &mut DbConnection,
    origin: &ChangeOrigin,
    c: &CommentRow,
) -> QueryResult<()> {
    diesel::insert_into(data_ticket_comment::table)
        .values(c)
        .execute(conn)?;
    add_history(
        conn,
        &c.ticket_guid,
        COMMENT_FIELD,
        None,
        Some(&c.comment_guid),
        c.created_at,
        origin,
    )
}

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
    let row = lock_ticket(conn, guid)?;
    let old = ticket_of(conn, row)?;
    let changes = FieldChanges::of_update(update, &old).changed_from(&old);
    if changes.is_empty() {
        return Ok((old, None));
    }
    let ticket = write_changes(conn, origin, &old, &changes)?;
    let change = TicketChange::Updated {
        guid: guid.to_string(),
        changes,
    };
    Ok((ticket, Some(change)))
}

/// Writes `changes` (new values of fields that differ from ticket `old`'s) into the store:
/// the columns of the built-in fields and `updated_at` in one `UPDATE`, the value rows of
/// custom fields and labels, and one history row per field (old and new value as
/// [`TicketValue::display`] shows them). The ticket after.
fn write_changes(
    conn: &mut DbConnection,
    origin: &ChangeOrigin,
    old: &Ticket,
    changes: &FieldChanges,
) -> Result<Ticket, StoreError> {
    let now = now_micros();
    let guid = old.guid.as_str();
    let created_at = old.created_at.timestamp_micros();
    let mut columns = TicketChanges {
        updated_at: Some(now),
        ..TicketChanges::default()
    };
    for (field, value) in changes.iter() {
        match (field, value) {
            (TicketField::Custom(name), TicketValue::Custom(v)) => {
                values::set_field(conn, guid, created_at, name, v.as_ref())?;
            }
            (TicketField::Labels, TicketValue::Labels(l)) => {
                values::set_labels(conn, guid, created_at, &old.labels, l)?;
            }
            _ => columns.set(field, value),
        }
    }
    diesel::update(data_ticket::table.find(guid))
        .set(&columns)
        .execute(conn)?;
    for (field, value) in changes.iter() {
        let before = field.of(old).display();
        let after = value.display();
        add_history(
            conn,
            guid,
            &field.name(),
            before.as_deref(),
            after.as_deref(),
            now,
            origin,
        )?;
    }
    let mut ticket = old.clone();
    changes.apply_to(&mut ticket);
    ticket.updated_at = from_micros(now)?;
    Ok(ticket)
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
            insert_comment_row(conn, origin, &c)?;
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
    insert_comment_row(conn, origin, &c)?;
    diesel::update(data_ticket::table.find(guid))
        .set(data_ticket::updated_at.eq(now))
        .execute(conn)?;
    row.updated_at = now;
    let comment = c.into_comment()?;
    let comment_guid = comment.comment_guid.clone();
    let change = TicketChange::Commented {
        guid: guid.to_string(),
        comment,
    };
    Ok((ticket_of(conn, row)?, comment_guid, change))
}

/// Writes values that come from elsewhere (another system) into an existing ticket: the
/// fields `values` has (the others stay), one history row per field whose value differs,
/// `updated_at` touched when any does. The names of the changed fields.
pub(crate) fn apply_values_in_tx(
    conn: &mut DbConnection,
    origin: &ChangeOrigin,
    guid: &str,
    values: &TicketValues,
) -> Result<Vec<String>, StoreError> {
    let row = lock_ticket(conn, guid)?;
    let old = ticket_of(conn, row)?;
    let changes = values.clone().changed_from(&old);
    if changes.is_empty() {
        return Ok(Vec::new());
    }
    write_changes(conn, origin, &old, &changes)?;
    Ok(changes.fields().map(TicketField::name).collect())
}

/// Inserts a ticket whose values come from elsewhere, with its `created` history row; its
/// guid (`guid`, else a new one). Subject, status and priority are required; the other
/// fields default to none.
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
    for field in [
        TicketField::Subject,
        TicketField::Status,
        TicketField::Priority,
    ] {
        if !values.contains(&field) {
            return Err(StoreError::Api(Error::invalid_input(format!(
                "a ticket from elsewhere needs its {field}"
            ))));
        }
    }
    let mut ticket = TicketRow::blank(&guid, created, now).into_ticket()?;
    values.apply_to(&mut ticket);
    diesel::insert_into(data_ticket::table)
        .values(&TicketRow::of(&ticket))
        .execute(conn)?;
    values::insert_values(conn, &guid, created, &ticket.fields, &ticket.labels)?;
    add_history(
        conn,
        &guid,
        "created",
        None,
        Some(ticket.status.as_str()),
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
    insert_comment_row(conn, origin, &row)?;
    Ok(row.comment_guid)
}
