//! `etc/plugins/cluster.conf` → a checked [`Config`].
//!
//! - `cluster.name`: the cluster this node joins; nodes pointing at the
//!   same Redis with the same name are one cluster;
//! - the connection: `cluster.redis.type`, `server`, `sentinel`,
//!   `database`, `username`, `password`, `ssl`, `ssl.cacertfile`,
//!   `ssl.certfile`, `ssl.keyfile`: redis-link's settings under the same
//!   names as the `auth_redis` plugin's (one table, [`LINK_NAMES`]).
//!
//! `plugin.*` keys are the host's. Errors name the line and key; the host
//! adds the file.

use mqhost_plugin_api::ConfigError;
use mqhost_redis_link::{LinkConfig, LinkKeys, Names, EMQX4_AUTH_REDIS};

/// What every key of this plugin starts with.
pub(crate) const PREFIX: &str = "cluster.";

/// The connection keys' prefix.
const LINK_PREFIX: &str = "cluster.redis.";

/// The connection settings' names after [`LINK_PREFIX`]: the auth plugin's,
/// so that one habit serves both files.
pub(crate) const LINK_NAMES: &Names = EMQX4_AUTH_REDIS;

/// `cluster.name` when not set.
pub(crate) const DEFAULT_NAME: &str = "mqhost";

/// The longest cluster name: it is part of every key and channel.
const MAX_NAME_LEN: usize = 64;

/// A checked configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Config {
    /// `cluster.name`.
    pub(crate) name: String,
    /// Where the cluster's Redis is.
    pub(crate) link: LinkConfig,
    /// Things worth a warning that do not stop the configuration.
    pub(crate) warnings: Vec<String>,
}

/// Reads and checks the configuration text; `source` names the file.
pub(crate) fn parse(text: &str, source: &str) -> Result<Config, ConfigError> {
    let mut name = DEFAULT_NAME.to_owned();
    let mut warnings = Vec::new();
    let keys = LinkKeys::new(LINK_PREFIX, LINK_NAMES);
    let link = keys.read(text, source, |entry| {
        let key = entry.key.as_str();
        match key {
            "cluster.name" => {
                name = check_name(&entry.value).map_err(|m| ConfigError::at_entry(entry, m))?
            }
            _ if key.starts_with(PREFIX) => {
                return Err(ConfigError::at_entry(
                    entry,
                    format!("unknown key; expected one of {}", known_keys().join(", ")),
                ))
            }
            _ => warnings.push(format!(
                "line {}: {key}: unknown key, ignored (this plugin reads {PREFIX}*)",
                entry.line
            )),
        }
        Ok(())
    })?;
    Ok(Config {
        name,
        link,
        warnings,
    })
}

/// A cluster name: 1 to 64 characters of letters, digits, `-`, `_`, `.`,
/// so that it reads the same in every key and channel it names.
fn check_name(value: &str) -> Result<String, String> {
    let ok = !value.is_empty()
        && value.len() <= MAX_NAME_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(value.to_owned())
    } else {
        Err(format!(
            "expected 1 to {MAX_NAME_LEN} letters, digits, '-', '_' or '.', got {value:?}"
        ))
    }
}

/// Every key of this plugin, for the message about an unknown one.
fn known_keys() -> Vec<String> {
    let mut keys = vec![format!("{PREFIX}name")];
    keys.extend(
        LINK_NAMES
            .iter()
            .map(|(name, _)| format!("{LINK_PREFIX}{name}")),
    );
    keys
}

#[cfg(test)]
mod tests {
    use mqhost_redis_link::PoolKind;

    use super::*;

    #[test]
    fn the_name_and_the_redis_keys_are_read() {
        let config = parse(
            "plugin.enable = on\ncluster.name = east\ncluster.redis.type = cluster\n\
             cluster.redis.server = 10.0.0.1:7000,10.0.0.2:7000\ncluster.redis.password = s\n",
            "cluster.conf",
        )
        .unwrap();
        assert_eq!(config.name, "east");
        assert_eq!(config.link.kind, PoolKind::Cluster);
        assert_eq!(config.link.servers.len(), 2);
        assert!(config.warnings.is_empty());
    }

    #[test]
    fn an_empty_file_is_the_default_cluster_on_local_redis() {
        let config = parse("", "cluster.conf").unwrap();
        assert_eq!(config.name, DEFAULT_NAME);
        assert_eq!(config.link, LinkConfig::default());
    }

    #[test]
    fn bad_values_name_their_line_and_key() {
        let error = parse("\ncluster.name = a:b\n", "c").unwrap_err();
        assert_eq!((error.line, error.key.as_str()), (2, "cluster.name"));
        let error = parse("cluster.name =\n", "c").unwrap_err();
        assert_eq!(error.key.as_str(), "cluster.name");
        let error = parse("cluster.redis.type = ring\n", "c").unwrap_err();
        assert_eq!(error.key.as_str(), "cluster.redis.type");
        let error = parse("cluster.nmae = x\n", "c").unwrap_err();
        assert!(error.message.contains("cluster.name"), "{error:?}");
        let error = parse("cluster.redis.type = sentinel\n", "c").unwrap_err();
        assert_eq!(error.key.as_str(), "cluster.redis.sentinel");
    }

    #[test]
    fn the_shipped_file_is_the_default_cluster_and_warns_of_nothing() {
        let text = include_str!("../../../etc/plugins/cluster.conf");
        let config = parse(text, "cluster.conf").unwrap();
        assert_eq!(config.name, DEFAULT_NAME);
        assert_eq!(config.link, LinkConfig::default());
        assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    }

    #[test]
    fn keys_of_other_plugins_are_warned_of() {
        let config = parse("auth.redis.server = x\n", "c").unwrap();
        assert_eq!(config.warnings.len(), 1);
    }
}
