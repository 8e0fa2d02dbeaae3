//! What a plugin's file calls each connection setting. The settings and
//! their parsing are one ([`LinkConfig::set`]); the names are each
//! plugin's own, given as a table: the Redis backend reads
//! `backend.redis.<pool>.pool_size`, an EMQX 4 `emqx_auth_redis.conf`
//! says `auth.redis.pool` for the same thing.
//!
//! ```
//! use mqhost_plugin_api::properties;
//! use mqhost_redis_link::{LinkConfig, LinkKeys, Names, Setting};
//!
//! // EMQX 4's emqx_auth_redis.conf names (the first name of a setting is
//! // the one error messages use).
//! const NAMES: &Names = &[
//!     ("type", Setting::Type),
//!     ("server", Setting::Server),
//!     ("sentinel", Setting::Sentinel),
//!     ("pool", Setting::PoolSize),
//!     ("database", Setting::Database),
//!     ("password", Setting::Password),
//!     ("ssl", Setting::Ssl),
//!     ("ssl.cacertfile", Setting::CaFile),
//! ];
//! let text = "plugin.enable = on\nauth.redis.type = cluster\n\
//!             auth.redis.server = 10.0.0.1:7000,10.0.0.2:7000\n\
//!             auth.redis.pool = 4\nauth.redis.auth_cmd = HMGET mqtt_user:%u password\n";
//! let keys = LinkKeys::new("auth.redis.", NAMES);
//! let mut own = Vec::new();
//! let link = keys
//!     .read(text, "auth_redis.conf", |entry| {
//!         own.push(entry.key.clone()); // the plugin's own keys
//!         Ok(())
//!     })
//!     .unwrap();
//! assert_eq!(link.target(), "cluster 10.0.0.1:7000,10.0.0.2:7000");
//! assert_eq!(link.pool_size, 4);
//! assert_eq!(own, ["auth.redis.auth_cmd"]);
//! ```
//!
//! A file with several links (the Redis backend's pools) applies each
//! entry with [`LinkKeys::apply`] and checks each link with
//! [`LinkKeys::check`].
//!
//! [`LinkConfig::set`]: crate::LinkConfig::set

use mqhost_plugin_api::properties::{self, Entry};
use mqhost_plugin_api::ConfigError;

use crate::settings::LinkConfig;

/// One connection setting, whatever a file calls it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// `single`, `sentinel` or `cluster`.
    Type,
    /// `host[:port]`, or a comma-separated list of them.
    Server,
    /// The master's name, for a sentinel pool.
    Sentinel,
    /// Requests run at once, 1 to 1024.
    PoolSize,
    /// The database index (0 on a cluster).
    Database,
    /// The Redis ACL user.
    Username,
    /// The password (never printed).
    Password,
    /// TLS on or off.
    Ssl,
    /// The CA to trust instead of the system's (PEM).
    CaFile,
    /// The client certificate (PEM).
    CertFile,
    /// The client certificate's key (PEM).
    KeyFile,
}

