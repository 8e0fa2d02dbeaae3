//! A session's share of the durable store: what it changes is recorded
//! (subscriptions, queued and in-flight messages, inbound QoS 2 ids, its
//! expiry and delayed will) while its expiry outlives its connection; a
//! publisher's PUBACK or PUBREC waits until the records its PUBLISH made
//! are stored (the writer says so per batch, never per message); and at
//! start, stored sessions come back disconnected.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mqhost_codec::QoS;

use super::figures::Figures;
use super::handle::Shared;
use super::held::Held;
use super::inflight::{Inflight, Stage as InflightStage};
use super::mailbox::Mailbox;
use super::pressure::Pressure;
use super::will::PendingWill;
use super::{Delivery, Session, SessionEvent, SessionHandle};
use crate::broker::message::unix_millis;
use crate::broker::router::Subscriber;
use crate::broker::{topic, Broker};
use crate::hooks::ClientInfo;
use crate::persist::{Image, Record, SessionImage, Stage, Store};

impl SessionHandle {
    /// Numbers `delivery` in this session and records it, when the session
    /// is durable and the message worth keeping (QoS 1/2, or QoS 0 with
    /// `mqtt.queue_qos0`).
    pub(super) fn record_delivery(&self, delivery: &mut Delivery) {
        let shared = &self.shared;
        if delivery.seq != 0 || !shared.durable.load(Ordering::Relaxed) {
            return;
        }
        let Some(store) = shared.store.as_ref() else {
            return;
        };
        if delivery.qos == QoS::AtMostOnce && !shared.queue_qos0 {
            return;
        }
        delivery.seq = shared.next_seq.fetch_add(1, Ordering::Relaxed);
        delivery.tickets[0] = store.submit(Record::Enqueue {
            client: Arc::clone(&shared.client_id),
            seq: delivery.seq,
            delivery: delivery.clone(),
        });
    }
}

impl Session {
    /// The store, while this session is durable.
    fn durable_store(&self) -> Option<&Store> {
        if self.handle.shared.durable.load(Ordering::Relaxed) {
            self.broker.store.as_deref()
        } else {
            None
        }
    }

    /// Records what `make` builds from the client id, if durable; returns
    /// its ticket.
    pub(super) fn record(&self, make: impl FnOnce(Arc<str>) -> Record) -> Option<u64> {
        let store = self.durable_store()?;
        Some(store.submit(make(Arc::clone(&self.client_id))))
    }

    /// Records the session's terms after an attach or a detach: durable
    /// while its expiry outlives the connection; a session that stops
    /// being durable is removed from the store.
    pub(super) fn record_terms(&mut self) {
        let Some(store) = self.broker.store.as_deref() else {
            return;
        };
        let durable = self.expiry != 0;
        let was = self.handle.shared.durable.swap(durable, Ordering::Relaxed);
        if !durable {
            if was {
                store.submit(Record::SessionEnd(Arc::clone(&self.client_id)));
            }
            return;
        }
        store.submit(Record::Session {
            client: Arc::clone(&self.client_id),
            username: self.client.username.as_deref().map(Arc::from),
            expiry: self.expiry,
            detached_ms: if self.conn.is_some() {
                0
            } else {
                unix_millis()
            },
        });
        if !was {
            // What the session holds already becomes durable with it.
            for filter in &self.subscriptions {
                if let Some((options, identifier)) =
                    self.broker.router.subscription(filter, self.handle.id())
                {
                    store.submit(Record::Subscribe {
                        client: Arc::clone(&self.client_id),
                        filter: Arc::from(filter.as_str()),
                        options,
                        identifier,
                    });
                }
            }
        }
    }

    /// The session ends: out of the store, unless the broker is stopping
    /// (it is found again at the next start).
    pub(super) fn record_end(&self) {
        if self.broker.is_stopping() {
            return;
        }
        if self.handle.shared.durable.swap(false, Ordering::Relaxed) {
            if let Some(store) = self.broker.store.as_deref() {
                store.submit(Record::SessionEnd(Arc::clone(&self.client_id)));
            }
        }
    }

