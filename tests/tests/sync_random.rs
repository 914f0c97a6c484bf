//! A seeded random run of 500+ operations while the fake Asana fails in every way it can
//! (500/503, 429 with Retry-After, delays, failures after the change was applied), with an
//! occasional flush and pull in between. Afterwards, with the faults cleared and one flush,
//! Asana must mirror the internal store: nothing missing, no task or comment twice.
//!
//! Set `SYNC_RANDOM_SEED` to replay a run; the seed is printed.

use crate::common;

use std::time::Duration;

use asana_fake::Fault;
use homechoice_tickets::{NewComment, NewTicket, Priority, Status, TicketProvider, TicketUpdate};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const OPERATIONS: usize = 520;

fn random_fault(rng: &mut StdRng) -> Fault {
    let (method, path) = match rng.random_range(0..7) {
        0 => (None, None),
        1 => (Some("POST"), Some("/api/1.0/tasks")),
        2 => (Some("POST"), Some("/api/1.0/batch")),
        3 => (Some("PUT"), Some("/api/1.0/tasks")),
        4 => (Some("GET"), Some("/api/1.0/tasks")),
        5 => (Some("POST"), Some("/api/1.0/tasks/")),
        _ => (Some("GET"), None),
    };
    let status = match rng.random_range(0..5) {
        0 => 500,
        1 => 503,
        2 => 429,
        3 => 502,
        _ => 0,
    };
    Fault {
        method: method.map(str::to_string),
        path_prefix: path.map(str::to_string),
        status: Some(status),
        count: rng.random_range(1..4),
        retry_after: (status == 429).then(|| rng.random_range(0..2)),
        delay_ms: (status == 0 || rng.random_bool(0.2)).then(|| rng.random_range(20..400)),
        after_apply: status >= 500 && rng.random_bool(0.5),
        body: None,
    }
}

fn random_priority(rng: &mut StdRng) -> Priority {
    Priority::ALL[rng.random_range(0..Priority::ALL.len())]
}

fn line(rng: &mut StdRng, label: &str) -> String {
    let n: u32 = rng.random_range(0..1_000_000);
    format!("{label} {n} ✓")
}

fn text(rng: &mut StdRng, label: &str) -> String {
    let n: u32 = rng.random_range(0..1_000_000);
    if rng.random_bool(0.2) {
        format!("{label} {n}\nsecond line ✓")
    } else {
        format!("{label} {n}")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_operations_under_faults_end_mirrored() {
    let seed: u64 = std::env::var("SYNC_RANDOM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(7)
        });
    println!("SYNC_RANDOM_SEED={seed}");
    eprintln!("SYNC_RANDOM_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);

    let (fake, users) = common::fake().await;
    let dir = tempfile::tempdir().unwrap();
    let p = common::direct(
        &fake.base_url(),
        &fake.project_gid(),
        &dir.path().join("t.db"),
        Duration::from_millis(300),
    )
    .await;
    let people = [common::ALICE, common::BOB];
    let mut guids: Vec<String> = Vec::new();
    let mut faults = 0;
    for _ in 0..OPERATIONS {
        if rng.random_bool(0.2) {
            fake.add_fault(random_fault(&mut rng));
            faults += 1;
        }
        if rng.random_bool(0.02) {
            let _ = p.flush().await.expect("flush never fails on Asana trouble");
        }
        if rng.random_bool(0.02) {
            // Pulls may fail on injected faults; they must never corrupt anything.
            let _ = p.pull_all(&|_| {}).await;
        }
        if guids.len() < 3 || rng.random_bool(0.15) {
            let mut new =
                NewTicket::new(line(&mut rng, "Ticket")).priority(random_priority(&mut rng));
            if rng.random_bool(0.5) {
                new = new.description(text(&mut rng, "Description"));
            }
            if rng.random_bool(0.5) {
                new = new.assignee(people[rng.random_range(0..2)]);
            }
            let r = p.create(new).await.expect("create");
            guids.push(r.guid);
            continue;
        }
        let g = guids[rng.random_range(0..guids.len())].clone();
        let r = match rng.random_range(0..8) {
            0 => {
                let mut u = TicketUpdate::default();
                if rng.random_bool(0.6) {
                    u.subject = Some(line(&mut rng, "Subject"));
                }
                if rng.random_bool(0.5) {
                    u.description = Some(text(&mut rng, "Details"));
                }
                if u.is_empty() || rng.random_bool(0.4) {
                    u.priority = Some(random_priority(&mut rng));
                }
                p.update(&g, u).await
            }
            1 => {
                let s = Status::ALL[rng.random_range(0..Status::ALL.len())];
                p.change_status(&g, s).await
            }
            2 => p.assign(&g, people[rng.random_range(0..2)]).await,
            3 | 4 => {
                let mut c = NewComment::new(text(&mut rng, "Comment"));
                if rng.random_bool(0.3) {
                    c = c.author("Ann Author");
                }
                p.add_comment(&g, c).await
            }
            5 => p.close(&g).await,
            6 => p.resolve(&g).await,
            _ => {
                let reason = rng.random_bool(0.5).then(|| text(&mut rng, "Reason"));
                p.escalate(&g, reason.as_deref()).await
            }
        };
        let r = r.expect("operation");
        assert_eq!(r.provider, "sync");
        assert!(r.sync_state.is_some());
    }
    println!(
        "{OPERATIONS} operations on {} tickets with {faults} injected faults",
        guids.len()
    );
    fake.clear_faults();
    common::flush_all(&p).await;
    let status = p.status().await.unwrap();
    assert_eq!(status.set_aside, 0, "seed {seed}: {status:?}");
    common::assert_mirrors(&fake, &p, &users).await;
}
