//! Checks shared by the SQLite and PostgreSQL integration tests: each takes a database URL
//! (a fresh, empty database) and exercises one behaviour of the internal provider.

#![allow(dead_code)]

use std::collections::HashSet;
use std::sync::Arc;

use provider_internal::{
    InternalProvider, LinkState, RemoteComment, RemoteTicket, StoreOptions, SyncLink,
};
use ticket_provider_api::{
    ErrorKind, ListQuery, NewComment, NewTicket, Priority, Status, TicketProvider, TicketUpdate,
};
use ticket_provider_testkit::{run_all, SuiteOptions};

pub async fn open(url: &str) -> InternalProvider {
    InternalProvider::open(url, StoreOptions::default())
        .await
        .expect("open")
}

pub async fn open_outbox(url: &str) -> InternalProvider {
    InternalProvider::open(
        url,
        StoreOptions {
            pool_size: None,
            record_outbox: true,
        },
    )
    .await
    .expect("open")
}

/// The shared behaviour suite.
pub async fn behaviour_suite(url: &str) {
    let p = open(url).await;
    run_all(Arc::new(p), &SuiteOptions::new("internal")).await;
}

/// Every operation once, with history rows checked.
pub async fn every_operation_and_history(url: &str) {
    let p = open(url).await;
    let r = p
        .create(
            NewTicket::new("Printer jammed")
                .description("Tray 2")
                .priority(Priority::High),
        )
        .await
        .unwrap();
    assert_eq!(r.status, Status::New);
    assert_eq!(r.provider, "internal");
    assert!(uuid::Uuid::parse_str(&r.guid).is_ok());
    let g = r.guid.clone();
    p.update(
        &g,
        TicketUpdate {
            subject: Some("Printer jammed again".into()),
            priority: Some(Priority::High), // unchanged: no history row
            ..Default::default()
        },
    )
    .await
    .unwrap();
    p.change_status(&g, Status::InProgress).await.unwrap();
    let a = p.assign(&g, "alice@example.com").await.unwrap();
    assert_eq!(a.assigned_to.as_deref(), Some("alice@example.com"));
    let c = p
        .add_comment(&g, NewComment::new("looking").author("bob"))
        .await
        .unwrap();
    assert!(c.comment_guid.is_some());
    let e = p.escalate(&g, Some("needs a technician")).await.unwrap();
    assert_eq!(e.status, Status::Escalated);
    let esc_comment = e
        .comment_guid
        .clone()
        .expect("escalate returns comment_guid");
    assert_eq!(p.resolve(&g).await.unwrap().status, Status::Resolved);
    assert_eq!(p.close(&g).await.unwrap().status, Status::Closed);
    let e2 = p.escalate(&g, None).await.unwrap();
    assert!(e2.comment_guid.is_none());

    let t = p.get_ticket(&g).await.unwrap();
    assert_eq!(t.ticket.subject, "Printer jammed again");
    assert_eq!(t.ticket.description, "Tray 2");
    assert_eq!(t.ticket.assignee.as_deref(), Some("alice@example.com"));
    assert_eq!(t.ticket.status, Status::Escalated);
    assert_eq!(t.comments.len(), 2);
    assert_eq!(t.comments[0].body, "looking");
    assert_eq!(t.comments[1].comment_guid, esc_comment);

    let h = p.history(&g).await.unwrap();
    let fields: Vec<(&str, Option<&str>, Option<&str>)> = h
        .iter()
        .map(|e| {
            (
                e.field.as_str(),
                e.old_value.as_deref(),
                e.new_value.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        fields,
        vec![
            ("created", None, Some("NEW")),
            (
                "subject",
                Some("Printer jammed"),
                Some("Printer jammed again")
            ),
            ("status", Some("NEW"), Some("IN_PROGRESS")),
            ("assignee", None, Some("alice@example.com")),
            ("status", Some("IN_PROGRESS"), Some("ESCALATED")),
            ("status", Some("ESCALATED"), Some("RESOLVED")),
            ("status", Some("RESOLVED"), Some("CLOSED")),
            ("status", Some("CLOSED"), Some("ESCALATED")),
        ]
    );
    assert!(h.windows(2).all(|w| w[0].id < w[1].id));
    assert!(h.iter().all(|e| e.guid == g));
}

/// Invalid input and unknown guids write nothing; malformed guids and cursors are InvalidInput.
pub async fn invalid_input_writes_nothing(url: &str) {
    let p = open_outbox(url).await;
    let g = p.create(NewTicket::new("ok")).await.unwrap().guid;
    let before = p.row_counts().await.unwrap();
    let unknown = "00000000-0000-7000-8000-000000000000";
    let attempts: Vec<ticket_provider_api::Result<_>> = vec![
        p.create(NewTicket::new("  ")).await,
        p.create(NewTicket::new("x").assignee("")).await,
        p.update(&g, TicketUpdate::default()).await,
        p.update(
            &g,
            TicketUpdate {
                subject: Some("a\nb".into()),
                ..Default::default()
            },
        )
        .await,
        p.assign(&g, " ").await,
        p.add_comment(&g, NewComment::new("")).await,
        p.add_comment(&g, NewComment::new("x".repeat(10_001))).await,
        p.escalate(&g, Some("  ")).await,
        p.change_status("not-a-guid", Status::Closed).await,
    ];
    for r in attempts {
        assert_eq!(r.unwrap_err().kind(), ErrorKind::InvalidInput);
    }
    let err = p.get_ticket("nope").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("nope"), "{err}");
    for r in [
        p.change_status(unknown, Status::Closed).await,
        p.assign(unknown, "a").await,
        p.add_comment(unknown, NewComment::new("x")).await,
        p.escalate(unknown, Some("why")).await,
        p.close(unknown).await,
    ] {
        assert_eq!(r.unwrap_err().kind(), ErrorKind::NotFound);
    }
    assert_eq!(
        p.get_ticket(unknown).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        p.history(unknown).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    for cursor in ["zz", "", "00", "76313a78", &"ab".repeat(300)] {
        let err = p
            .list_tickets(ListQuery {
                cursor: Some(cursor.to_string()),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{cursor}");
    }
    assert_eq!(p.row_counts().await.unwrap(), before);
}

/// Pages never repeat or skip a ticket, even while other callers insert.
pub async fn pagination_under_concurrent_inserts(url: &str) {
    let p = open(url).await;
    let mut existing = HashSet::new();
    for i in 0..120 {
        let prio = if i % 3 == 0 {
            Priority::Low
        } else {
            Priority::Normal
        };
        let g = p
            .create(NewTicket::new(format!("t{i}")).priority(prio))
            .await
            .unwrap()
            .guid;
        existing.insert((g, prio));
    }
    let writer = {
        let p = p.clone();
        tokio::spawn(async move {
            for i in 0..60 {
                p.create(NewTicket::new(format!("late{i}")).priority(Priority::Low))
                    .await
                    .unwrap();
            }
        })
    };
    for prio in [None, Some(Priority::Low)] {
        let mut seen = Vec::new();
        let mut q = ListQuery {
            limit: Some(7),
            priority: prio,
            ..Default::default()
        };
        loop {
            let page = p.list_tickets(q.clone()).await.unwrap();
            assert!(page.tickets.len() <= 7);
            seen.extend(page.tickets);
            match page.next_cursor {
                Some(c) => q.cursor = Some(c),
                None => break,
            }
        }
        let guids: Vec<&str> = seen.iter().map(|t| t.guid.as_str()).collect();
        let unique: HashSet<&str> = guids.iter().copied().collect();
        assert_eq!(unique.len(), guids.len(), "duplicates across pages");
        for (g, pr) in &existing {
            if prio.is_none() || prio == Some(*pr) {
                assert!(unique.contains(g.as_str()), "ticket {g} skipped");
            }
        }
        assert!(seen
            .windows(2)
            .all(|w| (w[0].created_at, &w[0].guid) > (w[1].created_at, &w[1].guid)));
    }
    writer.await.unwrap();
}

/// 16 callers x 200 mixed operations: no errors, every comment and history row present,
/// and concurrent status changes of one ticket chain in the history.
pub async fn concurrency_16x200(url: &str) {
    let p = open(url).await;
    let shared = p.create(NewTicket::new("shared")).await.unwrap().guid;
    let statuses = Status::ALL;
    let mut tasks = Vec::new();
    for worker in 0..16usize {
        let p = p.clone();
        let shared = shared.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine: Vec<String> = Vec::new();
            let mut comments = Vec::new();
            let mut status_changes = 0usize;
            let mut other_history = 0usize;
            for i in 0..200usize {
                match i % 4 {
                    0 => {
                        let g = p
                            .create(NewTicket::new(format!("w{worker} #{i}")))
                            .await
                            .expect("create")
                            .guid;
                        mine.push(g);
                        other_history += 1;
                    }
                    1 => {
                        let g = mine.last().cloned().unwrap_or_else(|| shared.clone());
                        let r = p
                            .add_comment(&g, NewComment::new(format!("c {worker}/{i}")))
                            .await
                            .expect("comment");
                        comments.push((g, r.comment_guid.expect("comment guid")));
                    }
                    2 => {
                        let st = statuses[(worker + i) % statuses.len()];
                        p.change_status(&shared, st).await.expect("change_status");
                        status_changes += 1;
                    }
                    _ => {
                        let g = mine.last().cloned().unwrap_or_else(|| shared.clone());
                        p.assign(&g, &format!("user{worker}-{i}"))
                            .await
                            .expect("assign");
                        other_history += 1;
                    }
                }
            }
            (comments, status_changes, other_history)
        }));
    }
    let mut all_comments = Vec::new();
    let mut status_changes = 0;
    let mut other_history = 0;
    for t in tasks {
        let (c, s, o) = t.await.expect("worker");
        all_comments.extend(c);
        status_changes += s;
        other_history += o;
    }
    assert_eq!(status_changes, 16 * 50);
    for (g, c) in &all_comments {
        let t = p.get_ticket(g).await.unwrap();
        assert!(
            t.comments.iter().any(|x| &x.comment_guid == c),
            "comment {c} missing"
        );
    }
    let h = p.history(&shared).await.unwrap();
    let status_rows: Vec<_> = h.iter().filter(|e| e.field == "status").collect();
    assert_eq!(status_rows.len(), status_changes);
    assert_eq!(status_rows[0].old_value.as_deref(), Some("NEW"));
    for w in status_rows.windows(2) {
        assert_eq!(w[1].old_value, w[0].new_value, "history does not chain");
    }
    let final_status = p.get_ticket(&shared).await.unwrap().ticket.status;
    assert_eq!(
        status_rows.last().unwrap().new_value.as_deref(),
        Some(final_status.as_str())
    );
    let counts = p.row_counts().await.unwrap();
    assert_eq!(counts[0], 1 + 16 * 50);
    assert_eq!(counts[1] as usize, all_comments.len());
    // created rows (1 shared + 800) + status rows + assignee rows (800, all distinct values)
    assert_eq!(counts[2] as usize, 1 + status_changes + other_history);
}

/// Two providers on one database see each other's changes at once; data survives reopening.
pub async fn two_providers_and_reopen(url: &str) {
    let a = open(url).await;
    let b = open(url).await;
    let g = a.create(NewTicket::new("shared view")).await.unwrap().guid;
    assert_eq!(
        b.get_ticket(&g).await.unwrap().ticket.subject,
        "shared view"
    );
    b.change_status(&g, Status::OnHold).await.unwrap();
    assert_eq!(
        a.get_ticket(&g).await.unwrap().ticket.status,
        Status::OnHold
    );
    drop(a);
    drop(b);
    let c = open(url).await;
    let t = c.get_ticket(&g).await.unwrap();
    assert_eq!(t.ticket.status, Status::OnHold);
    assert_eq!(c.history(&g).await.unwrap().len(), 2);
}

/// The outbox records one row per mutating operation, and the sync tables work.
pub async fn outbox_and_sync_support(url: &str) {
    let p = open_outbox(url).await;
    assert!(p.records_outbox());
    let g = p
        .create(NewTicket::new("sync me").assignee("ann"))
        .await
        .unwrap()
        .guid;
    p.update(
        &g,
        TicketUpdate {
            description: Some("more".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    p.change_status(&g, Status::Triaged).await.unwrap();
    p.assign(&g, "bob").await.unwrap();
    let c = p
        .add_comment(&g, NewComment::new("hi").author("ann"))
        .await
        .unwrap()
        .comment_guid
        .unwrap();
    let e = p.escalate(&g, Some("urgent")).await.unwrap();
    let entries = p.outbox_for_ticket(&g).await.unwrap();
    let ops: Vec<&str> = entries.iter().map(|e| e.operation.as_str()).collect();
    assert_eq!(
        ops,
        [
            "create",
            "update",
            "change_status",
            "assign",
            "add_comment",
            "escalate"
        ]
    );
    assert_eq!(entries[0].payload["subject"], "sync me");
    assert_eq!(entries[0].payload["assignee"], "ann");
    assert_eq!(
        entries[1].payload,
        serde_json::json!({"description": "more"})
    );
    assert_eq!(entries[2].payload, serde_json::json!({"status": "TRIAGED"}));
    assert_eq!(entries[3].payload, serde_json::json!({"assignee": "bob"}));
    assert_eq!(entries[4].payload["comment_guid"], c.as_str());
    assert_eq!(entries[5].payload["status"], "ESCALATED");
    assert_eq!(
        entries[5].payload["comment"]["comment_guid"],
        e.comment_guid.unwrap().as_str()
    );
    assert_eq!(p.outbox_counts().await.unwrap(), (6, 0));
    let pending = p.outbox_pending(2).await.unwrap();
    assert_eq!(pending.len(), 2);
    p.outbox_complete(pending[0].id).await.unwrap();
    p.outbox_record_failure(pending[1].id, "HTTP 500")
        .await
        .unwrap();
    p.outbox_record_failure(pending[1].id, "HTTP 502")
        .await
        .unwrap();
    let again = p.outbox_pending(10).await.unwrap();
    assert_eq!(again[0].id, pending[1].id);
    assert_eq!(again[0].attempts, 2);
    assert_eq!(again[0].last_error.as_deref(), Some("HTTP 502"));
    p.outbox_set_aside(pending[1].id, "rejected by Asana")
        .await
        .unwrap();
    assert_eq!(p.outbox_counts().await.unwrap(), (4, 1));
    let aside = p.outbox_set_aside_list().await.unwrap();
    assert_eq!(
        aside[0].set_aside_reason.as_deref(),
        Some("rejected by Asana")
    );

    // links
    assert!(p.sync_link_get(&g).await.unwrap().is_none());
    let link = SyncLink {
        ticket_guid: g.clone(),
        asana_gid: None,
        state: LinkState::Creating,
        last_synced_at: None,
        remote_modified_at: None,
        creating_since: None,
    };
    p.sync_link_put(link.clone()).await.unwrap();
    assert_eq!(
        p.sync_link_get(&g).await.unwrap().unwrap().state,
        LinkState::Creating
    );
    let linked = SyncLink {
        asana_gid: Some("1200001".into()),
        state: LinkState::Linked,
        last_synced_at: Some(chrono::Utc::now()),
        ..link
    };
    p.sync_link_put(linked).await.unwrap();
    let got = p.sync_link_by_gid("1200001").await.unwrap().unwrap();
    assert_eq!(got.ticket_guid, g);
    assert_eq!(got.state, LinkState::Linked);
    assert!(got.last_synced_at.is_some());
    let err = p
        .sync_link_put(SyncLink {
            ticket_guid: "00000000-0000-7000-8000-000000000000".into(),
            asana_gid: None,
            state: LinkState::Creating,
            last_synced_at: None,
            remote_modified_at: None,
            creating_since: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);

    assert_eq!(p.comment_link_get(&c).await.unwrap(), None);
    p.comment_link_put(&c, "story-1").await.unwrap();
    assert_eq!(
        p.comment_link_get(&c).await.unwrap().as_deref(),
        Some("story-1")
    );
    assert_eq!(p.kv_get("events_sync").await.unwrap(), None);
    p.kv_put("events_sync", "tok1").await.unwrap();
    p.kv_put("events_sync", "tok2").await.unwrap();
    assert_eq!(
        p.kv_get("events_sync").await.unwrap().as_deref(),
        Some("tok2")
    );
}

/// import_remote creates, then updates with history, skips known comments, writes no outbox.
pub async fn import_remote(url: &str) {
    let p = open_outbox(url).await;
    let remote = RemoteTicket {
        asana_gid: "99001".into(),
        guid: None,
        subject: "From Asana".into(),
        description: "remote".into(),
        status: Status::Triaged,
        priority: Priority::Low,
        assignee: None,
        created_at: None,
        modified_at: Some(chrono::Utc::now()),
        comments: vec![RemoteComment {
            story_gid: "s1".into(),
            body: "first".into(),
            author: Some("asana user".into()),
            created_at: None,
        }],
    };
    let g = p.import_remote(remote.clone()).await.unwrap();
    let t = p.get_ticket(&g).await.unwrap();
    assert_eq!(t.ticket.status, Status::Triaged);
    assert_eq!(t.comments.len(), 1);
    let mut changed = remote.clone();
    changed.status = Status::Closed;
    changed.assignee = Some("carol".into());
    changed.comments.push(RemoteComment {
        story_gid: "s2".into(),
        body: "second".into(),
        author: None,
        created_at: None,
    });
    assert_eq!(p.import_remote(changed.clone()).await.unwrap(), g);
    assert_eq!(p.import_remote(changed).await.unwrap(), g);
    let t = p.get_ticket(&g).await.unwrap();
    assert_eq!(t.ticket.status, Status::Closed);
    assert_eq!(t.ticket.assignee.as_deref(), Some("carol"));
    assert_eq!(t.comments.len(), 2);
    let h = p.history(&g).await.unwrap();
    let fields: Vec<&str> = h.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["created", "status", "assignee"]);
    assert_eq!(h[1].old_value.as_deref(), Some("TRIAGED"));
    assert_eq!(p.outbox_counts().await.unwrap(), (0, 0));
    let link = p.sync_link_get(&g).await.unwrap().unwrap();
    assert_eq!(link.asana_gid.as_deref(), Some("99001"));
    let bad = RemoteTicket {
        subject: " ".into(),
        ..remote
    };
    assert_eq!(
        p.import_remote(bad).await.unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
}

/// Push claims: exclusive between owners (also across two pools on one database), renewable
/// by their owner, released only by it, free again once expired, and exactly one winner when
/// many owners race for one ticket.
pub async fn sync_claims(url: &str) {
    use std::time::Duration;
    let p1 = open_outbox(url).await;
    let p2 = open_outbox(url).await;
    let ttl = Duration::from_secs(60);
    let g = p1.create(NewTicket::new("claim me")).await.unwrap().guid;

    assert!(p1.sync_claim(&g, "a", ttl).await.unwrap());
    assert!(!p2.sync_claim(&g, "b", ttl).await.unwrap(), "held by a");
    assert!(p1.sync_claim(&g, "a", ttl).await.unwrap(), "a renews");
    let (holder, until) = p2.sync_claim_holder(&g).await.unwrap().expect("held");
    assert_eq!(holder, "a");
    assert!(until > chrono::Utc::now() + chrono::Duration::seconds(50));
    assert!(!p2.sync_release(&g, "b").await.unwrap(), "b holds nothing");
    assert!(!p2.sync_claim(&g, "b", ttl).await.unwrap(), "still a's");
    assert!(p1.sync_release(&g, "a").await.unwrap());
    assert!(p2.sync_claim_holder(&g).await.unwrap().is_none());
    assert!(
        p2.sync_claim(&g, "b", ttl).await.unwrap(),
        "free after release"
    );

    // An expired claim is free for anyone.
    let g2 = p1.create(NewTicket::new("expire me")).await.unwrap().guid;
    assert!(p1
        .sync_claim(&g2, "c", Duration::from_millis(50))
        .await
        .unwrap());
    assert!(!p2.sync_claim(&g2, "d", ttl).await.unwrap());
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert!(p2.sync_claim_holder(&g2).await.unwrap().is_none());
    assert!(p2.sync_claim(&g2, "d", ttl).await.unwrap(), "expired");
    assert!(!p1.sync_claim(&g2, "c", ttl).await.unwrap(), "now d's");

    // Many owners at once, on both pools: exactly one wins, each round.
    for round in 0..10 {
        let g = p1
            .create(NewTicket::new(format!("race {round}")))
            .await
            .unwrap()
            .guid;
        let mut tasks = Vec::new();
        for i in 0..12 {
            let p = if i % 2 == 0 { p1.clone() } else { p2.clone() };
            let g = g.clone();
            tasks.push(tokio::spawn(async move {
                p.sync_claim(&g, &format!("owner-{i}"), ttl).await.unwrap()
            }));
        }
        let mut winners = 0;
        for t in tasks {
            winners += usize::from(t.await.unwrap());
        }
        assert_eq!(
            winners, 1,
            "round {round}: exactly one owner gets the claim"
        );
    }

    // Bad arguments.
    let err = p1.sync_claim(&g, "", ttl).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let err = p1.sync_claim("ticket-1", "a", ttl).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

/// Retrying and discarding set-aside outbox entries.
pub async fn outbox_retry_discard(url: &str) {
    let p = open_outbox(url).await;
    let g = p
        .create(NewTicket::new("first").assignee("ann"))
        .await
        .unwrap()
        .guid;
    p.assign(&g, "bob").await.unwrap();
    let entries = p.outbox_for_ticket(&g).await.unwrap();
    let (create_id, assign_id) = (entries[0].id, entries[1].id);
    assert_eq!(entries[0].operation, "create");
    assert_eq!(entries[1].operation, "assign");

    // Only set-aside entries; unknown ids are NotFound.
    let err = p.outbox_retry(create_id).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    let err = p.outbox_discard(create_id).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    let err = p.outbox_retry(987_654_321).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let err = p.outbox_discard(987_654_321).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");

    p.outbox_set_aside(create_id, "unknown assignee")
        .await
        .unwrap();
    p.outbox_set_aside(assign_id, "refused").await.unwrap();
    assert_eq!(p.outbox_counts().await.unwrap(), (0, 2));
    // A later change: the retried entry must carry it, not the value it was written with.
    p.update(
        &g,
        TicketUpdate {
            subject: Some("second".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();

    let retried = p.outbox_retry(create_id).await.unwrap();
    assert_eq!(retried.id, create_id);
    assert_eq!(retried.set_aside_reason, None);
    assert_eq!(retried.payload["subject"], "second");
    assert_eq!(retried.payload["assignee"], "bob");
    assert_eq!(retried.payload["retried"], true);
    let stored = p.outbox_for_ticket(&g).await.unwrap();
    assert_eq!(stored[0], retried, "stored as returned");
    assert_eq!(p.outbox_counts().await.unwrap(), (2, 1));
    let err = p.outbox_retry(create_id).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "pending again");

    let discarded = p.outbox_discard(assign_id).await.unwrap();
    assert_eq!(discarded.operation, "assign");
    assert_eq!(discarded.set_aside_reason.as_deref(), Some("refused"));
    assert!(p
        .outbox_for_ticket(&g)
        .await
        .unwrap()
        .iter()
        .all(|e| e.id != assign_id));
    assert_eq!(p.outbox_counts().await.unwrap(), (2, 0));
    let err = p.outbox_discard(assign_id).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);

    let sync_rows: Vec<_> = p
        .history(&g)
        .await
        .unwrap()
        .into_iter()
        .filter(|h| h.field == "sync")
        .collect();
    assert_eq!(sync_rows.len(), 2, "{sync_rows:?}");
    assert_eq!(
        sync_rows[0].old_value.as_deref(),
        Some("set aside: unknown assignee")
    );
    assert_eq!(
        sync_rows[0].new_value.as_deref(),
        Some(format!("retried create (outbox entry {create_id})").as_str())
    );
    assert_eq!(
        sync_rows[1].new_value.as_deref(),
        Some(format!("discarded assign (outbox entry {assign_id})").as_str())
    );
}
