//! The core every operation shares: the HTTP client, the settings, the gid cache (in memory
//! and, through a [`CacheStore`], between processes), the user directory, and the I/O helpers
//! the task client and the trait impl both use. The name → gid lookup is in `lookup.rs`, the
//! decoding of task records in `decode.rs`; both add methods to [`Core`].
//!
//! A cached gid Asana refuses as unknown is dropped and the operation retried once
//! ([`gone_refs`], [`Core::drop_gone`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::Method;
use serde_json::{json, Value};
use ticket_provider_api::{Error, ErrorKind, Result};
use tokio::sync::Mutex;

use crate::cache::{CacheKey, CacheStore, CachedUser, ProjectCache};
use crate::client::{AsanaClient, BatchAction, Request, Safety};
use crate::config::AsanaSettings;
use crate::error::AsanaError;
use crate::gid_cache::{gone_refs, CachedRef, GidCache};
use crate::priority_field;
use crate::remote::{str_field, RemoteTask};
use crate::users::{AsanaUser, UserDirectory};

/// Task fields every read asks for (each in the `opt_fields` enum of getTask, getTasks,
/// getTasksForProject, getTasksForSection, createTask and updateTask). The assignee comes as
/// a compact user; its e-mail comes from the [`UserDirectory`].
pub(crate) const TASK_FIELDS: &str = "name,notes,completed,created_at,created_by,modified_at,due_on,due_at,assignee,memberships.project.name,memberships.section.name,tags.name";
/// [`TASK_FIELDS`] and the task's custom fields with their values (option names; gids always
/// come; people as compact users), when priority lives in a custom field or fields are mapped
/// (`asana_fields`). Tags stay: they tell the priority of tasks tagged before the switch, and
/// the labels.
pub(crate) const TASK_FIELDS_WITH_CUSTOM_FIELDS: &str = "name,notes,completed,created_at,created_by,modified_at,due_on,due_at,assignee,memberships.project.name,memberships.section.name,tags.name,custom_fields.name,custom_fields.resource_subtype,custom_fields.enum_value.name,custom_fields.multi_enum_values.name,custom_fields.text_value,custom_fields.number_value,custom_fields.date_value,custom_fields.people_value";
/// Story fields of comment reads (getStoriesForTask); the author's e-mail comes from the
/// [`UserDirectory`].
pub(crate) const STORY_FIELDS: &str =
    "created_at,created_by,created_by.name,resource_subtype,type,text";
/// Story fields of a new comment (createStoryForTask).
pub(crate) const NEW_STORY_FIELDS: &str = "created_at,text";
/// User fields of the users API (getUser).
pub(crate) const USER_FIELDS: &str = "email,name";
/// User fields of the token owner's read (`GET /users/me`).
pub(crate) const OWNER_FIELDS: &str = "email,name";

/// Most actions in one `POST /batch` (Asana's limit).
pub const BATCH_ACTIONS: usize = 10;

/// The client, the settings and the caches every operation shares.
pub(crate) struct Core {
    /// The settings in use.
    pub settings: AsanaSettings,
    /// The HTTP client (retries, limits, statistics).
    pub client: AsanaClient,
    /// Gids as last seen.
    pub cache: Mutex<GidCache>,
    /// The e-mails of users, by gid.
    pub users: UserDirectory,
    /// Keeps the cache between processes, when there is one.
    store: Option<Arc<dyn CacheStore>>,
    /// Set once the store's cache was taken into `cache` and `users`.
    restored: tokio::sync::OnceCell<()>,
}

impl Core {
    /// A core for `settings` (checked with [`AsanaSettings::validate`]). No request is made.
    pub fn new(
        settings: AsanaSettings,
        users: UserDirectory,
        store: Option<Arc<dyn CacheStore>>,
    ) -> Result<Self> {
        settings.validate()?;
        let client = AsanaClient::new(&settings).map_err(Error::from)?;
        Ok(Core {
            settings,
            client,
            cache: Mutex::new(GidCache::default()),
            users,
            store,
            restored: tokio::sync::OnceCell::new(),
        })
    }

