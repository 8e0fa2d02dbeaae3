//! The table of keys the broker understands: [`KEYS`], one [`KeySpec`] per
//! key with its name, value type, default, example, meaning and parser, and
//! setting one key of a [`HostConfig`] from its text.
//!
//! Each default is written once, here: [`HostConfig::default`] is built by
//! parsing the table's defaults. Adding a key means adding a field, one entry
//! here, a line in `etc/mqhost.conf` and a row in `docs/configuration.md`;
//! the tests check that all four agree.

use std::net::{Ipv4Addr, SocketAddr};
use std::num::{NonZeroU16, NonZeroU32, NonZeroU64};
use std::path::{Path, PathBuf};
use std::time::Duration;

use mqhost_plugin_api::topic;

use super::host::{
    resolve_against, AclConfig, AdminConfig, AuthConfig, DenyAction, DenyReason, HostConfig,
    LogConfig, LogLevel, MqttConfig, NoMatch, NodeConfig, PersistenceConfig, PluginsConfig,
    SetValues, SysConfig, TimeoutAction, MQTT_MAX_PACKET_SIZE,
};
use super::listeners::ListenerConfig;
use super::properties::{
    check_range, parse_bool, parse_duration_secs, parse_list, parse_size, parse_socket_addr,
    parse_u16, parse_u32,
};
use super::suggest::closest;
use crate::persist::SyncMode;

/// Parses a value and stores it in the config; the path is the directory
/// that relative paths in the value are resolved against.
type Apply = fn(&mut HostConfig, &str, &Path) -> Result<(), String>;

/// One configuration key the host understands.
pub struct KeySpec {
    /// The key, e.g. `mqtt.max_inflight`.
    pub name: &'static str,
    /// The value type, as named in `docs/configuration.md`.
    pub kind: &'static str,
    /// The default, written as it appears in `etc/mqhost.conf`.
    pub default: &'static str,
    /// An example value other than the default.
    pub example: &'static str,
    /// What the key means, in one line.
    pub doc: &'static str,
    apply: Apply,
}

impl std::fmt::Debug for KeySpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySpec")
            .field("name", &self.name)
            .field("default", &self.default)
            .finish_non_exhaustive()
    }
}

