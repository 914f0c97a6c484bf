//! HTTP glue: the axum router, the `/api/1.0` front door (request log, auth,
//! per-token rate limit, injected faults and latency; `POST /webhooks` goes to
//! `hooks.rs` for its handshake) and the unauthenticated `/_fake/` control API.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::{to_bytes, Bytes};
use axum::extract::{Request, State as AxState};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api;
use crate::control::{DeliveryRecord, Fault, RecordedRequest, WebhookFault, WebhookHealth};
use crate::hooks;
use crate::model::State;
use crate::request::{error_body, ApiRequest, ApiResponse, Body};

/// The shared, locked state of one server.
pub(crate) type Shared = Arc<Mutex<State>>;

/// Largest accepted request body.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Asana's concurrent-request limits per token: reads (GET) and writes (POST, PUT, PATCH,
/// DELETE) in flight. A batch counts once per action.
const MAX_READS_IN_FLIGHT: u32 = 50;
const MAX_WRITES_IN_FLIGHT: u32 = 15;

/// `Retry-After` (seconds) of a 429 for too many requests in flight: time enough for the
/// ones in flight to finish.
const IN_FLIGHT_RETRY_AFTER: u64 = 1;

/// Locks the state, recovering from a poisoned lock (a panicking test thread
/// must not take the whole fake down).
pub(crate) fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

/// Builds the router serving `/api/1.0` and `/_fake`.
pub(crate) fn router(shared: Shared) -> Router {
    Router::new()
        .route("/_fake/faults", post(add_fault).delete(clear_faults))
        .route("/_fake/rate_limit", post(set_rate_limit))
        .route("/_fake/latency", post(set_latency))
        .route("/_fake/requests", get(list_requests).delete(clear_requests))
        .route("/_fake/users", post(add_user))
        .route("/_fake/expire_sync_tokens", post(expire_sync_tokens))
        .route("/_fake/expire_offsets", post(expire_offsets))
        .route("/_fake/custom_fields_plan", post(set_custom_fields_plan))
        .route(
            "/_fake/webhook_faults",
            post(add_webhook_fault).delete(clear_webhook_faults),
        )
        .route("/_fake/webhook_timing", post(set_webhook_timing))
        .route("/_fake/webhooks", get(list_webhooks))
        .route("/_fake/webhook_deliveries", get(list_deliveries))
        .fallback(api_entry)
        .with_state(shared)
}

/// Parses a control-API JSON body regardless of its content type.
fn control_body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, Box<Response>> {
    serde_json::from_slice(bytes).map_err(|e| {
        let body = error_body(400, &format!("Invalid control request: {e}"));
        Box::new((StatusCode::BAD_REQUEST, Json(body)).into_response())
    })
}

