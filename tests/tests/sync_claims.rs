//! Several sync provider instances on one internal database (as several application
//! processes sharing it would be): pushing the same tickets at the same time must never create
//! a task twice or post a comment twice, and everything must end synced.
//!
//! Runs on a SQLite file, and on PostgreSQL when `TICKET_TEST_POSTGRES_URL` names a server
//! (a fresh database is created there and dropped afterwards).

use crate::common;

use std::time::Duration;

use homechoice_tickets::provider_internal::InternalProvider;
use homechoice_tickets::provider_sync::SyncProvider;
use homechoice_tickets::{NewComment, NewTicket, Priority, Status, TicketProvider, TicketUpdate};

/// Tickets per round.
const TICKETS: usize = 6;
/// Rounds of concurrent pushing.
const ROUNDS: usize = 3;

/// Writes pending changes straight into the store (no push): new tickets with comments,
/// assignments and status changes, plus more changes of earlier tickets.
async fn write_pending(writer: &InternalProvider, round: usize, old: &[String]) -> Vec<String> {
    let mut guids = Vec::new();
    for i in 0..TICKETS {
        let g = writer
            .create(
                NewTicket::new(format!("round {round} ticket {i}"))
                    .description(format!("made in round {round}"))
                    .priority(Priority::High)
                    .assignee(common::ALICE),
            )
            .await
            .expect("create")
            .guid;
        writer
            .add_comment(&g, NewComment::new(format!("first comment {round}/{i}")))
            .await
            .expect("comment");
        writer
            .change_status(&g, Status::Triaged)
            .await
            .expect("status");
        writer.assign(&g, common::BOB).await.expect("assign");
        writer
            .escalate(&g, Some(&format!("escalated {round}/{i}")))
            .await
            .expect("escalate");
        guids.push(g);
    }
    for (i, g) in old.iter().enumerate() {
        writer
            .update(
                g,
                TicketUpdate {
                    subject: Some(format!("renamed in round {round} ({i})")),
                    ..TicketUpdate::default()
                },
            )
            .await
            .expect("update");
        writer
            .add_comment(g, NewComment::new(format!("later comment {round}/{i}")))
            .await
            .expect("comment");
    }
    guids
}

/// Both instances flush, sync tickets by hand and operate on the same tickets at once.
async fn push_concurrently(a: &SyncProvider, b: &SyncProvider, guids: &[String], round: usize) {
    let mut tasks = tokio::task::JoinSet::new();
    for p in [a, b] {
        let p = p.clone();
        tasks.spawn(async move {
            p.flush().await.expect("flush");
        });
    }
    for (i, g) in guids.iter().enumerate() {
        for (k, p) in [a, b].into_iter().enumerate() {
            let (p, g) = (p.clone(), g.clone());
            tasks.spawn(async move {
                if (i + k) % 2 == 0 {
                    p.sync_to_asana(&g).await.expect("sync_to_asana");
                } else {
                    p.add_comment(&g, NewComment::new(format!("concurrent {round}/{i}/{k}")))
                        .await
                        .expect("comment");
                }
            });
        }
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("task");
    }
}

