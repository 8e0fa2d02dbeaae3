//! A session's life: [`Session::start`], attaching a connection (CONNACK,
//! hooks, resending), detaching it for a [`CloseReason`] (DISCONNECT, will),
//! and ending the session (unsubscribing, unregistering, answering whoever
//! still waits on it).

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mqhost_codec::{ConnAck, Packet};

use super::inflight::Inflight;
use super::mailbox::Inbox;
use super::timer::Timer;
use super::will::PendingWill;
use super::{protocol_name, Attach, Session, SessionEvent, SessionHandle, Successor};
use crate::access::decider::AccessCache;
use crate::broker::message::unix_millis;
use crate::broker::{metrics, topic, Broker};
use crate::escape::escaped;
use crate::hooks::ClientInfo;
use crate::persist::Record;

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The client sent DISCONNECT; 0x04 asks for the will anyway.
    Disconnected { reason: u8 },
    /// The socket closed or failed.
    Lost,
    /// Nothing arrived within 1.5 times the keep alive.
    KeepAliveTimeout,
    /// A packet begun was not whole within `mqtt.packet_timeout`. Closed
    /// without a DISCONNECT: 5.0 has no reason code for it (0x8D says keep
    /// alive, which may be off), and a client stalled mid-packet is most
    /// likely gone.
    PacketTimeout,
    /// The client broke the protocol; `code` goes into a 5.0 DISCONNECT.
    Protocol { code: u8, detail: &'static str },
    /// Another connection took the client id.
    TakenOver,
    /// An administrator or a plugin ended the connection; `code` goes into
    /// a 5.0 DISCONNECT.
    Kicked { code: u8 },
    /// The broker is stopping.
    Shutdown,
}

impl CloseReason {
    /// Reason code of the DISCONNECT the server sends, if it sends one.
    fn server_disconnect(&self) -> Option<u8> {
        use mqhost_codec::reason;
        match self {
            CloseReason::Disconnected { .. } | CloseReason::Lost | CloseReason::PacketTimeout => {
                None
            }
            CloseReason::KeepAliveTimeout => Some(reason::KEEP_ALIVE_TIMEOUT),
            CloseReason::Protocol { code, .. } => Some(*code),
            CloseReason::TakenOver => Some(reason::SESSION_TAKEN_OVER),
            CloseReason::Kicked { code } => Some(*code),
            CloseReason::Shutdown => Some(reason::SERVER_SHUTTING_DOWN),
        }
    }

    /// Whether the will is published (subject to will delay): always but
    /// for a DISCONNECT with reason 0x00 from the client. A DISCONNECT the
    /// server sends, whatever its code, leaves the will in force (MQTT 5.0
    /// 3.1.2.5).
    fn publishes_will(&self) -> bool {
        !matches!(self, CloseReason::Disconnected { reason: 0 })
    }

    /// Short name for logs and hooks (EMQX's words where it has them).
    pub fn as_str(&self) -> &'static str {
        match self {
            CloseReason::Disconnected { .. } => "normal",
            CloseReason::Lost => "closed",
            CloseReason::KeepAliveTimeout => "keepalive_timeout",
            CloseReason::PacketTimeout => "packet_timeout",
            CloseReason::Protocol { detail, .. } => detail,
            CloseReason::TakenOver => "takenover",
            CloseReason::Kicked { .. } => "kicked",
            CloseReason::Shutdown => "shutdown",
        }
    }
}

impl Session {
    /// A session with nothing in it yet: no subscriptions, queue or
    /// in-flight messages, expiring when its connection ends. A new
    /// session starts so, and a stored one is filled in from it.
    pub(super) fn blank(
        broker: Arc<Broker>,
        handle: SessionHandle,
        client_id: Arc<str>,
        client: Arc<ClientInfo>,
    ) -> Session {
        Session {
            broker,
            handle,
            inbox: Inbox::default(),
            client_id,
            client,
            access_cache: AccessCache::default(),
            superuser: false,
            awaiting: None,
            held: VecDeque::new(),
            subscriptions: HashSet::new(),
            inflight: Inflight::default(),
            queue: VecDeque::new(),
            incoming_qos2: HashSet::new(),
            expiry: 0,
            conn: None,
            detached_at: Instant::now(),
            pending_will: None,
            successors: Vec::new(),
            progress: 0,
            paused: None,
            routed: 0,
            timer: Timer::default(),
            turn: 0,
            parked: Default::default(),
            parked_wait: 0,
        }
    }

