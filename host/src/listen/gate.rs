//! How many connections a listener takes: at most so many open at once
//! and so many new ones a second. Over either limit a connection is
//! closed as soon as it is accepted, counted, and logged at most once a
//! second.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Why a connection was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Over {
    /// `max_connections` (or the open-file budget) reached.
    Connections,
    /// `max_conn_rate` reached.
    Rate,
}

/// The limits of one listener, or of the whole broker.
#[derive(Debug)]
pub struct Gate {
    max: u64,
    open: AtomicU64,
    rate: Option<Mutex<Bucket>>,
    last_warning: Mutex<Option<Instant>>,
}

/// A token bucket: `per_second` tokens a second, holding a second's worth,
/// so a burst of up to one second's allowance is let through at once.
#[derive(Debug)]
struct Bucket {
    per_second: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.per_second);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// A connection let in: its place is given back when this is dropped.
#[derive(Debug)]
pub struct Slot(Arc<Gate>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Gate {
    /// A gate for `max` connections at once and `per_second` new ones a
    /// second (`None`: no rate limit).
    pub fn new(max: u64, per_second: Option<u32>) -> Arc<Gate> {
        Arc::new(Gate {
            max,
            open: AtomicU64::new(0),
            rate: per_second.map(|per_second| {
                Mutex::new(Bucket {
                    per_second: f64::from(per_second),
                    tokens: f64::from(per_second),
                    at: Instant::now(),
                })
            }),
            last_warning: Mutex::new(None),
        })
    }

    /// The most connections open at once.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// Connections open now.
    pub fn open(&self) -> u64 {
        self.open.load(Ordering::Relaxed)
    }

    /// Lets one more connection in, or says which limit it is over.
    pub fn admit(self: &Arc<Self>) -> Result<Slot, Over> {
        let admitted = self
            .open
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |open| {
                (open < self.max).then_some(open + 1)
            });
        if admitted.is_err() {
            return Err(Over::Connections);
        }
        let slot = Slot(Arc::clone(self));
        if let Some(bucket) = &self.rate {
            let mut bucket = bucket.lock().unwrap_or_else(|e| e.into_inner());
            if !bucket.take(Instant::now()) {
                return Err(Over::Rate);
            }
        }
        Ok(slot)
    }

    /// Whether a refusal should be logged now: at most once a second, so
    /// that a flood of connections does not become a flood of log lines.
    pub fn should_warn(&self) -> bool {
        let mut last = self.last_warning.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        match *last {
            Some(at) if now.saturating_duration_since(at) < Duration::from_secs(1) => false,
            _ => {
                *last = Some(now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_connections_are_bounded_and_places_come_back() {
        let gate = Gate::new(2, None);
        let a = gate.admit().unwrap();
        let _b = gate.admit().unwrap();
        assert_eq!(gate.admit().unwrap_err(), Over::Connections);
        assert_eq!(gate.open(), 2);
        drop(a);
        assert!(gate.admit().is_ok());
    }

    #[test]
    fn the_rate_lets_a_second_s_worth_through_then_refills() {
        let start = Instant::now();
        let mut bucket = Bucket {
            per_second: 3.0,
            tokens: 3.0,
            at: start,
        };
        assert!((0..3).all(|_| bucket.take(start)));
        assert!(!bucket.take(start));
        assert!(!bucket.take(start + Duration::from_millis(300)));
        assert!(bucket.take(start + Duration::from_millis(400)));
        // Idle time does not bank more than a second's allowance.
        let later = start + Duration::from_secs(60);
        assert!((0..3).all(|_| bucket.take(later)));
        assert!(!bucket.take(later));
    }

    #[test]
    fn a_connection_over_the_rate_does_not_hold_a_place() {
        let gate = Gate::new(10, Some(1));
        let _first = gate.admit().unwrap();
        assert_eq!(gate.admit().unwrap_err(), Over::Rate);
        assert_eq!(gate.open(), 1);
    }
}
