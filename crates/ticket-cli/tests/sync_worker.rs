//! `ticket sync run`, `verify`, lost links and metrics, end to end against the local Asana
//! server: the worker pushes a backlog made while Asana was down and pulls an Asana edit
//! without any command, stops cleanly on SIGTERM; `verify` finds a rename made in Asana and
//! `--repair` settles it; a deleted task becomes a lost link that `relink` and `unlink`
//! resolve; the metrics endpoint serves Prometheus text whose numbers match `sync status`;
//! and (PostgreSQL) two workers on one store under faults, one of them SIGKILLed, leave
//! Asana equal to the store with nothing twice.

use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::common;

use asana_fake::{FakeAsana, Fault};
use serde_json::Value;

use common::Setup;

/// Short intervals, so each test takes seconds.
const WORKER_KEYS: &str = "    sync_push_timeout_ms: 300\n    sync_claim_ttl_ms: 1000\n    asana_timeout_ms: 2000\n    sync_poll_interval_ms: 300\n    sync_outbox_poll_ms: 50\n    sync_shutdown_grace_ms: 1000\n";

pub(crate) async fn setup() -> Setup {
    let s = Setup::new().await;
    s.write_config(
        "sync",
        &s.fake.project_gid(),
        &format!("    database_url: tickets.db\n{WORKER_KEYS}"),
    );
    s
}

fn fail_everything(fake: &FakeAsana) {
    fake.add_fault(Fault {
        status: Some(503),
        count: 1_000_000,
        ..Default::default()
    });
}

