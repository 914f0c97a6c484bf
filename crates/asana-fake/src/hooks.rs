//! The outgoing side of webhooks, the only part of the fake that makes requests:
//! the handshake `POST /webhooks` makes with its target, and one deliverer task
//! per webhook that posts its events signed with the handshake's secret, sends
//! heartbeats, retries failed deliveries with backoff and deletes the webhook
//! when they keep failing, with the delivery faults tests inject.
//!
//! What a webhook delivers and what a failure does to its health are decided in
//! `model/webhooks.rs`; this module does the I/O, never while holding the
//! state's lock. Targets are checked to be loopback addresses before any of
//! this (`api/webhooks.rs`), and the client follows no redirects and uses no
//! proxy, so nothing leaves loopback.

use std::time::{Duration, Instant};

use chrono::Utc;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use crate::api;
use crate::control::{DeliveryFault, DeliveryOutcome, DeliveryRecord};
use crate::model::{State, Verdict};
use crate::request::{ApiError, ApiRequest, ApiResponse};
use crate::server::{lock, Shared};

/// The header of the handshake's secret.
const SECRET_HEADER: &str = "X-Hook-Secret";

/// The header of a delivery's signature.
const SIGNATURE_HEADER: &str = "X-Hook-Signature";

/// Most characters of a failed delivery's answer kept in `last_failure_content`.
const FAILURE_CONTENT_CHARS: usize = 1000;

/// The `X-Hook-Signature` of `body`: the lowercase hex HMAC-SHA256 of the exact bytes
/// sent, keyed with the webhook's secret.
pub fn webhook_signature(secret: &str, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        // HMAC takes keys of any length; this branch is never taken.
        return String::new();
    };
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The client of handshakes and deliveries: no proxy (a proxy would take requests off
/// loopback) and no redirects (a redirect could point anywhere).
pub(crate) fn client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// A fresh secret: 64 hex digits, like Asana's.
fn new_secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// What a request that got no answer ran into.
fn no_answer(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        format!("Timed out after {} ms", timeout.as_millis())
    } else if e.is_connect() {
        "Could not connect to the target".to_string()
    } else {
        format!("The request failed: {e}")
    }
}

/// The handshake: a POST to `target` carrying `X-Hook-Secret`, which the target must
/// answer with 200 or 204 and the same header. `Err` says what went wrong.
async fn handshake(
    client: &reqwest::Client,
    target: &str,
    secret: &str,
    timeout: Duration,
) -> Result<(), String> {
    let resp = client
        .post(target)
        .header(SECRET_HEADER, secret)
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| no_answer(&e, timeout))?;
    let status = resp.status().as_u16();
    if status != 200 && status != 204 {
        return Err(format!("the target answered {status}, not 200 or 204"));
    }
    match resp.headers().get(SECRET_HEADER).map(|v| v.as_bytes()) {
        Some(echo) if echo == secret.as_bytes() => Ok(()),
        Some(_) => Err(format!("the target echoed a different {SECRET_HEADER}")),
        None => Err(format!(
            "the target did not echo the {SECRET_HEADER} header"
        )),
    }
}

