//! Figures per pool, as relaxed atomic counters, for the admin API
//! (`GET /api/v1/plugins` shows them under the plugin's `stats`).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use serde_json::{json, Value};

/// One pool's counters. Every field only grows, except `queued` and the
/// two connection flags.
#[derive(Debug, Default)]
pub(crate) struct PoolStats {
    /// Commands accepted and not yet answered by Redis (queued or in the
    /// batch on the wire).
    pub(crate) queued: AtomicUsize,
    /// Their size, roughly.
    pub(crate) queued_bytes: AtomicUsize,
    /// Commands Redis answered.
    pub(crate) written: AtomicU64,
    /// Batches (pipelines) sent.
    pub(crate) batches: AtomicU64,
    /// Commands Redis refused for good (a wrong type, a bad raw command).
    pub(crate) errors: AtomicU64,
    /// Commands sent again after a lost connection or a failover.
    pub(crate) resent: AtomicU64,
    /// Commands dropped because the queue was full.
    pub(crate) overflow: AtomicU64,
    /// Connections made by the writer after the first.
    pub(crate) reconnects: AtomicU64,
    /// Whether the writer has a connection now.
    pub(crate) connected: AtomicBool,
    /// Lookups (fetches, retained and subscription lookups) finished.
    pub(crate) lookups: AtomicU64,
    /// Lookups given up on (Redis away too long, or a bad reply).
    pub(crate) lookup_failures: AtomicU64,
    /// Lookups dropped because too many were waiting.
    pub(crate) lookup_overflow: AtomicU64,
    /// Retained messages a lookup found beyond what it could take (the
    /// pool's `retain_lookup_max`, or the room of the subscriber's
    /// session), not read nor delivered.
    pub(crate) retain_lookup_skipped: AtomicU64,
    /// Time the finished lookups took, from being taken up to done,
    /// microseconds: with `lookups`, their mean latency.
    pub(crate) lookup_micros: AtomicU64,
    /// Messages handed to the host by lookups.
    pub(crate) delivered: AtomicU64,
    /// Messages received on the SUB/UNSUB channel.
    pub(crate) channel_messages: AtomicU64,
    /// Whether the channel subscription is up.
    pub(crate) channel_connected: AtomicBool,
}

fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

impl PoolStats {
    /// The figures as a JSON object.
    pub(crate) fn to_json(
        &self,
        kind: &str,
        servers: &str,
        limit: usize,
        limit_bytes: usize,
    ) -> Value {
        json!({
            "type": kind,
            "server": servers,
            "connected": self.connected.load(Ordering::Relaxed),
            "queued": self.queued.load(Ordering::Relaxed),
            "max_queued_commands": limit,
            "queued_bytes": self.queued_bytes.load(Ordering::Relaxed),
            "max_queued_bytes": limit_bytes,
            "written": get(&self.written),
            "batches": get(&self.batches),
            "errors": get(&self.errors),
            "resent": get(&self.resent),
            "overflow": get(&self.overflow),
            "reconnects": get(&self.reconnects),
            "lookups": get(&self.lookups),
            "lookup_seconds": get(&self.lookup_micros) as f64 / 1e6,
            "lookup_failures": get(&self.lookup_failures),
            "lookup_overflow": get(&self.lookup_overflow),
            "retain_lookup_skipped": get(&self.retain_lookup_skipped),
            "delivered": get(&self.delivered),
            "channel_connected": self.channel_connected.load(Ordering::Relaxed),
            "channel_messages": get(&self.channel_messages),
        })
    }
}
