//! The command line and configuration errors a user sees.

use std::process::Command;

use mqhost_tests::mqhost_binary;

#[test]
fn bad_value_names_file_line_and_key_and_exits_2() {
    let dir = std::env::temp_dir().join(format!("mqhost-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.conf");
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
    std::fs::remove_dir_all(&dir).unwrap();
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
    let mut broker = Command::new(mqhost_binary())
        .current_dir(&root)
        .args([
            "--config",
            "etc/mqhost.conf",
            "--set",
            "listener.tcp.default=127.0.0.1:0",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(broker.try_wait().unwrap().is_none(), "broker exited early");
    broker.kill().unwrap();
    let out = broker.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bound to 127.0.0.1:"), "{stderr}");
}
