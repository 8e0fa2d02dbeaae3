//! Messages to the client: the session queue, the in-flight window, topic
//! aliases, and encoding straight into the write buffer.

use std::sync::Arc;
use std::time::Instant;

use mqhost_codec::{encode_publish, publish_encoded_len, Packet, PubAck, PublishView, QoS};

use super::inflight::Stage;
use super::{Delivery, Session};
use crate::broker::metrics::{Dropped, PUBLISH};
use crate::escape::escaped;

/// Above this many unwritten bytes the session stops encoding more
/// messages: the client is not keeping up, and the queue, which has a
/// bound, is the place for the rest.
const WRITE_HIGH_WATER: usize = 256 * 1024;

impl Session {
    /// Puts a message the client may read in the queue, or drops it when
    /// the queue is full or it is QoS 0 for a disconnected client that
    /// does not queue QoS 0.
    pub(super) fn enqueue_allowed(&mut self, delivery: Delivery) {
        let config = &self.broker.config;
        if self.conn.is_none() && delivery.qos == QoS::AtMostOnce && !config.mqtt.queue_qos0 {
            self.broker.metrics.dropped(Dropped::Qos0Offline);
            self.record_done(&delivery);
            return;
        }
        let limit = config
            .mqtt
            .max_queued_messages
            .map_or(usize::MAX, |n| n.get() as usize);
        if self.queue.len() >= limit {
            self.broker.metrics.dropped(Dropped::QueueFull);
            tracing::debug!(client_id = %escaped(&self.client_id), topic = %escaped(&delivery.message.topic), "queue full, message dropped");
            self.record_done(&delivery);
            return;
        }
        self.queue.push_back(delivery);
        self.publish_pressure();
    }

    /// Tells publishers how full this session is (see [`super::pressure`]).
    pub(super) fn publish_pressure(&self) {
        self.handle
            .shared
            .pressure
            .update(self.queue.len(), self.progress);
    }

    /// Most QoS 1/2 messages in flight to the connected client.
    fn window(&self) -> usize {
        let receive_maximum = self.conn.as_ref().map_or(0, |c| c.receive_maximum);
        usize::from(self.broker.config.mqtt.max_inflight.min(receive_maximum))
    }

    /// Moves queued messages to the client while the in-flight window and
    /// the write buffer have room.
    pub(super) fn pump(&mut self) {
        let before = self.progress;
        self.pump_queue();
        if self.progress != before {
            self.publish_pressure();
            self.note_inflight();
        }
    }

    fn pump_queue(&mut self) {
        let window = self.window();
        loop {
            let Some(conn) = self.conn.as_ref() else {
                return;
            };
            if conn.write_buf.len() >= WRITE_HIGH_WATER {
                return;
            }
            let Some(front) = self.queue.front() else {
                return;
            };
            if front.qos != QoS::AtMostOnce && self.inflight.len() >= window {
                return;
            }
            let Some(delivery) = self.queue.pop_front() else {
                return;
            };
            self.progress += 1;
            if delivery.qos == QoS::AtMostOnce {
                self.write_publish(&delivery, 0, false);
                self.record_done(&delivery);
            } else {
                let packet_id = self.inflight.next_packet_id();
                if self.write_publish(&delivery, packet_id, delivery.dup) {
                    let seq = delivery.seq;
                    let mut delivery = delivery;
                    // Only QoS 2 needs its packet id to survive a restart
                    // (PUBREL names it); a stored QoS 1 delivery comes back
                    // queued, and goes again with DUP and a new id.
                    if seq != 0 && delivery.qos == QoS::ExactlyOnce {
                        let ticket = self.record(|client| crate::persist::Record::Sent {
                            client,
                            seq,
                            packet_id,
                        });
                        delivery.tickets[1] = ticket.unwrap_or(0);
                    }
                    self.inflight.insert(packet_id, delivery);
                } else {
                    self.record_done(&delivery);
                }
            }
        }
    }

