//! A backlog on the message path: Redis frozen while messages on several
//! topics are stored and consumed, others only stored, with a raw command
//! rule between them. The writer joins a backlog's adds, deletes and
//! removals into few commands; Redis must end as if each message's
//! commands had gone alone, and the pool's figures must count every one.

use mqhost_codec::QoS;
use mqhost_tests::redis::wait_until;
use redis::Commands;

use super::*;

const CONSUMED_TOPICS: [&str; 3] = ["q/1", "q/2", "q/3"];
const PER_TOPIC: usize = 40;
const KEPT: usize = 20;

#[tokio::test]
async fn a_backlog_of_stored_and_consumed_messages_ends_as_each_alone_would() {
    let setup = start(&format!(
        "{}{}{}",
        rule(
            "message.publish",
            1,
            r##"{"topic": "#", "action": {"function": "on_message_publish"}, "expired_time" : 3600, "pool": "pool1"}"##,
        ),
        rule(
            "message.publish",
            2,
            r#"{"topic": "q/#", "action": {"commands": ["SET last:${topic} ${msgid}"]}, "pool": "pool1"}"#,
        ),
        function(
            "message.acked",
            1,
            "on_message_acked_for_queue",
            Some("q/#")
        ),
    ));
    let mut subscriber = client(&setup.broker, "sub").await;
    subscriber.subscribe("q/#", QoS::AtLeastOnce).await;
    let mut publisher = client(&setup.broker, "pub").await;

    setup.redis.pause();
    for i in 0..PER_TOPIC {
        for topic in CONSUMED_TOPICS {
            send(
                &mut publisher,
                topic,
                format!("{i}").as_bytes(),
                QoS::AtLeastOnce,
                false,
            )
            .await;
        }
        if i < KEPT {
            send(&mut publisher, "keep/x", b"k", QoS::AtLeastOnce, false).await;
        }
    }
    // Delivered and acked while Redis is frozen: every write waits, the
    // acks behind the stores they consume.
    let got = receive_payloads(&mut subscriber, CONSUMED_TOPICS.len() * PER_TOPIC).await;
    assert_eq!(got.len(), CONSUMED_TOPICS.len() * PER_TOPIC);
    let consumed = CONSUMED_TOPICS.len() * PER_TOPIC;
    // Per consumed message: hash, its TTL, index add, trim, index TTL, the
    // raw SET, and the ack's DEL and ZREM; per kept one the first five.
    let commands = consumed * 8 + KEPT * 5;
    // The last PUBACKs may still be on their way to the broker: wait for
    // their writes to be queued (Redis is frozen: nothing leaves).
    let stats = settled_stats(&setup.broker, |s| s["pools"]["pool1"]["queued"] == commands).await;
    let queued = stats["pools"]["pool1"]["queued"].clone();
    setup.redis.resume();
    assert_eq!(queued, commands, "all queued while Redis was frozen");
    let stats = settled_stats(&setup.broker, |s| s["pools"]["pool1"]["queued"] == 0).await;
    let pool = &stats["pools"]["pool1"];
    assert_eq!(pool["queued"], 0, "{stats}");
    assert_eq!(pool["queued_bytes"], 0, "{stats}");
    assert_eq!(pool["written"], commands, "{stats}");
    assert_eq!(pool["errors"], 0, "{stats}");

    let mut redis = setup.redis.client();
    // Consumed: neither hashes nor index entries are left.
    for topic in CONSUMED_TOPICS {
        let index = format!("mqtt:msg:{topic}");
        assert!(
            wait_until(WAIT, || !redis.exists::<_, bool>(&index).unwrap()),
            "{index}: {:?}",
            zrange(&mut redis, &index)
        );
        let last: String = redis.get(format!("last:{topic}")).unwrap();
        assert_eq!(last.len(), 22, "{last}");
        assert!(!redis.exists::<_, bool>(format!("mqtt:msg:{last}")).unwrap());
    }
    // Kept: each hash with its TTL, all of them in the index, which has a
    // TTL too; nothing else under mqtt:msg:.
    let kept = zrange(&mut redis, "mqtt:msg:keep/x");
    assert_eq!(kept.len(), KEPT, "{kept:?}");
    let mut sorted = kept.clone();
    sorted.sort();
    assert_eq!(kept, sorted);
    for id in &kept {
        let key = format!("mqtt:msg:{id}");
        let topic: String = redis.hget(&key, "topic").unwrap();
        assert_eq!(topic, "keep/x");
        let ttl: i64 = redis.ttl(&key).unwrap();
        assert!((3500..=3600).contains(&ttl), "{key}: {ttl}");
    }
    let ttl: i64 = redis.ttl("mqtt:msg:keep/x").unwrap();
    assert!((3500..=3600).contains(&ttl), "index TTL {ttl}");
    // The backlog went out joined: an add and a removal per topic, not per
    // message.
    let zadd = calls(&mut redis, "zadd");
    assert!(zadd < 20, "{zadd} ZADDs for {} messages", consumed + KEPT);
    let mut all: Vec<String> = redis.keys("mqtt:msg:*").unwrap();
    all.sort();
    let mut expected: Vec<String> = kept.iter().map(|id| format!("mqtt:msg:{id}")).collect();
    expected.push("mqtt:msg:keep/x".to_owned());
    expected.sort();
    assert_eq!(all, expected);
}

/// Calls of `command` Redis has counted.
fn calls(redis: &mut redis::Connection, command: &str) -> u64 {
    let info: String = redis::cmd("INFO").arg("commandstats").query(redis).unwrap();
    let prefix = format!("cmdstat_{command}:calls=");
    info.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}
