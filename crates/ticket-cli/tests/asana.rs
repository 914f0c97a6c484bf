//! The `ticket` binary with the `asana` provider against the local Asana-compatible server:
//! operations work end to end, `doctor` checks the setup, and the token never shows.

use std::path::PathBuf;
use std::process::Output;

use asana_fake::{FakeAsana, FakeOptions};
use serde_json::Value;

const TOKEN: &str = "cli-test-token-7f3a9c1e5d";

struct Setup {
    fake: FakeAsana,
    dir: tempfile::TempDir,
}

impl Setup {
    async fn new() -> Self {
        let fake = FakeAsana::start(FakeOptions {
            token: Some(TOKEN.into()),
            rate_limit_per_minute: None,
        })
        .await
        .unwrap();
        fake.add_user("Alice", "alice@example.com");
        let dir = tempfile::tempdir().unwrap();
        let s = Setup { fake, dir };
        s.write_config(&s.fake.project_gid());
        s
    }

    fn write_config(&self, project: &str) {
        std::fs::write(
            self.config(),
            format!(
                "homechoice:\n  ticket:\n    provider: asana\n    asana_project: \"{project}\"\n    asana_base_url: \"{}\"\n",
                self.fake.base_url()
            ),
        )
        .unwrap();
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("config.yaml")
    }

    /// Runs `ticket` on a blocking thread so the in-process server keeps serving.
    async fn run(&self, token: Option<&str>, args: &[&str]) -> Output {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ticket"));
        cmd.arg("--config")
            .arg(self.config())
            .args(args)
            .env("TICKET_LOG", "trace");
        match token {
            Some(t) => cmd.env("ASANA_ACCESS_TOKEN", t),
            None => cmd.env_remove("ASANA_ACCESS_TOKEN"),
        };
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap()
    }

    async fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run(Some(TOKEN), &all).await;
        assert_no_token(&out);
        assert!(
            out.status.success(),
            "ticket {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

#[track_caller]
fn assert_no_token(out: &Output) {
    for stream in [&out.stdout, &out.stderr] {
        let text = String::from_utf8_lossy(stream);
        assert!(
            !text.contains(TOKEN) && !text.contains("7f3a9c1e5d"),
            "the token leaked: {text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_work_through_the_cli_against_the_local_server() {
    let s = Setup::new().await;
    let created = s
        .json(&[
            "create",
            "--subject",
            "Printer on fire",
            "--priority",
            "high",
            "--assignee",
            "alice@example.com",
        ])
        .await;
    assert_eq!(created["provider"], "asana");
    assert_eq!(created["status"], "NEW");
    let gid = created["guid"].as_str().unwrap().to_string();
    assert!(
        gid.chars().all(|c| c.is_ascii_digit()),
        "guid is the task gid: {gid}"
    );

    assert_eq!(
        s.json(&["status", &gid, "in-progress"]).await["status"],
        "IN_PROGRESS"
    );
    let c = s.json(&["comment", &gid, "Called the user back."]).await;
    assert!(c["comment_guid"].is_string());
    let t = s.json(&["get", &gid]).await;
    assert_eq!(t["subject"], "Printer on fire");
    assert_eq!(t["priority"], "high");
    assert_eq!(t["assignee"], "alice@example.com");
    assert_eq!(t["comments"].as_array().unwrap().len(), 1);
    let listed = s.json(&["list", "--status", "IN_PROGRESS"]).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);

    // What the CLI did is what Asana holds.
    let tasks = s.fake.project_tasks(&s.fake.project_gid());
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].section_name.as_deref(), Some("In Progress"));
    assert_eq!(tasks[0].comments.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_problems_are_clear_and_never_print_the_token() {
    let s = Setup::new().await;
    let out = s.run(None, &["list"]).await;
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("ASANA_ACCESS_TOKEN"));

    let out = s
        .run(
            Some("wrong-token-but-7f3a9c1e5d"),
            &["create", "--subject", "x"],
        )
        .await;
    assert_eq!(
        out.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ASANA_ACCESS_TOKEN"), "{stderr}");
    assert_no_token(&out);
    assert!(
        s.fake.project_tasks(&s.fake.project_gid()).is_empty(),
        "a refused create wrote a task"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_checks_token_project_and_sections() {
    let s = Setup::new().await;
    let out = s.run(Some(TOKEN), &["--json", "doctor"]).await;
    assert_no_token(&out);
    let checks: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(out.status.success(), "{checks:#}");
    assert!(checks.as_array().unwrap().len() >= 4, "{checks:#}");

    let out = s.run(None, &["doctor"]).await;
    assert_ne!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("FAIL") && text.contains("ASANA_ACCESS_TOKEN"),
        "{text}"
    );

    s.write_config("999999999999");
    let out = s.run(Some(TOKEN), &["doctor"]).await;
    assert_ne!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("FAIL") && text.contains("999999999999"),
        "{text}"
    );
}
