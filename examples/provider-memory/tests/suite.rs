//! The example provider passes the shared behaviour suite, built by name through the registry
//! from a config file, exactly as an application would select it.

use std::sync::Arc;

use ticket_provider_api::{get_provider, Config, ErrorKind, NewTicket, TicketProvider};
use ticket_provider_testkit::{run_all, SuiteOptions};

// Name the crate so that rustc links it and its inventory registration.
use provider_memory as _;

fn memory_config(extra: &str) -> Config {
    let dir = std::env::temp_dir().join(format!("provider-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("config-{}.yaml", extra.len()));
    std::fs::write(
        &path,
        format!("homechoice:\n  ticket:\n    provider: memory\n{extra}"),
    )
    .unwrap();
    Config::load(&path).unwrap()
}

fn memory_options() -> SuiteOptions {
    let mut opts = SuiteOptions::new("memory");
    opts.unknown_guid = "mem-999999999".into();
    opts.malformed_guid = Some("0193-not-memory".into());
    opts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn passes_the_behaviour_suite_when_chosen_by_name() {
    let provider = get_provider(&memory_config(ticket_provider_testkit::SUITE_FIELDS_YAML))
        .await
        .expect("memory provider builds");
    let mut opts = memory_options();
    opts.fields = true;
    run_all(provider, &opts).await;
}

#[tokio::test]
async fn reads_its_own_settings_from_the_config_file() {
    let cfg = memory_config("    providers:\n      memory:\n        max_tickets: 1\n");
    let provider: Arc<dyn TicketProvider> = get_provider(&cfg).await.unwrap();
    provider.create(NewTicket::new("one")).await.unwrap();
    let err = provider.create(NewTicket::new("two")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(err.to_string().contains("max_tickets"), "{err}");

    let cfg = memory_config("    providers:\n      memory:\n        max_tikets: 1\n");
    let err = get_provider(&cfg).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("max_tikets"), "{err}");
}
