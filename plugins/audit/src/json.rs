//! Just enough JSON writing for one flat object per line, and base64 for
//! payloads that are not text.
//!
//! Written by hand because the plugin depends on `mqhost-plugin-api` alone:
//! the audit log only ever writes flat objects of strings, whole numbers,
//! booleans and nulls, which needs escaping and nothing else.

/// Appends `text` to `out` as a JSON string, quotes included.
///
/// `"` and `\` are escaped, and so is every control character (U+0000 to
/// U+001F, which JSON forbids raw) and U+007F; everything else, non-ASCII
/// included, is copied as UTF-8, which JSON allows.
pub fn push_str(out: &mut String, text: &str) {
    out.reserve(text.len() + 2);
    out.push('"');
    // Copy unescaped runs in one go: most text needs no escaping at all.
    let mut run_start = 0;
    for (index, byte) in text.bytes().enumerate() {
        let escape: Option<&str> = match byte {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0x08 => Some("\\b"),
            0x0c => Some("\\f"),
            0x00..=0x1f | 0x7f => Some(""),
            _ => None,
        };
        let Some(escape) = escape else { continue };
        // Every byte escaped is ASCII, so `index` is a char boundary.
        out.push_str(&text[run_start..index]);
        if escape.is_empty() {
            push_unicode_escape(out, byte);
        } else {
            out.push_str(escape);
        }
        run_start = index + 1;
    }
    out.push_str(&text[run_start..]);
    out.push('"');
}

/// `\u00XX` for an ASCII control byte.
fn push_unicode_escape(out: &mut String, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push_str("\\u00");
    out.push(char::from(HEX[usize::from(byte >> 4)]));
    out.push(char::from(HEX[usize::from(byte & 0x0f)]));
}

/// One JSON object on one line, built field by field.
///
/// ```
/// use mqhost_audit::json::Line;
///
/// let mut line = Line::new();
/// line.str("hook", "message.publish").uint("qos", 1).bool("retain", false);
/// line.opt_str("username", None);
/// assert_eq!(
///     line.finish(),
///     "{\"hook\":\"message.publish\",\"qos\":1,\"retain\":false,\"username\":null}\n"
/// );
/// ```
#[derive(Debug)]
pub struct Line {
    buf: String,
}

impl Default for Line {
    fn default() -> Self {
        Line::new()
    }
}

impl Line {
    /// An empty object.
    pub fn new() -> Line {
        // Most lines are 200 to 300 bytes; one allocation covers them.
        let mut buf = String::with_capacity(320);
        buf.push('{');
        Line { buf }
    }

    fn key(&mut self, key: &str) {
        if self.buf.len() > 1 {
            self.buf.push(',');
        }
        push_str(&mut self.buf, key);
        self.buf.push(':');
    }

    /// Adds a string field.
    pub fn str(&mut self, key: &str, value: &str) -> &mut Line {
        self.key(key);
        push_str(&mut self.buf, value);
        self
    }

    /// Adds a string field, or `null` for `None`.
    pub fn opt_str(&mut self, key: &str, value: Option<&str>) -> &mut Line {
        match value {
            Some(value) => self.str(key, value),
            None => {
                self.key(key);
                self.buf.push_str("null");
                self
            }
        }
    }

    /// Adds a whole-number field.
    pub fn uint(&mut self, key: &str, value: u64) -> &mut Line {
        self.key(key);
        self.buf.push_str(&value.to_string());
        self
    }

    /// Adds a boolean field.
    pub fn bool(&mut self, key: &str, value: bool) -> &mut Line {
        self.key(key);
        self.buf.push_str(if value { "true" } else { "false" });
        self
    }

    /// Closes the object and ends the line with `\n`.
    pub fn finish(mut self) -> String {
        self.buf.push_str("}\n");
        self.buf
    }
}

/// Standard base64 (RFC 4648, `+` and `/`, `=` padding).
///
/// ```
/// assert_eq!(mqhost_audit::json::base64(b"\xff\x00mq"), "/wBtcQ==");
/// ```
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        // Three bytes make 24 bits, read as four 6-bit digits; a short
        // final chunk is padded with zero bits and its missing digits are '='.
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 0x3f) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quoted(text: &str) -> String {
        let mut out = String::new();
        push_str(&mut out, text);
        out
    }

    #[test]
    fn plain_text_is_only_quoted() {
        assert_eq!(quoted(""), r#""""#);
        assert_eq!(quoted("sensors/room-1/temp"), r#""sensors/room-1/temp""#);
    }

    #[test]
    fn quotes_and_backslashes_are_escaped() {
        assert_eq!(quoted(r#"say "hi""#), r#""say \"hi\"""#);
        assert_eq!(quoted(r"C:\dir\"), r#""C:\\dir\\""#);
        assert_eq!(quoted(r#"\""#), r#""\\\"""#);
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(quoted("a\nb\rc\td"), r#""a\nb\rc\td""#);
        assert_eq!(quoted("\u{8}\u{c}"), r#""\b\f""#);
        assert_eq!(
            quoted("\u{0}x\u{1}\u{1f}\u{7f}"),
            r#""\u0000x\u0001\u001f\u007f""#
        );
    }

    #[test]
    fn unicode_is_copied_as_utf8() {
        assert_eq!(quoted("température °C"), "\"température °C\"");
        assert_eq!(quoted("日本/センサー"), "\"日本/センサー\"");
        assert_eq!(quoted("🚀\"🚀"), "\"🚀\\\"🚀\"");
        // Escaping next to multi-byte characters keeps them whole.
        assert_eq!(quoted("é\né"), "\"é\\né\"");
    }

    #[test]
    fn line_separates_fields_with_commas() {
        let mut line = Line::new();
        assert_eq!(Line::new().finish(), "{}\n");
        line.str("a", "x").uint("n", u64::MAX).bool("b", true);
        line.opt_str("s", Some("y"));
        assert_eq!(
            line.finish(),
            "{\"a\":\"x\",\"n\":18446744073709551615,\"b\":true,\"s\":\"y\"}\n"
        );
    }

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain:?}");
        }
    }

    #[test]
    fn base64_uses_the_whole_alphabet() {
        let bytes: Vec<u8> = (0..=255).collect();
        let encoded = base64(&bytes);
        assert_eq!(encoded.len(), 344);
        assert!(encoded.starts_with("AAECAwQFBgcICQoLDA0ODxAREhMU"));
        assert!(encoded.ends_with("+/w=="));
        assert_eq!(base64(&[0xfb, 0xff]), "+/8=");
    }
}
