//! Bad input closes only the connection that sent it.

use mqhost_codec::{reason, Packet, ProtocolVersion, QoS};
use mqhost_tests::raw::{publish, RawClient};
use mqhost_tests::Broker;

#[tokio::test]
async fn garbage_closes_that_connection_and_no_other() {
    let mut broker = Broker::start();
    let mut bystander =
        RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "bystander").await;
    bystander.subscribe("still/here", QoS::AtMostOnce).await;
    let mut vandal = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "vandal").await;
    // Reserved packet type 0 with an oversized remaining length.
    vandal
        .send_bytes(&[0x00, 0xff, 0xff, 0xff, 0xff, 0x7f])
        .await;
    assert!(vandal.expect_closed().await.is_empty());
    assert!(broker.is_running());
    let mut publisher = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "pub").await;
    publisher
        .send(Packet::Publish(publish(
            "still/here",
            b"yes",
            QoS::AtMostOnce,
            0,
        )))
        .await;
    assert_eq!(&bystander.recv_publish().await.payload[..], b"yes");
}

#[tokio::test]
async fn v5_malformed_packet_gets_disconnect_0x81() {
    let broker = Broker::start();
    let mut client = RawClient::connect(broker.addr(), ProtocolVersion::V5, "sloppy").await;
    // PUBREL with reserved flags 0000 instead of 0010.
    client.send_bytes(&[0x60, 0x02, 0x00, 0x01]).await;
    match client.expect_closed().await.as_slice() {
        [Packet::Disconnect(d)] => assert_eq!(d.reason, reason::MALFORMED_PACKET),
        other => panic!("expected DISCONNECT 0x81, got {other:?}"),
    }
}

#[tokio::test]
async fn second_connect_is_a_protocol_error() {
    let broker = Broker::start();
    let mut client = RawClient::connect(broker.addr(), ProtocolVersion::V5, "again").await;
    client
        .send(Packet::Connect(Box::new(
            mqhost_tests::raw::connect_packet(ProtocolVersion::V5, "again"),
        )))
        .await;
    match client.expect_closed().await.as_slice() {
        [Packet::Disconnect(d)] => assert_eq!(d.reason, reason::PROTOCOL_ERROR),
        other => panic!("expected DISCONNECT 0x82, got {other:?}"),
    }
}
