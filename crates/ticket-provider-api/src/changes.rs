//! The change feed: the [`TicketChanges`] extension (capability
//! [`Changes`](crate::Capability::Changes); `ticket changes`) and what it hands out.
//!
//! An application that reacts to what happens to tickets (tell a customer when an issue is
//! resolved, update a search index) reads the feed from a [`ChangeCursor`] it keeps:
//!
//! ```no_run
//! # use ticket_provider_api::{ChangeCursor, TicketChanges, TicketProvider, Result};
//! # async fn run(provider: &dyn TicketProvider, saved: Option<String>) -> Result<()> {
//! let feed = provider.extensions().get::<dyn TicketChanges>().expect("a provider with a feed");
//! let mut cursor: Option<ChangeCursor> = saved.as_deref().map(str::parse).transpose()?;
//! loop {
//!     let page = feed.changes(cursor.clone(), 100).await?;
//!     for change in &page.changes {
//!         println!("{} {:?} ({:?})", change.guid, change.what, change.origin);
//!     }
//!     // Store page.cursor.to_string() durably after handling the page: a restart resumes
//!     // there and misses nothing (it may see the last page again).
//!     if page.changes.is_empty() { break; }
//!     cursor = Some(page.cursor);
//! }
//! # Ok(()) }
//! ```
//!
//! [`TicketChanges::watch`] does the same as a [`Stream`] that waits for new commits; each
//! [`Change`] carries the cursor just after it, so a follower may save it per change.
//!
//! Delivery is at least once: a reader that stops anywhere and resumes from the last cursor
//! it saved misses nothing, and sees again at most what it had not saved yet. A cursor is an
//! opaque, versioned string (`c1-42`); it stays valid across restarts and upgrades.

use std::fmt;
use std::pin::Pin;
use std::str::FromStr;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_core::Stream;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};
use crate::field_set::TicketField;
use crate::status::Status;

/// The most changes one [`TicketChanges::changes`] call returns.
pub const MAX_CHANGES_PAGE: usize = 1000;

/// Where a reader of the feed stands: every change up to here was handed out. Opaque: its
/// text form (`Display`, `FromStr`, serde) is `c1-<position>`, and a provider gives the
/// position its meaning (for `internal`, the commit sequence of its history rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ChangeCursor {
    position: u64,
}

/// The version prefix of a cursor's text; a later format gets a new one, and this one stays
/// readable.
const CURSOR_PREFIX: &str = "c1-";

impl ChangeCursor {
    /// The cursor before every change (what `since: None` means).
    pub const START: ChangeCursor = ChangeCursor { position: 0 };

    /// The cursor at `position` (for providers).
    pub const fn at(position: u64) -> Self {
        ChangeCursor { position }
    }

    /// The position (for providers).
    pub const fn position(self) -> u64 {
        self.position
    }
}

impl fmt::Display for ChangeCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{CURSOR_PREFIX}{}", self.position)
    }
}

impl FromStr for ChangeCursor {
    type Err = Error;

    /// Reads a cursor's text; an InvalidInput error naming it when it is not one.
    fn from_str(text: &str) -> Result<Self> {
        let position = text
            .strip_prefix(CURSOR_PREFIX)
            .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse::<u64>().ok());
        match position {
            Some(position) => Ok(ChangeCursor { position }),
            None => Err(Error::invalid_input(format!(
                "cursor {text:?} is not a change cursor (one that the change feed returned, such as \"c1-42\"); omit it to start from the first change"
            ))),
        }
    }
}

impl Serialize for ChangeCursor {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ChangeCursor {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Where a change came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ChangeOrigin {
    /// Made through this library (any local operation).
    Local,
    /// Pulled from Asana by the `sync` provider.
    Pulled {
        /// The Asana user who made it, when known (the gid of a task's creator, the author of
        /// a comment); Asana does not say who changed a field.
        asana_user: Option<String>,
    },
    /// A decision of the `sync` provider's conflict rule (the field changed on both sides).
    Conflict,
    /// Sync maintenance: a relink, unlink, retry or discard, a lost link, a value cut to
    /// what the store keeps, a change found already in Asana.
    Maintenance,
}

impl ChangeOrigin {
    /// The origin's name: `local`, `pulled`, `conflict` or `maintenance`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            ChangeOrigin::Local => "local",
            ChangeOrigin::Pulled { .. } => "pulled",
            ChangeOrigin::Conflict => "conflict",
            ChangeOrigin::Maintenance => "maintenance",
        }
    }

