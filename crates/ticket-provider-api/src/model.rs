//! The data that goes into and comes out of a [`crate::TicketProvider`], and the input checks
//! every provider applies the same way.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::due::Due;
use crate::error::{Error, Result};
use crate::fields::{check_labels, FieldValue, Fields, Labels};
use crate::status::{Priority, Status};
pub use crate::text::{check_line, check_text};

/// Longest subject, in characters.
pub const MAX_SUBJECT_CHARS: usize = 200;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 20_000;
/// Longest comment (or escalation reason), in characters.
pub const MAX_COMMENT_CHARS: usize = 10_000;
/// Longest assignee name or e-mail, in characters.
pub const MAX_ASSIGNEE_CHARS: usize = 254;
/// The page size used when a [`ListQuery`] gives no limit.
pub const DEFAULT_LIST_LIMIT: usize = 50;
/// The largest page size a provider must accept.
pub const MAX_LIST_LIMIT: usize = 1000;

/// A ticket to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewTicket {
    /// One-line summary; required.
    pub subject: String,
    /// Longer text; empty when absent.
    #[serde(default)]
    pub description: String,
    /// How urgent; `normal` when absent.
    #[serde(default)]
    pub priority: Priority,
    /// Who works on it, if anybody yet.
    #[serde(default)]
    pub assignee: Option<String>,
    /// When it is due, if it is (see [`Due`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<Due>,
    /// Custom field values (see [`crate::fields`]).
    #[serde(default, skip_serializing_if = "Fields::is_empty")]
    pub fields: Fields,
    /// Labels.
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
}

impl NewTicket {
    /// A ticket with this subject, no description, normal priority and no assignee.
    pub fn new(subject: impl Into<String>) -> Self {
        NewTicket {
            subject: subject.into(),
            description: String::new(),
            priority: Priority::Normal,
            assignee: None,
            due: None,
            fields: Fields::new(),
            labels: Labels::new(),
        }
    }

    /// Sets the description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Sets the priority.
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    /// Sets the assignee.
    pub fn assignee(mut self, assignee: impl Into<String>) -> Self {
        self.assignee = Some(assignee.into());
        self
    }

    /// Sets the due date.
    pub fn due(mut self, due: Due) -> Self {
        self.due = Some(due);
        self
    }

    /// Sets a custom field.
    pub fn field(mut self, name: impl Into<String>, value: FieldValue) -> Self {
        self.fields.insert(name.into(), value);
        self
    }

    /// Adds a label.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.labels.insert(label.into());
        self
    }

    /// Checks every built-in field and the labels; providers call this before writing
    /// anything, and check the custom fields against their declaration with
    /// [`crate::FieldSchema::check_fields`].
    pub fn validate(&self) -> Result<()> {
        check_line("subject", &self.subject, MAX_SUBJECT_CHARS)?;
        check_text("description", &self.description, MAX_DESCRIPTION_CHARS)?;
        if let Some(a) = &self.assignee {
            check_line("assignee", a, MAX_ASSIGNEE_CHARS)?;
        }
        check_labels(&self.labels)
    }
}

/// Changes to a ticket's fields; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketUpdate {
    /// New subject.
    #[serde(default)]
    pub subject: Option<String>,
    /// New description (an empty string clears it).
    #[serde(default)]
    pub description: Option<String>,
    /// New priority.
    #[serde(default)]
    pub priority: Option<Priority>,
    /// New due date: `Some(None)` clears it (`null` in JSON); absent leaves it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::due::double_option"
    )]
    pub due: Option<Option<Due>>,
    /// Custom fields to set (`Some`) or clear (`None`, `null` in JSON); the others are left.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, Option<FieldValue>>,
    /// Labels to add.
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub add_labels: Labels,
    /// Labels to remove.
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub remove_labels: Labels,
}

impl TicketUpdate {
    /// True when no field is set.
    pub fn is_empty(&self) -> bool {
        self.subject.is_none()
            && self.description.is_none()
            && self.priority.is_none()
            && self.due.is_none()
            && self.fields.is_empty()
            && self.add_labels.is_empty()
            && self.remove_labels.is_empty()
    }

    /// The labels of a ticket that had `labels` once this update is applied.
    pub fn apply_labels(&self, labels: &Labels) -> Labels {
        labels
            .union(&self.add_labels)
            .filter(|l| !self.remove_labels.contains(*l))
            .cloned()
            .collect()
    }

