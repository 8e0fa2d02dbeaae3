//! CONNECT and CONNACK: versions, client ids, keep alive, takeover.

use std::time::Duration;

use mqhost_codec::{reason, Packet, ProtocolVersion};
use mqhost_tests::raw::{connect_packet, RawClient};
use mqhost_tests::{logged_at, Broker};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet as RPacket, QoS};

#[tokio::test]
async fn rumqttc_v311_client_publishes_and_receives() {
    let broker = Broker::start();
    let mut options = MqttOptions::new("rumqttc-v4", "127.0.0.1", broker.port());
    options.set_keep_alive(Duration::from_secs(30));
    let (client, mut events) = AsyncClient::new(options, 10);
    client.subscribe("greet/+", QoS::AtLeastOnce).await.unwrap();
    let mut published = false;
    let received = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match events.poll().await.expect("event loop") {
                Event::Incoming(RPacket::SubAck(_)) if !published => {
                    published = true;
                    client
                        .publish("greet/world", QoS::AtLeastOnce, false, "hello")
                        .await
                        .unwrap();
                }
                Event::Incoming(RPacket::Publish(p)) => return p,
                _ => {}
            }
        }
    })
    .await
    .expect("message within 10 s");
    assert_eq!(received.topic, "greet/world");
    assert_eq!(&received.payload[..], b"hello");
    assert_eq!(received.qos, QoS::AtLeastOnce);
}

#[tokio::test]
async fn rumqttc_v5_client_qos2_round_trip_with_user_properties() {
    use rumqttc::v5::mqttbytes::v5::{Packet as V5Packet, PublishProperties};
    use rumqttc::v5::mqttbytes::QoS as V5QoS;
    use rumqttc::v5::{AsyncClient as V5Client, Event as V5Event, MqttOptions as V5Options};

    let broker = Broker::start();
    let options = V5Options::new("rumqttc-v5", "127.0.0.1", broker.port());
    let (client, mut events) = V5Client::new(options, 10);
    client.subscribe("v5/+", V5QoS::ExactlyOnce).await.unwrap();
    let properties = PublishProperties {
        user_properties: vec![("origin".into(), "test".into())],
        content_type: Some("text/plain".into()),
        ..Default::default()
    };
    let mut published = false;
    let received = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match events.poll().await.expect("event loop") {
                V5Event::Incoming(V5Packet::SubAck(_)) if !published => {
                    published = true;
                    client
                        .publish_with_properties(
                            "v5/x",
                            V5QoS::ExactlyOnce,
                            false,
                            "exactly once",
                            properties.clone(),
                        )
                        .await
                        .unwrap();
                }
                V5Event::Incoming(V5Packet::Publish(p)) => return p,
                _ => {}
            }
        }
    })
    .await
    .expect("message within 10 s");
    assert_eq!(&received.topic[..], b"v5/x");
    assert_eq!(&received.payload[..], b"exactly once");
    assert_eq!(received.qos, V5QoS::ExactlyOnce);
    let got = received.properties.expect("properties");
    assert_eq!(got.user_properties, properties.user_properties);
    assert_eq!(got.content_type.as_deref(), Some("text/plain"));
}

#[tokio::test]
async fn v31_client_is_accepted() {
    let broker = Broker::start();
    let (_client, ack) = RawClient::connect_with(
        broker.addr(),
        connect_packet(ProtocolVersion::V3_1, "old-timer"),
    )
    .await;
    assert_eq!(ack.reason, reason::SUCCESS);
    assert!(!ack.session_present);
}

#[tokio::test]
async fn unsupported_protocol_level_is_answered_with_return_code_1() {
    let broker = Broker::start();
    let mut client = RawClient::open(broker.addr(), ProtocolVersion::V3_1_1).await;
    // CONNECT, protocol "MQTT" level 6, clean session, keep alive 60, id "x".
    client
        .send_bytes(&[
            0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 6, 0x02, 0, 60, 0, 1, b'x',
        ])
        .await;
    let seen = client.expect_closed().await;
    match seen.as_slice() {
        [Packet::ConnAck(ack)] => assert_eq!(ack.reason, reason::UNSUPPORTED_PROTOCOL_VERSION),
        other => panic!("expected one CONNACK, got {other:?}"),
    }
}

#[tokio::test]
async fn v5_client_without_id_gets_one_assigned() {
    let broker = Broker::start();
    let (_client, ack) =
        RawClient::connect_with(broker.addr(), connect_packet(ProtocolVersion::V5, "")).await;
    assert_eq!(ack.reason, reason::SUCCESS);
    let assigned = ack
        .properties
        .assigned_client_identifier
        .expect("assigned id");
    assert!(!assigned.is_empty());
}

#[tokio::test]
async fn v311_empty_id_with_persistent_session_is_rejected() {
    let broker = Broker::start();
    let mut connect = connect_packet(ProtocolVersion::V3_1_1, "");
    connect.clean_start = false;
    let (mut client, ack) = RawClient::connect_with(broker.addr(), connect).await;
    assert_eq!(ack.reason, reason::CLIENT_IDENTIFIER_NOT_VALID);
    client.expect_closed().await;
}

#[tokio::test]
async fn v311_empty_id_with_clean_session_is_accepted() {
    let broker = Broker::start();
    let (_client, ack) =
        RawClient::connect_with(broker.addr(), connect_packet(ProtocolVersion::V3_1_1, "")).await;
    assert_eq!(ack.reason, reason::SUCCESS);
}

