//! Decoding: framing packets out of a byte stream and parsing each packet type.
//!
//! Framing never consumes a partial packet and never allocates from a length field:
//! the body is only looked at once all of it is in the buffer, and it is then split
//! off and frozen so payloads and binary fields can be zero-copy slices of it.

use std::cell::Cell;

use bytes::BytesMut;

use crate::error::DecodeError;
use crate::properties;
use crate::reason;
use crate::types::{
    Auth, AuthProperties, ConnAck, Connect, Disconnect, DisconnectProperties, LastWill, Packet,
    ProtocolVersion, PubAck, Publish, QoS, SubAck, Subscribe, SubscriptionOptions, UnsubAck,
    Unsubscribe,
};
use crate::wire::{parse_vbi, Reader};

const CONNECT: u8 = 1;
const CONNACK: u8 = 2;
const PUBLISH: u8 = 3;
const PUBACK: u8 = 4;
const PUBREC: u8 = 5;
const PUBREL: u8 = 6;
const PUBCOMP: u8 = 7;
const SUBSCRIBE: u8 = 8;
const SUBACK: u8 = 9;
const UNSUBSCRIBE: u8 = 10;
const UNSUBACK: u8 = 11;
const PINGREQ: u8 = 12;
const PINGRESP: u8 = 13;
const DISCONNECT: u8 = 14;
const AUTH: u8 = 15;

/// What a decoder holds a peer's packets to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest packet, fixed header included, in bytes; checked as soon as the
    /// fixed header is complete, before the body arrives.
    pub max_packet_size: u32,
    /// The most User Properties one packet may carry, a CONNECT's will properties
    /// included. The packet size alone does not bound what a packet costs: an empty
    /// User Property is 5 bytes on the wire and a pair of strings in memory, ten
    /// times as much. `u32::MAX` allows as many as fit.
    pub max_user_properties: u32,
}

impl Limits {
    /// Only a maximum packet size, any number of User Properties.
    pub fn packet_size(max_packet_size: u32) -> Limits {
        Limits {
            max_packet_size,
            max_user_properties: u32::MAX,
        }
    }
}

/// Decodes one packet from the front of `buf`, consuming its bytes.
///
/// `Ok(None)` means more data is needed; nothing was consumed. `version` is the
/// connection's protocol version once known, `None` before CONNECT (then only CONNECT
/// is acceptable, and a CONNECT always decodes according to the version it declares).
/// `max_packet_size` bounds the whole packet (fixed header included) and is checked as
/// soon as the fixed header is complete, before the body arrives.
///
/// On `Err` the connection must be closed; how much of `buf` was consumed is unspecified.
pub fn decode(
    buf: &mut BytesMut,
    version: Option<ProtocolVersion>,
    max_packet_size: u32,
) -> Result<Option<Packet>, DecodeError> {
    decode_limited(buf, version, Limits::packet_size(max_packet_size))
}

/// [`decode`], holding the packet to every one of `limits`: a packet over one fails
/// while it is being read, before what it would cost is built.
pub fn decode_limited(
    buf: &mut BytesMut,
    version: Option<ProtocolVersion>,
    limits: Limits,
) -> Result<Option<Packet>, DecodeError> {
    let max_packet_size = limits.max_packet_size;
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    // Judging the first byte before the rest arrives lets garbage be refused at once.
    let kind = check_first_byte(first, version)?;
    let Some((remaining, len_bytes)) = parse_vbi(buf.get(1..).unwrap_or_default())? else {
        return Ok(None);
    };
    let header_len = 1 + len_bytes;
    let total = u64::from(remaining) + header_len as u64;
    if total > u64::from(max_packet_size) {
        return Err(DecodeError::PacketTooLarge);
    }
    // `total` fits in usize: it is at most max_packet_size, a u32, and on the 16-bit
    // targets where it might not the buffer could not hold it anyway.
    let total = usize::try_from(total).map_err(|_| DecodeError::PacketTooLarge)?;
    if buf.len() < total {
        return Ok(None);
    }
    let frame = buf.split_to(total).freeze();
    let user_properties_left = Cell::new(limits.max_user_properties);
    let mut r = Reader::new(&frame, header_len, &user_properties_left);
    let flags = first & 0x0F;
    let packet = match (kind, version) {
        (CONNECT, _) => Packet::Connect(Box::new(connect(&mut r)?)),
        (_, Some(v)) => body(kind, flags, v, &mut r)?,
        (_, None) => return Err(not_connect()),
    };
    r.finish()?;
    Ok(Some(packet))
}

