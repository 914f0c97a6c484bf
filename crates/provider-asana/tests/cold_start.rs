//! A new provider with the cache an earlier one left (what a new `ticket` process has)
//! costs the warm number of requests per operation; a cached gid Asana no longer knows is
//! dropped and the write retried once; a broken cache file is never an error.

use crate::common;

use std::path::{Path, PathBuf};

use asana_fake::FakeAsana;
use provider_asana::{
    AsanaProvider, CacheFile, CacheKey, CacheStore, ProjectCache, DEFAULT_CACHE_FILE,
};
use ticket_provider_api::{
    ListQuery, NewComment, NewTicket, Priority, Status, TicketProvider, TicketUpdate,
};

const ALICE: &str = "alice@example.com";

/// A provider keeping its cache in `path`: a new one per call is a new process.
fn process(fake: &FakeAsana, path: &Path) -> AsanaProvider {
    let mut s = common::settings(fake);
    s.cache_path = Some(path.to_path_buf());
    AsanaProvider::new(s).expect("provider")
}

fn key(fake: &FakeAsana) -> CacheKey {
    CacheKey {
        base_url: fake.base_url(),
        project_gid: fake.project_gid(),
    }
}

async fn saved(fake: &FakeAsana, path: &Path) -> ProjectCache {
    CacheFile::new(path)
        .load(&key(fake))
        .await
        .expect("a cache entry for the fake's project")
}

