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
async fn denied_filter_gets_0x80_in_v5_too() {
    let broker = Broker::start_with(&[("acl.deny_subscribe", "secret/#, test/nosubscribe")]);
    let mut client = RawClient::connect(broker.addr(), ProtocolVersion::V5, "c").await;
    assert_eq!(
        client.subscribe("secret/plans", QoS::AtMostOnce).await,
        vec![reason::UNSPECIFIED_ERROR]
    );
    assert_eq!(client.subscribe("public", QoS::AtMostOnce).await, vec![0]);
}