/// The protocol version declared by a CONNECT at the front of `buf`, if enough of it is there
/// to read the protocol name and level; the rest of the packet need be neither present nor valid.
///
/// [`decode`] consumes a packet it rejects, so a broker that wants to answer a bad CONNECT
/// with a CONNACK in the client's own version peeks with this first, while the version is
/// unknown.
pub fn peek_connect_version(buf: &[u8]) -> Option<ProtocolVersion> {
    let (&first, rest) = buf.split_first()?;
    if first != CONNECT << 4 {
        return None;
    }
    let (_, len_bytes) = parse_vbi(rest).ok()??;
    let body = rest.get(len_bytes..)?;
    let name_len = usize::from(u16::from_be_bytes([*body.first()?, *body.get(1)?]));
    let name = body.get(2..2 + name_len)?;
    let level = *body.get(2 + name_len)?;
    match (name, level) {
        (b"MQIsdp", 3) => Some(ProtocolVersion::V3_1),
        (b"MQTT", 4) => Some(ProtocolVersion::V3_1_1),
        (b"MQTT", 5) => Some(ProtocolVersion::V5),
        _ => None,
    }
}

fn not_connect() -> DecodeError {
    DecodeError::ProtocolError("first packet must be CONNECT")
}

/// Checks the packet type and fixed-header flags; returns the packet type.
fn check_first_byte(first: u8, version: Option<ProtocolVersion>) -> Result<u8, DecodeError> {
    let kind = first >> 4;
    let flags = first & 0x0F;
    if kind == 0 {
        return Err(DecodeError::MalformedPacket("reserved packet type 0"));
    }
    if version.is_none() && kind != CONNECT {
        return Err(not_connect());
    }
    let v5 = version.is_some_and(ProtocolVersion::is_v5);
    if kind == AUTH && !v5 {
        return Err(DecodeError::MalformedPacket(
            "reserved packet type 15 (AUTH exists only in MQTT 5.0)",
        ));
    }
    match kind {
        PUBLISH => {
            let qos = (flags >> 1) & 0x03;
            if qos == 3 {
                return Err(DecodeError::MalformedPacket("PUBLISH with QoS 3"));
            }
            if qos == 0 && flags & 0x08 != 0 {
                return Err(DecodeError::ProtocolError("PUBLISH with DUP set and QoS 0"));
            }
        }
        PUBREL | SUBSCRIBE | UNSUBSCRIBE => {
            // 3.1 described these flags as "DUP, QoS 1" and let a resend set DUP;
            // accept that from 3.1 clients only.
            let dup_ok = version == Some(ProtocolVersion::V3_1) && flags == 0b1010;
            if flags != 0b0010 && !dup_ok {
                return Err(DecodeError::MalformedPacket(
                    "fixed header flags must be 0010 for PUBREL, SUBSCRIBE and UNSUBSCRIBE",
                ));
            }
        }
        _ => {
            if flags != 0 {
                return Err(DecodeError::MalformedPacket(
                    "fixed header flags must be 0 for this packet type",
                ));
            }
        }
    }
    Ok(kind)
}

