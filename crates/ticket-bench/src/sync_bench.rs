//! Figures of the `sync` provider (issue 7), all on loopback against an in-process
//! [`FakeAsana`], each measured against its baseline in the same run:
//!
//! * `sync_overhead_healthy`, `sync_overhead_slow`, `sync_overhead_down`: median time of one
//!   round (create + add_comment + change_status) through a [`SyncProvider`] / the same round
//!   through an [`InternalProvider`] alone (outbox off, its own SQLite file of the same kind),
//!   rounds interleaved (alternating which goes first) after unmeasured warm-up rounds. Asana
//!   is the fake answering at once, the fake with 100 ms added to each answer, and a closed
//!   loopback port. The sync provider uses [`SyncSettings::default`] (push timeout
//!   [`DEFAULT_PUSH_TIMEOUT`]) and the retry policy `SyncProvider::from_context` sets.
//! * `sync_vs_parts` (and `sync_vs_parts_slow`): the median sync round / (the median round
//!   through the internal provider alone + the median round through the `asana` provider
//!   alone, against the same fake), all three interleaved in the same run: what the
//!   combination costs beyond its two parts (goal ≤ 1.25).
//! * `sync_store_tx_per_op`: store round trips (each one read or one write transaction,
//!   counted by the store) per operation of the `sync` provider with a healthy Asana, the
//!   push included; `sync_store_tx_create` and `sync_store_tx_max_other` sum it up (goals: 4
//!   and 3).
//! * `asana_requests_per_op`: requests each operation takes through the `asana` provider with
//!   warm caches (every section and priority tag already exists and is cached), and under
//!   `cold` the same in a new process: a new provider per operation whose only memory is
//!   the cache file an earlier provider left.
//! * `full_pull_10k_requests` / `full_pull_10k_ratio`: the first `SyncProvider::pull_all`
//!   (a full read) of a project with 10,000 tasks into an empty internal store: its request
//!   count, and its time / the time to only fetch the same list pages with `reqwest`.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use asana_fake::{FakeAsana, FakeOptions, RecordedRequest};
use provider_asana::{AsanaProvider, AsanaSettings, RetryPolicy};
use provider_internal::{InternalProvider, StoreOptions};
use provider_sync::{SyncProvider, SyncSettings, DEFAULT_PUSH_TIMEOUT};
use serde_json::{json, Map, Value};
use ticket_provider_api::{
    ListQuery, NewComment, NewTicket, Priority, SecretString, Status, SyncState, TicketProvider,
    TicketUpdate,
};

use crate::{median, round3, BenchResult};

/// Sizes of the sync figures.
pub(crate) struct SyncSizes {
    /// Measured rounds with Asana healthy and with Asana unreachable.
    pub(crate) rounds: usize,
    /// Measured rounds with `slow_latency` added to every answer.
    pub(crate) slow_rounds: usize,
    /// The latency added to each answer of the fake for `sync_overhead_slow` (100 ms; 10 ms
    /// in `--smoke` runs).
    pub(crate) slow_latency: Duration,
    /// Unmeasured rounds before each mode (caches, circuit breaker, SQLite warm-up).
    pub(crate) warmup: usize,
    /// Tasks in the project for the full pull.
    pub(crate) pull_tasks: usize,
    /// Only the overhead figures (`--only-sync-overhead`).
    pub(crate) only_overhead: bool,
}

/// The sync figures: JSON keys and the lines of the readable table.
pub(crate) struct SyncFigures {
    /// Keys to merge into the JSON object.
    pub(crate) json: Map<String, Value>,
    /// Lines for the table.
    pub(crate) lines: Vec<String>,
}

/// The retry policy `SyncProvider::from_context` gives its Asana client (it is private there).
pub(crate) fn sync_retry_policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(200),
        max_delay: Duration::from_secs(2),
        max_total_wait: Duration::from_secs(10),
    }
}

pub(crate) fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// An Asana provider for `base_url`.
pub(crate) fn asana(
    base_url: &str,
    project: &str,
    token: &str,
    retry: RetryPolicy,
) -> BenchResult<AsanaProvider> {
    let mut settings = AsanaSettings::new(base_url, project, SecretString::new(token));
    settings.retry = retry;
    Ok(AsanaProvider::new(settings)?)
}

