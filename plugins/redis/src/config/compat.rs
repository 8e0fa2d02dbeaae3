//! The mosquitto fork's keys (`shared/seeds/mosquitto-redis-fork.txt`):
//!
//! ```text
//! redis_host 127.0.0.1
//! redis_port 6379
//! redis_auth doordu
//! ```
//!
//! They define a pool named `default`, and turn on what the fork did
//! without being asked: the online hash `mqtt` and the `expired_at`
//! payload check, unless rules already use those functions.

use std::borrow::Cow;

use mqhost_plugin_api::properties::{self, Entry};
use mqhost_plugin_api::ConfigError;

use mqhost_redis_link::{Secret, Server};

use super::pool::PoolConfig;
use super::rule::DEFAULT_TTL;
use crate::functions::Function;
use crate::hook::HookPoint;
use crate::rules::{Action, Rule};

/// The three keys.
pub(crate) const KEYS: [&str; 3] = ["redis_host", "redis_port", "redis_auth"];
/// The pool they define.
pub(crate) const POOL: &str = "default";

/// Rewrites `redis_host 127.0.0.1` (mosquitto.conf style) as
/// `redis_host = 127.0.0.1`, line for line, so the properties parser
/// accepts what a user pastes from the seed. Other lines are untouched.
pub(crate) fn normalize(text: &str) -> Cow<'_, str> {
    let needs = text.lines().any(|line| split_bare(line).is_some());
    if !needs {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for line in text.split_inclusive('\n') {
        let (body, end) = if let Some(body) = line.strip_suffix("\r\n") {
            (body, "\r\n")
        } else if let Some(body) = line.strip_suffix('\n') {
            (body, "\n")
        } else {
            (line, "")
        };
        match split_bare(body) {
            Some((key, value)) => {
                out.push_str(key);
                out.push_str(" = ");
                out.push_str(value);
            }
            None => out.push_str(body),
        }
        out.push_str(end);
    }
    Cow::Owned(out)
}

/// `key value` for one of [`KEYS`] written without `=`.
fn split_bare(line: &str) -> Option<(&str, &str)> {
    let trimmed = line.trim();
    if trimmed.contains('=') {
        return None;
    }
    let (key, value) = trimmed.split_once(|c: char| c.is_ascii_whitespace())?;
    KEYS.contains(&key).then(|| (key, value.trim()))
}

/// The compatibility keys found.
#[derive(Debug, Default)]
pub(crate) struct Keys {
    host: Option<(String, u32)>,
    port: Option<(u16, u32)>,
    auth: Option<String>,
    first_line: Option<u32>,
}

impl Keys {
    /// Takes `entry` if it is one of the three keys.
    pub(crate) fn take(&mut self, entry: &Entry) -> Result<bool, ConfigError> {
        let value = entry.value.as_str();
        match entry.key.as_str() {
            "redis_host" => {
                if value.is_empty() || value.contains(char::is_whitespace) {
                    return Err(ConfigError::at_entry(
                        entry,
                        "expected a host name or address",
                    ));
                }
                self.host = Some((value.to_owned(), entry.line_number()));
            }
            "redis_port" => {
                let port = properties::parse_u16(value, 1..=65535)
                    .map_err(|m| ConfigError::at_entry(entry, m))?;
                self.port = Some((port, entry.line_number()));
            }
            "redis_auth" => self.auth = (!value.is_empty()).then(|| value.to_owned()),
            _ => return Ok(false),
        }
        self.first_line.get_or_insert(entry.line_number());
        Ok(true)
    }

    /// Whether any of the keys was given.
    pub(crate) fn present(&self) -> bool {
        self.first_line.is_some()
    }

    /// The `default` pool the keys define.
    pub(crate) fn pool(&self) -> Result<Option<PoolConfig>, ConfigError> {
        let Some(line) = self.first_line else {
            return Ok(None);
        };
        let mut pool = PoolConfig::new(POOL, line);
        let host = self
            .host
            .as_ref()
            .map_or("127.0.0.1".to_owned(), |(h, _)| h.clone());
        let port = self.port.map_or(6379, |(p, _)| p);
        // The host may be an IPv6 address; keep it as one server.
        pool.link.servers = vec![Server {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port: Some(port),
        }];
        pool.link.password = self.auth.clone().map(Secret);
        Ok(Some(pool))
    }

    /// The rules the fork implied: the online hash at connect and
    /// disconnect, and the expiry check, each unless a rule already uses
    /// the function. They run after the file's own rules.
    pub(crate) fn implied_rules(&self, rules: &[Rule], pools: &[&str]) -> Vec<Rule> {
        let pool_index = pools.iter().position(|p| *p == POOL).unwrap_or(0);
        let rule = |hook: HookPoint, function: Function, pool: Option<&str>| Rule {
            hook,
            order: u64::MAX,
            filter: None,
            action: Action::Function(function),
            pool: pool.map(str::to_owned),
            pool_index,
            ttl: DEFAULT_TTL,
        };
        let mut implied = Vec::new();
        if !uses(rules, Function::ClientOnlineHash) {
            for hook in [HookPoint::ClientConnected, HookPoint::ClientDisconnected] {
                implied.push(rule(hook, Function::ClientOnlineHash, Some(POOL)));
            }
        }
        if !uses(rules, Function::MessageExpiryCheck) {
            implied.push(rule(
                HookPoint::MessagePublish,
                Function::MessageExpiryCheck,
                None,
            ));
        }
        implied
    }
}

/// Whether some rule uses `function`.
fn uses(rules: &[Rule], function: Function) -> bool {
    rules
        .iter()
        .any(|r| matches!(r.action, Action::Function(f) if f == function))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_compat_lines_get_an_equals_sign() {
        let text = "# mosquitto.conf\nredis_host 127.0.0.1\r\n  redis_port\t6379\nredis_auth = x\nother thing\n";
        assert_eq!(
            normalize(text),
            "# mosquitto.conf\nredis_host = 127.0.0.1\r\nredis_port = 6379\nredis_auth = x\nother thing\n"
        );
        let untouched = "backend.redis.pool1.server = 127.0.0.1:6379\n";
        assert!(matches!(normalize(untouched), Cow::Borrowed(_)));
    }
}
