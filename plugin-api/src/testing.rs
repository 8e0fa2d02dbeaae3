//! Unit tests of a plugin without a broker and without `abi_stable` types:
//! a [`TestHost`] that records every call a plugin makes and answers as a
//! test tells it, builders for the events hooks receive
//! ([`client_event`], [`session_event`], [`subscription_event`],
//! [`message_event`], [`delivery_event`]) and for the configuration
//! ([`plugin_config`]), and [`GuardedPlugin`], a plugin driven through the
//! same panic-catching wrapper the host calls.
//!
//! The module is always compiled: it needs nothing beyond `std` and what
//! the crate already uses, and code a plugin does not call is left out of
//! its library by the linker.
//!
//! ```
//! use mqhost_plugin_api::testing::{client_event, plugin_config, TestHost};
//! use mqhost_plugin_api::{ClientEvent, ConfigError, HookSet, Host, MqhostPlugin, PluginConfig};
//!
//! struct Greeter {
//!     host: Host,
//! }
//!
//! impl MqhostPlugin for Greeter {
//!     fn start(host: Host, _config: &PluginConfig<'_>) -> Result<Self, ConfigError> {
//!         Ok(Greeter { host })
//!     }
//!     fn hooks(&self) -> HookSet {
//!         HookSet::CLIENT_CONNECTED
//!     }
//!     fn on_client_connected(&self, client: &ClientEvent<'_>) {
//!         self.host.info(&format!("hello {}", client.client_id));
//!     }
//! }
//!
//! let host = TestHost::new();
//! let greeter = Greeter::start(host.host(), &plugin_config("").build()).unwrap();
//! greeter.on_client_connected(&client_event("dev-1").build());
//! assert_eq!(host.infos(), ["hello dev-1"]);
//! ```

use std::collections::BTreeSet;
// @since 1.4 begin
use std::collections::BTreeMap;
// @since 1.4 end
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RArc, ROption, RResult, RSlice, RStr, RString, Tuple2};

use crate::events::{
    ClientEvent, DeliveryEvent, MessageEvent, MessageProperties, PluginConfig, SessionEvent,
    SubscriptionEvent,
};
use crate::host::{Host, HostApi, HostApiBox, HostApi_TO, OutMessage};
// @since 1.2 begin
use crate::host::is_server_disconnect_reason;
// @since 1.2 end
use crate::plugin::{guard, MqhostPlugin, PluginBox};
// @since 1.6 begin
use crate::shared::ServedElsewhere;
// @since 1.6 end
use crate::types::{ConfigError, HookSet, HostError, LogLevel, MessageId, PluginError, Verdict};

// @since 1.2 begin
use crate::decision::{AuthenticateEvent, AuthorizeEvent, Decision, Reply};
mod decisions;
pub use decisions::{
    authenticate_event, authorize_event, AuthenticateEventBuilder, AuthorizeEventBuilder,
    ReplyProbe,
};
// @since 1.2 end

/// The node name events and [`TestHost`] use unless told otherwise.
///
/// ```
/// use mqhost_plugin_api::testing::{client_event, TestHost, NODE};
///
/// assert_eq!(TestHost::new().host().node_name(), NODE);
/// assert_eq!(client_event("c").build().node.as_str(), NODE);
/// ```
pub const NODE: &str = "mqhost@127.0.0.1";

/// The time events carry unless told otherwise: 2026-01-01 00:00 UTC, in
/// Unix milliseconds.
///
/// ```
/// use mqhost_plugin_api::testing::{message_event, TIMESTAMP_MS};
///
/// assert_eq!(message_event("a").build().timestamp_ms, TIMESTAMP_MS);
/// ```
pub const TIMESTAMP_MS: u64 = 1_767_225_600_000;

/// A message as the plugin handed it to the host, copied out of its
/// [`OutMessage`].
///
/// ```
/// use mqhost_plugin_api::testing::TestHost;
/// use mqhost_plugin_api::OutMessage;
///
/// let host = TestHost::new();
/// host.host().publish(&OutMessage::new("alerts/fire", b"evacuate", 1)).unwrap();
/// let sent = &host.published()[0];
/// assert_eq!((sent.topic.as_str(), sent.payload_text().as_str(), sent.qos), ("alerts/fire", "evacuate", 1));
/// assert!(!sent.retain && sent.id.is_none() && sent.from.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    /// Topic name.
    pub topic: String,
    /// Payload bytes.
    pub payload: Vec<u8>,
    /// QoS.
    pub qos: u8,
    /// Retain flag.
    pub retain: bool,
    /// The id to keep, if the plugin gave one.
    pub id: Option<MessageId>,
    /// Publisher to report; empty: the plugin.
    pub from: String,
    /// Publish time in Unix milliseconds; 0: now.
    pub timestamp_ms: u64,
    /// MQTT 5.0 user properties, in order.
    pub user_properties: Vec<(String, String)>,
}

impl SentMessage {
    fn copy_of(message: &OutMessage<'_>) -> SentMessage {
        SentMessage {
            topic: message.topic.to_string(),
            payload: message.payload.to_vec(),
            qos: message.qos,
            retain: message.retain,
            id: message.id.into_option(),
            from: message.from.to_string(),
            timestamp_ms: message.timestamp_ms,
            user_properties: message
                .user_properties
                .iter()
                .map(|pair| (pair.0.to_string(), pair.1.to_string()))
                .collect(),
        }
    }

    // @since 1.5 begin
    fn copy_of_event(message: &MessageEvent<'_>) -> SentMessage {
        SentMessage {
            topic: message.topic.to_string(),
            payload: message.payload.to_vec(),
            qos: message.qos,
            retain: message.retain,
            id: Some(message.id),
            from: message.from.to_string(),
            timestamp_ms: message.timestamp_ms,
            user_properties: message
                .properties
                .user_properties
                .iter()
                .map(|pair| (pair.0.to_string(), pair.1.to_string()))
                .collect(),
        }
    }
    // @since 1.5 end

    /// The payload as text, invalid UTF-8 replaced.
    ///
    /// ```
    /// use mqhost_plugin_api::testing::TestHost;
    /// use mqhost_plugin_api::OutMessage;
    ///
    /// let host = TestHost::new();
    /// host.host().publish(&OutMessage::new("t", b"on", 0)).unwrap();
    /// assert_eq!(host.published()[0].payload_text(), "on");
    /// ```
    pub fn payload_text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }
}

/// One call a plugin made on its [`Host`], in the order made.
///
/// ```
/// use mqhost_plugin_api::testing::{HostCall, TestHost};
///
/// let test_host = TestHost::new();
/// let host = test_host.host();
/// host.subscribe("dev-1", "cmd/dev-1", 1).unwrap();
/// host.debug("subscribed");
/// assert!(matches!(
///     &test_host.calls()[..],
///     [HostCall::Subscribe { client_id, filter, qos: 1 }, HostCall::Log { .. }]
///         if client_id == "dev-1" && filter == "cmd/dev-1"
/// ));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostCall {
    /// [`Host::node_name`].
    NodeName,
    /// [`Host::is_connected`].
    IsConnected {
        /// The client asked about.
        client_id: String,
    },
    /// [`Host::deliver`].
    Deliver {
        /// The receiver.
        client_id: String,
        /// The message.
        message: SentMessage,
    },
    /// [`Host::publish`].
    Publish {
        /// The message.
        message: SentMessage,
    },
    /// [`Host::subscribe`].
    Subscribe {
        /// The subscriber.
        client_id: String,
        /// The filter.
        filter: String,
        /// The QoS asked for.
        qos: u8,
    },
    /// [`Host::unsubscribe`].
    Unsubscribe {
        /// The subscriber.
        client_id: String,
        /// The filter.
        filter: String,
    },
    /// [`Host::log`] and its shorthands.
    Log {
        /// The level.
        level: LogLevel,
        /// The line.
        message: String,
    },
    // @since 1.2 begin
    /// [`Host::disconnect`] (since 1.2).
    Disconnect {
        /// The client whose connection ends.
        client_id: String,
        /// The reason code for its DISCONNECT.
        reason: u8,
    },
    // @since 1.2 end
    // @since 1.5 begin
    /// [`Host::publish_local`] (since 1.5).
    PublishLocal {
        /// The message, as [`SentMessage`] keeps it (id, publisher, time
        /// and user properties included).
        message: SentMessage,
        /// Whether it was to be routed as well as stored.
        route: bool,
    },
    // @since 1.5 end
    // @since 1.6 begin
    /// [`Host::publish_local_shared`] (since 1.6).
    PublishLocalShared {
        /// The message, as [`SentMessage`] keeps it.
        message: SentMessage,
        /// The shared subscriptions this node was to serve.
        groups: Vec<String>,
    },
    // @since 1.6 end
    // @since 1.7 begin
    /// [`Host::take_session`] (since 1.7).
    TakeSession {
        /// The client whose session was to leave.
        client_id: String,
    },
    /// [`Host::put_session`] (since 1.7).
    PutSession {
        /// The client whose session was installed.
        client_id: String,
        /// The session's bytes.
        session: Vec<u8>,
    },
    // @since 1.7 end
    // @since 1.4 begin
    /// [`Host::session_room`] (since 1.4).
    SessionRoom {
        /// The client whose session was asked about.
        client_id: String,
    },
    // @since 1.4 end
}

