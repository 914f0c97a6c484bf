//! In-memory data model of the fake: workspaces, users, projects, sections,
//! tasks, tags, stories, custom fields (with their enum options and project
//! settings) and the event log, plus the state-changing operations that keep
//! them consistent (system stories, events, `modified_at`).
//!
//! Everything here is synchronous and lives behind one mutex owned by the
//! server; nothing in this module performs I/O.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::{Fault, RecordedRequest};

/// First gid handed out; every gid has the same number of digits so that the
/// string order of the maps below is also the creation order.
const FIRST_GID: u64 = 1_209_000_000_000_001;

/// Kind of a stored resource; its `resource_type` string is [`Kind::as_str`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Workspace,
    User,
    Project,
    Section,
    Task,
    Tag,
    Story,
    CustomField,
    EnumOption,
    CustomFieldSetting,
}

impl Kind {
    /// The Asana `resource_type` of this kind.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Workspace => "workspace",
            Kind::User => "user",
            Kind::Project => "project",
            Kind::Section => "section",
            Kind::Task => "task",
            Kind::Tag => "tag",
            Kind::Story => "story",
            Kind::CustomField => "custom_field",
            Kind::EnumOption => "enum_option",
            Kind::CustomFieldSetting => "custom_field_setting",
        }
    }
}

/// Formats a timestamp the way Asana does: ISO-8601 UTC with milliseconds.
pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A workspace.
pub(crate) struct Workspace {
    pub name: String,
}

/// A user (all users belong to every workspace of the fake).
pub(crate) struct User {
    pub name: String,
    pub email: String,
}

/// A project with its ordered sections.
pub(crate) struct Project {
    pub name: String,
    pub workspace: String,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
    pub sections: Vec<String>,
    /// The project's custom field settings, in order.
    pub custom_field_settings: Vec<String>,
}

/// A section of a project with its ordered tasks.
pub(crate) struct Section {
    pub name: String,
    pub project: String,
    pub created_at: DateTime<Utc>,
    pub tasks: Vec<String>,
}

/// A task.
pub(crate) struct Task {
    pub name: String,
    pub notes: String,
    pub resource_subtype: String,
    pub completed: bool,
    pub completed_at: Option<DateTime<Utc>>,
    pub completed_by: Option<String>,
    pub assignee: Option<String>,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
    pub created_by: String,
    pub workspace: String,
    /// (project gid, section gid) in the order the task joined the projects.
    pub memberships: Vec<(String, String)>,
    pub tags: Vec<String>,
    pub followers: Vec<String>,
    pub stories: Vec<String>,
    pub due: Due,
    /// Custom field values by custom field gid. A value stays when its field
    /// leaves the task's projects (it is then shown disabled).
    pub custom_values: BTreeMap<String, CfValue>,
}

/// A task's due date: none, a whole day, or an instant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Due {
    #[default]
    None,
    On(NaiveDate),
    At(DateTime<Utc>),
}

impl Due {
    /// The day the task is due: the date itself, or the (UTC) date of `due_at`.
    pub(crate) fn due_on(self) -> Option<NaiveDate> {
        match self {
            Due::None => None,
            Due::On(d) => Some(d),
            Due::At(t) => Some(t.date_naive()),
        }
    }

    /// The instant the task is due, when it has a due time.
    pub(crate) fn due_at(self) -> Option<DateTime<Utc>> {
        match self {
            Due::At(t) => Some(t),
            _ => None,
        }
    }

    /// `due_on` as Asana renders it (`YYYY-MM-DD`).
    pub(crate) fn due_on_text(self) -> Option<String> {
        self.due_on().map(|d| d.format("%Y-%m-%d").to_string())
    }

    /// The `StoryResponseDates` object of a `due_date_changed` story. The spec
    /// types its `due_on` as a non-nullable date, so it is left out when unset.
    fn story_dates(self) -> Value {
        let mut v = json!({"start_on": null, "due_at": self.due_at().map(ts)});
        if let (Some(d), Some(o)) = (self.due_on_text(), v.as_object_mut()) {
            o.insert("due_on".into(), json!(d));
        }
        v
    }
}

/// The subtypes of custom field the fake models.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CfType {
    Enum,
    Text,
    Number,
}

impl CfType {
    /// The `resource_subtype` (and `type`) string.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CfType::Enum => "enum",
            CfType::Text => "text",
            CfType::Number => "number",
        }
    }
}

