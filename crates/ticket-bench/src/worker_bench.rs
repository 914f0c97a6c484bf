//! Figures of the sync worker (`ticket sync run`, [`SyncWorker::run_worker`] of a
//! [`SyncProvider`]), measured with the worker running in this process against an in-process
//! [`FakeAsana`] on loopback, each printed next to its goal:
//!
//! * `worker_push_latency_p50_ms` / `worker_push_latency_p99_ms`: from a local commit made by
//!   ANOTHER writer on the same store (a second [`InternalProvider`] opened on the worker's
//!   SQLite file with [`provider_sync::store_options`], so the change lands in the outbox and
//!   nobody pushes it inline) to the moment Asana shows it, polled every
//!   [`VISIBLE_POLL`] with [`FakeAsana::project_tasks`]. Samples alternate between a create
//!   (visible: a task whose notes carry the ticket's `[ticket-guid: …]` marker) and a rename
//!   of the ticket created just before (visible: that task has the new name). The clock
//!   starts just before the writer's call, so the local commit is included. Each sample
//!   starts after a random pause within the outbox poll, and two unmeasured samples (a
//!   create and a rename) warm the caches first. Goal: p99 ≤ `worker_push_latency_goal_ms`
//!   (1500, the default push timeout: a change made elsewhere should reach Asana about as
//!   fast as an operation waits for its own push).
//! * `worker_pull_latency_p50_ms` / `worker_pull_latency_p99_ms`: from a rename made in Asana
//!   the way a person would (`PUT /tasks/{gid}` over the fake's HTTP API, not through any
//!   provider) of a task linked to a ticket, to the moment the local store shows the new
//!   subject (the other writer's `get_ticket`, polled every [`VISIBLE_POLL`]). Each sample
//!   starts after a random pause within the poll interval, so the edits fall at random
//!   phases of the worker's polling. Goal: p99 ≤ `worker_pull_latency_goal_ms` =
//!   `worker_poll_interval_ms` + 1000.
//!
//! Percentiles are nearest-rank ([`percentile`]): with fewer than 100 samples the p99 is the
//! slowest sample. The worker uses [`SyncSettings::default`] (outbox poll 200 ms, poll
//! interval 5000 ms) except, in `--quick` mode, a shorter poll interval
//! (`worker_poll_interval_ms`, from which the pull goal is computed). At the end the worker
//! is stopped through its stop future and must return `Ok`; `worker_stop_ms` is how long
//! that took and `worker_seconds` the time of the whole figure (set-up included).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use asana_fake::{FakeAsana, FakeOptions};
use provider_internal::InternalProvider;
use provider_sync::{SyncProvider, SyncSettings, DEFAULT_PUSH_TIMEOUT};
use serde_json::{json, Map, Value};
use ticket_provider_api::{
    BoxFuture, NewTicket, SyncWorker, TicketProvider, TicketUpdate, WorkerReport,
};

use crate::sync_bench::{asana, sqlite_url, sync_retry_policy, SyncFigures};
use crate::BenchResult;

/// Sizes and timings of the worker figures.
pub(crate) struct WorkerSizes {
    /// Measured push samples (after two unmeasured ones).
    pub(crate) push_samples: usize,
    /// Measured pull samples.
    pub(crate) pull_samples: usize,
    /// The worker's poll interval (`sync_poll_interval_ms`); `None`: the default.
    pub(crate) poll_interval: Option<Duration>,
    /// The worker's outbox poll (`sync_outbox_poll_ms`); `None`: the default (20 ms in
    /// `--smoke` runs).
    pub(crate) outbox_poll: Option<Duration>,
}

/// How often the bench looks whether a change arrived (in Asana or in the store).
const VISIBLE_POLL: Duration = Duration::from_millis(2);

/// The push goal: p99 at most this.
const PUSH_GOAL: Duration = DEFAULT_PUSH_TIMEOUT;

/// Added to the poll interval for the pull goal.
const PULL_GOAL_SLACK: Duration = Duration::from_millis(1000);

/// Unmeasured push samples before the measured ones (one create, one rename).
const PUSH_WARMUP: usize = 2;

