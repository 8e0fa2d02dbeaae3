//! Every validation rule: malformed input and the exact error it must produce.

use bytes::BytesMut;
use mqhost_codec::*;

use crate::samples::decode_one;

use DecodeError::{InvalidTopic, MalformedPacket, PacketTooLarge, ProtocolError};
use ProtocolVersion::{V3_1, V3_1_1, V5};

fn error(bytes: &[u8], v: Option<ProtocolVersion>) -> DecodeError {
    let mut buf = BytesMut::from(bytes);
    match decode(&mut buf, v, u32::MAX) {
        Err(e) => e,
        Ok(p) => panic!("{bytes:02X?} decoded as {p:?}"),
    }
}

fn malformed(bytes: &[u8], v: Option<ProtocolVersion>) {
    let e = error(bytes, v);
    assert!(matches!(e, MalformedPacket(_)), "{bytes:02X?}: {e:?}");
    assert_eq!(e.reason_code(), reason::MALFORMED_PACKET);
}

fn protocol_error(bytes: &[u8], v: Option<ProtocolVersion>) {
    let e = error(bytes, v);
    assert!(matches!(e, ProtocolError(_)), "{bytes:02X?}: {e:?}");
    assert_eq!(e.reason_code(), reason::PROTOCOL_ERROR);
}

fn ok(bytes: &[u8], v: Option<ProtocolVersion>) -> Packet {
    decode_one(bytes, v).unwrap_or_else(|e| panic!("{bytes:02X?}: {e}"))
}

/// A 5.0 PUBLISH QoS 0 to topic "t" with the given property bytes and no payload.
fn publish5(props: &[u8]) -> Vec<u8> {
    let mut body = vec![0x00, 0x01, b't', props.len() as u8];
    body.extend_from_slice(props);
    let mut out = vec![0x30, body.len() as u8];
    out.extend(body);
    out
}

/// A CONNECT with the given protocol name, level, flags and trailing bytes.
fn connect(name: &[u8], level: u8, flags: u8, rest: &[u8]) -> Vec<u8> {
    let mut body = vec![0x00, name.len() as u8];
    body.extend_from_slice(name);
    body.extend([level, flags, 0x00, 0x3C]);
    body.extend_from_slice(rest);
    let mut out = vec![0x10, body.len() as u8];
    out.extend(body);
    out
}

#[test]
fn reserved_packet_types_are_malformed() {
    malformed(&[0x00, 0x00], Some(V5));
    malformed(&[0x00], None);
    malformed(&[0xF0, 0x00], Some(V3_1_1));
    malformed(&[0xF0, 0x00], Some(V3_1));
}

#[test]
fn fixed_header_flags_are_checked_from_the_first_byte() {
    for first in [0x60u8, 0x80, 0xA0, 0x63, 0x8A, 0xA3] {
        malformed(&[first], Some(V3_1_1));
        malformed(&[first], Some(V5));
    }
    for first in [
        0x11u8, 0x21, 0x41, 0x58, 0x72, 0x91, 0xB4, 0xC1, 0xD2, 0xE8, 0xF1,
    ] {
        malformed(&[first], Some(V5));
    }
    malformed(&[0x11], None);
}

#[test]
fn v31_tolerates_dup_on_pubrel_subscribe_and_unsubscribe() {
    let sub = [0x8A, 0x06, 0x00, 0x01, 0x00, 0x01, b't', 0x00];
    assert!(matches!(ok(&sub, Some(V3_1)), Packet::Subscribe(_)));
    malformed(&sub, Some(V3_1_1));
    assert!(matches!(
        ok(&[0x6A, 0x02, 0x00, 0x01], Some(V3_1)),
        Packet::PubRel(_)
    ));
    assert!(matches!(
        ok(&[0xAA, 0x05, 0x00, 0x01, 0x00, 0x01, b't'], Some(V3_1)),
        Packet::Unsubscribe(_)
    ));
}

