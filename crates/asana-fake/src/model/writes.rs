//! The state changes behind API writes: each one updates a task and keeps
//! what follows from it consistent (`modified_at`, the system story Asana
//! would add, the events of the task's streams).

use serde_json::{json, Value};

use super::{insert_at, ts, CfValue, Due, Event, Extra, Kind, Position, State, Story};

impl State {
    /// The gids whose event streams see events about `task`.
    fn task_scopes(&self, task: &str) -> Vec<String> {
        let mut scopes = vec![task.to_string()];
        if let Some(t) = self.tasks.get(task) {
            for (p, s) in &t.memberships {
                scopes.push(p.clone());
                scopes.push(s.clone());
            }
        }
        scopes
    }

    /// Appends an event about a task to the log.
    pub(crate) fn task_event(
        &mut self,
        task: &str,
        action: &str,
        parent: Option<(Kind, &str)>,
        change: Option<Value>,
    ) {
        let scopes = self.task_scopes(task);
        self.push_event(scopes, (Kind::Task, task), action, parent, change);
    }

    fn push_event(
        &mut self,
        scopes: Vec<String>,
        resource: (Kind, &str),
        action: &str,
        parent: Option<(Kind, &str)>,
        change: Option<Value>,
    ) {
        let now = self.now();
        let mut json = json!({
            "user": self.named(Kind::User, &self.owner.clone()),
            "resource": self.named(resource.0, resource.1),
            "type": resource.0.as_str(),
            "action": action,
            "parent": parent.map(|(k, g)| self.named(k, g)),
            "created_at": ts(now),
        });
        if let (Some(change), Some(obj)) = (change, json.as_object_mut()) {
            obj.insert("change".into(), change);
        }
        self.events.push(Event { scopes, json });
        self.wake_deliverers();
    }

