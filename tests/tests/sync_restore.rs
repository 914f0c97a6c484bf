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
