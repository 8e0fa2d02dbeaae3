//! Hook events as the rules see them. Messages and deliveries, the events
//! of the message path, borrow the broker's data for the hook call: their
//! writes are encoded into the pool's queue during it, and no lookup uses
//! them. Client, session and subscription events are copied once, owned,
//! since lookups run after the hook has returned.

use std::sync::Arc;

use mqhost_plugin_api::types::BASE62_LEN;

use crate::resp::{Word, F_FROM, F_ID, F_PAYLOAD, F_QOS, F_RETAIN, F_TOPIC, F_TS};
use mqhost_plugin_api::{
    topic, ClientEvent, DeliveryEvent, MessageEvent, MessageId, SessionEvent, SubscriptionEvent,
};

/// What a placeholder or function writes for a missing user name,
/// as EMQX does.
pub(crate) const UNDEFINED: &str = "undefined";

/// `client.connected` or `client.disconnected`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientData {
    /// The client's id.
    pub(crate) client_id: String,
    /// User name from CONNECT.
    pub(crate) username: Option<String>,
    /// The client's IP address, without the port.
    pub(crate) peerhost: String,
    /// The broker node's name.
    pub(crate) node: String,
    /// When it happened, Unix milliseconds.
    pub(crate) ts_ms: u64,
    /// True for `client.connected`.
    pub(crate) connected: bool,
}

impl ClientData {
    /// Copies a client event.
    pub(crate) fn new(event: &ClientEvent<'_>, connected: bool) -> ClientData {
        ClientData {
            client_id: event.client_id.to_string(),
            username: event.username.into_option().map(|u| u.to_string()),
            peerhost: peer_host(event.peer.as_str()).to_owned(),
            node: event.node.to_string(),
            ts_ms: event.timestamp_ms,
            connected,
        }
    }

    /// When it happened, Unix seconds: what the functions write as NOW
    /// and `${ts}` expands to.
    pub(crate) fn ts_secs(&self) -> u64 {
        self.ts_ms / 1000
    }
}

/// The address part of `ip:port` or `[v6]:port`.
pub(crate) fn peer_host(peer: &str) -> &str {
    if let Some(rest) = peer.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match peer.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            host
        }
        _ => peer,
    }
}

/// `session.created`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionData {
    /// The session's client id.
    pub(crate) client_id: String,
    /// User name from CONNECT.
    pub(crate) username: Option<String>,
    /// The broker node's name.
    pub(crate) node: String,
}

impl SessionData {
    /// Copies a session event.
    pub(crate) fn new(event: &SessionEvent<'_>) -> SessionData {
        SessionData {
            client_id: event.client_id.to_string(),
            username: event.username.into_option().map(|u| u.to_string()),
            node: event.node.to_string(),
        }
    }
}

/// `session.subscribed` or `session.unsubscribed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SubscriptionData {
    /// The subscriber.
    pub(crate) client_id: String,
    /// The filter without any `$share/<group>/` prefix: keys are named
    /// after the topics, not the group.
    pub(crate) filter: String,
    /// Whether it is a shared subscription (no retained messages).
    pub(crate) shared: bool,
    /// Granted QoS.
    pub(crate) qos: u8,
    /// False when the session already had this filter.
    pub(crate) is_new: bool,
    /// MQTT 5.0 Retain Handling: 0 send retained, 1 only if new, 2 never.
    pub(crate) retain_handling: u8,
}

impl SubscriptionData {
    /// Copies a subscription event.
    pub(crate) fn new(event: &SubscriptionEvent<'_>) -> SubscriptionData {
        let filter = event.filter.as_str();
        SubscriptionData {
            client_id: event.client_id.to_string(),
            filter: topic::strip_share(filter).to_owned(),
            shared: topic::is_shared(filter),
            qos: event.qos,
            is_new: event.is_new,
            retain_handling: event.retain_handling,
        }
    }
}

/// A message at `message.publish`: everything its hash holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MessageData<'a> {
    /// The id, 22 base62 characters.
    pub(crate) id: IdText,
    /// Publisher's client id.
    pub(crate) from: &'a str,
    /// QoS as published.
    pub(crate) qos: u8,
    /// Topic name.
    pub(crate) topic: &'a str,
    /// Retain flag.
    pub(crate) retain: bool,
    /// Payload bytes.
    pub(crate) payload: &'a [u8],
    /// Publish time, Unix milliseconds.
    pub(crate) ts_ms: u64,
}