#[test]
fn publish_qos_3_is_malformed_and_dup_with_qos_0_a_protocol_error() {
    malformed(&[0x36], Some(V3_1_1));
    malformed(&[0x37, 0x00], Some(V5));
    protocol_error(&[0x38], Some(V3_1_1));
    protocol_error(&[0x39, 0x03, 0x00, 0x01, b't'], Some(V5));
}

#[test]
fn remaining_length_is_at_most_four_minimal_bytes() {
    malformed(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF], Some(V3_1_1));
    malformed(&[0x30, 0x80, 0x80, 0x80, 0x80, 0x01], Some(V3_1_1));
    malformed(&[0xC0, 0x80, 0x00], Some(V3_1_1));
    malformed(&[0x30, 0x81, 0x80, 0x00], Some(V3_1_1));
}

#[test]
fn non_connect_before_connect_is_a_protocol_error() {
    for first in [0x20u8, 0x30, 0x40, 0x62, 0x82, 0xC0, 0xE0, 0xF0] {
        protocol_error(&[first], None);
    }
    // Even when complete.
    protocol_error(&[0xC0, 0x00], None);
}

#[test]
fn packet_identifier_zero_is_a_protocol_error() {
    protocol_error(&[0x32, 0x05, 0x00, 0x01, b't', 0x00, 0x00], Some(V3_1_1));
    protocol_error(&[0x34, 0x06, 0x00, 0x01, b't', 0x00, 0x00, 0x00], Some(V5));
    for first in [0x40u8, 0x50, 0x62, 0x70] {
        protocol_error(&[first, 0x02, 0x00, 0x00], Some(V3_1_1));
        protocol_error(&[first, 0x02, 0x00, 0x00], Some(V5));
    }
    protocol_error(
        &[0x82, 0x06, 0x00, 0x00, 0x00, 0x01, b't', 0x00],
        Some(V3_1_1),
    );
    protocol_error(&[0xA2, 0x05, 0x00, 0x00, 0x00, 0x01, b't'], Some(V3_1_1));
    protocol_error(&[0x90, 0x03, 0x00, 0x00, 0x00], Some(V3_1_1));
    protocol_error(&[0xB0, 0x02, 0x00, 0x00], Some(V3_1_1));
}

#[test]
fn strings_must_be_valid_utf8_without_nul() {
    malformed(&[0x30, 0x03, 0x00, 0x01, 0xFF], Some(V3_1_1));
    malformed(&[0x30, 0x03, 0x00, 0x01, 0x00], Some(V3_1_1));
    // Overlong encoding of '/' and an encoded surrogate.
    malformed(&[0x30, 0x04, 0x00, 0x02, 0xC0, 0xAF], Some(V3_1_1));
    malformed(&[0x30, 0x05, 0x00, 0x03, 0xED, 0xA0, 0x80], Some(V3_1_1));
    // Client identifier and user property strings are checked the same way.
    malformed(&connect(b"MQTT", 4, 0x02, &[0x00, 0x01, 0xC3]), None);
    malformed(
        &publish5(&[0x26, 0x00, 0x01, b'k', 0x00, 0x01, 0x00]),
        Some(V5),
    );
    // A string whose length runs past the packet.
    malformed(&[0x30, 0x03, 0x00, 0x05, b't'], Some(V3_1_1));
}

#[test]
fn properties_exist_only_in_v5() {
    // What would be a property section is trailing garbage in 3.1.1.
    malformed(&[0x20, 0x03, 0x00, 0x00, 0x00], Some(V3_1_1));
    malformed(&[0x40, 0x03, 0x00, 0x01, 0x00], Some(V3_1_1));
    malformed(&[0xB0, 0x03, 0x00, 0x01, 0x00], Some(V3_1_1));
    malformed(&[0xE0, 0x01, 0x00], Some(V3_1_1));
    malformed(&[0xE0, 0x01, 0x00], Some(V3_1));
    // In a 3.1.1 PUBLISH the same bytes are simply payload.
    let Packet::Publish(p) = ok(&[0x30, 0x04, 0x00, 0x01, b't', 0x00], Some(V3_1_1)) else {
        panic!()
    };
    assert_eq!(&p.payload[..], [0x00]);
}

