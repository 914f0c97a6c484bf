//! The test controls' public types, shared by the crate root (which exports
//! them), the server (which applies faults and logs requests) and the model
//! (which keeps both).

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
