//! The `key = value` properties format and its value helpers.
//!
//! The text format of `etc/mqhost.conf` and of every
//! `etc/plugins/NAME.conf`: the host and plugins parse with the same code,
//! so a file means the same to both. Plain Rust; nothing here crosses the
//! ABI.
//!
//! # Format
//!
//! * One `key = value` per line; whitespace around `=` is optional.
//! * Blank lines are ignored, and so are lines whose first non-blank
//!   character is `#`.
//! * A key is one or more of `A-Z a-z 0-9 _ . $ -`.
//! * The value is everything after the first `=`, with surrounding whitespace
//!   trimmed. It is taken verbatim: it may contain `=`, `#`, spaces or JSON,
//!   and a trailing `# ...` is part of the value, not a comment.
//! * A key may appear several times; [`Properties::get`] returns the last one.
//!
//! # Value helpers
//!
//! The `parse_*` functions turn a value into a typed setting. They return a
//! plain message on failure, which the caller wraps into a [`PropertiesError`]
//! naming the file, line and key (see [`Properties::error`]).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;

/// A problem in properties text or in one of its settings, located as
/// precisely as is known. Plain Rust, unlike the ABI's
/// [`ConfigError`](crate::ConfigError), which a plugin makes of it with
/// `ConfigError::from(&error)`.
///
/// Displays as `source:line: key: message`, leaving out the parts that are
/// absent, e.g. `etc/mqhost.conf:12: mqtt.max_inflight: expected a whole
/// number, got "abc"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertiesError {
    /// Where the setting came from: a file name, or `--set` for the command line.
    pub source: String,
    /// The 1-based line number within `source`, when there is one.
    pub line: Option<usize>,
    /// The key concerned, when there is one.
    pub key: Option<String>,
    /// What is wrong, as one sentence without a trailing full stop.
    pub message: String,
}

impl PropertiesError {
    /// An error about `source` as a whole (e.g. a file that cannot be read).
    pub fn new(source: impl Into<String>, message: impl Into<String>) -> Self {
        PropertiesError {
            source: source.into(),
            line: None,
            key: None,
            message: message.into(),
        }
    }

    /// An error about one line of `source`.
    pub fn at_line(source: impl Into<String>, line: usize, message: impl Into<String>) -> Self {
        PropertiesError::new(source, message).with_line(line)
    }

    /// An error about the setting `key` of `source`, on `line` if known.
    pub fn for_key(
        source: impl Into<String>,
        line: Option<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        PropertiesError {
            source: source.into(),
            line,
            key: Some(key.into()),
            message: message.into(),
        }
    }

    /// Returns this error located on `line`.
    pub fn with_line(mut self, line: usize) -> Self {
        self.line = Some(line);
        self
    }

    /// Returns this error about `key`.
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }
}

impl fmt::Display for PropertiesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut prefix = self.source.clone();
        if let Some(line) = self.line {
            if !prefix.is_empty() {
                prefix.push(':');
            }
            prefix.push_str(&line.to_string());
        }
        if !prefix.is_empty() {
            write!(f, "{prefix}: ")?;
        }
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for PropertiesError {}

/// One `key = value` line of a properties file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key, as written.
    pub key: String,
    /// The value, with surrounding whitespace trimmed.
    pub value: String,
    /// The 1-based line number the entry was read from.
    pub line: usize,
}

impl Entry {
    /// The line number as [`ConfigError`](crate::ConfigError) carries it
    /// (a file of more than 4 billion lines says `u32::MAX`).
    ///
    /// ```
    /// let props = mqhost_plugin_api::properties::parse("\nkey = 1\n", "x.conf").unwrap();
    /// assert_eq!(props.get("key").unwrap().line_number(), 2);
    /// ```
    pub fn line_number(&self) -> u32 {
        u32::try_from(self.line).unwrap_or(u32::MAX)
    }
}

/// The entries of one properties file, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties {
    source: String,
    entries: Vec<Entry>,
}

