//! Set-aside outbox entries: retried by hand once the cause is fixed (the retried change
//! reaches Asana with the ticket's current values), or discarded.

use crate::common;

use homechoice_tickets::{ErrorKind, NewTicket, TicketProvider, TicketUpdate};

const CAROL: &str = "carol@example.com";
const DAVE: &str = "dave@example.com";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_aside_entries_can_be_retried_or_discarded() {
    let (fake, mut users) = common::fake().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let p = common::direct_for(&fake, &dir.path().join("t.db")).await;

    // Asana knows neither Carol nor Dave: both tasks are created unassigned and the creates
    // are set aside.
    let carol = p
        .create(NewTicket::new("for carol").assignee(CAROL))
        .await
        .expect("create")
        .guid;
    let dave = p
        .create(NewTicket::new("for dave").assignee(DAVE))
        .await
        .expect("create")
        .guid;
    common::flush_all(&p).await;
    let status = p.status().await.expect("status");
    assert_eq!(status.set_aside, 2, "{status:?}");
    let id_of = |guid: &str| {
        status
            .set_aside_entries
            .iter()
            .find(|e| e.ticket_guid == guid)
            .map(|e| e.id)
            .expect("set aside")
    };
    let (carol_id, dave_id) = (id_of(&carol), id_of(&dave));

    // A later change pushed meanwhile must survive the retry.
    p.update(
        &carol,
        TicketUpdate {
            subject: Some("for carol, renamed".into()),
            ..TicketUpdate::default()
        },
    )
    .await
    .expect("update");

    // Carol joins Asana; the retried create assigns her.
    users.insert(fake.add_user("Carol Example", CAROL), CAROL.to_string());
    p.retry_set_aside(carol_id).await.expect("retry");
    // Dave's change is dropped: it stays local only.
    p.discard_set_aside(dave_id).await.expect("discard");
    common::flush_all(&p).await;
    let status = p.status().await.expect("status");
    assert_eq!((status.pending, status.set_aside), (0, 0), "{status:?}");

    let task_of = |guid: &str| {
        fake.project_tasks(&fake.project_gid())
            .into_iter()
            .find(|t| common::split_notes(&t.notes).1.as_deref() == Some(guid))
            .expect("task")
    };
    let t = task_of(&carol);
    assert_eq!(t.name, "for carol, renamed");
    assert_eq!(
        t.assignee_gid
            .as_ref()
            .and_then(|g| users.get(g))
            .map(String::as_str),
        Some(CAROL)
    );
    assert_eq!(task_of(&dave).assignee_gid, None, "discarded: not pushed");

    for (guid, id, verb) in [(&carol, carol_id, "retried"), (&dave, dave_id, "discarded")] {
        let rows: Vec<_> = p
            .local()
            .history(guid)
            .await
            .expect("history")
            .into_iter()
            .filter(|h| h.field == "sync")
            .collect();
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(
            rows[0].new_value.as_deref(),
            Some(format!("{verb} create (outbox entry {id})").as_str())
        );
    }

    // Unknown ids, and entries no longer set aside.
    for id in [carol_id, dave_id, 987_654_321] {
        assert_eq!(
            p.retry_set_aside(id).await.expect_err("retry").kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            p.discard_set_aside(id).await.expect_err("discard").kind(),
            ErrorKind::NotFound
        );
    }
}
