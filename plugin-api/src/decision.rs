//! Access decisions (since 1.2): the `client.authenticate` and
//! `client.authorize` hook points, where a plugin decides whether a client
//! may connect and what it may do with a topic.
//!
//! A plugin answers at once with a [`Decision`], or returns
//! [`Decision::PENDING`] and answers exactly once later, from any thread,
//! through the [`Reply`] it was handed: a lookup in a database never holds
//! a broker thread. Only the client concerned waits (its later packets
//! wait behind the one being decided); the host bounds the wait with
//! `auth.timeout`.
//!
//! The host asks its sources in turn: plugins in the order of their
//! `plugin.priority` (higher first), then its own password and ACL files.
//! The first [`Decision::ALLOW`] or [`Decision::DENY`] ends the question;
//! [`Decision::IGNORE`] passes it on.
//!
//! ```
//! use std::collections::HashMap;
//! use mqhost_plugin_api::{
//!     AuthenticateEvent, AuthorizeEvent, ConfigError, Decision, HookSet, Host, MqhostPlugin,
//!     PluginConfig, Reply,
//! };
//!
//! /// Lets in the users it knows, and keeps each to its own topics.
//! struct Users {
//!     passwords: HashMap<String, Vec<u8>>,
//! }
//!
//! impl MqhostPlugin for Users {
//!     fn start(_host: Host, _config: &PluginConfig<'_>) -> Result<Self, ConfigError> {
//!         let passwords = HashMap::from([("alice".to_owned(), b"secret".to_vec())]);
//!         Ok(Users { passwords })
//!     }
//!     fn hooks(&self) -> HookSet {
//!         HookSet::CLIENT_AUTHENTICATE | HookSet::CLIENT_AUTHORIZE
//!     }
//!     fn on_client_authenticate(&self, request: &AuthenticateEvent<'_>, _reply: Reply) -> Decision {
//!         let Some(user) = request.username.into_option() else {
//!             return Decision::IGNORE; // anonymous: the broker's settings decide
//!         };
//!         let given = request.password.into_option().map(|p| p.as_slice());
//!         match self.passwords.get(user.as_str()) {
//!             Some(known) if given == Some(known.as_slice()) => Decision::ALLOW,
//!             _ => Decision::DENY,
//!         }
//!     }
//!     fn on_client_authorize(&self, request: &AuthorizeEvent<'_>, _reply: Reply) -> Decision {
//!         let Some(user) = request.username.into_option() else {
//!             return Decision::IGNORE;
//!         };
//!         if request.topic.as_str().starts_with(&format!("users/{user}/")) {
//!             Decision::ALLOW
//!         } else {
//!             Decision::DENY
//!         }
//!     }
//! }
//! # use mqhost_plugin_api::testing::{authenticate_event, plugin_config, TestHost, ReplyProbe};
//! # let users = Users::start(TestHost::new().host(), &plugin_config("").build()).unwrap();
//! # let (reply, _answer) = ReplyProbe::new();
//! # let request = authenticate_event("c").username("alice").password(b"secret").build();
//! # assert_eq!(users.on_client_authenticate(&request, reply), Decision::ALLOW);
//! ```
//!
//! Answering later, from the plugin's own thread:
//!
//! ```
//! use mqhost_plugin_api::{AuthenticateEvent, ConfigError, Decision, HookSet, Host, MqhostPlugin, PluginConfig, Reply};
//!
//! struct Remote;
//!
//! impl MqhostPlugin for Remote {
//!     fn start(_host: Host, _config: &PluginConfig<'_>) -> Result<Self, ConfigError> {
//!         Ok(Remote)
//!     }
//!     fn hooks(&self) -> HookSet {
//!         HookSet::CLIENT_AUTHENTICATE
//!     }
//!     fn on_client_authenticate(&self, request: &AuthenticateEvent<'_>, reply: Reply) -> Decision {
//!         // Copy what the lookup needs: the event is borrowed for this call only.
//!         let user = request.username.into_option().map(|u| u.to_string());
//!         std::thread::spawn(move || {
//!             let known = user.as_deref() == Some("alice"); // a database query, say
//!             reply.send(if known { Decision::ALLOW } else { Decision::DENY });
//!         });
//!         Decision::PENDING
//!     }
//! }
//! # use mqhost_plugin_api::testing::{authenticate_event, plugin_config, TestHost, ReplyProbe};
//! # let remote = Remote::start(TestHost::new().host(), &plugin_config("").build()).unwrap();
//! # let (reply, answer) = ReplyProbe::new();
//! # let request = authenticate_event("c").username("alice").build();
//! # assert_eq!(remote.on_client_authenticate(&request, reply), Decision::PENDING);
//! # assert_eq!(answer.wait(std::time::Duration::from_secs(5)), Some(Decision::ALLOW));
//! ```
#![allow(non_local_definitions)] // emitted by #[sabi_trait] on current rustc
#![allow(clippy::unnecessary_cast)] // emitted by #[sabi_trait] for a by-value method

