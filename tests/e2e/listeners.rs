//! Several listeners at once, and the connection limits of each.

use std::time::Duration;

use mqhost_codec::{Packet, ProtocolVersion, QoS};
use mqhost_tests::raw::{publish, RawClient};
use mqhost_tests::Broker;

const V5: ProtocolVersion = ProtocolVersion::V5;

/// The admin API's status, as JSON.
async fn status(broker: &Broker) -> serde_json::Value {
    let (code, body) = broker.admin_request("GET", "/api/v1/status").await;
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).expect("status is JSON")
}

/// A message published through one TCP listener reaches a subscriber of
/// another, and the default listener can be turned off.
#[tokio::test]
async fn clients_of_every_listener_share_one_broker() {
    let broker = Broker::start_with(&[
        ("listener.tcp.default", "off"),
        ("listener.tcp.inside", "127.0.0.1:0"),
        ("listener.tcp.outside", "127.0.0.1:0"),
    ]);
    assert!(broker.try_listener("tcp:default").is_none());
    let mut subscriber = RawClient::connect(broker.listener("tcp:inside"), V5, "sub").await;
    assert_eq!(subscriber.subscribe("news/#", QoS::AtMostOnce).await, [0]);
    let mut publisher = RawClient::connect(broker.listener("tcp:outside"), V5, "pub").await;
    publisher
        .send(Packet::Publish(publish(
            "news/a",
            b"hi",
            QoS::AtMostOnce,
            0,
        )))
        .await;
    assert_eq!(&subscriber.recv_publish().await.payload[..], b"hi");
}

/// A listener at `max_connections` closes one more connection at once,
/// without a CONNACK, counts it, logs it, and takes connections again once
/// one has gone; the other listeners are not affected.
#[tokio::test]
async fn a_listener_at_its_connection_limit_closes_one_more() {
    let broker = Broker::start_with(&[
        ("listener.tcp.small", "127.0.0.1:0"),
        ("listener.tcp.small.max_connections", "2"),
    ]);
    let small = broker.listener("tcp:small");
    let first = RawClient::connect(small, V5, "one").await;
    let _second = RawClient::connect(small, V5, "two").await;
    for _ in 0..10 {
        let mut over = RawClient::open(small, V5).await;
        over.send(Packet::Connect(Box::new(
            mqhost_tests::raw::connect_packet(V5, "three"),
        )))
        .await;
        assert_eq!(over.expect_closed().await, []);
    }
    // Another listener still serves.
    RawClient::connect(broker.addr(), V5, "elsewhere")
        .await
        .disconnect()
        .await;
    assert_eq!(status(&broker).await["connections_over_limit"], 10);
    // At most once a second: ten refusals in quick succession make one
    // line, a few if the machine is slow enough to straddle seconds.
    let logged = broker.count_logs("refused a connection: max_connections reached");
    assert!((1..=3).contains(&logged), "{logged} log lines");
    first.disconnect().await;
    // The place comes back when the broker has seen the connection go.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (mut client, ack) =
            match tokio::time::timeout(Duration::from_secs(5), try_connect(small, "three")).await {
                Ok(Some(connected)) => connected,
                _ => {
                    assert!(tokio::time::Instant::now() < deadline, "no place came back");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            };
        assert_eq!(ack, 0);
        client.send(Packet::PingReq).await;
        assert!(matches!(client.recv().await, Some(Packet::PingResp)));
        break;
    }
}

/// Connects `client_id`: its CONNACK code, or `None` when the connection
/// was closed first.
async fn try_connect(addr: std::net::SocketAddr, client_id: &str) -> Option<(RawClient, u8)> {
    let mut client = RawClient::open(addr, V5).await;
    client
        .send(Packet::Connect(Box::new(
            mqhost_tests::raw::connect_packet(V5, client_id),
        )))
        .await;
    match client.recv_within(Duration::from_secs(5)).await {
        Ok(Some(Packet::ConnAck(ack))) => Some((client, ack.reason)),
        _ => None,
    }
}

