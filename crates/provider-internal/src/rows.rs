//! The rows of the ticket tables as Rust types, their conversions to the public model, and
//! the values they hold: times in microseconds, guids, due dates.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use ticket_provider_api::{
    Comment, Due, Error, Priority, Status, Ticket, TicketField, TicketValue,
};

use crate::error::StoreError;
use crate::schema::{data_ticket, data_ticket_comment, data_ticket_history};

/// Microseconds since the epoch, now.
pub fn now_micros() -> i64 {
    Utc::now().timestamp_micros()
}

/// A stored timestamp (microseconds since the epoch) as a `DateTime`.
pub fn from_micros(us: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(us)
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {us} is out of range")))
}

/// A new time-ordered id.
pub fn new_guid() -> String {
    uuid::Uuid::now_v7().hyphenated().to_string()
}

/// Checks that `guid` is a UUID and returns its canonical (lower-case, hyphenated) form.
pub fn parse_guid(field: &str, guid: &str) -> Result<String, Error> {
    uuid::Uuid::try_parse(guid.trim())
        .map(|u| {
            u.hyphenated()
                .encode_lower(&mut uuid::Uuid::encode_buffer())
                .to_owned()
        })
        .map_err(|_| {
            Error::invalid_input(format!(
                "{field} {guid:?} is not a ticket id; expected a UUID such as \"0190b7a2-5c3e-7d41-9f00-1a2b3c4d5e6f\""
            ))
            .with_guid(guid)
        })
}

/// A `data_ticket` row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, PartialEq, Eq)]
#[diesel(table_name = data_ticket)]
pub struct TicketRow {
    /// The ticket's id.
    pub guid: String,
    /// Subject.
    pub subject: String,
    /// Description.
    pub description: String,
    /// Upper-case status.
    pub status: String,
    /// Lower-case priority.
    pub priority: String,
    /// Assignee.
    pub assignee: Option<String>,
    /// Microseconds since the epoch.
    pub created_at: i64,
    /// Microseconds since the epoch.
    pub updated_at: i64,
    /// Due day (`YYYY-MM-DD`).
    pub due_on: Option<String>,
    /// Due instant (microseconds since the epoch).
    pub due_at: Option<i64>,
}

/// The columns of a due date.
pub(crate) fn due_columns(due: Option<Due>) -> (Option<String>, Option<i64>) {
    match due {
        None => (None, None),
        Some(Due::Date(d)) => (Some(d.format("%Y-%m-%d").to_string()), None),
        Some(Due::At(t)) => (None, Some(t.timestamp_micros())),
    }
}

impl TicketRow {
    /// The row of ticket `t`'s built-in fields.
    pub(crate) fn of(t: &Ticket) -> TicketRow {
        let (due_on, due_at) = due_columns(t.due);
        TicketRow {
            guid: t.guid.clone(),
            subject: t.subject.clone(),
            description: t.description.clone(),
            status: t.status.as_str().to_string(),
            priority: t.priority.as_str().to_string(),
            assignee: t.assignee.clone(),
            created_at: t.created_at.timestamp_micros(),
            updated_at: t.updated_at.timestamp_micros(),
            due_on,
            due_at,
        }
    }

    /// A row with empty values (status NEW, priority normal), to fill.
    pub(crate) fn blank(guid: &str, created_at: i64, updated_at: i64) -> TicketRow {
        TicketRow {
            guid: guid.to_string(),
            subject: String::new(),
            description: String::new(),
            status: Status::New.as_str().to_string(),
            priority: Priority::Normal.as_str().to_string(),
            assignee: None,
            created_at,
            updated_at,
            due_on: None,
            due_at: None,
        }
    }

    /// The stored due date.
    pub(crate) fn due(&self) -> Result<Option<Due>, StoreError> {
        match (&self.due_on, self.due_at) {
            (_, Some(us)) => Ok(Some(Due::At(from_micros(us)?))),
            (Some(d), None) => chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .map(|d| Some(Due::Date(d)))
                .map_err(|_| {
                    StoreError::Corrupt(format!("due date {d:?} of ticket {}", self.guid))
                }),
            (None, None) => Ok(None),
        }
    }

    pub(crate) fn status(&self) -> Result<Status, StoreError> {
        stored(&Status::ALL, Status::as_str, &self.status).ok_or_else(|| {
            StoreError::Corrupt(format!("status {:?} of ticket {}", self.status, self.guid))
        })
    }

    pub(crate) fn into_ticket(self) -> Result<Ticket, StoreError> {
        let status = self.status()?;
        let priority =
            stored(&Priority::ALL, Priority::as_str, &self.priority).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "priority {:?} of ticket {}",
                    self.priority, self.guid
                ))
            })?;
        let due = self.due()?;
        Ok(Ticket {
            created_at: from_micros(self.created_at)?,
            updated_at: from_micros(self.updated_at)?,
            guid: self.guid,
            status,
            provider: crate::NAME.to_string(),
            subject: self.subject,
            description: self.description,
            priority,
            assignee: self.assignee,
            due,
            fields: Default::default(),
            labels: Default::default(),
            asana_gid: None,
            sync_state: None,
        })
    }
}

