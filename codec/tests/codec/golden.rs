//! Byte vectors written by hand from the 3.1, 3.1.1 and 5.0 specifications; each one
//! must decode to the given packet and the packet must encode to exactly those bytes.

use bytes::Bytes;
use mqhost_codec::*;

use crate::samples::{decode_one, empty_connect, encode_to_vec};

use ProtocolVersion::{V3_1, V3_1_1, V5};

fn check(v: ProtocolVersion, packet: Packet, bytes: &[u8]) {
    assert_eq!(encode_to_vec(&packet, v), bytes, "encoding {packet:?}");
    assert_eq!(
        decode_one(bytes, Some(v)).unwrap(),
        packet,
        "decoding {bytes:02X?}"
    );
}

fn ack(packet_id: u16, reason: u8) -> PubAck {
    PubAck {
        packet_id,
        reason,
        properties: AckProperties::default(),
    }
}

#[test]
fn connect_as_sent_by_mosquitto_pub_311() {
    // mosquitto_pub -V mqttv311 -i mosq-test: clean session, keep alive 60.
    let bytes = [
        0x10, 0x15, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x3C, 0x00, 0x09, b'm',
        b'o', b's', b'q', b'-', b't', b'e', b's', b't',
    ];
    let connect = Connect {
        clean_start: true,
        keep_alive: 60,
        client_id: "mosq-test".into(),
        ..empty_connect(V3_1_1)
    };
    assert_eq!(
        decode_one(&bytes, None).unwrap(),
        Packet::Connect(Box::new(connect.clone()))
    );
    check(V3_1_1, Packet::Connect(Box::new(connect)), &bytes);
}

#[test]
fn connect_311_with_will_user_and_password() {
    // Flags 0xCE as in the 3.1.1 specification's variable header example.
    let bytes = [
        0x10, 0x19, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0xCE, 0x00, 0x0A, 0x00, 0x01, b'c',
        0x00, 0x01, b'w', 0x00, 0x01, b'm', 0x00, 0x01, b'u', 0x00, 0x01, b'p',
    ];
    let connect = Connect {
        clean_start: true,
        keep_alive: 10,
        client_id: "c".into(),
        will: Some(LastWill {
            topic: "w".into(),
            payload: Bytes::from_static(b"m"),
            qos: QoS::AtLeastOnce,
            retain: false,
            properties: WillProperties::default(),
        }),
        username: Some("u".into()),
        password: Some(Bytes::from_static(b"p")),
        ..empty_connect(V3_1_1)
    };
    check(V3_1_1, Packet::Connect(Box::new(connect)), &bytes);
}

#[test]
fn connect_31_uses_mqisdp_level_3() {
    let bytes = [
        0x10, 0x10, 0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p', 0x03, 0x02, 0x00, 0x3C, 0x00,
        0x02, b'i', b'd',
    ];
    let connect = Connect {
        clean_start: true,
        keep_alive: 60,
        client_id: "id".into(),
        ..empty_connect(V3_1)
    };
    check(V3_1, Packet::Connect(Box::new(connect)), &bytes);
}

#[test]
fn connect_5_with_session_expiry() {
    let bytes = [
        0x10, 0x15, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x02, 0x00, 0x3C, 0x05, 0x11, 0x00,
        0x00, 0x00, 0x78, 0x00, 0x03, b'a', b'b', b'c',
    ];
    let mut connect = Connect {
        clean_start: true,
        keep_alive: 60,
        client_id: "abc".into(),
        ..empty_connect(V5)
    };
    connect.properties.session_expiry_interval = Some(120);
    check(V5, Packet::Connect(Box::new(connect)), &bytes);
}

#[test]
fn connack_5_with_properties() {
    let bytes = [
        0x20, 0x13, 0x00, 0x00, 0x10, 0x12, 0x00, 0x03, b'a', b'b', b'c', 0x21, 0x00, 0x0A, 0x22,
        0x00, 0x05, 0x24, 0x01, 0x25, 0x00,
    ];
    let connack = ConnAck {
        session_present: false,
        reason: reason::SUCCESS,
        properties: ConnAckProperties {
            assigned_client_identifier: Some("abc".into()),
            receive_maximum: Some(10),
            topic_alias_maximum: Some(5),
            maximum_qos: Some(1),
            retain_available: Some(0),
            ..Default::default()
        },
    };
    check(V5, Packet::ConnAck(connack), &bytes);
}

