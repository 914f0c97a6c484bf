//! Upgrade without loss: a database written by release 0.1.0 (`fixtures/upgrade-0.1.0`, made
//! by that release's `ticket` binary with `generate.sh`; `expected.json` records what it
//! holds) opens with this version and keeps its tickets, comments, history, links, pending
//! and set-aside changes; they flush afterwards and Asana ends up equal to the store.
//!
//! On SQLite (the fixture file), and on PostgreSQL (the fixture dump replayed into a new
//! database) when `TICKET_TEST_POSTGRES_URL` names a server.

use crate::common;

use std::path::PathBuf;
use std::time::Duration;

use asana_fake::FakeAsana;
use homechoice_tickets::provider_sync::{Change, LinkState, SyncProvider};
use homechoice_tickets::{NewTicket, Priority, Status, TicketField, TicketHistory, TicketValue};
use serde_json::Value;

/// The databases kept for upgrade tests.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fixture {
    /// Written by release 0.1.0: agreed values and push times in `sync_kv`.
    Release010,
    /// Written by the last build before custom fields (commit a0c37b3): typed link columns,
    /// no `data_ticket_value` table yet.
    PreFields,
}

impl Fixture {
    fn dir(self) -> PathBuf {
        let name = match self {
            Fixture::Release010 => "upgrade-0.1.0",
            Fixture::PreFields => "upgrade-pre-fields",
        };
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(name)
    }

    fn expected(self) -> Value {
        let text =
            std::fs::read_to_string(self.dir().join("expected.json")).expect("expected.json");
        serde_json::from_str(&text).expect("expected.json is JSON")
    }
}

