//! Plugins deciding access: `client.authenticate` and `client.authorize`
//! answered by the `decider` test plugin, at once, later, never, or by
//! panicking, with real clients over real sockets.

use std::time::Duration;

use mqhost_codec::{reason, Packet, ProtocolVersion, QoS};
use mqhost_tests::plugins::{workspace_library, PluginDirs};
use mqhost_tests::raw::{connack_code, connect_packet, login, publish, will, RawClient};
use mqhost_tests::Broker;

const WAIT: Duration = Duration::from_secs(20);
/// How long a client held by a pending answer is watched for a reply that
/// must not come: absence, not speed, is what is asserted.
const QUIET: Duration = Duration::from_millis(300);

/// A broker with the decider plugin, configured by `keys`, and `sets`.
fn with_decider(keys: &str, sets: &[(&str, &str)]) -> (PluginDirs, Broker) {
    with_decider_in(PluginDirs::new(), keys, sets)
}

/// [`with_decider`] in directories the test prepared.
fn with_decider_in(dirs: PluginDirs, keys: &str, sets: &[(&str, &str)]) -> (PluginDirs, Broker) {
    dirs.install(&workspace_library("mqhost-decider"));
    let questions = dirs.file("questions.log");
    dirs.write_config(
        "decider",
        &format!("decider.file = {}\n{keys}", questions.display()),
    );
    let broker = Broker::start_with_plugins(&dirs, sets);
    assert!(
        broker.wait_for_log("plugin started", WAIT).is_some(),
        "{:#?}",
        broker.logs()
    );
    (dirs, broker)
}

/// The questions the plugin was asked, one per line.
fn questions(dirs: &PluginDirs) -> String {
    std::fs::read_to_string(dirs.file("questions.log")).unwrap_or_default()
}

async fn user(broker: &Broker, version: ProtocolVersion, id: &str, name: &str) -> RawClient {
    let (client, ack) =
        RawClient::connect_with(broker.addr(), login(version, id, Some(name), None)).await;
    assert_eq!(ack.reason, 0, "{name} refused");
    client
}

async fn release(broker: &Broker, topic: &str) {
    let mut releaser = RawClient::connect(broker.addr(), ProtocolVersion::V5, "releaser").await;
    releaser
        .send(Packet::Publish(publish(topic, b"", QoS::AtMostOnce, 0)))
        .await;
    releaser.disconnect().await;
}

