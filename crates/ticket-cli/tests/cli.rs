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

/// The issue's own example: fields of every type and a label, through the command line.
#[test]
fn custom_fields_and_labels_work_end_to_end() {
    let env = Env::new();
    std::fs::write(
        env.config(),
        "homechoice:\n  ticket:\n    provider: internal\n    database_url: tickets.db\n    fields:\n      severity:   {type: enum, options: [S1, S2, S3]}\n      estimate:   {type: number, precision: 1}\n      customer:   {type: text}\n      components: {type: multi_enum, options: [api, ui, db]}\n      target:     {type: date}\n      reviewers:  {type: people}\n",
    )
    .unwrap();
    let r = env.json(&[
        "create",
        "--subject",
        "S",
        "--field",
        "severity=S1",
        "--field",
        "components=api,ui",
        "--field",
        "target=2026-12-24",
        "--field",
        "reviewers=a@example.com,b@example.com",
        "--field",
        "estimate=2.5",
        "--label",
        "vip",
    ]);
    let guid = r["guid"].as_str().unwrap().to_string();
    let other = env.json(&["create", "--subject", "other", "--field", "severity=S2"]);
    let t = env.json(&["get", &guid]);
    assert_eq!(
        t["fields"],
        serde_json::json!({
            "severity": "S1", "components": ["api", "ui"], "target": "2026-12-24",
            "reviewers": ["a@example.com", "b@example.com"], "estimate": 2.5
        })
    );
    assert_eq!(t["labels"], serde_json::json!(["vip"]));
    let text = String::from_utf8(env.run(&["get", &guid]).stdout).unwrap();
    assert!(text.contains("components:  api, ui"), "{text}");
    assert!(text.contains("labels:      vip"), "{text}");

    let guids = |v: Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|t| t["guid"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        guids(env.json(&["list", "--field", "components=ui"])),
        vec![guid.clone()]
    );
    assert_eq!(
        guids(env.json(&["list", "--field", "severity=S2"])),
        [other["guid"].as_str().unwrap().to_string()]
    );
    assert_eq!(
        guids(env.json(&["list", "--label", "vip"])),
        vec![guid.clone()]
    );

    env.json(&[
        "update",
        &guid,
        "--clear-field",
        "estimate",
        "--field",
        "customer=ACME, Inc",
        "--unlabel",
        "vip",
        "--label",
        "later",
    ]);
    let t = env.json(&["get", &guid]);
    assert!(t["fields"].get("estimate").is_none(), "{t}");
    assert_eq!(t["fields"]["customer"], "ACME, Inc");
    assert_eq!(t["labels"], serde_json::json!(["later"]));
    assert!(guids(env.json(&["list", "--label", "vip"])).is_empty());
    let history = env.json(&["history", &guid]);
    let fields: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["created", "fields.customer", "fields.estimate", "labels"]
    );
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

/// A config file's text with every commented-out key (`    # key: ...` and the lines
/// under it) uncommented: what an operator gets who turns every option on.
fn uncomment_every_key(text: &str) -> String {
    let keys: Vec<&str> = homechoice_tickets::key_groups(None)
        .iter()
        .flat_map(|g| g.keys.iter().map(|k| k.key))
        .collect();
    let mut out = String::new();
    let mut in_key = false;
    for line in text.lines() {
        let rest = line.strip_prefix("    # ");
        let starts_key = rest.is_some_and(|r| keys.iter().any(|k| r.starts_with(&format!("{k}:"))));
        if starts_key {
            in_key = true;
            out.push_str(&format!("    {}\n", rest.unwrap()));
        } else if let Some(nested) = line.strip_prefix("    #   ").filter(|_| in_key) {
            out.push_str(&format!("      {nested}\n"));
        } else {
            in_key = false;
            out.push_str(&format!("{line}\n"));
        }
    }
    out
}

/// The file is valid as written and with every optional key turned on.
#[track_caller]
fn assert_valid_with_every_option(text: &str, provider: &str) {
    let cfg = homechoice_tickets::Config::parse(text, "written")
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(cfg.ticket.provider, provider);
    let uncommented = uncomment_every_key(text);
    assert_ne!(uncommented, text, "no optional key found in\n{text}");
    homechoice_tickets::Config::parse(&uncommented, "uncommented")
        .unwrap_or_else(|e| panic!("{e}\n{uncommented}"));
}

