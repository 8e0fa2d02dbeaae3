//! The cluster's Redis fails over under load: a master behind Sentinel
//! killed while QoS 1 messages cross from one node to another. What is
//! lost is what pub/sub's at-most-once allows (messages that were on
//! their way in the outage, never one twice or out of order); the nodes
//! find the new master within seconds and messages flow again.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use mqhost_codec::{Packet, ProtocolVersion, QoS};
use mqhost_tests::raw::{publish, RawClient};
use mqhost_tests::redis::{free_port, RedisSentinel, MASTER_NAME};

use super::*;

const V5: ProtocolVersion = ProtocolVersion::V5;

/// What the subscriber has read: every number in order of arrival, and
/// the highest.
#[derive(Default)]
struct Seen {
    numbers: Mutex<Vec<u32>>,
    highest: AtomicU32,
    /// Set when the publisher is done: read until a second of quiet.
    done: AtomicBool,
}

/// Reads (and acknowledges) numbered messages into `seen` until the
/// publisher is done and a second passed without one.
async fn read_into(mut client: RawClient, seen: Arc<Seen>) {
    const TICK: Duration = Duration::from_millis(100);
    let mut quiet = Duration::ZERO;
    while !(seen.done.load(Ordering::SeqCst) && quiet >= Duration::from_secs(1)) {
        match client.recv_within(TICK).await {
            Ok(Some(Packet::Publish(message))) => {
                quiet = Duration::ZERO;
                assert_eq!(message.qos, QoS::AtLeastOnce);
                let n: u32 = std::str::from_utf8(&message.payload)
                    .unwrap()
                    .parse()
                    .unwrap();
                seen.numbers.lock().unwrap().push(n);
                seen.highest.fetch_max(n, Ordering::SeqCst);
                client.puback(message.packet_id).await;
            }
            Ok(Some(other)) => panic!("expected PUBLISH, got {other:?}"),
            Ok(None) => panic!("the subscriber's connection closed"),
            Err(()) => quiet += TICK,
        }
    }
}

/// Publishes message `n`, QoS 1, and waits for its PUBACK.
async fn publish_one(client: &mut RawClient, n: u32) {
    let id = (n % 60_000 + 1) as u16;
    let message = publish("load/x", n.to_string().as_bytes(), QoS::AtLeastOnce, id);
    client.send(Packet::Publish(message)).await;
    match client.recv().await {
        Some(Packet::PubAck(ack)) => assert_eq!(ack.packet_id, id),
        other => panic!("expected PUBACK {id}, got {other:?}"),
    }
}

