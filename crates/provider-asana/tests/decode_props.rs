//! Property test: whatever a server answers — arbitrary bytes, arbitrary JSON, truncated or
//! type-confused Asana bodies, with any status — the provider returns `Ok` or an `Err` and
//! never panics.
//!
//! A tiny HTTP server on loopback answers the three start-up reads (project, sections, tags)
//! correctly, so the provider gets past its cache warm-up, and answers every other request
//! with the generated status and body.

use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use provider_asana::{AsanaProvider, AsanaSettings, RetryPolicy};
use serde_json::{json, Value};
use ticket_provider_api::{
    ListQuery, NewComment, NewTicket, Priority, SecretString, Status, TicketProvider, TicketUpdate,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const PROJECT: &str = "1200000000000001";
const WORKSPACE: &str = "1200000000000002";
const ASSIGNEE: &str = "1200000000000010";

type Answer = Arc<Mutex<(u16, Vec<u8>)>>;

fn canned(path: &str) -> Option<Value> {
    if path == format!("/api/1.0/projects/{PROJECT}") {
        return Some(
            json!({"data": {"gid": PROJECT, "resource_type": "project", "name": "Tickets",
            "workspace": {"gid": WORKSPACE, "resource_type": "workspace", "name": "WS"}}}),
        );
    }
    if path == format!("/api/1.0/projects/{PROJECT}/sections") {
        let data: Vec<Value> = Status::ALL
            .iter()
            .enumerate()
            .map(|(i, s)| json!({"gid": format!("13000000000000{i:02}"), "resource_type": "section", "name": s.title()}))
            .collect();
        return Some(json!({"data": data, "next_page": null}));
    }
    if path == format!("/api/1.0/workspaces/{WORKSPACE}/tags") {
        let data: Vec<Value> = Priority::ALL
            .iter()
            .enumerate()
            .map(|(i, p)| json!({"gid": format!("14000000000000{i:02}"), "resource_type": "tag", "name": format!("priority:{p}")}))
            .collect();
        return Some(json!({"data": data, "next_page": null}));
    }
    None
}

async fn serve(listener: TcpListener, answer: Answer) {
    loop {
        let Ok((mut sock, _)) = listener.accept().await else {
            return;
        };
        let answer = answer.clone();
        tokio::spawn(async move {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Read the head, then as much body as Content-Length says.
            let head_end = loop {
                let Ok(n) = sock.read(&mut chunk).await else {
                    return;
                };
                if n == 0 {
                    return;
                }
                buf.extend_from_slice(&chunk[..n]);
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break i + 4;
                }
            };
            let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
            let len = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            while buf.len() < head_end + len {
                let Ok(n) = sock.read(&mut chunk).await else {
                    return;
                };
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let target = head.split_whitespace().nth(1).unwrap_or("/");
            let path = target.split('?').next().unwrap_or("/");
            let request_body = String::from_utf8_lossy(&buf[head_end..]);
            let (status, body) = match canned(path) {
                Some(v) => (200, v.to_string().into_bytes()),
                // The e-mail of the well-formed task's assignee (read once, then cached);
                // every other user lookup gets the generated answer.
                None if request_body.contains(&format!("/users/{ASSIGNEE}")) => {
                    let user = json!({"data": [{"status_code": 200, "headers": {}, "body": {"data":
                        {"gid": ASSIGNEE, "email": "a@example.com", "name": "A"}}}]});
                    (200, user.to_string().into_bytes())
                }
                None => answer.lock().unwrap().clone(),
            };
            let mut resp = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .into_bytes();
            resp.extend_from_slice(&body);
            let _ = sock.write_all(&resp).await;
            let _ = sock.shutdown().await;
        });
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "[a-z0-9 :._-]{0,12}".prop_map(Value::String),
        Just(json!("2026-11-28T12:00:00.000Z")),
        Just(json!("1200000000000009")),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("gid".to_string()),
                    Just("name".to_string()),
                    Just("notes".to_string()),
                    Just("data".to_string()),
                    Just("memberships".to_string()),
                    Just("section".to_string()),
                    Just("tags".to_string()),
                    Just("assignee".to_string()),
                    Just("email".to_string()),
                    Just("created_at".to_string()),
                    Just("modified_at".to_string()),
                    Just("completed".to_string()),
                    Just("next_page".to_string()),
                    Just("offset".to_string()),
                    Just("errors".to_string()),
                    Just("message".to_string()),
                    Just("type".to_string()),
                    Just("text".to_string()),
                    Just("status_code".to_string()),
                    Just("body".to_string()),
                ],
                inner,
                0..5,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A realistic task answer, so truncation and field confusion hit the real decoding paths.
fn task_body() -> Value {
    json!({"data": {"gid": "1200000000000009", "resource_type": "task", "name": "Printer", "notes": "n\n[ticket-guid: abc]",
        "completed": false, "created_at": "2026-11-28T12:00:00.000Z", "modified_at": "2026-11-28T12:00:00.000Z",
        "assignee": {"gid": ASSIGNEE, "resource_type": "user", "name": "A"},
        "memberships": [{"project": {"gid": PROJECT}, "section": {"gid": "1300000000000002", "name": "In Progress"}}],
        "tags": [{"gid": "1400000000000002", "name": "priority:high"}]}})
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64),
        json_value().prop_map(|v| v.to_string().into_bytes()),
        json_value().prop_map(|v| json!({"data": v}).to_string().into_bytes()),
        json_value().prop_map(|v| json!({"data": [v], "next_page": null})
            .to_string()
            .into_bytes()),
        json_value().prop_map(
            |v| json!({"data": [{"status_code": 200, "body": {"data": v}}]})
                .to_string()
                .into_bytes()
        ),
        (0usize..400).prop_map(|cut| {
            let full = task_body().to_string().into_bytes();
            full[..cut.min(full.len())].to_vec()
        }),
        (0usize..8, json_value()).prop_map(|(field, v)| {
            let mut t = task_body();
            let key = [
                "name",
                "notes",
                "completed",
                "created_at",
                "assignee",
                "memberships",
                "tags",
                "gid",
            ][field];
            t["data"][key] = v;
            t.to_string().into_bytes()
        }),
    ]
}

