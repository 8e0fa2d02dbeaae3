//! The broker's own settings: [`HostConfig`], its key table and loading.
//!
//! Every key the host understands is one entry of [`KEYS`]: its name, value
//! type, default, an example and a one-line meaning, plus the function that
//! parses a value into the [`HostConfig`] field. Adding a key means adding a
//! field, one entry here, a line in `etc/mqhost.conf` and a row in
//! `docs/configuration.md`; the tests at the bottom check that all four agree.

use std::fs;
use std::net::SocketAddr;
use std::num::{NonZeroU16, NonZeroU32};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::properties::{
    self, check_range, parse_bool, parse_duration_secs, parse_list, parse_size, parse_socket_addr,
    parse_u16, parse_u32, Properties, PropertiesError as ConfigError,
};

/// The source name used in errors about `--set` overrides.
pub const OVERRIDE_SOURCE: &str = "--set";

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
    /// The file the configuration was read from, if any.
    config_file: Option<PathBuf>,
}

/// `node.*` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    /// `node.name`: name of this node, shown in logs and `$SYS` topics; never empty.
    pub name: String,
    /// `node.worker_threads`: threads serving clients (at least 1).
    pub worker_threads: u16,
}

/// `listener.*` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    /// `listener.tcp.default`: address of the plain TCP listener.
    pub tcp_default: SocketAddr,
}

/// `mqtt.*` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttConfig {
    /// `mqtt.max_packet_size`: largest packet accepted or sent, in bytes
    /// (2 to [`MQTT_MAX_PACKET_SIZE`]); announced to 5.0 clients as Maximum
    /// Packet Size.
    pub max_packet_size: u32,
    /// `mqtt.max_clientid_len`: longest Client Identifier accepted (at least 23).
    pub max_clientid_len: u16,
    /// `mqtt.max_keepalive`: longest Keep Alive allowed, in seconds; `None`
    /// means no limit. A 5.0 client asking for more (or for 0) is told this
    /// value as Server Keep Alive; a 3.x client cannot be told another value
    /// and keeps its own.
    pub max_keepalive: Option<NonZeroU16>,
    /// `mqtt.max_inflight`: QoS 1 and 2 messages in flight to one client
    /// awaiting acknowledgement; the smaller of this and the client's Receive
    /// Maximum applies.
    pub max_inflight: u16,
    /// `mqtt.receive_maximum`: Receive Maximum announced to 5.0 clients, the
    /// number of unacknowledged QoS 1 and 2 PUBLISHes a client may send us.
    pub receive_maximum: u16,
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
    /// `mqtt.shared_subscription`: whether `$share/...` subscriptions are allowed.
    pub shared_subscription: bool,
    /// `mqtt.wildcard_subscription`: whether filters with `+` or `#` are allowed.
    pub wildcard_subscription: bool,
}

/// `acl.*` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclConfig {
    /// `acl.deny_subscribe`: topic filters clients may not subscribe to. A
    /// SUBSCRIBE is refused when the requested filter, read as a topic name,
    /// matches one of these (so `$SYS/#` refuses `$SYS/broker/uptime` too).
    pub deny_subscribe: Vec<String>,
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
    pub listener: Option<SocketAddr>,
}

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

