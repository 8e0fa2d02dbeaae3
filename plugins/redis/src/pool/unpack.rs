//! The writer's side of the queue: what the hooks queued, made into the
//! commands that go out.
//!
//! Commands are copied as they are. Packed events ([`super::record`]) are
//! made into their function's commands, and on single and sentinel pools
//! the message path's are joined on the way: a stored and acked message
//! is seven commands, of which only the hash and its TTL are its own; the
//! index adds of a batch on one topic are one `ZADD` with one trim and one
//! `EXPIRE` after it, the acks one `DEL` and one `ZREM` per topic. Joined
//! here, from the events, they cost neither the encoding of commands that
//! would be joined later nor the [`super::coalesce`] pass that would read
//! them back.
//!
//! Order per key is kept: a message's hash is written where its event
//! was, and the joined commands go after the events they come from and
//! before anything else queued after them (anything not joined first
//! sends what was joined so far). So a `DEL` of a hash comes after its
//! `HMSET`, a `ZREM` of a member after its `ZADD`, and the index's
//! `EXPIRE` after its last add. Many trims of one index become the one
//! with the latest bound: ids only grow, so it removes what they all
//! would have removed. On a cluster, keys of many slots cannot share a
//! `DEL`: there every event is made into its own commands.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

use mqhost_plugin_api::types::BASE62_LEN;

use super::batch::Batch;
use super::record;
use crate::event::{Event, IdText};
use crate::functions::{acked, message, Function};

/// Groups kept for reuse once sent (the rest are freed).
const KEEP_GROUPS: usize = 1024;
/// Ids a kept group may keep room for.
const KEEP_IDS: usize = 1 << 16;

/// One topic's joined commands.
#[derive(Default)]
struct TopicGroup {
    topic: Vec<u8>,
    /// Ids added to the index, with the last add's TTL and the latest
    /// trim bound.
    added: Vec<IdText>,
    ttl: u64,
    cutoff: [u8; BASE62_LEN],
    /// Ids acked, to take out of the index.
    removed: Vec<IdText>,
}

/// What an unpacking pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unpacked {
    /// Queue bytes consumed.
    pub(crate) bytes: usize,
    /// Whether commands other than joined ones were made (then the
    /// coalescer may still find something to join).
    pub(crate) mixed: bool,
}

/// Makes queued entries into commands; keeps its memory between passes.
#[derive(Default)]
pub(crate) struct Unpacker {
    groups: Vec<TopicGroup>,
    /// Groups in use, first seen first.
    live: usize,
    by_topic: HashMap<u64, usize>,
    hasher: RandomState,
    /// The group last used: consecutive events are mostly on one topic.
    last: Option<usize>,
    /// Hashes of acked messages.
    consumed: Vec<IdText>,
}

impl Unpacker {
    /// Makes entries of `queued` from `*cursor` on into commands in
    /// `taken`, until `taken` holds `max_commands` commands or
    /// `max_bytes` bytes; joins the message path's when `join`.
    pub(crate) fn unpack(
        &mut self,
        queued: &Batch,
        cursor: &mut usize,
        taken: &mut Batch,
        join: bool,
        max_commands: usize,
        max_bytes: usize,
    ) -> Unpacked {
        let start = *cursor;
        let mut mixed = false;
        while *cursor < queued.len() && taken.len() < max_commands && taken.byte_len() < max_bytes {
            let index = *cursor;
            *cursor += 1;
            let Some(packed) = queued.record_bytes(index) else {
                self.flush(taken);
                taken.copy_command(queued, index);
                mixed = true;
                continue;
            };
            // Packed by this plugin's hooks: always read back.
            let Some((function, ttl, event)) = record::unpack(packed) else {
                continue;
            };
            match (function, &event) {
                (Function::MessagePublish, Event::Message(m)) if join => {
                    let writes = message::publish_writes(m.shape());
                    if writes.store {
                        message::store(m, ttl, taken);
                    }
                    if writes.index {
                        let cutoff = message::trim_cutoff(m, ttl);
                        let group = self.group(m.topic.as_bytes(), taken);
                        group.added.push(m.id);
                        group.ttl = ttl;
                        group.cutoff = group.cutoff.max(cutoff);
                    }
                }
                (Function::AckedForQueue, Event::Delivery(d)) if join => {
                    self.consumed.push(d.id);
                    if acked::indexed(d.topic) {
                        self.group(d.topic.as_bytes(), taken).removed.push(d.id);
                    }
                }
                _ => {
                    self.flush(taken);
                    function.emit(&event, ttl, taken);
                    mixed = true;
                }
            }
        }
        self.flush(taken);
        Unpacked {
            bytes: queued.bytes_of(start..*cursor),
            mixed,
        }
    }

