//! `ticket-bench`: how the internal provider compares with hand-written diesel on the same
//! SQLite file, and how listing scales with the number of tickets.
//!
//! Figures (all measured in one run, in a temporary folder):
//! * `internal_create_ratio`: provider `create` throughput / hand-written insert throughput
//!   (same schema, same pragmas, same history row, `BEGIN IMMEDIATE`).
//! * `internal_get_ratio`: provider `get_ticket` throughput / hand-written selects (ticket and
//!   its comments).
//! * `list_scale_ratio`: median time of a filtered first page (50 tickets) on the large table /
//!   on 10,000 tickets (1,000,000 vs 10,000; `--quick`: 200,000 vs 10,000).
//! * `sync_overhead_healthy`, `sync_overhead_slow`, `sync_overhead_down`,
//!   `asana_requests_per_op`, `full_pull_10k_requests`, `full_pull_10k_ratio`: the `sync`
//!   provider against the internal one and the `asana` provider's request counts, against an
//!   in-process fake Asana on loopback (see [`sync_bench`]).
//! * `worker_push_latency_p50_ms` / `_p99_ms`, `worker_pull_latency_p50_ms` / `_p99_ms`: how
//!   fast the sync worker (`ticket sync run`) carries a change made by another writer to Asana
//!   and an edit made in Asana to the store, against their goals (see [`worker_bench`]).
//!
//! Flags: `--quick`, `--json` (one JSON object), `--help`.

mod sync_bench;
mod worker_bench;

use std::path::Path;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::SqliteConnection;
use provider_internal::bench_support::{
    new_guid, now_micros, schema, CommentRow, NewHistoryRow, TicketRow, SQLITE_CONNECTION_PRAGMAS,
};
use provider_internal::{InternalProvider, StoreOptions};
use ticket_provider_api::{ListQuery, NewComment, NewTicket, Status, TicketProvider};

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

struct Settings {
    quick: bool,
    json: bool,
    ops: usize,
    small_rows: usize,
    large_rows: usize,
    list_runs: usize,
    sync: sync_bench::SyncSizes,
    worker: worker_bench::WorkerSizes,
}

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn main() {
    let mut quick = false;
    let mut json = false;
    let mut only_sync_overhead = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--quick" => quick = true,
            "--json" => json = true,
            "--only-sync-overhead" => only_sync_overhead = true,
            "-h" | "--help" => {
                println!("usage: ticket-bench [--quick] [--json]\n\n  --quick  200,000 instead of 1,000,000 tickets for the list scaling figure,\n           fewer rounds for the sync overhead figures, fewer worker latency samples\n           and a 1000 ms worker poll interval (instead of the default 5000 ms)\n  --json   print one JSON object instead of a table\n  --only-sync-overhead\n           only the sync overhead figures (sync_overhead_*, sync_vs_parts*)");
                return;
            }
            other => {
                eprintln!("ticket-bench: unknown argument {other:?} (try --help)");
                std::process::exit(2);
            }
        }
    }
    let settings = Settings {
        quick,
        json,
        ops: if quick { 2_000 } else { 5_000 },
        small_rows: 10_000,
        large_rows: if quick { 200_000 } else { 1_000_000 },
        list_runs: 51,
        sync: sync_bench::SyncSizes {
            rounds: if quick { 200 } else { 500 },
            slow_rounds: if quick { 10 } else { 30 },
            warmup: 10,
            pull_tasks: 10_000,
            only_overhead: only_sync_overhead,
        },
        worker: worker_bench::WorkerSizes {
            push_samples: if quick { 30 } else { 50 },
            pull_samples: if quick { 15 } else { 20 },
            poll_interval: quick.then_some(Duration::from_millis(1000)),
        },
    };
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
    if let Err(e) = runtime.block_on(run(&settings)) {
        eprintln!("ticket-bench: {e}");
        std::process::exit(1);
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
            })
            .execute(conn)?;
        Ok(row.guid)
    })
}

fn raw_get(conn: &mut SqliteConnection, guid: &str) -> QueryResult<(TicketRow, Vec<CommentRow>)> {
    use schema::{data_ticket as t, data_ticket_comment as c};
    let row = t::table
        .find(guid)
        .select(TicketRow::as_select())
        .get_result(conn)?;
    let comments = c::table
        .filter(c::ticket_guid.eq(guid))
        .order((c::created_at.asc(), c::comment_guid.asc()))
        .select(CommentRow::as_select())
        .load(conn)?;
    Ok((row, comments))
}

