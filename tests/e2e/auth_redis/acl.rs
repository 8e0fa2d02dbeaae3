//! Topic rules from `HGETALL mqtt_acl:%u`, EMQX 4's values (1, 2, 3) and
//! EMQX 5's (words and JSON), with SUBACK and PUBACK codes over 3.1.1 and
//! 5.0. `acl.nomatch = deny` everywhere, so that a topic no rule allows
//! is refused (EMQX 4's answer).

use mqhost_codec::{Packet, ProtocolVersion, Publish, QoS};
use mqhost_tests::raw::publish;

use super::*;

const KEYS: &str = "auth.redis.auth_cmd = HMGET mqtt_user:%u password\n\
                    auth.redis.super_cmd = HGET mqtt_user:%u is_superuser\n\
                    auth.redis.acl_cmd = HGETALL mqtt_acl:%u\n";

/// A broker refusing what no rule allows, with users `alice` (rules
/// `rules`) and `watch`, a superuser who sees every message.
fn start_with_rules(rules: &[(&str, &str)]) -> Setup {
    let setup = start(KEYS, &[("acl.nomatch", "deny")]);
    let mut conn = setup.redis.client();
    add_user(&mut conn, "alice", PASSWORD, None);
    add_rules(&mut conn, "alice", rules);
    add_user(&mut conn, "watch", PASSWORD, None);
    set_superuser(&mut conn, "watch", "1");
    setup
}

/// Publishes each topic (QoS 1, `retain` as given) and returns the 5.0
/// PUBACK reason codes (3.1.1 has none: 0 each time). Messages the
/// client receives meanwhile are acknowledged and passed over.
async fn publish_all(client: &mut RawClient, topics: &[(&str, bool)]) -> Vec<u8> {
    let mut codes = Vec::new();
    for (index, (topic, retain)) in topics.iter().enumerate() {
        let packet_id = index as u16 + 1;
        let mut packet: Publish = publish(topic, b"x", QoS::AtLeastOnce, packet_id);
        packet.retain = *retain;
        client.send(Packet::Publish(packet)).await;
        loop {
            match client.recv().await {
                Some(Packet::PubAck(ack)) if ack.packet_id == packet_id => {
                    codes.push(ack.reason);
                    break;
                }
                Some(Packet::Publish(message)) if message.qos == QoS::AtLeastOnce => {
                    client.puback(message.packet_id).await;
                }
                Some(Packet::Publish(_)) => {}
                other => panic!("expected PUBACK, got {other:?}"),
            }
        }
    }
    codes
}

/// The topics `watch` receives up to `end`.
async fn received_until(watch: &mut RawClient, end: &str) -> Vec<String> {
    let mut topics = Vec::new();
    loop {
        let message = watch.recv_publish().await;
        if message.qos == QoS::AtLeastOnce {
            watch.puback(message.packet_id).await;
        }
        if message.topic == end {
            return topics;
        }
        topics.push(message.topic);
    }
}

#[tokio::test]
async fn emqx_4_values_allow_subscribe_publish_or_both() {
    let setup = start_with_rules(&[
        ("sensors/%u/#", "2"),
        ("cmd/%c", "1"),
        ("both/#", "3"),
        ("nothing", "0"),
    ]);
    let broker = &setup.broker;
    let mut watch = user(broker, ProtocolVersion::V5, "watcher", "watch").await;
    assert_eq!(watch.subscribe("#", QoS::AtLeastOnce).await, [1]);
    for (round, codes) in VERSIONS.iter().enumerate() {
        let version = codes.version;
        let refused = codes.suback_refused;
        let id = format!("dev-{round}");
        let mut alice = user(broker, version, &id, "alice").await;
        let own = format!("cmd/{id}");
        let shared = format!("$share/g/cmd/{id}");
        assert_eq!(
            alice
                .subscribe_all(
                    &[
                        &own,
                        &shared,
                        "cmd/other",
                        "sensors/alice/t",
                        "both/x",
                        "both/#",
                        "nothing",
                        "other",
                    ],
                    QoS::AtLeastOnce
                )
                .await,
            [1, 1, refused, refused, 1, 1, refused, refused],
            "{version:?}"
        );
        let acks = publish_all(
            &mut alice,
            &[
                ("sensors/alice/t", false),
                ("sensors/bob/t", false),
                (&own, false),
                ("both/y", false),
                ("nothing", false),
                ("both/end", false),
            ],
        )
        .await;
        if version == ProtocolVersion::V5 {
            assert_eq!(acks, [0, 0x87, 0x87, 0, 0x87, 0]);
        }
        assert_eq!(
            received_until(&mut watch, "both/end").await,
            ["sensors/alice/t", "both/y"],
            "{version:?}"
        );
    }
}

