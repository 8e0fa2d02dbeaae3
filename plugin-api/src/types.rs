//! Small values that cross the boundary: hook sets, verdicts, log levels,
//! message ids and errors.

use std::fmt;

use abi_stable::std_types::RString;
use abi_stable::StableAbi;

/// A set of hook points, as bit flags. A plugin returns the set it wants
/// from [`MqhostPlugin::hooks`](crate::MqhostPlugin::hooks); the host calls
/// no other hook of that plugin.
///
/// ```
/// use mqhost_plugin_api::HookSet;
///
/// let wanted = HookSet::MESSAGE_PUBLISH | HookSet::MESSAGE_ACKED;
/// assert!(wanted.contains(HookSet::MESSAGE_ACKED));
/// assert!(!wanted.contains(HookSet::CLIENT_CONNECTED));
/// ```
#[repr(transparent)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct HookSet(pub u32);

impl HookSet {
    /// No hook point.
    pub const NONE: HookSet = HookSet(0);
    /// `client.connected`: a client's CONNECT was accepted.
    pub const CLIENT_CONNECTED: HookSet = HookSet(1 << 0);
    /// `client.disconnected`: a client's connection ended.
    pub const CLIENT_DISCONNECTED: HookSet = HookSet(1 << 1);
    /// `session.created`: a session was created or resumed at CONNECT.
    pub const SESSION_CREATED: HookSet = HookSet(1 << 2);
    /// `session.subscribed`: a subscription was added.
    pub const SESSION_SUBSCRIBED: HookSet = HookSet(1 << 3);
    /// `session.unsubscribed`: a subscription was removed by UNSUBSCRIBE or
    /// by [`HostApi::unsubscribe`](crate::HostApi::unsubscribe).
    pub const SESSION_UNSUBSCRIBED: HookSet = HookSet(1 << 4);
    /// `message.publish`: a message is about to be routed; the only hook
    /// that may drop it.
    pub const MESSAGE_PUBLISH: HookSet = HookSet(1 << 5);
    /// `message.delivered`: a message was written to a subscriber.
    pub const MESSAGE_DELIVERED: HookSet = HookSet(1 << 6);
    /// `message.acked`: a subscriber acknowledged a QoS 1 or 2 message.
    pub const MESSAGE_ACKED: HookSet = HookSet(1 << 7);
    // @since 1.2 begin
    /// `client.authenticate` (since 1.2): decide whether a client may
    /// connect.
    pub const CLIENT_AUTHENTICATE: HookSet = HookSet(1 << 8);
    /// `client.authorize` (since 1.2): decide whether a client may
    /// publish to a topic or subscribe to a filter.
    pub const CLIENT_AUTHORIZE: HookSet = HookSet(1 << 9);
    /// `client.authorize.read` (since 1.2): also decide, at
    /// `client.authorize` with [`Action::READ`](crate::Action::READ),
    /// whether a client may receive a message on a topic. Opt-in because
    /// it asks once per topic a client receives (answers are cached).
    pub const CLIENT_AUTHORIZE_READ: HookSet = HookSet(1 << 10);
    // @since 1.2 end
    // @since 1.7 begin
    /// `session.resuming` (since 1.7): an authenticated client is about
    /// to get its session here; a plugin may bring the session from
    /// elsewhere first (see [`ResumeEvent`](crate::ResumeEvent)). Asked
    /// by name, as the decision points are.
    pub const SESSION_RESUMING: HookSet = HookSet(1 << 11);
    // @since 1.7 end
    /// Every hook point that watches: the eight above, as in 1.0 and 1.1.
    /// The decision points are not in it and are asked for by name, so
    /// that a plugin rebuilt against 1.2 is not made to answer access
    /// questions (a read question per topic each client receives) it never
    /// meant to.
    pub const ALL: HookSet = HookSet((1 << 8) - 1);

    /// Whether every hook point of `other` is in `self`.
    pub const fn contains(self, other: HookSet) -> bool {
        self.0 & other.0 == other.0
    }