/// Every key the host understands, in the order of `etc/mqhost.conf`.
pub static KEYS: &[KeySpec] = &[
    KeySpec {
        name: "node.name",
        kind: "string",
        default: "mqhost@127.0.0.1",
        example: "mqhost@10.0.0.5",
        doc: "Name of this broker node, shown in logs and $SYS topics; must not be empty.",
        apply: |c, v, _| {
            if v.is_empty() {
                return Err("the node name must not be empty".to_owned());
            }
            c.node.name = v.to_owned();
            Ok(())
        },
    },
    KeySpec {
        name: "node.worker_threads",
        kind: "integer",
        default: "1",
        example: "2",
        doc: "Threads that serve clients, 1 to 256. With 1, packets that arrive at the same moment on different connections are handled in arrival order, as in Mosquitto; more threads spread the work over cores without that order.",
        apply: |c, v, _| {
            c.node.worker_threads = parse_u16(v, 1..=256)?;
            Ok(())
        },
    },
    KeySpec {
        name: "listener.tcp.default",
        kind: "address",
        default: "0.0.0.0:1883",
        example: "127.0.0.1:1883",
        doc: "Address the plain TCP listener binds; a bare port means 0.0.0.0:port; off turns it off. More listeners: listener.<tcp|ssl|ws|wss>.<name> (see Listeners).",
        apply: |c, v, base| {
            c.listener.set("tcp.default", v, base).map(|_| ())
        },
    },
    KeySpec {
        name: "mqtt.max_packet_size",
        kind: "size",
        default: "1MB",
        example: "256KB",
        doc: "Largest MQTT packet accepted or sent, 2 bytes to 268435460 (256MB).",
        apply: |c, v, _| {
            let n = check_range(parse_size(v)?, 2..=u64::from(MQTT_MAX_PACKET_SIZE), v)?;
            c.mqtt.max_packet_size = n as u32;
            Ok(())
        },
    },
    KeySpec {
        name: "mqtt.max_user_properties",
        kind: "integer",
        default: "128",
        example: "32",
        doc: "User Properties one MQTT 5.0 packet may carry (a CONNECT's will included); 0 means no limit. Beyond it a CONNECT is refused (CONNACK 0x97) and any other packet closes the connection (DISCONNECT 0x97).",
        apply: |c, v, _| {
            c.mqtt.max_user_properties = NonZeroU32::new(parse_u32(v, 0..=u32::MAX)?);
            Ok(())
        },
    },
    KeySpec {
        name: "mqtt.max_clientid_len",
        kind: "integer",
        default: "65535",
        example: "1024",
        doc: "Longest Client Identifier accepted, 23 to 65535.",
        apply: |c, v, _| {
            c.mqtt.max_clientid_len = parse_u16(v, 23..=65535)?;
            Ok(())
        },
    },
    KeySpec {
        name: "mqtt.max_keepalive",
        kind: "duration",
        default: "0",
        example: "5m",
        doc: "Longest Keep Alive allowed, 0 to 65535 seconds; 0 means no limit.",
        apply: |c, v, _| {
            let secs = check_range(parse_duration_secs(v)?, 0..=65535, v)?;
            c.mqtt.max_keepalive = NonZeroU16::new(secs as u16);
            Ok(())
        },
    },
    KeySpec {
        name: "mqtt.packet_timeout",
        kind: "duration",
        default: "30s",
        example: "10s",
        doc: "How long a packet may take to arrive whole once its first byte is in, whatever the keep alive, 1 to 3600 seconds; then the connection closes.",
        apply: |c, v, _| {
            let secs = check_range(parse_duration_secs(v)?, 1..=3600, v)?;
            c.mqtt.packet_timeout = Duration::from_secs(secs);
            Ok(())
        },
    },
    KeySpec {
        name: "mqtt.max_inflight",
        kind: "integer",
        default: "32",
        example: "128",
        doc: "QoS 1/2 messages in flight to one client, 1 to 65535 (capped by its Receive Maximum).",
        apply: |c, v, _| {
            c.mqtt.max_inflight = parse_u16(v, 1..=65535)?;
            Ok(())
        },
    },
    KeySpec {
        name: "mqtt.receive_maximum",
        kind: "integer",
        default: "32",
        example: "100",
        doc: "Receive Maximum announced to MQTT 5.0 clients (unacknowledged QoS 1/2 PUBLISHes they may send), 1 to 65535.",
        apply: |c, v, _| {
            c.mqtt.receive_maximum = parse_u16(v, 1..=65535)?;
            Ok(())
        },
    },
    KeySpec {
        name: "mqtt.max_awaiting_rel",
        kind: "integer",
        default: "100",
        example: "1000",
        doc: "QoS 2 PUBLISHes a 3.x client may have waiting for their PUBREL, 0 to 65535; 0 means no limit. Beyond it the connection closes (5.0 clients are held to mqtt.receive_maximum).",
        apply: |c, v, _| {
            c.mqtt.max_awaiting_rel = NonZeroU16::new(parse_u16(v, 0..=65535)?);
            Ok(())
        },
    },
    KeySpec {
        name: "mqtt.max_queued_messages",
        kind: "integer",
        default: "1000",
        example: "10000",
        doc: "Messages one session may queue for delivery (offline or beyond the in-flight window); 0 means no limit.",
        apply: |c, v, _| {
            c.mqtt.max_queued_messages = NonZeroU32::new(parse_u32(v, 0..=u32::MAX)?);
            Ok(())
        },
    },
    KeySpec {
        name: "mqtt.queue_qos0",
        kind: "boolean",
        default: "on",
        example: "off",
        doc: "Whether QoS 0 messages are queued for offline persistent sessions.",
        apply: |c, v, _| {
            c.mqtt.queue_qos0 = parse_bool(v)?;
            Ok(())
        },
    },
    KeySpec {
        name: "mqtt.max_topic_alias",
        kind: "integer",
        default: "64",
        example: "0",
        doc: "Topic Alias Maximum announced to MQTT 5.0 clients, 0 to 65535; 0 means none.",
        apply: |c, v, _| {
            c.mqtt.max_topic_alias = parse_u16(v, 0..=65535)?;
            Ok(())
        },
    },
    KeySpec {
        name: "mqtt.max_session_expiry",
        kind: "duration",
        default: "2h",
        example: "7d",
        doc: "Longest Session Expiry Interval granted, 0 to 4294967295 seconds; 4294967295 allows sessions that never expire.",
        apply: |c, v, _| {
            let secs = check_range(parse_duration_secs(v)?, 0..=u64::from(u32::MAX), v)?;
            c.mqtt.max_session_expiry = secs as u32;
            Ok(())
        },
    },
    KeySpec {
        name: "mqtt.retainer",
        kind: "boolean",
        default: "on",
        example: "off",
        doc: "Whether the built-in retained message store is on.",
        apply: |c, v, _| {
            c.mqtt.retainer = parse_bool(v)?;
            Ok(())
        },
    },
    KeySpec {
        name: "mqtt.max_retained_messages",
        kind: "integer",
        default: "0",
        example: "100000",
        doc: "Retained messages stored at most; 0 means no limit.",
        apply: |c, v, _| {
            c.mqtt.max_retained_messages = NonZeroU32::new(parse_u32(v, 0..=u32::MAX)?);
            Ok(())
        },
    },
    KeySpec {
        name: "mqtt.max_retained_bytes",
        kind: "size",
        default: "256MB",
        example: "1GB",
        doc: "Topic and payload bytes of all retained messages stored at most; 0 means no limit. A retained message beyond it is delivered but not stored.",
        apply: |c, v, _| {
            c.mqtt.max_retained_bytes = NonZeroU64::new(parse_size(v)?);
            Ok(())
        },
    },
    KeySpec {
        name: "mqtt.max_retained_payload_size",
        kind: "size",
        default: "1MB",
        example: "64KB",
        doc: "Largest payload a retained message may have to be stored; 0 means no limit. A larger one is delivered but not stored.",
        apply: |c, v, _| {
            c.mqtt.max_retained_payload_size = NonZeroU64::new(parse_size(v)?);
            Ok(())
        },
    },
    KeySpec {
        name: "mqtt.shared_subscription",
        kind: "boolean",
        default: "on",
        example: "off",
        doc: "Whether shared subscriptions ($share/group/filter) are allowed.",
        apply: |c, v, _| {
            c.mqtt.shared_subscription = parse_bool(v)?;
            Ok(())
        },
    },
    KeySpec {
        name: "mqtt.wildcard_subscription",
        kind: "boolean",
        default: "on",
        example: "off",
        doc: "Whether topic filters containing + or # are allowed.",
        apply: |c, v, _| {
            c.mqtt.wildcard_subscription = parse_bool(v)?;
            Ok(())
        },
    },
    KeySpec {
        name: "mqtt.max_subscriptions",
        kind: "integer",
        default: "0",
        example: "100",
        doc: "Topic filters one client may have subscribed at once; 0 means no limit. A new filter beyond it is refused (SUBACK 0x97 in 5.0, 0x80 in 3.x).",
        apply: |c, v, _| {
            c.mqtt.max_subscriptions = NonZeroU32::new(parse_u32(v, 0..=u32::MAX)?);
            Ok(())
        },
    },
    KeySpec {
        name: "mqtt.allow_anonymous",
        kind: "boolean",
        default: "",
        example: "on",
        doc: "Whether clients no source authenticates (no user name) may connect; not written down: only on a listener bound to a loopback address.",
        apply: |c, v, _| {
            c.mqtt.allow_anonymous = if v.is_empty() {
                None
            } else {
                Some(parse_bool(v)?)
            };
            Ok(())
        },
    },
    KeySpec {
        name: "auth.password_file",
        kind: "path",
        default: "",
        example: "passwd",
        doc: "Mosquitto password file (made by mosquitto_passwd or mqhost passwd); a client with a user name must be in it with its password. Empty: none. Reloaded when edited.",
        apply: |c, v, base| {
            c.auth.password_file = optional_path_value(base, v);
            Ok(())
        },
    },
    KeySpec {
        name: "auth.timeout",
        kind: "duration",
        default: "5s",
        example: "2s",
        doc: "How long a plugin's pending access answer is waited for (only that client waits), 1 second or more.",
        apply: |c, v, _| {
            let secs = check_range(parse_duration_secs(v)?, 1..=3600, v)?;
            c.auth.timeout = Duration::from_secs(secs);
            Ok(())
        },
    },
    KeySpec {
        name: "auth.timeout_action",
        kind: "enum",
        default: "deny",
        example: "ignore",
        doc: "deny or ignore: what a plugin's answer that did not come within auth.timeout counts as (ignore asks the next source).",
        apply: |c, v, _| {
            c.auth.timeout_action = match v.to_ascii_lowercase().as_str() {
                "deny" => TimeoutAction::Deny,
                "ignore" => TimeoutAction::Ignore,
                _ => return Err(format!("expected deny or ignore, got {v:?}")),
            };
            Ok(())
        },
    },
    KeySpec {
        name: "acl.deny_subscribe",
        kind: "list",
        default: "",
        example: "$SYS/#, secret/#",
        doc: "Topic filters clients may not subscribe to; a SUBSCRIBE whose filter matches one is refused.",
        apply: |c, v, _| {
            let filters = parse_list(v);
            // A typo in a deny rule is reported rather than matching nothing.
            for filter in &filters {
                topic::validate_filter(filter)
                    .map_err(|e| format!("invalid topic filter {filter:?}: {e}"))?;
            }
            c.acl.deny_subscribe = filters;
            Ok(())
        },
    },
    KeySpec {
        name: "acl.file",
        kind: "path",
        default: "",
        example: "acl",
        doc: "Mosquitto ACL file: write is checked at PUBLISH, read at each delivery. Empty: none. Reloaded when edited.",
        apply: |c, v, base| {
            c.acl.file = optional_path_value(base, v);
            Ok(())
        },
    },
    KeySpec {
        name: "acl.nomatch",
        kind: "enum",
        default: "allow",
        example: "deny",
        doc: "allow or deny: the answer when no source answered (no ACL file and the topic not in acl.deny_subscribe).",
        apply: |c, v, _| {
            c.acl.nomatch = match v.to_ascii_lowercase().as_str() {
                "allow" => NoMatch::Allow,
                "deny" => NoMatch::Deny,
                _ => return Err(format!("expected allow or deny, got {v:?}")),
            };
            Ok(())
        },
    },
    KeySpec {
        name: "acl.deny_action",
        kind: "enum",
        default: "ignore",
        example: "disconnect",
        doc: "ignore or disconnect: what a refused PUBLISH does (ignore drops it; disconnect closes the connection).",
        apply: |c, v, _| {
            c.acl.deny_action = match v.to_ascii_lowercase().as_str() {
                "ignore" => DenyAction::Ignore,
                "disconnect" => DenyAction::Disconnect,
                _ => return Err(format!("expected ignore or disconnect, got {v:?}")),
            };
            Ok(())
        },
    },
    KeySpec {
        name: "acl.deny_reason",
        kind: "enum",
        default: "not_authorized",
        example: "unspecified",
        doc: "not_authorized or unspecified: the 5.0 reason code of a refused SUBSCRIBE filter, PUBLISH or deny_action disconnect: 0x87 (Not authorized), or 0x80 (Unspecified error, which the specification gives a server that does not wish to reveal the reason).",
        apply: |c, v, _| {
            c.acl.deny_reason = match v.to_ascii_lowercase().as_str() {
                "not_authorized" => DenyReason::NotAuthorized,
                "unspecified" => DenyReason::Unspecified,
                _ => return Err(format!("expected not_authorized or unspecified, got {v:?}")),
            };
            Ok(())
        },
    },
    KeySpec {
        name: "acl.cache",
        kind: "boolean",
        default: "on",
        example: "off",
        doc: "Whether each client keeps its recent access decisions (cleared for everyone when a file changes).",
        apply: |c, v, _| {
            c.acl.cache = parse_bool(v)?;
            Ok(())
        },
    },
    KeySpec {
        name: "acl.cache_max_size",
        kind: "integer",
        default: "32",
        example: "64",
        doc: "Decisions kept per client, 1 to 65535; the oldest goes first.",
        apply: |c, v, _| {
            c.acl.cache_max_size = parse_u32(v, 1..=65535)?;
            Ok(())
        },
    },
    KeySpec {
        name: "acl.cache_ttl",
        kind: "duration",
        default: "1m",
        example: "5m",
        doc: "How long a kept decision holds, 1 second or more.",
        apply: |c, v, _| {
            let secs = check_range(parse_duration_secs(v)?, 1..=u64::from(u32::MAX), v)?;
            c.acl.cache_ttl = Duration::from_secs(secs);
            Ok(())
        },
    },
    KeySpec {
        name: "sys.interval",
        kind: "duration",
        default: "10s",
        example: "1m",
        doc: "How often $SYS topics are published; 0 turns them off.",
        apply: |c, v, _| {
            let secs = parse_duration_secs(v)?;
            c.sys.interval = (secs > 0).then(|| Duration::from_secs(secs));
            Ok(())
        },
    },
    KeySpec {
        name: "log.level",
        kind: "enum",
        default: "info",
        example: "debug",
        doc: "Most verbose level logged: error, warn, info, debug or trace (RUST_LOG overrides it).",
        apply: |c, v, _| {
            c.log.level = LogLevel::parse(v)?;
            Ok(())
        },
    },
    KeySpec {
        name: "plugins.dir",
        kind: "path",
        default: "plugins",
        example: "/usr/lib/mqhost/plugins",
        doc: "Directory of plugin libraries (lib*.so as cargo builds them); a missing directory is a warning.",
        apply: |c, v, base| {
            c.plugins.dir = resolve_path_value(base, v)?;
            Ok(())
        },
    },
    KeySpec {
        name: "plugins.etc_dir",
        kind: "path",
        default: "etc/plugins",
        example: "/etc/mqhost/plugins",
        doc: "Directory of plugin configuration files: NAME.conf enables plugin NAME unless it says plugin.enable = off.",
        apply: |c, v, base| {
            c.plugins.etc_dir = resolve_path_value(base, v)?;
            Ok(())
        },
    },
    KeySpec {
        name: "admin.listener",
        kind: "address",
        default: "127.0.0.1:8081",
        example: "off",
        doc: "Address of the HTTP management API (mqhost ctl uses it); a bare port is on loopback (127.0.0.1); off disables it. Off loopback it needs admin.certfile and admin.keyfile, or admin.allow_plaintext.",
        apply: |c, v, _| {
            c.admin.listener = if v.eq_ignore_ascii_case("off") {
                None
            } else {
                Some(admin_address(v)?)
            };
            Ok(())
        },
    },
    KeySpec {
        name: "admin.token_file",
        kind: "path",
        default: "",
        example: "/var/lib/mqhost/admin.token",
        doc: "File holding the admin API's bearer token, made (mode 0600) at the first start; empty: data/admin.token in the configuration file's directory. mqhost ctl reads it.",
        apply: |c, v, base| {
            c.admin.token_file = optional_path_value(base, v);
            Ok(())
        },
    },
    KeySpec {
        name: "admin.allowed_hosts",
        kind: "list",
        default: "",
        example: "broker.example.com, mqhost.internal",
        doc: "Host names requests to the admin API may be addressed to (Host and Origin), besides the listener's own address (and localhost on loopback); others are refused.",
        apply: |c, v, _| {
            c.admin.allowed_hosts = parse_list(v)
                .into_iter()
                .map(|host| host.to_ascii_lowercase())
                .collect();
            Ok(())
        },
    },
    KeySpec {
        name: "admin.certfile",
        kind: "path",
        default: "",
        example: "certs/admin.crt",
        doc: "Certificate chain (PEM) of the admin API; with admin.keyfile the API speaks HTTPS. Reloaded when the file changes.",
        apply: |c, v, base| {
            c.admin.certfile = optional_path_value(base, v);
            Ok(())
        },
    },
    KeySpec {
        name: "admin.keyfile",
        kind: "path",
        default: "",
        example: "certs/admin.key",
        doc: "Private key (PEM) of admin.certfile.",
        apply: |c, v, base| {
            c.admin.keyfile = optional_path_value(base, v);
            Ok(())
        },
    },
    KeySpec {
        name: "admin.allow_plaintext",
        kind: "boolean",
        default: "off",
        example: "on",
        doc: "Whether an admin.listener off loopback may speak plain HTTP (the token and passwords then cross the network readable); without it and without TLS the broker does not start.",
        apply: |c, v, _| {
            c.admin.allow_plaintext = parse_bool(v)?;
            Ok(())
        },
    },
    KeySpec {
        name: "persistence",
        kind: "boolean",
        default: "on",
        example: "off",
        doc: "Whether sessions that outlive their connection, their queued and in-flight messages, and retained messages are kept in persistence.dir and found again after a restart or a crash.",
        apply: |c, v, _| {
            c.persistence.enabled = parse_bool(v)?;
            Ok(())
        },
    },
    KeySpec {
        name: "persistence.dir",
        kind: "path",
        default: "",
        example: "/var/lib/mqhost",
        doc: "Directory of the store (made with mode 0700); empty: data in the configuration file's directory. One broker at a time may use it.",
        apply: |c, v, base| {
            c.persistence.dir = optional_path_value(base, v);
            Ok(())
        },
    },
    KeySpec {
        name: "persistence.sync",
        kind: "enum",
        default: "interval",
        example: "always",
        doc: "When the store is flushed to the disk: none (never; a kill loses nothing, a power loss may), interval (once a second), always (before each batch's acknowledgements).",
        apply: |c, v, _| {
            c.persistence.sync = SyncMode::parse(v)?;
            Ok(())
        },
    },
];

