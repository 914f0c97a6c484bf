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
