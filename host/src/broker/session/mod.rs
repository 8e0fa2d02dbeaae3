//! Sessions: one tokio task per session, the only owner of that session's
//! state.
//!
//! A session outlives its connections. While a client is connected the
//! task also owns the socket, and multiplexes four things: bytes from the
//! client, bytes to the client, events from its mailbox (messages routed to
//! it, takeover, shutdown), and the keep alive timer. While disconnected it
//! queues messages until the client returns or the session expires.
//!
//! - [`inbound`]: packets from the client.
//! - [`outbound`]: messages to the client: queue, in-flight window, encoding.
//! - [`inflight`]: the in-flight window and packet ids.
//! - [`mailbox`]: events for the session from everyone else.
//! - [`pressure`]: flow control from a congested subscriber's session
//!   back to the publishers' sessions that fill it.
//! - [`timer`]: the one timer of a session.

mod inbound;
pub mod inflight;
mod mailbox;
mod outbound;
pub mod pressure;
mod timer;

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use mqhost_codec::{ConnAck, ConnAckProperties, Packet, QoS, SubscriptionOptions};
use tokio::io::AsyncWrite;
use tokio::sync::oneshot;

use super::connection::Connection;
use super::message::{unix_millis, Message};
use super::topic;
use super::{Broker, SessionId};
use crate::hooks::ClientInfo;
use inflight::Inflight;
use mailbox::{Inbox, Mailbox};
use pressure::{AfterPause, Pause, Pressure};
use timer::Timer;

/// A message on its way to one session, with what that session's matching
/// subscriptions decided.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub message: Arc<Message>,
    /// QoS for this receiver: the lower of published and granted.
    pub qos: QoS,
    /// RETAIN flag to send.
    pub retain: bool,
    /// Identifiers of every matching subscription (5.0).
    pub subscription_ids: Vec<u32>,
}

/// What a session's mailbox carries.
pub enum SessionEvent {
    /// A message routed to this session.
    Deliver(Delivery),
    /// A new connection for this session (CONNECT with Clean Start 0). The
    /// reply is None once attached, or gives the connection back once the
    /// session is gone (it ended first, or ends because of this takeover),
    /// so the caller starts a new one.
    Attach(Box<Attach>, oneshot::Sender<Option<Box<Attach>>>),
    /// End the session now (CONNECT with Clean Start 1 for this client id);
    /// the reply fires once it is unregistered.
    Discard(oneshot::Sender<()>),
    /// Subscribe as a SUBSCRIBE would, without SUBACK (a plugin's order).
    Subscribe { filter: String, qos: QoS },
    /// Unsubscribe as an UNSUBSCRIBE would, without UNSUBACK.
    Unsubscribe { filter: String },
    /// The broker is stopping.
    Shutdown,
}

/// Someone waiting for a session to end and be unregistered, to start the
/// next session of its client id.
enum Successor {
    /// A CONNECT with Clean Start 1; told once the session is gone.
    Discard(oneshot::Sender<()>),
    /// A connection that took over a session ending with its connection;
    /// given back to start anew.
    Attach(Box<Attach>, oneshot::Sender<Option<Box<Attach>>>),
}

/// A connection that passed CONNECT, on its way to its session.
pub struct Attach {
    pub conn: Connection,
    pub clean_start: bool,
    /// Session Expiry Interval asked for, already capped (seconds;
    /// `u32::MAX` never expires).
    pub session_expiry: u32,
    /// CONNACK properties decided at CONNECT; the session adds Session Present.
    pub connack: ConnAckProperties,
}

struct Shared {
    id: SessionId,
    client_id: Arc<str>,
    mailbox: Mailbox,
    online: AtomicBool,
    pressure: Pressure,
}

