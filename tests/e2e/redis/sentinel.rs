//! A sentinel pool: the master is found through the sentinels, writes and
//! the channel follow a failover, and nothing queued meanwhile is lost.

use std::time::Duration;

use mqhost_codec::{Packet, ProtocolVersion, QoS};
use mqhost_tests::raw::{publish, RawClient};
use mqhost_tests::redis::{free_port, RedisSentinel, MASTER_NAME};
use redis::Commands;

use super::*;

#[tokio::test]
async fn a_sentinel_pool_writes_to_the_master_and_follows_a_failover() {
    let mut topology = RedisSentinel::start();
    // A sentinel that is not there comes first: the list is tried in turn.
    let sentinels = format!(
        "127.0.0.1:{},{}",
        free_port(false),
        topology.sentinel.addr()
    );
    let config = format!(
        "backend.redis.pool1.type = sentinel\n\
         backend.redis.pool1.server = {sentinels}\n\
         backend.redis.pool1.sentinel = {MASTER_NAME}\n\
         {}{}",
        function("message.publish", 1, "on_message_publish", Some("#")),
        rule(
            "session.subscribed",
            1,
            r#"{"action": {"commands": ["HSET sub:${clientid} ${topic} ${qos}"]}, "pool": "pool1"}"#
        ),
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
    let _: i64 = master
        .publish(
            "mqtt_channel",
            r#"{"type": "subscribe", "topic": "before", "clientid": "watcher"}"#,
        )
        .unwrap();
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
    let _: i64 = replica
        .publish(
            "mqtt_channel",
            r#"{"type": "subscribe", "topic": "after", "clientid": "watcher"}"#,
        )
        .unwrap();
    wait_field(&mut replica, "sub:watcher", "after", "0");
}
