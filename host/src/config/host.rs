//! The broker's settings as typed values: [`HostConfig`], its sections and
//! [`LogLevel`], plus where relative paths in them point from.
//!
//! What each key is called, its default and how its value is parsed is in
//! [`super::keys`]; reading a file and `--set` overrides is in [`super::load`].

use std::collections::BTreeMap;
use std::net::SocketAddr;

use mqhost_codec::Limits;

pub use super::listeners::ListenerConfig;
use std::num::{NonZeroU16, NonZeroU32, NonZeroU64};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The largest packet MQTT can express: a 268435455-byte remaining length
/// plus the 1-byte fixed header and 4-byte length field.
pub const MQTT_MAX_PACKET_SIZE: u32 = 268_435_460;

/// The complete, validated configuration of the broker.
///
/// Build it with [`HostConfig::load`], or start from
/// [`HostConfig::default`] and change fields (as tests do). Each section
/// mirrors a key prefix: `mqtt.max_inflight` is `config.mqtt.max_inflight`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostConfig {
    /// `node.*`: identity of this broker.
    pub node: NodeConfig,
    /// `listener.*`: where clients connect.
    pub listener: ListenerConfig,
    /// `mqtt.*`: protocol limits and features.
    pub mqtt: MqttConfig,
    /// `auth.*`: who may connect.
    pub auth: AuthConfig,
    /// `acl.*`: built-in access rules.
    pub acl: AclConfig,
    /// `sys.*`: `$SYS` topic publishing.
    pub sys: SysConfig,
    /// `log.*`: logging.
    pub log: LogConfig,
    /// `plugins.*`: where plugin libraries and their configuration live.
    pub plugins: PluginsConfig,
    /// `admin.*`: the management API.
    pub admin: AdminConfig,
    /// `persistence*`: the durable store.
    pub persistence: PersistenceConfig,
    /// The file the configuration was read from, if any.
    pub(super) config_file: Option<PathBuf>,
    /// Each key's value as last set, for the admin API.
    pub(super) values: SetValues,
}

/// The text each key was last set with (a relative path resolved), for
/// the admin API's effective configuration. Not part of what the
/// configuration means: two configurations with the same settings are
/// equal however their values were written (`1MB` or `1024KB`).
#[derive(Debug, Clone, Default)]
pub struct SetValues(BTreeMap<String, String>);

impl PartialEq for SetValues {
    fn eq(&self, _: &SetValues) -> bool {
        true
    }
}

impl Eq for SetValues {}

impl SetValues {
    pub(super) fn record(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
}

/// What the effective configuration shows instead of a secret.
pub const REDACTED: &str = "******";

/// Whether a key's value is a secret the admin API does not show: a
/// password, a token, a key's contents; not the path of a file holding one.
pub fn is_secret(key: &str) -> bool {
    let last = key.rsplit('.').next().unwrap_or(key).to_ascii_lowercase();
    if last.ends_with("file") || last.ends_with("_dir") || last.ends_with("path") {
        return false;
    }
    [
        "password",
        "passwd",
        "secret",
        "token",
        "psk",
        "passphrase",
        "private_key",
    ]
    .iter()
    .any(|word| last.contains(word))
}

/// `node.*` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    /// `node.name`: name of this node, shown in logs and `$SYS` topics; never empty.
    pub name: String,
    /// `node.worker_threads`: threads serving clients (at least 1).
    pub worker_threads: u16,
}

