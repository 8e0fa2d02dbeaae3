//! The MQTT primitive data types: big-endian integers, Variable Byte Integers,
//! length-prefixed UTF-8 strings and binary data, in both directions.
//!
//! Reading goes through [`Reader`], a bounds-checked cursor over the frozen packet
//! so binary fields can be zero-copy slices. Writing goes through [`Sink`], which
//! has two implementations: [`Counter`] measures a packet (and validates lengths)
//! and [`Writer`] emits it, so every packet layout is described exactly once.

use std::cell::Cell;

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};

/// The largest value a Variable Byte Integer can hold.
pub(crate) const VBI_MAX: u32 = 268_435_455;

/// The largest string or binary field (a two-byte length prefix).
const FIELD_MAX: usize = u16::MAX as usize;

const TRUNCATED: DecodeError =
    DecodeError::MalformedPacket("packet shorter than its contents require");

/// Parses a Variable Byte Integer from the front of `data`.
///
/// `Ok(None)` means `data` ends before the integer does. Returns the value and the
/// number of bytes it used.
pub(crate) fn parse_vbi(data: &[u8]) -> Result<Option<(u32, usize)>, DecodeError> {
    let mut value: u32 = 0;
    for (i, &byte) in data.iter().take(4).enumerate() {
        value |= u32::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            // A trailing zero group means a shorter encoding existed [MQTT-1.5.5-1].
            if i > 0 && byte == 0 {
                return Err(DecodeError::MalformedPacket(
                    "variable byte integer not minimally encoded",
                ));
            }
            return Ok(Some((value, i + 1)));
        }
    }
    if data.len() >= 4 {
        return Err(DecodeError::MalformedPacket(
            "variable byte integer longer than 4 bytes",
        ));
    }
    Ok(None)
}

/// Number of bytes the Variable Byte Integer encoding of `value` takes.
pub(crate) fn vbi_len(value: usize) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Converts a section length into a Variable Byte Integer value, rejecting what cannot be framed.
pub(crate) fn length_vbi(len: usize) -> Result<u32, EncodeError> {
    u32::try_from(len)
        .ok()
        .filter(|&n| n <= VBI_MAX)
        .ok_or(EncodeError::PacketTooLarge)
}

/// Validates an MQTT UTF-8 Encoded String's bytes.
fn utf8(bytes: &[u8]) -> Result<&str, DecodeError> {
    let s = std::str::from_utf8(bytes)
        .map_err(|_| DecodeError::MalformedPacket("string is not valid UTF-8"))?;
    // U+0000 is encoded as a single zero byte in UTF-8, so a byte scan finds it.
    if bytes.contains(&0) {
        return Err(DecodeError::MalformedPacket("string contains U+0000"));
    }
    Ok(s)
}

/// A bounds-checked cursor over (a window of) one frozen packet.
pub(crate) struct Reader<'a> {
    data: &'a Bytes,
    // Invariant: pos <= end <= data.len().
    pos: usize,
    end: usize,
    /// User Properties the packet may still carry. Shared with the readers
    /// of its property sections: the bound is per packet, and a CONNECT
    /// has two sections.
    user_properties_left: &'a Cell<u32>,
}

impl<'a> Reader<'a> {
    /// A reader over `data[start..]`; `start` past the end yields an empty reader.
    /// The packet may carry `user_properties_left` User Properties.
    pub(crate) fn new(data: &'a Bytes, start: usize, user_properties_left: &'a Cell<u32>) -> Self {
        let end = data.len();
        Reader {
            data,
            pos: start.min(end),
            end,
            user_properties_left,
        }
    }

    /// Counts one User Property against the packet's allowance, before it
    /// is read: a packet over it fails without building the rest.
    pub(crate) fn take_user_property(&self) -> Result<(), DecodeError> {
        let left = self.user_properties_left.get();
        if left == 0 {
            return Err(DecodeError::TooManyUserProperties);
        }
        self.user_properties_left.set(left - 1);
        Ok(())
    }

    pub(crate) fn remaining(&self) -> usize {
        self.end - self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos == self.end
    }

