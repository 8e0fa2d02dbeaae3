//! The SUB/UNSUB channel: one connection per pool `SUBSCRIBE`d to the
//! pool's `channel`, on which a business server publishes
//!
//! ```text
//! {"type": "subscribe", "topic": "topic0", "clientid": "test", "qos": "0"}
//! ```
//!
//! to subscribe (or unsubscribe) a client connected to this node. On a
//! cluster it is a plain SUBSCRIBE on one node, which receives a PUBLISH
//! sent to any node. The connection is made again after Redis restarts,
//! and when the pool's settings or channel change.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use mqhost_redis_link::connect_pubsub;
use serde_json::Value;
use tokio::sync::watch;

use super::shared::PoolShared;
use super::SharedConfig;

/// Longest wait between connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// An order received on the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Order {
    /// Subscribe (true) or unsubscribe.
    pub(crate) subscribe: bool,
    /// The topic filter.
    pub(crate) topic: String,
    /// The client.
    pub(crate) client_id: String,
    /// QoS for a subscription.
    pub(crate) qos: u8,
}

/// Reads an order: `type`, `topic` and `clientid` are required; `qos` is a
/// number or a numeric string, 0 when absent.
pub(crate) fn parse_order(payload: &[u8]) -> Result<Order, String> {
    let value: Value = serde_json::from_slice(payload).map_err(|e| format!("not JSON ({e})"))?;
    let text = |name: &str| match value.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(_) => Err(format!("\"{name}\" must be a non-empty string")),
        None => Err(format!("\"{name}\" is missing")),
    };
    let subscribe = match text("type")?.as_str() {
        "subscribe" => true,
        "unsubscribe" => false,
        other => {
            return Err(format!(
                "\"type\" must be \"subscribe\" or \"unsubscribe\", not {other:?}"
            ))
        }
    };
    let qos = match value.get("qos") {
        None | Some(Value::Null) => 0,
        Some(Value::Number(n)) => n.as_u64().ok_or("\"qos\" must be 0, 1 or 2")?,
        Some(Value::String(s)) => s.trim().parse().map_err(|_| "\"qos\" must be 0, 1 or 2")?,
        Some(_) => return Err("\"qos\" must be 0, 1 or 2".to_owned()),
    };
    if qos > 2 {
        return Err("\"qos\" must be 0, 1 or 2".to_owned());
    }
    Ok(Order {
        subscribe,
        topic: text("topic")?,
        client_id: text("clientid")?,
        qos: qos as u8,
    })
}

/// Carries out an order through the host, for a client connected here.
fn obey(shared: &PoolShared, payload: &[u8]) {
    shared
        .stats
        .channel_messages
        .fetch_add(1, Ordering::Relaxed);
    let order = match parse_order(payload) {
        Ok(order) => order,
        Err(error) => {
            shared.host.warn(&format!(
                "pool {}: ignored a channel message: {error}: {}",
                shared.name,
                String::from_utf8_lossy(&payload[..payload.len().min(200)])
            ));
            return;
        }
    };
    if !shared.host.is_connected(&order.client_id) {
        shared.host.debug(&format!(
            "pool {}: channel order for {} ignored: not connected to this node",
            shared.name, order.client_id
        ));
        return;
    }
    let result = if order.subscribe {
        shared
            .host
            .subscribe(&order.client_id, &order.topic, order.qos)
    } else {
        shared.host.unsubscribe(&order.client_id, &order.topic)
    };
    if let Err(error) = result {
        shared.host.warn(&format!(
            "pool {}: channel order to {} {} to {:?} failed: {error}",
            shared.name,
            if order.subscribe {
                "subscribe"
            } else {
                "unsubscribe"
            },
            order.client_id,
            order.topic
        ));
    }
}

/// Why a subscription ended.
enum End {
    /// The pool is gone.
    Stop,
    /// Connect again (lost, or the settings changed).
    Again,
}

