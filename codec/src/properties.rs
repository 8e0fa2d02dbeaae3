//! MQTT 5.0 properties on the wire: reading a property section into the typed
//! property struct of its packet, and writing those structs back.
//!
//! Rules enforced while reading (MQTT 5.0 section 2.2.2 and each property's definition):
//! - an unknown identifier, or one not valid for the packet type, is a malformed packet;
//! - a property other than User Property (and Subscription Identifier in PUBLISH)
//!   given twice is a protocol error;
//! - values outside a property's range (a flag other than 0/1, a zero Receive Maximum,
//!   Maximum Packet Size, Topic Alias or Subscription Identifier) are protocol errors.

use bytes::Bytes;

use crate::error::{DecodeError, EncodeError};
use crate::types::{
    AckProperties, AuthProperties, ConnAckProperties, ConnectProperties, DisconnectProperties,
    PublishProperties, SubscribeProperties, UserProperties, WillProperties,
};
use crate::wire::{length_vbi, Counter, Reader, Sink};

const PAYLOAD_FORMAT_INDICATOR: u8 = 0x01;
const MESSAGE_EXPIRY_INTERVAL: u8 = 0x02;
const CONTENT_TYPE: u8 = 0x03;
const RESPONSE_TOPIC: u8 = 0x08;
const CORRELATION_DATA: u8 = 0x09;
const SUBSCRIPTION_IDENTIFIER: u8 = 0x0B;
const SESSION_EXPIRY_INTERVAL: u8 = 0x11;
const ASSIGNED_CLIENT_IDENTIFIER: u8 = 0x12;
const SERVER_KEEP_ALIVE: u8 = 0x13;
const AUTHENTICATION_METHOD: u8 = 0x15;
const AUTHENTICATION_DATA: u8 = 0x16;
const REQUEST_PROBLEM_INFORMATION: u8 = 0x17;
const WILL_DELAY_INTERVAL: u8 = 0x18;
const REQUEST_RESPONSE_INFORMATION: u8 = 0x19;
const RESPONSE_INFORMATION: u8 = 0x1A;
const SERVER_REFERENCE: u8 = 0x1C;
const REASON_STRING: u8 = 0x1F;
const RECEIVE_MAXIMUM: u8 = 0x21;
const TOPIC_ALIAS_MAXIMUM: u8 = 0x22;
const TOPIC_ALIAS: u8 = 0x23;
const MAXIMUM_QOS: u8 = 0x24;
const RETAIN_AVAILABLE: u8 = 0x25;
const USER_PROPERTY: u8 = 0x26;
const MAXIMUM_PACKET_SIZE: u8 = 0x27;
const WILDCARD_SUBSCRIPTION_AVAILABLE: u8 = 0x28;
const SUBSCRIPTION_IDENTIFIER_AVAILABLE: u8 = 0x29;
const SHARED_SUBSCRIPTION_AVAILABLE: u8 = 0x2A;

/// One decoded property, typed by its identifier.
enum Property {
    PayloadFormatIndicator(u8),
    MessageExpiryInterval(u32),
    ContentType(String),
    ResponseTopic(String),
    CorrelationData(Bytes),
    SubscriptionIdentifier(u32),
    SessionExpiryInterval(u32),
    AssignedClientIdentifier(String),
    ServerKeepAlive(u16),
    AuthenticationMethod(String),
    AuthenticationData(Bytes),
    RequestProblemInformation(u8),
    WillDelayInterval(u32),
    RequestResponseInformation(u8),
    ResponseInformation(String),
    ServerReference(String),
    ReasonString(String),
    ReceiveMaximum(u16),
    TopicAliasMaximum(u16),
    TopicAlias(u16),
    MaximumQos(u8),
    RetainAvailable(u8),
    User(String, String),
    MaximumPacketSize(u32),
    WildcardSubscriptionAvailable(u8),
    SubscriptionIdentifierAvailable(u8),
    SharedSubscriptionAvailable(u8),
}

fn flag(value: u8, what: &'static str) -> Result<u8, DecodeError> {
    if value <= 1 {
        Ok(value)
    } else {
        Err(DecodeError::ProtocolError(what))
    }
}

fn non_zero_u16(value: u16, what: &'static str) -> Result<u16, DecodeError> {
    if value == 0 {
        Err(DecodeError::ProtocolError(what))
    } else {
        Ok(value)
    }
}

