//! MQTT over WebSocket listeners (`listener.ws.<name>`): real clients,
//! packets cut anywhere across frames and messages, and the HTTP answers
//! to what is not an MQTT upgrade.

use std::net::SocketAddr;

use mqhost_codec::{Packet, ProtocolVersion, QoS, Subscribe, SubscribeProperties};
use mqhost_tests::certs::TestCerts;
use mqhost_tests::raw::{connect_packet, options, publish, RawClient, WAIT};
use mqhost_tests::ws::{self, encoded};
use mqhost_tests::Broker;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const V5: ProtocolVersion = ProtocolVersion::V5;
const V311: ProtocolVersion = ProtocolVersion::V3_1_1;

fn broker_with_ws(extra: &[(&str, &str)]) -> (Broker, SocketAddr) {
    let mut sets = vec![("listener.ws.web", "127.0.0.1:0")];
    sets.extend_from_slice(extra);
    let broker = Broker::start_with(&sets);
    let addr = broker.listener("ws:web");
    (broker, addr)
}

/// Python paho-mqtt over WebSocket and over TCP, MQTT 3.1, 3.1.1 and 5.0:
/// each receives what the other publishes, short and 200 KB payloads.
#[test]
fn paho_over_websocket_and_tcp_clients_exchange_messages() {
    let (broker, ws_addr) = broker_with_ws(&[]);
    exchange_with_paho(&broker, ws_addr, None);
}

/// The same over secure WebSocket (`listener.wss.<name>`), the client
/// trusting the test CA.
#[test]
fn paho_over_secure_websocket_and_tcp_clients_exchange_messages() {
    let certs = TestCerts::generate();
    let cert = certs.server_cert.display().to_string();
    let key = certs.server_key.display().to_string();
    let broker = Broker::start_with(&[
        ("listener.wss.secure", "127.0.0.1:0"),
        ("listener.wss.secure.certfile", &cert),
        ("listener.wss.secure.keyfile", &key),
    ]);
    let wss_addr = broker.listener("wss:secure");
    exchange_with_paho(&broker, wss_addr, Some(&certs.ca));
}

/// MQTT.js, the client browsers use (Debian's node-mqtt under Node.js),
/// over `ws://host:port/mqtt`, in 3.1.1 and 5.0.
#[test]
fn mqtt_js_over_websocket() {
    mqhost_tests::require("node", "nodejs");
    let (_broker, ws_addr) = broker_with_ws(&[]);
    let output = std::process::Command::new("node")
        .args(["-e", include_str!("websocket_mqttjs.js")])
        .arg("--")
        .arg(ws_addr.port().to_string())
        // Debian installs node modules there; a Node.js from elsewhere
        // does not look there by itself.
        .env("NODE_PATH", "/usr/share/nodejs:/usr/lib/nodejs")
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "MQTT.js failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert_eq!(
        stdout.lines().filter(|l| l.ends_with(": ok")).count(),
        2,
        "{stdout}"
    );
}

/// Runs websocket_paho.py against `ws_addr` (wss when `ca` is given) and
/// the broker's TCP listener; every version must exchange its messages.
fn exchange_with_paho(broker: &Broker, ws_addr: SocketAddr, ca: Option<&std::path::Path>) {
    let mut command = ws::paho_python();
    command
        .args(["-c", include_str!("websocket_paho.py")])
        .arg(ws_addr.port().to_string())
        .arg(broker.port().to_string())
        .arg("/mqtt");
    if let Some(ca) = ca {
        command.arg(ca);
    }
    let output = command.output().expect("run python");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "paho failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert_eq!(
        stdout.lines().filter(|l| l.ends_with(": ok")).count(),
        3,
        "{stdout}"
    );
}

