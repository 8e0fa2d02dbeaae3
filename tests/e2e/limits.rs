//! Limits on what a client can make the broker do: what its chosen strings
//! do to the log, how long a half-sent packet may hold a connection, and
//! how much state it can make the broker keep.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use mqhost_codec::{
    decode, encode, reason, Packet, ProtocolVersion, PubAck, QoS, Subscribe, SubscribeProperties,
    Unsubscribe,
};
use mqhost_tests::raw::{connect_packet, options, publish, will, RawClient};
use mqhost_tests::Broker;

/// A client id holding a newline and a terminal escape shows up escaped
/// on one log line: it cannot forge a line nor reach the terminal.
#[tokio::test]
async fn a_client_id_cannot_forge_log_lines() {
    let broker = Broker::start();
    // Short enough to be shown whole.
    let id = "forged\n2026-01-01T00:00:00Z  INFO mqhost: hi\x1b[2J";
    let client = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, id).await;
    client.disconnect().await;
    let escaped = "client_id=forged\\n2026-01-01T00:00:00Z  INFO mqhost: hi\\x1b[2J ";
    for what in ["client connected", "client disconnected"] {
        let line = broker
            .wait_for_log(&format!("{what} {escaped}"), Duration::from_secs(5))
            .unwrap_or_else(|| panic!("no escaped {what} line in {:#?}", broker.logs()));
        assert!(!line.contains('\x1b'), "{line}");
    }
    for line in broker.logs() {
        assert!(!line.contains('\x1b'), "raw ESC in {line:?}");
        assert!(!line.starts_with("2026-01-01"), "forged line {line:?}");
    }
}

/// A long client id is cut in the log, with a mark that it was.
#[tokio::test]
async fn a_long_client_id_is_cut_in_the_log() {
    let broker = Broker::start();
    let id = format!("{}{}", "a".repeat(64), "b".repeat(200));
    let client = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, &id).await;
    let line = broker
        .wait_for_log("client connected client_id=", Duration::from_secs(5))
        .expect("connect line");
    assert!(
        line.contains(&format!("client_id={}… ", "a".repeat(64))),
        "{line}"
    );
    assert!(!line.contains("ab"), "{line}");
    client.disconnect().await;
}

/// A client without keep alive that starts a PUBLISH and never finishes
/// it loses its connection after `mqtt.packet_timeout`, in every version
/// (5.0 without a DISCONNECT: it has no reason code for this).
#[tokio::test]
async fn a_half_sent_packet_closes_the_connection() {
    let broker = Broker::start_with(&[("mqtt.packet_timeout", "1s")]);
    for (version, id) in [
        (ProtocolVersion::V3_1_1, "half-v311"),
        (ProtocolVersion::V5, "half-v5"),
    ] {
        let mut connect = connect_packet(version, id);
        connect.keep_alive = 0;
        let (mut client, _) = RawClient::connect_with(broker.addr(), connect).await;
        let mut bytes = BytesMut::new();
        let packet = Packet::Publish(publish("slow/topic", &[7; 100], QoS::AtMostOnce, 0));
        encode(&packet, version, &mut bytes).unwrap();
        client.send_bytes(&bytes[..bytes.len() / 2]).await;
        assert!(client.expect_closed().await.is_empty());
        let line = broker
            .wait_for_log(
                &format!("client disconnected client_id={id} "),
                Duration::from_secs(5),
            )
            .expect("disconnect line");
        assert!(line.contains("reason=\"packet_timeout\""), "{line}");
    }
    assert_eq!(status(&broker).await["packets_timed_out"], 2);
}

/// The admin API's status, as JSON.
async fn status(broker: &Broker) -> serde_json::Value {
    let (code, body) = broker.admin_request("GET", "/api/v1/status").await;
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).expect("status is JSON")
}

