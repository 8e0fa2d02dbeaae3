//! Framing: partial input, packet size limits, several packets per buffer, zero-copy
//! payloads, and encoder failures that must leave the buffer untouched.

use bytes::{Bytes, BytesMut};
use mqhost_codec::*;

use crate::samples::{encode_to_vec, samples, ALL_VERSIONS};

#[test]
fn byte_by_byte_input_is_never_partially_consumed() {
    for v in ALL_VERSIONS {
        let packets = samples(v);
        let mut stream = Vec::new();
        for p in &packets {
            stream.extend(encode_to_vec(p, v));
        }
        let mut buf = BytesMut::new();
        let mut decoded = Vec::new();
        let mut version = None;
        for &byte in &stream {
            buf.extend_from_slice(&[byte]);
            let before = buf.len();
            // The samples start with CONNECT, so the stream is also valid from `None`.
            match decode(&mut buf, version, u32::MAX).unwrap() {
                Some(packet) => {
                    assert!(buf.is_empty(), "a packet ends exactly at this byte");
                    version = Some(v);
                    decoded.push(packet);
                }
                None => assert_eq!(buf.len(), before, "nothing consumed without a packet"),
            }
        }
        assert_eq!(decoded, packets);
    }
}

#[test]
fn several_packets_in_one_buffer_decode_in_order() {
    for v in ALL_VERSIONS {
        let packets = samples(v);
        let mut buf = BytesMut::new();
        for p in &packets {
            encode(p, v, &mut buf).unwrap();
        }
        // Half of the next packet stays in the buffer untouched.
        let tail = encode_to_vec(&packets[0], v);
        buf.extend_from_slice(&tail[..tail.len() / 2]);
        let mut decoded = Vec::new();
        while let Some(p) = decode(&mut buf, Some(v), u32::MAX).unwrap() {
            decoded.push(p);
        }
        assert_eq!(decoded, packets);
        assert_eq!(&buf[..], &tail[..tail.len() / 2]);
    }
}

#[test]
fn packet_too_large_is_reported_from_the_fixed_header_alone() {
    // Remaining length 268,435,455 announced, no body present.
    let mut buf = BytesMut::from(&[0x30, 0xFF, 0xFF, 0xFF, 0x7F][..]);
    assert_eq!(
        decode(&mut buf, Some(ProtocolVersion::V5), 1 << 20),
        Err(DecodeError::PacketTooLarge)
    );
    // Remaining length 128: total 131 bytes.
    let header = [0x30, 0x80, 0x01];
    let mut buf = BytesMut::from(&header[..]);
    assert_eq!(
        decode(&mut buf, Some(ProtocolVersion::V3_1_1), 130),
        Err(DecodeError::PacketTooLarge)
    );
    let mut buf = BytesMut::from(&header[..]);
    assert_eq!(
        decode(&mut buf, Some(ProtocolVersion::V3_1_1), 131),
        Ok(None)
    );
    assert_eq!(buf.len(), 3);
    // An unfinished remaining length is not judged yet.
    let mut buf = BytesMut::from(&[0x30, 0xFF][..]);
    assert_eq!(
        decode(&mut buf, Some(ProtocolVersion::V3_1_1), 10),
        Ok(None)
    );
    // Before CONNECT too.
    let mut buf = BytesMut::from(&[0x10, 0xFF, 0x7F][..]);
    assert_eq!(
        decode(&mut buf, None, 1024),
        Err(DecodeError::PacketTooLarge)
    );
}

#[test]
fn a_packet_of_exactly_the_maximum_size_is_accepted() {
    let packet = Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: "t".into(),
        packet_id: 0,
        payload: Bytes::from(vec![1u8; 300]),
        properties: PublishProperties::default(),
    });
    let v = ProtocolVersion::V3_1_1;
    let bytes = encode_to_vec(&packet, v);
    let size = bytes.len() as u32;
    assert_eq!(size as usize, encoded_len(&packet, v));
    let mut buf = BytesMut::from(&bytes[..]);
    assert_eq!(decode(&mut buf, Some(v), size), Ok(Some(packet)));
    let mut buf = BytesMut::from(&bytes[..]);
    assert_eq!(
        decode(&mut buf, Some(v), size - 1),
        Err(DecodeError::PacketTooLarge)
    );
}

