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

use std::sync::Arc;

// rustc does not link a dependency that no source file names, and the provider's
// `inventory::submit!` would vanish with it. Naming each enabled crate here keeps its
// registration; `tests/registry.rs` checks that the registry matches the features.
#[cfg(feature = "provider-asana")]
pub use provider_asana;
#[cfg(feature = "provider-internal")]
pub use provider_internal;
#[cfg(feature = "provider-sync")]
pub use provider_sync;

/// First-party provider names and the Cargo feature of this crate that links each.
pub const FIRST_PARTY_PROVIDERS: [(&str, &str); 3] = [
    ("internal", "provider-internal"),
    ("asana", "provider-asana"),
    ("sync", "provider-sync"),
];

/// Like [`ticket_provider_api::find_descriptor`], but a first-party provider whose feature is
/// off in this build is an error that names the feature to enable.
pub fn find_descriptor(name: &str) -> Result<&'static ProviderDescriptor> {
    ticket_provider_api::find_descriptor(name).map_err(|e| {
        match FIRST_PARTY_PROVIDERS.iter().find(|(n, _)| *n == name) {
            Some((_, feature)) if !enabled_first_party_providers().contains(&name) => {
                Error::config(format!(
                    "provider '{name}' is not compiled in; enable the Cargo feature '{feature}' of homechoice-tickets (registered providers: {})",
                    registered_names().join(", ")
                ))
                .with_operation(Operation::Build)
            }
            _ => e,
        }
    })
}

/// Builds the provider that `homechoice.ticket.provider` names (see
/// [`ticket_provider_api::get_provider`]), naming the feature to enable for a first-party
/// provider that is not compiled in.
pub async fn get_provider(config: &Config) -> Result<Arc<dyn TicketProvider>> {
    build_provider(BuildContext::new(config.clone())).await
}

/// Like [`get_provider`], with a prepared context.
pub async fn build_provider(ctx: BuildContext) -> Result<Arc<dyn TicketProvider>> {
    find_descriptor(&ctx.config().ticket.provider)?;
    ticket_provider_api::build_provider(ctx).await
}

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
