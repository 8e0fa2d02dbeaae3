//! Hot reload: an edited file applies within a second, decisions kept by
//! the broker and rules kept by the plugin go, and changed connection
//! settings connect afresh.

use std::time::Duration;

use mqhost_codec::{Packet, ProtocolVersion, QoS};
use mqhost_tests::logged_at;
use mqhost_tests::raw::publish;

use super::*;

/// Publishes QoS 1 and returns the PUBACK's reason code: 0x87 when
/// refused, 0x10 (no matching subscribers) when accepted here.
async fn publish_code(client: &mut RawClient, topic: &str, packet_id: u16) -> u8 {
    client
        .send(Packet::Publish(publish(
            topic,
            b"x",
            QoS::AtLeastOnce,
            packet_id,
        )))
        .await;
    match client.recv().await {
        Some(Packet::PubAck(ack)) => ack.reason,
        other => panic!("expected PUBACK, got {other:?}"),
    }
}

#[tokio::test]
async fn an_edited_file_applies_within_a_second_and_drops_kept_decisions() {
    let keys = |acl_key: &str, password_hash: &str| {
        format!(
            "auth.redis.auth_cmd = HMGET mqtt_user:%u password\n\
             auth.redis.password_hash = {password_hash}\n\
             auth.redis.acl_cmd = HGETALL {acl_key}:%u\n"
        )
    };
    let setup = start(&keys("mqtt_acl", "plain"), &[("acl.nomatch", "deny")]);
    let mut conn = setup.redis.client();
    add_user(&mut conn, "alice", PASSWORD, None);
    add_rules(&mut conn, "alice", &[("t/#", "2")]);
    let broker = &setup.broker;
    let mut alice = user(broker, ProtocolVersion::V5, "alice-1", "alice").await;
    // Allowed, and the answer kept by the broker (acl.cache) and the
    // rules by the plugin.
    assert_eq!(publish_code(&mut alice, "t/1", 1).await, 0x10);
    assert_eq!(publish_code(&mut alice, "t/1", 2).await, 0x10);

    // The rules now come from a key alice has nothing under, and
    // passwords are sha256 digests.
    setup.dirs.write_config(
        "auth_redis",
        &config_for(&setup.redis.addr(), &keys("other_acl", "sha256")),
    );
    let edited = setup.dirs.config_written_at("auth_redis");
    let reloaded = broker
        .wait_for_log("plugin configuration reloaded", WAIT)
        .expect("the configuration reloaded");
    let applied = logged_at(&reloaded)
        .duration_since(edited)
        .unwrap_or_else(|_| panic!("reloaded before the edit: {reloaded}"));
    eprintln!("configuration applied {applied:?} after the edit");
    assert!(
        applied < Duration::from_secs(1),
        "applied after {applied:?}"
    );
    // The same connected client, the same topic: asked again, refused.
    assert_eq!(publish_code(&mut alice, "t/1", 3).await, 0x87);
    // New logins check sha256 digests.
    let v5 = ProtocolVersion::V5;
    assert_eq!(code(broker, v5, Some("alice"), Some(PASSWORD)).await, 0x86);
    add_user(
        &mut conn,
        "alice",
        "efa1f375d76194fa51a3556a97e641e61685f914d446979da50a551a4333ffd7",
        None,
    );
    assert_eq!(code(broker, v5, Some("alice"), Some(PASSWORD)).await, 0);
    assert_eq!(broker.count_logs("connection settings changed"), 0);

    // A bad edit is refused and the configuration in force stays.
    setup.dirs.write_config(
        "auth_redis",
        &config_for(&setup.redis.addr(), "auth.redis.password_hash = sha3\n"),
    );
    let refused = broker
        .wait_for_log("configuration refused", WAIT)
        .expect("the bad edit refused");
    assert!(
        refused.contains("auth_redis.conf:2: auth.redis.password_hash"),
        "{refused}"
    );
    assert_eq!(code(broker, v5, Some("alice"), Some(PASSWORD)).await, 0);
}

#[tokio::test]
async fn changed_connection_settings_connect_afresh() {
    let keys = |database: u32| {
        format!(
            "auth.redis.database = {database}\n\
             auth.redis.auth_cmd = HMGET mqtt_user:%u password\n"
        )
    };
    let setup = start(&keys(0), &[("mqtt.allow_anonymous", "off")]);
    add_user(&mut setup.redis.client(), "zero", PASSWORD, None);
    add_user(&mut setup.redis.client_db(1), "one", PASSWORD, None);
    let broker = &setup.broker;
    let v3 = ProtocolVersion::V3_1_1;
    assert_eq!(code(broker, v3, Some("zero"), Some(PASSWORD)).await, 0);
    assert_eq!(code(broker, v3, Some("one"), Some(PASSWORD)).await, 5);

    setup
        .dirs
        .write_config("auth_redis", &config_for(&setup.redis.addr(), &keys(1)));
    assert!(broker
        .wait_for_log("connection settings changed", WAIT)
        .is_some());
    assert!(broker
        .wait_for_log("plugin configuration reloaded", WAIT)
        .is_some());
    assert_eq!(code(broker, v3, Some("one"), Some(PASSWORD)).await, 0);
    assert_eq!(code(broker, v3, Some("zero"), Some(PASSWORD)).await, 5);
}
