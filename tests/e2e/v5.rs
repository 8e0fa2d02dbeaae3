//! MQTT 5.0 features: topic aliases, properties passed through, message
//! expiry, maximum packet size, payload format.

use std::time::Duration;

use bytes::Bytes;
use mqhost_codec::{reason, Packet, ProtocolVersion, QoS};
use mqhost_tests::raw::{connect_packet, publish, RawClient};
use mqhost_tests::Broker;

#[tokio::test]
async fn inbound_topic_alias_is_resolved() {
    let broker = Broker::start();
    let mut sub = RawClient::connect(broker.addr(), ProtocolVersion::V5, "sub").await;
    sub.subscribe("long/topic/name", QoS::AtMostOnce).await;
    let mut publisher = RawClient::connect(broker.addr(), ProtocolVersion::V5, "pub").await;
    let mut first = publish("long/topic/name", b"1", QoS::AtMostOnce, 0);
    first.properties.topic_alias = Some(3);
    publisher.send(Packet::Publish(first)).await;
    let mut second = publish("", b"2", QoS::AtMostOnce, 0);
    second.properties.topic_alias = Some(3);
    publisher.send(Packet::Publish(second)).await;
    for expected in [b"1", b"2"] {
        let got = sub.recv_publish().await;
        assert_eq!(
            (got.topic.as_str(), &got.payload[..]),
            ("long/topic/name", &expected[..])
        );
    }
}

#[tokio::test]
async fn unknown_topic_alias_is_a_protocol_error() {
    let broker = Broker::start();
    let mut publisher = RawClient::connect(broker.addr(), ProtocolVersion::V5, "pub").await;
    let mut bad = publish("", b"?", QoS::AtMostOnce, 0);
    bad.properties.topic_alias = Some(9);
    publisher.send(Packet::Publish(bad)).await;
    match publisher.expect_closed().await.as_slice() {
        [Packet::Disconnect(d)] => assert_eq!(d.reason, reason::PROTOCOL_ERROR),
        other => panic!("expected DISCONNECT 0x82, got {other:?}"),
    }
}

#[tokio::test]
async fn outbound_topic_alias_is_used_when_the_client_allows() {
    let broker = Broker::start();
    let mut connect = connect_packet(ProtocolVersion::V5, "sub");
    connect.properties.topic_alias_maximum = Some(5);
    let (mut sub, _) = RawClient::connect_with(broker.addr(), connect).await;
    sub.subscribe("aliased", QoS::AtMostOnce).await;
    let mut publisher = RawClient::connect(broker.addr(), ProtocolVersion::V5, "pub").await;
    for _ in 0..2 {
        publisher
            .send(Packet::Publish(publish(
                "aliased",
                b"x",
                QoS::AtMostOnce,
                0,
            )))
            .await;
    }
    let first = sub.recv_publish().await;
    let alias = first
        .properties
        .topic_alias
        .expect("alias set on first use");
    assert_eq!(first.topic, "aliased");
    let second = sub.recv_publish().await;
    assert_eq!(second.topic, "");
    assert_eq!(second.properties.topic_alias, Some(alias));
}

#[tokio::test]
async fn properties_pass_through_to_subscribers() {
    let broker = Broker::start();
    let mut sub = RawClient::connect(broker.addr(), ProtocolVersion::V5, "sub").await;
    sub.subscribe("req", QoS::AtMostOnce).await;
    let mut publisher = RawClient::connect(broker.addr(), ProtocolVersion::V5, "pub").await;
    let mut message = publish("req", b"{}", QoS::AtMostOnce, 0);
    message.properties.payload_format_indicator = Some(1);
    message.properties.content_type = Some("application/json".into());
    message.properties.response_topic = Some("resp/1".into());
    message.properties.correlation_data = Some(Bytes::from_static(b"corr"));
    message.properties.user_properties = vec![("k".into(), "v".into()), ("k".into(), "w".into())];
    publisher.send(Packet::Publish(message.clone())).await;
    let got = sub.recv_publish().await.properties;
    assert_eq!(got.payload_format_indicator, Some(1));
    assert_eq!(got.content_type.as_deref(), Some("application/json"));
    assert_eq!(got.response_topic.as_deref(), Some("resp/1"));
    assert_eq!(got.correlation_data.as_deref(), Some(&b"corr"[..]));
    assert_eq!(got.user_properties, message.properties.user_properties);
}

