//! The fake is as strict as Asana's spec: one row per rule, each a request that
//! must be refused with 400 and a message naming the offending thing, plus rows
//! that must pass. Batch rows are judged by the answer to their (first) action,
//! which is checked like a direct request.

mod common;

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
