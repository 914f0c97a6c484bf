//! The worker's Asana webhook (`ticket sync run --webhook-addr --webhook-url`) against the
//! fake: the handshake and the stored secret, signatures (a bad or missing one applies
//! nothing), deliveries dropped, duplicated, reordered, delayed and wrongly signed (the
//! store still converges, each change applied once), restarts that reuse or clean up the
//! webhook, and the polling fallback after silence, then recovery. No test times anything:
//! each waits, with a generous deadline, for the state it expects.

use crate::common;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use asana_fake::{DeliveryFault, DeliveryOutcome, FakeAsana, Fault, WebhookFault, WebhookTiming};
use homechoice_tickets::provider_sync::webhook::REGISTRATION_KEY_PREFIX;
use homechoice_tickets::provider_sync::{
    SyncProvider, SyncSettings, WebhookEndpoint, WebhookFallback, WebhookState,
};
use homechoice_tickets::{BoxFuture, Result, SyncStatus, TicketProvider, WorkerReport};
use serde_json::{json, Value};

/// How long any wait may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(40);

/// Waits until `check` holds, looking every 20 ms; fails naming `what` after [`DEADLINE`].
async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let end = tokio::time::Instant::now() + DEADLINE;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < end,
            "{what}: not seen within {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A free loopback address and the webhook URL on it.
fn endpoint() -> WebhookEndpoint {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    WebhookEndpoint {
        addr,
        url: format!("http://{addr}/asana/hook"),
    }
}

/// Quick webhook timings of the fake: retries after 100 ms, heartbeats after `heartbeat`.
fn timing(heartbeat: Duration) -> WebhookTiming {
    WebhookTiming {
        heartbeat,
        timeout: Duration::from_secs(5),
        first_retry: Duration::from_millis(100),
        max_retry: Duration::from_millis(500),
        deletion_after: Duration::from_secs(120),
    }
}

/// A sync provider on `db` with the webhook at `hook`, polling every `poll` when it polls,
/// silent after `silence`.
async fn provider(
    fake: &FakeAsana,
    db: &Path,
    hook: &WebhookEndpoint,
    poll: Duration,
    silence: Duration,
) -> Arc<SyncProvider> {
    Arc::new(
        common::direct_with(
            &fake.base_url(),
            &fake.project_gid(),
            &format!("sqlite://{}", db.display()),
            SyncSettings {
                push_timeout: Duration::from_millis(3000),
                outbox_poll: Duration::from_millis(50),
                poll_interval: poll,
                webhook: Some(hook.clone()),
                webhook_silence: silence,
                ..SyncSettings::default()
            },
        )
        .await,
    )
}

/// A running worker.
struct Worker {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<WorkerReport>>,
}

fn start(p: &Arc<SyncProvider>) -> Worker {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let stop_fut: BoxFuture<'static, ()> = Box::pin(async move {
        let _ = stopped.await;
    });
    let p = Arc::clone(p);
    let task = tokio::spawn(async move { p.run_worker(stop_fut).await });
    Worker { stop, task }
}

impl Worker {
    async fn stop(self) -> WorkerReport {
        let _ = self.stop.send(());
        self.task.await.expect("worker task").expect("worker")
    }
}

async fn status(p: &SyncProvider) -> SyncStatus {
    p.status().await.expect("status")
}

/// Waits until `check` gives a value, looking every 20 ms; fails naming `what` after
/// [`DEADLINE`].
async fn until_some<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let end = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "{what}: not seen within {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the worker reports its webhook healthy; its gid.
async fn healthy(p: &SyncProvider) -> String {
    until_some("a healthy webhook", || async {
        status(p)
            .await
            .webhook
            .filter(|h| h.state == WebhookState::Healthy)
            .and_then(|h| h.webhook_id)
    })
    .await
}

/// The fake's webhooks with this target.
fn hooks_to(fake: &FakeAsana, url: &str) -> Vec<String> {
    fake.webhooks()
        .into_iter()
        .filter(|w| w.target == url)
        .map(|w| w.gid)
        .collect()
}

