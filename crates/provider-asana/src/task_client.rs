//! [`TaskClient`]: the task-level operations on the tickets project, everything the
//! dual-write `sync` provider needs from Asana, and what the `asana` provider's trait impl
//! is built on. This file holds the type and the reads; `task_writes.rs` the writes.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{json, Value};
use ticket_provider_api::{BuildContext, Error, Result};

use crate::cache::{CacheFile, CacheStore};
use crate::client::{BatchAction, BatchResult, Request, Safety};
use crate::config::AsanaSettings;
use crate::core::{
    check_gid, checked_gids, fields_list, stories_read, task_read, ts, Core, BATCH_ACTIONS,
    OWNER_FIELDS, STORY_FIELDS,
};
use crate::error::AsanaError;
use crate::mapped_fields::task_user_gids;
use crate::remote::{
    decode_comments, decode_event, story_authors, str_field, EventsPage, RemoteComment, RemoteTask,
};
use crate::users::{AsanaUser, UserDirectory};

/// The tasks of one Asana project, read and written one request (or batch) at a time: what
/// the `sync` provider builds on, and what [`crate::AsanaProvider`] wraps. Cheap to clone
/// (an `Arc` inside); safe to use from many tasks at once. Clones share the caches.
#[derive(Clone)]
pub struct TaskClient {
    pub(crate) core: Arc<Core>,
}

impl fmt::Debug for TaskClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskClient")
            .field("settings", &self.core.settings)
            .field("client", &self.core.client)
            .finish()
    }
}

impl TaskClient {
    /// A client for `settings` (checked with [`AsanaSettings::validate`]). No request is
    /// made until the first operation. The cache is kept in [`AsanaSettings::cache_path`]
    /// when set.
    pub fn new(settings: AsanaSettings) -> Result<Self> {
        Self::with_users(settings, UserDirectory::new())
    }

    /// Like [`TaskClient::new`], with a [`UserDirectory`] of your own (say one backed by a
    /// persistent [`crate::UserStore`]).
    pub fn with_users(settings: AsanaSettings, users: UserDirectory) -> Result<Self> {
        let store = settings
            .cache_path
            .clone()
            .map(|p| Arc::new(CacheFile::new(p)) as Arc<dyn CacheStore>);
        Self::build(settings, users, store)
    }

    /// Like [`TaskClient::new`], keeping what the client learns (section, tag and user
    /// gids) in `store` between processes instead of [`AsanaSettings::cache_path`].
    pub fn with_cache_store(settings: AsanaSettings, store: Arc<dyn CacheStore>) -> Result<Self> {
        Self::build(settings, UserDirectory::new(), Some(store))
    }

    fn build(
        settings: AsanaSettings,
        users: UserDirectory,
        store: Option<Arc<dyn CacheStore>>,
    ) -> Result<Self> {
        Ok(TaskClient {
            core: Arc::new(Core::new(settings, users, store)?),
        })
    }

    /// Builds a client from the configuration (`homechoice.ticket.asana_*`) and the token
    /// from `ASANA_ACCESS_TOKEN` (read through the context). Errors name the missing key or
    /// environment variable.
    pub async fn from_config(ctx: &BuildContext) -> Result<Self> {
        Self::new(AsanaSettings::from_context(ctx)?)
    }

    /// The settings in use.
    pub fn settings(&self) -> &AsanaSettings {
        &self.core.settings
    }

    /// Every request this client (its clones and the provider on it included) sent so far,
    /// by HTTP status, and the time spent waiting on 429 answers: what metrics report.
    pub fn request_stats(&self) -> crate::RequestStatsSnapshot {
        self.core.client.stats()
    }

    /// The project's workspace gid (loads the cache on first use).
    pub async fn workspace_gid(&self) -> Result<String> {
        self.core.restore().await;
        let mut cache = self.core.cache.lock().await;
        if cache.workspace_gid.is_none() {
            self.core.load_project(&mut cache).await?;
            self.core.persist(&mut cache).await;
        }
        Ok(cache.workspace_gid.clone().unwrap_or_default())
    }

    /// The task with its comments (one `POST /batch` with two reads, plus one request per
    /// further 100 stories). Fails with NotFound when the task does not exist.
    pub async fn get_remote_task(&self, gid: &str) -> Result<RemoteTask> {
        Ok(self.read_task(gid, false).await?.0)
    }

    /// Task `gid` read for a write of the `asana` provider, which must not touch a task
    /// outside the tickets project: one `GET /tasks/{gid}`, `NotFound` for a task Asana does
    /// not know or one of another project. The assignee reads as its gid (no user lookup:
    /// the callers need where the task stands, not who has it).
    pub(crate) async fn ticket_task(&self, gid: &str) -> Result<RemoteTask> {
        check_gid(gid)?;
        let req = Request::get(format!("/tasks/{gid}")).fields(self.core.task_fields());
        let data = self
            .core
            .client()
            .data(&req)
            .await
            .map_err(|e| self.core.not_found_as_ticket(e, gid))?;
        self.core.restore().await;
        let task = {
            let mut cache = self.core.cache.lock().await;
            let task = self
                .core
                .decode_task_with(&mut cache, &data, &HashMap::new());
            self.core.persist(&mut cache).await;
            task?
        };
        self.core.require_in_project(task)
    }

