//! Issue #11, defect 2: `ticket` must never panic or abort at exit while a push is still
//! running, and its exit status must tell whether the change was committed.
//!
//! Hundreds of short-lived `ticket` invocations (create, update, status, comment) with
//! `sync_push_timeout_ms: 0` (the push runs after the result is printed) while Asana answers
//! after various delays, a few processes at a time, on SQLite and on PostgreSQL. Half of them
//! leave pushes almost no shutdown grace, so pushes are also stopped mid-request. Then:
//! no "panicked" in any stderr, no process killed by a signal, and exit 0 exactly for the
//! changes the store holds.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use asana_fake::{FakeAsana, FakeOptions};
use homechoice_tickets::provider_asana::ASANA_TOKEN_ENV;
use serde_json::Value;

const TOKEN: &str = "exit-test-token-7e21";

/// Invocations per engine.
const INVOCATIONS: usize = 240;

/// Processes running at once.
const AT_ONCE: usize = 4;

/// Asana's answer delays, cycled per group of processes.
const LATENCIES_MS: [u64; 4] = [0, 25, 120, 400];

/// One invocation and what it should change.
#[derive(Debug, Clone)]
enum Change {
    Create { subject: String },
    Update { guid: String, subject: String },
    Status { guid: String },
    Comment { guid: String, body: String },
}

impl Change {
    fn args(&self) -> Vec<String> {
        let s = |x: &str| x.to_string();
        match self {
            Change::Create { subject } => vec![s("create"), s("--subject"), subject.clone()],
            Change::Update { guid, subject } => {
                vec![s("update"), guid.clone(), s("--subject"), subject.clone()]
            }
            // Always a history row, so the rows count the committed invocations.
            Change::Status { guid } => vec![s("status"), guid.clone(), s("in_progress")],
            Change::Comment { guid, body } => vec![s("comment"), guid.clone(), body.clone()],
        }
    }
}

/// Two configs for one store: the default shutdown grace, and almost none.
fn write_configs(dir: &Path, fake: &FakeAsana, database_url: &str) -> [PathBuf; 2] {
    [("patient", 5000), ("hasty", 1)].map(|(name, grace)| {
        let path = dir.join(format!("{name}.yaml"));
        std::fs::write(
            &path,
            format!(
                "homechoice:\n  ticket:\n    provider: sync\n    asana_project: \"{}\"\n    asana_base_url: \"{}\"\n    database_url: \"{database_url}\"\n    sync_push_timeout_ms: 0\n    sync_shutdown_grace_ms: {grace}\n    sync_claim_ttl_ms: 2000\n    asana_timeout_ms: 3000\n",
                fake.project_gid(),
                fake.base_url()
            ),
        )
        .unwrap();
        path
    })
}

fn ticket(config: &Path, args: &[String]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ticket"));
    cmd.arg("--config")
        .arg(config)
        .arg("--json")
        .args(args)
        .env(ASANA_TOKEN_ENV, TOKEN)
        .env_remove("TICKET_LOG");
    cmd
}

