//! The provider survives Asana's limits as the fake models them: page offsets that expire
//! mid-listing, and the concurrent-request limit (15 writes in flight per token).

use crate::common;

use std::time::Duration;

use futures::future::join_all;
use ticket_provider_api::{ListQuery, NewTicket, TicketProvider};

/// The offset of the second page expires while the first page is being read: the listing
/// starts again from the first page, once, and returns every ticket exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_whose_offset_expired_starts_again_once() {
    let fake = common::fake().await;
    let p = common::provider(&fake);
    for i in 0..250 {
        p.create(NewTicket::new(format!("t{i}"))).await.unwrap();
    }
    fake.clear_requests();
    fake.set_latency(Duration::from_millis(300));
    let lister = p.clone();
    let listing = tokio::spawn(async move {
        lister
            .list_tickets(ListQuery {
                limit: Some(1000),
                ..Default::default()
            })
            .await
    });
    // As soon as the first page is answered, every offset issued so far expires; the second
    // page's request is still waiting out the latency.
    let tasks = format!("/api/1.0/projects/{}/tasks", fake.project_gid());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !fake.requests().iter().any(|r| r.path == tasks) {
        assert!(tokio::time::Instant::now() < deadline, "no first page");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    fake.expire_offsets();
    let page = listing.await.unwrap().unwrap();
    fake.set_latency(Duration::ZERO);

    assert_eq!(page.tickets.len(), 250);
    let mut guids: Vec<_> = page.tickets.iter().map(|t| t.guid.clone()).collect();
    guids.sort();
    guids.dedup();
    assert_eq!(guids.len(), 250, "no ticket twice");
    let pages: Vec<(bool, u16)> = fake
        .requests()
        .iter()
        .filter(|r| r.path == tasks)
        .map(|r| {
            (
                r.query.as_deref().unwrap_or("").contains("offset="),
                r.status,
            )
        })
        .collect();
    assert_eq!(
        pages,
        [
            (false, 200),
            (true, 400),
            (false, 200),
            (true, 200),
            (true, 200)
        ],
        "first page, expired offset, then the whole listing again"
    );
}

/// A listing restarts once only: an offset that expires again is an error, not a loop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_that_keep_expiring_end_in_an_error() {
    let fake = common::fake().await;
    let p = common::provider(&fake);
    for i in 0..101 {
        p.create(NewTicket::new(format!("t{i}"))).await.unwrap();
    }
    fake.clear_requests();
    // Expire the offsets again and again while the listing runs.
    fake.set_latency(Duration::from_millis(50));
    let lister = p.clone();
    let listing = tokio::spawn(async move { lister.list_tickets(ListQuery::default()).await });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !listing.is_finished() {
        assert!(tokio::time::Instant::now() < deadline, "the listing loops");
        fake.expire_offsets();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let err = listing.await.unwrap().unwrap_err();
    assert_eq!(
        err.kind(),
        ticket_provider_api::ErrorKind::InvalidInput,
        "{err}"
    );
    let refused = fake.requests().iter().filter(|r| r.status == 400).count();
    assert_eq!(refused, 2, "one restart, then the error");
}

/// 40 creates at once through one provider: the client keeps at most 15 writes in flight,
/// so Asana never has to refuse one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_writes_stays_within_15_in_flight() {
    let fake = common::fake().await;
    let p = common::provider(&fake);
    p.create(NewTicket::new("warm")).await.unwrap();
    fake.set_latency(Duration::from_millis(100));
    fake.clear_requests();
    let all = (0..40).map(|i| p.create(NewTicket::new(format!("burst {i}"))));
    let results = join_all(all).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let (_, writes) = fake.in_flight_peak();
    assert!(writes <= 15, "peak {writes}");
    assert!(
        writes >= 10,
        "the burst really ran concurrently: peak {writes}"
    );
    assert!(fake.requests().iter().all(|r| r.status != 429));
    assert_eq!(fake.project_tasks(&fake.project_gid()).len(), 41);
}

/// Two processes sharing the token send 40 writes at once: together they exceed 15 in
/// flight, Asana answers 429 with Retry-After, and every write still succeeds once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_refused_for_concurrency_are_retried_after_retry_after() {
    let fake = common::fake().await;
    let a = common::provider(&fake);
    let b = common::provider(&fake);
    a.create(NewTicket::new("warm a")).await.unwrap();
    b.create(NewTicket::new("warm b")).await.unwrap();
    fake.set_latency(Duration::from_millis(150));
    fake.clear_requests();
    let all = (0..40).map(|i| {
        let p = if i % 2 == 0 { a.clone() } else { b.clone() };
        async move { p.create(NewTicket::new(format!("shared {i}"))).await }
    });
    let results = join_all(all).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let refused = fake.requests().iter().filter(|r| r.status == 429).count();
    assert!(refused > 0, "the fake limited the two processes together");
    assert_eq!(
        fake.project_tasks(&fake.project_gid()).len(),
        42,
        "each create happened exactly once"
    );
    assert!(fake.in_flight_peak().1 <= 15);
}
