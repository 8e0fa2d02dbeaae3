//! A client id is connected once in the cluster: connecting to another
//! node ends the first connection with 0x8E, Session taken over.

use mqhost_codec::{Packet, ProtocolVersion};
use mqhost_tests::raw::RawClient;
use mqhost_tests::redis::RedisServer;

use super::*;

#[tokio::test]
async fn a_client_id_connecting_to_another_node_takes_over() {
    let redis = RedisServer::start();
    let text = config(&redis.addr(), "c1", "");
    let n1 = start_node("n1", &text);
    let n2 = start_node("n2", &text);
    wait_seen(&n1.broker, &[("n1", "up"), ("n2", "up")]).await;
    let mut first = RawClient::connect(n1.broker.addr(), ProtocolVersion::V5, "dev-1").await;
    let mut other = RawClient::connect(n1.broker.addr(), ProtocolVersion::V5, "dev-2").await;
    let _second = RawClient::connect(n2.broker.addr(), ProtocolVersion::V5, "dev-1").await;
    let packets = tokio::time::timeout(WAIT, first.expect_closed())
        .await
        .expect("n1 ends the first connection");
    assert!(
        matches!(packets.as_slice(), [Packet::Disconnect(d)] if d.reason == 0x8E),
        "{packets:?}"
    );
    assert_eq!(status(&n1.broker).await["bus"]["taken_over"], 1);
    // Another client of n1 is untouched.
    other.expect_silence(Duration::from_millis(300)).await;
    let (ok, out, _) = n1.broker.ctl(&["clients", "list"]);
    assert!(
        ok && out.contains("dev-2") && !out.contains("dev-1"),
        "{out}"
    );
}
