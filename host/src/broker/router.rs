//! Routing: the subscription tree and the retained store, and the matching
//! of a message against them.
//!
//! Both structures sit behind a `RwLock`: routing takes a read lock, so
//! publishers on different threads match in parallel; SUBSCRIBE and a
//! retained PUBLISH take the write lock briefly.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use mqhost_codec::{QoS, SubscriptionOptions};

use super::message::Message;
use super::retained::RetainedStore;
use super::session::{Delivery, SessionHandle};
use super::subscriptions::SubscriptionTree;
use super::topic::SharedFilter;
use super::SessionId;
use crate::config::HostConfig;
use crate::escape::escaped;

/// One session's subscription to one filter, as the tree stores it.
#[derive(Clone)]
pub struct Subscriber {
    /// Where matching messages go.
    pub session: SessionHandle,
    /// Options from the SUBSCRIBE (granted QoS in `qos`).
    pub options: SubscriptionOptions,
    /// 5.0 Subscription Identifier, sent back with every match.
    pub identifier: Option<u32>,
}

/// What routing a message did.
#[derive(Default)]
pub struct Routed {
    /// Sessions it was handed to.
    pub receivers: usize,
    /// An online session whose backlog is above its high-water mark: the
    /// publisher should wait for it before routing more.
    pub congested: Option<SessionHandle>,
}

/// Subscriptions and retained messages of the whole broker.
pub struct Router {
    subscriptions: RwLock<SubscriptionTree<SessionId, Subscriber>>,
    retained: RwLock<Retained>,
    retainer: bool,
    /// `mqtt.max_retained_messages`; 0 is no limit.
    max_retained: usize,
    /// `mqtt.max_retained_bytes`; 0 is no limit.
    max_retained_bytes: u64,
    /// `mqtt.max_retained_payload_size`; 0 is no limit.
    max_retained_payload: u64,
}

/// The retained store with the bytes it holds, kept together under one
/// lock so that the total is always that of the store.
#[derive(Default)]
struct Retained {
    store: RetainedStore<Arc<Message>>,
    /// Topic and payload bytes of every stored message (subtractions
    /// saturate only as a guard: the total always covers what it removes).
    bytes: u64,
    /// When a message not stored was last logged as a warning: a publisher
    /// flooding the limits gets one line a second, the rest at debug.
    last_warning: Option<Instant>,
}

/// What a retained message counts against `mqtt.max_retained_bytes`.
fn retained_cost(message: &Message) -> u64 {
    (message.topic.len() as u64).saturating_add(message.payload.len() as u64)
}

impl Retained {
    fn insert(&mut self, message: &Arc<Message>) {
        self.bytes += retained_cost(message);
        if let Some(old) = self.store.insert(&message.topic, Arc::clone(message)) {
            self.bytes = self.bytes.saturating_sub(retained_cost(&old));
        }
    }

    fn remove(&mut self, topic: &str) {
        if let Some(old) = self.store.remove(topic) {
            self.bytes = self.bytes.saturating_sub(retained_cost(&old));
        }
    }

    /// Drops expired messages; returns how many.
    fn expire(&mut self, now: Instant) -> usize {
        let mut freed = 0;
        let removed = self.store.retain(|_, m| {
            let expired = m.is_expired(now);
            if expired {
                freed += retained_cost(m);
            }
            !expired
        });
        self.bytes = self.bytes.saturating_sub(freed);
        removed
    }

    /// Logs a retained message that was not stored: a warning at most
    /// once a second, debug otherwise.
    fn log_not_stored(&mut self, topic: &str, why: &'static str) {
        let now = Instant::now();
        let quiet = self
            .last_warning
            .is_some_and(|last| now.duration_since(last) < Duration::from_secs(1));
        if quiet {
            tracing::debug!(topic = %escaped(topic), limit = why, "retained message not stored");
        } else {
            self.last_warning = Some(now);
            tracing::warn!(topic = %escaped(topic), limit = why, "retained message not stored");
        }
    }
}

