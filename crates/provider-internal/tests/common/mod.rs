//! Checks shared by the SQLite and PostgreSQL integration tests: each takes a database URL
//! (a fresh, empty database) and exercises one behaviour of the internal provider.

#![allow(dead_code)]

mod fields;
pub use fields::random_fields_round_trip;
mod feed;
pub use feed::{
    feed_carries_every_kind_of_change, feed_cursor_survives_reopening, feed_of_an_old_database,
    feed_resumes_from_every_cursor, watch_sees_another_handles_commits,
    watch_under_concurrent_writers_misses_nothing, FIXTURE_010,
};

use std::collections::HashSet;
use std::sync::Arc;

use provider_internal::{
    Backend, EmbeddedMigrations, InternalProvider, StoreError, StoreExtension, StoreOptions,
    StoreTx, TicketChange,
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

/// A store extension for the tests: its own table (`ext_change_log`, by its own
/// migration), one row per change its hook sees, and a hook that fails (rolling the
/// operation back) for a ticket whose subject is `refused by the hook`.
pub struct ChangeLog;

diesel::table! {
    ext_change_log (id) {
        id -> BigInt,
        ticket_guid -> Text,
        kind -> Text,
    }
}

/// The hook refuses tickets with this subject.
pub const REFUSED: &str = "refused by the hook";

/// What [`ChangeLog`]'s hook logged last, left as a note in the transaction.
#[derive(Debug, PartialEq, Eq)]
pub struct LoggedNote(pub String);

impl StoreExtension for ChangeLog {
    fn name(&self) -> &'static str {
        "change-log"
    }

    fn migrations(&self, backend: Backend) -> Option<EmbeddedMigrations> {
        const SQLITE: EmbeddedMigrations =
            diesel_migrations::embed_migrations!("tests/ext_migrations/sqlite");
        const POSTGRES: EmbeddedMigrations =
            diesel_migrations::embed_migrations!("tests/ext_migrations/postgres");
        Some(match backend {
            Backend::Sqlite => SQLITE,
            Backend::Postgres => POSTGRES,
        })
    }

    fn on_change(&self, tx: &mut StoreTx<'_>, change: &TicketChange) -> Result<(), StoreError> {
        use diesel::prelude::*;
        let kind = match change {
            TicketChange::Created { ticket } if ticket.subject == REFUSED => {
                return Err(StoreError::from(ticket_provider_api::Error::invalid_input(
                    "refused by the hook",
                )))
            }
            TicketChange::Created { ticket } => format!("created {}", ticket.subject),
            TicketChange::Updated { changes, .. } => {
                let each: Vec<String> = changes
                    .iter()
                    .map(|(f, v)| {
                        format!("{f}={}", v.display().unwrap_or_else(|| f.nothing().into()))
                    })
                    .collect();
                format!("updated {}", each.join(" "))
            }
            TicketChange::StatusSet {
                operation,
                status,
                comment,
                ..
            } => format!(
                "{} {} {:?}",
                operation.as_str(),
                status.as_str(),
                comment.as_ref().map(|c| c.body.clone())
            ),
            TicketChange::Assigned { assignee, .. } => format!("assigned {assignee}"),
            TicketChange::Commented { comment, .. } => format!("commented {}", comment.body),
        };
        diesel::insert_into(ext_change_log::table)
            .values((
                ext_change_log::ticket_guid.eq(change.guid()),
                ext_change_log::kind.eq(kind.clone()),
            ))
            .execute(tx.conn())?;
        tx.put_note(LoggedNote(kind));
        Ok(())
    }
}

/// A store with the [`ChangeLog`] extension.
pub async fn open_with_log(url: &str) -> InternalProvider {
    InternalProvider::open(
        url,
        StoreOptions {
            pool_size: None,
            extensions: vec![Arc::new(ChangeLog)],
            ..StoreOptions::default()
        },
    )
    .await
    .expect("open")
}

/// The change log's rows of a ticket, oldest first.
pub async fn change_log(p: &InternalProvider, guid: &str) -> Vec<String> {
    use diesel::prelude::*;
    let guid = guid.to_string();
    p.read(move |tx| {
        Ok(ext_change_log::table
            .filter(ext_change_log::ticket_guid.eq(guid))
            .order(ext_change_log::id.asc())
            .select(ext_change_log::kind)
            .load::<String>(tx.conn())?)
    })
    .await
    .unwrap()
}

/// The names of the database's tables.
pub async fn table_names(p: &InternalProvider) -> Vec<String> {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
    }
    p.read(|tx| {
        let sql = match tx.backend() {
            Backend::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table'",
            Backend::Postgres => {
                "SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema()"
            }
        };
        Ok(diesel::sql_query(sql)
            .load::<Name>(tx.conn())?
            .into_iter()
            .map(|n| n.name)
            .collect())
    })
    .await
    .unwrap()
}

