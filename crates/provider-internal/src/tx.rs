//! [`StoreTx`]: one store transaction, as [`crate::InternalProvider::write`] and
//! [`crate::InternalProvider::read`] hand it to their callers, and [`StoreExtension`]: how
//! other crates build on the store (their own migrations, and a typed hook that runs inside
//! every write transaction of a local operation). The two live together because each names
//! the other: a hook is called with the transaction, and the transaction calls the hooks.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use ticket_provider_api::model::{validate_assignee, validate_reason};
use ticket_provider_api::{
    ChangeOrigin, Error, ListQuery, NewComment, NewTicket, Status, Ticket, TicketDetails,
    TicketPage, TicketUpdate,
};

use crate::change::{StatusOperation, TicketChange, TicketValues};
use crate::config::Backend;
use crate::db::DbConnection;
use crate::error::StoreError;
use crate::normalize::normalize_line;
use crate::read::{find_ticket, list_tickets, ticket_details, Cursor};
use crate::rows::{new_guid, now_micros, parse_guid, NewHistoryRow};
use crate::write;

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
    origin: ChangeOrigin,
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
            origin: ChangeOrigin::Local,
        }
    }

    /// Says where the changes this transaction writes from now on come from: every history
    /// row written after it (by any method, the local operations included) carries
    /// `origin`, which the change feed hands out. [`ChangeOrigin::Local`] until set; a
    /// transaction run again starts from that again.
    pub fn set_origin(&mut self, origin: ChangeOrigin) {
        self.origin = origin;
    }

    /// Runs `f` with `origin` set (see [`Self::set_origin`]), then sets back the one before.
    pub fn with_origin<T>(
        &mut self,
        origin: ChangeOrigin,
        f: impl FnOnce(&mut Self) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let before = std::mem::replace(&mut self.origin, origin);
        let out = f(self);
        self.origin = before;
        out
    }

    /// Where the changes written now come from (see [`Self::set_origin`]).
    pub fn origin(&self) -> &ChangeOrigin {
        &self.origin
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

    /// Creates a ticket (status NEW) with its `created` history row.
    pub fn create(&mut self, new: &NewTicket) -> Result<Ticket, StoreError> {
        self.create_with_guid(&new_guid(), new)
    }

    /// [`StoreTx::create`] with a guid chosen by the caller (a UUID; a Conflict when taken).
    pub fn create_with_guid(&mut self, guid: &str, new: &NewTicket) -> Result<Ticket, StoreError> {
        self.check_writable()?;
        let guid = parse_guid("guid", guid)?;
        new.validate()?;
        let mut new = new.clone();
        new.subject = normalize_line(&new.subject);
        new.assignee = new.assignee.as_deref().map(normalize_line);
        let (ticket, change) = write::create_in_tx(self.conn, &self.origin, &guid, &new)?;
        self.notify(&change)?;
        Ok(ticket)
    }

    /// Changes subject, description and/or priority; a history row per changed field.
    pub fn update(&mut self, guid: &str, update: &TicketUpdate) -> Result<Ticket, StoreError> {
        self.check_writable()?;
        update.validate()?;
        let mut update = update.clone();
        update.subject = update.subject.as_deref().map(normalize_line);
        let (ticket, change) = write::update_in_tx(self.conn, &self.origin, guid, &update)?;
        if let Some(c) = change {
            self.notify(&c)?;
        }
        Ok(ticket)
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
        let (ticket, comment_guid, change) =
            write::set_status_in_tx(self.conn, &self.origin, guid, status, operation, reason)?;
        self.notify(&change)?;
        Ok((ticket, comment_guid))
    }

    /// Sets the assignee.
    pub fn assign(&mut self, guid: &str, assignee: &str) -> Result<Ticket, StoreError> {
        self.check_writable()?;
        validate_assignee(assignee)?;
        let assignee = normalize_line(assignee);
        let (ticket, change) = write::assign_in_tx(self.conn, &self.origin, guid, &assignee)?;
        if let Some(c) = change {
            self.notify(&c)?;
        }
        Ok(ticket)
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
        let (ticket, comment_guid, change) =
            write::add_comment_in_tx(self.conn, &self.origin, guid, &comment)?;
        self.notify(&change)?;
        Ok((ticket, comment_guid))
    }

    /// The ticket, if it exists.
    pub fn ticket(&mut self, guid: &str) -> Result<Option<Ticket>, StoreError> {
        match find_ticket(self.conn, guid)? {
            Some(row) => write::ticket_of(self.conn, row).map(Some),
            None => Ok(None),
        }
    }

    /// The ticket with its comments; NotFound for an unknown ticket.
    pub fn details(&mut self, guid: &str) -> Result<TicketDetails, StoreError> {
        ticket_details(self.conn, guid)
    }

    /// One page of tickets, as [`ticket_provider_api::TicketProvider::list_tickets`] returns
    /// it.
    pub fn list(&mut self, query: &ListQuery) -> Result<TicketPage, StoreError> {
        let limit = query.validate()?;
        let cursor = match &query.cursor {
            Some(c) => Some(Cursor::decode(c)?),
            None => None,
        };
        list_tickets(self.conn, query, limit, cursor.as_ref())
    }

    /// Writes values another system holds into ticket `guid`: a history row per field whose
    /// value differs (no hook is called). The names of the changed fields.
    pub fn apply_values(
        &mut self,
        guid: &str,
        values: &TicketValues,
    ) -> Result<Vec<String>, StoreError> {
        self.check_writable()?;
        check_values(values)?;
        write::apply_values_in_tx(self.conn, &self.origin, guid, values)
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
            Some(g) => Some(parse_guid("guid", g)?),
            None => None,
        };
        write::insert_values_in_tx(self.conn, &self.origin, guid.as_deref(), values, created_at)
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
        if find_ticket(self.conn, guid)?.is_none() {
            return Err(StoreError::Api(Error::ticket_not_found(guid)));
        }
        write::insert_comment_in_tx(
            self.conn,
            &self.origin,
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
        write::insert_history(
            self.conn,
            &NewHistoryRow {
                ticket_guid: guid,
                field,
                old_value: old,
                new_value: new,
                changed_at: now_micros(),
                origin: self.origin.as_str(),
                origin_user: self.origin.asana_user(),
            },
        )?;
        Ok(())
    }
}