/// `POST /webhooks`: the checks, the handshake (outside the lock: the target may call
/// the fake meanwhile), then the webhook and its deliverer.
pub(crate) async fn create(shared: &Shared, req: &ApiRequest) -> ApiResponse {
    let prepared = {
        let st = lock(shared);
        api::prepare_webhook(&st, req)
            .map(|new| (new, st.hook_client.clone(), st.webhook_timing.timeout))
    };
    let (new, client, timeout) = match prepared {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let Some(client) = client else {
        return ApiError {
            status: 500,
            message: "The fake has no client for webhook requests".into(),
        }
        .into();
    };
    let secret = new_secret();
    if let Err(why) = handshake(&client, &new.target, &secret, timeout).await {
        return ApiError::bad(format!(
            "target: Could not complete the handshake with {}: {why}",
            new.target
        ))
        .into();
    }
    let mut st = lock(shared);
    match api::finish_create(&mut st, req, new, secret) {
        Ok((gid, resp)) => {
            let task = tokio::spawn(deliverer(shared.clone(), gid, client));
            st.hook_tasks.push(task.abort_handle());
            resp
        }
        Err(e) => e.into(),
    }
}

/// One delivery: its events (none for a heartbeat) and the exact bytes posted.
struct Batch {
    events: Vec<serde_json::Value>,
    body: Vec<u8>,
}

impl Batch {
    fn new(events: Vec<serde_json::Value>) -> Batch {
        let body = serde_json::to_vec(&json!({ "events": events })).unwrap_or_default();
        Batch { events, body }
    }

    /// This batch's events followed by `later`'s, as one delivery.
    fn merged(self, later: Batch) -> Batch {
        let mut events = self.events;
        events.extend(later.events);
        Batch::new(events)
    }
}

/// What a deliverer does next.
enum Step {
    /// The webhook is gone: stop.
    Gone,
    /// Nothing to do for this long (unless woken).
    Wait(Duration),
    /// Post `batch` to `target`, signed with `secret`, suffering `fault`.
    Send {
        batch: Batch,
        fault: Option<DeliveryFault>,
        target: String,
        secret: String,
        timeout: Duration,
    },
}

/// Takes the next delivery fault aimed at webhook `gid`.
fn take_fault(st: &mut State, gid: &str) -> Option<DeliveryFault> {
    let i = st
        .webhook_faults
        .iter()
        .position(|f| f.count > 0 && f.webhook.as_deref().is_none_or(|w| w == gid))?;
    let f = &mut st.webhook_faults[i];
    f.count -= 1;
    let fault = f.fault;
    if f.count == 0 {
        st.webhook_faults.remove(i);
    }
    Some(fault)
}

/// Decides the next step of webhook `gid`'s deliverer: a due retry first (nothing else
/// goes while one waits), then new events, then a heartbeat (or a held delivery in its
/// place) once the webhook has been quiet for the heartbeat interval.
fn plan(
    st: &mut State,
    gid: &str,
    retry: &mut Option<Batch>,
    held: &mut Option<Batch>,
    quiet_since: Instant,
) -> Step {
    let Some(hook) = st.webhooks.get(gid) else {
        return Step::Gone;
    };
    let (target, secret) = (hook.target.clone(), hook.secret.clone());
    let next_attempt = hook.health.next_attempt_after;
    let timing = st.webhook_timing;
    let send = |batch, fault| Step::Send {
        batch,
        fault,
        target,
        secret,
        timeout: timing.timeout,
    };
    if let Some(batch) = retry.take() {
        let wait = next_attempt
            .and_then(|t| (t - Utc::now()).to_std().ok())
            .unwrap_or_default();
        if !wait.is_zero() {
            *retry = Some(batch);
            return Step::Wait(wait);
        }
        let fault = take_fault(st, gid);
        return send(batch, fault);
    }
    let events = st.take_webhook_events(gid).unwrap_or_default();
    if !events.is_empty() {
        let fault = take_fault(st, gid);
        return send(Batch::new(events), fault);
    }
    let quiet = quiet_since.elapsed();
    if quiet < timing.heartbeat {
        return Step::Wait(timing.heartbeat - quiet);
    }
    match held.take() {
        Some(batch) => send(batch, None),
        None => {
            let fault = take_fault(st, gid);
            send(Batch::new(Vec::new()), fault)
        }
    }
}

/// The content of a failed answer: status line, blank line, body (cut short).
fn failure_content(status: reqwest::StatusCode, body: &str) -> String {
    let reason = status.canonical_reason().unwrap_or("");
    let body: String = body.chars().take(FAILURE_CONTENT_CHARS).collect();
    format!("{} {reason}\n\n{body}", status.as_u16())
}

/// Posts `batch` once and records the outcome in the log and the webhook's health.
/// Returns whether the target accepted it.
async fn attempt(
    shared: &Shared,
    client: &reqwest::Client,
    gid: &str,
    send: &Sending<'_>,
    wrong_signature: bool,
) -> bool {
    let key = if wrong_signature {
        format!("not-{}", send.secret)
    } else {
        send.secret.to_string()
    };
    let result = client
        .post(send.target)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, webhook_signature(&key, &send.batch.body))
        .body(send.batch.body.clone())
        .timeout(send.timeout)
        .send()
        .await;
    let (outcome, failure) = match result {
        Ok(resp) => {
            let status = resp.status();
            let failure = if status.is_success() {
                None
            } else {
                let body = resp.text().await.unwrap_or_default();
                Some(failure_content(status, &body))
            };
            let outcome = DeliveryOutcome::Answered {
                status: status.as_u16(),
            };
            (outcome, failure)
        }
        Err(e) => {
            let error = no_answer(&e, send.timeout);
            (
                DeliveryOutcome::NoAnswer {
                    error: error.clone(),
                },
                Some(error),
            )
        }
    };
    let mut st = lock(shared);
    st.deliveries.push(DeliveryRecord {
        webhook: gid.to_string(),
        events: send.batch.events.len(),
        fault: send.fault,
        outcome,
    });
    let now = st.now();
    let timing = st.webhook_timing;
    let Some(hook) = st.webhooks.get_mut(gid) else {
        // Deleted while the delivery was in flight.
        return failure.is_none();
    };
    match failure {
        None => {
            hook.health.succeeded(now);
            true
        }
        Some(content) => {
            if hook.health.failed(now, content, &timing) == Verdict::Delete {
                st.webhooks.remove(gid);
            }
            false
        }
    }
}

