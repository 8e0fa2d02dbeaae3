//! [`SessionHandle`]: how the router, the registry and plugins reach a
//! session: its identity, whether it is online, its room, and its mailbox.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::figures::Figures;
use super::mailbox::Mailbox;
use super::pressure::Pressure;
use super::{Delivery, SessionEvent};
use crate::broker::SessionId;

pub(super) struct Shared {
    pub(super) id: SessionId,
    pub(super) client_id: Arc<str>,
    pub(super) mailbox: Mailbox,
    pub(super) online: AtomicBool,
    pub(super) pressure: Pressure,
    /// What the admin API reads of the session (see `figures`).
    pub(super) figures: Figures,
    /// The broker's store, if it keeps one.
    pub(super) store: Option<Arc<crate::persist::Store>>,
    /// The session outlives its connection: its changes are recorded.
    pub(super) durable: AtomicBool,
    /// The number of the next delivery recorded.
    pub(super) next_seq: std::sync::atomic::AtomicU64,
    /// `mqtt.queue_qos0`: QoS 0 deliveries are recorded too.
    pub(super) queue_qos0: bool,
}

/// A cheap, cloneable way to reach a session.
#[derive(Clone)]
pub struct SessionHandle {
    pub(super) shared: Arc<Shared>,
}

impl SessionHandle {
    /// The session's id.
    pub fn id(&self) -> SessionId {
        self.shared.id
    }

    /// The client id it belongs to.
    pub fn client_id(&self) -> &str {
        &self.shared.client_id
    }

    pub(crate) fn client_id_arc(&self) -> &Arc<str> {
        &self.shared.client_id
    }

    /// Whether a client is connected to it now.
    pub fn is_online(&self) -> bool {
        self.shared.online.load(Ordering::Relaxed)
    }

    /// Hands a routed message to the session. A session that just ended
    /// drops it, as if it had never subscribed. Returns whether the
    /// session is congested: online, with a backlog above its high-water
    /// mark, so the publisher should wait before routing more to it.
    pub fn deliver(&self, mut delivery: Delivery) -> bool {
        // Recorded before it reaches the session, so before the
        // publisher's acknowledgement and before the session's own
        // records about it.
        self.record_delivery(&mut delivery);
        let congested = self.shared.pressure.sent(self.is_online());
        if self
            .shared
            .mailbox
            .send(SessionEvent::Deliver(delivery))
            .is_err()
        {
            self.shared.pressure.unsent();
            return false;
        }
        congested
    }

    /// Sends an event; gives it back when the session has ended.
    pub fn send(&self, event: SessionEvent) -> Result<(), SessionEvent> {
        let delivery = matches!(event, SessionEvent::Deliver(_));
        if delivery {
            self.shared.pressure.sent(false);
        }
        self.shared.mailbox.send(event).inspect_err(|_| {
            if delivery {
                self.shared.pressure.unsent();
            }
        })
    }

    /// How many more messages the session can take now (see
    /// [`Pressure::room`]): two atomic loads, no lock.
    pub fn room(&self) -> u64 {
        self.shared.pressure.room()
    }

    pub(super) fn pressure(&self) -> &Pressure {
        &self.shared.pressure
    }
}