/// The checks of the provider's own input, for values from elsewhere (see
/// [`TicketField::check`](ticket_provider_api::TicketField::check)).
fn check_values(v: &TicketValues) -> Result<(), StoreError> {
    for (field, value) in v.iter() {
        field.check(value)?;
    }
    Ok(())
}

/// A crate that keeps its own tables in the internal store and follows its changes (the
/// `sync` provider is one). Pass it in [`crate::StoreOptions::extensions`]:
///
/// * [`StoreExtension::migrations`] run when the store opens, after the store's own and under
///   the same lock (so processes starting at once on a new database do not race). Their
///   versions share diesel's `__diesel_schema_migrations` table with every other set, so
///   name them uniquely (a timestamp of when they were written).
/// * [`StoreExtension::on_open`] runs after them, in a transaction, for conversions SQL
///   cannot express.
/// * [`StoreExtension::on_change`] runs inside the write transaction of every local
///   operation (create, update, status operations, assign, add_comment), after the store's
///   own statements. An error rolls the whole operation back. It may run its own statements
///   through [`StoreTx::conn`] (diesel, with its own `table!` definitions). Changes written
///   through [`StoreTx::apply_values`] and the other "from elsewhere" methods do not call it.
/// * Its own transactions go through [`crate::InternalProvider::write`] and
///   [`crate::InternalProvider::read`], which may also call the store's typed reads and
///   writes: a ticket change and the extension's rows commit together.
///
/// A transaction may run more than once (SQLite busy, PostgreSQL serialization failure):
/// the hook must not keep state outside the database.
pub trait StoreExtension: Send + Sync + 'static {
    /// A short name for logs.
    fn name(&self) -> &'static str;

    /// The extension's migrations for `backend` (`diesel_migrations::embed_migrations!`).
    fn migrations(&self, backend: Backend) -> Option<diesel_migrations::EmbeddedMigrations>;

    /// Called inside the write transaction of a local operation with what it changed.
    fn on_change(&self, tx: &mut StoreTx<'_>, change: &TicketChange) -> Result<(), StoreError>;

    /// Runs each time the store opens, after every migration, in a write transaction of its
    /// own: for data an older version of the extension left in a form SQL migrations cannot
    /// convert. Must be idempotent (several processes may open the store at once). Nothing by
    /// default.
    fn on_open(&self, tx: &mut StoreTx<'_>) -> Result<(), StoreError> {
        let _ = tx;
        Ok(())
    }
}

impl fmt::Debug for dyn StoreExtension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreExtension({})", self.name())
    }
}
