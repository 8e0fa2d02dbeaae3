//! Message delivery: QoS 0/1/2 state machines in both directions, the
//! in-flight window, overlapping subscriptions.

use std::time::Duration;

use mqhost_codec::{reason, Packet, ProtocolVersion, PubAck, QoS};
use mqhost_tests::raw::{publish, RawClient};
use mqhost_tests::Broker;

fn ack(packet_id: u16) -> PubAck {
    PubAck {
        packet_id,
        reason: 0,
        properties: Default::default(),
    }
}

#[tokio::test]
async fn qos0_message_reaches_subscriber() {
    let broker = Broker::start();
    let mut sub = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "sub").await;
    assert_eq!(sub.subscribe("t/0", QoS::AtMostOnce).await, vec![0]);
    let mut publisher = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "pub").await;
    publisher
        .send(Packet::Publish(publish("t/0", b"zero", QoS::AtMostOnce, 0)))
        .await;
    let got = sub.recv_publish().await;
    assert_eq!(
        (got.topic.as_str(), &got.payload[..], got.qos),
        ("t/0", &b"zero"[..], QoS::AtMostOnce)
    );
}

#[tokio::test]
async fn qos1_publish_is_acked_and_delivered_until_acked() {
    let broker = Broker::start();
    let mut sub = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "sub").await;
    sub.subscribe("t/1", QoS::AtLeastOnce).await;
    let mut publisher = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "pub").await;
    publisher
        .send(Packet::Publish(publish("t/1", b"one", QoS::AtLeastOnce, 7)))
        .await;
    assert_eq!(publisher.recv().await, Some(Packet::PubAck(ack(7))));
    let got = sub.recv_publish().await;
    assert_eq!(got.qos, QoS::AtLeastOnce);
    assert_ne!(got.packet_id, 0);
    sub.puback(got.packet_id).await;
}

#[tokio::test]
async fn qos2_exchange_completes_in_both_directions() {
    let broker = Broker::start();
    let mut sub = RawClient::connect(broker.addr(), ProtocolVersion::V5, "sub").await;
    sub.subscribe("t/2", QoS::ExactlyOnce).await;
    let mut publisher = RawClient::connect(broker.addr(), ProtocolVersion::V5, "pub").await;
    publisher
        .send(Packet::Publish(publish("t/2", b"two", QoS::ExactlyOnce, 9)))
        .await;
    assert_eq!(publisher.recv().await, Some(Packet::PubRec(ack(9))));
    // A resent PUBLISH before PUBREL is not routed twice.
    let mut again = publish("t/2", b"two", QoS::ExactlyOnce, 9);
    again.dup = true;
    publisher.send(Packet::Publish(again)).await;
    assert_eq!(publisher.recv().await, Some(Packet::PubRec(ack(9))));
    publisher.send(Packet::PubRel(ack(9))).await;
    assert_eq!(publisher.recv().await, Some(Packet::PubComp(ack(9))));

    let got = sub.recv_publish().await;
    assert_eq!(got.qos, QoS::ExactlyOnce);
    sub.send(Packet::PubRec(ack(got.packet_id))).await;
    assert_eq!(sub.recv().await, Some(Packet::PubRel(ack(got.packet_id))));
    sub.send(Packet::PubComp(ack(got.packet_id))).await;
    sub.expect_silence(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn delivery_qos_is_the_lower_of_published_and_granted() {
    let broker = Broker::start();
    let mut sub = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "sub").await;
    sub.subscribe("down/grade", QoS::AtLeastOnce).await;
    let mut publisher = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "pub").await;
    publisher
        .send(Packet::Publish(publish(
            "down/grade",
            b"x",
            QoS::ExactlyOnce,
            1,
        )))
        .await;
    assert_eq!(sub.recv_publish().await.qos, QoS::AtLeastOnce);
    publisher
        .send(Packet::Publish(publish(
            "down/grade",
            b"y",
            QoS::AtMostOnce,
            0,
        )))
        .await;
    assert_eq!(sub.recv_publish().await.qos, QoS::AtMostOnce);
}

