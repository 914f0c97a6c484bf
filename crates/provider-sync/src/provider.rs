//! [`SyncProvider`]: the [`TicketProvider`] implementation (internal store first, then a
//! bounded, best-effort push), and the sync operations the CLI calls.

use std::sync::Arc;

use provider_asana::{AsanaProvider, AsanaSettings, RetryPolicy};
use provider_internal::{InternalProvider, LinkState};
use ticket_provider_api::{
    async_trait, BuildContext, Error, Extensions, HistoryEntry, ListQuery, NewComment, NewTicket,
    OperationResult, ProviderInfo, Result, Status, SyncMaintenance, SyncState, Ticket,
    TicketDetails, TicketHistory, TicketPage, TicketProvider, TicketUpdate,
};
use tracing::Instrument;

use crate::asana_cache::StoreCache;
use crate::breaker::CircuitBreaker;
use crate::config::SyncSettings;
use crate::locks::TicketLocks;
use crate::report::{FlushReport, PullProgress, PullReport, SetAsideEntry, SyncStatus};
use crate::NAME;

/// The shared state behind a [`SyncProvider`].
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) local: InternalProvider,
    pub(crate) remote: AsanaProvider,
    pub(crate) settings: SyncSettings,
    pub(crate) breaker: CircuitBreaker,
    pub(crate) locks: TicketLocks,
    /// Set while a background catch-up flush runs (see `asana_reachable`).
    pub(crate) catching_up: std::sync::atomic::AtomicBool,
    /// This instance's random id: the owner of the push claims it takes in the store.
    pub(crate) instance_id: String,
    /// Pushes and catch-up flushes running in the background, so that
    /// [`SyncProvider::shutdown`] can let them finish (or stop them) before it releases this
    /// instance's claims.
    pub(crate) background: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Set by [`SyncProvider::shutdown`]: no new background work is started afterwards.
    pub(crate) shut_down: std::sync::atomic::AtomicBool,
    /// Pushes hold it shared, pulls exclusively: a pull compares what it read from Asana with
    /// the local state, so a push of this instance landing between the read and the import
    /// would make the read stale (and the import would undo the push locally). Pushes of
    /// other instances are kept out by the ticket's claim and detected by the push time (see
    /// `import_linked` in `pull.rs`).
    pub(crate) pull_gate: tokio::sync::RwLock<()>,
}

/// Tickets in the internal database, mirrored to Asana on a best-effort basis.
///
/// Cheap to clone (an `Arc` inside); safe to use from many tasks at once. See the crate
/// documentation for the guarantees.
#[derive(Clone)]
pub struct SyncProvider {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for SyncProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncProvider")
            .field("local", &self.inner.local)
            .field("remote", &self.inner.remote)
            .field("settings", &self.inner.settings)
            .finish()
    }
}

/// A ticket's sync state from whether it has outbox entries waiting (`pending`, counted by
/// `sync status` as pending) and set aside (counted as set aside): `pending` while any change
/// waits, else `set_aside` while a refused change is kept, else `synced`.
pub(crate) fn ticket_state(pending: bool, set_aside: bool) -> SyncState {
    match (pending, set_aside) {
        (true, _) => SyncState::Pending,
        (false, true) => SyncState::SetAside,
        (false, false) => SyncState::Synced,
    }
}

/// The retry policy of the Asana client inside the sync provider: short, because the outbox
/// is the durable retry and an operation only waits `sync_push_timeout_ms` anyway.
fn sync_retry_policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: std::time::Duration::from_millis(200),
        max_delay: std::time::Duration::from_secs(2),
        max_total_wait: std::time::Duration::from_secs(10),
    }
}

impl SyncProvider {
    /// Combines an internal store and an Asana provider. The store must record an outbox
    /// ([`provider_internal::StoreOptions::record_outbox`]); otherwise this is a configuration error.
    pub fn new(
        local: InternalProvider,
        remote: AsanaProvider,
        settings: SyncSettings,
    ) -> Result<Self> {
        if !local.records_outbox() {
            return Err(Error::config(
                "the sync provider needs an internal store opened with record_outbox = true",
            ));
        }
        let breaker = CircuitBreaker::new(
            settings.breaker_threshold,
            settings.breaker_base_backoff,
            settings.breaker_max_backoff,
        );
        Ok(SyncProvider {
            inner: Arc::new(Inner {
                local,
                remote,
                settings,
                breaker,
                locks: TicketLocks::default(),
                catching_up: std::sync::atomic::AtomicBool::new(false),
                instance_id: format!(
                    "sync-{}-{}",
                    std::process::id(),
                    uuid::Uuid::new_v4().simple()
                ),
                background: std::sync::Mutex::new(Vec::new()),
                shut_down: std::sync::atomic::AtomicBool::new(false),
                pull_gate: tokio::sync::RwLock::new(()),
            }),
        })
    }