/// With `mqtt.max_subscriptions = 2` a third filter is refused (5.0:
/// 0x97, 3.x: 0x80) while renewing a filter the client has is granted,
/// and a filter given up makes room again. Refusals are counted.
#[tokio::test]
async fn subscriptions_beyond_the_limit_are_refused() {
    let broker = Broker::start_with(&[("mqtt.max_subscriptions", "2")]);
    for (version, id, refused) in [
        (ProtocolVersion::V5, "subs-v5", reason::QUOTA_EXCEEDED),
        (
            ProtocolVersion::V3_1_1,
            "subs-v311",
            reason::UNSPECIFIED_ERROR,
        ),
    ] {
        let mut client = RawClient::connect(broker.addr(), version, id).await;
        assert_eq!(
            client
                .subscribe_all(&["a/1", "a/+"], QoS::AtLeastOnce)
                .await,
            [1, 1]
        );
        // The same filters again, with a new one between them.
        assert_eq!(
            client
                .subscribe_all(&["a/1", "a/2", "a/+"], QoS::AtLeastOnce)
                .await,
            [1, refused, 1]
        );
        client
            .send(Packet::Unsubscribe(Unsubscribe {
                packet_id: 8,
                filters: vec!["a/1".to_owned()],
                user_properties: Vec::new(),
            }))
            .await;
        assert!(matches!(client.recv().await, Some(Packet::UnsubAck(_))));
        assert_eq!(
            client
                .subscribe_all(&["a/2", "a/3"], QoS::AtLeastOnce)
                .await,
            [1, refused]
        );
        client.disconnect().await;
    }
    assert_eq!(status(&broker).await["subscriptions_quota_exceeded"], 4);
}

/// Retained messages beyond `mqtt.max_retained_payload_size` or
/// `mqtt.max_retained_bytes` are delivered but not stored, and one that
/// cannot replace its topic's message leaves none behind. Counted.
#[tokio::test]
async fn retained_messages_beyond_the_limits_are_not_stored() {
    let broker = Broker::start_with(&[
        // The broker's own figures are outside the limits; off, they
        // are not in the store at all.
        ("sys.interval", "0"),
        ("mqtt.max_retained_payload_size", "100"),
        // Topic and payload: the sentinel (9) and three of r/N (93 each).
        ("mqtt.max_retained_bytes", "300"),
    ]);
    let mut live = RawClient::connect(broker.addr(), ProtocolVersion::V5, "live").await;
    live.subscribe("r/#", QoS::AtMostOnce).await;
    let mut publisher =
        RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "publisher").await;
    let sent: [(&str, usize); 7] = [
        ("sentinel", 1),
        ("r/big", 101),
        ("r/1", 90),
        ("r/2", 90),
        ("r/3", 90),
        ("r/4", 90),
        ("r/1", 200),
    ];
    for (topic, size) in sent {
        let mut packet = publish(topic, &vec![b'x'; size], QoS::AtMostOnce, 0);
        packet.retain = true;
        publisher.send(Packet::Publish(packet)).await;
    }
    // Every one is delivered; once the last is, all were handled.
    for (topic, size) in &sent[1..] {
        let got = live.recv_publish().await;
        assert_eq!((got.topic.as_str(), got.payload.len()), (*topic, *size));
    }
    // A new subscriber gets what was stored, then the sentinel's message,
    // subscribed after r/# and so queued behind its messages.
    let mut late = RawClient::connect(broker.addr(), ProtocolVersion::V5, "late").await;
    assert_eq!(
        late.subscribe_all(&["r/#", "sentinel"], QoS::AtLeastOnce)
            .await,
        [1, 1]
    );
    let mut stored = Vec::new();
    loop {
        let got = late.recv_publish().await;
        if got.topic == "sentinel" {
            break;
        }
        stored.push(got.topic);
    }
    stored.sort();
    assert_eq!(stored, ["r/2", "r/3"]);
    assert_eq!(status(&broker).await["retained_not_stored"], 3);
    broker
        .wait_for_log("retained message not stored", Duration::from_secs(5))
        .expect("a line about it");
}

/// Sends a QoS 2 PUBLISH with `packet_id` and waits for its PUBREC.
async fn publish_qos2(client: &mut RawClient, packet_id: u16) {
    client
        .send(Packet::Publish(publish(
            "qos2/topic",
            b"x",
            QoS::ExactlyOnce,
            packet_id,
        )))
        .await;
    match client.recv().await {
        Some(Packet::PubRec(rec)) => assert_eq!(rec.packet_id, packet_id),
        other => panic!("expected PUBREC {packet_id}, got {other:?}"),
    }
}

