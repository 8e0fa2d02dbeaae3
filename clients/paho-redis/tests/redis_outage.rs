//! A Redis that goes away for a while: writes made meanwhile are held in
//! memory (up to a limit) and written when it is back, reads fail with a
//! persistence error, nothing panics; a frozen Redis costs one timeout per
//! retry interval; a Paho client with the store keeps publishing through
//! it all.

mod support;

use std::time::{Duration, Instant};

use mqhost_tests::Broker;
use paho_mqtt as mqtt;
use paho_mqtt::ClientPersistence;
use support::{RedisServer, Subscriber};

#[test]
fn a_redis_restarted_between_calls_is_not_noticed() {
    let mut redis = RedisServer::tcp();
    let mut store = redis.builder().build().unwrap();
    store.open("gw", "127.0.0.1:1883").unwrap();
    store.put("s-1", vec![b"before"]).unwrap();

    redis.stop();
    redis.restart();
    // The old connection is dead; the store finds out, reconnects and
    // sends the command again within the same call.
    store
        .put("s-2", vec![b"after"])
        .expect("put after a restart");
    assert_eq!(store.get("s-2").unwrap(), b"after");
}

#[test]
fn writes_made_while_redis_is_down_are_held_and_written_when_it_is_back() {
    for mut redis in [RedisServer::tcp(), RedisServer::unix()] {
        let mut store = redis.builder().build().unwrap();
        store.open("gw", "127.0.0.1:1883").unwrap();
        store.put("s-1", vec![b"before"]).unwrap();
        store.put("s-2", vec![b"before"]).unwrap();

        redis.stop();
        // Writes succeed: Paho never sees the outage on its hot path.
        store
            .put("s-3", vec![b"during"])
            .expect("put while Redis is down");
        store.put("s-3", vec![b"during, newer"]).unwrap();
        store.remove("s-1").expect("remove while Redis is down");
        assert_eq!(store.held_writes(), 2);
        // Reads cannot be answered without Redis.
        assert!(matches!(
            store.get("s-2"),
            Err(paho_mqtt::Error::PersistenceError)
        ));
        assert!(store.keys().is_err());
        let error = store.len().unwrap_err();
        assert!(error.is_connection_error(), "{error}");
        // Unknown to C means absent.
        assert!(store.contains_key("s-2"));

        // The server comes back empty (no RDB, no AOF): what it gets is
        // what was held.
        redis.restart();
        let mut keys = store.keys().expect("keys once Redis is back");
        keys.sort();
        assert_eq!(keys, ["s-3"]);
        assert_eq!(store.held_writes(), 0);
        assert_eq!(store.get("s-3").unwrap(), b"during, newer");
    }
}

#[test]
fn with_no_room_for_held_writes_every_write_fails_while_redis_is_down() {
    let mut redis = RedisServer::tcp();
    let mut store = redis.builder().max_held_writes(0).build().unwrap();
    store.open("gw", "127.0.0.1:1883").unwrap();
    redis.stop();
    assert!(matches!(
        store.put("s-1", vec![b"x"]),
        Err(paho_mqtt::Error::PersistenceError)
    ));
    assert!(store.remove("s-1").is_err());
    assert!(store.clear().is_err());
    assert_eq!(store.held_writes(), 0);
    redis.restart();
    store
        .put("s-1", vec![b"x"])
        .expect("put once Redis is back");
    assert_eq!(store.len().unwrap(), 1);
}

#[test]
fn past_the_most_held_writes_new_keys_fail_and_held_keys_still_update() {
    let mut redis = RedisServer::tcp();
    let mut store = redis.builder().max_held_writes(2).build().unwrap();
    store.open("gw", "127.0.0.1:1883").unwrap();
    redis.stop();
    store.put("s-1", vec![b"1"]).unwrap();
    store.put("s-2", vec![b"2"]).unwrap();
    assert!(store.put("s-3", vec![b"3"]).is_err());
    store
        .put("s-1", vec![b"1, newer"])
        .expect("a held key takes a newer write");
    redis.restart();
    store.flush().expect("flush once Redis is back");
    assert_eq!(redis.fields("paho:gw:127.0.0.1:1883"), ["s-1", "s-2"]);
    assert_eq!(store.get("s-1").unwrap(), b"1, newer");
}

#[test]
fn a_frozen_redis_costs_one_timeout_per_retry_interval() {
    let redis = RedisServer::tcp();
    let timeout = Duration::from_millis(300);
    let mut store = redis.builder().timeout(timeout).build().unwrap();
    store.open("gw", "127.0.0.1:1883").unwrap();
    store.put("s-1", vec![b"x"]).unwrap();

    redis.pause();
    let started = Instant::now();
    store.put("s-2", vec![b"y"]).expect("held");
    let first = started.elapsed();
    assert!(
        first >= timeout && first < timeout * 3,
        "the first write on a frozen Redis took {first:?} (timeout {timeout:?})"
    );
    let started = Instant::now();
    for n in 3..10 {
        store.put(&format!("s-{n}"), vec![b"z"]).expect("held");
    }
    let rest = started.elapsed();
    assert!(
        rest < timeout,
        "writes within the retry interval waited for Redis: {rest:?}"
    );

    redis.resume();
    // The store's own timer: Redis is tried again once this has passed.
    std::thread::sleep(mqhost_paho_redis::RETRY_INTERVAL);
    // The next write is due to try Redis again, and takes the held ones
    // along.
    store.put("s-10", vec![b"z"]).unwrap();
    assert_eq!(store.held_writes(), 0);
    assert_eq!(store.len().unwrap(), 10);
}

#[test]
fn a_paho_client_keeps_publishing_through_a_redis_outage() {
    let mut redis = RedisServer::unix();
    let broker = Broker::start();
    let subscriber = Subscriber::connect(broker.addr(), "outage/#");
    let uri = format!("tcp://{}", broker.addr());
    let client = mqtt::AsyncClient::new(
        mqtt::CreateOptionsBuilder::new_v3()
            .server_uri(&uri)
            .client_id("gw-outage")
            .user_persistence(redis.builder().build().unwrap())
            .finalize(),
    )
    .expect("create the client");
    client
        .connect(
            mqtt::ConnectOptionsBuilder::new_v3()
                .clean_session(false)
                .finalize(),
        )
        .wait()
        .expect("connect");
    let publish = |payload: &str, qos| {
        client
            .publish(mqtt::Message::new("outage/t", payload, qos))
            .wait_for(Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("publish {payload}: {e}"));
    };
    publish("before", mqtt::QOS_1);

    redis.stop();
    publish("during-1", mqtt::QOS_1);
    publish("during-2", mqtt::QOS_2);
    redis.restart();
    publish("after-1", mqtt::QOS_1);
    // The store's own timer: Redis is tried again once this has passed.
    std::thread::sleep(mqhost_paho_redis::RETRY_INTERVAL);
    publish("after-2", mqtt::QOS_2);

    let expected = ["before", "during-1", "during-2", "after-1", "after-2"].map(String::from);
    assert!(
        subscriber.wait_for_all(&expected, Duration::from_secs(10)),
        "the subscriber got {:?}",
        subscriber.received()
    );
    assert!(subscriber.received().values().all(|&n| n == 1));
    client.disconnect(None).wait().expect("disconnect");
    drop(client);
    let hash = format!("paho:gw-outage:{}", broker.addr());
    let hlen: usize = redis.query(redis::cmd("HLEN").arg(&hash));
    assert_eq!(hlen, 0, "records left: {:?}", redis.fields(&hash));
}