    /// Checks every field that is set, and that at least one is.
    pub fn validate(&self) -> Result<()> {
        if self.is_empty() {
            return Err(Error::invalid_input(
                "nothing to update: give at least one of subject, description, priority, due, a field or a label",
            ));
        }
        check_labels(&self.add_labels)?;
        check_labels(&self.remove_labels)?;
        if let Some(both) = self.add_labels.intersection(&self.remove_labels).next() {
            return Err(Error::invalid_input(format!(
                "label {both:?} is both added and removed"
            )));
        }
        if let Some(s) = &self.subject {
            check_line("subject", s, MAX_SUBJECT_CHARS)?;
        }
        if let Some(d) = &self.description {
            check_text("description", d, MAX_DESCRIPTION_CHARS)?;
        }
        Ok(())
    }
}

/// A comment to add to a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewComment {
    /// The text; required, may span lines.
    pub body: String,
    /// Who wrote it, when the caller knows.
    #[serde(default)]
    pub author: Option<String>,
}

impl NewComment {
    /// A comment with this text and no author.
    pub fn new(body: impl Into<String>) -> Self {
        NewComment {
            body: body.into(),
            author: None,
        }
    }

    /// Sets the author.
    pub fn author(mut self, author: impl Into<String>) -> Self {
        self.author = Some(author.into());
        self
    }

    /// Checks the text and the author.
    pub fn validate(&self) -> Result<()> {
        if self.body.trim().is_empty() {
            return Err(Error::invalid_input(
                "comment must not be empty or only whitespace",
            ));
        }
        check_text("comment", &self.body, MAX_COMMENT_CHARS)?;
        if let Some(a) = &self.author {
            check_line("author", a, MAX_ASSIGNEE_CHARS)?;
        }
        Ok(())
    }
}

/// Checks an assignee given to [`crate::TicketProvider::assign`].
pub fn validate_assignee(assignee: &str) -> Result<()> {
    check_line("assignee", assignee, MAX_ASSIGNEE_CHARS)
}

/// Checks an escalation reason.
pub fn validate_reason(reason: &str) -> Result<()> {
    if reason.trim().is_empty() {
        return Err(Error::invalid_input(
            "reason must not be empty or only whitespace when given",
        ));
    }
    check_text("reason", reason, MAX_COMMENT_CHARS)
}

/// Filters and paging for [`crate::TicketProvider::list_tickets`].
///
/// Results come newest first. `cursor` is the opaque `next_cursor` of the previous page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListQuery {
    /// Only tickets in this status.
    #[serde(default)]
    pub status: Option<Status>,
    /// Only tickets assigned to this person.
    #[serde(default)]
    pub assignee: Option<String>,
    /// Only tickets with this priority.
    #[serde(default)]
    pub priority: Option<Priority>,
    /// Only tickets due before this day (see [`Due::is_before`]); tickets without a due date
    /// are left out.
    #[serde(default)]
    pub due_before: Option<chrono::NaiveDate>,
    /// Only tickets whose custom field has this value (for a multi-enum or people field:
    /// holds every element given; see [`FieldValue::matches`]).
    #[serde(default, skip_serializing_if = "Fields::is_empty")]
    pub fields: Fields,
    /// Only tickets carrying every one of these labels.
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
    /// At most this many tickets ([`DEFAULT_LIST_LIMIT`] when absent, at most [`MAX_LIST_LIMIT`]).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Where the previous page ended.
    #[serde(default)]
    pub cursor: Option<String>,
}

impl ListQuery {
    /// Checks the limit and the assignee; returns the effective page size.
    pub fn validate(&self) -> Result<usize> {
        if let Some(a) = &self.assignee {
            validate_assignee(a)?;
        }
        check_labels(&self.labels)?;
        match self.limit {
            None => Ok(DEFAULT_LIST_LIMIT),
            Some(0) => Err(Error::invalid_input("limit must be at least 1")),
            Some(n) if n > MAX_LIST_LIMIT => Err(Error::invalid_input(format!(
                "limit {n} is too large; the maximum is {MAX_LIST_LIMIT}"
            ))),
            Some(n) => Ok(n),
        }
    }
}

/// Whether a ticket's last change has reached the remote side (dual-write providers only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncState {
    /// Every change is on both sides.
    Synced,
    /// Some change is kept locally and will be pushed later.
    Pending,
    /// Every unsent change was set aside (the remote side refused it for good); none is
    /// waiting to be pushed. Such changes are listed by the provider's status report.
    #[serde(rename = "set_aside")]
    SetAside,
}

/// The result of every operation that changes a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationResult {
    /// The ticket's id.
    pub guid: String,
    /// The ticket's status after the operation.
    pub status: Status,
    /// The registered name of the provider that did it.
    pub provider: String,
    /// The new comment's id (add_comment, and escalate with a reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment_guid: Option<String>,
    /// The assignee after the operation (assign).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_to: Option<String>,
    /// The linked Asana task, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asana_gid: Option<String>,
    /// Dual-write providers: whether the change reached Asana yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_state: Option<SyncState>,
}

