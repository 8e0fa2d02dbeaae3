//! A sentinel pool: the master is found through the sentinels, writes and
//! the channel follow a failover, and nothing queued meanwhile is lost;
//! the same over TLS, sentinels and data nodes alike.

use std::time::Duration;

use mqhost_codec::{Packet, ProtocolVersion, QoS};
use mqhost_tests::raw::{publish, RawClient};
use mqhost_tests::redis::{free_port, RedisSentinel, RedisServer, MASTER_NAME};
use redis::Commands;

use super::*;

/// A sentinel pool on the sentinel at `sentinel`, then `rules`. A
/// sentinel that is not there comes first: the list is tried in turn.
fn sentinel_config(sentinel: &str, rules: &str) -> String {
    format!(
        "backend.redis.pool1.type = sentinel\n\
         backend.redis.pool1.server = 127.0.0.1:{},{sentinel}\n\
         backend.redis.pool1.sentinel = {MASTER_NAME}\n\
         {rules}",
        free_port(false),
    )
}

#[tokio::test]
async fn a_sentinel_pool_writes_to_the_master_and_follows_a_failover() {
    let mut topology = RedisSentinel::start();
    let config = sentinel_config(
        &topology.sentinel.addr(),
        &[
            function("message.publish", 1, "on_message_publish", Some("#")),
            subscription_recorder(1),
        ]
        .concat(),
    );
    let (_dirs, broker) = start_broker(&config);
    let master_port = topology.master.port();
    assert!(broker
        .wait_for_log(
            &format!(
                "listening for SUB/UNSUB orders on channel mqtt_channel at 127.0.0.1:{master_port}"
            ),
            WAIT
        )
        .is_some());

    let mut publisher = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "pub").await;
    let mut count: u32 = 0;
    let send_one = |count: &mut u32| {
        *count += 1;
        Packet::Publish(publish("s/t", &count.to_be_bytes(), QoS::AtLeastOnce, 1))
    };
    for _ in 0..20 {
        publisher.send(send_one(&mut count)).await;
        assert!(matches!(publisher.recv().await, Some(Packet::PubAck(_))));
    }
    let mut master = topology.master.client();
    assert!(wait_until(WAIT, || master
        .zcard::<_, u32>("mqtt:msg:s/t")
        .unwrap()
        == 20));
    // The channel works through the sentinel's master.
    let _watcher = client(&broker, "watcher").await;
    order(
        &mut master,
        "mqtt_channel",
        r#"{"type": "subscribe", "topic": "before", "clientid": "watcher"}"#,
    );
    wait_field(&mut master, "sub:watcher", "before", "0");
    // What the old master acknowledged is on the replica before it dies.
    let mut replica = topology.replica.client();
    assert!(wait_until(WAIT, || replica
        .zcard::<_, u32>("mqtt:msg:s/t")
        .unwrap()
        == 20));

    topology.master.kill();
    // Keep publishing through the failover.
    let promoted = topology.replica.port();
    let mut failed_over = false;
    for _ in 0..400 {
        publisher.send(send_one(&mut count)).await;
        assert!(matches!(publisher.recv().await, Some(Packet::PubAck(_))));
        tokio::time::sleep(Duration::from_millis(20)).await;
        if topology.current_master_port() == Some(promoted) {
            failed_over = true;
            break;
        }
    }
    assert!(failed_over, "the sentinel did not promote the replica");
    for _ in 0..20 {
        publisher.send(send_one(&mut count)).await;
        assert!(matches!(publisher.recv().await, Some(Packet::PubAck(_))));
    }

    let ok = wait_until(Duration::from_secs(20), || {
        {
            // The sentinel closes client connections of a promoted replica.
            let mut conn = topology.replica.client();
            conn.zcard::<_, u32>("mqtt:msg:s/t").unwrap_or(0) == count
        }
    });
    let mut replica = topology.replica.client();
    assert!(
        ok,
        "{} of {count} messages on the new master",
        replica.zcard::<_, u32>("mqtt:msg:s/t").unwrap_or(0)
    );
    assert!(broker
        .wait_for_log(&format!("connected to 127.0.0.1:{promoted} after"), WAIT)
        .is_some());
    // And the channel followed the master.
    assert!(broker
        .wait_for_log(
            &format!(
                "listening for SUB/UNSUB orders on channel mqtt_channel at 127.0.0.1:{promoted}"
            ),
            Duration::from_secs(10)
        )
        .is_some());
    order(
        &mut replica,
        "mqtt_channel",
        r#"{"type": "subscribe", "topic": "after", "clientid": "watcher"}"#,
    );
    wait_field(&mut replica, "sub:watcher", "after", "0");
}

/// How many clients other than replicas (flag `S`) and sentinels (named
/// `sentinel-*`) are connected to `server`'s port `port`.
fn plugin_connections(server: &RedisServer, port: u16) -> (usize, String) {
    let mut conn = server.client();
    let clients: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query(&mut conn)
        .unwrap_or_default();
    let count = clients
        .lines()
        .filter(|l| l.contains(&format!("laddr=127.0.0.1:{port} ")))
        .filter(|l| {
            let field = |name: &str| {
                l.split(' ')
                    .find_map(|f| f.strip_prefix(name))
                    .unwrap_or("")
                    .to_owned()
            };
            !field("flags=").contains('S') && !field("name=").starts_with("sentinel-")
        })
        .count();
    (count, clients)
}

