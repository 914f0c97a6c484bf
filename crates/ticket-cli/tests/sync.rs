//! `ticket sync ...` end to end against the local Asana-compatible server, and the crash
//! test: `ticket sync flush` and `ticket sync push` are killed (SIGKILL) at random points,
//! at least 20 times, then a last flush runs to the end and Asana must hold exactly the
//! internal store — every ticket once, every comment once, nothing missing.

use std::collections::{HashMap, HashSet};
use std::process::Stdio;
use std::time::Duration;

use crate::common;

use asana_fake::{FakeAsana, Fault};
use homechoice_tickets::provider_asana::AsanaProvider;
use homechoice_tickets::provider_sync::story::encode;
use homechoice_tickets::provider_sync::SyncProvider;
use homechoice_tickets::{ListQuery, NewComment, NewTicket, Status, TicketProvider};
use serde_json::Value;

use common::Setup;

fn fail_everything(fake: &FakeAsana) {
    fake.add_fault(Fault {
        status: Some(503),
        count: 1_000_000,
        ..Default::default()
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_commands_push_pull_flush_and_report_status() {
    let s = Setup::new().await;
    // Asana down: the create succeeds locally and stays pending.
    fail_everything(&s.fake);
    let created = s.json(&["create", "--subject", "Printer on fire"]).await;
    assert_eq!(created["provider"], "sync");
    assert_eq!(created["sync_state"], "pending");
    let guid = created["guid"].as_str().unwrap().to_string();
    let st = s.json(&["sync", "status"]).await;
    assert!(st["pending"].as_u64().unwrap() >= 1, "{st:#}");

    // Asana back: push one ticket, then flush the rest.
    s.fake.clear_faults();
    let pushed = s.json(&["sync", "push", &guid]).await;
    assert_eq!(pushed["sync_state"], "synced", "{pushed:#}");
    let gid = pushed["asana_gid"].as_str().unwrap().to_string();
    let flushed = s.json(&["sync", "flush"]).await;
    assert_eq!(flushed["pending"], 0, "{flushed:#}");
    let tasks = s.fake.project_tasks(&s.fake.project_gid());
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].gid, gid);

    // A task made in Asana comes in with pull, and pull --all reads the project.
    let remote = AsanaProvider::from(s.provider().await.remote().clone());
    let created_remotely = remote
        .create(NewTicket::new("Made in Asana"))
        .await
        .unwrap();
    let pulled = s.json(&["sync", "pull", &created_remotely.guid]).await;
    assert_eq!(pulled["asana_gid"], created_remotely.guid.as_str());
    let local_guid = pulled["guid"].as_str().unwrap().to_string();
    assert_eq!(
        s.json(&["get", &local_guid]).await["subject"],
        "Made in Asana"
    );
    let report = s.json(&["sync", "pull", "--all"]).await;
    assert_eq!(report["tasks_seen"], 2, "{report:#}");
    assert_eq!(report["created"], 0, "{report:#}");

    let st = s.json(&["sync", "status"]).await;
    assert_eq!(st["pending"], 0);
    assert_eq!(st["set_aside"], 0);

    // Bad input is refused before anything is opened.
    let out = s.run(&["sync", "pull", "12ab"]).await;
    assert_eq!(out.status.code(), Some(2));
    let out = s.run(&["sync", "pull"]).await;
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_commands_need_the_sync_provider() {
    let s = Setup::new().await;
    std::fs::write(
        s.config_path(),
        "homechoice:\n  ticket:\n    provider: internal\n",
    )
    .unwrap();
    let out = s.run(&["sync", "flush"]).await;
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("set it to sync"));
}

/// Every ticket has exactly one task carrying its marker, with its subject and section, and
/// every comment is there exactly once (comments carry no marker: compared by their text).
async fn assert_asana_matches(s: &Setup, local: &SyncProvider) {
    let mut tickets = Vec::new();
    let mut q = ListQuery {
        limit: Some(1000),
        ..Default::default()
    };
    loop {
        let page = local.local().list_tickets(q.clone()).await.unwrap();
        tickets.extend(page.tickets);
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => break,
        }
    }
    let tasks = s.fake.project_tasks(&s.fake.project_gid());
    let mut by_marker: HashMap<String, Vec<&asana_fake::TaskSnapshot>> = HashMap::new();
    for t in &tasks {
        let marker = t
            .notes
            .lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix("[ticket-guid: ")
                    .and_then(|r| r.strip_suffix(']'))
            })
            .unwrap_or_else(|| panic!("task {} has no marker: {:?}", t.gid, t.notes))
            .to_string();
        by_marker.entry(marker).or_default().push(t);
    }
    assert_eq!(tasks.len(), tickets.len(), "Asana tasks vs local tickets");
    for t in &tickets {
        let found = by_marker
            .get(&t.guid)
            .map(Vec::as_slice)
            .unwrap_or_default();
        assert_eq!(
            found.len(),
            1,
            "ticket {} has {} tasks",
            t.guid,
            found.len()
        );
        let task = found[0];
        assert_eq!(task.name, t.subject);
        assert_eq!(
            task.section_name.as_deref(),
            Some(t.status.title()),
            "section of {}",
            t.guid
        );
        let details = local.local().get_ticket(&t.guid).await.unwrap();
        assert_eq!(
            task.comments.len(),
            details.comments.len(),
            "comments of {}: {:?}",
            t.guid,
            task.comments
        );
        // Stories carry no marker: each comment's story text (its body, after an author
        // line) must be in Asana exactly as often as the ticket has such comments.
        let mut seen = HashSet::new();
        for c in &details.comments {
            let text = encode(&c.body, c.author.as_deref());
            let want = details
                .comments
                .iter()
                .filter(|o| encode(&o.body, o.author.as_deref()) == text)
                .count();
            let hits = task.comments.iter().filter(|t| **t == text).count();
            assert_eq!(
                hits, want,
                "comment {} of {} is in Asana {hits} times",
                c.comment_guid, t.guid
            );
            assert!(seen.insert(&c.comment_guid));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_flushes_and_pushes_neither_lose_nor_duplicate() {
    let s = Setup::new().await;
    // Slow answers widen the windows in which a kill lands mid-request.
    s.fake.set_latency(Duration::from_millis(10));
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("crash test seed: {seed} (set CRASH_SEED to replay)");
    let mut rng = seed | 1;
    let mut next = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let mut guids: Vec<String> = Vec::new();
    let mut kills = 0;
    for round in 0..80 {
        // New work while Asana is down, so it is all pending. It is made through the library
        // on the same store, not waiting for its pushes and not letting them outlive the
        // round (the CLI's own writes are tested above; four processes a round, each waiting
        // for a failing push, made this test slow): what is killed is the CLI's flush and push.
        fail_everything(&s.fake);
        let local = s
            .provider_with(&[
                ("sync_push_timeout_ms", "0"),
                ("sync_shutdown_grace_ms", "0"),
            ])
            .await;
        let g = local
            .create(NewTicket::new(format!("Crash ticket {round}")))
            .await
            .unwrap()
            .guid;
        local
            .add_comment(&g, NewComment::new(format!("first note on {round}")))
            .await
            .unwrap();
        local
            .change_status(&g, Status::ALL[round % Status::ALL.len()])
            .await
            .unwrap();
        guids.push(g);
        let other = guids[next(guids.len() as u64) as usize].clone();
        local
            .add_comment(
                &other,
                NewComment::new(format!("later note in round {round}")),
            )
            .await
            .unwrap();
        local.shutdown().await;
        s.fake.clear_faults();
        // Some rounds also lose the answers of writes Asana did carry out.
        if round % 3 == 1 {
            s.fake.add_fault(Fault {
                method: Some("POST".into()),
                status: Some(504),
                count: 2,
                after_apply: true,
                ..Default::default()
            });
        }
        let args: Vec<String> = if next(3) == 0 {
            vec![
                "sync".into(),
                "push".into(),
                guids[next(guids.len() as u64) as usize].clone(),
            ]
        } else {
            vec!["sync".into(), "flush".into()]
        };
        let mut cmd = s.command(&args.iter().map(String::as_str).collect::<Vec<_>>());
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        tokio::time::sleep(Duration::from_millis(15 + next(120))).await;
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            kills += 1;
        }
        let _ = tokio::task::spawn_blocking(move || child.wait())
            .await
            .unwrap();
        s.fake.clear_faults();
        if kills >= 25 {
            break;
        }
    }
    assert!(
        kills >= 20,
        "only {kills} runs were killed mid-way; the test did not test crashes"
    );

    // A last flush, to the end: a killed run's claims expire after sync_claim_ttl_ms (1 s
    // here), and a breaker probe may wait, so allow a few rounds.
    s.fake.set_latency(Duration::ZERO);
    for _ in 0..30 {
        let r = s.json(&["sync", "flush"]).await;
        if r["pending"] == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let st = s.json(&["sync", "status"]).await;
    assert_eq!(st["pending"], 0, "{st:#}");
    assert_eq!(st["set_aside"], 0, "{st:#}");
    assert_asana_matches(&s, &s.provider().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_aside_changes_can_be_retried_or_discarded() {
    let s = Setup::new().await;
    // Asana does not know these users yet: the tasks are created unassigned and the
    // creates are set aside with the reason.
    let kept = s
        .json(&[
            "create",
            "--subject",
            "Retry me",
            "--assignee",
            "late@example.com",
        ])
        .await;
    let dropped = s
        .json(&[
            "create",
            "--subject",
            "Drop me",
            "--assignee",
            "never@example.com",
        ])
        .await;
    let st = s.json(&["sync", "status"]).await;
    let entries = st["set_aside_entries"].as_array().unwrap().clone();
    assert_eq!(entries.len(), 2, "{st:#}");
    assert!(
        entries
            .iter()
            .all(|e| e["reason"].as_str().unwrap().contains("@example.com")),
        "{st:#}"
    );
    let id_of = |guid: &Value| {
        entries.iter().find(|e| e["ticket_guid"] == *guid).unwrap()["id"]
            .as_i64()
            .unwrap()
            .to_string()
    };

    let user_gid = s.fake.add_user("Late", "late@example.com");
    let st = s.json(&["sync", "retry", &id_of(&kept["guid"])]).await;
    assert_eq!(st["set_aside"], 1, "{st:#}");
    let st = s.json(&["sync", "discard", &id_of(&dropped["guid"])]).await;
    assert_eq!(st["set_aside"], 0, "{st:#}");
    s.json(&["sync", "flush"]).await;
    let st = s.json(&["sync", "status"]).await;
    assert_eq!(
        (st["pending"].as_u64(), st["set_aside"].as_u64()),
        (Some(0), Some(0)),
        "{st:#}"
    );

    let tasks = s.fake.project_tasks(&s.fake.project_gid());
    let retried = tasks
        .iter()
        .find(|t| t.name == "Retry me")
        .expect("the retried task");
    assert_eq!(retried.assignee_gid.as_deref(), Some(user_gid.as_str()));
    let history = s.json(&["history", kept["guid"].as_str().unwrap()]).await;
    assert!(
        history
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["field"] == "sync"),
        "{history:#}"
    );

    // Unknown ids are not found; a non-number is a usage error.
    assert_eq!(
        s.run(&["sync", "retry", "999999"]).await.status.code(),
        Some(3)
    );
    assert_eq!(
        s.run(&["sync", "discard", "x"]).await.status.code(),
        Some(2)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_name_the_configured_provider_and_the_operation() {
    let s = Setup::new().await;
    let out = s
        .run(&["get", "0193a0f0-0000-7000-8000-000000000000"])
        .await;
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("provider sync") && err.contains("operation get_ticket"),
        "{err}"
    );
    assert!(!err.contains("provider internal"), "{err}");
    // history comes through the extension, with the same context.
    let out = s
        .run(&["history", "0193a0f0-0000-7000-8000-000000000000"])
        .await;
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("provider sync") && err.contains("operation history"),
        "{err}"
    );
}

/// With `sync_push_timeout_ms: 0` every command prints its result at once (pending) and its
/// push still completes before the process exits: the change does not wait for a flush.
/// With a slow Asana, the exit waits for the push (bounded by `sync_shutdown_grace_ms`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_push_timeout_still_pushes_before_exit() {
    let s = Setup::new().await;
    let text = std::fs::read_to_string(s.config_path())
        .unwrap()
        .replace("sync_push_timeout_ms: 300", "sync_push_timeout_ms: 0");
    std::fs::write(s.config_path(), text).unwrap();
    s.fake.set_latency(Duration::from_millis(150));
    let mut guids = Vec::new();
    for i in 0..4 {
        let out = s
            .run(&["--json", "create", "--subject", &format!("fast {i}")])
            .await;
        assert!(out.status.success(), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{err}");
        let r: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(r["sync_state"], "pending", "{r}");
        guids.push(r["guid"].as_str().unwrap().to_string());
        // Already in Asana when the command has returned.
        assert_eq!(s.fake.project_tasks(&s.fake.project_gid()).len(), i + 1);
    }
    s.fake.set_latency(Duration::ZERO);
    let st = s.json(&["sync", "status"]).await;
    assert_eq!(st["pending"], 0, "{st:#}");
}

/// Calls the fake Asana's REST API as a person's Asana client would; returns `data`.
async fn asana_api(fake: &FakeAsana, method: reqwest::Method, path: &str, data: Value) -> Value {
    let mut req = reqwest::Client::new()
        .request(method, format!("{}{path}", fake.base_url()))
        .bearer_auth(common::SYNC_TOKEN);
    if !data.is_null() {
        req = req.json(&serde_json::json!({ "data": data }));
    }
    let resp = req.send().await.unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    let body: Value = resp.json().await.unwrap();
    body["data"].clone()
}

/// Issue #11, defect 3: a person renames a task and drags it to another section in Asana;
/// then the ticket is changed locally and pushed before any pull. Asana's values must not
/// vanish: the local values win (the documented rule) and Asana's are kept as `sync`
/// comments and history rows, once each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_made_in_asana_before_a_local_change_are_not_overwritten_silently() {
    let s = Setup::new().await;
    let created = s.json(&["create", "--subject", "Printer jams"]).await;
    assert_eq!(created["sync_state"], "synced", "{created:#}");
    let guid = created["guid"].as_str().unwrap().to_string();
    let gid = created["asana_gid"].as_str().unwrap().to_string();
    s.json(&["sync", "pull", "--all"]).await;

    // In Asana: renamed, and dragged to "On Hold".
    use reqwest::Method;
    asana_api(
        &s.fake,
        Method::PUT,
        &format!("/tasks/{gid}"),
        serde_json::json!({ "name": "Printer jams in tray 2" }),
    )
    .await;
    let sections = asana_api(
        &s.fake,
        Method::GET,
        &format!("/projects/{}/sections", s.fake.project_gid()),
        Value::Null,
    )
    .await;
    // The section exists once a ticket was on hold; here the person adds it first.
    let existing = sections
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "On Hold")
        .cloned();
    let section = match existing {
        Some(x) => x,
        None => {
            asana_api(
                &s.fake,
                Method::POST,
                &format!("/projects/{}/sections", s.fake.project_gid()),
                serde_json::json!({ "name": "On Hold" }),
            )
            .await
        }
    };
    let on_hold = section["gid"].as_str().unwrap().to_string();
    asana_api(
        &s.fake,
        Method::POST,
        &format!("/sections/{on_hold}/addTask"),
        serde_json::json!({ "task": gid }),
    )
    .await;

    // Locally, without a pull in between.
    s.json(&["update", &guid, "--subject", "Printer fixed?"])
        .await;
    s.json(&["status", &guid, "triaged"]).await;
    s.json(&["sync", "pull", "--all"]).await;
    let flushed = s.json(&["sync", "flush"]).await;
    assert_eq!(flushed["pending"], 0, "{flushed:#}");

    let t = s.json(&["get", &guid]).await;
    assert_eq!(t["subject"], "Printer fixed?", "{t:#}");
    assert_eq!(t["status"], "TRIAGED", "{t:#}");
    let notes: Vec<&str> = t["comments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["author"] == "sync")
        .filter_map(|c| c["body"].as_str())
        .collect();
    assert_eq!(notes.len(), 2, "one note per field: {notes:?}");
    assert!(
        notes.iter().any(|n| n.contains("Printer jams in tray 2")),
        "{notes:?}"
    );
    assert!(notes.iter().any(|n| n.contains("ON_HOLD")), "{notes:?}");
    let history = s.json(&["history", &guid]).await;
    let sync_rows: Vec<String> = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["field"] == "sync")
        .map(|h| h["old_value"].to_string())
        .collect();
    assert!(
        sync_rows
            .iter()
            .any(|r| r.contains("Printer jams in tray 2"))
            && sync_rows.iter().any(|r| r.contains("ON_HOLD")),
        "{history:#}"
    );

    // Asana holds the values that won, and the notes.
    let task = s
        .fake
        .project_tasks(&s.fake.project_gid())
        .into_iter()
        .find(|x| x.gid == gid)
        .unwrap();
    assert_eq!(task.name, "Printer fixed?");
    assert_eq!(task.section_name.as_deref(), Some("Triaged"));
    let stories = task
        .comments
        .iter()
        .filter(|c| c.contains("Sync conflict"))
        .count();
    assert_eq!(stories, 2, "{:?}", task.comments);

    // Seen again by later pulls and flushes: nothing more.
    s.json(&["sync", "pull", "--all"]).await;
    s.json(&["sync", "flush"]).await;
    let again = s.json(&["get", &guid]).await;
    assert_eq!(again["comments"], t["comments"]);
}

/// Answers with status 200 that are no task listing: what a broken proxy, a captive portal
/// or a maintenance page answers (issue 23, defect 2).
const MALFORMED_200: [&str; 5] = [
    "<html><body>Down for maintenance</body></html>",
    "{}",
    "{\"data\":null}",
    "[]",
    "",
];

/// Every request (of `method`, or all) answered with `body` and `status` (or 200).
fn answer_with(fake: &FakeAsana, method: Option<&str>, status: Option<u16>, body: &str) {
    fake.add_fault(Fault {
        method: method.map(str::to_string),
        status,
        body: Some(body.into()),
        count: 1_000_000,
        ..Default::default()
    });
}

/// Issue 23, defect 2: a malformed answer is an error, never an empty project: `list` and
/// `get` on `asana` fail (no "0 tickets"), and `sync verify --repair` and `sync pull --all`
/// on `sync` mark no link lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_answer_is_no_empty_project_and_loses_no_link() {
    let s = Setup::new().await;
    for subject in ["One", "Two", "Three"] {
        s.json(&["create", "--subject", subject]).await;
    }
    assert_eq!(s.json(&["sync", "flush"]).await["pending"], 0);
    let asana = Setup::asana().await;
    let made = asana.json(&["create", "--subject", "Listed"]).await;
    let guid = made["guid"].as_str().unwrap().to_string();
    for body in MALFORMED_200 {
        answer_with(&s.fake, None, None, body);
        for args in [
            &["sync", "verify", "--repair"][..],
            &["sync", "pull", "--all"],
        ] {
            let out = s.run(args).await;
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{body:?}: {args:?} succeeded");
            assert!(!stderr.contains("maintenance"), "{body:?}: {stderr}");
        }
        s.fake.clear_faults();
        let st = s.json(&["sync", "status"]).await;
        assert_eq!(st["lost"], 0, "{body:?}: {st:#}");

        answer_with(&asana.fake, None, None, body);
        for args in [&["list"][..], &["--json", "list"], &["get", &guid]] {
            let out = asana.run(args).await;
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{body:?}: {args:?}: {stdout}");
            assert!(!stdout.contains("0 tickets"), "{body:?}: {stdout}");
            assert!(stderr.contains("unexpected answer"), "{body:?}: {stderr}");
        }
        asana.fake.clear_faults();
    }
    // A task read whose record lacks its memberships is no task outside the project.
    let linked = s.json(&["list"]).await;
    let gid = linked[0]["asana_gid"].as_str().unwrap().to_string();
    for batch in [2, 3] {
        let results: Vec<Value> = (0..batch)
            .map(|i| match i {
                0 => serde_json::json!({ "status_code": 200, "body": { "data": { "gid": gid } } }),
                1 => serde_json::json!({ "status_code": 200, "body": { "data": [] } }),
                _ => serde_json::json!({ "status_code": 200, "body": { "data": { "gid": "1" } } }),
            })
            .collect();
        let body = serde_json::json!({ "data": results }).to_string();
        answer_with(&s.fake, Some("POST"), None, &body);
        s.run(&["sync", "pull", &gid]).await;
        s.fake.clear_faults();
    }
    let st = s.json(&["sync", "status"]).await;
    assert_eq!(st["lost"], 0, "a record without memberships: {st:#}");
    let listed = asana.json(&["list"]).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed:#}");
    let report = s.json(&["sync", "verify"]).await;
    assert_eq!(report["orphans"], serde_json::json!([]), "{report:#}");
}