fn non_zero_u32(value: u32, what: &'static str) -> Result<u32, DecodeError> {
    if value == 0 {
        Err(DecodeError::ProtocolError(what))
    } else {
        Ok(value)
    }
}

/// The properties of one packet, read one at a time.
struct Section<'a> {
    r: Reader<'a>,
}

impl<'a> Section<'a> {
    /// Reads the Property Length and takes that many bytes from `r`.
    fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let len = r.vbi()?;
        let len = usize::try_from(len)
            .map_err(|_| DecodeError::MalformedPacket("property length too large"))?;
        Ok(Section { r: r.sub(len)? })
    }

    fn next(&mut self) -> Result<Option<Property>, DecodeError> {
        if self.r.is_empty() {
            return Ok(None);
        }
        let r = &mut self.r;
        // Identifiers are Variable Byte Integers; parsing them as such rejects
        // padded forms like 0x81 0x00 instead of misreading them.
        let id = r.vbi()?;
        let id = u8::try_from(id)
            .map_err(|_| DecodeError::MalformedPacket("unknown property identifier"))?;
        let property = match id {
            PAYLOAD_FORMAT_INDICATOR => Property::PayloadFormatIndicator(flag(
                r.u8()?,
                "payload format indicator must be 0 or 1",
            )?),
            MESSAGE_EXPIRY_INTERVAL => Property::MessageExpiryInterval(r.u32()?),
            CONTENT_TYPE => Property::ContentType(r.string()?),
            RESPONSE_TOPIC => Property::ResponseTopic(r.string()?),
            CORRELATION_DATA => Property::CorrelationData(r.binary()?),
            SUBSCRIPTION_IDENTIFIER => Property::SubscriptionIdentifier(non_zero_u32(
                r.vbi()?,
                "subscription identifier 0",
            )?),
            SESSION_EXPIRY_INTERVAL => Property::SessionExpiryInterval(r.u32()?),
            ASSIGNED_CLIENT_IDENTIFIER => Property::AssignedClientIdentifier(r.string()?),
            SERVER_KEEP_ALIVE => Property::ServerKeepAlive(r.u16()?),
            AUTHENTICATION_METHOD => Property::AuthenticationMethod(r.string()?),
            AUTHENTICATION_DATA => Property::AuthenticationData(r.binary()?),
            REQUEST_PROBLEM_INFORMATION => Property::RequestProblemInformation(flag(
                r.u8()?,
                "request problem information must be 0 or 1",
            )?),
            WILL_DELAY_INTERVAL => Property::WillDelayInterval(r.u32()?),
            REQUEST_RESPONSE_INFORMATION => Property::RequestResponseInformation(flag(
                r.u8()?,
                "request response information must be 0 or 1",
            )?),
            RESPONSE_INFORMATION => Property::ResponseInformation(r.string()?),
            SERVER_REFERENCE => Property::ServerReference(r.string()?),
            REASON_STRING => Property::ReasonString(r.string()?),
            RECEIVE_MAXIMUM => {
                Property::ReceiveMaximum(non_zero_u16(r.u16()?, "receive maximum 0")?)
            }
            TOPIC_ALIAS_MAXIMUM => Property::TopicAliasMaximum(r.u16()?),
            TOPIC_ALIAS => Property::TopicAlias(non_zero_u16(r.u16()?, "topic alias 0")?),
            MAXIMUM_QOS => Property::MaximumQos(flag(r.u8()?, "maximum QoS must be 0 or 1")?),
            RETAIN_AVAILABLE => {
                Property::RetainAvailable(flag(r.u8()?, "retain available must be 0 or 1")?)
            }
            USER_PROPERTY => {
                // Each pair costs two Strings in memory, many times its
                // five bytes on the wire: counted before it is built.
                r.take_user_property()?;
                let name = r.string()?;
                Property::User(name, r.string()?)
            }
            MAXIMUM_PACKET_SIZE => {
                Property::MaximumPacketSize(non_zero_u32(r.u32()?, "maximum packet size 0")?)
            }
            WILDCARD_SUBSCRIPTION_AVAILABLE => Property::WildcardSubscriptionAvailable(flag(
                r.u8()?,
                "wildcard subscription available must be 0 or 1",
            )?),
            SUBSCRIPTION_IDENTIFIER_AVAILABLE => Property::SubscriptionIdentifierAvailable(flag(
                r.u8()?,
                "subscription identifiers available must be 0 or 1",
            )?),
            SHARED_SUBSCRIPTION_AVAILABLE => Property::SharedSubscriptionAvailable(flag(
                r.u8()?,
                "shared subscription available must be 0 or 1",
            )?),
            _ => return Err(DecodeError::MalformedPacket("unknown property identifier")),
        };
        Ok(Some(property))
    }
}

