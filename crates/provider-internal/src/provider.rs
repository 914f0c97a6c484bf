//! [`InternalProvider`]: the [`TicketProvider`] implementation over the store.
//!
//! Each operation validates its input first (so invalid input writes nothing), then runs one
//! store function with a pooled connection, off the runtime's worker (`block_in_place`, or
//! the blocking pool on a current-thread runtime), and maps any failure into the public
//! [`Error`] with the provider name, operation and guid attached. A get on a SQLite file is
//! the exception: a read of a few microseconds, it runs on the calling thread with the
//! connection the store keeps aside for it (see `run_short_read`).

use std::sync::Arc;

use ticket_provider_api::changes::check_changes_limit;
use ticket_provider_api::model::{validate_assignee, validate_reason};
use ticket_provider_api::{
    async_trait, Change, ChangeCursor, ChangePage, ChangeStream, Config, Error, Extensions,
    HistoryEntry, ListQuery, NewComment, NewTicket, Operation, OperationResult, ProviderInfo,
    Result, Status, TicketChanges, TicketDetails, TicketHistory, TicketPage, TicketProvider,
    TicketUpdate,
};
use tracing::Instrument;

use crate::change::StatusOperation;
use crate::config::{Backend, DbTarget, StoreSettings};
use crate::db::{read_transaction, write_transaction, DbConnection};
use crate::error::StoreError;
use crate::migrate::applied_migrations;
use crate::read::{self, Cursor};
use crate::rows::{from_micros, parse_guid};
use crate::store::{open_store, Store, StoreOptions};
use crate::tx::{StoreExtension, StoreTx};
use crate::NAME;

/// Tickets in the application's own database (SQLite or PostgreSQL).
///
/// Cheap to clone: clones share one connection pool. Safe to call from many tasks at once.
#[derive(Clone)]
pub struct InternalProvider {
    inner: Arc<Store>,
}

impl std::fmt::Debug for InternalProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InternalProvider")
            .field("backend", &self.inner.target.backend())
            .field("database", &self.inner.target.redacted())
            .field("pool_size", &self.inner.pool_size)
            .field("extensions", &self.extension_names())
            .finish()
    }
}

impl InternalProvider {
    /// Opens (creating if needed) the database at `database_url` (`sqlite://PATH`, a plain
    /// path, or `postgres://...`) and brings its schema up to date.
    pub async fn open(database_url: &str, options: StoreOptions) -> Result<Self> {
        let url = database_url.to_string();
        let file = DbTarget::parse(database_url)
            .ok()
            .and_then(|t| t.sqlite_file().map(str::to_owned));
        let store = tokio::task::spawn_blocking(move || open_store(&url, &options))
            .await
            .map_err(|e| Error::internal(format!("opening the database panicked: {e}")))?
            .map_err(|e| e.into_error_at(file.as_deref()))?;
        tracing::debug!(backend = %store.target.backend(), database = %store.target.redacted(), "internal store open");
        Ok(InternalProvider {
            inner: Arc::new(store),
        })
    }

    /// Opens the database the config's `database_url` names, with `database_pool_size`.
    pub async fn from_config(config: &Config) -> Result<Self> {
        Self::from_config_with(config, Vec::new()).await
    }

    /// Like [`InternalProvider::from_config`], with store extensions (see
    /// [`crate::StoreExtension`]; the `sync` provider passes its own).
    pub async fn from_config_with(
        config: &Config,
        extensions: Vec<Arc<dyn StoreExtension>>,
    ) -> Result<Self> {
        let settings = StoreSettings::from_config(config)?;
        Self::open(
            &settings.url(config),
            StoreOptions {
                pool_size: settings.database_pool_size,
                extensions,
                fields: config.ticket.fields.clone(),
            },
        )
        .await
    }