    /// Fails unless every byte was consumed: anything left over is not part of the packet's grammar.
    pub(crate) fn finish(&self) -> Result<(), DecodeError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::MalformedPacket(
                "unexpected bytes at end of packet",
            ))
        }
    }

    fn slice(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(TRUNCATED);
        }
        let data: &'a Bytes = self.data;
        let s = data.get(self.pos..self.pos + n).ok_or(TRUNCATED)?;
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        self.slice(N)?.try_into().map_err(|_| TRUNCATED)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        let [b] = self.array::<1>()?;
        Ok(b)
    }

    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn vbi(&mut self) -> Result<u32, DecodeError> {
        let rest = self.data.get(self.pos..self.end).unwrap_or_default();
        let (value, used) = parse_vbi(rest)?.ok_or(TRUNCATED)?;
        self.pos += used;
        Ok(value)
    }

    /// The next `n` bytes as a zero-copy slice of the packet.
    pub(crate) fn bytes(&mut self, n: usize) -> Result<Bytes, DecodeError> {
        if n > self.remaining() {
            return Err(TRUNCATED);
        }
        let b = self.data.slice(self.pos..self.pos + n);
        self.pos += n;
        Ok(b)
    }

    /// Everything left, as a zero-copy slice (the PUBLISH payload).
    pub(crate) fn rest(&mut self) -> Bytes {
        let b = self.data.slice(self.pos..self.end);
        self.pos = self.end;
        b
    }

    /// A Binary Data field: two-byte length, then that many bytes (zero-copy).
    pub(crate) fn binary(&mut self) -> Result<Bytes, DecodeError> {
        let n = usize::from(self.u16()?);
        self.bytes(n)
    }

    /// The raw bytes of a length-prefixed field, before any UTF-8 check.
    pub(crate) fn prefixed(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = usize::from(self.u16()?);
        self.slice(n)
    }

    /// A UTF-8 Encoded String field.
    pub(crate) fn string(&mut self) -> Result<String, DecodeError> {
        let raw = self.prefixed()?;
        utf8(raw).map(str::to_owned)
    }

    /// Splits off the next `n` bytes as their own reader (a property section).
    pub(crate) fn sub(&mut self, n: usize) -> Result<Reader<'a>, DecodeError> {
        if n > self.remaining() {
            return Err(TRUNCATED);
        }
        let sub = Reader {
            data: self.data,
            pos: self.pos,
            end: self.pos + n,
            user_properties_left: self.user_properties_left,
        };
        self.pos += n;
        Ok(sub)
    }
}

/// Where an encoder sends a packet's fields: a [`Counter`] or a [`Writer`].
pub(crate) trait Sink {
    fn byte(&mut self, v: u8);
    fn u16(&mut self, v: u16);
    fn u32(&mut self, v: u32);
    /// Bytes written as they are, without a length prefix.
    fn raw(&mut self, b: &[u8]);
    fn vbi(&mut self, v: u32) -> Result<(), EncodeError>;
    /// A length-prefixed field (UTF-8 string or binary data).
    fn binary(&mut self, b: &[u8]) -> Result<(), EncodeError>;

    fn string(&mut self, s: &str) -> Result<(), EncodeError> {
        self.binary(s.as_bytes())
    }
}

/// Measures what a [`Writer`] would write, and fails where it would.
#[derive(Default)]
pub(crate) struct Counter {
    pub(crate) len: usize,
}

impl Sink for Counter {
    fn byte(&mut self, _: u8) {
        self.len += 1;
    }
    fn u16(&mut self, _: u16) {
        self.len += 2;
    }
    fn u32(&mut self, _: u32) {
        self.len += 4;
    }
    fn raw(&mut self, b: &[u8]) {
        self.len = self.len.saturating_add(b.len());
    }
    fn vbi(&mut self, v: u32) -> Result<(), EncodeError> {
        if v > VBI_MAX {
            return Err(EncodeError::ValueTooLarge);
        }
        self.len += vbi_len(v as usize);
        Ok(())
    }
    fn binary(&mut self, b: &[u8]) -> Result<(), EncodeError> {
        if b.len() > FIELD_MAX {
            return Err(EncodeError::StringTooLong);
        }
        self.len += 2 + b.len();
        Ok(())
    }
}

/// Appends fields to a buffer.
pub(crate) struct Writer<'a>(pub(crate) &'a mut BytesMut);

