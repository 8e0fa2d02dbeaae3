//! Acknowledgements: `on_message_acked_for_queue` (the first subscriber to
//! ack consumes the message), `on_message_acked_for_pubsub` (each
//! subscriber's position), `on_message_acked_for_keep_latest`.
//!
//! ```text
//! DEL mqtt:msg:${msgid}    ZREM mqtt:msg:${topic} ${msgid}
//! SET mqtt:acked:${clientid}:${topic} ${msgid}
//! DEL mqtt:latest_msg:${topic}
//! ```

use redis::{cmd, Cmd};

use super::message::{latest_key, msg_key};
use crate::event::DeliveryData;

/// `mqtt:acked:${clientid}:${topic}`.
pub fn acked_key(client_id: &str, topic: &str) -> String {
    format!("mqtt:acked:{client_id}:{topic}")
}

/// `on_message_acked_for_queue`.
pub fn for_queue(delivery: &DeliveryData, out: &mut Vec<Cmd>) {
    let mut del = cmd("DEL");
    del.arg(msg_key(&delivery.id));
    out.push(del);
    let mut zrem = cmd("ZREM");
    zrem.arg(msg_key(&delivery.topic)).arg(&delivery.id);
    out.push(zrem);
}

/// `on_message_acked_for_pubsub`.
pub fn for_pubsub(delivery: &DeliveryData, out: &mut Vec<Cmd>) {
    let mut set = cmd("SET");
    set.arg(acked_key(&delivery.client_id, &delivery.topic))
        .arg(&delivery.id);
    out.push(set);
}

/// `on_message_acked_for_keep_latest`.
pub fn for_keep_latest(delivery: &DeliveryData, out: &mut Vec<Cmd>) {
    let mut del = cmd("DEL");
    del.arg(latest_key(&delivery.topic));
    out.push(del);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::words;

    #[test]
    fn acks_consume_or_record() {
        let delivery = DeliveryData {
            client_id: "c1".into(),
            qos: 1,
            id: "0Gm7bUq0Xk2Q0000000001".into(),
            topic: "queue/a".into(),
        };
        let mut out = Vec::new();
        for_queue(&delivery, &mut out);
        for_pubsub(&delivery, &mut out);
        for_keep_latest(&delivery, &mut out);
        assert_eq!(
            out.iter().map(words).collect::<Vec<_>>(),
            [
                vec!["DEL", "mqtt:msg:0Gm7bUq0Xk2Q0000000001"],
                vec!["ZREM", "mqtt:msg:queue/a", "0Gm7bUq0Xk2Q0000000001"],
                vec!["SET", "mqtt:acked:c1:queue/a", "0Gm7bUq0Xk2Q0000000001"],
                vec!["DEL", "mqtt:latest_msg:queue/a"],
            ]
        );
    }
}
