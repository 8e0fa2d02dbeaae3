//! What an `auth.redis.acl_cmd` lookup (`HGETALL mqtt_acl:%u`) returns: a
//! user's topic rules, and whether they allow a publish or a subscription.
//!
//! # Rules
//!
//! Each hash field is a topic filter, each value what it allows:
//!
//! - EMQX 4: an integer whose bit of value 1 allows subscribing and bit
//!   of value 2 publishing: `1` subscribe, `2` publish, `3` both (`0`
//!   allows nothing).
//!   As in EMQX 4 (`list_to_integer` then `band`) a sign and leading
//!   zeros are accepted.
//! - EMQX 5: `subscribe`, `publish` or `all`, or a JSON object
//!   `{"action": "publish", "qos": [0, 1], "retain": false}`: `action` is
//!   `publish` (or `pub`), `subscribe` (`sub`) or `all` and required;
//!   `qos` a QoS, a list of them, or a string such as `"0,1"` (default:
//!   all three); `retain` `true`, `false`, `0`, `1`, their strings or
//!   `"all"` (default: either), checked for publishing only. A QoS outside
//!   the list is refused, not downgraded: the rule does not allow it.
//!   Other keys are ignored, as in EMQX 5, except `permission`: EMQX 5
//!   drops it and allows, so a rule written `"permission": "deny"` would
//!   grant what it names; here a rule whose `permission` is anything but
//!   `"allow"` is skipped as bad.
//!
//! A field may hold `%u` / `${username}` and `%c` / `${clientid}`, filled
//! in with the client's user name and client id, or start with `eq ` (EMQX
//! 5): the rest is then compared with the topic as text, wildcards and
//! placeholders included, and not matched as a filter.
//!
//! # Deciding
//!
//! Rules only allow: [`AclRules::allows`] is true when some rule allows
//! the action on the topic, and false otherwise, which the plugin answers
//! as `ignore` so that the next source (in the end `acl.nomatch`) decides,
//! as EMQX 5 does; EMQX 4 denied there, which `acl.nomatch = deny` gives.
//! Matching is [`mqhost_plugin_api::topic::matches`], the broker's own.
//! A subscription's filter is matched as if it were a topic name, as EMQX
//! does (`emqx_topic:match(Filter, Rule)`): a rule `a/#` allows
//! subscribing to `a/+/c`, a rule `a/b` does not allow `a/+`. One
//! difference, on purpose: EMQX lets a `+` of the rule match a `#` of the
//! subscription as a plain level, so its rule `a/+` allows subscribing to
//! `a/#`, which receives `a/b/c` too. Here a subscription's `#` needs a
//! `#` in the rule at the same level or before: a rule allows no
//! subscription that receives more than the rule names.
//!
//! A subscription is checked without its `$share/GROUP/` prefix, as EMQX
//! 4 does (`emqx_topic:parse` strips it before its ACL check), so a rule
//! `jobs/#` covers `$share/workers/jobs/#`.
//!
//! A rule with a placeholder does not apply to a client whose value could
//! widen it (the rule of CVE-2017-7650, as the host's `acl.file` patterns
//! follow it): when the value holds `+` or `#`, or when it would make a
//! filter that does not start with `$` start with it (a client id `$SYS`
//! under `%c/#`). Nor does it apply when the client has no value (no user
//! name for `%u`); EMQX 4 left `%u` in the filter as text there. A value
//! holding `/` is allowed and spans levels, as in EMQX and Mosquitto: a
//! client that may pick its client id can pick another client's anyway.
//!
//! # Bad values and bounds
//!
//! A field or value that cannot be read (not UTF-8, not a valid filter,
//! an unknown value, bad JSON, a value longer than [`MAX_VALUE_LEN`]) is
//! skipped and counted ([`AclRules::bad`]), never an error: the other rules
//! still apply. Only the first [`MAX_RULES`] pairs of a reply are read;
//! the rest are counted ([`AclRules::over_limit`]) and ignored. Which ones
//! come first is Redis's order, so a hash that long should be split.

use mqhost_plugin_api::topic::{matches, strip_share, validate_filter};
use serde_json::Value;

use crate::template::{self, Client, Part, Var};

/// The most rules read from one reply. A check compares the topic with
/// each rule in turn: measured with a release build, about 0.2 µs per rule
/// for a six-level topic that shares its first levels with the rules, so
/// a check costs at most about 50 µs however large the user's hash, and
/// reading a full reply about 130 µs. EMQX sets no bound; users rarely
/// have more than a few dozen rules.
pub const MAX_RULES: usize = 256;

