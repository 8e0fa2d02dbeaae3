//! Broker-wide counters. Relaxed atomics: they are statistics, read by
//! `$SYS` and logs, and never used to decide anything.
//!
//! Every time a configured limit refuses something (or, for the keep
//! alive, holds a client to less than it asked) one counter moves;
//! [`Metrics::limits`] lists them under one name each, which `$SYS` and
//! the admin API both show, so neither can miss one.

use std::sync::atomic::{AtomicU64, Ordering};

use mqhost_codec::DecodeError;

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
    /// CONNECTs refused for a client id longer than `mqtt.max_clientid_len`.
    pub clients_id_too_long: AtomicU64,
    /// Clients held to `mqtt.max_keepalive`, having asked for more or for
    /// none (not a refusal: they are connected).
    pub clients_keepalive_clamped: AtomicU64,
    /// Packets, CONNECT included, larger than `mqtt.max_packet_size`.
    pub packets_too_large: AtomicU64,
    /// Packets, CONNECT included, with more User Properties than
    /// `mqtt.max_user_properties`.
    pub packets_too_many_user_properties: AtomicU64,
    /// Packets begun and not whole within `mqtt.packet_timeout`.
    pub packets_timed_out: AtomicU64,
    /// PUBLISHes with a Topic Alias above `mqtt.max_topic_alias`.
    pub packets_topic_alias_invalid: AtomicU64,
    /// QoS 2 PUBLISHes beyond the packet ids that may await their PUBREL
    /// (`mqtt.receive_maximum` in 5.0, `mqtt.max_awaiting_rel` in 3.x).
    pub packets_awaiting_rel_exceeded: AtomicU64,
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
    /// Connections whose TLS handshake or WebSocket upgrade failed or did
    /// not finish in time.
    pub connections_handshake_failed: AtomicU64,
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

    /// Counts one more in `counter` (one of the fields).
    pub fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a packet that failed to decode, when a limit is why.
    pub fn decode_refused(&self, error: &DecodeError) {
        match error {
            DecodeError::PacketTooLarge => Metrics::count(&self.packets_too_large),
            DecodeError::TooManyUserProperties => {
                Metrics::count(&self.packets_too_many_user_properties)
            }
            _ => {}
        }
    }

    /// The counters of limits applied, each with its name: the topic under
    /// `$SYS/brokers/<node>/`, and with `/` made `_` the admin API's field
    /// (and this struct's).
    pub fn limits(&self) -> [(&'static str, u64); 12] {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        [
            ("connections/over_limit", load(&self.connections_over_limit)),
            ("connections/over_rate", load(&self.connections_over_rate)),
            (
                "connections/handshake_failed",
                load(&self.connections_handshake_failed),
            ),
            ("clients/id_too_long", load(&self.clients_id_too_long)),
            (
                "clients/keepalive_clamped",
                load(&self.clients_keepalive_clamped),
            ),
            ("packets/too_large", load(&self.packets_too_large)),
            (
                "packets/too_many_user_properties",
                load(&self.packets_too_many_user_properties),
            ),
            ("packets/timed_out", load(&self.packets_timed_out)),
            (
                "packets/topic_alias_invalid",
                load(&self.packets_topic_alias_invalid),
            ),
            (
                "packets/awaiting_rel_exceeded",
                load(&self.packets_awaiting_rel_exceeded),
            ),
            (
                "subscriptions/quota_exceeded",
                load(&self.subscriptions_quota_exceeded),
            ),
            ("retained/not_stored", load(&self.retained_not_stored)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each name is used once and reads its own counter: bumping the
    /// counters one at a time moves one name at a time.
    #[test]
    fn every_limit_counter_has_its_own_name() {
        let metrics = Metrics::default();
        let names: Vec<&str> = metrics.limits().iter().map(|(name, _)| *name).collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        let counters = [
            &metrics.connections_over_limit,
            &metrics.connections_over_rate,
            &metrics.connections_handshake_failed,
            &metrics.clients_id_too_long,
            &metrics.clients_keepalive_clamped,
            &metrics.packets_too_large,
            &metrics.packets_too_many_user_properties,
            &metrics.packets_timed_out,
            &metrics.packets_topic_alias_invalid,
            &metrics.packets_awaiting_rel_exceeded,
            &metrics.subscriptions_quota_exceeded,
            &metrics.retained_not_stored,
        ];
        for (i, counter) in counters.iter().enumerate() {
            for _ in 0..=i {
                Metrics::count(counter);
            }
        }
        for (i, (name, value)) in metrics.limits().iter().enumerate() {
            assert_eq!(*value, i as u64 + 1, "{name}");
        }
    }

    #[test]
    fn limit_errors_from_the_decoder_are_counted() {
        let metrics = Metrics::default();
        metrics.decode_refused(&DecodeError::PacketTooLarge);
        metrics.decode_refused(&DecodeError::TooManyUserProperties);
        metrics.decode_refused(&DecodeError::TooManyUserProperties);
        metrics.decode_refused(&DecodeError::MalformedPacket("x"));
        assert_eq!(metrics.packets_too_large.load(Ordering::Relaxed), 1);
        assert_eq!(
            metrics
                .packets_too_many_user_properties
                .load(Ordering::Relaxed),
            2
        );
    }
}