#[tokio::test]
async fn a_redis_failover_under_load_loses_at_most_what_was_on_its_way() {
    const BEFORE: u32 = 200;
    const AFTER: u32 = 200;
    let mut topology = RedisSentinel::start();
    // A seed that does not answer first: the nodes go on to the sentinel.
    let servers = format!(
        "127.0.0.1:{},{}",
        free_port(false),
        topology.sentinel.addr()
    );
    let text = config(
        &servers,
        "c1",
        &format!("cluster.redis.type = sentinel\ncluster.redis.sentinel = {MASTER_NAME}\n"),
    );
    let [n1, n2, n3] = three_nodes(&text).await;
    let mut subscriber = RawClient::connect(n2.broker.addr(), V5, "sub").await;
    assert_eq!(subscriber.subscribe("load/#", QoS::AtLeastOnce).await, [1]);
    let deadline = tokio::time::Instant::now() + WAIT;
    while status(&n1.broker).await["bus"]["remote_routes"] != 1 {
        assert!(tokio::time::Instant::now() < deadline, "no route on n1");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seen = Arc::new(Seen::default());
    let reader = tokio::spawn(read_into(subscriber, Arc::clone(&seen)));
    let mut publisher = RawClient::connect(n1.broker.addr(), V5, "pub").await;

    // Steady load, every message through.
    for n in 0..BEFORE {
        publish_one(&mut publisher, n).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    while seen.numbers.lock().unwrap().len() < BEFORE as usize {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not all through before"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The master dies; the load goes on until messages flow again, and
    // then until every node is back on the new master (each beat there
    // once, so no heartbeat that ran out in the outage is still to be
    // seen) and a message published since went through.
    let killed_at = tokio::time::Instant::now();
    topology.master.kill();
    let nodes = [&n1, &n2, &n3];
    let mut next = BEFORE;
    let mut flowing_after = None;
    let mut settled_from = None;
    loop {
        publish_one(&mut publisher, next).await;
        next += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
        let highest = seen.highest.load(Ordering::SeqCst);
        if flowing_after.is_none() && highest >= BEFORE {
            flowing_after = Some(killed_at.elapsed());
        }
        if settled_from.is_none()
            && next.is_multiple_of(20)
            && nodes
                .iter()
                .all(|n| n.broker.count_logs("the cluster's Redis answers again") > 0)
        {
            let figures = status(&n1.broker).await;
            let all = figures["nodes"].as_array().unwrap();
            if all.len() == 3
                && all.iter().all(|n| n["status"] == "up")
                && figures["bus"]["remote_routes"] == 1
            {
                settled_from = Some(next);
            }
        }
        if settled_from.is_some_and(|from| highest >= from) {
            break;
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(30),
            "the cluster did not settle within 30 s of the failover"
        );
    }
    let settled_in = killed_at.elapsed();
    let outage_end = next;
    assert_eq!(
        topology.current_master_port(),
        Some(topology.replica.port()),
        "the sentinel promoted the replica"
    );

    // Flowing again: every message from here on arrives.
    for n in outage_end..outage_end + AFTER {
        publish_one(&mut publisher, n).await;
    }
    seen.done.store(true, Ordering::SeqCst);
    tokio::time::timeout(WAIT * 2, reader)
        .await
        .expect("the subscriber read everything")
        .unwrap();
    let numbers = seen.numbers.lock().unwrap().clone();
    assert!(
        numbers.windows(2).all(|w| w[0] < w[1]),
        "doubled or out of order: {numbers:?}"
    );
    let lost: Vec<u32> = (0..outage_end + AFTER)
        .filter(|n| numbers.binary_search(n).is_err())
        .collect();
    // Only what was on its way while Redis was away.
    assert!(
        lost.iter().all(|&n| (BEFORE..outage_end).contains(&n)),
        "lost outside the outage ({BEFORE}..{outage_end}): {lost:?}"
    );
    eprintln!(
        "failover: messages through again after {flowing_after:?}, every node back after \
         {settled_in:?}; {} of the {} messages published meanwhile lost",
        lost.len(),
        outage_end - BEFORE
    );
    // And the cluster is whole again.
    wait_seen(&n1.broker, &ALL_UP).await;
    wait_seen(&n3.broker, &ALL_UP).await;
}

/// What a new master may lack after a failover (the last writes the old
/// one took), made by hand: a node whose bus reconnects writes its routes
/// and members again and removes what it no longer has, and the other
/// nodes hear of it.
#[tokio::test]
async fn a_node_writes_again_the_routes_redis_lost() {
    let redis = mqhost_tests::redis::RedisServer::start();
    let text = config(&redis.addr(), "c1", "");
    let n1 = start_node("n1", &text);
    let n2 = start_node("n2", &text);
    wait_seen(&n1.broker, &[("n1", "up"), ("n2", "up")]).await;
    let mut plain = RawClient::connect(n2.broker.addr(), V5, "plain").await;
    assert_eq!(plain.subscribe("r/a", QoS::AtLeastOnce).await, [1]);
    let mut member = RawClient::connect(n2.broker.addr(), V5, "member").await;
    assert_eq!(
        member.subscribe("$share/g/r/+", QoS::AtLeastOnce).await,
        [1]
    );
    let known = |routes: u64, groups: u64| {
        let n1 = &n1.broker;
        async move {
            let bus = status(n1).await["bus"].clone();
            bus["remote_routes"] == routes && bus["remote_groups"] == groups
        }
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    while !known(1, 1).await {
        assert!(tokio::time::Instant::now() < deadline, "n1 never knew n2's");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Redis forgets n2's route and member, and keeps a route it dropped.
    let mut conn = redis.client();
    let routes = "mqhost:cluster:c1:routes:n2";
    let groups = "mqhost:cluster:c1:groups:n2";
    redis::cmd("DEL")
        .arg(routes)
        .arg(groups)
        .exec(&mut conn)
        .unwrap();
    redis::cmd("SADD")
        .arg(routes)
        .arg("stale/x")
        .exec(&mut conn)
        .unwrap();
    // Every node's bus connection breaks and is made again.
    redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .exec(&mut conn)
        .unwrap();
    assert!(n2
        .broker
        .wait_for_log("Redis had lost 3 of this node's route changes", WAIT)
        .is_some());
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let stored: Vec<String> = redis::cmd("SMEMBERS").arg(routes).query(&mut conn).unwrap();
        let count: Option<String> = redis::cmd("HGET")
            .arg(groups)
            .arg("$share/g/r/+")
            .query(&mut conn)
            .unwrap();
        if stored == ["r/a"] && count.as_deref() == Some("1") && known(1, 1).await {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not repaired: {stored:?} {count:?} {}",
            status(&n1.broker).await["bus"]
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Messages from n1 reach both again.
    let mut publisher = RawClient::connect(n1.broker.addr(), V5, "pub").await;
    publisher
        .send(Packet::Publish(publish(
            "r/a",
            b"again",
            QoS::AtLeastOnce,
            1,
        )))
        .await;
    assert!(matches!(publisher.recv().await, Some(Packet::PubAck(_))));
    for client in [&mut plain, &mut member] {
        let got = client.recv_publish().await;
        assert_eq!(&got.payload[..], b"again");
    }
}