/// The longest value read, in bytes; longer ones are bad. A rule's JSON
/// is a few dozen bytes.
pub const MAX_VALUE_LEN: usize = 1024;

/// What a client asks to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Subscribe,
    Publish,
}

/// QoS levels a rule allows, as bits 0 to 2.
const ALL_QOS: u8 = 0b111;

/// One rule, with the client's values filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    filter: String,
    /// `eq` rule: the topic must be the same text.
    exact: bool,
    subscribe: bool,
    publish: bool,
    /// Allowed QoS levels as bits.
    qos: u8,
    /// `Some`: publishing needs this retain flag.
    retain: Option<bool>,
}

/// A client's rules, read from one ACL lookup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AclRules {
    rules: Vec<Rule>,
    bad: usize,
    not_applicable: usize,
    over_limit: usize,
}

/// What a value allows.
struct Grant {
    subscribe: bool,
    publish: bool,
    qos: u8,
    retain: Option<bool>,
}

impl AclRules {
    /// Reads `pairs` (field, value), the reply of `HGETALL`, for `client`.
    pub fn parse<'r, I>(pairs: I, client: &Client<'_>) -> AclRules
    where
        I: IntoIterator<Item = (&'r [u8], &'r [u8])>,
    {
        let mut acl = AclRules::default();
        for (index, (field, value)) in pairs.into_iter().enumerate() {
            if index >= MAX_RULES {
                acl.over_limit += 1;
                continue;
            }
            acl.add(field, value, client);
        }
        acl
    }

    /// Reads a flat reply, field then value, as Redis sends `HGETALL`'s
    /// in RESP2. A field without a value at the end counts as bad.
    pub fn parse_flat<B: AsRef<[u8]>>(reply: &[B], client: &Client<'_>) -> AclRules {
        let pairs = reply.chunks_exact(2);
        let odd = pairs.remainder().len();
        let mut acl = AclRules::parse(
            pairs.map(|pair| (pair[0].as_ref(), pair[1].as_ref())),
            client,
        );
        acl.bad += odd;
        acl
    }

    fn add(&mut self, field: &[u8], value: &[u8], client: &Client<'_>) {
        let (Some(grant), Ok(field)) = (parse_value(value), std::str::from_utf8(field)) else {
            self.bad += 1;
            return;
        };
        if !grant.subscribe && !grant.publish {
            // `0`: a rule that allows nothing, not a mistake.
            return;
        }
        let (filter, exact) = match field.strip_prefix("eq ") {
            Some(topic) => (topic.to_owned(), true),
            None => match fill_filter(field, client) {
                Ok(Some(filter)) => (filter, false),
                Ok(None) => {
                    self.not_applicable += 1;
                    return;
                }
                Err(()) => {
                    self.bad += 1;
                    return;
                }
            },
        };
        if validate_filter(&filter).is_err() {
            self.bad += 1;
            return;
        }
        self.rules.push(Rule {
            filter,
            exact,
            subscribe: grant.subscribe,
            publish: grant.publish,
            qos: grant.qos,
            retain: grant.retain,
        });
    }

    /// Whether some rule allows `access` to `topic` (a topic name to
    /// publish to, or a filter to subscribe with) at `qos`, with `retain`
    /// (publish only). False means no rule allows it: the lookup's answer
    /// is then `ignore`.
    pub fn allows(&self, access: Access, topic: &str, qos: u8, retain: bool) -> bool {
        let topic = match access {
            Access::Subscribe => strip_share(topic),
            Access::Publish => topic,
        };
        let qos_bit = match qos {
            0..=2 => 1 << qos,
            _ => return false,
        };
        self.rules.iter().any(|rule| {
            let action = match access {
                Access::Subscribe => rule.subscribe,
                Access::Publish => rule.publish && rule.retain.unwrap_or(retain) == retain,
            };
            action
                && rule.qos & qos_bit != 0
                && if rule.exact {
                    rule.filter == topic
                } else {
                    match access {
                        Access::Subscribe => covers(&rule.filter, topic),
                        Access::Publish => matches(&rule.filter, topic),
                    }
                }
        })
    }

    /// How many rules were read.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether no rule was read.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Fields or values that could not be read, skipped.
    pub fn bad(&self) -> usize {
        self.bad
    }

    /// Rules with a placeholder that do not apply to this client: no
    /// value, or one that would widen the rule.
    pub fn not_applicable(&self) -> usize {
        self.not_applicable
    }

    /// Pairs past [`MAX_RULES`], not read.
    pub fn over_limit(&self) -> usize {
        self.over_limit
    }
}

