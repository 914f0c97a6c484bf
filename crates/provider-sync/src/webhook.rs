//! The worker's Asana webhook (`ticket sync run --webhook-addr --webhook-url`, or the keys
//! `sync_webhook_addr`, `sync_webhook_url`, `sync_webhook_silence_s`): Asana calls the worker
//! when the project changes, so that the worker need not poll. This module holds the
//! receiving side (what a request to the webhook URL means, the signature check, the secret,
//! the health counters) and the pure rules of when the worker polls and registers again;
//! the HTTP listener and the registration are private modules beside it.
//!
//! * **The listener.** Its own address, not the metrics one: it faces Asana (through a
//!   proxy), `/metrics` and `/healthz` do not. It accepts `POST` on the webhook URL's path
//!   only, reads the raw body bytes (up to 2 MB; a delivery holds at most 100 events), and is
//!   bounded like the metrics listener (64 connections, 5 s for the headers, 60 s a
//!   connection). Stopping the worker closes its connections too.
//! * **Registration.** The listener is bound before anything is registered (Asana's
//!   handshake comes during the registration request). At start (and after a failed
//!   attempt), a webhook on the project with this target whose gid and secret the store
//!   holds (`sync_kv`, [`REGISTRATION_KEY_PREFIX`] + the URL) and which Asana still calls
//!   `active` is reused; every other webhook with this target is deleted (its secret is
//!   unknown, or it is being replaced), then one is created for changes of the project's
//!   tasks and stories. Asana's
//!   "Duplicated webhook" 403 (say a create whose answer was lost) deletes the duplicate and
//!   creates again; it never fails the worker. Webhooks with other targets are left alone,
//!   so several workers may follow one project, each with a URL of its own (one worker per
//!   URL; `sync status` shows the health the last of them wrote).
//! * **Handshake.** A request with `X-Hook-Secret` is answered with the same header only
//!   while this worker has a registration in flight, and only once per registration; any
//!   other is refused (403) and changes nothing. The secret kept is the one of the
//!   registration's answer (it came over the authenticated connection to Asana), else the
//!   handshake's. It is stored when the registration completes and replaced only by the
//!   registration of a new webhook — never by a header. It is never logged, printed or shown
//!   by `Debug`.
//! * **Deliveries.** `X-Hook-Signature` must be the hex HMAC-SHA256 of the raw body bytes,
//!   keyed with the secret, compared in constant time (`hmac`'s `verify_slice`). A missing or
//!   wrong one is refused (401) and nothing is applied. A verified delivery is answered at
//!   once (200, well within Asana's 10 s) and only wakes the worker's pull, which follows
//!   Asana's event stream from its own cursor, as polling does: the delivery's events are
//!   not applied themselves, so a duplicated, reordered or delayed delivery cannot apply a
//!   change twice or out of order. A heartbeat (no events) pulls too; so a change whose
//!   delivery Asana lost arrives with the next delivery, the next heartbeat, the silence
//!   fallback or the reconcile, whichever comes first. A pull that fails (Asana down) is
//!   tried again every `sync_poll_interval_ms` until one succeeds, webhook or not.
//! * **Healthy.** While a delivery or heartbeat came within `sync_webhook_silence_s`
//!   (default 9 hours: Asana sends a heartbeat to a quiet webhook every 8), the worker does
//!   not poll. Every `sync_reconcile_interval_s`, with the reconcile, it asks Asana for the
//!   webhook (one `GET /webhooks/{gid}`) and registers again when it is gone or inactive
//!   (Asana deletes a webhook whose deliveries keep failing for 24 hours).
//! * **Fallback.** While registering, after a failed registration and once silent past the
//!   limit, the worker polls Asana's events every `sync_poll_interval_ms` as without a
//!   webhook, and registers anew (failed attempts back off from 1 s to 5 minutes,
//!   `next_register_backoff`). The hourly reconcile goes on in every state.
//! * **Health.** The state, the fallback in use, the last delivery and the failures (bad
//!   signatures, handler errors, failed registrations) are written to the store
//!   ([`HEALTH_KEY`]) for `ticket sync status`, and served in `/metrics`
//!   (`ticket_sync_webhook_*`). Counts are since the worker started.
//! * **Stop.** The webhook stays registered for the next start to reuse; Asana retries the
//!   deliveries it misses meanwhile, and the next start's first pull catches up anyway.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use ticket_provider_api::{SecretString, WebhookFallback, WebhookHealth, WebhookState};
use tokio::sync::Notify;
use tokio::time::Instant;

