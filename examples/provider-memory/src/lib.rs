//! An example third-party ticket provider, registered as `memory`: tickets live in process
//! memory and vanish when the process ends.
//!
//! It exists to show, in one small file, everything a backend crate does:
//! 1. implement [`TicketProvider`]: the ten operations plus the lifecycle
//!    ([`TicketProvider::info`] with its [`Capabilities`], [`TicketProvider::shutdown`]);
//! 2. offer an extra through the extension mechanism ([`TicketProvider::extensions`]): here
//!    its own extension trait [`MemoryStats`], which callers look up with
//!    `provider.extensions().get::<dyn MemoryStats>()`, exactly as the `ticket` command looks
//!    up [`ticket_provider_api::TicketHistory`] and [`ticket_provider_api::SyncMaintenance`];
//! 3. register a [`ProviderDescriptor`] with [`register_provider!`], so that
//!    `homechoice.ticket.provider: memory` selects it;
//! 4. read its own settings from `homechoice.ticket.providers.memory` with
//!    [`Config::provider_settings`];
//! 5. prove itself with the shared behaviour suite (`tests/suite.rs`).
//!
//! It adds no provider or operation to its errors: the registry's wrapper does that for
//! every provider.
//!
//! A program links it by naming the crate somewhere, e.g. `use provider_memory as _;`:
//! without that, rustc drops the unused dependency and its registration with it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ticket_provider_api::chrono::{DateTime, Utc};
use ticket_provider_api::fields::passes_filters;
use ticket_provider_api::model::validate_assignee;
use ticket_provider_api::Values;
use ticket_provider_api::{
    async_trait, register_provider, BuildContext, Capabilities, Comment, Config, Error, Extensions,
    FieldSchema, ListQuery, NewComment, NewTicket, OperationResult, ProviderDescriptor,
    ProviderInfo, Result, Status, Ticket, TicketDetails, TicketPage, TicketProvider, TicketUpdate,
};

/// The name this provider registers under.
pub const NAME: &str = "memory";

/// What it can do: the ten operations. (Its own extra, [`MemoryStats`], is not one of the
/// capabilities the API names; callers find it by type.)
pub const CAPABILITIES: Capabilities = Capabilities::OPERATIONS;

/// An extension trait of this crate: how full the store is.
pub trait MemoryStats: Send + Sync {
    /// Tickets held.
    fn ticket_count(&self) -> usize;
}

impl MemoryStats for MemoryProvider {
    fn ticket_count(&self) -> usize {
        self.state.lock().map(|s| s.tickets.len()).unwrap_or(0)
    }
}

/// Settings under `homechoice.ticket.providers.memory`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemorySettings {
    /// Refuse to hold more than this many tickets (default: no limit).
    pub max_tickets: Option<usize>,
}

#[derive(Default)]
struct State {
    tickets: BTreeMap<String, TicketDetails>,
}

/// Tickets in a `BTreeMap` behind a mutex.
#[derive(Clone, Default)]
pub struct MemoryProvider {
    state: Arc<Mutex<State>>,
    next_id: Arc<AtomicU64>,
    settings: MemorySettings,
    /// The custom fields every write is checked against (`homechoice.ticket.fields`).
    fields: FieldSchema,
}

impl std::fmt::Debug for MemoryProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryProvider")
            .field("settings", &self.settings)
            .finish()
    }
}

impl MemoryProvider {
    /// An empty store with these settings.
    pub fn new(settings: MemorySettings) -> Self {
        MemoryProvider {
            settings,
            ..Default::default()
        }
    }

    /// Builds from `homechoice.ticket.providers.memory` (absent: defaults).
    pub fn from_config(config: &Config) -> Result<Self> {
        let settings = config
            .provider_settings::<MemorySettings>(NAME)?
            .unwrap_or_default();
        let mut p = Self::new(settings);
        p.fields = config.ticket.fields.clone();
        Ok(p)
    }

    fn next_guid(&self, prefix: &str) -> String {
        format!(
            "{prefix}-{}",
            self.next_id.fetch_add(1, Ordering::Relaxed) + 1
        )
    }

