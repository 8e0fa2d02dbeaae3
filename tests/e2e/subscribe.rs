//! SUBSCRIBE and UNSUBSCRIBE: filters, wildcards, options, shared
//! subscriptions.

use std::time::Duration;

use mqhost_codec::{reason, Packet, ProtocolVersion, QoS, SubscriptionOptions, Unsubscribe};
use mqhost_tests::raw::{options, publish, RawClient};
use mqhost_tests::Broker;

async fn send(client: &mut RawClient, topic: &str, payload: &str) {
    client
        .send(Packet::Publish(publish(
            topic,
            payload.as_bytes(),
            QoS::AtMostOnce,
            0,
        )))
        .await;
}

#[tokio::test]
async fn wildcards_match_as_the_spec_says() {
    let broker = Broker::start();
    let mut sub = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "sub").await;
    sub.subscribe("sport/+/score", QoS::AtMostOnce).await;
    sub.subscribe("news/#", QoS::AtMostOnce).await;
    let mut publisher = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "pub").await;
    for topic in [
        "sport/tennis/score",
        "sport/score",
        "news",
        "news/a/b",
        "newsy",
        "sport/x/score/y",
    ] {
        send(&mut publisher, topic, topic).await;
    }
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(sub.recv_publish().await.topic);
    }
    sub.expect_silence(Duration::from_millis(300)).await;
    assert_eq!(got, vec!["sport/tennis/score", "news", "news/a/b"]);
}

