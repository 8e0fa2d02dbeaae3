//! The bus's wire format: a batch of messages one node sends another in
//! one Redis pub/sub message. Pure: bytes in, bytes out.
//!
//! A batch is `MQC2`, the sending node's name (u16 length, bytes), then
//! frames until the end. A frame is one message with everything
//! `message.publish` saw of it, and the shared subscriptions the sending
//! node chose the receiving one to serve for it:
//!
//! | field | form |
//! |---|---|
//! | flags | u8: bit 0 retain, bits 1-2 QoS, bit 3 payload format, bit 4 expiry, bit 5 content type, bit 6 response topic, bit 7 correlation data |
//! | id | u128 |
//! | timestamp | u64, Unix ms |
//! | payload format | u8, if flagged |
//! | expiry | u32 seconds left, if flagged |
//! | topic, from | u16 length, bytes |
//! | content type, response topic, correlation data | u16 length, bytes, each if flagged |
//! | user properties | u16 count, then name and value, each u16 length, bytes |
//! | shared subscriptions to serve | u16 count, then each `$share/group/filter`, u16 length, bytes |
//! | payload | u32 length, bytes |
//!
//! A batch marked `MQC1` (a node of the version before) has no shared
//! subscriptions in its frames, and the receiver serves every group it
//! has, as that version did.
//!
//! Numbers are big-endian. Redis is shared, so a batch is read as hostile
//! input: every length is checked, and a batch that does not read is
//! refused whole, never half-delivered.

use mqhost_plugin_api::abi_stable::std_types::{ROption, RSlice, RStr, Tuple2};
use mqhost_plugin_api::{MessageEvent, MessageId, MessageProperties};

const MAGIC: &[u8; 4] = b"MQC2";
/// The mark of batches without shared subscriptions.
const MAGIC_V1: &[u8; 4] = b"MQC1";

const RETAIN: u8 = 1;
const QOS_SHIFT: u8 = 1;
const PAYLOAD_FORMAT: u8 = 1 << 3;
const EXPIRY: u8 = 1 << 4;
const CONTENT_TYPE: u8 = 1 << 5;
const RESPONSE_TOPIC: u8 = 1 << 6;
const CORRELATION: u8 = 1 << 7;

/// Starts a batch from `node` in `out` (emptied first).
pub(crate) fn start_batch(out: &mut Vec<u8>, node: &str) {
    out.clear();
    out.extend_from_slice(MAGIC);
    put_str(out, node.as_bytes());
}

/// Appends one message to a batch, with the shared subscriptions the
/// receiver is to serve for it.
pub(crate) fn put_message(out: &mut Vec<u8>, message: &MessageEvent<'_>, groups: &[&str]) {
    let props = &message.properties;
    let mut flags = (message.qos & 3) << QOS_SHIFT;
    if message.retain {
        flags |= RETAIN;
    }
    let pfi = props.payload_format_indicator.into_option();
    let expiry = props.message_expiry_interval.into_option();
    let content_type = props.content_type.into_option();
    let response_topic = props.response_topic.into_option();
    let correlation = props.correlation_data.into_option();
    for (present, flag) in [
        (pfi.is_some(), PAYLOAD_FORMAT),
        (expiry.is_some(), EXPIRY),
        (content_type.is_some(), CONTENT_TYPE),
        (response_topic.is_some(), RESPONSE_TOPIC),
        (correlation.is_some(), CORRELATION),
    ] {
        if present {
            flags |= flag;
        }
    }
    out.push(flags);
    out.extend_from_slice(&message.id.as_u128().to_be_bytes());
    out.extend_from_slice(&message.timestamp_ms.to_be_bytes());
    if let Some(pfi) = pfi {
        out.push(pfi);
    }
    if let Some(expiry) = expiry {
        out.extend_from_slice(&expiry.to_be_bytes());
    }
    put_str(out, message.topic.as_str().as_bytes());
    put_str(out, message.from.as_str().as_bytes());
    for text in [content_type, response_topic].into_iter().flatten() {
        put_str(out, text.as_str().as_bytes());
    }
    if let Some(data) = correlation {
        put_str(out, data.as_slice());
    }
    let pairs = props.user_properties.as_slice();
    out.extend_from_slice(&(pairs.len().min(usize::from(u16::MAX)) as u16).to_be_bytes());
    for pair in pairs.iter().take(usize::from(u16::MAX)) {
        put_str(out, pair.0.as_str().as_bytes());
        put_str(out, pair.1.as_str().as_bytes());
    }
    out.extend_from_slice(&(groups.len().min(usize::from(u16::MAX)) as u16).to_be_bytes());
    for group in groups.iter().take(usize::from(u16::MAX)) {
        put_str(out, group.as_bytes());
    }
    let payload = message.payload.as_slice();
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
}