#[test]
fn property_not_valid_for_the_packet_is_malformed() {
    // Session Expiry Interval in PUBLISH, Topic Alias in CONNECT, Reason String in SUBSCRIBE.
    malformed(&publish5(&[0x11, 0, 0, 0, 1]), Some(V5));
    malformed(
        &connect(b"MQTT", 5, 0x02, &[0x03, 0x23, 0x00, 0x01, 0x00, 0x00]),
        None,
    );
    malformed(
        &[
            0x82, 0x0A, 0x00, 0x01, 0x04, 0x1F, 0x00, 0x01, b'x', 0x00, 0x00, 0x00,
        ],
        Some(V5),
    );
    // Will Delay Interval is a will property, not a CONNECT property.
    malformed(
        &connect(b"MQTT", 5, 0x02, &[0x05, 0x18, 0, 0, 0, 1, 0x00, 0x00]),
        None,
    );
    // Unknown identifiers, including padded VBI forms of known ones.
    malformed(&publish5(&[0x7F, 0x00]), Some(V5));
    malformed(&publish5(&[0x00]), Some(V5));
    malformed(&publish5(&[0x81, 0x00, 0x01]), Some(V5));
    // A value running past the property section.
    malformed(&publish5(&[0x02, 0x00, 0x00]), Some(V5));
    // A property length running past the packet.
    malformed(&[0x30, 0x04, 0x00, 0x01, b't', 0x05], Some(V5));
}

#[test]
fn repeated_properties_are_protocol_errors() {
    protocol_error(&publish5(&[0x01, 0x00, 0x01, 0x01]), Some(V5));
    protocol_error(&publish5(&[0x23, 0x00, 0x01, 0x23, 0x00, 0x02]), Some(V5));
    protocol_error(
        &[0xE0, 0x0C, 0x00, 0x0A, 0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2],
        Some(V5),
    );
    protocol_error(
        &[
            0x82, 0x0B, 0x00, 0x01, 0x04, 0x0B, 0x01, 0x0B, 0x02, 0x00, 0x01, b't', 0x00,
        ][..],
        Some(V5),
    );
    // Except User Property, and Subscription Identifier in PUBLISH.
    let Packet::Publish(p) = ok(
        &publish5(&[
            0x0B, 0x01, 0x0B, 0x02, 0x26, 0, 1, b'a', 0, 0, 0x26, 0, 1, b'a', 0, 0,
        ]),
        Some(V5),
    ) else {
        panic!()
    };
    assert_eq!(p.properties.subscription_identifiers, [1, 2]);
    assert_eq!(p.properties.user_properties.len(), 2);
}

#[test]
fn property_values_out_of_range_are_protocol_errors() {
    // Subscription Identifier 0, in PUBLISH and SUBSCRIBE.
    protocol_error(&publish5(&[0x0B, 0x00]), Some(V5));
    protocol_error(
        &[
            0x82, 0x09, 0x00, 0x01, 0x02, 0x0B, 0x00, 0x00, 0x01, b't', 0x00,
        ][..],
        Some(V5),
    );
    protocol_error(&publish5(&[0x23, 0x00, 0x00]), Some(V5)); // Topic Alias 0
    protocol_error(&publish5(&[0x01, 0x02]), Some(V5)); // Payload Format Indicator 2
    let connect5 = |props: &[u8]| {
        let mut rest = vec![props.len() as u8];
        rest.extend_from_slice(props);
        rest.extend([0x00, 0x00]);
        connect(b"MQTT", 5, 0x02, &rest)
    };
    protocol_error(&connect5(&[0x21, 0x00, 0x00]), None); // Receive Maximum 0
    protocol_error(&connect5(&[0x27, 0, 0, 0, 0]), None); // Maximum Packet Size 0
    protocol_error(&connect5(&[0x17, 0x02]), None); // Request Problem Information 2
    protocol_error(&connect5(&[0x19, 0x02]), None); // Request Response Information 2
    protocol_error(&connect5(&[0x16, 0x00, 0x00]), None); // Authentication Data without Method
    assert!(matches!(
        ok(&connect5(&[0x15, 0x00, 0x01, b'M', 0x16, 0x00, 0x00]), None),
        Packet::Connect(_)
    ));
    // Maximum QoS 2 in CONNACK.
    protocol_error(&[0x20, 0x05, 0x00, 0x00, 0x02, 0x24, 0x02], Some(V5));
}

