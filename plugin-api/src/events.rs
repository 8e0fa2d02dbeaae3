//! The data of each hook point. Events borrow the broker's data for the
//! duration of one call: a plugin copies what it keeps.

use abi_stable::std_types::{ROption, RSlice, RStr, Tuple2};
use abi_stable::StableAbi;

use crate::types::MessageId;

/// `client.connected` and `client.disconnected`.
///
/// ```
/// use mqhost_plugin_api::testing::client_event;
///
/// let event = client_event("dev-1").username("alice").build();
/// // What a hook keeps, copied out of the borrowed event:
/// let client_id = event.client_id.to_string();
/// let username: Option<String> = event.username.into_option().map(|u| u.to_string());
/// assert_eq!((client_id.as_str(), username.as_deref()), ("dev-1", Some("alice")));
/// ```
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy)]
pub struct ClientEvent<'a> {
    /// The client's id.
    pub client_id: RStr<'a>,
    /// User name from CONNECT, if any.
    pub username: ROption<RStr<'a>>,
    /// The client's address, `ip:port`.
    pub peer: RStr<'a>,
    /// Protocol level: 3 (MQTT 3.1), 4 (3.1.1) or 5 (5.0).
    pub protocol: u8,
    /// Clean Start (5.0) or Clean Session (3.x) from CONNECT.
    pub clean_start: bool,
    /// Keep alive in force, seconds.
    pub keep_alive: u16,
    /// The node's name.
    pub node: RStr<'a>,
    /// When it happened, Unix milliseconds.
    pub timestamp_ms: u64,
    /// Why the connection ended (`normal`, `closed`, `keepalive_timeout`,
    /// `packet_timeout`, `takenover`, `shutdown`, or a protocol error);
    /// empty for `client.connected`.
    pub reason: RStr<'a>,
}

// @since 1.3 begin
/// The listener a client came in on, beside `client.connected` and
/// `client.disconnected` (since 1.3; see
/// [`MqhostPlugin::on_client_connected_via`](crate::MqhostPlugin::on_client_connected_via)).
///
/// ```
/// use mqhost_plugin_api::ListenerEvent;
///
/// let listener = ListenerEvent::new("ssl.external", "ssl");
/// assert_eq!(listener.name.as_str(), "ssl.external");
/// assert!(listener.is_tls());
/// ```
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy)]
pub struct ListenerEvent<'a> {
    /// The listener's name as its configuration key says it, without the
    /// `listener.` prefix: `tcp.default`, `ssl.external`.
    pub name: RStr<'a>,
    /// What it speaks below MQTT: `tcp`, `ssl` (TLS), `ws` (WebSocket) or
    /// `wss` (WebSocket over TLS).
    pub protocol: RStr<'a>,
}

impl<'a> ListenerEvent<'a> {
    /// A listener event for `name` and `protocol`.
    pub fn new(name: &'a str, protocol: &'a str) -> Self {
        ListenerEvent {
            name: RStr::from_str(name),
            protocol: RStr::from_str(protocol),
        }
    }

    /// Whether the connection is encrypted (`ssl` or `wss`).
    pub fn is_tls(&self) -> bool {
        matches!(self.protocol.as_str(), "ssl" | "wss")
    }
}
// @since 1.3 end

/// `session.created`.
///
/// ```
/// use mqhost_plugin_api::testing::session_event;
///
/// let event = session_event("dev-1").resumed(true).build();
/// assert!(event.resumed);
/// ```
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy)]
pub struct SessionEvent<'a> {
    /// The session's client id.
    pub client_id: RStr<'a>,
    /// User name from CONNECT, if any.
    pub username: ROption<RStr<'a>>,
    /// The node's name.
    pub node: RStr<'a>,
    /// True when an existing session was resumed (Session Present).
    pub resumed: bool,
}

/// `session.subscribed` and `session.unsubscribed`.
///
/// ```
/// use mqhost_plugin_api::testing::subscription_event;
/// use mqhost_plugin_api::topic::parse_shared;
///
/// let event = subscription_event("dev-1", "$share/workers/jobs/#").qos(1).build();
/// let shared = parse_shared(event.filter.as_str()).unwrap().unwrap();
/// assert_eq!((shared.group, shared.filter), ("workers", "jobs/#"));
/// ```
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy)]
pub struct SubscriptionEvent<'a> {
    /// The subscriber's client id.
    pub client_id: RStr<'a>,
    /// The filter as subscribed, `$share/group/` prefix included.
    pub filter: RStr<'a>,
    /// Granted QoS (0 for `session.unsubscribed`).
    pub qos: u8,
    /// No Local (5.0): the client's own messages are not delivered to it.
    pub no_local: bool,
    /// Retain As Published (5.0).
    pub retain_as_published: bool,
    /// Retain Handling (5.0): 0 send retained, 1 only if new, 2 never.
    pub retain_handling: u8,
    /// False when the session already had this filter.
    pub is_new: bool,
    /// The node's name.
    pub node: RStr<'a>,
}

