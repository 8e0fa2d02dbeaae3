//! The plugin host: loading, hot reload, isolation, the admin API and
//! `mqhost ctl`, with the `probe` test plugin.

use std::time::{Duration, Instant};

use mqhost_codec::{Disconnect, Packet, ProtocolVersion, QoS};
use mqhost_tests::plugins::{workspace_library, PluginDirs};
use mqhost_tests::raw::{connect_packet, publish, RawClient};
use mqhost_tests::{logged_at, Broker};

const WAIT: Duration = Duration::from_secs(5);

fn probe_config(dirs: &PluginDirs, tag: &str, extra: &str) -> String {
    format!(
        "## probe\nprobe.file = {}\nprobe.tag = {tag}\n{extra}",
        dirs.file("events.log").display()
    )
}

/// Lines the probe wrote so far.
fn events(dirs: &PluginDirs) -> Vec<String> {
    std::fs::read_to_string(dirs.file("events.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Waits until a probe line contains every part.
async fn wait_event(dirs: &PluginDirs, parts: &[&str]) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(line) = events(dirs)
            .into_iter()
            .find(|l| parts.iter().all(|p| l.contains(p)))
        {
            return line;
        }
        assert!(
            Instant::now() < deadline,
            "no event with {parts:?} in {:#?}",
            events(dirs)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn probe_dirs(tag: &str, extra: &str) -> PluginDirs {
    let dirs = PluginDirs::new();
    dirs.install(&workspace_library("mqhost-probe"));
    dirs.write_config("probe", &probe_config(&dirs, tag, extra));
    dirs
}

async fn publish_one(broker: &Broker, topic: &str, payload: &str) {
    let mut client = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "publisher").await;
    client
        .send(Packet::Publish(publish(
            topic,
            payload.as_bytes(),
            QoS::AtLeastOnce,
            1,
        )))
        .await;
    client.recv().await;
    client.disconnect().await;
}

#[tokio::test]
async fn plugin_enabled_at_start_sees_every_hook_point() {
    let dirs = probe_dirs("one", "");
    let broker = Broker::start_with_plugins(&dirs, &[("node.name", "probe-node")]);
    let mut sub = RawClient::connect(broker.addr(), ProtocolVersion::V5, "watcher").await;
    sub.subscribe("t/#", QoS::AtLeastOnce).await;
    publish_one(&broker, "t/1", "hello").await;
    let got = sub.recv_publish().await;
    sub.puback(got.packet_id).await;
    sub.disconnect().await;

    wait_event(
        &dirs,
        &[
            "one client.connected watcher",
            "protocol=5",
            "node=probe-node",
            // Since 1.3, beside the event.
            "listener=tcp.default transport=tcp",
        ],
    )
    .await;
    wait_event(&dirs, &["session.created watcher resumed=false"]).await;
    wait_event(&dirs, &["session.subscribed watcher t/# qos=1 new=true"]).await;
    let published = wait_event(
        &dirs,
        &["message.publish t/1", "from=publisher", "payload=hello"],
    )
    .await;
    let id = published
        .split("id=")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(id.len(), 22, "base62 message id: {id}");
    wait_event(
        &dirs,
        &["message.delivered watcher t/1", &format!("id={id}")],
    )
    .await;
    wait_event(
        &dirs,
        &["message.acked watcher t/1", &format!("id={id}"), "qos=1"],
    )
    .await;
    wait_event(&dirs, &["client.disconnected watcher", "reason=normal"]).await;
    // Lines the plugin logs through the host land in the broker's log.
    let line = broker
        .wait_for_log("probe writing to", WAIT)
        .expect("plugin log line");
    assert!(line.contains("plugin=\"probe\""), "{line}");
}

#[tokio::test]
async fn plugin_dropped_in_while_running_loads() {
    let dirs = PluginDirs::new();
    let broker = Broker::start_with_plugins(&dirs, &[]);
    publish_one(&broker, "before", "x").await;
    dirs.install(&workspace_library("mqhost-probe"));
    dirs.write_config("probe", &probe_config(&dirs, "late", ""));
    assert!(broker.wait_for_log("plugin started", WAIT).is_some());
    publish_one(&broker, "after", "y").await;
    wait_event(&dirs, &["late message.publish after"]).await;
    assert!(!events(&dirs).iter().any(|l| l.contains("before")));
}

#[tokio::test]
async fn library_without_config_file_stays_disabled() {
    let dirs = PluginDirs::new();
    dirs.install(&workspace_library("mqhost-probe"));
    let broker = Broker::start_with_plugins(&dirs, &[]);
    assert!(broker.wait_for_log("found plugin library", WAIT).is_some());
    publish_one(&broker, "t", "x").await;
    assert_eq!(broker.count_logs("plugin started"), 0);
}

#[tokio::test]
async fn missing_plugin_directories_are_a_warning_not_an_error() {
    let mut broker = Broker::start();
    assert!(broker.wait_for_log("plugins directory", WAIT).is_some());
    assert!(broker.is_running());
}

#[tokio::test]
async fn config_edit_applies_within_a_second_without_losing_a_qos1_message() {
    let dirs = probe_dirs("before", "");
    let broker = Broker::start_with_plugins(&dirs, &[]);
    let mut sub = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "sub").await;
    sub.subscribe("stream", QoS::AtLeastOnce).await;
    let mut publisher = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "pub").await;

    let total = 300u16;
    let mut edited_at = None;
    let mut received = Vec::new();
    for i in 1..=total {
        publisher
            .send(Packet::Publish(publish(
                "stream",
                &i.to_be_bytes(),
                QoS::AtLeastOnce,
                i,
            )))
            .await;
        match publisher.recv().await {
            Some(Packet::PubAck(ack)) => assert_eq!(ack.packet_id, i),
            other => panic!("publisher lost: {other:?}"),
        }
        let got = sub.recv_publish().await;
        sub.puback(got.packet_id).await;
        received.push(u16::from_be_bytes([got.payload[0], got.payload[1]]));
        if i == 100 {
            dirs.write_config("probe", &probe_config(&dirs, "after", ""));
            edited_at = Some(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        received,
        (1..=total).collect::<Vec<_>>(),
        "every message, in order"
    );
    let first_after = events(&dirs)
        .iter()
        .position(|l| l.starts_with("after message.publish"))
        .expect("new configuration in force");
    assert!(first_after > 0);
    assert!(broker
        .wait_for_log("plugin configuration reloaded", WAIT)
        .is_some());
    assert!(edited_at.unwrap().elapsed() > Duration::ZERO);
    // Both clients are still connected.
    publisher.send(Packet::PingReq).await;
    assert_eq!(publisher.recv().await, Some(Packet::PingResp));
    sub.send(Packet::PingReq).await;
    assert_eq!(sub.recv().await, Some(Packet::PingResp));
    assert_eq!(broker.count_logs("client disconnected"), 0);
}

#[tokio::test]
async fn config_edit_is_seen_within_a_second() {
    let dirs = probe_dirs("v1", "");
    let broker = Broker::start_with_plugins(&dirs, &[]);
    assert!(broker.wait_for_log("plugin started", WAIT).is_some());
    assert!(broker.wait_for_logs("for plugin changes", 2, WAIT));
    // The watcher reconciles once more after it starts watching: a first
    // edit, seen by that reconcile or by the watcher, gets it out of the
    // way. From then on only the watcher can notice an edit (the periodic
    // rescan comes after several seconds).
    dirs.write_config("probe", &probe_config(&dirs, "v2", ""));
    assert!(broker.wait_for_logs("plugin configuration reloaded", 1, WAIT));
    dirs.write_config("probe", &probe_config(&dirs, "v3", ""));
    // The file's time is when it was written; the line's, when the broker
    // reloaded it. Both are the system clock, whatever the test's own
    // scheduling.
    let edited = dirs.config_written_at("probe");
    assert!(broker.wait_for_logs("plugin configuration reloaded", 2, WAIT));
    let reloaded = broker
        .logs()
        .into_iter()
        .filter(|l| l.contains("plugin configuration reloaded"))
        .nth(1)
        .unwrap();
    let took = logged_at(&reloaded)
        .duration_since(edited)
        .unwrap_or_else(|_| panic!("reloaded before the edit: {reloaded}"));
    assert!(took < Duration::from_secs(1), "took {took:?}: {reloaded}");
}

#[tokio::test]
async fn broken_config_is_refused_naming_file_line_and_key_and_the_old_one_stays() {
    let dirs = probe_dirs("good", "");
    let broker = Broker::start_with_plugins(&dirs, &[]);
    assert!(broker.wait_for_log("plugin started", WAIT).is_some());
    dirs.write_config("probe", &probe_config(&dirs, "bad", "probe.reject = yes\n"));
    let line = broker
        .wait_for_log("configuration refused", WAIT)
        .expect("refusal logged");
    assert!(line.contains("probe.conf:4: probe.reject"), "{line}");
    publish_one(&broker, "still", "works").await;
    wait_event(&dirs, &["good message.publish still"]).await;
    assert!(!events(&dirs).iter().any(|l| l.starts_with("bad ")));
    let (ok, out, _) = broker.ctl(&["plugins", "list"]);
    assert!(ok);
    assert!(
        out.contains("last_config_error") && out.contains("probe.reject"),
        "{out}"
    );
}

#[tokio::test]
async fn disabled_plugin_stops_and_re_enabled_plugin_starts_again() {
    let dirs = probe_dirs("on", "");
    let broker = Broker::start_with_plugins(&dirs, &[]);
    assert!(broker.wait_for_log("plugin started", WAIT).is_some());
    dirs.write_config("probe", &probe_config(&dirs, "on", "plugin.enable = off\n"));
    assert!(broker.wait_for_log("plugin stopped", WAIT).is_some());
    wait_event(&dirs, &["on stopped"]).await;
    publish_one(&broker, "while/off", "x").await;
    dirs.write_config("probe", &probe_config(&dirs, "again", ""));
    assert!(broker.wait_for_logs("plugin started", 2, WAIT));
    publish_one(&broker, "while/on", "y").await;
    wait_event(&dirs, &["again message.publish while/on"]).await;
    assert!(!events(&dirs).iter().any(|l| l.contains("while/off")));
}

#[tokio::test]
async fn removing_the_library_stops_the_plugin() {
    let dirs = probe_dirs("here", "");
    let broker = Broker::start_with_plugins(&dirs, &[]);
    assert!(broker.wait_for_log("plugin started", WAIT).is_some());
    for entry in std::fs::read_dir(&dirs.plugins).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    assert!(broker.wait_for_log("plugin stopped", WAIT).is_some());
}

#[tokio::test]
async fn replaced_library_is_swapped_in_and_the_old_instance_drained() {
    let dirs = probe_dirs("v", "");
    let broker = Broker::start_with_plugins(&dirs, &[]);
    assert!(broker.wait_for_log("plugin started", WAIT).is_some());
    let mut sub = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "sub").await;
    sub.subscribe("during", QoS::AtMostOnce).await;
    // A newer build of the same plugin: another file, dropped over the old.
    std::thread::sleep(Duration::from_millis(20));
    dirs.install(&workspace_library("mqhost-probe"));
    assert!(broker.wait_for_log("plugin replaced", WAIT).is_some());
    wait_event(&dirs, &["v stopped"]).await;
    publish_one(&broker, "during", "after swap").await;
    assert_eq!(&sub.recv_publish().await.payload[..], b"after swap");
    wait_event(&dirs, &["v message.publish during"]).await;
    let gone = broker
        .wait_for_log("client disconnected", WAIT)
        .expect("publisher left");
    assert!(gone.contains("publisher"), "{gone}");
    sub.send(Packet::PingReq).await;
    assert_eq!(sub.recv().await, Some(Packet::PingResp));
    assert_eq!(
        broker.count_logs("client disconnected"),
        1,
        "only the publisher left"
    );
}

#[tokio::test]
async fn panicking_plugin_is_marked_failed_and_the_broker_keeps_serving() {
    let dirs = probe_dirs("p", "probe.panic_topic = boom\n");
    let mut broker = Broker::start_with_plugins(&dirs, &[]);
    let mut sub = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "sub").await;
    sub.subscribe("#", QoS::AtMostOnce).await;
    publish_one(&broker, "boom", "1").await;
    // The message still goes through: a failed plugin has no say.
    assert_eq!(sub.recv_publish().await.topic, "boom");
    let line = broker
        .wait_for_log("marked failed", WAIT)
        .expect("failure logged");
    assert!(line.contains("asked to panic on boom"), "{line}");
    publish_one(&broker, "after", "2").await;
    assert_eq!(sub.recv_publish().await.topic, "after");
    assert!(broker.is_running());
    let (ok, out, _) = broker.ctl(&["plugins", "list"]);
    assert!(ok);
    let row = out
        .lines()
        .find(|l| l.starts_with("probe"))
        .expect("probe row");
    assert!(row.contains("failed"), "{out}");
    assert!(!events(&dirs)
        .iter()
        .any(|l| l.contains("message.publish after")));
}

#[tokio::test]
async fn a_panic_in_the_plugins_drop_is_contained() {
    let dirs = probe_dirs("d", "probe.panic_on_drop = on\n");
    let mut broker = Broker::start_with_plugins(&dirs, &[]);
    assert!(broker.wait_for_log("plugin started", WAIT).is_some());
    let mut sub = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "sub").await;
    sub.subscribe("after", QoS::AtMostOnce).await;

    let (ok, _, err) = broker.ctl(&["plugins", "unload", "probe"]);
    assert!(ok, "{err}");
    wait_event(&dirs, &["panicking in drop"]).await;
    let line = broker
        .wait_for_log("while being dropped", WAIT)
        .expect("the panic is logged");
    assert!(line.contains("asked to panic on drop"), "{line}");

    assert!(broker.is_running());
    publish_one(&broker, "after", "still serving").await;
    assert_eq!(&sub.recv_publish().await.payload[..], b"still serving");
    let (_, out, _) = broker.ctl(&["plugins", "list"]);
    assert!(
        out.lines()
            .any(|l| l.starts_with("probe") && l.contains("disabled")),
        "{out}"
    );
}