/// A [`Host`] call that can fail, to choose its answer with
/// [`TestHost::set_answer`].
///
/// ```
/// use mqhost_plugin_api::testing::{Operation, TestHost};
/// use mqhost_plugin_api::HostError;
///
/// let host = TestHost::new();
/// host.set_answer(Operation::Unsubscribe, Err(HostError::NO_SUCH_CLIENT));
/// assert_eq!(host.host().unsubscribe("gone", "a/#"), Err(HostError::NO_SUCH_CLIENT));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// [`Host::deliver`].
    Deliver,
    /// [`Host::publish`].
    Publish,
    /// [`Host::subscribe`].
    Subscribe,
    /// [`Host::unsubscribe`].
    Unsubscribe,
    // @since 1.2 begin
    /// [`Host::disconnect`] (since 1.2).
    Disconnect,
    // @since 1.2 end
    // @since 1.4 begin
    /// [`Host::session_room`] (since 1.4): an error set here is every
    /// call's answer; `Ok(())` gives each client's room again.
    SessionRoom,
    // @since 1.4 end
}

/// How many [`Operation`]s there are: one answer each (a copy of this
/// crate without a later version's operations just has spare answers).
const OPERATIONS: usize = 6;

struct State {
    calls: Vec<HostCall>,
    node_name: String,
    connected: BTreeSet<String>,
    answers: [Result<(), HostError>; OPERATIONS],
    // @since 1.4 begin
    /// Room per client, for [`Host::session_room`]; a client not here has
    /// no bound.
    rooms: BTreeMap<String, u64>,
    // @since 1.4 end
}

struct Shared {
    state: Mutex<State>,
    /// Signalled after every recorded call, for [`TestHost::wait_until`].
    recorded: Condvar,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock has failed already;
        // the record is still worth reading.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, call: HostCall) -> MutexGuard<'_, State> {
        let mut state = self.state();
        state.calls.push(call);
        self.recorded.notify_all();
        state
    }

    fn answer(&self, call: HostCall, operation: Operation) -> RResult<(), HostError> {
        self.record(call).answers[operation as usize].into()
    }
}

/// The ABI object behind the [`Host`] a [`TestHost`] hands out.
#[derive(Clone)]
struct Recorder(Arc<Shared>);

/// A host for unit tests: hand [`host`](Self::host) to the plugin's
/// `start`, call its hooks, then read back what it asked of the host.
///
/// It records every call. By default the node is [`NODE`], no client is
/// connected, deliver, publish, subscribe, unsubscribe and disconnect
/// succeed (disconnect with a reason code a server may send), and every
/// session has room without bound;
/// [`set_node_name`](Self::set_node_name),
/// [`set_connected`](Self::set_connected),
/// [`set_session_room`](Self::set_session_room) and
/// [`set_answer`](Self::set_answer) change that. Clones share one record,
/// so a test keeps one while the plugin holds the [`Host`].
///
/// ```
/// use mqhost_plugin_api::testing::TestHost;
/// use mqhost_plugin_api::{HostError, OutMessage};
///
/// let test_host = TestHost::new();
/// test_host.set_connected("dev-1", true);
/// let host = test_host.host(); // what the plugin gets
/// if host.is_connected("dev-1") {
///     host.deliver("dev-1", &OutMessage::new("cmd/dev-1", b"reboot", 1)).unwrap();
/// }
/// let delivered = test_host.delivered();
/// assert_eq!(delivered.len(), 1);
/// assert_eq!(delivered[0].0, "dev-1");
/// assert_eq!(delivered[0].1.topic, "cmd/dev-1");
/// ```
#[derive(Clone)]
pub struct TestHost {
    shared: Arc<Shared>,
}

impl Default for TestHost {
    fn default() -> TestHost {
        TestHost::new()
    }
}

