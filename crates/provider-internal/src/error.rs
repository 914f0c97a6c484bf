//! The store's private error type and its mapping into the public [`Error`].
//!
//! Every database failure is classified here once: unreachable or unopenable databases become
//! [`ErrorKind::Unavailable`] (temporary) naming the redacted URL, constraint violations become
//! [`ErrorKind::Conflict`], and SQLite's "database is locked" never reaches a caller verbatim.
//! A SQLite file that cannot be used as it is (read-only, full, corrupt, not a database:
//! [`FileFault`]) is an [`ErrorKind::Config`] error naming the file and what is wrong, at
//! open and on any later statement alike: retrying cannot help, the operator must act.

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

/// Why a SQLite file cannot be used as it is, known from SQLite's own words (its result
/// codes reach diesel only as messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileFault {
    /// `SQLITE_READONLY`: the file, its folder or its `-wal`/`-shm` files cannot be written.
    ReadOnly,
    /// `SQLITE_FULL`: the disk is full, or the database reached its page limit.
    Full,
    /// `SQLITE_CORRUPT`: the file's pages do not make a database.
    Corrupt,
    /// `SQLITE_NOTADB`: the file is something else.
    NotADatabase,
    /// `SQLITE_IOERR`: the operating system refused a read or a write.
    Io,
}

impl FileFault {
    /// The fault a SQLite error message reports, if any.
    pub(crate) fn of(message: &str) -> Option<Self> {
        let m = message.to_ascii_lowercase();
        if m.contains("readonly database") || m.contains("read-only database") {
            Some(FileFault::ReadOnly)
        } else if m.contains("database or disk is full") {
            Some(FileFault::Full)
        } else if m.contains("disk image is malformed") || m.contains("malformed database schema") {
            Some(FileFault::Corrupt)
        } else if m.contains("file is not a database") {
            Some(FileFault::NotADatabase)
        } else if m.contains("disk i/o error") {
            Some(FileFault::Io)
        } else {
            None
        }
    }

    /// What is wrong and what to do, after "the SQLite file PATH".
    pub(crate) fn says(self) -> &'static str {
        match self {
            FileFault::ReadOnly => {
                "is read-only: make it, its folder and its -wal/-shm files writable by this user"
            }
            FileFault::Full => "is full: free space on its disk",
            FileFault::Corrupt => "is corrupt: restore it from a backup",
            FileFault::NotADatabase => "is not a SQLite database: point database_url at the store",
            FileFault::Io => "cannot be read or written (disk I/O error): check the disk",
        }
    }
}

/// The error of a statement on the SQLite file at `path` that failed with `message`, when
/// the file cannot be used as it is: one line naming the file, the fault and SQLite's words.
pub(crate) fn file_fault_error(path: &str, message: &str) -> Option<Error> {
    let fault = FileFault::of(message)?;
    let said = crate::config::redact_url(message);
    let said = said.trim();
    Some(Error::config(format!(
        "the SQLite file {path} {} (SQLite: {said})",
        fault.says()
    )))
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

    /// SQLite's own message in this failure, where there is one.
    fn database_message(&self) -> Option<String> {
        match self {
            StoreError::Open { reason, .. } | StoreError::Migration { reason, .. } => {
                Some(reason.clone())
            }
            StoreError::Query(DieselError::DatabaseError(_, info)) => {
                Some(info.message().to_string())
            }
            StoreError::Query(e) => Some(e.to_string()),
            _ => None,
        }
    }

    /// The public error for this failure on the SQLite file at `path` (`None` for other
    /// stores): a [`FileFault`] names the file; anything else is [`Self::into_error`].
    pub(crate) fn into_error_at(self, path: Option<&str>) -> Error {
        if let (Some(path), Some(message)) = (path, self.database_message()) {
            if let Some(e) = file_fault_error(path, &message) {
                return e;
            }
        }
        self.into_error()
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

    /// Every SQLite message of a file that cannot be used as it is, and some that are not.
    #[test]
    fn file_faults_are_known_from_sqlites_words() {
        let table = [
            (
                "attempt to write a readonly database",
                Some(FileFault::ReadOnly),
            ),
            ("database or disk is full", Some(FileFault::Full)),
            ("database disk image is malformed", Some(FileFault::Corrupt)),
            (
                "malformed database schema (tickets)",
                Some(FileFault::Corrupt),
            ),
            ("file is not a database", Some(FileFault::NotADatabase)),
            ("disk I/O error", Some(FileFault::Io)),
            ("database is locked", None),
            ("UNIQUE constraint failed: tickets.guid", None),
            ("unable to open database file", None),
        ];
        for (message, fault) in table {
            assert_eq!(FileFault::of(message), fault, "{message}");
        }
    }

    #[test]
    fn a_file_fault_names_the_file_and_is_a_config_error() {
        let e = StoreError::Query(DieselError::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new("database or disk is full".to_string()),
        ))
        .into_error_at(Some("/srv/tickets.db"));
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(!e.is_temporary());
        let m = e.to_string();
        assert!(
            m.contains("/srv/tickets.db") && m.contains("is full"),
            "{m}"
        );
        // Elsewhere (PostgreSQL, memory) the message keeps its old meaning.
        let e = StoreError::Query(DieselError::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new("database or disk is full".to_string()),
        ))
        .into_error_at(None);
        assert_eq!(e.kind(), ErrorKind::Internal);
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
