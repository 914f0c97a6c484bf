//! [`StoreTx`]: one store transaction, as [`crate::InternalProvider::write`] and
//! [`crate::InternalProvider::read`] hand it to their callers (and to the
//! [`StoreExtension`] hooks).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use ticket_provider_api::model::{validate_assignee, validate_reason};
use ticket_provider_api::{
    Error, ListQuery, NewComment, NewTicket, Status, Ticket, TicketDetails, TicketPage,
    TicketUpdate,
};

use crate::change::{StatusOperation, StoreExtension, TicketChange, TicketValues};
use crate::config::Backend;
use crate::error::StoreError;
use crate::normalize::normalize_line;
use crate::store::{self, DbConnection, NewHistoryRow, TicketRow};

/// One open transaction of the store: the typed reads and writes of tickets, and the
/// connection itself for an extension's own statements ([`StoreTx::conn`]).
///
/// The local operations ([`StoreTx::create`], [`StoreTx::update`], [`StoreTx::set_status`],
/// [`StoreTx::assign`], [`StoreTx::add_comment`]) validate their input as the provider does,
/// write the ticket and its history, and call every extension's
/// [`StoreExtension::on_change`]. Each returns the ticket exactly as it is now stored, so
/// that the caller need not read it again. The "from elsewhere" writes ([`StoreTx::apply_values`],
/// [`StoreTx::insert_ticket`], [`StoreTx::insert_comment`], [`StoreTx::record_history`]) are
/// for values another system holds: they record history but call no hook.
pub struct StoreTx<'a> {
    conn: &'a mut DbConnection,
    extensions: &'a [Arc<dyn StoreExtension>],
    backend: Backend,
    writable: bool,
    notes: Vec<Box<dyn std::any::Any + Send>>,
}

fn not_writable() -> StoreError {
    StoreError::Api(Error::internal(
        "a write inside InternalProvider::read; use InternalProvider::write",
    ))
}

impl<'a> StoreTx<'a> {
    pub(crate) fn new(
        conn: &'a mut DbConnection,
        extensions: &'a [Arc<dyn StoreExtension>],
        backend: Backend,
        writable: bool,
    ) -> Self {
        StoreTx {
            conn,
            extensions,
            backend,
            writable,
            notes: Vec::new(),
        }
    }

    /// Leaves `note` for the code that runs the operation in this same transaction — an
    /// extension's hook telling its own crate what it read or wrote, so that nothing is read
    /// twice. One note per type: a second one replaces the first. Notes end with the
    /// transaction.
    pub fn put_note<T: std::any::Any + Send>(&mut self, note: T) {
        self.notes.retain(|n| !n.is::<T>());
        self.notes.push(Box::new(note));
    }

    /// Takes the note of type `T` left in this transaction, if any (see [`Self::put_note`]).
    pub fn take_note<T: std::any::Any + Send>(&mut self) -> Option<T> {
        let i = self.notes.iter().position(|n| n.is::<T>())?;
        self.notes.swap_remove(i).downcast::<T>().ok().map(|b| *b)
    }

    /// The connection, for an extension's own statements (inside this transaction).
    pub fn conn(&mut self) -> &mut DbConnection {
        self.conn
    }

