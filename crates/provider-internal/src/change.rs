//! How other crates build on the store: [`StoreExtension`] (own migrations, and a typed hook
//! that runs inside every write transaction of a local operation) and the values it sees
//! ([`TicketChange`]).
//!
//! The store knows nothing of what an extension does with a change. The `sync` provider, for
//! one, records each change in its outbox in the same transaction, so that a change and its
//! outbox entry exist together or not at all.

use std::fmt;

use ticket_provider_api::{Comment, Due, Priority, Status, Ticket};

use crate::config::Backend;
use crate::error::StoreError;
use crate::tx::StoreTx;

/// A ticket's synced values, as another system holds them (see
/// [`StoreTx::apply_values`] and [`StoreTx::insert_ticket`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketValues {
    /// Subject (one line).
    pub subject: String,
    /// Description.
    pub description: String,
    /// Status.
    pub status: Status,
    /// Priority.
    pub priority: Priority,
    /// Assignee; `None`: nobody.
    pub assignee: Option<String>,
    /// Due date; `None`: none.
    pub due: Option<Due>,
}

impl TicketValues {
    /// The values of a ticket.
    pub fn of(t: &Ticket) -> Self {
        TicketValues {
            subject: t.subject.clone(),
            description: t.description.clone(),
            status: t.status,
            priority: t.priority,
            assignee: t.assignee.clone(),
            due: t.due,
        }
    }
}

/// The fields an update changed: only those whose value differs from the old one are set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldChanges {
    /// The new subject.
    pub subject: Option<String>,
    /// The new description.
    pub description: Option<String>,
    /// The new priority.
    pub priority: Option<Priority>,
    /// The new due date (`Some(None)`: cleared).
    pub due: Option<Option<Due>>,
}

/// The operation that set a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusOperation {
    /// `change_status`.
    ChangeStatus,
    /// `close`.
    Close,
    /// `resolve`.
    Resolve,
    /// `escalate`.
    Escalate,
}

impl StatusOperation {
    /// The operation's name: `change_status`, `close`, `resolve` or `escalate`.
    pub const fn as_str(self) -> &'static str {
        match self {
            StatusOperation::ChangeStatus => "change_status",
            StatusOperation::Close => "close",
            StatusOperation::Resolve => "resolve",
            StatusOperation::Escalate => "escalate",
        }
    }

    /// Every status operation.
    pub const ALL: [StatusOperation; 4] = [
        StatusOperation::ChangeStatus,
        StatusOperation::Close,
        StatusOperation::Resolve,
        StatusOperation::Escalate,
    ];
}

/// What one local operation changed, as [`StoreExtension::on_change`] sees it. Operations
/// that change nothing (an update to the current values, assigning the current assignee)
/// produce no change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketChange {
    /// A ticket was created with these values (status NEW).
    Created {
        /// The new ticket.
        ticket: Ticket,
    },
    /// Subject, description and/or priority changed.
    Updated {
        /// The ticket.
        guid: String,
        /// The changed fields.
        changes: FieldChanges,
    },
    /// A status operation ran (recorded even when the status stays the same).
    StatusSet {
        /// The ticket.
        guid: String,
        /// Which operation.
        operation: StatusOperation,
        /// The status now.
        status: Status,
        /// The comment written with it (an escalation's reason).
        comment: Option<Comment>,
    },
    /// The assignee changed.
    Assigned {
        /// The ticket.
        guid: String,
        /// The assignee now.
        assignee: String,
    },
    /// A comment was added.
    Commented {
        /// The ticket.
        guid: String,
        /// The comment.
        comment: Comment,
    },
}

impl TicketChange {
    /// The ticket changed.
    pub fn guid(&self) -> &str {
        match self {
            TicketChange::Created { ticket } => &ticket.guid,
            TicketChange::Updated { guid, .. }
            | TicketChange::StatusSet { guid, .. }
            | TicketChange::Assigned { guid, .. }
            | TicketChange::Commented { guid, .. } => guid,
        }
    }
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
