//! Figures of the change feed (`TicketChanges`, issue 25: "the feed keeps up with a burst of
//! 10,000 changes without growing memory"), on a SQLite file of the internal provider:
//!
//! * `feed_burst_memory_ratio`: how much the process's peak memory rose while a watcher
//!   (`watch`) read a backlog of [`FeedSizes::burst`] changes (10,000), divided by the same
//!   for a backlog of [`FeedSizes::baseline`] changes (1,000), both in this run. The peak is
//!   Linux's `VmHWM`, reset before each read through `/proc/self/clear_refs`; the rise is
//!   that peak minus the resident size just before, at least one page (4 KiB), so that the
//!   ratio stays defined when nothing rose. The watcher's store has one pooled connection,
//!   and a full read of the feed warms its page cache first, so that both reads start from
//!   the same state and the ratio shows what reading ten times as much costs. Flat memory
//!   is a ratio near 1 (goal ≤ 1.5: a watcher holds one page of changes, not the backlog).
//!   The two rises are `feed_burst_peak_rise_kib` and `feed_baseline_peak_rise_kib`.
//! * `feed_burst_catch_up_ms`: a watcher following the store while ANOTHER store handle
//!   (as another process would) commits a burst of 10,000 changes, 100 a transaction: the
//!   time from the burst's last commit until the watcher has handed out its last change.
//!   `feed_burst_changes_per_sec` is the burst's size over the time from its first commit
//!   to then (the writer's pace bounds it; the watcher keeps up when the catch-up is short).

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use provider_internal::{InternalProvider, StoreOptions};
use serde_json::{json, Map};
use ticket_provider_api::{ChangeCursor, NewTicket, TicketChanges, TicketProvider};

use crate::sync_bench::SyncFigures;
use crate::BenchResult;

/// Sizes of the feed figures.
pub(crate) struct FeedSizes {
    /// The burst (10,000).
    pub(crate) burst: usize,
    /// The baseline backlog the burst's memory is compared with (1,000).
    pub(crate) baseline: usize,
}

/// Changes a writer commits in one transaction.
const PER_TRANSACTION: usize = 100;

/// A page, the floor of a rise.
const PAGE_KIB: u64 = 4;

/// The goal of `feed_burst_memory_ratio`.
pub(crate) const MEMORY_RATIO_GOAL: f64 = 1.5;

/// `VmRSS` and `VmHWM` of this process, in KiB.
fn memory_kib() -> BenchResult<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let field = |name: &str| -> BenchResult<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| format!("/proc/self/status has no {name}").into())
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// Resets `VmHWM` to the resident size now; that size.
fn reset_peak() -> BenchResult<u64> {
    std::fs::write("/proc/self/clear_refs", "5")?;
    Ok(memory_kib()?.0)
}

/// Commits `n` changes through `writer` (assignee changes of `guid`), `PER_TRANSACTION` a
/// transaction.
async fn commit_changes(
    writer: &InternalProvider,
    guid: &str,
    n: usize,
    tag: &str,
) -> BenchResult<()> {
    let mut done = 0;
    while done < n {
        let batch = PER_TRANSACTION.min(n - done);
        let (g, tag, from) = (guid.to_string(), tag.to_string(), done);
        writer
            .write(move |tx| {
                for i in from..from + batch {
                    tx.assign(&g, &format!("{tag}-{i}@example.com"))?;
                }
                Ok(())
            })
            .await?;
        done += batch;
    }
    Ok(())
}

/// Reads `n` changes from `since` with a watcher; the rise of the peak (KiB, at least a page).
async fn watched_rise(p: &InternalProvider, since: ChangeCursor, n: usize) -> BenchResult<u64> {
    let before = reset_peak()?;
    let mut stream = TicketChanges::watch(p, Some(since)).await?;
    for i in 0..n {
        match tokio::time::timeout(Duration::from_secs(60), stream.next()).await {
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => return Err(e.into()),
            _ => return Err(format!("the watcher stopped after {i} of {n} changes").into()),
        }
    }
    drop(stream);
    let (_, peak) = memory_kib()?;
    Ok(peak.saturating_sub(before).max(PAGE_KIB))
}

