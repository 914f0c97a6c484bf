//! The change feed (`TicketChanges`): what each change carries, resuming from any cursor,
//! cursors across reopening, and `watch` noticing another store handle's commits.

use std::time::Duration;

use futures::StreamExt;
use provider_internal::{InternalProvider, StoreOptions, TicketValues};
use ticket_provider_api::{
    Change, ChangeCursor, ChangeKind, ChangeOrigin, ErrorKind, FieldSchema, FieldType, FieldValue,
    NewComment, NewTicket, Status, TicketChanges, TicketField, TicketProvider, TicketUpdate,
    TicketValue,
};

/// A store whose tickets carry the custom field `customer` (text).
pub async fn open_with_fields(url: &str) -> InternalProvider {
    InternalProvider::open(
        url,
        StoreOptions {
            fields: FieldSchema::new([("customer".to_string(), FieldType::Text)]).unwrap(),
            ..Default::default()
        },
    )
    .await
    .expect("open")
}

/// Every change of the feed from the start, read in pages of `page`.
pub async fn all_changes(
    p: &dyn TicketChanges,
    since: Option<ChangeCursor>,
    page: usize,
) -> Vec<Change> {
    let mut out = Vec::new();
    let mut cursor = since;
    loop {
        let got = p.changes(cursor, page).await.expect("changes");
        assert!(got.changes.len() <= page);
        if got.changes.is_empty() {
            assert_eq!(got.cursor, cursor.unwrap_or(ChangeCursor::START));
            return out;
        }
        assert_eq!(got.cursor, got.changes.last().unwrap().cursor);
        cursor = Some(got.cursor);
        out.extend(got.changes);
    }
}

fn s(t: &str) -> Option<String> {
    Some(t.to_string())
}

