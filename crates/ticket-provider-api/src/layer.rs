//! The one wrapper the registry puts around every provider it builds: it names the configured
//! provider and the operation in every error (including errors of the extensions this API
//! defines), so that no provider adds that context by hand.

use std::sync::Arc;

use async_trait::async_trait;

use crate::capability::ProviderInfo;
use crate::changes::{Change, ChangeCursor, ChangePage, ChangeStream, TicketChanges};
use crate::error::{Error, Operation, Result};
use crate::extension::{Extensions, TicketHistory};
use crate::future::BoxFuture;
use crate::maintenance::{
    FlushReport, PullProgress, PullReport, SyncMaintenance, SyncStatus, SyncWorker, VerifyReport,
    WorkerReport,
};
use crate::model::{
    HistoryEntry, ListQuery, NewComment, NewTicket, OperationResult, TicketDetails, TicketPage,
    TicketUpdate,
};
use crate::provider::TicketProvider;
use crate::status::Status;

/// Context added to every error: the configured provider name.
#[derive(Debug, Clone)]
struct Context(Arc<str>);

impl Context {
    fn wrap<'a>(
        &'a self,
        op: Operation,
        guid: Option<&'a str>,
    ) -> impl FnOnce(Error) -> Error + 'a {
        move |e| e.in_context(&*self.0, op, guid)
    }
}

/// A provider whose errors carry the configured provider name and the operation.
#[derive(Debug)]
pub(crate) struct ErrorContext {
    ctx: Context,
    inner: Arc<dyn TicketProvider>,
}

impl ErrorContext {
    /// Wraps `inner`, built for the provider name `configured`.
    pub(crate) fn new(configured: &str, inner: Arc<dyn TicketProvider>) -> Self {
        ErrorContext {
            ctx: Context(configured.into()),
            inner,
        }
    }
}

#[async_trait]
impl TicketProvider for ErrorContext {
    fn info(&self) -> ProviderInfo {
        self.inner.info()
    }

    fn extensions(&self) -> Extensions {
        let mut ext = self.inner.extensions();
        if let Some(history) = ext.get::<dyn TicketHistory>() {
            ext.insert::<dyn TicketHistory>(Arc::new(Wrapped {
                ctx: self.ctx.clone(),
                inner: history,
            }));
        }
        if let Some(feed) = ext.get::<dyn TicketChanges>() {
            ext.insert::<dyn TicketChanges>(Arc::new(Wrapped {
                ctx: self.ctx.clone(),
                inner: feed,
            }));
        }
        if let Some(sync) = ext.get::<dyn SyncMaintenance>() {
            ext.insert::<dyn SyncMaintenance>(Arc::new(Wrapped {
                ctx: self.ctx.clone(),
                inner: sync,
            }));
        }
        if let Some(worker) = ext.get::<dyn SyncWorker>() {
            ext.insert::<dyn SyncWorker>(Arc::new(Wrapped {
                ctx: self.ctx.clone(),
                inner: worker,
            }));
        }
        ext
    }

    async fn shutdown(&self) -> Result<()> {
        let op = Operation::Shutdown;
        self.inner.shutdown().await.map_err(self.ctx.wrap(op, None))
    }

    async fn create(&self, ticket: NewTicket) -> Result<OperationResult> {
        let op = Operation::Create;
        self.inner
            .create(ticket)
            .await
            .map_err(self.ctx.wrap(op, None))
    }

    async fn update(&self, guid: &str, changes: TicketUpdate) -> Result<OperationResult> {
        let op = Operation::Update;
        let r = self.inner.update(guid, changes).await;
        r.map_err(self.ctx.wrap(op, Some(guid)))
    }

    async fn change_status(&self, guid: &str, status: Status) -> Result<OperationResult> {
        let op = Operation::ChangeStatus;
        let r = self.inner.change_status(guid, status).await;
        r.map_err(self.ctx.wrap(op, Some(guid)))
    }

    async fn assign(&self, guid: &str, assignee: &str) -> Result<OperationResult> {
        let op = Operation::Assign;
        let r = self.inner.assign(guid, assignee).await;
        r.map_err(self.ctx.wrap(op, Some(guid)))
    }

    async fn add_comment(&self, guid: &str, comment: NewComment) -> Result<OperationResult> {
        let op = Operation::AddComment;
        let r = self.inner.add_comment(guid, comment).await;
        r.map_err(self.ctx.wrap(op, Some(guid)))
    }

    async fn get_ticket(&self, guid: &str) -> Result<TicketDetails> {
        let op = Operation::GetTicket;
        let r = self.inner.get_ticket(guid).await;
        r.map_err(self.ctx.wrap(op, Some(guid)))
    }

    async fn list_tickets(&self, query: ListQuery) -> Result<TicketPage> {
        let op = Operation::ListTickets;
        let r = self.inner.list_tickets(query).await;
        r.map_err(self.ctx.wrap(op, None))
    }

    async fn close(&self, guid: &str) -> Result<OperationResult> {
        let op = Operation::Close;
        let r = self.inner.close(guid).await;
        r.map_err(self.ctx.wrap(op, Some(guid)))
    }

