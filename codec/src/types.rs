//! The packet model: one struct per MQTT control packet and its properties.
//!
//! The model is the MQTT 5.0 one; 3.x packets are the same packets with the
//! 5.0-only fields left at their defaults.

use bytes::Bytes;

use crate::error::DecodeError;

/// The MQTT protocol version a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProtocolVersion {
    /// MQTT 3.1: protocol name "MQIsdp", level 3.
    V3_1,
    /// MQTT 3.1.1: protocol name "MQTT", level 4.
    V3_1_1,
    /// MQTT 5.0: protocol name "MQTT", level 5.
    V5,
}

impl ProtocolVersion {
    /// The protocol level byte sent in CONNECT (3, 4 or 5).
    pub fn level(self) -> u8 {
        match self {
            ProtocolVersion::V3_1 => 3,
            ProtocolVersion::V3_1_1 => 4,
            ProtocolVersion::V5 => 5,
        }
    }

    /// Whether this is MQTT 5.0, the only version with properties and reason codes on every ack.
    pub fn is_v5(self) -> bool {
        self == ProtocolVersion::V5
    }

    /// The protocol name sent in CONNECT ("MQIsdp" for 3.1, "MQTT" otherwise).
    pub fn protocol_name(self) -> &'static str {
        match self {
            ProtocolVersion::V3_1 => "MQIsdp",
            ProtocolVersion::V3_1_1 | ProtocolVersion::V5 => "MQTT",
        }
    }
}

/// Quality of service of a message or subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(u8)]
pub enum QoS {
    /// QoS 0: delivered at most once, no acknowledgement.
    #[default]
    AtMostOnce = 0,
    /// QoS 1: delivered at least once, acknowledged by PUBACK.
    AtLeastOnce = 1,
    /// QoS 2: delivered exactly once, via PUBREC/PUBREL/PUBCOMP.
    ExactlyOnce = 2,
}

impl TryFrom<u8> for QoS {
    type Error = DecodeError;

    /// Only 0, 1 and 2 are QoS levels; 3 (and anything larger) is a malformed packet wherever it appears.
    fn try_from(value: u8) -> Result<Self, Self::Error> {
        match value {
            0 => Ok(QoS::AtMostOnce),
            1 => Ok(QoS::AtLeastOnce),
            2 => Ok(QoS::ExactlyOnce),
            _ => Err(DecodeError::MalformedPacket("invalid QoS")),
        }
    }
}

impl From<QoS> for u8 {
    fn from(qos: QoS) -> u8 {
        qos as u8
    }
}

/// User Property pairs (name, value) in the order they appear on the wire.
pub type UserProperties = Vec<(String, String)>;

/// Any MQTT control packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// CONNECT, boxed because it is by far the largest packet and the rarest.
    Connect(Box<Connect>),
    /// CONNACK.
    ConnAck(ConnAck),
    /// PUBLISH.
    Publish(Publish),
    /// PUBACK (QoS 1 acknowledgement).
    PubAck(PubAck),
    /// PUBREC (QoS 2, step 1).
    PubRec(PubAck),
    /// PUBREL (QoS 2, step 2).
    PubRel(PubAck),
    /// PUBCOMP (QoS 2, step 3).
    PubComp(PubAck),
    /// SUBSCRIBE.
    Subscribe(Subscribe),
    /// SUBACK.
    SubAck(SubAck),
    /// UNSUBSCRIBE.
    Unsubscribe(Unsubscribe),
    /// UNSUBACK.
    UnsubAck(UnsubAck),
    /// PINGREQ.
    PingReq,
    /// PINGRESP.
    PingResp,
    /// DISCONNECT.
    Disconnect(Disconnect),
    /// AUTH (5.0 only).
    Auth(Auth),
}

impl Packet {
    /// The packet type's name as the specification spells it, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Packet::Connect(_) => "CONNECT",
            Packet::ConnAck(_) => "CONNACK",
            Packet::Publish(_) => "PUBLISH",
            Packet::PubAck(_) => "PUBACK",
            Packet::PubRec(_) => "PUBREC",
            Packet::PubRel(_) => "PUBREL",
            Packet::PubComp(_) => "PUBCOMP",
            Packet::Subscribe(_) => "SUBSCRIBE",
            Packet::SubAck(_) => "SUBACK",
            Packet::Unsubscribe(_) => "UNSUBSCRIBE",
            Packet::UnsubAck(_) => "UNSUBACK",
            Packet::PingReq => "PINGREQ",
            Packet::PingResp => "PINGRESP",
            Packet::Disconnect(_) => "DISCONNECT",
            Packet::Auth(_) => "AUTH",
        }
    }
}

/// CONNECT: the first packet of every connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    /// The version this CONNECT is written in; it fixes the version of the whole connection.
    pub protocol: ProtocolVersion,
    /// Clean Start (5.0) / Clean Session (3.x).
    pub clean_start: bool,
    /// Keep alive in seconds; 0 disables it.
    pub keep_alive: u16,
    /// Client identifier; may be empty (the broker decides whether that is acceptable).
    pub client_id: String,
    /// The will message, if the Will Flag is set.
    pub will: Option<LastWill>,
    /// User name, if the User Name Flag is set.
    pub username: Option<String>,
    /// Password, if the Password Flag is set.
    pub password: Option<Bytes>,
    /// 5.0 CONNECT properties (all empty for 3.x).
    pub properties: ConnectProperties,
}