#[test]
fn connack_311_session_present() {
    let connack = ConnAck {
        session_present: true,
        reason: reason::SUCCESS,
        properties: ConnAckProperties::default(),
    };
    check(V3_1_1, Packet::ConnAck(connack), &[0x20, 0x02, 0x01, 0x00]);
}

#[test]
fn publish_qos1_311() {
    let publish = Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: "a/b".into(),
        packet_id: 10,
        payload: Bytes::from_static(b"hi"),
        properties: PublishProperties::default(),
    };
    let bytes = [
        0x32, 0x09, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x0A, b'h', b'i',
    ];
    check(V3_1_1, Packet::Publish(publish), &bytes);
}

#[test]
fn publish_qos1_5_with_properties() {
    let publish = Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: "a/b".into(),
        packet_id: 10,
        payload: Bytes::from_static(b"hi"),
        properties: PublishProperties {
            payload_format_indicator: Some(1),
            topic_alias: Some(3),
            ..Default::default()
        },
    };
    let bytes = [
        0x32, 0x0F, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x0A, 0x05, 0x01, 0x01, 0x23, 0x00, 0x03,
        b'h', b'i',
    ];
    check(V5, Packet::Publish(publish), &bytes);
}

#[test]
fn publish_qos2_dup_retain_with_two_byte_remaining_length() {
    let publish = Publish {
        dup: true,
        qos: QoS::ExactlyOnce,
        retain: true,
        topic: "t".into(),
        packet_id: 1,
        payload: Bytes::from(vec![7u8; 200]),
        properties: PublishProperties::default(),
    };
    let bytes = encode_to_vec(&Packet::Publish(publish.clone()), V3_1_1);
    // Remaining length 3 + 2 + 200 = 205 = 0x4D + 1 * 128.
    assert_eq!(bytes[..7], [0x3D, 0xCD, 0x01, 0x00, 0x01, b't', 0x00]);
    check(V3_1_1, Packet::Publish(publish), &bytes);
}

#[test]
fn subscribe_311_from_the_specification() {
    let subscribe = Subscribe {
        packet_id: 10,
        filters: vec![
            (
                "a/b".into(),
                SubscriptionOptions {
                    qos: QoS::AtLeastOnce,
                    ..Default::default()
                },
            ),
            (
                "c/d".into(),
                SubscriptionOptions {
                    qos: QoS::ExactlyOnce,
                    ..Default::default()
                },
            ),
        ],
        properties: SubscribeProperties::default(),
    };
    let bytes = [
        0x82, 0x0E, 0x00, 0x0A, 0x00, 0x03, b'a', b'/', b'b', 0x01, 0x00, 0x03, b'c', b'/', b'd',
        0x02,
    ];
    check(V3_1_1, Packet::Subscribe(subscribe), &bytes);
}

#[test]
fn subscribe_5_with_options_and_identifier() {
    let subscribe = Subscribe {
        packet_id: 1,
        filters: vec![(
            "a".into(),
            SubscriptionOptions {
                qos: QoS::AtLeastOnce,
                no_local: true,
                retain_as_published: true,
                retain_handling: 2,
            },
        )],
        properties: SubscribeProperties {
            subscription_identifier: Some(5),
            user_properties: vec![],
        },
    };
    let bytes = [
        0x82, 0x09, 0x00, 0x01, 0x02, 0x0B, 0x05, 0x00, 0x01, b'a', 0x2D,
    ];
    check(V5, Packet::Subscribe(subscribe), &bytes);
}

#[test]
fn suback_311_with_a_failure() {
    let suback = SubAck {
        packet_id: 10,
        reasons: vec![0x00, 0x02, 0x80],
        properties: AckProperties::default(),
    };
    check(
        V3_1_1,
        Packet::SubAck(suback),
        &[0x90, 0x05, 0x00, 0x0A, 0x00, 0x02, 0x80],
    );
}

