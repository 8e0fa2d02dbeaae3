//! Every function of the spec on its hook point, with the exact keys,
//! fields, values and TTLs of the seed, and what MQTT clients receive.

use std::time::Duration;

use mqhost_codec::QoS;
use mqhost_tests::redis::wait_until;
use redis::Commands;

use super::*;

const SILENCE: Duration = Duration::from_millis(300);

/// A function rule with `expired_time`.
fn with_ttl(hook: &str, n: u32, name: &str, topic: &str, ttl: u64) -> String {
    rule(
        hook,
        n,
        &format!(
            "{{\"topic\": \"{topic}\", \"action\": {{\"function\": \"{name}\"}}, \"expired_time\" : {ttl}, \"pool\": \"pool1\"}}"
        ),
    )
}

/// Records the id of every delivered message: `deliver:${clientid}`
/// field `${topic}` = `${msgid}` (the seed's own example command).
fn record_deliveries(n: u32) -> String {
    rule(
        "message.delivered",
        n,
        r#"{"action": {"commands": ["HSET deliver:${clientid} ${topic} ${msgid}"]}, "pool": "pool1"}"#,
    )
}

fn assert_base62_id(id: &str) {
    assert_eq!(id.len(), 22, "{id}");
    assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()), "{id}");
}

/// The id the plugin recorded for `client`'s delivery on `topic`.
fn delivered_id(conn: &mut redis::Connection, client: &str, topic: &str) -> String {
    let key = format!("deliver:{client}");
    let mut id = None;
    let found = wait_until(WAIT, || {
        id = conn.hget::<_, _, Option<String>>(&key, topic).unwrap();
        id.is_some()
    });
    assert!(found, "no delivery of {topic} to {client} recorded");
    id.unwrap()
}

/// Waits until every write queued before now reached Redis: the writer
/// keeps order, so once this barrier's key is there, so is every earlier
/// write.
/// Publishes `payloads` at QoS 1 to `topic` and waits until the topic's
/// index in Redis holds `expected` message ids.
async fn store_all(
    test: &mut mqhost_tests::raw::RawClient,
    redis: &mut redis::Connection,
    topic: &str,
    payloads: &[&str],
    expected: usize,
) {
    for payload in payloads {
        send(test, topic, payload.as_bytes(), QoS::AtLeastOnce, false).await;
    }
    let index = format!("mqtt:msg:{topic}");
    assert!(wait_until(WAIT, || zrange(redis, &index).len() == expected));
}

async fn barrier(setup: &Setup, conn: &mut redis::Connection, name: &str) {
    let topic = format!("barrier/{name}");
    publish_from(&setup.broker, "barrier", &topic, b"b", QoS::AtLeastOnce).await;
    wait_key(conn, &format!("mqtt:msg:{topic}"));
}

#[tokio::test]
async fn client_state_and_node_follow_connect_and_disconnect() {
    let setup = start(&format!(
        "{}{}",
        function("client.connected", 1, "on_client_connected", None),
        function("client.disconnected", 1, "on_client_disconnected", None)
    ));
    let mut redis = setup.redis.client();
    let node_key = format!("mqtt:node:{NODE}");

    let before = now_secs();
    let test = client(&setup.broker, "test").await;
    wait_field(&mut redis, "mqtt:client:test", "state", "1");
    let online = hash(&mut redis, "mqtt:client:test");
    assert_eq!(online.len(), 3, "{online:?}");
    assert_eq!(online["offline_at"], "undefined");
    let online_at: u64 = online["online_at"].parse().unwrap();
    assert!((before..=now_secs()).contains(&online_at), "{online:?}");
    let node = hash(&mut redis, &node_key);
    assert_eq!(node.get("test"), Some(&online["online_at"]), "{node:?}");

    test.disconnect().await;
    wait_field(&mut redis, "mqtt:client:test", "state", "0");
    let offline = hash(&mut redis, "mqtt:client:test");
    assert_eq!(offline["online_at"], online["online_at"]);
    let offline_at: u64 = offline["offline_at"].parse().unwrap();
    assert!(
        (online_at..=now_secs()).contains(&offline_at),
        "{offline:?}"
    );
    assert!(wait_until(WAIT, || !hash(&mut redis, &node_key).contains_key("test")));

    // Each connect resets offline_at.
    let _again = client(&setup.broker, "test").await;
    wait_field(&mut redis, "mqtt:client:test", "offline_at", "undefined");
    wait_field(&mut redis, "mqtt:client:test", "state", "1");
}