    /// Runs `f` on the ticket `guid` under the lock; errors name the guid.
    fn with_ticket<T>(
        &self,
        guid: &str,
        f: impl FnOnce(&mut TicketDetails, DateTime<Utc>) -> Result<T>,
    ) -> Result<T> {
        let wrap = |e: Error| e.with_guid(guid);
        if !guid.starts_with("mem-") || guid[4..].parse::<u64>().is_err() {
            return Err(wrap(Error::invalid_input(format!(
                "{guid:?} is not a memory ticket guid (mem-<number>)"
            ))));
        }
        let mut state = self
            .state
            .lock()
            .map_err(|_| wrap(Error::internal("store lock poisoned")))?;
        let t = state
            .tickets
            .get_mut(guid)
            .ok_or_else(|| wrap(Error::ticket_not_found(guid)))?;
        f(t, Utc::now()).map_err(wrap)
    }

    fn set_status(&self, guid: &str, status: Status) -> Result<OperationResult> {
        self.with_ticket(guid, |t, now| {
            t.ticket.status = status;
            t.ticket.updated_at = now;
            Ok(OperationResult::new(guid, status, NAME))
        })
    }

    fn push_comment(&self, t: &mut TicketDetails, c: NewComment, now: DateTime<Utc>) -> String {
        let comment_guid = self.next_guid("memc");
        t.comments.push(Comment {
            comment_guid: comment_guid.clone(),
            body: c.body,
            author: c.author,
            created_at: now,
        });
        t.ticket.updated_at = now;
        comment_guid
    }
}

#[async_trait]
impl TicketProvider for MemoryProvider {
    fn info(&self) -> ProviderInfo {
        ProviderInfo {
            name: NAME,
            capabilities: CAPABILITIES,
        }
    }

    fn extensions(&self) -> Extensions {
        Extensions::new().with::<dyn MemoryStats>(Arc::new(self.clone()))
    }

    /// Nothing runs in the background and nothing is held for others; the tickets vanish
    /// with the last clone of the provider.
    async fn shutdown(&self) -> Result<()> {
        Ok(())
    }

    async fn create(&self, mut new: NewTicket) -> Result<OperationResult> {
        new.validate()?;
        self.fields.check_fields(&mut new.fields)?;
        let mut state = self
            .state
            .lock()
            .map_err(|_| Error::internal("store lock poisoned"))?;
        if let Some(max) = self.settings.max_tickets {
            if state.tickets.len() >= max {
                return Err(Error::new(
                    ticket_provider_api::ErrorKind::Unavailable,
                    format!("the memory store is full ({max} tickets; raise providers.memory.max_tickets)"),
                ));
            }
        }
        let guid = self.next_guid("mem");
        let now = Utc::now();
        let ticket = Ticket {
            guid: guid.clone(),
            status: Status::New,
            provider: NAME.into(),
            subject: new.subject,
            description: new.description,
            priority: new.priority,
            assignee: new.assignee,
            due: new.due,
            fields: new.fields,
            labels: new.labels,
            created_at: now,
            updated_at: now,
            asana_gid: None,
            sync_state: None,
        };
        state.tickets.insert(
            guid.clone(),
            TicketDetails {
                ticket,
                comments: Vec::new(),
            },
        );
        Ok(OperationResult::new(guid, Status::New, NAME))
    }

    async fn update(&self, guid: &str, mut changes: TicketUpdate) -> Result<OperationResult> {
        self.with_ticket(guid, |t, now| {
            changes.validate()?;
            self.fields.check_changes(&mut changes.fields)?;
            // The field set declares how an update applies to a ticket, field by field.
            Values::of_update(&changes, &t.ticket).apply_to(&mut t.ticket);
            t.ticket.updated_at = now;
            Ok(OperationResult::new(guid, t.ticket.status, NAME))
        })
    }

    async fn change_status(&self, guid: &str, status: Status) -> Result<OperationResult> {
        self.set_status(guid, status)
    }