impl TestHost {
    /// A host with no call recorded yet.
    ///
    /// ```
    /// use mqhost_plugin_api::testing::TestHost;
    ///
    /// assert!(TestHost::new().calls().is_empty());
    /// ```
    pub fn new() -> TestHost {
        TestHost {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    calls: Vec::new(),
                    node_name: NODE.to_owned(),
                    connected: BTreeSet::new(),
                    answers: [Ok(()); OPERATIONS],
                    // @since 1.4 begin
                    rooms: BTreeMap::new(),
                    // @since 1.4 end
                }),
                recorded: Condvar::new(),
            }),
        }
    }

    /// The handle a plugin receives in `start`, recording into this host.
    ///
    /// ```
    /// use mqhost_plugin_api::testing::TestHost;
    ///
    /// let test_host = TestHost::new();
    /// test_host.host().warn("careful");
    /// assert_eq!(test_host.logs_at(mqhost_plugin_api::LogLevel::WARN), ["careful"]);
    /// ```
    pub fn host(&self) -> Host {
        Host::new(self.api())
    }

    fn api(&self) -> HostApiBox {
        HostApi_TO::from_ptr(RArc::new(Recorder(Arc::clone(&self.shared))), TD_Opaque)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared.state()
    }

    /// Sets the node name [`Host::node_name`] returns.
    ///
    /// ```
    /// use mqhost_plugin_api::testing::TestHost;
    ///
    /// let test_host = TestHost::new();
    /// test_host.set_node_name("edge-7");
    /// assert_eq!(test_host.host().node_name(), "edge-7");
    /// ```
    pub fn set_node_name(&self, name: &str) {
        self.state().node_name = name.to_owned();
    }

    /// Sets whether [`Host::is_connected`] says `client_id` is connected.
    ///
    /// ```
    /// use mqhost_plugin_api::testing::TestHost;
    ///
    /// let test_host = TestHost::new();
    /// test_host.set_connected("dev-1", true);
    /// assert!(test_host.host().is_connected("dev-1"));
    /// test_host.set_connected("dev-1", false);
    /// assert!(!test_host.host().is_connected("dev-1"));
    /// ```
    pub fn set_connected(&self, client_id: &str, connected: bool) {
        let mut state = self.state();
        if connected {
            state.connected.insert(client_id.to_owned());
        } else {
            state.connected.remove(client_id);
        }
    }

    /// Sets what every later call of `operation` returns (the call is
    /// recorded either way).
    ///
    /// ```
    /// use mqhost_plugin_api::testing::{Operation, TestHost};
    /// use mqhost_plugin_api::{HostError, OutMessage};
    ///
    /// let test_host = TestHost::new();
    /// test_host.set_answer(Operation::Publish, Err(HostError::SHUTTING_DOWN));
    /// let message = OutMessage::new("a", b"", 0);
    /// assert_eq!(test_host.host().publish(&message), Err(HostError::SHUTTING_DOWN));
    /// assert_eq!(test_host.published().len(), 1);
    /// ```
    pub fn set_answer(&self, operation: Operation, answer: Result<(), HostError>) {
        self.state().answers[operation as usize] = answer;
    }

    /// Every call so far, in order.
    ///
    /// ```
    /// use mqhost_plugin_api::testing::{HostCall, TestHost};
    ///
    /// let test_host = TestHost::new();
    /// test_host.host().node_name();
    /// assert_eq!(test_host.calls(), [HostCall::NodeName]);
    /// ```
    pub fn calls(&self) -> Vec<HostCall> {
        self.state().calls.clone()
    }

    /// Every call so far, in order, forgetting them: the next read starts
    /// afresh.
    ///
    /// ```
    /// use mqhost_plugin_api::testing::TestHost;
    ///
    /// let test_host = TestHost::new();
    /// test_host.host().info("one");
    /// assert_eq!(test_host.take_calls().len(), 1);
    /// assert!(test_host.calls().is_empty());
    /// ```
    pub fn take_calls(&self) -> Vec<HostCall> {
        std::mem::take(&mut self.state().calls)
    }

    /// Waits up to `timeout` until `done` holds of the calls so far, for
    /// plugins that call the host from threads of their own; false if it
    /// never did.
    ///
    /// ```
    /// use std::time::Duration;
    /// use mqhost_plugin_api::testing::TestHost;
    ///
    /// let test_host = TestHost::new();
    /// let host = test_host.host();
    /// std::thread::spawn(move || host.info("from a worker"));
    /// assert!(test_host.wait_until(Duration::from_secs(5), |calls| !calls.is_empty()));
    /// ```
    pub fn wait_until(&self, timeout: Duration, done: impl Fn(&[HostCall]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.state();
        loop {
            if done(&state.calls) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = self
                .shared
                .recorded
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Every line logged, with its level.
    ///
    /// ```
    /// use mqhost_plugin_api::testing::TestHost;
    /// use mqhost_plugin_api::LogLevel;
    ///
    /// let test_host = TestHost::new();
    /// test_host.host().error("disk full");
    /// assert_eq!(test_host.logs(), [(LogLevel::ERROR, "disk full".to_owned())]);
    /// ```
    pub fn logs(&self) -> Vec<(LogLevel, String)> {
        self.state()
            .calls
            .iter()
            .filter_map(|call| match call {
                HostCall::Log { level, message } => Some((*level, message.clone())),
                _ => None,
            })
            .collect()
    }

    /// The lines logged at `level`.
    ///
    /// ```
    /// use mqhost_plugin_api::testing::TestHost;
    /// use mqhost_plugin_api::LogLevel;
    ///
    /// let test_host = TestHost::new();
    /// test_host.host().debug("detail");
    /// test_host.host().warn("odd");
    /// assert_eq!(test_host.logs_at(LogLevel::WARN), ["odd"]);
    /// ```
    pub fn logs_at(&self, level: LogLevel) -> Vec<String> {
        self.logs()
            .into_iter()
            .filter(|(at, _)| *at == level)
            .map(|(_, message)| message)
            .collect()
    }

    /// The lines logged at info level, the usual level of a plugin's news.
    ///
    /// ```
    /// use mqhost_plugin_api::testing::TestHost;
    ///
    /// let test_host = TestHost::new();
    /// test_host.host().info("started");
    /// assert_eq!(test_host.infos(), ["started"]);
    /// ```
    pub fn infos(&self) -> Vec<String> {
        self.logs_at(LogLevel::INFO)
    }

    /// Every [`Host::deliver`] call: receiver and message.
    ///
    /// ```
    /// use mqhost_plugin_api::testing::TestHost;
    /// use mqhost_plugin_api::OutMessage;
    ///
    /// let test_host = TestHost::new();
    /// test_host.host().deliver("dev-1", &OutMessage::new("t", b"x", 0)).unwrap();
    /// assert_eq!(test_host.delivered()[0].0, "dev-1");
    /// ```
    pub fn delivered(&self) -> Vec<(String, SentMessage)> {
        self.state()
            .calls
            .iter()
            .filter_map(|call| match call {
                HostCall::Deliver { client_id, message } => {
                    Some((client_id.clone(), message.clone()))
                }
                _ => None,
            })
            .collect()
    }

    /// Every [`Host::publish`] call's message.
    ///
    /// ```
    /// use mqhost_plugin_api::testing::TestHost;
    /// use mqhost_plugin_api::OutMessage;
    ///
    /// let test_host = TestHost::new();
    /// test_host.host().publish(&OutMessage::new("t", b"x", 0)).unwrap();
    /// assert_eq!(test_host.published()[0].topic, "t");
    /// ```
    pub fn published(&self) -> Vec<SentMessage> {
        self.state()
            .calls
            .iter()
            .filter_map(|call| match call {
                HostCall::Publish { message } => Some(message.clone()),
                _ => None,
            })
            .collect()
    }

    /// Every [`Host::subscribe`] call: client, filter, QoS.
    ///
    /// ```
    /// use mqhost_plugin_api::testing::TestHost;
    ///
    /// let test_host = TestHost::new();
    /// test_host.host().subscribe("dev-1", "cmd/#", 2).unwrap();
    /// assert_eq!(test_host.subscribed(), [("dev-1".to_owned(), "cmd/#".to_owned(), 2)]);
    /// ```
    pub fn subscribed(&self) -> Vec<(String, String, u8)> {
        self.state()
            .calls
            .iter()
            .filter_map(|call| match call {
                HostCall::Subscribe {
                    client_id,
                    filter,
                    qos,
                } => Some((client_id.clone(), filter.clone(), *qos)),
                _ => None,
            })
            .collect()
    }

    /// Every [`Host::unsubscribe`] call: client and filter.
    ///
    /// ```
    /// use mqhost_plugin_api::testing::TestHost;
    ///
    /// let test_host = TestHost::new();
    /// test_host.host().unsubscribe("dev-1", "cmd/#").unwrap();
    /// assert_eq!(test_host.unsubscribed(), [("dev-1".to_owned(), "cmd/#".to_owned())]);
    /// ```
    pub fn unsubscribed(&self) -> Vec<(String, String)> {
        self.state()
            .calls
            .iter()
            .filter_map(|call| match call {
                HostCall::Unsubscribe { client_id, filter } => {
                    Some((client_id.clone(), filter.clone()))
                }
                _ => None,
            })
            .collect()
    }

    // @since 1.5 begin
    /// Every [`Host::publish_local`] call's message (since 1.5).
    ///
    /// ```
    /// use mqhost_plugin_api::testing::{message_event, TestHost};
    ///
    /// let test_host = TestHost::new();
    /// let event = message_event("t").payload(b"x").build();
    /// test_host.host().publish_local(&event, true).unwrap();
    /// assert_eq!(test_host.published_local()[0].id, Some(event.id));
    /// ```
    pub fn published_local(&self) -> Vec<SentMessage> {
        self.state()
            .calls
            .iter()
            .filter_map(|call| match call {
                HostCall::PublishLocal { message, .. } => Some(message.clone()),
                _ => None,
            })
            .collect()
    }
    // @since 1.5 end

    // @since 1.6 begin
    /// Every [`Host::publish_local_shared`] call: the message and the
    /// shared subscriptions it was to reach here (since 1.6).
    ///
    /// ```
    /// use mqhost_plugin_api::testing::{message_event, TestHost};
    ///
    /// let test_host = TestHost::new();
    /// let event = message_event("jobs/1").payload(b"x").build();
    /// test_host.host().publish_local_shared(&event, &["$share/g/jobs/+"]).unwrap();
    /// let (message, groups) = &test_host.published_local_shared()[0];
    /// assert_eq!((message.topic.as_str(), groups.as_slice()), ("jobs/1", &["$share/g/jobs/+".to_owned()][..]));
    /// ```
    pub fn published_local_shared(&self) -> Vec<(SentMessage, Vec<String>)> {
        self.state()
            .calls
            .iter()
            .filter_map(|call| match call {
                HostCall::PublishLocalShared { message, groups } => {
                    Some((message.clone(), groups.clone()))
                }
                _ => None,
            })
            .collect()
    }
    // @since 1.6 end

    // @since 1.7 begin
    /// Every [`Host::put_session`] call: the client and the session's
    /// bytes (since 1.7).
    ///
    /// ```
    /// use mqhost_plugin_api::testing::TestHost;
    ///
    /// let test_host = TestHost::new();
    /// test_host.host().put_session("sensor-1", b"bytes").unwrap();
    /// assert_eq!(test_host.put_sessions(), [("sensor-1".to_owned(), b"bytes".to_vec())]);
    /// ```
    pub fn put_sessions(&self) -> Vec<(String, Vec<u8>)> {
        self.state()
            .calls
            .iter()
            .filter_map(|call| match call {
                HostCall::PutSession { client_id, session } => {
                    Some((client_id.clone(), session.clone()))
                }
                _ => None,
            })
            .collect()
    }

    /// The clients whose sessions [`Host::take_session`] was asked for
    /// (since 1.7).
    ///
    /// ```
    /// use mqhost_plugin_api::testing::TestHost;
    ///
    /// let test_host = TestHost::new();
    /// test_host.host().take_session("sensor-1", |_| {}).unwrap();
    /// assert_eq!(test_host.taken_sessions(), ["sensor-1"]);
    /// ```
    pub fn taken_sessions(&self) -> Vec<String> {
        self.state()
            .calls
            .iter()
            .filter_map(|call| match call {
                HostCall::TakeSession { client_id } => Some(client_id.clone()),
                _ => None,
            })
            .collect()
    }
    // @since 1.7 end
}

impl HostApi for Recorder {
    fn node_name(&self) -> RString {
        RString::from(self.0.record(HostCall::NodeName).node_name.clone())
    }

    fn is_connected(&self, client_id: RStr<'_>) -> bool {
        let client_id = client_id.to_string();
        let state = self.0.record(HostCall::IsConnected {
            client_id: client_id.clone(),
        });
        state.connected.contains(&client_id)
    }

    fn deliver(&self, client_id: RStr<'_>, message: &OutMessage<'_>) -> RResult<(), HostError> {
        let call = HostCall::Deliver {
            client_id: client_id.to_string(),
            message: SentMessage::copy_of(message),
        };
        self.0.answer(call, Operation::Deliver)
    }

    fn publish(&self, message: &OutMessage<'_>) -> RResult<(), HostError> {
        let call = HostCall::Publish {
            message: SentMessage::copy_of(message),
        };
        self.0.answer(call, Operation::Publish)
    }

    fn subscribe(&self, client_id: RStr<'_>, filter: RStr<'_>, qos: u8) -> RResult<(), HostError> {
        let call = HostCall::Subscribe {
            client_id: client_id.to_string(),
            filter: filter.to_string(),
            qos,
        };
        self.0.answer(call, Operation::Subscribe)
    }

    fn unsubscribe(&self, client_id: RStr<'_>, filter: RStr<'_>) -> RResult<(), HostError> {
        let call = HostCall::Unsubscribe {
            client_id: client_id.to_string(),
            filter: filter.to_string(),
        };
        self.0.answer(call, Operation::Unsubscribe)
    }

    fn log(&self, level: LogLevel, message: RStr<'_>) {
        drop(self.0.record(HostCall::Log {
            level,
            message: message.to_string(),
        }));
    }

    // @since 1.2 begin
    /// Refuses what the broker refuses, whatever the answer set: a reason
    /// code a server may not send is the plugin's bug, to be found here.
    fn disconnect(&self, client_id: RStr<'_>, reason: u8) -> RResult<(), HostError> {
        let call = HostCall::Disconnect {
            client_id: client_id.to_string(),
            reason,
        };
        let answer = self.0.answer(call, Operation::Disconnect);
        if is_server_disconnect_reason(reason) {
            answer
        } else {
            RResult::RErr(HostError::INVALID_REASON)
        }
    }
    // @since 1.2 end

    // @since 1.4 begin
    fn session_room(&self, client_id: RStr<'_>) -> RResult<u64, HostError> {
        let state = self.0.record(HostCall::SessionRoom {
            client_id: client_id.to_string(),
        });
        match state.answers[Operation::SessionRoom as usize] {
            Ok(()) => RResult::ROk(
                state
                    .rooms
                    .get(client_id.as_str())
                    .copied()
                    .unwrap_or(u64::MAX),
            ),
            Err(error) => RResult::RErr(error),
        }
    }
    // @since 1.4 end

    // @since 1.5 begin
    /// Answers what [`Operation::Publish`] is set to, and reaches no
    /// session (0).
    fn publish_local(&self, message: &MessageEvent<'_>, route: bool) -> RResult<u32, HostError> {
        let call = HostCall::PublishLocal {
            message: SentMessage::copy_of_event(message),
            route,
        };
        match self.0.answer(call, Operation::Publish) {
            RResult::ROk(()) => RResult::ROk(0),
            RResult::RErr(error) => RResult::RErr(error),
        }
    }
    // @since 1.5 end

    // @since 1.6 begin
    /// Answers what [`Operation::Publish`] is set to, and reaches no
    /// session (0).
    fn publish_local_shared(
        &self,
        message: &MessageEvent<'_>,
        groups: RSlice<'_, RStr<'_>>,
    ) -> RResult<u32, HostError> {
        let call = HostCall::PublishLocalShared {
            message: SentMessage::copy_of_event(message),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        };
        match self.0.answer(call, Operation::Publish) {
            RResult::ROk(()) => RResult::ROk(0),
            RResult::RErr(error) => RResult::RErr(error),
        }
    }
    // @since 1.6 end

    // @since 1.7 begin
    /// Gives the receiver `session of <client id>` as the session's
    /// bytes at once, or the error [`Operation::SessionRoom`] is set to
    /// (a host without that session answers so too).
    fn take_session(
        &self,
        client_id: RStr<'_>,
        receiver: crate::handover::SessionReceiverBox,
    ) -> RResult<(), HostError> {
        let state = self.0.record(HostCall::TakeSession {
            client_id: client_id.to_string(),
        });
        let answer = state.answers[Operation::SessionRoom as usize];
        drop(state);
        match answer {
            Ok(()) => {
                let bytes = format!("session of {client_id}").into_bytes();
                receiver.receive(RResult::ROk(bytes.into()));
                RResult::ROk(())
            }
            Err(error) => RResult::RErr(error),
        }
    }

    /// Records the call; succeeds.
    fn put_session(&self, client_id: RStr<'_>, session: RSlice<'_, u8>) -> RResult<(), HostError> {
        drop(self.0.record(HostCall::PutSession {
            client_id: client_id.to_string(),
            session: session.to_vec(),
        }));
        RResult::ROk(())
    }
    // @since 1.7 end
}

// @since 1.2 begin
impl TestHost {
    /// Every [`Host::disconnect`] call: client and reason code, refused
    /// ones included. A reason code a server may not send (see
    /// [`is_server_disconnect_reason`]) is refused with
    /// [`HostError::INVALID_REASON`] as the broker would; any other call
    /// gets the answer set for [`Operation::Disconnect`].
    ///
    /// ```
    /// use mqhost_plugin_api::testing::{Operation, TestHost};
    /// use mqhost_plugin_api::HostError;
    ///
    /// let test_host = TestHost::new();
    /// let host = test_host.host();
    /// host.disconnect("dev-1", 0x98).unwrap();
    /// assert_eq!(host.disconnect("dev-2", 0x04), Err(HostError::INVALID_REASON));
    /// test_host.set_answer(Operation::Disconnect, Err(HostError::NO_SUCH_CLIENT));
    /// assert_eq!(host.disconnect("gone", 0x87), Err(HostError::NO_SUCH_CLIENT));
    /// assert_eq!(
    ///     test_host.disconnected(),
    ///     [("dev-1".to_owned(), 0x98), ("dev-2".to_owned(), 0x04), ("gone".to_owned(), 0x87)]
    /// );
    /// ```
    pub fn disconnected(&self) -> Vec<(String, u8)> {
        self.state()
            .calls
            .iter()
            .filter_map(|call| match call {
                HostCall::Disconnect { client_id, reason } => Some((client_id.clone(), *reason)),
                _ => None,
            })
            .collect()
    }
}
// @since 1.2 end

// @since 1.4 begin
impl TestHost {
    /// Sets the room [`Host::session_room`] reports for `client_id`'s
    /// session: how many more messages it can take. A client never set
    /// has no bound (`u64::MAX`), as under a broker whose queues have
    /// none. To have every call fail instead (no session, or a host that
    /// lacks the call), set an error for [`Operation::SessionRoom`].
    ///
    /// ```
    /// use mqhost_plugin_api::testing::{HostCall, Operation, TestHost};
    /// use mqhost_plugin_api::HostError;
    ///
    /// let test_host = TestHost::new();
    /// let host = test_host.host();
    /// test_host.set_session_room("dev-1", 5);
    /// assert_eq!(host.session_room("dev-1"), Ok(5));
    /// assert_eq!(host.session_room("dev-2"), Ok(u64::MAX));
    /// test_host.set_session_room("dev-1", 0);
    /// assert_eq!(host.session_room("dev-1"), Ok(0));
    ///
    /// test_host.set_answer(Operation::SessionRoom, Err(HostError::UNSUPPORTED));
    /// assert_eq!(host.session_room("dev-1"), Err(HostError::UNSUPPORTED));
    /// assert_eq!(
    ///     test_host.calls().last(),
    ///     Some(&HostCall::SessionRoom { client_id: "dev-1".to_owned() })
    /// );
    /// ```
    pub fn set_session_room(&self, client_id: &str, room: u64) {
        self.state().rooms.insert(client_id.to_owned(), room);
    }
}
// @since 1.4 end

/// A plugin started and called the way the host does it: through the
/// wrapper [`export_plugin!`](crate::export_plugin) puts around it, which
/// turns a panic into an error marked `panicked`. For tests of what the
/// host would see; call the plugin directly for everything else.
///
/// ```
/// use mqhost_plugin_api::testing::{message_event, plugin_config, GuardedPlugin, TestHost};
/// use mqhost_plugin_api::{ConfigError, HookSet, Host, MessageEvent, MqhostPlugin, PluginConfig, Verdict};
///
/// struct Fragile;
///
/// impl MqhostPlugin for Fragile {
///     fn start(_host: Host, _config: &PluginConfig<'_>) -> Result<Self, ConfigError> {
///         Ok(Fragile)
///     }
///     fn hooks(&self) -> HookSet {
///         HookSet::MESSAGE_PUBLISH
///     }
///     fn on_message_publish(&self, message: &MessageEvent<'_>) -> Verdict {
///         assert!(!message.payload.is_empty(), "empty payload");
///         Verdict::CONTINUE
///     }
/// }
///
/// let host = TestHost::new();
/// let plugin = GuardedPlugin::start::<Fragile>(&host, &plugin_config("").build()).unwrap();
/// let error = plugin.on_message_publish(&message_event("a").build()).unwrap_err();
/// assert!(error.panicked);
/// assert!(error.message.contains("empty payload"));
/// ```
pub struct GuardedPlugin {
    plugin: PluginBox,
}

impl GuardedPlugin {
    /// Starts `P` with `host` and `config` as the host would; a panic in
    /// `start` is an error too.
    ///
    /// ```
    /// use mqhost_plugin_api::testing::{plugin_config, GuardedPlugin, TestHost};
    /// use mqhost_plugin_api::{ConfigError, HookSet, Host, MqhostPlugin, PluginConfig};
    ///
    /// struct Picky;
    ///
    /// impl MqhostPlugin for Picky {
    ///     fn start(_host: Host, config: &PluginConfig<'_>) -> Result<Self, ConfigError> {
    ///         if config.text.is_empty() {
    ///             return Err(ConfigError::new("say something"));
    ///         }
    ///         Ok(Picky)
    ///     }
    ///     fn hooks(&self) -> HookSet {
    ///         HookSet::NONE
    ///     }
    /// }
    ///
    /// let host = TestHost::new();
    /// let error = GuardedPlugin::start::<Picky>(&host, &plugin_config("").build()).err().unwrap();
    /// assert_eq!(error.message.as_str(), "say something");
    /// assert!(GuardedPlugin::start::<Picky>(&host, &plugin_config("x = 1").build()).is_ok());
    /// ```
    pub fn start<P: MqhostPlugin>(
        host: &TestHost,
        config: &PluginConfig<'_>,
    ) -> Result<GuardedPlugin, ConfigError> {
        guard::<P>(host.api(), config)
            .into_result()
            .map(|plugin| GuardedPlugin { plugin })
    }

    /// The hook points the plugin wants.
    ///
    /// ```
    /// # use mqhost_plugin_api::testing::{plugin_config, GuardedPlugin, TestHost};
    /// # use mqhost_plugin_api::{ConfigError, HookSet, Host, MqhostPlugin, PluginConfig};
    /// # struct Quiet;
    /// # impl MqhostPlugin for Quiet {
    /// #     fn start(_: Host, _: &PluginConfig<'_>) -> Result<Self, ConfigError> { Ok(Quiet) }
    /// #     fn hooks(&self) -> HookSet { HookSet::NONE }
    /// # }
    /// let plugin = GuardedPlugin::start::<Quiet>(&TestHost::new(), &plugin_config("").build()).unwrap();
    /// assert_eq!(plugin.hooks(), Ok(HookSet::NONE));
    /// ```
    pub fn hooks(&self) -> Result<HookSet, PluginError> {
        self.plugin.hooks().into_result()
    }

    /// `client.connected`.
    pub fn on_client_connected(&self, client: &ClientEvent<'_>) -> Result<(), PluginError> {
        self.plugin.on_client_connected(client).into_result()
    }

    /// `client.disconnected`.
    pub fn on_client_disconnected(&self, client: &ClientEvent<'_>) -> Result<(), PluginError> {
        self.plugin.on_client_disconnected(client).into_result()
    }

    /// `session.created`.
    pub fn on_session_created(&self, session: &SessionEvent<'_>) -> Result<(), PluginError> {
        self.plugin.on_session_created(session).into_result()
    }

    /// `session.subscribed`.
    pub fn on_session_subscribed(
        &self,
        subscription: &SubscriptionEvent<'_>,
    ) -> Result<(), PluginError> {
        self.plugin
            .on_session_subscribed(subscription)
            .into_result()
    }

    /// `session.unsubscribed`.
    pub fn on_session_unsubscribed(
        &self,
        subscription: &SubscriptionEvent<'_>,
    ) -> Result<(), PluginError> {
        self.plugin
            .on_session_unsubscribed(subscription)
            .into_result()
    }

    /// `message.publish`.
    pub fn on_message_publish(&self, message: &MessageEvent<'_>) -> Result<Verdict, PluginError> {
        self.plugin.on_message_publish(message).into_result()
    }

    // @since 1.6 begin
    /// `message.publish` as the host calls it (since 1.6), with the shared
    /// subscriptions the plugin says another node serves.
    ///
    /// ```
    /// # use mqhost_plugin_api::testing::{message_event, plugin_config, GuardedPlugin, TestHost};
    /// # use mqhost_plugin_api::{ConfigError, HookSet, Host, MqhostPlugin, PluginConfig, ServedElsewhere, Verdict};
    /// # struct Plain;
    /// # impl MqhostPlugin for Plain {
    /// #     fn start(_: Host, _: &PluginConfig<'_>) -> Result<Self, ConfigError> { Ok(Plain) }
    /// #     fn hooks(&self) -> HookSet { HookSet::MESSAGE_PUBLISH }
    /// # }
    /// let plugin = GuardedPlugin::start::<Plain>(&TestHost::new(), &plugin_config("").build()).unwrap();
    /// let mut elsewhere = ServedElsewhere::new();
    /// // A plugin that only has on_message_publish names no group.
    /// let verdict = plugin.on_message_publish_shared(&message_event("a").build(), &mut elsewhere);
    /// assert_eq!(verdict.unwrap(), Verdict::CONTINUE);
    /// assert!(elsewhere.is_empty());
    /// ```
    pub fn on_message_publish_shared(
        &self,
        message: &MessageEvent<'_>,
        elsewhere: &mut ServedElsewhere,
    ) -> Result<Verdict, PluginError> {
        self.plugin
            .on_message_publish_shared(message, elsewhere)
            .into_result()
    }
    // @since 1.6 end

    /// `message.delivered`.
    pub fn on_message_delivered(&self, delivery: &DeliveryEvent<'_>) -> Result<(), PluginError> {
        self.plugin.on_message_delivered(delivery).into_result()
    }

    /// `message.acked`.
    pub fn on_message_acked(&self, delivery: &DeliveryEvent<'_>) -> Result<(), PluginError> {
        self.plugin.on_message_acked(delivery).into_result()
    }

    // @since 1.2 begin
    /// `client.authenticate`, with `reply` for a pending answer.
    ///
    /// ```
    /// use mqhost_plugin_api::testing::{authenticate_event, plugin_config, GuardedPlugin, ReplyProbe, TestHost};
    /// use mqhost_plugin_api::{AuthenticateEvent, ConfigError, Decision, HookSet, Host, MqhostPlugin, PluginConfig, Reply};
    ///
    /// struct Broken;
    ///
    /// impl MqhostPlugin for Broken {
    ///     fn start(_host: Host, _config: &PluginConfig<'_>) -> Result<Self, ConfigError> {
    ///         Ok(Broken)
    ///     }
    ///     fn hooks(&self) -> HookSet {
    ///         HookSet::CLIENT_AUTHENTICATE
    ///     }
    ///     fn on_client_authenticate(&self, _request: &AuthenticateEvent<'_>, _reply: Reply) -> Decision {
    ///         panic!("no database")
    ///     }
    /// }
    ///
    /// let plugin = GuardedPlugin::start::<Broken>(&TestHost::new(), &plugin_config("").build()).unwrap();
    /// let (reply, answer) = ReplyProbe::new();
    /// let error = plugin.on_client_authenticate(&authenticate_event("c").build(), reply).unwrap_err();
    /// assert!(error.panicked);
    /// // The reply went with the panic: the host reads that as "ignore".
    /// assert!(answer.was_dropped());
    /// ```
    pub fn on_client_authenticate(
        &self,
        request: &AuthenticateEvent<'_>,
        reply: Reply,
    ) -> Result<Decision, PluginError> {
        self.plugin
            .on_client_authenticate(request, reply.into_sink())
            .into_result()
    }

    // @since 1.7 begin
    /// `session.resuming`, with `reply` for a pending answer (since 1.7).
    ///
    /// ```
    /// use mqhost_plugin_api::abi_stable::std_types::RStr;
    /// use mqhost_plugin_api::testing::{plugin_config, GuardedPlugin, ReplyProbe, TestHost};
    /// use mqhost_plugin_api::{ConfigError, Decision, HookSet, Host, MqhostPlugin, PluginConfig, ResumeEvent};
    ///
    /// struct Quiet;
    ///
    /// impl MqhostPlugin for Quiet {
    ///     fn start(_host: Host, _config: &PluginConfig<'_>) -> Result<Self, ConfigError> {
    ///         Ok(Quiet)
    ///     }
    ///     fn hooks(&self) -> HookSet {
    ///         HookSet::NONE
    ///     }
    /// }
    ///
    /// let plugin = GuardedPlugin::start::<Quiet>(&TestHost::new(), &plugin_config("").build()).unwrap();
    /// let event = ResumeEvent { client_id: RStr::from_str("c"), clean_start: true, protocol: 4, node: RStr::from_str("n1") };
    /// let (reply, _answer) = ReplyProbe::new();
    /// assert_eq!(plugin.on_session_resuming(&event, reply).unwrap(), Decision::IGNORE);
    /// ```
    pub fn on_session_resuming(
        &self,
        event: &crate::handover::ResumeEvent<'_>,
        reply: Reply,
    ) -> Result<Decision, PluginError> {
        self.plugin
            .on_session_resuming(event, reply.into_sink())
            .into_result()
    }
    // @since 1.7 end

    /// `client.authorize`, with `reply` for a pending answer.
    ///
    /// ```
    /// use mqhost_plugin_api::testing::{authorize_event, plugin_config, GuardedPlugin, ReplyProbe, TestHost};
    /// use mqhost_plugin_api::{Action, ConfigError, Decision, HookSet, Host, MqhostPlugin, PluginConfig};
    ///
    /// struct Silent;
    ///
    /// impl MqhostPlugin for Silent {
    ///     fn start(_host: Host, _config: &PluginConfig<'_>) -> Result<Self, ConfigError> {
    ///         Ok(Silent)
    ///     }
    ///     fn hooks(&self) -> HookSet {
    ///         HookSet::NONE
    ///     }
    /// }
    ///
    /// let plugin = GuardedPlugin::start::<Silent>(&TestHost::new(), &plugin_config("").build()).unwrap();
    /// let (reply, _answer) = ReplyProbe::new();
    /// let event = authorize_event("c", Action::PUBLISH, "a").build();
    /// assert_eq!(plugin.on_client_authorize(&event, reply).unwrap(), Decision::IGNORE);
    /// ```
    pub fn on_client_authorize(
        &self,
        request: &AuthorizeEvent<'_>,
        reply: Reply,
    ) -> Result<Decision, PluginError> {
        self.plugin
            .on_client_authorize(request, reply.into_sink())
            .into_result()
    }
    // @since 1.2 end

    /// A new configuration: the outer error is a panic, the inner one the
    /// plugin's refusal.
    ///
    /// ```
    /// # use mqhost_plugin_api::testing::{plugin_config, GuardedPlugin, TestHost};
    /// # use mqhost_plugin_api::{ConfigError, HookSet, Host, MqhostPlugin, PluginConfig};
    /// struct Fixed;
    ///
    /// impl MqhostPlugin for Fixed {
    ///     fn start(_: Host, _: &PluginConfig<'_>) -> Result<Self, ConfigError> {
    ///         Ok(Fixed)
    ///     }
    ///     fn hooks(&self) -> HookSet {
    ///         HookSet::NONE
    ///     }
    ///     fn reconfigure(&self, _: &PluginConfig<'_>) -> Result<(), ConfigError> {
    ///         Err(ConfigError::at(1, "fixed.x", "cannot change"))
    ///     }
    /// }
    ///
    /// let plugin = GuardedPlugin::start::<Fixed>(&TestHost::new(), &plugin_config("").build()).unwrap();
    /// let refused = plugin.reconfigure(&plugin_config("fixed.x = 2").build()).unwrap().unwrap_err();
    /// assert_eq!(refused.key.as_str(), "fixed.x");
    /// ```
    pub fn reconfigure(
        &self,
        config: &PluginConfig<'_>,
    ) -> Result<Result<(), ConfigError>, PluginError> {
        self.plugin
            .reconfigure(config)
            .into_result()
            .map(RResult::into_result)
    }

    /// The plugin's figures, a JSON object as text.
    ///
    /// ```
    /// # use mqhost_plugin_api::testing::{plugin_config, GuardedPlugin, TestHost};
    /// # use mqhost_plugin_api::{ConfigError, HookSet, Host, MqhostPlugin, PluginConfig};
    /// # struct Quiet;
    /// # impl MqhostPlugin for Quiet {
    /// #     fn start(_: Host, _: &PluginConfig<'_>) -> Result<Self, ConfigError> { Ok(Quiet) }
    /// #     fn hooks(&self) -> HookSet { HookSet::NONE }
    /// # }
    /// let plugin = GuardedPlugin::start::<Quiet>(&TestHost::new(), &plugin_config("").build()).unwrap();
    /// assert_eq!(plugin.stats().unwrap(), "{}");
    /// ```
    pub fn stats(&self) -> Result<String, PluginError> {
        self.plugin.stats().into_result().map(RString::into_string)
    }

    /// Stops the plugin.
    ///
    /// ```
    /// # use mqhost_plugin_api::testing::{plugin_config, GuardedPlugin, TestHost};
    /// # use mqhost_plugin_api::{ConfigError, HookSet, Host, MqhostPlugin, PluginConfig};
    /// # struct Quiet;
    /// # impl MqhostPlugin for Quiet {
    /// #     fn start(_: Host, _: &PluginConfig<'_>) -> Result<Self, ConfigError> { Ok(Quiet) }
    /// #     fn hooks(&self) -> HookSet { HookSet::NONE }
    /// # }
    /// let plugin = GuardedPlugin::start::<Quiet>(&TestHost::new(), &plugin_config("").build()).unwrap();
    /// assert!(plugin.stop().is_ok());
    /// ```
    pub fn stop(&self) -> Result<(), PluginError> {
        self.plugin.stop().into_result()
    }
}

/// Builds a [`PluginConfig`]: name `test`, source `etc/plugins/test.conf`.
///
/// ```
/// use mqhost_plugin_api::testing::plugin_config;
///
/// let config = plugin_config("audit.file = a.jsonl\n")
///     .name("audit")
///     .source("etc/plugins/audit.conf")
///     .build();
/// assert_eq!(config.name.as_str(), "audit");
/// assert_eq!(config.source.as_str(), "etc/plugins/audit.conf");
/// assert_eq!(config.text.as_str(), "audit.file = a.jsonl\n");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct PluginConfigBuilder<'a> {
    config: PluginConfig<'a>,
}

/// A [`PluginConfigBuilder`] for a file holding `text`.
///
/// ```
/// use mqhost_plugin_api::testing::plugin_config;
///
/// assert_eq!(plugin_config("").build().name.as_str(), "test");
/// ```
pub fn plugin_config(text: &str) -> PluginConfigBuilder<'_> {
    PluginConfigBuilder {
        config: PluginConfig {
            name: RStr::from_str("test"),
            source: RStr::from_str("etc/plugins/test.conf"),
            text: RStr::from_str(text),
        },
    }
}