/// Which of this node's share groups a message goes to: each is a group
/// and its filter, the parts of `$share/{group}/{filter}`.
#[derive(Clone, Copy, Debug)]
pub enum Groups<'a> {
    /// Every matching group: the message is this node's alone to serve.
    All,
    /// Every matching group but these, which other nodes of a cluster
    /// serve for this message.
    Except(&'a [(&'a str, &'a str)]),
    /// Only these: the node where the message was published chose this
    /// one to serve them.
    Only(&'a [(&'a str, &'a str)]),
}

/// The group and filter of `$share/{group}/{filter}`; None for a name
/// that is not a valid shared subscription.
pub fn shared_parts(name: &str) -> Option<(&str, &str)> {
    match super::topic::parse_shared(name) {
        Ok(Some(shared)) => Some((shared.group, shared.filter)),
        _ => None,
    }
}

impl Groups<'_> {
    fn serves(&self, group: &str, filter: &str) -> bool {
        let listed = |list: &[(&str, &str)]| list.contains(&(group, filter));
        match self {
            Groups::All => true,
            Groups::Except(list) => !listed(list),
            Groups::Only(list) => listed(list),
        }
    }
}

/// One session's share of a message before merging its matches.
struct Match {
    session: SessionId,
    handle: SessionHandle,
    qos: QoS,
    retain_as_published: bool,
    identifier: Option<u32>,
}

impl Router {
    /// An empty router; `mqtt.retainer` and the `mqtt.max_retained_*`
    /// limits decide what the built-in retained store keeps.
    pub fn new(config: &HostConfig) -> Self {
        Self {
            subscriptions: RwLock::new(SubscriptionTree::new()),
            retained: RwLock::new(Retained::default()),
            retainer: config.mqtt.retainer,
            max_retained: config
                .mqtt
                .max_retained_messages
                .map_or(0, |n| n.get() as usize),
            max_retained_bytes: config.mqtt.max_retained_bytes.map_or(0, |n| n.get()),
            max_retained_payload: config.mqtt.max_retained_payload_size.map_or(0, |n| n.get()),
        }
    }

    /// Adds or replaces a subscription; true when it is new.
    pub fn subscribe(
        &self,
        filter: &str,
        shared: Option<SharedFilter<'_>>,
        sub: Subscriber,
    ) -> bool {
        let id = sub.session.id();
        let mut tree = self
            .subscriptions
            .write()
            .unwrap_or_else(|e| e.into_inner());
        match shared {
            Some(s) => tree.insert_shared(s.group, s.filter, id, sub).is_none(),
            None => tree.insert(filter, id, sub).is_none(),
        }
    }

    /// Removes a subscription; true when it existed.
    pub fn unsubscribe(
        &self,
        filter: &str,
        shared: Option<SharedFilter<'_>>,
        session: SessionId,
    ) -> bool {
        let mut tree = self
            .subscriptions
            .write()
            .unwrap_or_else(|e| e.into_inner());
        match shared {
            Some(s) => tree.remove_shared(s.group, s.filter, &session).is_some(),
            None => tree.remove(filter, &session).is_some(),
        }
    }

    /// The options and identifier of session `session`'s subscription to
    /// `filter` (as the client wrote it, `$share/...` included), if it has
    /// one.
    pub fn subscription(
        &self,
        filter: &str,
        session: SessionId,
    ) -> Option<(SubscriptionOptions, Option<u32>)> {
        let tree = self.subscriptions.read().unwrap_or_else(|e| e.into_inner());
        let found = match super::topic::parse_shared(filter).ok()? {
            Some(s) => tree.get_shared(s.group, s.filter, &session),
            None => tree.get(filter, &session),
        };
        found.map(|sub| (sub.options, sub.identifier))
    }