/// MQTT strings are at most 65,535 bytes, so a u16 length always holds
/// them; a longer one (never made by the broker) is cut.
fn put_str(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = bytes.len().min(usize::from(u16::MAX));
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.extend_from_slice(&bytes[..len]);
}

/// One message read from a batch, borrowing its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Frame<'a> {
    pub(crate) id: u128,
    pub(crate) topic: &'a str,
    pub(crate) payload: &'a [u8],
    pub(crate) qos: u8,
    pub(crate) retain: bool,
    pub(crate) from: &'a str,
    pub(crate) timestamp_ms: u64,
    pub(crate) payload_format: Option<u8>,
    pub(crate) expiry: Option<u32>,
    pub(crate) content_type: Option<&'a str>,
    pub(crate) response_topic: Option<&'a str>,
    pub(crate) correlation: Option<&'a [u8]>,
    pub(crate) user_properties: Vec<Tuple2<RStr<'a>, RStr<'a>>>,
    /// The shared subscriptions to serve; None in an `MQC1` batch.
    pub(crate) groups: Option<Vec<&'a str>>,
}

impl<'a> Frame<'a> {
    /// The message as the host's `publish_local` takes it.
    pub(crate) fn event(&'a self, node: &'a str) -> MessageEvent<'a> {
        MessageEvent {
            id: MessageId::from_u128(self.id),
            topic: RStr::from_str(self.topic),
            payload: RSlice::from_slice(self.payload),
            qos: self.qos,
            retain: self.retain,
            from: RStr::from_str(self.from),
            timestamp_ms: self.timestamp_ms,
            properties: MessageProperties {
                payload_format_indicator: self.payload_format.into(),
                message_expiry_interval: self.expiry.into(),
                content_type: self.content_type.map(RStr::from_str).into(),
                response_topic: self.response_topic.map(RStr::from_str).into(),
                correlation_data: match self.correlation {
                    Some(data) => ROption::RSome(RSlice::from_slice(data)),
                    None => ROption::RNone,
                },
                user_properties: RSlice::from_slice(&self.user_properties),
            },
            node: RStr::from_str(node),
        }
    }
}

/// A batch read back: the node it came from and its messages.
#[derive(Debug)]
pub(crate) struct Batch<'a> {
    pub(crate) node: &'a str,
    pub(crate) frames: Vec<Frame<'a>>,
}

