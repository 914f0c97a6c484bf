//! The `ticket` binary end to end on the embedded SQLite store: every operation, JSON output,
//! persistence across runs, and bad input that exits non-zero with one clear line and writes
//! nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.yaml"),
            "homechoice:\n  ticket:\n    provider: internal\n    database_url: tickets.db\n",
        )
        .unwrap();
        Env { dir }
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("config.yaml")
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("tickets.db")
    }

    fn run(&self, args: &[&str]) -> Output {
        run_with_config(&self.config(), args)
    }

    /// Runs with `--json`, asserts success, parses stdout.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        assert!(
            out.status.success(),
            "ticket {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "ticket {args:?} printed no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    fn count(&self) -> usize {
        self.json(&["list", "--limit", "1000"])
            .as_array()
            .unwrap()
            .len()
    }
}

fn run_with_config(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ticket"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("TICKET_CONFIG")
        .env_remove("ASANA_ACCESS_TOKEN")
        .output()
        .unwrap()
}

/// Asserts a failure with `code`, one line on stderr containing every needle, nothing on stdout.
#[track_caller]
fn assert_fails(out: &Output, code: i32, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "exit code; stderr: {stderr}");
    assert!(
        out.stdout.is_empty(),
        "stdout on error: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    for n in needles {
        assert!(stderr.contains(n), "stderr lacks {n:?}: {stderr}");
    }
}

#[test]
fn every_operation_works_and_persists_across_runs() {
    let env = Env::new();
    let created = env.json(&[
        "create",
        "--subject",
        "Printer on fire",
        "--description",
        "smoke",
        "--priority",
        "high",
        "--assignee",
        "alice",
    ]);
    let guid = created["guid"].as_str().unwrap().to_string();
    assert_eq!(created["status"], "NEW");
    assert_eq!(created["provider"], "internal");

    let r = env.json(&[
        "update",
        &guid,
        "--subject",
        "Printer still on fire",
        "--priority",
        "urgent",
    ]);
    assert_eq!(r["guid"], guid.as_str());
    let r = env.json(&["status", &guid, "in progress"]);
    assert_eq!(r["status"], "IN_PROGRESS");
    let r = env.json(&["assign", &guid, "bob"]);
    assert_eq!(r["assigned_to"], "bob");
    let r = env.json(&[
        "comment",
        &guid,
        "Called the user back.",
        "--author",
        "carol",
    ]);
    let comment = r["comment_guid"].as_str().unwrap().to_string();
    let r = env.json(&["escalate", &guid, "--reason", "VIP customer"]);
    assert_eq!(r["status"], "ESCALATED");
    assert!(r["comment_guid"].is_string());
    assert_eq!(env.json(&["resolve", &guid])["status"], "RESOLVED");
    assert_eq!(env.json(&["close", &guid])["status"], "CLOSED");

    // A new process reads everything back from the file.
    let t = env.json(&["get", &guid]);
    assert_eq!(t["subject"], "Printer still on fire");
    assert_eq!(t["priority"], "urgent");
    assert_eq!(t["assignee"], "bob");
    assert_eq!(t["status"], "CLOSED");
    assert_eq!(t["description"], "smoke");
    let comments = t["comments"].as_array().unwrap();
    assert_eq!(comments.len(), 2);
    assert_eq!(comments[0]["comment_guid"], comment.as_str());
    assert_eq!(comments[0]["author"], "carol");
    assert!(comments[1]["body"]
        .as_str()
        .unwrap()
        .contains("VIP customer"));

    let listed = env.json(&["list", "--status", "closed"]);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["guid"], guid.as_str());
    assert!(env
        .json(&["list", "--status", "NEW"])
        .as_array()
        .unwrap()
        .is_empty());
}

