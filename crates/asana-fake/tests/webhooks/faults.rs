//! Delivery faults: drop, duplicate, delay, reorder and a wrong signature, set
//! through the library and through `POST /_fake/webhook_faults`.

use std::time::{Duration, Instant};

use asana_fake::{DeliveryFault, DeliveryOutcome, WebhookFault};
use serde_json::{json, Value};

use super::receiver::Receiver;
use super::{hook, quick};
use crate::common::Client;

/// A fake with quick timing, a receiver, a webhook on the project and a task.
async fn setup() -> (Client, Receiver, String, String) {
    let c = Client::new().await;
    c.fake.set_webhook_timing(quick());
    let r = Receiver::start().await;
    let t = c.task("t").await;
    let gid = hook(&c, &c.fake.project_gid(), &r.url("/h"), None).await;
    (c, r, gid, t)
}

/// Renames task `t` to `name`.
async fn rename(c: &Client, t: &str, name: &str) {
    let (s, b) = c
        .put(&format!("/tasks/{t}"), json!({"data": {"name": name}}))
        .await;
    assert_eq!(s, 200, "{b}");
}

/// How many name changes each delivery that carried events reported.
fn renames_per_delivery(r: &Receiver) -> Vec<usize> {
    r.event_deliveries()
        .iter()
        .map(|d| {
            d.events()
                .iter()
                .filter(|e| e["change"]["field"] == "name")
                .count()
        })
        .collect()
}

fn fault(fault: DeliveryFault) -> WebhookFault {
    WebhookFault {
        fault,
        count: 1,
        webhook: None,
    }
}

/// Waits until the fake's delivery log holds `n` entries.
async fn log_len(c: &Client, n: usize) {
    super::receiver::eventually("the delivery log", || {
        c.fake.webhook_deliveries().len() >= n
    })
    .await;
}

#[tokio::test]
async fn a_dropped_delivery_never_arrives_and_the_next_one_does() {
    let (c, r, gid, t) = setup().await;
    c.fake.add_webhook_fault(fault(DeliveryFault::Drop));
    rename(&c, &t, "lost").await;
    log_len(&c, 1).await;
    rename(&c, &t, "kept").await;
    r.wait_for("the second rename", |d| !d.is_empty()).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        renames_per_delivery(&r),
        [1],
        "only the second rename arrived"
    );
    let log = c.fake.webhook_deliveries();
    assert_eq!(log[0].outcome, DeliveryOutcome::Dropped);
    assert_eq!(log[0].fault, Some(DeliveryFault::Drop));
    assert_eq!(log[1].outcome, DeliveryOutcome::Answered { status: 200 });
    let h = c.fake.webhook_health(&gid).expect("health");
    assert!(
        h.last_failure_at.is_none(),
        "a drop is not a failure the webhook sees"
    );
}

#[tokio::test]
async fn a_duplicated_delivery_arrives_twice_byte_for_byte() {
    let (c, r, _, t) = setup().await;
    c.fake.add_webhook_fault(fault(DeliveryFault::Duplicate));
    rename(&c, &t, "twice").await;
    r.wait_for("two copies", |d| d.len() >= 2).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let ds = r.deliveries();
    assert_eq!(ds.len(), 2);
    assert_eq!(ds[0].raw, ds[1].raw);
    assert_eq!(ds[0].signature, ds[1].signature);
    assert!(ds[1].signed_with(&r.secret()));
    rename(&c, &t, "once").await;
    r.wait_for("the next delivery", |d| d.len() >= 3).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(r.deliveries().len(), 3, "the fault was used up");
}

#[tokio::test]
async fn a_delayed_delivery_arrives_late() {
    let (c, r, _, t) = setup().await;
    c.fake
        .add_webhook_fault(fault(DeliveryFault::Delay { ms: 400 }));
    let start = Instant::now();
    rename(&c, &t, "late").await;
    r.wait_for("the delivery", |d| !d.is_empty()).await;
    let took = r.deliveries()[0].at.duration_since(start);
    assert!(took >= Duration::from_millis(400), "{took:?}");
    // Without the fault the next one is quick.
    let start = Instant::now();
    rename(&c, &t, "quick").await;
    r.wait_for("the next delivery", |d| d.len() >= 2).await;
    let took = r.deliveries()[1].at.duration_since(start);
    assert!(took < Duration::from_millis(400), "{took:?}");
}

