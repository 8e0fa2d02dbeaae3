//! Hook points: where the broker tells extensions what happens to clients,
//! sessions and messages, where `message.publish` may drop a message, and
//! where `client.authenticate` and `client.authorize` decide access
//! ([`decide`]).
//!
//! Handlers are called in rank order: higher `plugin.priority` first, ties
//! by name.
//!
//! The broker calls [`Hooks`] on its hot paths, so a hook point no handler
//! registered for costs one relaxed atomic load, and one that has handlers
//! costs no atomic read-modify-write on the broker's side: each thread
//! keeps the handler list it last used, and takes the lock only when a
//! generation number says the list changed.

use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use mqhost_codec::{ProtocolVersion, QoS, SubscriptionOptions};
pub use mqhost_plugin_api::{HookSet, ServedElsewhere};

use crate::broker::message::Message;
use crate::config::listeners::ListenerSpec;

pub mod decide;

use decide::{Answer, AuthenticateRequest, AuthorizeRequest, Decision, ResumeRequest};

/// `client.connected`: a client's CONNECT was accepted.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub client_id: Arc<str>,
    pub username: Option<String>,
    pub peer: SocketAddr,
    /// The listener the client came in on.
    pub listener: Arc<ListenerSpec>,
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
    /// May drop the message, and may name in `elsewhere` the shared
    /// subscriptions another node of a cluster serves for it.
    fn message_publish(
        &self,
        _message: &Arc<Message>,
        _elsewhere: &mut ServedElsewhere,
    ) -> PublishVerdict {
        PublishVerdict::Continue
    }
    fn message_delivered(&self, _client_id: &str, _message: &Arc<Message>, _qos: QoS) {}
    fn message_acked(&self, _client_id: &str, _message: &Arc<Message>, _qos: QoS) {}
    /// `client.authenticate`: answer now, or later through the channel.
    fn authenticate(&self, _request: &AuthenticateRequest) -> Answer {
        Answer::Now(Decision::Ignore)
    }
    /// `client.authorize` (and, for handlers that opted in, reads).
    fn authorize(&self, _request: &AuthorizeRequest) -> Answer {
        Answer::Now(Decision::Ignore)
    }
    /// `session.resuming`: done now, or later through the channel.
    fn resuming(&self, _request: &ResumeRequest) -> Answer {
        Answer::Now(Decision::Ignore)
    }
}

/// Where a handler stands among the others: higher priority first, ties
/// by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rank {
    pub priority: i64,
    /// The handler's name, for the order and for logs.
    pub name: Arc<str>,
}

/// Identifies a registered handler, to remove or replace it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HandlerId(u64);

struct Registered {
    id: HandlerId,
    points: HookSet,
    rank: Rank,
    handler: Arc<dyn HookHandler>,
}

/// The registered handlers, called in rank order, each only at the hook
/// points it registered for.
pub struct Hooks {
    /// Union of every handler's points: a hook point nobody wants costs one
    /// relaxed load.
    wanted: AtomicU32,
    handlers: RwLock<Arc<Vec<Registered>>>,
    /// Bumped by every change of `handlers`, after it: a thread whose
    /// cached list has this generation has the current list.
    generation: AtomicU64,
    /// Tells these hooks from another broker's in the same process (tests
    /// run several), for the per-thread cache.
    instance: u64,
    next_id: AtomicU64,
}

impl Default for Hooks {
    fn default() -> Self {
        static INSTANCES: AtomicU64 = AtomicU64::new(0);
        Hooks {
            wanted: AtomicU32::new(0),
            handlers: RwLock::default(),
            generation: AtomicU64::new(0),
            instance: INSTANCES.fetch_add(1, Ordering::Relaxed),
            next_id: AtomicU64::new(0),
        }
    }
}

/// A thread's copy of a handler list, and which list it is.
struct Cached {
    instance: u64,
    generation: u64,
    list: Arc<Vec<Registered>>,
}

thread_local! {
    /// The handler list this thread used last. A hook call takes it out
    /// while it runs (a nested call, from a handler that publishes, finds
    /// none and takes the lock) and puts it back after.
    static CACHED: Cell<Option<Cached>> = const { Cell::new(None) };
}

