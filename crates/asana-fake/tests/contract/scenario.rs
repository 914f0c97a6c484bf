//! The scenario the contract test records: one pass through every endpoint
//! the fake serves, successes and refusals.

use serde_json::{json, Value};

use crate::common::Client;
use crate::webhooks::quick;
use crate::webhooks::receiver::{eventually, Receiver};

fn gid(v: &Value) -> String {
    v["data"]["gid"].as_str().expect("gid").to_string()
}

/// Runs one scenario touching every endpoint; returns the client with its log and
/// the bodies of the webhook deliveries made meanwhile.
pub(crate) async fn scenario() -> (Client, Vec<Value>) {
    let c = Client::new().await;
    let p = c.fake.project_gid();
    let ws = c.fake.workspace_gid();
    let alice = c.fake.add_user("Alice", "alice@example.com");

    // Users, workspaces, projects.
    c.get("/users/me").await;
    c.get("/users/me?opt_fields=email,name,workspaces.name")
        .await;
    c.get(&format!("/users/{alice}")).await;
    c.get("/users/alice@example.com?opt_fields=email").await;
    c.get("/users/nobody@example.com").await;
    c.get("/workspaces").await;
    c.get("/workspaces?opt_fields=name,is_organization").await;
    c.get(&format!("/workspaces/{ws}")).await;
    c.get(&format!("/workspaces/{ws}/users?opt_fields=email,name"))
        .await;
    c.get(&format!("/workspaces/{ws}/projects")).await;
    c.get(&format!("/projects/{p}")).await;
    c.get(&format!("/projects/{p}?opt_fields=name,workspace.name"))
        .await;
    c.get("/projects/1").await;

    // Sections.
    let (_, s) = c.get(&format!("/projects/{p}/sections")).await;
    let first = s["data"][0]["gid"].as_str().expect("section").to_string();
    let (_, s) = c
        .post(
            &format!("/projects/{p}/sections?opt_fields=name,project.name,created_at"),
            json!({"data": {"name": "Triaged"}}),
        )
        .await;
    let triaged = gid(&s);
    let (_, s) = c
        .post(
            &format!("/projects/{p}/sections"),
            json!({"data": {"name": "Closed", "insert_after": triaged}}),
        )
        .await;
    let closed = gid(&s);
    let (_, s) = c
        .post(
            &format!("/projects/{p}/sections"),
            json!({"data": {"name": "Temp"}}),
        )
        .await;
    let temp = gid(&s);
    c.get(&format!("/sections/{triaged}")).await;
    c.put(
        &format!("/sections/{closed}"),
        json!({"data": {"name": "Done"}}),
    )
    .await;
    // Refused: deleteSection takes no body.
    c.send(
        "DELETE",
        &format!("/sections/{temp}"),
        Some(json!({"data": {}})),
    )
    .await;
    c.delete(&format!("/sections/{temp}")).await;
    c.get(&format!("/projects/{p}/sections?limit=1&opt_fields=name"))
        .await;
    c.post(&format!("/projects/{p}/sections"), json!({"data": {}}))
        .await;

    // Tags.
    let (_, t) = c
        .post(
            "/tags",
            json!({"data": {"name": "P1", "workspace": ws, "color": "light-red", "notes": "urgent"}}),
        )
        .await;
    let p1 = gid(&t);
    let (_, t) = c
        .post(
            &format!("/workspaces/{ws}/tags?opt_fields=name,color"),
            json!({"data": {"name": "P2"}}),
        )
        .await;
    let p2 = gid(&t);
    c.get(&format!("/tags?workspace={ws}")).await;
    c.get(&format!(
        "/workspaces/{ws}/tags?opt_fields=name,color&limit=1"
    ))
    .await;
    c.get(&format!("/tags/{p1}")).await;
    c.get("/tags").await;

    // Tasks.
    let (_, t) = c
        .post(
            "/tasks",
            json!({"data": {
                "name": "Printer on fire", "notes": "It burns.",
                "projects": [p], "memberships": [{"project": p, "section": triaged}],
                "tags": [p1], "assignee": "alice@example.com", "completed": false,
                "followers": ["me"]
            }}),
        )
        .await;
    let t1 = gid(&t);
    let (_, t) = c
        .post(
            "/tasks?opt_fields=name,notes,completed,completed_at,created_at,modified_at,assignee,assignee.name,memberships.project.name,memberships.section.name,tags.name,permalink_url",
            json!({"data": {"name": "Second", "projects": [p], "completed": true, "assignee": "me"}}),
        )
        .await;
    let t2 = gid(&t);
    let (_, t) = c
        .post(
            "/tasks",
            json!({"data": {"name": "No project", "workspace": ws, "html_notes": "<body>Hi <em>there</em></body>"}}),
        )
        .await;
    let t3 = gid(&t);
    c.post("/tasks", json!({"data": {"name": "x"}})).await;
    c.post("/tasks", json!({"data": {"name": 1, "projects": [p]}}))
        .await;
    c.get(&format!("/tasks/{t1}")).await;
    c.get(&format!(
        "/tasks/{t1}?opt_fields=name,notes,html_notes,completed,assignee,projects,memberships,tags,workspace,followers,created_by,resource_subtype"
    ))
    .await;
    c.put(
        &format!("/tasks/{t1}"),
        json!({"data": {"name": "Printer still on fire", "notes": "More", "completed": true, "assignee": alice}}),
    )
    .await;
    c.put(
        &format!("/tasks/{t1}?opt_fields=completed,completed_at,assignee"),
        json!({"data": {"completed": false, "assignee": null}}),
    )
    .await;
    c.put(&format!("/tasks/{t1}"), json!({"data": {"tags": [p2]}}))
        .await;
    c.post(&format!("/tasks/{t1}/addTag"), json!({"data": {"tag": p2}}))
        .await;
    c.post(
        &format!("/tasks/{t1}/removeTag"),
        json!({"data": {"tag": p1}}),
    )
    .await;
    c.get(&format!("/tasks/{t1}/tags")).await;
    c.post(
        &format!("/sections/{closed}/addTask"),
        json!({"data": {"task": t1}}),
    )
    .await;
    c.post(
        &format!("/sections/{closed}/addTask"),
        json!({"data": {"task": t2, "insert_after": t1}}),
    )
    .await;
    c.post(
        &format!("/tasks/{t3}/addProject"),
        json!({"data": {"project": p, "section": first}}),
    )
    .await;
    c.post(
        &format!("/tasks/{t3}/removeProject"),
        json!({"data": {"project": p}}),
    )
    .await;
    c.get(&format!("/projects/{p}/tasks")).await;
    c.get(&format!(
        "/projects/{p}/tasks?limit=1&opt_fields=name,completed,modified_at,memberships.section.name"
    ))
    .await;
    c.get(&format!(
        "/tasks?project={p}&modified_since=2020-01-01T00:00:00.000Z&limit=100"
    ))
    .await;
    c.get(&format!("/tasks?assignee=me&workspace={ws}")).await;
    c.get(&format!("/tasks?section={closed}&completed_since=now"))
        .await;
    // Refused: getTasks documents no `tag` parameter (getTasksForTag does).
    c.get(&format!("/tasks?tag={p2}")).await;
    // Refused: `assignee` is a UserCompact, without `email`.
    c.get(&format!("/tasks/{t1}?opt_fields=name,assignee.email"))
        .await;
    c.get(&format!(
        "/sections/{closed}/tasks?opt_fields=name,completed"
    ))
    .await;
    c.get(&format!("/projects/{p}/tasks?limit=101")).await;

    // Stories.
    let (_, s) = c
        .post(
            &format!("/tasks/{t1}/stories"),
            json!({"data": {"text": "Called the user back."}}),
        )
        .await;
    let story = gid(&s);
    c.post(
        &format!("/tasks/{t1}/stories?opt_fields=text,type,created_by.name"),
        json!({"data": {"html_text": "<body>Rich</body>", "is_pinned": true}}),
    )
    .await;
    c.post(&format!("/tasks/{t1}/stories"), json!({"data": {}}))
        .await;
    c.get(&format!("/tasks/{t1}/stories")).await;
    c.get(&format!(
        "/tasks/{t1}/stories?opt_fields=created_at,created_by.name,resource_subtype,type,text,html_text,old_name,new_name,old_section.name,new_section.name,assignee.name,tag.name,project.name,is_pinned"
    ))
    .await;
    c.get(&format!("/tasks/{t1}/stories?limit=2")).await;
    c.get(&format!("/stories/{story}")).await;

    // Custom fields and due dates.
    let (_, f) = c
        .post(
            "/custom_fields",
            json!({"data": {
                "workspace": ws, "name": "Priority", "resource_subtype": "enum",
                "description": "How urgent",
                "enum_options": [{"name": "High", "color": "red"}, {"name": "Low", "enabled": true}]
            }}),
        )
        .await;
    let prio = gid(&f);
    let high = f["data"]["enum_options"][0]["gid"]
        .as_str()
        .expect("option")
        .to_string();
    let low = f["data"]["enum_options"][1]["gid"]
        .as_str()
        .expect("option")
        .to_string();
    let (_, f) = c
        .post(
            "/custom_fields?opt_fields=name,resource_subtype,type,precision,description,created_by.name",
            json!({"data": {"workspace": ws, "name": "Estimate", "resource_subtype": "number", "precision": 0}}),
        )
        .await;
    let estimate = gid(&f);
    let (_, f) = c
        .post(
            "/custom_fields",
            json!({"data": {"workspace": ws, "name": "Customer", "resource_subtype": "text"}}),
        )
        .await;
    let customer = gid(&f);
    // Every other type: multi_enum, date, people.
    let (_, f) = c
        .post(
            "/custom_fields",
            json!({"data": {"workspace": ws, "name": "Components", "resource_subtype": "multi_enum",
                "enum_options": [{"name": "api"}, {"name": "ui", "color": "blue"}]}}),
        )
        .await;
    let components = gid(&f);
    let api = f["data"]["enum_options"][0]["gid"]
        .as_str()
        .expect("option")
        .to_string();
    let (_, f) = c
        .post(
            "/custom_fields?opt_fields=name,resource_subtype,enum_options.name",
            json!({"data": {"workspace": ws, "name": "Target", "resource_subtype": "date"}}),
        )
        .await;
    let target = gid(&f);
    let (_, f) = c
        .post(
            "/custom_fields",
            json!({"data": {"workspace": ws, "name": "Reviewers", "resource_subtype": "people"}}),
        )
        .await;
    let reviewers = gid(&f);
    let (_, f) = c
        .post(
            "/custom_fields",
            json!({"data": {"workspace": ws, "name": "Doomed", "resource_subtype": "text"}}),
        )
        .await;
    let doomed = gid(&f);
    c.put(
        &format!("/custom_fields/{doomed}?opt_fields=name,description"),
        json!({"data": {"workspace": ws, "name": "Doomed field", "description": "to be deleted"}}),
    )
    .await;
    c.put(
        &format!("/custom_fields/{doomed}"),
        json!({"data": {"workspace": ws, "has_notifications_enabled": false}}),
    )
    .await;
    c.delete(&format!("/custom_fields/{doomed}")).await;
    // Refused: the name is taken, and a multi_enum field without options.
    c.post(
        "/custom_fields",
        json!({"data": {"workspace": ws, "name": "Priority", "resource_subtype": "enum", "enum_options": [{"name": "x"}]}}),
    )
    .await;
    c.post(
        "/custom_fields",
        json!({"data": {"workspace": ws, "name": "Labels", "resource_subtype": "multi_enum"}}),
    )
    .await;
    c.get(&format!("/custom_fields/{prio}")).await;
    c.get(&format!("/custom_fields/{estimate}")).await;
    c.get(&format!(
        "/custom_fields/{prio}?opt_fields=name,description,enum_options.name,enum_options.enabled,enum_options.color,created_by.name,is_global_to_workspace"
    ))
    .await;
    let (_, o) = c
        .post(
            &format!("/custom_fields/{prio}/enum_options"),
            json!({"data": {"name": "Medium", "color": "yellow", "insert_after": high}}),
        )
        .await;
    let medium = gid(&o);
    let (_, o) = c
        .post(
            &format!("/custom_fields/{prio}/enum_options?opt_fields=name,color"),
            json!({"data": {"name": "Someday"}}),
        )
        .await;
    let someday = gid(&o);
    c.put(
        &format!("/enum_options/{someday}"),
        json!({"data": {"enabled": false}}),
    )
    .await;
    c.put(
        &format!("/enum_options/{low}?opt_fields=name,enabled"),
        json!({"data": {"name": "Lowest", "color": "blue"}}),
    )
    .await;
    let (_, setting) = c
        .post(
            &format!("/projects/{p}/addCustomFieldSetting"),
            json!({"data": {"custom_field": prio, "is_important": true}}),
        )
        .await;
    let prio_setting = gid(&setting);
    c.post(
        &format!("/projects/{p}/addCustomFieldSetting?opt_fields=custom_field.name,custom_field.enum_options.name,is_important,project.name,parent.name"),
        json!({"data": {"custom_field": estimate}}),
    )
    .await;
    c.post(
        &format!("/projects/{p}/addCustomFieldSetting"),
        json!({"data": {"custom_field": customer, "insert_before": prio_setting}}),
    )
    .await;
    for field in [&components, &target, &reviewers] {
        c.post(
            &format!("/projects/{p}/addCustomFieldSetting"),
            json!({"data": {"custom_field": field}}),
        )
        .await;
    }
    // Refused: already on the project.
    c.post(
        &format!("/projects/{p}/addCustomFieldSetting"),
        json!({"data": {"custom_field": prio}}),
    )
    .await;
    c.get(&format!("/projects/{p}/custom_field_settings")).await;
    c.get(&format!(
        "/projects/{p}/custom_field_settings?limit=1&opt_fields=custom_field,custom_field.name,custom_field.resource_subtype,custom_field.enum_options.name,custom_field.enum_options.enabled,custom_field.enum_options.color,is_important"
    ))
    .await;
    c.get(&format!(
        "/projects/{p}?opt_fields=name,custom_field_settings.custom_field.name,custom_field_settings.is_important,custom_fields"
    ))
    .await;
    let (_, t) = c
        .post(
            "/tasks?opt_fields=name,due_on,due_at,custom_fields.name,custom_fields.enum_value.name,custom_fields.display_value,custom_fields.number_value,custom_fields.text_value",
            json!({"data": {
                "name": "Fields", "projects": [p], "due_on": "2026-12-24",
                "custom_fields": {prio.clone(): high, estimate.clone(): 3, customer.clone(): "ACME"}
            }}),
        )
        .await;
    let t4 = gid(&t);
    c.get(&format!("/tasks/{t4}")).await;
    let (_, t) = c
        .post(
            "/tasks?opt_fields=custom_fields.name,custom_fields.resource_subtype,custom_fields.multi_enum_values.name,custom_fields.date_value,custom_fields.date_value.date,custom_fields.people_value.name,custom_fields.display_value",
            json!({"data": {
                "name": "More fields", "projects": [p],
                "custom_fields": {components.clone(): [api], target.clone(): {"date": "2026-12-24"}, reviewers.clone(): ["me"]}
            }}),
        )
        .await;
    let t5 = gid(&t);
    c.get(&format!("/tasks/{t5}")).await;
    c.put(
        &format!("/tasks/{t5}?opt_fields=custom_fields.date_value.date_time,custom_fields.people_value,custom_fields.multi_enum_values"),
        json!({"data": {"custom_fields": {components.clone(): [], target.clone(): {"date_time": "2026-12-24T14:00:00.000Z"}, reviewers.clone(): null}}}),
    )
    .await;
    // Refused: a people value that is no user.
    c.put(
        &format!("/tasks/{t5}"),
        json!({"data": {"custom_fields": {reviewers.clone(): ["nobody@example.com"]}}}),
    )
    .await;
    c.get(&format!(
        "/tasks/{t5}/stories?opt_fields=resource_subtype,old_multi_enum_values.name,new_multi_enum_values.name,old_date_value,new_date_value,old_people_value.name,new_people_value"
    ))
    .await;
    c.get(&format!("/events?resource={t5}")).await;
    let (_, e) = c.get(&format!("/events?resource={t4}")).await;
    let t4_sync = e["sync"].as_str().expect("sync").to_string();
    c.put(
        &format!("/tasks/{t4}?opt_fields=due_on,due_at,custom_fields.enum_value,custom_fields.enum_value.color,custom_fields.enabled,modified_at"),
        json!({"data": {"due_at": "2026-12-24T14:00:00.000Z", "custom_fields": {prio.clone(): medium, customer.clone(): null}}}),
    )
    .await;
    // Refused: a disabled option; due_on with due_at; a malformed date.
    c.put(
        &format!("/tasks/{t4}"),
        json!({"data": {"custom_fields": {prio.clone(): someday}}}),
    )
    .await;
    c.put(
        &format!("/tasks/{t4}"),
        json!({"data": {"due_on": "2026-12-24", "due_at": "2026-12-24T14:00:00Z"}}),
    )
    .await;
    c.put(
        &format!("/tasks/{t4}"),
        json!({"data": {"due_on": "24.12.2026"}}),
    )
    .await;
    c.put(
        &format!("/tasks/{t4}"),
        json!({"data": {"due_on": null, "custom_fields": {estimate.clone(): 5}}}),
    )
    .await;
    c.get(&format!("/events?resource={t4}&sync={t4_sync}"))
        .await;
    c.get(&format!(
        "/events?resource={t4}&sync={t4_sync}&opt_fields=change,change.field,change.new_value,resource.name"
    ))
    .await;
    c.get(&format!(
        "/projects/{p}/tasks?opt_fields=name,due_on,due_at,custom_fields,custom_fields.name,custom_fields.display_value"
    ))
    .await;
    c.get(&format!(
        "/tasks/{t4}/stories?opt_fields=resource_subtype,text,custom_field.name,old_enum_value.name,new_enum_value.name,new_enum_value.color,old_dates.due_on,old_dates.due_at,new_dates.due_at,new_dates.due_on,old_text_value,new_text_value,old_number_value,new_number_value"
    ))
    .await;
    c.get(&format!(
        "/tasks/{t4}/stories?opt_fields=custom_field,old_dates,new_dates,old_enum_value,new_enum_value"
    ))
    .await;
    c.post(
        &format!("/projects/{p}/removeCustomFieldSetting"),
        json!({"data": {"custom_field": customer}}),
    )
    .await;
    c.get(&format!("/tasks/{t4}")).await;

    // Events.
    let (_, e) = c.get(&format!("/events?resource={p}")).await;
    let sync = e["sync"].as_str().expect("sync").to_string();
    c.put(
        &format!("/tasks/{t2}"),
        json!({"data": {"name": "Renamed"}}),
    )
    .await;
    c.post(&format!("/tasks/{t2}/addTag"), json!({"data": {"tag": p1}}))
        .await;
    c.post(
        &format!("/sections/{triaged}/addTask"),
        json!({"data": {"task": t2}}),
    )
    .await;
    c.post(
        &format!("/tasks/{t2}/stories"),
        json!({"data": {"text": "hi"}}),
    )
    .await;
    c.delete(&format!("/tasks/{t3}")).await;
    let (_, e) = c.get(&format!("/events?resource={p}&sync={sync}")).await;
    let sync = e["sync"].as_str().expect("sync").to_string();
    c.delete(&format!("/tasks/{t1}")).await;
    c.get(&format!("/events?resource={p}&sync={sync}")).await;
    c.get(&format!("/events?resource={t2}")).await;

    // Webhooks: created through the handshake with a receiver on loopback.
    let hook_bodies = webhooks(&c, &p, &ws, &t2).await;

    // Batch.
    c.post(
        "/batch",
        json!({"data": {"actions": [
            {"relative_path": format!("/tasks/{t2}"), "method": "get", "options": {"fields": ["name", "completed"]}},
            {"relative_path": "/tasks", "method": "post", "data": {"name": "Batch", "projects": [p]}},
            {"relative_path": format!("/projects/{p}/tasks"), "method": "get", "options": {"limit": 1}},
            {"relative_path": "/tasks/1", "method": "get"},
        ]}}),
    )
    .await;
    c.post("/batch", json!({"data": {"actions": []}})).await;
    c.get("/tasks/1").await;
    (c, hook_bodies)
}