    /// Sends again everything in flight, after a reconnect: PUBLISH with
    /// DUP for messages not yet acknowledged, PUBREL for QoS 2 exchanges
    /// that got their PUBREC.
    pub(super) fn resend_inflight(&mut self) {
        let pending: Vec<(u16, Stage, Delivery)> = self
            .inflight
            .in_send_order()
            .into_iter()
            .map(|(id, entry)| (id, entry.stage, entry.delivery.clone()))
            .collect();
        for (packet_id, stage, delivery) in pending {
            match stage {
                Stage::Published => {
                    if !self.write_publish(&delivery, packet_id, true) {
                        self.inflight.remove(packet_id);
                        self.record_done(&delivery);
                        self.note_inflight();
                    }
                }
                Stage::Released => self.send(&Packet::PubRel(PubAck {
                    packet_id,
                    reason: 0,
                    properties: Default::default(),
                })),
            }
        }
    }

    /// Whether the message fits the client's Maximum Packet Size (the
    /// receiver never gets a packet larger than it said it accepts: such a
    /// message is dropped for that receiver, MQTT 5.0 3.1.2.25).
    fn fits(&self, delivery: &Delivery) -> bool {
        let Some(conn) = self.conn.as_ref() else {
            return false;
        };
        if !conn.version().is_v5() {
            return true;
        }
        let view = view(delivery, 0, false, &delivery.message.topic, None, None);
        publish_encoded_len(&view, conn.version()) <= conn.max_packet_size as usize
    }

    /// Encodes one PUBLISH to the client and fires `message.delivered`.
    /// False when the message was dropped instead (expired, too large).
    fn write_publish(&mut self, delivery: &Delivery, packet_id: u16, dup: bool) -> bool {
        let message = &delivery.message;
        // The clock only matters to messages that expire.
        let now = message.expires_at.map(|_| Instant::now());
        if now.is_some_and(|now| message.is_expired(now)) {
            self.broker.metrics.dropped(Dropped::Expired);
            return false;
        }
        if !self.fits(delivery) {
            self.broker.metrics.dropped(Dropped::TooLarge);
            return false;
        }
        let Some(conn) = self.conn.as_mut() else {
            return false;
        };
        let version = conn.version();
        let mut topic: &str = &message.topic;
        let mut topic_alias = None;
        if version.is_v5() && conn.topic_alias_maximum > 0 {
            if let Some(&alias) = conn.outbound_aliases.get(&message.topic) {
                topic = "";
                topic_alias = Some(alias);
            } else if conn.outbound_aliases.len() < usize::from(conn.topic_alias_maximum) {
                let alias = conn.outbound_aliases.len() as u16 + 1;
                conn.outbound_aliases
                    .insert(Arc::clone(&message.topic), alias);
                topic_alias = Some(alias);
            }
        }
        let expiry = match now {
            Some(now) if version.is_v5() => message.remaining_expiry(now),
            _ => None,
        };
        let publish = view(delivery, packet_id, dup, topic, topic_alias, expiry);
        let before = conn.write_buf.len();
        if let Err(error) = encode_publish(&publish, version, &mut conn.write_buf) {
            tracing::error!(client_id = %escaped(&self.client_id), ?error, "could not encode PUBLISH");
            return false;
        }
        let local = self.broker.metrics.local();
        local.packet_out(PUBLISH, conn.write_buf.len() - before);
        local.add(&local.counters.messages_delivered, 1);
        local.add(
            &local.counters.payload_bytes_out,
            message.payload.len() as u64,
        );
        self.broker
            .hooks
            .message_delivered(&self.client_id, message, delivery.qos);
        true
    }
}

fn view<'a>(
    delivery: &'a Delivery,
    packet_id: u16,
    dup: bool,
    topic: &'a str,
    topic_alias: Option<u16>,
    message_expiry_interval: Option<u32>,
) -> PublishView<'a> {
    PublishView {
        dup,
        qos: delivery.qos,
        retain: delivery.retain,
        topic,
        packet_id,
        payload: &delivery.message.payload,
        properties: &delivery.message.properties,
        topic_alias,
        message_expiry_interval,
        subscription_identifiers: &delivery.subscription_ids,
    }
}