/// `admin.listener`'s address: a bare port is on loopback, unlike a
/// client listener's, since the API loads code into the broker.
fn admin_address(value: &str) -> Result<SocketAddr, String> {
    let addr = parse_socket_addr(value)?;
    if value.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, addr.port())));
    }
    Ok(addr)
}

/// Where a relative path key written in the shipped `etc/mqhost.conf`
/// points from: that file's directory.
pub const SHIPPED_CONFIG_DIR: &str = "etc";

fn resolve_path_value(base: &Path, value: &str) -> Result<PathBuf, String> {
    if value.is_empty() {
        return Err("expected a path".to_owned());
    }
    Ok(resolve_against(base, value))
}

/// A path key whose empty value means "none".
fn optional_path_value(base: &Path, value: &str) -> Option<PathBuf> {
    (!value.is_empty()).then(|| resolve_against(base, value))
}

/// Looks up the key table entry for `name`.
pub fn key_spec(name: &str) -> Option<&'static KeySpec> {
    KEYS.iter().find(|k| k.name == name)
}

impl Default for HostConfig {
    /// The built-in defaults: every key's default from [`KEYS`], identical
    /// to the shipped `etc/mqhost.conf`.
    fn default() -> Self {
        let mut config = HostConfig::blank();
        for key in KEYS {
            if let Err(e) = config.set(key.name, key.default, Path::new("")) {
                panic!("the built-in default of {} is invalid: {e}", key.name);
            }
        }
        config
    }
}