fn once<T>(slot: &mut Option<T>, value: T) -> Result<(), DecodeError> {
    if slot.is_some() {
        return Err(DecodeError::ProtocolError(
            "property included more than once",
        ));
    }
    *slot = Some(value);
    Ok(())
}

const NOT_ALLOWED: DecodeError =
    DecodeError::MalformedPacket("property not valid for this packet type");

/// Reads the properties of a CONNECT.
pub(crate) fn read_connect(r: &mut Reader<'_>) -> Result<ConnectProperties, DecodeError> {
    let mut p = ConnectProperties::default();
    let mut section = Section::read(r)?;
    while let Some(property) = section.next()? {
        match property {
            Property::SessionExpiryInterval(v) => once(&mut p.session_expiry_interval, v)?,
            Property::ReceiveMaximum(v) => once(&mut p.receive_maximum, v)?,
            Property::MaximumPacketSize(v) => once(&mut p.maximum_packet_size, v)?,
            Property::TopicAliasMaximum(v) => once(&mut p.topic_alias_maximum, v)?,
            Property::RequestResponseInformation(v) => {
                once(&mut p.request_response_information, v)?
            }
            Property::RequestProblemInformation(v) => once(&mut p.request_problem_information, v)?,
            Property::User(k, v) => p.user_properties.push((k, v)),
            Property::AuthenticationMethod(v) => once(&mut p.authentication_method, v)?,
            Property::AuthenticationData(v) => once(&mut p.authentication_data, v)?,
            _ => return Err(NOT_ALLOWED),
        }
    }
    if p.authentication_data.is_some() && p.authentication_method.is_none() {
        return Err(DecodeError::ProtocolError(
            "authentication data without authentication method",
        ));
    }
    Ok(p)
}

/// Reads the will properties in a CONNECT payload.
pub(crate) fn read_will(r: &mut Reader<'_>) -> Result<WillProperties, DecodeError> {
    let mut p = WillProperties::default();
    let mut section = Section::read(r)?;
    while let Some(property) = section.next()? {
        match property {
            Property::WillDelayInterval(v) => once(&mut p.will_delay_interval, v)?,
            Property::PayloadFormatIndicator(v) => once(&mut p.payload_format_indicator, v)?,
            Property::MessageExpiryInterval(v) => once(&mut p.message_expiry_interval, v)?,
            Property::ContentType(v) => once(&mut p.content_type, v)?,
            Property::ResponseTopic(v) => once(&mut p.response_topic, v)?,
            Property::CorrelationData(v) => once(&mut p.correlation_data, v)?,
            Property::User(k, v) => p.user_properties.push((k, v)),
            _ => return Err(NOT_ALLOWED),
        }
    }
    Ok(p)
}

/// Reads the properties of a CONNACK.
pub(crate) fn read_connack(r: &mut Reader<'_>) -> Result<ConnAckProperties, DecodeError> {
    let mut p = ConnAckProperties::default();
    let mut section = Section::read(r)?;
    while let Some(property) = section.next()? {
        match property {
            Property::SessionExpiryInterval(v) => once(&mut p.session_expiry_interval, v)?,
            Property::ReceiveMaximum(v) => once(&mut p.receive_maximum, v)?,
            Property::MaximumQos(v) => once(&mut p.maximum_qos, v)?,
            Property::RetainAvailable(v) => once(&mut p.retain_available, v)?,
            Property::MaximumPacketSize(v) => once(&mut p.maximum_packet_size, v)?,
            Property::AssignedClientIdentifier(v) => once(&mut p.assigned_client_identifier, v)?,
            Property::TopicAliasMaximum(v) => once(&mut p.topic_alias_maximum, v)?,
            Property::ReasonString(v) => once(&mut p.reason_string, v)?,
            Property::User(k, v) => p.user_properties.push((k, v)),
            Property::WildcardSubscriptionAvailable(v) => {
                once(&mut p.wildcard_subscription_available, v)?
            }
            Property::SubscriptionIdentifierAvailable(v) => {
                once(&mut p.subscription_identifiers_available, v)?
            }
            Property::SharedSubscriptionAvailable(v) => {
                once(&mut p.shared_subscription_available, v)?
            }
            Property::ServerKeepAlive(v) => once(&mut p.server_keep_alive, v)?,
            Property::ResponseInformation(v) => once(&mut p.response_information, v)?,
            Property::ServerReference(v) => once(&mut p.server_reference, v)?,
            Property::AuthenticationMethod(v) => once(&mut p.authentication_method, v)?,
            Property::AuthenticationData(v) => once(&mut p.authentication_data, v)?,
            _ => return Err(NOT_ALLOWED),
        }
    }
    Ok(p)
}

