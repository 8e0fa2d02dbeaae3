//! What a plugin may ask of the host: [`HostApi`], callable from any thread
//! at any time, and [`Host`], its convenient Rust face.
#![allow(non_local_definitions)] // emitted by #[sabi_trait] on current rustc

use abi_stable::sabi_trait;
use abi_stable::std_types::{RArc, ROption, RResult, RSlice, RStr, RString, Tuple2};
use abi_stable::StableAbi;

use crate::types::{HostError, LogLevel, MessageId};
// @since 1.5 begin
use crate::events::MessageEvent;
// @since 1.5 end
// @since 1.7 begin
use crate::handover::{session_receiver, SessionReceiverBox};
// @since 1.7 end

/// A message a plugin hands to the host, to publish or to deliver.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy)]
pub struct OutMessage<'a> {
    /// Topic name (no wildcards).
    pub topic: RStr<'a>,
    /// Payload bytes (copied by the host).
    pub payload: RSlice<'a, u8>,
    /// 0, 1 or 2.
    pub qos: u8,
    /// Retain flag: for publish, store it as a retained message; for
    /// deliver, the RETAIN flag the client sees.
    pub retain: bool,
    /// Keep this id (a stored message delivered again); None: a new one.
    pub id: ROption<MessageId>,
    /// Publisher client id to report in later hooks; empty: the plugin.
    pub from: RStr<'a>,
    /// Original publish time, Unix milliseconds; 0: now.
    pub timestamp_ms: u64,
    /// MQTT 5.0 user properties to send with it.
    pub user_properties: RSlice<'a, Tuple2<RStr<'a>, RStr<'a>>>,
}

impl<'a> OutMessage<'a> {
    /// A message with only topic, payload and QoS set.
    ///
    /// ```
    /// use mqhost_plugin_api::OutMessage;
    ///
    /// let message = OutMessage::new("alerts/fire", b"evacuate", 1);
    /// assert_eq!(message.topic.as_str(), "alerts/fire");
    /// assert!(!message.retain);
    /// ```
    pub fn new(topic: &'a str, payload: &'a [u8], qos: u8) -> OutMessage<'a> {
        OutMessage {
            topic: RStr::from_str(topic),
            payload: RSlice::from_slice(payload),
            qos,
            retain: false,
            id: ROption::RNone,
            from: RStr::from_str(""),
            timestamp_ms: 0,
            user_properties: RSlice::from_slice(&[]),
        }
    }
}

/// The host's side of the boundary. Every method returns at once without
/// blocking on the broker, from any thread. Plugins call it through
/// [`Host`]; the host implements it.
///
/// ```
/// use mqhost_plugin_api::abi_stable::std_types::RStr;
/// use mqhost_plugin_api::testing::TestHost;
/// use mqhost_plugin_api::HostApi;
///
/// let host = TestHost::new().host();
/// // The raw call behind Host::is_connected.
/// assert!(!host.api().is_connected(RStr::from_str("sensor-1")));
/// ```
#[sabi_trait]
pub trait HostApi: Send + Sync + Clone {
    /// The broker node's name.
    fn node_name(&self) -> RString;

