//! The integration tests of this crate that need no process of their own, in one test
//! binary (one link, one run). Tests that change process-wide state (a global
//! subscriber, environment variables, thread counts) keep binaries of their own; see
//! `Cargo.toml`.

mod behaviour;
mod cold_start;
mod common;
mod decode_props;
mod doctor;
mod due_dates;
mod failures;
mod fields;
mod limits;
mod mapping;
mod priority_field;
mod requests;
