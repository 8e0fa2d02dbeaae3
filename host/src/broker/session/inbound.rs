//! Packets from the client: PUBLISH and its acknowledgements in both
//! directions, SUBSCRIBE, UNSUBSCRIBE, PINGREQ and DISCONNECT.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mqhost_codec::{
    decode_limited, reason, AckProperties, DecodeError, Packet, PubAck, Publish, QoS, SubAck,
    Subscribe, SubscriptionOptions, UnsubAck, Unsubscribe,
};

use super::decision::Resume;
use super::held::Held;
use super::inflight::Stage;
use super::pressure::Pause;
use super::{CloseReason, Delivery, Session};
use crate::access::decider::{Check, Question};
use crate::access::Access;
use crate::broker::message::Message;
use crate::broker::metrics::{Dropped, Metrics, Tally};
use crate::broker::router::Subscriber;
use crate::broker::topic;
use crate::escape::escaped;
use crate::persist::Record;

fn protocol_error(detail: &'static str) -> CloseReason {
    CloseReason::Protocol {
        code: reason::PROTOCOL_ERROR,
        detail,
    }
}

/// A topic filter that breaks the syntax rules (empty, a wildcard that is
/// not a whole level, `#` before the last level) makes its packet
/// malformed (MQTT 5.0 4.7.1 and 4.7.3): the connection closes. Refusals
/// of well-formed filters are per filter, in the SUBACK.
fn malformed_filter() -> CloseReason {
    CloseReason::Protocol {
        code: reason::MALFORMED_PACKET,
        detail: "malformed_topic_filter",
    }
}

/// The word the log gives for a packet that did not decode: a limit's
/// name when a limit refused it.
fn decode_failure(error: &DecodeError) -> &'static str {
    match error {
        DecodeError::PacketTooLarge => "packet_too_large",
        DecodeError::TooManyUserProperties => "too_many_user_properties",
        _ => "malformed_packet",
    }
}

fn ack(packet_id: u16, reason: u8) -> PubAck {
    PubAck {
        packet_id,
        reason,
        properties: AckProperties::default(),
    }
}

impl Session {
    /// Decodes and handles every complete packet in the read buffer.
    /// Keep alive counts from the end of this call when any packet was
    /// complete: one clock read per read, not per packet.
    /// Packets are counted on the stack while decoding and added to the
    /// thread's counters once, at the end: a read brings hundreds.
    pub(super) fn decode_and_handle(&mut self) -> Result<(), CloseReason> {
        let mut decoded = Tally::default();
        let result = self.decode_each(&mut decoded);
        if decoded.any() {
            if let Some(conn) = self.conn.as_mut() {
                conn.last_packet = Instant::now();
            }
            self.broker.metrics.local().packets_in(&decoded);
        }
        result
    }

    fn decode_each(&mut self, decoded: &mut Tally) -> Result<(), CloseReason> {
        let limits = self.broker.config.mqtt.decode_limits();
        loop {
            if self.paused.is_some() || self.awaiting.is_some() {
                // A subscriber is congested, or a plugin is deciding: the
                // rest waits in the buffer, and the client's next bytes in
                // the socket. A packet begun is not the client's to finish
                // meanwhile: its time starts again once reading resumes.
                if let Some(conn) = self.conn.as_mut() {
                    conn.partial_since = None;
                }
                return Ok(());
            }
            let Some(conn) = self.conn.as_mut() else {
                return Ok(());
            };
            let version = conn.version();
            let before = conn.read_buf.len();
            // The packet type, from the fixed header: counting from the
            // decoded packet would keep it in memory for one more copy.
            let first = conn.read_buf.first().copied().unwrap_or(0);
            let packet = match decode_limited(&mut conn.read_buf, Some(version), limits) {
                Ok(Some(packet)) => packet,
                Ok(None) => {
                    conn.after_decode(decoded.any());
                    return Ok(());
                }
                Err(error) => {
                    tracing::debug!(client_id = %escaped(&self.client_id), %error, "packet refused");
                    self.broker.metrics.decode_refused(&error);
                    return Err(CloseReason::Protocol {
                        code: error.reason_code(),
                        detail: decode_failure(&error),
                    });
                }
            };
            decoded.packet(first, before - conn.read_buf.len());
            self.handle_packet(packet, decoded)?;
        }
    }

