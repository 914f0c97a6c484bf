//! `ticket-bench`: how the internal provider compares with hand-written diesel on the same
//! SQLite file, and how listing scales with the number of tickets.
//!
//! Figures (all measured in one run, in a temporary folder):
//! * `internal_create_ratio`: provider `create` throughput / hand-written insert throughput
//!   (same schema, same pragmas, same history row, `BEGIN IMMEDIATE`).
//! * `internal_get_ratio`: provider `get_ticket` throughput / hand-written selects (ticket, its
//!   comments and its field and label rows, in one read transaction as the provider's are;
//!   see `raw_get`), each the median of 40 short rounds that alternate the two, after a
//!   warm-up round.
//! * `list_scale_ratio`: median time of a filtered first page (50 tickets) on the large table /
//!   on 10,000 tickets (1,000,000 vs 10,000; `--quick`: 200,000 vs 10,000);
//!   `list_field_scale_ratio` and `list_label_scale_ratio` the same for a page filtered by a
//!   custom field's value and by a label.
//! * `asana_requests_with_fields`: requests of an `asana` create and update with five mapped
//!   custom fields and labels, and without them (`fields_bench.rs`).
//! * `sync_overhead_healthy`, `sync_overhead_slow`, `sync_overhead_down`,
//!   `asana_requests_per_op`, `full_pull_10k_requests`, `full_pull_10k_ratio`: the `sync`
//!   provider against the internal one and the `asana` provider's request counts, against an
//!   in-process fake Asana on loopback (see [`sync_bench`]).
//! * `worker_push_latency_p50_ms` / `_p99_ms`, `worker_pull_latency_p50_ms` / `_p99_ms`: how
//!   fast the sync worker (`ticket sync run`) carries a change made by another writer to Asana
//!   and an edit made in Asana to the store, against their goals (see [`worker_bench`]).
//! * `feed_burst_memory_ratio`, `feed_burst_catch_up_ms`: the change feed reads a burst of
//!   10,000 changes without growing memory, and keeps up with it (see [`feed_bench`]).
//! * `webhook_idle_requests`, `webhook_pull_latency_p50_ms` / `_p99_ms`,
//!   `webhook_dropped_recovery_ms`: the worker with a webhook — requests to Asana while idle,
//!   an edit in Asana to the store through a delivery, and through the next heartbeat when
//!   the delivery is lost (see [`webhook_bench`]).
//!
//! Flags: `--quick`, `--smoke` (tiny sizes: checks that every figure is still produced, not
//! how fast; a test runs it), `--json` (one JSON object), `--readme PATH` (also write the
//! figures page, see [`readme`]), `--from-json FILE` (with `--readme`: write the page from a
//! saved `--json` object instead of measuring), `--only-internal`, `--only-sync-overhead`,
//! `--only-feed` and `--only-webhook` (measure one part of the figures), `--help`.

mod feed_bench;
mod fields_bench;
mod readme;
mod sync_bench;
mod webhook_bench;
mod worker_bench;

use std::path::Path;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::SqliteConnection;
use provider_internal::bench_support::{
    new_guid, now_micros, schema, sqlite_read, CommentRow, NewHistoryRow, TicketRow,
    SQLITE_CONNECTION_PRAGMAS,
};
use provider_internal::{InternalProvider, StoreOptions};
use ticket_provider_api::{
    FieldSchema, FieldType, FieldValue, ListQuery, NewComment, NewTicket, Status, TicketProvider,
};

const STATUSES: [&str; 8] = [
    "NEW",
    "TRIAGED",
    "IN_PROGRESS",
    "ON_HOLD",
    "ESCALATED",
    "RESOLVED",
    "CLOSED",
    "CANCELLED",
];
const PRIORITIES: [&str; 4] = ["low", "normal", "high", "urgent"];

/// How big a run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// The sizes the goals are stated for.
    Full,
    /// Smaller tables and fewer rounds (about 2.5 minutes).
    Quick,
    /// Tiny sizes, to check in a debug test that every figure is still produced.
    Smoke,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Full => "full",
            Mode::Quick => "quick",
            Mode::Smoke => "smoke",
        }
    }
}

/// Which figures a run measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    /// Every figure.
    All,
    /// Only the internal provider against the hand-written baseline (`--only-internal`).
    Internal,
    /// Only the sync overhead figures (`--only-sync-overhead`).
    SyncOverhead,
    /// Only the change feed figures (`--only-feed`).
    Feed,
    /// Only the webhook figures (`--only-webhook`).
    Webhook,
}

