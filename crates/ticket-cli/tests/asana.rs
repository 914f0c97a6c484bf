//! The `ticket` binary with the `asana` provider against the local Asana-compatible server:
//! operations work end to end, `doctor` checks the setup, and the token never shows.

use crate::common;

use common::{assert_no_token, Setup, ASANA_TOKEN as TOKEN};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_work_through_the_cli_against_the_local_server() {
    let s = Setup::asana().await;
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
    let s = Setup::asana().await;
    let out = s.run_with_token(None, &["list"]).await;
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("ASANA_ACCESS_TOKEN"));

    let out = s
        .run_with_token(
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
    assert_no_token(&out, TOKEN);
    assert!(
        s.fake.project_tasks(&s.fake.project_gid()).is_empty(),
        "a refused create wrote a task"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_checks_token_project_and_sections() {
    let s = Setup::asana().await;
    let out = s.run(&["--json", "doctor"]).await;
    assert_no_token(&out, TOKEN);
    let checks: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(out.status.success(), "{checks:#}");
    assert!(checks.as_array().unwrap().len() >= 4, "{checks:#}");

    let out = s.run_with_token(None, &["doctor"]).await;
    assert_ne!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("FAIL") && text.contains("ASANA_ACCESS_TOKEN"),
        "{text}"
    );

    s.write_config("asana", "999999999999", "");
    let out = s.run(&["doctor"]).await;
    assert_ne!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("FAIL") && text.contains("999999999999"),
        "{text}"
    );
}
