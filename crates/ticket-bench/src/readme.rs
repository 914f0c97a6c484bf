//! The figures page, `crates/ticket-bench/README.md`, written from the JSON object of one run
//! (what `--json` prints): what each headline figure divides, its goal, its value, the mode
//! and the machine. The page is generated, never edited by hand, so that figures live in one
//! place and the top-level README keeps none.

use std::path::Path;

use serde_json::{Map, Value};

use crate::sync_bench::full_pull_key;

/// One headline figure of the page.
pub(crate) struct Figure {
    /// Its key in the JSON object (`asana_requests_per_op.cold` names a nested object).
    pub(crate) key: String,
    /// What it divides or counts.
    what: String,
    /// Its goal, when the project promises one.
    goal: Option<String>,
}

fn figure(key: impl Into<String>, what: impl Into<String>, goal: Option<String>) -> Figure {
    Figure {
        key: key.into(),
        what: what.into(),
        goal,
    }
}

/// A JSON number as an integer, for the sizes the page quotes.
fn size(figures: &Map<String, Value>, key: &str) -> Result<u64, String> {
    match figures.get(key) {
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_f64().map(|f| f as u64))
            .ok_or_else(|| format!("the figures' `{key}` is not a number: {v}")),
        None => Err(format!("the figures lack `{key}`")),
    }
}

/// The headline figures, in page order; sizes and goals read from `figures` where the run
/// records them.
pub(crate) fn headline(figures: &Map<String, Value>) -> Result<Vec<Figure>, String> {
    let (small, large, page) = (
        size(figures, "list_small_rows")?,
        size(figures, "list_large_rows")?,
        size(figures, "list_page")?,
    );
    let tasks = size(figures, "full_pull_tasks")?;
    let pull = full_pull_key(usize::try_from(tasks).map_err(|e| e.to_string())?);
    let push_goal = size(figures, "worker_push_latency_goal_ms")?;
    let pull_goal = size(figures, "worker_pull_latency_goal_ms")?;
    let poll = size(figures, "worker_poll_interval_ms")?;
    let idle = size(figures, "webhook_idle_window_s")?;
    let webhook_goal = size(figures, "webhook_pull_latency_goal_ms")?;
    let slow = size(figures, "sync_slow_latency_ms")?;
    let listed = size(figures, "asana_requests_list_tasks_in_project")?;
    let burst = size(figures, "feed_burst_changes")?;
    let baseline = size(figures, "feed_baseline_changes")?;
    let goal = |g: &str| Some(g.to_string());
    let round = "one round (create + add_comment + change_status)";
    Ok(vec![
        figure(
            "internal_create_ratio",
            "provider `create` throughput / hand-written diesel inserts (same schema, pragmas and history row, `BEGIN IMMEDIATE`)",
            None,
        ),
        figure(
            "internal_get_ratio",
            "provider `get_ticket` throughput / hand-written diesel selects of the ticket, its comments and its field and label rows, in one read transaction",
            goal("≥ 0.9"),
        ),
        figure(
            "list_scale_ratio",
            format!("median time of a filtered first page ({page} tickets) on {large} tickets / on {small}"),
            None,
        ),
        figure(
            "list_field_scale_ratio",
            "the same for a first page filtered by a custom field's value (a third of the tickets match)",
            goal("≤ 1.2"),
        ),
        figure(
            "list_label_scale_ratio",
            "the same for a first page filtered by a label (an eighth of the tickets carry it)",
            goal("≤ 1.2"),
        ),
        figure(
            "sync_overhead_healthy",
            format!("{round} through `sync` / through `internal` alone, the local Asana answering at once"),
            None,
        ),
        figure(
            "sync_overhead_slow",
            format!("the same with {slow} ms added to each Asana answer"),
            None,
        ),
        figure(
            "sync_overhead_down",
            "the same with Asana unreachable (a closed loopback port)",
            goal("≤ 1.3"),
        ),
        figure(
            "sync_vs_parts",
            "the `sync` round / (the `internal` round + the `asana` round), all three in the same run, Asana healthy",
            goal("≤ 1.25"),
        ),
        figure(
            "sync_vs_parts_slow",
            format!("the same with {slow} ms added to each Asana answer"),
            None,
        ),
        figure(
            "sync_store_tx_create",
            "store transactions of a `sync` create, its push included",
            goal("≤ 4"),
        ),
        figure(
            "sync_store_tx_max_other",
            "the most store transactions of any other `sync` operation",
            goal("≤ 3"),
        ),
        figure(
            "asana_requests_per_op",
            format!("requests per operation through the `asana` provider, warm caches (`list_tickets` reads all {listed} tasks of the project, 100 a page)"),
            None,
        ),
        figure(
            "asana_requests_per_op.cold",
            "the same in a new process, with the cache file an earlier one left",
            None,
        ),
        figure(
            "asana_requests_with_fields",
            "requests of an `asana` create and update with five mapped custom fields and two labels (`create`, `update`) and without them (`create_plain`, `update_plain`), warm caches",
            goal("no more than without"),
        ),
        figure(
            format!("{pull}_requests"),
            format!("requests of a first full pull of a {tasks}-task project into an empty store"),
            None,
        ),
        figure(
            format!("{pull}_ratio"),
            "that pull's time / just fetching the same list pages",
            None,
        ),
        figure(
            "worker_push_latency_p50_ms",
            "`ticket sync run` in-process: a commit by another writer → the task in Asana, median (ms)",
            None,
        ),
        figure(
            "worker_push_latency_p99_ms",
            "the same, 99th percentile (ms)",
            Some(format!("≤ {push_goal}")),
        ),
        figure(
            "worker_pull_latency_p50_ms",
            format!("an edit made in Asana → the local store, median (ms; poll interval {poll} ms)"),
            None,
        ),
        figure(
            "worker_pull_latency_p99_ms",
            "the same, 99th percentile (ms)",
            Some(format!("≤ {pull_goal} (poll interval + 1000)")),
        ),
        figure(
            "feed_burst_memory_ratio",
            format!("the rise of the peak memory while a change feed watcher reads a backlog of {burst} changes / of {baseline} changes (same run)"),
            Some(format!("≤ {}", crate::feed_bench::MEMORY_RATIO_GOAL)),
        ),
        figure(
            "feed_burst_catch_up_ms",
            format!("a watcher following {burst} changes committed by another store handle, 100 a transaction: from the last commit to the last change handed out (ms)"),
            None,
        ),
        figure(
            "webhook_idle_requests",
            format!("`ticket sync run` with a healthy webhook: requests to Asana over {idle} s of idleness (default poll interval; the hourly reconcile falls outside)"),
            goal("0"),
        ),
        figure(
            "webhook_pull_latency_p50_ms",
            "with a webhook: an edit made in Asana → the local store through its delivery, median (ms)",
            None,
        ),
        figure(
            "webhook_pull_latency_p99_ms",
            "the same, 99th percentile (ms)",
            Some(format!("≤ {webhook_goal}")),
        ),
    ])
}

