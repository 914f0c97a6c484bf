//! Webhooks on the tickets project (`POST /webhooks`, `GET /webhooks`, `GET` and
//! `DELETE /webhooks/{gid}`), for the sync worker that follows the project through them.
//!
//! Creating one makes Asana call the target during the request (the handshake), so the
//! caller must be serving the target before it calls [`TaskClient::create_webhook`]. The
//! secret Asana sends in that handshake is the receiver's business; the copy in the answer
//! (`X-Hook-Secret` beside `data`) is returned as a [`SecretString`], never logged.

use reqwest::Method;
use serde_json::{json, Value};
use ticket_provider_api::{Error, Result, SecretString};

use crate::client::{Request, Safety};
use crate::error::AsanaError;
use crate::remote::str_field;
use crate::task_client::TaskClient;

/// A webhook as Asana lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteWebhook {
    /// The webhook gid.
    pub gid: String,
    /// The gid of the resource it follows.
    pub resource: String,
    /// The URL Asana delivers to.
    pub target: String,
    /// Whether Asana still delivers to it.
    pub active: bool,
}

/// What [`TaskClient::create_webhook`] got.
#[derive(Debug)]
pub enum WebhookCreated {
    /// A new webhook, and the secret of the answer when Asana sent one.
    New {
        /// The webhook.
        webhook: RemoteWebhook,
        /// `X-Hook-Secret` of the answer.
        secret: Option<SecretString>,
    },
    /// Asana refused it as a duplicate (403 "Duplicated webhook"): a webhook on the same
    /// resource and target exists already.
    Duplicated,
}

/// A webhook gid goes into a path: digits only.
fn check_webhook_gid(gid: &str) -> Result<()> {
    if gid.is_empty() || gid.len() > 40 || !gid.chars().all(|c| c.is_ascii_digit()) {
        return Err(Error::invalid_input(format!(
            "webhook gid {gid:?} is not an Asana gid (a string of digits)"
        )));
    }
    Ok(())
}

fn decode_webhook(v: &Value) -> Option<RemoteWebhook> {
    let gid = str_field(v, "gid")?.to_string();
    Some(RemoteWebhook {
        gid,
        resource: v
            .get("resource")
            .and_then(|r| str_field(r, "gid"))
            .unwrap_or_default()
            .to_string(),
        target: str_field(v, "target").unwrap_or_default().to_string(),
        active: v.get("active").and_then(Value::as_bool).unwrap_or(false),
    })
}

impl TaskClient {
    /// Registers a webhook on the tickets project for changes of its tasks and their
    /// stories (filters `task` and `story`), delivering to `target`. Asana makes the
    /// handshake with `target` before it answers.
    pub async fn create_webhook(&self, target: &str) -> Result<WebhookCreated> {
        let data = json!({
            "resource": self.core.project(),
            "target": target,
            "filters": [
                {"resource_type": "task"},
                {"resource_type": "story"},
            ],
        });
        let req = Request::write(Method::POST, "/webhooks", data, Safety::Create);
        let (status, body) = self.core.client().execute_raw(&req, 1).await?;
        match status {
            200..=299 => {
                let secret = str_field(&body, "X-Hook-Secret").map(SecretString::new);
                let record = crate::answer::record("POST /webhooks", body)?;
                let webhook = decode_webhook(&record).ok_or_else(|| {
                    AsanaError::decode("POST /webhooks", "a webhook without a gid")
                })?;
                Ok(WebhookCreated::New { webhook, secret })
            }
            403 if self
                .core
                .client()
                .error_message(&body)
                .contains("Duplicated webhook") =>
            {
                Ok(WebhookCreated::Duplicated)
            }
            _ => Err(AsanaError::Status {
                status,
                method: "POST".into(),
                path: "/webhooks".into(),
                message: self.core.client().error_message(&body),
            }
            .into()),
        }
    }

    /// Every webhook on the tickets project (`GET /webhooks?workspace=&resource=`, all
    /// pages).
    pub async fn project_webhooks(&self) -> Result<Vec<RemoteWebhook>> {
        let workspace = self.workspace_gid().await?;
        let req = Request::get("/webhooks")
            .param("workspace", workspace)
            .param("resource", self.core.project());
        let items = self.core.client().get_all(req).await?;
        Ok(items.iter().filter_map(decode_webhook).collect())
    }

    /// The webhook `gid`, or `None` when Asana no longer has it (404, e.g. deleted after
    /// its deliveries kept failing).
    pub async fn webhook(&self, gid: &str) -> Result<Option<RemoteWebhook>> {
        check_webhook_gid(gid)?;
        let req = Request::get(format!("/webhooks/{gid}"));
        let (status, body) = self.core.client().execute_raw(&req, 1).await?;
        match status {
            404 => Ok(None),
            200..=299 => {
                let record = crate::answer::record("GET /webhooks/{gid}", body)?;
                Ok(decode_webhook(&record))
            }
            _ => Err(AsanaError::Status {
                status,
                method: "GET".into(),
                path: "/webhooks/{gid}".into(),
                message: self.core.client().error_message(&body),
            }
            .into()),
        }
    }

    /// Deletes the webhook `gid`; one already gone (404) is not an error.
    pub async fn delete_webhook(&self, gid: &str) -> Result<()> {
        check_webhook_gid(gid)?;
        let req = Request::delete(format!("/webhooks/{gid}"));
        let (status, body) = self.core.client().execute_raw(&req, 1).await?;
        match status {
            200..=299 | 404 => Ok(()),
            _ => Err(AsanaError::Status {
                status,
                method: "DELETE".into(),
                path: "/webhooks/{gid}".into(),
                message: self.core.client().error_message(&body),
            }
            .into()),
        }
    }
}
