//! Property test (issue 7): any sequence of operations leaves the sync provider's tickets
//! equal to those of a plain internal provider given the same sequence, and after `flush`
//! Asana mirrors them.
//!
//! Each case uses fresh SQLite files and a fresh healthy fake Asana. Operations name tickets
//! by index into those created so far (an index with no ticket yet is skipped).

use crate::common;

use std::time::Duration;

use homechoice_tickets::provider_internal::{InternalProvider, StoreOptions};
use homechoice_tickets::{
    NewComment, NewTicket, Priority, Status, TicketDetails, TicketProvider, TicketUpdate,
};
use proptest::prelude::*;

/// One operation of a generated sequence.
#[derive(Debug, Clone)]
enum Op {
    Create {
        subject: String,
        description: String,
        priority: Priority,
        assignee: Option<usize>,
    },
    Update {
        ticket: usize,
        subject: Option<String>,
        description: Option<String>,
        priority: Option<Priority>,
        /// `Some(None)` clears the due date.
        due: Option<Option<homechoice_tickets::Due>>,
    },
    ChangeStatus {
        ticket: usize,
        status: Status,
    },
    Assign {
        ticket: usize,
        user: usize,
    },
    AddComment {
        ticket: usize,
        body: String,
        author: Option<String>,
    },
    Close {
        ticket: usize,
    },
    Resolve {
        ticket: usize,
    },
    Escalate {
        ticket: usize,
        reason: Option<String>,
    },
}

/// The fake's users tickets are assigned to.
const USERS: [&str; 2] = [common::ALICE, common::BOB];

/// A due date: a day, or an instant given with an offset.
fn due() -> impl Strategy<Value = homechoice_tickets::Due> {
    prop_oneof![
        (2000i32..2100, 1u32..=12, 1u32..=28)
            .prop_map(|(y, m, d)| { format!("{y:04}-{m:02}-{d:02}").parse().expect("a day") }),
        (0i64..4_000_000_000, -11i32..=13).prop_map(|(secs, h)| {
            let sign = if h < 0 { '-' } else { '+' };
            let t =
                homechoice_tickets::chrono::DateTime::from_timestamp(secs, 0).expect("in range");
            format!("{}{sign}{:02}:00", t.format("%Y-%m-%dT%H:%M:%S"), h.abs())
                .parse()
                .expect("an instant")
        }),
    ]
}

fn line() -> impl Strategy<Value = String> {
    "[a-z0-9]{1,8}( [A-Za-z0-9é✓]{1,8}){0,3}"
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => line(),
        1 => (line(), line()).prop_map(|(a, b)| format!("{a}\n{b}")),
        1 => Just(String::new()),
    ]
}

fn priority() -> impl Strategy<Value = Priority> {
    prop::sample::select(Priority::ALL.to_vec())
}

fn op() -> impl Strategy<Value = Op> {
    let ticket = 0usize..8;
    prop_oneof![
        3 => (line(), text(), priority(), prop::option::of(0..USERS.len())).prop_map(
            |(subject, description, priority, assignee)| Op::Create {
                subject,
                description,
                priority,
                assignee,
            }
        ),
        2 => (
            ticket.clone(),
            prop::option::of(line()),
            prop::option::of(text()),
            prop::option::of(priority()),
            prop::option::of(prop::option::of(due()))
        )
            .prop_map(|(ticket, subject, description, priority, due)| Op::Update {
                ticket,
                subject,
                description,
                priority,
                due,
            }),
        2 => (ticket.clone(), prop::sample::select(Status::ALL.to_vec()))
            .prop_map(|(ticket, status)| Op::ChangeStatus { ticket, status }),
        1 => (ticket.clone(), 0..USERS.len()).prop_map(|(ticket, user)| Op::Assign { ticket, user }),
        2 => (
            ticket.clone(),
            line(),
            prop::option::of(prop::sample::select(vec!["ann", "ben"]))
        )
            .prop_map(|(ticket, body, author)| Op::AddComment {
                ticket,
                body,
                author: author.map(str::to_string),
            }),
        1 => ticket.clone().prop_map(|ticket| Op::Close { ticket }),
        1 => ticket.clone().prop_map(|ticket| Op::Resolve { ticket }),
        1 => (ticket, prop::option::of(line()))
            .prop_map(|(ticket, reason)| Op::Escalate { ticket, reason }),
    ]
}

