//! Every packet type, in every version, survives encode then decode unchanged.

use bytes::{Bytes, BytesMut};
use mqhost_codec::*;

use crate::samples::{decode_one, encode_to_vec, full_publish, samples, ALL_VERSIONS};

fn round_trip(packet: &Packet, v: ProtocolVersion) {
    let bytes = encode_to_vec(packet, v);
    assert_eq!(
        bytes.len(),
        encoded_len(packet, v),
        "encoded_len of {packet:?}"
    );
    let decoded = decode_one(&bytes, Some(v))
        .unwrap_or_else(|e| panic!("{v:?} {packet:?} -> {bytes:02X?}: {e}"));
    assert_eq!(&decoded, packet, "{v:?} bytes {bytes:02X?}");
}

#[test]
fn every_sample_round_trips_in_its_version() {
    for v in ALL_VERSIONS {
        for packet in samples(v) {
            round_trip(&packet, v);
        }
    }
}

#[test]
fn samples_cover_every_packet_type_in_every_version() {
    for v in ALL_VERSIONS {
        let mut names: Vec<&str> = samples(v).iter().map(Packet::name).collect();
        names.sort_unstable();
        names.dedup();
        let expected = if v.is_v5() { 15 } else { 14 };
        assert_eq!(names.len(), expected, "{v:?}: {names:?}");
    }
}

#[test]
fn connect_decodes_without_a_known_version_and_sets_it() {
    for v in ALL_VERSIONS {
        for packet in samples(v) {
            if let Packet::Connect(c) = &packet {
                let bytes = encode_to_vec(&packet, v);
                assert_eq!(decode_one(&bytes, None).unwrap(), packet);
                // CONNECT declares its own version, whatever the connection thought.
                for other in ALL_VERSIONS {
                    assert_eq!(decode_one(&bytes, Some(other)).unwrap(), packet);
                    assert_eq!(encode_to_vec(&packet, other), bytes);
                }
                assert_eq!(c.protocol, v);
            }
        }
    }
}

#[test]
fn v3_encoding_drops_what_v3_cannot_carry() {
    for v in [ProtocolVersion::V3_1, ProtocolVersion::V3_1_1] {
        let rich = Packet::Publish(full_publish(true));
        let plain = Packet::Publish(full_publish(false));
        assert_eq!(encode_to_vec(&rich, v), encode_to_vec(&plain, v));
        assert_eq!(
            decode_one(&encode_to_vec(&rich, v), Some(v)).unwrap(),
            plain
        );

        let ack = |reason, properties| {
            Packet::PubAck(PubAck {
                packet_id: 5,
                reason,
                properties,
            })
        };
        let rich = ack(
            reason::QUOTA_EXCEEDED,
            AckProperties {
                reason_string: Some("r".into()),
                user_properties: vec![],
            },
        );
        assert_eq!(encode_to_vec(&rich, v), [0x40, 0x02, 0x00, 0x05]);

        let sub = Packet::Subscribe(Subscribe {
            packet_id: 1,
            filters: vec![(
                "t".into(),
                SubscriptionOptions {
                    qos: QoS::AtLeastOnce,
                    no_local: true,
                    retain_as_published: true,
                    retain_handling: 2,
                },
            )],
            properties: SubscribeProperties {
                subscription_identifier: Some(3),
                user_properties: vec![],
            },
        });
        assert_eq!(
            encode_to_vec(&sub, v),
            [0x82, 0x06, 0x00, 0x01, 0x00, 0x01, b't', 0x01]
        );

        let unsuback = Packet::UnsubAck(UnsubAck {
            packet_id: 9,
            reasons: vec![0x11, 0x80],
            properties: AckProperties::default(),
        });
        assert_eq!(encode_to_vec(&unsuback, v), [0xB0, 0x02, 0x00, 0x09]);
    }
}

