//! Behaviour tests of the fake over HTTP, one group of endpoints at a time.

use crate::common;

use std::time::{Duration, Instant};

use asana_fake::{FakeOptions, Fault};
use common::{msg, Client};
use serde_json::{json, Value};

fn gids(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .expect("data array")
        .iter()
        .map(|x| x["gid"].as_str().expect("gid").to_string())
        .collect()
}

#[tokio::test]
async fn auth_is_required() {
    let c = Client::with(FakeOptions {
        token: Some("secret".into()),
        ..Default::default()
    })
    .await;
    for token in [None, Some("wrong"), Some("")] {
        let r = c.raw("GET", "/users/me", None, token).await;
        assert_eq!(r.status().as_u16(), 401);
        let b: Value = r.json().await.unwrap();
        assert_eq!(b, json!({"errors": [{"message": "Not Authorized"}]}));
    }
    let r = c.raw("GET", "/users/me", None, Some("secret")).await;
    assert_eq!(r.status().as_u16(), 200);

    // Without a configured token any non-empty token works.
    let any = Client::new().await;
    let r = any.raw("GET", "/users/me", None, Some("whatever")).await;
    assert_eq!(r.status().as_u16(), 200);
}

#[tokio::test]
async fn task_lifecycle() {
    let c = Client::new().await;
    let p = c.fake.project_gid();
    let alice = c.fake.add_user("Alice", "alice@example.com");
    let (_, sec) = c
        .post(
            &format!("/projects/{p}/sections"),
            json!({"data": {"name": "Triaged"}}),
        )
        .await;
    let triaged = sec["data"]["gid"].as_str().unwrap().to_string();
    let (_, tag) = c
        .post(
            "/tags",
            json!({"data": {"name": "P1", "workspace": c.fake.workspace_gid()}}),
        )
        .await;
    let p1 = tag["data"]["gid"].as_str().unwrap().to_string();

    let (status, headers, body) = c
        .send(
            "POST",
            "/tasks?opt_fields=name,notes,completed,assignee.name,memberships.section.name,tags.name,workspace,modified_at",
            Some(json!({"data": {
                "name": "Printer on fire", "notes": "help",
                "projects": [p], "memberships": [{"project": p, "section": triaged}],
                "tags": [p1], "assignee": "alice@example.com"
            }})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let t = body["data"]["gid"].as_str().unwrap().to_string();
    assert!(t.chars().all(|c| c.is_ascii_digit()) && t.len() >= 16);
    assert_eq!(
        headers["location"].to_str().unwrap(),
        format!("{}/tasks/{t}", c.fake.base_url())
    );
    let d = &body["data"];
    assert_eq!(d["name"], "Printer on fire");
    assert_eq!(d["assignee"]["name"], "Alice");
    assert!(d["assignee"].get("email").is_none(), "{d}");
    assert_eq!(d["memberships"][0]["section"]["name"], "Triaged");
    assert_eq!(d["tags"][0]["name"], "P1");
    assert_eq!(d["workspace"]["gid"], json!(c.fake.workspace_gid()));
    assert!(d.get("resource_type").is_none(), "only selected fields");

    // Default single-object rendering is the full record with compact refs.
    let (s, full) = c.get(&format!("/tasks/{t}")).await;
    assert_eq!(s, 200);
    let f = &full["data"];
    assert_eq!(f["resource_type"], "task");
    assert_eq!(f["completed"], false);
    assert_eq!(f["completed_at"], Value::Null);
    assert_eq!(f["assignee"]["gid"], json!(alice));
    assert_eq!(f["assignee"]["resource_type"], "user");
    assert!(f.get("html_notes").is_none(), "html_notes is opt-in");
    let created = f["created_at"].as_str().unwrap().to_string();
    assert_eq!(created.len(), "2026-01-01T00:00:00.000Z".len());
    assert!(created.ends_with('Z'));

    // Update: complete, rename, reassign to "me".
    let before = f["modified_at"].as_str().unwrap().to_string();
    let (s, up) = c
        .put(
            &format!("/tasks/{t}"),
            json!({"data": {"completed": true, "name": "Printer fixed", "assignee": "me"}}),
        )
        .await;
    assert_eq!(s, 200, "{up}");
    assert_eq!(up["data"]["completed"], true);
    assert!(up["data"]["completed_at"].is_string());
    assert_eq!(up["data"]["assignee"]["gid"], json!(c.fake.owner_gid()));
    assert!(up["data"]["modified_at"].as_str().unwrap() > before.as_str());
    let (_, up) = c
        .put(
            &format!("/tasks/{t}"),
            json!({"data": {"completed": false, "assignee": null}}),
        )
        .await;
    assert_eq!(up["data"]["completed_at"], Value::Null);
    assert_eq!(up["data"]["assignee"], Value::Null);

    // Options may also travel in the body beside `data`.
    let (_, sel) = c
        .put(
            &format!("/tasks/{t}"),
            json!({"data": {"notes": "n2"}, "options": {"fields": ["notes"]}}),
        )
        .await;
    assert_eq!(sel["data"], json!({"gid": t, "notes": "n2"}));

    // Create-only fields are rejected on update.
    let (s, e) = c
        .put(&format!("/tasks/{t}"), json!({"data": {"projects": [p]}}))
        .await;
    assert_eq!(s, 400);
    assert!(msg(&e).starts_with("projects:"));

    // Snapshot for assertions.
    let snap = c.fake.project_tasks(&p);
    assert_eq!(snap.len(), 1);
    assert_eq!(snap[0].name, "Printer fixed");
    assert_eq!(snap[0].section_name.as_deref(), Some("Triaged"));
    assert_eq!(snap[0].tag_names, vec!["P1".to_string()]);

    let (s, _) = c.delete(&format!("/tasks/{t}")).await;
    assert_eq!(s, 200);
    let (s, e) = c.get(&format!("/tasks/{t}")).await;
    assert_eq!(s, 404);
    assert!(msg(&e).contains(&t));
    assert!(c.fake.project_tasks(&p).is_empty());
}

#[tokio::test]
async fn sections_and_moves() {
    let c = Client::new().await;
    let p = c.fake.project_gid();
    let (s, list) = c.get(&format!("/projects/{p}/sections")).await;
    assert_eq!(s, 200);
    assert_eq!(list["data"][0]["name"], "Untitled section");
    assert_eq!(list["next_page"], Value::Null);
    let first = list["data"][0]["gid"].as_str().unwrap().to_string();

    let (s, b) = c
        .post(
            &format!("/projects/{p}/sections"),
            json!({"data": {"name": "Done"}}),
        )
        .await;
    assert_eq!(s, 201);
    let done = b["data"]["gid"].as_str().unwrap().to_string();
    assert_eq!(b["data"]["project"]["gid"], json!(p));
    let (s, b) = c
        .put(
            &format!("/sections/{done}"),
            json!({"data": {"name": "Closed"}}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(b["data"]["name"], "Closed");
    let (_, b) = c.get(&format!("/sections/{done}")).await;
    assert_eq!(b["data"]["name"], "Closed");

    // A task created with projects only lands in the first section.
    let t = c.task("A").await;
    let (_, b) = c
        .get(&format!(
            "/tasks/{t}?opt_fields=memberships.section,modified_at"
        ))
        .await;
    assert_eq!(b["data"]["memberships"][0]["section"]["gid"], json!(first));
    let modified = b["data"]["modified_at"].clone();

    // Moving keeps exactly one section per project and leaves modified_at.
    let (s, b) = c
        .post(
            &format!("/sections/{done}/addTask"),
            json!({"data": {"task": t}}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(b, json!({"data": {}}));
    let (_, b) = c
        .get(&format!(
            "/tasks/{t}?opt_fields=memberships.section.name,modified_at"
        ))
        .await;
    assert_eq!(b["data"]["memberships"].as_array().unwrap().len(), 1);
    assert_eq!(b["data"]["memberships"][0]["section"]["name"], "Closed");
    assert_eq!(b["data"]["modified_at"], modified);
    let (_, b) = c.get(&format!("/sections/{first}/tasks")).await;
    assert!(gids(&b).is_empty());
    let (_, b) = c.get(&format!("/sections/{done}/tasks")).await;
    assert_eq!(gids(&b), vec![t.clone()]);

    // A section_changed system story was written.
    let (_, st) = c
        .get(&format!(
            "/tasks/{t}/stories?opt_fields=type,resource_subtype,old_section.name,new_section.name"
        ))
        .await;
    let moved: Vec<&Value> = st["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["resource_subtype"] == "section_changed")
        .collect();
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0]["type"], "system");
    assert_eq!(moved[0]["new_section"]["name"], "Closed");
    assert_eq!(moved[0]["old_section"]["name"], "Untitled section");

    // Unknown task / section.
    let (s, e) = c
        .post(
            &format!("/sections/{done}/addTask"),
            json!({"data": {"task": "1"}}),
        )
        .await;
    assert_eq!(s, 400);
    assert!(msg(&e).starts_with("task:"));
    let (s, _) = c.get("/sections/999999").await;
    assert_eq!(s, 404);
    let (s, e) = c
        .post(&format!("/projects/{p}/sections"), json!({"data": {}}))
        .await;
    assert_eq!(s, 400);
    assert_eq!(msg(&e), "name: Missing input");
}

#[tokio::test]
async fn tags() {
    let c = Client::new().await;
    let ws = c.fake.workspace_gid();
    let (s, a) = c
        .post(
            "/tags",
            json!({"data": {"name": "P1", "workspace": ws, "color": "light-red"}}),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(a["data"]["color"], "light-red");
    let (s, b) = c
        .post(
            &format!("/workspaces/{ws}/tags"),
            json!({"data": {"name": "P2"}}),
        )
        .await;
    assert_eq!(s, 201);
    let p1 = a["data"]["gid"].as_str().unwrap().to_string();
    let p2 = b["data"]["gid"].as_str().unwrap().to_string();
    let (_, l1) = c.get(&format!("/tags?workspace={ws}")).await;
    let (_, l2) = c
        .get(&format!("/workspaces/{ws}/tags?opt_fields=name"))
        .await;
    assert_eq!(gids(&l1), vec![p1.clone(), p2.clone()]);
    assert_eq!(l2["data"][1], json!({"gid": p2, "name": "P2"}));
    let (s, e) = c.get("/tags").await;
    assert_eq!(s, 400);
    assert!(msg(&e).starts_with("workspace:"));
    let (s, _) = c.post("/tags", json!({"data": {"name": "x"}})).await;
    assert_eq!(s, 400);
    let (s, g) = c.get(&format!("/tags/{p1}")).await;
    assert_eq!(s, 200);
    assert_eq!(g["data"]["workspace"]["gid"], json!(ws));

    let t = c.task("T").await;
    let (s, _) = c
        .post(&format!("/tasks/{t}/addTag"), json!({"data": {"tag": p1}}))
        .await;
    assert_eq!(s, 200);
    c.post(&format!("/tasks/{t}/addTag"), json!({"data": {"tag": p2}}))
        .await;
    let (s, _) = c
        .post(
            &format!("/tasks/{t}/removeTag"),
            json!({"data": {"tag": p1}}),
        )
        .await;
    assert_eq!(s, 200);
    let (_, tt) = c.get(&format!("/tasks/{t}?opt_fields=tags.name")).await;
    assert_eq!(tt["data"]["tags"], json!([{"gid": p2, "name": "P2"}]));
    let (s, e) = c
        .post(
            &format!("/tasks/{t}/addTag"),
            json!({"data": {"tag": "42"}}),
        )
        .await;
    assert_eq!(s, 400);
    assert!(msg(&e).contains("42"));
    let (s, e) = c
        .post(&format!("/tasks/{t}/addTag"), json!({"data": {}}))
        .await;
    assert_eq!(s, 400);
    assert_eq!(msg(&e), "tag: Missing input");
}

#[tokio::test]
async fn stories_and_system_stories() {
    let c = Client::new().await;
    let t = c.task("T").await;
    let bob = c.fake.add_user("Bob", "bob@example.com");
    let (s, h, b) = c
        .send(
            "POST",
            &format!("/tasks/{t}/stories"),
            Some(json!({"data": {"text": "Called back."}})),
        )
        .await;
    assert_eq!(s, 201);
    assert!(h.contains_key("location"));
    assert_eq!(b["data"]["type"], "comment");
    assert_eq!(b["data"]["resource_subtype"], "comment_added");
    assert_eq!(b["data"]["text"], "Called back.");
    assert_eq!(b["data"]["created_by"]["gid"], json!(c.fake.owner_gid()));
    let (s, b) = c
        .post(
            &format!("/tasks/{t}/stories"),
            json!({"data": {"html_text": "<body>Rich <strong>text</strong></body>"}}),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(b["data"]["text"], "Rich text");
    let (s, e) = c
        .post(&format!("/tasks/{t}/stories"), json!({"data": {}}))
        .await;
    assert_eq!(s, 400);
    assert_eq!(msg(&e), "text: Missing input");
    let (s, _) = c
        .post(
            &format!("/tasks/{t}/stories"),
            json!({"data": {"html_text": "<body><b</body>"}}),
        )
        .await;
    assert_eq!(s, 400);

    c.put(
        &format!("/tasks/{t}"),
        json!({"data": {"name": "T2", "assignee": bob, "completed": true}}),
    )
    .await;
    let (_, list) = c.get(&format!("/tasks/{t}/stories")).await;
    // Compact stories by default.
    assert!(list["data"][0].get("type").is_none());
    assert!(list["data"][0]["created_at"].is_string());
    assert_eq!(list["data"][0]["created_by"]["name"], "Fake Owner");
    let (_, list) = c
        .get(&format!(
            "/tasks/{t}/stories?opt_fields=type,resource_subtype,text,new_name,assignee.name"
        ))
        .await;
    let subtypes: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["resource_subtype"].as_str().unwrap())
        .collect();
    assert_eq!(
        subtypes,
        vec![
            "comment_added",
            "comment_added",
            "name_changed",
            "assigned",
            "marked_complete"
        ]
    );
    assert_eq!(list["data"][2]["new_name"], "T2");
    assert_eq!(list["data"][3]["assignee"]["name"], "Bob");
    assert_eq!(list["data"][4]["type"], "system");
    let snap = c.fake.project_tasks(&c.fake.project_gid());
    assert_eq!(snap[0].comments, vec!["Called back.", "Rich text"]);
}

#[tokio::test]
async fn users_workspaces_projects() {
    let c = Client::new().await;
    let (s, me) = c
        .get("/users/me?opt_fields=email,name,workspaces.name")
        .await;
    assert_eq!(s, 200);
    assert_eq!(me["data"]["email"], json!(c.fake.owner_email()));
    assert_eq!(
        me["data"]["workspaces"][0]["gid"],
        json!(c.fake.workspace_gid())
    );
    let alice = c.fake.add_user("Alice", "alice@example.com");
    let (_, u) = c.get("/users/alice@example.com").await;
    assert_eq!(u["data"]["gid"], json!(alice));
    let (_, u) = c.get(&format!("/users/{alice}")).await;
    assert_eq!(u["data"]["email"], "alice@example.com");
    let (s, _) = c.get("/users/nobody@example.com").await;
    assert_eq!(s, 404);

    // Unknown assignee on a write is a 400 naming the value.
    let p = c.fake.project_gid();
    let (s, e) = c
        .post(
            "/tasks",
            json!({"data": {"name": "x", "projects": [p], "assignee": "ghost@example.com"}}),
        )
        .await;
    assert_eq!(s, 400);
    assert!(msg(&e).contains("ghost@example.com"), "{e}");
    assert!(msg(&e).starts_with("assignee:"));

    let (s, w) = c.get("/workspaces").await;
    assert_eq!(s, 200);
    assert_eq!(gids(&w), vec![c.fake.workspace_gid()]);
    let (_, w) = c
        .get(&format!("/workspaces/{}", c.fake.workspace_gid()))
        .await;
    assert_eq!(w["data"]["resource_type"], "workspace");
    let (_, pr) = c
        .get(&format!("/projects/{p}?opt_fields=name,workspace.name"))
        .await;
    assert_eq!(pr["data"]["workspace"]["name"], "Fake Workspace");
    let other = c.fake.add_project("Other");
    let (s, _) = c.get(&format!("/projects/{other}/sections")).await;
    assert_eq!(s, 200);

    // HTTP user creation.
    let r: Value = c
        .http
        .post(c.control("/users"))
        .json(&json!({"name": "Carol", "email": "carol@example.com"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (_, u) = c.get("/users/carol@example.com").await;
    assert_eq!(u["data"]["gid"], r["gid"]);
}

#[tokio::test]
async fn task_queries_and_pagination() {
    let c = Client::new().await;
    let p = c.fake.project_gid();
    let ws = c.fake.workspace_gid();
    let mut all = Vec::new();
    for i in 0..5 {
        // Distinct milliseconds, so modified_since below is exact.
        tokio::time::sleep(Duration::from_millis(3)).await;
        all.push(c.task(&format!("t{i}")).await);
    }
    // Paginate with limit=2.
    let mut seen = Vec::new();
    let mut path = format!("/projects/{p}/tasks?limit=2");
    loop {
        let (s, b) = c.get(&path).await;
        assert_eq!(s, 200, "{b}");
        assert!(b["data"].as_array().unwrap().len() <= 2);
        seen.extend(gids(&b));
        if b["next_page"].is_null() {
            break;
        }
        let off = b["next_page"]["offset"].as_str().unwrap();
        assert!(b["next_page"]["path"].as_str().unwrap().contains("offset="));
        assert!(b["next_page"]["uri"]
            .as_str()
            .unwrap()
            .starts_with(&c.fake.base_url()));
        path = format!("/projects/{p}/tasks?limit=2&offset={off}");
    }
    assert_eq!(seen, all);
    // Without limit: everything.
    let (_, b) = c.get(&format!("/tasks?project={p}")).await;
    assert_eq!(gids(&b), all);
    assert_eq!(
        b["data"][0].as_object().unwrap().keys().collect::<Vec<_>>(),
        vec![
            "created_by",
            "gid",
            "name",
            "resource_subtype",
            "resource_type"
        ]
    );

    for bad in ["101", "0", "abc", "-1"] {
        let (s, e) = c.get(&format!("/projects/{p}/tasks?limit={bad}")).await;
        assert_eq!(s, 400, "limit={bad}");
        assert!(msg(&e).starts_with("limit:"));
    }
    let (s, e) = c
        .get(&format!("/tasks?project={p}&limit=2&offset=bogus"))
        .await;
    assert_eq!(s, 400);
    assert!(msg(&e).starts_with("offset:"));

    // modified_since.
    let (_, t) = c
        .get(&format!("/tasks/{}?opt_fields=modified_at", all[4]))
        .await;
    let since = t["data"]["modified_at"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(5)).await;
    c.put(
        &format!("/tasks/{}", all[1]),
        json!({"data": {"notes": "n"}}),
    )
    .await;
    let (_, b) = c
        .get(&format!(
            "/tasks?project={p}&modified_since=2100-01-01T00:00:00.000Z"
        ))
        .await;
    assert!(gids(&b).is_empty());
    let (_, b) = c
        .get(&format!("/tasks?project={p}&modified_since={since}"))
        .await;
    assert_eq!(gids(&b), vec![all[1].clone(), all[4].clone()]);
    let (s, _) = c
        .get(&format!("/tasks?project={p}&modified_since=yesterday"))
        .await;
    assert_eq!(s, 400);

    // assignee + workspace, section, completed_since=now.
    c.put(
        &format!("/tasks/{}", all[2]),
        json!({"data": {"assignee": "me", "completed": true}}),
    )
    .await;
    let (_, b) = c.get(&format!("/tasks?assignee=me&workspace={ws}")).await;
    assert_eq!(gids(&b), vec![all[2].clone()]);
    let (_, b) = c
        .get(&format!("/tasks?project={p}&completed_since=now"))
        .await;
    assert_eq!(b["data"].as_array().unwrap().len(), 4);
    let (_, secs) = c.get(&format!("/projects/{p}/sections")).await;
    let first = secs["data"][0]["gid"].as_str().unwrap();
    let (_, b) = c.get(&format!("/tasks?section={first}&limit=100")).await;
    assert_eq!(gids(&b).len(), 5);
    let (s, _) = c.get("/tasks").await;
    assert_eq!(s, 400);
    let (s, _) = c.get("/tasks?assignee=me").await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn bad_requests() {
    let c = Client::new().await;
    let p = c.fake.project_gid();
    let tok = c.fake.token();
    let r = c.raw("POST", "/tasks", Some("{not json"), Some(&tok)).await;
    assert_eq!(r.status().as_u16(), 400);
    let b: Value = r.json().await.unwrap();
    assert!(b["errors"][0]["help"].is_string());
    let r = c.raw("POST", "/tasks", None, Some(&tok)).await;
    assert_eq!(r.status().as_u16(), 400);
    let (s, e) = c.post("/tasks", json!({"name": "no data"})).await;
    assert_eq!((s, msg(&e).as_str()), (400, "data: Missing input"));
    let (s, e) = c.post("/tasks", json!({"data": {"name": "x"}})).await;
    assert_eq!(s, 400);
    assert!(msg(&e).starts_with("workspace:"));
    let (s, e) = c
        .post("/tasks", json!({"data": {"name": 5, "projects": [p]}}))
        .await;
    assert_eq!(s, 400);
    assert!(msg(&e).starts_with("name:"));
    let (s, e) = c
        .post(
            "/tasks",
            json!({"data": {"name": "x", "projects": [p], "completed": "yes"}}),
        )
        .await;
    assert_eq!(s, 400);
    assert!(msg(&e).starts_with("completed:"));
    let (s, _) = c
        .post("/tasks", json!({"data": {"name": "x", "projects": p}}))
        .await;
    assert_eq!(s, 400);
    let (s, e) = c
        .post(
            "/tasks",
            json!({"data": {"name": "x", "projects": ["123"]}}),
        )
        .await;
    assert_eq!(s, 400);
    assert!(msg(&e).contains("123"));
    let (s, _) = c.get("/nothing/here").await;
    assert_eq!(s, 404);
    let (s, _) = c.get("/tasks/abc").await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn faults() {
    let c = Client::new().await;
    let p = c.fake.project_gid();
    c.fake.add_fault(Fault {
        method: Some("POST".into()),
        path_prefix: Some("/api/1.0/tasks".into()),
        status: Some(503),
        count: 2,
        retry_after: Some(2),
        ..Default::default()
    });
    let body = json!({"data": {"name": "x", "projects": [p]}});
    for _ in 0..2 {
        let (s, h, b) = c.send("POST", "/tasks", Some(body.clone())).await;
        assert_eq!(s, 503);
        assert_eq!(h["retry-after"], "2");
        assert!(b["errors"][0]["message"].is_string());
    }
    assert!(
        c.fake.project_tasks(&p).is_empty(),
        "failed requests not applied"
    );
    // GETs were not matched; third POST succeeds.
    let (s, _) = c.post("/tasks", body.clone()).await;
    assert_eq!(s, 201);

    // after_apply: the write happens, the answer is a failure.
    c.fake.add_fault(Fault {
        status: Some(500),
        count: 1,
        after_apply: true,
        ..Default::default()
    });
    let (s, b) = c.post("/tasks", body.clone()).await;
    assert_eq!(s, 500);
    assert!(b["errors"][0]["phrase"].is_string());
    assert_eq!(c.fake.project_tasks(&p).len(), 2);

    // Delay only.
    c.fake.add_fault(Fault {
        count: 1,
        delay_ms: Some(300),
        ..Default::default()
    });
    let start = Instant::now();
    let (s, _) = c.get("/users/me").await;
    assert_eq!(s, 200);
    assert!(start.elapsed() >= Duration::from_millis(300));

    // Over HTTP, then cleared.
    let r = c
        .http
        .post(c.control("/faults"))
        .json(&json!({"path_prefix": "/api/1.0/users", "status": 502, "count": 5}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let (s, _) = c.get("/users/me").await;
    assert_eq!(s, 502);
    c.http.delete(c.control("/faults")).send().await.unwrap();
    // Control bodies are read as JSON whatever the content type; junk is a 400.
    let r = c
        .http
        .post(c.control("/faults"))
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let (s, _) = c.get("/users/me").await;
    assert_eq!(s, 200);
    c.fake.add_fault(Fault {
        status: Some(500),
        count: 1,
        ..Default::default()
    });
    c.fake.clear_faults();
    let (s, _) = c.get("/users/me").await;
    assert_eq!(s, 200);
}

/// A fault with a raw body answers it byte for byte, with its status or 200, once per
/// count, without carrying the request out.
#[tokio::test]
async fn a_raw_body_fault_answers_its_text() {
    let c = Client::new().await;
    let raw = |status: Option<u16>, body: &str| Fault {
        method: Some("GET".into()),
        path_prefix: Some("/api/1.0/users".into()),
        status,
        body: Some(body.into()),
        count: 1,
        ..Default::default()
    };
    for (status, body, want) in [
        (None, "<html>maintenance</html>", 200),
        (Some(0), "", 200),
        (Some(401), "{\"errors\":[{\"message\":\"x\"}]}", 401),
    ] {
        c.fake.add_fault(raw(status, body));
        let resp = c
            .http
            .get(format!("{}/users/me", c.fake.base_url()))
            .bearer_auth(c.fake.token())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), want, "{body:?}");
        assert_eq!(resp.text().await.unwrap(), body);
        let (s, b) = c.get("/users/me").await;
        assert_eq!(s, 200, "the fault is used up: {b}");
    }
}

#[tokio::test]
async fn latency() {
    let c = Client::new().await;
    c.http
        .post(c.control("/latency"))
        .json(&json!({"delay_ms": 200}))
        .send()
        .await
        .unwrap();
    let start = Instant::now();
    c.get("/users/me").await;
    assert!(start.elapsed() >= Duration::from_millis(200));
    c.fake.set_latency(Duration::ZERO);
    let start = Instant::now();
    c.get("/users/me").await;
    assert!(start.elapsed() < Duration::from_millis(200));
}

#[tokio::test]
async fn rate_limit() {
    let c = Client::with(FakeOptions {
        rate_limit_per_minute: Some(3),
        ..Default::default()
    })
    .await;
    for _ in 0..3 {
        assert_eq!(c.get("/users/me").await.0, 200);
    }
    let (s, h, b) = c.send("GET", "/users/me", None).await;
    assert_eq!(s, 429);
    let secs: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&secs));
    assert!(msg(&b).contains("rate limit"));
    // Another token has its own budget.
    let r = c.raw("GET", "/users/me", None, Some("other-token")).await;
    assert_eq!(r.status().as_u16(), 200);

    c.http
        .post(c.control("/rate_limit"))
        .json(&json!({"per_minute": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(c.get("/users/me").await.0, 200);
    c.fake.set_rate_limit(Some(1));
    assert_eq!(c.get("/users/me").await.0, 200);
    assert_eq!(c.get("/users/me").await.0, 429);
    c.fake.set_rate_limit(None);

    // Every batch action counts.
    c.fake.set_rate_limit(Some(3));
    let actions: Vec<Value> = (0..4)
        .map(|_| json!({"relative_path": "/users/me", "method": "get"}))
        .collect();
    let (s, _) = c
        .post("/batch", json!({"data": {"actions": actions}}))
        .await;
    assert_eq!(s, 429);
}

#[tokio::test]
async fn request_log() {
    let c = Client::new().await;
    c.get("/users/me?opt_fields=email").await;
    c.get("/tasks/1").await;
    let log = c.fake.requests();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].method, "GET");
    assert_eq!(log[0].path, "/api/1.0/users/me");
    assert_eq!(log[0].query.as_deref(), Some("opt_fields=email"));
    assert_eq!(log[0].status, 200);
    assert_eq!(log[1].status, 404);
    let over_http: Value = c
        .http
        .get(c.control("/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(over_http[0]["path"], "/api/1.0/users/me");
    assert_eq!(over_http[1]["status"], 404);
    c.http.delete(c.control("/requests")).send().await.unwrap();
    assert!(c.fake.requests().is_empty());
    c.get("/users/me").await;
    c.fake.clear_requests();
    assert!(c.fake.requests().is_empty());
}

#[tokio::test]
async fn events() {
    let c = Client::new().await;
    let p = c.fake.project_gid();
    let (s, b) = c.get(&format!("/events?resource={p}")).await;
    assert_eq!(s, 412);
    assert!(b["errors"][0]["message"].is_string());
    let mut sync = b["sync"].as_str().unwrap().to_string();
    let (s, b) = c.get(&format!("/events?resource={p}&sync={sync}")).await;
    assert_eq!(s, 200);
    assert_eq!(b["data"], json!([]));
    assert_eq!(b["has_more"], false);
    sync = b["sync"].as_str().unwrap().to_string();

    let t = c.task("E").await;
    c.put(&format!("/tasks/{t}"), json!({"data": {"name": "E2"}}))
        .await;
    let (_, sec) = c
        .post(
            &format!("/projects/{p}/sections"),
            json!({"data": {"name": "Next"}}),
        )
        .await;
    let next = sec["data"]["gid"].as_str().unwrap().to_string();
    c.post(
        &format!("/sections/{next}/addTask"),
        json!({"data": {"task": t}}),
    )
    .await;
    let (s, b) = c.get(&format!("/events?resource={p}&sync={sync}")).await;
    assert_eq!(s, 200);
    let ev = b["data"].as_array().unwrap();
    let task_events: Vec<(&str, Option<&str>)> = ev
        .iter()
        .filter(|e| e["resource"]["resource_type"] == "task")
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["parent"]["resource_type"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        task_events,
        vec![
            ("added", Some("project")),
            ("added", Some("section")),
            ("changed", None),
            ("removed", Some("section")),
            ("added", Some("section")),
        ]
    );
    let changed = ev.iter().find(|e| e["action"] == "changed").unwrap();
    assert_eq!(changed["change"]["field"], "name");
    assert_eq!(changed["resource"]["gid"], json!(t));
    sync = b["sync"].as_str().unwrap().to_string();

    // More than 100 events → has_more.
    for i in 0..60 {
        c.put(
            &format!("/tasks/{t}"),
            json!({"data": {"name": format!("n{i}")}}),
        )
        .await;
    }
    let (_, b) = c.get(&format!("/events?resource={p}&sync={sync}")).await;
    assert_eq!(b["data"].as_array().unwrap().len(), 100);
    assert_eq!(b["has_more"], true);
    let sync2 = b["sync"].as_str().unwrap().to_string();
    let (_, b) = c.get(&format!("/events?resource={p}&sync={sync2}")).await;
    assert_eq!(b["data"].as_array().unwrap().len(), 20);
    assert_eq!(b["has_more"], false);

    // Deletion, then expiry.
    let sync3 = b["sync"].as_str().unwrap().to_string();
    c.delete(&format!("/tasks/{t}")).await;
    let (_, b) = c.get(&format!("/events?resource={p}&sync={sync3}")).await;
    assert_eq!(b["data"][0]["action"], "deleted");
    let sync4 = b["sync"].as_str().unwrap().to_string();
    c.fake.expire_sync_tokens();
    let (s, b) = c.get(&format!("/events?resource={p}&sync={sync4}")).await;
    assert_eq!(s, 412);
    assert!(b["sync"].is_string());
    let (s, _) = c.get("/events?resource=1").await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn batch() {
    let c = Client::new().await;
    let p = c.fake.project_gid();
    let t = c.task("B").await;
    let (s, b) = c
        .post(
            "/batch",
            json!({"data": {"actions": [
                {"relative_path": format!("/tasks/{t}"), "method": "get", "options": {"fields": ["name"]}},
                {"relative_path": "/tasks", "method": "post", "data": {"name": "C", "projects": [p]}},
                {"relative_path": "/tasks/1", "method": "get"},
                {"relative_path": format!("/projects/{p}/tasks"), "method": "get", "options": {"limit": 1}},
            ]}}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let r = b["data"].as_array().unwrap();
    assert_eq!(r.len(), 4);
    assert_eq!(r[0]["status_code"], 200);
    assert_eq!(r[0]["body"]["data"], json!({"gid": t, "name": "B"}));
    assert_eq!(r[1]["status_code"], 201);
    assert_eq!(r[1]["body"]["data"]["name"], "C");
    assert_eq!(r[2]["status_code"], 404);
    assert_eq!(r[3]["body"]["data"].as_array().unwrap().len(), 1);
    assert!(r[3]["body"]["next_page"]["offset"].is_string());
    assert_eq!(c.fake.project_tasks(&p).len(), 2);

    let eleven: Vec<Value> = (0..11)
        .map(|_| json!({"relative_path": "/users/me", "method": "get"}))
        .collect();
    let (s, _) = c.post("/batch", json!({"data": {"actions": eleven}})).await;
    assert_eq!(s, 400);
    let (s, _) = c.post("/batch", json!({"data": {"actions": []}})).await;
    assert_eq!(s, 400);
    let (s, _) = c
        .post(
            "/batch",
            json!({"data": {"actions": [{"relative_path": "/users/me"}]}}),
        )
        .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let c = Client::new().await;
    let url = format!("{}/users/me", c.fake.base_url());
    let Client { fake, .. } = c;
    fake.shutdown().await;
    let r = reqwest::Client::new()
        .get(url)
        .bearer_auth("x")
        .send()
        .await;
    assert!(r.is_err());
}

#[tokio::test]
async fn binary_prints_one_json_line() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_asana-fake"))
        .args(["--token", "tok", "--rate-limit", "100"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn binary");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("stdout");
    BufReader::new(stdout).read_line(&mut line).expect("line");
    let info: Value = serde_json::from_str(&line).expect("json line");
    assert_eq!(info["token"], "tok");
    let base = info["base_url"].as_str().unwrap().to_string();
    assert!(base.starts_with("http://127.0.0.1:") && base.ends_with("/api/1.0"));
    let r: Value = reqwest::Client::new()
        .get(format!(
            "{base}/projects/{}",
            info["project_gid"].as_str().unwrap()
        ))
        .bearer_auth("tok")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["data"]["workspace"]["gid"], info["workspace_gid"]);
    let _ = child.kill();
    let _ = child.wait();
}
