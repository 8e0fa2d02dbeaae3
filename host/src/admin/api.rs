//! The admin API's routes, all JSON but `/metrics` (described in
//! `docs/openapi.yaml`):
//!
//! | method | path | does |
//! |---|---|---|
//! | GET | `/api/v1/status` | node, version, uptime, clients, sessions, what limits refused |
//! | GET | `/api/v1/clients` | connected clients, paged, filtered ([`clients`](super::clients)) |
//! | GET, DELETE | `/api/v1/clients/ID` | one client's session; kick: 5.0 DISCONNECT 0x98 (Administrative action), then close |
//! | GET | `/api/v1/clients/ID/subscriptions` | its subscriptions with their options |
//! | POST | `/api/v1/clients/ID/subscribe`, `.../unsubscribe` | `{"topic", "qos"}`, `{"topic"}` |
//! | GET | `/api/v1/sessions` | every session, connected or not |
//! | GET | `/api/v1/retained` | retained messages, paged, by topic filter ([`retained`](super::retained)) |
//! | GET, DELETE | `/api/v1/retained/TOPIC` | one, with its payload; its removal |
//! | POST | `/api/v1/publish` | a message published from no client |
//! | GET | `/api/v1/plugins` | every plugin: name, version, state, hooks, events, errors, last errors, stats |
//! | POST | `/api/v1/plugins/NAME/load` | enable NAME (overrides its config file until unload) |
//! | POST | `/api/v1/plugins/NAME/unload` | disable NAME (drains it) |
//! | POST | `/api/v1/plugins/NAME/reload` | a fresh instance of NAME with its current library and config |
//! | GET, PUT | `/api/v1/plugins/NAME/config` | its configuration file; a new one, checked first ([`plugin_config`](super::plugin_config)) |
//! | POST | `/api/v1/plugins/NAME/config/validate` | the plugin's check of a text, nothing applied |
//! | GET | `/api/v1/listeners` | listeners, connections, refusals ([`info`](super::info)) |
//! | GET | `/api/v1/cluster` | the cluster as this node sees it: the `cluster` plugin's stats; 404 when it does not run |
//! | GET | `/api/v1/persistence` | the durable store: on or off, directory, sync mode, state, size, what it holds and wrote, refused writes ([`persistence`](super::persistence)) |
//! | GET | `/api/v1/config` | the effective configuration, secrets redacted |
//! | POST | `/api/v1/login` | `{"username", "password"}` of an admin: a session cookie |
//! | POST | `/api/v1/logout` | ends the session of the cookie sent |
//! | GET | `/metrics` | every figure in the Prometheus text format (`docs/metrics.md`) |
//!
//! Every route but the login needs the token or a session, and every
//! request passes [`guard`](super::guard) first. Errors are `{"error":
//! "..."}` with their status.
//!
//! A plugin action on a name no library declares answers 404; one whose
//! plugin would not start answers 409. Kicking answers 204, or 404 when no
//! client with that id is connected. A client id, a plugin name or a
//! topic in the path is percent-encoded (EMQX's paths and answers).

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_TYPE, SET_COOKIE};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{middleware, Extension, Json, Router};
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use super::admins;
use super::body::BODY_TIMEOUT;
use super::guard::{self, session_id, Hosts, MAX_BODY};
use super::path::percent_decode;
use super::sessions::{clear_cookie, set_cookie, Sessions, SESSION_TTL};
use super::token::Token;
use super::{clients, info, persistence, plugin_config, retained};
use crate::broker::{Broker, KickError};
use crate::escape::escaped;
use crate::listen::ListenerStatus;
use crate::plugins::{ActionError, PluginManager};

/// The login's path: the one route open without authentication.
pub const LOGIN_PATH: &str = "/api/v1/login";
/// Password checks at once: each is some 100 ms of a core.
const LOGINS_AT_ONCE: usize = 2;

/// Who made a request, once [`guard`] has let it in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The bearer token (`mqhost ctl`, scripts).
    Token,
    /// A logged-in admin.
    Admin(String),
}

impl std::fmt::Display for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Caller::Token => f.write_str("token"),
            Caller::Admin(name) => write!(f, "admin {}", escaped(name)),
        }
    }
}

/// What the routes and the guard share.
pub struct AdminState {
    pub broker: Arc<Broker>,
    pub plugins: Arc<PluginManager>,
    pub token: Token,
    /// The admin users' file (`admins` beside the token file).
    pub admins_file: PathBuf,
    pub sessions: Sessions,
    pub hosts: Hosts,
    /// Whether the API speaks TLS: the cookie is then `Secure`.
    pub tls: bool,
    /// The MQTT listeners bound.
    pub listeners: Vec<Arc<ListenerStatus>>,
    logins: Semaphore,
}