/// A value of a custom field on a task.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum CfValue {
    /// The gid of the chosen enum option.
    Enum(String),
    Text(String),
    Number(serde_json::Number),
}

/// A custom field (its metadata), defined in a workspace.
pub(crate) struct CustomField {
    pub name: String,
    pub workspace: String,
    pub subtype: CfType,
    pub description: String,
    /// Enum options in order (enum fields only).
    pub options: Vec<String>,
    /// Places after the decimal point (number fields only).
    pub precision: u32,
    pub has_notifications_enabled: bool,
    pub created_by: String,
}

/// An option of an enum custom field.
pub(crate) struct EnumOption {
    pub field: String,
    pub name: String,
    pub enabled: bool,
    pub color: String,
}

/// A custom field added to a project.
pub(crate) struct CustomFieldSetting {
    pub project: String,
    pub field: String,
    pub is_important: bool,
}

/// A tag.
pub(crate) struct Tag {
    pub name: String,
    pub workspace: String,
    pub color: Option<String>,
    pub notes: String,
    pub created_at: DateTime<Utc>,
}

/// A value of a subtype-specific story field (e.g. `new_section`).
pub(crate) enum Extra {
    Str(String),
    Obj(Kind, String),
    /// A literal value (e.g. the `old_dates` of a `due_date_changed` story).
    Json(Value),
}

/// A story on a task (comment or system story).
pub(crate) struct Story {
    pub task: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub resource_subtype: &'static str,
    pub text: String,
    pub is_pinned: bool,
    pub extras: Vec<(&'static str, Extra)>,
}

impl Story {
    /// `comment` for comment stories, `system` otherwise.
    pub(crate) fn story_type(&self) -> &'static str {
        if self.resource_subtype == "comment_added" {
            "comment"
        } else {
            "system"
        }
    }
}

/// One entry of the event log.
pub(crate) struct Event {
    /// Resource gids whose event streams see this event.
    pub scopes: Vec<String>,
    /// The rendered `EventResponse`.
    pub json: Value,
}

/// Position of a sync token in the event log.
pub(crate) struct SyncCursor {
    pub resource: String,
    pub pos: usize,
}

/// The whole state of one fake server.
pub(crate) struct State {
    next_gid: u64,
    last_time: DateTime<Utc>,
    pub base_url: String,
    pub owner: String,
    pub workspaces: BTreeMap<String, Workspace>,
    pub users: BTreeMap<String, User>,
    pub projects: BTreeMap<String, Project>,
    pub sections: BTreeMap<String, Section>,
    pub tasks: BTreeMap<String, Task>,
    pub tags: BTreeMap<String, Tag>,
    pub stories: BTreeMap<String, Story>,
    pub custom_fields: BTreeMap<String, CustomField>,
    pub enum_options: BTreeMap<String, EnumOption>,
    pub custom_field_settings: BTreeMap<String, CustomFieldSetting>,
    /// Whether the workspace's plan includes custom fields; without, custom-field
    /// writes answer 402 Payment Required.
    pub custom_fields_premium: bool,
    pub events: Vec<Event>,
    pub sync_tokens: HashMap<String, SyncCursor>,
    /// Token required by the server; `None` accepts any non-empty token.
    pub token: Option<String>,
    pub faults: Vec<Fault>,
    pub rate_limit: Option<u32>,
    pub rate_windows: HashMap<String, VecDeque<Instant>>,
    pub latency: Duration,
    pub requests: Vec<RecordedRequest>,
    /// Offsets issued before the current epoch are expired.
    pub offset_epoch: u64,
    /// Requests in flight per token: (reads, writes).
    pub in_flight: HashMap<String, (u32, u32)>,
    /// The most requests seen in flight for one token at once: (reads, writes).
    pub in_flight_peak: (u32, u32),
}

/// Where to put a task or section inside its container.
pub(crate) enum Position {
    End,
    Start,
    Before(String),
    After(String),
}

/// Inserts `item` into `list` at `pos` (an unknown neighbour means start or end).
pub(crate) fn insert_at(list: &mut Vec<String>, item: String, pos: &Position) {
    let idx = match pos {
        Position::End => list.len(),
        Position::Start => 0,
        Position::Before(g) => list.iter().position(|x| x == g).unwrap_or(0),
        Position::After(g) => list
            .iter()
            .position(|x| x == g)
            .map_or(list.len(), |i| i + 1),
    };
    list.insert(idx, item);
}