/// Properties of a 5.0 CONNECT.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectProperties {
    /// Session Expiry Interval in seconds (absent means 0).
    pub session_expiry_interval: Option<u32>,
    /// Receive Maximum: QoS > 0 publications the client accepts concurrently (never 0).
    pub receive_maximum: Option<u16>,
    /// Maximum Packet Size the client accepts (never 0).
    pub maximum_packet_size: Option<u32>,
    /// Topic Alias Maximum the client accepts from the server.
    pub topic_alias_maximum: Option<u16>,
    /// Request Response Information (0 or 1).
    pub request_response_information: Option<u8>,
    /// Request Problem Information (0 or 1).
    pub request_problem_information: Option<u8>,
    /// User Properties.
    pub user_properties: UserProperties,
    /// Authentication Method for enhanced authentication.
    pub authentication_method: Option<String>,
    /// Authentication Data (only valid together with an Authentication Method).
    pub authentication_data: Option<Bytes>,
}

/// The will message carried in CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastWill {
    /// Will Topic.
    pub topic: String,
    /// Will Payload.
    pub payload: Bytes,
    /// Will QoS.
    pub qos: QoS,
    /// Will Retain.
    pub retain: bool,
    /// 5.0 will properties (all empty for 3.x).
    pub properties: WillProperties,
}

/// Properties of a 5.0 will message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WillProperties {
    /// Will Delay Interval in seconds.
    pub will_delay_interval: Option<u32>,
    /// Payload Format Indicator (0 bytes, 1 UTF-8).
    pub payload_format_indicator: Option<u8>,
    /// Message Expiry Interval in seconds.
    pub message_expiry_interval: Option<u32>,
    /// Content Type.
    pub content_type: Option<String>,
    /// Response Topic.
    pub response_topic: Option<String>,
    /// Correlation Data.
    pub correlation_data: Option<Bytes>,
    /// User Properties.
    pub user_properties: UserProperties,
}

/// CONNACK: the server's answer to CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnAck {
    /// Session Present (always false in 3.1, which has no such flag).
    pub session_present: bool,
    /// 5.0 reason code; mapped to a 3.x return code when encoded for 3.x.
    pub reason: u8,
    /// 5.0 CONNACK properties.
    pub properties: ConnAckProperties,
}

/// Properties of a 5.0 CONNACK.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnAckProperties {
    /// Session Expiry Interval the server chose.
    pub session_expiry_interval: Option<u32>,
    /// Receive Maximum of the server (never 0).
    pub receive_maximum: Option<u16>,
    /// Maximum QoS the server supports (0 or 1; absent means 2).
    pub maximum_qos: Option<u8>,
    /// Retain Available (0 or 1).
    pub retain_available: Option<u8>,
    /// Maximum Packet Size the server accepts (never 0).
    pub maximum_packet_size: Option<u32>,
    /// Client identifier the server assigned to a client that sent an empty one.
    pub assigned_client_identifier: Option<String>,
    /// Topic Alias Maximum the server accepts.
    pub topic_alias_maximum: Option<u16>,
    /// Reason String.
    pub reason_string: Option<String>,
    /// User Properties.
    pub user_properties: UserProperties,
    /// Wildcard Subscription Available (0 or 1).
    pub wildcard_subscription_available: Option<u8>,
    /// Subscription Identifiers Available (0 or 1).
    pub subscription_identifiers_available: Option<u8>,
    /// Shared Subscription Available (0 or 1).
    pub shared_subscription_available: Option<u8>,
    /// Server Keep Alive, overriding the client's keep alive.
    pub server_keep_alive: Option<u16>,
    /// Response Information.
    pub response_information: Option<String>,
    /// Server Reference.
    pub server_reference: Option<String>,
    /// Authentication Method.
    pub authentication_method: Option<String>,
    /// Authentication Data.
    pub authentication_data: Option<Bytes>,
}

/// PUBLISH: an application message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// DUP: this may be a redelivery (never set for QoS 0).
    pub dup: bool,
    /// QoS of this delivery.
    pub qos: QoS,
    /// RETAIN.
    pub retain: bool,
    /// Topic name; may be empty in 5.0 when a topic alias is used.
    pub topic: String,
    /// Packet identifier; 0 for QoS 0.
    pub packet_id: u16,
    /// Payload; a zero-copy slice of the input buffer when decoded.
    pub payload: Bytes,
    /// 5.0 PUBLISH properties.
    pub properties: PublishProperties,
}