/// Issue 23, defect 1: an error answer that echoes the `Authorization` header and carries
/// ESC, BEL, CR and a newline reaches the outbox's stored reason, `sync status` (text and
/// JSON) and stderr redacted, escaped and on one line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_echoed_token_and_control_characters_never_reach_the_outbox_or_status() {
    let s = Setup::new().await;
    let echo = format!(
        "rejected header Bearer {}\u{1b}]0;owned\u{7}\r\nforged line",
        s.token()
    );
    let body = serde_json::json!({ "errors": [{ "message": echo }] }).to_string();
    answer_with(&s.fake, Some("POST"), Some(400), &body);
    s.json(&["create", "--subject", "Refused"]).await;
    s.run(&["sync", "flush"]).await;
    let clean = |what: &str, text: &str| {
        assert!(!text.contains(s.token()), "{what}: {text}");
        assert!(!text.contains(['\u{1b}', '\u{7}', '\r']), "{what}: {text}");
    };
    let st = s.json(&["sync", "status"]).await;
    let entries = st["set_aside_entries"].as_array().unwrap();
    assert!(!entries.is_empty(), "{st:#}");
    for e in entries {
        let reason = e["reason"].as_str().unwrap();
        clean("stored reason", reason);
        assert!(!reason.contains('\n'), "{reason}");
        assert!(reason.contains("Bearer [redacted]"), "{reason}");
    }
    let out = s.run(&["sync", "status"]).await;
    common::assert_no_token(&out, s.token());
    clean("status text", &String::from_utf8_lossy(&out.stdout));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("\nforged line"));
    let out = s.run(&["create", "--subject", "Refused again"]).await;
    common::assert_no_token(&out, s.token());
    clean("stderr", &String::from_utf8_lossy(&out.stderr));
    // `doctor` reads with GETs: refused the same way, its report shows the text cleaned.
    s.fake.clear_faults();
    answer_with(&s.fake, Some("GET"), Some(401), &body);
    let out = s.run(&["doctor"]).await;
    common::assert_no_token(&out, s.token());
    let report = String::from_utf8_lossy(&out.stdout);
    clean("doctor", &report);
    clean("doctor stderr", &String::from_utf8_lossy(&out.stderr));
    assert!(report.contains("Bearer [redacted]"), "{report}");
}

/// A full read whose listing carries the project's tasks without their memberships marks
/// no link lost: such an item is no task outside the project.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_without_memberships_loses_no_link() {
    let s = Setup::new().await;
    s.json(&["create", "--subject", "One"]).await;
    assert_eq!(s.json(&["sync", "flush"]).await["pending"], 0);
    let linked = s.json(&["list"]).await;
    let gid = linked[0]["asana_gid"].as_str().unwrap().to_string();
    let body = serde_json::json!({ "data": [{ "gid": gid, "name": "One" }] }).to_string();
    s.fake.add_fault(Fault {
        method: Some("GET".into()),
        path_prefix: Some("/api/1.0/tasks".into()),
        body: Some(body),
        count: 1_000_000,
        ..Default::default()
    });
    let out = s.run(&["sync", "pull", "--all"]).await;
    s.fake.clear_faults();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("memberships"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let st = s.json(&["sync", "status"]).await;
    assert_eq!(st["lost"], 0, "{st:#}");
}
