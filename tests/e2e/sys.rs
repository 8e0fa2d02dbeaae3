//! `$SYS`: `$SYS/brokers/<node>/...` figures, and `$SYS/broker/...`
//! against a real Mosquitto's.

use mqhost_codec::{Packet, ProtocolVersion, QoS};
use mqhost_tests::mosquitto::Mosquitto;
use mqhost_tests::raw::{publish, RawClient};
use mqhost_tests::Broker;

#[tokio::test]
async fn sys_topics_report_uptime_and_clients() {
    let broker = Broker::start_with(&[("sys.interval", "1s"), ("node.name", "node-a@127.0.0.1")]);
    let mut client = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "observer").await;
    client
        .subscribe(
            "$SYS/brokers/node-a@127.0.0.1/clients/connected",
            QoS::AtMostOnce,
        )
        .await;
    // The retained value may predate this client; the next tick counts it.
    let mut seen = Vec::new();
    for _ in 0..3 {
        let got = client.recv_publish().await;
        let connected: u64 = std::str::from_utf8(&got.payload).unwrap().parse().unwrap();
        seen.push(connected);
        if connected >= 1 {
            break;
        }
    }
    assert!(seen.contains(&1), "clients/connected values: {seen:?}");
    client
        .subscribe("$SYS/brokers/+/uptime", QoS::AtMostOnce)
        .await;
    let got = client.recv_publish().await;
    assert_eq!(got.topic, "$SYS/brokers/node-a@127.0.0.1/uptime");
    let _: u64 = std::str::from_utf8(&got.payload).unwrap().parse().unwrap();
}

/// The same clients against any broker: a subscriber to `s/t` at QoS 1
/// that acknowledges everything, a publisher of `MESSAGES` QoS 1 messages
/// of ten bytes that then disconnects, and an observer of
/// `$SYS/broker/#`; the subscriber and the observer are returned
/// connected.
async fn mosquitto_traffic(addr: std::net::SocketAddr) -> (RawClient, RawClient) {
    let v311 = ProtocolVersion::V3_1_1;
    let mut subscriber = RawClient::connect(addr, v311, "subscriber").await;
    subscriber.subscribe("s/t", QoS::AtLeastOnce).await;
    let mut publisher = RawClient::connect(addr, v311, "publisher").await;
    for id in 1..=MESSAGES {
        publisher
            .send(Packet::Publish(publish(
                "s/t",
                b"0123456789",
                QoS::AtLeastOnce,
                id,
            )))
            .await;
        assert!(matches!(publisher.recv().await, Some(Packet::PubAck(_))));
    }
    publisher.disconnect().await;
    for _ in 0..MESSAGES {
        let message = subscriber.recv_publish().await;
        subscriber.puback(message.packet_id).await;
    }
    let mut observer = RawClient::connect(addr, v311, "observer").await;
    observer.subscribe("$SYS/broker/#", QoS::AtMostOnce).await;
    (subscriber, observer)
}

const MESSAGES: u16 = 20;

/// What `observer` reads of `$SYS/broker/`, the latest value of each
/// topic, once every topic of `expected` has its value (or after 15 s).
async fn sys_tree(
    observer: &mut RawClient,
    expected: &[(&str, String)],
) -> std::collections::BTreeMap<String, String> {
    let mut tree = std::collections::BTreeMap::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while std::time::Instant::now() < deadline {
        if let Ok(Some(Packet::Publish(message))) = observer
            .recv_within(std::time::Duration::from_secs(2))
            .await
        {
            let topic = message.topic.trim_start_matches("$SYS/broker/").to_owned();
            tree.insert(
                topic,
                String::from_utf8_lossy(&message.payload).into_owned(),
            );
        }
        if expected
            .iter()
            .all(|(topic, value)| tree.get(*topic) == Some(value))
        {
            break;
        }
    }
    tree
}

/// mqhost's `$SYS/broker/` tree against a real Mosquitto's, after the
/// same clients did the same things: the same topics, and the same
/// values where the traffic decides them.
#[tokio::test]
async fn the_mosquitto_tree_reads_as_mosquittos_own() {
    let n = u64::from(MESSAGES);
    // Packets in: the subscriber's CONNECT, SUBSCRIBE and a PUBACK per
    // message; the publisher's CONNECT, messages and DISCONNECT; the
    // observer's CONNECT and SUBSCRIBE.
    let expected: Vec<(&str, String)> = vec![
        ("clients/connected", "2".into()),
        ("clients/disconnected", "0".into()),
        ("clients/total", "2".into()),
        ("clients/expired", "0".into()),
        ("publish/messages/received", n.to_string()),
        ("publish/bytes/received", (10 * n).to_string()),
        ("publish/messages/dropped", "0".into()),
        ("messages/received", (2 * n + 6).to_string()),
        ("subscriptions/count", "2".into()),
    ];

    let mosquitto = Mosquitto::start_with(&["sys_interval 1"]);
    let (_subscriber, mut observer) = mosquitto_traffic(mosquitto.addr()).await;
    let theirs = sys_tree(&mut observer, &expected).await;

    let broker = Broker::start_with(&[("sys.interval", "1s")]);
    let (_subscriber, mut observer) = mosquitto_traffic(broker.addr()).await;
    let ours = sys_tree(&mut observer, &expected).await;

    for (topic, value) in &expected {
        assert_eq!(
            theirs.get(*topic),
            Some(value),
            "mosquitto's {topic}: {theirs:#?}"
        );
        assert_eq!(ours.get(*topic), Some(value), "mqhost's {topic}: {ours:#?}");
    }
    // Every topic mqhost publishes there, Mosquitto publishes too.
    let missing: Vec<&String> = ours.keys().filter(|t| !theirs.contains_key(*t)).collect();
    assert!(missing.is_empty(), "not Mosquitto's: {missing:?}");
    for tree in [&theirs, &ours] {
        for window in ["1min", "5min", "15min"] {
            let load = &tree[&format!("load/messages/received/{window}")];
            let (whole, decimals) = load.split_once('.').expect("two decimals");
            assert!(
                whole.parse::<u64>().is_ok() && decimals.len() == 2,
                "{load}"
            );
        }
        assert!(tree["uptime"].ends_with(" seconds"), "{}", tree["uptime"]);
    }
    assert!(theirs["version"].starts_with("mosquitto version "));
    assert_eq!(
        ours["version"],
        format!("mqhost version {}", env!("CARGO_PKG_VERSION"))
    );
}
