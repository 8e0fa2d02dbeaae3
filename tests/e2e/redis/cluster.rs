//! A cluster pool: writes routed by slot, lookups across nodes (retained
//! lookups scan every master), the channel receiving a PUBLISH sent to any
//! node, and a killed master replaced without losing writes; the same
//! writes, lookups and channel over TLS.

use std::time::Duration;

use mqhost_codec::{Packet, ProtocolVersion, QoS};
use mqhost_tests::certs::TestCerts;
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
    writes_looks_up_and_listens_on_the_owning_nodes(None).await;
}

#[tokio::test]
async fn a_tls_cluster_pool_writes_on_the_owning_nodes_looks_up_and_listens_over_tls() {
    writes_looks_up_and_listens_on_the_owning_nodes(Some(TestCerts::generate())).await;
}

/// Writes go to the master that owns their slot, a queue fetch and its
/// acks read and consume across nodes, a wildcard retained lookup scans
/// every master, and the channel hears an order published on any node.
/// With `certs`, the plugin knows the nodes' TLS ports only and uses no
/// plain one; the test reads each node through its plain port.
async fn writes_looks_up_and_listens_on_the_owning_nodes(certs: Option<TestCerts>) {
    let (cluster, servers, tls) = match &certs {
        Some(certs) => {
            let cluster = RedisCluster::start_tls(certs);
            let servers = cluster.tls_servers();
            (cluster, servers, tls_settings(certs))
        }
        None => {
            let cluster = RedisCluster::start();
            let servers = cluster.servers();
            (cluster, servers, String::new())
        }
    };
    let config = format!(
        "backend.redis.pool1.type = cluster\nbackend.redis.pool1.server = {servers}\n{tls}{}",
        [
            function("message.publish", 1, "on_message_publish", Some("#")),
            function("message.publish", 2, "on_message_retain", Some("#")),
            function(
                "session.subscribed",
                1,
                "on_message_fetch_for_queue",
                Some("queue/#")
            ),
            function("session.subscribed", 2, "on_retain_lookup", None),
            function(
                "message.acked",
                1,
                "on_message_acked_for_queue",
                Some("queue/#")
            ),
            subscription_recorder(3),
        ]
        .concat(),
    );
    let (_dirs, broker) = start_broker(&config);
    // Each key straight from the master that owns its slot, without
    // redirections.
    let owner = |key: &str| cluster.nodes[cluster.master_of(key)].client();

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
        masters.insert(cluster.master_of(&set));
        let mut node = owner(&set);
        let ok = wait_until(WAIT, || node.zcard::<_, u32>(&set).unwrap_or(0) == 1);
        assert!(ok, "{set} is not on its master");
        let ids: Vec<String> = node.zrange(&set, 0, -1).unwrap();
        // The index and the hash are on different slots, written at once:
        // either may show first.
        let message = format!("mqtt:msg:{}", ids[0]);
        let stored = wait_for_hash(&mut owner(&message), &message)
            .unwrap_or_else(|| panic!("{message} is not on its master"));
        assert_eq!(stored["payload"], format!("m{i}"), "{message}");
        assert_eq!(stored["topic"], format!("queue/{i}"), "{message}");
        assert_eq!(stored["from"], "test", "{message}");
        let retained = format!("mqtt:retain:r/{i}");
        let stored = wait_for_hash(&mut owner(&retained), &retained)
            .unwrap_or_else(|| panic!("{retained} is not on its master"));
        assert_eq!(stored["payload"], format!("r{i}"), "{retained}");
    }
    assert_eq!(masters.len(), 3, "the keys did not spread over the masters");

    // A fetch reads the cluster; acks consume.
    let mut sub = client(&broker, "sub").await;
    sub.subscribe("queue/7", QoS::AtLeastOnce).await;
    assert_eq!(receive(&mut sub).await.payload.as_ref(), b"m7");
    let consumed = wait_until(WAIT, || {
        owner("mqtt:msg:queue/7")
            .zcard::<_, u32>("mqtt:msg:queue/7")
            .unwrap_or(1)
            == 0
    });
    assert!(consumed, "the ack did not consume mqtt:msg:queue/7");

    // A wildcard retained lookup scans every master.
    let mut wild = client(&broker, "wild").await;
    wild.subscribe("r/+", QoS::AtMostOnce).await;
    expect_retained_topics(&mut wild, "r/", 30).await;

    // The channel: one node subscribed (on a TLS port if the plugin has
    // TLS), the order published on another.
    let listening = channel_port(&broker);
    let subscribed = cluster
        .nodes
        .iter()
        .find(|n| match certs {
            Some(_) => n.tls_port() == Some(listening),
            None => n.port() == listening,
        })
        .unwrap_or_else(|| panic!("the channel listens on {listening}, no port it was told"));
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
        owner(key)
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

    if certs.is_some() {
        // The plugin's connections: on every master's TLS port (its
        // cluster connection), none on a plain port.
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
            // The test's own connections are closed; the server may take
            // a moment to see it.
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
}

/// The pause between publishing rounds while a master is down.
const PACE: Duration = Duration::from_millis(50);

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

    // Kill the master of k/0's index once its replica has everything:
    // Redis replicates asynchronously, and a write its replica never got
    // is lost by Redis itself, whatever the plugin does.
    let victim = cluster.master_of("mqtt:msg:k/0");
    assert!(
        cluster.nodes[victim].wait_replicas_synced(WAIT),
        "the victim's replica did not catch up"
    );
    cluster.nodes[victim].kill();
    for _ in 0..60 {
        for packet in publish_round(&mut count) {
            publisher.send(packet).await;
            assert!(matches!(publisher.recv().await, Some(Packet::PubAck(_))));
        }
        // Publishing goes on, paced, for a few seconds: through the
        // failover, not only after it.
        tokio::time::sleep(PACE).await;
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