/// `mqtt.*` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttConfig {
    /// `mqtt.max_packet_size`: largest packet accepted or sent, in bytes
    /// (2 to [`MQTT_MAX_PACKET_SIZE`]); announced to 5.0 clients as Maximum
    /// Packet Size.
    pub max_packet_size: u32,
    /// `mqtt.max_user_properties`: User Properties one 5.0 packet may
    /// carry, a CONNECT's will included; `None` means no limit. With
    /// `max_packet_size` it bounds the memory one packet takes: an empty
    /// User Property is 5 bytes on the wire but a pair of strings in
    /// memory.
    pub max_user_properties: Option<NonZeroU32>,
    /// `mqtt.max_clientid_len`: longest Client Identifier accepted (at least 23).
    pub max_clientid_len: u16,
    /// `mqtt.max_keepalive`: longest Keep Alive allowed, in seconds; `None`
    /// means no limit. A client asking for more (or for 0) gets this value:
    /// a 5.0 client is told it as Server Keep Alive; a 3.x client cannot be
    /// told and is held to it all the same.
    pub max_keepalive: Option<NonZeroU16>,
    /// `mqtt.packet_timeout`: how long a packet may take to arrive whole
    /// once its first byte is in, whatever the keep alive (0 included), so
    /// that a client cannot hold a connection and its read buffer open by
    /// sending a packet slowly or never finishing it.
    pub packet_timeout: Duration,
    /// `mqtt.max_inflight`: QoS 1 and 2 messages in flight to one client
    /// awaiting acknowledgement; the smaller of this and the client's Receive
    /// Maximum applies.
    pub max_inflight: u16,
    /// `mqtt.receive_maximum`: Receive Maximum announced to 5.0 clients, the
    /// number of unacknowledged QoS 1 and 2 PUBLISHes a client may send us.
    pub receive_maximum: u16,
    /// `mqtt.max_awaiting_rel`: QoS 2 packet ids a 3.x client may have
    /// waiting for PUBREL (5.0 clients are held to `receive_maximum`);
    /// `None` means no limit but that of packet ids.
    pub max_awaiting_rel: Option<NonZeroU16>,
    /// `mqtt.max_queued_messages`: messages one session may hold waiting for
    /// delivery (while offline, or beyond the in-flight window); `None`
    /// means no limit.
    pub max_queued_messages: Option<NonZeroU32>,
    /// `mqtt.queue_qos0`: whether QoS 0 messages are queued for offline
    /// persistent sessions.
    pub queue_qos0: bool,
    /// `mqtt.max_topic_alias`: Topic Alias Maximum announced to 5.0 clients;
    /// 0 means topic aliases are not accepted.
    pub max_topic_alias: u16,
    /// `mqtt.max_session_expiry`: longest Session Expiry Interval granted, in
    /// seconds; 4294967295 allows sessions that never expire.
    pub max_session_expiry: u32,
    /// `mqtt.retainer`: whether the built-in retained message store is on.
    pub retainer: bool,
    /// `mqtt.max_retained_messages`: retained messages stored at most;
    /// `None` means no limit.
    pub max_retained_messages: Option<NonZeroU32>,
    /// `mqtt.max_retained_bytes`: topic and payload bytes of all retained
    /// messages stored at most, so that publishers cannot fill memory
    /// with retained messages; `None` means no limit.
    pub max_retained_bytes: Option<NonZeroU64>,
    /// `mqtt.max_retained_payload_size`: the largest payload of a retained
    /// message that is stored; `None` means no limit.
    pub max_retained_payload_size: Option<NonZeroU64>,
    /// `mqtt.shared_subscription`: whether `$share/...` subscriptions are allowed.
    pub shared_subscription: bool,
    /// `mqtt.wildcard_subscription`: whether filters with `+` or `#` are allowed.
    pub wildcard_subscription: bool,
    /// `mqtt.max_subscriptions`: topic filters one client may have
    /// subscribed at once, so that one client cannot grow the subscription
    /// tree without bound; `None` means no limit.
    pub max_subscriptions: Option<NonZeroU32>,
    /// `mqtt.allow_anonymous`: whether a client no source authenticated
    /// (one without a user name, or with one while no source knows users)
    /// may connect. `None` (not written down): only on a listener bound to
    /// a loopback address.
    pub allow_anonymous: Option<bool>,
}

impl MqttConfig {
    /// What every packet from a client is held to while it is decoded.
    pub fn decode_limits(&self) -> Limits {
        Limits {
            max_packet_size: self.max_packet_size,
            max_user_properties: self.max_user_properties.map_or(u32::MAX, NonZeroU32::get),
        }
    }
}

/// `auth.*` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// `auth.password_file`: a Mosquitto password file; `None` is none.
    pub password_file: Option<PathBuf>,
    /// `auth.timeout`: how long a plugin's pending answer is waited for.
    pub timeout: Duration,
    /// `auth.timeout_action`: what an answer that did not come in time
    /// counts as.
    pub timeout_action: TimeoutAction,
}

/// `auth.timeout_action`: what a plugin's late answer counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutAction {
    /// `deny`: the question is refused.
    Deny,
    /// `ignore`: the next source is asked.
    Ignore,
}

/// `acl.nomatch`: the answer when no access source answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoMatch {
    /// `allow`.
    Allow,
    /// `deny`.
    Deny,
}

