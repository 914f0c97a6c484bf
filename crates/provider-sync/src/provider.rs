//! [`SyncProvider`]: the [`TicketProvider`] implementation (internal store first, then a
//! bounded, best-effort push), and the sync operations the CLI calls. The push and the pull
//! are methods of the shared [`Engine`] (`push.rs`, `pull.rs`).

use std::sync::Arc;

use provider_asana::{AsanaSettings, RetryPolicy, TaskClient};
use provider_internal::{InternalProvider, StatusOperation, StoreTx};
use ticket_provider_api::{
    async_trait, BuildContext, Error, Extensions, HistoryEntry, ListQuery, LostLink, NewComment,
    NewTicket, OperationResult, ProviderInfo, Result, Status, SyncMaintenance, SyncState,
    SyncWorker, Ticket, TicketChanges, TicketDetails, TicketHistory, TicketPage, TicketProvider,
    TicketUpdate, WorkerReport,
};
use ticket_provider_api::{ChangeCursor, ChangePage, ChangeStream};
use tracing::Instrument;

use crate::asana_cache::StoreCache;
use crate::config::SyncSettings;
use crate::db;
use crate::engine::Engine;
use crate::group_commit::Settled;
use crate::push::{PushMode, PushOutcome};
use crate::push_store::Wrote;
use crate::report::{
    FlushReport, PullProgress, PullReport, SetAsideEntry, SyncStatus, VerifyReport,
};
use crate::store::SyncStore;
use crate::NAME;

/// Tickets in the internal database, mirrored to Asana on a best-effort basis.
///
/// Cheap to clone (an `Arc` inside); safe to use from many tasks at once. See the crate
/// documentation for the guarantees.
#[derive(Clone)]
pub struct SyncProvider {
    engine: Arc<Engine>,
}

