//! Due dates as Asana documents them: `due_on` (a date) and `due_at` (an instant,
//! rendered in UTC with milliseconds), one replacing the other, `null` clearing,
//! both at once and malformed values refused, changes bumping `modified_at` and
//! emitting events.

use crate::common;

use std::time::Duration;

use common::{msg, Client};
use serde_json::{json, Value};

async fn dates(c: &Client, t: &str) -> (Value, Value) {
    let (s, b) = c.get(&format!("/tasks/{t}?opt_fields=due_on,due_at")).await;
    assert_eq!(s, 200, "{b}");
    (b["data"]["due_on"].clone(), b["data"]["due_at"].clone())
}

async fn put(c: &Client, t: &str, data: Value) -> (u16, Value) {
    c.put(&format!("/tasks/{t}"), json!({ "data": data })).await
}

#[tokio::test]
async fn due_on_and_due_at_replace_each_other_and_null_clears() {
    let c = Client::new().await;
    let p = c.fake.project_gid();
    let (s, b) = c
        .post(
            "/tasks?opt_fields=due_on,due_at",
            json!({"data": {"name": "dated", "projects": [p], "due_on": "2026-12-24"}}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(
        (&b["data"]["due_on"], &b["data"]["due_at"]),
        (&json!("2026-12-24"), &Value::Null)
    );
    let t = b["data"]["gid"].as_str().unwrap().to_string();

    // due_at replaces due_on; rendered in UTC with milliseconds; due_on is its UTC date.
    let (s, b) = put(&c, &t, json!({"due_at": "2026-12-24T15:00:00+01:00"})).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"]["due_at"], "2026-12-24T14:00:00.000Z");
    assert_eq!(b["data"]["due_on"], "2026-12-24");
    put(&c, &t, json!({"due_at": "2026-12-24T23:30:00.250-02:00"})).await;
    assert_eq!(
        dates(&c, &t).await,
        (json!("2026-12-25"), json!("2026-12-25T01:30:00.250Z"))
    );

    // due_on replaces due_at.
    put(&c, &t, json!({"due_on": "2027-01-02"})).await;
    assert_eq!(dates(&c, &t).await, (json!("2027-01-02"), Value::Null));

    // null clears, whichever field carries it.
    put(&c, &t, json!({"due_on": null})).await;
    assert_eq!(dates(&c, &t).await, (Value::Null, Value::Null));
    put(&c, &t, json!({"due_at": "2027-01-02T09:00:00.000Z"})).await;
    put(&c, &t, json!({"due_at": null})).await;
    assert_eq!(dates(&c, &t).await, (Value::Null, Value::Null));
    put(&c, &t, json!({"due_on": "2027-01-03"})).await;
    put(&c, &t, json!({"due_at": null})).await;
    assert_eq!(dates(&c, &t).await, (Value::Null, Value::Null));

    // The default record and the snapshot carry them too.
    put(&c, &t, json!({"due_at": "2027-03-04T05:06:07.000Z"})).await;
    let (_, b) = c.get(&format!("/tasks/{t}")).await;
    assert_eq!(b["data"]["due_at"], "2027-03-04T05:06:07.000Z");
    assert_eq!(b["data"]["due_on"], "2027-03-04");
    assert_eq!(b["data"]["start_on"], Value::Null);
    let snap = c
        .fake
        .project_tasks(&p)
        .into_iter()
        .find(|x| x.gid == t)
        .expect("snapshot");
    assert_eq!(snap.due_on.as_deref(), Some("2027-03-04"));
    assert_eq!(snap.due_at.as_deref(), Some("2027-03-04T05:06:07.000Z"));

    // A task created with due_at.
    let (s, b) = c
        .post(
            "/tasks?opt_fields=due_on,due_at",
            json!({"data": {"name": "timed", "projects": [p], "due_at": "2026-06-01T08:00:00Z"}}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["data"]["due_at"], "2026-06-01T08:00:00.000Z");
    assert_eq!(b["data"]["due_on"], "2026-06-01");
}

#[tokio::test]
async fn both_at_once_and_malformed_dates_are_refused() {
    let c = Client::new().await;
    let p = c.fake.project_gid();
    let t = c.task("subject").await;
    put(&c, &t, json!({"due_on": "2026-12-24"})).await;
    let cases = [
        (
            json!({"due_on": "2026-12-24", "due_at": "2026-12-24T14:00:00.000Z"}),
            "due_at: You may only provide one of due_on or due_at",
        ),
        (
            json!({"due_on": null, "due_at": "2026-12-24T14:00:00.000Z"}),
            "one of due_on or due_at",
        ),
        (json!({"due_on": "2026-13-01"}), "due_on: Not a valid date"),
        (json!({"due_on": "2026-02-30"}), "due_on: Not a valid date"),
        (json!({"due_on": "2026-1-5"}), "due_on: Not a valid date"),
        (json!({"due_on": "24.12.2026"}), "due_on: Not a valid date"),
        (
            json!({"due_on": "2026-12-24T10:00:00Z"}),
            "due_on: Not a valid date",
        ),
        (
            json!({"due_at": "2026-12-24"}),
            "due_at: Not a valid ISO 8601 date-time",
        ),
        (
            json!({"due_at": "2026-12-24T14:00:00"}),
            "due_at: Not a valid ISO 8601 date-time",
        ),
        (
            json!({"due_at": "tomorrow"}),
            "due_at: Not a valid ISO 8601 date-time",
        ),
        (json!({"due_on": 20261224}), "due_on"),
        (
            json!({"start_on": "2026-12-20", "due_on": "2026-12-24"}),
            "start_on",
        ),
        (
            json!({"start_at": "2026-12-20T10:00:00.000Z", "due_at": "2026-12-24T10:00:00.000Z"}),
            "start_at",
        ),
    ];
    for (data, needle) in cases {
        let mut body = data.clone();
        body["name"] = json!("renamed");
        let (s, b) = put(&c, &t, body).await;
        assert_eq!(s, 400, "{data}: {b}");
        assert!(msg(&b).contains(needle), "{data}: want {needle:?} in {b}");
        assert_eq!(
            dates(&c, &t).await,
            (json!("2026-12-24"), Value::Null),
            "unchanged after {data}"
        );
        // The same on create: nothing created.
        let before = c.fake.project_tasks(&p).len();
        let mut body = data.clone();
        body["name"] = json!("new");
        body["projects"] = json!([p]);
        let (s, b) = c.post("/tasks", json!({ "data": body })).await;
        assert_eq!(s, 400, "create {data}: {b}");
        assert!(msg(&b).contains(needle), "create {data}: {b}");
        assert_eq!(c.fake.project_tasks(&p).len(), before);
    }
    let (_, b) = c.get(&format!("/tasks/{t}?opt_fields=name")).await;
    assert_eq!(b["data"]["name"], "subject");
}

#[tokio::test]
async fn due_changes_bump_modified_at_emit_events_and_stories() {
    let c = Client::new().await;
    let p = c.fake.project_gid();
    let t = c.task("evented").await;
    let (_, e) = c.get(&format!("/events?resource={p}")).await;
    let sync = e["sync"].as_str().unwrap().to_string();
    let (_, b) = c.get(&format!("/tasks/{t}?opt_fields=modified_at")).await;
    let m0 = b["data"]["modified_at"].as_str().unwrap().to_string();

    tokio::time::sleep(Duration::from_millis(5)).await;
    let (s, b) = c
        .put(
            &format!("/tasks/{t}?opt_fields=modified_at"),
            json!({"data": {"due_on": "2026-12-24"}}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let m1 = b["data"]["modified_at"].as_str().unwrap().to_string();
    assert!(m1 > m0, "{m1} > {m0}");
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (_, b) = c
        .put(
            &format!("/tasks/{t}?opt_fields=modified_at"),
            json!({"data": {"due_at": "2026-12-24T14:00:00.000Z"}}),
        )
        .await;
    let m2 = b["data"]["modified_at"].as_str().unwrap().to_string();
    assert!(m2 > m1, "{m2} > {m1}");
    // The same value again is no change.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (_, b) = c
        .put(
            &format!("/tasks/{t}?opt_fields=modified_at"),
            json!({"data": {"due_at": "2026-12-24T15:00:00+01:00"}}),
        )
        .await;
    assert_eq!(b["data"]["modified_at"], json!(m2));
    put(&c, &t, json!({"due_at": null})).await;

    let (_, e) = c.get(&format!("/events?resource={p}&sync={sync}")).await;
    let fields: Vec<&Value> = e["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["action"] == "changed" && x["resource"]["gid"] == json!(t))
        .map(|x| &x["change"]["field"])
        .collect();
    assert_eq!(
        fields,
        [&json!("due_on"), &json!("due_at"), &json!("due_at")]
    );

    let (_, st) = c
        .get(&format!(
            "/tasks/{t}/stories?opt_fields=resource_subtype,old_dates,new_dates"
        ))
        .await;
    let changes: Vec<(&Value, &Value)> = st["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["resource_subtype"] == "due_date_changed")
        .map(|s| (&s["old_dates"], &s["new_dates"]))
        .collect();
    assert_eq!(changes.len(), 3, "{st}");
    assert_eq!(
        changes[0],
        (
            &json!({"start_on": null, "due_at": null}),
            &json!({"start_on": null, "due_at": null, "due_on": "2026-12-24"})
        )
    );
    assert_eq!(
        changes[1].1,
        &json!({"start_on": null, "due_at": "2026-12-24T14:00:00.000Z", "due_on": "2026-12-24"})
    );
    assert_eq!(changes[2].1, &json!({"start_on": null, "due_at": null}));
}