#[test]
fn the_shipped_example_config_is_valid_with_and_without_its_optional_keys() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/config.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert_valid_with_every_option(&text, "internal");
    let cfg = homechoice_tickets::Config::parse(&uncomment_every_key(&text), "u").unwrap();
    let asana: homechoice_tickets::provider_asana::AsanaConfigKeys = cfg.settings().unwrap();
    assert_eq!(asana.asana_requests_per_minute, Some(150));
    let sync: homechoice_tickets::provider_sync::SyncConfigKeys = cfg.settings().unwrap();
    assert_eq!(sync.sync_push_timeout_ms, Some(1500));
    assert_eq!(sync.sync_shutdown_grace_ms, Some(5000));
    assert!(cfg.has_key("providers"));
}

/// A temporary home, data directory and working folder, and `ticket` run in them with no
/// config named.
struct Home {
    root: tempfile::TempDir,
}

impl Home {
    fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        for d in ["home", "xdg", "work"] {
            std::fs::create_dir(root.path().join(d)).unwrap();
        }
        Home { root }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.root.path().join(p)
    }

    /// `ticket ARGS` in `work/`, with `HOME=home/` and, when `xdg`, `XDG_DATA_HOME=xdg/`.
    fn run(&self, xdg: bool, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ticket"));
        cmd.args(args)
            .current_dir(self.path("work"))
            .env("HOME", self.path("home"))
            .env_remove("TICKET_CONFIG")
            .env_remove("ASANA_ACCESS_TOKEN");
        if xdg {
            cmd.env("XDG_DATA_HOME", self.path("xdg"));
        } else {
            cmd.env_remove("XDG_DATA_HOME");
        }
        cmd.output().unwrap()
    }

    #[track_caller]
    fn ok(&self, xdg: bool, args: &[&str]) -> (String, String) {
        let out = self.run(xdg, args);
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "ticket {args:?}: {stderr}");
        (String::from_utf8_lossy(&out.stdout).to_string(), stderr)
    }
}

/// Without a config file, `ticket` keeps tickets in `dir/ticket/tickets.db`, says so on
/// stderr when it creates that store, and not on later runs.
#[track_caller]
fn assert_default_store(home: &Home, xdg: bool, dir: &Path) {
    let store = dir.join("ticket").join("tickets.db");
    let (_, stderr) = home.ok(xdg, &["create", "--subject", "no config"]);
    assert!(store.is_file(), "no store at {}", store.display());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&store.display().to_string()), "{stderr}");
    let (stdout, stderr) = home.ok(xdg, &["--json", "list"]);
    assert!(stderr.is_empty(), "said again: {stderr}");
    let listed: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(listed[0]["subject"], "no config");
    assert!(
        !home.path("work/config").exists(),
        "wrote into the working folder"
    );
    // The store is named by `doctor`, every time.
    let (stdout, _) = home.ok(xdg, &["doctor"]);
    assert!(stdout.contains(&store.display().to_string()), "{stdout}");
}

#[test]
fn without_a_config_file_the_store_is_in_xdg_data_home() {
    let home = Home::new();
    assert_default_store(&home, true, &home.path("xdg"));
    assert!(!home.path("home/.local").exists());
}

#[test]
fn without_a_config_file_or_xdg_data_home_the_store_is_under_home() {
    let home = Home::new();
    assert_default_store(&home, false, &home.path("home/.local/share"));
}

#[test]
fn the_default_store_is_announced_once_when_processes_start_together() {
    for round in 0..3 {
        let home = Home::new();
        let runs: Vec<_> = (0..6)
            .map(|i| {
                let home = &home;
                let subject = format!("first {round}.{i}");
                let mut cmd = Command::new(env!("CARGO_BIN_EXE_ticket"));
                cmd.args(["create", "--subject", &subject])
                    .current_dir(home.path("work"))
                    .env("HOME", home.path("home"))
                    .env("XDG_DATA_HOME", home.path("xdg"))
                    .env_remove("TICKET_CONFIG")
                    .env_remove("ASANA_ACCESS_TOKEN")
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped());
                cmd.spawn().unwrap()
            })
            .collect();
        let outs: Vec<Output> = runs
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect();
        assert!(outs.iter().all(|o| o.status.success()), "{outs:?}");
        let announced = outs
            .iter()
            .filter(|o| String::from_utf8_lossy(&o.stderr).contains("created now"))
            .count();
        assert_eq!(announced, 1, "round {round}: {outs:?}");
    }
}

