//! Webhooks as data: the subscription (resource, target, filters, secret), its
//! health fields, and the rules the deliverer (`hooks.rs`) follows: which
//! events of the log a webhook delivers, in what shape, and what a failed
//! delivery does to its health (when to retry, when to give up and delete it).
//!
//! Everything here is a pure function of its inputs or a synchronous change to
//! the [`State`]; the HTTP side lives in `hooks.rs`.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{json, Map, Value};

use super::{Kind, State};
use crate::control::{WebhookHealth, WebhookTiming};
use crate::render::shallow;

/// Most events one delivery carries; the rest follow in the next one.
const MAX_EVENTS_PER_DELIVERY: usize = 100;

/// The `action` of an event (and of a [`Filter`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    Changed,
    Added,
    Removed,
    Deleted,
    Undeleted,
}

impl Action {
    /// Every action, in the spec's order.
    pub(crate) const ALL: [Action; 5] = [
        Action::Changed,
        Action::Added,
        Action::Removed,
        Action::Deleted,
        Action::Undeleted,
    ];

    /// The action's name in events and filters.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Action::Changed => "changed",
            Action::Added => "added",
            Action::Removed => "removed",
            Action::Deleted => "deleted",
            Action::Undeleted => "undeleted",
        }
    }

    /// The action named `s`.
    pub(crate) fn parse(s: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// One `WebhookFilter`: an event passes when it matches every part that is set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Filter {
    pub resource_type: Option<String>,
    pub resource_subtype: Option<String>,
    pub action: Option<Action>,
    /// For `changed` events: the changed field must be one of these (empty = any).
    pub fields: Vec<String>,
}

/// What filters look at in an event.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EventFacts<'a> {
    pub resource_type: &'a str,
    pub resource_subtype: Option<&'a str>,
    pub action: &'a str,
    /// `change.field` of a `changed` event.
    pub field: Option<&'a str>,
}

impl Filter {
    /// Whether the event passes this filter.
    pub(crate) fn passes(&self, e: &EventFacts<'_>) -> bool {
        let same = |want: &Option<String>, have: Option<&str>| {
            want.as_deref().is_none_or(|w| Some(w) == have)
        };
        same(&self.resource_type, Some(e.resource_type))
            && same(&self.resource_subtype, e.resource_subtype)
            && self.action.is_none_or(|a| a.as_str() == e.action)
            && (self.fields.is_empty()
                || e.field.is_some_and(|f| self.fields.iter().any(|x| x == f)))
    }

    /// The filter as the API renders it (`WebhookFilter`).
    pub(crate) fn to_json(&self) -> Value {
        let mut m = Map::new();
        if let Some(t) = &self.resource_type {
            m.insert("resource_type".into(), json!(t));
        }
        if let Some(t) = &self.resource_subtype {
            m.insert("resource_subtype".into(), json!(t));
        }
        if let Some(a) = self.action {
            m.insert("action".into(), json!(a.as_str()));
        }
        if !self.fields.is_empty() {
            m.insert("fields".into(), json!(self.fields));
        }
        Value::Object(m)
    }
}

/// Whether a webhook with `filters` delivers the event: without filters every event
/// goes; with filters, an event that passes any one of them.
pub(crate) fn delivers(filters: &[Filter], e: &EventFacts<'_>) -> bool {
    filters.is_empty() || filters.iter().any(|f| f.passes(e))
}

/// An event of the log as a webhook delivers it: every resource it names (the user, the
/// resource, the parent, a change's `new_value`/`added_value`/`removed_value`) reduced to
/// `gid` and `resource_type`, as the spec's `EventResponse` says of webhook events.
pub(crate) fn skinny(event: &Value) -> Value {
    let Value::Object(m) = event else {
        return event.clone();
    };
    let mut out = Map::new();
    for (k, v) in m {
        let v = match k.as_str() {
            "user" | "resource" | "parent" => shallow(v),
            "change" => match v {
                Value::Object(c) => Value::Object(
                    c.iter()
                        .map(|(ck, cv)| {
                            let cv = match ck.as_str() {
                                "new_value" | "added_value" | "removed_value" => shallow(cv),
                                _ => cv.clone(),
                            };
                            (ck.clone(), cv)
                        })
                        .collect(),
                ),
                other => other.clone(),
            },
            _ => v.clone(),
        };
        out.insert(k.clone(), v);
    }
    Value::Object(out)
}

/// The health fields of a webhook object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Health {
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_failure_at: Option<DateTime<Utc>>,
    pub last_failure_content: Option<String>,
    /// Failed attempts since the last success.
    pub delivery_retry_count: u32,
    pub next_attempt_after: Option<DateTime<Utc>>,
    pub failure_deletion_timestamp: Option<DateTime<Utc>>,
}

/// What follows a failed delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Try the same delivery again at this time.
    RetryAt(DateTime<Utc>),
    /// Deliveries have failed for too long: delete the webhook.
    Delete,
}

