//! The mosquitto fork's expiry check (`on_message_expiry_check`): a JSON
//! payload whose `expired_at` (Unix seconds) is in the past is dropped.
//!
//! ```text
//! 1472023902: Expire at: 1472023605, Current timestamp: 1472023902
//! 1472023902: The message has already expired!
//! ```

use serde_json::Value;

/// The log line the fork writes before deciding.
pub(crate) const EXPIRED_LINE: &str = "The message has already expired!";

/// `expired_at` of a JSON object payload, if it has one: a whole number
/// or a numeric string. Anything else (not JSON, not an object, no such
/// field) means the message carries no expiry and goes on.
pub(crate) fn expired_at(payload: &[u8]) -> Option<i64> {
    // Cheap test first: most payloads are not JSON objects at all.
    let first = payload.iter().find(|b| !b.is_ascii_whitespace())?;
    if *first != b'{' {
        return None;
    }
    let value: Value = serde_json::from_slice(payload).ok()?;
    match value.get("expired_at")? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Whether a message with `expired_at` has expired at `now` (Unix
/// seconds): strictly in the past, as the fork compares.
pub(crate) fn has_expired(expired_at: i64, now: i64) -> bool {
    expired_at < now
}

/// `Expire at: X, Current timestamp: Y`.
pub(crate) fn log_line(expired_at: i64, now: i64) -> String {
    format!("Expire at: {expired_at}, Current timestamp: {now}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_at_is_read_from_json_objects_only() {
        let seed = b"{\n\t\"expired_at\":\t1472023605,\n\t\"message\":\t\"hello!\"\n}";
        assert_eq!(expired_at(seed), Some(1472023605));
        assert_eq!(
            expired_at(br#"{"expired_at": "1472023605"}"#),
            Some(1472023605)
        );
        assert_eq!(expired_at(br#"  {"expired_at": 12.0}"#), Some(12));
        assert_eq!(expired_at(br#"{"message": "hi"}"#), None);
        assert_eq!(expired_at(br#"[1, 2]"#), None);
        assert_eq!(expired_at(b"expired_at"), None);
        assert_eq!(expired_at(b"{not json"), None);
        assert_eq!(expired_at(br#"{"expired_at": null}"#), None);
        assert_eq!(expired_at(b""), None);
    }

    #[test]
    fn the_seed_example_has_expired() {
        assert!(has_expired(1472023605, 1472023902));
        assert!(!has_expired(1472023902, 1472023902));
        assert_eq!(
            log_line(1472023605, 1472023902),
            "Expire at: 1472023605, Current timestamp: 1472023902"
        );
    }
}