/// A sync provider on a new SQLite file (outbox on) and the Asana at `base_url`.
async fn sync_provider(
    path: &Path,
    base_url: &str,
    project: &str,
    token: &str,
) -> BenchResult<SyncProvider> {
    let local =
        InternalProvider::open(&sqlite_url(path), provider_sync::store_options(None)).await?;
    let remote = asana(base_url, project, token, sync_retry_policy())?.into_tasks();
    Ok(SyncProvider::new(local, remote, SyncSettings::default())?)
}

/// One round of the operation mix; its time and whether the last result was left pending.
async fn one_round(p: &dyn TicketProvider, i: usize) -> BenchResult<(Duration, bool)> {
    let start = Instant::now();
    let created = p.create(NewTicket::new(format!("overhead {i}"))).await?;
    p.add_comment(&created.guid, NewComment::new("a comment"))
        .await?;
    let last = p.change_status(&created.guid, Status::InProgress).await?;
    Ok((start.elapsed(), last.sync_state == Some(SyncState::Pending)))
}

/// What one overhead mode measured.
struct Overhead {
    rounds: usize,
    internal_median: Duration,
    sync_median: Duration,
    /// The same rounds through the `asana` provider alone (when Asana is reachable).
    asana_median: Option<Duration>,
    internal_total: Duration,
    sync_total: Duration,
    pending: usize,
}

impl Overhead {
    fn ratio(&self) -> f64 {
        ratio(
            self.sync_median.as_secs_f64(),
            self.internal_median.as_secs_f64(),
        )
    }

    /// Sync / (internal + asana): the cost of combining the two parts.
    fn vs_parts(&self) -> Option<f64> {
        self.asana_median.map(|a| {
            ratio(
                self.sync_median.as_secs_f64(),
                self.internal_median.as_secs_f64() + a.as_secs_f64(),
            )
        })
    }