/// A delivery being made: what [`attempt`] needs of a [`Step::Send`].
struct Sending<'a> {
    batch: &'a Batch,
    fault: Option<DeliveryFault>,
    target: &'a str,
    secret: &'a str,
    timeout: Duration,
}

/// The deliverer of webhook `gid`: runs until the webhook is deleted (or the server
/// stops, which aborts it).
async fn deliverer(shared: Shared, gid: String, client: reqwest::Client) {
    let mut wake = lock(&shared).wake.subscribe();
    // A failed delivery waiting for its retry, and one held back by a reorder fault.
    let mut retry: Option<Batch> = None;
    let mut held: Option<Batch> = None;
    let mut quiet_since = Instant::now();
    loop {
        wake.borrow_and_update();
        let step = plan(&mut lock(&shared), &gid, &mut retry, &mut held, quiet_since);
        let (batch, fault, target, secret, timeout) = match step {
            Step::Gone => return,
            Step::Wait(d) => {
                tokio::select! {
                    changed = wake.changed() => if changed.is_err() { return },
                    () = tokio::time::sleep(d) => {}
                }
                continue;
            }
            Step::Send {
                batch,
                fault,
                target,
                secret,
                timeout,
            } => (batch, fault, target, secret, timeout),
        };
        quiet_since = Instant::now();
        let send = Sending {
            batch: &batch,
            fault,
            target: &target,
            secret: &secret,
            timeout,
        };
        let delivered = match fault {
            Some(DeliveryFault::Drop) => {
                lock(&shared).deliveries.push(DeliveryRecord {
                    webhook: gid.clone(),
                    events: batch.events.len(),
                    fault,
                    outcome: DeliveryOutcome::Dropped,
                });
                true
            }
            Some(DeliveryFault::Reorder) if held.is_none() => {
                held = Some(batch);
                continue;
            }
            Some(DeliveryFault::Delay { ms }) => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                attempt(&shared, &client, &gid, &send, false).await
            }
            Some(DeliveryFault::Duplicate) => {
                let first = attempt(&shared, &client, &gid, &send, false).await;
                attempt(&shared, &client, &gid, &send, false).await;
                first
            }
            Some(DeliveryFault::WrongSignature) => {
                attempt(&shared, &client, &gid, &send, true).await
            }
            // A second reorder while one delivery is held: sent as it is.
            Some(DeliveryFault::Reorder) | None => {
                attempt(&shared, &client, &gid, &send, false).await
            }
        };
        let mut failed = (!delivered).then_some(batch);
        if let Some(earlier) = held.take() {
            let send = Sending {
                batch: &earlier,
                fault: None,
                target: &target,
                secret: &secret,
                timeout,
            };
            if !attempt(&shared, &client, &gid, &send, false).await {
                failed = Some(match failed {
                    Some(b) => earlier.merged(b),
                    None => earlier,
                });
            }
        }
        retry = failed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hex_hmac_sha256_of_the_bytes() {
        // RFC 4231, test case 2.
        assert_eq!(
            webhook_signature("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let a = webhook_signature("s", br#"{"events":[]}"#);
        let b = webhook_signature("s", br#"{"events": []}"#);
        assert_ne!(a, b, "the same JSON in other bytes signs differently");
        assert_eq!(a.len(), 64);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    }

    #[test]
    fn failed_answers_keep_status_line_and_body() {
        let s = reqwest::StatusCode::INTERNAL_SERVER_ERROR;
        assert_eq!(
            failure_content(s, "Could not complete the request"),
            "500 Internal Server Error\n\nCould not complete the request"
        );
        let long = "é".repeat(5000);
        let c = failure_content(reqwest::StatusCode::BAD_GATEWAY, &long);
        assert_eq!(
            c.chars().count(),
            "502 Bad Gateway\n\n".len() + FAILURE_CONTENT_CHARS
        );
    }
}
