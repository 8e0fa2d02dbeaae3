//! The Mosquitto command-line clients against mqhost.

use std::process::Stdio;
use std::time::Duration;

use mqhost_tests::{tool, Broker};

#[test]
fn mosquitto_sub_receives_what_mosquitto_pub_sends() {
    let broker = Broker::start();
    let port = broker.port().to_string();
    let sub = tool("mosquitto_sub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-t",
            "cli/test",
            "-q",
            "1",
            "-C",
            "2",
            "-W",
            "10",
            "-V",
            "mqttv5",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(broker
        .wait_for_log("client connected", Duration::from_secs(5))
        .is_some());
    std::thread::sleep(Duration::from_millis(200));
    for (message, version) in [("first", "mqttv311"), ("second", "mqttv31")] {
        let status = tool("mosquitto_pub")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-t",
                "cli/test",
                "-q",
                "2",
                "-m",
                message,
                "-V",
                version,
            ])
            .status()
            .unwrap();
        assert!(status.success());
    }
    let out = sub.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "first\nsecond\n");
}

#[test]
fn mosquitto_sub_gets_retained_message() {
    let broker = Broker::start();
    let port = broker.port().to_string();
    let status = tool("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-t",
            "cli/retained",
            "-r",
            "-m",
            "kept",
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let out = tool("mosquitto_sub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-t",
            "cli/#",
            "-C",
            "1",
            "-W",
            "5",
            "-v",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "cli/retained kept\n");
}
