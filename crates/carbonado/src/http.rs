//! The cache role's small HTTP listener: `/metrics` (self-metrics as text) and `/health`.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use cache::Cache;
use ingest::IngestStats;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::selfmetrics::Reporter;

#[derive(Clone)]
struct App {
    prefix: Arc<str>,
    ingest: Arc<IngestStats>,
    cache: Arc<Cache>,
}

async fn metrics(State(app): State<App>) -> String {
    Reporter::text(&app.prefix, &app.ingest, &app.cache)
}

/// Serves until `stop` is set.
pub async fn serve(
    listener: TcpListener,
    prefix: String,
    ingest: Arc<IngestStats>,
    cache: Arc<Cache>,
    mut stop: watch::Receiver<bool>,
) {
    let app = App {
        prefix: prefix.into(),
        ingest,
        cache,
    };
    let router = Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(|| async { "ok\n" }))
        .with_state(app);
    let shutdown = async move {
        let _ = stop.changed().await;
    };
    if let Err(e) = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!(error = %e, "http listener failed");
    }
}