/// A CONNECT a byte per message, a SUBSCRIBE and a PUBLISH in one message
/// cut into frames that split both, and a PUBLISH spread over messages
/// that also carry the next packet's first bytes: every packet is
/// handled, and a TCP subscriber gets what was published over WebSocket.
#[tokio::test]
async fn packets_cut_anywhere_across_frames_and_messages() {
    let (broker, ws_addr) = broker_with_ws(&[]);
    let mut tcp = RawClient::connect(broker.addr(), V5, "tcp-watcher").await;
    assert_eq!(tcp.subscribe("cut/#", QoS::AtLeastOnce).await, [1]);

    let mut client = ws::open(ws_addr, "/mqtt", "mqtt", V5).await.unwrap();
    let connect = encoded(&Packet::Connect(Box::new(connect_packet(V5, "ws-cut"))), V5);
    client.send_in_messages(&connect, 1).await;
    assert!(matches!(client.recv().await, Some(Packet::ConnAck(ack)) if ack.reason == 0));

    let subscribe = encoded(
        &Packet::Subscribe(Subscribe {
            packet_id: 1,
            filters: vec![("cut/ws".to_owned(), options(QoS::AtLeastOnce))],
            properties: SubscribeProperties::default(),
        }),
        V5,
    );
    let first = encoded(
        &Packet::Publish(publish("cut/ws", b"first", QoS::AtLeastOnce, 2)),
        V5,
    );
    client.send_in_frames(&[subscribe, first].concat(), 3).await;
    assert!(matches!(client.recv().await, Some(Packet::SubAck(ack)) if ack.reasons == [1]));

    // 50 KB of payload in messages of 7 KB, the last one also carrying
    // the start of a PINGREQ.
    let payload: Vec<u8> = (0..50_000u32).map(|i| (i % 253) as u8).collect();
    let second = encoded(
        &Packet::Publish(publish("cut/ws", &payload, QoS::AtLeastOnce, 3)),
        V5,
    );
    let ping = encoded(&Packet::PingReq, V5);
    let bytes = [second, ping].concat();
    let (most, last_byte) = bytes.split_at(bytes.len() - 1);
    client.send_in_messages(most, 7 * 1024).await;
    client.send_message(last_byte).await;

    // Its own two messages back, two PUBACKs and a PINGRESP, in whatever
    // order acknowledgements and deliveries interleave.
    let mut delivered = Vec::new();
    let mut acked = Vec::new();
    let mut pong = false;
    while delivered.len() < 2 || acked.len() < 2 || !pong {
        match client.recv().await {
            Some(Packet::Publish(p)) => {
                assert_eq!(p.topic, "cut/ws");
                delivered.push(p.payload.to_vec());
                client
                    .send(&Packet::PubAck(mqhost_codec::PubAck {
                        packet_id: p.packet_id,
                        reason: 0,
                        properties: Default::default(),
                    }))
                    .await;
            }
            Some(Packet::PubAck(ack)) => acked.push(ack.packet_id),
            Some(Packet::PingResp) => pong = true,
            other => panic!("unexpected {other:?}"),
        }
    }
    acked.sort_unstable();
    assert_eq!(acked, [2, 3]);
    assert_eq!(delivered, [b"first".to_vec(), payload.clone()]);
    assert_eq!(&tcp.recv_publish().await.payload[..], b"first");
    assert_eq!(tcp.recv_publish().await.payload.to_vec(), payload);
}

/// A TCP client's messages reach a WebSocket subscriber, whatever their
/// size: the broker cuts large ones into several messages.
#[tokio::test]
async fn websocket_subscriber_gets_what_tcp_clients_publish() {
    let (broker, ws_addr) = broker_with_ws(&[]);
    let mut client = ws::open(ws_addr, "/mqtt", "mqtt", V311).await.unwrap();
    client
        .send(&Packet::Connect(Box::new(connect_packet(V311, "ws-sub"))))
        .await;
    assert!(matches!(client.recv().await, Some(Packet::ConnAck(ack)) if ack.reason == 0));
    client
        .send(&Packet::Subscribe(Subscribe {
            packet_id: 1,
            filters: vec![("to/ws".to_owned(), options(QoS::AtMostOnce))],
            properties: SubscribeProperties::default(),
        }))
        .await;
    assert!(matches!(client.recv().await, Some(Packet::SubAck(_))));

    let mut publisher = RawClient::connect(broker.addr(), V311, "tcp-pub").await;
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 241) as u8).collect();
    for payload in [&b"small"[..], &big[..]] {
        publisher
            .send(Packet::Publish(publish(
                "to/ws",
                payload,
                QoS::AtMostOnce,
                0,
            )))
            .await;
    }
    match client.recv().await {
        Some(Packet::Publish(p)) => assert_eq!(&p.payload[..], b"small"),
        other => panic!("expected PUBLISH, got {other:?}"),
    }
    match client.recv().await {
        Some(Packet::Publish(p)) => assert!(p.payload.to_vec() == big, "large payload differs"),
        other => panic!("expected PUBLISH, got {other:?}"),
    }
}

/// Reads a raw HTTP answer from the listener to `request`.
async fn http_answer(addr: SocketAddr, request: &str) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(WAIT, tcp.read_to_end(&mut answer))
        .await
        .expect("an answer and a close")
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

