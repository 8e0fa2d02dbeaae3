//! Online state: `on_client_connected`, `on_client_disconnected` and the
//! mosquitto fork's `on_client_online_hash`.
//!
//! ```text
//! HMSET mqtt:client:${clientid} state 1 online_at NOW offline_at undefined
//! HSET  mqtt:node:${node} ${clientid} NOW
//! HMSET mqtt:client:${clientid} state 0 offline_at NOW
//! HDEL  mqtt:node:${node} ${clientid}
//! HSET  mqtt ${clientid} NOW        /  HDEL mqtt ${clientid}
//! ```
//!
//! NOW is the event's time in Unix seconds, not the time the write
//! reaches Redis: after an outage the hashes still say when it happened.

use redis::{cmd, Cmd};

use super::secs;
use crate::event::{ClientData, UNDEFINED};

/// `mqtt:client:${clientid}`.
pub fn client_key(client_id: &str) -> String {
    format!("mqtt:client:{client_id}")
}

/// `mqtt:node:${node}`.
pub fn node_key(node: &str) -> String {
    format!("mqtt:node:{node}")
}

/// The mosquitto fork's online hash.
pub const ONLINE_HASH: &str = "mqtt";

/// `on_client_connected`.
pub fn connected(client: &ClientData, out: &mut Vec<Cmd>) {
    let now = secs(client.ts_ms);
    let mut state = cmd("HMSET");
    state
        .arg(client_key(&client.client_id))
        .arg("state")
        .arg(1)
        .arg("online_at")
        .arg(now)
        .arg("offline_at")
        .arg(UNDEFINED);
    out.push(state);
    let mut node = cmd("HSET");
    node.arg(node_key(&client.node))
        .arg(&client.client_id)
        .arg(now);
    out.push(node);
}

/// `on_client_disconnected`.
pub fn disconnected(client: &ClientData, out: &mut Vec<Cmd>) {
    let mut state = cmd("HMSET");
    state
        .arg(client_key(&client.client_id))
        .arg("state")
        .arg(0)
        .arg("offline_at")
        .arg(secs(client.ts_ms));
    out.push(state);
    let mut node = cmd("HDEL");
    node.arg(node_key(&client.node)).arg(&client.client_id);
    out.push(node);
}

/// `on_client_online_hash`: the field is there while the client is.
pub fn online_hash(client: &ClientData, out: &mut Vec<Cmd>) {
    let mut command = if client.connected {
        let mut c = cmd("HSET");
        c.arg(ONLINE_HASH)
            .arg(&client.client_id)
            .arg(secs(client.ts_ms));
        c
    } else {
        let mut c = cmd("HDEL");
        c.arg(ONLINE_HASH).arg(&client.client_id);
        c
    };
    out.push(command.take());
}

/// The mosquitto fork's log line for a client going on or off line.
pub fn online_log_line(client_id: &str, connected: bool) -> String {
    let state = if connected { "online" } else { "offline" };
    format!("Updating client {client_id} to {state}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::words;

    fn client(connected: bool) -> ClientData {
        ClientData {
            client_id: "test".into(),
            username: None,
            peerhost: "127.0.0.1".into(),
            node: "mqhost@127.0.0.1".into(),
            ts_ms: 1_481_685_802_999,
            connected,
        }
    }

    #[test]
    fn connected_writes_the_seed_layout() {
        let mut out = Vec::new();
        connected(&client(true), &mut out);
        assert_eq!(
            out.iter().map(words).collect::<Vec<_>>(),
            [
                vec![
                    "HMSET",
                    "mqtt:client:test",
                    "state",
                    "1",
                    "online_at",
                    "1481685802",
                    "offline_at",
                    "undefined"
                ],
                vec!["HSET", "mqtt:node:mqhost@127.0.0.1", "test", "1481685802"],
            ]
        );
    }

    #[test]
    fn disconnected_sets_state_0_and_leaves_the_node() {
        let mut out = Vec::new();
        disconnected(&client(false), &mut out);
        assert_eq!(
            out.iter().map(words).collect::<Vec<_>>(),
            [
                vec![
                    "HMSET",
                    "mqtt:client:test",
                    "state",
                    "0",
                    "offline_at",
                    "1481685802"
                ],
                vec!["HDEL", "mqtt:node:mqhost@127.0.0.1", "test"],
            ]
        );
    }

    #[test]
    fn online_hash_adds_and_removes_the_field() {
        let mut out = Vec::new();
        online_hash(&client(true), &mut out);
        online_hash(&client(false), &mut out);
        assert_eq!(
            out.iter().map(words).collect::<Vec<_>>(),
            [
                vec!["HSET", "mqtt", "test", "1481685802"],
                vec!["HDEL", "mqtt", "test"],
            ]
        );
        assert_eq!(
            online_log_line("abc", true),
            "Updating client abc to online"
        );
        assert_eq!(
            online_log_line("abc", false),
            "Updating client abc to offline"
        );
    }
}
