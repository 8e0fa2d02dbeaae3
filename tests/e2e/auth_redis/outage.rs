//! A Redis that is slow, asleep or gone: only the clients waiting on a
//! lookup wait, a lookup slower than `query_timeout` gets
//! `failed_action`'s answer, and an outage is logged once.

use std::time::Duration;

use mqhost_codec::{Packet, ProtocolVersion, QoS};
use mqhost_tests::raw::{login, publish};
use mqhost_tests::redis::wait_until;

use super::*;

const KEYS: &str = "auth.redis.auth_cmd = HMGET mqtt_user:%u password\n\
                    auth.redis.acl_cmd = HGETALL mqtt_acl:%u\n";

/// The broker's log line when an outage begins.
const OUTAGE: &str = "lookups get auth.redis.failed_action's answer";

/// Publishes `count` QoS 1 messages from `publisher`, each received on
/// `subscriber` (subscribed to `topic`) before the next goes.
async fn flow(publisher: &mut RawClient, subscriber: &mut RawClient, topic: &str, count: u16) {
    for id in 1..=count {
        let payload = id.to_be_bytes();
        publisher
            .send(Packet::Publish(publish(
                topic,
                &payload,
                QoS::AtLeastOnce,
                id,
            )))
            .await;
        match publisher.recv().await {
            Some(Packet::PubAck(ack)) => assert_eq!((ack.packet_id, ack.reason), (id, 0)),
            other => panic!("expected PUBACK, got {other:?}"),
        }
        let message = subscriber.recv_publish().await;
        assert_eq!(message.payload.as_ref(), payload);
        subscriber.puback(message.packet_id).await;
    }
}

/// Whether lookups work: a wrong password is refused and the right one
/// accepted (with Redis away, one of the two answers would differ, whatever
/// `failed_action` says).
async fn lookups_work(broker: &Broker) -> bool {
    let v5 = ProtocolVersion::V5;
    code(broker, v5, Some("alice"), Some("wrong")).await == 0x86
        && code(broker, v5, Some("alice"), Some(PASSWORD)).await == 0
}

#[tokio::test]
async fn a_frozen_redis_holds_only_the_clients_waiting_on_it() {
    // A long query_timeout: the login waits for as long as Redis is frozen.
    let setup = start(&format!("{KEYS}auth.redis.query_timeout = 60s\n"), &[]);
    add_user(&mut setup.redis.client(), "alice", PASSWORD, None);
    let broker = &setup.broker;
    // The plugin's connection is made.
    assert!(lookups_work(broker).await);
    // Clients without a user name: no lookup, at connect or for topics.
    let mut subscriber = RawClient::connect(broker.addr(), ProtocolVersion::V5, "sub").await;
    assert_eq!(subscriber.subscribe("t", QoS::AtLeastOnce).await, [1]);
    let mut publisher = RawClient::connect(broker.addr(), ProtocolVersion::V5, "pub").await;

    setup.redis.pause();
    let mut alice = RawClient::open(broker.addr(), ProtocolVersion::V5).await;
    alice
        .send(Packet::Connect(Box::new(login(
            ProtocolVersion::V5,
            "alice-1",
            Some("alice"),
            Some(PASSWORD),
        ))))
        .await;
    // While alice's login waits on Redis, others publish and receive at
    // full speed...
    flow(&mut publisher, &mut subscriber, "t", 2000).await;
    // ... and alice's answer has not come: Redis has not answered.
    assert!(
        alice.recv_within(Duration::ZERO).await.is_err(),
        "alice was answered while Redis was frozen"
    );
    setup.redis.resume();
    match alice.recv().await {
        Some(Packet::ConnAck(ack)) => assert_eq!(ack.reason, 0),
        other => panic!("expected CONNACK, got {other:?}"),
    }
    let stats = plugin_stats(broker).await;
    assert_eq!(
        (&stats["allowed"], &stats["denied"], &stats["timeouts"]),
        (&2.into(), &1.into(), &0.into()),
        "{stats}"
    );
}

