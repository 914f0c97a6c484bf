//! [`AsanaProvider`]: the [`TicketProvider`] impl of the `asana` provider, on top of the
//! [`TaskClient`] (which owns the client and the caches). Every ticket operation costs a
//! fixed number of requests (see the crate documentation).

use std::sync::Arc;

use ticket_provider_api::model::{validate_assignee, validate_reason};
use ticket_provider_api::{
    async_trait, BuildContext, Comment, Error, Extensions, ListQuery, NewComment, NewTicket,
    Operation, OperationResult, ProviderInfo, Result, Status, TicketDetails, TicketPage,
    TicketProvider, TicketUpdate,
};

use crate::attribution;
use crate::cache::CacheStore;
use crate::config::AsanaSettings;
use crate::core::check_gid;
use crate::decode::{ticket_status, to_ticket};
use crate::list::list_page;
use crate::remote::TaskPlace;
use crate::task_client::TaskClient;
use crate::users::UserDirectory;
use crate::PROVIDER_NAME;

/// Tickets as tasks of one Asana project. Cheap to clone (an `Arc` inside); safe to use from
/// many tasks at once. The task-level operations are on its [`TaskClient`]
/// ([`AsanaProvider::tasks`]), which shares its caches.
#[derive(Clone, Debug)]
pub struct AsanaProvider {
    tasks: TaskClient,
}

impl From<TaskClient> for AsanaProvider {
    /// The ticket provider on `tasks`, sharing its client and caches.
    fn from(tasks: TaskClient) -> Self {
        AsanaProvider { tasks }
    }
}

impl AsanaProvider {
    /// A provider for `settings` (checked with [`AsanaSettings::validate`]). No request is
    /// made until the first operation. The cache is kept in [`AsanaSettings::cache_path`]
    /// when set.
    pub fn new(settings: AsanaSettings) -> Result<Self> {
        TaskClient::new(settings).map(Self::from)
    }

    /// Like [`AsanaProvider::new`], with a [`UserDirectory`] of your own (say one backed by a
    /// persistent [`crate::UserStore`]).
    pub fn with_users(settings: AsanaSettings, users: UserDirectory) -> Result<Self> {
        TaskClient::with_users(settings, users).map(Self::from)
    }

    /// Like [`AsanaProvider::new`], keeping what the provider learns (section, tag and user
    /// gids) in `store` between processes instead of [`AsanaSettings::cache_path`].
    pub fn with_cache_store(settings: AsanaSettings, store: Arc<dyn CacheStore>) -> Result<Self> {
        TaskClient::with_cache_store(settings, store).map(Self::from)
    }

    /// Builds a provider from the configuration (`homechoice.ticket.asana_*`) and the token
    /// from `ASANA_ACCESS_TOKEN` (read through the context). Errors name the missing key or
    /// environment variable.
    pub async fn from_config(ctx: &BuildContext) -> Result<Self> {
        TaskClient::from_config(ctx).await.map(Self::from)
    }

    /// The settings in use.
    pub fn settings(&self) -> &AsanaSettings {
        self.tasks.settings()
    }

    /// The task-level operations, sharing this provider's client and caches.
    pub fn tasks(&self) -> &TaskClient {
        &self.tasks
    }

    /// The task client this provider is built on.
    pub fn into_tasks(self) -> TaskClient {
        self.tasks
    }

    fn result(&self, gid: &str, status: Status) -> OperationResult {
        let mut r = OperationResult::new(gid, status, PROVIDER_NAME);
        r.asana_gid = Some(gid.to_string());
        r
    }

    /// Reads the task (refusing one outside the tickets project before anything is
    /// written), then writes only what differs from what the read saw.
    async fn do_change_status(&self, guid: &str, status: Status) -> Result<OperationResult> {
        let task = self.tasks.ticket_task(guid).await?;
        self.tasks
            .move_task_from(guid, status, TaskPlace::of(&task))
            .await?;
        Ok(self.result(guid, status))
    }

    async fn do_add_comment(&self, guid: &str, comment: NewComment) -> Result<OperationResult> {
        check_gid(guid)?;
        comment.validate()?;
        let text = attribution::encode(&comment.body, comment.author.as_deref().map(str::trim));
        // The read refuses a task outside the tickets project before the story is posted,
        // and tells the ticket's status.
        let task = self.tasks.ticket_task(guid).await?;
        let story = self.tasks.post_comment(guid, &text).await?;
        let mut r = self.result(guid, ticket_status(&task));
        r.comment_guid = Some(story);
        Ok(r)
    }
}

/// Names the ticket in an error. The provider and the operation are added by the registry's
/// wrapper (or by the provider built on this one); `_op` documents the call site.
fn ctx(e: Error, _op: Operation, guid: Option<&str>) -> Error {
    match guid {
        Some(g) => e.with_guid(g),
        None => e,
    }
}