fn status() -> impl Strategy<Value = u16> {
    prop_oneof![
        Just(200u16),
        Just(201),
        Just(400),
        Just(401),
        Just(404),
        Just(429),
        Just(500),
        Just(204)
    ]
}

#[test]
fn any_answer_gives_ok_or_err_never_a_panic() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let answer: Answer = Arc::new(Mutex::new((200, b"{}".to_vec())));
    let provider = rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/api/1.0", listener.local_addr().unwrap());
        tokio::spawn(serve(listener, answer.clone()));
        let mut s = AsanaSettings::new(base, PROJECT, SecretString::new("prop-token"));
        s.retry = RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::fast()
        };
        AsanaProvider::new(s).unwrap()
    });
    let gid = "1200000000000009";
    // The harness reaches the real decoding: a well-formed batch answer reads back as a ticket.
    let good = json!({"data": [
        {"status_code": 200, "headers": {}, "body": task_body()},
        {"status_code": 200, "headers": {}, "body": {"data": [], "next_page": null}},
        // The first get also reads the token owner (to tell its stories from others').
        {"status_code": 200, "headers": {}, "body": {"data": {"gid": "1", "email": "me@example.com", "name": "Me"}}},
    ]});
    *answer.lock().unwrap() = (200, good.to_string().into_bytes());
    let t = rt
        .block_on(provider.get_ticket(gid))
        .expect("a well-formed answer decodes");
    assert_eq!(
        (
            t.ticket.subject.as_str(),
            t.ticket.status,
            t.ticket.priority
        ),
        ("Printer", Status::InProgress, Priority::High)
    );
    assert_eq!(t.ticket.assignee.as_deref(), Some("a@example.com"));
    proptest!(ProptestConfig::with_cases(96), |(st in status(), b in body())| {
        *answer.lock().unwrap() = (st, b);
        rt.block_on(async {
            let _ = provider.get_ticket(gid).await;
            let _ = provider.list_tickets(ListQuery::default()).await;
            let _ = provider.create(NewTicket::new("x").assignee("a@example.com")).await;
            let _ = provider.change_status(gid, Status::Resolved).await;
            let _ = provider.add_comment(gid, NewComment::new("hi")).await;
            let _ = provider.assign(gid, "a@example.com").await;
            let _ = provider.update(gid, TicketUpdate { priority: Some(Priority::Low), ..Default::default() }).await;
            let _ = provider.escalate(gid, Some("why")).await;
        });
    });
}
