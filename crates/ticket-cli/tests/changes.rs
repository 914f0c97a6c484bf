//! `ticket changes`: pages of the change feed, resuming from a cursor, `--follow` until
//! SIGTERM, bad cursors, providers without a feed, and the origins the `sync` provider
//! gives what it pulls, decides and maintains.

use std::io::BufRead as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::Setup;

use asana_fake::PersonEdit;
use homechoice_tickets::provider_asana::AsanaProvider;
use homechoice_tickets::{NewTicket, TicketProvider};
use serde_json::Value;

/// A folder with a config for the internal provider on SQLite.
struct Local {
    dir: tempfile::TempDir,
}

impl Local {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.yaml"),
            "homechoice:\n  ticket:\n    provider: internal\n    database_url: tickets.db\n",
        )
        .unwrap();
        Local { dir }
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("config.yaml")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ticket"));
        cmd.arg("--config")
            .arg(self.config())
            .args(args)
            .env_remove("TICKET_CONFIG");
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        assert!(
            out.status.success(),
            "ticket {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn create(&self, subject: &str) -> String {
        self.json(&["create", "--subject", subject])["guid"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

fn kinds(changes: &Value) -> Vec<String> {
    changes
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["what"]["kind"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn pages_resume_from_their_cursor_and_text_says_how_to_continue() {
    let env = Local::new();
    let g = env.create("Printer jammed");
    env.json(&["status", &g, "triaged"]);
    env.json(&["comment", &g, "looking", "--author", "bob"]);
    env.json(&["update", &g, "--label", "vip"]);
    let first = env.json(&["changes", "--limit", "2"]);
    assert_eq!(kinds(&first["changes"]), ["created", "field"], "{first:#}");
    assert_eq!(first["changes"][1]["what"]["field"], "status");
    assert_eq!(first["changes"][1]["what"]["old"], "NEW");
    assert_eq!(first["changes"][1]["what"]["new"], "TRIAGED");
    assert_eq!(first["changes"][1]["origin"]["kind"], "local");
    let cursor = first["cursor"].as_str().unwrap();
    assert_eq!(first["changes"][1]["cursor"], cursor);
    let rest = env.json(&["changes", "--since", cursor]);
    assert_eq!(
        kinds(&rest["changes"]),
        ["comment_added", "labels"],
        "{rest:#}"
    );
    assert_eq!(rest["changes"][0]["what"]["body"], "looking");
    assert_eq!(rest["changes"][0]["what"]["author"], "bob");
    assert_eq!(
        rest["changes"][1]["what"]["new"],
        serde_json::json!(["vip"])
    );
    // Caught up: an empty page keeps the cursor.
    let end = rest["cursor"].as_str().unwrap();
    let empty = env.json(&["changes", "--since", end]);
    assert_eq!(empty["changes"], serde_json::json!([]));
    assert_eq!(empty["cursor"], end);

    let out = env.run(&["changes", "--limit", "2"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("created (NEW)") && text.contains("NEW -> TRIAGED"),
        "{text}"
    );
    assert!(text.contains("2 change(s)"), "{text}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("--since {cursor}")), "{stderr}");
}

/// Asserts exit code 2, nothing on stdout, one line on stderr naming `needle`.
#[track_caller]
fn assert_refused(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(out.stdout.is_empty());
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains(needle), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_cursors_and_limits_exit_2_naming_them_and_open_nothing() {
    let env = Local::new();
    for bad in ["yesterday", "c1-", "c9-5", "c1-12x"] {
        assert_refused(&env.run(&["changes", "--since", bad]), &format!("{bad:?}"));
        assert_refused(
            &env.run(&["changes", "--follow", "--since", bad]),
            &format!("{bad:?}"),
        );
    }
    assert_refused(&env.run(&["changes", "--limit", "0"]), "limit 0");
    assert_refused(&env.run(&["changes", "--limit", "5000"]), "limit 5000");
    assert_refused(
        &env.run(&["changes", "--limit", "5", "--follow"]),
        "--follow",
    );
    assert!(
        !env.dir.path().join("tickets.db").exists(),
        "bad input created the store"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_without_a_feed_is_told_so() {
    let s = Setup::asana().await;
    let out = s.run(&["changes"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "{stderr}");
    assert!(stderr.contains("no change feed"), "{stderr}");
    assert!(stderr.contains("changes capability"), "{stderr}");
}

/// Reads lines of a child's stdout on a thread of its own.
fn lines_of(stdout: std::process::ChildStdout) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn next_line(rx: &std::sync::mpsc::Receiver<String>) -> Value {
    let line = rx
        .recv_timeout(Duration::from_secs(15))
        .expect("a line within 15 s");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("not one JSON object ({e}): {line}"))
}

fn terminate(pid: u32) {
    let sent = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

/// `--follow` prints what was there, then each change another process commits, one JSON
/// object a line, and ends on SIGTERM with exit 0 and nothing on stderr; a second follower
/// from a change's cursor starts right after it.
#[test]
fn follow_prints_each_commit_and_ends_on_sigterm_with_exit_0() {
    let env = Local::new();
    let g = env.create("first");
    let mut child = env
        .command(&["changes", "--follow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = lines_of(child.stdout.take().unwrap());
    let created = next_line(&rx);
    assert_eq!(created["guid"], g.as_str());
    assert_eq!(created["what"]["kind"], "created");
    // Commits of other processes, after the follower caught up.
    let g2 = env.create("second");
    let line = next_line(&rx);
    assert_eq!(
        (line["guid"].as_str(), &line["what"]["kind"]),
        (Some(g2.as_str()), &Value::from("created"))
    );
    env.json(&["assign", &g2, "alice"]);
    let assigned = next_line(&rx);
    assert_eq!(assigned["what"]["field"], "assignee");
    assert_eq!(assigned["what"]["new"], "alice");

    let started = Instant::now();
    terminate(child.id());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "exit after SIGTERM");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(stderr.is_empty(), "{stderr}");

    // From the cursor of the first change: the two after it.
    let since = created["cursor"].as_str().unwrap();
    let mut child = env
        .command(&["changes", "--follow", "--since", since])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let rx = lines_of(child.stdout.take().unwrap());
    assert_eq!(next_line(&rx)["guid"], g2.as_str());
    assert_eq!(next_line(&rx)["what"]["field"], "assignee");
    terminate(child.id());
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

/// SIGTERM right after start, before the store was even read, still ends with exit 0.
#[test]
fn follow_ends_cleanly_on_an_early_sigterm() {
    let env = Local::new();
    env.create("x");
    for delay in [0, 50, 300] {
        let child = env
            .command(&["changes", "--follow"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        terminate(child.id());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        // Before the runtime has started, the default action ends the process (no exit
        // code); from then on, whether the feed was opened yet or not, it exits 0.
        if delay >= 300 {
            assert_eq!(out.status.code(), Some(0), "{stderr}");
        } else {
            assert!(
                out.status.code() == Some(0) || out.status.code().is_none(),
                "{:?}: {stderr}",
                out.status
            );
        }
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

fn find(changes: &[Value], pred: impl Fn(&Value) -> bool) -> Option<&Value> {
    changes.iter().find(|c| pred(c))
}

/// The `sync` provider's feed says where each change came from: a task created in Asana by a
/// person and pulled is `pulled` with that person's gid, so is their comment; a rename in
/// Asana is `pulled` (Asana does not say by whom); a field changed on both sides leaves a
/// `conflict` note and comment; an unlink is `maintenance`; local changes are `local`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_changes_carry_their_origin() {
    let s = Setup::new().await;
    let alice = s.fake.add_user("Alice", "alice@example.com");
    let created = s.json(&["create", "--subject", "Printer jams"]).await;
    assert_eq!(created["sync_state"], "synced", "{created:#}");
    let local_guid = created["guid"].as_str().unwrap().to_string();
    let local_gid = created["asana_gid"].as_str().unwrap().to_string();
    s.json(&["sync", "pull", "--all"]).await;

    // Made in Asana by Alice, with a comment of hers, then renamed there.
    let remote = AsanaProvider::from(s.provider().await.remote().clone());
    let task = remote
        .create(NewTicket::new("Made in Asana"))
        .await
        .unwrap()
        .guid;
    assert!(s
        .fake
        .set_task_creator(&task, &alice, homechoice_tickets::chrono::Utc::now()));
    s.fake.add_comment_as(&task, &alice, "from Alice");
    let pulled = s.json(&["sync", "pull", &task]).await;
    let pulled_guid = pulled["guid"].as_str().unwrap().to_string();
    let project = s.fake.project_gid();
    assert!(s.fake.edit_as_person(
        &project,
        &task,
        PersonEdit::Rename("Renamed in Asana".into())
    ));
    s.json(&["sync", "pull", &task]).await;

    // A conflict: renamed in Asana and locally before a pull.
    assert!(s.fake.edit_as_person(
        &project,
        &local_gid,
        PersonEdit::Rename("Their name".into())
    ));
    s.json(&["update", &local_guid, "--subject", "Our name"])
        .await;
    s.json(&["sync", "pull", "--all"]).await;
    s.json(&["sync", "flush"]).await;
    // Maintenance.
    s.json(&["sync", "unlink", &pulled_guid]).await;

    let page = s.json(&["changes", "--limit", "1000"]).await;
    let changes = page["changes"].as_array().unwrap().clone();
    let of =
        |g: &str| -> Vec<Value> { changes.iter().filter(|c| c["guid"] == g).cloned().collect() };
    let theirs = of(&pulled_guid);
    let alice_origin = serde_json::json!({"kind": "pulled", "asana_user": alice});
    let c = find(&theirs, |c| c["what"]["kind"] == "created").expect("created");
    assert_eq!(c["origin"], alice_origin, "{theirs:#?}");
    let c = find(&theirs, |c| c["what"]["kind"] == "comment_added").expect("comment");
    assert_eq!(c["what"]["body"], "from Alice");
    assert_eq!(c["origin"], alice_origin, "{c:#}");
    let c = find(&theirs, |c| c["what"]["field"] == "subject").expect("rename");
    assert_eq!(c["what"]["new"], "Renamed in Asana");
    assert_eq!(
        c["origin"],
        serde_json::json!({"kind": "pulled", "asana_user": null})
    );
    let c = find(&theirs, |c| c["what"]["kind"] == "sync_note").expect("unlink note");
    assert_eq!(c["origin"]["kind"], "maintenance", "{c:#}");
    assert!(
        c["what"]["after"].as_str().unwrap().starts_with("unlinked"),
        "{c:#}"
    );

    let ours = of(&local_guid);
    let c = find(&ours, |c| c["what"]["kind"] == "created").expect("created");
    assert_eq!(c["origin"]["kind"], "local");
    let c = find(&ours, |c| c["what"]["field"] == "subject").expect("local rename");
    assert_eq!(
        (&c["what"]["new"], &c["origin"]["kind"]),
        (&Value::from("Our name"), &Value::from("local"))
    );
    let note = find(&ours, |c| c["what"]["kind"] == "sync_note").expect("conflict note");
    assert_eq!(note["origin"]["kind"], "conflict", "{ours:#?}");
    let comment = find(&ours, |c| c["what"]["kind"] == "comment_added").expect("conflict comment");
    assert_eq!(comment["origin"]["kind"], "conflict", "{ours:#?}");
    assert!(
        comment["what"]["body"]
            .as_str()
            .unwrap()
            .contains("Their name"),
        "{comment:#}"
    );
}
