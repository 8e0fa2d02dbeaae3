//! `$SYS/broker/...`: Mosquitto's tree, with Mosquitto's meanings, so that
//! dashboards and scripts written for Mosquitto read mqhost unchanged.
//!
//! Where Mosquitto's words and mqhost's counters differ, Mosquitto's
//! words win: `messages/received` counts packets of every type, as
//! Mosquitto's does, and `publish/bytes/*` count payload bytes only. The
//! load averages are Mosquitto's: for each figure, the number per minute
//! over the last tick, smoothed exponentially over 1, 5 and 15 minutes
//! (as the Unix load average is), printed with two decimals.
//!
//! Not published: `heap/*` (no allocator statistics), `store/messages/*`
//! (queued messages are counted per session, not in one store),
//! `messages/inflight` (Mosquitto no longer publishes it either),
//! `connection/#` (no bridges), and the deprecated aliases
//! (`clients/active`, `clients/inactive`, `messages/stored`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::broker::metrics::{Dropped, CONNECT, PUBLISH};
use crate::broker::Broker;

/// The figures whose load averages are published, under
/// `load/<name>/{1min,5min,15min}`.
const LOADS: [&str; 9] = [
    "bytes/received",
    "bytes/sent",
    "connections",
    "messages/received",
    "messages/sent",
    "publish/dropped",
    "publish/received",
    "publish/sent",
    "sockets",
];

/// The averaging windows, in seconds, and their names.
const WINDOWS: [(f64, &str); 3] = [(60.0, "1min"), (300.0, "5min"), (900.0, "15min")];

/// The moving averages between ticks.
pub struct Load {
    at: Instant,
    /// The counters at `at`, in [`LOADS`] order.
    last: Option<[u64; LOADS.len()]>,
    /// Per figure, per window: the average number per minute.
    averages: [[f64; WINDOWS.len()]; LOADS.len()],
}

impl Load {
    /// Averages of zero, counting from `now`.
    pub fn new(now: Instant) -> Load {
        Load {
            at: now,
            last: None,
            averages: [[0.0; WINDOWS.len()]; LOADS.len()],
        }
    }

    /// Moves the averages on to `now`, the counters being `current`.
    fn update(&mut self, current: [u64; LOADS.len()], now: Instant) {
        let seconds = now.saturating_duration_since(self.at).as_secs_f64();
        if let Some(last) = self.last {
            if seconds > 0.0 {
                for (i, averages) in self.averages.iter_mut().enumerate() {
                    let per_minute = current[i].saturating_sub(last[i]) as f64 * 60.0 / seconds;
                    for (average, (window, _)) in averages.iter_mut().zip(WINDOWS) {
                        let keep = (-seconds / window).exp();
                        *average = per_minute + keep * (*average - per_minute);
                    }
                }
            }
        }
        if seconds > 0.0 || self.last.is_none() {
            self.last = Some(current);
            self.at = now;
        }
    }
}

/// The counters the load averages follow, in [`LOADS`] order.
fn load_counters(broker: &Broker) -> [u64; LOADS.len()] {
    let m = &broker.metrics;
    let (packets_in, packets_out) = m.packets_total();
    let sockets = m.listeners().iter().map(|l| l.accepted_total()).sum();
    [
        m.bytes_read(),
        m.bytes_written(),
        m.packets_in(CONNECT).0,
        packets_in,
        packets_out,
        m.dropped_for(Dropped::QueueFull),
        m.packets_in(PUBLISH).0,
        m.packets_out(PUBLISH).0,
        sockets,
    ]
}

