//! `GET /metrics`: behind the admin token like every admin path, valid
//! Prometheus text, and figures that match the traffic sent.

use std::time::{Duration, Instant};

use mqhost_codec::{encoded_len, Packet, ProtocolVersion, QoS};
use mqhost_tests::metrics::Metrics;
use mqhost_tests::raw::{connack_code, connect_packet, publish, RawClient};
use mqhost_tests::Broker;

/// How long figures may take to settle after the traffic.
const SETTLE: Duration = Duration::from_secs(10);

/// Scrapes until `settled` holds, or returns the last scrape after
/// [`SETTLE`]: a packet sent is counted when the broker has read it.
async fn scrape_until(broker: &Broker, settled: impl Fn(&Metrics) -> bool) -> Metrics {
    let deadline = Instant::now() + SETTLE;
    loop {
        let metrics = broker.metrics().await;
        if settled(&metrics) || Instant::now() >= deadline {
            return metrics;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn metrics_need_the_token_and_are_prometheus_text() {
    let broker = Broker::start();
    let host = broker.admin_addr().to_string();
    let anonymous = broker
        .admin_send("GET", "/metrics", &[("Host", &host)], "")
        .await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    let wrong = broker
        .admin_send(
            "GET",
            "/metrics",
            &[("Host", &host), ("Authorization", "Bearer not-the-token")],
            "",
        )
        .await;
    assert_eq!(wrong.status, 401, "{}", wrong.body);

    let (status, content_type, body) = broker.metrics_response().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        content_type.as_deref(),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let metrics = Metrics::parse(body);
    assert_eq!(
        metrics.value(
            "mqhost_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    assert!(metrics.value("process_resident_memory_bytes", &[]) > 0.0);
    assert!(metrics.value("process_open_fds", &[]) > 0.0);
    assert!(metrics.value("process_start_time_seconds", &[]) > 1.6e9);
    assert_eq!(
        metrics.value("mqhost_connections", &[("listener", "tcp.default")]),
        0.0
    );
}

#[tokio::test]
async fn metrics_count_the_traffic_sent() {
    const TO_SUBSCRIBER: u16 = 25;
    const TO_NOBODY: u16 = 3;
    let v5 = ProtocolVersion::V5;
    let broker = Broker::start();
    let addr = broker.addr();

    let mut subscriber = RawClient::connect(addr, v5, "subscriber").await;
    subscriber.subscribe("m/t", QoS::AtLeastOnce).await;
    let mut publisher = RawClient::connect(addr, v5, "publisher").await;
    let delivered = publish("m/t", b"0123456789", QoS::AtLeastOnce, 1);
    let lost = publish("m/nobody", b"x", QoS::AtMostOnce, 0);
    for id in 1..=TO_SUBSCRIBER {
        let mut message = delivered.clone();
        message.packet_id = id;
        publisher.send(Packet::Publish(message)).await;
        match publisher.recv().await {
            Some(Packet::PubAck(ack)) => assert_eq!(ack.packet_id, id),
            other => panic!("expected PUBACK, got {other:?}"),
        }
    }
    for _ in 0..TO_NOBODY {
        publisher.send(Packet::Publish(lost.clone())).await;
    }
    for _ in 0..TO_SUBSCRIBER {
        let message = subscriber.recv_publish().await;
        subscriber.puback(message.packet_id).await;
    }
    // A 3.1.1 client without an id that wants its session kept: refused
    // (return code 2), counted against the listener.
    let mut nameless = connect_packet(ProtocolVersion::V3_1_1, "");
    nameless.clean_start = false;
    assert_eq!(connack_code(addr, nameless).await, 2);

    let (n, lost_n) = (f64::from(TO_SUBSCRIBER), f64::from(TO_NOBODY));
    let listener = [("listener", "tcp.default")];
    let metrics = scrape_until(&broker, |m| {
        m.value("mqhost_packets_received_total", &[("type", "puback")]) == n
            && m.value("mqhost_packets_received_total", &[("type", "publish")]) == n + lost_n
            && m.value("mqhost_connections", &listener) == 2.0
    })
    .await;
    let get = |name: &str, labels: &[(&str, &str)]| metrics.value(name, labels);

    // Connections: three accepted, one refused, two clients on.
    assert_eq!(get("mqhost_connections_accepted_total", &listener), 3.0);
    assert_eq!(get("mqhost_connections", &listener), 2.0);
    assert_eq!(
        get(
            "mqhost_connections_refused_total",
            &[("listener", "tcp.default"), ("reason", "client_id")]
        ),
        1.0
    );
    assert_eq!(
        get(
            "mqhost_connections_refused_total",
            &[("listener", "tcp.default"), ("reason", "not_authorized")]
        ),
        0.0
    );
    assert_eq!(get("mqhost_clients_connected", &[]), 2.0);
    assert_eq!(get("mqhost_clients_accepted_total", &[]), 2.0);
    assert_eq!(get("mqhost_sessions", &[]), 2.0);
    assert_eq!(get("mqhost_subscriptions", &[]), 1.0);

    // Messages.
    assert_eq!(get("mqhost_messages_received_total", &[]), n + lost_n);
    assert_eq!(get("mqhost_messages_delivered_total", &[]), n);
    assert_eq!(
        get(
            "mqhost_messages_dropped_total",
            &[("reason", "no_subscriber")]
        ),
        lost_n
    );
    assert_eq!(
        get("mqhost_messages_dropped_total", &[("reason", "queue_full")]),
        0.0
    );

    // Packets by type, and their bytes to the byte.
    let received = |kind: &str| get("mqhost_packets_received_total", &[("type", kind)]);
    let sent = |kind: &str| get("mqhost_packets_sent_total", &[("type", kind)]);
    assert_eq!(received("connect"), 3.0);
    assert_eq!(received("subscribe"), 1.0);
    assert_eq!(received("publish"), n + lost_n);
    assert_eq!(received("puback"), n);
    assert_eq!(sent("connack"), 3.0);
    assert_eq!(sent("suback"), 1.0);
    assert_eq!(sent("puback"), n);
    assert_eq!(sent("publish"), n);
    let publish_bytes =
        |packet: &mqhost_codec::Publish| encoded_len(&Packet::Publish(packet.clone()), v5) as f64;
    assert_eq!(
        get(
            "mqhost_packets_received_bytes_total",
            &[("type", "publish")]
        ),
        n * publish_bytes(&delivered) + lost_n * publish_bytes(&lost)
    );
    assert!(get("mqhost_received_bytes_total", &[]) > 0.0);
    assert!(get("mqhost_sent_bytes_total", &[]) > 0.0);
}

/// The Redis backend's pool figures come from its stats, labelled by
/// plugin, pool and figure; its hook calls are counted per hook point and
/// one in 64 timed.
#[tokio::test]
async fn a_plugins_figures_and_hook_calls_are_scraped() {
    const MESSAGES: u16 = 128;
    let setup = crate::redis::start(&crate::redis::rule(
        "message.publish",
        1,
        r#"{"action": {"commands": ["SET last:${clientid} ${payload}"]}, "pool": "pool1"}"#,
    ));
    let broker = &setup.broker;
    let mut client = RawClient::connect(broker.addr(), ProtocolVersion::V5, "writer").await;
    for _ in 0..MESSAGES {
        client
            .send(Packet::Publish(publish("w/t", b"v", QoS::AtMostOnce, 0)))
            .await;
    }
    let pool = |figure: &'static str| [("plugin", "redis"), ("pool", "pool1"), ("figure", figure)];
    let metrics = scrape_until(broker, |m| {
        m.get("mqhost_plugin_pool_figure", &pool("written")) == Some(f64::from(MESSAGES))
    })
    .await;
    assert_eq!(
        metrics.value("mqhost_plugin_pool_figure", &pool("written")),
        f64::from(MESSAGES)
    );
    assert_eq!(
        metrics.value("mqhost_plugin_pool_figure", &pool("queued")),
        0.0
    );
    assert_eq!(
        metrics.value("mqhost_plugin_pool_figure", &pool("errors")),
        0.0
    );
    assert_eq!(
        metrics.value("mqhost_plugin_pool_figure", &pool("connected")),
        1.0
    );
    assert_eq!(
        metrics.value(
            "mqhost_plugin_figure",
            &[("plugin", "redis"), ("figure", "rules")]
        ),
        1.0
    );
    let publish_hook = [("plugin", "redis"), ("hook", "message.publish")];
    assert_eq!(
        metrics.value("mqhost_hook_calls_total", &publish_hook),
        f64::from(MESSAGES)
    );
    // One broker thread: one call in 64 of its calls was timed.
    assert_eq!(
        metrics.histogram_count("mqhost_hook_duration_seconds", &publish_hook),
        f64::from(MESSAGES / 64)
    );
    assert_eq!(
        metrics.value("mqhost_plugin_errors_total", &[("plugin", "redis")]),
        0.0
    );
    assert_eq!(
        metrics.value("mqhost_plugin_failed", &[("plugin", "redis")]),
        0.0
    );
    let mut redis = setup.redis.client();
    let last: String = redis::Commands::get(&mut redis, "last:writer").unwrap();
    assert_eq!(last, "v");
}
