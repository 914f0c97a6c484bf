//! The contract between applications and ticket backends.
//!
//! * [`TicketProvider`]: the one async trait with the ten operations.
//! * [`Status`], [`Priority`] and the data types in [`model`].
//! * [`Error`] with an [`ErrorKind`] to match on.
//! * [`Config`]: the `homechoice.ticket` settings from YAML; each provider reads its own keys
//!   with [`Config::settings`] and declares them with [`SettingsSpec`].
//! * [`keydoc`]: each key is documented once, beside its settings type
//!   ([`ProviderSettings::KEYS`]); the README's key table and `ticket init`'s file are rendered
//!   from that.
//! * The registry: [`register_provider!`], [`get_provider`], [`registered_names`]. Every
//!   provider it builds is wrapped so that errors name the configured provider and the
//!   operation.
//! * Lifecycle and extras: [`TicketProvider::info`] ([`Capabilities`]),
//!   [`TicketProvider::shutdown`], and [`TicketProvider::extensions`] for the extension traits
//!   [`TicketHistory`], [`TicketChanges`] (the change feed, see [`changes`]) and
//!   [`SyncMaintenance`] (see [`extension`]).
//!
//! A backend crate depends on this crate only, implements [`TicketProvider`], and registers a
//! [`ProviderDescriptor`]; see `examples/provider-memory` in the repository and the README's
//! "Write your own provider" section.

#![warn(missing_docs)]

mod capability;
pub mod changes;
pub mod config;
pub mod due;
pub mod error;
pub mod extension;
pub mod field_set;
pub mod fields;
mod future;
pub mod keydoc;
mod layer;
mod linked;
pub mod maintenance;
pub mod model;
mod provider;
pub mod registry;
mod secret;
pub mod settings;
mod status;
pub mod text;

pub use async_trait::async_trait;
pub use chrono;
#[doc(hidden)]
pub use inventory;

pub use capability::{Capabilities, Capability, ProviderInfo};
pub use changes::{
    Change, ChangeCursor, ChangeKind, ChangeOrigin, ChangePage, ChangeStream, TicketChanges,
};
pub use config::{Config, TicketSettings};
pub use due::Due;
pub use error::{Error, ErrorKind, Operation, Result};
pub use extension::{Extensions, TicketHistory};
pub use field_set::{TicketField, TicketValue, Values};
pub use fields::{Decimal, FieldSchema, FieldType, FieldValue, Fields, Labels};
pub use future::BoxFuture;
pub use keydoc::{KeyDoc, KeyGroup};
pub use maintenance::{
    FieldDifference, FlushReport, LostLink, Orphan, OrphanKind, PullMode, PullProgress, PullReport,
    SetAsideEntry, SkippedTask, SyncMaintenance, SyncStatus, SyncWorker, VerifyReport,
    WebhookFallback, WebhookHealth, WebhookState, WorkerReport,
};
pub use model::{
    Comment, HistoryEntry, ListQuery, NewComment, NewTicket, OperationResult, SyncState, Ticket,
    TicketDetails, TicketPage, TicketUpdate,
};
pub use provider::TicketProvider;
pub use registry::{
    build_provider, descriptors, find_descriptor, get_provider, registered_names, BuildContext,
    Check, ProviderDescriptor,
};
pub use secret::SecretString;
pub use settings::{ProviderSettings, SettingsSpec};
pub use status::{Priority, Status};
