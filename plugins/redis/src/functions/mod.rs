//! The spec's functions (`{"action": {"function": NAME}}`): their names,
//! the hook points they belong to, and the Redis commands the writing ones
//! send. Pure code: an event goes in, commands come out, no I/O; the
//! reading ones (lookups and fetches) live in [`crate::pool::lookup`].
//!
//! - [`client`]: online state (`mqtt:client:*`, `mqtt:node:*`, the
//!   mosquitto `mqtt` hash).
//! - [`message`]: stored, retained and latest messages at
//!   `message.publish`.
//! - [`acked`]: what an acknowledgement consumes or records.
//! - [`expiry`]: the mosquitto `expired_at` payload check.

pub(crate) mod acked;
pub(crate) mod client;
pub(crate) mod expiry;
pub(crate) mod keys;
pub(crate) mod message;

pub(crate) use message::Shape;

use crate::event::Event;
use crate::hook::HookPoint;
use crate::resp::CommandSink;

/// One of the spec's functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Function {
    /// `on_client_connected`.
    ClientConnected,
    /// `on_client_disconnected`.
    ClientDisconnected,
    /// `on_subscribe_lookup`.
    SubscribeLookup,
    /// `on_message_publish`.
    MessagePublish,
    /// `on_message_retain`.
    MessageRetain,
    /// `on_retain_delete`.
    RetainDelete,
    /// `on_retain_lookup`.
    RetainLookup,
    /// `on_message_fetch_for_queue`.
    FetchForQueue,
    /// `on_message_acked_for_queue`.
    AckedForQueue,
    /// `on_message_fetch_for_pubsub`.
    FetchForPubsub,
    /// `on_message_acked_for_pubsub`.
    AckedForPubsub,
    /// `on_message_store_keep_latest`.
    StoreKeepLatest,
    /// `on_message_fetch_for_keep_latest`.
    FetchForKeepLatest,
    /// `on_message_acked_for_keep_latest`.
    AckedForKeepLatest,
    /// `on_client_online_hash` (mosquitto fork).
    ClientOnlineHash,
    /// `on_message_expiry_check` (mosquitto fork).
    MessageExpiryCheck,
}

/// How a function does its work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Sends writes through the pool's ordered write queue.
    Write,
    /// Reads Redis, then delivers or subscribes through the host.
    Lookup,
    /// Decides at once, in the hook, whether a message goes on.
    Check,
}

use HookPoint as H;

impl Function {
    /// Every function.
    pub(crate) const ALL: [Function; 16] = [
        Function::ClientConnected,
        Function::ClientDisconnected,
        Function::SubscribeLookup,
        Function::MessagePublish,
        Function::MessageRetain,
        Function::RetainDelete,
        Function::RetainLookup,
        Function::FetchForQueue,
        Function::AckedForQueue,
        Function::FetchForPubsub,
        Function::AckedForPubsub,
        Function::StoreKeepLatest,
        Function::FetchForKeepLatest,
        Function::AckedForKeepLatest,
        Function::ClientOnlineHash,
        Function::MessageExpiryCheck,
    ];