    /// The delivery is finished with: acknowledged, dropped or expired.
    /// What the writer has not taken of it yet is never written.
    pub(super) fn record_done(&self, delivery: &Delivery) {
        if delivery.seq == 0 {
            return;
        }
        if let Some(store) = self.durable_store() {
            store.finish(&delivery.tickets, || Record::Done {
                client: Arc::clone(&self.client_id),
                seq: delivery.seq,
            });
        }
    }

    /// Sends a PUBACK or PUBREC once every record up to `ticket` is
    /// stored, and in order behind any that wait.
    pub(super) fn acknowledge_when_stored(&mut self, ack: Held, ticket: Option<u64>) {
        let store = self.broker.store.as_deref();
        let ready = match (store, ticket) {
            (Some(store), Some(ticket)) => store.is_stored(ticket),
            _ => true,
        };
        if ready && self.parked.is_empty() {
            self.send(&ack.packet());
            return;
        }
        let ticket = ticket.unwrap_or(0);
        self.parked.push(ticket, ack);
        self.wait_for_store(ticket);
    }

    /// Asks the store to wake this session once `ticket` is stored,
    /// unless it waits already: then [`on_stored`](Self::on_stored) asks
    /// again for what was parked meanwhile, so that a session has one
    /// waiter at a time, not one per acknowledgement.
    fn wait_for_store(&mut self, ticket: u64) {
        let Some(store) = self.broker.store.as_deref() else {
            return;
        };
        if self.parked_wait != 0 {
            return;
        }
        self.parked_wait = ticket;
        let handle = self.handle.clone();
        store.when_stored(
            ticket,
            Box::new(move || {
                let _ = handle.send(SessionEvent::Stored);
            }),
        );
    }

    /// The writer stored a batch: acknowledgements it held go out.
    pub(super) fn on_stored(&mut self) {
        let Some(store) = self.broker.store.clone() else {
            return;
        };
        while let Some(ack) = self.parked.pop_stored(|ticket| store.is_stored(ticket)) {
            self.send(&ack.packet());
        }
        self.parked_wait = 0;
        if let Some(last) = self.parked.last_ticket() {
            self.wait_for_store(last);
        }
    }

    /// Restores `stored`, found in the store at start, as a disconnected
    /// session: registered, subscribed, its queue, in-flight window,
    /// inbound QoS 2 ids and delayed will as they were. A session whose
    /// expiry ran out while the broker was down is dropped.
    pub(crate) fn restore(broker: &Arc<Broker>, client_id: Arc<str>, stored: SessionImage) -> bool {
        Session::revive(broker, client_id, stored, false)
    }