/// Reads the properties of a PUBLISH.
pub(crate) fn read_publish(r: &mut Reader<'_>) -> Result<PublishProperties, DecodeError> {
    let mut p = PublishProperties::default();
    let mut section = Section::read(r)?;
    while let Some(property) = section.next()? {
        match property {
            Property::PayloadFormatIndicator(v) => once(&mut p.payload_format_indicator, v)?,
            Property::MessageExpiryInterval(v) => once(&mut p.message_expiry_interval, v)?,
            Property::TopicAlias(v) => once(&mut p.topic_alias, v)?,
            Property::ResponseTopic(v) => once(&mut p.response_topic, v)?,
            Property::CorrelationData(v) => once(&mut p.correlation_data, v)?,
            Property::User(k, v) => p.user_properties.push((k, v)),
            Property::SubscriptionIdentifier(v) => p.subscription_identifiers.push(v),
            Property::ContentType(v) => once(&mut p.content_type, v)?,
            _ => return Err(NOT_ALLOWED),
        }
    }
    Ok(p)
}

/// Reads the properties of PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK or UNSUBACK.
pub(crate) fn read_ack(r: &mut Reader<'_>) -> Result<AckProperties, DecodeError> {
    let mut p = AckProperties::default();
    let mut section = Section::read(r)?;
    while let Some(property) = section.next()? {
        match property {
            Property::ReasonString(v) => once(&mut p.reason_string, v)?,
            Property::User(k, v) => p.user_properties.push((k, v)),
            _ => return Err(NOT_ALLOWED),
        }
    }
    Ok(p)
}

/// Reads the properties of a SUBSCRIBE.
pub(crate) fn read_subscribe(r: &mut Reader<'_>) -> Result<SubscribeProperties, DecodeError> {
    let mut p = SubscribeProperties::default();
    let mut section = Section::read(r)?;
    while let Some(property) = section.next()? {
        match property {
            Property::SubscriptionIdentifier(v) => once(&mut p.subscription_identifier, v)?,
            Property::User(k, v) => p.user_properties.push((k, v)),
            _ => return Err(NOT_ALLOWED),
        }
    }
    Ok(p)
}

/// Reads the properties of an UNSUBSCRIBE (User Properties only).
pub(crate) fn read_unsubscribe(r: &mut Reader<'_>) -> Result<UserProperties, DecodeError> {
    let mut user_properties = UserProperties::new();
    let mut section = Section::read(r)?;
    while let Some(property) = section.next()? {
        match property {
            Property::User(k, v) => user_properties.push((k, v)),
            _ => return Err(NOT_ALLOWED),
        }
    }
    Ok(user_properties)
}

/// Reads the properties of a DISCONNECT.
pub(crate) fn read_disconnect(r: &mut Reader<'_>) -> Result<DisconnectProperties, DecodeError> {
    let mut p = DisconnectProperties::default();
    let mut section = Section::read(r)?;
    while let Some(property) = section.next()? {
        match property {
            Property::SessionExpiryInterval(v) => once(&mut p.session_expiry_interval, v)?,
            Property::ReasonString(v) => once(&mut p.reason_string, v)?,
            Property::User(k, v) => p.user_properties.push((k, v)),
            Property::ServerReference(v) => once(&mut p.server_reference, v)?,
            _ => return Err(NOT_ALLOWED),
        }
    }
    Ok(p)
}

/// Reads the properties of an AUTH.
pub(crate) fn read_auth(r: &mut Reader<'_>) -> Result<AuthProperties, DecodeError> {
    let mut p = AuthProperties::default();
    let mut section = Section::read(r)?;
    while let Some(property) = section.next()? {
        match property {
            Property::AuthenticationMethod(v) => once(&mut p.authentication_method, v)?,
            Property::AuthenticationData(v) => once(&mut p.authentication_data, v)?,
            Property::ReasonString(v) => once(&mut p.reason_string, v)?,
            Property::User(k, v) => p.user_properties.push((k, v)),
            _ => return Err(NOT_ALLOWED),
        }
    }
    Ok(p)
}