impl<'a> PluginConfigBuilder<'a> {
    /// The plugin's NAME.
    pub fn name(mut self, name: &'a str) -> Self {
        self.config.name = RStr::from_str(name);
        self
    }

    /// The file's path, as messages name it.
    pub fn source(mut self, source: &'a str) -> Self {
        self.config.source = RStr::from_str(source);
        self
    }

    /// The configuration.
    pub fn build(self) -> PluginConfig<'a> {
        self.config
    }
}

/// Builds a [`ClientEvent`] for `client.connected` or
/// `client.disconnected`: no user name, peer `127.0.0.1:50000`, MQTT 5.0,
/// clean start, keep alive 60 s, node [`NODE`], time [`TIMESTAMP_MS`], no
/// reason.
///
/// ```
/// use mqhost_plugin_api::testing::client_event;
///
/// let event = client_event("dev-1")
///     .username("alice")
///     .peer("10.0.0.7:41000")
///     .protocol(4)
///     .clean_start(false)
///     .keep_alive(30)
///     .node("edge-7")
///     .timestamp_ms(1)
///     .reason("keepalive_timeout")
///     .build();
/// assert_eq!(event.client_id.as_str(), "dev-1");
/// assert_eq!(event.username.into_option().map(|u| u.as_str()), Some("alice"));
/// assert_eq!((event.protocol, event.clean_start, event.keep_alive), (4, false, 30));
/// assert_eq!(event.reason.as_str(), "keepalive_timeout");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ClientEventBuilder<'a> {
    event: ClientEvent<'a>,
}