    /// The name rules use.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Function::ClientConnected => "on_client_connected",
            Function::ClientDisconnected => "on_client_disconnected",
            Function::SubscribeLookup => "on_subscribe_lookup",
            Function::MessagePublish => "on_message_publish",
            Function::MessageRetain => "on_message_retain",
            Function::RetainDelete => "on_retain_delete",
            Function::RetainLookup => "on_retain_lookup",
            Function::FetchForQueue => "on_message_fetch_for_queue",
            Function::AckedForQueue => "on_message_acked_for_queue",
            Function::FetchForPubsub => "on_message_fetch_for_pubsub",
            Function::AckedForPubsub => "on_message_acked_for_pubsub",
            Function::StoreKeepLatest => "on_message_store_keep_latest",
            Function::FetchForKeepLatest => "on_message_fetch_for_keep_latest",
            Function::AckedForKeepLatest => "on_message_acked_for_keep_latest",
            Function::ClientOnlineHash => "on_client_online_hash",
            Function::MessageExpiryCheck => "on_message_expiry_check",
        }
    }

    /// The function called `name`.
    pub(crate) fn from_name(name: &str) -> Option<Function> {
        Function::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The hook points it may be used on.
    pub(crate) fn hooks(self) -> &'static [HookPoint] {
        match self {
            Function::ClientConnected => &[H::ClientConnected],
            Function::ClientDisconnected => &[H::ClientDisconnected],
            Function::SubscribeLookup => &[H::SessionCreated, H::ClientConnected],
            Function::MessagePublish
            | Function::MessageRetain
            | Function::RetainDelete
            | Function::StoreKeepLatest
            | Function::MessageExpiryCheck => &[H::MessagePublish],
            Function::RetainLookup
            | Function::FetchForQueue
            | Function::FetchForPubsub
            | Function::FetchForKeepLatest => &[H::SessionSubscribed],
            Function::AckedForQueue | Function::AckedForPubsub | Function::AckedForKeepLatest => {
                &[H::MessageAcked]
            }
            Function::ClientOnlineHash => &[H::ClientConnected, H::ClientDisconnected],
        }
    }

    /// How it works.
    pub(crate) fn kind(self) -> Kind {
        match self {
            Function::SubscribeLookup
            | Function::RetainLookup
            | Function::FetchForQueue
            | Function::FetchForPubsub
            | Function::FetchForKeepLatest => Kind::Lookup,
            Function::MessageExpiryCheck => Kind::Check,
            _ => Kind::Write,
        }
    }

    /// How many commands a write function sends for a message of this
    /// shape (the shape matters only at `message.publish`); 0 means the
    /// event needs nothing, so the hook does not even copy it.
    pub(crate) fn command_count(self, shape: Shape) -> usize {
        match self {
            Function::ClientConnected | Function::ClientDisconnected => 2,
            Function::ClientOnlineHash => 1,
            Function::MessagePublish => message::publish_count(shape),
            Function::MessageRetain => usize::from(shape.retain && !shape.empty) * 2,
            Function::RetainDelete => usize::from(shape.retain && shape.empty),
            Function::StoreKeepLatest => 2,
            Function::AckedForQueue => 2 - usize::from(shape.id_like_topic),
            Function::AckedForPubsub => usize::from(!shape.colon_client),
            Function::AckedForKeepLatest => 1,
            Function::SubscribeLookup
            | Function::RetainLookup
            | Function::FetchForQueue
            | Function::FetchForPubsub
            | Function::FetchForKeepLatest
            | Function::MessageExpiryCheck => 0,
        }
    }

    /// Appends the commands of a write function for `event` to `out`;
    /// `ttl` is the rule's `expired_time`. An event of the wrong kind adds
    /// nothing (configuration checks keep that from happening).
    pub(crate) fn emit(self, event: &Event, ttl: u64, out: &mut impl CommandSink) {
        match (self, event) {
            (Function::ClientConnected, Event::Client(c)) => client::connected(c, out),
            (Function::ClientDisconnected, Event::Client(c)) => client::disconnected(c, out),
            (Function::ClientOnlineHash, Event::Client(c)) => client::online_hash(c, out),
            (Function::MessagePublish, Event::Message(m)) => message::publish(m, ttl, out),
            (Function::MessageRetain, Event::Message(m)) => message::retain(m, ttl, out),
            (Function::RetainDelete, Event::Message(m)) => message::retain_delete(m, out),
            (Function::StoreKeepLatest, Event::Message(m)) => {
                message::store_keep_latest(m, ttl, out)
            }
            (Function::AckedForQueue, Event::Delivery(d)) => acked::for_queue(d, out),
            (Function::AckedForPubsub, Event::Delivery(d)) => acked::for_pubsub(d, out),
            (Function::AckedForKeepLatest, Event::Delivery(d)) => acked::for_keep_latest(d, out),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::event::{ClientData, DeliveryData, MessageData};
    use crate::resp::{CmdList, RespBuf};

    fn events() -> Vec<(Event<'static>, Shape)> {
        let mut out = Vec::new();
        for connected in [true, false] {
            out.push((
                Event::Client(Arc::new(ClientData {
                    client_id: "c".into(),
                    username: None,
                    peerhost: "127.0.0.1".into(),
                    node: "n".into(),
                    ts_ms: 1_000,
                    connected,
                })),
                Shape::default(),
            ));
        }
        for qos in 0..=2 {
            for retain in [false, true] {
                for empty in [false, true] {
                    for topic in ["t", "0000000000000000000002"] {
                        let shape = Shape::of_message(qos, retain, empty, topic);
                        let message = MessageData {
                            id: "0000000000000000000001".into(),
                            from: "p",
                            qos,
                            topic,
                            retain,
                            payload: if empty { b"" } else { b"x" },
                            ts_ms: 1,
                        };
                        out.push((Event::Message(message), shape));
                    }
                }
            }
        }
        for (client_id, topic) in [("c", "t"), ("a:b", "0000000000000000000002")] {
            out.push((
                Event::Delivery(DeliveryData {
                    client_id,
                    qos: 1,
                    id: "0000000000000000000001".into(),
                    topic,
                }),
                Shape::of_delivery(client_id, topic),
            ));
        }
        out
    }

    #[test]
    fn names_round_trip() {
        for function in Function::ALL {
            assert_eq!(Function::from_name(function.name()), Some(function));
            assert!(!function.hooks().is_empty());
        }
        assert_eq!(Function::from_name("on_message_fetch"), None);
    }

    #[test]
    fn counts_match_the_commands_emitted() {
        for function in Function::ALL {
            for (event, shape) in events() {
                let kind_fits = matches!(
                    (&event, function.hooks()[0]),
                    (Event::Client(_), H::ClientConnected | H::ClientDisconnected)
                        | (Event::Message(_), H::MessagePublish)
                        | (Event::Delivery(_), H::MessageAcked)
                );
                if !kind_fits || function.kind() != Kind::Write {
                    continue;
                }
                let mut out = CmdList::default();
                function.emit(&event, 60, &mut out);
                assert_eq!(
                    out.cmds.len(),
                    function.command_count(shape),
                    "{} with {shape:?}",
                    function.name()
                );
                // Encoded directly, the bytes are those of the commands.
                let mut buf = RespBuf::new();
                function.emit(&event, 60, &mut buf);
                let packed: Vec<u8> = out
                    .cmds
                    .iter()
                    .flat_map(|c| c.get_packed_command())
                    .collect();
                assert_eq!(buf.bytes(), packed, "{}", function.name());
            }
        }
    }
}