#[tokio::test]
async fn overlapping_subscriptions_deliver_once_at_highest_qos() {
    let broker = Broker::start();
    let mut sub = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "sub").await;
    sub.subscribe("a/#", QoS::AtMostOnce).await;
    sub.subscribe("a/+", QoS::AtLeastOnce).await;
    sub.subscribe("a/b", QoS::AtMostOnce).await;
    let mut publisher = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "pub").await;
    publisher
        .send(Packet::Publish(publish(
            "a/b",
            b"once",
            QoS::ExactlyOnce,
            3,
        )))
        .await;
    let got = sub.recv_publish().await;
    assert_eq!(got.qos, QoS::AtLeastOnce);
    sub.puback(got.packet_id).await;
    sub.expect_silence(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn receive_maximum_bounds_messages_in_flight() {
    let broker = Broker::start();
    let mut connect = mqhost_tests::raw::connect_packet(ProtocolVersion::V5, "slow");
    connect.properties.receive_maximum = Some(2);
    let (mut sub, _) = RawClient::connect_with(broker.addr(), connect).await;
    sub.subscribe("window", QoS::AtLeastOnce).await;
    let mut publisher = RawClient::connect(broker.addr(), ProtocolVersion::V5, "pub").await;
    for i in 1..=5u16 {
        publisher
            .send(Packet::Publish(publish(
                "window",
                &[i as u8],
                QoS::AtLeastOnce,
                i,
            )))
            .await;
    }
    let first = sub.recv_publish().await;
    let second = sub.recv_publish().await;
    assert_eq!(
        (&first.payload[..], &second.payload[..]),
        (&[1u8][..], &[2u8][..])
    );
    sub.expect_silence(Duration::from_millis(300)).await;
    sub.puback(first.packet_id).await;
    assert_eq!(&sub.recv_publish().await.payload[..], &[3u8][..]);
    sub.expect_silence(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn v5_puback_says_when_nobody_subscribed() {
    let broker = Broker::start();
    let mut publisher = RawClient::connect(broker.addr(), ProtocolVersion::V5, "lonely").await;
    publisher
        .send(Packet::Publish(publish(
            "nobody/home",
            b"?",
            QoS::AtLeastOnce,
            1,
        )))
        .await;
    match publisher.recv().await {
        Some(Packet::PubAck(a)) => assert_eq!(a.reason, reason::NO_MATCHING_SUBSCRIBERS),
        other => panic!("expected PUBACK, got {other:?}"),
    }
}

#[tokio::test]
async fn messages_from_one_publisher_arrive_in_order() {
    let broker = Broker::start();
    let mut sub = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "sub").await;
    sub.subscribe("seq", QoS::AtLeastOnce).await;
    let mut publisher = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "pub").await;
    for i in 0..200u16 {
        let qos = if i % 2 == 0 {
            QoS::AtMostOnce
        } else {
            QoS::AtLeastOnce
        };
        publisher
            .send(Packet::Publish(publish(
                "seq",
                &i.to_be_bytes(),
                qos,
                i + 1,
            )))
            .await;
    }
    for i in 0..200u16 {
        let got = sub.recv_publish().await;
        assert_eq!(&got.payload[..], &i.to_be_bytes()[..]);
        if got.qos != QoS::AtMostOnce {
            sub.puback(got.packet_id).await;
        }
    }
}

#[tokio::test]
async fn subscribe_sent_just_before_another_clients_publish_takes_effect_first() {
    // The Paho suite's request/response test relies on this: SUBSCRIBE
    // and PUBLISH written microseconds apart on two connections.
    let broker = Broker::start();
    let mut requester = RawClient::connect(broker.addr(), ProtocolVersion::V5, "requester").await;
    for round in 0..30u16 {
        let mut responder =
            RawClient::connect(broker.addr(), ProtocolVersion::V5, "responder").await;
        let topic = format!("race/{round}");
        responder
            .send(Packet::Subscribe(mqhost_codec::Subscribe {
                packet_id: 1,
                filters: vec![(topic.clone(), mqhost_tests::raw::options(QoS::AtMostOnce))],
                properties: Default::default(),
            }))
            .await;
        requester
            .send(Packet::Publish(publish(
                &topic,
                b"request",
                QoS::AtMostOnce,
                0,
            )))
            .await;
        assert!(matches!(responder.recv().await, Some(Packet::SubAck(_))));
        let got = responder.recv_publish().await;
        assert_eq!(got.topic, topic, "round {round}");
    }
}

#[tokio::test]
async fn exceeding_receive_maximum_gets_0x93_even_while_the_client_keeps_sending() {
    let broker = Broker::start_with(&[("mqtt.receive_maximum", "3")]);
    let mut client = RawClient::connect(broker.addr(), ProtocolVersion::V5, "greedy").await;
    for id in 1..=4u16 {
        client
            .send(Packet::Publish(publish("flow", b"x", QoS::ExactlyOnce, id)))
            .await;
    }
    // Like the Paho client, answer each PUBREC with PUBREL before reading on.
    let mut disconnect = None;
    while let Some(packet) = client.recv().await {
        match packet {
            Packet::PubRec(rec) => client.send(Packet::PubRel(ack(rec.packet_id))).await,
            Packet::Disconnect(d) => disconnect = Some(d.reason),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(disconnect, Some(reason::RECEIVE_MAXIMUM_EXCEEDED));
}