    /// The task fields of every task read: [`TASK_FIELDS`], with the custom fields when
    /// priority lives in one or fields are mapped.
    pub(crate) fn task_fields(&self) -> &'static str {
        if self.settings.priority_field.is_some() || !self.settings.asana_fields.is_empty() {
            TASK_FIELDS_WITH_CUSTOM_FIELDS
        } else {
            TASK_FIELDS
        }
    }

    /// The project gid.
    pub(crate) fn project(&self) -> &str {
        &self.settings.project_gid
    }

    pub(crate) fn client(&self) -> &AsanaClient {
        &self.client
    }

    /// Which server and project the cache describes.
    fn cache_key(&self) -> CacheKey {
        CacheKey {
            base_url: self.settings.base_url.clone(),
            project_gid: self.project().to_string(),
        }
    }

    /// Takes what the [`CacheStore`] kept from earlier processes (once per client, no
    /// request). Call it before locking the cache.
    pub(crate) async fn restore(&self) {
        let Some(store) = &self.store else {
            return;
        };
        self.restored
            .get_or_init(|| async {
                let Some(saved) = store.load(&self.cache_key()).await else {
                    return;
                };
                self.users.seed(saved.asana_users());
                let mut cache = self.cache.lock().await;
                cache.restore(&saved, &self.settings);
                cache.saved = Some(saved);
            })
            .await;
    }

    /// What the store should hold now.
    fn snapshot(&self, cache: &GidCache) -> ProjectCache {
        ProjectCache {
            workspace_gid: cache.workspace_gid.clone(),
            sections: cache.sections.names.clone(),
            status_sections: cache.sections.gid_of.clone(),
            priority_tags: cache.tags.gid_of.clone(),
            priority_field: cache.priority_field.clone(),
            custom_fields: cache.fields.clone(),
            label_tags: cache.label_tags.clone(),
            users: self
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
    pub(crate) async fn persist(&self, cache: &mut GidCache) {
        let Some(store) = &self.store else {
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
    pub(crate) async fn drop_gone(&self, e: &AsanaError, used: &[CachedRef]) -> bool {
        let Some((status, message)) = e.refusal() else {
            return false;
        };
        let gone = gone_refs(status, message, used);
        if gone.is_empty() {
            return false;
        }
        let mut cache = self.cache.lock().await;
        for g in &gone {
            tracing::warn!(gid = %g.gid(), "Asana no longer knows a cached section, tag, custom field or option; looking again");
            cache.forget(g);
        }
        self.persist(&mut cache).await;
        true
    }

    pub(crate) async fn load_project(&self, cache: &mut GidCache) -> Result<()> {
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

    /// The error of a refused task write; `custom_fields`: whether it set the priority field
    /// (a 402 then means the plan has no custom fields).
    pub(crate) fn task_write_error(&self, e: AsanaError, custom_fields: bool) -> Error {
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

    /// The error of a refused write of mapped custom fields: a 402 means the plan has no
    /// custom fields.
    pub(crate) fn mapped_write_error(&self, e: AsanaError) -> Error {
        if e.status() == Some(402) {
            Error::new(
                ErrorKind::Unsupported,
                format!("Asana refused custom fields (402 Payment Required): this workspace's plan has no custom fields; remove homechoice.ticket.asana_fields to keep fields out of Asana ({e})"),
            )
        } else {
            e.into()
        }
    }

    /// The e-mails of the users `gids` (gid → e-mail; a user without a readable e-mail is
    /// left out): from the [`UserDirectory`] (with the users of earlier processes), else
    /// from Asana's users API, 10 users per `POST /batch`. A user Asana does not show
    /// (404/403) reads as its gid. The caller saves the cache afterwards.
    pub(crate) async fn emails_of<'a>(
        &self,
        gids: impl IntoIterator<Item = &'a str>,
    ) -> Result<HashMap<String, String>> {
        self.restore().await;
        let (mut emails, missing) = self.users.split(gids);
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
                        self.users.remember_unreadable(gid);
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            for u in &read {
                if let Some(e) = &u.email {
                    emails.insert(u.gid.clone(), e.clone());
                }
            }
            self.users.remember(read);
        }
        Ok(emails)
    }

    pub(crate) fn not_found_as_ticket(&self, e: AsanaError, gid: &str) -> Error {
        if e.status() == Some(404) {
            Error::ticket_not_found(gid)
        } else {
            e.into()
        }
    }

    /// A task that is not in the tickets project is no ticket of ours: `NotFound`, "no
    /// ticket "GID" in project P".
    pub(crate) fn require_in_project(&self, task: RemoteTask) -> Result<RemoteTask> {
        if task.in_project {
            Ok(task)
        } else {
            Err(Error::new(
                ErrorKind::NotFound,
                format!("no ticket {:?} in project {}", task.gid, self.project()),
            )
            .with_guid(task.gid))
        }
    }

    /// Tells an unknown user from an unknown task after a 400/404 answer to a write naming
    /// `assignee`: asks Asana for the user (one more request, only on this error path).
    pub(crate) async fn explain_assignee_error(&self, err: AsanaError, assignee: &str) -> Error {
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

    /// Sends idempotent actions, 10 per `POST /batch`; the first refused action is the
    /// error.
    pub(crate) async fn send_actions(&self, actions: &[BatchAction]) -> Result<(), AsanaError> {
        for chunk in actions.chunks(BATCH_ACTIONS) {
            let results = self.client().batch(chunk, Safety::Repeatable).await?;
            for (a, r) in chunk.iter().zip(results) {
                r.into_data(&a.method, &a.relative_path)?;
            }
        }
        Ok(())
    }
}

/// Checks a marker: one non-empty line without `]`.
pub(crate) fn check_marker(marker: &str) -> Result<()> {
    if marker.trim().is_empty() || marker.contains(']') || marker.contains('\n') {
        return Err(Error::invalid_input(format!(
            "marker {marker:?} must be one non-empty line without ']'"
        )));
    }
    Ok(())
}

/// Checks that a ticket guid is a task gid (digits only), without any request.
pub(crate) fn check_gid(guid: &str) -> Result<()> {
    if guid.is_empty() || guid.len() > 40 || !guid.chars().all(|c| c.is_ascii_digit()) {
        return Err(Error::invalid_input(format!(
            "ticket guid {guid:?} is not an Asana task gid (a string of digits)"
        ))
        .with_guid(guid));
    }
    Ok(())
}

pub(crate) fn fields_list(fields: &str) -> Value {
    Value::Array(fields.split(',').map(|f| json!(f)).collect())
}

/// Keys already warned about, for warnings worth one line per process.
pub(crate) struct WarnOnce(std::sync::Mutex<Option<HashSet<String>>>);

impl WarnOnce {
    pub(crate) const fn new() -> Self {
        WarnOnce(std::sync::Mutex::new(None))
    }

    /// True the first time `key` is seen, false after.
    pub(crate) fn first(&self, key: &str) -> bool {
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        seen.get_or_insert_with(HashSet::new)
            .insert(key.to_string())
    }
}

/// The batch action that reads task `gid` with `fields` (see
/// [`Core::task_fields`]).
pub(crate) fn task_read(gid: &str, fields: &str) -> BatchAction {
    BatchAction {
        method: Method::GET,
        relative_path: format!("/tasks/{gid}"),
        data: None,
        options: Some(json!({ "fields": fields_list(fields) })),
    }
}

/// The batch action that reads the first 100 stories of task `gid` with [`STORY_FIELDS`].
pub(crate) fn stories_read(gid: &str) -> BatchAction {
    BatchAction {
        method: Method::GET,
        relative_path: format!("/tasks/{gid}/stories"),
        data: None,
        options: Some(json!({ "fields": fields_list(STORY_FIELDS), "limit": 100 })),
    }
}

/// Splits `gids` into the errors of those that are no task gid and the distinct valid ones,
/// in their first order.
pub(crate) fn checked_gids<T>(gids: &[String]) -> (HashMap<String, Result<T>>, Vec<String>) {
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

pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The gid of a new story.
pub(crate) fn story_gid(data: &Value) -> Result<String> {
    str_field(data, "gid")
        .map(str::to_string)
        .ok_or_else(|| AsanaError::decode("POST /tasks/{gid}/stories", "no gid").into())
}

/// Percent-encodes a path segment (e-mails carry `@` and maybe `+`).
pub(crate) fn encode_path(s: &str) -> String {
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
    fn a_key_is_first_once() {
        let once = WarnOnce::new();
        assert!(once.first("Backlog"));
        assert!(!once.first("Backlog"));
        assert!(once.first("Icebox"));
        assert!(!once.first("Icebox"));
        assert!(!once.first("Backlog"));
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(encode_path("a+b@x.com"), "a%2Bb@x.com");
        assert_eq!(encode_path("me"), "me");
    }
}