    /// Runs `f` in one write transaction (`BEGIN IMMEDIATE` on SQLite). A busy database runs
    /// it again (a bounded number of times), so `f` must not keep state outside the
    /// database. Any error rolls everything back. See [`StoreTx`] for what it can do, and
    /// [`crate::StoreExtension`] for how extension crates use it.
    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnMut(&mut StoreTx<'_>) -> std::result::Result<T, StoreError> + Send + 'static,
    {
        self.write_op(Operation::Other("write"), None, f).await
    }

    /// Runs `f` in one read-only transaction (a consistent snapshot: `REPEATABLE READ` on
    /// PostgreSQL); [`StoreTx`]'s writes fail in it, and `f` must not begin a transaction of
    /// its own on [`StoreTx::conn`].
    pub async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut StoreTx<'_>) -> std::result::Result<T, StoreError> + Send + 'static,
    {
        self.read_op(Operation::Other("read"), None, f).await
    }

    pub(crate) async fn write_op<T, F>(
        &self,
        op: Operation,
        guid: Option<&str>,
        mut f: F,
    ) -> Result<T>
    where
        T: Send + 'static,
        F: FnMut(&mut StoreTx<'_>) -> std::result::Result<T, StoreError> + Send + 'static,
    {
        let store = Arc::clone(&self.inner);
        let backend = self.backend();
        self.run(op, guid, move |conn| {
            let out = write_transaction(conn, |conn| {
                let mut tx = StoreTx::new(conn, &store.extensions, backend, true);
                f(&mut tx)
            });
            if out.is_ok() {
                store.wrote();
            }
            out
        })
        .await
    }

    pub(crate) async fn read_op<T, F>(&self, op: Operation, guid: Option<&str>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut StoreTx<'_>) -> std::result::Result<T, StoreError> + Send + 'static,
    {
        let store = Arc::clone(&self.inner);
        let backend = self.backend();
        self.run(op, guid, move |conn| {
            read_transaction(conn, |conn| {
                let mut tx = StoreTx::new(conn, &store.extensions, backend, false);
                f(&mut tx)
            })
        })
        .await
    }

    /// The ticket's recorded changes, oldest first; NotFound for an unknown ticket.
    pub async fn history(&self, guid: &str) -> Result<Vec<HistoryEntry>> {
        let op = Operation::Other("history");
        let guid = self.guid_arg(op, guid)?;
        let rows = self
            .run(op, Some(&guid), {
                let guid = guid.clone();
                move |conn| read::history(conn, &guid)
            })
            .await?;
        rows.into_iter()
            .map(|r| {
                Ok(HistoryEntry {
                    id: r.id,
                    guid: r.ticket_guid,
                    field: r.field,
                    old_value: r.old_value,
                    new_value: r.new_value,
                    changed_at: from_micros(r.changed_at)?,
                })
            })
            .collect::<std::result::Result<_, StoreError>>()
            .map_err(|e| self.wrap(e, op, Some(&guid)))
    }

    /// At most `limit` changes (1 to [`ticket_provider_api::changes::MAX_CHANGES_PAGE`]) after
    /// `since`, in commit order, and the cursor to continue from (see
    /// [`TicketChanges`] and the `feed` module: on PostgreSQL, the order of commits, not of
    /// ids).
    pub async fn changes(&self, since: Option<ChangeCursor>, limit: usize) -> Result<ChangePage> {
        check_changes_limit(limit)?;
        let since = since.unwrap_or(ChangeCursor::START);
        let changes = self.read_feed(since.position(), limit).await?;
        let cursor = changes.last().map_or(since, |c| c.cursor);
        Ok(ChangePage { changes, cursor })
    }

    /// The changes after `since` as they commit (see [`TicketChanges::watch`]).
    pub async fn watch(&self, since: Option<ChangeCursor>) -> Result<ChangeStream> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || crate::feed::watch(&me, since))
            .await
            .map_err(|e| Error::internal(format!("opening the change feed panicked: {e}")))?
            .map_err(|e| self.wrap(e, Operation::Other("changes"), None))
    }

    /// At most `limit` changes after position `after`.
    pub(crate) async fn read_feed(&self, after: u64, limit: usize) -> Result<Vec<Change>> {
        self.run(Operation::Other("changes"), None, move |conn| {
            crate::feed::read_changes(conn, after, limit)
        })
        .await
    }

    /// What the store points at.
    pub(crate) fn target(&self) -> &DbTarget {
        &self.inner.target
    }

    /// A receiver that changes whenever a write transaction of this store commits.
    pub(crate) fn commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.commits.subscribe()
    }

