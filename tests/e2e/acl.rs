//! `acl.deny_subscribe`: filters refused at SUBSCRIBE.

use mqhost_codec::{reason, ProtocolVersion, QoS};
use mqhost_tests::raw::RawClient;
use mqhost_tests::Broker;

#[tokio::test]
async fn denied_filter_gets_0x80_in_v311() {
    let broker = Broker::start_with(&[("acl.deny_subscribe", "test/nosubscribe")]);
    let mut client = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "c").await;
    assert_eq!(
        client.subscribe("test/nosubscribe", QoS::AtLeastOnce).await,
        vec![0x80]
    );
    assert_eq!(
        client.subscribe("test/other", QoS::AtLeastOnce).await,
        vec![1]
    );
}

#[tokio::test]
async fn denied_filter_gets_0x87_in_v5() {
    let broker = Broker::start_with(&[("acl.deny_subscribe", "secret/#, test/nosubscribe")]);
    let mut client = RawClient::connect(broker.addr(), ProtocolVersion::V5, "c").await;
    assert_eq!(
        client.subscribe("secret/plans", QoS::AtMostOnce).await,
        vec![reason::NOT_AUTHORIZED]
    );
    assert_eq!(client.subscribe("public", QoS::AtMostOnce).await, vec![0]);
}

/// `acl.deny_reason = unspecified`: refusals do not say why (0x80), as the
/// Paho interoperability suite expects of a refused subscription.
#[tokio::test]
async fn deny_reason_unspecified_hides_why_in_v5() {
    let broker = Broker::start_with(&[
        ("acl.deny_subscribe", "test/nosubscribe"),
        ("acl.nomatch", "allow"),
        ("acl.deny_reason", "unspecified"),
    ]);
    let mut client = RawClient::connect(broker.addr(), ProtocolVersion::V5, "c").await;
    assert_eq!(
        client.subscribe("test/nosubscribe", QoS::AtMostOnce).await,
        vec![reason::UNSPECIFIED_ERROR]
    );
    client
        .send(mqhost_codec::Packet::Publish(mqhost_tests::raw::publish(
            "$SYS/x",
            b"x",
            QoS::AtLeastOnce,
            1,
        )))
        .await;
    match client.recv().await {
        Some(mqhost_codec::Packet::PubAck(ack)) => {
            assert_eq!(ack.reason, reason::UNSPECIFIED_ERROR)
        }
        other => panic!("expected PUBACK, got {other:?}"),
    }
}
