//! What one client can make the broker hold, with each limit reached: the
//! broker's resident memory (`VmRSS`, and its peak `VmHWM`) stays within
//! what the limit allows, and other clients are served all along.
//!
//! The probes these bound, with no limits: 1,000 topic aliases of 60 KB
//! took 59 MB, 50 retained messages of 1 MB took 51 MB, 110,000
//! subscriptions on one connection took 56 MB, and twenty half-sent 1 MB
//! PUBLISHes were held for ever, over TCP and in WebSocket messages left
//! unfinished alike.

use std::time::Duration;

use mqhost_codec::{reason, Packet, ProtocolVersion, QoS};
use mqhost_tests::raw::{publish, RawClient};
use mqhost_tests::ws;
use mqhost_tests::Broker;

const V5: ProtocolVersion = ProtocolVersion::V5;
const V311: ProtocolVersion = ProtocolVersion::V3_1_1;
const MIB: u64 = 1024;

/// A subscriber on `served/#` and a publisher, connected before the
/// memory is read, to show the broker still serves others.
struct Bystanders {
    watcher: RawClient,
    publisher: RawClient,
}

impl Bystanders {
    async fn connect(broker: &Broker) -> Bystanders {
        let mut watcher = RawClient::connect(broker.addr(), V311, "watcher").await;
        watcher.subscribe("served/#", QoS::AtMostOnce).await;
        let publisher = RawClient::connect(broker.addr(), V311, "publisher").await;
        Bystanders { watcher, publisher }
    }

    async fn still_served(&mut self) {
        self.publisher
            .send(Packet::Publish(publish(
                "served/now",
                b"ok",
                QoS::AtMostOnce,
                0,
            )))
            .await;
        assert_eq!(self.watcher.recv_publish().await.topic, "served/now");
    }
}

/// How much the peak grew since `before` (KiB), printed for the record.
fn growth(broker: &Broker, before: u64, what: &str) -> u64 {
    let now = broker.memory();
    let grown = now.peak_kib.saturating_sub(before);
    println!(
        "{what}: VmRSS {} KiB, VmHWM {} KiB, {grown} KiB above the start",
        now.resident_kib, now.peak_kib
    );
    grown
}

/// Topic aliases: 64 by default; a client setting aliases of 60 KB topics
/// holds 64 of them at most, and the 65th closes its connection (0x94).
#[tokio::test]
async fn topic_aliases_are_bounded() {
    let broker = Broker::start_with(&[("mqtt.max_packet_size", "128KB")]);
    let mut others = Bystanders::connect(&broker).await;
    let before = broker.memory().resident_kib;
    let mut client = RawClient::connect(broker.addr(), V5, "aliases").await;
    for alias in 1..=65u16 {
        let topic = format!("{alias:05}/{}", "t".repeat(60 * 1024));
        let mut message = publish(&topic, b"x", QoS::AtMostOnce, 0);
        message.properties.topic_alias = Some(alias);
        client.send(Packet::Publish(message)).await;
    }
    match client.expect_closed().await.as_slice() {
        [Packet::Disconnect(d)] => assert_eq!(d.reason, reason::TOPIC_ALIAS_INVALID),
        other => panic!("expected DISCONNECT 0x94, got {other:?}"),
    }
    // 64 aliases are 3.8 MiB of topics; the packets passed through too.
    let grown = growth(&broker, before, "64 aliases of 60 KB");
    assert!(grown < 16 * MIB, "grew {grown} KiB");
    others.still_served().await;
}

/// Retained messages: a publisher of 50 retained messages of 900 KB gets
/// `mqtt.max_retained_bytes` of them stored, and no more stays after it
/// has gone.
#[tokio::test]
async fn retained_messages_are_bounded_in_bytes() {
    let broker = Broker::start_with(&[("mqtt.max_retained_bytes", "8MB")]);
    let mut others = Bystanders::connect(&broker).await;
    let before = broker.memory().resident_kib;
    let mut client = RawClient::connect(broker.addr(), V311, "retainer").await;
    let payload = vec![7u8; 900 * 1024];
    for i in 0..50u16 {
        let mut message = publish(&format!("big/{i}"), &payload, QoS::AtLeastOnce, i + 1);
        message.retain = true;
        client.send(Packet::Publish(message)).await;
        assert!(matches!(client.recv().await, Some(Packet::PubAck(_))));
    }
    client.disconnect().await;
    let (_, body) = broker.admin_request("GET", "/api/v1/status").await;
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    let not_stored = status["retained_not_stored"].as_u64().unwrap();
    assert!(not_stored >= 40, "{not_stored} not stored of 50");
    let resident = broker.memory().resident_kib.saturating_sub(before);
    println!("after the retainer left: {resident} KiB above the start");
    // 8 MiB stored, plus what the reads of 45 MB left with the allocator.
    assert!(resident < 24 * MIB, "{resident} KiB kept");
    growth(&broker, before, "50 retained messages of 900 KB");
    others.still_served().await;
}

