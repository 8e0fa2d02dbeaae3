//! Encoding: the wire layout of every packet type, for each protocol version.
//!
//! Each layout is written once, against [`Sink`]; running it through a [`Counter`]
//! gives the Remaining Length (and validates field lengths) so the buffer is reserved
//! once and the fixed header is written before the body, with no second copy.
//!
//! The encoder checks only what the wire format cannot represent (over-long strings,
//! oversized integers and packets, packets or values absent from the target version).
//! Semantic validity — reason codes, property ranges, packet identifiers — is the
//! caller's responsibility; the decoder is where the protocol rules are enforced.

use bytes::BytesMut;

use crate::error::EncodeError;
use crate::properties::{write_section, PublishSection, UserOnly};
use crate::reason;
use crate::types::{
    Auth, ConnAck, Connect, Disconnect, Packet, ProtocolVersion, PubAck, PublishProperties, QoS,
    SubAck, Subscribe, UnsubAck, Unsubscribe,
};
use crate::wire::{length_vbi, vbi_len, Counter, Sink, Writer};

/// A PUBLISH described by borrowed parts, for encoding one message to many subscribers
/// without building a [`Publish`](crate::Publish) per delivery.
#[derive(Debug, Clone, Copy)]
pub struct PublishView<'a> {
    /// DUP flag (dropped for QoS 0, where the specification forbids it).
    pub dup: bool,
    /// QoS of this delivery.
    pub qos: QoS,
    /// RETAIN flag.
    pub retain: bool,
    /// Topic name (may be empty in 5.0 when `topic_alias` is set).
    pub topic: &'a str,
    /// Packet identifier; not written for QoS 0.
    pub packet_id: u16,
    /// Payload.
    pub payload: &'a [u8],
    /// The message's shared properties; their `topic_alias`, `message_expiry_interval`
    /// and `subscription_identifiers` are ignored in favour of the fields below.
    pub properties: &'a PublishProperties,
    /// Topic Alias for this subscriber.
    pub topic_alias: Option<u16>,
    /// Message Expiry Interval for this delivery (the remaining lifetime); `None` omits it.
    pub message_expiry_interval: Option<u32>,
    /// Subscription Identifiers of this subscriber's matching subscriptions.
    pub subscription_identifiers: &'a [u32],
}

impl PublishView<'_> {
    fn first_byte(&self) -> u8 {
        let qos = u8::from(self.qos);
        let dup = self.dup && self.qos != QoS::AtMostOnce;
        0x30 | (u8::from(dup) << 3) | (qos << 1) | u8::from(self.retain)
    }

    fn emit<S: Sink>(&self, v: ProtocolVersion, s: &mut S) -> Result<(), EncodeError> {
        s.string(self.topic)?;
        if self.qos != QoS::AtMostOnce {
            s.u16(self.packet_id);
        }
        if v.is_v5() {
            write_section(
                s,
                &PublishSection {
                    shared: self.properties,
                    message_expiry_interval: self.message_expiry_interval,
                    topic_alias: self.topic_alias,
                    subscription_identifiers: self.subscription_identifiers,
                },
            )?;
        }
        s.raw(self.payload);
        Ok(())
    }
}

/// Something that can be framed: its fixed-header byte and its body layout.
trait Body {
    fn first_byte(&self) -> Result<u8, EncodeError>;
    fn emit<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError>;
}

struct PacketBody<'a> {
    packet: &'a Packet,
    version: ProtocolVersion,
}

struct PublishBody<'a, 'b> {
    view: &'a PublishView<'b>,
    version: ProtocolVersion,
}

impl Body for PublishBody<'_, '_> {
    fn first_byte(&self) -> Result<u8, EncodeError> {
        Ok(self.view.first_byte())
    }
    fn emit<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        self.view.emit(self.version, s)
    }
}

