//! Kicking a client through the admin API (`DELETE /api/v1/clients/ID`)
//! and `mqhost ctl clients kick ID`: a 5.0 client gets DISCONNECT 0x98
//! first, a 3.x client is closed, and the session and the will follow
//! their usual rules.

use mqhost_codec::{Disconnect, Packet, ProtocolVersion, QoS};
use mqhost_tests::raw::{connect_packet, publish, will, RawClient};
use mqhost_tests::Broker;

/// MQTT 5.0 reason code 0x98, Administrative action.
const ADMINISTRATIVE_ACTION: u8 = 0x98;

fn disconnect(reason: u8) -> Packet {
    Packet::Disconnect(Disconnect {
        reason,
        properties: Default::default(),
    })
}

async fn kick(broker: &Broker, encoded_id: &str) -> (u16, String) {
    broker
        .admin_request("DELETE", &format!("/api/v1/clients/{encoded_id}"))
        .await
}

#[tokio::test]
async fn admin_api_kick_sends_a_5_0_client_administrative_action_and_closes() {
    let broker = Broker::start();
    let mut client = RawClient::connect(broker.addr(), ProtocolVersion::V5, "dev-1").await;
    let mut bystander = RawClient::connect(broker.addr(), ProtocolVersion::V5, "dev-2").await;

    let (status, body) = kick(&broker, "dev-1").await;
    assert_eq!((status, body.as_str()), (204, ""));
    assert_eq!(
        client.expect_closed().await,
        [disconnect(ADMINISTRATIVE_ACTION)]
    );
    let line = broker
        .wait_for_log("client disconnected", mqhost_tests::raw::WAIT)
        .expect("disconnection logged");
    assert!(
        line.contains("dev-1") && line.contains("kicked") && line.contains("0x98"),
        "{line}"
    );
    bystander.send(Packet::PingReq).await;
    assert_eq!(bystander.recv().await, Some(Packet::PingResp));
}

#[tokio::test]
async fn ctl_kick_closes_a_3_1_1_client_without_a_packet() {
    let broker = Broker::start();
    let mut client = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "old-timer").await;

    let (ok, out, err) = broker.ctl(&["clients", "kick", "old-timer"]);
    assert!(ok, "{err}");
    assert_eq!(out, "client old-timer kicked\n");
    assert_eq!(client.expect_closed().await, []);
}

#[tokio::test]
async fn a_kicked_persistent_session_stays_and_is_resumed() {
    let broker = Broker::start();
    let mut connect = connect_packet(ProtocolVersion::V5, "keeper");
    connect.properties.session_expiry_interval = Some(300);
    let (mut client, _) = RawClient::connect_with(broker.addr(), connect.clone()).await;
    client.subscribe("inbox/#", QoS::AtLeastOnce).await;

    let (status, _) = kick(&broker, "keeper").await;
    assert_eq!(status, 204);
    assert_eq!(
        client.expect_closed().await,
        [disconnect(ADMINISTRATIVE_ACTION)]
    );
    // The session is there but nobody is connected to it: nothing to kick.
    let (status, body) = kick(&broker, "keeper").await;
    assert_eq!(status, 404, "{body}");

    // A message for it while it is away waits in the session.
    let mut publisher = RawClient::connect(broker.addr(), ProtocolVersion::V5, "pub").await;
    publisher
        .send(Packet::Publish(publish(
            "inbox/1",
            b"kept",
            QoS::AtLeastOnce,
            1,
        )))
        .await;
    assert!(matches!(publisher.recv().await, Some(Packet::PubAck(_))));

    connect.clean_start = false;
    let (mut client, ack) = RawClient::connect_with(broker.addr(), connect).await;
    assert_eq!(ack.reason, 0);
    assert!(ack.session_present, "the session should be resumed");
    let got = client.recv_publish().await;
    assert_eq!(
        (got.topic.as_str(), &got.payload[..]),
        ("inbox/1", &b"kept"[..])
    );
}

#[tokio::test]
async fn kicking_an_unknown_client_is_not_found() {
    let broker = Broker::start();
    let (status, body) = kick(&broker, "nobody").await;
    assert_eq!(status, 404);
    assert!(
        body.contains(r#"no client connected with id \"nobody\""#),
        "{body}"
    );

    let (ok, out, err) = broker.ctl(&["clients", "kick", "nobody"]);
    assert!(!ok, "{out}");
    assert!(err.contains("nobody"), "{err}");
}

#[tokio::test]
async fn the_will_of_a_kicked_client_is_published() {
    let broker = Broker::start();
    let mut watcher = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "watcher").await;
    watcher.subscribe("wills/#", QoS::AtLeastOnce).await;

    // A server's DISCONNECT does not remove the will, whatever its code;
    // and a 3.x client, merely closed, leaves it too.
    for (version, id) in [
        (ProtocolVersion::V5, "mortal-5"),
        (ProtocolVersion::V3_1_1, "mortal-3"),
    ] {
        let mut connect = connect_packet(version, id);
        connect.will = Some(will(&format!("wills/{id}"), "gone", QoS::AtLeastOnce));
        let (mut client, ack) = RawClient::connect_with(broker.addr(), connect).await;
        assert_eq!(ack.reason, 0);

        let (status, body) = kick(&broker, id).await;
        assert_eq!(status, 204, "{body}");
        client.expect_closed().await;
        let got = watcher.recv_publish().await;
        assert_eq!(
            (got.topic.as_str(), &got.payload[..]),
            (format!("wills/{id}").as_str(), &b"gone"[..])
        );
        watcher.puback(got.packet_id).await;
    }
}

#[tokio::test]
async fn client_ids_in_the_path_are_percent_decoded() {
    let broker = Broker::start();
    // Whatever MQTT allows in a client id, the path can say.
    for id in ["a/b", "+#", "with space", "température", "100%", "a?b"] {
        let mut client = RawClient::connect(broker.addr(), ProtocolVersion::V5, id).await;
        let (ok, out, err) = broker.ctl(&["clients", "kick", id]);
        assert!(ok, "{id}: {err}");
        assert_eq!(out, format!("client {id} kicked\n"));
        assert_eq!(
            client.expect_closed().await,
            [disconnect(ADMINISTRATIVE_ACTION)],
            "{id}"
        );
    }

    // Encoded by hand: either hex case, and `+` is a plus sign.
    for (id, path) in [("a/b c", "a%2fb%20c"), ("x+y", "x+y"), ("é#", "%C3%A9%23")] {
        let mut client = RawClient::connect(broker.addr(), ProtocolVersion::V5, id).await;
        let (status, body) = kick(&broker, path).await;
        assert_eq!(status, 204, "{id}: {body}");
        client.expect_closed().await;
    }

    let (status, body) = kick(&broker, "bad%zz").await;
    assert_eq!(status, 400, "{body}");
}
