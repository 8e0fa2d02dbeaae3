//! Broker-wide counters. Relaxed atomics: they are statistics, read by
//! `$SYS`, `/metrics` and logs, and never used to decide anything.
//!
//! Every time a configured limit refuses something (or, for the keep
//! alive, holds a client to less than it asked) one counter moves;
//! [`Metrics::limits`] lists them under one name each, which `$SYS` and
//! the admin API both show, so neither can miss one.
//!
//! What moves on every message (packets and bytes by packet type,
//! messages received, delivered and dropped) is counted per thread
//! ([`per_thread`], [`Hot`]); per listener counters are in [`listener`].

pub mod listener;
pub mod per_thread;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use mqhost_codec::DecodeError;

use listener::ListenerMetrics;
use per_thread::{Local, PerThread};

/// MQTT packet types by their number in the fixed header (the high four
/// bits of its first byte, which is how packets are counted: from the
/// bytes, not the decoded packet), as the `type` label spells them (0 is
/// reserved and never counted).
pub const PACKET_TYPES: [&str; 16] = [
    "reserved",
    "connect",
    "connack",
    "publish",
    "puback",
    "pubrec",
    "pubrel",
    "pubcomp",
    "subscribe",
    "suback",
    "unsubscribe",
    "unsuback",
    "pingreq",
    "pingresp",
    "disconnect",
    "auth",
];

/// Index of the PUBLISH packet type in [`PACKET_TYPES`].
pub const PUBLISH: usize = 3;
/// Index of the CONNECT packet type in [`PACKET_TYPES`].
pub const CONNECT: usize = 1;
/// Index of the CONNACK packet type in [`PACKET_TYPES`].
pub const CONNACK: usize = 2;
/// Index of the DISCONNECT packet type in [`PACKET_TYPES`].
pub const DISCONNECT: usize = 14;

/// Why a message was not delivered. A message dropped on its way in
/// (nobody subscribed, a hook dropped it, the publisher may not write
/// the topic) counts once; one dropped on its way to a subscriber counts
/// once per subscriber that lost it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// No subscription matched the topic.
    NoSubscriber,
    /// The subscriber's queue was at `mqtt.max_queued_messages`.
    QueueFull,
    /// Its Message Expiry Interval ran out before it could be sent.
    Expired,
    /// The publisher may not write the topic, or the subscriber may not
    /// read it.
    Denied,
    /// Larger than the subscriber's Maximum Packet Size.
    TooLarge,
    /// A `message.publish` hook dropped it.
    Hook,
    /// QoS 0 for a disconnected client, with `mqtt.queue_qos0` off.
    Qos0Offline,
}

impl Dropped {
    /// Every reason, in the order of the counters.
    pub const ALL: [Dropped; 7] = [
        Dropped::NoSubscriber,
        Dropped::QueueFull,
        Dropped::Expired,
        Dropped::Denied,
        Dropped::TooLarge,
        Dropped::Hook,
        Dropped::Qos0Offline,
    ];

    /// The `reason` label.
    pub fn label(self) -> &'static str {
        match self {
            Dropped::NoSubscriber => "no_subscriber",
            Dropped::QueueFull => "queue_full",
            Dropped::Expired => "expired",
            Dropped::Denied => "denied",
            Dropped::TooLarge => "too_large",
            Dropped::Hook => "hook",
            Dropped::Qos0Offline => "qos0_offline",
        }
    }
}

/// The counters of the message path, one set per thread.
#[derive(Default)]
pub struct Hot {
    /// Packets decoded from clients, by type.
    pub packets_in: [AtomicU64; 16],
    /// Their bytes, whole packets (fixed header included).
    pub packet_bytes_in: [AtomicU64; 16],
    /// Packets encoded for clients, by type.
    pub packets_out: [AtomicU64; 16],
    pub packet_bytes_out: [AtomicU64; 16],
    /// Application messages accepted from publishers (and made by the
    /// broker: wills, plugins' publishes).
    pub messages_received: AtomicU64,
    /// Application messages written to subscribers.
    pub messages_delivered: AtomicU64,
    /// Payload bytes of the PUBLISH packets decoded.
    pub payload_bytes_in: AtomicU64,
    /// Payload bytes of the PUBLISH packets encoded.
    pub payload_bytes_out: AtomicU64,
    /// Messages not delivered, by [`Dropped`] reason.
    pub dropped: [AtomicU64; Dropped::ALL.len()],
    /// Bytes read from clients' streams.
    pub bytes_read: AtomicU64,
    /// Bytes written to clients' streams.
    pub bytes_written: AtomicU64,
}

