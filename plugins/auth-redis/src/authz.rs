//! `client.authorize`: a client's rules from `acl_cmd` (`HGETALL
//! mqtt_acl:%u`), read by [`crate::acl`], and kept per client.
//!
//! A rule that allows the publish or subscription answers `allow`;
//! otherwise the answer is `ignore` and the chain's next source (in the
//! end `acl.nomatch`) decides. A lookup that fails answers
//! `failed_action`.
//!
//! # Kept rules
//!
//! The host asks one question at a time per client and keeps its recent
//! answers (`acl.cache`), but each new topic is a new question: without
//! more, a SUBSCRIBE of ten filters would be ten round trips to Redis
//! one after the other, and a client publishing to many topics would wait
//! for Redis at each new one. So the rules a lookup returned are kept
//! for the client, and later questions are answered from them at once,
//! without a pending answer, until `auth.redis.acl_cache_ttl` (1 minute,
//! the host's own `acl.cache_ttl` default) has passed since the lookup,
//! the client disconnects, or the configuration is reloaded. Rules
//! changed in Redis apply to a connected client within that time (and
//! the host's own cache's). `acl_cache_ttl = 0` looks the rules up for
//! every question.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use redis::Value;

use crate::acl::AclRules;
use crate::template::Client;

/// Reads an `acl_cmd` reply: `HGETALL`'s flat list of fields and values
/// (RESP2) or its map (RESP3). Nil and an empty list are no rules. `None`
/// for a reply of another shape.
pub(crate) fn rules(reply: &Value, client: &Client<'_>) -> Option<AclRules> {
    match reply {
        Value::Nil => Some(AclRules::default()),
        Value::Array(items) => {
            let items: Vec<&[u8]> = items.iter().map(bytes).collect::<Option<_>>()?;
            Some(AclRules::parse_flat(&items, client))
        }
        Value::Map(pairs) => {
            let pairs: Vec<(&[u8], &[u8])> = pairs
                .iter()
                .map(|(field, value)| Some((bytes(field)?, bytes(value)?)))
                .collect::<Option<_>>()?;
            Some(AclRules::parse(pairs, client))
        }
        _ => None,
    }
}

fn bytes(value: &Value) -> Option<&[u8]> {
    match value {
        Value::BulkString(bytes) => Some(bytes),
        Value::SimpleString(text) => Some(text.as_bytes()),
        Value::VerbatimString { text, .. } => Some(text.as_bytes()),
        _ => None,
    }
}

/// One client's kept rules.
struct Kept {
    /// The user name they were looked up for: a client id reused by
    /// another user is looked up again.
    username: Option<Box<str>>,
    rules: Arc<AclRules>,
    fetched: Instant,
    /// The configuration they were looked up under.
    generation: u64,
}

/// Rules kept per client id.
pub(crate) struct RulesCache {
    map: Mutex<HashMap<Box<str>, Kept>>,
    /// Expired entries are swept when the map grows past this: rules
    /// stored just after their client disconnected would stay otherwise.
    sweep_at: Mutex<usize>,
}

/// The smallest size at which the map is swept.
const SWEEP_FLOOR: usize = 1024;