/// Calls the fake's API as a person editing in Asana would.
async fn api(fake: &FakeAsana, method: reqwest::Method, path: &str, data: Value) -> Value {
    let resp = reqwest::Client::new()
        .request(method, format!("{}{path}", fake.base_url()))
        .bearer_auth(fake.token())
        .json(&json!({ "data": data }))
        .send()
        .await
        .expect("request");
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.json::<Value>().await.expect("json")["data"].clone()
}

async fn new_task(fake: &FakeAsana, name: &str) -> String {
    let t = api(
        fake,
        reqwest::Method::POST,
        "/tasks",
        json!({"name": name, "projects": [fake.project_gid()]}),
    )
    .await;
    t["gid"].as_str().unwrap().to_string()
}

async fn rename(fake: &FakeAsana, gid: &str, name: &str) {
    api(
        fake,
        reqwest::Method::PUT,
        &format!("/tasks/{gid}"),
        json!({ "name": name }),
    )
    .await;
}

async fn comment(fake: &FakeAsana, gid: &str, text: &str) {
    api(
        fake,
        reqwest::Method::POST,
        &format!("/tasks/{gid}/stories"),
        json!({ "text": text }),
    )
    .await;
}

/// The local ticket linked to task `gid`, once pulled.
async fn ticket_of(p: &SyncProvider, gid: &str) -> String {
    until_some("the task's ticket", || async {
        p.store()
            .link_by_gid(gid)
            .await
            .unwrap()
            .map(|l| l.ticket_guid)
    })
    .await
}

async fn subject(p: &SyncProvider, guid: &str) -> String {
    p.get_ticket(guid).await.unwrap().ticket.subject
}