    /// [`Self::get_remote_task`] and the token owner, whose stories alone carry an
    /// attribution (see [`crate::attribution`]); the first time, the owner is read in the
    /// task's own `POST /batch`.
    pub(crate) async fn get_remote_task_and_owner(
        &self,
        gid: &str,
    ) -> Result<(RemoteTask, AsanaUser)> {
        let known = self.core.cache.lock().await.me.clone();
        let (task, read) = self.read_task(gid, known.is_none()).await?;
        let owner = match known.or(read) {
            Some(owner) => owner,
            None => self.token_owner().await?,
        };
        Ok((task, owner))
    }

    /// [`Self::get_remote_task`], reading the token owner in the same `POST /batch` when
    /// `with_owner` (`None` when that read failed).
    async fn read_task(
        &self,
        gid: &str,
        with_owner: bool,
    ) -> Result<(RemoteTask, Option<AsanaUser>)> {
        check_gid(gid)?;
        let mut actions = vec![task_read(gid, self.core.task_fields()), stories_read(gid)];
        if with_owner {
            actions.push(BatchAction {
                method: Method::GET,
                relative_path: "/users/me".into(),
                data: None,
                options: Some(json!({ "fields": fields_list(OWNER_FIELDS) })),
            });
        }
        let mut results = self
            .core
            .client()
            .batch(&actions, Safety::Repeatable)
            .await?
            .into_iter();
        let (Some(task_res), Some(stories_res)) = (results.next(), results.next()) else {
            return Err(AsanaError::decode("POST /batch", "missing results").into());
        };
        let what = format!("GET /tasks/{gid}");
        let task_data = task_res
            .into_data(&Method::GET, &format!("/tasks/{gid}"))
            .and_then(|d| crate::answer::task(&what, d))
            .map_err(|e| self.core.not_found_as_ticket(e, gid))?;
        // Known before the authors' e-mails are looked up: the owner's is among them.
        let owner = match results.next() {
            Some(r) => match r.into_data(&Method::GET, "/users/me") {
                Ok(data) => Some(self.remember_owner(&data).await?),
                Err(e) => {
                    tracing::debug!(error = %e, "cannot read the token owner in a batch");
                    None
                }
            },
            None => None,
        };
        let stories = self.stories_of(gid, stories_res).await?;
        let users = task_user_gids(&task_data).chain(story_authors(&stories));
        let emails = self.core.emails_of(users).await?;
        let mut task = {
            let mut cache = self.core.cache.lock().await;
            let task = self.core.decode_task_with(&mut cache, &task_data, &emails);
            self.core.persist(&mut cache).await;
            task?
        };
        task.comments = decode_comments(&stories, &emails);
        Ok((task, owner))
    }

    /// Several tasks without their comments: one `POST /batch` per [`BATCH_ACTIONS`] tasks
    /// (`GET /tasks/{gid}` with the same fields as every other task read); a single task
    /// with a plain `GET /tasks/{gid}`.
    ///
    /// The map has one entry per distinct gid of `gids`: the task, or the error of that
    /// task's read (NotFound for a task that does not exist, InvalidInput without a request
    /// for a string that is no gid). Tasks outside the tickets project are returned with
    /// `in_project == false`. The call itself fails only when a whole batch fails (transport
    /// errors, 429 or 5xx after the retries, an unreadable answer).
    pub async fn get_remote_tasks(
        &self,
        gids: &[String],
    ) -> Result<HashMap<String, Result<RemoteTask>>> {
        let (mut out, wanted) = checked_gids(gids);
        if wanted.is_empty() {
            return Ok(out);
        }
        if let [gid] = wanted.as_slice() {
            // One task: a plain GET (no batch envelope to build and unwrap).
            let req = Request::get(format!("/tasks/{gid}")).fields(self.core.task_fields());
            let task = match self.core.client().data(&req).await {
                Ok(data) => {
                    let data = crate::answer::task(&format!("GET /tasks/{gid}"), data)?;
                    self.core.decode_task(&data).await
                }
                // Refused for this task (404, 403, 400 …): its entry, as in a batch.
                Err(e)
                    if e.status()
                        .is_some_and(|s| (400..500).contains(&s) && s != 429) =>
                {
                    Err(self.core.not_found_as_ticket(e, gid))
                }
                Err(e) => return Err(e.into()),
            };
            out.insert(gid.clone(), task);
            return Ok(out);
        }
        for chunk in wanted.chunks(BATCH_ACTIONS) {
            let actions: Vec<BatchAction> = chunk
                .iter()
                .map(|g| task_read(g, self.core.task_fields()))
                .collect();
            let results = self
                .core
                .client()
                .batch(&actions, Safety::Repeatable)
                .await?;
            let read: Vec<(&String, Result<Value>)> = chunk
                .iter()
                .zip(results)
                .map(|(gid, r)| {
                    let data = r
                        .into_data(&Method::GET, &format!("/tasks/{gid}"))
                        .and_then(|d| crate::answer::task(&format!("GET /tasks/{gid}"), d))
                        .map_err(|e| self.core.not_found_as_ticket(e, gid));
                    (gid, data)
                })
                .collect();
            let assignees = read
                .iter()
                .filter_map(|(_, r)| r.as_ref().ok())
                .flat_map(task_user_gids);
            let emails = self.core.emails_of(assignees).await?;
            let mut cache = self.core.cache.lock().await;
            for (gid, data) in read {
                let task = data.and_then(|d| self.core.decode_task_with(&mut cache, &d, &emails));
                out.insert(gid.clone(), task);
            }
            self.core.persist(&mut cache).await;
        }
        Ok(out)
    }