    /// [`restore`](Self::restore), for a session whose stages are exact
    /// (`exact`: one moved from another broker, whose QoS 1 deliveries
    /// in flight are named as such) or not (one read from the log, which
    /// does not record a QoS 1 delivery's sending).
    pub(super) fn revive(
        broker: &Arc<Broker>,
        client_id: Arc<str>,
        stored: SessionImage,
        exact: bool,
    ) -> bool {
        let now_ms = unix_millis();
        // A session whose client was connected when the broker stopped
        // counts its expiry from this start.
        let away = match stored.detached_ms {
            0 => Duration::ZERO,
            at => Duration::from_millis(now_ms.saturating_sub(at)),
        };
        if stored.expiry != u32::MAX && away >= Duration::from_secs(u64::from(stored.expiry)) {
            return false;
        }
        let detached_at = Instant::now()
            .checked_sub(away)
            .unwrap_or_else(Instant::now);
        let client = Arc::new(ClientInfo {
            client_id: Arc::clone(&client_id),
            username: stored.username.as_deref().map(str::to_owned),
            peer: std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
            listener: Arc::new(crate::config::listeners::ListenerSpec::tcp_default(
                std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
            )),
            protocol: mqhost_codec::ProtocolVersion::V5,
            clean_start: false,
            keep_alive: 0,
            connected_at: now_ms / 1000 - away.as_secs(),
        });
        let next_seq = stored
            .deliveries
            .keys()
            .next_back()
            .map_or(1, |seq| seq + 1);
        let handle = SessionHandle::new(broker, &client_id, Arc::clone(&client), next_seq);
        if broker.registry.insert_if_absent(&handle).is_err() {
            return false;
        }
        handle.shared.durable.store(true, Ordering::Relaxed);
        broker.metrics.sessions.fetch_add(1, Ordering::Relaxed);
        let mut subscriptions = HashSet::new();
        for (filter, (options, identifier)) in &stored.subscriptions {
            // The log is input like any other: a filter that is not one
            // is left out rather than put in the tree.
            let Ok(shared) = topic::parse_shared(filter) else {
                continue;
            };
            let inner = shared.as_ref().map_or(&**filter, |s| s.filter);
            if topic::validate_filter(filter).is_err() || topic::validate_filter(inner).is_err() {
                continue;
            }
            broker.router.subscribe(
                filter,
                shared,
                Subscriber {
                    session: handle.clone(),
                    options: *options,
                    identifier: *identifier,
                },
            );
            subscriptions.insert(filter.to_string());
        }
        let mut inflight = Inflight::default();
        let mut queue = VecDeque::new();
        for (delivery, stage) in stored.deliveries.into_values() {
            match stage {
                Stage::Sent(id) | Stage::Released(id) if !inflight.contains(id) => {
                    inflight.insert(id, delivery);
                    if let (Stage::Released(_), Some(entry)) = (stage, inflight.get_mut(id)) {
                        entry.stage = InflightStage::Released;
                    }
                }
                _ => {
                    // A QoS 1 delivery's sending is not recorded: it may
                    // have gone before the restart.
                    let mut delivery = delivery;
                    delivery.dup = !exact && delivery.qos == QoS::AtLeastOnce;
                    queue.push_back(delivery);
                }
            }
        }
        let pending_will = stored.will.map(|(at_ms, message)| {
            Box::new(PendingWill {
                at: crate::persist::record::instant_of(at_ms),
                message,
            })
        });
        let session = Session {
            subscriptions,
            inflight,
            queue,
            incoming_qos2: stored.qos2_in.into_iter().collect(),
            expiry: stored.expiry,
            detached_at,
            pending_will,
            ..Session::blank(Arc::clone(broker), handle, client_id, client)
        };
        session.note_subscriptions();
        session.note_inflight();
        session.publish_pressure();
        tokio::spawn(session.run(None));
        true
    }
}

impl SessionHandle {
    /// A handle for a new session of `client_id`; its stored deliveries
    /// are numbered from `next_seq`.
    pub(super) fn new(
        broker: &Broker,
        client_id: &Arc<str>,
        client: Arc<ClientInfo>,
        next_seq: u64,
    ) -> SessionHandle {
        SessionHandle {
            shared: Arc::new(Shared {
                id: broker.next_session_id(),
                client_id: Arc::clone(client_id),
                mailbox: Mailbox::default(),
                online: AtomicBool::new(false),
                pressure: Pressure::new(
                    broker
                        .config
                        .mqtt
                        .max_queued_messages
                        .map(|n| n.get() as usize),
                ),
                figures: Figures::new(client),
                store: broker.store.clone(),
                durable: AtomicBool::new(false),
                next_seq: AtomicU64::new(next_seq),
                queue_qos0: broker.config.mqtt.queue_qos0,
            }),
        }
    }
}

/// Restores what the store kept: retained messages into the router (the
/// expired left out), then every session. Returns how many sessions came
/// back.
pub fn restore(broker: &Arc<Broker>, image: Image) -> usize {
    let now = Instant::now();
    for message in image.retained.into_values() {
        if !message.is_expired(now) && topic::validate_topic_name(&message.topic).is_ok() {
            broker.router.retain_restored(&message);
        }
    }
    let mut restored = 0;
    for (client_id, stored) in image.sessions {
        if Session::restore(broker, Arc::clone(&client_id), stored) {
            restored += 1;
        } else if let Some(store) = broker.store.as_deref() {
            // Expired while the broker was down.
            store.submit(Record::SessionEnd(client_id));
        }
    }
    restored
}
