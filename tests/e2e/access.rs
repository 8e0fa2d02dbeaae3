//! The broker consulting its access sources: `auth.password_file`,
//! `mqtt.allow_anonymous`, `acl.file`, `acl.deny_subscribe`,
//! `acl.nomatch` and `acl.deny_action`, with real clients over real
//! sockets. (The same ACL file on Mosquitto and mqhost: `access_files`.)

use std::process::Command;
use std::time::Duration;

use mqhost_codec::{reason, ConnectProperties, Packet, ProtocolVersion, PubAck, QoS};
use mqhost_tests::plugins::TempDir;
use mqhost_tests::raw::{connack_code, connect_packet, login, publish, will, RawClient};
use mqhost_tests::{mqhost_binary, tool, Broker};

const LOG_WAIT: Duration = Duration::from_secs(20);

/// Users alice (password `alice-pw`) and admin (`admin-pw`), written by
/// the real `mosquitto_passwd -b`.
fn password_file(dir: &TempDir) -> String {
    let path = dir.path().join("passwd");
    let p = path.to_str().unwrap().to_owned();
    for (i, user) in ["alice", "admin"].iter().enumerate() {
        let mut command = tool("mosquitto_passwd");
        if i == 0 {
            command.arg("-c");
        }
        let status = command
            .args(["-b", &p, user, &format!("{user}-pw")])
            .status()
            .unwrap();
        assert!(status.success());
    }
    p
}

/// alice may write `a/#` and read `public/#`; admin may do anything;
/// anonymous clients may read `public/#` and `done/#`.
const ACL: &str = "\
topic read public/#
topic read done/#
user alice
topic write a/#
topic read public/#
topic read done/#
topic read a/#
user admin
topic readwrite #
topic readwrite $SYS/#
";