#[tokio::test]
async fn a_reordered_delivery_arrives_after_the_next_one() {
    let (c, r, _, t) = setup().await;
    c.fake.add_webhook_fault(fault(DeliveryFault::Reorder));
    rename(&c, &t, "first").await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(r.deliveries().is_empty(), "held back");
    let (s, _) = c
        .put(&format!("/tasks/{t}"), json!({"data": {"notes": "second"}}))
        .await;
    assert_eq!(s, 200);
    r.wait_for("both deliveries", |d| d.len() >= 2).await;
    let fields: Vec<Vec<Value>> = r
        .deliveries()
        .iter()
        .map(|d| {
            d.events()
                .iter()
                .map(|e| e["change"]["field"].clone())
                .filter(|f| !f.is_null())
                .collect()
        })
        .collect();
    assert_eq!(fields, [vec![json!("notes")], vec![json!("name")]]);
    let secret = r.secret();
    assert!(r.deliveries().iter().all(|d| d.signed_with(&secret)));
}

#[tokio::test]
async fn a_wrongly_signed_delivery_is_refused_by_a_checking_receiver_and_retried_signed() {
    let (c, r, gid, t) = setup().await;
    r.set(|i| i.verify = true);
    c.fake
        .add_webhook_fault(fault(DeliveryFault::WrongSignature));
    rename(&c, &t, "forged?").await;
    r.wait_for("the retry", |d| d.len() >= 2).await;
    let ds = r.deliveries();
    let secret = r.secret();
    assert!(
        !ds[0].signed_with(&secret),
        "the first one is wrongly signed"
    );
    assert!(ds[1].signed_with(&secret), "the retry is signed right");
    assert_eq!(ds[0].raw, ds[1].raw, "the same events");
    super::receiver::eventually("the success", || {
        c.fake
            .webhook_health(&gid)
            .is_some_and(|h| h.last_success_at.is_some())
    })
    .await;
    let log = c.fake.webhook_deliveries();
    assert_eq!(log[0].outcome, DeliveryOutcome::Answered { status: 401 });
    assert_eq!(log[0].fault, Some(DeliveryFault::WrongSignature));
    assert_eq!(log[1].outcome, DeliveryOutcome::Answered { status: 200 });
}

#[tokio::test]
async fn faults_and_timing_are_set_over_the_control_api_too() {
    let (c, r, gid, t) = setup().await;
    let http = reqwest::Client::new();
    let other = hook(&c, &t, &r.url("/task"), None).await;
    // A fault aimed at one webhook leaves the other alone.
    let resp = http
        .post(c.control("/webhook_faults"))
        .json(&json!({"mode": "drop", "count": 1, "webhook": other}))
        .send()
        .await
        .expect("control");
    assert_eq!(resp.status(), 204);
    rename(&c, &t, "seen by the project's webhook only").await;
    log_len(&c, 2).await;
    let log = c.fake.webhook_deliveries();
    let dropped: Vec<_> = log
        .iter()
        .filter(|x| x.outcome == DeliveryOutcome::Dropped)
        .map(|x| x.webhook.as_str())
        .collect();
    assert_eq!(dropped, [other.as_str()]);
    assert!(log
        .iter()
        .any(|x| x.webhook == gid && x.outcome == DeliveryOutcome::Answered { status: 200 }));
    // Bad control bodies are refused.
    for bad in [
        json!({"mode": "explode", "count": 1}),
        json!({"mode": "delay", "count": 1}),
        json!({"mode": "drop"}),
    ] {
        let resp = http
            .post(c.control("/webhook_faults"))
            .json(&bad)
            .send()
            .await
            .expect("control");
        assert_eq!(resp.status(), 400, "{bad}");
    }
    let resp = http
        .post(c.control("/webhook_timing"))
        .json(&json!({"heartbeat_ms": 100, "deletion_after_ms": 5000}))
        .send()
        .await
        .expect("control");
    assert_eq!(resp.status(), 204);
    let timing = c.fake.webhook_timing();
    assert_eq!(timing.heartbeat, Duration::from_millis(100));
    assert_eq!(timing.deletion_after, Duration::from_secs(5));
    assert_eq!(
        timing.first_retry,
        quick().first_retry,
        "the rest unchanged"
    );
    let resp = http
        .post(c.control("/webhook_timing"))
        .json(&json!({"heartbeat": 100}))
        .send()
        .await
        .expect("control");
    assert_eq!(resp.status(), 400);
    let hooks: Value = http
        .get(c.control("/webhooks"))
        .send()
        .await
        .expect("control")
        .json()
        .await
        .expect("json");
    assert_eq!(hooks.as_array().map(Vec::len), Some(2));
    assert_eq!(hooks[0]["gid"], json!(gid));
    let log: Value = http
        .get(c.control("/webhook_deliveries"))
        .send()
        .await
        .expect("control")
        .json()
        .await
        .expect("json");
    assert!(log
        .as_array()
        .expect("array")
        .iter()
        .any(|x| x["outcome"] == "dropped" && x["fault"]["mode"] == "drop"));
}