/// Whether every topic the subscription `filter` can receive matches
/// `rule`: [`matches`] with the subscription taken literally, as EMQX does
/// it, except that a subscription's `#` must meet a `#` of the rule at
/// the same level or an earlier one. EMQX lets a `+` of the rule match it,
/// so that a rule `a/+` allows subscribing to `a/#`, which also receives
/// `a` and `a/b/c`.
fn covers(rule: &str, filter: &str) -> bool {
    if !matches(rule, filter) {
        return false;
    }
    if !filter.ends_with('#') {
        return true;
    }
    rule.ends_with('#') && rule.split('/').count() <= filter.split('/').count()
}

/// `field` with `%u`, `%c`, `${username}` and `${clientid}` filled in:
/// `Ok(None)` when the rule does not apply to this client, `Err` when the
/// field cannot be read.
fn fill_filter(field: &str, client: &Client<'_>) -> Result<Option<String>, ()> {
    let parts = template::parse_parts(field, &[Var::Username, Var::ClientId]).map_err(|_| ())?;
    let mut filter = String::with_capacity(field.len());
    for part in &parts {
        match part {
            Part::Text(text) => filter.push_str(text),
            Part::Var(var) => match client.value(*var) {
                Some(value) if !value.contains(['+', '#']) => filter.push_str(value),
                _ => return Ok(None),
            },
        }
    }
    // A value may not carry the rule into the `$` topics.
    let dollar_rule = matches!(parts.first(), Some(Part::Text(text)) if text.starts_with('$'));
    if filter.starts_with('$') && !dollar_rule {
        return Ok(None);
    }
    Ok(Some(filter))
}

/// What `value` allows, or `None` if it cannot be read.
fn parse_value(value: &[u8]) -> Option<Grant> {
    if value.len() > MAX_VALUE_LEN {
        return None;
    }
    let text = std::str::from_utf8(value).ok()?;
    let all = |subscribe, publish| Grant {
        subscribe,
        publish,
        qos: ALL_QOS,
        retain: None,
    };
    if let Ok(bits) = text.parse::<i64>() {
        return Some(all(bits & 1 != 0, bits & 2 != 0));
    }
    match text {
        "subscribe" => return Some(all(true, false)),
        "publish" => return Some(all(false, true)),
        "all" => return Some(all(true, true)),
        _ => {}
    }
    let Value::Object(rule) = serde_json::from_str::<Value>(text).ok()? else {
        return None;
    };
    if rule
        .get("permission")
        .is_some_and(|p| p.as_str() != Some("allow"))
    {
        return None;
    }
    let (subscribe, publish) = match rule.get("action")?.as_str()? {
        "subscribe" | "sub" => (true, false),
        "publish" | "pub" => (false, true),
        "all" => (true, true),
        _ => return None,
    };
    Some(Grant {
        subscribe,
        publish,
        qos: parse_qos(rule.get("qos").unwrap_or(&Value::Null))?,
        retain: parse_retain(rule.get("retain").unwrap_or(&Value::Null))?,
    })
}

/// A JSON `qos` as EMQX 5 reads it: a QoS, a list of them (numbers or
/// strings), a comma-separated string, or null for all three.
fn parse_qos(value: &Value) -> Option<u8> {
    let one = |value: &Value| -> Option<u8> {
        let level = match value {
            Value::Number(n) => n.as_u64()?,
            Value::String(s) => match s.as_str() {
                "0" => 0,
                "1" => 1,
                "2" => 2,
                _ => return None,
            },
            _ => return None,
        };
        (level <= 2).then(|| 1 << level)
    };
    match value {
        Value::Null => Some(ALL_QOS),
        Value::Number(_) => one(value),
        Value::String(s) => s.split(',').try_fold(0, |bits, level| {
            Some(bits | one(&Value::String(level.into()))?)
        }),
        Value::Array(levels) => levels
            .iter()
            .try_fold(0, |bits, level| Some(bits | one(level)?)),
        _ => None,
    }
}

/// A JSON `retain` as EMQX 5 reads it: `Some(None)` for either flag.
fn parse_retain(value: &Value) -> Option<Option<bool>> {
    match value {
        Value::Null => Some(None),
        Value::Bool(b) => Some(Some(*b)),
        Value::Number(n) => match n.as_u64()? {
            0 => Some(Some(false)),
            1 => Some(Some(true)),
            _ => None,
        },
        Value::String(s) => match s.as_str() {
            "0" | "false" => Some(Some(false)),
            "1" | "true" => Some(Some(true)),
            "all" => Some(None),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
#[path = "acl_tests.rs"]
mod tests;
