//! The plugin's figures for the admin API (`GET /api/v1/plugins`, `stats`
//! of `auth_redis`), and a limit on repeated log lines.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde_json::{json, Value};

/// Counters, shared by every lookup; kept across reloads.
#[derive(Default)]
pub(crate) struct Stats {
    /// Redis requests made (a login with a superuser lookup is one
    /// request of two pipelined commands).
    pub(crate) lookups: AtomicU64,
    /// Answers, whether at once or later: allow (superusers included),
    /// deny, ignore.
    pub(crate) allowed: AtomicU64,
    pub(crate) denied: AtomicU64,
    pub(crate) ignored: AtomicU64,
    /// Logins allowed as superusers (also counted in `allowed`).
    pub(crate) superusers: AtomicU64,
    /// Logins whose user has no stored password (nil or empty).
    pub(crate) not_found: AtomicU64,
    /// Questions answered without a lookup: the command needs a value
    /// the client does not have (no user name for `%u`).
    pub(crate) skipped: AtomicU64,
    /// Topic questions answered from a client's kept rules.
    pub(crate) cached: AtomicU64,
    /// Logins whose rules came in the login's own round trip and were
    /// kept.
    pub(crate) prefetched: AtomicU64,
    /// Lookups that failed: Redis unreachable, a connection that broke,
    /// an error reply (timeouts are counted apart).
    pub(crate) failures: AtomicU64,
    /// Lookups with no answer within `query_timeout`.
    pub(crate) timeouts: AtomicU64,
    /// Stored passwords that cannot be checked (a malformed bcrypt hash).
    pub(crate) bad_hashes: AtomicU64,
    /// ACL fields or values that could not be read, skipped.
    pub(crate) bad_rules: AtomicU64,
}

pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

pub(crate) fn inc(counter: &AtomicU64) {
    add(counter, 1);
}

impl Stats {
    /// The figures as JSON, with what the link says of itself.
    pub(crate) fn to_json(&self, redis: Value) -> Value {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        json!({
            "lookups": get(&self.lookups),
            "allowed": get(&self.allowed),
            "denied": get(&self.denied),
            "ignored": get(&self.ignored),
            "superusers": get(&self.superusers),
            "not_found": get(&self.not_found),
            "skipped": get(&self.skipped),
            "cached": get(&self.cached),
            "prefetched": get(&self.prefetched),
            "failures": get(&self.failures),
            "timeouts": get(&self.timeouts),
            "bad_hashes": get(&self.bad_hashes),
            "bad_rules": get(&self.bad_rules),
            "redis": redis,
        })
    }
}

/// Lets one log line of a kind through per period, and counts the ones
/// held back: a bad value stored for one user must not write a line per
/// login attempt.
pub(crate) struct Throttle {
    start: Instant,
    period_ms: u64,
    /// Milliseconds after `start` when the next line may go, plus one (0:
    /// the first line goes at once).
    next: AtomicU64,
    held: AtomicU64,
}

impl Throttle {
    pub(crate) fn new(period: std::time::Duration) -> Throttle {
        Throttle {
            start: Instant::now(),
            period_ms: period.as_millis() as u64,
            next: AtomicU64::new(0),
            held: AtomicU64::new(0),
        }
    }

    /// `Some(n)` when a line may go now, `n` lines having been held back
    /// since the last one; `None` when this one is held back.
    pub(crate) fn allow(&self) -> Option<u64> {
        let now = self.start.elapsed().as_millis() as u64 + 1;
        let next = self.next.load(Ordering::Relaxed);
        if now >= next
            && self
                .next
                .compare_exchange(
                    next,
                    now + self.period_ms,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            return Some(self.held.swap(0, Ordering::Relaxed));
        }
        self.held.fetch_add(1, Ordering::Relaxed);
        None
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_throttle_lets_one_line_through_per_period_and_counts_the_rest() {
        let throttle = Throttle::new(Duration::from_secs(3600));
        assert_eq!(throttle.allow(), Some(0));
        assert_eq!(throttle.allow(), None);
        assert_eq!(throttle.allow(), None);
        let open = Throttle::new(Duration::ZERO);
        assert_eq!(open.allow(), Some(0));
        // With no period every line goes.
        assert_eq!(open.allow(), Some(0));
    }

    #[test]
    fn stats_are_json_with_every_counter() {
        let stats = Stats::default();
        inc(&stats.lookups);
        add(&stats.bad_rules, 3);
        let json = stats.to_json(json!({"up": true}));
        assert_eq!(json["lookups"], 1);
        assert_eq!(json["bad_rules"], 3);
        assert_eq!(json["timeouts"], 0);
        assert_eq!(json["redis"]["up"], true);
    }
}
