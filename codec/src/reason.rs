//! MQTT 5.0 reason codes, and which of them each packet type may carry.
//!
//! The codec speaks 5.0 reason codes everywhere; the encoder maps them to the
//! 3.x return codes where 3.x has any.

/// Success (CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK, AUTH).
pub const SUCCESS: u8 = 0x00;
/// Normal disconnection (DISCONNECT).
pub const NORMAL_DISCONNECTION: u8 = 0x00;
/// Subscription accepted with maximum QoS 0 (SUBACK).
pub const GRANTED_QOS_0: u8 = 0x00;
/// Subscription accepted with maximum QoS 1 (SUBACK).
pub const GRANTED_QOS_1: u8 = 0x01;
/// Subscription accepted with maximum QoS 2 (SUBACK).
pub const GRANTED_QOS_2: u8 = 0x02;
/// The client disconnects but wants its will message published (DISCONNECT).
pub const DISCONNECT_WITH_WILL: u8 = 0x04;
/// The message was accepted but nobody is subscribed (PUBACK, PUBREC).
pub const NO_MATCHING_SUBSCRIBERS: u8 = 0x10;
/// There was no subscription to remove (UNSUBACK).
pub const NO_SUBSCRIPTION_EXISTED: u8 = 0x11;
/// Continue the authentication exchange (AUTH).
pub const CONTINUE_AUTHENTICATION: u8 = 0x18;
/// Start re-authentication (AUTH).
pub const RE_AUTHENTICATE: u8 = 0x19;
/// An error the sender does not want to detail.
pub const UNSPECIFIED_ERROR: u8 = 0x80;
/// The packet could not be parsed.
pub const MALFORMED_PACKET: u8 = 0x81;
/// The packet broke a protocol rule.
pub const PROTOCOL_ERROR: u8 = 0x82;
/// The packet is valid but the receiver does not accept it.
pub const IMPLEMENTATION_SPECIFIC_ERROR: u8 = 0x83;
/// The server does not support the requested protocol version (CONNACK).
pub const UNSUPPORTED_PROTOCOL_VERSION: u8 = 0x84;
/// The client identifier is not allowed (CONNACK).
pub const CLIENT_IDENTIFIER_NOT_VALID: u8 = 0x85;
/// The user name or password was rejected (CONNACK).
pub const BAD_USER_NAME_OR_PASSWORD: u8 = 0x86;
/// The client is not authorised for this action.
pub const NOT_AUTHORIZED: u8 = 0x87;
/// The server is unavailable (CONNACK).
pub const SERVER_UNAVAILABLE: u8 = 0x88;
/// The server is busy (CONNACK, DISCONNECT).
pub const SERVER_BUSY: u8 = 0x89;
/// The client is banned (CONNACK).
pub const BANNED: u8 = 0x8A;
/// The server is shutting down (DISCONNECT).
pub const SERVER_SHUTTING_DOWN: u8 = 0x8B;
/// The authentication method is not supported (CONNACK, DISCONNECT).
pub const BAD_AUTHENTICATION_METHOD: u8 = 0x8C;
/// No packet arrived within 1.5 times the keep alive (DISCONNECT).
pub const KEEP_ALIVE_TIMEOUT: u8 = 0x8D;
/// Another connection took over the session (DISCONNECT).
pub const SESSION_TAKEN_OVER: u8 = 0x8E;
/// The topic filter is well formed but not accepted (SUBACK, UNSUBACK, DISCONNECT).
pub const TOPIC_FILTER_INVALID: u8 = 0x8F;
/// The topic name is well formed but not accepted (CONNACK, PUBACK, PUBREC, DISCONNECT).
pub const TOPIC_NAME_INVALID: u8 = 0x90;
/// The packet identifier is already in use (PUBACK, PUBREC, SUBACK, UNSUBACK).
pub const PACKET_IDENTIFIER_IN_USE: u8 = 0x91;
/// The packet identifier is not known (PUBREL, PUBCOMP).
pub const PACKET_IDENTIFIER_NOT_FOUND: u8 = 0x92;
/// More QoS > 0 publications in flight than Receive Maximum allows (DISCONNECT).
pub const RECEIVE_MAXIMUM_EXCEEDED: u8 = 0x93;
/// The topic alias is out of range or unknown (DISCONNECT).
pub const TOPIC_ALIAS_INVALID: u8 = 0x94;
/// The packet exceeded the maximum packet size (CONNACK, DISCONNECT).
pub const PACKET_TOO_LARGE: u8 = 0x95;
/// The message rate is too high (DISCONNECT).
pub const MESSAGE_RATE_TOO_HIGH: u8 = 0x96;
/// A quota was exceeded.
pub const QUOTA_EXCEEDED: u8 = 0x97;
/// The connection was closed by an administrator (DISCONNECT).
pub const ADMINISTRATIVE_ACTION: u8 = 0x98;
/// The payload does not match its Payload Format Indicator.
pub const PAYLOAD_FORMAT_INVALID: u8 = 0x99;
/// The server does not support retained messages (CONNACK, DISCONNECT).
pub const RETAIN_NOT_SUPPORTED: u8 = 0x9A;
/// The QoS is higher than the server supports (CONNACK, DISCONNECT).
pub const QOS_NOT_SUPPORTED: u8 = 0x9B;
/// The client should temporarily use another server (CONNACK, DISCONNECT).
pub const USE_ANOTHER_SERVER: u8 = 0x9C;
/// The client should permanently use another server (CONNACK, DISCONNECT).
pub const SERVER_MOVED: u8 = 0x9D;
/// Shared subscriptions are not supported (SUBACK, DISCONNECT).
pub const SHARED_SUBSCRIPTIONS_NOT_SUPPORTED: u8 = 0x9E;
/// The connection rate limit was exceeded (CONNACK, DISCONNECT).
pub const CONNECTION_RATE_EXCEEDED: u8 = 0x9F;
/// The maximum connection time was reached (DISCONNECT).
pub const MAXIMUM_CONNECT_TIME: u8 = 0xA0;
/// Subscription identifiers are not supported (SUBACK, DISCONNECT).
pub const SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED: u8 = 0xA1;
/// Wildcard subscriptions are not supported (SUBACK, DISCONNECT).
pub const WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED: u8 = 0xA2;