impl std::fmt::Debug for SyncProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncProvider")
            .field("local", self.local())
            .field("remote", &self.engine.remote)
            .field("settings", &self.engine.settings)
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
    /// Combines an internal store and an Asana provider. The store must have been opened
    /// with the sync extension ([`crate::store_options`]); otherwise this is a configuration
    /// error.
    pub fn new(
        local: InternalProvider,
        remote: TaskClient,
        settings: SyncSettings,
    ) -> Result<Self> {
        let store = SyncStore::new(local)?;
        Ok(SyncProvider {
            engine: Engine::new(store, remote, settings),
        })
    }

    /// Builds the provider from configuration: the internal store from `database_url` (with
    /// the sync extension) and Asana from `asana_project`, `asana_*` and the token in
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
        let local =
            InternalProvider::from_config_with(config, crate::store_options(None).extensions)
                .await?;
        let cache = Arc::new(StoreCache::new(SyncStore::new(local.clone())?));
        let remote = TaskClient::with_cache_store(asana, cache)?;
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
        self.shutdown_within(self.engine.settings.shutdown_grace)
            .await;
    }

    /// [`Self::shutdown`] letting background pushes run for at most `grace`.
    async fn shutdown_within(&self, grace: std::time::Duration) {
        use std::sync::atomic::Ordering;
        let engine = &self.engine;
        engine.shut_down.store(true, Ordering::SeqCst);
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            // A finishing push may start a catch-up flush: take the list until it stays empty.
            let handles = engine.take_background();
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
        engine.commits.stop_timer().await;
        let store = engine.settled().await;
        match store.release_all(&engine.instance_id).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(claims = n, "released push claims at shutdown"),
            Err(e) => {
                tracing::warn!(error = %e, "cannot release push claims at shutdown; they expire by themselves")
            }
        }
    }

    /// Runs the sync worker (`ticket sync run`, see [`ticket_provider_api::SyncWorker`])
    /// until `stop` completes, then shuts this provider down (background pushes get at most
    /// [`crate::worker::STOP_PUSH_GRACE`], claims are released).
    pub async fn run_worker(
        &self,
        stop: ticket_provider_api::BoxFuture<'static, ()>,
    ) -> Result<WorkerReport> {
        let report = self.engine.run_worker(stop).await;
        let grace = self
            .engine
            .settings
            .shutdown_grace
            .min(crate::worker::STOP_PUSH_GRACE);
        self.shutdown_within(grace).await;
        report
    }

    /// The internal store, as it is: records of this instance's latest pushes may still
    /// wait for their write transaction (see [`Self::store`]).
    pub fn local(&self) -> &InternalProvider {
        self.engine.commits.unsettled().local()
    }

    /// The sync tables of the store (links, outbox, claims), as they are: the record of a
    /// push that ended a moment ago may still wait for the next write transaction (at most
    /// `sync_commit_delay_ms`). This provider's own readers ([`Self::status`],
    /// [`TicketProvider::get_ticket`], ...) land those records first.
    pub fn store(&self) -> &SyncStore {
        self.engine.commits.unsettled()
    }

    /// The Asana side.
    pub fn remote(&self) -> &TaskClient {
        &self.engine.remote
    }

    /// The settings in use.
    pub fn settings(&self) -> &SyncSettings {
        &self.engine.settings
    }

    /// This instance's random id, the owner of the push claims it takes in the store (see
    /// [`SyncStore::claim`]).
    pub fn instance_id(&self) -> &str {
        &self.engine.instance_id
    }

    /// Puts set-aside outbox entry `id` (see [`Self::status`]) back into the queue and pushes
    /// its ticket (bounded by the push timeout, like an operation). The entry carries the
    /// ticket's current values of the fields it changed, so pushing it late cannot bring back
    /// an older value; a retried `create` (set aside because Asana refused the assignee) sets
    /// the task's fields and assignee to the ticket's current ones. A history row (field
    /// `sync`) records the retry. NotFound for an unknown id, InvalidInput when the entry is
    /// not set aside.
    pub async fn retry_set_aside(&self, id: i64) -> Result<()> {
        let entry = self.settled().await.retry(id).await?;
        self.engine.breaker.probe_now();
        self.engine.push_bounded(&entry.ticket_guid).await;
        Ok(())
    }

    /// Drops set-aside outbox entry `id` (see [`Self::status`]) for good: its change stays
    /// local only. A history row (field `sync`) records it. NotFound for an unknown id,
    /// InvalidInput when the entry is not set aside.
    pub async fn discard_set_aside(&self, id: i64) -> Result<()> {
        self.settled().await.discard(id).await?;
        Ok(())
    }

    /// Pushes one local ticket with all its unsent changes now, creating its Asana task if it
    /// has none (also for tickets that existed before sync was turned on: the first push is a
    /// full create from the current state, with the comments Asana does not have yet).
    /// Asana failures do not make this fail: the result says `pending` and [`Self::status`]
    /// tells why. NotFound for an unknown ticket.
    pub async fn sync_to_asana(&self, guid: &str) -> Result<OperationResult> {
        let details = self.settled().await.local().get_ticket(guid).await?;
        let guid = details.ticket.guid.clone();
        self.engine.breaker.probe_now();
        let span = tracing::info_span!("sync_to_asana", guid = %guid);
        let outcome = self
            .engine
            .push_ticket(&guid, PushMode::Full)
            .instrument(span)
            .await;
        if let Err(e) = &outcome {
            tracing::warn!(guid = %guid, error = %e, "sync_to_asana: the ticket stays pending");
        }
        let (t, gid, state) = self.sync_info(&guid).await?;
        let _ = outcome;
        let mut res = OperationResult::new(t.guid, t.status, NAME);
        res.asana_gid = gid;
        res.sync_state = Some(state);
        Ok(res)
    }

    /// Pulls one Asana task into the internal store: its name, notes, section (status), tag
    /// (priority), assignee and comments (real comments only), creating the ticket and its link
    /// when the task is new, applying the conflict rule otherwise. When another instance is
    /// pushing the task's ticket for longer than `claim_wait`, nothing is imported and this
    /// fails with a temporary Conflict error (try again).
    pub async fn sync_from_asana(&self, asana_gid: &str) -> Result<OperationResult> {
        // Queued push records hold the pull gate: they land first.
        let _settled = self.settled().await;
        let engine = &self.engine;
        let gate = engine.pull_gate.write().await;
        let read_at = chrono::Utc::now();
        let task = match engine.remote.get_remote_task(asana_gid).await {
            Ok(t) => t,
            Err(e) => {
                // 404/403 for a linked task: the link is lost (and said so).
                engine.lost_on_error(asana_gid, &e).await?;
                return Err(e);
            }
        };
        let imported = engine
            .import_task(task, read_at, engine.settings.claim_wait)
            .await?;
        engine.metrics.conflicts(imported.conflicts);
        if matches!(
            imported.kind,
            crate::pull::ImportKind::Created | crate::pull::ImportKind::Updated
        ) {
            engine.metrics.pulled(1);
        }
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
        let (t, gid, state) = self.sync_info(&imported.guid).await?;
        let mut res = OperationResult::new(t.guid, t.status, NAME);
        res.asana_gid = gid;
        res.sync_state = Some(state);
        Ok(res)
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
        // Queued push records hold the pull gate: they land first. No push of this instance
        // runs while Asana is read and compared (see `pull_gate`).
        let _settled = self.settled().await;
        let _gate = self.engine.pull_gate.write().await;
        self.engine.pull_all(false, progress).await
    }

    /// Pushes every pending change now, ticket by ticket (each ticket's changes in order).
    /// Stops early, leaving the rest pending, when Asana looks down. Safe to interrupt at any
    /// point: every step is either committed or redone without duplicates next time.
    pub async fn flush(&self) -> Result<FlushReport> {
        self.engine.flush().await
    }

    /// Counts of pending and set-aside outbox entries, with every set-aside entry.
    pub async fn status(&self) -> Result<SyncStatus> {
        let store = self.settled().await;
        let ((pending, set_aside), entries) = store.status().await?;
        let set_aside_entries = entries
            .into_iter()
            .map(|e| SetAsideEntry {
                id: e.id,
                operation: e.change.operation().to_string(),
                ticket_guid: e.ticket_guid,
                reason: e.set_aside_reason.unwrap_or_default(),
                created_at: e.created_at,
            })
            .collect();
        let lost_links: Vec<LostLink> = store
            .lost_links()
            .await?
            .into_iter()
            .map(|l| LostLink {
                ticket_guid: l.ticket_guid,
                asana_gid: l.asana_gid,
                last_synced_at: l.last_synced_at,
            })
            .collect();
        let oldest_pending_at = store.gauges().await?.oldest_pending_at;
        // Written by the worker (see `webhook_driver.rs`); unreadable text is no health.
        let webhook = store
            .kv_get(crate::webhook::HEALTH_KEY)
            .await?
            .and_then(|t| serde_json::from_str(&t).ok());
        Ok(SyncStatus {
            pending,
            set_aside,
            set_aside_entries,
            asana_paused: self.engine.breaker.is_open(),
            lost: lost_links.len() as u64,
            lost_links,
            oldest_pending_at,
            already_pushed: store.already_pushed().await?,
            webhook,
        })
    }

    /// Resolves a lost (or local-only) link by making a new Asana task for the ticket from
    /// its current state, with all its comments, pushed now (bounded like `sync push`: a
    /// push Asana cannot take yet stays pending). The old task, if it still exists, is left
    /// alone. NotFound for an unknown ticket; InvalidInput when the link is neither lost nor
    /// local only.
    pub async fn relink(&self, guid: &str) -> Result<OperationResult> {
        let guid = provider_internal::parse_guid("guid", guid)?;
        self.settled()
            .await
            .prepare_relink(&guid)
            .await
            .map_err(|e| e.with_guid(&guid))?;
        self.sync_to_asana(&guid).await
    }

    /// Keeps a ticket local only: its pending changes leave the outbox, later changes are not
    /// queued, and its old task (if any) is left alone and ignored by pulls. Resolves a lost
    /// link too. NotFound for an unknown ticket.
    pub async fn unlink(&self, guid: &str) -> Result<OperationResult> {
        let guid = provider_internal::parse_guid("guid", guid)?;
        self.settled()
            .await
            .unlink(&guid)
            .await
            .map_err(|e| e.with_guid(&guid))?;
        let (t, _, state) = self.sync_info(&guid).await?;
        let mut res = OperationResult::new(t.guid, t.status, NAME);
        res.sync_state = Some(state);
        Ok(res)
    }

    /// Compares every linked ticket with its task, field by field, and lists orphans on both
    /// sides (one full read of the project, 1 request per 100 tasks); tickets with a change
    /// pending are not compared. With `repair`, each difference is settled by the conflict
    /// rule (no local change is pending, so Asana's value is taken, with a history row), a
    /// task without a ticket is pulled, a ticket without a task is pushed, and a linked
    /// task the project does not list marks the link lost.
    pub async fn verify(&self, repair: bool) -> Result<VerifyReport> {
        self.engine.verify(repair).await
    }

    /// The sync tables once the pushes' deferred records have landed (see
    /// `group_commit.rs`): what every reader here reads through.
    async fn settled(&self) -> Settled<'_> {
        self.engine.settled().await
    }

    /// A ticket with its task gid and [`ticket_state`], in one read.
    async fn sync_info(&self, guid: &str) -> Result<(Ticket, Option<String>, SyncState)> {
        let guid = guid.to_string();
        self.settled()
            .await
            .local()
            .read(move |tx| {
                let t = tx
                    .ticket(&guid)?
                    .ok_or_else(|| Error::ticket_not_found(&guid))?;
                let (gid, state) = info_in_tx(tx, &guid)?;
                Ok((t, gid, state))
            })
            .await
    }

    /// `who`, except that `me` (Asana's name for the token owner) becomes the token owner's
    /// identity as pulls read an assignee (e-mail, else gid), so the store holds what Asana
    /// will report. Asks Asana once per process (`GET /users/me`), within the push timeout;
    /// when Asana cannot tell (down, slow), `me` is stored, pushed as `me`, and the next pull
    /// replaces it with the identity (a history row).
    async fn resolve_me(&self, who: &str) -> String {
        let engine = &self.engine;
        if !who.trim().eq_ignore_ascii_case("me") || engine.breaker.is_open() {
            return who.to_string();
        }
        let asked =
            tokio::time::timeout(engine.settings.push_timeout, engine.remote.token_owner()).await;
        match asked {
            Ok(Ok(me)) => me.identity(),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot tell who 'me' is; storing 'me' until a pull tells");
                who.to_string()
            }
            Err(_) => who.to_string(),
        }
    }

    /// Runs a local operation and pushes its ticket (see [`Engine::write_and_push`]); the
    /// result says `pending` unless this change (and every earlier one of the ticket) is in
    /// Asana. Changes of concurrent operations committed later do not count.
    async fn operation<F>(
        &self,
        guid: String,
        overwrites_fields: bool,
        op: F,
    ) -> Result<OperationResult>
    where
        F: FnMut(
                &mut StoreTx<'_>,
                &str,
            )
                -> std::result::Result<(OperationResult, Wrote), provider_internal::StoreError>
            + Send
            + 'static,
    {
        let (mut res, pushed) = self
            .engine
            .write_and_push(guid.clone(), overwrites_fields, op)
            .await
            .map_err(|e| e.with_guid(&guid))?;
        res.provider = NAME.to_string();
        res.asana_gid = pushed.gid;
        res.sync_state = Some(match pushed.outcome {
            Some(o) => outcome_state(&o),
            None => SyncState::Pending,
        });
        Ok(res)
    }

    async fn status_op(
        &self,
        operation: StatusOperation,
        guid: &str,
        status: Status,
        reason: Option<&str>,
    ) -> Result<OperationResult> {
        let guid = provider_internal::parse_guid("guid", guid)?;
        if let Some(r) = reason {
            ticket_provider_api::model::validate_reason(r)?;
        }
        let reason = reason.map(str::to_string);
        self.operation(guid, true, move |tx, g| {
            let (t, comment_guid) = tx.set_status(g, status, operation, reason.as_deref())?;
            let mut res = OperationResult::new(t.guid.clone(), t.status, NAME);
            res.comment_guid = comment_guid.clone();
            Ok((res, Wrote::new(t, comment_guid)))
        })
        .await
    }
}