    /// The hook points' names, EMQX style (`message.publish`).
    pub fn names(self) -> Vec<&'static str> {
        HOOK_NAMES
            .iter()
            .filter(|(set, _)| self.contains(*set))
            .map(|(_, name)| *name)
            .collect()
    }

    /// The name of a single hook point, EMQX style; None for a set of
    /// none, of several, or of points this version does not know.
    ///
    /// ```
    /// use mqhost_plugin_api::HookSet;
    ///
    /// assert_eq!(HookSet::MESSAGE_ACKED.name(), Some("message.acked"));
    /// assert_eq!((HookSet::MESSAGE_ACKED | HookSet::MESSAGE_PUBLISH).name(), None);
    /// ```
    pub fn name(self) -> Option<&'static str> {
        HOOK_NAMES
            .iter()
            .find(|(set, _)| *set == self)
            .map(|(_, name)| *name)
    }

    /// The single hook point called `name` (as [`name`](Self::name) spells
    /// it); None for any other text.
    ///
    /// ```
    /// use mqhost_plugin_api::HookSet;
    ///
    /// assert_eq!(HookSet::from_name("session.subscribed"), Some(HookSet::SESSION_SUBSCRIBED));
    /// assert_eq!(HookSet::from_name("message.published"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<HookSet> {
        HOOK_NAMES
            .iter()
            .find(|(_, known)| *known == name)
            .map(|(set, _)| *set)
    }
}

const HOOK_NAMES: &[(HookSet, &str)] = &[
    (HookSet::CLIENT_CONNECTED, "client.connected"),
    (HookSet::CLIENT_DISCONNECTED, "client.disconnected"),
    (HookSet::SESSION_CREATED, "session.created"),
    (HookSet::SESSION_SUBSCRIBED, "session.subscribed"),
    (HookSet::SESSION_UNSUBSCRIBED, "session.unsubscribed"),
    (HookSet::MESSAGE_PUBLISH, "message.publish"),
    (HookSet::MESSAGE_DELIVERED, "message.delivered"),
    (HookSet::MESSAGE_ACKED, "message.acked"),
    // @since 1.2 begin
    (HookSet::CLIENT_AUTHENTICATE, "client.authenticate"),
    (HookSet::CLIENT_AUTHORIZE, "client.authorize"),
    (HookSet::CLIENT_AUTHORIZE_READ, "client.authorize.read"),
    // @since 1.2 end
    // @since 1.7 begin
    (HookSet::SESSION_RESUMING, "session.resuming"),
    // @since 1.7 end
];

impl std::ops::BitOr for HookSet {
    type Output = HookSet;
    fn bitor(self, rhs: HookSet) -> HookSet {
        HookSet(self.0 | rhs.0)
    }
}

/// What a plugin says of a message at `message.publish`.
///
/// A transparent integer rather than an enum, so that later versions can
/// add verdicts without breaking the ABI.
#[repr(transparent)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict(pub u8);

impl Verdict {
    /// Route and store the message as usual.
    pub const CONTINUE: Verdict = Verdict(0);
    /// Neither route nor store the message.
    pub const DROP: Verdict = Verdict(1);
}

/// Severity of a line logged through [`HostApi::log`](crate::HostApi::log).
#[repr(transparent)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LogLevel(pub u8);

impl LogLevel {
    /// Something failed.
    pub const ERROR: LogLevel = LogLevel(1);
    /// Something is wrong but work goes on.
    pub const WARN: LogLevel = LogLevel(2);
    /// What an operator wants to see.
    pub const INFO: LogLevel = LogLevel(3);
    /// Detail for finding a fault.
    pub const DEBUG: LogLevel = LogLevel(4);
    /// Everything.
    pub const TRACE: LogLevel = LogLevel(5);
}

/// The broker's 128-bit message id: publish time in microseconds in the
/// high 64 bits, so ids sort in publish order.
///
/// ```
/// use mqhost_plugin_api::MessageId;
///
/// let id = MessageId::from_u128(61);
/// assert_eq!(id.to_base62(), "000000000000000000000z");
/// assert_eq!(MessageId::from_base62(&id.to_base62()), Some(id));
/// ```
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MessageId {
    /// High 64 bits (the publish time in Unix microseconds).
    pub high: u64,
    /// Low 64 bits (node and sequence).
    pub low: u64,
}

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Length of a [`MessageId`] in base62: enough digits for any 128-bit value.
pub const BASE62_LEN: usize = 22;