/// `acl.deny_action`: what a refused PUBLISH does to its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyAction {
    /// `ignore`: the message is dropped (acknowledged as the protocol
    /// version allows), the connection stays.
    Ignore,
    /// `disconnect`: the connection closes (5.0: DISCONNECT 0x87).
    Disconnect,
}

/// `acl.deny_reason`: the 5.0 reason code of an access refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyReason {
    /// `not_authorized`: 0x87, which says why.
    NotAuthorized,
    /// `unspecified`: 0x80, for a server that does not wish to reveal the
    /// reason (MQTT 5.0 3.9.3), as some clients' test suites expect.
    Unspecified,
}

impl DenyReason {
    /// The reason code.
    pub fn code(self) -> u8 {
        match self {
            DenyReason::NotAuthorized => mqhost_codec::reason::NOT_AUTHORIZED,
            DenyReason::Unspecified => mqhost_codec::reason::UNSPECIFIED_ERROR,
        }
    }
}

/// `acl.*` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclConfig {
    /// `acl.deny_subscribe`: topic filters clients may not subscribe to. A
    /// SUBSCRIBE is refused when the requested filter, read as a topic name,
    /// matches one of these (so `$SYS/#` refuses `$SYS/broker/uptime` too).
    pub deny_subscribe: Vec<String>,
    /// `acl.file`: a Mosquitto ACL file; `None` is none.
    pub file: Option<PathBuf>,
    /// `acl.nomatch`: the answer when no source answered (no ACL file,
    /// topic not in the deny list).
    pub nomatch: NoMatch,
    /// `acl.deny_action`: what a refused PUBLISH does.
    pub deny_action: DenyAction,
    /// `acl.deny_reason`: the 5.0 reason code of a refusal.
    pub deny_reason: DenyReason,
    /// `acl.cache`: whether each client keeps its recent decisions.
    pub cache: bool,
    /// `acl.cache_max_size`: decisions kept per client (at least 1).
    pub cache_max_size: u32,
    /// `acl.cache_ttl`: how long a kept decision holds.
    pub cache_ttl: Duration,
}

/// `sys.*` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysConfig {
    /// `sys.interval`: how often `$SYS` topics are published; `None` (0 in
    /// the file) turns them off.
    pub interval: Option<Duration>,
}

/// `plugins.*` settings. Relative paths in a file resolve against the
/// file's directory; on the command line, against the current directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginsConfig {
    /// `plugins.dir`: where plugin libraries are dropped.
    pub dir: PathBuf,
    /// `plugins.etc_dir`: where `NAME.conf` files enable and configure them.
    pub etc_dir: PathBuf,
}

/// `admin.*` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminConfig {
    /// `admin.listener`: address of the HTTP management API; `None` is off.
    /// A bare port is on loopback.
    pub listener: Option<SocketAddr>,
    /// `admin.token_file`: where the API's bearer token is kept; `None`:
    /// [`DEFAULT_ADMIN_TOKEN_FILE`] in the configuration file's directory
    /// (see [`HostConfig::admin_token_file`]).
    pub token_file: Option<PathBuf>,
    /// `admin.allowed_hosts`: host names, besides the listener's own
    /// address, that requests may name in `Host` (and `Origin`); ASCII
    /// lower case.
    pub allowed_hosts: Vec<String>,
    /// `admin.certfile`: the certificate chain (PEM) of a TLS admin
    /// listener; with `keyfile`, the API speaks TLS.
    pub certfile: Option<PathBuf>,
    /// `admin.keyfile`: its private key (PEM).
    pub keyfile: Option<PathBuf>,
    /// `admin.allow_plaintext`: whether a listener off loopback may speak
    /// plain HTTP.
    pub allow_plaintext: bool,
}

/// Where the admin token is kept when `admin.token_file` is not set,
/// relative to the configuration file's directory.
pub const DEFAULT_ADMIN_TOKEN_FILE: &str = "data/admin.token";

/// `persistence`, `persistence.*` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistenceConfig {
    /// `persistence`: whether durable state is kept.
    pub enabled: bool,
    /// `persistence.dir`: where; `None`: [`DEFAULT_PERSISTENCE_DIR`] in the
    /// configuration file's directory (see [`HostConfig::persistence_dir`]).
    pub dir: Option<PathBuf>,
    /// `persistence.sync`: when it is flushed to the disk.
    pub sync: crate::persist::SyncMode,
}

/// Where the store is kept when `persistence.dir` is not set, relative
/// to the configuration file's directory.
pub const DEFAULT_PERSISTENCE_DIR: &str = "data";

