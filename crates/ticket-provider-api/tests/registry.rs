//! Registry behaviour with providers registered from this test binary.

use std::sync::Arc;

use ticket_provider_api::{
    async_trait, build_provider, find_descriptor, get_provider, register_provider,
    registered_names, BoxFuture, BuildContext, Capabilities, Config, Error, ErrorKind, Extensions,
    HistoryEntry, ListQuery, NewComment, NewTicket, Operation, OperationResult, ProviderDescriptor,
    ProviderInfo, ProviderSettings, Result, SettingsSpec, Status, TicketDetails, TicketHistory,
    TicketPage, TicketProvider, TicketUpdate,
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

const OPS: Capabilities = Capabilities::OPERATIONS;
register_provider!(ProviderDescriptor::new(
    "probe", "test", "crate-a", OPS, refuse
));
register_provider!(ProviderDescriptor::new(
    "twice", "test", "crate-a", OPS, refuse
));
register_provider!(ProviderDescriptor::new(
    "twice", "test", "crate-b", OPS, refuse
));

/// A provider whose every operation fails with an error that already names another
/// provider, as a provider built on top of another one would.
#[derive(Debug)]
struct Failing;

fn inner_error() -> Error {
    Error::new(ErrorKind::NotFound, "gone")
        .with_provider("underneath")
        .with_operation(Operation::Other("inner"))
}

#[async_trait]
impl TicketProvider for Failing {
    fn info(&self) -> ProviderInfo {
        ProviderInfo {
            name: "failing",
            capabilities: OPS.with(ticket_provider_api::Capability::History),
        }
    }
    fn extensions(&self) -> Extensions {
        Extensions::new().with::<dyn TicketHistory>(std::sync::Arc::new(Failing))
    }
    async fn shutdown(&self) -> Result<()> {
        Err(inner_error())
    }
    async fn create(&self, _t: NewTicket) -> Result<OperationResult> {
        Err(inner_error())
    }
    async fn update(&self, _g: &str, _c: TicketUpdate) -> Result<OperationResult> {
        Err(inner_error())
    }
    async fn change_status(&self, _g: &str, _s: Status) -> Result<OperationResult> {
        Err(inner_error())
    }
    async fn assign(&self, _g: &str, _a: &str) -> Result<OperationResult> {
        Err(inner_error())
    }
    async fn add_comment(&self, _g: &str, _c: NewComment) -> Result<OperationResult> {
        Err(inner_error())
    }
    async fn get_ticket(&self, _g: &str) -> Result<TicketDetails> {
        Err(inner_error())
    }
    async fn list_tickets(&self, _q: ListQuery) -> Result<TicketPage> {
        Err(inner_error())
    }
    async fn close(&self, _g: &str) -> Result<OperationResult> {
        Err(inner_error())
    }
    async fn resolve(&self, _g: &str) -> Result<OperationResult> {
        Err(inner_error())
    }
    async fn escalate(&self, _g: &str, _r: Option<&str>) -> Result<OperationResult> {
        Err(inner_error())
    }
}

#[async_trait]
impl TicketHistory for Failing {
    async fn history(&self, _guid: &str) -> Result<Vec<HistoryEntry>> {
        Err(inner_error())
    }
}

fn build_failing(_ctx: BuildContext) -> BoxFuture<'static, Result<Arc<dyn TicketProvider>>> {
    Box::pin(async { Ok(Arc::new(Failing) as Arc<dyn TicketProvider>) })
}

/// Settings of the `failing` provider, to prove keys declared by a descriptor are known.
#[derive(serde::Deserialize, Default)]
struct FailingSettings {
    #[serde(default)]
    failing_level: Option<u8>,
}

impl ProviderSettings for FailingSettings {
    const KEYS: &'static [ticket_provider_api::KeyDoc] = &[ticket_provider_api::KeyDoc::new(
        "failing_level",
        "integer 0-3",
        "none",
        "1",
        "How badly it fails.",
    )];
    fn check(&self) -> Result<()> {
        match self.failing_level {
            Some(l) if l > 3 => Err(Error::config(
                "homechoice.ticket.failing_level must be at most 3",
            )),
            _ => Ok(()),
        }
    }
}