/// The webhook part of the scenario: every webhook request, successes and refusals, a
/// failing delivery (so that the health fields show), and the deliveries' bodies.
async fn webhooks(c: &Client, p: &str, ws: &str, task: &str) -> Vec<Value> {
    let r = Receiver::start().await;
    c.fake.set_webhook_timing(quick());
    let all = "active,created_at,delivery_retry_count,failure_deletion_timestamp,filters,\
               filters.action,filters.fields,filters.resource_subtype,last_failure_at,\
               last_failure_content,last_success_at,next_attempt_after,resource,resource.name,\
               target";
    let filters = json!([
        {"resource_type": "task", "action": "changed", "fields": ["name", "notes"]},
        {"resource_type": "story", "resource_subtype": "comment_added"},
    ]);
    let (_, w) = c
        .post(
            &format!("/webhooks?opt_fields={all}"),
            json!({"data": {"resource": p, "target": r.url("/project"), "filters": filters}}),
        )
        .await;
    let project_hook = gid(&w);
    let (_, w) = c
        .post(
            "/webhooks",
            json!({"data": {"resource": task, "target": r.url("/task")}}),
        )
        .await;
    let task_hook = gid(&w);
    c.post(
        "/webhooks",
        json!({"data": {"resource": task, "target": r.url("/task")}}),
    )
    .await;
    c.post("/webhooks", json!({"data": {"resource": p}})).await;
    c.post(
        "/webhooks",
        json!({"data": {"resource": p, "target": "https://example.com/hook"}}),
    )
    .await;
    c.get(&format!("/webhooks?workspace={ws}")).await;
    c.get(&format!(
        "/webhooks?workspace={ws}&resource={p}&limit=1&opt_fields={all}"
    ))
    .await;
    c.get("/webhooks").await;
    c.get(&format!("/webhooks/{project_hook}")).await;
    c.get(&format!("/webhooks/{project_hook}?opt_fields={all}"))
        .await;
    c.put(
        &format!("/webhooks/{project_hook}?opt_fields=filters,filters.fields"),
        json!({"data": {"filters": [{"resource_type": "task", "action": "added"}]}}),
    )
    .await;
    c.put(
        &format!("/webhooks/{project_hook}"),
        json!({"data": {"filters": [{"action": "added", "fields": ["name"]}]}}),
    )
    .await;
    c.put(
        &format!("/tasks/{task}"),
        json!({"data": {"name": "Hooked", "assignee": "me"}}),
    )
    .await;
    c.post(
        &format!("/tasks/{task}/stories"),
        json!({"data": {"text": "seen by webhooks"}}),
    )
    .await;
    r.wait_for("the task's events", |d| !d.is_empty()).await;
    // A failing target: the record shows the failure's fields.
    r.set(|i| {
        i.status = 503;
        i.answer = "Service Unavailable".into();
    });
    c.put(
        &format!("/tasks/{task}"),
        json!({"data": {"notes": "while the target fails"}}),
    )
    .await;
    eventually("a failed delivery", || {
        c.fake
            .webhook_health(&task_hook)
            .is_some_and(|h| h.last_failure_at.is_some())
    })
    .await;
    c.get(&format!("/webhooks/{task_hook}")).await;
    c.get(&format!("/webhooks/{task_hook}?opt_fields={all}"))
        .await;
    r.set(|i| i.status = 200);
    eventually("the retry's success", || {
        c.fake
            .webhook_health(&task_hook)
            .is_some_and(|h| h.delivery_retry_count == 0)
    })
    .await;
    c.get(&format!("/webhooks/{task_hook}")).await;
    c.delete(&format!("/webhooks/{task_hook}")).await;
    c.get(&format!("/webhooks/{task_hook}")).await;
    c.delete(&format!("/webhooks/{project_hook}")).await;
    r.deliveries().iter().map(|d| d.json()).collect()
}