/// A [`ClientEventBuilder`] for `client_id`.
///
/// ```
/// use mqhost_plugin_api::testing::client_event;
///
/// let event = client_event("dev-1").build();
/// assert_eq!((event.protocol, event.keep_alive), (5, 60));
/// assert!(event.username.is_none());
/// ```
pub fn client_event(client_id: &str) -> ClientEventBuilder<'_> {
    ClientEventBuilder {
        event: ClientEvent {
            client_id: RStr::from_str(client_id),
            username: ROption::RNone,
            peer: RStr::from_str("127.0.0.1:50000"),
            protocol: 5,
            clean_start: true,
            keep_alive: 60,
            node: RStr::from_str(NODE),
            timestamp_ms: TIMESTAMP_MS,
            reason: RStr::from_str(""),
        },
    }
}

impl<'a> ClientEventBuilder<'a> {
    /// The user name from CONNECT.
    pub fn username(mut self, username: &'a str) -> Self {
        self.event.username = ROption::RSome(RStr::from_str(username));
        self
    }

    /// The client's address, `ip:port`.
    pub fn peer(mut self, peer: &'a str) -> Self {
        self.event.peer = RStr::from_str(peer);
        self
    }

    /// The protocol level: 3, 4 or 5.
    pub fn protocol(mut self, protocol: u8) -> Self {
        self.event.protocol = protocol;
        self
    }

