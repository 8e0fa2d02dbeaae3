//! What a pool's tasks (writer, lookups, channel) share with its handle:
//! the write queue, figures, limits and the host.

use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::time::{SystemTime, UNIX_EPOCH};

use mqhost_plugin_api::Host;

use super::queue::WriteQueue;
use crate::stats::PoolStats;

/// What a pool's tasks share with its handle.
pub(crate) struct PoolShared {
    /// The pool's name.
    pub(crate) name: String,
    /// Its figures.
    pub(crate) stats: PoolStats,
    /// `max_queued_commands`, changeable by reload.
    pub(crate) limit: AtomicUsize,
    /// `max_queued_bytes`, changeable by reload.
    pub(crate) limit_bytes: AtomicUsize,
    /// Lookups waiting or running.
    pub(crate) lookups_waiting: AtomicUsize,
    /// For log lines, deliveries and subscriptions.
    pub(crate) host: Host,
    /// When the last "queue full" line was written (Unix ms).
    pub(crate) overflow_logged_ms: AtomicU64,
    /// The write queue: hooks push, the writer takes.
    pub(crate) queue: WriteQueue,
}

/// Unix milliseconds now.
pub(crate) fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