async fn two_instances_never_duplicate(db_url: &str) {
    let (fake, users) = common::fake().await;
    fake.set_latency(Duration::from_millis(20));
    let writer = InternalProvider::open(
        db_url,
        homechoice_tickets::provider_sync::store_options(Some(2)),
    )
    .await
    .expect("open the writer");
    let a = common::direct_url(&fake, db_url, Duration::from_millis(300)).await;
    let b = common::direct_url(&fake, db_url, Duration::from_millis(300)).await;
    assert_ne!(a.instance_id(), b.instance_id());
    let mut all: Vec<String> = Vec::new();
    for round in 0..ROUNDS {
        let new = write_pending(&writer, round, &all).await;
        all.extend(new);
        push_concurrently(&a, &b, &all, round).await;
        // Whatever one instance skipped because the other held the ticket is pushed now.
        let (ra, rb) = tokio::join!(a.flush(), b.flush());
        let (ra, rb) = (ra.expect("flush a"), rb.expect("flush b"));
        println!("round {round}: {ra:?} / {rb:?}");
        common::flush_all(&a).await;
        common::assert_mirrors(&fake, &a, &users).await;
        let status = b.status().await.expect("status");
        assert_eq!((status.pending, status.set_aside), (0, 0), "{status:?}");
    }
    for g in &all {
        assert!(
            a.store().claim_holder(g).await.expect("holder").is_none(),
            "claim of {g} released"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_sqlite_file_never_duplicate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("shared.db").display());
    two_instances_never_duplicate(&url).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_postgres_database_never_duplicate() {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    let Ok(admin) = std::env::var("TICKET_TEST_POSTGRES_URL") else {
        if std::env::var_os("CI").is_some() {
            panic!("TICKET_TEST_POSTGRES_URL must be set when CI is set");
        }
        println!("skipped: TICKET_TEST_POSTGRES_URL not set");
        return;
    };
    let name = format!("sync_claims_{}", uuid::Uuid::new_v4().simple());
    let mut conn = diesel::PgConnection::establish(&admin).expect("connect to the admin URL");
    conn.batch_execute(&format!("CREATE DATABASE {name}"))
        .expect("create the test database");
    let url = match admin.rsplit_once('/') {
        Some((base, _))
            if base.contains("://") && base.split("://").nth(1).is_some_and(|h| !h.is_empty()) =>
        {
            format!("{base}/{name}")
        }
        _ => panic!("TICKET_TEST_POSTGRES_URL must end with /DATABASE"),
    };
    two_instances_never_duplicate(&url).await;
    let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
}

/// `shutdown` stops a push that was still running in the background and releases its claim,
/// so another instance can push the ticket at once instead of waiting for the claim to expire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_releases_claims_so_another_instance_need_not_wait() {
    let (fake, _users) = common::fake().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("tickets.db");
    let a = common::direct(
        &fake.base_url(),
        &fake.project_gid(),
        &db,
        Duration::from_millis(50),
    )
    .await;
    let b = common::direct(
        &fake.base_url(),
        &fake.project_gid(),
        &db,
        Duration::from_millis(50),
    )
    .await;

    // Slow Asana: A's push outlives the operation and holds the ticket's claim.
    fake.set_latency(Duration::from_millis(1500));
    let guid = a
        .create(NewTicket::new("held by a"))
        .await
        .expect("create")
        .guid;
    let holder = a.store().claim_holder(&guid).await.expect("holder");
    assert_eq!(
        holder.map(|(owner, _)| owner).as_deref(),
        Some(a.instance_id()),
        "A should hold the claim"
    );

    a.shutdown().await;
    assert_eq!(
        a.store().claim_holder(&guid).await.expect("holder"),
        None,
        "shutdown released the claim"
    );

    fake.set_latency(Duration::ZERO);
    let report = b.flush().await.expect("flush");
    assert_eq!(
        (report.claimed_elsewhere, report.pending),
        (0, 0),
        "{report:?}"
    );
    // A's stopped push may or may not have reached Asana before it was stopped; either way
    // the ticket is in Asana exactly once.
    let tasks = fake.project_tasks(&fake.project_gid());
    assert_eq!(
        tasks.iter().filter(|t| t.name == "held by a").count(),
        1,
        "{tasks:?}"
    );
}

/// Tickets of the pull race test.
const RACE_TICKETS: usize = 8;
/// Rounds of the pull race test.
const RACE_ROUNDS: usize = 6;

/// Instance A pulls while instance B changes (and pushes) the status of the same tickets: a
/// push of B landing between A's read of Asana and A's import must not be undone locally
/// (A re-reads such a task, or skips a ticket B is pushing and pulls it next time), so no
/// history row ever goes back to an older status and everything ends equal to the last change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_never_undoes_a_push_of_another_instance() {
    let (fake, users) = common::fake().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("tickets.db");
    let a = common::direct(
        &fake.base_url(),
        &fake.project_gid(),
        &db,
        Duration::from_millis(3000),
    )
    .await;
    let b = common::direct(
        &fake.base_url(),
        &fake.project_gid(),
        &db,
        Duration::from_millis(3000),
    )
    .await;
    let mut guids = Vec::new();
    for i in 0..RACE_TICKETS {
        let g = a
            .create(NewTicket::new(format!("race {i}")))
            .await
            .expect("create")
            .guid;
        guids.push(g);
    }
    common::flush_all(&a).await;
    // The first (full) pull; later ones follow the event stream.
    a.pull_all(&|_| {}).await.expect("first pull");

    fake.set_latency(Duration::from_millis(40));
    let cycle = [Status::Triaged, Status::InProgress, Status::OnHold];
    let mut made: std::collections::HashMap<String, Vec<Status>> = Default::default();
    let mut skipped = 0;
    for round in 0..RACE_ROUNDS {
        let changes = {
            let (b, guids) = (b.clone(), guids.clone());
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(20 * (round % 4) as u64)).await;
                let mut done = Vec::new();
                for (i, g) in guids.iter().enumerate() {
                    let s = cycle[(round + i) % cycle.len()];
                    b.change_status(g, s).await.expect("change status");
                    done.push((g.clone(), s));
                }
                done
            })
        };
        let report = a.pull_all(&|_| {}).await.expect("pull");
        for s in &report.skipped {
            assert!(
                s.reason.contains("another instance"),
                "unexpected skip: {s:?}"
            );
        }
        skipped += report.skipped.len();
        for (g, s) in changes.await.expect("changes task") {
            made.entry(g).or_default().push(s);
        }
    }
    println!("tasks skipped while B pushed them: {skipped}");

    fake.set_latency(Duration::ZERO);
    common::flush_all(&b).await;
    common::flush_all(&a).await;
    let last = b.pull_all(&|_| {}).await.expect("final pull");
    assert!(last.skipped.is_empty(), "{last:?}");
    common::assert_mirrors(&fake, &a, &users).await;
    for g in &guids {
        let want = made.get(g).expect("changes made");
        let t = a.local().get_ticket(g).await.expect("get").ticket;
        assert_eq!(Some(&t.status), want.last(), "status of {g}");
        // Every status row is one of B's changes, in order: none reverts to an older one.
        let rows: Vec<String> = a
            .local()
            .history(g)
            .await
            .expect("history")
            .into_iter()
            .filter(|h| h.field == "status")
            .filter_map(|h| h.new_value)
            .collect();
        let expected: Vec<String> = want.iter().map(|s| s.as_str().to_string()).collect();
        assert_eq!(rows, expected, "status history of {g}");
    }
}

