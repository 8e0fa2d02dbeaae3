//! Messages at `message.publish`: `on_message_publish`,
//! `on_message_retain`, `on_retain_delete`, `on_message_store_keep_latest`.
//!
//! ```text
//! HMSET mqtt:msg:${msgid} id .. from .. qos .. topic .. retain .. payload .. ts ..
//! EXPIRE mqtt:msg:${msgid} ${expired_time}
//! ZADD mqtt:msg:${topic} 1 ${msgid}
//! ZREMRANGEBYLEX mqtt:msg:${topic} - (${oldest live msgid})
//! EXPIRE mqtt:msg:${topic} ${expired_time}
//! HMSET mqtt:retain:${topic} ...      EXPIRE mqtt:retain:${topic} ${expired_time}
//! DEL mqtt:retain:${topic}
//! HMSET mqtt:latest_msg:${topic} ...  EXPIRE mqtt:latest_msg:${topic} ${expired_time}
//! ```

use std::cell::Cell;

use mqhost_plugin_api::types::BASE62_LEN;
use mqhost_plugin_api::MessageId;

use super::keys;
use crate::event::{IdText, MessageData};
use crate::resp::{CommandSink, EXPIRE, HMSET, MINUS, ONE, ZADD, ZREMRANGEBYLEX};

/// What the write functions of `message.publish` look at in a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Shape {
    /// QoS as published.
    pub(crate) qos: u8,
    /// Retain flag.
    pub(crate) retain: bool,
    /// Whether the payload is empty.
    pub(crate) empty: bool,
    /// Whether the topic is spelled like a message id (see [`keys`]).
    pub(crate) id_like_topic: bool,
    /// Whether the client id holds `:` (see [`keys`]); deliveries only.
    pub(crate) colon_client: bool,
}

impl Shape {
    /// The shape of a message as the write functions see it.
    pub(crate) fn of_message(qos: u8, retain: bool, empty: bool, topic: &str) -> Shape {
        Shape {
            qos,
            retain,
            empty,
            id_like_topic: keys::id_like(topic),
            colon_client: false,
        }
    }

    /// The shape of a delivery (its receiver and topic).
    pub(crate) fn of_delivery(client_id: &str, topic: &str) -> Shape {
        Shape {
            id_like_topic: keys::id_like(topic),
            colon_client: keys::splits_acked_key(client_id),
            ..Shape::default()
        }
    }
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
    out.word(HMSET);
    out.arg2(prefix, name.as_bytes());
    for (field, value) in message.fields() {
        out.word(field);
        out.arg(&value);
    }
    out.begin(3);
    out.word(EXPIRE);
    out.arg2(prefix, name.as_bytes());
    out.arg_u64(ttl);
}

/// What `on_message_publish` writes for a message of this shape: nothing
/// for a retained message with an empty payload (a retained delete,
/// whatever the QoS), else the hash and its TTL for QoS 1 and 2 and for
/// retained messages, and for QoS 1 and 2 the topic's index: the add, its
/// trim and its TTL (none for a topic spelled like a message id, whose
/// index would be a message's hash).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PublishWrites {
    /// `HMSET` and `EXPIRE` of the message's hash.
    pub(crate) store: bool,
    /// `ZADD`, trim and `EXPIRE` of its topic's index.
    pub(crate) index: bool,
}

/// See [`PublishWrites`].
pub(crate) fn publish_writes(shape: Shape) -> PublishWrites {
    if shape.retain && shape.empty {
        return PublishWrites {
            store: false,
            index: false,
        };
    }
    PublishWrites {
        store: shape.qos > 0 || shape.retain,
        index: shape.qos > 0 && !shape.id_like_topic,
    }
}

/// Commands of `on_message_publish` for a message of this shape.
pub(crate) fn publish_count(shape: Shape) -> usize {
    let writes = publish_writes(shape);
    usize::from(writes.store) * 2 + usize::from(writes.index) * 3
}

/// `on_message_publish`.
pub(crate) fn publish(message: &MessageData, ttl: u64, out: &mut impl CommandSink) {
    let writes = publish_writes(message.shape());
    if writes.store {
        store(message, ttl, out);
    }
    if writes.index {
        index(
            message.topic.as_bytes(),
            &[message.id],
            ttl,
            &trim_cutoff(message, ttl),
            out,
        );
    }
}

/// The message's hash and its TTL: the part of `on_message_publish` that
/// is the message's own.
pub(crate) fn store(message: &MessageData, ttl: u64, out: &mut impl CommandSink) {
    store_hash(MSG_PREFIX, &message.id, message, ttl, out);
}