/// A 3.x client cannot be told a Receive Maximum: beyond
/// `mqtt.max_awaiting_rel` QoS 2 PUBLISHes awaiting PUBREL its connection
/// closes; a PUBREL makes room for one more.
#[tokio::test]
async fn qos2_publishes_awaiting_pubrel_are_bounded_in_3x() {
    let broker = Broker::start_with(&[("mqtt.max_awaiting_rel", "2")]);
    let mut client = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "rel-v311").await;
    publish_qos2(&mut client, 1).await;
    publish_qos2(&mut client, 2).await;
    // A resent PUBLISH is not one more.
    publish_qos2(&mut client, 2).await;
    client
        .send(Packet::PubRel(PubAck {
            packet_id: 1,
            reason: 0,
            properties: Default::default(),
        }))
        .await;
    assert!(matches!(client.recv().await, Some(Packet::PubComp(c)) if c.packet_id == 1));
    publish_qos2(&mut client, 3).await;
    client
        .send(Packet::Publish(publish(
            "qos2/topic",
            b"x",
            QoS::ExactlyOnce,
            4,
        )))
        .await;
    assert!(client.expect_closed().await.is_empty());
    let line = broker
        .wait_for_log(
            "client disconnected client_id=rel-v311 ",
            Duration::from_secs(5),
        )
        .expect("disconnect line");
    assert!(
        line.contains("reason=\"max_awaiting_rel_exceeded\""),
        "{line}"
    );
    assert_eq!(status(&broker).await["packets_awaiting_rel_exceeded"], 1);
}

/// The bytes of a 5.0 PUBLISH QoS 0 to `topic` carrying `count` empty
/// User Properties: written directly, as the packet model would hold them
/// as `count` pairs of strings in this process too.
fn publish_with_empty_user_properties(topic: &str, count: usize) -> Vec<u8> {
    fn vbi(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n % 128) as u8;
            n /= 128;
            out.push(if n > 0 { byte | 0x80 } else { byte });
            if n == 0 {
                return;
            }
        }
    }
    let mut body = Vec::with_capacity(count * 5 + topic.len() + 8);
    body.extend((topic.len() as u16).to_be_bytes());
    body.extend(topic.as_bytes());
    vbi(count * 5, &mut body);
    for _ in 0..count {
        // Identifier 0x26, an empty name, an empty value.
        body.extend([0x26, 0, 0, 0, 0]);
    }
    body.push(b'x');
    let mut packet = vec![0x30];
    vbi(body.len(), &mut packet);
    packet.extend(body);
    packet
}

/// 2,000,000 empty User Properties are 10 MB on the wire and would be some
/// 100 MB as pairs of strings: the PUBLISH is refused while it is read
/// (DISCONNECT 0x97, Quota exceeded), the broker's peak memory grows by
/// about what it had to read, and other clients are served all along.
#[tokio::test]
async fn a_flood_of_user_properties_is_refused_with_memory_bounded() {
    // Room for the flood to arrive whole: only the User Property limit
    // (its default, 128) stands in its way.
    let broker = Broker::start_with(&[("mqtt.max_packet_size", "16MB")]);
    let packet = publish_with_empty_user_properties("flood", 2_000_000);
    // The bytes are the packet meant.
    let small = publish_with_empty_user_properties("flood", 3);
    match decode(
        &mut BytesMut::from(&small[..]),
        Some(ProtocolVersion::V5),
        u32::MAX,
    ) {
        Ok(Some(Packet::Publish(p))) => assert_eq!(p.properties.user_properties.len(), 3),
        other => panic!("{other:?}"),
    }

    let mut watcher = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "watcher").await;
    watcher.subscribe("served/#", QoS::AtMostOnce).await;
    let mut publisher = RawClient::connect(broker.addr(), ProtocolVersion::V5, "publisher").await;
    let before = broker.memory();

    let mut flooder = RawClient::connect(broker.addr(), ProtocolVersion::V5, "flooder").await;
    flooder.send_bytes(&packet).await;
    match flooder.expect_closed().await.as_slice() {
        [Packet::Disconnect(d)] => assert_eq!(d.reason, reason::QUOTA_EXCEEDED),
        other => panic!("expected DISCONNECT 0x97, got {other:?}"),
    }
    let after = broker.memory();
    let grown_kib = after.peak_kib.saturating_sub(before.resident_kib);
    println!(
        "VmRSS before {} KiB; after: VmRSS {} KiB, VmHWM {} KiB; peak grew {grown_kib} KiB for a {} KiB packet",
        before.resident_kib,
        after.resident_kib,
        after.peak_kib,
        packet.len() / 1024
    );
    // The read buffer holds the packet whole, and twice that while it
    // grows; the properties would have added ten times the packet.
    assert!(
        grown_kib < 3 * packet.len() as u64 / 1024,
        "peak memory grew {grown_kib} KiB for a {} KiB packet",
        packet.len() / 1024
    );

    publisher
        .send(Packet::Publish(publish(
            "served/after",
            b"still here",
            QoS::AtMostOnce,
            0,
        )))
        .await;
    assert_eq!(watcher.recv_publish().await.topic, "served/after");
    let line = broker
        .wait_for_log(
            "client disconnected client_id=flooder ",
            Duration::from_secs(5),
        )
        .expect("disconnect line");
    assert!(
        line.contains("reason=\"too_many_user_properties\""),
        "{line}"
    );
    assert_eq!(status(&broker).await["packets_too_many_user_properties"], 1);
}

