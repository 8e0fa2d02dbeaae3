//! Feeds arbitrary bytes to `decode` as every connection state (before CONNECT, 3.1,
//! 3.1.1, 5.0) and checks, for each packet that decodes, that it re-encodes and that
//! decoding the re-encoding gives the same packet back.
//!
//! The first input byte picks the maximum packet size, so size limits are fuzzed too:
//! top bit clear means unlimited, otherwise the low seven bits times four.
//!
//! Round trips are exact: the decoder only accepts what the encoder can reproduce.
//! The normalisations the encoder applies (3.x drops properties and 5.0-only options,
//! maps reason codes; 5.0 acks take their shortest form; DUP is dropped for QoS 0) are
//! all invisible here because a decoded packet never holds what they remove.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use mqhost_codec::{decode, encode, encoded_len, Packet, ProtocolVersion};

const VERSIONS: [Option<ProtocolVersion>; 4] = [
    None,
    Some(ProtocolVersion::V3_1),
    Some(ProtocolVersion::V3_1_1),
    Some(ProtocolVersion::V5),
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let max = if selector & 0x80 == 0 {
        u32::MAX
    } else {
        u32::from(selector & 0x7F) * 4
    };
    for version in VERSIONS {
        decode_all(input, version, max);
    }
});

fn decode_all(input: &[u8], mut version: Option<ProtocolVersion>, max: u32) {
    let mut buf = BytesMut::from(input);
    loop {
        let before = buf.len();
        let packet = match decode(&mut buf, version, max) {
            Ok(Some(packet)) => packet,
            Ok(None) => {
                assert_eq!(buf.len(), before, "Ok(None) consumed input");
                return;
            }
            Err(e) => {
                // Every error must name a reason code a broker may send.
                assert!(e.reason_code() >= 0x80);
                return;
            }
        };
        let consumed = before - buf.len();
        assert!(
            consumed as u64 <= u64::from(max),
            "packet over the maximum size"
        );

        // Only CONNECT decodes before the version is known, and it fixes the version,
        // as a broker would.
        let v = match (&packet, version) {
            (Packet::Connect(c), None) => c.protocol,
            (_, Some(v)) => v,
            (_, None) => panic!("{} decoded before CONNECT", packet.name()),
        };
        version = Some(v);

        let mut out = BytesMut::new();
        if let Err(e) = encode(&packet, v, &mut out) {
            panic!("decoded packet does not re-encode: {e}: {packet:?}");
        }
        assert_eq!(out.len(), encoded_len(&packet, v), "encoded_len mismatch");
        // The encoder always picks the shortest form, so it never grows a packet.
        assert!(
            out.len() <= consumed,
            "re-encoding is longer than the input"
        );
        match decode(&mut out, Some(v), u32::MAX) {
            Ok(Some(again)) => assert_eq!(again, packet, "round trip changed the packet"),
            other => panic!("re-encoding does not decode: {other:?} for {packet:?}"),
        }
        assert!(out.is_empty(), "re-encoding has trailing bytes");
    }
}
