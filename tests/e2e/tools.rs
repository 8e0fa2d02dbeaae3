//! The Mosquitto command-line clients against mqhost.

use std::process::{Command, Stdio};
use std::time::Duration;

use mqhost_tests::{tool, Broker};

/// `mosquitto_pub` or `mosquitto_sub` pointed at `broker`, with `args`
/// written as one string (no argument here contains a space).
fn mosquitto(name: &str, broker: &Broker, args: &str) -> Command {
    let mut command = tool(name);
    command
        .args(["-h", "127.0.0.1", "-p", &broker.port().to_string()])
        .args(args.split(' '));
    command
}

#[test]
fn mosquitto_sub_receives_what_mosquitto_pub_sends() {
    let broker = Broker::start();
    let sub = mosquitto(
        "mosquitto_sub",
        &broker,
        "-t cli/test -q 1 -C 2 -W 10 -V mqttv5",
    )
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    assert!(broker
        .wait_for_log("client connected", Duration::from_secs(5))
        .is_some());
    std::thread::sleep(Duration::from_millis(200));
    for (message, version) in [("first", "mqttv311"), ("second", "mqttv31")] {
        let args = format!("-t cli/test -q 2 -m {message} -V {version}");
        let status = mosquitto("mosquitto_pub", &broker, &args).status().unwrap();
        assert!(status.success());
    }
    let out = sub.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "first\nsecond\n");
}

#[test]
fn mosquitto_sub_gets_retained_message() {
    let broker = Broker::start();
    let status = mosquitto("mosquitto_pub", &broker, "-t cli/retained -r -m kept")
        .status()
        .unwrap();
    assert!(status.success());
    let out = mosquitto("mosquitto_sub", &broker, "-t cli/# -C 1 -W 5 -v")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "cli/retained kept\n");
}
