//! Hook points: where the broker tells extensions what happens to clients,
//! sessions and messages, and where `message.publish` may drop a message.
//!
//! The broker calls [`Hooks`] on its hot paths, so a hook point no handler
//! registered for costs one relaxed atomic load.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use mqhost_codec::{ProtocolVersion, QoS, SubscriptionOptions};
pub use mqhost_plugin_api::HookSet;

use crate::broker::message::Message;

/// `client.connected`: a client's CONNECT was accepted.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub client_id: Arc<str>,
    pub username: Option<String>,
    pub peer: SocketAddr,
    pub protocol: ProtocolVersion,
    pub clean_start: bool,
    pub keep_alive: u16,
    /// Unix seconds at which the connection was accepted.
    pub connected_at: u64,
}

/// What one handler says of a message at `message.publish`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishVerdict {
    /// Route and store the message as usual.
    Continue,
    /// Neither route nor store it.
    Drop,
}

/// A receiver of hook events. Every method has a no-op default, so a handler
/// implements only the points it wants. Methods must return at once.
pub trait HookHandler: Send + Sync {
    fn client_connected(&self, _client: &ClientInfo) {}
    fn client_disconnected(&self, _client: &ClientInfo, _reason: &str) {}
    fn session_created(&self, _client_id: &str, _username: Option<&str>, _resumed: bool) {}
    fn session_subscribed(
        &self,
        _client_id: &str,
        _filter: &str,
        _options: SubscriptionOptions,
        _is_new: bool,
    ) {
    }
    fn session_unsubscribed(&self, _client_id: &str, _filter: &str) {}
    fn message_publish(&self, _message: &Arc<Message>) -> PublishVerdict {
        PublishVerdict::Continue
    }
    fn message_delivered(&self, _client_id: &str, _message: &Arc<Message>, _qos: QoS) {}
    fn message_acked(&self, _client_id: &str, _message: &Arc<Message>, _qos: QoS) {}
}

/// Identifies a registered handler, to remove or replace it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HandlerId(u64);

struct Registered {
    id: HandlerId,
    points: HookSet,
    handler: Arc<dyn HookHandler>,
}

/// The registered handlers, called in registration order, each only at the
/// hook points it registered for.
#[derive(Default)]
pub struct Hooks {
    /// Union of every handler's points: a hook point nobody wants costs one
    /// relaxed load.
    wanted: AtomicU32,
    handlers: RwLock<Arc<Vec<Registered>>>,
    next_id: AtomicU64,
}

impl Hooks {
    /// Adds a handler for `points`; it sees events from now on.
    pub fn register(&self, points: HookSet, handler: Arc<dyn HookHandler>) -> HandlerId {
        let id = HandlerId(self.next_id.fetch_add(1, Ordering::Relaxed));
        self.update(|list| {
            list.push(Registered {
                id,
                points,
                handler,
            })
        });
        id
    }

    /// Removes a handler; true when it was registered. Calls already under
    /// way may still finish.
    pub fn unregister(&self, id: HandlerId) -> bool {
        let mut found = false;
        self.update(|list| {
            let before = list.len();
            list.retain(|r| r.id != id);
            found = list.len() != before;
        });
        found
    }

    /// Puts a new handler in the place of `id` in one step, so that every
    /// event goes to exactly one of the two.
    pub fn replace(
        &self,
        id: HandlerId,
        points: HookSet,
        handler: Arc<dyn HookHandler>,
    ) -> Option<HandlerId> {
        let new_id = HandlerId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let mut found = false;
        self.update(|list| {
            if let Some(slot) = list.iter_mut().find(|r| r.id == id) {
                *slot = Registered {
                    id: new_id,
                    points,
                    handler,
                };
                found = true;
            }
        });
        found.then_some(new_id)
    }

    /// Changes the points a handler is called at.
    pub fn set_points(&self, id: HandlerId, points: HookSet) {
        self.update(|list| {
            if let Some(slot) = list.iter_mut().find(|r| r.id == id) {
                slot.points = points;
            }
        });
    }

    /// Copy-on-write: readers keep the list they started with.
    fn update(&self, change: impl FnOnce(&mut Vec<Registered>)) {
        let mut guard = self.handlers.write().unwrap_or_else(|e| e.into_inner());
        let mut list: Vec<Registered> = guard
            .iter()
            .map(|r| Registered {
                id: r.id,
                points: r.points,
                handler: Arc::clone(&r.handler),
            })
            .collect();
        change(&mut list);
        let wanted = list.iter().fold(0, |acc, r| acc | r.points.0);
        *guard = Arc::new(list);
        self.wanted.store(wanted, Ordering::Release);
    }

    /// The handler list when someone wants `point`.
    fn current(&self, point: HookSet) -> Option<Arc<Vec<Registered>>> {
        if self.wanted.load(Ordering::Relaxed) & point.0 == 0 {
            return None;
        }
        let guard = self.handlers.read().unwrap_or_else(|e| e.into_inner());
        Some(Arc::clone(&guard))
    }

    fn each(&self, point: HookSet, mut call: impl FnMut(&dyn HookHandler)) {
        if let Some(list) = self.current(point) {
            for registered in list.iter().filter(|r| r.points.contains(point)) {
                call(registered.handler.as_ref());
            }
        }
    }

    pub fn client_connected(&self, client: &ClientInfo) {
        self.each(HookSet::CLIENT_CONNECTED, |h| h.client_connected(client));
    }

    pub fn client_disconnected(&self, client: &ClientInfo, reason: &str) {
        self.each(HookSet::CLIENT_DISCONNECTED, |h| {
            h.client_disconnected(client, reason)
        });
    }

    pub fn session_created(&self, client_id: &str, username: Option<&str>, resumed: bool) {
        self.each(HookSet::SESSION_CREATED, |h| {
            h.session_created(client_id, username, resumed)
        });
    }

    pub fn session_subscribed(
        &self,
        client_id: &str,
        filter: &str,
        options: SubscriptionOptions,
        is_new: bool,
    ) {
        self.each(HookSet::SESSION_SUBSCRIBED, |h| {
            h.session_subscribed(client_id, filter, options, is_new)
        });
    }

    pub fn session_unsubscribed(&self, client_id: &str, filter: &str) {
        self.each(HookSet::SESSION_UNSUBSCRIBED, |h| {
            h.session_unsubscribed(client_id, filter)
        });
    }

    /// Drop wins: the first handler that drops the message ends the call.
    pub fn message_publish(&self, message: &Arc<Message>) -> PublishVerdict {
        if let Some(list) = self.current(HookSet::MESSAGE_PUBLISH) {
            for registered in list
                .iter()
                .filter(|r| r.points.contains(HookSet::MESSAGE_PUBLISH))
            {
                if registered.handler.message_publish(message) == PublishVerdict::Drop {
                    return PublishVerdict::Drop;
                }
            }
        }
        PublishVerdict::Continue
    }

    pub fn message_delivered(&self, client_id: &str, message: &Arc<Message>, qos: QoS) {
        self.each(HookSet::MESSAGE_DELIVERED, |h| {
            h.message_delivered(client_id, message, qos)
        });
    }

    pub fn message_acked(&self, client_id: &str, message: &Arc<Message>, qos: QoS) {
        self.each(HookSet::MESSAGE_ACKED, |h| {
            h.message_acked(client_id, message, qos)
        });
    }
}
