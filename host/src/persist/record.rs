//! One change to the durable state as the log holds it: [`Record`], its
//! encoding into a frame (length, CRC-32 of the body, body) and back.
//!
//! A frame is `len: u32 LE | crc32(body): u32 LE | body`, the body a kind
//! byte and its fields. Decoding trusts nothing: every length is checked
//! against the bytes that are there before anything is allocated, every
//! string must be UTF-8, a message's topic, payload and properties are the
//! codec's strict 5.0 PUBLISH decoding. Messages are written once (a
//! [`Record::Message`] before the first record that names them) and named
//! by their id afterwards.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use mqhost_codec::{
    decode as decode_packet, encode_publish, Packet, ProtocolVersion, PublishView, QoS,
    SubscriptionOptions,
};

use crate::broker::message::{unix_millis, Message, MessageId};
use crate::broker::session::Delivery;

/// Bytes before a record's body: its length and its CRC.
pub const FRAME_HEADER: usize = 8;

/// The largest body a frame may announce: a message of the largest
/// packet MQTT allows, with room for the record's own fields. A larger
/// length is a corrupt frame, never an allocation.
pub const MAX_BODY: usize = 268_435_455 + 64 * 1024;

/// One change to the durable state. Client ids and names are `Arc<str>`
/// so that the message path hands them over without copying.
#[derive(Debug, Clone)]
pub enum Record {
    /// A message's body; later records name it by id.
    Message(Arc<Message>),
    /// The retained message of its topic.
    Retain(Arc<Message>),
    /// The topic has no retained message any more.
    Unretain(Arc<str>),
    /// A session that outlives its connection: its expiry, and when its
    /// client left (Unix ms; 0 while connected).
    Session {
        client: Arc<str>,
        username: Option<Arc<str>>,
        expiry: u32,
        detached_ms: u64,
    },
    /// The session is gone, and everything it held.
    SessionEnd(Arc<str>),
    Subscribe {
        client: Arc<str>,
        filter: Arc<str>,
        options: SubscriptionOptions,
        identifier: Option<u32>,
    },
    Unsubscribe {
        client: Arc<str>,
        filter: Arc<str>,
    },
    /// A message queued for the session, `seq` its number in the session.
    Enqueue {
        client: Arc<str>,
        seq: u64,
        delivery: Delivery,
    },
    /// Queued message `seq` was sent as `packet_id`.
    Sent {
        client: Arc<str>,
        seq: u64,
        packet_id: u16,
    },
    /// QoS 2 message `seq` got its PUBREC: PUBREL is owed.
    Released {
        client: Arc<str>,
        seq: u64,
    },
    /// Message `seq` is finished with (acknowledged, dropped, expired).
    Done {
        client: Arc<str>,
        seq: u64,
    },
    /// An inbound QoS 2 packet id acknowledged with PUBREC, awaiting PUBREL.
    Qos2In {
        client: Arc<str>,
        packet_id: u16,
    },
    /// Its PUBREL came.
    Qos2Rel {
        client: Arc<str>,
        packet_id: u16,
    },
    /// A will waiting for its delay, due at `at_ms` (Unix ms).
    Will {
        client: Arc<str>,
        at_ms: u64,
        message: Arc<Message>,
    },
    /// The will was published or cancelled.
    WillClear(Arc<str>),
}

const MESSAGE: u8 = 1;
const RETAIN: u8 = 2;
const UNRETAIN: u8 = 3;
const SESSION: u8 = 4;
const SESSION_END: u8 = 5;
const SUBSCRIBE: u8 = 6;
const UNSUBSCRIBE: u8 = 7;
const ENQUEUE: u8 = 8;
const SENT: u8 = 9;
const RELEASED: u8 = 10;
const DONE: u8 = 11;
const QOS2_IN: u8 = 12;
const QOS2_REL: u8 = 13;
const WILL: u8 = 14;
const WILL_CLEAR: u8 = 15;