impl RulesCache {
    pub(crate) fn new() -> RulesCache {
        RulesCache {
            map: Mutex::new(HashMap::new()),
            sweep_at: Mutex::new(SWEEP_FLOOR),
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, Kept>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The rules kept for `client_id` and `username`, if they were looked
    /// up under `generation` less than `ttl` ago.
    pub(crate) fn get(
        &self,
        client_id: &str,
        username: Option<&str>,
        generation: u64,
        ttl: Duration,
    ) -> Option<Arc<AclRules>> {
        if ttl.is_zero() {
            return None;
        }
        let map = self.map();
        let kept = map.get(client_id)?;
        let fresh = kept.generation == generation
            && kept.username.as_deref() == username
            && kept.fetched.elapsed() < ttl;
        fresh.then(|| Arc::clone(&kept.rules))
    }

    /// Keeps `rules` for the client, looked up at `fetched`.
    pub(crate) fn put(
        &self,
        client_id: &str,
        username: Option<&str>,
        generation: u64,
        ttl: Duration,
        rules: Arc<AclRules>,
        fetched: Instant,
    ) {
        if ttl.is_zero() {
            return;
        }
        let mut map = self.map();
        map.insert(
            client_id.into(),
            Kept {
                username: username.map(Into::into),
                rules,
                fetched,
                generation,
            },
        );
        let mut sweep_at = self.sweep_at.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= *sweep_at {
            map.retain(|_, kept| kept.generation == generation && kept.fetched.elapsed() < ttl);
            *sweep_at = (map.len() * 2).max(SWEEP_FLOOR);
        }
    }

    /// Forgets a client's rules (it disconnected).
    pub(crate) fn remove(&self, client_id: &str) {
        self.map().remove(client_id);
    }

    /// Forgets every client's rules (the configuration changed).
    pub(crate) fn clear(&self) {
        let mut map = self.map();
        map.clear();
        map.shrink_to(SWEEP_FLOOR);
    }

    /// How many clients have rules kept.
    pub(crate) fn len(&self) -> usize {
        self.map().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::Access;

    const ALICE: Client<'static> = Client {
        client_id: "dev-1",
        username: Some("alice"),
        cert_common_name: None,
        cert_subject: None,
    };

    fn bulk(text: &str) -> Value {
        Value::BulkString(text.as_bytes().to_vec())
    }

    #[test]
    fn hgetall_replies_of_both_protocols_are_rules() {
        let flat = Value::Array(vec![bulk("a/%u/#"), bulk("2"), bulk("b"), bulk("1")]);
        let rules = rules(&flat, &ALICE).unwrap();
        assert_eq!(rules.len(), 2);
        assert!(rules.allows(Access::Publish, "a/alice/x", 1, false));
        assert!(!rules.allows(Access::Publish, "a/bob/x", 1, false));
        assert!(rules.allows(Access::Subscribe, "b", 0, false));

        let map = Value::Map(vec![(bulk("c"), bulk("all"))]);
        let rules = super::rules(&map, &ALICE).unwrap();
        assert!(rules.allows(Access::Publish, "c", 2, true));

        assert!(super::rules(&Value::Nil, &ALICE).unwrap().is_empty());
        assert!(super::rules(&Value::Array(vec![]), &ALICE)
            .unwrap()
            .is_empty());
        // Not HGETALL's shape.
        assert!(super::rules(&bulk("x"), &ALICE).is_none());
        assert!(super::rules(&Value::Array(vec![Value::Int(1)]), &ALICE).is_none());
    }

    #[test]
    fn kept_rules_hold_for_their_client_user_and_configuration_only() {
        let cache = RulesCache::new();
        let ttl = Duration::from_secs(60);
        let rules = Arc::new(AclRules::default());
        cache.put("c1", Some("u"), 1, ttl, rules, Instant::now());
        assert!(cache.get("c1", Some("u"), 1, ttl).is_some());
        assert!(cache.get("c1", Some("other"), 1, ttl).is_none());
        assert!(cache.get("c1", None, 1, ttl).is_none());
        assert!(cache.get("c1", Some("u"), 2, ttl).is_none());
        assert!(cache.get("c2", Some("u"), 1, ttl).is_none());
        // Too old.
        let old = Instant::now() - Duration::from_secs(61);
        cache.put("c3", Some("u"), 1, ttl, Arc::default(), old);
        assert!(cache.get("c3", Some("u"), 1, ttl).is_none());
        cache.remove("c1");
        assert!(cache.get("c1", Some("u"), 1, ttl).is_none());
        cache.clear();
        assert_eq!(cache.len(), 0);
        // No ttl, no keeping.
        cache.put(
            "c1",
            Some("u"),
            1,
            Duration::ZERO,
            Arc::default(),
            Instant::now(),
        );
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn expired_rules_are_swept_as_the_map_grows() {
        let cache = RulesCache::new();
        let ttl = Duration::from_secs(60);
        let old = Instant::now() - Duration::from_secs(61);
        for i in 0..SWEEP_FLOOR - 1 {
            cache.put(&format!("gone-{i}"), None, 1, ttl, Arc::default(), old);
        }
        assert_eq!(cache.len(), SWEEP_FLOOR - 1);
        cache.put("live", None, 1, ttl, Arc::default(), Instant::now());
        assert_eq!(cache.len(), 1);
    }
}