#[test]
fn connect_protocol_name_and_level() {
    assert_eq!(
        error(&connect(b"MQTT", 6, 0x02, &[]), None),
        DecodeError::UnsupportedProtocolVersion(6)
    );
    assert_eq!(
        error(&connect(b"MQTT", 3, 0x02, &[]), None),
        DecodeError::UnsupportedProtocolVersion(3)
    );
    assert_eq!(
        error(&connect(b"MQIsdp", 4, 0x02, &[]), None),
        DecodeError::UnsupportedProtocolVersion(4)
    );
    // Mosquitto bridges set the top bit of the level; that is not a level we speak.
    let e = error(&connect(b"MQTT", 0x84, 0x02, &[]), Some(V3_1_1));
    assert_eq!(e, DecodeError::UnsupportedProtocolVersion(0x84));
    assert_eq!(e.reason_code(), reason::UNSUPPORTED_PROTOCOL_VERSION);
    protocol_error(&connect(b"MQTX", 4, 0x02, &[]), None);
    protocol_error(&connect(b"mqtt", 4, 0x02, &[]), None);
    protocol_error(&connect(b"", 4, 0x02, &[]), None);
}

#[test]
fn connect_flags() {
    let client = [0x00, 0x01, b'c'];
    assert!(matches!(
        ok(&connect(b"MQTT", 4, 0x02, &client), None),
        Packet::Connect(_)
    ));
    malformed(&connect(b"MQTT", 4, 0x03, &client), None); // reserved bit
    malformed(&connect(b"MQTT", 4, 0x08, &client), None); // will QoS without will flag
    malformed(&connect(b"MQTT", 4, 0x10, &client), None); // will QoS 2 without will flag
    malformed(&connect(b"MQTT", 4, 0x20, &client), None); // will retain without will flag
    let will = [0x00, 0x01, b'c', 0x00, 0x01, b'w', 0x00, 0x00];
    assert!(matches!(
        ok(&connect(b"MQTT", 4, 0x2C, &will), None),
        Packet::Connect(_)
    ));
    malformed(&connect(b"MQTT", 4, 0x1C, &will), None); // will QoS 3
                                                        // Password without user name: malformed in 3.x, allowed in 5.0.
    let password = [0x00, 0x01, b'c', 0x00, 0x01, b'p'];
    malformed(&connect(b"MQTT", 4, 0x40, &password), None);
    malformed(&connect(b"MQIsdp", 3, 0x40, &password), None);
    let mut v5 = vec![0x00];
    v5.extend(password);
    let Packet::Connect(c) = ok(&connect(b"MQTT", 5, 0x40, &v5), None) else {
        panic!()
    };
    assert_eq!(c.username, None);
    assert_eq!(c.password.as_deref(), Some(&b"p"[..]));
    // A flag announcing a field that is not there.
    malformed(&connect(b"MQTT", 4, 0x80, &client), None);
    // Trailing bytes after the last field.
    malformed(&connect(b"MQTT", 4, 0x02, &[0x00, 0x01, b'c', 0x00]), None);
}