/// The handshake's header.
pub(crate) const SECRET_HEADER: &str = "X-Hook-Secret";

/// A delivery's signature header.
pub(crate) const SIGNATURE_HEADER: &str = "X-Hook-Signature";

/// The `sync_kv` key of the worker's webhook health (what `sync status` shows).
pub const HEALTH_KEY: &str = "webhook.health";

/// The `sync_kv` key prefix of a registration, followed by its target URL.
pub const REGISTRATION_KEY_PREFIX: &str = "webhook.registration.";

/// The first wait before registering again after a failed registration.
pub const FIRST_REGISTER_BACKOFF: Duration = Duration::from_secs(1);

/// The longest wait between registration attempts.
pub const MAX_REGISTER_BACKOFF: Duration = Duration::from_secs(300);

/// Whether `signature` (hex, as `X-Hook-Signature` carries it) is the HMAC-SHA256 of `body`
/// keyed with `secret`. Constant-time in the comparison; `false` for a missing or
/// malformed header.
pub(crate) fn signature_ok(secret: &[u8], body: &[u8], signature: Option<&[u8]>) -> bool {
    let Some(bytes) = signature.and_then(|s| hex_decode(s.trim_ascii())) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&bytes).is_ok()
}

/// The bytes of an even-length hex text (either case), `None` when it is not one.
fn hex_decode(text: &[u8]) -> Option<Vec<u8>> {
    if text.is_empty() || text.len() % 2 != 0 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    text.chunks(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

/// The state after one look at the webhook, and whether to register now, given the state,
/// whether it has been silent past the limit and whether a registration attempt is due.
/// Pure; see the table in the tests.
pub(crate) fn next_hook_state(
    state: WebhookState,
    silent: bool,
    attempt_due: bool,
) -> (WebhookState, bool) {
    match state {
        WebhookState::Healthy if silent => (WebhookState::Silent, true),
        WebhookState::Healthy => (WebhookState::Healthy, false),
        WebhookState::Registering | WebhookState::Silent | WebhookState::Failed => {
            (state, attempt_due)
        }
        WebhookState::Stopped => (WebhookState::Stopped, false),
    }
}

/// How the worker learns of remote changes in `state`: only a healthy webhook spares the
/// polling.
pub(crate) fn fallback_of(state: WebhookState) -> WebhookFallback {
    match state {
        WebhookState::Healthy => WebhookFallback::None,
        _ => WebhookFallback::Polling,
    }
}

/// The wait before the next registration attempt after a failed one, given the last wait
/// (`ZERO`: none failed yet): 1 s doubling to 5 minutes. Pure.
pub(crate) fn next_register_backoff(last: Duration) -> Duration {
    if last.is_zero() {
        FIRST_REGISTER_BACKOFF
    } else {
        (last * 2).min(MAX_REGISTER_BACKOFF)
    }
}

/// A registration as the store keeps it (`sync_kv`, [`REGISTRATION_KEY_PREFIX`] + target).
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct StoredRegistration {
    /// The webhook gid.
    pub(crate) gid: String,
    /// Its secret.
    pub(crate) secret: String,
}

impl std::fmt::Debug for StoredRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredRegistration")
            .field("gid", &self.gid)
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// How the listener answers a request (`WebhookReceiver::receive`). `Debug` hides the
/// echoed secret.
#[derive(PartialEq, Eq)]
pub(crate) enum Reply {
    /// 200 with `X-Hook-Secret` echoed: the handshake of the registration in flight.
    Echo(String),
    /// 200: a verified delivery (or heartbeat); the worker pulls after the answer.
    Accepted,
    /// 403: a handshake while no registration of this worker is in flight.
    HandshakeRefused,
    /// 401: a delivery whose signature is missing or wrong; nothing applied.
    BadSignature,
    /// 400: a verified delivery whose body is not `{"events": [...]}`.
    Malformed,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Reply::Echo(_) => "Echo([redacted])",
            Reply::Accepted => "Accepted",
            Reply::HandshakeRefused => "HandshakeRefused",
            Reply::BadSignature => "BadSignature",
            Reply::Malformed => "Malformed",
        })
    }
}

