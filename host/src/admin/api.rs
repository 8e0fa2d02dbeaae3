//! The admin API's routes, all JSON:
//!
//! | method | path | does |
//! |---|---|---|
//! | GET | `/api/v1/status` | node, version, uptime, clients, sessions, what limits refused |
//! | GET | `/api/v1/plugins` | every plugin: name, version, state, hooks, events, errors, last errors, stats |
//! | POST | `/api/v1/plugins/NAME/load` | enable NAME (overrides its config file until unload) |
//! | POST | `/api/v1/plugins/NAME/unload` | disable NAME (drains it) |
//! | POST | `/api/v1/plugins/NAME/reload` | a fresh instance of NAME with its current library and config |
//! | DELETE | `/api/v1/clients/ID` | kick client ID: 5.0 DISCONNECT 0x98 (Administrative action), then close |
//!
//! A plugin action on a name no library declares answers 404; one whose
//! plugin would not start answers 409. Kicking answers 204, or 404 when no
//! client with that id is connected; ID is percent-encoded (EMQX's path
//! and answers).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde_json::json;
use tokio::net::TcpListener;

use super::http::{percent_decode, read_request, write_response, Request, Response};
use crate::broker::{Broker, KickError};
use crate::escape::escaped;
use crate::plugins::{ActionError, PluginManager};

/// Binds the admin listener and logs the address bound.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind(addr).await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot listen on {addr} (admin.listener): {e}"),
        )
    })?;
    tracing::info!("admin listener bound to {}", listener.local_addr()?);
    Ok(listener)
}

/// Serves requests forever.
pub async fn serve(listener: TcpListener, broker: Arc<Broker>, plugins: Arc<PluginManager>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let broker = Arc::clone(&broker);
        let plugins = Arc::clone(&plugins);
        tokio::spawn(async move {
            let response = match read_request(&mut stream).await {
                Some(request) => route(request, &broker, &plugins).await,
                None => error(400, "malformed request"),
            };
            write_response(&mut stream, &response).await;
        });
    }
}

fn error(status: u16, message: &str) -> Response {
    Response {
        status,
        body: json!({ "error": message }).to_string(),
    }
}

/// An unknown plugin is not found; a known one that would not start
/// conflicts with its library or configuration.
fn action_error_status(error: &ActionError) -> u16 {
    match error {
        ActionError::UnknownPlugin { .. } => 404,
        ActionError::NotStarted { .. } => 409,
    }
}

/// Ends a client's connection as an administrator: 5.0 clients are told
/// 0x98, Administrative action.
fn kick(broker: &Broker, encoded_id: &str) -> Response {
    let Some(client_id) = percent_decode(encoded_id) else {
        return error(400, "the client id is not valid percent-encoded UTF-8");
    };
    match broker.kick(&client_id, mqhost_codec::reason::ADMINISTRATIVE_ACTION) {
        Ok(()) => {
            tracing::info!(client_id = %escaped(&client_id), "client kicked through the admin API");
            Response {
                status: 204,
                body: String::new(),
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
fn status(broker: &Broker) -> serde_json::Value {
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

async fn route(request: Request, broker: &Broker, plugins: &Arc<PluginManager>) -> Response {
    // The query, if any, is not part of the path (none of the routes
    // takes one).
    let path = request.path.split('?').next().unwrap_or_default();
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (request.method.as_str(), parts.as_slice()) {
        ("GET", ["api", "v1", "status"]) => Response {
            status: 200,
            body: status(broker).to_string(),
        },
        ("GET", ["api", "v1", "plugins"]) => {
            let plugins = Arc::clone(plugins);
            match tokio::task::spawn_blocking(move || plugins.list()).await {
                Ok(list) => Response {
                    status: 200,
                    body: json!({ "plugins": list }).to_string(),
                },
                Err(_) => error(500, "listing plugins failed"),
            }
        }
        ("POST", ["api", "v1", "plugins", name, action]) => {
            let name = (*name).to_owned();
            let action = (*action).to_owned();
            let plugins = Arc::clone(plugins);
            let outcome = tokio::task::spawn_blocking(move || match action.as_str() {
                "load" => Some(plugins.load(&name)),
                "unload" => Some(plugins.unload(&name)),
                "reload" => Some(plugins.reload(&name)),
                _ => None,
            })
            .await;
            match outcome {
                Ok(Some(Ok(()))) => Response {
                    status: 200,
                    body: json!({ "ok": true }).to_string(),
                },
                Ok(Some(Err(e))) => error(action_error_status(&e), &e.to_string()),
                Ok(None) => error(404, "unknown action: use load, unload or reload"),
                Err(_) => error(500, "the plugin action failed"),
            }
        }
        ("DELETE", ["api", "v1", "clients", client_id]) => kick(broker, client_id),
        (
            _,
            ["api", "v1", "status"]
            | ["api", "v1", "plugins"]
            | ["api", "v1", "plugins", _, _]
            | ["api", "v1", "clients", _],
        ) => error(405, "method not allowed"),
        _ => error(404, "not found"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HostConfig;

    /// A scratch directory under the system temp dir, removed when dropped.
    struct TempDir(std::path::PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let dir =
                std::env::temp_dir().join(format!("mqhost-api-{}-{name}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A broker without clients and a plugin manager without plugins,
    /// their directories in `dir`.
    fn empty_host(dir: &TempDir) -> (Arc<Broker>, Arc<PluginManager>) {
        let mut config = HostConfig::default();
        config.plugins.dir = dir.0.join("plugins");
        config.plugins.etc_dir = dir.0.join("etc");
        let broker = Broker::new(config);
        let plugins = PluginManager::new(Arc::clone(&broker), dir.0.join("private"));
        (broker, plugins)
    }

    #[tokio::test]
    async fn an_action_on_an_unknown_plugin_is_not_found() {
        let dir = TempDir::new("unknown");
        let (broker, plugins) = empty_host(&dir);
        for action in ["load", "unload", "reload"] {
            let request = Request {
                method: "POST".into(),
                path: format!("/api/v1/plugins/nosuch/{action}"),
            };
            let response = route(request, &broker, &plugins).await;
            assert_eq!(response.status, 404, "{action}: {}", response.body);
            assert!(
                response.body.contains("no plugin library named nosuch in "),
                "{action}: {}",
                response.body
            );
        }
    }

    #[tokio::test]
    async fn kicking_an_unknown_or_badly_encoded_client_is_refused() {
        let dir = TempDir::new("kick");
        let (broker, plugins) = empty_host(&dir);
        let answer = |method: &str, path: &str| {
            let request = Request {
                method: method.into(),
                path: path.into(),
            };
            route(request, &broker, &plugins)
        };
        let response = answer("DELETE", "/api/v1/clients/a%2Fb%20c").await;
        assert_eq!(response.status, 404, "{}", response.body);
        assert!(
            response
                .body
                .contains(r#"no client connected with id \"a/b c\""#),
            "{}",
            response.body
        );
        let response = answer("DELETE", "/api/v1/clients/a%zz").await;
        assert_eq!(response.status, 400, "{}", response.body);
        let response = answer("GET", "/api/v1/clients/a").await;
        assert_eq!(response.status, 405, "{}", response.body);
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
