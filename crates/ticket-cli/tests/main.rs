//! The integration tests of this crate that need no process of their own, in one test
//! binary (one link, one run). Tests that change process-wide state (a global
//! subscriber, environment variables, thread counts) keep binaries of their own; see
//! `Cargo.toml`.

mod asana;
mod bad_input;
mod changes;
mod cli;
mod cold_start;
mod common;
mod exit;
mod first_start;
mod hostile;
mod providers;
mod sync;
mod sync_webhook;
mod sync_worker;
