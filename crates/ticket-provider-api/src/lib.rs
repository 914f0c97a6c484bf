//! The contract between applications and ticket backends.
//!
//! * [`TicketProvider`]: the one async trait with the ten operations.
//! * [`Status`], [`Priority`] and the data types in [`model`].
//! * [`Error`] with an [`ErrorKind`] to match on.
//! * [`Config`]: the `homechoice.ticket` settings from YAML.
//! * The registry: [`register_provider!`], [`get_provider`], [`registered_names`].
//!
//! A backend crate depends on this crate only, implements [`TicketProvider`], and registers a
//! [`ProviderDescriptor`]; see `examples/provider-memory` in the repository.

#![warn(missing_docs)]

pub mod config;
pub mod error;
pub mod model;
mod provider;
pub mod registry;
mod secret;
mod status;

pub use async_trait::async_trait;
pub use chrono;
#[doc(hidden)]
pub use inventory;

pub use config::{Config, TicketSettings};
pub use error::{Error, ErrorKind, Operation, Result};
pub use model::{
    Comment, ListQuery, NewComment, NewTicket, OperationResult, SyncState, Ticket, TicketDetails,
    TicketPage, TicketUpdate,
};
pub use provider::TicketProvider;
pub use registry::{
    build_provider, descriptors, find_descriptor, get_provider, registered_names, BoxFuture,
    BuildContext, Check, ProviderDescriptor, FIRST_PARTY_PROVIDERS,
};
pub use secret::{SecretString, ASANA_TOKEN_ENV};
pub use status::{Priority, Status};