    /// Store round trips made so far through this store (and its clones): each takes a
    /// pooled connection and runs one read or one write transaction. `cargo xtask bench`
    /// reports them per operation of the `sync` provider (`sync_store_tx_per_op`).
    pub fn store_round_trips(&self) -> u64 {
        self.inner
            .round_trips
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// WAL checkpoints this store's own thread has run so far (see the `checkpoint` module);
    /// always 0 for PostgreSQL and in-memory SQLite.
    pub fn background_checkpoints(&self) -> u64 {
        self.inner.checkpoints()
    }

    /// The custom fields every write and filter is checked against.
    pub fn fields(&self) -> &ticket_provider_api::FieldSchema {
        &self.inner.fields
    }

    /// The database engine in use.
    pub fn backend(&self) -> Backend {
        self.inner.target.backend()
    }

    /// The database URL with any password replaced by `***`.
    pub fn redacted_url(&self) -> String {
        self.inner.target.redacted()
    }

    /// The names of the store's extensions.
    pub fn extension_names(&self) -> Vec<&'static str> {
        self.inner.extensions.iter().map(|e| e.name()).collect()
    }

    /// Row counts: tickets, comments, history rows.
    pub async fn row_counts(&self) -> Result<[i64; 3]> {
        self.run(Operation::Other("row_counts"), None, read::row_counts)
            .await
    }

    /// The number of schema migrations applied to the database.
    pub async fn applied_migrations(&self) -> Result<usize> {
        self.run(Operation::Other("doctor"), None, applied_migrations)
            .await
    }

    /// `ticket doctor`'s check of a SQLite store file: every page reads, and a write of
    /// 256 KiB fits (written to the WAL, then rolled back). A
    /// read-only, full or corrupt file is a [`ticket_provider_api::ErrorKind::Config`] error
    /// naming it. Nothing to check (`Ok`) for PostgreSQL and in-memory stores.
    pub async fn check_file(&self) -> Result<()> {
        #[cfg(feature = "sqlite")]
        if let Some(path) = self.inner.target.sqlite_file().map(str::to_owned) {
            return self
                .run(Operation::Other("doctor"), None, move |conn| match conn {
                    DbConnection::Sqlite(c) => crate::probe::check_sqlite_file(c, &path),
                    #[allow(unreachable_patterns)]
                    _ => Ok(()),
                })
                .await;
        }
        Ok(())
    }

    /// Whether the SQLite file this store opened is still the file its path names: an
    /// [`ticket_provider_api::ErrorKind::Config`] error naming the file when it was deleted
    /// or replaced since (the store's connections would go on writing to the old, unlinked
    /// file, where nothing is ever seen again). One `stat`; `Ok` for other stores. A
    /// long-running process (`ticket sync run`) checks it before each step.
    pub fn check_identity(&self) -> Result<()> {
        let (Some(opened), Some(path)) = (self.inner.identity, self.inner.target.sqlite_file())
        else {
            return Ok(());
        };
        match crate::store::FileIdentity::of(path) {
            Ok(Some(now)) if now == opened => Ok(()),
            Ok(None) => Ok(()),
            Ok(Some(_)) => Err(Error::config(format!(
                "the SQLite file {path} was replaced since this process opened it; restart the process to use the new file"
            ))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::config(format!(
                "the SQLite file {path} was deleted since this process opened it; restore it, then restart"
            ))),
            Err(e) => Err(Error::config(format!(
                "the SQLite file {path} cannot be examined: {e}"
            ))),
        }
    }

    /// Checks a guid argument; its canonical form on success.
    pub(crate) fn guid_arg(&self, _op: Operation, guid: &str) -> Result<String> {
        parse_guid("guid", guid)
    }

