//! Logging in: every hash scheme, salted both ways, over 3.1.1 and 5.0;
//! users Redis does not know; superusers.

use mqhost_codec::{Packet, ProtocolVersion, QoS};
use mqhost_tests::raw::publish;

use super::*;

/// The standard EMQX 4 lookups, with `password_hash` and `auth_cmd`.
fn keys(password_hash: &str, auth_cmd: &str) -> String {
    format!(
        "auth.redis.auth_cmd = {auth_cmd}\n\
         auth.redis.password_hash = {password_hash}\n\
         auth.redis.super_cmd = HGET mqtt_user:%u is_superuser\n"
    )
}

const SALTED: &str = "HMGET mqtt_user:%u password salt";
const UNSALTED: &str = "HMGET mqtt_user:%u password";

/// (password_hash, auth_cmd, stored password of "public", salt): values
/// from Python's hashlib and bcrypt package.
const SCHEMES: &[(&str, &str, &str, Option<&str>)] = &[
    ("plain", UNSALTED, "public", None),
    (
        "salt,sha256",
        SALTED,
        "18a88a66a629345a8e2eef6b9e7fa470ab2b878bf627ef4cc9909c66481070bd",
        Some("salt_foo123"),
    ),
    (
        "sha256,salt",
        SALTED,
        "b2d69bc0144d1099e95468c736ccf92198ccabe1ad1dcb0370f5a30c20f63d2f",
        Some("salt_foo123"),
    ),
    // Upper-case hex, from HGET: one value, no salt.
    (
        "md5",
        "HGET mqtt_user:%u password",
        "4C9184F37CFF01BCDC32DC486EC36961",
        None,
    ),
    (
        "sha512",
        UNSALTED,
        "d32997e9747b65a3ecf65b82533a4c843c4e16dd30cf371e8c81ab60a341de00051da422d41ff29c55695f233a1e06fac8b79aeb0a4d91ae5d3d18c8e09b8c73",
        None,
    ),
    (
        "bcrypt",
        UNSALTED,
        "$2b$04$Ek4uQ9fDvdNf1VHCCkRHGOoQd8xSwXodbctZEdXsFTDyNjkKE5Pf.",
        None,
    ),
    (
        "salt,bcrypt",
        SALTED,
        "$2b$04$Ek4uQ9fDvdNf1VHCCkRHGOoQd8xSwXodbctZEdXsFTDyNjkKE5Pf.",
        Some("$2b$04$Ek4uQ9fDvdNf1VHCCkRHGO"),
    ),
    (
        "pbkdf2,sha256,300,20",
        SALTED,
        "2638ecc2e179a16e30fcf24a33b47e51c0f2f543",
        Some("salt_foo123"),
    ),
];

#[tokio::test]
async fn every_hash_scheme_lets_its_users_in_and_refuses_a_wrong_password() {
    let redis = RedisServer::start();
    let mut conn = redis.client();
    for (index, (scheme, auth_cmd, stored, salt)) in SCHEMES.iter().enumerate() {
        let name = format!("user{index}");
        add_user(&mut conn, &name, stored, *salt);
        let (_dirs, broker) = start_broker(
            &config_for(&redis.addr(), &keys(scheme, auth_cmd)),
            &[("mqtt.allow_anonymous", "off")],
        );
        for codes in VERSIONS {
            let version = codes.version;
            let code = |user, password| code(&broker, version, Some(user), Some(password));
            assert_eq!(code(&name, PASSWORD).await, 0, "{scheme} {version:?}");
            assert_eq!(
                code(&name, "publi").await,
                codes.bad_credentials,
                "{scheme} {version:?}"
            );
            // Unknown to Redis: the next source decides, here the
            // anonymous policy, which is off.
            assert_eq!(
                code("stranger", PASSWORD).await,
                codes.not_authorized,
                "{scheme} {version:?}"
            );
        }
        let stats = plugin_stats(&broker).await;
        assert_eq!(
            (&stats["allowed"], &stats["denied"], &stats["ignored"]),
            (&2.into(), &2.into(), &2.into()),
            "{scheme}: {stats}"
        );
        assert_eq!(stats["lookups"], 6, "{scheme}: {stats}");
    }
}

#[tokio::test]
async fn a_client_redis_does_not_know_is_left_to_the_anonymous_policy() {
    // Loopback and mqtt.allow_anonymous unset: anonymous clients are let in.
    let setup = start(&keys("plain", UNSALTED), &[]);
    let mut conn = setup.redis.client();
    add_user(&mut conn, "alice", "public", None);
    add_user(&mut conn, "empty", "", None);
    let broker = &setup.broker;
    for codes in VERSIONS {
        let version = codes.version;
        assert_eq!(code(broker, version, Some("stranger"), Some("x")).await, 0);
        // No user name: nothing to look up.
        assert_eq!(code(broker, version, None, None).await, 0);
        // An empty stored password is no password: not a match for "".
        assert_eq!(code(broker, version, Some("empty"), Some("")).await, 0);
        // A known user must give the password, and sending none is a
        // wrong one.
        assert_eq!(
            code(broker, version, Some("alice"), None).await,
            codes.bad_credentials
        );
    }
    let stats = plugin_stats(broker).await;
    assert_eq!(stats["skipped"], 2, "{stats}");
    assert_eq!(stats["not_found"], 4, "{stats}");
    assert_eq!(stats["denied"], 2, "{stats}");
}

#[tokio::test]
async fn a_superuser_is_asked_no_topic_question() {
    let setup = start(
        &format!(
            "{}auth.redis.acl_cmd = HGETALL mqtt_acl:%u\n",
            keys("plain", UNSALTED)
        ),
        &[("acl.nomatch", "deny")],
    );
    let mut conn = setup.redis.client();
    for (user, flag) in [("root", "1"), ("admin", "true"), ("plain", "0")] {
        add_user(&mut conn, user, PASSWORD, None);
        set_superuser(&mut conn, user, flag);
    }
    add_user(&mut conn, "nobody", PASSWORD, None);
    let broker = &setup.broker;
    for codes in VERSIONS {
        let version = codes.version;
        for superuser in ["root", "admin"] {
            let mut client = user(broker, version, superuser, superuser).await;
            assert_eq!(
                client.subscribe("#", QoS::AtLeastOnce).await,
                [1],
                "{superuser}"
            );
            client
                .send(Packet::Publish(publish("any", b"x", QoS::AtMostOnce, 0)))
                .await;
            assert_eq!(client.recv_publish().await.topic, "any");
        }
        for ordinary in ["plain", "nobody"] {
            let mut client = user(broker, version, ordinary, ordinary).await;
            assert_eq!(
                client.subscribe("#", QoS::AtLeastOnce).await,
                [codes.suback_refused],
                "{ordinary}"
            );
        }
    }
    let stats = plugin_stats(broker).await;
    assert_eq!(stats["superusers"], 4, "{stats}");
}

#[tokio::test]
async fn a_user_name_with_spaces_is_one_key() {
    let setup = start(&keys("plain", UNSALTED), &[("mqtt.allow_anonymous", "off")]);
    let mut conn = setup.redis.client();
    // EMQX 4 would send HMGET mqtt_user:x password password: the
    // password field of key "mqtt_user:x".
    add_user(&mut conn, "x", "public", None);
    add_user(&mut conn, "x password", "other", None);
    let version = ProtocolVersion::V5;
    let broker = &setup.broker;
    assert_eq!(
        code(broker, version, Some("x password"), Some("public")).await,
        0x86
    );
    assert_eq!(
        code(broker, version, Some("x password"), Some("other")).await,
        0
    );
}