#[tokio::test]
async fn emqx_5_words_and_json_allow_actions_qos_and_retain() {
    let setup = start_with_rules(&[
        ("w/sub", "subscribe"),
        ("w/pub", "publish"),
        ("w/all/#", "all"),
        ("j/qos01", r#"{"action": "subscribe", "qos": [0, 1]}"#),
        ("j/live", r#"{"action": "publish", "retain": false}"#),
        ("j/kept", r#"{"action": "all", "retain": true}"#),
        ("j/denied", r#"{"action": "all", "permission": "deny"}"#),
        ("eq j/#", r#"{"action": "subscribe"}"#),
    ]);
    let broker = &setup.broker;
    let mut watch = user(broker, ProtocolVersion::V5, "watcher", "watch").await;
    assert_eq!(watch.subscribe("#", QoS::AtLeastOnce).await, [1]);
    for (round, codes) in VERSIONS.iter().enumerate() {
        let version = codes.version;
        let refused = codes.suback_refused;
        let mut alice = user(broker, version, &format!("dev-{round}"), "alice").await;
        let subscribe = |filters: &'static [&'static str], qos| (filters, qos);
        for ((filters, qos), expected) in [
            (
                subscribe(&["w/sub", "w/pub", "w/all/x", "j/denied"], QoS::AtMostOnce),
                vec![0, refused, 0, refused],
            ),
            // A QoS outside the rule's list is refused, not downgraded.
            (subscribe(&["j/qos01"], QoS::AtLeastOnce), vec![1]),
            (subscribe(&["j/qos01"], QoS::ExactlyOnce), vec![refused]),
            // `eq`: the filter itself, not what it matches.
            (
                subscribe(&["j/#", "j/x"], QoS::AtMostOnce),
                vec![0, refused],
            ),
        ] {
            assert_eq!(
                alice.subscribe_all(filters, qos).await,
                expected,
                "{version:?} {filters:?} {qos:?}"
            );
        }
        let acks = publish_all(
            &mut alice,
            &[
                ("w/pub", false),
                ("w/sub", false),
                ("w/all/y", true),
                ("j/live", false),
                ("j/live", true),
                ("j/kept", true),
                ("j/kept", false),
                ("j/denied", false),
                ("w/all/end", false),
            ],
        )
        .await;
        if version == ProtocolVersion::V5 {
            assert_eq!(acks, [0, 0x87, 0, 0, 0x87, 0, 0x87, 0x87, 0]);
        }
        assert_eq!(
            received_until(&mut watch, "w/all/end").await,
            ["w/pub", "w/all/y", "j/live", "j/kept"],
            "{version:?}"
        );
    }
    let stats = plugin_stats(broker).await;
    assert_eq!(stats["bad_rules"], 2, "the denied rule, twice: {stats}");
}

#[tokio::test]
async fn a_client_without_rules_is_left_to_acl_nomatch() {
    // acl.nomatch = allow (the default): rules add nothing, and take
    // nothing away.
    let setup = start(KEYS, &[]);
    let mut conn = setup.redis.client();
    add_user(&mut conn, "alice", PASSWORD, None);
    add_rules(&mut conn, "alice", &[("a", "1")]);
    add_user(&mut conn, "bob", PASSWORD, None);
    for name in ["alice", "bob"] {
        let mut client = user(&setup.broker, ProtocolVersion::V5, name, name).await;
        assert_eq!(
            client.subscribe_all(&["a", "b"], QoS::AtMostOnce).await,
            [0, 0]
        );
    }
    // Anonymous clients have no %u: no lookup.
    let mut anonymous = RawClient::connect(setup.broker.addr(), ProtocolVersion::V5, "anon").await;
    assert_eq!(anonymous.subscribe("b", QoS::AtMostOnce).await, [0]);
    let stats = plugin_stats(&setup.broker).await;
    assert_eq!(stats["skipped"], 2, "a login and a subscription: {stats}");
}

#[tokio::test]
async fn a_login_brings_its_rules_and_its_subscriptions_ask_redis_nothing() {
    let setup = start_with_rules(&[("a/%u/#", "1"), ("b", "3")]);
    let mut alice = user(&setup.broker, ProtocolVersion::V5, "dev-1", "alice").await;
    assert_eq!(
        alice
            .subscribe_all(&["a/alice/x", "b", "a/bob/x"], QoS::AtMostOnce)
            .await,
        [0, 0, 0x87]
    );
    let stats = plugin_stats(&setup.broker).await;
    assert_eq!(
        (&stats["lookups"], &stats["prefetched"], &stats["cached"]),
        (&1.into(), &1.into(), &3.into()),
        "one round trip for the login and its rules: {stats}"
    );
}

#[tokio::test]
async fn rules_that_cannot_be_read_at_login_leave_the_login_alone() {
    let setup = start(KEYS, &[("acl.nomatch", "deny")]);
    let mut conn = setup.redis.client();
    add_user(&mut conn, "alice", PASSWORD, None);
    let _: () = redis::cmd("SET")
        .arg("mqtt_acl:alice")
        .arg("not a hash")
        .query(&mut conn)
        .unwrap();
    let mut alice = user(&setup.broker, ProtocolVersion::V3_1_1, "dev-1", "alice").await;
    // The subscription asks again, and the wrong reply is no rule.
    assert_eq!(alice.subscribe("b", QoS::AtMostOnce).await, [0x80]);
    let stats = plugin_stats(&setup.broker).await;
    assert_eq!(stats["prefetched"], 0, "{stats}");
    assert_eq!(stats["lookups"], 2, "{stats}");
}
