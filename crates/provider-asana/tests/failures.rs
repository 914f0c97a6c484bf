//! Rate limits, server errors, timeouts and authentication failures against the fake.

use crate::common;

use std::time::{Duration, Instant};

use asana_fake::Fault;
use provider_asana::AsanaProvider;
use provider_asana::ASANA_TOKEN_ENV;
use ticket_provider_api::{
    build_provider, BuildContext, Config, ErrorKind, ListQuery, NewTicket, TicketProvider,
};

fn fault(method: &str, prefix: &str, status: u16, count: u32) -> Fault {
    Fault {
        method: Some(method.into()),
        path_prefix: Some(format!("/api/1.0{prefix}")),
        status: Some(status),
        count,
        retry_after: None,
        delay_ms: None,
        after_apply: false,
        body: None,
    }
}

fn count(fake: &asana_fake::FakeAsana, call: &str) -> usize {
    common::calls(fake).iter().filter(|c| *c == call).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_waits_for_retry_after_then_retries() {
    let fake = common::fake().await;
    let p = common::provider(&fake);
    let r = p.create(NewTicket::new("limited")).await.unwrap();

    fake.clear_requests();
    fake.add_fault(Fault {
        retry_after: Some(1),
        ..fault("POST", "/batch", 429, 1)
    });
    let started = Instant::now();
    let t = p.get_ticket(&r.guid).await.unwrap();
    assert_eq!(t.ticket.guid, r.guid);
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "Retry-After not honoured: {:?}",
        started.elapsed()
    );
    let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 200]);

    // A 429 on a create was a rejection: retrying it is safe and creates one task.
    fake.clear_requests();
    fake.add_fault(Fault {
        retry_after: Some(0),
        ..fault("POST", "/tasks", 429, 2)
    });
    let before = fake.project_tasks(&fake.project_gid()).len();
    p.create(NewTicket::new("after 429")).await.unwrap();
    assert_eq!(count(&fake, "POST /tasks"), 3);
    assert_eq!(fake.project_tasks(&fake.project_gid()).len(), before + 1);
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_rate_limit_ends_as_rate_limited() {
    let fake = common::fake().await;
    let p = common::provider(&fake);
    p.list_tickets(ListQuery::default()).await.unwrap();
    fake.add_fault(Fault {
        retry_after: Some(0),
        ..fault("GET", "/projects", 429, 1000)
    });
    let err = p.list_tickets(ListQuery::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited, "{err}");
    assert!(err.is_temporary());
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried_for_reads_and_puts() {
    let fake = common::fake().await;
    fake.add_user("Alice", "alice@example.com");
    let p = common::provider(&fake);
    let r = p.create(NewTicket::new("flaky")).await.unwrap();

    fake.clear_requests();
    fake.add_fault(fault("GET", "/projects", 500, 2));
    p.list_tickets(ListQuery::default()).await.unwrap();
    let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 500, 200]);

    fake.clear_requests();
    fake.add_fault(fault("PUT", "/tasks/", 503, 2));
    let a = p.assign(&r.guid, "alice@example.com").await.unwrap();
    assert_eq!(a.assigned_to.as_deref(), Some("alice@example.com"));
    assert_eq!(count(&fake, &format!("PUT /tasks/{}", r.guid)), 3);

    // Batches hold only idempotent actions: retried too.
    fake.clear_requests();
    fake.add_fault(fault("POST", "/batch", 502, 1));
    p.get_ticket(&r.guid).await.unwrap();
    assert_eq!(count(&fake, "POST /batch"), 2);

    // Retries give up: Unavailable, temporary.
    fake.add_fault(fault("GET", "/projects", 500, 100));
    let err = p.list_tickets(ListQuery::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.is_temporary());
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_create_is_not_repeated() {
    let fake = common::fake().await;
    let p = common::provider(&fake);
    p.create(NewTicket::new("warm")).await.unwrap();

    for after_apply in [false, true] {
        fake.clear_requests();
        let before = fake.project_tasks(&fake.project_gid()).len();
        fake.add_fault(Fault {
            after_apply,
            ..fault("POST", "/tasks", 500, 3)
        });
        let err = p.create(NewTicket::new("maybe created")).await.unwrap_err();
        fake.clear_faults();
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
        assert!(err.is_temporary());
        assert!(err.to_string().contains("not repeated"), "{err}");
        assert_eq!(count(&fake, "POST /tasks"), 1, "after_apply {after_apply}");
        let after = fake.project_tasks(&fake.project_gid()).len();
        assert_eq!(after, before + usize::from(after_apply));
    }

    // A comment is a create too (posted after the read of the task).
    let r = p.create(NewTicket::new("commented")).await.unwrap();
    let stories = format!("/tasks/{}/stories", r.guid);
    fake.clear_requests();
    fake.add_fault(Fault {
        after_apply: true,
        ..fault("POST", &stories, 503, 3)
    });
    let err = p
        .add_comment(&r.guid, ticket_provider_api::NewComment::new("hi"))
        .await
        .unwrap_err();
    fake.clear_faults();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert_eq!(count(&fake, &format!("POST {stories}")), 1);
    let comments = &fake.project_tasks(&fake.project_gid());
    let commented = comments.iter().find(|t| t.gid == r.guid).unwrap();
    assert_eq!(commented.comments, ["hi"], "posted once, not repeated");
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_create_is_not_repeated() {
    let fake = common::fake().await;
    let mut s = common::settings(&fake);
    s.timeout = Duration::from_millis(300);
    let p = AsanaProvider::new(s).unwrap();
    p.create(NewTicket::new("warm")).await.unwrap();
    fake.clear_requests();
    fake.add_fault(Fault {
        delay_ms: Some(1500),
        ..fault("POST", "/tasks", 0, 5)
    });
    let before = fake.project_tasks(&fake.project_gid()).len();
    let started = Instant::now();
    let err = p.create(NewTicket::new("slow")).await.unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.is_temporary());
    // One attempt of 300 ms, not two or more.
    assert!(elapsed < Duration::from_millis(550), "{elapsed:?}");
    tokio::time::sleep(Duration::from_millis(1600)).await;
    // The fake drops a request whose client went away, so it may not even be logged.
    assert!(count(&fake, "POST /tasks") <= 1);
    assert!(fake.project_tasks(&fake.project_gid()).len() <= before + 1);
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_and_permission_errors_map_to_their_kinds() {
    let fake = common::fake().await;
    let p = common::registry_provider(&fake, "wrong-token").await;
    let err = p.list_tickets(ListQuery::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthenticated, "{err}");
    assert!(err.to_string().contains(ASANA_TOKEN_ENV), "{err}");
    assert!(!err.is_temporary());

    let p = common::provider(&fake);
    p.list_tickets(ListQuery::default()).await.unwrap();
    for (status, kind) in [
        (403, ErrorKind::PermissionDenied),
        (402, ErrorKind::Unsupported),
        (404, ErrorKind::NotFound),
    ] {
        fake.add_fault(fault("GET", "/projects", status, 1));
        let err = p.list_tickets(ListQuery::default()).await.unwrap_err();
        assert_eq!(err.kind(), kind, "{status}: {err}");
    }
    let err = p
        .create(NewTicket::new("x").assignee("nobody@example.com"))
        .await;
    let err = err.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert!(err.to_string().contains("nobody@example.com"), "{err}");
    fake.shutdown().await;
}

#[tokio::test]
async fn missing_project_or_token_is_a_config_error() {
    let cfg = Config::parse(
        "homechoice:\n  ticket:\n    provider: asana\n    asana_base_url: \"http://127.0.0.1:9/api/1.0\"\n",
        "test",
    )
    .unwrap();
    let err = build_provider(BuildContext::new(cfg).with_env(ASANA_TOKEN_ENV, Some("t".into())))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("asana_project"), "{err}");

    let cfg = Config::parse(
        "homechoice:\n  ticket:\n    provider: asana\n    asana_project: \"123\"\n    asana_base_url: \"http://127.0.0.1:9/api/1.0\"\n",
        "test",
    )
    .unwrap();
    let err = build_provider(BuildContext::new(cfg).with_env(ASANA_TOKEN_ENV, None))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains(ASANA_TOKEN_ENV), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_server_is_unavailable() {
    // Port 9 (discard) on loopback: nothing listens there in the test environment.
    let mut s = provider_asana::AsanaSettings::new(
        "http://127.0.0.1:9/api/1.0",
        "123",
        ticket_provider_api::SecretString::new("t"),
    );
    s.retry = provider_asana::RetryPolicy::fast();
    let p = AsanaProvider::new(s).unwrap();
    let err = p.get_ticket("1").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.is_temporary());
}

