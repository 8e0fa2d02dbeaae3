//! `$SYS/brokers/<node>/...`: the broker's figures in EMQX's layout, and
//! what the limits refused under the names the admin API also uses.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::broker::Broker;

/// The figures, as (topic suffix, value).
pub fn figures(broker: &Broker) -> Vec<(&'static str, String)> {
    let m = &broker.metrics;
    let load = |v: &AtomicU64| v.load(Ordering::Relaxed).to_string();
    let mut figures = vec![
        ("version", env!("CARGO_PKG_VERSION").to_owned()),
        ("uptime", broker.uptime_secs().to_string()),
        ("clients/connected", load(&m.clients_connected)),
        ("clients/maximum", load(&m.clients_maximum)),
        ("sessions/count", load(&m.sessions)),
        (
            "subscriptions/count",
            broker.router.subscription_count().to_string(),
        ),
        ("retained/count", broker.router.retained_count().to_string()),
        ("retained/bytes", broker.router.retained_bytes().to_string()),
        ("messages/received", m.messages_received().to_string()),
        ("messages/sent", m.messages_delivered().to_string()),
        ("messages/dropped", m.messages_dropped().to_string()),
        ("bytes/received", m.bytes_read().to_string()),
        ("bytes/sent", m.bytes_written().to_string()),
    ];
    // What the limits refused, as the admin API shows it.
    figures.extend(
        m.limits()
            .into_iter()
            .map(|(name, value)| (name, value.to_string())),
    );
    figures
}