#[test]
fn topic_names() {
    // Wildcards in a PUBLISH topic: InvalidTopic, a malformed packet (0x81), in every version.
    for v in [V3_1, V3_1_1, V5] {
        let props: &[u8] = if v == V5 { &[0x00] } else { &[] };
        for topic in [&b"a/+"[..], b"#", b"a/#/b", b"+"] {
            let mut body = vec![0x00, topic.len() as u8];
            body.extend_from_slice(topic);
            body.extend_from_slice(props);
            let mut bytes = vec![0x30, body.len() as u8];
            bytes.extend(body);
            let e = error(&bytes, Some(v));
            assert_eq!(e, InvalidTopic);
            assert_eq!(e.reason_code(), reason::MALFORMED_PACKET);
        }
    }
    // Empty topic: invalid in 3.x; in 5.0 fine only with a Topic Alias.
    assert_eq!(error(&[0x30, 0x02, 0x00, 0x00], Some(V3_1_1)), InvalidTopic);
    protocol_error(&[0x30, 0x03, 0x00, 0x00, 0x00], Some(V5));
    let Packet::Publish(p) = ok(&[0x30, 0x06, 0x00, 0x00, 0x03, 0x23, 0x00, 0x01], Some(V5)) else {
        panic!()
    };
    assert_eq!((p.topic.as_str(), p.properties.topic_alias), ("", Some(1)));
    // Will topics become PUBLISH topics, so they follow the same rules.
    let will = |topic: &[u8]| {
        let mut rest = vec![0x00, 0x01, b'c', 0x00, topic.len() as u8];
        rest.extend_from_slice(topic);
        rest.extend([0x00, 0x00]);
        connect(b"MQTT", 4, 0x06, &rest)
    };
    assert_eq!(error(&will(b"a/#"), None), InvalidTopic);
    assert_eq!(error(&will(b""), None), InvalidTopic);
    // Filters are returned as they are; judging them is the broker's job.
    let Packet::Subscribe(s) = ok(
        &[0x82, 0x06, 0x00, 0x01, 0x00, 0x01, b'#', 0x00],
        Some(V3_1_1),
    ) else {
        panic!()
    };
    assert_eq!(s.filters[0].0, "#");
}

#[test]
fn subscribe_rules() {
    // No filters.
    protocol_error(&[0x82, 0x02, 0x00, 0x01], Some(V3_1_1));
    protocol_error(&[0x82, 0x03, 0x00, 0x01, 0x00], Some(V5));
    let sub = |v: ProtocolVersion, options: u8| {
        let mut bytes = vec![0x82, 0x06, 0x00, 0x01];
        if v == V5 {
            bytes[1] += 1;
            bytes.push(0x00);
        }
        bytes.extend([0x00, 0x01, b't', options]);
        error(&bytes, Some(v))
    };
    // 3.x: only the QoS bits exist.
    for options in [0x04u8, 0x08, 0x10, 0x40, 0x80] {
        assert!(
            matches!(sub(V3_1_1, options), MalformedPacket(_)),
            "{options:#04X}"
        );
        assert!(
            matches!(sub(V3_1, options), MalformedPacket(_)),
            "{options:#04X}"
        );
    }
    assert!(matches!(sub(V3_1_1, 0x03), MalformedPacket(_)));
    // 5.0: reserved bits malformed, retain handling 3 a protocol error, QoS 3 malformed.
    assert!(matches!(sub(V5, 0x40), MalformedPacket(_)));
    assert!(matches!(sub(V5, 0x80), MalformedPacket(_)));
    assert!(matches!(sub(V5, 0x30), ProtocolError(_)));
    assert!(matches!(sub(V5, 0x03), MalformedPacket(_)));
    // A filter without its options byte.
    malformed(&[0x82, 0x05, 0x00, 0x01, 0x00, 0x01, b't'], Some(V3_1_1));
}

#[test]
fn unsubscribe_without_filters_is_a_protocol_error() {
    protocol_error(&[0xA2, 0x02, 0x00, 0x01], Some(V3_1_1));
    protocol_error(&[0xA2, 0x03, 0x00, 0x01, 0x00], Some(V5));
}

