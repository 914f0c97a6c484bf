//! In-memory data model of the fake: workspaces, users, projects, sections,
//! tasks, tags, stories, custom fields (with their enum options and project
//! settings), webhooks and the event log, plus the state-changing operations that keep
//! them consistent (system stories, events, `modified_at`). This file holds
//! the types and the lookups; the task writes are in the `writes` submodule.
//!
//! Everything here is synchronous and lives behind one mutex owned by the
//! server; nothing in this module performs I/O.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde_json::{json, Value};

use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::control::{DeliveryRecord, Fault, RecordedRequest, WebhookFault, WebhookTiming};

mod webhooks;
mod writes;

pub(crate) use webhooks::{Action, Filter, Health, Verdict, Webhook};
pub(crate) use writes::date_value;

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
    Webhook,
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
            Kind::Webhook => "webhook",
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

    /// The `StoryResponseDates` object of a `due_date_changed` (or
    /// `date_custom_field_changed`) story. The spec types its `due_on` as a
    /// non-nullable date, so it is left out when unset.
    pub(crate) fn story_dates(self) -> Value {
        let mut v = json!({"start_on": null, "due_at": self.due_at().map(ts)});
        if let (Some(d), Some(o)) = (self.due_on_text(), v.as_object_mut()) {
            o.insert("due_on".into(), json!(d));
        }
        v
    }
}

/// The subtypes of custom field the fake models: every type Asana defines
/// for task values (`reference` and formula fields aside).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CfType {
    Enum,
    MultiEnum,
    Text,
    Number,
    Date,
    People,
}

impl CfType {
    /// Every subtype, in the spec's order.
    pub(crate) const ALL: [CfType; 6] = [
        CfType::Text,
        CfType::Enum,
        CfType::MultiEnum,
        CfType::Number,
        CfType::Date,
        CfType::People,
    ];

    /// The `resource_subtype` (and `type`) string.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CfType::Enum => "enum",
            CfType::MultiEnum => "multi_enum",
            CfType::Text => "text",
            CfType::Number => "number",
            CfType::Date => "date",
            CfType::People => "people",
        }
    }

    /// The subtype named `s`.
    pub(crate) fn parse(s: &str) -> Option<CfType> {
        CfType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The key of a task value of this subtype (`enum_value`, `text_value`, ...).
    pub(crate) fn value_key(self) -> &'static str {
        match self {
            CfType::Enum => "enum_value",
            CfType::MultiEnum => "multi_enum_values",
            CfType::Text => "text_value",
            CfType::Number => "number_value",
            CfType::Date => "date_value",
            CfType::People => "people_value",
        }
    }

    /// The `resource_subtype` of the story a value change adds.
    pub(crate) fn story_subtype(self) -> &'static str {
        match self {
            CfType::Enum => "enum_custom_field_changed",
            CfType::MultiEnum => "multi_enum_custom_field_changed",
            CfType::Text => "text_custom_field_changed",
            CfType::Number => "number_custom_field_changed",
            CfType::Date => "date_custom_field_changed",
            CfType::People => "people_custom_field_changed",
        }
    }

    /// The story keys of the old and new value.
    pub(crate) fn story_keys(self) -> (&'static str, &'static str) {
        match self {
            CfType::Enum => ("old_enum_value", "new_enum_value"),
            CfType::MultiEnum => ("old_multi_enum_values", "new_multi_enum_values"),
            CfType::Text => ("old_text_value", "new_text_value"),
            CfType::Number => ("old_number_value", "new_number_value"),
            CfType::Date => ("old_date_value", "new_date_value"),
            CfType::People => ("old_people_value", "new_people_value"),
        }
    }

    /// Whether fields of this subtype have enum options.
    pub(crate) fn has_options(self) -> bool {
        matches!(self, CfType::Enum | CfType::MultiEnum)
    }
}

/// A value of a custom field on a task.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum CfValue {
    /// The gid of the chosen enum option.
    Enum(String),
    /// The gids of the chosen enum options, in the order written (never empty).
    MultiEnum(Vec<String>),
    Text(String),
    Number(serde_json::Number),
    /// A day or an instant (never [`Due::None`]).
    Date(Due),
    /// User gids, in the order written (never empty).
    People(Vec<String>),
}

/// A custom field (its metadata), defined in a workspace.
pub(crate) struct CustomField {
    pub name: String,
    pub workspace: String,
    pub subtype: CfType,
    pub description: String,
    /// Enum options in order (enum and multi-enum fields only).
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
    pub webhooks: BTreeMap<String, Webhook>,
    /// Pending delivery faults, applied in order.
    pub webhook_faults: Vec<WebhookFault>,
    pub webhook_timing: WebhookTiming,
    /// Every webhook delivery so far, oldest first.
    pub deliveries: Vec<DeliveryRecord>,
    /// Bumped whenever a webhook deliverer may have work (see `wake_deliverers`).
    pub wake: watch::Sender<u64>,
    /// The client of handshakes and deliveries (no proxy, no redirects); set at start.
    pub hook_client: Option<reqwest::Client>,
    /// The running deliverers, stopped when the server stops.
    pub hook_tasks: Vec<AbortHandle>,
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
            webhooks: BTreeMap::new(),
            webhook_faults: Vec::new(),
            webhook_timing: WebhookTiming::default(),
            deliveries: Vec::new(),
            wake: watch::Sender::new(0),
            hook_client: None,
            hook_tasks: Vec::new(),
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
            Kind::Story | Kind::CustomFieldSetting | Kind::Webhook => None,
        }
    }

    fn named(&self, kind: Kind, gid: &str) -> Value {
        match self.name_of(kind, gid) {
            Some(name) => json!({"gid": gid, "resource_type": kind.as_str(), "name": name}),
            None => json!({"gid": gid, "resource_type": kind.as_str()}),
        }
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

    /// The `display_value` of a custom field value: option and user names
    /// joined with `, `, a date as `YYYY-MM-DD`, an instant as Asana writes it.
    pub(crate) fn display_value(&self, field: &str, value: &CfValue) -> String {
        let names = |kind: Kind, gids: &[String]| {
            gids.iter()
                .map(|g| self.name_of(kind, g).unwrap_or_default())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match value {
            CfValue::Enum(o) => self.name_of(Kind::EnumOption, o).unwrap_or_default(),
            CfValue::MultiEnum(os) => names(Kind::EnumOption, os),
            CfValue::People(us) => names(Kind::User, us),
            CfValue::Date(d) => match d {
                Due::At(t) => ts(*t),
                other => other.due_on_text().unwrap_or_default(),
            },
            CfValue::Text(s) => s.clone(),
            CfValue::Number(n) => {
                let precision = self.custom_fields.get(field).map_or(0, |f| f.precision);
                let x = n.as_f64().unwrap_or_default();
                format!("{x:.prec$}", prec = precision as usize)
            }
        }
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