/// Runs `f` `n` times on a blocking thread; the elapsed time.
async fn time_raw<F>(path: &Path, n: usize, f: F) -> BenchResult<Duration>
where
    F: Fn(&mut SqliteConnection, usize) -> QueryResult<()> + Send + 'static,
{
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || -> BenchResult<Duration> {
        let mut conn = raw_connection(&path)?;
        let start = Instant::now();
        for i in 0..n {
            f(&mut conn, i)?;
        }
        Ok(start.elapsed())
    })
    .await?
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
            if page.tickets.len() != 50 {
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

async fn open(path: &Path) -> BenchResult<InternalProvider> {
    Ok(InternalProvider::open(
        &format!("sqlite://{}", path.display()),
        StoreOptions::default(),
    )
    .await?)
}

async fn run(s: &Settings) -> BenchResult<()> {
    let dir = tempfile::tempdir()?;
    if s.sync.only_overhead {
        let figures = sync_bench::run(dir.path(), &s.sync).await?;
        if s.json {
            println!("{}", serde_json::Value::Object(figures.json));
        } else {
            for line in &figures.lines {
                println!("{line}");
            }
        }
        return Ok(());
    }
    let ops_path = dir.path().join("ops.db");
    let provider = open(&ops_path).await?;

    // create: alternate provider and baseline in rounds so both see the same file state.
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
        t_raw += time_raw(&ops_path, per_round, |c, i| raw_create(c, i).map(|_| ())).await?;
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
    let (mut g_provider, mut g_raw) = (Duration::ZERO, Duration::ZERO);
    let gets = s.ops;
    for _ in 0..rounds {
        let start = Instant::now();
        for i in 0..gets / rounds {
            let t = provider.get_ticket(&sample[i % sample.len()]).await?;
            if t.comments.len() != 2 {
                return Err("get_ticket lost comments".into());
            }
        }
        g_provider += start.elapsed();
        let list = sample.clone();
        g_raw += time_raw(&ops_path, gets / rounds, move |c, i| {
            raw_get(c, &list[i % list.len()]).map(|_| ())
        })
        .await?;
    }
    let n_gets = ((gets / rounds) * rounds) as f64;
    let get_provider = n_gets / g_provider.as_secs_f64();
    let get_raw = n_gets / g_raw.as_secs_f64();
    drop(provider);

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
        limit: Some(50),
        ..Default::default()
    };
    let by_status_assignee = ListQuery {
        assignee: Some("user7@example.com".into()),
        ..by_status.clone()
    };
    let unfiltered = ListQuery {
        limit: Some(50),
        ..Default::default()
    };
    let (t_small, t_large) = list_medians(&small, &large, &by_status, s.list_runs).await?;
    let (t2_small, t2_large) =
        list_medians(&small, &large, &by_status_assignee, s.list_runs).await?;
    let (t3_small, t3_large) = list_medians(&small, &large, &unfiltered, s.list_runs).await?;

    drop(small);
    drop(large);
    let sync_figures = sync_bench::run(dir.path(), &s.sync).await?;
    let worker_figures = worker_bench::run(dir.path(), &s.worker).await?;

    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let mut figures = serde_json::json!({
        "internal_create_ratio": round3(ratio(create_provider, create_raw)),
        "internal_get_ratio": round3(ratio(get_provider, get_raw)),
        "list_scale_ratio": round3(ratio(us(t_large), us(t_small))),
        "quick": s.quick,
        "create_ops": n_created,
        "create_per_sec_provider": create_provider.round(),
        "create_per_sec_baseline": create_raw.round(),
        "get_ops": n_gets,
        "get_per_sec_provider": get_provider.round(),
        "get_per_sec_baseline": get_raw.round(),
        "list_small_rows": s.small_rows,
        "list_large_rows": s.large_rows,
        "list_status_small_us": us(t_small).round(),
        "list_status_large_us": us(t_large).round(),
        "list_status_assignee_scale_ratio": round3(ratio(us(t2_large), us(t2_small))),
        "list_unfiltered_scale_ratio": round3(ratio(us(t3_large), us(t3_small))),
        "bulk_load_seconds": round3(load_secs),
    });
    if let Some(obj) = figures.as_object_mut() {
        obj.extend(sync_figures.json);
        obj.extend(worker_figures.json);
    }
    if s.json {
        println!("{figures}");
    } else {
        println!(
            "ticket-bench ({} mode, SQLite in {})",
            if s.quick { "quick" } else { "full" },
            dir.path().display()
        );
        println!(
            "{:<34} {:>12} {:>12} {:>8}",
            "figure", "provider", "baseline", "ratio"
        );
        println!(
            "{:<34} {:>10.0}/s {:>10.0}/s {:>8.3}",
            "create (ticket + history row)",
            create_provider,
            create_raw,
            ratio(create_provider, create_raw)
        );
        println!(
            "{:<34} {:>10.0}/s {:>10.0}/s {:>8.3}",
            "get_ticket (ticket + comments)",
            get_provider,
            get_raw,
            ratio(get_provider, get_raw)
        );
        println!(
            "{:<34} {:>12} {:>12} {:>8}",
            "",
            format!("{} rows", s.large_rows),
            format!("{} rows", s.small_rows),
            "ratio"
        );
        for (name, large, small) in [
            ("list page 50, status", t_large, t_small),
            ("list page 50, status + assignee", t2_large, t2_small),
            ("list page 50, unfiltered", t3_large, t3_small),
        ] {
            println!(
                "{:<34} {:>10.0}us {:>10.0}us {:>8.3}",
                name,
                us(large),
                us(small),
                ratio(us(large), us(small))
            );
        }
        println!(
            "internal_create_ratio = {:.3}",
            ratio(create_provider, create_raw)
        );
        println!(
            "internal_get_ratio    = {:.3}",
            ratio(get_provider, get_raw)
        );
        println!(
            "list_scale_ratio      = {:.3}",
            ratio(us(t_large), us(t_small))
        );
        println!(
            "(bulk load of {} + {} rows took {load_secs:.1}s)",
            s.small_rows, s.large_rows
        );
        for line in sync_figures.lines.iter().chain(&worker_figures.lines) {
            println!("{line}");
        }
    }
    Ok(())
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
