//! One async interface to tickets, wherever they live.
//!
//! This facade re-exports the API ([`TicketProvider`], [`Config`], [`get_provider`], ...) and
//! links the provider crates whose Cargo features are on:
//!
//! | feature | provider name | crate |
//! |---|---|---|
//! | `provider-internal` (default) | `internal` | `provider-internal` |
//! | `provider-asana` | `asana` | `provider-asana` |
//! | `provider-sync` | `sync` | `provider-sync` |
//!
//! `provider-internal` and `provider-sync` keep tickets in a database: turn on `sqlite`
//! (default) or `postgres`, or both.
//!
//! ```no_run
//! # async fn demo() -> homechoice_tickets::Result<()> {
//! use homechoice_tickets::{get_provider, Config, NewTicket};
//! let config = Config::load("config/config.yaml")?;
//! let tickets = get_provider(&config).await?;
//! let created = tickets.create(NewTicket::new("Printer on fire")).await?;
//! println!("{} is {}", created.guid, created.status);
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub use ticket_provider_api::*;

// rustc does not link a dependency that no source file names, and the provider's
// `inventory::submit!` would vanish with it. Naming each enabled crate here keeps its
// registration; `tests/registry.rs` checks that the registry matches the features.
#[cfg(feature = "provider-asana")]
pub use provider_asana;
#[cfg(feature = "provider-internal")]
pub use provider_internal;
#[cfg(feature = "provider-sync")]
pub use provider_sync;

/// The names of the first-party providers whose Cargo feature is on in this build, sorted.
pub fn enabled_first_party_providers() -> Vec<&'static str> {
    let mut names = Vec::new();
    if cfg!(feature = "provider-internal") {
        names.push("internal");
    }
    if cfg!(feature = "provider-asana") {
        names.push("asana");
    }
    if cfg!(feature = "provider-sync") {
        names.push("sync");
    }
    names.sort_unstable();
    names
}