use std::fmt;

use abi_stable::sabi_trait;
use abi_stable::std_types::{RBox, ROption, RSlice, RStr};
use abi_stable::StableAbi;

/// A source's answer to an access question.
///
/// A transparent integer rather than an enum, so that later versions can
/// add answers without breaking the ABI; the host reads an answer it does
/// not know as [`IGNORE`](Self::IGNORE).
///
/// ```
/// use mqhost_plugin_api::Decision;
///
/// assert!(Decision::ALLOW.is_final());
/// assert!(!Decision::IGNORE.is_final());
/// assert_eq!(Decision::ALLOW_SUPERUSER.to_string(), "allow_superuser");
/// ```
#[repr(transparent)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Decision(pub u8);

impl Decision {
    /// No say: the next source is asked.
    pub const IGNORE: Decision = Decision(0);
    /// Granted; later sources are not asked.
    pub const ALLOW: Decision = Decision(1);
    /// Refused; later sources are not asked.
    pub const DENY: Decision = Decision(2);
    /// `client.authenticate` only: granted, and the client is a superuser,
    /// whom no `client.authorize` question is asked about (the broker's
    /// own rule that no client publishes to `$SYS/` still holds). At
    /// `client.authorize` it means [`ALLOW`](Self::ALLOW).
    pub const ALLOW_SUPERUSER: Decision = Decision(3);
    /// The answer comes later, through the [`Reply`] the hook was given.
    /// Only as a hook's return value: sent through a [`Reply`] it counts
    /// as [`IGNORE`](Self::IGNORE).
    pub const PENDING: Decision = Decision(4);

    /// Whether this answer ends the question: allow (superuser or not) or
    /// deny.
    pub const fn is_final(self) -> bool {
        matches!(self.0, 1..=3)
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match *self {
            Decision::IGNORE => "ignore",
            Decision::ALLOW => "allow",
            Decision::DENY => "deny",
            Decision::ALLOW_SUPERUSER => "allow_superuser",
            Decision::PENDING => "pending",
            _ => "unknown",
        })
    }
}

/// What a client wants to do with a topic, at `client.authorize`.
///
/// ```
/// use mqhost_plugin_api::Action;
///
/// assert_eq!(Action::READ.to_string(), "read");
/// ```
#[repr(transparent)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Action(pub u8);

impl Action {
    /// Publish a message to the topic (a will included).
    pub const PUBLISH: Action = Action(1);
    /// Subscribe with the topic as a filter (a `$share/GROUP/` prefix
    /// included as the client sent it).
    pub const SUBSCRIBE: Action = Action(2);
    /// Receive a message published to the topic, whatever filter matched
    /// it. Asked only of plugins whose hooks include
    /// [`HookSet::CLIENT_AUTHORIZE_READ`](crate::HookSet::CLIENT_AUTHORIZE_READ).
    pub const READ: Action = Action(3);
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match *self {
            Action::PUBLISH => "publish",
            Action::SUBSCRIBE => "subscribe",
            Action::READ => "read",
            _ => "unknown",
        })
    }
}

/// `client.authenticate`: a CONNECT, before CONNACK.
///
/// ```
/// use mqhost_plugin_api::testing::authenticate_event;
///
/// let event = authenticate_event("dev-1").username("alice").password(b"pw").build();
/// let password: Option<Vec<u8>> = event.password.into_option().map(|p| p.to_vec());
/// assert_eq!(password.as_deref(), Some(&b"pw"[..]));
/// ```
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy)]
pub struct AuthenticateEvent<'a> {
    /// The client id (the one the broker assigned, when the client sent
    /// none).
    pub client_id: RStr<'a>,
    /// User name from CONNECT, if any.
    pub username: ROption<RStr<'a>>,
    /// Password from CONNECT, if any: bytes, not necessarily text.
    pub password: ROption<RSlice<'a, u8>>,
    /// The client's address, `ip:port`.
    pub peer: RStr<'a>,
    /// Protocol level: 3 (MQTT 3.1), 4 (3.1.1) or 5 (5.0).
    pub protocol: u8,
    /// The listener the client came in on (`tcp.default`).
    pub listener: RStr<'a>,
    /// On a TLS listener with a client certificate: its subject's common
    /// name.
    pub cert_common_name: ROption<RStr<'a>>,
    /// On a TLS listener with a client certificate: its full subject, as
    /// `CN=...,O=...`.
    pub cert_subject: ROption<RStr<'a>>,
    /// The node's name.
    pub node: RStr<'a>,
}

