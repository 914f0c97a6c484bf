//! The [`TicketProvider`] trait: the one async interface every backend implements.

use std::sync::Arc;

use async_trait::async_trait;

use crate::capability::ProviderInfo;
use crate::error::Result;
use crate::extension::Extensions;
use crate::model::{
    ListQuery, NewComment, NewTicket, OperationResult, TicketDetails, TicketPage, TicketUpdate,
};
use crate::status::Status;

/// A place where tickets live.
///
/// Every method is required, with no default body, so that a wrapper (such as a dual-write
/// provider) cannot silently inherit behaviour that is wrong for it. Implementations must be
/// safe to call from many tasks at once; hold them as `Arc<dyn TicketProvider>`. `Debug` is
/// required so errors and logs can show a provider; it must never print a secret.
///
/// Every method validates its input before writing anything: bad input is an
/// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) error and leaves the store as it
/// was; an unknown guid is [`ErrorKind::NotFound`](crate::ErrorKind::NotFound).
///
/// # Lifecycle
///
/// A provider is built by the registry ([`crate::get_provider`]), used, and then shut down
/// with [`TicketProvider::shutdown`] before the program exits: that finishes (or hands back
/// for later) work still in flight and releases what the provider holds for others (claims
/// in a shared store, connections). Errors need no provider or operation context: the
/// registry wraps every provider it builds and adds both (see [`crate::Error::in_context`]).
///
/// # Extras
///
/// [`TicketProvider::info`] says what the provider can do; extras such as the change history
/// or sync maintenance are reached through [`TicketProvider::extensions`] (see
/// [`crate::extension`]).
#[async_trait]
pub trait TicketProvider: Send + Sync + std::fmt::Debug {
    /// The provider's registered name and its capabilities (the same as its descriptor's).
    fn info(&self) -> ProviderInfo;

    /// The extension trait objects this provider offers (empty when none); one per extra
    /// capability it declares.
    fn extensions(&self) -> Extensions;

    /// Finishes or hands back work still in flight and releases what the provider holds for
    /// others (e.g. claims in a shared store). Idempotent: a second call does nothing more.
    /// Operations after a shutdown may still work but may not push in the background.
    async fn shutdown(&self) -> Result<()>;

    /// Creates a ticket in status NEW.
    async fn create(&self, ticket: NewTicket) -> Result<OperationResult>;

    /// Changes subject, description and/or priority.
    async fn update(&self, guid: &str, changes: TicketUpdate) -> Result<OperationResult>;

    /// Moves the ticket to `status` (any status may follow any other).
    async fn change_status(&self, guid: &str, status: Status) -> Result<OperationResult>;

    /// Assigns the ticket; the result carries `assigned_to`.
    async fn assign(&self, guid: &str, assignee: &str) -> Result<OperationResult>;

    /// Adds a comment; the result carries `comment_guid`.
    async fn add_comment(&self, guid: &str, comment: NewComment) -> Result<OperationResult>;

    /// The whole ticket with its comments.
    async fn get_ticket(&self, guid: &str) -> Result<TicketDetails>;

    /// One page of tickets, newest first, filtered by `query`.
    async fn list_tickets(&self, query: ListQuery) -> Result<TicketPage>;

    /// Moves the ticket to CLOSED.
    async fn close(&self, guid: &str) -> Result<OperationResult>;

    /// Moves the ticket to RESOLVED.
    async fn resolve(&self, guid: &str) -> Result<OperationResult>;

    /// Moves the ticket to ESCALATED; a reason is kept as a comment (and its id returned as
    /// `comment_guid`).
    async fn escalate(&self, guid: &str, reason: Option<&str>) -> Result<OperationResult>;
}

macro_rules! forward_provider {
    ($ty:ty) => {
        #[async_trait]
        impl<T: TicketProvider + ?Sized> TicketProvider for $ty {
            fn info(&self) -> ProviderInfo {
                (**self).info()
            }
            fn extensions(&self) -> Extensions {
                (**self).extensions()
            }
            async fn shutdown(&self) -> Result<()> {
                (**self).shutdown().await
            }
            async fn create(&self, ticket: NewTicket) -> Result<OperationResult> {
                (**self).create(ticket).await
            }
            async fn update(&self, guid: &str, changes: TicketUpdate) -> Result<OperationResult> {
                (**self).update(guid, changes).await
            }
            async fn change_status(&self, guid: &str, status: Status) -> Result<OperationResult> {
                (**self).change_status(guid, status).await
            }
            async fn assign(&self, guid: &str, assignee: &str) -> Result<OperationResult> {
                (**self).assign(guid, assignee).await
            }
            async fn add_comment(
                &self,
                guid: &str,
                comment: NewComment,
            ) -> Result<OperationResult> {
                (**self).add_comment(guid, comment).await
            }
            async fn get_ticket(&self, guid: &str) -> Result<TicketDetails> {
                (**self).get_ticket(guid).await
            }
            async fn list_tickets(&self, query: ListQuery) -> Result<TicketPage> {
                (**self).list_tickets(query).await
            }
            async fn close(&self, guid: &str) -> Result<OperationResult> {
                (**self).close(guid).await
            }
            async fn resolve(&self, guid: &str) -> Result<OperationResult> {
                (**self).resolve(guid).await
            }
            async fn escalate(&self, guid: &str, reason: Option<&str>) -> Result<OperationResult> {
                (**self).escalate(guid, reason).await
            }
        }
    };
}

forward_provider!(Arc<T>);
forward_provider!(Box<T>);
