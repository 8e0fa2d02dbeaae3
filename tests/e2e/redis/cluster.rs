//! A cluster pool: writes routed by slot, lookups across nodes (retained
//! lookups scan every master), the channel receiving a PUBLISH sent to any
//! node, and a killed master replaced without losing writes.

use std::time::Duration;

use mqhost_codec::{Packet, ProtocolVersion, QoS};
use mqhost_tests::raw::{publish, RawClient};
use mqhost_tests::redis::RedisCluster;
use redis::Commands;

use super::*;

fn cluster_config(cluster: &RedisCluster, rules: &str) -> String {
    format!(
        "backend.redis.pool1.type = cluster\nbackend.redis.pool1.server = {}\n{rules}",
        cluster.servers()
    )
}

/// The port the plugin's channel listens on, from its log line.
fn channel_port(broker: &Broker) -> u16 {
    let line = broker
        .wait_for_log(
            "listening for SUB/UNSUB orders on channel mqtt_channel at ",
            WAIT,
        )
        .expect("the channel subscribed");
    line.split(" at 127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line}"))
}

#[tokio::test]
async fn a_cluster_pool_writes_looks_up_and_listens_across_nodes() {
    let cluster = RedisCluster::start();
    let config = cluster_config(
        &cluster,
        &[
            function("message.publish", 1, "on_message_publish", Some("#")),
            function("message.publish", 2, "on_message_retain", Some("#")),
            function("session.subscribed", 1, "on_message_fetch_for_queue", Some("queue/#")),
            function("session.subscribed", 2, "on_retain_lookup", None),
            function("message.acked", 1, "on_message_acked_for_queue", Some("queue/#")),
            rule(
                "session.subscribed",
                3,
                r#"{"action": {"commands": ["HSET sub:${clientid} ${topic} ${qos}"]}, "pool": "pool1"}"#,
            ),
        ]
        .concat(),
    );
    let (_dirs, broker) = start_broker(&config);
    let mut redis = cluster.client();

    // Messages on many topics: their keys spread over every master.
    let mut test = client(&broker, "test").await;
    for i in 0..30 {
        send(
            &mut test,
            &format!("queue/{i}"),
            format!("m{i}").as_bytes(),
            QoS::AtLeastOnce,
            false,
        )
        .await;
        send(
            &mut test,
            &format!("r/{i}"),
            format!("r{i}").as_bytes(),
            QoS::AtMostOnce,
            true,
        )
        .await;
    }
    let mut masters = std::collections::HashSet::new();
    for i in 0..30 {
        let set = format!("mqtt:msg:queue/{i}");
        let ok = wait_until(WAIT, || redis.zcard::<_, u32>(&set).unwrap_or(0) == 1);
        assert!(ok, "{set} was not written");
        let ids: Vec<String> = redis.zrange(&set, 0, -1).unwrap();
        let stored: HashMap<String, String> =
            redis.hgetall(format!("mqtt:msg:{}", ids[0])).unwrap();
        assert_eq!(stored["payload"], format!("m{i}"));
        masters.insert(cluster.master_of(&set));
        let retained = format!("mqtt:retain:r/{i}");
        let ok = wait_until(WAIT, || redis.exists::<_, bool>(&retained).unwrap_or(false));
        assert!(ok, "{retained} was not written");
    }
    assert_eq!(masters.len(), 3, "the keys did not spread over the masters");

    // A fetch reads the cluster; acks consume.
    let mut sub = client(&broker, "sub").await;
    sub.subscribe("queue/7", QoS::AtLeastOnce).await;
    assert_eq!(receive(&mut sub).await.payload.as_ref(), b"m7");
    assert!(wait_until(WAIT, || redis
        .zcard::<_, u32>("mqtt:msg:queue/7")
        .unwrap_or(1)
        == 0));

    // A wildcard retained lookup scans every master.
    let mut wild = client(&broker, "wild").await;
    wild.subscribe("r/+", QoS::AtMostOnce).await;
    let mut topics = Vec::new();
    for _ in 0..30 {
        let message = wild.recv_publish().await;
        assert!(message.retain);
        topics.push(message.topic);
    }
    let mut expected: Vec<String> = (0..30).map(|i| format!("r/{i}")).collect();
    expected.sort();
    assert_eq!(topics, expected, "every retained topic, in topic order");

    // The channel: one node subscribed, the order published on another.
    let listening = channel_port(&broker);
    let other = cluster
        .nodes
        .iter()
        .find(|n| n.port() != listening)
        .unwrap();
    let mut other_conn = other.client();
    let _watcher = client(&broker, "watcher").await;
    let order = r#"{"type": "subscribe", "topic": "via/cluster", "clientid": "watcher", "qos": 1}"#;
    let _: i64 = other_conn.publish("mqtt_channel", order).unwrap();
    let ok = wait_until(WAIT, || {
        redis
            .hget::<_, _, Option<String>>("sub:watcher", "via/cluster")
            .unwrap_or(None)
            .as_deref()
            == Some("1")
    });
    assert!(
        ok,
        "the order published on port {} did not arrive",
        other.port()
    );
}

