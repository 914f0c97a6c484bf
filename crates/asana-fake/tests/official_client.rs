//! Asana's official Python client (`asana` 5.4.0) drives the fake through a scenario of every
//! kind of request the providers make (`tests/python/official_client.py`): what the real
//! client sends, the fake accepts, and what the fake answers, the client decodes.
//!
//! Needs a Python with the package installed, named by `TICKET_TEST_ASANA_PYTHON`
//! (`.ci/run` makes one); without it the test says it was skipped.

use std::path::Path;
use std::process::Command;

use asana_fake::{FakeAsana, FakeOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_python_client_runs_a_scenario_against_the_fake() {
    let Some(python) = std::env::var_os("TICKET_TEST_ASANA_PYTHON") else {
        eprintln!("skipped: set TICKET_TEST_ASANA_PYTHON to a Python with asana==5.4.0");
        return;
    };
    let fake = FakeAsana::start(FakeOptions {
        token: Some("official-client-token".into()),
        rate_limit_per_minute: None,
    })
    .await
    .unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/official_client.py");
    let mut cmd = Command::new(python);
    cmd.arg(script)
        .env("BASE_URL", fake.base_url())
        .env("TOKEN", "official-client-token")
        .env("WORKSPACE", fake.workspace_gid())
        .env("PROJECT", fake.project_gid());
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "the official client's scenario failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
