//! The `auth_redis` plugin against real Redis and real clients: users
//! hashed every way EMQX 4 hashes them, superusers, ACLs of both EMQX
//! versions, a slow and a stopped Redis, reload, a cluster. Each test
//! starts its own `redis-server` (or cluster) on private ports and its
//! own broker.
//!
//! Stored hashes are fixed values computed once by implementations other
//! than the plugin's: Python's hashlib and the Python bcrypt package (the
//! plugin's `testdata/make_hash_vectors.py` makes them all).

mod acl;
mod cluster;
mod login;
mod outage;
mod reload;
mod topology;

use std::time::Duration;

use mqhost_codec::ProtocolVersion;
use mqhost_tests::plugins::{workspace_library, PluginDirs};
use mqhost_tests::raw::{connack_code, login, RawClient};
use mqhost_tests::redis::RedisServer;
use mqhost_tests::Broker;
use redis::Commands;

/// How long a log line or an answer may take.
pub const WAIT: Duration = Duration::from_secs(10);

/// The password every test user has.
pub const PASSWORD: &str = "public";

/// A broker with the plugin, and the Redis it reads.
pub struct Setup {
    pub redis: RedisServer,
    pub dirs: PluginDirs,
    pub broker: Broker,
}

/// The plugin's file: `auth.redis.server` on `server`, then `keys`.
pub fn config_for(server: &str, keys: &str) -> String {
    format!("auth.redis.server = {server}\n{keys}")
}

/// Starts Redis and a broker whose plugin reads it with `keys`, and the
/// broker's `sets`.
pub fn start(keys: &str, sets: &[(&str, &str)]) -> Setup {
    let redis = RedisServer::start();
    let (dirs, broker) = start_broker(&config_for(&redis.addr(), keys), sets);
    Setup {
        redis,
        dirs,
        broker,
    }
}

/// A broker with the plugin and this whole configuration text, started
/// once the plugin runs.
pub fn start_broker(config: &str, sets: &[(&str, &str)]) -> (PluginDirs, Broker) {
    let dirs = PluginDirs::new();
    dirs.install(&workspace_library("mqhost-auth-redis"));
    dirs.write_config("auth_redis", config);
    let broker = Broker::start_with_plugins(&dirs, sets);
    assert!(
        broker.wait_for_log("plugin started", WAIT).is_some(),
        "the auth_redis plugin did not start:\n{}",
        broker.logs().join("\n")
    );
    (dirs, broker)
}

/// Stores a user as EMQX 4 does: `mqtt_user:<user>` with `password` and,
/// when given, `salt`.
pub fn add_user(
    conn: &mut impl redis::ConnectionLike,
    user: &str,
    stored: &str,
    salt: Option<&str>,
) {
    let key = format!("mqtt_user:{user}");
    let _: () = conn.hset(&key, "password", stored).unwrap();
    if let Some(salt) = salt {
        let _: () = conn.hset(&key, "salt", salt).unwrap();
    }
}

/// Marks a stored user a superuser, EMQX 4's way (`is_superuser`).
pub fn set_superuser(conn: &mut impl redis::ConnectionLike, user: &str, value: &str) {
    let _: () = conn
        .hset(format!("mqtt_user:{user}"), "is_superuser", value)
        .unwrap();
}

/// Stores ACL rules: `mqtt_acl:<user>` with each filter and its value.
pub fn add_rules(conn: &mut impl redis::ConnectionLike, user: &str, rules: &[(&str, &str)]) {
    let _: () = conn
        .hset_multiple(format!("mqtt_acl:{user}"), rules)
        .unwrap();
}

/// The CONNACK code for `user` with `password`: the 5.0 reason code, or
/// the 3.1.1 return code as on the wire.
pub async fn code(
    broker: &Broker,
    version: ProtocolVersion,
    user: Option<&str>,
    password: Option<&str>,
) -> u8 {
    connack_code(broker.addr(), login(version, "code", user, password)).await
}

/// A client logged in as `user` with [`PASSWORD`], accepted.
pub async fn user(broker: &Broker, version: ProtocolVersion, id: &str, user: &str) -> RawClient {
    let (client, ack) = RawClient::connect_with(
        broker.addr(),
        login(version, id, Some(user), Some(PASSWORD)),
    )
    .await;
    assert_eq!(ack.reason, 0, "{user} refused");
    client
}

/// The plugin's stats, from the admin API.
pub async fn plugin_stats(broker: &Broker) -> serde_json::Value {
    let (status, body) = broker.admin_request("GET", "/api/v1/plugins").await;
    assert_eq!(status, 200, "{body}");
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    list["plugins"]
        .as_array()
        .and_then(|l| l.iter().find(|p| p["name"] == "auth_redis"))
        .map(|p| p["stats"].clone())
        .unwrap_or_else(|| panic!("no auth_redis plugin in {body}"))
}

/// 5.0 and 3.1.1 codes for the same outcome.
#[derive(Debug, Clone, Copy)]
pub struct Codes {
    pub version: ProtocolVersion,
    pub bad_credentials: u8,
    pub not_authorized: u8,
    pub suback_refused: u8,
}

/// Each protocol with its refusal codes.
pub const VERSIONS: [Codes; 2] = [
    Codes {
        version: ProtocolVersion::V3_1_1,
        bad_credentials: 4,
        not_authorized: 5,
        suback_refused: 0x80,
    },
    Codes {
        version: ProtocolVersion::V5,
        bad_credentials: 0x86,
        not_authorized: 0x87,
        suback_refused: 0x87,
    },
];

/// Polls `check` every 20 ms until it is true or [`WAIT`] passes.
pub async fn eventually<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
