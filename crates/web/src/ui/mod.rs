//! The browser UI served at `/` (assets compiled into the binary) and graphite-web's saved
//! dashboard endpoints (`/dashboard/save|load|delete/<name>`, `/dashboard/find`).

pub mod dashboards;

use crate::server::App;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use std::sync::Arc;

const INDEX: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");

/// The UI and dashboard routes, merged into the web role's router.
pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/", get(index))
        .route("/ui/", get(index))
        .route("/ui/{file}", get(asset))
        .route("/dashboard/save/{name}", any(save))
        .route("/dashboard/load/{name}", any(load))
        .route("/dashboard/delete/{name}", any(delete))
        .route("/dashboard/find", any(find))
        .route("/dashboard/find/", any(find))
}

fn page(content_type: &'static str, body: &'static str) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type),
            // everything is served from here: refuse anything external
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; connect-src 'self'",
            ),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn index() -> Response {
    page("text/html; charset=utf-8", INDEX)
}

async fn asset(Path(file): Path<String>) -> Response {
    match file.as_str() {
        "app.js" => page("text/javascript; charset=utf-8", APP_JS),
        "app.css" => page("text/css; charset=utf-8", APP_CSS),
        _ => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

fn json(v: serde_json::Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

fn store(app: &App) -> Option<dashboards::Store> {
    app.cfg
        .local_data_dir
        .as_deref()
        .map(dashboards::Store::new)
}

fn no_store() -> Response {
    json(serde_json::json!({
        "error": "dashboards need a local_data_dir on this web node"
    }))
}

fn reply(r: Result<serde_json::Value, dashboards::DashboardError>) -> Response {
    match r {
        Ok(v) => json(v),
        // graphite-web answers its dashboard errors as 200 with an error field
        Err(e) => json(serde_json::json!({ "error": e.to_string() })),
    }
}

async fn save(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = crate::server::request_params(&uri, &headers, &body);
    let Some(st) = store(&app) else {
        return no_store();
    };
    let Some(state) = params.get("state") else {
        return (StatusCode::BAD_REQUEST, "missing parameter 'state'").into_response();
    };
    reply(
        st.save(&name, state)
            .map(|_| serde_json::json!({ "success": true })),
    )
}

async fn load(State(app): State<Arc<App>>, Path(name): Path<String>) -> Response {
    match store(&app) {
        Some(st) => reply(st.load(&name).map(|s| serde_json::json!({ "state": s }))),
        None => no_store(),
    }
}

async fn delete(State(app): State<Arc<App>>, Path(name): Path<String>) -> Response {
    match store(&app) {
        Some(st) => reply(
            st.delete(&name)
                .map(|_| serde_json::json!({ "success": true })),
        ),
        None => no_store(),
    }
}

async fn find(State(app): State<Arc<App>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let params = crate::server::request_params(&uri, &headers, &body);
    match store(&app) {
        Some(st) => reply(st.find(params.get("query").unwrap_or("")).map(|names| {
            let list: Vec<_> = names
                .into_iter()
                .map(|n| serde_json::json!({ "name": n }))
                .collect();
            serde_json::json!({ "dashboards": list })
        })),
        None => no_store(),
    }
}
