//! Outbox ids on SQLite (the outbox is keyed by ticket, and an id is given by the insert,
//! not by a counter): a ticket's entries keep the order of its changes even when another
//! process's clock ran ahead, ids stay unique and rise with the commit order, and retry /
//! discard refuse an id two entries share instead of acting on one of them.

use std::path::Path;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use homechoice_tickets::provider_internal::InternalProvider;
use homechoice_tickets::provider_sync::{store_options, Change, SyncStore};
use homechoice_tickets::{ErrorKind, NewComment, NewTicket, Status, TicketProvider};

/// The internal store with the sync extension: every change is queued, nothing pushes.
async fn store(path: &Path) -> (InternalProvider, SyncStore) {
    let url = format!("sqlite://{}", path.display());
    let local = InternalProvider::open(&url, store_options(None))
        .await
        .expect("open");
    let sync = SyncStore::new(local.clone()).expect("sync store");
    (local, sync)
}

fn raw(path: &Path) -> SqliteConnection {
    let mut c = SqliteConnection::establish(&path.display().to_string()).expect("raw");
    c.batch_execute("PRAGMA busy_timeout = 5000;")
        .expect("pragma");
    c
}

/// Adds an entry as another process would have: with the id it chose.
fn add_entry(c: &mut SqliteConnection, id: i64, guid: &str, set_aside: Option<&str>) {
    diesel::sql_query(
        "INSERT INTO data_sync_outbox (id, ticket_guid, operation, payload, created_at, attempts, set_aside_reason) \
         VALUES (?, ?, 'change_status', '{\"status\":\"TRIAGED\"}', ?, 0, ?)",
    )
    .bind::<BigInt, _>(id)
    .bind::<Text, _>(guid)
    .bind::<BigInt, _>(id)
    .bind::<diesel::sql_types::Nullable<Text>, _>(set_aside)
    .execute(c)
    .expect("insert");
}

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_goes_after_its_tickets_newest_even_when_that_one_came_from_a_clock_ahead() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.db");
    let (local, sync) = store(&path).await;
    let t = local
        .create(NewTicket::new("ordered"))
        .await
        .expect("create")
        .guid;
    // Another process, its clock an hour ahead, queued a change of the same ticket.
    let ahead = now_micros() + 3_600_000_000;
    add_entry(&mut raw(&path), ahead, &t, None);

    local
        .change_status(&t, Status::InProgress)
        .await
        .expect("status");
    local
        .add_comment(&t, NewComment::new("after it"))
        .await
        .expect("comment");

    let entries = sync.outbox_for_ticket(&t).await.expect("entries");
    let kinds: Vec<&str> = entries.iter().map(|e| e.change.operation()).collect();
    assert_eq!(
        kinds,
        ["create", "change_status", "change_status", "add_comment"],
        "{entries:?}"
    );
    assert_eq!(entries[1].id, ahead);
    assert!(
        entries.windows(2).all(|w| w[0].id < w[1].id),
        "ids rise in the order of the changes: {entries:?}"
    );
    match &entries[2].change {
        Change::Status(_, p) => assert_eq!(p.status, Status::InProgress),
        other => panic!("the local status change comes after the other process's: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_are_unique_and_rise_with_the_commit_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.db");
    let (local, _sync) = store(&path).await;
    let before = now_micros();
    // Two writers at once, on their own tickets and on a shared one.
    let shared = local
        .create(NewTicket::new("shared"))
        .await
        .expect("create")
        .guid;
    let mut tasks = Vec::new();
    for w in 0..2 {
        let (local, shared) = (local.clone(), shared.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..40 {
                let own = local
                    .create(NewTicket::new(format!("writer {w} ticket {i}")))
                    .await
                    .expect("create")
                    .guid;
                local
                    .add_comment(&own, NewComment::new("c"))
                    .await
                    .expect("comment");
                local
                    .add_comment(&shared, NewComment::new(format!("{w}/{i}")))
                    .await
                    .expect("comment");
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer");
    }
    // Commit order: the history table's AUTOINCREMENT rows and the comments' order both
    // follow it; ids, read back in commit order (rowid of the comment rows), must rise.
    #[derive(QueryableByName, Debug)]
    struct Row {
        #[diesel(sql_type = BigInt)]
        id: i64,
    }
    let mut c = raw(&path);
    let ids: Vec<i64> = diesel::sql_query(
        "SELECT o.id FROM data_sync_outbox o \
         JOIN data_ticket_comment m ON o.operation = 'add_comment' \
              AND json_extract(o.payload, '$.comment_guid') = m.comment_guid \
         ORDER BY m.rowid",
    )
    .load::<Row>(&mut c)
    .expect("ids")
    .into_iter()
    .map(|r| r.id)
    .collect();
    assert_eq!(ids.len(), 160);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let all: Vec<i64> = diesel::sql_query("SELECT id FROM data_sync_outbox")
        .load::<Row>(&mut c)
        .expect("all")
        .into_iter()
        .map(|r| r.id)
        .collect();
    let distinct: std::collections::HashSet<i64> = all.iter().copied().collect();
    assert_eq!(distinct.len(), all.len(), "unique ids");
    assert!(all.iter().all(|&id| id >= before), "ids are times: {all:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_and_discard_refuse_an_id_two_entries_share() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.db");
    let (local, sync) = store(&path).await;
    let a = local
        .create(NewTicket::new("a"))
        .await
        .expect("create")
        .guid;
    let b = local
        .create(NewTicket::new("b"))
        .await
        .expect("create")
        .guid;
    // The system clock was set back between two processes' writes.
    let id = now_micros() - 60_000_000;
    let mut c = raw(&path);
    add_entry(&mut c, id, &a, Some("refused"));
    add_entry(&mut c, id, &b, Some("refused"));

    for retry in [true, false] {
        let err = if retry {
            sync.retry(id).await.expect_err("retry")
        } else {
            sync.discard(id).await.expect_err("discard")
        };
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        let text = err.to_string();
        assert!(
            text.contains(&a) && text.contains(&b) && text.contains(&id.to_string()),
            "{text}"
        );
    }
    let (_, aside) = sync.status().await.expect("status");
    assert_eq!(aside.len(), 2, "both kept as they were: {aside:?}");
    assert!(aside
        .iter()
        .all(|e| e.set_aside_reason.as_deref() == Some("refused")));
}
