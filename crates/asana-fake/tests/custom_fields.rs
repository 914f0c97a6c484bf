//! Custom fields as Asana documents them: enum (and text, number) fields in the
//! workspace, their enum options, custom field settings on projects, values on
//! tasks (`custom_fields` on create, update and read), the 400s for values Asana
//! refuses, events, batch, and the 402 of a plan without custom fields.

use crate::common;

use std::time::Duration;

use common::{msg, Client};
use serde_json::{json, Value};

fn gid(v: &Value) -> String {
    v["data"]["gid"].as_str().expect("gid").to_string()
}

/// A "Priority" enum field with options High, Medium, Low; returns (field, [options]).
async fn priority(c: &Client) -> (String, Vec<String>) {
    let (s, b) = c
        .post(
            "/custom_fields",
            json!({"data": {
                "workspace": c.fake.workspace_gid(), "name": "Priority", "resource_subtype": "enum",
                "enum_options": [
                    {"name": "High", "color": "red"},
                    {"name": "Medium", "color": "yellow"},
                    {"name": "Low", "color": "blue"}
                ]
            }}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let options = b["data"]["enum_options"]
        .as_array()
        .expect("options")
        .iter()
        .map(|o| o["gid"].as_str().expect("option gid").to_string())
        .collect();
    (gid(&b), options)
}

/// Adds custom field `field` to project `p`.
async fn add_to(c: &Client, p: &str, field: &str) -> Value {
    let (s, b) = c
        .post(
            &format!("/projects/{p}/addCustomFieldSetting"),
            json!({"data": {"custom_field": field}}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    b
}

/// The `custom_fields` entry of field `field` on task `t` (with every value field).
async fn value_of(c: &Client, t: &str, field: &str) -> Option<Value> {
    let (s, b) = c
        .get(&format!(
            "/tasks/{t}?opt_fields=custom_fields.name,custom_fields.enabled,custom_fields.display_value,custom_fields.enum_value.name,custom_fields.enum_value.enabled,custom_fields.text_value,custom_fields.number_value"
        ))
        .await;
    assert_eq!(s, 200, "{b}");
    b["data"]["custom_fields"]
        .as_array()
        .expect("custom_fields")
        .iter()
        .find(|f| f["gid"] == json!(field))
        .cloned()
}

fn assert_refused(status: u16, body: &Value, needle: &str) {
    assert_eq!(status, 400, "{body}");
    assert!(
        msg(body).contains(needle),
        "message should contain {needle:?}: {body}"
    );
    assert!(body["errors"][0]["help"].is_string(), "{body}");
}

#[tokio::test]
async fn enum_field_from_creation_to_cleared_value() {
    let c = Client::new().await;
    let p = c.fake.project_gid();
    let before = c.task("made before the field was added").await;

    // Create: 201, Location, options with gids, enabled, default colour.
    let (s, h, b) = c
        .send(
            "POST",
            "/custom_fields",
            Some(json!({"data": {
                "workspace": c.fake.workspace_gid(), "name": "Priority", "resource_subtype": "enum",
                "description": "How urgent",
                "enum_options": [{"name": "High", "color": "red"}, {"name": "Low"}]
            }})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let field = gid(&b);
    assert_eq!(
        h["location"].to_str().unwrap(),
        format!("{}/custom_fields/{field}", c.fake.base_url())
    );
    let d = &b["data"];
    assert_eq!(d["resource_type"], "custom_field");
    assert_eq!(d["resource_subtype"], "enum");
    assert_eq!(d["type"], "enum");
    assert_eq!(d["name"], "Priority");
    assert!(d.get("description").is_none(), "description is opt-in: {d}");
    let options = d["enum_options"].as_array().expect("options");
    assert_eq!(options.len(), 2);
    assert_eq!(options[0]["name"], "High");
    assert_eq!(options[0]["color"], "red");
    assert_eq!(options[0]["enabled"], true);
    assert_eq!(options[0]["resource_type"], "enum_option");
    assert_eq!(options[1]["color"], "none");
    let high = options[0]["gid"].as_str().unwrap().to_string();
    let low = options[1]["gid"].as_str().unwrap().to_string();
    assert_ne!(high, field);

    let (s, b) = c
        .get(&format!(
            "/custom_fields/{field}?opt_fields=name,description,enum_options.name"
        ))
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"]["description"], "How urgent");
    assert_eq!(
        b["data"]["enum_options"],
        json!([{"gid": high, "name": "High"}, {"gid": low, "name": "Low"}])
    );

    // A task in the project sees no field before the setting exists.
    assert!(value_of(&c, &before, &field).await.is_none());

    // Add to the project.
    let b = add_to(&c, &p, &field).await;
    assert_eq!(b["data"]["resource_type"], "custom_field_setting");
    assert_eq!(b["data"]["custom_field"]["gid"], json!(field));
    assert_eq!(b["data"]["is_important"], false);
    assert_eq!(b["data"]["project"]["gid"], json!(p));
    let setting = gid(&b);
    let (_, b) = c.get(&format!("/projects/{p}/custom_field_settings")).await;
    assert_eq!(
        b["data"],
        json!([{"gid": setting, "resource_type": "custom_field_setting"}]),
        "compact records, as the spec says"
    );
    assert_eq!(b["next_page"], Value::Null);
    let (_, b) = c
        .get(&format!(
            "/projects/{p}/custom_field_settings?opt_fields=custom_field.name,custom_field.enum_options.name,custom_field.enum_options.color,is_important"
        ))
        .await;
    assert_eq!(b["data"][0]["custom_field"]["name"], "Priority");
    assert_eq!(
        b["data"][0]["custom_field"]["enum_options"][0],
        json!({"gid": high, "name": "High", "color": "red"})
    );
    let (_, b) = c
        .get(&format!(
            "/projects/{p}?opt_fields=custom_field_settings.custom_field.name"
        ))
        .await;
    assert_eq!(
        b["data"]["custom_field_settings"],
        json!([{"gid": setting, "custom_field": {"gid": field, "name": "Priority"}}])
    );

    // Tasks of the project now show the field, unset.
    let v = value_of(&c, &before, &field).await.expect("field shown");
    assert_eq!(v["name"], "Priority");
    assert_eq!(v["enum_value"], Value::Null);
    assert_eq!(v["display_value"], Value::Null);
    assert_eq!(v["enabled"], true);

    // Create a task with a value; read it back through opt_fields.
    let (s, b) = c
        .post(
            "/tasks?opt_fields=custom_fields.name,custom_fields.enum_value.name,custom_fields.display_value",
            json!({"data": {"name": "Urgent", "projects": [p], "custom_fields": {field.clone(): high}}}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let t = gid(&b);
    assert_eq!(
        b["data"]["custom_fields"],
        json!([{"gid": field, "name": "Priority", "display_value": "High",
                "enum_value": {"gid": high, "name": "High"}}])
    );
    // The default record carries the value in full.
    let (_, b) = c.get(&format!("/tasks/{t}")).await;
    let v = &b["data"]["custom_fields"][0];
    assert_eq!(v["gid"], json!(field));
    assert_eq!(v["resource_subtype"], "enum");
    assert_eq!(v["type"], "enum");
    assert_eq!(
        v["enum_value"],
        json!({"gid": high, "resource_type": "enum_option", "name": "High", "enabled": true, "color": "red"})
    );
    assert_eq!(v["enum_options"].as_array().map(Vec::len), Some(2));
    let created_modified = b["data"]["modified_at"].as_str().unwrap().to_string();
    let snap = c
        .fake
        .project_tasks(&p)
        .into_iter()
        .find(|x| x.gid == t)
        .expect("snapshot");
    assert_eq!(
        snap.custom_fields,
        vec![("Priority".to_string(), Some("High".to_string()))]
    );

    // Update: bumps modified_at, emits a `changed` event, adds a story.
    let (_, e) = c.get(&format!("/events?resource={t}")).await;
    let sync = e["sync"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (s, b) = c
        .put(
            &format!("/tasks/{t}?opt_fields=modified_at,custom_fields.enum_value.name"),
            json!({"data": {"custom_fields": {field.clone(): low}}}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"]["custom_fields"][0]["enum_value"]["name"], "Low");
    assert!(b["data"]["modified_at"].as_str().unwrap() > created_modified.as_str());
    let (_, e) = c.get(&format!("/events?resource={t}&sync={sync}")).await;
    let changed: Vec<&Value> = e["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["action"] == "changed")
        .collect();
    assert_eq!(changed.len(), 1, "{e}");
    assert_eq!(changed[0]["resource"]["gid"], json!(t));
    assert_eq!(changed[0]["change"]["field"], "custom_fields");
    assert_eq!(changed[0]["change"]["new_value"]["gid"], json!(field));
    assert_eq!(
        changed[0]["change"]["new_value"]["enum_value"]["gid"],
        json!(low)
    );
    let sync = e["sync"].as_str().unwrap().to_string();
    let (_, st) = c
        .get(&format!(
            "/tasks/{t}/stories?opt_fields=resource_subtype,custom_field.name,old_enum_value.name,new_enum_value.name"
        ))
        .await;
    let story = st["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["resource_subtype"] == "enum_custom_field_changed")
        .expect("enum_custom_field_changed story");
    assert_eq!(story["custom_field"]["name"], "Priority");
    assert_eq!(story["old_enum_value"]["name"], "High");
    assert_eq!(story["new_enum_value"]["name"], "Low");

    // The same value again changes nothing.
    c.put(
        &format!("/tasks/{t}"),
        json!({"data": {"custom_fields": {field.clone(): low}}}),
    )
    .await;
    let (_, e) = c.get(&format!("/events?resource={t}&sync={sync}")).await;
    assert_eq!(e["data"], json!([]), "no-op writes emit nothing");

    // Clear with null.
    let (s, b) = c
        .put(
            &format!("/tasks/{t}"),
            json!({"data": {"custom_fields": {field.clone(): null}}}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let v = &b["data"]["custom_fields"][0];
    assert_eq!(v["enum_value"], Value::Null);
    assert_eq!(v["display_value"], Value::Null);
    let (_, e) = c.get(&format!("/events?resource={t}&sync={sync}")).await;
    assert_eq!(e["data"][0]["change"]["field"], "custom_fields");
    assert_eq!(
        e["data"][0]["change"]["new_value"]["enum_value"],
        Value::Null
    );
}

#[tokio::test]
async fn values_asana_refuses_are_400s_and_change_nothing() {
    let c = Client::new().await;
    let p = c.fake.project_gid();
    let (field, opts) = priority(&c).await;
    add_to(&c, &p, &field).await;
    let (s, b) = c
        .post(
            "/custom_fields",
            json!({"data": {"workspace": c.fake.workspace_gid(), "name": "Severity",
                "resource_subtype": "enum", "enum_options": [{"name": "S1"}]}}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let severity = gid(&b);
    let s1 = b["data"]["enum_options"][0]["gid"]
        .as_str()
        .unwrap()
        .to_string();
    let t = c.task("subject").await;
    let (s, _) = c
        .put(
            &format!("/tasks/{t}"),
            json!({"data": {"custom_fields": {field.clone(): opts[0]}}}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, b) = c
        .put(
            &format!("/enum_options/{}", opts[2]),
            json!({"data": {"enabled": false}}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"]["enabled"], false);

    let cases = [
        (json!({field.clone(): s1}), "belongs to custom field"),
        (json!({field.clone(): opts[2]}), "is disabled"),
        (
            json!({severity.clone(): s1}),
            "is not on any of the task's projects",
        ),
        (
            json!({field.clone(): "1"}),
            "Not a recognized enum option ID",
        ),
        (json!({"1": opts[0]}), "Not a recognized custom field ID: 1"),
        (
            json!({field.clone(): 2}),
            "takes the gid of one of its enum options or null",
        ),
        // Atomic: a good value beside a bad one is not written either.
        (
            json!({field.clone(): opts[1], severity.clone(): s1}),
            "is not on any of the task's projects",
        ),
    ];
    for (values, needle) in cases {
        let (s, b) = c
            .put(
                &format!("/tasks/{t}"),
                json!({"data": {"name": "renamed", "custom_fields": values}}),
            )
            .await;
        assert_refused(s, &b, needle);
        let v = value_of(&c, &t, &field).await.expect("field");
        assert_eq!(v["enum_value"]["name"], "High", "unchanged after {values}");
    }
    let (_, b) = c.get(&format!("/tasks/{t}?opt_fields=name")).await;
    assert_eq!(
        b["data"]["name"], "subject",
        "nothing of a refused write is applied"
    );

    // On create the field must be on one of the new task's projects.
    let other = c.fake.add_project("Other");
    let before = c.fake.project_tasks(&other).len();
    let (s, b) = c
        .post(
            "/tasks",
            json!({"data": {"name": "x", "projects": [other], "custom_fields": {field.clone(): opts[0]}}}),
        )
        .await;
    assert_refused(s, &b, "is not on any of the task's projects");
    assert_eq!(
        c.fake.project_tasks(&other).len(),
        before,
        "no task created"
    );
    let (s, b) = c
        .post(
            "/tasks",
            json!({"data": {"name": "x", "workspace": c.fake.workspace_gid(), "custom_fields": {field.clone(): opts[0]}}}),
        )
        .await;
    assert_refused(s, &b, "is not on any of the task's projects");

    // A disabled option keeps its place on tasks that have it, shown disabled.
    let (s, _) = c
        .put(
            &format!("/enum_options/{}", opts[2]),
            json!({"data": {"enabled": true}}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = c
        .put(
            &format!("/tasks/{t}"),
            json!({"data": {"custom_fields": {field.clone(): opts[2]}}}),
        )
        .await;
    assert_eq!(s, 200);
    c.put(
        &format!("/enum_options/{}", opts[2]),
        json!({"data": {"enabled": false}}),
    )
    .await;
    let v = value_of(&c, &t, &field).await.expect("field");
    assert_eq!(v["enum_value"]["name"], "Low");
    assert_eq!(v["enum_value"]["enabled"], false);
    assert_eq!(v["display_value"], "Low");
}

#[tokio::test]
async fn definitions_options_and_settings_follow_the_spec() {
    let c = Client::new().await;
    let p = c.fake.project_gid();
    let ws = c.fake.workspace_gid();
    let (field, opts) = priority(&c).await;

    let refused = [
        (
            json!({"workspace": ws, "name": "priority", "resource_subtype": "enum", "enum_options": [{"name": "x"}]}),
            "already exists",
        ),
        (
            json!({"workspace": ws, "name": "Due Date", "resource_subtype": "text"}),
            "built-in task property",
        ),
        (
            json!({"workspace": ws, "name": "Labels", "resource_subtype": "multi_enum"}),
            "multi_enum",
        ),
        (
            json!({"workspace": ws, "name": "Empty", "resource_subtype": "enum"}),
            "at least one enum option",
        ),
        (
            json!({"workspace": ws, "name": "Empty", "resource_subtype": "enum", "enum_options": []}),
            "at least one enum option",
        ),
        (
            json!({"workspace": ws, "name": "X", "resource_subtype": "enum", "enum_options": [{"name": "a", "enabled": false}]}),
            "enum_options[].enabled",
        ),
        (
            json!({"workspace": ws, "name": "X", "resource_subtype": "enum", "enum_options": [{"name": "a", "color": "crimson"}]}),
            "enum_options[].color",
        ),
        (
            json!({"workspace": ws, "name": "X", "resource_subtype": "enum", "enum_options": [{"color": "red"}]}),
            "enum_options[].name: Missing input",
        ),
        (
            json!({"workspace": ws, "name": "X", "resource_subtype": "text", "enum_options": [{"name": "a"}]}),
            "Only enum and multi_enum custom fields",
        ),
        (
            json!({"workspace": ws, "name": "X", "resource_subtype": "enum", "enum_options": [{"name": "a"}], "precision": 2}),
            "precision",
        ),
        (
            json!({"workspace": ws, "name": "X", "resource_subtype": "number", "precision": 7}),
            "precision",
        ),
        (
            json!({"workspace": ws, "name": "X", "resource_subtype": "number", "format": "currency"}),
            "format: Not modelled",
        ),
        (
            json!({"name": "X", "resource_subtype": "text"}),
            "workspace: Missing input",
        ),
        (
            json!({"workspace": "1", "name": "X", "resource_subtype": "text"}),
            "workspace: Not a recognized ID",
        ),
        (
            json!({"workspace": ws, "resource_subtype": "text"}),
            "name: Missing input",
        ),
        (
            json!({"workspace": ws, "name": "X"}),
            "resource_subtype: Missing input",
        ),
    ];
    for (data, needle) in refused {
        let (s, b) = c.post("/custom_fields", json!({"data": data})).await;
        assert_refused(s, &b, needle);
    }

    // Enum options: inserted where asked, refused when malformed.
    let (s, b) = c
        .post(
            &format!("/custom_fields/{field}/enum_options"),
            json!({"data": {"name": "Critical", "color": "hot-pink", "insert_before": opts[0]}}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let critical = gid(&b);
    assert_eq!(
        b["data"],
        json!({"gid": critical, "resource_type": "enum_option", "name": "Critical", "enabled": true, "color": "hot-pink"})
    );
    let (_, b) = c
        .get(&format!(
            "/custom_fields/{field}?opt_fields=enum_options.name"
        ))
        .await;
    let names: Vec<&str> = b["data"]["enum_options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Critical", "High", "Medium", "Low"]);
    for (data, needle) in [
        (json!({"color": "red"}), "name: Missing input"),
        (json!({"name": "x", "insert_before": "1"}), "insert_before"),
        (json!({"name": "x", "enabled": false}), "enabled"),
        (json!({"name": "x", "gid": "1"}), "gid"),
    ] {
        let (s, b) = c
            .post(
                &format!("/custom_fields/{field}/enum_options"),
                json!({"data": data}),
            )
            .await;
        assert_refused(s, &b, needle);
    }
    let (s, _) = c
        .post(
            "/custom_fields/1/enum_options",
            json!({"data": {"name": "x"}}),
        )
        .await;
    assert_eq!(s, 404);

    // Updating options; the last enabled one cannot be disabled.
    let (s, b) = c
        .put(
            &format!("/enum_options/{critical}?opt_fields=name,color"),
            json!({"data": {"name": "Blocker", "color": "purple"}}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        b["data"],
        json!({"gid": critical, "name": "Blocker", "color": "purple"})
    );
    let (s, b) = c
        .put(
            &format!("/enum_options/{critical}"),
            json!({"data": {"color": "crimson"}}),
        )
        .await;
    assert_refused(s, &b, "color");
    let (s, b) = c
        .put(
            &format!("/enum_options/{critical}"),
            json!({"data": {"resource_type": "x"}}),
        )
        .await;
    assert_refused(s, &b, "resource_type");
    for o in [&critical, &opts[0], &opts[1]] {
        let (s, _) = c
            .put(
                &format!("/enum_options/{o}"),
                json!({"data": {"enabled": false}}),
            )
            .await;
        assert_eq!(s, 200);
    }
    let (s, b) = c
        .put(
            &format!("/enum_options/{}", opts[2]),
            json!({"data": {"enabled": false}}),
        )
        .await;
    assert_refused(s, &b, "at least one enabled enum option");
    let (s, _) = c
        .put("/enum_options/1", json!({"data": {"enabled": false}}))
        .await;
    assert_eq!(s, 404);

    // Settings: once per project, by gid, positioned.
    let (s, b) = c
        .post(
            &format!("/projects/{p}/addCustomFieldSetting"),
            json!({"data": {"custom_field": field, "is_important": true}}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"]["is_important"], true);
    let prio_setting = gid(&b);
    let (s, b) = c
        .post(
            "/custom_fields",
            json!({"data": {"workspace": ws, "name": "Customer", "resource_subtype": "text"}}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let customer = gid(&b);
    let (s, b) = c
        .post(
            &format!("/projects/{p}/addCustomFieldSetting"),
            json!({"data": {"custom_field": customer, "insert_before": prio_setting}}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (_, b) = c
        .get(&format!(
            "/projects/{p}/custom_field_settings?opt_fields=custom_field.name&limit=1"
        ))
        .await;
    assert_eq!(b["data"][0]["custom_field"]["name"], "Customer");
    let offset = b["next_page"]["offset"].as_str().expect("paginated");
    let (_, b) = c
        .get(&format!(
            "/projects/{p}/custom_field_settings?opt_fields=custom_field.name&limit=1&offset={offset}"
        ))
        .await;
    assert_eq!(b["data"][0]["custom_field"]["name"], "Priority");
    for (data, needle) in [
        (json!({"custom_field": field}), "already on project"),
        (
            json!({"custom_field": "1"}),
            "custom_field: Not a recognized ID",
        ),
        (
            json!({"custom_field": {"name": "Inline", "resource_subtype": "text"}}),
            "create it with POST /custom_fields",
        ),
        (json!({}), "custom_field: Missing input"),
        (
            json!({"custom_field": customer, "is_important": "yes"}),
            "is_important",
        ),
    ] {
        let (s, b) = c
            .post(
                &format!("/projects/{p}/addCustomFieldSetting"),
                json!({"data": data}),
            )
            .await;
        assert_refused(s, &b, needle);
    }
    let (s, b) = c
        .post(
            &format!("/projects/{p}/removeCustomFieldSetting"),
            json!({"data": {"custom_field": customer}}),
        )
        .await;
    assert_eq!((s, &b["data"]), (200, &json!({})), "{b}");
    let (s, b) = c
        .post(
            &format!("/projects/{p}/removeCustomFieldSetting"),
            json!({"data": {"custom_field": customer}}),
        )
        .await;
    assert_refused(s, &b, "is not on project");
    let (_, b) = c.get(&format!("/projects/{p}/custom_field_settings")).await;
    assert_eq!(b["data"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn a_value_whose_field_left_the_project_is_disabled_and_can_only_be_cleared() {
    let c = Client::new().await;
    let p = c.fake.project_gid();
    let (field, opts) = priority(&c).await;
    add_to(&c, &p, &field).await;
    let t = c.task("kept").await;
    c.put(
        &format!("/tasks/{t}"),
        json!({"data": {"custom_fields": {field.clone(): opts[1]}}}),
    )
    .await;
    let (s, _) = c
        .post(
            &format!("/projects/{p}/removeCustomFieldSetting"),
            json!({"data": {"custom_field": field}}),
        )
        .await;
    assert_eq!(s, 200);
    let v = value_of(&c, &t, &field).await.expect("value kept");
    assert_eq!(v["enabled"], false);
    assert_eq!(v["enum_value"]["name"], "Medium");
    let (s, b) = c
        .put(
            &format!("/tasks/{t}"),
            json!({"data": {"custom_fields": {field.clone(): opts[0]}}}),
        )
        .await;
    assert_refused(s, &b, "can only be cleared");
    // Back on the project, the value is enabled again.
    add_to(&c, &p, &field).await;
    let v = value_of(&c, &t, &field).await.expect("value");
    assert_eq!(v["enabled"], true);
    c.post(
        &format!("/projects/{p}/removeCustomFieldSetting"),
        json!({"data": {"custom_field": field}}),
    )
    .await;
    let (s, b) = c
        .put(
            &format!("/tasks/{t}"),
            json!({"data": {"custom_fields": {field.clone(): null}}}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert!(value_of(&c, &t, &field).await.is_none(), "cleared and gone");
}

#[tokio::test]
async fn text_and_number_fields() {
    let c = Client::new().await;
    let p = c.fake.project_gid();
    let ws = c.fake.workspace_gid();
    let (s, b) = c
        .post(
            "/custom_fields?opt_fields=name,precision,resource_subtype",
            json!({"data": {"workspace": ws, "name": "Estimate", "resource_subtype": "number", "precision": 2}}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["data"]["precision"], 2);
    let estimate = gid(&b);
    let (s, b) = c
        .post(
            "/custom_fields",
            json!({"data": {"workspace": ws, "name": "Customer", "resource_subtype": "text"}}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert!(b["data"].get("enum_options").is_none(), "{b}");
    let customer = gid(&b);
    add_to(&c, &p, &estimate).await;
    add_to(&c, &p, &customer).await;
    let t = c.task("valued").await;
    let (s, b) = c
        .put(
            &format!("/tasks/{t}"),
            json!({"data": {"custom_fields": {estimate.clone(): 1.2345, customer.clone(): "ACME"}}}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let v = value_of(&c, &t, &estimate).await.expect("estimate");
    assert_eq!(v["number_value"], json!(1.23), "rounded to the precision");
    assert_eq!(v["display_value"], "1.23");
    let v = value_of(&c, &t, &customer).await.expect("customer");
    assert_eq!(v["text_value"], "ACME");
    assert_eq!(v["display_value"], "ACME");
    for (values, needle) in [
        (json!({estimate.clone(): "3"}), "takes a number or null"),
        (json!({customer.clone(): 3}), "takes a string or null"),
        (
            json!({customer.clone(): "x".repeat(1025)}),
            "longer than 1024",
        ),
    ] {
        let (s, b) = c
            .put(
                &format!("/tasks/{t}"),
                json!({"data": {"custom_fields": values}}),
            )
            .await;
        assert_refused(s, &b, needle);
    }
    let (_, st) = c
        .get(&format!(
            "/tasks/{t}/stories?opt_fields=resource_subtype,new_number_value,new_text_value"
        ))
        .await;
    let subtypes: Vec<&Value> = st["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["resource_subtype"])
        .collect();
    assert!(
        subtypes.contains(&&json!("number_custom_field_changed")),
        "{st}"
    );
    assert!(
        subtypes.contains(&&json!("text_custom_field_changed")),
        "{st}"
    );
}

#[tokio::test]
async fn a_plan_without_custom_fields_answers_402() {
    let c = Client::new().await;
    let p = c.fake.project_gid();
    let ws = c.fake.workspace_gid();
    let (field, opts) = priority(&c).await;
    add_to(&c, &p, &field).await;
    let t = c.task("premium").await;
    c.put(
        &format!("/tasks/{t}"),
        json!({"data": {"custom_fields": {field.clone(): opts[0]}}}),
    )
    .await;
    let other = c.fake.add_project("Other");

    c.fake.set_custom_fields_plan(false);
    let before = c.fake.project_tasks(&p).len();
    let writes = [
        (
            "POST",
            "/custom_fields".to_string(),
            json!({"workspace": ws, "name": "X", "resource_subtype": "text"}),
        ),
        (
            "POST",
            format!("/custom_fields/{field}/enum_options"),
            json!({"name": "x"}),
        ),
        (
            "PUT",
            format!("/enum_options/{}", opts[1]),
            json!({"enabled": false}),
        ),
        (
            "POST",
            format!("/projects/{other}/addCustomFieldSetting"),
            json!({"custom_field": field}),
        ),
        (
            "POST",
            format!("/projects/{p}/removeCustomFieldSetting"),
            json!({"custom_field": field}),
        ),
        (
            "POST",
            "/tasks".to_string(),
            json!({"name": "x", "projects": [p], "custom_fields": {field.clone(): opts[1]}}),
        ),
        (
            "PUT",
            format!("/tasks/{t}"),
            json!({"custom_fields": {field.clone(): opts[1]}}),
        ),
        (
            "PUT",
            format!("/tasks/{t}"),
            json!({"custom_fields": {field.clone(): null}}),
        ),
    ];
    for (m, path, data) in &writes {
        let (s, _, b) = c.send(m, path, Some(json!({"data": data}))).await;
        assert_eq!(s, 402, "{m} {path}: {b}");
        assert!(msg(&b).contains("premium feature"), "{b}");
        assert!(b["errors"][0]["help"].is_string(), "{b}");
    }
    assert_eq!(
        c.fake.project_tasks(&p).len(),
        before,
        "no task was created"
    );
    // Reads, and writes without custom fields, still work; the value is untouched.
    let (s, _) = c.get(&format!("/custom_fields/{field}")).await;
    assert_eq!(s, 200);
    let (s, _) = c.get(&format!("/projects/{p}/custom_field_settings")).await;
    assert_eq!(s, 200);
    let (s, b) = c
        .put(
            &format!("/tasks/{t}"),
            json!({"data": {"name": "renamed", "custom_fields": {}}}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let v = value_of(&c, &t, &field).await.expect("field");
    assert_eq!(v["enum_value"]["name"], "High");
    // Batch actions get the same answer.
    let (s, b) = c
        .post(
            "/batch",
            json!({"data": {"actions": [
                {"relative_path": format!("/tasks/{t}"), "method": "put", "data": {"custom_fields": {field.clone(): opts[2]}}},
                {"relative_path": format!("/tasks/{t}"), "method": "get", "options": {"fields": ["name"]}}
            ]}}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"][0]["status_code"], 402, "{b}");
    assert_eq!(b["data"][1]["status_code"], 200, "{b}");

    // The HTTP control switches the plan back.
    let r = c
        .http
        .post(c.control("/custom_fields_plan"))
        .json(&json!({"premium": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let (s, b) = c
        .put(
            &format!("/tasks/{t}"),
            json!({"data": {"custom_fields": {field.clone(): opts[2]}}}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let r = c
        .http
        .post(c.control("/custom_fields_plan"))
        .json(&json!({"premium": "no"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let r = c
        .http
        .post(c.control("/custom_fields_plan"))
        .json(&json!({"premium": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let (s, _) = c
        .put(
            &format!("/tasks/{t}"),
            json!({"data": {"custom_fields": {field.clone(): opts[0]}}}),
        )
        .await;
    assert_eq!(s, 402);
}

#[tokio::test]
async fn custom_fields_work_through_batch() {
    let c = Client::new().await;
    let p = c.fake.project_gid();
    let (field, opts) = priority(&c).await;
    let t = c.task("batched").await;
    let (s, b) = c
        .post(
            "/batch",
            json!({"data": {"actions": [
                {"relative_path": format!("/projects/{p}/addCustomFieldSetting"), "method": "post",
                 "data": {"custom_field": field}},
                {"relative_path": format!("/custom_fields/{field}"), "method": "get",
                 "options": {"fields": ["name", "enum_options.name"]}},
            ]}}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"][0]["status_code"], 200, "{b}");
    assert_eq!(
        b["data"][1]["body"]["data"]["enum_options"][0]["name"],
        "High"
    );
    let (s, b) = c
        .post(
            "/batch",
            json!({"data": {"actions": [
                {"relative_path": format!("/tasks/{t}"), "method": "put",
                 "data": {"custom_fields": {field.clone(): opts[1]}},
                 "options": {"fields": ["custom_fields.enum_value.name"]}},
                {"relative_path": format!("/tasks/{t}"), "method": "put",
                 "data": {"custom_fields": {field.clone(): "1"}}},
                {"relative_path": format!("/tasks/{t}"), "method": "get",
                 "options": {"fields": ["custom_fields.gid"]}},
            ]}}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let r = b["data"].as_array().unwrap();
    assert_eq!(r[0]["status_code"], 200, "{b}");
    assert_eq!(
        r[0]["body"]["data"]["custom_fields"][0]["enum_value"]["name"],
        "Medium"
    );
    assert_eq!(r[1]["status_code"], 400, "{b}");
    assert!(msg(&r[1]["body"]).contains("Not a recognized enum option ID"));
    // `custom_fields.gid` is not in the spec's opt_fields enum (the gid comes anyway).
    assert_eq!(r[2]["status_code"], 400, "{b}");
    assert!(msg(&r[2]["body"]).contains("custom_fields.gid"));
    let v = value_of(&c, &t, &field).await.expect("field");
    assert_eq!(v["enum_value"]["name"], "Medium");
}
