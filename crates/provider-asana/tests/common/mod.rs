//! Shared helpers of the integration tests: a fake Asana on loopback and providers for it.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use asana_fake::{FakeAsana, FakeOptions, RecordedRequest};
use provider_asana::ASANA_TOKEN_ENV;
use provider_asana::{AsanaProvider, AsanaSettings, RetryPolicy};
use ticket_provider_api::{build_provider, BuildContext, Config, SecretString, TicketProvider};

/// The token every test fake accepts.
pub const TOKEN: &str = "tok-provider-asana-test-0123456789";

/// A fake Asana accepting [`TOKEN`].
pub async fn fake() -> FakeAsana {
    fake_with_token(TOKEN).await
}

/// A fake Asana accepting `token`.
pub async fn fake_with_token(token: &str) -> FakeAsana {
    FakeAsana::start(FakeOptions {
        token: Some(token.into()),
        rate_limit_per_minute: None,
    })
    .await
    .expect("start the fake")
}

/// Settings for `fake` with fast retries.
pub fn settings(fake: &FakeAsana) -> AsanaSettings {
    let mut s = AsanaSettings::new(
        fake.base_url(),
        fake.project_gid(),
        SecretString::new(fake.token()),
    );
    s.retry = RetryPolicy::fast();
    s
}

/// A provider for `fake` with fast retries.
pub fn provider(fake: &FakeAsana) -> AsanaProvider {
    AsanaProvider::new(settings(fake)).expect("build the provider")
}

/// The YAML config selecting the asana provider for `fake`.
pub fn config(fake: &FakeAsana) -> Config {
    Config::parse(
        &format!(
            "homechoice:\n  ticket:\n    provider: asana\n    asana_project: \"{}\"\n    asana_base_url: \"{}\"\n",
            fake.project_gid(),
            fake.base_url()
        ),
        "test",
    )
    .expect("config")
}

/// The provider built through the registry, the way applications get it.
pub async fn registry_provider(fake: &FakeAsana, token: &str) -> Arc<dyn TicketProvider> {
    build_provider(BuildContext::new(config(fake)).with_env(ASANA_TOKEN_ENV, Some(token.into())))
        .await
        .expect("build through the registry")
}

/// Calls the fake's API directly, as another process or a person in Asana would: `data`
/// goes in the body's `data`. Returns the status and the JSON answer.
pub async fn asana(
    fake: &FakeAsana,
    method: reqwest::Method,
    path: &str,
    data: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut req = reqwest::Client::new()
        .request(method, format!("{}{path}", fake.base_url()))
        .bearer_auth(fake.token());
    if let Some(d) = data {
        req = req.json(&serde_json::json!({ "data": d }));
    }
    let resp = req.send().await.expect("request to the fake");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or_default())
}

/// The requests recorded since the last clear, as `"METHOD /path"` below `/api/1.0`.
pub fn calls(fake: &FakeAsana) -> Vec<String> {
    fake.requests().iter().map(describe).collect()
}

/// `"METHOD /path"` below `/api/1.0`.
pub fn describe(r: &RecordedRequest) -> String {
    format!(
        "{} {}",
        r.method,
        r.path.strip_prefix("/api/1.0").unwrap_or(&r.path)
    )
}

/// Task `gid` as the fake holds it, seen from the tickets project.
pub fn snapshot(fake: &FakeAsana, gid: &str) -> asana_fake::TaskSnapshot {
    fake.project_tasks(&fake.project_gid())
        .into_iter()
        .find(|t| t.gid == gid)
        .expect("task in project")
}

/// Deletes an (empty) section as a person in Asana would.
pub async fn delete_section(fake: &FakeAsana, section_gid: &str) {
    let (status, body) = asana(
        fake,
        reqwest::Method::DELETE,
        &format!("/sections/{section_gid}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

/// Log output collected in memory.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// Collects this thread's log lines until the guard is dropped (use a current-thread
    /// runtime, so that the whole test logs here).
    pub fn on_this_thread() -> (Captured, tracing::subscriber::DefaultGuard) {
        let logs = Captured::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }
}

/// An enum custom field made in the fake's workspace (as a person would in Asana).
pub struct EnumField {
    /// The field's gid.
    pub gid: String,
    /// (option name, option gid), in order.
    pub options: Vec<(String, String)>,
}

impl EnumField {
    /// The gid of the option named `name`.
    pub fn option(&self, name: &str) -> String {
        self.options
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, g)| g.clone())
            .unwrap_or_else(|| panic!("no option {name}"))
    }
}

/// Creates the enum custom field `name` with `options` in the fake's workspace, and adds it
/// to the tickets project when `on_project`.
pub async fn enum_field(
    fake: &FakeAsana,
    name: &str,
    options: &[&str],
    on_project: bool,
) -> EnumField {
    let opts: Vec<serde_json::Value> = options
        .iter()
        .map(|o| serde_json::json!({ "name": o }))
        .collect();
    let (status, body) = asana(
        fake,
        reqwest::Method::POST,
        "/custom_fields",
        Some(serde_json::json!({
            "workspace": fake.workspace_gid(),
            "name": name,
            "resource_subtype": "enum",
            "enum_options": opts,
        })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let gid = body["data"]["gid"].as_str().unwrap().to_string();
    let options = body["data"]["enum_options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["name"].as_str().unwrap().to_string(),
                o["gid"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    if on_project {
        add_field_to_project(fake, &gid).await;
    }
    EnumField { gid, options }
}

/// Adds custom field `gid` to the tickets project.
pub async fn add_field_to_project(fake: &FakeAsana, gid: &str) {
    let (status, body) = asana(
        fake,
        reqwest::Method::POST,
        &format!("/projects/{}/addCustomFieldSetting", fake.project_gid()),
        Some(serde_json::json!({ "custom_field": gid })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

/// Removes custom field `gid` from the tickets project.
pub async fn remove_field_from_project(fake: &FakeAsana, gid: &str) {
    let (status, body) = asana(
        fake,
        reqwest::Method::POST,
        &format!("/projects/{}/removeCustomFieldSetting", fake.project_gid()),
        Some(serde_json::json!({ "custom_field": gid })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

/// Changes an enum option (`name`, `enabled`) as a person would in Asana.
pub async fn update_option(fake: &FakeAsana, option_gid: &str, data: serde_json::Value) {
    let (status, body) = asana(
        fake,
        reqwest::Method::PUT,
        &format!("/enum_options/{option_gid}"),
        Some(data),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

/// Settings for `fake` keeping priority in the custom field `field`, with `options`
/// (priority → option name) over the defaults.
pub fn field_settings(
    fake: &FakeAsana,
    field: &str,
    options: &[(ticket_provider_api::Priority, &str)],
) -> AsanaSettings {
    let mut s = settings(fake);
    s.priority_field = Some(field.to_string());
    for (p, name) in options {
        s.priority_options.insert(*p, name.to_string());
    }
    s
}