/// The nearest-rank `p`-th percentile (0 < p ≤ 100) of `samples`: the smallest sample with at
/// least p % of the samples at or below it. `ZERO` for no samples.
pub(crate) fn percentile(samples: &[Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    let mut sorted = samples.to_vec();
    sorted.sort();
    let n = sorted.len();
    let rank = ((p / 100.0) * n as f64).ceil() as usize;
    sorted[rank.clamp(1, n) - 1]
}

/// A small xorshift generator for the random pauses (seeded from the clock).
pub(crate) struct Pauses(u64);

impl Pauses {
    pub(crate) fn new() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Pauses(nanos | 1)
    }

    /// A pause uniformly within `[0, max)`.
    pub(crate) fn within(&mut self, max: Duration) -> Duration {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        let max_us = max.as_micros().max(1) as u64;
        Duration::from_micros(x % max_us)
    }
}

/// Waits until `check` says yes, looking every [`VISIBLE_POLL`]; the time since `start`.
pub(crate) async fn wait_until<F, Fut>(
    start: Instant,
    limit: Duration,
    what: &str,
    check: F,
) -> BenchResult<Duration>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = BenchResult<bool>>,
{
    loop {
        if check().await? {
            return Ok(start.elapsed());
        }
        if start.elapsed() > limit {
            return Err(format!("worker bench: {what} not seen after {limit:?}").into());
        }
        tokio::time::sleep(VISIBLE_POLL).await;
    }
}

/// What the worker figures measured.
struct Measured {
    push: Vec<Duration>,
    pull: Vec<Duration>,
    settings: SyncSettings,
    pushed: u64,
    pulls: u64,
    stop: Duration,
    total: Duration,
}

async fn measure(dir: &Path, sizes: &WorkerSizes) -> BenchResult<Measured> {
    let began = Instant::now();
    let fake = FakeAsana::start(FakeOptions::default()).await?;
    let project = fake.project_gid();
    let url = sqlite_url(&dir.join("worker.db"));
    let mut settings = SyncSettings::default();
    if let Some(p) = sizes.poll_interval {
        settings.poll_interval = p;
    }
    if let Some(p) = sizes.outbox_poll {
        settings.outbox_poll = p;
    }
    let running = start_worker(&fake, &project, &url, settings.clone()).await?;
    let sync = Arc::clone(&running.sync);
    // The other writer: the same store, the outbox hook, no push.
    let writer = InternalProvider::open(&url, provider_sync::store_options(None)).await?;

    let mut pauses = Pauses::new();
    let push_limit = Duration::from_secs(30);
    // Push: alternately create a ticket and rename the one created just before.
    let mut push = Vec::with_capacity(sizes.push_samples);
    let mut linked: Vec<(String, String)> = Vec::new(); // (ticket guid, task gid)
    for i in 0..PUSH_WARMUP + sizes.push_samples {
        tokio::time::sleep(pauses.within(settings.outbox_poll)).await;
        let elapsed = if i % 2 == 0 {
            let start = Instant::now();
            let guid = writer
                .create(NewTicket::new(format!("worker push {i}")))
                .await?
                .guid;
            let marker = format!("[ticket-guid: {guid}]");
            let found = std::cell::RefCell::new(None);
            let t = wait_until(start, push_limit, "a created ticket in Asana", || {
                let hit = fake
                    .project_tasks(&project)
                    .into_iter()
                    .find(|t| t.notes.contains(&marker));
                let seen = hit.is_some();
                if let Some(task) = hit {
                    *found.borrow_mut() = Some(task.gid);
                }
                async move { Ok(seen) }
            })
            .await?;
            let gid = found.into_inner().ok_or("no task gid")?;
            linked.push((guid, gid));
            t
        } else {
            let (guid, gid) = linked.last().cloned().ok_or("no ticket to rename")?;
            let name = format!("worker push {i} renamed");
            let start = Instant::now();
            writer
                .update(
                    &guid,
                    TicketUpdate {
                        subject: Some(name.clone()),
                        ..Default::default()
                    },
                )
                .await?;
            wait_until(start, push_limit, "a renamed ticket in Asana", || {
                let seen = fake
                    .project_tasks(&project)
                    .iter()
                    .any(|t| t.gid == gid && t.name == name);
                async move { Ok(seen) }
            })
            .await?
        };
        if i >= PUSH_WARMUP {
            push.push(elapsed);
        }
    }

    // Nothing may still be pending before the pulls (a pending rename would win over Asana's).
    wait_until(Instant::now(), push_limit, "an empty outbox", || {
        let sync = Arc::clone(&sync);
        async move { Ok(sync.status().await?.pending == 0) }
    })
    .await?;

    // Pull: a person renames a linked task in Asana.
    let client = reqwest::Client::new();
    let pull_limit = settings.poll_interval * 3 + Duration::from_secs(30);
    let mut pull = Vec::with_capacity(sizes.pull_samples);
    for i in 0..sizes.pull_samples {
        tokio::time::sleep(pauses.within(settings.poll_interval)).await;
        let (guid, gid) = linked[i % linked.len()].clone();
        let name = format!("worker pull {i} (renamed in Asana)");
        let start = Instant::now();
        client
            .put(format!("{}/tasks/{gid}", fake.base_url()))
            .bearer_auth(fake.token())
            .json(&json!({ "data": { "name": name } }))
            .send()
            .await?
            .error_for_status()?;
        let writer = &writer;
        let t = wait_until(start, pull_limit, "a rename made in Asana", || {
            let (guid, name) = (guid.clone(), name.clone());
            async move { Ok(writer.get_ticket(&guid).await?.ticket.subject == name) }
        })
        .await?;
        pull.push(t);
    }

    let stop_start = Instant::now();
    let report = running.stop().await?;
    let stop = stop_start.elapsed();
    if report.stopped_in_flight {
        return Err("the worker stopped with work in flight".into());
    }
    drop(writer);
    drop(sync);
    fake.shutdown().await;
    Ok(Measured {
        push,
        pull,
        settings,
        pushed: report.pushed,
        pulls: report.pulls,
        stop,
        total: began.elapsed(),
    })
}

