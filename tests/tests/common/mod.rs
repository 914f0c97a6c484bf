//! Shared helpers of the integration tests: a fake Asana on loopback, sync providers for it
//! (through the registry or built directly), and the check that Asana mirrors the internal
//! store.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use asana_fake::{FakeAsana, FakeOptions, TaskSnapshot};
use homechoice_tickets::provider_asana::ASANA_TOKEN_ENV;
use homechoice_tickets::provider_asana::{AsanaSettings, RetryPolicy, TaskClient};
use homechoice_tickets::provider_internal::InternalProvider;
use homechoice_tickets::provider_sync::story::{decode, StoryOrigin};
use homechoice_tickets::provider_sync::LinkState;
use homechoice_tickets::provider_sync::{SyncProvider, SyncSettings};
use homechoice_tickets::{
    build_provider, BuildContext, Config, ListQuery, SecretString, TicketProvider,
};

/// The token every test fake accepts.
pub const TOKEN: &str = "tok-provider-sync-test-0123456789";

/// User gid → e-mail, as [`fake`] returns it.
pub type Users = HashMap<String, String>;

/// The suite's two assignees.
pub const ALICE: &str = "alice@example.com";
/// The second assignee.
pub const BOB: &str = "bob@example.com";

/// A fake Asana accepting [`TOKEN`], with Alice and Bob; returns the user gid → e-mail map
/// (the token owner included).
pub async fn fake() -> (FakeAsana, HashMap<String, String>) {
    let fake = FakeAsana::start(FakeOptions {
        token: Some(TOKEN.into()),
        rate_limit_per_minute: None,
    })
    .await
    .expect("start the fake");
    let mut users = HashMap::new();
    users.insert(fake.add_user("Alice Example", ALICE), ALICE.to_string());
    users.insert(fake.add_user("Bob Example", BOB), BOB.to_string());
    users.insert(fake.owner_gid(), fake.owner_email());
    (fake, users)
}

/// The YAML config selecting the sync provider for `base_url` and `project`.
pub fn config(base_url: &str, project: &str, db: &Path, push_timeout_ms: u64) -> Config {
    Config::parse(
        &format!(
            "homechoice:\n  ticket:\n    provider: sync\n    asana_project: \"{project}\"\n    asana_base_url: \"{base_url}\"\n    database_url: \"sqlite://{}\"\n    sync_push_timeout_ms: {push_timeout_ms}\n    asana_timeout_ms: 10000\n",
            db.display()
        ),
        "test",
    )
    .expect("config")
}

/// The provider built through the registry, the way applications get it.
pub async fn registry_provider(config: Config) -> Arc<dyn TicketProvider> {
    build_provider(BuildContext::new(config).with_env(ASANA_TOKEN_ENV, Some(TOKEN.into())))
        .await
        .expect("build through the registry")
}

/// Building through the registry, keeping the error.
pub async fn registry_provider_result(
    config: Config,
) -> homechoice_tickets::Result<Arc<dyn TicketProvider>> {
    build_provider(BuildContext::new(config).with_env(ASANA_TOKEN_ENV, Some(TOKEN.into()))).await
}

/// The sync provider for `config` (for flush, status and pulls).
pub async fn from_config(config: Config) -> SyncProvider {
    SyncProvider::from_context(
        &BuildContext::new(config).with_env(ASANA_TOKEN_ENV, Some(TOKEN.into())),
    )
    .await
    .expect("build the sync provider")
}

/// A sync provider built directly: SQLite file `db`, fast Asana retries, small push timeout.
pub async fn direct(
    base_url: &str,
    project: &str,
    db: &Path,
    push_timeout: Duration,
) -> SyncProvider {
    let url = format!("sqlite://{}", db.display());
    build(base_url, project, &url, None, push_timeout).await
}

