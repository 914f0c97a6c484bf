//! The internal provider on PostgreSQL. Each test creates its own database through the admin
//! URL in `TICKET_TEST_POSTGRES_URL` and drops it afterwards, so tests run in parallel.
//! Without that variable the tests are skipped, unless `CI` is set, where they fail.
#![cfg(feature = "postgres")]

use crate::common;

use diesel::connection::SimpleConnection;
use diesel::Connection;
use provider_internal::{Backend, InternalProvider, StoreOptions};
use ticket_provider_api::ErrorKind;

/// A fresh database, dropped on drop.
struct TestDb {
    admin: String,
    name: String,
    url: String,
}

impl TestDb {
    fn create() -> Option<TestDb> {
        let Ok(admin) = std::env::var("TICKET_TEST_POSTGRES_URL") else {
            if std::env::var_os("CI").is_some() {
                panic!("TICKET_TEST_POSTGRES_URL must be set when CI is set");
            }
            println!("skipped: TICKET_TEST_POSTGRES_URL not set");
            return None;
        };
        let name = format!("internal_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = diesel::PgConnection::establish(&admin).expect("connect to admin URL");
        conn.batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create test database");
        let url = with_database(&admin, &name);
        Some(TestDb { admin, name, url })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut conn) = diesel::PgConnection::establish(&self.admin) {
            let _ = conn.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// `admin` with its database name replaced by `name`.
fn with_database(admin: &str, name: &str) -> String {
    let (base, query) = match admin.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (admin, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{name}?{q}"),
        None => format!("{host_part}/{name}"),
    }
}

macro_rules! pg_test {
    ($name:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $name() {
            let Some(db) = TestDb::create() else { return };
            common::$name(&db.url).await;
        }
    };
}

pg_test!(behaviour_suite);
pg_test!(random_fields_round_trip);
pg_test!(every_operation_and_history);
pg_test!(invalid_input_writes_nothing);
pg_test!(pagination_under_concurrent_inserts);
pg_test!(concurrency_16x200);
pg_test!(two_providers_and_reopen);
pg_test!(extension_hook_and_transactions);
pg_test!(transaction_operations_return_the_stored_ticket);
pg_test!(due_dates);
pg_test!(get_is_one_consistent_read);
pg_test!(feed_carries_every_kind_of_change);
pg_test!(feed_resumes_from_every_cursor);
pg_test!(feed_cursor_survives_reopening);
pg_test!(watch_sees_another_handles_commits);
pg_test!(watch_under_concurrent_writers_misses_nothing);

#[tokio::test]
async fn backend_is_postgres_and_debug_hides_the_password() {
    let Some(db) = TestDb::create() else { return };
    let p = common::open(&db.url).await;
    assert_eq!(p.backend(), Backend::Postgres);
    let with_pw = db.url.replacen("://", "://postgres:hunter2@", 1);
    let with_pw = if db.url.contains('@') {
        db.url.clone()
    } else {
        with_pw
    };
    if let Ok(p) = InternalProvider::open(&with_pw, StoreOptions::default()).await {
        assert!(!format!("{p:?}").contains("hunter2"));
    }
}

#[tokio::test]
async fn unreachable_server_is_unavailable_without_password() {
    if TestDb::create().is_none() {
        return;
    }
    let err = InternalProvider::open(
        "postgres://someone:hunter2@127.0.0.1:1/nothing",
        StoreOptions::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(err.is_temporary());
    let msg = format!("{err} {err:?}");
    assert!(!msg.contains("hunter2"), "{msg}");
    assert!(msg.contains("127.0.0.1:1"), "{msg}");
}

#[test]
fn database_name_is_replaced() {
    assert_eq!(
        with_database("postgres://u@h:5/postgres?sslmode=disable", "x"),
        "postgres://u@h:5/x?sslmode=disable"
    );
    assert_eq!(with_database("postgres://u@h:5", "x"), "postgres://u@h:5/x");
}

/// Two writers where the later history id commits first: A inserts its history row (the
/// lower id) and waits; B inserts (the higher id) and commits; a reader takes a page and its
/// cursor; then A commits. Resuming from that cursor must hand out A's change: positions are
/// given at commit, not at insert (with ids, the reader would have skipped A for good).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn feed_keeps_a_change_whose_id_commits_after_a_later_one() {
    use std::sync::mpsc;
    use ticket_provider_api::{NewTicket, TicketProvider, TicketUpdate};
    let Some(db) = TestDb::create() else { return };
    let p = common::open(&db.url).await;
    let ga = p.create(NewTicket::new("a")).await.unwrap().guid;
    let gb = p.create(NewTicket::new("b")).await.unwrap().guid;
    let start = p.changes(None, 1000).await.unwrap().cursor;
    let (inserted_tx, inserted_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let go_rx = std::sync::Arc::new(std::sync::Mutex::new(go_rx));
    let writer_a = {
        let p = p.clone();
        let ga = ga.clone();
        tokio::spawn(async move {
            p.write(move |tx| {
                tx.update(
                    &ga,
                    &TicketUpdate {
                        subject: Some("a, changed first".into()),
                        ..Default::default()
                    },
                )?;
                let _ = inserted_tx.send(());
                let _ = go_rx
                    .lock()
                    .unwrap()
                    .recv_timeout(std::time::Duration::from_secs(30));
                Ok(())
            })
            .await
        })
    };
    inserted_rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("writer A inserted its row");
    p.update(
        &gb,
        TicketUpdate {
            subject: Some("b, committed first".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let seen = p.changes(Some(start), 1000).await.unwrap();
    assert_eq!(seen.changes.len(), 1, "{:?}", seen.changes);
    assert_eq!(seen.changes[0].guid, gb);
    go_tx.send(()).unwrap();
    writer_a.await.unwrap().unwrap();
    let rest = p.changes(Some(seen.cursor), 1000).await.unwrap();
    assert_eq!(
        rest.changes.len(),
        1,
        "A's change was skipped: {:?}",
        rest.changes
    );
    assert_eq!(rest.changes[0].guid, ga);
    // The situation the test means: A's id is the lower one.
    assert!(rest.changes[0].id < seen.changes[0].id);
}

/// A database written by release 0.1.0 (the fixture dump) opens with the feed: its history
/// reads in id order as local changes, a cursor at an old row resumes there, and new changes
/// come after every old one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_of_a_release_0_1_0_database() {
    let Some(db) = TestDb::create() else { return };
    let dump = std::fs::read_to_string(common::FIXTURE_010.join("postgres.sql")).expect("dump");
    diesel::PgConnection::establish(&db.url)
        .expect("connect")
        .batch_execute(&dump)
        .expect("replay the fixture");
    common::feed_of_an_old_database(&db.url).await;
}