/// Properties of a 5.0 PUBLISH.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PublishProperties {
    /// Payload Format Indicator (0 bytes, 1 UTF-8).
    pub payload_format_indicator: Option<u8>,
    /// Message Expiry Interval in seconds.
    pub message_expiry_interval: Option<u32>,
    /// Topic Alias (never 0).
    pub topic_alias: Option<u16>,
    /// Response Topic.
    pub response_topic: Option<String>,
    /// Correlation Data.
    pub correlation_data: Option<Bytes>,
    /// User Properties.
    pub user_properties: UserProperties,
    /// Subscription Identifiers of the matching subscriptions (server to client only; never 0).
    pub subscription_identifiers: Vec<u32>,
    /// Content Type.
    pub content_type: Option<String>,
}

/// PUBACK, PUBREC, PUBREL and PUBCOMP share this shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PubAck {
    /// Packet identifier of the acknowledged PUBLISH.
    pub packet_id: u16,
    /// 5.0 reason code (not sent in 3.x).
    pub reason: u8,
    /// 5.0 properties.
    pub properties: AckProperties,
}

/// Properties of the 5.0 acknowledgements (PUBACK family, SUBACK, UNSUBACK).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AckProperties {
    /// Reason String.
    pub reason_string: Option<String>,
    /// User Properties.
    pub user_properties: UserProperties,
}

impl AckProperties {
    /// True when there is no property to send, which lets acks use their short forms.
    pub fn is_empty(&self) -> bool {
        self.reason_string.is_none() && self.user_properties.is_empty()
    }
}

/// SUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    /// Packet identifier (never 0).
    pub packet_id: u16,
    /// Topic filters with their options, at least one.
    pub filters: Vec<(String, SubscriptionOptions)>,
    /// 5.0 SUBSCRIBE properties.
    pub properties: SubscribeProperties,
}

/// Per-filter options of SUBSCRIBE; in 3.x only `qos` exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SubscriptionOptions {
    /// Maximum QoS the subscriber accepts.
    pub qos: QoS,
    /// No Local: do not forward the client's own publications to it.
    pub no_local: bool,
    /// Retain As Published: keep the RETAIN flag when forwarding.
    pub retain_as_published: bool,
    /// Retain Handling: 0 send retained on subscribe, 1 only for new subscriptions, 2 never.
    pub retain_handling: u8,
}

/// Properties of a 5.0 SUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubscribeProperties {
    /// Subscription Identifier (1 to 268,435,455).
    pub subscription_identifier: Option<u32>,
    /// User Properties.
    pub user_properties: UserProperties,
}

/// SUBACK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAck {
    /// Packet identifier of the SUBSCRIBE.
    pub packet_id: u16,
    /// One reason code per filter, in order (5.0 codes; any failure becomes 0x80 in 3.x).
    pub reasons: Vec<u8>,
    /// 5.0 properties.
    pub properties: AckProperties,
}

/// UNSUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    /// Packet identifier (never 0).
    pub packet_id: u16,
    /// Topic filters to remove, at least one.
    pub filters: Vec<String>,
    /// 5.0 User Properties (the only UNSUBSCRIBE property).
    pub user_properties: UserProperties,
}

/// UNSUBACK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubAck {
    /// Packet identifier of the UNSUBSCRIBE.
    pub packet_id: u16,
    /// One 5.0 reason code per filter; empty and ignored in 3.x.
    pub reasons: Vec<u8>,
    /// 5.0 properties.
    pub properties: AckProperties,
}

/// DISCONNECT.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Disconnect {
    /// 5.0 reason code (must be 0 in 3.x, where DISCONNECT carries nothing).
    pub reason: u8,
    /// 5.0 properties.
    pub properties: DisconnectProperties,
}

/// Properties of a 5.0 DISCONNECT.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DisconnectProperties {
    /// Session Expiry Interval (client to server only).
    pub session_expiry_interval: Option<u32>,
    /// Reason String.
    pub reason_string: Option<String>,
    /// User Properties.
    pub user_properties: UserProperties,
    /// Server Reference (server to client only).
    pub server_reference: Option<String>,
}

impl DisconnectProperties {
    /// True when there is no property to send, which lets DISCONNECT use its short forms.
    pub fn is_empty(&self) -> bool {
        self.session_expiry_interval.is_none()
            && self.reason_string.is_none()
            && self.user_properties.is_empty()
            && self.server_reference.is_none()
    }
}

/// AUTH (5.0 only): a step of enhanced authentication.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Auth {
    /// Reason code: 0x00 success, 0x18 continue, 0x19 re-authenticate.
    pub reason: u8,
    /// Properties.
    pub properties: AuthProperties,
}

/// Properties of AUTH.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthProperties {
    /// Authentication Method.
    pub authentication_method: Option<String>,
    /// Authentication Data.
    pub authentication_data: Option<Bytes>,
    /// Reason String.
    pub reason_string: Option<String>,
    /// User Properties.
    pub user_properties: UserProperties,
}

impl AuthProperties {
    /// True when there is no property to send, which lets AUTH use its empty form.
    pub fn is_empty(&self) -> bool {
        self.authentication_method.is_none()
            && self.authentication_data.is_none()
            && self.reason_string.is_none()
            && self.user_properties.is_empty()
    }
}
