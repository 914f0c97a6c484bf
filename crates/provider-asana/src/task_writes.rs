//! The writes of [`TaskClient`]: creating tasks, changing their fields, moving them between
//! sections, posting stories. Each is one request or one `POST /batch` once the gids it
//! needs are cached; a refusal naming a gone cached gid is retried once with it looked up
//! again.

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use ticket_provider_api::model::validate_assignee;

use ticket_provider_api::fields::apply_field_changes;
use ticket_provider_api::{
    Error, ErrorKind, FieldValue, NewTicket, Priority, Result, Status, TicketUpdate,
};

use crate::client::{BatchAction, Request, Safety};
use crate::core::{check_gid, check_marker, fields_list, story_gid, NEW_STORY_FIELDS};
use crate::error::AsanaError;
use crate::gid_cache::{names_gid, CachedRef};
use crate::lookup::{OptionOf, SectionOf, TagOf};
use crate::mapped_fields::{check_labels, tag_actions};
use crate::remote::{due_body, notes_with_marker, str_field, time_field, RemoteTask, TaskPlace};
use crate::task_client::TaskClient;

/// `opt_fields` of a create whose caller needs only the gid (always sent) and `modified_at`
/// (both in the `opt_fields` enum of createTask).
const LEAN_TASK_FIELDS: &str = "modified_at";

/// The gid of a task just created and when Asana last modified it (see
/// [`TaskClient::create_task_lean`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedTask {
    /// The new task's gid.
    pub gid: String,
    /// When Asana last modified it.
    pub modified_at: DateTime<Utc>,
}

impl TaskClient {
    /// Creates a task in `status`, with `new`'s fields and `[ticket-guid: <marker>]` as the
    /// last line of its notes, in ONE request (`POST /tasks`). A 5xx or timeout is not
    /// repeated (the task may exist): the error is temporary `Unavailable`; look for the task
    /// with [`TaskClient::find_task_by_marker`] before trying again.
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

    pub(crate) async fn create_task(
        &self,
        new: &NewTicket,
        status: Status,
        marker: Option<&str>,
    ) -> Result<RemoteTask> {
        let answer = self
            .post_task(new, status, marker, self.core.task_fields())
            .await?;
        let mut task = self.core.decode_task(&answer).await?;
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
        check_labels(&self.core.settings, &new.labels)?;
        let values: BTreeMap<String, Option<FieldValue>> = new
            .fields
            .iter()
            .map(|(k, v)| (k.clone(), Some(v.clone())))
            .collect();
        let mut retried = false;
        let field_mode = self.core.settings.priority_field.is_some();
        let answer = loop {
            let section = self.core.lookup(SectionOf(status)).await?;
            let priority = self.core.priority_write(new.priority).await?;
            let mapped = self.core.fields_write(&values).await?;
            let labels = self.core.label_tags(&new.labels, true).await?;
            let mut data = json!({
                "name": new.subject,
                "notes": notes_with_marker(&new.description, marker),
                "projects": [self.core.project()],
                "memberships": [{"project": self.core.project(), "section": section}],
            });
            priority.on_create(&mut data);
            add_custom_fields(&mut data, mapped.body);
            if !labels.is_empty() {
                let mut tags = data
                    .get("tags")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                tags.extend(labels.iter().map(|(g, _)| json!(g)));
                data["tags"] = Value::Array(tags);
            }
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
            let used: Vec<CachedRef> = [CachedRef::Section(status, section)]
                .into_iter()
                .chain(priority.refs(new.priority))
                .chain(mapped.refs)
                .chain(labels.into_iter().map(|(_, r)| r))
                .collect();
            let req = Request::write(Method::POST, "/tasks", data, Safety::Create).fields(fields);
            match self.core.client().data(&req).await {
                Ok(v) => break v,
                // A refused create made no task: with the gone section, tag, field or
                // option dropped from the cache, it is safe to send it again, once. An
                // answer about the assignee is not about the cache.
                Err(e)
                    if !retried
                        && !e
                            .asana_message()
                            .is_some_and(|m| m.to_ascii_lowercase().contains("assignee"))
                        && self.core.drop_gone(&e, &used).await =>
                {
                    retried = true;
                }
                Err(e) if e.status() == Some(402) && !field_mode && !values.is_empty() => {
                    return Err(self.core.mapped_write_error(e))
                }
                Err(e) if e.status() == Some(402) => {
                    return Err(self.core.task_write_error(e, field_mode))
                }
                Err(e) => {
                    return Err(match &new.assignee {
                        Some(a) => self.core.explain_assignee_error(e, a.trim()).await,
                        None => e.into(),
                    })
                }
            }
        };
        Ok(answer)
    }