/// The handshake slot of a registration.
enum InFlight {
    /// No registration in flight: handshakes are refused.
    Idle,
    /// Waiting for the handshake.
    Waiting,
    /// The handshake came with this secret; further ones are refused.
    Answered(SecretString),
}

/// The counters behind [`WebhookHealth`].
#[derive(Default)]
struct Counters {
    state: Option<WebhookState>,
    webhook_id: Option<String>,
    last_contact: Option<Instant>,
    last_delivery_at: Option<DateTime<Utc>>,
    deliveries: u64,
    heartbeats: u64,
    bad_signatures: u64,
    handler_errors: u64,
    registration_failures: u64,
    last_failure: Option<String>,
    /// Bumped on every change, so the worker knows when to write the health.
    version: u64,
}

/// The receiver's state, shared by the listener and the worker loop.
pub(crate) struct WebhookReceiver {
    target: String,
    in_flight: Mutex<InFlight>,
    secret: Mutex<Option<SecretString>>,
    counters: Mutex<Counters>,
    wanted: AtomicBool,
    /// Wakes the worker loop when a delivery asks for a pull.
    pub(crate) wake: Notify,
}

impl std::fmt::Debug for WebhookReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookReceiver")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl WebhookReceiver {
    /// A receiver for deliveries to `target`, registering.
    pub(crate) fn new(target: &str) -> Self {
        WebhookReceiver {
            target: target.to_string(),
            in_flight: Mutex::new(InFlight::Idle),
            secret: Mutex::new(None),
            counters: Mutex::new(Counters {
                state: Some(WebhookState::Registering),
                ..Counters::default()
            }),
            wanted: AtomicBool::new(false),
            wake: Notify::new(),
        }
    }

    /// Opens the handshake slot: a registration is about to be sent.
    pub(crate) fn begin_registration(&self) {
        *locked(&self.in_flight) = InFlight::Waiting;
    }

    /// Closes the handshake slot; the handshake's secret, if one came.
    pub(crate) fn end_registration(&self) -> Option<SecretString> {
        match std::mem::replace(&mut *locked(&self.in_flight), InFlight::Idle) {
            InFlight::Answered(s) => Some(s),
            _ => None,
        }
    }

    /// Uses `secret` for deliveries from now on (a completed registration, or a reused one).
    pub(crate) fn use_secret(&self, secret: SecretString) {
        *locked(&self.secret) = Some(secret);
    }

    /// What a request with these headers and this raw body gets. Counts what happened.
    pub(crate) fn receive(
        &self,
        hook_secret: Option<&[u8]>,
        signature: Option<&[u8]>,
        body: &[u8],
    ) -> Reply {
        if let Some(offered) = hook_secret {
            let mut slot = locked(&self.in_flight);
            return match (&*slot, std::str::from_utf8(offered)) {
                (InFlight::Waiting, Ok(text)) if !text.is_empty() => {
                    *slot = InFlight::Answered(SecretString::new(text));
                    Reply::Echo(text.to_string())
                }
                _ => {
                    tracing::warn!("webhook: a handshake came while no registration of this worker was in flight; refused");
                    Reply::HandshakeRefused
                }
            };
        }
        let verified = match &*locked(&self.secret) {
            Some(secret) => signature_ok(secret.expose().as_bytes(), body, signature),
            None => false,
        };
        if !verified {
            self.count(|c| {
                c.bad_signatures += 1;
                c.last_failure = Some(if signature.is_some() {
                    "a delivery's X-Hook-Signature did not match; refused".into()
                } else {
                    "a delivery without X-Hook-Signature; refused".into()
                });
            });
            tracing::warn!("webhook: a delivery with a missing or wrong signature; refused");
            return Reply::BadSignature;
        }
        let events = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("events").and_then(|e| e.as_array()).map(Vec::len));
        let Some(events) = events else {
            self.count(|c| {
                c.handler_errors += 1;
                c.last_failure =
                    Some("a signed delivery whose body is not {\"events\": [...]}".into());
            });
            return Reply::Malformed;
        };
        self.count(|c| {
            c.last_contact = Some(Instant::now());
            c.last_delivery_at = Some(Utc::now());
            if events == 0 {
                c.heartbeats += 1;
            } else {
                c.deliveries += 1;
            }
        });
        // Heartbeats pull too: one request, which catches what a dropped delivery announced.
        self.want_pull();
        Reply::Accepted
    }

    /// Asks the worker for a pull and wakes it.
    pub(crate) fn want_pull(&self) {
        self.wanted.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Whether a pull was asked for since the last call.
    pub(crate) fn take_wanted(&self) -> bool {
        self.wanted.swap(false, Ordering::SeqCst)
    }

    fn count(&self, f: impl FnOnce(&mut Counters)) {
        let mut c = locked(&self.counters);
        f(&mut c);
        c.version += 1;
    }

    /// The webhook now stands in `state`, as webhook `gid` when known.
    pub(crate) fn set_state(&self, state: WebhookState, gid: Option<&str>) {
        let mut c = locked(&self.counters);
        let gid_changed = gid.is_some_and(|g| c.webhook_id.as_deref() != Some(g));
        if c.state == Some(state) && !gid_changed {
            return;
        }
        if state == WebhookState::Healthy {
            // Becoming healthy (a registration, or a reuse) is a contact: the silence
            // starts now.
            c.last_contact = Some(Instant::now());
        }
        c.state = Some(state);
        if let Some(g) = gid {
            c.webhook_id = Some(g.to_string());
        }
        c.version += 1;
    }

    /// A registration failed with `why` (one line, no secret).
    pub(crate) fn registration_failed(&self, why: &str) {
        self.count(|c| {
            c.registration_failures += 1;
            c.last_failure = Some(format!("registering the webhook failed: {why}"));
        });
    }

    /// A pull a delivery started failed with `why`.
    pub(crate) fn handler_failed(&self, why: &str) {
        self.count(|c| {
            c.handler_errors += 1;
            c.last_failure = Some(format!("the pull a delivery started failed: {why}"));
        });
    }

    /// How long since the last contact (delivery, heartbeat or registration); `None`: none.
    pub(crate) fn since_contact(&self) -> Option<Duration> {
        locked(&self.counters).last_contact.map(|t| t.elapsed())
    }

    /// A number that changes whenever the health does.
    pub(crate) fn version(&self) -> u64 {
        locked(&self.counters).version
    }

    /// The health as `sync status` and the metrics show it.
    pub(crate) fn health(&self) -> WebhookHealth {
        let c = locked(&self.counters);
        let state = c.state.unwrap_or(WebhookState::Registering);
        WebhookHealth {
            target: self.target.clone(),
            webhook_id: c.webhook_id.clone(),
            state,
            fallback: fallback_of(state),
            last_delivery_at: c.last_delivery_at,
            deliveries: c.deliveries,
            heartbeats: c.heartbeats,
            bad_signatures: c.bad_signatures,
            handler_errors: c.handler_errors,
            registration_failures: c.registration_failures,
            last_failure: c.last_failure.clone(),
            updated_at: Utc::now(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn signatures_by_table() {
        let body = br#"{"events":[{"action":"changed"}]}"#;
        let good = sign("s3cret", body);
        let upper = good.to_uppercase();
        let reserialised = sign("s3cret", br#"{"events": [{"action": "changed"}]}"#);
        let other_key = sign("other", body);
        let truncated = good[..62].to_string();
        // (signature header, accepted)
        let cases: [(Option<&str>, bool); 8] = [
            (Some(&good), true),
            (Some(&upper), true),
            (None, false),
            (Some(""), false),
            (Some(&reserialised), false),
            (Some(&other_key), false),
            (Some(&truncated), false),
            (Some("zz"), false),
        ];
        for (sig, want) in cases {
            assert_eq!(
                signature_ok(b"s3cret", body, sig.map(str::as_bytes)),
                want,
                "{sig:?}"
            );
        }
    }

    #[test]
    fn hook_states_by_table() {
        use WebhookState::*;
        // (state, silent, attempt due) → (state, register now)
        let cases = [
            (Registering, false, true, Registering, true),
            (Registering, false, false, Registering, false),
            (Healthy, false, true, Healthy, false),
            (Healthy, true, false, Silent, true),
            (Silent, true, false, Silent, false),
            (Silent, true, true, Silent, true),
            (Failed, false, false, Failed, false),
            (Failed, false, true, Failed, true),
            (Stopped, true, true, Stopped, false),
        ];
        for (state, silent, due, want_state, want_register) in cases {
            assert_eq!(
                next_hook_state(state, silent, due),
                (want_state, want_register),
                "{state:?} {silent} {due}"
            );
        }
        for (state, polls) in [
            (Registering, true),
            (Healthy, false),
            (Silent, true),
            (Failed, true),
            (Stopped, true),
        ] {
            assert_eq!(fallback_of(state) == WebhookFallback::Polling, polls);
        }
    }

    #[test]
    fn register_backoff_by_table() {
        let s = Duration::from_secs;
        for (last, want) in [
            (Duration::ZERO, s(1)),
            (s(1), s(2)),
            (s(128), s(256)),
            (s(256), s(300)),
            (s(300), s(300)),
        ] {
            assert_eq!(next_register_backoff(last), want, "{last:?}");
        }
    }

    #[test]
    fn the_handshake_is_answered_once_and_only_in_flight() {
        let rx = WebhookReceiver::new("http://127.0.0.1:1/h");
        // Nothing in flight: refused.
        assert_eq!(rx.receive(Some(b"aa"), None, b""), Reply::HandshakeRefused);
        rx.begin_registration();
        assert_eq!(
            rx.receive(Some(b"first"), None, b""),
            Reply::Echo("first".into())
        );
        // A second handshake of the same registration: refused, the first secret stays.
        assert_eq!(
            rx.receive(Some(b"second"), None, b""),
            Reply::HandshakeRefused
        );
        assert_eq!(rx.end_registration().unwrap().expose(), "first");
        assert_eq!(
            format!("{:?}", Reply::Echo("first".into())),
            "Echo([redacted])"
        );
        assert!(rx.end_registration().is_none());
        assert_eq!(
            rx.receive(Some(b"late"), None, b""),
            Reply::HandshakeRefused
        );
    }

    #[test]
    fn only_becoming_healthy_counts_as_contact() {
        let rx = WebhookReceiver::new("http://127.0.0.1:1/h");
        assert!(rx.since_contact().is_none());
        rx.set_state(WebhookState::Healthy, Some("1"));
        let version = rx.version();
        std::thread::sleep(Duration::from_millis(30));
        // Staying healthy (the worker says so at every step) is no contact.
        rx.set_state(WebhookState::Healthy, Some("1"));
        assert!(rx.since_contact().unwrap() >= Duration::from_millis(30));
        assert_eq!(rx.version(), version, "nothing changed");
        // A new webhook is a change, and its registration a contact.
        rx.set_state(WebhookState::Healthy, Some("2"));
        assert_eq!(rx.health().webhook_id.as_deref(), Some("2"));
        assert!(rx.version() > version);
        rx.set_state(WebhookState::Silent, None);
        rx.set_state(WebhookState::Healthy, None);
        assert!(rx.since_contact().unwrap() < Duration::from_millis(30));
        assert_eq!(rx.health().fallback, WebhookFallback::None);
    }

    #[test]
    fn deliveries_are_verified_before_anything_happens() {
        let rx = WebhookReceiver::new("http://127.0.0.1:1/h");
        let body = br#"{"events":[{"action":"changed"}]}"#;
        // No secret yet: nothing can be verified.
        assert_eq!(
            rx.receive(None, Some(sign("k", body).as_bytes()), body),
            Reply::BadSignature
        );
        rx.use_secret(SecretString::new("k"));
        assert_eq!(rx.receive(None, None, body), Reply::BadSignature);
        assert_eq!(
            rx.receive(None, Some(sign("x", body).as_bytes()), body),
            Reply::BadSignature
        );
        assert!(!rx.take_wanted(), "a refused delivery asked for a pull");
        assert_eq!(
            rx.receive(None, Some(sign("k", body).as_bytes()), body),
            Reply::Accepted
        );
        assert!(rx.take_wanted());
        let heartbeat = br#"{"events":[]}"#;
        assert_eq!(
            rx.receive(None, Some(sign("k", heartbeat).as_bytes()), heartbeat),
            Reply::Accepted
        );
        assert_eq!(
            rx.receive(None, Some(sign("k", b"[]").as_bytes()), b"[]"),
            Reply::Malformed
        );
        let h = rx.health();
        assert_eq!(
            (
                h.deliveries,
                h.heartbeats,
                h.bad_signatures,
                h.handler_errors
            ),
            (1, 1, 3, 1)
        );
        assert!(h.last_delivery_at.is_some());
        let stored = StoredRegistration {
            gid: "1".into(),
            secret: "topsecretvalue".into(),
        };
        assert!(!format!("{stored:?}").contains("topsecretvalue"));
    }
}
