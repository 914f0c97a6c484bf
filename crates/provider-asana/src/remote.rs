//! Asana-side views of tickets for the dual-write `sync` provider, and the defensive decoding
//! of Asana's JSON into them.
//!
//! Nothing here trusts the server: a missing or mistyped field becomes a default (empty text,
//! `false`, `None`, the Unix epoch for an unreadable time) instead of a panic; only a task
//! without a `gid` is an error.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use serde_json::Value;
use ticket_provider_api::{Due, Fields, Labels, Priority, Status};

use crate::attribution::StoryOrigin;

/// A task of the tickets project as Asana holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteTask {
    /// The task gid (also the ticket guid of the `asana` provider).
    pub gid: String,
    /// The task name.
    pub subject: String,
    /// The task notes without the marker line.
    pub description: String,
    /// The marker of the `[ticket-guid: <marker>]` line that ends the notes, if any.
    pub marker: Option<String>,
    /// The status of the task's section in the project; `None` when the task is in a section
    /// that maps to no status, or in no section of the project.
    pub status: Option<Status>,
    /// The name of that section, as Asana reports it.
    pub section_name: Option<String>,
    /// The priority of its priority tag; `None` when it has none.
    pub priority: Option<Priority>,
    /// The assignee: e-mail when Asana reports one, else the user gid.
    pub assignee: Option<String>,
    /// Whether the task is marked complete.
    pub completed: bool,
    /// When it is due: `due_at` as an instant when set, else `due_on` as a date.
    pub due: Option<Due>,
    /// The values of the mapped custom fields (`asana_fields`), by ticket field name.
    pub fields: Fields,
    /// The names of its tags that carry no priority.
    pub labels: Labels,
    /// Whether the task is a member of the tickets project.
    pub in_project: bool,
    /// When the task was created.
    pub created_at: DateTime<Utc>,
    /// The gid of the user who created it (`created_by`), when Asana says.
    pub created_by: Option<String>,
    /// When the task last changed (Asana does not bump it for section moves).
    pub modified_at: DateTime<Utc>,
    /// Its comments, oldest first (only filled by calls that say so).
    pub comments: Vec<RemoteComment>,
}

/// Where a task stands in the tickets project, as a read of it reported: the status of its
/// section and whether it is complete (see [`crate::TaskClient::move_task_from`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskPlace {
    /// The status of the task's section; `None` when that section maps to no status, or the
    /// task is in no section of the project.
    pub status: Option<Status>,
    /// Whether the task is marked complete.
    pub completed: bool,
}

impl TaskPlace {
    /// Where [`crate::TaskClient::move_task`] leaves a task moved to `status`.
    pub fn at(status: Status) -> Self {
        TaskPlace {
            status: Some(status),
            completed: status.is_terminal(),
        }
    }

    /// Where `task` was when it was read.
    pub fn of(task: &RemoteTask) -> Self {
        TaskPlace {
            status: task.status,
            completed: task.completed,
        }
    }
}

/// A comment story of a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteComment {
    /// The story gid.
    pub story_gid: String,
    /// The text as Asana holds it: for the token owner's stories, as [`crate::attribution::encode`]
    /// wrote it.
    pub text: String,
    /// Who Asana says wrote it (e-mail, else name), usually the token owner.
    pub created_by: Option<String>,
    /// The gid of the user who wrote it, when Asana says (compare with
    /// [`crate::TaskClient::token_owner`] to tell the stories posted through the API).
    pub created_by_gid: Option<String>,
    /// When it was written (server time).
    pub created_at: DateTime<Utc>,
}

impl RemoteComment {
    /// Who wrote it, for [`crate::attribution::decode`]: the token owner (the user of
    /// `owner_gid`, see [`crate::TaskClient::token_owner`]) or someone else, by e-mail or
    /// name.
    pub fn origin(&self, owner_gid: &str) -> StoryOrigin<'_> {
        if self.created_by_gid.as_deref() == Some(owner_gid) {
            StoryOrigin::TokenOwner
        } else {
            StoryOrigin::Other(self.created_by.as_deref())
        }
    }
}

/// One event of the project's event stream (a hint that something changed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteEvent {
    /// `added`, `changed`, `removed`, `deleted` or `undeleted`.
    pub action: String,
    /// The gid of the changed resource.
    pub resource_gid: String,
    /// Its type: `task`, `story`, `section`, ...
    pub resource_type: String,
    /// For stories: the task they belong to, when Asana says.
    pub parent_gid: Option<String>,
    /// For `changed`: the field that changed.
    pub field: Option<String>,
    /// When it happened.
    pub created_at: Option<DateTime<Utc>>,
}

