//! Project automation in the cargo-xtask style: `cargo xtask <task>` (alias in
//! `.cargo/config.toml`).
//!
//! * `test-all`: formatting, a tidy check of the shipped dependency tree, clippy and the
//!   facade's registry test for each provider feature set (compiling only the facade and its
//!   providers), the `ticket` binary built with one provider, every test, and docs, each with
//!   warnings denied. Every step runs; a summary at the end lists what failed, and the exit
//!   code is non-zero if anything did. With `$XTASK_DURATIONS` set, each step's duration is
//!   appended to that file.
//! * `bench [--quick] [--json] [--write-readme]`: the benchmark figures, on demand (not part
//!   of `test-all`); `--write-readme` writes them to `crates/ticket-bench/README.md`.
//! * `simulate [--release] [--seeds N] [--first F] [--seed S] [--jobs J] [--without KIND]...
//!   [--known S,...] [--keep-going]`: seeded schedules of the sync simulation (crate
//!   `sync-sim`, whose documentation explains the options), with schedules per second; a
//!   failing seed prints the command that replays it and its shortest failing schedule.
//!   `--release` runs an optimised build (long runs; it compiles the workspace's
//!   dependencies once more). `test-all` runs [`CI_SIMULATED_SCHEDULES`] of them, debug.

use std::process::{Command, ExitCode};
use std::time::Instant;

/// One step of `test-all`: a name and what it runs.
struct Step {
    name: String,
    args: Vec<String>,
    env: Vec<(&'static str, &'static str)>,
    /// A check done by xtask itself instead of a cargo command.
    check: Option<fn() -> Result<(), String>>,
}

fn step(name: &str, args: &[&str]) -> Step {
    Step {
        name: name.to_string(),
        args: args.iter().map(|s| s.to_string()).collect(),
        env: Vec::new(),
        check: None,
    }
}

/// Provider feature sets of the facade crate that must each build, lint cleanly and pass the
/// facade's tests (among them: the registry holds exactly the enabled providers).
const FEATURE_SETS: &[(&str, &str)] = &[
    ("no provider", ""),
    ("provider-internal (sqlite)", "provider-internal,sqlite"),
    ("provider-internal (postgres)", "provider-internal,postgres"),
    ("provider-asana", "provider-asana"),
    ("provider-sync (sqlite)", "provider-sync,sqlite"),
    // Cargo unifies features: another crate may turn on the internal store's PostgreSQL
    // backend while provider-sync is built for SQLite alone.
    (
        "provider-sync (sqlite) beside provider-internal/postgres",
        "provider-sync,sqlite,provider-internal/postgres",
    ),
];

/// Crates that only tests may use: none of them may be in the normal (shipped) dependency
/// tree of the facade or of `ticket`.
const TEST_ONLY_CRATES: &[&str] = &[
    "proptest",
    "tempfile",
    "asana-fake",
    "ticket-provider-testkit",
    "ticket-tests",
    "quickcheck",
    "wiremock",
    "mockito",
];