/// Create, update (subject, a custom field, labels), status, assign, comment and an
/// escalation with a reason each show in the feed with their old and new values, in commit
/// order, as local changes; writes that say another origin carry it.
pub async fn feed_carries_every_kind_of_change(url: &str) {
    let p = open_with_fields(url).await;
    let mut new = NewTicket::new("Printer jammed");
    new.labels = ["later".to_string()].into();
    let g = p.create(new).await.unwrap().guid;
    p.update(
        &g,
        TicketUpdate {
            subject: Some("Printer jammed again".into()),
            fields: [(
                "customer".to_string(),
                Some(FieldValue::Text("ACME".into())),
            )]
            .into(),
            add_labels: ["vip".to_string()].into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    p.change_status(&g, Status::InProgress).await.unwrap();
    p.assign(&g, "alice@example.com").await.unwrap();
    let c = p
        .add_comment(&g, NewComment::new("looking").author("bob"))
        .await
        .unwrap()
        .comment_guid
        .unwrap();
    let e = p
        .escalate(&g, Some("needs a technician"))
        .await
        .unwrap()
        .comment_guid
        .unwrap();
    // Values another system holds, written with their origin; then a local write again in
    // the same transaction, after `with_origin` set it back.
    let g2 = g.clone();
    p.write(move |tx| {
        let mut v = TicketValues::new();
        v.insert(TicketField::Subject, TicketValue::Text("From Asana".into()));
        tx.set_origin(ChangeOrigin::Pulled {
            asana_user: s("1201"),
        });
        tx.apply_values(&g2, &v)?;
        tx.with_origin(ChangeOrigin::Conflict, |tx| {
            tx.record_history(&g2, "sync", Some("a"), Some("b"))
        })?;
        assert_eq!(
            tx.origin(),
            &ChangeOrigin::Pulled {
                asana_user: s("1201")
            }
        );
        tx.set_origin(ChangeOrigin::Maintenance);
        tx.record_history(&g2, "sync", None, Some("relinked"))?;
        Ok(())
    })
    .await
    .unwrap();

    let feed = p
        .extensions()
        .get::<dyn TicketChanges>()
        .expect("internal offers the change feed");
    assert!(p
        .info()
        .capabilities
        .contains(ticket_provider_api::Capability::Changes));
    let changes = all_changes(&*feed, None, 1000).await;
    let got: Vec<(ChangeKind, ChangeOrigin)> = changes
        .iter()
        .map(|c| (c.what.clone(), c.origin.clone()))
        .collect();
    let field = |f: TicketField, old: Option<&str>, new: Option<&str>| ChangeKind::Field {
        field: f,
        old: old.map(str::to_string),
        new: new.map(str::to_string),
    };
    let local = ChangeOrigin::Local;
    assert_eq!(
        got,
        vec![
            (
                ChangeKind::Created {
                    status: Status::New
                },
                local.clone()
            ),
            (
                field(
                    TicketField::Subject,
                    Some("Printer jammed"),
                    Some("Printer jammed again")
                ),
                local.clone()
            ),
            (
                field(TicketField::Custom("customer".into()), None, Some("ACME")),
                local.clone()
            ),
            (
                ChangeKind::Labels {
                    old: vec!["later".into()],
                    new: vec!["later".into(), "vip".into()]
                },
                local.clone()
            ),
            (
                field(TicketField::Status, Some("NEW"), Some("IN_PROGRESS")),
                local.clone()
            ),
            (
                field(TicketField::Assignee, None, Some("alice@example.com")),
                local.clone()
            ),
            (
                ChangeKind::CommentAdded {
                    comment_guid: c,
                    author: s("bob"),
                    body: "looking".into()
                },
                local.clone()
            ),
            (
                field(TicketField::Status, Some("IN_PROGRESS"), Some("ESCALATED")),
                local.clone()
            ),
            (
                ChangeKind::CommentAdded {
                    comment_guid: e,
                    author: None,
                    body: "needs a technician".into()
                },
                local.clone()
            ),
            (
                field(
                    TicketField::Subject,
                    Some("Printer jammed again"),
                    Some("From Asana")
                ),
                ChangeOrigin::Pulled {
                    asana_user: s("1201")
                }
            ),
            (
                ChangeKind::SyncNote {
                    before: s("a"),
                    after: s("b")
                },
                ChangeOrigin::Conflict
            ),
            (
                ChangeKind::SyncNote {
                    before: None,
                    after: s("relinked")
                },
                ChangeOrigin::Maintenance
            ),
        ]
    );
    assert!(changes.iter().all(|c| c.guid == g));
    assert!(changes
        .windows(2)
        .all(|w| w[0].cursor < w[1].cursor && w[0].at <= w[1].at));
    let ids: std::collections::HashSet<i64> = changes.iter().map(|c| c.id).collect();
    assert_eq!(ids.len(), changes.len(), "ids are distinct");
    // A change reads the same every time (its id and content are stable).
    assert_eq!(all_changes(&*feed, None, 3).await, changes);
    // Bad limits are refused and name the limit.
    for bad in [0, 1001] {
        let err = feed.changes(None, bad).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().contains(&bad.to_string()), "{err}");
    }
}

/// A small history of several tickets.
async fn make_history(p: &InternalProvider, n: usize) {
    let mut guids = Vec::new();
    for i in 0..n {
        match i % 4 {
            0 => guids.push(
                p.create(NewTicket::new(format!("t{i}")))
                    .await
                    .unwrap()
                    .guid,
            ),
            1 => {
                p.change_status(guids.last().unwrap(), Status::Triaged)
                    .await
                    .unwrap();
            }
            2 => {
                p.add_comment(&guids[i % guids.len()], NewComment::new(format!("c{i}")))
                    .await
                    .unwrap();
            }
            _ => {
                p.assign(&guids[0], &format!("u{i}")).await.unwrap();
            }
        }
    }
}

/// A reader that stops anywhere and resumes from the cursor it had misses nothing and sees
/// nothing twice: from every cursor the feed handed out (the start, each page's, each
/// change's), in pages of every size, the rest of the feed reads exactly.
pub async fn feed_resumes_from_every_cursor(url: &str) {
    let p = open_with_fields(url).await;
    make_history(&p, 14).await;
    let full = all_changes(&p, None, 1000).await;
    assert_eq!(full.len(), 14);
    let mut starts = vec![None];
    starts.extend(full.iter().map(|c| Some(c.cursor)));
    for (k, since) in starts.iter().enumerate() {
        for page in [1, 2, 3, 5, 14] {
            // Through the cursor's text, as a reader that saved it would.
            let since = since.map(|c| c.to_string().parse::<ChangeCursor>().unwrap());
            let rest = all_changes(&p, since, page).await;
            assert_eq!(rest, full[k..], "from cursor #{k} in pages of {page}");
        }
    }
}

/// A cursor taken before the store was closed resumes after reopening (a restart), and
/// changes made meanwhile by another handle follow.
pub async fn feed_cursor_survives_reopening(url: &str) {
    let p = open_with_fields(url).await;
    make_history(&p, 6).await;
    let page = p.changes(None, 4).await.unwrap();
    let saved = page.cursor.to_string();
    drop(p);
    let other = open_with_fields(url).await;
    let g = other.create(NewTicket::new("later")).await.unwrap().guid;
    drop(other);
    let p = open_with_fields(url).await;
    let rest = all_changes(&p, Some(saved.parse().unwrap()), 2).await;
    assert_eq!(rest.len(), 3, "{rest:?}");
    assert_eq!(rest[2].guid, g);
    assert_eq!(
        rest[2].what,
        ChangeKind::Created {
            status: Status::New
        }
    );
}

/// The next item of a change stream, within 10 s.
async fn next(s: &mut ticket_provider_api::ChangeStream) -> Change {
    tokio::time::timeout(Duration::from_secs(10), s.next())
        .await
        .expect("a change within 10 s")
        .expect("the stream goes on")
        .expect("no error")
}

/// `watch` hands out what was there, then what another store handle (as another process
/// would) commits, in order, each once, and a burst larger than one read.
pub async fn watch_sees_another_handles_commits(url: &str) {
    let a = open_with_fields(url).await;
    let b = open_with_fields(url).await;
    let first = b.create(NewTicket::new("before")).await.unwrap().guid;
    let mut stream = TicketChanges::watch(&a, None).await.unwrap();
    assert_eq!(next(&mut stream).await.guid, first);
    // Caught up: the stream waits; another handle's commit wakes it.
    let second = b.create(NewTicket::new("after")).await.unwrap().guid;
    let c = next(&mut stream).await;
    assert_eq!(
        (c.guid.as_str(), &c.what),
        (
            second.as_str(),
            &ChangeKind::Created {
                status: Status::New
            }
        )
    );
    // This handle's own commit too.
    a.change_status(&second, Status::OnHold).await.unwrap();
    assert_eq!(next(&mut stream).await.guid, second);
    // A burst of more than one read (the watcher reads 256 at a time).
    for i in 0..300 {
        b.assign(&first, &format!("user{i}")).await.unwrap();
    }
    let mut last = c.cursor;
    for i in 0..300 {
        let c = next(&mut stream).await;
        assert!(c.cursor > last);
        last = c.cursor;
        match &c.what {
            ChangeKind::Field {
                field: TicketField::Assignee,
                new,
                ..
            } => assert_eq!(new.as_deref(), Some(format!("user{i}").as_str())),
            other => panic!("#{i}: {other:?}"),
        }
    }
    // Resuming a watch from a change's cursor starts right after it.
    let mut again = TicketChanges::watch(&a, Some(c.cursor)).await.unwrap();
    let c2 = next(&mut again).await;
    assert_eq!(
        c2.what,
        ChangeKind::Field {
            field: TicketField::Status,
            old: s("NEW"),
            new: s("ON_HOLD"),
        }
    );
}

/// The fixture folder of release 0.1.0's databases (in the workspace's `tests` crate).
pub static FIXTURE_010: std::sync::LazyLock<std::path::PathBuf> = std::sync::LazyLock::new(|| {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/upgrade-0.1.0")
});

/// A store written before the feed existed: every history row reads as a local change, in id
/// order, with the id as its position (so a cursor built from an old row's id is one the feed
/// would have handed out); a change made now follows all of them.
pub async fn feed_of_an_old_database(url: &str) {
    let p = open_with_fields(url).await;
    let [tickets, _, rows] = p.row_counts().await.unwrap();
    assert!(tickets > 0 && rows > 2, "the fixture holds history");
    let full = all_changes(&p, None, 7).await;
    assert_eq!(full.len() as i64, rows);
    assert!(full.iter().all(|c| c.origin == ChangeOrigin::Local));
    assert!(full.windows(2).all(|w| w[0].id < w[1].id));
    assert!(full.iter().all(|c| c.cursor.position() == c.id as u64));
    let mid = &full[full.len() / 2];
    let from_old_id = format!("c1-{}", mid.id).parse::<ChangeCursor>().unwrap();
    assert_eq!(
        all_changes(&p, Some(from_old_id), 5).await,
        full[full.len() / 2 + 1..]
    );
    let g = p
        .create(NewTicket::new("after the upgrade"))
        .await
        .unwrap()
        .guid;
    let last = all_changes(&p, Some(full.last().unwrap().cursor), 10).await;
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].guid, g);
}

