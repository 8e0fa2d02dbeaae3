//! The decision hooks' part of the test kit (since 1.2): builders for
//! [`AuthenticateEvent`] and [`AuthorizeEvent`], and [`ReplyProbe`], a
//! [`Reply`] whose answer a test can read.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{ROption, RSlice, RStr};

use super::NODE;
use crate::decision::{
    Action, AuthenticateEvent, AuthorizeEvent, Decision, Reply, ReplySink, ReplySink_TO,
};

/// What became of a [`Reply`]: not yet answered, answered, or dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Open,
    Sent(Decision),
    Dropped,
}

#[derive(Debug)]
struct Slot {
    fate: Mutex<Fate>,
    changed: Condvar,
}

impl Slot {
    fn settle(&self, fate: Fate) {
        let mut current = self.fate.lock().unwrap_or_else(PoisonError::into_inner);
        if *current == Fate::Open {
            *current = fate;
            self.changed.notify_all();
        }
    }
}

/// The sink behind a probe's [`Reply`].
struct ProbeSink(Arc<Slot>);

impl ReplySink for ProbeSink {
    fn send(self, decision: Decision) {
        self.0.settle(Fate::Sent(decision));
    }
}

impl Drop for ProbeSink {
    fn drop(&mut self) {
        // After `send` this finds the slot settled and changes nothing.
        self.0.settle(Fate::Dropped);
    }
}

/// The test's end of a [`Reply`] handed to a decision hook: what the
/// plugin answered through it, if anything.
///
/// ```
/// use mqhost_plugin_api::testing::{authorize_event, ReplyProbe};
/// use mqhost_plugin_api::{Action, Decision};
///
/// let (reply, answer) = ReplyProbe::new();
/// assert_eq!(answer.try_get(), None);
/// drop(reply);
/// assert!(answer.was_dropped());
/// # let _ = authorize_event("c", Action::READ, "a").build();
/// ```
#[derive(Debug, Clone)]
pub struct ReplyProbe {
    slot: Arc<Slot>,
}

impl ReplyProbe {
    /// A reply to hand to a hook, and the probe that reads its answer.
    ///
    /// ```
    /// use mqhost_plugin_api::testing::ReplyProbe;
    /// use mqhost_plugin_api::Decision;
    ///
    /// let (reply, answer) = ReplyProbe::new();
    /// reply.send(Decision::ALLOW);
    /// assert_eq!(answer.try_get(), Some(Decision::ALLOW));
    /// ```
    #[allow(clippy::new_ret_no_self)]
    pub fn new() -> (Reply, ReplyProbe) {
        let slot = Arc::new(Slot {
            fate: Mutex::new(Fate::Open),
            changed: Condvar::new(),
        });
        let sink = ReplySink_TO::from_value(ProbeSink(Arc::clone(&slot)), TD_Opaque);
        (Reply::new(sink), ReplyProbe { slot })
    }

    fn fate(&self) -> Fate {
        *self
            .slot
            .fate
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The answer sent so far, if any.
    ///
    /// ```
    /// use mqhost_plugin_api::testing::ReplyProbe;
    ///
    /// let (_reply, answer) = ReplyProbe::new();
    /// assert_eq!(answer.try_get(), None);
    /// ```
    pub fn try_get(&self) -> Option<Decision> {
        match self.fate() {
            Fate::Sent(decision) => Some(decision),
            _ => None,
        }
    }

    /// Whether the reply was dropped without an answer.
    ///
    /// ```
    /// use mqhost_plugin_api::testing::ReplyProbe;
    ///
    /// let (reply, answer) = ReplyProbe::new();
    /// drop(reply);
    /// assert!(answer.was_dropped() && answer.try_get().is_none());
    /// ```
    pub fn was_dropped(&self) -> bool {
        self.fate() == Fate::Dropped
    }

    /// Waits up to `timeout` for the answer; None if none came (or the
    /// reply was dropped).
    ///
    /// ```
    /// use std::time::Duration;
    /// use mqhost_plugin_api::testing::ReplyProbe;
    /// use mqhost_plugin_api::Decision;
    ///
    /// let (reply, answer) = ReplyProbe::new();
    /// std::thread::spawn(move || reply.send(Decision::DENY));
    /// assert_eq!(answer.wait(Duration::from_secs(5)), Some(Decision::DENY));
    /// ```
    pub fn wait(&self, timeout: Duration) -> Option<Decision> {
        let deadline = Instant::now() + timeout;
        let mut fate = self
            .slot
            .fate
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while *fate == Fate::Open {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            fate = self
                .slot
                .changed
                .wait_timeout(fate, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        match *fate {
            Fate::Sent(decision) => Some(decision),
            _ => None,
        }
    }
}

/// Builds an [`AuthenticateEvent`]: no user name or password, peer
/// `127.0.0.1:50000`, MQTT 5.0, listener `tcp.default`, no certificate,
/// node [`NODE`].
///
/// ```
/// use mqhost_plugin_api::testing::authenticate_event;
///
/// let event = authenticate_event("dev-1").username("alice").protocol(4).build();
/// assert_eq!(event.username.into_option().map(|u| u.as_str()), Some("alice"));
/// assert_eq!(event.listener.as_str(), "tcp.default");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct AuthenticateEventBuilder<'a> {
    event: AuthenticateEvent<'a>,
}

/// An [`AuthenticateEventBuilder`] for `client_id`.
///
/// ```
/// use mqhost_plugin_api::testing::authenticate_event;
///
/// assert!(authenticate_event("c").build().password.is_none());
/// ```
pub fn authenticate_event(client_id: &str) -> AuthenticateEventBuilder<'_> {
    AuthenticateEventBuilder {
        event: AuthenticateEvent {
            client_id: RStr::from_str(client_id),
            username: ROption::RNone,
            password: ROption::RNone,
            peer: RStr::from_str("127.0.0.1:50000"),
            protocol: 5,
            listener: RStr::from_str("tcp.default"),
            cert_common_name: ROption::RNone,
            cert_subject: ROption::RNone,
            node: RStr::from_str(NODE),
        },
    }
}

impl<'a> AuthenticateEventBuilder<'a> {
    /// The user name.
    pub fn username(mut self, username: &'a str) -> Self {
        self.event.username = ROption::RSome(RStr::from_str(username));
        self
    }

