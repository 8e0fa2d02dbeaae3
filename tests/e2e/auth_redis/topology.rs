//! Where the plugin's values come from and where its Redis is: users
//! found by the client certificate's common name and subject (`%C`,
//! `${cert_subject}`) on a TLS listener that verifies them, and a Redis
//! reached through a sentinel, followed across a failover.

use std::path::Path;
use std::time::Duration;

use mqhost_tests::certs::{TestCerts, Usage};
use mqhost_tests::redis::{wait_until, RedisSentinel, MASTER_NAME};

use super::*;

/// Publishes one message with mosquitto_pub on `port`, over TLS with the
/// client certificate `cert` when given; whether the broker let it in.
fn mosquitto_pub(port: u16, certs: &TestCerts, cert: Option<(&Path, &Path)>, user: &str) -> bool {
    let mut command = mqhost_tests::tool("mosquitto_pub");
    command
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-i", "meter-7"])
        .args(["-u", user, "-P", PASSWORD, "-t", "readings", "-m", "1"])
        .args(["-V", "mqttv5"]);
    if let Some((cert, key)) = cert {
        command
            .arg("--cafile")
            .arg(&certs.ca)
            .arg("--cert")
            .arg(cert)
            .arg("--key")
            .arg(key);
    }
    command
        .output()
        .expect("run mosquitto_pub")
        .status
        .success()
}

#[tokio::test]
async fn a_certificate_s_common_name_and_subject_find_the_user_over_tls() {
    let certs = TestCerts::generate();
    let (cert, key) = certs.issue("device", "/O=Acme/CN=dev-1", Usage::Client);
    let path = |p: &Path| p.display().to_string();
    let redis = RedisServer::start();
    let keys = "auth.redis.auth_cmd = HMGET mqtt_user:%C password\n\
                auth.redis.password_hash = plain\n\
                auth.redis.super_cmd = HGET mqtt_super:${cert_subject} is_superuser\n";
    let (_dirs, broker) = start_broker(
        &config_for(&redis.addr(), keys),
        &[
            ("mqtt.allow_anonymous", "off"),
            ("listener.ssl.devices", "127.0.0.1:0"),
            ("listener.ssl.devices.certfile", &path(&certs.server_cert)),
            ("listener.ssl.devices.keyfile", &path(&certs.server_key)),
            ("listener.ssl.devices.cacertfile", &path(&certs.ca)),
            ("listener.ssl.devices.verify", "verify_peer"),
        ],
    );
    let mut conn = redis.client();
    // The user is stored under the certificate's name, not the one the
    // client sends.
    add_user(&mut conn, "dev-1", PASSWORD, None);
    let _: () = conn
        .hset("mqtt_super:CN=dev-1,O=Acme", "is_superuser", "1")
        .unwrap();
    let tls = broker.listener("ssl:devices").port();
    assert!(mosquitto_pub(tls, &certs, Some((&cert, &key)), "anyone"));
    let stats = plugin_stats(&broker).await;
    assert_eq!(
        (&stats["allowed"], &stats["superusers"]),
        (&1.into(), &1.into()),
        "{stats}"
    );
    // Without a certificate there is no %C: no lookup, and anonymous
    // clients are refused.
    assert!(!mosquitto_pub(broker.addr().port(), &certs, None, "dev-1"));
    let stats = plugin_stats(&broker).await;
    assert_eq!(stats["skipped"], 1, "{stats}");
    assert_eq!(stats["lookups"], 1, "{stats}");
}

#[tokio::test]
async fn a_sentinel_s_master_answers_and_is_followed_across_a_failover() {
    let mut topology = RedisSentinel::start();
    let keys = format!(
        "auth.redis.type = sentinel\n\
         auth.redis.sentinel = {MASTER_NAME}\n\
         auth.redis.query_timeout = 1s\n\
         auth.redis.auth_cmd = HMGET mqtt_user:%u password\n\
         auth.redis.password_hash = plain\n"
    );
    let (_dirs, broker) = start_broker(
        &config_for(&topology.sentinel.addr(), &keys),
        &[("mqtt.allow_anonymous", "off")],
    );
    let mut master = topology.master.client();
    add_user(&mut master, "alice", PASSWORD, None);
    let mut replica = topology.replica.client();
    assert!(wait_until(WAIT, || replica
        .hget::<_, _, Option<String>>("mqtt_user:alice", "password")
        .unwrap()
        .is_some()));
    assert_eq!(
        code(&broker, ProtocolVersion::V5, Some("alice"), Some(PASSWORD)).await,
        0
    );
    assert_eq!(
        code(&broker, ProtocolVersion::V5, Some("alice"), Some("wrong")).await,
        0x86
    );

    topology.master.kill();
    let promoted = topology.replica.port();
    assert!(
        wait_until(Duration::from_secs(30), || topology.current_master_port()
            == Some(promoted)),
        "the sentinel did not promote the replica"
    );
    // Logins fail (failed_action: ignore, then anonymous refused) until
    // the plugin reaches the new master, then work again.
    let mut back = false;
    for _ in 0..300 {
        if code(&broker, ProtocolVersion::V5, Some("alice"), Some(PASSWORD)).await == 0 {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "{}", broker.logs().join("\n"));
    assert_eq!(
        code(&broker, ProtocolVersion::V5, Some("alice"), Some("wrong")).await,
        0x86
    );
}