/// Whether `r` may have changed something in Asana: anything but a read (a `POST /batch`
/// of reads only is a read).
fn is_write(r: &asana_fake::RecordedRequest) -> bool {
    match r.method.as_str() {
        "GET" => false,
        "POST" if r.path.ends_with("/batch") => r.actions.iter().any(|a| !a.starts_with("GET ")),
        _ => true,
    }
}

/// Issue 23 #4: every write of the `asana` provider checks that the task is in the tickets
/// project before it writes. A task of another project that the token can see is NotFound
/// ("no ticket … in project …") and nothing is written: no write request reaches Asana, and
/// the task keeps its name, notes, assignee, completion, project and comments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_of_another_project_is_never_written() {
    use ticket_provider_api::{NewComment, Priority, Status, TicketUpdate};

    let fake = common::fake().await;
    let alice = "alice@example.com";
    fake.add_user("Alice", alice);
    let other = fake.add_project("Private");
    let (status, body) = common::asana(
        &fake,
        reqwest::Method::POST,
        "/tasks",
        Some(serde_json::json!({
            "name": "salaries",
            "notes": "private",
            "projects": [other],
        })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let gid = body["data"]["gid"].as_str().unwrap().to_string();
    let before = format!("{:?}", fake.project_tasks(&other));

    let field = common::enum_field(
        &fake,
        "Priority",
        &["Low", "Normal", "High", "Urgent"],
        true,
    )
    .await;
    let tags = common::provider(&fake);
    let fields = AsanaProvider::new(common::field_settings(&fake, &field.gid, &[])).unwrap();
    // Warm both (sections, tags, the field's options), so that only the operations count.
    let warm = tags
        .create(NewTicket::new("warm").priority(Priority::High))
        .await
        .unwrap();
    fields
        .update(
            &warm.guid,
            TicketUpdate {
                priority: Some(Priority::Low),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let subject = || TicketUpdate {
        subject: Some("renamed".into()),
        ..Default::default()
    };
    let priority = || TicketUpdate {
        priority: Some(Priority::Urgent),
        ..Default::default()
    };
    let description = || TicketUpdate {
        description: Some("leaked".into()),
        ..Default::default()
    };

    fake.clear_requests();
    for (mode, p) in [("tags", &tags), ("field", &fields)] {
        let ops: Vec<(&str, ticket_provider_api::Result<_>)> = vec![
            ("update subject", p.update(&gid, subject()).await),
            ("update priority", p.update(&gid, priority()).await),
            ("update description", p.update(&gid, description()).await),
            (
                "change_status",
                p.change_status(&gid, Status::InProgress).await,
            ),
            ("close", p.close(&gid).await),
            ("resolve", p.resolve(&gid).await),
            ("escalate", p.escalate(&gid, None).await),
            (
                "escalate with a reason",
                p.escalate(&gid, Some("VIP")).await,
            ),
            ("assign", p.assign(&gid, alice).await),
            (
                "add_comment",
                p.add_comment(&gid, NewComment::new("hello")).await,
            ),
        ];
        for (label, result) in ops {
            let e = result.expect_err(label);
            assert_eq!(e.kind(), ErrorKind::NotFound, "{mode} {label}: {e}");
            let text = e.to_string();
            assert!(
                text.contains(&format!(
                    "no ticket \"{gid}\" in project {}",
                    fake.project_gid()
                )),
                "{mode} {label}: {text}"
            );
        }
    }
    let written: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(is_write)
        .map(|r| format!("{} {:?}", common::describe(&r), r.actions))
        .collect();
    assert!(written.is_empty(), "write requests: {written:?}");
    assert_eq!(
        format!("{:?}", fake.project_tasks(&other)),
        before,
        "the task is unchanged"
    );
    assert!(
        fake.project_tasks(&fake.project_gid())
            .iter()
            .all(|t| t.gid != gid),
        "the task did not join the tickets project"
    );
    fake.shutdown().await;
}

/// Answers with status 200 that Asana never sends but a broken proxy, a captive portal or
/// a maintenance page does (issue 23, defect 2).
const MALFORMED_200: [(&str, &str); 5] = [
    (
        "an HTML page",
        "<html><body>Down for maintenance</body></html>",
    ),
    ("an empty object", "{}"),
    ("a null data", "{\"data\":null}"),
    ("a JSON list", "[]"),
    ("an empty body", ""),
];

/// Every API request answered with `body` (status `status`, or 200) until cleared.
fn raw_answer(status: Option<u16>, body: &str) -> Fault {
    Fault {
        status,
        body: Some(body.into()),
        count: 10_000,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_200_answer_is_a_temporary_error_not_an_empty_project() {
    let fake = common::fake().await;
    let p = common::provider(&fake);
    let r = p.create(NewTicket::new("present")).await.unwrap();
    assert_eq!(
        p.list_tickets(ListQuery::default())
            .await
            .unwrap()
            .tickets
            .len(),
        1
    );
    for (row, body) in MALFORMED_200 {
        fake.add_fault(raw_answer(None, body));
        let listed = p.list_tickets(ListQuery::default()).await;
        let read = p.get_ticket(&r.guid).await;
        fake.clear_faults();
        for (what, result) in [("list", listed.map(|_| ())), ("get", read.map(|_| ()))] {
            let err = result.expect_err(&format!("{row}: {what} must fail"));
            let text = err.to_string();
            assert_eq!(err.kind(), ErrorKind::Unavailable, "{row}: {what}: {text}");
            assert!(err.is_temporary(), "{row}: {what}: {text}");
            assert!(
                text.contains(" /"),
                "{row}: {what}: names no endpoint: {text}"
            );
            assert!(!text.contains('\n'), "{row}: {what}: {text}");
            assert!(!text.contains("maintenance"), "{row}: {what}: {text}");
        }
        // A well-formed answer is believed again.
        assert_eq!(
            p.list_tickets(ListQuery::default())
                .await
                .unwrap()
                .tickets
                .len(),
            1,
            "{row}"
        );
    }
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asana_error_text_is_cleaned_redacted_and_capped() {
    let fake = common::fake().await;
    let p = common::provider(&fake);
    let r = p.create(NewTicket::new("present")).await.unwrap();
    let echo = format!(
        "rejected header Bearer {}\u{1b}]0;owned\u{7}\r\nsecond line Bearer other-secret {}",
        common::TOKEN,
        "x".repeat(3000)
    );
    let body = serde_json::json!({ "errors": [{ "message": echo }] }).to_string();
    fake.add_fault(raw_answer(Some(400), &body));
    let errors = [
        p.list_tickets(ListQuery::default()).await.map(|_| ()),
        p.get_ticket(&r.guid).await.map(|_| ()),
        p.create(NewTicket::new("refused")).await.map(|_| ()),
    ];
    fake.clear_faults();
    for result in errors {
        let err = result.unwrap_err();
        for text in [err.to_string(), format!("{err:?}")] {
            assert!(!text.contains(common::TOKEN), "{text}");
            assert!(!text.contains("other-secret"), "{text}");
            assert!(!text.chars().any(char::is_control), "{text}");
            assert!(text.contains("rejected header Bearer [redacted]"), "{text}");
            assert!(text.contains("\\u{1b}"), "{text}");
            assert!(
                text.chars().count() < 1000,
                "{} chars",
                text.chars().count()
            );
        }
    }
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_events_page_is_an_error_not_a_quiet_project() {
    let fake = common::fake().await;
    let p = common::provider(&fake);
    let provider_asana::EventsPage::TokenInvalid { sync } = p.tasks().events(None).await.unwrap()
    else {
        panic!("the first events call asks for a fresh token");
    };
    for body in [
        "{\"sync\":\"s2\",\"has_more\":false}".to_string(),
        "{\"data\":null,\"sync\":\"s2\"}".to_string(),
        "{\"data\":{},\"sync\":\"s2\"}".to_string(),
        MALFORMED_200[0].1.to_string(),
    ] {
        fake.add_fault(raw_answer(None, &body));
        let err = p.tasks().events(Some(&sync)).await.unwrap_err();
        fake.clear_faults();
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{body}: {err}");
        assert!(err.to_string().contains("GET /events"), "{err}");
    }
    fake.shutdown().await;
}
