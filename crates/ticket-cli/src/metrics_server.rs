//! The HTTP side of `ticket sync run --metrics-addr`: `/metrics` (the worker's metrics in
//! the Prometheus/OpenMetrics text format, encoded by the provider's metrics crate) and
//! `/healthz`. axum, because the workspace already builds it (the local Asana server uses
//! it) and it is a well-kept server on the same tokio runtime.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use homechoice_tickets::SyncWorker;

/// The content type of the OpenMetrics text format `prometheus-client` writes.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

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

async fn healthz() -> &'static str {
    "ok\n"
}

/// Serves until the task is aborted.
pub(crate) async fn serve(listener: tokio::net::TcpListener, worker: Arc<dyn SyncWorker>) {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .with_state(worker);
    if let Err(e) = axum::serve(listener, app).await {
        tracing::warn!(error = %e, "the metrics server stopped");
    }
}