/// The figures at `now`, as (topic after `$SYS/broker/`, value); moves
/// `load` on to `now`.
pub fn figures(broker: &Broker, load: &mut Load, now: Instant) -> Vec<(String, String)> {
    let m = &broker.metrics;
    let get = |v: &AtomicU64| v.load(Ordering::Relaxed);
    let connected = get(&m.clients_connected);
    // Sessions outlive their connections: those without one are
    // Mosquitto's disconnected persistent clients.
    let sessions = get(&m.sessions);
    let counters = load_counters(broker);
    let (packets_in, packets_out) = m.packets_total();
    let (payload_in, payload_out) = m.payload_bytes();
    let mut figures: Vec<(String, String)> = [
        (
            "version",
            format!("mqhost version {}", env!("CARGO_PKG_VERSION")),
        ),
        ("uptime", format!("{} seconds", broker.uptime_secs())),
        ("clients/connected", connected.to_string()),
        (
            "clients/disconnected",
            sessions.saturating_sub(connected).to_string(),
        ),
        ("clients/expired", get(&m.sessions_expired).to_string()),
        ("clients/maximum", get(&m.clients_maximum).to_string()),
        ("clients/total", sessions.to_string()),
        ("messages/received", packets_in.to_string()),
        ("messages/sent", packets_out.to_string()),
        ("publish/messages/received", counters[6].to_string()),
        ("publish/messages/sent", counters[7].to_string()),
        ("publish/messages/dropped", counters[5].to_string()),
        ("publish/bytes/received", payload_in.to_string()),
        ("publish/bytes/sent", payload_out.to_string()),
        ("bytes/received", counters[0].to_string()),
        ("bytes/sent", counters[1].to_string()),
        (
            "subscriptions/count",
            broker.router.subscription_count().to_string(),
        ),
        (
            "retained messages/count",
            broker.router.retained_count().to_string(),
        ),
    ]
    .into_iter()
    .map(|(topic, value)| (topic.to_owned(), value))
    .collect();
    load.update(counters, now);
    for (name, averages) in LOADS.iter().zip(load.averages) {
        for (average, (_, window)) in averages.iter().zip(WINDOWS) {
            figures.push((format!("load/{name}/{window}"), format!("{average:.2}")));
        }
    }
    figures
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::HostConfig;

    fn value<'a>(figures: &'a [(String, String)], topic: &str) -> &'a str {
        figures
            .iter()
            .find(|(t, _)| t == topic)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {topic} in {figures:?}"))
    }

    #[test]
    fn a_steady_rate_brings_every_average_towards_it() {
        let start = Instant::now();
        let mut load = Load::new(start);
        let mut counters = [0u64; LOADS.len()];
        load.update(counters, start);
        // 100 a second, every second, for three hours (twelve times the
        // longest window): 6000 a minute.
        for second in 1..=3 * 3600 {
            counters[0] += 100;
            load.update(counters, start + Duration::from_secs(second));
        }
        for average in load.averages[0] {
            assert!((average - 6000.0).abs() < 1.0, "{average}");
        }
        // A figure that never moved stays at zero.
        assert_eq!(load.averages[1], [0.0; 3]);
    }

    #[test]
    fn the_shorter_window_follows_a_burst_faster() {
        let start = Instant::now();
        let mut load = Load::new(start);
        load.update([0; LOADS.len()], start);
        let mut counters = [0u64; LOADS.len()];
        counters[2] = 60;
        load.update(counters, start + Duration::from_secs(10));
        let [one, five, fifteen] = load.averages[2];
        // 360 a minute over those ten seconds.
        assert!(one > five && five > fifteen && fifteen > 0.0);
        assert!(one < 360.0);
        let expected = 360.0 * (1.0 - (-10.0f64 / 60.0).exp());
        assert!((one - expected).abs() < 1e-9, "{one} {expected}");
    }

    #[test]
    fn every_topic_of_the_tree_is_published_with_mosquittos_formats() {
        let broker = Broker::new(HostConfig::default());
        let mut load = Load::new(Instant::now());
        let figures = figures(&broker, &mut load, Instant::now());
        assert_eq!(
            value(&figures, "version"),
            format!("mqhost version {}", env!("CARGO_PKG_VERSION"))
        );
        assert!(value(&figures, "uptime").ends_with(" seconds"));
        assert_eq!(value(&figures, "clients/connected"), "0");
        assert_eq!(value(&figures, "retained messages/count"), "0");
        assert_eq!(value(&figures, "load/messages/received/15min"), "0.00");
        assert_eq!(figures.len(), 18 + LOADS.len() * WINDOWS.len());
        let mut topics: Vec<&str> = figures.iter().map(|(t, _)| t.as_str()).collect();
        topics.sort_unstable();
        topics.dedup();
        assert_eq!(topics.len(), figures.len());
    }
}