#[tokio::test]
async fn publish_hook_may_drop_a_message() {
    let dirs = probe_dirs("d", "probe.drop_topic = secret\n");
    let broker = Broker::start_with_plugins(&dirs, &[]);
    let mut sub = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "sub").await;
    sub.subscribe("#", QoS::AtMostOnce).await;
    publish_one(&broker, "secret", "hidden").await;
    publish_one(&broker, "open", "seen").await;
    assert_eq!(sub.recv_publish().await.topic, "open");
    wait_event(&dirs, &["message.publish secret", "dropped=true"]).await;
}

#[tokio::test]
async fn host_api_delivers_subscribes_unsubscribes_and_publishes() {
    let dirs = probe_dirs("h", "");
    let broker = Broker::start_with_plugins(&dirs, &[]);
    let mut target = RawClient::connect(broker.addr(), ProtocolVersion::V5, "target").await;
    let mut commander = RawClient::connect(broker.addr(), ProtocolVersion::V5, "commander").await;
    commander.subscribe("probe/answer", QoS::AtMostOnce).await;
    let command =
        |text: &str| Packet::Publish(publish("probe/cmd", text.as_bytes(), QoS::AtMostOnce, 0));

    // deliver: to one client, QoS 1, through its session.
    commander
        .send(command("deliver target direct/topic hello"))
        .await;
    let got = target.recv_publish().await;
    assert_eq!(
        (got.topic.as_str(), &got.payload[..], got.qos),
        ("direct/topic", &b"hello"[..], QoS::AtLeastOnce)
    );
    target.puback(got.packet_id).await;
    wait_event(&dirs, &["message.acked target direct/topic"]).await;

    // subscribe: no SUBACK, retained messages as for a SUBSCRIBE, then
    // live messages, and the hook fires.
    let mut kept = publish("pushed/kept", b"retained", QoS::AtMostOnce, 0);
    kept.retain = true;
    commander.send(Packet::Publish(kept)).await;
    commander.send(command("subscribe target pushed/# 1")).await;
    let first = target.recv_publish().await;
    assert_eq!((first.topic.as_str(), first.retain), ("pushed/kept", true));
    wait_event(
        &dirs,
        &["session.subscribed target pushed/# qos=1 new=true"],
    )
    .await;
    commander
        .send(Packet::Publish(publish(
            "pushed/a",
            b"one",
            QoS::AtMostOnce,
            0,
        )))
        .await;
    assert_eq!(target.recv_publish().await.topic, "pushed/a");

    // unsubscribe.
    commander.send(command("unsubscribe target pushed/#")).await;
    wait_event(&dirs, &["session.unsubscribed target pushed/#"]).await;
    commander
        .send(Packet::Publish(publish(
            "pushed/b",
            b"two",
            QoS::AtMostOnce,
            0,
        )))
        .await;
    target.expect_silence(Duration::from_millis(300)).await;

    // is_connected and publish.
    commander.send(command("connected target")).await;
    assert_eq!(&commander.recv_publish().await.payload[..], b"yes");
    commander.send(command("connected nobody")).await;
    assert_eq!(&commander.recv_publish().await.payload[..], b"no");
}