/// Why a frame or body did not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than the frame or a field needs (a torn write).
    Truncated,
    /// The length field is beyond [`MAX_BODY`].
    TooLong(u64),
    /// The body does not match its CRC.
    Checksum,
    /// A kind byte or field value this version does not know.
    Invalid(&'static str),
    /// A record names a message whose body is not in the log.
    UnknownMessage(u128),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Truncated => f.write_str("record cut short"),
            DecodeError::TooLong(n) => write!(f, "record length {n} beyond any record"),
            DecodeError::Checksum => f.write_str("record checksum mismatch"),
            DecodeError::Invalid(what) => write!(f, "invalid record: {what}"),
            DecodeError::UnknownMessage(id) => {
                write!(f, "record names message {id:032x}, not stored")
            }
        }
    }
}

/// Appends `record` to `out` as one frame.
pub fn encode(record: &Record, out: &mut Vec<u8>) {
    let start = begin(out);
    let mut w = Writer(out);
    match record {
        Record::Message(message) => w.message(message),
        Record::Retain(message) => {
            w.u8(RETAIN);
            w.u128(message.id.0);
        }
        Record::Unretain(topic) => {
            w.u8(UNRETAIN);
            w.str(topic);
        }
        Record::Session {
            client,
            username,
            expiry,
            detached_ms,
        } => {
            w.u8(SESSION);
            w.str(client);
            w.u8(u8::from(username.is_some()));
            w.str(username.as_deref().unwrap_or(""));
            w.u32(*expiry);
            w.u64(*detached_ms);
        }
        Record::SessionEnd(client) => {
            w.u8(SESSION_END);
            w.str(client);
        }
        Record::Subscribe {
            client,
            filter,
            options,
            identifier,
        } => {
            w.u8(SUBSCRIBE);
            w.str(client);
            w.str(filter);
            w.u8(options_byte(options));
            w.u32(identifier.unwrap_or(0));
        }
        Record::Unsubscribe { client, filter } => {
            w.u8(UNSUBSCRIBE);
            w.str(client);
            w.str(filter);
        }
        Record::Enqueue {
            client,
            seq,
            delivery,
        } => {
            w.u8(ENQUEUE);
            w.str(client);
            w.u64(*seq);
            w.u128(delivery.message.id.0);
            w.u8(u8::from(delivery.qos) | (u8::from(delivery.retain) << 2));
            w.u32(delivery.subscription_ids.len() as u32);
            for id in &delivery.subscription_ids {
                w.u32(*id);
            }
        }
        Record::Sent {
            client,
            seq,
            packet_id,
        } => {
            w.u8(SENT);
            w.str(client);
            w.u64(*seq);
            w.u16(*packet_id);
        }
        Record::Released { client, seq } => {
            w.u8(RELEASED);
            w.str(client);
            w.u64(*seq);
        }
        Record::Done { client, seq } => {
            w.u8(DONE);
            w.str(client);
            w.u64(*seq);
        }
        Record::Qos2In { client, packet_id } => {
            w.u8(QOS2_IN);
            w.str(client);
            w.u16(*packet_id);
        }
        Record::Qos2Rel { client, packet_id } => {
            w.u8(QOS2_REL);
            w.str(client);
            w.u16(*packet_id);
        }
        Record::Will {
            client,
            at_ms,
            message,
        } => {
            w.u8(WILL);
            w.str(client);
            w.u64(*at_ms);
            w.u128(message.id.0);
        }
        Record::WillClear(client) => {
            w.u8(WILL_CLEAR);
            w.str(client);
        }
    }
    seal(out, start);
}

/// Appends the [`Record::Message`] of `message` to `out` as one frame.
pub fn encode_message(message: &Message, out: &mut Vec<u8>) {
    let start = begin(out);
    Writer(out).message(message);
    seal(out, start);
}

