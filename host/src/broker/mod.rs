//! The broker core: everything between a client's socket and another
//! client's socket.
//!
//! # Layout
//!
//! - [`connect`]: reads and checks CONNECT, then gives the connection to a
//!   new or existing session (takeover).
//! - [`session`]: one task per session; it owns the session's state
//!   (subscriptions, in-flight window, queue) and, while the client is
//!   connected, its socket.
//! - [`router`]: the subscription tree and the retained store, shared by all
//!   sessions; routing a message means matching it and handing each matching
//!   session a [`session::Delivery`].
//! - [`registry`]: client id to session, for takeover and for delivering to
//!   one client.
//! - [`topic`], [`subscriptions`], [`retained`]: topic syntax, the
//!   subscription trie, the retained-message tree.
//! - [`message`]: the routed message and its time-ordered id.
//! - [`metrics`], [`sys`]: counters and the `$SYS` topics that publish them.

pub mod connect;
pub mod connection;
pub mod message;
pub mod metrics;
pub mod registry;
pub mod retained;
pub mod router;
pub mod session;
pub mod subscriptions;
pub mod sys;
#[cfg(test)]
mod topic_gen;

/// Topic names and filters: shared with plugins, from `plugin-api`.
pub use mqhost_plugin_api::topic;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::access::decider::Decider;
use crate::config::HostConfig;
use crate::hooks::{Hooks, PublishVerdict, ServedElsewhere};
use crate::persist::{self, Store};
use message::{Message, MessageIdGenerator};
use metrics::{Dropped, Metrics};
use registry::Registry;
use router::{shared_parts, Groups, Router};

/// Identifies one session for its whole life; a new session for the same
/// client id gets a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(pub u64);

/// Why [`Broker::kick`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KickError {
    /// Not a reason code a server may send in DISCONNECT.
    InvalidReason,
    /// No client with that id is connected.
    NotConnected,
}

/// The state every session and connection shares. Each part has its own
/// owner or lock; nothing here is locked for the whole broker.
pub struct Broker {
    /// Settings in force (the host configuration).
    pub config: Arc<HostConfig>,
    /// Subscriptions and retained messages.
    pub router: Router,
    /// Which session holds which client id.
    pub registry: Registry,
    /// Counters for `$SYS` and logs.
    pub metrics: Metrics,
    /// Extensions told about clients, sessions and messages.
    pub hooks: Hooks,
    /// Who may connect and which topics each client may use.
    pub access: Decider,
    /// The durable store, with `persistence = on`.
    pub store: Option<Arc<Store>>,
    /// The broker is stopping: sessions that end now stay in the store.
    stopping: AtomicBool,
    ids: MessageIdGenerator,
    next_session: AtomicU64,
    started: Instant,
}

impl Broker {
    /// A broker with no sessions, configured by `config`, without reading
    /// its access files (see [`Broker::with_access`]).
    pub fn new(config: HostConfig) -> Arc<Self> {
        let access = Decider::without_files(&config);
        Broker::with_access(config, access)
    }

    /// A broker with no sessions, configured by `config`, deciding access
    /// with `access` (its files already read).
    pub fn with_access(config: HostConfig, access: Decider) -> Arc<Self> {
        Broker::with_store(config, access, None)
    }

    /// [`Broker::with_access`] keeping durable state in `store`.
    pub fn with_store(config: HostConfig, access: Decider, store: Option<Arc<Store>>) -> Arc<Self> {
        Arc::new(Self {
            store,
            stopping: AtomicBool::new(false),
            access,
            router: Router::new(&config),
            registry: Registry::default(),
            metrics: Metrics::default(),
            hooks: Hooks::default(),
            ids: MessageIdGenerator::new(&config.node.name),
            next_session: AtomicU64::new(1),
            started: Instant::now(),
            config: Arc::new(config),
        })
    }

    /// Marks the broker as stopping (see [`Broker::is_stopping`]).
    pub fn begin_stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    /// Whether the broker is stopping: sessions ending now are kept in
    /// the store for the next start.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// Node name, as configured.
    pub fn node_name(&self) -> &str {
        &self.config.node.name
    }

    /// A fresh message id.
    pub fn next_message_id(&self) -> message::MessageId {
        self.ids.next()
    }

    pub(crate) fn next_session_id(&self) -> SessionId {
        SessionId(self.next_session.fetch_add(1, Ordering::Relaxed))
    }