/// A watcher following four writers that commit at once hands out every change exactly once
/// (by id), each ticket's changes in the order they were made, and the same sequence a page
/// read gives afterwards.
pub async fn watch_under_concurrent_writers_misses_nothing(url: &str) {
    const WRITERS: usize = 4;
    const EACH: usize = 60;
    let p = open_with_fields(url).await;
    let start = p.changes(None, 1000).await.unwrap().cursor;
    let mut stream = TicketChanges::watch(&p, Some(start)).await.unwrap();
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        // A handle of its own per writer, as separate processes would be.
        let writer = open_with_fields(url).await;
        tasks.push(tokio::spawn(async move {
            let g = writer
                .create(NewTicket::new(format!("w{w}")))
                .await
                .unwrap()
                .guid;
            for i in 1..EACH {
                writer.assign(&g, &format!("w{w}-{i}")).await.unwrap();
            }
        }));
    }
    let mut got = Vec::new();
    while got.len() < WRITERS * EACH {
        got.push(next(&mut stream).await);
    }
    for t in tasks {
        t.await.unwrap();
    }
    let ids: std::collections::HashSet<i64> = got.iter().map(|c| c.id).collect();
    assert_eq!(ids.len(), got.len(), "a change came twice");
    assert!(got.windows(2).all(|w| w[0].cursor < w[1].cursor));
    for w in 0..WRITERS {
        let mine: Vec<String> = got
            .iter()
            .filter_map(|c| match &c.what {
                ChangeKind::Field { new: Some(v), .. } if v.starts_with(&format!("w{w}-")) => {
                    Some(v.clone())
                }
                _ => None,
            })
            .collect();
        let want: Vec<String> = (1..EACH).map(|i| format!("w{w}-{i}")).collect();
        assert_eq!(mine, want, "writer {w}");
    }
    assert_eq!(all_changes(&p, Some(start), 37).await, got);
}
