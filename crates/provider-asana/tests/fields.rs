//! A ticket's custom fields and labels in Asana: every declared type mapped to a custom
//! field of the project (`asana_fields`) and labels as tags, through create, get, update,
//! list filters, the errors of fields and options Asana lacks, renames, `ticket doctor`, and
//! the promise that requests per operation do not grow.

use crate::common;

use std::collections::BTreeMap;

use asana_fake::FakeAsana;
use provider_asana::{AsanaProvider, AsanaSettings, ASANA_TOKEN_ENV};
use reqwest::Method;
use serde_json::json;
use ticket_provider_api::{
    find_descriptor, BuildContext, Config, Due, ErrorKind, FieldSchema, FieldValue, ListQuery,
    NewTicket, Priority, TicketProvider, TicketUpdate,
};
use ticket_provider_testkit::SUITE_ASANA_FIELDS;

/// The custom fields made in the fake: gid of each, and option gids by name.
struct AsanaFields {
    gids: BTreeMap<&'static str, String>,
    options: BTreeMap<String, String>,
}

/// Makes the suite's six custom fields in the fake's workspace and adds them to the project.
async fn make_fields(fake: &FakeAsana) -> AsanaFields {
    let mut gids = BTreeMap::new();
    let mut options = BTreeMap::new();
    for (field, name, subtype, opts, precision) in SUITE_ASANA_FIELDS {
        let made = fake
            .add_project_field(name, subtype, opts, *precision)
            .await
            .expect("the custom field");
        for (option, gid) in made.options {
            options.insert(format!("{field}.{option}"), gid);
        }
        gids.insert(*field, made.gid);
    }
    AsanaFields { gids, options }
}

fn schema() -> FieldSchema {
    ticket_provider_testkit::suite_fields()
}

/// Settings with the six fields declared and mapped by name (`severity` by gid).
fn field_settings(fake: &FakeAsana, made: &AsanaFields) -> AsanaSettings {
    let mut s = common::settings(fake);
    s.fields = schema();
    for (field, name, ..) in SUITE_ASANA_FIELDS {
        let asana = if *field == "severity" {
            made.gids[field].clone()
        } else {
            name.to_string()
        };
        s.asana_fields.insert(field.to_string(), asana);
    }
    s
}

fn value(s: &FieldSchema, name: &str, text: &str) -> FieldValue {
    s.parse_arg(name, text).unwrap()
}

/// A ticket with a value of every type and two labels.
fn full_ticket(fake: &FakeAsana) -> NewTicket {
    let s = schema();
    NewTicket::new("All fields")
        .field("severity", value(&s, "severity", "S1"))
        .field("estimate", value(&s, "estimate", "2.5"))
        .field("customer", value(&s, "customer", "ACME, Inc"))
        .field("components", value(&s, "components", "api,ui"))
        .field("target", value(&s, "target", "2026-12-24"))
        .field(
            "reviewers",
            value(
                &s,
                "reviewers",
                &format!("{},b@example.com", fake.owner_email()),
            ),
        )
        .label("vip")
        .label("backend")
}

#[tokio::test]
async fn every_type_and_labels_round_trip_through_create_and_get() {
    let fake = common::fake().await;
    fake.add_user("Bea", "b@example.com");
    let made = make_fields(&fake).await;
    for field_mode in [false, true] {
        let mut settings = field_settings(&fake, &made);
        if field_mode {
            let prio = common::enum_field(
                &fake,
                &format!("Priority {field_mode}"),
                &["Low", "Normal", "High", "Urgent"],
                true,
            )
            .await;
            settings.priority_field = Some(prio.gid.clone());
        }
        let p = AsanaProvider::new(settings).unwrap();
        let new = full_ticket(&fake).priority(Priority::High);
        let r = p.create(new.clone()).await.unwrap();
        let got = p.get_ticket(&r.guid).await.unwrap().ticket;
        assert_eq!(got.fields, new.fields, "field mode {field_mode}");
        assert_eq!(got.labels, new.labels, "priority tags are no labels");
        assert_eq!(got.priority, Priority::High);
        // A date field holds an instant too.
        let at: Due = "2026-12-24T14:00:00.250Z".parse().unwrap();
        let upd = TicketUpdate {
            fields: BTreeMap::from([("target".to_string(), Some(FieldValue::Date(at)))]),
            ..Default::default()
        };
        p.update(&r.guid, upd).await.unwrap();
        let got = p.get_ticket(&r.guid).await.unwrap().ticket;
        assert_eq!(got.fields["target"], FieldValue::Date(at));
    }
    // In Asana: the values as Asana shows them, the labels as tags.
    let tasks = fake.project_tasks(&fake.project_gid());
    let shown: BTreeMap<String, Option<String>> = tasks[0].custom_fields.iter().cloned().collect();
    assert_eq!(shown["Severity"].as_deref(), Some("S1"), "{shown:?}");
    assert_eq!(shown["Components"].as_deref(), Some("api, ui"));
    assert_eq!(shown["Estimate"].as_deref(), Some("2.5"));
    assert_eq!(shown["Customer"].as_deref(), Some("ACME, Inc"));
}

