//! The command line and configuration errors a user sees.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mqhost_tests::mqhost_binary;
use mqhost_tests::plugins::TempDir;

#[test]
fn bad_value_names_file_line_and_key_and_exits_2() {
    let dir = TempDir::new();
    let file = dir.path().join("bad.conf");
    std::fs::write(&file, "node.name = n1\n\nmqtt.max_inflight = lots\n").unwrap();
    let out = Command::new(mqhost_binary())
        .arg("--config")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.conf:3"), "{stderr}");
    assert!(stderr.contains("mqtt.max_inflight"), "{stderr}");
}

#[test]
fn unknown_key_on_the_command_line_is_refused() {
    let out = Command::new(mqhost_binary())
        .args(["--config", "/dev/null", "--set", "mqtt.max_inflite=5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("mqtt.max_inflite"), "{stderr}");
}

#[test]
fn shipped_config_file_is_valid() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // Its ports are replaced by free ones: the test must not depend on
    // 1883 or 8081 being free. The admin token goes to a private
    // directory, not beside the shipped file.
    let data = TempDir::new();
    let token_file = data.path().join("admin.token");
    let mut broker = Command::new(mqhost_binary())
        .current_dir(&root)
        .args([
            "--config",
            "etc/mqhost.conf",
            "--set",
            "listener.tcp.default=127.0.0.1:0",
            "--set",
            "admin.listener=127.0.0.1:0",
            "--set",
        ])
        .arg(format!("admin.token_file={}", token_file.display()))
        .arg("--set")
        .arg(format!(
            "persistence.dir={}",
            data.path().join("store").display()
        ))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The listener opens last, once the whole configuration is in force.
    let (lines, read) = mpsc::channel();
    let stderr = BufReader::new(broker.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|l: &String| l.contains("bound to 127.0.0.1:"))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match read.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => {
                let _ = broker.kill();
                panic!(
                    "the broker exited or did not start listening:\n{}",
                    seen.join("\n")
                );
            }
        }
    }
    assert!(broker.try_wait().unwrap().is_none(), "broker exited early");
    broker.kill().unwrap();
    broker.wait().unwrap();
}
