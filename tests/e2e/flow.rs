//! Flow control: a connected subscriber that keeps reading loses nothing to
//! a faster publisher, however small its queue; one that stops reading
//! holds publishers back only briefly.
//!
//! The tests run on two threads so that the publisher is not slowed down
//! by sharing one with the subscriber.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use mqhost_codec::{encode, Packet, ProtocolVersion, QoS};
use mqhost_tests::raw::{publish, RawClient};
use mqhost_tests::Broker;
use tokio::task::JoinHandle;

/// QoS 0 messages to send: far more than the queue (1000 by default), the
/// session's write buffer (256 KiB) and the kernel's send buffer towards
/// the subscriber (which grows to 4 MiB on loopback) hold together.
const COUNT: u32 = 150_000;
/// Subscribers' socket receive buffers: small, so that the broker's writes
/// to them stop soon and the session's queue is what takes the rest.
const RECEIVE_BUFFER: u32 = 4096;

async fn subscriber(broker: &Broker, client_id: &str, filter: &str, qos: QoS) -> RawClient {
    let mut sub = RawClient::connect_with_receive_buffer(
        broker.addr(),
        ProtocolVersion::V3_1_1,
        client_id,
        RECEIVE_BUFFER,
    )
    .await;
    sub.subscribe(filter, qos).await;
    sub
}

/// Connects a publisher and sends `count` messages numbered in their
/// payload in one write, as fast as the broker takes them; for QoS 1 it
/// then reads every PUBACK.
fn blast(addr: SocketAddr, topic: &'static str, qos: QoS, count: u32) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut publisher = RawClient::connect(addr, ProtocolVersion::V3_1_1, "blaster").await;
        let mut bytes = BytesMut::new();
        for i in 0..count {
            let packet_id = if qos == QoS::AtMostOnce {
                0
            } else {
                (i % 65535 + 1) as u16
            };
            let mut payload = [0u8; 64];
            payload[..4].copy_from_slice(&i.to_be_bytes());
            let packet = Packet::Publish(publish(topic, &payload, qos, packet_id));
            encode(&packet, ProtocolVersion::V3_1_1, &mut bytes).unwrap();
        }
        publisher.send_bytes(&bytes).await;
        if qos == QoS::AtLeastOnce {
            for _ in 0..count {
                match publisher.recv().await {
                    Some(Packet::PubAck(_)) => {}
                    other => panic!("publisher expected PUBACK, got {other:?}"),
                }
            }
        }
    })
}

/// Reads `count` messages on `sub`, acknowledging QoS 1, and checks they
/// are 0, 1, 2, ... in order: none lost, none twice. It is a slow reader:
/// after the first message it stops for half a second, during which the
/// broker gets far ahead of it.
async fn expect_all(sub: &mut RawClient, count: u32) {
    for expected in 0..count {
        if expected == 1 {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let got = sub.recv_publish().await;
        let number = u32::from_be_bytes(got.payload[..4].try_into().unwrap());
        assert_eq!(number, expected, "message {expected} lost or out of order");
        if got.qos == QoS::AtLeastOnce {
            sub.puback(got.packet_id).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_keeps_reading_loses_no_qos0_message_to_a_faster_publisher() {
    let broker = Broker::start();
    let mut sub = subscriber(&broker, "reader", "flow/0", QoS::AtMostOnce).await;
    let publisher = blast(broker.addr(), "flow/0", QoS::AtMostOnce, COUNT);
    expect_all(&mut sub, COUNT).await;
    publisher.await.unwrap();
    assert_eq!(broker.count_logs("queue full"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_keeps_reading_loses_no_qos1_message_to_a_faster_publisher() {
    let broker = Broker::start();
    let mut sub = subscriber(&broker, "reader", "flow/1", QoS::AtLeastOnce).await;
    let publisher = blast(broker.addr(), "flow/1", QoS::AtLeastOnce, 20_000);
    expect_all(&mut sub, 20_000).await;
    publisher.await.unwrap();
    assert_eq!(broker.count_logs("queue full"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_stops_reading_holds_publishers_back_only_briefly() {
    let broker = Broker::start();
    let stuck = subscriber(&broker, "stuck", "flow/s", QoS::AtMostOnce).await;
    let mut live = subscriber(&broker, "live", "flow/s", QoS::AtMostOnce).await;
    let publisher = blast(broker.addr(), "flow/s", QoS::AtMostOnce, COUNT);
    // `stuck` never reads: its queue fills and drops, while the subscriber
    // that reads still gets every message, and soon.
    tokio::time::timeout(Duration::from_secs(60), expect_all(&mut live, COUNT))
        .await
        .expect("the publisher was held back by a subscriber that does not read");
    publisher.await.unwrap();
    assert!(broker.count_logs("queue full") > 0);
    drop(stuck);
}