impl Default for HostConfig {
    /// The built-in defaults, identical to the shipped `etc/mqhost.conf`.
    fn default() -> Self {
        HostConfig {
            node: NodeConfig {
                name: "mqhost@127.0.0.1".to_owned(),
                worker_threads: 1,
            },
            listener: ListenerConfig {
                tcp_default: SocketAddr::from(([0, 0, 0, 0], 1883)),
            },
            mqtt: MqttConfig {
                max_packet_size: 1 << 20,
                max_clientid_len: 65535,
                max_keepalive: None,
                max_inflight: 32,
                receive_maximum: 32,
                max_queued_messages: NonZeroU32::new(1000),
                queue_qos0: true,
                max_topic_alias: 65535,
                max_session_expiry: 7200,
                retainer: true,
                max_retained_messages: None,
                shared_subscription: true,
                wildcard_subscription: true,
            },
            acl: AclConfig {
                deny_subscribe: Vec::new(),
            },
            sys: SysConfig {
                interval: Some(Duration::from_secs(10)),
            },
            log: LogConfig {
                level: LogLevel::Info,
            },
            plugins: PluginsConfig {
                dir: PathBuf::from("plugins"),
                etc_dir: PathBuf::from("etc/plugins"),
            },
            admin: AdminConfig {
                listener: Some(SocketAddr::from(([127, 0, 0, 1], 8081))),
            },
            config_file: None,
        }
    }
}

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
        doc: "Address the plain TCP listener binds; a bare port means 0.0.0.0:port.",
        apply: |c, v, _| {
            c.listener.tcp_default = parse_socket_addr(v)?;
            Ok(())
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
        default: "65535",
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
        name: "acl.deny_subscribe",
        kind: "list",
        default: "",
        example: "$SYS/#, secret/#",
        doc: "Topic filters clients may not subscribe to; a SUBSCRIBE whose filter matches one is refused.",
        apply: |c, v, _| {
            let filters = parse_list(v);
            for filter in &filters {
                check_topic_filter(filter)?;
            }
            c.acl.deny_subscribe = filters;
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
        doc: "Address of the HTTP management API (mqhost ctl uses it); off disables it. Keep it on loopback.",
        apply: |c, v, _| {
            c.admin.listener = if v.eq_ignore_ascii_case("off") {
                None
            } else {
                Some(parse_socket_addr(v)?)
            };
            Ok(())
        },
    },
];

/// Where a relative path key written in the shipped `etc/mqhost.conf`
/// points from: that file's directory.
pub const SHIPPED_CONFIG_DIR: &str = "etc";

fn resolve_path_value(base: &Path, value: &str) -> Result<PathBuf, String> {
    if value.is_empty() {
        return Err("expected a path".to_owned());
    }
    Ok(resolve_against(base, value))
}

/// Rejects topic filters that could never be valid in a SUBSCRIBE, so a typo
/// in a deny rule is reported instead of silently matching nothing.
fn check_topic_filter(filter: &str) -> Result<(), String> {
    let levels: Vec<&str> = filter.split('/').collect();
    for (i, level) in levels.iter().enumerate() {
        let bad = if level.contains('#') {
            *level != "#" || i != levels.len() - 1
        } else {
            level.contains('+') && *level != "+"
        };
        if bad {
            return Err(format!(
                "invalid topic filter {filter:?}: '+' must be a whole level and '#' the whole last level"
            ));
        }
    }
    Ok(())
}

/// Looks up the key table entry for `name`.
pub fn key_spec(name: &str) -> Option<&'static KeySpec> {
    KEYS.iter().find(|k| k.name == name)
}

/// Resolves `value` against `base` unless it is already absolute.
fn resolve_against(base: &Path, value: &str) -> PathBuf {
    let path = Path::new(value);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

impl HostConfig {
    /// Loads the configuration: built-in defaults, then the file at `path`
    /// (if any), then each `--set` override in order.
    ///
    /// Every key is validated; an unknown key or a bad value is an error
    /// naming the file and line (or `--set`) and the key.
    pub fn load(path: Option<&Path>, overrides: &[(String, String)]) -> Result<Self, ConfigError> {
        let mut config = HostConfig::default();
        if let Some(path) = path {
            let name = path.display().to_string();
            let text = fs::read_to_string(path)
                .map_err(|e| ConfigError::new(&*name, format!("cannot read the file: {e}")))?;
            let props = properties::parse(&text, &name)?;
            config.config_file = Some(path.to_path_buf());
            config.apply_properties(&props)?;
        }
        config.apply_overrides(overrides)?;
        Ok(config)
    }

    /// Applies every entry of `props` in order (a repeated key: the last wins).
    ///
    /// Relative paths in values resolve against the config file's directory.
    pub fn apply_properties(&mut self, props: &Properties) -> Result<(), ConfigError> {
        let base = self.config_dir().to_path_buf();
        for entry in props {
            self.set(&entry.key, &entry.value, &base)
                .map_err(|message| props.error(entry, message))?;
        }
        Ok(())
    }

    /// Applies command-line `--set KEY=VALUE` overrides in order.
    ///
    /// Relative paths in values resolve against the current directory.
    pub fn apply_overrides(&mut self, overrides: &[(String, String)]) -> Result<(), ConfigError> {
        for (key, value) in overrides {
            self.set(key, value.trim(), Path::new(""))
                .map_err(|message| ConfigError::for_key(OVERRIDE_SOURCE, None, key, message))?;
        }
        Ok(())
    }

    /// Sets one key from its textual value; relative paths resolve against `base`.
    fn set(&mut self, key: &str, value: &str, base: &Path) -> Result<(), String> {
        match key_spec(key) {
            Some(spec) => (spec.apply)(self, value, base),
            None => Err(unknown_key_message(key)),
        }
    }

    /// The file this configuration was read from, or `None` for built-in defaults.
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

    /// Resolves a path written in the config file against the file's directory
    /// (absolute paths are returned unchanged).
    pub fn resolve_path(&self, value: &str) -> PathBuf {
        resolve_against(self.config_dir(), value)
    }
}

/// "unknown key", with a suggestion when a known key is a likely typo.
fn unknown_key_message(key: &str) -> String {
    let closest = KEYS
        .iter()
        .map(|k| (edit_distance(key, k.name), k.name))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d);
    match closest {
        Some((_, name)) => format!("unknown key; did you mean {name}?"),
        None => "unknown key".to_owned(),
    }
}

