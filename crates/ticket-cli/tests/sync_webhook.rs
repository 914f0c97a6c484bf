//! `ticket sync run --webhook-addr --webhook-url` end to end: the worker registers its
//! webhook with the local Asana server, an edit made in Asana arrives through a delivery,
//! `sync status` (text and JSON) and `/metrics` show the webhook's health, a stop leaves it
//! registered and says so; and bad webhook flags or keys are one-line errors.

use std::time::Duration;

use serde_json::Value;

use crate::sync_worker::{
    asana_api, assert_stops_cleanly, eventually, free_addr, setup, start_worker,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_asana_edit_arrives_through_the_webhook_and_status_shows_its_health() {
    let s = setup().await;
    let c = s.json(&["create", "--subject", "Before"]).await;
    let guid = c["guid"].as_str().unwrap().to_string();
    let gid = c["asana_gid"].as_str().unwrap().to_string();
    let (hook, metrics) = (free_addr(), free_addr());
    let url = format!("http://{hook}/asana/hook");
    let worker = start_worker(
        &s,
        &[
            "--webhook-addr",
            &hook,
            "--webhook-url",
            &url,
            "--metrics-addr",
            &metrics,
        ],
    );
    let healthy = eventually(Duration::from_secs(20), || async {
        s.json(&["sync", "status"]).await["webhook"]["state"] == "healthy"
    })
    .await;
    assert!(healthy, "{:#}", s.json(&["sync", "status"]).await);
    let hooks: Vec<_> = s
        .fake
        .webhooks()
        .into_iter()
        .filter(|w| w.target == url)
        .collect();
    assert_eq!(hooks.len(), 1, "{hooks:?}");

    asana_api(
        &s.fake,
        reqwest::Method::PUT,
        &format!("/tasks/{gid}"),
        serde_json::json!({ "name": "Renamed in Asana" }),
    )
    .await;
    let pulled = eventually(Duration::from_secs(20), || async {
        s.json(&["get", &guid]).await["subject"] == "Renamed in Asana"
    })
    .await;
    assert!(pulled, "the rename did not arrive");
    let delivered = eventually(Duration::from_secs(20), || async {
        s.json(&["sync", "status"]).await["webhook"]["deliveries"]
            .as_u64()
            .is_some_and(|n| n >= 1)
    })
    .await;
    let st: Value = s.json(&["sync", "status"]).await;
    assert!(delivered, "{st:#}");
    assert_eq!(st["webhook"]["fallback"], "none", "{st:#}");
    assert_eq!(st["webhook"]["webhook_id"], hooks[0].gid.as_str(), "{st:#}");
    assert_eq!(st["webhook"]["bad_signatures"], 0, "{st:#}");
    assert!(st["webhook"]["last_delivery_at"].is_string(), "{st:#}");
    let text = s.run(&["sync", "status"]).await;
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(
        text.contains("webhook: healthy") && text.contains("fallback: none"),
        "{text}"
    );
    let scrape = reqwest::get(format!("http://{metrics}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "ticket_sync_webhook_polling 0",
        "ticket_sync_webhook_state{state=\"healthy\"} 1",
    ] {
        assert!(
            scrape.lines().any(|l| l == line),
            "{line} missing in\n{scrape}"
        );
    }

    assert_stops_cleanly(worker).await;
    let st = s.json(&["sync", "status"]).await;
    assert_eq!(st["webhook"]["state"], "stopped", "{st:#}");
    // Left registered for the next start.
    assert_eq!(
        s.fake.webhooks().iter().filter(|w| w.target == url).count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_webhook_flags_and_keys_are_one_line_errors() {
    let s = setup().await;
    let hook = free_addr();
    // (arguments, exit code (2: usage, 4: configuration), words of the error)
    let url = format!("http://{hook}/h");
    let cases: [(Vec<&str>, i32, &str); 4] = [
        (vec!["--webhook-addr", &hook], 2, "--webhook-url"),
        (vec!["--webhook-url", &url], 2, "--webhook-addr"),
        (
            vec!["--webhook-addr", &hook, "--webhook-url", "ftp://x/h"],
            4,
            "sync_webhook_url \"ftp://x/h\" is not an http:// or https:// URL",
        ),
        (
            vec!["--webhook-addr", "localhost:1", "--webhook-url", &url],
            2,
            "localhost:1",
        ),
    ];
    for (args, code, words) in cases {
        let mut all = vec!["sync", "run"];
        all.extend_from_slice(&args);
        let out = s.run(&all).await;
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(err.contains(words), "{args:?}: {err}");
    }
    // An address already taken: the worker does not start, and says which key.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let url = format!("http://{addr}/h");
    let out = s
        .run(&[
            "sync",
            "run",
            "--webhook-addr",
            &addr,
            "--webhook-url",
            &url,
        ])
        .await;
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(
        err.contains("sync_webhook_addr (--webhook-addr)") && err.contains("cannot listen"),
        "{err}"
    );
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error")).count(),
        1,
        "{err}"
    );
    assert!(s.fake.webhooks().is_empty());
}
