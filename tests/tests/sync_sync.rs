//! The sync provider's own guarantees against the fake Asana: operations never wait out an
//! unreachable or slow Asana, lost answers never duplicate a task or a comment, pulls (single
//! task, full read, events, expired token), our own pushes coming back as no change, and the
//! conflict rule.

use crate::common;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use asana_fake::{FakeAsana, Fault};
use homechoice_tickets::provider_sync::story::encode;
use homechoice_tickets::provider_sync::LinkState;
use homechoice_tickets::provider_sync::{PullMode, SyncProvider, CONFLICT_AUTHOR};
use homechoice_tickets::{
    NewComment, NewTicket, Priority, Status, SyncState, TicketProvider, TicketUpdate,
};
use serde_json::{json, Value};

/// Calls the fake's API directly (as a person editing in Asana would).
async fn api(fake: &FakeAsana, method: reqwest::Method, path: &str, data: Value) -> Value {
    let client = reqwest::Client::new();
    let mut req = client
        .request(method, format!("{}{path}", fake.base_url()))
        .bearer_auth(fake.token());
    if !data.is_null() {
        req = req.json(&json!({ "data": data }));
    }
    let resp = req.send().await.expect("request");
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    let body: Value = resp.json().await.expect("json");
    body["data"].clone()
}

async fn create_task_in_asana(fake: &FakeAsana, name: &str, notes: &str) -> String {
    let t = api(
        fake,
        reqwest::Method::POST,
        "/tasks",
        json!({"name": name, "notes": notes, "projects": [fake.project_gid()]}),
    )
    .await;
    t["gid"].as_str().expect("gid").to_string()
}

fn tasks_of(fake: &FakeAsana) -> Vec<asana_fake::TaskSnapshot> {
    fake.project_tasks(&fake.project_gid())
}