/// A cheap, cloneable way to reach a session.
#[derive(Clone)]
pub struct SessionHandle {
    shared: Arc<Shared>,
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
    pub fn deliver(&self, delivery: Delivery) -> bool {
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

    fn pressure(&self) -> &Pressure {
        &self.shared.pressure
    }
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The client sent DISCONNECT; 0x04 asks for the will anyway.
    Disconnected { reason: u8 },
    /// The socket closed or failed.
    Lost,
    /// Nothing arrived within 1.5 times the keep alive.
    KeepAliveTimeout,
    /// The client broke the protocol; `code` goes into a 5.0 DISCONNECT.
    Protocol { code: u8, detail: &'static str },
    /// Another connection took the client id.
    TakenOver,
    /// The broker is stopping.
    Shutdown,
}

impl CloseReason {
    /// Reason code of the DISCONNECT the server sends, if it sends one.
    fn server_disconnect(&self) -> Option<u8> {
        use mqhost_codec::reason;
        match self {
            CloseReason::Disconnected { .. } | CloseReason::Lost => None,
            CloseReason::KeepAliveTimeout => Some(reason::KEEP_ALIVE_TIMEOUT),
            CloseReason::Protocol { code, .. } => Some(*code),
            CloseReason::TakenOver => Some(reason::SESSION_TAKEN_OVER),
            CloseReason::Shutdown => Some(reason::SERVER_SHUTTING_DOWN),
        }
    }

    /// Whether the will is published (subject to will delay): always but
    /// for a DISCONNECT with reason 0x00.
    fn publishes_will(&self) -> bool {
        !matches!(self, CloseReason::Disconnected { reason: 0 })
    }

    /// Short name for logs and hooks (EMQX's words where it has them).
    pub fn as_str(&self) -> &'static str {
        match self {
            CloseReason::Disconnected { .. } => "normal",
            CloseReason::Lost => "closed",
            CloseReason::KeepAliveTimeout => "keepalive_timeout",
            CloseReason::Protocol { detail, .. } => detail,
            CloseReason::TakenOver => "takenover",
            CloseReason::Shutdown => "shutdown",
        }
    }
}

/// A will waiting for its delay to pass.
struct PendingWill {
    at: Instant,
    message: Arc<Message>,
}

/// A publisher's task yields after a read that made at most this many
/// deliveries, so that the receivers forward before it acknowledges: that
/// is what latency under light load is made of. A read that made more is a
/// busy moment, where letting receivers batch more serves better.
const YIELD_MAX_DELIVERIES: usize = 64;

/// Most mailbox events handled before the socket gets another turn.
const EVENT_BATCH: usize = 256;

/// The state of one session, owned by its task.
pub struct Session {
    broker: Arc<Broker>,
    handle: SessionHandle,
    /// Events taken from the mailbox, handled in order.
    inbox: Inbox,
    client_id: Arc<str>,
    /// Filters subscribed, as the client wrote them (the router holds
    /// their options).
    subscriptions: HashSet<String>,
    inflight: Inflight,
    /// Messages waiting for the in-flight window or for the client to return.
    queue: VecDeque<Delivery>,
    /// Inbound QoS 2 packet ids between PUBREC and PUBREL.
    incoming_qos2: HashSet<u16>,
    /// Session Expiry Interval in seconds; `u32::MAX` never expires.
    expiry: u32,
    conn: Option<Connection>,
    /// When the last connection ended, for expiry.
    detached_at: Instant,
    /// Boxed: most sessions never have one, and the session is held per
    /// connection.
    pending_will: Option<Box<PendingWill>>,
    /// Who waits for this session to be gone.
    successors: Vec<Successor>,
    /// Messages moved out of the queue plus writes to the client so far:
    /// the progress publishers waiting on this session look for.
    progress: u64,
    /// Set while this session, as a publisher, waits for a congested
    /// subscriber: it does not read from its client meanwhile.
    paused: Option<Pause>,
    /// Deliveries the last read made (to sessions, this one included).
    routed: u32,
    /// Keep alive while connected; expiry and a delayed will while not.
    timer: Timer,
    /// Which source [`Session::wait`] looks at first, turn by turn, so
    /// that a busy one cannot starve the others.
    turn: u8,
}

/// The sources a connected session waits on: write, read, pause, mailbox,
/// keep alive.
const SOURCES: u8 = 5;

enum Wake {
    Read(std::io::Result<usize>),
    Wrote(std::io::Result<usize>),
    Event(SessionEvent),
    KeepAlive,
    Expired,
    WillDue,
    PauseOver,
}

impl Session {
    /// Creates a session for the connection in `attach`, registers it, and
    /// starts its task. Fails with the connection when the client id was
    /// taken meanwhile.
    pub fn start(broker: Arc<Broker>, attach: Box<Attach>) -> Result<(), Box<Attach>> {
        let client_id = Arc::clone(&attach.conn.info.client_id);
        let handle = SessionHandle {
            shared: Arc::new(Shared {
                id: broker.next_session_id(),
                client_id: Arc::clone(&client_id),
                mailbox: Mailbox::default(),
                online: AtomicBool::new(false),
                pressure: Pressure::new(
                    broker
                        .config
                        .mqtt
                        .max_queued_messages
                        .map(|n| n.get() as usize),
                ),
            }),
        };
        if broker.registry.insert_if_absent(&handle).is_err() {
            return Err(attach);
        }
        broker.metrics.sessions.fetch_add(1, Ordering::Relaxed);
        let session = Session {
            broker,
            handle,
            inbox: Inbox::default(),
            client_id,
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
        };
        tokio::spawn(session.run(attach));
        Ok(())
    }

