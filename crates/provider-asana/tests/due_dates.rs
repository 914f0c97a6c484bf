//! Due dates: a date is `due_on`, an instant is `due_at` in UTC; they round-trip through
//! create, update, clear, get and list, and `due_before` filters lists.

use crate::common;

use chrono::{DateTime, NaiveDate, Utc};
use ticket_provider_api::{
    Due, ListQuery, NewTicket, Priority, Status, TicketProvider, TicketUpdate,
};

fn date(y: i32, m: u32, d: u32) -> Due {
    Due::Date(NaiveDate::from_ymd_opt(y, m, d).unwrap())
}

fn at(text: &str) -> Due {
    text.parse().unwrap()
}

fn due_update(due: Option<Due>) -> TicketUpdate {
    TicketUpdate {
        due: Some(due),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn due_dates_round_trip_through_create_update_clear_get_and_list() {
    let fake = common::fake().await;
    let p = common::provider(&fake);

    // A date is sent as due_on and read back as the same day.
    let d = p
        .create(NewTicket::new("by christmas").due(date(2026, 12, 24)))
        .await
        .unwrap();
    let snap = common::snapshot(&fake, &d.guid);
    assert_eq!(snap.due_on.as_deref(), Some("2026-12-24"));
    assert_eq!(snap.due_at, None);
    let got = p.get_ticket(&d.guid).await.unwrap().ticket;
    assert_eq!(got.due, Some(date(2026, 12, 24)));

    // An instant given with an offset is sent as due_at in UTC and read back as that
    // instant (Asana also reports its UTC date as due_on: due_at wins).
    let input = at("2026-12-24T15:00:00.250+01:00");
    assert_eq!(
        input,
        Due::At("2026-12-24T14:00:00.250Z".parse::<DateTime<Utc>>().unwrap())
    );
    let i = p
        .create(NewTicket::new("by the afternoon").due(input))
        .await
        .unwrap();
    let snap = common::snapshot(&fake, &i.guid);
    assert_eq!(snap.due_at.as_deref(), Some("2026-12-24T14:00:00.250Z"));
    assert_eq!(snap.due_on.as_deref(), Some("2026-12-24"));
    assert_eq!(p.get_ticket(&i.guid).await.unwrap().ticket.due, Some(input));

    // No due date: none is sent, none is read.
    let n = p.create(NewTicket::new("whenever")).await.unwrap();
    let snap = common::snapshot(&fake, &n.guid);
    assert_eq!((snap.due_on, snap.due_at), (None, None));
    assert_eq!(p.get_ticket(&n.guid).await.unwrap().ticket.due, None);

    // Listing reads them too.
    let page = p.list_tickets(ListQuery::default()).await.unwrap();
    let due_of = |g: &str| page.tickets.iter().find(|t| t.guid == g).unwrap().due;
    assert_eq!(due_of(&d.guid), Some(date(2026, 12, 24)));
    assert_eq!(due_of(&i.guid), Some(input));
    assert_eq!(due_of(&n.guid), None);

    // Update: date → instant → date → cleared. Each write replaces the other kind.
    let later = at("2027-01-02T08:30:00-05:00");
    p.update(&d.guid, due_update(Some(later))).await.unwrap();
    let snap = common::snapshot(&fake, &d.guid);
    assert_eq!(snap.due_at.as_deref(), Some("2027-01-02T13:30:00.000Z"));
    assert_eq!(p.get_ticket(&d.guid).await.unwrap().ticket.due, Some(later));

    p.update(&d.guid, due_update(Some(date(2027, 1, 1))))
        .await
        .unwrap();
    let snap = common::snapshot(&fake, &d.guid);
    assert_eq!(snap.due_on.as_deref(), Some("2027-01-01"));
    assert_eq!(snap.due_at, None, "a date replaces the instant");
    assert_eq!(
        p.get_ticket(&d.guid).await.unwrap().ticket.due,
        Some(date(2027, 1, 1))
    );

    p.update(&i.guid, due_update(None)).await.unwrap();
    let snap = common::snapshot(&fake, &i.guid);
    assert_eq!((snap.due_on, snap.due_at), (None, None), "cleared");
    assert_eq!(p.get_ticket(&i.guid).await.unwrap().ticket.due, None);
    p.update(&d.guid, due_update(None)).await.unwrap();
    assert_eq!(common::snapshot(&fake, &d.guid).due_on, None);

    // Other updates leave the due date alone.
    p.update(&n.guid, due_update(Some(date(2026, 3, 1))))
        .await
        .unwrap();
    p.update(
        &n.guid,
        TicketUpdate {
            subject: Some("renamed".into()),
            priority: Some(Priority::High),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let t = p.get_ticket(&n.guid).await.unwrap().ticket;
    assert_eq!(
        (t.subject.as_str(), t.due),
        ("renamed", Some(date(2026, 3, 1)))
    );
    fake.shutdown().await;
}

/// The task-level operations of the sync provider carry the due date too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_tasks_carry_the_due_date() {
    let fake = common::fake().await;
    let p = common::provider(&fake);
    let instant = at("2026-06-30T23:59:59.999Z");
    let t = p
        .tasks()
        .create_task_with_marker(
            &NewTicket::new("marked").due(instant),
            Status::Triaged,
            "m-1",
        )
        .await
        .unwrap();
    assert_eq!(t.due, Some(instant), "the create's answer");
    assert_eq!(
        common::snapshot(&fake, &t.gid).due_at.as_deref(),
        Some("2026-06-30T23:59:59.999Z")
    );
    assert_eq!(
        p.tasks().get_remote_task(&t.gid).await.unwrap().due,
        Some(instant)
    );

    let changed = p
        .tasks()
        .set_fields(&t.gid, &due_update(Some(date(2026, 7, 1))))
        .await
        .unwrap();
    assert_eq!(changed.due, Some(date(2026, 7, 1)));
    let read = p
        .tasks()
        .get_remote_tasks(std::slice::from_ref(&t.gid))
        .await
        .unwrap();
    assert_eq!(read[&t.gid].as_ref().unwrap().due, Some(date(2026, 7, 1)));
    let listed = p.tasks().list_remote_tasks(None).await.unwrap();
    assert_eq!(
        listed.iter().find(|x| x.gid == t.gid).unwrap().due,
        Some(date(2026, 7, 1))
    );
    let cleared = p
        .tasks()
        .set_fields(&t.gid, &due_update(None))
        .await
        .unwrap();
    assert_eq!(cleared.due, None);
    assert_eq!(p.tasks().get_remote_task(&t.gid).await.unwrap().due, None);
    fake.shutdown().await;
}

/// Due dates ride in the requests the operations already make: no request more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn due_dates_cost_no_request() {
    let fake = common::fake().await;
    let p = common::provider(&fake);
    let warm = p.create(NewTicket::new("warm")).await.unwrap();
    p.update(
        &warm.guid,
        TicketUpdate {
            priority: Some(Priority::High),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    fake.clear_requests();
    let t = p
        .create(NewTicket::new("due").due(date(2026, 12, 24)))
        .await
        .unwrap();
    assert_eq!(common::calls(&fake), ["POST /tasks"], "create");
    let query = fake.requests()[0].query.clone().unwrap_or_default();
    assert!(
        query.contains("due_on") && query.contains("due_at"),
        "{query}"
    );
    fake.clear_requests();
    p.update(&t.guid, due_update(Some(at("2026-12-24T10:00:00Z"))))
        .await
        .unwrap();
    assert_eq!(
        common::calls(&fake),
        [format!("GET /tasks/{}", t.guid), "POST /batch".to_string()],
        "update"
    );
    fake.clear_requests();
    p.list_tickets(ListQuery {
        due_before: NaiveDate::from_ymd_opt(2027, 1, 1),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(common::calls(&fake).len(), 1, "list");
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn due_before_keeps_the_tickets_due_before_the_day() {
    let fake = common::fake().await;
    let p = common::provider(&fake);
    let mut expected = Vec::new();
    for (name, due, before) in [
        ("day before", Some(date(2026, 12, 23)), true),
        ("the day", Some(date(2026, 12, 24)), false),
        ("after", Some(date(2027, 1, 5)), false),
        // 23:30 UTC on the 23rd, though the 24th where it was written.
        ("late evening", Some(at("2026-12-24T00:30:00+01:00")), true),
        ("midnight UTC", Some(at("2026-12-24T00:00:00Z")), false),
        // 2026-12-24T04:30Z: the 24th in UTC.
        (
            "late in New York",
            Some(at("2026-12-23T23:30:00-05:00")),
            false,
        ),
        ("no due date", None, false),
    ] {
        let mut new = NewTicket::new(name);
        new.due = due;
        let r = p.create(new).await.unwrap();
        if before {
            expected.push(r.guid);
        }
    }
    let day = NaiveDate::from_ymd_opt(2026, 12, 24).unwrap();
    let page = p
        .list_tickets(ListQuery {
            due_before: Some(day),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut got: Vec<String> = page.tickets.iter().map(|t| t.guid.clone()).collect();
    got.sort();
    expected.sort();
    assert_eq!(got, expected);
    assert!(page.tickets.iter().all(|t| t.due.unwrap().is_before(day)));

    // With another filter and a small page: the cursor pages through the filtered list.
    let first = p
        .list_tickets(ListQuery {
            due_before: Some(day),
            status: Some(Status::New),
            limit: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(first.tickets.len(), 1);
    let rest = p
        .list_tickets(ListQuery {
            due_before: Some(day),
            status: Some(Status::New),
            cursor: first.next_cursor.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(rest.tickets.len(), 1);
    assert!(rest.next_cursor.is_none());
    assert_ne!(first.tickets[0].guid, rest.tickets[0].guid);

    let none = p
        .list_tickets(ListQuery {
            due_before: NaiveDate::from_ymd_opt(2000, 1, 1),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(none.tickets.is_empty());
    fake.shutdown().await;
}
