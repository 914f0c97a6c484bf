//! Every `ticket` command is a new process: what it costs Asana, counted in the local
//! server's request log. After a first process has warmed the cache (the `asana`
//! provider's cache file, the `sync` provider's database), `list` and `get` cost 1 request
//! with `asana` (0 with `sync`: its reads are local) and each write its warm floor, the
//! same number a long-lived provider pays. A section or tag deleted in Asana between two
//! processes costs the next write one retry, and the cache is corrected.

use crate::common;

use std::path::PathBuf;

use homechoice_tickets::provider_asana::{ASANA_TOKEN_ENV, DEFAULT_CACHE_FILE};
use homechoice_tickets::provider_sync::SyncProvider;
use homechoice_tickets::{
    BuildContext, Config, NewComment, NewTicket, Priority, SyncState, TicketProvider, TicketUpdate,
};
use serde_json::Value;

const TOKEN: &str = common::ASANA_TOKEN;
const ALICE: &str = "alice@example.com";
/// The create measured in a new process: a priority and an assignee seen before.
const COLD_CREATE: [&str; 7] = [
    "create",
    "--subject",
    "cold",
    "--priority",
    "high",
    "--assignee",
    ALICE,
];

/// The common setup, with what these tests need besides.
struct Setup(common::Setup);

impl std::ops::Deref for Setup {
    type Target = common::Setup;
    fn deref(&self) -> &common::Setup {
        &self.0
    }
}

impl Setup {
    /// A fake Asana with alice, and a config for `provider` (`asana` or `sync`).
    async fn new(provider: &str) -> Self {
        Setup(
            common::Setup::for_provider(
                provider,
                "    database_url: tickets.db\n    sync_push_timeout_ms: 3000\n",
            )
            .await,
        )
    }

    fn cache_file(&self) -> PathBuf {
        self.dir.path().join(DEFAULT_CACHE_FILE)
    }

    /// Runs `ticket --json ARGS` as a new process; it must succeed without showing the
    /// token.
    async fn run(&self, args: &[&str]) -> Value {
        self.json(args).await
    }

    /// The requests `ticket ARGS` sent, in a new process, as `"METHOD /path"`.
    async fn cost(&self, args: &[&str]) -> (Value, Vec<String>) {
        self.fake.clear_requests();
        let v = self.run(args).await;
        (v, self.calls())
    }

    fn calls(&self) -> Vec<String> {
        self.fake
            .requests()
            .iter()
            .map(|r| {
                format!(
                    "{} {}",
                    r.method,
                    r.path.strip_prefix("/api/1.0").unwrap_or(&r.path)
                )
            })
            .collect()
    }

    /// Task `gid` as Asana holds it.
    fn task(&self, gid: &str) -> asana_fake::TaskSnapshot {
        self.fake
            .project_tasks(&self.fake.project_gid())
            .into_iter()
            .find(|t| t.gid == gid)
            .expect("the task in the project")
    }

    /// The `asana` cache file's entry of this server and project.
    fn cached(&self) -> Value {
        let text = std::fs::read_to_string(self.cache_file()).expect("the cache file");
        assert!(!text.contains(TOKEN), "the cache file holds the token");
        let file: Value = serde_json::from_str(&text).unwrap();
        file["projects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| {
                e["base_url"] == self.fake.base_url().as_str()
                    && e["project_gid"] == self.fake.project_gid().as_str()
            })
            .expect("an entry for this server and project")["cache"]
            .clone()
    }
}

