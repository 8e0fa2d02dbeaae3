//! One `host[:port]` of a `server` list, and the list's parser.

use std::fmt;

use mqhost_plugin_api::properties;

use crate::settings::PoolKind;

/// One `host[:port]` of `server`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// Port; None until the pool's type decides the default.
    pub port: Option<u16>,
}

impl Server {
    /// The port, or the type's default.
    pub fn port_or(&self, kind: PoolKind) -> u16 {
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

/// Parses `host[:port], ...`.
pub fn parse_servers(value: &str) -> Result<Vec<Server>, String> {
    let list = properties::parse_list(value);
    if list.is_empty() {
        return Err("expected host[:port], or a comma-separated list of them".to_owned());
    }
    list.iter().map(|item| parse_server(item)).collect()
}

/// Parses `host`, `host:port`, `[v6]:port` or a bare IPv6 address.
pub fn parse_server(item: &str) -> Result<Server, String> {
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
}
