//! `$SYS/brokers/<node>/...` figures.

use mqhost_codec::{ProtocolVersion, QoS};
use mqhost_tests::raw::RawClient;
use mqhost_tests::Broker;

#[tokio::test]
async fn sys_topics_report_uptime_and_clients() {
    let broker = Broker::start_with(&[("sys.interval", "1s"), ("node.name", "node-a@127.0.0.1")]);
    let mut client = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "observer").await;
    client
        .subscribe(
            "$SYS/brokers/node-a@127.0.0.1/clients/connected",
            QoS::AtMostOnce,
        )
        .await;
    // The retained value may predate this client; the next tick counts it.
    let mut seen = Vec::new();
    for _ in 0..3 {
        let got = client.recv_publish().await;
        let connected: u64 = std::str::from_utf8(&got.payload).unwrap().parse().unwrap();
        seen.push(connected);
        if connected >= 1 {
            break;
        }
    }
    assert!(seen.contains(&1), "clients/connected values: {seen:?}");
    client
        .subscribe("$SYS/brokers/+/uptime", QoS::AtMostOnce)
        .await;
    let got = client.recv_publish().await;
    assert_eq!(got.topic, "$SYS/brokers/node-a@127.0.0.1/uptime");
    let _: u64 = std::str::from_utf8(&got.payload).unwrap().parse().unwrap();
}