/// Creates a ticket for alice and uses the statuses and priorities the measured commands
/// use, so that their sections and tags exist. Returns the ticket's guid.
async fn warm_up(s: &Setup) -> String {
    let created = s
        .run(&[
            "create",
            "--subject",
            "warm",
            "--priority",
            "high",
            "--assignee",
            ALICE,
        ])
        .await;
    let guid = created["guid"].as_str().unwrap().to_string();
    for status in ["triaged", "escalated", "closed", "in-progress", "on-hold"] {
        s.run(&["status", &guid, status]).await;
    }
    for priority in ["urgent", "low"] {
        s.run(&["update", &guid, "--priority", priority]).await;
    }
    s.run(&["comment", &guid, "first"]).await;
    s.run(&["get", &guid]).await;
    guid
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asana_commands_in_new_processes_cost_the_warm_floor() {
    let s = Setup::new("asana").await;
    let guid = warm_up(&s).await;
    let project = s.fake.project_gid();
    let task = format!("/tasks/{guid}");

    let (listed, calls) = s.cost(&["list"]).await;
    assert_eq!(calls, [format!("GET /projects/{project}/tasks")], "list");
    assert_eq!(listed[0]["assignee"], ALICE, "e-mails from the cache");

    let (got, calls) = s.cost(&["get", &guid]).await;
    assert_eq!(calls, ["POST /batch"], "get");
    assert_eq!(got["comments"].as_array().unwrap().len(), 1);

    let (_, calls) = s.cost(&COLD_CREATE).await;
    assert_eq!(calls, ["POST /tasks"], "create");

    // Every write reads the task first: one outside the tickets project is refused before
    // anything is written. A move then writes only what differs (here the section).
    let add_task = |c: &str| c.starts_with("POST /sections/") && c.ends_with("/addTask");
    let (_, calls) = s.cost(&["status", &guid, "in-progress"]).await;
    assert_eq!(calls.len(), 2, "change_status: {calls:?}");
    assert_eq!(calls[0], format!("GET {task}"), "change_status");
    assert!(add_task(&calls[1]), "change_status: {calls:?}");

    let (_, calls) = s.cost(&["assign", &guid, ALICE]).await;
    assert_eq!(
        calls,
        [format!("GET {task}"), format!("PUT {task}")],
        "assign"
    );

    let (_, calls) = s.cost(&["comment", &guid, "again"]).await;
    assert_eq!(
        calls,
        [format!("GET {task}"), format!("POST {task}/stories")],
        "add_comment"
    );

    let (_, calls) = s
        .cost(&[
            "update",
            &guid,
            "--subject",
            "renamed",
            "--priority",
            "high",
        ])
        .await;
    assert_eq!(
        calls,
        [format!("GET {task}"), "POST /batch".into()],
        "update"
    );

    let (_, calls) = s.cost(&["escalate", &guid, "--reason", "VIP"]).await;
    assert_eq!(calls.len(), 3, "escalate with a reason: {calls:?}");
    assert_eq!(calls[0], format!("GET {task}"));
    assert!(add_task(&calls[1]), "escalate with a reason: {calls:?}");
    assert_eq!(calls[2], format!("POST {task}/stories"));

    let (_, calls) = s.cost(&["close", &guid]).await;
    assert_eq!(
        calls,
        [format!("GET {task}"), "POST /batch".into()],
        "close: section and completion"
    );

    // What the commands did is what Asana holds.
    let snap = s.task(&guid);
    assert_eq!(snap.name, "renamed");
    assert_eq!(snap.section_name.as_deref(), Some("Closed"));
    assert_eq!(snap.tag_names, ["priority:high"]);
    assert_eq!(snap.comments.len(), 3);
    s.cached();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_section_or_tag_deleted_between_processes_costs_one_retry() {
    let s = Setup::new("asana").await;
    let guid = warm_up(&s).await;
    let project = s.fake.project_gid();
    let before = s.cached();
    let on_hold = before["status_sections"]["ON_HOLD"]
        .as_str()
        .unwrap()
        .to_string();

    // Someone deletes the (now empty) "On Hold" section in Asana.
    s.run(&["status", &guid, "in-progress"]).await;
    let resp = reqwest::Client::new()
        .delete(format!("{}/sections/{on_hold}", s.fake.base_url()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());

    let (moved, calls) = s.cost(&["status", &guid, "on-hold"]).await;
    assert_eq!(moved["status"], "ON_HOLD");
    let sections = format!("/projects/{project}/sections");
    assert_eq!(calls.len(), 6, "{calls:?}");
    assert_eq!(
        calls[..5],
        [
            format!("GET /tasks/{guid}"),
            format!("POST /sections/{on_hold}/addTask"),
            format!("GET {sections}"),
            format!("POST {sections}"),
            format!("GET {sections}"),
        ],
        "the read, one refused addTask, the section made again, one retry"
    );
    assert!(
        calls[5].starts_with("POST /sections/") && calls[5].ends_with("/addTask"),
        "{calls:?}"
    );
    let snap = s.task(&guid);
    assert_eq!(snap.section_name.as_deref(), Some("On Hold"));
    let now = snap.section_gid.unwrap();
    assert_ne!(now, on_hold);
    assert_eq!(s.cached()["status_sections"]["ON_HOLD"], now.as_str());
    s.run(&["status", &guid, "in-progress"]).await;
    let (_, calls) = s.cost(&["status", &guid, "on-hold"]).await;
    assert_eq!(
        calls,
        [
            format!("GET /tasks/{guid}"),
            format!("POST /sections/{now}/addTask")
        ],
        "the corrected cache is used"
    );

    // Someone deletes the tag "priority:high".
    let high = before["priority_tags"]["high"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(s.fake.delete_tag(&high));
    let (created, calls) = s
        .cost(&["create", "--subject", "after", "--priority", "high"])
        .await;
    let tags = format!("/workspaces/{}/tags", s.fake.workspace_gid());
    assert_eq!(
        calls,
        [
            "POST /tasks".to_string(),
            format!("GET {tags}"),
            format!("POST {tags}"),
            format!("GET {tags}"),
            "POST /tasks".to_string(),
        ],
        "one refused create, the tag made again, one retry"
    );
    let made = s.fake.project_tasks(&project);
    assert_eq!(made.iter().filter(|t| t.name == "after").count(), 1);
    let task = made
        .iter()
        .find(|t| t.gid == created["guid"].as_str().unwrap())
        .unwrap();
    assert_eq!(task.tag_names, ["priority:high"]);
    assert_ne!(s.cached()["priority_tags"]["high"], high.as_str());
    let (_, calls) = s
        .cost(&["create", "--subject", "next", "--priority", "high"])
        .await;
    assert_eq!(calls, ["POST /tasks"], "the corrected cache is used");
}

/// What one synced operation costs Asana in a provider that has already pushed (warm).
async fn warm_costs(s: &Setup) -> Vec<(&'static str, usize)> {
    let cfg = Config::load(s.config_path()).unwrap();
    let ctx = BuildContext::new(cfg).with_env(ASANA_TOKEN_ENV, Some(TOKEN.into()));
    let p = SyncProvider::from_context(&ctx).await.unwrap();
    let t = p
        .create(NewTicket::new("warm provider").assignee(ALICE))
        .await
        .unwrap();
    p.change_status(&t.guid, homechoice_tickets::Status::InProgress)
        .await
        .unwrap();
    let mut out = Vec::new();
    for op in ["create", "update", "comment", "status"] {
        s.fake.clear_requests();
        let r = match op {
            "create" => {
                p.create(
                    NewTicket::new("measured")
                        .priority(Priority::High)
                        .assignee(ALICE),
                )
                .await
            }
            "update" => {
                let u = TicketUpdate {
                    subject: Some("x".into()),
                    priority: Some(Priority::Low),
                    ..Default::default()
                };
                p.update(&t.guid, u).await
            }
            "comment" => p.add_comment(&t.guid, NewComment::new("c")).await,
            _ => {
                p.change_status(&t.guid, homechoice_tickets::Status::OnHold)
                    .await
            }
        }
        .unwrap();
        assert_eq!(r.sync_state, Some(SyncState::Synced), "{op}");
        out.push((op, s.fake.requests().len()));
    }
    p.shutdown().await;
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_commands_in_new_processes_cost_what_a_warm_provider_pays() {
    let s = Setup::new("sync").await;
    let guid = warm_up(&s).await;
    assert!(
        !s.cache_file().exists(),
        "sync keeps its Asana cache in the database, not in a file"
    );
    let warm = warm_costs(&s).await;
    // A push that overwrites fields of an existing task reads it once first, to learn
    // whether a person changed them in Asana since the last agreement (the conflict check):
    // one request more than the asana provider for update and status, none for comments.
    assert_eq!(
        warm,
        [("create", 1), ("update", 3), ("comment", 1), ("status", 2)],
        "the warm floors"
    );

    // Reads are local.
    let (_, calls) = s.cost(&["list"]).await;
    assert!(calls.is_empty(), "list: {calls:?}");
    let (_, calls) = s.cost(&["get", &guid]).await;
    assert!(calls.is_empty(), "get: {calls:?}");

    for (op, floor) in warm {
        let (r, calls) = match op {
            "create" => s.cost(&COLD_CREATE).await,
            "update" => {
                s.cost(&["update", &guid, "--subject", "y", "--priority", "urgent"])
                    .await
            }
            "comment" => s.cost(&["comment", &guid, "cold comment"]).await,
            _ => s.cost(&["status", &guid, "triaged"]).await,
        };
        assert_eq!(r["sync_state"], "synced", "{op}: {r}");
        assert_eq!(calls.len(), floor, "{op} in a new process: {calls:?}");
    }
    let snap = s
        .fake
        .project_tasks(&s.fake.project_gid())
        .into_iter()
        .find(|t| t.name == "y")
        .unwrap();
    assert_eq!(snap.tag_names, ["priority:urgent"]);
    assert_eq!(snap.section_name.as_deref(), Some("Triaged"));
}