/// The sync state a push left: pending while an entry it saw (or the change itself) still
/// waits, else set aside while a refused entry is kept, else synced.
fn outcome_state(o: &PushOutcome) -> SyncState {
    ticket_state(
        o.left_pending > 0 || o.blocked || o.claimed_elsewhere,
        o.any_set_aside,
    )
}

/// A ticket's task gid (once linked) and [`ticket_state`], inside a transaction.
fn info_in_tx(
    tx: &mut StoreTx<'_>,
    guid: &str,
) -> std::result::Result<(Option<String>, SyncState), provider_internal::StoreError> {
    let gid = db::link(tx.conn(), guid)?.and_then(|l| l.linked_gid().map(str::to_string));
    let (pending, aside) = db::ticket_flags(tx.conn(), guid)?;
    Ok((gid, ticket_state(pending, aside)))
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

    async fn relink(&self, guid: &str) -> Result<OperationResult> {
        SyncProvider::relink(self, guid).await
    }

    async fn unlink(&self, guid: &str) -> Result<OperationResult> {
        SyncProvider::unlink(self, guid).await
    }

    async fn verify(&self, repair: bool) -> Result<VerifyReport> {
        SyncProvider::verify(self, repair).await
    }
}

#[async_trait]
impl SyncWorker for SyncProvider {
    async fn run_worker(
        &self,
        stop: ticket_provider_api::BoxFuture<'static, ()>,
    ) -> Result<WorkerReport> {
        SyncProvider::run_worker(self, stop).await
    }

