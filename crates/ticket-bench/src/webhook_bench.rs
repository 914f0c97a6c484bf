//! Figures of the sync worker following Asana through its webhook (`ticket sync run
//! --webhook-addr --webhook-url`), with the worker in this process against an in-process
//! [`FakeAsana`] that delivers to it on loopback, each printed next to its goal:
//!
//! * `webhook_idle_requests`: the requests the fake received (its own request log, every
//!   `/api/1.0` request counted) while the worker ran idle with a healthy webhook for
//!   `webhook_idle_window_s` seconds (60 in full and `--quick` runs; 1 in `--smoke` runs).
//!   The worker keeps its default poll interval (5000 ms), so a worker that polled would send
//!   about 12 a minute; the reconcile (default every hour) does not fall in the window.
//!   Goal: 0.
//! * `webhook_pull_latency_p50_ms` / `_p99_ms`: from a rename made in Asana (`PUT
//!   /tasks/{gid}` over the fake's HTTP API) of a task linked to a ticket, to the moment the
//!   local store shows the new subject (a second [`InternalProvider`] on the store, polled
//!   every 2 ms). The fake posts the delivery as soon as the write is done, so the clock
//!   starts a little before the delivery does: the figure is an upper bound of delivery →
//!   store. Samples are spaced by random pauses of up to 200 ms. Goal: p99 ≤ 500 ms.
//! * `webhook_dropped_recovery_ms`: the same for a rename whose delivery the fake drops
//!   (as in Asana's incidents): it arrives with the next heartbeat's pull. The fake's
//!   heartbeat interval is shortened to `webhook_bench_heartbeat_ms` (2000; Asana's is 8
//!   hours, where the hourly reconcile or the next delivery comes first). The slowest
//!   sample. Goal: ≤ heartbeat + 1000 ms.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use asana_fake::{DeliveryFault, FakeAsana, FakeOptions, WebhookFault, WebhookTiming};
use provider_internal::InternalProvider;
use provider_sync::{SyncSettings, WebhookEndpoint, WebhookState};
use serde_json::{json, Map, Value};
use ticket_provider_api::TicketProvider;

use crate::sync_bench::{sqlite_url, SyncFigures};
use crate::worker_bench::{ms, percentile, start_worker, wait_until, Pauses};
use crate::BenchResult;

/// Sizes of the webhook figures.
pub(crate) struct WebhookSizes {
    /// Measured latency samples.
    pub(crate) samples: usize,
    /// Dropped-delivery samples.
    pub(crate) dropped_samples: usize,
    /// How long the worker stays idle for the request count.
    pub(crate) idle_window: Duration,
}

/// The latency goal: p99 at most this.
const LATENCY_GOAL: Duration = Duration::from_millis(500);

/// The fake's heartbeat interval in the dropped-delivery figure.
const BENCH_HEARTBEAT: Duration = Duration::from_millis(2000);

/// Added to the heartbeat for the dropped-delivery goal.
const DROPPED_SLACK: Duration = Duration::from_millis(1000);

/// Linked tasks the samples rename in turn.
const TASKS: usize = 5;

struct Measured {
    latency: Vec<Duration>,
    dropped: Vec<Duration>,
    idle_requests: usize,
    idle_paths: Vec<String>,
    total: Duration,
}

async fn rename(
    client: &reqwest::Client,
    fake: &FakeAsana,
    gid: &str,
    name: &str,
) -> BenchResult<()> {
    client
        .put(format!("{}/tasks/{gid}", fake.base_url()))
        .bearer_auth(fake.token())
        .json(&json!({ "data": { "name": name } }))
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}

