//! `ticket providers --json` lists exactly the providers this build's features turn on, each
//! with its description, crate and capabilities. (`cargo xtask test-all` also builds `ticket`
//! with only `provider-asana` and checks that it lists exactly that provider.)

use std::process::Command;

use serde_json::Value;

fn enabled() -> Vec<&'static str> {
    let mut names = Vec::new();
    if cfg!(feature = "provider-asana") {
        names.push("asana");
    }
    if cfg!(feature = "provider-internal") {
        names.push("internal");
    }
    if cfg!(feature = "provider-sync") {
        names.push("sync");
    }
    names
}

#[test]
fn providers_json_lists_exactly_the_enabled_providers_with_capabilities() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ticket"))
        .args(["--json", "providers"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, enabled());
    for row in &rows {
        let caps: Vec<&str> = row["capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        for op in ["create", "get_ticket", "list_tickets", "escalate"] {
            assert!(caps.contains(&op), "{row}");
        }
        let (history, sync) = match row["name"].as_str().unwrap() {
            "internal" => (true, false),
            "asana" => (false, false),
            "sync" => (true, true),
            other => panic!("unexpected provider {other}"),
        };
        assert_eq!(caps.contains(&"history"), history, "{row}");
        assert_eq!(caps.contains(&"sync_maintenance"), sync, "{row}");
        assert!(
            row["crate"].as_str().unwrap().starts_with("provider-"),
            "{row}"
        );
        assert!(!row["description"].as_str().unwrap().is_empty(), "{row}");
    }
    // Nothing was written where the command ran.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
