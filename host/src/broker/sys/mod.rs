//! `$SYS`: the broker's own figures, published retained at `sys.interval`
//! in two trees, and the periodic clean-up that rides on the same tick.
//!
//! - [`node`]: `$SYS/brokers/<node>/...`, EMQX's layout, with what the
//!   limits refused.
//! - [`mosquitto`]: `$SYS/broker/...`, Mosquitto's layout and meanings,
//!   load averages included, for tools written against Mosquitto.

pub mod mosquitto;
pub mod node;

use std::sync::Arc;
use std::time::{Duration, Instant};

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
    let mut load = mosquitto::Load::new(Instant::now());
    loop {
        tick.tick().await;
        broker.router.expire_retained();
        if interval.is_some() {
            publish_all(&broker, &mut load);
        }
    }
}

/// Publishes every figure of both trees once; `load` keeps Mosquitto's
/// moving averages from one tick to the next.
pub fn publish_all(broker: &Broker, load: &mut mosquitto::Load) {
    let node: Arc<str> = Arc::from(broker.node_name());
    let emqx = node::figures(broker)
        .into_iter()
        .map(|(suffix, value)| (format!("$SYS/brokers/{node}/{suffix}"), value));
    let mosquitto = mosquitto::figures(broker, load, Instant::now())
        .into_iter()
        .map(|(suffix, value)| (format!("$SYS/broker/{suffix}"), value));
    for (topic, value) in emqx.chain(mosquitto) {
        let message = Message {
            id: broker.next_message_id(),
            topic: Arc::from(topic),
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
        broker.router.route(&message, super::router::Groups::All);
    }
}
