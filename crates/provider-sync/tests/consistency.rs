//! Store and Asana agree (issue #11): one normalization rule on every path, a sync state that
//! agrees with `sync status`, `me` stored as the token owner, and section versus `completed`.

mod common;

use asana_fake::FakeAsana;
use provider_sync::SyncProvider;
use ticket_provider_api::{NewTicket, TicketProvider, TicketUpdate};

/// The one task of the fake's project.
fn only_task(fake: &FakeAsana) -> asana_fake::TaskSnapshot {
    let mut tasks = fake.project_tasks(&fake.project_gid());
    assert_eq!(tasks.len(), 1, "one task");
    tasks.remove(0)
}

/// The fields of `guid`'s history rows, oldest first.
async fn history_fields(p: &SyncProvider, guid: &str) -> Vec<String> {
    p.local()
        .history(guid)
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.field)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn padded_values_are_the_same_in_the_store_in_asana_and_after_a_pull() {
    let (fake, _users) = common::fake().await;
    let dir = tempfile::tempdir().unwrap();
    let p = common::direct_for(&fake, &dir.path().join("t.db")).await;
    let t = p
        .create(NewTicket::new("  padded subject  ").assignee(format!(" {} ", common::ALICE)))
        .await
        .unwrap();
    common::flush_all(&p).await;
    let stored = p.get_ticket(&t.guid).await.unwrap().ticket;
    let task = only_task(&fake);
    assert_eq!(stored.subject, "padded subject");
    assert_eq!(task.name, stored.subject);
    assert_eq!(stored.assignee.as_deref(), Some(common::ALICE));

    p.update(
        &t.guid,
        TicketUpdate {
            subject: Some("   retitled  ".into()),
            ..TicketUpdate::default()
        },
    )
    .await
    .unwrap();
    p.assign(&t.guid, &format!("  {}", common::BOB))
        .await
        .unwrap();
    common::flush_all(&p).await;
    let stored = p.get_ticket(&t.guid).await.unwrap().ticket;
    assert_eq!(stored.subject, "retitled");
    assert_eq!(only_task(&fake).name, "retitled");
    assert_eq!(stored.assignee.as_deref(), Some(common::BOB));

    let before = history_fields(&p, &t.guid).await;
    let gid = stored.asana_gid.clone().unwrap();
    p.sync_from_asana(&gid).await.unwrap();
    let report = p.pull_all(&|_| {}).await.unwrap();
    assert_eq!(report.updated, 0, "{report:?}");
    assert_eq!(
        history_fields(&p, &t.guid).await,
        before,
        "a pull records no change"
    );
    let after = p.get_ticket(&t.guid).await.unwrap().ticket;
    assert_eq!(
        (after.subject, after.assignee, after.updated_at),
        (stored.subject, stored.assignee, stored.updated_at)
    );
}
