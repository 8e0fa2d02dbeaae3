//! The proof: a Paho publisher with the Redis store is killed (SIGKILL, no
//! disconnect) while QoS 1 and 2 messages are in flight, a new process with
//! the same client id and store connects, and the subscriber gets every
//! message as its QoS promises: QoS 1 at least once, QoS 2 exactly once.
//! Afterwards the hash is empty.
//!
//! Real redis-server, real mqhost, real Paho (the `redis_persist_pub`
//! example as the child process). A [`Link`] between publisher and broker
//! stalls after CONNACK, so the messages stay in flight in three ways:
//! never received by the broker, received but never acknowledged, and
//! (QoS 2) PUBREL sent but PUBCOMP lost.

mod support;

/// The example, compiled into this test so the child process runs the
/// code just built.
#[path = "../examples/redis_persist_pub.rs"]
#[allow(dead_code)] // its `main` is the example's entry point, not ours
mod example;

use std::time::Duration;

use mqhost_tests::Broker;
use support::{wait_until, Link, Publisher, RedisServer, Stall, Subscriber};

/// The protocol the publisher speaks.
#[derive(Clone, Copy, PartialEq)]
enum Mqtt {
    V311,
    V5,
}

const QOS1: usize = 5;
const QOS2: usize = 5;
const TOPIC: &str = "gateway/readings";
/// How long a blackholed link is watched for a message slipping through.
const LEAK_WINDOW: Duration = Duration::from_millis(200);
/// How long after the last expected message a duplicate may still come.
const DUPLICATE_WINDOW: Duration = Duration::from_millis(500);

fn payloads(qos: u8, count: usize) -> Vec<String> {
    (1..=count).map(|n| format!("qos{qos}-{n}")).collect()
}

