//! A node killed under QoS 1 load: the others go on without losing a
//! message between them, and the node restarted under its name rejoins.

use mqhost_codec::{Packet, ProtocolVersion, QoS};
use mqhost_tests::raw::{publish, RawClient};
use mqhost_tests::redis::RedisServer;

use super::*;

const V5: ProtocolVersion = ProtocolVersion::V5;

/// Reads `count` QoS 1 messages, acknowledging each, and returns their
/// payloads as numbers.
async fn collect(mut client: RawClient, count: usize) -> Vec<u32> {
    let mut seen = Vec::with_capacity(count);
    while seen.len() < count {
        let message = client.recv_publish().await;
        seen.push(
            std::str::from_utf8(&message.payload)
                .unwrap()
                .parse()
                .unwrap(),
        );
        client.puback(message.packet_id).await;
    }
    seen
}

#[tokio::test]
async fn a_node_killed_under_load_costs_the_others_nothing_and_rejoins() {
    const COUNT: u32 = 1500;
    let redis = RedisServer::start();
    let text = config(&redis.addr(), "c1", "");
    let [n1, n2, mut n3] = three_nodes(&text).await;
    let mut survivor = RawClient::connect(n2.broker.addr(), V5, "survivor").await;
    survivor.subscribe("load/#", QoS::AtLeastOnce).await;
    let mut victim = RawClient::connect(n3.broker.addr(), V5, "victim").await;
    victim.subscribe("load/#", QoS::AtLeastOnce).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while status(&n1.broker).await["bus"]["remote_routes"] != 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "routes never arrived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let reader = tokio::spawn(collect(survivor, COUNT as usize));
    let mut publisher = RawClient::connect(n1.broker.addr(), V5, "pub").await;
    for n in 0..COUNT {
        let id = (n % 60_000 + 1) as u16;
        let message = publish("load/x", n.to_string().as_bytes(), QoS::AtLeastOnce, id);
        publisher.send(Packet::Publish(message)).await;
        match tokio::time::timeout(WAIT, publisher.recv()).await {
            Ok(Some(Packet::PubAck(ack))) => assert_eq!(ack.packet_id, id),
            other => panic!("no PUBACK for {n}: {other:?}"),
        }
        if n == COUNT / 3 {
            n3.broker.kill();
        }
    }
    let seen = tokio::time::timeout(WAIT * 2, reader)
        .await
        .expect("the survivor got every message")
        .unwrap();
    assert_eq!(
        seen,
        (0..COUNT).collect::<Vec<_>>(),
        "lost, doubled or reordered"
    );
    wait_seen(&n1.broker, &[("n1", "up"), ("n2", "up"), ("n3", "down")]).await;
    drop(victim);

    // Restarted under its name, it rejoins and gets messages again.
    let n3 = start_node("n3", &text);
    wait_seen(&n1.broker, &ALL_UP).await;
    let mut back = RawClient::connect(n3.broker.addr(), V5, "back").await;
    back.subscribe("load/#", QoS::AtLeastOnce).await;
    // The survivor's session ended with its reader: n3's route alone.
    let deadline = tokio::time::Instant::now() + WAIT;
    while status(&n1.broker).await["bus"]["remote_routes"] != 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "n3's route never arrived: {}",
            status(&n1.broker).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let message = publish("load/x", b"again", QoS::AtLeastOnce, 1);
    publisher.send(Packet::Publish(message)).await;
    assert!(matches!(publisher.recv().await, Some(Packet::PubAck(_))));
    let got = tokio::time::timeout(WAIT, back.recv_publish())
        .await
        .unwrap();
    assert_eq!(&got.payload[..], b"again");
}
