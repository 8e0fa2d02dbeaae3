//! [`Limits`]: User Properties are bounded per packet, in every packet type
//! that carries them.

use bytes::BytesMut;
use mqhost_codec::*;

use crate::samples::{encode_to_vec, samples};

/// The User Properties a packet carries, a CONNECT's will's included.
fn user_properties(packet: &Packet) -> usize {
    match packet {
        Packet::Connect(c) => {
            c.properties.user_properties.len()
                + c.will
                    .as_ref()
                    .map_or(0, |w| w.properties.user_properties.len())
        }
        Packet::ConnAck(a) => a.properties.user_properties.len(),
        Packet::Publish(p) => p.properties.user_properties.len(),
        Packet::PubAck(a) | Packet::PubRec(a) | Packet::PubRel(a) | Packet::PubComp(a) => {
            a.properties.user_properties.len()
        }
        Packet::Subscribe(s) => s.properties.user_properties.len(),
        Packet::SubAck(a) => a.properties.user_properties.len(),
        Packet::Unsubscribe(u) => u.user_properties.len(),
        Packet::UnsubAck(a) => a.properties.user_properties.len(),
        Packet::Disconnect(d) => d.properties.user_properties.len(),
        Packet::Auth(a) => a.properties.user_properties.len(),
        Packet::PingReq | Packet::PingResp => 0,
    }
}

fn decode_with(
    bytes: &[u8],
    version: Option<ProtocolVersion>,
    max_user_properties: u32,
) -> Result<Option<Packet>, DecodeError> {
    let limits = Limits {
        max_packet_size: u32::MAX,
        max_user_properties,
    };
    decode_limited(&mut BytesMut::from(bytes), version, limits)
}

#[test]
fn every_packet_type_is_held_to_the_user_property_limit() {
    let v = ProtocolVersion::V5;
    let mut checked = 0;
    for packet in samples(v) {
        let count = user_properties(&packet);
        if count == 0 {
            continue;
        }
        checked += 1;
        let bytes = encode_to_vec(&packet, v);
        let version = (!matches!(packet, Packet::Connect(_))).then_some(v);
        let limit = u32::try_from(count).unwrap();
        assert_eq!(
            decode_with(&bytes, version, limit),
            Ok(Some(packet.clone())),
            "{packet:?} at its count"
        );
        let refused = decode_with(&bytes, version, limit - 1).unwrap_err();
        assert_eq!(
            refused,
            DecodeError::TooManyUserProperties,
            "{packet:?} over"
        );
        assert_eq!(refused.reason_code(), reason::QUOTA_EXCEEDED);
    }
    // CONNECT, CONNACK, PUBLISH, the four acks, SUBSCRIBE, SUBACK,
    // UNSUBSCRIBE, UNSUBACK, DISCONNECT, AUTH.
    assert_eq!(checked, 13);
}

#[test]
fn a_connect_counts_its_will_properties_too() {
    let v = ProtocolVersion::V5;
    let connect = samples(v).into_iter().next().unwrap();
    let Packet::Connect(c) = &connect else {
        panic!("the first sample is a CONNECT");
    };
    let own = u32::try_from(c.properties.user_properties.len()).unwrap();
    let bytes = encode_to_vec(&connect, v);
    // Enough for the CONNECT's own section, not for the will's as well.
    assert_eq!(
        decode_with(&bytes, None, own),
        Err(DecodeError::TooManyUserProperties)
    );
}

/// A PUBLISH of 200,000 empty User Properties (1 MB) is refused at the
/// limit; `decode` alone takes them all.
#[test]
fn a_flood_of_empty_user_properties_is_refused() {
    let v = ProtocolVersion::V5;
    let mut publish = crate::samples::full_publish(true);
    publish.properties = PublishProperties {
        user_properties: vec![(String::new(), String::new()); 200_000],
        ..Default::default()
    };
    let bytes = encode_to_vec(&Packet::Publish(publish), v);
    assert_eq!(
        decode_with(&bytes, Some(v), 128),
        Err(DecodeError::TooManyUserProperties)
    );
    let Ok(Some(Packet::Publish(all))) = decode(&mut BytesMut::from(&bytes[..]), Some(v), u32::MAX)
    else {
        panic!("unlimited decoding refused the flood");
    };
    assert_eq!(all.properties.user_properties.len(), 200_000);
}
