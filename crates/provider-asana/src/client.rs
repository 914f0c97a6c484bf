//! The HTTP layer: one place that talks to Asana, with its limits and its retry policy.
//!
//! * At most [`MAX_WRITES_IN_FLIGHT`] writes and [`MAX_READS_IN_FLIGHT`] reads are in flight
//!   (Asana's concurrent limits; a batch takes one permit per action).
//! * An optional requests-per-minute budget, kept as a token bucket.
//! * Retries as described on [`RetryPolicy`]: 429 honours `Retry-After`; 5xx, timeouts and
//!   transport errors are retried only for requests marked [`Safety::Repeatable`]. A
//!   [`Safety::Create`] request is repeated only when it certainly did not reach Asana
//!   (a 429, or a failed connect).
//! * The token is sent in a header marked sensitive and never logged; log lines carry the
//!   method, the path (gids only) and the status.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, RETRY_AFTER};
use reqwest::Method;
use serde_json::{json, Map, Value};
use tokio::sync::Semaphore;

use crate::answer;
use crate::config::{AsanaSettings, RetryPolicy, MAX_READS_IN_FLIGHT, MAX_WRITES_IN_FLIGHT};
use crate::error::AsanaError;

/// Whether a request may be sent again after it may have reached Asana.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Safety {
    /// Reads and idempotent writes (PUT, DELETE, addTask, addTag, removeTag, ...).
    Repeatable,
    /// Creates a new object; a repeat could duplicate it.
    Create,
}

/// One request below the base URL.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    /// The `data` object of the body, for writes.
    pub data: Option<Value>,
    pub safety: Safety,
    /// Whether the request takes a permit of the read pool (otherwise the write pool).
    pub read: bool,
}

impl Request {
    /// A GET.
    pub(crate) fn get(path: impl Into<String>) -> Self {
        Request {
            method: Method::GET,
            path: path.into(),
            query: Vec::new(),
            data: None,
            safety: Safety::Repeatable,
            read: true,
        }
    }

    /// A DELETE (it takes no body).
    pub(crate) fn delete(path: impl Into<String>) -> Self {
        Request {
            method: Method::DELETE,
            path: path.into(),
            query: Vec::new(),
            data: None,
            safety: Safety::Repeatable,
            read: false,
        }
    }

    /// A write with a `data` body.
    pub(crate) fn write(
        method: Method,
        path: impl Into<String>,
        data: Value,
        safety: Safety,
    ) -> Self {
        Request {
            method,
            path: path.into(),
            query: Vec::new(),
            data: Some(data),
            safety,
            read: false,
        }
    }

    /// Adds a query parameter.
    pub(crate) fn param(mut self, key: &str, value: impl Into<String>) -> Self {
        self.query.push((key.to_string(), value.into()));
        self
    }

    /// Adds `opt_fields`.
    pub(crate) fn fields(self, fields: &str) -> Self {
        self.param("opt_fields", fields)
    }
}

/// One action of a `POST /batch`.
#[derive(Debug, Clone)]
pub(crate) struct BatchAction {
    pub method: Method,
    pub relative_path: String,
    /// For GET: query parameters; otherwise the `data` body.
    pub data: Option<Value>,
    /// `fields`, `limit`, `offset`.
    pub options: Option<Value>,
}

/// The answer to one batch action.
#[derive(Debug, Clone)]
pub(crate) struct BatchResult {
    pub status: u16,
    pub body: Value,
    /// The error answer's message, cleaned ([`answer::error_message`]); empty on success.
    pub message: String,
}

impl BatchResult {
    /// `body.data` of a successful action (checked by [`answer::action_data`]), or the
    /// action's error.
    pub(crate) fn into_data(self, method: &Method, path: &str) -> Result<Value, AsanaError> {
        if (200..300).contains(&self.status) {
            answer::action_data(&format!("{method} {path}"), &self.body)
        } else {
            Err(AsanaError::Status {
                status: self.status,
                method: method.to_string(),
                path: path.to_string(),
                message: self.message,
            })
        }
    }
}

