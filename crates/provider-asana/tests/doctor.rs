//! `ticket doctor` checks of the Asana provider.

mod common;

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
