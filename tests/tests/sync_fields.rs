//! Custom fields and labels through `sync`: the behaviour suite's check, pushes that carry
//! them, edits made in Asana pulled back, the conflict rule on a custom field, a declared
//! field that is not mapped staying local, and random values of every type round-tripping
//! through push, an edit in Asana and pull with `verify` finding no difference.

use crate::common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use asana_fake::{FakeAsana, Fault};
use homechoice_tickets::provider_asana::{AsanaProvider, AsanaSettings};
use homechoice_tickets::provider_sync::SyncProvider;
use homechoice_tickets::{
    Config, FieldSchema, FieldValue, Labels, NewTicket, SecretString, TicketProvider, TicketUpdate,
};
use ticket_provider_testkit::SUITE_ASANA_FIELDS;

/// Makes the suite's six custom fields in the fake's project.
async fn make_fields(fake: &FakeAsana) {
    for (_, name, subtype, options, precision) in SUITE_ASANA_FIELDS {
        fake.add_project_field(name, subtype, options, *precision)
            .await
            .expect("the custom field");
    }
}

/// The sync config with the suite's fields declared and mapped, plus `local_note`, declared
/// but not mapped (it stays local).
fn config(fake: &FakeAsana, db: &Path, push_timeout_ms: u64) -> Config {
    let mapped: Vec<String> = SUITE_ASANA_FIELDS
        .iter()
        .map(|(f, name, ..)| format!("{f}: \"{name}\""))
        .collect();
    Config::parse(
        &format!(
            "homechoice:\n  ticket:\n    provider: sync\n    asana_project: \"{}\"\n    asana_base_url: \"{}\"\n    database_url: \"sqlite://{}\"\n    sync_push_timeout_ms: {push_timeout_ms}\n    asana_timeout_ms: 10000\n{}      local_note: {{type: text}}\n    asana_fields: {{{}}}\n",
            fake.project_gid(),
            fake.base_url(),
            db.display(),
            ticket_provider_testkit::SUITE_FIELDS_YAML,
            mapped.join(", ")
        ),
        "test",
    )
    .expect("config")
}

/// The `asana` provider on the same project: what a person in Asana sees and edits.
fn in_asana(fake: &FakeAsana, config: &Config) -> AsanaProvider {
    let mut s = AsanaSettings::new(
        fake.base_url(),
        fake.project_gid(),
        SecretString::new(fake.token()),
    );
    s.fields = config.ticket.fields.clone();
    for (f, name, ..) in SUITE_ASANA_FIELDS {
        s.asana_fields.insert(f.to_string(), name.to_string());
    }
    s.cache_path = None;
    AsanaProvider::new(s).expect("asana provider")
}

fn schema(config: &Config) -> FieldSchema {
    config.ticket.fields.clone()
}

fn value(s: &FieldSchema, name: &str, text: &str) -> FieldValue {
    s.parse_arg(name, text).unwrap()
}

async fn setup(push_timeout_ms: u64) -> (FakeAsana, tempfile::TempDir, Config, SyncProvider) {
    let (fake, _) = common::fake().await;
    make_fields(&fake).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(&fake, &dir.path().join("t.db"), push_timeout_ms);
    let sync = common::from_config(config.clone()).await;
    (fake, dir, config, sync)
}