/// Applies `op` to `p`, whose tickets so far are `guids`.
async fn apply(p: &dyn TicketProvider, guids: &mut Vec<String>, op: &Op) {
    let pick = |i: usize| guids.get(i).cloned();
    match op {
        Op::Create {
            subject,
            description,
            priority,
            assignee,
        } => {
            let mut t = NewTicket::new(subject.clone())
                .description(description.clone())
                .priority(*priority);
            if let Some(u) = assignee {
                t = t.assignee(USERS[*u]);
            }
            guids.push(p.create(t).await.expect("create").guid);
        }
        Op::Update {
            ticket,
            subject,
            description,
            priority,
            due,
        } => {
            if let Some(g) = pick(*ticket) {
                let changes = TicketUpdate {
                    subject: subject.clone(),
                    description: description.clone(),
                    priority: *priority,
                    due: *due,
                    ..TicketUpdate::default()
                };
                if !changes.is_empty() {
                    p.update(&g, changes).await.expect("update");
                }
            }
        }
        Op::ChangeStatus { ticket, status } => {
            if let Some(g) = pick(*ticket) {
                p.change_status(&g, *status).await.expect("change_status");
            }
        }
        Op::Assign { ticket, user } => {
            if let Some(g) = pick(*ticket) {
                p.assign(&g, USERS[*user]).await.expect("assign");
            }
        }
        Op::AddComment {
            ticket,
            body,
            author,
        } => {
            if let Some(g) = pick(*ticket) {
                let mut c = NewComment::new(body.clone());
                if let Some(a) = author {
                    c = c.author(a.clone());
                }
                p.add_comment(&g, c).await.expect("add_comment");
            }
        }
        Op::Close { ticket } => {
            if let Some(g) = pick(*ticket) {
                p.close(&g).await.expect("close");
            }
        }
        Op::Resolve { ticket } => {
            if let Some(g) = pick(*ticket) {
                p.resolve(&g).await.expect("resolve");
            }
        }
        Op::Escalate { ticket, reason } => {
            if let Some(g) = pick(*ticket) {
                p.escalate(&g, reason.as_deref()).await.expect("escalate");
            }
        }
    }
}

/// What must be equal between the two providers (no guids, no timestamps).
type Comparable = (
    String,
    String,
    Status,
    Priority,
    Option<String>,
    Vec<(String, Option<String>)>,
);

fn comparable(d: TicketDetails) -> Comparable {
    (
        d.ticket.subject,
        d.ticket.description,
        d.ticket.status,
        d.ticket.priority,
        d.ticket.assignee,
        d.comments.into_iter().map(|c| (c.body, c.author)).collect(),
    )
}

async fn run_case(ops: Vec<Op>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let plain = InternalProvider::open(
        &format!("sqlite://{}", dir.path().join("plain.db").display()),
        StoreOptions::default(),
    )
    .await
    .expect("open the plain store");
    let (fake, users) = common::fake().await;
    let sync = common::direct(
        &fake.base_url(),
        &fake.project_gid(),
        &dir.path().join("sync.db"),
        Duration::from_secs(5),
    )
    .await;
    let (mut plain_guids, mut sync_guids) = (Vec::new(), Vec::new());
    for op in &ops {
        apply(&plain, &mut plain_guids, op).await;
        apply(&sync, &mut sync_guids, op).await;
    }
    assert_eq!(plain_guids.len(), sync_guids.len());
    for (i, (pg, sg)) in plain_guids.iter().zip(&sync_guids).enumerate() {
        let want = comparable(plain.get_ticket(pg).await.expect("plain get"));
        let got = comparable(sync.get_ticket(sg).await.expect("sync get"));
        assert_eq!(got, want, "ticket {i} after {ops:#?}");
    }
    common::flush_all(&sync).await;
    common::assert_mirrors(&fake, &sync, &users).await;
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 12,
        max_shrink_iters: 64,
        ..ProptestConfig::default()
    })]

    #[test]
    fn sync_provider_matches_internal_and_asana_mirrors(
        ops in prop::collection::vec(op(), 1..=40)
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(run_case(ops));
    }
}
