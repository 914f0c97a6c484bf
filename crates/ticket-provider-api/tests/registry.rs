//! Registry behaviour with providers registered from this test binary.

use std::sync::Arc;

use ticket_provider_api::{
    build_provider, find_descriptor, get_provider, register_provider, registered_names, BoxFuture,
    BuildContext, Config, ErrorKind, ProviderDescriptor, Result, TicketProvider,
};

fn refuse(ctx: BuildContext) -> BoxFuture<'static, Result<Arc<dyn TicketProvider>>> {
    // Report what the context saw, so the test can check config and env plumbing.
    let token = ctx
        .secret("REGISTRY_TEST_TOKEN")
        .map(|s| s.expose().to_string());
    let provider = ctx.config().ticket.provider.clone();
    Box::pin(async move {
        Err(ticket_provider_api::Error::config(format!(
            "built {provider} with token {token:?}"
        )))
    })
}

register_provider!(ProviderDescriptor::new("probe", "test", "crate-a", refuse));
register_provider!(ProviderDescriptor::new("twice", "test", "crate-a", refuse));
register_provider!(ProviderDescriptor::new("twice", "test", "crate-b", refuse));

#[test]
fn names_are_sorted_and_unique() {
    assert_eq!(registered_names(), vec!["probe", "twice"]);
}

#[test]
fn two_registrations_with_one_name_are_an_error_naming_both_crates() {
    let err = find_descriptor("twice").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    let msg = err.to_string();
    assert!(msg.contains("crate-a") && msg.contains("crate-b"), "{msg}");
}

#[tokio::test]
async fn default_provider_is_internal_and_its_feature_is_named() {
    let err = get_provider(&Config::default())
        .await
        .expect_err("internal is not linked here");
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("provider-internal"), "{err}");
}

#[tokio::test]
async fn unknown_name_lists_registered_providers() {
    let cfg = Config::parse("homechoice:\n  ticket:\n    provider: jira\n", "t").unwrap();
    let err = get_provider(&cfg).await.unwrap_err();
    assert!(err.to_string().contains("unknown provider 'jira'"), "{err}");
    assert!(err.to_string().contains("probe, twice"), "{err}");
}

#[tokio::test]
async fn the_constructor_gets_config_and_overridden_env() {
    let cfg = Config::parse("homechoice:\n  ticket:\n    provider: probe\n", "t").unwrap();
    let ctx = BuildContext::new(cfg).with_env("REGISTRY_TEST_TOKEN", Some("s3cret".into()));
    let err = build_provider(ctx).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("built probe with token Some(\"s3cret\")"),
        "{err}"
    );
    assert_eq!(err.provider(), Some("probe"));
}
