//! Project automation in the cargo-xtask style: `cargo xtask <task>` (alias in
//! `.cargo/config.toml`).
//!
//! * `test-all [--keep-going is the default]`: formatting, clippy for each provider feature
//!   alone and all together, every test, and docs, each with warnings denied. Every step
//!   runs; a summary at the end lists what failed, and the exit code is non-zero if anything did.
//! * `bench [--quick] [--json]`: the benchmark figures (see README).

use std::process::{Command, ExitCode};
use std::time::Instant;

/// One step of `test-all`: a name and the cargo arguments.
struct Step {
    name: String,
    args: Vec<String>,
    env: Vec<(&'static str, &'static str)>,
}

fn step(name: &str, args: &[&str]) -> Step {
    Step {
        name: name.to_string(),
        args: args.iter().map(|s| s.to_string()).collect(),
        env: Vec::new(),
    }
}

/// Provider feature sets of the facade crate that must each build and lint cleanly alone.
const FEATURE_SETS: &[(&str, &str)] = &[
    ("provider-internal (sqlite)", "provider-internal,sqlite"),
    ("provider-internal (postgres)", "provider-internal,postgres"),
    ("provider-asana", "provider-asana"),
    ("provider-sync (sqlite)", "provider-sync,sqlite"),
];

fn test_all_steps() -> Vec<Step> {
    let mut steps = vec![step("fmt", &["fmt", "--all", "--", "--check"])];
    for (label, features) in FEATURE_SETS {
        steps.push(step(
            &format!("clippy facade: {label}"),
            &[
                "clippy",
                "-p",
                "homechoice-tickets",
                "--no-default-features",
                "--features",
                features,
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
        ));
    }
    steps.push(step(
        "clippy: workspace, all features",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ],
    ));
    steps.push(step(
        "test: workspace, all features",
        &["test", "--workspace", "--all-features"],
    ));
    let mut doc = step(
        "doc",
        &["doc", "--workspace", "--all-features", "--no-deps"],
    );
    doc.env.push(("RUSTDOCFLAGS", "-D warnings"));
    steps.push(doc);
    steps
}

fn run_cargo(args: &[String], env: &[(&str, &str)]) -> bool {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut cmd = Command::new(cargo);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    match cmd.status() {
        Ok(s) => s.success(),
        Err(e) => {
            eprintln!("xtask: cannot run cargo: {e}");
            false
        }
    }
}

fn test_all() -> ExitCode {
    let mut failed = Vec::new();
    let steps = test_all_steps();
    let total = steps.len();
    for (i, s) in steps.iter().enumerate() {
        eprintln!(
            "\n==> [{}/{total}] {}: cargo {}",
            i + 1,
            s.name,
            s.args.join(" ")
        );
        let started = Instant::now();
        let ok = run_cargo(&s.args, &s.env);
        eprintln!(
            "==> {} {} in {:.1}s",
            s.name,
            if ok { "passed" } else { "FAILED" },
            started.elapsed().as_secs_f64()
        );
        if !ok {
            failed.push(s.name.clone());
        }
    }
    eprintln!(
        "\n==> test-all summary: {} of {total} steps passed",
        total - failed.len()
    );
    for f in &failed {
        eprintln!("    FAILED: {f}");
    }
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn bench(rest: &[String]) -> ExitCode {
    let mut args: Vec<String> = ["run", "--release", "--quiet", "-p", "ticket-bench", "--"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(rest.iter().cloned());
    if run_cargo(&args, &[]) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

const USAGE: &str = "usage: cargo xtask <task>

tasks:
  test-all              fmt, clippy per provider feature and all together, tests, docs
  bench [--quick] [--json]
                        benchmark figures, each against a baseline measured in the same run";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("test-all") => test_all(),
        Some("bench") => bench(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("xtask: unknown task {other:?}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}