impl MessageId {
    /// The id of a 128-bit value.
    pub const fn from_u128(value: u128) -> MessageId {
        MessageId {
            high: (value >> 64) as u64,
            low: value as u64,
        }
    }

    /// The id as a 128-bit value.
    pub const fn as_u128(self) -> u128 {
        ((self.high as u128) << 64) | self.low as u128
    }

    /// Exactly 22 characters of `0-9A-Za-z`, zero-padded, so that string
    /// order is id order.
    pub fn to_base62(self) -> String {
        self.base62_digits()
            .iter()
            .map(|&b| char::from(b))
            .collect()
    }

    /// The ASCII digits of [`to_base62`](Self::to_base62), inline: for code
    /// on the broker's threads that must not allocate, such as a plugin's
    /// hooks.
    ///
    /// ```
    /// use mqhost_plugin_api::MessageId;
    ///
    /// let id = MessageId::from_u128(u128::MAX);
    /// assert_eq!(&id.base62_digits()[..], id.to_base62().as_bytes());
    /// ```
    pub fn base62_digits(self) -> [u8; BASE62_LEN] {
        // 62^10 fits in a u64: split the value into three runs of digits
        // and do the rest in 64-bit arithmetic, two 128-bit divisions
        // instead of forty-four (each remainder comes from its quotient).
        const CHUNK: u128 = 62u128.pow(10);
        fn fill(out: &mut [u8], mut value: u64) {
            for slot in out.iter_mut().rev() {
                *slot = BASE62[(value % 62) as usize];
                value /= 62;
            }
        }
        let value = self.as_u128();
        let mut digits = [b'0'; BASE62_LEN];
        let upper = value / CHUNK;
        fill(&mut digits[12..], (value - upper * CHUNK) as u64);
        let top = upper / CHUNK;
        fill(&mut digits[2..12], (upper - top * CHUNK) as u64);
        // What is left is below 62^2: 62^22 exceeds 2^128.
        fill(&mut digits[..2], top as u64);
        digits
    }

    /// Parses what [`to_base62`](Self::to_base62) wrote (any length up to
    /// 22 digits); None for other text.
    pub fn from_base62(text: &str) -> Option<MessageId> {
        if text.is_empty() || text.len() > BASE62_LEN {
            return None;
        }
        let mut value: u128 = 0;
        for byte in text.bytes() {
            let digit = BASE62.iter().position(|&b| b == byte)? as u128;
            value = value.checked_mul(62)?.checked_add(digit)?;
        }
        Some(MessageId::from_u128(value))
    }

    /// Publish time in Unix microseconds.
    pub const fn micros(self) -> u64 {
        self.high
    }
}

/// A plugin failure, reported by the host in its log and admin API.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct PluginError {
    /// One clear sentence.
    pub message: RString,
    /// True when the plugin panicked: the host stops calling it.
    pub panicked: bool,
}

impl PluginError {
    /// An error with `message`.
    pub fn new(message: impl Into<String>) -> PluginError {
        PluginError {
            message: RString::from(message.into()),
            panicked: false,
        }
    }
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.panicked {
            write!(f, "plugin panicked: {}", self.message)
        } else {
            f.write_str(&self.message)
        }
    }
}

/// A configuration error: the host shows it as `file:line: key: message`.
///
/// ```
/// use mqhost_plugin_api::ConfigError;
///
/// let error = ConfigError::at(3, "backend.redis.pool1.pool_size", "expected a whole number");
/// assert_eq!(error.to_string(), "line 3: backend.redis.pool1.pool_size: expected a whole number");
/// ```
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Line in the configuration file, 1-based; 0 when it concerns no line.
    pub line: u32,
    /// The key at fault; empty when none.
    pub key: RString,
    /// What is wrong, in one sentence.
    pub message: RString,
}

impl ConfigError {
    /// An error about the whole configuration.
    pub fn new(message: impl Into<String>) -> ConfigError {
        ConfigError {
            line: 0,
            key: RString::new(),
            message: RString::from(message.into()),
        }
    }