    /// The origin its name (and, for `pulled`, the user) stands for; `None` for an unknown
    /// name.
    pub fn from_parts(name: &str, asana_user: Option<String>) -> Option<Self> {
        Some(match name {
            "local" => ChangeOrigin::Local,
            "pulled" => ChangeOrigin::Pulled { asana_user },
            "conflict" => ChangeOrigin::Conflict,
            "maintenance" => ChangeOrigin::Maintenance,
            _ => return None,
        })
    }

    /// The Asana user of a pulled change, when known.
    pub fn asana_user(&self) -> Option<&str> {
        match self {
            ChangeOrigin::Pulled { asana_user } => asana_user.as_deref(),
            _ => None,
        }
    }
}

/// What one change did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ChangeKind {
    /// The ticket was created, with this status.
    Created {
        /// Its first status.
        status: Status,
    },
    /// A field changed: its values as text (as `ticket history` shows them), `None` for
    /// none.
    Field {
        /// Which field.
        field: TicketField,
        /// Before.
        old: Option<String>,
        /// After.
        new: Option<String>,
    },
    /// The labels changed.
    Labels {
        /// The labels before, sorted.
        old: Vec<String>,
        /// The labels after, sorted.
        new: Vec<String>,
    },
    /// A comment was added.
    CommentAdded {
        /// The comment's id.
        comment_guid: String,
        /// Who wrote it, when known.
        author: Option<String>,
        /// Its text.
        body: String,
    },
    /// A note of the `sync` provider about the ticket (a conflict decided, a link lost, ...),
    /// as `ticket history` shows it under `sync`.
    SyncNote {
        /// What was.
        before: Option<String>,
        /// What is now, and why.
        after: Option<String>,
    },
    /// A history entry of another kind (written by a store extension).
    Other {
        /// Its name.
        name: String,
        /// Before.
        old: Option<String>,
        /// After.
        new: Option<String>,
    },
}

/// One change of one ticket, as the feed hands it out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// A stable id: the same change has the same id in every read.
    pub id: i64,
    /// The ticket.
    pub guid: String,
    /// What changed.
    pub what: ChangeKind,
    /// When.
    pub at: DateTime<Utc>,
    /// Where it came from.
    pub origin: ChangeOrigin,
    /// The cursor just after this change: resuming from it hands out what follows.
    pub cursor: ChangeCursor,
}

/// One page of the feed ([`TicketChanges::changes`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangePage {
    /// The changes after the cursor asked for, in commit order.
    pub changes: Vec<Change>,
    /// Where to continue: after the last change of the page, or the cursor asked for when
    /// the page is empty.
    pub cursor: ChangeCursor,
}

/// The changes [`TicketChanges::watch`] hands out as they commit. An item that is an error
/// (the store could not be read) does not end the stream: it tries again at its next poll.
pub type ChangeStream = Pin<Box<dyn Stream<Item = Result<Change>> + Send>>;

/// The change feed of a provider (capability [`Changes`](crate::Capability::Changes);
/// `ticket changes`): every change of every ticket, in commit order, from a cursor.
///
/// * Delivery is at least once from a cursor: resuming from any cursor the feed returned
///   (a page's, or a change's) hands out every change after it, whoever committed it and
///   in whatever order concurrent writers began.
/// * A cursor survives restarts and upgrades (see [`ChangeCursor`]).
/// * How [`TicketChanges::watch`] notices commits is the provider's; `internal` (and `sync`
///   on it) is woken at once by commits of its own process, and polls for those of others:
///   SQLite's `PRAGMA data_version` every 50 ms, PostgreSQL's next page every 250 ms.
#[async_trait]
pub trait TicketChanges: Send + Sync {
    /// At most `limit` changes (1 to [`MAX_CHANGES_PAGE`]) after `since` (`None`: from the
    /// first change), oldest first, and the cursor to continue from. InvalidInput for a
    /// limit out of range.
    async fn changes(&self, since: Option<ChangeCursor>, limit: usize) -> Result<ChangePage>;