    fn total_ratio(&self) -> f64 {
        ratio(
            self.sync_total.as_secs_f64(),
            self.internal_total.as_secs_f64(),
        )
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

/// Interleaved rounds through the internal provider alone, through `sync`, and (when given)
/// through the `asana` provider alone; the order rotates every round.
async fn overhead(
    internal: &InternalProvider,
    sync: &SyncProvider,
    asana: Option<&AsanaProvider>,
    warmup: usize,
    rounds: usize,
) -> BenchResult<Overhead> {
    let (mut ti, mut ts, mut ta) = (
        Vec::with_capacity(rounds),
        Vec::with_capacity(rounds),
        Vec::with_capacity(rounds),
    );
    let mut pending = 0;
    for round in 0..warmup + rounds {
        let mut times = [Duration::ZERO; 3];
        for k in 0..3 {
            let which = (round + k) % 3;
            match which {
                0 => times[0] = one_round(internal, round).await?.0,
                1 => {
                    let (t, p) = one_round(sync, round).await?;
                    times[1] = t;
                    if round >= warmup && p {
                        pending += 1;
                    }
                }
                _ => {
                    if let Some(a) = asana {
                        times[2] = one_round(a, round).await?.0;
                    }
                }
            }
        }
        if round >= warmup {
            ti.push(times[0]);
            ts.push(times[1]);
            ta.push(times[2]);
        }
    }
    Ok(Overhead {
        rounds,
        internal_total: ti.iter().sum(),
        sync_total: ts.iter().sum(),
        internal_median: median(ti),
        sync_median: median(ts),
        asana_median: asana.map(|_| median(ta)),
        pending,
    })
}

/// Store round trips of each operation through a warm `sync` provider with Asana healthy
/// (every push completes inside the operation).
async fn store_tx_per_op(sync: &SyncProvider) -> BenchResult<Map<String, Value>> {
    let local = sync.local();
    let g = sync.create(NewTicket::new("tx warm-up")).await?.guid;
    sync.add_comment(&g, NewComment::new("warm")).await?;
    let mut out = Map::new();
    macro_rules! count {
        ($name:literal, $op:expr) => {{
            let before = local.store_round_trips();
            $op.await?;
            out.insert($name.to_string(), json!(local.store_round_trips() - before));
        }};
    }
    let before = local.store_round_trips();
    let created = sync.create(NewTicket::new("tx create")).await?.guid;
    out.insert("create".into(), json!(local.store_round_trips() - before));
    let t = &created;
    count!(
        "update",
        sync.update(
            t,
            TicketUpdate {
                subject: Some("tx update".into()),
                ..Default::default()
            }
        )
    );
    count!("change_status", sync.change_status(t, Status::Triaged));
    count!("assign", sync.assign(t, "someone@example.com"));
    count!("add_comment", sync.add_comment(t, NewComment::new("tx")));
    count!("get_ticket", sync.get_ticket(t));
    count!("list_tickets", sync.list_tickets(ListQuery::default()));
    count!("escalate", sync.escalate(t, Some("tx reason")));
    count!("resolve", sync.resolve(t));
    count!("close", sync.close(t));
    Ok(out)
}

/// A loopback address nothing listens on: a port bound and released again.
fn closed_loopback_url() -> BenchResult<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    drop(listener);
    Ok(format!("http://127.0.0.1:{port}/api/1.0"))
}

/// Requests of one operation through the `asana` provider with warm caches.
async fn requests_per_op(fake: &FakeAsana) -> BenchResult<(Map<String, Value>, usize)> {
    let p = asana(
        &fake.base_url(),
        &fake.project_gid(),
        &fake.token(),
        RetryPolicy::default(),
    )?;
    // Warm-up: every priority tag and every status section exists and is cached.
    let mut warm = Vec::new();
    for prio in Priority::ALL {
        let t = NewTicket {
            priority: prio,
            ..NewTicket::new(format!("warm-up {}", prio.as_str()))
        };
        warm.push(p.create(t).await?.guid);
    }
    let first = warm.first().cloned().ok_or("no warm-up ticket")?;
    for st in Status::ALL {
        p.change_status(&first, st).await?;
    }
    // The assignee of the counted assign is known too (its e-mail read once).
    let owner = fake.owner_email();
    p.assign(&first, &owner).await?;
    let a = p.create(NewTicket::new("requests a")).await?.guid;
    let b = p.create(NewTicket::new("requests b")).await?.guid;
    let c = p.create(NewTicket::new("requests c")).await?.guid;
    p.add_comment(&a, NewComment::new("existing comment"))
        .await?;

    let mut out = Map::new();
    macro_rules! count {
        ($name:literal, $op:expr) => {{
            fake.clear_requests();
            $op.await?;
            out.insert($name.to_string(), json!(fake.requests().len()));
        }};
    }
    count!("create", p.create(NewTicket::new("counted create")));
    count!(
        "update",
        p.update(
            &a,
            TicketUpdate {
                subject: Some("renamed".into()),
                description: None,
                priority: Some(Priority::High),
                due: None,
                ..TicketUpdate::default()
            }
        )
    );
    count!("change_status", p.change_status(&a, Status::InProgress));
    count!("assign", p.assign(&a, &owner));
    count!("add_comment", p.add_comment(&a, NewComment::new("counted")));
    count!("get_ticket", p.get_ticket(&a));
    let tasks_in_project = fake.project_tasks(&fake.project_gid()).len();
    count!(
        "list_tickets",
        p.list_tickets(ListQuery {
            limit: Some(50),
            ..Default::default()
        })
    );
    count!("close", p.close(&a));
    count!("resolve", p.resolve(&b));
    count!("escalate", p.escalate(&c, Some("customer waiting")));
    Ok((out, tasks_in_project))
}

/// Requests of one operation through the `asana` provider in a new process: each operation
/// runs in a new provider whose only memory is the cache file an earlier one left (what a
/// new `ticket` process has). The first provider warms the file up the way
/// [`requests_per_op`] warms its caches.
async fn cold_requests_per_op(fake: &FakeAsana, dir: &Path) -> BenchResult<Map<String, Value>> {
    let cache = dir.join(provider_asana::DEFAULT_CACHE_FILE);
    let process = || -> BenchResult<AsanaProvider> {
        let mut settings = AsanaSettings::new(
            fake.base_url(),
            fake.project_gid(),
            SecretString::new(fake.token()),
        );
        settings.cache_path = Some(cache.clone());
        Ok(AsanaProvider::new(settings)?)
    };
    let owner = fake.owner_email();
    let warm = process()?;
    let a = warm
        .create(NewTicket::new("cold a").assignee(owner.clone()))
        .await?
        .guid;
    for st in Status::ALL {
        warm.change_status(&a, st).await?;
    }
    for prio in Priority::ALL {
        let update = TicketUpdate {
            priority: Some(prio),
            ..Default::default()
        };
        warm.update(&a, update).await?;
    }
    warm.add_comment(&a, NewComment::new("existing comment"))
        .await?;
    warm.get_ticket(&a).await?;
    let b = warm.create(NewTicket::new("cold b")).await?.guid;

    let mut out = Map::new();
    // Each operation in a new provider `p`, as in a new process.
    macro_rules! count {
        ($name:literal, |$p:ident| $op:expr) => {{
            let $p = process()?;
            fake.clear_requests();
            $op.await?;
            out.insert($name.to_string(), json!(fake.requests().len()));
        }};
    }
    count!("list_tickets", |p| p.list_tickets(ListQuery {
        limit: Some(50),
        ..Default::default()
    }));
    count!("get_ticket", |p| p.get_ticket(&a));
    count!("create", |p| p.create(
        NewTicket::new("counted cold create").priority(Priority::High)
    ));
    count!("update", |p| p.update(
        &a,
        TicketUpdate {
            subject: Some("renamed cold".into()),
            description: None,
            priority: Some(Priority::Urgent),
            due: None,
            ..TicketUpdate::default()
        }
    ));
    count!("change_status", |p| p.change_status(&a, Status::Triaged));
    count!("assign", |p| p.assign(&a, &owner));
    count!("add_comment", |p| p
        .add_comment(&a, NewComment::new("counted cold")));
    count!("close", |p| p.close(&a));
    count!("escalate", |p| p.escalate(&b, Some("customer waiting")));
    Ok(out)
}

/// Creates `n` tasks in the fake's project through the `asana` provider, 32 at a time.
async fn load_tasks(fake: &FakeAsana, n: usize) -> BenchResult<()> {
    let p = asana(
        &fake.base_url(),
        &fake.project_gid(),
        &fake.token(),
        RetryPolicy::default(),
    )?;
    p.create(NewTicket::new("pull task 0")).await?;
    let mut set = tokio::task::JoinSet::new();
    for i in 1..n {
        while set.len() >= 32 {
            if let Some(r) = set.join_next().await {
                r??;
            }
        }
        let p = p.clone();
        set.spawn(async move {
            let t = NewTicket {
                priority: Priority::ALL[i % Priority::ALL.len()],
                description: format!("loaded for the pull benchmark ({i})"),
                ..NewTicket::new(format!("pull task {i}"))
            };
            p.create(t).await.map(|_| ())
        });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    Ok(())
}

/// Fetches every page of `path?query` (without `offset`) with a plain HTTP client, following
/// `next_page.offset`; the number of tasks read.
async fn fetch_pages(
    client: &reqwest::Client,
    fake: &FakeAsana,
    path: &str,
    query: &str,
) -> BenchResult<usize> {
    let base = format!("http://{}{path}?{query}", fake.addr());
    let mut offset: Option<String> = None;
    let mut tasks = 0;
    loop {
        let url = match &offset {
            Some(o) => format!("{base}&offset={o}"),
            None => base.clone(),
        };
        let body: Value = client
            .get(&url)
            .bearer_auth(fake.token())
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        tasks += body
            .get("data")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        match body.pointer("/next_page/offset").and_then(Value::as_str) {
            Some(o) if !o.is_empty() => offset = Some(o.to_string()),
            _ => return Ok(tasks),
        }
    }
}

/// The list request of a pull (a GET of project tasks with `opt_fields`): path and query
/// without `offset`.
fn list_request(log: &[RecordedRequest], project: &str) -> Option<(String, String)> {
    log.iter()
        .find(|r| {
            r.method == "GET"
                && r.path.ends_with("/tasks")
                && r.query.as_deref().is_some_and(|q| q.contains("opt_fields"))
                && (r.path.contains(project)
                    || r.query.as_deref().is_some_and(|q| q.contains(project)))
        })
        .map(|r| {
            let query = r
                .query
                .as_deref()
                .unwrap_or_default()
                .split('&')
                .filter(|kv| !kv.starts_with("offset="))
                .collect::<Vec<_>>()
                .join("&");
            (r.path.clone(), query)
        })
}

/// What the full pull measured.
struct Pull {
    tasks: usize,
    load: Duration,
    pull: Duration,
    fetch: Duration,
    requests: usize,
    by_kind: BTreeMap<String, usize>,
    created: usize,
    list_path: String,
}

async fn full_pull(dir: &Path, tasks: usize) -> BenchResult<Pull> {
    let fake = FakeAsana::start(FakeOptions::default()).await?;
    let load_start = Instant::now();
    load_tasks(&fake, tasks).await?;
    let load = load_start.elapsed();
    let in_project = fake.project_tasks(&fake.project_gid()).len();
    if in_project != tasks {
        return Err(format!("loaded {in_project} tasks, wanted {tasks}").into());
    }
    let client = reqwest::Client::new();
    // Warm-up of the plain client on a page the pull does not use.
    fetch_pages(
        &client,
        &fake,
        &format!("/api/1.0/projects/{}/tasks", fake.project_gid()),
        "limit=1",
    )
    .await
    .ok();

    let sync = sync_provider(
        &dir.join("pull.db"),
        &fake.base_url(),
        &fake.project_gid(),
        &fake.token(),
    )
    .await?;
    fake.clear_requests();
    let start = Instant::now();
    let report = sync.pull_all(&|_| {}).await?;
    let pull = start.elapsed();
    let log = fake.requests();
    let mut by_kind = BTreeMap::new();
    for r in &log {
        let kind = if r.path.ends_with("/tasks") {
            format!("{} .../tasks (list)", r.method)
        } else {
            format!("{} {}", r.method, r.path.trim_start_matches("/api/1.0"))
        };
        let kind = if kind.starts_with("GET /tasks/") {
            "GET /tasks/{gid}".to_string()
        } else {
            kind
        };
        *by_kind.entry(kind).or_insert(0) += 1;
    }
    let (path, query) = list_request(&log, &fake.project_gid()).unwrap_or_else(|| {
        (
            format!("/api/1.0/projects/{}/tasks", fake.project_gid()),
            "limit=100".to_string(),
        )
    });
    let query = if query.contains("limit=") {
        query
    } else {
        format!("{query}&limit=100")
    };
    // Baseline: the same pages, three times; the median.
    let mut fetches = Vec::new();
    for _ in 0..3 {
        let start = Instant::now();
        let n = fetch_pages(&client, &fake, &path, &query).await?;
        fetches.push(start.elapsed());
        if n != tasks {
            return Err(format!("the plain fetch read {n} tasks, wanted {tasks}").into());
        }
    }
    drop(sync);
    fake.shutdown().await;
    Ok(Pull {
        tasks,
        load,
        pull,
        fetch: median(fetches),
        requests: log.len(),
        by_kind,
        created: report.created,
        list_path: format!("{path}?{query}"),
    })
}

/// The overhead figures of `modes`, into `j` and `lines`.
fn overhead_lines(
    modes: &[(&str, Overhead)],
    sizes: &SyncSizes,
    j: &mut Map<String, Value>,
    lines: &mut Vec<String>,
) {
    let us = |d: Duration| (d.as_secs_f64() * 1e6).round();
    lines.push(format!(
        "sync overhead: create + add_comment + change_status per round, median of rounds (after {} warm-up rounds), push timeout {} ms (default), slow = +{} ms per answer, down = closed loopback port",
        sizes.warmup,
        DEFAULT_PUSH_TIMEOUT.as_millis(),
        sizes.slow_latency.as_millis()
    ));
    lines.push(format!(
        "{:<34} {:>12} {:>12} {:>8} {:>11} {:>8}",
        "", "sync", "internal", "ratio", "total ratio", "pending"
    ));
    for (name, o) in modes {
        j.insert(format!("sync_overhead_{name}"), json!(round3(o.ratio())));
        j.insert(
            format!("sync_overhead_{name}_total_ratio"),
            json!(round3(o.total_ratio())),
        );
        j.insert(format!("sync_overhead_{name}_rounds"), json!(o.rounds));
        j.insert(
            format!("sync_overhead_{name}_sync_round_us"),
            json!(us(o.sync_median)),
        );
        j.insert(
            format!("sync_overhead_{name}_internal_round_us"),
            json!(us(o.internal_median)),
        );
        j.insert(
            format!("sync_overhead_{name}_pending_results"),
            json!(o.pending),
        );
        if let (Some(v), Some(a)) = (o.vs_parts(), o.asana_median) {
            let key = match *name {
                "healthy" => "sync_vs_parts".to_string(),
                other => format!("sync_vs_parts_{other}"),
            };
            j.insert(key, json!(round3(v)));
            j.insert(format!("sync_overhead_{name}_asana_round_us"), json!(us(a)));
        }
        lines.push(format!(
            "{:<34} {:>10.0}us {:>10.0}us {:>8.3} {:>11.3} {:>5}/{}",
            format!("round, Asana {name} ({} rounds)", o.rounds),
            us(o.sync_median),
            us(o.internal_median),
            o.ratio(),
            o.total_ratio(),
            o.pending,
            o.rounds
        ));
        if let (Some(v), Some(a)) = (o.vs_parts(), o.asana_median) {
            lines.push(format!(
                "{:<34} {:>10.0}us asana alone; sync / (internal + asana) = {v:.3} (goal <= 1.25)",
                "",
                us(a)
            ));
        }
    }
    j.insert(
        "sync_push_timeout_ms".into(),
        json!(DEFAULT_PUSH_TIMEOUT.as_millis() as u64),
    );
    j.insert(
        "sync_slow_latency_ms".into(),
        json!(sizes.slow_latency.as_millis() as u64),
    );
    j.insert("sync_overhead_warmup_rounds".into(), json!(sizes.warmup));
}

/// The prefix of the full pull's keys: `full_pull_10k` for 10,000 tasks, else
/// `full_pull_{tasks}`.
pub(crate) fn full_pull_key(tasks: usize) -> String {
    if tasks == 10_000 {
        "full_pull_10k".to_string()
    } else {
        format!("full_pull_{tasks}")
    }
}

/// Runs every sync figure in `dir`.
pub(crate) async fn run(dir: &Path, sizes: &SyncSizes) -> BenchResult<SyncFigures> {
    let fake = FakeAsana::start(FakeOptions::default()).await?;
    let (project, token) = (fake.project_gid(), fake.token());

    let mut modes = Vec::new();
    for (name, url, rounds) in [
        ("healthy", Some(fake.base_url()), sizes.rounds),
        ("slow", Some(fake.base_url()), sizes.slow_rounds),
        ("down", None, sizes.rounds),
    ] {
        fake.set_latency(if name == "slow" {
            sizes.slow_latency
        } else {
            Duration::ZERO
        });
        let url = match url {
            Some(u) => u,
            None => closed_loopback_url()?,
        };
        let internal = InternalProvider::open(
            &sqlite_url(&dir.join(format!("overhead-internal-{name}.db"))),
            StoreOptions::default(),
        )
        .await?;
        let sync = sync_provider(
            &dir.join(format!("overhead-sync-{name}.db")),
            &url,
            &project,
            &token,
        )
        .await?;
        // The asana provider alone, on the same fake, for `sync_vs_parts` (not when Asana
        // is down: its operations would only fail).
        let alone = match name {
            "down" => None,
            _ => Some(asana(&url, &project, &token, RetryPolicy::default())?),
        };
        let o = overhead(&internal, &sync, alone.as_ref(), sizes.warmup, rounds).await?;
        modes.push((name, o));
    }
    fake.set_latency(Duration::ZERO);
    let mut j = Map::new();
    let mut lines = Vec::new();
    overhead_lines(&modes, sizes, &mut j, &mut lines);
    if sizes.only_overhead {
        fake.shutdown().await;
        return Ok(SyncFigures { json: j, lines });
    }

    let tx_sync =
        sync_provider(&dir.join("store-tx.db"), &fake.base_url(), &project, &token).await?;
    let tx_per_op = store_tx_per_op(&tx_sync).await?;
    tx_sync.shutdown().await;
    let (mut per_op, tasks_in_project) = requests_per_op(&fake).await?;
    let cold = cold_requests_per_op(&fake, dir).await?;
    let with_fields = crate::fields_bench::run(&fake).await?;
    fake.shutdown().await;

    let pull = full_pull(dir, sizes.pull_tasks).await?;

    let tx_of = |k: &str| tx_per_op.get(k).and_then(Value::as_u64).unwrap_or(0);
    let max_other = tx_per_op
        .iter()
        .filter(|(k, _)| k.as_str() != "create")
        .filter_map(|(_, v)| v.as_u64())
        .max()
        .unwrap_or(0);
    lines.push(format!(
        "sync store round trips per operation (goals: create <= 4, others <= 3): {}",
        tx_per_op
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    j.insert("sync_store_tx_create".into(), json!(tx_of("create")));
    j.insert("sync_store_tx_max_other".into(), json!(max_other));
    j.insert("sync_store_tx_per_op".into(), Value::Object(tx_per_op));

    lines.push(format!(
        "asana requests per operation (warm caches; update changes subject + priority, escalate has a reason, list over {tasks_in_project} tasks):"
    ));
    let joined = |m: &Map<String, Value>| {
        m.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    lines.push(joined(&per_op));
    lines.push(
        "asana requests per operation in a new process (a new provider with the cache file an earlier one left):".to_string(),
    );
    lines.push(joined(&cold));
    per_op.insert("cold".into(), Value::Object(cold));
    lines.push(format!(
        "asana requests with five mapped custom fields and labels (without them): create {} ({}), update {} ({})",
        with_fields["create"], with_fields["create_plain"], with_fields["update"], with_fields["update_plain"]
    ));
    j.insert(
        "asana_requests_with_fields".into(),
        Value::Object(with_fields),
    );
    j.insert("asana_requests_per_op".into(), Value::Object(per_op));
    j.insert(
        "asana_requests_list_tasks_in_project".into(),
        json!(tasks_in_project),
    );

    let pull_ratio = ratio(pull.pull.as_secs_f64(), pull.fetch.as_secs_f64());
    let key = full_pull_key(pull.tasks);
    j.insert(format!("{key}_requests"), json!(pull.requests));
    j.insert(format!("{key}_ratio"), json!(round3(pull_ratio)));
    j.insert("full_pull_tasks".into(), json!(pull.tasks));
    j.insert(
        "full_pull_seconds".into(),
        json!(round3(pull.pull.as_secs_f64())),
    );
    j.insert(
        "full_pull_fetch_seconds".into(),
        json!(round3(pull.fetch.as_secs_f64())),
    );
    j.insert("full_pull_created".into(), json!(pull.created));
    j.insert("full_pull_requests_by_kind".into(), json!(pull.by_kind));
    j.insert("full_pull_list_request".into(), json!(pull.list_path));
    j.insert(
        "full_pull_load_seconds".into(),
        json!(round3(pull.load.as_secs_f64())),
    );
    lines.push(format!(
        "full pull of {} tasks into an empty store: {:.2}s, {} requests ({}); plain fetch of the same pages {:.3}s; ratio {:.1}",
        pull.tasks,
        pull.pull.as_secs_f64(),
        pull.requests,
        pull.by_kind
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join(", "),
        pull.fetch.as_secs_f64(),
        pull_ratio
    ));
    lines.push(format!(
        "(loading {} tasks into the fake took {:.1}s, untimed; baseline GET {})",
        pull.tasks,
        pull.load.as_secs_f64(),
        pull.list_path
    ));
    Ok(SyncFigures { json: j, lines })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cold figures the README quotes: a new process pays the warm floor.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_new_process_pays_the_warm_floor() {
        let fake = FakeAsana::start(FakeOptions::default()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (warm, _) = requests_per_op(&fake).await.unwrap();
        let cold = cold_requests_per_op(&fake, dir.path()).await.unwrap();
        let expected = [
            ("list_tickets", 1),
            ("get_ticket", 1),
            ("create", 1),
            ("update", 2),
            // A change to a task reads it first (never a write outside the project).
            ("change_status", 2),
            ("assign", 2),
            ("add_comment", 2),
            ("close", 2),
            ("escalate", 3),
        ];
        for (op, n) in expected {
            assert_eq!(cold[op], json!(n), "{op}: {cold:?}");
            assert_eq!(cold[op], warm[op], "{op}: cold {cold:?}, warm {warm:?}");
        }
        assert_eq!(cold.len(), expected.len());
        fake.shutdown().await;
    }
}