/// Room for a frame's header; returns where the frame starts.
fn begin(out: &mut Vec<u8>) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_HEADER]);
    start
}

/// Fills in the header of the frame at `start` from the body after it.
fn seal(out: &mut [u8], start: usize) {
    let body = &out[start + FRAME_HEADER..];
    let len = body.len() as u32;
    let crc = crc32fast::hash(body);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// The message ids a record names (not the bodies it carries).
pub fn names(record: &Record) -> Option<&Arc<Message>> {
    match record {
        Record::Retain(message) | Record::Will { message, .. } => Some(message),
        Record::Enqueue { delivery, .. } => Some(&delivery.message),
        _ => None,
    }
}

/// Reads the frame at the start of `bytes`: its body and the bytes it
/// took. Never reads or allocates past `bytes`.
pub fn frame(bytes: &[u8]) -> Result<(&[u8], usize), DecodeError> {
    let header = bytes.get(..FRAME_HEADER).ok_or(DecodeError::Truncated)?;
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if len > MAX_BODY {
        return Err(DecodeError::TooLong(len as u64));
    }
    let body = bytes
        .get(FRAME_HEADER..FRAME_HEADER + len)
        .ok_or(DecodeError::Truncated)?;
    if crc32fast::hash(body) != crc {
        return Err(DecodeError::Checksum);
    }
    Ok((body, FRAME_HEADER + len))
}

/// Decodes a body whose CRC matched; `message` finds a message by id
/// among those already read.
pub fn decode(
    body: &[u8],
    message: &dyn Fn(u128) -> Option<Arc<Message>>,
) -> Result<Record, DecodeError> {
    let mut r = Reader(body);
    let find = |id: u128| message(id).ok_or(DecodeError::UnknownMessage(id));
    let record = match r.u8()? {
        MESSAGE => Record::Message(r.message()?),
        RETAIN => Record::Retain(find(r.u128()?)?),
        UNRETAIN => Record::Unretain(r.str()?),
        SESSION => Record::Session {
            client: r.str()?,
            username: {
                let present = r.u8()? != 0;
                let name = r.str()?;
                present.then_some(name)
            },
            expiry: r.u32()?,
            detached_ms: r.u64()?,
        },
        SESSION_END => Record::SessionEnd(r.str()?),
        SUBSCRIBE => Record::Subscribe {
            client: r.str()?,
            filter: r.str()?,
            options: options_from(r.u8()?)?,
            identifier: Some(r.u32()?).filter(|id| *id != 0),
        },
        UNSUBSCRIBE => Record::Unsubscribe {
            client: r.str()?,
            filter: r.str()?,
        },
        ENQUEUE => {
            let client = r.str()?;
            let seq = r.u64()?;
            let message = find(r.u128()?)?;
            let flags = r.u8()?;
            let qos = QoS::try_from(flags & 3).map_err(|_| DecodeError::Invalid("QoS"))?;
            let count = r.u32()? as usize;
            // Four bytes each: a count beyond what is left is a lie.
            if count > r.0.len() / 4 {
                return Err(DecodeError::Truncated);
            }
            let mut subscription_ids = Vec::with_capacity(count);
            for _ in 0..count {
                subscription_ids.push(r.u32()?);
            }
            Record::Enqueue {
                client,
                seq,
                delivery: Delivery {
                    seq,
                    ..Delivery::new(message, qos, flags & 4 != 0, subscription_ids)
                },
            }
        }
        SENT => Record::Sent {
            client: r.str()?,
            seq: r.u64()?,
            packet_id: r.u16()?,
        },
        RELEASED => Record::Released {
            client: r.str()?,
            seq: r.u64()?,
        },
        DONE => Record::Done {
            client: r.str()?,
            seq: r.u64()?,
        },
        QOS2_IN => Record::Qos2In {
            client: r.str()?,
            packet_id: r.u16()?,
        },
        QOS2_REL => Record::Qos2Rel {
            client: r.str()?,
            packet_id: r.u16()?,
        },
        WILL => Record::Will {
            client: r.str()?,
            at_ms: r.u64()?,
            message: find(r.u128()?)?,
        },
        WILL_CLEAR => Record::WillClear(r.str()?),
        _ => return Err(DecodeError::Invalid("unknown kind")),
    };
    if !r.0.is_empty() {
        return Err(DecodeError::Invalid("bytes after the record"));
    }
    Ok(record)
}

fn options_byte(options: &SubscriptionOptions) -> u8 {
    u8::from(options.qos)
        | (u8::from(options.no_local) << 2)
        | (u8::from(options.retain_as_published) << 3)
        | ((options.retain_handling & 3) << 4)
}

fn options_from(byte: u8) -> Result<SubscriptionOptions, DecodeError> {
    Ok(SubscriptionOptions {
        qos: QoS::try_from(byte & 3).map_err(|_| DecodeError::Invalid("QoS"))?,
        no_local: byte & 4 != 0,
        retain_as_published: byte & 8 != 0,
        retain_handling: (byte >> 4) & 3,
    })
}

/// The largest room [`SCRATCH`] keeps between messages.
const SCRATCH_MAX: usize = 64 * 1024;

thread_local! {
    /// Where a message is encoded as a PUBLISH before it is copied into
    /// its record: one buffer reused, not one allocated per message.
    static SCRATCH: RefCell<BytesMut> = RefCell::new(BytesMut::new());
}

struct Writer<'a>(&'a mut Vec<u8>);