fn write_file(dir: &TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

async fn connected(
    addr: std::net::SocketAddr,
    version: ProtocolVersion,
    id: &str,
    user: &str,
) -> RawClient {
    let password = format!("{user}-pw");
    let (client, ack) =
        RawClient::connect_with(addr, login(version, id, Some(user), Some(&password))).await;
    assert_eq!(ack.reason, 0, "{user} refused");
    client
}

/// Reads PUBLISHes until one on `marker`; the topics before it.
async fn topics_before(client: &mut RawClient, marker: &str) -> Vec<String> {
    let mut topics = Vec::new();
    loop {
        match client.recv().await {
            Some(Packet::Publish(p)) if p.topic == marker => return topics,
            Some(Packet::Publish(p)) => {
                if p.qos != QoS::AtMostOnce {
                    client.puback(p.packet_id).await;
                }
                topics.push(p.topic)
            }
            Some(_) => {}
            None => panic!("closed while waiting for {marker}"),
        }
    }
}

#[tokio::test]
async fn credentials_are_checked_against_a_mosquitto_passwd_file() {
    let dir = TempDir::new();
    let passwd = password_file(&dir);
    let broker = Broker::start_with(&[
        ("auth.password_file", &passwd),
        ("mqtt.allow_anonymous", "on"),
    ]);
    let addr = broker.addr();
    for (version, bad, good) in [
        (ProtocolVersion::V5, reason::BAD_USER_NAME_OR_PASSWORD, 0),
        (ProtocolVersion::V3_1_1, 4, 0),
    ] {
        let code = |user: Option<&'static str>, password: Option<&'static str>| {
            connack_code(addr, login(version, "c", user, password))
        };
        assert_eq!(code(Some("alice"), Some("alice-pw")).await, good);
        assert_eq!(code(Some("alice"), Some("wrong")).await, bad);
        assert_eq!(code(Some("alice"), None).await, bad);
        // Unknown even though anonymous clients are allowed.
        assert_eq!(code(Some("mallory"), Some("x")).await, bad);
        assert_eq!(code(None, None).await, good);
    }
    let pub_with = |password: &str| {
        tool("mosquitto_pub")
            .args(["-h", "127.0.0.1", "-p", &broker.port().to_string()])
            .args(["-u", "alice", "-P", password, "-t", "a/b", "-m", "hi"])
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(pub_with("alice-pw"));
    assert!(!pub_with("nope"));
}

#[tokio::test]
async fn refused_anonymous_clients_get_not_authorized_and_take_nothing_over() {
    let dir = TempDir::new();
    let passwd = password_file(&dir);
    let broker = Broker::start_with(&[
        ("auth.password_file", &passwd),
        ("mqtt.allow_anonymous", "off"),
    ]);
    let addr = broker.addr();
    let anonymous = |version| connack_code(addr, login(version, "taken", None, None));
    assert_eq!(anonymous(ProtocolVersion::V5).await, reason::NOT_AUTHORIZED);
    assert_eq!(anonymous(ProtocolVersion::V3_1_1).await, 5);
    // The session of "taken" is not taken over by a refused CONNECT: its
    // client still gets what it subscribed to.
    let mut holder = connected(addr, ProtocolVersion::V5, "taken", "alice").await;
    assert_eq!(holder.subscribe("a/x", QoS::AtMostOnce).await, [0]);
    let refused = login(ProtocolVersion::V5, "taken", Some("alice"), Some("bad"));
    assert_eq!(
        connack_code(addr, refused).await,
        reason::BAD_USER_NAME_OR_PASSWORD
    );
    let mut publisher = connected(addr, ProtocolVersion::V5, "p", "alice").await;
    publisher
        .send(Packet::Publish(publish(
            "a/x",
            b"still",
            QoS::AtMostOnce,
            0,
        )))
        .await;
    assert_eq!(holder.recv_publish().await.payload[..], b"still"[..]);
}

/// This machine's own non-loopback address, if it has one.
fn own_address() -> Option<String> {
    let output = Command::new("hostname").arg("-I").output().ok()?;
    String::from_utf8(output.stdout)
        .ok()?
        .split_whitespace()
        .find(|a| {
            a.parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| !ip.is_loopback())
        })
        .map(str::to_owned)
}

#[tokio::test]
async fn anonymous_clients_need_a_loopback_listener_unless_allowed() {
    let Some(ip) = own_address() else {
        eprintln!("note: no non-loopback address on this machine; case skipped");
        return;
    };
    let listener = format!("{ip}:0");
    let broker = Broker::start_with(&[("listener.tcp.default", &listener)]);
    assert!(broker
        .wait_for_log("anonymous clients are refused", LOG_WAIT)
        .is_some());
    let anonymous = |version| connack_code(broker.addr(), login(version, "a", None, None));
    assert_eq!(anonymous(ProtocolVersion::V5).await, reason::NOT_AUTHORIZED);
    assert_eq!(anonymous(ProtocolVersion::V3_1_1).await, 5);

    let open = Broker::start_with(&[
        ("listener.tcp.default", &listener),
        ("mqtt.allow_anonymous", "on"),
    ]);
    let code = connack_code(open.addr(), login(ProtocolVersion::V5, "a", None, None)).await;
    assert_eq!(code, 0);
    // The test harness's own loopback listener lets anonymous clients in.
    let local = Broker::start();
    assert!(local
        .wait_for_log("anonymous clients are allowed", LOG_WAIT)
        .is_some());
}

/// A broker with the password file and [`ACL`], plus `sets`.
fn acl_broker(dir: &TempDir, sets: &[(&str, &str)]) -> (Broker, String) {
    let passwd = password_file(dir);
    let acl = write_file(dir, "acl", ACL);
    let mut all = vec![
        ("auth.password_file", passwd.as_str()),
        ("acl.file", acl.as_str()),
    ];
    all.extend_from_slice(sets);
    (Broker::start_with(&all), acl)
}

/// PUBLISH to `topic` at QoS 1 or 2; the reason code of its PUBACK or
/// PUBREC.
async fn answer(client: &mut RawClient, topic: &str, qos: QoS, id: u16) -> u8 {
    client
        .send(Packet::Publish(publish(topic, b"", qos, id)))
        .await;
    match (qos, client.recv().await) {
        (QoS::AtLeastOnce, Some(Packet::PubAck(a)))
        | (QoS::ExactlyOnce, Some(Packet::PubRec(a))) => a.reason,
        (_, other) => panic!("expected the answer to a QoS {qos:?} PUBLISH, got {other:?}"),
    }
}

/// PUBLISH to `topic` at QoS 0 (a marker, or a message that gets no answer).
async fn send_qos0(client: &mut RawClient, topic: &str) {
    client
        .send(Packet::Publish(publish(topic, b"", QoS::AtMostOnce, 0)))
        .await;
}

fn pubrel(packet_id: u16) -> Packet {
    Packet::PubRel(PubAck {
        packet_id,
        reason: 0,
        properties: Default::default(),
    })
}

#[tokio::test]
async fn refused_publishes_are_answered_as_each_version_allows() {
    let dir = TempDir::new();
    let (broker, _) = acl_broker(&dir, &[]);
    let addr = broker.addr();
    let mut watcher = connected(addr, ProtocolVersion::V5, "w", "admin").await;
    assert_eq!(watcher.subscribe("#", QoS::AtMostOnce).await, [0]);
    assert_eq!(watcher.subscribe("$SYS/test", QoS::AtMostOnce).await, [0]);

    let refused = reason::NOT_AUTHORIZED;
    let mut v5 = connected(addr, ProtocolVersion::V5, "v5", "alice").await;
    assert_eq!(
        answer(&mut v5, "public/x", QoS::AtLeastOnce, 1).await,
        refused
    );
    assert_eq!(
        answer(&mut v5, "public/y", QoS::ExactlyOnce, 2).await,
        refused
    );
    send_qos0(&mut v5, "public/z").await;

    let mut v3 = connected(addr, ProtocolVersion::V3_1_1, "v3", "alice").await;
    assert_eq!(answer(&mut v3, "public/x3", QoS::AtLeastOnce, 1).await, 0);
    assert_eq!(answer(&mut v3, "public/y3", QoS::ExactlyOnce, 2).await, 0);
    v3.send(pubrel(2)).await;
    assert!(matches!(v3.recv().await, Some(Packet::PubComp(_))));

    // $SYS: refused whatever the file grants (admin has readwrite $SYS/#).
    let mut admin = connected(addr, ProtocolVersion::V5, "adm", "admin").await;
    assert_eq!(
        answer(&mut admin, "$SYS/test", QoS::AtLeastOnce, 1).await,
        refused
    );

    // Granted ones go through; the marker proves the refused ones did not.
    v5.send(Packet::Publish(publish("a/ok", b"", QoS::AtLeastOnce, 3)))
        .await;
    assert!(matches!(v5.recv().await, Some(Packet::PubAck(a)) if a.reason == 0));
    send_qos0(&mut admin, "marker").await;
    assert_eq!(topics_before(&mut watcher, "marker").await, ["a/ok"]);
}

#[tokio::test]
async fn deny_action_disconnect_closes_the_connection() {
    let dir = TempDir::new();
    let (broker, _) = acl_broker(&dir, &[("acl.deny_action", "disconnect")]);
    let mut v5 = connected(broker.addr(), ProtocolVersion::V5, "v5", "alice").await;
    v5.send(Packet::Publish(publish(
        "public/x",
        b"",
        QoS::AtLeastOnce,
        1,
    )))
    .await;
    let seen = v5.expect_closed().await;
    assert!(
        matches!(seen.as_slice(), [Packet::Disconnect(d)] if d.reason == reason::NOT_AUTHORIZED),
        "{seen:?}"
    );
    let mut v3 = connected(broker.addr(), ProtocolVersion::V3_1_1, "v3", "alice").await;
    send_qos0(&mut v3, "public/x").await;
    assert!(v3.expect_closed().await.is_empty());
}

#[tokio::test]
async fn refused_subscriptions_get_0x87_in_v5_and_0x80_in_v311() {
    let broker = Broker::start_with(&[("acl.deny_subscribe", "secret/#")]);
    let mut v5 = RawClient::connect(broker.addr(), ProtocolVersion::V5, "v5").await;
    assert_eq!(
        v5.subscribe("secret/x", QoS::AtMostOnce).await,
        [reason::NOT_AUTHORIZED]
    );
    let mut v3 = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "v3").await;
    assert_eq!(v3.subscribe("secret/x", QoS::AtMostOnce).await, [0x80]);

    let closed = Broker::start_with(&[("acl.nomatch", "deny")]);
    let mut v5 = RawClient::connect(closed.addr(), ProtocolVersion::V5, "v5").await;
    assert_eq!(
        v5.subscribe("any", QoS::AtMostOnce).await,
        [reason::NOT_AUTHORIZED]
    );
    let mut v3 = RawClient::connect(closed.addr(), ProtocolVersion::V3_1_1, "v3").await;
    assert_eq!(v3.subscribe("any", QoS::AtMostOnce).await, [0x80]);
}

