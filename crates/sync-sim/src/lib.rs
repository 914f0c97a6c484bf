//! A deterministic, seeded simulation of the whole sync.
//!
//! One seed draws a schedule ([`schedule::generate`]); [`run`] plays it against one SQLite
//! store file, an in-process [`asana_fake::FakeAsana`] and three `provider-sync` instances
//! on that store, then stops the faults, lets the sync settle ([`check::settle`]) and checks
//! the invariants ([`check::invariants`]). The store file lives in `/dev/shm` where there is
//! one, and starts as a copy of an empty store migrated once per process. Every step runs
//! to completion before the next
//! one starts, on one current-thread tokio runtime, and yields one line of the trace; the
//! same seed gives the same trace (a test compares two runs). A failing seed is replayed by
//! `cargo xtask simulate --seed S`, which also prints the shortest failing schedule that
//! greedy removal of steps finds ([`shrink`]).
//!
//! # Logs
//!
//! `SYNC_SIM_LOG` turns on the `tracing` logs of the engine in the `sync-sim` binary: its
//! value is a filter in `tracing-subscriber`'s `EnvFilter` syntax, and the logs go to stderr,
//! e.g. `SYNC_SIM_LOG=provider_sync=debug,sync_sim=info cargo xtask simulate --seed 117`.
//! Target `sync_sim` logs each step before it runs and what it gave, so the engine's lines
//! fall between them; lines logged on the schedule's own thread carry the span
//! `schedule{seed=S}` (those of the store's blocking threads do not). Unset or empty,
//! nothing is logged (the default: logs cost time). A filter that does not parse stops the
//! binary with exit code 2. With several `--jobs` the lines of schedules running at once
//! interleave, so replay one seed (`--seed S`); the runs of shrinking are not logged.
//! `SYNC_SIM_TIMING` (any value) prints how long each step, the world's start, the
//! settling and the invariants took, in milliseconds, on stderr.
//!
//! # What is modelled
//!
//! * **Local operations** on every instance: `create`, `update` (subject, description),
//!   `change_status`, `add_comment`.
//! * **The worker's steps**, in any order between operations: `flush` (its push step) and
//!   `pull_all` (its pull step; a full read after event tokens expire), and the firing of an
//!   instance's group-commit timer (its deferred push records land).
//! * **People in Asana** (through [`asana_fake::FakeAsana::edit_as_person`], so their edits
//!   meet no fault): renames, notes, section moves, ticking and unticking `completed`,
//!   comments (as another user), deleting tasks and removing them from the project.
//! * **Asana faults** on the next 1–3 requests of a kind: 500, 503, 429, a 500 after the
//!   change was applied (the answer is lost), a delayed answer; expired event tokens.
//! * **Crashes**: an instance is dropped with everything in memory (the push records still
//!   waiting for their transaction included) and a new one starts on the same store; the
//!   dead instance's claims expire at once (as after the claim TTL).
//! * **Restores**: consistent copies of the store file are taken (`VACUUM INTO`); a restore
//!   stops every instance, puts a copy in place of the file and starts them again.
//!
//! # Invariants, after the faults stop and the sync settles
//!
//! * `verify` finds no difference and no orphan, and no ticket is left pending;
//! * `sync status` reports nothing pending, set aside or lost, and every ticket says
//!   `synced`;
//! * no task carries a ticket's marker twice, no task or ticket has a comment twice (a
//!   conflict note at most as often as people gave its field the value it names), every
//!   task belongs to a ticket and every ticket has a task in the project;
//! * no accepted change is lost: every accepted local comment is on its ticket and its task,
//!   every comment a person wrote on a task still in the project is on its ticket, and the
//!   last accepted local write of a field is its value;
//! * nothing is overwritten without a conflict record: when a person's edit was the last
//!   write of a field, the field holds it or a `sync` conflict note names it; and never by
//!   a local change Asana already had when the store was restored (a replayed change);
//! * history agrees with the state: the last history row of subject, description and
//!   status holds the ticket's value;
//! * nothing panics (a panic is a failure of the schedule, with its message).
//!
//! # What is not modelled
//!
//! * **Time.** The engine reads wall-clock time for its circuit breaker, claim leases, the
//!   group commit's delay and pull/push ordering. Instead of a simulated clock, the
//!   instances run with settings under which no outcome depends on it
//!   ([`world::sim_settings`]): the breaker never opens, an operation waits for its push,
//!   flushes push one ticket at a time, claims do not expire by themselves (a crash expires
//!   them), and deferred push records land only with the instance's next transaction. So
//!   the breaker, pushes going on in the background, claims expiring during a push and
//!   timeouts are not exercised here (the fault and crash tests of `ticket-tests` cover
//!   them with real time).
//! * **Perfect determinism.** Two runs of 40 seeds each, twice over, gave the same traces
//!   but once (seed 1, a flush that found a ticket claimed in one run and free in the
//!   other). Two things still run beside the step in progress: the conflict check's early
//!   read of a task (a spawned request, aborted when unused, which may or may not reach the
//!   fake and meet a queued fault) and the background release of a claim whose guard is
//!   dropped unreleased. Making them deterministic needs a hook in `provider-sync` (e.g.
//!   turning the early read off); not done.
//! * **Edits in the same millisecond as a push.** Asana's `modified_at` has millisecond
//!   resolution, and a pull reads a task's comments only when it changed, so a comment
//!   made in the same millisecond as a push that recorded `modified_at` would not be
//!   pulled until the task changes again. People in the simulation act at least 2 ms after
//!   the step before them.
//! * **Concurrency inside a step.** Steps never overlap; the interleavings covered are those
//!   between whole operations, pushes and pulls (a crash between a push and its record
//!   included), not those inside one.
//! * **Priority, assignee, due dates, labels and fields** are not changed by the schedules;
//!   PostgreSQL is not used; 4xx refusals (set-aside entries) are not injected.
//! * **After a restore** the model no longer expects changes accepted before it (the copy
//!   may predate them), and the invariant about Asana edits applies only to tasks still in
//!   the project. A task made for a ticket the copy does not hold is pulled as a new ticket
//!   with a new guid (its marker then names the old one); the model accepts that.
//! * **Values, not operations.** The conflict rule compares values, so a person moving a
//!   task back to a status it had (A → B → A) is no change to it; the model does not expect
//!   Asana's status then, nor after a person ticked or unticked `completed` (the completion
//!   rule reads what changed since the last sync).
//!
//! # Defects it found
//!
//! * Fixed: a push that found the task of a create whose record was lost (a crash between
//!   the push and its transaction) recorded the task's `modified_at`, so comments people
//!   had added since were never pulled (seeds 0 and 27; `tests/regressions.rs`).
//! * Fixed, **restore safety**: after a restore (or a crash that lost deferred push
//!   records), changes pushed after the copy was taken were pending again and pushed again:
//!   comments were posted twice and fields changed in Asana since were rolled back as
//!   "local wins" conflicts (seeds 57 and 61). `provider-sync` now keeps a push mark in
//!   Asana (its crate documentation, "Restoring the store"); kept as regressions.
//! * Fixed: a status conflict was recorded twice (two identical `sync` notes, in the store
//!   and in Asana) when a person ticked or unticked `completed` without moving the task: the
//!   section and `completed` then disagree, and once the conflict made their reading the
//!   agreed status, the next check read the same pair differently against it and found a
//!   "new" conflict (seeds 117, 226, 761, 893, 920, 943 and 1077, about 0.6 % of schedules;
//!   `provider-sync` now keeps the pair with the status, see its `completion.rs`). Kept as
//!   regression `a_status_conflict_is_recorded_once`, and in `ticket-tests` as
//!   `sync_conflicts::a_status_conflict_on_a_ticked_task_is_recorded_once`.
//! * Fixed, after a restore: a comment pushed after the copy was taken showed twice on its
//!   ticket (not on its task) when the push that found it carried out already could not
//!   read the task's stories (their read is a `POST /batch` that met a fault): the entry was
//!   done without its story linked, and a pull imported the story as a second comment. It
//!   now stays pending until its story is read. Seed 1501 (shortest: 7 steps), kept as
//!   regression `a_comment_found_pushed_after_a_restore_is_not_shown_twice`.
//! * Open, after two restores: a task created for a ticket between the two copies is left
//!   without a ticket (an orphan `verify` lists). Seed 3385 (shortest: 8 steps), outside
//!   the range CI runs.
//! * Not a defect, and accepted by the invariants: a conflict note twice, when people gave
//!   the field the same value twice (each time a conflict of its own; seeds 1772, 3113).
//! * Not checked: a status or assignee set alone after the copy and changed in Asana since
//!   is still replayed after a restore, but as a recorded conflict, which the invariants
//!   accept.
//!
//! # Speed
//!
//! A schedule is 40 steps plus settling and the checks: about 80 requests to the fake Asana
//! over loopback and a few hundred store transactions. Its cost is CPU time, so the figure
//! that holds on a busy machine is the CPU time a schedule takes (user + system, from
//! `/usr/bin/time` over 100–300 schedules, `--jobs 4`); the rate is what two free cores
//! give at that cost. Measured on the 2-core machine while two other agents were building
//! (load 5–11), so the wall-clock rates seen were lower:
//!
//! | build | CPU a schedule | two free cores | seen under load |
//! |---|---|---|---|
//! | debug, before (claim waits, migrations per world) | 175 ms | ≈ 11/s | 4.9/s |
//! | debug, all at `opt-level` 0 | 170 ms | ≈ 12/s | 7.6–8.2/s |
//! | debug, dependencies at `opt-level = 1` (tried, not adopted) | 105 ms | ≈ 19/s | 10–12/s |
//! | the same and five library crates at 1 (tried, not adopted) | 65 ms | ≈ 30/s | 15–16/s |
//! | release (`cargo xtask simulate --release`) | 56 ms | ≈ 35/s | 17–20/s (4000 in 235 s) |
//!
//! CI builds the workspace in debug anyway, so its simulation step costs no compile time.
//! `opt-level = 1` would make the simulation (and the tests) cheaper but the build dearer:
//! compiling `sync-sim` with its tests from scratch took 479 s of CPU with the dependencies
//! and the five library crates (asana-fake, provider-sync, provider-internal,
//! provider-asana, ticket-provider-api) at 1, against 160 s at 0. That is more than two
//! minutes of wall time on two cores before the feature-set builds of CI pay it again,
//! more than the simulation step saves, so the workspace keeps `opt-level` 0.
//!
//! What the harness no longer spends: a wait for a ticket claimed by another instance was a
//! 25 ms sleep (now `claim_wait` 0: the claim cannot be released while a step runs), and
//! each world ran every migration on a new file (now a copy of a store migrated once per
//! process: 4–7 ms instead of 12–28). The rest is the engine and the fake: in a release
//! build about a third is the kernel (thread hand-offs to the store's blocking threads,
//! SQLite's file locks, loopback), a sixth `malloc`, a seventh SQLite (statements prepared
//! again), the rest HTTP, JSON and diesel. A faster allocator (mimalloc) gave nothing
//! measurable and was left out.
//!
//! **100,000 schedules** take at best about 47 minutes in release on two free cores
//! (56 ms × 100,000 / 2), 55 minutes in the debug build: the goal of 30 minutes
//! needs about 36 ms a schedule, i.e. a cheaper engine path (an in-process transport to the
//! fake instead of HTTP, statements kept prepared), not a cheaper harness. CI runs 600
//! schedules (seeds 0–599) in the debug build: 1200 took 128–160 s in `.ci/run`, and with
//! the webhook and change feed tests the whole run came to 11–13 minutes, against its
//! 12-minute goal. Of seeds 0–3999 only 3385 fails (open, above):
//! 0–1199 in debug (175 s under load), the rest in release (2800 in 144 s under load).

