//! What a plugin's hook calls cost: calls per hook point, counted per
//! thread ([`ThreadCounter`]), and how long they took, as histograms.
//!
//! Reading the clock twice around every call would cost a no-op plugin
//! taking every message hook about 40 ns a message, several percent of
//! QoS 1 throughput. So the hook points that fire per message
//! (`message.publish`, `message.delivered`, `message.acked`,
//! `client.authorize`) time one call in [`SAMPLE_EVERY`] on each thread,
//! chosen by the thread's own count of calls (no extra state, no random
//! numbers); the others, which fire per connection or subscription, time
//! every call. A histogram's `_count` is therefore the number of calls
//! timed, not of calls made: that is [`CallStats::calls`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mqhost_plugin_api::HookSet;

use super::grace::{Inside, ThreadCounter};

/// The hook points calls are counted at: `client.authorize.read` is a
/// way of being asked `client.authorize`, and counts as it.
pub const POINTS: [HookSet; 11] = [
    HookSet::CLIENT_CONNECTED,
    HookSet::CLIENT_DISCONNECTED,
    HookSet::SESSION_CREATED,
    HookSet::SESSION_SUBSCRIBED,
    HookSet::SESSION_UNSUBSCRIBED,
    HookSet::MESSAGE_PUBLISH,
    HookSet::MESSAGE_DELIVERED,
    HookSet::MESSAGE_ACKED,
    HookSet::CLIENT_AUTHENTICATE,
    HookSet::CLIENT_AUTHORIZE,
    HookSet::SESSION_RESUMING,
];

/// One hook point, by its place in [`POINTS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Point(usize);

impl Point {
    pub const CLIENT_CONNECTED: Point = Point(0);
    pub const CLIENT_DISCONNECTED: Point = Point(1);
    pub const SESSION_CREATED: Point = Point(2);
    pub const SESSION_SUBSCRIBED: Point = Point(3);
    pub const SESSION_UNSUBSCRIBED: Point = Point(4);
    pub const MESSAGE_PUBLISH: Point = Point(5);
    pub const MESSAGE_DELIVERED: Point = Point(6);
    pub const MESSAGE_ACKED: Point = Point(7);
    pub const CLIENT_AUTHENTICATE: Point = Point(8);
    pub const CLIENT_AUTHORIZE: Point = Point(9);
    pub const SESSION_RESUMING: Point = Point(10);

    /// Every point, in [`POINTS`] order.
    pub fn all() -> impl Iterator<Item = Point> {
        (0..POINTS.len()).map(Point)
    }

    /// Its name, as plugins and the configuration spell it.
    pub fn name(self) -> &'static str {
        POINTS[self.0].name().unwrap_or("unknown")
    }

    /// Whether it fires per message, so that only a sample is timed.
    fn sampled(self) -> bool {
        matches!(
            self,
            Point::MESSAGE_PUBLISH
                | Point::MESSAGE_DELIVERED
                | Point::MESSAGE_ACKED
                | Point::CLIENT_AUTHORIZE
        )
    }
}

/// Of the calls at a per-message hook point, each thread times one in
/// this many (a power of two: the test is a mask).
pub const SAMPLE_EVERY: u64 = 64;
const _: () = assert!(SAMPLE_EVERY.is_power_of_two());

/// Upper bounds of the latency buckets, in nanoseconds: a no-op plugin
/// answers in a few hundred, one that waits on something in
/// milliseconds.
pub const BOUNDS_NS: [u64; 16] = [
    250,
    500,
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
];

/// One hook point's timed calls. Only sampled calls write here, so shared
/// atomics do.
#[derive(Default)]
struct Latency {
    /// Calls per bucket (not cumulative); the last is above every bound.
    buckets: [AtomicU64; BOUNDS_NS.len() + 1],
    sum_ns: AtomicU64,
    count: AtomicU64,
}

/// A histogram as read: per bucket (upper bound in seconds, calls in it,
/// not cumulative), then the sum of the times in seconds and the count.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    pub buckets: Vec<(f64, u64)>,
    pub sum_seconds: f64,
    pub count: u64,
}

