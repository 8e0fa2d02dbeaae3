//! What a pool's tasks (writer, lookups, channel) share with its handle:
//! figures, limits and the host.

use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::time::{SystemTime, UNIX_EPOCH};

use mqhost_plugin_api::Host;

use crate::stats::PoolStats;

/// What a pool's tasks share with its handle.
pub struct PoolShared {
    /// The pool's name.
    pub name: String,
    /// Its figures.
    pub stats: PoolStats,
    /// `max_queued_commands`, changeable by reload.
    pub limit: AtomicUsize,
    /// `max_queued_bytes`, changeable by reload.
    pub limit_bytes: AtomicUsize,
    /// Lookups waiting or running.
    pub lookups_waiting: AtomicUsize,
    /// For log lines, deliveries and subscriptions.
    pub host: Host,
    /// When the last "queue full" line was written (Unix ms).
    pub overflow_logged_ms: AtomicU64,
}

/// Unix milliseconds now.
pub fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