/// Subscriptions: with `mqtt.max_subscriptions = 1000`, a client asking
/// for 110,000 filters gets 1,000, and the rest cost nothing kept.
#[tokio::test]
async fn subscriptions_are_bounded_per_client() {
    let broker = Broker::start_with(&[("mqtt.max_subscriptions", "1000")]);
    let mut others = Bystanders::connect(&broker).await;
    let before = broker.memory().resident_kib;
    let mut client = RawClient::connect(broker.addr(), V5, "hoarder").await;
    let mut granted = 0;
    for batch in 0..110 {
        let filters: Vec<String> = (0..1000)
            .map(|i| format!("sensors/{batch}/{i}/+/temperature"))
            .collect();
        let filters: Vec<&str> = filters.iter().map(String::as_str).collect();
        let codes = client.subscribe_all(&filters, QoS::AtLeastOnce).await;
        granted += codes.iter().filter(|&&c| c == 1).count();
        assert!(codes.iter().all(|&c| c == 1 || c == reason::QUOTA_EXCEEDED));
    }
    assert_eq!(granted, 1000);
    let grown = growth(&broker, before, "110,000 filters asked, 1,000 granted");
    assert!(grown < 16 * MIB, "grew {grown} KiB");
    others.still_served().await;
}

/// Half-sent packets: twenty 3.1.1 clients with keep alive 0 each send
/// 900 KB of a 1 MB PUBLISH and stop. `mqtt.packet_timeout` closes them
/// all, and their buffers go.
#[tokio::test]
async fn half_sent_packets_do_not_hold_memory() {
    let broker = Broker::start_with(&[("mqtt.packet_timeout", "2s")]);
    let mut others = Bystanders::connect(&broker).await;
    let before = broker.memory().resident_kib;
    let mut stalled = Vec::new();
    for i in 0..20 {
        let mut connect = mqhost_tests::raw::connect_packet(V311, &format!("slow-{i}"));
        connect.keep_alive = 0;
        let (mut client, ack) = RawClient::connect_with(broker.addr(), connect).await;
        assert_eq!(ack.reason, 0);
        // PUBLISH QoS 0, remaining length 1,000,000 (0xC0 0x84 0x3D).
        let mut bytes = vec![0x30, 0xC0, 0x84, 0x3D, 0x00, 0x01, b't'];
        bytes.resize(900 * 1024, 0);
        client.send_bytes(&bytes).await;
        stalled.push(client);
    }
    others.still_served().await;
    for client in &mut stalled {
        assert_eq!(client.expect_closed().await, []);
    }
    assert!(broker.wait_for_logs("reason=\"packet_timeout\"", 20, Duration::from_secs(10)));
    let held = broker.memory().resident_kib.saturating_sub(before);
    growth(&broker, before, "twenty half-sent 1 MB packets");
    println!("after they were closed: {held} KiB above the start");
    // 18 MB were held while they stalled; closed, they hold nothing.
    assert!(held < 8 * MIB, "{held} KiB still held");
    others.still_served().await;
}

/// The same over WebSocket, each 900 KB in a message begun with a frame
/// without FIN and never finished: tungstenite holds such a message out
/// of the session's sight, and `mqtt.packet_timeout` closes them all the
/// same.
#[tokio::test]
async fn half_sent_websocket_messages_do_not_hold_memory() {
    let broker = Broker::start_with(&[
        ("mqtt.packet_timeout", "2s"),
        ("listener.ws.web", "127.0.0.1:0"),
    ]);
    let ws_addr = broker.listener("ws:web");
    let mut others = Bystanders::connect(&broker).await;
    let before = broker.memory().resident_kib;
    let mut stalled = Vec::new();
    for i in 0..20 {
        let mut client = ws::open(ws_addr, "/mqtt", "mqtt", V311).await.unwrap();
        let mut connect = mqhost_tests::raw::connect_packet(V311, &format!("ws-slow-{i}"));
        connect.keep_alive = 0;
        client.send(&Packet::Connect(Box::new(connect))).await;
        assert!(matches!(client.recv().await, Some(Packet::ConnAck(ack)) if ack.reason == 0));
        let mut bytes = vec![0x30, 0xC0, 0x84, 0x3D, 0x00, 0x01, b't'];
        bytes.resize(900 * 1024, 0);
        client.send_unfinished_message(&bytes).await;
        stalled.push(client);
    }
    others.still_served().await;
    for client in &mut stalled {
        assert!(
            client.recv().await.is_none(),
            "expected the connection closed"
        );
    }
    assert!(broker.wait_for_logs("reason=\"packet_timeout\"", 20, Duration::from_secs(10)));
    let held = broker.memory().resident_kib.saturating_sub(before);
    growth(
        &broker,
        before,
        "twenty half-sent 900 KB WebSocket messages",
    );
    println!("after they were closed: {held} KiB above the start");
    assert!(held < 8 * MIB, "{held} KiB still held");
    others.still_served().await;
}
