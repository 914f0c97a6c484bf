//! `sync-sim [--seeds N] [--first F] [--seed S] [--jobs J] [--without KIND]... [--known S,...]
//! [--keep-going]`: runs seeded schedules of the sync simulation (see the crate
//! documentation) and reports schedules per second. `--without` leaves a kind of step out
//! (`people`, `faults`, `crashes`, `restores`); a replay needs the same `--without`s.
//! `--known` lists seeds of open defects: their failures are printed but do not fail the
//! run (any other failing seed does). Run it as `cargo xtask simulate`. Schedules run on
//! `J` threads (default 4: a schedule waits on loopback and SQLite about half of its time),
//! each on a runtime of its own, so a schedule's trace does not depend on `J`. A failure prints the command that
//! replays its seed and the shortest failing schedule greedy shrinking finds.
//!
//! `SYNC_SIM_LOG` (a `tracing` filter, e.g. `SYNC_SIM_LOG=provider_sync=debug`) prints the
//! logs of the engine and of the simulation's steps on stderr; see the crate documentation.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

struct Args {
    first: u64,
    count: u64,
    one: bool,
    jobs: usize,
    keep_going: bool,
    mix: sync_sim::Mix,
    known: Vec<u64>,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut a = Args {
        first: 0,
        count: 200,
        one: false,
        jobs: 4,
        keep_going: false,
        mix: sync_sim::Mix::ALL,
        known: Vec::new(),
    };
    let mut i = 0;
    while i < args.len() {
        let flag = args[i].as_str();
        if flag == "--keep-going" {
            a.keep_going = true;
            i += 1;
            continue;
        }
        if flag == "--known" {
            let v = args.get(i + 1).ok_or("--known needs a list of seeds")?;
            for part in v.split(',').filter(|p| !p.is_empty()) {
                a.known.push(
                    part.trim()
                        .parse()
                        .map_err(|_| format!("--known: {part:?} is not a seed"))?,
                );
            }
            i += 2;
            continue;
        }
        if flag == "--without" {
            let v = args.get(i + 1).ok_or("--without needs a step kind")?;
            match v.as_str() {
                "people" => a.mix.people = false,
                "faults" => a.mix.faults = false,
                "crashes" => a.mix.crashes = false,
                "restores" => a.mix.restores = false,
                other => {
                    return Err(format!(
                        "--without {other:?}: the kinds are people, faults, crashes, restores"
                    ))
                }
            }
            i += 2;
            continue;
        }
        let v = args
            .get(i + 1)
            .ok_or_else(|| format!("{flag} needs a number"))?;
        let n = v
            .parse::<u64>()
            .map_err(|_| format!("{flag}: {v:?} is not a whole number"))?;
        match flag {
            "--seeds" => a.count = n,
            "--first" => a.first = n,
            "--seed" => {
                a.first = n;
                a.count = 1;
                a.one = true;
            }
            "--jobs" if n >= 1 => a.jobs = n as usize,
            "--jobs" => return Err("--jobs must be at least 1".into()),
            other => {
                return Err(format!(
                    "unknown argument {other:?}; usage: simulate [--seeds N] [--first F] [--seed S] [--jobs J] [--without KIND]... [--known S,S,...] [--keep-going]"
                ))
            }
        }
        i += 2;
    }
    Ok(a)
}

/// The environment variable that turns the logs on: a `tracing` filter.
const LOG_VAR: &str = "SYNC_SIM_LOG";