impl<'a> MessageData<'a> {
    /// A message event's data.
    pub(crate) fn new(event: &'a MessageEvent<'a>) -> MessageData<'a> {
        MessageData {
            id: id_text(event.id),
            from: event.from.as_str(),
            qos: event.qos,
            topic: event.topic.as_str(),
            retain: event.retain,
            payload: event.payload.as_slice(),
            ts_ms: event.timestamp_ms,
        }
    }

    /// The message as the write functions see it.
    pub(crate) fn shape(&self) -> crate::functions::Shape {
        crate::functions::Shape::of_message(
            self.qos,
            self.retain,
            self.payload.is_empty(),
            self.topic,
        )
    }

    /// The hash fields and values, in the order the seed shows them:
    /// `id`, `from`, `qos`, `topic`, `retain`, `payload`, `ts`. Numbers
    /// are written on the stack: this runs for every message stored.
    pub(crate) fn fields(&self) -> [(Word, FieldValue<'_>); 7] {
        [
            (F_ID, FieldValue::Bytes(self.id.as_bytes())),
            (F_FROM, FieldValue::Bytes(self.from.as_bytes())),
            (F_QOS, FieldValue::number(u64::from(self.qos))),
            (F_TOPIC, FieldValue::Bytes(self.topic.as_bytes())),
            (
                F_RETAIN,
                FieldValue::Bytes(bool_text(self.retain).as_bytes()),
            ),
            (F_PAYLOAD, FieldValue::Bytes(self.payload)),
            (F_TS, FieldValue::number(self.ts_ms)),
        ]
    }
}

/// A field's value: borrowed bytes, or a number's decimal digits.
#[derive(Debug, Clone, Copy)]
pub(crate) enum FieldValue<'a> {
    /// Borrowed.
    Bytes(&'a [u8]),
    /// A number's decimal digits.
    Number {
        /// The digits, in the tail.
        digits: [u8; 20],
        /// Where they start.
        start: u8,
    },
}

impl FieldValue<'_> {
    fn number(n: u64) -> Self {
        let mut digits = [0u8; 20];
        let len = crate::resp::decimal(n, &mut digits).len();
        FieldValue::Number {
            digits,
            start: (20 - len) as u8,
        }
    }
}

impl std::ops::Deref for FieldValue<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            FieldValue::Bytes(bytes) => bytes,
            FieldValue::Number { digits, start } => &digits[*start as usize..],
        }
    }
}

/// A message id as text: 22 base62 characters, kept inline (no
/// allocation on the broker's thread).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct IdText([u8; BASE62_LEN]);

impl IdText {
    /// The text's bytes (base62, so ASCII), without checking them again.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The text.
    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl std::ops::Deref for IdText {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Debug for IdText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl IdText {
    /// Digits as [`IdText::as_bytes`] gave them (a packed event's): not
    /// checked again, since [`IdText::as_str`] checks.
    pub(crate) fn from_digits(digits: [u8; BASE62_LEN]) -> IdText {
        IdText(digits)
    }
}

impl From<&str> for IdText {
    /// Right-aligned in 22 places, `0`-padded: the broker's form of the
    /// same number for base62 text.
    fn from(text: &str) -> IdText {
        let mut digits = [b'0'; BASE62_LEN];
        let bytes = text.as_bytes();
        let take = bytes.len().min(BASE62_LEN);
        digits[BASE62_LEN - take..].copy_from_slice(&bytes[bytes.len() - take..]);
        if std::str::from_utf8(&digits).is_err() {
            digits = [b'0'; BASE62_LEN];
        }
        IdText(digits)
    }
}

/// The 22-character base62 form of a message id, without allocating: it
/// runs on the broker's thread twice per message (publish and ack).
pub(crate) fn id_text(id: MessageId) -> IdText {
    IdText(id.base62_digits())
}

/// `true` or `false`, as the seed stores the retain flag.
pub(crate) fn bool_text(value: bool) -> &'static str {
    if value {
        "true"
    } else {
        "false"
    }
}

/// A delivery at `message.delivered` or `message.acked`: only what the
/// functions and placeholders of those hooks use (no payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DeliveryData<'a> {
    /// The receiver.
    pub(crate) client_id: &'a str,
    /// QoS of this delivery.
    pub(crate) qos: u8,
    /// The message id, 22 base62 characters.
    pub(crate) id: IdText,
    /// The message topic.
    pub(crate) topic: &'a str,
}

