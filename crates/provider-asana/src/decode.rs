//! Task records as [`RemoteTask`]s: the status of the section (noticing renamed sections),
//! the priority of the tag or of the priority field's option, the assignee's e-mail.
//! Methods of [`Core`], since they read and teach the gid cache.

use std::collections::HashMap;

use serde_json::Value;
use ticket_provider_api::{Error, Priority, Result, Status, Ticket};

use crate::core::{Core, WarnOnce};
use crate::error::AsanaError;
use crate::gid_cache::GidCache;
use crate::mapped_fields::task_user_gids;
use crate::priority_field;
use crate::remote::{due_field, epoch, split_marker, str_field, time_field, user_ref, RemoteTask};
use crate::PROVIDER_NAME;

/// Sections that map to no status, warned about once per process.
static UNMAPPED_SECTIONS: WarnOnce = WarnOnce::new();

/// Options of the priority field that map to no priority, warned about once per process.
static UNMAPPED_OPTIONS: WarnOnce = WarnOnce::new();

impl Core {
    /// Decodes a task record (as returned for [`TASK_FIELDS`]), with its assignee's e-mail.
    pub(crate) async fn decode_task(&self, v: &Value) -> Result<RemoteTask> {
        let mut tasks = self.decode_tasks(std::slice::from_ref(v)).await?;
        tasks
            .pop()
            .ok_or_else(|| AsanaError::decode("a task", "nothing to decode").into())
    }

    /// Decodes task records, looking up the e-mails of their assignees and of the people in
    /// their custom fields first (one batch per 10 users never seen).
    pub(crate) async fn decode_tasks(&self, items: &[Value]) -> Result<Vec<RemoteTask>> {
        let emails = self
            .emails_of(items.iter().flat_map(task_user_gids))
            .await?;
        let mut cache = self.cache.lock().await;
        let tasks = items
            .iter()
            .map(|v| self.decode_task_with(&mut cache, v, &emails))
            .collect();
        // Users read and section gids learned from the tasks outlive the process.
        self.persist(&mut cache).await;
        tasks
    }

    pub(crate) fn decode_task_with(
        &self,
        cache: &mut GidCache,
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
        if self.settings.priority_field.is_some() {
            priority = self.priority_of_field(cache, &gid, v);
        }
        // In field mode, tags tell the priority of a task whose field has no value (tagged
        // before the switch).
        if let (None, Some(tags)) = (priority, v.get("tags").and_then(Value::as_array)) {
            let mut priority_tag: Option<Priority> = None;
            for t in tags {
                let by_gid = str_field(t, "gid").and_then(|g| cache.tags.key_of(g));
                let by_name = str_field(t, "name").and_then(|n| {
                    Priority::ALL
                        .into_iter()
                        .find(|p| self.settings.tag_name(*p) == n)
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
        let fields = self.decode_fields(cache, &gid, v, emails);
        let labels = self.decode_labels(cache, v);
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
            fields,
            labels,
            in_project,
            created_at: time_field(v, "created_at").unwrap_or_else(epoch),
            created_by: v
                .get("created_by")
                .and_then(|u| str_field(u, "gid"))
                .map(str::to_string),
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
    fn priority_of_field(&self, cache: &GidCache, task: &str, v: &Value) -> Option<Priority> {
        let settings = &self.settings;
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
        cache: &mut GidCache,
        gid: Option<&str>,
        name: Option<&str>,
    ) -> Option<Status> {
        let gid = gid?;
        if let Some(status) = cache.sections.key_of(gid) {
            if let Some(name) = name {
                let known = cache.sections.names.get(gid).map(String::as_str);
                if known != Some(name) {
                    tracing::warn!(
                        status = %status, section_gid = %gid, was = known.unwrap_or(""), now = %name,
                        "the Asana section of this status was renamed; still using it by gid"
                    );
                    cache
                        .sections
                        .names
                        .insert(gid.to_string(), name.to_string());
                }
            }
            return Some(status);
        }
        let name = name?;
        let status = Status::ALL
            .into_iter()
            .find(|s| self.settings.section_name(*s) == name)?;
        match cache.sections.gid_of.entry(status) {
            std::collections::btree_map::Entry::Occupied(_) => {
                tracing::warn!(status = %status, section_gid = %gid, section = %name, "another section carries this status' name; treating it as the same status");
            }
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(gid.to_string());
                cache
                    .sections
                    .names
                    .insert(gid.to_string(), name.to_string());
            }
        }
        Some(status)
    }
}

/// The ticket status of a task: unmapped sections read as NEW, with a warning once per
/// section and process (a list of 100 such tasks logs one line, not 100).
pub(crate) fn ticket_status(task: &RemoteTask) -> Status {
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

/// The ticket a task of the project stands for.
pub(crate) fn to_ticket(task: &RemoteTask) -> Ticket {
    Ticket {
        guid: task.gid.clone(),
        status: ticket_status(task),
        provider: PROVIDER_NAME.to_string(),
        subject: task.subject.clone(),
        description: task.description.clone(),
        priority: task.priority.unwrap_or_default(),
        assignee: task.assignee.clone(),
        due: task.due,
        fields: task.fields.clone(),
        labels: task.labels.clone(),
        created_at: task.created_at,
        updated_at: task.modified_at,
        asana_gid: Some(task.gid.clone()),
        sync_state: None,
    }
}
