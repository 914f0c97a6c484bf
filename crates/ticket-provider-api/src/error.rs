//! The one public error type every provider returns.
//!
//! Providers keep their own private error enums and map them into [`Error`], choosing an
//! [`ErrorKind`] a caller can match on and saying whether a retry can help.

use std::fmt;

/// What went wrong, in terms a caller can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The ticket (or another named object) does not exist.
    NotFound,
    /// The request itself is wrong: empty subject, unknown status, malformed id, ...
    InvalidInput,
    /// The configuration is wrong or incomplete.
    Config,
    /// The provider cannot do this (or not on this plan).
    Unsupported,
    /// Credentials are missing or were refused.
    Unauthenticated,
    /// Authenticated, but not allowed to touch this object.
    PermissionDenied,
    /// A rate limit was hit; retry later.
    RateLimited,
    /// The backend could not be reached or answered with a server error.
    Unavailable,
    /// The change conflicts with the current state (e.g. a concurrent change, a duplicate).
    Conflict,
    /// A bug or an unexpected answer: nothing the caller did.
    Internal,
}

impl ErrorKind {
    /// A short, stable, snake_case name (used in JSON output and logs).
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not_found",
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::Config => "config",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Internal => "internal",
        }
    }

    /// Whether an error of this kind is usually worth retrying as it is.
    pub const fn is_usually_temporary(self) -> bool {
        matches!(
            self,
            ErrorKind::RateLimited | ErrorKind::Unavailable | ErrorKind::Conflict
        )
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The operation that failed, for error context and tracing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// [`crate::TicketProvider::create`]
    Create,
    /// [`crate::TicketProvider::update`]
    Update,
    /// [`crate::TicketProvider::change_status`]
    ChangeStatus,
    /// [`crate::TicketProvider::assign`]
    Assign,
    /// [`crate::TicketProvider::add_comment`]
    AddComment,
    /// [`crate::TicketProvider::get_ticket`]
    GetTicket,
    /// [`crate::TicketProvider::list_tickets`]
    ListTickets,
    /// [`crate::TicketProvider::close`]
    Close,
    /// [`crate::TicketProvider::resolve`]
    Resolve,
    /// [`crate::TicketProvider::escalate`]
    Escalate,
    /// Building a provider from configuration.
    Build,
    /// [`crate::TicketProvider::shutdown`]
    Shutdown,
    /// Anything else a provider does (sync, history, health checks).
    Other(&'static str),
}

impl Operation {
    /// The snake_case name, e.g. `"change_status"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::ChangeStatus => "change_status",
            Operation::Assign => "assign",
            Operation::AddComment => "add_comment",
            Operation::GetTicket => "get_ticket",
            Operation::ListTickets => "list_tickets",
            Operation::Close => "close",
            Operation::Resolve => "resolve",
            Operation::Escalate => "escalate",
            Operation::Build => "build",
            Operation::Shutdown => "shutdown",
            Operation::Other(name) => name,
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The error of every provider operation.
///
/// `Display` gives one line: the message, then the context that is known, e.g.
/// `ticket not found (provider internal, operation get_ticket, guid 0193...)`.
#[derive(thiserror::Error)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    provider: Option<String>,
    operation: Option<Operation>,
    guid: Option<String>,
    temporary: bool,
    #[source]
    source: Option<Source>,
}

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error of `kind`; whether it is temporary starts from
    /// [`ErrorKind::is_usually_temporary`].
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            provider: None,
            operation: None,
            guid: None,
            temporary: kind.is_usually_temporary(),
            source: None,
        }
    }

    /// Shorthand for [`ErrorKind::InvalidInput`].
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }

    /// Shorthand for [`ErrorKind::NotFound`] about a ticket.
    pub fn ticket_not_found(guid: &str) -> Self {
        Self::new(ErrorKind::NotFound, format!("no ticket with guid {guid:?}")).with_guid(guid)
    }

    /// Shorthand for [`ErrorKind::Config`].
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    /// Shorthand for [`ErrorKind::Internal`].
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// Sets the provider and the operation, replacing what was set before, and the guid
    /// unless one is set. The registry's wrapper calls this on every error a provider
    /// returns, so that an error names the provider the caller configured (a `sync` error
    /// says `provider sync` even when it came from the store underneath) and the operation
    /// the caller called; providers need not add either themselves.
    pub fn in_context(
        mut self,
        provider: impl Into<String>,
        operation: Operation,
        guid: Option<&str>,
    ) -> Self {
        self.provider = Some(provider.into());
        self.operation = Some(operation);
        if let (None, Some(g)) = (&self.guid, guid) {
            self.guid = Some(g.to_string());
        }
        self
    }

    /// Sets the provider name, unless one is already set.
    pub fn with_provider(mut self, provider: impl Into<String>) -> Self {
        if self.provider.is_none() {
            self.provider = Some(provider.into());
        }
        self
    }

    /// Sets the operation, unless one is already set.
    pub fn with_operation(mut self, operation: Operation) -> Self {
        if self.operation.is_none() {
            self.operation = Some(operation);
        }
        self
    }

    /// Sets the ticket guid, unless one is already set.
    pub fn with_guid(mut self, guid: impl Into<String>) -> Self {
        if self.guid.is_none() {
            self.guid = Some(guid.into());
        }
        self
    }

    /// Overrides whether a retry can help.
    pub fn with_temporary(mut self, temporary: bool) -> Self {
        self.temporary = temporary;
        self
    }

    /// Attaches the underlying cause.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message without context.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The provider that failed, when known.
    pub fn provider(&self) -> Option<&str> {
        self.provider.as_deref()
    }

    /// The operation that failed, when known.
    pub fn operation(&self) -> Option<Operation> {
        self.operation
    }

    /// The ticket concerned, when known.
    pub fn guid(&self) -> Option<&str> {
        self.guid.as_deref()
    }

    /// Whether retrying the same call later can succeed.
    pub fn is_temporary(&self) -> bool {
        self.temporary
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        let mut parts = Vec::new();
        if let Some(p) = &self.provider {
            parts.push(format!("provider {p}"));
        }
        if let Some(op) = self.operation {
            parts.push(format!("operation {op}"));
        }
        if let Some(g) = &self.guid {
            parts.push(format!("guid {g}"));
        }
        if !parts.is_empty() {
            write!(f, " ({})", parts.join(", "))?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("provider", &self.provider)
            .field("operation", &self.operation)
            .field("guid", &self.guid)
            .field("temporary", &self.temporary)
            .field("source", &self.source.as_ref().map(|s| s.to_string()))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_carries_context_once() {
        let err = Error::ticket_not_found("abc")
            .with_provider("internal")
            .with_operation(Operation::GetTicket)
            .with_provider("other");
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert_eq!(
            err.to_string(),
            "no ticket with guid \"abc\" (provider internal, operation get_ticket, guid abc)"
        );
        assert!(!err.is_temporary());
    }

    #[test]
    fn context_replaces_provider_and_operation_and_keeps_a_guid() {
        let err = Error::ticket_not_found("abc")
            .with_provider("internal")
            .with_operation(Operation::Other("history"))
            .in_context("sync", Operation::GetTicket, Some("other"));
        assert_eq!(err.provider(), Some("sync"));
        assert_eq!(err.operation(), Some(Operation::GetTicket));
        assert_eq!(err.guid(), Some("abc"));
        let err = Error::internal("x").in_context("sync", Operation::Create, Some("g"));
        assert_eq!(err.guid(), Some("g"));
    }

    #[test]
    fn temporary_follows_kind_unless_overridden() {
        assert!(Error::new(ErrorKind::RateLimited, "slow down").is_temporary());
        assert!(!Error::new(ErrorKind::Unavailable, "gone")
            .with_temporary(false)
            .is_temporary());
    }
}
