//! What the admin API reads of a session without asking it: who its
//! client is (the last connection's [`ClientInfo`]) and a few figures the
//! session stores as they change (subscriptions, messages in flight, its
//! expiry, when its client left). Relaxed stores at the moments they
//! change, so a session pays nothing between them, and listing thousands
//! of sessions wakes none of them. Its subscriptions themselves are asked
//! for through the mailbox ([`SessionEvent::Subscriptions`]): one session
//! at a time, and only on request.
//!
//! [`SessionEvent::Subscriptions`]: super::SessionEvent::Subscriptions

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use mqhost_codec::SubscriptionOptions;

use super::{Session, SessionHandle};
use crate::broker::message::unix_millis;
use crate::hooks::ClientInfo;

/// The figures a session publishes for the admin API.
pub(super) struct Figures {
    /// The last connection's client, kept while the session is offline.
    client: Mutex<Arc<ClientInfo>>,
    subscriptions: AtomicU32,
    inflight: AtomicU32,
    /// Session Expiry Interval in seconds; `u32::MAX` never expires.
    expiry: AtomicU32,
    /// Unix milliseconds when the last connection ended; 0 while one is
    /// connected.
    detached_at: AtomicU64,
}

impl Figures {
    pub(super) fn new(client: Arc<ClientInfo>) -> Figures {
        Figures {
            client: Mutex::new(client),
            subscriptions: AtomicU32::new(0),
            inflight: AtomicU32::new(0),
            expiry: AtomicU32::new(0),
            detached_at: AtomicU64::new(0),
        }
    }

    fn client(&self) -> Arc<ClientInfo> {
        // Every change is one assignment: nothing to see half-done.
        Arc::clone(&self.client.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// One session as the admin API shows it.
#[derive(Debug, Clone)]
pub struct SessionView {
    /// Its client as of the last connection.
    pub client: Arc<ClientInfo>,
    /// Whether that client is connected now.
    pub connected: bool,
    pub subscriptions: u32,
    /// QoS 1 and 2 messages sent and not yet acknowledged.
    pub inflight: u32,
    /// Messages waiting: in its mailbox and its queue.
    pub queued: usize,
    /// Session Expiry Interval in seconds; `u32::MAX` never expires.
    pub expiry: u32,
    /// When the client left (Unix milliseconds); None while connected.
    pub detached_at_ms: Option<u64>,
}

impl SessionView {
    /// When the session ends unless its client returns (Unix
    /// milliseconds); None while connected or when it never expires.
    pub fn expires_at_ms(&self) -> Option<u64> {
        if self.expiry == u32::MAX {
            return None;
        }
        self.detached_at_ms
            .map(|at| at.saturating_add(u64::from(self.expiry) * 1000))
    }
}

/// One subscription of a session, with the options it was made with.
#[derive(Debug, Clone)]
pub struct SubscriptionView {
    /// The filter as the client wrote it (`$share/GROUP/...` included).
    pub filter: String,
    pub options: SubscriptionOptions,
    /// 5.0 Subscription Identifier.
    pub identifier: Option<u32>,
}

impl SessionHandle {
    /// The session as the admin API shows it, read without asking it.
    pub fn view(&self) -> SessionView {
        let figures = &self.shared.figures;
        let connected = self.is_online();
        let detached_at = figures.detached_at.load(Ordering::Relaxed);
        SessionView {
            client: figures.client(),
            connected,
            subscriptions: figures.subscriptions.load(Ordering::Relaxed),
            inflight: figures.inflight.load(Ordering::Relaxed),
            queued: self.shared.pressure.backlog(),
            expiry: figures.expiry.load(Ordering::Relaxed),
            detached_at_ms: (!connected && detached_at != 0).then_some(detached_at),
        }
    }

    /// The client of the last connection, read without asking the session.
    pub fn client(&self) -> Arc<ClientInfo> {
        self.shared.figures.client()
    }
}

impl Session {
    fn figures(&self) -> &Figures {
        &self.handle.shared.figures
    }

    /// A connection was attached: its client, and the expiry it asked for.
    pub(super) fn note_attached(&self, client: &Arc<ClientInfo>) {
        let figures = self.figures();
        *figures.client.lock().unwrap_or_else(|e| e.into_inner()) = Arc::clone(client);
        figures.expiry.store(self.expiry, Ordering::Relaxed);
        figures.detached_at.store(0, Ordering::Relaxed);
    }

    /// The connection ended now, with the expiry then in force.
    pub(super) fn note_detached(&self) {
        let figures = self.figures();
        figures.expiry.store(self.expiry, Ordering::Relaxed);
        figures
            .detached_at
            .store(unix_millis().max(1), Ordering::Relaxed);
    }

    pub(super) fn note_subscriptions(&self) {
        let count = u32::try_from(self.subscriptions.len()).unwrap_or(u32::MAX);
        self.figures().subscriptions.store(count, Ordering::Relaxed);
    }

    pub(super) fn note_inflight(&self) {
        let count = u32::try_from(self.inflight.len()).unwrap_or(u32::MAX);
        self.figures().inflight.store(count, Ordering::Relaxed);
    }

    /// Every subscription with its options, for
    /// [`SessionEvent::Subscriptions`](super::SessionEvent::Subscriptions).
    pub(super) fn subscription_views(&self) -> Vec<SubscriptionView> {
        let id = self.handle.id();
        let mut views: Vec<SubscriptionView> = self
            .subscriptions
            .iter()
            .filter_map(|filter| {
                let (options, identifier) = self.broker.router.subscription(filter, id)?;
                Some(SubscriptionView {
                    filter: filter.clone(),
                    options,
                    identifier,
                })
            })
            .collect();
        views.sort_by(|a, b| a.filter.cmp(&b.filter));
        views
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(expiry: u32, detached_at_ms: Option<u64>) -> SessionView {
        let client = ClientInfo {
            client_id: Arc::from("c"),
            username: None,
            peer: "127.0.0.1:1".parse().unwrap(),
            listener: Arc::new(crate::config::listeners::ListenerSpec::tcp_default(
                "127.0.0.1:1883".parse().unwrap(),
            )),
            protocol: mqhost_codec::ProtocolVersion::V5,
            clean_start: false,
            keep_alive: 0,
            connected_at: 0,
        };
        SessionView {
            client: Arc::new(client),
            connected: detached_at_ms.is_none(),
            subscriptions: 0,
            inflight: 0,
            queued: 0,
            expiry,
            detached_at_ms,
        }
    }

    #[test]
    fn an_offline_session_expires_its_interval_after_its_client_left() {
        assert_eq!(view(60, Some(1_000)).expires_at_ms(), Some(61_000));
        assert_eq!(view(60, None).expires_at_ms(), None);
        assert_eq!(view(u32::MAX, Some(1_000)).expires_at_ms(), None);
        assert_eq!(view(0, Some(5)).expires_at_ms(), Some(5));
    }
}
