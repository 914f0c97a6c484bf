//! The client's private error type and its mapping into the public [`ticket_provider_api::Error`].
//!
//! The HTTP layer reports what happened on the wire ([`AsanaError`]); this module decides
//! what that means for a caller (an [`ErrorKind`], and whether a retry can help). Messages
//! carry Asana's own `errors[0].message` where there is one, cleaned by
//! `answer::error_message` (never the token, no control character, capped); an answer of the
//! wrong shape ([`AsanaError::Decode`]) is a temporary "unavailable" error.

use std::time::Duration;

use ticket_provider_api::{Error, ErrorKind};

use crate::config::ASANA_TOKEN_ENV;

/// What went wrong talking to Asana.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AsanaError {
    /// Asana answered with a non-success status.
    #[error("Asana answered {status} to {method} {path}: {message}")]
    Status {
        /// The HTTP status code.
        status: u16,
        /// The method of the request.
        method: String,
        /// The path of the request (below the base URL, without the query).
        path: String,
        /// Asana's `errors[0].message`, or a placeholder.
        message: String,
    },
    /// Still rate limited after the allowed retries.
    #[error("Asana kept answering 429 (rate limited) to {method} {path} after waiting {waited:?}")]
    RateLimited {
        /// The method of the request.
        method: String,
        /// The path of the request.
        path: String,
        /// How long this call waited in total.
        waited: Duration,
    },
    /// The request failed on the way (timeout, connection refused or reset, ...).
    #[error("Asana could not be reached for {method} {path}: {message}")]
    Transport {
        /// The method of the request.
        method: String,
        /// The path of the request.
        path: String,
        /// What the HTTP library said.
        message: String,
    },
    /// A create may have been applied, so it was not repeated.
    #[error("{inner}; the create was not repeated because Asana may have applied it (look for the object before trying again)")]
    CreateNotRepeated {
        /// The failure of the one attempt.
        inner: Box<AsanaError>,
    },
    /// The answer could not be understood.
    #[error("unexpected answer from Asana to {what}: {message}")]
    Decode {
        /// What was asked for.
        what: String,
        /// What was wrong with the answer.
        message: String,
    },
}

impl AsanaError {
    /// The HTTP status, for answers that had one.
    pub(crate) fn status(&self) -> Option<u16> {
        match self {
            AsanaError::Status { status, .. } => Some(*status),
            AsanaError::CreateNotRepeated { inner } => inner.status(),
            _ => None,
        }
    }

    /// An unexpected answer.
    pub(crate) fn decode(what: impl Into<String>, message: impl Into<String>) -> Self {
        AsanaError::Decode {
            what: what.into(),
            message: message.into(),
        }
    }

    /// Status and message of an answer by which Asana refused the request outright (so a
    /// create certainly made nothing); `None` for every other failure.
    pub(crate) fn refusal(&self) -> Option<(u16, &str)> {
        match self {
            AsanaError::Status {
                status, message, ..
            } => Some((*status, message)),
            _ => None,
        }
    }

    /// The path of the refused request, for [`AsanaError::Status`].
    pub(crate) fn path(&self) -> Option<&str> {
        match self {
            AsanaError::Status { path, .. } => Some(path),
            _ => None,
        }
    }

    /// Asana's message, for [`AsanaError::Status`].
    pub(crate) fn asana_message(&self) -> Option<&str> {
        match self {
            AsanaError::Status { message, .. } => Some(message),
            AsanaError::CreateNotRepeated { inner } => inner.asana_message(),
            _ => None,
        }
    }

    /// The public error: the kind a caller can act on and whether a retry can help.
    pub(crate) fn into_error(self) -> Error {
        let text = self.to_string();
        let (kind, message) = match &self {
            AsanaError::Status { status, .. } => match *status {
                400 => (ErrorKind::InvalidInput, text),
                401 => (
                    ErrorKind::Unauthenticated,
                    format!("{text}; check {ASANA_TOKEN_ENV} (the token is missing, wrong, expired or revoked)"),
                ),
                402 => (
                    ErrorKind::Unsupported,
                    format!("{text}; this needs a paid Asana plan"),
                ),
                403 => (ErrorKind::PermissionDenied, text),
                404 => (ErrorKind::NotFound, text),
                409 | 412 => (ErrorKind::Conflict, text),
                429 => (ErrorKind::RateLimited, text),
                500..=599 => (ErrorKind::Unavailable, text),
                _ => (ErrorKind::Internal, text),
            },
            AsanaError::RateLimited { .. } => (ErrorKind::RateLimited, text),
            AsanaError::Transport { .. } => (ErrorKind::Unavailable, text),
            AsanaError::CreateNotRepeated { .. } => (ErrorKind::Unavailable, text),
            // Most likely a proxy, portal or maintenance page answering for Asana: temporary.
            AsanaError::Decode { .. } => (ErrorKind::Unavailable, text),
        };
        let temporary = matches!(
            kind,
            ErrorKind::RateLimited | ErrorKind::Unavailable | ErrorKind::Conflict
        );
        Error::new(kind, message).with_temporary(temporary)
    }
}

impl From<AsanaError> for Error {
    fn from(e: AsanaError) -> Self {
        e.into_error()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> AsanaError {
        AsanaError::Status {
            status: code,
            method: "GET".into(),
            path: "/tasks/1".into(),
            message: "task: Unknown object".into(),
        }
    }

    #[test]
    fn statuses_map_to_kinds() {
        for (code, kind) in [
            (400, ErrorKind::InvalidInput),
            (401, ErrorKind::Unauthenticated),
            (402, ErrorKind::Unsupported),
            (403, ErrorKind::PermissionDenied),
            (404, ErrorKind::NotFound),
            (429, ErrorKind::RateLimited),
            (500, ErrorKind::Unavailable),
            (503, ErrorKind::Unavailable),
            (418, ErrorKind::Internal),
        ] {
            assert_eq!(status(code).into_error().kind(), kind, "{code}");
        }
        let e = status(401).into_error();
        assert!(e.to_string().contains(ASANA_TOKEN_ENV), "{e}");
        assert!(!e.is_temporary());
        assert!(status(503).into_error().is_temporary());
        let e = status(400).into_error();
        assert!(e.to_string().contains("task: Unknown object"), "{e}");
    }

    #[test]
    fn unrepeated_create_is_temporary_unavailable() {
        let e = AsanaError::CreateNotRepeated {
            inner: Box::new(status(500)),
        }
        .into_error();
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(e.is_temporary());
        assert!(e.to_string().contains("not repeated"), "{e}");
    }
}