#[tokio::test]
async fn a_tls_sentinel_pool_writes_reads_and_listens_over_tls_and_follows_a_failover() {
    let certs = TestCerts::generate();
    let mut topology = RedisSentinel::start_tls(&certs);
    let master_tls = topology.master.tls_port().unwrap();
    let replica_tls = topology.replica.tls_port().unwrap();
    // The sentinel names the TLS ports, the only ones the plugin may use.
    assert_eq!(topology.current_master_port(), Some(master_tls));
    // The plugin knows the sentinel by its TLS port only.
    let config = sentinel_config(
        &topology.sentinel.tls_addr(),
        &[
            tls_settings(&certs),
            function("message.publish", 1, "on_message_publish", Some("#")),
            every_role(),
        ]
        .concat(),
    );
    let (_dirs, broker) = start_broker(&config);
    assert!(broker
        .wait_for_log(
            &format!(
                "listening for SUB/UNSUB orders on channel mqtt_channel at 127.0.0.1:{master_tls}"
            ),
            WAIT
        )
        .is_some());

    // The test looks through the master's plain port.
    let mut master = topology.master.client();
    // A lookup reads, the writer writes and the channel listens over
    // TLS...
    let _c1 = check_every_role(&broker, &mut master).await;
    // The writer connects at its first write.
    assert!(
        broker
            .wait_for_log(
                &format!("pool pool1: connected to 127.0.0.1:{master_tls}"),
                WAIT
            )
            .is_some(),
        "the writer did not connect to the master's TLS port:\n{}",
        broker.logs().join("\n")
    );
    // ... and a QoS 1 publish makes exactly its two keys.
    let mut publisher = client(&broker, "pub").await;
    send(&mut publisher, "s/t", b"over tls", QoS::AtLeastOnce, false).await;
    assert!(wait_until(WAIT, || master
        .zcard::<_, u32>("mqtt:msg:s/t")
        .unwrap()
        == 1));
    let ids: Vec<String> = master.zrange("mqtt:msg:s/t", 0, -1).unwrap();
    let mut keys: Vec<String> = master.keys("mqtt:msg:*").unwrap();
    keys.sort();
    let mut expected = vec![format!("mqtt:msg:{}", ids[0]), "mqtt:msg:s/t".to_owned()];
    expected.sort();
    assert_eq!(keys, expected);
    let stored = hash(&mut master, &format!("mqtt:msg:{}", ids[0]));
    let mut fields: Vec<&str> = stored.keys().map(String::as_str).collect();
    fields.sort();
    assert_eq!(
        fields,
        ["from", "id", "payload", "qos", "retain", "topic", "ts"]
    );
    assert_eq!(stored["id"], ids[0]);
    assert_eq!(stored["from"], "pub");
    assert_eq!(stored["qos"], "1");
    assert_eq!(stored["topic"], "s/t");
    assert_eq!(stored["retain"], "false");
    assert_eq!(stored["payload"], "over tls");
    assert!(
        master
            .ttl::<_, i64>(format!("mqtt:msg:{}", ids[0]))
            .unwrap()
            > 0
    );
    // Writer, lookups and channel: three connections, all on the master's
    // TLS port (besides the replica's and the sentinel's links).
    let mut last = (0, String::new());
    let three = wait_until(WAIT, || {
        last = plugin_connections(&topology.master, master_tls);
        last.0 == 3
    });
    assert!(
        three,
        "{} plugin connections on the TLS port:\n{}",
        last.0, last.1
    );

    // A failover: the sentinel names the replica's TLS port, and writes
    // and the channel follow.
    let mut replica = topology.replica.client();
    assert!(wait_until(WAIT, || replica
        .zcard::<_, u32>("mqtt:msg:s/t")
        .unwrap()
        == 1));
    drop(replica);
    topology.master.kill();
    let promoted = wait_until(Duration::from_secs(20), || {
        topology.current_master_port() == Some(replica_tls)
    });
    assert!(promoted, "the sentinel did not promote the replica");
    send(
        &mut publisher,
        "s/t",
        b"after failover",
        QoS::AtLeastOnce,
        false,
    )
    .await;
    assert!(
        broker
            .wait_for_log(
                &format!("pool pool1: connected to 127.0.0.1:{replica_tls} after"),
                Duration::from_secs(20)
            )
            .is_some(),
        "the writer did not reconnect to the new master's TLS port:\n{}",
        broker.logs().join("\n")
    );
    let ok = wait_until(Duration::from_secs(20), || {
        // The sentinel closes client connections of a promoted replica.
        let mut conn = topology.replica.client();
        conn.zcard::<_, u32>("mqtt:msg:s/t").unwrap_or(0) == 2
    });
    assert!(
        ok,
        "the message sent after the failover is not on the new master"
    );
    assert!(broker
        .wait_for_log(
            &format!(
                "listening for SUB/UNSUB orders on channel mqtt_channel at 127.0.0.1:{replica_tls}"
            ),
            Duration::from_secs(10)
        )
        .is_some());
    let mut replica = topology.replica.client();
    let ok = wait_until(WAIT, || {
        replica
            .publish::<_, _, i64>(
                "mqtt_channel",
                r#"{"type": "subscribe", "topic": "after", "clientid": "c1"}"#,
            )
            .unwrap_or(0)
            > 0
    });
    assert!(ok, "nobody listens on the new master's channel");
    wait_field(&mut replica, "sub:c1", "after", "0");
}