    async fn resolve(&self, guid: &str) -> Result<OperationResult> {
        let op = Operation::Resolve;
        let r = self.inner.resolve(guid).await;
        r.map_err(self.ctx.wrap(op, Some(guid)))
    }

    async fn escalate(&self, guid: &str, reason: Option<&str>) -> Result<OperationResult> {
        let op = Operation::Escalate;
        let r = self.inner.escalate(guid, reason).await;
        r.map_err(self.ctx.wrap(op, Some(guid)))
    }
}

/// An extension whose errors carry the configured provider name and the operation.
struct Wrapped<E: ?Sized> {
    ctx: Context,
    inner: Arc<E>,
}

#[async_trait]
impl TicketHistory for Wrapped<dyn TicketHistory> {
    async fn history(&self, guid: &str) -> Result<Vec<HistoryEntry>> {
        let op = Operation::Other("history");
        let r = self.inner.history(guid).await;
        r.map_err(self.ctx.wrap(op, Some(guid)))
    }
}

#[async_trait]
impl TicketChanges for Wrapped<dyn TicketChanges> {
    async fn changes(&self, since: Option<ChangeCursor>, limit: usize) -> Result<ChangePage> {
        let op = Operation::Other("changes");
        let r = self.inner.changes(since, limit).await;
        r.map_err(self.ctx.wrap(op, None))
    }

    async fn watch(&self, since: Option<ChangeCursor>) -> Result<ChangeStream> {
        let op = Operation::Other("changes");
        let stream = self
            .inner
            .watch(since)
            .await
            .map_err(self.ctx.wrap(op, None))?;
        Ok(Box::pin(ContextStream {
            ctx: self.ctx.clone(),
            inner: stream,
        }))
    }
}

/// A change stream whose errors carry the configured provider name.
struct ContextStream {
    ctx: Context,
    inner: ChangeStream,
}

impl futures_core::Stream for ContextStream {
    type Item = Result<Change>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let this = &mut *self;
        this.inner
            .as_mut()
            .poll_next(cx)
            .map(|item| item.map(|r| r.map_err(this.ctx.wrap(Operation::Other("changes"), None))))
    }
}

#[async_trait]
impl SyncMaintenance for Wrapped<dyn SyncMaintenance> {
    async fn push(&self, guid: &str) -> Result<OperationResult> {
        let op = Operation::Other("sync_push");
        let r = self.inner.push(guid).await;
        r.map_err(self.ctx.wrap(op, Some(guid)))
    }

    async fn pull(&self, remote_id: &str) -> Result<OperationResult> {
        let op = Operation::Other("sync_pull");
        let r = self.inner.pull(remote_id).await;
        r.map_err(self.ctx.wrap(op, None))
    }

    async fn pull_all(
        &self,
        progress: &(dyn Fn(PullProgress) + Send + Sync),
    ) -> Result<PullReport> {
        let op = Operation::Other("sync_pull");
        let r = self.inner.pull_all(progress).await;
        r.map_err(self.ctx.wrap(op, None))
    }

    async fn flush(&self) -> Result<FlushReport> {
        let op = Operation::Other("sync_flush");
        self.inner.flush().await.map_err(self.ctx.wrap(op, None))
    }

    async fn status(&self) -> Result<SyncStatus> {
        let op = Operation::Other("sync_status");
        self.inner.status().await.map_err(self.ctx.wrap(op, None))
    }

    async fn retry_set_aside(&self, id: i64) -> Result<()> {
        let op = Operation::Other("sync_retry");
        let r = self.inner.retry_set_aside(id).await;
        r.map_err(self.ctx.wrap(op, None))
    }

    async fn discard_set_aside(&self, id: i64) -> Result<()> {
        let op = Operation::Other("sync_discard");
        let r = self.inner.discard_set_aside(id).await;
        r.map_err(self.ctx.wrap(op, None))
    }

    async fn relink(&self, guid: &str) -> Result<OperationResult> {
        let op = Operation::Other("sync_relink");
        let r = self.inner.relink(guid).await;
        r.map_err(self.ctx.wrap(op, Some(guid)))
    }

    async fn unlink(&self, guid: &str) -> Result<OperationResult> {
        let op = Operation::Other("sync_unlink");
        let r = self.inner.unlink(guid).await;
        r.map_err(self.ctx.wrap(op, Some(guid)))
    }

    async fn verify(&self, repair: bool) -> Result<VerifyReport> {
        let op = Operation::Other("sync_verify");
        let r = self.inner.verify(repair).await;
        r.map_err(self.ctx.wrap(op, None))
    }
}

#[async_trait]
impl SyncWorker for Wrapped<dyn SyncWorker> {
    async fn run_worker(&self, stop: BoxFuture<'static, ()>) -> Result<WorkerReport> {
        let op = Operation::Other("sync_run");
        let r = self.inner.run_worker(stop).await;
        r.map_err(self.ctx.wrap(op, None))
    }

    async fn metrics_text(&self) -> Result<String> {
        let op = Operation::Other("sync_metrics");
        let r = self.inner.metrics_text().await;
        r.map_err(self.ctx.wrap(op, None))
    }

    async fn health(&self) -> Result<()> {
        let op = Operation::Other("sync_health");
        let r = self.inner.health().await;
        r.map_err(self.ctx.wrap(op, None))
    }
}