/// Reads a batch; the error says what was wrong with it.
pub(crate) fn read_batch(bytes: &[u8]) -> Result<Batch<'_>, String> {
    let mut reader = Reader {
        bytes,
        at: 0,
        groups: true,
    };
    match reader.take(4)? {
        mark if mark == MAGIC => {}
        mark if mark == MAGIC_V1 => reader.groups = false,
        _ => return Err("not a cluster batch (no MQC2 or MQC1 mark)".to_owned()),
    }
    let node = reader.text()?;
    let mut frames = Vec::new();
    while reader.at < bytes.len() {
        frames.push(reader.frame()?);
    }
    Ok(Batch { node, frames })
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    /// Whether frames carry shared subscriptions (`MQC2`).
    groups: bool,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| format!("cut short at byte {}", self.at))?;
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn bytes16(&mut self) -> Result<&'a [u8], String> {
        let len = u16::from_be_bytes(self.array()?);
        self.take(usize::from(len))
    }

    fn text(&mut self) -> Result<&'a str, String> {
        let at = self.at;
        std::str::from_utf8(self.bytes16()?)
            .map_err(|_| format!("text that is not UTF-8 at byte {at}"))
    }

    fn frame(&mut self) -> Result<Frame<'a>, String> {
        let [flags] = self.array()?;
        let id = u128::from_be_bytes(self.array()?);
        let timestamp_ms = u64::from_be_bytes(self.array()?);
        let qos = (flags >> QOS_SHIFT) & 3;
        if qos > 2 {
            return Err(format!("QoS 3 in the frame ending at byte {}", self.at));
        }
        let payload_format = if flags & PAYLOAD_FORMAT != 0 {
            Some(self.array::<1>()?[0])
        } else {
            None
        };
        let expiry = if flags & EXPIRY != 0 {
            Some(u32::from_be_bytes(self.array()?))
        } else {
            None
        };
        let topic = self.text()?;
        if mqhost_plugin_api::topic::validate_topic_name(topic).is_err() {
            return Err(format!("a topic that is not a topic name: {topic:?}"));
        }
        let from = self.text()?;
        let content_type = (flags & CONTENT_TYPE != 0)
            .then(|| self.text())
            .transpose()?;
        let response_topic = (flags & RESPONSE_TOPIC != 0)
            .then(|| self.text())
            .transpose()?;
        let correlation = (flags & CORRELATION != 0)
            .then(|| self.bytes16())
            .transpose()?;
        let count = u16::from_be_bytes(self.array()?);
        let mut user_properties = Vec::with_capacity(usize::from(count).min(64));
        for _ in 0..count {
            let name = self.text()?;
            let value = self.text()?;
            user_properties.push(Tuple2(RStr::from_str(name), RStr::from_str(value)));
        }
        let groups = if self.groups {
            let count = u16::from_be_bytes(self.array()?);
            let mut groups = Vec::with_capacity(usize::from(count).min(64));
            for _ in 0..count {
                let group = self.text()?;
                if !matches!(mqhost_plugin_api::topic::parse_shared(group), Ok(Some(_))) {
                    return Err(format!("a shared subscription that is not one: {group:?}"));
                }
                groups.push(group);
            }
            Some(groups)
        } else {
            None
        };
        let len = u32::from_be_bytes(self.array()?);
        let payload = self.take(len as usize)?;
        Ok(Frame {
            id,
            topic,
            payload,
            qos,
            retain: flags & RETAIN != 0,
            from,
            timestamp_ms,
            payload_format,
            expiry,
            content_type,
            response_topic,
            correlation,
            user_properties,
            groups,
        })
    }
}

#[cfg(test)]
mod tests {
    use mqhost_plugin_api::testing::{message_event, UserProperties};

    use super::*;

