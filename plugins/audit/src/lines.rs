//! One JSON line per event: the format of the audit log.
//!
//! Every line starts with `hook`, `ts` (Unix milliseconds when the hook
//! ran) and `node`, then the event's own fields. The functions copy what
//! they need out of the borrowed event, so the line outlives the hook call.

use std::time::{SystemTime, UNIX_EPOCH};

use mqhost_plugin_api::{
    ClientEvent, DeliveryEvent, MessageEvent, SessionEvent, SubscriptionEvent,
};

use crate::json::{base64, Line};

/// The current time in Unix milliseconds (0 if the clock is before 1970).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn start(hook: &str, ts: u64, node: &str) -> Line {
    let mut line = Line::new();
    line.str("hook", hook).uint("ts", ts).str("node", node);
    line
}

/// `client.connected` or `client.disconnected`; `reason` is written only
/// for the latter, where it says why the connection ended.
pub fn client(hook: &str, ts: u64, event: &ClientEvent<'_>) -> String {
    let mut line = start(hook, ts, event.node.as_str());
    line.str("clientid", event.client_id.as_str())
        .opt_str("username", event.username.into_option().map(|u| u.as_str()))
        .str("peer", event.peer.as_str())
        .uint("protocol", event.protocol.into())
        .bool("clean_start", event.clean_start)
        .uint("keepalive", event.keep_alive.into());
    if hook == "client.disconnected" {
        line.str("reason", event.reason.as_str());
    }
    line.finish()
}

/// `session.created`.
pub fn session(ts: u64, event: &SessionEvent<'_>) -> String {
    let mut line = start("session.created", ts, event.node.as_str());
    line.str("clientid", event.client_id.as_str())
        .opt_str("username", event.username.into_option().map(|u| u.as_str()))
        .bool("resumed", event.resumed);
    line.finish()
}

/// `session.subscribed` or `session.unsubscribed`; `topic` is the filter.
pub fn subscription(hook: &str, ts: u64, event: &SubscriptionEvent<'_>) -> String {
    let mut line = start(hook, ts, event.node.as_str());
    line.str("clientid", event.client_id.as_str())
        .str("topic", event.filter.as_str())
        .uint("qos", event.qos.into())
        .bool("is_new", event.is_new);
    line.finish()
}

/// `message.publish`. With `payload`, a UTF-8 payload is written as the
/// string `payload`, any other as `payload_base64`; `dropped` says whether
/// the plugin dropped the message.
pub fn publish(ts: u64, message: &MessageEvent<'_>, payload: bool, dropped: bool) -> String {
    let bytes = message.payload.as_slice();
    let mut line = start("message.publish", ts, message.node.as_str());
    line.str("id", &message.id.to_base62())
        .str("topic", message.topic.as_str())
        .uint("qos", message.qos.into())
        .bool("retain", message.retain)
        .str("from", message.from.as_str())
        .uint("payload_size", bytes.len() as u64);
    if payload {
        match std::str::from_utf8(bytes) {
            Ok(text) => line.str("payload", text),
            Err(_) => line.str("payload_base64", &base64(bytes)),
        };
    }
    line.bool("dropped", dropped);
    line.finish()
}

/// `message.delivered` or `message.acked`: `clientid` is the receiver,
/// `qos` that of this delivery.
pub fn delivery(hook: &str, ts: u64, delivery: &DeliveryEvent<'_>) -> String {
    let message = &delivery.message;
    let mut line = start(hook, ts, message.node.as_str());
    line.str("clientid", delivery.client_id.as_str())
        .str("id", &message.id.to_base62())
        .str("topic", message.topic.as_str())
        .uint("qos", delivery.qos.into())
        .str("from", message.from.as_str());
    line.finish()
}