pub mod check;
pub mod rng;
pub mod schedule;
pub mod world;

use std::panic::AssertUnwindSafe;

use ticket_provider_api::Status;

pub use schedule::{generate, Mix, Step};

/// The statuses a schedule chooses from.
pub const STATUSES: [Status; 8] = Status::ALL;

/// How many steps a schedule has.
pub const SCHEDULE_LEN: usize = 40;

/// What one run of a schedule gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// One line per step (and per settling action).
    pub trace: Vec<String>,
    /// The first violation (or panic), if any.
    pub failure: Option<String>,
}

/// The schedule a seed draws (every step kind).
pub fn schedule_of(seed: u64) -> Vec<Step> {
    generate(seed, SCHEDULE_LEN, Mix::ALL)
}

/// The schedule a seed draws from the step kinds of `mix`.
pub fn schedule_with(seed: u64, mix: Mix) -> Vec<Step> {
    generate(seed, SCHEDULE_LEN, mix)
}

/// Runs `steps` on a new world, settles and checks, on a current-thread runtime of its own.
pub fn run(steps: &[Step]) -> Outcome {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return Outcome {
                trace: Vec::new(),
                failure: Some(format!("cannot build a runtime: {e}")),
            }
        }
    };
    let mut trace = Vec::new();
    let result =
        std::panic::catch_unwind(AssertUnwindSafe(|| rt.block_on(run_in(steps, &mut trace))));
    let failure = match result {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e),
        Err(panic) => Some(format!("panic: {}", panic_text(&panic))),
    };
    drop(rt);
    Outcome { trace, failure }
}

