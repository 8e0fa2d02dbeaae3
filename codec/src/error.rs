//! Errors returned by [`decode`](crate::decode) and [`encode`](crate::encode).

use std::fmt;

use crate::reason;

/// Why a byte stream could not be decoded into a packet.
///
/// Every variant is fatal for the connection: the broker answers with the
/// [`reason_code`](DecodeError::reason_code) (CONNACK before the session exists,
/// DISCONNECT in 5.0 afterwards) and closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The bytes cannot be parsed as the packet they claim to be (MQTT 5.0 "Malformed Packet").
    MalformedPacket(&'static str),
    /// The packet parses but contains something the protocol forbids (MQTT 5.0 "Protocol Error").
    ProtocolError(&'static str),
    /// The fixed header announces a packet larger than the allowed maximum packet size.
    PacketTooLarge,
    /// A CONNECT names a known protocol ("MQTT" or "MQIsdp") with a level this codec does not
    /// support; carries that level so the broker can refuse it with the right CONNACK.
    UnsupportedProtocolVersion(u8),
    /// A topic name (PUBLISH or will topic) contains a wildcard or is empty where that is not allowed:
    /// a malformed packet (MQTT 5.0 4.7.3), reported with reason 0x81.
    InvalidTopic,
    /// The packet carries more User Properties than the decoder's
    /// [`Limits`](crate::Limits) allow. Reported with 0x97, Quota exceeded
    /// ("an implementation or administrative imposed limit has been
    /// exceeded"): 0x95, Packet too large, speaks of the Maximum Packet
    /// Size, which the packet may well respect.
    TooManyUserProperties,
}

impl DecodeError {
    /// The MQTT 5.0 reason code to send in the CONNACK or DISCONNECT that reports this error.
    pub fn reason_code(&self) -> u8 {
        match self {
            DecodeError::MalformedPacket(_) => reason::MALFORMED_PACKET,
            DecodeError::ProtocolError(_) => reason::PROTOCOL_ERROR,
            DecodeError::PacketTooLarge => reason::PACKET_TOO_LARGE,
            DecodeError::UnsupportedProtocolVersion(_) => reason::UNSUPPORTED_PROTOCOL_VERSION,
            DecodeError::InvalidTopic => reason::MALFORMED_PACKET,
            DecodeError::TooManyUserProperties => reason::QUOTA_EXCEEDED,
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::MalformedPacket(why) => write!(f, "malformed packet: {why}"),
            DecodeError::ProtocolError(why) => write!(f, "protocol error: {why}"),
            DecodeError::PacketTooLarge => f.write_str("packet exceeds the maximum packet size"),
            DecodeError::UnsupportedProtocolVersion(level) => {
                write!(f, "unsupported protocol level {level}")
            }
            DecodeError::InvalidTopic => f.write_str("invalid topic name"),
            DecodeError::TooManyUserProperties => {
                f.write_str("more user properties than one packet may carry")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// Why a packet could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// A UTF-8 string or binary field is longer than 65,535 bytes.
    StringTooLong,
    /// A Variable Byte Integer field (a subscription identifier) is above 268,435,455.
    ValueTooLarge,
    /// The Remaining Length (or a property section) would exceed 268,435,455 bytes.
    PacketTooLarge,
    /// The packet, or one of its field values, has no representation in the target protocol version.
    NotInThisVersion(&'static str),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::StringTooLong => {
                f.write_str("string or binary field longer than 65535 bytes")
            }
            EncodeError::ValueTooLarge => {
                f.write_str("variable byte integer value larger than 268435455")
            }
            EncodeError::PacketTooLarge => f.write_str("packet larger than 268435455 bytes"),
            EncodeError::NotInThisVersion(what) => {
                write!(f, "{what} cannot be expressed in this protocol version")
            }
        }
    }
}

impl std::error::Error for EncodeError {}
