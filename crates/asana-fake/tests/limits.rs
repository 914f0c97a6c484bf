//! Asana's limits as the fake models them: requests in flight per token (15 writes, 50
//! reads, a batch counting once per action), and offsets and sync tokens that expire on
//! command (`POST /_fake/expire_offsets`, `POST /_fake/expire_sync_tokens`).

use crate::common;

use std::time::Duration;

use common::{msg, Client};
use futures::future::join_all;
use serde_json::{json, Value};

/// Sends `n` copies of a request at once; returns each status and `Retry-After`.
async fn burst(
    c: &Client,
    n: usize,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Vec<(u16, Option<String>)> {
    let all = (0..n).map(|_| c.send(method, path, body.clone()));
    join_all(all)
        .await
        .into_iter()
        .map(|(s, h, _)| {
            let retry = h
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            (s, retry)
        })
        .collect()
}

fn tally(answers: &[(u16, Option<String>)]) -> (usize, usize) {
    let ok = answers.iter().filter(|(s, _)| *s == 200).count();
    let limited: Vec<_> = answers.iter().filter(|(s, _)| *s == 429).collect();
    assert!(
        limited.iter().all(|(_, r)| r.as_deref() == Some("1")),
        "every 429 says Retry-After: {answers:?}"
    );
    (ok, limited.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_than_15_writes_or_50_reads_in_flight_get_429() {
    let c = Client::new().await;
    let t = c.task("busy").await;
    c.fake.set_latency(Duration::from_millis(400));

    let writes = burst(
        &c,
        20,
        "PUT",
        &format!("/tasks/{t}"),
        Some(json!({"data": {"name": "n"}})),
    )
    .await;
    assert_eq!(tally(&writes), (15, 5), "{writes:?}");

    let reads = burst(&c, 60, "GET", &format!("/tasks/{t}"), None).await;
    assert_eq!(tally(&reads), (50, 10), "{reads:?}");
    assert_eq!(c.fake.in_flight_peak(), (50, 15));

    // A batch counts once per action: two batches of 10 writes exceed 15.
    let action =
        json!({"relative_path": format!("/tasks/{t}"), "method": "put", "data": {"name": "b"}});
    let batch = json!({"data": {"actions": vec![action; 10]}});
    let batches = burst(&c, 2, "POST", "/batch", Some(batch)).await;
    assert_eq!(tally(&batches), (1, 1), "{batches:?}");

    // Reads and writes are separate pools, and the counts go down again.
    c.fake.set_latency(Duration::ZERO);
    let (s, _) = c.get(&format!("/tasks/{t}")).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn expired_offsets_answer_400_until_a_listing_starts_again() {
    let c = Client::new().await;
    let p = c.fake.project_gid();
    for i in 0..3 {
        c.task(&format!("t{i}")).await;
    }
    let first = format!("/projects/{p}/tasks?limit=1");
    let (_, b) = c.get(&first).await;
    let offset = b["next_page"]["offset"]
        .as_str()
        .expect("offset")
        .to_string();
    let next = format!("{first}&offset={offset}");
    let (s, _) = c.get(&next).await;
    assert_eq!(s, 200, "valid before it expires");

    let r = c
        .http
        .post(c.control("/expire_offsets"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let (s, b) = c.get(&next).await;
    assert_eq!(s, 400, "{b}");
    assert!(msg(&b).starts_with("offset:"), "{b}");
    assert!(b["errors"][0]["help"].is_string());

    // A listing from the first page gets fresh offsets that work.
    let (_, b) = c.get(&first).await;
    let fresh = b["next_page"]["offset"]
        .as_str()
        .expect("offset")
        .to_string();
    let (s, b) = c.get(&format!("{first}&offset={fresh}")).await;
    assert_eq!(s, 200, "{b}");
}

#[tokio::test]
async fn expired_sync_tokens_answer_412_with_a_fresh_token() {
    let c = Client::new().await;
    let p = c.fake.project_gid();
    let (s, b) = c.get(&format!("/events?resource={p}")).await;
    assert_eq!(s, 412);
    let sync = b["sync"].as_str().expect("sync").to_string();
    let (s, _) = c.get(&format!("/events?resource={p}&sync={sync}")).await;
    assert_eq!(s, 200);

    let r = c
        .http
        .post(c.control("/expire_sync_tokens"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let (s, b) = c.get(&format!("/events?resource={p}&sync={sync}")).await;
    assert_eq!(s, 412, "{b}");
    let fresh = b["sync"].as_str().expect("a fresh sync token").to_string();
    assert_ne!(fresh, sync);
    let (s, b) = c.get(&format!("/events?resource={p}&sync={fresh}")).await;
    assert_eq!(s, 200, "{b}");
}
