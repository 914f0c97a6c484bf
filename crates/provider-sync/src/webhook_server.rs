//! The worker's webhook listener (`sync_webhook_addr`, `ticket sync run --webhook-addr`):
//! one route, `POST` on the webhook URL's path, whose answer [`WebhookReceiver::receive`]
//! decides from the headers and the raw body bytes (axum's `Bytes`, up to its default 2 MB
//! limit; Asana's deliveries hold at most 100 events). It is a listener of its own, not the
//! metrics one: it faces Asana (through a proxy), `/metrics` and `/healthz` do not.
//!
//! Like the metrics listener, it is bounded so that clients cannot hold the process's file
//! descriptors: at most [`MAX_CONNECTIONS`] connections at once, headers within
//! [`HEADER_READ_TIMEOUT`], a connection open at most [`MAX_CONNECTION_LIFE`].

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::sync::Semaphore;

use crate::webhook::{Reply, WebhookReceiver, SECRET_HEADER, SIGNATURE_HEADER};

/// Connections served at once; one more is closed without an answer.
pub const MAX_CONNECTIONS: usize = 64;

/// Time a client has to send a request's headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Time a connection may stay open, however busy.
pub const MAX_CONNECTION_LIFE: Duration = Duration::from_secs(60);

async fn deliver(
    State(rx): State<Arc<WebhookReceiver>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| headers.get(name).map(HeaderValue::as_bytes);
    match rx.receive(header(SECRET_HEADER), header(SIGNATURE_HEADER), &body) {
        Reply::Echo(secret) => match HeaderValue::from_str(&secret) {
            Ok(mut value) => {
                value.set_sensitive(true);
                let mut resp = StatusCode::OK.into_response();
                resp.headers_mut().insert(SECRET_HEADER, value);
                resp
            }
            Err(_) => (StatusCode::BAD_REQUEST, "unusable X-Hook-Secret\n").into_response(),
        },
        Reply::Accepted => StatusCode::OK.into_response(),
        Reply::HandshakeRefused => (
            StatusCode::FORBIDDEN,
            "no webhook registration of this worker is in flight\n",
        )
            .into_response(),
        Reply::BadSignature => (
            StatusCode::UNAUTHORIZED,
            "missing or wrong X-Hook-Signature\n",
        )
            .into_response(),
        Reply::Malformed => (
            StatusCode::BAD_REQUEST,
            "the body is not {\"events\": [...]}\n",
        )
            .into_response(),
    }
}

/// Serves deliveries to `rx` on `path` until the task is aborted.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    path: String,
    rx: Arc<WebhookReceiver>,
) {
    let app = Router::new().route(&path, post(deliver)).with_state(rx);
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    // The connections live in this set, so that aborting the listener closes them too: a
    // kept-alive connection must not outlive the worker and answer a delivery it will
    // never act on.
    let mut connections = tokio::task::JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "the webhook listener could not accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            continue;
        };
        let service = TowerToHyperService::new(app.clone());
        connections.spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(MAX_CONNECTION_LIFE, conn).await;
            drop(slot);
            Ok::<(), Infallible>(())
        });
    }
}
