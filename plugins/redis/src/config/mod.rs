//! `etc/plugins/redis.conf` → a checked [`Config`]: pools, rules, the
//! legacy and mosquitto-compatibility keys.
//!
//! The file is validated as a whole (a rule may name a pool defined
//! further down); any error names the line and key, and the host adds the
//! file. Keys:
//!
//! - `backend.redis.<pool>.<setting>`: see [`pool::PoolConfig::set`].
//! - `backend.redis.hook.<hookpoint>.<n> = {JSON}`: see [`rule`].
//! - `backend.redis.msg.expired_after`: default `expired_time` (seconds).
//! - `redis_host`, `redis_port`, `redis_auth` (also written mosquitto
//!   style, without `=`): a pool named `default`, plus the fork's online
//!   hash and expiry check unless rules already use those functions.
//! - `plugin.enable`: read by the host.

pub(crate) mod compat;
pub(crate) mod pool;
pub(crate) mod rule;

use std::collections::BTreeMap;

use mqhost_plugin_api::properties::{self, Entry};
use mqhost_plugin_api::ConfigError;

pub(crate) use pool::PoolConfig;
use rule::DEFAULT_TTL;

use crate::hook::HookPoint;
use crate::rules::{Action, RuleSet};

/// What every key of this plugin starts with.
pub(crate) const PREFIX: &str = "backend.redis.";
/// The legacy default-TTL key.
pub(crate) const EXPIRED_AFTER: &str = "backend.redis.msg.expired_after";

/// A checked configuration.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// Every pool, sorted by name; a rule's `pool_index` points here.
    pub(crate) pools: Vec<PoolConfig>,
    /// Every rule, by hook point.
    pub(crate) rules: RuleSet,
    /// Things worth a warning that do not stop the configuration (an
    /// unknown key outside `backend.redis.`, a rule overridden by a later
    /// line with the same key).
    pub(crate) warnings: Vec<String>,
}

/// Reads and checks the configuration text; `source` names the file.
pub(crate) fn parse(text: &str, source: &str) -> Result<Config, ConfigError> {
    let text = compat::normalize(text);
    let props = properties::parse(&text, source).map_err(|error| ConfigError::from(&error))?;

    let mut pools: BTreeMap<String, PoolConfig> = BTreeMap::new();
    let mut rule_entries: BTreeMap<(HookPoint, u64), &Entry> = BTreeMap::new();
    let mut compat = compat::Keys::default();
    let mut expired_after: Option<u64> = None;
    let mut warnings = Vec::new();

    for entry in &props {
        let key = entry.key.as_str();
        if key.starts_with("plugin.") {
            // The host's keys (plugin.enable, plugin.priority).
            continue;
        }
        if compat.take(entry)? {
            continue;
        }
        let Some(rest) = key.strip_prefix(PREFIX) else {
            warnings.push(format!(
                "line {}: {key}: unknown key, ignored (this plugin reads {PREFIX}* and \
                 redis_host, redis_port, redis_auth)",
                entry.line
            ));
            continue;
        };
        if let Some(hook_key) = rest.strip_prefix("hook.") {
            let (hook, order) =
                rule::parse_key(hook_key).map_err(|m| ConfigError::at_entry(entry, m))?;
            if let Some(previous) = rule_entries.insert((hook, order), entry) {
                warnings.push(format!(
                    "line {}: {key} replaces the rule of line {}",
                    entry.line, previous.line
                ));
            }
            continue;
        }
        if key == EXPIRED_AFTER {
            let secs = properties::parse_duration_secs(&entry.value)
                .map_err(|m| ConfigError::at_entry(entry, m))?;
            expired_after = Some(secs);
            continue;
        }
        let Some((name, setting)) = rest.split_once('.') else {
            return Err(ConfigError::at_entry(
                entry,
                format!(
                    "unknown key; expected {PREFIX}<pool>.<setting>, {PREFIX}hook.<hookpoint>.<n> \
                     or {EXPIRED_AFTER}"
                ),
            ));
        };
        check_pool_name(name).map_err(|m| ConfigError::at_entry(entry, m))?;
        let pool = pools
            .entry(name.to_owned())
            .or_insert_with(|| PoolConfig::new(name, entry.line_number()));
        pool.set(setting, entry)
            .map_err(|m| ConfigError::at_entry(entry, m))?;
    }

    if let Some(default) = compat.pool()? {
        if let Some(existing) = pools.get(&default.name) {
            return Err(ConfigError::at(
                existing.line,
                format!("{PREFIX}{}", default.name),
                "redis_host/redis_port/redis_auth define the pool \"default\"; \
                 it cannot also be defined with backend.redis.default.*",
            ));
        }
        pools.insert(default.name.clone(), default);
    }
    for pool in pools.values() {
        pool.check()?;
    }
    let pools: Vec<PoolConfig> = pools.into_values().collect();
    let names: Vec<&str> = pools.iter().map(|p| p.name.as_str()).collect();

    let default_ttl = expired_after.filter(|s| *s > 0).unwrap_or(DEFAULT_TTL);
    let mut rules = Vec::new();
    for ((hook, order), entry) in rule_entries {
        let checked = rule::parse(entry, hook, order, &names, default_ttl)?;
        warnings.extend(checked.warnings);
        rules.push(checked.rule);
    }
    if compat.present() {
        rules.extend(compat.implied_rules(&rules, &names));
    }
    Ok(Config {
        pools,
        rules: RuleSet::new(rules),
        warnings,
    })
}

/// Pool names become part of keys: letters, digits, `_` and `-`, and not
/// the words the plugin uses for other keys.
fn check_pool_name(name: &str) -> Result<(), String> {
    if name == "hook" || name == "msg" {
        return Err(format!("{name:?} cannot name a pool"));
    }
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(format!(
            "invalid pool name {name:?}: use letters, digits, '_' and '-'"
        ));
    }
    Ok(())
}

impl Config {
    /// The pool called `name`.
    pub(crate) fn pool(&self, name: &str) -> Option<&PoolConfig> {
        self.pools.iter().find(|p| p.name == name)
    }

    /// One line for the broker log: pools and rules.
    pub(crate) fn describe(&self) -> String {
        let pools: Vec<String> = self
            .pools
            .iter()
            .map(|p| {
                format!(
                    "{} ({} {})",
                    p.name,
                    p.link.kind.name(),
                    p.link.describe_servers()
                )
            })
            .collect();
        let functions = self
            .rules
            .iter()
            .filter(|r| matches!(r.action, Action::Function(_)))
            .count();
        format!(
            "pools: {}; {} rules ({} functions, {} command lists)",
            if pools.is_empty() {
                "none".to_owned()
            } else {
                pools.join(", ")
            },
            self.rules.len(),
            functions,
            self.rules.len() - functions
        )
    }
}

#[cfg(test)]
mod tests;
