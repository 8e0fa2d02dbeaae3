//! A write function's event as it waits in the queue: the function, the
//! rule's time to live and the message or delivery, packed, instead of
//! the commands they make.
//!
//! A stored and acked message is seven commands, some 600 bytes in the
//! protocol, and a backlog (Redis slower than the broker) holds them in
//! memory the broker's thread touches for the first time, a page fault
//! per 4 KiB. Packed, the same message is about a hundred bytes; the
//! writer turns it into its commands ([`crate::functions::Function::emit`],
//! the same code as for any other write) just before sending, in memory
//! it reuses batch after batch.
//!
//! Only the writer reads what the hooks packed, in the same process: the
//! layout is private and may change with any release.

use mqhost_plugin_api::types::BASE62_LEN;

use crate::event::{DeliveryData, Event, IdText, MessageData};
use crate::functions::Function;

const MESSAGE: u8 = 0;
const DELIVERY: u8 = 1;

/// Function, kind and time to live.
const HEAD: usize = 1 + 1 + 8;
/// A message's fixed part after the head: id, time, QoS, retain, three
/// lengths.
const MESSAGE_FIXED: usize = BASE62_LEN + 8 + 1 + 1 + 4 + 4 + 4;
/// A delivery's fixed part after the head: id, QoS, two lengths.
const DELIVERY_FIXED: usize = BASE62_LEN + 1 + 4 + 4;

/// Hands the packed form of `function`'s `event` (a message or a
/// delivery) to `out` as slices to store one after another; false for
/// other events, or a part over 4 GiB.
pub(crate) fn pack(
    function: Function,
    ttl: u64,
    event: &Event<'_>,
    out: impl FnOnce(&[&[u8]]),
) -> bool {
    let index = Function::ALL
        .iter()
        .position(|f| *f == function)
        .unwrap_or(0) as u8;
    let len = |bytes: &[u8]| u32::try_from(bytes.len()).ok();
    match event {
        Event::Message(m) => {
            let (Some(from), Some(topic), Some(payload)) = (
                len(m.from.as_bytes()),
                len(m.topic.as_bytes()),
                len(m.payload),
            ) else {
                return false;
            };
            let mut fixed = [0u8; HEAD + MESSAGE_FIXED];
            let mut at = head(&mut fixed, index, MESSAGE, ttl);
            for part in [
                m.id.as_bytes(),
                &m.ts_ms.to_le_bytes(),
                &[m.qos, u8::from(m.retain)],
                &from.to_le_bytes(),
                &topic.to_le_bytes(),
                &payload.to_le_bytes(),
            ] {
                fixed[at..at + part.len()].copy_from_slice(part);
                at += part.len();
            }
            out(&[&fixed, m.from.as_bytes(), m.topic.as_bytes(), m.payload]);
            true
        }
        Event::Delivery(d) => {
            let (Some(client), Some(topic)) =
                (len(d.client_id.as_bytes()), len(d.topic.as_bytes()))
            else {
                return false;
            };
            let mut fixed = [0u8; HEAD + DELIVERY_FIXED];
            let mut at = head(&mut fixed, index, DELIVERY, ttl);
            for part in [
                d.id.as_bytes(),
                &[d.qos],
                &client.to_le_bytes(),
                &topic.to_le_bytes(),
            ] {
                fixed[at..at + part.len()].copy_from_slice(part);
                at += part.len();
            }
            out(&[&fixed, d.client_id.as_bytes(), d.topic.as_bytes()]);
            true
        }
        _ => false,
    }
}

fn head(fixed: &mut [u8], function: u8, kind: u8, ttl: u64) -> usize {
    fixed[0] = function;
    fixed[1] = kind;
    fixed[2..HEAD].copy_from_slice(&ttl.to_le_bytes());
    HEAD
}

/// A packed event read back: its function, time to live and event,
/// borrowing the bytes; None for bytes [`pack`] did not write.
pub(crate) fn unpack(bytes: &[u8]) -> Option<(Function, u64, Event<'_>)> {
    let mut reader = Reader { bytes };
    let function = *Function::ALL.get(usize::from(reader.u8()?))?;
    let kind = reader.u8()?;
    let ttl = reader.u64()?;
    let id = IdText::from_digits(reader.array()?);
    let event = match kind {
        MESSAGE => {
            let ts_ms = reader.u64()?;
            let qos = reader.u8()?;
            let retain = reader.u8()? != 0;
            let from = reader.u32()?;
            let topic = reader.u32()?;
            let payload = reader.u32()?;
            Event::Message(MessageData {
                id,
                from: reader.str(from)?,
                qos,
                topic: reader.str(topic)?,
                retain,
                payload: reader.take(payload as usize)?,
                ts_ms,
            })
        }
        DELIVERY => {
            let qos = reader.u8()?;
            let client = reader.u32()?;
            let topic = reader.u32()?;
            Event::Delivery(DeliveryData {
                client_id: reader.str(client)?,
                qos,
                id,
                topic: reader.str(topic)?,
            })
        }
        _ => return None,
    };
    reader.bytes.is_empty().then_some((function, ttl, event))
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.bytes.len() {
            return None;
        }
        let (taken, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Some(taken)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.array()?))
    }

    fn str(&mut self, len: u32) -> Option<&'a str> {
        std::str::from_utf8(self.take(len as usize)?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packed(function: Function, ttl: u64, event: &Event<'_>) -> Vec<u8> {
        let mut bytes = Vec::new();
        assert!(pack(function, ttl, event, |parts| {
            for part in parts {
                bytes.extend_from_slice(part);
            }
        }));
        bytes
    }

    #[test]
    fn messages_and_deliveries_come_back_as_they_went_in() {
        let message = Event::Message(MessageData {
            id: "0Gm7bUq0Xk2Q0000000001".into(),
            from: "pub-ü",
            qos: 2,
            topic: "a/b",
            retain: true,
            payload: &[0, 255, 10],
            ts_ms: 1_481_685_802_123,
        });
        let bytes = packed(Function::MessagePublish, 3600, &message);
        let (function, ttl, back) = unpack(&bytes).unwrap();
        assert_eq!((function, ttl), (Function::MessagePublish, 3600));
        assert!(matches!((&back, &message), (Event::Message(a), Event::Message(b)) if a == b));

        let delivery = Event::Delivery(DeliveryData {
            client_id: "sub",
            qos: 1,
            id: "0Gm7bUq0Xk2Q0000000002".into(),
            topic: "",
        });
        let bytes = packed(Function::AckedForQueue, 0, &delivery);
        let (function, ttl, back) = unpack(&bytes).unwrap();
        assert_eq!((function, ttl), (Function::AckedForQueue, 0));
        assert!(matches!((&back, &delivery), (Event::Delivery(a), Event::Delivery(b)) if a == b));
    }

    #[test]
    fn other_bytes_are_refused_not_misread() {
        let message = Event::Message(MessageData {
            id: "0Gm7bUq0Xk2Q0000000001".into(),
            from: "p",
            qos: 1,
            topic: "t",
            retain: false,
            payload: b"xyz",
            ts_ms: 1,
        });
        let bytes = packed(Function::MessagePublish, 60, &message);
        for cut in 0..bytes.len() {
            assert!(unpack(&bytes[..cut]).is_none(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(unpack(&longer).is_none());
        let mut bad_kind = bytes.clone();
        bad_kind[1] = 7;
        assert!(unpack(&bad_kind).is_none());
        let mut bad_function = bytes;
        bad_function[0] = 200;
        assert!(unpack(&bad_function).is_none());
    }
}
