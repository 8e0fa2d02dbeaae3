//! Corner cases of MQTT 3.1.1 and 5.0 that interoperability suites miss:
//! session takeover, wills on takeover, Maximum Packet Size on CONNACK,
//! malformed filters and topics, acknowledgements of the wrong kind.
//!
//! Each scenario speaks raw bytes and runs against mqhost and against
//! Mosquitto, the peer, with the same expectations: where the
//! specification leaves room, we do what Mosquitto does.

use std::future::Future;
use std::net::SocketAddr;

use bytes::BytesMut;
use mqhost_codec::{encode, reason, Packet, ProtocolVersion, Publish, QoS};
use mqhost_tests::mosquitto::Mosquitto;
use mqhost_tests::raw::{connect_packet, publish, will, RawClient};
use mqhost_tests::Broker;

use ProtocolVersion::{V3_1_1, V5};

/// Runs `scenario` against a fresh mqhost, then a fresh Mosquitto; the
/// scenario is told which one it faces, for its failure messages.
async fn on_both<F, Fut>(scenario: F)
where
    F: Fn(SocketAddr, &'static str) -> Fut,
    Fut: Future<Output = ()>,
{
    let mqhost = Broker::start();
    scenario(mqhost.addr(), "mqhost").await;
    drop(mqhost);
    let peer = Mosquitto::start();
    scenario(peer.addr(), "mosquitto").await;
}

/// A packet as it goes on the wire.
fn wire(packet: &Packet, version: ProtocolVersion) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode(packet, version, &mut out).expect("encode");
    out.to_vec()
}