/// A plugin's names for the settings, after its prefix. A setting may
/// have several names (aliases); the first one listed is the one error
/// messages use. A setting without a name cannot be set from the file.
pub type Names = [(&'static str, Setting)];

/// The connection keys of EMQX 4.4's `emqx_auth_redis.conf` (after its
/// `auth.redis.` prefix), with 4.0-4.2's spellings of the TLS files and a
/// user name for Redis ACL users: the names a user moving from EMQX
/// already has in its files.
pub const EMQX4_AUTH_REDIS: &Names = &[
    ("type", Setting::Type),
    ("server", Setting::Server),
    ("sentinel", Setting::Sentinel),
    ("pool", Setting::PoolSize),
    ("database", Setting::Database),
    ("username", Setting::Username),
    ("password", Setting::Password),
    ("ssl", Setting::Ssl),
    ("ssl.cacertfile", Setting::CaFile),
    ("ssl.certfile", Setting::CertFile),
    ("ssl.keyfile", Setting::KeyFile),
    ("cafile", Setting::CaFile),
    ("certfile", Setting::CertFile),
    ("keyfile", Setting::KeyFile),
];

impl Setting {
    /// The setting `name` stands for in `names`.
    pub fn find(names: &Names, name: &str) -> Option<Setting> {
        names.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
    }

    /// What `names` calls this setting first (or a plain word, should
    /// the table leave it out).
    pub fn name_in(self, names: &Names) -> &'static str {
        names
            .iter()
            .find(|(_, s)| *s == self)
            .map_or(self.plain_name(), |(n, _)| n)
    }

    fn plain_name(self) -> &'static str {
        match self {
            Setting::Type => "type",
            Setting::Server => "server",
            Setting::Sentinel => "sentinel",
            Setting::PoolSize => "pool_size",
            Setting::Database => "database",
            Setting::Username => "username",
            Setting::Password => "password",
            Setting::Ssl => "ssl",
            Setting::CaFile => "cafile",
            Setting::CertFile => "certfile",
            Setting::KeyFile => "keyfile",
        }
    }
}

/// The connection keys of one plugin's file: a prefix (`auth.redis.`,
/// `backend.redis.pool1.`) and the names after it.
#[derive(Debug, Clone)]
pub struct LinkKeys {
    prefix: String,
    names: &'static Names,
}

impl LinkKeys {
    /// Keys made of `prefix` and one of `names`.
    pub fn new(prefix: impl Into<String>, names: &'static Names) -> LinkKeys {
        LinkKeys {
            prefix: prefix.into(),
            names,
        }
    }

    /// The setting `key` (a whole key, prefix included) stands for.
    pub fn setting(&self, key: &str) -> Option<Setting> {
        Setting::find(self.names, key.strip_prefix(self.prefix.as_str())?)
    }

    /// The whole key of `setting`, for messages.
    pub fn key(&self, setting: Setting) -> String {
        format!("{}{}", self.prefix, setting.name_in(self.names))
    }

    /// Applies `entry` to `link` if its key is one of these: true when it
    /// was, false when the key is not a connection key (the plugin's
    /// own, or unknown). A bad value is an error naming line and key.
    pub fn apply(&self, link: &mut LinkConfig, entry: &Entry) -> Result<bool, ConfigError> {
        let Some(setting) = self.setting(&entry.key) else {
            return Ok(false);
        };
        link.set(setting, &entry.value)
            .map_err(|message| ConfigError::at_entry(entry, message))?;
        Ok(true)
    }

    /// [`LinkConfig::check`], its error naming `line` (where the settings
    /// begin) and the key at fault.
    pub fn check(&self, link: &LinkConfig, line: u32) -> Result<(), ConfigError> {
        link.check(self.names)
            .map_err(|(setting, message)| ConfigError::at(line, self.key(setting), message))
    }