    /// The database engine.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    fn check_writable(&self) -> Result<(), StoreError> {
        if self.writable {
            Ok(())
        } else {
            Err(not_writable())
        }
    }

    fn notify(&mut self, change: &TicketChange) -> Result<(), StoreError> {
        let extensions = self.extensions;
        for e in extensions {
            e.on_change(self, change)?;
        }
        Ok(())
    }

    fn ticket_of(row: TicketRow) -> Result<Ticket, StoreError> {
        row.into_ticket()
    }

    /// Creates a ticket (status NEW) with its `created` history row.
    pub fn create(&mut self, new: &NewTicket) -> Result<Ticket, StoreError> {
        self.create_with_guid(&store::new_guid(), new)
    }

    /// [`StoreTx::create`] with a guid chosen by the caller (a UUID; a Conflict when taken).
    pub fn create_with_guid(&mut self, guid: &str, new: &NewTicket) -> Result<Ticket, StoreError> {
        self.check_writable()?;
        let guid = store::parse_guid("guid", guid)?;
        new.validate()?;
        let mut new = new.clone();
        new.subject = normalize_line(&new.subject);
        new.assignee = new.assignee.as_deref().map(normalize_line);
        let (row, change) = store::create_in_tx(self.conn, &guid, &new)?;
        self.notify(&change)?;
        Self::ticket_of(row)
    }

    /// Changes subject, description and/or priority; a history row per changed field.
    pub fn update(&mut self, guid: &str, update: &TicketUpdate) -> Result<Ticket, StoreError> {
        self.check_writable()?;
        update.validate()?;
        let mut update = update.clone();
        update.subject = update.subject.as_deref().map(normalize_line);
        let (row, change) = store::update_in_tx(self.conn, guid, &update)?;
        if let Some(c) = change {
            self.notify(&c)?;
        }
        Self::ticket_of(row)
    }

    /// Sets the status by `operation` (with `reason` as a comment, for an escalation); the
    /// ticket and the comment's guid.
    pub fn set_status(
        &mut self,
        guid: &str,
        status: Status,
        operation: StatusOperation,
        reason: Option<&str>,
    ) -> Result<(Ticket, Option<String>), StoreError> {
        self.check_writable()?;
        if let Some(r) = reason {
            validate_reason(r)?;
        }
        let (row, comment_guid, change) =
            store::set_status_in_tx(self.conn, guid, status, operation, reason)?;
        self.notify(&change)?;
        Ok((Self::ticket_of(row)?, comment_guid))
    }

    /// Sets the assignee.
    pub fn assign(&mut self, guid: &str, assignee: &str) -> Result<Ticket, StoreError> {
        self.check_writable()?;
        validate_assignee(assignee)?;
        let assignee = normalize_line(assignee);
        let (row, change) = store::assign_in_tx(self.conn, guid, &assignee)?;
        if let Some(c) = change {
            self.notify(&c)?;
        }
        Self::ticket_of(row)
    }

    /// Adds a comment; the ticket and the comment's guid.
    pub fn add_comment(
        &mut self,
        guid: &str,
        comment: &NewComment,
    ) -> Result<(Ticket, String), StoreError> {
        self.check_writable()?;
        comment.validate()?;
        let mut comment = comment.clone();
        comment.author = comment.author.as_deref().map(normalize_line);
        let (row, comment_guid, change) = store::add_comment_in_tx(self.conn, guid, &comment)?;
        self.notify(&change)?;
        Ok((Self::ticket_of(row)?, comment_guid))
    }

    /// The ticket, if it exists.
    pub fn ticket(&mut self, guid: &str) -> Result<Option<Ticket>, StoreError> {
        store::find_ticket(self.conn, guid)?
            .map(Self::ticket_of)
            .transpose()
    }

    /// The ticket with its comments; NotFound for an unknown ticket.
    pub fn details(&mut self, guid: &str) -> Result<TicketDetails, StoreError> {
        store::ticket_details(self.conn, guid)
    }

    /// One page of tickets, as [`ticket_provider_api::TicketProvider::list_tickets`] returns
    /// it.
    pub fn list(&mut self, query: &ListQuery) -> Result<TicketPage, StoreError> {
        let limit = query.validate()?;
        let cursor = match &query.cursor {
            Some(c) => Some(store::Cursor::decode(c)?),
            None => None,
        };
        store::list_tickets(self.conn, query, limit, cursor.as_ref())
    }

    /// Writes values another system holds into ticket `guid`: a history row per field whose
    /// value differs (no hook is called). The names of the changed fields.
    pub fn apply_values(
        &mut self,
        guid: &str,
        values: &TicketValues,
    ) -> Result<Vec<&'static str>, StoreError> {
        self.check_writable()?;
        check_values(values)?;
        store::apply_values_in_tx(self.conn, guid, values)
    }

    /// Inserts a ticket with values another system holds (guid `guid`, else a new one), with
    /// its `created` history row (no hook is called); its guid.
    pub fn insert_ticket(
        &mut self,
        guid: Option<&str>,
        values: &TicketValues,
        created_at: Option<DateTime<Utc>>,
    ) -> Result<String, StoreError> {
        self.check_writable()?;
        check_values(values)?;
        let guid = match guid {
            Some(g) => Some(store::parse_guid("guid", g)?),
            None => None,
        };
        store::insert_values_in_tx(self.conn, guid.as_deref(), values, created_at)
    }

    /// Inserts a comment another system holds (no hook is called); its guid.
    pub fn insert_comment(
        &mut self,
        guid: &str,
        comment: &NewComment,
        created_at: Option<DateTime<Utc>>,
    ) -> Result<String, StoreError> {
        self.check_writable()?;
        comment.validate()?;
        if store::find_ticket(self.conn, guid)?.is_none() {
            return Err(StoreError::Api(Error::ticket_not_found(guid)));
        }
        store::insert_comment_in_tx(
            self.conn,
            guid,
            &comment.body,
            comment.author.as_deref(),
            created_at,
        )
    }

    /// Records a history row on ticket `guid` (e.g. `sync` notes of an extension).
    pub fn record_history(
        &mut self,
        guid: &str,
        field: &str,
        old: Option<&str>,
        new: Option<&str>,
    ) -> Result<(), StoreError> {
        self.check_writable()?;
        store::insert_history(
            self.conn,
            &NewHistoryRow {
                ticket_guid: guid,
                field,
                old_value: old,
                new_value: new,
                changed_at: store::now_micros(),
            },
        )?;
        Ok(())
    }
}

/// The checks of the provider's own input, for values from elsewhere.
fn check_values(v: &TicketValues) -> Result<(), StoreError> {
    use ticket_provider_api::model::{
        check_line, check_text, MAX_ASSIGNEE_CHARS, MAX_DESCRIPTION_CHARS, MAX_SUBJECT_CHARS,
    };
    check_line("subject", &v.subject, MAX_SUBJECT_CHARS)?;
    check_text("description", &v.description, MAX_DESCRIPTION_CHARS)?;
    if let Some(a) = &v.assignee {
        check_line("assignee", a, MAX_ASSIGNEE_CHARS)?;
    }
    Ok(())
}