/// A `#` subscriber never gets `secret/...` when `secret/#` is on the deny
/// list: live, retained, queued for its offline session, or shared.
#[tokio::test]
async fn a_wildcard_subscriber_never_receives_a_denied_topic() {
    let broker = Broker::start_with(&[("acl.deny_subscribe", "secret/#")]);
    let addr = broker.addr();
    let mut publisher = RawClient::connect(addr, ProtocolVersion::V5, "pub").await;
    let send = |topic: &'static str, retain: bool| {
        let mut p = publish(topic, b"x", QoS::AtLeastOnce, 1);
        p.retain = retain;
        Packet::Publish(p)
    };
    for topic in ["secret/r", "public/r"] {
        publisher.send(send(topic, true)).await;
        assert!(matches!(publisher.recv().await, Some(Packet::PubAck(_))));
    }

    // A persistent session that will be away.
    let mut connect = connect_packet(ProtocolVersion::V5, "away");
    connect.clean_start = false;
    connect.properties = ConnectProperties {
        session_expiry_interval: Some(600),
        ..Default::default()
    };
    let (mut away, _) = RawClient::connect_with(addr, connect.clone()).await;
    assert_eq!(away.subscribe("#", QoS::AtLeastOnce).await, [1]);
    send_qos0(&mut publisher, "marker/1").await;
    let retained = topics_before(&mut away, "marker/1").await;
    assert_eq!(retained, ["public/r"]);
    away.disconnect().await;

    let mut live = RawClient::connect(addr, ProtocolVersion::V3_1_1, "live").await;
    assert_eq!(live.subscribe("#", QoS::AtLeastOnce).await, [1]);
    let mut shared = RawClient::connect(addr, ProtocolVersion::V5, "shared").await;
    assert_eq!(shared.subscribe("$share/g/#", QoS::AtLeastOnce).await, [1]);
    for topic in ["secret/live", "public/live"] {
        publisher.send(send(topic, false)).await;
        assert!(matches!(publisher.recv().await, Some(Packet::PubAck(_))));
    }
    send_qos0(&mut publisher, "marker/2").await;
    // 3.1.1 gets retained messages on subscribing too.
    assert_eq!(
        topics_before(&mut live, "marker/2").await,
        ["public/r", "public/live"]
    );
    assert_eq!(
        topics_before(&mut shared, "marker/2").await,
        ["public/live"]
    );

    let (mut back, ack) = RawClient::connect_with(addr, connect).await;
    assert!(ack.session_present);
    send_qos0(&mut publisher, "marker/3").await;
    // Queued while it was away: what it may read, and the marker before.
    assert_eq!(
        topics_before(&mut back, "marker/3").await,
        ["public/live", "marker/2"]
    );
}

