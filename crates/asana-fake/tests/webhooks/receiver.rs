//! A small webhook receiver on loopback for the tests: it answers the handshake
//! as told, keeps the secret, records every delivery's raw bytes and signature,
//! and answers deliveries as told (status, delay, signature check).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use asana_fake::webhook_signature;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::Value;

/// How the receiver answers a handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handshake {
    /// 200 with the secret echoed.
    Echo,
    /// 204 with the secret echoed.
    EchoNoContent,
    /// 200 without the header.
    NoEcho,
    /// 200 with another value in the header.
    WrongEcho,
    /// This status with the secret echoed.
    Status(u16),
}

/// One delivery as received.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// The exact bytes of the body.
    pub raw: Bytes,
    /// The `X-Hook-Signature` header.
    pub signature: Option<String>,
    /// When it arrived.
    pub at: Instant,
}

impl Delivery {
    /// The body parsed.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.raw).expect("a delivery is JSON")
    }

    /// The delivered events.
    pub fn events(&self) -> Vec<Value> {
        self.json()["events"]
            .as_array()
            .expect("events is an array")
            .clone()
    }

    /// Whether the signature is the HMAC of the raw bytes with `secret`.
    pub fn signed_with(&self, secret: &str) -> bool {
        self.signature.as_deref() == Some(webhook_signature(secret, &self.raw).as_str())
    }
}

/// What the receiver does and has seen.
pub struct Inner {
    pub handshake: Handshake,
    /// Status answered to deliveries.
    pub status: u16,
    /// Body answered to deliveries.
    pub answer: String,
    /// Wait before answering a delivery.
    pub delay: Duration,
    /// Answer 401 to a delivery whose signature does not verify.
    pub verify: bool,
    /// Secrets received in handshakes, in order.
    pub secrets: Vec<String>,
    pub deliveries: Vec<Delivery>,
}

/// A running receiver.
pub struct Receiver {
    pub addr: SocketAddr,
    pub inner: Arc<Mutex<Inner>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let secret = headers
        .get("x-hook-secret")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let Some(secret) = secret {
        let mode = {
            let mut g = inner.lock().unwrap();
            g.secrets.push(secret.clone());
            g.handshake
        };
        let (status, echo) = match mode {
            Handshake::Echo => (200, Some(secret)),
            Handshake::EchoNoContent => (204, Some(secret)),
            Handshake::NoEcho => (200, None),
            Handshake::WrongEcho => (200, Some(format!("{secret}x"))),
            Handshake::Status(s) => (s, Some(secret)),
        };
        let mut r = StatusCode::from_u16(status).unwrap().into_response();
        if let Some(e) = echo {
            r.headers_mut()
                .insert("x-hook-secret", HeaderValue::from_str(&e).unwrap());
        }
        return r;
    }
    let delivery = Delivery {
        raw,
        signature: headers
            .get("x-hook-signature")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        at: Instant::now(),
    };
    let (status, answer, delay, refuse) = {
        let mut g = inner.lock().unwrap();
        let refuse = g.verify && !g.secrets.last().is_some_and(|s| delivery.signed_with(s));
        g.deliveries.push(delivery);
        (g.status, g.answer.clone(), g.delay, refuse)
    };
    tokio::time::sleep(delay).await;
    if refuse {
        return (StatusCode::UNAUTHORIZED, "bad signature").into_response();
    }
    (StatusCode::from_u16(status).unwrap(), answer).into_response()
}

impl Receiver {
    /// Starts a receiver on `127.0.0.1` that echoes handshakes and answers 200.
    pub async fn start() -> Receiver {
        let inner = Arc::new(Mutex::new(Inner {
            handshake: Handshake::Echo,
            status: 200,
            answer: String::new(),
            delay: Duration::ZERO,
            verify: false,
            secrets: Vec::new(),
            deliveries: Vec::new(),
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let addr = listener.local_addr().expect("addr");
        let app = Router::new().fallback(receive).with_state(inner.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { addr, inner, task }
    }

    /// A target URL on this receiver.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Changes how it answers.
    pub fn set(&self, f: impl FnOnce(&mut Inner)) {
        f(&mut self.inner.lock().unwrap());
    }

    /// The last secret received in a handshake.
    pub fn secret(&self) -> String {
        self.inner
            .lock()
            .unwrap()
            .secrets
            .last()
            .cloned()
            .expect("a handshake happened")
    }

    /// How many handshakes it answered.
    pub fn handshakes(&self) -> usize {
        self.inner.lock().unwrap().secrets.len()
    }

    /// The deliveries so far.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.inner.lock().unwrap().deliveries.clone()
    }

    /// The deliveries that carried events (heartbeats left out).
    pub fn event_deliveries(&self) -> Vec<Delivery> {
        self.deliveries()
            .into_iter()
            .filter(|d| !d.events().is_empty())
            .collect()
    }

    /// Every delivered event, in arrival order.
    pub fn events(&self) -> Vec<Value> {
        self.deliveries().iter().flat_map(|d| d.events()).collect()
    }

    /// Waits (up to 5 s) until `cond` holds of the deliveries; panics otherwise.
    pub async fn wait_for(&self, what: &str, cond: impl Fn(&[Delivery]) -> bool) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if cond(&self.deliveries()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("timed out waiting for {what}: {:?}", self.deliveries());
    }
}

/// Waits (up to 5 s) until `cond` holds; panics naming `what` otherwise.
pub async fn eventually(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}