    #[test]
    fn a_batch_reads_back_as_written_with_every_property() {
        let pairs = UserProperties::new(&[("unit", "C"), ("unit", "K")]);
        let full = message_event("sensors/t1")
            .id(MessageId::from_u128(u128::MAX - 7))
            .payload(b"21.5")
            .qos(2)
            .retain(true)
            .from("pub-1")
            .timestamp_ms(1_700_000_000_123)
            .payload_format_indicator(1)
            .message_expiry_interval(30)
            .content_type("text/plain")
            .response_topic("replies/1")
            .correlation_data(b"\x00\x01")
            .user_properties(&pairs)
            .build();
        let bare = message_event("a").build();
        let mut out = Vec::new();
        start_batch(&mut out, "n1");
        put_message(&mut out, &full, &["$share/g/sensors/+", "$share/h/#"]);
        put_message(&mut out, &bare, &[]);
        let batch = read_batch(&out).unwrap();
        assert_eq!(batch.node, "n1");
        assert_eq!(batch.frames.len(), 2);
        let frame = &batch.frames[0];
        let event = frame.event("n1");
        assert_eq!(event.id, full.id);
        assert_eq!(
            (
                event.topic.as_str(),
                event.payload.as_slice(),
                event.qos,
                event.retain
            ),
            ("sensors/t1", &b"21.5"[..], 2, true)
        );
        assert_eq!(
            (event.from.as_str(), event.timestamp_ms),
            ("pub-1", 1_700_000_000_123)
        );
        let props = event.properties;
        assert_eq!(props.payload_format_indicator.into_option(), Some(1));
        assert_eq!(props.message_expiry_interval.into_option(), Some(30));
        assert_eq!(
            props.content_type.into_option().map(|s| s.as_str()),
            Some("text/plain")
        );
        assert_eq!(
            props.response_topic.into_option().map(|s| s.as_str()),
            Some("replies/1")
        );
        assert_eq!(
            props.correlation_data.into_option().map(|d| d.to_vec()),
            Some(vec![0, 1])
        );
        let read: Vec<(&str, &str)> = props
            .user_properties
            .iter()
            .map(|p| (p.0.as_str(), p.1.as_str()))
            .collect();
        assert_eq!(read, [("unit", "C"), ("unit", "K")]);
        let bare_back = &batch.frames[1];
        assert_eq!(
            (bare_back.topic, bare_back.qos, bare_back.retain),
            ("a", 0, false)
        );
        assert_eq!(bare_back.expiry, None);
        assert_eq!(
            frame.groups.as_deref(),
            Some(&["$share/g/sensors/+", "$share/h/#"][..])
        );
        assert_eq!(bare_back.groups.as_deref(), Some(&[][..]));
    }

    /// A batch of the version before: no shared subscriptions, and the
    /// receiver serves every group.
    #[test]
    fn a_batch_marked_mqc1_reads_without_shared_subscriptions() {
        let mut v2 = Vec::new();
        start_batch(&mut v2, "n1");
        put_message(&mut v2, &message_event("a/b").payload(b"xyz").build(), &[]);
        // The same frame without its (empty) list is an MQC1 frame.
        let count_at = v2.len() - 4 - 3 - 2;
        let mut v1 = v2.clone();
        v1.drain(count_at..count_at + 2);
        v1[..4].copy_from_slice(MAGIC_V1);
        let batch = read_batch(&v1).unwrap();
        assert_eq!(batch.frames.len(), 1);
        assert_eq!(batch.frames[0].payload, b"xyz");
        assert_eq!(batch.frames[0].groups, None);
    }

    #[test]
    fn a_frame_naming_what_is_not_a_shared_subscription_is_refused() {
        for bad in ["plain/topic", "$share/g", "$share/+/t"] {
            let mut out = Vec::new();
            start_batch(&mut out, "n1");
            put_message(&mut out, &message_event("a").build(), &[bad]);
            assert!(read_batch(&out).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_cut_of_a_batch_is_refused_without_a_panic() {
        let mut out = Vec::new();
        start_batch(&mut out, "n1");
        put_message(
            &mut out,
            &message_event("a/b").payload(b"xyz").qos(1).build(),
            &["$share/g/a/+"],
        );
        for end in 0..out.len() {
            let cut = &out[..end];
            // A cut between frames is a shorter batch; inside one, an error.
            if let Ok(batch) = read_batch(cut) {
                assert!(batch.frames.is_empty(), "{end}");
            }
        }
        let mut bad = out.clone();
        bad[0] = b'X';
        assert!(read_batch(&bad).is_err());
        // QoS 3, a wildcard topic: refused.
        let mut qos3 = out.clone();
        qos3[8] |= 3 << QOS_SHIFT;
        assert!(read_batch(&qos3).is_err());
        let mut wild = Vec::new();
        start_batch(&mut wild, "n1");
        put_message(&mut wild, &message_event("a/+").build(), &[]);
        assert!(read_batch(&wild).is_err());
    }
}