/// With an ACL file, what alice may not read never reaches her `#`
/// subscription, and the session she left keeps only what she may read.
#[tokio::test]
async fn the_acl_file_decides_every_delivery() {
    let dir = TempDir::new();
    let (broker, _) = acl_broker(&dir, &[]);
    let addr = broker.addr();
    let mut admin = connected(addr, ProtocolVersion::V5, "adm", "admin").await;
    let mut alice = connected(addr, ProtocolVersion::V5, "alice", "alice").await;
    assert_eq!(alice.subscribe("#", QoS::AtMostOnce).await, [0]);
    for topic in ["private/x", "public/x", "done/1"] {
        send_qos0(&mut admin, topic).await;
    }
    assert_eq!(topics_before(&mut alice, "done/1").await, ["public/x"]);
}

#[tokio::test]
async fn a_will_the_client_may_not_write_is_dropped_and_the_client_connects() {
    let dir = TempDir::new();
    let (broker, _) = acl_broker(&dir, &[]);
    let addr = broker.addr();
    let mut watcher = connected(addr, ProtocolVersion::V5, "w", "admin").await;
    assert_eq!(watcher.subscribe("#", QoS::AtMostOnce).await, [0]);
    for (id, topic) in [("denied", "public/will"), ("granted", "a/will")] {
        let mut connect = login(ProtocolVersion::V5, id, Some("alice"), Some("alice-pw"));
        connect.will = Some(will(topic, "gone", QoS::AtMostOnce));
        let (client, ack) = RawClient::connect_with(addr, connect).await;
        assert_eq!(ack.reason, 0);
        client.drop_connection();
    }
    assert!(broker.wait_for_logs("client disconnected", 2, LOG_WAIT));
    let mut admin = connected(addr, ProtocolVersion::V5, "adm", "admin").await;
    send_qos0(&mut admin, "marker").await;
    assert_eq!(topics_before(&mut watcher, "marker").await, ["a/will"]);
}

