//! The shared behaviour suite, run against the fake Asana through the registry.

use crate::common;

use provider_asana as _;
use ticket_provider_testkit::{run_all, SuiteOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behaviour_suite_passes_against_the_fake() {
    let fake = common::fake().await;
    fake.add_user("Alice Example", "alice@example.com");
    fake.add_user("Bob Example", "bob@example.com");
    let provider = common::registry_provider(&fake, common::TOKEN).await;
    let mut opts = SuiteOptions::new("asana");
    opts.assignees = vec!["alice@example.com".into(), "bob@example.com".into()];
    opts.unknown_guid = "9999999999999999".into();
    opts.malformed_guid = Some("not-a-gid".into());
    run_all(provider, &opts).await;
    fake.shutdown().await;
}