/// A sync provider built directly on the store at `db_url` (any backend) for `fake`, with
/// fast Asana retries.
pub async fn direct_url(fake: &FakeAsana, db_url: &str, push_timeout: Duration) -> SyncProvider {
    build(
        &fake.base_url(),
        &fake.project_gid(),
        db_url,
        Some(4),
        push_timeout,
    )
    .await
}

/// The one constructor behind [`direct`] and [`direct_url`].
async fn build(
    base_url: &str,
    project: &str,
    db_url: &str,
    pool_size: Option<u32>,
    push_timeout: Duration,
) -> SyncProvider {
    build_with(
        base_url,
        project,
        db_url,
        pool_size,
        SyncSettings {
            push_timeout,
            ..SyncSettings::default()
        },
    )
    .await
}

/// A sync provider built directly on the store at `db_url` with `settings` (fast Asana
/// retries, a short breaker backoff).
pub async fn direct_with(
    base_url: &str,
    project: &str,
    db_url: &str,
    settings: SyncSettings,
) -> SyncProvider {
    build_with(base_url, project, db_url, None, settings).await
}

async fn build_with(
    base_url: &str,
    project: &str,
    db_url: &str,
    pool_size: Option<u32>,
    settings: SyncSettings,
) -> SyncProvider {
    let local = InternalProvider::open(
        db_url,
        homechoice_tickets::provider_sync::store_options(pool_size),
    )
    .await
    .expect("open the store");
    let mut asana = AsanaSettings::new(base_url, project, SecretString::new(TOKEN));
    asana.retry = RetryPolicy::fast();
    asana.timeout = Duration::from_secs(10);
    let remote = TaskClient::new(asana).expect("asana task client");
    SyncProvider::new(
        local,
        remote,
        SyncSettings {
            breaker_base_backoff: Duration::from_millis(200),
            breaker_max_backoff: Duration::from_secs(2),
            ..settings
        },
    )
    .expect("sync provider")
}

/// A direct sync provider for `fake`.
pub async fn direct_for(fake: &FakeAsana, db: &Path) -> SyncProvider {
    direct(
        &fake.base_url(),
        &fake.project_gid(),
        db,
        Duration::from_millis(3000),
    )
    .await
}

/// Notes without the `[ticket-guid: …]` line and the sync's `[sync-push: N]` line above it
/// (the push mark), and the marker.
pub fn split_notes(notes: &str) -> (String, Option<String>) {
    let (description, marker) = split_marker_line(notes);
    if marker.is_none() {
        return (description, marker);
    }
    let trimmed = description.trim_end();
    let (before, last) = match trimmed.rfind('\n') {
        Some(i) => (&trimmed[..i], &trimmed[i + 1..]),
        None => ("", trimmed),
    };
    let is_mark = homechoice_tickets::provider_sync::is_push_mark_line(last);
    if is_mark {
        (
            before.strip_suffix('\n').unwrap_or(before).to_string(),
            marker,
        )
    } else {
        (description, marker)
    }
}

/// Notes without the `[ticket-guid: …]` line, and the marker.
fn split_marker_line(notes: &str) -> (String, Option<String>) {
    let trimmed = notes.trim_end();
    let (before, last) = match trimmed.rfind('\n') {
        Some(i) => (&trimmed[..i], &trimmed[i + 1..]),
        None => ("", trimmed),
    };
    match last
        .trim()
        .strip_prefix("[ticket-guid: ")
        .and_then(|r| r.strip_suffix(']'))
    {
        Some(m) => (
            before.strip_suffix('\n').unwrap_or(before).to_string(),
            Some(m.to_string()),
        ),
        None => (notes.to_string(), None),
    }
}

