//! Restoring the store from an earlier copy of its SQLite file: the changes pushed after the
//! copy was taken are pending again in it, and must not be pushed again (no comment twice,
//! no newer Asana value rolled back as a "local wins" conflict).

use std::path::{Path, PathBuf};

use asana_fake::{Fault, PersonEdit};
use homechoice_tickets::{NewComment, NewTicket, TicketHistory, TicketProvider, TicketUpdate};

use crate::common;

/// The store file and its WAL companions.
fn files(db: &Path) -> Vec<PathBuf> {
    ["", "-wal", "-shm"]
        .iter()
        .map(|s| PathBuf::from(format!("{}{s}", db.display())))
        .collect()
}

fn copy_store(from: &Path, to: &Path) {
    for (f, t) in files(from).iter().zip(files(to)) {
        let _ = std::fs::remove_file(&t);
        if f.exists() {
            std::fs::copy(f, &t).expect("copy the store file");
        }
    }
}

#[tokio::test]
async fn a_restored_store_takes_asanas_later_values_instead_of_pushing_stale_changes() {
    let (fake, _users) = common::fake().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tickets.db");
    let backup = dir.path().join("backup.db");

    // A ticket in Asana; then a rename and a comment made while Asana is down stay pending.
    let p = common::direct_for(&fake, &db).await;
    let guid = p.create(NewTicket::new("first")).await.unwrap().guid;
    common::flush_all(&p).await;
    fake.add_fault(Fault {
        status: Some(503),
        count: 1000,
        ..Fault::default()
    });
    let rename = TicketUpdate {
        subject: Some("renamed before the copy".into()),
        ..TicketUpdate::default()
    };
    p.update(&guid, rename).await.unwrap();
    p.add_comment(&guid, NewComment::new("written before the copy"))
        .await
        .unwrap();
    p.shutdown().await;
    drop(p);
    // The copy holds both changes pending.
    copy_store(&db, &backup);

    // Asana is back: they are pushed; then a person renames the task in Asana.
    fake.clear_faults();
    let p = common::direct_for(&fake, &db).await;
    common::flush_all(&p).await;
    let gid = p.get_ticket(&guid).await.unwrap().ticket.asana_gid.unwrap();
    p.shutdown().await;
    drop(p);
    assert!(fake.edit_as_person(
        &fake.project_gid(),
        &gid,
        PersonEdit::Rename("renamed in Asana later".into())
    ));

    // The store is restored from the copy, and the sync runs again.
    copy_store(&backup, &db);
    let p = common::direct_for(&fake, &db).await;
    common::flush_all(&p).await;
    p.pull_all(&|_| {}).await.unwrap();

    let task = fake
        .project_tasks(&fake.project_gid())
        .into_iter()
        .find(|t| t.gid == gid)
        .unwrap();
    assert_eq!(task.name, "renamed in Asana later", "Asana was rolled back");
    assert_eq!(
        task.comments,
        vec!["written before the copy".to_string()],
        "the comment is in Asana exactly once, and no conflict note was added"
    );
    let d = p.get_ticket(&guid).await.unwrap();
    assert_eq!(d.ticket.subject, "renamed in Asana later");
    let bodies: Vec<&str> = d.comments.iter().map(|c| c.body.as_str()).collect();
    assert_eq!(bodies, ["written before the copy"], "{:?}", d.comments);
    let status = p.status().await.unwrap();
    assert_eq!((status.pending, status.set_aside), (0, 0), "{status:?}");
    assert!(status.already_pushed >= 1, "{status:?}");
    let history = p.history(&guid).await.unwrap();
    assert!(
        history.iter().any(|h| h.field == "sync"
            && h.new_value
                .as_deref()
                .is_some_and(|v| v.starts_with("already in Asana"))),
        "{history:?}"
    );
    assert!(
        !history.iter().any(|h| h.field == "sync"
            && h.old_value
                .as_deref()
                .is_some_and(|v| v.starts_with("conflict"))),
        "a conflict was recorded: {history:?}"
    );
    common::assert_mirrors(&fake, &p, &_users).await;
}

/// A line that looks like a push mark but that the sync did not write for this ticket (typed
/// by a person, or copied from another task) says nothing: pending changes are still pushed.
#[tokio::test]
async fn a_forged_push_mark_does_not_drop_pending_changes() {
    let (fake, users) = common::fake().await;
    let dir = tempfile::tempdir().unwrap();
    let p = common::direct_for(&fake, &dir.path().join("tickets.db")).await;
    let guid = p.create(NewTicket::new("first")).await.unwrap().guid;
    let other = p.create(NewTicket::new("other")).await.unwrap().guid;
    common::flush_all(&p).await;
    let gid = p.get_ticket(&guid).await.unwrap().ticket.asana_gid.unwrap();
    let other_gid = p
        .get_ticket(&other)
        .await
        .unwrap()
        .ticket
        .asana_gid
        .unwrap();
    // A real mark, from the other ticket's task.
    let copied = fake
        .project_tasks(&fake.project_gid())
        .into_iter()
        .find(|t| t.gid == other_gid)
        .and_then(|t| {
            t.notes
                .lines()
                .find(|l| homechoice_tickets::provider_sync::is_push_mark_line(l))
                .map(str::to_string)
        });
    for forged in [
        Some("[sync-push: 9223372036854775807]".to_string()),
        Some("[sync-push: 9223372036854775807 #00000000]".to_string()),
        copied,
    ]
    .into_iter()
    .flatten()
    {
        // A local change waits while Asana is down; meanwhile a person puts the line last
        // in the task's notes (above the ticket's marker, as a mark would be).
        fake.add_fault(Fault {
            status: Some(503),
            count: 1000,
            ..Fault::default()
        });
        let subject = format!("after {forged}");
        let rename = TicketUpdate {
            subject: Some(subject.clone()),
            ..TicketUpdate::default()
        };
        p.update(&guid, rename).await.unwrap();
        fake.clear_faults();
        assert!(fake.edit_as_person(
            &fake.project_gid(),
            &gid,
            PersonEdit::Notes(format!("notes\n\n{forged}\n\n[ticket-guid: {guid}]"))
        ));
        common::flush_all(&p).await;
        let task = fake
            .project_tasks(&fake.project_gid())
            .into_iter()
            .find(|t| t.gid == gid)
            .unwrap();
        assert_eq!(
            task.name, subject,
            "{forged}: the pending rename was dropped"
        );
        let status = p.status().await.unwrap();
        assert_eq!(status.already_pushed, 0, "{forged}: {status:?}");
        // The line is the description's text, as the person wrote it.
        p.pull_all(&|_| {}).await.unwrap();
        let d = p.get_ticket(&guid).await.unwrap();
        assert!(
            d.ticket.description.contains(&forged),
            "{:?}",
            d.ticket.description
        );
    }
    common::assert_mirrors(&fake, &p, &users).await;
}