/// User Properties are counted per packet in every packet a client
/// sends: a CONNECT with its will's is refused with CONNACK 0x97, later
/// packets close the connection with DISCONNECT 0x97; at the limit they
/// pass.
#[tokio::test]
async fn user_properties_are_bounded_in_every_packet() {
    let broker = Broker::start_with(&[("mqtt.max_user_properties", "2")]);
    let pairs = |n: usize| -> Vec<(String, String)> {
        (0..n).map(|i| (format!("k{i}"), "v".to_owned())).collect()
    };
    // Two of its own and one in the will: three.
    let mut connect = connect_packet(ProtocolVersion::V5, "props-connect");
    connect.properties.user_properties = pairs(2);
    let mut last_will = will("props/will", "gone", QoS::AtMostOnce);
    last_will.properties.user_properties = pairs(1);
    connect.will = Some(last_will.clone());
    let (mut refused, ack) = RawClient::connect_with(broker.addr(), connect.clone()).await;
    assert_eq!(ack.reason, reason::QUOTA_EXCEEDED);
    assert!(refused.expect_closed().await.is_empty());
    // At the limit, with the will's in it.
    last_will.properties.user_properties.clear();
    connect.will = Some(last_will);
    let (_accepted, ack) = RawClient::connect_with(broker.addr(), connect).await;
    assert_eq!(ack.reason, reason::SUCCESS);

    let over: [(&str, Packet); 3] = [
        ("props-publish", {
            let mut p = publish("props/t", b"x", QoS::AtLeastOnce, 1);
            p.properties.user_properties = pairs(3);
            Packet::Publish(p)
        }),
        (
            "props-subscribe",
            Packet::Subscribe(Subscribe {
                packet_id: 1,
                filters: vec![("props/#".to_owned(), options(QoS::AtMostOnce))],
                properties: SubscribeProperties {
                    subscription_identifier: None,
                    user_properties: pairs(3),
                },
            }),
        ),
        (
            "props-unsubscribe",
            Packet::Unsubscribe(Unsubscribe {
                packet_id: 1,
                filters: vec!["props/#".to_owned()],
                user_properties: pairs(3),
            }),
        ),
    ];
    for (id, packet) in over {
        let mut client = RawClient::connect(broker.addr(), ProtocolVersion::V5, id).await;
        // The same kind of packet at the limit passes.
        let mut at_limit = packet.clone();
        match &mut at_limit {
            Packet::Publish(p) => p.properties.user_properties.truncate(2),
            Packet::Subscribe(s) => s.properties.user_properties.truncate(2),
            Packet::Unsubscribe(u) => u.user_properties.truncate(2),
            _ => unreachable!(),
        }
        client.send(at_limit).await;
        assert!(
            matches!(
                client.recv().await,
                Some(Packet::PubAck(_) | Packet::SubAck(_) | Packet::UnsubAck(_))
            ),
            "{id}: at the limit"
        );
        client.send(packet).await;
        match client.expect_closed().await.as_slice() {
            [Packet::Disconnect(d)] => assert_eq!(d.reason, reason::QUOTA_EXCEEDED, "{id}"),
            other => panic!("{id}: expected DISCONNECT 0x97, got {other:?}"),
        }
    }
    assert_eq!(status(&broker).await["packets_too_many_user_properties"], 4);
}

