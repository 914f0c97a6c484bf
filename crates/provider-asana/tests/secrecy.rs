//! The token never shows: not in logs at TRACE level (ours, reqwest's, hyper's), not in
//! errors, not in `Debug`.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use asana_fake::Fault;
use provider_asana::AsanaProvider;
use ticket_provider_api::{
    find_descriptor, BuildContext, ListQuery, NewComment, NewTicket, Status, TicketProvider,
};

const SECRET: &str = "tok-SECRET-8f3a9c-do-not-log";
const WRONG: &str = "tok-WRONG-77e1d2-do-not-log";

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_never_appears_in_logs_errors_or_debug() {
    let logs = Buffer::default();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(logs.clone())
        .with_ansi(false)
        .try_init()
        .expect("the only subscriber of this test binary");

    let fake = common::fake_with_token(SECRET).await;
    fake.add_user("Alice", "alice@example.com");
    let p = common::registry_provider(&fake, SECRET).await;
    let mut seen = Vec::new();

    let r = p
        .create(NewTicket::new("secret test").assignee("alice@example.com"))
        .await
        .unwrap();
    p.change_status(&r.guid, Status::Closed).await.unwrap();
    p.add_comment(&r.guid, NewComment::new("hi")).await.unwrap();
    p.get_ticket(&r.guid).await.unwrap();
    p.list_tickets(ListQuery::default()).await.unwrap();
    seen.push(format!(
        "{:?}",
        p.assign(&r.guid, "ghost@example.com").await
    ));
    seen.push(format!("{:?}", p.get_ticket("9999999999999999").await));
    seen.push(format!("{:?}", p.get_ticket("not-a-gid").await));
    fake.add_fault(Fault {
        method: Some("POST".into()),
        path_prefix: Some("/api/1.0/tasks".into()),
        status: Some(500),
        count: 1,
        ..Default::default()
    });
    let err = p.create(NewTicket::new("x")).await.unwrap_err();
    seen.push(err.to_string());
    seen.push(format!("{err:?}"));
    fake.add_fault(Fault {
        method: Some("POST".into()),
        path_prefix: Some("/api/1.0/batch".into()),
        status: Some(429),
        count: 1,
        retry_after: Some(0),
        ..Default::default()
    });
    p.get_ticket(&r.guid).await.unwrap();
    seen.push(format!("{p:?}"));

    // A refused token: neither shows.
    let wrong = common::registry_provider(&fake, WRONG).await;
    let err = wrong.list_tickets(ListQuery::default()).await.unwrap_err();
    seen.push(err.to_string());
    seen.push(format!("{err:?}"));
    seen.push(format!("{wrong:?}"));

    let direct = AsanaProvider::from_config(
        &BuildContext::new(common::config(&fake))
            .with_env(provider_asana::ASANA_TOKEN_ENV, Some(SECRET.into())),
    )
    .await
    .unwrap();
    seen.push(format!("{direct:?}"));
    seen.push(format!("{:?}", direct.settings()));

    let doctor = find_descriptor("asana").unwrap().doctor.unwrap();
    let checks = doctor(
        BuildContext::new(common::config(&fake))
            .with_env(provider_asana::ASANA_TOKEN_ENV, Some(WRONG.into())),
    )
    .await;
    seen.push(format!("{checks:?}"));

    let logged = String::from_utf8_lossy(&logs.0.lock().unwrap()).to_string();
    assert!(logged.contains("asana request"), "TRACE logs were captured");
    for token in [SECRET, WRONG] {
        assert!(!logged.contains(token), "token in logs");
        for s in &seen {
            assert!(!s.contains(token), "token in {s}");
        }
    }
    fake.shutdown().await;
}