    /// The public error of a store failure, naming the ticket concerned. The provider and the
    /// operation are added by the registry's wrapper (or by the provider built on this one).
    pub(crate) fn wrap(&self, e: StoreError, _op: Operation, guid: Option<&str>) -> Error {
        let err = e.into_error_at(self.inner.target.sqlite_file());
        match guid {
            Some(g) => err.with_guid(g),
            None => err,
        }
    }

    /// Runs `f` with a pooled connection on a blocking thread.
    pub(crate) async fn run<T, F>(&self, op: Operation, guid: Option<&str>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> std::result::Result<T, StoreError> + Send + 'static,
    {
        let store = Arc::clone(&self.inner);
        store
            .round_trips
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let span = tracing::debug_span!("internal", operation = %op, guid = guid.unwrap_or(""));
        let work = move || {
            // An idle connection when there is one; only a wait for one is worth r2d2's
            // timing (its clock reads cost as much as the rest of the checkout).
            let mut conn = match store.pool.try_get() {
                Some(conn) => conn,
                None => store.pool.get()?,
            };
            f(&mut conn)
        };
        // diesel blocks. On a multi-threaded runtime, `block_in_place` runs the query on this
        // worker and hands the worker's other tasks to another thread, which avoids the
        // thread hand-off of `spawn_blocking` (it dominated short reads). A current-thread
        // runtime cannot do that, so there the work goes to the blocking pool.
        let multi_thread = tokio::runtime::Handle::try_current()
            .map(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
            .unwrap_or(false);
        let joined = if multi_thread {
            Ok(span.in_scope(|| tokio::task::block_in_place(work)))
        } else {
            tokio::task::spawn_blocking(work).instrument(span).await
        };
        match joined {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.wrap(e, op, guid)),
            Err(e) => Err(Error::internal(format!("the database task failed: {e}"))),
        }
    }

    /// Runs `f`, a read of one ticket, on the calling thread with the connection a SQLite
    /// file store keeps aside for such reads, when it is free; otherwise (another get holds
    /// it, `:memory:`, PostgreSQL) as [`Self::run`] does. Such a read takes a
    /// few microseconds, less than handing the worker's other tasks to another thread (which
    /// `block_in_place` does on every call) and about as long as any short computation
    /// between two awaits. A PostgreSQL read is a network round trip and always goes through
    /// [`Self::run`].
    async fn run_short_read<T, F>(&self, op: Operation, guid: &str, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&mut DbConnection, &str) -> std::result::Result<T, StoreError>
            + Send
            + Copy
            + 'static,
    {
        if let Some(Ok(mut reader)) = self.inner.reader.as_ref().map(|r| r.try_lock()) {
            if reader.is_none() {
                *reader = self.inner.pool.try_get();
            }
            if let Some(conn) = reader.as_mut() {
                self.inner
                    .round_trips
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let span = tracing::debug_span!("internal", operation = %op, guid);
                return span
                    .in_scope(|| f(conn, guid))
                    .map_err(|e| self.wrap(e, op, Some(guid)));
            }
        }
        let owned = guid.to_owned();
        self.run(op, Some(guid), move |conn| f(conn, &owned)).await
    }

    async fn status_op(
        &self,
        op: StatusOperation,
        guid: &str,
        status: Status,
        reason: Option<&str>,
    ) -> Result<OperationResult> {
        let operation = match op {
            StatusOperation::ChangeStatus => Operation::ChangeStatus,
            StatusOperation::Close => Operation::Close,
            StatusOperation::Resolve => Operation::Resolve,
            StatusOperation::Escalate => Operation::Escalate,
        };
        let guid = self.guid_arg(operation, guid)?;
        if let Some(r) = reason {
            validate_reason(r)?;
        }
        let reason = reason.map(str::to_string);
        let (ticket, comment_guid) = self
            .write_op(operation, Some(&guid), {
                let guid = guid.clone();
                move |tx| tx.set_status(&guid, status, op, reason.as_deref())
            })
            .await?;
        let mut res = OperationResult::new(ticket.guid, ticket.status, NAME);
        res.comment_guid = comment_guid;
        Ok(res)
    }
}

#[async_trait]
impl TicketHistory for InternalProvider {
    async fn history(&self, guid: &str) -> Result<Vec<HistoryEntry>> {
        InternalProvider::history(self, guid).await
    }
}

#[async_trait]
impl TicketChanges for InternalProvider {
    async fn changes(&self, since: Option<ChangeCursor>, limit: usize) -> Result<ChangePage> {
        InternalProvider::changes(self, since, limit).await
    }

