//! `asana-fake`: an in-memory HTTP server speaking the part of Asana's REST
//! API (`/api/1.0`) that the Asana ticket provider and the dual-write sync
//! provider use: tasks, sections, tags, stories, users, workspaces, projects,
//! the Events API, webhooks and the Batch API, with Asana's envelopes,
//! pagination, `opt_fields`, error bodies and status codes.
//!
//! Webhooks (`/webhooks`) go through Asana's handshake with their target and
//! then receive signed deliveries of task and story events, heartbeats,
//! retries and deletion after repeated failures; targets must be plain
//! `http://` loopback URLs. Tests read a webhook's health with
//! [`FakeAsana::webhook_health`], the deliveries with
//! [`FakeAsana::webhook_deliveries`], inject delivery faults with
//! [`FakeAsana::add_webhook_fault`], shorten Asana's hours with
//! [`FakeAsana::set_webhook_timing`], and check signatures with
//! [`webhook_signature`].
//!
//! Tests start one with [`FakeAsana::start`], point a client at
//! [`FakeAsana::base_url`] with [`FakeAsana::token`], and use the control
//! methods (faults, rate limit, latency, request log, sync-token expiry, a
//! plan without custom fields) and
//! [`FakeAsana::project_tasks`] for assertions. The same controls are served
//! over HTTP under `/_fake/` (see the crate README).

mod api;
mod control;
mod hooks;
mod model;
mod render;
mod request;
mod server;
mod strict;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use crate::control::{
    DeliveryFault, DeliveryOutcome, DeliveryRecord, Fault, RecordedRequest, WebhookFault,
    WebhookHealth, WebhookTiming,
};
pub use crate::hooks::webhook_signature;

/// A custom field [`FakeAsana::add_project_field`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MadeField {
    /// Its gid.
    pub gid: String,
    /// Its enum options' gids, by name.
    pub options: std::collections::BTreeMap<String, String>,
}
use crate::model::{Kind, State};
use crate::render::{render, FieldTree, Fields};
use crate::server::{lock, Shared};

/// Options for starting a [`FakeAsana`].
#[derive(Clone, Debug, Default)]
pub struct FakeOptions {
    /// The only bearer token accepted; `None` accepts any non-empty token
    /// (and [`FakeAsana::token`] returns a generated one).
    pub token: Option<String>,
    /// Per-token limit of requests per minute (sliding window); `None` = no limit.
    pub rate_limit_per_minute: Option<u32>,
}

/// The state of one task as seen from one project, for test assertions.
#[derive(Clone, Debug)]
pub struct TaskSnapshot {
    /// Task gid.
    pub gid: String,
    /// Task name.
    pub name: String,
    /// Plain-text notes.
    pub notes: String,
    /// Completion flag.
    pub completed: bool,
    /// Assignee's user gid.
    pub assignee_gid: Option<String>,
    /// The section of the project the task sits in.
    pub section_gid: Option<String>,
    /// That section's name.
    pub section_name: Option<String>,
    /// Names of the task's tags, in the order they were added.
    pub tag_names: Vec<String>,
    /// Texts of the comment stories, oldest first.
    pub comments: Vec<String>,
    /// The due date (`YYYY-MM-DD`) as the API reports `due_on` (also set when only
    /// `due_at` was written: its UTC date).
    pub due_on: Option<String>,
    /// The due time as the API reports `due_at` (UTC, milliseconds).
    pub due_at: Option<String>,
    /// The task's custom fields as the API lists them: (field name, `display_value`),
    /// `None` when unset.
    pub custom_fields: Vec<(String, Option<String>)>,
}

/// An edit made by a person in Asana's web app ([`FakeAsana::edit_as_person`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PersonEdit {
    /// A new name.
    Rename(String),
    /// New notes (the whole text).
    Notes(String),
    /// Ticks (`true`) or unticks the task.
    Completed(bool),
    /// Drags the task into the project's section of this name (created when missing).
    MoveToSection(String),
    /// Removes the task from the project (it lives on elsewhere).
    RemoveFromProject,
    /// Deletes the task.
    Delete,
}