/// `d` in milliseconds, to a tenth.
pub(crate) fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

/// A sync worker (`ticket sync run`'s loop) running on a task of this process.
pub(crate) struct RunningWorker {
    /// The provider it runs.
    pub(crate) sync: Arc<SyncProvider>,
    tell_stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<ticket_provider_api::Result<WorkerReport>>,
}

/// Opens the `sync` provider on the store at `url` against `fake`'s `project` with
/// `settings`, and starts its worker.
pub(crate) async fn start_worker(
    fake: &FakeAsana,
    project: &str,
    url: &str,
    settings: SyncSettings,
) -> BenchResult<RunningWorker> {
    let local = InternalProvider::open(url, provider_sync::store_options(None)).await?;
    let remote = asana(
        &fake.base_url(),
        project,
        &fake.token(),
        sync_retry_policy(),
    )?
    .into_tasks();
    let sync = Arc::new(SyncProvider::new(local, remote, settings)?);
    let (tell_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let stop: BoxFuture<'static, ()> = Box::pin(async move {
        let _ = stopped.await;
    });
    let task = {
        let sync = Arc::clone(&sync);
        tokio::spawn(async move { SyncWorker::run_worker(&*sync, stop).await })
    };
    Ok(RunningWorker {
        sync,
        tell_stop,
        task,
    })
}

impl RunningWorker {
    /// Stops the worker and waits for its report.
    pub(crate) async fn stop(self) -> BenchResult<WorkerReport> {
        let _ = self.tell_stop.send(());
        Ok(self
            .task
            .await
            .map_err(|e| format!("the worker task failed: {e}"))?
            .map_err(|e| format!("the worker returned an error: {e}"))?)
    }
}