impl OperationResult {
    /// A result with only the three required fields.
    pub fn new(guid: impl Into<String>, status: Status, provider: impl Into<String>) -> Self {
        OperationResult {
            guid: guid.into(),
            status,
            provider: provider.into(),
            comment_guid: None,
            assigned_to: None,
            asana_gid: None,
            sync_state: None,
        }
    }
}

/// A ticket as stored, without its comments (what [`crate::TicketProvider::list_tickets`] returns).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    /// The ticket's id.
    pub guid: String,
    /// Current status.
    pub status: Status,
    /// The registered name of the provider that holds it.
    pub provider: String,
    /// One-line summary.
    pub subject: String,
    /// Longer text (may be empty).
    pub description: String,
    /// How urgent.
    pub priority: Priority,
    /// Who works on it.
    pub assignee: Option<String>,
    /// When it is due, if it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<Due>,
    /// Custom field values, by name (only the fields that have one).
    #[serde(default)]
    pub fields: Fields,
    /// Labels.
    #[serde(default)]
    pub labels: Labels,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// The linked Asana task, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asana_gid: Option<String>,
    /// Dual-write providers: whether every change reached Asana.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_state: Option<SyncState>,
}

/// A comment on a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    /// The comment's id.
    pub comment_guid: String,
    /// The text.
    pub body: String,
    /// Who wrote it, when known.
    pub author: Option<String>,
    /// When it was written.
    pub created_at: DateTime<Utc>,
}

/// A whole ticket with its comments, oldest comment first (what
/// [`crate::TicketProvider::get_ticket`] returns).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketDetails {
    /// The ticket's fields.
    #[serde(flatten)]
    pub ticket: Ticket,
    /// Its comments, oldest first.
    pub comments: Vec<Comment>,
}

/// One page of [`crate::TicketProvider::list_tickets`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketPage {
    /// The tickets on this page, newest first.
    pub tickets: Vec<Ticket>,
    /// Pass as [`ListQuery::cursor`] to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ticket_rejects_blank_long_and_control_subjects() {
        for subject in ["", "   \t", "a\nb", "bell\u{7}"] {
            let err = NewTicket::new(subject).validate().unwrap_err();
            assert!(err.to_string().contains("subject"), "{err}");
        }
        let long = "x".repeat(MAX_SUBJECT_CHARS + 1);
        assert!(NewTicket::new(long)
            .validate()
            .unwrap_err()
            .to_string()
            .contains("limit is 200"));
        assert!(NewTicket::new("x".repeat(MAX_SUBJECT_CHARS))
            .validate()
            .is_ok());
        assert!(NewTicket::new("Printer ✓")
            .description("line 1\nline 2\tend")
            .validate()
            .is_ok());
    }

    #[test]
    fn update_needs_a_field_and_checks_it() {
        assert!(TicketUpdate::default().validate().is_err());
        let upd = TicketUpdate {
            subject: Some(" ".into()),
            ..Default::default()
        };
        assert!(upd.validate().is_err());
        let upd = TicketUpdate {
            description: Some(String::new()),
            ..Default::default()
        };
        assert!(upd.validate().is_ok());
    }

    #[test]
    fn list_limit_bounds() {
        assert_eq!(ListQuery::default().validate().unwrap(), DEFAULT_LIST_LIMIT);
        assert!(ListQuery {
            limit: Some(0),
            ..Default::default()
        }
        .validate()
        .is_err());
        assert!(ListQuery {
            limit: Some(MAX_LIST_LIMIT + 1),
            ..Default::default()
        }
        .validate()
        .is_err());
    }

    #[test]
    fn results_serialise_with_required_keys_and_skip_absent_ones() {
        let mut r = OperationResult::new("g1", Status::InProgress, "internal");
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"guid": "g1", "status": "IN_PROGRESS", "provider": "internal"})
        );
        r.comment_guid = Some("c1".into());
        r.sync_state = Some(SyncState::Pending);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["comment_guid"], "c1");
        assert_eq!(v["sync_state"], "pending");
        r.sync_state = Some(SyncState::SetAside);
        assert_eq!(serde_json::to_value(&r).unwrap()["sync_state"], "set_aside");
    }
}

/// One recorded change of one field of a ticket (the [`crate::TicketHistory`] extension).
///
/// Creation is recorded as field `created` (old `None`, new `NEW`); status operations always
/// record a `status` row; other fields only when their value actually changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Increasing id: the order in which changes were committed.
    pub id: i64,
    /// The ticket.
    pub guid: String,
    /// `created`, `subject`, `description`, `priority`, `status`, `assignee`, `due`,
    /// `fields.<name>` for a custom field, or `labels`.
    pub field: String,
    /// The value before the change.
    pub old_value: Option<String>,
    /// The value after the change.
    pub new_value: Option<String>,
    /// When the change was made.
    pub changed_at: DateTime<Utc>,
}
