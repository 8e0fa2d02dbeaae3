//! MQTT packet codec for mqhost: MQTT 3.1 ("MQIsdp", level 3), 3.1.1 (level 4) and
//! 5.0 (level 5), decoding and encoding every packet type in both directions.
//!
//! The packet model is the 5.0 one; for 3.x the 5.0-only fields stay at their
//! defaults and reason codes are always 5.0 codes (the encoder maps them to 3.x
//! return codes, the decoder maps 3.x return codes to them).
//!
//! The decoder is strict — anything the specifications call malformed or a protocol
//! error is rejected with a [`DecodeError`] carrying the reason code to report — and is
//! written to be fuzzed: it never panics, never allocates from a length field before the
//! bytes it announces are received, and never consumes part of a packet. What a packet
//! costs in memory beyond its bytes is bounded by [`decode_limited`]'s [`Limits`] (User
//! Properties, each a pair of strings for its 5 bytes on the wire).
//!
//! ```
//! use bytes::BytesMut;
//! use mqhost_codec::{decode, encode, Packet, ProtocolVersion};
//!
//! let mut wire = BytesMut::new();
//! encode(&Packet::PingReq, ProtocolVersion::V5, &mut wire)?;
//! assert_eq!(&wire[..], [0xC0, 0x00]);
//! let packet = decode(&mut wire, Some(ProtocolVersion::V5), 1024)?;
//! assert_eq!(packet, Some(Packet::PingReq));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Layout
//!
//! - `types`: the packet model ([`Packet`] and one struct per packet and property set).
//! - `reason`: named 5.0 reason codes ([`reason`]) and the 3.x return-code mapping.
//! - `error`: [`DecodeError`] and [`EncodeError`].
//! - `wire`: primitive data types (integers, Variable Byte Integers, strings, binary).
//! - `properties`: 5.0 property sections, read into and written from the property structs.
//! - `decode`: framing a byte stream into packets and parsing each packet type ([`decode`],
//!   [`decode_limited`] with its [`Limits`], [`peek_connect_version`]).
//! - `encode`: writing each packet type ([`encode`], [`encode_publish`] for fan-out).
//!
//! # Decisions worth knowing
//!
//! - A PUBLISH or will topic containing `+` or `#`, an empty will topic and an empty 3.x
//!   PUBLISH topic are [`DecodeError::InvalidTopic`], a malformed packet (reason 0x81;
//!   0x90 is for well-formed names a server does not accept). An empty 5.0 topic
//!   without a Topic Alias is a protocol error, as the specification says. Topic filter
//!   syntax is left to the broker.
//! - Direction is not known to the codec: every packet type decodes on every connection,
//!   so checks such as "a client must not send Subscription Identifiers" are the broker's.
//! - A 3.x DISCONNECT with a reason code cannot be encoded (servers do not send DISCONNECT
//!   in 3.x; they close the connection).
//! - Malformed versus protocol error follows the 5.0 specification: bad fixed-header flags,
//!   QoS 3, bad UTF-8, over-long or padded Variable Byte Integers, trailing or missing bytes,
//!   reserved bits, unknown reason codes and properties not valid for the packet type are
//!   malformed (0x81); packet identifier 0, DUP with QoS 0, repeated properties, property
//!   values out of range, retain handling 3, SUBSCRIBE/UNSUBSCRIBE without filters and a
//!   non-CONNECT first packet are protocol errors (0x82).
//! - 3.1 leniencies, from its own specification: a DUP bit on PUBREL, SUBSCRIBE and
//!   UNSUBSCRIBE is accepted (and dropped), and the CONNACK flags byte is ignored (3.1 has
//!   no Session Present).
//! - Decoded packets always re-encode to an equivalent packet: the decoder accepts nothing
//!   the encoder would normalise away.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod decode;
mod encode;
mod error;
mod properties;
pub mod reason;
mod types;
mod wire;

pub use decode::{decode, decode_limited, peek_connect_version, Limits};
pub use encode::{encode, encode_publish, encoded_len, publish_encoded_len, PublishView};
pub use error::{DecodeError, EncodeError};
pub use types::{
    AckProperties, Auth, AuthProperties, ConnAck, ConnAckProperties, Connect, ConnectProperties,
    Disconnect, DisconnectProperties, LastWill, Packet, ProtocolVersion, PubAck, Publish,
    PublishProperties, QoS, SubAck, Subscribe, SubscribeProperties, SubscriptionOptions, UnsubAck,
    Unsubscribe, UserProperties, WillProperties,
};
