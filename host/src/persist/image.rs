//! [`Image`]: the durable state the records make, kept by applying each
//! record in order. Recovery builds one from the log; the writer keeps one
//! up to date so that compaction can write the state without the history.
//! Messages are shared (`Arc`) with the broker, never copied.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use mqhost_codec::SubscriptionOptions;

use super::record::{self, Record};
use crate::broker::message::Message;
use crate::broker::session::Delivery;

/// Where a stored delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Queued, not yet sent.
    Queued,
    /// Sent as this packet id, not acknowledged.
    Sent(u16),
    /// QoS 2: PUBREC came, PUBREL sent as this packet id.
    Released(u16),
}

/// One session as stored.
#[derive(Debug, Clone, Default)]
pub struct SessionImage {
    /// The user name of its last connection.
    pub username: Option<Arc<str>>,
    /// Session Expiry Interval (seconds; `u32::MAX` never).
    pub expiry: u32,
    /// When its client left (Unix ms), 0 if it was connected.
    pub detached_ms: u64,
    pub subscriptions: BTreeMap<Arc<str>, (SubscriptionOptions, Option<u32>)>,
    /// Deliveries by their number in the session, which is their order.
    pub deliveries: BTreeMap<u64, (Delivery, Stage)>,
    /// Inbound QoS 2 packet ids awaiting PUBREL.
    pub qos2_in: BTreeSet<u16>,
    /// A will waiting for its delay: due at (Unix ms), message.
    pub will: Option<(u64, Arc<Message>)>,
}

/// Hashes a message id with one multiplication instead of SipHash: the
/// writer looks ids up several times per message, and ids are the
/// broker's own (time, node, sequence), not chosen by clients, so they
/// need no defence against collisions made on purpose.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u128(&mut self, id: u128) {
        // The sequence (low bits) and the time (high bits) both vary:
        // folded, then mixed over every bit (MurmurHash3's finaliser).
        let mut x = (id as u64) ^ ((id >> 64) as u64).rotate_left(29);
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        x ^= x >> 33;
        self.0 = x;
    }
}

/// The whole durable state.
#[derive(Debug, Default, Clone)]
pub struct Image {
    /// Messages named by a retained topic, a delivery or a will, with how
    /// many name them.
    messages: HashMap<u128, (Arc<Message>, u32), BuildHasherDefault<IdHasher>>,
    pub retained: BTreeMap<Arc<str>, Arc<Message>>,
    pub sessions: HashMap<Arc<str>, SessionImage>,
    /// Stored deliveries, over all sessions.
    pub deliveries: usize,
    /// Records that named a session or a delivery not in the state (a
    /// corrupt log): ignored, counted.
    pub orphans: u64,
}

impl Image {
    /// A message already in the state, by id.
    pub fn message(&self, id: u128) -> Option<Arc<Message>> {
        self.messages.get(&id).map(|(m, _)| Arc::clone(m))
    }

    /// Messages held.
    pub fn message_count(&self) -> usize {
        self.messages.len()
    }

    fn hold(&mut self, message: &Arc<Message>) {
        self.messages
            .entry(message.id.0)
            .or_insert_with(|| (Arc::clone(message), 0))
            .1 += 1;
    }

    fn release(&mut self, message: &Message) {
        if let Some(entry) = self.messages.get_mut(&message.id.0) {
            entry.1 = entry.1.saturating_sub(1);
            if entry.1 == 0 {
                self.messages.remove(&message.id.0);
            }
        }
    }

    /// Holds `message` for a record that names it, applied next with
    /// [`apply_held`](Self::apply_held); returns whether the state did not
    /// hold it yet (its body must be written first). One lookup where
    /// asking, adding the body and holding took three.
    pub fn hold_new(&mut self, message: &Arc<Message>) -> bool {
        match self.messages.entry(message.id.0) {
            Entry::Occupied(mut entry) => {
                entry.get_mut().1 += 1;
                false
            }
            Entry::Vacant(entry) => {
                entry.insert((Arc::clone(message), 1));
                true
            }
        }
    }

    /// Applies one record.
    pub fn apply(&mut self, record: &Record) {
        if let Some(message) = record::names(record) {
            self.hold(message);
        }
        self.apply_held(record);
    }