    /// The session's task: takes its first connection, then serves until
    /// the session ends. (One future holds the session: an idle
    /// connection's memory is mostly this future.)
    ///
    /// Not an `async fn`: that would copy `self` from its argument into
    /// the body's state, holding the session twice in every task.
    #[allow(clippy::manual_async_fn)]
    fn run(mut self, first: Box<Attach>) -> impl Future<Output = ()> + Send {
        async move {
            self.attach(first, false);
            loop {
                let wake = self.wait().await;
                let keep_going = match wake {
                    Wake::Read(result) => {
                        let keep_going = self.on_read(result);
                        let routed = std::mem::take(&mut self.routed);
                        if routed > 0 && routed as usize <= YIELD_MAX_DELIVERIES {
                            // Let the receivers forward what this read routed
                            // before this task writes the acknowledgements:
                            // forwarding is on the latency path, acking is not.
                            tokio::task::yield_now().await;
                        }
                        keep_going
                    }
                    Wake::Wrote(result) => self.on_wrote(result),
                    Wake::Event(event) => {
                        let mut keep_going = self.on_event(event);
                        for _ in 0..EVENT_BATCH {
                            if !keep_going {
                                break;
                            }
                            match self.inbox.try_next(&self.handle.shared.mailbox) {
                                Some(event) => keep_going = self.on_event(event),
                                None => break,
                            }
                        }
                        keep_going
                    }
                    Wake::KeepAlive => self.detach(CloseReason::KeepAliveTimeout),
                    Wake::Expired => false,
                    Wake::WillDue => {
                        self.publish_pending_will();
                        true
                    }
                    Wake::PauseOver => self.on_pause_over(),
                };
                if !keep_going {
                    break;
                }
            }
            self.end();
        }
    }

    /// Waits for the next thing to do. The sources are polled by hand, not
    /// through `select!`, which would hold a future for each in every
    /// session's task (an idle connection's memory is mostly that task)
    /// and arm a new keep alive timer at every wake.
    async fn wait(&mut self) -> Wake {
        self.turn = (self.turn + 1) % SOURCES;
        std::future::poll_fn(|cx| self.poll_wake(cx)).await
    }

