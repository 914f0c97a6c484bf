//! The integration tests of this crate that need no process of their own, in one test
//! binary (one link, one run). Tests that change process-wide state (a global
//! subscriber, environment variables, thread counts) keep binaries of their own; see
//! `Cargo.toml`.

mod common;
mod library_bad_input;
mod sync_behaviour;
mod sync_claims;
mod sync_comments;
mod sync_conflicts;
mod sync_consistency;
mod sync_cost;
mod sync_fields;
mod sync_outbox_ids;
mod sync_priority_field;
mod sync_proptest_ops;
mod sync_random;
mod sync_restore;
mod sync_set_aside;
mod sync_sync;
mod sync_upgrade;
mod sync_webhooks;