#[test]
fn publish_payload_is_a_slice_of_the_input() {
    for v in ALL_VERSIONS {
        let packet = Packet::Publish(crate::samples::full_publish(v.is_v5()));
        let mut buf = BytesMut::with_capacity(256);
        encode(&packet, v, &mut buf).unwrap();
        let range = buf.as_ptr() as usize..buf.as_ptr() as usize + buf.len();
        let Some(Packet::Publish(p)) = decode(&mut buf, Some(v), u32::MAX).unwrap() else {
            panic!("not a PUBLISH");
        };
        let start = p.payload.as_ptr() as usize;
        assert!(range.contains(&start), "payload was copied");
        assert!(range.contains(&(start + p.payload.len() - 1)));
    }
}

#[test]
fn encode_failures_leave_the_buffer_untouched() {
    let v5 = ProtocolVersion::V5;
    let v311 = ProtocolVersion::V3_1_1;
    let check = |packet: &Packet, v, expected: EncodeError| {
        let mut buf = BytesMut::from(&b"keep"[..]);
        assert_eq!(encode(packet, v, &mut buf), Err(expected));
        assert_eq!(&buf[..], b"keep");
    };
    let mut publish = crate::samples::full_publish(true);
    publish.topic = "x".repeat(65_536);
    check(
        &Packet::Publish(publish.clone()),
        v5,
        EncodeError::StringTooLong,
    );
    publish.topic = "x".repeat(65_535);
    let mut buf = BytesMut::new();
    encode(&Packet::Publish(publish.clone()), v5, &mut buf).unwrap();

    let mut publish = crate::samples::full_publish(true);
    publish.properties.correlation_data = Some(Bytes::from(vec![0; 65_536]));
    check(
        &Packet::Publish(publish.clone()),
        v5,
        EncodeError::StringTooLong,
    );
    // The same field is not written in 3.1.1, so it cannot fail there.
    encode(&Packet::Publish(publish), v311, &mut BytesMut::new()).unwrap();

    let mut publish = crate::samples::full_publish(true);
    publish
        .properties
        .subscription_identifiers
        .push(268_435_456);
    check(&Packet::Publish(publish), v5, EncodeError::ValueTooLarge);

    // A body one byte over the Remaining Length limit. The zeroed allocation is
    // never touched because the size check comes before any copy.
    let publish = Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: "t".into(),
        packet_id: 0,
        payload: Bytes::from(vec![0u8; 268_435_455 - 3 + 1]),
        properties: PublishProperties::default(),
    };
    check(&Packet::Publish(publish), v311, EncodeError::PacketTooLarge);

    check(
        &Packet::Auth(Auth::default()),
        v311,
        EncodeError::NotInThisVersion("AUTH"),
    );
    check(
        &Packet::Auth(Auth::default()),
        ProtocolVersion::V3_1,
        EncodeError::NotInThisVersion("AUTH"),
    );
    let server_disconnect = Packet::Disconnect(Disconnect {
        reason: reason::SESSION_TAKEN_OVER,
        properties: DisconnectProperties::default(),
    });
    check(
        &server_disconnect,
        v311,
        EncodeError::NotInThisVersion("DISCONNECT with a reason code"),
    );
    let mut connect = crate::samples::empty_connect(v311);
    connect.password = Some(Bytes::from_static(b"p"));
    check(
        &Packet::Connect(Box::new(connect)),
        v311,
        EncodeError::NotInThisVersion("password without user name"),
    );
}

#[test]
fn connect_version_can_be_peeked_from_a_prefix() {
    for v in ALL_VERSIONS {
        let bytes = encode_to_vec(
            &Packet::Connect(Box::new(crate::samples::full_connect(v))),
            v,
        );
        let header = if bytes[1] & 0x80 == 0 { 2 } else { 3 };
        let name_end = header + 2 + v.protocol_name().len();
        // Fixed header, name and level are enough.
        assert_eq!(peek_connect_version(&bytes[..=name_end]), Some(v));
        assert_eq!(peek_connect_version(&bytes[..name_end]), None);
        assert_eq!(peek_connect_version(&bytes), Some(v));
    }
    assert_eq!(peek_connect_version(&[]), None);
    assert_eq!(peek_connect_version(&[0xC0, 0x00]), None);
    let unsupported = [0x10, 0x07, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x06];
    assert_eq!(peek_connect_version(&unsupported), None);
}