    /// The changes after `since` (`None`: from the first change) as they commit, including
    /// those of other processes on the same store; the stream never ends by itself (drop
    /// it to stop). Memory stays bounded whatever the backlog: it reads a page at a time.
    async fn watch(&self, since: Option<ChangeCursor>) -> Result<ChangeStream>;
}

/// Checks a page size; InvalidInput naming it when out of range.
pub fn check_changes_limit(limit: usize) -> Result<()> {
    if (1..=MAX_CHANGES_PAGE).contains(&limit) {
        Ok(())
    } else {
        Err(Error::invalid_input(format!(
            "limit {limit} is out of range: a page holds 1 to {MAX_CHANGES_PAGE} changes"
        )))
    }
}

/// How a set of labels reads in a history entry: sorted, joined with `, ` (labels hold no
/// comma), nothing for none. The labels of a text written that way.
pub fn labels_of_text(text: Option<&str>) -> Vec<String> {
    match text {
        None | Some("") => Vec::new(),
        Some(t) => t.split(", ").map(str::to_string).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn cursors_read_back_and_junk_is_named() {
        for p in [0, 1, 42, u64::MAX] {
            let c = ChangeCursor::at(p);
            assert_eq!(c.to_string().parse::<ChangeCursor>().unwrap(), c);
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(serde_json::from_str::<ChangeCursor>(&json).unwrap(), c);
        }
        assert_eq!(ChangeCursor::at(7).to_string(), "c1-7");
        for junk in [
            "",
            "7",
            "c1-",
            "c1--1",
            "c1-+1",
            "c2-5",
            "c1-18446744073709551616",
            "c1-5x",
        ] {
            let e = junk.parse::<ChangeCursor>().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{junk:?}");
            assert!(e.to_string().contains(&format!("{junk:?}")), "{e}");
        }
    }

    #[test]
    fn fields_read_from_their_history_names() {
        for (name, want) in [
            ("subject", Some(TicketField::Subject)),
            ("description", Some(TicketField::Description)),
            ("status", Some(TicketField::Status)),
            ("priority", Some(TicketField::Priority)),
            ("assignee", Some(TicketField::Assignee)),
            ("due", Some(TicketField::Due)),
            (
                "fields.customer",
                Some(TicketField::Custom("customer".into())),
            ),
            ("labels", Some(TicketField::Labels)),
            ("sync", None),
            ("comment", None),
        ] {
            assert_eq!(TicketField::parse(name), want, "{name}");
            if let Some(f) = want {
                assert_eq!(f.to_string(), name);
            }
        }
    }

    #[test]
    fn origins_read_from_their_parts() {
        for o in [
            ChangeOrigin::Local,
            ChangeOrigin::Pulled {
                asana_user: Some("123".into()),
            },
            ChangeOrigin::Pulled { asana_user: None },
            ChangeOrigin::Conflict,
            ChangeOrigin::Maintenance,
        ] {
            let back = ChangeOrigin::from_parts(o.as_str(), o.asana_user().map(str::to_string));
            assert_eq!(back, Some(o));
        }
        assert_eq!(ChangeOrigin::from_parts("remote", None), None);
    }

    #[test]
    fn labels_split_as_they_were_joined() {
        assert_eq!(labels_of_text(None), Vec::<String>::new());
        assert_eq!(labels_of_text(Some("")), Vec::<String>::new());
        assert_eq!(labels_of_text(Some("a b, vip")), vec!["a b", "vip"]);
    }

    #[test]
    fn limits_out_of_range_are_refused() {
        assert!(check_changes_limit(1).is_ok() && check_changes_limit(MAX_CHANGES_PAGE).is_ok());
        for bad in [0, MAX_CHANGES_PAGE + 1] {
            let e = check_changes_limit(bad).unwrap_err();
            assert!(e.to_string().contains(&bad.to_string()), "{e}");
        }
    }
}