/// Instances pulling at once in each round of [`concurrent_pulls_of_new_tasks_all_succeed`].
const PULLERS: usize = 6;
/// Rounds of concurrent pulls.
const PULL_ROUNDS: usize = 4;
/// New Asana tasks per round.
const PULL_TASKS: usize = 3;

/// Makes a task in the project by Asana's API (as a person would): new to every store.
async fn task_made_in_asana(fake: &asana_fake::FakeAsana, name: &str) -> String {
    let resp = reqwest::Client::new()
        .post(format!("{}/tasks", fake.base_url()))
        .bearer_auth(fake.token())
        .json(&serde_json::json!({"data": {"name": name, "projects": [fake.project_gid()]}}))
        .send()
        .await
        .expect("create a task");
    assert!(resp.status().is_success(), "{}", resp.status());
    let body: serde_json::Value = resp.json().await.expect("json");
    body["data"]["gid"].as_str().expect("gid").to_string()
}

/// Several instances (as several `ticket sync pull` processes) pull the same new tasks at
/// once, by gid and whole-project: an instance whose import of a task loses the race to
/// another one's finds the task already imported, so every pull succeeds, skips nothing, and
/// each task is imported once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_pulls_of_new_tasks_all_succeed() {
    let (fake, _users) = common::fake().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("tickets.db");
    let mut pullers = Vec::new();
    for _ in 0..PULLERS {
        pullers.push(
            common::direct(
                &fake.base_url(),
                &fake.project_gid(),
                &db,
                Duration::from_millis(3000),
            )
            .await,
        );
    }
    let mut gids: Vec<String> = Vec::new();
    for round in 0..PULL_ROUNDS {
        let mut new = Vec::new();
        for i in 0..PULL_TASKS {
            new.push(task_made_in_asana(&fake, &format!("pulled {round}/{i}")).await);
        }
        gids.extend(new.iter().cloned());
        let mut pulls = tokio::task::JoinSet::new();
        for (k, p) in pullers.iter().enumerate() {
            let (p, new) = (p.clone(), new.clone());
            pulls.spawn(async move {
                if k % 2 == 0 {
                    let report = p.pull_all(&|_| {}).await.expect("pull all");
                    assert!(report.skipped.is_empty(), "round {round}: {report:?}");
                } else {
                    for g in &new {
                        let r = p.sync_from_asana(g).await.expect("pull one task");
                        assert_eq!(r.asana_gid.as_deref(), Some(g.as_str()));
                    }
                }
            });
        }
        while let Some(r) = pulls.join_next().await {
            r.expect("a pull failed");
        }
    }
    let links = pullers[0].store().links().await.expect("links");
    let mut linked: Vec<&str> = links
        .iter()
        .filter_map(|l| l.asana_gid.as_deref())
        .collect();
    linked.sort_unstable();
    let mut want: Vec<&str> = gids.iter().map(String::as_str).collect();
    want.sort_unstable();
    assert_eq!(linked, want, "each task linked once");
    let tickets = pullers[0]
        .local()
        .list_tickets(homechoice_tickets::ListQuery {
            limit: Some(1000),
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(tickets.tickets.len(), gids.len(), "one ticket per task");
}