    /// Builds the provider from configuration: the internal store from `database_url` (with
    /// the outbox on) and Asana from `asana_project`, `asana_*` and the token in
    /// `ASANA_ACCESS_TOKEN` (read through the context). A missing project or token is a
    /// configuration error, checked before the database is opened. The Asana side keeps its
    /// section, tag and user gids in the store, so a new process starts warm.
    pub async fn from_context(ctx: &BuildContext) -> Result<Self> {
        let config = ctx.config();
        config.require_asana_project()?;
        let mut asana = AsanaSettings::from_context(ctx).map_err(|e| {
            Error::config(format!(
                "{} (the 'sync' provider pushes every change to Asana)",
                e.message()
            ))
        })?;
        asana.retry = sync_retry_policy();
        // The Asana cache lives in the store, not in a file of its own.
        asana.cache_path = None;
        asana.validate()?;
        let settings = SyncSettings::from_config(config)?;
        let local = InternalProvider::from_config_with(config, true).await?;
        let cache = Arc::new(StoreCache::new(local.clone()));
        let remote = AsanaProvider::with_cache_store(asana, cache)?;
        Self::new(local, remote, settings)
    }

    /// Lets this instance's background pushes finish for up to `shutdown_grace`
    /// (`sync_shutdown_grace_ms`, default 5 s), stops those still running after that, waits
    /// until every one has ended, and releases every push claim it holds, so other instances
    /// need not wait for the claims to expire. Call it before the process exits (the `ticket`
    /// command does, through [`TicketProvider::shutdown`]); stopped pushes stay pending and
    /// are redone safely by the next operation or flush. Idempotent. Operations after a
    /// shutdown still work, but push only within the push timeout (nothing goes on in the
    /// background any more).
    pub async fn shutdown(&self) {
        use std::sync::atomic::Ordering;
        self.inner.shut_down.store(true, Ordering::SeqCst);
        let deadline = tokio::time::Instant::now() + self.inner.settings.shutdown_grace;
        loop {
            // A finishing push may start a catch-up flush: take the list until it stays empty.
            let handles = match self.inner.background.lock() {
                Ok(mut b) => std::mem::take(&mut *b),
                Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
            };
            if handles.is_empty() {
                break;
            }
            for mut h in handles {
                if tokio::time::timeout_at(deadline, &mut h).await.is_err() {
                    tracing::warn!(
                        "a push was still running at shutdown; its change stays pending for the next operation or flush"
                    );
                    h.abort();
                    // Returns once the task has really ended (a query in progress finishes).
                    let _ = h.await;
                }
            }
        }
        match self
            .inner
            .local
            .sync_release_all(&self.inner.instance_id)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::debug!(claims = n, "released push claims at shutdown"),
            Err(e) => {
                tracing::warn!(error = %e, "cannot release push claims at shutdown; they expire by themselves")
            }
        }
    }

    /// Whether [`Self::shutdown`] was called.
    pub(crate) fn is_shut_down(&self) -> bool {
        self.inner
            .shut_down
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Remembers a background task for [`Self::shutdown`], forgetting finished ones.
    pub(crate) fn track(&self, handle: tokio::task::JoinHandle<()>) {
        match self.inner.background.lock() {
            Ok(mut b) => {
                b.retain(|h| !h.is_finished());
                b.push(handle);
            }
            Err(_) => handle.abort(),
        }
    }

    /// The internal store (for history, and for tests).
    pub fn local(&self) -> &InternalProvider {
        &self.inner.local
    }

    /// The Asana side.
    pub fn remote(&self) -> &AsanaProvider {
        &self.inner.remote
    }

    /// The settings in use.
    pub fn settings(&self) -> &SyncSettings {
        &self.inner.settings
    }

    /// This instance's random id, the owner of the push claims it takes in the internal store
    /// (see [`InternalProvider::sync_claim`]).
    pub fn instance_id(&self) -> &str {
        &self.inner.instance_id
    }

    /// Puts set-aside outbox entry `id` (see [`Self::status`]) back into the queue and pushes
    /// its ticket (bounded by the push timeout, like an operation). The entry carries the
    /// ticket's current values of the fields it changed, so pushing it late cannot bring back
    /// an older value; a retried `create` (set aside because Asana refused the assignee) sets
    /// the task's fields and assignee to the ticket's current ones. A history row (field
    /// `sync`) records the retry. NotFound for an unknown id, InvalidInput when the entry is
    /// not set aside.
    pub async fn retry_set_aside(&self, id: i64) -> Result<()> {
        let entry = self.inner.local.outbox_retry(id).await?;
        self.inner.breaker.probe_now();
        self.push_bounded(&entry.ticket_guid).await;
        Ok(())
    }

    /// Drops set-aside outbox entry `id` (see [`Self::status`]) for good: its change stays
    /// local only. A history row (field `sync`) records it. NotFound for an unknown id,
    /// InvalidInput when the entry is not set aside.
    pub async fn discard_set_aside(&self, id: i64) -> Result<()> {
        self.inner.local.outbox_discard(id).await?;
        Ok(())
    }

    /// Pushes one local ticket with all its unsent changes now, creating its Asana task if it
    /// has none (also for tickets that existed before sync was turned on: the first push is a
    /// full create from the current state, with the comments Asana does not have yet).
    /// Asana failures do not make this fail: the result says `pending` and [`Self::status`]
    /// tells why. NotFound for an unknown ticket.
    pub async fn sync_to_asana(&self, guid: &str) -> Result<OperationResult> {
        let details = self.inner.local.get_ticket(guid).await?;
        let guid = details.ticket.guid.clone();
        self.inner.breaker.probe_now();
        let span = tracing::info_span!("sync_to_asana", guid = %guid);
        let outcome = self
            .push_ticket(&guid, crate::push::PushMode::Full)
            .instrument(span)
            .await;
        if let Err(e) = outcome {
            tracing::warn!(guid = %guid, error = %e, "sync_to_asana: the ticket stays pending");
        }
        let res = OperationResult::new(guid, details.ticket.status, NAME);
        Ok(self.decorate(res, None).await)
    }

    /// Pulls one Asana task into the internal store: its name, notes, section (status), tag
    /// (priority), assignee and comments (real comments only), creating the ticket and its link
    /// when the task is new, applying the conflict rule otherwise. When another instance is
    /// pushing the task's ticket for longer than `claim_wait`, nothing is imported and this
    /// fails with a temporary Conflict error (try again).
    pub async fn sync_from_asana(&self, asana_gid: &str) -> Result<OperationResult> {
        let gate = self.inner.pull_gate.write().await;
        let read_at = chrono::Utc::now();
        let task = self.inner.remote.get_remote_task(asana_gid).await?;
        let imported = self
            .import_task(task, read_at, self.inner.settings.claim_wait)
            .await?;
        drop(gate);
        if imported.kind == crate::pull::ImportKind::ClaimedElsewhere {
            return Err(Error::new(
                ticket_provider_api::ErrorKind::Conflict,
                format!(
                    "Asana task {asana_gid} was not pulled: its ticket {} is being pushed by another instance; try again",
                    imported.guid
                ),
            )
            .with_temporary(true));
        }
        let details = self.inner.local.get_ticket(&imported.guid).await?;
        let res = OperationResult::new(details.ticket.guid, details.ticket.status, NAME);
        Ok(self.decorate(res, None).await)
    }

    /// Pulls every change of the project: a full read the first time and after Asana's event
    /// token expired (one list request per 100 tasks), otherwise only the tasks named by the
    /// event stream since the last pull (one `POST /batch` per 10 tasks). Comments are read
    /// only for tasks not linked yet or modified since the last sync, 10 tasks per
    /// `POST /batch` (see the crate documentation, "Pulling"). Tasks whose ticket another
    /// instance is pushing are skipped (see [`PullReport::skipped`]) and read again by the
    /// next pull. `progress` is called after every task.
    pub async fn pull_all(
        &self,
        progress: &(dyn Fn(PullProgress) + Send + Sync),
    ) -> Result<PullReport> {
        // No push of this instance runs while Asana is read and compared (see `pull_gate`).
        let _gate = self.inner.pull_gate.write().await;
        self.pull_all_inner(progress).await
    }

    /// Pushes every pending change now, ticket by ticket (each ticket's changes in order).
    /// Stops early, leaving the rest pending, when Asana looks down. Safe to interrupt at any
    /// point: every step is either committed or redone without duplicates next time.
    pub async fn flush(&self) -> Result<FlushReport> {
        self.flush_inner().await
    }

    /// Counts of pending and set-aside outbox entries, with every set-aside entry.
    pub async fn status(&self) -> Result<SyncStatus> {
        let local = &self.inner.local;
        let (pending, set_aside) = local.outbox_counts().await?;
        let set_aside_entries = local
            .outbox_set_aside_list()
            .await?
            .into_iter()
            .map(|e| SetAsideEntry {
                id: e.id,
                ticket_guid: e.ticket_guid,
                operation: e.operation,
                reason: e.set_aside_reason.unwrap_or_default(),
                created_at: e.created_at,
            })
            .collect();
        Ok(SyncStatus {
            pending,
            set_aside,
            set_aside_entries,
            asana_paused: self.inner.breaker.is_open(),
        })
    }

    /// The link and outbox state of a ticket: its task gid (once linked) and its
    /// [`ticket_state`] — over every outbox entry, or with `horizon` only entries up to that
    /// id (so that a result is not reported pending because of a concurrent, later
    /// operation). Errors reading them count as pending.
    pub(crate) async fn sync_info(
        &self,
        guid: &str,
        horizon: Option<i64>,
    ) -> (Option<String>, SyncState) {
        let local = &self.inner.local;
        let gid = match local.sync_link_get(guid).await {
            Ok(Some(l)) if l.state == LinkState::Linked => l.asana_gid,
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(guid = %guid, error = %e, "cannot read the Asana link");
                None
            }
        };
        let state = match local.outbox_for_ticket(guid).await {
            Ok(entries) => {
                let relevant = entries.iter().filter(|e| horizon.is_none_or(|h| e.id <= h));
                let (mut pending, mut aside) = (false, false);
                for e in relevant {
                    if e.set_aside_reason.is_some() {
                        aside = true;
                    } else {
                        pending = true;
                    }
                }
                ticket_state(pending, aside)
            }
            Err(e) => {
                tracing::warn!(guid = %guid, error = %e, "cannot read the outbox");
                SyncState::Pending
            }
        };
        (gid, state)
    }

    /// `who`, except that `me` (Asana's name for the token owner) becomes the token owner's
    /// identity as pulls read an assignee (e-mail, else gid), so the store holds what Asana
    /// will report. Asks Asana once per process (`GET /users/me`), within the push timeout;
    /// when Asana cannot tell (down, slow), `me` is stored, pushed as `me`, and the next pull
    /// replaces it with the identity (a history row).
    async fn resolve_me(&self, who: &str) -> String {
        if !who.trim().eq_ignore_ascii_case("me") || self.inner.breaker.is_open() {
            return who.to_string();
        }
        let asked = tokio::time::timeout(
            self.inner.settings.push_timeout,
            self.inner.remote.token_owner(),
        )
        .await;
        match asked {
            Ok(Ok(me)) => me.identity(),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot tell who 'me' is; storing 'me' until a pull tells");
                who.to_string()
            }
            Err(_) => who.to_string(),
        }
    }

    /// Rewrites an internal result into a sync result.
    pub(crate) async fn decorate(
        &self,
        mut res: OperationResult,
        horizon: Option<i64>,
    ) -> OperationResult {
        res.provider = NAME.to_string();
        let (gid, state) = self.sync_info(&res.guid, horizon).await;
        res.asana_gid = gid;
        res.sync_state = Some(state);
        res
    }

    async fn decorate_ticket(&self, mut t: Ticket) -> Ticket {
        t.provider = NAME.to_string();
        let (gid, state) = self.sync_info(&t.guid, None).await;
        t.asana_gid = gid;
        t.sync_state = Some(state);
        t
    }

    /// After a committed local write: push that ticket, bounded by the push timeout, then
    /// describe the result.
    /// The result is `pending` while this operation's change (or an earlier one of the
    /// ticket) is not in Asana; changes of concurrent operations committed later do not count.
    async fn after_write(&self, res: OperationResult) -> OperationResult {
        let horizon = match self.inner.local.outbox_for_ticket(&res.guid).await {
            // Nothing left: this change is already in Asana (a concurrent push took it).
            Ok(entries) => Some(entries.last().map_or(0, |e| e.id)),
            Err(_) => None,
        };
        self.push_bounded(&res.guid).await;
        self.decorate(res, horizon).await
    }
}