impl Hooks {
    /// Adds a handler for `points`; it sees events from now on.
    pub fn register(
        &self,
        points: HookSet,
        rank: Rank,
        handler: Arc<dyn HookHandler>,
    ) -> HandlerId {
        let id = HandlerId(self.next_id.fetch_add(1, Ordering::Relaxed));
        self.update(|list| {
            list.push(Registered {
                id,
                points,
                rank,
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
        rank: Rank,
        handler: Arc<dyn HookHandler>,
    ) -> Option<HandlerId> {
        let new_id = HandlerId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let mut found = false;
        self.update(|list| {
            if let Some(slot) = list.iter_mut().find(|r| r.id == id) {
                *slot = Registered {
                    id: new_id,
                    points,
                    rank,
                    handler,
                };
                found = true;
            }
        });
        found.then_some(new_id)
    }

    /// Changes the points a handler is called at, and its rank.
    pub fn set_points(&self, id: HandlerId, points: HookSet, rank: Rank) {
        self.update(|list| {
            if let Some(slot) = list.iter_mut().find(|r| r.id == id) {
                slot.points = points;
                slot.rank = rank;
            }
        });
    }

    /// Moves on whenever the handler list changes: decisions cached under
    /// an older generation are stale.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Copy-on-write: readers keep the list they started with.
    fn update(&self, change: impl FnOnce(&mut Vec<Registered>)) {
        let mut guard = self.handlers.write().unwrap_or_else(|e| e.into_inner());
        let mut list: Vec<Registered> = guard
            .iter()
            .map(|r| Registered {
                id: r.id,
                points: r.points,
                rank: r.rank.clone(),
                handler: Arc::clone(&r.handler),
            })
            .collect();
        change(&mut list);
        // Stable: equal ranks keep their registration order.
        list.sort_by(|a, b| {
            b.rank
                .priority
                .cmp(&a.rank.priority)
                .then_with(|| a.rank.name.cmp(&b.rank.name))
        });
        let wanted = list.iter().fold(0, |acc, r| acc | r.points.0);
        *guard = Arc::new(list);
        self.generation.fetch_add(1, Ordering::Release);
        self.wanted.store(wanted, Ordering::Release);
    }

    /// Whether any handler is registered for `point`: one relaxed load.
    pub fn wants(&self, point: HookSet) -> bool {
        self.wanted.load(Ordering::Relaxed) & point.0 != 0
    }

    /// Runs `call` on the current handler list when someone wants `point`.
    fn with_list<T>(
        &self,
        point: HookSet,
        call: impl FnOnce(&Arc<Vec<Registered>>) -> T,
    ) -> Option<T> {
        if !self.wants(point) {
            return None;
        }
        let generation = self.generation.load(Ordering::Acquire);
        let cached = match CACHED.with(Cell::take) {
            Some(c) if c.instance == self.instance && c.generation == generation => c,
            _ => Cached {
                instance: self.instance,
                generation,
                list: Arc::clone(&self.handlers.read().unwrap_or_else(|e| e.into_inner())),
            },
        };
        let result = call(&cached.list);
        CACHED.with(|c| c.set(Some(cached)));
        Some(result)
    }

    fn each(&self, point: HookSet, mut call: impl FnMut(&dyn HookHandler)) {
        self.with_list(point, |list| {
            for registered in list.iter().filter(|r| r.points.contains(point)) {
                call(registered.handler.as_ref());
            }
        });
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
    /// The shared subscriptions the handlers say other nodes serve add up
    /// in `elsewhere`.
    pub fn message_publish(
        &self,
        message: &Arc<Message>,
        elsewhere: &mut ServedElsewhere,
    ) -> PublishVerdict {
        self.with_list(HookSet::MESSAGE_PUBLISH, |list| {
            let dropped = list
                .iter()
                .filter(|r| r.points.contains(HookSet::MESSAGE_PUBLISH))
                .any(|r| r.handler.message_publish(message, elsewhere) == PublishVerdict::Drop);
            if dropped {
                PublishVerdict::Drop
            } else {
                PublishVerdict::Continue
            }
        })
        .unwrap_or(PublishVerdict::Continue)
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