async fn gid_of(sync: &SyncProvider, guid: &str) -> String {
    // Through the provider: its reads land the queued push records first.
    sync.get_ticket(guid)
        .await
        .unwrap()
        .ticket
        .asana_gid
        .expect("linked")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_behaviour_suites_field_check_passes_and_asana_holds_the_values() {
    let (fake, _dir, config, sync) = setup(10_000).await;
    let mut opts = ticket_provider_testkit::SuiteOptions::new("sync");
    opts.assignees = vec![common::ALICE.into(), common::BOB.into()];
    ticket_provider_testkit::fields_and_labels(&sync, &opts).await;
    let report = sync.flush().await.unwrap();
    assert_eq!(report.pending, 0, "{report:?}");
    let verify = sync.verify(false).await.unwrap();
    assert!(verify.differences.is_empty(), "{:?}", verify.differences);
    // Every ticket's carried values are its task's.
    let asana = in_asana(&fake, &config);
    for t in common_tickets(&sync).await {
        let task = asana
            .get_ticket(&gid_of(&sync, &t.guid).await)
            .await
            .unwrap()
            .ticket;
        assert_eq!(task.fields, t.fields, "fields of {}", t.guid);
        assert_eq!(task.labels, t.labels, "labels of {}", t.guid);
    }
    sync.shutdown().await;
}

async fn common_tickets(sync: &SyncProvider) -> Vec<homechoice_tickets::Ticket> {
    sync.local()
        .list_tickets(homechoice_tickets::ListQuery {
            limit: Some(1000),
            ..Default::default()
        })
        .await
        .unwrap()
        .tickets
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_in_asana_come_back_and_an_unmapped_field_stays_local() {
    let (fake, _dir, config, sync) = setup(10_000).await;
    let s = schema(&config);
    let new = NewTicket::new("carried")
        .field("severity", value(&s, "severity", "S1"))
        .field("components", value(&s, "components", "api"))
        .field("local_note", value(&s, "local_note", "kept here"))
        .label("vip");
    let guid = sync.create(new).await.unwrap().guid;
    let gid = gid_of(&sync, &guid).await;
    let asana = in_asana(&fake, &config);
    let task = asana.get_ticket(&gid).await.unwrap().ticket;
    assert_eq!(
        task.fields.get("severity"),
        Some(&value(&s, "severity", "S1"))
    );
    assert!(!task.fields.contains_key("local_note"), "{task:?}");

    // A person in Asana changes a field, clears one, sets another, and relabels.
    let mut edit = TicketUpdate {
        add_labels: ["backend".to_string()].into(),
        remove_labels: ["vip".to_string()].into(),
        ..Default::default()
    };
    edit.fields
        .insert("severity".into(), Some(value(&s, "severity", "S3")));
    edit.fields.insert("components".into(), None);
    edit.fields
        .insert("estimate".into(), Some(value(&s, "estimate", "4.5")));
    asana.update(&gid, edit).await.unwrap();
    sync.pull_all(&|_| {}).await.unwrap();
    let t = sync.get_ticket(&guid).await.unwrap().ticket;
    assert_eq!(t.fields.get("severity"), Some(&value(&s, "severity", "S3")));
    assert_eq!(
        t.fields.get("estimate"),
        Some(&value(&s, "estimate", "4.5"))
    );
    assert!(!t.fields.contains_key("components"), "{t:?}");
    assert_eq!(
        t.fields.get("local_note"),
        Some(&value(&s, "local_note", "kept here")),
        "a field Asana does not carry stays as it is"
    );
    assert_eq!(t.labels, Labels::from(["backend".to_string()]));
    let history = homechoice_tickets::TicketHistory::history(sync.local(), &guid)
        .await
        .unwrap();
    let fields: BTreeSet<&str> = history.iter().map(|h| h.field.as_str()).collect();
    for f in [
        "fields.severity",
        "fields.estimate",
        "fields.components",
        "labels",
    ] {
        assert!(fields.contains(f), "no history row for {f}: {fields:?}");
    }
    let verify = sync.verify(false).await.unwrap();
    assert!(verify.differences.is_empty(), "{:?}", verify.differences);
    sync.shutdown().await;
}

/// Makes a local change of `severity` while Asana answers 503, so that it stays pending.
async fn change_while_down(fake: &FakeAsana, sync: &SyncProvider, guid: &str, v: FieldValue) {
    fake.add_fault(Fault {
        status: Some(503),
        count: 1_000_000,
        ..Fault::default()
    });
    let mut local = TicketUpdate::default();
    local.fields.insert("severity".into(), Some(v));
    sync.update(guid, local).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    fake.clear_faults();
}

fn sync_notes(t: &homechoice_tickets::TicketDetails) -> Vec<String> {
    t.comments
        .iter()
        .filter(|c| c.author.as_deref() == Some("sync"))
        .map(|c| c.body.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_field_changed_on_both_sides_follows_the_conflict_rule() {
    let (fake, _dir, config, sync) = setup(2_000).await;
    let s = schema(&config);
    let guid = sync
        .create(NewTicket::new("both").field("severity", value(&s, "severity", "S1")))
        .await
        .unwrap()
        .guid;
    let gid = gid_of(&sync, &guid).await;
    let asana = in_asana(&fake, &config);

    // Only the local side changed: pushed later, no conflict.
    change_while_down(&fake, &sync, &guid, value(&s, "severity", "S2")).await;
    common::flush_all(&sync).await;
    let t = sync.get_ticket(&guid).await.unwrap();
    assert!(sync_notes(&t).is_empty(), "{:?}", sync_notes(&t));
    let task = asana.get_ticket(&gid).await.unwrap().ticket;
    assert_eq!(
        task.fields.get("severity"),
        Some(&value(&s, "severity", "S2"))
    );

    // Both sides changed it: the local value wins, Asana's is kept as a note.
    change_while_down(&fake, &sync, &guid, value(&s, "severity", "S1")).await;
    let mut theirs = TicketUpdate::default();
    theirs
        .fields
        .insert("severity".into(), Some(value(&s, "severity", "S3")));
    asana.update(&gid, theirs).await.unwrap();
    common::flush_all(&sync).await;
    let t = sync.get_ticket(&guid).await.unwrap();
    assert_eq!(
        t.ticket.fields.get("severity"),
        Some(&value(&s, "severity", "S1")),
        "the local value wins"
    );
    let notes = sync_notes(&t);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].contains("fields.severity") && notes[0].contains("S3"),
        "{notes:?}"
    );
    let task = asana.get_ticket(&gid).await.unwrap().ticket;
    assert_eq!(
        task.fields.get("severity"),
        Some(&value(&s, "severity", "S1"))
    );
    // Seen again by a pull: nothing more is recorded.
    sync.pull_all(&|_| {}).await.unwrap();
    let again = sync.get_ticket(&guid).await.unwrap();
    assert_eq!(again.comments.len(), t.comments.len());
    sync.shutdown().await;
}

/// A small seeded generator, so that a failure names the seed that replays it.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn subset(&mut self, from: &[&str]) -> Vec<String> {
        from.iter()
            .filter(|_| self.below(2) == 0)
            .map(|s| s.to_string())
            .collect()
    }
}

