//! Client-controlled text (client ids, user names, topics, filters) as it
//! may appear in a log line.
//!
//! A client chooses these strings, so written as they are a client id
//! holding a newline and a made-up timestamp forges a log line, and one
//! holding terminal escape sequences rewrites what an operator sees. Every
//! such string is logged through [`escaped`]: control characters become
//! visible escapes (`\n`, `\x1b`, `\u{85}`), a backslash is doubled so an
//! escape cannot be faked either, and a long string is cut at a readable
//! length with an ellipsis.

use std::fmt::{self, Display, Write};

/// Characters of client text shown before it is cut.
pub const SHOWN_CHARS: usize = 64;

/// Marks text cut after [`SHOWN_CHARS`] characters.
const ELLIPSIS: &str = "…";

/// Client text shown safely in a log line; see the module documentation.
#[derive(Clone, Copy)]
pub struct Escaped<'a>(&'a str);

/// Wraps client-controlled `text` for a log line:
/// `tracing::info!(client_id = %escaped(&id), ...)`.
pub fn escaped(text: &str) -> Escaped<'_> {
    Escaped(text)
}

impl Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut chars = self.0.chars();
        for c in chars.by_ref().take(SHOWN_CHARS) {
            match c {
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                '\\' => f.write_str("\\\\")?,
                c if c.is_ascii_control() => write!(f, "\\x{:02x}", c as u32)?,
                c if c.is_control() || reorders_text(c) => write!(f, "\\u{{{:x}}}", c as u32)?,
                c => f.write_char(c)?,
            }
        }
        if chars.next().is_some() {
            f.write_str(ELLIPSIS)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Display::fmt(self, f)
    }
}

/// Unicode's bidirectional controls and line separators: not control
/// characters, yet they reorder or break what a terminal shows.
fn reorders_text(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(text: &str) -> String {
        escaped(text).to_string()
    }

    #[test]
    fn plain_text_is_shown_as_it_is() {
        assert_eq!(show("sensor-42/témpérature"), "sensor-42/témpérature");
        assert_eq!(show(""), "");
    }

    #[test]
    fn control_characters_become_visible_escapes() {
        assert_eq!(show("a\nb\rc\td"), "a\\nb\\rc\\td");
        assert_eq!(show("\x1b[31mred\x00\x7f"), "\\x1b[31mred\\x00\\x7f");
        // C1 controls and bidirectional overrides.
        assert_eq!(show("x\u{85}y\u{202e}z"), "x\\u{85}y\\u{202e}z");
    }

    #[test]
    fn a_backslash_cannot_pass_for_an_escape() {
        assert_eq!(show("a\\nb"), "a\\\\nb");
        assert_ne!(show("a\\nb"), show("a\nb"));
    }

    #[test]
    fn a_forged_log_line_stays_on_one_line() {
        let forged = "id\n2026-01-01T00:00:00Z  INFO client connected client_id=admin";
        assert!(!show(forged).contains('\n'));
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis() {
        let exact = "x".repeat(SHOWN_CHARS);
        assert_eq!(show(&exact), exact);
        let long = "é".repeat(SHOWN_CHARS + 1);
        assert_eq!(show(&long), format!("{}…", "é".repeat(SHOWN_CHARS)));
    }

    #[test]
    fn escapes_do_not_count_against_the_length_twice() {
        // The cut counts the client's characters, not what they became.
        let text = "\n".repeat(SHOWN_CHARS);
        assert_eq!(show(&text), "\\n".repeat(SHOWN_CHARS));
    }
}