/// `log.*` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// `log.level`: the most verbose level logged (unless `RUST_LOG` is set).
    pub level: LogLevel,
}

/// A logging verbosity, from least to most verbose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Only errors.
    Error,
    /// Errors and warnings.
    Warn,
    /// Normal operation: startup, listeners, notable events.
    Info,
    /// Per-connection detail.
    Debug,
    /// Everything, including packets.
    Trace,
}

impl LogLevel {
    /// The level's name as written in the config and understood by `RUST_LOG`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }

    /// Parses `error`, `warn`, `info`, `debug` or `trace` (ASCII case ignored).
    pub fn parse(value: &str) -> Result<LogLevel, String> {
        match value.to_ascii_lowercase().as_str() {
            "error" => Ok(LogLevel::Error),
            "warn" => Ok(LogLevel::Warn),
            "info" => Ok(LogLevel::Info),
            "debug" => Ok(LogLevel::Debug),
            "trace" => Ok(LogLevel::Trace),
            _ => Err(format!(
                "expected error, warn, info, debug or trace, got {value:?}"
            )),
        }
    }
}

impl HostConfig {
    /// The file this configuration was read from, or `None` for built-in defaults.
    /// Every key set, by default, the file or `--set`, with the value in
    /// force as it was written (relative paths resolved), secrets shown
    /// as [`REDACTED`].
    pub fn effective(&self) -> BTreeMap<String, String> {
        self.values
            .0
            .iter()
            .map(|(key, value)| {
                let shown = if is_secret(key) && !value.is_empty() {
                    REDACTED.to_owned()
                } else {
                    value.clone()
                };
                (key.clone(), shown)
            })
            .collect()
    }

    pub fn config_file(&self) -> Option<&Path> {
        self.config_file.as_deref()
    }

    /// The directory relative paths in the config file are resolved against:
    /// the file's directory, or the current directory (empty path) without one.
    pub fn config_dir(&self) -> &Path {
        self.config_file
            .as_deref()
            .and_then(Path::parent)
            .unwrap_or(Path::new(""))
    }

    /// The store's directory: `persistence.dir`, else
    /// [`DEFAULT_PERSISTENCE_DIR`] in the configuration file's directory
    /// (the current directory without a file).
    pub fn persistence_dir(&self) -> PathBuf {
        match &self.persistence.dir {
            Some(path) => path.clone(),
            None => self.config_dir().join(DEFAULT_PERSISTENCE_DIR),
        }
    }

    /// The admin API's token file: `admin.token_file`, else
    /// [`DEFAULT_ADMIN_TOKEN_FILE`] in the configuration file's directory
    /// (the current directory without a file).
    pub fn admin_token_file(&self) -> PathBuf {
        match &self.admin.token_file {
            Some(path) => path.clone(),
            None => self.config_dir().join(DEFAULT_ADMIN_TOKEN_FILE),
        }
    }

    /// Resolves a path written in the config file against the file's directory
    /// (absolute paths are returned unchanged).
    pub fn resolve_path(&self, value: &str) -> PathBuf {
        resolve_against(self.config_dir(), value)
    }
}

/// Resolves `value` against `base` unless it is already absolute.
pub(super) fn resolve_against(base: &Path, value: &str) -> PathBuf {
    let path = Path::new(value);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_resolve_against_the_config_directory() {
        let mut config = HostConfig::default();
        assert_eq!(config.resolve_path("plugins"), Path::new("plugins"));
        config.config_file = Some(PathBuf::from("etc/mqhost.conf"));
        assert_eq!(config.resolve_path("plugins"), Path::new("etc/plugins"));
        assert_eq!(
            config.resolve_path("/opt/plugins"),
            Path::new("/opt/plugins")
        );
        assert_eq!(config.admin_token_file(), Path::new("etc/data/admin.token"));
        config.config_file = Some(PathBuf::from("mqhost.conf"));
        assert_eq!(config.resolve_path("plugins"), Path::new("plugins"));
        assert_eq!(config.admin_token_file(), Path::new("data/admin.token"));
        config.admin.token_file = Some(PathBuf::from("/var/lib/mqhost/token"));
        assert_eq!(
            config.admin_token_file(),
            Path::new("/var/lib/mqhost/token")
        );
        assert_eq!(resolve_against(Path::new(""), "a/b"), Path::new("a/b"));
    }
}