    /// Whether a client with this id is connected to this node now.
    fn is_connected(&self, client_id: RStr<'_>) -> bool;

    /// Delivers a message to one client through its session, as a matching
    /// subscription would: QoS (at most the message's), packet ids, the
    /// in-flight window, the offline queue, and `message.delivered` /
    /// `message.acked` hooks as usual.
    fn deliver(&self, client_id: RStr<'_>, message: &OutMessage<'_>) -> RResult<(), HostError>;

    /// Publishes a message as a client would (hooks, retained store,
    /// routing).
    fn publish(&self, message: &OutMessage<'_>) -> RResult<(), HostError>;

    /// Subscribes a client to a filter as a SUBSCRIBE would, without a
    /// SUBACK; retained messages are delivered as for a SUBSCRIBE.
    fn subscribe(&self, client_id: RStr<'_>, filter: RStr<'_>, qos: u8) -> RResult<(), HostError>;

    /// Removes a client's subscription.
    fn unsubscribe(&self, client_id: RStr<'_>, filter: RStr<'_>) -> RResult<(), HostError>;

    /// Writes a line to the broker's log, tagged with the plugin's name.
    #[sabi(last_prefix_field)]
    fn log(&self, level: LogLevel, message: RStr<'_>);

    // @since 1.2 begin
    /// Ends the connection of the client connected with this id, as an
    /// administrator would (since 1.2). A 5.0 client first gets DISCONNECT
    /// with `reason`; a 3.x client, to which a server cannot send
    /// DISCONNECT, is just closed. The session then follows its usual
    /// rules: a persistent one stays for the client's return, and the will
    /// is published (subject to its delay), since only the client's own
    /// DISCONNECT 0x00 removes it. `client.disconnected` reports the
    /// reason `kicked`.
    ///
    /// The call only queues the order: the session ends the connection it
    /// has when it handles it, right after. So it never waits, and may be
    /// made from a hook, on the broker's thread of that very client.
    /// Errors: [`HostError::INVALID_REASON`] when
    /// [`is_server_disconnect_reason`] refuses `reason`,
    /// [`HostError::NO_SUCH_CLIENT`] when no client with that id is
    /// connected (an offline session is left alone).
    ///
    /// A host built against 1.1 or older lacks this method; calling it
    /// there returns [`HostError::UNSUPPORTED`] (this default).
    ///
    /// ```
    /// use mqhost_plugin_api::abi_stable::std_types::RStr;
    /// use mqhost_plugin_api::testing::TestHost;
    /// use mqhost_plugin_api::HostApi;
    ///
    /// let test_host = TestHost::new();
    /// let raw = test_host.host().api().clone();
    /// // The raw call behind Host::disconnect: 0x98, Administrative action.
    /// assert!(raw.disconnect(RStr::from_str("sensor-1"), 0x98).is_ok());
    /// assert_eq!(test_host.disconnected(), [("sensor-1".to_owned(), 0x98)]);
    /// ```
    fn disconnect(&self, client_id: RStr<'_>, reason: u8) -> RResult<(), HostError> {
        let _ = (client_id, reason);
        RResult::RErr(HostError::UNSUPPORTED)
    }
    // @since 1.2 end

    // @since 1.4 begin
    /// How many more messages the session of `client_id` can take now
    /// (since 1.4): its queue's bound (`mqtt.max_queued_messages`) less
    /// the messages waiting in its mailbox and its queue, `u64::MAX` when
    /// the queue has no bound. A message [`deliver`](Self::deliver)ed
    /// beyond it may find the queue full and be dropped, as one routed
    /// there would be, so a plugin about to deliver many (stored messages
    /// read back, for instance) reads and sends no more than this.
    ///
    /// It is a reading of the moment: other messages may reach the
    /// session meanwhile, and its client's reading makes room. It covers
    /// connected and offline sessions alike. Errors:
    /// [`HostError::NO_SUCH_CLIENT`] when no session has that client id on
    /// this node.
    ///
    /// A host built against 1.3 or older lacks this method; calling it
    /// there returns [`HostError::UNSUPPORTED`] (this default), and the
    /// caller knows no bound.
    ///
    /// ```
    /// use mqhost_plugin_api::abi_stable::std_types::RStr;
    /// use mqhost_plugin_api::testing::TestHost;
    /// use mqhost_plugin_api::HostApi;
    ///
    /// let test_host = TestHost::new();
    /// test_host.set_session_room("sensor-1", 5);
    /// let raw = test_host.host().api().clone();
    /// // The raw call behind Host::session_room.
    /// assert_eq!(raw.session_room(RStr::from_str("sensor-1")).into_result(), Ok(5));
    /// ```
    fn session_room(&self, client_id: RStr<'_>) -> RResult<u64, HostError> {
        let _ = client_id;
        RResult::RErr(HostError::UNSUPPORTED)
    }
    // @since 1.4 end

    // @since 1.5 begin
    /// Publishes on this node a message another node already published
    /// (since 1.5): what a cluster plugin calls with the messages it
    /// receives from the other nodes. The message keeps everything it had
    /// there: its id, publisher, time, QoS, retain flag and every MQTT 5.0
    /// property (`message_expiry_interval` is the time left; its `node` is
    /// the node it came from).
    ///
    /// It runs no `message.publish` hook here: those ran on the node where
    /// the message was published, so a plugin that forwards messages from
    /// that hook never sees a forwarded one again (the mark that keeps
    /// messages from going round), and a backend that stores them stores
    /// each once. A retained message updates this node's retained store;
    /// with `route`, the message then goes to this node's matching
    /// subscribers as any message does (`message.delivered` and
    /// `message.acked` as usual); without, only the retained store
    /// changes (a node catching up on the retained messages it missed).
    ///
    /// Returns how many sessions it was handed to. Errors:
    /// [`HostError::INVALID_TOPIC`], [`HostError::INVALID_QOS`].
    ///
    /// A host built against 1.4 or older lacks this method; calling it
    /// there returns [`HostError::UNSUPPORTED`] (this default).
    ///
    /// ```
    /// use mqhost_plugin_api::testing::{message_event, TestHost};
    /// use mqhost_plugin_api::HostApi;
    ///
    /// let test_host = TestHost::new();
    /// let raw = test_host.host().api().clone();
    /// // A message that came from node "n1", handed to this node's subscribers.
    /// let forwarded = message_event("sensors/t1").payload(b"21.5").qos(1).build();
    /// assert!(raw.publish_local(&forwarded, true).is_ok());
    /// assert_eq!(test_host.published_local()[0].topic, "sensors/t1");
    /// ```
    fn publish_local(&self, message: &MessageEvent<'_>, route: bool) -> RResult<u32, HostError> {
        let _ = (message, route);
        RResult::RErr(HostError::UNSUPPORTED)
    }
    // @since 1.5 end

    // @since 1.6 begin
    /// Publishes on this node a message another node published, as
    /// [`publish_local`](Self::publish_local) with `route` does, with one
    /// difference (since 1.6): of this node's shared subscriptions only
    /// those named in `groups` (`$share/group/filter`, as subscribed) get
    /// it, one member each, chosen as for any message; every other group
    /// here gets nothing, since the node where the message was published
    /// gave it to another node's members (see
    /// [`ServedElsewhere`](crate::ServedElsewhere)). Plain subscriptions
    /// get it as usual.
    ///
    /// Returns how many sessions it was handed to. Errors:
    /// [`HostError::INVALID_TOPIC`] (the topic, or a name in `groups`
    /// that is not a shared subscription), [`HostError::INVALID_QOS`].
    ///
    /// A host built against 1.5 or older lacks this method; calling it
    /// there returns [`HostError::UNSUPPORTED`] (this default).
    ///
    /// ```
    /// use mqhost_plugin_api::abi_stable::std_types::{RSlice, RStr};
    /// use mqhost_plugin_api::testing::{message_event, TestHost};
    /// use mqhost_plugin_api::HostApi;
    ///
    /// let test_host = TestHost::new();
    /// let raw = test_host.host().api().clone();
    /// // Node n1 chose this node for group "workers" of jobs/#.
    /// let forwarded = message_event("jobs/7").payload(b"work").qos(1).build();
    /// let groups = [RStr::from_str("$share/workers/jobs/#")];
    /// assert!(raw.publish_local_shared(&forwarded, RSlice::from_slice(&groups)).is_ok());
    /// assert_eq!(test_host.published_local_shared()[0].1, ["$share/workers/jobs/#"]);
    /// ```
    fn publish_local_shared(
        &self,
        message: &MessageEvent<'_>,
        groups: RSlice<'_, RStr<'_>>,
    ) -> RResult<u32, HostError> {
        let _ = (message, groups);
        RResult::RErr(HostError::UNSUPPORTED)
    }
    // @since 1.6 end

    // @since 1.7 begin
    /// Takes the session of `client_id` out of this node (since 1.7), for
    /// another node to [`put_session`](Self::put_session): a connected
    /// client's connection ends first, as a takeover ends it (DISCONNECT
    /// 0x8E for 5.0, its will by the usual rules), then the session
    /// leaves the broker whole: subscriptions with their options, the
    /// queue, the messages in flight with their packet ids and stages,
    /// the inbound QoS 2 ids, a will waiting for its delay, its expiry.
    /// It is gone from this node afterwards (its durable record too), and
    /// messages routed here for it afterwards find no session.
    ///
    /// `receiver` gets the session's bytes once the session's task has
    /// handled the order, from a broker thread, or
    /// [`HostError::NO_SUCH_CLIENT`] when it ended meanwhile. The call
    /// itself only queues the order. Errors (then `receiver` is dropped
    /// uncalled): [`HostError::NO_SUCH_CLIENT`] when no session has that
    /// client id here.
    ///
    /// The bytes are the durable store's records of the session
    /// (checksummed), meant for a broker of the same version or newer.
    ///
    /// A host built against 1.6 or older lacks this method; calling it
    /// there returns [`HostError::UNSUPPORTED`] (this default).
    ///
    /// ```
    /// use mqhost_plugin_api::abi_stable::std_types::RStr;
    /// use mqhost_plugin_api::testing::TestHost;
    /// use mqhost_plugin_api::{session_receiver, HostApi};
    ///
    /// let test_host = TestHost::new();
    /// test_host.set_session_room("sensor-1", 10);
    /// let raw = test_host.host().api().clone();
    /// let receiver = session_receiver(|taken| assert!(taken.is_ok()));
    /// assert!(raw.take_session(RStr::from_str("sensor-1"), receiver).is_ok());
    /// ```
    fn take_session(
        &self,
        client_id: RStr<'_>,
        receiver: SessionReceiverBox,
    ) -> RResult<(), HostError> {
        let _ = (client_id, receiver);
        RResult::RErr(HostError::UNSUPPORTED)
    }

    /// Installs on this node a session another node took out with
    /// [`take_session`](Self::take_session) (since 1.7): offline, as a
    /// stored session comes back at start, with everything it held; its
    /// subscriptions are announced as `session.subscribed`, so plugins
    /// that keep routes see them. A client that connects with Clean Start
    /// 0 then resumes it (Session Present 1): its queue is delivered and
    /// what was in flight sent again (PUBLISH with DUP, PUBREL). With the
    /// durable store on, it is stored here.
    ///
    /// The bytes are input like any other and are checked: errors are
    /// [`HostError::INVALID_SESSION`] (not a session, damaged, or of
    /// another client id), [`HostError::SESSION_EXISTS`] (this node has
    /// a session with that client id; it is left as it is),
    /// [`HostError::SHUTTING_DOWN`].
    ///
    /// A host built against 1.6 or older lacks this method; calling it
    /// there returns [`HostError::UNSUPPORTED`] (this default).
    ///
    /// ```
    /// use mqhost_plugin_api::abi_stable::std_types::{RSlice, RStr};
    /// use mqhost_plugin_api::testing::TestHost;
    /// use mqhost_plugin_api::HostApi;
    ///
    /// let test_host = TestHost::new();
    /// let raw = test_host.host().api().clone();
    /// let bytes = [1u8, 2, 3]; // what take_session gave on another node
    /// assert!(raw.put_session(RStr::from_str("sensor-1"), RSlice::from_slice(&bytes)).is_ok());
    /// assert_eq!(test_host.put_sessions(), [("sensor-1".to_owned(), vec![1, 2, 3])]);
    /// ```
    fn put_session(&self, client_id: RStr<'_>, session: RSlice<'_, u8>) -> RResult<(), HostError> {
        let _ = (client_id, session);
        RResult::RErr(HostError::UNSUPPORTED)
    }
    // @since 1.7 end
}

// @since 1.2 begin
/// Whether a server may send `code` as the reason code of DISCONNECT: the
/// codes MQTT 5.0 (table 3.14.2.1) lists for DISCONNECT, but for 0x04
/// (Disconnect with Will Message), which only a client sends. 0x00 (Normal
/// disconnection) is one of them. [`Host::disconnect`] refuses any other
/// code with [`HostError::INVALID_REASON`] rather than map it to one that
/// may not mean what the caller meant.
///
/// ```
/// use mqhost_plugin_api::host::is_server_disconnect_reason;
///
/// assert!(is_server_disconnect_reason(0x98)); // Administrative action
/// assert!(is_server_disconnect_reason(0x87)); // Not authorized
/// assert!(is_server_disconnect_reason(0x00)); // Normal disconnection
/// assert!(!is_server_disconnect_reason(0x04)); // a client's code
/// assert!(!is_server_disconnect_reason(0x86)); // a CONNACK code
/// ```
pub fn is_server_disconnect_reason(code: u8) -> bool {
    matches!(
        code,
        0x00 | 0x80..=0x83 | 0x87 | 0x89 | 0x8B | 0x8D..=0x90 | 0x93..=0xA2
    )
}
// @since 1.2 end

/// The host handle a plugin receives: a shared, cloneable [`HostApi`]
/// object.
///
/// ```
/// use mqhost_plugin_api::testing::{TestHost, NODE};
/// use mqhost_plugin_api::{Host, HostApiBox};
///
/// let api: HostApiBox = TestHost::new().host().api().clone();
/// assert_eq!(Host::new(api).node_name(), NODE);
/// ```
pub type HostApiBox = HostApi_TO<'static, RArc<()>>;

/// [`HostApiBox`] with Rust types: what plugin code calls.
///
/// ```
/// # let test_host = mqhost_plugin_api::testing::TestHost::new();
/// # test_host.set_connected("sensor-1", true);
/// # let host = test_host.host();
/// use mqhost_plugin_api::OutMessage;
///
/// host.info("plugin started");
/// if host.is_connected("sensor-1") {
///     let _ = host.deliver("sensor-1", &OutMessage::new("cmd/sensor-1", b"reboot", 1));
/// }
/// # assert_eq!(test_host.delivered().len(), 1);
/// ```
#[derive(Clone)]
pub struct Host {
    api: HostApiBox,
}

impl Host {
    /// Wraps the handle the host passed in.
    ///
    /// ```
    /// use mqhost_plugin_api::testing::TestHost;
    /// use mqhost_plugin_api::Host;
    ///
    /// let api = TestHost::new().host().api().clone();
    /// let host = Host::new(api);
    /// # let _ = host;
    /// ```
    pub fn new(api: HostApiBox) -> Host {
        Host { api }
    }

    /// The broker node's name.
    ///
    /// ```
    /// # let test_host = mqhost_plugin_api::testing::TestHost::new();
    /// # let host = test_host.host();
    /// let node = host.node_name();
    /// assert_eq!(node, mqhost_plugin_api::testing::NODE);
    /// ```
    pub fn node_name(&self) -> String {
        self.api.node_name().into_string()
    }

    /// Whether `client_id` is connected to this node.
    ///
    /// ```
    /// # let test_host = mqhost_plugin_api::testing::TestHost::new();
    /// # let host = test_host.host();
    /// assert!(!host.is_connected("sensor-1"));
    /// ```
    pub fn is_connected(&self, client_id: &str) -> bool {
        self.api.is_connected(RStr::from_str(client_id))
    }

    /// See [`HostApi::deliver`].
    ///
    /// ```
    /// # let test_host = mqhost_plugin_api::testing::TestHost::new();
    /// # let host = test_host.host();
    /// use mqhost_plugin_api::OutMessage;
    ///
    /// host.deliver("sensor-1", &OutMessage::new("cmd/sensor-1", b"reboot", 1))?;
    /// # Ok::<(), mqhost_plugin_api::HostError>(())
    /// ```
    pub fn deliver(&self, client_id: &str, message: &OutMessage<'_>) -> Result<(), HostError> {
        self.api
            .deliver(RStr::from_str(client_id), message)
            .into_result()
    }

    /// See [`HostApi::publish`].
    ///
    /// ```
    /// # let test_host = mqhost_plugin_api::testing::TestHost::new();
    /// # let host = test_host.host();
    /// use mqhost_plugin_api::OutMessage;
    ///
    /// let mut message = OutMessage::new("status/plugin", b"up", 1);
    /// message.retain = true;
    /// host.publish(&message)?;
    /// # Ok::<(), mqhost_plugin_api::HostError>(())
    /// ```
    pub fn publish(&self, message: &OutMessage<'_>) -> Result<(), HostError> {
        self.api.publish(message).into_result()
    }

    /// See [`HostApi::subscribe`].
    ///
    /// ```
    /// # let test_host = mqhost_plugin_api::testing::TestHost::new();
    /// # let host = test_host.host();
    /// host.subscribe("sensor-1", "cmd/sensor-1/#", 1)?;
    /// # Ok::<(), mqhost_plugin_api::HostError>(())
    /// ```
    pub fn subscribe(&self, client_id: &str, filter: &str, qos: u8) -> Result<(), HostError> {
        self.api
            .subscribe(RStr::from_str(client_id), RStr::from_str(filter), qos)
            .into_result()
    }

    /// See [`HostApi::unsubscribe`].
    ///
    /// ```
    /// # let test_host = mqhost_plugin_api::testing::TestHost::new();
    /// # let host = test_host.host();
    /// host.unsubscribe("sensor-1", "cmd/sensor-1/#")?;
    /// # Ok::<(), mqhost_plugin_api::HostError>(())
    /// ```
    pub fn unsubscribe(&self, client_id: &str, filter: &str) -> Result<(), HostError> {
        self.api
            .unsubscribe(RStr::from_str(client_id), RStr::from_str(filter))
            .into_result()
    }

    // @since 1.2 begin
    /// See [`HostApi::disconnect`]: ends `client_id`'s connection, with
    /// `reason` in the DISCONNECT a 5.0 client gets (since 1.2).
    ///
    /// ```
    /// # let test_host = mqhost_plugin_api::testing::TestHost::new();
    /// # let host = test_host.host();
    /// use mqhost_plugin_api::HostError;
    ///
    /// host.disconnect("sensor-1", 0x87)?; // Not authorized
    /// assert_eq!(host.disconnect("sensor-1", 0x04), Err(HostError::INVALID_REASON));
    /// # assert_eq!(test_host.disconnected().len(), 2);
    /// # Ok::<(), HostError>(())
    /// ```
    pub fn disconnect(&self, client_id: &str, reason: u8) -> Result<(), HostError> {
        self.api
            .disconnect(RStr::from_str(client_id), reason)
            .into_result()
    }
    // @since 1.2 end

    // @since 1.4 begin
    /// See [`HostApi::session_room`]: how many more messages `client_id`'s
    /// session can take now, `u64::MAX` when its queue has no bound (since
    /// 1.4). A host that lacks the call answers
    /// [`HostError::UNSUPPORTED`], which leaves the caller without a bound.
    ///
    /// ```
    /// # let test_host = mqhost_plugin_api::testing::TestHost::new();
    /// # test_host.set_session_room("sensor-1", 3);
    /// # let host = test_host.host();
    /// use mqhost_plugin_api::HostError;
    ///
    /// let stored = 10u64;
    /// let room = match host.session_room("sensor-1") {
    ///     Ok(room) => room,
    ///     Err(HostError::UNSUPPORTED) => u64::MAX, // an older host: no bound known
    ///     Err(error) => return Err(error),         // no such session
    /// };
    /// let to_send = stored.min(room);
    /// assert_eq!(to_send, 3);
    /// # Ok::<(), HostError>(())
    /// ```
    pub fn session_room(&self, client_id: &str) -> Result<u64, HostError> {
        self.api
            .session_room(RStr::from_str(client_id))
            .into_result()
    }
    // @since 1.4 end

    // @since 1.5 begin
    /// See [`HostApi::publish_local`]: publishes here, without
    /// `message.publish` hooks, a message another node published (since
    /// 1.5); how many sessions it reached. A host that lacks the call
    /// answers [`HostError::UNSUPPORTED`].
    ///
    /// ```
    /// # let test_host = mqhost_plugin_api::testing::TestHost::new();
    /// # let host = test_host.host();
    /// use mqhost_plugin_api::testing::message_event;
    ///
    /// // A retained message read back from a store: kept, not routed.
    /// let stored = message_event("status/n1").payload(b"up").retain(true).build();
    /// host.publish_local(&stored, false)?;
    /// # assert!(test_host.published_local()[0].retain);
    /// # Ok::<(), mqhost_plugin_api::HostError>(())
    /// ```
    pub fn publish_local(&self, message: &MessageEvent<'_>, route: bool) -> Result<u32, HostError> {
        self.api.publish_local(message, route).into_result()
    }
    // @since 1.5 end

    // @since 1.6 begin
    /// See [`HostApi::publish_local_shared`]: publishes here a message
    /// another node published, to the plain subscribers here and, of the
    /// shared subscriptions here, to those in `groups` only (since 1.6);
    /// how many sessions it reached. A host that lacks the call answers
    /// [`HostError::UNSUPPORTED`].
    ///
    /// ```
    /// # let test_host = mqhost_plugin_api::testing::TestHost::new();
    /// # let host = test_host.host();
    /// use mqhost_plugin_api::testing::message_event;
    ///
    /// let forwarded = message_event("jobs/7").payload(b"work").qos(1).build();
    /// // This node serves no group for it: its plain subscribers only.
    /// host.publish_local_shared(&forwarded, &[])?;
    /// host.publish_local_shared(&forwarded, &["$share/workers/jobs/#"])?;
    /// # assert_eq!(test_host.published_local_shared().len(), 2);
    /// # Ok::<(), mqhost_plugin_api::HostError>(())
    /// ```
    pub fn publish_local_shared(
        &self,
        message: &MessageEvent<'_>,
        groups: &[&str],
    ) -> Result<u32, HostError> {
        let groups: Vec<RStr<'_>> = groups.iter().map(|g| RStr::from_str(g)).collect();
        self.api
            .publish_local_shared(message, RSlice::from_slice(&groups))
            .into_result()
    }
    // @since 1.6 end

    // @since 1.7 begin
    /// See [`HostApi::take_session`]: takes `client_id`'s session out of
    /// this node, its connection ended with 0x8E; `receive` gets its
    /// bytes later, from a broker thread (since 1.7). A host that lacks
    /// the call answers [`HostError::UNSUPPORTED`].
    ///
    /// ```
    /// # let test_host = mqhost_plugin_api::testing::TestHost::new();
    /// # test_host.set_session_room("sensor-1", 10);
    /// # let host = test_host.host();
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// host.take_session("sensor-1", move |taken| {
    ///     let _ = tx.send(taken);
    /// })?;
    /// assert!(rx.recv().unwrap().is_ok());
    /// # Ok::<(), mqhost_plugin_api::HostError>(())
    /// ```
    pub fn take_session<F>(&self, client_id: &str, receive: F) -> Result<(), HostError>
    where
        F: FnOnce(Result<Vec<u8>, HostError>) + Send + Sync + 'static,
    {
        self.api
            .take_session(RStr::from_str(client_id), session_receiver(receive))
            .into_result()
    }

    /// See [`HostApi::put_session`]: installs here, offline, a session
    /// another node took out (since 1.7). A host that lacks the call
    /// answers [`HostError::UNSUPPORTED`].
    ///
    /// ```
    /// # let test_host = mqhost_plugin_api::testing::TestHost::new();
    /// # let host = test_host.host();
    /// let bytes = vec![1u8, 2, 3]; // from take_session on another node
    /// host.put_session("sensor-1", &bytes)?;
    /// # assert_eq!(test_host.put_sessions().len(), 1);
    /// # Ok::<(), mqhost_plugin_api::HostError>(())
    /// ```
    pub fn put_session(&self, client_id: &str, session: &[u8]) -> Result<(), HostError> {
        self.api
            .put_session(RStr::from_str(client_id), RSlice::from_slice(session))
            .into_result()
    }
    // @since 1.7 end

    /// Logs at `level`.
    ///
    /// ```
    /// # let test_host = mqhost_plugin_api::testing::TestHost::new();
    /// # let host = test_host.host();
    /// use mqhost_plugin_api::LogLevel;
    ///
    /// host.log(LogLevel::TRACE, "every detail");
    /// ```
    pub fn log(&self, level: LogLevel, message: &str) {
        self.api.log(level, RStr::from_str(message));
    }

    /// Logs at error level.
    ///
    /// ```
    /// # let test_host = mqhost_plugin_api::testing::TestHost::new();
    /// # let host = test_host.host();
    /// host.error("cannot reach the database");
    /// ```
    pub fn error(&self, message: &str) {
        self.log(LogLevel::ERROR, message);
    }

    /// Logs at warn level.
    ///
    /// ```
    /// # let test_host = mqhost_plugin_api::testing::TestHost::new();
    /// # let host = test_host.host();
    /// host.warn("queue full: 12 events dropped");
    /// ```
    pub fn warn(&self, message: &str) {
        self.log(LogLevel::WARN, message);
    }

    /// Logs at info level.
    ///
    /// ```
    /// # let test_host = mqhost_plugin_api::testing::TestHost::new();
    /// # let host = test_host.host();
    /// host.info("plugin started");
    /// ```
    pub fn info(&self, message: &str) {
        self.log(LogLevel::INFO, message);
    }

    /// Logs at debug level.
    ///
    /// ```
    /// # let test_host = mqhost_plugin_api::testing::TestHost::new();
    /// # let host = test_host.host();
    /// host.debug("reconnected after 2 attempts");
    /// ```
    pub fn debug(&self, message: &str) {
        self.log(LogLevel::DEBUG, message);
    }

    /// The raw ABI handle.
    ///
    /// ```
    /// # let test_host = mqhost_plugin_api::testing::TestHost::new();
    /// # let host = test_host.host();
    /// let raw = host.api().clone();
    /// # let _ = raw;
    /// ```
    pub fn api(&self) -> &HostApiBox {
        &self.api
    }
}

// @since 1.2 begin
#[cfg(test)]
mod tests {
    use abi_stable::sabi_trait::TD_Opaque;

    use super::*;

    /// A host as one built against 1.1 would be: without `disconnect` (nor
    /// 1.4's `session_room`).
    #[derive(Clone)]
    struct Older;

    impl HostApi for Older {
        fn node_name(&self) -> RString {
            RString::new()
        }
        fn is_connected(&self, _: RStr<'_>) -> bool {
            true
        }
        fn deliver(&self, _: RStr<'_>, _: &OutMessage<'_>) -> RResult<(), HostError> {
            RResult::ROk(())
        }
        fn publish(&self, _: &OutMessage<'_>) -> RResult<(), HostError> {
            RResult::ROk(())
        }
        fn subscribe(&self, _: RStr<'_>, _: RStr<'_>, _: u8) -> RResult<(), HostError> {
            RResult::ROk(())
        }
        fn unsubscribe(&self, _: RStr<'_>, _: RStr<'_>) -> RResult<(), HostError> {
            RResult::ROk(())
        }
        fn log(&self, _: LogLevel, _: RStr<'_>) {}
    }

    #[test]
    fn a_host_without_disconnect_says_it_does_not_offer_it() {
        let host = Host::new(HostApi_TO::from_ptr(RArc::new(Older), TD_Opaque));
        assert_eq!(
            host.disconnect("sensor-1", 0x98),
            Err(HostError::UNSUPPORTED)
        );
    }

    // @since 1.4 begin
    #[test]
    fn a_host_without_session_room_says_it_does_not_offer_it() {
        let host = Host::new(HostApi_TO::from_ptr(RArc::new(Older), TD_Opaque));
        assert_eq!(host.session_room("sensor-1"), Err(HostError::UNSUPPORTED));
    }
    // @since 1.4 end

    // @since 1.6 begin
    #[test]
    fn a_host_without_publish_local_shared_says_it_does_not_offer_it() {
        let host = Host::new(HostApi_TO::from_ptr(RArc::new(Older), TD_Opaque));
        let message = crate::testing::message_event("t").build();
        assert_eq!(
            host.publish_local_shared(&message, &["$share/g/t"]),
            Err(HostError::UNSUPPORTED)
        );
    }
    // @since 1.6 end

    // @since 1.7 begin
    #[test]
    fn a_host_without_session_moves_says_it_does_not_offer_them() {
        let host = Host::new(HostApi_TO::from_ptr(RArc::new(Older), TD_Opaque));
        assert_eq!(
            host.take_session("sensor-1", |_| {}),
            Err(HostError::UNSUPPORTED)
        );
        assert_eq!(
            host.put_session("sensor-1", &[1]),
            Err(HostError::UNSUPPORTED)
        );
    }
    // @since 1.7 end

    // @since 1.5 begin
    #[test]
    fn a_host_without_publish_local_says_it_does_not_offer_it() {
        let host = Host::new(HostApi_TO::from_ptr(RArc::new(Older), TD_Opaque));
        let message = crate::testing::message_event("t").build();
        assert_eq!(
            host.publish_local(&message, true),
            Err(HostError::UNSUPPORTED)
        );
    }
    // @since 1.5 end
}
// @since 1.2 end