    /// Creates a session for the connection in `attach`, registers it, and
    /// starts its task. Fails with the connection when the client id was
    /// taken meanwhile.
    pub fn start(broker: Arc<Broker>, attach: Box<Attach>) -> Result<(), Box<Attach>> {
        let client_id = Arc::clone(&attach.conn.info.client_id);
        let handle = SessionHandle::new(&broker, &client_id, Arc::clone(&attach.conn.info), 1);
        if broker.registry.insert_if_absent(&handle).is_err() {
            return Err(attach);
        }
        broker.metrics.sessions.fetch_add(1, Ordering::Relaxed);
        let client = Arc::clone(&attach.conn.info);
        let session = Session::blank(broker, handle, client_id, client);
        tokio::spawn(session.run(Some(attach)));
        Ok(())
    }

    /// Takes over `attach`'s connection: CONNACK, hooks, then everything
    /// that was waiting for the client.
    pub(super) fn attach(&mut self, attach: Box<Attach>, resumed: bool) {
        let Attach {
            conn,
            clean_start,
            session_expiry,
            connack,
            superuser,
        } = *attach;
        // A returning client cancels a will still waiting for its delay.
        if self.pending_will.take().is_some() {
            self.record(Record::WillClear);
        }
        self.expiry = session_expiry;
        let session_present = resumed && !clean_start;
        if conn.info.username != self.client.username || superuser != self.superuser {
            self.superuser = superuser;
            self.broker.access.forget(&mut self.access_cache);
        }
        self.client = Arc::clone(&conn.info);
        self.note_attached(&conn.info);
        self.conn = Some(conn);
        self.record_terms();
        // What waited for the client was checked for whoever it was then,
        // against the rules of then: it is checked again, in order, after
        // CONNACK (a plugin may take its time to answer).
        let queued = std::mem::take(&mut self.queue);
        self.held.extend(queued);
        self.handle.shared.online.store(true, Ordering::Relaxed);
        self.send(&Packet::ConnAck(ConnAck {
            session_present,
            reason: 0,
            properties: connack,
        }));
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        let info = conn.info.clone();
        tracing::info!(
            client_id = %escaped(&info.client_id),
            peer = %info.peer,
            listener = info.listener.id(),
            protocol = protocol_name(info.protocol),
            keep_alive = conn.keep_alive,
            clean_start = info.clean_start,
            session_present,
            "client connected"
        );
        self.broker.metrics.client_connected();
        self.broker.hooks.session_created(
            &info.client_id,
            info.username.as_deref(),
            session_present,
        );
        self.broker.hooks.client_connected(&info);
        self.resend_inflight();
        self.drain_held();
        self.pump();
    }

    /// Ends the current connection. Returns whether the session lives on.
    pub(super) fn detach(&mut self, reason: CloseReason) -> bool {
        let Some(mut conn) = self.conn.take() else {
            return self.expiry != 0;
        };
        self.handle.shared.online.store(false, Ordering::Relaxed);
        // Publishers waiting for this client to read need not wait now.
        self.handle.shared.pressure.release();
        self.paused = None;
        // Acknowledgements still waiting for the store are lost with the
        // connection: the client sends its PUBLISH again.
        self.parked.clear();
        self.parked_wait = 0;
        self.detached_at = Instant::now();
        self.note_detached();
        let will = conn.will.take();
        let info = conn.info.clone();
        let keep_alive = conn.keep_alive;
        // What is left to write goes out on the closing task: counted as
        // written now.
        let (disconnect, left) = conn.close(reason.server_disconnect());
        let local = self.broker.metrics.local();
        if disconnect > 0 {
            local.packet_out(metrics::DISCONNECT, disconnect);
        }
        local.add(&local.counters.bytes_written, left as u64);
        let code = match &reason {
            CloseReason::Protocol { code, .. } | CloseReason::Kicked { code } => {
                Some(format!("{code:#04x}"))
            }
            _ => None,
        };
        tracing::info!(
            client_id = %escaped(&info.client_id),
            peer = %info.peer,
            protocol = protocol_name(info.protocol),
            keep_alive,
            reason = reason.as_str(),
            code = code.as_deref(),
            "client disconnected"
        );
        self.broker.metrics.client_disconnected();
        self.broker
            .hooks
            .client_disconnected(&info, reason.as_str());
        if let Some(will) = will.filter(|_| reason.publishes_will()) {
            let delay = will.properties.will_delay_interval.unwrap_or(0);
            let message = self.will_message(*will);
            if delay == 0 || self.expiry == 0 || reason == CloseReason::TakenOver {
                self.broker.publish(message);
            } else {
                let after = Duration::from_secs(u64::from(delay.min(self.expiry)));
                self.record(|client| Record::Will {
                    client,
                    at_ms: unix_millis() + after.as_millis() as u64,
                    message: Arc::clone(&message),
                });
                self.pending_will = Some(Box::new(PendingWill {
                    at: Instant::now() + after,
                    message,
                }));
            }
        }
        self.record_terms();
        self.expiry != 0
    }

