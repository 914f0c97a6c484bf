//! The WAL checkpoint thread of a SQLite store (its own test binary: it counts the threads
//! of the process).
#![cfg(feature = "sqlite")]

use std::time::{Duration, Instant};

use provider_internal::checkpoint::CHECKPOINT_EVERY_WRITES;
use provider_internal::{InternalProvider, StoreOptions};
use ticket_provider_api::{NewTicket, TicketProvider};

/// Threads of this process named like the checkpoint thread (Linux keeps 15 characters).
fn checkpoint_threads() -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(|t| t.ok())
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .filter(|name| name.trim_end() == "ticket-sqlite-c")
        .count()
}

async fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_checkpointed_in_the_background_and_the_thread_ends_with_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tickets.db");
    let url = format!("sqlite://{}", path.display());
    let store = InternalProvider::open(&url, StoreOptions::default())
        .await
        .unwrap();
    // The thread names itself once it runs: wait for that, then there must be exactly one.
    wait_until("the store's checkpoint thread", || {
        checkpoint_threads() >= 1
    })
    .await;
    assert_eq!(checkpoint_threads(), 1, "one thread per SQLite file store");
    assert_eq!(store.background_checkpoints(), 0);
    let mut guids = Vec::new();
    for i in 0..CHECKPOINT_EVERY_WRITES {
        guids.push(
            store
                .create(NewTicket::new(format!("t {i}")))
                .await
                .unwrap()
                .guid,
        );
    }
    wait_until("a checkpoint after a burst of writes", || {
        store.background_checkpoints() >= 1
    })
    .await;
    // One more write: checkpointed once the store has been quiet for a while.
    let before = store.background_checkpoints();
    store.create(NewTicket::new("last")).await.unwrap();
    wait_until("a checkpoint after a quiet time", || {
        store.background_checkpoints() > before
    })
    .await;
    // Everything is in the database file itself now: a copy of it alone (no -wal) has it.
    let copy = dir.path().join("copy.db");
    std::fs::copy(&path, &copy).unwrap();
    let copied = InternalProvider::open(
        &format!("sqlite://{}", copy.display()),
        StoreOptions::default(),
    )
    .await
    .unwrap();
    for g in &guids {
        copied.get_ticket(g).await.unwrap();
    }
    drop(copied);
    drop(store);
    wait_until("the checkpoint threads end with their stores", || {
        checkpoint_threads() == 0
    })
    .await;
}

#[tokio::test]
async fn an_in_memory_store_checkpoints_nothing() {
    let store = InternalProvider::open("sqlite://:memory:", StoreOptions::default())
        .await
        .unwrap();
    store.create(NewTicket::new("x")).await.unwrap();
    assert_eq!(store.background_checkpoints(), 0);
}