/// Adds messages `ids` to the index of `topic` and drops from the index
/// every id whose hash has expired, in the same pipeline: every member
/// scores 1, so the set sorts by id, and an id's text sorts by its publish
/// time. A hash lives `ttl` from its publish, so ids published more than
/// `ttl` before the last of them are gone (`ZREMRANGEBYLEX - (cutoff`, see
/// [`trim_cutoff`]). The set itself expires `ttl` after the last write,
/// with the last hash it names, so an index nobody writes to any more goes
/// too. Many ids at once are the messages of a batch (see
/// `pool::unpack`): the same three commands whatever their number.
pub(crate) fn index(
    topic: &[u8],
    ids: &[IdText],
    ttl: u64,
    cutoff: &[u8; BASE62_LEN],
    out: &mut impl CommandSink,
) {
    out.begin(2 + 2 * ids.len());
    out.word(ZADD);
    out.arg2(MSG_PREFIX, topic);
    for id in ids {
        out.word(ONE);
        out.arg(id.as_bytes());
    }
    out.begin(4);
    out.word(ZREMRANGEBYLEX);
    out.arg2(MSG_PREFIX, topic);
    out.word(MINUS);
    out.arg2(b"(", cutoff);
    out.begin(3);
    out.word(EXPIRE);
    out.arg2(MSG_PREFIX, topic);
    out.arg_u64(ttl);
}

/// The trim's bound for a message stored for `ttl` seconds: the id of
/// the first message published `ttl` before it.
pub(crate) fn trim_cutoff(message: &MessageData, ttl: u64) -> [u8; BASE62_LEN] {
    cutoff_digits(message.ts_ms.saturating_sub(ttl.saturating_mul(1000)))
}

/// The id of the first message published at `ms` (Unix milliseconds),
/// rounded down to its second: the hashes live whole seconds, and one
/// conversion a second (kept per thread) is enough for every message.
fn cutoff_digits(ms: u64) -> [u8; BASE62_LEN] {
    thread_local! {
        static LAST: Cell<(u64, [u8; BASE62_LEN])> = const { Cell::new((u64::MAX, [0; BASE62_LEN])) };
    }
    let second = ms / 1000;
    LAST.with(|last| {
        let (at, digits) = last.get();
        if at == second {
            return digits;
        }
        let id = MessageId {
            high: second.saturating_mul(1_000_000),
            low: 0,
        };
        let digits = id.base62_digits();
        last.set((second, digits));
        digits
    })
}

/// `on_message_retain`: a retained message with a payload.
pub(crate) fn retain(message: &MessageData, ttl: u64, out: &mut impl CommandSink) {
    if message.retain && !message.payload.is_empty() {
        store_hash(RETAIN_PREFIX.as_bytes(), message.topic, message, ttl, out);
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
    store_hash(LATEST_PREFIX, message.topic, message, ttl, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::{words, CmdList};

    fn message(qos: u8, retain: bool, payload: &[u8]) -> MessageData<'_> {
        MessageData {
            id: "0Gm7bUq0Xk2Q0000000001".into(),
            from: "test",
            qos,
            topic: "topic",
            retain,
            payload,
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
        let cutoff = format!(
            "({}",
            MessageId {
                // Rounded down to its second.
                high: 1_481_682_202_000 * 1000,
                low: 0
            }
            .to_base62()
        );
        let mut hmset = vec!["HMSET", "mqtt:msg:0Gm7bUq0Xk2Q0000000001"];
        hmset.extend(HASH);
        assert_eq!(
            out,
            [
                hmset,
                vec!["EXPIRE", "mqtt:msg:0Gm7bUq0Xk2Q0000000001", "3600"],
                vec!["ZADD", "mqtt:msg:topic", "1", "0Gm7bUq0Xk2Q0000000001"],
                vec!["ZREMRANGEBYLEX", "mqtt:msg:topic", "-", &cutoff],
                vec!["EXPIRE", "mqtt:msg:topic", "3600"],
            ]
        );
    }

    #[test]
    fn the_trim_keeps_the_ids_younger_than_the_ttl_and_drops_those_a_second_older() {
        let ts_ms = 1_481_685_802_123u64;
        let id = |ms: u64, low: u64| {
            MessageId {
                high: ms * 1000,
                low,
            }
            .to_base62()
        };
        let mut m = message(1, false, b"x");
        m.ts_ms = ts_ms;
        let out = run(|o| publish(&m, 60, o));
        let bound = out[3][3].strip_prefix('(').unwrap().to_owned();
        // Removed: strictly below the bound, which is rounded down to a
        // whole second.
        assert!(id(ts_ms - 61_000, u64::MAX) < bound);
        assert!(id(ts_ms - 60_124, u64::MAX) < bound);
        assert!(id(ts_ms - 60_123, 0) >= bound);
        assert!(id(ts_ms - 60_000, 0) >= bound);
        assert!(id(ts_ms - 59_999, 0) > bound);
    }

    #[test]
    fn a_topic_spelled_like_a_message_id_is_not_indexed() {
        let mut m = message(1, false, b"x");
        m.topic = "0Gm7bUq0Xk2Q0000000002";
        let out = run(|o| publish(&m, 60, o));
        assert_eq!(out.len(), 2);
        assert_eq!(out[0][..2], ["HMSET", "mqtt:msg:0Gm7bUq0Xk2Q0000000001"]);
        assert_eq!(out[1][0], "EXPIRE");
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
