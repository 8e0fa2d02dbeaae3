//! Outbound QoS 1 and 2 messages the client has not finished acknowledging,
//! and the packet ids they hold.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::Delivery;

/// Where an outbound QoS 1/2 exchange stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// PUBLISH sent; waiting for PUBACK (QoS 1) or PUBREC (QoS 2).
    Published,
    /// PUBREL sent; waiting for PUBCOMP.
    Released,
}

/// One message in flight.
#[derive(Debug)]
pub struct Entry {
    pub delivery: Delivery,
    pub stage: Stage,
    /// Send order, so a resumed session resends in the original order.
    order: u64,
}

/// Hashes the packet ids the broker picks itself with one multiplication:
/// SipHash's defence against chosen keys buys nothing for them and cost
/// two hashes per message.
#[derive(Debug, Default, Clone, Copy)]
pub struct PacketIdHasher(u64);

impl Hasher for PacketIdHasher {
    fn finish(&self) -> u64 {
        // Fold the well-mixed high bits into the low ones, which pick
        // the bucket.
        self.0 ^ (self.0 >> 29)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64((self.0 << 8) | u64::from(byte));
        }
    }

    fn write_u16(&mut self, id: u16) {
        self.write_u64(u64::from(id));
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// The in-flight window of one session.
#[derive(Debug, Default)]
pub struct Inflight {
    entries: HashMap<u16, Entry, BuildHasherDefault<PacketIdHasher>>,
    last_packet_id: u16,
    sent: u64,
}

impl Inflight {
    /// Messages in flight.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// A packet id no message in flight uses. Callers keep fewer than
    /// 65535 messages in flight, so one is always free.
    pub fn next_packet_id(&mut self) -> u16 {
        loop {
            self.last_packet_id = self.last_packet_id.checked_add(1).unwrap_or(1);
            if !self.entries.contains_key(&self.last_packet_id) {
                return self.last_packet_id;
            }
        }
    }

    /// Records that `delivery` was sent as `packet_id`.
    pub fn insert(&mut self, packet_id: u16, delivery: Delivery) {
        self.sent += 1;
        self.entries.insert(
            packet_id,
            Entry {
                delivery,
                stage: Stage::Published,
                order: self.sent,
            },
        );
    }

    /// Whether `packet_id` is in flight.
    pub fn contains(&self, packet_id: u16) -> bool {
        self.entries.contains_key(&packet_id)
    }

    /// The exchange of `packet_id`.
    pub fn get_mut(&mut self, packet_id: u16) -> Option<&mut Entry> {
        self.entries.get_mut(&packet_id)
    }

    /// Ends the exchange of `packet_id`.
    pub fn remove(&mut self, packet_id: u16) -> Option<Entry> {
        self.entries.remove(&packet_id)
    }

    /// Every exchange in send order, for resending after a reconnect.
    pub fn in_send_order(&self) -> Vec<(u16, &Entry)> {
        let mut all: Vec<(u16, &Entry)> = self.entries.iter().map(|(id, e)| (*id, e)).collect();
        all.sort_unstable_by_key(|(_, e)| e.order);
        all
    }

    /// Empties the window (a session that starts clean).
    pub fn clear(&mut self) {
        self.entries.clear();
    }
}