/// `client.authorize`: a topic use by an authenticated client.
///
/// ```
/// use mqhost_plugin_api::testing::authorize_event;
/// use mqhost_plugin_api::Action;
///
/// let event = authorize_event("dev-1", Action::PUBLISH, "sensors/t1").qos(1).build();
/// assert_eq!((event.action, event.topic.as_str()), (Action::PUBLISH, "sensors/t1"));
/// ```
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy)]
pub struct AuthorizeEvent<'a> {
    /// The client's id.
    pub client_id: RStr<'a>,
    /// User name from CONNECT, if any.
    pub username: ROption<RStr<'a>>,
    /// The client's address, `ip:port`.
    pub peer: RStr<'a>,
    /// What the client wants to do.
    pub action: Action,
    /// The topic (publish, read) or filter (subscribe).
    pub topic: RStr<'a>,
    /// The QoS of the message (publish, read) or the one asked for
    /// (subscribe).
    pub qos: u8,
    /// The message's retain flag (publish, read); false for subscribe.
    pub retain: bool,
    /// The node's name.
    pub node: RStr<'a>,
}

/// Where a pending answer goes: the host implements it, and a plugin holds
/// it as a [`Reply`].
///
/// ```
/// use mqhost_plugin_api::testing::ReplyProbe;
/// use mqhost_plugin_api::Decision;
///
/// // What a host-side sink sees: one answer, or none when the reply is dropped.
/// let (reply, answer) = ReplyProbe::new();
/// reply.into_sink().send(Decision::DENY);
/// assert_eq!(answer.try_get(), Some(Decision::DENY));
/// ```
#[sabi_trait]
pub trait ReplySink: Send + Sync + 'static {
    /// Delivers the answer. Dropping the sink unanswered counts as
    /// [`Decision::IGNORE`].
    #[sabi(last_prefix_field)]
    fn send(self, decision: Decision);
}

/// The ABI object behind a [`Reply`].
///
/// ```
/// use mqhost_plugin_api::testing::ReplyProbe;
/// use mqhost_plugin_api::ReplySinkBox;
///
/// let (reply, _answer) = ReplyProbe::new();
/// let _sink: ReplySinkBox = reply.into_sink();
/// ```
pub type ReplySinkBox = ReplySink_TO<RBox<()>>;

/// The way to answer a decision hook later. Move it where the answer will
/// be known (another thread, an async task) and [`send`](Self::send) it
/// once. Dropping it unanswered counts as [`Decision::IGNORE`] at once;
/// not answering within `auth.timeout` counts as the broker's
/// `auth.timeout_action`.
///
/// ```
/// use mqhost_plugin_api::testing::ReplyProbe;
/// use mqhost_plugin_api::Decision;
///
/// let (reply, answer) = ReplyProbe::new();
/// std::thread::spawn(move || reply.send(Decision::ALLOW));
/// assert_eq!(answer.wait(std::time::Duration::from_secs(5)), Some(Decision::ALLOW));
/// ```
pub struct Reply {
    sink: ReplySinkBox,
}

impl Reply {
    /// Wraps the sink the host passed in.
    ///
    /// ```
    /// use mqhost_plugin_api::testing::ReplyProbe;
    /// use mqhost_plugin_api::Reply;
    ///
    /// let (reply, _answer) = ReplyProbe::new();
    /// let again = Reply::new(reply.into_sink());
    /// # drop(again);
    /// ```
    pub fn new(sink: ReplySinkBox) -> Reply {
        Reply { sink }
    }

    /// Answers the question this reply belongs to.
    ///
    /// ```
    /// use mqhost_plugin_api::testing::ReplyProbe;
    /// use mqhost_plugin_api::Decision;
    ///
    /// let (reply, answer) = ReplyProbe::new();
    /// reply.send(Decision::DENY);
    /// assert_eq!(answer.try_get(), Some(Decision::DENY));
    /// ```
    pub fn send(self, decision: Decision) {
        self.sink.send(decision);
    }

    /// The raw ABI object.
    ///
    /// ```
    /// use mqhost_plugin_api::testing::ReplyProbe;
    ///
    /// let (reply, _answer) = ReplyProbe::new();
    /// let _raw = reply.into_sink();
    /// ```
    pub fn into_sink(self) -> ReplySinkBox {
        self.sink
    }
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Reply")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_allow_and_deny_are_final() {
        for (decision, is_final) in [
            (Decision::IGNORE, false),
            (Decision::ALLOW, true),
            (Decision::DENY, true),
            (Decision::ALLOW_SUPERUSER, true),
            (Decision::PENDING, false),
            (Decision(200), false),
        ] {
            assert_eq!(decision.is_final(), is_final, "{decision}");
        }
    }
}