fn fixture_dir() -> PathBuf {
    Fixture::Release010.dir()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

fn label(e: &Value, l: &str) -> String {
    s(&e["labels"][l]).to_string()
}

/// Everything the fixture holds is still there, read through this version's types.
async fn assert_kept(p: &SyncProvider, e: &Value, fixture: Fixture) {
    let history = p.local();
    for t in e["tickets"].as_array().expect("tickets") {
        let guid = s(&t["guid"]);
        let d = p.get_ticket_details(guid).await;
        assert_eq!(d.ticket.subject, s(&t["subject"]), "subject of {guid}");
        assert_eq!(d.ticket.description, s(&t["description"]));
        assert_eq!(
            d.ticket.status.as_str(),
            s(&t["status"]),
            "status of {guid}"
        );
        assert_eq!(d.ticket.priority.as_str(), s(&t["priority"]));
        assert_eq!(d.ticket.assignee.as_deref(), t["assignee"].as_str());
        assert_eq!(d.comments.len() as u64, t["comments"].as_u64().unwrap());
        assert!(
            d.ticket.fields.is_empty() && d.ticket.labels.is_empty(),
            "{guid} gained values"
        );
        let rows = TicketHistory::history(history, guid)
            .await
            .expect("history");
        assert_eq!(
            rows.len() as u64,
            t["history_rows"].as_u64().unwrap(),
            "history of {guid}"
        );
    }
    for l in e["def_asana_sync"].as_array().expect("links") {
        let guid = s(&l["ticket_guid"]);
        let link = p.store().link(guid).await.expect("link").expect("kept");
        assert_eq!(
            link.asana_gid.as_deref(),
            l["asana_gid"].as_str(),
            "gid of {guid}"
        );
        let state = match s(&l["state"]) {
            "linked" => LinkState::Linked,
            _ => LinkState::Creating,
        };
        assert_eq!(link.state, state, "state of {guid}");
    }
    // The agreed values and push times moved into the links (from sync_kv in 0.1.0, from
    // a column per field in the pre-fields release).
    let t1 = label(e, "T1");
    let link = p.store().link(&t1).await.unwrap().unwrap();
    assert_eq!(
        link.agreed.text(&TicketField::Subject),
        Some("Printer on floor 3 jams daily")
    );
    assert_eq!(link.agreed.status(), Some(Status::InProgress));
    assert_eq!(
        link.agreed.get(&TicketField::Priority),
        Some(&TicketValue::Priority(Priority::High))
    );
    assert_eq!(link.agreed.assignee(), Some(None), "agreed on nobody");
    assert!(link.pushed_at.is_some(), "push time moved");
    let t2 = label(e, "T2");
    let link = p.store().link(&t2).await.unwrap().unwrap();
    assert_eq!(
        link.agreed.text(&TicketField::Subject),
        Some("VPN drops every hour")
    );
    for l in ["T1", "T2", "T3", "T4", "T5"] {
        if fixture != Fixture::Release010 {
            break;
        }
        let g = label(e, l);
        for key in [format!("sync.snapshot.{g}"), format!("sync.pushed_at.{g}")] {
            assert_eq!(p.store().kv_get(&key).await.unwrap(), None, "{key} moved");
        }
    }
    assert!(p
        .store()
        .kv_get("sync.asana.events_token")
        .await
        .unwrap()
        .is_some());
    // The pending and set-aside changes, typed.
    let status = p.status().await.expect("status");
    assert_eq!((status.pending, status.set_aside), (6, 1), "{status:?}");
    assert_eq!(status.set_aside_entries[0].ticket_guid, label(e, "T3"));
    assert_eq!(status.set_aside_entries[0].operation, "create");
    let t2_entries = p.store().outbox_for_ticket(&t2).await.unwrap();
    let ops: Vec<&str> = t2_entries.iter().map(|x| x.change.operation()).collect();
    assert_eq!(ops, ["update", "change_status", "add_comment"]);
    assert!(
        t2_entries.windows(2).all(|w| w[0].id < w[1].id),
        "ids and order kept: {t2_entries:?}"
    );
    let t5 = p.store().outbox_for_ticket(&label(e, "T5")).await.unwrap();
    match &t5[1].change {
        Change::Status(_, payload) => {
            assert_eq!(payload.status, Status::Escalated);
            assert_eq!(
                payload.comment.as_ref().map(|c| c.body.as_str()),
                Some("urgent")
            );
        }
        other => panic!("T5's second entry: {other:?}"),
    }
}

/// The fixture's Asana tasks in `fake` (the same Asana the database was synced with): each
/// task made again with its name, section, tag and stories, and the links and comment links
/// pointed at the new gids.
async fn recreate_asana(fake: &FakeAsana, p: &SyncProvider, e: &Value) {
    let _ = fake;
    let comment_of_story: Vec<(String, String)> = e["comment_sync"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                s(&c["asana_story_gid"]).to_string(),
                s(&c["comment_guid"]).to_string(),
            )
        })
        .collect();
    for (old_gid, task) in e["asana"]["tasks"].as_object().expect("tasks") {
        let (_, marker) = common::split_notes(s(&task["notes"]));
        let guid = marker.expect("a marker");
        let status = Status::ALL
            .into_iter()
            .find(|st| st.title() == s(&task["section"]))
            .expect("a status section");
        let priority = task["tags"][0]
            .as_str()
            .and_then(|t| t.strip_prefix("priority:"))
            .and_then(|t| t.parse::<Priority>().ok())
            .expect("a priority tag");
        let new = NewTicket::new(s(&task["name"])).priority(priority);
        let made = p
            .remote()
            .create_task_with_marker(&new, status, &guid)
            .await
            .expect("recreate the task");
        let mut link = p.store().link(&guid).await.unwrap().expect("linked");
        assert_eq!(link.asana_gid.as_deref(), Some(old_gid.as_str()));
        link.asana_gid = Some(made.gid.clone());
        p.store().put_link(link).await.expect("relink");
        for story in task["comments"].as_array().unwrap() {
            let new_story = p
                .remote()
                .post_comment(&made.gid, s(&story["text"]))
                .await
                .expect("recreate the story");
            let (_, cg) = comment_of_story
                .iter()
                .find(|(old, _)| old == s(&story["story_gid"]))
                .expect("the story's comment");
            p.store()
                .put_comment_link(cg, &new_story)
                .await
                .expect("relink the comment");
        }
    }
}

