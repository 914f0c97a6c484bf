//! The change feed ([`ticket_provider_api::TicketChanges`]) over the history table.
//!
//! Every change is a `data_ticket_history` row (a comment added is one too, field
//! `comment`). The feed reads them in commit order from a position:
//!
//! * SQLite runs one writer at a time, so the row id is the commit order: the position is
//!   the id.
//! * PostgreSQL gives a BIGSERIAL id at insert, not at commit: a reader could see id 10 while
//!   id 9 is still in flight, and skip 9 for good. The position there is `commit_seq`, which
//!   a deferred trigger gives at commit under a transaction-scoped advisory lock (see the
//!   `change_feed` migration), so the positions a reader sees never gain a hole below the
//!   highest it saw.
//!
//! `watch` reads a page at a time (memory stays flat whatever the backlog) and, when it has
//! caught up, waits: commits through this store wake it at once; those of other processes
//! are noticed by polling — SQLite's `PRAGMA data_version` on a connection of its own every
//! [`SQLITE_POLL`], PostgreSQL's next page every [`POSTGRES_POLL`].

use std::collections::VecDeque;
#[cfg(feature = "sqlite")]
use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use ticket_provider_api::changes::labels_of_text;
use ticket_provider_api::{
    Change, ChangeCursor, ChangeKind, ChangeOrigin, ChangeStream, Status, TicketField,
};

use crate::config::Backend;
use crate::db::DbConnection;
use crate::error::StoreError;
use crate::provider::InternalProvider;
use crate::rows::from_micros;
use crate::write::COMMENT_FIELD;

/// How often a caught-up watcher of a SQLite file checks `PRAGMA data_version`.
pub const SQLITE_POLL: Duration = Duration::from_millis(50);

/// How often a caught-up watcher of a PostgreSQL store reads the next page.
pub const POSTGRES_POLL: Duration = Duration::from_millis(250);

/// How often a caught-up watcher of an in-memory store looks again (only this process can
/// write to it, and its commits wake the watcher at once).
const MEMORY_POLL: Duration = Duration::from_secs(1);

/// The changes a watcher reads at a time.
pub(crate) const WATCH_PAGE: usize = 256;

/// One history row as the feed reads it, with its comment when it is a comment's row.
#[derive(Debug, QueryableByName)]
struct FeedRow {
    #[diesel(sql_type = BigInt)]
    position: i64,
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    ticket_guid: String,
    #[diesel(sql_type = Text)]
    field: String,
    #[diesel(sql_type = Nullable<Text>)]
    old_value: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    new_value: Option<String>,
    #[diesel(sql_type = BigInt)]
    changed_at: i64,
    #[diesel(sql_type = Text)]
    origin: String,
    #[diesel(sql_type = Nullable<Text>)]
    origin_user: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    comment_author: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    comment_body: Option<String>,
}

/// The columns every backend's query selects; `{position}` is the backend's order column.
macro_rules! feed_sql {
    ($position:literal, $after:literal, $limit:literal) => {
        concat!(
            "SELECT h.",
            $position,
            " AS position, h.id, h.ticket_guid, h.field, h.old_value, h.new_value, ",
            "h.changed_at, h.origin, h.origin_user, ",
            "c.author AS comment_author, c.body AS comment_body ",
            "FROM data_ticket_history h ",
            "LEFT JOIN data_ticket_comment c ",
            "ON h.field = 'comment' AND c.comment_guid = h.new_value ",
            "WHERE h.",
            $position,
            " > ",
            $after,
            " ORDER BY h.",
            $position,
            " LIMIT ",
            $limit
        )
    };
}

/// At most `limit` changes after position `after`, in commit order (one statement: one
/// consistent read).
pub(crate) fn read_changes(
    conn: &mut DbConnection,
    after: u64,
    limit: usize,
) -> Result<Vec<Change>, StoreError> {
    let after = i64::try_from(after).unwrap_or(i64::MAX);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows: Vec<FeedRow> = match conn {
        #[cfg(feature = "sqlite")]
        DbConnection::Sqlite(c) => diesel::sql_query(feed_sql!("id", "?", "?"))
            .bind::<BigInt, _>(after)
            .bind::<BigInt, _>(limit)
            .load(c)?,
        #[cfg(feature = "postgres")]
        DbConnection::Postgres(c) => diesel::sql_query(feed_sql!("commit_seq", "$1", "$2"))
            .bind::<BigInt, _>(after)
            .bind::<BigInt, _>(limit)
            .load(c)?,
    };
    rows.into_iter().map(change_of).collect()
}