impl HostConfig {
    /// A config whose every field is about to be overwritten by its key's
    /// default; these values are placeholders, never seen outside
    /// [`HostConfig::default`].
    fn blank() -> Self {
        HostConfig {
            node: NodeConfig {
                name: String::new(),
                worker_threads: 0,
            },
            listener: ListenerConfig::tcp_default(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))),
            mqtt: MqttConfig {
                max_packet_size: 0,
                max_user_properties: None,
                max_clientid_len: 0,
                max_keepalive: None,
                packet_timeout: Duration::ZERO,
                max_inflight: 0,
                receive_maximum: 0,
                max_awaiting_rel: None,
                max_queued_messages: None,
                queue_qos0: false,
                max_topic_alias: 0,
                max_session_expiry: 0,
                retainer: false,
                max_retained_messages: None,
                max_retained_bytes: None,
                max_retained_payload_size: None,
                shared_subscription: false,
                wildcard_subscription: false,
                max_subscriptions: NonZeroU32::new(1),
                allow_anonymous: Some(false),
            },
            auth: AuthConfig {
                password_file: Some(PathBuf::new()),
                timeout: Duration::ZERO,
                timeout_action: TimeoutAction::Ignore,
            },
            acl: AclConfig {
                deny_subscribe: Vec::new(),
                file: Some(PathBuf::new()),
                nomatch: NoMatch::Deny,
                deny_action: DenyAction::Disconnect,
                deny_reason: DenyReason::Unspecified,
                cache: false,
                cache_max_size: 0,
                cache_ttl: Duration::ZERO,
            },
            sys: SysConfig { interval: None },
            log: LogConfig {
                level: LogLevel::Error,
            },
            plugins: PluginsConfig {
                dir: PathBuf::new(),
                etc_dir: PathBuf::new(),
            },
            admin: AdminConfig {
                listener: None,
                token_file: Some(PathBuf::new()),
                allowed_hosts: vec![String::new()],
                certfile: Some(PathBuf::new()),
                keyfile: Some(PathBuf::new()),
                allow_plaintext: true,
            },
            persistence: PersistenceConfig {
                enabled: false,
                dir: Some(PathBuf::new()),
                sync: SyncMode::None,
            },
            config_file: None,
            values: SetValues::default(),
        }
    }

    /// Sets one key from its textual value; relative paths resolve against
    /// `base`. The error is the message alone: the caller adds where the
    /// value came from.
    pub(super) fn set(&mut self, key: &str, value: &str, base: &Path) -> Result<(), String> {
        let spec = key_spec(key);
        if let Some(spec) = spec {
            (spec.apply)(self, value, base)?;
        } else {
            let known = match key.strip_prefix("listener.") {
                Some(rest) => self.listener.set(rest, value, base)?,
                None => false,
            };
            if !known {
                return Err(unknown_key_message(key));
            }
        }
        // A path is shown as the broker reads it: resolved.
        let is_path = spec.map_or(key.ends_with("file"), |spec| spec.kind == "path");
        let shown = if is_path && !value.is_empty() {
            resolve_against(base, value).display().to_string()
        } else {
            value.to_owned()
        };
        self.values.record(key, shown);
        Ok(())
    }
}