/// Packets decoded from one read, counted on the stack and added to the
/// thread's counters once ([`Local::packets_in`]).
#[derive(Default)]
pub struct Tally {
    packets: [u32; 16],
    bytes: [u64; 16],
    payload_bytes: u64,
}

impl Tally {
    /// One packet decoded, `bytes` long, whose fixed header began with
    /// `first` (its type in the high four bits).
    #[inline]
    pub fn packet(&mut self, first: u8, bytes: usize) {
        let kind = usize::from(first >> 4);
        self.packets[kind] += 1;
        self.bytes[kind] += bytes as u64;
    }

    /// A PUBLISH's payload, of those counted.
    #[inline]
    pub fn payload(&mut self, bytes: usize) {
        self.payload_bytes += bytes as u64;
    }

    /// Whether a packet was counted.
    pub fn any(&self) -> bool {
        self.packets.iter().any(|n| *n > 0)
    }
}

impl Local<'_, Hot> {
    /// The packets of `tally`, decoded.
    pub fn packets_in(&self, tally: &Tally) {
        for kind in 1..PACKET_TYPES.len() {
            if tally.packets[kind] > 0 {
                self.add(
                    &self.counters.packets_in[kind],
                    u64::from(tally.packets[kind]),
                );
                self.add(&self.counters.packet_bytes_in[kind], tally.bytes[kind]);
            }
        }
        self.add(&self.counters.payload_bytes_in, tally.payload_bytes);
    }

    /// One packet of type `kind`, `bytes` long, decoded.
    #[inline]
    pub fn packet_in(&self, kind: usize, bytes: usize) {
        self.add(&self.counters.packets_in[kind & 15], 1);
        self.add(&self.counters.packet_bytes_in[kind & 15], bytes as u64);
    }

    /// One packet of type `kind`, `bytes` long, encoded.
    #[inline]
    pub fn packet_out(&self, kind: usize, bytes: usize) {
        self.add(&self.counters.packets_out[kind & 15], 1);
        self.add(&self.counters.packet_bytes_out[kind & 15], bytes as u64);
    }

    /// One message dropped for `reason`.
    #[inline]
    pub fn dropped(&self, reason: Dropped) {
        self.add(&self.counters.dropped[reason as usize], 1);
    }
}

/// Counters since start.
#[derive(Default)]
pub struct Metrics {
    /// Clients connected now.
    pub clients_connected: AtomicU64,
    /// Most clients connected at once.
    pub clients_maximum: AtomicU64,
    /// CONNECTs accepted since start.
    pub clients_connected_total: AtomicU64,
    /// Sessions alive now (connected or not).
    pub sessions: AtomicU64,
    /// Sessions that ended because their expiry interval ran out while
    /// their client was away.
    pub sessions_expired: AtomicU64,
    /// The message path's counters, per thread.
    pub hot: PerThread<Hot>,
    /// Each listener's connections, in the order they were bound.
    listeners: Mutex<Vec<Arc<ListenerMetrics>>>,
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
}

impl Metrics {
    /// Counts a new connection and keeps the maximum up to date.
    pub fn client_connected(&self) {
        let now = self.clients_connected.fetch_add(1, Ordering::Relaxed) + 1;
        self.clients_maximum.fetch_max(now, Ordering::Relaxed);
        Metrics::count(&self.clients_connected_total);
    }

    /// Counts a connection gone.
    pub fn client_disconnected(&self) {
        self.clients_connected.fetch_sub(1, Ordering::Relaxed);
    }