    /// The comments of several tasks, oldest first: one `POST /batch` per [`BATCH_ACTIONS`]
    /// tasks (`GET /tasks/{gid}/stories`, 100 stories each), plus one request per further
    /// 100 stories of a task that has more (for that task only). Asana has no endpoint that
    /// reads the stories of many tasks at once.
    ///
    /// The map has one entry per distinct gid of `gids`: its comments, or the error of that
    /// task's read (NotFound for a task that does not exist, InvalidInput without a request
    /// for a string that is no gid, or the failure of a further page). The call itself fails
    /// only when a whole batch fails (transport errors, 429 or 5xx after the retries, an
    /// unreadable answer).
    pub async fn stories_for_tasks(
        &self,
        gids: &[String],
    ) -> Result<HashMap<String, Result<Vec<RemoteComment>>>> {
        let (mut out, wanted) = checked_gids(gids);
        for chunk in wanted.chunks(BATCH_ACTIONS) {
            let actions: Vec<BatchAction> = chunk.iter().map(|g| stories_read(g)).collect();
            let results = self
                .core
                .client()
                .batch(&actions, Safety::Repeatable)
                .await?;
            let mut read = Vec::with_capacity(chunk.len());
            for (gid, r) in chunk.iter().zip(results) {
                read.push((gid, self.stories_of(gid, r).await));
            }
            let authors = read
                .iter()
                .filter_map(|(_, r)| r.as_ref().ok())
                .flat_map(story_authors);
            let emails = self.core.emails_of(authors).await?;
            self.core.persist(&mut *self.core.cache.lock().await).await;
            for (gid, stories) in read {
                out.insert(gid.clone(), stories.map(|s| decode_comments(&s, &emails)));
            }
        }
        Ok(out)
    }

    /// The stories of task `gid` from the answer to [`stories_read`], reading the further
    /// pages of a task with more than 100 stories.
    async fn stories_of(&self, gid: &str, first: BatchResult) -> Result<Value> {
        let path = format!("/tasks/{gid}/stories");
        let next = first
            .body
            .get("next_page")
            .and_then(|n| n.get("offset"))
            .and_then(Value::as_str)
            .filter(|o| !o.is_empty())
            .map(str::to_string);
        let mut stories = first
            .into_data(&Method::GET, &path)
            .map_err(|e| self.core.not_found_as_ticket(e, gid))?;
        if let Some(offset) = next {
            let rest = self
                .core
                .client()
                .get_all_from(Request::get(path).fields(STORY_FIELDS), Some(offset))
                .await
                .map_err(|e| self.core.not_found_as_ticket(e, gid))?;
            match &mut stories {
                // The offset expired and the listing began again: it holds every story.
                _ if rest.from_start => stories = Value::Array(rest.items),
                Value::Array(items) => items.extend(rest.items),
                _ => stories = Value::Array(rest.items),
            }
        }
        Ok(stories)
    }

    /// Every task of the project, optionally only those modified since a time
    /// (`GET /tasks?project=&modified_since=`; one request per 100 tasks). Comments are not
    /// included.
    pub async fn list_remote_tasks(
        &self,
        modified_since: Option<DateTime<Utc>>,
    ) -> Result<Vec<RemoteTask>> {
        let mut req = Request::get("/tasks")
            .param("project", self.core.project())
            .fields(self.core.task_fields());
        if let Some(t) = modified_since {
            req = req.param("modified_since", ts(t));
        }
        let items = self
            .core
            .client()
            .get_all(req)
            .await?
            .into_iter()
            .map(|item| crate::answer::task("GET /tasks", item))
            .collect::<Result<Vec<_>, _>>()?;
        self.core.decode_tasks(&items).await
    }

