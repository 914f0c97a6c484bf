//! Priority in an enum custom field (`asana_priority_field`): the option is written in the
//! task request itself, read back through `custom_fields`, no tag is written, requests per
//! operation are no more than with tags, problems with the field are clear errors that
//! write nothing, and a stale cached gid is looked up again once.

use crate::common;

use std::path::Path;

use asana_fake::FakeAsana;
use provider_asana::{AsanaProvider, CacheFile, CacheKey, CacheStore, DEFAULT_CACHE_FILE};
use ticket_provider_api::{
    ErrorKind, ListQuery, NewComment, NewTicket, Priority, Status, TicketProvider, TicketUpdate,
};

/// The options of the usual field: normal is "Medium".
const OPTIONS: [&str; 4] = ["Low", "Medium", "High", "Urgent"];

/// A provider keeping priority in the field "Priority" (normal → "Medium").
fn field_provider(fake: &FakeAsana) -> AsanaProvider {
    AsanaProvider::new(common::field_settings(
        fake,
        "Priority",
        &[(Priority::Normal, "Medium")],
    ))
    .unwrap()
}

/// Like [`field_provider`], keeping its cache in `path` (a new one is a new process).
fn field_process(fake: &FakeAsana, path: &Path) -> AsanaProvider {
    let mut s = common::field_settings(fake, "Priority", &[(Priority::Normal, "Medium")]);
    s.cache_path = Some(path.to_path_buf());
    AsanaProvider::new(s).unwrap()
}

/// The task's value of the field "Priority", as the fake shows it.
fn field_value(fake: &FakeAsana, gid: &str) -> Option<String> {
    common::snapshot(fake, gid)
        .custom_fields
        .into_iter()
        .find(|(name, _)| name == "Priority")
        .and_then(|(_, v)| v)
}

fn priority_update(p: Priority) -> TicketUpdate {
    TicketUpdate {
        priority: Some(p),
        ..Default::default()
    }
}