    /// An error about `key` on `line`.
    pub fn at(line: u32, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            line,
            key: RString::from(key.into()),
            message: RString::from(message.into()),
        }
    }

    /// An error about one entry of a properties file, naming its line and
    /// key.
    ///
    /// ```
    /// use mqhost_plugin_api::{properties, ConfigError};
    ///
    /// let props = properties::parse("a = 1\nretries = many\n", "my.conf").unwrap();
    /// let entry = props.get("retries").unwrap();
    /// let error = ConfigError::at_entry(entry, "expected a number");
    /// assert_eq!(error.with_file("my.conf"), "my.conf:2: retries: expected a number");
    /// ```
    pub fn at_entry(entry: &crate::properties::Entry, message: impl Into<String>) -> ConfigError {
        ConfigError::at(entry.line_number(), entry.key.as_str(), message)
    }

    /// `file:line: key: message`, leaving out what is absent.
    pub fn with_file(&self, file: &str) -> String {
        let mut text = file.to_owned();
        if self.line > 0 {
            text.push_str(&format!(":{}", self.line));
        }
        if !self.key.is_empty() {
            text.push_str(&format!(": {}", self.key));
        }
        text.push_str(&format!(": {}", self.message));
        text
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "line {}: ", self.line)?;
        }
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

/// Why the host refused a [`HostApi`](crate::HostApi) call.
#[repr(transparent)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostError(pub u8);

impl HostError {
    /// No session has that client id on this node.
    pub const NO_SUCH_CLIENT: HostError = HostError(1);
    /// A topic or filter is not valid MQTT.
    pub const INVALID_TOPIC: HostError = HostError(2);
    /// QoS above 2.
    pub const INVALID_QOS: HostError = HostError(3);
    /// The broker is stopping.
    pub const SHUTTING_DOWN: HostError = HostError(4);
    // @since 1.2 begin
    /// A reason code a server may not send in DISCONNECT (see
    /// [`is_server_disconnect_reason`](crate::host::is_server_disconnect_reason)).
    pub const INVALID_REASON: HostError = HostError(5);
    /// The host does not offer this call: it was built against an older
    /// minor version of this interface.
    pub const UNSUPPORTED: HostError = HostError(6);
    // @since 1.2 end
    // @since 1.7 begin
    /// Bytes given as a session are not one (since 1.7): cut, damaged,
    /// of another client, or from a newer broker.
    pub const INVALID_SESSION: HostError = HostError(7);
    /// A session with that client id is already on this node (since
    /// 1.7).
    pub const SESSION_EXISTS: HostError = HostError(8);
    // @since 1.7 end
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match *self {
            HostError::NO_SUCH_CLIENT => "no session with that client id on this node",
            HostError::INVALID_TOPIC => "invalid topic or topic filter",
            HostError::INVALID_QOS => "QoS must be 0, 1 or 2",
            HostError::SHUTTING_DOWN => "the broker is stopping",
            // @since 1.2 begin
            HostError::INVALID_REASON => "not a reason code a server may send in DISCONNECT",
            HostError::UNSUPPORTED => "the host does not offer this call",
            // @since 1.2 end
            // @since 1.7 begin
            HostError::INVALID_SESSION => "the bytes are not a session this broker reads",
            HostError::SESSION_EXISTS => "a session with that client id is already on this node",
            // @since 1.7 end
            _ => "unknown host error",
        })
    }
}

// @since 1.4 begin
/// What a plugin's root module says of a configuration it was asked to
/// check (since 1.4; see
/// [`MqhostPlugin::check_config`](crate::MqhostPlugin::check_config)):
/// `RNone` when the plugin cannot check without applying it, else the
/// warnings it would log, or the error that would refuse the text.
///
/// ```
/// use mqhost_plugin_api::abi_stable::std_types::{ROption, RResult, RString, RVec};
/// use mqhost_plugin_api::types::ConfigCheck;
/// use mqhost_plugin_api::ConfigError;
///
/// let fine: ConfigCheck = ROption::RSome(RResult::ROk(RVec::new()));
/// let refused: ConfigCheck =
///     ROption::RSome(RResult::RErr(ConfigError::at(2, "greeter.text", "expected text")));
/// let cannot: ConfigCheck = ROption::RNone;
/// # let _ = (fine, refused, cannot, RString::new());
/// ```
pub type ConfigCheck = abi_stable::std_types::ROption<
    abi_stable::std_types::RResult<abi_stable::std_types::RVec<RString>, ConfigError>,
