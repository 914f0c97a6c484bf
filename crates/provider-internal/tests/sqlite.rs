//! The internal provider on SQLite files (each test its own temporary file).
#![cfg(feature = "sqlite")]

use crate::common;

use provider_internal::{Backend, InternalProvider, StoreOptions};
use ticket_provider_api::{Config, ErrorKind};

fn db() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("tickets.db").display());
    (dir, url)
}

macro_rules! sqlite_test {
    ($name:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $name() {
            let (_dir, url) = db();
            common::$name(&url).await;
        }
    };
}

sqlite_test!(behaviour_suite);
sqlite_test!(random_fields_round_trip);
sqlite_test!(every_operation_and_history);
sqlite_test!(invalid_input_writes_nothing);
sqlite_test!(pagination_under_concurrent_inserts);
sqlite_test!(concurrency_16x200);
sqlite_test!(two_providers_and_reopen);
sqlite_test!(extension_hook_and_transactions);
sqlite_test!(transaction_operations_return_the_stored_ticket);
sqlite_test!(due_dates);
sqlite_test!(get_is_one_consistent_read);
sqlite_test!(feed_carries_every_kind_of_change);
sqlite_test!(feed_resumes_from_every_cursor);
sqlite_test!(feed_cursor_survives_reopening);
sqlite_test!(watch_sees_another_handles_commits);
sqlite_test!(watch_under_concurrent_writers_misses_nothing);

#[tokio::test]
async fn in_memory_database_works() {
    let p = InternalProvider::open("sqlite://:memory:", StoreOptions::default())
        .await
        .unwrap();
    assert_eq!(p.backend(), Backend::Sqlite);
    use ticket_provider_api::{NewTicket, TicketProvider};
    let g = p.create(NewTicket::new("mem")).await.unwrap().guid;
    assert_eq!(p.get_ticket(&g).await.unwrap().ticket.subject, "mem");
}