    /// Posts a comment (a story with `text`) and returns its story gid. One request; not
    /// repeated on 5xx/timeout (see [`TaskClient::find_comment_by_marker`]).
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
            .core
            .client()
            .data(&req)
            .await
            .map_err(|e| self.core.not_found_as_ticket(e, gid))?;
        story_gid(&data)
    }

    /// Changes subject, description, priority, due date, mapped custom fields and/or labels
    /// of a task, keeping its marker line. Returns the task as changed.
    ///
    /// With priority tags: two requests, a read (current notes and tags), then one batch
    /// with the PUT and the tag changes (addTag new, removeTag old). With the priority in a
    /// custom field (`asana_priority_field`): one `PUT /tasks/{gid}` carrying every change,
    /// the field's option and the mapped custom fields included (sent in one `POST /batch`
    /// with the `addTag`/`removeTag` of labels when labels change); a new description first
    /// reads the task (one more request) for the marker line. Labels and custom fields never
    /// add a request. That single PUT checks the task's project in its answer
    /// (like [`TaskClient::assign`]): a task outside the tickets project is `NotFound`,
    /// but its name or due date may have been written (a priority is refused by Asana when
    /// the field is not on the task's projects).
    pub async fn set_fields(&self, gid: &str, changes: &TicketUpdate) -> Result<RemoteTask> {
        self.set_fields_reading(gid, changes, false).await
    }

    /// [`Self::set_fields`] for the `asana` provider, which writes nothing to a task outside
    /// the tickets project: in field mode the task is always read first (2 requests), so
    /// that such a task is `NotFound` before anything is sent. With tags the read is there
    /// anyway.
    pub(crate) async fn update_ticket(
        &self,
        gid: &str,
        changes: &TicketUpdate,
    ) -> Result<RemoteTask> {
        self.set_fields_reading(gid, changes, true).await
    }

    /// [`Self::set_fields`]; `read_first`: in field mode, read the task before the `PUT`
    /// (with tags the read is there anyway).
    async fn set_fields_reading(
        &self,
        gid: &str,
        changes: &TicketUpdate,
        read_first: bool,
    ) -> Result<RemoteTask> {
        check_gid(gid)?;
        changes.validate()?;
        check_labels(&self.core.settings, &changes.add_labels)?;
        if self.core.settings.priority_field.is_some() {
            return self
                .set_fields_with_priority_field(gid, changes, read_first)
                .await;
        }
        self.set_fields_with_tags(gid, changes).await
    }

    /// [`Self::set_fields`] with priority tags: a read, then one batch.
    async fn set_fields_with_tags(&self, gid: &str, changes: &TicketUpdate) -> Result<RemoteTask> {
        let data = self
            .core
            .client()
            .data(&Request::get(format!("/tasks/{gid}")).fields(self.core.task_fields()))
            .await
            .map_err(|e| self.core.not_found_as_ticket(e, gid))?;
        let task = self
            .core
            .require_in_project(self.core.decode_task(&data).await?)?;
        // The task's tags: gid, and whether it is a priority tag (by cached gid, or by name
        // when this process has not cached that priority's tag).
        let old_tags: Vec<(String, bool)> = {
            let cache = self.core.cache.lock().await;
            data.get("tags")
                .and_then(Value::as_array)
                .map(|ts| {
                    ts.iter()
                        .filter_map(|t| {
                            let gid = str_field(t, "gid")?.to_string();
                            let by_gid = cache.tags.key_of(&gid).is_some();
                            let by_name = str_field(t, "name").is_some_and(|n| {
                                Priority::ALL
                                    .into_iter()
                                    .any(|p| self.core.settings.tag_name(p) == n)
                            });
                            Some((gid, by_gid || by_name))
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        // The labels to remove: every tag of the task carrying that name (none of them a
        // priority tag: labels never take a priority tag's name).
        let removed: Vec<String> = data
            .get("tags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|t| str_field(t, "name").is_some_and(|n| changes.remove_labels.contains(n)))
            .filter_map(|t| str_field(t, "gid").map(str::to_string))
            .filter(|g| old_tags.iter().any(|(t, priority)| t == g && !priority))
            .collect();
        let mut retried = false;
        loop {
            let mut put = task_put(changes, task.marker.as_deref());
            let mapped = self.core.fields_write(&changes.fields).await?;
            let mut used = mapped.refs;
            if !mapped.body.is_empty() {
                put.insert("custom_fields".into(), Value::Object(mapped.body));
            }
            let mut actions = Vec::new();
            if !put.is_empty() {
                actions.push(BatchAction {
                    method: Method::PUT,
                    relative_path: format!("/tasks/{gid}"),
                    data: Some(Value::Object(put)),
                    options: None,
                });
            }
            if let Some(p) = changes.priority {
                let new_tag = self.core.lookup(TagOf(p)).await?;
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
                used.push(CachedRef::Tag(p, new_tag));
            }
            let added = self.core.label_tags(&changes.add_labels, true).await?;
            let add: Vec<String> = added
                .iter()
                .map(|(g, _)| g.clone())
                .filter(|g| !old_tags.iter().any(|(t, _)| t == g))
                .collect();
            used.extend(added.into_iter().map(|(_, r)| r));
            actions.extend(tag_actions(gid, &add, &removed));
            match self.core.send_actions(&actions).await {
                Ok(()) => break,
                // Every action is idempotent: the batch is sent again with the gone tag,
                // field or option found again (the PUT sets the same values twice).
                Err(e)
                    if !retried
                        && (e.status() == Some(400)
                            || e.path().is_some_and(|p| p.ends_with("/addTag")))
                        && self.core.drop_gone(&e, &used).await =>
                {
                    retried = true;
                }
                Err(e) if e.status() == Some(402) => return Err(self.core.mapped_write_error(e)),
                Err(e) => return Err(self.core.not_found_as_ticket(e, gid)),
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
        apply_field_changes(&mut task.fields, &changes.fields);
        task.labels = changes.apply_labels(&task.labels);
        Ok(task)
    }

    /// [`Self::set_fields`] with the priority in a custom field: one `PUT`, plus a read
    /// first when the description changes or `read_first` (the read refuses a task outside
    /// the tickets project before the `PUT` is sent).
    async fn set_fields_with_priority_field(
        &self,
        gid: &str,
        changes: &TicketUpdate,
        read_first: bool,
    ) -> Result<RemoteTask> {
        let marker = match changes.description {
            Some(_) => {
                let data = self
                    .core
                    .client()
                    .data(&Request::get(format!("/tasks/{gid}")).fields(self.core.task_fields()))
                    .await
                    .map_err(|e| self.core.not_found_as_ticket(e, gid))?;
                self.core
                    .require_in_project(self.core.decode_task(&data).await?)?
                    .marker
            }
            None if read_first => {
                self.ticket_task(gid).await?;
                None
            }
            None => None,
        };
        let mut retried = false;
        let answer = loop {
            let mut put = task_put(changes, marker.as_deref());
            let mut used = Vec::new();
            let mut custom = serde_json::Map::new();
            if let Some(p) = changes.priority {
                let (field, option) = self.core.lookup(OptionOf(p)).await?;
                custom.insert(field.clone(), json!(option));
                used = vec![CachedRef::Field(field), CachedRef::FieldOption(p, option)];
            }
            let mapped = self.core.fields_write(&changes.fields).await?;
            custom.extend(mapped.body);
            used.extend(mapped.refs);
            if !custom.is_empty() {
                put.insert("custom_fields".into(), Value::Object(custom));
            }
            let added = self.core.label_tags(&changes.add_labels, true).await?;
            let removed = self.core.label_tags(&changes.remove_labels, false).await?;
            let add: Vec<String> = added.iter().map(|(g, _)| g.clone()).collect();
            let remove: Vec<String> = removed.iter().map(|(g, _)| g.clone()).collect();
            used.extend(added.into_iter().map(|(_, r)| r));
            let tags = tag_actions(gid, &add, &remove);
            let sent = if tags.is_empty() {
                let req = Request::write(
                    Method::PUT,
                    format!("/tasks/{gid}"),
                    Value::Object(put),
                    Safety::Repeatable,
                )
                .fields(self.core.task_fields());
                self.core.client().data(&req).await
            } else {
                // The tag changes ride in one batch with the PUT: no request more.
                let mut actions = vec![BatchAction {
                    method: Method::PUT,
                    relative_path: format!("/tasks/{gid}"),
                    data: Some(Value::Object(put)),
                    options: Some(json!({ "fields": fields_list(self.core.task_fields()) })),
                }];
                actions.extend(tags);
                self.send_put_batch(&actions).await
            };
            match sent {
                Ok(v) => break v,
                // A 400 naming a cached field, option or tag: nothing was written (or only
                // idempotent actions); look it up again and send once more. (A 404 is the
                // task's.)
                Err(e)
                    if !retried
                        && e.status() == Some(400)
                        && self.core.drop_gone(&e, &used).await =>
                {
                    retried = true;
                }
                Err(e) if e.status() == Some(404) => {
                    return Err(self.core.not_found_as_ticket(e, gid))
                }
                Err(e) if e.status() == Some(402) && changes.priority.is_none() => {
                    return Err(self.core.mapped_write_error(e))
                }
                Err(e) => return Err(self.core.task_write_error(e, !used.is_empty())),
            }
        };
        let mut task = self
            .core
            .require_in_project(self.core.decode_task(&answer).await?)?;
        // Trust what was asked for where the answer is silent (a lean server).
        if task.priority.is_none() {
            task.priority = changes.priority;
        }
        if answer.get("due_on").is_none() && answer.get("due_at").is_none() {
            if let Some(due) = changes.due {
                task.due = due;
            }
        }
        // The tag actions ran after the PUT that answered.
        task.labels = changes.apply_labels(&task.labels);
        Ok(task)
    }

    /// Sends a batch whose first action is a task's `PUT`, the others idempotent; the
    /// `PUT`'s answer, or the first refusal.
    async fn send_put_batch(&self, actions: &[BatchAction]) -> Result<Value, AsanaError> {
        let results = self
            .core
            .client()
            .batch(actions, Safety::Repeatable)
            .await?;
        let mut answer = None;
        for (a, r) in actions.iter().zip(results) {
            let data = r.into_data(&a.method, &a.relative_path)?;
            answer.get_or_insert(data);
        }
        answer.ok_or_else(|| AsanaError::decode("POST /batch", "missing results"))
    }

    /// Assigns task `gid` to `assignee` (an e-mail, a user gid or `me`): one
    /// `PUT /tasks/{gid}`, whose answer tells the task's project. A task outside the tickets
    /// project is `NotFound`, though the assignee was written. After a 400/404 answer one
    /// more request tells an unknown user (`InvalidInput`, nothing changed) from an unknown
    /// task (`NotFound`).
    pub async fn assign(&self, gid: &str, assignee: &str) -> Result<RemoteTask> {
        check_gid(gid)?;
        validate_assignee(assignee)?;
        let who = assignee.trim();
        let req = Request::write(
            Method::PUT,
            format!("/tasks/{gid}"),
            json!({ "assignee": who }),
            Safety::Repeatable,
        )
        .fields(self.core.task_fields());
        let data = match self.core.client().data(&req).await {
            Ok(d) => d,
            Err(e) if e.status() == Some(404) => {
                // Unknown task or unknown user: ask which.
                let err = self.core.explain_assignee_error(e, who).await;
                return Err(if err.kind() == ErrorKind::NotFound {
                    Error::ticket_not_found(gid)
                } else {
                    err
                });
            }
            Err(e) => return Err(self.core.explain_assignee_error(e, who).await),
        };
        self.core
            .require_in_project(self.core.decode_task(&data).await?)
    }

    /// Moves a task to the section of `status` and sets `completed` (true for RESOLVED,
    /// CLOSED, CANCELLED, false otherwise): one `POST /batch` with `addTask` and the `PUT`.
    pub async fn move_task(&self, gid: &str, status: Status) -> Result<()> {
        check_gid(gid)?;
        for attempt in 0..2 {
            let section = self.core.lookup(SectionOf(status)).await?;
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
            let results = self
                .core
                .client()
                .batch(&actions, Safety::Repeatable)
                .await?;
            let mut results = results.into_iter();
            let (Some(add), Some(put)) = (results.next(), results.next()) else {
                return Err(AsanaError::decode("POST /batch", "missing results").into());
            };
            put.into_data(&Method::PUT, &format!("/tasks/{gid}"))
                .map_err(|e| self.core.not_found_as_ticket(e, gid))?;
            match add.into_data(&Method::POST, &format!("/sections/{section}/addTask")) {
                Ok(_) => return Ok(()),
                // The task exists (the PUT worked), so a 404 (or a 400 naming the section)
                // means the cached section is gone.
                Err(e)
                    if attempt == 0
                        && self
                            .core
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
                self.core
                    .client()
                    .data(&req)
                    .await
                    .map_err(|e| self.core.not_found_as_ticket(e, gid))?;
                Ok(())
            }
            (false, true) => {
                for attempt in 0..2 {
                    let section = self.core.lookup(SectionOf(status)).await?;
                    let req = Request::write(
                        Method::POST,
                        format!("/sections/{section}/addTask"),
                        json!({ "task": gid }),
                        Safety::Repeatable,
                    );
                    match self.core.client().data(&req).await {
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
                                    .core
                                    .drop_gone(&e, &[CachedRef::Section(status, section.clone())])
                                    .await => {}
                        Err(e) => return Err(self.core.not_found_as_ticket(e, gid)),
                    }
                }
                Err(Error::new(
                    ErrorKind::Unavailable,
                    format!("could not move task {gid} to the section of {status}"),
                ))
            }
        }
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

/// Merges mapped custom field values into a task body's `custom_fields` (beside the
/// priority field's option, when there is one).
fn add_custom_fields(data: &mut Value, values: serde_json::Map<String, Value>) {
    if values.is_empty() {
        return;
    }
    match data.get_mut("custom_fields").and_then(Value::as_object_mut) {
        Some(existing) => existing.extend(values),
        None => data["custom_fields"] = Value::Object(values),
    }
}