impl Latency {
    fn record(&self, took: Duration) {
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        let bucket = BOUNDS_NS
            .iter()
            .position(|bound| ns <= *bound)
            .unwrap_or(BOUNDS_NS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn read(&self) -> Histogram {
        let mut buckets: Vec<(f64, u64)> = BOUNDS_NS
            .iter()
            .zip(&self.buckets)
            .map(|(bound, n)| (*bound as f64 / 1e9, n.load(Ordering::Relaxed)))
            .collect();
        buckets.push((
            f64::INFINITY,
            self.buckets[BOUNDS_NS.len()].load(Ordering::Relaxed),
        ));
        // The count is the buckets' sum, so the two always agree even
        // while calls are being recorded.
        let count = buckets.iter().map(|(_, n)| n).sum();
        Histogram {
            buckets,
            sum_seconds: self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9,
            count,
        }
    }
}

/// One plugin instance's calls.
#[derive(Default)]
pub struct CallStats {
    calls: ThreadCounter<{ POINTS.len() }>,
    latency: [Latency; POINTS.len()],
}

/// A call being made: when it started, if it is timed.
pub struct Timing(Option<(Point, Instant)>);

impl CallStats {
    /// Counts a call at `point` by the thread in `inside`, and says
    /// whether to time it.
    #[inline]
    pub fn start(&self, inside: &Inside, point: Point) -> Timing {
        let count = self.calls.add(inside, point.0);
        if point.sampled() && count & (SAMPLE_EVERY - 1) != 0 {
            return Timing(None);
        }
        Timing(Some((point, Instant::now())))
    }

    /// Records a timed call's duration.
    #[inline]
    pub fn finish(&self, timing: Timing) {
        if let Some((point, started)) = timing.0 {
            self.latency[point.0].record(started.elapsed());
        }
    }

    /// Calls made at `point`.
    pub fn calls(&self, point: Point) -> u64 {
        self.calls.sum(point.0)
    }

    /// Calls made at every point.
    pub fn total(&self) -> u64 {
        self.calls.total()
    }

    /// The timed calls at `point`.
    pub fn latency(&self, point: Point) -> Histogram {
        self.latency[point.0].read()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::grace;

    #[test]
    fn points_are_named_as_plugins_name_them() {
        let names: Vec<&str> = Point::all().map(Point::name).collect();
        assert_eq!(
            names,
            [
                "client.connected",
                "client.disconnected",
                "session.created",
                "session.subscribed",
                "session.unsubscribed",
                "message.publish",
                "message.delivered",
                "message.acked",
                "client.authenticate",
                "client.authorize",
                "session.resuming",
            ]
        );
    }

    #[test]
    fn message_hooks_time_one_call_in_the_sample_and_others_every_call() {
        grace::prepare();
        let stats = CallStats::default();
        for _ in 0..10 * SAMPLE_EVERY {
            let inside = grace::enter();
            let timing = stats.start(&inside, Point::MESSAGE_PUBLISH);
            stats.finish(timing);
        }
        for _ in 0..5 {
            let inside = grace::enter();
            let timing = stats.start(&inside, Point::CLIENT_CONNECTED);
            stats.finish(timing);
        }
        assert_eq!(stats.calls(Point::MESSAGE_PUBLISH), 10 * SAMPLE_EVERY);
        assert_eq!(stats.latency(Point::MESSAGE_PUBLISH).count, 10);
        assert_eq!(stats.calls(Point::CLIENT_CONNECTED), 5);
        assert_eq!(stats.latency(Point::CLIENT_CONNECTED).count, 5);
        assert_eq!(stats.total(), 10 * SAMPLE_EVERY + 5);
        assert_eq!(stats.latency(Point::MESSAGE_ACKED).count, 0);
    }

    #[test]
    fn a_duration_lands_in_the_first_bucket_that_holds_it() {
        let latency = Latency::default();
        latency.record(Duration::from_nanos(250));
        latency.record(Duration::from_nanos(251));
        latency.record(Duration::from_secs(5));
        let read = latency.read();
        assert_eq!(read.count, 3);
        assert_eq!(read.buckets[0], (250e-9, 1));
        assert_eq!(read.buckets[1], (500e-9, 1));
        assert_eq!(*read.buckets.last().unwrap(), (f64::INFINITY, 1));
        assert!((read.sum_seconds - 5.000000501).abs() < 1e-12);
    }
}