register_provider!(ProviderDescriptor::new(
    "failing",
    "test",
    "crate-c",
    OPS.with(ticket_provider_api::Capability::History),
    build_failing
)
.with_settings(SettingsSpec::of::<FailingSettings>()));

#[test]
fn names_are_sorted_and_unique() {
    assert_eq!(registered_names(), vec!["failing", "probe", "twice"]);
}

#[tokio::test]
async fn every_error_names_the_configured_provider_and_the_operation() {
    let cfg = Config::parse(
        "homechoice:
  ticket:
    provider: failing
",
        "t",
    )
    .unwrap();
    let p = get_provider(&cfg).await.unwrap();
    let g = "0193a0f0-0000-7000-8000-000000000000";
    let errors: Vec<(Operation, Error)> = vec![
        (
            Operation::Create,
            p.create(NewTicket::new("s")).await.unwrap_err(),
        ),
        (
            Operation::Update,
            p.update(g, TicketUpdate::default()).await.unwrap_err(),
        ),
        (
            Operation::ChangeStatus,
            p.change_status(g, Status::New).await.unwrap_err(),
        ),
        (Operation::Assign, p.assign(g, "a").await.unwrap_err()),
        (
            Operation::AddComment,
            p.add_comment(g, NewComment::new("c")).await.unwrap_err(),
        ),
        (Operation::GetTicket, p.get_ticket(g).await.unwrap_err()),
        (
            Operation::ListTickets,
            p.list_tickets(ListQuery::default()).await.unwrap_err(),
        ),
        (Operation::Close, p.close(g).await.unwrap_err()),
        (Operation::Resolve, p.resolve(g).await.unwrap_err()),
        (Operation::Escalate, p.escalate(g, None).await.unwrap_err()),
        (Operation::Shutdown, p.shutdown().await.unwrap_err()),
        (
            Operation::Other("history"),
            p.extensions()
                .get::<dyn TicketHistory>()
                .expect("the wrapper keeps extensions")
                .history(g)
                .await
                .unwrap_err(),
        ),
    ];
    for (op, err) in errors {
        assert_eq!(err.provider(), Some("failing"), "{op}: {err}");
        assert_eq!(err.operation(), Some(op), "{err}");
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert!(err.to_string().contains("provider failing"), "{err}");
    }
    assert_eq!(p.info().name, "failing");
}

#[test]
fn declared_keys_are_known_and_checked_when_a_file_loads() {
    let ok = Config::parse(
        "homechoice:
  ticket:
    failing_level: 2
",
        "f.yaml",
    )
    .unwrap();
    assert!(ok.has_key("failing_level"));
    let err = Config::parse(
        "homechoice:
  ticket:
    failing_level: 9
",
        "f.yaml",
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("failing_level") && err.to_string().contains("f.yaml"),
        "{err}"
    );
    let err = Config::parse(
        "homechoice:
  ticket:
    failing_levle: 1
",
        "f.yaml",
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("`failing_levle`") && err.to_string().contains("failing_level"),
        "the error lists the known keys: {err}"
    );
}

#[test]
fn two_registrations_with_one_name_are_an_error_naming_both_crates() {
    let err = find_descriptor("twice").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    let msg = err.to_string();
    assert!(msg.contains("crate-a") && msg.contains("crate-b"), "{msg}");
}

#[tokio::test]
async fn default_provider_is_internal() {
    let err = get_provider(&Config::default())
        .await
        .expect_err("internal is not linked here");
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("'internal'"), "{err}");
}

#[tokio::test]
async fn unknown_name_lists_registered_providers() {
    let cfg = Config::parse("homechoice:\n  ticket:\n    provider: jira\n", "t").unwrap();
    let err = get_provider(&cfg).await.unwrap_err();
    assert!(err.to_string().contains("unknown provider 'jira'"), "{err}");
    assert!(err.to_string().contains("failing, probe, twice"), "{err}");
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