#[tokio::test]
async fn updates_set_and_clear_fields_and_add_and_remove_labels() {
    let fake = common::fake().await;
    fake.add_user("Bea", "b@example.com");
    let made = make_fields(&fake).await;
    common::enum_field(
        &fake,
        "Priority",
        &["Low", "Normal", "High", "Urgent"],
        true,
    )
    .await;
    let s = schema();
    for field_mode in [false, true] {
        let mut settings = field_settings(&fake, &made);
        if field_mode {
            settings.priority_field = Some("Priority".into());
        }
        let p = AsanaProvider::new(settings).unwrap();
        let r = p.create(full_ticket(&fake)).await.unwrap();
        let upd = TicketUpdate {
            subject: Some("Renamed".into()),
            fields: BTreeMap::from([
                ("severity".to_string(), Some(value(&s, "severity", "S3"))),
                (
                    "components".to_string(),
                    Some(value(&s, "components", "db")),
                ),
                ("estimate".to_string(), Some(value(&s, "estimate", "-0.5"))),
                ("customer".to_string(), None),
                ("reviewers".to_string(), None),
            ]),
            add_labels: ["urgent-customer".to_string()].into(),
            remove_labels: ["vip".to_string(), "never-there".to_string()].into(),
            ..Default::default()
        };
        p.update(&r.guid, upd).await.unwrap();
        let got = p.get_ticket(&r.guid).await.unwrap().ticket;
        assert_eq!(got.subject, "Renamed");
        assert_eq!(
            got.fields["severity"],
            value(&s, "severity", "S3"),
            "{field_mode}"
        );
        assert_eq!(got.fields["components"], value(&s, "components", "db"));
        assert_eq!(got.fields["estimate"], value(&s, "estimate", "-0.5"));
        assert_eq!(
            got.fields["target"],
            value(&s, "target", "2026-12-24"),
            "left as it was"
        );
        assert!(!got.fields.contains_key("customer"), "{:?}", got.fields);
        assert!(!got.fields.contains_key("reviewers"));
        assert_eq!(
            got.labels,
            ["backend".to_string(), "urgent-customer".to_string()].into(),
            "field mode {field_mode}"
        );
        // Labels only: one more change, the other way.
        let upd = TicketUpdate {
            add_labels: ["vip".to_string()].into(),
            remove_labels: ["backend".to_string()].into(),
            ..Default::default()
        };
        p.update(&r.guid, upd).await.unwrap();
        let got = p.get_ticket(&r.guid).await.unwrap().ticket;
        assert_eq!(
            got.labels,
            ["urgent-customer".to_string(), "vip".to_string()].into()
        );
    }
    // "vip" was created once, as one tag, though two providers and several tickets used it.
    let (_, tags) = common::asana(
        &fake,
        Method::GET,
        &format!("/workspaces/{}/tags?opt_fields=name", fake.workspace_gid()),
        None,
    )
    .await;
    let vips = tags["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["name"] == "vip")
        .count();
    assert_eq!(vips, 1, "{tags}");
}

#[tokio::test]
async fn lists_filter_by_field_value_and_label() {
    let fake = common::fake().await;
    fake.add_user("Bea", "b@example.com");
    let made = make_fields(&fake).await;
    let p = AsanaProvider::new(field_settings(&fake, &made)).unwrap();
    let s = schema();
    let a = p.create(full_ticket(&fake)).await.unwrap().guid;
    let b = p
        .create(
            NewTicket::new("other")
                .field("severity", value(&s, "severity", "S2"))
                .field("components", value(&s, "components", "ui,db"))
                .label("backend"),
        )
        .await
        .unwrap()
        .guid;
    let c = p.create(NewTicket::new("plain")).await.unwrap().guid;
    let list = |fields: &[(&str, &str)], labels: &[&str]| ListQuery {
        fields: fields
            .iter()
            .map(|(n, v)| (n.to_string(), FieldValue::Text(v.to_string())))
            .collect(),
        labels: labels.iter().map(|l| l.to_string()).collect(),
        ..Default::default()
    };
    for (query, want) in [
        (list(&[], &[]), vec![&c, &b, &a]),
        (list(&[("severity", "S1")], &[]), vec![&a]),
        (list(&[("components", "ui")], &[]), vec![&b, &a]),
        (list(&[("components", "ui")], &["vip"]), vec![&a]),
        (list(&[], &["backend"]), vec![&b, &a]),
        (list(&[("estimate", "2.50")], &[]), vec![&a]),
        (list(&[("target", "2026-12-24")], &[]), vec![&a]),
        (list(&[("severity", "S3")], &[]), vec![]),
        (list(&[], &["nobody"]), vec![]),
    ] {
        let got: Vec<String> = p
            .list_tickets(query.clone())
            .await
            .unwrap()
            .tickets
            .into_iter()
            .map(|t| t.guid)
            .collect();
        assert_eq!(
            got,
            want.into_iter().cloned().collect::<Vec<_>>(),
            "{query:?}"
        );
    }
    let e = p
        .list_tickets(list(&[("severity", "S9")], &[]))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("severity"), "{e}");
    // A declared field no mapping keeps in Asana cannot match: said, not an empty page.
    let mut settings = field_settings(&fake, &made);
    settings.asana_fields.remove("severity");
    let unmapped = AsanaProvider::new(settings).unwrap();
    let e = unmapped
        .list_tickets(list(&[("severity", "S1")], &[]))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("asana_fields.severity"), "{e}");
    let e = unmapped
        .create(NewTicket::new("x").field("severity", value(&s, "severity", "S1")))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("asana_fields.severity"), "{e}");
}