    /// The task whose notes end with the marker line of `marker`, among the tasks modified
    /// since `created_since` (all tasks when `None`). Anyone can copy a marker: see
    /// [`TaskClient::tasks_with_marker`] to choose among them.
    pub async fn find_task_by_marker(
        &self,
        marker: &str,
        created_since: Option<DateTime<Utc>>,
    ) -> Result<Option<RemoteTask>> {
        Ok(self
            .tasks_with_marker(marker, created_since)
            .await?
            .into_iter()
            .next())
    }

    /// Every task of the project whose notes end with the marker line of `marker`, among the
    /// tasks modified since `created_since` (all tasks when `None`), oldest first; each with
    /// its creator ([`RemoteTask::created_by`]) and creation time, so that the caller can
    /// tell its own task from a copy.
    pub async fn tasks_with_marker(
        &self,
        marker: &str,
        created_since: Option<DateTime<Utc>>,
    ) -> Result<Vec<RemoteTask>> {
        let since = created_since.map(|t| t - chrono::Duration::seconds(60));
        let mut found: Vec<RemoteTask> = self
            .list_remote_tasks(since)
            .await?
            .into_iter()
            .filter(|t| t.marker.as_deref() == Some(marker))
            .collect();
        found.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.gid.cmp(&b.gid)));
        Ok(found)
    }

    /// The story gid of the comment on task `gid` whose text contains `marker`, if any.
    pub async fn find_comment_by_marker(&self, gid: &str, marker: &str) -> Result<Option<String>> {
        check_gid(gid)?;
        let stories = self
            .core
            .client()
            .get_all(Request::get(format!("/tasks/{gid}/stories")).fields(STORY_FIELDS))
            .await
            .map_err(|e| self.core.not_found_as_ticket(e, gid))?;
        // Only the text is needed: no author e-mails.
        Ok(decode_comments(&Value::Array(stories), &HashMap::new())
            .into_iter()
            .find(|c| c.text.contains(marker))
            .map(|c| c.story_gid))
    }

    /// A page of the project's event stream (`GET /events?resource=<project>&sync=`).
    /// Without a token, or with one Asana no longer accepts (412), the answer is
    /// [`EventsPage::TokenInvalid`] with a fresh token.
    pub async fn events(&self, sync_token: Option<&str>) -> Result<EventsPage> {
        let mut req = Request::get("/events").param("resource", self.core.project());
        if let Some(t) = sync_token {
            req = req.param("sync", t);
        }
        let (status, body) = self.core.client().execute_raw(&req, 1).await?;
        let sync = str_field(&body, "sync").map(str::to_string);
        match status {
            412 => Ok(EventsPage::TokenInvalid {
                sync: sync.ok_or_else(|| {
                    Error::from(AsanaError::decode(
                        "GET /events",
                        "412 without a sync token",
                    ))
                })?,
            }),
            200..=299 => Ok(EventsPage::Events {
                events: crate::answer::page("GET /events", &body)?
                    .iter()
                    .filter_map(decode_event)
                    .collect(),
                sync: sync.ok_or_else(|| {
                    Error::from(AsanaError::decode("GET /events", "no sync token"))
                })?,
                has_more: body
                    .get("has_more")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            }),
            _ => Err(AsanaError::Status {
                status,
                method: "GET".into(),
                path: "/events".into(),
                message: self.core.client().error_message(&body),
            }
            .into()),
        }
    }

    /// The user the token acts for (`GET /users/me`, once per client; cached). Every story
    /// this client posts is created by this user.
    pub async fn token_owner(&self) -> Result<AsanaUser> {
        {
            let cache = self.core.cache.lock().await;
            if let Some(me) = &cache.me {
                return Ok(me.clone());
            }
        }
        let data = self
            .core
            .client()
            .data(&Request::get("/users/me").fields(OWNER_FIELDS))
            .await?;
        self.remember_owner(&data).await
    }

    /// Keeps the token owner of a `GET /users/me` answer.
    async fn remember_owner(&self, data: &Value) -> Result<AsanaUser> {
        let me = AsanaUser {
            gid: str_field(data, "gid").unwrap_or_default().to_string(),
            email: str_field(data, "email")
                .filter(|e| !e.is_empty())
                .map(str::to_string),
            name: str_field(data, "name")
                .filter(|n| !n.is_empty())
                .map(str::to_string),
        };
        if me.gid.is_empty() {
            return Err(AsanaError::decode("GET /users/me", "no gid").into());
        }
        self.core.cache.lock().await.me = Some(me.clone());
        // The owner authors every story this client posts: its e-mail is needed anyway.
        self.core.users.remember(vec![me.clone()]);
        Ok(me)
    }
}
