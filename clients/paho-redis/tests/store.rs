//! The store on its own, against a real redis-server: the mapping of
//! Paho's callbacks onto one hash, naming, prefix, database, password,
//! configuration errors, and what the C library reads from `contains_key`
//! through paho-mqtt's bridge.

mod support;

use mqhost_paho_redis::{Error, RedisPersistence};
use paho_mqtt::ClientPersistence;
use support::RedisServer;

/// The hash a store names for client `gw` of `tcp://127.0.0.1:1883`.
const HASH: &str = "paho:gw:127.0.0.1:1883";

fn hget(redis: &RedisServer, hash: &str, key: &str) -> Option<Vec<u8>> {
    redis.query(redis::cmd("HGET").arg(hash).arg(key))
}

fn exercise_every_callback(redis: &RedisServer) {
    let mut store = redis.builder().build().expect("valid configuration");
    store.open("gw", "tcp://127.0.0.1:1883").expect("open");
    assert_eq!(store.hash_name(), Some(HASH));

    // put: HSET, the buffers joined.
    store
        .put("s-1", vec![b"\x32\x1a".as_slice(), b"topic", b"payload"])
        .expect("put");
    assert_eq!(
        hget(redis, HASH, "s-1").as_deref(),
        Some(b"\x32\x1atopicpayload".as_slice())
    );
    store.put("sc-1", vec![b"\x62\x02\x00\x01"]).expect("put");
    // put over an existing key replaces it.
    store
        .put("sc-1", vec![b"\x62\x02", b"\x00\x01"])
        .expect("put");

    // get: HGET; a missing key is an error.
    assert_eq!(store.get("s-1").expect("get"), b"\x32\x1atopicpayload");
    assert!(matches!(
        store.get("s-404"),
        Err(paho_mqtt::Error::PersistenceError)
    ));

    // keys: HKEYS.
    let mut keys = store.keys().expect("keys");
    keys.sort();
    assert_eq!(keys, ["s-1", "sc-1"]);

    // contains: HEXISTS.
    assert!(store.contains("s-1").expect("contains"));
    assert!(!store.contains("s-404").expect("contains"));

    // remove: HDEL; removing again is fine.
    store.remove("s-1").expect("remove");
    store.remove("s-1").expect("remove an absent key");
    assert_eq!(store.keys().expect("keys"), ["sc-1"]);
    assert_eq!(store.len().expect("len"), 1);

    // clear: DEL of the whole hash.
    store.clear().expect("clear");
    let exists: bool = redis.query(redis::cmd("EXISTS").arg(HASH));
    assert!(!exists);
    assert!(store.is_empty().expect("is_empty"));

    // close keeps the data for the next process.
    store.put("s-2", vec![b"kept"]).expect("put");
    store.close().expect("close");
    assert_eq!(
        hget(redis, HASH, "s-2").as_deref(),
        Some(b"kept".as_slice())
    );
    let mut next = redis.builder().build().expect("valid configuration");
    next.open("gw", "127.0.0.1:1883").expect("open");
    assert_eq!(next.get("s-2").expect("get"), b"kept");
}

#[test]
fn callbacks_map_onto_one_redis_hash_over_tcp() {
    exercise_every_callback(&RedisServer::tcp());
}

#[test]
fn callbacks_map_onto_one_redis_hash_over_a_unix_socket() {
    exercise_every_callback(&RedisServer::unix());
}

#[test]
fn each_client_and_server_has_its_own_hash() {
    let redis = RedisServer::tcp();
    let mut a = redis.builder().build().unwrap();
    let mut b = redis.builder().build().unwrap();
    let mut c = redis.builder().prefix("site-3/").build().unwrap();
    a.open("gw-a", "tcp://broker:1883").unwrap();
    b.open("gw-a", "tcp://other:1883").unwrap();
    c.open("gw-a", "tcp://broker:1883").unwrap();
    assert_eq!(a.hash_name(), Some("paho:gw-a:broker:1883"));
    assert_eq!(b.hash_name(), Some("paho:gw-a:other:1883"));
    assert_eq!(c.hash_name(), Some("site-3/gw-a:broker:1883"));
    a.put("s-1", vec![b"a"]).unwrap();
    b.put("s-1", vec![b"b"]).unwrap();
    c.put("s-1", vec![b"c"]).unwrap();
    assert_eq!(a.get("s-1").unwrap(), b"a");
    assert_eq!(b.get("s-1").unwrap(), b"b");
    assert_eq!(c.get("s-1").unwrap(), b"c");
    a.clear().unwrap();
    assert_eq!(b.len().unwrap(), 1);
    assert_eq!(c.len().unwrap(), 1);
}

#[test]
fn the_database_comes_from_the_builder_or_the_url() {
    let redis = RedisServer::tcp();
    let port = redis.port().unwrap();
    let in_db = |db: i64| -> bool {
        let mut conn = redis::Client::open(format!("redis://127.0.0.1:{port}/{db}").as_str())
            .unwrap()
            .get_connection()
            .unwrap();
        redis::cmd("EXISTS").arg(HASH).query(&mut conn).unwrap()
    };

    let mut store = redis.builder().database(3).build().unwrap();
    store.open("gw", "127.0.0.1:1883").unwrap();
    store.put("s-1", vec![b"x"]).unwrap();
    assert!(in_db(3) && !in_db(0));
    store.clear().unwrap();

    let url = format!("redis://127.0.0.1:{port}/4");
    let mut store = RedisPersistence::builder().url(&url).build().unwrap();
    store.open("gw", "127.0.0.1:1883").unwrap();
    store.put("s-1", vec![b"x"]).unwrap();
    assert!(in_db(4) && !in_db(0));

    // The builder's database wins over the URL's, whatever the order.
    let mut store = RedisPersistence::builder()
        .database(5)
        .url(&url)
        .build()
        .unwrap();
    store.open("gw", "127.0.0.1:1883").unwrap();
    store.put("s-1", vec![b"x"]).unwrap();
    assert!(in_db(5));
}

