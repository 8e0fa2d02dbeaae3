//! A rough throughput check, ignored by default (it wants a release build
//! and a quiet machine):
//!
//! ```sh
//! cargo build --release -p mqhost -p mqhost-redis
//! cargo test --release -p mqhost-tests --test e2e redis::perf -- --ignored --nocapture
//! ```
//!
//! QoS 1, one publisher to one subscriber on `queue/perf`, 64-byte
//! payloads, at most 500 messages published and not yet received (so no
//! broker queue overflows), first against mqhost alone, then against mqhost
//! with the Redis backend storing every message (`on_message_publish`) and
//! consuming it on the ack (`on_message_acked_for_queue`): five commands a
//! message. It prints the delivery rate of both, and for the plugin the
//! rate at which every message's keys were written and consumed (the run
//! ends when Redis has answered all of them and no key is left) and the
//! Redis commands per second. `MQHOST_PERF_MESSAGES` sets the count
//! (default 500,000). The plugin's queue is sized to hold the whole run's
//! writes: the broker delivers faster than Redis takes them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use mqhost_codec::{decode, encode, Packet, ProtocolVersion, PubAck, Publish, QoS};
use mqhost_tests::redis::{wait_until, RedisServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

const V: ProtocolVersion = ProtocolVersion::V3_1_1;
const WINDOW: u64 = 500;
const TOPIC: &str = "queue/perf";

/// Runs the load; returns messages per second at the subscriber.
async fn load(broker: &Broker, total: u64) -> f64 {
    let mut sub = client(broker, "perf-sub").await;
    sub.subscribe(TOPIC, QoS::AtLeastOnce).await;
    let (sub_stream, leftover) = sub.into_parts();
    let publisher = client(broker, "perf-pub").await;
    let (pub_stream, _) = publisher.into_parts();
    let received = Arc::new(AtomicU64::new(0));
    let progress = Arc::new(tokio::sync::Notify::new());

    let counter = Arc::clone(&received);
    let wake = Arc::clone(&progress);
    let subscriber = tokio::spawn(async move {
        let (mut read, mut write) = sub_stream.into_split();
        let mut input = leftover;
        input.reserve(1 << 20);
        let mut output = BytesMut::with_capacity(1 << 16);
        while counter.load(Ordering::Relaxed) < total {
            if read.read_buf(&mut input).await.unwrap() == 0 {
                break;
            }
            while let Some(packet) = decode(&mut input, Some(V), u32::MAX).unwrap() {
                if let Packet::Publish(p) = packet {
                    let ack = PubAck {
                        packet_id: p.packet_id,
                        reason: 0,
                        properties: Default::default(),
                    };
                    encode(&Packet::PubAck(ack), V, &mut output).unwrap();
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            }
            write.write_all(&output).await.unwrap();
            output.clear();
            wake.notify_one();
        }
    });
    let (mut read, mut write) = pub_stream.into_split();
    let acks = tokio::spawn(async move {
        let mut input = BytesMut::with_capacity(1 << 20);
        while read.read_buf(&mut input).await.unwrap_or(0) > 0 {
            while decode(&mut input, Some(V), u32::MAX).unwrap().is_some() {}
        }
    });
    let started = Instant::now();
    let payload = bytes::Bytes::from(vec![0x2a; 64]);
    let mut output = BytesMut::with_capacity(1 << 16);
    let mut sent = 0u64;
    while sent < total {
        let waiting = sent - received.load(Ordering::Relaxed);
        if waiting >= WINDOW {
            progress.notified().await;
            continue;
        }
        for _ in 0..(WINDOW - waiting).min(total - sent).min(200) {
            let publish = Publish {
                dup: false,
                qos: QoS::AtLeastOnce,
                retain: false,
                topic: TOPIC.to_owned(),
                packet_id: (sent % 60_000) as u16 + 1,
                payload: payload.clone(),
                properties: Default::default(),
            };
            encode(&Packet::Publish(publish), V, &mut output).unwrap();
            sent += 1;
        }
        write.write_all(&output).await.unwrap();
        output.clear();
    }
    subscriber.await.unwrap();
    let rate = total as f64 / started.elapsed().as_secs_f64();
    acks.abort();
    rate
}

fn commands_processed(conn: &mut redis::Connection) -> u64 {
    let info: String = redis::cmd("INFO").arg("stats").query(conn).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("total_commands_processed:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap()
}

#[tokio::test]
#[ignore = "a benchmark: run it in release mode on a quiet machine"]
async fn qos1_one_to_one_with_every_message_stored_and_consumed() {
    let total: u64 = std::env::var("MQHOST_PERF_MESSAGES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(500_000);

    let plain = Broker::start_with(&[("mqtt.max_inflight", "1000")]);
    let alone = load(&plain, total).await;
    drop(plain);

    let redis_server = RedisServer::start();
    let mut redis = redis_server.client();
    // The broker delivers faster than one Redis takes five commands a
    // message, so writes pile up while the run lasts: the queue must hold
    // them all, or the measure would be of what overflow drops.
    let rules = [
        format!(
            "backend.redis.pool1.max_queued_commands = {}\n\
             backend.redis.pool1.max_queued_bytes = 4GB\n",
            5 * total
        ),
        function("message.publish", 1, "on_message_publish", Some("#")),
        function(
            "message.acked",
            1,
            "on_message_acked_for_queue",
            Some("queue/#"),
        ),
    ]
    .concat();
    let (_dirs, broker) = start_broker(&config_for(&redis_server.addr(), &rules));
    let before = commands_processed(&mut redis);
    let started = Instant::now();
    let with_plugin = load(&broker, total).await;
    let expected = before + 5 * total;
    let written = wait_until(Duration::from_secs(120), || {
        commands_processed(&mut redis) >= expected
    });
    let elapsed = started.elapsed().as_secs_f64();
    let stats = plugin_stats(&broker).await;
    assert!(
        written,
        "Redis did not get every message's five commands: {stats}"
    );
    let commands = commands_processed(&mut redis) - before;
    let left: u64 = redis::cmd("DBSIZE").query(&mut redis).unwrap();
    println!(
        "QoS 1, 1 -> 1, {total} messages of 64 bytes\n\
         mqhost alone:              {alone:>9.0} msg/s\n\
         mqhost + redis, delivered: {with_plugin:>9.0} msg/s ({:.0}% of alone)\n\
         every key written and consumed: {:>9.0} msg/s ({:.0}% of alone), \
         {:.0} Redis commands/s\n\
         plugin: {}",
        100.0 * with_plugin / alone,
        total as f64 / elapsed,
        100.0 * total as f64 / elapsed / alone,
        commands as f64 / elapsed,
        stats["pools"]["pool1"]
    );
    assert_eq!(left, 0, "keys left in Redis");
    assert_eq!(stats["pools"]["pool1"]["overflow"], 0, "{stats}");
}