/// Levenshtein distance between two strings, counted in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = substitute.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED_CONF: &str = include_str!("../../../etc/mqhost.conf");
    const DOCS: &str = include_str!("../../../docs/configuration.md");

    /// A scratch file under the system temp dir, removed when dropped.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(name: &str, text: &str) -> TempFile {
            let dir = std::env::temp_dir().join(format!("mqhost-config-{}", std::process::id()));
            fs::create_dir_all(&dir).unwrap();
            let path = dir.join(name);
            fs::write(&path, text).unwrap();
            TempFile(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = fs::remove_file(&self.0);
        }
    }

    fn from_text(text: &str) -> Result<HostConfig, ConfigError> {
        let props = properties::parse(text, "test.conf")?;
        let mut config = HostConfig::default();
        config.apply_properties(&props)?;
        Ok(config)
    }

    fn set(key: &str, value: &str) -> (String, String) {
        (key.to_owned(), value.to_owned())
    }

    #[test]
    fn key_table_defaults_equal_built_in_defaults() {
        let mut config = HostConfig::default();
        // Scramble first, so that a default which fails to set its field shows.
        config.node.name = "x".into();
        config.node.worker_threads = 9;
        config.mqtt = MqttConfig {
            max_packet_size: 2,
            max_clientid_len: 23,
            max_keepalive: NonZeroU16::new(1),
            max_inflight: 1,
            receive_maximum: 1,
            max_queued_messages: None,
            queue_qos0: false,
            max_topic_alias: 0,
            max_session_expiry: 0,
            retainer: false,
            max_retained_messages: NonZeroU32::new(1),
            shared_subscription: false,
            wildcard_subscription: false,
        };
        config.listener.tcp_default = "127.0.0.1:1".parse().unwrap();
        config.acl.deny_subscribe = vec!["x".into()];
        config.sys.interval = None;
        config.log.level = LogLevel::Trace;
        config.plugins.dir = "x".into();
        config.plugins.etc_dir = "y".into();
        config.admin.listener = None;
        for key in KEYS {
            config
                .set(key.name, key.default, Path::new(""))
                .unwrap_or_else(|e| panic!("default of {}: {e}", key.name));
        }
        assert_eq!(config, HostConfig::default());
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
    fn shipped_config_has_every_key_with_a_comment() {
        let props = properties::parse(SHIPPED_CONF, "etc/mqhost.conf").unwrap();
        let lines: Vec<&str> = SHIPPED_CONF.lines().collect();
        for key in KEYS {
            let entry = props
                .get(key.name)
                .unwrap_or_else(|| panic!("{} missing from etc/mqhost.conf", key.name));
            if key.kind == "path" {
                // Written relative to etc/, the default is relative to the
                // current directory: both must name the same place.
                assert_eq!(
                    normalize(&Path::new(SHIPPED_CONFIG_DIR).join(&entry.value)),
                    normalize(Path::new(key.default)),
                    "{} in etc/mqhost.conf",
                    key.name
                );
            } else {
                assert_eq!(entry.value, key.default, "{} in etc/mqhost.conf", key.name);
            }
            let above = lines[entry.line - 2];
            assert!(above.starts_with("##"), "no ## comment above {}", key.name);
        }
        assert_eq!(props.len(), KEYS.len(), "etc/mqhost.conf repeats a key");
    }

    /// Removes `.` and `name/..` pairs, without touching the file system.
    fn normalize(path: &Path) -> PathBuf {
        let mut out = PathBuf::new();
        for part in path.components() {
            match part {
                std::path::Component::CurDir => {}
                std::path::Component::ParentDir if out.file_name().is_some() => {
                    out.pop();
                }
                other => out.push(other),
            }
        }
        out
    }

    /// The defaults with the path keys as the shipped file resolves them
    /// from `base` (its directory).
    fn defaults_seen_from(base: &Path) -> HostConfig {
        let mut expected = HostConfig::default();
        expected.plugins.dir = normalize(&base.join("../plugins"));
        expected.plugins.etc_dir = normalize(&base.join("plugins"));
        expected
    }

    #[test]
    fn shipped_config_loads_and_equals_the_defaults() {
        let mut parsed = from_text(SHIPPED_CONF).unwrap();
        parsed.plugins.dir = normalize(&parsed.plugins.dir);
        parsed.plugins.etc_dir = normalize(&parsed.plugins.etc_dir);
        assert_eq!(parsed, defaults_seen_from(Path::new("")));

        let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../etc/mqhost.conf"));
        let mut loaded = HostConfig::load(Some(path), &[]).unwrap();
        assert_eq!(loaded.config_file(), Some(path));
        let etc = path.parent().unwrap();
        loaded.plugins.dir = normalize(&loaded.plugins.dir);
        loaded.plugins.etc_dir = normalize(&loaded.plugins.etc_dir);
        assert_eq!(loaded.plugins.etc_dir, normalize(&etc.join("plugins")));
        assert_eq!(
            HostConfig {
                config_file: None,
                ..loaded
            },
            defaults_seen_from(etc)
        );
    }

    #[test]
    fn docs_list_every_key_with_its_default() {
        for key in KEYS {
            let row = DOCS
                .lines()
                .find(|l| l.starts_with('|') && l.contains(&format!("`{}`", key.name)))
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

    #[test]
    fn no_file_means_defaults() {
        let config = HostConfig::load(None, &[]).unwrap();
        assert_eq!(config, HostConfig::default());
        assert_eq!(config.config_file(), None);
    }

    #[test]
    fn values_are_typed() {
        let config = from_text(
            "node.name = n1@10.0.0.1\n\
             listener.tcp.default = 1884\n\
             mqtt.max_packet_size = 64KB\n\
             mqtt.max_keepalive = 5m\n\
             mqtt.max_queued_messages = 0\n\
             mqtt.queue_qos0 = off\n\
             mqtt.max_session_expiry = 4294967295\n\
             acl.deny_subscribe = $SYS/#, secret/+/x\n\
             sys.interval = 0\n\
             log.level = DEBUG\n",
        )
        .unwrap();
        assert_eq!(config.node.name, "n1@10.0.0.1");
        assert_eq!(config.listener.tcp_default, "0.0.0.0:1884".parse().unwrap());
        assert_eq!(config.mqtt.max_packet_size, 65536);
        assert_eq!(config.mqtt.max_keepalive, NonZeroU16::new(300));
        assert_eq!(config.mqtt.max_queued_messages, None);
        assert!(!config.mqtt.queue_qos0);
        assert_eq!(config.mqtt.max_session_expiry, u32::MAX);
        assert_eq!(config.acl.deny_subscribe, ["$SYS/#", "secret/+/x"]);
        assert_eq!(config.sys.interval, None);
        assert_eq!(config.log.level, LogLevel::Debug);
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let file = TempFile::new("unknown.conf", "node.name = a\n\nfoo.bar = 1\n");
        let err = HostConfig::load(Some(&file.0), &[]).unwrap_err();
        assert_eq!(err.source, file.0.display().to_string());
        assert_eq!(err.line, Some(3));
        assert_eq!(err.key.as_deref(), Some("foo.bar"));
        assert_eq!(
            err.to_string(),
            format!("{}:3: foo.bar: unknown key", file.0.display())
        );
    }

    #[test]
    fn unknown_key_suggests_a_close_known_key() {
        let err = from_text("mqtt.max_inflght = 1").unwrap_err();
        assert_eq!(
            err.to_string(),
            "test.conf:1: mqtt.max_inflght: unknown key; did you mean mqtt.max_inflight?"
        );
    }

    #[test]
    fn bad_value_names_file_line_and_key() {
        let err = from_text("# c\nmqtt.max_inflight = abc\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"test.conf:2: mqtt.max_inflight: expected a whole number, got "abc""#
        );
    }

    #[test]
    fn limits_are_enforced() {
        for (key, bad) in [
            ("mqtt.max_packet_size", "1"),
            ("mqtt.max_packet_size", "257MB"),
            ("mqtt.max_clientid_len", "22"),
            ("mqtt.max_keepalive", "65536"),
            ("mqtt.max_keepalive", "1d"),
            ("mqtt.max_inflight", "0"),
            ("mqtt.receive_maximum", "0"),
            ("mqtt.max_session_expiry", "4294967296"),
            ("node.name", ""),
            ("log.level", "verbose"),
            ("acl.deny_subscribe", "a/#/b"),
            ("acl.deny_subscribe", "a/b+"),
        ] {
            assert!(
                from_text(&format!("{key} = {bad}")).is_err(),
                "{key} = {bad:?}"
            );
        }
        let largest = from_text("mqtt.max_packet_size = 268435460").unwrap();
        assert_eq!(largest.mqtt.max_packet_size, MQTT_MAX_PACKET_SIZE);
    }

    #[test]
    fn later_line_wins() {
        let config = from_text("mqtt.max_inflight = 1\nmqtt.max_inflight = 2\n").unwrap();
        assert_eq!(config.mqtt.max_inflight, 2);
    }

    #[test]
    fn set_override_wins_over_file() {
        let file = TempFile::new(
            "override.conf",
            "mqtt.max_inflight = 10\nlog.level = warn\n",
        );
        let config = HostConfig::load(
            Some(&file.0),
            &[
                set("mqtt.max_inflight", "20"),
                set("mqtt.max_inflight", " 30 "),
            ],
        )
        .unwrap();
        assert_eq!(config.mqtt.max_inflight, 30);
        assert_eq!(config.log.level, LogLevel::Warn);
    }

    #[test]
    fn set_override_error_names_set_and_key() {
        let err = HostConfig::load(None, &[set("mqtt.retainer", "maybe")]).unwrap_err();
        assert_eq!(err.source, "--set");
        assert_eq!(err.line, None);
        assert_eq!(
            err.to_string(),
            r#"--set: mqtt.retainer: expected on or off (or true/false, yes/no), got "maybe""#
        );
        let err = HostConfig::load(None, &[set("nope", "1")]).unwrap_err();
        assert_eq!(err.to_string(), "--set: nope: unknown key");
    }

    #[test]
    fn unreadable_file_is_an_error_naming_the_file() {
        let path = Path::new("/nonexistent/mqhost.conf");
        let err = HostConfig::load(Some(path), &[]).unwrap_err();
        assert_eq!(err.source, "/nonexistent/mqhost.conf");
        assert!(
            err.to_string()
                .starts_with("/nonexistent/mqhost.conf: cannot read the file: "),
            "{err}"
        );
    }

    #[test]
    fn syntax_error_in_file_names_file_and_line() {
        let file = TempFile::new("syntax.conf", "node.name = a\noops\n");
        let err = HostConfig::load(Some(&file.0), &[]).unwrap_err();
        assert_eq!(err.line, Some(2));
        assert_eq!(err.source, file.0.display().to_string());
    }

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
        config.config_file = Some(PathBuf::from("mqhost.conf"));
        assert_eq!(config.resolve_path("plugins"), Path::new("plugins"));
        assert_eq!(resolve_against(Path::new(""), "a/b"), Path::new("a/b"));
    }

    #[test]
    fn edit_distance_counts_single_character_edits() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", "abc"), 0);
        assert_eq!(edit_distance("abc", "ab"), 1);
        assert_eq!(edit_distance("abc", "axc"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