impl<'a> DeliveryData<'a> {
    /// A delivery event's data.
    pub(crate) fn new(event: &'a DeliveryEvent<'a>) -> DeliveryData<'a> {
        DeliveryData {
            client_id: event.client_id.as_str(),
            qos: event.qos,
            id: id_text(event.message.id),
            topic: event.message.topic.as_str(),
        }
    }
}

/// One event, shared by every rule it triggers.
#[derive(Debug, Clone)]
pub(crate) enum Event<'a> {
    /// `client.connected` / `client.disconnected`.
    Client(Arc<ClientData>),
    /// `session.created`.
    Session(Arc<SessionData>),
    /// `session.subscribed` / `session.unsubscribed`.
    Subscription(Arc<SubscriptionData>),
    /// `message.publish`.
    Message(MessageData<'a>),
    /// `message.delivered` / `message.acked`.
    Delivery(DeliveryData<'a>),
}

impl Event<'_> {
    /// The client the event is about: lookups for one client run in order.
    pub(crate) fn client_id(&self) -> &str {
        match self {
            Event::Client(c) => &c.client_id,
            Event::Session(s) => &s.client_id,
            Event::Subscription(s) => &s.client_id,
            Event::Message(m) => m.from,
            Event::Delivery(d) => d.client_id,
        }
    }

    /// The event, for a lookup that runs after the hook returns: only the
    /// owned kinds (lookups are for clients and subscriptions).
    pub(crate) fn to_owned_event(&self) -> Option<Event<'static>> {
        match self {
            Event::Client(c) => Some(Event::Client(Arc::clone(c))),
            Event::Session(s) => Some(Event::Session(Arc::clone(s))),
            Event::Subscription(s) => Some(Event::Subscription(Arc::clone(s))),
            Event::Message(_) | Event::Delivery(_) => None,
        }
    }

    /// Bytes the event's writes take, roughly: to bound the queue by size
    /// before they are written.
    pub(crate) fn size_hint(&self) -> usize {
        match self {
            Event::Message(m) => m.payload.len() + m.topic.len() + 128,
            _ => 128,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_host_drops_the_port() {
        assert_eq!(peer_host("127.0.0.1:51234"), "127.0.0.1");
        assert_eq!(peer_host("[::1]:51234"), "::1");
        assert_eq!(peer_host("10.0.2.217"), "10.0.2.217");
        assert_eq!(peer_host("::1"), "::1");
    }

    #[test]
    fn id_text_is_the_broker_s_base62() {
        for value in [0, 61, 62u128.pow(10), u128::MAX] {
            let id = MessageId::from_u128(value);
            assert_eq!(id_text(id).as_str(), id.to_base62(), "{value}");
            assert_eq!(IdText::from(id.to_base62().as_str()), id_text(id));
        }
    }

    #[test]
    fn message_fields_follow_the_seed() {
        let message = MessageData {
            id: "0000000000000000000001".into(),
            from: "test",
            qos: 1,
            topic: "topic",
            retain: true,
            payload: b"Hello world!",
            ts_ms: 1481685802123,
        };
        let fields: Vec<(&str, String)> = message
            .fields()
            .iter()
            .map(|(k, v)| {
                (
                    std::str::from_utf8(k.text).unwrap(),
                    String::from_utf8(v.to_vec()).unwrap(),
                )
            })
            .collect();
        assert_eq!(
            fields,
            [
                ("id", "0000000000000000000001".to_owned()),
                ("from", "test".to_owned()),
                ("qos", "1".to_owned()),
                ("topic", "topic".to_owned()),
                ("retain", "true".to_owned()),
                ("payload", "Hello world!".to_owned()),
                ("ts", "1481685802123".to_owned()),
            ]
        );
    }
}
