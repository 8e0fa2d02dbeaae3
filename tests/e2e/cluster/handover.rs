//! A client's session moves to the node it connects to: its queue, its
//! messages in flight, its subscriptions; the node it left keeps nothing.

use mqhost_codec::{ConnectProperties, Packet, ProtocolVersion, QoS};
use mqhost_tests::raw::{connect_packet, RawClient};
use mqhost_tests::redis::RedisServer;

use super::routing::{bus, expect_numbered, publish_numbered, wait_remote_routes};
use super::*;

const V5: ProtocolVersion = ProtocolVersion::V5;

/// A CONNECT that resumes (or keeps) a session for an hour.
fn persistent(
    version: ProtocolVersion,
    client_id: &str,
    clean_start: bool,
) -> mqhost_codec::Connect {
    let mut connect = connect_packet(version, client_id);
    connect.clean_start = clean_start;
    if version == V5 {
        connect.properties = ConnectProperties {
            session_expiry_interval: Some(3600),
            ..Default::default()
        };
    }
    connect
}

/// Three nodes, each seeing the others up.
async fn cluster(redis: &RedisServer) -> [Node; 3] {
    let nodes = three_nodes(&config(&redis.addr(), "c1", "")).await;
    for node in &nodes {
        wait_seen(&node.broker, &ALL_UP).await;
    }
    nodes
}

/// The nodes' logs, for a failure's message.
fn logs(nodes: &[&Node]) -> String {
    nodes
        .iter()
        .map(|node| node.broker.logs().join("\n"))
        .collect::<Vec<_>>()
        .join("\n----\n")
}