/// Runs the worker figures in `dir`.
pub(crate) async fn run(dir: &Path, sizes: &WorkerSizes) -> BenchResult<SyncFigures> {
    let m = measure(dir, sizes).await?;
    let poll = m.settings.poll_interval;
    let default_poll = SyncSettings::default().poll_interval;
    let push_goal = PUSH_GOAL;
    let pull_goal = poll + PULL_GOAL_SLACK;
    let (push50, push99) = (percentile(&m.push, 50.0), percentile(&m.push, 99.0));
    let (pull50, pull99) = (percentile(&m.pull, 50.0), percentile(&m.pull, 99.0));

    let mut j = Map::new();
    let mut put = |k: &str, v: Value| {
        j.insert(k.to_string(), v);
    };
    put("worker_push_latency_p50_ms", json!(ms(push50)));
    put("worker_push_latency_p99_ms", json!(ms(push99)));
    put(
        "worker_push_latency_goal_ms",
        json!(push_goal.as_millis() as u64),
    );
    put("worker_push_samples", json!(m.push.len()));
    put("worker_pull_latency_p50_ms", json!(ms(pull50)));
    put("worker_pull_latency_p99_ms", json!(ms(pull99)));
    put(
        "worker_pull_latency_goal_ms",
        json!(pull_goal.as_millis() as u64),
    );
    put("worker_pull_samples", json!(m.pull.len()));
    put("worker_poll_interval_ms", json!(poll.as_millis() as u64));
    put(
        "worker_poll_interval_is_default",
        json!(poll == default_poll),
    );
    put(
        "worker_outbox_poll_ms",
        json!(m.settings.outbox_poll.as_millis() as u64),
    );
    put("worker_pushed", json!(m.pushed));
    put("worker_pulls", json!(m.pulls));
    put("worker_stop_ms", json!(ms(m.stop)));
    put(
        "worker_seconds",
        json!((m.total.as_secs_f64() * 10.0).round() / 10.0),
    );

    let verdict = |v: Duration, goal: Duration| if v <= goal { "met" } else { "MISSED" };
    let lines = vec![
        format!(
            "sync worker in-process against the fake: outbox poll {} ms, poll interval {} ms{}; nearest-rank percentiles",
            m.settings.outbox_poll.as_millis(),
            poll.as_millis(),
            if poll == default_poll {
                " (defaults)".to_string()
            } else {
                format!(" (quick mode; default {} ms)", default_poll.as_millis())
            }
        ),
        format!(
            "{:<34} {:>12} {:>12} {:>12} {:>8}",
            "", "p50", "p99", "goal p99", ""
        ),
        format!(
            "{:<34} {:>10.1}ms {:>10.1}ms {:>10}ms {:>8}",
            format!("push, other writer ({} samples)", m.push.len()),
            ms(push50),
            ms(push99),
            push_goal.as_millis(),
            verdict(push99, push_goal)
        ),
        format!(
            "{:<34} {:>10.1}ms {:>10.1}ms {:>10}ms {:>8}",
            format!("pull, edit in Asana ({} samples)", m.pull.len()),
            ms(pull50),
            ms(pull99),
            pull_goal.as_millis(),
            verdict(pull99, pull_goal)
        ),
        format!(
            "(worker: {} entries pushed, {} pulls; stopped in {:.1} ms; {:.1}s in all)",
            m.pushed,
            m.pulls,
            ms(m.stop),
            m.total.as_secs_f64()
        ),
    ];
    Ok(SyncFigures { json: j, lines })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let d = Duration::from_millis;
        let samples: Vec<Duration> = (1..=20).rev().map(d).collect();
        assert_eq!(percentile(&samples, 50.0), d(10));
        assert_eq!(percentile(&samples, 95.0), d(19));
        // Fewer than 100 samples: the p99 is the slowest one.
        assert_eq!(percentile(&samples, 99.0), d(20));
        assert_eq!(percentile(&samples, 100.0), d(20));
        let hundred: Vec<Duration> = (1..=100).map(d).collect();
        assert_eq!(percentile(&hundred, 99.0), d(99));
        assert_eq!(percentile(&hundred, 50.0), d(50));
        assert_eq!(percentile(&[d(7)], 99.0), d(7));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }

    #[test]
    fn pauses_stay_within_their_bound() {
        let mut p = Pauses::new();
        let max = Duration::from_millis(200);
        let pauses: Vec<Duration> = (0..1000).map(|_| p.within(max)).collect();
        assert!(pauses.iter().all(|x| *x < max));
        // Spread over the interval, not stuck at one phase.
        assert!(pauses.iter().any(|x| *x < max / 4));
        assert!(pauses.iter().any(|x| *x > max * 3 / 4));
    }
}
