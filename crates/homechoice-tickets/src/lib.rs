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

/// Whose settings each first-party provider reads besides its own: `sync` builds an
/// `internal` store and an `asana` client from the same file.
const READS_SETTINGS_OF: [(&str, &[&str]); 1] = [("sync", &["internal", "asana"])];

/// The documented keys of this build, one group per crate that reads them: the shared keys
/// first, then each linked provider's (first-party ones in the order `internal`, `asana`,
/// `sync`, then the others by name). With `provider`, only the groups that provider reads.
/// The README's key table and `ticket init` are rendered from these
/// ([`keydoc::markdown_table`], [`keydoc::config_template`]).
pub fn key_groups(provider: Option<&str>) -> Vec<KeyGroup> {
    let rank = |name: &str| {
        FIRST_PARTY_PROVIDERS
            .iter()
            .position(|(n, _)| *n == name)
            .unwrap_or(FIRST_PARTY_PROVIDERS.len())
    };
    let mut linked = descriptors();
    linked.sort_by_key(|d| (rank(d.name), d.name));
    let reads = |d: &ProviderDescriptor| match provider {
        None => true,
        Some(p) => {
            d.name == p
                || READS_SETTINGS_OF
                    .iter()
                    .any(|(n, others)| *n == p && others.contains(&d.name))
        }
    };
    let mut groups = vec![KeyGroup {
        owner: "ticket-provider-api",
        used_by: Vec::new(),
        keys: &keydoc::SHARED_KEY_DOCS,
    }];
    for d in linked.into_iter().filter(|d| reads(d)) {
        let Some(spec) = d.settings else { continue };
        let mut used_by = vec![d.name];
        used_by.extend(
            READS_SETTINGS_OF
                .iter()
                .filter(|(n, others)| others.contains(&d.name) && registered_names().contains(n))
                .map(|(n, _)| *n),
        );
        groups.push(KeyGroup {
            owner: d.crate_name,
            used_by,
            keys: spec.docs,
        });
    }
    groups
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

#[cfg(test)]
mod tidy;