/// The normal dependency trees of the shipped crates, checked for test-only crates.
fn tidy_shipped_dependencies() -> Result<(), String> {
    let mut problems = Vec::new();
    for package in ["homechoice-tickets", "ticket-cli"] {
        let out = cargo_command(
            &[
                "tree",
                "-e",
                "normal",
                "-p",
                package,
                "--all-features",
                "--prefix",
                "none",
                "--format",
                "{p}",
            ]
            .map(String::from),
            &[],
        )
        .output()
        .map_err(|e| format!("cannot run cargo tree: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "cargo tree -p {package} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        problems.extend(test_only_in_tree(
            package,
            &String::from_utf8_lossy(&out.stdout),
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// The test-only crates named in a `cargo tree --prefix none --format {p}` listing.
fn test_only_in_tree(package: &str, tree: &str) -> Vec<String> {
    let mut found: Vec<String> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| TEST_ONLY_CRATES.contains(name))
        .map(|name| {
            format!(
                "{name} is in the normal dependency tree of {package}; make it a dev-dependency"
            )
        })
        .collect();
    found.sort();
    found.dedup();
    found
}

/// `ticket` built with only the `provider-asana` feature lists exactly that provider (the
/// CLI's own linkage check; the facade's are the `registry` test per feature set).
fn ticket_with_asana_alone() -> Result<(), String> {
    let args = [
        "run",
        "--quiet",
        "-p",
        "ticket-cli",
        "--no-default-features",
        "--features",
        "provider-asana",
        "--",
        "--json",
        "providers",
    ]
    .map(String::from);
    let out = cargo_command(&args, &[])
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "ticket providers failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let names = provider_names(&String::from_utf8_lossy(&out.stdout));
    if names == ["asana"] {
        Ok(())
    } else {
        Err(format!(
            "ticket built with provider-asana alone lists {names:?}, expected [\"asana\"]"
        ))
    }
}

/// The `"name"` values of `ticket --json providers`' pretty-printed rows.
fn provider_names(json: &str) -> Vec<String> {
    json.lines()
        .filter_map(|l| l.trim().strip_prefix("\"name\": \""))
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_string)
        .collect()
}

fn test_all_steps() -> Vec<Step> {
    let mut steps = vec![step("fmt", &["fmt", "--all", "--", "--check"])];
    let mut tidy = step("tidy: no test-only crate ships", &[]);
    tidy.check = Some(tidy_shipped_dependencies);
    steps.push(tidy);
    // The linkage checks compile only the facade and the providers of each feature set.
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
        steps.push(step(
            &format!("test facade: {label}"),
            &[
                "test",
                "-p",
                "homechoice-tickets",
                "--no-default-features",
                "--features",
                features,
                "--test",
                "registry",
            ],
        ));
    }
    let mut alone = step("ticket built with provider-asana alone", &[]);
    alone.check = Some(ticket_with_asana_alone);
    steps.push(alone);
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
        &["test", "--workspace", "--all-features", "--no-fail-fast"],
    ));
    let seeds = CI_SIMULATED_SCHEDULES.to_string();
    steps.push(Step {
        name: format!("simulate: {seeds} sync schedules"),
        args: simulate_args(&["--seeds", &seeds, "--known", CI_KNOWN_FAILING_SEEDS]),
        env: Vec::new(),
        check: None,
    });
    let mut doc = step(
        "doc",
        &["doc", "--workspace", "--all-features", "--no-deps"],
    );
    doc.env.push(("RUSTDOCFLAGS", "-D warnings"));
    steps.push(doc);
    steps
}

fn cargo_command(args: &[String], env: &[(&str, &str)]) -> Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut cmd = Command::new(cargo);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn run_cargo(args: &[String], env: &[(&str, &str)]) -> bool {
    match cargo_command(args, env).status() {
        Ok(s) => s.success(),
        Err(e) => {
            eprintln!("xtask: cannot run cargo: {e}");
            false
        }
    }
}

/// Test totals read from libtest's `test result: ok. 12 passed; 0 failed; ...` lines.
#[derive(Default, Debug, PartialEq, Eq)]
struct TestTotals {
    passed: u64,
    failed: u64,
    ignored: u64,
}

impl TestTotals {
    fn add_line(&mut self, line: &str) {
        let Some(rest) = line.trim().strip_prefix("test result: ") else {
            return;
        };
        for part in rest.split([';', '.']) {
            let mut words = part.split_whitespace();
            if let (Some(n), Some(what)) = (words.next(), words.next()) {
                if let Ok(n) = n.parse::<u64>() {
                    match what {
                        "passed" => self.passed += n,
                        "failed" => self.failed += n,
                        "ignored" => self.ignored += n,
                        _ => {}
                    }
                }
            }
        }
    }
}

/// Runs cargo, echoing its output as it comes, and adds up libtest's result lines.
fn run_cargo_counting(args: &[String], env: &[(&str, &str)], totals: &mut TestTotals) -> bool {
    use std::io::{BufRead, BufReader, Write};
    let mut cmd = cargo_command(args, env);
    cmd.stdout(std::process::Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("xtask: cannot run cargo: {e}");
            return false;
        }
    };
    if let Some(out) = child.stdout.take() {
        let stdout = std::io::stdout();
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            totals.add_line(&line);
            let mut lock = stdout.lock();
            let _ = writeln!(lock, "{line}");
        }
    }
    child.wait().map(|s| s.success()).unwrap_or(false)
}

/// Appends `took  name` to the file named by `$XTASK_DURATIONS`, when set (`.ci/run` sets it
/// and prints the file at the end).
fn record_duration(name: &str, took: f64) {
    use std::io::Write;
    let Some(path) = std::env::var_os("XTASK_DURATIONS") else {
        return;
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path);
    if let Ok(mut f) = file {
        let _ = writeln!(f, "{took:8.1}s  {name}");
    }
}

