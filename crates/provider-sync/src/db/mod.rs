//! The sync provider's tables in the internal store (its own migrations, `migrations/`), and
//! every statement on them: typed rows in, typed rows out. Everything here runs inside a
//! store transaction the caller opened ([`provider_internal::InternalProvider::write`] or
//! `read`), so several steps commit together. One file per job: `schema.rs` (the tables and
//! how values are stored), `link.rs` (the ticket ↔ task links), `outbox.rs` (the outbox),
//! `comment.rs` (comment ↔ story links and post attempts), `claim.rs` (push claims and the
//! key/value table), `legacy.rs` (release 0.1.0's rows).

mod claim;
mod comment;
mod legacy;
mod link;
mod outbox;
mod schema;

pub(crate) use claim::*;
pub(crate) use comment::*;
pub(crate) use legacy::*;
pub(crate) use link::*;
pub use link::{Link, LinkState};
pub(crate) use outbox::*;
pub(crate) use schema::stored_now;

/// Whether this build of provider-sync has statements for `backend`. Cargo unifies features,
/// so the internal store may speak a backend (another crate turned on
/// `provider-internal/postgres`) whose statements this crate was built without.
pub(crate) fn backend_built(backend: provider_internal::Backend) -> bool {
    match backend {
        provider_internal::Backend::Sqlite => cfg!(feature = "sqlite"),
        provider_internal::Backend::Postgres => cfg!(feature = "postgres"),
    }
}

/// The error of a store whose backend this build of provider-sync has no statements for.
pub(crate) fn backend_not_built(
    backend: provider_internal::Backend,
) -> provider_internal::StoreError {
    provider_internal::StoreError::Api(ticket_provider_api::Error::config(format!(
        "provider-sync was built without its `{backend}` feature, so it cannot keep its tables in this {backend} store; enable provider-sync's `{backend}` feature"
    )))
}