impl Properties {
    /// An empty set of properties read from `source`.
    pub fn new(source: impl Into<String>) -> Self {
        Properties {
            source: source.into(),
            entries: Vec::new(),
        }
    }

    /// The name the properties were read from, used in error messages.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Every entry, in file order (repeated keys included).
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Iterates over every entry in file order.
    pub fn iter(&self) -> std::slice::Iter<'_, Entry> {
        self.entries.iter()
    }

    /// The number of entries, repeated keys counted each time.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries at all.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The last entry for `key`, which is the one that takes effect.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().rev().find(|e| e.key == key)
    }

    /// The value of the last entry for `key`.
    pub fn value(&self, key: &str) -> Option<&str> {
        self.get(key).map(|e| e.value.as_str())
    }

    /// The entries whose key starts with `prefix`, in file order.
    ///
    /// The match is textual: pass `"plugin.auth."` (with the dot) to get the
    /// keys of a section without also matching `plugin.authz.*`.
    pub fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        self.entries
            .iter()
            .filter(move |e| e.key.starts_with(prefix))
    }

    /// Appends an entry, as if it had been read on `line`.
    pub fn push(&mut self, key: impl Into<String>, value: impl Into<String>, line: usize) {
        self.entries.push(Entry {
            key: key.into(),
            value: value.into(),
            line,
        });
    }

    /// A [`PropertiesError`] about `entry`, naming this source, its line and key.
    pub fn error(&self, entry: &Entry, message: impl Into<String>) -> PropertiesError {
        PropertiesError::for_key(&*self.source, Some(entry.line), &*entry.key, message)
    }
}

impl<'a> IntoIterator for &'a Properties {
    type Item = &'a Entry;
    type IntoIter = std::slice::Iter<'a, Entry>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

/// Whether `key` is a valid key: one or more of `A-Z a-z 0-9 _ . $ -`.
pub fn is_valid_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'$' | b'-'))
}

/// Parses properties text; `source` names it in errors (usually the file name).
///
/// A non-blank, non-comment line without `=`, or with an invalid key, is an
/// error naming `source`, the line number and the offending text.
pub fn parse(text: &str, source: &str) -> Result<Properties, PropertiesError> {
    let mut props = Properties::new(source);
    // A byte order mark written by some editors is not part of the first key.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let Some((key, value)) = trimmed.split_once('=') else {
            return Err(PropertiesError::at_line(
                source,
                line,
                format!("expected \"key = value\", got {trimmed:?}"),
            ));
        };
        let key = key.trim();
        if !is_valid_key(key) {
            let message = if key.is_empty() {
                format!("missing key before \"=\" in {trimmed:?}")
            } else {
                format!(
                    "invalid key {key:?}: keys may contain only letters, digits, \
                     '_', '.', '$' and '-'"
                )
            };
            return Err(PropertiesError::at_line(source, line, message));
        }
        props.push(key, value.trim(), line);
    }
    Ok(props)
}

/// Parses a switch: `on`, `true`, `yes` or `enable` mean true; `off`,
/// `false`, `no` or `disable` mean false (ASCII case is ignored).
pub fn parse_bool(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "enable" => Ok(true),
        "off" | "false" | "no" | "disable" => Ok(false),
        _ => Err(format!(
            "expected on or off (or true/false, yes/no), got {value:?}"
        )),
    }
}

/// Checks that `n`, read from `value`, lies within `range`.
pub fn check_range<T>(n: T, range: RangeInclusive<T>, value: &str) -> Result<T, String>
where
    T: PartialOrd + fmt::Display,
{
    if range.contains(&n) {
        Ok(n)
    } else {
        Err(out_of_range(&range, value))
    }
}

fn out_of_range<T: fmt::Display>(range: &RangeInclusive<T>, value: &str) -> String {
    format!(
        "expected a number from {} to {}, got {value:?}",
        range.start(),
        range.end()
    )
}

/// Reads a run of ASCII digits; `None` if `digits` is not one, `Some(None)`
/// if it does not fit in a `u64`.
fn whole_number(digits: &str) -> Option<Option<u64>> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(digits.parse().ok())
}