fn body(
    kind: u8,
    flags: u8,
    v: ProtocolVersion,
    r: &mut Reader<'_>,
) -> Result<Packet, DecodeError> {
    Ok(match kind {
        CONNACK => Packet::ConnAck(connack(r, v)?),
        PUBLISH => Packet::Publish(publish(r, flags, v)?),
        PUBACK => Packet::PubAck(ack(r, v, reason::PUBACK_CODES)?),
        PUBREC => Packet::PubRec(ack(r, v, reason::PUBACK_CODES)?),
        PUBREL => Packet::PubRel(ack(r, v, reason::PUBREL_CODES)?),
        PUBCOMP => Packet::PubComp(ack(r, v, reason::PUBREL_CODES)?),
        SUBSCRIBE => Packet::Subscribe(subscribe(r, v)?),
        SUBACK => Packet::SubAck(suback(r, v)?),
        UNSUBSCRIBE => Packet::Unsubscribe(unsubscribe(r, v)?),
        UNSUBACK => Packet::UnsubAck(unsuback(r, v)?),
        PINGREQ => Packet::PingReq,
        PINGRESP => Packet::PingResp,
        DISCONNECT => Packet::Disconnect(disconnect(r, v)?),
        AUTH => Packet::Auth(auth(r)?),
        // CONNECT is handled by the caller and type 0 by check_first_byte.
        _ => return Err(DecodeError::MalformedPacket("reserved packet type")),
    })
}

fn packet_id(r: &mut Reader<'_>) -> Result<u16, DecodeError> {
    match r.u16()? {
        0 => Err(DecodeError::ProtocolError("packet identifier 0")),
        id => Ok(id),
    }
}

fn reason_code(r: &mut Reader<'_>, valid: &[u8]) -> Result<u8, DecodeError> {
    let code = r.u8()?;
    if valid.contains(&code) {
        Ok(code)
    } else {
        Err(DecodeError::MalformedPacket(
            "reason code not valid for this packet type",
        ))
    }
}

/// Topic names carry no wildcards [MQTT-3.3.2-2]; this is also applied to will topics,
/// which become PUBLISH topics.
fn check_topic_name(topic: &str) -> Result<(), DecodeError> {
    if topic.bytes().any(|b| b == b'+' || b == b'#') {
        return Err(DecodeError::InvalidTopic);
    }
    Ok(())
}

fn connect(r: &mut Reader<'_>) -> Result<Connect, DecodeError> {
    let name = r.prefixed()?;
    let level = r.u8()?;
    let protocol = match (name, level) {
        (b"MQIsdp", 3) => ProtocolVersion::V3_1,
        (b"MQTT", 4) => ProtocolVersion::V3_1_1,
        (b"MQTT", 5) => ProtocolVersion::V5,
        (b"MQIsdp" | b"MQTT", _) => return Err(DecodeError::UnsupportedProtocolVersion(level)),
        _ => return Err(DecodeError::ProtocolError("unknown protocol name")),
    };
    let v5 = protocol.is_v5();

    let flags = r.u8()?;
    if flags & 0x01 != 0 {
        return Err(DecodeError::MalformedPacket("CONNECT reserved flag set"));
    }
    let clean_start = flags & 0x02 != 0;
    let will_flag = flags & 0x04 != 0;
    let will_qos = QoS::try_from((flags >> 3) & 0x03)?;
    let will_retain = flags & 0x20 != 0;
    let password_flag = flags & 0x40 != 0;
    let username_flag = flags & 0x80 != 0;
    if !will_flag && (will_qos != QoS::AtMostOnce || will_retain) {
        return Err(DecodeError::MalformedPacket(
            "will QoS or will retain set without the will flag",
        ));
    }
    if !v5 && password_flag && !username_flag {
        return Err(DecodeError::MalformedPacket(
            "password flag set without the user name flag",
        ));
    }
    let keep_alive = r.u16()?;
    let properties = if v5 {
        properties::read_connect(r)?
    } else {
        Default::default()
    };

    let client_id = r.string()?;
    let will = if will_flag {
        let will_properties = if v5 {
            properties::read_will(r)?
        } else {
            Default::default()
        };
        let topic = r.string()?;
        if topic.is_empty() {
            return Err(DecodeError::InvalidTopic);
        }
        check_topic_name(&topic)?;
        Some(LastWill {
            topic,
            payload: r.binary()?,
            qos: will_qos,
            retain: will_retain,
            properties: will_properties,
        })
    } else {
        None
    };
    let username = if username_flag {
        Some(r.string()?)
    } else {
        None
    };
    let password = if password_flag {
        Some(r.binary()?)
    } else {
        None
    };
    Ok(Connect {
        protocol,
        clean_start,
        keep_alive,
        client_id,
        will,
        username,
        password,
        properties,
    })
}

