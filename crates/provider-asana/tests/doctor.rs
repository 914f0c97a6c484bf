//! `ticket doctor` checks of the Asana provider.

use crate::common;

use asana_fake::{FakeAsana, Fault};
use provider_asana::AsanaProvider;
use provider_asana::ASANA_TOKEN_ENV;
use ticket_provider_api::{
    find_descriptor, BuildContext, Check, Config, NewTicket, Status, TicketProvider,
};

async fn run(ctx: BuildContext) -> Vec<Check> {
    let doctor = find_descriptor("asana")
        .expect("registered")
        .doctor
        .expect("has a doctor");
    doctor(ctx).await
}

fn check<'a>(checks: &'a [Check], name: &str) -> &'a Check {
    checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check {name}: {checks:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_reports_each_finding_with_a_fix() {
    let fake = common::fake().await;
    let ctx = || BuildContext::new(common::config(&fake));

    let checks = run(ctx().with_env(ASANA_TOKEN_ENV, Some(common::TOKEN.into()))).await;
    for name in ["asana_project", "token", "authentication", "project"] {
        assert!(check(&checks, name).ok, "{name}: {checks:?}");
    }
    // Missing sections and tags are reported, but are no fault: they are made on first use.
    let sections = check(&checks, "sections");
    assert!(sections.ok, "{sections:?}");
    assert!(
        sections.detail.contains("In Progress") && sections.detail.contains("first use"),
        "{sections:?}"
    );
    let tags = check(&checks, "priority tags");
    assert!(
        tags.ok && tags.detail.contains("priority:urgent"),
        "{tags:?}"
    );

    // After use, everything is there.
    let p = AsanaProvider::new(common::settings(&fake)).unwrap();
    let r = p.create(NewTicket::new("x")).await.unwrap();
    for s in Status::ALL {
        p.change_status(&r.guid, s).await.unwrap();
    }
    for pr in ticket_provider_api::Priority::ALL {
        p.create(NewTicket::new("y").priority(pr)).await.unwrap();
    }
    let checks = run(ctx().with_env(ASANA_TOKEN_ENV, Some(common::TOKEN.into()))).await;
    assert!(checks.iter().all(|c| c.ok), "{checks:?}");
    assert!(
        !check(&checks, "sections").detail.contains("missing"),
        "{checks:?}"
    );

    let checks = run(ctx().with_env(ASANA_TOKEN_ENV, Some("wrong".into()))).await;
    let auth = check(&checks, "authentication");
    assert!(!auth.ok);
    assert!(
        auth.fix.as_deref().unwrap().contains(ASANA_TOKEN_ENV),
        "{auth:?}"
    );

    let checks = run(ctx().with_env(ASANA_TOKEN_ENV, None)).await;
    assert!(!check(&checks, "token").ok);

    let checks = run(BuildContext::new(
        Config::parse("homechoice:\n  ticket:\n    provider: asana\n", "t").unwrap(),
    )
    .with_env(ASANA_TOKEN_ENV, Some("t".into())))
    .await;
    assert!(!check(&checks, "asana_project").ok);
    fake.shutdown().await;
}

/// The doctor's checks for `fake` with priority in the field "Priority" (normal → "Medium").
async fn run_with_field(fake: &FakeAsana) -> Vec<Check> {
    let yaml = format!(
        "homechoice:\n  ticket:\n    provider: asana\n    asana_project: \"{}\"\n    asana_base_url: \"{}\"\n    asana_priority_field: Priority\n    asana_priority_options: {{normal: Medium}}\n",
        fake.project_gid(),
        fake.base_url()
    );
    let ctx = BuildContext::new(Config::parse(&yaml, "test").unwrap())
        .with_env(ASANA_TOKEN_ENV, Some(common::TOKEN.into()));
    run(ctx).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_checks_the_priority_field() {
    let fake = common::fake().await;

    // Not on the project (nor anywhere).
    let checks = run_with_field(&fake).await;
    let f = check(&checks, "priority field");
    assert!(!f.ok, "{f:?}");
    assert!(f.detail.contains("\"Priority\""), "{f:?}");
    assert!(
        f.fix.as_deref().unwrap().contains("project settings"),
        "{f:?}"
    );
    assert!(
        checks.iter().all(|c| c.name != "priority tags"),
        "no tags in field mode: {checks:?}"
    );
    assert!(check(&checks, "authentication").ok);

    // On the project, with "Urgent" missing and "Low" disabled.
    let field = common::enum_field(&fake, "Priority", &["Low", "Medium", "High"], true).await;
    common::update_option(
        &fake,
        &field.option("Low"),
        serde_json::json!({"enabled": false}),
    )
    .await;
    let checks = run_with_field(&fake).await;
    assert!(check(&checks, "priority field").ok, "{checks:?}");
    let o = check(&checks, "priority options");
    assert!(!o.ok, "{o:?}");
    assert!(
        o.detail.contains("\"Urgent\"") && o.detail.contains("\"Low\""),
        "{o:?}"
    );
    assert!(o.detail.contains("disabled"), "{o:?}");
    let fix = o.fix.as_deref().unwrap();
    assert!(
        fix.contains("asana_priority_options.urgent") && fix.contains("asana_priority_options.low"),
        "{o:?}"
    );

    // Fixed in Asana: every check passes.
    common::update_option(
        &fake,
        &field.option("Low"),
        serde_json::json!({"enabled": true}),
    )
    .await;
    let (status, body) = common::asana(
        &fake,
        reqwest::Method::POST,
        &format!("/custom_fields/{}/enum_options", field.gid),
        Some(serde_json::json!({"name": "Urgent"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let checks = run_with_field(&fake).await;
    assert!(checks.iter().all(|c| c.ok), "{checks:?}");
    assert!(
        check(&checks, "priority options")
            .detail
            .contains("normal → \"Medium\""),
        "{checks:?}"
    );

    // A 402 on the read of the project's custom fields: a failed check with the fix.
    fake.add_fault(Fault {
        method: Some("GET".into()),
        path_prefix: Some(format!(
            "/api/1.0/projects/{}/custom_field_settings",
            fake.project_gid()
        )),
        status: Some(402),
        count: 1,
        ..Default::default()
    });
    let checks = run_with_field(&fake).await;
    let f = check(&checks, "priority field");
    assert!(!f.ok, "{f:?}");
    assert!(f.detail.contains("402 Payment Required"), "{f:?}");
    assert!(
        f.fix
            .as_deref()
            .unwrap()
            .contains("remove homechoice.ticket.asana_priority_field to keep priority in tags"),
        "{f:?}"
    );
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_fails_a_priority_field_that_is_no_enum() {
    let fake = common::fake().await;
    let (status, body) = common::asana(
        &fake,
        reqwest::Method::POST,
        "/custom_fields",
        Some(serde_json::json!({
            "workspace": fake.workspace_gid(),
            "name": "Priority",
            "resource_subtype": "number",
        })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    common::add_field_to_project(&fake, body["data"]["gid"].as_str().unwrap()).await;
    let checks = run_with_field(&fake).await;
    let f = check(&checks, "priority field");
    assert!(!f.ok && f.detail.contains("number field"), "{f:?}");
    assert!(f.fix.as_deref().unwrap().contains("single-select"), "{f:?}");
    fake.shutdown().await;
}