    /// The session is over: its will (if still pending), subscriptions and
    /// registration go; anyone still trying to attach is told to start anew.
    pub(super) fn end(mut self) {
        if self.conn.is_some() {
            self.expiry = 0;
            self.detach(CloseReason::Shutdown);
        }
        let mut left = VecDeque::new();
        if let Some(at) = self
            .successors
            .iter()
            .position(|s| matches!(s, Successor::Take(_)))
        {
            // Closed before the state is taken, so that what was routed
            // here until now goes with it; what comes later finds no
            // session, as it would after any end.
            left = std::mem::take(&mut self.inbox).into_remaining();
            left.extend(self.handle.shared.mailbox.close());
            for event in std::mem::take(&mut left) {
                match event {
                    SessionEvent::Deliver(delivery) => self.queue.push_back(delivery),
                    other => left.push_back(other),
                }
            }
            let Successor::Take(taker) = self.successors.swap_remove(at) else {
                unreachable!("found above")
            };
            // A session that was to end with its connection has nothing
            // to move.
            taker((self.expiry != 0).then(|| self.take_out()));
        }
        self.publish_pending_will();
        self.record_end();
        let id = self.handle.id();
        for filter in self.subscriptions.drain() {
            let shared = topic::parse_shared(&filter).ok().flatten();
            self.broker.router.unsubscribe(&filter, shared, id);
        }
        self.broker.registry.remove_if(&self.client_id, id);
        self.broker.metrics.sessions.fetch_sub(1, Ordering::Relaxed);
        self.handle.shared.pressure.release();
        left.extend(std::mem::take(&mut self.inbox).into_remaining());
        left.extend(self.handle.shared.mailbox.close());
        for event in left {
            match event {
                SessionEvent::Attach(attach, reply) => {
                    let _ = reply.send(Some(attach));
                }
                SessionEvent::Discard(reply) => self.successors.push(Successor::Discard(reply)),
                SessionEvent::Take(taker) => taker(None),
                SessionEvent::Deliver(_)
                | SessionEvent::Subscribe { .. }
                | SessionEvent::Unsubscribe { .. }
                | SessionEvent::Subscriptions(_)
                | SessionEvent::Disconnect { .. }
                | SessionEvent::Stored
                | SessionEvent::Shutdown => {}
            }
        }
        for successor in self.successors.drain(..) {
            match successor {
                Successor::Discard(reply) => {
                    let _ = reply.send(());
                }
                Successor::Attach(attach, reply) => {
                    let _ = reply.send(Some(attach));
                }
                Successor::Take(taker) => taker(None),
            }
        }
        tracing::debug!(client_id = %escaped(&self.client_id), "session ended");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kicked_client_gets_the_code_given_and_keeps_its_will() {
        let kicked = CloseReason::Kicked { code: 0x98 };
        assert_eq!(kicked.server_disconnect(), Some(0x98));
        assert_eq!(kicked.as_str(), "kicked");
        // Even with 0x00: only the client's own normal DISCONNECT removes
        // the will.
        assert!(CloseReason::Kicked { code: 0x00 }.publishes_will());
        assert!(!CloseReason::Disconnected { reason: 0x00 }.publishes_will());
    }
}