struct Settings {
    mode: Mode,
    part: Part,
    ops: usize,
    small_rows: usize,
    large_rows: usize,
    list_runs: usize,
    /// Tickets on the listed page.
    list_page: usize,
    sync: sync_bench::SyncSizes,
    worker: worker_bench::WorkerSizes,
    feed: feed_bench::FeedSizes,
    webhook: webhook_bench::WebhookSizes,
}

impl Settings {
    fn new(mode: Mode, part: Part) -> Settings {
        let quick = mode == Mode::Quick;
        let smoke = mode == Mode::Smoke;
        let pick = |full: usize, quick_size: usize, smoke_size: usize| match mode {
            Mode::Full => full,
            Mode::Quick => quick_size,
            Mode::Smoke => smoke_size,
        };
        Settings {
            mode,
            part,
            ops: pick(5_000, 2_000, 50),
            small_rows: pick(10_000, 10_000, 2_000),
            large_rows: pick(1_000_000, 200_000, 4_000),
            list_runs: pick(51, 51, 3),
            list_page: pick(50, 50, 5),
            sync: sync_bench::SyncSizes {
                rounds: pick(500, 200, 3),
                slow_rounds: pick(30, 10, 1),
                slow_latency: Duration::from_millis(if smoke { 10 } else { 100 }),
                warmup: pick(10, 10, 1),
                pull_tasks: pick(10_000, 10_000, 30),
                only_overhead: part == Part::SyncOverhead,
            },
            worker: worker_bench::WorkerSizes {
                push_samples: pick(50, 30, 2),
                pull_samples: pick(20, 15, 2),
                outbox_poll: smoke.then_some(Duration::from_millis(20)),
                poll_interval: if smoke {
                    Some(Duration::from_millis(100))
                } else {
                    quick.then_some(Duration::from_millis(1000))
                },
            },
            feed: feed_bench::FeedSizes {
                burst: pick(10_000, 10_000, 300),
                baseline: pick(1_000, 1_000, 30),
            },
            webhook: webhook_bench::WebhookSizes {
                samples: pick(100, 50, 2),
                dropped_samples: pick(3, 2, 1),
                idle_window: Duration::from_secs(if smoke { 1 } else { 60 }),
            },
        }
    }
}

/// The figures of one run: the JSON object and the lines of the readable table.
struct Report {
    figures: serde_json::Map<String, serde_json::Value>,
    lines: Vec<String>,
}

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const USAGE: &str =
    "usage: ticket-bench [--quick | --smoke] [--json] [--readme PATH [--from-json FILE]]

  --quick  200,000 instead of 1,000,000 tickets for the list scaling figure,
           fewer rounds for the sync overhead figures, fewer worker latency samples
           and a 1000 ms worker poll interval (instead of the default 5000 ms)
  --smoke  tiny sizes: checks that every figure is produced (the figures mean nothing)
  --json   print one JSON object instead of a table
  --readme PATH
           also write the figures page (crates/ticket-bench/README.md) from the figures
  --from-json FILE
           with --readme: write the page from a saved --json object, measure nothing
  --only-internal
           only the internal provider against hand-written diesel
           (internal_create_ratio, internal_get_ratio)
  --only-sync-overhead
           only the sync overhead figures (sync_overhead_*, sync_vs_parts*)
  --only-feed
           only the change feed figures (feed_*)
  --only-webhook
           only the worker's webhook figures (webhook_*)";

fn main() {
    let mut mode = Mode::Full;
    let mut json = false;
    let mut part = Part::All;
    let mut readme_path: Option<std::path::PathBuf> = None;
    let mut from_json: Option<std::path::PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => mode = Mode::Quick,
            "--smoke" => mode = Mode::Smoke,
            "--json" => json = true,
            "--only-internal" => part = Part::Internal,
            "--only-sync-overhead" => part = Part::SyncOverhead,
            "--only-feed" => part = Part::Feed,
            "--only-webhook" => part = Part::Webhook,
            "--readme" | "--from-json" => {
                let Some(value) = args.next() else {
                    eprintln!("ticket-bench: {arg} needs a path (try --help)");
                    std::process::exit(2);
                };
                let slot = if arg == "--readme" {
                    &mut readme_path
                } else {
                    &mut from_json
                };
                *slot = Some(value.into());
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            other => {
                eprintln!("ticket-bench: unknown argument {other:?} (try --help)");
                std::process::exit(2);
            }
        }
    }
    if let Some(saved) = from_json {
        let Some(out) = readme_path else {
            eprintln!("ticket-bench: --from-json only goes with --readme PATH");
            std::process::exit(2);
        };
        if let Err(e) = readme::write_from_file(&saved, &out) {
            eprintln!("ticket-bench: {e}");
            std::process::exit(1);
        }
        return;
    }
    let settings = Settings::new(mode, part);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ticket-bench: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    let report = match runtime.block_on(run(&settings)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ticket-bench: {e}");
            std::process::exit(1);
        }
    };
    if json {
        println!("{}", serde_json::Value::Object(report.figures.clone()));
    } else {
        for line in &report.lines {
            println!("{line}");
        }
    }
    if let Some(out) = readme_path {
        if let Err(e) = readme::write(&report.figures, &out) {
            eprintln!("ticket-bench: {e}");
            std::process::exit(1);
        }
    }
}

