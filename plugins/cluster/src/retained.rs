//! The cluster's retained messages in Redis, for nodes that join later.
//!
//! Every node keeps the retained messages it is sent in its own store
//! (the bus sends each retained message to every node up); the node where
//! one was published also writes it, encoded as a one-message batch, into
//! the hash `…:retained` (topic → message), or deletes it when its payload
//! is empty. A node that joins reads the hash (`HSCAN`, a page at a time)
//! into its store before its listeners open, without routing anything.

use std::sync::atomic::Ordering;

use mqhost_plugin_api::MessageEvent;
use redis::Value;

use crate::membership::now_ms;
use crate::{wire, Shared};

/// How many entries one `HSCAN` asks for.
const PAGE: usize = 100;

/// The write for `message`, a retained message published here: its
/// topic, and its encoded form, or None to clear it.
pub(crate) fn entry(node: &str, message: &MessageEvent<'_>) -> (String, Option<Vec<u8>>) {
    let topic = message.topic.to_string();
    if message.payload.is_empty() {
        return (topic, None);
    }
    let mut bytes = Vec::with_capacity(64 + message.payload.len());
    wire::start_batch(&mut bytes, node);
    wire::put_message(&mut bytes, message, &[]);
    (topic, Some(bytes))
}

/// Reads the cluster's retained messages into this node's store; how many.
pub(crate) async fn catch_up(shared: &Shared) -> Result<usize, String> {
    let (_, mut conn) = shared.conn().await?;
    let key = shared.keys.retained();
    let mut cursor = String::from("0");
    let mut stored = 0;
    loop {
        let reply = conn
            .query(
                redis::cmd("HSCAN")
                    .arg(&key)
                    .arg(&cursor)
                    .arg("COUNT")
                    .arg(PAGE),
            )
            .await
            .map_err(|e| e.to_string())?;
        let (next, values) = page(reply)?;
        for value in values {
            stored += store(shared, &value);
        }
        if next == "0" {
            return Ok(stored);
        }
        cursor = next;
    }
}

/// An `HSCAN` reply: the next cursor and the page's values.
fn page(reply: Value) -> Result<(String, Vec<Vec<u8>>), String> {
    let (cursor, pairs): (String, Vec<Vec<u8>>) =
        redis::from_redis_value(reply).map_err(|e| format!("not an HSCAN reply: {e}"))?;
    Ok((cursor, pairs.into_iter().skip(1).step_by(2).collect()))
}

/// Puts one stored message into this node's store: 1 if it was, 0 if it
/// does not read or has expired.
fn store(shared: &Shared, bytes: &[u8]) -> usize {
    let Ok(batch) = wire::read_batch(bytes) else {
        shared
            .status
            .bus
            .bad_batches
            .fetch_add(1, Ordering::Relaxed);
        return 0;
    };
    let mut stored = 0;
    for mut frame in batch.frames {
        if let Some(left) = frame.expiry {
            let elapsed = now_ms().saturating_sub(frame.timestamp_ms) / 1000;
            match u64::from(left).checked_sub(elapsed).filter(|l| *l > 0) {
                Some(left) => frame.expiry = Some(left as u32),
                None => continue,
            }
        }
        if frame.retain
            && shared
                .host
                .publish_local(&frame.event(batch.node), false)
                .is_ok()
        {
            stored += 1;
        }
    }
    stored
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_gives_the_cursor_and_the_values() {
        let reply = Value::Array(vec![
            Value::BulkString(b"17".to_vec()),
            Value::Array(vec![
                Value::BulkString(b"a/b".to_vec()),
                Value::BulkString(b"one".to_vec()),
                Value::BulkString(b"c".to_vec()),
                Value::BulkString(b"two".to_vec()),
            ]),
        ]);
        let (cursor, values) = page(reply).unwrap();
        assert_eq!(cursor, "17");
        assert_eq!(values, [b"one".to_vec(), b"two".to_vec()]);
        assert!(page(Value::Int(1)).is_err());
    }
}
