//! The happy path is cheap (issue #11): with Asana healthy, a synced create costs at most 4
//! store transactions and every other synced operation at most 3, the push included — counted
//! by the store itself (`InternalProvider::store_round_trips`: each pooled connection taken
//! for one read or one write transaction). With Asana down, an operation costs one.

mod common;

use std::time::Duration;

use homechoice_tickets::provider_sync::SyncProvider;
use homechoice_tickets::{
    ListQuery, NewComment, NewTicket, Status, SyncState, TicketProvider, TicketUpdate,
};

/// Runs `op` and returns its store transactions.
async fn counted<T>(p: &SyncProvider, op: impl std::future::Future<Output = T>) -> (T, u64) {
    let before = p.local().store_round_trips();
    let out = op.await;
    (out, p.local().store_round_trips() - before)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synced_operations_stay_within_their_store_transaction_budget() {
    let (fake, _users) = common::fake().await;
    let dir = tempfile::tempdir().unwrap();
    let p = common::direct(
        &fake.base_url(),
        &fake.project_gid(),
        &dir.path().join("t.db"),
        Duration::from_secs(10),
    )
    .await;
    // Warm the Asana side's caches (sections, tags, users).
    let warm = p.create(NewTicket::new("warm-up")).await.unwrap();
    p.add_comment(&warm.guid, NewComment::new("warm"))
        .await
        .unwrap();
    p.change_status(&warm.guid, Status::OnHold).await.unwrap();

    let (created, tx) = counted(&p, p.create(NewTicket::new("budget"))).await;
    let created = created.unwrap();
    assert_eq!(created.sync_state, Some(SyncState::Synced));
    assert!(created.asana_gid.is_some());
    assert!(tx <= 4, "create took {tx} store transactions");
    let g = created.guid.clone();

    let mut costs = Vec::new();
    macro_rules! op {
        ($name:literal, $fut:expr) => {{
            let (res, tx) = counted(&p, $fut).await;
            let res = res.unwrap();
            assert_eq!(res.sync_state, Some(SyncState::Synced), "{}", $name);
            costs.push(($name, tx));
        }};
    }
    op!(
        "update",
        p.update(
            &g,
            TicketUpdate {
                subject: Some("budget 2".into()),
                ..Default::default()
            }
        )
    );
    op!("change_status", p.change_status(&g, Status::Triaged));
    op!("assign", p.assign(&g, common::ALICE));
    op!("add_comment", p.add_comment(&g, NewComment::new("cheap")));
    op!("escalate", p.escalate(&g, Some("why")));
    op!("resolve", p.resolve(&g));
    op!("close", p.close(&g));
    for (name, tx) in &costs {
        assert!(*tx <= 3, "{name} took {tx} store transactions: {costs:?}");
    }
    let (_, tx) = counted(&p, p.get_ticket(&g)).await;
    assert_eq!(tx, 1, "get_ticket");
    let (_, tx) = counted(&p, p.list_tickets(ListQuery::default())).await;
    assert_eq!(tx, 1, "list_tickets");
    assert_eq!(p.status().await.unwrap().pending, 0);

    // Asana down (the breaker open): the operation is one transaction, its change pending.
    fake.add_fault(asana_fake::Fault {
        status: Some(503),
        count: 1000,
        ..Default::default()
    });
    for _ in 0..6 {
        let _ = p.add_comment(&g, NewComment::new("while down")).await;
    }
    let (res, tx) = counted(&p, p.add_comment(&g, NewComment::new("down"))).await;
    assert_eq!(res.unwrap().sync_state, Some(SyncState::Pending));
    assert_eq!(tx, 1, "an operation while Asana is down");
    p.shutdown().await;
}