/// Whether any request or batch action touched tags.
fn touched_tags(fake: &FakeAsana) -> bool {
    fake.requests().iter().any(|r| {
        r.path.contains("/tags")
            || r.path.contains("Tag")
            || r.actions
                .iter()
                .any(|a| a.contains("/tags") || a.contains("Tag"))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priorities_map_through_the_enum_field_and_no_tag_is_written() {
    let fake = common::fake().await;
    common::enum_field(&fake, "Priority", &OPTIONS, true).await;
    let p = field_provider(&fake);

    let mut made = Vec::new();
    for pr in Priority::ALL {
        let r = p
            .create(NewTicket::new(format!("p {pr}")).priority(pr))
            .await
            .unwrap();
        made.push((pr, r.guid));
    }
    for (pr, gid) in &made {
        let expected = match pr {
            Priority::Normal => "Medium",
            Priority::Low => "Low",
            Priority::High => "High",
            Priority::Urgent => "Urgent",
        };
        assert_eq!(field_value(&fake, gid).as_deref(), Some(expected), "{pr}");
        assert!(common::snapshot(&fake, gid).tag_names.is_empty(), "{pr}");
        let got = p.get_ticket(gid).await.unwrap().ticket;
        assert_eq!(got.priority, *pr);
    }

    // Update: the option changes, still no tag.
    let (_, low) = &made[0];
    p.update(low, priority_update(Priority::Urgent))
        .await
        .unwrap();
    assert_eq!(field_value(&fake, low).as_deref(), Some("Urgent"));
    assert!(common::snapshot(&fake, low).tag_names.is_empty());
    assert_eq!(
        p.get_ticket(low).await.unwrap().ticket.priority,
        Priority::Urgent
    );
    let r = p
        .update(
            low,
            TicketUpdate {
                subject: Some("renamed".into()),
                description: Some("new text".into()),
                priority: Some(Priority::Normal),
                due: None,
                ..TicketUpdate::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(r.status, Status::New);
    let snap = common::snapshot(&fake, low);
    assert_eq!(
        (snap.name.as_str(), snap.notes.as_str()),
        ("renamed", "new text")
    );
    assert_eq!(field_value(&fake, low).as_deref(), Some("Medium"));

    // Listing maps the options, and filters on them.
    let page = p.list_tickets(ListQuery::default()).await.unwrap();
    for t in &page.tickets {
        let want = if t.guid == *low {
            Priority::Normal
        } else {
            made.iter().find(|(_, g)| *g == t.guid).unwrap().0
        };
        assert_eq!(t.priority, want, "{}", t.subject);
    }
    let urgent = p
        .list_tickets(ListQuery {
            priority: Some(Priority::Urgent),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(urgent.tickets.len(), 1);
    assert_eq!(urgent.tickets[0].guid, made[3].1);

    // A fresh provider (nothing cached) reads the priority from the option's name.
    let fresh = field_provider(&fake);
    fake.clear_requests();
    let t = fresh.get_ticket(&made[2].1).await.unwrap().ticket;
    assert_eq!(t.priority, Priority::High);
    assert_eq!(
        common::calls(&fake),
        ["POST /batch"],
        "reads look nothing up"
    );

    // The sync provider's operations.
    let task = p
        .tasks()
        .create_task_with_marker(
            &NewTicket::new("marked").priority(Priority::High),
            Status::Triaged,
            "m-7",
        )
        .await
        .unwrap();
    assert_eq!(task.priority, Some(Priority::High));
    assert_eq!(field_value(&fake, &task.gid).as_deref(), Some("High"));
    let changed = p
        .tasks()
        .set_fields(&task.gid, &priority_update(Priority::Low))
        .await
        .unwrap();
    assert_eq!(changed.priority, Some(Priority::Low));
    assert_eq!(changed.marker.as_deref(), Some("m-7"));
    let changed = p
        .tasks()
        .set_fields(
            &task.gid,
            &TicketUpdate {
                description: Some("described".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(changed.marker.as_deref(), Some("m-7"), "the marker is kept");
    assert_eq!(changed.priority, Some(Priority::Low));
    assert!(common::snapshot(&fake, &task.gid)
        .notes
        .ends_with("[ticket-guid: m-7]"));
    assert_eq!(
        p.tasks().get_remote_task(&task.gid).await.unwrap().priority,
        Some(Priority::Low)
    );
    let listed = p.tasks().list_remote_tasks(None).await.unwrap();
    assert_eq!(
        listed.iter().find(|x| x.gid == task.gid).unwrap().priority,
        Some(Priority::Low)
    );
    let read = p
        .tasks()
        .get_remote_tasks(&[made[3].1.clone()])
        .await
        .unwrap();
    assert_eq!(
        read[&made[3].1].as_ref().unwrap().priority,
        Some(Priority::Urgent)
    );

    // No tag was ever created, listed or put on a task.
    let all = fake.project_tasks(&fake.project_gid());
    assert!(all.iter().all(|t| t.tag_names.is_empty()));
    let (status, tags) = common::asana(
        &fake,
        reqwest::Method::GET,
        &format!("/workspaces/{}/tags", fake.workspace_gid()),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(tags["data"].as_array().unwrap().len(), 0, "{tags}");
    fake.shutdown().await;
}

/// Tasks tagged before the switch to the field keep their priority until it is set in the
/// field; an option no priority maps to reads as normal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_tagged_before_the_switch_keep_their_priority() {
    let fake = common::fake().await;
    let tagged = common::provider(&fake)
        .create(NewTicket::new("old").priority(Priority::Urgent))
        .await
        .unwrap();
    let field = common::enum_field(
        &fake,
        "Priority",
        &["Low", "Medium", "High", "Urgent", "Someday"],
        true,
    )
    .await;
    let p = field_provider(&fake);
    assert_eq!(
        p.get_ticket(&tagged.guid).await.unwrap().ticket.priority,
        Priority::Urgent
    );
    p.update(&tagged.guid, priority_update(Priority::Low))
        .await
        .unwrap();
    assert_eq!(
        p.get_ticket(&tagged.guid).await.unwrap().ticket.priority,
        Priority::Low,
        "the field wins over the old tag"
    );
    // Someone picks "Someday" in Asana.
    let untagged = p.create(NewTicket::new("new")).await.unwrap();
    let (status, body) = common::asana(
        &fake,
        reqwest::Method::PUT,
        &format!("/tasks/{}", untagged.guid),
        Some(serde_json::json!({"custom_fields": {field.gid.as_str(): field.option("Someday")}})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        p.get_ticket(&untagged.guid).await.unwrap().ticket.priority,
        Priority::Normal
    );
    fake.shutdown().await;
}

/// Runs the same operations in tag mode and in field mode (each with a cache file, each
/// operation in a new process after a warm-up) and returns the calls of each.
async fn calls_per_operation(
    fake: &FakeAsana,
    dir: &Path,
    field: bool,
) -> Vec<(String, Vec<String>)> {
    let path = dir.join(if field { "field.json" } else { "tags.json" });
    let process = |path: &Path| {
        if field {
            field_process(fake, path)
        } else {
            let mut s = common::settings(fake);
            s.cache_path = Some(path.to_path_buf());
            AsanaProvider::new(s).unwrap()
        }
    };
    let mut out = Vec::new();
    // A cold create (nothing cached).
    fake.clear_requests();
    let t = process(&path)
        .create(NewTicket::new("cold").priority(Priority::High))
        .await
        .unwrap()
        .guid;
    out.push(("cold create".to_string(), common::calls(fake)));
    // Warm up: every section and priority once, the owner's e-mail.
    let warm = process(&path);
    for s in Status::ALL {
        warm.change_status(&t, s).await.unwrap();
    }
    for pr in Priority::ALL {
        warm.update(&t, priority_update(pr)).await.unwrap();
    }
    warm.add_comment(&t, NewComment::new("c")).await.unwrap();
    warm.get_ticket(&t).await.unwrap();
    warm.change_status(&t, Status::New).await.unwrap();
    for op in [
        "create",
        "update priority",
        "update subject and priority",
        "update description",
        "update due",
        "get",
        "list",
        "change_status",
    ] {
        let p = process(&path);
        fake.clear_requests();
        match op {
            "create" => {
                p.create(NewTicket::new("warm").priority(Priority::Low))
                    .await
                    .unwrap();
            }
            "update priority" => {
                // The warm-up left it urgent.
                p.update(&t, priority_update(Priority::High)).await.unwrap();
            }
            "update subject and priority" => {
                let u = TicketUpdate {
                    subject: Some("s".into()),
                    priority: Some(Priority::Urgent),
                    ..Default::default()
                };
                p.update(&t, u).await.unwrap();
            }
            "update description" => {
                let u = TicketUpdate {
                    description: Some("d".into()),
                    priority: Some(Priority::Low),
                    ..Default::default()
                };
                p.update(&t, u).await.unwrap();
            }
            "update due" => {
                let u = TicketUpdate {
                    due: Some(Some("2026-12-24".parse().unwrap())),
                    ..Default::default()
                };
                p.update(&t, u).await.unwrap();
            }
            "get" => {
                assert_eq!(
                    p.get_ticket(&t).await.unwrap().ticket.priority,
                    Priority::Low
                );
            }
            "list" => {
                p.list_tickets(ListQuery::default()).await.unwrap();
            }
            "change_status" => {
                p.change_status(&t, Status::Triaged).await.unwrap();
            }
            other => unreachable!("{other}"),
        }
        out.push((op.to_string(), common::calls(fake)));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_field_costs_no_more_requests_than_tags() {
    let fake = common::fake().await;
    common::enum_field(&fake, "Priority", &OPTIONS, true).await;
    // Every section and tag exists, so that both modes start equal.
    let setup = common::provider(&fake);
    let t = setup.create(NewTicket::new("setup")).await.unwrap().guid;
    for s in Status::ALL {
        setup.change_status(&t, s).await.unwrap();
    }
    for pr in Priority::ALL {
        setup.update(&t, priority_update(pr)).await.unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let tags = calls_per_operation(&fake, dir.path(), false).await;
    let field = calls_per_operation(&fake, dir.path(), true).await;
    for ((op, with_tags), (_, with_field)) in tags.iter().zip(&field) {
        assert!(
            with_field.len() <= with_tags.len(),
            "{op}: field {with_field:?} vs tags {with_tags:?}"
        );
    }
    let project = fake.project_gid();
    let field: std::collections::HashMap<_, _> = field.into_iter().collect();
    assert_eq!(
        field["cold create"],
        [
            format!("GET /projects/{project}/sections"),
            format!("GET /projects/{project}/custom_field_settings"),
            "POST /tasks".to_string(),
        ]
    );
    assert_eq!(field["create"], ["POST /tasks"]);
    // An update reads the task first (a task outside the tickets project is refused before
    // anything is written, issue 23 #4), then sends one PUT with every change.
    for op in [
        "update priority",
        "update subject and priority",
        "update due",
        "update description",
    ] {
        assert_eq!(field[op].len(), 2, "{op}: {:?}", field[op]);
        assert!(
            field[op][0].starts_with("GET /tasks/"),
            "{op}: {:?}",
            field[op]
        );
        assert!(
            field[op][1].starts_with("PUT /tasks/"),
            "{op}: {:?}",
            field[op]
        );
    }
    assert_eq!(field["get"], ["POST /batch"]);
    assert_eq!(field["list"], [format!("GET /projects/{project}/tasks")]);
    assert_eq!(
        field["change_status"].len(),
        2,
        "{:?}",
        field["change_status"]
    );
    assert!(field["change_status"][0].starts_with("GET /tasks/"));
    // Fewer on a cold create, where tags cost the workspace and its tags.
    let tags: std::collections::HashMap<_, _> = tags.into_iter().collect();
    assert_eq!(tags["update priority"].len(), 2);
    assert_eq!(tags["cold create"].len(), 4);

    // The cache file keeps the field and its options.
    let cache = CacheFile::new(dir.path().join("field.json"))
        .load(&CacheKey {
            base_url: fake.base_url(),
            project_gid: project.clone(),
        })
        .await
        .unwrap();
    let cached = cache.priority_field.expect("the field is cached");
    assert_eq!(cached.configured, "Priority");
    assert_eq!(cached.options.len(), 4);
    assert_eq!(cached.options[&Priority::Normal].name, "Medium");
    assert!(cache.priority_tags.is_empty(), "no tag looked up");
    fake.shutdown().await;
}

/// What a failed write left: the tasks of the project and the named task's state.
fn state(fake: &FakeAsana, gid: &str) -> (usize, String, Option<String>) {
    let snap = common::snapshot(fake, gid);
    (
        fake.project_tasks(&fake.project_gid()).len(),
        snap.name,
        field_value(fake, gid),
    )
}

/// Sets up the fake for one of the problems of [`field_problems_are_clear_errors_that_write_nothing`].
async fn set_up_problem(fake: &FakeAsana, what: &str) {
    match what {
        "field not on the project" => {
            common::enum_field(fake, "Priority", &OPTIONS, false).await;
        }
        "no such field at all" => {}
        "option missing" => {
            common::enum_field(fake, "Priority", &["Low", "Medium", "High"], true).await;
        }
        "option disabled" => {
            let field = common::enum_field(fake, "Priority", &OPTIONS, true).await;
            common::update_option(
                fake,
                &field.option("Urgent"),
                serde_json::json!({"enabled": false}),
            )
            .await;
        }
        "not an enum field" => {
            let (status, body) = common::asana(
                fake,
                reqwest::Method::POST,
                "/custom_fields",
                Some(serde_json::json!({
                    "workspace": fake.workspace_gid(),
                    "name": "Priority",
                    "resource_subtype": "text",
                })),
            )
            .await;
            assert_eq!(status, 201, "{body}");
            common::add_field_to_project(fake, body["data"]["gid"].as_str().unwrap()).await;
        }
        "a plan without custom fields" => {
            common::enum_field(fake, "Priority", &OPTIONS, true).await;
            fake.set_custom_fields_plan(false);
        }
        other => unreachable!("{other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_problems_are_clear_errors_that_write_nothing() {
    // (what is wrong, error kind, words the message must hold)
    let cases: Vec<(&str, ErrorKind, Vec<&str>)> = vec![
        (
            "field not on the project",
            ErrorKind::Config,
            vec![
                "\"Priority\"",
                "is not on project",
                "project settings",
                "asana_priority_field",
            ],
        ),
        (
            "no such field at all",
            ErrorKind::Config,
            vec!["\"Priority\"", "is not on project", "no custom fields"],
        ),
        (
            "option missing",
            ErrorKind::Config,
            vec![
                "no option \"Urgent\"",
                "\"Priority\"",
                "asana_priority_options.urgent",
            ],
        ),
        (
            "option disabled",
            ErrorKind::Config,
            vec![
                "option \"Urgent\"",
                "\"Priority\"",
                "disabled",
                "asana_priority_options.urgent",
            ],
        ),
        (
            "not an enum field",
            ErrorKind::Config,
            vec!["\"Priority\"", "text field", "single-select"],
        ),
        (
            "a plan without custom fields",
            ErrorKind::Unsupported,
            vec![
                "Asana refused custom fields (402 Payment Required): this workspace's plan has no custom fields",
                "remove homechoice.ticket.asana_priority_field to keep priority in tags",
            ],
        ),
    ];
    for (what, kind, words) in cases {
        let fake = common::fake().await;
        // A task made before, with priority in tags.
        let existing = common::provider(&fake)
            .create(NewTicket::new("existing"))
            .await
            .unwrap()
            .guid;
        set_up_problem(&fake, what).await;
        let before = state(&fake, &existing);
        let p = field_provider(&fake);
        let attempts = [
            p.create(NewTicket::new("new").priority(Priority::Urgent))
                .await
                .map(|_| ()),
            p.update(
                &existing,
                TicketUpdate {
                    subject: Some("changed".into()),
                    priority: Some(Priority::Urgent),
                    ..Default::default()
                },
            )
            .await
            .map(|_| ()),
            p.tasks()
                .create_task_with_marker(
                    &NewTicket::new("marked").priority(Priority::Urgent),
                    Status::New,
                    "m",
                )
                .await
                .map(|_| ()),
        ];
        for (i, attempt) in attempts.into_iter().enumerate() {
            let err = attempt.expect_err(what);
            assert_eq!(err.kind(), kind, "{what} #{i}: {err}");
            let msg = err.to_string();
            for w in &words {
                assert!(msg.contains(w), "{what} #{i}: {w:?} not in {msg}");
            }
        }
        assert_eq!(state(&fake, &existing), before, "{what}: nothing written");
        assert!(!touched_tags_since_setup(&fake), "{what}");
        fake.shutdown().await;
    }
}

/// Whether the field-mode provider touched tags (the tag-mode create before the setup is
/// the only one allowed: it is the first request).
fn touched_tags_since_setup(fake: &FakeAsana) -> bool {
    fake.requests()
        .iter()
        .skip_while(|r| r.method != "POST" || !r.path.ends_with("/tasks"))
        .skip(1)
        .any(|r| {
            r.path.contains("/tags")
                || r.path.contains("Tag")
                || r.actions.iter().any(|a| a.contains("Tag"))
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_cached_option_or_field_is_looked_up_again_once() {
    let fake = common::fake().await;
    let field = common::enum_field(&fake, "Priority", &OPTIONS, true).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DEFAULT_CACHE_FILE);
    let first = field_process(&fake, &path)
        .create(NewTicket::new("first").priority(Priority::High))
        .await
        .unwrap()
        .guid;
    assert!(!touched_tags(&fake));

    // Someone retires "High" in Asana and makes a new "High".
    let old_high = field.option("High");
    common::update_option(
        &fake,
        &old_high,
        serde_json::json!({"name": "High (old)", "enabled": false}),
    )
    .await;
    let (status, body) = common::asana(
        &fake,
        reqwest::Method::POST,
        &format!("/custom_fields/{}/enum_options", field.gid),
        Some(serde_json::json!({"name": "High"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let new_high = body["data"]["gid"].as_str().unwrap().to_string();

    // A new process uses the cached (disabled) option: refused, looked up again, sent again.
    fake.clear_requests();
    let r = field_process(&fake, &path)
        .create(NewTicket::new("second").priority(Priority::High))
        .await
        .unwrap();
    let project = fake.project_gid();
    assert_eq!(
        common::calls(&fake),
        [
            "POST /tasks".to_string(),
            format!("GET /projects/{project}/custom_field_settings"),
            "POST /tasks".to_string(),
        ]
    );
    let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [400, 200, 201]);
    assert_eq!(field_value(&fake, &r.guid).as_deref(), Some("High"));
    let key = CacheKey {
        base_url: fake.base_url(),
        project_gid: project.clone(),
    };
    let cached = CacheFile::new(&path).load(&key).await.unwrap();
    assert_eq!(
        cached.priority_field.unwrap().options[&Priority::High].gid,
        new_high
    );
    assert_eq!(
        fake.project_tasks(&project)
            .iter()
            .filter(|t| t.name == "second")
            .count(),
        1
    );
    // The task that kept the retired option ("High (old)") reads as normal: no priority
    // maps to that option any more.
    let old = field_process(&fake, &path)
        .get_ticket(&first)
        .await
        .unwrap();
    assert_eq!(old.ticket.priority, Priority::Normal);

    // The same for an update: the PUT is refused, the field looked up again, the PUT sent
    // again.
    common::update_option(
        &fake,
        &new_high,
        serde_json::json!({"name": "High (older)", "enabled": false}),
    )
    .await;
    let (status, body) = common::asana(
        &fake,
        reqwest::Method::POST,
        &format!("/custom_fields/{}/enum_options", field.gid),
        Some(serde_json::json!({"name": "High"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    fake.clear_requests();
    field_process(&fake, &path)
        .update(&r.guid, priority_update(Priority::High))
        .await
        .unwrap();
    let calls = common::calls(&fake);
    assert_eq!(calls.len(), 4, "{calls:?}");
    assert!(calls[0].starts_with("GET /tasks/"), "{calls:?}");
    assert!(calls[1].starts_with("PUT /tasks/") && calls[3].starts_with("PUT /tasks/"));
    assert_eq!(
        calls[2],
        format!("GET /projects/{project}/custom_field_settings")
    );
    assert_eq!(field_value(&fake, &r.guid).as_deref(), Some("High"));

    // The field leaves the project: the create is refused, looked up once, and the error
    // says what to fix; nothing is created and nothing retried again.
    common::remove_field_from_project(&fake, &field.gid).await;
    let before = fake.project_tasks(&project).len();
    fake.clear_requests();
    let err = field_process(&fake, &path)
        .create(NewTicket::new("third").priority(Priority::Low))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.to_string().contains("is not on project"), "{err}");
    assert_eq!(
        common::calls(&fake),
        [
            "POST /tasks".to_string(),
            format!("GET /projects/{project}/custom_field_settings"),
        ]
    );
    assert_eq!(fake.project_tasks(&project).len(), before);
    fake.shutdown().await;
}