/// POSTs `body` to the webhook URL with these headers; the status and the echoed secret.
async fn post_hook(url: &str, headers: &[(&str, &str)], body: &str) -> (u16, Option<String>) {
    let mut req = reqwest::Client::new().post(url).body(body.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("post to the webhook");
    let echo = resp
        .headers()
        .get("X-Hook-Secret")
        .map(|v| v.to_str().unwrap().to_string());
    (resp.status().as_u16(), echo)
}

fn events_reads(fake: &FakeAsana) -> usize {
    fake.requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/events"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secret_is_stored_once_and_unsigned_deliveries_apply_nothing() {
    let (fake, _) = common::fake().await;
    fake.set_webhook_timing(timing(Duration::from_secs(3600)));
    let dir = tempfile::tempdir().unwrap();
    let hook = endpoint();
    let hour = Duration::from_secs(3600);
    let gid = new_task(&fake, "Followed by webhook").await;
    let p = provider(&fake, &dir.path().join("t.db"), &hook, hour, hour).await;
    let w = start(&p);
    let webhook = healthy(&p).await;
    assert_eq!(hooks_to(&fake, &hook.url), vec![webhook.clone()]);
    let guid = ticket_of(&p, &gid).await;

    // The registration is stored with the handshake's secret, shown nowhere.
    let key = format!("{REGISTRATION_KEY_PREFIX}{}", hook.url);
    let stored = p.store().kv_get(&key).await.unwrap().expect("stored");
    let reg: Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(reg["gid"], json!(webhook));
    let secret = reg["secret"].as_str().unwrap().to_string();
    assert_eq!(secret.len(), 64, "Asana's secrets are 64 hex digits");
    let st = status(&p).await;
    assert!(!format!("{st:?}").contains(&secret));
    assert!(!serde_json::to_string(&st).unwrap().contains(&secret));

    // A handshake while no registration is in flight: refused, no echo, nothing replaced.
    let forged = "f".repeat(64);
    let (code, echo) = post_hook(&hook.url, &[("X-Hook-Secret", &forged)], "").await;
    assert_eq!((code, echo), (403, None));
    assert_eq!(
        p.store().kv_get(&key).await.unwrap().as_deref(),
        Some(stored.as_str())
    );

    // Asana's own deliveries are lost from here on; a change waits.
    fake.add_webhook_fault(WebhookFault {
        fault: DeliveryFault::Drop,
        count: 1000,
        webhook: Some(webhook.clone()),
    });
    rename(&fake, &gid, "Renamed in Asana").await;
    let body = json!({"events": [{"action": "changed", "resource": {"gid": gid, "resource_type": "task"}}]}).to_string();
    let reads = events_reads(&fake);
    for headers in [
        vec![],
        vec![(
            "X-Hook-Signature",
            asana_fake::webhook_signature(&forged, body.as_bytes()),
        )],
        vec![("X-Hook-Signature", "00".repeat(32))],
        // Signed over re-serialised JSON, not the bytes sent.
        vec![(
            "X-Hook-Signature",
            asana_fake::webhook_signature(&secret, body.replace(':', ": ").as_bytes()),
        )],
    ] {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(post_hook(&hook.url, &headers, &body).await.0, 401);
    }
    until("four bad signatures in sync status", || async {
        status(&p)
            .await
            .webhook
            .is_some_and(|h| h.bad_signatures == 4)
    })
    .await;
    assert_eq!(
        events_reads(&fake),
        reads,
        "a refused delivery started a pull"
    );
    assert_eq!(subject(&p, &guid).await, "Followed by webhook");
    let h = status(&p).await.webhook.unwrap();
    assert_eq!((h.deliveries, h.state), (0, WebhookState::Healthy));

    // Signed with the stored secret over the exact bytes: accepted, and the change arrives.
    let sig = asana_fake::webhook_signature(&secret, body.as_bytes());
    assert_eq!(
        post_hook(&hook.url, &[("X-Hook-Signature", &sig)], &body)
            .await
            .0,
        200
    );
    until("the rename through a signed delivery", || async {
        subject(&p, &guid).await == "Renamed in Asana"
    })
    .await;

    // Asana's wrongly signed delivery is refused, then retried signed right.
    fake.clear_webhook_faults();
    fake.add_webhook_fault(WebhookFault {
        fault: DeliveryFault::WrongSignature,
        count: 1,
        webhook: Some(webhook.clone()),
    });
    rename(&fake, &gid, "Renamed again").await;
    until("the rename after a wrong signature", || async {
        subject(&p, &guid).await == "Renamed again"
    })
    .await;
    assert!(fake
        .webhook_deliveries()
        .iter()
        .any(|d| d.fault == Some(DeliveryFault::WrongSignature)
            && d.outcome == DeliveryOutcome::Answered { status: 401 }));
    until("five bad signatures", || async {
        status(&p)
            .await
            .webhook
            .is_some_and(|h| h.bad_signatures == 5)
    })
    .await;
    assert_eq!(
        p.store().kv_get(&key).await.unwrap().as_deref(),
        Some(stored.as_str())
    );
    w.stop().await;
    assert_eq!(
        status(&p).await.webhook.map(|h| h.state),
        Some(WebhookState::Stopped)
    );
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faulty_deliveries_converge_with_each_change_applied_once() {
    let (fake, _) = common::fake().await;
    // Heartbeats pull too: they pick up what a dropped delivery announced.
    fake.set_webhook_timing(timing(Duration::from_millis(300)));
    let dir = tempfile::tempdir().unwrap();
    let hook = endpoint();
    let hour = Duration::from_secs(3600);
    let a = new_task(&fake, "Comments").await;
    let b = new_task(&fake, "Renames").await;
    let p = provider(&fake, &dir.path().join("t.db"), &hook, hour, hour).await;
    let w = start(&p);
    let webhook = healthy(&p).await;
    let (ga, gb) = (ticket_of(&p, &a).await, ticket_of(&p, &b).await);

    let faults = [
        DeliveryFault::Drop,
        DeliveryFault::Duplicate,
        DeliveryFault::Reorder,
        DeliveryFault::Delay { ms: 300 },
    ];
    let mut comments = Vec::new();
    let mut last_name = String::new();
    for (round, fault) in faults.iter().enumerate() {
        fake.add_webhook_fault(WebhookFault {
            fault: *fault,
            count: 2,
            webhook: Some(webhook.clone()),
        });
        for i in 0..3 {
            let text = format!("round {round} comment {i}");
            comment(&fake, &a, &text).await;
            comments.push(text);
            last_name = format!("round {round} name {i}");
            rename(&fake, &b, &last_name).await;
        }
        // The next fault only once this one struck (heartbeats use faults up too).
        until("the fault striking", || async {
            fake.webhook_deliveries()
                .iter()
                .any(|d| d.fault == Some(*fault))
        })
        .await;
    }
    until("every comment and the last name", || async {
        let got: Vec<String> = p
            .get_ticket(&ga)
            .await
            .unwrap()
            .comments
            .into_iter()
            .map(|c| c.body)
            .collect();
        got.len() >= comments.len() && subject(&p, &gb).await == last_name
    })
    .await;
    let got: Vec<String> = p
        .get_ticket(&ga)
        .await
        .unwrap()
        .comments
        .into_iter()
        .map(|c| c.body)
        .collect();
    assert_eq!(got, comments, "each comment once, in order");
    // Each rename recorded at most once (pulls may fold several into one).
    let history = p
        .local()
        .history(&gb)
        .await
        .unwrap()
        .into_iter()
        .filter(|h| h.field == "subject")
        .filter_map(|h| h.new_value)
        .collect::<Vec<_>>();
    let mut unique = history.clone();
    unique.dedup();
    assert_eq!(history, unique, "a rename recorded twice: {history:?}");
    assert_eq!(history.last(), Some(&last_name));
    let a_history = p.local().history(&ga).await.unwrap();
    assert!(
        a_history.iter().all(|h| h.field != "subject"),
        "{a_history:?}"
    );
    // The faults did happen.
    let log = fake.webhook_deliveries();
    for fault in faults {
        assert!(
            log.iter().any(|d| d.fault == Some(fault)),
            "no delivery suffered {fault:?}"
        );
    }
    assert!(log.iter().any(|d| d.outcome == DeliveryOutcome::Dropped));
    w.stop().await;
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_reuse_or_replace_the_webhook_without_duplicates() {
    let (fake, _) = common::fake().await;
    fake.set_webhook_timing(timing(Duration::from_secs(3600)));
    let dir = tempfile::tempdir().unwrap();
    let hook = endpoint();
    let hour = Duration::from_secs(3600);
    let db = dir.path().join("t.db");
    let gid = new_task(&fake, "Restarted").await;

    let p = provider(&fake, &db, &hook, hour, hour).await;
    let w = start(&p);
    let first = healthy(&p).await;
    w.stop().await;

    // The same store: its webhook and secret are reused, nothing is created.
    fake.clear_requests();
    let p = provider(&fake, &db, &hook, hour, hour).await;
    let w = start(&p);
    assert_eq!(healthy(&p).await, first);
    assert_eq!(hooks_to(&fake, &hook.url), vec![first.clone()]);
    assert!(
        !fake
            .requests()
            .iter()
            .any(|r| r.method == "POST" && r.path.ends_with("/webhooks")),
        "a reused webhook was created again"
    );
    // Deliveries still verify with the reused secret.
    let guid = ticket_of(&p, &gid).await;
    rename(&fake, &gid, "After the restart").await;
    until("a rename delivered after the restart", || async {
        subject(&p, &guid).await == "After the restart"
    })
    .await;
    assert_eq!(status(&p).await.webhook.unwrap().bad_signatures, 0);
    w.stop().await;

    // Another store (the secret unknown): the old webhook is deleted and one created.
    let p = provider(&fake, &dir.path().join("other.db"), &hook, hour, hour).await;
    let w = start(&p);
    let second = healthy(&p).await;
    assert_ne!(second, first);
    assert_eq!(hooks_to(&fake, &hook.url), vec![second.clone()]);
    w.stop().await;

    // A registration whose answer is lost (Asana made it): cleaned up on the next attempt.
    fake.add_fault(Fault {
        method: Some("POST".into()),
        path_prefix: Some("/api/1.0/webhooks".into()),
        status: Some(500),
        count: 1,
        retry_after: None,
        delay_ms: None,
        after_apply: true,
        body: None,
    });
    let p = provider(&fake, &dir.path().join("third.db"), &hook, hour, hour).await;
    let w = start(&p);
    let third = healthy(&p).await;
    assert_eq!(hooks_to(&fake, &hook.url), vec![third.clone()]);
    let h = status(&p).await.webhook.unwrap();
    assert_eq!(h.registration_failures, 1, "{h:?}");
    assert!(
        !h.last_failure.unwrap_or_default().contains("Duplicated"),
        "a duplicate webhook failed the registration"
    );
    w.stop().await;
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_falls_back_to_polling_then_the_webhook_recovers() {
    let (fake, _) = common::fake().await;
    fake.set_webhook_timing(timing(Duration::from_millis(200)));
    let dir = tempfile::tempdir().unwrap();
    let hook = endpoint();
    let gid = new_task(&fake, "Silence").await;
    let p = provider(
        &fake,
        &dir.path().join("t.db"),
        &hook,
        Duration::from_millis(200),
        Duration::from_secs(1),
    )
    .await;
    let w = start(&p);
    let first = healthy(&p).await;
    let guid = ticket_of(&p, &gid).await;
    assert!(metrics(&p).await.contains("ticket_sync_webhook_polling 0"));

    // Asana goes quiet (every delivery and heartbeat lost), and registering fails.
    fake.add_fault(Fault {
        method: Some("POST".into()),
        path_prefix: Some("/api/1.0/webhooks".into()),
        status: Some(500),
        count: 1000,
        retry_after: None,
        delay_ms: None,
        after_apply: false,
        body: None,
    });
    fake.add_webhook_fault(WebhookFault {
        fault: DeliveryFault::Drop,
        count: 100_000,
        webhook: Some(first.clone()),
    });
    until("the polling fallback", || async {
        status(&p).await.webhook.is_some_and(|h| {
            h.state == WebhookState::Silent && h.fallback == WebhookFallback::Polling
        })
    })
    .await;
    // Changes still arrive, by polling: no webhook can deliver them.
    rename(&fake, &gid, "Polled").await;
    until("a rename by polling", || async {
        subject(&p, &guid).await == "Polled"
    })
    .await;
    let h = status(&p).await.webhook.unwrap();
    assert_eq!(h.state, WebhookState::Silent);
    assert!(h.registration_failures >= 1);

    // Asana is back: a new webhook, healthy, no more polling.
    fake.clear_faults();
    let second = until_some("a new healthy webhook", || async {
        status(&p)
            .await
            .webhook
            .filter(|h| h.state == WebhookState::Healthy)
            .and_then(|h| h.webhook_id)
            .filter(|g| *g != first)
    })
    .await;
    assert_eq!(hooks_to(&fake, &hook.url), vec![second.clone()]);
    assert!(metrics(&p).await.contains("ticket_sync_webhook_polling 0"));
    rename(&fake, &gid, "Delivered").await;
    until("a rename by the new webhook", || async {
        subject(&p, &guid).await == "Delivered"
    })
    .await;
    assert!(fake.webhook_deliveries().iter().any(|d| d.webhook == second
        && d.events > 0
        && d.outcome == DeliveryOutcome::Answered { status: 200 }));
    w.stop().await;
    fake.shutdown().await;
}

/// The worker's metrics, as `--metrics-addr` serves them.
async fn metrics(p: &SyncProvider) -> String {
    homechoice_tickets::SyncWorker::metrics_text(p)
        .await
        .expect("metrics")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_a_delivery_started_that_fails_is_retried() {
    let (fake, _) = common::fake().await;
    fake.set_webhook_timing(timing(Duration::from_secs(3600)));
    let dir = tempfile::tempdir().unwrap();
    let hook = endpoint();
    let gid = new_task(&fake, "Before").await;
    let p = provider(
        &fake,
        &dir.path().join("t.db"),
        &hook,
        Duration::from_millis(300),
        Duration::from_secs(3600),
    )
    .await;
    let w = start(&p);
    healthy(&p).await;
    let guid = ticket_of(&p, &gid).await;
    // Asana's event stream fails: the pull the delivery starts fails with it.
    fake.add_fault(Fault {
        method: Some("GET".into()),
        path_prefix: Some("/api/1.0/events".into()),
        status: Some(500),
        count: 1000,
        retry_after: None,
        delay_ms: None,
        after_apply: false,
        body: None,
    });
    rename(&fake, &gid, "After").await;
    until("a handler error in sync status", || async {
        status(&p)
            .await
            .webhook
            .is_some_and(|h| h.handler_errors >= 1 && h.deliveries >= 1)
    })
    .await;
    // Asana recovers; no delivery or heartbeat comes, yet the change arrives.
    fake.clear_faults();
    until("the rename after the failed pull", || async {
        subject(&p, &guid).await == "After"
    })
    .await;
    assert_eq!(
        status(&p).await.webhook.map(|h| h.state),
        Some(WebhookState::Healthy)
    );
    w.stop().await;
    fake.shutdown().await;
}