/// A set of properties that can be written as a property section.
///
/// Implementations list their properties in identifier order, so encodings are
/// deterministic and easy to compare with hand-written vectors.
pub(crate) trait PropertySet {
    fn emit<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError>;
}

/// Writes a property section: its Property Length, then the properties.
pub(crate) fn write_section<S: Sink, P: PropertySet + ?Sized>(
    s: &mut S,
    props: &P,
) -> Result<(), EncodeError> {
    let mut counter = Counter::default();
    props.emit(&mut counter)?;
    s.vbi(length_vbi(counter.len)?)?;
    props.emit(s)
}

// Property identifiers are all below 0x80, so their VBI encoding is the identifier byte.

fn put_u8<S: Sink>(s: &mut S, id: u8, value: Option<u8>) {
    if let Some(v) = value {
        s.byte(id);
        s.byte(v);
    }
}

fn put_u16<S: Sink>(s: &mut S, id: u8, value: Option<u16>) {
    if let Some(v) = value {
        s.byte(id);
        s.u16(v);
    }
}

fn put_u32<S: Sink>(s: &mut S, id: u8, value: Option<u32>) {
    if let Some(v) = value {
        s.byte(id);
        s.u32(v);
    }
}

fn put_string<S: Sink>(s: &mut S, id: u8, value: Option<&String>) -> Result<(), EncodeError> {
    if let Some(v) = value {
        s.byte(id);
        s.string(v)?;
    }
    Ok(())
}

fn put_binary<S: Sink>(s: &mut S, id: u8, value: Option<&Bytes>) -> Result<(), EncodeError> {
    if let Some(v) = value {
        s.byte(id);
        s.binary(v)?;
    }
    Ok(())
}

/// Writes Subscription Identifier properties, one per value.
pub(crate) fn put_subscription_identifiers<S: Sink>(
    s: &mut S,
    ids: &[u32],
) -> Result<(), EncodeError> {
    for &id in ids {
        s.byte(SUBSCRIPTION_IDENTIFIER);
        s.vbi(id)?;
    }
    Ok(())
}

/// Writes User Property pairs in order.
pub(crate) fn put_user_properties<S: Sink>(
    s: &mut S,
    pairs: &UserProperties,
) -> Result<(), EncodeError> {
    for (name, value) in pairs {
        s.byte(USER_PROPERTY);
        s.string(name)?;
        s.string(value)?;
    }
    Ok(())
}

impl PropertySet for ConnectProperties {
    fn emit<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        put_u32(s, SESSION_EXPIRY_INTERVAL, self.session_expiry_interval);
        put_string(
            s,
            AUTHENTICATION_METHOD,
            self.authentication_method.as_ref(),
        )?;
        put_binary(s, AUTHENTICATION_DATA, self.authentication_data.as_ref())?;
        put_u8(
            s,
            REQUEST_PROBLEM_INFORMATION,
            self.request_problem_information,
        );
        put_u8(
            s,
            REQUEST_RESPONSE_INFORMATION,
            self.request_response_information,
        );
        put_u16(s, RECEIVE_MAXIMUM, self.receive_maximum);
        put_u16(s, TOPIC_ALIAS_MAXIMUM, self.topic_alias_maximum);
        put_user_properties(s, &self.user_properties)?;
        put_u32(s, MAXIMUM_PACKET_SIZE, self.maximum_packet_size);
        Ok(())
    }
}

impl PropertySet for WillProperties {
    fn emit<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        put_u8(s, PAYLOAD_FORMAT_INDICATOR, self.payload_format_indicator);
        put_u32(s, MESSAGE_EXPIRY_INTERVAL, self.message_expiry_interval);
        put_string(s, CONTENT_TYPE, self.content_type.as_ref())?;
        put_string(s, RESPONSE_TOPIC, self.response_topic.as_ref())?;
        put_binary(s, CORRELATION_DATA, self.correlation_data.as_ref())?;
        put_u32(s, WILL_DELAY_INTERVAL, self.will_delay_interval);
        put_user_properties(s, &self.user_properties)
    }
}

