//! Messages at `message.publish`: `on_message_publish`,
//! `on_message_retain`, `on_retain_delete`, `on_message_store_keep_latest`.
//!
//! ```text
//! HMSET mqtt:msg:${msgid} id .. from .. qos .. topic .. retain .. payload .. ts ..
//! EXPIRE mqtt:msg:${msgid} ${expired_time}
//! ZADD mqtt:msg:${topic} 1 ${msgid}
//! HMSET mqtt:retain:${topic} ...      EXPIRE mqtt:retain:${topic} ${expired_time}
//! DEL mqtt:retain:${topic}
//! HMSET mqtt:latest_msg:${topic} ...  EXPIRE mqtt:latest_msg:${topic} ${expired_time}
//! ```

use crate::event::MessageData;
use crate::resp::CommandSink;

/// What the write functions of `message.publish` look at in a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Shape {
    /// QoS as published.
    pub(crate) qos: u8,
    /// Retain flag.
    pub(crate) retain: bool,
    /// Whether the payload is empty.
    pub(crate) empty: bool,
}

/// What stored messages' keys start with: `mqtt:msg:${msgid}` (hash) and
/// `mqtt:msg:${topic}` (sorted set).
pub(crate) const MSG_PREFIX: &[u8] = b"mqtt:msg:";
/// What retained messages' keys start with.
pub(crate) const RETAIN_PREFIX: &str = "mqtt:retain:";
/// What latest messages' keys start with.
pub(crate) const LATEST_PREFIX: &[u8] = b"mqtt:latest_msg:";

/// `mqtt:msg:${msgid}` (hash) or `mqtt:msg:${topic}` (sorted set).
pub(crate) fn msg_key(id_or_topic: &str) -> String {
    format!("mqtt:msg:{id_or_topic}")
}

/// `mqtt:retain:${topic}`.
pub(crate) fn retain_key(topic: &str) -> String {
    format!("{RETAIN_PREFIX}{topic}")
}

/// `mqtt:latest_msg:${topic}`.
pub(crate) fn latest_key(topic: &str) -> String {
    format!("mqtt:latest_msg:{topic}")
}

/// `HMSET key` with the message's seven fields, then `EXPIRE key ttl`;
/// the key is `prefix` + `name`.
fn store_hash(
    prefix: &[u8],
    name: &str,
    message: &MessageData,
    ttl: u64,
    out: &mut impl CommandSink,
) {
    out.begin(16);
    out.arg(b"HMSET");
    out.arg2(prefix, name.as_bytes());
    for (field, value) in message.fields() {
        out.arg(field.as_bytes());
        out.arg(&value);
    }
    out.begin(3);
    out.arg(b"EXPIRE");
    out.arg2(prefix, name.as_bytes());
    out.arg_u64(ttl);
}

/// Commands of `on_message_publish` for a message of this shape: none for
/// a retained message with an empty payload (a retained delete, whatever
/// the QoS), hash and TTL for QoS 0 retained, plus the topic's sorted set
/// for QoS 1 and 2.
pub(crate) fn publish_count(shape: Shape) -> usize {
    if shape.retain && shape.empty {
        0
    } else if shape.qos > 0 {
        3
    } else if shape.retain {
        2
    } else {
        0
    }
}

/// `on_message_publish`.
pub(crate) fn publish(message: &MessageData, ttl: u64, out: &mut impl CommandSink) {
    let shape = Shape {
        qos: message.qos,
        retain: message.retain,
        empty: message.payload.is_empty(),
    };
    if publish_count(shape) == 0 {
        return;
    }
    store_hash(MSG_PREFIX, &message.id, message, ttl, out);
    if message.qos > 0 {
        out.begin(4);
        out.arg(b"ZADD");
        out.arg2(MSG_PREFIX, message.topic.as_bytes());
        out.arg(b"1");
        out.arg(message.id.as_bytes());
    }
}

/// `on_message_retain`: a retained message with a payload.
pub(crate) fn retain(message: &MessageData, ttl: u64, out: &mut impl CommandSink) {
    if message.retain && !message.payload.is_empty() {
        store_hash(RETAIN_PREFIX.as_bytes(), &message.topic, message, ttl, out);
    }
}

