//! What an anonymous client could do to the backend's keys: grow a
//! topic's message index without bound, make a wildcard SUBSCRIBE read
//! the whole keyspace (or more than its session can take), or pick a
//! topic or client id that names another layout's key.

use mqhost_codec::QoS;
use mqhost_plugin_api::MessageId;
use mqhost_tests::redis::wait_until;
use redis::Commands;

use super::*;

/// A function rule on pool1 with `expired_time`.
fn with_ttl(hook: &str, n: u32, name: &str, ttl: u64) -> String {
    rule(
        hook,
        n,
        &format!(
            "{{\"topic\": \"#\", \"action\": {{\"function\": \"{name}\"}}, \"expired_time\": {ttl}, \"pool\": \"pool1\"}}"
        ),
    )
}

/// An id as the broker spells it, published `ms` Unix milliseconds.
fn id_at(ms: u64, low: u64) -> String {
    MessageId {
        high: ms * 1000,
        low,
    }
    .to_base62()
}

#[tokio::test]
async fn a_write_trims_the_index_to_the_ids_still_alive() {
    let setup = start(&with_ttl("message.publish", 1, "on_message_publish", 60));
    let mut redis = setup.redis.client();
    let now = now_millis();
    // Ids whose hashes expired long ago (EXPIRE 60 at their publish) and
    // one still alive; all scored 1, as the backend writes them.
    let dead = [id_at(now - 3_600_000, 1), id_at(now - 61_000, 2)];
    let alive = id_at(now - 10_000, 3);
    for id in dead.iter().chain([&alive]) {
        let _: () = redis.zadd("mqtt:msg:queue/a", id, 1).unwrap();
    }
    let mut test = client(&setup.broker, "test").await;
    send(&mut test, "queue/a", b"new", QoS::AtLeastOnce, false).await;
    let mut index = Vec::new();
    let written = wait_until(WAIT, || {
        index = zrange(&mut redis, "mqtt:msg:queue/a");
        index.len() == 2
    });
    assert!(written, "index {index:?}");
    assert_eq!(index[0], alive, "only live ids stay, oldest first");
    let new: HashMap<String, String> = redis.hgetall(format!("mqtt:msg:{}", index[1])).unwrap();
    assert_eq!(new["payload"], "new");
    // The index goes with the last message it names.
    let ttl: i64 = redis.ttl("mqtt:msg:queue/a").unwrap();
    assert!((1..=60).contains(&ttl), "TTL {ttl}");
}

