//! Ticket statuses and priorities, with lenient parsing and strict, upper-case output.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, ErrorKind};

/// The lifecycle state of a ticket.
///
/// Serialises as the upper-case name (`"IN_PROGRESS"`). Parsing accepts any case and the
/// separators `_`, `-` and space (`in_progress`, `in-progress`, `In Progress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// Just opened, nobody has looked at it.
    New,
    /// Looked at and categorised.
    Triaged,
    /// Somebody works on it.
    InProgress,
    /// Waiting on something outside the team.
    OnHold,
    /// Handed to a higher support level.
    Escalated,
    /// The problem is fixed; the requester may still reopen.
    Resolved,
    /// Finished for good.
    Closed,
    /// Abandoned without a fix.
    Cancelled,
}

impl Status {
    /// Every status, in lifecycle order.
    pub const ALL: [Status; 8] = [
        Status::New,
        Status::Triaged,
        Status::InProgress,
        Status::OnHold,
        Status::Escalated,
        Status::Resolved,
        Status::Closed,
        Status::Cancelled,
    ];

    /// The canonical upper-case name, e.g. `"IN_PROGRESS"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::New => "NEW",
            Status::Triaged => "TRIAGED",
            Status::InProgress => "IN_PROGRESS",
            Status::OnHold => "ON_HOLD",
            Status::Escalated => "ESCALATED",
            Status::Resolved => "RESOLVED",
            Status::Closed => "CLOSED",
            Status::Cancelled => "CANCELLED",
        }
    }

    /// A human title, e.g. `"In Progress"` (also the default Asana section name).
    pub const fn title(self) -> &'static str {
        match self {
            Status::New => "New",
            Status::Triaged => "Triaged",
            Status::InProgress => "In Progress",
            Status::OnHold => "On Hold",
            Status::Escalated => "Escalated",
            Status::Resolved => "Resolved",
            Status::Closed => "Closed",
            Status::Cancelled => "Cancelled",
        }
    }

    /// True for RESOLVED, CLOSED and CANCELLED: the ticket needs no more work.
    pub const fn is_terminal(self) -> bool {
        matches!(self, Status::Resolved | Status::Closed | Status::Cancelled)
    }
}

/// Upper-cases `input` and folds `-` and runs of spaces into `_`; `None` for anything that
/// contains other characters, so that e.g. `"NEW\n"` does not parse.
fn normalise_name(input: &str) -> Option<String> {
    let trimmed = input.trim();
    let mut out = String::with_capacity(trimmed.len());
    let mut last_sep = false;
    for c in trimmed.chars() {
        if c.is_ascii_alphabetic() {
            out.push(c.to_ascii_uppercase());
            last_sep = false;
        } else if c == '_' || c == '-' || c == ' ' {
            if last_sep || out.is_empty() {
                return None;
            }
            out.push('_');
            last_sep = true;
        } else {
            return None;
        }
    }
    (!out.is_empty() && !last_sep).then_some(out)
}

fn list<T: fmt::Display>(values: &[T]) -> String {
    values
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl FromStr for Status {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let found = normalise_name(s)
            .and_then(|name| Status::ALL.into_iter().find(|st| st.as_str() == name));
        found.ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "unknown status {s:?}; valid statuses are {} (any case; '-' or ' ' may stand for '_')",
                    list(&Status::ALL)
                ),
            )
        })
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Status {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// How urgent a ticket is. The default is [`Priority::Normal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Priority {
    /// Can wait.
    Low,
    /// The default.
    #[default]
    Normal,
    /// Should be handled before normal work.
    High,
    /// Drop everything.
    Urgent,
}

impl Priority {
    /// Every priority, lowest first.
    pub const ALL: [Priority; 4] = [
        Priority::Low,
        Priority::Normal,
        Priority::High,
        Priority::Urgent,
    ];

    /// The canonical lower-case name, e.g. `"high"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }
}

impl FromStr for Priority {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let lower = s.trim().to_ascii_lowercase();
        Priority::ALL
            .into_iter()
            .find(|p| p.as_str() == lower)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidInput,
                    format!(
                        "unknown priority {s:?}; valid priorities are {}",
                        list(&Priority::ALL)
                    ),
                )
            })
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Priority {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Priority {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_accepts_every_documented_spelling() {
        for input in [
            "in_progress",
            "in-progress",
            "In Progress",
            "IN_PROGRESS",
            "  iN-PrOgReSs ",
        ] {
            assert_eq!(
                input.parse::<Status>().unwrap(),
                Status::InProgress,
                "{input}"
            );
        }
        assert_eq!("on hold".parse::<Status>().unwrap(), Status::OnHold);
        assert_eq!("cancelled".parse::<Status>().unwrap(), Status::Cancelled);
    }

    #[test]
    fn status_rejects_other_input_and_lists_valid_values() {
        for input in [
            "",
            " ",
            "done",
            "in__progress",
            "in progress!",
            "_new",
            "new_",
            "NEW\n1",
        ] {
            let err = input.parse::<Status>().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
            assert!(err.to_string().contains("IN_PROGRESS"), "{err}");
        }
    }

    #[test]
    fn status_round_trips_through_display_and_serde() {
        for st in Status::ALL {
            assert_eq!(st.to_string().parse::<Status>().unwrap(), st);
            assert_eq!(st.title().parse::<Status>().unwrap(), st);
            let json = serde_json::to_string(&st).unwrap();
            assert_eq!(json, format!("\"{}\"", st.as_str()));
            assert_eq!(serde_json::from_str::<Status>(&json).unwrap(), st);
        }
    }

    #[test]
    fn priority_parses_any_case_and_defaults_to_normal() {
        assert_eq!("URGENT".parse::<Priority>().unwrap(), Priority::Urgent);
        assert_eq!(Priority::default(), Priority::Normal);
        let err = "critical".parse::<Priority>().unwrap_err();
        assert!(
            err.to_string().contains("low, normal, high, urgent"),
            "{err}"
        );
    }
}