#[test]
fn text_output_is_readable() {
    let env = Env::new();
    let out = env.run(&["create", "--subject", "Coffee machine leaks"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("created ") && text.contains("status NEW"),
        "{text}"
    );
    let out = env.run(&["list"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("GUID") && text.contains("SUBJECT") && text.contains("Coffee machine leaks"),
        "{text}"
    );
    assert!(text.contains("1 ticket(s)"), "{text}");
}

#[test]
fn list_pages_with_limit_and_cursor() {
    let env = Env::new();
    for i in 0..3 {
        env.json(&["create", "--subject", &format!("T{i}")]);
    }
    let out = env.run(&["--json", "list", "--limit", "2"]);
    assert!(out.status.success());
    let page: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(page.as_array().unwrap().len(), 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let cursor = stderr
        .split("--cursor ")
        .nth(1)
        .expect("a cursor hint on stderr")
        .trim();
    let rest = env.json(&["list", "--limit", "2", "--cursor", cursor]);
    assert_eq!(rest.as_array().unwrap().len(), 1);
    assert_eq!(
        rest[0]["subject"], "T0",
        "newest first, so the oldest comes last"
    );
}

#[test]
fn bad_input_fails_clearly_and_writes_nothing() {
    let env = Env::new();
    // Before any ticket exists, a bad create must not even create the database file.
    let out = env.run(&["create", "--subject", "   "]);
    assert_fails(&out, 2, &["subject"]);
    assert!(!env.db().exists(), "a rejected create created the database");

    let guid = env.json(&["create", "--subject", "Keep me"])["guid"]
        .as_str()
        .unwrap()
        .to_string();
    let before = env.json(&["get", &guid]);
    let long = "x".repeat(201);
    let cases: Vec<(Vec<&str>, i32, Vec<&str>)> = vec![
        (vec!["create", "--subject", ""], 2, vec!["subject"]),
        (vec!["create", "--subject", &long], 2, vec!["limit is 200"]),
        (
            vec!["create", "--subject", "ok", "--priority", "critical"],
            2,
            vec!["critical", "low, normal, high, urgent"],
        ),
        (
            vec!["status", &guid, "done"],
            2,
            vec!["done", "IN_PROGRESS"],
        ),
        (vec!["update", &guid], 2, vec!["nothing to update"]),
        (vec!["update", &guid, "--subject", " "], 2, vec!["subject"]),
        (vec!["assign", &guid, ""], 2, vec!["assignee"]),
        (vec!["comment", &guid, "  "], 2, vec!["comment"]),
        (vec!["escalate", &guid, "--reason", ""], 2, vec!["reason"]),
        (vec!["list", "--limit", "0"], 2, vec!["limit"]),
        (vec!["get", "not-a-guid"], 2, vec!["not-a-guid"]),
        (
            vec!["get", "00000000-0000-7000-8000-000000000000"],
            3,
            vec!["no ticket"],
        ),
        (
            vec!["close", "00000000-0000-7000-8000-000000000000"],
            3,
            vec!["no ticket"],
        ),
        (vec!["frobnicate"], 2, vec!["frobnicate"]),
    ];
    for (args, code, needles) in cases {
        let out = env.run(&args);
        assert_fails(&out, code, &needles);
    }
    assert_eq!(
        env.json(&["get", &guid]),
        before,
        "a rejected command changed the ticket"
    );
    assert_eq!(env.count(), 1, "a rejected command created a ticket");
}

#[test]
fn config_errors_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.yaml");
    let cases = [
        (
            "homechoice:\n  ticket:\n    provder: internal\n",
            vec!["provder", "line 3"],
        ),
        (
            "homechoice:\n  ticket:\n    provider: jira\n",
            vec!["unknown provider 'jira'", "internal"],
        ),
        (
            "homechoice:\n  ticket:\n    provider: [x]\n",
            vec!["homechoice.ticket.provider", "line 3"],
        ),
        ("homechoice:\n  ticket: [\n", vec!["config.yaml"]),
    ];
    for (text, needles) in cases {
        std::fs::write(&cfg, text).unwrap();
        let out = run_with_config(&cfg, &["create", "--subject", "x"]);
        assert_fails(&out, 4, &needles);
    }
    let out = run_with_config(&dir.path().join("missing.yaml"), &["list"]);
    assert_fails(&out, 4, &["missing.yaml"]);
    assert!(!dir.path().join("tickets.db").exists());
}

#[test]
fn config_comes_from_the_environment_when_no_flag_is_given() {
    let env = Env::new();
    let out = Command::new(env!("CARGO_BIN_EXE_ticket"))
        .args(["--json", "create", "--subject", "via env"])
        .env("TICKET_CONFIG", env.config())
        .current_dir(env.dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(env.count(), 1);
}

#[test]
fn history_lists_every_change_oldest_first() {
    let env = Env::new();
    let guid = env.json(&["create", "--subject", "Track me"])["guid"]
        .as_str()
        .unwrap()
        .to_string();
    env.json(&["status", &guid, "triaged"]);
    env.json(&["update", &guid, "--priority", "high"]);
    env.json(&["status", &guid, "IN_PROGRESS"]);
    let h = env.json(&["history", &guid]);
    let rows = h.as_array().unwrap();
    let fields: Vec<&str> = rows.iter().map(|r| r["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["created", "status", "priority", "status"], "{h:#}");
    assert_eq!(rows[1]["old_value"], "NEW");
    assert_eq!(rows[1]["new_value"], "TRIAGED");
    assert_eq!(rows[3]["old_value"], "TRIAGED");
    assert_eq!(rows[3]["new_value"], "IN_PROGRESS");
    assert_eq!(rows[2]["old_value"], "normal");
    assert_eq!(rows[2]["new_value"], "high");
    let text = String::from_utf8_lossy(&env.run(&["history", &guid]).stdout).to_string();
    assert!(
        text.contains("TRIAGED -> IN_PROGRESS") && text.contains("4 change(s)"),
        "{text}"
    );
    assert_fails(
        &env.run(&["history", "00000000-0000-7000-8000-000000000000"]),
        3,
        &["no ticket"],
    );
}

#[test]
fn doctor_reports_a_healthy_internal_store_and_a_broken_config() {
    let env = Env::new();
    let out = env.run(&["doctor"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("[ok  ] config") && text.contains("0 failed"),
        "{text}"
    );

    std::fs::write(env.config(), "homechoice:\n  ticket:\n    provider: jira\n").unwrap();
    let out = env.run(&["--json", "doctor"]);
    assert_eq!(out.status.code(), Some(4));
    let checks: Value = serde_json::from_slice(&out.stdout).unwrap();
    let failed: Vec<&Value> = checks
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .collect();
    assert_eq!(failed.len(), 1, "{checks:#}");
    assert!(failed[0]["detail"].as_str().unwrap().contains("jira"));
    assert!(failed[0]["fix"].is_string());
}

#[test]
fn the_shipped_example_config_is_valid_with_and_without_its_optional_keys() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/config.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let cfg = homechoice_tickets::Config::parse(&text, "config/config.yaml").unwrap();
    assert_eq!(cfg.ticket.provider, "internal");
    // Uncommenting every optional key must still give a valid file.
    let uncommented: String = text
        .lines()
        .map(|l| match l.strip_prefix("    # ") {
            Some(rest)
                if rest.split(':').next().is_some_and(|k| !k.contains(' '))
                    && rest.contains(':') =>
            {
                format!("    {rest}\n")
            }
            _ => match l.strip_prefix("    #   ") {
                Some(rest) => format!("      {rest}\n"),
                None => format!("{l}\n"),
            },
        })
        .collect();
    let cfg = homechoice_tickets::Config::parse(&uncommented, "uncommented")
        .unwrap_or_else(|e| panic!("{e}\n{uncommented}"));
    let asana: homechoice_tickets::provider_asana::AsanaConfigKeys = cfg.settings().unwrap();
    assert_eq!(asana.asana_requests_per_minute, Some(150));
    let sync: homechoice_tickets::provider_sync::SyncConfigKeys = cfg.settings().unwrap();
    assert_eq!(sync.sync_push_timeout_ms, Some(1500));
    assert_eq!(sync.sync_shutdown_grace_ms, Some(5000));
    assert!(cfg.has_key("providers"));
}

/// Logs on stderr are plain text when stderr is not a terminal: no colour escapes in a pipe
/// or a log file.
#[test]
fn logs_carry_no_colour_codes_when_stderr_is_not_a_terminal() {
    let env = Env::new();
    let out = Command::new(env!("CARGO_BIN_EXE_ticket"))
        .arg("--config")
        .arg(env.config())
        .args(["create", "--subject", "logged"])
        .env("TICKET_LOG", "debug")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("DEBUG"), "debug logging is on: {err}");
    assert!(
        !err.contains('\u{1b}'),
        "colour escape in piped stderr: {err:?}"
    );
}