/// The value at `key`, descending into objects at each `.`.
pub(crate) fn lookup<'a>(figures: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    let mut parts = key.split('.');
    let mut v = figures.get(parts.next()?)?;
    for p in parts {
        v = v.get(p)?;
    }
    Some(v)
}

/// A figure's value as the page shows it: a number as is, an object of counts as
/// `name count` pairs (nested objects left out).
fn shown(key: &str, v: &Value) -> Result<String, String> {
    match v {
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.is_finite() => Ok(n.to_string()),
            _ => Err(format!("the figure `{key}` is not a finite number: {n}")),
        },
        Value::Object(m) => Ok(m
            .iter()
            .filter(|(_, v)| v.is_number())
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")),
        other => Err(format!("the figure `{key}` is not a number: {other}")),
    }
}

/// The machine line, from the run's `machine` object.
fn machine(figures: &Map<String, Value>) -> Result<String, String> {
    let m = figures.get("machine").ok_or("the figures lack `machine`")?;
    let text = |k: &str| {
        m.get(k).map_or("unknown".to_string(), |v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    };
    Ok(format!(
        "{} CPUs ({}), {} GiB, {} {}",
        text("cpus"),
        text("cpu_model"),
        text("memory_gib"),
        text("os"),
        text("arch")
    ))
}

/// How to read the figures: the explanations that do not depend on one run.
const HOW_TO_READ: &str = "\
## How to read them

Every figure is measured against its baseline **in the same run** (nothing is typed in), on
SQLite files in a temporary folder and, for the `sync` and `asana` figures, against the
local Asana-compatible server (`asana-fake`) on loopback in the same process.

- `internal_create_ratio` can exceed 1: the provider's commits never pay a WAL checkpoint
  (its own thread does them, off the write path) while plain diesel's do. The quick runs of
  this figure are short and swing widely.
- A get takes a few microseconds, so `internal_get_ratio` compares the median of 40 short
  rounds on each side, alternating which goes first, after an uncounted warm-up round: a
  round that another process interrupts counts for neither. The baseline reads as the
  provider must, the two selects in one read transaction (`BEGIN` and `ROLLBACK` prepared).
- A filtered page stays about as fast on a large table as on a small one (keyset paging on
  indexes), so `list_scale_ratio` stays near 1.
- The `sync` provider waits for its push to Asana inside each operation (bounded by
  `sync_push_timeout_ms`; set it to 0 to never wait), so `sync_overhead_healthy` and
  `sync_overhead_slow` are mostly Asana's round trip. With Asana down it does not wait at
  all: `sync_overhead_down` is the cost of queuing the change in the outbox.
  `sync_vs_parts` is what the combination costs beyond its two parts.
- A first pull reads 100 tasks per list request and the comments of 10 tasks per batch
  request (Asana has no bulk comment read); a re-pull of unchanged tasks costs the list
  pages alone.
- Percentiles are nearest-rank: with fewer than 100 samples the p99 is the slowest sample.
  The full run uses the worker's default poll interval (5000 ms), the quick run 1000 ms;
  the pull goal is the poll interval + 1000 ms.

Reproduce: `cargo xtask bench` (about 5 minutes on the machine above, 2 of them the worker's
pull latency at the default poll interval) or `cargo xtask bench --quick` (about 2.5
minutes); add `--json` for one JSON object. `cargo test -p ticket-bench` runs the same code
on tiny sizes (`--smoke`) so that it cannot rot; per-commit CI does not run the benchmark.
";

/// The page for `figures`, or what is missing from them.
pub(crate) fn render(figures: &Map<String, Value>) -> Result<String, String> {
    let mode = figures
        .get("mode")
        .and_then(Value::as_str)
        .ok_or("the figures lack `mode`")?;
    let mode_note = match mode {
        "full" => "a full run (`cargo xtask bench`), the sizes the goals are stated for".to_string(),
        "quick" => "a **quick-mode** run (`--quick`: smaller tables, fewer rounds, a 1000 ms worker poll interval); a full run's figures can differ, and the goals are stated for the full run".to_string(),
        other => format!("a **{other}-mode** run: tiny sizes that only check that every figure is produced; these figures mean nothing"),
    };
    let mut out = String::new();
    out.push_str("# ticket-bench figures\n\n");
    out.push_str(
        "<!-- Generated by `cargo xtask bench --write-readme` (or `ticket-bench --readme PATH`, \
         `--from-json FILE`) from the JSON of one run; do not edit by hand. -->\n\n",
    );
    out.push_str(
        "How the providers compare with their baselines: the `internal` provider against \
         hand-written diesel on the same SQLite file, the `sync` provider against its parts, \
         the `asana` provider's request counts and the sync worker's latencies. Each goal is \
         the one the project promises; a figure without a goal is watched, not promised.\n\n",
    );
    out.push_str(&format!("These figures come from {mode_note}.\n\n"));
    out.push_str(&format!("Machine: {}.\n\n", machine(figures)?));
    out.push_str("| figure | what it divides or counts | goal | value |\n|---|---|---|---|\n");
    for f in headline(figures)? {
        let v = lookup(figures, &f.key).ok_or_else(|| format!("the figures lack `{}`", f.key))?;
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            f.key,
            f.what,
            f.goal.as_deref().unwrap_or("—"),
            shown(&f.key, v)?
        ));
    }
    out.push('\n');
    out.push_str(HOW_TO_READ);
    Ok(out)
}

/// Writes the page for `figures` to `path`; nothing is written when a figure is missing.
pub(crate) fn write(figures: &Map<String, Value>, path: &Path) -> Result<(), String> {
    let page = render(figures)?;
    std::fs::write(path, page).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Writes the page from a saved `--json` object in `saved`.
pub(crate) fn write_from_file(saved: &Path, path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(saved)
        .map_err(|e| format!("cannot read {}: {e}", saved.display()))?;
    let figures = match serde_json::from_str::<Value>(text.trim()) {
        Ok(Value::Object(m)) => m,
        Ok(_) => return Err(format!("{} is not a JSON object", saved.display())),
        Err(e) => return Err(format!("{} is not JSON: {e}", saved.display())),
    };
    write(&figures, path)
}