>;
// @since 1.4 end

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_hook_point_has_one_name_and_back() {
        let mut seen = HookSet::NONE;
        for bit in 0..HOOK_NAMES.len() {
            let hook = HookSet(1 << bit);
            let name = hook.name().expect("a known hook point");
            assert_eq!(HookSet::from_name(name), Some(hook), "{name}");
            assert_eq!(hook.names(), [name]);
            seen = seen | hook;
        }
        let decisions = HookSet::CLIENT_AUTHENTICATE
            | HookSet::CLIENT_AUTHORIZE
            | HookSet::CLIENT_AUTHORIZE_READ;
        // @since 1.7 begin
        let decisions = decisions | HookSet::SESSION_RESUMING;
        // @since 1.7 end
        assert_eq!(seen, HookSet::ALL | decisions);
        assert_eq!(HookSet::ALL.0 & decisions.0, 0);
        assert_eq!(HookSet::NONE.name(), None);
        assert_eq!(HookSet::ALL.name(), None);
        assert_eq!(HookSet(1 << HOOK_NAMES.len()).name(), None);
        assert_eq!(HookSet::from_name("message.deliver"), None);
        assert_eq!(HookSet::from_name(""), None);
    }

    /// The definition: one digit at a time, least significant last.
    fn base62_by_division(value: u128) -> String {
        let mut digits = [b'0'; BASE62_LEN];
        let mut value = value;
        for slot in digits.iter_mut().rev() {
            *slot = BASE62[(value % 62) as usize];
            value /= 62;
        }
        digits.iter().map(|&b| char::from(b)).collect()
    }

    fn samples() -> Vec<u128> {
        let mut value: u128 = 0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C834;
        let mut samples = vec![
            0,
            1,
            61,
            62,
            u128::MAX,
            u128::MAX - 1,
            62u128.pow(5) - 1,
            62u128.pow(5),
            62u128.pow(10) - 1,
            62u128.pow(10),
            62u128.pow(15),
            62u128.pow(20) - 1,
            62u128.pow(20),
        ];
        for _ in 0..1000 {
            value = value.rotate_left(7).wrapping_mul(0x2545_F491_4F6C_DD1D);
            samples.push(value);
            samples.push(value >> (value % 128));
        }
        samples
    }

    #[test]
    fn base62_is_the_zero_padded_number_in_62_digits() {
        for sample in samples() {
            let id = MessageId::from_u128(sample);
            let text = id.to_base62();
            assert_eq!(text, base62_by_division(sample), "{sample}");
            assert_eq!(&id.base62_digits()[..], text.as_bytes(), "{sample}");
        }
        assert_eq!(MessageId::from_u128(0).to_base62(), "0".repeat(22));
        assert_eq!(
            MessageId::from_u128(u128::MAX).to_base62(),
            "7n42DGM5Tflk9n8mt7Fhc7"
        );
    }

    #[test]
    fn base62_round_trips_and_sorts_as_the_ids() {
        let mut ids: Vec<MessageId> = samples().into_iter().map(MessageId::from_u128).collect();
        for id in &ids {
            assert_eq!(MessageId::from_base62(&id.to_base62()), Some(*id));
        }
        ids.sort();
        for pair in ids.windows(2) {
            assert!(pair[0].to_base62() <= pair[1].to_base62());
        }
        // Shorter text is the same number zero-padded.
        assert_eq!(MessageId::from_base62("z"), Some(MessageId::from_u128(61)));
    }

    #[test]
    fn base62_parse_refuses_other_text() {
        for text in [
            "",
            "-1",
            "a b",
            "é",
            &"0".repeat(23),
            "7n42DGM5Tflk9n8mt7Fhc8",
        ] {
            assert_eq!(MessageId::from_base62(text), None, "{text:?}");
        }
    }
}