    /// Clean Start (Clean Session before 5.0).
    pub fn clean_start(mut self, clean_start: bool) -> Self {
        self.event.clean_start = clean_start;
        self
    }

    /// Keep alive, seconds.
    pub fn keep_alive(mut self, seconds: u16) -> Self {
        self.event.keep_alive = seconds;
        self
    }

    /// The node's name.
    pub fn node(mut self, node: &'a str) -> Self {
        self.event.node = RStr::from_str(node);
        self
    }

    /// When it happened, Unix milliseconds.
    pub fn timestamp_ms(mut self, timestamp_ms: u64) -> Self {
        self.event.timestamp_ms = timestamp_ms;
        self
    }

    /// Why the connection ended, for `client.disconnected`.
    pub fn reason(mut self, reason: &'a str) -> Self {
        self.event.reason = RStr::from_str(reason);
        self
    }

    /// The event.
    pub fn build(self) -> ClientEvent<'a> {
        self.event
    }
}

/// Builds a [`SessionEvent`] for `session.created`: no user name, node
/// [`NODE`], a new session.
///
/// ```
/// use mqhost_plugin_api::testing::session_event;
///
/// let event = session_event("dev-1").username("alice").node("edge-7").resumed(true).build();
/// assert_eq!(event.client_id.as_str(), "dev-1");
/// assert!(event.resumed);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct SessionEventBuilder<'a> {
    event: SessionEvent<'a>,
}