#[tokio::test]
async fn the_binding_and_label_tags_are_kept_between_processes() {
    let fake = common::fake().await;
    fake.add_user("Bea", "b@example.com");
    let made = make_fields(&fake).await;
    let dir = tempfile::tempdir().unwrap();
    let with_cache = || {
        let mut s = field_settings(&fake, &made);
        s.cache_path = Some(dir.path().join("cache.json"));
        AsanaProvider::new(s).unwrap()
    };
    let first = with_cache();
    first.create(full_ticket(&fake)).await.unwrap();
    // A new process: the fields' binding, the sections, the tags and the users are cached.
    let second = with_cache();
    fake.clear_requests();
    let r = second.create(full_ticket(&fake)).await.unwrap();
    assert_eq!(common::calls(&fake), ["POST /tasks"], "one request");
    let got = second.get_ticket(&r.guid).await.unwrap().ticket;
    assert_eq!(got.fields, full_ticket(&fake).fields);
}

#[tokio::test]
async fn fields_and_options_asana_lacks_are_errors_naming_them_and_write_nothing() {
    let fake = common::fake().await;
    let made = make_fields(&fake).await;
    let s = schema();
    let p = AsanaProvider::new(field_settings(&fake, &made)).unwrap();
    // A person who is no Asana user: Asana's refusal names the field.
    let e = p.create(full_ticket(&fake)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(
        e.to_string().contains("\"Reviewers\"") && e.to_string().contains("b@example.com"),
        "{e}"
    );
    fake.add_user("Bea", "b@example.com");
    let r = p.create(full_ticket(&fake)).await.unwrap();
    let tasks_before = fake.project_tasks(&fake.project_gid()).len();

    // A declared option disabled in Asana.
    common::update_option(
        &fake,
        &made.options["severity.S2"],
        json!({"enabled": false}),
    )
    .await;
    let e = p
        .create(NewTicket::new("x").field("severity", value(&s, "severity", "S2")))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    let text = e.to_string();
    assert!(
        text.contains("\"S2\"") && text.contains("severity") && text.contains("disabled"),
        "{text}"
    );
    // An option the Asana field lacks, in an update.
    let (st, b) = common::asana(
        &fake,
        Method::PUT,
        &format!("/enum_options/{}", made.options["components.db"]),
        Some(json!({"name": "database"})),
    )
    .await;
    assert_eq!(st, 200, "{b}");
    let fresh = AsanaProvider::new(field_settings(&fake, &made)).unwrap();
    let e = fresh
        .update(
            &r.guid,
            TicketUpdate {
                subject: Some("must not be written".into()),
                fields: BTreeMap::from([(
                    "components".to_string(),
                    Some(value(&s, "components", "db")),
                )]),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    assert!(
        e.to_string()
            .contains("\"db\" of field components is missing"),
        "{e}"
    );

    // A field deleted in Asana: the message names the field.
    let (st, b) = common::asana(
        &fake,
        Method::DELETE,
        &format!("/custom_fields/{}", made.gids["customer"]),
        None,
    )
    .await;
    assert_eq!(st, 200, "{b}");
    let e = p
        .update(
            &r.guid,
            TicketUpdate {
                subject: Some("must not be written".into()),
                fields: BTreeMap::from([(
                    "customer".to_string(),
                    Some(value(&s, "customer", "Globex")),
                )]),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    assert!(
        e.to_string().contains("\"Customer\" of field customer (homechoice.ticket.asana_fields.customer) is not on project"),
        "{e}"
    );

    // Wrong input: undeclared, wrong type, a label that is a priority tag.
    for (new, needle) in [
        (
            NewTicket::new("x").field("sprint", FieldValue::Text("12".into())),
            "unknown field \"sprint\"",
        ),
        (
            NewTicket::new("x").field("severity", FieldValue::Text("S9".into())),
            "has no option \"S9\"",
        ),
        (
            NewTicket::new("x").field("estimate", FieldValue::Text("many".into())),
            "field \"estimate\"",
        ),
        (
            NewTicket::new("x").label("priority:high"),
            "tag of priority high",
        ),
    ] {
        let e = p.create(new).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        assert!(e.to_string().contains(needle), "{needle}: {e}");
    }
    let got = p.get_ticket(&r.guid).await.unwrap().ticket;
    assert_eq!(got.subject, "All fields", "nothing was written");
    assert_eq!(fake.project_tasks(&fake.project_gid()).len(), tasks_before);
}

#[tokio::test]
async fn a_renamed_field_or_option_keeps_working_by_gid() {
    let fake = common::fake().await;
    let made = make_fields(&fake).await;
    let s = schema();
    let p = AsanaProvider::new(field_settings(&fake, &made)).unwrap();
    let r = p
        .create(
            NewTicket::new("x")
                .field("components", value(&s, "components", "api"))
                .field("estimate", value(&s, "estimate", "1")),
        )
        .await
        .unwrap();
    for (path, data) in [
        (
            format!("/custom_fields/{}", made.gids["components"]),
            json!({"name": "Parts"}),
        ),
        (
            format!("/enum_options/{}", made.options["components.api"]),
            json!({"name": "API"}),
        ),
    ] {
        let (st, b) = common::asana(&fake, Method::PUT, &path, Some(data)).await;
        assert_eq!(st, 200, "{b}");
    }
    let got = p.get_ticket(&r.guid).await.unwrap().ticket;
    assert_eq!(got.fields["components"], value(&s, "components", "api"));
    p.update(
        &r.guid,
        TicketUpdate {
            fields: BTreeMap::from([(
                "components".to_string(),
                Some(value(&s, "components", "api,ui")),
            )]),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let got = p.get_ticket(&r.guid).await.unwrap().ticket;
    assert_eq!(got.fields["components"], value(&s, "components", "api,ui"));
}

#[tokio::test]
async fn five_mapped_fields_and_labels_cost_no_request_more() {
    let fake = common::fake().await;
    fake.add_user("Bea", "b@example.com");
    let made = make_fields(&fake).await;
    let s = schema();
    let plain = AsanaProvider::new(common::settings(&fake)).unwrap();
    let mapped = AsanaProvider::new(field_settings(&fake, &made)).unwrap();
    // Warm both caches (sections, tags, the fields' binding, the labels' tags).
    plain
        .create(NewTicket::new("warm").priority(Priority::High))
        .await
        .unwrap();
    mapped
        .create(full_ticket(&fake).priority(Priority::High))
        .await
        .unwrap();
    for p in [&plain, &mapped] {
        p.create(NewTicket::new("warm").priority(Priority::Urgent))
            .await
            .unwrap();
    }
    let five = |n: &NewTicket| {
        let mut n = n.clone();
        n.fields.remove("reviewers");
        n
    };
    let count = |fake: &FakeAsana| fake.requests().len();
    fake.clear_requests();
    let a = plain
        .create(NewTicket::new("plain").priority(Priority::High))
        .await
        .unwrap();
    let plain_create = count(&fake);
    fake.clear_requests();
    let b = mapped
        .create(five(&full_ticket(&fake)).priority(Priority::High))
        .await
        .unwrap();
    let mapped_create = count(&fake);
    assert!(
        mapped_create <= plain_create && mapped_create == 1,
        "create: {mapped_create} requests with 5 fields and 2 labels, {plain_create} without: {:?}",
        common::calls(&fake)
    );
    let change = |with: bool| TicketUpdate {
        subject: Some("changed".into()),
        priority: Some(Priority::Urgent),
        fields: if with {
            BTreeMap::from([
                ("severity".to_string(), Some(value(&s, "severity", "S2"))),
                ("estimate".to_string(), Some(value(&s, "estimate", "3"))),
                ("customer".to_string(), None),
                (
                    "components".to_string(),
                    Some(value(&s, "components", "db")),
                ),
                (
                    "target".to_string(),
                    Some(value(&s, "target", "2027-01-01")),
                ),
            ])
        } else {
            BTreeMap::new()
        },
        add_labels: if with {
            ["vip".to_string()].into()
        } else {
            Default::default()
        },
        remove_labels: if with {
            ["backend".to_string()].into()
        } else {
            Default::default()
        },
        ..Default::default()
    };
    fake.clear_requests();
    plain.update(&a.guid, change(false)).await.unwrap();
    let plain_update = count(&fake);
    fake.clear_requests();
    mapped.update(&b.guid, change(true)).await.unwrap();
    let mapped_update = count(&fake);
    assert!(
        mapped_update <= plain_update && mapped_update == 2,
        "update: {mapped_update} requests with 5 fields and labels, {plain_update} without: {:?}",
        common::calls(&fake)
    );
    println!(
        "tags: create {plain_create} → {mapped_create}; update {plain_update} → {mapped_update}"
    );

    // With the priority in a custom field: the PUT carries the fields, and travels in one
    // batch with the label tags.
    common::enum_field(
        &fake,
        "Priority",
        &["Low", "Normal", "High", "Urgent"],
        true,
    )
    .await;
    let mut plain_settings = common::settings(&fake);
    plain_settings.priority_field = Some("Priority".into());
    let mut mapped_settings = field_settings(&fake, &made);
    mapped_settings.priority_field = Some("Priority".into());
    let plain = AsanaProvider::new(plain_settings).unwrap();
    let mapped = AsanaProvider::new(mapped_settings).unwrap();
    let a = plain.create(NewTicket::new("plain")).await.unwrap();
    let b = mapped.create(full_ticket(&fake)).await.unwrap();
    fake.clear_requests();
    plain.update(&a.guid, change(false)).await.unwrap();
    let plain_update = count(&fake);
    fake.clear_requests();
    mapped.update(&b.guid, change(true)).await.unwrap();
    let mapped_update = count(&fake);
    assert!(
        mapped_update <= plain_update && mapped_update == 2,
        "field mode update: {mapped_update} requests with 5 fields and labels, {plain_update} without: {:?}",
        common::calls(&fake)
    );
    let got = mapped.get_ticket(&b.guid).await.unwrap().ticket;
    assert_eq!(got.priority, Priority::Urgent);
    assert_eq!(got.labels, ["vip".to_string()].into());
    assert_eq!(got.fields["components"], value(&s, "components", "db"));
    println!("priority field: update {plain_update} → {mapped_update}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_checks_every_mapped_field() {
    let fake = common::fake().await;
    let made = make_fields(&fake).await;
    common::update_option(
        &fake,
        &made.options["severity.S3"],
        json!({"enabled": false}),
    )
    .await;
    let yaml = format!(
        "homechoice:\n  ticket:\n    provider: asana\n    asana_project: \"{}\"\n    asana_base_url: \"{}\"\n    fields:\n      severity: {{type: enum, options: [S1, S2, S3]}}\n      estimate: {{type: number, precision: 2}}\n      customer: {{type: date}}\n      components: {{type: multi_enum, options: [api, ui, web]}}\n      target: {{type: date}}\n      owner: {{type: people}}\n    asana_fields: {{severity: Severity, estimate: Estimate, customer: Customer, components: Components, target: \"{}\", owner: Owner}}\n",
        fake.project_gid(),
        fake.base_url(),
        made.gids["target"],
    );
    let config = Config::parse(&yaml, "test").unwrap();
    let doctor = find_descriptor("asana").unwrap().doctor.unwrap();
    let checks =
        doctor(BuildContext::new(config).with_env(ASANA_TOKEN_ENV, Some(common::TOKEN.into())))
            .await;
    let find = |name: &str| {
        checks
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no check {name}: {checks:?}"))
    };
    for (name, ok, needle) in [
        ("field target", true, "Asana custom field \"Target\""),
        (
            "field severity",
            false,
            "\"S3\" of field severity is disabled",
        ),
        ("field estimate", false, "keeps 1 digits after the point"),
        (
            "field customer",
            false,
            "is a text field; customer is declared date",
        ),
        (
            "field components",
            false,
            "\"web\" of field components is missing",
        ),
        (
            "field owner",
            false,
            "\"Owner\" of field owner (homechoice.ticket.asana_fields.owner) is not on project",
        ),
    ] {
        let c = find(name);
        assert_eq!(c.ok, ok, "{c:?}");
        assert!(c.detail.contains(needle), "{needle}: {c:?}");
        if !ok {
            assert!(c.fix.as_ref().is_some_and(|f| !f.is_empty()), "{c:?}");
        }
    }
}

#[test]
fn a_mapping_of_an_undeclared_field_is_refused_when_the_config_loads() {
    let base = "homechoice:\n  ticket:\n    provider: asana\n    asana_project: \"1\"\n    fields:\n      severity: {type: enum, options: [S1]}\n";
    let ok = format!("{base}    asana_fields: {{severity: Severity}}\n");
    assert!(Config::parse(&ok, "test").is_ok());
    for (extra, needle) in [
        (
            "asana_fields: {sprint: Sprint}",
            "asana_fields.sprint: \"sprint\" is not a field of homechoice.ticket.fields",
        ),
        (
            "asana_fields: {severity: \" \"}",
            "asana_fields.severity must name an Asana custom field",
        ),
        ("asana_fields: {severity: \"a\\nb\"}", "one line"),
    ] {
        let e = Config::parse(&format!("{base}    {extra}\n"), "test").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config, "{e}");
        assert!(e.to_string().contains(needle), "{needle}: {e}");
    }
    let yaml = format!(
        "{base}      sprint: {{type: text}}\n    asana_fields: {{severity: Severity, sprint: severity}}\n"
    );
    let e = Config::parse(&yaml, "test").unwrap_err();
    assert!(
        e.to_string().contains("both map to the Asana custom field"),
        "{e}"
    );
}

/// The behaviour suite's own check of fields and labels, against the fake with the suite's
/// fields mapped (the suite declares the six fields this file makes).
#[tokio::test]
async fn the_behaviour_suites_field_check_passes() {
    let fake = common::fake().await;
    fake.add_user("Alice Example", "alice@example.com");
    fake.add_user("Bob Example", "bob@example.com");
    let made = make_fields(&fake).await;
    let settings = field_settings(&fake, &made);
    assert_eq!(settings.fields, ticket_provider_testkit::suite_fields());
    let p = AsanaProvider::new(settings).unwrap();
    let mut opts = ticket_provider_testkit::SuiteOptions::new("asana");
    opts.assignees = vec!["alice@example.com".into(), "bob@example.com".into()];
    ticket_provider_testkit::fields_and_labels(&p, &opts).await;
    fake.shutdown().await;
}
