//! The HTTP side of `ticket sync run --metrics-addr`: `/metrics` (the worker's metrics in
//! the Prometheus/OpenMetrics text format, encoded by the provider's metrics crate) and
//! `/healthz`. axum, because the workspace already builds it (the local Asana server uses
//! it) and it is a well-kept server on the same tokio runtime.
//!
//! The listener is bounded so that clients cannot hold the process's file descriptors:
//! at most [`Limits::max_connections`] connections at once (one more is closed at once),
//! headers must arrive within [`Limits::header_read_timeout`], and a connection lives at
//! most [`Limits::max_connection_life`]. A scrape takes milliseconds; these limits only
//! stop clients that hold connections open.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use homechoice_tickets::SyncWorker;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::sync::Semaphore;

/// The content type of the OpenMetrics text format `prometheus-client` writes.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How much a client of the listener may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Connections served at once; one more is closed without an answer.
    pub(crate) max_connections: usize,
    /// Time a client has to send a request's headers.
    pub(crate) header_read_timeout: Duration,
    /// Time a connection may stay open, however busy.
    pub(crate) max_connection_life: Duration,
}

impl Default for Limits {
    /// 64 connections (a few scrapers and probes need a handful), 5 s for headers, 60 s a
    /// connection.
    fn default() -> Self {
        Limits {
            max_connections: 64,
            header_read_timeout: Duration::from_secs(5),
            max_connection_life: Duration::from_secs(60),
        }
    }
}

async fn metrics(State(worker): State<Arc<dyn SyncWorker>>) -> Response {
    match worker.metrics_text().await {
        Ok(text) => ([(header::CONTENT_TYPE, OPENMETRICS)], text).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("cannot read the metrics: {e}\n"),
        )
            .into_response(),
    }
}

/// `ok` while the worker can do its work; otherwise 503 and why (e.g. its store's file
/// was deleted or replaced).
async fn healthz(State(worker): State<Arc<dyn SyncWorker>>) -> Response {
    match worker.health().await {
        Ok(()) => "ok\n".into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ok: {}\n", crate::output::one_line(&e.to_string())),
        )
            .into_response(),
    }
}

/// Serves until the task is aborted.
pub(crate) async fn serve(listener: tokio::net::TcpListener, worker: Arc<dyn SyncWorker>) {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .with_state(worker);
    serve_bounded(listener, app, Limits::default()).await;
}

/// Serves `app` on `listener` within `limits`, until the task is aborted.
async fn serve_bounded(listener: tokio::net::TcpListener, app: Router, limits: Limits) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors or a reset before accept: wait a moment, keep serving.
                tracing::warn!(error = %e, "the metrics server could not accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Over the cap: closed at once (dropped), so a flood costs no descriptor for long.
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            continue;
        };
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .serve_connection(TokioIo::new(stream), service);
            // Errors here are a client's (a reset, a timeout); nothing to report.
            let _ = tokio::time::timeout(limits.max_connection_life, conn).await;
            drop(slot);
            Ok::<(), Infallible>(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpStream;

    /// Sends a whole request and reads the whole answer.
    async fn healthz_answer(addr: std::net::SocketAddr) -> String {
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), c.read_to_string(&mut answer)).await;
        answer
    }

    /// Reads until the server closes the connection; how long that took.
    async fn time_to_close(c: &mut TcpStream, within: Duration) -> Option<Duration> {
        let start = tokio::time::Instant::now();
        let mut buf = [0u8; 256];
        loop {
            match tokio::time::timeout_at(start + within, c.read(&mut buf)).await {
                Err(_) => return None,
                Ok(Ok(0) | Err(_)) => return Some(start.elapsed()),
                Ok(Ok(_)) => {}
            }
        }
    }

    #[tokio::test]
    async fn slow_clients_are_capped_and_timed_out() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let limits = Limits {
            max_connections: 2,
            header_read_timeout: Duration::from_millis(300),
            max_connection_life: Duration::from_secs(30),
        };
        let app = Router::new().route("/healthz", get(|| async { "ok\n" }));
        let server = tokio::spawn(serve_bounded(listener, app, limits));
        assert!(healthz_answer(addr).await.contains("ok"));

        // Two slow clients: half a request line each, then nothing.
        let mut slow = Vec::new();
        for _ in 0..2 {
            let mut c = TcpStream::connect(addr).await.unwrap();
            c.write_all(b"GET /heal").await.unwrap();
            slow.push(c);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        // A third is over the cap: closed at once, without an answer.
        let mut third = TcpStream::connect(addr).await.unwrap();
        let _ = third
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await;
        let closed = time_to_close(&mut third, Duration::from_millis(200)).await;
        assert!(closed.is_some(), "a connection over the cap was served");
        // The slow ones are closed when their headers are late, freeing the slots.
        for c in &mut slow {
            let closed = time_to_close(c, Duration::from_secs(3)).await;
            assert!(
                closed.is_some_and(|t| t < Duration::from_secs(2)),
                "a client that sends no headers was kept: {closed:?}"
            );
        }
        assert!(healthz_answer(addr).await.contains("ok"));
        server.abort();
    }
}