/// Runs `ticket` to the end and returns its JSON output; the run must succeed.
fn json(config: &Path, args: &[&str]) -> Value {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let out = ticket(config, &args).output().unwrap();
    assert!(
        out.status.success(),
        "ticket {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The invocations: creates first among them, then a mix on a few tickets.
fn plan(tag: &str, guids: &[String]) -> Vec<Change> {
    (0..INVOCATIONS)
        .map(|i| {
            let guid = guids[i % guids.len()].clone();
            let mark = format!("{tag}-{i}");
            match i % 4 {
                0 => Change::Create { subject: mark },
                1 => Change::Update {
                    guid,
                    subject: mark,
                },
                2 => Change::Status { guid },
                _ => Change::Comment { guid, body: mark },
            }
        })
        .collect()
}

/// What went wrong with one invocation's process, if anything.
fn process_problem(change: &Change, out: &Output) -> Option<String> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("panicked") {
        return Some(format!("{change:?} panicked: {stderr}"));
    }
    if let Some(sig) = out.status.signal() {
        return Some(format!(
            "{change:?} died of signal {sig} (core dumped: {}): {stderr}",
            out.status.core_dumped()
        ));
    }
    None
}

/// Runs everything against `database_url` and checks the outcome.
async fn run_engine(tag: &str, database_url: &str) {
    let fake = FakeAsana::start(FakeOptions {
        token: Some(TOKEN.into()),
        rate_limit_per_minute: None,
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let configs = write_configs(dir.path(), &fake, database_url);
    let started = Instant::now();

    let guids: Vec<String> = (0..4)
        .map(|i| {
            let r = json(
                &configs[0],
                &["create", "--subject", &format!("{tag} base {i}")],
            );
            r["guid"].as_str().unwrap().to_string()
        })
        .collect();
    let changes = plan(tag, &guids);

    let mut results: Vec<(Change, Output)> = Vec::with_capacity(changes.len());
    for (group, chunk) in changes.chunks(AT_ONCE).enumerate() {
        fake.set_latency(Duration::from_millis(
            LATENCIES_MS[group % LATENCIES_MS.len()],
        ));
        let config = configs[group % 2].clone();
        let chunk = chunk.to_vec();
        let outs = tokio::task::spawn_blocking(move || {
            let children: Vec<_> = chunk
                .iter()
                .map(|c| {
                    ticket(&config, &c.args())
                        .stdout(std::process::Stdio::piped())
                        .stderr(std::process::Stdio::piped())
                        .spawn()
                        .unwrap()
                })
                .collect();
            chunk
                .into_iter()
                .zip(children)
                .map(|(c, child)| (c, child.wait_with_output().unwrap()))
                .collect::<Vec<_>>()
        })
        .await
        .unwrap();
        results.extend(outs);
    }
    fake.set_latency(Duration::ZERO);
    let elapsed = started.elapsed();

    let problems: Vec<String> = results
        .iter()
        .filter_map(|(c, o)| process_problem(c, o))
        .collect();
    let failed = results.iter().filter(|(_, o)| !o.status.success()).count();
    println!(
        "{tag}: {} invocations in {elapsed:?}, {failed} exited non-zero, {} panicked or died of a signal",
        results.len(),
        problems.len()
    );
    assert!(
        problems.is_empty(),
        "{} of {} invocations panicked or died:\n{}",
        problems.len(),
        results.len(),
        problems.join("\n")
    );

    // The exit status tells whether the change is in the store.
    let listed = json(&configs[0], &["list", "--limit", "1000"]);
    let subjects: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["subject"].as_str())
        .collect();
    let mut history = std::collections::HashMap::new();
    let mut comments = std::collections::HashMap::new();
    for g in &guids {
        history.insert(g.clone(), json(&configs[0], &["history", g]));
        comments.insert(
            g.clone(),
            json(&configs[0], &["get", g])["comments"].clone(),
        );
    }
    let mut status_ok = std::collections::HashMap::<&str, usize>::new();
    let mut wrong = Vec::new();
    for (c, o) in &results {
        let ok = o.status.success();
        let stored = match c {
            Change::Create { subject } => subjects.contains(&subject.as_str()),
            Change::Update { guid, subject } => history[guid]
                .as_array()
                .unwrap()
                .iter()
                .any(|h| h["field"] == "subject" && h["new_value"] == subject.as_str()),
            Change::Comment { guid, body } => comments[guid]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["body"] == body.as_str()),
            Change::Status { guid } => {
                *status_ok.entry(guid).or_default() += usize::from(ok);
                continue;
            }
        };
        if ok != stored {
            wrong.push(format!(
                "{c:?}: exit {:?} but the change is {}in the store; stderr: {}",
                o.status.code(),
                if stored { "" } else { "not " },
                String::from_utf8_lossy(&o.stderr)
            ));
        }
    }
    for g in &guids {
        let rows = history[g]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h["field"] == "status")
            .count();
        let ok = status_ok.get(g.as_str()).copied().unwrap_or(0);
        if rows != ok {
            wrong.push(format!(
                "ticket {g}: {ok} status invocations exited 0, {rows} status changes stored"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_lived_commands_on_sqlite_exit_cleanly_and_truthfully() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("exit.db").display());
    run_engine("sqlite", &url).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_lived_commands_on_postgres_exit_cleanly_and_truthfully() {
    let Some(db) = crate::common::postgres::TestDb::create("exit") else {
        return;
    };
    run_engine("postgres", &db.url).await;
}
