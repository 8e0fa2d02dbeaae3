//! Will messages: published when a client vanishes, not after a normal
//! DISCONNECT, delayed by the 5.0 will delay.

use std::time::{Duration, Instant};

use mqhost_codec::{Disconnect, Packet, ProtocolVersion, QoS};
use mqhost_tests::raw::{connect_packet, will, RawClient};
use mqhost_tests::Broker;

async fn watcher(broker: &Broker) -> RawClient {
    let mut watcher = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "watcher").await;
    watcher.subscribe("wills/#", QoS::AtLeastOnce).await;
    watcher
}

async fn connect_with_will(
    broker: &Broker,
    version: ProtocolVersion,
    delay: Option<u32>,
) -> RawClient {
    let mut connect = connect_packet(version, "mortal");
    let mut last = will("wills/mortal", "gone", QoS::AtLeastOnce);
    last.properties.will_delay_interval = delay;
    connect.will = Some(last);
    connect.properties.session_expiry_interval = delay.map(|_| 60);
    let (client, ack) = RawClient::connect_with(broker.addr(), connect).await;
    assert_eq!(ack.reason, 0);
    client
}

#[tokio::test]
async fn will_is_published_when_the_connection_drops() {
    let broker = Broker::start();
    let mut watcher = watcher(&broker).await;
    connect_with_will(&broker, ProtocolVersion::V3_1_1, None)
        .await
        .drop_connection();
    let got = watcher.recv_publish().await;
    assert_eq!(
        (got.topic.as_str(), &got.payload[..]),
        ("wills/mortal", &b"gone"[..])
    );
}

#[tokio::test]
async fn will_is_not_published_after_normal_disconnect() {
    let broker = Broker::start();
    let mut watcher = watcher(&broker).await;
    connect_with_will(&broker, ProtocolVersion::V3_1_1, None)
        .await
        .disconnect()
        .await;
    watcher.expect_silence(Duration::from_millis(500)).await;
}

#[tokio::test]
async fn disconnect_with_will_message_reason_publishes_the_will() {
    let broker = Broker::start();
    let mut watcher = watcher(&broker).await;
    let mut client = connect_with_will(&broker, ProtocolVersion::V5, None).await;
    client
        .send(Packet::Disconnect(Disconnect {
            reason: 0x04,
            properties: Default::default(),
        }))
        .await;
    assert_eq!(watcher.recv_publish().await.topic, "wills/mortal");
}

#[tokio::test]
async fn will_delay_holds_the_will_back() {
    let broker = Broker::start();
    let mut watcher = watcher(&broker).await;
    let dropped = Instant::now();
    connect_with_will(&broker, ProtocolVersion::V5, Some(1))
        .await
        .drop_connection();
    let got = watcher.recv_publish().await;
    assert_eq!(got.topic, "wills/mortal");
    assert!(
        dropped.elapsed() >= Duration::from_millis(900),
        "will came after {:?}",
        dropped.elapsed()
    );
}

#[tokio::test]
async fn reconnecting_within_will_delay_cancels_the_will() {
    let broker = Broker::start();
    let mut watcher = watcher(&broker).await;
    connect_with_will(&broker, ProtocolVersion::V5, Some(2))
        .await
        .drop_connection();
    // Back once the broker has seen the connection go and the will is
    // pending.
    assert!(broker
        .wait_for_log(
            "client disconnected client_id=mortal",
            Duration::from_secs(10)
        )
        .is_some());
    let mut connect = connect_packet(ProtocolVersion::V5, "mortal");
    connect.clean_start = false;
    connect.properties.session_expiry_interval = Some(60);
    let (_back, ack) = RawClient::connect_with(broker.addr(), connect).await;
    assert!(ack.session_present);
    // Past the 2 s will delay: the will would have come by now.
    watcher.expect_silence(Duration::from_millis(2500)).await;
}