    /// The calling thread's message path counters.
    #[inline]
    pub fn local(&self) -> Local<'_, Hot> {
        self.hot.local()
    }

    /// One message dropped for `reason`.
    pub fn dropped(&self, reason: Dropped) {
        self.local().dropped(reason);
    }

    /// Messages dropped for `reason` so far.
    pub fn dropped_for(&self, reason: Dropped) -> u64 {
        self.hot.sum(|hot| &hot.dropped[reason as usize])
    }

    /// Messages dropped so far, for any reason.
    pub fn messages_dropped(&self) -> u64 {
        Dropped::ALL.iter().map(|r| self.dropped_for(*r)).sum()
    }

    /// Application messages accepted so far.
    pub fn messages_received(&self) -> u64 {
        self.hot.sum(|hot| &hot.messages_received)
    }

    /// Application messages written to subscribers so far.
    pub fn messages_delivered(&self) -> u64 {
        self.hot.sum(|hot| &hot.messages_delivered)
    }

    /// Bytes read from clients so far.
    pub fn bytes_read(&self) -> u64 {
        self.hot.sum(|hot| &hot.bytes_read)
    }

    /// Bytes written to clients so far.
    pub fn bytes_written(&self) -> u64 {
        self.hot.sum(|hot| &hot.bytes_written)
    }

    /// Payload bytes of PUBLISH packets decoded and encoded so far.
    pub fn payload_bytes(&self) -> (u64, u64) {
        (
            self.hot.sum(|hot| &hot.payload_bytes_in),
            self.hot.sum(|hot| &hot.payload_bytes_out),
        )
    }

    /// Packets decoded and encoded so far, of every type.
    pub fn packets_total(&self) -> (u64, u64) {
        (1..PACKET_TYPES.len()).fold((0, 0), |(i, o), kind| {
            (i + self.packets_in(kind).0, o + self.packets_out(kind).0)
        })
    }

    /// Packets of type `kind` decoded so far, and their bytes.
    pub fn packets_in(&self, kind: usize) -> (u64, u64) {
        (
            self.hot.sum(|hot| &hot.packets_in[kind & 15]),
            self.hot.sum(|hot| &hot.packet_bytes_in[kind & 15]),
        )
    }

    /// Packets of type `kind` encoded so far, and their bytes.
    pub fn packets_out(&self, kind: usize) -> (u64, u64) {
        (
            self.hot.sum(|hot| &hot.packets_out[kind & 15]),
            self.hot.sum(|hot| &hot.packet_bytes_out[kind & 15]),
        )
    }

    /// Shows `counters` among the listeners' (in place of any of the same
    /// listener): the listeners make theirs when they bind.
    pub fn add_listener(&self, counters: Arc<ListenerMetrics>) {
        let mut listeners = self.listeners.lock().unwrap_or_else(|e| e.into_inner());
        listeners.retain(|l| l.id != counters.id);
        listeners.push(counters);
    }

    /// The counters of the listener `id`, made (without open connections
    /// to report) if it has none yet.
    pub fn listener(&self, id: &str) -> Arc<ListenerMetrics> {
        let mut listeners = self.listeners.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(found) = listeners.iter().find(|l| l.id == id) {
            return Arc::clone(found);
        }
        let made = Arc::new(ListenerMetrics::new(id, None));
        listeners.push(Arc::clone(&made));
        made
    }

    /// Every listener's counters.
    pub fn listeners(&self) -> Vec<Arc<ListenerMetrics>> {
        self.listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
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

    /// Packets are counted by the high four bits of their first byte:
    /// the names are in the specification's order.
    #[test]
    fn packet_types_are_named_by_their_fixed_header() {
        use mqhost_codec::{encode, Disconnect, Packet, ProtocolVersion};
        let named = |packet: Packet| {
            let mut buf = bytes::BytesMut::new();
            encode(&packet, ProtocolVersion::V5, &mut buf).unwrap();
            PACKET_TYPES[usize::from(buf[0] >> 4)]
        };
        assert_eq!(named(Packet::PingReq), "pingreq");
        assert_eq!(named(Packet::PingResp), "pingresp");
        let disconnect = Packet::Disconnect(Disconnect {
            reason: 0,
            properties: Default::default(),
        });
        assert_eq!(named(disconnect), "disconnect");
        assert_eq!(PACKET_TYPES[PUBLISH], "publish");
        assert_eq!(PACKET_TYPES[CONNECT], "connect");
        assert_eq!(PACKET_TYPES[CONNACK], "connack");
        assert_eq!(PACKET_TYPES[DISCONNECT], "disconnect");
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
