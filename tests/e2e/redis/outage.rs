//! Redis away under load: paused (the connection stays open), killed and
//! restarted. MQTT traffic goes on at full speed, writes wait in the
//! bounded queue and every message's keys arrive afterwards, in order
//! (a message's ack never reaches Redis before its store); what overflows
//! the bound is counted, logged and shown in the stats.

use std::time::{Duration, Instant};

use mqhost_codec::{Packet, ProtocolVersion, QoS};
use mqhost_tests::raw::{publish, RawClient};
use mqhost_tests::redis::RedisServer;
use redis::Commands;

use super::*;

/// Stores, consumes on ack, and logs every id written.
fn queue_rules() -> String {
    [
        function("message.publish", 1, "on_message_publish", Some("#")),
        function("message.acked", 1, "on_message_acked_for_queue", Some("queue/#")),
        rule(
            "message.publish",
            2,
            r##"{"topic": "#", "action": {"commands": ["RPUSH seen:${topic} ${msgid}"]}, "pool": "pool1"}"##,
        ),
    ]
    .concat()
}

/// Publishes QoS 1 messages one after another (each waits for its
/// PUBACK); returns the slowest PUBACK.
async fn publish_for(
    client: &mut RawClient,
    topic: &str,
    count: &mut u32,
    how_long: Duration,
) -> Duration {
    let deadline = Instant::now() + how_long;
    let mut slowest = Duration::ZERO;
    while Instant::now() < deadline {
        *count += 1;
        let packet_id = (*count % 60_000) as u16 + 1;
        let started = Instant::now();
        client
            .send(Packet::Publish(publish(
                topic,
                &count.to_be_bytes(),
                QoS::AtLeastOnce,
                packet_id,
            )))
            .await;
        match client.recv().await {
            Some(Packet::PubAck(ack)) => assert_eq!(ack.packet_id, packet_id),
            other => panic!("expected PUBACK, got {other:?}"),
        }
        slowest = slowest.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    slowest
}

/// A subscriber that acknowledges everything it gets, counting.
fn acking_subscriber(mut sub: RawClient) -> tokio::task::JoinHandle<u32> {
    tokio::spawn(async move {
        let mut received = 0;
        while let Ok(Some(packet)) = sub.recv_within(Duration::from_secs(3)).await {
            if let Packet::Publish(message) = packet {
                received += 1;
                sub.puback(message.packet_id).await;
            }
        }
        received
    })
}

#[tokio::test]
async fn a_paused_redis_slows_no_client_and_every_key_arrives_after() {
    let setup = start(&queue_rules());
    let mut redis = setup.redis.client();
    let mut sub = client(&setup.broker, "sub").await;
    sub.subscribe("queue/x", QoS::AtLeastOnce).await;
    let subscriber = acking_subscriber(sub);
    let mut publisher =
        RawClient::connect(setup.broker.addr(), ProtocolVersion::V3_1_1, "pub").await;

    let mut count = 0;
    let normal = publish_for(
        &mut publisher,
        "queue/x",
        &mut count,
        Duration::from_millis(500),
    )
    .await;
    wait_key(&mut redis, "seen:queue/x");
    setup.redis.pause();
    let before = count;
    let paused = publish_for(
        &mut publisher,
        "queue/x",
        &mut count,
        Duration::from_secs(3),
    )
    .await;
    let during = count - before;
    setup.redis.resume();
    publish_for(
        &mut publisher,
        "queue/x",
        &mut count,
        Duration::from_millis(300),
    )
    .await;
    eprintln!("{count} messages, {during} while Redis was paused; slowest PUBACK {normal:?} before, {paused:?} during");
    assert!(
        paused < Duration::from_millis(500),
        "a PUBACK took {paused:?} while Redis was paused"
    );
    assert!(
        during > 100,
        "only {during} messages in 3 s while Redis was paused"
    );

    assert_eq!(subscriber.await.unwrap(), count);
    let ok = wait_until(Duration::from_secs(10), || {
        redis.llen::<_, u32>("seen:queue/x").unwrap() == count
    });
    assert!(
        ok,
        "{} of {count} ids written",
        redis.llen::<_, u32>("seen:queue/x").unwrap()
    );
    // Every message was stored and then consumed: had an ack overtaken its
    // store, the store would have left its hash and id behind.
    assert!(wait_until(WAIT, || zrange(&mut redis, "mqtt:msg:queue/x").is_empty()));
    let left: Vec<String> = redis.keys("mqtt:msg:*").unwrap();
    assert!(
        left.is_empty(),
        "{} keys left, e.g. {:?}",
        left.len(),
        left.first()
    );
}

#[tokio::test]
async fn a_redis_restart_under_load_loses_no_write() {
    // Persistence on for this one, so that what Redis acknowledged before
    // the crash is still there after it.
    let mut redis_server =
        RedisServer::start_with(&["--appendonly", "yes", "--appendfsync", "always"]);
    let (_dirs, broker) = start_broker(&config_for(
        &redis_server.addr(),
        &function("message.publish", 1, "on_message_publish", Some("#")),
    ));
    let mut publisher = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "pub").await;
    let mut count = 0;
    publish_for(&mut publisher, "t", &mut count, Duration::from_millis(500)).await;
    redis_server.kill();
    let slowest = publish_for(&mut publisher, "t", &mut count, Duration::from_secs(2)).await;
    assert!(
        slowest < Duration::from_millis(500),
        "a PUBACK took {slowest:?} while Redis was down"
    );
    assert!(
        broker
            .wait_for_log("lost the connection to Redis", WAIT)
            .is_some()
            || broker.wait_for_log("cannot connect to", WAIT).is_some()
    );
    redis_server.restart();
    publish_for(&mut publisher, "t", &mut count, Duration::from_millis(300)).await;

    let mut redis = redis_server.client();
    let ok = wait_until(Duration::from_secs(15), || {
        redis.zcard::<_, u32>("mqtt:msg:t").unwrap_or(0) == count
    });
    assert!(
        ok,
        "{} of {count} messages indexed",
        redis.zcard::<_, u32>("mqtt:msg:t").unwrap()
    );
    for id in zrange(&mut redis, "mqtt:msg:t") {
        let topic: String = redis.hget(format!("mqtt:msg:{id}"), "topic").unwrap();
        assert_eq!(topic, "t");
    }
    let line = broker
        .wait_for_log("queued commands", WAIT)
        .expect("a reconnect line");
    assert!(
        line.contains("pool pool1: connected to") && line.contains(" after "),
        "{line}"
    );
    let stats = settled_stats(&broker, |s| s["pools"]["pool1"]["queued"] == 0).await;
    let pool = &stats["pools"]["pool1"];
    assert_eq!(pool["queued"], 0, "{stats}");
    assert_eq!(pool["overflow"], 0, "{stats}");
    assert!(pool["reconnects"].as_u64().unwrap() >= 1, "{stats}");
}