/// Sends the probe a command and returns its answer.
async fn ask(commander: &mut RawClient, text: &str) -> String {
    commander
        .send(Packet::Publish(publish(
            "probe/cmd",
            text.as_bytes(),
            QoS::AtMostOnce,
            0,
        )))
        .await;
    String::from_utf8_lossy(&commander.recv_publish().await.payload).into_owned()
}

#[tokio::test]
async fn host_api_tells_how_much_room_a_session_has() {
    let dirs = probe_dirs("r", "");
    let broker = Broker::start_with_plugins(&dirs, &[("mqtt.max_queued_messages", "5")]);
    let mut commander = RawClient::connect(broker.addr(), ProtocolVersion::V5, "commander").await;
    commander.subscribe("probe/answer", QoS::AtMostOnce).await;

    // A persistent session, offline, with three messages queued of five.
    let mut connect = connect_packet(ProtocolVersion::V3_1_1, "sleeper");
    connect.clean_start = false;
    let (mut sleeper, _) = RawClient::connect_with(broker.addr(), connect).await;
    sleeper.subscribe("held/#", QoS::AtLeastOnce).await;
    assert_eq!(
        ask(&mut commander, "room sleeper").await,
        "5",
        "nothing waits yet"
    );
    sleeper.disconnect().await;
    let deadline = Instant::now() + WAIT;
    while ask(&mut commander, "connected sleeper").await != "no" {
        assert!(Instant::now() < deadline, "the sleeper stays online");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for n in 0..3 {
        publish_one(&broker, &format!("held/{n}"), "x").await;
    }
    assert_eq!(ask(&mut commander, "room sleeper").await, "2");

    // No session: refused.
    commander
        .send(Packet::Publish(publish(
            "probe/cmd",
            b"room nobody",
            QoS::AtMostOnce,
            0,
        )))
        .await;
    let line = broker
        .wait_for_log("command \"room nobody\" failed", WAIT)
        .expect("refusal logged");
    assert!(line.contains("no session with that client id"), "{line}");
}

fn disconnect_packet(reason: u8) -> Packet {
    Packet::Disconnect(Disconnect {
        reason,
        properties: Default::default(),
    })
}

#[tokio::test]
async fn host_api_disconnects_a_client_with_the_reason_code_given() {
    let dirs = probe_dirs("k", "");
    let broker = Broker::start_with_plugins(&dirs, &[]);
    let mut target = RawClient::connect(broker.addr(), ProtocolVersion::V5, "target").await;
    let mut commander = RawClient::connect(broker.addr(), ProtocolVersion::V5, "commander").await;
    let command =
        |text: &str| Packet::Publish(publish("probe/cmd", text.as_bytes(), QoS::AtMostOnce, 0));

    // 0x04 is a client's reason code; nobody is not connected. Both are
    // refused, and the probe logs the refusal.
    commander.send(command("disconnect target 0x04")).await;
    let line = broker
        .wait_for_log("command \"disconnect target 0x04\" failed", WAIT)
        .expect("refusal logged");
    assert!(
        line.contains("not a reason code a server may send"),
        "{line}"
    );
    commander.send(command("disconnect nobody 0x87")).await;
    let line = broker
        .wait_for_log("command \"disconnect nobody 0x87\" failed", WAIT)
        .expect("refusal logged");
    assert!(line.contains("no session with that client id"), "{line}");
    target.send(Packet::PingReq).await;
    assert_eq!(target.recv().await, Some(Packet::PingResp));

    // 0x87, Not authorized: DISCONNECT with it, then the socket closes.
    commander.send(command("disconnect target 0x87")).await;
    assert_eq!(target.expect_closed().await, [disconnect_packet(0x87)]);
    wait_event(&dirs, &["client.disconnected target", "reason=kicked"]).await;
    let line = broker
        .wait_for_log("reason=\"kicked\"", WAIT)
        .expect("disconnection logged");
    assert!(line.contains("target") && line.contains("0x87"), "{line}");
    commander.send(Packet::PingReq).await;
    assert_eq!(commander.recv().await, Some(Packet::PingResp));
}

#[tokio::test]
async fn a_hook_on_the_broker_thread_may_disconnect_its_own_client() {
    // The client.connected hook runs on the connecting client's session
    // task and asks the host to disconnect that very client: the call
    // must not wait for the session it is called from.
    let dirs = probe_dirs("h", "probe.disconnect_on_connect = intruder 0x87\n");
    let broker = Broker::start_with_plugins(&dirs, &[]);
    let (mut intruder, ack) = RawClient::connect_with(
        broker.addr(),
        connect_packet(ProtocolVersion::V5, "intruder"),
    )
    .await;
    assert_eq!(ack.reason, 0);
    assert_eq!(intruder.expect_closed().await, [disconnect_packet(0x87)]);
    wait_event(&dirs, &["client.disconnected intruder", "reason=kicked"]).await;
    let mut other = RawClient::connect(broker.addr(), ProtocolVersion::V5, "other").await;
    other.send(Packet::PingReq).await;
    assert_eq!(other.recv().await, Some(Packet::PingResp));
}

#[tokio::test]
async fn ctl_lists_unloads_loads_and_reloads_plugins() {
    let dirs = probe_dirs("c", "");
    let broker = Broker::start_with_plugins(&dirs, &[]);
    assert!(broker.wait_for_log("plugin started", WAIT).is_some());
    publish_one(&broker, "count", "me").await;

    let (ok, out, err) = broker.ctl(&["plugins", "list"]);
    assert!(ok, "{err}");
    let row = out
        .lines()
        .find(|l| l.starts_with("probe"))
        .expect("probe row");
    for part in ["0.1.0", "running", "message.publish", "client.connected"] {
        assert!(row.contains(part), "{part} missing: {row}");
    }
    // The plugin's own stats() follow its row.
    assert!(
        out.lines().any(|l| l.trim() == r#"stats: {"tag":"c"}"#),
        "{out}"
    );

    let (ok, out, err) = broker.ctl(&["plugins", "unload", "probe"]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "plugin probe unloaded");
    wait_event(&dirs, &["c stopped"]).await;
    let (_, out, _) = broker.ctl(&["plugins", "list"]);
    assert!(
        out.lines()
            .any(|l| l.starts_with("probe") && l.contains("disabled")),
        "{out}"
    );

    let (ok, _, err) = broker.ctl(&["plugins", "load", "probe"]);
    assert!(ok, "{err}");
    assert!(broker.wait_for_logs("plugin started", 2, WAIT));

    let (ok, _, err) = broker.ctl(&["plugins", "reload", "probe"]);
    assert!(ok, "{err}");
    assert!(broker.wait_for_log("plugin replaced", WAIT).is_some());

    let (ok, _, err) = broker.ctl(&["plugins", "load", "nosuch"]);
    assert!(!ok);
    assert!(err.contains("nosuch"), "{err}");
}

#[tokio::test]
async fn admin_api_lists_plugins_as_json() {
    let dirs = probe_dirs("j", "");
    let broker = Broker::start_with_plugins(&dirs, &[]);
    assert!(broker.wait_for_log("plugin started", WAIT).is_some());
    publish_one(&broker, "x", "y").await;
    let (status, body) = broker.admin_request("GET", "/api/v1/plugins").await;
    assert_eq!(status, 200, "{body}");
    for part in [
        "\"name\":\"probe\"",
        "\"state\":\"running\"",
        "\"description\":\"Test plugin\"",
        "\"stats\":{\"tag\":\"j\"}",
        "\"last_config_error\":null",
    ] {
        assert!(body.contains(part), "{part} missing: {body}");
    }
    assert!(body.contains("\"events\":"), "{body}");
    let (status, _) = broker.admin_request("GET", "/api/v1/nothing").await;
    assert_eq!(status, 404);
}

mod built_outside_the_workspace {
    //! Plugins built as a third party would, against a copy of
    //! `plugin-api` in a project outside the workspace.

    use super::*;
    use mqhost_tests::plugins::{
        build_outside_workspace, remove_since, repo_root, set_api_version, TempDir,
    };

    #[tokio::test]
    async fn plugin_built_against_an_older_minor_version_still_loads() {
        let work = TempDir::new();
        // Interface 1.0: this version without what 1.1 to 1.4 added (the
        // root module's description, the host's disconnect and
        // session_room, ...), and the probe without its use of them.
        let library = build_outside_workspace(
            work.path(),
            &repo_root().join("tests/plugins/probe"),
            |api, plugin| {
                for version in ["1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "1.7"] {
                    remove_since(api, version);
                    remove_since(plugin, version);
                }
                set_api_version(api, "1.0.0");
            },
        );
        let dirs = PluginDirs::new();
        dirs.install(&library);
        dirs.write_config("probe", &probe_config(&dirs, "old", ""));
        let broker = Broker::start_with_plugins(&dirs, &[]);
        assert!(
            broker.wait_for_log("plugin started", WAIT).is_some(),
            "{:#?}",
            broker.logs()
        );
        // It calls the host, whose table of calls has grown since 1.0.
        assert!(broker.wait_for_log("probe writing to", WAIT).is_some());
        publish_one(&broker, "compat", "ok").await;
        wait_event(&dirs, &["old message.publish compat"]).await;
        // The description, added in 1.1, reads as absent.
        let (status, body) = broker.admin_request("GET", "/api/v1/plugins").await;
        assert_eq!(status, 200);
        assert!(body.contains("\"description\":null"), "{body}");
        assert!(body.contains("\"state\":\"running\""), "{body}");
    }

    #[tokio::test]
    async fn plugin_built_against_interface_1_1_still_loads_and_runs() {
        let work = TempDir::new();
        let library = build_outside_workspace(
            work.path(),
            &repo_root().join("tests/plugins/probe"),
            |api, plugin| {
                for version in ["1.2", "1.3", "1.4", "1.5", "1.6", "1.7"] {
                    remove_since(api, version);
                    remove_since(plugin, version);
                }
                set_api_version(api, "1.1.0");
            },
        );
        let dirs = PluginDirs::new();
        dirs.install(&library);
        dirs.write_config("probe", &probe_config(&dirs, "v11", ""));
        // Its vtable ends before the decision hooks, which it cannot ask
        // for: it runs as it did under a 1.1 broker.
        let broker = Broker::start_with_plugins(&dirs, &[]);
        assert!(
            broker.wait_for_log("plugin started", WAIT).is_some(),
            "{:#?}",
            broker.logs()
        );
        publish_one(&broker, "compat", "ok").await;
        wait_event(&dirs, &["v11 message.publish compat"]).await;
        // The host's client.connected with the listener reaches it as the
        // client.connected it has.
        let line = wait_event(&dirs, &["v11 client.connected publisher"]).await;
        assert!(!line.contains("listener="), "{line}");
        let (status, body) = broker.admin_request("GET", "/api/v1/plugins").await;
        assert_eq!(status, 200);
        assert!(body.contains("\"description\":\"Test plugin\""), "{body}");
        // Its root module ends before check_config (1.4): it cannot
        // check a configuration, and the API says so.
        let response = broker
            .admin_call(
                "POST",
                "/api/v1/plugins/probe/config/validate",
                r#"{"text": "probe.tag = x"}"#,
            )
            .await;
        assert_eq!(response.status, 200, "{}", response.body);
        assert_eq!(
            response.json()["ok"],
            serde_json::Value::Null,
            "{}",
            response.body
        );
    }

    #[tokio::test]
    async fn plugin_built_against_another_major_version_is_refused_naming_both() {
        let work = TempDir::new();
        let library = build_outside_workspace(
            work.path(),
            &repo_root().join("tests/plugins/probe"),
            |api, _| set_api_version(api, "2.0.0"),
        );
        let dirs = PluginDirs::new();
        dirs.install(&library);
        dirs.write_config("probe", &probe_config(&dirs, "new", ""));
        let mut broker = Broker::start_with_plugins(&dirs, &[]);
        let line = broker
            .wait_for_log("plugin library refused", WAIT)
            .expect("refusal logged");
        let ours = mqhost_plugin_api::INTERFACE_VERSION;
        assert!(line.contains("2.0.0") && line.contains(ours), "{line}");
        assert_eq!(broker.count_logs("plugin started"), 0);
        assert!(broker.is_running());
        let (ok, out, _) = broker.ctl(&["plugins", "list"]);
        assert!(ok);
        assert!(out.contains("refused"), "{out}");
    }

    #[tokio::test]
    async fn audit_example_builds_outside_the_workspace_and_logs_json_lines() {
        let work = TempDir::new();
        let library =
            build_outside_workspace(work.path(), &repo_root().join("plugins/audit"), |_, _| {});
        let dirs = PluginDirs::new();
        let broker = Broker::start_with_plugins(&dirs, &[("node.name", "audit-node")]);
        // Dropped into a running broker, then enabled.
        dirs.install(&library);
        let log = dirs.file("audit.jsonl");
        dirs.write_config(
            "audit",
            &format!(
                "## the audit example\naudit.file = {}\naudit.payload = on\naudit.drop_topics = private/#\n",
                log.display()
            ),
        );
        assert!(
            broker.wait_for_log("plugin started", WAIT).is_some(),
            "{:#?}",
            broker.logs()
        );
        let mut sub = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "auditor").await;
        sub.subscribe("#", QoS::AtLeastOnce).await;
        publish_one(&broker, "private/diary", "secret").await;
        publish_one(&broker, "public/news", "hello").await;
        let got = sub.recv_publish().await;
        assert_eq!(
            got.topic, "public/news",
            "the dropped message is not routed"
        );
        sub.puback(got.packet_id).await;

        let deadline = Instant::now() + WAIT;
        let wanted = [
            r#""hook":"client.connected""#,
            r#""hook":"session.subscribed""#,
            r#""topic":"private/diary""#,
            r#""dropped":true"#,
            r#""payload":"hello""#,
            r#""hook":"message.acked""#,
        ];
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if wanted.iter().all(|w| text.contains(w)) {
                for line in text.lines() {
                    assert!(
                        line.starts_with("{\"hook\":") && line.ends_with('}'),
                        "{line}"
                    );
                    assert!(line.contains(r#""node":"audit-node""#), "{line}");
                }
                break;
            }
            assert!(Instant::now() < deadline, "missing lines in:\n{text}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
