//! `etc/plugins/auth_redis.conf` → a checked [`Config`].
//!
//! The keys are EMQX 4's `emqx_auth_redis.conf`, unchanged:
//!
//! - the connection: `auth.redis.type`, `server`, `sentinel`, `pool`,
//!   `database`, `password` (and `username`, for Redis ACL users), `ssl`,
//!   `ssl.cacertfile`, `ssl.certfile`, `ssl.keyfile` (and 4.0-4.2's
//!   `cafile`, `certfile`, `keyfile`): redis-link's settings, under the
//!   names of [`LINK_NAMES`];
//! - `auth.redis.query_timeout`: how long a lookup may take;
//! - `auth.redis.auth_cmd`, `password_hash`, `super_cmd`, `acl_cmd`: the
//!   lookups ([`crate::template`], [`crate::hash`]); a command left out or
//!   empty turns its part off, as in EMQX 4;
//! - `auth.redis.failed_action`: what a lookup that failed answers;
//! - `auth.redis.acl_cache_ttl`: how long a client's rules are kept.
//!
//! `plugin.*` keys are the host's. Any error names the line and key, and
//! the host adds the file.

use std::time::Duration;

use mqhost_plugin_api::properties;
use mqhost_plugin_api::ConfigError;
use mqhost_redis_link::{LinkConfig, LinkKeys, Names, EMQX4_AUTH_REDIS};

use crate::hash::PasswordHash;
use crate::template::{Template, Var};

/// What every key of this plugin starts with.
pub(crate) const PREFIX: &str = "auth.redis.";

/// EMQX 4.4's names for the connection settings.
pub(crate) const LINK_NAMES: &Names = EMQX4_AUTH_REDIS;

/// The plugin's own keys, after the prefix.
const OWN_KEYS: &[&str] = &[
    "query_timeout",
    "auth_cmd",
    "password_hash",
    "super_cmd",
    "acl_cmd",
    "failed_action",
    "acl_cache_ttl",
    "ssl.verify",
    "ssl.server_name_indication",
];

/// `auth.redis.query_timeout` when not set: under the host's
/// `auth.timeout` (5 s by default), so that a slow Redis meets this
/// plugin's rule (`failed_action`) rather than the chain's timeout.
pub(crate) const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(3);

/// The longest `query_timeout`: longer waits only hold clients that the
/// host's `auth.timeout` gave up on.
const MAX_QUERY_TIMEOUT: Duration = Duration::from_secs(3600);

/// `auth.redis.acl_cache_ttl` when not set: the host's own `acl.cache_ttl`
/// default.
pub(crate) const DEFAULT_ACL_CACHE_TTL: Duration = Duration::from_secs(60);

/// What a lookup that failed (Redis unreachable, an error, slower than
/// `query_timeout`) answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailedAction {
    /// The next source decides (the default).
    Ignore,
    /// The client is refused.
    Deny,
}

impl FailedAction {
    pub(crate) fn name(self) -> &'static str {
        match self {
            FailedAction::Ignore => "ignore",
            FailedAction::Deny => "deny",
        }
    }
}

/// A checked configuration.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) link: LinkConfig,
    pub(crate) query_timeout: Duration,
    /// `None`: no authentication (the key is absent or empty).
    pub(crate) auth_cmd: Option<Template>,
    pub(crate) password_hash: PasswordHash,
    /// `None`: no client is a superuser.
    pub(crate) super_cmd: Option<Template>,
    /// `None`: no topic checks.
    pub(crate) acl_cmd: Option<Template>,
    pub(crate) failed_action: FailedAction,
    /// Zero: every topic question looks the rules up.
    pub(crate) acl_cache_ttl: Duration,
    /// Things worth a warning that do not stop the configuration.
    pub(crate) warnings: Vec<String>,
}

