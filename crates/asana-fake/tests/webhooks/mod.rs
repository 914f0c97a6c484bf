//! Webhooks as the fake models them: creation through the handshake, the
//! targets it refuses, duplicates, signed deliveries of the event log's task and
//! story events with filters, heartbeats, retries and deletion with the health
//! fields (`faults.rs`: the delivery faults).

mod faults;
pub mod receiver;

use std::time::Duration;

use asana_fake::WebhookTiming;
use serde_json::{json, Value};

use crate::common::{msg, Client};
use receiver::{eventually, Handshake, Receiver};

/// Durations short enough for tests: heartbeats rare unless a test wants them.
pub fn quick() -> WebhookTiming {
    WebhookTiming {
        heartbeat: Duration::from_secs(3600),
        timeout: Duration::from_secs(2),
        first_retry: Duration::from_millis(50),
        max_retry: Duration::from_millis(100),
        deletion_after: Duration::from_secs(3600),
    }
}

/// `POST /webhooks` for `resource` to `target`, with `filters` when given.
pub async fn create(
    c: &Client,
    resource: &str,
    target: &str,
    filters: Option<Value>,
) -> (u16, Value) {
    let mut data = json!({"resource": resource, "target": target});
    if let Some(f) = filters {
        data["filters"] = f;
    }
    c.post("/webhooks", json!({ "data": data })).await
}

/// Creates a webhook that must succeed; returns its gid.
pub async fn hook(c: &Client, resource: &str, target: &str, filters: Option<Value>) -> String {
    let (s, b) = create(c, resource, target, filters).await;
    assert_eq!(s, 201, "{b}");
    b["data"]["gid"].as_str().expect("gid").to_string()
}

/// (resource type, action, change.field) of an event.
fn shape(e: &Value) -> (String, String, Option<String>) {
    (
        e["resource"]["resource_type"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        e["action"].as_str().unwrap_or_default().to_string(),
        e["change"]["field"].as_str().map(str::to_string),
    )
}

#[tokio::test]
async fn the_handshake_creates_the_webhook_and_hands_out_its_secret() {
    let c = Client::new().await;
    let r = Receiver::start().await;
    let p = c.fake.project_gid();
    let target = r.url("/hooks/asana?app=1");
    let (_, headers, b) = c
        .send(
            "POST",
            "/webhooks",
            Some(json!({"data": {"resource": p, "target": target}})),
        )
        .await;
    assert_eq!(r.handshakes(), 1);
    let secret = r.secret();
    assert_eq!(secret.len(), 64);
    assert_eq!(
        b["X-Hook-Secret"],
        json!(secret),
        "the secret beside data: {b}"
    );
    let gid = b["data"]["gid"].as_str().expect("gid").to_string();
    assert_eq!(
        headers.get("location").and_then(|v| v.to_str().ok()),
        Some(format!("{}/webhooks/{gid}", c.fake.base_url()).as_str())
    );
    let d = &b["data"];
    assert_eq!(d["resource_type"], "webhook");
    assert_eq!(d["active"], true);
    assert_eq!(d["target"], json!(target), "the full URL, query included");
    assert_eq!(
        d["resource"],
        json!({"gid": p, "resource_type": "project", "name": "Tickets"})
    );
    assert_eq!(d["delivery_retry_count"], 0);
    assert_eq!(d["filters"], json!([]));
    assert!(d.get("last_success_at").is_none() && d.get("last_failure_at").is_none());
    assert!(
        !d.to_string().contains(&secret),
        "the secret is not part of the record"
    );

    let (s, got) = c.get(&format!("/webhooks/{gid}")).await;
    assert_eq!(s, 200);
    assert_eq!(got["data"], *d);
    let ws = c.fake.workspace_gid();
    let (_, list) = c.get(&format!("/webhooks?workspace={ws}")).await;
    assert_eq!(
        list["data"],
        json!([{"gid": gid, "resource_type": "webhook", "active": true,
                "resource": {"gid": p, "resource_type": "project"}, "target": target}])
    );
    let t = c.task("Lonely").await;
    let (_, list) = c
        .get(&format!("/webhooks?workspace={ws}&resource={t}"))
        .await;
    assert_eq!(list["data"], json!([]));
    let (s, b) = c.get("/webhooks").await;
    assert_eq!((s, msg(&b).as_str()), (400, "workspace: Missing input"));
    let (s, got) = c
        .get(&format!(
            "/webhooks/{gid}?opt_fields=target,filters.action,resource.name"
        ))
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        got["data"],
        json!({"gid": gid, "target": target, "filters": [], "resource": {"gid": p, "name": "Tickets"}})
    );
    // 204 with the echo also completes a handshake, on a task too.
    r.set(|i| i.handshake = Handshake::EchoNoContent);
    let (s, b) = create(&c, &t, &r.url("/task"), None).await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["data"]["resource"]["resource_type"], "task");
    assert_eq!(c.fake.webhooks().len(), 2);
}

