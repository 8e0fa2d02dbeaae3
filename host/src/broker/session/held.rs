//! Acknowledgements held until the store has written what their PUBLISH
//! changed: kept in order, a few bytes each, with the count of PUBACKs
//! that the 5.0 Receive Maximum check reads at every PUBLISH.

use std::collections::VecDeque;

use mqhost_codec::{AckProperties, Packet, PubAck};

/// One held acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Held {
    /// PUBACK: packet id, reason code.
    PubAck(u16, u8),
    /// PUBREC: packet id, reason code.
    PubRec(u16, u8),
}

impl Held {
    /// The packet to send.
    pub(super) fn packet(self) -> Packet {
        let ack = |packet_id, reason| PubAck {
            packet_id,
            reason,
            properties: AckProperties::default(),
        };
        match self {
            Held::PubAck(id, reason) => Packet::PubAck(ack(id, reason)),
            Held::PubRec(id, reason) => Packet::PubRec(ack(id, reason)),
        }
    }
}

/// The held acknowledgements, each with the ticket of the last record its
/// PUBLISH made.
#[derive(Debug, Default)]
pub(super) struct HeldAcks {
    queue: VecDeque<(u64, Held)>,
    pubacks: usize,
}

impl HeldAcks {
    pub(super) fn push(&mut self, ticket: u64, held: Held) {
        self.pubacks += usize::from(matches!(held, Held::PubAck(..)));
        self.queue.push_back((ticket, held));
    }

    /// The first one, if its ticket is at most `stored`.
    pub(super) fn pop_stored(&mut self, stored: impl Fn(u64) -> bool) -> Option<Held> {
        let &(ticket, _) = self.queue.front()?;
        if !stored(ticket) {
            return None;
        }
        let (_, held) = self.queue.pop_front()?;
        self.pubacks -= usize::from(matches!(held, Held::PubAck(..)));
        Some(held)
    }

    /// The ticket of the last one.
    pub(super) fn last_ticket(&self) -> Option<u64> {
        self.queue.back().map(|&(ticket, _)| ticket)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub(super) fn len(&self) -> usize {
        self.queue.len()
    }

    /// PUBACKs among them.
    pub(super) fn pubacks(&self) -> usize {
        self.pubacks
    }

    pub(super) fn clear(&mut self) {
        self.queue.clear();
        self.pubacks = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn they_leave_in_order_once_stored_and_pubacks_are_counted() {
        let mut held = HeldAcks::default();
        held.push(3, Held::PubAck(1, 0));
        held.push(5, Held::PubRec(2, 0));
        held.push(9, Held::PubAck(3, 0x10));
        assert_eq!((held.len(), held.pubacks()), (3, 2));
        let stored = |ticket| ticket <= 5;
        assert_eq!(held.pop_stored(stored), Some(Held::PubAck(1, 0)));
        assert_eq!(held.pop_stored(stored), Some(Held::PubRec(2, 0)));
        assert_eq!(held.pop_stored(stored), None);
        assert_eq!(
            (held.len(), held.pubacks(), held.last_ticket()),
            (1, 1, Some(9))
        );
        assert!(matches!(
            Held::PubAck(3, 0x10).packet(),
            Packet::PubAck(PubAck {
                packet_id: 3,
                reason: 0x10,
                ..
            })
        ));
        held.clear();
        assert!(held.is_empty());
        assert_eq!(held.pubacks(), 0);
    }
}
