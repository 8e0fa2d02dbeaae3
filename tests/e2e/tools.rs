//! The Mosquitto command-line clients against mqhost.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use mqhost_tests::{require, tool, Broker};

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
    // `-d` reports the packets too: SUBACK says the subscription is in
    // place before anything is published. Line-buffered, so the report
    // comes as it happens, not at exit.
    let sub = mosquitto(
        "mosquitto_sub",
        &broker,
        "-t cli/test -q 1 -C 2 -W 10 -V mqttv5 -d",
    );
    require("stdbuf", "coreutils");
    let mut sub = Command::new("stdbuf")
        .args(["-oL", "mosquitto_sub"])
        .args(sub.get_args())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(sub.stdout.take().unwrap()).lines();
    let subscribed = out
        .by_ref()
        .map_while(Result::ok)
        .any(|line| line.ends_with(" received SUBACK"));
    assert!(subscribed, "mosquitto_sub got no SUBACK");
    for (message, version) in [("first", "mqttv311"), ("second", "mqttv31")] {
        let args = format!("-t cli/test -q 2 -m {message} -V {version}");
        let status = mosquitto("mosquitto_pub", &broker, &args).status().unwrap();
        assert!(status.success());
    }
    let payloads: Vec<String> = out
        .map_while(Result::ok)
        // The rest of `-d`'s report.
        // The rest of `-d`'s report.
        .filter(|line| !line.starts_with("Client ") && !line.starts_with("Subscribed (mid"))
        .collect();
    assert!(sub.wait().unwrap().success(), "{payloads:?}");
    assert_eq!(payloads, ["first", "second"]);
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
