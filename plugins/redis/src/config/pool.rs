//! Pool settings: `backend.redis.<pool>.<setting>`. How to connect is
//! the shared [`LinkConfig`]; the channel and the write queue's bounds
//! are the backend's own.

use mqhost_plugin_api::properties::{self, Entry};
use mqhost_plugin_api::ConfigError;
use mqhost_redis_link::{LinkConfig, LinkKeys, Names, Setting};

/// What the connection settings are called after `backend.redis.<pool>.`:
/// the backend's names first, then EMQX 4's `ssl.*` spellings.
pub(crate) const NAMES: &Names = &[
    ("type", Setting::Type),
    ("server", Setting::Server),
    ("sentinel", Setting::Sentinel),
    ("pool_size", Setting::PoolSize),
    ("database", Setting::Database),
    ("username", Setting::Username),
    ("password", Setting::Password),
    ("ssl", Setting::Ssl),
    ("cafile", Setting::CaFile),
    ("certfile", Setting::CertFile),
    ("keyfile", Setting::KeyFile),
    ("ssl.enable", Setting::Ssl),
    ("ssl.cafile", Setting::CaFile),
    ("ssl.cacertfile", Setting::CaFile),
    ("ssl.certfile", Setting::CertFile),
    ("ssl.keyfile", Setting::KeyFile),
];

/// One pool, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PoolConfig {
    /// Its name (`pool1`).
    pub(crate) name: String,
    /// How to connect: `type`, `server`, `sentinel`, `pool_size` (lookups
    /// run at once), `database`, `username`, `password`, `ssl` and its
    /// files.
    pub(crate) link: LinkConfig,
    /// `channel`: where SUB/UNSUB orders arrive.
    pub(crate) channel: String,
    /// `max_queued_commands`: writes waiting at most; beyond, they are
    /// dropped and counted.
    pub(crate) max_queued_commands: usize,
    /// `max_queued_bytes`: the same bound in memory, for large payloads.
    pub(crate) max_queued_bytes: u64,
    /// `retain_lookup_max`: retained messages one wildcard
    /// `on_retain_lookup` reads and delivers at most; the rest are counted.
    pub(crate) retain_lookup_max: usize,
    /// The first line that mentions the pool.
    pub(crate) line: u32,
}

/// `channel` when not set.
pub(crate) const DEFAULT_CHANNEL: &str = "mqtt_channel";
/// `max_queued_commands` when not set: ten times the spec's minimum, so
/// that a Redis away for a few seconds under a busy broker (50,000 QoS 1
/// messages a second are 250,000 commands a second) loses nothing. Small
/// messages take about 50 MB at the bound.
pub(crate) const DEFAULT_MAX_QUEUED: usize = 1_000_000;
/// `max_queued_bytes` when not set: 256 MiB, whatever the payload sizes.
pub(crate) const DEFAULT_MAX_QUEUED_BYTES: u64 = 256 << 20;
/// `retain_lookup_max` when not set: a wildcard SUBSCRIBE is answered with
/// at most this many retained messages, so that one filter such as `#`
/// cannot make the plugin hold the whole keyspace, nor a session a queue
/// it cannot take.
pub(crate) const DEFAULT_RETAIN_LOOKUP_MAX: usize = 1000;

impl PoolConfig {
    /// A pool with every default: `single` on 127.0.0.1:6379.
    pub(crate) fn new(name: &str, line: u32) -> PoolConfig {
        PoolConfig {
            name: name.to_owned(),
            link: LinkConfig::default(),
            channel: DEFAULT_CHANNEL.to_owned(),
            max_queued_commands: DEFAULT_MAX_QUEUED,
            max_queued_bytes: DEFAULT_MAX_QUEUED_BYTES,
            retain_lookup_max: DEFAULT_RETAIN_LOOKUP_MAX,
            line,
        }
    }

    /// The pool's connection keys, `backend.redis.<pool>.<setting>`.
    pub(crate) fn keys(&self) -> LinkKeys {
        LinkKeys::new(format!("{}{}.", super::PREFIX, self.name), NAMES)
    }

    /// Whether `other` connects the same way: if not, the pool reconnects
    /// on reload. The channel and the queue bound change without it.
    pub(crate) fn same_connection(&self, other: &PoolConfig) -> bool {
        self.link == other.link
    }

    /// Applies one `backend.redis.<pool>.<setting>` line.
    pub(crate) fn set(&mut self, setting: &str, entry: &Entry) -> Result<(), String> {
        let value = entry.value.as_str();
        if let Some(link_setting) = Setting::find(NAMES, setting) {
            return self.link.set(link_setting, value);
        }
        match setting {
            "channel" => {
                if value.is_empty() {
                    return Err("expected a channel name".to_owned());
                }
                self.channel = value.to_owned();
            }
            "max_queued_commands" => {
                self.max_queued_commands = properties::parse_u64(value, 1..=100_000_000)? as usize
            }
            "max_queued_bytes" => {
                let bytes = properties::parse_size(value)?;
                if bytes < 1 << 20 {
                    return Err(format!("expected at least 1MB, got {value:?}"));
                }
                self.max_queued_bytes = bytes;
            }
            "retain_lookup_max" => {
                self.retain_lookup_max = properties::parse_u64(value, 1..=1_000_000)? as usize
            }
            _ => {
                return Err(format!(
                    "unknown pool setting {setting:?}; a pool knows type, server, sentinel, \
                     pool_size, database, username, password, channel, ssl, cafile, certfile, \
                     keyfile, max_queued_commands, max_queued_bytes and retain_lookup_max"
                ))
            }
        }
        Ok(())
    }

    /// Settings that only make sense together, and TLS files that cannot
    /// be read: the error names the pool's first line and the key.
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        self.keys().check(&self.link, self.line)
    }
}