/// Another path gets HTTP 404, a request without the MQTT subprotocol
/// 400, and the broker goes on serving.
#[tokio::test]
async fn other_paths_and_other_protocols_are_refused() {
    let (broker, ws_addr) = broker_with_ws(&[]);
    let answer = http_answer(ws_addr, "GET /other HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 404 "), "{answer}");
    assert_eq!(ws::open(ws_addr, "/", "mqtt", V5).await.err(), Some(404));
    assert_eq!(
        ws::open(ws_addr, "/mqtt", "chat", V5).await.err(),
        Some(400)
    );
    let answer = http_answer(ws_addr, "GET /mqtt HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    let mut client = ws::open(ws_addr, "/mqtt", "mqtt", V5).await.unwrap();
    client
        .send(&Packet::Connect(Box::new(connect_packet(V5, "after"))))
        .await;
    assert!(matches!(client.recv().await, Some(Packet::ConnAck(ack)) if ack.reason == 0));
    // Each refused upgrade is counted.
    let (code, body) = broker.admin_request("GET", "/api/v1/status").await;
    assert_eq!(code, 200);
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["connections_handshake_failed"], 4, "{body}");
}

/// `listener.ws.<name>.mqtt_path` moves MQTT to another path; the query
/// string does not count.
#[tokio::test]
async fn mqtt_path_is_the_listeners() {
    let (_broker, ws_addr) = broker_with_ws(&[("listener.ws.web.mqtt_path", "/custom")]);
    assert_eq!(
        ws::open(ws_addr, "/mqtt", "mqtt", V5).await.err(),
        Some(404)
    );
    let mut client = ws::open(ws_addr, "/custom?token=x", "mqtt", V5)
        .await
        .unwrap();
    client
        .send(&Packet::Connect(Box::new(connect_packet(V5, "custom"))))
        .await;
    assert!(matches!(client.recv().await, Some(Packet::ConnAck(ack)) if ack.reason == 0));
}

/// A text frame is not MQTT: the connection is closed.
#[tokio::test]
async fn text_frame_closes_the_connection() {
    let (_broker, ws_addr) = broker_with_ws(&[]);
    let mut client = ws::open(ws_addr, "/mqtt", "mqtt", V5).await.unwrap();
    client
        .send(&Packet::Connect(Box::new(connect_packet(V5, "texter"))))
        .await;
    assert!(matches!(client.recv().await, Some(Packet::ConnAck(_))));
    client.send_text("PINGREQ").await;
    assert!(client.recv().await.is_none());
}

/// A WebSocket message begun and never finished is a packet half sent:
/// `mqtt.packet_timeout` closes the connection whatever the keep alive,
/// as it does a half-sent packet over TCP. (tungstenite holds the message
/// until its last frame, so the session never sees its bytes.)
#[tokio::test]
async fn a_half_sent_websocket_message_is_closed_by_packet_timeout() {
    let (broker, ws_addr) = broker_with_ws(&[("mqtt.packet_timeout", "1s")]);
    let mut client = ws::open(ws_addr, "/mqtt", "mqtt", V311).await.unwrap();
    let mut connect = connect_packet(V311, "ws-half");
    connect.keep_alive = 0;
    client.send(&Packet::Connect(Box::new(connect))).await;
    assert!(matches!(client.recv().await, Some(Packet::ConnAck(ack)) if ack.reason == 0));
    // The start of a 1 MB PUBLISH, 900 KB of it, in a message left open.
    let mut bytes = vec![0x30, 0xC0, 0x84, 0x3D, 0x00, 0x01, b't'];
    bytes.resize(900 * 1024, 0);
    client.send_unfinished_message(&bytes).await;
    // `recv` waits 5 s: past the 1 s packet timeout, the broker must have
    // closed the connection.
    assert!(
        client.recv().await.is_none(),
        "expected the connection closed"
    );
    // Said and counted as for a packet half sent over TCP.
    let line = broker
        .wait_for_log("client disconnected client_id=ws-half ", WAIT)
        .expect("disconnect line");
    assert!(line.contains("reason=\"packet_timeout\""), "{line}");
    let (code, body) = broker.admin_request("GET", "/api/v1/status").await;
    assert_eq!(code, 200);
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["packets_timed_out"], 1, "{body}");
}

/// The same for a CONNECT left unfinished in its message: closed once
/// `mqtt.packet_timeout` has passed (before the 10 s allowed for a
/// CONNECT), and counted.
#[tokio::test]
async fn a_half_sent_websocket_connect_is_closed_by_packet_timeout() {
    let (broker, ws_addr) = broker_with_ws(&[("mqtt.packet_timeout", "1s")]);
    let mut client = ws::open(ws_addr, "/mqtt", "mqtt", V311).await.unwrap();
    let connect = encoded(
        &Packet::Connect(Box::new(connect_packet(V311, "ws-half-connect"))),
        V311,
    );
    client.send_unfinished_message(&connect[..5]).await;
    assert!(
        client.recv().await.is_none(),
        "expected the connection closed"
    );
    let (code, body) = broker.admin_request("GET", "/api/v1/status").await;
    assert_eq!(code, 200);
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["packets_timed_out"], 1, "{body}");
}