/// Measures the feed figures in a new SQLite file under `dir`.
pub(crate) async fn run(dir: &Path, sizes: &FeedSizes) -> BenchResult<SyncFigures> {
    let url = format!("sqlite://{}", dir.join("feed.db").display());
    // The watcher's store: one connection, so that the warm-up warms the one that reads.
    let reader = InternalProvider::open(
        &url,
        StoreOptions {
            pool_size: Some(1),
            ..Default::default()
        },
    )
    .await?;
    let writer = InternalProvider::open(&url, StoreOptions::default()).await?;
    let guid = writer.create(NewTicket::new("feed bench")).await?.guid;

    // Memory: two backlogs, read from their start after a full warm-up read.
    let start = reader.changes(None, 1000).await?.cursor;
    commit_changes(&writer, &guid, sizes.baseline, "base").await?;
    let middle = last_cursor(&reader, start).await?;
    commit_changes(&writer, &guid, sizes.burst, "burst").await?;
    let end = last_cursor(&reader, middle).await?;
    // The warm-up: every change once more, now that no write follows.
    last_cursor(&reader, start).await?;
    // One unmeasured watch first: what the first one allocates once (the watcher's own
    // connection, the allocator's arenas) is no part of either figure.
    watched_rise(&reader, start, sizes.baseline).await?;
    let baseline_rise = watched_rise(&reader, start, sizes.baseline).await?;
    let burst_rise = watched_rise(&reader, middle, sizes.burst).await?;
    let ratio = burst_rise as f64 / baseline_rise as f64;

    // Keeping up: a watcher follows a burst another handle commits.
    let from = last_cursor(&reader, end).await?;
    let seen = Arc::new(AtomicUsize::new(0));
    let follower = {
        let (reader, seen, n) = (reader.clone(), Arc::clone(&seen), sizes.burst);
        tokio::spawn(async move {
            let mut stream = TicketChanges::watch(&reader, Some(from)).await?;
            while seen.load(Ordering::Relaxed) < n {
                match tokio::time::timeout(Duration::from_secs(60), stream.next()).await {
                    Ok(Some(Ok(_))) => {
                        seen.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Some(Err(e))) => return Err(e),
                    _ => {
                        return Err(ticket_provider_api::Error::internal(
                            "the follower stopped before the burst ended",
                        ))
                    }
                }
            }
            Ok::<Instant, ticket_provider_api::Error>(Instant::now())
        })
    };
    let first_commit = Instant::now();
    commit_changes(&writer, &guid, sizes.burst, "live").await?;
    let last_commit = Instant::now();
    let caught_up = follower.await??;
    let catch_up_ms = caught_up
        .saturating_duration_since(last_commit)
        .as_secs_f64()
        * 1e3;
    let per_sec = sizes.burst as f64 / caught_up.duration_since(first_commit).as_secs_f64();

    let round1 = |x: f64| (x * 10.0).round() / 10.0;
    let mut j = Map::new();
    for (k, v) in [
        ("feed_burst_changes", json!(sizes.burst)),
        ("feed_baseline_changes", json!(sizes.baseline)),
        ("feed_burst_peak_rise_kib", json!(burst_rise)),
        ("feed_baseline_peak_rise_kib", json!(baseline_rise)),
        ("feed_burst_memory_ratio", json!(crate::round3(ratio))),
        ("feed_burst_memory_ratio_goal", json!(MEMORY_RATIO_GOAL)),
        // At least a tenth of a millisecond, so that the figure stays positive.
        (
            "feed_burst_catch_up_ms",
            json!(round1(catch_up_ms).max(0.1)),
        ),
        ("feed_burst_changes_per_sec", json!(per_sec.round())),
    ] {
        j.insert(k.to_string(), v);
    }
    let lines = vec![
        format!(
            "feed: peak rise reading {} changes {burst_rise} KiB, {} changes {baseline_rise} KiB: ratio {ratio:.3} (goal <= {MEMORY_RATIO_GOAL})",
            sizes.burst, sizes.baseline
        ),
        format!(
            "feed: following a burst of {} commits, caught up {catch_up_ms:.1} ms after the last ({per_sec:.0} changes/s)",
            sizes.burst
        ),
    ];
    Ok(SyncFigures { json: j, lines })
}

/// The cursor after the last change, reading every page after `from` (a full read).
async fn last_cursor(p: &InternalProvider, from: ChangeCursor) -> BenchResult<ChangeCursor> {
    let mut cursor = from;
    loop {
        let page = p.changes(Some(cursor), 1000).await?;
        if page.changes.is_empty() {
            return Ok(cursor);
        }
        cursor = page.cursor;
    }
}
