//! A deterministic fuzz run: valid encodings mutated by a xorshift PRNG, decoded with every
//! version. Decoding must never panic, and whatever decodes must re-encode to bytes that
//! decode to the same packet.

use bytes::BytesMut;
use mqhost_codec::*;

use crate::samples::{encode_to_vec, samples, ALL_VERSIONS};

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn mutate(rng: &mut XorShift, data: &mut Vec<u8>) {
    for _ in 0..=rng.below(4) {
        match rng.below(8) {
            0 | 1 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
            2 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] = rng.next() as u8;
            }
            3 if !data.is_empty() => {
                let len = rng.below(data.len());
                data.truncate(len);
            }
            4 => {
                let i = rng.below(data.len() + 1);
                data.insert(i, rng.next() as u8);
            }
            5 if !data.is_empty() => {
                let i = rng.below(data.len());
                data.remove(i);
            }
            6 => {
                for _ in 0..rng.below(16) {
                    data.push(rng.next() as u8);
                }
            }
            // Rewrite the remaining length to cover the bytes now present, so mutations
            // reach the body parsers instead of stopping at a length mismatch.
            _ if data.len() >= 2 && data.len() < 129 => {
                data[1] = (data.len() - 2) as u8;
            }
            _ => {}
        }
    }
}

/// Decodes until the buffer runs dry or fails, checking every packet that decodes.
pub fn exercise(data: &[u8], mut version: Option<ProtocolVersion>, max: u32) -> usize {
    let mut buf = BytesMut::from(data);
    let mut count = 0;
    loop {
        let before = buf.len();
        let packet = match decode(&mut buf, version, max) {
            Ok(Some(packet)) => packet,
            Ok(None) => {
                assert_eq!(buf.len(), before, "Ok(None) consumed input");
                break;
            }
            Err(_) => break,
        };
        let consumed = before - buf.len();
        assert!(consumed as u64 <= u64::from(max));
        count += 1;
        let v = match (&packet, version) {
            (Packet::Connect(c), None) => c.protocol,
            (_, Some(v)) => v,
            (_, None) => panic!("non-CONNECT decoded before CONNECT: {packet:?}"),
        };
        version = Some(v);
        let mut out = BytesMut::new();
        encode(&packet, v, &mut out)
            .unwrap_or_else(|e| panic!("decoded {packet:?} does not re-encode: {e}"));
        assert_eq!(out.len(), encoded_len(&packet, v));
        // The encoder picks the shortest form, so a decoded packet never grows.
        assert!(out.len() <= consumed, "{packet:?} grew when re-encoded");
        let again = decode(&mut out, Some(v), u32::MAX)
            .unwrap_or_else(|e| panic!("re-encoding of {packet:?} does not decode: {e}"));
        assert_eq!(again.as_ref(), Some(&packet));
        assert!(out.is_empty());
    }
    count
}

#[test]
fn mutated_packets_never_panic_and_round_trip() {
    let mut seeds = Vec::new();
    for v in ALL_VERSIONS {
        for p in samples(v) {
            seeds.push(encode_to_vec(&p, v));
        }
    }
    let versions = [
        None,
        Some(ProtocolVersion::V3_1),
        Some(ProtocolVersion::V3_1_1),
        Some(ProtocolVersion::V5),
    ];
    let seed = std::env::var("MQHOST_FUZZ_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0x9E37_79B9_7F4A_7C15u64);
    let mut rng = XorShift(seed | 1);
    let mut decoded = 0;
    // MQHOST_FUZZ_ITERATIONS allows a longer local run without changing the test.
    let iterations = std::env::var("MQHOST_FUZZ_ITERATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000usize);
    for _ in 0..iterations {
        let mut data = seeds[rng.below(seeds.len())].clone();
        if rng.below(4) == 0 {
            // Two packets back to back exercise the decode loop.
            data.extend_from_slice(&seeds[rng.below(seeds.len())]);
        }
        mutate(&mut rng, &mut data);
        let version = versions[rng.below(versions.len())];
        let max = if rng.below(8) == 0 {
            rng.below(64) as u32
        } else {
            u32::MAX
        };
        decoded += exercise(&data, version, max);
    }
    // Mutations must leave enough packets valid for the round-trip check to mean something.
    eprintln!("{decoded} packets decoded in {iterations} iterations");
    assert!(decoded > iterations / 10, "only {decoded} packets decoded");
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = XorShift(42);
    for _ in 0..20_000 {
        let len = rng.below(64);
        let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        for version in [
            None,
            Some(ProtocolVersion::V3_1_1),
            Some(ProtocolVersion::V5),
        ] {
            exercise(&data, version, u32::MAX);
        }
    }
}
