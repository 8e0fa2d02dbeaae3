//! Pool settings: `backend.redis.<pool>.<setting>`.

use std::fmt;

use mqhost_plugin_api::properties::{self, Entry};

/// What kind of Redis deployment a pool talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PoolKind {
    /// One server.
    Single,
    /// A master found through Redis Sentinel.
    Sentinel,
    /// A Redis Cluster.
    Cluster,
}

impl PoolKind {
    /// The word used in the configuration.
    pub(crate) fn name(self) -> &'static str {
        match self {
            PoolKind::Single => "single",
            PoolKind::Sentinel => "sentinel",
            PoolKind::Cluster => "cluster",
        }
    }

    /// The port a server without one listens on.
    pub(crate) fn default_port(self) -> u16 {
        match self {
            PoolKind::Sentinel => 26379,
            PoolKind::Single | PoolKind::Cluster => 6379,
        }
    }
}

/// One `host[:port]` of `server`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Server {
    /// Host name or IP address (IPv6 without brackets).
    pub(crate) host: String,
    /// Port; None until the pool's type decides the default.
    pub(crate) port: Option<u16>,
}

impl Server {
    /// The port, or the type's default.
    pub(crate) fn port_or(&self, kind: PoolKind) -> u16 {
        self.port.unwrap_or(kind.default_port())
    }
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host: &dyn fmt::Display = &self.host;
        if self.host.contains(':') {
            write!(f, "[{host}]")?;
        } else {
            write!(f, "{host}")?;
        }
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

/// A password: compared like a string, never printed.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(pub(crate) String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

/// TLS to Redis.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Tls {
    /// CA certificates (PEM) to trust instead of the system's.
    pub(crate) cafile: Option<String>,
    /// Client certificate (PEM), for servers that ask for one.
    pub(crate) certfile: Option<String>,
    /// The client certificate's private key (PEM).
    pub(crate) keyfile: Option<String>,
}

/// One pool, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PoolConfig {
    /// Its name (`pool1`).
    pub(crate) name: String,
    /// `type`.
    pub(crate) kind: PoolKind,
    /// `server`: one for single, sentinels for sentinel, seed nodes for
    /// cluster.
    pub(crate) servers: Vec<Server>,
    /// `sentinel`: the master's name.
    pub(crate) sentinel: Option<String>,
    /// `pool_size`: lookups run at once.
    pub(crate) pool_size: usize,
    /// `database`.
    pub(crate) database: u32,
    /// `username`.
    pub(crate) username: Option<String>,
    /// `password`.
    pub(crate) password: Option<Secret>,
    /// `channel`: where SUB/UNSUB orders arrive.
    pub(crate) channel: String,
    /// `ssl`: connect with TLS.
    pub(crate) ssl: bool,
    /// `cafile`, `certfile`, `keyfile` (used when `ssl` is on).
    pub(crate) tls: Tls,
    /// `max_queued_commands`: writes waiting at most; beyond, they are
    /// dropped and counted.
    pub(crate) max_queued_commands: usize,
    /// `max_queued_bytes`: the same bound in memory, for large payloads.
    pub(crate) max_queued_bytes: u64,
    /// The first line that mentions the pool.
    pub(crate) line: u32,
}

/// `pool_size` when not set.
pub(crate) const DEFAULT_POOL_SIZE: usize = 8;
/// `channel` when not set.
pub(crate) const DEFAULT_CHANNEL: &str = "mqtt_channel";
/// `max_queued_commands` when not set: ten times the spec's minimum, so
/// that a Redis away for a few seconds under a busy broker (50,000 QoS 1
/// messages a second are 250,000 commands a second) loses nothing. Small
/// messages take about 50 MB at the bound.
pub(crate) const DEFAULT_MAX_QUEUED: usize = 1_000_000;
/// `max_queued_bytes` when not set: 256 MiB, whatever the payload sizes.
pub(crate) const DEFAULT_MAX_QUEUED_BYTES: u64 = 256 << 20;

impl PoolConfig {
    /// A pool with every default: `single` on 127.0.0.1:6379.
    pub(crate) fn new(name: &str, line: u32) -> PoolConfig {
        PoolConfig {
            name: name.to_owned(),
            kind: PoolKind::Single,
            servers: vec![Server {
                host: "127.0.0.1".to_owned(),
                port: Some(6379),
            }],
            sentinel: None,
            pool_size: DEFAULT_POOL_SIZE,
            database: 0,
            username: None,
            password: None,
            channel: DEFAULT_CHANNEL.to_owned(),
            ssl: false,
            tls: Tls::default(),
            max_queued_commands: DEFAULT_MAX_QUEUED,
            max_queued_bytes: DEFAULT_MAX_QUEUED_BYTES,
            line,
        }
    }