async fn run_in(steps: &[Step], trace: &mut Vec<String>) -> Result<(), String> {
    let timing = std::env::var_os("SYNC_SIM_TIMING").is_some();
    let t0 = std::time::Instant::now();
    let mut w = world::World::new()
        .await
        .map_err(|e| format!("cannot build the world: {e}"))?;
    if timing {
        eprintln!("{:>6} ms  (the world)", t0.elapsed().as_millis());
    }
    for (i, step) in steps.iter().enumerate() {
        tracing::info!(target: "sync_sim", "step {i}: {step}");
        let t0 = std::time::Instant::now();
        let out = w
            .step(*step)
            .await
            .map_err(|e| format!("step {i} ({step}) could not run: {e}"))?;
        if timing {
            eprintln!("{:>6} ms  {step}", t0.elapsed().as_millis());
        }
        tracing::info!(target: "sync_sim", "step {i} gave: {out}");
        trace.push(format!("{i:>3} {step}: {out}"));
    }
    tracing::info!(target: "sync_sim", "faults stop; settling");
    let t0 = std::time::Instant::now();
    let settled = check::settle(&mut w).await;
    match settled {
        Ok(lines) => trace.extend(lines),
        Err(e) => return Err(e),
    }
    if timing {
        eprintln!("{:>6} ms  (settling)", t0.elapsed().as_millis());
    }
    let t0 = std::time::Instant::now();
    let bad = check::invariants(&w).await?;
    if timing {
        eprintln!("{:>6} ms  (the invariants)", t0.elapsed().as_millis());
    }
    if !bad.is_empty() {
        return Err(bad.join("; "));
    }
    Ok(())
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".into()
    }
}

