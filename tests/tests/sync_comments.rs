//! Comments through the sync provider and the local Asana (issues #11 and #12): a story's
//! text in Asana is what the user wrote, plus a readable attribution when an author was
//! given; the attribution cannot be forged; every text comes back unchanged in a fresh
//! store; and a post whose answer was lost is found again, never posted twice.

use crate::common;

use std::time::Duration;

use asana_fake::{FakeAsana, Fault};
use homechoice_tickets::provider_sync::SyncProvider;
use homechoice_tickets::{Comment, NewComment, NewTicket, TicketProvider};
use proptest::prelude::*;

/// The stories (texts) of the one task of the fake's project.
fn story_texts(fake: &FakeAsana) -> Vec<String> {
    let tasks = fake.project_tasks(&fake.project_gid());
    assert_eq!(tasks.len(), 1, "one task");
    tasks[0].comments.clone()
}

/// The ticket's task gid.
async fn gid_of(p: &SyncProvider, guid: &str) -> String {
    p.get_ticket(guid)
        .await
        .unwrap()
        .ticket
        .asana_gid
        .expect("linked")
}

/// Pulls task `gid` into a fresh store and returns the comments of its ticket there.
async fn pulled_comments(fake: &FakeAsana, gid: &str) -> Vec<Comment> {
    let dir = tempfile::tempdir().unwrap();
    let fresh = common::direct_for(fake, &dir.path().join("fresh.db")).await;
    let res = fresh.sync_from_asana(gid).await.expect("pull");
    fresh.get_ticket(&res.guid).await.unwrap().comments
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stories_carry_only_the_text_and_a_readable_attribution() {
    let (fake, _users) = common::fake().await;
    let dir = tempfile::tempdir().unwrap();
    let p = common::direct_for(&fake, &dir.path().join("t.db")).await;
    let t = p.create(NewTicket::new("Printer")).await.unwrap();
    p.add_comment(&t.guid, NewComment::new("late comment"))
        .await
        .unwrap();
    p.add_comment(&t.guid, NewComment::new("called back").author("Ann"))
        .await
        .unwrap();
    common::flush_all(&p).await;
    assert_eq!(
        story_texts(&fake),
        vec![
            "late comment".to_string(),
            "[author: Ann]\ncalled back".into()
        ]
    );
    let gid = gid_of(&p, &t.guid).await;
    let got: Vec<(String, Option<String>)> = pulled_comments(&fake, &gid)
        .await
        .into_iter()
        .map(|c| (c.body, c.author))
        .collect();
    assert_eq!(
        got,
        vec![
            ("late comment".to_string(), None),
            ("called back".to_string(), Some("Ann".to_string()))
        ]
    );
    // Pulling into the store that wrote them adds nothing.
    let report = p.pull_all(&|_| {}).await.unwrap();
    assert_eq!(report.updated, 0, "{report:?}");
    assert_eq!(p.get_ticket(&t.guid).await.unwrap().comments.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_author_line_in_the_text_is_not_an_author() {
    let (fake, _users) = common::fake().await;
    let dir = tempfile::tempdir().unwrap();
    let p = common::direct_for(&fake, &dir.path().join("t.db")).await;
    let t = p.create(NewTicket::new("Printer")).await.unwrap();
    let forged = "[author: mallory]\nhello";
    p.add_comment(&t.guid, NewComment::new(forged))
        .await
        .unwrap();
    common::flush_all(&p).await;
    let gid = gid_of(&p, &t.guid).await;
    let pulled = pulled_comments(&fake, &gid).await;
    assert_eq!(pulled.len(), 1);
    assert_eq!(pulled[0].body, forged);
    assert_eq!(pulled[0].author, None);

    // Written in Asana by another person: verbatim, by that person.
    let eve = fake.add_user("Eve Example", "eve@example.com");
    fake.add_comment_as(&gid, &eve, forged);
    let pulled = pulled_comments(&fake, &gid).await;
    assert_eq!(pulled.len(), 2);
    assert_eq!(pulled[1].body, forged);
    assert_eq!(pulled[1].author.as_deref(), Some("eve@example.com"));
}

/// Posts of comments answer 500 after the story was created (the answer is lost).
fn lose_comment_answers(fake: &FakeAsana, count: u32) {
    fake.add_fault(Fault {
        method: Some("POST".into()),
        path_prefix: Some("/api/1.0/tasks/".into()),
        status: Some(500),
        count,
        after_apply: true,
        ..Default::default()
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_comment_whose_answer_was_lost_is_found_not_posted_again() {
    let (fake, _users) = common::fake().await;
    let dir = tempfile::tempdir().unwrap();
    let p = common::direct_for(&fake, &dir.path().join("t.db")).await;
    let t = p.create(NewTicket::new("Printer")).await.unwrap();
    common::flush_all(&p).await;
    // The same text twice: each comment gets its own story.
    for _ in 0..2 {
        lose_comment_answers(&fake, 1);
        p.add_comment(&t.guid, NewComment::new("same words").author("Ann"))
            .await
            .unwrap();
        common::flush_all(&p).await;
    }
    assert_eq!(
        story_texts(&fake),
        vec!["[author: Ann]\nsame words".to_string(); 2]
    );
    assert_eq!(p.status().await.unwrap().pending, 0);

    // A lost answer, then a pull before the next push: the pull links the story instead
    // of importing it as a new comment, and the push posts nothing more.
    lose_comment_answers(&fake, 1);
    p.add_comment(&t.guid, NewComment::new("pulled before the retry"))
        .await
        .unwrap();
    p.pull_all(&|_| {}).await.unwrap();
    assert_eq!(p.get_ticket(&t.guid).await.unwrap().comments.len(), 3);
    common::flush_all(&p).await;
    assert_eq!(story_texts(&fake).len(), 3);
    let users = common_users(&fake);
    common::assert_mirrors(&fake, &p, &users).await;
}

fn common_users(fake: &FakeAsana) -> std::collections::HashMap<String, String> {
    let mut users = std::collections::HashMap::new();
    users.insert(fake.owner_gid(), fake.owner_email());
    users
}

/// Texts that exercise the encoding: whitespace, unicode, newlines, lines that look like
/// attributions, escapes or the old marker.
fn tricky_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("[author: mallory]".to_string()),
        Just("\\".to_string()),
        Just("\\[author: ".to_string()),
        Just("[ticket-comment: 0190b7a2-5c3e-7d41-9f00-1a2b3c4d5e6f]".to_string()),
        Just("[ticket-guid: x]".to_string()),
        Just("\n".to_string()),
        Just("\r\n".to_string()),
        Just("  ".to_string()),
        Just("\t".to_string()),
        "[a-zA-Z0-9 ]{1,12}",
        "\\PC{1,6}",
    ];
    prop::collection::vec(piece, 1..6)
        .prop_map(|parts| parts.concat())
        .prop_filter("a comment needs some text", |s| !s.trim().is_empty())
}

fn author() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        Just("mallory".to_string()),
        Just("x]y".to_string()),
        Just("[author: z]".to_string()),
        "[a-zA-Z0-9é✓\\[\\]\\\\]([a-zA-Z0-9é✓\\[\\]\\\\ ]{0,8}[a-zA-Z0-9é✓\\[\\]\\\\])?",
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Any comment goes through the sync provider to Asana and comes back unchanged (text
    /// and author) in a fresh store.
    #[test]
    fn any_comment_round_trips_through_asana(
        comments in prop::collection::vec((tricky_text(), author()), 1..4)
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (fake, _users) = common::fake().await;
            let dir = tempfile::tempdir().unwrap();
            let p = common::direct(
                &fake.base_url(),
                &fake.project_gid(),
                &dir.path().join("t.db"),
                Duration::from_millis(3000),
            )
            .await;
            let t = p.create(NewTicket::new("round trip")).await.unwrap();
            for (body, author) in &comments {
                let mut c = NewComment::new(body.clone());
                if let Some(a) = author {
                    c = c.author(a.clone());
                }
                p.add_comment(&t.guid, c).await.unwrap();
            }
            common::flush_all(&p).await;
            let stored: Vec<(String, Option<String>)> = p
                .get_ticket(&t.guid)
                .await
                .unwrap()
                .comments
                .into_iter()
                .map(|c| (c.body, c.author))
                .collect();
            let want: Vec<(String, Option<String>)> = comments.clone();
            assert_eq!(stored, want);
            let gid = gid_of(&p, &t.guid).await;
            let got: Vec<(String, Option<String>)> = pulled_comments(&fake, &gid)
                .await
                .into_iter()
                .map(|c| (c.body, c.author))
                .collect();
            assert_eq!(got, want);
        });
    }
}
