//! `mqhost ctl` against a running broker: every command, its output for
//! people and with `--json`, and the exit status a script relies on (0
//! done, 1 refused, 2 usage, 3 unreachable or a wrong token).

use std::time::{Duration, Instant};

use mqhost_codec::{ProtocolVersion, QoS};
use mqhost_tests::plugins::{workspace_library, PluginDirs};
use mqhost_tests::raw::{login, RawClient};
use mqhost_tests::{mqhost_binary, Broker};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(10);

/// Runs ctl and expects `code`; returns standard output and error.
fn ctl(broker: &Broker, args: &[&str], code: i32) -> (String, String) {
    let (status, out, err) = broker.ctl_status(args);
    assert_eq!(
        status,
        Some(code),
        "mqhost ctl {}\nstdout: {out}\nstderr: {err}",
        args.join(" ")
    );
    (out, err)
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[tokio::test]
async fn ctl_runs_every_command_with_exit_codes_a_script_can_rely_on() {
    let dirs = PluginDirs::new();
    dirs.install(&workspace_library("mqhost-decider"));
    let questions = dirs.file("questions.log");
    dirs.write_config(
        "decider",
        &format!("decider.file = {}\n", questions.display()),
    );
    let broker = Broker::start_with_plugins(&dirs, &[]);
    assert!(broker.wait_for_log("plugin started", WAIT).is_some());
    let (_client, _) = RawClient::connect_with(
        broker.addr(),
        login(ProtocolVersion::V5, "ctl-client", Some("carol"), None),
    )
    .await;

    // Status and what the broker runs with.
    let (out, _) = ctl(&broker, &["status"], 0);
    assert!(
        out.contains("uptime") && out.contains("clients_connected"),
        "{out}"
    );
    let (out, _) = ctl(&broker, &["status", "--json"], 0);
    assert!(json(&out)["uptime"].is_u64(), "{out}");
    let (out, _) = ctl(&broker, &["listeners"], 0);
    assert!(
        out.starts_with("LISTENER") && out.contains("tcp:default"),
        "{out}"
    );
    let (out, _) = ctl(&broker, &["config"], 0);
    assert!(out.contains("mqtt.max_inflight = "), "{out}");

    // Clients.
    let (out, _) = ctl(&broker, &["clients", "list", "--username", "car"], 0);
    assert!(out.starts_with("CLIENTID"), "{out}");
    assert!(out.contains("ctl-client") && out.contains("carol"), "{out}");
    assert!(out.contains("1 clients, page 1 of 1"), "{out}");
    let (out, _) = ctl(&broker, &["clients", "list", "--ip", "10.", "--json"], 0);
    assert_eq!(json(&out)["meta"]["count"], 0, "{out}");
    let (out, _) = ctl(&broker, &["sessions", "list", "--limit", "5"], 0);
    assert!(out.contains("ctl-client"), "{out}");
    let (out, _) = ctl(&broker, &["clients", "show", "ctl-client"], 0);
    assert!(out.contains("username") && out.contains("carol"), "{out}");
    let (_, err) = ctl(&broker, &["clients", "show", "nobody"], 1);
    assert!(
        err.contains("no session with client id \"nobody\""),
        "{err}"
    );
    let (out, err) = ctl(&broker, &["clients", "show", "nobody", "--json"], 1);
    assert!(json(&out)["error"].is_string(), "{out}");
    assert!(err.contains("nobody"), "{err}");

    // Subscriptions.
    let (out, _) = ctl(
        &broker,
        &["subscriptions", "ctl-client", "add", "ctl/#", "1"],
        0,
    );
    assert!(
        out.contains("ctl-client subscribed to ctl/# at QoS 1"),
        "{out}"
    );
    let (out, _) = ctl(&broker, &["subscriptions", "ctl-client"], 0);
    assert!(out.starts_with("TOPIC") && out.contains("ctl/#"), "{out}");
    let (out, _) = ctl(&broker, &["subscriptions", "ctl-client", "--json"], 0);
    assert_eq!(json(&out)[0]["qos"], 1, "{out}");
    let (_, err) = ctl(
        &broker,
        &["subscriptions", "ctl-client", "add", "a/#/b", "0"],
        1,
    );
    assert!(err.contains("a/#/b"), "{err}");
    ctl(
        &broker,
        &["subscriptions", "ctl-client", "remove", "ctl/#"],
        0,
    );
    let (_, err) = ctl(
        &broker,
        &["subscriptions", "ctl-client", "remove", "ctl/#"],
        1,
    );
    assert!(err.contains("no subscription"), "{err}");

    // Publishing and retained messages.
    let (out, _) = ctl(
        &broker,
        &[
            "publish",
            "ctl/kept",
            "hello world",
            "--retain",
            "--qos",
            "1",
        ],
        0,
    );
    assert!(
        out.starts_with("published ") && out.contains("to ctl/kept"),
        "{out}"
    );
    let (out, _) = ctl(
        &broker,
        &[
            "publish", "--json", "ctl/raw", "AAE=", "--base64", "--retain",
        ],
        0,
    );
    assert_eq!(json(&out)["id"].as_str().unwrap().len(), 22, "{out}");
    let (out, _) = ctl(&broker, &["retained", "list", "--topic", "ctl/#"], 0);
    assert!(
        out.starts_with("TOPIC") && out.contains("ctl/kept") && out.contains("ctl/raw"),
        "{out}"
    );
    assert!(out.contains("2 retained messages"), "{out}");
    let (out, _) = ctl(&broker, &["retained", "show", "ctl/kept"], 0);
    assert!(out.contains("payload (text):\nhello world"), "{out}");
    let (out, _) = ctl(&broker, &["retained", "show", "ctl/raw"], 0);
    assert!(out.contains("payload (base64):\nAAE="), "{out}");
    ctl(&broker, &["retained", "delete", "ctl/kept"], 0);
    let (_, err) = ctl(&broker, &["retained", "show", "ctl/kept"], 1);
    assert!(err.contains("no retained message"), "{err}");
    let (_, err) = ctl(&broker, &["publish", "$SYS/x", "y"], 1);
    assert!(err.contains("$SYS/x"), "{err}");
    // A payload that looks like an option, after --.
    ctl(&broker, &["publish", "ctl/n", "--", "-1"], 0);

    // Plugins and their files.
    let (out, _) = ctl(&broker, &["plugins", "list"], 0);
    assert!(out.contains("decider") && out.contains("running"), "{out}");
    let (out, _) = ctl(&broker, &["plugins", "config", "show", "decider"], 0);
    assert!(out.contains("decider.file = "), "{out}");
    let good = dirs.file("good.conf");
    std::fs::write(
        &good,
        format!(
            "decider.file = {}\ndecider.users = dave:deny\n",
            questions.display()
        ),
    )
    .unwrap();
    let bad = dirs.file("bad.conf");
    std::fs::write(&bad, "decider.file = x\ndecider.topics = nonsense\n").unwrap();
    let (out, _) = ctl(
        &broker,
        &[
            "plugins",
            "config",
            "check",
            "decider",
            good.to_str().unwrap(),
        ],
        0,
    );
    assert!(out.contains("plugin decider takes it"), "{out}");
    let (_, err) = ctl(
        &broker,
        &[
            "plugins",
            "config",
            "check",
            "decider",
            bad.to_str().unwrap(),
        ],
        1,
    );
    assert!(
        err.contains("bad.conf:2: decider.topics: ACTION:PREFIX:ANSWER"),
        "{err}"
    );
    let (_, err) = ctl(
        &broker,
        &["plugins", "config", "set", "decider", bad.to_str().unwrap()],
        1,
    );
    assert!(err.contains("refuses it"), "{err}");
    // FILE NAME is understood too.
    let (out, _) = ctl(
        &broker,
        &[
            "plugins",
            "config",
            "set",
            good.to_str().unwrap(),
            "decider",
        ],
        0,
    );
    assert!(
        out.contains("decider.conf written; plugin decider is running"),
        "{out}"
    );
    let (out, _) = ctl(&broker, &["plugins", "config", "show", "decider"], 0);
    assert!(out.contains("dave:deny"), "{out}");
    // The decider reads its file only when it starts: a fresh instance
    // has the new one, and refuses dave.
    ctl(&broker, &["plugins", "reload", "decider"], 0);
    let deadline = Instant::now() + WAIT;
    loop {
        let code = mqhost_tests::raw::connack_code(
            broker.addr(),
            login(ProtocolVersion::V5, "d", Some("dave"), None),
        )
        .await;
        if code != 0 {
            break;
        }
        assert!(Instant::now() < deadline, "dave still gets in");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    ctl(&broker, &["plugins", "unload", "decider"], 0);
    ctl(&broker, &["plugins", "load", "decider"], 0);
    let (_, err) = ctl(&broker, &["plugins", "load", "nosuch"], 1);
    assert!(err.contains("no plugin library named nosuch"), "{err}");
    let (_, err) = ctl(&broker, &["plugins", "config", "show", "nosuch"], 1);
    assert!(err.contains("nosuch"), "{err}");

    // Kicked.
    let (out, _) = ctl(&broker, &["clients", "kick", "ctl-client"], 0);
    assert_eq!(out, "client ctl-client kicked\n");
    let (out, _) = ctl(&broker, &["clients", "kick", "nobody", "--json"], 1);
    assert!(json(&out)["error"].is_string(), "{out}");

    // Usage errors: exit 2, before anything is sent.
    for args in [
        &["clients"][..],
        &["clients", "kick"],
        &["publish", "t"],
        &["publish", "t", "x", "--qos", "7"],
        &["subscriptions", "c", "add", "t"],
        &["retained", "show", "t", "--limit", "3"],
        &["frobnicate"],
        &["status", "--nonsense"],
    ] {
        let (_, err) = ctl(&broker, args, 2);
        assert!(!err.is_empty(), "{args:?}");
    }
    let (_, err) = ctl(
        &broker,
        &[
            "plugins",
            "config",
            "check",
            "decider",
            "/nonexistent/x.conf",
        ],
        2,
    );
    assert!(err.contains("/nonexistent/x.conf"), "{err}");

    // A wrong token, or nobody there: exit 3.
    let wrong = dirs.file("wrong.token");
    std::fs::write(&wrong, "0".repeat(64)).unwrap();
    let output = std::process::Command::new(mqhost_binary())
        .args(["ctl", "--config", "/dev/null", "--admin"])
        .arg(broker.admin_addr().to_string())
        .arg("--token-file")
        .arg(&wrong)
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("authentication failed"));
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nobody = closed.local_addr().unwrap().to_string();
    drop(closed);
    let output = std::process::Command::new(mqhost_binary())
        .args([
            "ctl",
            "--config",
            "/dev/null",
            "--admin",
            &nobody,
            "--token-file",
        ])
        .arg(broker.admin_token_file())
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot reach the broker"));
}

#[tokio::test]
async fn ctl_subscribes_a_client_that_then_receives() {
    let broker = Broker::start();
    let mut client = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "listener/1").await;
    client.subscribe("unrelated", QoS::AtMostOnce).await;
    ctl(
        &broker,
        &["subscriptions", "listener/1", "add", "orders/+", "0"],
        0,
    );
    ctl(&broker, &["publish", "orders/1", "pizza"], 0);
    let got = client.recv_publish().await;
    assert_eq!(got.topic, "orders/1");
    assert_eq!(&got.payload[..], b"pizza");
}