/// `on_retain_delete`: a retained message with an empty payload.
pub(crate) fn retain_delete(message: &MessageData, out: &mut impl CommandSink) {
    if message.retain && message.payload.is_empty() {
        out.begin(2);
        out.arg(b"DEL");
        out.arg2(RETAIN_PREFIX.as_bytes(), message.topic.as_bytes());
    }
}

/// `on_message_store_keep_latest`: any message, any QoS.
pub(crate) fn store_keep_latest(message: &MessageData, ttl: u64, out: &mut impl CommandSink) {
    store_hash(LATEST_PREFIX, &message.topic, message, ttl, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::{words, CmdList};

    fn message(qos: u8, retain: bool, payload: &[u8]) -> MessageData {
        MessageData {
            id: "0Gm7bUq0Xk2Q0000000001".into(),
            from: "test".into(),
            qos,
            topic: "topic".into(),
            retain,
            payload: payload.to_vec(),
            ts_ms: 1_481_685_802_123,
        }
    }

    fn run(f: impl FnOnce(&mut CmdList)) -> Vec<Vec<String>> {
        let mut out = CmdList::default();
        f(&mut out);
        out.cmds.iter().map(words).collect()
    }

    const HASH: [&str; 14] = [
        "id",
        "0Gm7bUq0Xk2Q0000000001",
        "from",
        "test",
        "qos",
        "1",
        "topic",
        "topic",
        "retain",
        "false",
        "payload",
        "Hello world!",
        "ts",
        "1481685802123",
    ];

    #[test]
    fn qos1_message_is_stored_with_ttl_and_indexed_by_topic() {
        let out = run(|o| publish(&message(1, false, b"Hello world!"), 3600, o));
        let mut hmset = vec!["HMSET", "mqtt:msg:0Gm7bUq0Xk2Q0000000001"];
        hmset.extend(HASH);
        assert_eq!(
            out,
            [
                hmset,
                vec!["EXPIRE", "mqtt:msg:0Gm7bUq0Xk2Q0000000001", "3600"],
                vec!["ZADD", "mqtt:msg:topic", "1", "0Gm7bUq0Xk2Q0000000001"],
            ]
        );
    }

    #[test]
    fn qos0_is_stored_only_when_retained_and_retained_deletes_never() {
        assert!(run(|o| publish(&message(0, false, b"x"), 60, o)).is_empty());
        let retained = run(|o| publish(&message(0, true, b"x"), 60, o));
        assert_eq!(retained.len(), 2);
        assert_eq!(retained[0][0], "HMSET");
        assert_eq!(
            retained[1],
            ["EXPIRE", "mqtt:msg:0Gm7bUq0Xk2Q0000000001", "60"]
        );
        for qos in 0..=2 {
            assert!(run(|o| publish(&message(qos, true, b""), 60, o)).is_empty());
        }
    }

    #[test]
    fn retained_messages_are_stored_by_topic_or_deleted() {
        let out = run(|o| retain(&message(1, true, b"Hello world!"), 3600, o));
        assert_eq!(out[0][..2], ["HMSET", "mqtt:retain:topic"]);
        assert_eq!(out[0][10..12], ["retain", "true"]);
        assert_eq!(out[1], ["EXPIRE", "mqtt:retain:topic", "3600"]);
        assert!(run(|o| retain(&message(1, false, b"x"), 60, o)).is_empty());
        assert!(run(|o| retain(&message(1, true, b""), 60, o)).is_empty());
        assert_eq!(
            run(|o| retain_delete(&message(0, true, b""), o)),
            [["DEL", "mqtt:retain:topic"]]
        );
        assert!(run(|o| retain_delete(&message(0, true, b"x"), o)).is_empty());
    }

    #[test]
    fn keep_latest_stores_any_message() {
        let out = run(|o| store_keep_latest(&message(0, false, b"v"), 10, o));
        assert_eq!(out[0][..2], ["HMSET", "mqtt:latest_msg:topic"]);
        assert_eq!(out[1], ["EXPIRE", "mqtt:latest_msg:topic", "10"]);
    }
}