    async fn watch(&self, since: Option<ChangeCursor>) -> Result<ChangeStream> {
        InternalProvider::watch(self, since).await
    }
}

#[async_trait]
impl TicketProvider for InternalProvider {
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
    }

    /// Nothing runs in the background; the pool's connections close when the last clone of
    /// the provider is dropped.
    async fn shutdown(&self) -> Result<()> {
        Ok(())
    }

    async fn create(&self, mut ticket: NewTicket) -> Result<OperationResult> {
        let op = Operation::Create;
        ticket.validate()?;
        self.inner.fields.check_fields(&mut ticket.fields)?;
        let t = self
            .write_op(op, None, move |tx| tx.create(&ticket))
            .await?;
        let mut res = OperationResult::new(t.guid, t.status, NAME);
        res.assigned_to = t.assignee;
        Ok(res)
    }

    async fn update(&self, guid: &str, mut changes: TicketUpdate) -> Result<OperationResult> {
        let op = Operation::Update;
        let guid = self.guid_arg(op, guid)?;
        changes.validate().map_err(|e| e.with_guid(&guid))?;
        self.inner
            .fields
            .check_changes(&mut changes.fields)
            .map_err(|e| e.with_guid(&guid))?;
        let t = self
            .write_op(op, Some(&guid), {
                let guid = guid.clone();
                move |tx| tx.update(&guid, &changes)
            })
            .await?;
        Ok(OperationResult::new(t.guid, t.status, NAME))
    }

    async fn change_status(&self, guid: &str, status: Status) -> Result<OperationResult> {
        self.status_op(StatusOperation::ChangeStatus, guid, status, None)
            .await
    }

    async fn assign(&self, guid: &str, assignee: &str) -> Result<OperationResult> {
        let op = Operation::Assign;
        let guid = self.guid_arg(op, guid)?;
        validate_assignee(assignee).map_err(|e| e.with_guid(&guid))?;
        let assignee = assignee.to_string();
        let t = self
            .write_op(op, Some(&guid), {
                let guid = guid.clone();
                move |tx| tx.assign(&guid, &assignee)
            })
            .await?;
        let mut res = OperationResult::new(t.guid, t.status, NAME);
        res.assigned_to = t.assignee;
        Ok(res)
    }

    async fn add_comment(&self, guid: &str, comment: NewComment) -> Result<OperationResult> {
        let op = Operation::AddComment;
        let guid = self.guid_arg(op, guid)?;
        comment.validate().map_err(|e| e.with_guid(&guid))?;
        let (t, comment_guid) = self
            .write_op(op, Some(&guid), {
                let guid = guid.clone();
                move |tx| tx.add_comment(&guid, &comment)
            })
            .await?;
        let mut res = OperationResult::new(t.guid, t.status, NAME);
        res.comment_guid = Some(comment_guid);
        Ok(res)
    }

    async fn get_ticket(&self, guid: &str) -> Result<TicketDetails> {
        let op = Operation::GetTicket;
        let guid = self.guid_arg(op, guid)?;
        self.run_short_read(op, &guid, read::get_ticket).await
    }

    async fn list_tickets(&self, mut query: ListQuery) -> Result<TicketPage> {
        let op = Operation::ListTickets;
        let limit = query.validate()?;
        self.inner.fields.check_fields(&mut query.fields)?;
        let cursor = match &query.cursor {
            Some(c) => Some(Cursor::decode(c)?),
            None => None,
        };
        self.run(op, None, move |conn| {
            read::list_tickets(conn, &query, limit, cursor.as_ref())
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