fn connack(r: &mut Reader<'_>, v: ProtocolVersion) -> Result<ConnAck, DecodeError> {
    let flags = r.u8()?;
    let code = r.u8()?;
    let session_present = match v {
        // 3.1's first byte is "reserved, not used", so there is nothing to check or keep.
        ProtocolVersion::V3_1 => false,
        _ => {
            if flags & 0xFE != 0 {
                return Err(DecodeError::MalformedPacket("CONNACK reserved flags set"));
            }
            flags & 0x01 != 0
        }
    };
    let reason = if v.is_v5() {
        if !reason::CONNACK_CODES.contains(&code) {
            return Err(DecodeError::MalformedPacket(
                "reason code not valid for CONNACK",
            ));
        }
        code
    } else {
        reason::connack_from_v3_return_code(code)
            .ok_or(DecodeError::MalformedPacket("reserved CONNACK return code"))?
    };
    if session_present && reason != reason::SUCCESS {
        return Err(DecodeError::ProtocolError(
            "session present set on a refused connection",
        ));
    }
    let properties = if v.is_v5() {
        properties::read_connack(r)?
    } else {
        Default::default()
    };
    Ok(ConnAck {
        session_present,
        reason,
        properties,
    })
}

fn publish(r: &mut Reader<'_>, flags: u8, v: ProtocolVersion) -> Result<Publish, DecodeError> {
    let qos = QoS::try_from((flags >> 1) & 0x03)?;
    let topic = r.string()?;
    let packet_id = if qos == QoS::AtMostOnce {
        0
    } else {
        packet_id(r)?
    };
    let properties = if v.is_v5() {
        properties::read_publish(r)?
    } else {
        Default::default()
    };
    if topic.is_empty() {
        if !v.is_v5() {
            return Err(DecodeError::InvalidTopic);
        }
        if properties.topic_alias.is_none() {
            return Err(DecodeError::ProtocolError(
                "empty topic name without a topic alias",
            ));
        }
    }
    check_topic_name(&topic)?;
    Ok(Publish {
        dup: flags & 0x08 != 0,
        qos,
        retain: flags & 0x01 != 0,
        topic,
        packet_id,
        payload: r.rest(),
        properties,
    })
}

/// PUBACK, PUBREC, PUBREL and PUBCOMP: 5.0 may drop the properties, then the reason code,
/// when they are empty / success (Remaining Length 3 or 2).
fn ack(r: &mut Reader<'_>, v: ProtocolVersion, valid: &[u8]) -> Result<PubAck, DecodeError> {
    let packet_id = packet_id(r)?;
    let mut ack = PubAck {
        packet_id,
        reason: reason::SUCCESS,
        properties: Default::default(),
    };
    if v.is_v5() {
        if !r.is_empty() {
            ack.reason = reason_code(r, valid)?;
        }
        if !r.is_empty() {
            ack.properties = properties::read_ack(r)?;
        }
    }
    Ok(ack)
}

fn subscription_options(byte: u8, v: ProtocolVersion) -> Result<SubscriptionOptions, DecodeError> {
    let qos = QoS::try_from(byte & 0x03)?;
    if !v.is_v5() {
        if byte & 0xFC != 0 {
            return Err(DecodeError::MalformedPacket(
                "SUBSCRIBE requested QoS byte has reserved bits set",
            ));
        }
        return Ok(SubscriptionOptions {
            qos,
            ..Default::default()
        });
    }
    if byte & 0xC0 != 0 {
        return Err(DecodeError::MalformedPacket(
            "subscription options reserved bits set",
        ));
    }
    let retain_handling = (byte >> 4) & 0x03;
    if retain_handling == 3 {
        return Err(DecodeError::ProtocolError("retain handling 3"));
    }
    Ok(SubscriptionOptions {
        qos,
        no_local: byte & 0x04 != 0,
        retain_as_published: byte & 0x08 != 0,
        retain_handling,
    })
}