/// The extension mechanism: an extension's migration makes its table, its hook sees every
/// local operation as a typed change inside the operation's transaction (a failing hook
/// rolls the operation back), `write` runs its statements together with a ticket change,
/// and a database used only by `internal` gets no table of anyone else.
pub async fn extension_hook_and_transactions(url: &str) {
    let plain = open(url).await;
    let tables = table_names(&plain).await;
    for t in ["data_ticket", "data_ticket_comment", "data_ticket_history"] {
        assert!(tables.contains(&t.to_string()), "{t} missing: {tables:?}");
    }
    for t in [
        "def_asana_sync",
        "data_sync_outbox",
        "sync_kv",
        "ext_change_log",
    ] {
        assert!(
            !tables.contains(&t.to_string()),
            "{t} in an internal-only database"
        );
    }
    drop(plain);

    let p = open_with_log(url).await;
    assert!(table_names(&p)
        .await
        .contains(&"ext_change_log".to_string()));
    let g = p
        .create(NewTicket::new("  Printer  ").assignee("ann"))
        .await
        .unwrap()
        .guid;
    p.update(
        &g,
        TicketUpdate {
            subject: Some("Printer".into()), // unchanged after normalising: not a change
            description: Some("tray 2".into()),
            priority: Some(Priority::High),
            due: None,
            ..TicketUpdate::default()
        },
    )
    .await
    .unwrap();
    p.update(
        &g,
        TicketUpdate {
            description: Some("tray 2".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    p.assign(&g, "ann").await.unwrap(); // the current assignee: no change
    p.assign(&g, "bob").await.unwrap();
    p.change_status(&g, Status::Triaged).await.unwrap();
    p.escalate(&g, Some("urgent")).await.unwrap();
    p.close(&g).await.unwrap();
    p.add_comment(&g, NewComment::new("done")).await.unwrap();
    assert_eq!(
        change_log(&p, &g).await,
        vec![
            "created Printer".to_string(),
            "updated description=tray 2 priority=high".to_string(),
            "assigned bob".to_string(),
            "change_status TRIAGED None".to_string(),
            "escalate ESCALATED Some(\"urgent\")".to_string(),
            "close CLOSED None".to_string(),
            "commented done".to_string(),
        ]
    );

    // A failing hook rolls the whole operation back.
    let before = p.row_counts().await.unwrap();
    let err = p.create(NewTicket::new(REFUSED)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert_eq!(p.row_counts().await.unwrap(), before);

    // An extension's statements commit with a ticket change, or not at all.
    let g2 = p
        .write(|tx| {
            let t = tx.create(&NewTicket::new("with extra"))?;
            tx.record_history(&t.guid, "note", None, Some("extra"))?;
            Ok(t.guid)
        })
        .await
        .unwrap();
    assert_eq!(
        change_log(&p, &g2).await,
        vec!["created with extra".to_string()]
    );
    // A hook's note reaches the code running the operation in the same transaction, once;
    // a second note of the same type replaces the first; notes end with the transaction.
    let (g4, notes) = p
        .write(|tx| {
            assert_eq!(tx.take_note::<LoggedNote>(), None);
            let t = tx.create(&NewTicket::new("noted"))?;
            tx.add_comment(&t.guid, &NewComment::new("hello"))?;
            let first = tx.take_note::<LoggedNote>();
            let again = tx.take_note::<LoggedNote>();
            tx.put_note(7u32);
            Ok((t.guid, (first, again, tx.take_note::<u32>())))
        })
        .await
        .unwrap();
    assert_eq!(
        notes,
        (Some(LoggedNote("commented hello".into())), None, Some(7))
    );
    let left = p
        .write(move |tx| {
            tx.set_status(
                &g4,
                Status::Triaged,
                provider_internal::StatusOperation::ChangeStatus,
                None,
            )?;
            Ok(tx.take_note::<u32>())
        })
        .await
        .unwrap();
    assert_eq!(left, None, "a note outlived its transaction");
    assert_eq!(p.history(&g2).await.unwrap().len(), 2);
    let before = p.row_counts().await.unwrap();
    let err = p
        .write(|tx| {
            tx.create(&NewTicket::new("rolled back"))?;
            Err::<(), _>(StoreError::from(ticket_provider_api::Error::internal(
                "stop",
            )))
        })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("stop"), "{err}");
    assert_eq!(p.row_counts().await.unwrap(), before);

    // Writes from elsewhere record history but call no hook.
    use ticket_provider_api::{TicketField as F, TicketValue as V};
    let values: provider_internal::TicketValues = [
        (F::Subject, V::Text("From elsewhere".into())),
        (F::Status, V::Status(Status::OnHold)),
        (F::Priority, V::Priority(Priority::Low)),
        (F::Due, V::Due(Some("2026-12-24".parse().unwrap()))),
    ]
    .into_iter()
    .collect();
    let mut lacking = values.clone();
    lacking.remove(&F::Status);
    let err = p
        .write(move |tx| tx.insert_ticket(None, &lacking, None))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("status"), "{err}");
    let g3 = p
        .write(move |tx| tx.insert_ticket(None, &values, None))
        .await
        .unwrap();
    assert!(change_log(&p, &g3).await.is_empty());
    let t = p.get_ticket(&g3).await.unwrap().ticket;
    assert_eq!(t.status, Status::OnHold);
    assert_eq!(t.subject, "From elsewhere");
    assert_eq!(t.description, "", "a field not given is empty");
    assert_eq!(t.due, Some("2026-12-24".parse().unwrap()));
    // A read transaction refuses writes.
    let err = p
        .read(|tx| tx.create(&NewTicket::new("in a read")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Internal, "{err}");
}

/// Every ticket operation of a transaction returns the ticket exactly as it is now stored
/// (an extension prepares its work from it without reading the row again).
pub async fn transaction_operations_return_the_stored_ticket(url: &str) {
    use provider_internal::StatusOperation;
    let p = open_with_log(url).await;
    let checked = p
        .write(|tx| {
            let mut seen = Vec::new();
            let mut check = |tx: &mut StoreTx<'_>, what: &str, t: ticket_provider_api::Ticket| {
                let stored = tx.ticket(&t.guid)?.expect("the ticket");
                assert_eq!(t, stored, "{what}");
                seen.push(what.to_string());
                Ok::<_, StoreError>(t.guid)
            };
            let new = NewTicket::new("  spaced  ")
                .assignee(" ann ")
                .due("2026-12-24".parse().unwrap());
            let t = tx.create(&new)?;
            let g = check(tx, "create", t)?;
            let changes = TicketUpdate {
                subject: Some("Subject".into()),
                description: Some("body".into()),
                priority: Some(Priority::High),
                due: Some(None),
                ..TicketUpdate::default()
            };
            {
                let t = tx.update(&g, &changes)?;
                check(tx, "update", t)?;
            }
            {
                let t = tx.update(&g, &changes)?;
                check(tx, "update, nothing changed", t)?;
            }
            {
                let t = tx.assign(&g, "bob")?;
                check(tx, "assign", t)?;
            }
            {
                let t = tx.assign(&g, "bob")?;
                check(tx, "assign, the same", t)?;
            }
            let (t, _) = tx.set_status(&g, Status::Triaged, StatusOperation::ChangeStatus, None)?;
            check(tx, "change_status", t)?;
            let (t, _) = tx.set_status(
                &g,
                Status::Escalated,
                StatusOperation::Escalate,
                Some("why"),
            )?;
            check(tx, "escalate with a reason", t)?;
            let (t, _) = tx.add_comment(&g, &NewComment::new("hello"))?;
            check(tx, "add_comment", t)?;
            Ok(seen.len())
        })
        .await
        .unwrap();
    assert_eq!(checked, 8);
}

/// Due dates: a date stays the same day, an instant is kept as UTC, both can be changed and
/// cleared with a history row each, `due_before` filters, and values survive reopening.
pub async fn due_dates(url: &str) {
    use ticket_provider_api::Due;
    let p = open_with_log(url).await;
    let day: Due = "2026-12-24".parse().unwrap();
    let at: Due = "2026-12-24T15:00:00+01:00".parse().unwrap();
    let a = p
        .create(NewTicket::new("dated").due(day))
        .await
        .unwrap()
        .guid;
    let b = p.create(NewTicket::new("undated")).await.unwrap().guid;
    assert_eq!(p.get_ticket(&a).await.unwrap().ticket.due, Some(day));
    assert_eq!(p.get_ticket(&b).await.unwrap().ticket.due, None);
    let set = |due| TicketUpdate {
        due: Some(due),
        ..TicketUpdate::default()
    };
    p.update(&b, set(Some(at))).await.unwrap();
    let t = p.get_ticket(&b).await.unwrap().ticket;
    assert_eq!(
        t.due.map(|d| d.to_string()).as_deref(),
        Some("2026-12-24T14:00:00Z")
    );
    p.update(&b, set(Some(at))).await.unwrap(); // the same value: no change
    p.update(&a, set(None)).await.unwrap();
    assert_eq!(p.get_ticket(&a).await.unwrap().ticket.due, None);
    let rows: Vec<(Option<String>, Option<String>)> = p
        .history(&a)
        .await
        .unwrap()
        .into_iter()
        .filter(|h| h.field == "due")
        .map(|h| (h.old_value, h.new_value))
        .collect();
    assert_eq!(rows, vec![(Some("2026-12-24".to_string()), None)]);
    assert_eq!(
        change_log(&p, &b).await,
        vec![
            "created undated".to_string(),
            "updated due=2026-12-24T14:00:00Z".to_string()
        ]
    );
    // due_before: dates before the day, instants before its start in UTC.
    let c = p
        .create(NewTicket::new("early").due("2026-12-23".parse().unwrap()))
        .await
        .unwrap()
        .guid;
    let d = p
        .create(NewTicket::new("late evening").due("2026-12-24T00:30:00+01:00".parse().unwrap()))
        .await
        .unwrap()
        .guid;
    let q = |day: &str| ListQuery {
        due_before: Some(day.parse().unwrap()),
        ..ListQuery::default()
    };
    let found: HashSet<String> = p
        .list_tickets(q("2026-12-24"))
        .await
        .unwrap()
        .tickets
        .into_iter()
        .map(|t| t.guid)
        .collect();
    assert_eq!(found, HashSet::from([c.clone(), d.clone()]));
    let found: HashSet<String> = p
        .list_tickets(q("2026-12-25"))
        .await
        .unwrap()
        .tickets
        .into_iter()
        .map(|t| t.guid)
        .collect();
    assert_eq!(found, HashSet::from([b.clone(), c.clone(), d.clone()]));
    drop(p);
    let again = open(url).await;
    assert_eq!(again.get_ticket(&b).await.unwrap().ticket.due, Some(at));
    assert_eq!(
        again.get_ticket(&c).await.unwrap().ticket.due,
        "2026-12-23".parse().ok()
    );
}

/// The shared behaviour suite.
pub async fn behaviour_suite(url: &str) {
    let p = InternalProvider::open(
        url,
        StoreOptions {
            fields: ticket_provider_testkit::suite_fields(),
            ..StoreOptions::default()
        },
    )
    .await
    .expect("open");
    let mut opts = SuiteOptions::new("internal");
    opts.fields = true;
    run_all(Arc::new(p), &opts).await;
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
            ("comment", None, c.comment_guid.as_deref()),
            ("status", Some("IN_PROGRESS"), Some("ESCALATED")),
            ("comment", None, Some(esc_comment.as_str())),
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
    let p = open_with_log(url).await;
    let g = p.create(NewTicket::new("ok")).await.unwrap().guid;
    let before = p.row_counts().await.unwrap();
    let log_before = change_log(&p, &g).await;
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
    assert_eq!(change_log(&p, &g).await, log_before);
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
    // + a row per comment
    assert_eq!(
        counts[2] as usize,
        1 + status_changes + other_history + all_comments.len()
    );
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

/// A get is one consistent read of the ticket and its comments. Two callers add comments to
/// one ticket (each comment sets the ticket's `updated_at` to its own `created_at`, in one
/// transaction) while two others read it: every `get_ticket` must show the ticket as of its
/// newest comment, never a ticket row older than the comments read with it. Two reads in one
/// [`InternalProvider::read`] see the same moment too.
pub async fn get_is_one_consistent_read(url: &str) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let p = open(url).await;
    let g = p
        .create(NewTicket::new("read while written"))
        .await
        .unwrap()
        .guid;
    p.add_comment(&g, NewComment::new("first")).await.unwrap();
    let writing = Arc::new(AtomicBool::new(true));
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let (p, g) = (p.clone(), g.clone());
            tokio::spawn(async move {
                for i in 0..150 {
                    p.add_comment(&g, NewComment::new(format!("writer {w} #{i}")))
                        .await
                        .expect("comment");
                }
            })
        })
        .collect();
    let readers: Vec<_> = (0..2)
        .map(|r| {
            let (p, g, writing) = (p.clone(), g.clone(), Arc::clone(&writing));
            tokio::spawn(async move {
                let mut reads = 0usize;
                while writing.load(Ordering::Relaxed) || reads < 20 {
                    let t = p.get_ticket(&g).await.expect("get");
                    let newest = t.comments.last().expect("a comment").created_at;
                    assert_eq!(
                        t.ticket.updated_at,
                        newest,
                        "get {reads} returned the ticket and its {} comments from different moments",
                        t.comments.len()
                    );
                    if r == 1 {
                        let guid = g.clone();
                        let (row, details) = p
                            .read(move |tx| Ok((tx.ticket(&guid)?, tx.details(&guid)?)))
                            .await
                            .expect("read");
                        assert_eq!(row.as_ref(), Some(&details.ticket), "two reads, two moments");
                    }
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    for w in writers {
        w.await.expect("writer");
    }
    writing.store(false, Ordering::Relaxed);
    for r in readers {
        assert!(r.await.expect("reader") >= 20);
    }
    assert_eq!(p.get_ticket(&g).await.unwrap().comments.len(), 301);
}