async fn measure(dir: &Path, sizes: &WebhookSizes) -> BenchResult<Measured> {
    let began = Instant::now();
    let fake = FakeAsana::start(FakeOptions::default()).await?;
    let project = fake.project_gid();
    let client = reqwest::Client::new();
    let mut gids = Vec::new();
    for i in 0..TASKS {
        let resp: Value = client
            .post(format!("{}/tasks", fake.base_url()))
            .bearer_auth(fake.token())
            .json(
                &json!({ "data": { "name": format!("webhook bench {i}"), "projects": [project] } }),
            )
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        gids.push(
            resp["data"]["gid"]
                .as_str()
                .ok_or("a created task without a gid")?
                .to_string(),
        );
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let settings = SyncSettings {
        webhook: Some(WebhookEndpoint {
            addr: port,
            url: format!("http://{port}/asana/webhook"),
        }),
        ..SyncSettings::default()
    };
    let url = sqlite_url(&dir.join("webhook.db"));
    let running = start_worker(&fake, &project, &url, settings).await?;
    let sync = Arc::clone(&running.sync);
    let reader = InternalProvider::open(&url, provider_sync::store_options(None)).await?;
    let limit = Duration::from_secs(60);
    wait_until(
        Instant::now(),
        limit,
        "a healthy webhook and every task pulled",
        || {
            let sync = Arc::clone(&sync);
            let gids = gids.clone();
            async move {
                let healthy = sync
                    .status()
                    .await?
                    .webhook
                    .is_some_and(|h| h.state == WebhookState::Healthy);
                let mut linked = true;
                for g in &gids {
                    linked &= sync.store().link_by_gid(g).await?.is_some();
                }
                Ok(healthy && linked)
            }
        },
    )
    .await?;
    let mut guids = Vec::new();
    for g in &gids {
        let link = sync
            .store()
            .link_by_gid(g)
            .await?
            .ok_or("a task not pulled")?;
        guids.push(link.ticket_guid);
    }

    // Latency: a rename in Asana → the store.
    let mut pauses = Pauses::new();
    let mut latency = Vec::with_capacity(sizes.samples);
    let reader = &reader;
    for i in 0..sizes.samples {
        tokio::time::sleep(pauses.within(Duration::from_millis(200))).await;
        let (gid, guid) = (&gids[i % TASKS], guids[i % TASKS].clone());
        let name = format!("webhook sample {i}");
        let start = Instant::now();
        rename(&client, &fake, gid, &name).await?;
        latency.push(
            wait_until(start, limit, "a rename delivered by the webhook", || {
                let (guid, name) = (guid.clone(), name.clone());
                async move { Ok(reader.get_ticket(&guid).await?.ticket.subject == name) }
            })
            .await?,
        );
    }

    // Idle: nothing happens for the window; count what reaches the fake.
    tokio::time::sleep(Duration::from_millis(500)).await;
    fake.clear_requests();
    tokio::time::sleep(sizes.idle_window).await;
    let idle: Vec<String> = fake
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();

    // Dropped deliveries: the next heartbeat's pull brings the change.
    fake.set_webhook_timing(WebhookTiming {
        heartbeat: BENCH_HEARTBEAT,
        ..WebhookTiming::default()
    });
    let mut dropped = Vec::with_capacity(sizes.dropped_samples);
    for i in 0..sizes.dropped_samples {
        fake.add_webhook_fault(WebhookFault {
            fault: DeliveryFault::Drop,
            count: 1,
            webhook: None,
        });
        let (gid, guid) = (&gids[i % TASKS], guids[i % TASKS].clone());
        let name = format!("webhook dropped {i}");
        let start = Instant::now();
        rename(&client, &fake, gid, &name).await?;
        dropped.push(
            wait_until(start, limit, "a rename whose delivery was dropped", || {
                let (guid, name) = (guid.clone(), name.clone());
                async move { Ok(reader.get_ticket(&guid).await?.ticket.subject == name) }
            })
            .await?,
        );
    }

    running.stop().await?;
    drop(sync);
    fake.shutdown().await;
    Ok(Measured {
        latency,
        dropped,
        idle_requests: idle.len(),
        idle_paths: idle,
        total: began.elapsed(),
    })
}

/// Runs the webhook figures in `dir`.
pub(crate) async fn run(dir: &Path, sizes: &WebhookSizes) -> BenchResult<SyncFigures> {
    let m = measure(dir, sizes).await?;
    let (p50, p99) = (percentile(&m.latency, 50.0), percentile(&m.latency, 99.0));
    let dropped = m.dropped.iter().max().copied().unwrap_or_default();
    let dropped_goal = BENCH_HEARTBEAT + DROPPED_SLACK;
    let window = sizes.idle_window.as_secs_f64();

    let mut j = Map::new();
    let mut put = |k: &str, v: Value| {
        j.insert(k.to_string(), v);
    };
    put("webhook_idle_requests", json!(m.idle_requests));
    put("webhook_idle_window_s", json!(sizes.idle_window.as_secs()));
    put("webhook_pull_latency_p50_ms", json!(ms(p50)));
    put("webhook_pull_latency_p99_ms", json!(ms(p99)));
    put(
        "webhook_pull_latency_goal_ms",
        json!(LATENCY_GOAL.as_millis() as u64),
    );
    put("webhook_pull_samples", json!(m.latency.len()));
    put("webhook_dropped_recovery_ms", json!(ms(dropped)));
    put(
        "webhook_dropped_recovery_goal_ms",
        json!(dropped_goal.as_millis() as u64),
    );
    put(
        "webhook_bench_heartbeat_ms",
        json!(BENCH_HEARTBEAT.as_millis() as u64),
    );
    put(
        "webhook_seconds",
        json!((m.total.as_secs_f64() * 10.0).round() / 10.0),
    );

    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    let mut lines = vec![
        "sync worker with a webhook, in-process against the fake (default poll interval and reconcile)".to_string(),
        format!(
            "{:<34} {:>12} {:>12} {:>12} {:>8}",
            "", "p50", "p99", "goal p99", ""
        ),
        format!(
            "{:<34} {:>10.1}ms {:>10.1}ms {:>10}ms {:>8}",
            format!("pull, edit in Asana ({} samples)", m.latency.len()),
            ms(p50),
            ms(p99),
            LATENCY_GOAL.as_millis(),
            verdict(p99 <= LATENCY_GOAL)
        ),
        format!(
            "{:<34} {:>12} {:>10.1}ms {:>10}ms {:>8}",
            format!("dropped delivery ({} samples)", m.dropped.len()),
            "",
            ms(dropped),
            dropped_goal.as_millis(),
            verdict(dropped <= dropped_goal)
        ),
        format!(
            "requests to Asana while idle for {window:.0}s with a healthy webhook: {} (goal 0) {}",
            m.idle_requests,
            verdict(m.idle_requests == 0)
        ),
    ];
    if !m.idle_paths.is_empty() {
        lines.push(format!("  idle requests: {}", m.idle_paths.join(", ")));
    }
    lines.push(format!("({:.1}s in all)", m.total.as_secs_f64()));
    Ok(SyncFigures { json: j, lines })
}
