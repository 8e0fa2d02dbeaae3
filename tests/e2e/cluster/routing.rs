//! Messages between nodes: a publisher on one node, subscribers on the
//! others, each message once, in order, with its properties; nothing sent
//! into Redis for a topic no other node wants.

use mqhost_codec::{Packet, ProtocolVersion, QoS};
use mqhost_tests::raw::{publish, RawClient};
use mqhost_tests::redis::{RedisCluster, RedisServer};

use super::*;

const V5: ProtocolVersion = ProtocolVersion::V5;

/// `node`'s bus figures.
pub(super) async fn bus(node: &Broker) -> Value {
    status(node).await["bus"].clone()
}

/// Waits until `node` knows `routes` routes of other nodes.
pub(super) async fn wait_remote_routes(node: &Broker, routes: u64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let known = bus(node).await["remote_routes"].as_u64().unwrap();
        if known == routes {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{known} remote routes, expected {routes}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Publishes `count` QoS 1 messages `topic` with payloads `0`, `1`, ...,
/// each acknowledged.
pub(super) async fn publish_numbered(client: &mut RawClient, topic: &str, count: u16) {
    for n in 1..=count {
        let mut message = publish(topic, (n - 1).to_string().as_bytes(), QoS::AtLeastOnce, n);
        message.properties.content_type = Some("text/plain".into());
        message.properties.user_properties = vec![("k".into(), "v".into())];
        client.send(Packet::Publish(message)).await;
        match client.recv().await {
            Some(Packet::PubAck(ack)) => assert_eq!(ack.packet_id, n),
            other => panic!("expected PUBACK {n}, got {other:?}"),
        }
    }
}

/// Receives `count` messages and checks they are `0..count` in order,
/// with the publisher's properties, then that nothing more comes.
pub(super) async fn expect_numbered(client: &mut RawClient, topic: &str, count: u16) {
    for n in 0..count {
        let message = client.recv_publish().await;
        assert_eq!(message.topic, topic);
        assert_eq!(&message.payload[..], n.to_string().as_bytes());
        assert_eq!(message.qos, QoS::AtLeastOnce);
        assert_eq!(
            message.properties.content_type.as_deref(),
            Some("text/plain")
        );
        assert_eq!(message.properties.user_properties.len(), 1);
        client.puback(message.packet_id).await;
    }
    client.expect_silence(Duration::from_millis(500)).await;
}

#[tokio::test]
async fn subscribers_on_other_nodes_get_each_message_once_in_order() {
    let redis = RedisServer::start();
    each_message_once_in_order(&config(&redis.addr(), "c1", "")).await;
}

/// The same on a 3-master Redis Cluster: keys on several masters, plain
/// pub/sub across them.
#[tokio::test]
async fn a_redis_cluster_carries_the_cluster_as_well() {
    let cluster = RedisCluster::start();
    let text = config(&cluster.servers(), "c1", "cluster.redis.type = cluster\n");
    each_message_once_in_order(&text).await;
}

async fn each_message_once_in_order(text: &str) {
    let text = text.to_owned();
    let [n1, n2, n3] = three_nodes(&text).await;
    let mut exact = RawClient::connect(n2.broker.addr(), V5, "exact").await;
    assert_eq!(exact.subscribe("r/a", QoS::AtLeastOnce).await, [1]);
    // Overlapping filters of one client: each message once.
    let mut wild = RawClient::connect(n3.broker.addr(), V5, "wild").await;
    assert_eq!(
        wild.subscribe_all(&["r/#", "r/+"], QoS::AtLeastOnce).await,
        [1, 1]
    );
    // Two filters on n3, one on n2: n1 knows three routes.
    wait_remote_routes(&n1.broker, 3).await;
    let mut publisher = RawClient::connect(n1.broker.addr(), V5, "pub").await;
    publish_numbered(&mut publisher, "r/a", 200).await;
    expect_numbered(&mut exact, "r/a", 200).await;
    expect_numbered(&mut wild, "r/a", 200).await;
    let sent = bus(&n1.broker).await;
    assert_eq!(sent["forwarded"], 400, "{sent}");
    assert_eq!(bus(&n2.broker).await["received"], 200);
    assert_eq!(bus(&n3.broker).await["received"], 200);

    // A topic no other node subscribes to sends nothing into Redis.
    let commands = sent["redis_commands"].as_u64().unwrap();
    publish_numbered(&mut publisher, "elsewhere", 50).await;
    let after = bus(&n1.broker).await;
    assert_eq!(after["forwarded"], 400, "{after}");
    assert_eq!(after["redis_commands"].as_u64().unwrap(), commands);

    // An unsubscribe reaches n1 within a second, and the messages stop.
    exact
        .send(Packet::Unsubscribe(mqhost_codec::Unsubscribe {
            packet_id: 9,
            filters: vec!["r/a".into()],
            user_properties: Vec::new(),
        }))
        .await;
    assert!(matches!(exact.recv().await, Some(Packet::UnsubAck(_))));
    wait_remote_routes(&n1.broker, 2).await;
    publish_numbered(&mut publisher, "r/a", 10).await;
    expect_numbered(&mut wild, "r/a", 10).await;
    exact.expect_silence(Duration::from_millis(500)).await;
}

#[tokio::test]
async fn a_session_that_ends_takes_its_routes_with_it() {
    let redis = RedisServer::start();
    let text = config(&redis.addr(), "c1", "");
    let n1 = start_node("n1", &text);
    let n2 = start_node("n2", &text);
    wait_seen(&n1.broker, &[("n1", "up"), ("n2", "up")]).await;
    let mut gone = RawClient::connect(n2.broker.addr(), V5, "gone").await;
    gone.subscribe("g/#", QoS::AtMostOnce).await;
    wait_remote_routes(&n1.broker, 1).await;
    // A clean session (expiry 0) ends with its connection.
    gone.disconnect().await;
    wait_remote_routes(&n1.broker, 0).await;
}

#[tokio::test]
async fn a_retained_message_is_kept_by_every_node() {
    let redis = RedisServer::start();
    let text = config(&redis.addr(), "c1", "");
    let n1 = start_node("n1", &text);
    let n2 = start_node("n2", &text);
    wait_seen(&n1.broker, &[("n1", "up"), ("n2", "up")]).await;
    let mut publisher = RawClient::connect(n1.broker.addr(), V5, "pub").await;
    let mut message = publish("status/a", b"on", QoS::AtLeastOnce, 1);
    message.retain = true;
    publisher.send(Packet::Publish(message)).await;
    assert!(matches!(publisher.recv().await, Some(Packet::PubAck(_))));
    // n2 keeps it: a subscriber there that comes later gets it from n2.
    let deadline = tokio::time::Instant::now() + WAIT;
    while n2
        .broker
        .admin_request("GET", "/api/v1/retained/status%2Fa")
        .await
        .0
        != 200
    {
        assert!(tokio::time::Instant::now() < deadline, "n2 never kept it");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut later = RawClient::connect(n2.broker.addr(), V5, "later").await;
    later.subscribe("status/#", QoS::AtLeastOnce).await;
    let got = later.recv_publish().await;
    assert!(got.retain);
    assert_eq!(&got.payload[..], b"on");

    // A node that joins afterwards has it from its start.
    let n3 = start_node("n3", &text);
    let path = "/api/v1/retained/status%2Fa";
    assert_eq!(n3.broker.admin_request("GET", path).await.0, 200);
    // Cleared on n3's own publisher: cleared everywhere, and for nodes
    // that join later.
    let mut clearer = RawClient::connect(n3.broker.addr(), V5, "clearer").await;
    let mut clear = publish("status/a", b"", QoS::AtLeastOnce, 1);
    clear.retain = true;
    clearer.send(Packet::Publish(clear)).await;
    assert!(matches!(clearer.recv().await, Some(Packet::PubAck(_))));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    for node in [&n1, &n2] {
        while node.broker.admin_request("GET", path).await.0 != 404 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "not cleared within a second"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let n4 = start_node("n4", &text);
    assert_eq!(n4.broker.admin_request("GET", path).await.0, 404);
}
