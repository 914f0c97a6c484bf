//! The integration tests of this crate that need no process of their own, in one test
//! binary (one link, one run). Tests that change process-wide state (a global
//! subscriber, environment variables, thread counts) keep binaries of their own; see
//! `Cargo.toml`.

mod api;
mod common;
mod contract;
mod custom_fields;
mod due_dates;
mod field_types;
mod limits;
mod official_client;
mod strict;
mod webhooks;