#[tokio::test]
async fn a_wildcard_retained_lookup_reads_at_most_the_cap() {
    const KEYS: usize = 20_000;
    const CAP: usize = 150;
    let setup = start(&format!(
        "backend.redis.pool1.retain_lookup_max = {CAP}\n{}",
        function("session.subscribed", 1, "on_retain_lookup", None)
    ));
    let mut redis = setup.redis.client();
    let mut pipe = redis::pipe();
    for i in 0..KEYS {
        let topic = format!("big/{i}");
        pipe.hset_multiple(
            format!("mqtt:retain:{topic}"),
            &[("topic", topic.as_str()), ("qos", "0"), ("payload", "r")],
        )
        .ignore();
        // Found by the SCAN pattern (`mqtt:retain:big/*`) but not by the
        // filter: neither delivered nor counted.
        pipe.hset(format!("mqtt:retain:big/{i}/deeper"), "payload", "x")
            .ignore();
    }
    let _: () = pipe.query(&mut redis).unwrap();

    let mut sub = client(&setup.broker, "sub").await;
    sub.subscribe("big/+", QoS::AtMostOnce).await;
    for _ in 0..CAP {
        let message = sub.recv_publish().await;
        assert!(message.retain);
        assert!(message.topic.starts_with("big/"), "{}", message.topic);
    }
    let stats = settled_stats(&setup.broker, |s| s["pools"]["pool1"]["lookups"] == 1).await;
    let pool = &stats["pools"]["pool1"];
    assert_eq!(pool["lookups"], 1, "{stats}");
    assert_eq!(pool["delivered"], CAP, "{stats}");
    assert_eq!(pool["retain_lookup_skipped"], KEYS - CAP, "{stats}");
    // Its time is counted: a scan and reads take more than nothing.
    assert!(
        pool["lookup_seconds"].as_f64().is_some_and(|s| s > 0.0),
        "{stats}"
    );
    sub.expect_silence(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn a_retained_lookup_reads_no_more_than_the_session_can_take() {
    const STORED: usize = 20;
    // The subscriber's queue bound: all its idle session can take.
    const ROOM: usize = 5;
    let setup = start_with_settings(
        &format!(
            "{}{}",
            with_ttl("message.publish", 1, "on_message_retain", 3600),
            function("session.subscribed", 1, "on_retain_lookup", None)
        ),
        &[("mqtt.max_queued_messages", "5")],
    );
    let mut redis = setup.redis.client();
    // Stored by the plugin, from retained PUBLISHes.
    let mut publisher = client(&setup.broker, "publisher").await;
    for i in 0..STORED {
        let topic = format!("room/{i}");
        send(&mut publisher, &topic, b"r", QoS::AtLeastOnce, true).await;
    }
    let mut keys: Vec<String> = Vec::new();
    let stored = wait_until(WAIT, || {
        keys = redis.keys("mqtt:retain:room/*").unwrap();
        keys.len() == STORED
    });
    assert!(stored, "{keys:?}");

    let mut sub = client(&setup.broker, "sub").await;
    sub.subscribe("room/+", QoS::AtLeastOnce).await;
    let stats = settled_stats(&setup.broker, |s| s["pools"]["pool1"]["lookups"] == 1).await;
    let pool = &stats["pools"]["pool1"];
    assert_eq!(pool["lookups"], 1, "{stats}");
    assert_eq!(pool["delivered"], ROOM, "{stats}");
    assert_eq!(pool["retain_lookup_skipped"], STORED - ROOM, "{stats}");
    let mut topics = Vec::new();
    for _ in 0..ROOM {
        let message = receive(&mut sub).await;
        assert!(message.retain);
        topics.push(message.topic);
    }
    topics.sort();
    topics.dedup();
    assert_eq!(topics.len(), ROOM, "{topics:?}");
    // Nothing more is on its way: a live message comes next.
    send(&mut publisher, "room/live", b"now", QoS::AtLeastOnce, false).await;
    let next = receive(&mut sub).await;
    assert_eq!((next.topic.as_str(), next.retain), ("room/live", false));
}

#[tokio::test]
async fn a_retained_lookup_for_a_full_session_reads_nothing_and_counts_it() {
    // One message in flight, five queued: the session is full.
    let setup = start_with_settings(
        &format!(
            "{}{}",
            with_ttl("message.publish", 1, "on_message_retain", 3600),
            function("session.subscribed", 1, "on_retain_lookup", None)
        ),
        &[
            ("mqtt.max_queued_messages", "5"),
            ("mqtt.max_inflight", "1"),
        ],
    );
    let mut redis = setup.redis.client();
    let mut publisher = client(&setup.broker, "publisher").await;
    send(&mut publisher, "kept/a", b"r", QoS::AtLeastOnce, true).await;
    wait_key(&mut redis, "mqtt:retain:kept/a");

    let mut sub = client(&setup.broker, "sub").await;
    sub.subscribe("fill/#", QoS::AtLeastOnce).await;
    for _ in 0..6 {
        send(&mut publisher, "fill/x", b"f", QoS::AtLeastOnce, false).await;
    }
    // Left unacknowledged, so nothing leaves the queue.
    assert_eq!(sub.recv_publish().await.topic, "fill/x");

    // The second lookup, after fill/#'s.
    sub.subscribe("kept/a", QoS::AtLeastOnce).await;
    let stats = settled_stats(&setup.broker, |s| s["pools"]["pool1"]["lookups"] == 2).await;
    let pool = &stats["pools"]["pool1"];
    assert_eq!(pool["lookups"], 2, "{stats}");
    assert_eq!(pool["retain_lookup_skipped"], 1, "{stats}");
    // A topic without a retained message is no message skipped.
    sub.subscribe("kept/none", QoS::AtLeastOnce).await;
    sub.subscribe("kept/+", QoS::AtLeastOnce).await;
    let stats = settled_stats(&setup.broker, |s| s["pools"]["pool1"]["lookups"] == 4).await;
    let pool = &stats["pools"]["pool1"];
    assert_eq!(pool["lookups"], 4, "{stats}");
    assert_eq!(pool["retain_lookup_skipped"], 2, "{stats}");
    assert_eq!(pool["delivered"], 0, "{stats}");
}

/// A topic of exactly 22 base62 characters.
const ID_LIKE: &str = "0Gm7bUq0Xk2Q0000000001";

#[tokio::test]
async fn a_topic_spelled_like_a_message_id_touches_no_message() {
    let setup = start(&format!(
        "{}{}{}",
        with_ttl("message.publish", 1, "on_message_publish", 3600),
        function("session.subscribed", 1, "on_message_fetch_for_queue", None),
        function("message.acked", 1, "on_message_acked_for_queue", None),
    ));
    let mut redis = setup.redis.client();
    // Another message's hash, at the key the topic's index would have.
    let victim = format!("mqtt:msg:{ID_LIKE}");
    let _: () = redis
        .hset_multiple(&victim, &[("topic", "elsewhere"), ("payload", "victim")])
        .unwrap();
    let mut test = client(&setup.broker, "test").await;
    send(&mut test, ID_LIKE, b"attack", QoS::AtLeastOnce, false).await;
    // Stored under its own id, but not indexed.
    let mut keys: Vec<String> = Vec::new();
    let stored = wait_until(WAIT, || {
        keys = redis.keys("mqtt:msg:*").unwrap();
        keys.len() == 2
    });
    assert!(stored, "{keys:?}");
    let kind: String = redis::cmd("TYPE").arg(&victim).query(&mut redis).unwrap();
    assert_eq!(kind, "hash");
    assert_eq!(hash(&mut redis, &victim)["payload"], "victim");

    // A subscriber to that topic fetches nothing from it, and its acks
    // remove nothing from it.
    let mut sub = client(&setup.broker, "sub").await;
    sub.subscribe(ID_LIKE, QoS::AtLeastOnce).await;
    send(&mut test, ID_LIKE, b"live", QoS::AtLeastOnce, false).await;
    let message = receive(&mut sub).await;
    assert_eq!(message.payload.as_ref(), b"live");
    let stats = settled_stats(&setup.broker, |s| s["pools"]["pool1"]["lookups"] == 1).await;
    assert_eq!(stats["pools"]["pool1"]["errors"], 0, "{stats}");
    sub.expect_silence(Duration::from_millis(300)).await;
    assert_eq!(hash(&mut redis, &victim)["payload"], "victim");
}

#[tokio::test]
async fn a_client_id_holding_a_colon_gets_no_pubsub_position() {
    let setup = start(&format!(
        "{}{}{}{}",
        with_ttl("message.publish", 1, "on_message_publish", 3600),
        function("session.subscribed", 1, "on_message_fetch_for_pubsub", None),
        function("message.acked", 1, "on_message_acked_for_pubsub", None),
        rule(
            "message.acked",
            2,
            r#"{"action": {"commands": ["SET seen:${clientid} ${msgid}"]}, "pool": "pool1"}"#
        ),
    ));
    let mut redis = setup.redis.client();
    // Client `a`'s position on its subscription `b:c`.
    let position = "mqtt:acked:a:b:c";
    let _: () = redis.set(position, "victim").unwrap();
    // Client `a:b` on `c` would name the same key.
    let mut sub = client(&setup.broker, "a:b").await;
    sub.subscribe("c", QoS::AtLeastOnce).await;
    let mut test = client(&setup.broker, "test").await;
    send(&mut test, "c", b"m", QoS::AtLeastOnce, false).await;
    let message = receive(&mut sub).await;
    assert_eq!(message.payload.as_ref(), b"m");
    // The ack's rules run in order: once the second wrote, the first had
    // its turn.
    wait_key(&mut redis, "seen:a:b");
    let value: String = redis.get(position).unwrap();
    assert_eq!(value, "victim");
}