    /// Encodes `packet` for the client, and counts it.
    pub(super) fn send(&mut self, packet: &Packet) {
        if let Some(conn) = self.conn.as_mut() {
            let before = conn.write_buf.len();
            conn.send(packet);
            // The type from the fixed header written, as for packets in.
            if let Some(first) = conn.write_buf.get(before) {
                let bytes = conn.write_buf.len() - before;
                self.broker
                    .metrics
                    .local()
                    .packet_out(usize::from(first >> 4), bytes);
            }
        }
    }

    fn is_v5(&self) -> bool {
        self.conn.as_ref().is_some_and(|c| c.version().is_v5())
    }

    fn handle_packet(&mut self, packet: Packet, decoded: &mut Tally) -> Result<(), CloseReason> {
        match packet {
            Packet::Publish(publish) => {
                decoded.payload(publish.payload.len());
                self.on_publish(publish)
            }
            Packet::PubAck(ack) => {
                self.on_final_ack(ack.packet_id, Stage::Published, QoS::AtLeastOnce)
            }
            Packet::PubRec(rec) => self.on_pubrec(rec),
            Packet::PubRel(rel) => {
                let known = self.incoming_qos2.remove(&rel.packet_id);
                if known {
                    self.record(|client| Record::Qos2Rel {
                        client,
                        packet_id: rel.packet_id,
                    });
                }
                let code = if known || !self.is_v5() {
                    reason::SUCCESS
                } else {
                    reason::PACKET_IDENTIFIER_NOT_FOUND
                };
                self.send(&Packet::PubComp(ack(rel.packet_id, code)));
                Ok(())
            }
            Packet::PubComp(comp) => {
                self.on_final_ack(comp.packet_id, Stage::Released, QoS::ExactlyOnce)
            }
            Packet::Subscribe(subscribe) => self.on_subscribe(subscribe),
            Packet::Unsubscribe(unsubscribe) => self.on_unsubscribe(unsubscribe),
            Packet::PingReq => {
                self.send(&Packet::PingResp);
                Ok(())
            }
            Packet::Disconnect(disconnect) => {
                if let Some(requested) = disconnect.properties.session_expiry_interval {
                    // MQTT 5.0 3.14.2.2.2: a session that was to end with
                    // the connection cannot be given a life afterwards.
                    if self.expiry == 0 && requested != 0 {
                        return Err(protocol_error("session_expiry_after_zero"));
                    }
                    self.expiry = requested.min(self.broker.config.mqtt.max_session_expiry);
                }
                Err(CloseReason::Disconnected {
                    reason: disconnect.reason,
                })
            }
            Packet::Connect(_) => Err(protocol_error("second_connect")),
            Packet::Auth(_) => Err(protocol_error("unexpected_auth")),
            Packet::ConnAck(_) | Packet::SubAck(_) | Packet::UnsubAck(_) | Packet::PingResp => {
                Err(protocol_error("server_packet_from_client"))
            }
        }
    }

