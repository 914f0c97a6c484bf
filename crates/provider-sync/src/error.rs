//! Why a push failed, in the terms the outbox needs: set the entry aside, or keep it and try
//! again later (and whether Asana looks down, for the circuit breaker).

use ticket_provider_api::{Error, ErrorKind};

/// A failed push step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PushFailure {
    /// Asana refused the change for good (400, 402): retrying cannot help.
    Permanent(String),
    /// Asana answered 404 or 403 about the task itself: deleted, moved out of reach, or no
    /// longer visible to the token. A linked ticket's link becomes lost; its changes stay
    /// pending.
    Gone(String),
    /// Worth retrying later (429, 5xx, timeouts, transport errors).
    Temporary {
        /// What went wrong.
        message: String,
        /// Whether this says Asana is unreachable or unusable (feeds the circuit breaker).
        asana_down: bool,
    },
}

impl PushFailure {
    /// Classifies an error of the `asana` provider.
    pub(crate) fn from_remote(e: &Error) -> Self {
        let message = e.to_string();
        // A custom field or option gone from Asana: retrying cannot help.
        let unusable_field =
            std::error::Error::source(e).is_some_and(|s| s.is::<provider_asana::UnusableField>());
        if unusable_field {
            return PushFailure::Permanent(message);
        }
        match e.kind() {
            ErrorKind::PermissionDenied | ErrorKind::NotFound => PushFailure::Gone(message),
            ErrorKind::InvalidInput | ErrorKind::Unsupported => PushFailure::Permanent(message),
            ErrorKind::Unavailable | ErrorKind::Unauthenticated | ErrorKind::Config => {
                PushFailure::Temporary {
                    message,
                    asana_down: true,
                }
            }
            _ => PushFailure::Temporary {
                message,
                asana_down: false,
            },
        }
    }

    /// The text kept in the outbox entry.
    pub(crate) fn message(&self) -> &str {
        match self {
            PushFailure::Permanent(m)
            | PushFailure::Gone(m)
            | PushFailure::Temporary { message: m, .. } => m,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_custom_field_gone_from_asana_is_permanent_other_config_errors_are_not() {
        let gone = Error::config(
            "the Asana custom field \"Severity\" of field severity is not on project 1",
        )
        .with_source(provider_asana::UnusableField {
            fields: vec!["severity".into()],
        });
        assert!(matches!(
            PushFailure::from_remote(&gone),
            PushFailure::Permanent(m) if m.contains("severity")
        ));
        assert!(matches!(
            PushFailure::from_remote(&Error::config("no such project")),
            PushFailure::Temporary { .. }
        ));
    }

    #[test]
    fn kinds_map_to_permanent_or_temporary() {
        for (kind, gone) in [
            (ErrorKind::InvalidInput, false),
            (ErrorKind::Unsupported, false),
            (ErrorKind::PermissionDenied, true),
            (ErrorKind::NotFound, true),
        ] {
            let f = PushFailure::from_remote(&Error::new(kind, "x"));
            if gone {
                assert!(matches!(f, PushFailure::Gone(_)), "{kind:?}");
            } else {
                assert!(matches!(f, PushFailure::Permanent(_)), "{kind:?}");
            }
        }
        assert_eq!(
            PushFailure::from_remote(&Error::new(ErrorKind::Unavailable, "x")),
            PushFailure::Temporary {
                message: "x".into(),
                asana_down: true
            }
        );
        assert!(matches!(
            PushFailure::from_remote(&Error::new(ErrorKind::RateLimited, "x")),
            PushFailure::Temporary {
                asana_down: false,
                ..
            }
        ));
    }
}