async fn add_fault(AxState(s): AxState<Shared>, bytes: Bytes) -> Response {
    match control_body::<Fault>(&bytes) {
        Ok(f) => {
            lock(&s).faults.push(f);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(r) => *r,
    }
}

async fn clear_faults(AxState(s): AxState<Shared>) -> StatusCode {
    lock(&s).faults.clear();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct RateLimitBody {
    per_minute: Option<u32>,
}

async fn set_rate_limit(AxState(s): AxState<Shared>, bytes: Bytes) -> Response {
    match control_body::<RateLimitBody>(&bytes) {
        Ok(b) => {
            let mut st = lock(&s);
            st.rate_limit = b.per_minute;
            st.rate_windows.clear();
            StatusCode::NO_CONTENT.into_response()
        }
        Err(r) => *r,
    }
}

#[derive(Deserialize)]
struct LatencyBody {
    delay_ms: u64,
}

async fn set_latency(AxState(s): AxState<Shared>, bytes: Bytes) -> Response {
    match control_body::<LatencyBody>(&bytes) {
        Ok(b) => {
            lock(&s).latency = Duration::from_millis(b.delay_ms);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(r) => *r,
    }
}

async fn list_requests(AxState(s): AxState<Shared>) -> Json<Vec<RecordedRequest>> {
    Json(lock(&s).requests.clone())
}

async fn clear_requests(AxState(s): AxState<Shared>) -> StatusCode {
    lock(&s).requests.clear();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct UserBody {
    name: String,
    email: String,
}

async fn add_user(AxState(s): AxState<Shared>, bytes: Bytes) -> Response {
    match control_body::<UserBody>(&bytes) {
        Ok(b) => {
            let gid = lock(&s).add_user(&b.name, &b.email);
            (StatusCode::CREATED, Json(json!({ "gid": gid }))).into_response()
        }
        Err(r) => *r,
    }
}

async fn expire_sync_tokens(AxState(s): AxState<Shared>) -> StatusCode {
    lock(&s).sync_tokens.clear();
    StatusCode::NO_CONTENT
}

async fn expire_offsets(AxState(s): AxState<Shared>) -> StatusCode {
    lock(&s).offset_epoch += 1;
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct PlanBody {
    premium: bool,
}

async fn set_custom_fields_plan(AxState(s): AxState<Shared>, bytes: Bytes) -> Response {
    match control_body::<PlanBody>(&bytes) {
        Ok(b) => {
            lock(&s).custom_fields_premium = b.premium;
            StatusCode::NO_CONTENT.into_response()
        }
        Err(r) => *r,
    }
}

async fn add_webhook_fault(AxState(s): AxState<Shared>, bytes: Bytes) -> Response {
    match control_body::<WebhookFault>(&bytes) {
        Ok(f) => {
            let mut st = lock(&s);
            st.webhook_faults.push(f);
            st.wake_deliverers();
            StatusCode::NO_CONTENT.into_response()
        }
        Err(r) => *r,
    }
}

async fn clear_webhook_faults(AxState(s): AxState<Shared>) -> StatusCode {
    lock(&s).webhook_faults.clear();
    StatusCode::NO_CONTENT
}

/// `POST /_fake/webhook_timing`: the durations to change, in milliseconds; the others
/// stay as they are.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TimingBody {
    heartbeat_ms: Option<u64>,
    timeout_ms: Option<u64>,
    first_retry_ms: Option<u64>,
    max_retry_ms: Option<u64>,
    deletion_after_ms: Option<u64>,
}

async fn set_webhook_timing(AxState(s): AxState<Shared>, bytes: Bytes) -> Response {
    match control_body::<TimingBody>(&bytes) {
        Ok(b) => {
            let mut st = lock(&s);
            let t = &mut st.webhook_timing;
            let fields = [
                (b.heartbeat_ms, &mut t.heartbeat),
                (b.timeout_ms, &mut t.timeout),
                (b.first_retry_ms, &mut t.first_retry),
                (b.max_retry_ms, &mut t.max_retry),
                (b.deletion_after_ms, &mut t.deletion_after),
            ];
            for (ms, slot) in fields {
                if let Some(ms) = ms {
                    *slot = Duration::from_millis(ms);
                }
            }
            st.wake_deliverers();
            StatusCode::NO_CONTENT.into_response()
        }
        Err(r) => *r,
    }
}

async fn list_webhooks(AxState(s): AxState<Shared>) -> Json<Vec<WebhookHealth>> {
    let st = lock(&s);
    Json(
        st.webhooks
            .keys()
            .filter_map(|g| st.webhook_health(g))
            .collect(),
    )
}

async fn list_deliveries(AxState(s): AxState<Shared>) -> Json<Vec<DeliveryRecord>> {
    Json(lock(&s).deliveries.clone())
}

/// Turns an API answer into an HTTP response.
fn to_http(resp: &ApiResponse, retry_after: Option<u64>) -> Response {
    let status = StatusCode::from_u16(resp.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = (status, Json(resp.body.clone())).into_response();
    let headers = r.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    if let Some(loc) = resp
        .location
        .as_deref()
        .and_then(|l| HeaderValue::from_str(l).ok())
    {
        headers.insert(header::LOCATION, loc);
    }
    if let Some(secs) = retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    r
}

fn error_resp(status: u16, message: &str) -> ApiResponse {
    ApiResponse {
        status,
        body: error_body(status, message),
        location: None,
    }
}

fn fault_message(status: u16) -> &'static str {
    match status {
        429 => "You've made too many requests and hit a rate limit. Please retry after the given amount of time.",
        500 => "Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        401 => "Not Authorized",
        403 => "Forbidden",
        404 => "Not Found",
        _ => "Injected failure",
    }
}

/// What the front door decided before running the request.
enum Gate {
    Reject(ApiResponse, Option<u64>),
    Run {
        fault: Option<Fault>,
        delay: Duration,
        held: InFlight,
    },
}

/// Requests of one token counted as in flight until dropped.
struct InFlight {
    shared: Shared,
    token: String,
    reads: u32,
    writes: u32,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut st = lock(&self.shared);
        if let Some(slot) = st.in_flight.get_mut(&self.token) {
            slot.0 = slot.0.saturating_sub(self.reads);
            slot.1 = slot.1.saturating_sub(self.writes);
        }
    }
}

/// How many reads and writes a request puts in flight: one, or one per batch action.
fn in_flight_cost(method: &str, path: &str, body: &Body) -> (u32, u32) {
    let one = |m: &str| {
        if m == "GET" || m == "HEAD" {
            (1, 0)
        } else {
            (0, 1)
        }
    };
    if method == "POST" && path == "/api/1.0/batch" {
        let actions = api::batch_actions(body);
        if !actions.is_empty() {
            return actions.iter().fold((0, 0), |(r, w), (m, _)| {
                let (a, b) = one(m);
                (r + a, w + b)
            });
        }
    }
    one(method)
}

/// Auth, rate limits and fault matching, all under one lock.
fn gate(shared: &Shared, method: &str, path: &str, auth: Option<&str>, body: &Body) -> Gate {
    let mut st = lock(shared);
    let st = &mut *st;
    let token = auth
        .and_then(|a| a.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let token = match (token, &st.token) {
        (Some(t), Some(want)) if t == want => t.to_string(),
        (Some(t), None) => t.to_string(),
        _ => return Gate::Reject(error_resp(401, "Not Authorized"), None),
    };
    if let Some(limit) = st.rate_limit {
        let cost = if method == "POST" && path == "/api/1.0/batch" {
            api::batch_cost(body)
        } else {
            1
        };
        let now = Instant::now();
        let window = st.rate_windows.entry(token.clone()).or_default();
        while window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60))
        {
            window.pop_front();
        }
        if window.len() as u64 + u64::from(cost) > u64::from(limit) {
            let wait = window
                .front()
                .map_or(60, |t| 60 - now.duration_since(*t).as_secs())
                .max(1);
            return Gate::Reject(error_resp(429, fault_message(429)), Some(wait));
        }
        window.extend(std::iter::repeat_n(now, cost as usize));
    }
    let (reads, writes) = in_flight_cost(method, path, body);
    let slot = st.in_flight.entry(token.clone()).or_default();
    if slot.0 + reads > MAX_READS_IN_FLIGHT || slot.1 + writes > MAX_WRITES_IN_FLIGHT {
        return Gate::Reject(
            error_resp(429, fault_message(429)),
            Some(IN_FLIGHT_RETRY_AFTER),
        );
    }
    slot.0 += reads;
    slot.1 += writes;
    let (r, w) = *slot;
    st.in_flight_peak = (st.in_flight_peak.0.max(r), st.in_flight_peak.1.max(w));
    let held = InFlight {
        shared: shared.clone(),
        token,
        reads,
        writes,
    };
    let mut fault = None;
    if let Some(i) = st.faults.iter().position(|f| {
        f.count > 0
            && f.method
                .as_ref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && f.path_prefix
                .as_ref()
                .is_none_or(|p| path.starts_with(p.as_str()))
    }) {
        let f = &mut st.faults[i];
        f.count -= 1;
        fault = Some(f.clone());
        if f.count == 0 {
            st.faults.remove(i);
        }
    }
    Gate::Run {
        fault,
        delay: st.latency,
        held,
    }
}

/// Entry point for everything that is not `/_fake/`.
async fn api_entry(AxState(shared): AxState<Shared>, req: Request) -> Response {
    let method = req.method().as_str().to_ascii_uppercase();
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    let Some(rel) = path.strip_prefix("/api/1.0").map(str::to_string) else {
        return to_http(&error_resp(404, "No matching route for request"), None);
    };
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut actions = Vec::new();
    let (resp, retry_after, raw) = match to_bytes(req.into_body(), MAX_BODY).await {
        Err(_) => (
            error_resp(400, "Request body is too large or unreadable"),
            None,
            None,
        ),
        Ok(bytes) => {
            let body = if bytes.iter().all(u8::is_ascii_whitespace) {
                Body::None
            } else {
                match serde_json::from_slice::<Value>(&bytes) {
                    Ok(v) => Body::Json(v),
                    Err(e) => Body::Invalid(e.to_string()),
                }
            };
            if method == "POST" && rel == "/batch" {
                actions = api::batch_actions(&body)
                    .into_iter()
                    .map(|(m, p)| format!("{m} {p}"))
                    .collect();
            }
            handle(
                &shared,
                &method,
                &path,
                rel,
                query.as_deref(),
                auth.as_deref(),
                body,
            )
            .await
        }
    };
    lock(&shared).requests.push(RecordedRequest {
        method,
        path,
        query,
        status: resp.status,
        actions,
    });
    match raw {
        Some(text) => raw_http(resp.status, text),
        None => to_http(&resp, retry_after),
    }
}

/// A fault's raw answer: `text` as the body, sent as it is.
fn raw_http(status: u16, text: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut r = (status, text).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=UTF-8"),
    );
    r
}

async fn handle(
    shared: &Shared,
    method: &str,
    path: &str,
    rel: String,
    query: Option<&str>,
    auth: Option<&str>,
    body: Body,
) -> (ApiResponse, Option<u64>, Option<String>) {
    let gate = gate(shared, method, path, auth, &body);
    let (fault, latency, _held) = match gate {
        Gate::Reject(resp, retry) => return (resp, retry, None),
        Gate::Run { fault, delay, held } => (fault, delay, held),
    };
    let delay =
        latency + Duration::from_millis(fault.as_ref().and_then(|f| f.delay_ms).unwrap_or(0));
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some(f) = fault.as_ref().filter(|f| f.body.is_some()) {
        let status = f.status.filter(|s| *s != 0).unwrap_or(200);
        return (error_resp(status, ""), None, f.body.clone());
    }
    let fail = fault.as_ref().and_then(|f| match f.status {
        Some(s) if s != 0 => Some((s, f.retry_after, f.after_apply)),
        _ => None,
    });
    if let Some((status, retry, false)) = fail {
        return (error_resp(status, fault_message(status)), retry, None);
    }
    let mut query: Vec<(String, String)> = match serde_urlencoded::from_str(query.unwrap_or("")) {
        Ok(q) => q,
        Err(_) => {
            return (
                error_resp(400, "Could not parse the query string"),
                None,
                None,
            )
        }
    };
    // JSON bodies may carry options beside `data`: {"options": {"fields": [..]}}.
    if let Body::Json(v) = &body {
        if let Some(fields) = v.pointer("/options/fields").and_then(Value::as_array) {
            if !query.iter().any(|(k, _)| k == "opt_fields") {
                let names: Vec<&str> = fields.iter().filter_map(Value::as_str).collect();
                query.push(("opt_fields".into(), names.join(",")));
            }
        }
    }
    let req = ApiRequest {
        method: method.to_string(),
        path: rel,
        query,
        body,
    };
    let resp = if req.method == "POST" && req.path == "/webhooks" {
        hooks::create(shared, &req).await
    } else {
        api::dispatch(&mut lock(shared), &req)
    };
    match fail {
        Some((status, retry, true)) => (error_resp(status, fault_message(status)), retry, None),
        _ => (resp, None, None),
    }
}