/// Flushes until nothing is pending (a few rounds, for entries behind a breaker probe).
pub async fn flush_all(p: &SyncProvider) {
    for _ in 0..20 {
        let r = p.flush().await.expect("flush");
        if r.pending == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let status = p.status().await.expect("status");
    panic!("changes still pending after 20 flushes: {status:?}");
}

/// Asserts that the fake's project holds exactly one task per internal ticket, with the same
/// fields and comments, and no task or comment twice.
pub async fn assert_mirrors(fake: &FakeAsana, p: &SyncProvider, users: &HashMap<String, String>) {
    let local = p.local();
    let mut tickets = Vec::new();
    let mut q = ListQuery {
        limit: Some(1000),
        ..ListQuery::default()
    };
    loop {
        let page = local.list_tickets(q.clone()).await.expect("list");
        tickets.extend(page.tickets);
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => break,
        }
    }
    let tasks: Vec<TaskSnapshot> = fake.project_tasks(&fake.project_gid());
    let mut by_gid: HashMap<&str, &TaskSnapshot> = HashMap::new();
    for t in &tasks {
        assert!(
            by_gid.insert(&t.gid, t).is_none(),
            "task {} listed twice",
            t.gid
        );
    }
    let mut markers = HashSet::new();
    for t in &tasks {
        let (_, marker) = split_notes(&t.notes);
        let marker = marker.unwrap_or_else(|| panic!("task {} has no marker", t.gid));
        assert!(
            markers.insert(marker.clone()),
            "two tasks carry the marker {marker} (a duplicate)"
        );
    }
    assert_eq!(
        tasks.len(),
        tickets.len(),
        "tasks in Asana vs tickets in the internal store"
    );
    for t in &tickets {
        let link = p
            .store()
            .link(&t.guid)
            .await
            .expect("link")
            .unwrap_or_else(|| panic!("ticket {} has no link", t.guid));
        let gid = link.asana_gid.clone().expect("linked gid");
        assert_eq!(link.state, LinkState::Linked, "link state of {}", t.guid);
        let task = by_gid
            .get(gid.as_str())
            .unwrap_or_else(|| panic!("task {gid} of ticket {} is missing", t.guid));
        let (notes, marker) = split_notes(&task.notes);
        assert_eq!(marker.as_deref(), Some(t.guid.as_str()), "marker of {gid}");
        assert_eq!(task.name, t.subject, "name of {gid}");
        assert_eq!(notes, t.description, "notes of {gid}");
        assert_eq!(
            task.section_name.as_deref(),
            Some(t.status.title()),
            "section of {gid}"
        );
        assert_eq!(task.completed, t.status.is_terminal(), "completed of {gid}");
        assert_eq!(
            task.tag_names,
            vec![format!("priority:{}", t.priority.as_str())],
            "tags of {gid}"
        );
        let assignee = task.assignee_gid.as_ref().map(|g| {
            users
                .get(g)
                .cloned()
                .unwrap_or_else(|| panic!("unknown user gid {g}"))
        });
        assert_eq!(assignee, t.assignee, "assignee of {gid}");
        let due = match t.due {
            None => (None, None),
            Some(homechoice_tickets::Due::Date(d)) => {
                (Some(d.format("%Y-%m-%d").to_string()), None)
            }
            Some(homechoice_tickets::Due::At(at)) => (
                Some(at.date_naive().format("%Y-%m-%d").to_string()),
                Some(at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()),
            ),
        };
        assert_eq!(
            (task.due_on.clone(), task.due_at.clone()),
            due,
            "due date of {gid}"
        );
        let details = local.get_ticket(&t.guid).await.expect("get");
        let want: Vec<(String, Option<String>)> = details
            .comments
            .iter()
            .map(|c| (c.body.clone(), c.author.clone()))
            .collect();
        // Every story here was posted through the API (by the token owner). A comment posted
        // twice would make the lists differ.
        let got: Vec<(String, Option<String>)> = task
            .comments
            .iter()
            .map(|c| decode(c, StoryOrigin::TokenOwner))
            .map(|d| (d.body, d.author))
            .collect();
        assert_eq!(got, want, "comments of {gid}");
    }
}