#[tokio::test]
async fn silent_client_is_disconnected_after_one_and_a_half_keep_alives() {
    let broker = Broker::start();
    let mut connect = connect_packet(ProtocolVersion::V5, "sleepy");
    connect.keep_alive = 1;
    let (mut client, _) = RawClient::connect_with(broker.addr(), connect).await;
    let seen = client.expect_closed().await;
    // Timed by the broker's own log, from CONNECT to the disconnection:
    // the test's scheduling does not count.
    let line = |what: &str| {
        broker
            .wait_for_log(&format!("{what} client_id=sleepy"), Duration::from_secs(5))
            .unwrap_or_else(|| panic!("no {what} line for sleepy"))
    };
    let waited = logged_at(&line("client disconnected"))
        .duration_since(logged_at(&line("client connected")))
        .unwrap();
    assert!(
        waited >= Duration::from_millis(1400) && waited < Duration::from_millis(3000),
        "closed after {waited:?}"
    );
    match seen.as_slice() {
        [Packet::Disconnect(d)] => assert_eq!(d.reason, reason::KEEP_ALIVE_TIMEOUT),
        other => panic!("expected DISCONNECT 0x8D, got {other:?}"),
    }
}

#[tokio::test]
async fn pings_keep_a_client_connected() {
    let broker = Broker::start();
    let mut connect = connect_packet(ProtocolVersion::V3_1_1, "pinger");
    connect.keep_alive = 1;
    let (mut client, _) = RawClient::connect_with(broker.addr(), connect).await;
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        client.send(Packet::PingReq).await;
        assert_eq!(client.recv().await, Some(Packet::PingResp));
    }
}

#[tokio::test]
async fn max_keepalive_becomes_server_keep_alive_for_v5() {
    let broker = Broker::start_with(&[("mqtt.max_keepalive", "60")]);
    let mut connect = connect_packet(ProtocolVersion::V5, "lazy");
    connect.keep_alive = 120;
    let (_client, ack) = RawClient::connect_with(broker.addr(), connect).await;
    assert_eq!(ack.properties.server_keep_alive, Some(60));
}

/// A 3.x client cannot be told a Server Keep Alive, but is held to
/// `mqtt.max_keepalive` all the same: asking for none, or for more, it is
/// disconnected when silent for longer than the limit allows.
#[tokio::test]
async fn max_keepalive_holds_v311_clients_too() {
    let broker = Broker::start_with(&[("mqtt.max_keepalive", "1")]);
    for (id, asked) in [("none-asked", 0), ("too-long", 120)] {
        let mut connect = connect_packet(ProtocolVersion::V3_1_1, id);
        connect.keep_alive = asked;
        let (mut client, _) = RawClient::connect_with(broker.addr(), connect).await;
        assert!(client.expect_closed().await.is_empty());
        let line = broker
            .wait_for_log(
                &format!("client disconnected client_id={id} "),
                Duration::from_secs(5),
            )
            .expect("disconnect line");
        assert!(
            line.contains("keep_alive=1 ") && line.contains("keepalive_timeout"),
            "{line}"
        );
    }
}

#[tokio::test]
async fn second_connection_with_same_id_takes_over() {
    let broker = Broker::start();
    let mut first = RawClient::connect(broker.addr(), ProtocolVersion::V5, "twin").await;
    let mut second = RawClient::connect(broker.addr(), ProtocolVersion::V5, "twin").await;
    let seen = first.expect_closed().await;
    match seen.as_slice() {
        [Packet::Disconnect(d)] => assert_eq!(d.reason, reason::SESSION_TAKEN_OVER),
        other => panic!("expected DISCONNECT 0x8E, got {other:?}"),
    }
    second.send(Packet::PingReq).await;
    assert_eq!(second.recv().await, Some(Packet::PingResp));
}

#[tokio::test]
async fn first_packet_other_than_connect_closes_the_connection() {
    let broker = Broker::start();
    let mut client = RawClient::open(broker.addr(), ProtocolVersion::V3_1_1).await;
    client.send(Packet::PingReq).await;
    assert!(client.expect_closed().await.is_empty());
}

#[tokio::test]
async fn connect_and_disconnect_are_logged_with_client_details() {
    let broker = Broker::start();
    let mut connect = connect_packet(ProtocolVersion::V3_1_1, "logged-client");
    connect.keep_alive = 42;
    let (client, _) = RawClient::connect_with(broker.addr(), connect).await;
    let line = broker
        .wait_for_log("client connected", Duration::from_secs(5))
        .expect("connect line");
    for part in ["logged-client", "127.0.0.1", "3.1.1", "keep_alive=42"] {
        assert!(line.contains(part), "{part} missing from: {line}");
    }
    client.disconnect().await;
    let line = broker
        .wait_for_log("client disconnected", Duration::from_secs(5))
        .expect("disconnect line");
    assert!(
        line.contains("logged-client") && line.contains("normal"),
        "{line}"
    );
}

/// A broker holds a descriptor per connection: started with a soft limit
/// of 256 open files, it raises it to the hard limit (at most 2^20).
#[cfg(target_os = "linux")]
#[test]
fn the_open_file_limit_is_raised_to_the_hard_limit() {
    let broker = Broker::start_under(&["prlimit", "--nofile=256:"], &[]);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", broker.pid())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files line");
    let numbers: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    let (soft, hard) = (numbers[0], numbers[1]);
    let expected = match hard.parse::<u64>() {
        Ok(hard) => hard.min(1 << 20).to_string(),
        Err(_) => (1u64 << 20).to_string(),
    };
    assert_eq!(soft, expected, "{line}");
    assert!(broker
        .wait_for_log("(was 256)", Duration::from_secs(5))
        .is_some());
}
