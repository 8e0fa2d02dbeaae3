//! Persistent sessions: resumption, resends, the offline queue and its
//! bound, expiry, and clean start.

use std::time::Duration;

use mqhost_codec::{Packet, ProtocolVersion, PubAck, QoS};
use mqhost_tests::raw::{connect_packet, publish, RawClient};
use mqhost_tests::Broker;

fn ack(packet_id: u16) -> PubAck {
    PubAck {
        packet_id,
        reason: 0,
        properties: Default::default(),
    }
}

async fn connect_persistent(
    broker: &Broker,
    version: ProtocolVersion,
    id: &str,
    expiry: Option<u32>,
) -> (RawClient, bool) {
    let mut connect = connect_packet(version, id);
    connect.clean_start = false;
    connect.properties.session_expiry_interval = expiry;
    let (client, ack) = RawClient::connect_with(broker.addr(), connect).await;
    assert_eq!(ack.reason, 0);
    (client, ack.session_present)
}

/// Waits until the broker has ended `id`'s session (it logs that once the
/// session is gone from the registry).
fn wait_session_ended(broker: &Broker, id: &str) {
    let ended = broker.wait_for_log(
        &format!("session ended client_id={id}"),
        Duration::from_secs(10),
    );
    assert!(ended.is_some(), "{id}'s session did not end");
}

async fn publish_from(broker: &Broker, topic: &str, payloads: &[&str], qos: QoS) {
    let mut publisher =
        RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "publisher").await;
    for (i, payload) in payloads.iter().enumerate() {
        publisher
            .send(Packet::Publish(publish(
                topic,
                payload.as_bytes(),
                qos,
                i as u16 + 1,
            )))
            .await;
        if qos != QoS::AtMostOnce {
            publisher.recv().await;
        }
    }
    publisher.disconnect().await;
}

#[tokio::test]
async fn persistent_session_gets_messages_sent_while_offline() {
    let broker = Broker::start();
    let (mut sub, present) =
        connect_persistent(&broker, ProtocolVersion::V3_1_1, "keeper", None).await;
    assert!(!present);
    sub.subscribe("news", QoS::AtLeastOnce).await;
    sub.disconnect().await;

    publish_from(&broker, "news", &["a", "b", "c"], QoS::AtLeastOnce).await;

    let (mut sub, present) =
        connect_persistent(&broker, ProtocolVersion::V3_1_1, "keeper", None).await;
    assert!(present, "session should be resumed");
    for expected in ["a", "b", "c"] {
        let got = sub.recv_publish().await;
        assert_eq!(&got.payload[..], expected.as_bytes());
        sub.puback(got.packet_id).await;
    }
}

