//! [`AsanaProvider`]: tickets as tasks of one Asana project, and the lower-level task
//! operations the dual-write `sync` provider builds on.
//!
//! The project's sections (statuses) and the workspace's priority tags are looked up when a
//! write first needs them and cached by gid ([`Cache`]); missing ones are created on first
//! use. Reads never look them up: a task read carries its section's and tags' names. The
//! cache can outlive the process through a [`CacheStore`]; a cached gid Asana refuses as
//! unknown is dropped and the operation retried once ([`gone_refs`]). Every ticket
//! operation costs a fixed number of requests (see the crate documentation).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::Method;
use serde_json::{json, Value};
use ticket_provider_api::model::{validate_assignee, validate_reason};
use ticket_provider_api::{
    async_trait, BuildContext, Comment, Error, ErrorKind, Extensions, ListQuery, NewComment,
    NewTicket, Operation, OperationResult, Priority, ProviderInfo, Result, Status, Ticket,
    TicketDetails, TicketPage, TicketProvider, TicketUpdate,
};
use tokio::sync::Mutex;

use crate::attribution;
use crate::cache::{
    CacheFile, CacheKey, CacheStore, CachedOption, CachedPriorityField, CachedUser, ProjectCache,
};
use crate::client::{AsanaClient, BatchAction, BatchResult, Request, Safety};
use crate::config::AsanaSettings;
use crate::error::AsanaError;
use crate::priority_field::{self, ProjectField};
use crate::remote::{
    decode_comments, decode_event, due_body, due_field, epoch, notes_with_marker, split_marker,
    story_authors, str_field, time_field, user_gid, user_ref, EventsPage, RemoteComment,
    RemoteTask, TaskPlace,
};
use crate::users::{AsanaUser, UserDirectory};
use crate::PROVIDER_NAME;

/// Task fields every read asks for (each in the `opt_fields` enum of getTask, getTasks,
/// getTasksForProject, getTasksForSection, createTask and updateTask). The assignee comes as
/// a compact user; its e-mail comes from the [`UserDirectory`].
const TASK_FIELDS: &str = "name,notes,completed,created_at,modified_at,due_on,due_at,assignee,memberships.project.name,memberships.section.name,tags.name";
/// [`TASK_FIELDS`] and the task's custom fields with their enum values (names; gids always
/// come), when priority lives in a custom field. Tags stay: they tell the priority of tasks
/// tagged before the switch.
const TASK_FIELDS_WITH_CUSTOM_FIELDS: &str = "name,notes,completed,created_at,modified_at,due_on,due_at,assignee,memberships.project.name,memberships.section.name,tags.name,custom_fields.name,custom_fields.enum_value.name";
/// Story fields of comment reads (getStoriesForTask); the author's e-mail comes from the
/// [`UserDirectory`].
const STORY_FIELDS: &str = "created_at,created_by,created_by.name,resource_subtype,type,text";
/// Story fields of a new comment (createStoryForTask).
const NEW_STORY_FIELDS: &str = "created_at,text";
/// User fields of the users API (getUser).
const USER_FIELDS: &str = "email,name";
/// User fields of the token owner's read (`GET /users/me`).
const OWNER_FIELDS: &str = "email,name";

/// Sections and tags as last seen, keyed by gid.
#[derive(Debug, Default)]
struct Cache {
    /// The project's workspace.
    workspace_gid: Option<String>,
    /// Whether `sections` reflects a listing of the project's sections.
    sections_loaded: bool,
    /// Every section of the project: gid → name as last seen.
    sections: BTreeMap<String, String>,
    /// The section of each status.
    status_gid: BTreeMap<Status, String>,
    /// Whether the workspace's tags were listed.
    tags_loaded: bool,
    /// The tag of each priority.
    priority_gid: BTreeMap<Priority, String>,
    /// The priority custom field and the options found, once looked up (field mode only).
    priority_field: Option<CachedPriorityField>,
    /// The token owner (for the assignee filter `me`, and to tell our own stories).
    me: Option<AsanaUser>,
    /// What the [`CacheStore`] holds, as last loaded or saved (saves are skipped when
    /// nothing changed).
    saved: Option<ProjectCache>,
}

impl Cache {
    /// Takes what an earlier process learned, where this one knows nothing fresher. The
    /// priority field is taken only when it was looked up for the same configured field, and
    /// only its options found by the names configured now.
    fn restore(&mut self, saved: &ProjectCache, settings: &AsanaSettings) {
        if self.workspace_gid.is_none() {
            self.workspace_gid = saved.workspace_gid.clone();
        }
        for (gid, name) in &saved.sections {
            self.sections
                .entry(gid.clone())
                .or_insert_with(|| name.clone());
        }
        for (status, gid) in &saved.status_sections {
            self.status_gid
                .entry(*status)
                .or_insert_with(|| gid.clone());
        }
        for (priority, gid) in &saved.priority_tags {
            self.priority_gid
                .entry(*priority)
                .or_insert_with(|| gid.clone());
        }
        if self.priority_field.is_none() {
            if let (Some(field), Some(wanted)) = (&saved.priority_field, &settings.priority_field) {
                if field.configured == *wanted {
                    let mut field = field.clone();
                    field
                        .options
                        .retain(|p, o| o.name == settings.option_name(*p));
                    self.priority_field = Some(field);
                }
            }
        }
    }

    /// Drops a gid Asana no longer knows, so that the next use looks again.
    fn forget(&mut self, gone: &CachedRef) {
        match gone {
            CachedRef::Section(status, gid) => {
                if self.status_gid.get(status) == Some(gid) {
                    self.status_gid.remove(status);
                }
                self.sections.remove(gid);
                self.sections_loaded = false;
            }
            CachedRef::Tag(priority, gid) => {
                if self.priority_gid.get(priority) == Some(gid) {
                    self.priority_gid.remove(priority);
                }
                self.tags_loaded = false;
            }
            // The whole field is looked up again (one request, for its options too).
            CachedRef::Field(_) | CachedRef::FieldOption(_, _) => self.priority_field = None,
        }
    }

    fn status_of_gid(&self, gid: &str) -> Option<Status> {
        self.status_gid
            .iter()
            .find(|(_, g)| g.as_str() == gid)
            .map(|(s, _)| *s)
    }

    fn priority_of_gid(&self, gid: &str) -> Option<Priority> {
        self.priority_gid
            .iter()
            .find(|(_, g)| g.as_str() == gid)
            .map(|(p, _)| *p)
    }
}

struct Inner {
    settings: AsanaSettings,
    client: AsanaClient,
    cache: Mutex<Cache>,
    users: UserDirectory,
    /// Keeps the cache between processes, when there is one.
    store: Option<Arc<dyn CacheStore>>,
    /// Set once the store's cache was taken into `cache` and `users`.
    restored: tokio::sync::OnceCell<()>,
}

/// A cached gid a request used: the section of a status, the tag of a priority, the
/// priority custom field or the option of a priority in it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum CachedRef {
    Section(Status, String),
    Tag(Priority, String),
    Field(String),
    FieldOption(Priority, String),
}

impl CachedRef {
    fn gid(&self) -> &str {
        match self {
            CachedRef::Section(_, g)
            | CachedRef::Tag(_, g)
            | CachedRef::Field(g)
            | CachedRef::FieldOption(_, g) => g,
        }
    }
}

/// How a write sets a priority: the tag to put on the task, or the option to choose in the
/// priority custom field.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PriorityWrite {
    Tag(String),
    Field { field: String, option: String },
}

impl PriorityWrite {
    /// The cached gids the write uses.
    fn refs(&self, priority: Priority) -> Vec<CachedRef> {
        match self {
            PriorityWrite::Tag(t) => vec![CachedRef::Tag(priority, t.clone())],
            PriorityWrite::Field { field, option } => vec![
                CachedRef::Field(field.clone()),
                CachedRef::FieldOption(priority, option.clone()),
            ],
        }
    }

    /// Adds the priority to the body of a `POST /tasks`.
    fn on_create(&self, data: &mut Value) {
        match self {
            PriorityWrite::Tag(t) => data["tags"] = json!([t]),
            PriorityWrite::Field { field, option } => {
                data["custom_fields"] = json!({ field.as_str(): option })
            }
        }
    }
}

/// The cached gids among `used` that Asana's refusal (`status`, `message`) says it no
/// longer knows: all of them for a 404 (Asana does not say which object is missing), those
/// the message names for a 400 ("tags: Not a recognized ID: 123"), none otherwise.
fn gone_refs(status: u16, message: &str, used: &[CachedRef]) -> Vec<CachedRef> {
    match status {
        404 => used.to_vec(),
        400 => used
            .iter()
            .filter(|r| names_gid(message, r.gid()))
            .cloned()
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether `message` names `gid` as a whole word (so "12" is not found in "123").
fn names_gid(message: &str, gid: &str) -> bool {
    !gid.is_empty()
        && message
            .split(|c: char| !c.is_ascii_digit())
            .any(|word| word == gid)
}

/// Tickets as tasks of one Asana project. Cheap to clone (an `Arc` inside); safe to use from
/// many tasks at once.
#[derive(Clone)]
pub struct AsanaProvider {
    inner: Arc<Inner>,
}

impl fmt::Debug for AsanaProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsanaProvider")
            .field("settings", &self.inner.settings)
            .field("client", &self.inner.client)
            .finish()
    }
}

/// `opt_fields` of a create whose caller needs only the gid (always sent) and `modified_at`
/// (both in the `opt_fields` enum of createTask).
const LEAN_TASK_FIELDS: &str = "modified_at";

/// The gid of a task just created and when Asana last modified it (see
/// [`AsanaProvider::create_task_lean`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedTask {
    /// The new task's gid.
    pub gid: String,
    /// When Asana last modified it.
    pub modified_at: DateTime<Utc>,
}

/// Checks a marker: one non-empty line without `]`.
fn check_marker(marker: &str) -> Result<()> {
    if marker.trim().is_empty() || marker.contains(']') || marker.contains('\n') {
        return Err(Error::invalid_input(format!(
            "marker {marker:?} must be one non-empty line without ']'"
        )));
    }
    Ok(())
}