impl PropertySet for ConnAckProperties {
    fn emit<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        put_u32(s, SESSION_EXPIRY_INTERVAL, self.session_expiry_interval);
        put_string(
            s,
            ASSIGNED_CLIENT_IDENTIFIER,
            self.assigned_client_identifier.as_ref(),
        )?;
        put_u16(s, SERVER_KEEP_ALIVE, self.server_keep_alive);
        put_string(
            s,
            AUTHENTICATION_METHOD,
            self.authentication_method.as_ref(),
        )?;
        put_binary(s, AUTHENTICATION_DATA, self.authentication_data.as_ref())?;
        put_string(s, RESPONSE_INFORMATION, self.response_information.as_ref())?;
        put_string(s, SERVER_REFERENCE, self.server_reference.as_ref())?;
        put_string(s, REASON_STRING, self.reason_string.as_ref())?;
        put_u16(s, RECEIVE_MAXIMUM, self.receive_maximum);
        put_u16(s, TOPIC_ALIAS_MAXIMUM, self.topic_alias_maximum);
        put_u8(s, MAXIMUM_QOS, self.maximum_qos);
        put_u8(s, RETAIN_AVAILABLE, self.retain_available);
        put_user_properties(s, &self.user_properties)?;
        put_u32(s, MAXIMUM_PACKET_SIZE, self.maximum_packet_size);
        put_u8(
            s,
            WILDCARD_SUBSCRIPTION_AVAILABLE,
            self.wildcard_subscription_available,
        );
        put_u8(
            s,
            SUBSCRIPTION_IDENTIFIER_AVAILABLE,
            self.subscription_identifiers_available,
        );
        put_u8(
            s,
            SHARED_SUBSCRIPTION_AVAILABLE,
            self.shared_subscription_available,
        );
        Ok(())
    }
}

/// The properties of one outgoing PUBLISH: the message's shared properties with
/// the per-delivery ones (alias, expiry, subscription identifiers) supplied separately.
pub(crate) struct PublishSection<'a> {
    pub(crate) shared: &'a PublishProperties,
    pub(crate) message_expiry_interval: Option<u32>,
    pub(crate) topic_alias: Option<u16>,
    pub(crate) subscription_identifiers: &'a [u32],
}

impl PropertySet for PublishSection<'_> {
    fn emit<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        let shared = self.shared;
        put_u8(s, PAYLOAD_FORMAT_INDICATOR, shared.payload_format_indicator);
        put_u32(s, MESSAGE_EXPIRY_INTERVAL, self.message_expiry_interval);
        put_string(s, CONTENT_TYPE, shared.content_type.as_ref())?;
        put_string(s, RESPONSE_TOPIC, shared.response_topic.as_ref())?;
        put_binary(s, CORRELATION_DATA, shared.correlation_data.as_ref())?;
        put_subscription_identifiers(s, self.subscription_identifiers)?;
        put_u16(s, TOPIC_ALIAS, self.topic_alias);
        put_user_properties(s, &shared.user_properties)
    }
}

impl PropertySet for AckProperties {
    fn emit<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        put_string(s, REASON_STRING, self.reason_string.as_ref())?;
        put_user_properties(s, &self.user_properties)
    }
}

impl PropertySet for SubscribeProperties {
    fn emit<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        if let Some(id) = self.subscription_identifier {
            put_subscription_identifiers(s, &[id])?;
        }
        put_user_properties(s, &self.user_properties)
    }
}

/// UNSUBSCRIBE's property section, which holds only User Properties.
pub(crate) struct UserOnly<'a>(pub(crate) &'a UserProperties);

impl PropertySet for UserOnly<'_> {
    fn emit<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        put_user_properties(s, self.0)
    }
}

impl PropertySet for DisconnectProperties {
    fn emit<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        put_u32(s, SESSION_EXPIRY_INTERVAL, self.session_expiry_interval);
        put_string(s, SERVER_REFERENCE, self.server_reference.as_ref())?;
        put_string(s, REASON_STRING, self.reason_string.as_ref())?;
        put_user_properties(s, &self.user_properties)
    }
}

impl PropertySet for AuthProperties {
    fn emit<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        put_string(
            s,
            AUTHENTICATION_METHOD,
            self.authentication_method.as_ref(),
        )?;
        put_binary(s, AUTHENTICATION_DATA, self.authentication_data.as_ref())?;
        put_string(s, REASON_STRING, self.reason_string.as_ref())?;
        put_user_properties(s, &self.user_properties)
    }
}