#[async_trait]
impl SyncMaintenance for SyncProvider {
    async fn push(&self, guid: &str) -> Result<OperationResult> {
        self.sync_to_asana(guid).await
    }

    async fn pull(&self, remote_id: &str) -> Result<OperationResult> {
        self.sync_from_asana(remote_id).await
    }

    async fn pull_all(
        &self,
        progress: &(dyn Fn(PullProgress) + Send + Sync),
    ) -> Result<PullReport> {
        SyncProvider::pull_all(self, progress).await
    }

    async fn flush(&self) -> Result<FlushReport> {
        SyncProvider::flush(self).await
    }

    async fn status(&self) -> Result<SyncStatus> {
        SyncProvider::status(self).await
    }

    async fn retry_set_aside(&self, id: i64) -> Result<()> {
        SyncProvider::retry_set_aside(self, id).await
    }

    async fn discard_set_aside(&self, id: i64) -> Result<()> {
        SyncProvider::discard_set_aside(self, id).await
    }
}

#[async_trait]
impl TicketHistory for SyncProvider {
    /// The internal store's history: every local change and every change a pull imported.
    async fn history(&self, guid: &str) -> Result<Vec<HistoryEntry>> {
        self.inner.local.history(guid).await
    }
}

#[async_trait]
impl TicketProvider for SyncProvider {
    fn info(&self) -> ProviderInfo {
        ProviderInfo {
            name: NAME,
            capabilities: crate::CAPABILITIES,
        }
    }

