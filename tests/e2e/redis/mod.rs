//! The Redis backend plugin against real Redis: every function, every
//! placeholder, the SUB/UNSUB channel, the mosquitto compatibility mode,
//! reload, outages, sentinel and cluster. Each test starts its own
//! `redis-server` (or topology) on private ports and its own broker.

mod backlog;
mod channel;
mod cluster;
mod commands;
mod compat;
mod config;
mod functions;
mod hardening;
mod outage;
mod perf;
mod reload;
mod sentinel;

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mqhost_codec::{Packet, ProtocolVersion, Publish, QoS};
use mqhost_tests::certs::TestCerts;
use mqhost_tests::plugins::{workspace_library, PluginDirs};
use mqhost_tests::raw::{publish, RawClient};
use mqhost_tests::redis::{wait_until, RedisServer};
use mqhost_tests::Broker;
use redis::Commands;

/// How long a key may take to reach Redis.
pub const WAIT: Duration = Duration::from_secs(5);

/// A broker with the redis plugin, and the Redis it writes to.
pub struct Setup {
    pub redis: RedisServer,
    pub dirs: PluginDirs,
    pub broker: Broker,
}

/// Node name of the test brokers (it appears in `mqtt:node:*`).
pub const NODE: &str = "mqhost@127.0.0.1";

/// Plugin configuration: `{server}` becomes the Redis address. A pool
/// `pool1` on that server comes first; `rules` follow.
pub fn config_for(server: &str, rules: &str) -> String {
    format!(
        "backend.redis.pool1.server = {server}\n{}",
        rules.replace("{server}", server)
    )
}

/// `backend.redis.pool1.ssl` and the files of `certs`, as config lines.
pub fn tls_settings(certs: &TestCerts) -> String {
    format!(
        "backend.redis.pool1.ssl = on\n\
         backend.redis.pool1.cafile = {}\n\
         backend.redis.pool1.certfile = {}\n\
         backend.redis.pool1.keyfile = {}\n",
        certs.ca.display(),
        certs.client_cert.display(),
        certs.client_key.display(),
    )
}

/// Starts Redis and a broker whose plugin has `rules` (see
/// [`config_for`]). The broker's own retained store is off, as it is
/// when Redis keeps retained messages.
pub fn start(rules: &str) -> Setup {
    start_with_settings(rules, &[])
}

/// [`start`], with these broker settings too.
pub fn start_with_settings(rules: &str, settings: &[(&str, &str)]) -> Setup {
    let redis = RedisServer::start();
    let (dirs, broker) = start_broker_with(&config_for(&redis.addr(), rules), settings);
    Setup {
        redis,
        dirs,
        broker,
    }
}

/// A broker with the plugin and this whole configuration text, started
/// once the plugin is running.
pub fn start_broker(config: &str) -> (PluginDirs, Broker) {
    start_broker_with(config, &[])
}

/// [`start_broker`], with these broker settings too.
pub fn start_broker_with(config: &str, settings: &[(&str, &str)]) -> (PluginDirs, Broker) {
    let dirs = PluginDirs::new();
    dirs.install(&workspace_library("mqhost-redis"));
    dirs.write_config("redis", config);
    let mut settings = settings.to_vec();
    settings.push(("mqtt.retainer", "off"));
    let broker = Broker::start_with_plugins(&dirs, &settings);
    assert!(
        broker
            .wait_for_log("plugin started", Duration::from_secs(10))
            .is_some(),
        "the redis plugin did not start:\n{}",
        broker.logs().join("\n")
    );
    (dirs, broker)
}

/// A rule line: `backend.redis.hook.<hook>.<n> = <json>`.
pub fn rule(hook: &str, n: u32, json: &str) -> String {
    format!("backend.redis.hook.{hook}.{n} = {json}\n")
}

/// A function rule on pool1, with an optional topic filter.
pub fn function(hook: &str, n: u32, name: &str, topic: Option<&str>) -> String {
    let topic = topic.map_or(String::new(), |t| format!("\"topic\": \"{t}\", "));
    rule(
        hook,
        n,
        &format!("{{{topic}\"action\": {{\"function\": \"{name}\"}}, \"pool\": \"pool1\"}}"),
    )
}

/// The rule that records each subscription, whoever made it, in
/// `sub:<clientid>` (topic to QoS): how a test sees a channel order or a
/// lookup take effect.
pub fn subscription_recorder(n: u32) -> String {
    rule(
        "session.subscribed",
        n,
        r#"{"action": {"commands": ["HSET sub:${clientid} ${topic} ${qos}"]}, "pool": "pool1"}"#,
    )
}

/// Rules that use pool1 in each of its roles: the writer (the client's
/// state at connect), a lookup (subscriptions from `mqtt:sub:<clientid>`
/// at session start) and the channel, all seen through
/// [`subscription_recorder`]. [`check_every_role`] checks them.
pub fn every_role() -> String {
    [
        function("client.connected", 1, "on_client_connected", None),
        function("session.created", 1, "on_subscribe_lookup", None),
        subscription_recorder(1),
    ]
    .concat()
}

/// Checks, looking through `conn`, that a pool with [`every_role`] looks
/// up, writes and listens on its channel: connects client `c1`, which the
/// caller keeps connected.
pub async fn check_every_role(broker: &Broker, conn: &mut redis::Connection) -> RawClient {
    let _: () = conn.hset("mqtt:sub:c1", "from/lookup", 1).unwrap();
    let c1 = client(broker, "c1").await;
    wait_field(conn, "mqtt:client:c1", "state", "1");
    wait_field(conn, "sub:c1", "from/lookup", "1");
    order(
        conn,
        "mqtt_channel",
        r#"{"type": "subscribe", "topic": "from/channel", "clientid": "c1"}"#,
    );
    wait_field(conn, "sub:c1", "from/channel", "0");
    c1
}