    /// The password bytes.
    pub fn password(mut self, password: &'a [u8]) -> Self {
        self.event.password = ROption::RSome(RSlice::from_slice(password));
        self
    }

    /// The client's address.
    pub fn peer(mut self, peer: &'a str) -> Self {
        self.event.peer = RStr::from_str(peer);
        self
    }

    /// The protocol level (3, 4 or 5).
    pub fn protocol(mut self, protocol: u8) -> Self {
        self.event.protocol = protocol;
        self
    }

    /// The listener's name.
    pub fn listener(mut self, listener: &'a str) -> Self {
        self.event.listener = RStr::from_str(listener);
        self
    }

    /// A client certificate's common name and full subject.
    pub fn certificate(mut self, common_name: &'a str, subject: &'a str) -> Self {
        self.event.cert_common_name = ROption::RSome(RStr::from_str(common_name));
        self.event.cert_subject = ROption::RSome(RStr::from_str(subject));
        self
    }

    /// The node's name.
    pub fn node(mut self, node: &'a str) -> Self {
        self.event.node = RStr::from_str(node);
        self
    }

    /// The event.
    pub fn build(self) -> AuthenticateEvent<'a> {
        self.event
    }
}

/// Builds an [`AuthorizeEvent`]: no user name, peer `127.0.0.1:50000`,
/// QoS 0, no retain, node [`NODE`].
///
/// ```
/// use mqhost_plugin_api::testing::authorize_event;
/// use mqhost_plugin_api::Action;
///
/// let event = authorize_event("dev-1", Action::SUBSCRIBE, "a/#").username("alice").qos(1).build();
/// assert_eq!((event.topic.as_str(), event.qos), ("a/#", 1));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct AuthorizeEventBuilder<'a> {
    event: AuthorizeEvent<'a>,
}

/// An [`AuthorizeEventBuilder`] for `client_id` doing `action` on `topic`.
///
/// ```
/// use mqhost_plugin_api::testing::authorize_event;
/// use mqhost_plugin_api::Action;
///
/// assert!(!authorize_event("c", Action::PUBLISH, "t").build().retain);
/// ```
pub fn authorize_event<'a>(
    client_id: &'a str,
    action: Action,
    topic: &'a str,
) -> AuthorizeEventBuilder<'a> {
    AuthorizeEventBuilder {
        event: AuthorizeEvent {
            client_id: RStr::from_str(client_id),
            username: ROption::RNone,
            peer: RStr::from_str("127.0.0.1:50000"),
            action,
            topic: RStr::from_str(topic),
            qos: 0,
            retain: false,
            node: RStr::from_str(NODE),
        },
    }
}

impl<'a> AuthorizeEventBuilder<'a> {
    /// The user name.
    pub fn username(mut self, username: &'a str) -> Self {
        self.event.username = ROption::RSome(RStr::from_str(username));
        self
    }

    /// The client's address.
    pub fn peer(mut self, peer: &'a str) -> Self {
        self.event.peer = RStr::from_str(peer);
        self
    }

    /// The QoS.
    pub fn qos(mut self, qos: u8) -> Self {
        self.event.qos = qos;
        self
    }

    /// The retain flag.
    pub fn retain(mut self, retain: bool) -> Self {
        self.event.retain = retain;
        self
    }

    /// The node's name.
    pub fn node(mut self, node: &'a str) -> Self {
        self.event.node = RStr::from_str(node);
        self
    }

    /// The event.
    pub fn build(self) -> AuthorizeEvent<'a> {
        self.event
    }
}