#[test]
fn acknowledgements_need_reason_codes_valid_for_their_type() {
    malformed(&[0x40, 0x03, 0x00, 0x01, 0x05], Some(V5));
    malformed(&[0x62, 0x03, 0x00, 0x01, 0x10], Some(V5)); // 0x10 is not a PUBREL code
    malformed(&[0x90, 0x04, 0x00, 0x01, 0x00, 0x03], Some(V5));
    malformed(&[0x90, 0x03, 0x00, 0x01, 0x87], Some(V3_1_1)); // 3.x has only 0x80
    malformed(&[0xB0, 0x04, 0x00, 0x01, 0x00, 0x10], Some(V5));
    malformed(&[0xE0, 0x01, 0x01], Some(V5));
    malformed(&[0xF0, 0x02, 0x01, 0x00], Some(V5));
    malformed(&[0x20, 0x03, 0x00, 0x01, 0x00], Some(V5));
    malformed(&[0x20, 0x02, 0x00, 0x06], Some(V3_1_1)); // reserved return code
                                                        // SUBACK and UNSUBACK carry at least one reason code.
    protocol_error(&[0x90, 0x02, 0x00, 0x01], Some(V3_1_1));
    protocol_error(&[0x90, 0x03, 0x00, 0x01, 0x00], Some(V5));
    protocol_error(&[0xB0, 0x03, 0x00, 0x01, 0x00], Some(V5));
}

#[test]
fn connack_flags() {
    malformed(&[0x20, 0x02, 0x02, 0x00], Some(V3_1_1));
    malformed(&[0x20, 0x03, 0x80, 0x00, 0x00], Some(V5));
    protocol_error(&[0x20, 0x02, 0x01, 0x05], Some(V3_1_1));
    protocol_error(&[0x20, 0x03, 0x01, 0x87, 0x00], Some(V5));
}

#[test]
fn trailing_bytes_are_malformed() {
    malformed(&[0xC0, 0x01, 0x00], Some(V3_1_1));
    malformed(&[0xD0, 0x01, 0x00], Some(V5));
    malformed(&[0x62, 0x03, 0x00, 0x01, 0x00], Some(V3_1_1));
    malformed(&[0x40, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00], Some(V5));
    malformed(&[0xE0, 0x03, 0x00, 0x00, 0x00], Some(V5));
    malformed(&[0xF0, 0x03, 0x18, 0x00, 0x00], Some(V5));
    malformed(&[0x20, 0x03, 0x00, 0x00, 0x00], Some(V3_1));
    malformed(&[0x20, 0x04, 0x00, 0x00, 0x00, 0x00], Some(V5));
}

#[test]
fn truncated_bodies_are_malformed() {
    malformed(&[0x40, 0x01, 0x00], Some(V3_1_1));
    malformed(&[0x20, 0x01, 0x00], Some(V3_1_1));
    malformed(&[0x20, 0x02, 0x00, 0x00], Some(V5)); // property length missing
    malformed(&[0x30, 0x01, 0x00], Some(V3_1_1));
    malformed(&[0x32, 0x04, 0x00, 0x01, b't', 0x00], Some(V3_1_1)); // half a packet id
    malformed(&[0x10, 0x00], None);
    // AUTH has no reason-code-only form.
    malformed(&[0xF0, 0x01, 0x18], Some(V5));
}

#[test]
fn packet_too_large_has_its_reason_code() {
    let mut buf = BytesMut::from(&[0xC0, 0x00][..]);
    assert_eq!(decode(&mut buf, Some(V5), 1), Err(PacketTooLarge));
    assert_eq!(PacketTooLarge.reason_code(), reason::PACKET_TOO_LARGE);
}

#[test]
fn errors_display_their_cause() {
    assert_eq!(MalformedPacket("x").to_string(), "malformed packet: x");
    assert_eq!(ProtocolError("y").to_string(), "protocol error: y");
    assert!(DecodeError::UnsupportedProtocolVersion(7)
        .to_string()
        .contains('7'));
    let boxed: Box<dyn std::error::Error> = Box::new(PacketTooLarge);
    assert!(!boxed.to_string().is_empty());
    assert!(!EncodeError::NotInThisVersion("AUTH").to_string().is_empty());
}