/// Installs a `tracing` subscriber printing to stderr when [`LOG_VAR`] is set (and not
/// empty); nothing is logged otherwise. A filter that does not parse is an error.
fn init_logs() -> Result<(), String> {
    let Some(filter) = std::env::var_os(LOG_VAR) else {
        return Ok(());
    };
    let filter = filter
        .into_string()
        .map_err(|_| format!("{LOG_VAR} is not valid UTF-8"))?;
    if filter.trim().is_empty() {
        return Ok(());
    }
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .map_err(|e| format!("{LOG_VAR}={filter:?} is not a tracing filter: {e}"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init()
        .map_err(|e| format!("cannot install the {LOG_VAR} logger: {e}"))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = init_logs() {
        eprintln!("simulate: {e}");
        return ExitCode::from(2);
    }
    let a = match parse(&args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("simulate: {e}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let next = AtomicU64::new(a.first);
    let end = a.first.saturating_add(a.count);
    let stop = AtomicBool::new(false);
    let ran = AtomicU64::new(0);
    let known = AtomicU64::new(0);
    let failed: Mutex<Vec<(u64, String)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..a.jobs.min(a.count.max(1) as usize) {
            s.spawn(|| loop {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let seed = next.fetch_add(1, Ordering::SeqCst);
                if seed >= end {
                    return;
                }
                let outcome = {
                    let _seed = tracing::info_span!("schedule", seed).entered();
                    sync_sim::run(&sync_sim::schedule_with(seed, a.mix))
                };
                ran.fetch_add(1, Ordering::SeqCst);
                if outcome.failure.is_none() && a.known.contains(&seed) {
                    eprintln!(
                        "simulate: known failing seed {seed} passes now: take it off --known"
                    );
                }
                if a.one {
                    for line in &outcome.trace {
                        println!("{line}");
                    }
                }
                if let Some(f) = outcome.failure {
                    if a.known.contains(&seed) {
                        eprintln!("simulate: seed {seed} fails, a known open defect: {f}");
                        known.fetch_add(1, Ordering::SeqCst);
                        continue;
                    }
                    eprintln!("simulate: seed {seed} FAILED: {f}");
                    if let Ok(mut v) = failed.lock() {
                        v.push((seed, f));
                    }
                    if !a.keep_going {
                        stop.store(true, Ordering::SeqCst);
                    }
                }
            });
        }
    });
    let secs = started.elapsed().as_secs_f64();
    let ran = ran.load(Ordering::SeqCst);
    let rate = ran as f64 / secs.max(1e-9);
    let mut failed = failed.into_inner().unwrap_or_default();
    failed.sort();
    let known = known.load(Ordering::SeqCst);
    if failed.is_empty() {
        println!(
            "simulate: {} schedule(s) passed, {known} failed through known open defects",
            ran - known
        );
        println!(
            "simulate: {ran} schedule(s) ran in {secs:.1} s ({rate:.1} schedules/s, {} thread(s))",
            a.jobs
        );
        return ExitCode::SUCCESS;
    }
    let mut kinds: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for (seed, f) in &failed {
        kinds
            .entry(sync_sim::failure_kind(f))
            .or_default()
            .push(*seed);
    }
    for (kind, seeds) in &kinds {
        eprintln!(
            "  {} seed(s), e.g. {:?}: {kind}",
            seeds.len(),
            &seeds[..seeds.len().min(6)]
        );
    }
    eprintln!(
        "simulate: {} of {ran} schedule(s) FAILED in {secs:.1} s ({rate:.1} schedules/s)",
        failed.len()
    );
    let (seed, _) = &failed[0];
    let without: String = [
        (a.mix.people, "people"),
        (a.mix.faults, "faults"),
        (a.mix.crashes, "crashes"),
        (a.mix.restores, "restores"),
    ]
    .iter()
    .filter(|(on, _)| !on)
    .map(|(_, k)| format!(" --without {k}"))
    .collect();
    eprintln!("replay with: cargo xtask simulate --seed {seed}{without}");
    // Shrinking runs the schedule hundreds of times: its logs would bury the failing run's.
    let short =
        tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::default(), || {
            sync_sim::shrink(&sync_sim::schedule_with(*seed, a.mix), 300)
        });
    eprintln!("shortest failing schedule found ({} steps):", short.len());
    for s in &short {
        eprintln!("  {s}");
    }
    ExitCode::FAILURE
}