    /// The group of `topic`, new if need be. Two topics with one hash
    /// cannot share a group: what was joined is sent first.
    fn group(&mut self, topic: &[u8], taken: &mut Batch) -> &mut TopicGroup {
        let found = match self.last {
            Some(at) if self.groups[at].topic == topic => Some(at),
            _ => {
                let hash = self.hasher.hash_one(topic);
                match self.by_topic.get(&hash) {
                    Some(&at) if self.groups[at].topic == topic => Some(at),
                    Some(_) => {
                        self.flush(taken);
                        None
                    }
                    None => None,
                }
            }
        };
        let at = match found {
            Some(at) => at,
            None => {
                let at = self.live;
                self.live += 1;
                if at == self.groups.len() {
                    self.groups.push(TopicGroup::default());
                }
                let group = &mut self.groups[at];
                group.topic.clear();
                group.topic.extend_from_slice(topic);
                group.cutoff = [0; BASE62_LEN];
                self.by_topic.insert(self.hasher.hash_one(topic), at);
                at
            }
        };
        self.last = Some(at);
        &mut self.groups[at]
    }

    /// Writes what was joined into `taken`: each topic's adds, trim and
    /// TTL, then the acked hashes' `DEL`, then each topic's removals.
    fn flush(&mut self, taken: &mut Batch) {
        for group in &self.groups[..self.live] {
            if !group.added.is_empty() {
                let from = taken.len();
                message::index(&group.topic, &group.added, group.ttl, &group.cutoff, taken);
                taken.set_carries_from(from, group.added.len());
            }
        }
        if !self.consumed.is_empty() {
            let from = taken.len();
            acked::consume(&self.consumed, taken);
            taken.set_carries_from(from, self.consumed.len());
            self.consumed.clear();
        }
        for group in &self.groups[..self.live] {
            if !group.removed.is_empty() {
                let from = taken.len();
                acked::unindex(&group.topic, &group.removed, taken);
                taken.set_carries_from(from, group.removed.len());
            }
        }
        for group in &mut self.groups[..self.live] {
            group.added.clear();
            group.removed.clear();
            if group.added.capacity() > KEEP_IDS || group.removed.capacity() > KEEP_IDS {
                *group = TopicGroup::default();
            }
        }
        self.groups.truncate(KEEP_GROUPS);
        if self.consumed.capacity() > KEEP_IDS {
            self.consumed = Vec::new();
        }
        self.live = 0;
        self.last = None;
        self.by_topic.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{DeliveryData, MessageData};
    use crate::resp::{words, CmdList, CommandSink};

    fn id(n: u8) -> IdText {
        let mut digits = [b'0'; BASE62_LEN];
        digits[BASE62_LEN - 1] = b'0' + n;
        IdText::from_digits(digits)
    }

    fn message(topic: &str, n: u8) -> MessageData<'_> {
        MessageData {
            id: id(n),
            from: "p",
            qos: 1,
            topic,
            retain: false,
            payload: b"x",
            ts_ms: 1_000_000,
        }
    }

    /// The trim's bound of every message here.
    fn cutoff() -> String {
        let digits = message::trim_cutoff(&message("t", 0), 60);
        format!("({}", String::from_utf8_lossy(&digits))
    }

    fn publish(queued: &mut Batch, topic: &str, n: u8) {
        let message = message(topic, n);
        assert!(record::pack(
            Function::MessagePublish,
            60,
            &Event::Message(message),
            |parts| queued.record(parts)
        ));
    }

    fn ack(queued: &mut Batch, topic: &str, n: u8) {
        let delivery = DeliveryData {
            client_id: "s",
            qos: 1,
            id: id(n),
            topic,
        };
        assert!(record::pack(
            Function::AckedForQueue,
            0,
            &Event::Delivery(delivery),
            |parts| queued.record(parts)
        ));
    }

    fn set(queued: &mut Batch, key: &str) {
        queued.begin(3);
        queued.arg(b"SET");
        queued.arg(key.as_bytes());
        queued.arg(b"v");
    }

    /// The commands made (see [`shown`]) and the queued commands they
    /// stand for.
    fn unpacked(queued: &Batch, join: bool) -> (Vec<String>, usize, Unpacked) {
        let mut taken = Batch::default();
        let mut cursor = 0;
        let outcome =
            Unpacker::default().unpack(queued, &mut cursor, &mut taken, join, 1000, 1 << 20);
        assert_eq!(cursor, queued.len());
        (shown(&taken), taken.carried(0..taken.len()), outcome)
    }

