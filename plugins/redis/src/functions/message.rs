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

use redis::{cmd, Cmd};

use super::Shape;
use crate::event::MessageData;

/// `mqtt:msg:${msgid}` (hash) or `mqtt:msg:${topic}` (sorted set).
pub fn msg_key(id_or_topic: &str) -> String {
    format!("mqtt:msg:{id_or_topic}")
}

/// `mqtt:retain:${topic}`.
pub fn retain_key(topic: &str) -> String {
    format!("{RETAIN_PREFIX}{topic}")
}

/// What every retained message key starts with.
pub const RETAIN_PREFIX: &str = "mqtt:retain:";

/// `mqtt:latest_msg:${topic}`.
pub fn latest_key(topic: &str) -> String {
    format!("mqtt:latest_msg:{topic}")
}

/// `HMSET key` with the message's seven fields, then `EXPIRE key ttl`.
fn store_hash(key: String, message: &MessageData, ttl: u64, out: &mut Vec<Cmd>) {
    let mut hash = Cmd::with_capacity(16, key.len() + message.payload.len() + 128);
    hash.arg("HMSET").arg(&key);
    for (field, value) in message.fields() {
        hash.arg(field).arg(&*value);
    }
    out.push(hash);
    let mut expire = cmd("EXPIRE");
    expire.arg(key).arg(ttl);
    out.push(expire);
}

/// Commands of `on_message_publish` for a message of this shape: none for
/// a retained message with an empty payload (a retained delete, whatever
/// the QoS), hash and TTL for QoS 0 retained, plus the topic's sorted set
/// for QoS 1 and 2.
pub fn publish_count(shape: Shape) -> usize {
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
pub fn publish(message: &MessageData, ttl: u64, out: &mut Vec<Cmd>) {
    let shape = Shape {
        qos: message.qos,
        retain: message.retain,
        empty: message.payload.is_empty(),
    };
    if publish_count(shape) == 0 {
        return;
    }
    store_hash(msg_key(&message.id), message, ttl, out);
    if message.qos > 0 {
        let mut zadd = cmd("ZADD");
        zadd.arg(msg_key(&message.topic)).arg(1).arg(&message.id);
        out.push(zadd);
    }
}

/// `on_message_retain`: a retained message with a payload.
pub fn retain(message: &MessageData, ttl: u64, out: &mut Vec<Cmd>) {
    if message.retain && !message.payload.is_empty() {
        store_hash(retain_key(&message.topic), message, ttl, out);
    }
}

/// `on_retain_delete`: a retained message with an empty payload.
pub fn retain_delete(message: &MessageData, out: &mut Vec<Cmd>) {
    if message.retain && message.payload.is_empty() {
        let mut del = cmd("DEL");
        del.arg(retain_key(&message.topic));
        out.push(del);
    }
}

/// `on_message_store_keep_latest`: any message, any QoS.
pub fn store_keep_latest(message: &MessageData, ttl: u64, out: &mut Vec<Cmd>) {
    store_hash(latest_key(&message.topic), message, ttl, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::words;

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

    fn run(f: impl FnOnce(&mut Vec<Cmd>)) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        f(&mut out);
        out.iter().map(words).collect()
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
