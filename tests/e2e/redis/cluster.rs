//! A cluster pool: writes routed by slot, lookups across nodes (retained
//! lookups scan every master), the channel receiving a PUBLISH sent to any
//! node, and a killed master replaced without losing writes; writes,
//! lookups and the channel over TLS.

use std::time::Duration;

use mqhost_codec::{Packet, ProtocolVersion, QoS};
use mqhost_tests::raw::{publish, RawClient};
use mqhost_tests::redis::{RedisCluster, RedisServer};
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
        // The index and the hash are on different slots, written at once:
        // either may show first.
        let message = format!("mqtt:msg:{}", ids[0]);
        let stored = wait_for_hash(&mut redis, &message)
            .unwrap_or_else(|| panic!("{message} was not written"));
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
    expect_retained_topics(&mut wild, "r/", 30).await;

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

/// Lines of `CLIENT LIST` on `node` for connections to `port`, but for
/// replicas' links (flag `S`) and the connection asking.
fn clients_on(node: &RedisServer, port: u16) -> Vec<String> {
    let mut conn = node.client();
    let clients: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query(&mut conn)
        .unwrap_or_default();
    clients
        .lines()
        .filter(|l| l.contains(&format!("laddr=127.0.0.1:{port} ")))
        .filter(|l| !l.contains("cmd=client|list"))
        .filter(|l| {
            let flags = l
                .split(' ')
                .find_map(|f| f.strip_prefix("flags="))
                .unwrap_or("");
            !flags.contains('S')
        })
        .map(str::to_owned)
        .collect()
}

/// `key`'s hash as `node` has it, once there: a message's commands go to
/// their slots' masters at once, so its index may show before its hash.
fn wait_hash(node: &RedisServer, key: &str) -> HashMap<String, String> {
    wait_for_hash(&mut node.client(), key)
        .unwrap_or_else(|| panic!("{key} is not on its master, port {}", node.port()))
}

/// Waits until `key` holds a hash, read through `conn` (one node, or the
/// whole cluster); None if it never does.
fn wait_for_hash(
    conn: &mut impl redis::ConnectionLike,
    key: &str,
) -> Option<HashMap<String, String>> {
    let mut stored: HashMap<String, String> = HashMap::new();
    let ok = wait_until(WAIT, || {
        stored = conn.hgetall(key).unwrap_or_default();
        !stored.is_empty()
    });
    ok.then_some(stored)
}

/// Whether `node` is a master now.
fn is_master(node: &RedisServer) -> bool {
    let mut conn = node.client();
    let role: Vec<redis::Value> = redis::cmd("ROLE").query(&mut conn).unwrap_or_default();
    matches!(role.first(), Some(redis::Value::BulkString(b)) if b == b"master")
}

#[tokio::test]
async fn a_tls_cluster_pool_writes_on_the_owning_nodes_looks_up_and_listens_over_tls() {
    let certs = TestCerts::generate();
    let cluster = RedisCluster::start_tls(&certs);
    // The plugin knows the TLS ports only.
    let config = format!(
        "backend.redis.pool1.type = cluster\nbackend.redis.pool1.server = {}\n{}{}",
        cluster.tls_servers(),
        tls_settings(&certs),
        [
            function("message.publish", 1, "on_message_publish", Some("#")),
            function("message.publish", 2, "on_message_retain", Some("#")),
            function("session.subscribed", 1, "on_retain_lookup", None),
            rule(
                "session.subscribed",
                2,
                r#"{"action": {"commands": ["HSET sub:${clientid} ${topic} ${qos}"]}, "pool": "pool1"}"#,
            ),
        ]
        .concat(),
    );
    let (_dirs, broker) = start_broker(&config);

    // Retained QoS 1 messages on topics whose keys spread over every
    // master.
    let mut test = client(&broker, "test").await;
    for i in 0..12 {
        let payload = format!("m{i}");
        send(
            &mut test,
            &format!("t/{i}"),
            payload.as_bytes(),
            QoS::AtLeastOnce,
            true,
        )
        .await;
    }
    // Each key is on the master that owns its slot: the test reads each
    // node through its plain port, without redirections.
    let mut masters = std::collections::HashSet::new();
    for i in 0..12 {
        let set = format!("mqtt:msg:t/{i}");
        let owner = cluster.master_of(&set);
        masters.insert(owner);
        let mut node = cluster.nodes[owner].client();
        let ok = wait_until(WAIT, || node.zcard::<_, u32>(&set).unwrap_or(0) == 1);
        assert!(
            ok,
            "{set} is not on its master, port {}",
            cluster.nodes[owner].port()
        );
        let ids: Vec<String> = node.zrange(&set, 0, -1).unwrap();
        let message = format!("mqtt:msg:{}", ids[0]);
        let owner = cluster.master_of(&message);
        let stored = wait_hash(&cluster.nodes[owner], &message);
        assert_eq!(stored["payload"], format!("m{i}"), "{message}");
        assert_eq!(stored["topic"], format!("t/{i}"), "{message}");
        assert_eq!(stored["from"], "test", "{message}");
        let retained = format!("mqtt:retain:t/{i}");
        let owner = cluster.master_of(&retained);
        let stored = wait_hash(&cluster.nodes[owner], &retained);
        assert_eq!(stored["payload"], format!("m{i}"), "{retained}");
    }
    assert_eq!(masters.len(), 3, "the keys did not spread over the masters");

    // A wildcard retained lookup scans every master, over TLS.
    let mut wild = client(&broker, "wild").await;
    wild.subscribe("t/+", QoS::AtMostOnce).await;
    expect_retained_topics(&mut wild, "t/", 12).await;

    // The channel: subscribed on a node's TLS port, the order published
    // on another node.
    let listening = channel_port(&broker);
    let subscribed = cluster
        .nodes
        .iter()
        .find(|n| n.tls_port() == Some(listening))
        .unwrap_or_else(|| panic!("the channel listens on {listening}, not a TLS port"));
    let other = cluster
        .nodes
        .iter()
        .find(|n| n.port() != subscribed.port())
        .unwrap();
    let _watcher = client(&broker, "watcher").await;
    let order = r#"{"type": "subscribe", "topic": "via/cluster", "clientid": "watcher", "qos": 1}"#;
    let _: i64 = other.client().publish("mqtt_channel", order).unwrap();
    let key = "sub:watcher";
    let ok = wait_until(WAIT, || {
        let owner = cluster.master_of(key);
        cluster.nodes[owner]
            .client()
            .hget::<_, _, Option<String>>(key, "via/cluster")
            .unwrap_or(None)
            .as_deref()
            == Some("1")
    });
    assert!(
        ok,
        "the order published on port {} did not arrive",
        other.port()
    );

    // The plugin's connections: on every master's TLS port (its cluster
    // connection), none on a plain port.
    for node in &cluster.nodes {
        let mut last = Vec::new();
        let tls_port = node.tls_port().unwrap();
        if is_master(node) {
            let ok = wait_until(WAIT, || {
                last = clients_on(node, tls_port);
                !last.is_empty()
            });
            assert!(ok, "no plugin connection on TLS port {tls_port}");
        }
        // The test's own connections are closed; the server may take a
        // moment to see it.
        let ok = wait_until(WAIT, || {
            last = clients_on(node, node.port());
            last.is_empty()
        });
        assert!(
            ok,
            "connections on plain port {}:\n{}",
            node.port(),
            last.join("\n")
        );
    }
}