impl Body for PacketBody<'_> {
    fn first_byte(&self) -> Result<u8, EncodeError> {
        let v5 = self.version.is_v5();
        Ok(match self.packet {
            Packet::Connect(_) => 0x10,
            Packet::ConnAck(_) => 0x20,
            Packet::Publish(p) => publish_view(p).first_byte(),
            Packet::PubAck(_) => 0x40,
            Packet::PubRec(_) => 0x50,
            Packet::PubRel(_) => 0x62,
            Packet::PubComp(_) => 0x70,
            Packet::Subscribe(_) => 0x82,
            Packet::SubAck(_) => 0x90,
            Packet::Unsubscribe(_) => 0xA2,
            Packet::UnsubAck(_) => 0xB0,
            Packet::PingReq => 0xC0,
            Packet::PingResp => 0xD0,
            Packet::Disconnect(d) => {
                // A 3.x DISCONNECT is an empty client-to-server packet; a reason code
                // means a server-side disconnect, which 3.x cannot express (close instead).
                if !v5 && d.reason != reason::NORMAL_DISCONNECTION {
                    return Err(EncodeError::NotInThisVersion(
                        "DISCONNECT with a reason code",
                    ));
                }
                0xE0
            }
            Packet::Auth(_) => {
                if !v5 {
                    return Err(EncodeError::NotInThisVersion("AUTH"));
                }
                0xF0
            }
        })
    }

    fn emit<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        let v = self.version;
        match self.packet {
            Packet::Connect(c) => connect(c, s),
            Packet::ConnAck(c) => connack(c, v, s),
            Packet::Publish(p) => publish_view(p).emit(v, s),
            Packet::PubAck(a) | Packet::PubRec(a) | Packet::PubRel(a) | Packet::PubComp(a) => {
                ack(a, v, s)
            }
            Packet::Subscribe(p) => subscribe(p, v, s),
            Packet::SubAck(p) => suback(p, v, s),
            Packet::Unsubscribe(p) => unsubscribe(p, v, s),
            Packet::UnsubAck(p) => unsuback(p, v, s),
            Packet::PingReq | Packet::PingResp => Ok(()),
            Packet::Disconnect(d) => disconnect(d, v, s),
            Packet::Auth(a) => auth(a, s),
        }
    }
}

fn publish_view(p: &crate::types::Publish) -> PublishView<'_> {
    PublishView {
        dup: p.dup,
        qos: p.qos,
        retain: p.retain,
        topic: &p.topic,
        packet_id: p.packet_id,
        payload: &p.payload,
        properties: &p.properties,
        topic_alias: p.properties.topic_alias,
        message_expiry_interval: p.properties.message_expiry_interval,
        subscription_identifiers: &p.properties.subscription_identifiers,
    }
}

fn frame<B: Body>(body: &B, buf: &mut BytesMut) -> Result<(), EncodeError> {
    let first = body.first_byte()?;
    let mut counter = Counter::default();
    body.emit(&mut counter)?;
    let remaining = length_vbi(counter.len)?;
    buf.reserve(1 + vbi_len(counter.len) + counter.len);
    let start = buf.len();
    let mut w = Writer(buf);
    w.byte(first);
    let written = w.vbi(remaining).and_then(|()| body.emit(&mut w));
    if let Err(e) = written {
        // Unreachable after a successful count, but never leave half a packet behind.
        buf.truncate(start);
        return Err(e);
    }
    Ok(())
}

fn frame_len<B: Body>(body: &B) -> usize {
    let mut counter = Counter::default();
    // On error the count stops early; the documented contract is "unspecified" then.
    let _ = body.emit(&mut counter);
    1 + vbi_len(counter.len) + counter.len
}

/// Appends the encoding of `packet` for a connection of `version` to `buf`.
///
/// CONNECT is always encoded in the version it names (`Connect::protocol`), whatever
/// `version` says. On error nothing is appended.
///
/// Per-version behaviour: 3.x drops all properties and the 5.0-only subscription
/// options; reason codes are mapped to 3.x return codes (CONNACK, SUBACK) or dropped
/// (PUBACK family, UNSUBACK); a 3.x DISCONNECT must have reason 0 (only clients send
/// it); AUTH, and a 3.x CONNECT with a password but no user name, fail with
/// [`EncodeError::NotInThisVersion`].
pub fn encode(
    packet: &Packet,
    version: ProtocolVersion,
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    frame(&PacketBody { packet, version }, buf)
}

/// Size in bytes [`encode`] would write; unspecified if `encode` would fail.
pub fn encoded_len(packet: &Packet, version: ProtocolVersion) -> usize {
    frame_len(&PacketBody { packet, version })
}

/// Appends a PUBLISH described by `view`, with one `reserve` and no intermediate copy.
pub fn encode_publish(
    view: &PublishView<'_>,
    version: ProtocolVersion,
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    frame(&PublishBody { view, version }, buf)
}

/// Size in bytes [`encode_publish`] would write; unspecified if it would fail.
pub fn publish_encoded_len(view: &PublishView<'_>, version: ProtocolVersion) -> usize {
    frame_len(&PublishBody { view, version })
}