impl AdminState {
    pub fn new(
        broker: Arc<Broker>,
        plugins: Arc<PluginManager>,
        token: Token,
        admins_file: PathBuf,
        hosts: Hosts,
        tls: bool,
        listeners: Vec<Arc<ListenerStatus>>,
    ) -> Arc<AdminState> {
        Arc::new(AdminState {
            broker,
            plugins,
            token,
            admins_file,
            sessions: Sessions::default(),
            hosts,
            tls,
            listeners,
            logins: Semaphore::new(LOGINS_AT_ONCE),
        })
    }
}

/// A status and a JSON body (none for 204).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Option<Value>,
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        match self.body {
            Some(body) => (status, Json(body)).into_response(),
            None => status.into_response(),
        }
    }
}

pub(super) fn ok(body: Value) -> Reply {
    Reply {
        status: 200,
        body: Some(body),
    }
}

/// An error: `{"error": message}`.
pub fn error(status: u16, message: &str) -> Reply {
    Reply {
        status,
        body: Some(json!({ "error": message })),
    }
}

/// The API's routes behind the guard.
pub fn router(state: Arc<AdminState>) -> Router {
    Router::new()
        .route("/api/v1/status", get(status))
        .route("/api/v1/clients", get(clients::list_clients))
        .route(
            "/api/v1/clients/{id}",
            get(clients::show_client).delete(kick_client),
        )
        .route(
            "/api/v1/clients/{id}/subscriptions",
            get(clients::list_subscriptions),
        )
        .route("/api/v1/clients/{id}/subscribe", post(clients::subscribe))
        .route(
            "/api/v1/clients/{id}/unsubscribe",
            post(clients::unsubscribe),
        )
        .route("/api/v1/sessions", get(clients::list_sessions))
        .route("/api/v1/retained", get(retained::list))
        .route(
            "/api/v1/retained/{*topic}",
            get(retained::show).delete(retained::delete),
        )
        .route("/api/v1/publish", post(retained::publish))
        .route("/api/v1/plugins", get(list_plugins))
        .route("/api/v1/plugins/{name}/{action}", post(plugin_action))
        .route(
            "/api/v1/plugins/{name}/config",
            get(plugin_config::show).put(plugin_config::write),
        )
        .route(
            "/api/v1/plugins/{name}/config/validate",
            post(plugin_config::validate),
        )
        .route("/api/v1/listeners", get(info::listeners))
        .route("/api/v1/cluster", get(cluster))
        .route("/api/v1/persistence", get(persistence::show))
        .route("/api/v1/config", get(info::config))
        .route(LOGIN_PATH, post(login))
        .route("/api/v1/logout", post(logout))
        .route("/metrics", get(metrics))
        .fallback(|| async { error(404, "not found") })
        .method_not_allowed_fallback(|| async { error(405, "method not allowed") })
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            guard::check,
        ))
        .with_state(state)
}

/// The last `n` segments of the request's path, decoded strictly (axum's
/// own decoding would let a broken `%` escape through as it is).
pub(super) fn last_segments(uri: &Uri, n: usize) -> Option<Vec<String>> {
    let segments: Vec<&str> = uri.path().split('/').collect();
    let start = segments.len().checked_sub(n)?;
    segments[start..]
        .iter()
        .map(|segment| percent_decode(segment))
        .collect()
}

async fn status(State(state): State<Arc<AdminState>>) -> Reply {
    ok(broker_status(&state.broker))
}