    fn extensions(&self) -> Extensions {
        Extensions::new()
            .with::<dyn TicketHistory>(Arc::new(self.clone()))
            .with::<dyn SyncMaintenance>(Arc::new(self.clone()))
    }

    async fn shutdown(&self) -> Result<()> {
        SyncProvider::shutdown(self).await;
        Ok(())
    }

    async fn create(&self, mut ticket: NewTicket) -> Result<OperationResult> {
        if let Some(who) = &ticket.assignee {
            ticket.assignee = Some(self.resolve_me(who).await);
        }
        let res = self.inner.local.create(ticket).await?;
        Ok(self.after_write(res).await)
    }

    async fn update(&self, guid: &str, changes: TicketUpdate) -> Result<OperationResult> {
        let res = self.inner.local.update(guid, changes).await?;
        Ok(self.after_write(res).await)
    }

    async fn change_status(&self, guid: &str, status: Status) -> Result<OperationResult> {
        let res = self.inner.local.change_status(guid, status).await?;
        Ok(self.after_write(res).await)
    }

    async fn assign(&self, guid: &str, assignee: &str) -> Result<OperationResult> {
        let assignee = self.resolve_me(assignee).await;
        let res = self.inner.local.assign(guid, &assignee).await?;
        Ok(self.after_write(res).await)
    }

