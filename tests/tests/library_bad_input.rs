//! The library API refuses bad input with the right error kind and writes nothing — the same
//! inputs the CLI's table (`crates/ticket-cli/tests/bad_input.rs`) feeds the `ticket` binary.

use std::path::Path;

use homechoice_tickets::provider_internal::{InternalProvider, StoreOptions};
use homechoice_tickets::{
    get_provider, Config, ErrorKind, ListQuery, NewComment, NewTicket, Priority, Status,
    TicketProvider, TicketUpdate,
};

const UNKNOWN: &str = "00000000-0000-7000-8000-000000000000";

/// The library API refuses the same inputs with the right error kind, and writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_api_refuses_bad_input_with_the_right_kind() {
    let dir = tempfile::tempdir().unwrap();
    let path: &Path = &dir.path().join("config.yaml");
    std::fs::write(path, "homechoice:\n  ticket:\n    database_url: lib.db\n").unwrap();
    let p = get_provider(&Config::load(path).unwrap()).await.unwrap();
    let guid = p.create(NewTicket::new("keep")).await.unwrap().guid;
    let store = InternalProvider::open(
        &format!("sqlite://{}", dir.path().join("lib.db").display()),
        StoreOptions::default(),
    )
    .await
    .unwrap();
    let before = store.row_counts().await.unwrap();

    let upd = |s: &str| TicketUpdate {
        subject: Some(s.to_string()),
        ..Default::default()
    };
    let results: Vec<(&str, ErrorKind, Option<ErrorKind>)> = vec![
        (
            "status parse",
            ErrorKind::InvalidInput,
            "closedd".parse::<Status>().err().map(|e| e.kind()),
        ),
        (
            "priority parse",
            ErrorKind::InvalidInput,
            "p0".parse::<Priority>().err().map(|e| e.kind()),
        ),
        (
            "config parse",
            ErrorKind::Config,
            Config::parse("homechoice: {ticket: {x: 1}}", "lib")
                .err()
                .map(|e| e.kind()),
        ),
        (
            "create blank",
            ErrorKind::InvalidInput,
            p.create(NewTicket::new(" ")).await.err().map(|e| e.kind()),
        ),
        (
            "update empty",
            ErrorKind::InvalidInput,
            p.update(&guid, TicketUpdate::default())
                .await
                .err()
                .map(|e| e.kind()),
        ),
        (
            "update control",
            ErrorKind::InvalidInput,
            p.update(&guid, upd("a\u{0}b"))
                .await
                .err()
                .map(|e| e.kind()),
        ),
        (
            "update malformed guid",
            ErrorKind::InvalidInput,
            p.update("zzz", upd("x")).await.err().map(|e| e.kind()),
        ),
        (
            "update unknown",
            ErrorKind::NotFound,
            p.update(UNKNOWN, upd("x")).await.err().map(|e| e.kind()),
        ),
        (
            "assign blank",
            ErrorKind::InvalidInput,
            p.assign(&guid, "\t").await.err().map(|e| e.kind()),
        ),
        (
            "comment blank",
            ErrorKind::InvalidInput,
            p.add_comment(&guid, NewComment::new(""))
                .await
                .err()
                .map(|e| e.kind()),
        ),
        (
            "comment author control",
            ErrorKind::InvalidInput,
            p.add_comment(&guid, NewComment::new("hi").author("a\nb"))
                .await
                .err()
                .map(|e| e.kind()),
        ),
        (
            "list limit",
            ErrorKind::InvalidInput,
            p.list_tickets(ListQuery {
                limit: Some(0),
                ..Default::default()
            })
            .await
            .err()
            .map(|e| e.kind()),
        ),
        (
            "list cursor",
            ErrorKind::InvalidInput,
            p.list_tickets(ListQuery {
                cursor: Some("x".into()),
                ..Default::default()
            })
            .await
            .err()
            .map(|e| e.kind()),
        ),
        (
            "escalate blank reason",
            ErrorKind::InvalidInput,
            p.escalate(&guid, Some("")).await.err().map(|e| e.kind()),
        ),
        (
            "get unknown",
            ErrorKind::NotFound,
            p.get_ticket(UNKNOWN).await.err().map(|e| e.kind()),
        ),
    ];
    for (name, want, got) in results {
        assert_eq!(got, Some(want), "{name}");
    }
    assert_eq!(
        store.row_counts().await.unwrap(),
        before,
        "a refused call wrote something"
    );
}
