//! Hook points: where the broker tells extensions what happens to clients,
//! sessions and messages, and where `message.publish` may drop a message.
//!
//! The broker calls [`Hooks`] on its hot paths, so a broker with no handler
//! registered pays one relaxed atomic load per hook point.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use mqhost_codec::{ProtocolVersion, QoS, SubscriptionOptions};

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

/// The registered handlers, called in registration order.
#[derive(Default)]
pub struct Hooks {
    active: AtomicBool,
    handlers: RwLock<Arc<Vec<Arc<dyn HookHandler>>>>,
}

impl Hooks {
    /// Adds a handler; it sees events from now on.
    pub fn register(&self, handler: Arc<dyn HookHandler>) {
        let mut guard = self.handlers.write().unwrap_or_else(|e| e.into_inner());
        let mut list = Vec::clone(&guard);
        list.push(handler);
        *guard = Arc::new(list);
        self.active.store(true, Ordering::Release);
    }

    /// The current handler list, or None when there is none (the fast path).
    fn current(&self) -> Option<Arc<Vec<Arc<dyn HookHandler>>>> {
        if !self.active.load(Ordering::Relaxed) {
            return None;
        }
        let guard = self.handlers.read().unwrap_or_else(|e| e.into_inner());
        Some(Arc::clone(&guard))
    }

    fn each(&self, mut call: impl FnMut(&dyn HookHandler)) {
        if let Some(list) = self.current() {
            for handler in list.iter() {
                call(handler.as_ref());
            }
        }
    }

    pub fn client_connected(&self, client: &ClientInfo) {
        self.each(|h| h.client_connected(client));
    }

    pub fn client_disconnected(&self, client: &ClientInfo, reason: &str) {
        self.each(|h| h.client_disconnected(client, reason));
    }

    pub fn session_created(&self, client_id: &str, username: Option<&str>, resumed: bool) {
        self.each(|h| h.session_created(client_id, username, resumed));
    }

    pub fn session_subscribed(
        &self,
        client_id: &str,
        filter: &str,
        options: SubscriptionOptions,
        is_new: bool,
    ) {
        self.each(|h| h.session_subscribed(client_id, filter, options, is_new));
    }

    pub fn session_unsubscribed(&self, client_id: &str, filter: &str) {
        self.each(|h| h.session_unsubscribed(client_id, filter));
    }

    /// Drop wins: the first handler that drops the message ends the call.
    pub fn message_publish(&self, message: &Arc<Message>) -> PublishVerdict {
        if let Some(list) = self.current() {
            for handler in list.iter() {
                if handler.message_publish(message) == PublishVerdict::Drop {
                    return PublishVerdict::Drop;
                }
            }
        }
        PublishVerdict::Continue
    }

    pub fn message_delivered(&self, client_id: &str, message: &Arc<Message>, qos: QoS) {
        self.each(|h| h.message_delivered(client_id, message, qos));
    }

    pub fn message_acked(&self, client_id: &str, message: &Arc<Message>, qos: QoS) {
        self.each(|h| h.message_acked(client_id, message, qos));
    }
}