async fn gid_of(p: &SyncProvider, guid: &str) -> String {
    p.store()
        .link(guid)
        .await
        .unwrap()
        .and_then(|l| l.asana_gid)
        .expect("linked")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_do_not_wait_for_an_unreachable_asana() {
    // A port nobody listens on: connections are refused.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(
        &format!("http://127.0.0.1:{port}/api/1.0"),
        "1200000000000001",
        &dir.path().join("t.db"),
        300,
    );
    let p = common::from_config(config).await;
    let mut guids = Vec::new();
    for i in 0..6 {
        let started = Instant::now();
        let r = p
            .create(NewTicket::new(format!("unreachable {i}")))
            .await
            .unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(r.sync_state, Some(SyncState::Pending));
        assert_eq!(r.asana_gid, None);
        guids.push(r.guid);
    }
    // The breaker opens after repeated failures; from then on nothing waits for Asana.
    let deadline = Instant::now() + Duration::from_secs(15);
    while !p.status().await.unwrap().asana_paused {
        assert!(
            Instant::now() < deadline,
            "the circuit breaker never opened"
        );
        let _ = p.add_comment(&guids[0], NewComment::new("again")).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for g in &guids {
        let started = Instant::now();
        let r = p.close(g).await.unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(r.sync_state, Some(SyncState::Pending));
    }
    let status = p.status().await.unwrap();
    assert!(status.pending >= 12, "{status:?}");
    assert_eq!(status.set_aside, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_do_not_wait_out_a_slow_asana() {
    let (fake, users) = common::fake().await;
    let dir = tempfile::tempdir().unwrap();
    let p = common::direct(
        &fake.base_url(),
        &fake.project_gid(),
        &dir.path().join("t.db"),
        Duration::from_millis(200),
    )
    .await;
    fake.set_latency(Duration::from_secs(5));
    let mut guids = Vec::new();
    for i in 0..3 {
        let started = Instant::now();
        let r = p
            .create(NewTicket::new(format!("slow {i}")).assignee(common::ALICE))
            .await
            .unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(r.sync_state, Some(SyncState::Pending));
        let started = Instant::now();
        let r = p
            .add_comment(&r.guid, NewComment::new("while slow"))
            .await
            .unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(r.sync_state, Some(SyncState::Pending));
        guids.push(r.guid);
    }
    fake.set_latency(Duration::ZERO);
    common::flush_all(&p).await;
    for g in &guids {
        let t = p.get_ticket(g).await.unwrap();
        assert_eq!(t.ticket.sync_state, Some(SyncState::Synced));
    }
    common::assert_mirrors(&fake, &p, &users).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_whose_answer_is_lost_is_not_duplicated() {
    let (fake, users) = common::fake().await;
    let dir = tempfile::tempdir().unwrap();
    let p = common::direct_for(&fake, &dir.path().join("t.db")).await;
    // Warm the caches (sections, tags), so the next POST /tasks is the create.
    p.create(NewTicket::new("warm")).await.unwrap();
    fake.add_fault(Fault {
        method: Some("POST".into()),
        path_prefix: Some("/api/1.0/tasks".into()),
        status: Some(500),
        count: 1,
        after_apply: true,
        ..Fault::default()
    });
    let r = p
        .create(NewTicket::new("lost answer").priority(Priority::High))
        .await
        .unwrap();
    assert_eq!(r.sync_state, Some(SyncState::Pending));
    assert_eq!(r.asana_gid, None);
    assert_eq!(tasks_of(&fake).len(), 2, "the create was applied");
    let link = p.store().link(&r.guid).await.unwrap().unwrap();
    assert_eq!(link.state, LinkState::Creating);

    let report = p.flush().await.unwrap();
    assert_eq!(report.pending, 0, "{report:?}");
    assert_eq!(tasks_of(&fake).len(), 2, "no second task");
    let t = p.get_ticket(&r.guid).await.unwrap();
    assert_eq!(t.ticket.sync_state, Some(SyncState::Synced));
    assert!(t.ticket.asana_gid.is_some());
    common::assert_mirrors(&fake, &p, &users).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_comment_whose_answer_is_lost_is_not_duplicated() {
    let (fake, users) = common::fake().await;
    let dir = tempfile::tempdir().unwrap();
    let p = common::direct_for(&fake, &dir.path().join("t.db")).await;
    let r = p.create(NewTicket::new("comments")).await.unwrap();
    assert_eq!(r.sync_state, Some(SyncState::Synced));
    let gid = r.asana_gid.clone().unwrap();
    for _ in 0..2 {
        fake.add_fault(Fault {
            method: Some("POST".into()),
            path_prefix: Some(format!("/api/1.0/tasks/{gid}/stories")),
            status: Some(502),
            count: 1,
            after_apply: true,
            ..Fault::default()
        });
    }
    let c = p
        .add_comment(&r.guid, NewComment::new("said once").author("Ann"))
        .await
        .unwrap();
    assert_eq!(c.sync_state, Some(SyncState::Pending));
    let e = p.escalate(&r.guid, Some("needs level 2")).await.unwrap();
    assert_eq!(e.sync_state, Some(SyncState::Pending));

    let report = p.flush().await.unwrap();
    assert_eq!(report.pending, 0, "{report:?}");
    let task = tasks_of(&fake).into_iter().find(|t| t.gid == gid).unwrap();
    assert_eq!(task.comments.len(), 2, "{:?}", task.comments);
    common::assert_mirrors(&fake, &p, &users).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_interrupted_by_a_crash_is_reconciled_not_repeated() {
    let (fake, users) = common::fake().await;
    let dir = tempfile::tempdir().unwrap();
    let p = common::direct_for(&fake, &dir.path().join("t.db")).await;
    let local = p.local();

    // A create that reached Asana, then the process died before the link was updated.
    let r = local
        .create(NewTicket::new("crashed create").assignee(common::BOB))
        .await
        .unwrap();
    p.store()
        .put_link(homechoice_tickets::provider_sync::Link {
            ticket_guid: r.guid.clone(),
            asana_gid: None,
            state: LinkState::Creating,
            // As written before `creating_since` existed: the start time is read from here.
            last_synced_at: Some(chrono::Utc::now()),
            remote_modified_at: None,
            creating_since: None,
            agreed: Default::default(),
            pushed_at: None,
        })
        .await
        .unwrap();
    let t = local.get_ticket(&r.guid).await.unwrap().ticket;
    let new = NewTicket::new(t.subject.clone()).assignee(common::BOB);
    let task = p
        .remote()
        .create_task_with_marker(&new, Status::New, &r.guid)
        .await
        .unwrap();

    // A comment posted, then the process died before the comment link was written.
    let c = local
        .add_comment(&r.guid, NewComment::new("posted before the crash"))
        .await
        .unwrap();
    let cg = c.comment_guid.clone().unwrap();
    p.store()
        .record_comment_attempt(&cg, chrono::Utc::now())
        .await
        .unwrap();
    p.remote()
        .post_comment(&task.gid, &encode("posted before the crash", None))
        .await
        .unwrap();

    let report = p.flush().await.unwrap();
    assert_eq!(report.pending, 0, "{report:?}");
    assert_eq!(tasks_of(&fake).len(), 1, "no second task");
    assert_eq!(gid_of(&p, &r.guid).await, task.gid);
    assert_eq!(tasks_of(&fake)[0].comments.len(), 1);
    common::assert_mirrors(&fake, &p, &users).await;

    // A ticket from before sync was turned on: the first push is a full create.
    let old = local
        .create(NewTicket::new("from before").priority(Priority::Low))
        .await
        .unwrap();
    local
        .add_comment(&old.guid, NewComment::new("old comment"))
        .await
        .unwrap();
    for e in p.store().outbox_for_ticket(&old.guid).await.unwrap() {
        p.store().complete(&e.ticket_guid, e.id).await.unwrap();
    }
    let res = p.sync_to_asana(&old.guid).await.unwrap();
    assert_eq!(res.sync_state, Some(SyncState::Synced));
    assert!(res.asana_gid.is_some());
    // Running it again posts nothing twice.
    p.sync_to_asana(&old.guid).await.unwrap();
    common::assert_mirrors(&fake, &p, &users).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_from_asana_imports_a_task_made_in_asana() {
    let (fake, _users) = common::fake().await;
    let dir = tempfile::tempdir().unwrap();
    let p = common::direct_for(&fake, &dir.path().join("t.db")).await;
    let gid = create_task_in_asana(&fake, "Made in Asana", "by hand").await;
    api(
        &fake,
        reqwest::Method::PUT,
        &format!("/tasks/{gid}"),
        json!({"assignee": common::ALICE}),
    )
    .await;
    p.remote()
        .move_task(&gid, Status::InProgress)
        .await
        .unwrap();
    p.remote()
        .set_fields(
            &gid,
            &TicketUpdate {
                priority: Some(Priority::Urgent),
                ..TicketUpdate::default()
            },
        )
        .await
        .unwrap();
    api(
        &fake,
        reqwest::Method::POST,
        &format!("/tasks/{gid}/stories"),
        json!({"text": "Hello from Asana"}),
    )
    .await;

    let r = p.sync_from_asana(&gid).await.unwrap();
    assert_eq!(r.asana_gid.as_deref(), Some(gid.as_str()));
    assert_eq!(r.sync_state, Some(SyncState::Synced));
    assert_eq!(r.provider, "sync");
    let t = p.get_ticket(&r.guid).await.unwrap();
    assert_eq!(t.ticket.subject, "Made in Asana");
    assert_eq!(t.ticket.description, "by hand");
    assert_eq!(t.ticket.status, Status::InProgress);
    assert_eq!(t.ticket.priority, Priority::Urgent);
    assert_eq!(t.ticket.assignee.as_deref(), Some(common::ALICE));
    let bodies: Vec<&str> = t.comments.iter().map(|c| c.body.as_str()).collect();
    assert_eq!(bodies, ["Hello from Asana"]);

    // Again: nothing changes, no history, no second comment.
    let history = p.local().history(&r.guid).await.unwrap().len();
    let again = p.sync_from_asana(&gid).await.unwrap();
    assert_eq!(again.guid, r.guid);
    assert_eq!(p.local().history(&r.guid).await.unwrap().len(), history);
    assert_eq!(p.get_ticket(&r.guid).await.unwrap().comments.len(), 1);
}

fn count_task_lists(fake: &FakeAsana) -> usize {
    fake.requests()
        .iter()
        .filter(|r| {
            r.method == "GET"
                && (r.path == "/api/1.0/tasks"
                    || r.path
                        .ends_with(&format!("/projects/{}/tasks", fake.project_gid())))
        })
        .count()
}

/// The requests the fake saw since it was last cleared, as "METHOD path" (without `/api/1.0`;
/// the project's and workspace's gids as `{project}` / `{workspace}`, task gids as `{task}`)
/// with their number.
fn requests_by_path(fake: &FakeAsana) -> BTreeMap<String, usize> {
    let project = fake.project_gid();
    let mut out = BTreeMap::new();
    for r in fake.requests() {
        let path = r.path.trim_start_matches("/api/1.0");
        let generic: Vec<String> = path
            .split('/')
            .enumerate()
            .map(|(i, seg)| {
                let prev = path.split('/').nth(i.wrapping_sub(1)).unwrap_or("");
                if seg == project {
                    "{project}".to_string()
                } else if prev == "workspaces" {
                    "{workspace}".to_string()
                } else if prev == "tasks" && !seg.is_empty() {
                    "{task}".to_string()
                } else {
                    seg.to_string()
                }
            })
            .collect();
        *out.entry(format!("{} {}", r.method, generic.join("/")))
            .or_insert(0) += 1;
    }
    out
}

fn counts(items: &[(&str, usize)]) -> BTreeMap<String, usize> {
    items.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_all_reads_pages_then_follows_events_and_recovers_from_an_expired_token() {
    let (fake, _users) = common::fake().await;
    let dir = tempfile::tempdir().unwrap();
    let p = common::direct_for(&fake, &dir.path().join("t.db")).await;
    let mut gids = Vec::new();
    for i in 0..250 {
        gids.push(create_task_in_asana(&fake, &format!("task {i}"), "").await);
    }
    for g in &gids[..3] {
        api(
            &fake,
            reqwest::Method::POST,
            &format!("/tasks/{g}/stories"),
            json!({"text": format!("comment on {g}")}),
        )
        .await;
    }
    fake.clear_requests();
    let calls = Mutex::new(0usize);
    let report = p
        .pull_all(&|pr| {
            assert_eq!(pr.total, 250);
            *calls.lock().unwrap() += 1;
        })
        .await
        .unwrap();
    assert_eq!(report.mode, PullMode::Full);
    assert_eq!(report.created, 250, "{report:?}");
    assert!(report.skipped.is_empty(), "{report:?}");
    assert_eq!(*calls.lock().unwrap(), 250);
    assert_eq!(count_task_lists(&fake), 3, "ceil(250/100) list requests");
    // The whole first pull: the events token (none yet: 412), the token owner (to tell our
    // own stories; once per provider), 3 list pages, the comments of the 250 new tasks 10
    // tasks per batch, and one batch reading the comments' author from the users API
    // (Asana's compact users carry no e-mail; once per provider). No task is read on its
    // own, and neither sections nor tags are looked up: the listed tasks carry their names.
    assert_eq!(
        requests_by_path(&fake),
        counts(&[
            ("GET /events", 1),
            ("GET /tasks", 3),
            ("GET /users/me", 1),
            ("POST /batch", 26),
        ])
    );
    for g in &gids[..3] {
        let link = p.store().link_by_gid(g).await.unwrap().unwrap();
        let t = p.get_ticket(&link.ticket_guid).await.unwrap();
        let bodies: Vec<String> = t.comments.iter().map(|c| c.body.clone()).collect();
        assert_eq!(bodies, [format!("comment on {g}")]);
    }

    // A change made in Asana arrives through the events: one read of the task (a plain GET
    // for a single task), one batch for its comments (a rename bumps modified_at).
    api(
        &fake,
        reqwest::Method::PUT,
        &format!("/tasks/{}", gids[7]),
        json!({"name": "renamed in Asana"}),
    )
    .await;
    fake.clear_requests();
    let report = p.pull_all(&|_| {}).await.unwrap();
    assert_eq!(report.mode, PullMode::Incremental);
    assert_eq!(report.updated, 1, "{report:?}");
    assert_eq!(count_task_lists(&fake), 0);
    assert_eq!(
        requests_by_path(&fake),
        counts(&[
            ("GET /events", 1),
            ("GET /tasks/{task}", 1),
            ("POST /batch", 1)
        ])
    );
    let link = p.store().link_by_gid(&gids[7]).await.unwrap().unwrap();
    let t = p.get_ticket(&link.ticket_guid).await.unwrap();
    assert_eq!(t.ticket.subject, "renamed in Asana");

    // Nothing happened: nothing to do.
    fake.clear_requests();
    let report = p.pull_all(&|_| {}).await.unwrap();
    assert_eq!((report.mode, report.tasks_seen), (PullMode::Incremental, 0));
    assert_eq!(requests_by_path(&fake), counts(&[("GET /events", 1)]));

    // An expired token falls back to a full read, which finds nothing new: the list pages
    // only, no comment reads.
    fake.expire_sync_tokens();
    fake.clear_requests();
    let report = p.pull_all(&|_| {}).await.unwrap();
    assert_eq!(report.mode, PullMode::Full);
    assert_eq!(count_task_lists(&fake), 3);
    assert_eq!(
        requests_by_path(&fake),
        counts(&[("GET /events", 1), ("GET /tasks", 3)])
    );
    assert_eq!((report.created, report.updated), (0, 0), "{report:?}");
    assert_eq!(report.unchanged, 250);
}

/// Asana expires sync tokens (412 with a fresh token): a change made while the token was
/// lost arrives through the full read the pull falls back to, and the next pull follows the
/// events again with the fresh token. The tokens expire through the fake's HTTP control API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_sync_token_falls_back_to_a_full_read() {
    let (fake, _users) = common::fake().await;
    let dir = tempfile::tempdir().unwrap();
    let p = common::direct_for(&fake, &dir.path().join("t.db")).await;
    let gid = create_task_in_asana(&fake, "before", "").await;
    let report = p.pull_all(&|_| {}).await.unwrap();
    assert_eq!((report.mode, report.created), (PullMode::Full, 1));
    let report = p.pull_all(&|_| {}).await.unwrap();
    assert_eq!(report.mode, PullMode::Incremental);

    let resp = reqwest::Client::new()
        .post(format!("http://{}/_fake/expire_sync_tokens", fake.addr()))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    api(
        &fake,
        reqwest::Method::PUT,
        &format!("/tasks/{gid}"),
        json!({"name": "renamed while the token expired"}),
    )
    .await;
    fake.clear_requests();
    let report = p.pull_all(&|_| {}).await.unwrap();
    assert_eq!(
        (report.mode, report.updated),
        (PullMode::Full, 1),
        "{report:?}"
    );
    let events: Vec<u16> = fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/events"))
        .map(|r| r.status)
        .collect();
    assert_eq!(events, [412], "the expired token was refused");
    let link = p.store().link_by_gid(&gid).await.unwrap().unwrap();
    let t = p.get_ticket(&link.ticket_guid).await.unwrap();
    assert_eq!(t.ticket.subject, "renamed while the token expired");

    let report = p.pull_all(&|_| {}).await.unwrap();
    assert_eq!(report.mode, PullMode::Incremental, "the fresh token works");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_read_every_comment_of_a_task_with_more_than_100() {
    let (fake, _users) = common::fake().await;
    let dir = tempfile::tempdir().unwrap();
    let p = common::direct_for(&fake, &dir.path().join("t.db")).await;
    let busy = create_task_in_asana(&fake, "busy", "").await;
    let quiet = create_task_in_asana(&fake, "quiet", "").await;
    for i in 0..230 {
        api(
            &fake,
            reqwest::Method::POST,
            &format!("/tasks/{busy}/stories"),
            json!({"text": format!("note {i}")}),
        )
        .await;
    }
    fake.clear_requests();
    let report = p.pull_all(&|_| {}).await.unwrap();
    assert_eq!((report.mode, report.created), (PullMode::Full, 2));
    // The first 100 stories of both tasks in one batch, then the busy task's further pages
    // on their own (the fake adds a system story when the task is added to the project),
    // and one batch reading the comments' author from the users API.
    let by_path = requests_by_path(&fake);
    assert_eq!(by_path.get("POST /batch"), Some(&2), "{by_path:?}");
    assert_eq!(
        by_path.get("GET /tasks/{task}/stories"),
        Some(&2),
        "{by_path:?}"
    );
    let link = p.store().link_by_gid(&busy).await.unwrap().unwrap();
    let t = p.get_ticket(&link.ticket_guid).await.unwrap();
    let bodies: Vec<String> = t.comments.iter().map(|c| c.body.clone()).collect();
    let want: Vec<String> = (0..230).map(|i| format!("note {i}")).collect();
    assert_eq!(bodies, want);
    let link = p.store().link_by_gid(&quiet).await.unwrap().unwrap();
    assert!(p
        .get_ticket(&link.ticket_guid)
        .await
        .unwrap()
        .comments
        .is_empty());

    // A comment added in Asana bumps modified_at: the events path reads it (one batch for
    // the task, one for its comments, two further pages), and nothing twice.
    api(
        &fake,
        reqwest::Method::POST,
        &format!("/tasks/{busy}/stories"),
        json!({"text": "one more"}),
    )
    .await;
    let report = p.pull_all(&|_| {}).await.unwrap();
    assert_eq!((report.mode, report.updated), (PullMode::Incremental, 1));
    let t = p.get_ticket(&link_of(&p, &busy).await).await.unwrap();
    assert_eq!(t.comments.len(), 231);
    assert_eq!(t.comments.last().map(|c| c.body.as_str()), Some("one more"));
}

async fn link_of(p: &SyncProvider, gid: &str) -> String {
    p.store()
        .link_by_gid(gid)
        .await
        .unwrap()
        .expect("linked")
        .ticket_guid
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_own_pushes_come_back_as_no_change() {
    let (fake, _users) = common::fake().await;
    let dir = tempfile::tempdir().unwrap();
    let p = common::direct_for(&fake, &dir.path().join("t.db")).await;
    p.pull_all(&|_| {}).await.unwrap();
    let r = p
        .create(
            NewTicket::new("ours")
                .description("first")
                .assignee(common::ALICE),
        )
        .await
        .unwrap();
    let g = r.guid.clone();
    p.update(
        &g,
        TicketUpdate {
            subject: Some("ours, renamed".into()),
            description: Some("second\nline".into()),
            priority: Some(Priority::High),
            due: None,
            ..TicketUpdate::default()
        },
    )
    .await
    .unwrap();
    p.change_status(&g, Status::OnHold).await.unwrap();
    p.assign(&g, common::BOB).await.unwrap();
    p.add_comment(&g, NewComment::new("a note").author("Ann"))
        .await
        .unwrap();
    let last = p.escalate(&g, Some("why")).await.unwrap();
    assert_eq!(last.sync_state, Some(SyncState::Synced));
    let history = p.local().history(&g).await.unwrap();
    let comments = p.get_ticket(&g).await.unwrap().comments;

    let report = p.pull_all(&|_| {}).await.unwrap();
    assert_eq!(report.mode, PullMode::Incremental);
    assert_eq!(report.tasks_seen, 1, "{report:?}");
    assert_eq!(
        (report.created, report.updated, report.conflicts),
        (0, 0, 0),
        "{report:?}"
    );
    p.sync_from_asana(&r.asana_gid.clone().unwrap())
        .await
        .unwrap();
    fake.expire_sync_tokens();
    let report = p.pull_all(&|_| {}).await.unwrap();
    assert_eq!((report.mode, report.updated), (PullMode::Full, 0));
    assert_eq!(p.local().history(&g).await.unwrap(), history);
    assert_eq!(p.get_ticket(&g).await.unwrap().comments, comments);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflict_rule_pending_local_change_wins_and_asana_value_is_kept() {
    let (fake, users) = common::fake().await;
    let dir = tempfile::tempdir().unwrap();
    let p = common::direct_for(&fake, &dir.path().join("t.db")).await;
    p.pull_all(&|_| {}).await.unwrap();
    let r = p
        .create(NewTicket::new("S0").description("D0"))
        .await
        .unwrap();
    let g = r.guid.clone();
    let gid = r.asana_gid.clone().unwrap();

    // Locally: a subject and a description change, still pending (written without a push).
    p.local()
        .update(
            &g,
            TicketUpdate {
                subject: Some("Local subject".into()),
                description: Some("Local description".into()),
                ..TicketUpdate::default()
            },
        )
        .await
        .unwrap();
    // In Asana: the subject changed too (a real conflict), and the status (Asana only).
    api(
        &fake,
        reqwest::Method::PUT,
        &format!("/tasks/{gid}"),
        json!({"name": "Remote subject"}),
    )
    .await;
    p.remote().move_task(&gid, Status::OnHold).await.unwrap();

    let report = p.pull_all(&|_| {}).await.unwrap();
    assert_eq!(report.conflicts, 1, "{report:?}");
    let t = p.get_ticket(&g).await.unwrap();
    assert_eq!(
        t.ticket.subject, "Local subject",
        "the pending local change wins"
    );
    assert_eq!(
        t.ticket.description, "Local description",
        "Asana did not change it"
    );
    assert_eq!(
        t.ticket.status,
        Status::OnHold,
        "a change made only in Asana is taken"
    );
    let notes: Vec<_> = t
        .comments
        .iter()
        .filter(|c| c.author.as_deref() == Some(CONFLICT_AUTHOR))
        .collect();
    assert_eq!(notes.len(), 1, "{:?}", t.comments);
    assert!(
        notes[0].body.contains("Remote subject") && notes[0].body.contains("Local subject"),
        "{}",
        notes[0].body
    );
    let history = p.local().history(&g).await.unwrap();
    assert!(history
        .iter()
        .any(|h| h.field == "status" && h.new_value.as_deref() == Some("ON_HOLD")));

    // Pulling again does not repeat the note.
    p.sync_from_asana(&gid).await.unwrap();
    let t = p.get_ticket(&g).await.unwrap();
    assert_eq!(
        t.comments
            .iter()
            .filter(|c| c.author.as_deref() == Some(CONFLICT_AUTHOR))
            .count(),
        1
    );

    // The push makes Asana agree, note included.
    common::flush_all(&p).await;
    let task = tasks_of(&fake).into_iter().find(|t| t.gid == gid).unwrap();
    assert_eq!(task.name, "Local subject");
    common::assert_mirrors(&fake, &p, &users).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_changes_are_set_aside_with_the_reason_and_doctor_says_so() {
    let (fake, _users) = common::fake().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let config = common::config(&fake.base_url(), &fake.project_gid(), &db, 5000);
    let p = common::from_config(config.clone()).await;
    // Asana does not know this person: the task is created unassigned, the create set aside.
    let r = p
        .create(NewTicket::new("who is that").assignee("nobody@example.com"))
        .await
        .unwrap();
    assert!(r.asana_gid.is_some(), "{r:?}");
    assert_eq!(
        r.sync_state,
        Some(SyncState::SetAside),
        "a set-aside change remains, none waits"
    );
    // A later assignment Asana refuses is set aside too; later changes still go out.
    p.assign(&r.guid, "ghost@example.com").await.unwrap();
    let later = p.change_status(&r.guid, Status::Triaged).await.unwrap();
    let task = tasks_of(&fake)
        .into_iter()
        .find(|t| t.gid == r.asana_gid.clone().unwrap());
    assert_eq!(task.unwrap().section_name.as_deref(), Some("Triaged"));
    // Its own change went out; what remains is set aside, as `status` counts.
    assert_eq!(later.sync_state, Some(SyncState::SetAside));

    let status = p.status().await.unwrap();
    assert_eq!((status.pending, status.set_aside), (0, 2), "{status:?}");
    let ops: Vec<&str> = status
        .set_aside_entries
        .iter()
        .map(|e| e.operation.as_str())
        .collect();
    assert_eq!(ops, ["create", "assign"]);
    assert!(status.set_aside_entries[0]
        .reason
        .contains("nobody@example.com"));
    assert!(status
        .set_aside_entries
        .iter()
        .all(|e| e.ticket_guid == r.guid && !e.reason.is_empty()));
    let json = serde_json::to_value(&status).unwrap();
    assert_eq!(json["set_aside"], 2);
    assert!(!json.to_string().contains(common::TOKEN));

    let doctor = homechoice_tickets::find_descriptor("sync")
        .unwrap()
        .doctor
        .unwrap();
    let checks = doctor(homechoice_tickets::BuildContext::new(config).with_env(
        homechoice_tickets::provider_asana::ASANA_TOKEN_ENV,
        Some(common::TOKEN.into()),
    ))
    .await;
    let names: Vec<&str> = checks.iter().map(|c| c.name.as_str()).collect();
    assert!(
        names.iter().any(|n| n.starts_with("internal: ")),
        "{names:?}"
    );
    assert!(names.iter().any(|n| n.starts_with("asana: ")), "{names:?}");
    let outbox = checks.iter().find(|c| c.name == "outbox").unwrap();
    assert!(!outbox.ok && outbox.fix.is_some(), "{outbox:?}");
    assert!(
        checks
            .iter()
            .filter(|c| c.name != "outbox"
                && !c.name.contains("sections")
                && !c.name.contains("tags"))
            .all(|c| c.ok),
        "{checks:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn building_without_project_or_token_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let no_project = homechoice_tickets::Config::parse(
        &format!(
            "homechoice:\n  ticket:\n    provider: sync\n    database_url: \"sqlite://{}\"\n",
            db.display()
        ),
        "test",
    )
    .unwrap();
    let err = common::registry_provider_result(no_project)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), homechoice_tickets::ErrorKind::Config);
    assert!(err.to_string().contains("asana_project"), "{err}");

    let config = common::config("http://127.0.0.1:9/api/1.0", "1200000000000001", &db, 100);
    let err = homechoice_tickets::build_provider(
        homechoice_tickets::BuildContext::new(config)
            .with_env(homechoice_tickets::provider_asana::ASANA_TOKEN_ENV, None),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), homechoice_tickets::ErrorKind::Config);
    assert!(err.to_string().contains("ASANA_ACCESS_TOKEN"), "{err}");
    assert!(err.to_string().contains("sync"), "{err}");
    assert!(homechoice_tickets::registered_names().contains(&"sync"));
}

/// Issue 23 #5: a task carrying a ticket's `[ticket-guid: …]` marker is taken as that
/// ticket's task only when the token's own user made it, no earlier than the ticket's create
/// attempt. Copies made by another user, or made before the attempt, are not adopted by a
/// pull nor by a push; they stay orphans that `verify` lists, while the task a create with a
/// lost answer made is still found (no duplicate).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copied_marker_is_not_adopted_and_the_genuine_task_still_is() {
    let (fake, _users) = common::fake().await;
    let mallory = fake.add_user("Mallory", "mallory@example.com");
    let dir = tempfile::tempdir().unwrap();
    let p = common::direct_for(&fake, &dir.path().join("t.db")).await;
    p.create(NewTicket::new("warm")).await.unwrap();
    let forge = |guid: &str, by: &str, at: chrono::DateTime<chrono::Utc>| {
        let (p, fake, guid, by) = (&p, &fake, guid.to_string(), by.to_string());
        async move {
            let task = p
                .remote()
                .create_task_with_marker(&NewTicket::new("forged"), Status::New, &guid)
                .await
                .unwrap();
            assert!(fake.set_task_creator(&task.gid, &by, at));
            task.gid
        }
    };
    let hour_ago = chrono::Utc::now() - chrono::Duration::hours(1);

    // 1. A create whose answer was lost, with two copies of its marker beside its task:
    // one by Mallory, one by the token's user an hour before the attempt.
    fake.add_fault(Fault {
        method: Some("POST".into()),
        path_prefix: Some("/api/1.0/tasks".into()),
        status: Some(500),
        count: 1,
        after_apply: true,
        ..Fault::default()
    });
    let r = p.create(NewTicket::new("genuine")).await.unwrap();
    assert_eq!(r.asana_gid, None);
    let by_mallory = forge(&r.guid, &mallory, chrono::Utc::now()).await;
    let too_early = forge(&r.guid, &fake.owner_gid(), hour_ago).await;
    // A pull sees all three: it adopts only the genuine one and imports no copy.
    let report = p.pull_all(&|_| {}).await.unwrap();
    let skipped: Vec<&str> = report
        .skipped
        .iter()
        .map(|s| s.asana_gid.as_str())
        .collect();
    assert!(skipped.contains(&by_mallory.as_str()), "{report:?}");
    assert!(skipped.contains(&too_early.as_str()), "{report:?}");
    let linked = gid_of(&p, &r.guid).await;
    assert!(linked != by_mallory && linked != too_early);
    assert_eq!(p.flush().await.unwrap().pending, 0);
    assert_eq!(gid_of(&p, &r.guid).await, linked, "the genuine task stays");
    assert_eq!(
        tasks_of(&fake).len(),
        4,
        "warm, genuine and the two copies: nothing more"
    );
    assert_eq!(
        p.list_tickets(Default::default())
            .await
            .unwrap()
            .tickets
            .len(),
        2
    );

    // 2. A create that never reached Asana, and a copy of its marker by Mallory: the push
    // makes the ticket's own task instead of adopting the copy.
    fake.add_fault(Fault {
        method: Some("POST".into()),
        path_prefix: Some("/api/1.0/tasks".into()),
        status: Some(503),
        count: 1,
        ..Fault::default()
    });
    let r2 = p.create(NewTicket::new("pending")).await.unwrap();
    assert_eq!(r2.asana_gid, None);
    let copy = forge(&r2.guid, &mallory, chrono::Utc::now()).await;
    let old_copy = forge(&r2.guid, &fake.owner_gid(), hour_ago).await;
    // A pull while the create is pending adopts neither copy.
    let report = p.pull_all(&|_| {}).await.unwrap();
    let skipped: Vec<&str> = report
        .skipped
        .iter()
        .map(|s| s.asana_gid.as_str())
        .collect();
    assert!(skipped.contains(&copy.as_str()), "{report:?}");
    assert!(skipped.contains(&old_copy.as_str()), "{report:?}");
    let link = p.store().link(&r2.guid).await.unwrap().unwrap();
    assert_eq!(link.asana_gid, None, "{link:?}");
    let t2 = p.get_ticket(&r2.guid).await.unwrap().ticket;
    assert_eq!(
        t2.subject, "pending",
        "the copy's name did not overwrite the ticket"
    );
    assert_eq!(p.flush().await.unwrap().pending, 0);
    let own = gid_of(&p, &r2.guid).await;
    assert!(own != copy && own != old_copy);

    // The copies are orphans, listed by verify; the tickets agree with their tasks.
    let v = p.verify(false).await.unwrap();
    let mut orphans: Vec<String> = v
        .orphans
        .iter()
        .filter_map(|o| o.asana_gid.clone())
        .collect();
    orphans.sort();
    let mut want = vec![by_mallory, too_early, copy, old_copy];
    want.sort();
    assert_eq!(orphans, want, "{v:?}");
    assert!(v.differences.is_empty(), "{v:?}");
}