/// A [`SessionEventBuilder`] for `client_id`.
///
/// ```
/// use mqhost_plugin_api::testing::session_event;
///
/// assert!(!session_event("dev-1").build().resumed);
/// ```
pub fn session_event(client_id: &str) -> SessionEventBuilder<'_> {
    SessionEventBuilder {
        event: SessionEvent {
            client_id: RStr::from_str(client_id),
            username: ROption::RNone,
            node: RStr::from_str(NODE),
            resumed: false,
        },
    }
}

impl<'a> SessionEventBuilder<'a> {
    /// The user name from CONNECT.
    pub fn username(mut self, username: &'a str) -> Self {
        self.event.username = ROption::RSome(RStr::from_str(username));
        self
    }

    /// The node's name.
    pub fn node(mut self, node: &'a str) -> Self {
        self.event.node = RStr::from_str(node);
        self
    }

    /// Whether an existing session was resumed.
    pub fn resumed(mut self, resumed: bool) -> Self {
        self.event.resumed = resumed;
        self
    }

    /// The event.
    pub fn build(self) -> SessionEvent<'a> {
        self.event
    }
}

/// Builds a [`SubscriptionEvent`] for `session.subscribed` or
/// `session.unsubscribed`: QoS 0, no MQTT 5.0 options, a new subscription,
/// node [`NODE`].
///
/// ```
/// use mqhost_plugin_api::testing::subscription_event;
///
/// let event = subscription_event("dev-1", "$share/g/a/+")
///     .qos(1)
///     .no_local(true)
///     .retain_as_published(true)
///     .retain_handling(2)
///     .is_new(false)
///     .node("edge-7")
///     .build();
/// assert_eq!(event.filter.as_str(), "$share/g/a/+");
/// assert_eq!((event.qos, event.retain_handling, event.is_new), (1, 2, false));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct SubscriptionEventBuilder<'a> {
    event: SubscriptionEvent<'a>,
}

/// A [`SubscriptionEventBuilder`] for `client_id` and `filter`.
///
/// ```
/// use mqhost_plugin_api::testing::subscription_event;
///
/// let event = subscription_event("dev-1", "a/#").build();
/// assert_eq!((event.qos, event.is_new), (0, true));
/// ```
pub fn subscription_event<'a>(client_id: &'a str, filter: &'a str) -> SubscriptionEventBuilder<'a> {
    SubscriptionEventBuilder {
        event: SubscriptionEvent {
            client_id: RStr::from_str(client_id),
            filter: RStr::from_str(filter),
            qos: 0,
            no_local: false,
            retain_as_published: false,
            retain_handling: 0,
            is_new: true,
            node: RStr::from_str(NODE),
        },
    }
}

impl<'a> SubscriptionEventBuilder<'a> {
    /// The granted QoS.
    pub fn qos(mut self, qos: u8) -> Self {
        self.event.qos = qos;
        self
    }

    /// No Local.
    pub fn no_local(mut self, no_local: bool) -> Self {
        self.event.no_local = no_local;
        self
    }

