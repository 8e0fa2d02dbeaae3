//! The mosquitto Redis fork: its configuration lines pasted as they are,
//! the online hash `mqtt`, the `expired_at` check, and its log lines.

use std::time::Duration;

use mqhost_codec::QoS;
use mqhost_tests::redis::RedisServer;
use redis::Commands;

use super::*;

#[tokio::test]
async fn mosquitto_lines_keep_the_online_hash_with_the_seed_log_lines() {
    let redis_server = RedisServer::start_with(&["--requirepass", "doordu"]);
    // The seed's lines, mosquitto.conf style (no "=").
    let config = format!(
        "redis_host 127.0.0.1\nredis_port {}\nredis_auth doordu\n",
        redis_server.port()
    );
    let (_dirs, broker) = start_broker(&config);
    let mut redis = redis::Client::open(format!(
        "redis://:doordu@127.0.0.1:{}/",
        redis_server.port()
    ))
    .unwrap()
    .get_connection()
    .unwrap();

    let abc = client(&broker, "abc").await;
    let _def = client(&broker, "def").await;
    assert!(wait_until(WAIT, || {
        let mut keys: Vec<String> = redis.hkeys("mqtt").unwrap();
        keys.sort();
        keys == ["abc", "def"]
    }));
    let online: Vec<Option<String>> = redis::cmd("HMGET")
        .arg("mqtt")
        .arg("abc")
        .arg("def")
        .arg("ghi")
        .query(&mut redis)
        .unwrap();
    assert!(online[0].is_some() && online[1].is_some() && online[2].is_none());
    assert!(broker
        .wait_for_log("Updating client abc to online", WAIT)
        .is_some());

    abc.disconnect().await;
    assert!(wait_until(WAIT, || redis
        .hkeys::<_, Vec<String>>("mqtt")
        .unwrap()
        == ["def"]));
    assert!(broker
        .wait_for_log("Updating client abc to offline", WAIT)
        .is_some());
    assert!(
        !broker.logs().iter().any(|l| l.contains("doordu")),
        "the password appeared in the log"
    );
}

#[tokio::test]
async fn expired_messages_are_dropped_with_the_seed_log_lines() {
    let redis_server = RedisServer::start();
    let config = format!(
        "redis_host = 127.0.0.1\nredis_port = {}\n",
        redis_server.port()
    );
    let (_dirs, broker) = start_broker(&config);
    let mut sub = client(&broker, "sub").await;
    sub.subscribe("#", QoS::AtLeastOnce).await;
    let mut test = client(&broker, "test").await;

    // The seed's payload, tabs and all.
    let expired = "{\n\t\"expired_at\":\t1472023605,\n\t\"message\":\t\"hello!\"\n}";
    send(&mut test, "t", expired.as_bytes(), QoS::AtLeastOnce, false).await;
    sub.expect_silence(Duration::from_millis(300)).await;
    let line = broker
        .wait_for_log("Expire at: 1472023605, Current timestamp: ", WAIT)
        .expect("the Expire at line");
    let now: u64 = line.rsplit("Current timestamp: ").next().unwrap()[..10]
        .parse()
        .unwrap();
    assert!(now.abs_diff(now_secs()) < 5, "{line}");
    assert!(broker
        .wait_for_log("The message has already expired!", WAIT)
        .is_some());

    let fresh = format!(
        "{{\"expired_at\": {}, \"message\": \"hi\"}}",
        now_secs() + 60
    );
    send(&mut test, "t", fresh.as_bytes(), QoS::AtLeastOnce, false).await;
    assert_eq!(receive(&mut sub).await.payload.as_ref(), fresh.as_bytes());
    send(&mut test, "t", b"not json", QoS::AtLeastOnce, false).await;
    assert_eq!(receive(&mut sub).await.payload.as_ref(), b"not json");
    assert_eq!(broker.count_logs("The message has already expired!"), 1);
}