/// The answer of [`crate::TaskClient::events`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventsPage {
    /// Events since the given token, and the token to pass next time.
    Events {
        /// The events, oldest first.
        events: Vec<RemoteEvent>,
        /// The token for the next call.
        sync: String,
        /// Whether more events are waiting (call again at once with `sync`).
        has_more: bool,
    },
    /// No token was given, or it was too old (Asana's 412): changes may have been missed,
    /// so read everything again, then continue with `sync`.
    TokenInvalid {
        /// The fresh token.
        sync: String,
    },
}

impl RemoteEvent {
    /// The task this event concerns: the resource for task events, the parent for stories.
    pub fn task_gid(&self) -> Option<&str> {
        match self.resource_type.as_str() {
            "task" => Some(&self.resource_gid),
            "story" => self.parent_gid.as_deref(),
            _ => None,
        }
    }
}

const MARKER_PREFIX: &str = "[ticket-guid: ";

/// The marker line for `marker`.
pub(crate) fn marker_line(marker: &str) -> String {
    format!("{MARKER_PREFIX}{marker}]")
}

/// Notes made of `description` and, when given, a last line with the marker.
pub(crate) fn notes_with_marker(description: &str, marker: Option<&str>) -> String {
    match marker {
        None => description.to_string(),
        Some(m) if description.is_empty() => marker_line(m),
        Some(m) => format!("{description}\n\n{}", marker_line(m)),
    }
}

/// Splits notes into the description and the marker of a last `[ticket-guid: …]` line.
pub(crate) fn split_marker(notes: &str) -> (String, Option<String>) {
    let trimmed = notes.trim_end();
    let (before, last) = match trimmed.rfind('\n') {
        Some(i) => (&trimmed[..i], &trimmed[i + 1..]),
        None => ("", trimmed),
    };
    let last = last.trim();
    match last
        .strip_prefix(MARKER_PREFIX)
        .and_then(|r| r.strip_suffix(']'))
    {
        Some(m) if !m.is_empty() && !m.contains(']') => {
            let desc = before.strip_suffix('\n').unwrap_or(before);
            (desc.to_string(), Some(m.to_string()))
        }
        _ => (notes.to_string(), None),
    }
}

/// A string field, or `None`.
pub(crate) fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// A time field, or `None` when absent or unreadable.
pub(crate) fn time_field(v: &Value, key: &str) -> Option<DateTime<Utc>> {
    str_field(v, key)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// The due date of a task record: `due_at` (an instant, kept to the millisecond) when set
/// and readable, else `due_on` read as a plain date (`YYYY-MM-DD`, never through a time
/// zone); `None` when neither is.
pub(crate) fn due_field(v: &Value) -> Option<Due> {
    if let Some(t) = time_field(v, "due_at") {
        return Some(Due::At(t.trunc_subsecs(3)));
    }
    str_field(v, "due_on")
        .and_then(|d| NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").ok())
        .map(Due::Date)
}

/// The body fields that set `due` on a task write: `due_on` for a date, `due_at` (UTC,
/// milliseconds) for an instant, `due_on: null` to clear. Never both keys: Asana takes one
/// of them per request, and either replaces the other.
pub(crate) fn due_body(due: Option<&Due>) -> (&'static str, Value) {
    match due {
        Some(Due::Date(d)) => ("due_on", Value::String(d.format("%Y-%m-%d").to_string())),
        Some(Due::At(t)) => (
            "due_at",
            Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        ),
        None => ("due_on", Value::Null),
    }
}

/// The Unix epoch, for times Asana did not give.
pub(crate) fn epoch() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(0, 0).unwrap_or_default()
}

/// The gid of the user in field `key` of `v` (e.g. a task's `assignee`).
pub(crate) fn user_gid<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(|u| str_field(u, "gid"))
}

/// A user reference as e-mail (from `emails`, gid → e-mail), else gid.
pub(crate) fn user_ref(v: &Value, emails: &HashMap<String, String>) -> Option<String> {
    let gid = str_field(v, "gid")?;
    Some(emails.get(gid).cloned().unwrap_or_else(|| gid.to_string()))
}

/// The gids of the authors of the comments of a story list.
pub(crate) fn story_authors(stories: &Value) -> impl Iterator<Item = &str> {
    stories
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| is_comment(s))
        .filter_map(|s| user_gid(s, "created_by"))
}

/// Whether a story is a comment (not a system story).
fn is_comment(s: &Value) -> bool {
    str_field(s, "type") == Some("comment")
        || (s.get("type").is_none() && str_field(s, "resource_subtype") == Some("comment_added"))
}

