//! The application message as the broker routes it: one immutable value,
//! shared by every session it is delivered to; and a [`Delivery`], that
//! message on its way to one session.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use mqhost_codec::{PublishProperties, QoS};

/// A 128-bit message id that sorts in publish-time order: the top 64 bits
/// are the publish time in microseconds, then 16 bits of node and 48 bits
/// of sequence, so ids made on one node never collide even within one
/// microsecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageId(pub u128);

/// Makes [`MessageId`]s for one node.
#[derive(Debug)]
pub struct MessageIdGenerator {
    node: u16,
    sequence: AtomicU64,
}

impl MessageIdGenerator {
    /// A generator whose ids carry `node_name` hashed into 16 bits.
    pub fn new(node_name: &str) -> Self {
        // FNV-1a: stable across builds, unlike std's randomised hasher.
        let mut hash: u32 = 0x811c_9dc5;
        for byte in node_name.bytes() {
            hash ^= u32::from(byte);
            hash = hash.wrapping_mul(0x0100_0193);
        }
        Self {
            node: (hash ^ (hash >> 16)) as u16,
            sequence: AtomicU64::new(0),
        }
    }

    /// The next id; later calls give larger ids while the clock does not go back.
    pub fn next(&self) -> MessageId {
        let micros = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0);
        let sequence = self.sequence.fetch_add(1, Ordering::Relaxed) & 0xFFFF_FFFF_FFFF;
        MessageId((u128::from(micros) << 64) | (u128::from(self.node) << 48) | u128::from(sequence))
    }
}

impl MessageId {
    /// Publish time in Unix microseconds.
    pub fn micros(self) -> u64 {
        (self.0 >> 64) as u64
    }

    /// Publish time in Unix milliseconds (the message's timestamp).
    pub fn unix_millis(self) -> u64 {
        self.micros() / 1000
    }

    /// The id as exactly 22 base62 characters (`0-9A-Za-z`), so that string
    /// order is numeric order (the form the Redis backend stores).
    pub fn to_base62(self) -> String {
        mqhost_plugin_api::MessageId::from_u128(self.0).to_base62()
    }
}

/// Unix time in milliseconds, for message timestamps.
pub fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// An application message after it was accepted from a publisher (or made by
/// the broker: wills, `$SYS`, plugins). Shared as `Arc<Message>`; the payload
/// is never copied between subscribers.
#[derive(Debug)]
pub struct Message {
    /// Time-ordered id, stable for the message's whole life.
    pub id: MessageId,
    /// Topic name (never empty: topic aliases are resolved before routing).
    pub topic: Arc<str>,
    pub payload: Bytes,
    /// QoS the publisher used; each subscriber receives at most its granted QoS.
    pub qos: QoS,
    /// Retain flag as published.
    pub retain: bool,
    /// 5.0 properties passed through to subscribers; `topic_alias` and
    /// `subscription_identifiers` are always empty here.
    pub properties: PublishProperties,
    /// Client id of the publisher (empty for messages the broker made).
    pub from: Arc<str>,
    /// Session that published it, for No Local.
    pub from_session: Option<super::SessionId>,
    /// Publish time in Unix milliseconds.
    pub timestamp_ms: u64,
    /// When the 5.0 Message Expiry Interval runs out.
    pub expires_at: Option<Instant>,
}

/// A message on its way to one session, with what that session's matching
/// subscriptions decided.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub message: Arc<Message>,
    /// QoS for this receiver: the lower of published and granted.
    pub qos: QoS,
    /// RETAIN flag to send.
    pub retain: bool,
    /// Identifiers of every matching subscription (5.0).
    pub subscription_ids: Vec<u32>,
    /// Its number in a durable session's store; 0 when not stored.
    pub seq: u64,
    /// The store's tickets of the records it made so far: queued, sent,
    /// released (0: none). Finishing it strikes out those the store's
    /// writer has not taken yet.
    pub tickets: [u64; 3],
    /// It may have been sent before the broker restarted (a stored QoS 1
    /// delivery, whose sending is not recorded): sent with DUP.
    pub dup: bool,
}

impl Delivery {
    /// A delivery not (yet) stored.
    pub fn new(message: Arc<Message>, qos: QoS, retain: bool, subscription_ids: Vec<u32>) -> Self {
        Delivery {
            message,
            qos,
            retain,
            subscription_ids,
            seq: 0,
            tickets: [0; 3],
            dup: false,
        }
    }
}

impl Message {
    /// Whether the message's expiry interval has run out.
    pub fn is_expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    /// Seconds of life left, rounded up, for the Message Expiry Interval sent
    /// onwards; None when the message never expires.
    pub fn remaining_expiry(&self, now: Instant) -> Option<u32> {
        self.expires_at.map(|at| {
            let left = at.saturating_duration_since(now);
            let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
            secs.min(u64::from(u32::MAX)) as u32
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_in_creation_order_as_numbers_and_as_base62() {
        let generator = MessageIdGenerator::new("mqhost@127.0.0.1");
        let ids: Vec<MessageId> = (0..1000).map(|_| generator.next()).collect();
        for pair in ids.windows(2) {
            assert!(pair[0] < pair[1]);
            assert!(pair[0].to_base62() < pair[1].to_base62());
        }
    }

    #[test]
    fn base62_is_22_characters_zero_padded() {
        assert_eq!(MessageId(0).to_base62(), "0".repeat(22));
        assert_eq!(MessageId(61).to_base62(), format!("{}z", "0".repeat(21)));
        assert_eq!(MessageId(u128::MAX).to_base62().len(), 22);
    }
}
