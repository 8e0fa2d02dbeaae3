//! Rules: `backend.redis.hook.<hookpoint>.<n> = {JSON}`.
//!
//! ```text
//! {"topic": FILTER?, "action": {"function": NAME} | {"commands": [CMD, ...]},
//!  "pool": POOL, "expired_time": SECONDS?}
//! ```

use std::sync::Arc;

use mqhost_plugin_api::properties::Entry;
use mqhost_plugin_api::{topic, ConfigError};
use serde_json::{Map, Value};

use crate::commands::Commands;
use crate::functions::{Function, Kind};
use crate::hook::HookPoint;
use crate::rules::{Action, Rule};

/// The TTL of stored messages when neither the rule nor
/// `backend.redis.msg.expired_after` gives one.
pub(crate) const DEFAULT_TTL: u64 = 7200;

/// Reads `<hookpoint>.<n>` (what follows `backend.redis.hook.`).
pub(crate) fn parse_key(key: &str) -> Result<(HookPoint, u64), String> {
    let bad = || {
        format!(
            "expected backend.redis.hook.<hookpoint>.<n>, where <hookpoint> is one of {} \
             and <n> a number",
            HookPoint::ALL.map(HookPoint::name).join(", ")
        )
    };
    let (hook, order) = key.rsplit_once('.').ok_or_else(bad)?;
    let hook = HookPoint::from_name(hook).ok_or_else(|| {
        format!(
            "unknown hook point {hook:?}; expected one of {}",
            HookPoint::ALL.map(HookPoint::name).join(", ")
        )
    })?;
    if order.is_empty() || !order.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let order = order.parse().map_err(|_| bad())?;
    Ok((hook, order))
}

/// A rule and what it is worth warning about.
pub(crate) struct Checked {
    /// The rule.
    pub(crate) rule: Rule,
    /// Harmless oddities (a topic where the hook point has none).
    pub(crate) warnings: Vec<String>,
}

/// Reads the JSON of one rule. `pools` are every pool's name, sorted;
/// `default_ttl` applies when `expired_time` is missing or not positive.
pub(crate) fn parse(
    entry: &Entry,
    hook: HookPoint,
    order: u64,
    pools: &[&str],
    default_ttl: u64,
) -> Result<Checked, ConfigError> {
    let err = |message: String| ConfigError::at_entry(entry, message);
    let value: Value =
        serde_json::from_str(&entry.value).map_err(|e| err(format!("invalid JSON: {e}")))?;
    let Value::Object(object) = value else {
        return Err(err(
            "expected a JSON object such as {\"action\": {\"function\": \"on_message_publish\"}, \"pool\": \"pool1\"}"
                .to_owned(),
        ));
    };
    if let Some(unknown) = object
        .keys()
        .find(|k| !["topic", "action", "pool", "expired_time"].contains(&k.as_str()))
    {
        return Err(err(format!(
            "unknown field {unknown:?}; a rule has topic, action, pool and expired_time"
        )));
    }
    let mut warnings = Vec::new();

    let filter = match object.get("topic") {
        None | Some(Value::Null) => None,
        Some(Value::String(filter)) => {
            topic::validate_filter(filter)
                .map_err(|m| err(format!("\"topic\": invalid topic filter {filter:?}: {m}")))?;
            if !hook.has_topic() {
                warnings.push(format!(
                    "line {}: {}: \"topic\" is ignored at {}",
                    entry.line,
                    entry.key,
                    hook.name()
                ));
            }
            hook.has_topic().then(|| filter.clone())
        }
        Some(_) => return Err(err("\"topic\" must be a string (a topic filter)".to_owned())),
    };

    let action = parse_action(&object, hook).map_err(err)?;

    let needs_pool = !matches!(action, Action::Function(f) if f.kind() == Kind::Check);
    let (pool, pool_index) = match object.get("pool") {
        Some(Value::String(name)) => match pools.iter().position(|p| p == name) {
            Some(index) => (Some(name.clone()), index),
            None => {
                return Err(err(format!(
                    "pool {name:?} is not defined; {}",
                    if pools.is_empty() {
                        "define it with backend.redis.<pool>.server".to_owned()
                    } else {
                        format!("defined pools: {}", pools.join(", "))
                    }
                )))
            }
        },
        Some(_) => return Err(err("\"pool\" must be a string".to_owned())),
        // Unambiguous without it: the only pool.
        None if pools.len() == 1 => (Some(pools[0].to_owned()), 0),
        None if !needs_pool => (None, 0),
        None => {
            return Err(err(
                "missing \"pool\": name the pool the rule uses".to_owned()
            ))
        }
    };

    let ttl = match object.get("expired_time") {
        None | Some(Value::Null) => default_ttl,
        Some(value) => {
            let secs = match value {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            }
            .ok_or_else(|| err("\"expired_time\" must be a whole number of seconds".to_owned()))?;
            if secs > 0 {
                secs as u64
            } else {
                default_ttl
            }
        }
    };

    Ok(Checked {
        rule: Rule {
            hook,
            order,
            filter,
            action,
            pool,
            pool_index,
            ttl,
        },
        warnings,
    })
}

fn parse_action(object: &Map<String, Value>, hook: HookPoint) -> Result<Action, String> {
    let Some(Value::Object(action)) = object.get("action") else {
        return Err(
            "missing \"action\": {\"function\": NAME} or {\"commands\": [CMD, ...]}".to_owned(),
        );
    };
    match (action.get("function"), action.get("commands")) {
        (Some(_), Some(_)) => {
            Err("an action is either a \"function\" or \"commands\", not both".to_owned())
        }
        (Some(Value::String(name)), None) => {
            let function = Function::from_name(name).ok_or_else(|| {
                format!(
                    "unknown function {name:?}; the functions are {}",
                    Function::ALL.map(Function::name).join(", ")
                )
            })?;
            if !function.hooks().contains(&hook) {
                return Err(format!(
                    "{name} runs at {}, not at {}",
                    function
                        .hooks()
                        .iter()
                        .map(|h| h.name())
                        .collect::<Vec<_>>()
                        .join(" or "),
                    hook.name()
                ));
            }
            Ok(Action::Function(function))
        }
        (None, Some(Value::Array(list))) => {
            let list = list
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    _ => Err("\"commands\" must be a list of strings".to_owned()),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Action::Commands(Arc::new(Commands::parse(&list, hook)?)))
        }
        (Some(_), None) => Err("\"function\" must be a string".to_owned()),
        (None, Some(_)) => Err("\"commands\" must be a list of strings".to_owned()),
        (None, None) => Err("an action needs \"function\" or \"commands\"".to_owned()),
    }
}
