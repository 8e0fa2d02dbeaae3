//! `GET /api/v1/persistence`: the durable store as an operator checks
//! it: on or off, where, how it flushes, whether the disk takes its
//! writes (and since when it does not), what it holds and what it wrote.
//! With `persistence = off` the answer says so (`"state": "off"`), as a
//! setting, not an error.

use std::sync::Arc;

use axum::extract::State;
use serde_json::{json, Value};

use super::api::{ok, AdminState, Reply};
use super::time::rfc3339;
use crate::persist::Store;

pub async fn show(State(state): State<Arc<AdminState>>) -> Reply {
    ok(status(state.broker.store.as_deref()))
}

/// The store's status, or `{"enabled": false, "state": "off"}`.
pub fn status(store: Option<&Store>) -> Value {
    let Some(store) = store else {
        return json!({ "enabled": false, "state": "off" });
    };
    let s = store.stats().snapshot();
    let report = store.report();
    json!({
        "enabled": true,
        "dir": store.dir().display().to_string(),
        "sync": store.sync().as_str(),
        "state": if s.failing_since_ms.is_some() { "refusing_writes" } else { "ok" },
        "refusing_writes_since": s.failing_since_ms.map(rfc3339),
        "last_error": s.last_error.as_ref().map(|(_, text)| text.clone()),
        "last_error_at": s.last_error.as_ref().map(|(at, _)| rfc3339(*at)),
        "log_bytes": s.log_bytes,
        "log_records": s.log_records,
        "sessions": s.sessions,
        "queued_messages": s.deliveries,
        "retained_messages": s.retained,
        "message_bodies": s.messages,
        "batches_written": s.batches,
        "records_written": s.records_written,
        "syncs": s.fsyncs,
        "compactions": s.compactions,
        "last_compaction_at": s.last_compaction.map(|(at, _)| rfc3339(at)),
        "last_compaction_ms": s.last_compaction.map(|(_, took)| took),
        "write_errors": s.write_errors,
        "records_waiting": s.records_waiting,
        "records_not_stored": s.records_not_stored,
        "deliveries_never_written": s.struck,
        "recovered_records": report.records,
        "recovered_lost_bytes": report.lost_bytes,
    })
}