    fn poll_wake(&mut self, cx: &mut Context<'_>) -> Poll<Wake> {
        if self.conn.is_none() {
            return self.poll_detached(cx);
        }
        for i in 0..SOURCES {
            let ready = match (self.turn + i) % SOURCES {
                0 => self.poll_write(cx),
                1 => self.poll_read(cx),
                2 => self.poll_pause(cx),
                3 => self.poll_event(cx),
                _ => self.poll_keep_alive(cx),
            };
            if ready.is_ready() {
                return ready;
            }
        }
        Poll::Pending
    }

    fn poll_write(&mut self, cx: &mut Context<'_>) -> Poll<Wake> {
        match self.conn.as_mut() {
            Some(conn) if !conn.write_buf.is_empty() => Pin::new(&mut conn.writer)
                .poll_write(cx, &conn.write_buf)
                .map(Wake::Wrote),
            _ => Poll::Pending,
        }
    }

    /// While paused the client's bytes wait in the socket.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Wake> {
        match self.conn.as_mut() {
            Some(conn) if self.paused.is_none() => conn.poll_read(cx).map(Wake::Read),
            _ => Poll::Pending,
        }
    }

    fn poll_pause(&mut self, cx: &mut Context<'_>) -> Poll<Wake> {
        match self.paused.as_mut() {
            Some(pause) => pause.poll_wait(cx).map(|()| Wake::PauseOver),
            None => Poll::Pending,
        }
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Wake> {
        self.inbox
            .poll_next(&self.handle.shared.mailbox, cx)
            .map(Wake::Event)
    }

    /// A paused client is alive: keep alive does not apply.
    fn poll_keep_alive(&mut self, cx: &mut Context<'_>) -> Poll<Wake> {
        let deadline = match (&self.conn, &self.paused) {
            (Some(conn), None) => conn.keep_alive_deadline(),
            _ => None,
        };
        self.timer
            .poll_until(cx, deadline)
            .map(|()| Wake::KeepAlive)
    }

    /// Without a connection: the mailbox, expiry and a delayed will.
    fn poll_detached(&mut self, cx: &mut Context<'_>) -> Poll<Wake> {
        if let Poll::Ready(wake) = self.poll_event(cx) {
            return Poll::Ready(wake);
        }
        let expires_at = (self.expiry != u32::MAX)
            .then(|| self.detached_at + Duration::from_secs(u64::from(self.expiry)));
        let will_at = self.pending_will.as_ref().map(|w| w.at);
        let next = expires_at.into_iter().chain(will_at).min();
        std::task::ready!(self.timer.poll_until(cx, next));
        if will_at.is_some_and(|at| at <= Instant::now()) {
            Poll::Ready(Wake::WillDue)
        } else {
            Poll::Ready(Wake::Expired)
        }
    }

    fn on_read(&mut self, result: std::io::Result<usize>) -> bool {
        match result {
            Ok(0) | Err(_) => self.detach(CloseReason::Lost),
            Ok(read) => {
                self.broker
                    .metrics
                    .bytes_received
                    .fetch_add(read as u64, Ordering::Relaxed);
                if let Some(conn) = self.conn.as_mut() {
                    conn.after_read(read);
                }
                match self.decode_and_handle() {
                    Ok(()) => {
                        self.pump();
                        true
                    }
                    Err(reason) => self.detach(reason),
                }
            }
        }
    }

    /// A congested subscriber drained, made progress, or made none for too
    /// long: go on reading, or wait some more.
    fn on_pause_over(&mut self) -> bool {
        let Some(pause) = self.paused.as_mut() else {
            return true;
        };
        if let AfterPause::Wait = pause.check() {
            return true;
        }
        self.paused = None;
        if let Some(conn) = self.conn.as_mut() {
            conn.last_packet = Instant::now();
        }
        // Packets read before the pause are still in the buffer.
        match self.decode_and_handle() {
            Ok(()) => {
                self.pump();
                true
            }
            Err(reason) => self.detach(reason),
        }
    }

    fn on_wrote(&mut self, result: std::io::Result<usize>) -> bool {
        match result {
            Ok(0) | Err(_) => self.detach(CloseReason::Lost),
            Ok(written) => {
                self.broker
                    .metrics
                    .bytes_sent
                    .fetch_add(written as u64, Ordering::Relaxed);
                if let Some(conn) = self.conn.as_mut() {
                    conn.after_write(written);
                }
                self.progress += 1;
                // Room in the write buffer may let queued messages out.
                self.pump();
                self.publish_pressure();
                true
            }
        }
    }

    fn on_event(&mut self, event: SessionEvent) -> bool {
        match event {
            SessionEvent::Deliver(delivery) => {
                self.handle.shared.pressure.received();
                self.enqueue(delivery);
                self.pump();
                true
            }
            SessionEvent::Attach(attach, reply) => {
                if self.conn.is_some() && self.expiry == 0 {
                    // A session that was to end with its connection (3.x
                    // clean session, 5.0 expiry 0) ends with the takeover,
                    // will and all; the newcomer starts a new session once
                    // this one is unregistered (3.1.2.4, 3.1.2.11.2).
                    self.detach(CloseReason::TakenOver);
                    self.successors.push(Successor::Attach(attach, reply));
                    return false;
                }
                if let Some(old) = self.conn.as_mut() {
                    // The session goes on with a new connection made
                    // before any will delay ran out, so the old will is
                    // never sent (MQTT 5.0 3.1.2.5; Mosquitto agrees, also
                    // for a will without delay and for 3.x).
                    old.will = None;
                    self.detach(CloseReason::TakenOver);
                }
                self.attach(attach, true);
                let _ = reply.send(None);
                true
            }
            SessionEvent::Discard(reply) => {
                self.successors.push(Successor::Discard(reply));
                if self.conn.is_some() {
                    self.expiry = 0;
                    self.detach(CloseReason::TakenOver);
                }
                false
            }
            SessionEvent::Subscribe { filter, qos } => {
                let options = SubscriptionOptions {
                    qos,
                    no_local: false,
                    retain_as_published: false,
                    retain_handling: 0,
                };
                match self.subscribe_filter(&filter, options, None) {
                    Ok(Ok(is_new)) => {
                        self.after_subscribe(&filter, options, None, is_new);
                        self.pump();
                    }
                    _ => {
                        tracing::warn!(client_id = %self.client_id, %filter, "subscription refused")
                    }
                }
                true
            }
            SessionEvent::Unsubscribe { filter } => {
                if self.unsubscribe_filter(&filter) {
                    self.broker
                        .hooks
                        .session_unsubscribed(&self.client_id, &filter);
                }
                true
            }
            SessionEvent::Shutdown => {
                if self.conn.is_some() {
                    self.detach(CloseReason::Shutdown);
                }
                false
            }
        }
    }

    /// Takes over `attach`'s connection: CONNACK, hooks, then everything
    /// that was waiting for the client.
    fn attach(&mut self, attach: Box<Attach>, resumed: bool) {
        let Attach {
            conn,
            clean_start,
            session_expiry,
            connack,
        } = *attach;
        // A returning client cancels a will still waiting for its delay.
        self.pending_will = None;
        self.expiry = session_expiry;
        let session_present = resumed && !clean_start;
        self.conn = Some(conn);
        self.handle.shared.online.store(true, Ordering::Relaxed);
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        conn.send(&Packet::ConnAck(ConnAck {
            session_present,
            reason: 0,
            properties: connack,
        }));
        let info = conn.info.clone();
        tracing::info!(
            client_id = %info.client_id,
            peer = %info.peer,
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
        self.pump();
    }

    /// Ends the current connection. Returns whether the session lives on.
    fn detach(&mut self, reason: CloseReason) -> bool {
        let Some(mut conn) = self.conn.take() else {
            return self.expiry != 0;
        };
        self.handle.shared.online.store(false, Ordering::Relaxed);
        // Publishers waiting for this client to read need not wait now.
        self.handle.shared.pressure.release();
        self.paused = None;
        self.detached_at = Instant::now();
        let will = conn.will.take();
        let info = conn.info.clone();
        let keep_alive = conn.keep_alive;
        conn.close(reason.server_disconnect());
        let code = match &reason {
            CloseReason::Protocol { code, .. } => Some(format!("{code:#04x}")),
            _ => None,
        };
        tracing::info!(
            client_id = %info.client_id,
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
                self.pending_will = Some(Box::new(PendingWill {
                    at: Instant::now() + Duration::from_secs(u64::from(delay.min(self.expiry))),
                    message,
                }));
            }
        }
        self.expiry != 0
    }

    fn will_message(&self, will: mqhost_codec::LastWill) -> Arc<Message> {
        let mut properties = mqhost_codec::PublishProperties {
            payload_format_indicator: will.properties.payload_format_indicator,
            message_expiry_interval: will.properties.message_expiry_interval,
            content_type: will.properties.content_type,
            response_topic: will.properties.response_topic,
            correlation_data: will.properties.correlation_data,
            user_properties: will.properties.user_properties,
            ..Default::default()
        };
        let expires_at = properties
            .message_expiry_interval
            .take()
            .map(|secs| Instant::now() + Duration::from_secs(u64::from(secs)));
        properties.message_expiry_interval = None;
        Arc::new(Message {
            id: self.broker.next_message_id(),
            topic: Arc::from(will.topic.as_str()),
            payload: will.payload,
            qos: will.qos,
            retain: will.retain,
            properties,
            from: Arc::clone(&self.client_id),
            from_session: Some(self.handle.id()),
            timestamp_ms: unix_millis(),
            expires_at,
        })
    }

    fn publish_pending_will(&mut self) {
        if let Some(will) = self.pending_will.take() {
            self.broker.publish(will.message);
        }
    }

    /// The session is over: its will (if still pending), subscriptions and
    /// registration go; anyone still trying to attach is told to start anew.
    fn end(mut self) {
        if self.conn.is_some() {
            self.expiry = 0;
            self.detach(CloseReason::Shutdown);
        }
        self.publish_pending_will();
        let id = self.handle.id();
        for filter in self.subscriptions.drain() {
            let shared = topic::parse_shared(&filter).ok().flatten();
            self.broker.router.unsubscribe(&filter, shared, id);
        }
        self.broker.registry.remove_if(&self.client_id, id);
        self.broker.metrics.sessions.fetch_sub(1, Ordering::Relaxed);
        self.handle.shared.pressure.release();
        let mut left = std::mem::take(&mut self.inbox).into_remaining();
        left.extend(self.handle.shared.mailbox.close());
        for event in left {
            match event {
                SessionEvent::Attach(attach, reply) => {
                    let _ = reply.send(Some(attach));
                }
                SessionEvent::Discard(reply) => self.successors.push(Successor::Discard(reply)),
                SessionEvent::Deliver(_)
                | SessionEvent::Subscribe { .. }
                | SessionEvent::Unsubscribe { .. }
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
            }
        }
        tracing::debug!(client_id = %self.client_id, "session ended");
    }
}

/// "3.1", "3.1.1" or "5.0", for logs.
pub fn protocol_name(version: mqhost_codec::ProtocolVersion) -> &'static str {
    match version {
        mqhost_codec::ProtocolVersion::V3_1 => "3.1",
        mqhost_codec::ProtocolVersion::V3_1_1 => "3.1.1",
        mqhost_codec::ProtocolVersion::V5 => "5.0",
    }
}

/// Unix seconds now.
pub fn unix_secs() -> u64 {
    unix_millis() / 1000
}

impl ClientInfo {
    /// Whether this is a 5.0 client.
    pub fn is_v5(&self) -> bool {
        self.protocol.is_v5()
    }
}
