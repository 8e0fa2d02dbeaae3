//! A session that moves to another broker of a cluster: taken out whole
//! ([`Session::image`], when the session ends for a
//! [`SessionEvent::Take`](super::SessionEvent::Take)) and put in
//! ([`put`]) as a stored session comes back at start, in the durable
//! store's own encoding (`persist::transfer`).

use std::sync::Arc;
use std::time::Instant;

use super::inflight::Stage as InflightStage;
use super::{Delivery, Session};
use crate::broker::message::unix_millis;
use crate::broker::Broker;
use crate::persist::{transfer, Image, SessionImage, Stage};

/// Who waits for a session's bytes: called once, with None when the
/// session ended before it could be taken.
pub type Taker = Box<dyn FnOnce(Option<Vec<u8>>) + Send>;

/// Why [`put`] installed nothing.
#[derive(Debug, PartialEq, Eq)]
pub enum PutError {
    /// The bytes are not a session of this client; the sentence says why.
    Invalid(String),
    /// A session with this client id is here already.
    Exists,
}

impl Session {
    /// Everything this session holds, as the store would keep it: in-flight
    /// messages first in the order they were sent, then the queue, then
    /// deliveries still waiting for an access answer (which the broker
    /// they go to asks again when the client returns), numbered in that
    /// order. Empties the session of them, and of its delayed will, which
    /// go with it.
    pub(super) fn image(&mut self) -> SessionImage {
        let id = self.handle.id();
        let subscriptions = self
            .subscriptions
            .iter()
            .filter_map(|filter| {
                let (options, identifier) = self.broker.router.subscription(filter, id)?;
                Some((Arc::from(filter.as_str()), (options, identifier)))
            })
            .collect();
        let mut deliveries = std::collections::BTreeMap::new();
        let mut seq = 0;
        let mut add = |delivery: Delivery, stage: Stage| {
            seq += 1;
            deliveries.insert(seq, (Delivery { seq, ..delivery }, stage));
        };
        let inflight = std::mem::take(&mut self.inflight);
        for (packet_id, entry) in inflight.in_send_order() {
            let stage = match entry.stage {
                InflightStage::Published => Stage::Sent(packet_id),
                InflightStage::Released => Stage::Released(packet_id),
            };
            add(entry.delivery.clone(), stage);
        }
        let awaiting = self.take_awaiting_delivery();
        let queued = self
            .queue
            .drain(..)
            .chain(awaiting)
            .chain(self.held.drain(..));
        for delivery in queued {
            add(delivery, Stage::Queued);
        }
        let away = Instant::now().saturating_duration_since(self.detached_at);
        SessionImage {
            username: self.client.username.as_deref().map(Arc::from),
            expiry: self.expiry,
            detached_ms: unix_millis().saturating_sub(away.as_millis() as u64),
            subscriptions,
            deliveries,
            qos2_in: self.incoming_qos2.iter().copied().collect(),
            will: self.pending_will.take().map(|will| {
                (
                    crate::persist::record::deadline_ms(will.at),
                    Arc::clone(&will.message),
                )
            }),
        }
    }

    /// The bytes of this session, emptied of what it held.
    pub(super) fn take_out(&mut self) -> Vec<u8> {
        let image = self.image();
        transfer::encode(&self.client_id, image)
    }
}

/// Installs the session of `client_id` that another broker took out as
/// `bytes`: offline, as a stored session comes back at start, stored here
/// too when the store is on, its subscriptions announced to
/// `session.subscribed`. Must run within the broker's runtime. A session
/// whose expiry ran out on its way is dropped, as it would have been
/// where it was.
pub fn put(broker: &Arc<Broker>, client_id: &str, bytes: &[u8]) -> Result<(), PutError> {
    let image = transfer::decode(client_id, bytes).map_err(PutError::Invalid)?;
    if broker.registry.get(client_id).is_some() {
        return Err(PutError::Exists);
    }
    let client_id: Arc<str> = Arc::from(client_id);
    let recorded = broker
        .store
        .as_deref()
        .filter(|_| image.expiry != 0)
        .map(|store| {
            let mut one = Image::default();
            one.sessions.insert(Arc::clone(&client_id), image.clone());
            for record in one.records() {
                store.submit(record);
            }
        });
    let subscriptions: Vec<_> = image
        .subscriptions
        .iter()
        .map(|(filter, (options, _))| (Arc::clone(filter), *options))
        .collect();
    if !Session::revive(broker, Arc::clone(&client_id), image, true) {
        if broker.registry.get(&client_id).is_some() {
            return Err(PutError::Exists);
        }
        // Expired on its way: out of the store again.
        if recorded.is_some() {
            if let Some(store) = broker.store.as_deref() {
                store.submit(crate::persist::Record::SessionEnd(client_id));
            }
        }
        return Ok(());
    }
    if recorded.is_none() {
        if let Some(session) = broker.registry.get(&client_id) {
            session
                .shared
                .durable
                .store(false, std::sync::atomic::Ordering::Relaxed);
        }
    }
    for (filter, options) in subscriptions {
        broker
            .hooks
            .session_subscribed(&client_id, &filter, options, true);
    }
    Ok(())
}