/// The change a row records.
fn change_of(r: FeedRow) -> Result<Change, StoreError> {
    let corrupt = |what: &str| {
        StoreError::Corrupt(format!(
            "{what} of history row {} (ticket {})",
            r.id, r.ticket_guid
        ))
    };
    let origin = ChangeOrigin::from_parts(&r.origin, r.origin_user.clone())
        .ok_or_else(|| corrupt(&format!("origin {:?}", r.origin)))?;
    let what = kind_of(
        &r.field,
        r.old_value,
        r.new_value,
        r.comment_author,
        r.comment_body,
    )
    .map_err(|what| corrupt(&what))?;
    let position = u64::try_from(r.position).map_err(|_| corrupt("position"))?;
    Ok(Change {
        id: r.id,
        guid: r.ticket_guid,
        what,
        at: from_micros(r.changed_at)?,
        origin,
        cursor: ChangeCursor::at(position),
    })
}

/// What a history row's field and values mean; the part that is wrong, when they are not
/// what the store writes.
fn kind_of(
    field: &str,
    old: Option<String>,
    new: Option<String>,
    comment_author: Option<String>,
    comment_body: Option<String>,
) -> Result<ChangeKind, String> {
    Ok(match field {
        "created" => ChangeKind::Created {
            status: new
                .as_deref()
                .and_then(|s| s.parse::<Status>().ok())
                .ok_or_else(|| format!("the status {new:?} of a creation"))?,
        },
        "labels" => ChangeKind::Labels {
            old: labels_of_text(old.as_deref()),
            new: labels_of_text(new.as_deref()),
        },
        COMMENT_FIELD => ChangeKind::CommentAdded {
            body: comment_body.ok_or_else(|| format!("the comment {new:?} (not stored)"))?,
            comment_guid: new.unwrap_or_default(),
            author: comment_author,
        },
        "sync" => ChangeKind::SyncNote {
            before: old,
            after: new,
        },
        other => match TicketField::parse(other) {
            Some(field) => ChangeKind::Field { field, old, new },
            None => ChangeKind::Other {
                name: other.to_string(),
                old,
                new,
            },
        },
    })
}

/// How a caught-up watcher notices commits of other processes.
enum Probe {
    /// `PRAGMA data_version` on a connection of the watcher's own: it changes whenever
    /// another connection commits.
    #[cfg(feature = "sqlite")]
    DataVersion {
        conn: Arc<Mutex<DbConnection>>,
        seen: Option<i64>,
    },
    /// Read the next page every so often.
    Poll(Duration),
}

#[cfg(feature = "sqlite")]
#[derive(QueryableByName)]
struct DataVersion {
    #[diesel(sql_type = BigInt)]
    data_version: i64,
}