/// Reads and checks the configuration text; `source` names the file.
pub(crate) fn parse(text: &str, source: &str) -> Result<Config, ConfigError> {
    let mut config = Config {
        link: LinkConfig::default(),
        query_timeout: DEFAULT_QUERY_TIMEOUT,
        auth_cmd: None,
        password_hash: PasswordHash::Plain(crate::hash::Salt::None),
        super_cmd: None,
        acl_cmd: None,
        failed_action: FailedAction::Ignore,
        acl_cache_ttl: DEFAULT_ACL_CACHE_TTL,
        warnings: Vec::new(),
    };
    let keys = LinkKeys::new(PREFIX, LINK_NAMES);
    config.link = keys.read(text, source, |entry| {
        let key = entry.key.as_str();
        let Some(own) = key.strip_prefix(PREFIX) else {
            config.warnings.push(format!(
                "line {}: {key}: unknown key, ignored (this plugin reads {PREFIX}*)",
                entry.line
            ));
            return Ok(());
        };
        let value = entry.value.as_str();
        let at = |message: String| ConfigError::at_entry(entry, message);
        match own {
            "query_timeout" => {
                config.query_timeout = if value.is_empty() {
                    DEFAULT_QUERY_TIMEOUT
                } else {
                    parse_duration(value)
                        .and_then(|d| check_query_timeout(d, value))
                        .map_err(at)?
                };
            }
            "auth_cmd" => config.auth_cmd = command(value).map_err(at)?,
            "super_cmd" => config.super_cmd = command(value).map_err(at)?,
            "acl_cmd" => {
                let acl = command(value).map_err(at)?;
                if let Some(template) = &acl {
                    if template.uses(Var::CertCommonName) || template.uses(Var::CertSubject) {
                        return Err(at(
                            "an ACL lookup may use %u and %c (${username}, ${clientid}): \
                             a topic question carries no certificate"
                                .to_owned(),
                        ));
                    }
                }
                config.acl_cmd = acl;
            }
            "password_hash" => {
                config.password_hash = value.parse().map_err(|e| at(format!("{e}")))?;
            }
            "failed_action" => {
                config.failed_action = match value.to_ascii_lowercase().as_str() {
                    "ignore" => FailedAction::Ignore,
                    "deny" => FailedAction::Deny,
                    _ => return Err(at(format!("expected ignore or deny, got {value:?}"))),
                };
            }
            "acl_cache_ttl" => {
                config.acl_cache_ttl = parse_duration(value)
                    .and_then(|d| check_cache_ttl(d, value))
                    .map_err(at)?;
            }
            "ssl.verify" => {
                // EMQX 4 skips certificate checks unless this is true;
                // here they are always made.
                let verify = properties::parse_bool(value).map_err(at)?;
                if !verify {
                    config.warnings.push(format!(
                        "line {}: {key} = {value}: the server's certificate is checked all the \
                         same (against {PREFIX}ssl.cacertfile, or the system's CAs without it)",
                        entry.line
                    ));
                }
            }
            "ssl.server_name_indication" => config.warnings.push(format!(
                "line {}: {key}: ignored; the name checked is the host of {PREFIX}server",
                entry.line
            )),
            _ => {
                return Err(at(format!(
                    "unknown key; expected one of {}",
                    known_keys().join(", ")
                )))
            }
        }
        Ok(())
    })?;
    config.warnings.extend(advice(&config));
    Ok(config)
}

/// Every key under the prefix, for the message about an unknown one.
fn known_keys() -> Vec<String> {
    let mut names: Vec<&str> = LINK_NAMES.iter().map(|(name, _)| *name).collect();
    names.extend(OWN_KEYS);
    names.iter().map(|name| format!("{PREFIX}{name}")).collect()
}

/// A lookup command, `None` when the value is empty.
fn command(value: &str) -> Result<Option<Template>, String> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    Template::parse(value)
        .map(Some)
        .map_err(|error| error.to_string())
}

/// Settings that work but probably not as meant.
fn advice(config: &Config) -> Vec<String> {
    let mut warnings = Vec::new();
    if config.auth_cmd.is_none() && config.acl_cmd.is_none() {
        warnings.push(format!(
            "neither {PREFIX}auth_cmd nor {PREFIX}acl_cmd is set: this plugin answers nothing"
        ));
    }
    if let Some(auth) = &config.auth_cmd {
        let one_value = match auth.command() {
            "HMGET" => auth.arg_count() < 3,
            "GET" | "HGET" => true,
            _ => false,
        };
        if config.password_hash.uses_salt() && one_value {
            warnings.push(format!(
                "{PREFIX}password_hash = {} takes a salt, but {PREFIX}auth_cmd = {auth} returns \
                 one value: the salt is empty (add the salt field: HMGET mqtt_user:%u password salt)",
                config.password_hash
            ));
        }
    }
    if config.super_cmd.is_some() && config.auth_cmd.is_none() {
        warnings.push(format!(
            "{PREFIX}super_cmd is used only with {PREFIX}auth_cmd, which is not set"
        ));
    }
    warnings
}

fn check_query_timeout(timeout: Duration, value: &str) -> Result<Duration, String> {
    if timeout.is_zero() || timeout > MAX_QUERY_TIMEOUT {
        return Err(format!(
            "expected a duration from 1ms to 1h, got {value:?} (keep it under the broker's \
             auth.timeout)"
        ));
    }
    Ok(timeout)
}

fn check_cache_ttl(ttl: Duration, value: &str) -> Result<Duration, String> {
    if ttl > Duration::from_secs(24 * 3600) {
        return Err(format!(
            "expected a duration from 0 (no cache) to 1d, got {value:?}"
        ));
    }
    Ok(ttl)
}

/// A duration as EMQX 4 writes them (cuttlefish): one or more numbers,
/// each with a unit, `w`, `d`, `h`, `m`, `s` or `ms`, and an optional
/// fraction (`5s`, `500ms`, `1m30s`, `1.5s`). A bare whole number is
/// seconds, as in mqhost's own files (EMQX 4 refuses it).
pub(crate) fn parse_duration(value: &str) -> Result<Duration, String> {
    let bad = || format!("expected a duration such as 3s, 500ms or 1m30s, got {value:?}");
    let text = value.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let secs: u64 = text.parse().map_err(|_| bad())?;
        return Ok(Duration::from_secs(secs));
    }
    let mut rest = text;
    let mut total = Duration::ZERO;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .ok_or_else(bad)?;
        let (number, after) = rest.split_at(number_len);
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(bad());
        }
        let amount: f64 = number.parse().map_err(|_| bad())?;
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let unit_secs: f64 = match unit {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86_400.0,
            "w" => 604_800.0,
            _ => return Err(bad()),
        };
        let part = Duration::try_from_secs_f64(amount * unit_secs).map_err(|_| bad())?;
        total = total.checked_add(part).ok_or_else(bad)?;
        rest = next;
    }
    Ok(total)
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
