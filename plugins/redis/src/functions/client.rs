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

use crate::event::{ClientData, UNDEFINED};
use crate::resp::CommandSink;

/// The mosquitto fork's online hash.
pub(crate) const ONLINE_HASH: &str = "mqtt";

/// `on_client_connected`.
pub(crate) fn connected(client: &ClientData, out: &mut impl CommandSink) {
    let now = client.ts_secs();
    out.begin(8);
    out.arg(b"HMSET");
    out.arg2(b"mqtt:client:", client.client_id.as_bytes());
    out.arg(b"state");
    out.arg(b"1");
    out.arg(b"online_at");
    out.arg_u64(now);
    out.arg(b"offline_at");
    out.arg(UNDEFINED.as_bytes());
    out.begin(4);
    out.arg(b"HSET");
    out.arg2(b"mqtt:node:", client.node.as_bytes());
    out.arg(client.client_id.as_bytes());
    out.arg_u64(now);
}

/// `on_client_disconnected`.
pub(crate) fn disconnected(client: &ClientData, out: &mut impl CommandSink) {
    out.begin(6);
    out.arg(b"HMSET");
    out.arg2(b"mqtt:client:", client.client_id.as_bytes());
    out.arg(b"state");
    out.arg(b"0");
    out.arg(b"offline_at");
    out.arg_u64(client.ts_secs());
    out.begin(3);
    out.arg(b"HDEL");
    out.arg2(b"mqtt:node:", client.node.as_bytes());
    out.arg(client.client_id.as_bytes());
}

/// `on_client_online_hash`: the field is there while the client is.
pub(crate) fn online_hash(client: &ClientData, out: &mut impl CommandSink) {
    if client.connected {
        out.begin(4);
        out.arg(b"HSET");
        out.arg(ONLINE_HASH.as_bytes());
        out.arg(client.client_id.as_bytes());
        out.arg_u64(client.ts_secs());
    } else {
        out.begin(3);
        out.arg(b"HDEL");
        out.arg(ONLINE_HASH.as_bytes());
        out.arg(client.client_id.as_bytes());
    }
}

/// The mosquitto fork's log line for a client going on or off line.
pub(crate) fn online_log_line(client_id: &str, connected: bool) -> String {
    let state = if connected { "online" } else { "offline" };
    format!("Updating client {client_id} to {state}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::{words, CmdList};

    fn run(f: impl FnOnce(&mut CmdList)) -> Vec<Vec<String>> {
        let mut out = CmdList::default();
        f(&mut out);
        out.cmds.iter().map(words).collect()
    }

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
        assert_eq!(
            run(|out| connected(&client(true), out)),
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
        assert_eq!(
            run(|out| disconnected(&client(false), out)),
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
        assert_eq!(
            run(|out| {
                online_hash(&client(true), out);
                online_hash(&client(false), out);
            }),
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