/// One crash and recovery; returns the subscriber's counts per payload.
///
/// Before the kill, waits until the store holds what `in_flight` expects
/// (and, when `broker_receives`, until the subscriber has had the first
/// delivery), so the kill always lands with every message in flight.
fn crash_and_recover(
    redis: &RedisServer,
    stall: Stall,
    mqtt: Mqtt,
    client_id: &str,
    in_flight: impl Fn(&[String]) -> bool,
) -> std::collections::BTreeMap<String, usize> {
    let broker = Broker::start();
    let link = Link::to(broker.addr());
    let subscriber = Subscriber::connect(broker.addr(), "gateway/#");
    let uri = format!("tcp://{}", link.addr());
    let hash = format!("paho:{client_id}:{}", link.addr());

    let mut args: Vec<String> = [
        "--broker",
        &uri,
        "--client-id",
        client_id,
        "--topic",
        TOPIC,
        "--qos1",
        &QOS1.to_string(),
        "--qos2",
        &QOS2.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(redis.example_args());
    if mqtt == Mqtt::V5 {
        args.push("--v5".into());
    }

    link.stall_next(stall);
    let mut first = Publisher::spawn(&[args.clone(), vec!["--hold".into()]].concat());
    first.expect_line("holding", Duration::from_secs(20));
    let settled = wait_until(Duration::from_secs(10), || in_flight(&redis.fields(&hash)));
    assert!(
        settled,
        "the store never held the expected in-flight records; it holds {:?}",
        redis.fields(&hash)
    );
    if stall == Stall::Blackhole {
        // Nothing got through: whatever the subscriber gets later came
        // out of Redis. (A negative check: it can only wait a while.)
        std::thread::sleep(LEAK_WINDOW);
        assert!(subscriber.received().is_empty(), "the link leaked");
    }
    first.kill();
    assert!(
        !redis.fields(&hash).is_empty(),
        "the killed publisher left nothing in Redis"
    );

    let mut second = Publisher::spawn(&[args, vec!["--resume".into()]].concat());
    second.expect_line("connected (session present: true)", Duration::from_secs(20));
    second.expect_line("store empty", Duration::from_secs(30));
    second.expect_success(Duration::from_secs(10));

    let mut expected = payloads(1, QOS1);
    expected.extend(payloads(2, QOS2));
    assert!(
        subscriber.wait_for_all(&expected, Duration::from_secs(10)),
        "messages missing; the subscriber got {:?}",
        subscriber.received()
    );
    // Room for a late duplicate to show up (a negative check).
    std::thread::sleep(DUPLICATE_WINDOW);
    let hlen: usize = redis.query(redis::cmd("HLEN").arg(&hash));
    assert_eq!(hlen, 0, "records left in {hash}: {:?}", redis.fields(&hash));
    subscriber.received()
}

fn assert_delivered_as_promised(received: &std::collections::BTreeMap<String, usize>) {
    for payload in payloads(1, QOS1) {
        assert!(
            received.get(&payload).copied().unwrap_or(0) >= 1,
            "QoS 1 message {payload} lost: {received:?}"
        );
    }
    for payload in payloads(2, QOS2) {
        assert_eq!(
            received.get(&payload).copied().unwrap_or(0),
            1,
            "QoS 2 message {payload} not delivered exactly once: {received:?}"
        );
    }
    let stray: Vec<_> = received
        .keys()
        .filter(|p| !p.starts_with("qos1-") && !p.starts_with("qos2-"))
        .collect();
    assert!(stray.is_empty(), "unexpected messages: {stray:?}");
}

/// Paho's record prefixes: a sent PUBLISH, and its PUBREL.
fn prefixes(mqtt: Mqtt) -> (&'static str, &'static str) {
    match mqtt {
        Mqtt::V311 => ("s-", "sc-"),
        Mqtt::V5 => ("s5-", "sc5-"),
    }
}

/// Every message sent and unacknowledged: one PUBLISH record each, nothing
/// else.
fn publishes_sent(mqtt: Mqtt) -> impl Fn(&[String]) -> bool {
    let (publish, _) = prefixes(mqtt);
    move |fields| fields.len() == QOS1 + QOS2 && fields.iter().all(|f| f.starts_with(publish))
}

/// Every message sent; for QoS 2 also the PUBREL (PUBREC came back).
fn pubrels_sent(mqtt: Mqtt) -> impl Fn(&[String]) -> bool {
    let (publish, pubrel) = prefixes(mqtt);
    move |fields| {
        fields.iter().filter(|f| f.starts_with(publish)).count() == QOS1 + QOS2
            && fields.iter().filter(|f| f.starts_with(pubrel)).count() == QOS2
            && fields.len() == QOS1 + 2 * QOS2
    }
}

#[test]
fn messages_the_broker_never_received_are_sent_from_redis_after_a_crash() {
    let redis = RedisServer::tcp();
    let received = crash_and_recover(
        &redis,
        Stall::Blackhole,
        Mqtt::V311,
        "gw-blackhole",
        publishes_sent(Mqtt::V311),
    );
    assert_delivered_as_promised(&received);
}

#[test]
fn unacknowledged_messages_are_resent_over_a_unix_socket_and_qos2_is_not_duplicated() {
    let redis = RedisServer::unix();
    let received = crash_and_recover(
        &redis,
        Stall::DropAcks,
        Mqtt::V311,
        "gw-noacks",
        publishes_sent(Mqtt::V311),
    );
    assert_delivered_as_promised(&received);
}

#[test]
fn a_qos2_message_whose_pubrel_was_sent_is_completed_not_published_again() {
    let redis = RedisServer::tcp();
    let received = crash_and_recover(
        &redis,
        Stall::DropFinalAcks,
        Mqtt::V311,
        "gw-pubrel",
        pubrels_sent(Mqtt::V311),
    );
    assert_delivered_as_promised(&received);
}

#[test]
fn mqtt5_messages_the_broker_never_received_are_sent_from_redis_over_a_unix_socket() {
    let redis = RedisServer::unix();
    let received = crash_and_recover(
        &redis,
        Stall::Blackhole,
        Mqtt::V5,
        "gw5-blackhole",
        publishes_sent(Mqtt::V5),
    );
    assert_delivered_as_promised(&received);
}

#[test]
fn mqtt5_a_qos2_message_whose_pubrel_was_sent_is_completed_not_published_again() {
    let redis = RedisServer::tcp();
    let received = crash_and_recover(
        &redis,
        Stall::DropFinalAcks,
        Mqtt::V5,
        "gw5-pubrel",
        pubrels_sent(Mqtt::V5),
    );
    assert_delivered_as_promised(&received);
}

/// Not a test: the child process the tests above start and kill. Runs the
/// example with the arguments the parent put in the environment.
#[test]
#[ignore = "child process of the crash tests, which run it"]
fn publisher_process() {
    let args = std::env::var(support::PUBLISHER_ARGS)
        .expect("started by a crash test, with the example's arguments");
    let status = example::cli(args.lines().map(str::to_owned));
    std::process::exit(i32::from(status));
}