/// What kind of failure a message reports: its first violation with every number, quoted
/// text and hexadecimal id left out, so that shrinking keeps the failure it started from
/// instead of drifting to another one.
pub fn failure_kind(failure: &str) -> String {
    let first = failure.split("; ").next().unwrap_or(failure);
    let mut unquoted = String::new();
    let mut quoted = false;
    for c in first.chars() {
        match c {
            '"' => quoted = !quoted,
            _ if quoted => {}
            c => unquoted.push(c),
        }
    }
    unquoted
        .split_whitespace()
        .filter(|w| !w.chars().any(|c| c.is_ascii_digit()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The shortest failing schedule greedy removal finds: steps are dropped one at a time (from
/// the end first) as long as the schedule still fails the same way ([`failure_kind`]).
/// `max_runs` bounds the runs spent.
pub fn shrink(steps: &[Step], max_runs: usize) -> Vec<Step> {
    let Some(kind) = run(steps).failure.map(|f| failure_kind(&f)) else {
        return steps.to_vec();
    };
    let mut best = steps.to_vec();
    let mut runs = 0;
    let mut changed = true;
    while changed && runs < max_runs {
        changed = false;
        let mut i = best.len();
        while i > 0 && runs < max_runs {
            i -= 1;
            let mut candidate = best.clone();
            candidate.remove(i);
            runs += 1;
            let same = run(&candidate)
                .failure
                .is_some_and(|f| failure_kind(&f) == kind);
            if same {
                best = candidate;
                changed = true;
            }
        }
    }
    best
}