#[test]
fn v3_connack_return_codes_are_mapped_both_ways() {
    let cases = [
        (reason::SUCCESS, 0u8, reason::SUCCESS),
        (
            reason::UNSUPPORTED_PROTOCOL_VERSION,
            1,
            reason::UNSUPPORTED_PROTOCOL_VERSION,
        ),
        (
            reason::CLIENT_IDENTIFIER_NOT_VALID,
            2,
            reason::CLIENT_IDENTIFIER_NOT_VALID,
        ),
        (reason::SERVER_UNAVAILABLE, 3, reason::SERVER_UNAVAILABLE),
        (reason::SERVER_BUSY, 3, reason::SERVER_UNAVAILABLE),
        (reason::BANNED, 3, reason::SERVER_UNAVAILABLE),
        (reason::UNSPECIFIED_ERROR, 3, reason::SERVER_UNAVAILABLE),
        (
            reason::BAD_USER_NAME_OR_PASSWORD,
            4,
            reason::BAD_USER_NAME_OR_PASSWORD,
        ),
        (reason::NOT_AUTHORIZED, 5, reason::NOT_AUTHORIZED),
        (reason::BAD_AUTHENTICATION_METHOD, 5, reason::NOT_AUTHORIZED),
    ];
    for v in [ProtocolVersion::V3_1, ProtocolVersion::V3_1_1] {
        for (code5, code3, back) in cases {
            let packet = Packet::ConnAck(ConnAck {
                session_present: false,
                reason: code5,
                properties: ConnAckProperties::default(),
            });
            let bytes = encode_to_vec(&packet, v);
            assert_eq!(bytes, [0x20, 0x02, 0x00, code3], "{code5:#04X}");
            let Packet::ConnAck(decoded) = decode_one(&bytes, Some(v)).unwrap() else {
                panic!("not a CONNACK");
            };
            assert_eq!(decoded.reason, back);
        }
    }
}

#[test]
fn v3_suback_failures_become_0x80() {
    for v in [ProtocolVersion::V3_1, ProtocolVersion::V3_1_1] {
        let packet = Packet::SubAck(SubAck {
            packet_id: 3,
            reasons: vec![0x00, 0x02, 0x87, 0xA2, 0x80],
            properties: AckProperties::default(),
        });
        assert_eq!(
            encode_to_vec(&packet, v),
            [0x90, 0x07, 0x00, 0x03, 0x00, 0x02, 0x80, 0x80, 0x80]
        );
    }
}

#[test]
fn v31_connack_never_carries_session_present() {
    let packet = Packet::ConnAck(ConnAck {
        session_present: true,
        reason: reason::SUCCESS,
        properties: ConnAckProperties::default(),
    });
    let bytes = encode_to_vec(&packet, ProtocolVersion::V3_1);
    assert_eq!(bytes, [0x20, 0x02, 0x00, 0x00]);
    // 3.1 calls that byte reserved and unused, so whatever a 3.1 server puts there is ignored.
    let Packet::ConnAck(c) =
        decode_one(&[0x20, 0x02, 0x01, 0x00], Some(ProtocolVersion::V3_1)).unwrap()
    else {
        panic!("not a CONNACK");
    };
    assert!(!c.session_present);
}

#[test]
fn publish_view_uses_per_subscriber_fields_and_matches_encode() {
    let message = full_publish(true);
    let ids = [42u32];
    let view = PublishView {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: &message.topic,
        packet_id: 77,
        payload: &message.payload,
        properties: &message.properties,
        topic_alias: None,
        message_expiry_interval: Some(5),
        subscription_identifiers: &ids,
    };
    for v in ALL_VERSIONS {
        let mut buf = BytesMut::from(&b"prefix"[..]);
        encode_publish(&view, v, &mut buf).unwrap();
        assert_eq!(&buf[..6], b"prefix", "encode appends");
        assert_eq!(buf.len() - 6, publish_encoded_len(&view, v));
        let _ = buf.split_to(6);
        let Some(Packet::Publish(got)) = decode(&mut buf, Some(v), u32::MAX).unwrap() else {
            panic!("not a PUBLISH");
        };
        let mut expected = Publish {
            dup: false,
            qos: QoS::AtLeastOnce,
            retain: false,
            packet_id: 77,
            ..message.clone()
        };
        if v.is_v5() {
            expected.properties.topic_alias = None;
            expected.properties.message_expiry_interval = Some(5);
            expected.properties.subscription_identifiers = vec![42];
        } else {
            expected.properties = PublishProperties::default();
        }
        assert_eq!(got, expected);

        // Encoding the expected Publish directly gives the same bytes as the view.
        let mut direct = BytesMut::new();
        encode(&Packet::Publish(expected), v, &mut direct).unwrap();
        let mut via_view = BytesMut::new();
        encode_publish(&view, v, &mut via_view).unwrap();
        assert_eq!(direct, via_view);
    }
}

#[test]
fn dup_is_not_written_for_qos_0() {
    let packet = Packet::Publish(Publish {
        dup: true,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: "t".into(),
        packet_id: 9,
        payload: Bytes::new(),
        properties: PublishProperties::default(),
    });
    let bytes = encode_to_vec(&packet, ProtocolVersion::V3_1_1);
    assert_eq!(bytes, [0x30, 0x03, 0x00, 0x01, b't']);
}