/// The value a stored name means: its canonical form (what the store writes) compared as is,
/// without the allocation of the lenient parse, which still reads any other spelling.
fn stored<T>(all: &[T], name: fn(T) -> &'static str, text: &str) -> Option<T>
where
    T: Copy + std::str::FromStr,
{
    all.iter()
        .copied()
        .find(|&v| name(v) == text)
        .or_else(|| text.parse().ok())
}

/// A `data_ticket_comment` row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, PartialEq, Eq)]
#[diesel(table_name = data_ticket_comment)]
pub struct CommentRow {
    /// The comment's id.
    pub comment_guid: String,
    /// The ticket it belongs to.
    pub ticket_guid: String,
    /// The text.
    pub body: String,
    /// Who wrote it.
    pub author: Option<String>,
    /// Microseconds since the epoch.
    pub created_at: i64,
}

impl CommentRow {
    pub(crate) fn into_comment(self) -> Result<Comment, StoreError> {
        Ok(Comment {
            created_at: from_micros(self.created_at)?,
            comment_guid: self.comment_guid,
            body: self.body,
            author: self.author,
        })
    }
}

/// A `data_ticket_history` row to insert.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = data_ticket_history)]
pub struct NewHistoryRow<'a> {
    /// The ticket.
    pub ticket_guid: &'a str,
    /// Which field changed (`created` for the creation itself).
    pub field: &'a str,
    /// Before.
    pub old_value: Option<&'a str>,
    /// After.
    pub new_value: Option<&'a str>,
    /// Microseconds since the epoch.
    pub changed_at: i64,
    /// Where the change came from: `local`, `pulled`, `conflict` or `maintenance`
    /// ([`ticket_provider_api::ChangeOrigin::as_str`]).
    pub origin: &'a str,
    /// The Asana user of a pulled change, when known.
    pub origin_user: Option<&'a str>,
}

/// A `data_ticket_history` row as read.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = data_ticket_history)]
pub(crate) struct HistoryRow {
    pub(crate) id: i64,
    pub(crate) ticket_guid: String,
    pub(crate) field: String,
    pub(crate) old_value: Option<String>,
    pub(crate) new_value: Option<String>,
    pub(crate) changed_at: i64,
}

/// The columns of a ticket to change; `None` leaves a column as it is.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = data_ticket)]
pub(crate) struct TicketChanges {
    pub(crate) subject: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) status: Option<String>,
    pub(crate) priority: Option<String>,
    pub(crate) assignee: Option<Option<String>>,
    pub(crate) due_on: Option<Option<String>>,
    pub(crate) due_at: Option<Option<i64>>,
    pub(crate) updated_at: Option<i64>,
}

impl TicketChanges {
    fn set_due(&mut self, due: Option<Due>) {
        let (on, at) = due_columns(due);
        self.due_on = Some(on);
        self.due_at = Some(at);
    }

    /// Sets the column(s) of built-in field `field` to `value`: the store's mapping of the
    /// built-in fields to `data_ticket`'s columns. Custom fields and labels are value rows
    /// (`values.rs`), not columns; they (and a value of another type) are left out.
    pub(crate) fn set(&mut self, field: &TicketField, value: &TicketValue) {
        match (field, value) {
            (TicketField::Subject, TicketValue::Text(s)) => self.subject = Some(s.clone()),
            (TicketField::Description, TicketValue::Text(s)) => self.description = Some(s.clone()),
            (TicketField::Status, TicketValue::Status(s)) => {
                self.status = Some(s.as_str().to_string())
            }
            (TicketField::Priority, TicketValue::Priority(p)) => {
                self.priority = Some(p.as_str().to_string())
            }
            (TicketField::Assignee, TicketValue::Person(a)) => self.assignee = Some(a.clone()),
            (TicketField::Due, TicketValue::Due(d)) => self.set_due(*d),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_are_checked_and_canonical() {
        let g = new_guid();
        assert_eq!(parse_guid("guid", &g.to_uppercase()).unwrap(), g);
        let err = parse_guid("guid", "ticket-1").unwrap_err();
        assert!(err.to_string().contains("ticket-1"), "{err}");
        let braced = format!(" {{{}}} ", g.to_uppercase());
        assert_eq!(parse_guid("guid", &braced).unwrap(), g);
    }

    #[test]
    fn stored_names_read_canonical_and_other_spellings() {
        let status = |text| stored(&Status::ALL, Status::as_str, text);
        let priority = |text| stored(&Priority::ALL, Priority::as_str, text);
        for (text, want) in [
            ("IN_PROGRESS", Some(Status::InProgress)),
            ("NEW", Some(Status::New)),
            ("in progress", Some(Status::InProgress)),
            ("on-hold", Some(Status::OnHold)),
            ("DONE", None),
            ("", None),
        ] {
            assert_eq!(status(text), want, "{text:?}");
        }
        for (text, want) in [
            ("urgent", Some(Priority::Urgent)),
            ("HIGH", Some(Priority::High)),
            ("meh", None),
        ] {
            assert_eq!(priority(text), want, "{text:?}");
        }
    }
}