/// A hand-written connection with the provider's durability settings.
fn raw_connection(path: &Path) -> BenchResult<SqliteConnection> {
    let mut conn = SqliteConnection::establish(&path.display().to_string())?;
    conn.batch_execute(SQLITE_CONNECTION_PRAGMAS)?;
    Ok(conn)
}

fn raw_create(conn: &mut SqliteConnection, i: usize) -> QueryResult<String> {
    conn.immediate_transaction(|conn| {
        let now = now_micros();
        let row = TicketRow {
            guid: new_guid(),
            subject: format!("baseline {i}"),
            description: String::new(),
            status: "NEW".into(),
            priority: "normal".into(),
            assignee: None,
            created_at: now,
            updated_at: now,
            due_on: None,
            due_at: None,
        };
        diesel::insert_into(schema::data_ticket::table)
            .values(&row)
            .execute(conn)?;
        diesel::insert_into(schema::data_ticket_history::table)
            .values(&NewHistoryRow {
                ticket_guid: &row.guid,
                field: "created",
                old_value: None,
                new_value: Some("NEW"),
                changed_at: now,
                origin: "local",
                origin_user: None,
            })
            .execute(conn)?;
        Ok(row.guid)
    })
}

/// The ticket and its comments, read as the provider's `get_ticket` must: both selects in one
/// read transaction, so that a write between them cannot pair the ticket of one moment with
/// the comments of another. Without it the baseline would do less than the provider (and take
/// SQLite's read lock twice). It is the fastest such read we found with diesel: `BEGIN` and
/// `ROLLBACK` kept prepared by the connection (a read keeps nothing; `COMMIT` costs the same),
/// where `conn.transaction` hands both to `sqlite3_exec`, which parses them on every call
/// (about 6% more instructions per get).
/// What a get reads by hand: the ticket row, its comments and its field and label rows.
type RawTicket = (TicketRow, Vec<CommentRow>, Vec<(String, String, String)>);

fn raw_get(conn: &mut SqliteConnection, guid: &str) -> QueryResult<RawTicket> {
    sqlite_read::Begin.execute(conn)?;
    let read = raw_selects(conn, guid);
    let ended = sqlite_read::Rollback.execute(conn);
    let read = read?;
    ended?;
    Ok(read)
}

fn raw_selects(conn: &mut SqliteConnection, guid: &str) -> QueryResult<RawTicket> {
    use schema::{data_ticket as t, data_ticket_comment as c, data_ticket_value as v};
    let row = t::table
        .find(guid)
        .select(TicketRow::as_select())
        .get_result(conn)?;
    let comments = c::table
        .filter(c::ticket_guid.eq(guid))
        .order((c::created_at.asc(), c::comment_guid.asc()))
        .select(CommentRow::as_select())
        .load(conn)?;
    let values = v::table
        .filter(v::ticket_guid.eq(guid))
        .select((v::kind, v::name, v::value))
        .order((v::name, v::value))
        .load(conn)?;
    Ok((row, comments, values))
}

/// Runs `f` `n` times with `conn`; the elapsed time. It blocks the calling thread, where the
/// provider's operations run too (`block_in_place`), so both sides are timed on one thread;
/// the connection stays open from round to round, as the provider's pooled ones do.
fn time_raw(
    conn: &mut SqliteConnection,
    n: usize,
    f: impl Fn(&mut SqliteConnection, usize) -> QueryResult<()>,
) -> BenchResult<Duration> {
    let start = Instant::now();
    for i in 0..n {
        f(conn, i)?;
    }
    Ok(start.elapsed())
}

/// Gets `n` tickets of `sample` through the provider; the elapsed time.
async fn time_gets(
    provider: &InternalProvider,
    sample: &[String],
    n: usize,
) -> BenchResult<Duration> {
    let start = Instant::now();
    for i in 0..n {
        let t = provider.get_ticket(&sample[i % sample.len()]).await?;
        if t.comments.len() != 2 {
            return Err("get_ticket lost comments".into());
        }
    }
    Ok(start.elapsed())
}

