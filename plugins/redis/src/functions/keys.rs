//! Where EMQX's key layouts could meet, and the rule that keeps them
//! apart. The layouts are fixed (an EMQX user's Redis must read the same),
//! so instead of changing a key, the functions leave alone the few names
//! that would land on another layout's key:
//!
//! - `mqtt:msg:${msgid}` (a message's hash) and `mqtt:msg:${topic}` (a
//!   topic's index) share a prefix. A msgid is always exactly 22
//!   characters of `0-9A-Za-z`, so a topic spelled that way is the only
//!   one that can name a message's hash: such a topic is not indexed, its
//!   index is never read, and an ack does not `ZREM` from it.
//! - `mqtt:acked:${clientid}:${topic}` holds two names: client `a` with
//!   subscription `b:c` and client `a:b` with `c` would share a key. Topics
//!   may hold `:`, so a client id holding `:` gets no position: the pubsub
//!   ack and fetch skip it.
//!
//! The other layouts have one name each after a prefix no other layout
//! starts with, so no name reaches another layout's key.

use mqhost_plugin_api::types::BASE62_LEN;

/// Whether a topic is spelled like a message id, so that
/// `mqtt:msg:${topic}` would be a message's hash.
pub(crate) fn id_like(topic: &str) -> bool {
    topic.len() == BASE62_LEN && topic.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Whether a client id would make `mqtt:acked:${clientid}:${topic}`
/// ambiguous.
pub(crate) fn splits_acked_key(client_id: &str) -> bool {
    client_id.contains(':')
}

#[cfg(test)]
mod tests {
    use mqhost_plugin_api::MessageId;

    use super::*;

    #[test]
    fn only_message_id_spellings_are_id_like() {
        assert!(id_like(&MessageId::from_u128(7).to_base62()));
        assert!(id_like("abcdefghijABCDEFGHIJ01"));
        assert!(!id_like("abcdefghijABCDEFGHIJ0"));
        assert!(!id_like("abcdefghijABCDEFGHIJ012"));
        assert!(!id_like("abcdefghij/BCDEFGHIJ01"));
        assert!(!id_like("sensors/a"));
        assert!(splits_acked_key("a:b"));
        assert!(!splits_acked_key("ab"));
    }
}