/// A simple token bucket refilled continuously at `per_minute / 60` tokens per second.
#[derive(Debug)]
struct TokenBucket {
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(per_minute: u32) -> Self {
        let capacity = f64::from(per_minute.max(1));
        TokenBucket {
            capacity,
            tokens: capacity,
            last: Instant::now(),
        }
    }

    /// Takes `n` tokens, or says how long to wait until they are there.
    fn try_take(&mut self, n: f64) -> Result<(), Duration> {
        let now = Instant::now();
        let rate = self.capacity / 60.0;
        self.tokens =
            (self.tokens + now.duration_since(self.last).as_secs_f64() * rate).min(self.capacity);
        self.last = now;
        let n = n.min(self.capacity);
        if self.tokens >= n {
            self.tokens -= n;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                ((n - self.tokens) / rate).max(0.001),
            ))
        }
    }
}

/// The Asana HTTP client shared by every clone of the provider.
pub(crate) struct AsanaClient {
    http: reqwest::Client,
    base_url: String,
    auth: HeaderValue,
    reads: Semaphore,
    writes: Semaphore,
    bucket: Option<Mutex<TokenBucket>>,
    retry: RetryPolicy,
    batch_supported: AtomicBool,
    jitter_state: AtomicU64,
    stats: RequestStats,
}

/// Counts of the requests this client sent, by outcome, and the time it waited because
/// Asana answered 429 (read by metrics; see [`RequestStatsSnapshot`]).
#[derive(Debug, Default)]
pub(crate) struct RequestStats {
    /// Answers by HTTP status; key 0: no answer (transport failure or timeout).
    by_status: Mutex<std::collections::BTreeMap<u16, u64>>,
    /// Microseconds waited after 429 answers.
    rate_limited_us: AtomicU64,
}

/// What an Asana provider's client has sent so far (every attempt, retries included).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestStatsSnapshot {
    /// Requests by outcome: the HTTP status (`"200"`, `"429"`, ...) or `"error"` when no
    /// answer came (transport failure, timeout).
    pub by_status: Vec<(String, u64)>,
    /// Seconds spent waiting because Asana answered 429 (rate limited).
    pub rate_limited_seconds: f64,
}

impl RequestStats {
    fn record(&self, status: Option<u16>) {
        let mut m = match self.by_status.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        *m.entry(status.unwrap_or(0)).or_insert(0) += 1;
    }

