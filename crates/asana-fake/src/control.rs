//! The test controls' public types, shared by the crate root (which exports
//! them), the server (which applies faults and logs requests), the webhook
//! deliverer (which applies delivery faults and timing) and the model (which
//! keeps them all).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An injected fault: the next `count` API requests matching `method` and
/// `path_prefix` fail with `status` (optionally after being carried out) and/or
/// are delayed by `delay_ms`, or are answered with the raw text `body`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Fault {
    /// HTTP method to match (case-insensitive); `None` matches all.
    pub method: Option<String>,
    /// Prefix of the request path (e.g. `/api/1.0/tasks`); `None` matches all.
    pub path_prefix: Option<String>,
    /// Status to answer with; `None` or `0` only delays.
    pub status: Option<u16>,
    /// How many matching requests are affected.
    pub count: u32,
    /// `Retry-After` header value (seconds) sent with the failure.
    pub retry_after: Option<u64>,
    /// Delay added before answering.
    pub delay_ms: Option<u64>,
    /// Carry the request out, then answer with the failure anyway.
    pub after_apply: bool,
    /// Answer with this text, byte for byte, as the body (with `status`, or 200 when
    /// `status` is `None` or `0`), without carrying the request out: what a broken proxy, a
    /// captive portal or a maintenance page answers.
    pub body: Option<String>,
}

/// One `/api/1.0` request seen by the server.
#[derive(Clone, Debug, Serialize)]
pub struct RecordedRequest {
    /// Upper-case HTTP method.
    pub method: String,
    /// Full path (including `/api/1.0`) without the query string.
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// Status code answered.
    pub status: u16,
    /// For `POST /batch`: `"METHOD /relative/path"` of each action.
    pub actions: Vec<String>,
}

/// What an injected fault does to a webhook delivery (see [`WebhookFault`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum DeliveryFault {
    /// The delivery is lost, as in Asana's own incidents: it is never sent and never
    /// retried, and the webhook's health does not show it.
    Drop,
    /// The delivery is sent twice, byte for byte (same body, same signature).
    Duplicate,
    /// The delivery waits `ms` milliseconds before it is sent (later ones wait behind it).
    Delay {
        /// How long the delivery is held.
        ms: u64,
    },
    /// The delivery is held back and sent right after the next one (or, when no other
    /// delivery comes, in place of the next heartbeat).
    Reorder,
    /// The delivery carries an `X-Hook-Signature` made with a wrong key. A receiver that
    /// refuses it makes the fake retry, correctly signed.
    WrongSignature,
}

/// An injected delivery fault: the next `count` deliveries (heartbeats included) of
/// webhook `webhook` (of any webhook when `None`) suffer `fault`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct WebhookFault {
    /// What happens to the delivery.
    #[serde(flatten)]
    pub fault: DeliveryFault,
    /// How many deliveries are affected.
    pub count: u32,
    /// The webhook's gid; `None` affects every webhook.
    #[serde(default)]
    pub webhook: Option<String>,
}

/// The durations of the fake's webhook machinery. [`Default`] is what Asana documents:
/// a heartbeat every 8 hours, 10 seconds to answer, deletion after 24 hours of failed
/// deliveries. Asana does not publish its backoff; the fake waits `first_retry`, then
/// twice as long after each further failure, at most `max_retry`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WebhookTiming {
    /// Quiet time after which a webhook gets a heartbeat (`{"events": []}`).
    pub heartbeat: Duration,
    /// How long the target has to answer a handshake or a delivery.
    pub timeout: Duration,
    /// Wait before the first retry of a failed delivery.
    pub first_retry: Duration,
    /// Longest wait between two retries.
    pub max_retry: Duration,
    /// How long deliveries may keep failing before the webhook is deleted.
    pub deletion_after: Duration,
}

impl Default for WebhookTiming {
    fn default() -> WebhookTiming {
        WebhookTiming {
            heartbeat: Duration::from_secs(8 * 3600),
            timeout: Duration::from_secs(10),
            first_retry: Duration::from_secs(60),
            max_retry: Duration::from_secs(3600),
            deletion_after: Duration::from_secs(24 * 3600),
        }
    }
}

/// A webhook as the fake's tests see it: its target and the health fields Asana reports
/// on the webhook object (`GET /webhooks/{gid}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WebhookHealth {
    /// The webhook's gid.
    pub gid: String,
    /// The gid of the project or task it follows.
    pub resource: String,
    /// The URL deliveries go to.
    pub target: String,
    /// Whether it sends events (true while it exists; a failing webhook is deleted).
    pub active: bool,
    /// When a delivery last succeeded.
    pub last_success_at: Option<DateTime<Utc>>,
    /// When a delivery last failed.
    pub last_failure_at: Option<DateTime<Utc>>,
    /// What the last failed delivery got (status line and body, or the transport error).
    pub last_failure_content: Option<String>,
    /// Failed attempts since the last success.
    pub delivery_retry_count: u32,
    /// When the failed delivery is tried again.
    pub next_attempt_after: Option<DateTime<Utc>>,
    /// When the webhook is deleted unless a delivery succeeds first.
    pub failure_deletion_timestamp: Option<DateTime<Utc>>,
}

/// What became of one delivery the fake made or meant to make.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum DeliveryOutcome {
    /// The target answered with this status.
    Answered {
        /// The HTTP status.
        status: u16,
    },
    /// No answer: a timeout or a connection failure (the text says which).
    NoAnswer {
        /// What went wrong.
        error: String,
    },
    /// Lost on purpose ([`DeliveryFault::Drop`]): never sent.
    Dropped,
}

/// One webhook delivery, for test assertions ([`crate::FakeAsana::webhook_deliveries`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeliveryRecord {
    /// The webhook's gid.
    pub webhook: String,
    /// How many events it carried (0 for a heartbeat).
    pub events: usize,
    /// The fault applied to it, if any.
    pub fault: Option<DeliveryFault>,
    /// What became of it.
    #[serde(flatten)]
    pub outcome: DeliveryOutcome,
}