#[tokio::test]
async fn message_expiry_counts_down_and_expired_messages_are_dropped() {
    let broker = Broker::start();
    let mut connect = connect_packet(ProtocolVersion::V5, "offline");
    connect.clean_start = false;
    connect.properties.session_expiry_interval = Some(60);
    let (mut sub, _) = RawClient::connect_with(broker.addr(), connect.clone()).await;
    sub.subscribe("exp/#", QoS::AtLeastOnce).await;
    sub.disconnect().await;

    let mut publisher = RawClient::connect(broker.addr(), ProtocolVersion::V5, "pub").await;
    let mut short = publish("exp/short", b"s", QoS::AtLeastOnce, 1);
    short.properties.message_expiry_interval = Some(1);
    let mut long = publish("exp/long", b"l", QoS::AtLeastOnce, 2);
    long.properties.message_expiry_interval = Some(100);
    publisher.send(Packet::Publish(short)).await;
    publisher.send(Packet::Publish(long)).await;
    publisher.recv().await;
    publisher.recv().await;
    tokio::time::sleep(Duration::from_millis(2100)).await;

    let (mut sub, _) = RawClient::connect_with(broker.addr(), connect).await;
    let got = sub.recv_publish().await;
    assert_eq!(got.topic, "exp/long");
    let left = got
        .properties
        .message_expiry_interval
        .expect("remaining expiry");
    assert!((97..=99).contains(&left), "remaining {left}");
    sub.puback(got.packet_id).await;
    sub.expect_silence(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn packet_over_max_packet_size_closes_with_0x95() {
    let broker = Broker::start_with(&[("mqtt.max_packet_size", "1KB")]);
    let mut client = RawClient::connect(broker.addr(), ProtocolVersion::V5, "big").await;
    client
        .send(Packet::Publish(publish(
            "t",
            &[0u8; 2000],
            QoS::AtMostOnce,
            0,
        )))
        .await;
    match client.expect_closed().await.as_slice() {
        [Packet::Disconnect(d)] => assert_eq!(d.reason, reason::PACKET_TOO_LARGE),
        other => panic!("expected DISCONNECT 0x95, got {other:?}"),
    }
}

#[tokio::test]
async fn connack_announces_maximum_packet_size() {
    let broker = Broker::start_with(&[("mqtt.max_packet_size", "1KB")]);
    let (_c, ack) =
        RawClient::connect_with(broker.addr(), connect_packet(ProtocolVersion::V5, "c")).await;
    assert_eq!(ack.properties.maximum_packet_size, Some(1024));
}

#[tokio::test]
async fn message_larger_than_client_maximum_is_not_sent_to_it() {
    let broker = Broker::start();
    let mut connect = connect_packet(ProtocolVersion::V5, "small");
    connect.properties.maximum_packet_size = Some(100);
    let (mut sub, _) = RawClient::connect_with(broker.addr(), connect).await;
    sub.subscribe("size", QoS::AtLeastOnce).await;
    let mut publisher = RawClient::connect(broker.addr(), ProtocolVersion::V5, "pub").await;
    publisher
        .send(Packet::Publish(publish(
            "size",
            &[1u8; 500],
            QoS::AtLeastOnce,
            1,
        )))
        .await;
    publisher
        .send(Packet::Publish(publish(
            "size",
            b"small",
            QoS::AtLeastOnce,
            2,
        )))
        .await;
    let got = sub.recv_publish().await;
    assert_eq!(&got.payload[..], b"small");
}

#[tokio::test]
async fn invalid_utf8_with_payload_format_one_is_refused() {
    let broker = Broker::start();
    let mut publisher = RawClient::connect(broker.addr(), ProtocolVersion::V5, "pub").await;
    let mut bad = publish("text", &[0xff, 0xfe], QoS::AtLeastOnce, 5);
    bad.properties.payload_format_indicator = Some(1);
    publisher.send(Packet::Publish(bad)).await;
    match publisher.recv().await {
        Some(Packet::PubAck(a)) => assert_eq!(a.reason, reason::PAYLOAD_FORMAT_INVALID),
        other => panic!("expected PUBACK 0x99, got {other:?}"),
    }
}

#[tokio::test]
async fn disconnect_cannot_extend_a_session_that_had_no_expiry() {
    let broker = Broker::start();
    let mut client = RawClient::connect(broker.addr(), ProtocolVersion::V5, "c").await;
    client
        .send(Packet::Disconnect(mqhost_codec::Disconnect {
            reason: 0,
            properties: mqhost_codec::DisconnectProperties {
                session_expiry_interval: Some(30),
                ..Default::default()
            },
        }))
        .await;
    match client.expect_closed().await.as_slice() {
        [Packet::Disconnect(d)] => assert_eq!(d.reason, reason::PROTOCOL_ERROR),
        other => panic!("expected DISCONNECT 0x82, got {other:?}"),
    }
}