    /// A batch's commands as `NAME key ...`, a hash's fields left out.
    fn shown(batch: &Batch) -> Vec<String> {
        let mut list = CmdList::default();
        batch.replay(0..batch.len(), &mut list);
        list.cmds
            .iter()
            .map(|cmd| {
                let words = words(cmd);
                let shown = if words[0] == "HMSET" { 2 } else { words.len() };
                words[..shown].join(" ")
            })
            .collect()
    }

    #[test]
    fn a_batch_of_stores_and_acks_is_joined_after_the_hashes_in_key_order() {
        let mut queued = Batch::default();
        publish(&mut queued, "a", 1);
        publish(&mut queued, "b", 2);
        publish(&mut queued, "a", 3);
        ack(&mut queued, "a", 1);
        ack(&mut queued, "b", 2);
        let (commands, carried, outcome) = unpacked(&queued, true);
        assert_eq!(
            commands,
            [
                "HMSET mqtt:msg:0000000000000000000001".to_owned(),
                "EXPIRE mqtt:msg:0000000000000000000001 60".to_owned(),
                "HMSET mqtt:msg:0000000000000000000002".to_owned(),
                "EXPIRE mqtt:msg:0000000000000000000002 60".to_owned(),
                "HMSET mqtt:msg:0000000000000000000003".to_owned(),
                "EXPIRE mqtt:msg:0000000000000000000003 60".to_owned(),
                "ZADD mqtt:msg:a 1 0000000000000000000001 1 0000000000000000000003".to_owned(),
                format!("ZREMRANGEBYLEX mqtt:msg:a - {}", cutoff()),
                "EXPIRE mqtt:msg:a 60".to_owned(),
                "ZADD mqtt:msg:b 1 0000000000000000000002".to_owned(),
                format!("ZREMRANGEBYLEX mqtt:msg:b - {}", cutoff()),
                "EXPIRE mqtt:msg:b 60".to_owned(),
                "DEL mqtt:msg:0000000000000000000001 mqtt:msg:0000000000000000000002".to_owned(),
                "ZREM mqtt:msg:a 0000000000000000000001".to_owned(),
                "ZREM mqtt:msg:b 0000000000000000000002".to_owned(),
            ]
        );
        // Three stored messages (five commands each), two acks (two each).
        assert_eq!(carried, 3 * 5 + 2 * 2);
        assert_eq!(outcome.bytes, queued.byte_len());
        assert!(!outcome.mixed);
    }

    #[test]
    fn anything_else_queued_sends_what_was_joined_before_it() {
        let mut queued = Batch::default();
        publish(&mut queued, "a", 1);
        set(&mut queued, "mqtt:msg:a");
        ack(&mut queued, "a", 1);
        let (commands, carried, outcome) = unpacked(&queued, true);
        assert_eq!(
            commands,
            [
                "HMSET mqtt:msg:0000000000000000000001".to_owned(),
                "EXPIRE mqtt:msg:0000000000000000000001 60".to_owned(),
                "ZADD mqtt:msg:a 1 0000000000000000000001".to_owned(),
                format!("ZREMRANGEBYLEX mqtt:msg:a - {}", cutoff()),
                "EXPIRE mqtt:msg:a 60".to_owned(),
                "SET mqtt:msg:a v".to_owned(),
                "DEL mqtt:msg:0000000000000000000001".to_owned(),
                "ZREM mqtt:msg:a 0000000000000000000001".to_owned(),
            ]
        );
        assert_eq!(carried, 5 + 1 + 2);
        assert!(outcome.mixed);
    }

    #[test]
    fn without_joins_each_event_makes_its_own_commands_in_order() {
        let mut queued = Batch::default();
        publish(&mut queued, "a", 1);
        publish(&mut queued, "a", 2);
        ack(&mut queued, "a", 1);
        // A topic spelled like an id has no index to add to or remove from.
        publish(&mut queued, "0000000000000000000009", 3);
        ack(&mut queued, "0000000000000000000009", 3);
        let (joined_off, carried, _) = unpacked(&queued, false);
        let mut each = Batch::default();
        for index in 0..queued.len() {
            let (function, ttl, event) =
                record::unpack(queued.record_bytes(index).unwrap()).unwrap();
            function.emit(&event, ttl, &mut each);
        }
        let expected = shown(&each);
        assert_eq!(joined_off, expected);
        assert_eq!(carried, each.len());
        let (joined, carried, _) = unpacked(&queued, true);
        assert_eq!(carried, each.len());
        assert!(joined.len() < each.len());
        assert!(joined.contains(
            &"DEL mqtt:msg:0000000000000000000001 mqtt:msg:0000000000000000000003".to_owned()
        ));
        assert!(!joined
            .iter()
            .any(|c| c.contains("mqtt:msg:0000000000000000000009 ")));
    }
}