impl Writer<'_> {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u128(&mut self, v: u128) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, v: &[u8]) {
        self.u32(v.len() as u32);
        self.0.extend_from_slice(v);
    }
    fn str(&mut self, v: &str) {
        self.bytes(v.as_bytes());
    }

    /// A message record's body: its kind, the message's id, publisher,
    /// timestamp, expiry deadline (Unix ms, 0 for none), then topic,
    /// payload, QoS, retain and properties as a 5.0 PUBLISH, the codec's
    /// one encoding of them.
    fn message(&mut self, message: &Message) {
        self.u8(MESSAGE);
        self.u128(message.id.0);
        self.str(&message.from);
        self.u64(message.timestamp_ms);
        self.u64(message.expires_at.map_or(0, deadline_ms));
        let view = PublishView {
            dup: false,
            qos: message.qos,
            retain: message.retain,
            topic: &message.topic,
            packet_id: 1,
            payload: &message.payload,
            properties: &message.properties,
            topic_alias: None,
            message_expiry_interval: None,
            subscription_identifiers: &[],
        };
        SCRATCH.with(|scratch| {
            let mut packet = scratch.borrow_mut();
            packet.clear();
            // A message the broker accepted encodes; one that would not
            // is written empty and refused when read back.
            if encode_publish(&view, ProtocolVersion::V5, &mut packet).is_err() {
                packet.clear();
            }
            self.bytes(&packet);
            // A large message's room is not kept for the next.
            if packet.capacity() > SCRATCH_MAX {
                *packet = BytesMut::new();
            }
        });
    }
}

/// An expiry deadline as Unix ms, so that it means the same after a
/// restart (the time the broker was down counts).
pub fn deadline_ms(at: Instant) -> u64 {
    let now = Instant::now();
    let now_ms = unix_millis();
    if at >= now {
        now_ms.saturating_add(at.duration_since(now).as_millis() as u64)
    } else {
        now_ms.saturating_sub(now.duration_since(at).as_millis() as u64)
    }
}

