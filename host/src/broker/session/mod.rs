//! Sessions: one tokio task per session, the only owner of that session's
//! state.
//!
//! A session outlives its connections. While a client is connected the
//! task also owns the socket, and multiplexes four things: bytes from the
//! client, bytes to the client, events from its mailbox (messages routed to
//! it, takeover, shutdown), and the keep alive timer. While disconnected it
//! queues messages until the client returns or the session expires.
//!
//! - [`event_loop`]: the session's task: waiting on its sources and
//!   dispatching what woke it.
//! - [`lifecycle`]: starting a session, attaching and detaching
//!   connections, and ending it.
//! - [`handle`]: how everyone else reaches a session.
//! - [`handover`]: a session taken out as bytes, and put in, to move
//!   between the brokers of a cluster.
//! - [`will`]: wills, published at once or after their delay.
//! - [`inbound`]: packets from the client.
//! - [`decision`]: waiting for a plugin's access answer without holding
//!   anyone else, packets and deliveries kept in order meanwhile.
//! - [`outbound`]: messages to the client: queue, in-flight window, encoding.
//! - [`inflight`]: the in-flight window and packet ids.
//! - [`mailbox`]: events for the session from everyone else.
//! - [`pressure`]: flow control from a congested subscriber's session
//!   back to the publishers' sessions that fill it.
//! - [`timer`]: the one timer of a session.

mod decision;
mod durable;
mod event_loop;
mod figures;
mod handle;
pub mod handover;
mod held;
mod inbound;
pub mod inflight;
mod lifecycle;
mod mailbox;
mod outbound;
pub mod pressure;
mod timer;
mod will;

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use mqhost_codec::{ConnAckProperties, QoS};
use tokio::sync::oneshot;

use super::connection::Connection;
use super::message::unix_millis;
pub use super::message::Delivery;
use super::Broker;
use crate::access::decider::{AccessCache, Check, Client, Question, Waiting};
use crate::hooks::decide::Decision;
use crate::hooks::ClientInfo;
use decision::Awaiting;
pub use durable::restore;
pub use figures::{SessionView, SubscriptionView};
pub use handle::SessionHandle;
use inflight::Inflight;
pub use lifecycle::CloseReason;
use mailbox::Inbox;
use pressure::Pause;
use timer::Timer;
use will::PendingWill;

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
    /// Subscribe as a SUBSCRIBE would, without SUBACK (a plugin's or an
    /// administrator's order). `reply`, if any, gets what a SUBACK would
    /// have said: whether the subscription is new, or the reason code of
    /// the refusal.
    Subscribe {
        filter: String,
        qos: QoS,
        reply: Option<oneshot::Sender<Result<bool, u8>>>,
    },
    /// Unsubscribe as an UNSUBSCRIBE would, without UNSUBACK; `reply`, if
    /// any, gets whether the subscription existed.
    Unsubscribe {
        filter: String,
        reply: Option<oneshot::Sender<bool>>,
    },
    /// The session's subscriptions with their options, for the admin API.
    Subscriptions(oneshot::Sender<Vec<SubscriptionView>>),
    /// End the current connection, with `reason` in a 5.0 DISCONNECT (an
    /// administrator's or a plugin's order); the session lives on by its
    /// usual rules.
    Disconnect { reason: u8 },
    /// The store wrote a batch: acknowledgements waiting for it may go.
    Stored,
    /// Leave this broker for another (a cluster plugin's order): the
    /// connection, if any, ends as taken over (0x8E), and the session
    /// ends here, its state given as bytes to the taker.
    Take(handover::Taker),
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
    /// Another broker takes the session: it gets what the session holds.
    Take(handover::Taker),
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
    /// Authenticated as a superuser: no topic question is asked.
    pub superuser: bool,
}

/// The state of one session, owned by its task.
pub struct Session {
    broker: Arc<Broker>,
    handle: SessionHandle,
    /// Events taken from the mailbox, handled in order.
    inbox: Inbox,
    client_id: Arc<str>,
    /// The last connection's client: topic decisions depend on its user
    /// name and address, also while the client is away.
    client: Arc<ClientInfo>,
    /// Recent topic decisions for this client.
    access_cache: AccessCache,
    /// The last connection authenticated as a superuser.
    superuser: bool,
    /// A packet or delivery waiting for a plugin's access answer; while
    /// set, the client's next packets stay in the socket and the mailbox
    /// waits. Boxed: most sessions never have one.
    awaiting: Option<Box<Awaiting>>,
    /// Deliveries that came while one was waiting for an answer, in
    /// order, to be checked after it.
    held: VecDeque<Delivery>,
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
    /// PUBACKs and PUBRECs waiting for the store, in order, each with
    /// the ticket of the last record its PUBLISH made.
    parked: held::HeldAcks,
    /// The ticket the store will wake this session at; 0 for none.
    parked_wait: u64,
    /// Which source [`Session::wait`] looks at first, turn by turn, so
    /// that a busy one cannot starve the others.
    turn: u8,
}

impl Session {
    /// Whether this session's client may use a topic: at once, or
    /// [`Check::Waiting`] for a plugin.
    fn may(&mut self, question: Question<'_>) -> Check {
        let (broker, client, cache) = self.asking();
        broker.access.check(&broker.hooks, cache, client, question)
    }

    /// Concludes a question a plugin answered later (see [`Session::may`]).
    fn settle(&mut self, waiting: &Waiting, plugins: Decision) -> bool {
        let (broker, client, cache) = self.asking();
        broker
            .access
            .settle(&broker.hooks, cache, client, waiting, plugins)
    }

    /// The broker, the client and its decision cache, borrowed apart.
    fn asking(&mut self) -> (&Broker, Client<'_>, &mut AccessCache) {
        let client = Client {
            client_id: &self.client_id,
            username: self.client.username.as_deref(),
            peer: self.client.peer,
            superuser: self.superuser,
        };
        (&self.broker, client, &mut self.access_cache)
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