/// The counters of limits applied: `$SYS/brokers/<node>/NAME`, and in the
/// admin API's status NAME with `_` for `/`.
const LIMIT_COUNTERS: [&str; 9] = [
    "clients/id_too_long",
    "clients/keepalive_clamped",
    "packets/too_large",
    "packets/too_many_user_properties",
    "packets/timed_out",
    "packets/topic_alias_invalid",
    "packets/awaiting_rel_exceeded",
    "subscriptions/quota_exceeded",
    "retained/not_stored",
];

/// Every limit counter, as the admin API's status gives it.
async fn limit_counters(broker: &Broker) -> BTreeMap<&'static str, u64> {
    let status = status(broker).await;
    LIMIT_COUNTERS
        .iter()
        .map(|name| {
            let value = status[name.replace('/', "_")]
                .as_u64()
                .unwrap_or_else(|| panic!("no {name} in {status}"));
            (*name, value)
        })
        .collect()
}

/// Waits until counter `name` has moved from `counted`, then checks that
/// it moved by one and that no other counter did.
async fn expect_counted(broker: &Broker, counted: &mut BTreeMap<&'static str, u64>, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = limit_counters(broker).await;
        if now[name] != counted[name] {
            if let Some(value) = counted.get_mut(name) {
                *value += 1;
            }
            assert_eq!(&now, counted, "{name} alone moves, by one");
            return;
        }
        assert!(Instant::now() < deadline, "{name} did not move: {now:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Expects the connection to close with a 5.0 DISCONNECT of `code`.
async fn expect_disconnect(client: &mut RawClient, code: u8) {
    match client.expect_closed().await.as_slice() {
        [Packet::Disconnect(d)] => assert_eq!(d.reason, code),
        other => panic!("expected DISCONNECT {code:#04x}, got {other:?}"),
    }
}

/// Each limit, reached once, moves its own counter by one and no other;
/// `$SYS` shows the same figures as the admin API.
#[tokio::test]
async fn every_limit_reached_is_counted_in_sys_and_the_admin_api() {
    let broker = Broker::start_with(&[
        ("sys.interval", "1s"),
        ("mqtt.max_clientid_len", "23"),
        ("mqtt.max_keepalive", "60"),
        ("mqtt.max_packet_size", "1KB"),
        ("mqtt.max_user_properties", "2"),
        ("mqtt.packet_timeout", "1s"),
        ("mqtt.max_topic_alias", "2"),
        ("mqtt.receive_maximum", "1"),
        ("mqtt.max_subscriptions", "1"),
        ("mqtt.max_retained_payload_size", "100"),
    ]);
    let addr = broker.addr();
    let v5 = ProtocolVersion::V5;
    let mut counted = limit_counters(&broker).await;
    assert!(counted.values().all(|&n| n == 0), "{counted:?}");

    let (_, ack) = RawClient::connect_with(addr, connect_packet(v5, &"i".repeat(24))).await;
    assert_eq!(ack.reason, reason::CLIENT_IDENTIFIER_NOT_VALID);
    expect_counted(&broker, &mut counted, "clients/id_too_long").await;

    let mut connect = connect_packet(v5, "clamped");
    connect.keep_alive = 120;
    let (_clamped, ack) = RawClient::connect_with(addr, connect).await;
    assert_eq!(ack.properties.server_keep_alive, Some(60));
    expect_counted(&broker, &mut counted, "clients/keepalive_clamped").await;

    let mut big = RawClient::connect(addr, v5, "big").await;
    big.send(Packet::Publish(publish(
        "t",
        &[0; 2000],
        QoS::AtMostOnce,
        0,
    )))
    .await;
    expect_disconnect(&mut big, reason::PACKET_TOO_LARGE).await;
    expect_counted(&broker, &mut counted, "packets/too_large").await;
    // A CONNECT too: closed before any CONNACK.
    let mut connect = connect_packet(v5, "big-connect");
    connect.username = Some("u".to_owned());
    connect.password = Some(vec![0; 2000].into());
    let mut big = RawClient::open(addr, v5).await;
    big.send(Packet::Connect(Box::new(connect))).await;
    assert!(big.expect_closed().await.is_empty());
    expect_counted(&broker, &mut counted, "packets/too_large").await;

    let mut client = RawClient::connect(addr, v5, "props").await;
    let mut packet = publish("t", b"x", QoS::AtMostOnce, 0);
    packet.properties.user_properties = vec![(String::new(), String::new()); 3];
    client.send(Packet::Publish(packet)).await;
    expect_disconnect(&mut client, reason::QUOTA_EXCEEDED).await;
    expect_counted(&broker, &mut counted, "packets/too_many_user_properties").await;

    let mut slow = RawClient::connect(addr, v5, "slow").await;
    let mut bytes = BytesMut::new();
    let packet = Packet::Publish(publish("t", &[7; 100], QoS::AtMostOnce, 0));
    encode(&packet, v5, &mut bytes).unwrap();
    slow.send_bytes(&bytes[..bytes.len() / 2]).await;
    assert!(slow.expect_closed().await.is_empty());
    expect_counted(&broker, &mut counted, "packets/timed_out").await;

    let mut aliased = RawClient::connect(addr, v5, "aliased").await;
    let mut packet = publish("t", b"x", QoS::AtMostOnce, 0);
    packet.properties.topic_alias = Some(3);
    aliased.send(Packet::Publish(packet)).await;
    expect_disconnect(&mut aliased, reason::TOPIC_ALIAS_INVALID).await;
    expect_counted(&broker, &mut counted, "packets/topic_alias_invalid").await;

    let mut eager = RawClient::connect(addr, v5, "eager").await;
    publish_qos2(&mut eager, 1).await;
    eager
        .send(Packet::Publish(publish(
            "qos2/topic",
            b"x",
            QoS::ExactlyOnce,
            2,
        )))
        .await;
    expect_disconnect(&mut eager, reason::RECEIVE_MAXIMUM_EXCEEDED).await;
    expect_counted(&broker, &mut counted, "packets/awaiting_rel_exceeded").await;

    let mut subscriber = RawClient::connect(addr, v5, "subscriber").await;
    assert_eq!(
        subscriber
            .subscribe_all(&["q/1", "q/2"], QoS::AtMostOnce)
            .await,
        [0, reason::QUOTA_EXCEEDED]
    );
    expect_counted(&broker, &mut counted, "subscriptions/quota_exceeded").await;

    let mut publisher = RawClient::connect(addr, v5, "retainer").await;
    let mut packet = publish("r/big", &[0; 101], QoS::AtLeastOnce, 1);
    packet.retain = true;
    publisher.send(Packet::Publish(packet)).await;
    assert!(matches!(publisher.recv().await, Some(Packet::PubAck(_))));
    expect_counted(&broker, &mut counted, "retained/not_stored").await;

    // $SYS: the retained figures, then one tick a second, until they are
    // those of the admin API (which no longer move).
    let mut observer = RawClient::connect(addr, ProtocolVersion::V3_1_1, "observer").await;
    observer.subscribe("$SYS/#", QoS::AtMostOnce).await;
    let mut seen = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen != counted {
        assert!(
            Instant::now() < deadline,
            "$SYS shows {seen:?}, the admin API {counted:?}"
        );
        let got = observer.recv_publish().await;
        let name = got.topic.splitn(4, '/').nth(3).unwrap_or_default();
        if let Some(name) = LIMIT_COUNTERS.iter().find(|n| **n == name) {
            let value = std::str::from_utf8(&got.payload).unwrap().parse().unwrap();
            seen.insert(*name, value);
        }
    }
}
