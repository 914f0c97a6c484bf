//! The values a store extension sees: what a local operation changed ([`TicketChange`]), and
//! a ticket's values as another system holds them ([`TicketValues`]). The hook itself is
//! [`crate::StoreExtension`].
//!
//! The store knows nothing of what an extension does with a change. The `sync` provider, for
//! one, records each change in its outbox in the same transaction, so that a change and its
//! outbox entry exist together or not at all.

use ticket_provider_api::{Comment, Status, Ticket, Values};

/// A ticket's values as another system holds them (see [`crate::StoreTx::apply_values`] and
/// [`crate::StoreTx::insert_ticket`]): the fields that system carries; the others stay as
/// they are.
pub type TicketValues = Values;

/// The fields an update changed, with their new values (a cleared one holds its empty
/// value): only those whose value differs from the old one.
pub type FieldChanges = Values;

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

/// What one local operation changed, as [`crate::StoreExtension::on_change`] sees it. Operations
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
