//! The fake is as strict as Asana's spec: one row per rule, each a request that
//! must be refused with 400 and a message naming the offending thing, plus rows
//! that must pass. Batch rows are judged by the answer to their (first) action,
//! which is checked like a direct request.

use crate::common;

use common::{msg, Client};
use serde_json::{json, Value};

/// What a row expects.
enum Expect {
    /// 400 whose message contains this text.
    Refused(&'static str),
    /// A 2xx answer.
    Passes,
}

struct Row {
    rule: &'static str,
    method: &'static str,
    path: String,
    body: Option<Value>,
    expect: Expect,
}

fn row(
    rule: &'static str,
    method: &'static str,
    path: String,
    body: Option<Value>,
    expect: Expect,
) -> Row {
    Row {
        rule,
        method,
        path,
        body,
        expect,
    }
}

fn batch(action: Value) -> Option<Value> {
    Some(json!({"data": {"actions": [action]}}))
}

#[tokio::test]
async fn every_rule_refuses_its_request_and_documented_requests_pass() {
    let c = Client::new().await;
    let p = c.fake.project_gid();
    let ws = c.fake.workspace_gid();
    let t = c.task("subject").await;
    let t2 = c.task("to delete").await;
    let (_, s) = c
        .post(
            &format!("/projects/{p}/sections"),
            json!({"data": {"name": "Spare"}}),
        )
        .await;
    let spare = s["data"]["gid"].as_str().expect("section").to_string();
    let (_, s) = c.get(&format!("/projects/{p}/sections")).await;
    let first = s["data"][0]["gid"].as_str().expect("section").to_string();
    let (_, f) = c
        .post(
            "/custom_fields",
            json!({"data": {"workspace": ws, "name": "Priority", "resource_subtype": "enum",
                "enum_options": [{"name": "High"}, {"name": "Low"}]}}),
        )
        .await;
    let field = f["data"]["gid"].as_str().expect("custom field").to_string();
    let high = f["data"]["enum_options"][0]["gid"]
        .as_str()
        .expect("option")
        .to_string();
    let (status, b) = c
        .post(
            &format!("/projects/{p}/addCustomFieldSetting"),
            json!({"data": {"custom_field": field}}),
        )
        .await;
    assert_eq!(status, 200, "{b}");
    use Expect::{Passes, Refused};
    let rows = vec![
        // Query parameters.
        row("undocumented query parameter", "GET", format!("/tasks?project={p}&tag=1"), None, Refused("tag")),
        row("undocumented opt_pretty-like option", "GET", format!("/tasks/{t}?opt_expand=name"), None, Refused("opt_expand")),
        row("query parameter of the wrong type", "GET", format!("/projects/{p}/tasks?limit=many"), None, Refused("limit")),
        row("boolean query parameter of the wrong type", "GET", format!("/tasks/{t}?opt_pretty=yes"), None, Refused("opt_pretty")),
        row("undocumented opt_fields entry (task)", "GET", format!("/tasks/{t}?opt_fields=name,assignee.email"), None, Refused("assignee.email")),
        row("undocumented opt_fields entry (list)", "GET", format!("/projects/{p}/tasks?opt_fields=memberships.project.gid"), None, Refused("memberships.project.gid")),
        row("undocumented opt_fields entry (story create)", "POST", format!("/tasks/{t}/stories?opt_fields=target.memberships.section.name"), Some(json!({"data": {"text": "hi"}})), Refused("target.memberships.section.name")),
        row("undocumented opt_fields entry (story read)", "GET", format!("/tasks/{t}/stories?opt_fields=created_by.email"), None, Refused("created_by.email")),
        row("undocumented opt_fields entry in body options", "PUT", format!("/tasks/{t}"), Some(json!({"data": {"name": "n"}, "options": {"fields": ["assignee.email"]}})), Refused("assignee.email")),
        row("undocumented body option", "PUT", format!("/tasks/{t}"), Some(json!({"data": {"name": "n"}, "options": {"expand": ["assignee"]}})), Refused("options.expand")),
        // Bodies.
        row("body field the schema lacks", "POST", "/tasks".into(), Some(json!({"data": {"name": "x", "projects": [p], "colour": "red"}})), Refused("colour")),
        row("body field the update schema lacks", "PUT", format!("/tasks/{t}"), Some(json!({"data": {"projects": [p]}})), Refused("projects")),
        row("read-only body field", "PUT", format!("/tasks/{t}"), Some(json!({"data": {"created_at": "2024-01-01T00:00:00.000Z"}})), Refused("created_at")),
        row("read-only memberships on update", "PUT", format!("/tasks/{t}"), Some(json!({"data": {"memberships": []}})), Refused("memberships")),
        row("body field of the wrong type", "PUT", format!("/tasks/{t}"), Some(json!({"data": {"completed": "yes"}})), Refused("completed")),
        row("array item of the wrong type", "POST", "/tasks".into(), Some(json!({"data": {"name": "x", "projects": [7]}})), Refused("projects[]")),
        row("null where the spec allows none", "PUT", format!("/tasks/{t}"), Some(json!({"data": {"name": null}})), Refused("name")),
        row("value outside the documented enum", "POST", "/tags".into(), Some(json!({"data": {"name": "x", "workspace": ws, "color": "bright-red"}})), Refused("color")),
        row("undocumented top-level body key", "PUT", format!("/tasks/{t}"), Some(json!({"data": {"name": "n"}, "extra": 1})), Refused("extra")),
        row("body on a GET", "GET", format!("/tasks/{t}"), Some(json!({"data": {}})), Refused("getTask")),
        row("body on a DELETE", "DELETE", format!("/sections/{spare}"), Some(json!({"data": {}})), Refused("deleteSection")),
        // Batch actions are checked like direct requests.
        row("batch: undocumented opt_fields entry", "POST", "/batch".into(), batch(json!({"relative_path": format!("/tasks/{t}"), "method": "get", "options": {"fields": ["assignee.email"]}})), Refused("assignee.email")),
        row("batch: undocumented query parameter", "POST", "/batch".into(), batch(json!({"relative_path": "/tasks", "method": "get", "data": {"project": p, "tag": "1"}})), Refused("tag")),
        row("batch: undocumented option", "POST", "/batch".into(), batch(json!({"relative_path": format!("/tasks/{t}"), "method": "get", "options": {"expand": "x"}})), Refused("options.expand")),
        row("batch: body field the schema lacks", "POST", "/batch".into(), batch(json!({"relative_path": format!("/tasks/{t}"), "method": "put", "data": {"colour": "red"}})), Refused("colour")),
        row("batch: body on a DELETE", "POST", "/batch".into(), batch(json!({"relative_path": format!("/sections/{spare}"), "method": "delete", "data": {}})), Refused("deleteSection")),
        row("batch: method outside the enum", "POST", "/batch".into(), batch(json!({"relative_path": format!("/tasks/{t}"), "method": "GET"})), Refused("method")),
        // Custom fields and due dates.
        row("read-only custom field type", "POST", "/custom_fields".into(), Some(json!({"data": {"workspace": ws, "name": "T", "resource_subtype": "text", "type": "text"}})), Refused("type")),
        row("custom field subtype outside the enum", "POST", "/custom_fields".into(), Some(json!({"data": {"workspace": ws, "name": "T", "resource_subtype": "checkbox"}})), Refused("resource_subtype")),
        row("enum option name of the wrong type", "POST", "/custom_fields".into(), Some(json!({"data": {"workspace": ws, "name": "T", "resource_subtype": "enum", "enum_options": [{"name": 1}]}})), Refused("enum_options[].name")),
        row("read-only enum option gid", "POST", "/custom_fields".into(), Some(json!({"data": {"workspace": ws, "name": "T", "resource_subtype": "enum", "enum_options": [{"gid": "1", "name": "a"}]}})), Refused("enum_options[].gid")),
        row("undocumented enum option field", "POST", format!("/custom_fields/{field}/enum_options"), Some(json!({"data": {"name": "a", "position": 1}})), Refused("position")),
        row("undocumented opt_fields entry (custom field)", "GET", format!("/custom_fields/{field}?opt_fields=name,workspace"), None, Refused("workspace")),
        row("body on GET custom field", "GET", format!("/custom_fields/{field}"), Some(json!({"data": {}})), Refused("getCustomField")),
        row("undocumented updateEnumOption field", "PUT", format!("/enum_options/{high}"), Some(json!({"data": {"custom_field": field}})), Refused("custom_field")),
        row("enum option enabled of the wrong type", "PUT", format!("/enum_options/{high}"), Some(json!({"data": {"enabled": "no"}})), Refused("enabled")),
        row("undocumented addCustomFieldSetting field", "POST", format!("/projects/{p}/addCustomFieldSetting"), Some(json!({"data": {"custom_field": field, "position": 1}})), Refused("position")),
        row("removeCustomFieldSetting takes no opt_fields", "POST", format!("/projects/{p}/removeCustomFieldSetting?opt_fields=gid"), Some(json!({"data": {"custom_field": field}})), Refused("opt_fields")),
        row("undocumented custom_field_settings parameter", "GET", format!("/projects/{p}/custom_field_settings?archived=true"), None, Refused("archived")),
        row("undocumented opt_fields entry (settings)", "GET", format!("/projects/{p}/custom_field_settings?opt_fields=custom_field.workspace"), None, Refused("custom_field.workspace")),
        row("undocumented opt_fields entry (custom field value)", "GET", format!("/tasks/{t}?opt_fields=custom_fields.gid"), None, Refused("custom_fields.gid")),
        row("custom_fields that is not a map", "PUT", format!("/tasks/{t}"), Some(json!({"data": {"custom_fields": [field]}})), Refused("custom_fields")),
        row("due_on of the wrong type", "PUT", format!("/tasks/{t}"), Some(json!({"data": {"due_on": 20261224}})), Refused("due_on")),
        row("batch: undocumented opt_fields entry (custom field)", "POST", "/batch".into(), batch(json!({"relative_path": format!("/custom_fields/{field}"), "method": "get", "options": {"fields": ["workspace"]}})), Refused("workspace")),
        row("documented custom field opt_fields", "GET", format!("/custom_fields/{field}?opt_fields=name,description,resource_subtype,enum_options.name,enum_options.color,enum_options.enabled"), None, Passes),
        row("documented settings opt_fields", "GET", format!("/projects/{p}/custom_field_settings?limit=5&opt_fields=custom_field.name,custom_field.enum_options.name,is_important,parent.name"), None, Passes),
        row("documented project settings opt_fields", "GET", format!("/projects/{p}?opt_fields=custom_field_settings.custom_field.name,custom_field_settings.is_important"), None, Passes),
        row("documented task custom field and due opt_fields", "GET", format!("/tasks/{t}?opt_fields=due_on,due_at,custom_fields.name,custom_fields.enum_value.name,custom_fields.display_value,custom_fields.resource_subtype"), None, Passes),
        row("documented custom field and due writes", "PUT", format!("/tasks/{t}"), Some(json!({"data": {"due_at": "2026-12-24T14:00:00.000Z", "custom_fields": {field.clone(): high}}})), Passes),
        row("documented enum option write", "PUT", format!("/enum_options/{high}?opt_fields=name,color"), Some(json!({"data": {"name": "Highest", "color": "red"}})), Passes),
        row("batch: custom field write", "POST", "/batch".into(), batch(json!({"relative_path": format!("/tasks/{t}"), "method": "put", "data": {"due_on": "2026-12-24", "custom_fields": {field.clone(): null}}})), Passes),
        // Documented requests pass.
        row("create with write-once memberships", "POST", "/tasks?opt_fields=name,assignee,assignee.name,memberships.section.name".into(), Some(json!({"data": {"name": "x", "projects": [p], "memberships": [{"project": p, "section": first}]}})), Passes),
        row("documented opt_fields and parameters", "GET", format!("/tasks?project={p}&limit=10&opt_pretty=true&opt_fields=name,created_by,assignee.name,tags.name"), None, Passes),
        row("documented story fields", "GET", format!("/tasks/{t}/stories?opt_fields=created_by,created_by.name,text,type&limit=5"), None, Passes),
        row("documented new-story fields", "POST", format!("/tasks/{t}/stories?opt_fields=text,target,target.name"), Some(json!({"data": {"text": "hi"}})), Passes),
        row("user e-mail from the users API", "GET", "/users/me?opt_fields=email,name".into(), None, Passes),
        row("documented body options", "PUT", format!("/tasks/{t}"), Some(json!({"data": {"assignee": null}, "options": {"fields": ["assignee"]}})), Passes),
        row("DELETE without a body", "DELETE", format!("/sections/{spare}"), None, Passes),
        // What Asana's official Python client (asana 5.x) sends, which Asana serves: `{}` as
        // the body of body-less writes, `limit` from its page iterator on /batch and
        // /events, and the options of optional-body operations echoed into the query.
        row("official client: {} on a DELETE", "DELETE", format!("/tasks/{t2}"), Some(json!({})), Passes),
        row("official client: limit on /batch", "POST", "/batch?limit=10".into(), batch(json!({"relative_path": format!("/tasks/{t}"), "method": "get"})), Passes),
        row("official client: body echoed in the query", "POST", format!("/projects/{p}/sections?body=%7B%7D"), Some(json!({"data": {"name": "Echo"}})), Passes),
        row("limit on /batch of the wrong type", "POST", "/batch?limit=x".into(), batch(json!({"relative_path": format!("/tasks/{t}"), "method": "get"})), Refused("limit")),
        row("limit where no client adds it", "PUT", format!("/tasks/{t}?limit=10"), Some(json!({"data": {"name": "n"}})), Refused("limit")),
        row("body in the query without a body", "GET", format!("/tasks/{t}?body=x"), None, Refused("body")),
        row("batch: documented actions", "POST", "/batch".into(), batch(json!({"relative_path": format!("/tasks/{t}/stories"), "method": "get", "options": {"fields": ["text", "created_by.name"], "limit": 10}})), Passes),
    ];
    let mut failures = Vec::new();
    for r in &rows {
        let (status, _, body) = c.send(r.method, &r.path, r.body.clone()).await;
        let (status, body) = if r.path == "/batch" && status == 200 {
            let first = &body["data"][0];
            (
                first["status_code"].as_u64().unwrap_or(0) as u16,
                first["body"].clone(),
            )
        } else {
            (status, body)
        };
        let ok = match r.expect {
            Refused(needle) => {
                status == 400
                    && msg(&body).contains(needle)
                    && body["errors"][0]["help"].is_string()
            }
            Passes => (200..300).contains(&status),
        };
        if !ok {
            failures.push(format!(
                "{}: {} {} -> {status} {body}",
                r.rule, r.method, r.path
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// What the fake returns for `opt_fields` is exactly what was asked (plus
/// `gid`), never an undocumented field such as a user's e-mail.
#[tokio::test]
async fn answers_carry_only_documented_fields() {
    let c = Client::new().await;
    let p = c.fake.project_gid();
    let alice = c.fake.add_user("Alice", "alice@example.com");
    let (s, b) = c
        .post(
            "/tasks?opt_fields=assignee,assignee.name",
            json!({"data": {"name": "x", "projects": [p], "assignee": alice}}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(
        b["data"]["assignee"],
        json!({"gid": alice, "name": "Alice"}),
        "{b}"
    );
    let t = b["data"]["gid"].as_str().expect("gid").to_string();
    let (_, b) = c.get(&format!("/tasks/{t}")).await;
    assert!(b["data"]["assignee"].get("email").is_none(), "{b}");
    let (_, b) = c.get(&format!("/tasks/{t}/stories")).await;
    for s in b["data"].as_array().expect("stories") {
        assert!(s["created_by"].get("email").is_none(), "{s}");
    }
}
