//! The data of each hook point. Events borrow the broker's data for the
//! duration of one call: a plugin copies what it keeps.

use abi_stable::std_types::{ROption, RSlice, RStr, Tuple2};
use abi_stable::StableAbi;

use crate::types::MessageId;

/// `client.connected` and `client.disconnected`.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy)]
pub struct ClientEvent<'a> {
    pub client_id: RStr<'a>,
    pub username: ROption<RStr<'a>>,
    /// The client's address, `ip:port`.
    pub peer: RStr<'a>,
    /// Protocol level: 3 (MQTT 3.1), 4 (3.1.1) or 5 (5.0).
    pub protocol: u8,
    pub clean_start: bool,
    /// Keep alive in force, seconds.
    pub keep_alive: u16,
    /// The node's name.
    pub node: RStr<'a>,
    /// When it happened, Unix milliseconds.
    pub timestamp_ms: u64,
    /// Why the connection ended (`normal`, `closed`, `keepalive_timeout`,
    /// `takenover`, `shutdown`, or a protocol error); empty for
    /// `client.connected`.
    pub reason: RStr<'a>,
}

/// `session.created`.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy)]
pub struct SessionEvent<'a> {
    pub client_id: RStr<'a>,
    pub username: ROption<RStr<'a>>,
    pub node: RStr<'a>,
    /// True when an existing session was resumed (Session Present).
    pub resumed: bool,
}

/// `session.subscribed` and `session.unsubscribed`.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy)]
pub struct SubscriptionEvent<'a> {
    pub client_id: RStr<'a>,
    /// The filter as subscribed, `$share/group/` prefix included.
    pub filter: RStr<'a>,
    /// Granted QoS (0 for `session.unsubscribed`).
    pub qos: u8,
    pub no_local: bool,
    pub retain_as_published: bool,
    pub retain_handling: u8,
    /// False when the session already had this filter.
    pub is_new: bool,
    pub node: RStr<'a>,
}

/// MQTT 5.0 properties of a message, passed through from the publisher.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy)]
pub struct MessageProperties<'a> {
    pub payload_format_indicator: ROption<u8>,
    /// Seconds left before the message expires.
    pub message_expiry_interval: ROption<u32>,
    pub content_type: ROption<RStr<'a>>,
    pub response_topic: ROption<RStr<'a>>,
    pub correlation_data: ROption<RSlice<'a, u8>>,
    pub user_properties: RSlice<'a, Tuple2<RStr<'a>, RStr<'a>>>,
}

/// A message at `message.publish`, `message.delivered` or `message.acked`.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy)]
pub struct MessageEvent<'a> {
    /// The id the message keeps from publish to ack.
    pub id: MessageId,
    pub topic: RStr<'a>,
    pub payload: RSlice<'a, u8>,
    /// QoS as published.
    pub qos: u8,
    pub retain: bool,
    /// Client id of the publisher (the node name for messages the broker
    /// made, such as `$SYS`).
    pub from: RStr<'a>,
    /// Publish time, Unix milliseconds.
    pub timestamp_ms: u64,
    pub properties: MessageProperties<'a>,
    pub node: RStr<'a>,
}

/// `message.delivered` and `message.acked`: a message and its receiver.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy)]
pub struct DeliveryEvent<'a> {
    /// Client id of the receiver.
    pub client_id: RStr<'a>,
    /// QoS of this delivery (the lower of published and granted).
    pub qos: u8,
    pub message: MessageEvent<'a>,
}

/// A plugin's configuration file, whole, as the host read it.
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