    fn on_publish(&mut self, mut publish: Publish) -> Result<(), CloseReason> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(());
        };
        // The name as sent (empty with a known alias); the rest of the
        // PUBLISH goes on with the resolved one.
        let topic = std::mem::take(&mut publish.topic);
        let topic: Arc<str> = match publish.properties.topic_alias.take() {
            Some(alias) if alias == 0 || alias > self.broker.config.mqtt.max_topic_alias => {
                Metrics::count(&self.broker.metrics.packets_topic_alias_invalid);
                return Err(CloseReason::Protocol {
                    code: reason::TOPIC_ALIAS_INVALID,
                    detail: "topic_alias_invalid",
                });
            }
            Some(alias) if topic.is_empty() => match conn.inbound_aliases.get(&alias) {
                Some(known) => Arc::clone(known),
                None => return Err(protocol_error("unknown_topic_alias")),
            },
            Some(alias) => {
                let topic: Arc<str> = Arc::from(topic);
                conn.inbound_aliases.insert(alias, Arc::clone(&topic));
                topic
            }
            None => match &conn.last_topic {
                Some(last) if **last == *topic => Arc::clone(last),
                _ => {
                    let topic: Arc<str> = Arc::from(topic);
                    conn.last_topic = Some(Arc::clone(&topic));
                    topic
                }
            },
        };
        if topic::validate_topic_name(&topic).is_err() {
            // Wildcards, U+0000 or an empty name: malformed, not merely
            // refused (0x90 is for names the server does not accept).
            return Err(CloseReason::Protocol {
                code: reason::MALFORMED_PACKET,
                detail: "topic_name_invalid",
            });
        }
        let question = Question {
            topic: &topic,
            access: Access::Write,
            qos: publish.qos,
            retain: publish.retain,
        };
        match self.may(question) {
            Check::Ready(allowed) => self.publish_decided(publish, topic, allowed),
            Check::Waiting(waiting) => {
                self.wait_for(waiting, Resume::Publish { publish, topic });
                Ok(())
            }
        }
    }

    /// The rest of a PUBLISH once it is known whether the client may make
    /// it; `publish.topic` is not read (`topic` is the resolved one).
    pub(super) fn publish_decided(
        &mut self,
        publish: Publish,
        topic: Arc<str>,
        allowed: bool,
    ) -> Result<(), CloseReason> {
        let Some(conn) = self.conn.as_ref() else {
            return Ok(());
        };
        let v5 = conn.version().is_v5();
        let Publish {
            qos,
            retain,
            packet_id,
            payload,
            mut properties,
            ..
        } = publish;
        // Before the access answer: a refused 3.x PUBLISH is acknowledged
        // as usual and holds its packet id until PUBREL all the same.
        match qos {
            QoS::ExactlyOnce => {
                if self.incoming_qos2.contains(&packet_id) {
                    // A resent PUBLISH whose first copy was already handled.
                    self.acknowledge_when_stored(Held::PubRec(packet_id, reason::SUCCESS), None);
                    return Ok(());
                }
                self.check_unanswered(v5, qos)?;
            }
            QoS::AtLeastOnce => self.check_unanswered(v5, qos)?,
            QoS::AtMostOnce => {}
        }
        if !allowed {
            return self.refuse_publish(v5, qos, packet_id, &topic);
        }
        properties.subscription_identifiers.clear();
        let payload_invalid = properties.payload_format_indicator == Some(1)
            && std::str::from_utf8(&payload).is_err();

        if payload_invalid {
            if qos == QoS::AtMostOnce {
                return Err(CloseReason::Protocol {
                    code: reason::PAYLOAD_FORMAT_INVALID,
                    detail: "payload_format_invalid",
                });
            }
            self.acknowledge(qos, packet_id, reason::PAYLOAD_FORMAT_INVALID);
            return Ok(());
        }

        // The clock is read once per message (the id); reads are costly
        // on some virtual machines.
        let expires_at = properties
            .message_expiry_interval
            .take()
            .map(|secs| Instant::now() + Duration::from_secs(u64::from(secs)));
        let id = self.broker.next_message_id();
        let message = Arc::new(Message {
            id,
            topic,
            payload,
            qos,
            retain,
            properties,
            from: Arc::clone(&self.client_id),
            from_session: Some(self.handle.id()),
            timestamp_ms: id.unix_millis(),
            expires_at,
        });
        // Routing runs on this thread: what it made the store record (a
        // durable subscriber's queue, a retained message) is stored before
        // the acknowledgement goes, and a PUBLISH that recorded nothing is
        // acknowledged at once, whatever other sessions recorded meanwhile
        // (and even while the disk refuses writes).
        let before = self
            .broker
            .store
            .as_ref()
            .map(|store| store.submitted_here());
        let routed = self.broker.publish(message);
        let ticket = self
            .broker
            .store
            .as_ref()
            .map(|store| store.submitted_here())
            .filter(|after| Some(*after) != before);
        self.routed = self
            .routed
            .saturating_add(u32::try_from(routed.receivers).unwrap_or(u32::MAX));
        if let Some(congested) = routed.congested {
            if congested.id() != self.handle.id() {
                self.paused = Some(Pause::new(congested));
            }
        }
        let code = if routed.receivers == 0 && v5 {
            reason::NO_MATCHING_SUBSCRIBERS
        } else {
            reason::SUCCESS
        };
        self.acknowledge_stored(qos, packet_id, code, ticket);
        Ok(())
    }

    /// Whether one more QoS 1 or 2 PUBLISH may go unanswered. A 5.0
    /// client may have `mqtt.receive_maximum` (what it was told) without
    /// PUBACK or PUBCOMP: QoS 2 ids awaiting PUBREL, and PUBACKs waiting
    /// for the store to write what their PUBLISH changed (only while it
    /// lags or refuses writes; otherwise they go at once). A 3.x client,
    /// which is told nothing, may have `mqtt.max_awaiting_rel` QoS 2 ids
    /// awaiting PUBREL. Beyond it the connection closes (5.0: DISCONNECT
    /// 0x93).
    fn check_unanswered(&self, v5: bool, qos: QoS) -> Result<(), CloseReason> {
        let mqtt = &self.broker.config.mqtt;
        let (limit, unanswered, detail) = if v5 {
            (
                Some(mqtt.receive_maximum),
                self.incoming_qos2.len() + self.parked.pubacks(),
                "receive_maximum_exceeded",
            )
        } else if qos == QoS::ExactlyOnce {
            (
                mqtt.max_awaiting_rel.map(|n| n.get()),
                self.incoming_qos2.len(),
                "max_awaiting_rel_exceeded",
            )
        } else {
            // Told no window, a 3.x client still cannot have more
            // PUBLISHes unanswered than there are packet ids: past that
            // it reuses ids in use, and only the store holding PUBACKs
            // back (a full disk) lets it pile them up.
            (Some(u16::MAX), self.parked.len(), "packet_ids_in_use")
        };
        match limit {
            Some(limit) if unanswered >= usize::from(limit) => {
                Metrics::count(&self.broker.metrics.packets_awaiting_rel_exceeded);
                Err(CloseReason::Protocol {
                    code: reason::RECEIVE_MAXIMUM_EXCEEDED,
                    detail,
                })
            }
            _ => Ok(()),
        }
    }

    /// Answers a PUBLISH of `qos` with `code`: PUBACK for QoS 1, PUBREC
    /// for QoS 2 (whose exchange goes on to PUBREL unless `code` refuses).
    fn acknowledge(&mut self, qos: QoS, packet_id: u16, code: u8) {
        self.acknowledge_stored(qos, packet_id, code, None);
    }

    /// [`Session::acknowledge`] once the store holds every record up to
    /// `ticket` (and, for QoS 2, the packet id awaiting PUBREL).
    fn acknowledge_stored(&mut self, qos: QoS, packet_id: u16, code: u8, ticket: Option<u64>) {
        match qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => self.acknowledge_when_stored(Held::PubAck(packet_id, code), ticket),
            QoS::ExactlyOnce => {
                let mut ticket = ticket;
                if code < 0x80 && self.incoming_qos2.insert(packet_id) {
                    ticket = self
                        .record(|client| Record::Qos2In { client, packet_id })
                        .or(ticket);
                }
                self.acknowledge_when_stored(Held::PubRec(packet_id, code), ticket);
            }
        }
    }

    /// A PUBLISH the client may not make: dropped, answered as Mosquitto
    /// does (5.0: 0x87; 3.x, which has no refusal, acknowledged as if
    /// delivered), or the connection closes with `acl.deny_action =
    /// disconnect`.
    fn refuse_publish(
        &mut self,
        v5: bool,
        qos: QoS,
        packet_id: u16,
        topic: &str,
    ) -> Result<(), CloseReason> {
        tracing::debug!(client_id = %escaped(&self.client_id), topic = %escaped(topic), "PUBLISH refused: the client may not write the topic");
        self.broker.metrics.dropped(Dropped::Denied);
        let refused = self.broker.config.acl.deny_reason.code();
        if self.broker.access.disconnects_on_deny() {
            return Err(CloseReason::Protocol {
                code: refused,
                detail: "not_authorized",
            });
        }
        // 3.x has no refusal: acknowledged as if delivered, as Mosquitto
        // does, and the client goes on with PUBREL for QoS 2.
        let code = if v5 { refused } else { reason::SUCCESS };
        self.acknowledge(qos, packet_id, code);
        Ok(())
    }

    /// PUBACK (QoS 1) or PUBCOMP (QoS 2): the exchange is over. An
    /// acknowledgement for a packet id not in flight is ignored (it may
    /// answer a message resent before a reconnect), but one of the wrong
    /// kind for the exchange under way breaks its flow (MQTT 4.3.2,
    /// 4.3.3): a protocol error.
    fn on_final_ack(
        &mut self,
        packet_id: u16,
        expected: Stage,
        qos: QoS,
    ) -> Result<(), CloseReason> {
        let Some(entry) = self.inflight.get_mut(packet_id) else {
            return Ok(());
        };
        if entry.stage != expected || entry.delivery.qos != qos {
            return Err(protocol_error(match qos {
                QoS::AtLeastOnce => "puback_out_of_flow",
                _ => "pubcomp_out_of_flow",
            }));
        }
        if let Some(entry) = self.inflight.remove(packet_id) {
            self.note_inflight();
            self.record_done(&entry.delivery);
            self.broker
                .hooks
                .message_acked(&self.client_id, &entry.delivery.message, qos);
        }
        Ok(())
    }

    fn on_pubrec(&mut self, rec: PubAck) -> Result<(), CloseReason> {
        let Some(entry) = self.inflight.get_mut(rec.packet_id) else {
            if self.is_v5() {
                self.send(&Packet::PubRel(ack(
                    rec.packet_id,
                    reason::PACKET_IDENTIFIER_NOT_FOUND,
                )));
            }
            return Ok(());
        };
        if entry.delivery.qos != QoS::ExactlyOnce {
            return Err(protocol_error("pubrec_for_qos1"));
        }
        if rec.reason >= 0x80 {
            // The receiver refused the message: the exchange ends here.
            if let Some(entry) = self.inflight.remove(rec.packet_id) {
                self.record_done(&entry.delivery);
            }
            self.note_inflight();
            return Ok(());
        }
        entry.stage = Stage::Released;
        let seq = entry.delivery.seq;
        if seq != 0 {
            let ticket = self.record(|client| Record::Released { client, seq });
            if let Some(entry) = self.inflight.get_mut(rec.packet_id) {
                entry.delivery.tickets[2] = ticket.unwrap_or(0);
            }
        }
        self.send(&Packet::PubRel(ack(rec.packet_id, reason::SUCCESS)));
        Ok(())
    }

    fn on_subscribe(&mut self, subscribe: Subscribe) -> Result<(), CloseReason> {
        let decided = Vec::with_capacity(subscribe.filters.len());
        self.decide_filters(subscribe, decided)
    }

    /// Decides the filters of `subscribe` from `decided.len()` on, in
    /// order; once all are, answers the SUBSCRIBE. Waits (and comes back
    /// here) when a plugin answers later. A filter that is not valid is
    /// asked of no one: it is refused or closes the connection anyway.
    pub(super) fn decide_filters(
        &mut self,
        subscribe: Subscribe,
        mut decided: Vec<bool>,
    ) -> Result<(), CloseReason> {
        while let Some((filter, options)) = subscribe.filters.get(decided.len()) {
            if topic::validate_filter(filter).is_err() {
                decided.push(false);
                continue;
            }
            let question = Question {
                topic: filter,
                access: Access::Subscribe,
                qos: options.qos,
                retain: false,
            };
            match self.may(question) {
                Check::Ready(allowed) => decided.push(allowed),
                Check::Waiting(waiting) => {
                    self.wait_for(waiting, Resume::Subscribe { subscribe, decided });
                    return Ok(());
                }
            }
        }
        self.subscribe_decided(subscribe, decided)
    }

    fn subscribe_decided(
        &mut self,
        subscribe: Subscribe,
        decided: Vec<bool>,
    ) -> Result<(), CloseReason> {
        if self.conn.is_none() {
            return Ok(());
        }
        let identifier = subscribe.properties.subscription_identifier;
        let mut reasons = Vec::with_capacity(subscribe.filters.len());
        let mut subscribed: Vec<(String, SubscriptionOptions, bool)> = Vec::new();
        for ((filter, options), allowed) in subscribe.filters.into_iter().zip(decided) {
            match self.subscribe_filter(&filter, options, identifier, allowed)? {
                Ok(is_new) => {
                    reasons.push(options.qos as u8);
                    subscribed.push((filter, options, is_new));
                }
                Err(code) => reasons.push(code),
            }
        }
        self.send(&Packet::SubAck(SubAck {
            packet_id: subscribe.packet_id,
            reasons,
            properties: AckProperties::default(),
        }));
        for (filter, options, is_new) in subscribed {
            self.after_subscribe(&filter, options, identifier, is_new);
        }
        Ok(())
    }

    /// What follows a new or renewed subscription, after any SUBACK: the
    /// `session.subscribed` hook, then the retained messages its Retain
    /// Handling asks for (none for shared subscriptions).
    pub(super) fn after_subscribe(
        &mut self,
        filter: &str,
        options: SubscriptionOptions,
        identifier: Option<u32>,
        is_new: bool,
    ) {
        self.broker
            .hooks
            .session_subscribed(&self.client_id, filter, options, is_new);
        let wanted = match options.retain_handling {
            0 => true,
            1 => is_new,
            _ => false,
        };
        if !wanted || filter.starts_with("$share/") {
            return;
        }
        for message in self.broker.router.retained_for(filter) {
            let qos = message.qos.min(options.qos);
            self.enqueue(Delivery::new(
                message,
                qos,
                true,
                identifier.into_iter().collect(),
            ));
        }
    }

    /// Adds one subscription. The outer error closes the connection; the
    /// inner one is the SUBACK reason code for this filter; Ok(true) means
    /// the subscription is new.
    pub(super) fn subscribe_filter(
        &mut self,
        filter: &str,
        mut options: SubscriptionOptions,
        identifier: Option<u32>,
        allowed: bool,
    ) -> Result<Result<bool, u8>, CloseReason> {
        let config = &self.broker.config;
        if topic::validate_filter(filter).is_err() {
            return Err(malformed_filter());
        }
        let shared = match topic::parse_shared(filter) {
            Ok(shared) => shared,
            Err(_) => return Ok(Err(reason::TOPIC_FILTER_INVALID)),
        };
        let inner = shared.as_ref().map_or(filter, |s| s.filter);
        if topic::validate_filter(inner).is_err() {
            return Ok(Err(reason::TOPIC_FILTER_INVALID));
        }
        if shared.is_some() {
            if options.no_local {
                // MQTT 5.0 3.8.3.1: No Local on a shared subscription.
                return Err(protocol_error("no_local_on_shared_subscription"));
            }
            if !config.mqtt.shared_subscription {
                return Ok(Err(reason::SHARED_SUBSCRIPTIONS_NOT_SUPPORTED));
            }
        }
        if !config.mqtt.wildcard_subscription && (inner.contains('+') || inner.contains('#')) {
            return Ok(Err(reason::WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED));
        }
        if !allowed {
            // 3.x clients read any failure as 0x80.
            return Ok(Err(self.broker.config.acl.deny_reason.code()));
        }
        if self.over_subscription_quota(filter) {
            self.broker
                .metrics
                .subscriptions_quota_exceeded
                .fetch_add(1, Ordering::Relaxed);
            tracing::debug!(client_id = %escaped(&self.client_id), filter = %escaped(filter), "subscription refused: mqtt.max_subscriptions reached");
            // 3.x has no other failure code than 0x80.
            return Ok(Err(if self.is_v5() {
                reason::QUOTA_EXCEEDED
            } else {
                reason::UNSPECIFIED_ERROR
            }));
        }
        options.qos = options.qos.min(QoS::ExactlyOnce);
        let subscriber = Subscriber {
            session: self.handle.clone(),
            options,
            identifier,
        };
        let is_new = self.broker.router.subscribe(filter, shared, subscriber);
        self.subscriptions.insert(filter.to_owned());
        self.record(|client| Record::Subscribe {
            client,
            filter: Arc::from(filter),
            options,
            identifier,
        });
        self.note_subscriptions();
        Ok(Ok(is_new))
    }

    /// Whether `filter` would be one subscription more than
    /// `mqtt.max_subscriptions` allows; renewing a filter the client has
    /// is not one more.
    fn over_subscription_quota(&self, filter: &str) -> bool {
        self.broker
            .config
            .mqtt
            .max_subscriptions
            .is_some_and(|max| {
                self.subscriptions.len() >= max.get() as usize
                    && !self.subscriptions.contains(filter)
            })
    }

    fn on_unsubscribe(&mut self, unsubscribe: Unsubscribe) -> Result<(), CloseReason> {
        if unsubscribe
            .filters
            .iter()
            .any(|filter| topic::validate_filter(filter).is_err())
        {
            return Err(malformed_filter());
        }
        let mut reasons = Vec::with_capacity(unsubscribe.filters.len());
        let mut removed = Vec::new();
        for filter in unsubscribe.filters {
            if self.unsubscribe_filter(&filter) {
                reasons.push(reason::SUCCESS);
                removed.push(filter);
            } else {
                reasons.push(reason::NO_SUBSCRIPTION_EXISTED);
            }
        }
        self.send(&Packet::UnsubAck(UnsubAck {
            packet_id: unsubscribe.packet_id,
            reasons,
            properties: AckProperties::default(),
        }));
        for filter in removed {
            self.broker
                .hooks
                .session_unsubscribed(&self.client_id, &filter);
        }
        Ok(())
    }

    /// Removes one subscription; true when it existed.
    pub(super) fn unsubscribe_filter(&mut self, filter: &str) -> bool {
        if !self.subscriptions.remove(filter) {
            return false;
        }
        self.record(|client| Record::Unsubscribe {
            client,
            filter: Arc::from(filter),
        });
        self.note_subscriptions();
        let shared = topic::parse_shared(filter).ok().flatten();
        self.broker
            .router
            .unsubscribe(filter, shared, self.handle.id());
        true
    }
}