#[tokio::test]
async fn dollar_topics_are_not_matched_by_leading_wildcards() {
    let broker = Broker::start();
    let mut all = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "all").await;
    all.subscribe("#", QoS::AtMostOnce).await;
    all.subscribe("+/internal", QoS::AtMostOnce).await;
    let mut dollar = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "dollar").await;
    dollar.subscribe("$app/#", QoS::AtMostOnce).await;
    let mut publisher = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "pub").await;
    send(&mut publisher, "$app/internal", "hidden").await;
    assert_eq!(dollar.recv_publish().await.topic, "$app/internal");
    all.expect_silence(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn well_formed_filters_that_cannot_be_shared_are_refused_per_filter() {
    let broker = Broker::start();
    let mut client = RawClient::connect(broker.addr(), ProtocolVersion::V5, "picky").await;
    client
        .send(Packet::Subscribe(mqhost_codec::Subscribe {
            packet_id: 4,
            filters: vec![
                ("good/+".into(), options(QoS::AtLeastOnce)),
                ("$share/nofilter".into(), options(QoS::AtLeastOnce)),
                ("$share//nogroup".into(), options(QoS::AtMostOnce)),
                ("$share/g/fine".into(), options(QoS::ExactlyOnce)),
            ],
            properties: Default::default(),
        }))
        .await;
    match client.recv().await {
        Some(Packet::SubAck(ack)) => {
            assert_eq!(ack.packet_id, 4);
            assert_eq!(
                ack.reasons,
                vec![
                    1,
                    reason::TOPIC_FILTER_INVALID,
                    reason::TOPIC_FILTER_INVALID,
                    2
                ]
            );
        }
        other => panic!("expected SUBACK, got {other:?}"),
    }
}

#[tokio::test]
async fn unsubscribe_stops_delivery_and_reports_what_existed() {
    let broker = Broker::start();
    let mut client = RawClient::connect(broker.addr(), ProtocolVersion::V5, "fickle").await;
    client.subscribe("t", QoS::AtMostOnce).await;
    client
        .send(Packet::Unsubscribe(Unsubscribe {
            packet_id: 2,
            filters: vec!["t".into(), "never".into()],
            user_properties: Vec::new(),
        }))
        .await;
    match client.recv().await {
        Some(Packet::UnsubAck(ack)) => {
            assert_eq!(
                ack.reasons,
                vec![reason::SUCCESS, reason::NO_SUBSCRIPTION_EXISTED]
            )
        }
        other => panic!("expected UNSUBACK, got {other:?}"),
    }
    send(&mut client, "t", "echo?").await;
    client.expect_silence(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn v311_unsubscribe_is_acknowledged() {
    let broker = Broker::start();
    let mut client = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "v4").await;
    client
        .send(Packet::Unsubscribe(Unsubscribe {
            packet_id: 11,
            filters: vec!["nothing".into()],
            user_properties: Vec::new(),
        }))
        .await;
    match client.recv().await {
        Some(Packet::UnsubAck(ack)) => assert_eq!(ack.packet_id, 11),
        other => panic!("expected UNSUBACK, got {other:?}"),
    }
}

#[tokio::test]
async fn subscription_identifiers_come_back_with_every_match() {
    let broker = Broker::start();
    let mut sub = RawClient::connect(broker.addr(), ProtocolVersion::V5, "ids").await;
    sub.subscribe_with("a/+", options(QoS::AtMostOnce), Some(7))
        .await;
    sub.subscribe_with("a/#", options(QoS::AtMostOnce), Some(300))
        .await;
    let mut publisher = RawClient::connect(broker.addr(), ProtocolVersion::V5, "pub").await;
    send(&mut publisher, "a/b", "x").await;
    let mut ids = sub.recv_publish().await.properties.subscription_identifiers;
    ids.sort_unstable();
    assert_eq!(ids, vec![7, 300]);
}

#[tokio::test]
async fn no_local_keeps_a_client_from_its_own_messages() {
    let broker = Broker::start();
    let mut client = RawClient::connect(broker.addr(), ProtocolVersion::V5, "narcissus").await;
    let no_local = SubscriptionOptions {
        no_local: true,
        ..options(QoS::AtMostOnce)
    };
    client.subscribe_with("mirror", no_local, None).await;
    send(&mut client, "mirror", "me").await;
    client.expect_silence(Duration::from_millis(300)).await;
    let mut other = RawClient::connect(broker.addr(), ProtocolVersion::V5, "other").await;
    send(&mut other, "mirror", "you").await;
    assert_eq!(&client.recv_publish().await.payload[..], b"you");
}

#[tokio::test]
async fn retain_as_published_keeps_the_retain_flag() {
    let broker = Broker::start();
    let mut plain = RawClient::connect(broker.addr(), ProtocolVersion::V5, "plain").await;
    plain.subscribe("flag", QoS::AtMostOnce).await;
    let mut rap = RawClient::connect(broker.addr(), ProtocolVersion::V5, "rap").await;
    let keep = SubscriptionOptions {
        retain_as_published: true,
        ..options(QoS::AtMostOnce)
    };
    rap.subscribe_with("flag", keep, None).await;
    let mut publisher = RawClient::connect(broker.addr(), ProtocolVersion::V5, "pub").await;
    let mut message = publish("flag", b"r", QoS::AtMostOnce, 0);
    message.retain = true;
    publisher.send(Packet::Publish(message)).await;
    assert!(!plain.recv_publish().await.retain);
    assert!(rap.recv_publish().await.retain);
}

#[tokio::test]
async fn shared_subscription_gives_each_message_to_one_member() {
    let broker = Broker::start();
    let mut members = Vec::new();
    for id in ["worker-1", "worker-2"] {
        let mut member = RawClient::connect(broker.addr(), ProtocolVersion::V5, id).await;
        member
            .subscribe("$share/pool/jobs/#", QoS::AtMostOnce)
            .await;
        members.push(member);
    }
    let mut publisher = RawClient::connect(broker.addr(), ProtocolVersion::V5, "boss").await;
    for i in 0..10 {
        send(&mut publisher, "jobs/new", &i.to_string()).await;
    }
    let mut total = 0;
    for member in &mut members {
        let mut count = 0;
        while let Ok(Some(Packet::Publish(p))) =
            member.recv_within(Duration::from_millis(400)).await
        {
            assert_eq!(p.topic, "jobs/new");
            count += 1;
        }
        assert!(count >= 1, "round robin should reach every member");
        total += count;
    }
    assert_eq!(total, 10, "each message goes to exactly one member");
}

#[tokio::test]
async fn no_local_on_shared_subscription_is_a_protocol_error() {
    let broker = Broker::start();
    let mut client = RawClient::connect(broker.addr(), ProtocolVersion::V5, "rule-breaker").await;
    let bad = SubscriptionOptions {
        no_local: true,
        ..options(QoS::AtMostOnce)
    };
    client
        .send(Packet::Subscribe(mqhost_codec::Subscribe {
            packet_id: 1,
            filters: vec![("$share/g/t".into(), bad)],
            properties: Default::default(),
        }))
        .await;
    match client.expect_closed().await.as_slice() {
        [Packet::Disconnect(d)] => assert_eq!(d.reason, reason::PROTOCOL_ERROR),
        other => panic!("expected DISCONNECT 0x82, got {other:?}"),
    }
}