    /// Number of subscriptions.
    pub fn subscription_count(&self) -> usize {
        self.subscriptions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Hands `message` to every session with a matching subscription, once
    /// per session at the highest granted QoS, with every matching
    /// subscription identifier; of the share groups, to one member of each
    /// in `groups`.
    pub fn route(&self, message: &Arc<Message>, groups: Groups<'_>) -> Routed {
        let mut matches: Vec<Match> = Vec::new();
        {
            let tree = self.subscriptions.read().unwrap_or_else(|e| e.into_inner());
            tree.for_each_match_serving(
                &message.topic,
                |group, filter| groups.serves(group, filter),
                |_, sub| sub.session.is_online(),
                |id, sub| {
                    if sub.options.no_local && message.from_session == Some(*id) {
                        return;
                    }
                    matches.push(Match {
                        session: *id,
                        handle: sub.session.clone(),
                        qos: sub.options.qos,
                        retain_as_published: sub.options.retain_as_published,
                        identifier: sub.identifier,
                    });
                },
            );
        }
        if matches.len() > 1 {
            matches.sort_unstable_by_key(|m| m.session);
        }
        let mut routed = Routed::default();
        let mut rest = matches.into_iter().peekable();
        while let Some(first) = rest.next() {
            let mut qos = first.qos;
            let mut retain_as_published = first.retain_as_published;
            let mut identifiers: Vec<u32> = first.identifier.into_iter().collect();
            while let Some(next) = rest.next_if(|m| m.session == first.session) {
                qos = qos.max(next.qos);
                retain_as_published |= next.retain_as_published;
                identifiers.extend(next.identifier);
            }
            let congested = first.handle.deliver(Delivery::new(
                Arc::clone(message),
                qos.min(message.qos),
                retain_as_published && message.retain,
                identifiers,
            ));
            if congested && routed.congested.is_none() {
                routed.congested = Some(first.handle.clone());
            }
            routed.receivers += 1;
        }
        routed
    }

    /// Applies a retained PUBLISH to the built-in store: an empty payload
    /// clears the topic, anything else replaces it. False when a limit
    /// kept the message out (it is still routed: only storing is refused).
    pub fn retain(&self, message: &Arc<Message>) -> bool {
        self.store_retained(message, true)
    }

    /// Whether the built-in retained store is on (`mqtt.retainer`).
    pub fn keeps_retained(&self) -> bool {
        self.retainer
    }

    /// A retained message found in the durable store at start, outside
    /// the limits (it was within them when it was stored).
    pub fn retain_restored(&self, message: &Arc<Message>) {
        self.store_retained(message, false);
    }

    /// [`Router::retain`] for the broker's own `$SYS` figures, outside
    /// the limits: they are few and small, and publishers filling the
    /// store must not make them vanish.
    pub fn retain_own(&self, message: &Arc<Message>) {
        self.store_retained(message, false);
    }

    fn store_retained(&self, message: &Arc<Message>, limited: bool) -> bool {
        if !self.retainer {
            return true;
        }
        let mut retained = self.retained.write().unwrap_or_else(|e| e.into_inner());
        if message.payload.is_empty() {
            retained.remove(&message.topic);
            return true;
        }
        if !limited {
            retained.insert(message);
            return true;
        }
        let replaced = retained.store.get(&message.topic).map(|m| retained_cost(m));
        let bytes_after = retained
            .bytes
            .saturating_sub(replaced.unwrap_or(0))
            .saturating_add(retained_cost(message));
        let refused = if self.max_retained_payload > 0
            && message.payload.len() as u64 > self.max_retained_payload
        {
            Some("mqtt.max_retained_payload_size")
        } else if replaced.is_none()
            && self.max_retained > 0
            && retained.store.len() >= self.max_retained
        {
            // A new topic is refused rather than evicting another
            // publisher's message.
            Some("mqtt.max_retained_messages")
        } else if self.max_retained_bytes > 0 && bytes_after > self.max_retained_bytes {
            Some("mqtt.max_retained_bytes")
        } else {
            None
        };
        let Some(why) = refused else {
            retained.insert(message);
            return true;
        };
        // The message the topic had is no longer its last: kept, it would
        // be handed to new subscribers as the current one.
        retained.remove(&message.topic);
        retained.log_not_stored(&message.topic, why);
        false
    }

    /// Retained messages matching `filter`, expired ones left out (and removed).
    pub fn retained_for(&self, filter: &str) -> Vec<Arc<Message>> {
        if !self.retainer {
            return Vec::new();
        }
        let now = Instant::now();
        let found = self
            .retained
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .store
            .matching(filter);
        if found.iter().any(|m| m.is_expired(now)) {
            self.retained
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .expire(now);
        }
        found.into_iter().filter(|m| !m.is_expired(now)).collect()
    }

    /// The retained message of exactly `topic`, unless it expired.
    pub fn retained_get(&self, topic: &str) -> Option<Arc<Message>> {
        let retained = self.retained.read().unwrap_or_else(|e| e.into_inner());
        let message = retained.store.get(topic)?;
        (!message.is_expired(Instant::now())).then(|| Arc::clone(message))
    }

    /// Removes the retained message of exactly `topic` (an administrator's
    /// order: nothing is published); true when there was one.
    pub fn retained_remove(&self, topic: &str) -> bool {
        let mut retained = self.retained.write().unwrap_or_else(|e| e.into_inner());
        let present = retained
            .store
            .get(topic)
            .is_some_and(|m| !m.is_expired(Instant::now()));
        retained.remove(topic);
        present
    }

    /// Number of retained messages.
    pub fn retained_count(&self) -> usize {
        self.retained
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .store
            .len()
    }

    /// Topic and payload bytes of the retained messages.
    pub fn retained_bytes(&self) -> u64 {
        self.retained
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .bytes
    }

    /// Drops expired retained messages; returns how many.
    pub fn expire_retained(&self) -> usize {
        self.retained
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .expire(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU64;

    use bytes::Bytes;

    use super::*;
    use crate::broker::message::MessageId;

    fn retained(topic: &str, payload: &[u8], expires_at: Option<Instant>) -> Arc<Message> {
        Arc::new(Message {
            id: MessageId(0),
            topic: Arc::from(topic),
            payload: Bytes::copy_from_slice(payload),
            qos: QoS::AtMostOnce,
            retain: true,
            properties: Default::default(),
            from: Arc::from("test"),
            from_session: None,
            timestamp_ms: 0,
            expires_at,
        })
    }

    fn router(max_bytes: u64, max_payload: u64) -> Router {
        let mut config = HostConfig::default();
        config.mqtt.max_retained_bytes = NonZeroU64::new(max_bytes);
        config.mqtt.max_retained_payload_size = NonZeroU64::new(max_payload);
        Router::new(&config)
    }

    /// The byte total follows every way a message enters or leaves.
    #[test]
    fn retained_bytes_follow_inserts_replacements_and_removals() {
        let router = router(0, 0);
        assert!(router.retain(&retained("a", b"1234", None)));
        assert!(router.retain(&retained("b/c", b"12", None)));
        assert_eq!(router.retained_bytes(), 5 + 5);
        assert!(router.retain(&retained("a", b"1", None)));
        assert_eq!(router.retained_bytes(), 2 + 5);
        assert!(router.retain(&retained("a", b"", None)));
        assert_eq!(router.retained_bytes(), 5);
        let past = Instant::now();
        assert!(router.retain(&retained("d", b"123", Some(past))));
        assert_eq!(router.retained_bytes(), 5 + 4);
        assert_eq!(router.expire_retained(), 1);
        assert_eq!(router.retained_bytes(), 5);
    }

    /// Beyond a limit a message is not stored, and the one it would have
    /// replaced is gone; within it, a replacement that frees room fits.
    #[test]
    fn retained_limits_keep_messages_out() {
        let router = router(10, 4);
        assert!(!router.retain(&retained("a", b"12345", None)));
        assert!(router.retain(&retained("a", b"1234", None)));
        assert!(router.retain(&retained("b", b"1234", None)));
        assert!(!router.retain(&retained("c", b"1", None)));
        assert!(router.retain(&retained("b", b"12", None)));
        assert!(router.retain(&retained("c", b"1", None)));
        assert_eq!(router.retained_bytes(), 5 + 3 + 2);
        assert!(!router.retain(&retained("a", b"12345", None)));
        assert_eq!(router.retained_count(), 2);
        assert_eq!(router.retained_bytes(), 3 + 2);
        assert!(router.retained_for("a").is_empty());
        // The broker's own figures go in all the same.
        router.retain_own(&retained("$SYS/x", b"123456", None));
        assert_eq!(router.retained_count(), 3);
    }
}
