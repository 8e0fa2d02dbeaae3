//! `$SYS/brokers/<node>/...`: the broker's own figures, published retained
//! at `sys.interval`, and the periodic clean-up that rides on the same tick.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use mqhost_codec::QoS;

use super::message::{unix_millis, Message};
use super::Broker;

/// How often expired retained messages are swept when `$SYS` is off.
const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// Publishes the `$SYS` topics every `interval` (None: never) and drops
/// expired retained messages.
pub async fn run(broker: Arc<Broker>, interval: Option<Duration>) {
    let mut tick = tokio::time::interval(interval.unwrap_or(SWEEP_INTERVAL));
    loop {
        tick.tick().await;
        broker.router.expire_retained();
        if interval.is_some() {
            publish_all(&broker);
        }
    }
}

/// The figures, as (topic suffix, value).
fn figures(broker: &Broker) -> Vec<(&'static str, String)> {
    let m = &broker.metrics;
    let load = |v: &std::sync::atomic::AtomicU64| v.load(Ordering::Relaxed).to_string();
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
        ("messages/received", load(&m.messages_received)),
        ("messages/sent", load(&m.messages_sent)),
        ("messages/dropped", load(&m.messages_dropped)),
        ("bytes/received", load(&m.bytes_received)),
        ("bytes/sent", load(&m.bytes_sent)),
    ];
    // What the limits refused, as the admin API shows it.
    figures.extend(
        m.limits()
            .into_iter()
            .map(|(name, value)| (name, value.to_string())),
    );
    figures
}

/// Publishes every figure once.
pub fn publish_all(broker: &Broker) {
    let node: Arc<str> = Arc::from(broker.node_name());
    for (suffix, value) in figures(broker) {
        let message = Message {
            id: broker.next_message_id(),
            topic: Arc::from(format!("$SYS/brokers/{node}/{suffix}")),
            payload: Bytes::from(value),
            qos: QoS::AtMostOnce,
            retain: true,
            properties: Default::default(),
            from: Arc::clone(&node),
            from_session: None,
            timestamp_ms: unix_millis(),
            expires_at: None,
        };
        // Straight to the router: these are the broker's own figures, not
        // messages received, and hooks need not see them.
        let message = Arc::new(message);
        broker.router.retain_own(&message);
        broker.router.route(&message);
    }
}