fn connect<S: Sink>(c: &Connect, s: &mut S) -> Result<(), EncodeError> {
    let v = c.protocol;
    if !v.is_v5() && c.password.is_some() && c.username.is_none() {
        return Err(EncodeError::NotInThisVersion("password without user name"));
    }
    s.string(v.protocol_name())?;
    s.byte(v.level());
    let mut flags = 0u8;
    if c.clean_start {
        flags |= 0x02;
    }
    if let Some(will) = &c.will {
        flags |= 0x04 | (u8::from(will.qos) << 3);
        if will.retain {
            flags |= 0x20;
        }
    }
    if c.password.is_some() {
        flags |= 0x40;
    }
    if c.username.is_some() {
        flags |= 0x80;
    }
    s.byte(flags);
    s.u16(c.keep_alive);
    if v.is_v5() {
        write_section(s, &c.properties)?;
    }
    s.string(&c.client_id)?;
    if let Some(will) = &c.will {
        if v.is_v5() {
            write_section(s, &will.properties)?;
        }
        s.string(&will.topic)?;
        s.binary(&will.payload)?;
    }
    if let Some(username) = &c.username {
        s.string(username)?;
    }
    if let Some(password) = &c.password {
        s.binary(password)?;
    }
    Ok(())
}

fn connack<S: Sink>(c: &ConnAck, v: ProtocolVersion, s: &mut S) -> Result<(), EncodeError> {
    // 3.1 has no Session Present flag; its first byte is reserved.
    let session_present = c.session_present && v != ProtocolVersion::V3_1;
    s.byte(u8::from(session_present));
    if v.is_v5() {
        s.byte(c.reason);
        write_section(s, &c.properties)
    } else {
        s.byte(reason::connack_v3_return_code(c.reason));
        Ok(())
    }
}

/// PUBACK family: 5.0 uses the shortest form the specification allows.
fn ack<S: Sink>(a: &PubAck, v: ProtocolVersion, s: &mut S) -> Result<(), EncodeError> {
    s.u16(a.packet_id);
    if !v.is_v5() {
        return Ok(());
    }
    let no_properties = a.properties.is_empty();
    if a.reason == reason::SUCCESS && no_properties {
        return Ok(());
    }
    s.byte(a.reason);
    if no_properties {
        return Ok(());
    }
    write_section(s, &a.properties)
}

fn subscribe<S: Sink>(p: &Subscribe, v: ProtocolVersion, s: &mut S) -> Result<(), EncodeError> {
    s.u16(p.packet_id);
    if v.is_v5() {
        write_section(s, &p.properties)?;
    }
    for (filter, options) in &p.filters {
        s.string(filter)?;
        let mut byte = u8::from(options.qos);
        if v.is_v5() {
            byte |= u8::from(options.no_local) << 2;
            byte |= u8::from(options.retain_as_published) << 3;
            byte |= (options.retain_handling & 0x03) << 4;
        }
        s.byte(byte);
    }
    Ok(())
}

fn suback<S: Sink>(p: &SubAck, v: ProtocolVersion, s: &mut S) -> Result<(), EncodeError> {
    s.u16(p.packet_id);
    if v.is_v5() {
        write_section(s, &p.properties)?;
        s.raw(&p.reasons);
    } else {
        // 3.x knows a single failure code; 3.1 has none, but 0x80 is what its
        // clients in practice understand as a refusal.
        for &code in &p.reasons {
            s.byte(if code >= 0x80 { 0x80 } else { code });
        }
    }
    Ok(())
}

fn unsubscribe<S: Sink>(p: &Unsubscribe, v: ProtocolVersion, s: &mut S) -> Result<(), EncodeError> {
    s.u16(p.packet_id);
    if v.is_v5() {
        write_section(s, &UserOnly(&p.user_properties))?;
    }
    for filter in &p.filters {
        s.string(filter)?;
    }
    Ok(())
}

fn unsuback<S: Sink>(p: &UnsubAck, v: ProtocolVersion, s: &mut S) -> Result<(), EncodeError> {
    s.u16(p.packet_id);
    if v.is_v5() {
        write_section(s, &p.properties)?;
        s.raw(&p.reasons);
    }
    Ok(())
}

fn disconnect<S: Sink>(d: &Disconnect, v: ProtocolVersion, s: &mut S) -> Result<(), EncodeError> {
    if !v.is_v5() {
        return Ok(());
    }
    let no_properties = d.properties.is_empty();
    if d.reason == reason::NORMAL_DISCONNECTION && no_properties {
        return Ok(());
    }
    s.byte(d.reason);
    if no_properties {
        return Ok(());
    }
    write_section(s, &d.properties)
}

fn auth<S: Sink>(a: &Auth, s: &mut S) -> Result<(), EncodeError> {
    if a.reason == reason::SUCCESS && a.properties.is_empty() {
        return Ok(());
    }
    s.byte(a.reason);
    write_section(s, &a.properties)
}