    /// Seconds since the broker started.
    pub fn uptime_secs(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// Ends the connection of the client connected as `client_id`, with
    /// `reason` in the DISCONNECT a 5.0 client gets; the session lives on
    /// by its usual rules. Returns at once: the order goes into the
    /// session's mailbox, so any thread may call it, a broker thread in a
    /// hook included.
    pub fn kick(&self, client_id: &str, reason: u8) -> Result<(), KickError> {
        if !mqhost_plugin_api::host::is_server_disconnect_reason(reason) {
            return Err(KickError::InvalidReason);
        }
        let session = self
            .registry
            .get(client_id)
            .filter(|session| session.is_online())
            .ok_or(KickError::NotConnected)?;
        session
            .send(session::SessionEvent::Disconnect { reason })
            .map_err(|_| KickError::NotConnected)
    }

    /// Publishes `message` as if a client had: `message.publish` hooks, the
    /// retained store, then every matching session. Says how many sessions
    /// it was handed to (0 also when a hook dropped it) and whether one of
    /// them is congested.
    pub fn publish(&self, message: Arc<Message>) -> router::Routed {
        {
            let local = self.metrics.local();
            local.add(&local.counters.messages_received, 1);
        }
        let mut elsewhere = ServedElsewhere::new();
        if self.hooks.message_publish(&message, &mut elsewhere) == PublishVerdict::Drop {
            self.metrics.dropped(Dropped::Hook);
            return router::Routed::default();
        }
        // Empty unless a cluster plugin left groups to other nodes: then
        // no allocation.
        let except: Vec<(&str, &str)> = elsewhere.iter().filter_map(shared_parts).collect();
        self.store_and_route(&message, Some(Groups::Except(&except)))
    }

    /// Publishes here a message another node of a cluster published and
    /// ran `message.publish` for: no hook again (the mark that keeps a
    /// forwarded message from being forwarded again), the retained store,
    /// then, with `route`, this node's matching sessions (`groups`: which
    /// of its share groups).
    pub fn publish_local(
        &self,
        message: Arc<Message>,
        route: Option<Groups<'_>>,
    ) -> router::Routed {
        self.store_and_route(&message, route)
    }

    /// The retained store, then (with `route`) every matching session.
    fn store_and_route(&self, message: &Arc<Message>, route: Option<Groups<'_>>) -> router::Routed {
        let mut stored = false;
        if message.retain {
            stored = self.router.retain(message);
            if stored {
                self.record_retained(message);
            } else {
                self.metrics
                    .retained_not_stored
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
        let Some(groups) = route else {
            return router::Routed::default();
        };
        let routed = self.router.route(message, groups);
        // A retained message kept for later subscribers is not lost.
        if routed.receivers == 0 && !stored {
            self.metrics.dropped(Dropped::NoSubscriber);
        }
        routed
    }
}

impl Broker {
    /// Records a retained PUBLISH the built-in store took: the topic's new
    /// message, or none for an empty payload. `$SYS` is made anew at start.
    fn record_retained(&self, message: &Arc<Message>) {
        let Some(store) = self.store.as_deref() else {
            return;
        };
        if !self.router.keeps_retained() || message.topic.starts_with("$SYS/") {
            return;
        }
        store.submit(if message.payload.is_empty() {
            persist::Record::Unretain(Arc::clone(&message.topic))
        } else {
            persist::Record::Retain(Arc::clone(message))
        });
    }

    /// Removes the retained message of `topic` (an administrator's order)
    /// from the router and the store; true when there was one.
    pub fn remove_retained(&self, topic: &str) -> bool {
        let present = self.router.retained_remove(topic);
        if let Some(store) = self.store.as_deref() {
            store.submit(persist::Record::Unretain(Arc::from(topic)));
        }
        present
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use mqhost_codec::{decode, encode, Disconnect, Packet, ProtocolVersion};
    use mqhost_plugin_api::host::is_server_disconnect_reason;

    use super::*;

    /// The codes `kick` accepts are the codec's DISCONNECT codes but the
    /// client's 0x04: every one of them goes out and reads back as sent.
    #[test]
    fn kick_accepts_the_disconnect_codes_a_server_may_send() {
        for code in 0..=u8::MAX {
            let packet = Packet::Disconnect(Disconnect {
                reason: code,
                properties: Default::default(),
            });
            let mut buf = BytesMut::new();
            encode(&packet, ProtocolVersion::V5, &mut buf).unwrap();
            let read_back = decode(&mut buf, Some(ProtocolVersion::V5), u32::MAX);
            let disconnect_code = matches!(read_back, Ok(Some(p)) if p == packet);
            assert_eq!(
                is_server_disconnect_reason(code),
                disconnect_code && code != mqhost_codec::reason::DISCONNECT_WITH_WILL,
                "{code:#04x}"
            );
        }
    }

    #[test]
    fn kick_refuses_a_bad_code_before_looking_for_the_client() {
        let broker = Broker::new(HostConfig::default());
        assert_eq!(broker.kick("nobody", 0x04), Err(KickError::InvalidReason));
        assert_eq!(broker.kick("nobody", 0x86), Err(KickError::InvalidReason));
        assert_eq!(broker.kick("nobody", 0x98), Err(KickError::NotConnected));
    }
}