/// MQTT 5.0 properties of a message, passed through from the publisher.
///
/// ```
/// use mqhost_plugin_api::testing::{message_event, UserProperties};
///
/// let pairs = UserProperties::new(&[("unit", "C")]);
/// let event = message_event("t").content_type("text/plain").user_properties(&pairs).build();
/// let properties = event.properties;
/// assert_eq!(properties.content_type.into_option().map(|c| c.as_str()), Some("text/plain"));
/// for pair in properties.user_properties.iter() {
///     assert_eq!((pair.0.as_str(), pair.1.as_str()), ("unit", "C"));
/// }
/// ```
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy)]
pub struct MessageProperties<'a> {
    /// Payload Format Indicator: 1 means UTF-8 text.
    pub payload_format_indicator: ROption<u8>,
    /// Seconds left before the message expires.
    pub message_expiry_interval: ROption<u32>,
    /// Content Type.
    pub content_type: ROption<RStr<'a>>,
    /// Response Topic, for request/response.
    pub response_topic: ROption<RStr<'a>>,
    /// Correlation Data, for request/response.
    pub correlation_data: ROption<RSlice<'a, u8>>,
    /// User Properties, in order, names may repeat.
    pub user_properties: RSlice<'a, Tuple2<RStr<'a>, RStr<'a>>>,
}

/// A message at `message.publish`, `message.delivered` or `message.acked`.
///
/// ```
/// use mqhost_plugin_api::testing::message_event;
///
/// let event = message_event("sensors/t1").payload(b"21.5").qos(1).build();
/// let topic = event.topic.as_str();
/// let payload: Vec<u8> = event.payload.to_vec();
/// let key = event.id.to_base62(); // the same at publish, delivery and ack
/// assert_eq!((topic, payload.as_slice(), key.len()), ("sensors/t1", &b"21.5"[..], 22));
/// ```
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy)]
pub struct MessageEvent<'a> {
    /// The id the message keeps from publish to ack.
    pub id: MessageId,
    /// Topic name.
    pub topic: RStr<'a>,
    /// Payload bytes.
    pub payload: RSlice<'a, u8>,
    /// QoS as published.
    pub qos: u8,
    /// Retain flag as published.
    pub retain: bool,
    /// Client id of the publisher (the node name for messages the broker
    /// made, such as `$SYS`).
    pub from: RStr<'a>,
    /// Publish time, Unix milliseconds.
    pub timestamp_ms: u64,
    /// MQTT 5.0 properties.
    pub properties: MessageProperties<'a>,
    /// The node's name.
    pub node: RStr<'a>,
}

/// `message.delivered` and `message.acked`: a message and its receiver.
///
/// ```
/// use mqhost_plugin_api::testing::{delivery_event, message_event};
///
/// let event = delivery_event("sub-1", message_event("a/b").qos(2).build()).qos(1).build();
/// // The subscriber was granted QoS 1: the delivery's QoS is the lower.
/// assert_eq!((event.qos, event.message.qos), (1, 2));
/// ```
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy)]
pub struct DeliveryEvent<'a> {
    /// Client id of the receiver.
    pub client_id: RStr<'a>,
    /// QoS of this delivery (the lower of published and granted).
    pub qos: u8,
    /// The message.
    pub message: MessageEvent<'a>,
}

/// A plugin's configuration file, whole, as the host read it.
///
/// ```
/// use mqhost_plugin_api::properties;
/// use mqhost_plugin_api::testing::plugin_config;
///
/// let config = plugin_config("welcome.text = hi\n").name("welcome").build();
/// let props = properties::parse(config.text.as_str(), config.source.as_str()).unwrap();
/// assert_eq!(props.value("welcome.text"), Some("hi"));
/// ```
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy)]
pub struct PluginConfig<'a> {
    /// The plugin's NAME.
    pub name: RStr<'a>,
    /// Path of the file (`etc/plugins/NAME.conf`), for messages.
    pub source: RStr<'a>,
    /// The file's text.
    pub text: RStr<'a>,
}