#[test]
fn a_password_is_sent_and_a_wrong_one_fails_open_without_panicking() {
    let redis = RedisServer::tcp_with_password("s3cret");

    let mut store = redis.builder().password("s3cret").build().unwrap();
    store.open("gw", "127.0.0.1:1883").expect("right password");
    store.put("s-1", vec![b"x"]).unwrap();

    let mut store = RedisPersistence::builder()
        .url(redis.url())
        .build()
        .unwrap();
    store
        .open("gw", "127.0.0.1:1883")
        .expect("password in the URL");
    assert_eq!(store.get("s-1").unwrap(), b"x");

    for mut store in [
        redis.builder().password("wrong").build().unwrap(),
        redis.builder().build().unwrap(),
    ] {
        assert!(matches!(
            store.open("gw", "127.0.0.1:1883"),
            Err(paho_mqtt::Error::PersistenceError)
        ));
        let error = store.len().unwrap_err();
        assert!(matches!(error, Error::Redis { .. }), "{error}");
    }
}

#[test]
fn a_password_reaches_redis_over_a_unix_socket_too() {
    let redis = RedisServer::unix();
    let mut conn = redis.connection().unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg("s3cret")
        .query(&mut conn)
        .unwrap();
    let mut without = redis.builder().build().unwrap();
    assert!(without.open("gw", "127.0.0.1:1883").is_err());
    let mut with = redis.builder().password("s3cret").build().unwrap();
    with.open("gw", "127.0.0.1:1883").expect("right password");
    with.put("s-1", vec![b"x"]).unwrap();
}

#[test]
fn bad_addresses_are_configuration_errors() {
    for url in ["not a url", "http://127.0.0.1/", "rediss://127.0.0.1:6380/"] {
        let error = RedisPersistence::builder().url(url).build().unwrap_err();
        assert!(matches!(error, Error::Config { .. }), "{url}: {error}");
        assert!(error.to_string().contains(url), "{error}");
    }
}

#[test]
fn a_store_used_before_open_fails_cleanly() {
    let mut store = RedisPersistence::builder().build().unwrap();
    assert!(matches!(
        store.put("s-1", vec![b"x"]),
        Err(paho_mqtt::Error::PersistenceError)
    ));
    assert!(matches!(
        store.len(),
        Err(Error::NotOpen { command: "HLEN" })
    ));
    // contains_key cannot report an error: C must read it as absent.
    assert!(store.contains_key("s-1"));
}

#[test]
fn an_unreachable_redis_fails_open_with_the_address_in_the_error() {
    let port = mqhost_tests::redis::free_port(false);
    let mut store = RedisPersistence::builder()
        .tcp("127.0.0.1", port)
        .build()
        .unwrap();
    assert!(store.open("gw", "127.0.0.1:1883").is_err());
    let error = store.len().unwrap_err();
    assert!(error.is_connection_error(), "{error}");
    let text = error.to_string();
    assert!(
        text.contains(&format!("127.0.0.1:{port}")) && text.contains(HASH),
        "{text}"
    );
}

/// The store's `contains_key` answer goes through paho-mqtt's own bridge
/// (`UserPersistence::on_contains_key`, what the C library calls), and the
/// C library reads 0 as "present" and anything else as "absent"
/// (`Persistence_containskey` in MQTTClientPersistence.h). If a paho-mqtt
/// release stops inverting the answer, this fails: the store must then
/// answer plainly again.
#[test]
fn bridge_reports_presence_to_paho_c_as_zero() {
    use std::ffi::{c_char, c_void, CString};

    let redis = RedisServer::tcp();
    let mut store = redis.builder().build().unwrap();
    store.open("gw", "127.0.0.1:1883").unwrap();
    store.put("sc-7", vec![b"\x62\x02\x00\x07"]).unwrap();

    // The same boxing as paho_mqtt::UserPersistence::new: the handle the C
    // library passes back is a pointer to the inner box.
    let mut boxed: Box<Box<dyn ClientPersistence + Send>> = Box::new(Box::new(store));
    let handle = &mut *boxed as *mut Box<dyn ClientPersistence + Send> as *mut c_void;
    let ask = |key: &str| {
        let key = CString::new(key).unwrap();
        // SAFETY: `handle` points at a live Box<dyn ClientPersistence>
        // (`boxed` outlives the call) and `key` is a NUL-terminated string
        // that outlives the call; the callback only reads it.
        unsafe { paho_mqtt::UserPersistence::on_contains_key(handle, key.as_ptr() as *mut c_char) }
    };
    assert_eq!(ask("sc-7"), 0, "C must read a present key as present");
    assert_ne!(ask("sc-8"), 0, "C must read an absent key as absent");
    drop(boxed);
}