/// `ticket sync run ARGS` in the background.
pub(crate) fn start_worker(s: &Setup, args: &[&str]) -> Child {
    let mut all = vec!["sync", "run"];
    all.extend_from_slice(args);
    s.command(&all)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Sends SIGTERM and waits; the exit status, how long it took, and stderr.
pub(crate) async fn terminate(child: Child) -> (ExitStatus, Duration, String) {
    let pid = child.id().to_string();
    let started = Instant::now();
    let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(sent.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    (
        out.status,
        started.elapsed(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Waits up to `limit` for `cond`.
pub(crate) async fn eventually<F, Fut>(limit: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// Calls the fake's REST API as a person's Asana client would.
pub(crate) async fn asana_api(fake: &FakeAsana, method: reqwest::Method, path: &str, data: Value) {
    let mut req = reqwest::Client::new()
        .request(method, format!("{}{path}", fake.base_url()))
        .bearer_auth(common::SYNC_TOKEN);
    if !data.is_null() {
        req = req.json(&serde_json::json!({ "data": data }));
    }
    let resp = req.send().await.unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
}

pub(crate) async fn assert_stops_cleanly(child: Child) {
    let (status, took, stderr) = terminate(child).await;
    assert_eq!(status.code(), Some(0), "exit: {status:?}; stderr: {stderr}");
    assert!(took < Duration::from_secs(5), "stopped after {took:?}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    common::assert_no_token(
        &std::process::Output {
            status,
            stdout: Vec::new(),
            stderr: stderr.into_bytes(),
        },
        common::SYNC_TOKEN,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_pushes_a_backlog_made_while_asana_was_down() {
    let s = setup().await;
    fail_everything(&s.fake);
    let mut guids = Vec::new();
    for i in 0..3 {
        let c = s
            .json(&["create", "--subject", &format!("Backlog {i}")])
            .await;
        assert_eq!(c["sync_state"], "pending", "{c:#}");
        guids.push(c["guid"].as_str().unwrap().to_string());
    }
    s.json(&["comment", &guids[0], "while down"]).await;
    let worker = start_worker(&s, &[]);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(s.fake.project_tasks(&s.fake.project_gid()).is_empty());
    // Asana comes back: no command is run, the worker catches up by itself.
    s.fake.clear_faults();
    let pushed = eventually(Duration::from_secs(20), || async {
        let tasks = s.fake.project_tasks(&s.fake.project_gid());
        tasks.len() == 3 && tasks.iter().any(|t| t.comments.len() == 1)
    })
    .await;
    assert!(pushed, "{:#?}", s.fake.project_tasks(&s.fake.project_gid()));
    assert_stops_cleanly(worker).await;
    let st = s.json(&["sync", "status"]).await;
    assert_eq!(st["pending"], 0, "{st:#}");
    assert_eq!(s.fake.project_tasks(&s.fake.project_gid()).len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_asana_edit_reaches_the_store_without_a_pull_command() {
    let s = setup().await;
    let c = s.json(&["create", "--subject", "Before"]).await;
    let guid = c["guid"].as_str().unwrap().to_string();
    let gid = c["asana_gid"].as_str().unwrap().to_string();
    let worker = start_worker(&s, &[]);
    // Let the first (full) pull run before the edit, so the edit comes through the events.
    tokio::time::sleep(Duration::from_millis(700)).await;
    asana_api(
        &s.fake,
        reqwest::Method::PUT,
        &format!("/tasks/{gid}"),
        serde_json::json!({ "name": "Renamed in Asana" }),
    )
    .await;
    let pulled = eventually(Duration::from_secs(10), || async {
        s.json(&["get", &guid]).await["subject"] == "Renamed in Asana"
    })
    .await;
    assert!(pulled, "the worker did not pull the rename");
    assert_stops_cleanly(worker).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_finds_a_rename_made_in_asana_and_repair_settles_it() {
    let s = setup().await;
    let c = s.json(&["create", "--subject", "Original"]).await;
    let guid = c["guid"].as_str().unwrap().to_string();
    let gid = c["asana_gid"].as_str().unwrap().to_string();
    s.json(&["create", "--subject", "Untouched"]).await;
    assert_eq!(
        s.json(&["sync", "verify"]).await["differences"],
        serde_json::json!([])
    );
    asana_api(
        &s.fake,
        reqwest::Method::PUT,
        &format!("/tasks/{gid}"),
        serde_json::json!({ "name": "Renamed directly" }),
    )
    .await;
    let out = s.run(&["--json", "sync", "verify"]).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["compared"], 2, "{report:#}");
    assert_eq!(
        report["differences"],
        serde_json::json!([{
            "ticket_guid": guid, "asana_gid": gid, "field": "subject",
            "local": "Original", "remote": "Renamed directly"
        }]),
        "{report:#}"
    );
    // Text form names ticket, task, field and both values.
    let text = s.run(&["sync", "verify"]).await;
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    for part in [
        &guid,
        &gid,
        "subject",
        "\"Original\"",
        "\"Renamed directly\"",
    ] {
        assert!(text.contains(part), "{part} missing in {text}");
    }
    let repaired = s.json(&["sync", "verify", "--repair"]).await;
    assert_eq!(repaired["unresolved"], 0, "{repaired:#}");
    let repairs = repaired["repairs"].as_array().unwrap();
    assert_eq!(repairs.len(), 1, "{repaired:#}");
    assert!(
        repairs[0].as_str().unwrap().contains("subject"),
        "{repaired:#}"
    );
    // Asana's value was taken (no local change was pending), with a history row.
    assert_eq!(s.json(&["get", &guid]).await["subject"], "Renamed directly");
    let again = s.json(&["sync", "verify"]).await;
    assert_eq!(again["differences"], serde_json::json!([]), "{again:#}");
    assert_eq!(again["unresolved"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_task_becomes_lost_and_relink_and_unlink_resolve_it() {
    let s = setup().await;
    let a = s.json(&["create", "--subject", "Alpha"]).await;
    let b = s.json(&["create", "--subject", "Beta"]).await;
    let (ga, gb) = (
        a["guid"].as_str().unwrap().to_string(),
        b["guid"].as_str().unwrap().to_string(),
    );
    s.json(&["comment", &ga, "kept across relink"]).await;
    for t in [&a, &b] {
        let gid = t["asana_gid"].as_str().unwrap();
        asana_api(
            &s.fake,
            reqwest::Method::DELETE,
            &format!("/tasks/{gid}"),
            Value::Null,
        )
        .await;
    }
    // A push to a deleted task: the link becomes lost, the change stays pending, and no
    // task is created in its place.
    let updated = s.json(&["update", &ga, "--subject", "Alpha 2"]).await;
    assert_eq!(updated["sync_state"], "pending", "{updated:#}");
    // A full pull does not list the other one: lost as well.
    let pulled = s.json(&["sync", "pull", "--all"]).await;
    assert_eq!(pulled["mode"], "full", "{pulled:#}");
    assert_eq!(pulled["lost"], 1, "{pulled:#}");
    assert_eq!(pulled["created"], 0, "{pulled:#}");
    let st = s.json(&["sync", "status"]).await;
    assert_eq!(st["lost"], 2, "{st:#}");
    let mut lost: Vec<&str> = st["lost_links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["ticket_guid"].as_str().unwrap())
        .collect();
    lost.sort();
    let mut want = vec![ga.as_str(), gb.as_str()];
    want.sort();
    assert_eq!(lost, want);
    let text = s.run(&["sync", "status"]).await;
    assert!(String::from_utf8_lossy(&text.stdout).contains("2 lost link(s)"));
    // flush pushes nothing for them; verify lists them.
    s.json(&["sync", "flush"]).await;
    assert!(s.fake.project_tasks(&s.fake.project_gid()).is_empty());
    let out = s.run(&["--json", "sync", "verify"]).await;
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let orphans = report["orphans"].as_array().unwrap();
    assert_eq!(orphans.len(), 2, "{report:#}");
    assert!(
        orphans.iter().all(|o| o["kind"] == "task_missing"),
        "{report:#}"
    );
    // The tickets are still here, untouched.
    assert_eq!(s.json(&["get", &gb]).await["subject"], "Beta");

    // relink: a new task with the ticket's current state and its comment.
    let relinked = s.json(&["sync", "relink", &ga]).await;
    assert_eq!(relinked["sync_state"], "synced", "{relinked:#}");
    let tasks = s.fake.project_tasks(&s.fake.project_gid());
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].name, "Alpha 2");
    assert_eq!(tasks[0].comments, vec!["kept across relink".to_string()]);
    assert_eq!(relinked["asana_gid"], tasks[0].gid.as_str());
    // unlink: local only from now on.
    s.json(&["sync", "unlink", &gb]).await;
    let changed = s.json(&["update", &gb, "--subject", "Beta local"]).await;
    assert_eq!(changed["sync_state"], "synced", "{changed:#}");
    let st = s.json(&["sync", "status"]).await;
    assert_eq!(st["lost"], 0, "{st:#}");
    assert_eq!(st["pending"], 0, "{st:#}");
    assert_eq!(s.fake.project_tasks(&s.fake.project_gid()).len(), 1);
    assert_eq!(s.json(&["sync", "verify"]).await["unresolved"], 0);
    // Relinking a linked ticket is refused as a conflict (issue 23 #14), naming why; an
    // unknown one is not found.
    let out = s.run(&["sync", "relink", &ga]).await;
    assert_eq!(out.status.code(), Some(7));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not lost"));
    let out = s
        .run(&["sync", "unlink", "00000000-0000-4000-8000-000000000000"])
        .await;
    assert_eq!(out.status.code(), Some(3));
}

/// Metric lines as `name{labels} value`, checked against the text format's grammar.
fn parse_metrics(text: &str) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    let mut eof = false;
    for line in text.lines() {
        assert!(!eof, "text after # EOF: {line}");
        if line == "# EOF" {
            eof = true;
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let kind = rest.split(' ').next().unwrap();
            assert!(
                ["HELP", "TYPE", "UNIT"].contains(&kind),
                "bad comment: {line}"
            );
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("name and value");
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                && !name.starts_with(|c: char| c.is_ascii_digit()),
            "bad name: {line}"
        );
        if name_end < series.len() {
            let labels = &series[name_end..];
            assert!(labels.ends_with('}'), "bad labels: {line}");
            for pair in labels[1..labels.len() - 1].split(',') {
                let (k, v) = pair.split_once('=').expect("label=value");
                assert!(k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
                assert!(
                    v.starts_with('"') && v.ends_with('"'),
                    "bad label value: {line}"
                );
            }
        }
        let v: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value: {line}"));
        out.push((series.to_string(), v));
    }
    assert!(eof, "no # EOF");
    out
}

fn metric(all: &[(String, f64)], series: &str) -> f64 {
    all.iter()
        .find(|(s, _)| s == series)
        .unwrap_or_else(|| panic!("{series} missing: {all:?}"))
        .1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_endpoint_serves_prometheus_text_matching_sync_status() {
    let s = setup().await;
    // One lost link with a pending change, one synced ticket.
    let a = s.json(&["create", "--subject", "Gone"]).await;
    s.json(&["create", "--subject", "Fine"]).await;
    let gid = a["asana_gid"].as_str().unwrap();
    asana_api(
        &s.fake,
        reqwest::Method::DELETE,
        &format!("/tasks/{gid}"),
        Value::Null,
    )
    .await;
    s.json(&["update", a["guid"].as_str().unwrap(), "--subject", "Gone 2"])
        .await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let worker = start_worker(&s, &["--metrics-addr", &addr]);
    let http = reqwest::Client::new();
    let up = eventually(Duration::from_secs(10), || async {
        match http.get(format!("http://{addr}/healthz")).send().await {
            Ok(r) => r.status().is_success(),
            Err(_) => false,
        }
    })
    .await;
    assert!(up, "no /healthz");
    // Let a pull complete.
    let pulled = eventually(Duration::from_secs(10), || async {
        let text = http
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        metric(
            &parse_metrics(&text),
            "ticket_sync_last_pull_timestamp_seconds",
        ) > 0.0
    })
    .await;
    assert!(pulled);
    let resp = http
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    let ctype = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ctype.starts_with("application/openmetrics-text"), "{ctype}");
    let text = resp.text().await.unwrap();
    let all = parse_metrics(&text);
    let st = s.json(&["sync", "status"]).await;
    assert_eq!(st["lost"], 1, "{st:#}");
    assert_eq!(metric(&all, "ticket_sync_lost_links"), 1.0, "{text}");
    assert_eq!(
        metric(&all, "ticket_sync_pending_changes"),
        st["pending"].as_f64().unwrap(),
        "{text}"
    );
    assert_eq!(
        metric(&all, "ticket_sync_set_aside_changes"),
        st["set_aside"].as_f64().unwrap()
    );
    assert!(
        metric(&all, "ticket_sync_oldest_pending_seconds") > 0.0,
        "{text}"
    );
    assert!(
        metric(&all, "ticket_asana_requests_total{status=\"200\"}") >= 1.0,
        "{text}"
    );
    for name in [
        "ticket_sync_conflicts_total",
        "ticket_sync_pulled_changes_total",
        "ticket_asana_rate_limited_seconds_total",
    ] {
        metric(&all, name);
    }
    assert!(text.contains("# TYPE ticket_sync_pushes counter"), "{text}");
    assert_stops_cleanly(worker).await;
    // A bad address is refused with a clear message and nothing runs.
    let out = s.run(&["sync", "run", "--metrics-addr", "nowhere"]).await;
    assert_eq!(out.status.code(), Some(2));
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_on_one_postgres_store_under_faults_and_a_kill_push_everything_once() {
    use homechoice_tickets::provider_internal::InternalProvider;
    use homechoice_tickets::provider_sync::store_options;
    use homechoice_tickets::{Config, NewComment, NewTicket, TicketProvider};

    let Some(db) = common::postgres::TestDb::create("workers") else {
        return;
    };
    let s = Setup::new().await;
    s.write_config(
        "sync",
        &s.fake.project_gid(),
        &format!("    database_url: \"{}\"\n{WORKER_KEYS}", db.url),
    );
    // An application writes through the store only (its changes are queued, not pushed):
    // the workers must push them.
    let cfg = Config::load(s.config_path()).unwrap();
    let app = InternalProvider::from_config_with(&cfg, store_options(None).extensions)
        .await
        .unwrap();
    s.fake.set_latency(Duration::from_millis(20));
    // Lost answers (applied, then a 503) and plain failures on creates of tasks and stories.
    s.fake.add_fault(Fault {
        method: Some("POST".into()),
        path_prefix: Some("/api/1.0/tasks".into()),
        status: Some(503),
        count: 6,
        after_apply: true,
        ..Default::default()
    });
    s.fake.add_fault(Fault {
        status: Some(500),
        count: 6,
        ..Default::default()
    });
    let mut first = start_worker(&s, &[]);
    let second = start_worker(&s, &[]);
    let mut guids = Vec::new();
    let add = async |i: usize| {
        let t = app
            .create(NewTicket::new(format!("Worker ticket {i}")))
            .await
            .unwrap();
        app.add_comment(&t.guid, NewComment::new(format!("comment {i}")))
            .await
            .unwrap();
        t.guid
    };
    for i in 0..6 {
        guids.push(add(i).await);
    }
    // One worker dies mid-work.
    tokio::time::sleep(Duration::from_millis(300)).await;
    first.kill().unwrap();
    let _ = first.wait();
    for i in 6..12 {
        guids.push(add(i).await);
    }
    let done = eventually(Duration::from_secs(40), || async {
        let tasks = s.fake.project_tasks(&s.fake.project_gid());
        tasks.len() >= 12 && tasks.iter().all(|t| !t.comments.is_empty())
    })
    .await;
    // Settle: the survivor pushes what is left, then stops cleanly.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_stops_cleanly(second).await;
    assert!(done, "{:#?}", s.fake.project_tasks(&s.fake.project_gid()));
    let tasks = s.fake.project_tasks(&s.fake.project_gid());
    assert_eq!(tasks.len(), 12, "{tasks:#?}");
    for (i, g) in guids.iter().enumerate() {
        let mine: Vec<_> = tasks
            .iter()
            .filter(|t| t.notes.contains(&format!("[ticket-guid: {g}]")))
            .collect();
        assert_eq!(mine.len(), 1, "ticket {g} has {} tasks", mine.len());
        assert_eq!(mine[0].name, format!("Worker ticket {i}"));
        assert_eq!(mine[0].comments, vec![format!("comment {i}")], "ticket {g}");
    }
    let st = s.json(&["sync", "status"]).await;
    assert_eq!(st["pending"], 0, "{st:#}");
    assert_eq!(st["lost"], 0, "{st:#}");
    drop(app);
}

/// A free loopback port for `--metrics-addr`.
pub(crate) fn free_addr() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("127.0.0.1:{port}")
}

/// `/healthz`'s status and text, `None` while nothing answers.
async fn healthz(addr: &str) -> Option<(u16, String)> {
    let resp = reqwest::get(format!("http://{addr}/healthz")).await.ok()?;
    let status = resp.status().as_u16();
    Some((status, resp.text().await.unwrap_or_default()))
}

/// Issue 23 #8: the store's file deleted under a running worker. `/healthz` says so at
/// once (503, naming the file), although the worker's next step is a minute away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_says_not_ok_when_the_store_file_is_deleted() {
    let s = Setup::new().await;
    s.write_config(
        "sync",
        &s.fake.project_gid(),
        "    database_url: tickets.db\n    sync_outbox_poll_ms: 60000\n    sync_shutdown_grace_ms: 500\n",
    );
    s.json(&["create", "--subject", "kept"]).await;
    let addr = free_addr();
    let worker = start_worker(&s, &["--metrics-addr", &addr]);
    let up = eventually(Duration::from_secs(10), || async {
        healthz(&addr).await.is_some_and(|(code, _)| code == 200)
    })
    .await;
    assert!(up, "no healthy /healthz");
    let db = s.config_path().parent().unwrap().join("tickets.db");
    std::fs::remove_file(&db).unwrap();
    let (code, text) = healthz(&addr).await.expect("still serving");
    assert_eq!(code, 503, "{text}");
    assert!(
        text.starts_with("not ok:") && text.contains("tickets.db") && text.contains("deleted"),
        "{text}"
    );
    let _ = terminate(worker).await;
}

/// Issue 23 #8: the store's file replaced under a running worker (a restore moved over
/// it). The worker stops before its next step, exit 4, one line naming the file, instead of
/// pulling into the old, unlinked file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_stops_when_the_store_file_is_replaced() {
    let s = setup().await;
    let t = s.json(&["create", "--subject", "before"]).await;
    let addr = free_addr();
    let worker = start_worker(&s, &["--metrics-addr", &addr]);
    let up = eventually(Duration::from_secs(10), || async {
        healthz(&addr).await.is_some_and(|(code, _)| code == 200)
    })
    .await;
    assert!(up, "no healthy /healthz");
    let dir = s.config_path().parent().unwrap().to_path_buf();
    let db = dir.join("tickets.db");
    let copy = dir.join("restored.db");
    std::fs::copy(&db, &copy).unwrap();
    std::fs::rename(&copy, &db).unwrap();
    // It stops by itself within seconds; one still running after 10 s is killed.
    let out = tokio::task::spawn_blocking(move || {
        let mut worker = worker;
        let deadline = Instant::now() + Duration::from_secs(10);
        while worker.try_wait().unwrap().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = worker.kill();
        worker.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains("tickets.db") && errors[0].contains("replaced"),
        "{stderr}"
    );
    assert!(healthz(&addr).await.is_none(), "the process still serves");
    // The ticket is still in the file now at that path (the copy), untouched.
    let got = s.json(&["get", t["guid"].as_str().unwrap()]).await;
    assert_eq!(got["subject"], "before");
}