#[tokio::test]
async fn unacked_qos1_is_resent_with_dup_after_reconnect() {
    let broker = Broker::start();
    let (mut sub, _) =
        connect_persistent(&broker, ProtocolVersion::V3_1_1, "forgetful", None).await;
    sub.subscribe("important", QoS::AtLeastOnce).await;
    publish_from(&broker, "important", &["payload"], QoS::AtLeastOnce).await;
    let first = sub.recv_publish().await;
    assert!(!first.dup);
    sub.drop_connection();

    let (mut sub, present) =
        connect_persistent(&broker, ProtocolVersion::V3_1_1, "forgetful", None).await;
    assert!(present);
    let again = sub.recv_publish().await;
    assert!(again.dup, "resend must carry DUP");
    assert_eq!(again.packet_id, first.packet_id);
    assert_eq!(&again.payload[..], b"payload");
    sub.puback(again.packet_id).await;
    sub.expect_silence(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn qos2_pubrel_is_resent_after_reconnect() {
    let broker = Broker::start();
    let (mut sub, _) = connect_persistent(&broker, ProtocolVersion::V5, "halfway", Some(300)).await;
    sub.subscribe("exact", QoS::ExactlyOnce).await;
    publish_from(&broker, "exact", &["once"], QoS::ExactlyOnce).await;
    let got = sub.recv_publish().await;
    sub.send(Packet::PubRec(ack(got.packet_id))).await;
    assert_eq!(sub.recv().await, Some(Packet::PubRel(ack(got.packet_id))));
    sub.drop_connection();

    let (mut sub, present) =
        connect_persistent(&broker, ProtocolVersion::V5, "halfway", Some(300)).await;
    assert!(present);
    assert_eq!(sub.recv().await, Some(Packet::PubRel(ack(got.packet_id))));
    sub.send(Packet::PubComp(ack(got.packet_id))).await;
    sub.expect_silence(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn offline_queue_keeps_at_most_max_queued_messages() {
    let broker = Broker::start_with(&[("mqtt.max_queued_messages", "3")]);
    let (mut sub, _) = connect_persistent(&broker, ProtocolVersion::V3_1_1, "bounded", None).await;
    sub.subscribe("flood", QoS::AtLeastOnce).await;
    sub.disconnect().await;
    publish_from(
        &broker,
        "flood",
        &["1", "2", "3", "4", "5"],
        QoS::AtLeastOnce,
    )
    .await;

    let (mut sub, _) = connect_persistent(&broker, ProtocolVersion::V3_1_1, "bounded", None).await;
    for expected in ["1", "2", "3"] {
        let got = sub.recv_publish().await;
        assert_eq!(&got.payload[..], expected.as_bytes());
        sub.puback(got.packet_id).await;
    }
    sub.expect_silence(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn clean_session_client_gets_nothing_from_before() {
    let broker = Broker::start();
    let (mut sub, _) = connect_persistent(&broker, ProtocolVersion::V3_1_1, "amnesiac", None).await;
    sub.subscribe("old", QoS::AtLeastOnce).await;
    sub.disconnect().await;
    publish_from(&broker, "old", &["stale"], QoS::AtLeastOnce).await;

    let (mut sub, ack) = RawClient::connect_with(
        broker.addr(),
        connect_packet(ProtocolVersion::V3_1_1, "amnesiac"),
    )
    .await;
    assert!(!ack.session_present);
    sub.expect_silence(Duration::from_millis(300)).await;
    // The old subscription went with the old session.
    publish_from(&broker, "old", &["new"], QoS::AtLeastOnce).await;
    sub.expect_silence(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn v5_session_expires_after_its_interval() {
    let broker = Broker::start();
    let (mut sub, _) = connect_persistent(&broker, ProtocolVersion::V5, "mayfly", Some(1)).await;
    sub.subscribe("late", QoS::AtLeastOnce).await;
    sub.disconnect().await;
    wait_session_ended(&broker, "mayfly");
    publish_from(&broker, "late", &["gone"], QoS::AtLeastOnce).await;
    let (mut sub, present) =
        connect_persistent(&broker, ProtocolVersion::V5, "mayfly", Some(1)).await;
    assert!(!present, "session should have expired");
    sub.expect_silence(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn v5_session_with_expiry_zero_ends_at_disconnect() {
    let broker = Broker::start();
    let (mut sub, _) = connect_persistent(&broker, ProtocolVersion::V5, "brief", None).await;
    sub.subscribe("x", QoS::AtLeastOnce).await;
    sub.disconnect().await;
    wait_session_ended(&broker, "brief");
    let (_sub, present) = connect_persistent(&broker, ProtocolVersion::V5, "brief", None).await;
    assert!(!present);
}

#[tokio::test]
async fn taken_over_session_keeps_its_subscriptions() {
    let broker = Broker::start();
    let (mut first, _) = connect_persistent(&broker, ProtocolVersion::V5, "roamer", Some(60)).await;
    first.subscribe("follow/me", QoS::AtLeastOnce).await;
    let (mut second, present) =
        connect_persistent(&broker, ProtocolVersion::V5, "roamer", Some(60)).await;
    assert!(present);
    first.expect_closed().await;
    publish_from(&broker, "follow/me", &["here"], QoS::AtLeastOnce).await;
    assert_eq!(&second.recv_publish().await.payload[..], b"here");
}
