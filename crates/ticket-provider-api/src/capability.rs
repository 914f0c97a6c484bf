//! What a provider can do: [`Capability`], [`Capabilities`] and [`ProviderInfo`].
//!
//! A provider declares its capabilities twice, and they must agree: statically in its
//! [`ProviderDescriptor`](crate::ProviderDescriptor) (so `ticket providers` can list them
//! without building anything) and at run time in [`TicketProvider::info`](crate::TicketProvider::info).
//! The extras ([`Capability::History`], [`Capability::SyncMaintenance`],
//! [`Capability::Changes`]) are reached through
//! [`TicketProvider::extensions`](crate::TicketProvider::extensions); a provider has the
//! capability exactly when it offers the extension (the testkit checks this).

use std::fmt;

use serde::{Serialize, Serializer};

/// One thing a provider can do: one of the ten operations, or an extra.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Capability {
    /// [`crate::TicketProvider::create`]
    Create,
    /// [`crate::TicketProvider::update`]
    Update,
    /// [`crate::TicketProvider::change_status`]
    ChangeStatus,
    /// [`crate::TicketProvider::assign`]
    Assign,
    /// [`crate::TicketProvider::add_comment`]
    AddComment,
    /// [`crate::TicketProvider::get_ticket`]
    GetTicket,
    /// [`crate::TicketProvider::list_tickets`]
    ListTickets,
    /// [`crate::TicketProvider::close`]
    Close,
    /// [`crate::TicketProvider::resolve`]
    Resolve,
    /// [`crate::TicketProvider::escalate`]
    Escalate,
    /// The extension [`crate::TicketHistory`]: every change of a ticket.
    History,
    /// The extension [`crate::SyncMaintenance`]: push, pull, flush and the outbox.
    SyncMaintenance,
    /// The extension [`crate::TicketChanges`]: the change feed of every ticket.
    Changes,
}

impl Capability {
    /// Every capability, in declaration order.
    pub const ALL: [Capability; 13] = [
        Capability::Create,
        Capability::Update,
        Capability::ChangeStatus,
        Capability::Assign,
        Capability::AddComment,
        Capability::GetTicket,
        Capability::ListTickets,
        Capability::Close,
        Capability::Resolve,
        Capability::Escalate,
        Capability::History,
        Capability::SyncMaintenance,
        Capability::Changes,
    ];

    /// The snake_case name, e.g. `"change_status"`, `"sync_maintenance"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Capability::Create => "create",
            Capability::Update => "update",
            Capability::ChangeStatus => "change_status",
            Capability::Assign => "assign",
            Capability::AddComment => "add_comment",
            Capability::GetTicket => "get_ticket",
            Capability::ListTickets => "list_tickets",
            Capability::Close => "close",
            Capability::Resolve => "resolve",
            Capability::Escalate => "escalate",
            Capability::History => "history",
            Capability::SyncMaintenance => "sync_maintenance",
            Capability::Changes => "changes",
        }
    }

    const fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Capability {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A set of [`Capability`] values, usable in `const` descriptors.
///
/// ```
/// use ticket_provider_api::{Capabilities, Capability};
/// const MINE: Capabilities = Capabilities::OPERATIONS.with(Capability::History);
/// assert!(MINE.contains(Capability::Escalate) && MINE.contains(Capability::History));
/// assert!(!MINE.contains(Capability::SyncMaintenance));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Capabilities(u32);

impl Capabilities {
    /// Nothing at all.
    pub const NONE: Capabilities = Capabilities(0);

    /// The ten operations of [`crate::TicketProvider`], no extras.
    pub const OPERATIONS: Capabilities = Capabilities::NONE
        .with(Capability::Create)
        .with(Capability::Update)
        .with(Capability::ChangeStatus)
        .with(Capability::Assign)
        .with(Capability::AddComment)
        .with(Capability::GetTicket)
        .with(Capability::ListTickets)
        .with(Capability::Close)
        .with(Capability::Resolve)
        .with(Capability::Escalate);

    /// This set plus `capability`.
    pub const fn with(self, capability: Capability) -> Self {
        Capabilities(self.0 | capability.bit())
    }

    /// This set without `capability`.
    pub const fn without(self, capability: Capability) -> Self {
        Capabilities(self.0 & !capability.bit())
    }

    /// Whether `capability` is in the set.
    pub const fn contains(self, capability: Capability) -> bool {
        self.0 & capability.bit() != 0
    }

    /// The capabilities in the set, in declaration order.
    pub fn iter(self) -> impl Iterator<Item = Capability> {
        Capability::ALL
            .into_iter()
            .filter(move |c| self.contains(*c))
    }
}

impl fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl Serialize for Capabilities {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

/// What [`crate::TicketProvider::info`] reports: the provider's registered name and what it
/// can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ProviderInfo {
    /// The name the provider is registered under.
    pub name: &'static str,
    /// What it can do.
    pub capabilities: Capabilities,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_hold_what_was_put_in() {
        let all = Capability::ALL
            .iter()
            .fold(Capabilities::NONE, |s, c| s.with(*c));
        for c in Capability::ALL {
            assert!(all.contains(c), "{c}");
            assert!(!all.without(c).contains(c), "{c}");
            assert!(!Capabilities::NONE.contains(c));
        }
        assert_eq!(Capabilities::OPERATIONS.iter().count(), 10);
        assert!(!Capabilities::OPERATIONS.contains(Capability::History));
        assert_eq!(all.iter().collect::<Vec<_>>(), Capability::ALL.to_vec());
    }

    #[test]
    fn serialises_as_a_list_of_names() {
        let caps = Capabilities::NONE
            .with(Capability::SyncMaintenance)
            .with(Capability::ChangeStatus);
        assert_eq!(
            serde_json::to_string(&caps).unwrap(),
            r#"["change_status","sync_maintenance"]"#
        );
    }
}