#[test]
fn unsubscribe_and_unsuback() {
    let unsubscribe = Unsubscribe {
        packet_id: 2,
        filters: vec!["a".into()],
        user_properties: vec![],
    };
    check(
        V3_1_1,
        Packet::Unsubscribe(unsubscribe.clone()),
        &[0xA2, 0x05, 0x00, 0x02, 0x00, 0x01, b'a'],
    );
    check(
        V5,
        Packet::Unsubscribe(unsubscribe),
        &[0xA2, 0x06, 0x00, 0x02, 0x00, 0x00, 0x01, b'a'],
    );
    let unsuback = UnsubAck {
        packet_id: 1,
        reasons: vec![reason::NO_SUBSCRIPTION_EXISTED],
        properties: AckProperties::default(),
    };
    check(
        V5,
        Packet::UnsubAck(unsuback),
        &[0xB0, 0x04, 0x00, 0x01, 0x00, 0x11],
    );
    let unsuback = UnsubAck {
        packet_id: 1,
        reasons: vec![],
        properties: AckProperties::default(),
    };
    check(
        V3_1_1,
        Packet::UnsubAck(unsuback),
        &[0xB0, 0x02, 0x00, 0x01],
    );
}

#[test]
fn acks_5_use_the_shortest_form() {
    check(V5, Packet::PubAck(ack(10, 0)), &[0x40, 0x02, 0x00, 0x0A]);
    check(
        V5,
        Packet::PubAck(ack(10, 0x10)),
        &[0x40, 0x03, 0x00, 0x0A, 0x10],
    );
    let with_reason_string = PubAck {
        packet_id: 10,
        reason: 0x10,
        properties: AckProperties {
            reason_string: Some("x".into()),
            user_properties: vec![],
        },
    };
    check(
        V5,
        Packet::PubAck(with_reason_string),
        &[0x40, 0x08, 0x00, 0x0A, 0x10, 0x04, 0x1F, 0x00, 0x01, b'x'],
    );
    check(V5, Packet::PubRec(ack(1, 0)), &[0x50, 0x02, 0x00, 0x01]);
    check(
        V5,
        Packet::PubRel(ack(1, 0x92)),
        &[0x62, 0x03, 0x00, 0x01, 0x92],
    );
    check(V5, Packet::PubComp(ack(1, 0)), &[0x70, 0x02, 0x00, 0x01]);
    check(V3_1_1, Packet::PubRel(ack(1, 0)), &[0x62, 0x02, 0x00, 0x01]);

    // The long forms of the same packets are accepted too.
    assert_eq!(
        decode_one(&[0x40, 0x03, 0x00, 0x0A, 0x00], Some(V5)).unwrap(),
        Packet::PubAck(ack(10, 0))
    );
    assert_eq!(
        decode_one(&[0x40, 0x04, 0x00, 0x0A, 0x00, 0x00], Some(V5)).unwrap(),
        Packet::PubAck(ack(10, 0))
    );
}

#[test]
fn disconnect_forms() {
    let disconnect = |reason| Disconnect {
        reason,
        properties: DisconnectProperties::default(),
    };
    check(V3_1_1, Packet::Disconnect(disconnect(0)), &[0xE0, 0x00]);
    check(V5, Packet::Disconnect(disconnect(0)), &[0xE0, 0x00]);
    check(
        V5,
        Packet::Disconnect(disconnect(0x8E)),
        &[0xE0, 0x01, 0x8E],
    );
    let with_expiry = Disconnect {
        reason: 0,
        properties: DisconnectProperties {
            session_expiry_interval: Some(0),
            ..Default::default()
        },
    };
    check(
        V5,
        Packet::Disconnect(with_expiry),
        &[0xE0, 0x07, 0x00, 0x05, 0x11, 0x00, 0x00, 0x00, 0x00],
    );
    assert_eq!(
        decode_one(&[0xE0, 0x02, 0x00, 0x00], Some(V5)).unwrap(),
        Packet::Disconnect(disconnect(0))
    );
}

#[test]
fn auth_forms() {
    check(V5, Packet::Auth(Auth::default()), &[0xF0, 0x00]);
    let auth = Auth {
        reason: reason::CONTINUE_AUTHENTICATION,
        properties: AuthProperties {
            authentication_method: Some("X".into()),
            ..Default::default()
        },
    };
    check(
        V5,
        Packet::Auth(auth),
        &[0xF0, 0x06, 0x18, 0x04, 0x15, 0x00, 0x01, b'X'],
    );
}

#[test]
fn ping_packets() {
    for v in [V3_1, V3_1_1, V5] {
        check(v, Packet::PingReq, &[0xC0, 0x00]);
        check(v, Packet::PingResp, &[0xD0, 0x00]);
    }
}