/// `PRAGMA data_version` of a SQLite connection; `None` when it cannot be read.
#[cfg(feature = "sqlite")]
fn data_version(conn: &mut DbConnection) -> Option<i64> {
    match conn {
        DbConnection::Sqlite(c) => diesel::sql_query("PRAGMA data_version")
            .get_result::<DataVersion>(c)
            .map(|v| v.data_version)
            .ok(),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

impl Probe {
    fn new(provider: &InternalProvider) -> Result<Self, StoreError> {
        let target = provider.target();
        Ok(match target.backend() {
            Backend::Sqlite if target.is_memory() => Probe::Poll(MEMORY_POLL),
            #[cfg(feature = "sqlite")]
            Backend::Sqlite => Probe::DataVersion {
                conn: Arc::new(Mutex::new(
                    crate::db::DbManager::new(target.clone()).establish()?,
                )),
                seen: None,
            },
            _ => Probe::Poll(POSTGRES_POLL),
        })
    }

    /// Whether the store may have changed since the last call (always, the first time).
    async fn changed(&mut self) -> bool {
        match self {
            #[cfg(feature = "sqlite")]
            Probe::DataVersion { conn, seen } => {
                let conn = Arc::clone(conn);
                let now = tokio::task::spawn_blocking(move || {
                    data_version(&mut conn.lock().unwrap_or_else(|e| e.into_inner()))
                })
                .await
                .ok()
                .flatten();
                // A failed probe counts as a change: the read that follows says what is
                // wrong.
                let changed = now.is_none() || now != *seen;
                *seen = now;
                changed
            }
            Probe::Poll(_) => true,
        }
    }

    fn interval(&self) -> Duration {
        match self {
            #[cfg(feature = "sqlite")]
            Probe::DataVersion { .. } => SQLITE_POLL,
            Probe::Poll(d) => *d,
        }
    }
}

/// A watcher's state between two items.
struct Watcher {
    provider: InternalProvider,
    after: u64,
    buffer: VecDeque<Change>,
    commits: tokio::sync::watch::Receiver<u64>,
    probe: Probe,
    /// Wait before the next read (the last one found nothing, or failed).
    wait: bool,
}

impl Watcher {
    /// Waits until this process commits, or the probe sees another's commit.
    async fn wait_for_commit(&mut self) {
        loop {
            tokio::select! {
                r = self.commits.changed() => {
                    if r.is_ok() {
                        return;
                    }
                    // The store is gone (it cannot be while this watcher holds it): poll.
                    tokio::time::sleep(self.probe.interval()).await;
                }
                () = tokio::time::sleep(self.probe.interval()) => {}
            }
            if self.probe.changed().await {
                return;
            }
        }
    }

    /// The next change, waiting for one when caught up.
    async fn next(&mut self) -> Result<Change, ticket_provider_api::Error> {
        loop {
            if let Some(c) = self.buffer.pop_front() {
                return Ok(c);
            }
            if self.wait {
                self.wait_for_commit().await;
            }
            // Marked seen before the read: a commit after this point wakes the next wait.
            self.commits.borrow_and_update();
            let after = self.after;
            match self.provider.read_feed(after, WATCH_PAGE).await {
                Ok(page) => {
                    self.wait = page.len() < WATCH_PAGE;
                    if let Some(last) = page.last() {
                        self.after = last.cursor.position();
                    }
                    self.buffer.extend(page);
                }
                Err(e) => {
                    self.wait = true;
                    return Err(e);
                }
            }
        }
    }
}

/// The stream of [`ticket_provider_api::TicketChanges::watch`].
pub(crate) fn watch(
    provider: &InternalProvider,
    since: Option<ChangeCursor>,
) -> Result<ChangeStream, StoreError> {
    #[allow(unused_mut)]
    let mut probe = Probe::new(provider)?;
    // The first probe only records the version: the first read happens anyway.
    #[cfg(feature = "sqlite")]
    if let Probe::DataVersion { conn, seen } = &mut probe {
        *seen = data_version(&mut conn.lock().unwrap_or_else(|e| e.into_inner()));
    }
    let watcher = Watcher {
        provider: provider.clone(),
        after: since.unwrap_or(ChangeCursor::START).position(),
        buffer: VecDeque::with_capacity(WATCH_PAGE),
        commits: provider.commits(),
        probe,
        wait: false,
    };
    Ok(Box::pin(futures::stream::unfold(
        watcher,
        |mut w| async move {
            let item = w.next().await;
            Some((item, w))
        },
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_read_as_the_changes_they_record() {
        let s = |t: &str| Some(t.to_string());
        type Case = (
            &'static str,
            Option<String>,
            Option<String>,
            Option<ChangeKind>,
        );
        let cases: Vec<Case> = vec![
            (
                "created",
                None,
                s("NEW"),
                Some(ChangeKind::Created {
                    status: Status::New,
                }),
            ),
            ("created", None, s("??"), None),
            ("created", None, None, None),
            (
                "status",
                s("NEW"),
                s("TRIAGED"),
                Some(ChangeKind::Field {
                    field: TicketField::Status,
                    old: s("NEW"),
                    new: s("TRIAGED"),
                }),
            ),
            (
                "fields.customer",
                None,
                s("ACME"),
                Some(ChangeKind::Field {
                    field: TicketField::Custom("customer".into()),
                    old: None,
                    new: s("ACME"),
                }),
            ),
            (
                "labels",
                s("a"),
                s("a, vip"),
                Some(ChangeKind::Labels {
                    old: vec!["a".into()],
                    new: vec!["a".into(), "vip".into()],
                }),
            ),
            (
                "labels",
                s("vip"),
                None,
                Some(ChangeKind::Labels {
                    old: vec!["vip".into()],
                    new: vec![],
                }),
            ),
            (
                "sync",
                s("x"),
                s("y"),
                Some(ChangeKind::SyncNote {
                    before: s("x"),
                    after: s("y"),
                }),
            ),
            (
                "note",
                None,
                s("extra"),
                Some(ChangeKind::Other {
                    name: "note".into(),
                    old: None,
                    new: s("extra"),
                }),
            ),
        ];
        for (field, old, new, want) in cases {
            let got = kind_of(field, old.clone(), new.clone(), None, None).ok();
            assert_eq!(got, want, "{field} {old:?} {new:?}");
        }
        assert_eq!(
            kind_of("comment", None, s("g1"), s("bob"), s("hello")).unwrap(),
            ChangeKind::CommentAdded {
                comment_guid: "g1".into(),
                author: s("bob"),
                body: "hello".into(),
            }
        );
        assert!(kind_of("comment", None, s("g1"), None, None).is_err());
    }
}
