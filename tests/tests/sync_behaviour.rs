//! The shared behaviour suite through the registry: with a healthy fake Asana (every result
//! synced), and with a fake that fails every request (every result pending; after the faults
//! are cleared, one flush makes Asana mirror the internal store).

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use asana_fake::Fault;
use homechoice_tickets::{
    async_trait, Extensions, ListQuery, NewComment, NewTicket, OperationResult, ProviderInfo,
    Result, Status, SyncState, TicketDetails, TicketPage, TicketProvider, TicketUpdate,
};
use ticket_provider_testkit::{run_all, SuiteOptions};

/// Forwards to a provider and checks every successful result's `sync_state`.
#[derive(Debug)]
struct ExpectState {
    inner: Arc<dyn TicketProvider>,
    want: SyncState,
}

impl ExpectState {
    fn check(&self, r: Result<OperationResult>) -> Result<OperationResult> {
        if let Ok(res) = &r {
            assert_eq!(res.sync_state, Some(self.want), "sync_state of {res:?}");
            assert_eq!(res.provider, "sync");
            if self.want == SyncState::Synced {
                assert!(
                    res.asana_gid.is_some(),
                    "a synced result names its task: {res:?}"
                );
            }
        }
        r
    }
}

#[async_trait]
impl TicketProvider for ExpectState {
    fn info(&self) -> ProviderInfo {
        self.inner.info()
    }
    fn extensions(&self) -> Extensions {
        self.inner.extensions()
    }
    async fn shutdown(&self) -> Result<()> {
        self.inner.shutdown().await
    }
    async fn create(&self, t: NewTicket) -> Result<OperationResult> {
        self.check(self.inner.create(t).await)
    }
    async fn update(&self, g: &str, c: TicketUpdate) -> Result<OperationResult> {
        self.check(self.inner.update(g, c).await)
    }
    async fn change_status(&self, g: &str, s: Status) -> Result<OperationResult> {
        self.check(self.inner.change_status(g, s).await)
    }
    async fn assign(&self, g: &str, a: &str) -> Result<OperationResult> {
        self.check(self.inner.assign(g, a).await)
    }
    async fn add_comment(&self, g: &str, c: NewComment) -> Result<OperationResult> {
        self.check(self.inner.add_comment(g, c).await)
    }
    async fn get_ticket(&self, g: &str) -> Result<TicketDetails> {
        let d = self.inner.get_ticket(g).await;
        if let Ok(d) = &d {
            assert_eq!(d.ticket.provider, "sync");
            assert!(d.ticket.sync_state.is_some());
        }
        d
    }
    async fn list_tickets(&self, q: ListQuery) -> Result<TicketPage> {
        let page = self.inner.list_tickets(q).await;
        if let Ok(p) = &page {
            for t in &p.tickets {
                assert_eq!(t.provider, "sync");
                match t.sync_state {
                    // A listed ticket is decorated in bulk: it must agree with what Asana
                    // has, i.e. nothing linked while Asana fails everything...
                    Some(SyncState::Pending) if self.want == SyncState::Pending => {
                        assert_eq!(t.asana_gid, None, "{t:?}")
                    }
                    // ...and a task gid for every ticket that is fully synced.
                    Some(SyncState::Synced) => assert!(t.asana_gid.is_some(), "{t:?}"),
                    Some(SyncState::Pending) => {}
                    // The suite's changes are all valid: Asana refuses none of them.
                    Some(SyncState::SetAside) => panic!("nothing is set aside here: {t:?}"),
                    None => panic!("listed without sync_state: {t:?}"),
                }
            }
            if self.want == SyncState::Pending {
                assert!(p
                    .tickets
                    .iter()
                    .all(|t| t.sync_state == Some(SyncState::Pending)));
            }
        }
        page
    }
    async fn close(&self, g: &str) -> Result<OperationResult> {
        self.check(self.inner.close(g).await)
    }
    async fn resolve(&self, g: &str) -> Result<OperationResult> {
        self.check(self.inner.resolve(g).await)
    }
    async fn escalate(&self, g: &str, r: Option<&str>) -> Result<OperationResult> {
        self.check(self.inner.escalate(g, r).await)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suite_passes_with_a_healthy_asana_and_every_result_is_synced() {
    let (fake, users) = common::fake().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let config = common::config(&fake.base_url(), &fake.project_gid(), &db, 10_000);
    let provider = common::registry_provider(config.clone()).await;
    let checked: Arc<dyn TicketProvider> = Arc::new(ExpectState {
        inner: provider,
        want: SyncState::Synced,
    });
    run_all(checked, &SuiteOptions::new("sync")).await;

    let sync = common::from_config(config).await;
    let report = sync.flush().await.unwrap();
    assert_eq!(report.pending, 0, "{report:?}");
    assert_eq!(sync.status().await.unwrap().set_aside, 0);
    common::assert_mirrors(&fake, &sync, &users).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suite_passes_with_a_failing_asana_and_one_flush_catches_up() {
    let (fake, users) = common::fake().await;
    fake.add_fault(Fault {
        status: Some(503),
        count: 1_000_000,
        ..Fault::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let config = common::config(&fake.base_url(), &fake.project_gid(), &db, 300);
    let provider = common::registry_provider(config.clone()).await;
    let checked: Arc<dyn TicketProvider> = Arc::new(ExpectState {
        inner: provider,
        want: SyncState::Pending,
    });
    run_all(checked.clone(), &SuiteOptions::new("sync")).await;
    assert!(fake.project_tasks(&fake.project_gid()).is_empty());
    drop(checked);

    // Let background pushes of the suite's last operations give up before Asana recovers.
    tokio::time::sleep(Duration::from_secs(2)).await;
    fake.clear_faults();
    let sync = common::from_config(config).await;
    let before = sync.status().await.unwrap();
    assert!(before.pending > 0);
    assert_eq!(before.set_aside, 0, "{before:?}");
    let report = sync.flush().await.unwrap();
    assert_eq!(report.pending, 0, "{report:?}");
    assert_eq!(report.set_aside, 0, "{report:?}");
    assert!(!report.stopped_early);
    common::assert_mirrors(&fake, &sync, &users).await;
}