/// A random change of the six carried fields and the labels (some set, some cleared, most
/// left).
fn random_update(rng: &mut Rng, s: &FieldSchema) -> TicketUpdate {
    let mut u = TicketUpdate::default();
    for (name, ..) in SUITE_ASANA_FIELDS {
        let v = match rng.below(4) {
            0 => None,
            1 => {
                let text = match *name {
                    "severity" => ["S1", "S2", "S3"][rng.below(3) as usize].to_string(),
                    "estimate" => format!("{}.{}", rng.below(1000), rng.below(10)),
                    "customer" => format!("customer {}", rng.below(1000)),
                    "components" => rng.subset(&["api", "ui", "db"]).join(","),
                    "target" if rng.below(2) == 0 => {
                        format!("2027-0{}-1{}", 1 + rng.below(9), rng.below(10))
                    }
                    "target" => format!(
                        "2027-03-0{}T1{}:30:00.125Z",
                        1 + rng.below(9),
                        rng.below(10)
                    ),
                    _ => rng.subset(&[common::ALICE, common::BOB]).join(","),
                };
                Some(value(s, name, &text)).filter(|v| !v.is_empty())
            }
            _ => continue,
        };
        u.fields.insert(name.to_string(), v);
    }
    u.add_labels = rng.subset(&["vip", "later", "ops"]).into_iter().collect();
    u.remove_labels = rng
        .subset(&["vip", "later", "ops"])
        .into_iter()
        .filter(|l| !u.add_labels.contains(l))
        .collect();
    u
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_values_round_trip_through_push_an_edit_in_asana_and_pull() {
    let (fake, _dir, config, sync) = setup(10_000).await;
    let s = schema(&config);
    let asana = in_asana(&fake, &config);
    let seed = 0x0f1e_1d5e_u64;
    let mut rng = Rng(seed);
    let mut guids = Vec::new();
    for i in 0..4 {
        guids.push(
            sync.create(NewTicket::new(format!("random {i}")))
                .await
                .unwrap()
                .guid,
        );
    }
    for round in 0..12 {
        let at = format!("seed {seed:#x}, round {round}");
        let guid = &guids[rng.below(guids.len() as u64) as usize];
        let change = random_update(&mut rng, &s);
        if rng.below(2) == 0 {
            if !change.is_empty() {
                sync.update(guid, change).await.unwrap();
            }
            common::flush_all(&sync).await;
        } else {
            if !change.is_empty() {
                asana
                    .update(&gid_of(&sync, guid).await, change)
                    .await
                    .unwrap();
            }
            sync.pull_all(&|_| {}).await.unwrap();
        }
        for g in &guids {
            let local = sync.get_ticket(g).await.unwrap().ticket;
            let task = asana
                .get_ticket(&gid_of(&sync, g).await)
                .await
                .unwrap()
                .ticket;
            assert_eq!(local.fields, task.fields, "{at}: fields of {g}");
            assert_eq!(local.labels, task.labels, "{at}: labels of {g}");
        }
        let verify = sync.verify(false).await.unwrap();
        assert!(
            verify.differences.is_empty(),
            "{at}: {:?}",
            verify.differences
        );
    }
    sync.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_of_a_field_deleted_in_asana_is_set_aside_naming_the_field() {
    let (fake, _dir, config, sync) = setup(10_000).await;
    let s = schema(&config);
    let guid = sync
        .create(NewTicket::new("doomed").field("severity", value(&s, "severity", "S1")))
        .await
        .unwrap()
        .guid;
    gid_of(&sync, &guid).await;
    // Someone deletes the Severity field in Asana.
    let settings: serde_json::Value = reqwest::Client::new()
        .get(format!(
            "{}/projects/{}/custom_field_settings?opt_fields=custom_field.name",
            fake.base_url(),
            fake.project_gid()
        ))
        .bearer_auth(fake.token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let gid = settings["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|cs| cs["custom_field"]["name"] == "Severity")
        .map(|cs| cs["custom_field"]["gid"].as_str().unwrap().to_string())
        .expect("the Severity field");
    let deleted = reqwest::Client::new()
        .delete(format!("{}/custom_fields/{gid}", fake.base_url()))
        .bearer_auth(fake.token())
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success());

    let mut change = TicketUpdate::default();
    change
        .fields
        .insert("severity".into(), Some(value(&s, "severity", "S2")));
    sync.update(&guid, change).await.unwrap();
    common::flush_all(&sync).await;
    let status = sync.status().await.unwrap();
    assert_eq!(status.set_aside, 1, "{status:?}");
    let reason = &status.set_aside_entries[0].reason;
    assert!(reason.contains("severity"), "{reason}");
    // The local change is kept.
    let t = sync.get_ticket(&guid).await.unwrap().ticket;
    assert_eq!(t.fields.get("severity"), Some(&value(&s, "severity", "S2")));
    sync.shutdown().await;
}