#[tokio::test]
async fn messages_are_stored_with_their_id_ttl_and_topic_index() {
    let setup = start(&format!(
        "{}{}",
        with_ttl("message.publish", 1, "on_message_publish", "#", 3600),
        record_deliveries(1)
    ));
    let mut redis = setup.redis.client();
    let mut sub = client(&setup.broker, "sub").await;
    sub.subscribe("t/#", QoS::ExactlyOnce).await;
    let mut test = client(&setup.broker, "test").await;

    let before = now_millis();
    send(&mut test, "t/1", b"Hello world!", QoS::AtLeastOnce, false).await;
    let after = now_millis();
    assert_eq!(receive(&mut sub).await.payload.as_ref(), b"Hello world!");
    let id = delivered_id(&mut redis, "sub", "t/1");
    assert_base62_id(&id);
    let key = format!("mqtt:msg:{id}");
    wait_key(&mut redis, &key);
    let stored = hash(&mut redis, &key);
    let ts: u64 = stored["ts"].parse().unwrap();
    assert!((before..=after).contains(&ts), "{stored:?}");
    let expected: HashMap<String, String> = [
        ("id", id.as_str()),
        ("from", "test"),
        ("qos", "1"),
        ("topic", "t/1"),
        ("retain", "false"),
        ("payload", "Hello world!"),
        ("ts", stored["ts"].as_str()),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(stored, expected);
    let ttl: i64 = redis.ttl(&key).unwrap();
    assert!((3590..=3600).contains(&ttl), "TTL {ttl}");
    assert_eq!(zrange(&mut redis, "mqtt:msg:t/1"), vec![id.clone()]);
    // The index lives as long as the newest message it names.
    let index_ttl: i64 = redis.ttl("mqtt:msg:t/1").unwrap();
    assert!((3590..=3600).contains(&index_ttl), "TTL {index_ttl}");

    // QoS 2 is stored too.
    send(&mut test, "t/2", b"two", QoS::ExactlyOnce, false).await;
    let message = sub.recv_publish().await;
    assert_eq!(message.qos, QoS::ExactlyOnce);
    let id2 = delivered_id(&mut redis, "sub", "t/2");
    wait_field(&mut redis, &format!("mqtt:msg:{id2}"), "qos", "2");
    assert_eq!(zrange(&mut redis, "mqtt:msg:t/2"), vec![id2.clone()]);
    assert!(id2 > id, "ids sort in publish order");

    // QoS 0 retained with a payload: the hash, not the topic index.
    send(&mut test, "t/r", b"kept", QoS::AtMostOnce, true).await;
    let id_r = delivered_id(&mut redis, "sub", "t/r");
    wait_field(&mut redis, &format!("mqtt:msg:{id_r}"), "retain", "true");
    assert_eq!(hash(&mut redis, &format!("mqtt:msg:{id_r}"))["qos"], "0");

    // QoS 0 without retain, and an empty retained message at any QoS:
    // nothing.
    send(&mut test, "t/0", b"gone", QoS::AtMostOnce, false).await;
    send(&mut test, "t/e", b"", QoS::AtLeastOnce, true).await;
    barrier(&setup, &mut redis, "one").await;
    let id_0 = delivered_id(&mut redis, "sub", "t/0");
    let id_e = delivered_id(&mut redis, "sub", "t/e");
    for key in [
        format!("mqtt:msg:{id_0}"),
        format!("mqtt:msg:{id_e}"),
        "mqtt:msg:t/0".to_owned(),
        "mqtt:msg:t/e".to_owned(),
        "mqtt:msg:t/r".to_owned(),
    ] {
        assert!(!redis.exists::<_, bool>(&key).unwrap(), "{key} exists");
    }
}

#[tokio::test]
async fn retained_messages_are_stored_looked_up_and_deleted() {
    let setup = start(&format!(
        "{}{}{}",
        with_ttl("message.publish", 2, "on_message_retain", "#", 3600),
        function("message.publish", 3, "on_retain_delete", Some("#")),
        function("session.subscribed", 3, "on_retain_lookup", None)
    ));
    let mut redis = setup.redis.client();
    let mut test = client(&setup.broker, "test").await;
    send(&mut test, "topic", b"Hello world!", QoS::AtLeastOnce, true).await;
    wait_key(&mut redis, "mqtt:retain:topic");
    let retained = hash(&mut redis, "mqtt:retain:topic");
    assert_base62_id(&retained["id"]);
    assert_eq!(retained["from"], "test");
    assert_eq!(retained["qos"], "1");
    assert_eq!(retained["topic"], "topic");
    assert_eq!(retained["retain"], "true");
    assert_eq!(retained["payload"], "Hello world!");
    assert_eq!(retained.len(), 7, "{retained:?}");
    let ttl: i64 = redis.ttl("mqtt:retain:topic").unwrap();
    assert!((3590..=3600).contains(&ttl), "TTL {ttl}");

    // A subscriber gets it from Redis once (the broker's own store is off).
    let mut sub = client(&setup.broker, "sub").await;
    sub.subscribe("topic", QoS::AtLeastOnce).await;
    let message = receive(&mut sub).await;
    assert!(message.retain);
    assert_eq!(message.payload.as_ref(), b"Hello world!");
    assert_eq!(message.qos, QoS::AtLeastOnce);
    sub.expect_silence(SILENCE).await;

    // What the seed shows being in Redis is delivered as it is, even with
    // the older id format; a wildcard filter finds every matching topic,
    // in topic order, with the QoS the subscription allows.
    let _: () = redis
        .hset_multiple(
            "mqtt:retain:other/b",
            &[
                ("id", "6P9NLcJ65VXBbC22sYb4"),
                ("from", "test"),
                ("qos", "1"),
                ("topic", "other/b"),
                ("retain", "true"),
                ("payload", "from redis"),
                ("ts", "1481685802123"),
            ],
        )
        .unwrap();
    let _: () = redis
        .hset_multiple(
            "mqtt:retain:other/a",
            &[("topic", "other/a"), ("qos", "2"), ("payload", "first")],
        )
        .unwrap();
    let _: () = redis
        .hset_multiple(
            "mqtt:retain:elsewhere",
            &[("topic", "elsewhere"), ("payload", "x")],
        )
        .unwrap();
    let mut wild = client(&setup.broker, "wild").await;
    wild.subscribe("other/+", QoS::AtMostOnce).await;
    let first = wild.recv_publish().await;
    let second = wild.recv_publish().await;
    assert_eq!(
        (first.topic.as_str(), first.payload.as_ref(), first.qos),
        ("other/a", b"first".as_ref(), QoS::AtMostOnce)
    );
    assert_eq!(
        (second.topic.as_str(), second.payload.as_ref()),
        ("other/b", b"from redis".as_ref())
    );
    assert!(first.retain && second.retain);
    wild.expect_silence(SILENCE).await;

    // An empty retained message deletes it.
    send(&mut test, "topic", b"", QoS::AtLeastOnce, true).await;
    wait_no_key(&mut redis, "mqtt:retain:topic");
    let mut late = client(&setup.broker, "late").await;
    late.subscribe("topic", QoS::AtLeastOnce).await;
    late.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn queue_messages_are_fetched_oldest_first_and_consumed_by_the_first_ack() {
    let setup = start(&format!(
        "{}{}{}",
        function(
            "session.subscribed",
            1,
            "on_message_fetch_for_queue",
            Some("queue/#")
        ),
        with_ttl("message.publish", 1, "on_message_publish", "#", 3600),
        function(
            "message.acked",
            1,
            "on_message_acked_for_queue",
            Some("queue/#")
        )
    ));
    let mut redis = setup.redis.client();
    let mut test = client(&setup.broker, "test").await;
    store_all(&mut test, &mut redis, "queue/a", &["m1", "m2", "m3"], 3).await;
    let ids = zrange(&mut redis, "mqtt:msg:queue/a");
    // An id whose hash is gone (expired) sorts first and is cleaned up.
    let _: () = redis
        .zadd("mqtt:msg:queue/a", "0000000000000000000000", 1)
        .unwrap();

    let mut c1 = client(&setup.broker, "c1").await;
    c1.subscribe("queue/a", QoS::AtLeastOnce).await;
    let mut got = Vec::new();
    for _ in 0..3 {
        let message = receive(&mut c1).await;
        assert_eq!(message.qos, QoS::AtLeastOnce);
        assert!(!message.retain);
        got.push(String::from_utf8_lossy(&message.payload).into_owned());
    }
    assert_eq!(got, ["m1", "m2", "m3"]);
    c1.expect_silence(SILENCE).await;

    // The acks named the stored ids: the messages are consumed.
    assert!(
        wait_until(WAIT, || zrange(&mut redis, "mqtt:msg:queue/a").is_empty()),
        "left: {:?}",
        zrange(&mut redis, "mqtt:msg:queue/a")
    );
    for id in &ids {
        wait_no_key(&mut redis, &format!("mqtt:msg:{id}"));
    }
    let mut c2 = client(&setup.broker, "c2").await;
    c2.subscribe("queue/#", QoS::AtLeastOnce).await;
    c2.expect_silence(SILENCE).await;

    // A QoS 0 subscription fetches nothing, and the message waits.
    send(&mut test, "queue/b", b"b1", QoS::AtLeastOnce, false).await;
    assert!(wait_until(WAIT, || zrange(&mut redis, "mqtt:msg:queue/b")
        .len()
        == 1));
    let mut c3 = client(&setup.broker, "c3").await;
    c3.subscribe("queue/b", QoS::AtMostOnce).await;
    c3.expect_silence(SILENCE).await;
    assert_eq!(zrange(&mut redis, "mqtt:msg:queue/b").len(), 1);
}

#[tokio::test]
async fn pubsub_subscribers_get_what_they_missed_since_their_last_ack() {
    let setup = start(&format!(
        "{}{}{}{}",
        function(
            "session.subscribed",
            2,
            "on_message_fetch_for_pubsub",
            Some("pubsub/#")
        ),
        rule(
            "session.unsubscribed",
            1,
            r##"{"topic": "#", "action": {"commands": ["DEL mqtt:acked:${clientid}:${topic}"]}, "pool": "pool1"}"##
        ),
        with_ttl("message.publish", 1, "on_message_publish", "#", 3600),
        function(
            "message.acked",
            2,
            "on_message_acked_for_pubsub",
            Some("pubsub/#")
        )
    ));
    let mut redis = setup.redis.client();
    let acked = "mqtt:acked:c1:pubsub/a";
    let mut test = client(&setup.broker, "test").await;
    store_all(&mut test, &mut redis, "pubsub/a", &["p1", "p2"], 2).await;
    let ids = zrange(&mut redis, "mqtt:msg:pubsub/a");

    // First subscription: start from the newest, deliver nothing.
    let mut c1 = client(&setup.broker, "c1").await;
    c1.subscribe("pubsub/a", QoS::AtLeastOnce).await;
    assert!(wait_until(WAIT, || redis
        .get::<_, Option<String>>(acked)
        .unwrap()
        == Some(ids[1].clone())));
    c1.expect_silence(SILENCE).await;

    // A live message, acked, moves the position.
    send(&mut test, "pubsub/a", b"p3", QoS::AtLeastOnce, false).await;
    assert_eq!(receive(&mut c1).await.payload.as_ref(), b"p3");
    assert!(wait_until(WAIT, || zrange(&mut redis, "mqtt:msg:pubsub/a")
        .len()
        == 3));
    let p3 = zrange(&mut redis, "mqtt:msg:pubsub/a")[2].clone();
    assert!(wait_until(WAIT, || redis
        .get::<_, Option<String>>(acked)
        .unwrap()
        == Some(p3.clone())));

    // Away (the session ends; no unsubscribe), two messages are missed...
    c1.drop_connection();
    store_all(&mut test, &mut redis, "pubsub/a", &["p4", "p5"], 5).await;
    let all = zrange(&mut redis, "mqtt:msg:pubsub/a");
    assert_eq!(redis.get::<_, Option<String>>(acked).unwrap(), Some(p3));

    // ... and delivered on return, in order; they stay for the others.
    let mut c1 = client(&setup.broker, "c1").await;
    c1.subscribe("pubsub/a", QoS::AtLeastOnce).await;
    assert_eq!(receive_payloads(&mut c1, 2).await, ["p4", "p5"]);
    c1.expect_silence(SILENCE).await;
    assert!(wait_until(WAIT, || redis
        .get::<_, Option<String>>(acked)
        .unwrap()
        == Some(all[4].clone())));
    assert_eq!(zrange(&mut redis, "mqtt:msg:pubsub/a"), all);

    // UNSUBSCRIBE forgets the position (the seed's raw command).
    c1.send(mqhost_codec::Packet::Unsubscribe(
        mqhost_codec::Unsubscribe {
            packet_id: 2,
            filters: vec!["pubsub/a".to_owned()],
            user_properties: Vec::new(),
        },
    ))
    .await;
    wait_no_key(&mut redis, acked);

    // A first subscriber to an empty topic starts at "0".
    let mut c2 = client(&setup.broker, "c2").await;
    c2.subscribe("pubsub/none", QoS::AtLeastOnce).await;
    assert!(wait_until(WAIT, || redis
        .get::<_, Option<String>>("mqtt:acked:c2:pubsub/none")
        .unwrap()
        == Some("0".to_owned())));
}

#[tokio::test]
async fn keep_latest_keeps_one_message_per_topic_until_acked() {
    let setup = start(&format!(
        "{}{}{}",
        function(
            "session.subscribed",
            1,
            "on_message_fetch_for_keep_latest",
            Some("#")
        ),
        with_ttl(
            "message.publish",
            1,
            "on_message_store_keep_latest",
            "#",
            3600
        ),
        function(
            "message.acked",
            1,
            "on_message_acked_for_keep_latest",
            Some("#")
        )
    ));
    let mut redis = setup.redis.client();
    let mut test = client(&setup.broker, "test").await;
    send(&mut test, "k/a", b"k1", QoS::AtLeastOnce, false).await;
    send(&mut test, "k/a", b"k2", QoS::AtMostOnce, false).await;
    wait_field(&mut redis, "mqtt:latest_msg:k/a", "payload", "k2");
    let latest = hash(&mut redis, "mqtt:latest_msg:k/a");
    assert_eq!(latest["qos"], "0");
    assert_eq!(latest["from"], "test");
    assert_eq!(latest["topic"], "k/a");
    assert_eq!(latest.len(), 7);
    let ttl: i64 = redis.ttl("mqtt:latest_msg:k/a").unwrap();
    assert!((3590..=3600).contains(&ttl), "TTL {ttl}");

    let mut c1 = client(&setup.broker, "c1").await;
    c1.subscribe("k/a", QoS::AtLeastOnce).await;
    let message = c1.recv_publish().await;
    assert_eq!(message.payload.as_ref(), b"k2");
    // Stored at QoS 0, delivered at QoS 0: nothing to ack, the key stays.
    assert_eq!(message.qos, QoS::AtMostOnce);
    c1.expect_silence(SILENCE).await;

    send(&mut test, "k/b", b"acked", QoS::AtLeastOnce, false).await;
    wait_key(&mut redis, "mqtt:latest_msg:k/b");
    let mut c2 = client(&setup.broker, "c2").await;
    c2.subscribe("k/b", QoS::AtLeastOnce).await;
    assert_eq!(receive(&mut c2).await.payload.as_ref(), b"acked");
    wait_no_key(&mut redis, "mqtt:latest_msg:k/b");
    assert!(redis.exists::<_, bool>("mqtt:latest_msg:k/a").unwrap());
}

#[tokio::test]
async fn subscribe_lookup_subscribes_from_the_sub_hash_without_suback() {
    let redis_server = mqhost_tests::redis::RedisServer::start();
    let config = config_for(
        &redis_server.addr(),
        &function("session.created", 1, "on_subscribe_lookup", None),
    );
    // The broker's own retained store delivers retained messages for the
    // subscriptions, as for a SUBSCRIBE.
    let dirs = mqhost_tests::plugins::PluginDirs::new();
    dirs.install(&mqhost_tests::plugins::workspace_library("mqhost-redis"));
    dirs.write_config("redis", &config);
    let broker = mqhost_tests::Broker::start_with_plugins(&dirs, &[]);
    assert!(broker.wait_for_log("plugin started", WAIT).is_some());
    let mut redis = redis_server.client();
    let _: () = redis.hset("mqtt:sub:test", "topic1", 1).unwrap();
    let _: () = redis.hset("mqtt:sub:test", "topic2", 2).unwrap();
    let mut publisher = client(&broker, "pub").await;
    send(
        &mut publisher,
        "topic2",
        b"retained",
        QoS::AtLeastOnce,
        true,
    )
    .await;

    let mut test = client(&broker, "test").await;
    let retained = test.recv_publish().await;
    assert_eq!(
        (
            retained.topic.as_str(),
            retained.payload.as_ref(),
            retained.retain
        ),
        ("topic2", b"retained".as_ref(), true)
    );
    test.puback(retained.packet_id).await;
    // topic1 was subscribed before topic2 (filters in order), so it is in
    // place: a live message arrives at QoS 1, and no SUBACK ever came.
    send(&mut publisher, "topic1", b"live", QoS::AtLeastOnce, false).await;
    let live = test.recv_publish().await;
    assert_eq!(
        (live.topic.as_str(), live.payload.as_ref(), live.qos),
        ("topic1", b"live".as_ref(), QoS::AtLeastOnce)
    );
    assert_eq!(hash(&mut redis, "mqtt:sub:test").len(), 2);
}