/// Beyond `max_conn_rate` connections a second, one more is closed at
/// once and counted; the allowance comes back with time.
#[tokio::test]
async fn a_listener_over_its_connection_rate_closes_one_more() {
    let broker = Broker::start_with(&[
        ("listener.tcp.slow", "127.0.0.1:0"),
        ("listener.tcp.slow.max_conn_rate", "3"),
    ]);
    let slow = broker.listener("tcp:slow");
    let mut accepted = 0;
    let mut refused = 0;
    let mut kept = Vec::new();
    // Far more than a second's allowance, faster than it refills: some
    // are refused whatever the machine's speed.
    for i in 0..40 {
        match try_connect(slow, &format!("rate-{i}")).await {
            Some((client, 0)) => {
                accepted += 1;
                kept.push(client);
            }
            Some((_, code)) => panic!("CONNACK {code:#x}"),
            None => refused += 1,
        }
    }
    assert!(accepted >= 3, "the first second's allowance is let in");
    assert!(refused >= 1, "{accepted} accepted, none refused");
    assert_eq!(status(&broker).await["connections_over_rate"], refused);
    assert_eq!(status(&broker).await["connections_over_limit"], 0);
    assert!(broker
        .wait_for_log(
            "refused a connection: max_conn_rate reached",
            Duration::from_secs(5)
        )
        .is_some());
    // A second later the allowance is back.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(matches!(try_connect(slow, "later").await, Some((_, 0))));
}

/// A listener that cannot start stops the broker with a message naming
/// it.
#[test]
fn a_listener_that_cannot_bind_is_named() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().to_string();
    let data = mqhost_tests::plugins::TempDir::new();
    let output = std::process::Command::new(mqhost_tests::mqhost_binary())
        .args([
            "--config",
            "/dev/null",
            "--set",
            "listener.tcp.default=127.0.0.1:0",
        ])
        .args(["--set", &format!("listener.ws.web={port}")])
        .args([
            "--set",
            "plugins.dir=/nonexistent",
            "--set",
            "admin.listener=off",
        ])
        .arg("--set")
        .arg(format!("persistence.dir={}", data.path().display()))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("listener.ws.web"), "{stderr}");
}

/// With `mqtt.allow_anonymous` not written down, each listener decides by
/// its own address: anonymous clients are welcome on a loopback one and
/// refused (0x87) on one bound to all interfaces.
#[tokio::test]
async fn anonymous_clients_are_welcome_only_on_loopback_listeners() {
    let broker = Broker::start_with(&[("listener.tcp.public", "0.0.0.0:0")]);
    let public = broker.listener("tcp:public");
    let reached = std::net::SocketAddr::from(([127, 0, 0, 1], public.port()));
    let (_, ack) = RawClient::connect_with(
        reached,
        mqhost_tests::raw::connect_packet(V5, "anonymous-public"),
    )
    .await;
    assert_eq!(ack.reason, mqhost_codec::reason::NOT_AUTHORIZED);
    RawClient::connect(broker.addr(), V5, "anonymous-loopback")
        .await
        .disconnect()
        .await;
    assert!(broker
        .wait_for_log(
            "anonymous clients are refused on listener tcp.public",
            Duration::from_secs(1)
        )
        .is_some());
}

/// The open-file budget is the broker's, not each listener's: two
/// listeners filled to what each is allowed must not take the descriptors
/// kept back for the admin API, plugins and Redis. Each listener alone
/// takes the soft limit less the reserve (600 - 256 = 344 here); together
/// they must take no more than that either.
#[tokio::test]
async fn listeners_together_stay_within_the_open_file_budget() {
    let broker = Broker::start_under(
        &["prlimit", "--nofile=600:600"],
        &[("listener.tcp.second", "127.0.0.1:0")],
    );
    let mut held = Vec::new();
    for addr in [broker.addr(), broker.listener("tcp:second")] {
        for _ in 0..340 {
            held.push(tokio::net::TcpStream::connect(addr).await.unwrap());
        }
    }
    // Idle connections are closed 10 s after they came without a CONNECT:
    // the API must answer well before then.
    let answered = tokio::time::timeout(
        Duration::from_secs(8),
        broker.admin_request("GET", "/api/v1/status"),
    )
    .await;
    let Ok((_, body)) = answered else {
        panic!("the admin API got no descriptor: the listeners took them all");
    };
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    let over = status["connections_over_limit"].as_u64().unwrap();
    assert!(over >= 680 - 344, "{over} connections turned away");
    drop(held);
}