    async fn assign(&self, guid: &str, assignee: &str) -> Result<OperationResult> {
        self.with_ticket(guid, |t, now| {
            validate_assignee(assignee)?;
            t.ticket.assignee = Some(assignee.to_string());
            t.ticket.updated_at = now;
            let mut r = OperationResult::new(guid, t.ticket.status, NAME);
            r.assigned_to = Some(assignee.to_string());
            Ok(r)
        })
    }

    async fn add_comment(&self, guid: &str, comment: NewComment) -> Result<OperationResult> {
        self.with_ticket(guid, |t, now| {
            comment.validate()?;
            let mut r = OperationResult::new(guid, t.ticket.status, NAME);
            r.comment_guid = Some(self.push_comment(t, comment, now));
            Ok(r)
        })
    }

    async fn get_ticket(&self, guid: &str) -> Result<TicketDetails> {
        self.with_ticket(guid, |t, _| Ok(t.clone()))
    }

    async fn list_tickets(&self, mut query: ListQuery) -> Result<TicketPage> {
        let limit = query.validate()?;
        self.fields.check_fields(&mut query.fields)?;
        // Cursor: the numeric id of the last ticket on the previous page; newest first.
        let after: Option<u64> = match &query.cursor {
            None => None,
            Some(c) => Some(
                c.parse()
                    .map_err(|_| Error::invalid_input(format!("malformed cursor {c:?}")))?,
            ),
        };
        let state = self
            .state
            .lock()
            .map_err(|_| Error::internal("store lock poisoned"))?;
        let mut matching: Vec<(u64, &Ticket)> = state
            .tickets
            .values()
            .map(|t| (t.ticket.guid[4..].parse::<u64>().unwrap_or(0), &t.ticket))
            .filter(|(id, t)| {
                after.is_none_or(|a| *id < a)
                    && query.status.is_none_or(|s| t.status == s)
                    && query.priority.is_none_or(|p| t.priority == p)
                    && query
                        .due_before
                        .is_none_or(|day| t.due.is_some_and(|d| d.is_before(day)))
                    && query
                        .assignee
                        .as_ref()
                        .is_none_or(|a| t.assignee.as_ref() == Some(a))
                    && passes_filters(&t.fields, &t.labels, &query.fields, &query.labels)
            })
            .collect();
        matching.sort_by_key(|(id, _)| std::cmp::Reverse(*id));
        let more = matching.len() > limit;
        matching.truncate(limit);
        let next_cursor = more
            .then(|| matching.last().map(|(id, _)| id.to_string()))
            .flatten();
        Ok(TicketPage {
            tickets: matching.into_iter().map(|(_, t)| t.clone()).collect(),
            next_cursor,
        })
    }

    async fn close(&self, guid: &str) -> Result<OperationResult> {
        self.set_status(guid, Status::Closed)
    }

    async fn resolve(&self, guid: &str) -> Result<OperationResult> {
        self.set_status(guid, Status::Resolved)
    }

    async fn escalate(&self, guid: &str, reason: Option<&str>) -> Result<OperationResult> {
        self.with_ticket(guid, |t, now| {
            if let Some(r) = reason {
                ticket_provider_api::model::validate_reason(r)?;
            }
            t.ticket.status = Status::Escalated;
            t.ticket.updated_at = now;
            let mut r = OperationResult::new(guid, Status::Escalated, NAME);
            if let Some(reason) = reason {
                r.comment_guid = Some(self.push_comment(
                    t,
                    NewComment::new(format!("Escalated: {reason}")),
                    now,
                ));
            }
            Ok(r)
        })
    }
}

fn build(
    ctx: BuildContext,
) -> ticket_provider_api::BoxFuture<'static, Result<Arc<dyn TicketProvider>>> {
    Box::pin(async move {
        let p: Arc<dyn TicketProvider> = Arc::new(MemoryProvider::from_config(ctx.config())?);
        Ok(p)
    })
}

register_provider!(ProviderDescriptor::new(
    NAME,
    "example third-party provider: tickets in process memory",
    env!("CARGO_PKG_NAME"),
    CAPABILITIES,
    build,
));