    /// Reads a plugin's file with one link (`source` names it): the
    /// host's keys (`plugin.*`) are left to the host, the connection keys
    /// make the link, checked once all are read, and every other entry
    /// goes to `own`, in order, whose error stops the reading.
    pub fn read(
        &self,
        text: &str,
        source: &str,
        mut own: impl FnMut(&Entry) -> Result<(), ConfigError>,
    ) -> Result<LinkConfig, ConfigError> {
        let props = properties::parse(text, source).map_err(|error| ConfigError::from(&error))?;
        let mut link = LinkConfig::default();
        let mut first_link_line = None;
        for entry in &props {
            if entry.key.starts_with("plugin.") {
                continue;
            }
            if self.apply(&mut link, entry)? {
                first_link_line.get_or_insert(entry.line_number());
            } else {
                own(entry)?;
            }
        }
        self.check(&link, first_link_line.unwrap_or(1))?;
        Ok(link)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{PoolKind, Secret, Tls};

    fn read(text: &str, keys: &LinkKeys) -> Result<(LinkConfig, Vec<String>), ConfigError> {
        let mut other = Vec::new();
        let link = keys.read(text, "test.conf", |entry| {
            other.push(entry.key.clone());
            Ok(())
        })?;
        Ok((link, other))
    }

    #[test]
    fn emqx4_auth_lines_fill_the_settings_and_leave_the_rest() {
        let text = "auth.redis.type = sentinel\n\
                    auth.redis.server = 127.0.0.1:26379,127.0.0.2:26379\n\
                    auth.redis.sentinel = mymaster\n\
                    auth.redis.pool = 8\n\
                    auth.redis.database = 2\n\
                    auth.redis.password = public\n\
                    auth.redis.query_timeout = 5s\n\
                    auth.redis.auth_cmd = HMGET mqtt_user:%u password\n\
                    auth.redis.ssl = off\n\
                    auth.redis.ssl.cacertfile = /nonexistent/ca.pem\n\
                    auth.redis.ssl.certfile = /nonexistent/cert.pem\n\
                    auth.redis.ssl.keyfile = /nonexistent/key.pem\n";
        let (link, other) = read(text, &LinkKeys::new("auth.redis.", EMQX4_AUTH_REDIS)).unwrap();
        assert_eq!(
            link,
            LinkConfig {
                kind: PoolKind::Sentinel,
                servers: crate::parse_servers("127.0.0.1:26379,127.0.0.2:26379").unwrap(),
                sentinel: Some("mymaster".into()),
                pool_size: 8,
                database: 2,
                username: None,
                password: Some(Secret("public".into())),
                ssl: false,
                tls: Tls {
                    cafile: Some("/nonexistent/ca.pem".into()),
                    certfile: Some("/nonexistent/cert.pem".into()),
                    keyfile: Some("/nonexistent/key.pem".into()),
                },
            }
        );
        assert_eq!(other, ["auth.redis.query_timeout", "auth.redis.auth_cmd"]);
    }

    #[test]
    fn errors_name_the_plugins_own_key() {
        let keys = LinkKeys::new("auth.redis.", EMQX4_AUTH_REDIS);
        let error = read("\nauth.redis.pool = 0\n", &keys).unwrap_err();
        assert_eq!((error.line, error.key.as_str()), (2, "auth.redis.pool"));
        let error = read("auth.redis.type = sentinel\n", &keys).unwrap_err();
        assert_eq!(error.key.as_str(), "auth.redis.sentinel");
        assert!(error.message.contains("(sentinel = mymaster)"), "{error:?}");
        let error = read(
            "auth.redis.ssl = on\nauth.redis.certfile = /etc/hostname\n",
            &keys,
        )
        .unwrap_err();
        assert_eq!(error.key.as_str(), "auth.redis.ssl.keyfile");
        assert!(
            error.message.contains("both ssl.certfile and ssl.keyfile"),
            "{error:?}"
        );
        let error = read(
            "auth.redis.ssl = on\nauth.redis.ssl.cacertfile = /nonexistent/ca.pem\n",
            &keys,
        )
        .unwrap_err();
        assert_eq!(error.key.as_str(), "auth.redis.ssl.cacertfile");
        assert!(error.message.contains("cannot read /nonexistent/ca.pem"));
    }

    #[test]
    fn only_keys_under_the_prefix_are_taken() {
        let keys = LinkKeys::new("auth.redis.", EMQX4_AUTH_REDIS);
        assert_eq!(keys.setting("auth.redis.pool"), Some(Setting::PoolSize));
        assert_eq!(keys.setting("auth.redis.pool_size"), None);
        assert_eq!(keys.setting("backend.redis.pool"), None);
        assert_eq!(keys.setting("auth.redispool"), None);
        assert_eq!(keys.key(Setting::CaFile), "auth.redis.ssl.cacertfile");
        // A setting the table leaves out has a plain name in messages.
        let short = LinkKeys::new("x.", &[("host", Setting::Server)]);
        assert_eq!(short.key(Setting::Server), "x.host");
        assert_eq!(short.key(Setting::Database), "x.database");
    }
}