/// Checks that a ticket guid is a task gid (digits only), without any request.
fn check_gid(guid: &str) -> Result<()> {
    if guid.is_empty() || guid.len() > 40 || !guid.chars().all(|c| c.is_ascii_digit()) {
        return Err(Error::invalid_input(format!(
            "ticket guid {guid:?} is not an Asana task gid (a string of digits)"
        ))
        .with_guid(guid));
    }
    Ok(())
}

fn fields_list(fields: &str) -> Value {
    Value::Array(fields.split(',').map(|f| json!(f)).collect())
}

/// Keys already warned about, for warnings worth one line per process.
struct WarnOnce(std::sync::Mutex<Option<HashSet<String>>>);

impl WarnOnce {
    const fn new() -> Self {
        WarnOnce(std::sync::Mutex::new(None))
    }

    /// True the first time `key` is seen, false after.
    fn first(&self, key: &str) -> bool {
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        seen.get_or_insert_with(HashSet::new)
            .insert(key.to_string())
    }
}

/// Sections that map to no status, warned about once per process.
static UNMAPPED_SECTIONS: WarnOnce = WarnOnce::new();

/// Options of the priority field that map to no priority, warned about once per process.
static UNMAPPED_OPTIONS: WarnOnce = WarnOnce::new();

/// Most actions in one `POST /batch` (Asana's limit).
pub const BATCH_ACTIONS: usize = 10;

/// The batch action that reads task `gid` with `fields` (see
/// [`AsanaProvider::task_fields`]).
fn task_read(gid: &str, fields: &str) -> BatchAction {
    BatchAction {
        method: Method::GET,
        relative_path: format!("/tasks/{gid}"),
        data: None,
        options: Some(json!({ "fields": fields_list(fields) })),
    }
}

/// The batch action that reads the first 100 stories of task `gid` with [`STORY_FIELDS`].
fn stories_read(gid: &str) -> BatchAction {
    BatchAction {
        method: Method::GET,
        relative_path: format!("/tasks/{gid}/stories"),
        data: None,
        options: Some(json!({ "fields": fields_list(STORY_FIELDS), "limit": 100 })),
    }
}