#[test]
fn a_named_config_file_that_does_not_exist_stays_an_error() {
    let home = Home::new();
    let missing = home.path("nope.yaml");
    let out = home.run(true, &["--config", missing.to_str().unwrap(), "list"]);
    assert_fails(&out, 4, &["nope.yaml"]);
    let out = Command::new(env!("CARGO_BIN_EXE_ticket"))
        .arg("list")
        .current_dir(home.path("work"))
        .env("TICKET_CONFIG", &missing)
        .env("XDG_DATA_HOME", home.path("xdg"))
        .output()
        .unwrap();
    assert_fails(&out, 4, &["nope.yaml"]);
    assert!(
        !home.path("xdg/ticket").exists(),
        "fell back to the default store"
    );
}

#[test]
fn init_writes_a_config_that_ticket_then_uses() {
    let home = Home::new();
    home.ok(true, &["create", "--subject", "before init"]);
    let (stdout, stderr) = home.ok(true, &["init"]);
    // The tickets made before are not forgotten: init says where they stay.
    let store = home.path("xdg/ticket/tickets.db");
    assert!(stderr.contains(&store.display().to_string()), "{stderr}");
    let written = home.path("work/config/config.yaml");
    assert!(stdout.contains("config/config.yaml"), "{stdout}");
    let text = std::fs::read_to_string(&written).unwrap();
    assert_valid_with_every_option(&text, "internal");
    // Only what `internal` reads: no Asana or sync keys.
    assert!(
        text.contains("# database_url:") && !text.contains("asana_base_url"),
        "{text}"
    );
    let (stdout, _) = home.ok(true, &["--json", "create", "--subject", "after init"]);
    let created: Value = serde_json::from_str(&stdout).unwrap();
    assert!(home.path("work/config/tickets.db").is_file());
    // The file's store, not the default one, which holds only the ticket made before.
    let (stdout, _) = home.ok(true, &["--json", "list"]);
    let listed: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["guid"], created["guid"]);
}

#[test]
fn init_writes_a_valid_file_for_every_provider() {
    for provider in ["internal", "asana", "sync"] {
        let home = Home::new();
        let (stdout, _) = home.ok(true, &["--json", "init", "--provider", provider]);
        let reported: Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(reported["provider"], provider);
        let text = std::fs::read_to_string(home.path("work/config/config.yaml")).unwrap();
        assert_valid_with_every_option(&text, provider);
        let required = text.contains("\n    asana_project: \"\"\n");
        assert_eq!(required, provider != "internal", "{text}");
        let sync_keys = text.contains("# sync_push_timeout_ms:");
        assert_eq!(sync_keys, provider == "sync", "{text}");
    }
    // --config names where it goes.
    let home = Home::new();
    let target = home.path("elsewhere/t.yaml");
    home.ok(true, &["--config", target.to_str().unwrap(), "init"]);
    assert!(target.is_file());
    assert!(!home.path("work/config").exists());
}

#[test]
fn init_never_overwrites_a_config_file() {
    let home = Home::new();
    home.ok(true, &["init"]);
    let path = home.path("work/config/config.yaml");
    std::fs::write(
        &path,
        "homechoice:\n  ticket:\n    provider: internal # mine\n",
    )
    .unwrap();
    let before = std::fs::read(&path).unwrap();
    for args in [&["init"][..], &["init", "--provider", "sync"]] {
        let out = home.run(true, args);
        assert_fails(&out, 7, &["already exists", "config/config.yaml"]);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            before,
            "init changed the file"
        );
    }
}

#[test]
fn init_with_an_unknown_provider_lists_the_available_ones() {
    let home = Home::new();
    let out = home.run(true, &["init", "--provider", "nope"]);
    assert_fails(&out, 2, &["nope", "internal", "asana", "sync"]);
    assert!(!home.path("work/config").exists(), "wrote something");
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