fn subscribe(r: &mut Reader<'_>, v: ProtocolVersion) -> Result<Subscribe, DecodeError> {
    let packet_id = packet_id(r)?;
    let properties = if v.is_v5() {
        properties::read_subscribe(r)?
    } else {
        Default::default()
    };
    let mut filters = Vec::new();
    while !r.is_empty() {
        let filter = r.string()?;
        let options = subscription_options(r.u8()?, v)?;
        filters.push((filter, options));
    }
    if filters.is_empty() {
        return Err(DecodeError::ProtocolError(
            "SUBSCRIBE without topic filters",
        ));
    }
    Ok(Subscribe {
        packet_id,
        filters,
        properties,
    })
}

/// Reads the reason codes that make up a SUBACK or UNSUBACK payload (at least one).
fn reason_list(r: &mut Reader<'_>, valid: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let codes = r.rest();
    if codes.is_empty() {
        return Err(DecodeError::ProtocolError(
            "acknowledgement without reason codes",
        ));
    }
    if codes.iter().any(|c| !valid.contains(c)) {
        return Err(DecodeError::MalformedPacket(
            "reason code not valid for this packet type",
        ));
    }
    Ok(codes.to_vec())
}

fn suback(r: &mut Reader<'_>, v: ProtocolVersion) -> Result<SubAck, DecodeError> {
    let packet_id = packet_id(r)?;
    let (properties, valid) = if v.is_v5() {
        (properties::read_ack(r)?, reason::SUBACK_CODES)
    } else {
        (Default::default(), reason::SUBACK_CODES_V3)
    };
    Ok(SubAck {
        packet_id,
        reasons: reason_list(r, valid)?,
        properties,
    })
}

fn unsubscribe(r: &mut Reader<'_>, v: ProtocolVersion) -> Result<Unsubscribe, DecodeError> {
    let packet_id = packet_id(r)?;
    let user_properties = if v.is_v5() {
        properties::read_unsubscribe(r)?
    } else {
        Default::default()
    };
    let mut filters = Vec::new();
    while !r.is_empty() {
        filters.push(r.string()?);
    }
    if filters.is_empty() {
        return Err(DecodeError::ProtocolError(
            "UNSUBSCRIBE without topic filters",
        ));
    }
    Ok(Unsubscribe {
        packet_id,
        filters,
        user_properties,
    })
}

fn unsuback(r: &mut Reader<'_>, v: ProtocolVersion) -> Result<UnsubAck, DecodeError> {
    let packet_id = packet_id(r)?;
    if !v.is_v5() {
        return Ok(UnsubAck {
            packet_id,
            reasons: Vec::new(),
            properties: Default::default(),
        });
    }
    let properties = properties::read_ack(r)?;
    Ok(UnsubAck {
        packet_id,
        reasons: reason_list(r, reason::UNSUBACK_CODES)?,
        properties,
    })
}

/// 5.0 DISCONNECT may drop the properties, then the reason code (Remaining Length 1 or 0).
fn disconnect(r: &mut Reader<'_>, v: ProtocolVersion) -> Result<Disconnect, DecodeError> {
    let mut disconnect = Disconnect {
        reason: reason::NORMAL_DISCONNECTION,
        properties: DisconnectProperties::default(),
    };
    if v.is_v5() {
        if !r.is_empty() {
            disconnect.reason = reason_code(r, reason::DISCONNECT_CODES)?;
        }
        if !r.is_empty() {
            disconnect.properties = properties::read_disconnect(r)?;
        }
    }
    Ok(disconnect)
}

/// AUTH is either empty (success, no properties) or carries both a reason code and a
/// property section; unlike the acks there is no form with only the reason code.
fn auth(r: &mut Reader<'_>) -> Result<Auth, DecodeError> {
    if r.is_empty() {
        return Ok(Auth {
            reason: reason::SUCCESS,
            properties: AuthProperties::default(),
        });
    }
    let reason = reason_code(r, reason::AUTH_CODES)?;
    let properties = properties::read_auth(r)?;
    Ok(Auth { reason, properties })
}