// The per-packet tables below are the "Reason Codes" lists of the 5.0
// specification; a code outside the list for its packet is a malformed packet.

pub(crate) const CONNACK_CODES: &[u8] = &[
    0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97,
    0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F,
];
pub(crate) const PUBACK_CODES: &[u8] = &[0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99];
pub(crate) const PUBREL_CODES: &[u8] = &[0x00, 0x92];
pub(crate) const SUBACK_CODES: &[u8] = &[
    0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2,
];
pub(crate) const SUBACK_CODES_V3: &[u8] = &[0x00, 0x01, 0x02, 0x80];
pub(crate) const UNSUBACK_CODES: &[u8] = &[0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91];
pub(crate) const DISCONNECT_CODES: &[u8] = &[
    0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95,
    0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2,
];
pub(crate) const AUTH_CODES: &[u8] = &[0x00, 0x18, 0x19];

/// Maps a 5.0 CONNACK reason code to the 3.x CONNACK return code that means the most nearly the same.
pub fn connack_v3_return_code(reason: u8) -> u8 {
    match reason {
        SUCCESS => 0,
        UNSUPPORTED_PROTOCOL_VERSION => 1,
        CLIENT_IDENTIFIER_NOT_VALID => 2,
        BAD_USER_NAME_OR_PASSWORD => 4,
        NOT_AUTHORIZED | BAD_AUTHENTICATION_METHOD => 5,
        _ => 3,
    }
}

/// Maps a 3.x CONNACK return code to its 5.0 reason code; `None` for the reserved codes 6-255.
pub fn connack_from_v3_return_code(code: u8) -> Option<u8> {
    Some(match code {
        0 => SUCCESS,
        1 => UNSUPPORTED_PROTOCOL_VERSION,
        2 => CLIENT_IDENTIFIER_NOT_VALID,
        3 => SERVER_UNAVAILABLE,
        4 => BAD_USER_NAME_OR_PASSWORD,
        5 => NOT_AUTHORIZED,
        _ => return None,
    })
}