    /// Applies one record whose message, if it names one, is held
    /// already ([`hold_new`](Self::hold_new)).
    pub fn apply_held(&mut self, record: &Record) {
        match record {
            Record::Message(message) => {
                // A body alone holds nothing: it waits for a record that
                // names it (it follows at once).
                self.messages
                    .entry(message.id.0)
                    .or_insert_with(|| (Arc::clone(message), 0));
            }
            Record::Retain(message) => {
                if let Some(old) = self
                    .retained
                    .insert(Arc::clone(&message.topic), Arc::clone(message))
                {
                    self.release(&old);
                }
            }
            Record::Unretain(topic) => {
                if let Some(old) = self.retained.remove(topic) {
                    self.release(&old);
                }
            }
            Record::Session {
                client,
                username,
                expiry,
                detached_ms,
            } => {
                let session = self.sessions.entry(Arc::clone(client)).or_default();
                session.username.clone_from(username);
                session.expiry = *expiry;
                session.detached_ms = *detached_ms;
            }
            Record::SessionEnd(client) => {
                if let Some(session) = self.sessions.remove(client) {
                    self.deliveries -= session.deliveries.len();
                    for (delivery, _) in session.deliveries.values() {
                        self.release(&delivery.message);
                    }
                    if let Some((_, will)) = &session.will {
                        self.release(will);
                    }
                }
            }
            Record::Subscribe {
                client,
                filter,
                options,
                identifier,
            } => {
                if let Some(session) = self.session(client) {
                    session
                        .subscriptions
                        .insert(Arc::clone(filter), (*options, *identifier));
                }
            }
            Record::Unsubscribe { client, filter } => {
                if let Some(session) = self.session(client) {
                    session.subscriptions.remove(filter);
                }
            }
            Record::Enqueue {
                client,
                seq,
                delivery,
            } => {
                let replaced = match self.session(client) {
                    Some(session) => {
                        let old = session
                            .deliveries
                            .insert(*seq, (delivery.clone(), Stage::Queued));
                        if old.is_none() {
                            self.deliveries += 1;
                        }
                        old.map(|(old, _)| old.message)
                    }
                    // Queued for a session that ended meanwhile.
                    None => Some(Arc::clone(&delivery.message)),
                };
                if let Some(message) = replaced {
                    self.release(&message);
                }
            }
            Record::Sent {
                client,
                seq,
                packet_id,
            } => self.stage(client, *seq, |_| Stage::Sent(*packet_id)),
            Record::Released { client, seq } => self.stage(client, *seq, |stage| match stage {
                Stage::Sent(id) | Stage::Released(id) => Stage::Released(id),
                Stage::Queued => Stage::Queued,
            }),
            Record::Done { client, seq } => {
                let done = self
                    .session(client)
                    .and_then(|session| session.deliveries.remove(seq));
                match done {
                    Some((delivery, _)) => {
                        self.deliveries -= 1;
                        self.release(&delivery.message);
                    }
                    None => self.orphans += 1,
                }
            }
            Record::Qos2In { client, packet_id } => {
                if let Some(session) = self.session(client) {
                    session.qos2_in.insert(*packet_id);
                }
            }
            Record::Qos2Rel { client, packet_id } => {
                if let Some(session) = self.session(client) {
                    session.qos2_in.remove(packet_id);
                }
            }
            Record::Will {
                client,
                at_ms,
                message,
            } => {
                let old = match self.session(client) {
                    Some(session) => session
                        .will
                        .replace((*at_ms, Arc::clone(message)))
                        .map(|(_, old)| old),
                    None => Some(Arc::clone(message)),
                };
                if let Some(old) = old {
                    self.release(&old);
                }
            }
            Record::WillClear(client) => {
                let old = self.session(client).and_then(|session| session.will.take());
                if let Some((_, old)) = old {
                    self.release(&old);
                }
            }
        }
    }

    fn session(&mut self, client: &str) -> Option<&mut SessionImage> {
        let found = self.sessions.get_mut(client);
        if found.is_none() {
            self.orphans += 1;
        }
        found
    }

    fn stage(&mut self, client: &str, seq: u64, next: impl FnOnce(Stage) -> Stage) {
        let entry = self
            .session(client)
            .and_then(|session| session.deliveries.get_mut(&seq));
        match entry {
            Some((_, stage)) => *stage = next(*stage),
            None => self.orphans += 1,
        }
    }

    /// The records that rebuild this state from nothing (message bodies
    /// not included: the writer adds each before the first record naming
    /// it), for compaction.
    pub fn records(&self) -> Vec<Record> {
        let mut out = Vec::with_capacity(self.retained.len() + self.deliveries * 2);
        out.extend(self.retained.values().cloned().map(Record::Retain));
        for (client, session) in &self.sessions {
            out.push(Record::Session {
                client: Arc::clone(client),
                username: session.username.clone(),
                expiry: session.expiry,
                detached_ms: session.detached_ms,
            });
            for (filter, (options, identifier)) in &session.subscriptions {
                out.push(Record::Subscribe {
                    client: Arc::clone(client),
                    filter: Arc::clone(filter),
                    options: *options,
                    identifier: *identifier,
                });
            }
            for (seq, (delivery, stage)) in &session.deliveries {
                out.push(Record::Enqueue {
                    client: Arc::clone(client),
                    seq: *seq,
                    delivery: delivery.clone(),
                });
                match stage {
                    Stage::Queued => {}
                    Stage::Sent(packet_id) => out.push(Record::Sent {
                        client: Arc::clone(client),
                        seq: *seq,
                        packet_id: *packet_id,
                    }),
                    Stage::Released(packet_id) => {
                        out.push(Record::Sent {
                            client: Arc::clone(client),
                            seq: *seq,
                            packet_id: *packet_id,
                        });
                        out.push(Record::Released {
                            client: Arc::clone(client),
                            seq: *seq,
                        });
                    }
                }
            }
            for packet_id in &session.qos2_in {
                out.push(Record::Qos2In {
                    client: Arc::clone(client),
                    packet_id: *packet_id,
                });
            }
            if let Some((at_ms, message)) = &session.will {
                out.push(Record::Will {
                    client: Arc::clone(client),
                    at_ms: *at_ms,
                    message: Arc::clone(message),
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::hash::BuildHasher;

    use super::*;
    use crate::broker::message::MessageIdGenerator;

    /// Ids made one after the other spread over a table's buckets (low
    /// bits) and over the control bits a lookup compares first (high).
    #[test]
    fn consecutive_ids_spread_over_every_part_of_the_hash() {
        let ids = MessageIdGenerator::new("n1");
        let build = BuildHasherDefault::<IdHasher>::default();
        let hashes: Vec<u64> = (0..4096).map(|_| build.hash_one(ids.next().0)).collect();
        let low: HashSet<u64> = hashes.iter().map(|h| h & 4095).collect();
        let high: HashSet<u64> = hashes.iter().map(|h| h >> 57).collect();
        // 2,589 expected of a random function.
        assert!(low.len() > 2450, "{} low buckets of 4096", low.len());
        assert_eq!(high.len(), 128);
    }
}
