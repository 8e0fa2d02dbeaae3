//! The admin API's routes, all JSON:
//!
//! | method | path | does |
//! |---|---|---|
//! | GET | `/api/v1/status` | node, version, uptime, clients |
//! | GET | `/api/v1/plugins` | every plugin: name, version, state, hooks, events, errors, last errors, stats |
//! | POST | `/api/v1/plugins/NAME/load` | enable NAME (overrides its config file until unload) |
//! | POST | `/api/v1/plugins/NAME/unload` | disable NAME (drains it) |
//! | POST | `/api/v1/plugins/NAME/reload` | a fresh instance of NAME with its current library and config |

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde_json::json;
use tokio::net::TcpListener;

use super::http::{read_request, write_response, Request, Response};
use crate::broker::Broker;
use crate::plugins::PluginManager;

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

async fn route(request: Request, broker: &Broker, plugins: &Arc<PluginManager>) -> Response {
    let parts: Vec<&str> = request.path.trim_matches('/').split('/').collect();
    match (request.method.as_str(), parts.as_slice()) {
        ("GET", ["api", "v1", "status"]) => Response {
            status: 200,
            body: json!({
                "node": broker.node_name(),
                "version": env!("CARGO_PKG_VERSION"),
                "uptime": broker.uptime_secs(),
                "clients_connected": broker.metrics.clients_connected.load(Ordering::Relaxed),
                "sessions": broker.metrics.sessions.load(Ordering::Relaxed),
            })
            .to_string(),
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
                Ok(Some(Err(message))) => error(409, &message),
                Ok(None) => error(404, "unknown action: use load, unload or reload"),
                Err(_) => error(500, "the plugin action failed"),
            }
        }
        (
            _,
            ["api", "v1", "status"] | ["api", "v1", "plugins"] | ["api", "v1", "plugins", _, _],
        ) => error(405, "method not allowed"),
        _ => error(404, "not found"),
    }
}