    fn waited(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.rate_limited_us.fetch_add(us, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> RequestStatsSnapshot {
        let m = match self.by_status.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        RequestStatsSnapshot {
            by_status: m
                .iter()
                .map(|(s, n)| {
                    let key = if *s == 0 {
                        "error".to_string()
                    } else {
                        s.to_string()
                    };
                    (key, *n)
                })
                .collect(),
            rate_limited_seconds: self.rate_limited_us.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }
}

impl std::fmt::Debug for AsanaClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsanaClient")
            .field("base_url", &self.base_url)
            .field("token", &"[redacted]")
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// What one attempt produced.
enum Attempt {
    Answer {
        status: u16,
        retry_after: Option<Duration>,
        body: Value,
    },
    Failed {
        connect: bool,
        /// Whether sending the request again may help (within the retry policy).
        repeat: bool,
        message: String,
    },
}

/// The largest answer body read from Asana: 16 MiB. Asana's largest answer is a page of
/// 100 tasks (its maximum `limit`); even with every task's notes at 65,535 two-byte
/// characters that is about 13 MiB. A larger (or endless) body is refused as soon as it
/// passes this, so memory stays bounded whatever a server sends.
pub const MAX_ANSWER_BYTES: usize = 16 << 20;

/// Why an answer body was not read whole.
enum BodyProblem {
    /// It is (or announced itself as) larger than the cap.
    TooLarge,
    /// Reading it failed (including the request's timeout, which covers the body).
    Read(reqwest::Error),
}

/// The body of `resp`, read chunk by chunk up to `cap` bytes.
async fn read_capped(mut resp: reqwest::Response, cap: usize) -> Result<Vec<u8>, BodyProblem> {
    if resp.content_length().is_some_and(|n| n > cap as u64) {
        return Err(BodyProblem::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(BodyProblem::Read)? {
        if body.len() + chunk.len() > cap {
            return Err(BodyProblem::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let secs: f64 = text.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(3600.0)))
}

impl AsanaClient {
    /// A client for `settings`; fails only when the HTTP library cannot be set up.
    pub(crate) fn new(settings: &AsanaSettings) -> Result<Self, AsanaError> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .user_agent(concat!(
                "homechoice-provider-asana/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(|e| AsanaError::Transport {
                method: "-".into(),
                path: "-".into(),
                message: format!("cannot set up the HTTP client: {e}"),
            })?;
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", settings.token.expose()))
            .map_err(|_| AsanaError::Transport {
                method: "-".into(),
                path: "-".into(),
                message: "the Asana token contains characters that cannot be sent in a header"
                    .into(),
            })?;
        auth.set_sensitive(true);
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9e37_79b9_7f4a_7c15)
            | 1;
        Ok(AsanaClient {
            http,
            base_url: settings.base_url.trim_end_matches('/').to_string(),
            auth,
            reads: Semaphore::new(MAX_READS_IN_FLIGHT),
            writes: Semaphore::new(MAX_WRITES_IN_FLIGHT),
            bucket: settings
                .requests_per_minute
                .map(|n| Mutex::new(TokenBucket::new(n))),
            retry: settings.retry.clone(),
            batch_supported: AtomicBool::new(true),
            jitter_state: AtomicU64::new(seed),
            stats: RequestStats::default(),
        })
    }

    /// `errors[0].message` of an error answer, cleaned by [`answer::error_message`] (the
    /// token redacted, control characters escaped, the length capped).
    pub(crate) fn error_message(&self, body: &Value) -> String {
        let token = self.auth.to_str().unwrap_or_default();
        let token = token.strip_prefix("Bearer ").unwrap_or(token);
        answer::error_message(body, &[token])
    }

    /// What this client has sent so far.
    pub(crate) fn stats(&self) -> RequestStatsSnapshot {
        self.stats.snapshot()
    }

    /// A pseudo-random number in `[0, 1)` (xorshift; only used for jitter).
    fn jitter(&self) -> f64 {
        let mut x = self.jitter_state.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.jitter_state.store(x, Ordering::Relaxed);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The backoff before attempt `attempt + 1`: exponential, capped, with jitter in
    /// `[delay/2, delay)`.
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .retry
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let capped = exp.min(self.retry.max_delay);
        capped.mul_f64(0.5 + 0.5 * self.jitter())
    }

    async fn take_budget(&self, n: usize) {
        let Some(bucket) = &self.bucket else { return };
        loop {
            let wait = match bucket.lock() {
                Ok(mut b) => match b.try_take(n as f64) {
                    Ok(()) => return,
                    Err(wait) => wait,
                },
                // A poisoned lock only means another thread panicked while holding it;
                // the bucket is still usable as a best-effort limiter.
                Err(poisoned) => match poisoned.into_inner().try_take(n as f64) {
                    Ok(()) => return,
                    Err(wait) => wait,
                },
            };
            tracing::debug!(
                wait_ms = wait.as_millis() as u64,
                "asana request budget exhausted; waiting"
            );
            tokio::time::sleep(wait).await;
        }
    }

    async fn once(&self, req: &Request) -> Attempt {
        let url = format!("{}{}", self.base_url, req.path);
        let mut builder = self
            .http
            .request(req.method.clone(), &url)
            .header(AUTHORIZATION, self.auth.clone());
        if !req.query.is_empty() {
            builder = builder.query(&req.query);
        }
        if let Some(data) = &req.data {
            builder = builder.json(&json!({ "data": data }));
        }
        match builder.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let retry_after = parse_retry_after(resp.headers());
                if let Some(change) = resp.headers().get("asana-change") {
                    tracing::info!(
                        change = change.to_str().unwrap_or("<non-text>"),
                        "Asana announced an API change affecting this request"
                    );
                }
                match read_capped(resp, MAX_ANSWER_BYTES).await {
                    Err(BodyProblem::TooLarge) => Attempt::Failed {
                        connect: false,
                        // The same request would get the same answer.
                        repeat: false,
                        message: format!(
                            "the answer is larger than {} MiB, more than any answer Asana documents; refused",
                            MAX_ANSWER_BYTES >> 20
                        ),
                    },
                    Err(BodyProblem::Read(e)) => Attempt::Failed {
                        connect: false,
                        repeat: true,
                        message: format!("reading the answer failed: {}", describe(&e)),
                    },
                    Ok(bytes) => {
                        let body = if bytes.iter().all(u8::is_ascii_whitespace) {
                            Value::Null
                        } else {
                            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
                        };
                        Attempt::Answer {
                            status,
                            retry_after,
                            body,
                        }
                    }
                }
            }
            Err(e) => Attempt::Failed {
                connect: e.is_connect(),
                repeat: true,
                message: describe(&e),
            },
        }
    }

    /// Sends `req` with limits and retries; returns the status and the JSON body of the final
    /// answer, whatever its status, except 429 and 5xx answers, which are errors after the
    /// retries.
    pub(crate) async fn execute_raw(
        &self,
        req: &Request,
        weight: usize,
    ) -> Result<(u16, Value), AsanaError> {
        let method = req.method.to_string();
        let mut attempt: u32 = 0;
        let mut rate_limited: u32 = 0;
        let mut waited = Duration::ZERO;
        loop {
            attempt += 1;
            let pool = if req.read { &self.reads } else { &self.writes };
            let permits = pool
                .acquire_many(weight.clamp(1, MAX_WRITES_IN_FLIGHT) as u32)
                .await
                .map_err(|_| AsanaError::Transport {
                    method: method.clone(),
                    path: req.path.clone(),
                    message: "the client is shutting down".into(),
                })?;
            self.take_budget(weight.max(1)).await;
            let started = Instant::now();
            let outcome = self.once(req).await;
            drop(permits);
            self.stats.record(match &outcome {
                Attempt::Answer { status, .. } => Some(*status),
                Attempt::Failed { .. } => None,
            });
            let elapsed_ms = started.elapsed().as_millis() as u64;
            let delay = match outcome {
                Attempt::Answer { status, body, .. } if status != 429 && status < 500 => {
                    tracing::debug!(method = %method, path = %req.path, status, attempt, elapsed_ms, "asana request");
                    return Ok((status, body));
                }
                Attempt::Answer {
                    status: 429,
                    retry_after,
                    ..
                } => {
                    rate_limited += 1;
                    let delay = retry_after.unwrap_or_else(|| self.backoff(rate_limited));
                    self.stats.waited(delay);
                    tracing::warn!(method = %method, path = %req.path, attempt, retry_after_ms = delay.as_millis() as u64, "asana rate limit (429)");
                    if rate_limited > self.retry.max_attempts.saturating_add(2)
                        || waited + delay > self.retry.max_total_wait
                    {
                        return Err(AsanaError::RateLimited {
                            method,
                            path: req.path.clone(),
                            waited,
                        });
                    }
                    delay
                }
                Attempt::Answer { status, body, .. } => {
                    let err = AsanaError::Status {
                        status,
                        method: method.clone(),
                        path: req.path.clone(),
                        message: self.error_message(&body),
                    };
                    tracing::warn!(method = %method, path = %req.path, status, attempt, "asana server error");
                    if req.safety == Safety::Create {
                        return Err(AsanaError::CreateNotRepeated {
                            inner: Box::new(err),
                        });
                    }
                    let delay = self.backoff(attempt);
                    if attempt >= self.retry.max_attempts
                        || waited + delay > self.retry.max_total_wait
                    {
                        return Err(err);
                    }
                    delay
                }
                Attempt::Failed {
                    connect,
                    repeat,
                    message,
                } => {
                    tracing::warn!(method = %method, path = %req.path, attempt, connect, error = %message, "asana request failed");
                    let err = AsanaError::Transport {
                        method: method.clone(),
                        path: req.path.clone(),
                        message,
                    };
                    if req.safety == Safety::Create && !connect {
                        return Err(AsanaError::CreateNotRepeated {
                            inner: Box::new(err),
                        });
                    }
                    let delay = self.backoff(attempt);
                    if !repeat
                        || attempt >= self.retry.max_attempts
                        || waited + delay > self.retry.max_total_wait
                    {
                        return Err(err);
                    }
                    delay
                }
            };
            waited += delay;
            tokio::time::sleep(delay).await;
        }
    }

    /// Sends `req`; a non-success answer is an error. Returns the whole body.
    pub(crate) async fn execute(&self, req: &Request) -> Result<Value, AsanaError> {
        let (status, body) = self.execute_raw(req, 1).await?;
        if (200..300).contains(&status) {
            Ok(body)
        } else {
            Err(AsanaError::Status {
                status,
                method: req.method.to_string(),
                path: req.path.clone(),
                message: self.error_message(&body),
            })
        }
    }

    /// Sends `req` and returns the record of the answer (an object whose `data` is an object;
    /// see [`answer::record`]).
    pub(crate) async fn data(&self, req: &Request) -> Result<Value, AsanaError> {
        let body = self.execute(req).await?;
        answer::record(&format!("{} {}", req.method, req.path), body)
    }

    /// GETs every page of a list endpoint (`limit=100`, following `next_page.offset`).
    pub(crate) async fn get_all(&self, req: Request) -> Result<Vec<Value>, AsanaError> {
        Ok(self.get_all_from(req, None).await?.items)
    }

    /// GETs every page of a list endpoint from `offset` on (the `next_page.offset` of a page
    /// already read; `None` for the first page), 100 items per request. `req` must not carry
    /// an `offset` parameter of its own.
    ///
    /// Asana's offsets expire (400 naming `offset`): the listing then starts again from the
    /// first page, once, and [`Listing::from_start`] says so.
    pub(crate) async fn get_all_from(
        &self,
        req: Request,
        offset: Option<String>,
    ) -> Result<Listing, AsanaError> {
        match self.pages(&req, offset.clone()).await {
            Ok(items) => Ok(Listing {
                items,
                from_start: offset.is_none(),
            }),
            Err(PageError::OffsetRefused(e)) if is_expired_offset(&e) => {
                tracing::info!(path = %req.path, "the Asana page offset expired; listing again from the first page");
                let items = self
                    .pages(&req, None)
                    .await
                    .map_err(PageError::into_inner)?;
                Ok(Listing {
                    items,
                    from_start: true,
                })
            }
            Err(e) => Err(e.into_inner()),
        }
    }

    /// The pages from `offset` on.
    async fn pages(&self, req: &Request, offset: Option<String>) -> Result<Vec<Value>, PageError> {
        let mut out = Vec::new();
        let mut offset = offset;
        // A guard against a server that keeps sending the same offset.
        for _ in 0..100_000 {
            let mut page = req.clone().param("limit", "100");
            if let Some(o) = &offset {
                page = page.param("offset", o.clone());
            }
            let body = match self.execute(&page).await {
                Err(e) if offset.is_some() => return Err(PageError::OffsetRefused(e)),
                Err(e) => return Err(PageError::Other(e)),
                Ok(body) => body,
            };
            // A page that is not a well-formed listing ends the listing with an error: read
            // as empty, it would make every task look gone.
            let items =
                answer::page(&format!("GET {}", req.path), &body).map_err(PageError::Other)?;
            out.extend(items.iter().cloned());
            let next = body
                .get("next_page")
                .and_then(|n| n.get("offset"))
                .and_then(Value::as_str)
                .map(str::to_string);
            match next {
                Some(n) if Some(&n) != offset.as_ref() && !n.is_empty() => offset = Some(n),
                _ => return Ok(out),
            }
        }
        Ok(out)
    }

    /// Whether `POST /batch` is used (it is, until the server says it does not know it).
    pub(crate) fn batch_supported(&self) -> bool {
        self.batch_supported.load(Ordering::Relaxed)
    }

    /// Runs up to 10 actions as one `POST /batch` (one request). `safety` applies to the batch
    /// as a whole. When the server does not offer `/batch` (404/405/501 on the batch itself),
    /// the actions are sent one by one from then on.
    pub(crate) async fn batch(
        &self,
        actions: &[BatchAction],
        safety: Safety,
    ) -> Result<Vec<BatchResult>, AsanaError> {
        if actions.is_empty() {
            return Ok(Vec::new());
        }
        if self.batch_supported() {
            let list: Vec<Value> = actions
                .iter()
                .map(|a| {
                    let mut m = Map::new();
                    m.insert("relative_path".into(), json!(a.relative_path));
                    m.insert(
                        "method".into(),
                        json!(a.method.as_str().to_ascii_lowercase()),
                    );
                    if let Some(d) = &a.data {
                        m.insert("data".into(), d.clone());
                    }
                    if let Some(o) = &a.options {
                        m.insert("options".into(), o.clone());
                    }
                    Value::Object(m)
                })
                .collect();
            let all_reads = actions.iter().all(|a| a.method == Method::GET);
            let mut req =
                Request::write(Method::POST, "/batch", json!({ "actions": list }), safety);
            // A batch of reads counts against the read pool.
            req.read = all_reads;
            let (status, body) = self.execute_raw(&req, actions.len()).await?;
            if matches!(status, 404 | 405 | 501) && body.get("data").is_none() {
                tracing::info!(
                    status,
                    "POST /batch is not offered by this server; sending actions one by one"
                );
                self.batch_supported.store(false, Ordering::Relaxed);
            } else if (200..300).contains(&status) {
                return decode_batch(&body, actions.len(), |b| self.error_message(b));
            } else {
                return Err(AsanaError::Status {
                    status,
                    method: "POST".into(),
                    path: "/batch".into(),
                    message: self.error_message(&body),
                });
            }
        }
        let mut out = Vec::with_capacity(actions.len());
        for a in actions {
            let mut req = Request {
                method: a.method.clone(),
                path: a.relative_path.clone(),
                query: Vec::new(),
                data: None,
                safety,
                read: a.method == Method::GET,
            };
            if a.method == Method::GET {
                if let Some(Value::Object(d)) = &a.data {
                    for (k, v) in d {
                        req.query.push((k.clone(), scalar_text(v)));
                    }
                }
            } else if a.method == Method::DELETE {
                // A DELETE takes no body.
                req.data = a.data.clone();
            } else {
                req.data = Some(a.data.clone().unwrap_or_else(|| json!({})));
            }
            if let Some(Value::Object(o)) = &a.options {
                for (k, v) in o {
                    if k == "fields" {
                        let fields: Vec<String> = v
                            .as_array()
                            .map(|a| a.iter().map(scalar_text).collect())
                            .unwrap_or_default();
                        req.query.push(("opt_fields".into(), fields.join(",")));
                    } else {
                        req.query.push((k.clone(), scalar_text(v)));
                    }
                }
            }
            let (status, body) = self.execute_raw(&req, 1).await?;
            let message = result_message(status, &body, |b| self.error_message(b));
            out.push(BatchResult {
                status,
                body,
                message,
            });
        }
        Ok(out)
    }
}

/// Every item of a listing.
#[derive(Debug)]
pub(crate) struct Listing {
    pub items: Vec<Value>,
    /// Whether `items` starts at the first page (the listing began there, or began again
    /// there after its offset expired).
    pub from_start: bool,
}

/// Why reading pages stopped.
enum PageError {
    /// A request carrying an offset failed.
    OffsetRefused(AsanaError),
    /// Anything else.
    Other(AsanaError),
}

impl PageError {
    fn into_inner(self) -> AsanaError {
        match self {
            PageError::OffsetRefused(e) | PageError::Other(e) => e,
        }
    }
}

/// A 400 naming `offset` to a page request that carried one: Asana's answer to an expired
/// (or otherwise invalid) offset.
fn is_expired_offset(e: &AsanaError) -> bool {
    e.status() == Some(400)
        && e.asana_message()
            .is_some_and(|m| m.to_ascii_lowercase().contains("offset"))
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The cleaned message of an action's error answer; empty on success.
fn result_message(status: u16, body: &Value, message: impl Fn(&Value) -> String) -> String {
    if (200..300).contains(&status) {
        String::new()
    } else {
        message(body)
    }
}

/// The results of a batch: a listing of exactly `expected` results, each with a status code.
fn decode_batch(
    body: &Value,
    expected: usize,
    message: impl Fn(&Value) -> String,
) -> Result<Vec<BatchResult>, AsanaError> {
    let items = answer::page("POST /batch", body)?;
    if items.len() != expected {
        return Err(AsanaError::decode(
            "POST /batch",
            format!("{} results for {expected} actions", items.len()),
        ));
    }
    items
        .iter()
        .map(|item| {
            let status = item
                .get("status_code")
                .and_then(Value::as_u64)
                .and_then(|s| u16::try_from(s).ok())
                .ok_or_else(|| {
                    AsanaError::decode("POST /batch", "a result has no valid `status_code`")
                })?;
            let body = item.get("body").cloned().unwrap_or(Value::Null);
            let message = result_message(status, &body, &message);
            Ok(BatchResult {
                status,
                body,
                message,
            })
        })
        .collect()
}

/// The HTTP library's error text, without anything that could carry a secret (the URL is
/// ours and carries only gids; headers are never part of the text).
fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_request() {
        "request failed"
    } else if e.is_body() || e.is_decode() {
        "reading the answer failed"
    } else {
        "transport error"
    };
    let mut detail = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        what.to_string()
    } else {
        format!("{what} ({detail})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refuses_when_empty_and_says_how_long() {
        let mut b = TokenBucket::new(60);
        for _ in 0..60 {
            assert!(b.try_take(1.0).is_ok());
        }
        let wait = b.try_take(1.0).unwrap_err();
        assert!(wait <= Duration::from_millis(1100), "{wait:?}");
    }

    #[test]
    fn batch_results_are_checked() {
        let m = |_: &Value| "refused".to_string();
        assert!(decode_batch(&json!({"data": "x"}), 1, m).is_err());
        assert!(decode_batch(&json!({"data": []}), 1, m).is_err());
        assert!(decode_batch(&json!([]), 0, m).is_err());
        assert!(decode_batch(&json!({"data": [{"body": {}}]}), 1, m).is_err());
        let r = decode_batch(
            &json!({"data": [{"status_code": 200, "body": {"data": {}}}, {"status_code": 404, "body": {}}]}),
            2,
            m,
        )
        .unwrap();
        assert_eq!((r[0].status, r[0].message.as_str()), (200, ""));
        assert_eq!((r[1].status, r[1].message.as_str()), (404, "refused"));
    }
}