    async fn metrics_text(&self) -> Result<String> {
        self.engine.metrics_text().await
    }

    async fn health(&self) -> Result<()> {
        self.engine.health()
    }
}

#[async_trait]
impl TicketHistory for SyncProvider {
    /// The internal store's history: every local change and every change a pull imported.
    async fn history(&self, guid: &str) -> Result<Vec<HistoryEntry>> {
        self.settled().await.local().history(guid).await
    }
}

#[async_trait]
impl TicketChanges for SyncProvider {
    /// The internal store's change feed: local changes, pulled ones and sync's own notes.
    async fn changes(&self, since: Option<ChangeCursor>, limit: usize) -> Result<ChangePage> {
        self.settled().await.local().changes(since, limit).await
    }

    async fn watch(&self, since: Option<ChangeCursor>) -> Result<ChangeStream> {
        self.settled().await.local().watch(since).await
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
            .with::<dyn TicketChanges>(Arc::new(self.clone()))
            .with::<dyn SyncMaintenance>(Arc::new(self.clone()))
            .with::<dyn SyncWorker>(Arc::new(self.clone()))
    }

    async fn shutdown(&self) -> Result<()> {
        SyncProvider::shutdown(self).await;
        Ok(())
    }

    async fn create(&self, mut ticket: NewTicket) -> Result<OperationResult> {
        ticket.validate()?;
        self.local().fields().check_fields(&mut ticket.fields)?;
        if let Some(who) = &ticket.assignee {
            ticket.assignee = Some(self.resolve_me(who).await);
        }
        self.operation(provider_internal::new_guid(), false, move |tx, g| {
            let t = tx.create_with_guid(g, &ticket)?;
            let mut res = OperationResult::new(t.guid.clone(), t.status, NAME);
            res.assigned_to = t.assignee.clone();
            Ok((res, Wrote::new(t, None)))
        })
        .await
    }