/// Creates every section and tag, reads alice and the token owner: what a first process
/// leaves behind. Returns a ticket with a comment, assigned to alice.
async fn warm_up(fake: &FakeAsana, path: &Path) -> String {
    let p = process(fake, path);
    let t = p
        .create(NewTicket::new("warm").assignee(ALICE))
        .await
        .unwrap();
    for s in Status::ALL {
        p.change_status(&t.guid, s).await.unwrap();
    }
    for pr in Priority::ALL {
        let update = TicketUpdate {
            priority: Some(pr),
            ..Default::default()
        };
        p.update(&t.guid, update).await.unwrap();
    }
    p.add_comment(&t.guid, NewComment::new("first"))
        .await
        .unwrap();
    p.get_ticket(&t.guid).await.unwrap();
    t.guid
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_process_with_the_cache_costs_the_warm_floor() {
    let fake = common::fake().await;
    fake.add_user("Alice", ALICE);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DEFAULT_CACHE_FILE);

    // Without a cache a create pays for the sections, the workspace and its tags first.
    let t = warm_up(&fake, &dir.path().join("unused.json")).await;
    fake.clear_requests();
    common::provider(&fake)
        .create(NewTicket::new("no cache"))
        .await
        .unwrap();
    let project = fake.project_gid();
    let workspace = fake.workspace_gid();
    assert_eq!(
        common::calls(&fake),
        [
            format!("GET /projects/{project}/sections"),
            format!("GET /projects/{project}"),
            format!("GET /workspaces/{workspace}/tags"),
            "POST /tasks".to_string(),
        ],
        "a cold create without a cache"
    );

    let _ = warm_up(&fake, &path).await;
    let cache = saved(&fake, &path).await;
    assert_eq!(cache.status_sections.len(), Status::ALL.len(), "{cache:?}");
    assert_eq!(cache.priority_tags.len(), Priority::ALL.len(), "{cache:?}");
    assert!(cache.workspace_gid.is_some());
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(ALICE), "users are kept: {text}");
    assert!(!text.contains(common::TOKEN), "the token is never cached");
    assert!(!text.contains(&common::TOKEN[10..]), "not even part of it");

    let task = |g: &str| format!("/tasks/{g}");
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("list", vec![format!("GET /projects/{project}/tasks")]),
        ("get", vec!["POST /batch".into()]),
        ("create", vec!["POST /tasks".into()]),
        // Every write reads the task first: one outside the tickets project is refused
        // before anything is written (issue 23 #4).
        (
            "change_status",
            vec![format!("GET {}", task(&t)), "POST /batch".into()],
        ),
        (
            "update",
            vec![format!("GET {}", task(&t)), "POST /batch".into()],
        ),
        (
            "assign",
            vec![format!("GET {}", task(&t)), format!("PUT {}", task(&t))],
        ),
        (
            "add_comment",
            vec![
                format!("GET {}", task(&t)),
                format!("POST {}/stories", task(&t)),
            ],
        ),
        (
            "escalate",
            vec![
                format!("GET {}", task(&t)),
                "POST /sections/".into(),
                format!("POST {}/stories", task(&t)),
            ],
        ),
        ("list by status", vec!["GET /sections/".into()]),
    ];
    for (op, expected) in cases {
        let p = process(&fake, &path);
        fake.clear_requests();
        match op {
            "list" => {
                let page = p.list_tickets(ListQuery::default()).await.unwrap();
                assert!(page.tickets.iter().any(|x| x.guid == t));
                let listed = page.tickets.iter().find(|x| x.guid == t).unwrap();
                assert_eq!(listed.assignee.as_deref(), Some(ALICE));
            }
            "get" => {
                let d = p.get_ticket(&t).await.unwrap();
                assert_eq!(d.ticket.assignee.as_deref(), Some(ALICE));
                assert_eq!(d.comments.len(), 1);
            }
            "create" => {
                let r = p
                    .create(
                        NewTicket::new("cold")
                            .priority(Priority::High)
                            .assignee(ALICE),
                    )
                    .await
                    .unwrap();
                let snap = common::snapshot(&fake, &r.guid);
                assert_eq!(snap.section_name.as_deref(), Some("New"));
                assert_eq!(snap.tag_names, ["priority:high"]);
            }
            "change_status" => {
                p.change_status(&t, Status::Triaged).await.unwrap();
            }
            "update" => {
                let update = TicketUpdate {
                    subject: Some("renamed".into()),
                    priority: Some(Priority::Low),
                    ..Default::default()
                };
                p.update(&t, update).await.unwrap();
                assert_eq!(
                    common::snapshot(&fake, &t).tag_names,
                    ["priority:low"],
                    "the old priority tag is removed"
                );
            }
            "assign" => {
                p.assign(&t, ALICE).await.unwrap();
            }
            "add_comment" => {
                p.add_comment(&t, NewComment::new("again")).await.unwrap();
            }
            "escalate" => {
                p.escalate(&t, Some("VIP")).await.unwrap();
            }
            "list by status" => {
                let page = p
                    .list_tickets(ListQuery {
                        status: Some(Status::Escalated),
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                assert_eq!(page.tickets.len(), 1);
            }
            other => unreachable!("{other}"),
        }
        let calls = common::calls(&fake);
        assert_eq!(calls.len(), expected.len(), "{op}: {calls:?}");
        for (c, e) in calls.iter().zip(&expected) {
            assert!(c.starts_with(e.as_str()), "{op}: {calls:?}");
        }
        let actions: Vec<String> = fake
            .requests()
            .iter()
            .flat_map(|r| r.actions.clone())
            .collect();
        let users = actions
            .iter()
            .filter(|a| a.starts_with("GET /users/") && *a != "GET /users/me")
            .count();
        assert_eq!(users, 0, "{op}: known users are not read again");
        // A get tells the token owner's stories from the others': a new process reads the
        // owner once, inside the get's own batch (no request more).
        let owner_reads = actions.iter().filter(|a| *a == "GET /users/me").count();
        assert_eq!(owner_reads, usize::from(op == "get"), "{op}: {actions:?}");
    }
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gone_section_or_tag_is_dropped_and_the_write_retried_once() {
    let fake = common::fake().await;
    fake.add_user("Alice", ALICE);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DEFAULT_CACHE_FILE);
    let t = warm_up(&fake, &path).await;
    let before = saved(&fake, &path).await;
    let project = fake.project_gid();
    let workspace = fake.workspace_gid();

    // Someone deletes the (empty) "On Hold" section in Asana.
    process(&fake, &path)
        .change_status(&t, Status::New)
        .await
        .unwrap();
    let on_hold = before.status_sections[&Status::OnHold].clone();
    common::delete_section(&fake, &on_hold).await;
    fake.clear_requests();
    process(&fake, &path)
        .change_status(&t, Status::OnHold)
        .await
        .unwrap();
    let snap = common::snapshot(&fake, &t);
    assert_eq!(snap.section_name.as_deref(), Some("On Hold"));
    let new_section = snap.section_gid.unwrap();
    assert_eq!(
        common::calls(&fake),
        [
            format!("GET /tasks/{t}"),
            format!("POST /sections/{on_hold}/addTask"),
            format!("GET /projects/{project}/sections"),
            format!("POST /projects/{project}/sections"),
            format!("GET /projects/{project}/sections"),
            format!("POST /sections/{new_section}/addTask"),
        ]
    );
    assert_ne!(new_section, on_hold);
    let after = saved(&fake, &path).await;
    assert_eq!(after.status_sections[&Status::OnHold], new_section);
    assert!(!after.sections.contains_key(&on_hold));

    // Someone deletes the tag "priority:high": a create names it and is refused (400).
    let high = before.priority_tags[&Priority::High].clone();
    assert!(fake.delete_tag(&high));
    fake.clear_requests();
    let r = process(&fake, &path)
        .create(NewTicket::new("after the tag went").priority(Priority::High))
        .await
        .unwrap();
    let tags = format!("/workspaces/{workspace}/tags");
    assert_eq!(
        common::calls(&fake),
        [
            "POST /tasks".to_string(),
            format!("GET {tags}"),
            format!("POST {tags}"),
            format!("GET {tags}"),
            "POST /tasks".to_string(),
        ]
    );
    let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses[0], 400, "{statuses:?}");
    assert_eq!(
        common::snapshot(&fake, &r.guid).tag_names,
        ["priority:high"]
    );
    let new_high = saved(&fake, &path).await.priority_tags[&Priority::High].clone();
    assert_ne!(new_high, high);
    let tasks = fake.project_tasks(&project);
    assert_eq!(
        tasks
            .iter()
            .filter(|x| x.name == "after the tag went")
            .count(),
        1,
        "the refused create made no task"
    );

    // An update's addTag of a gone tag: the batch is sent again with the tag found again.
    let urgent = before.priority_tags[&Priority::Urgent].clone();
    assert!(fake.delete_tag(&urgent));
    fake.clear_requests();
    let update = TicketUpdate {
        subject: Some("urgent now".into()),
        priority: Some(Priority::Urgent),
        ..Default::default()
    };
    process(&fake, &path).update(&t, update).await.unwrap();
    assert_eq!(
        common::calls(&fake),
        [
            format!("GET /tasks/{t}"),
            "POST /batch".to_string(),
            format!("GET {tags}"),
            format!("POST {tags}"),
            format!("GET {tags}"),
            "POST /batch".to_string(),
        ]
    );
    let snap = common::snapshot(&fake, &t);
    assert_eq!(snap.name, "urgent now");
    assert_eq!(snap.tag_names, ["priority:urgent"]);

    // A list by a status whose section is gone looks again too.
    let cancelled = before.status_sections[&Status::Cancelled].clone();
    common::delete_section(&fake, &cancelled).await;
    let page = process(&fake, &path)
        .list_tickets(ListQuery {
            status: Some(Status::Cancelled),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(page.tickets.is_empty());
    fake.shutdown().await;
}

/// A file at the cache path that is not an Asana cache (some text, JSON of another program,
/// a symlink) is never replaced (issue 23 #6): operations work without a cache, one warning
/// names the path, and the file (or the symlink's target) is left byte for byte. A cache of
/// ours in a layout this build cannot read is replaced by a good one on the next change; a
/// cache that cannot be written is warned about once.
#[tokio::test]
async fn a_broken_cache_file_is_never_an_error() {
    let (logs, _guard) = common::Captured::on_this_thread();
    let count = |needle: &str| logs.text().matches(needle).count();

    let fake = common::fake().await;
    let dir = tempfile::tempdir().unwrap();
    let passwd = "root:x:0:0:root:/root:/bin/bash\n";
    let target = dir.path().join("passwd");
    std::fs::write(&target, passwd).unwrap();
    let link = dir.path().join("link.json");
    #[cfg(unix)]
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let foreign: Vec<(PathBuf, &str)> = vec![
        (dir.path().join("text.json"), passwd),
        (dir.path().join("corrupt.json"), "{ not json"),
        (dir.path().join("other.json"), "{\"version\": 1}"),
        (dir.path().join("empty.json"), ""),
    ];
    for (path, text) in &foreign {
        std::fs::write(path, text).unwrap();
    }
    let mut paths: Vec<PathBuf> = foreign.iter().map(|(p, _)| p.clone()).collect();
    if cfg!(unix) {
        paths.push(link.clone());
    }
    for path in &paths {
        let before = logs.text().len();
        let p = process(&fake, path);
        let t = p.create(NewTicket::new("one")).await.unwrap();
        p.create(NewTicket::new("two").priority(Priority::High))
            .await
            .unwrap();
        p.change_status(&t.guid, Status::Triaged).await.unwrap();
        p.get_ticket(&t.guid).await.unwrap();
        let said = &logs.text()[before..];
        assert_eq!(
            said.matches("is not an Asana cache file").count(),
            1,
            "{path:?}: {said}"
        );
        assert!(said.contains(&path.display().to_string()), "{said}");
        assert_eq!(said.matches("WARN").count(), 1, "one warning: {said}");
    }
    for (path, text) in &foreign {
        assert_eq!(std::fs::read_to_string(path).unwrap(), *text, "{path:?}");
    }
    assert_eq!(std::fs::read_to_string(&target).unwrap(), passwd);
    #[cfg(unix)]
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");

    // Ours, in a layout this build cannot read: replaced by a readable one.
    let newer = dir.path().join("newer.json");
    std::fs::write(&newer, "{\"version\": 99, \"projects\": [{\"x\": 1}]}").unwrap();
    let p = process(&fake, &newer);
    let t = p.create(NewTicket::new("three")).await.unwrap();
    p.change_status(&t.guid, Status::Triaged).await.unwrap();
    assert_eq!(count("cannot read the Asana cache file"), 1);
    assert!(
        saved(&fake, &newer).await.status_sections.len() >= 2,
        "the file was replaced by a readable one"
    );

    let unwritable: PathBuf = dir.path().join("no-such-folder").join("c.json");
    let p = process(&fake, &unwritable);
    let t = p.create(NewTicket::new("three")).await.unwrap();
    p.change_status(&t.guid, Status::Resolved).await.unwrap();
    p.create(NewTicket::new("four").priority(Priority::Low))
        .await
        .unwrap();
    assert_eq!(count("cannot write the Asana cache file"), 1);
    assert!(!unwritable.exists());
    fake.shutdown().await;
}