/// `t + d`, saturating.
fn later(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The wait before retrying after the `failures`-th failed attempt in a row (1 for the
/// first): `first_retry`, doubling each time, at most `max_retry`.
pub(crate) fn backoff(failures: u32, timing: &WebhookTiming) -> Duration {
    let doublings = failures.saturating_sub(1).min(32);
    timing
        .first_retry
        .saturating_mul(1u32 << doublings.min(31))
        .min(timing.max_retry)
}

impl Health {
    /// Records a delivery the target accepted.
    pub(crate) fn succeeded(&mut self, now: DateTime<Utc>) {
        self.last_success_at = Some(now);
        self.delivery_retry_count = 0;
        self.next_attempt_after = None;
        self.failure_deletion_timestamp = None;
    }

    /// Records a failed delivery and says what follows: a retry after the backoff (never
    /// later than the deletion time, so the last try falls on it), or deletion once the
    /// failures have lasted `deletion_after`.
    pub(crate) fn failed(
        &mut self,
        now: DateTime<Utc>,
        content: String,
        timing: &WebhookTiming,
    ) -> Verdict {
        self.last_failure_at = Some(now);
        self.last_failure_content = Some(content);
        self.delivery_retry_count = self.delivery_retry_count.saturating_add(1);
        let deadline = *self
            .failure_deletion_timestamp
            .get_or_insert_with(|| later(now, timing.deletion_after));
        if now >= deadline {
            self.next_attempt_after = None;
            return Verdict::Delete;
        }
        let at = later(now, backoff(self.delivery_retry_count, timing)).min(deadline);
        self.next_attempt_after = Some(at);
        Verdict::RetryAt(at)
    }
}

/// A webhook: who it follows, where it delivers, and how that goes.
pub(crate) struct Webhook {
    /// The project or task it follows.
    pub resource: String,
    /// Whether `resource` is a project or a task.
    pub resource_kind: Kind,
    pub workspace: String,
    pub target: String,
    pub filters: Vec<Filter>,
    /// The `X-Hook-Secret` of its handshake, the key of its signatures.
    pub secret: String,
    pub created_at: DateTime<Utc>,
    pub health: Health,
    /// Position in the event log up to which events went into deliveries.
    pub cursor: usize,
}

impl State {
    /// The events of the log after webhook `gid`'s cursor that it delivers (at most
    /// [`MAX_EVENTS_PER_DELIVERY`]), as webhooks deliver them; moves the cursor past them.
    /// `None` for an unknown webhook.
    pub(crate) fn take_webhook_events(&mut self, gid: &str) -> Option<Vec<Value>> {
        let hook = self.webhooks.get(gid)?;
        let mut out = Vec::new();
        let mut pos = hook.cursor;
        while pos < self.events.len() && out.len() < MAX_EVENTS_PER_DELIVERY {
            let e = &self.events[pos];
            pos += 1;
            if !e.scopes.contains(&hook.resource) {
                continue;
            }
            let text = |p: &str| e.json.pointer(p).and_then(Value::as_str);
            let resource_type = text("/resource/resource_type").unwrap_or_default();
            let resource_gid = text("/resource/gid").unwrap_or_default();
            let subtype = match resource_type {
                "task" => self
                    .tasks
                    .get(resource_gid)
                    .map(|t| t.resource_subtype.as_str()),
                "story" => self.stories.get(resource_gid).map(|s| s.resource_subtype),
                _ => None,
            };
            let facts = EventFacts {
                resource_type,
                resource_subtype: subtype,
                action: text("/action").unwrap_or_default(),
                field: text("/change/field"),
            };
            if delivers(&hook.filters, &facts) {
                out.push(skinny(&e.json));
            }
        }
        if let Some(hook) = self.webhooks.get_mut(gid) {
            hook.cursor = pos;
        }
        Some(out)
    }

    /// The health of webhook `gid`, as tests read it.
    pub(crate) fn webhook_health(&self, gid: &str) -> Option<WebhookHealth> {
        let w = self.webhooks.get(gid)?;
        let h = &w.health;
        Some(WebhookHealth {
            gid: gid.to_string(),
            resource: w.resource.clone(),
            target: w.target.clone(),
            active: true,
            last_success_at: h.last_success_at,
            last_failure_at: h.last_failure_at,
            last_failure_content: h.last_failure_content.clone(),
            delivery_retry_count: h.delivery_retry_count,
            next_attempt_after: h.next_attempt_after,
            failure_deletion_timestamp: h.failure_deletion_timestamp,
        })
    }

    /// Wakes every webhook deliverer (new events, new timing, new faults, a deletion).
    pub(crate) fn wake_deliverers(&self) {
        self.wake.send_modify(|n| *n = n.wrapping_add(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(
        ty: &'a str,
        sub: Option<&'a str>,
        action: &'a str,
        field: Option<&'a str>,
    ) -> EventFacts<'a> {
        EventFacts {
            resource_type: ty,
            resource_subtype: sub,
            action,
            field,
        }
    }

    #[test]
    fn filters_pass_what_matches_every_part_that_is_set() {
        let task_changed = Filter {
            resource_type: Some("task".into()),
            action: Some(Action::Changed),
            ..Filter::default()
        };
        let name_only = Filter {
            fields: vec!["name".into()],
            ..task_changed.clone()
        };
        let comments = Filter {
            resource_type: Some("story".into()),
            resource_subtype: Some("comment_added".into()),
            ..Filter::default()
        };
        let name = facts("task", Some("default_task"), "changed", Some("name"));
        let notes = facts("task", Some("default_task"), "changed", Some("notes"));
        let added = facts("task", Some("default_task"), "added", None);
        let comment = facts("story", Some("comment_added"), "added", None);
        let system = facts("story", Some("name_changed"), "added", None);
        // (filter, event, passes)
        let table = [
            (&Filter::default(), &name, true),
            (&task_changed, &name, true),
            (&task_changed, &added, false),
            (&task_changed, &comment, false),
            (&name_only, &name, true),
            (&name_only, &notes, false),
            (&name_only, &added, false),
            (&comments, &comment, true),
            (&comments, &system, false),
            (&comments, &name, false),
        ];
        for (i, (f, e, want)) in table.iter().enumerate() {
            assert_eq!(f.passes(e), *want, "row {i}: {f:?} on {e:?}");
        }
        assert!(delivers(&[], &system), "no filters: everything");
        assert!(delivers(&[name_only.clone(), comments.clone()], &comment));
        assert!(!delivers(&[name_only, comments], &notes));
    }

    #[test]
    fn skinny_events_name_resources_by_gid_and_type_only() {
        let e = json!({
            "user": {"gid": "1", "resource_type": "user", "name": "Ann"},
            "resource": {"gid": "2", "resource_type": "task", "name": "T"},
            "parent": null, "type": "task", "action": "changed",
            "created_at": "2026-01-01T00:00:00.000Z",
            "change": {"field": "assignee", "action": "changed",
                       "new_value": {"gid": "3", "resource_type": "user", "name": "Bo"}},
        });
        let want = json!({
            "user": {"gid": "1", "resource_type": "user"},
            "resource": {"gid": "2", "resource_type": "task"},
            "parent": null, "type": "task", "action": "changed",
            "created_at": "2026-01-01T00:00:00.000Z",
            "change": {"field": "assignee", "action": "changed",
                       "new_value": {"gid": "3", "resource_type": "user"}},
        });
        assert_eq!(skinny(&e), want);
        let flag =
            json!({"change": {"field": "completed", "action": "changed", "new_value": true}});
        assert_eq!(skinny(&flag), flag, "plain values stay");
    }

    fn timing() -> WebhookTiming {
        WebhookTiming {
            heartbeat: Duration::from_secs(3600),
            timeout: Duration::from_secs(10),
            first_retry: Duration::from_secs(60),
            max_retry: Duration::from_secs(600),
            deletion_after: Duration::from_secs(3600),
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let t = timing();
        let table = [(1, 60), (2, 120), (3, 240), (4, 480), (5, 600), (40, 600)];
        for (failures, secs) in table {
            assert_eq!(
                backoff(failures, &t),
                Duration::from_secs(secs),
                "{failures}"
            );
        }
    }

    #[test]
    fn failures_retry_then_delete_and_a_success_clears_them() {
        let t = timing();
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).expect("time");
        let at = |s: i64| t0 + TimeDelta::seconds(s);
        let mut h = Health::default();
        assert_eq!(
            h.failed(t0, "500 Server Error".into(), &t),
            Verdict::RetryAt(at(60))
        );
        assert_eq!(h.delivery_retry_count, 1);
        assert_eq!(h.failure_deletion_timestamp, Some(at(3600)));
        assert_eq!(h.next_attempt_after, Some(at(60)));
        assert_eq!(
            h.failed(at(60), "timeout".into(), &t),
            Verdict::RetryAt(at(180))
        );
        assert_eq!(h.last_failure_content.as_deref(), Some("timeout"));
        // The last retry falls on the deletion time, not after it.
        assert_eq!(
            h.failed(at(3500), "x".into(), &t),
            Verdict::RetryAt(at(3600))
        );
        assert_eq!(h.failed(at(3600), "x".into(), &t), Verdict::Delete);
        assert_eq!(h.next_attempt_after, None);

        let mut h = Health::default();
        h.failed(t0, "x".into(), &t);
        h.succeeded(at(10));
        assert_eq!(h.last_success_at, Some(at(10)));
        assert_eq!(
            h.last_failure_at,
            Some(t0),
            "the last failure stays on record"
        );
        assert_eq!(
            (
                h.delivery_retry_count,
                h.next_attempt_after,
                h.failure_deletion_timestamp
            ),
            (0, None, None)
        );
        // A new streak starts a new deletion clock.
        h.failed(at(100), "x".into(), &t);
        assert_eq!(h.failure_deletion_timestamp, Some(at(3700)));
    }
}