/// Parses a whole number (ASCII digits only) within `range`.
pub fn parse_u64(value: &str, range: RangeInclusive<u64>) -> Result<u64, String> {
    match whole_number(value) {
        None => Err(format!("expected a whole number, got {value:?}")),
        Some(None) => Err(out_of_range(&range, value)),
        Some(Some(n)) => check_range(n, range, value),
    }
}

/// Parses a whole number within `range`, as a `u32`.
pub fn parse_u32(value: &str, range: RangeInclusive<u32>) -> Result<u32, String> {
    let wide = u64::from(*range.start())..=u64::from(*range.end());
    parse_u64(value, wide).map(|n| n as u32)
}

/// Parses a whole number within `range`, as a `u16`.
pub fn parse_u16(value: &str, range: RangeInclusive<u16>) -> Result<u16, String> {
    let wide = u64::from(*range.start())..=u64::from(*range.end());
    parse_u64(value, wide).map(|n| n as u16)
}

/// Splits `value` into a leading run of digits and the rest, trimmed.
fn split_number_unit(value: &str) -> (&str, &str) {
    let end = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    (&value[..end], value[end..].trim())
}

/// Parses a size in bytes: a whole number optionally followed by a unit,
/// `B`, `KB`/`K`, `MB`/`M` or `GB`/`G`, in any case, where `KB` is 1024 bytes.
///
/// `1048576`, `64KB`, `1MB`, `256kb` and `1 MB` are all accepted.
pub fn parse_size(value: &str) -> Result<u64, String> {
    let bad = || format!("expected a size such as 1048576, 64KB or 1MB, got {value:?}");
    let (digits, unit) = split_number_unit(value);
    let multiplier: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1 << 10,
        "m" | "mb" => 1 << 20,
        "g" | "gb" => 1 << 30,
        _ => return Err(bad()),
    };
    let n = whole_number(digits).ok_or_else(bad)?;
    n.and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(|| format!("size {value:?} is too large"))
}

/// Parses a duration in whole seconds: a number optionally followed by a
/// unit, `s`, `m`, `h` or `d`, in any case; a bare number means seconds.
///
/// `30`, `30s`, `5m`, `1h` and `1d` are all accepted.
pub fn parse_duration_secs(value: &str) -> Result<u64, String> {
    let bad = || format!("expected a duration such as 30, 30s, 5m or 1h, got {value:?}");
    let (digits, unit) = split_number_unit(value);
    let multiplier: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 60 * 60,
        "d" => 24 * 60 * 60,
        _ => return Err(bad()),
    };
    let n = whole_number(digits).ok_or_else(bad)?;
    n.and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(|| format!("duration {value:?} is too long"))
}

