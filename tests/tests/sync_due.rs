//! Due dates through the sync provider (issue 13): what Asana receives (`due_on` for a day,
//! `due_at` in UTC for an instant), and that random days and instants survive many rounds of
//! push and pull — into the same store and into fresh ones — without drifting, whatever the
//! process's time zone.

mod common;

use std::time::Duration;

use asana_fake::FakeAsana;
use homechoice_tickets::chrono::{DateTime, NaiveDate, TimeZone, Utc};
use homechoice_tickets::provider_sync::SyncProvider;
use homechoice_tickets::{Due, NewTicket, TicketProvider, TicketUpdate};
use proptest::prelude::*;

fn task(fake: &FakeAsana, gid: &str) -> asana_fake::TaskSnapshot {
    fake.project_tasks(&fake.project_gid())
        .into_iter()
        .find(|t| t.gid == gid)
        .expect("the task")
}

/// What Asana must hold for a due date: `(due_on, due_at)`; a day has no `due_at`, an
/// instant's `due_on` is its UTC day.
fn asana_fields(due: Option<Due>) -> (Option<String>, Option<String>) {
    match due {
        None => (None, None),
        Some(Due::Date(d)) => (Some(d.format("%Y-%m-%d").to_string()), None),
        Some(Due::At(t)) => (
            Some(t.date_naive().format("%Y-%m-%d").to_string()),
            Some(t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()),
        ),
    }
}

async fn gid_of(p: &SyncProvider, guid: &str) -> String {
    p.store()
        .link(guid)
        .await
        .unwrap()
        .and_then(|l| l.asana_gid)
        .expect("linked")
}

/// A fresh store pulls the task and reads `due` back.
async fn pulled_into_a_fresh_store(fake: &FakeAsana, gid: &str) -> Option<Due> {
    let dir = tempfile::tempdir().unwrap();
    let q = common::direct(
        &fake.base_url(),
        &fake.project_gid(),
        &dir.path().join("fresh.db"),
        Duration::from_millis(3000),
    )
    .await;
    let r = q.sync_from_asana(gid).await.expect("pull");
    let due = q.get_ticket(&r.guid).await.unwrap().ticket.due;
    q.shutdown().await;
    due
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asana_receives_due_on_for_a_day_and_due_at_in_utc_for_an_instant() {
    let (fake, _users) = common::fake().await;
    let dir = tempfile::tempdir().unwrap();
    let p = common::direct_for(&fake, &dir.path().join("t.db")).await;
    let day: Due = "2026-12-24".parse().unwrap();
    let t = p.create(NewTicket::new("a day").due(day)).await.unwrap();
    common::flush_all(&p).await;
    let gid = gid_of(&p, &t.guid).await;
    let snap = task(&fake, &gid);
    assert_eq!(
        (snap.due_on.as_deref(), snap.due_at.as_deref()),
        (Some("2026-12-24"), None)
    );
    let at: Due = "2026-12-24T15:00:00+01:00".parse().unwrap();
    p.update(
        &t.guid,
        TicketUpdate {
            due: Some(Some(at)),
            ..TicketUpdate::default()
        },
    )
    .await
    .unwrap();
    common::flush_all(&p).await;
    let snap = task(&fake, &gid);
    assert_eq!(snap.due_at.as_deref(), Some("2026-12-24T14:00:00.000Z"));
    p.update(
        &t.guid,
        TicketUpdate {
            due: Some(None),
            ..TicketUpdate::default()
        },
    )
    .await
    .unwrap();
    common::flush_all(&p).await;
    let snap = task(&fake, &gid);
    assert_eq!((snap.due_on, snap.due_at), (None, None));
    p.shutdown().await;
}

fn a_day() -> impl Strategy<Value = Due> {
    (1970i32..2100, 1u32..=12, 1u32..=31).prop_filter_map("a real day", |(y, m, d)| {
        NaiveDate::from_ymd_opt(y, m, d).map(Due::Date)
    })
}

fn an_instant() -> impl Strategy<Value = Due> {
    // Whole milliseconds between 1970 and 2100, given with an offset of -12..+14 hours.
    (0i64..4_102_444_800_000, -12i32..=14).prop_map(|(ms, hours)| {
        let utc: DateTime<Utc> = Utc.timestamp_millis_opt(ms).single().expect("in range");
        let offset = homechoice_tickets::chrono::FixedOffset::east_opt(hours * 3600).unwrap();
        let text = utc.with_timezone(&offset).to_rfc3339();
        text.parse::<Due>().expect("an instant with an offset")
    })
}

fn a_due() -> impl Strategy<Value = Option<Due>> {
    prop_oneof![
        Just(None),
        a_day().prop_map(Some),
        an_instant().prop_map(Some)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Random days and instants pushed, changed in Asana, pulled back, pushed again: every
    /// round, Asana and both stores hold exactly the value set last; nothing drifts.
    #[test]
    fn due_dates_round_trip_through_push_and_pull_without_drift(
        values in prop::collection::vec(a_due(), 2..6),
        zone in prop_oneof![Just("UTC"), Just("Pacific/Kiritimati"), Just("America/Adak")],
    ) {
        // The process's time zone must not matter.
        std::env::set_var("TZ", zone);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (fake, _users) = common::fake().await;
            let dir = tempfile::tempdir().unwrap();
            let p = common::direct(
                &fake.base_url(),
                &fake.project_gid(),
                &dir.path().join("t.db"),
                Duration::from_millis(3000),
            )
            .await;
            let mut new = NewTicket::new("due round trip");
            new.due = values[0];
            let t = p.create(new).await.unwrap();
            common::flush_all(&p).await;
            let gid = gid_of(&p, &t.guid).await;
            for (round, want) in values.iter().enumerate() {
                if round > 0 {
                    if round % 2 == 1 {
                        // Changed locally and pushed.
                        p.update(&t.guid, TicketUpdate { due: Some(*want), ..TicketUpdate::default() })
                            .await
                            .unwrap();
                        common::flush_all(&p).await;
                    } else {
                        // Changed in Asana and pulled.
                        p.remote()
                            .set_fields(&gid, &TicketUpdate { due: Some(*want), ..TicketUpdate::default() })
                            .await
                            .unwrap();
                        p.sync_from_asana(&gid).await.unwrap();
                    }
                }
                let local = p.get_ticket(&t.guid).await.unwrap().ticket.due;
                assert_eq!(local, *want, "round {round}: the store");
                let snap = task(&fake, &gid);
                assert_eq!((snap.due_on, snap.due_at), asana_fields(*want), "round {round}: Asana");
                // A pull of an unchanged task changes nothing.
                p.sync_from_asana(&gid).await.unwrap();
                assert_eq!(p.get_ticket(&t.guid).await.unwrap().ticket.due, *want, "round {round}: re-pulled");
                assert_eq!(pulled_into_a_fresh_store(&fake, &gid).await, *want, "round {round}: a fresh store");
            }
            let history: Vec<_> = p
                .local()
                .history(&t.guid)
                .await
                .unwrap()
                .into_iter()
                .filter(|h| h.field == "due")
                .collect();
            let changes = values.windows(2).filter(|w| w[0] != w[1]).count();
            assert_eq!(history.len(), changes, "one history row per change, none for a round trip");
            p.shutdown().await;
        });
    }
}
