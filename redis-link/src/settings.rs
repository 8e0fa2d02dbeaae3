//! What a connection to Redis needs to know: the deployment's type, its
//! servers, the handshake (database, user, password) and TLS. Each
//! setting is applied from its text by [`LinkConfig::set`]; what a plugin
//! calls it in its file is the plugin's choice ([`crate::keys`]).

use std::fmt;

use mqhost_plugin_api::properties;

use crate::keys::{Names, Setting};
use crate::server::{parse_servers, Server};

/// What kind of Redis deployment a pool talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolKind {
    /// One server.
    Single,
    /// A master found through Redis Sentinel.
    Sentinel,
    /// A Redis Cluster.
    Cluster,
}

impl PoolKind {
    /// The word used in the configuration.
    pub fn name(self) -> &'static str {
        match self {
            PoolKind::Single => "single",
            PoolKind::Sentinel => "sentinel",
            PoolKind::Cluster => "cluster",
        }
    }

    /// The port a server without one listens on.
    pub fn default_port(self) -> u16 {
        match self {
            PoolKind::Sentinel => 26379,
            PoolKind::Single | PoolKind::Cluster => 6379,
        }
    }
}

/// A password: compared like a string, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

/// TLS to Redis.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tls {
    /// CA certificates (PEM) to trust instead of the system's.
    pub cafile: Option<String>,
    /// Client certificate (PEM), for servers that ask for one.
    pub certfile: Option<String>,
    /// The client certificate's private key (PEM).
    pub keyfile: Option<String>,
}

/// How to reach one Redis deployment. Two values that compare equal
/// connect the same way: a plugin reconnects on reload only when they
/// differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkConfig {
    /// `type`.
    pub kind: PoolKind,
    /// `server`: one for single, sentinels for sentinel, seed nodes for
    /// cluster.
    pub servers: Vec<Server>,
    /// `sentinel`: the master's name.
    pub sentinel: Option<String>,
    /// `pool_size`: requests a plugin runs at once.
    pub pool_size: usize,
    /// `database`.
    pub database: u32,
    /// `username`.
    pub username: Option<String>,
    /// `password`.
    pub password: Option<Secret>,
    /// `ssl`: connect with TLS.
    pub ssl: bool,
    /// `cafile`, `certfile`, `keyfile` (used when `ssl` is on).
    pub tls: Tls,
}

/// `pool_size` when not set.
pub const DEFAULT_POOL_SIZE: usize = 8;

impl Default for LinkConfig {
    /// Every default: `single` on 127.0.0.1:6379, database 0, no TLS.
    fn default() -> LinkConfig {
        LinkConfig {
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
            ssl: false,
            tls: Tls::default(),
        }
    }
}