/// Keeps the pool's channel subscribed until the pool is dropped.
pub(crate) async fn run(shared: Arc<PoolShared>, mut settings: watch::Receiver<SharedConfig>) {
    let mut backoff = Duration::from_millis(50);
    let mut failing = false;
    loop {
        let config = settings.borrow_and_update().clone();
        let connected = tokio::select! {
            result = connect_pubsub(&config.link) => result,
            changed = settings.changed() => {
                if changed.is_err() {
                    return;
                }
                continue;
            }
        };
        let (mut pubsub, peer) = match connected {
            Ok(connected) => connected,
            Err(error) => {
                if !failing {
                    shared.host.warn(&format!(
                        "pool {}: channel {}: cannot connect to {}: {error}; retrying",
                        shared.name,
                        config.channel,
                        config.link.target()
                    ));
                    failing = true;
                }
                if wait_or_stop(&mut settings, backoff).await {
                    return;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        if let Err(error) = pubsub.subscribe(&config.channel).await {
            shared.host.warn(&format!(
                "pool {}: cannot SUBSCRIBE to {} on {peer}: {error}",
                shared.name, config.channel
            ));
            if wait_or_stop(&mut settings, backoff).await {
                return;
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
            continue;
        }
        failing = false;
        backoff = Duration::from_millis(50);
        shared
            .stats
            .channel_connected
            .store(true, Ordering::Relaxed);
        shared.host.info(&format!(
            "pool {}: listening for SUB/UNSUB orders on channel {} at {peer}",
            shared.name, config.channel
        ));
        let end = {
            let mut messages = pubsub.on_message();
            loop {
                tokio::select! {
                    message = messages.next() => match message {
                        Some(message) => obey(&shared, message.get_payload_bytes()),
                        None => break End::Again,
                    },
                    changed = settings.changed() => {
                        if changed.is_err() {
                            break End::Stop;
                        }
                        let new = settings.borrow().clone();
                        if !new.same_connection(&config) || new.channel != config.channel {
                            break End::Again;
                        }
                        settings.borrow_and_update();
                    }
                }
            }
        };
        shared
            .stats
            .channel_connected
            .store(false, Ordering::Relaxed);
        match end {
            End::Stop => return,
            End::Again => {
                let lost = !settings.has_changed().unwrap_or(true);
                if lost {
                    shared.host.warn(&format!(
                        "pool {}: channel {} connection to {peer} lost; reconnecting",
                        shared.name, config.channel
                    ));
                    if wait_or_stop(&mut settings, backoff).await {
                        return;
                    }
                }
            }
        }
    }
}

/// Sleeps for `delay` unless the settings change first; true when the
/// pool is gone.
async fn wait_or_stop(settings: &mut watch::Receiver<SharedConfig>, delay: Duration) -> bool {
    tokio::select! {
        () = tokio::time::sleep(delay) => false,
        changed = settings.changed() => changed.is_err(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_order_is_read() {
        let order = parse_order(
            br#"{"type": "subscribe", "topic": "topic0", "clientid": "test", "qos": "0"}"#,
        )
        .unwrap();
        assert_eq!(
            order,
            Order {
                subscribe: true,
                topic: "topic0".into(),
                client_id: "test".into(),
                qos: 0
            }
        );
        let order =
            parse_order(br#"{"type":"unsubscribe","topic":"a/#","clientid":"c","qos":2}"#).unwrap();
        assert!(!order.subscribe);
        assert_eq!(order.qos, 2);
        assert_eq!(
            parse_order(br#"{"type":"subscribe","topic":"a","clientid":"c"}"#)
                .unwrap()
                .qos,
            0
        );
    }

    #[test]
    fn bad_orders_say_what_is_wrong() {
        assert!(parse_order(b"hello").unwrap_err().contains("not JSON"));
        assert!(parse_order(br#"{"type":"sub","topic":"a","clientid":"c"}"#)
            .unwrap_err()
            .contains("\"type\""));
        assert!(parse_order(br#"{"type":"subscribe","clientid":"c"}"#)
            .unwrap_err()
            .contains("\"topic\" is missing"));
        assert!(
            parse_order(br#"{"type":"subscribe","topic":"a","clientid":"c","qos":3}"#)
                .unwrap_err()
                .contains("qos")
        );
        assert!(
            parse_order(br#"{"type":"subscribe","topic":"a","clientid":"c","qos":"x"}"#).is_err()
        );
    }
}