/// Waits until `node` has received `count` messages from other nodes.
async fn wait_received(node: &Broker, count: u64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while bus(node).await["received"].as_u64().unwrap() < count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{}",
            bus(node).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `node`'s durable store: sessions and queued messages it holds.
async fn stored(node: &Broker) -> (u64, u64) {
    let (code, body) = node.admin_request("GET", "/api/v1/persistence").await;
    assert_eq!(code, 200, "{body}");
    let store: Value = serde_json::from_str(&body).unwrap();
    (
        store["sessions"].as_u64().unwrap(),
        store["queued_messages"].as_u64().unwrap(),
    )
}

/// Waits until `node`'s store holds `expected` (sessions, messages).
async fn wait_stored(node: &Broker, expected: (u64, u64)) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let held = stored(node).await;
        if held == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "store holds {held:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A session of `version` subscribed to `jobs/#` on `node`, then offline
/// with 100 QoS 1 messages queued, published on n1.
async fn offline_with_queue(version: ProtocolVersion, n1: &Node, n2: &Node) {
    let (mut sub, ack) =
        RawClient::connect_with(n2.broker.addr(), persistent(version, "roamer", false)).await;
    assert_eq!(ack.reason, 0);
    sub.subscribe("jobs/#", QoS::AtLeastOnce).await;
    wait_remote_routes(&n1.broker, 1).await;
    sub.disconnect().await;
    let mut publisher = RawClient::connect(n1.broker.addr(), V5, "publisher").await;
    publish_numbered(&mut publisher, "jobs/1", 100).await;
    wait_received(&n2.broker, 100).await;
}

#[tokio::test]
async fn an_offline_session_moves_with_its_queue_to_the_node_its_client_returns_to() {
    let redis = RedisServer::start();
    let [n1, n2, n3] = cluster(&redis).await;
    offline_with_queue(V5, &n1, &n2).await;
    wait_stored(&n2.broker, (1, 100)).await;
    let (mut back, ack) =
        RawClient::connect_with(n3.broker.addr(), persistent(V5, "roamer", false)).await;
    assert_eq!(ack.reason, 0);
    assert!(ack.session_present, "{ack:?}\n{}", logs(&[&n2, &n3]));
    // Node 2 holds it no more, in its broker or its store; node 3 stored
    // it, every message (unacknowledged yet) included.
    let (ok, _, err) = n2.broker.ctl(&["clients", "show", "roamer"]);
    assert!(!ok && err.contains("no session"), "{err}");
    wait_stored(&n2.broker, (0, 0)).await;
    wait_stored(&n3.broker, (1, 100)).await;
    expect_numbered(&mut back, "jobs/1", 100).await;
    wait_stored(&n3.broker, (1, 0)).await;
    assert_eq!(bus(&n2.broker).await["sessions_moved_out"], 1);
    assert_eq!(bus(&n3.broker).await["sessions_moved_in"], 1);
    // Its route moved too: the next message goes to n3 alone.
    let received = bus(&n2.broker).await["received"].as_u64().unwrap();
    wait_remote_routes(&n1.broker, 1).await;
    let mut publisher = RawClient::connect(n1.broker.addr(), V5, "publisher-2").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    publish_numbered(&mut publisher, "jobs/1", 1).await;
    let message = back.recv_publish().await;
    assert_eq!(&message.payload[..], b"0");
    assert!(!message.dup);
    back.puback(message.packet_id).await;
    back.expect_silence(Duration::from_millis(300)).await;
    assert_eq!(
        bus(&n2.broker).await["received"].as_u64().unwrap(),
        received
    );
}

#[tokio::test]
async fn a_connected_client_is_taken_over_and_its_messages_in_flight_are_sent_again() {
    let redis = RedisServer::start();
    let [n1, n2, n3] = cluster(&redis).await;
    let (mut first, ack) =
        RawClient::connect_with(n2.broker.addr(), persistent(V5, "roamer", false)).await;
    assert_eq!(ack.reason, 0);
    first.subscribe("jobs/#", QoS::AtLeastOnce).await;
    wait_remote_routes(&n1.broker, 1).await;
    let mut publisher = RawClient::connect(n1.broker.addr(), V5, "publisher").await;
    publish_numbered(&mut publisher, "jobs/1", 3).await;
    // Received, never acknowledged: in flight.
    let mut ids = Vec::new();
    for n in 0..3 {
        let message = first.recv_publish().await;
        assert_eq!(&message.payload[..], n.to_string().as_bytes());
        ids.push(message.packet_id);
    }
    let (mut second, ack) =
        RawClient::connect_with(n3.broker.addr(), persistent(V5, "roamer", false)).await;
    assert!(ack.session_present, "{ack:?}\n{}", logs(&[&n2, &n3]));
    let packets = tokio::time::timeout(WAIT, first.expect_closed())
        .await
        .expect("n2 ends the first connection");
    assert!(
        matches!(packets.as_slice(), [Packet::Disconnect(d)] if d.reason == 0x8E),
        "{packets:?}"
    );
    for (n, id) in ids.into_iter().enumerate() {
        let message = second.recv_publish().await;
        assert_eq!(&message.payload[..], n.to_string().as_bytes());
        assert!(message.dup, "resent with DUP");
        assert_eq!(message.packet_id, id);
        second.puback(message.packet_id).await;
    }
    second.expect_silence(Duration::from_millis(500)).await;
}

#[tokio::test]
async fn a_3_1_1_session_moves_too() {
    let redis = RedisServer::start();
    let [n1, n2, n3] = cluster(&redis).await;
    offline_with_queue(ProtocolVersion::V3_1_1, &n1, &n2).await;
    let (mut back, ack) = RawClient::connect_with(
        n3.broker.addr(),
        persistent(ProtocolVersion::V3_1_1, "roamer", false),
    )
    .await;
    assert!(ack.session_present, "{ack:?}\n{}", logs(&[&n2, &n3]));
    for n in 0..100 {
        let message = back.recv_publish().await;
        assert_eq!(&message.payload[..], n.to_string().as_bytes());
        assert!(!message.dup, "never sent before");
        back.puback(message.packet_id).await;
    }
    back.expect_silence(Duration::from_millis(500)).await;
}

#[tokio::test]
async fn a_clean_start_elsewhere_discards_the_old_session() {
    let redis = RedisServer::start();
    let [n1, n2, n3] = cluster(&redis).await;
    offline_with_queue(V5, &n1, &n2).await;
    let (mut fresh, ack) =
        RawClient::connect_with(n3.broker.addr(), persistent(V5, "roamer", true)).await;
    assert_eq!(ack.reason, 0);
    assert!(!ack.session_present);
    assert!(
        n2.broker
            .wait_for_log("its session here is discarded", WAIT)
            .is_some(),
        "{}",
        logs(&[&n2, &n3])
    );
    fresh.expect_silence(Duration::from_millis(300)).await;
    assert_eq!(bus(&n2.broker).await["sessions_moved_out"], 0);
    // Back on n2, the client finds the session it started on n3, not the
    // old one: none of the 100 messages queued there.
    fresh.disconnect().await;
    let (mut again, ack) =
        RawClient::connect_with(n2.broker.addr(), persistent(V5, "roamer", false)).await;
    assert!(ack.session_present);
    again.expect_silence(Duration::from_millis(500)).await;
}

#[tokio::test]
async fn a_dead_node_costs_the_wait_and_the_client_starts_afresh() {
    let redis = RedisServer::start();
    let [n1, mut n2, n3] = cluster(&redis).await;
    offline_with_queue(V5, &n1, &n2).await;
    n2.broker.kill();
    let started = std::time::Instant::now();
    let (_client, ack) =
        RawClient::connect_with(n3.broker.addr(), persistent(V5, "roamer", false)).await;
    assert_eq!(ack.reason, 0);
    assert!(!ack.session_present);
    // The wait is bounded (2 s), whether n3 saw n2 down or not yet.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

/// `mosquitto_sub` (3.1.1, `-c`: Clean Session 0) as client `roamer-m`
/// of `node`, on `jobs/#` at QoS 1, with `args` after.
fn mosquitto_sub(node: &Node, args: &[&str]) -> std::process::Output {
    mqhost_tests::tool("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &node.broker.port().to_string()])
        .args([
            "-V", "mqttv311", "-c", "-i", "roamer-m", "-q", "1", "-t", "jobs/#",
        ])
        .args(args)
        .output()
        .unwrap()
}

/// Mosquitto's own client, with Clean Session 0, finds on node 3 what was
/// queued for it on node 2.
#[tokio::test]
async fn mosquitto_sub_with_a_persistent_session_finds_its_messages_on_another_node() {
    let redis = RedisServer::start();
    let [n1, n2, n3] = cluster(&redis).await;
    // Subscribes and leaves at once: the session stays on node 2.
    let subscribed = mosquitto_sub(&n2, &["-E"]);
    assert!(subscribed.status.success(), "{subscribed:?}");
    wait_remote_routes(&n1.broker, 1).await;
    let mut publisher = RawClient::connect(n1.broker.addr(), V5, "publisher").await;
    publish_numbered(&mut publisher, "jobs/1", 20).await;
    wait_received(&n2.broker, 20).await;
    let out = mosquitto_sub(&n3, &["-C", "20", "-W", "10"]);
    assert!(out.status.success(), "{out:?}\n{}", logs(&[&n2, &n3]));
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    let expected: Vec<String> = (0..20).map(|n| n.to_string()).collect();
    assert_eq!(lines, expected);
    assert_eq!(bus(&n3.broker).await["sessions_moved_in"], 1);
}

/// The payload of each PUBLISH among `packets` (acknowledged), and
/// whether it came with DUP.
async fn numbers(client: &mut RawClient, packets: Vec<Packet>, into: &mut Vec<(u32, bool)>) {
    for packet in packets {
        if let Packet::Publish(message) = packet {
            let n = std::str::from_utf8(&message.payload)
                .unwrap()
                .parse()
                .unwrap();
            into.push((n, message.dup));
            client.puback(message.packet_id).await;
        }
    }
}

/// A client moved while messages flow to it: what reaches it keeps the
/// publisher's order; a message comes twice only when the second is a
/// DUP (sent on the old node, its acknowledgement not seen there before
/// the move); what the move's moment costs is printed, not bounded (the
/// bus delivers at most once; see docs/cluster.md).
#[tokio::test]
async fn a_client_moved_under_load_gets_messages_in_order() {
    const COUNT: u32 = 400;
    let redis = RedisServer::start();
    let [n1, n2, n3] = cluster(&redis).await;
    let (mut first, _) =
        RawClient::connect_with(n2.broker.addr(), persistent(V5, "roamer", false)).await;
    first.subscribe("jobs/#", QoS::AtLeastOnce).await;
    wait_remote_routes(&n1.broker, 1).await;
    let mut publisher = RawClient::connect(n1.broker.addr(), V5, "publisher").await;
    let publishing = tokio::spawn(async move {
        let started = std::time::Instant::now();
        for n in 0..COUNT {
            let packet_id = (n % 60_000 + 1) as u16;
            let message = mqhost_tests::raw::publish(
                "jobs/1",
                n.to_string().as_bytes(),
                QoS::AtLeastOnce,
                packet_id,
            );
            publisher.send(Packet::Publish(message)).await;
            assert!(matches!(publisher.recv().await, Some(Packet::PubAck(_))));
        }
        started.elapsed()
    });
    let mut got = Vec::new();
    while got.len() < 100 {
        let packet = first.recv().await.expect("the first connection is open");
        numbers(&mut first, vec![packet], &mut got).await;
    }
    let (mut second, ack) =
        RawClient::connect_with(n3.broker.addr(), persistent(V5, "roamer", false)).await;
    assert!(ack.session_present, "{ack:?}\n{}", logs(&[&n2, &n3]));
    let rest = tokio::time::timeout(WAIT, first.expect_closed())
        .await
        .expect("the first connection ends");
    numbers(&mut first, rest, &mut got).await;
    let moved_at = got.len();
    let took = publishing.await.unwrap();
    while let Ok(Some(packet)) = second.recv_within(Duration::from_secs(1)).await {
        numbers(&mut second, vec![packet], &mut got).await;
    }
    let mut last = None;
    let mut seen = std::collections::HashSet::new();
    for &(n, dup) in &got {
        if !seen.insert(n) {
            assert!(dup, "{n} came twice without DUP: {got:?}");
            continue;
        }
        assert!(
            last.is_none_or(|last| n > last),
            "{n} after {last:?}: {got:?}"
        );
        last = Some(n);
    }
    assert_eq!(
        last,
        Some(COUNT - 1),
        "the last message reaches the new node"
    );
    println!(
        "moved after {moved_at} messages; {} of {COUNT} missed during the move; \
         {:.0} messages a second",
        COUNT as usize - seen.len(),
        f64::from(COUNT) / took.as_secs_f64()
    );
}
