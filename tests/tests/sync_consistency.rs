//! Store and Asana agree (issue #11): one normalization rule on every path, a sync state that
//! agrees with `sync status`, `me` stored as the token owner, and section versus `completed`.

use crate::common;

use asana_fake::FakeAsana;
use homechoice_tickets::provider_sync::SyncProvider;
use homechoice_tickets::{ListQuery, NewTicket, Status, SyncState, TicketProvider, TicketUpdate};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_whose_only_change_is_set_aside_reads_set_aside_like_sync_status() {
    let (fake, _users) = common::fake().await;
    let dir = tempfile::tempdir().unwrap();
    let p = common::direct_for(&fake, &dir.path().join("t.db")).await;
    let t = p.create(NewTicket::new("Printer")).await.unwrap();
    common::flush_all(&p).await;
    let res = p.assign(&t.guid, "ghost@example.com").await.unwrap();
    p.flush().await.unwrap();
    let status = p.status().await.unwrap();
    assert_eq!((status.pending, status.set_aside), (0, 1), "{status:?}");
    assert_eq!(res.sync_state, Some(SyncState::SetAside), "{res:?}");
    let got = p.get_ticket(&t.guid).await.unwrap().ticket;
    assert_eq!(got.sync_state, Some(SyncState::SetAside));
    let listed = p.list_tickets(ListQuery::default()).await.unwrap();
    assert_eq!(listed.tickets[0].sync_state, Some(SyncState::SetAside));

    // A new change waits: pending, and counted as pending.
    fake.add_fault(asana_fake::Fault {
        status: Some(503),
        count: 1_000,
        ..Default::default()
    });
    let res = p.assign(&t.guid, common::ALICE).await.unwrap();
    assert_eq!(res.sync_state, Some(SyncState::Pending));
    assert_eq!(p.status().await.unwrap().pending, 1);
    let listed = p.list_tickets(ListQuery::default()).await.unwrap();
    assert_eq!(listed.tickets[0].sync_state, Some(SyncState::Pending));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn me_is_stored_as_the_token_owner() {
    let (fake, _users) = common::fake().await;
    let dir = tempfile::tempdir().unwrap();
    let p = common::direct_for(&fake, &dir.path().join("t.db")).await;
    let t = p
        .create(NewTicket::new("Mine").assignee("me"))
        .await
        .unwrap();
    let other = p.create(NewTicket::new("Also mine")).await.unwrap();
    p.assign(&other.guid, "me").await.unwrap();
    common::flush_all(&p).await;
    for guid in [&t.guid, &other.guid] {
        let got = p.get_ticket(guid).await.unwrap().ticket;
        assert_eq!(got.assignee, Some(fake.owner_email()), "{guid}");
    }
    let before = history_fields(&p, &other.guid).await;
    let report = p.pull_all(&|_| {}).await.unwrap();
    assert_eq!(report.updated, 0, "{report:?}");
    assert_eq!(history_fields(&p, &other.guid).await, before);
}

/// A request to the fake as a person in Asana would make it (same token).
async fn asana(fake: &FakeAsana, method: reqwest::Method, path: &str, data: serde_json::Value) {
    let resp = reqwest::Client::new()
        .request(method, format!("{}{path}", fake.base_url()))
        .bearer_auth(fake.token())
        .json(&serde_json::json!({ "data": data }))
        .send()
        .await
        .expect("request");
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
}

/// The task of ticket `guid` as the fake holds it.
async fn task_of(fake: &FakeAsana, p: &SyncProvider, guid: &str) -> asana_fake::TaskSnapshot {
    let gid = p.get_ticket(guid).await.unwrap().ticket.asana_gid.unwrap();
    fake.project_tasks(&fake.project_gid())
        .into_iter()
        .find(|t| t.gid == gid)
        .expect("task")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn section_and_completed_end_up_consistent_on_both_sides() {
    let (fake, _users) = common::fake().await;
    let dir = tempfile::tempdir().unwrap();
    let p = common::direct_for(&fake, &dir.path().join("t.db")).await;
    // A resolved ticket makes the "Resolved" section exist.
    let done = p.create(NewTicket::new("done")).await.unwrap();
    p.resolve(&done.guid).await.unwrap();
    let t = p.create(NewTicket::new("Printer")).await.unwrap();
    p.change_status(&t.guid, Status::InProgress).await.unwrap();
    common::flush_all(&p).await;
    let resolved_section = task_of(&fake, &p, &done.guid).await.section_gid.unwrap();
    let gid = task_of(&fake, &p, &t.guid).await.gid;

    // Dragged to "Resolved" without ticking it complete.
    asana(
        &fake,
        reqwest::Method::POST,
        &format!("/sections/{resolved_section}/addTask"),
        serde_json::json!({ "task": gid }),
    )
    .await;
    p.pull_all(&|_| {}).await.unwrap();
    assert_eq!(
        p.get_ticket(&t.guid).await.unwrap().ticket.status,
        Status::Resolved
    );
    common::flush_all(&p).await;
    let task = task_of(&fake, &p, &t.guid).await;
    assert_eq!(
        (task.section_name.as_deref(), task.completed),
        (Some("Resolved"), true)
    );

    // Unticked in "Resolved": reopened, and moved back to a working section.
    asana(
        &fake,
        reqwest::Method::PUT,
        &format!("/tasks/{gid}"),
        serde_json::json!({ "completed": false }),
    )
    .await;
    p.pull_all(&|_| {}).await.unwrap();
    assert_eq!(
        p.get_ticket(&t.guid).await.unwrap().ticket.status,
        Status::InProgress
    );
    common::flush_all(&p).await;
    let task = task_of(&fake, &p, &t.guid).await;
    assert_eq!(
        (task.section_name.as_deref(), task.completed),
        (Some("In Progress"), false)
    );

    // Ticked complete, section unchanged: resolved, and moved to "Resolved".
    asana(
        &fake,
        reqwest::Method::PUT,
        &format!("/tasks/{gid}"),
        serde_json::json!({ "completed": true }),
    )
    .await;
    p.pull_all(&|_| {}).await.unwrap();
    // A second pull before the push decides the same and queues nothing more.
    p.pull_all(&|_| {}).await.unwrap();
    assert_eq!(
        p.get_ticket(&t.guid).await.unwrap().ticket.status,
        Status::Resolved
    );
    assert_eq!(p.status().await.unwrap().pending, 1);
    common::flush_all(&p).await;
    let task = task_of(&fake, &p, &t.guid).await;
    assert_eq!(
        (task.section_name.as_deref(), task.completed),
        (Some("Resolved"), true)
    );
    // Consistent now: a pull changes nothing.
    let report = p.pull_all(&|_| {}).await.unwrap();
    assert_eq!(report.updated, 0, "{report:?}");
    assert_eq!(p.status().await.unwrap().pending, 0);
}
