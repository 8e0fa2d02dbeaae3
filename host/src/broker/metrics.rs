//! Broker-wide counters. Relaxed atomics: they are statistics, read by
//! `$SYS` and logs, and never used to decide anything.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters since start.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Clients connected now.
    pub clients_connected: AtomicU64,
    /// Most clients connected at once.
    pub clients_maximum: AtomicU64,
    /// Sessions alive now (connected or not).
    pub sessions: AtomicU64,
    /// Application messages accepted from publishers (and made by the broker).
    pub messages_received: AtomicU64,
    /// Application messages written to subscribers.
    pub messages_sent: AtomicU64,
    /// Messages discarded: queue full, expired, too large for the receiver,
    /// or dropped by a hook.
    pub messages_dropped: AtomicU64,
    /// Topic filters refused because their client had
    /// `mqtt.max_subscriptions` already.
    pub subscriptions_quota_exceeded: AtomicU64,
    /// Retained messages a `mqtt.max_retained_*` limit kept out of the
    /// store (they were delivered all the same).
    pub retained_not_stored: AtomicU64,
    /// Connections closed as soon as accepted: their listener's
    /// `max_connections` (or the open-file budget) was reached.
    pub connections_over_limit: AtomicU64,
    /// Connections closed as soon as accepted: their listener's
    /// `max_conn_rate` was reached.
    pub connections_over_rate: AtomicU64,
    /// Bytes read from clients.
    pub bytes_received: AtomicU64,
    /// Bytes written to clients.
    pub bytes_sent: AtomicU64,
}

impl Metrics {
    /// Counts a new connection and keeps the maximum up to date.
    pub fn client_connected(&self) {
        let now = self.clients_connected.fetch_add(1, Ordering::Relaxed) + 1;
        self.clients_maximum.fetch_max(now, Ordering::Relaxed);
    }

    /// Counts a connection gone.
    pub fn client_disconnected(&self) {
        self.clients_connected.fetch_sub(1, Ordering::Relaxed);
    }

    /// One dropped message.
    pub fn dropped(&self) {
        self.messages_dropped.fetch_add(1, Ordering::Relaxed);
    }
}
