//! How many requests each operation costs once sections and tags are cached.

use crate::common;

use ticket_provider_api::{
    ListQuery, NewComment, NewTicket, Priority, Status, TicketProvider, TicketUpdate,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_cost_the_documented_number_of_requests() {
    let fake = common::fake().await;
    let alice = "alice@example.com";
    fake.add_user("Alice", alice);
    let p = common::provider(&fake);

    // Warm the cache: creates every section and tag once.
    let warm = p
        .create(NewTicket::new("warm").priority(Priority::Low))
        .await
        .unwrap();
    for s in Status::ALL {
        p.change_status(&warm.guid, s).await.unwrap();
    }
    for pr in Priority::ALL {
        p.update(
            &warm.guid,
            TicketUpdate {
                priority: Some(pr),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    fake.clear_requests();

    let r = p
        .create(
            NewTicket::new("Printer on fire")
                .description("smoke")
                .priority(Priority::High)
                .assignee(alice),
        )
        .await
        .unwrap();
    // The first time alice is seen, her e-mail is read from the users API (one batch).
    assert_eq!(
        common::calls(&fake),
        ["POST /tasks", "POST /batch"],
        "create"
    );
    let created = fake.requests();
    assert_eq!(created[1].actions.len(), 1, "{:?}", created[1].actions);
    assert!(created[1].actions[0].starts_with("GET /users/"));
    assert!(
        created[0]
            .query
            .as_deref()
            .unwrap_or("")
            .contains("opt_fields"),
        "create asks for opt_fields"
    );
    let snap = fake
        .project_tasks(&fake.project_gid())
        .into_iter()
        .find(|t| t.gid == r.guid)
        .unwrap();
    assert_eq!(snap.section_name.as_deref(), Some("New"));
    assert_eq!(snap.tag_names, ["priority:high"]);
    assert!(snap.assignee_gid.is_some());

    // Every write reads the task first, so that one outside the tickets project is refused
    // before anything is written (issue 23 #4); the move then writes only what differs.
    let task = format!("GET /tasks/{}", r.guid);
    for (label, status, write) in [
        ("to in progress", Status::InProgress, "POST /sections/"),
        ("to resolved (terminal)", Status::Resolved, "POST /batch"),
        ("back to triaged", Status::Triaged, "POST /batch"),
        ("to triaged again", Status::Triaged, ""),
    ] {
        fake.clear_requests();
        p.change_status(&r.guid, status).await.unwrap();
        let calls = common::calls(&fake);
        assert_eq!(calls[0], task, "change_status {label}");
        if write.is_empty() {
            assert_eq!(calls.len(), 1, "change_status {label}: {calls:?}");
        } else {
            assert_eq!(calls.len(), 2, "change_status {label}: {calls:?}");
            assert!(
                calls[1].starts_with(write),
                "change_status {label}: {calls:?}"
            );
        }
        let snap = fake
            .project_tasks(&fake.project_gid())
            .into_iter()
            .find(|t| t.gid == r.guid)
            .unwrap();
        assert_eq!(snap.completed, status.is_terminal(), "{label}");
    }

    fake.clear_requests();
    p.close(&r.guid).await.unwrap();
    assert_eq!(
        common::calls(&fake),
        [task.as_str(), "POST /batch"],
        "close"
    );

    fake.clear_requests();
    let a = p.assign(&r.guid, alice).await.unwrap();
    assert_eq!(a.assigned_to.as_deref(), Some(alice));
    assert_eq!(
        common::calls(&fake),
        [task.clone(), format!("PUT /tasks/{}", r.guid)],
        "assign"
    );

    fake.clear_requests();
    let c = p
        .add_comment(&r.guid, NewComment::new("called back").author("Dana"))
        .await
        .unwrap();
    assert_eq!(c.status, Status::Closed);
    assert_eq!(
        common::calls(&fake),
        [task.clone(), format!("POST /tasks/{}/stories", r.guid)],
        "add_comment: the read tells the status"
    );

    // The first get reads the token owner (whose stories alone carry an attribution) in
    // its own batch, once: that also gives the owner's e-mail, so no user read follows.
    fake.clear_requests();
    p.get_ticket(&r.guid).await.unwrap();
    assert_eq!(common::calls(&fake), ["POST /batch"], "first get_ticket");
    assert_eq!(
        fake.requests()[0].actions,
        [
            format!("GET /tasks/{}", r.guid),
            format!("GET /tasks/{}/stories", r.guid),
            "GET /users/me".to_string()
        ],
        "get_ticket reads the token owner once"
    );
    fake.clear_requests();
    let t = p.get_ticket(&r.guid).await.unwrap();
    assert_eq!(common::calls(&fake), ["POST /batch"], "get_ticket");
    assert_eq!(t.ticket.status, Status::Closed);
    assert_eq!(t.ticket.priority, Priority::High);
    assert_eq!(t.ticket.assignee.as_deref(), Some(alice));
    assert_eq!(t.comments.len(), 1);
    assert_eq!(t.comments[0].body, "called back");
    assert_eq!(t.comments[0].author.as_deref(), Some("Dana"));
    assert_eq!(t.comments[0].comment_guid, c.comment_guid.unwrap());

    fake.clear_requests();
    p.update(
        &r.guid,
        TicketUpdate {
            subject: Some("Printer still on fire".into()),
            priority: Some(Priority::Urgent),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        common::calls(&fake),
        [format!("GET /tasks/{}", r.guid), "POST /batch".to_string()],
        "update"
    );

    fake.clear_requests();
    p.escalate(&r.guid, Some("VIP")).await.unwrap();
    assert_eq!(
        common::calls(&fake),
        [
            task.clone(),
            "POST /batch".to_string(),
            format!("POST /tasks/{}/stories", r.guid)
        ],
        "escalate with a reason"
    );
    fake.shutdown().await;
}

/// Asana's compact users carry no e-mail: a list of 100 tasks by 3 assignees reads the 3
/// users once (one batch of 3 reads), and nothing more once they are known.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assignee_emails_cost_one_read_per_user_once() {
    let fake = common::fake().await;
    let people = ["ann@example.com", "bob@example.com", "cy@example.com"];
    for (i, e) in people.iter().enumerate() {
        fake.add_user(&format!("User {i}"), e);
    }
    let writer = common::provider(&fake);
    for i in 0..100 {
        writer
            .create(NewTicket::new(format!("t{i}")).assignee(people[i % 3]))
            .await
            .unwrap();
    }
    let all = ListQuery {
        limit: Some(1000),
        ..Default::default()
    };
    let tasks = format!("GET /projects/{}/tasks", fake.project_gid());
    // A new provider knows no user yet.
    let reader = common::provider(&fake);
    fake.clear_requests();
    let page = reader.list_tickets(all.clone()).await.unwrap();
    assert_eq!(page.tickets.len(), 100);
    for (i, t) in page.tickets.iter().enumerate() {
        assert!(
            people.contains(&t.assignee.as_deref().unwrap_or("")),
            "ticket {i}: {:?}",
            t.assignee
        );
    }
    let batches: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/batch"))
        .collect();
    assert_eq!(batches.len(), 1, "one batch of user reads");
    assert_eq!(batches[0].actions.len(), 3, "{:?}", batches[0].actions);
    assert!(batches[0]
        .actions
        .iter()
        .all(|a| a.starts_with("GET /users/")));
    assert_eq!(
        common::calls(&fake).last(),
        Some(&"POST /batch".to_string())
    );

    fake.clear_requests();
    reader.list_tickets(all).await.unwrap();
    assert_eq!(common::calls(&fake), [tasks], "known users cost nothing");
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_costs_one_request_per_hundred_tasks() {
    let fake = common::fake().await;
    let p = common::provider(&fake);
    // 250 tasks: 3 pages.
    for i in 0..250 {
        let pr = if i % 5 == 0 {
            Priority::Urgent
        } else {
            Priority::Normal
        };
        p.create(NewTicket::new(format!("t{i}")).priority(pr))
            .await
            .unwrap();
    }
    let first = p.create(NewTicket::new("on hold")).await.unwrap();
    p.change_status(&first.guid, Status::OnHold).await.unwrap();

    fake.clear_requests();
    let page = p
        .list_tickets(ListQuery {
            limit: Some(1000),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.tickets.len(), 251);
    assert!(page.next_cursor.is_none());
    let calls = common::calls(&fake);
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert!(calls
        .iter()
        .all(|c| c == &format!("GET /projects/{}/tasks", fake.project_gid())));
    assert!(fake
        .requests()
        .iter()
        .all(|r| r.query.as_deref().unwrap_or("").contains("limit=100")));
    // Newest first.
    assert!(page
        .tickets
        .windows(2)
        .all(|w| w[0].created_at >= w[1].created_at));

    fake.clear_requests();
    let urgent = p
        .list_tickets(ListQuery {
            priority: Some(Priority::Urgent),
            limit: Some(20),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(urgent.tickets.len(), 20);
    assert!(urgent
        .tickets
        .iter()
        .all(|t| t.priority == Priority::Urgent));
    assert_eq!(
        common::calls(&fake).len(),
        3,
        "client-side filter, same reads"
    );
    let rest = p
        .list_tickets(ListQuery {
            priority: Some(Priority::Urgent),
            limit: Some(1000),
            cursor: urgent.next_cursor.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(rest.tickets.len(), 50 - 20);

    fake.clear_requests();
    let held = p
        .list_tickets(ListQuery {
            status: Some(Status::OnHold),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(held.tickets.len(), 1);
    assert_eq!(held.tickets[0].guid, first.guid);
    let calls = common::calls(&fake);
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(calls[0].starts_with("GET /sections/"), "{calls:?}");
    fake.shutdown().await;
}

/// The sync provider's conflict check reads one task before a push: a plain GET, with the
/// same answer per gid as a batch read (a missing task is its entry's NotFound, not a failed
/// call); several tasks share one `POST /batch`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_tasks_one_by_get_several_by_batch() {
    let fake = common::fake().await;
    let p = common::provider(&fake);
    let a = p.create(NewTicket::new("a")).await.unwrap();
    let b = p.create(NewTicket::new("b")).await.unwrap();
    let (ga, gb) = (a.asana_gid.unwrap(), b.asana_gid.unwrap());
    let missing = "1209999999999999".to_string();

    fake.clear_requests();
    let one = p
        .tasks()
        .get_remote_tasks(std::slice::from_ref(&ga))
        .await
        .unwrap();
    assert_eq!(common::calls(&fake), vec![format!("GET /tasks/{ga}")]);
    assert_eq!(one[&ga].as_ref().unwrap().subject, "a");

    fake.clear_requests();
    let gone = p
        .tasks()
        .get_remote_tasks(std::slice::from_ref(&missing))
        .await
        .unwrap();
    assert_eq!(common::calls(&fake), vec![format!("GET /tasks/{missing}")]);
    let e = gone[&missing].as_ref().unwrap_err();
    assert_eq!(e.kind(), ticket_provider_api::ErrorKind::NotFound, "{e}");

    fake.clear_requests();
    let both = p
        .tasks()
        .get_remote_tasks(&[ga.clone(), gb.clone(), missing.clone()])
        .await
        .unwrap();
    assert_eq!(common::calls(&fake), vec!["POST /batch".to_string()]);
    assert_eq!(both[&gb].as_ref().unwrap().subject, "b");
    assert_eq!(
        both[&missing].as_ref().unwrap_err().kind(),
        ticket_provider_api::ErrorKind::NotFound
    );
    fake.shutdown().await;
}

/// A move of a task read moments ago writes only what differs from what the read saw:
/// nothing, the section alone (`addTask`), `completed` alone (`PUT`), or both (the batch of
/// `move_task`). A section gone from Asana is looked up again once; a task gone is NotFound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_after_a_read_writes_only_what_differs() {
    use provider_asana::TaskPlace;
    let fake = common::fake().await;
    let p = common::provider(&fake);
    let t = p.create(NewTicket::new("moved")).await.unwrap();
    let gid = t.asana_gid.unwrap();
    for s in Status::ALL {
        p.change_status(&gid, s).await.unwrap();
    }
    p.change_status(&gid, Status::New).await.unwrap();
    let read = |p: &provider_asana::AsanaProvider, gid: &str| {
        let (p, gid) = (p.clone(), gid.to_string());
        async move {
            let mut m = p
                .tasks()
                .get_remote_tasks(std::slice::from_ref(&gid))
                .await
                .unwrap();
            TaskPlace::of(&m.remove(&gid).unwrap().unwrap())
        }
    };
    let seen = read(&p, &gid).await;
    assert_eq!(seen, TaskPlace::at(Status::New));

    let cases = [
        (Status::New, Vec::<String>::new()),
        (
            Status::InProgress,
            vec!["POST /sections/{s}/addTask".to_string()],
        ),
        (Status::Closed, vec!["POST /batch".to_string()]),
    ];
    for (to, calls) in cases {
        let seen = read(&p, &gid).await;
        fake.clear_requests();
        p.tasks().move_task_from(&gid, to, seen).await.unwrap();
        let section = common::snapshot(&fake, &gid).section_gid.unwrap();
        let calls: Vec<String> = calls.iter().map(|c| c.replace("{s}", &section)).collect();
        assert_eq!(common::calls(&fake), calls, "to {to}");
        assert_eq!(read(&p, &gid).await, TaskPlace::at(to), "to {to}");
    }

    // Someone unticks "complete" in Asana; the section stays "Closed".
    let (status, body) = common::asana(
        &fake,
        reqwest::Method::PUT,
        &format!("/tasks/{gid}"),
        Some(serde_json::json!({ "completed": false })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let seen = read(&p, &gid).await;
    assert_eq!(
        seen,
        TaskPlace {
            status: Some(Status::Closed),
            completed: false
        }
    );
    fake.clear_requests();
    p.tasks()
        .move_task_from(&gid, Status::Closed, seen)
        .await
        .unwrap();
    assert_eq!(common::calls(&fake), [format!("PUT /tasks/{gid}")]);
    assert_eq!(read(&p, &gid).await, TaskPlace::at(Status::Closed));

    // The (empty) "On Hold" section is deleted in Asana: looked up again, the move sent again.
    p.change_status(&gid, Status::OnHold).await.unwrap();
    let on_hold = common::snapshot(&fake, &gid).section_gid.unwrap();
    p.change_status(&gid, Status::New).await.unwrap();
    common::delete_section(&fake, &on_hold).await;
    let seen = read(&p, &gid).await;
    fake.clear_requests();
    p.tasks()
        .move_task_from(&gid, Status::OnHold, seen)
        .await
        .unwrap();
    let calls = common::calls(&fake);
    assert_eq!(
        calls.first(),
        Some(&format!("POST /sections/{on_hold}/addTask"))
    );
    assert!(calls.last().unwrap().ends_with("/addTask"), "{calls:?}");
    let snap = common::snapshot(&fake, &gid);
    assert_eq!(snap.section_name.as_deref(), Some("On Hold"));
    assert_ne!(snap.section_gid.as_deref(), Some(on_hold.as_str()));

    // The task is deleted in Asana: the move is refused naming the task, and the batch of
    // move_task confirms it is gone: NotFound.
    let (status, body) = common::asana(
        &fake,
        reqwest::Method::DELETE,
        &format!("/tasks/{gid}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    fake.clear_requests();
    let e = p
        .tasks()
        .move_task_from(&gid, Status::Triaged, TaskPlace::at(Status::OnHold))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ticket_provider_api::ErrorKind::NotFound, "{e}");
    let calls = common::calls(&fake);
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(calls[0].ends_with("/addTask"), "{calls:?}");
    assert_eq!(calls[1], "POST /batch");
    fake.shutdown().await;
}

/// A lean create is the same single `POST /tasks` (the task complete with section, tag, due
/// date and marker line) asking only for `modified_at`; it returns the gid and that time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lean_create_asks_only_for_modified_at() {
    let fake = common::fake().await;
    let p = common::provider(&fake);
    let warm = p
        .create(NewTicket::new("warm").priority(Priority::High))
        .await
        .unwrap();
    p.change_status(&warm.guid, Status::Triaged).await.unwrap();
    fake.clear_requests();
    let new = NewTicket::new("lean")
        .description("body")
        .priority(Priority::High)
        .due("2026-12-24".parse().unwrap());
    let made = p
        .tasks()
        .create_task_lean(&new, Status::Triaged, "local-guid-7")
        .await
        .unwrap();
    let sent = fake.requests();
    assert_eq!(common::calls(&fake), ["POST /tasks"]);
    assert_eq!(sent[0].query.as_deref(), Some("opt_fields=modified_at"));
    let read = p
        .tasks()
        .get_remote_tasks(std::slice::from_ref(&made.gid))
        .await
        .unwrap()
        .remove(&made.gid)
        .unwrap()
        .unwrap();
    assert_eq!(read.modified_at, made.modified_at);
    assert_eq!(
        (read.subject.as_str(), read.description.as_str()),
        ("lean", "body")
    );
    assert_eq!(read.marker.as_deref(), Some("local-guid-7"));
    assert_eq!(read.status, Some(Status::Triaged));
    assert_eq!(read.priority, Some(Priority::High));
    assert_eq!(read.due, new.due);
    let bad = p
        .tasks()
        .create_task_lean(&new, Status::New, "two]parts")
        .await
        .unwrap_err();
    assert_eq!(bad.kind(), ticket_provider_api::ErrorKind::InvalidInput);
    fake.shutdown().await;
}