#[tokio::test]
async fn unopenable_database_is_unavailable_and_names_the_url() {
    let err = InternalProvider::open(
        "sqlite:///nonexistent-dir/sub/t.db",
        StoreOptions::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(err.is_temporary());
    assert!(
        err.to_string().contains("/nonexistent-dir/sub/t.db"),
        "{err}"
    );
}

#[cfg(not(feature = "postgres"))]
#[tokio::test]
async fn postgres_url_without_the_feature_is_a_config_error() {
    let err = InternalProvider::open("postgres://u:secret@h/db", StoreOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("postgres"), "{err}");
    assert!(!err.to_string().contains("secret"), "{err}");
}

#[tokio::test]
async fn from_config_registry_and_doctor() {
    let (dir, url) = db();
    let cfg = Config::default()
        .with_setting("database_url", &url)
        .unwrap()
        .with_setting("database_pool_size", 3)
        .unwrap();
    let p = InternalProvider::from_config(&cfg).await.unwrap();
    assert!(format!("{p:?}").contains("pool_size: 3"));
    let d = ticket_provider_api::find_descriptor(provider_internal::NAME).unwrap();
    assert_eq!(d.crate_name, "provider-internal");
    let built = ticket_provider_api::get_provider(&cfg).await.unwrap();
    use ticket_provider_api::{NewTicket, TicketProvider};
    assert_eq!(
        built
            .create(NewTicket::new("via registry"))
            .await
            .unwrap()
            .provider,
        "internal"
    );
    let checks = (d.doctor.unwrap())(ticket_provider_api::BuildContext::new(cfg)).await;
    assert!(checks.iter().all(|c| c.ok), "{checks:?}");
    assert!(checks[0].detail.contains("sqlite"), "{checks:?}");
    let bad = Config::default()
        .with_setting(
            "database_url",
            format!("{}/missing/t.db", dir.path().display()),
        )
        .unwrap();
    let checks = (d.doctor.unwrap())(ticket_provider_api::BuildContext::new(bad)).await;
    assert!(!checks[0].ok && checks[0].fix.is_some(), "{checks:?}");
}

#[tokio::test]
async fn the_store_counts_its_round_trips() {
    use ticket_provider_api::{NewTicket, TicketProvider};
    let (_dir, url) = db();
    let p = InternalProvider::open(&url, provider_internal::StoreOptions::default())
        .await
        .unwrap();
    let start = p.store_round_trips();
    let g = p.create(NewTicket::new("count me")).await.unwrap().guid;
    assert_eq!(p.store_round_trips() - start, 1, "one write transaction");
    p.get_ticket(&g).await.unwrap();
    assert_eq!(p.store_round_trips() - start, 2, "one read");
    // Refused input never reaches the store.
    p.create(NewTicket::new(" ")).await.unwrap_err();
    assert_eq!(p.store_round_trips() - start, 2);
    // Clones share the store and its count.
    p.clone().get_ticket(&g).await.unwrap();
    assert_eq!(p.store_round_trips() - start, 3);
}

#[tokio::test]
async fn a_failed_read_ends_its_transaction() {
    use ticket_provider_api::{NewComment, NewTicket, TicketProvider};
    // In memory the pool holds one connection: every call below reuses it, so a read that
    // failed without ending its transaction would break the next one.
    let p = InternalProvider::open("sqlite://:memory:", StoreOptions::default())
        .await
        .unwrap();
    let g = p
        .create(NewTicket::new("still readable"))
        .await
        .unwrap()
        .guid;
    let missing = provider_internal::new_guid();
    for _ in 0..3 {
        let err = p.get_ticket(&missing).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        let m = missing.clone();
        let err = p.read(move |tx| tx.details(&m)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert_eq!(p.get_ticket(&g).await.unwrap().ticket.guid, g);
        p.add_comment(&g, NewComment::new("a write after it"))
            .await
            .unwrap();
    }
    assert_eq!(p.get_ticket(&g).await.unwrap().comments.len(), 3);
}

/// Issue 23 #9 and #14: a full store fails the doctor's file check and every write that
/// needs room, with a configuration error naming the file. "Full" is SQLite's own limit,
/// `PRAGMA max_page_count`, pinned to the file's size on the store's one connection: the
/// page allocator refuses the next page with SQLITE_FULL, as it does when the disk is full
/// (the write probe also spills its pages to the WAL, so a full disk fails it the same way).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_store_fails_the_file_check_and_writes_with_a_config_error() {
    use diesel::connection::SimpleConnection as _;
    use ticket_provider_api::{NewTicket, TicketProvider};
    let (dir, url) = db();
    let p = InternalProvider::open(
        &url,
        StoreOptions {
            pool_size: Some(1),
            ..StoreOptions::default()
        },
    )
    .await
    .unwrap();
    p.create(NewTicket::new("before")).await.unwrap();
    p.check_file().await.expect("a healthy file passes");
    p.write(|tx| {
        tx.conn().batch_execute("PRAGMA max_page_count = 1")?;
        Ok(())
    })
    .await
    .unwrap();
    let file = dir.path().join("tickets.db").display().to_string();
    let err = p.check_file().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    let m = err.to_string();
    assert!(m.contains(&file) && m.contains("is full"), "{m}");
    // A write that needs a page fails the same way; nothing of it is kept.
    let big = "x".repeat(19_000);
    let err = p
        .create(NewTicket::new("after").description(big))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.to_string().contains("is full"), "{err}");
    assert_eq!(p.row_counts().await.unwrap()[0], 1);
}

/// Issue 23 #9: a store whose pages are damaged opens (its schema is intact) but fails the
/// doctor's file check, naming the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_with_damaged_pages_fails_the_file_check() {
    use ticket_provider_api::{NewTicket, TicketProvider};
    let (dir, url) = db();
    {
        let p = InternalProvider::open(&url, StoreOptions::default())
            .await
            .unwrap();
        for i in 0..30 {
            p.create(NewTicket::new(format!("t{i}")).description("x".repeat(3000)))
                .await
                .unwrap();
        }
        p.shutdown().await.unwrap();
    }
    let path = dir.path().join("tickets.db");
    // The last connection to close (the checkpoint thread's, if it opened one, goes within
    // a tick) copies the WAL into the file and removes it.
    let wal = dir.path().join("tickets.db-wal");
    for _ in 0..100 {
        if !wal.exists() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(!wal.exists());
    let mut bytes = std::fs::read(&path).unwrap();
    let pages = bytes.len() / 4096;
    for page in pages - 8..pages {
        bytes[page * 4096 + 100..page * 4096 + 3100].fill(0xff);
    }
    std::fs::write(&path, bytes).unwrap();
    let p = InternalProvider::open(&url, StoreOptions::default())
        .await
        .unwrap();
    let err = p.check_file().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    let m = err.to_string();
    assert!(
        m.contains(&path.display().to_string()) && m.contains("is corrupt"),
        "{m}"
    );
}

/// A SQLite file written by release 0.1.0 opens with the feed (see
/// `common::feed_of_an_old_database`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_of_a_release_0_1_0_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tickets.db");
    std::fs::copy(common::FIXTURE_010.join("sqlite.db"), &path).unwrap();
    common::feed_of_an_old_database(&format!("sqlite://{}", path.display())).await;
}