#[tokio::test]
async fn a_killed_cluster_master_is_replaced_without_losing_writes() {
    let mut cluster = RedisCluster::start();
    let config = cluster_config(
        &cluster,
        &function("message.publish", 1, "on_message_publish", Some("#")),
    );
    let (_dirs, broker) = start_broker(&config);
    let mut publisher = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "pub").await;
    let topics: Vec<String> = (0..12).map(|i| format!("k/{i}")).collect();
    let mut count = 0u32;
    let publish_round = |count: &mut u32| {
        *count += 1;
        topics
            .iter()
            .map(|t| Packet::Publish(publish(t, &count.to_be_bytes(), QoS::AtLeastOnce, 1)))
            .collect::<Vec<_>>()
    };
    for _ in 0..5 {
        for packet in publish_round(&mut count) {
            publisher.send(packet).await;
            assert!(matches!(publisher.recv().await, Some(Packet::PubAck(_))));
        }
    }
    let mut redis = cluster.client();
    assert!(wait_until(WAIT, || redis
        .zcard::<_, u32>("mqtt:msg:k/0")
        .unwrap_or(0)
        == 5));

    // Kill the master of k/0's index once its replica has everything.
    let victim = cluster.master_of("mqtt:msg:k/0");
    std::thread::sleep(Duration::from_millis(300));
    cluster.nodes[victim].kill();
    for _ in 0..60 {
        for packet in publish_round(&mut count) {
            publisher.send(packet).await;
            assert!(matches!(publisher.recv().await, Some(Packet::PubAck(_))));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        cluster.wait_ok(Duration::from_secs(20)),
        "the cluster did not recover"
    );
    let mut redis = cluster.client();
    for topic in &topics {
        let key = format!("mqtt:msg:{topic}");
        let ok = wait_until(Duration::from_secs(20), || {
            redis.zcard::<_, u32>(&key).unwrap_or(0) == count
        });
        if !ok {
            let stats = plugin_stats(&broker).await;
            eprintln!("plugin stats: {stats}");
            for node in &mut cluster.nodes {
                if !node.is_running() {
                    eprintln!("node {}: killed", node.port());
                    continue;
                }
                let mut conn = node.client();
                let role: Vec<redis::Value> =
                    redis::cmd("ROLE").query(&mut conn).unwrap_or_default();
                let card: redis::RedisResult<u32> = conn.zcard(&key);
                eprintln!("node {}: {:?} zcard {card:?}", node.port(), role.first());
            }
        }
        assert!(
            ok,
            "{key}: {} of {count} messages; plugin log:\n{}",
            redis.zcard::<_, u32>(&key).unwrap_or(0),
            broker
                .logs()
                .iter()
                .filter(|l| l.contains("mqhost::plugin"))
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}