#[tokio::test]
async fn a_handshake_not_answered_as_asana_asks_creates_nothing() {
    let c = Client::new().await;
    let r = Receiver::start().await;
    let p = c.fake.project_gid();
    let table = [
        (Handshake::NoEcho, "did not echo the X-Hook-Secret header"),
        (Handshake::WrongEcho, "echoed a different X-Hook-Secret"),
        (Handshake::Status(500), "answered 500, not 200 or 204"),
        (Handshake::Status(201), "answered 201, not 200 or 204"),
    ];
    for (mode, why) in table {
        r.set(|i| i.handshake = mode);
        let (s, b) = create(&c, &p, &r.url("/h"), None).await;
        assert_eq!(s, 400, "{mode:?}: {b}");
        let m = msg(&b);
        assert!(
            m.starts_with("target: Could not complete the handshake with http://127.0.0.1:"),
            "{m}"
        );
        assert!(m.ends_with(why), "{mode:?}: {m}");
    }
    assert_eq!(r.handshakes(), 4);
    // A target that does not answer in time.
    r.set(|i| i.handshake = Handshake::Echo);
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let (s, b) = create(&c, &p, &format!("http://{dead}/h"), None).await;
    assert_eq!(s, 400);
    assert!(msg(&b).ends_with("Could not connect to the target"), "{b}");
    assert!(c.fake.webhooks().is_empty());
    let ws = c.fake.workspace_gid();
    let (_, list) = c.get(&format!("/webhooks?workspace={ws}")).await;
    assert_eq!(list["data"], json!([]));
}