    /// Adds a story to `task` authored by the token owner. Comment stories
    /// bump the task's `modified_at`; system stories accompany changes that
    /// decide about that themselves.
    pub(crate) fn add_story(
        &mut self,
        task: &str,
        subtype: &'static str,
        text: String,
        is_pinned: bool,
        extras: Vec<(&'static str, Extra)>,
    ) -> String {
        let gid = self.gid();
        let now = self.now();
        let story = Story {
            task: task.to_string(),
            created_at: now,
            created_by: self.owner.clone(),
            resource_subtype: subtype,
            text,
            is_pinned,
            extras,
        };
        let comment = story.story_type() == "comment";
        self.stories.insert(gid.clone(), story);
        if let Some(t) = self.tasks.get_mut(task) {
            t.stories.push(gid.clone());
            if comment {
                t.modified_at = now;
            }
        }
        let scopes = self.task_scopes(task);
        self.push_event(
            scopes,
            (Kind::Story, &gid),
            "added",
            Some((Kind::Task, task)),
            None,
        );
        gid
    }

    fn owner_name(&self) -> String {
        self.name_of(Kind::User, &self.owner).unwrap_or_default()
    }

    /// Marks a field edit on a task: bumps `modified_at` and emits a
    /// `changed` event.
    fn touched(&mut self, task: &str, change: Value) {
        let now = self.now();
        if let Some(t) = self.tasks.get_mut(task) {
            t.modified_at = now;
        }
        self.task_event(task, "changed", None, Some(change));
    }

    /// Renames a task (no-op when unchanged).
    pub(crate) fn set_task_name(&mut self, task: &str, name: String) {
        let Some(t) = self.tasks.get_mut(task) else {
            return;
        };
        if t.name == name {
            return;
        }
        let old = std::mem::replace(&mut t.name, name.clone());
        self.touched(task, json!({"field": "name", "action": "changed"}));
        let text = format!("{} changed the name to \"{}\"", self.owner_name(), name);
        self.add_story(
            task,
            "name_changed",
            text,
            false,
            vec![
                ("old_name", Extra::Str(old)),
                ("new_name", Extra::Str(name)),
            ],
        );
    }

    /// Changes the notes of a task (no-op when unchanged).
    pub(crate) fn set_task_notes(&mut self, task: &str, notes: String) {
        let Some(t) = self.tasks.get_mut(task) else {
            return;
        };
        if t.notes == notes {
            return;
        }
        t.notes = notes;
        self.touched(task, json!({"field": "notes", "action": "changed"}));
        let text = format!("{} changed the description", self.owner_name());
        self.add_story(task, "notes_changed", text, false, vec![]);
    }

    /// Completes or reopens a task (no-op when unchanged).
    pub(crate) fn set_task_completed(&mut self, task: &str, completed: bool) {
        let now = self.now();
        let owner = self.owner.clone();
        let Some(t) = self.tasks.get_mut(task) else {
            return;
        };
        if t.completed == completed {
            return;
        }
        t.completed = completed;
        t.completed_at = completed.then_some(now);
        t.completed_by = completed.then_some(owner);
        self.touched(
            task,
            json!({"field": "completed", "action": "changed", "new_value": completed}),
        );
        let (subtype, verb) = if completed {
            ("marked_complete", "completed this task")
        } else {
            ("marked_incomplete", "marked this task incomplete")
        };
        let text = format!("{} {}", self.owner_name(), verb);
        self.add_story(task, subtype, text, false, vec![]);
    }

    /// Assigns (or with `None` unassigns) a task (no-op when unchanged).
    pub(crate) fn set_task_assignee(&mut self, task: &str, assignee: Option<String>) {
        let Some(t) = self.tasks.get_mut(task) else {
            return;
        };
        if t.assignee == assignee {
            return;
        }
        let old = std::mem::replace(&mut t.assignee, assignee.clone());
        let new_value = assignee
            .as_ref()
            .map(|g| json!({"gid": g, "resource_type": "user"}));
        self.touched(
            task,
            json!({"field": "assignee", "action": "changed", "new_value": new_value}),
        );
        let owner = self.owner_name();
        match (assignee, old) {
            (Some(a), _) => {
                let name = self.name_of(Kind::User, &a).unwrap_or_default();
                let text = format!("{owner} assigned to {name}");
                self.add_story(
                    task,
                    "assigned",
                    text,
                    false,
                    vec![("assignee", Extra::Obj(Kind::User, a))],
                );
            }
            (None, Some(o)) => {
                let name = self.name_of(Kind::User, &o).unwrap_or_default();
                let text = format!("{owner} unassigned from {name}");
                self.add_story(
                    task,
                    "unassigned",
                    text,
                    false,
                    vec![("assignee", Extra::Obj(Kind::User, o))],
                );
            }
            (None, None) => {}
        }
    }

    /// Adds a tag to a task (no-op when present).
    pub(crate) fn add_task_tag(&mut self, task: &str, tag: &str) {
        let Some(t) = self.tasks.get_mut(task) else {
            return;
        };
        if t.tags.iter().any(|x| x == tag) {
            return;
        }
        t.tags.push(tag.to_string());
        let value = json!({"gid": tag, "resource_type": "tag"});
        self.touched(
            task,
            json!({"field": "tags", "action": "added", "added_value": value}),
        );
        let name = self.name_of(Kind::Tag, tag).unwrap_or_default();
        let text = format!("{} added to {}", self.owner_name(), name);
        let extras = vec![("tag", Extra::Obj(Kind::Tag, tag.to_string()))];
        self.add_story(task, "added_to_tag", text, false, extras);
    }

    /// Removes a tag from a task (no-op when absent).
    pub(crate) fn remove_task_tag(&mut self, task: &str, tag: &str) {
        let Some(t) = self.tasks.get_mut(task) else {
            return;
        };
        let before = t.tags.len();
        t.tags.retain(|x| x != tag);
        if t.tags.len() == before {
            return;
        }
        let value = json!({"gid": tag, "resource_type": "tag"});
        self.touched(
            task,
            json!({"field": "tags", "action": "removed", "removed_value": value}),
        );
        let name = self.name_of(Kind::Tag, tag).unwrap_or_default();
        let text = format!("{} removed from {}", self.owner_name(), name);
        let extras = vec![("tag", Extra::Obj(Kind::Tag, tag.to_string()))];
        self.add_story(task, "removed_from_tag", text, false, extras);
    }

    /// Puts `task` into `section` (of the section's project), moving it out of
    /// any other section of that project. Adds the task to the project when it
    /// was not in it. Does not bump `modified_at` (as Asana). `story` says
    /// whether joining a project is recorded as an `added_to_project` story
    /// (not at task creation).
    pub(crate) fn place_task(&mut self, task: &str, section: &str, pos: &Position, story: bool) {
        let Some(project) = self.sections.get(section).map(|s| s.project.clone()) else {
            return;
        };
        let Some(t) = self.tasks.get_mut(task) else {
            return;
        };
        let old = t
            .memberships
            .iter()
            .position(|(p, _)| *p == project)
            .map(|i| t.memberships[i].1.clone());
        match &old {
            Some(old_section) => {
                for m in t.memberships.iter_mut().filter(|m| m.0 == project) {
                    m.1 = section.to_string();
                }
                if let Some(s) = self.sections.get_mut(old_section) {
                    s.tasks.retain(|x| x != task);
                }
            }
            None => t.memberships.push((project.clone(), section.to_string())),
        }
        if let Some(s) = self.sections.get_mut(section) {
            s.tasks.retain(|x| x != task);
            insert_at(&mut s.tasks, task.to_string(), pos);
        }
        let owner = self.owner_name();
        match old {
            None => {
                self.task_event(task, "added", Some((Kind::Project, &project)), None);
                self.task_event(task, "added", Some((Kind::Section, section)), None);
                if !story {
                    return;
                }
                let pname = self.name_of(Kind::Project, &project).unwrap_or_default();
                self.add_story(
                    task,
                    "added_to_project",
                    format!("{owner} added to {pname}"),
                    false,
                    vec![("project", Extra::Obj(Kind::Project, project.clone()))],
                );
            }
            Some(old_section) if old_section != section => {
                self.task_event(task, "removed", Some((Kind::Section, &old_section)), None);
                self.task_event(task, "added", Some((Kind::Section, section)), None);
                let old_name = self
                    .name_of(Kind::Section, &old_section)
                    .unwrap_or_default();
                let new_name = self.name_of(Kind::Section, section).unwrap_or_default();
                let pname = self.name_of(Kind::Project, &project).unwrap_or_default();
                self.add_story(
                    task,
                    "section_changed",
                    format!(
                        "{owner} moved this task from \"{old_name}\" to \"{new_name}\" in {pname}"
                    ),
                    false,
                    vec![
                        (
                            "old_section",
                            Extra::Obj(Kind::Section, old_section.clone()),
                        ),
                        (
                            "new_section",
                            Extra::Obj(Kind::Section, section.to_string()),
                        ),
                        ("project", Extra::Obj(Kind::Project, project.clone())),
                    ],
                );
            }
            Some(_) => {}
        }
    }

    /// Removes `task` from `project` (no-op when not in it).
    pub(crate) fn remove_task_from_project(&mut self, task: &str, project: &str) {
        let Some(t) = self.tasks.get_mut(task) else {
            return;
        };
        let Some(i) = t.memberships.iter().position(|(p, _)| p == project) else {
            return;
        };
        let (_, section) = t.memberships.remove(i);
        if let Some(s) = self.sections.get_mut(&section) {
            s.tasks.retain(|x| x != task);
        }
        // The project still has to see the removal, so scope it explicitly.
        let mut scopes = self.task_scopes(task);
        scopes.push(project.to_string());
        scopes.push(section.clone());
        self.push_event(
            scopes,
            (Kind::Task, task),
            "removed",
            Some((Kind::Project, project)),
            None,
        );
        let pname = self.name_of(Kind::Project, project).unwrap_or_default();
        let text = format!("{} removed this task from {pname}", self.owner_name());
        let extras = vec![("project", Extra::Obj(Kind::Project, project.to_string()))];
        self.add_story(task, "removed_from_project", text, false, extras);
    }

    /// Deletes a task with its stories.
    pub(crate) fn delete_task(&mut self, task: &str) {
        let scopes = self.task_scopes(task);
        self.push_event(scopes, (Kind::Task, task), "deleted", None, None);
        if let Some(t) = self.tasks.remove(task) {
            for (_, s) in &t.memberships {
                if let Some(s) = self.sections.get_mut(s) {
                    s.tasks.retain(|x| x != task);
                }
            }
            for s in &t.stories {
                self.stories.remove(s);
            }
        }
    }

    /// Sets (or with [`Due::None`] clears) the due date of a task (no-op when
    /// unchanged). `field` names the field the request wrote (`due_on` or
    /// `due_at`) for the `changed` event.
    pub(crate) fn set_task_due(&mut self, task: &str, due: Due, field: &str) {
        let Some(t) = self.tasks.get_mut(task) else {
            return;
        };
        if t.due == due {
            return;
        }
        let old = std::mem::replace(&mut t.due, due);
        self.touched(task, json!({"field": field, "action": "changed"}));
        let owner = self.owner_name();
        let text = match (due.due_at(), due.due_on_text()) {
            (Some(at), _) => format!("{owner} changed the due date to {}", ts(at)),
            (None, Some(on)) => format!("{owner} changed the due date to {on}"),
            (None, None) => format!("{owner} removed the due date"),
        };
        let extras = vec![
            ("old_dates", Extra::Json(old.story_dates())),
            ("new_dates", Extra::Json(due.story_dates())),
        ];
        self.add_story(task, "due_date_changed", text, false, extras);
    }

    /// Sets (or with `None` clears) the value of custom field `field` on a task
    /// (no-op when unchanged): bumps `modified_at`, emits a `changed` event on
    /// `custom_fields` and adds the `*_custom_field_changed` story.
    pub(crate) fn set_task_custom_value(
        &mut self,
        task: &str,
        field: &str,
        value: Option<CfValue>,
    ) {
        let Some(subtype) = self.custom_fields.get(field).map(|f| f.subtype) else {
            return;
        };
        let Some(t) = self.tasks.get_mut(task) else {
            return;
        };
        let old = match &value {
            Some(v) => t.custom_values.insert(field.to_string(), v.clone()),
            None => t.custom_values.remove(field),
        };
        if old == value {
            return;
        }
        let mut new_value = json!({
            "gid": field, "resource_type": "custom_field",
            "resource_subtype": subtype.as_str(), "type": subtype.as_str(),
        });
        if let Some(o) = new_value.as_object_mut() {
            o.insert(subtype.value_key().into(), self.value_ref(value.as_ref()));
        }
        self.touched(
            task,
            json!({"field": "custom_fields", "action": "changed", "new_value": new_value}),
        );
        let owner = self.owner_name();
        let fname = self.name_of(Kind::CustomField, field).unwrap_or_default();
        let text = match &value {
            Some(v) => format!(
                "{owner} changed {fname} to \"{}\"",
                self.display_value(field, v)
            ),
            None => format!("{owner} cleared {fname}"),
        };
        let mut extras = vec![(
            "custom_field",
            Extra::Obj(Kind::CustomField, field.to_string()),
        )];
        // Story values the spec types as non-nullable are left out when unset.
        let (old_key, new_key) = subtype.story_keys();
        for (v, key) in [(&old, old_key), (&value, new_key)] {
            let extra = match v {
                Some(CfValue::Enum(o)) => Extra::Obj(Kind::EnumOption, o.clone()),
                Some(CfValue::Text(s)) => Extra::Str(s.clone()),
                Some(CfValue::Date(d)) => Extra::Json(d.story_dates()),
                Some(other) => Extra::Json(self.value_ref(Some(other))),
                None => continue,
            };
            extras.push((key, extra));
        }
        let story = subtype.story_subtype();
        self.add_story(task, story, text, false, extras);
    }
}

impl State {
    /// A custom field value as events and stories show it: option and user
    /// references (`{gid, resource_type, name}`), the text, the number, or the
    /// `date_value` object; `null` when unset.
    pub(crate) fn value_ref(&self, value: Option<&CfValue>) -> Value {
        let refs = |kind: Kind, gids: &[String]| {
            Value::Array(gids.iter().map(|g| self.named(kind, g)).collect())
        };
        match value {
            None => Value::Null,
            Some(CfValue::Enum(o)) => json!({"gid": o, "resource_type": "enum_option"}),
            Some(CfValue::MultiEnum(os)) => refs(Kind::EnumOption, os),
            Some(CfValue::People(us)) => refs(Kind::User, us),
            Some(CfValue::Text(s)) => json!(s),
            Some(CfValue::Number(n)) => json!(n),
            Some(CfValue::Date(d)) => date_value(*d),
        }
    }
}

/// The `date_value` object of a date custom field: `date` always, `date_time`
/// for an instant (the spec types it as a non-nullable string, so it is left
/// out for a day).
pub(crate) fn date_value(d: Due) -> Value {
    let mut v = json!({ "date": d.due_on_text() });
    if let (Some(t), Some(o)) = (d.due_at(), v.as_object_mut()) {
        o.insert("date_time".into(), json!(ts(t)));
    }
    v
}