impl Sink for Writer<'_> {
    fn byte(&mut self, v: u8) {
        self.0.put_u8(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.put_u16(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.put_u32(v);
    }
    fn raw(&mut self, b: &[u8]) {
        self.0.put_slice(b);
    }
    fn vbi(&mut self, mut v: u32) -> Result<(), EncodeError> {
        if v > VBI_MAX {
            return Err(EncodeError::ValueTooLarge);
        }
        loop {
            let mut byte = (v & 0x7F) as u8;
            v >>= 7;
            if v > 0 {
                byte |= 0x80;
            }
            self.0.put_u8(byte);
            if v == 0 {
                return Ok(());
            }
        }
    }
    fn binary(&mut self, b: &[u8]) -> Result<(), EncodeError> {
        let len = u16::try_from(b.len()).map_err(|_| EncodeError::StringTooLong)?;
        self.0.put_u16(len);
        self.0.put_slice(b);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode_vbi(v: u32) -> Vec<u8> {
        let mut buf = BytesMut::new();
        Writer(&mut buf).vbi(v).unwrap();
        buf.to_vec()
    }

    #[test]
    fn vbi_boundaries_match_the_spec_table() {
        for (value, bytes) in [
            (0u32, &[0x00u8][..]),
            (127, &[0x7F]),
            (128, &[0x80, 0x01]),
            (16_383, &[0xFF, 0x7F]),
            (16_384, &[0x80, 0x80, 0x01]),
            (2_097_151, &[0xFF, 0xFF, 0x7F]),
            (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
            (VBI_MAX, &[0xFF, 0xFF, 0xFF, 0x7F]),
        ] {
            assert_eq!(encode_vbi(value), bytes, "encoding {value}");
            assert_eq!(vbi_len(value as usize), bytes.len());
            assert_eq!(parse_vbi(bytes), Ok(Some((value, bytes.len()))));
            assert_eq!(parse_vbi(&bytes[..bytes.len() - 1]), Ok(None));
        }
    }

    #[test]
    fn vbi_rejects_five_bytes_and_non_minimal_forms() {
        assert!(parse_vbi(&[0xFF, 0xFF, 0xFF, 0xFF, 0x01]).is_err());
        assert!(parse_vbi(&[0x80, 0x80, 0x80, 0x80]).is_err());
        assert!(parse_vbi(&[0x80, 0x00]).is_err());
        assert!(parse_vbi(&[0xFF, 0x80, 0x00]).is_err());
        let mut buf = BytesMut::new();
        assert_eq!(
            Writer(&mut buf).vbi(VBI_MAX + 1),
            Err(EncodeError::ValueTooLarge)
        );
    }

    #[test]
    fn reader_never_reads_past_its_window() {
        let any = Cell::new(u32::MAX);
        let data = Bytes::from_static(&[0, 3, b'a', b'b']);
        let mut r = Reader::new(&data, 0, &any);
        assert!(r.string().is_err());
        let mut r = Reader::new(&data, 0, &any);
        let mut sub = r.sub(3).unwrap();
        assert_eq!(sub.u16(), Ok(3));
        assert_eq!(sub.u8(), Ok(b'a'));
        assert!(sub.u8().is_err());
        assert_eq!(r.u8(), Ok(b'b'));
        assert!(r.finish().is_ok());
        assert!(Reader::new(&data, 9, &any).is_empty());
    }

    #[test]
    fn sub_readers_share_the_user_property_allowance() {
        let two = Cell::new(2);
        let data = Bytes::from_static(&[0; 4]);
        let mut r = Reader::new(&data, 0, &two);
        let first = r.sub(2).unwrap();
        assert_eq!(first.take_user_property(), Ok(()));
        let second = r.sub(2).unwrap();
        assert_eq!(second.take_user_property(), Ok(()));
        assert_eq!(
            first.take_user_property(),
            Err(DecodeError::TooManyUserProperties)
        );
        assert_eq!(
            r.take_user_property(),
            Err(DecodeError::TooManyUserProperties)
        );
    }

    #[test]
    fn strings_reject_nul_and_invalid_utf8() {
        let any = Cell::new(u32::MAX);
        let nul = Bytes::from_static(&[0, 2, b'a', 0]);
        assert!(Reader::new(&nul, 0, &any).string().is_err());
        let surrogate = Bytes::from_static(&[0, 3, 0xED, 0xA0, 0x80]);
        assert!(Reader::new(&surrogate, 0, &any).string().is_err());
        let ok = Bytes::from_static(&[0, 3, b'a', 0xC3, 0xA9]);
        assert_eq!(Reader::new(&ok, 0, &any).string().unwrap(), "aé");
    }
}
