//! Acknowledgements: `on_message_acked_for_queue` (the first subscriber to
//! ack consumes the message), `on_message_acked_for_pubsub` (each
//! subscriber's position), `on_message_acked_for_keep_latest`.
//!
//! ```text
//! DEL mqtt:msg:${msgid}    ZREM mqtt:msg:${topic} ${msgid}
//! SET mqtt:acked:${clientid}:${topic} ${msgid}
//! DEL mqtt:latest_msg:${topic}
//! ```

use super::keys;
use super::message::{LATEST_PREFIX, MSG_PREFIX};
use crate::event::{DeliveryData, IdText};
use crate::resp::{CommandSink, DEL, ZREM};

/// `mqtt:acked:${clientid}:${topic}`.
pub(crate) fn acked_key(client_id: &str, topic: &str) -> String {
    format!("mqtt:acked:{client_id}:{topic}")
}

/// `on_message_acked_for_queue`.
pub(crate) fn for_queue(delivery: &DeliveryData, out: &mut impl CommandSink) {
    consume(&[delivery.id], out);
    if indexed(delivery.topic) {
        unindex(delivery.topic.as_bytes(), &[delivery.id], out);
    }
}

/// Whether messages on `topic` are in an index to take them out of: not
/// when that index would be a message's hash.
pub(crate) fn indexed(topic: &str) -> bool {
    !keys::id_like(topic)
}

/// Deletes the hashes of messages `ids`: one command, for one message or
/// the acks of a batch (see `pool::unpack`).
pub(crate) fn consume(ids: &[IdText], out: &mut impl CommandSink) {
    out.begin(1 + ids.len());
    out.word(DEL);
    for id in ids {
        out.arg2(MSG_PREFIX, id.as_bytes());
    }
}

/// Takes messages `ids` out of the index of `topic`.
pub(crate) fn unindex(topic: &[u8], ids: &[IdText], out: &mut impl CommandSink) {
    out.begin(2 + ids.len());
    out.word(ZREM);
    out.arg2(MSG_PREFIX, topic);
    for id in ids {
        out.arg(id.as_bytes());
    }
}

/// `on_message_acked_for_pubsub`.
pub(crate) fn for_pubsub(delivery: &DeliveryData, out: &mut impl CommandSink) {
    // Its key could be another client's position.
    if keys::splits_acked_key(delivery.client_id) {
        return;
    }
    out.begin(3);
    out.arg(b"SET");
    out.arg(acked_key(delivery.client_id, delivery.topic).as_bytes());
    out.arg(delivery.id.as_bytes());
}

/// `on_message_acked_for_keep_latest`.
pub(crate) fn for_keep_latest(delivery: &DeliveryData, out: &mut impl CommandSink) {
    out.begin(2);
    out.arg(b"DEL");
    out.arg2(LATEST_PREFIX, delivery.topic.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::{words, CmdList};

    #[test]
    fn acks_consume_or_record() {
        let delivery = DeliveryData {
            client_id: "c1",
            qos: 1,
            id: "0Gm7bUq0Xk2Q0000000001".into(),
            topic: "queue/a",
        };
        let mut out = CmdList::default();
        for_queue(&delivery, &mut out);
        for_pubsub(&delivery, &mut out);
        for_keep_latest(&delivery, &mut out);
        assert_eq!(
            out.cmds.iter().map(words).collect::<Vec<_>>(),
            [
                vec!["DEL", "mqtt:msg:0Gm7bUq0Xk2Q0000000001"],
                vec!["ZREM", "mqtt:msg:queue/a", "0Gm7bUq0Xk2Q0000000001"],
                vec!["SET", "mqtt:acked:c1:queue/a", "0Gm7bUq0Xk2Q0000000001"],
                vec!["DEL", "mqtt:latest_msg:queue/a"],
            ]
        );
    }

    #[test]
    fn keys_that_could_be_another_layouts_are_not_written() {
        let delivery = DeliveryData {
            client_id: "a:b",
            qos: 1,
            id: "0Gm7bUq0Xk2Q0000000001".into(),
            topic: "0Gm7bUq0Xk2Q0000000002",
        };
        let mut out = CmdList::default();
        for_queue(&delivery, &mut out);
        for_pubsub(&delivery, &mut out);
        assert_eq!(
            out.cmds.iter().map(words).collect::<Vec<_>>(),
            [vec!["DEL", "mqtt:msg:0Gm7bUq0Xk2Q0000000001"]]
        );
    }
}