/// Unix seconds now.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Unix milliseconds now.
pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Waits until `key` exists.
pub fn wait_key(conn: &mut redis::Connection, key: &str) {
    assert!(
        wait_until(WAIT, || conn.exists::<_, bool>(key).unwrap_or(false)),
        "{key} did not appear in Redis"
    );
}

/// Waits until `key` is gone.
pub fn wait_no_key(conn: &mut redis::Connection, key: &str) {
    assert!(
        wait_until(WAIT, || !conn.exists::<_, bool>(key).unwrap_or(true)),
        "{key} is still in Redis"
    );
}

/// A hash as a map of text.
pub fn hash(conn: &mut redis::Connection, key: &str) -> HashMap<String, String> {
    conn.hgetall(key).unwrap()
}

/// Waits until `key`'s hash has `field` = `value`.
pub fn wait_field(conn: &mut redis::Connection, key: &str, field: &str, value: &str) {
    let mut last = HashMap::new();
    let ok = wait_until(WAIT, || {
        last = hash(conn, key);
        last.get(field).map(String::as_str) == Some(value)
    });
    assert!(ok, "{key}.{field} is not {value:?}: {last:?}");
}

/// Connects a 3.1.1 client with a clean session.
pub async fn client(broker: &Broker, id: &str) -> RawClient {
    RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, id).await
}

/// Publishes one message and waits for its PUBACK (QoS 1) or PUBCOMP.
pub async fn send(client: &mut RawClient, topic: &str, payload: &[u8], qos: QoS, retain: bool) {
    let mut packet = publish(topic, payload, qos, 1);
    packet.retain = retain;
    client.send(Packet::Publish(packet)).await;
    match qos {
        QoS::AtMostOnce => {}
        QoS::AtLeastOnce => match client.recv().await {
            Some(Packet::PubAck(_)) => {}
            other => panic!("expected PUBACK, got {other:?}"),
        },
        QoS::ExactlyOnce => {
            match client.recv().await {
                Some(Packet::PubRec(_)) => {}
                other => panic!("expected PUBREC, got {other:?}"),
            }
            client
                .send(Packet::PubRel(mqhost_codec::PubAck {
                    packet_id: 1,
                    reason: 0,
                    properties: Default::default(),
                }))
                .await;
            match client.recv().await {
                Some(Packet::PubComp(_)) => {}
                other => panic!("expected PUBCOMP, got {other:?}"),
            }
        }
    }
}

/// Publishes from a fresh client `from`, then disconnects it.
pub async fn publish_from(broker: &Broker, from: &str, topic: &str, payload: &[u8], qos: QoS) {
    let mut c = client(broker, from).await;
    send(&mut c, topic, payload, qos, false).await;
    c.disconnect().await;
}

/// The next PUBLISH, acknowledged if QoS 1.
pub async fn receive(client: &mut RawClient) -> Publish {
    let message = client.recv_publish().await;
    if message.qos == QoS::AtLeastOnce {
        client.puback(message.packet_id).await;
    }
    message
}

/// Payloads of the next `n` messages, acknowledged.
pub async fn receive_payloads(client: &mut RawClient, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        let message = receive(client).await;
        out.push(String::from_utf8_lossy(&message.payload).into_owned());
    }
    out
}

/// Members of a sorted set, in order.
pub fn zrange(conn: &mut redis::Connection, key: &str) -> Vec<String> {
    conn.zrange(key, 0, -1).unwrap()
}

/// The plugin's stats from the admin API (`stats` of the redis plugin in
/// `GET /api/v1/plugins`).
pub async fn plugin_stats(broker: &Broker) -> serde_json::Value {
    let (status, body) = broker.admin_request("GET", "/api/v1/plugins").await;
    assert_eq!(status, 200, "{body}");
    let body = body.as_str();
    let list: serde_json::Value = serde_json::from_str(body).unwrap();
    list["plugins"]
        .as_array()
        .and_then(|l| l.iter().find(|p| p["name"] == "redis"))
        .map(|p| p["stats"].clone())
        .unwrap_or_else(|| panic!("no redis plugin in {body}"))
}

/// The plugin's stats once `settled` holds for them, or the last ones
/// read after [`WAIT`]: counters move when Redis answers, which may be
/// after the keys a test waited for are visible. The caller's assertions
/// then say what is wrong.
pub async fn settled_stats(
    broker: &Broker,
    settled: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let stats = plugin_stats(broker).await;
        if settled(&stats) || std::time::Instant::now() >= deadline {
            return stats;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Publishes `json` on `channel` until somebody listens: the plugin's
/// channel subscription may still be starting.
pub fn order(conn: &mut redis::Connection, channel: &str, json: &str) {
    let ok = wait_until(WAIT, || {
        conn.publish::<_, _, i64>(channel, json).unwrap() > 0
    });
    assert!(ok, "nobody listens on {channel}");
}

/// Receives `count` retained messages and checks they are `prefix0` to
/// `prefix{count - 1}`, in topic order (a wildcard retained lookup sorts).
pub async fn expect_retained_topics(client: &mut RawClient, prefix: &str, count: usize) {
    let mut topics = Vec::new();
    for _ in 0..count {
        let message = client.recv_publish().await;
        assert!(message.retain);
        topics.push(message.topic);
    }
    let mut expected: Vec<String> = (0..count).map(|i| format!("{prefix}{i}")).collect();
    expected.sort();
    assert_eq!(topics, expected, "every retained topic, in topic order");
}