    async fn add_comment(&self, guid: &str, comment: NewComment) -> Result<OperationResult> {
        let res = self.inner.local.add_comment(guid, comment).await?;
        Ok(self.after_write(res).await)
    }

    async fn get_ticket(&self, guid: &str) -> Result<TicketDetails> {
        let mut details = self.inner.local.get_ticket(guid).await?;
        details.ticket = self.decorate_ticket(details.ticket).await;
        Ok(details)
    }

    async fn list_tickets(&self, query: ListQuery) -> Result<TicketPage> {
        let mut page = self.inner.local.list_tickets(query).await?;
        // Two queries for the whole page, not two per ticket.
        let guids: Vec<String> = page.tickets.iter().map(|t| t.guid.clone()).collect();
        let summary = self.inner.local.sync_summary(&guids).await?;
        for t in &mut page.tickets {
            t.provider = NAME.to_string();
            t.asana_gid = summary
                .links
                .get(&t.guid)
                .filter(|l| l.state == LinkState::Linked)
                .and_then(|l| l.asana_gid.clone());
            t.sync_state = Some(ticket_state(
                summary.with_pending.contains(&t.guid),
                summary.with_set_aside.contains(&t.guid),
            ));
        }
        Ok(page)
    }

    async fn close(&self, guid: &str) -> Result<OperationResult> {
        let res = self.inner.local.close(guid).await?;
        Ok(self.after_write(res).await)
    }

    async fn resolve(&self, guid: &str) -> Result<OperationResult> {
        let res = self.inner.local.resolve(guid).await?;
        Ok(self.after_write(res).await)
    }

    async fn escalate(&self, guid: &str, reason: Option<&str>) -> Result<OperationResult> {
        let res = self.inner.local.escalate(guid, reason).await?;
        Ok(self.after_write(res).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticket_state_by_table() {
        // (entries waiting, entries set aside, state)
        let cases = [
            (false, false, SyncState::Synced),
            (true, false, SyncState::Pending),
            (true, true, SyncState::Pending),
            (false, true, SyncState::SetAside),
        ];
        for (pending, aside, want) in cases {
            assert_eq!(ticket_state(pending, aside), want, "{pending} {aside}");
        }
    }
}
