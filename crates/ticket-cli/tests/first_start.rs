//! Many `ticket` processes starting at once on a database nobody has used yet: every one of
//! them succeeds (issue #11: concurrent first starts raced to run the migrations and some
//! failed with "table data_ticket already exists" or a duplicate `pg_type` key).

use std::path::Path;
use std::process::{Command, Stdio};

/// Processes started at once.
const PROCESSES: usize = 8;

/// Writes a config for the internal provider on `database_url` into `dir`.
fn write_config(dir: &Path, database_url: &str) -> std::path::PathBuf {
    let path = dir.join("config.yaml");
    std::fs::write(
        &path,
        format!("homechoice:\n  ticket:\n    provider: internal\n    database_url: \"{database_url}\"\n"),
    )
    .unwrap();
    path
}

/// Starts [`PROCESSES`] `ticket create` processes together, waits for all, and returns the
/// failures (exit status and stderr), if any.
fn start_together(config: &Path) -> Vec<String> {
    let children: Vec<_> = (0..PROCESSES)
        .map(|i| {
            Command::new(env!("CARGO_BIN_EXE_ticket"))
                .arg("--config")
                .arg(config)
                .args(["--json", "create", "--subject"])
                .arg(format!("first start {i}"))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .filter(|o| !o.status.success())
        .map(|o| format!("{}: {}", o.status, String::from_utf8_lossy(&o.stderr)))
        .collect()
}

/// The number of tickets `ticket list` reports.
fn ticket_count(config: &Path) -> usize {
    let out = Command::new(env!("CARGO_BIN_EXE_ticket"))
        .arg("--config")
        .arg(config)
        .args(["--json", "list", "--limit", "1000"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array().map_or(0, Vec::len)
}

#[test]
fn concurrent_first_start_on_a_new_sqlite_file() {
    // Several rounds, each on a new file: one lucky round proves little.
    for round in 0..4 {
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(dir.path(), "tickets.db");
        let failures = start_together(&config);
        assert!(
            failures.is_empty(),
            "round {round}: {} of {PROCESSES} processes failed:\n{}",
            failures.len(),
            failures.join("\n")
        );
        assert_eq!(ticket_count(&config), PROCESSES, "round {round}");
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use crate::common::postgres::TestDb;

    #[test]
    fn concurrent_first_start_on_a_new_postgres_database() {
        for round in 0..4 {
            let Some(db) = TestDb::create(&format!("first_start_{round}")) else {
                return;
            };
            let dir = tempfile::tempdir().unwrap();
            let config = super::write_config(dir.path(), &db.url);
            let failures = super::start_together(&config);
            assert!(
                failures.is_empty(),
                "round {round}: {} of {} processes failed:\n{}",
                failures.len(),
                super::PROCESSES,
                failures.join("\n")
            );
            assert_eq!(
                super::ticket_count(&config),
                super::PROCESSES,
                "round {round}"
            );
        }
    }
}