/// "unknown key", with a suggestion when a known key is a likely typo.
fn unknown_key_message(key: &str) -> String {
    match closest(key, KEYS.iter().map(|k| k.name)) {
        Some(name) => format!("unknown key; did you mean {name}?"),
        None => "unknown key".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::properties;

    const DOCS: &str = include_str!("../../../docs/configuration.md");

    #[test]
    fn the_effective_configuration_shows_values_as_written_paths_resolved() {
        let mut config = HostConfig::default();
        config
            .set("mqtt.max_packet_size", "256KB", Path::new("/etc/mq"))
            .unwrap();
        config
            .set("acl.file", "acl.conf", Path::new("/etc/mq"))
            .unwrap();
        config
            .set("listener.ssl.x", "127.0.0.1:8883", Path::new("/etc/mq"))
            .unwrap();
        config
            .set("listener.ssl.x.certfile", "c.pem", Path::new("/etc/mq"))
            .unwrap();
        assert!(config.set("mqtt.bogus", "1", Path::new("")).is_err());
        let effective = config.effective();
        assert_eq!(effective["mqtt.max_packet_size"], "256KB");
        assert_eq!(effective["acl.file"], "/etc/mq/acl.conf");
        assert_eq!(effective["listener.ssl.x.certfile"], "/etc/mq/c.pem");
        assert_eq!(effective["node.name"], "mqhost@127.0.0.1");
        assert!(!effective.contains_key("mqtt.bogus"));
        // Every key is there, each with its default at least.
        for key in KEYS {
            assert!(effective.contains_key(key.name), "{}", key.name);
        }
        // How a value was written does not make another configuration.
        let mut other = HostConfig::default();
        other
            .set("mqtt.max_packet_size", "262144", Path::new(""))
            .unwrap();
        let mut same = HostConfig::default();
        same.set("mqtt.max_packet_size", "256KB", Path::new(""))
            .unwrap();
        assert_eq!(other, same);
    }

    #[test]
    fn secrets_are_told_from_the_files_that_hold_them() {
        use super::super::host::is_secret;
        for secret in [
            "a.password",
            "redis.auth_token",
            "x.tls.passphrase",
            "b.secret_key",
        ] {
            assert!(is_secret(secret), "{secret}");
        }
        for shown in [
            "auth.password_file",
            "admin.token_file",
            "admin.keyfile",
            "node.name",
        ] {
            assert!(!is_secret(shown), "{shown}");
        }
    }

    #[test]
    fn every_field_is_set_by_a_key_default() {
        // Each value differs from its placeholder in `blank`, so a field that
        // no key sets keeps it here but not in the defaults.
        let mut config = HostConfig::default();
        config.node.name = "x".into();
        config.node.worker_threads = 9;
        config.mqtt = MqttConfig {
            max_packet_size: 2,
            max_user_properties: NonZeroU32::new(7),
            max_clientid_len: 23,
            max_keepalive: NonZeroU16::new(1),
            packet_timeout: Duration::from_secs(1),
            max_inflight: 1,
            receive_maximum: 1,
            max_awaiting_rel: NonZeroU16::new(1),
            max_queued_messages: NonZeroU32::new(1),
            queue_qos0: true,
            max_topic_alias: 1,
            max_session_expiry: 1,
            retainer: true,
            max_retained_messages: NonZeroU32::new(1),
            max_retained_bytes: NonZeroU64::new(1),
            max_retained_payload_size: NonZeroU64::new(1),
            shared_subscription: true,
            wildcard_subscription: true,
            max_subscriptions: NonZeroU32::new(7),
            allow_anonymous: Some(true),
        };
        config.auth.password_file = Some("x".into());
        config.acl = AclConfig {
            deny_subscribe: vec!["x".into()],
            file: Some("x".into()),
            nomatch: NoMatch::Deny,
            deny_action: DenyAction::Disconnect,
            deny_reason: DenyReason::Unspecified,
            cache: false,
            cache_max_size: 1,
            cache_ttl: Duration::from_secs(1),
        };
        config.listener = ListenerConfig::tcp_default("127.0.0.1:1".parse().unwrap());
        config.sys.interval = Some(Duration::from_secs(1));
        config.log.level = LogLevel::Trace;
        config.plugins.dir = "x".into();
        config.plugins.etc_dir = "y".into();
        config.admin = AdminConfig {
            listener: None,
            token_file: Some("x".into()),
            allowed_hosts: vec!["x".into()],
            certfile: Some("x".into()),
            keyfile: Some("x".into()),
            allow_plaintext: true,
        };
        config.config_file = Some("x.conf".into());
        for key in KEYS {
            config
                .set(key.name, key.default, Path::new(""))
                .unwrap_or_else(|e| panic!("default of {}: {e}", key.name));
        }
        config.config_file = None;
        assert_eq!(config, HostConfig::default());
    }

    #[test]
    fn defaults_are_the_documented_values() {
        let config = HostConfig::default();
        assert_eq!(config.node.name, "mqhost@127.0.0.1");
        assert_eq!(
            config.listener.listeners[0].address,
            Some("0.0.0.0:1883".parse().unwrap())
        );
        assert_eq!(config.mqtt.max_packet_size, 1 << 20);
        assert_eq!(config.mqtt.max_queued_messages, NonZeroU32::new(1000));
        assert_eq!(config.mqtt.max_retained_bytes, NonZeroU64::new(256 << 20));
        assert_eq!(
            config.mqtt.max_retained_payload_size,
            NonZeroU64::new(1 << 20)
        );
        assert_eq!(config.sys.interval, Some(Duration::from_secs(10)));
        assert_eq!(config.plugins.etc_dir, Path::new("etc/plugins"));
        assert_eq!(
            config.admin.listener,
            Some("127.0.0.1:8081".parse().unwrap())
        );
        assert_eq!(config.config_file(), None);
        assert_eq!(config.admin.token_file, None);
        assert!(!config.admin.allow_plaintext);
    }

    #[test]
    fn a_bare_admin_port_is_on_loopback() {
        let mut config = HostConfig::default();
        config.set("admin.listener", "8082", Path::new("")).unwrap();
        assert_eq!(
            config.admin.listener,
            Some("127.0.0.1:8082".parse().unwrap())
        );
        config
            .set("admin.listener", "0.0.0.0:8082", Path::new(""))
            .unwrap();
        assert_eq!(config.admin.listener, Some("0.0.0.0:8082".parse().unwrap()));
        config
            .set("admin.allowed_hosts", "A.Example, b.example", Path::new(""))
            .unwrap();
        assert_eq!(config.admin.allowed_hosts, ["a.example", "b.example"]);
    }

    #[test]
    fn key_table_examples_are_valid() {
        for key in KEYS {
            let mut config = HostConfig::default();
            config
                .set(key.name, key.example, Path::new(""))
                .unwrap_or_else(|e| panic!("example of {}: {e}", key.name));
        }
    }

    #[test]
    fn key_names_are_unique_and_valid() {
        for (i, key) in KEYS.iter().enumerate() {
            assert!(properties::is_valid_key(key.name), "{}", key.name);
            assert!(
                KEYS[..i].iter().all(|k| k.name != key.name),
                "{} twice",
                key.name
            );
        }
    }

    #[test]
    fn docs_list_every_key_with_its_default() {
        for key in KEYS {
            let row = DOCS
                .lines()
                .find(|l| l.starts_with(&format!("| `{}` |", key.name)))
                .unwrap_or_else(|| panic!("{} missing from docs/configuration.md", key.name));
            let default = if key.default.is_empty() {
                "(empty)".to_owned()
            } else {
                format!("`{}`", key.default)
            };
            assert!(
                row.contains(&default),
                "docs row of {} lacks default {default}",
                key.name
            );
        }
    }
}
