//! Routing: the subscription tree and the retained store, and the matching
//! of a message against them.
//!
//! Both structures sit behind a `RwLock`: routing takes a read lock, so
//! publishers on different threads match in parallel; SUBSCRIBE and a
//! retained PUBLISH take the write lock briefly.

use std::sync::{Arc, RwLock};
use std::time::Instant;

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
    retained: RwLock<RetainedStore<Arc<Message>>>,
    retainer: bool,
    max_retained: usize,
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
    /// An empty router; `mqtt.retainer` and `mqtt.max_retained_messages`
    /// decide what the built-in retained store keeps.
    pub fn new(config: &HostConfig) -> Self {
        Self {
            subscriptions: RwLock::new(SubscriptionTree::new()),
            retained: RwLock::new(RetainedStore::new()),
            retainer: config.mqtt.retainer,
            max_retained: config
                .mqtt
                .max_retained_messages
                .map_or(0, |n| n.get() as usize),
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

    /// Number of subscriptions.
    pub fn subscription_count(&self) -> usize {
        self.subscriptions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Hands `message` to every session with a matching subscription, once
    /// per session at the highest granted QoS, with every matching
    /// subscription identifier.
    pub fn route(&self, message: &Arc<Message>) -> Routed {
        let mut matches: Vec<Match> = Vec::new();
        {
            let tree = self.subscriptions.read().unwrap_or_else(|e| e.into_inner());
            tree.for_each_match(
                &message.topic,
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
            let congested = first.handle.deliver(Delivery {
                message: Arc::clone(message),
                qos: qos.min(message.qos),
                retain: retain_as_published && message.retain,
                subscription_ids: identifiers,
            });
            if congested && routed.congested.is_none() {
                routed.congested = Some(first.handle.clone());
            }
            routed.receivers += 1;
        }
        routed
    }

    /// Applies a retained PUBLISH to the built-in store: an empty payload
    /// clears the topic, anything else replaces it.
    pub fn retain(&self, message: &Arc<Message>) {
        if !self.retainer {
            return;
        }
        let mut store = self.retained.write().unwrap_or_else(|e| e.into_inner());
        if message.payload.is_empty() {
            store.remove(&message.topic);
            return;
        }
        let replaces = store.get(&message.topic).is_some();
        if !replaces && self.max_retained > 0 && store.len() >= self.max_retained {
            // The store is full: a new topic is refused rather than evicting
            // another publisher's message.
            tracing::warn!(topic = %escaped(&message.topic), "retained store full, message not retained");
            return;
        }
        store.insert(&message.topic, Arc::clone(message));
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
            .matching(filter);
        if found.iter().any(|m| m.is_expired(now)) {
            self.retained
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|_, m| !m.is_expired(now));
        }
        found.into_iter().filter(|m| !m.is_expired(now)).collect()
    }

    /// Number of retained messages.
    pub fn retained_count(&self) -> usize {
        self.retained
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Drops expired retained messages; returns how many.
    pub fn expire_retained(&self) -> usize {
        let now = Instant::now();
        self.retained
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, m| !m.is_expired(now))
    }
}
