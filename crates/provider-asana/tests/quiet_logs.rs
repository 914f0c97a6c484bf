//! A task in a section that maps to no status warns once per section and process, not once
//! per task. (Its own test binary: the once-per-process memory is not shared with others.)

mod common;

use ticket_provider_api::{ListQuery, Status, TicketProvider};

#[tokio::test]
async fn unmapped_sections_warn_once_each() {
    let (logs, _guard) = common::Captured::on_this_thread();

    let fake = common::fake().await;
    let post = reqwest::Method::POST;
    let (_, section) = common::asana(
        &fake,
        post.clone(),
        &format!("/projects/{}/sections", fake.project_gid()),
        Some(serde_json::json!({"name": "Backlog"})),
    )
    .await;
    let backlog = section["data"]["gid"].as_str().unwrap().to_string();
    // 6 tasks in the project's default section, 6 in "Backlog": neither maps to a status.
    for i in 0..12 {
        let mut data =
            serde_json::json!({"name": format!("t{i}"), "projects": [fake.project_gid()]});
        if i % 2 == 0 {
            data["memberships"] =
                serde_json::json!([{"project": fake.project_gid(), "section": backlog}]);
        }
        let (status, _) = common::asana(&fake, post.clone(), "/tasks", Some(data)).await;
        assert_eq!(status, 201);
    }

    let p = common::provider(&fake);
    for _ in 0..3 {
        let page = p.list_tickets(ListQuery::default()).await.unwrap();
        assert_eq!(page.tickets.len(), 12);
        assert!(page.tickets.iter().all(|t| t.status == Status::New));
    }
    let text = logs.text();
    let warnings: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("maps to no status"))
        .collect();
    assert_eq!(
        warnings.len(),
        2,
        "one per section:\n{}",
        warnings.join("\n")
    );
    assert!(warnings.iter().any(|l| l.contains("Backlog")));
    assert!(warnings.iter().any(|l| l.contains("Untitled section")));
}