/// The Prometheus scrape: read off the broker's threads, since it asks
/// each plugin for its stats.
async fn metrics(State(state): State<Arc<AdminState>>) -> Response {
    let broker = Arc::clone(&state.broker);
    let plugins = Arc::clone(&state.plugins);
    let text =
        tokio::task::spawn_blocking(move || crate::metrics::render(broker, plugins.instances()))
            .await;
    match text {
        Ok(text) => ([(CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response(),
        Err(_) => error(500, "rendering the metrics failed").into_response(),
    }
}

/// The cluster as this node sees it: what the plugin named `cluster`
/// says of it (its stats), read off the broker's threads.
async fn cluster(State(state): State<Arc<AdminState>>) -> Reply {
    let plugins = Arc::clone(&state.plugins);
    let stats = tokio::task::spawn_blocking(move || {
        plugins
            .instances()
            .into_iter()
            .find(|(name, _)| name == CLUSTER_PLUGIN)
            .map(|(_, instance)| instance.stats())
    })
    .await;
    match stats {
        Ok(Some(text)) => match serde_json::from_str::<Value>(&text) {
            Ok(body @ Value::Object(_)) => ok(body),
            _ => error(502, "the cluster plugin's figures are not a JSON object"),
        },
        Ok(None) => error(404, "the cluster plugin does not run on this node"),
        Err(_) => error(500, "reading the cluster's figures failed"),
    }
}

/// The plugin whose figures `GET /api/v1/cluster` shows.
const CLUSTER_PLUGIN: &str = "cluster";

async fn list_plugins(State(state): State<Arc<AdminState>>) -> Reply {
    let plugins = Arc::clone(&state.plugins);
    match tokio::task::spawn_blocking(move || plugins.list()).await {
        Ok(list) => ok(json!({ "plugins": list })),
        Err(_) => error(500, "listing plugins failed"),
    }
}

async fn plugin_action(
    State(state): State<Arc<AdminState>>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
) -> Reply {
    let Some([name, action]) = last_segments(&uri, 2).and_then(|s| <[String; 2]>::try_from(s).ok())
    else {
        return error(400, "a path segment is not valid percent-encoded UTF-8");
    };
    act(&state.plugins, name, action, &caller).await
}

/// Loads, unloads or reloads plugin `name`.
async fn act(plugins: &Arc<PluginManager>, name: String, action: String, caller: &Caller) -> Reply {
    let plugins = Arc::clone(plugins);
    let (what, who) = (action.clone(), name.clone());
    let outcome = tokio::task::spawn_blocking(move || match action.as_str() {
        "load" => Some(plugins.load(&name)),
        "unload" => Some(plugins.unload(&name)),
        "reload" => Some(plugins.reload(&name)),
        _ => None,
    })
    .await;
    match outcome {
        Ok(Some(Ok(()))) => {
            tracing::info!(plugin = %escaped(&who), by = %caller, "plugin {what} through the admin API");
            ok(json!({ "ok": true }))
        }
        Ok(Some(Err(e))) => error(action_error_status(&e), &e.to_string()),
        Ok(None) => error(404, "unknown action: use load, unload or reload"),
        Err(_) => error(500, "the plugin action failed"),
    }
}

async fn kick_client(
    State(state): State<Arc<AdminState>>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
) -> Reply {
    match last_segments(&uri, 1).as_deref() {
        Some([client_id]) => kick(&state.broker, client_id, &caller),
        _ => error(400, "the client id is not valid percent-encoded UTF-8"),
    }
}

/// The login: `{"username", "password"}` of an admin, answered with a
/// session cookie.
async fn login(State(state): State<Arc<AdminState>>, request: Request) -> Response {
    let body = request.into_body();
    let bytes = match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, MAX_BODY)).await
    {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => return error(400, "unreadable body, or larger than 64 KiB").into_response(),
        Err(_) => return error(408, "the request body took too long").into_response(),
    };
    let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let (Some(user), Some(password)) = (value["username"].as_str(), value["password"].as_str())
    else {
        return error(400, r#"expected JSON {"username": ..., "password": ...}"#).into_response();
    };
    let (user, password) = (user.to_owned(), password.to_owned());
    let Ok(_permit) = state.logins.acquire().await else {
        return error(503, "logins are closed").into_response();
    };
    let file = state.admins_file.clone();
    let name = user.clone();
    let checked =
        tokio::task::spawn_blocking(move || admins::check(&file, &name, password.as_bytes())).await;
    match checked {
        Ok(Ok(true)) => {}
        Ok(Ok(false)) => {
            tracing::warn!(user = %escaped(&user), "admin login refused: wrong user name or password");
            return error(401, "wrong user name or password").into_response();
        }
        Ok(Err(why)) => {
            tracing::error!("admin login refused: the admins file cannot be used: {why}");
            return error(401, "wrong user name or password").into_response();
        }
        Err(_) => return error(500, "the login failed").into_response(),
    }
    let id = match state.sessions.open(&user) {
        Ok(id) => id,
        Err(e) => return error(500, &format!("cannot make a session: {e}")).into_response(),
    };
    tracing::info!(user = %escaped(&user), "admin logged in");
    let cookie = set_cookie(&id, SESSION_TTL, state.tls);
    let mut response = ok(json!({ "ok": true, "username": user })).into_response();
    if let Ok(value) = cookie.parse() {
        response.headers_mut().insert(SET_COOKIE, value);
    }
    response
}

/// Ends the session of the cookie sent, if any, and has the browser
/// forget it.
async fn logout(State(state): State<Arc<AdminState>>, headers: HeaderMap) -> Response {
    if let Some(id) = session_id(&headers) {
        state.sessions.close(id);
    }
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    if let Ok(value) = clear_cookie(state.tls).parse() {
        response.headers_mut().insert(SET_COOKIE, value);
    }
    response
}

/// An unknown plugin is not found; a known one that would not start
/// conflicts with its library or configuration.
pub(super) fn action_error_status(error: &ActionError) -> u16 {
    match error {
        ActionError::UnknownPlugin { .. } => 404,
        ActionError::NotStarted { .. } => 409,
    }
}

/// Ends a client's connection as an administrator: 5.0 clients are told
/// 0x98, Administrative action.
fn kick(broker: &Broker, client_id: &str, caller: &Caller) -> Reply {
    match broker.kick(client_id, mqhost_codec::reason::ADMINISTRATIVE_ACTION) {
        Ok(()) => {
            tracing::info!(client_id = %escaped(client_id), by = %caller, "client kicked through the admin API");
            Reply {
                status: 204,
                body: None,
            }
        }
        Err(KickError::NotConnected) => {
            error(404, &format!("no client connected with id {client_id:?}"))
        }
        // 0x98 is a server's reason code; this cannot happen.
        Err(KickError::InvalidReason) => error(500, "refused reason code"),
    }
}

/// The broker's status: who it is, its clients, and what its limits
/// refused, each counter named as under `$SYS` with `_` for `/`
/// (`packets/too_large` is `packets_too_large`).
fn broker_status(broker: &Broker) -> Value {
    let mut status = json!({
        "node": broker.node_name(),
        "version": env!("CARGO_PKG_VERSION"),
        "uptime": broker.uptime_secs(),
        "clients_connected": broker.metrics.clients_connected.load(Ordering::Relaxed),
        "sessions": broker.metrics.sessions.load(Ordering::Relaxed),
    });
    if let Some(fields) = status.as_object_mut() {
        for (name, value) in broker.metrics.limits() {
            fields.insert(name.replace('/', "_"), value.into());
        }
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HostConfig;

    use crate::test_support::TestDir;

    /// A broker without clients and a plugin manager without plugins,
    /// their directories in `dir`.
    fn empty_host(dir: &TestDir) -> (Arc<Broker>, Arc<PluginManager>) {
        let mut config = HostConfig::default();
        config.plugins.dir = dir.path().join("plugins");
        config.plugins.etc_dir = dir.path().join("etc");
        let broker = Broker::new(config);
        let plugins = PluginManager::new(Arc::clone(&broker), dir.path().join("private"));
        (broker, plugins)
    }

    #[tokio::test]
    async fn an_action_on_an_unknown_plugin_is_not_found() {
        let dir = TestDir::new("unknown");
        let (_broker, plugins) = empty_host(&dir);
        for action in ["load", "unload", "reload", "bogus"] {
            let reply = act(&plugins, "nosuch".into(), action.into(), &Caller::Token).await;
            assert_eq!(reply.status, 404, "{action}: {:?}", reply.body);
        }
        let reply = act(&plugins, "nosuch".into(), "load".into(), &Caller::Token).await;
        let body = reply.body.unwrap().to_string();
        assert!(
            body.contains("no plugin library named nosuch in "),
            "{body}"
        );
    }

    #[tokio::test]
    async fn kicking_an_unknown_client_is_not_found() {
        let dir = TestDir::new("kick");
        let (broker, _plugins) = empty_host(&dir);
        let reply = kick(&broker, "a/b c", &Caller::Admin("alice".into()));
        assert_eq!(reply.status, 404, "{:?}", reply.body);
        let body = reply.body.unwrap().to_string();
        assert!(
            body.contains(r#"no client connected with id \"a/b c\""#),
            "{body}"
        );
    }

    #[test]
    fn a_plugin_that_would_not_start_is_a_conflict() {
        let error = ActionError::NotStarted {
            name: "probe".into(),
            reason: "probe.conf:1: bad".into(),
        };
        assert_eq!(action_error_status(&error), 409);
        assert_eq!(
            error.to_string(),
            "plugin probe did not start: probe.conf:1: bad"
        );
    }
}
