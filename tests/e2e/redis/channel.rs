//! The SUB/UNSUB channel: orders published in Redis subscribe and
//! unsubscribe clients connected to the broker.

use std::time::Duration;

use mqhost_codec::QoS;
use redis::Commands;

use super::*;

/// Records subscriptions and unsubscriptions, whoever made them.
fn recorders() -> String {
    [
        subscription_recorder(1),
        rule(
            "session.unsubscribed",
            1,
            r#"{"action": {"commands": ["SET unsub:${clientid} ${topic}"]}, "pool": "pool1"}"#,
        ),
    ]
    .concat()
}

const LISTENING: &str = "listening for SUB/UNSUB orders on channel";

/// Publishes an order once the plugin listens (PUBLISH returns how many
/// subscribers got it).
#[tokio::test]
async fn channel_orders_subscribe_and_unsubscribe_connected_clients() {
    let setup = start(&recorders());
    let mut redis = setup.redis.client();
    let mut test = client(&setup.broker, "test").await;

    // The seed's own example: qos as a string.
    order(
        &mut redis,
        "mqtt_channel",
        r#"{"type": "subscribe", "topic": "topic0", "clientid": "test", "qos": "0"}"#,
    );
    wait_field(&mut redis, "sub:test", "topic0", "0");
    order(
        &mut redis,
        "mqtt_channel",
        r#"{"type": "subscribe", "topic": "topic1/#", "clientid": "test", "qos": 1}"#,
    );
    wait_field(&mut redis, "sub:test", "topic1/#", "1");

    let mut publisher = client(&setup.broker, "pub").await;
    send(&mut publisher, "topic0", b"zero", QoS::AtLeastOnce, false).await;
    let message = test.recv_publish().await;
    assert_eq!(
        (message.topic.as_str(), message.qos),
        ("topic0", QoS::AtMostOnce)
    );
    send(&mut publisher, "topic1/a", b"one", QoS::AtLeastOnce, false).await;
    let message = receive(&mut test).await;
    assert_eq!(
        (message.topic.as_str(), message.qos),
        ("topic1/a", QoS::AtLeastOnce)
    );

    order(
        &mut redis,
        "mqtt_channel",
        r#"{"type": "unsubscribe", "topic": "topic0", "clientid": "test"}"#,
    );
    wait_key(&mut redis, "unsub:test");
    assert_eq!(redis.get::<_, String>("unsub:test").unwrap(), "topic0");
    send(
        &mut publisher,
        "topic0",
        b"not any more",
        QoS::AtLeastOnce,
        false,
    )
    .await;
    test.expect_silence(Duration::from_millis(300)).await;

    // A client connected elsewhere (not here) is ignored; bad orders are
    // logged and ignored.
    order(
        &mut redis,
        "mqtt_channel",
        r#"{"type": "subscribe", "topic": "x", "clientid": "nobody", "qos": 0}"#,
    );
    order(&mut redis, "mqtt_channel", "not json");
    order(
        &mut redis,
        "mqtt_channel",
        r#"{"type": "subscribe", "topic": "x", "clientid": "test", "qos": 7}"#,
    );
    assert!(setup
        .broker
        .wait_for_log("ignored a channel message: not JSON", WAIT)
        .is_some());
    assert!(setup
        .broker
        .wait_for_log("ignored a channel message: \"qos\" must be 0, 1 or 2", WAIT)
        .is_some());
    assert!(!redis.exists::<_, bool>("sub:nobody").unwrap());
    assert_eq!(hash(&mut redis, "sub:test").len(), 2);
    let stats = settled_stats(&setup.broker, |s| {
        s["pools"]["pool1"]["channel_messages"] == 6
    })
    .await;
    assert_eq!(stats["pools"]["pool1"]["channel_messages"], 6, "{stats}");
    assert_eq!(
        stats["pools"]["pool1"]["channel_connected"], true,
        "{stats}"
    );
}

#[tokio::test]
async fn the_channel_name_is_a_pool_setting_and_survives_a_redis_restart() {
    let mut setup = start(&format!(
        "backend.redis.pool1.channel = orders\n{}",
        recorders()
    ));
    let mut redis = setup.redis.client();
    let _test = client(&setup.broker, "test").await;
    assert!(setup
        .broker
        .wait_for_log(&format!("{LISTENING} orders"), WAIT)
        .is_some());
    assert_eq!(redis.publish::<_, _, i64>("mqtt_channel", "{}").unwrap(), 0);
    order(
        &mut redis,
        "orders",
        r#"{"type": "subscribe", "topic": "a", "clientid": "test"}"#,
    );
    wait_field(&mut redis, "sub:test", "a", "0");

    setup.redis.restart();
    assert!(setup
        .broker
        .wait_for_logs(LISTENING, 2, Duration::from_secs(10)));
    let mut redis = setup.redis.client();
    order(
        &mut redis,
        "orders",
        r#"{"type": "subscribe", "topic": "b", "clientid": "test"}"#,
    );
    wait_field(&mut redis, "sub:test", "b", "0");
}