/// Bulk-loads `rows` tickets with multi-row inserts in large transactions.
fn bulk_load(path: &Path, rows: usize) -> BenchResult<()> {
    let mut conn = raw_connection(path)?;
    conn.batch_execute("PRAGMA synchronous = OFF;")?;
    let start_us = now_micros() - i64::try_from(rows)? * 1_000;
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let chunk = 500;
    let per_tx = 50_000;
    let mut done = 0;
    while done < rows {
        let end = (done + per_tx).min(rows);
        conn.immediate_transaction(|conn| -> QueryResult<()> {
            let mut i = done;
            while i < end {
                let stop = (i + chunk).min(end);
                let batch: Vec<TicketRow> = (i..stop)
                    .map(|k| {
                        let r = next();
                        let at = start_us + i64::try_from(k).unwrap_or(0) * 1_000;
                        TicketRow {
                            guid: new_guid(),
                            subject: format!("bulk ticket {k}"),
                            description: "loaded for the list benchmark".into(),
                            status: STATUSES[(r % 8) as usize].into(),
                            priority: PRIORITIES[((r >> 8) % 4) as usize].into(),
                            assignee: Some(format!("user{}@example.com", (r >> 16) % 20)),
                            created_at: at,
                            updated_at: at,
                            due_on: None,
                            due_at: None,
                        }
                    })
                    .collect();
                diesel::insert_into(schema::data_ticket::table)
                    .values(&batch)
                    .execute(conn)?;
                // Every ticket has a severity (S1, S2 or S3); one in eight carries `vip`.
                let values: Vec<_> = batch
                    .iter()
                    .enumerate()
                    .flat_map(|(k, t)| {
                        use schema::data_ticket_value as v;
                        let severity = (
                            v::ticket_guid.eq(t.guid.clone()),
                            v::kind.eq("enum"),
                            v::name.eq("severity"),
                            v::value.eq(SEVERITIES[k % 3]),
                            v::ticket_created_at.eq(t.created_at),
                        );
                        let vip = (
                            v::ticket_guid.eq(t.guid.clone()),
                            v::kind.eq("label"),
                            v::name.eq("vip"),
                            v::value.eq(""),
                            v::ticket_created_at.eq(t.created_at),
                        );
                        std::iter::once(severity).chain((k % 8 == 0).then_some(vip))
                    })
                    .collect();
                diesel::insert_into(schema::data_ticket_value::table)
                    .values(&values)
                    .execute(conn)?;
                i = stop;
            }
            Ok(())
        })?;
        done = end;
    }
    conn.batch_execute("ANALYZE;")?;
    Ok(())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// Median times of the first page of `query` on two providers, measured alternately so
/// that caches and clock drift affect both alike.
async fn list_medians(
    small: &InternalProvider,
    large: &InternalProvider,
    query: &ListQuery,
    runs: usize,
) -> BenchResult<(Duration, Duration)> {
    let page_size = query.limit.unwrap_or_default();
    for p in [small, large] {
        for _ in 0..3 {
            p.list_tickets(query.clone()).await?;
        }
    }
    let (mut ts, mut tl) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
    for run in 0..runs {
        let order = if run % 2 == 0 { [0, 1] } else { [1, 0] };
        for which in order {
            let p = if which == 0 { small } else { large };
            let start = Instant::now();
            let page = p.list_tickets(query.clone()).await?;
            let elapsed = start.elapsed();
            if page.tickets.len() != page_size {
                return Err(format!("expected a full page, got {}", page.tickets.len()).into());
            }
            if which == 0 {
                ts.push(elapsed)
            } else {
                tl.push(elapsed)
            }
        }
    }
    Ok((median(ts), median(tl)))
}

/// The options of [`bulk_load`] in [`bulk_load`]'s values.
const SEVERITIES: [&str; 3] = ["S1", "S2", "S3"];

async fn open(path: &Path) -> BenchResult<InternalProvider> {
    let severity = FieldType::Enum {
        options: SEVERITIES.iter().map(|s| s.to_string()).collect(),
    };
    Ok(InternalProvider::open(
        &format!("sqlite://{}", path.display()),
        StoreOptions {
            fields: FieldSchema::new([("severity".to_string(), severity)])?,
            ..StoreOptions::default()
        },
    )
    .await?)
}

/// The internal provider against hand-written diesel on the same file: operations per second.
struct InternalFigures {
    create_ops: f64,
    create_provider: f64,
    create_raw: f64,
    get_ops: f64,
    get_provider: f64,
    get_raw: f64,
}

impl InternalFigures {
    /// Adds the figures to the JSON object and their rows to the readable table.
    fn add_to(
        &self,
        json: &mut serde_json::Map<String, serde_json::Value>,
        lines: &mut Vec<String>,
    ) {
        let create_ratio = ratio(self.create_provider, self.create_raw);
        let get_ratio = ratio(self.get_provider, self.get_raw);
        for (key, value) in [
            ("internal_create_ratio", round3(create_ratio)),
            ("internal_get_ratio", round3(get_ratio)),
            ("create_ops", self.create_ops),
            ("create_per_sec_provider", self.create_provider.round()),
            ("create_per_sec_baseline", self.create_raw.round()),
            ("get_ops", self.get_ops),
            ("get_per_sec_provider", self.get_provider.round()),
            ("get_per_sec_baseline", self.get_raw.round()),
        ] {
            json.insert(key.into(), value.into());
        }
        lines.push(format!(
            "{:<34} {:>12} {:>12} {:>8}",
            "figure", "provider", "baseline", "ratio"
        ));
        lines.push(format!(
            "{:<34} {:>10.0}/s {:>10.0}/s {:>8.3}",
            "create (ticket + history row)", self.create_provider, self.create_raw, create_ratio
        ));
        lines.push(format!(
            "{:<34} {:>10.0}/s {:>10.0}/s {:>8.3}",
            "get_ticket (ticket + comments)", self.get_provider, self.get_raw, get_ratio
        ));
        lines.push(format!("internal_create_ratio = {create_ratio:.3}"));
        lines.push(format!("internal_get_ratio    = {get_ratio:.3}"));
    }
}

/// `a / b`, or 0 when `b` is not positive.
fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

/// Creates and gets through the provider and through hand-written diesel, alternating in
/// rounds so that both see the same file state.
async fn internal_figures(dir: &Path, s: &Settings) -> BenchResult<InternalFigures> {
    let ops_path = dir.join("ops.db");
    let provider = open(&ops_path).await?;
    let mut raw = raw_connection(&ops_path)?;

    // create: in rounds that alternate the provider and the baseline.
    let rounds = 5;
    let per_round = s.ops / rounds;
    let (mut t_provider, mut t_raw) = (Duration::ZERO, Duration::ZERO);
    let mut guids = Vec::with_capacity(s.ops);
    for round in 0..rounds {
        let start = Instant::now();
        for i in 0..per_round {
            let r = provider
                .create(NewTicket::new(format!("provider {round}/{i}")))
                .await?;
            guids.push(r.guid);
        }
        t_provider += start.elapsed();
        t_raw += time_raw(&mut raw, per_round, |c, i| raw_create(c, i).map(|_| ()))?;
    }
    let n_created = (per_round * rounds) as f64;
    let create_provider = n_created / t_provider.as_secs_f64();
    let create_raw = n_created / t_raw.as_secs_f64();

    // get: tickets with two comments each.
    let sample: Vec<String> = guids.iter().take(200).cloned().collect();
    for g in &sample {
        provider.add_comment(g, NewComment::new("first")).await?;
        provider.add_comment(g, NewComment::new("second")).await?;
    }
    // Round 0 warms both up (statements prepared, pages cached) and is not counted. Short
    // rounds alternate which side goes first, and each side's figure is its median round: a
    // round that another process interrupted counts for neither.
    let get_rounds = 40;
    let per_round = (4 * s.ops / get_rounds).max(1);
    let (mut g_provider, mut g_raw) = (Vec::new(), Vec::new());
    for round in 0..=get_rounds {
        for provider_side in [round % 2 == 0, round % 2 == 1] {
            let elapsed = if provider_side {
                time_gets(&provider, &sample, per_round).await?
            } else {
                time_raw(&mut raw, per_round, |c, i| {
                    raw_get(c, &sample[i % sample.len()]).map(|_| ())
                })?
            };
            if round > 0 {
                if provider_side {
                    &mut g_provider
                } else {
                    &mut g_raw
                }
                .push(elapsed);
            }
        }
    }
    let get_provider = per_round as f64 / median(g_provider).as_secs_f64();
    let get_raw = per_round as f64 / median(g_raw).as_secs_f64();
    let n_gets = (per_round * get_rounds) as f64;

    Ok(InternalFigures {
        create_ops: n_created,
        create_provider,
        create_raw,
        get_ops: n_gets,
        get_provider,
        get_raw,
    })
}

/// Measures the figures `s.part` selects at the sizes of `s`.
async fn run(s: &Settings) -> BenchResult<Report> {
    let dir = tempfile::tempdir()?;
    if s.part == Part::Feed {
        let figures = feed_bench::run(dir.path(), &s.feed).await?;
        let mut json = figures.json;
        json.insert("mode".into(), s.mode.name().into());
        json.insert("machine".into(), machine());
        return Ok(Report {
            figures: json,
            lines: figures.lines,
        });
    }
    if s.part == Part::SyncOverhead {
        let figures = sync_bench::run(dir.path(), &s.sync).await?;
        return Ok(Report {
            figures: figures.json,
            lines: figures.lines,
        });
    }
    if s.part == Part::Webhook {
        let figures = webhook_bench::run(dir.path(), &s.webhook).await?;
        let mut json = figures.json;
        json.insert("mode".into(), s.mode.name().into());
        json.insert("machine".into(), machine());
        return Ok(Report {
            figures: json,
            lines: figures.lines,
        });
    }
    let internal = internal_figures(dir.path(), s).await?;
    if s.part == Part::Internal {
        let mut figures = serde_json::Map::new();
        figures.insert("mode".into(), s.mode.name().into());
        figures.insert("machine".into(), machine());
        let mut lines = vec![format!(
            "ticket-bench ({} mode, internal only)",
            s.mode.name()
        )];
        internal.add_to(&mut figures, &mut lines);
        return Ok(Report { figures, lines });
    }

    // list scaling.
    let small_path = dir.path().join("small.db");
    let large_path = dir.path().join("large.db");
    drop(open(&small_path).await?);
    drop(open(&large_path).await?);
    let load_start = Instant::now();
    let (sp, lp, sr, lr) = (
        small_path.clone(),
        large_path.clone(),
        s.small_rows,
        s.large_rows,
    );
    tokio::task::spawn_blocking(move || bulk_load(&sp, sr)).await??;
    tokio::task::spawn_blocking(move || bulk_load(&lp, lr)).await??;
    let load_secs = load_start.elapsed().as_secs_f64();
    let small = open(&small_path).await?;
    let large = open(&large_path).await?;
    let by_status = ListQuery {
        status: Some(Status::InProgress),
        limit: Some(s.list_page),
        ..Default::default()
    };
    let by_status_assignee = ListQuery {
        assignee: Some("user7@example.com".into()),
        ..by_status.clone()
    };
    let unfiltered = ListQuery {
        limit: Some(s.list_page),
        ..Default::default()
    };
    let (t_small, t_large) = list_medians(&small, &large, &by_status, s.list_runs).await?;
    let (t2_small, t2_large) =
        list_medians(&small, &large, &by_status_assignee, s.list_runs).await?;
    let (t3_small, t3_large) = list_medians(&small, &large, &unfiltered, s.list_runs).await?;
    let by_field = ListQuery {
        fields: [("severity".to_string(), FieldValue::Enum("S2".into()))].into(),
        ..unfiltered.clone()
    };
    let by_label = ListQuery {
        labels: ["vip".to_string()].into(),
        ..unfiltered.clone()
    };
    let (t4_small, t4_large) = list_medians(&small, &large, &by_field, s.list_runs).await?;
    let (t5_small, t5_large) = list_medians(&small, &large, &by_label, s.list_runs).await?;

    drop(small);
    drop(large);
    let sync_figures = sync_bench::run(dir.path(), &s.sync).await?;
    let worker_figures = worker_bench::run(dir.path(), &s.worker).await?;
    let feed_figures = feed_bench::run(dir.path(), &s.feed).await?;
    let webhook_figures = webhook_bench::run(dir.path(), &s.webhook).await?;

    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let figures = serde_json::json!({
        "list_scale_ratio": round3(ratio(us(t_large), us(t_small))),
        "quick": s.mode == Mode::Quick,
        "mode": s.mode.name(),
        "machine": machine(),
        "list_page": s.list_page,
        "list_small_rows": s.small_rows,
        "list_large_rows": s.large_rows,
        "list_status_small_us": us(t_small).round(),
        "list_status_large_us": us(t_large).round(),
        "list_status_assignee_scale_ratio": round3(ratio(us(t2_large), us(t2_small))),
        "list_unfiltered_scale_ratio": round3(ratio(us(t3_large), us(t3_small))),
        "list_field_scale_ratio": round3(ratio(us(t4_large), us(t4_small))),
        "list_label_scale_ratio": round3(ratio(us(t5_large), us(t5_small))),
        "bulk_load_seconds": round3(load_secs),
    });
    let mut figures = match figures {
        serde_json::Value::Object(m) => m,
        _ => return Err("the figures are not a JSON object".into()),
    };
    figures.extend(sync_figures.json);
    figures.extend(worker_figures.json);
    figures.extend(feed_figures.json);
    figures.extend(webhook_figures.json);
    let mut lines = Vec::new();
    lines.push(format!(
        "ticket-bench ({} mode, SQLite in {})",
        s.mode.name(),
        dir.path().display()
    ));
    internal.add_to(&mut figures, &mut lines);
    lines.push(format!(
        "{:<34} {:>12} {:>12} {:>8}",
        "",
        format!("{} rows", s.large_rows),
        format!("{} rows", s.small_rows),
        "ratio"
    ));
    let page = s.list_page;
    for (name, large, small) in [
        (format!("list page {page}, status"), t_large, t_small),
        (
            format!("list page {page}, status + assignee"),
            t2_large,
            t2_small,
        ),
        (format!("list page {page}, unfiltered"), t3_large, t3_small),
        (format!("list page {page}, field value"), t4_large, t4_small),
        (format!("list page {page}, label"), t5_large, t5_small),
    ] {
        lines.push(format!(
            "{:<34} {:>10.0}us {:>10.0}us {:>8.3}",
            name,
            us(large),
            us(small),
            ratio(us(large), us(small))
        ));
    }
    lines.push(format!(
        "list_scale_ratio      = {:.3}",
        ratio(us(t_large), us(t_small))
    ));
    lines.push(format!(
        "(bulk load of {} + {} rows took {load_secs:.1}s)",
        s.small_rows, s.large_rows
    ));
    lines.extend(sync_figures.lines);
    lines.extend(worker_figures.lines);
    lines.extend(feed_figures.lines);
    lines.extend(webhook_figures.lines);
    Ok(Report { figures, lines })
}

/// The machine the figures were measured on: OS, architecture, CPU model and count.
fn machine() -> serde_json::Value {
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string());
    let memory_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<f64>().ok())
        })
        .map(|kib| (kib / 1024.0 / 1024.0).round());
    serde_json::json!({
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
        "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "cpu_model": cpu_model,
        "memory_gib": memory_gib,
    })
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bench's own code on tiny sizes (`--smoke`), in debug: every figure of every part
    /// (internal, list scaling, sync overhead, store transactions, request counts, full pull,
    /// worker) is produced, finite and positive, and the figures page can be written from the
    /// JSON. Per-commit CI does not run the benchmark; this keeps it from rotting.
    #[test]
    fn a_smoke_run_produces_every_figure() {
        let settings = Settings::new(Mode::Smoke, Part::All);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let report = runtime.block_on(run(&settings)).expect("the smoke run");
        let figures = &report.figures;
        assert_eq!(figures["mode"], "smoke");
        let headline = readme::headline(figures).expect("the sizes the page quotes");
        assert_eq!(headline.len(), 26);
        for f in &headline {
            let v = readme::lookup(figures, &f.key)
                .unwrap_or_else(|| panic!("no `{}` in {figures:?}", f.key));
            if f.key == "webhook_idle_requests" {
                // Its goal is 0: a count, not a duration.
                assert!(v.as_u64().is_some(), "`{}` = {v}", f.key);
                continue;
            }
            let numbers: Vec<f64> = match v {
                serde_json::Value::Object(m) => m.values().filter_map(|x| x.as_f64()).collect(),
                other => vec![other.as_f64().unwrap_or(f64::NAN)],
            };
            assert!(!numbers.is_empty(), "`{}` holds no number: {v}", f.key);
            for n in numbers {
                assert!(n.is_finite() && n > 0.0, "`{}` = {v}", f.key);
            }
        }
        // The request counts cover every operation, warm and in a new process.
        for op in [
            "create",
            "update",
            "change_status",
            "add_comment",
            "get_ticket",
        ] {
            assert!(
                figures["asana_requests_per_op"][op].as_u64() >= Some(1),
                "{op}"
            );
            assert!(
                figures["asana_requests_per_op"]["cold"][op].as_u64() >= Some(1),
                "{op}"
            );
        }
        // Five mapped fields and labels cost a create or an update no request more.
        let with = &figures["asana_requests_with_fields"];
        for (op, plain) in [("create", "create_plain"), ("update", "update_plain")] {
            assert!(with[op].as_u64() >= Some(1), "{with}");
            assert!(with[op].as_u64() <= with[plain].as_u64(), "{with}");
        }
        assert_eq!(figures["full_pull_tasks"], 30);
        assert_eq!(figures["full_pull_created"], 30);
        assert_eq!(figures["worker_push_samples"], 2);
        assert_eq!(figures["worker_pull_samples"], 2);
        assert_eq!(figures["feed_burst_changes"], 300);
        assert_eq!(figures["feed_baseline_changes"], 30);
        assert_eq!(figures["webhook_pull_samples"], 2);
        assert!(figures["webhook_dropped_recovery_ms"].as_f64() > Some(0.0));
        // The readable table has a line for each part.
        let table = report.lines.join("\n");
        for part in [
            "create (ticket + history row)",
            "list page 5, status + assignee",
            "round, Asana down",
            "sync store round trips",
            "full pull of 30 tasks",
            "push, other writer (2 samples)",
            "feed: peak rise reading 300 changes",
            "dropped delivery (1 samples)",
            "requests to Asana while idle",
        ] {
            assert!(table.contains(part), "no {part:?} in\n{table}");
        }
        // The page is written from the JSON as `--json` prints it.
        let dir = tempfile::tempdir().expect("dir");
        let saved = dir.path().join("figures.json");
        let json = serde_json::Value::Object(figures.clone()).to_string();
        std::fs::write(&saved, json).expect("save");
        let page_path = dir.path().join("README.md");
        readme::write_from_file(&saved, &page_path).expect("the page");
        let page = std::fs::read_to_string(&page_path).expect("read the page");
        assert!(page.contains("**smoke-mode** run"), "{page}");
        for f in &headline {
            assert!(page.contains(&format!("| `{}` |", f.key)), "{}", f.key);
        }
    }

    /// `--only-internal` measures the internal figures and nothing else.
    #[test]
    fn only_internal_measures_the_internal_figures_alone() {
        let settings = Settings::new(Mode::Smoke, Part::Internal);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let report = runtime.block_on(run(&settings)).expect("the run");
        for key in ["internal_create_ratio", "internal_get_ratio"] {
            let v = report.figures[key].as_f64().unwrap_or(f64::NAN);
            assert!(v.is_finite() && v > 0.0, "{key} = {v}");
        }
        assert!(!report.figures.contains_key("list_scale_ratio"));
        assert!(!report.figures.contains_key("sync_overhead_healthy"));
        // 40 rounds of 5 gets on each side (4 × 50 operations).
        assert_eq!(report.figures["get_ops"], 200.0);
    }

    /// The baseline's get ends its read transaction whether it finds the ticket or not: the
    /// connection can begin a write afterwards (SQLite refuses a `BEGIN` inside an open one).
    #[test]
    fn the_baseline_get_ends_its_read_transaction() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("t.db");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let guid = runtime.block_on(async {
            let provider = open(&path).await.expect("open");
            let mut new = NewTicket::new("read me");
            new.fields
                .insert("severity".into(), FieldValue::Enum("S1".into()));
            let t = provider.create(new).await.expect("create");
            provider
                .add_comment(&t.guid, NewComment::new("one"))
                .await
                .expect("comment");
            t.guid
        });
        let mut conn = raw_connection(&path).expect("connection");
        let (row, comments, values) = raw_get(&mut conn, &guid).expect("the ticket");
        assert_eq!((row.subject.as_str(), comments.len()), ("read me", 1));
        assert_eq!(
            values,
            [("enum".to_string(), "severity".to_string(), "S1".to_string())]
        );
        conn.immediate_transaction(|_| QueryResult::Ok(()))
            .expect("no transaction left open after a get");
        let missing = raw_get(&mut conn, &new_guid()).expect_err("an unknown ticket");
        assert_eq!(missing, diesel::result::Error::NotFound);
        conn.immediate_transaction(|_| QueryResult::Ok(()))
            .expect("no transaction left open after a failed get");
    }

    /// A figure missing from the JSON is named, and nothing is written.
    #[test]
    fn the_page_names_a_missing_figure_and_writes_nothing() {
        let dir = tempfile::tempdir().expect("dir");
        let saved = dir.path().join("figures.json");
        std::fs::write(
            &saved,
            r#"{"mode": "quick", "machine": {}, "list_small_rows": 1}"#,
        )
        .expect("save");
        let page_path = dir.path().join("README.md");
        let err = readme::write_from_file(&saved, &page_path).expect_err("incomplete figures");
        assert_eq!(err, "the figures lack `list_large_rows`");
        assert!(!page_path.exists());
        std::fs::write(&saved, "[1]").expect("save");
        let err = readme::write_from_file(&saved, &page_path).expect_err("not an object");
        assert!(err.ends_with("is not a JSON object"), "{err}");
        assert!(!page_path.exists());
    }
}
