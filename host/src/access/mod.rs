//! Built-in access-control sources: who may connect (a Mosquitto password
//! file, [`password_file`]) and which topics a client may use (a Mosquitto
//! ACL file, [`acl_file`]), plus `mqhost passwd` ([`passwd_command`]), which
//! maintains password files.
//!
//! These modules only decide; the broker asks them through
//! [`decider::Decider`], which chains them and reloads their files. Both files are read in
//! Mosquitto's formats so that a Mosquitto installation's files work
//! unchanged. Where a parser here is stricter than Mosquitto (a line
//! Mosquitto would skip is an error here), its module says so.
//!
//! This module owns what both files share: [`FileError`], the size bound
//! ([`MAX_FILE_BYTES`], enforced by [`read_file`] and by each parser), the
//! line splitting and blank rules of Mosquitto's parsers, [`Access`], and
//! the broker-wide rule for `$` topics ([`dollar_topic_denied`]) that
//! Mosquitto applies before consulting any source.

pub mod acl_file;
pub mod decider;
pub mod passwd_command;
pub mod password_file;
pub mod watch;

use std::fmt;
use std::io::Read;
use std::path::Path;

use mqhost_plugin_api::topic::matches;

/// Largest password or ACL file accepted, in bytes (16 MiB: about 120,000
/// `mosquitto_passwd` lines). Mosquitto has no limit; here a file that is
/// too large is refused rather than read, so a runaway file cannot exhaust
/// memory.
pub const MAX_FILE_BYTES: usize = 16 * 1024 * 1024;

/// A password or ACL file that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    /// The file's name as the caller gave it.
    pub file: String,
    /// The 1-based line at fault, when one line is.
    pub line: Option<usize>,
    /// What is wrong.
    pub reason: String,
}

impl FileError {
    fn new(file: &str, line: Option<usize>, reason: impl Into<String>) -> FileError {
        FileError {
            file: file.to_owned(),
            line,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}, line {}: {}", self.file, line, self.reason),
            None => write!(f, "{}: {}", self.file, self.reason),
        }
    }
}

impl std::error::Error for FileError {}

/// Which use of a topic is being decided, as Mosquitto distinguishes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// Receiving a message published to the topic (checked at delivery).
    Read,
    /// Publishing to the topic (including a will).
    Write,
    /// Subscribing with the topic as a filter.
    Subscribe,
}

/// Reads a password or ACL file as UTF-8 text, refusing one larger than
/// [`MAX_FILE_BYTES`] without reading past the limit.
pub fn read_file(path: &Path) -> Result<String, FileError> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| FileError::new(&name, None, e.to_string()))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| FileError::new(&name, None, e.to_string()))?;
    if bytes.len() > MAX_FILE_BYTES {
        return Err(too_large(&name));
    }
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        FileError::new(&name, Some(line), "not valid UTF-8")
    })
}

fn too_large(file: &str) -> FileError {
    FileError::new(
        file,
        None,
        format!("larger than {MAX_FILE_BYTES} bytes, the limit for password and ACL files"),
    )
}

/// The lines of `text` numbered from 1, with trailing white space removed
/// (so CRLF files read as LF ones), after checking the size bound and that
/// no line holds a NUL (Mosquitto's C parsers would silently cut the line
/// there).
fn numbered_lines<'a>(
    text: &'a str,
    file: &str,
) -> Result<impl Iterator<Item = (usize, &'a str)>, FileError> {
    if text.len() > MAX_FILE_BYTES {
        return Err(too_large(file));
    }
    let lines = text
        .split('\n')
        .enumerate()
        .map(|(index, line)| (index + 1, line.trim_end_matches(is_c_space)));
    if let Some((number, _)) = lines.clone().find(|(_, line)| line.contains('\0')) {
        return Err(FileError::new(file, Some(number), "contains a NUL byte"));
    }
    Ok(lines)
}

/// C's `isspace` in the "C" locale, which Mosquitto's parsers trim with:
/// unlike [`char::is_ascii_whitespace`] it includes vertical tab.
fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

/// `text` without C white space at either end (Mosquitto's
/// `misc__trimblanks`).
fn trim_c_space(text: &str) -> &str {
    text.trim_matches(is_c_space)
}