/// The next PUBLISH, past acknowledgements of the client's own.
async fn next_publish(client: &mut RawClient) -> mqhost_codec::Publish {
    loop {
        match client.recv().await {
            Some(Packet::Publish(p)) => return p,
            Some(Packet::PubAck(_)) => {}
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }
}

/// The acknowledgement of a QoS 1 or 2 PUBLISH: (packet id, reason).
async fn ack(client: &mut RawClient) -> (u16, u8) {
    match client.recv().await {
        Some(Packet::PubAck(ack)) | Some(Packet::PubRec(ack)) => (ack.packet_id, ack.reason),
        other => panic!("expected PUBACK or PUBREC, got {other:?}"),
    }
}

#[tokio::test]
async fn a_plugin_allows_refuses_or_passes_a_connect_on() {
    let (dirs, broker) = with_decider(
        "decider.users = alice:allow, bob:deny\n",
        &[("mqtt.allow_anonymous", "off")],
    );
    let addr = broker.addr();
    for (version, bad_credentials, not_authorized) in [
        (
            ProtocolVersion::V5,
            reason::BAD_USER_NAME_OR_PASSWORD,
            reason::NOT_AUTHORIZED,
        ),
        (ProtocolVersion::V3_1_1, 4, 5),
    ] {
        let code = |name| connack_code(addr, login(version, "c", Some(name), Some("pw")));
        assert_eq!(code("alice").await, 0, "{version:?}");
        assert_eq!(code("bob").await, bad_credentials, "{version:?}");
        // Nobody knows carol, and anonymous access is off.
        assert_eq!(code("carol").await, not_authorized, "{version:?}");
    }
    assert!(questions(&dirs).contains("authenticate c bob listener=tcp.default cn=- subject=-"));
}

#[tokio::test]
async fn a_superuser_is_asked_no_topic_question_and_still_cannot_write_sys() {
    let (dirs, broker) = with_decider(
        "decider.users = root:superuser\n",
        &[("acl.nomatch", "deny"), ("mqtt.allow_anonymous", "off")],
    );
    let mut root = user(&broker, ProtocolVersion::V5, "root-1", "root").await;
    assert_eq!(root.subscribe("#", QoS::AtLeastOnce).await, [1]);
    root.send(Packet::Publish(publish(
        "any/topic",
        b"x",
        QoS::AtLeastOnce,
        7,
    )))
    .await;
    let got = next_publish(&mut root).await;
    assert_eq!(got.topic, "any/topic");
    root.send(Packet::Publish(publish(
        "$SYS/x",
        b"x",
        QoS::AtLeastOnce,
        8,
    )))
    .await;
    loop {
        match root.recv().await {
            Some(Packet::PubAck(ack)) if ack.packet_id == 8 => {
                assert_eq!(ack.reason, reason::NOT_AUTHORIZED);
                break;
            }
            Some(_) => {}
            None => panic!("closed"),
        }
    }
    assert!(
        !questions(&dirs).contains("authorize"),
        "{}",
        questions(&dirs)
    );
}

#[tokio::test]
async fn a_plugin_refuses_one_filter_of_a_subscribe_and_a_publish() {
    let (_dirs, broker) = with_decider(
        "decider.topics = subscribe:blocked/:deny, publish:blocked/:deny\n",
        &[],
    );
    let mut client = RawClient::connect(broker.addr(), ProtocolVersion::V5, "c5").await;
    let codes = client
        .subscribe_all(&["blocked/#", "open/#"], QoS::AtLeastOnce)
        .await;
    assert_eq!(codes, [reason::NOT_AUTHORIZED, 1]);
    client
        .send(Packet::Publish(publish(
            "blocked/x",
            b"x",
            QoS::AtLeastOnce,
            1,
        )))
        .await;
    assert_eq!(ack(&mut client).await, (1, reason::NOT_AUTHORIZED));
    client
        .send(Packet::Publish(publish(
            "blocked/x",
            b"x",
            QoS::ExactlyOnce,
            2,
        )))
        .await;
    assert_eq!(ack(&mut client).await, (2, reason::NOT_AUTHORIZED));
    client
        .send(Packet::Publish(publish(
            "open/x",
            b"x",
            QoS::AtLeastOnce,
            3,
        )))
        .await;
    let got = next_publish(&mut client).await;
    assert_eq!(got.topic, "open/x");

    // 3.1.1 has no refusal: acknowledged, and not delivered.
    let mut old = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "c4").await;
    assert_eq!(old.subscribe("#", QoS::AtLeastOnce).await, [1]);
    old.send(Packet::Publish(publish(
        "blocked/y",
        b"y",
        QoS::AtLeastOnce,
        4,
    )))
    .await;
    old.send(Packet::Publish(publish("open/y", b"y", QoS::AtMostOnce, 0)))
        .await;
    let mut topics = Vec::new();
    loop {
        match old.recv().await {
            Some(Packet::PubAck(ack)) => assert_eq!((ack.packet_id, ack.reason), (4, 0)),
            Some(Packet::Publish(p)) if p.topic == "open/y" => break,
            Some(Packet::Publish(p)) => topics.push(p.topic),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(topics.is_empty(), "{topics:?}");
}

#[tokio::test]
async fn reads_are_asked_only_of_a_plugin_that_opted_in() {
    for read in [false, true] {
        let keys = format!(
            "decider.topics = read:hidden/:deny\ndecider.read = {}\n",
            if read { "on" } else { "off" }
        );
        let (dirs, broker) = with_decider(&keys, &[]);
        let mut publisher = RawClient::connect(broker.addr(), ProtocolVersion::V5, "p").await;
        let mut retained = publish("hidden/kept", b"r", QoS::AtMostOnce, 0);
        retained.retain = true;
        publisher.send(Packet::Publish(retained)).await;
        let mut sub = RawClient::connect(broker.addr(), ProtocolVersion::V5, "s").await;
        assert_eq!(sub.subscribe("#", QoS::AtMostOnce).await, [0]);
        for topic in ["hidden/live", "shown", "done"] {
            publisher
                .send(Packet::Publish(publish(topic, b"x", QoS::AtMostOnce, 0)))
                .await;
        }
        let mut topics = Vec::new();
        loop {
            let got = sub.recv_publish().await;
            if got.topic == "done" {
                break;
            }
            topics.push(got.topic);
        }
        let asked = questions(&dirs);
        if read {
            assert_eq!(topics, ["shown"], "read on");
            assert!(asked.contains("authorize s read hidden/live"), "{asked}");
        } else {
            assert_eq!(topics, ["hidden/kept", "hidden/live", "shown"], "read off");
            assert!(!asked.contains(" read "), "{asked}");
        }
    }
}

#[tokio::test]
async fn a_pending_answer_holds_only_its_client_and_keeps_its_packets_in_order() {
    let (_dirs, broker) = with_decider(
        "decider.users = slow:later\ndecider.topics = publish:slow/:later\n",
        &[],
    );
    let addr = broker.addr();
    // A CONNECT whose answer is held.
    let mut slow = RawClient::open(addr, ProtocolVersion::V5).await;
    slow.send(Packet::Connect(Box::new(login(
        ProtocolVersion::V5,
        "slow-1",
        Some("slow"),
        None,
    ))))
    .await;
    // Other clients go on at full speed meanwhile.
    let mut sub = RawClient::connect(addr, ProtocolVersion::V5, "sub").await;
    assert_eq!(sub.subscribe("fast/#", QoS::AtLeastOnce).await, [1]);
    let mut fast = RawClient::connect(addr, ProtocolVersion::V5, "fast").await;
    for i in 1..=200u16 {
        fast.send(Packet::Publish(publish(
            "fast/x",
            b"x",
            QoS::AtLeastOnce,
            i,
        )))
        .await;
        let got = sub.recv_publish().await;
        sub.puback(got.packet_id).await;
        assert_eq!(ack(&mut fast).await.0, i);
    }
    assert_eq!(
        slow.recv_within(QUIET).await,
        Err(()),
        "answered before release"
    );
    release(&broker, "decider/release").await;
    match slow.recv().await {
        Some(Packet::ConnAck(ack)) => assert_eq!(ack.reason, 0),
        other => panic!("expected CONNACK, got {other:?}"),
    }

    // A PUBLISH waiting for its answer holds the packets behind it.
    let mut watcher = RawClient::connect(addr, ProtocolVersion::V5, "watcher").await;
    assert_eq!(watcher.subscribe("#", QoS::AtLeastOnce).await, [1]);
    slow.send(Packet::Publish(publish(
        "slow/1",
        b"1",
        QoS::AtLeastOnce,
        1,
    )))
    .await;
    slow.send(Packet::Publish(publish(
        "fast/2",
        b"2",
        QoS::AtLeastOnce,
        2,
    )))
    .await;
    slow.send(Packet::PingReq).await;
    assert_eq!(
        slow.recv_within(QUIET).await,
        Err(()),
        "answered before release"
    );
    release(&broker, "decider/release").await;
    assert_eq!(ack(&mut slow).await, (1, 0));
    assert_eq!(ack(&mut slow).await, (2, 0));
    assert!(matches!(slow.recv().await, Some(Packet::PingResp)));
    let mut topics = Vec::new();
    while topics.len() < 2 {
        let got = watcher.recv_publish().await;
        watcher.puback(got.packet_id).await;
        if !got.topic.starts_with("decider/") {
            topics.push(got.topic);
        }
    }
    assert_eq!(topics, ["slow/1", "fast/2"]);
}

#[tokio::test]
async fn an_answer_that_never_comes_counts_as_the_timeout_action() {
    for (action, expected) in [("deny", reason::BAD_USER_NAME_OR_PASSWORD), ("ignore", 0)] {
        let (_dirs, broker) = with_decider(
            "decider.users = mute:never\n",
            &[
                ("auth.timeout", "1s"),
                ("auth.timeout_action", action),
                ("mqtt.allow_anonymous", "on"),
            ],
        );
        let code = connack_code(
            broker.addr(),
            login(ProtocolVersion::V5, "m", Some("mute"), None),
        )
        .await;
        assert_eq!(code, expected, "auth.timeout_action = {action}");
        assert!(broker
            .wait_for_log("no answer within auth.timeout", WAIT)
            .is_some());
    }
}

#[tokio::test]
async fn a_panicking_or_silent_plugin_counts_as_ignore() {
    let (_dirs, mut broker) = with_decider(
        "decider.users = gone:drop, boom:panic\n",
        &[("mqtt.allow_anonymous", "off")],
    );
    let code = |name| {
        connack_code(
            broker.addr(),
            login(ProtocolVersion::V5, "x", Some(name), None),
        )
    };
    // Ignored: nobody else knows them, and anonymous access is off.
    assert_eq!(code("gone").await, reason::NOT_AUTHORIZED);
    assert!(broker.wait_for_log("dropped its reply", WAIT).is_some());
    assert_eq!(code("boom").await, reason::NOT_AUTHORIZED);
    assert!(broker.wait_for_log("plugin panicked", WAIT).is_some());
    assert!(broker.is_running());
}

#[tokio::test]
async fn unloading_a_plugin_lets_its_pending_questions_go_on() {
    let (dirs, broker) = with_decider(
        "decider.users = held:later\n",
        &[("mqtt.allow_anonymous", "on")],
    );
    let mut held = RawClient::open(broker.addr(), ProtocolVersion::V5).await;
    held.send(Packet::Connect(Box::new(login(
        ProtocolVersion::V5,
        "h",
        Some("held"),
        None,
    ))))
    .await;
    assert_eq!(
        held.recv_within(QUIET).await,
        Err(()),
        "answered while held"
    );
    dirs.write_config("decider", "plugin.enable = off\n");
    assert!(broker.wait_for_log("plugin stopped", WAIT).is_some());
    // The plugin went, and its replies with it: ignored, so anonymous
    // access decides.
    match held.recv().await {
        Some(Packet::ConnAck(ack)) => assert_eq!(ack.reason, 0),
        other => panic!("expected CONNACK, got {other:?}"),
    }
}

#[tokio::test]
async fn a_plugin_is_asked_about_a_will_before_the_acl_file() {
    let dirs = PluginDirs::new();
    // The file grants nothing on will/#; the plugin allows writing and
    // reading it, and comes first.
    let acl = dirs.file("acl");
    std::fs::write(&acl, "topic read other/#\n").unwrap();
    let acl = acl.display().to_string();
    let (_dirs, broker) = with_decider_in(
        dirs,
        "decider.topics = publish:will/:allow, read:will/:allow\ndecider.read = on\n",
        &[("acl.file", &acl)],
    );
    let mut watcher = RawClient::connect(broker.addr(), ProtocolVersion::V5, "watcher").await;
    assert_eq!(watcher.subscribe("will/#", QoS::AtMostOnce).await, [0]);
    let mut connect = connect_packet(ProtocolVersion::V5, "dying");
    connect.will = Some(will("will/dying", "gone", QoS::AtMostOnce));
    let (dying, ack) = RawClient::connect_with(broker.addr(), connect).await;
    assert_eq!(ack.reason, 0);
    dying.drop_connection();
    let got = watcher.recv_publish().await;
    assert_eq!(
        (got.topic.as_str(), &got.payload[..]),
        ("will/dying", &b"gone"[..])
    );
}

/// On a TLS listener that verifies client certificates, the authenticate
/// question names the listener and the certificate's common name and
/// subject; with `peer_cert_as_username = cn` the user name is the CN,
/// whatever the client sent, and a plugin may decide by it.
#[test]
fn a_client_certificate_reaches_the_authenticate_question() {
    let certs = mqhost_tests::certs::TestCerts::generate();
    let (cert, key) = certs.issue(
        "device",
        "/O=Acme/CN=dev-1",
        mqhost_tests::certs::Usage::Client,
    );
    let path = |p: &std::path::Path| p.display().to_string();
    let (server_cert, server_key, ca) = (
        path(&certs.server_cert),
        path(&certs.server_key),
        path(&certs.ca),
    );
    let (dirs, broker) = with_decider(
        "decider.users = dev-1:allow, mallory:deny\n",
        &[
            ("mqtt.allow_anonymous", "off"),
            ("listener.ssl.devices", "127.0.0.1:0"),
            ("listener.ssl.devices.certfile", &server_cert),
            ("listener.ssl.devices.keyfile", &server_key),
            ("listener.ssl.devices.cacertfile", &ca),
            ("listener.ssl.devices.verify", "verify_peer"),
            ("listener.ssl.devices.peer_cert_as_username", "cn"),
        ],
    );
    let port = broker.listener("ssl:devices").port().to_string();
    let output = mqhost_tests::tool("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-i",
            "meter-7",
            "-u",
            "mallory",
        ])
        .args(["-t", "readings", "-m", "1", "-V", "mqttv5"])
        .arg("--cafile")
        .arg(&certs.ca)
        .arg("--cert")
        .arg(&cert)
        .arg("--key")
        .arg(&key)
        .output()
        .expect("run mosquitto_pub");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        questions(&dirs).contains(
            "authenticate meter-7 dev-1 listener=ssl.devices cn=dev-1 subject=CN=dev-1,O=Acme"
        ),
        "{}",
        questions(&dirs)
    );
}
