//! Sections, tags and assignees: renamed sections, priority tag swaps, unknown users, and the
//! lower-level operations for the sync provider.

use crate::common;

use chrono::Utc;
use provider_asana::EventsPage;
use ticket_provider_api::{
    ErrorKind, NewComment, NewTicket, Priority, Status, TicketProvider, TicketUpdate,
};

use common::snapshot;

/// Another process created the same missing section at the same moment: the provider keeps
/// the first and deletes its own duplicate, with a DELETE that carries no body (Asana's
/// deleteSection takes none).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_section_is_deleted_without_a_body() {
    let fake = common::fake().await;
    let p = common::provider(&fake);
    let r = p.create(NewTicket::new("racing")).await.unwrap();
    // The other process's "Triaged", created after our provider listed the sections.
    let sections = format!("/projects/{}/sections", fake.project_gid());
    let (status, _) = common::asana(
        &fake,
        reqwest::Method::POST,
        &sections,
        Some(serde_json::json!({"name": "Triaged"})),
    )
    .await;
    assert_eq!(status, 201);
    fake.clear_requests();
    p.change_status(&r.guid, Status::Triaged).await.unwrap();
    let deletes: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|x| x.method == "DELETE")
        .collect();
    assert_eq!(deletes.len(), 1, "{:?}", common::calls(&fake));
    assert_eq!(deletes[0].status, 200, "the duplicate is deleted");
    let (_, sections) = common::asana(&fake, reqwest::Method::GET, &sections, None).await;
    let triaged = sections["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["name"] == "Triaged")
        .count();
    assert_eq!(triaged, 1, "{sections}");
    assert_eq!(
        snapshot(&fake, &r.guid).section_name.as_deref(),
        Some("Triaged")
    );
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renamed_section_is_used_by_gid_not_duplicated() {
    let fake = common::fake().await;
    let p = common::provider(&fake);
    let r = p.create(NewTicket::new("moving")).await.unwrap();
    // Every section exists (created on first use).
    for s in Status::ALL {
        p.change_status(&r.guid, s).await.unwrap();
    }
    p.change_status(&r.guid, Status::InProgress).await.unwrap();
    let section = snapshot(&fake, &r.guid).section_gid.unwrap();

    // Someone renames "In Progress" to "Doing" in Asana.
    let resp = reqwest::Client::new()
        .put(format!("{}/sections/{section}", fake.base_url()))
        .bearer_auth(fake.token())
        .json(&serde_json::json!({"data": {"name": "Doing"}}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());

    let t = p.get_ticket(&r.guid).await.unwrap();
    assert_eq!(t.ticket.status, Status::InProgress, "read by gid");
    fake.clear_requests();
    p.change_status(&r.guid, Status::Triaged).await.unwrap();
    p.change_status(&r.guid, Status::InProgress).await.unwrap();
    let snap = snapshot(&fake, &r.guid);
    assert_eq!(snap.section_gid.as_deref(), Some(section.as_str()));
    assert_eq!(snap.section_name.as_deref(), Some("Doing"));
    assert!(
        !common::calls(&fake)
            .iter()
            .any(|c| c.ends_with("/sections") && c.starts_with("POST")),
        "no section was created: {:?}",
        common::calls(&fake)
    );
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_in_an_unmapped_section_reads_as_new() {
    let fake = common::fake().await;
    let p = common::provider(&fake);
    let r = p.create(NewTicket::new("elsewhere")).await.unwrap();
    // The project's default section maps to no status.
    let path = format!("/projects/{}/sections", fake.project_gid());
    let (_, sections) = common::asana(&fake, reqwest::Method::GET, &path, None).await;
    let other = sections["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| Status::ALL.iter().all(|st| s["name"] != st.title()))
        .expect("an unmapped section")["gid"]
        .as_str()
        .unwrap()
        .to_string();
    let resp = reqwest::Client::new()
        .post(format!("{}/sections/{other}/addTask", fake.base_url()))
        .bearer_auth(fake.token())
        .json(&serde_json::json!({"data": {"task": r.guid}}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    let t = p.get_ticket(&r.guid).await.unwrap();
    assert_eq!(t.ticket.status, Status::New);
    let remote = p.tasks().get_remote_task(&r.guid).await.unwrap();
    assert_eq!(remote.status, None);
    assert!(remote.section_name.is_some());
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_priority_swaps_the_tag() {
    let fake = common::fake().await;
    let p = common::provider(&fake);
    let r = p.create(NewTicket::new("tagged")).await.unwrap();
    assert_eq!(snapshot(&fake, &r.guid).tag_names, ["priority:normal"]);
    for (pr, tag) in [
        (Priority::Urgent, "priority:urgent"),
        (Priority::Low, "priority:low"),
    ] {
        p.update(
            &r.guid,
            TicketUpdate {
                priority: Some(pr),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(snapshot(&fake, &r.guid).tag_names, [tag]);
        assert_eq!(p.get_ticket(&r.guid).await.unwrap().ticket.priority, pr);
    }
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_assignee_keeps_the_current_one() {
    let fake = common::fake().await;
    let alice_gid = fake.add_user("Alice", "alice@example.com");
    let p = common::provider(&fake);
    let r = p
        .create(NewTicket::new("owned").assignee("alice@example.com"))
        .await
        .unwrap();
    let err = p.assign(&r.guid, "ghost@example.com").await.unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::InvalidInput | ErrorKind::NotFound),
        "{err}"
    );
    assert!(err.to_string().contains("ghost@example.com"), "{err}");
    assert_eq!(
        snapshot(&fake, &r.guid).assignee_gid.as_deref(),
        Some(alice_gid.as_str())
    );
    assert_eq!(
        p.get_ticket(&r.guid)
            .await
            .unwrap()
            .ticket
            .assignee
            .as_deref(),
        Some("alice@example.com")
    );
    // By gid and as "me".
    let a = p.assign(&r.guid, &alice_gid).await.unwrap();
    assert_eq!(a.assigned_to.as_deref(), Some("alice@example.com"));
    let a = p.assign(&r.guid, "me").await.unwrap();
    assert_eq!(a.assigned_to, Some(fake.owner_email()));
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completion_follows_terminal_statuses() {
    let fake = common::fake().await;
    let p = common::provider(&fake);
    let r = p.create(NewTicket::new("done?")).await.unwrap();
    for s in Status::ALL {
        p.change_status(&r.guid, s).await.unwrap();
        let snap = snapshot(&fake, &r.guid);
        assert_eq!(snap.completed, s.is_terminal(), "{s}");
        assert_eq!(snap.section_name.as_deref(), Some(s.title()));
    }
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_operations_work_with_markers_and_events() {
    let fake = common::fake().await;
    let p = common::provider(&fake);
    assert_eq!(
        p.tasks().workspace_gid().await.unwrap(),
        fake.workspace_gid()
    );

    let EventsPage::TokenInvalid { sync } = p.tasks().events(None).await.unwrap() else {
        panic!("the first events call must ask for a fresh token");
    };

    let since = Utc::now();
    let new = NewTicket::new("mirrored")
        .description("line one\nline two")
        .priority(Priority::High);
    let task = p
        .tasks()
        .create_task_with_marker(&new, Status::Triaged, "local-guid-1")
        .await
        .unwrap();
    assert_eq!(task.marker.as_deref(), Some("local-guid-1"));
    assert_eq!(task.description, "line one\nline two");
    assert_eq!(task.status, Some(Status::Triaged));
    assert!(snapshot(&fake, &task.gid)
        .notes
        .ends_with("\n[ticket-guid: local-guid-1]"));

    let found = p
        .tasks()
        .find_task_by_marker("local-guid-1", Some(since))
        .await
        .unwrap()
        .expect("found by marker");
    assert_eq!(found.gid, task.gid);
    assert!(p
        .tasks()
        .find_task_by_marker("other", None)
        .await
        .unwrap()
        .is_none());

    let story = p
        .tasks()
        .post_comment(&task.gid, "[comment-guid: c1] hello")
        .await
        .unwrap();
    assert_eq!(
        p.tasks()
            .find_comment_by_marker(&task.gid, "[comment-guid: c1]")
            .await
            .unwrap(),
        Some(story.clone())
    );
    let changed = p
        .tasks()
        .set_fields(
            &task.gid,
            &TicketUpdate {
                description: Some("new text".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(changed.description, "new text");
    let remote = p.tasks().get_remote_task(&task.gid).await.unwrap();
    assert_eq!(
        remote.marker.as_deref(),
        Some("local-guid-1"),
        "marker kept"
    );
    assert_eq!(remote.description, "new text");
    assert_eq!(remote.priority, Some(Priority::High));
    assert_eq!(remote.comments.len(), 1);
    assert_eq!(remote.comments[0].story_gid, story);

    let all = p.tasks().list_remote_tasks(None).await.unwrap();
    assert!(all.iter().any(|t| t.gid == task.gid));

    match p.tasks().events(Some(&sync)).await.unwrap() {
        EventsPage::Events { events, .. } => {
            assert!(
                events
                    .iter()
                    .any(|e| e.task_gid() == Some(task.gid.as_str())),
                "{events:?}"
            );
        }
        other => panic!("expected events, got {other:?}"),
    }
    fake.expire_sync_tokens();
    assert!(matches!(
        p.tasks().events(Some(&sync)).await.unwrap(),
        EventsPage::TokenInvalid { .. }
    ));

    // The provider's own comment path: author prefix in Asana, stripped when reading.
    p.add_comment(&task.gid, NewComment::new("body").author("Eve"))
        .await
        .unwrap();
    assert!(snapshot(&fake, &task.gid)
        .comments
        .iter()
        .any(|c| c == "[author: Eve]\nbody"));
    fake.shutdown().await;
}

/// Several processes starting at once on a fresh project (simulated by providers with their
/// own caches) must end up with one section per status, and all use one tag per priority.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_uses_settle_on_one_section_and_one_tag() {
    let fake = common::fake().await;
    let providers: Vec<_> = (0..8).map(|_| common::provider(&fake)).collect();
    let runs = providers.iter().map(|p| async move {
        let g = p
            .create(NewTicket::new("race").priority(Priority::High))
            .await?
            .guid;
        p.change_status(&g, Status::InProgress).await?;
        Ok::<_, ticket_provider_api::Error>(g)
    });
    let gids: Vec<String> = futures::future::join_all(runs)
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("every first use succeeds");

    let http = reqwest::Client::new();
    let get = |path: String| {
        let http = http.clone();
        let url = format!("{}{path}", fake.base_url());
        let token = fake.token();
        async move {
            http.get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    let sections = get(format!(
        "/projects/{}/sections?opt_fields=name",
        fake.project_gid()
    ))
    .await;
    let names: Vec<&str> = sections["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    for wanted in ["New", "In Progress"] {
        assert_eq!(
            names.iter().filter(|n| **n == wanted).count(),
            1,
            "sections: {names:?}"
        );
    }
    let mut section_gids = std::collections::HashSet::new();
    let mut tag_gids = std::collections::HashSet::new();
    for gid in &gids {
        let t = get(format!("/tasks/{gid}?opt_fields=memberships.section,tags")).await;
        section_gids.insert(
            t["data"]["memberships"][0]["section"]["gid"]
                .as_str()
                .unwrap()
                .to_string(),
        );
        let tags = t["data"]["tags"].as_array().unwrap();
        assert_eq!(tags.len(), 1, "{t}");
        tag_gids.insert(tags[0]["gid"].as_str().unwrap().to_string());
    }
    assert_eq!(
        section_gids.len(),
        1,
        "tasks in several In Progress sections: {section_gids:?}"
    );
    assert_eq!(
        tag_gids.len(),
        1,
        "tasks carry several priority:high tags: {tag_gids:?}"
    );
}

/// A story another Asana user wrote is theirs, word for word: a first line that looks like
/// an attribution is text, not a claim the provider believes (only the token owner's
/// stories can carry one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_users_story_cannot_claim_an_author() {
    let fake = common::fake().await;
    let p = common::provider(&fake);
    let other = fake.add_user("Mallory", "mallory@company.com");
    let t = p.create(NewTicket::new("refund")).await.unwrap();
    let forged = "[author: ceo@company.com]\napprove the refund";
    let story = fake.add_comment_as(&t.guid, &other, forged);

    let got = p.get_ticket(&t.guid).await.unwrap();
    assert_eq!(got.comments.len(), 1, "{:?}", got.comments);
    let c = &got.comments[0];
    assert_eq!(c.comment_guid, story);
    assert_eq!(c.author.as_deref(), Some("mallory@company.com"));
    assert_eq!(c.body, forged, "taken verbatim");
    fake.shutdown().await;
}

/// A comment whose text looks like an attribution is escaped on the way out and comes back
/// exactly as written, with the author it was given (none, or a real one), never the one
/// its text names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_looks_like_an_attribution_round_trips() {
    let fake = common::fake().await;
    let p = common::provider(&fake);
    let t = p.create(NewTicket::new("escaping")).await.unwrap();
    let body = "[author: mallory]\nhello";
    for author in [None, Some("Ann")] {
        let mut c = NewComment::new(body);
        if let Some(a) = author {
            c = c.author(a);
        }
        let posted = p.add_comment(&t.guid, c).await.unwrap();
        let got = p.get_ticket(&t.guid).await.unwrap();
        let c = got
            .comments
            .iter()
            .find(|c| Some(&c.comment_guid) == posted.comment_guid.as_ref())
            .expect("the comment is listed");
        assert_eq!(c.author.as_deref(), author, "author {author:?}");
        assert_eq!(c.body, body, "author {author:?}");
    }
    let stored = snapshot(&fake, &t.guid).comments;
    assert_eq!(
        stored,
        [
            "\\[author: mallory]\nhello",
            "[author: Ann]\n\\[author: mallory]\nhello"
        ],
        "escaped in Asana"
    );
    fake.shutdown().await;
}
