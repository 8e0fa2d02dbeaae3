//! Retained messages: store, replace, clear, deliver on subscribe, retain
//! handling, and the switch that turns the built-in store off.

use std::time::Duration;

use mqhost_codec::{Packet, ProtocolVersion, QoS, SubscriptionOptions};
use mqhost_tests::raw::{options, publish, RawClient};
use mqhost_tests::Broker;

async fn retain(broker: &Broker, topic: &str, payload: &str, qos: QoS) {
    let mut publisher =
        RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "retainer").await;
    let mut message = publish(topic, payload.as_bytes(), qos, 1);
    message.retain = true;
    publisher.send(Packet::Publish(message)).await;
    if qos != QoS::AtMostOnce {
        publisher.recv().await;
    }
    publisher.disconnect().await;
}

#[tokio::test]
async fn retained_message_is_delivered_on_subscribe_with_retain_flag() {
    let broker = Broker::start();
    retain(&broker, "home/temp", "21", QoS::AtLeastOnce).await;
    let mut sub = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "late").await;
    sub.subscribe("home/+", QoS::AtLeastOnce).await;
    let got = sub.recv_publish().await;
    assert!(got.retain);
    assert_eq!(
        (got.topic.as_str(), &got.payload[..]),
        ("home/temp", &b"21"[..])
    );
    assert_eq!(got.qos, QoS::AtLeastOnce);
}

#[tokio::test]
async fn newer_retained_message_replaces_older() {
    let broker = Broker::start();
    retain(&broker, "state", "old", QoS::AtMostOnce).await;
    retain(&broker, "state", "new", QoS::AtMostOnce).await;
    let mut sub = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "late").await;
    sub.subscribe("state", QoS::AtMostOnce).await;
    assert_eq!(&sub.recv_publish().await.payload[..], b"new");
    sub.expect_silence(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn empty_retained_payload_clears_the_topic() {
    let broker = Broker::start();
    retain(&broker, "gone", "something", QoS::AtMostOnce).await;
    retain(&broker, "gone", "", QoS::AtMostOnce).await;
    let mut sub = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "late").await;
    sub.subscribe("#", QoS::AtMostOnce).await;
    sub.expect_silence(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn retain_handling_one_sends_only_for_new_subscriptions() {
    let broker = Broker::start();
    retain(&broker, "rh/1", "kept", QoS::AtMostOnce).await;
    let mut sub = RawClient::connect(broker.addr(), ProtocolVersion::V5, "rh").await;
    let only_new = SubscriptionOptions {
        retain_handling: 1,
        ..options(QoS::AtMostOnce)
    };
    sub.subscribe_with("rh/1", only_new, None).await;
    assert_eq!(&sub.recv_publish().await.payload[..], b"kept");
    sub.subscribe_with("rh/1", only_new, None).await;
    sub.expect_silence(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn retain_handling_two_never_sends() {
    let broker = Broker::start();
    retain(&broker, "rh/2", "kept", QoS::AtMostOnce).await;
    let mut sub = RawClient::connect(broker.addr(), ProtocolVersion::V5, "rh").await;
    let never = SubscriptionOptions {
        retain_handling: 2,
        ..options(QoS::AtMostOnce)
    };
    sub.subscribe_with("rh/2", never, None).await;
    sub.expect_silence(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn retainer_off_stores_nothing_but_still_routes() {
    let broker = Broker::start_with(&[("mqtt.retainer", "off")]);
    let mut live = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "live").await;
    live.subscribe("r", QoS::AtMostOnce).await;
    retain(&broker, "r", "now", QoS::AtMostOnce).await;
    assert_eq!(&live.recv_publish().await.payload[..], b"now");
    let mut late = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "late").await;
    late.subscribe("r", QoS::AtMostOnce).await;
    late.expect_silence(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn expired_retained_message_is_not_delivered() {
    let broker = Broker::start();
    let mut publisher = RawClient::connect(broker.addr(), ProtocolVersion::V5, "pub").await;
    let mut message = publish("brief", b"soon gone", QoS::AtMostOnce, 0);
    message.retain = true;
    message.properties.message_expiry_interval = Some(1);
    publisher.send(Packet::Publish(message)).await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let mut sub = RawClient::connect(broker.addr(), ProtocolVersion::V5, "late").await;
    sub.subscribe("brief", QoS::AtMostOnce).await;
    sub.expect_silence(Duration::from_millis(300)).await;
}