/// Starts `DEBUG SLEEP 3` on a thread of its own and returns once Redis
/// stopped answering (a PING gets no reply), with the thread to join.
fn put_to_sleep(redis: &RedisServer) -> std::thread::JoinHandle<()> {
    let mut probe = redis.client();
    probe
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut sleeper = redis.client();
    let asleep = std::thread::spawn(move || {
        let _: () = redis::cmd("DEBUG")
            .arg("SLEEP")
            .arg(3)
            .query(&mut sleeper)
            .expect("DEBUG SLEEP");
    });
    let fell_asleep = wait_until(WAIT, || {
        redis::cmd("PING").query::<String>(&mut probe).is_err()
    });
    assert!(fell_asleep, "Redis did not fall asleep");
    asleep
}

#[tokio::test]
async fn a_lookup_slower_than_query_timeout_gets_failed_action() {
    // DEBUG is off by default since Redis 7.
    let redis = RedisServer::start_with(&["--enable-debug-command", "yes"]);
    add_user(&mut redis.client(), "alice", PASSWORD, None);
    for (failed_action, expected) in [("ignore", 0), ("deny", 0x86)] {
        let keys = format!(
            "{KEYS}auth.redis.query_timeout = 1s\nauth.redis.failed_action = {failed_action}\n"
        );
        let (_dirs, broker) = start_broker(&config_for(&redis.addr(), &keys), &[]);
        assert!(lookups_work(&broker).await);
        let asleep = put_to_sleep(&redis);
        // Ignored: the loopback listener lets anonymous clients in.
        assert_eq!(
            code(&broker, ProtocolVersion::V5, Some("alice"), Some(PASSWORD)).await,
            expected,
            "{failed_action}"
        );
        asleep.join().unwrap();
        // Awake again: the plugin connects afresh (the connection that
        // timed out was dropped) and alice is herself again.
        assert!(
            eventually(|| lookups_work(&broker)).await,
            "{failed_action}: the plugin did not recover"
        );
        let stats = plugin_stats(&broker).await;
        assert_eq!(stats["timeouts"], 1, "{failed_action}: {stats}");
        assert_eq!(broker.count_logs(OUTAGE), 1, "{failed_action}");
    }
}

#[tokio::test]
async fn a_stopped_redis_gets_failed_action_and_one_log_line() {
    for (failed_action, codes, suback) in [("ignore", [0, 0], 0), ("deny", [4, 0x86], 0x87)] {
        let mut setup = start(
            // Rules not kept: each topic question asks Redis.
            &format!(
                "{KEYS}auth.redis.failed_action = {failed_action}\n\
                 auth.redis.acl_cache_ttl = 0\n"
            ),
            &[("acl.nomatch", "allow")],
        );
        let mut conn = setup.redis.client();
        add_user(&mut conn, "alice", PASSWORD, None);
        add_rules(&mut conn, "alice", &[("mine", "3")]);
        let broker = &setup.broker;
        let mut early = user(broker, ProtocolVersion::V5, "early", "alice").await;
        assert_eq!(early.subscribe("mine", QoS::AtMostOnce).await, [0]);

        setup.redis.kill();
        for (version, expected) in [ProtocolVersion::V3_1_1, ProtocolVersion::V5]
            .into_iter()
            .zip(codes)
        {
            for _ in 0..3 {
                assert_eq!(
                    code(broker, version, Some("alice"), Some(PASSWORD)).await,
                    expected,
                    "{failed_action} {version:?}"
                );
            }
        }
        // A topic question: ignored, acl.nomatch allows; or refused.
        assert_eq!(
            early.subscribe("other", QoS::AtMostOnce).await,
            [suback],
            "{failed_action}"
        );
        let stats = plugin_stats(broker).await;
        assert_eq!(
            (&stats["failures"], &stats["timeouts"]),
            (&7.into(), &0.into()),
            "{failed_action}: {stats}"
        );
        assert_eq!(stats["redis"]["up"], false, "{stats}");
        assert_eq!(broker.count_logs(OUTAGE), 1, "{failed_action}");

        setup.redis.restart();
        add_user(&mut setup.redis.client(), "alice", PASSWORD, None);
        assert!(
            eventually(|| lookups_work(broker)).await,
            "{failed_action}: the plugin did not reconnect"
        );
        let back = broker
            .wait_for_log("answers again (", WAIT)
            .expect("the end of the outage logged");
        assert!(back.contains("lookups failed meanwhile"), "{back}");
        assert_eq!(broker.count_logs(OUTAGE), 1, "{failed_action}");
        assert_eq!(plugin_stats(broker).await["redis"]["up"], true);
    }
}