/// True if the broker refuses `access` to `topic` whatever any source says,
/// as Mosquitto 2.0 does before asking its password/ACL sources or plugins:
///
/// - publishing to a topic starting with `$SYS`, except
///   `$SYS/broker/connection/+/state` (where Mosquitto's bridges report
///   their state), which goes on to the sources like any topic;
/// - publishing to or receiving from a topic starting with `$share`, which
///   only makes sense as a subscription filter.
///
/// Other `$` topics, and every subscription, go on to the sources.
pub fn dollar_topic_denied(topic: &str, access: Access) -> bool {
    if topic.starts_with("$SYS") {
        access == Access::Write && !matches("$SYS/broker/connection/+/state", topic)
    } else if topic.starts_with("$share") {
        access != Access::Subscribe
    } else {
        false
    }
}

/// Asserts that `result` is a refusal of file `f` at `line` whose reason
/// contains `reason`.
#[cfg(test)]
fn assert_refused<T: fmt::Debug>(result: Result<T, FileError>, line: usize, reason: &str) {
    let error = result.expect_err(reason);
    assert_eq!(
        (error.file.as_str(), error.line),
        ("f", Some(line)),
        "{error}"
    );
    assert!(
        error.reason.contains(reason),
        "{error} (expected {reason:?})"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_file_and_the_line_when_there_is_one() {
        let error = FileError::new("pw", Some(3), "bad");
        assert_eq!(error.to_string(), "pw, line 3: bad");
        assert_eq!(FileError::new("pw", None, "bad").to_string(), "pw: bad");
    }

    #[test]
    fn lines_are_numbered_from_one_and_lose_trailing_white_space() {
        let lines: Vec<_> = numbered_lines("a \r\n\tb\x0b\n\nc", "f").unwrap().collect();
        assert_eq!(lines, [(1, "a"), (2, "\tb"), (3, ""), (4, "c")]);
    }

    #[test]
    fn a_nul_byte_is_an_error_on_its_line() {
        let error = numbered_lines("a\nb\0c\n", "f").err().unwrap();
        assert_eq!(error, FileError::new("f", Some(2), "contains a NUL byte"));
    }

    #[test]
    fn text_over_the_limit_is_refused() {
        let text = "#".repeat(MAX_FILE_BYTES + 1);
        let error = numbered_lines(&text, "f").err().unwrap();
        assert!(error.reason.contains("larger than"), "{error}");
    }

    #[test]
    fn reading_stops_at_the_limit_and_names_bad_utf8_lines() {
        let dir = std::env::temp_dir().join(format!("mqhost-access-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let big = dir.join("big");
        let file = std::fs::File::create(&big).unwrap();
        // Sparse: the size is there without writing 16 MiB.
        file.set_len(MAX_FILE_BYTES as u64 + 1).unwrap();
        assert!(read_file(&big).unwrap_err().reason.contains("larger than"));
        let latin1 = dir.join("latin1");
        std::fs::write(&latin1, b"a\nb\n\xe9\n").unwrap();
        assert_eq!(read_file(&latin1).unwrap_err().line, Some(3));
        let missing = read_file(&dir.join("missing")).unwrap_err();
        assert_eq!(missing.line, None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn trimming_follows_c_isspace() {
        assert_eq!(trim_c_space(" \t\x0b\x0ca b\r\n"), "a b");
    }

    #[test]
    fn sys_topics_are_never_writable_and_share_topics_only_subscribable() {
        assert!(dollar_topic_denied("$SYS/broker/x", Access::Write));
        assert!(dollar_topic_denied("$SYSTEM", Access::Write));
        assert!(!dollar_topic_denied("$SYS/broker/x", Access::Read));
        assert!(!dollar_topic_denied(
            "$SYS/broker/connection/b/state",
            Access::Write
        ));
        assert!(!dollar_topic_denied("$SYS/#", Access::Subscribe));
        assert!(dollar_topic_denied("$share/g/a", Access::Read));
        assert!(dollar_topic_denied("$share/g/a", Access::Write));
        assert!(!dollar_topic_denied("$share/g/a", Access::Subscribe));
        assert!(!dollar_topic_denied("$other/a", Access::Write));
        assert!(!dollar_topic_denied("a/$SYS", Access::Write));
    }
}
