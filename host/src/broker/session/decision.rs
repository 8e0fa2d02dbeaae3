//! A session waiting for a plugin's access answer.
//!
//! When a plugin answers an access question later, the packet or delivery
//! that asked is parked here with the rest of the walk, and the session's
//! task waits on it as on any other source. Meanwhile the client's next
//! packets stay in the read buffer and the socket, and the mailbox is not
//! read, so everything keeps its order; deliveries made while handling the
//! parked item (retained messages of a SUBSCRIBE, a returning client's
//! queue) are held and checked in order after it. Other clients never
//! wait: this is one session's task, and `auth.timeout` bounds the wait.

use mqhost_codec::{Publish, Subscribe};

use super::{CloseReason, Delivery, Session};
use crate::access::decider::{Check, Question, Waiting};
use crate::access::Access;
use crate::broker::metrics::Dropped;
use crate::escape::escaped;
use crate::hooks::decide::Decision;

/// What to do once the answer is in.
pub(super) enum Resume {
    /// A PUBLISH, its topic resolved (alias included).
    Publish {
        publish: Publish,
        topic: std::sync::Arc<str>,
    },
    /// A SUBSCRIBE whose first `decided.len()` filters are decided; the
    /// answer is for the next one.
    Subscribe {
        subscribe: Subscribe,
        decided: Vec<bool>,
    },
    /// A message for this client, waiting for its read check.
    Deliver(Delivery),
}

/// A question out to a plugin, and what it holds up.
pub(super) struct Awaiting {
    pub(super) waiting: Waiting,
    then: Resume,
}

impl Session {
    /// Parks `then` until `waiting` is answered.
    pub(super) fn wait_for(&mut self, waiting: Waiting, then: Resume) {
        debug_assert!(self.awaiting.is_none(), "one question at a time");
        self.awaiting = Some(Box::new(Awaiting { waiting, then }));
    }

    /// The delivery waiting for its answer, if that is what waits: a
    /// session that leaves for another broker takes it along unchecked,
    /// and it is checked there when its client returns.
    pub(super) fn take_awaiting_delivery(&mut self) -> Option<Delivery> {
        match self.awaiting.take().map(|awaiting| awaiting.then) {
            Some(Resume::Deliver(delivery)) => Some(delivery),
            _ => None,
        }
    }

    /// The plugins answered: conclude the question, finish what it held
    /// up, then what was held behind it. The outer error closes the
    /// connection.
    pub(super) fn on_decided(&mut self, plugins: Decision) -> Result<(), CloseReason> {
        let Some(awaiting) = self.awaiting.take() else {
            return Ok(());
        };
        let Awaiting { waiting, then } = *awaiting;
        let allowed = self.settle(&waiting, plugins);
        match then {
            Resume::Publish { publish, topic } => self.publish_decided(publish, topic, allowed)?,
            Resume::Subscribe {
                subscribe,
                mut decided,
            } => {
                decided.push(allowed);
                self.decide_filters(subscribe, decided)?;
            }
            Resume::Deliver(delivery) => self.enqueue_decided(delivery, allowed),
        }
        self.drain_held();
        if let Some(conn) = self.conn.as_mut() {
            // The client waited for the broker, not the other way round:
            // its keep alive counts from now, as after a pause.
            conn.last_packet = std::time::Instant::now();
        }
        if self.awaiting.is_none() {
            // Packets read before the wait are still in the buffer.
            self.decode_and_handle()?;
        }
        self.pump();
        Ok(())
    }

    /// Puts a routed message in the queue once the client may read it:
    /// behind anything held, or parked when a plugin answers later.
    pub(super) fn enqueue(&mut self, mut delivery: Delivery) {
        // Retained messages at SUBSCRIBE and a plugin's deliveries come
        // here first; routed ones were recorded by the publisher.
        self.handle.record_delivery(&mut delivery);
        if self.awaiting.is_some() || !self.held.is_empty() {
            self.held.push_back(delivery);
            return;
        }
        self.check_and_enqueue(delivery);
    }

    /// Checks held deliveries in order until one has to wait.
    pub(super) fn drain_held(&mut self) {
        while self.awaiting.is_none() {
            let Some(delivery) = self.held.pop_front() else {
                break;
            };
            self.check_and_enqueue(delivery);
        }
    }

    /// Every delivery passes here once: whatever filter matched, a client
    /// that may not read the topic never gets the message.
    fn check_and_enqueue(&mut self, delivery: Delivery) {
        let question = Question {
            topic: &delivery.message.topic,
            access: Access::Read,
            qos: delivery.qos,
            retain: delivery.retain,
        };
        match self.may(question) {
            Check::Ready(allowed) => self.enqueue_decided(delivery, allowed),
            Check::Waiting(waiting) => self.wait_for(waiting, Resume::Deliver(delivery)),
        }
    }

    fn enqueue_decided(&mut self, delivery: Delivery, allowed: bool) {
        if allowed {
            self.enqueue_allowed(delivery);
        } else {
            tracing::debug!(client_id = %escaped(&self.client_id), topic = %escaped(&delivery.message.topic), "not delivered: the client may not read the topic");
            self.broker.metrics.dropped(Dropped::Denied);
            self.record_done(&delivery);
        }
    }
}
