//! Each listener's connections: open now, accepted, and refused, by
//! reason, from the accept to the CONNACK.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use mqhost_codec::reason;

use crate::listen::gate::Gate;

/// Why a connection ended before its client was connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The listener's `max_connections`, or the open-file budget.
    MaxConnections,
    /// The listener's `max_conn_rate`.
    MaxConnRate,
    /// The TLS handshake or WebSocket upgrade failed or took too long.
    Handshake,
    /// No CONNECT within its time, or not whole within `packet_timeout`.
    ConnectTimeout,
    /// Closed by the client before its CONNECT.
    ConnectClosed,
    /// A malformed CONNECT, or another packet first.
    Malformed,
    /// A CONNECT larger than `mqtt.max_packet_size`, or a client that
    /// would not take the CONNACK's size.
    TooLarge,
    /// CONNACK 0x84 (3.x: 1).
    ProtocolVersion,
    /// CONNACK 0x85: the client id.
    ClientId,
    /// CONNACK 0x86: bad user name or password.
    BadCredentials,
    /// CONNACK 0x87: not authorized.
    NotAuthorized,
    /// CONNACK 0x8C: enhanced authentication asked for.
    AuthMethod,
    /// CONNACK 0x90: the will topic.
    WillTopic,
    /// CONNACK 0x97: too many User Properties.
    QuotaExceeded,
    /// CONNACK 0x89: the client id's session would not settle.
    ServerBusy,
    /// Any other CONNACK refusal.
    Other,
}

impl Refused {
    /// Every reason, in the order of the counters.
    pub const ALL: [Refused; 16] = [
        Refused::MaxConnections,
        Refused::MaxConnRate,
        Refused::Handshake,
        Refused::ConnectTimeout,
        Refused::ConnectClosed,
        Refused::Malformed,
        Refused::TooLarge,
        Refused::ProtocolVersion,
        Refused::ClientId,
        Refused::BadCredentials,
        Refused::NotAuthorized,
        Refused::AuthMethod,
        Refused::WillTopic,
        Refused::QuotaExceeded,
        Refused::ServerBusy,
        Refused::Other,
    ];

    /// The `reason` label.
    pub fn label(self) -> &'static str {
        match self {
            Refused::MaxConnections => "max_connections",
            Refused::MaxConnRate => "max_conn_rate",
            Refused::Handshake => "handshake",
            Refused::ConnectTimeout => "connect_timeout",
            Refused::ConnectClosed => "connect_closed",
            Refused::Malformed => "malformed",
            Refused::TooLarge => "too_large",
            Refused::ProtocolVersion => "protocol_version",
            Refused::ClientId => "client_id",
            Refused::BadCredentials => "bad_credentials",
            Refused::NotAuthorized => "not_authorized",
            Refused::AuthMethod => "auth_method",
            Refused::WillTopic => "will_topic",
            Refused::QuotaExceeded => "quota_exceeded",
            Refused::ServerBusy => "server_busy",
            Refused::Other => "other",
        }
    }

    /// The reason for a refusing CONNACK's 5.0 reason code.
    pub fn for_connack(code: u8) -> Refused {
        match code {
            reason::UNSUPPORTED_PROTOCOL_VERSION => Refused::ProtocolVersion,
            reason::CLIENT_IDENTIFIER_NOT_VALID => Refused::ClientId,
            reason::BAD_USER_NAME_OR_PASSWORD => Refused::BadCredentials,
            reason::NOT_AUTHORIZED => Refused::NotAuthorized,
            reason::BAD_AUTHENTICATION_METHOD => Refused::AuthMethod,
            reason::TOPIC_NAME_INVALID => Refused::WillTopic,
            reason::QUOTA_EXCEEDED => Refused::QuotaExceeded,
            reason::SERVER_BUSY => Refused::ServerBusy,
            _ => Refused::Other,
        }
    }
}

/// One listener's counters. Connections come and go far less often than
/// messages: shared atomics do.
pub struct ListenerMetrics {
    /// `<transport>.<name>`, as the configuration names the listener.
    pub id: String,
    /// Connections let in by the listener's limits.
    accepted: AtomicU64,
    refused: [AtomicU64; Refused::ALL.len()],
    /// The listener's gate, which knows the connections open now.
    gate: Option<Arc<Gate>>,
}

impl std::fmt::Debug for ListenerMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerMetrics")
            .field("id", &self.id)
            .field("accepted", &self.accepted_total())
            .finish_non_exhaustive()
    }
}

impl ListenerMetrics {
    /// The counters of listener `id`, whose open connections `gate` knows.
    pub fn new(id: &str, gate: Option<Arc<Gate>>) -> ListenerMetrics {
        ListenerMetrics {
            id: id.to_owned(),
            accepted: AtomicU64::new(0),
            refused: Default::default(),
            gate,
        }
    }

    /// One connection let in.
    pub fn accepted(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
    }

    /// One connection refused for `why`.
    pub fn refused(&self, why: Refused) {
        self.refused[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Connections let in so far.
    pub fn accepted_total(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Connections refused for `why` so far.
    pub fn refused_total(&self, why: Refused) -> u64 {
        self.refused[why as usize].load(Ordering::Relaxed)
    }

    /// Connections open now (before and after CONNECT).
    pub fn open(&self) -> u64 {
        self.gate.as_ref().map_or(0, |gate| gate.open())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_its_own_label_and_counter() {
        let listener = ListenerMetrics::new("tcp.default", None);
        let mut labels: Vec<&str> = Refused::ALL.iter().map(|r| r.label()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), Refused::ALL.len());
        for (i, why) in Refused::ALL.iter().enumerate() {
            assert_eq!(*why as usize, i, "{why:?} is out of order");
            for _ in 0..=i {
                listener.refused(*why);
            }
        }
        for (i, why) in Refused::ALL.iter().enumerate() {
            assert_eq!(listener.refused_total(*why), i as u64 + 1);
        }
    }

    #[test]
    fn open_connections_are_the_gates() {
        assert_eq!(ListenerMetrics::new("tcp.default", None).open(), 0);
        let gate = Gate::new(10, None);
        let listener = ListenerMetrics::new("tcp.default", Some(Arc::clone(&gate)));
        let _slot = gate.admit().unwrap();
        assert_eq!(listener.open(), 1);
    }
}