#[tokio::test]
async fn writes_beyond_the_bound_are_counted_logged_and_shown() {
    let mut redis_server = RedisServer::start();
    let (_dirs, broker) = start_broker(&config_for(
        &redis_server.addr(),
        &format!(
            "backend.redis.pool1.max_queued_commands = 30\n{}",
            function("message.publish", 1, "on_message_publish", Some("#"))
        ),
    ));
    redis_server.kill();
    let mut publisher = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "pub").await;
    for i in 1..=50u16 {
        send(
            &mut publisher,
            "t",
            &i.to_be_bytes(),
            QoS::AtLeastOnce,
            false,
        )
        .await;
    }
    assert!(broker
        .wait_for_log("write queue full (30 of max_queued_commands = 30", WAIT)
        .is_some());
    let stats = plugin_stats(&broker).await;
    let pool = &stats["pools"]["pool1"];
    // Five commands a message (the hash, its TTL, the index, its trim and
    // its TTL): six messages fit, forty-four do not.
    assert_eq!(pool["queued"], 30, "{stats}");
    assert_eq!(pool["overflow"], 220, "{stats}");
    assert_eq!(pool["max_queued_commands"], 30, "{stats}");
    assert_eq!(pool["connected"], false, "{stats}");

    redis_server.restart();
    let mut redis = redis_server.client();
    assert!(wait_until(Duration::from_secs(10), || redis
        .zcard::<_, u32>("mqtt:msg:t")
        .unwrap_or(0)
        == 6));
    let stats = settled_stats(&broker, |s| s["pools"]["pool1"]["queued"] == 0).await;
    assert_eq!(stats["pools"]["pool1"]["queued"], 0, "{stats}");
    assert_eq!(stats["pools"]["pool1"]["written"], 30, "{stats}");
}

#[tokio::test]
async fn writes_queued_when_the_broker_stops_are_sent_first() {
    let mut setup = start(&function(
        "message.publish",
        1,
        "on_message_publish",
        Some("#"),
    ));
    let mut redis = setup.redis.client();
    let mut publisher = client(&setup.broker, "pub").await;
    send(&mut publisher, "t", b"0", QoS::AtLeastOnce, false).await;
    wait_key(&mut redis, "mqtt:msg:t");
    setup.redis.pause();
    for i in 1..=30u8 {
        send(&mut publisher, "t", &[i], QoS::AtLeastOnce, false).await;
    }
    // Redis answers again a second into the shutdown.
    let pid = setup.redis.pid();
    let thaw = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(1));
        std::process::Command::new("kill")
            .args(["-CONT", &pid.to_string()])
            .status()
            .unwrap();
    });
    let status = setup.broker.stop();
    thaw.join().unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(redis.zcard::<_, u32>("mqtt:msg:t").unwrap(), 31);
    assert_eq!(setup.broker.count_logs("commands not written"), 0);
}
