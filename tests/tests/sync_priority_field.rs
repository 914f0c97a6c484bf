//! The sync provider with priority kept in an enum custom field (`asana_priority_field`):
//! pushes set the option (no tag), a priority changed in Asana is pulled back, and a
//! priority changed on both sides follows the conflict rule.

use crate::common;

use asana_fake::FakeAsana;
use homechoice_tickets::provider_sync::{SyncProvider, CONFLICT_AUTHOR};
use homechoice_tickets::{Config, NewTicket, Priority, TicketProvider, TicketUpdate};
use serde_json::{json, Value};

/// A request to the fake as a person in Asana would make it; the answer's `data`.
async fn asana(fake: &FakeAsana, method: reqwest::Method, path: &str, data: Value) -> Value {
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

/// The enum field "Priority" on the project; option name → gid.
async fn priority_field(fake: &FakeAsana) -> (String, Vec<(String, String)>) {
    let field = asana(
        fake,
        reqwest::Method::POST,
        "/custom_fields",
        json!({
            "workspace": fake.workspace_gid(),
            "name": "Priority",
            "resource_subtype": "enum",
            "enum_options": [{"name": "Low"}, {"name": "Medium"}, {"name": "High"}, {"name": "Urgent"}],
        }),
    )
    .await;
    let gid = field["gid"].as_str().unwrap().to_string();
    asana(
        fake,
        reqwest::Method::POST,
        &format!("/projects/{}/addCustomFieldSetting", fake.project_gid()),
        json!({ "custom_field": gid }),
    )
    .await;
    let options = field["enum_options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["name"].as_str().unwrap().to_string(),
                o["gid"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (gid, options)
}

fn field_value(fake: &FakeAsana, gid: &str) -> Option<String> {
    fake.project_tasks(&fake.project_gid())
        .into_iter()
        .find(|t| t.gid == gid)
        .expect("task")
        .custom_fields
        .into_iter()
        .find(|(name, _)| name == "Priority")
        .and_then(|(_, v)| v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priority_in_a_custom_field_is_pushed_pulled_and_conflicts_follow_the_rule() {
    let (fake, _users) = common::fake().await;
    let (field, options) = priority_field(&fake).await;
    let option = |name: &str| {
        options
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, g)| g.clone())
            .unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "homechoice:\n  ticket:\n    provider: sync\n    asana_project: \"{}\"\n    asana_base_url: \"{}\"\n    database_url: \"sqlite://{}\"\n    sync_push_timeout_ms: 3000\n    asana_priority_field: Priority\n    asana_priority_options: {{normal: Medium}}\n",
        fake.project_gid(),
        fake.base_url(),
        dir.path().join("t.db").display()
    );
    let p: SyncProvider = common::from_config(Config::parse(&yaml, "test").unwrap()).await;

    let r = p
        .create(NewTicket::new("field mode").priority(Priority::High))
        .await
        .unwrap();
    let gid = r.asana_gid.clone().expect("pushed at once");
    assert_eq!(field_value(&fake, &gid).as_deref(), Some("High"));
    let snap = fake
        .project_tasks(&fake.project_gid())
        .into_iter()
        .find(|t| t.gid == gid)
        .unwrap();
    assert!(
        snap.tag_names.is_empty(),
        "no priority tag: {:?}",
        snap.tag_names
    );
    p.pull_all(&|_| {}).await.unwrap();

    // Changed in Asana: pulled back as the ticket's priority.
    asana(
        &fake,
        reqwest::Method::PUT,
        &format!("/tasks/{gid}"),
        json!({ "custom_fields": { field.as_str(): option("Low") } }),
    )
    .await;
    p.pull_all(&|_| {}).await.unwrap();
    assert_eq!(
        p.get_ticket(&r.guid).await.unwrap().ticket.priority,
        Priority::Low
    );

    // Changed on both sides: the local value wins and Asana's is kept as a note.
    asana(
        &fake,
        reqwest::Method::PUT,
        &format!("/tasks/{gid}"),
        json!({ "custom_fields": { field.as_str(): option("Urgent") } }),
    )
    .await;
    p.update(
        &r.guid,
        TicketUpdate {
            priority: Some(Priority::Normal),
            ..TicketUpdate::default()
        },
    )
    .await
    .unwrap();
    common::flush_all(&p).await;
    let d = p.get_ticket(&r.guid).await.unwrap();
    assert_eq!(d.ticket.priority, Priority::Normal);
    assert_eq!(field_value(&fake, &gid).as_deref(), Some("Medium"));
    let notes: Vec<&str> = d
        .comments
        .iter()
        .filter(|c| c.author.as_deref() == Some(CONFLICT_AUTHOR))
        .map(|c| c.body.as_str())
        .collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("urgent"), "{}", notes[0]);
    p.shutdown().await;
}
