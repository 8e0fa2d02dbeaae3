//! The web dashboard: a page at `/` and its assets under `/assets/`,
//! hand-written HTML, CSS and JavaScript modules built into the binary
//! (no build step, nothing fetched from elsewhere, so it works offline).
//!
//! The page and its assets are public: they hold nothing but code, and
//! the login form is among them. Everything the page shows comes from the
//! API under `/api/`, which needs the login's session cookie as before.
//! The guard still checks their `Host` ([`is_public`] only lifts the
//! authentication step).
//!
//! Every answer here carries a strict Content-Security-Policy (scripts
//! from this origin only, no inline script or style, no framing,
//! connections to this origin and the broker's WebSocket listeners
//! only), and `nosniff`: a page that runs code against the API must not
//! run anyone else's.

mod assets;

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{middleware, Router};

use super::api::AdminState;
use super::guard;
use crate::listen::ListenerStatus;
use assets::Asset;

/// Where the assets are served.
const ASSETS_PREFIX: &str = "/assets/";

/// Whether `path` is the dashboard's page or one of its assets, which
/// need no authentication.
pub fn is_public(path: &str) -> bool {
    path == "/" || path.starts_with(ASSETS_PREFIX)
}

/// The dashboard's routes, behind the same guard as the API's.
pub fn router(state: Arc<AdminState>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/assets/{*name}", get(asset))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            guard::check,
        ))
        .with_state(state)
}

async fn index(State(state): State<Arc<AdminState>>, headers: HeaderMap) -> Response {
    let sockets = websocket_sources(&state.listeners);
    serve(assets::index(), &headers, &policy(&sockets))
}

/// What the page's MQTT client may connect to: the broker's WebSocket
/// listeners, by port, at whatever host the page reaches them by (a CSP
/// source cannot name an IPv6 address, and the page may use the name
/// it was opened by).
fn websocket_sources(listeners: &[Arc<ListenerStatus>]) -> Vec<String> {
    let mut sources: Vec<String> = listeners
        .iter()
        .filter(|l| l.spec.transport.websocket())
        .map(|l| {
            let scheme = if l.spec.transport.tls() { "wss" } else { "ws" };
            format!("{scheme}://*:{}", l.addr.port())
        })
        .collect();
    sources.sort();
    sources.dedup();
    sources
}

/// The files the page loads: their policy needs no connections (a
/// module runs under its page's).
async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let policy = policy(&[]);
    match assets::find(&name) {
        Some(asset) => serve(asset, &headers, &policy),
        None => {
            let mut response = (StatusCode::NOT_FOUND, "not found\n").into_response();
            secure(response.headers_mut(), &policy);
            response
        }
    }
}

/// The Content-Security-Policy of every answer: this origin's scripts,
/// styles and images only, no plugins, no frames, forms that post nowhere
/// else; `connect` adds the sources the page may open connections to
/// besides its own origin (the broker's WebSocket listeners).
fn policy(connect: &[String]) -> String {
    let mut connect_src = String::from("'self'");
    for source in connect {
        connect_src.push(' ');
        connect_src.push_str(source);
    }
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         connect-src {connect_src}; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
}

/// The headers that keep the page to itself.
fn secure(headers: &mut HeaderMap, policy: &str) {
    if let Ok(value) = HeaderValue::from_str(policy) {
        headers.insert(CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
}

/// An asset, or 304 when the browser's copy is current. Browsers ask
/// again each time (`no-cache`): an upgraded broker's page is never mixed
/// with an older one's modules.
fn serve(asset: &Asset, request: &HeaderMap, policy: &str) -> Response {
    let etag = asset.etag();
    let fresh = request
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| tag.trim() == etag);
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        asset.body.into_response()
    };
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(ETAG, value);
    }
    secure(headers, policy);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_page_and_its_assets_are_public() {
        for public in ["/", "/assets/app.js", "/assets/nosuch"] {
            assert!(is_public(public), "{public}");
        }
        for private in [
            "/api/v1/status",
            "/metrics",
            "/index.html",
            "/assets",
            "//assets/app.js",
            "",
        ] {
            assert!(!is_public(private), "{private}");
        }
    }

    #[test]
    fn the_policy_allows_this_origin_and_the_sources_given() {
        let plain = policy(&[]);
        assert!(plain.contains("script-src 'self';"), "{plain}");
        assert!(plain.contains("connect-src 'self';"), "{plain}");
        assert!(plain.contains("frame-ancestors 'none'"), "{plain}");
        assert!(!plain.contains("unsafe"), "{plain}");
        let ws = policy(&["ws://*:8083".to_owned()]);
        assert!(ws.contains("connect-src 'self' ws://*:8083;"), "{ws}");
    }

    #[test]
    fn a_current_copy_is_not_sent_again() {
        let asset = assets::find("app.js").expect("app.js is built in");
        let mut request = HeaderMap::new();
        let response = serve(asset, &request, &policy(&[]));
        assert_eq!(response.status(), StatusCode::OK);
        let etag = response.headers()[ETAG].clone();
        request.insert(IF_NONE_MATCH, etag);
        let response = serve(asset, &request, &policy(&[]));
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(
            response.headers()[X_CONTENT_TYPE_OPTIONS],
            HeaderValue::from_static("nosniff")
        );
    }
}
