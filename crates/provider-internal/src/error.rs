//! The store's private error type and its mapping into the public [`Error`].
//!
//! Every database failure is classified here once: unreachable or unopenable databases become
//! [`ErrorKind::Unavailable`] (temporary) naming the redacted URL, constraint violations become
//! [`ErrorKind::Conflict`], and SQLite's "database is locked" never reaches a caller verbatim.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use ticket_provider_api::{Error, ErrorKind};

/// What can go wrong inside the store (also what [`crate::StoreExtension`] hooks and the
/// closures of [`crate::InternalProvider::write`] return; `?` converts diesel's errors and
/// the public [`Error`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A public error decided by the store logic (not found, invalid input, ...).
    #[error("{0}")]
    Api(Error),
    /// The database could not be opened or reached.
    #[error("cannot open the database {url}: {reason}")]
    Open {
        /// The redacted URL.
        url: String,
        /// Why, with credentials removed.
        reason: String,
    },
    /// The URL names a backend whose Cargo feature is off.
    #[error(
        "the database URL {url} needs {backend} support, which this build lacks; enable the Cargo feature '{feature}' of provider-internal"
    )]
    FeatureDisabled {
        /// The redacted URL.
        url: String,
        /// The backend's name.
        backend: &'static str,
        /// The feature that adds it.
        feature: &'static str,
    },
    /// Running the embedded migrations failed.
    #[error("cannot bring the database schema of {url} up to date: {reason}")]
    Migration {
        /// The redacted URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// No pooled connection became available in time.
    #[error("no database connection available: {0}")]
    Pool(String),
    /// A query failed.
    #[error("database error: {0}")]
    Query(#[from] DieselError),
    /// Stored data could not be read back (e.g. an unknown status string).
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
}

impl From<Error> for StoreError {
    fn from(e: Error) -> Self {
        StoreError::Api(e)
    }
}

impl From<diesel::r2d2::PoolError> for StoreError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        StoreError::Pool(e.to_string())
    }
}

impl StoreError {
    /// True for SQLite's "database is locked/busy" and PostgreSQL's serialization failures
    /// and deadlocks: the whole transaction may simply be run again.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Query(e) if is_retryable_diesel(e))
    }

    /// The public error for this failure.
    pub fn into_error(self) -> Error {
        match self {
            StoreError::Api(e) => e,
            e @ StoreError::Open { .. } => {
                Error::new(ErrorKind::Unavailable, e.to_string()).with_temporary(true)
            }
            e @ StoreError::FeatureDisabled { .. } => Error::config(e.to_string()),
            e @ StoreError::Migration { .. } => {
                Error::new(ErrorKind::Unavailable, e.to_string()).with_temporary(true)
            }
            e @ StoreError::Pool(_) => {
                Error::new(ErrorKind::Unavailable, e.to_string()).with_temporary(true)
            }
            StoreError::Corrupt(m) => Error::internal(format!("stored data is not valid: {m}")),
            StoreError::Query(e) => map_diesel(e),
        }
    }
}

/// Whether a diesel error is a busy database or a serialization failure (see
/// [`StoreError::is_retryable`]).
pub(crate) fn is_retryable_diesel(e: &DieselError) -> bool {
    match e {
        DieselError::DatabaseError(kind, info) => {
            matches!(kind, DatabaseErrorKind::SerializationFailure)
                || is_busy_message(info.message())
        }
        _ => false,
    }
}

/// Whether a database message is SQLite's busy/locked report.
pub(crate) fn is_busy_message(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("database is locked") || m.contains("database is busy") || m.contains("deadlock")
}

fn map_diesel(e: DieselError) -> Error {
    match &e {
        DieselError::NotFound => Error::new(ErrorKind::NotFound, "the record does not exist"),
        DieselError::DatabaseError(kind, info) => {
            if is_busy_message(info.message()) {
                return Error::new(
                    ErrorKind::Unavailable,
                    "the database stayed busy with other writers; try again",
                )
                .with_temporary(true);
            }
            match kind {
                DatabaseErrorKind::UniqueViolation
                | DatabaseErrorKind::ForeignKeyViolation
                | DatabaseErrorKind::NotNullViolation
                | DatabaseErrorKind::CheckViolation => Error::new(
                    ErrorKind::Conflict,
                    format!("the change conflicts with stored data: {}", info.message()),
                )
                .with_temporary(false),
                DatabaseErrorKind::SerializationFailure => Error::new(
                    ErrorKind::Conflict,
                    "the change collided with concurrent changes; try again",
                ),
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand => {
                    Error::new(
                        ErrorKind::Unavailable,
                        format!("lost the database connection: {}", info.message()),
                    )
                    .with_temporary(true)
                }
                _ => Error::internal(format!("database error: {}", info.message())),
            }
        }
        DieselError::BrokenTransactionManager | DieselError::AlreadyInTransaction => {
            Error::new(ErrorKind::Unavailable, format!("database error: {e}")).with_temporary(true)
        }
        _ => Error::internal(format!("database error: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_never_surfaces_verbatim() {
        let e = StoreError::Query(DieselError::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new("database is locked".to_string()),
        ));
        assert!(e.is_retryable());
        let err = e.into_error();
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert!(err.is_temporary());
        assert!(!err.to_string().contains("locked"), "{err}");
    }

    #[test]
    fn constraint_violation_is_conflict() {
        let e = StoreError::Query(DieselError::DatabaseError(
            DatabaseErrorKind::UniqueViolation,
            Box::new("UNIQUE constraint failed".to_string()),
        ));
        assert!(!e.is_retryable());
        assert_eq!(e.into_error().kind(), ErrorKind::Conflict);
    }
}