/// PUBLISH QoS 1 to `a/x`; the PUBACK's reason code.
async fn publish_code(client: &mut RawClient, id: u16) -> u8 {
    answer(client, "a/x", QoS::AtLeastOnce, id).await
}

#[tokio::test]
async fn edited_files_take_effect_and_bad_edits_keep_the_old_rules() {
    let dir = TempDir::new();
    let (broker, acl) = acl_broker(&dir, &[]);
    let addr = broker.addr();
    let mut alice = connected(addr, ProtocolVersion::V5, "alice", "alice").await;
    assert_ne!(publish_code(&mut alice, 1).await, reason::NOT_AUTHORIZED);

    // Written elsewhere and renamed over, as editors save.
    let edited = write_file(
        &dir,
        "acl.new",
        &ACL.replace("topic write a/#", "topic write b/#"),
    );
    std::fs::rename(&edited, &acl).unwrap();
    assert!(broker.wait_for_log("ACL file reloaded", LOG_WAIT).is_some());
    assert_eq!(publish_code(&mut alice, 2).await, reason::NOT_AUTHORIZED);

    std::fs::write(&acl, "topic write a/#\ntopic wrte b\n").unwrap();
    let line = broker
        .wait_for_log("ACL file not reloaded", LOG_WAIT)
        .expect("the bad edit is logged");
    assert!(line.contains("line 2"), "{line}");
    assert!(line.contains(&acl), "{line}");
    assert_eq!(publish_code(&mut alice, 3).await, reason::NOT_AUTHORIZED);

    // A user added to the password file can connect without a restart.
    let passwd = dir.path().join("passwd");
    let status = tool("mosquitto_passwd")
        .args(["-b", passwd.to_str().unwrap(), "bob", "bob-pw"])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(broker
        .wait_for_log("password file reloaded", LOG_WAIT)
        .is_some());
    connected(addr, ProtocolVersion::V5, "bob", "bob").await;
}

#[test]
fn a_bad_file_at_start_stops_the_broker_with_status_2() {
    let dir = TempDir::new();
    // Line 2 is bad in both formats.
    let bad = write_file(&dir, "bad", "# comment\nuser\n");
    for key in ["acl.file", "auth.password_file"] {
        let output = Command::new(mqhost_binary())
            .args(["--config", "/dev/null", "--set"])
            .arg(format!("{key}={bad}"))
            .args(["--set", "listener.tcp.default=127.0.0.1:0"])
            .args(["--set", "admin.listener=off", "--set", "persistence=off"])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{key}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&format!("{bad}, line 2")),
            "{key}: {stderr}"
        );
    }
}