impl State {
    /// An empty state answering under `base_url`.
    pub(crate) fn new(base_url: String, token: Option<String>) -> State {
        State {
            next_gid: FIRST_GID,
            last_time: DateTime::<Utc>::MIN_UTC,
            base_url,
            owner: String::new(),
            workspaces: BTreeMap::new(),
            users: BTreeMap::new(),
            projects: BTreeMap::new(),
            sections: BTreeMap::new(),
            tasks: BTreeMap::new(),
            tags: BTreeMap::new(),
            stories: BTreeMap::new(),
            custom_fields: BTreeMap::new(),
            enum_options: BTreeMap::new(),
            custom_field_settings: BTreeMap::new(),
            custom_fields_premium: true,
            events: Vec::new(),
            sync_tokens: HashMap::new(),
            token,
            faults: Vec::new(),
            rate_limit: None,
            rate_windows: HashMap::new(),
            latency: Duration::ZERO,
            requests: Vec::new(),
            offset_epoch: 0,
            in_flight: HashMap::new(),
            in_flight_peak: (0, 0),
        }
    }

    /// A fresh, unique gid.
    pub(crate) fn gid(&mut self) -> String {
        let g = self.next_gid;
        self.next_gid += 1;
        g.to_string()
    }

    /// The current time in whole milliseconds, never earlier than a time
    /// handed out before (so timestamps are monotonic even if the clock steps).
    pub(crate) fn now(&mut self) -> DateTime<Utc> {
        let now = Utc::now();
        let now = DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now);
        let t = now.max(self.last_time);
        self.last_time = t;
        t
    }

    /// Creates a workspace.
    pub(crate) fn add_workspace(&mut self, name: &str) -> String {
        let gid = self.gid();
        self.workspaces.insert(
            gid.clone(),
            Workspace {
                name: name.to_string(),
            },
        );
        gid
    }

    /// Creates a user.
    pub(crate) fn add_user(&mut self, name: &str, email: &str) -> String {
        let gid = self.gid();
        self.users.insert(
            gid.clone(),
            User {
                name: name.to_string(),
                email: email.to_string(),
            },
        );
        gid
    }

    /// Creates a project with its default first section "Untitled section".
    pub(crate) fn add_project(&mut self, name: &str, workspace: &str) -> String {
        let gid = self.gid();
        let now = self.now();
        self.projects.insert(
            gid.clone(),
            Project {
                name: name.to_string(),
                workspace: workspace.to_string(),
                created_at: now,
                modified_at: now,
                sections: Vec::new(),
                custom_field_settings: Vec::new(),
            },
        );
        self.add_section(&gid, "Untitled section", &Position::End);
        gid
    }

    /// Creates a section in `project` (which must exist).
    pub(crate) fn add_section(&mut self, project: &str, name: &str, pos: &Position) -> String {
        let gid = self.gid();
        let now = self.now();
        self.sections.insert(
            gid.clone(),
            Section {
                name: name.to_string(),
                project: project.to_string(),
                created_at: now,
                tasks: Vec::new(),
            },
        );
        if let Some(p) = self.projects.get_mut(project) {
            insert_at(&mut p.sections, gid.clone(), pos);
        }
        gid
    }

    /// Resolves a user reference: gid, email (case-insensitive) or `me`.
    pub(crate) fn resolve_user(&self, s: &str) -> Option<String> {
        if s == "me" {
            return Some(self.owner.clone());
        }
        if self.users.contains_key(s) {
            return Some(s.to_string());
        }
        self.users
            .iter()
            .find(|(_, u)| u.email.eq_ignore_ascii_case(s))
            .map(|(g, _)| g.clone())
    }

    /// Name of a resource, for compact renderings inside events.
    pub(crate) fn name_of(&self, kind: Kind, gid: &str) -> Option<String> {
        match kind {
            Kind::Workspace => self.workspaces.get(gid).map(|x| x.name.clone()),
            Kind::User => self.users.get(gid).map(|x| x.name.clone()),
            Kind::Project => self.projects.get(gid).map(|x| x.name.clone()),
            Kind::Section => self.sections.get(gid).map(|x| x.name.clone()),
            Kind::Task => self.tasks.get(gid).map(|x| x.name.clone()),
            Kind::Tag => self.tags.get(gid).map(|x| x.name.clone()),
            Kind::CustomField => self.custom_fields.get(gid).map(|x| x.name.clone()),
            Kind::EnumOption => self.enum_options.get(gid).map(|x| x.name.clone()),
            Kind::Story | Kind::CustomFieldSetting => None,
        }
    }

    fn named(&self, kind: Kind, gid: &str) -> Value {
        match self.name_of(kind, gid) {
            Some(name) => json!({"gid": gid, "resource_type": kind.as_str(), "name": name}),
            None => json!({"gid": gid, "resource_type": kind.as_str()}),
        }
    }

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

    /// Custom fields of the task's projects, in project order and then setting
    /// order, without repeats.
    pub(crate) fn task_field_gids(&self, task: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let Some(t) = self.tasks.get(task) else {
            return out;
        };
        for (p, _) in &t.memberships {
            for f in self.project_field_gids(p) {
                if !out.contains(&f) {
                    out.push(f);
                }
            }
        }
        out
    }

    /// Custom fields added to `project`, in setting order.
    pub(crate) fn project_field_gids(&self, project: &str) -> Vec<String> {
        self.projects
            .get(project)
            .map(|p| {
                p.custom_field_settings
                    .iter()
                    .filter_map(|s| self.custom_field_settings.get(s))
                    .map(|s| s.field.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The `display_value` of a custom field value.
    pub(crate) fn display_value(&self, field: &str, value: &CfValue) -> String {
        match value {
            CfValue::Enum(o) => self.name_of(Kind::EnumOption, o).unwrap_or_default(),
            CfValue::Text(s) => s.clone(),
            CfValue::Number(n) => {
                let precision = self.custom_fields.get(field).map_or(0, |f| f.precision);
                let x = n.as_f64().unwrap_or_default();
                format!("{x:.prec$}", prec = precision as usize)
            }
        }
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
        let (key, val) = match (subtype, &value) {
            (CfType::Enum, Some(CfValue::Enum(o))) => (
                "enum_value",
                json!({"gid": o, "resource_type": "enum_option"}),
            ),
            (CfType::Enum, _) => ("enum_value", Value::Null),
            (CfType::Text, Some(CfValue::Text(s))) => ("text_value", json!(s)),
            (CfType::Text, _) => ("text_value", Value::Null),
            (CfType::Number, Some(CfValue::Number(n))) => ("number_value", json!(n)),
            (CfType::Number, _) => ("number_value", Value::Null),
        };
        if let Some(o) = new_value.as_object_mut() {
            o.insert(key.into(), val);
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
        let keys = [
            (
                &old,
                ["old_enum_value", "old_text_value", "old_number_value"],
            ),
            (
                &value,
                ["new_enum_value", "new_text_value", "new_number_value"],
            ),
        ];
        for (v, [enum_key, text_key, number_key]) in keys {
            match v {
                Some(CfValue::Enum(o)) => {
                    extras.push((enum_key, Extra::Obj(Kind::EnumOption, o.clone())));
                }
                Some(CfValue::Text(s)) => extras.push((text_key, Extra::Str(s.clone()))),
                Some(CfValue::Number(n)) => extras.push((number_key, Extra::Json(json!(n)))),
                None => {}
            }
        }
        let story = match subtype {
            CfType::Enum => "enum_custom_field_changed",
            CfType::Text => "text_custom_field_changed",
            CfType::Number => "number_custom_field_changed",
        };
        self.add_story(task, story, text, false, extras);
    }

    /// Tasks of a project in project order (sections in order, then task
    /// order within each section).
    pub(crate) fn project_task_gids(&self, project: &str) -> Vec<String> {
        let Some(p) = self.projects.get(project) else {
            return Vec::new();
        };
        p.sections
            .iter()
            .filter_map(|s| self.sections.get(s))
            .flat_map(|s| s.tasks.iter().cloned())
            .collect()
    }

    /// A fresh sync token for `resource` positioned at the end of the log.
    pub(crate) fn new_sync_token(&mut self, resource: &str, pos: usize) -> String {
        let token = uuid::Uuid::new_v4().simple().to_string();
        self.sync_tokens.insert(
            token.clone(),
            SyncCursor {
                resource: resource.to_string(),
                pos,
            },
        );
        token
    }
}