    async fn update(&self, guid: &str, mut changes: TicketUpdate) -> Result<OperationResult> {
        let guid = provider_internal::parse_guid("guid", guid)?;
        changes.validate().map_err(|e| e.with_guid(&guid))?;
        self.local()
            .fields()
            .check_changes(&mut changes.fields)
            .map_err(|e| e.with_guid(&guid))?;
        self.operation(guid, true, move |tx, g| {
            let t = tx.update(g, &changes)?;
            let res = OperationResult::new(t.guid.clone(), t.status, NAME);
            Ok((res, Wrote::new(t, None)))
        })
        .await
    }

    async fn change_status(&self, guid: &str, status: Status) -> Result<OperationResult> {
        self.status_op(StatusOperation::ChangeStatus, guid, status, None)
            .await
    }

    async fn assign(&self, guid: &str, assignee: &str) -> Result<OperationResult> {
        let guid = provider_internal::parse_guid("guid", guid)?;
        ticket_provider_api::model::validate_assignee(assignee).map_err(|e| e.with_guid(&guid))?;
        let assignee = self.resolve_me(assignee).await;
        self.operation(guid, true, move |tx, g| {
            let t = tx.assign(g, &assignee)?;
            let mut res = OperationResult::new(t.guid.clone(), t.status, NAME);
            res.assigned_to = t.assignee.clone();
            Ok((res, Wrote::new(t, None)))
        })
        .await
    }