/// A UTF-8 string field: two length bytes, then the bytes.
fn string(text: &str) -> Vec<u8> {
    let mut out = (text.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(text.as_bytes());
    out
}

/// A packet from its first byte and body (bodies here stay under 128
/// bytes, so the remaining length is one byte).
fn packet(first: u8, body: &[u8]) -> Vec<u8> {
    assert!(body.len() < 128);
    let mut out = vec![first, body.len() as u8];
    out.extend_from_slice(body);
    out
}

/// SUBSCRIBE (packet id 1) of one filter at QoS 0, encoded by hand so the
/// filter may be anything.
fn subscribe_bytes(version: ProtocolVersion, filter: &str) -> Vec<u8> {
    let mut body = vec![0, 1];
    if version.is_v5() {
        body.push(0); // no properties
    }
    body.extend(string(filter));
    body.push(0);
    packet(0x82, &body)
}

/// UNSUBSCRIBE (packet id 1) of one filter, encoded by hand.
fn unsubscribe_bytes(version: ProtocolVersion, filter: &str) -> Vec<u8> {
    let mut body = vec![0, 1];
    if version.is_v5() {
        body.push(0);
    }
    body.extend(string(filter));
    packet(0xA2, &body)
}

/// What a broker must do with a malformed packet: 5.0 gets DISCONNECT
/// 0x81 or 0x82 (either is a malformed-packet answer, 4.13.1), 3.x is
/// closed without a word.
async fn expect_closed_as_malformed(client: &mut RawClient, version: ProtocolVersion, who: &str) {
    let seen = client.expect_closed().await;
    if version.is_v5() {
        match seen.as_slice() {
            [Packet::Disconnect(d)] => assert!(
                d.reason == reason::MALFORMED_PACKET || d.reason == reason::PROTOCOL_ERROR,
                "{who}: DISCONNECT {:#04x}, expected 0x81 or 0x82",
                d.reason
            ),
            other => panic!("{who}: expected DISCONNECT 0x81/0x82 then close, got {other:?}"),
        }
    } else {
        assert!(
            seen.is_empty(),
            "{who}: expected a silent close, got {seen:?}"
        );
    }
}

/// What a broker must do with a protocol error: 5.0 gets DISCONNECT 0x82,
/// 3.x is closed without a word.
async fn expect_closed_as_protocol_error(
    client: &mut RawClient,
    version: ProtocolVersion,
    who: &str,
) {
    let seen = client.expect_closed().await;
    if version.is_v5() {
        let expected = wire(
            &Packet::Disconnect(mqhost_codec::Disconnect {
                reason: reason::PROTOCOL_ERROR,
                properties: Default::default(),
            }),
            version,
        );
        match seen.as_slice() {
            [disconnect @ Packet::Disconnect(_)] => {
                assert_eq!(wire(disconnect, version), expected, "{who}")
            }
            // Mosquitto 2.0.11 closes without DISCONNECT after some
            // protocol errors; 4.13.1 asks for one, and mqhost sends it.
            [] if who == "mosquitto" => {}
            other => panic!("{who}: expected DISCONNECT 0x82 then close, got {other:?}"),
        }
    } else {
        assert!(
            seen.is_empty(),
            "{who}: expected a silent close, got {seen:?}"
        );
    }
}

/// Proves `client` gets nothing on `quiet` without waiting for a time-out:
/// a publisher sends on `quiet`, then on `marker`, to which `client`
/// subscribed; brokers keep one publisher's order, so the marker arriving
/// first means nothing was coming on `quiet`.
async fn expect_nothing_before_marker(
    addr: SocketAddr,
    client: &mut RawClient,
    quiet: &str,
    who: &str,
) {
    assert_eq!(client.subscribe("marker", QoS::AtMostOnce).await, vec![0]);
    let mut publisher = RawClient::connect(addr, V3_1_1, "publisher").await;
    publisher
        .send(Packet::Publish(publish(
            quiet,
            b"stale",
            QoS::AtMostOnce,
            0,
        )))
        .await;
    publisher
        .send(Packet::Publish(publish(
            "marker",
            b"now",
            QoS::AtMostOnce,
            0,
        )))
        .await;
    let got = client.recv_publish().await;
    assert_eq!(
        got.topic, "marker",
        "{who}: the old session's subscription carried over"
    );
    publisher.disconnect().await;
}

/// A 5.0 connection whose client id connected again gets DISCONNECT 0x8E,
/// then is closed (MQTT 5.0 3.1.4).
async fn expect_taken_over(old: &mut RawClient, who: &str) {
    match old.expect_closed().await.as_slice() {
        [Packet::Disconnect(d)] => assert_eq!(d.reason, reason::SESSION_TAKEN_OVER, "{who}"),
        // Mosquitto 2.0.11 closes without the DISCONNECT the
        // specification asks for; mqhost sends it.
        [] if who == "mosquitto" => {}
        other => panic!("{who}: the old connection got {other:?}"),
    }
}

// === Takeover of a session that ends with its connection ===

async fn clean_session_taken_over_by_a_persistent_one(version: ProtocolVersion) {
    on_both(|addr, who| async move {
        let mut first = RawClient::connect(addr, version, "twice").await;
        assert_eq!(
            first.subscribe("old/topic", QoS::AtLeastOnce).await,
            vec![1]
        );

        let mut connect = connect_packet(version, "twice");
        connect.clean_start = false;
        if version.is_v5() {
            connect.properties.session_expiry_interval = Some(60);
        }
        let (mut second, connack) = RawClient::connect_with(addr, connect).await;
        assert!(
            !connack.session_present,
            "{who}: Session Present 1 for an ended session"
        );
        assert_eq!(connack.reason, 0, "{who}");
        if !version.is_v5() {
            assert_eq!(
                wire(&Packet::ConnAck(connack), version),
                [0x20, 0x02, 0x00, 0x00],
                "{who}"
            );
        }
        if version.is_v5() {
            expect_taken_over(&mut first, who).await;
        } else {
            assert!(first.expect_closed().await.is_empty(), "{who}");
        }
        expect_nothing_before_marker(addr, &mut second, "old/topic", who).await;
    })
    .await;
}

#[tokio::test]
async fn v311_clean_session_taken_over_by_a_persistent_one_is_not_resumed() {
    clean_session_taken_over_by_a_persistent_one(V3_1_1).await;
}

#[tokio::test]
async fn v5_expiry_zero_session_taken_over_by_a_persistent_one_is_not_resumed() {
    clean_session_taken_over_by_a_persistent_one(V5).await;
}

// === Wills on takeover ===

/// A 5.0 client `id` with a will on `wills/<id>` after `delay` seconds,
/// and a session that lasts `expiry` seconds.
async fn connect_with_will(addr: SocketAddr, id: &str, delay: u32, expiry: u32) -> RawClient {
    let mut connect = connect_packet(V5, id);
    let mut last = will(&format!("wills/{id}"), "gone", QoS::AtMostOnce);
    last.properties.will_delay_interval = Some(delay);
    connect.will = Some(last);
    connect.properties.session_expiry_interval = Some(expiry);
    let (client, ack) = RawClient::connect_with(addr, connect).await;
    assert_eq!(ack.reason, 0);
    client
}

/// The old connection of `id` is taken over by a persistent one that keeps
/// the session; returns the new connection.
async fn take_over(addr: SocketAddr, id: &str, old: &mut RawClient, who: &str) -> RawClient {
    let mut connect = connect_packet(V5, id);
    connect.clean_start = false;
    connect.properties.session_expiry_interval = Some(60);
    let (new, ack) = RawClient::connect_with(addr, connect).await;
    assert!(ack.session_present, "{who}: the session should go on");
    expect_taken_over(old, who).await;
    new
}

/// Subscribes a watcher to every will, and to the marker topic.
async fn will_watcher(addr: SocketAddr) -> RawClient {
    let mut watcher = RawClient::connect(addr, V3_1_1, "watcher").await;
    assert_eq!(watcher.subscribe("wills/#", QoS::AtMostOnce).await, vec![0]);
    watcher
}

async fn takeover_keeps_the_will_back(delay: u32, expiry: u32) {
    on_both(|addr, who| async move {
        let mut watcher = will_watcher(addr).await;
        let mut old = connect_with_will(addr, "heir", delay, expiry).await;
        let _new = take_over(addr, "heir", &mut old, who).await;
        // Any will would be published at the takeover, before the marker.
        let mut publisher = RawClient::connect(addr, V3_1_1, "publisher").await;
        publisher
            .send(Packet::Publish(publish(
                "wills/marker",
                b"now",
                QoS::AtMostOnce,
                0,
            )))
            .await;
        let got = watcher.recv_publish().await;
        assert_eq!(
            got.topic, "wills/marker",
            "{who}: a will was published although the session was resumed"
        );
    })
    .await;
}

#[tokio::test]
async fn persistent_takeover_with_will_delay_publishes_no_will() {
    takeover_keeps_the_will_back(30, 60).await;
}

#[tokio::test]
async fn persistent_takeover_with_zero_will_delay_publishes_no_will() {
    takeover_keeps_the_will_back(0, 60).await;
}

#[tokio::test]
async fn persistent_takeover_with_expiry_shorter_than_will_delay_publishes_no_will() {
    takeover_keeps_the_will_back(30, 5).await;
}

// === Maximum Packet Size covers CONNACK ===

#[tokio::test]
async fn connack_larger_than_the_clients_maximum_packet_size_is_not_sent() {
    on_both(|addr, who| async move {
        let mut connect = connect_packet(V5, "tiny");
        connect.properties.maximum_packet_size = Some(2);
        let mut client = RawClient::open(addr, V5).await;
        client.send(Packet::Connect(Box::new(connect))).await;
        let seen = client.expect_closed().await;
        assert!(
            seen.is_empty(),
            "{who}: sent {seen:?} to a client that takes 2 bytes"
        );
    })
    .await;
}

#[tokio::test]
async fn connack_within_a_small_maximum_packet_size_is_sent() {
    on_both(|addr, who| async move {
        let mut connect = connect_packet(V5, "small");
        connect.properties.maximum_packet_size = Some(20);
        let (_client, connack) = RawClient::connect_with(addr, connect).await;
        assert_eq!(connack.reason, 0, "{who}");
        let size = wire(&Packet::ConnAck(connack), V5).len();
        assert!(
            size <= 20,
            "{who}: a {size}-byte CONNACK for a 20-byte limit"
        );
    })
    .await;
}

// === Malformed filters and topics ===

async fn malformed_subscribe(version: ProtocolVersion, filter: &'static str) {
    on_both(|addr, who| async move {
        let mut client = RawClient::connect(addr, version, "filters").await;
        client.send_bytes(&subscribe_bytes(version, filter)).await;
        expect_closed_as_malformed(&mut client, version, who).await;
    })
    .await;
}

async fn malformed_unsubscribe(version: ProtocolVersion, filter: &'static str) {
    on_both(|addr, who| async move {
        let mut client = RawClient::connect(addr, version, "filters").await;
        client.send_bytes(&unsubscribe_bytes(version, filter)).await;
        expect_closed_as_malformed(&mut client, version, who).await;
    })
    .await;
}

#[tokio::test]
async fn v5_subscribe_with_an_empty_filter_is_malformed() {
    malformed_subscribe(V5, "").await;
}

#[tokio::test]
async fn v5_subscribe_with_hash_before_the_last_level_is_malformed() {
    malformed_subscribe(V5, "#/test/topic").await;
}

#[tokio::test]
async fn v5_subscribe_with_a_partial_plus_level_is_malformed() {
    malformed_subscribe(V5, "a/b+/c").await;
}

#[tokio::test]
async fn v311_subscribe_with_malformed_filters_is_closed() {
    malformed_subscribe(V3_1_1, "").await;
    malformed_subscribe(V3_1_1, "#/test/topic").await;
}

#[tokio::test]
async fn v5_unsubscribe_with_an_empty_filter_is_malformed() {
    malformed_unsubscribe(V5, "").await;
}

#[tokio::test]
async fn v5_unsubscribe_with_hash_before_the_last_level_is_malformed() {
    malformed_unsubscribe(V5, "#/test/topic").await;
}

#[tokio::test]
async fn v311_unsubscribe_with_malformed_filters_is_closed() {
    malformed_unsubscribe(V3_1_1, "").await;
    malformed_unsubscribe(V3_1_1, "a/#/b").await;
}

#[tokio::test]
async fn v5_publish_to_a_wildcard_topic_is_malformed() {
    on_both(|addr, who| async move {
        for topic in ["a/+/b", "a/#"] {
            let mut client = RawClient::connect(addr, V5, "wild").await;
            let mut body = string(topic);
            body.push(0); // no properties
            body.extend_from_slice(b"x");
            client.send_bytes(&packet(0x30, &body)).await;
            expect_closed_as_malformed(&mut client, V5, who).await;
        }
    })
    .await;
}

// === Acknowledgements of the wrong kind ===

/// A subscriber on `acks/topic` at `qos` that has just received one
/// message; returns it with its packet id.
async fn receiver(addr: SocketAddr, version: ProtocolVersion, qos: QoS) -> (RawClient, Publish) {
    let mut subscriber = RawClient::connect(addr, version, "receiver").await;
    assert_eq!(
        subscriber.subscribe("acks/topic", qos).await,
        vec![qos as u8]
    );
    let mut publisher = RawClient::connect(addr, V3_1_1, "sender").await;
    publisher
        .send(Packet::Publish(publish("acks/topic", b"payload", qos, 7)))
        .await;
    if qos == QoS::ExactlyOnce {
        // Mosquitto routes a QoS 2 message once its PUBREL arrives.
        assert!(matches!(publisher.recv().await, Some(Packet::PubRec(_))));
        publisher.send_bytes(&[0x62, 0x02, 0x00, 0x07]).await;
    }
    let got = subscriber.recv_publish().await;
    assert_eq!(got.qos, qos);
    (subscriber, got)
}

async fn wrong_ack(version: ProtocolVersion, qos: QoS, after_pubrec: bool, first_byte: u8) {
    on_both(|addr, who| async move {
        let (mut client, got) = receiver(addr, version, qos).await;
        let [hi, lo] = got.packet_id.to_be_bytes();
        if after_pubrec {
            client.send_bytes(&[0x50, 0x02, hi, lo]).await;
            match client.recv().await {
                Some(Packet::PubRel(rel)) => assert_eq!(rel.packet_id, got.packet_id),
                other => panic!("{who}: expected PUBREL, got {other:?}"),
            }
        }
        client.send_bytes(&[first_byte, 0x02, hi, lo]).await;
        expect_closed_as_protocol_error(&mut client, version, who).await;
    })
    .await;
}

const PUBACK: u8 = 0x40;
const PUBCOMP: u8 = 0x70;

#[tokio::test]
async fn pubcomp_for_a_qos1_message_is_a_protocol_error() {
    wrong_ack(V5, QoS::AtLeastOnce, false, PUBCOMP).await;
    wrong_ack(V3_1_1, QoS::AtLeastOnce, false, PUBCOMP).await;
}

#[tokio::test]
async fn puback_for_a_qos2_message_is_a_protocol_error() {
    wrong_ack(V5, QoS::ExactlyOnce, false, PUBACK).await;
    wrong_ack(V3_1_1, QoS::ExactlyOnce, false, PUBACK).await;
}

#[tokio::test]
async fn puback_after_pubrec_is_a_protocol_error() {
    wrong_ack(V5, QoS::ExactlyOnce, true, PUBACK).await;
    wrong_ack(V3_1_1, QoS::ExactlyOnce, true, PUBACK).await;
}

#[tokio::test]
async fn pubcomp_before_pubrec_is_a_protocol_error() {
    wrong_ack(V5, QoS::ExactlyOnce, false, PUBCOMP).await;
    wrong_ack(V3_1_1, QoS::ExactlyOnce, false, PUBCOMP).await;
}