/// A running fake Asana server. Dropping it shuts the server down.
pub struct FakeAsana {
    addr: SocketAddr,
    state: Shared,
    token: String,
    workspace: String,
    project: String,
    owner: String,
    owner_email: String,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

impl FakeAsana {
    /// Starts a server on `127.0.0.1` with an ephemeral port.
    pub async fn start(opts: FakeOptions) -> std::io::Result<FakeAsana> {
        FakeAsana::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), opts).await
    }

    /// Starts a server on `addr`. It holds one workspace, the token owner
    /// (`owner@example.com`) and one project with its default section.
    pub async fn start_on(addr: SocketAddr, opts: FakeOptions) -> std::io::Result<FakeAsana> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let base_url = format!("http://{addr}/api/1.0");
        let token = opts
            .token
            .clone()
            .unwrap_or_else(|| format!("fake-{}", uuid::Uuid::new_v4().simple()));
        let mut st = State::new(base_url, opts.token.clone());
        st.rate_limit = opts.rate_limit_per_minute;
        st.hook_client = Some(hooks::client().map_err(std::io::Error::other)?);
        let workspace = st.add_workspace("Fake Workspace");
        let owner_email = "owner@example.com".to_string();
        let owner = st.add_user("Fake Owner", &owner_email);
        st.owner = owner.clone();
        let project = st.add_project("Tickets", &workspace);
        let state: Shared = Arc::new(Mutex::new(st));
        let (tx, rx) = oneshot::channel::<()>();
        let app = server::router(state.clone());
        let handle = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = rx.await;
            });
            if let Err(e) = serve.await {
                eprintln!("asana-fake: server error: {e}");
            }
        });
        Ok(FakeAsana {
            addr,
            state,
            token,
            workspace,
            project,
            owner,
            owner_email,
            shutdown: Some(tx),
            handle: Some(handle),
        })
    }

    /// Base URL of the API, e.g. `http://127.0.0.1:PORT/api/1.0`.
    pub fn base_url(&self) -> String {
        format!("http://{}/api/1.0", self.addr)
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A bearer token the server accepts.
    pub fn token(&self) -> String {
        self.token.clone()
    }

    /// Gid of the workspace created at start.
    pub fn workspace_gid(&self) -> String {
        self.workspace.clone()
    }

    /// Gid of the project created at start.
    pub fn project_gid(&self) -> String {
        self.project.clone()
    }

    /// Gid of the token owner.
    pub fn owner_gid(&self) -> String {
        self.owner.clone()
    }

    /// Email of the token owner.
    pub fn owner_email(&self) -> String {
        self.owner_email.clone()
    }

    /// Adds a user to the workspace and returns its gid.
    pub fn add_user(&self, name: &str, email: &str) -> String {
        lock(&self.state).add_user(name, email)
    }

    /// Adds a comment story to task `task_gid` as user `user_gid` (as when that person
    /// comments in Asana's web app; the API only posts as the token owner) and returns the
    /// story gid.
    pub fn add_comment_as(&self, task_gid: &str, user_gid: &str, text: &str) -> String {
        let mut st = lock(&self.state);
        let gid = st.add_story(
            task_gid,
            "comment_added",
            text.to_string(),
            false,
            Vec::new(),
        );
        if let Some(story) = st.stories.get_mut(&gid) {
            story.created_by = user_gid.to_string();
        }
        gid
    }

    /// Makes task `task_gid` one that user `user_gid` created at `created_at` (as when that
    /// person creates a task in Asana's web app, perhaps long ago; the API only creates as
    /// the token owner, now). False for an unknown task.
    pub fn set_task_creator(
        &self,
        task_gid: &str,
        user_gid: &str,
        created_at: chrono::DateTime<chrono::Utc>,
    ) -> bool {
        let mut st = lock(&self.state);
        match st.tasks.get_mut(task_gid) {
            Some(t) => {
                t.created_by = user_gid.to_string();
                t.created_at = created_at;
                true
            }
            None => false,
        }
    }

    /// Changes task `task_gid` as a person would in Asana's web app: no request is logged,
    /// no fault or rate limit applies, and the change shows in the task's `modified_at`, its
    /// stories and the event streams, as an API write's would. Returns whether the task
    /// existed (and, for [`PersonEdit::MoveToSection`], was in `project_gid`).
    pub fn edit_as_person(&self, project_gid: &str, task_gid: &str, edit: PersonEdit) -> bool {
        let mut st = lock(&self.state);
        let in_project = st
            .tasks
            .get(task_gid)
            .map(|t| t.memberships.iter().any(|(p, _)| p == project_gid));
        let Some(in_project) = in_project else {
            return false;
        };
        match edit {
            PersonEdit::Rename(name) => st.set_task_name(task_gid, name),
            PersonEdit::Notes(notes) => st.set_task_notes(task_gid, notes),
            PersonEdit::Completed(done) => st.set_task_completed(task_gid, done),
            PersonEdit::MoveToSection(name) => {
                if !in_project {
                    return false;
                }
                let existing = st.projects.get(project_gid).and_then(|p| {
                    p.sections
                        .iter()
                        .find(|s| st.name_of(Kind::Section, s).as_deref() == Some(&name))
                        .cloned()
                });
                let section = match existing {
                    Some(s) => s,
                    None => st.add_section(project_gid, &name, &model::Position::End),
                };
                st.place_task(task_gid, &section, &model::Position::End, true);
            }
            PersonEdit::RemoveFromProject => st.remove_task_from_project(task_gid, project_gid),
            PersonEdit::Delete => st.delete_task(task_gid),
        }
        true
    }

    /// Makes a custom field in the workspace and adds it to the project, through the API
    /// as a person's script would (`POST /custom_fields`, then
    /// `POST /projects/{gid}/addCustomFieldSetting`): `subtype` is Asana's
    /// `resource_subtype`, `options` the enum options, `precision` a number's. Its gid and
    /// its options' gids by name, or the error Asana's answer gave.
    pub async fn add_project_field(
        &self,
        name: &str,
        subtype: &str,
        options: &[&str],
        precision: Option<u32>,
    ) -> Result<MadeField, String> {
        let mut data = serde_json::json!({
            "workspace": self.workspace_gid(), "name": name, "resource_subtype": subtype,
        });
        if !options.is_empty() {
            data["enum_options"] = options
                .iter()
                .map(|o| serde_json::json!({ "name": o }))
                .collect();
        }
        if let Some(p) = precision {
            data["precision"] = serde_json::json!(p);
        }
        let made = self.post("/custom_fields", data).await?;
        let gid = made["gid"]
            .as_str()
            .ok_or("no gid in the answer")?
            .to_string();
        let options = made["enum_options"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|o| {
                Some((
                    o["name"].as_str()?.to_string(),
                    o["gid"].as_str()?.to_string(),
                ))
            })
            .collect();
        let path = format!("/projects/{}/addCustomFieldSetting", self.project_gid());
        self.post(&path, serde_json::json!({ "custom_field": gid }))
            .await?;
        Ok(MadeField { gid, options })
    }

    /// `POST`s `{"data": data}` to `path` with the token; the answer's `data`.
    async fn post(&self, path: &str, data: serde_json::Value) -> Result<serde_json::Value, String> {
        let resp = reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(|e| e.to_string())?
            .post(format!("{}{path}", self.base_url()))
            .bearer_auth(self.token())
            .json(&serde_json::json!({ "data": data }))
            .send()
            .await
            .map_err(|e| format!("{path}: {e}"))?;
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.map_err(|e| format!("{path}: {e}"))?;
        if !status.is_success() {
            return Err(format!("{path}: {status} {body}"));
        }
        Ok(body["data"].clone())
    }

    /// Adds another project (with its default section) to the workspace and
    /// returns its gid.
    pub fn add_project(&self, name: &str) -> String {
        lock(&self.state).add_project(name, &self.workspace)
    }

    /// Deletes tag `tag_gid` as a person would in Asana's web app: the tag leaves every
    /// task that carried it, and later requests naming it are refused as unknown. Returns
    /// whether the tag existed.
    pub fn delete_tag(&self, tag_gid: &str) -> bool {
        let mut st = lock(&self.state);
        if st.tags.remove(tag_gid).is_none() {
            return false;
        }
        for t in st.tasks.values_mut() {
            t.tags.retain(|x| x != tag_gid);
        }
        true
    }

    /// Injects a fault (see [`Fault`]).
    pub fn add_fault(&self, fault: Fault) {
        lock(&self.state).faults.push(fault);
    }

    /// Removes every pending fault.
    pub fn clear_faults(&self) {
        lock(&self.state).faults.clear();
    }

    /// Sets (or with `None` lifts) the per-token requests-per-minute limit.
    pub fn set_rate_limit(&self, per_minute: Option<u32>) {
        let mut st = lock(&self.state);
        st.rate_limit = per_minute;
        st.rate_windows.clear();
    }

    /// Adds `delay` to every API request.
    pub fn set_latency(&self, delay: Duration) {
        lock(&self.state).latency = delay;
    }

    /// Every `/api/1.0` request so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state).requests.clone()
    }

    /// Forgets the request log.
    pub fn clear_requests(&self) {
        lock(&self.state).requests.clear();
    }

    /// Switches the workspace's plan between one with custom fields (the default) and
    /// one without: on a plan without, creating custom fields or enum options, updating
    /// enum options, adding or removing custom field settings and writing `custom_fields`
    /// on tasks answer 402 Payment Required. Reads keep working.
    pub fn set_custom_fields_plan(&self, premium: bool) {
        lock(&self.state).custom_fields_premium = premium;
    }

    /// Invalidates every sync token, so the next `GET /events` answers 412.
    pub fn expire_sync_tokens(&self) {
        lock(&self.state).sync_tokens.clear();
    }

    /// Invalidates every page offset issued so far: a list request carrying one answers 400.
    pub fn expire_offsets(&self) {
        lock(&self.state).offset_epoch += 1;
    }

    /// The most requests one token had in flight at once so far, as (reads, writes); a
    /// batch counts once per action. Asana allows 50 reads and 15 writes.
    pub fn in_flight_peak(&self) -> (u32, u32) {
        lock(&self.state).in_flight_peak
    }

    /// Every task of the project in project order (empty for an unknown project).
    pub fn project_tasks(&self, project_gid: &str) -> Vec<TaskSnapshot> {
        let st = lock(&self.state);
        st.project_task_gids(project_gid)
            .iter()
            .filter_map(|g| {
                let t = st.tasks.get(g)?;
                let section = t
                    .memberships
                    .iter()
                    .find(|(p, _)| p == project_gid)
                    .map(|(_, s)| s.clone());
                Some(TaskSnapshot {
                    gid: g.clone(),
                    name: t.name.clone(),
                    notes: t.notes.clone(),
                    completed: t.completed,
                    assignee_gid: t.assignee.clone(),
                    section_name: section.as_ref().and_then(|s| st.name_of(Kind::Section, s)),
                    section_gid: section,
                    tag_names: t
                        .tags
                        .iter()
                        .filter_map(|tag| st.name_of(Kind::Tag, tag))
                        .collect(),
                    comments: t
                        .stories
                        .iter()
                        .filter_map(|s| st.stories.get(s))
                        .filter(|s| s.story_type() == "comment")
                        .map(|s| s.text.clone())
                        .collect(),
                    due_on: t.due.due_on_text(),
                    due_at: t.due.due_at().map(model::ts),
                    custom_fields: task_custom_fields(&st, g),
                })
            })
            .collect()
    }

    /// Every webhook with its health, in creation order.
    pub fn webhooks(&self) -> Vec<WebhookHealth> {
        let st = lock(&self.state);
        st.webhooks
            .keys()
            .filter_map(|g| st.webhook_health(g))
            .collect()
    }

    /// The health of webhook `gid`; `None` once it is deleted (or for an unknown gid).
    pub fn webhook_health(&self, gid: &str) -> Option<WebhookHealth> {
        lock(&self.state).webhook_health(gid)
    }

    /// Every webhook delivery so far (heartbeats and dropped ones included), oldest first.
    pub fn webhook_deliveries(&self) -> Vec<DeliveryRecord> {
        lock(&self.state).deliveries.clone()
    }

    /// Injects a delivery fault (see [`WebhookFault`]).
    pub fn add_webhook_fault(&self, fault: WebhookFault) {
        let mut st = lock(&self.state);
        st.webhook_faults.push(fault);
        st.wake_deliverers();
    }

    /// Removes every pending delivery fault.
    pub fn clear_webhook_faults(&self) {
        lock(&self.state).webhook_faults.clear();
    }

    /// Sets the durations of heartbeats, timeouts, retries and deletion (for every
    /// webhook, from their next step on).
    pub fn set_webhook_timing(&self, timing: WebhookTiming) {
        let mut st = lock(&self.state);
        st.webhook_timing = timing;
        st.wake_deliverers();
    }

    /// The durations in force.
    pub fn webhook_timing(&self) -> WebhookTiming {
        lock(&self.state).webhook_timing
    }

    /// Stops the server, waiting briefly for open connections to finish.
    pub async fn shutdown(mut self) {
        self.stop_deliverers();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            let abort = handle.abort_handle();
            if tokio::time::timeout(Duration::from_secs(2), handle)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

/// (name, `display_value`) of each entry of a task's `custom_fields`, as rendered.
fn task_custom_fields(st: &State, task: &str) -> Vec<(String, Option<String>)> {
    let fields = Fields::Select(FieldTree::parse(
        "custom_fields.name,custom_fields.display_value",
    ));
    let v = render(st, Kind::Task, task, &fields);
    v["custom_fields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            (
                f["name"].as_str().unwrap_or_default().to_string(),
                f["display_value"].as_str().map(str::to_string),
            )
        })
        .collect()
}

impl FakeAsana {
    /// Aborts the webhook deliverers (they hold the state, so they would outlive the
    /// server otherwise).
    fn stop_deliverers(&self) {
        for task in lock(&self.state).hook_tasks.drain(..) {
            task.abort();
        }
    }
}

impl Drop for FakeAsana {
    fn drop(&mut self) {
        self.stop_deliverers();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