#[async_trait]
impl TicketProvider for AsanaProvider {
    fn info(&self) -> ProviderInfo {
        ProviderInfo {
            name: PROVIDER_NAME,
            capabilities: crate::CAPABILITIES,
        }
    }

    /// No extras: Asana keeps its own history, outside this API.
    fn extensions(&self) -> Extensions {
        Extensions::new()
    }

    /// Nothing runs in the background and nothing is held for others.
    async fn shutdown(&self) -> Result<()> {
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(provider = PROVIDER_NAME))]
    async fn create(&self, ticket: NewTicket) -> Result<OperationResult> {
        let op = Operation::Create;
        ticket.validate().map_err(|e| ctx(e, op, None))?;
        let task = self
            .tasks
            .create_task(&ticket, Status::New, None)
            .await
            .map_err(|e| ctx(e, op, None))?;
        Ok(self.result(&task.gid, Status::New))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(provider = PROVIDER_NAME, guid = %guid))]
    async fn update(&self, guid: &str, changes: TicketUpdate) -> Result<OperationResult> {
        let op = Operation::Update;
        let task = self
            .tasks
            .update_ticket(guid, &changes)
            .await
            .map_err(|e| ctx(e, op, Some(guid)))?;
        Ok(self.result(guid, ticket_status(&task)))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(provider = PROVIDER_NAME, guid = %guid))]
    async fn change_status(&self, guid: &str, status: Status) -> Result<OperationResult> {
        self.do_change_status(guid, status)
            .await
            .map_err(|e| ctx(e, Operation::ChangeStatus, Some(guid)))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(provider = PROVIDER_NAME, guid = %guid))]
    async fn assign(&self, guid: &str, assignee: &str) -> Result<OperationResult> {
        let op = Operation::Assign;
        let run = async {
            check_gid(guid)?;
            validate_assignee(assignee)?;
            // Read first: a task outside the tickets project gets no new assignee.
            self.tasks.ticket_task(guid).await?;
            let task = self.tasks.assign(guid, assignee).await?;
            let mut r = self.result(guid, ticket_status(&task));
            r.assigned_to = task
                .assignee
                .clone()
                .or_else(|| Some(assignee.trim().to_string()));
            Ok(r)
        };
        run.await.map_err(|e| ctx(e, op, Some(guid)))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(provider = PROVIDER_NAME, guid = %guid))]
    async fn add_comment(&self, guid: &str, comment: NewComment) -> Result<OperationResult> {
        self.do_add_comment(guid, comment)
            .await
            .map_err(|e| ctx(e, Operation::AddComment, Some(guid)))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(provider = PROVIDER_NAME, guid = %guid))]
    async fn get_ticket(&self, guid: &str) -> Result<TicketDetails> {
        let run = async {
            let (task, owner) = self.tasks.get_remote_task_and_owner(guid).await?;
            let task = self.tasks.core.require_in_project(task)?;
            let comments = task
                .comments
                .iter()
                .map(|c| {
                    let story = attribution::decode(&c.text, c.origin(&owner.gid));
                    Comment {
                        comment_guid: c.story_gid.clone(),
                        body: story.body,
                        author: story.author,
                        created_at: c.created_at,
                    }
                })
                .collect();
            Ok(TicketDetails {
                ticket: to_ticket(&task),
                comments,
            })
        };
        run.await
            .map_err(|e| ctx(e, Operation::GetTicket, Some(guid)))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(provider = PROVIDER_NAME))]
    async fn list_tickets(&self, query: ListQuery) -> Result<TicketPage> {
        list_page(&self.tasks, query)
            .await
            .map_err(|e| ctx(e, Operation::ListTickets, None))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(provider = PROVIDER_NAME, guid = %guid))]
    async fn close(&self, guid: &str) -> Result<OperationResult> {
        self.do_change_status(guid, Status::Closed)
            .await
            .map_err(|e| ctx(e, Operation::Close, Some(guid)))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(provider = PROVIDER_NAME, guid = %guid))]
    async fn resolve(&self, guid: &str) -> Result<OperationResult> {
        self.do_change_status(guid, Status::Resolved)
            .await
            .map_err(|e| ctx(e, Operation::Resolve, Some(guid)))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(provider = PROVIDER_NAME, guid = %guid))]
    async fn escalate(&self, guid: &str, reason: Option<&str>) -> Result<OperationResult> {
        let run = async {
            check_gid(guid)?;
            if let Some(r) = reason {
                validate_reason(r)?;
            }
            let mut result = self.do_change_status(guid, Status::Escalated).await?;
            if let Some(r) = reason {
                let story = self
                    .tasks
                    .post_comment(guid, &attribution::encode(r, None))
                    .await?;
                result.comment_guid = Some(story);
            }
            Ok(result)
        };
        run.await
            .map_err(|e| ctx(e, Operation::Escalate, Some(guid)))
    }
}
