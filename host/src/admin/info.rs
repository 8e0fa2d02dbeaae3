//! What the broker is running with:
//!
//! - `GET /api/v1/listeners`: each listener bound, its connections and
//!   what it turned away;
//! - `GET /api/v1/config`: the effective configuration, key by key as
//!   written (defaults, file, `--set`), relative paths resolved and
//!   secrets redacted.

use std::sync::Arc;

use axum::extract::State;
use serde_json::{json, Value};

use super::api::{ok, AdminState, Reply};
use crate::listen::ListenerStatus;

fn listener_json(listener: &ListenerStatus) -> Value {
    let spec = &listener.spec;
    json!({
        "id": format!("{}:{}", spec.transport.as_str(), spec.name),
        "name": spec.name,
        "type": spec.transport.as_str(),
        "bind": listener.addr.to_string(),
        "running": true,
        "current_connections": listener.open(),
        "max_connections": listener.max(),
        "max_conn_rate": spec.max_conn_rate.map(|rate| rate.get()),
        "accepted": listener.accepted(),
        "refused_over_limit": listener.refused_over_limit(),
        "refused_over_rate": listener.refused_over_rate(),
        "tls": spec.transport.tls(),
        "mqtt_path": spec.transport.websocket().then(|| spec.mqtt_path.clone()),
    })
}

pub async fn listeners(State(state): State<Arc<AdminState>>) -> Reply {
    let data: Vec<Value> = state.listeners.iter().map(|l| listener_json(l)).collect();
    ok(Value::Array(data))
}

pub async fn config(State(state): State<Arc<AdminState>>) -> Reply {
    let effective = state.broker.config.effective();
    ok(json!(effective))
}