#[tokio::test]
async fn targets_off_loopback_and_bad_requests_are_refused_before_any_handshake() {
    let c = Client::new().await;
    let r = Receiver::start().await;
    let p = c.fake.project_gid();
    let section = c.get(&format!("/projects/{p}/sections")).await.1["data"][0]["gid"]
        .as_str()
        .expect("section")
        .to_string();
    let good = r.url("/h");
    let port = r.addr.port();
    // (body data, status, start of the message)
    let table = [
        (
            json!({"resource": p, "target": format!("http://localhost:{port}/h")}),
            403,
            "target: Invalid hostname: localhost",
        ),
        (
            json!({"resource": p, "target": "https://example.com/h"}),
            403,
            "target: The fake delivers only to loopback",
        ),
        (
            json!({"resource": p, "target": "http://192.0.2.1/h"}),
            403,
            "target: The fake delivers only to loopback",
        ),
        (
            json!({"resource": p, "target": format!("https://127.0.0.1:{port}/h")}),
            400,
            "target: The fake has no TLS",
        ),
        (
            json!({"resource": p, "target": "mailto:a@example.com"}),
            400,
            "target: Must be an https URL",
        ),
        (json!({"resource": p}), 400, "target: Missing input"),
        (json!({"target": good}), 400, "resource: Missing input"),
        (
            json!({"resource": "1209000999999999", "target": good}),
            400,
            "resource: Not a recognized ID",
        ),
        (
            json!({"resource": section, "target": good}),
            400,
            "resource: The fake models webhooks on projects and tasks only",
        ),
        (
            json!({"resource": p, "target": good, "secret": "x"}),
            400,
            "secret: Not a documented field of createWebhook",
        ),
        (
            json!({"resource": p, "target": good, "filters": [{"action": "poked"}]}),
            400,
            "filters[0].action: Not one of",
        ),
        (
            json!({"resource": p, "target": good, "filters": [{"action": "changed", "field": "name"}]}),
            400,
            "filters[].field: Not a documented field",
        ),
    ];
    for (data, status, start) in table {
        let (s, b) = c.post("/webhooks", json!({ "data": data })).await;
        assert_eq!(s, status, "{data}: {b}");
        assert!(msg(&b).starts_with(start), "{data}: {}", msg(&b));
    }
    let (s, b) = c
        .post(
            "/webhooks?opt_fields=secret",
            json!({"data": {"resource": p, "target": good}}),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(r.handshakes(), 0, "nothing reached the target");
    let (s, b) = c
        .post(
            "/batch",
            json!({"data": {"actions": [{"relative_path": "/webhooks", "method": "post",
                                          "data": {"resource": p, "target": good}}]}}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"][0]["status_code"], 400);
    assert_eq!(r.handshakes(), 0);
}

#[tokio::test]
async fn a_second_webhook_on_the_same_resource_and_target_is_refused_as_asana_does() {
    let c = Client::new().await;
    let r = Receiver::start().await;
    let p = c.fake.project_gid();
    let first = hook(&c, &p, &r.url("/h"), None).await;
    let (s, b) = create(&c, &p, &r.url("/h"), None).await;
    assert_eq!(s, 403);
    assert_eq!(
        msg(&b),
        "Duplicated webhook. You already have an existing webhook for the given resource and \
         target. Delete the old one before creating another."
    );
    assert_eq!(r.handshakes(), 1, "no handshake for the duplicate");
    // Another target, or another resource, is another webhook.
    hook(&c, &p, &r.url("/other"), None).await;
    let t = c.task("t").await;
    hook(&c, &t, &r.url("/h"), None).await;
    // After the old one is deleted, the same pair can be created again, with a new secret.
    let old_secret = r.inner.lock().unwrap().secrets[0].clone();
    let (s, b) = c.delete(&format!("/webhooks/{first}")).await;
    assert_eq!((s, &b), (200, &json!({"data": {}})));
    let (s, _) = c.get(&format!("/webhooks/{first}")).await;
    assert_eq!(s, 404);
    let (s, b) = c.delete(&format!("/webhooks/{first}")).await;
    assert_eq!(
        (s, msg(&b)),
        (404, format!("webhook: Unknown object: {first}"))
    );
    let again = hook(&c, &p, &r.url("/h"), None).await;
    assert_ne!(again, first);
    assert_ne!(r.secret(), old_secret);
}

#[tokio::test]
async fn deliveries_are_signed_over_the_exact_bytes_and_carry_skinny_events() {
    let c = Client::new().await;
    c.fake.set_webhook_timing(quick());
    let r = Receiver::start().await;
    let p = c.fake.project_gid();
    hook(&c, &p, &r.url("/h"), None).await;
    let secret = r.secret();
    let t = c.task("Printer on fire").await;
    r.wait_for("the creation's events", |d| !d.is_empty()).await;
    let d = &r.deliveries()[0];
    assert!(
        d.signed_with(&secret),
        "signature {:?} over {:?}",
        d.signature,
        d.raw
    );
    assert!(!d.signed_with("another secret"));
    // The signature is of the bytes sent: the same JSON in other bytes would not verify.
    let reserialised = serde_json::to_vec_pretty(&d.json()).expect("json");
    assert_ne!(
        asana_fake::webhook_signature(&secret, &reserialised),
        d.signature.clone().unwrap_or_default()
    );
    let events = d.events();
    let added = events
        .iter()
        .find(|e| e["action"] == "added" && e["parent"]["resource_type"] == "project")
        .expect("the task's added event");
    assert_eq!(
        added["resource"],
        json!({"gid": t, "resource_type": "task"})
    );
    assert_eq!(
        added["parent"],
        json!({"gid": p, "resource_type": "project"})
    );
    assert_eq!(
        added["user"],
        json!({"gid": c.fake.owner_gid(), "resource_type": "user"}),
        "no names in webhook events"
    );
    assert!(added["created_at"].is_string());
}

#[tokio::test]
async fn every_change_is_delivered_once_as_the_events_api_reports_it_and_filters_apply() {
    let c = Client::new().await;
    c.fake.set_webhook_timing(quick());
    let (all, names, comments) = (
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
    );
    let p = c.fake.project_gid();
    let t = c.task("t").await;
    let (_, e) = c.get(&format!("/events?resource={p}")).await;
    let sync = e["sync"].as_str().expect("sync").to_string();
    hook(&c, &p, &all.url("/h"), None).await;
    let name_only = json!([{"resource_type": "task", "action": "changed", "fields": ["name"]}]);
    let named = hook(&c, &p, &names.url("/h"), Some(name_only)).await;
    let comment_only = json!([{"resource_type": "story", "resource_subtype": "comment_added"}]);
    hook(&c, &t, &comments.url("/h"), Some(comment_only)).await;

    c.put(&format!("/tasks/{t}"), json!({"data": {"name": "renamed"}}))
        .await;
    c.put(
        &format!("/tasks/{t}"),
        json!({"data": {"notes": "some notes"}}),
    )
    .await;
    c.post(
        &format!("/tasks/{t}/stories"),
        json!({"data": {"text": "hello"}}),
    )
    .await;
    let (_, e) = c.get(&format!("/events?resource={p}&sync={sync}")).await;
    let polled = e["data"].as_array().expect("events").clone();
    assert!(polled.len() >= 5, "{polled:?}");

    // Without filters: the events the Events API reports, each once, in order, skinny.
    all.wait_for("every polled event", |ds| {
        ds.iter().map(|d| d.events().len()).sum::<usize>() >= polled.len()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let key = |e: &Value| {
        (
            e["resource"]["gid"].clone(),
            e["action"].clone(),
            e["created_at"].clone(),
            e["change"]["field"].clone(),
        )
    };
    let delivered: Vec<_> = all.events().iter().map(key).collect();
    let want: Vec<_> = polled.iter().map(key).collect();
    assert_eq!(delivered, want);
    // Filtered: the name change only; the comment only.
    names.wait_for("the name change", |ds| !ds.is_empty()).await;
    comments.wait_for("the comment", |ds| !ds.is_empty()).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let name_change = (
        "task".to_string(),
        "changed".to_string(),
        Some("name".to_string()),
    );
    let notes_change = (
        "task".to_string(),
        "changed".to_string(),
        Some("notes".to_string()),
    );
    let story_added = ("story".to_string(), "added".to_string(), None);
    assert_eq!(
        names.events().iter().map(shape).collect::<Vec<_>>(),
        std::slice::from_ref(&name_change)
    );
    assert_eq!(
        comments.events().iter().map(shape).collect::<Vec<_>>(),
        [story_added]
    );

    // PUT replaces the filters: notes now pass, names no longer.
    let notes_only = json!([{"resource_type": "task", "action": "changed", "fields": ["notes"]}]);
    let (s, b) = c
        .put(
            &format!("/webhooks/{named}"),
            json!({"data": {"filters": notes_only}}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"]["filters"], notes_only);
    c.put(&format!("/tasks/{t}"), json!({"data": {"name": "again"}}))
        .await;
    c.put(
        &format!("/tasks/{t}"),
        json!({"data": {"notes": "new notes"}}),
    )
    .await;
    names.wait_for("the notes change", |ds| ds.len() >= 2).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        names.events().iter().map(shape).collect::<Vec<_>>(),
        [name_change, notes_change]
    );
    let (s, b) = c
        .put(&format!("/webhooks/{named}"), json!({"data": {}}))
        .await;
    assert_eq!((s, msg(&b).as_str()), (400, "filters: Missing input"));
}

#[tokio::test]
async fn a_quiet_webhook_gets_signed_heartbeats() {
    let c = Client::new().await;
    c.fake.set_webhook_timing(WebhookTiming {
        heartbeat: Duration::from_millis(150),
        ..quick()
    });
    let r = Receiver::start().await;
    let start = std::time::Instant::now();
    let gid = hook(&c, &c.fake.project_gid(), &r.url("/h"), None).await;
    r.wait_for("two heartbeats", |d| d.len() >= 2).await;
    let secret = r.secret();
    for d in r.deliveries() {
        assert_eq!(d.raw.as_ref(), br#"{"events":[]}"#);
        assert!(d.signed_with(&secret));
    }
    let second = r.deliveries()[1].at.duration_since(start);
    assert!(
        second >= Duration::from_millis(300),
        "one heartbeat per quiet interval: {second:?}"
    );
    let h = c.fake.webhook_health(&gid).expect("health");
    assert!(h.last_success_at.is_some());
    let (_, b) = c.get(&format!("/webhooks/{gid}")).await;
    assert!(b["data"]["last_success_at"].is_string(), "{b}");
}

#[tokio::test]
async fn failing_deliveries_are_retried_with_the_health_fields_then_the_webhook_is_deleted() {
    let c = Client::new().await;
    c.fake.set_webhook_timing(WebhookTiming {
        deletion_after: Duration::from_millis(700),
        ..quick()
    });
    let r = Receiver::start().await;
    r.set(|i| {
        i.status = 500;
        i.answer = "Could not complete the request".into();
    });
    let p = c.fake.project_gid();
    let gid = hook(&c, &p, &r.url("/h"), None).await;
    let t = c.task("t").await;
    r.wait_for("a retry", |d| d.len() >= 2).await;
    let h = c.fake.webhook_health(&gid).expect("still there");
    assert!(h.delivery_retry_count >= 1, "{h:?}");
    assert_eq!(
        h.last_failure_content.as_deref(),
        Some("500 Internal Server Error\n\nCould not complete the request")
    );
    assert!(h.last_failure_at.is_some() && h.last_success_at.is_none());
    let deletion = h.failure_deletion_timestamp.expect("deletion time");
    let next = h.next_attempt_after.expect("next attempt");
    assert!(next <= deletion);
    let (_, b) = c.get(&format!("/webhooks/{gid}")).await;
    let d = &b["data"];
    for k in [
        "last_failure_at",
        "next_attempt_after",
        "failure_deletion_timestamp",
    ] {
        assert!(d[k].is_string(), "{k}: {d}");
    }
    assert_eq!(
        d["last_failure_content"],
        "500 Internal Server Error\n\nCould not complete the request"
    );
    assert!(d["delivery_retry_count"].as_u64() >= Some(1));

    // New changes wait behind the failing delivery: every attempt carries the same events.
    c.put(&format!("/tasks/{t}"), json!({"data": {"name": "later"}}))
        .await;
    eventually("the deletion", || c.fake.webhook_health(&gid).is_none()).await;
    let (s, _) = c.get(&format!("/webhooks/{gid}")).await;
    assert_eq!(s, 404);
    let ds = r.deliveries();
    assert!(ds.len() >= 4, "retried with backoff: {}", ds.len());
    assert!(
        ds.iter().all(|d| d.raw == ds[0].raw),
        "the same delivery each time"
    );
    let log = c.fake.webhook_deliveries();
    assert!(log.iter().all(|x| x.webhook == gid));
    assert_eq!(log.len(), ds.len());
    // Nothing more after the deletion.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(r.deliveries().len(), ds.len());
}

#[tokio::test]
async fn a_target_that_recovers_gets_the_delivery_and_the_health_clears() {
    let c = Client::new().await;
    c.fake.set_webhook_timing(WebhookTiming {
        timeout: Duration::from_millis(200),
        ..quick()
    });
    let r = Receiver::start().await;
    r.set(|i| i.delay = Duration::from_millis(400));
    let p = c.fake.project_gid();
    let gid = hook(&c, &p, &r.url("/h"), None).await;
    let t = c.task("t").await;
    eventually("a timed-out delivery", || {
        c.fake
            .webhook_health(&gid)
            .is_some_and(|h| h.last_failure_content.as_deref() == Some("Timed out after 200 ms"))
    })
    .await;
    r.set(|i| i.delay = Duration::ZERO);
    eventually("a success", || {
        c.fake
            .webhook_health(&gid)
            .is_some_and(|h| h.last_success_at.is_some())
    })
    .await;
    let h = c.fake.webhook_health(&gid).expect("health");
    assert_eq!(h.delivery_retry_count, 0);
    assert_eq!(
        (h.next_attempt_after, h.failure_deletion_timestamp),
        (None, None)
    );
    assert!(
        h.last_failure_at.is_some(),
        "the last failure stays on record"
    );
    // Later changes flow again, after the retried events.
    c.put(&format!("/tasks/{t}"), json!({"data": {"name": "back"}}))
        .await;
    r.wait_for("the rename", |ds| {
        ds.iter()
            .flat_map(|d| d.events())
            .any(|e| e["change"]["field"] == "name")
    })
    .await;
}

#[tokio::test]
async fn a_create_whose_answer_is_lost_leaves_the_webhook_and_a_retry_is_a_duplicate() {
    // The restart pitfall: the webhook exists though the client saw a failure.
    let c = Client::new().await;
    let r = Receiver::start().await;
    let p = c.fake.project_gid();
    c.fake.add_fault(asana_fake::Fault {
        method: Some("POST".into()),
        path_prefix: Some("/api/1.0/webhooks".into()),
        status: Some(500),
        count: 1,
        after_apply: true,
        ..Default::default()
    });
    let (s, _) = create(&c, &p, &r.url("/h"), None).await;
    assert_eq!(s, 500);
    let (s, b) = create(&c, &p, &r.url("/h"), None).await;
    assert_eq!(s, 403);
    assert!(msg(&b).starts_with("Duplicated webhook."), "{b}");
    let ws = c.fake.workspace_gid();
    let (_, list) = c
        .get(&format!(
            "/webhooks?workspace={ws}&resource={p}&opt_fields=target"
        ))
        .await;
    let listed = list["data"].as_array().expect("list");
    assert_eq!(listed.len(), 1, "found again by resource: {list}");
    assert_eq!(listed[0]["target"], json!(r.url("/h")));
}

#[tokio::test]
async fn a_tasks_webhook_sees_that_task_only() {
    let c = Client::new().await;
    c.fake.set_webhook_timing(quick());
    let r = Receiver::start().await;
    let (mine, other) = (c.task("mine").await, c.task("other").await);
    hook(&c, &mine, &r.url("/h"), None).await;
    for t in [&other, &mine] {
        c.put(&format!("/tasks/{t}"), json!({"data": {"completed": true}}))
            .await;
    }
    r.wait_for("the change", |d| !d.is_empty()).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let events = r.events();
    assert!(!events.is_empty());
    for e in &events {
        let about = if e["resource"]["resource_type"] == "task" {
            &e["resource"]["gid"]
        } else {
            &e["parent"]["gid"]
        };
        assert_eq!(about, &json!(mine), "{e}");
    }
}