    /// Retain As Published.
    pub fn retain_as_published(mut self, retain_as_published: bool) -> Self {
        self.event.retain_as_published = retain_as_published;
        self
    }

    /// Retain Handling: 0, 1 or 2.
    pub fn retain_handling(mut self, retain_handling: u8) -> Self {
        self.event.retain_handling = retain_handling;
        self
    }

    /// False when the session already had this filter.
    pub fn is_new(mut self, is_new: bool) -> Self {
        self.event.is_new = is_new;
        self
    }

    /// The node's name.
    pub fn node(mut self, node: &'a str) -> Self {
        self.event.node = RStr::from_str(node);
        self
    }

    /// The event.
    pub fn build(self) -> SubscriptionEvent<'a> {
        self.event
    }
}

/// MQTT 5.0 user properties for [`MessageEventBuilder::user_properties`],
/// kept here because the event only borrows them.
///
/// ```
/// use mqhost_plugin_api::testing::{message_event, UserProperties};
///
/// let properties = UserProperties::new(&[("unit", "C"), ("unit", "K")]);
/// let event = message_event("t").user_properties(&properties).build();
/// let names: Vec<&str> = event.properties.user_properties.iter().map(|p| p.0.as_str()).collect();
/// assert_eq!(names, ["unit", "unit"]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct UserProperties<'a> {
    pairs: Vec<Tuple2<RStr<'a>, RStr<'a>>>,
}

impl<'a> UserProperties<'a> {
    /// The properties `pairs`, in order.
    ///
    /// ```
    /// use mqhost_plugin_api::testing::UserProperties;
    ///
    /// let _properties = UserProperties::new(&[("k", "v")]);
    /// ```
    pub fn new(pairs: &[(&'a str, &'a str)]) -> UserProperties<'a> {
        UserProperties {
            pairs: pairs
                .iter()
                .map(|(name, value)| Tuple2(RStr::from_str(name), RStr::from_str(value)))
                .collect(),
        }
    }
}

/// Builds a [`MessageEvent`] for `message.publish`, or for a
/// [`delivery_event`]: id 1, empty payload, QoS 0, not retained, from
/// `publisher`, time [`TIMESTAMP_MS`], no MQTT 5.0 properties, node
/// [`NODE`].
///
/// ```
/// use mqhost_plugin_api::testing::{message_event, UserProperties};
/// use mqhost_plugin_api::MessageId;
///
/// let properties = UserProperties::new(&[("unit", "C")]);
/// let event = message_event("sensors/t1")
///     .id(MessageId::from_u128(61))
///     .payload(b"21.5")
///     .qos(1)
///     .retain(true)
///     .from("sensor-1")
///     .timestamp_ms(1)
///     .payload_format_indicator(1)
///     .message_expiry_interval(60)
///     .content_type("text/plain")
///     .response_topic("replies/t1")
///     .correlation_data(b"42")
///     .user_properties(&properties)
///     .node("edge-7")
///     .build();
/// assert_eq!(event.topic.as_str(), "sensors/t1");
/// assert_eq!(event.payload.as_slice(), b"21.5");
/// assert_eq!(event.id.to_base62(), "000000000000000000000z");
/// assert_eq!(event.properties.content_type.into_option().map(|c| c.as_str()), Some("text/plain"));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct MessageEventBuilder<'a> {
    event: MessageEvent<'a>,
}

/// A [`MessageEventBuilder`] for a message on `topic`.
///
/// ```
/// use mqhost_plugin_api::testing::message_event;
///
/// let event = message_event("a/b").build();
/// assert_eq!((event.qos, event.retain, event.from.as_str()), (0, false, "publisher"));
/// assert!(event.payload.is_empty());
/// ```
pub fn message_event(topic: &str) -> MessageEventBuilder<'_> {
    MessageEventBuilder {
        event: MessageEvent {
            id: MessageId::from_u128(1),
            topic: RStr::from_str(topic),
            payload: RSlice::from_slice(&[]),
            qos: 0,
            retain: false,
            from: RStr::from_str("publisher"),
            timestamp_ms: TIMESTAMP_MS,
            properties: MessageProperties {
                payload_format_indicator: ROption::RNone,
                message_expiry_interval: ROption::RNone,
                content_type: ROption::RNone,
                response_topic: ROption::RNone,
                correlation_data: ROption::RNone,
                user_properties: RSlice::from_slice(&[]),
            },
            node: RStr::from_str(NODE),
        },
    }
}

impl<'a> MessageEventBuilder<'a> {
    /// The message id.
    pub fn id(mut self, id: MessageId) -> Self {
        self.event.id = id;
        self
    }

    /// The payload.
    pub fn payload(mut self, payload: &'a [u8]) -> Self {
        self.event.payload = RSlice::from_slice(payload);
        self
    }

    /// The QoS as published.
    pub fn qos(mut self, qos: u8) -> Self {
        self.event.qos = qos;
        self
    }

    /// The retain flag as published.
    pub fn retain(mut self, retain: bool) -> Self {
        self.event.retain = retain;
        self
    }

    /// The publisher's client id.
    pub fn from(mut self, from: &'a str) -> Self {
        self.event.from = RStr::from_str(from);
        self
    }

    /// The publish time, Unix milliseconds.
    pub fn timestamp_ms(mut self, timestamp_ms: u64) -> Self {
        self.event.timestamp_ms = timestamp_ms;
        self
    }

    /// Payload Format Indicator.
    pub fn payload_format_indicator(mut self, indicator: u8) -> Self {
        self.event.properties.payload_format_indicator = ROption::RSome(indicator);
        self
    }

    /// Message Expiry Interval, seconds left.
    pub fn message_expiry_interval(mut self, seconds: u32) -> Self {
        self.event.properties.message_expiry_interval = ROption::RSome(seconds);
        self
    }

    /// Content Type.
    pub fn content_type(mut self, content_type: &'a str) -> Self {
        self.event.properties.content_type = ROption::RSome(RStr::from_str(content_type));
        self
    }

    /// Response Topic.
    pub fn response_topic(mut self, topic: &'a str) -> Self {
        self.event.properties.response_topic = ROption::RSome(RStr::from_str(topic));
        self
    }

    /// Correlation Data.
    pub fn correlation_data(mut self, data: &'a [u8]) -> Self {
        self.event.properties.correlation_data = ROption::RSome(RSlice::from_slice(data));
        self
    }

    /// User Properties.
    pub fn user_properties(mut self, properties: &'a UserProperties<'a>) -> Self {
        self.event.properties.user_properties = RSlice::from_slice(&properties.pairs);
        self
    }

    /// The node's name.
    pub fn node(mut self, node: &'a str) -> Self {
        self.event.node = RStr::from_str(node);
        self
    }

    /// The event.
    pub fn build(self) -> MessageEvent<'a> {
        self.event
    }
}

/// Builds a [`DeliveryEvent`] for `message.delivered` or `message.acked`:
/// the delivery's QoS is the message's.
///
/// ```
/// use mqhost_plugin_api::testing::{delivery_event, message_event};
///
/// let message = message_event("a/b").qos(2).build();
/// let event = delivery_event("sub-1", message).qos(1).build();
/// assert_eq!((event.client_id.as_str(), event.qos), ("sub-1", 1));
/// assert_eq!(event.message.topic.as_str(), "a/b");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct DeliveryEventBuilder<'a> {
    event: DeliveryEvent<'a>,
}

/// A [`DeliveryEventBuilder`] of `message` to `client_id`.
///
/// ```
/// use mqhost_plugin_api::testing::{delivery_event, message_event};
///
/// let event = delivery_event("sub-1", message_event("a").qos(1).build()).build();
/// assert_eq!(event.qos, 1);
/// ```
pub fn delivery_event<'a>(
    client_id: &'a str,
    message: MessageEvent<'a>,
) -> DeliveryEventBuilder<'a> {
    DeliveryEventBuilder {
        event: DeliveryEvent {
            client_id: RStr::from_str(client_id),
            qos: message.qos,
            message,
        },
    }
}

impl<'a> DeliveryEventBuilder<'a> {
    /// The QoS of this delivery.
    pub fn qos(mut self, qos: u8) -> Self {
        self.event.qos = qos;
        self
    }

    /// The event.
    pub fn build(self) -> DeliveryEvent<'a> {
        self.event
    }
}