fn test_all() -> ExitCode {
    let mut failed = Vec::new();
    let mut totals = TestTotals::default();
    let steps = test_all_steps();
    let total = steps.len();
    for (i, s) in steps.iter().enumerate() {
        eprintln!(
            "\n==> [{}/{total}] {}{}",
            i + 1,
            s.name,
            if s.check.is_some() {
                String::new()
            } else {
                format!(": cargo {}", s.args.join(" "))
            }
        );
        let started = Instant::now();
        let ok = if let Some(check) = s.check {
            match check() {
                Ok(()) => true,
                Err(e) => {
                    eprintln!("{e}");
                    false
                }
            }
        } else if s.args.first().map(String::as_str) == Some("test") {
            run_cargo_counting(&s.args, &s.env, &mut totals)
        } else {
            run_cargo(&s.args, &s.env)
        };
        let took = started.elapsed().as_secs_f64();
        eprintln!(
            "==> {} {} in {took:.1}s",
            s.name,
            if ok { "passed" } else { "FAILED" },
        );
        record_duration(
            &format!("test-all: {}{}", s.name, if ok { "" } else { " (FAILED)" }),
            took,
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
    // One plain closing line with the test totals of every test step.
    println!(
        "tests: {} passed, {} failed, {} skipped",
        totals.passed, totals.failed, totals.ignored
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// How many simulated schedules `test-all` runs (seeds 0 to 599, every step kind): about
/// 70–90 s on the 2-core machine (debug build, 170 ms of CPU a schedule; `crates/sync-sim`'s
/// documentation has the figures, and why CI does not build it with more optimisation).
/// With the webhook and change feed tests, `.ci/run` took 670 and 716 s with 1,200 schedules
/// and 776 s with 1,000 (the machine's speed varies by about 15 % between runs), against its
/// 12-minute goal. Seeds 0–3999 were run apart (see the crate's documentation).
const CI_SIMULATED_SCHEDULES: u32 = 600;

/// Seeds of that range that fail through an open defect (comma-separated; none today, see
/// `sync-sim`'s crate documentation): reported, not failing the run. Any other failing seed
/// fails `test-all`; a listed seed that passes says so.
const CI_KNOWN_FAILING_SEEDS: &str = "";

/// `cargo run` of the simulation with `rest` as its arguments: a debug build (it shares the
/// test build's artifacts), or an optimised one when `rest` holds `--release` (taken out of
/// the simulation's arguments).
fn simulate_args(rest: &[&str]) -> Vec<String> {
    let release = rest.contains(&"--release");
    let mut args: Vec<String> = vec!["run".into(), "--quiet".into()];
    if release {
        args.push("--release".into());
    }
    args.extend(["-p", "sync-sim", "--"].map(String::from));
    args.extend(
        rest.iter()
            .filter(|a| **a != "--release")
            .map(|s| s.to_string()),
    );
    args
}

fn simulate(rest: &[String]) -> ExitCode {
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    if run_cargo(&simulate_args(&rest), &[]) {
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
    args.extend(bench_args(rest));
    if run_cargo(&args, &[]) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The bench's arguments: `--write-readme` (`cargo xtask bench [--quick] --write-readme`)
/// becomes `--readme` with the figures page of ticket-bench (`crates/ticket-bench/README.md`),
/// written from the run's JSON.
fn bench_args(rest: &[String]) -> Vec<String> {
    let page = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../crates/ticket-bench/README.md"
    );
    rest.iter()
        .flat_map(|a| match a.as_str() {
            "--write-readme" => vec!["--readme".to_string(), page.to_string()],
            _ => vec![a.clone()],
        })
        .collect()
}

const USAGE: &str = "usage: cargo xtask <task>

tasks:
  test-all              fmt, tidy, clippy and facade tests per provider feature set,
                        all tests, docs
  bench [--quick] [--json] [--write-readme]
                        benchmark figures, each against a baseline measured in the same run;
                        --write-readme writes them to crates/ticket-bench/README.md
  simulate [--release] [--seeds N] [--first F] [--seed S] [--jobs J]
           [--without KIND]... [--known S,...] [--keep-going]
                        seeded schedules of the sync simulation; reports schedules/s,
                        and for a failing seed the replay command and a shrunk schedule";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("test-all") => test_all(),
        Some("bench") => bench(&args[1..]),
        Some("simulate") => simulate(&args[1..]),
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

#[cfg(test)]
mod tests {
    use super::{provider_names, simulate_args, test_only_in_tree, TestTotals};

    #[test]
    fn simulate_runs_a_release_build_only_when_asked() {
        assert_eq!(
            simulate_args(&["--seeds", "5"]).join(" "),
            "run --quiet -p sync-sim -- --seeds 5"
        );
        assert_eq!(
            simulate_args(&["--seeds", "5", "--release", "--jobs", "2"]).join(" "),
            "run --quiet --release -p sync-sim -- --seeds 5 --jobs 2"
        );
    }

    #[test]
    fn provider_names_are_read_from_the_rows() {
        let json = "[\n  {\n    \"name\": \"asana\",\n    \"capabilities\": [\n      \"create\"\n    ]\n  },\n  {\n    \"name\": \"sync\"\n  }\n]";
        assert_eq!(provider_names(json), ["asana", "sync"]);
        assert!(provider_names("[]").is_empty());
    }

    #[test]
    fn tidy_finds_test_only_crates_in_a_tree() {
        let tree = "ticket-cli v0.1.0 (/w/crates/ticket-cli)\nclap v4.5.1\nproptest v1.4.0\nproptest v1.4.0\nserde v1.0.1\n";
        assert_eq!(
            test_only_in_tree("ticket-cli", tree),
            vec![
                "proptest is in the normal dependency tree of ticket-cli; make it a dev-dependency"
            ]
        );
        assert!(test_only_in_tree("x", "serde v1\ntempfile-ish v1\n").is_empty());
    }

    #[test]
    fn totals_add_up_libtest_result_lines() {
        let mut t = TestTotals::default();
        t.add_line("test result: ok. 12 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s");
        t.add_line("test result: FAILED. 2 passed; 3 failed; 0 ignored; 0 measured; 0 filtered out; finished in 82.12s");
        t.add_line("running 3 tests");
        t.add_line("test foo ... ok");
        assert_eq!(
            t,
            TestTotals {
                passed: 14,
                failed: 3,
                ignored: 1
            }
        );
    }
}