/// Splits a comma-separated list, trimming each item and dropping empty ones.
///
/// Never fails: an empty value is an empty list. Items cannot contain commas.
pub fn parse_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Parses a socket address: `127.0.0.1:1883`, `[::1]:1883`, or a bare port
/// such as `1883`, which means `0.0.0.0:1883` (all IPv4 interfaces).
///
/// Host names are not resolved; use an IP address.
pub fn parse_socket_addr(value: &str) -> Result<SocketAddr, String> {
    if let Some(port) = whole_number(value) {
        return match port.and_then(|p| u16::try_from(p).ok()) {
            Some(port) => Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)),
            None => Err(format!("expected a port from 0 to 65535, got {value:?}")),
        };
    }
    value.parse().map_err(|_| {
        format!("expected an address such as 0.0.0.0:1883, [::1]:1883 or a port, got {value:?}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Entry {
        let props = parse(text, "test.conf").unwrap();
        assert_eq!(props.len(), 1, "{props:?}");
        props.entries()[0].clone()
    }

    #[test]
    fn key_value_with_or_without_spaces() {
        for text in ["a.b = c", "a.b=c", "  a.b\t=  c  ", "a.b =c"] {
            let e = one(text);
            assert_eq!((e.key.as_str(), e.value.as_str()), ("a.b", "c"), "{text:?}");
        }
    }

    #[test]
    fn blank_lines_and_comments_are_skipped() {
        let text = "\n# comment\n   ## indented comment = not a key\n\t\nx = 1\n\n";
        let props = parse(text, "test.conf").unwrap();
        assert_eq!(props.len(), 1);
        assert_eq!(props.entries()[0].line, 5);
    }

    #[test]
    fn value_may_contain_equals_and_json() {
        assert_eq!(one("k = a=b=c").value, "a=b=c");
        assert_eq!(
            one(r#"k = {"a": 1, "b": [2, 3]}"#).value,
            r#"{"a": 1, "b": [2, 3]}"#
        );
        assert_eq!(one("k = two  words").value, "two  words");
    }

    #[test]
    fn trailing_hash_is_part_of_the_value() {
        assert_eq!(
            one("k = value # not a comment").value,
            "value # not a comment"
        );
        assert_eq!(one("k = #ffffff").value, "#ffffff");
    }

    #[test]
    fn empty_value_is_allowed() {
        assert_eq!(one("k =").value, "");
        assert_eq!(one("k=   ").value, "");
    }

    #[test]
    fn keys_may_use_all_allowed_characters() {
        assert_eq!(one("$SYS.a-b_C9 = x").key, "$SYS.a-b_C9");
    }

    #[test]
    fn crlf_line_endings_and_bom_are_accepted() {
        let props = parse("\u{feff}a = 1\r\nb = 2\r\n", "test.conf").unwrap();
        assert_eq!(props.value("a"), Some("1"));
        assert_eq!(props.value("b"), Some("2"));
    }

    #[test]
    fn line_without_equals_names_source_line_and_text() {
        let err = parse("a = 1\n\njust words\n", "etc/x.conf").unwrap_err();
        assert_eq!(err.source, "etc/x.conf");
        assert_eq!(err.line, Some(3));
        assert_eq!(err.key, None);
        assert_eq!(
            err.to_string(),
            r#"etc/x.conf:3: expected "key = value", got "just words""#
        );
    }

    #[test]
    fn invalid_key_names_source_line_and_key() {
        let err = parse("bad key = 1", "x.conf").unwrap_err();
        assert_eq!(err.line, Some(1));
        assert!(
            err.to_string()
                .starts_with(r#"x.conf:1: invalid key "bad key""#),
            "{err}"
        );
        let err = parse("= 1", "x.conf").unwrap_err();
        assert!(err.to_string().contains("missing key"), "{err}");
    }

    #[test]
    fn get_returns_the_last_occurrence() {
        let props = parse("a = 1\nb = 2\na = 3\n", "x").unwrap();
        let e = props.get("a").unwrap();
        assert_eq!((e.value.as_str(), e.line), ("3", 3));
        assert_eq!(props.get("c"), None);
        assert_eq!(props.iter().count(), 3);
    }

    #[test]
    fn with_prefix_keeps_file_order() {
        let props = parse("p.a.y = 1\nq = 2\np.a.x = 3\np.ab = 4\n", "x").unwrap();
        let keys: Vec<_> = props.with_prefix("p.a.").map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["p.a.y", "p.a.x"]);
    }

    #[test]
    fn error_display_leaves_out_absent_parts() {
        let full =
            PropertiesError::for_key("etc/mqhost.conf", Some(12), "mqtt.max_inflight", "bad");
        assert_eq!(
            full.to_string(),
            "etc/mqhost.conf:12: mqtt.max_inflight: bad"
        );
        let no_line = PropertiesError::for_key("--set", None, "mqtt.max_inflight", "bad");
        assert_eq!(no_line.to_string(), "--set: mqtt.max_inflight: bad");
        assert_eq!(
            PropertiesError::new("f.conf", "bad").to_string(),
            "f.conf: bad"
        );
        assert_eq!(PropertiesError::new("", "bad").to_string(), "bad");
    }

    #[test]
    fn properties_error_wraps_a_helper_message() {
        let props = parse("\nmqtt.max_inflight = abc", "etc/mqhost.conf").unwrap();
        let entry = props.get("mqtt.max_inflight").unwrap();
        let message = parse_u16(&entry.value, 1..=65535).unwrap_err();
        assert_eq!(
            props.error(entry, message).to_string(),
            r#"etc/mqhost.conf:2: mqtt.max_inflight: expected a whole number, got "abc""#
        );
    }

    #[test]
    fn bool_accepts_documented_spellings() {
        for v in ["on", "ON", "true", "yes", "enable"] {
            assert_eq!(parse_bool(v), Ok(true), "{v}");
        }
        for v in ["off", "False", "no", "disable"] {
            assert_eq!(parse_bool(v), Ok(false), "{v}");
        }
        assert!(parse_bool("1").is_err());
        assert!(parse_bool("").is_err());
    }

    #[test]
    fn numbers_are_checked_against_their_range() {
        assert_eq!(parse_u16("32", 1..=65535), Ok(32));
        assert_eq!(
            parse_u16("0", 1..=65535),
            Err(r#"expected a number from 1 to 65535, got "0""#.to_string())
        );
        assert!(parse_u16("65536", 0..=65535).is_err());
        assert_eq!(parse_u32("4294967295", 0..=u32::MAX), Ok(u32::MAX));
        assert!(parse_u32("4294967296", 0..=u32::MAX).is_err());
        assert!(parse_u64("99999999999999999999", 0..=u64::MAX).is_err());
        for bad in ["", "-1", "+1", "1.5", " 1", "abc", "1e3"] {
            assert!(parse_u64(bad, 0..=u64::MAX).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sizes_accept_units_with_kb_as_1024() {
        assert_eq!(parse_size("1048576"), Ok(1_048_576));
        assert_eq!(parse_size("64KB"), Ok(64 * 1024));
        assert_eq!(parse_size("256kb"), Ok(256 * 1024));
        assert_eq!(parse_size("1MB"), Ok(1 << 20));
        assert_eq!(parse_size("1 mb"), Ok(1 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("10B"), Ok(10));
        for bad in ["", "MB", "1.5MB", "1TB", "-1", "1 M B"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
        assert!(parse_size("99999999999999GB")
            .unwrap_err()
            .contains("too large"));
    }

    #[test]
    fn durations_accept_seconds_minutes_hours() {
        assert_eq!(parse_duration_secs("30"), Ok(30));
        assert_eq!(parse_duration_secs("30s"), Ok(30));
        assert_eq!(parse_duration_secs("5m"), Ok(300));
        assert_eq!(parse_duration_secs("1h"), Ok(3600));
        assert_eq!(parse_duration_secs("2H"), Ok(7200));
        assert_eq!(parse_duration_secs("1d"), Ok(86400));
        for bad in ["", "s", "1.5h", "5 min", "-5s", "1h30m"] {
            assert!(parse_duration_secs(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn list_items_are_trimmed_and_empty_ones_dropped() {
        assert_eq!(parse_list(" a , b/#,, ,c "), ["a", "b/#", "c"]);
        assert!(parse_list("").is_empty());
        assert!(parse_list(" , ").is_empty());
    }

    #[test]
    fn socket_addresses_and_bare_ports() {
        let ok = |v: &str| parse_socket_addr(v).unwrap().to_string();
        assert_eq!(ok("127.0.0.1:1883"), "127.0.0.1:1883");
        assert_eq!(ok("0.0.0.0:0"), "0.0.0.0:0");
        assert_eq!(ok("[::1]:1883"), "[::1]:1883");
        assert_eq!(ok("1883"), "0.0.0.0:1883");
        assert!(parse_socket_addr("65536").unwrap_err().contains("port"));
        for bad in [
            "",
            "localhost:1883",
            "127.0.0.1",
            "::1:1883",
            "1.2.3.4:99999",
        ] {
            assert!(parse_socket_addr(bad).is_err(), "{bad:?}");
        }
    }
}