impl LinkConfig {
    /// Applies one setting, given as written; the error says what was
    /// expected (the caller adds the line and key).
    pub fn set(&mut self, setting: Setting, value: &str) -> Result<(), String> {
        match setting {
            Setting::Type => {
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
            Setting::Server => self.servers = parse_servers(value)?,
            Setting::Sentinel => self.sentinel = non_empty(value),
            Setting::PoolSize => self.pool_size = properties::parse_u64(value, 1..=1024)? as usize,
            Setting::Database => self.database = properties::parse_u32(value, 0..=u32::MAX)?,
            Setting::Username => self.username = non_empty(value),
            Setting::Password => self.password = non_empty(value).map(Secret),
            Setting::Ssl => self.ssl = properties::parse_bool(value)?,
            Setting::CaFile => self.tls.cafile = non_empty(value),
            Setting::CertFile => self.tls.certfile = non_empty(value),
            Setting::KeyFile => self.tls.keyfile = non_empty(value),
        }
        Ok(())
    }

    /// Settings that only make sense together, and TLS files that cannot
    /// be read (the link could never connect): the setting at fault and
    /// why, in the words of `names`.
    pub fn check(&self, names: &Names) -> Result<(), (Setting, String)> {
        let name = |setting: Setting| setting.name_in(names);
        match self.kind {
            PoolKind::Single if self.servers.len() > 1 => Err((
                Setting::Server,
                format!(
                    "a single pool has one server; use {} = sentinel or cluster for a list",
                    name(Setting::Type)
                ),
            )),
            PoolKind::Sentinel if self.sentinel.is_none() => Err((
                Setting::Sentinel,
                format!(
                    "a sentinel pool needs the master's name ({} = mymaster)",
                    name(Setting::Sentinel)
                ),
            )),
            PoolKind::Cluster if self.database != 0 => Err((
                Setting::Database,
                "Redis Cluster has only database 0".to_owned(),
            )),
            _ if self.ssl => self.check_tls(names),
            _ => Ok(()),
        }
    }

    /// TLS files must come in pairs and be readable.
    fn check_tls(&self, names: &Names) -> Result<(), (Setting, String)> {
        let tls = &self.tls;
        if tls.certfile.is_some() != tls.keyfile.is_some() {
            let missing = if tls.certfile.is_some() {
                Setting::KeyFile
            } else {
                Setting::CertFile
            };
            return Err((
                missing,
                format!(
                    "a client certificate needs both {} and {}",
                    Setting::CertFile.name_in(names),
                    Setting::KeyFile.name_in(names)
                ),
            ));
        }
        for (setting, path) in [
            (Setting::CaFile, &tls.cafile),
            (Setting::CertFile, &tls.certfile),
            (Setting::KeyFile, &tls.keyfile),
        ] {
            if let Some(path) = path {
                if let Err(error) = std::fs::metadata(path) {
                    return Err((setting, format!("cannot read {path}: {error}")));
                }
            }
        }
        Ok(())
    }

    /// `host:port, ...` with the type's default ports filled in.
    pub fn describe_servers(&self) -> String {
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

    /// What the link connects to, for log lines: the servers, or the
    /// master a sentinel names.
    pub fn target(&self) -> String {
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
}

fn non_empty(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show_in_debug_output() {
        let link = LinkConfig {
            password: Some(Secret("hunter2".into())),
            ..LinkConfig::default()
        };
        assert!(!format!("{link:?}").contains("hunter2"));
    }

    #[test]
    fn each_setting_is_read_and_bad_values_say_what_was_expected() {
        let mut link = LinkConfig::default();
        for (setting, value) in [
            (Setting::Type, "Sentinel"),
            (Setting::Server, "10.0.0.1:26380, 10.0.0.2"),
            (Setting::Sentinel, "mymaster"),
            (Setting::PoolSize, "4"),
            (Setting::Database, "3"),
            (Setting::Username, "mq"),
            (Setting::Password, "s3cret"),
            (Setting::Ssl, "on"),
            (Setting::CaFile, "/ca.pem"),
            (Setting::CertFile, "/c.pem"),
            (Setting::KeyFile, "/k.pem"),
        ] {
            link.set(setting, value).unwrap();
        }
        assert_eq!(link.kind, PoolKind::Sentinel);
        assert_eq!(
            link.target(),
            "master mymaster through sentinels 10.0.0.1:26380,10.0.0.2:26379"
        );
        assert_eq!((link.pool_size, link.database), (4, 3));
        assert_eq!(link.username.as_deref(), Some("mq"));
        assert_eq!(link.password, Some(Secret("s3cret".into())));
        assert!(link.ssl);
        assert_eq!(
            link.tls,
            Tls {
                cafile: Some("/ca.pem".into()),
                certfile: Some("/c.pem".into()),
                keyfile: Some("/k.pem".into()),
            }
        );
        // An empty value unsets.
        link.set(Setting::Password, "").unwrap();
        assert_eq!(link.password, None);
        for (setting, value, expected) in [
            (Setting::Type, "master", "single, sentinel or cluster"),
            (Setting::PoolSize, "0", "from 1 to 1024"),
            (Setting::Database, "-1", ""),
            (Setting::Ssl, "maybe", "on or off"),
            (Setting::Server, "a:99999", "host[:port]"),
        ] {
            let error = link.set(setting, value).unwrap_err();
            assert!(error.contains(expected), "{setting:?} {value}: {error}");
        }
    }
}