    async fn add_comment(&self, guid: &str, comment: NewComment) -> Result<OperationResult> {
        let guid = provider_internal::parse_guid("guid", guid)?;
        comment.validate().map_err(|e| e.with_guid(&guid))?;
        self.operation(guid, false, move |tx, g| {
            let (t, comment_guid) = tx.add_comment(g, &comment)?;
            let mut res = OperationResult::new(t.guid.clone(), t.status, NAME);
            res.comment_guid = Some(comment_guid.clone());
            Ok((res, Wrote::new(t, Some(comment_guid))))
        })
        .await
    }

    async fn get_ticket(&self, guid: &str) -> Result<TicketDetails> {
        let guid = provider_internal::parse_guid("guid", guid)?;
        let g = guid.clone();
        self.settled()
            .await
            .local()
            .read(move |tx| {
                let mut d = tx.details(&g)?;
                let (gid, state) = info_in_tx(tx, &g)?;
                d.ticket.provider = NAME.to_string();
                d.ticket.asana_gid = gid;
                d.ticket.sync_state = Some(state);
                Ok(d)
            })
            .await
            .map_err(|e| e.with_guid(&guid))
    }

    async fn list_tickets(&self, mut query: ListQuery) -> Result<TicketPage> {
        query.validate()?;
        self.local().fields().check_fields(&mut query.fields)?;
        self.settled()
            .await
            .local()
            .read(move |tx| {
                let mut page = tx.list(&query)?;
                let guids: Vec<String> = page.tickets.iter().map(|t| t.guid.clone()).collect();
                let links = db::links_of(tx.conn(), &guids)?;
                let (pending, aside) = db::outbox_flags(tx.conn(), &guids)?;
                for t in &mut page.tickets {
                    t.provider = NAME.to_string();
                    t.asana_gid = links
                        .get(&t.guid)
                        .and_then(|l| l.linked_gid().map(str::to_string));
                    t.sync_state = Some(ticket_state(
                        pending.contains(&t.guid),
                        aside.contains(&t.guid),
                    ));
                }
                Ok(page)
            })
            .await
    }

    async fn close(&self, guid: &str) -> Result<OperationResult> {
        self.status_op(StatusOperation::Close, guid, Status::Closed, None)
            .await
    }

    async fn resolve(&self, guid: &str) -> Result<OperationResult> {
        self.status_op(StatusOperation::Resolve, guid, Status::Resolved, None)
            .await
    }

    async fn escalate(&self, guid: &str, reason: Option<&str>) -> Result<OperationResult> {
        self.status_op(StatusOperation::Escalate, guid, Status::Escalated, reason)
            .await
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