/// A Unix ms deadline back as an `Instant` (one already past is now).
pub fn instant_of(deadline_ms: u64) -> Instant {
    // A deadline from a damaged or hostile file may be ages away: capped
    // at a century, so that adding it to now cannot overflow.
    const CENTURY_MS: u64 = 100 * 365 * 24 * 3600 * 1000;
    let now = Instant::now();
    let left = deadline_ms.saturating_sub(unix_millis()).min(CENTURY_MS);
    now.checked_add(Duration::from_millis(left)).unwrap_or(now)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.0.len() {
            return Err(DecodeError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn u128(&mut self) -> Result<u128, DecodeError> {
        Ok(u128::from_le_bytes(self.array()?))
    }
    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.u32()? as usize;
        self.take(len)
    }
    fn str(&mut self) -> Result<Arc<str>, DecodeError> {
        let bytes = self.bytes()?;
        std::str::from_utf8(bytes)
            .map(Arc::from)
            .map_err(|_| DecodeError::Invalid("text not UTF-8"))
    }

    fn message(&mut self) -> Result<Arc<Message>, DecodeError> {
        let id = self.u128()?;
        let from = self.str()?;
        let timestamp_ms = self.u64()?;
        let expires_ms = self.u64()?;
        let mut packet = BytesMut::from(self.bytes()?);
        let publish = match decode_packet(&mut packet, Some(ProtocolVersion::V5), u32::MAX) {
            Ok(Some(Packet::Publish(publish))) if packet.is_empty() => publish,
            _ => return Err(DecodeError::Invalid("message")),
        };
        if publish.topic.is_empty() {
            return Err(DecodeError::Invalid("message without a topic"));
        }
        Ok(Arc::new(Message {
            id: MessageId(id),
            topic: Arc::from(publish.topic),
            payload: publish.payload,
            qos: publish.qos,
            retain: publish.retain,
            properties: publish.properties,
            from,
            from_session: None,
            timestamp_ms,
            expires_at: (expires_ms != 0).then(|| instant_of(expires_ms)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::test_support;

    /// A message with every field the log keeps set.
    pub(crate) fn message(id: u128, topic: &str, payload: &[u8]) -> Arc<Message> {
        Arc::new(Message {
            qos: QoS::ExactlyOnce,
            retain: true,
            properties: mqhost_codec::PublishProperties {
                content_type: Some("text/plain".into()),
                user_properties: vec![("k".into(), "v".into())],
                ..Default::default()
            },
            from: Arc::from("pub"),
            timestamp_ms: 1234,
            expires_at: Some(Instant::now() + Duration::from_secs(60)),
            ..test_support::message(id, topic, Bytes::copy_from_slice(payload))
        })
    }

    fn round_trip(record: &Record, known: &[Arc<Message>]) -> Record {
        let mut out = Vec::new();
        encode(record, &mut out);
        let (body, used) = frame(&out).unwrap();
        assert_eq!(used, out.len());
        decode(body, &|id| known.iter().find(|m| m.id.0 == id).cloned()).unwrap()
    }

    #[test]
    fn a_message_reads_back_as_written_expiry_as_a_deadline() {
        let m = message(7, "a/b", b"payload");
        let Record::Message(back) = round_trip(&Record::Message(Arc::clone(&m)), &[]) else {
            panic!("not a message");
        };
        assert_eq!(back.id, m.id);
        assert_eq!(&*back.topic, "a/b");
        assert_eq!(back.payload, m.payload);
        assert_eq!(back.qos, QoS::ExactlyOnce);
        assert!(back.retain);
        assert_eq!(back.properties, m.properties);
        assert_eq!(&*back.from, "pub");
        assert_eq!(back.timestamp_ms, 1234);
        let left = back.remaining_expiry(Instant::now()).unwrap();
        assert!((59..=60).contains(&left), "{left}");
    }

    #[test]
    fn every_kind_reads_back() {
        let m = message(9, "t", b"x");
        let c: Arc<str> = Arc::from("client");
        let records = vec![
            Record::Retain(Arc::clone(&m)),
            Record::Unretain(Arc::from("t")),
            Record::Session {
                client: c.clone(),
                username: Some(Arc::from("alice")),
                expiry: 60,
                detached_ms: 5,
            },
            Record::SessionEnd(c.clone()),
            Record::Subscribe {
                client: c.clone(),
                filter: Arc::from("a/+"),
                options: SubscriptionOptions {
                    qos: QoS::AtLeastOnce,
                    no_local: true,
                    retain_as_published: true,
                    retain_handling: 2,
                },
                identifier: Some(42),
            },
            Record::Unsubscribe {
                client: c.clone(),
                filter: Arc::from("a/+"),
            },
            Record::Enqueue {
                client: c.clone(),
                seq: 3,
                delivery: Delivery {
                    seq: 3,
                    ..Delivery::new(Arc::clone(&m), QoS::AtLeastOnce, true, vec![1, 2])
                },
            },
            Record::Sent {
                client: c.clone(),
                seq: 3,
                packet_id: 9,
            },
            Record::Released {
                client: c.clone(),
                seq: 3,
            },
            Record::Done {
                client: c.clone(),
                seq: 3,
            },
            Record::Qos2In {
                client: c.clone(),
                packet_id: 4,
            },
            Record::Qos2Rel {
                client: c.clone(),
                packet_id: 4,
            },
            Record::Will {
                client: c.clone(),
                at_ms: 77,
                message: Arc::clone(&m),
            },
            Record::WillClear(c.clone()),
        ];
        for record in &records {
            let back = round_trip(record, &[Arc::clone(&m)]);
            // Debug shows every field; Instants inside messages compare
            // by the same Arc.
            assert_eq!(format!("{back:?}"), format!("{record:?}"));
        }
    }

    #[test]
    fn a_deadline_ages_away_is_capped_not_a_panic() {
        let at = instant_of(u64::MAX);
        assert!(at > Instant::now() + Duration::from_secs(3600));
        assert!(instant_of(0) <= Instant::now());
    }

    #[test]
    fn a_record_naming_an_unknown_message_is_refused() {
        let mut out = Vec::new();
        encode(&Record::Retain(message(5, "t", b"x")), &mut out);
        let (body, _) = frame(&out).unwrap();
        assert_eq!(
            decode(body, &|_| None).unwrap_err(),
            DecodeError::UnknownMessage(5)
        );
    }

    /// Every cut and every flipped bit of a frame is an error, never a
    /// panic, and never a different record.
    #[test]
    fn cut_or_flipped_frames_are_errors() {
        let m = message(1, "a/b", b"hello");
        let mut out = Vec::new();
        encode(&Record::Message(m), &mut out);
        for cut in 0..out.len() {
            assert!(frame(&out[..cut]).is_err(), "cut at {cut}");
        }
        for byte in 0..out.len() {
            for bit in 0..8 {
                let mut bad = out.clone();
                bad[byte] ^= 1 << bit;
                if let Ok((body, _)) = frame(&bad) {
                    // Only a flip in the length can still frame (shorter
                    // body with a matching CRC is astronomically rare).
                    let _ = decode(body, &|_| None);
                }
            }
        }
    }

    /// A body of any bytes that passes the CRC decodes or fails, bounded.
    #[test]
    fn hostile_bodies_never_panic_nor_allocate_from_lengths() {
        let mut seed = 0x1234_5678_u64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 64) as usize;
            let mut body = Vec::with_capacity(len);
            let mut s = seed;
            for _ in 0..len {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
                body.push((s >> 56) as u8);
            }
            body[..len.min(1)].iter_mut().for_each(|b| *b %= 16);
            let _ = decode(&body, &|id| Some(message(id, "t", b"")));
        }
        // A length field of 4 GiB with nothing behind it.
        let mut frame_bytes = vec![0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];
        frame_bytes.extend_from_slice(b"abc");
        assert!(matches!(frame(&frame_bytes), Err(DecodeError::TooLong(_))));
        let body = [ENQUEUE, 1, 0, 0, 0, b'c'];
        assert!(decode(&body, &|_| None).is_err());
    }
}
