//! Path segments percent-encoded: a client id or plugin name may hold
//! any character, and travels in the URL as one segment.

/// Characters a path segment carries as they are: RFC 3986's unreserved.
fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// `text` as one path segment: every byte but the unreserved ones as
/// `%XX`, so `/`, `+`, `#`, `?`, spaces and UTF-8 survive the trip.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for &byte in text.as_bytes() {
        if is_unreserved(byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A percent-encoded path segment decoded; None when a `%` is not
/// followed by two hex digits or the bytes are not UTF-8. `+` is a plus
/// sign: it means a space only in form data, never in a path.
pub fn percent_decode(segment: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(segment.len());
    let mut rest = segment.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == b'%' {
            let hex = tail
                .get(..2)
                .filter(|h| h.iter().all(u8::is_ascii_hexdigit))?;
            let hex = std::str::from_utf8(hex).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(byte);
            rest = tail;
        }
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_survive_encoding() {
        for text in [
            "a/b",
            "+/#",
            "with space",
            "température/°C",
            "100%",
            "a?b=c&d",
            "",
        ] {
            let encoded = percent_encode(text);
            assert!(
                encoded.bytes().all(|b| is_unreserved(b) || b == b'%'),
                "{encoded}"
            );
            assert_eq!(percent_decode(&encoded).as_deref(), Some(text));
        }
        assert_eq!(percent_encode("a/b c+#"), "a%2Fb%20c%2B%23");
        assert_eq!(percent_encode("é"), "%C3%A9");
    }

    #[test]
    fn decoding_takes_either_case_and_keeps_plus_signs() {
        assert_eq!(percent_decode("%c3%a9%2f").as_deref(), Some("é/"));
        assert_eq!(percent_decode("a+b").as_deref(), Some("a+b"));
        assert_eq!(percent_decode("plain").as_deref(), Some("plain"));
    }

    #[test]
    fn broken_escapes_and_non_utf8_are_refused() {
        for bad in ["%", "%2", "a%zz", "%+1", "%FF", "%C3"] {
            assert_eq!(percent_decode(bad), None, "{bad}");
        }
    }
}