    /// Whether `other` connects the same way: if not, the pool reconnects
    /// on reload. The channel and the queue bound change without it.
    pub(crate) fn same_connection(&self, other: &PoolConfig) -> bool {
        self.kind == other.kind
            && self.servers == other.servers
            && self.sentinel == other.sentinel
            && self.pool_size == other.pool_size
            && self.database == other.database
            && self.username == other.username
            && self.password == other.password
            && self.ssl == other.ssl
            && self.tls == other.tls
    }

    /// `host:port, ...` with the type's default ports filled in.
    pub(crate) fn describe_servers(&self) -> String {
        self.servers
            .iter()
            .map(|s| {
                Server {
                    host: s.host.clone(),
                    port: Some(s.port_or(self.kind)),
                }
                .to_string()
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// What the pool connects to, for log lines: the servers, or the
    /// master a sentinel names.
    pub(crate) fn target(&self) -> String {
        match self.kind {
            PoolKind::Sentinel => format!(
                "master {} through sentinels {}",
                self.sentinel.as_deref().unwrap_or(""),
                self.describe_servers()
            ),
            PoolKind::Cluster => format!("cluster {}", self.describe_servers()),
            PoolKind::Single => self.describe_servers(),
        }
    }

    /// Applies one `backend.redis.<pool>.<setting>` line.
    pub(crate) fn set(&mut self, setting: &str, entry: &Entry) -> Result<(), String> {
        let value = entry.value.as_str();
        match setting {
            "type" => {
                self.kind = match value.to_ascii_lowercase().as_str() {
                    "single" => PoolKind::Single,
                    "sentinel" => PoolKind::Sentinel,
                    "cluster" => PoolKind::Cluster,
                    _ => {
                        return Err(format!(
                            "expected single, sentinel or cluster, got {value:?}"
                        ))
                    }
                }
            }
            "server" => self.servers = parse_servers(value)?,
            "sentinel" => self.sentinel = non_empty(value),
            "pool_size" => self.pool_size = properties::parse_u64(value, 1..=1024)? as usize,
            "database" => self.database = properties::parse_u32(value, 0..=u32::MAX)?,
            "username" => self.username = non_empty(value),
            "password" => self.password = non_empty(value).map(Secret),
            "channel" => {
                if value.is_empty() {
                    return Err("expected a channel name".to_owned());
                }
                self.channel = value.to_owned();
            }
            "ssl" | "ssl.enable" => self.ssl = properties::parse_bool(value)?,
            "cafile" | "ssl.cafile" | "ssl.cacertfile" => self.tls.cafile = non_empty(value),
            "certfile" | "ssl.certfile" => self.tls.certfile = non_empty(value),
            "keyfile" | "ssl.keyfile" => self.tls.keyfile = non_empty(value),
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
            _ => {
                return Err(format!(
                    "unknown pool setting {setting:?}; a pool knows type, server, sentinel, \
                     pool_size, database, username, password, channel, ssl, cafile, certfile, \
                     keyfile, max_queued_commands and max_queued_bytes"
                ))
            }
        }
        Ok(())
    }
}

fn non_empty(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_owned())
}

/// Parses `host[:port], ...`.
pub(crate) fn parse_servers(value: &str) -> Result<Vec<Server>, String> {
    let list = properties::parse_list(value);
    if list.is_empty() {
        return Err("expected host[:port], or a comma-separated list of them".to_owned());
    }
    list.iter().map(|item| parse_server(item)).collect()
}

/// Parses `host`, `host:port`, `[v6]:port` or a bare IPv6 address.
pub(crate) fn parse_server(item: &str) -> Result<Server, String> {
    let bad = || format!("expected host[:port] (IPv6 as [addr]:port), got {item:?}");
    let (host, port) = if let Some(rest) = item.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':').ok_or_else(bad)?)),
        }
    } else {
        match item.rsplit_once(':') {
            Some((host, _)) if host.contains(':') => (item, None),
            Some((host, port)) => (host, Some(port)),
            None => (item, None),
        }
    };
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(bad());
    }
    let port = port
        .map(|p| properties::parse_u16(p, 1..=65535).map_err(|_| bad()))
        .transpose()?;
    Ok(Server {
        host: host.to_owned(),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_with_and_without_ports() {
        let servers = parse_servers("127.0.0.1:6380, redis.local ,[::1]:7000,::1").unwrap();
        let text: Vec<String> = servers.iter().map(Server::to_string).collect();
        assert_eq!(
            text,
            ["127.0.0.1:6380", "redis.local", "[::1]:7000", "[::1]"]
        );
        assert_eq!(servers[1].port_or(PoolKind::Sentinel), 26379);
        assert_eq!(servers[1].port_or(PoolKind::Cluster), 6379);
        for bad in [
            "", "a:b", "a:0", "a:70000", "[::1", "[::1]x", ":6379", "a b:1",
        ] {
            assert!(parse_servers(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn passwords_never_show_in_debug_output() {
        let mut pool = PoolConfig::new("pool1", 1);
        pool.password = Some(Secret("hunter2".into()));
        assert!(!format!("{pool:?}").contains("hunter2"));
    }
}