async fn upgrade_keeps_everything_and_flushes(db_url: &str, engine: &str, fixture: Fixture) {
    let all = fixture.expected();
    let e = &all[engine];
    let (fake, mut users) = common::fake().await;
    let p = common::direct_url(&fake, db_url, Duration::from_secs(5)).await;
    assert_kept(&p, e, fixture).await;

    // Opening again (a second process) changes nothing.
    let again = common::direct_url(&fake, db_url, Duration::from_secs(5)).await;
    assert_kept(&again, e, fixture).await;
    drop(again);

    // The upgraded store keeps custom fields and labels (through `internal`, which carries
    // them), and the other tickets are untouched by it.
    let t4 = label(e, "T4");
    let local = homechoice_tickets::provider_internal::InternalProvider::open(
        db_url,
        homechoice_tickets::provider_internal::StoreOptions {
            fields: ticket_provider_testkit::suite_fields(),
            ..homechoice_tickets::provider_sync::store_options(None)
        },
    )
    .await
    .expect("open the upgraded store with fields");
    let mut labelled = homechoice_tickets::TicketUpdate {
        add_labels: ["upgraded".to_string()].into(),
        ..Default::default()
    };
    labelled.fields.insert(
        "severity".into(),
        Some(homechoice_tickets::FieldValue::Enum("S1".into())),
    );
    homechoice_tickets::TicketProvider::update(&local, &t4, labelled)
        .await
        .expect("a field and a label on an upgraded ticket");
    let t = homechoice_tickets::TicketProvider::get_ticket(&local, &t4)
        .await
        .unwrap()
        .ticket;
    assert_eq!(t.labels.iter().collect::<Vec<_>>(), ["upgraded"]);
    assert_eq!(
        t.fields.get("severity"),
        Some(&homechoice_tickets::FieldValue::Enum("S1".into()))
    );
    let mut cleared = homechoice_tickets::TicketUpdate {
        remove_labels: ["upgraded".to_string()].into(),
        ..Default::default()
    };
    cleared.fields.insert("severity".into(), None);
    homechoice_tickets::TicketProvider::update(&local, &t4, cleared)
        .await
        .unwrap();
    drop(local);
    // Those two updates went through `internal` (no outbox entries) and only touched
    // values and history; the counts the checks below rely on are the fixture's.
    let p = common::direct_url(&fake, db_url, Duration::from_secs(5)).await;

    // The highest id the store held before the flush.
    let mut held = 0;
    for t in e["tickets"].as_array().expect("tickets") {
        for entry in p.store().outbox_for_ticket(s(&t["guid"])).await.unwrap() {
            held = held.max(entry.id);
        }
    }
    assert!(held > 0);

    recreate_asana(&fake, &p, e).await;
    let report = p.flush().await.expect("flush");
    assert_eq!(report.pending, 0, "{report:?}");
    // With the outbox flushed, a new change still gets an id no entry had before.
    let t2 = label(e, "T2");
    homechoice_tickets::TicketProvider::change_status(p.local(), &t2, Status::OnHold)
        .await
        .expect("local change");
    let fresh = p.store().outbox_for_ticket(&t2).await.unwrap();
    assert_eq!(fresh.len(), 1, "{fresh:?}");
    assert!(fresh[0].id > held, "{} after {held}", fresh[0].id);
    common::flush_all(&p).await;
    let status = p.status().await.unwrap();
    assert_eq!((status.pending, status.set_aside), (0, 1), "{status:?}");
    // The assignee Asana refused exists now: the set-aside create goes through on retry.
    let nobody = "nobody@example.invalid";
    users.insert(fake.add_user("Nobody", nobody), nobody.to_string());
    p.retry_set_aside(status.set_aside_entries[0].id)
        .await
        .expect("retry");
    common::flush_all(&p).await;
    let status = p.status().await.unwrap();
    assert_eq!((status.pending, status.set_aside), (0, 0), "{status:?}");
    common::assert_mirrors(&fake, &p, &users).await;
    p.shutdown().await;
}

trait Details {
    async fn get_ticket_details(&self, guid: &str) -> homechoice_tickets::TicketDetails;
}

impl Details for SyncProvider {
    async fn get_ticket_details(&self, guid: &str) -> homechoice_tickets::TicketDetails {
        homechoice_tickets::TicketProvider::get_ticket(self, guid)
            .await
            .expect("get")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_store_of_release_0_1_0_upgrades_without_loss() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tickets.db");
    std::fs::copy(fixture_dir().join("sqlite.db"), &db).expect("copy the fixture");
    upgrade_keeps_everything_and_flushes(
        &format!("sqlite://{}", db.display()),
        "sqlite",
        Fixture::Release010,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_store_written_before_custom_fields_upgrades_without_loss() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tickets.db");
    std::fs::copy(Fixture::PreFields.dir().join("sqlite.db"), &db).expect("copy the fixture");
    upgrade_keeps_everything_and_flushes(
        &format!("sqlite://{}", db.display()),
        "sqlite",
        Fixture::PreFields,
    )
    .await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_store_of_release_0_1_0_upgrades_without_loss() {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    let Ok(admin) = std::env::var("TICKET_TEST_POSTGRES_URL") else {
        if std::env::var_os("CI").is_some() {
            panic!("TICKET_TEST_POSTGRES_URL must be set when CI is set");
        }
        println!("skipped: TICKET_TEST_POSTGRES_URL not set");
        return;
    };
    let name = format!("upgrade_{}", uuid::Uuid::new_v4().simple());
    let mut conn = diesel::PgConnection::establish(&admin).expect("connect to the admin URL");
    conn.batch_execute(&format!("CREATE DATABASE {name}"))
        .expect("create the test database");
    let url = match admin.rsplit_once('/') {
        Some((base, _)) if base.contains("://") => format!("{base}/{name}"),
        _ => panic!("TICKET_TEST_POSTGRES_URL must end with /DATABASE"),
    };
    {
        let dump = std::fs::read_to_string(fixture_dir().join("postgres.sql")).expect("dump");
        let mut db = diesel::PgConnection::establish(&url).expect("connect");
        db.batch_execute(&dump).expect("replay the fixture");
    }
    upgrade_keeps_everything_and_flushes(&url, "postgres", Fixture::Release010).await;
    let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
}