/// The comment stories of a story list, oldest first; authors by e-mail (from `emails`,
/// gid → e-mail), else name, else gid.
pub(crate) fn decode_comments(
    stories: &Value,
    emails: &HashMap<String, String>,
) -> Vec<RemoteComment> {
    let Some(items) = stories.as_array() else {
        return Vec::new();
    };
    let mut out: Vec<RemoteComment> = items
        .iter()
        .filter(|s| is_comment(s))
        .filter_map(|s| {
            Some(RemoteComment {
                story_gid: str_field(s, "gid")?.to_string(),
                text: str_field(s, "text").unwrap_or_default().to_string(),
                created_by: s.get("created_by").and_then(|u| user_ref_named(u, emails)),
                created_by_gid: s
                    .get("created_by")
                    .and_then(|u| str_field(u, "gid"))
                    .map(str::to_string),
                created_at: time_field(s, "created_at").unwrap_or_else(epoch),
            })
        })
        .collect();
    out.sort_by_key(|c| c.created_at);
    out
}

fn user_ref_named(u: &Value, emails: &HashMap<String, String>) -> Option<String> {
    let gid = str_field(u, "gid");
    gid.and_then(|g| emails.get(g).cloned())
        .or_else(|| {
            str_field(u, "name")
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        })
        .or_else(|| gid.map(str::to_string))
}

/// Decodes one event; `None` when it lacks a resource.
pub(crate) fn decode_event(v: &Value) -> Option<RemoteEvent> {
    let resource = v.get("resource")?;
    Some(RemoteEvent {
        action: str_field(v, "action").unwrap_or_default().to_string(),
        resource_gid: str_field(resource, "gid")?.to_string(),
        resource_type: str_field(resource, "resource_type")
            .unwrap_or_default()
            .to_string(),
        parent_gid: v
            .get("parent")
            .and_then(|p| str_field(p, "gid"))
            .map(str::to_string),
        field: v
            .get("change")
            .and_then(|c| str_field(c, "field"))
            .map(str::to_string),
        created_at: time_field(v, "created_at"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn marker_round_trips() {
        for desc in ["", "one line", "two\nlines", "ends with newline\n"] {
            let notes = notes_with_marker(desc, Some("abc-123"));
            assert_eq!(
                split_marker(&notes),
                (desc.to_string(), Some("abc-123".into())),
                "{notes:?}"
            );
        }
        assert_eq!(split_marker("plain"), ("plain".into(), None));
        assert_eq!(
            split_marker("[ticket-guid: ]"),
            ("[ticket-guid: ]".into(), None)
        );
    }

    #[test]
    fn due_dates_read_and_write_without_time_zones() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 24).unwrap();
        assert_eq!(
            due_field(&json!({"due_on": "2026-12-24"})),
            Some(Due::Date(day))
        );
        let at: DateTime<Utc> = "2026-12-24T14:00:00.250Z".parse().unwrap();
        // due_at wins; Asana also reports its date as due_on.
        assert_eq!(
            due_field(&json!({"due_on": "2026-12-24", "due_at": "2026-12-24T15:00:00.250+01:00"})),
            Some(Due::At(at))
        );
        assert_eq!(
            due_field(&json!({"due_on": "2026-12-24", "due_at": "garbage"})),
            Some(Due::Date(day)),
            "an unreadable due_at falls back to the date"
        );
        for nothing in [
            json!({}),
            json!({"due_on": null, "due_at": null}),
            json!({"due_on": "24.12.2026"}),
            json!({"due_on": 5}),
        ] {
            assert_eq!(due_field(&nothing), None, "{nothing}");
        }
        assert_eq!(
            due_body(Some(&Due::Date(day))),
            ("due_on", json!("2026-12-24"))
        );
        assert_eq!(
            due_body(Some(&Due::At(at))),
            ("due_at", json!("2026-12-24T14:00:00.250Z"))
        );
        assert_eq!(due_body(None), ("due_on", Value::Null));
    }

    #[test]
    fn comments_skip_system_stories_and_bad_entries() {
        let stories = json!([
            {"gid": "2", "type": "comment", "text": "b", "created_at": "2024-01-02T00:00:00.000Z"},
            {"gid": "1", "type": "comment", "text": "a", "created_at": "2024-01-01T00:00:00.000Z",
             "created_by": {"gid": "9", "name": "Owner"}},
            {"gid": "3", "type": "system", "text": "moved"},
            {"type": "comment", "text": "no gid"},
            7,
        ]);
        let emails = HashMap::from([("9".to_string(), "o@x".to_string())]);
        let c = decode_comments(&stories, &emails);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].story_gid, "1");
        assert_eq!(c[0].created_by.as_deref(), Some("o@x"));
        assert_eq!(c[0].created_by_gid.as_deref(), Some("9"));
        assert_eq!(c[1].created_by_gid, None);
        let c = decode_comments(&stories, &HashMap::new());
        assert_eq!(
            c[0].created_by.as_deref(),
            Some("Owner"),
            "name without e-mail"
        );
        assert!(decode_comments(&json!({"x": 1}), &emails).is_empty());
    }
}
