//! Provider extras beyond the ten operations, reached through one mechanism:
//! [`TicketProvider::extensions`](crate::TicketProvider::extensions) returns an
//! [`Extensions`] set, and a caller asks it for an extension trait object by type.
//!
//! ```
//! # use std::sync::Arc;
//! # use ticket_provider_api::{Extensions, TicketHistory, HistoryEntry, Result, async_trait};
//! #[derive(Debug)]
//! struct Log;
//! #[async_trait]
//! impl TicketHistory for Log {
//!     async fn history(&self, _guid: &str) -> Result<Vec<HistoryEntry>> { Ok(Vec::new()) }
//! }
//! let ext = Extensions::new().with::<dyn TicketHistory>(Arc::new(Log));
//! assert!(ext.get::<dyn TicketHistory>().is_some());
//! ```
//!
//! The API defines the extension traits the `ticket` command line knows: [`TicketHistory`]
//! (`ticket history`), [`TicketChanges`](crate::TicketChanges) (`ticket changes`) and
//! [`SyncMaintenance`](crate::SyncMaintenance) (`ticket sync ...`). A
//! provider offers one by putting an `Arc` of itself (or of a part) into the set, and
//! declares the matching [`Capability`](crate::Capability). Any crate may define further
//! extension traits of its own and look them up the same way.

use std::any::{Any, TypeId};
use std::sync::Arc;

use async_trait::async_trait;

use crate::error::Result;
use crate::model::HistoryEntry;

/// A set of extension trait objects, keyed by their type.
#[derive(Default, Clone)]
pub struct Extensions {
    entries: Vec<(TypeId, &'static str, Arc<dyn Any + Send + Sync>)>,
}

impl Extensions {
    /// An empty set: the provider offers no extras.
    pub fn new() -> Self {
        Extensions::default()
    }

    /// Adds (or replaces) the extension of type `E`, usually a `dyn Trait`.
    pub fn with<E: ?Sized + Send + Sync + 'static>(mut self, extension: Arc<E>) -> Self {
        self.insert(extension);
        self
    }

    /// Adds (or replaces) the extension of type `E`.
    pub fn insert<E: ?Sized + Send + Sync + 'static>(&mut self, extension: Arc<E>) {
        let id = TypeId::of::<Arc<E>>();
        self.entries.retain(|(t, _, _)| *t != id);
        self.entries
            .push((id, std::any::type_name::<E>(), Arc::new(extension)));
    }

    /// The extension of type `E`, if the provider offers it.
    pub fn get<E: ?Sized + Send + Sync + 'static>(&self) -> Option<Arc<E>> {
        let id = TypeId::of::<Arc<E>>();
        self.entries
            .iter()
            .find(|(t, _, _)| *t == id)
            .and_then(|(_, _, any)| any.downcast_ref::<Arc<E>>())
            .cloned()
    }

    /// Whether the set holds no extension.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl std::fmt::Debug for Extensions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set()
            .entries(self.entries.iter().map(|(_, name, _)| name))
            .finish()
    }
}

/// The change history of tickets (capability [`History`](crate::Capability::History);
/// `ticket history GUID`).
#[async_trait]
pub trait TicketHistory: Send + Sync {
    /// Every change of the ticket, oldest first; `NotFound` for an unknown guid.
    async fn history(&self, guid: &str) -> Result<Vec<HistoryEntry>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    trait Greet: Send + Sync {
        fn hi(&self) -> &'static str;
    }
    struct En;
    struct Fr;
    impl Greet for En {
        fn hi(&self) -> &'static str {
            "hello"
        }
    }
    impl Greet for Fr {
        fn hi(&self) -> &'static str {
            "bonjour"
        }
    }
    trait Other: Send + Sync {}

    #[test]
    fn finds_by_type_and_replaces() {
        let mut ext = Extensions::new();
        assert!(ext.get::<dyn Greet>().is_none());
        ext.insert::<dyn Greet>(Arc::new(En));
        assert_eq!(ext.get::<dyn Greet>().unwrap().hi(), "hello");
        assert!(ext.get::<dyn Other>().is_none());
        ext.insert::<dyn Greet>(Arc::new(Fr));
        assert_eq!(ext.get::<dyn Greet>().unwrap().hi(), "bonjour");
        assert!(format!("{ext:?}").contains("Greet"));
    }
}