/// Splits `gids` into the errors of those that are no task gid and the distinct valid ones,
/// in their first order.
fn checked_gids<T>(gids: &[String]) -> (HashMap<String, Result<T>>, Vec<String>) {
    let mut errors = HashMap::new();
    let mut seen = HashSet::new();
    let mut valid = Vec::new();
    for g in gids {
        if !seen.insert(g.as_str()) {
            continue;
        }
        match check_gid(g) {
            Ok(()) => valid.push(g.clone()),
            Err(e) => {
                errors.insert(g.clone(), Err(e));
            }
        }
    }
    (errors, valid)
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A list cursor: the sort key of the last ticket of the previous page.
fn encode_cursor(t: &Ticket) -> String {
    format!("{}~{}", t.created_at.timestamp_millis(), t.guid)
}

fn decode_cursor(c: &str) -> Result<(i64, String)> {
    let bad = || {
        Error::invalid_input(format!(
            "cursor {c:?} is not a cursor of the asana provider; pass next_cursor of the previous page"
        ))
    };
    let (ms, gid) = c.split_once('~').ok_or_else(bad)?;
    let ms: i64 = ms.parse().map_err(|_| bad())?;
    if gid.is_empty() || !gid.chars().all(|x| x.is_ascii_digit()) {
        return Err(bad());
    }
    Ok((ms, gid.to_string()))
}

/// Newest first: created_at descending, then gid descending (gids as numbers of equal
/// length compare like strings of digits once lengths are compared).
fn newest_first(a: &Ticket, b: &Ticket) -> std::cmp::Ordering {
    b.created_at
        .timestamp_millis()
        .cmp(&a.created_at.timestamp_millis())
        .then_with(|| b.guid.len().cmp(&a.guid.len()))
        .then_with(|| b.guid.cmp(&a.guid))
}

fn after_cursor(t: &Ticket, key: &(i64, String)) -> bool {
    let ms = t.created_at.timestamp_millis();
    if ms != key.0 {
        return ms < key.0;
    }
    (t.guid.len(), t.guid.as_str()) < (key.1.len(), key.1.as_str())
}

impl AsanaProvider {
    /// A provider for `settings` (checked with [`AsanaSettings::validate`]). No request is
    /// made until the first operation.
    pub fn new(settings: AsanaSettings) -> Result<Self> {
        Self::with_users(settings, UserDirectory::new())
    }

    /// Like [`AsanaProvider::new`], with a [`UserDirectory`] of your own (say one backed by a
    /// persistent [`crate::UserStore`]).
    /// The cache is kept in [`AsanaSettings::cache_path`] when set.
    pub fn with_users(settings: AsanaSettings, users: UserDirectory) -> Result<Self> {
        let store = settings
            .cache_path
            .clone()
            .map(|p| Arc::new(CacheFile::new(p)) as Arc<dyn CacheStore>);
        Self::build(settings, users, store)
    }

    /// Like [`AsanaProvider::new`], keeping what the provider learns (section, tag and user
    /// gids) in `store` between processes instead of [`AsanaSettings::cache_path`].
    pub fn with_cache_store(settings: AsanaSettings, store: Arc<dyn CacheStore>) -> Result<Self> {
        Self::build(settings, UserDirectory::new(), Some(store))
    }

    fn build(
        settings: AsanaSettings,
        users: UserDirectory,
        store: Option<Arc<dyn CacheStore>>,
    ) -> Result<Self> {
        settings.validate()?;
        let client = AsanaClient::new(&settings).map_err(Error::from)?;
        Ok(AsanaProvider {
            inner: Arc::new(Inner {
                settings,
                client,
                cache: Mutex::new(Cache::default()),
                users,
                store,
                restored: tokio::sync::OnceCell::new(),
            }),
        })
    }

    /// Builds a provider from the configuration (`homechoice.ticket.asana_*`) and the token
    /// from `ASANA_ACCESS_TOKEN` (read through the context). Errors name the missing key or
    /// environment variable.
    pub async fn from_config(ctx: &BuildContext) -> Result<Self> {
        Self::new(AsanaSettings::from_context(ctx)?)
    }

    /// The settings in use.
    pub fn settings(&self) -> &AsanaSettings {
        &self.inner.settings
    }

    /// The task fields of every task read: [`TASK_FIELDS`], with the custom fields when
    /// priority lives in one.
    fn task_fields(&self) -> &'static str {
        if self.inner.settings.priority_field.is_some() {
            TASK_FIELDS_WITH_CUSTOM_FIELDS
        } else {
            TASK_FIELDS
        }
    }

    /// The project gid.
    fn project(&self) -> &str {
        &self.inner.settings.project_gid
    }

    fn client(&self) -> &AsanaClient {
        &self.inner.client
    }

    /// Every request this provider (and its clones) sent so far, by HTTP status, and the
    /// time spent waiting on 429 answers: what metrics report.
    pub fn request_stats(&self) -> crate::client::RequestStatsSnapshot {
        self.inner.client.stats()
    }

    // ------------------------------------------------------------------
    // Cache

    /// Which server and project the cache describes.
    fn cache_key(&self) -> CacheKey {
        CacheKey {
            base_url: self.inner.settings.base_url.clone(),
            project_gid: self.project().to_string(),
        }
    }

    /// Takes what the [`CacheStore`] kept from earlier processes (once per provider, no
    /// request). Call it before locking the cache.
    async fn restore(&self) {
        let Some(store) = &self.inner.store else {
            return;
        };
        self.inner
            .restored
            .get_or_init(|| async {
                let Some(saved) = store.load(&self.cache_key()).await else {
                    return;
                };
                self.inner.users.seed(saved.asana_users());
                let mut cache = self.inner.cache.lock().await;
                cache.restore(&saved, &self.inner.settings);
                cache.saved = Some(saved);
            })
            .await;
    }

    /// What the store should hold now.
    fn snapshot(&self, cache: &Cache) -> ProjectCache {
        ProjectCache {
            workspace_gid: cache.workspace_gid.clone(),
            sections: cache.sections.clone(),
            status_sections: cache.status_gid.clone(),
            priority_tags: cache.priority_gid.clone(),
            priority_field: cache.priority_field.clone(),
            users: self
                .inner
                .users
                .readable()
                .into_iter()
                .map(|u| {
                    (
                        u.gid,
                        CachedUser {
                            email: u.email,
                            name: u.name,
                        },
                    )
                })
                .collect(),
        }
    }

    /// Saves the cache in the store when it changed since the last load or save.
    async fn persist(&self, cache: &mut Cache) {
        let Some(store) = &self.inner.store else {
            return;
        };
        let now = self.snapshot(cache);
        if cache.saved.as_ref() == Some(&now) {
            return;
        }
        store.save(&self.cache_key(), &now).await;
        cache.saved = Some(now);
    }

    /// Drops the gids among `used` that Asana's refusal `e` says are gone (see
    /// [`gone_refs`]) and saves the corrected cache. True when one was dropped: the caller
    /// retries once.
    async fn drop_gone(&self, e: &AsanaError, used: &[CachedRef]) -> bool {
        let Some((status, message)) = e.refusal() else {
            return false;
        };
        let gone = gone_refs(status, message, used);
        if gone.is_empty() {
            return false;
        }
        let mut cache = self.inner.cache.lock().await;
        for g in &gone {
            tracing::warn!(gid = %g.gid(), "Asana no longer knows a cached section, tag, custom field or option; looking again");
            cache.forget(g);
        }
        self.persist(&mut cache).await;
        true
    }

    async fn load_project(&self, cache: &mut Cache) -> Result<()> {
        let req = Request::get(format!("/projects/{}", self.project())).fields("name,workspace");
        let data = self.client().data(&req).await.map_err(|e| {
            if e.status() == Some(404) {
                Error::new(
                    ErrorKind::Config,
                    format!(
                        "the Asana project {} does not exist or is not visible to the token; check homechoice.ticket.asana_project",
                        self.project()
                    ),
                )
            } else {
                e.into_error()
            }
        })?;
        let ws = data
            .get("workspace")
            .and_then(|w| str_field(w, "gid"))
            .ok_or_else(|| {
                Error::from(AsanaError::decode(
                    "GET /projects/{gid}",
                    "the project has no workspace gid",
                ))
            })?;
        cache.workspace_gid = Some(ws.to_string());
        Ok(())
    }

    async fn load_sections(&self, cache: &mut Cache) -> Result<()> {
        let req = Request::get(format!("/projects/{}/sections", self.project())).fields("name");
        let items = self.client().get_all(req).await?;
        let listed: Vec<(String, String)> = items
            .iter()
            .filter_map(|s| {
                Some((
                    str_field(s, "gid")?.to_string(),
                    str_field(s, "name").unwrap_or_default().to_string(),
                ))
            })
            .collect();
        for status in Status::ALL {
            let wanted = self.inner.settings.section_name(status);
            if let Some(gid) = cache.status_gid.get(&status).cloned() {
                match listed.iter().find(|(g, _)| *g == gid) {
                    Some((_, name)) => {
                        if *name != wanted {
                            tracing::warn!(
                                status = %status, section_gid = %gid, expected = %wanted, found = %name,
                                "the Asana section of this status was renamed; still using it (rename it back or set homechoice.ticket.asana_sections)"
                            );
                        }
                        continue;
                    }
                    None => {
                        tracing::warn!(status = %status, section_gid = %gid, "the Asana section of this status is gone");
                        cache.status_gid.remove(&status);
                    }
                }
            }
            let mut matching = listed.iter().filter(|(_, n)| *n == wanted);
            if let Some((gid, _)) = matching.next() {
                if matching.next().is_some() {
                    tracing::warn!(status = %status, section = %wanted, using = %gid, "the project has several sections with this name; using the first");
                }
                cache.status_gid.insert(status, gid.clone());
            }
        }
        cache.sections = listed.into_iter().collect();
        cache.sections_loaded = true;
        Ok(())
    }

    async fn load_tags(&self, cache: &mut Cache) -> Result<()> {
        let ws = cache.workspace_gid.clone().unwrap_or_default();
        let req = Request::get(format!("/workspaces/{ws}/tags")).fields("name");
        let items = self.client().get_all(req).await?;
        for priority in Priority::ALL {
            if cache.priority_gid.contains_key(&priority) {
                continue;
            }
            let wanted = self.inner.settings.tag_name(priority);
            // Several tags may carry the name (duplicate names are allowed): take the oldest,
            // the one every process settles on (see `settle_tag`).
            if let Some(gid) = items
                .iter()
                .filter(|t| str_field(t, "name") == Some(wanted.as_str()))
                .filter_map(|t| str_field(t, "gid"))
                .min_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)))
            {
                cache.priority_gid.insert(priority, gid.to_string());
            }
        }
        cache.tags_loaded = true;
        Ok(())
    }

    /// The section gid of `status`: cached, else found by listing the project's sections
    /// (1 request), else created (see [`Self::settle_section`]).
    async fn section_for(&self, status: Status) -> Result<String> {
        self.restore().await;
        let mut cache = self.inner.cache.lock().await;
        if let Some(gid) = cache.status_gid.get(&status) {
            return Ok(gid.clone());
        }
        if !cache.sections_loaded {
            self.load_sections(&mut cache).await?;
            self.persist(&mut cache).await;
            if let Some(gid) = cache.status_gid.get(&status) {
                return Ok(gid.clone());
            }
        }
        let name = self.inner.settings.section_name(status);
        tracing::info!(status = %status, section = %name, "creating the missing Asana section");
        let req = Request::write(
            Method::POST,
            format!("/projects/{}/sections", self.project()),
            json!({ "name": name }),
            Safety::Create,
        )
        .fields("name");
        match self.client().data(&req).await {
            Ok(data) => {
                let gid = str_field(&data, "gid")
                    .ok_or_else(|| {
                        Error::from(AsanaError::decode(
                            "POST /projects/{gid}/sections",
                            "no gid",
                        ))
                    })?
                    .to_string();
                let gid = self.settle_section(&name, gid).await;
                cache.sections.insert(gid.clone(), name);
                cache.status_gid.insert(status, gid.clone());
                self.persist(&mut cache).await;
                Ok(gid)
            }
            Err(e) => {
                // It may have been created after all: list the sections again next time.
                cache.sections_loaded = false;
                Err(e.into())
            }
        }
    }

    /// The tag gid of `priority`: cached, else found by listing the workspace's tags (1
    /// request, plus 1 for the workspace when that is not cached either), else created in
    /// the workspace (see [`Self::settle_tag`]).
    async fn tag_for(&self, priority: Priority) -> Result<String> {
        self.restore().await;
        let mut cache = self.inner.cache.lock().await;
        if let Some(gid) = cache.priority_gid.get(&priority) {
            return Ok(gid.clone());
        }
        if cache.workspace_gid.is_none() {
            self.load_project(&mut cache).await?;
        }
        if !cache.tags_loaded {
            self.load_tags(&mut cache).await?;
            self.persist(&mut cache).await;
            if let Some(gid) = cache.priority_gid.get(&priority) {
                return Ok(gid.clone());
            }
        }
        let name = self.inner.settings.tag_name(priority);
        let ws = cache.workspace_gid.clone().unwrap_or_default();
        tracing::info!(priority = %priority, tag = %name, "creating the missing Asana tag");
        let req = Request::write(
            Method::POST,
            format!("/workspaces/{ws}/tags"),
            json!({ "name": name }),
            Safety::Create,
        )
        .fields("name");
        match self.client().data(&req).await {
            Ok(data) => {
                let gid = str_field(&data, "gid")
                    .ok_or_else(|| {
                        Error::from(AsanaError::decode("POST /workspaces/{gid}/tags", "no gid"))
                    })?
                    .to_string();
                let gid = self.settle_tag(&ws, &name, gid).await;
                cache.priority_gid.insert(priority, gid.clone());
                self.persist(&mut cache).await;
                Ok(gid)
            }
            Err(e) => {
                cache.tags_loaded = false;
                Err(e.into())
            }
        }
    }

    /// Looks the priority custom field up among the project's custom field settings (one
    /// `GET /projects/{gid}/custom_field_settings`, 100 settings per request) and caches its
    /// gid and the enabled option of each priority. Fails when the field is not on the
    /// project or is no enum field; a missing or disabled option is not an error here (see
    /// [`Self::field_option_for`]). Returns the field as listed.
    async fn load_priority_field(&self, cache: &mut Cache) -> Result<ProjectField> {
        let settings = &self.inner.settings;
        let wanted = settings.priority_field.clone().unwrap_or_default();
        let req = Request::get(format!(
            "/projects/{}/custom_field_settings",
            self.project()
        ))
        .fields(priority_field::SETTINGS_FIELDS);
        let listing = self.client().get_all(req).await.map_err(|e| match e.status() {
            Some(402) => priority_field::no_custom_fields_plan().into_error(),
            Some(404) => Error::new(
                ErrorKind::Config,
                format!(
                    "the Asana project {} does not exist or is not visible to the token; check homechoice.ticket.asana_project",
                    self.project()
                ),
            ),
            _ => e.into_error(),
        })?;
        let fields = priority_field::project_fields(&listing);
        let known = cache.priority_field.as_ref().map(|f| f.gid.clone());
        let Some(field) = priority_field::find_field(&fields, &wanted, known.as_deref()).cloned()
        else {
            cache.priority_field = None;
            return Err(
                priority_field::not_on_project(&wanted, self.project(), &fields).into_error(),
            );
        };
        if field.subtype != "enum" {
            cache.priority_field = None;
            return Err(priority_field::not_enum(&field, self.project()).into_error());
        }
        if !priority_field::is_wanted(&field.gid, &field.name, &wanted) {
            tracing::warn!(
                field_gid = %field.gid, expected = %wanted, found = %field.name,
                "the Asana priority field was renamed; still using it (rename it back or set homechoice.ticket.asana_priority_field)"
            );
        }
        let options = Priority::ALL
            .into_iter()
            .filter_map(|p| {
                let gid = priority_field::option_of(settings, &field, p).ok()?;
                Some((
                    p,
                    CachedOption {
                        gid,
                        name: settings.option_name(p),
                    },
                ))
            })
            .collect();
        cache.priority_field = Some(CachedPriorityField {
            configured: wanted,
            gid: field.gid.clone(),
            name: field.name.clone(),
            options,
        });
        Ok(field)
    }

    /// The priority field's gid and the gid of `priority`'s option in it: cached, else
    /// looked up (see [`Self::load_priority_field`]). A missing or disabled option is a
    /// `Config` error naming the option and the field.
    async fn field_option_for(&self, priority: Priority) -> Result<(String, String)> {
        self.restore().await;
        let mut cache = self.inner.cache.lock().await;
        if let Some(f) = &cache.priority_field {
            if let Some(o) = f.options.get(&priority) {
                return Ok((f.gid.clone(), o.gid.clone()));
            }
        }
        let loaded = self.load_priority_field(&mut cache).await;
        self.persist(&mut cache).await;
        let field = loaded?;
        priority_field::option_of(&self.inner.settings, &field, priority)
            .map(|option| (field.gid.clone(), option))
            .map_err(priority_field::Problem::into_error)
    }

    /// How a write sets `priority`: the priority field's option in field mode, else the tag.
    async fn priority_write(&self, priority: Priority) -> Result<PriorityWrite> {
        if self.inner.settings.priority_field.is_some() {
            let (field, option) = self.field_option_for(priority).await?;
            Ok(PriorityWrite::Field { field, option })
        } else {
            Ok(PriorityWrite::Tag(self.tag_for(priority).await?))
        }
    }

    /// The error of a refused task write; `custom_fields`: whether it set the priority field
    /// (a 402 then means the plan has no custom fields).
    fn task_write_error(&self, e: AsanaError, custom_fields: bool) -> Error {
        if custom_fields && e.status() == Some(402) {
            let mut problem = priority_field::no_custom_fields_plan();
            if let Some(m) = e.asana_message() {
                problem.fix = format!("{} (Asana said: {m})", problem.fix);
            }
            problem.into_error()
        } else {
            e.into()
        }
    }

    /// After creating section `name` as `ours`: several processes starting at once may each
    /// have created one. Lists the sections again (one request) and settles on the first
    /// section of that name in project order, which every process agrees on; our own
    /// duplicate, still empty, is deleted. Any failure here keeps `ours`.
    async fn settle_section(&self, name: &str, ours: String) -> String {
        let req = Request::get(format!("/projects/{}/sections", self.project())).fields("name");
        let listed = match self.client().get_all(req).await {
            Ok(items) => items,
            Err(e) => {
                tracing::debug!(error = %e, "cannot list sections after creating one; keeping ours");
                return ours;
            }
        };
        let first = listed
            .iter()
            .filter(|s| str_field(s, "name") == Some(name))
            .find_map(|s| str_field(s, "gid"))
            .map(str::to_string);
        match first {
            Some(first) if first != ours => {
                tracing::info!(section = %name, using = %first, duplicate = %ours, "another process created this section at the same time; using the first and deleting ours");
                // deleteSection takes no body.
                let del = Request::delete(format!("/sections/{ours}"));
                if let Err(e) = self.client().data(&del).await {
                    tracing::warn!(section = %name, duplicate = %ours, error = %e, "cannot delete the duplicate section");
                }
                first
            }
            _ => ours,
        }
    }

    /// After creating tag `name` as `ours`: settles, like [`Self::settle_section`], on the
    /// tag of that name with the smallest gid (the oldest), so that concurrent processes agree.
    /// The duplicate tag is left in place (it is on no task); any failure keeps `ours`.
    async fn settle_tag(&self, workspace: &str, name: &str, ours: String) -> String {
        let req = Request::get(format!("/workspaces/{workspace}/tags")).fields("name");
        let Ok(items) = self.client().get_all(req).await else {
            return ours;
        };
        let oldest = items
            .iter()
            .filter(|t| str_field(t, "name") == Some(name))
            .filter_map(|t| str_field(t, "gid"))
            .min_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)))
            .map(str::to_string);
        match oldest {
            Some(oldest) if oldest != ours => {
                tracing::info!(tag = %name, using = %oldest, duplicate = %ours, "another process created this tag at the same time; using the oldest");
                oldest
            }
            _ => ours,
        }
    }

    // ------------------------------------------------------------------
    // Decoding

    /// Decodes a task record (as returned for [`TASK_FIELDS`]), with its assignee's e-mail.
    async fn decode_task(&self, v: &Value) -> Result<RemoteTask> {
        let mut tasks = self.decode_tasks(std::slice::from_ref(v)).await?;
        tasks
            .pop()
            .ok_or_else(|| AsanaError::decode("a task", "nothing to decode").into())
    }

    /// Decodes task records, looking up the e-mails of their assignees first (one batch per
    /// 10 users never seen).
    async fn decode_tasks(&self, items: &[Value]) -> Result<Vec<RemoteTask>> {
        let emails = self
            .emails_of(items.iter().filter_map(|v| user_gid(v, "assignee")))
            .await?;
        let mut cache = self.inner.cache.lock().await;
        let tasks = items
            .iter()
            .map(|v| self.decode_task_with(&mut cache, v, &emails))
            .collect();
        // Users read and section gids learned from the tasks outlive the process.
        self.persist(&mut cache).await;
        tasks
    }

    /// The e-mails of the users `gids` (gid → e-mail; a user without a readable e-mail is
    /// left out): from the [`UserDirectory`] (with the users of earlier processes), else
    /// from Asana's users API, 10 users per `POST /batch`. A user Asana does not show
    /// (404/403) reads as its gid. The caller saves the cache afterwards.
    async fn emails_of<'a>(
        &self,
        gids: impl IntoIterator<Item = &'a str>,
    ) -> Result<HashMap<String, String>> {
        self.restore().await;
        let (mut emails, missing) = self.inner.users.split(gids);
        for chunk in missing.chunks(BATCH_ACTIONS) {
            let actions: Vec<BatchAction> = chunk
                .iter()
                .map(|g| BatchAction {
                    method: Method::GET,
                    relative_path: format!("/users/{g}"),
                    data: None,
                    options: Some(json!({ "fields": fields_list(USER_FIELDS) })),
                })
                .collect();
            let results = self.client().batch(&actions, Safety::Repeatable).await?;
            let mut read = Vec::new();
            for (gid, r) in chunk.iter().zip(results) {
                let status = r.status;
                match r.into_data(&Method::GET, &format!("/users/{gid}")) {
                    Ok(u) => read.push(AsanaUser {
                        gid: gid.clone(),
                        email: str_field(&u, "email")
                            .filter(|e| !e.is_empty())
                            .map(str::to_string),
                        name: str_field(&u, "name").map(str::to_string),
                    }),
                    Err(e) if matches!(status, 403 | 404) => {
                        tracing::debug!(user_gid = %gid, error = %e, "cannot read an Asana user; showing its gid");
                        self.inner.users.remember_unreadable(gid);
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            for u in &read {
                if let Some(e) = &u.email {
                    emails.insert(u.gid.clone(), e.clone());
                }
            }
            self.inner.users.remember(read);
        }
        Ok(emails)
    }

    fn decode_task_with(
        &self,
        cache: &mut Cache,
        v: &Value,
        emails: &HashMap<String, String>,
    ) -> Result<RemoteTask> {
        let gid = str_field(v, "gid")
            .ok_or_else(|| Error::from(AsanaError::decode("a task", "the task has no gid")))?
            .to_string();
        let notes = str_field(v, "notes").unwrap_or_default();
        let (description, marker) = split_marker(notes);
        let membership = v
            .get("memberships")
            .and_then(Value::as_array)
            .and_then(|ms| {
                ms.iter().find(|m| {
                    m.get("project").and_then(|p| str_field(p, "gid")) == Some(self.project())
                })
            });
        let in_project = membership.is_some();
        let section = membership.and_then(|m| m.get("section"));
        let section_gid = section
            .and_then(|s| str_field(s, "gid"))
            .map(str::to_string);
        let section_name = section
            .and_then(|s| str_field(s, "name"))
            .map(str::to_string);
        let status = self.status_of_section(cache, section_gid.as_deref(), section_name.as_deref());
        let mut priority = None;
        if self.inner.settings.priority_field.is_some() {
            priority = self.priority_of_field(cache, &gid, v);
        }
        // In field mode, tags tell the priority of a task whose field has no value (tagged
        // before the switch).
        if let (None, Some(tags)) = (priority, v.get("tags").and_then(Value::as_array)) {
            let mut priority_tag: Option<Priority> = None;
            for t in tags {
                let by_gid = str_field(t, "gid").and_then(|g| cache.priority_of_gid(g));
                let by_name = str_field(t, "name").and_then(|n| {
                    Priority::ALL
                        .into_iter()
                        .find(|p| self.inner.settings.tag_name(*p) == n)
                });
                if let Some(p) = by_gid.or(by_name) {
                    if priority_tag.is_some_and(|q| q != p) {
                        tracing::warn!(task = %gid, "the task has several priority tags; reporting the highest");
                    }
                    priority_tag = Some(priority_tag.map_or(p, |q: Priority| q.max(p)));
                }
            }
            priority = priority_tag;
        }
        Ok(RemoteTask {
            gid,
            subject: str_field(v, "name").unwrap_or_default().to_string(),
            description,
            marker,
            status,
            section_name,
            priority,
            assignee: v.get("assignee").and_then(|a| user_ref(a, emails)),
            completed: v.get("completed").and_then(Value::as_bool).unwrap_or(false),
            due: due_field(v),
            in_project,
            created_at: time_field(v, "created_at").unwrap_or_else(epoch),
            modified_at: time_field(v, "modified_at")
                .or_else(|| time_field(v, "created_at"))
                .unwrap_or_else(epoch),
            comments: Vec::new(),
        })
    }

    /// The priority a task's value of the priority custom field stands for: the entry of
    /// `custom_fields` with the cached field gid (else the configured gid or name), its
    /// `enum_value` by cached option gid, else by the configured option names. `None` when
    /// the task has no value (or the field is not on its projects); an option no priority
    /// maps to reads as `None` too, with a warning once per option.
    fn priority_of_field(&self, cache: &Cache, task: &str, v: &Value) -> Option<Priority> {
        let settings = &self.inner.settings;
        let wanted = settings.priority_field.as_deref()?;
        let entries = v.get("custom_fields").and_then(Value::as_array)?;
        let cached = cache.priority_field.as_ref();
        let entry = cached
            .and_then(|c| {
                entries
                    .iter()
                    .find(|f| str_field(f, "gid") == Some(c.gid.as_str()))
            })
            .or_else(|| {
                entries.iter().find(|f| {
                    priority_field::is_wanted(
                        str_field(f, "gid").unwrap_or_default(),
                        str_field(f, "name").unwrap_or_default(),
                        wanted,
                    )
                })
            })?;
        let value = entry.get("enum_value").filter(|e| e.is_object())?;
        let option_gid = str_field(value, "gid");
        let by_gid = cached.and_then(|c| {
            c.options
                .iter()
                .find(|(_, o)| Some(o.gid.as_str()) == option_gid)
                .map(|(p, _)| *p)
        });
        let name = str_field(value, "name").unwrap_or_default();
        let by_name = || {
            Priority::ALL
                .into_iter()
                .find(|p| settings.option_name(*p) == name)
                .or_else(|| {
                    Priority::ALL
                        .into_iter()
                        .find(|p| settings.option_name(*p).eq_ignore_ascii_case(name))
                })
        };
        let found = by_gid.or_else(by_name);
        if found.is_none() && UNMAPPED_OPTIONS.first(name) {
            tracing::warn!(
                task = %task, option = %name,
                "a task's priority field holds an option that maps to no priority; reporting the task's priority tag if it has one, else normal (warned once per option; see homechoice.ticket.asana_priority_options)"
            );
        }
        found
    }

    /// The status of a section, noticing renamed sections (keyed on gid, reported once).
    fn status_of_section(
        &self,
        cache: &mut Cache,
        gid: Option<&str>,
        name: Option<&str>,
    ) -> Option<Status> {
        let gid = gid?;
        if let Some(status) = cache.status_of_gid(gid) {
            if let Some(name) = name {
                let known = cache.sections.get(gid).map(String::as_str);
                if known != Some(name) {
                    tracing::warn!(
                        status = %status, section_gid = %gid, was = known.unwrap_or(""), now = %name,
                        "the Asana section of this status was renamed; still using it by gid"
                    );
                    cache.sections.insert(gid.to_string(), name.to_string());
                }
            }
            return Some(status);
        }
        let name = name?;
        let status = Status::ALL
            .into_iter()
            .find(|s| self.inner.settings.section_name(*s) == name)?;
        match cache.status_gid.entry(status) {
            std::collections::btree_map::Entry::Occupied(_) => {
                tracing::warn!(status = %status, section_gid = %gid, section = %name, "another section carries this status' name; treating it as the same status");
            }
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(gid.to_string());
                cache.sections.insert(gid.to_string(), name.to_string());
            }
        }
        Some(status)
    }

    /// The ticket status of a task: unmapped sections read as NEW, with a warning once per
    /// section and process (a list of 100 such tasks logs one line, not 100).
    fn ticket_status(task: &RemoteTask) -> Status {
        match task.status {
            Some(s) => s,
            None => {
                let section = task.section_name.as_deref().unwrap_or("<none>");
                if UNMAPPED_SECTIONS.first(section) {
                    tracing::warn!(
                        task = %task.gid,
                        section,
                        "a task is in a section that maps to no status; reporting it and every other task of this section as NEW (warned once per section)"
                    );
                }
                Status::New
            }
        }
    }

    fn to_ticket(&self, task: &RemoteTask) -> Ticket {
        Ticket {
            guid: task.gid.clone(),
            status: Self::ticket_status(task),
            provider: PROVIDER_NAME.to_string(),
            subject: task.subject.clone(),
            description: task.description.clone(),
            priority: task.priority.unwrap_or_default(),
            assignee: task.assignee.clone(),
            due: task.due,
            created_at: task.created_at,
            updated_at: task.modified_at,
            asana_gid: Some(task.gid.clone()),
            sync_state: None,
        }
    }

    fn result(&self, gid: &str, status: Status) -> OperationResult {
        let mut r = OperationResult::new(gid, status, PROVIDER_NAME);
        r.asana_gid = Some(gid.to_string());
        r
    }

    /// A task that is not in the tickets project is no ticket of ours.
    fn require_in_project(&self, task: RemoteTask) -> Result<RemoteTask> {
        if task.in_project {
            Ok(task)
        } else {
            Err(Error::new(
                ErrorKind::NotFound,
                format!(
                    "Asana task {} is not in the tickets project {}",
                    task.gid,
                    self.project()
                ),
            )
            .with_guid(task.gid))
        }
    }

    /// Tells an unknown user from an unknown task after a 400/404 answer to a write naming
    /// `assignee`: asks Asana for the user (one more request, only on this error path).
    async fn explain_assignee_error(&self, err: AsanaError, assignee: &str) -> Error {
        if !matches!(err.status(), Some(400 | 404)) {
            return err.into();
        }
        let asana_says_assignee = err
            .asana_message()
            .is_some_and(|m| m.to_ascii_lowercase().contains("assignee"));
        let lookup = self
            .client()
            .data(&Request::get(format!("/users/{}", encode_path(assignee))).fields("email"))
            .await;
        match lookup {
            Err(e) if asana_says_assignee || matches!(e.status(), Some(400 | 404)) => {
                Error::invalid_input(format!(
                    "unknown Asana user {assignee:?}: give the e-mail or gid of a member of the workspace, or \"me\""
                ))
            }
            _ => err.into(),
        }
    }

    // ------------------------------------------------------------------
    // Lower-level operations (public, for the sync provider)

    /// The project's workspace gid (loads the cache on first use).
    pub async fn workspace_gid(&self) -> Result<String> {
        self.restore().await;
        let mut cache = self.inner.cache.lock().await;
        if cache.workspace_gid.is_none() {
            self.load_project(&mut cache).await?;
            self.persist(&mut cache).await;
        }
        Ok(cache.workspace_gid.clone().unwrap_or_default())
    }

    /// Creates a task in `status`, with `new`'s fields and `[ticket-guid: <marker>]` as the
    /// last line of its notes, in ONE request (`POST /tasks`). A 5xx or timeout is not
    /// repeated (the task may exist): the error is temporary `Unavailable`; look for the task
    /// with [`AsanaProvider::find_task_by_marker`] before trying again.
    pub async fn create_task_with_marker(
        &self,
        new: &NewTicket,
        status: Status,
        marker: &str,
    ) -> Result<RemoteTask> {
        new.validate()?;
        check_marker(marker)?;
        self.create_task(new, status, Some(marker)).await
    }

    /// [`Self::create_task_with_marker`] for a caller that needs only the new task's gid and
    /// when Asana last modified it: the answer carries only those (`opt_fields=modified_at`),
    /// a much cheaper answer for Asana to build and for this client to read than the whole
    /// task. The same single request, with the same retry rules.
    pub async fn create_task_lean(
        &self,
        new: &NewTicket,
        status: Status,
        marker: &str,
    ) -> Result<CreatedTask> {
        new.validate()?;
        check_marker(marker)?;
        let answer = self
            .post_task(new, status, Some(marker), LEAN_TASK_FIELDS)
            .await?;
        let decode = |what: &str| AsanaError::decode("POST /tasks", what);
        let gid = str_field(&answer, "gid").ok_or_else(|| decode("the new task has no gid"))?;
        let modified_at = time_field(&answer, "modified_at")
            .ok_or_else(|| decode("the new task has no readable modified_at"))?;
        Ok(CreatedTask {
            gid: gid.to_string(),
            modified_at,
        })
    }

    async fn create_task(
        &self,
        new: &NewTicket,
        status: Status,
        marker: Option<&str>,
    ) -> Result<RemoteTask> {
        let answer = self
            .post_task(new, status, marker, self.task_fields())
            .await?;
        let mut task = self.decode_task(&answer).await?;
        // Trust what was asked for where the answer is silent (a lean server or opt_fields
        // not honoured): the task was created in this section with this tag.
        if task.status.is_none() {
            task.status = Some(status);
        }
        if task.priority.is_none() {
            task.priority = Some(new.priority);
        }
        if task.due.is_none() && answer.get("due_on").is_none() && answer.get("due_at").is_none() {
            task.due = new.due;
        }
        task.in_project = true;
        Ok(task)
    }

    /// `POST /tasks` of `new` in the section of `status` (with the marker line), asking for
    /// `fields`; the answer's data. A refusal naming a cached section, tag or option that is
    /// gone is sent again once with it looked up again.
    async fn post_task(
        &self,
        new: &NewTicket,
        status: Status,
        marker: Option<&str>,
        fields: &str,
    ) -> Result<Value> {
        let mut retried = false;
        let field_mode = self.inner.settings.priority_field.is_some();
        let answer = loop {
            let section = self.section_for(status).await?;
            let priority = self.priority_write(new.priority).await?;
            let mut data = json!({
                "name": new.subject,
                "notes": notes_with_marker(&new.description, marker),
                "projects": [self.project()],
                "memberships": [{"project": self.project(), "section": section}],
            });
            priority.on_create(&mut data);
            if status.is_terminal() {
                data["completed"] = json!(true);
            }
            if let Some(a) = &new.assignee {
                data["assignee"] = json!(a.trim());
            }
            if let Some(due) = &new.due {
                let (key, value) = due_body(Some(due));
                data[key] = value;
            }
            let req = Request::write(Method::POST, "/tasks", data, Safety::Create).fields(fields);
            match self.client().data(&req).await {
                Ok(v) => break v,
                // A refused create made no task: with the gone section, tag, field or
                // option dropped from the cache, it is safe to send it again, once. An
                // answer about the assignee is not about the cache.
                Err(e)
                    if !retried
                        && !e
                            .asana_message()
                            .is_some_and(|m| m.to_ascii_lowercase().contains("assignee"))
                        && self
                            .drop_gone(
                                &e,
                                &[CachedRef::Section(status, section)]
                                    .into_iter()
                                    .chain(priority.refs(new.priority))
                                    .collect::<Vec<_>>(),
                            )
                            .await =>
                {
                    retried = true;
                }
                Err(e) if e.status() == Some(402) => {
                    return Err(self.task_write_error(e, field_mode))
                }
                Err(e) => {
                    return Err(match &new.assignee {
                        Some(a) => self.explain_assignee_error(e, a.trim()).await,
                        None => e.into(),
                    })
                }
            }
        };
        Ok(answer)
    }

    /// The task with its comments (one `POST /batch` with two reads, plus one request per
    /// further 100 stories). Fails with NotFound when the task does not exist.
    pub async fn get_remote_task(&self, gid: &str) -> Result<RemoteTask> {
        Ok(self.read_task(gid, false).await?.0)
    }

    /// [`Self::get_remote_task`], reading the token owner in the same `POST /batch` when
    /// `with_owner` (`None` when that read failed).
    async fn read_task(
        &self,
        gid: &str,
        with_owner: bool,
    ) -> Result<(RemoteTask, Option<AsanaUser>)> {
        check_gid(gid)?;
        let mut actions = vec![task_read(gid, self.task_fields()), stories_read(gid)];
        if with_owner {
            actions.push(BatchAction {
                method: Method::GET,
                relative_path: "/users/me".into(),
                data: None,
                options: Some(json!({ "fields": fields_list(OWNER_FIELDS) })),
            });
        }
        let mut results = self
            .client()
            .batch(&actions, Safety::Repeatable)
            .await?
            .into_iter();
        let (Some(task_res), Some(stories_res)) = (results.next(), results.next()) else {
            return Err(AsanaError::decode("POST /batch", "missing results").into());
        };
        let task_data = task_res
            .into_data(&Method::GET, &format!("/tasks/{gid}"))
            .map_err(|e| self.not_found_as_ticket(e, gid))?;
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
        let users = user_gid(&task_data, "assignee")
            .into_iter()
            .chain(story_authors(&stories));
        let emails = self.emails_of(users).await?;
        let mut task = {
            let mut cache = self.inner.cache.lock().await;
            let task = self.decode_task_with(&mut cache, &task_data, &emails);
            self.persist(&mut cache).await;
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
            let req = Request::get(format!("/tasks/{gid}")).fields(self.task_fields());
            let task = match self.client().data(&req).await {
                Ok(data) => self.decode_task(&data).await,
                // Refused for this task (404, 403, 400 …): its entry, as in a batch.
                Err(e)
                    if e.status()
                        .is_some_and(|s| (400..500).contains(&s) && s != 429) =>
                {
                    Err(self.not_found_as_ticket(e, gid))
                }
                Err(e) => return Err(e.into()),
            };
            out.insert(gid.clone(), task);
            return Ok(out);
        }
        for chunk in wanted.chunks(BATCH_ACTIONS) {
            let actions: Vec<BatchAction> = chunk
                .iter()
                .map(|g| task_read(g, self.task_fields()))
                .collect();
            let results = self.client().batch(&actions, Safety::Repeatable).await?;
            if results.len() != chunk.len() {
                return Err(AsanaError::decode("POST /batch", "missing results").into());
            }
            let read: Vec<(&String, Result<Value>)> = chunk
                .iter()
                .zip(results)
                .map(|(gid, r)| {
                    let data = r
                        .into_data(&Method::GET, &format!("/tasks/{gid}"))
                        .map_err(|e| self.not_found_as_ticket(e, gid));
                    (gid, data)
                })
                .collect();
            let assignees = read
                .iter()
                .filter_map(|(_, r)| r.as_ref().ok())
                .filter_map(|v| user_gid(v, "assignee"));
            let emails = self.emails_of(assignees).await?;
            let mut cache = self.inner.cache.lock().await;
            for (gid, data) in read {
                let task = data.and_then(|d| self.decode_task_with(&mut cache, &d, &emails));
                out.insert(gid.clone(), task);
            }
            self.persist(&mut cache).await;
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
            let results = self.client().batch(&actions, Safety::Repeatable).await?;
            if results.len() != chunk.len() {
                return Err(AsanaError::decode("POST /batch", "missing results").into());
            }
            let mut read = Vec::with_capacity(chunk.len());
            for (gid, r) in chunk.iter().zip(results) {
                read.push((gid, self.stories_of(gid, r).await));
            }
            let authors = read
                .iter()
                .filter_map(|(_, r)| r.as_ref().ok())
                .flat_map(story_authors);
            let emails = self.emails_of(authors).await?;
            self.persist(&mut *self.inner.cache.lock().await).await;
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
            .map_err(|e| self.not_found_as_ticket(e, gid))?;
        if let Some(offset) = next {
            let rest = self
                .client()
                .get_all_from(Request::get(path).fields(STORY_FIELDS), Some(offset))
                .await
                .map_err(|e| self.not_found_as_ticket(e, gid))?;
            match &mut stories {
                // The offset expired and the listing began again: it holds every story.
                _ if rest.from_start => stories = Value::Array(rest.items),
                Value::Array(items) => items.extend(rest.items),
                _ => stories = Value::Array(rest.items),
            }
        }
        Ok(stories)
    }

    fn not_found_as_ticket(&self, e: AsanaError, gid: &str) -> Error {
        if e.status() == Some(404) {
            Error::ticket_not_found(gid)
        } else {
            e.into()
        }
    }

    /// Every task of the project, optionally only those modified since a time
    /// (`GET /tasks?project=&modified_since=`; one request per 100 tasks). Comments are not
    /// included.
    pub async fn list_remote_tasks(
        &self,
        modified_since: Option<DateTime<Utc>>,
    ) -> Result<Vec<RemoteTask>> {
        let mut req = Request::get("/tasks")
            .param("project", self.project())
            .fields(self.task_fields());
        if let Some(t) = modified_since {
            req = req.param("modified_since", ts(t));
        }
        let items = self.client().get_all(req).await?;
        self.decode_tasks(&items).await
    }

    /// The task whose notes end with the marker line of `marker`, among the tasks modified
    /// since `created_since` (all tasks when `None`).
    pub async fn find_task_by_marker(
        &self,
        marker: &str,
        created_since: Option<DateTime<Utc>>,
    ) -> Result<Option<RemoteTask>> {
        let since = created_since.map(|t| t - chrono::Duration::seconds(60));
        Ok(self
            .list_remote_tasks(since)
            .await?
            .into_iter()
            .find(|t| t.marker.as_deref() == Some(marker)))
    }

    /// Posts a comment (a story with `text`) and returns its story gid. One request; not
    /// repeated on 5xx/timeout (see [`AsanaProvider::find_comment_by_marker`]).
    pub async fn post_comment(&self, gid: &str, text: &str) -> Result<String> {
        check_gid(gid)?;
        self.post_story(gid, text).await
    }

    /// Posts a story and returns its gid (one `POST /tasks/{gid}/stories`).
    async fn post_story(&self, gid: &str, text: &str) -> Result<String> {
        let req = Request::write(
            Method::POST,
            format!("/tasks/{gid}/stories"),
            json!({ "text": text }),
            Safety::Create,
        )
        .fields(NEW_STORY_FIELDS);
        let data = self
            .client()
            .data(&req)
            .await
            .map_err(|e| self.not_found_as_ticket(e, gid))?;
        story_gid(&data)
    }

    /// Posts a story and reads the task's status in the same `POST /batch` (a new story's
    /// documented `target` is a compact task, without its sections). Returns the story gid
    /// and the status. Like every create, it is not repeated once it may have reached Asana.
    async fn post_story_with_status(&self, gid: &str, text: &str) -> Result<(String, Status)> {
        let path = format!("/tasks/{gid}/stories");
        let actions = [
            BatchAction {
                method: Method::POST,
                relative_path: path.clone(),
                data: Some(json!({ "text": text })),
                options: Some(json!({ "fields": fields_list(NEW_STORY_FIELDS) })),
            },
            task_read(gid, self.task_fields()),
        ];
        let mut results = self
            .client()
            .batch(&actions, Safety::Create)
            .await?
            .into_iter();
        let (Some(story_res), Some(task_res)) = (results.next(), results.next()) else {
            return Err(AsanaError::decode("POST /batch", "missing results").into());
        };
        let story = story_res
            .into_data(&Method::POST, &path)
            .map_err(|e| self.not_found_as_ticket(e, gid))
            .and_then(|d| story_gid(&d))?;
        // The comment exists: a failed read of the status costs one more read, not an error.
        let task = match task_res.into_data(&Method::GET, &format!("/tasks/{gid}")) {
            Ok(data) => self.decode_task(&data).await?,
            Err(_) => self.get_remote_task(gid).await?,
        };
        Ok((story, Self::ticket_status(&task)))
    }

    /// The story gid of the comment on task `gid` whose text contains `marker`, if any.
    pub async fn find_comment_by_marker(&self, gid: &str, marker: &str) -> Result<Option<String>> {
        check_gid(gid)?;
        let stories = self
            .client()
            .get_all(Request::get(format!("/tasks/{gid}/stories")).fields(STORY_FIELDS))
            .await
            .map_err(|e| self.not_found_as_ticket(e, gid))?;
        // Only the text is needed: no author e-mails.
        Ok(decode_comments(&Value::Array(stories), &HashMap::new())
            .into_iter()
            .find(|c| c.text.contains(marker))
            .map(|c| c.story_gid))
    }

    /// Changes subject, description, priority and/or due date of a task, keeping its marker
    /// line. Returns the task as changed.
    ///
    /// With priority tags: two requests, a read (current notes and tags), then one batch
    /// with the PUT and the tag changes (addTag new, removeTag old). With the priority in a
    /// custom field (`asana_priority_field`): one `PUT /tasks/{gid}` carrying every change,
    /// the field's option included; a new description first reads the task (one more
    /// request) for the marker line. That single PUT checks the task's project in its answer
    /// (like [`TicketProvider::assign`]): a task outside the tickets project is `NotFound`,
    /// but its name or due date may have been written (a priority is refused by Asana when
    /// the field is not on the task's projects).
    pub async fn set_fields(&self, gid: &str, changes: &TicketUpdate) -> Result<RemoteTask> {
        check_gid(gid)?;
        changes.validate()?;
        if self.inner.settings.priority_field.is_some() {
            return self.set_fields_with_priority_field(gid, changes).await;
        }
        let data = self
            .client()
            .data(&Request::get(format!("/tasks/{gid}")).fields(self.task_fields()))
            .await
            .map_err(|e| self.not_found_as_ticket(e, gid))?;
        let task = self.require_in_project(self.decode_task(&data).await?)?;
        // The task's tags: gid, and whether it is a priority tag (by cached gid, or by name
        // when this process has not cached that priority's tag).
        let old_tags: Vec<(String, bool)> = {
            let cache = self.inner.cache.lock().await;
            data.get("tags")
                .and_then(Value::as_array)
                .map(|ts| {
                    ts.iter()
                        .filter_map(|t| {
                            let gid = str_field(t, "gid")?.to_string();
                            let by_gid = cache.priority_of_gid(&gid).is_some();
                            let by_name = str_field(t, "name").is_some_and(|n| {
                                Priority::ALL
                                    .into_iter()
                                    .any(|p| self.inner.settings.tag_name(p) == n)
                            });
                            Some((gid, by_gid || by_name))
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut actions = Vec::new();
        let put = task_put(changes, task.marker.as_deref());
        if !put.is_empty() {
            actions.push(BatchAction {
                method: Method::PUT,
                relative_path: format!("/tasks/{gid}"),
                data: Some(Value::Object(put)),
                options: None,
            });
        }
        let mut retried = false;
        loop {
            let mut actions = actions.clone();
            let new_tag = match changes.priority {
                Some(p) => {
                    let new_tag = self.tag_for(p).await?;
                    if !old_tags.iter().any(|(t, _)| *t == new_tag) {
                        actions.push(BatchAction {
                            method: Method::POST,
                            relative_path: format!("/tasks/{gid}/addTag"),
                            data: Some(json!({ "tag": new_tag })),
                            options: None,
                        });
                    }
                    for (old, _) in old_tags
                        .iter()
                        .filter(|(t, priority)| *priority && *t != new_tag)
                    {
                        actions.push(BatchAction {
                            method: Method::POST,
                            relative_path: format!("/tasks/{gid}/removeTag"),
                            data: Some(json!({ "tag": old })),
                            options: None,
                        });
                    }
                    Some(CachedRef::Tag(p, new_tag))
                }
                None => None,
            };
            match self.send_actions(&actions).await {
                Ok(()) => break,
                // Every action is idempotent: the batch is sent again with the tag found
                // again (the PUT sets the same values twice).
                Err(e)
                    if !retried
                        && e.path().is_some_and(|p| p.ends_with("/addTag"))
                        && self.drop_gone(&e, new_tag.as_slice()).await =>
                {
                    retried = true;
                }
                Err(e) => return Err(self.not_found_as_ticket(e, gid)),
            }
        }
        let mut task = task;
        if let Some(s) = &changes.subject {
            task.subject = s.clone();
        }
        if let Some(d) = &changes.description {
            task.description = d.clone();
        }
        if let Some(p) = changes.priority {
            task.priority = Some(p);
        }
        if let Some(due) = changes.due {
            task.due = due;
        }
        Ok(task)
    }

    /// [`Self::set_fields`] with the priority in a custom field: one `PUT`, plus a read
    /// first when the description changes.
    async fn set_fields_with_priority_field(
        &self,
        gid: &str,
        changes: &TicketUpdate,
    ) -> Result<RemoteTask> {
        let marker = match changes.description {
            Some(_) => {
                let data = self
                    .client()
                    .data(&Request::get(format!("/tasks/{gid}")).fields(self.task_fields()))
                    .await
                    .map_err(|e| self.not_found_as_ticket(e, gid))?;
                self.require_in_project(self.decode_task(&data).await?)?
                    .marker
            }
            None => None,
        };
        let mut retried = false;
        let answer = loop {
            let mut put = task_put(changes, marker.as_deref());
            let mut used = Vec::new();
            if let Some(p) = changes.priority {
                let (field, option) = self.field_option_for(p).await?;
                put.insert("custom_fields".into(), json!({ field.as_str(): option }));
                used = vec![CachedRef::Field(field), CachedRef::FieldOption(p, option)];
            }
            let req = Request::write(
                Method::PUT,
                format!("/tasks/{gid}"),
                Value::Object(put),
                Safety::Repeatable,
            )
            .fields(self.task_fields());
            match self.client().data(&req).await {
                Ok(v) => break v,
                // A 400 naming the cached field or option: nothing was written; look the
                // field up again and send the PUT once more. (A 404 is the task's.)
                Err(e)
                    if !retried && e.status() == Some(400) && self.drop_gone(&e, &used).await =>
                {
                    retried = true;
                }
                Err(e) if e.status() == Some(404) => return Err(self.not_found_as_ticket(e, gid)),
                Err(e) => return Err(self.task_write_error(e, !used.is_empty())),
            }
        };
        let mut task = self.require_in_project(self.decode_task(&answer).await?)?;
        // Trust what was asked for where the answer is silent (a lean server).
        if task.priority.is_none() {
            task.priority = changes.priority;
        }
        if answer.get("due_on").is_none() && answer.get("due_at").is_none() {
            if let Some(due) = changes.due {
                task.due = due;
            }
        }
        Ok(task)
    }

    /// Sends idempotent actions, 10 per `POST /batch`; the first refused action is the
    /// error.
    async fn send_actions(&self, actions: &[BatchAction]) -> Result<(), AsanaError> {
        for chunk in actions.chunks(BATCH_ACTIONS) {
            let results = self.client().batch(chunk, Safety::Repeatable).await?;
            for (a, r) in chunk.iter().zip(results) {
                r.into_data(&a.method, &a.relative_path)?;
            }
        }
        Ok(())
    }

    /// Moves a task to the section of `status` and sets `completed` (true for RESOLVED,
    /// CLOSED, CANCELLED, false otherwise): one `POST /batch` with `addTask` and the `PUT`.
    pub async fn move_task(&self, gid: &str, status: Status) -> Result<()> {
        check_gid(gid)?;
        for attempt in 0..2 {
            let section = self.section_for(status).await?;
            let actions = [
                BatchAction {
                    method: Method::POST,
                    relative_path: format!("/sections/{section}/addTask"),
                    data: Some(json!({ "task": gid })),
                    options: None,
                },
                BatchAction {
                    method: Method::PUT,
                    relative_path: format!("/tasks/{gid}"),
                    data: Some(json!({ "completed": status.is_terminal() })),
                    options: Some(json!({ "fields": ["completed"] })),
                },
            ];
            let results = self.client().batch(&actions, Safety::Repeatable).await?;
            let mut results = results.into_iter();
            let (Some(add), Some(put)) = (results.next(), results.next()) else {
                return Err(AsanaError::decode("POST /batch", "missing results").into());
            };
            put.into_data(&Method::PUT, &format!("/tasks/{gid}"))
                .map_err(|e| self.not_found_as_ticket(e, gid))?;
            match add.into_data(&Method::POST, &format!("/sections/{section}/addTask")) {
                Ok(_) => return Ok(()),
                // The task exists (the PUT worked), so a 404 (or a 400 naming the section)
                // means the cached section is gone.
                Err(e)
                    if attempt == 0
                        && self
                            .drop_gone(&e, &[CachedRef::Section(status, section.clone())])
                            .await => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::new(
            ErrorKind::Unavailable,
            format!("could not move task {gid} to the section of {status}"),
        ))
    }

    /// [`Self::move_task`] for a task read moments ago as at `seen`: only what differs is
    /// written. Nothing when the task is in a section of `status` and `completed` is as
    /// wanted already; a plain `POST /sections/{gid}/addTask` when only the section differs;
    /// a plain `PUT /tasks/{gid}` when only `completed` does; otherwise the batch of
    /// [`Self::move_task`]. A section gone from the cache is looked up again once, as there;
    /// a task Asana no longer knows is `NotFound` (once the batch of [`Self::move_task`]
    /// confirms it).
    pub async fn move_task_from(&self, gid: &str, status: Status, seen: TaskPlace) -> Result<()> {
        check_gid(gid)?;
        let complete = status.is_terminal();
        match (seen.status == Some(status), seen.completed == complete) {
            (true, true) => Ok(()),
            (false, false) => self.move_task(gid, status).await,
            (true, false) => {
                let req = Request::write(
                    Method::PUT,
                    format!("/tasks/{gid}"),
                    json!({ "completed": complete }),
                    Safety::Repeatable,
                )
                .fields("completed");
                self.client()
                    .data(&req)
                    .await
                    .map_err(|e| self.not_found_as_ticket(e, gid))?;
                Ok(())
            }
            (false, true) => {
                for attempt in 0..2 {
                    let section = self.section_for(status).await?;
                    let req = Request::write(
                        Method::POST,
                        format!("/sections/{section}/addTask"),
                        json!({ "task": gid }),
                        Safety::Repeatable,
                    );
                    match self.client().data(&req).await {
                        Ok(_) => return Ok(()),
                        // A refusal about the task itself ("task: Not a recognized ID: <gid>"
                        // when it is gone): the batch says what is wrong with the task
                        // (its PUT answers 404 for a task that is gone).
                        Err(e)
                            if e.refusal()
                                .is_some_and(|(s, m)| s == 400 && names_gid(m, gid)) =>
                        {
                            return self.move_task(gid, status).await;
                        }
                        Err(e)
                            if attempt == 0
                                && self
                                    .drop_gone(&e, &[CachedRef::Section(status, section.clone())])
                                    .await => {}
                        Err(e) => return Err(self.not_found_as_ticket(e, gid)),
                    }
                }
                Err(Error::new(
                    ErrorKind::Unavailable,
                    format!("could not move task {gid} to the section of {status}"),
                ))
            }
        }
    }

    /// A page of the project's event stream (`GET /events?resource=<project>&sync=`).
    /// Without a token, or with one Asana no longer accepts (412), the answer is
    /// [`EventsPage::TokenInvalid`] with a fresh token.
    pub async fn events(&self, sync_token: Option<&str>) -> Result<EventsPage> {
        let mut req = Request::get("/events").param("resource", self.project());
        if let Some(t) = sync_token {
            req = req.param("sync", t);
        }
        let (status, body) = self.client().execute_raw(&req, 1).await?;
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
                events: body
                    .get("data")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(decode_event).collect())
                    .unwrap_or_default(),
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
                message: crate::client::error_message(&body),
            }
            .into()),
        }
    }

    async fn me_gid(&self) -> Result<String> {
        Ok(self.token_owner().await?.gid)
    }

    /// The user the token acts for (`GET /users/me`, once per provider; cached). Every story
    /// this provider posts is created by this user.
    pub async fn token_owner(&self) -> Result<AsanaUser> {
        {
            let cache = self.inner.cache.lock().await;
            if let Some(me) = &cache.me {
                return Ok(me.clone());
            }
        }
        let data = self
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
        self.inner.cache.lock().await.me = Some(me.clone());
        // The owner authors every story this provider posts: its e-mail is needed anyway.
        self.inner.users.remember(vec![me.clone()]);
        Ok(me)
    }

    /// Every task of the section of `status` (one request per 100 tasks), looking for the
    /// section again, once, when the cached one is gone.
    async fn section_tasks(&self, status: Status) -> Result<Vec<Value>> {
        let mut retried = false;
        loop {
            let section = self.section_for(status).await?;
            let req = Request::get(format!("/sections/{section}/tasks")).fields(self.task_fields());
            match self.client().get_all(req).await {
                Ok(items) => return Ok(items),
                Err(e)
                    if !retried
                        && self
                            .drop_gone(&e, &[CachedRef::Section(status, section)])
                            .await =>
                {
                    retried = true;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn list_page(&self, query: ListQuery) -> Result<TicketPage> {
        let limit = query.validate()?;
        let cursor = query.cursor.as_deref().map(decode_cursor).transpose()?;
        let items = match query.status {
            Some(status) => self.section_tasks(status).await?,
            None => {
                let req = Request::get(format!("/projects/{}/tasks", self.project()))
                    .fields(self.task_fields());
                self.client().get_all(req).await?
            }
        };
        let want_assignee = match query.assignee.as_deref().map(str::trim) {
            Some("me") => Some(self.me_gid().await?),
            Some(a) => Some(a.to_string()),
            None => None,
        };
        let tasks = self.decode_tasks(&items).await?;
        let mut tickets = Vec::with_capacity(items.len());
        {
            for (v, task) in items.iter().zip(tasks) {
                if let Some(want) = &want_assignee {
                    let gid = v
                        .get("assignee")
                        .and_then(|a| str_field(a, "gid"))
                        .unwrap_or_default();
                    let matches = task
                        .assignee
                        .as_deref()
                        .is_some_and(|a| a.eq_ignore_ascii_case(want))
                        || gid == want;
                    if !matches {
                        continue;
                    }
                }
                let mut t = self.to_ticket(&task);
                if let Some(s) = query.status {
                    // Listed from the section itself.
                    t.status = s;
                }
                if query.priority.is_some_and(|p| p != t.priority) {
                    continue;
                }
                if let Some(day) = query.due_before {
                    if !t.due.is_some_and(|d| d.is_before(day)) {
                        continue;
                    }
                }
                tickets.push(t);
            }
        }
        tickets.sort_by(newest_first);
        if let Some(key) = &cursor {
            tickets.retain(|t| after_cursor(t, key));
        }
        let next_cursor = if tickets.len() > limit {
            tickets.truncate(limit);
            tickets.last().map(encode_cursor)
        } else {
            None
        };
        Ok(TicketPage {
            tickets,
            next_cursor,
        })
    }

    async fn do_change_status(&self, guid: &str, status: Status) -> Result<OperationResult> {
        self.move_task(guid, status).await?;
        Ok(self.result(guid, status))
    }

    async fn do_add_comment(&self, guid: &str, comment: NewComment) -> Result<OperationResult> {
        check_gid(guid)?;
        comment.validate()?;
        let text = attribution::encode(&comment.body, comment.author.as_deref().map(str::trim));
        let (story, status) = self.post_story_with_status(guid, &text).await?;
        let mut r = self.result(guid, status);
        r.comment_guid = Some(story);
        Ok(r)
    }
}

/// The `PUT /tasks/{gid}` body of `changes` without the priority: `name`, `notes` (the new
/// description with the task's `marker` line kept) and the due date (see [`due_body`]).
fn task_put(changes: &TicketUpdate, marker: Option<&str>) -> serde_json::Map<String, Value> {
    let mut put = serde_json::Map::new();
    if let Some(s) = &changes.subject {
        put.insert("name".into(), json!(s));
    }
    if let Some(d) = &changes.description {
        put.insert("notes".into(), json!(notes_with_marker(d, marker)));
    }
    if let Some(due) = &changes.due {
        let (key, value) = due_body(due.as_ref());
        put.insert(key.into(), value);
    }
    put
}

/// The gid of a new story.
fn story_gid(data: &Value) -> Result<String> {
    str_field(data, "gid")
        .map(str::to_string)
        .ok_or_else(|| AsanaError::decode("POST /tasks/{gid}/stories", "no gid").into())
}

/// Percent-encodes a path segment (e-mails carry `@` and maybe `+`).
fn encode_path(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'@') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
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
            .create_task(&ticket, Status::New, None)
            .await
            .map_err(|e| ctx(e, op, None))?;
        Ok(self.result(&task.gid, Status::New))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(provider = PROVIDER_NAME, guid = %guid))]
    async fn update(&self, guid: &str, changes: TicketUpdate) -> Result<OperationResult> {
        let op = Operation::Update;
        let task = self
            .set_fields(guid, &changes)
            .await
            .map_err(|e| ctx(e, op, Some(guid)))?;
        Ok(self.result(guid, Self::ticket_status(&task)))
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
            let who = assignee.trim();
            let req = Request::write(
                Method::PUT,
                format!("/tasks/{guid}"),
                json!({ "assignee": who }),
                Safety::Repeatable,
            )
            .fields(self.task_fields());
            let data = match self.client().data(&req).await {
                Ok(d) => d,
                Err(e) if e.status() == Some(404) => {
                    // Unknown task or unknown user: ask which.
                    let err = self.explain_assignee_error(e, who).await;
                    return Err(if err.kind() == ErrorKind::NotFound {
                        Error::ticket_not_found(guid)
                    } else {
                        err
                    });
                }
                Err(e) => return Err(self.explain_assignee_error(e, who).await),
            };
            let task = self.require_in_project(self.decode_task(&data).await?)?;
            let mut r = self.result(guid, Self::ticket_status(&task));
            r.assigned_to = task.assignee.clone().or_else(|| Some(who.to_string()));
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
            let known = self.inner.cache.lock().await.me.clone();
            let (task, read) = self.read_task(guid, known.is_none()).await?;
            let task = self.require_in_project(task)?;
            let owner = match known.or(read) {
                Some(owner) => owner,
                None => self.token_owner().await?,
            };
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
                ticket: self.to_ticket(&task),
                comments,
            })
        };
        run.await
            .map_err(|e| ctx(e, Operation::GetTicket, Some(guid)))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(provider = PROVIDER_NAME))]
    async fn list_tickets(&self, query: ListQuery) -> Result<TicketPage> {
        self.list_page(query)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gids_are_digits() {
        assert!(check_gid("1209000000000001").is_ok());
        for bad in ["", "abc", "12a", "1 2", "-1"] {
            let e = check_gid(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput);
        }
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let t = Ticket {
            guid: "123".into(),
            status: Status::New,
            provider: "asana".into(),
            subject: "s".into(),
            description: String::new(),
            priority: Priority::Normal,
            assignee: None,
            due: None,
            created_at: epoch(),
            updated_at: epoch(),
            asana_gid: None,
            sync_state: None,
        };
        let key = decode_cursor(&encode_cursor(&t)).unwrap();
        assert_eq!(key, (0, "123".into()));
        assert!(!after_cursor(&t, &key));
        for bad in ["", "x", "1~", "a~1", "1~x"] {
            assert!(decode_cursor(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_key_is_first_once() {
        let once = WarnOnce::new();
        assert!(once.first("Backlog"));
        assert!(!once.first("Backlog"));
        assert!(once.first("Icebox"));
        assert!(!once.first("Icebox"));
        assert!(!once.first("Backlog"));
    }

    #[test]
    fn refusals_name_the_gone_gids() {
        let section = CachedRef::Section(Status::New, "12".into());
        let tag = CachedRef::Tag(Priority::High, "123".into());
        let both = [section.clone(), tag.clone()];
        for (status, message, gone) in [
            // Asana does not say which object a 404 is about: every gid used is suspect.
            (404, "Not Found", vec![section.clone(), tag.clone()]),
            (
                400,
                "memberships[].section: Not a recognized ID: 12",
                vec![section.clone()],
            ),
            (400, "tags: Not a recognized ID: 123", vec![tag.clone()]),
            (
                400,
                "tag: 123 is gone, so is 12",
                vec![section.clone(), tag.clone()],
            ),
            // "12" is not named by "123", nor by a longer number.
            (400, "Not a recognized ID: 1234", vec![]),
            (400, "name: Missing input", vec![]),
            (403, "Forbidden: 12", vec![]),
            (500, "Server error 12", vec![]),
        ] {
            assert_eq!(
                gone_refs(status, message, &both),
                gone,
                "{status} {message}"
            );
        }
        assert!(!names_gid("anything", ""));
    }

    #[test]
    fn refusals_name_the_gone_field_or_option() {
        let field = CachedRef::Field("50".into());
        let option = CachedRef::FieldOption(Priority::High, "51".into());
        let used = [field.clone(), option.clone()];
        let disabled = "custom_fields: Enum option 51 (\"High\") of custom field 50 (\"Priority\") is disabled and cannot be chosen";
        assert_eq!(gone_refs(400, disabled, &used), used.to_vec());
        let gone = "custom_fields: Not a recognized custom field ID: 50";
        assert_eq!(gone_refs(400, gone, &used), vec![field.clone()]);
        assert!(gone_refs(402, "premium: 50", &used).is_empty());
        // Either drops the whole cached field: it is looked up again in one request.
        for r in [&field, &option] {
            let mut cache = Cache {
                priority_field: Some(CachedPriorityField::default()),
                ..Default::default()
            };
            cache.forget(r);
            assert_eq!(cache.priority_field, None);
        }
    }

    #[test]
    fn a_cached_field_is_restored_only_for_the_same_configuration() {
        let mut settings =
            AsanaSettings::new("http://x", "1", ticket_provider_api::SecretString::new("t"));
        settings.priority_field = Some("Priority".into());
        settings
            .priority_options
            .insert(Priority::Normal, "Medium".into());
        let option = |gid: &str, name: &str| CachedOption {
            gid: gid.into(),
            name: name.into(),
        };
        let saved = ProjectCache {
            priority_field: Some(CachedPriorityField {
                configured: "Priority".into(),
                gid: "50".into(),
                name: "Priority".into(),
                options: BTreeMap::from([
                    (Priority::Normal, option("51", "Normal")),
                    (Priority::High, option("52", "High")),
                ]),
            }),
            ..Default::default()
        };
        let mut cache = Cache::default();
        cache.restore(&saved, &settings);
        let field = cache.priority_field.expect("same field");
        assert_eq!(field.gid, "50");
        assert_eq!(
            field.options.keys().copied().collect::<Vec<_>>(),
            [Priority::High],
            "normal was found as \"Normal\", now configured as \"Medium\""
        );
        settings.priority_field = Some("Severity".into());
        let mut cache = Cache::default();
        cache.restore(&saved, &settings);
        assert_eq!(cache.priority_field, None, "another field");
        settings.priority_field = None;
        let mut cache = Cache::default();
        cache.restore(&saved, &settings);
        assert_eq!(cache.priority_field, None, "tag mode");
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(encode_path("a+b@x.com"), "a%2Bb@x.com");
        assert_eq!(encode_path("me"), "me");
    }
}
