//! What an operator sees of the durable store: `GET /api/v1/persistence`,
//! `mqhost ctl persistence` and the `mqhost_persistence_*` figures of
//! `/metrics` move with the messages a persistent session keeps, agree
//! with each other, come back after a restart, and say "off" plainly
//! with `persistence = off`.

use std::time::{Duration, Instant};

use mqhost_codec::{Packet, ProtocolVersion, QoS};
use mqhost_tests::plugins::TempDir;
use mqhost_tests::raw::{publish, RawClient};
use mqhost_tests::Broker;
use serde_json::Value;

use super::connect_kept;

pub(super) async fn status(broker: &Broker) -> Value {
    let (code, body) = broker.admin_request("GET", "/api/v1/persistence").await;
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

pub(super) fn figure(status: &Value, key: &str) -> u64 {
    status[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is not a number in {status}"))
}

/// A 3.x session kept after its connection (Clean Session 0), subscribed
/// to `filter` at QoS 1, then offline.
pub(super) async fn offline_subscriber(broker: &Broker, id: &str, filter: &str) {
    let (mut client, _) = connect_kept(broker.addr(), id).await;
    client.subscribe(filter, QoS::AtLeastOnce).await;
    client.disconnect().await;
}

/// `count` QoS 1 PUBLISHes of `size` bytes on `topic`, each acknowledged
/// before the next.
async fn publish_acknowledged(broker: &Broker, topic: &str, count: u16, size: usize) {
    let mut publisher = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "pub").await;
    for n in 1..=count {
        let payload = vec![b'x'; size];
        publisher
            .send(Packet::Publish(publish(
                topic,
                &payload,
                QoS::AtLeastOnce,
                n,
            )))
            .await;
        match publisher.recv().await {
            Some(Packet::PubAck(ack)) => assert_eq!(ack.packet_id, n),
            other => panic!("expected PUBACK {n}, got {other:?}"),
        }
    }
    publisher.disconnect().await;
}

#[tokio::test]
async fn the_store_status_follows_what_persistent_sessions_keep() {
    let dir = TempDir::new();
    let data = dir.path().join("data");
    let start = || {
        Broker::start_with(&[
            ("persistence.dir", &data.display().to_string()),
            ("persistence.sync", "interval"),
        ])
    };
    let mut broker = start();
    let empty = status(&broker).await;
    assert_eq!(empty["enabled"], true, "{empty}");
    assert_eq!(empty["state"], "ok", "{empty}");
    assert_eq!(empty["sync"], "interval");
    assert_eq!(empty["dir"], data.display().to_string());
    assert_eq!(figure(&empty, "sessions"), 0);
    assert_eq!(figure(&empty, "queued_messages"), 0);
    let bytes_before = figure(&empty, "log_bytes");
    assert!(bytes_before >= 16, "the header at least: {empty}");

    offline_subscriber(&broker, "keeper", "kept/#").await;
    publish_acknowledged(&broker, "kept/a", 20, 1000).await;
    // Acknowledged means stored: the figures count it already.
    let full = status(&broker).await;
    assert_eq!(full["state"], "ok", "{full}");
    assert_eq!(figure(&full, "sessions"), 1, "{full}");
    assert_eq!(figure(&full, "queued_messages"), 20, "{full}");
    assert_eq!(figure(&full, "message_bodies"), 20, "{full}");
    assert_eq!(figure(&full, "retained_messages"), 0, "{full}");
    assert!(
        figure(&full, "log_bytes") >= bytes_before + 20 * 1000,
        "the log grew by the payloads at least: {full}"
    );
    // A body and a queue entry per message, the session and its subscription.
    assert!(figure(&full, "log_records") >= 42, "{full}");
    assert!(figure(&full, "records_written") >= 42, "{full}");
    assert!(figure(&full, "batches_written") >= 1, "{full}");
    assert_eq!(figure(&full, "write_errors"), 0, "{full}");
    assert_eq!(figure(&full, "records_waiting"), 0, "{full}");
    assert_eq!(full["refusing_writes_since"], Value::Null, "{full}");
    assert_eq!(full["last_error"], Value::Null, "{full}");

    // With sync = interval, the log is flushed within a second or so.
    let deadline = Instant::now() + Duration::from_secs(5);
    while figure(&status(&broker).await, "syncs") == 0 {
        assert!(Instant::now() < deadline, "no sync within 5 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // /metrics says the same.
    let metrics = broker.metrics().await;
    let now = status(&broker).await;
    assert_eq!(metrics.value("mqhost_persistence_enabled", &[]), 1.0);
    assert_eq!(
        metrics.value("mqhost_persistence_refusing_writes", &[]),
        0.0
    );
    assert_eq!(metrics.value("mqhost_persistence_sessions", &[]), 1.0);
    assert_eq!(
        metrics.value("mqhost_persistence_queued_messages", &[]),
        20.0
    );
    assert_eq!(
        metrics.value("mqhost_persistence_log_bytes", &[]),
        figure(&now, "log_bytes") as f64
    );
    assert!(metrics.value("mqhost_persistence_records_written_total", &[]) >= 42.0);
    assert!(metrics.value("mqhost_persistence_syncs_total", &[]) >= 1.0);
    assert_eq!(
        metrics.value("mqhost_persistence_write_errors_total", &[]),
        0.0
    );

    // mqhost ctl, for people and for scripts.
    let (ok, out, err) = broker.ctl(&["persistence"]);
    assert!(ok, "{out}{err}");
    assert!(
        out.starts_with(&format!(
            "persistence on, in {} (sync interval)\nstate: ok\n",
            data.display()
        )),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["queued_messages", "20"]),
        "{out}"
    );
    let (ok, out, _) = broker.ctl(&["persistence", "--json"]);
    assert!(ok);
    let json: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["queued_messages"], 20, "{out}");

    // After a restart the figures are there at once, read from the log.
    broker.kill();
    let broker = start();
    let restarted = status(&broker).await;
    assert_eq!(figure(&restarted, "sessions"), 1, "{restarted}");
    assert_eq!(figure(&restarted, "queued_messages"), 20, "{restarted}");
    assert!(figure(&restarted, "recovered_records") >= 42, "{restarted}");
    assert_eq!(figure(&restarted, "recovered_lost_bytes"), 0);
    assert_eq!(
        figure(&restarted, "log_bytes"),
        figure(&now, "log_bytes"),
        "{restarted}"
    );
}

#[tokio::test]
async fn with_persistence_off_the_status_says_off() {
    let broker = Broker::start_with(&[("persistence", "off")]);
    let off = status(&broker).await;
    assert_eq!(
        off,
        serde_json::json!({ "enabled": false, "state": "off" }),
        "{off}"
    );
    let (ok, out, err) = broker.ctl(&["persistence"]);
    assert!(ok, "{out}{err}");
    assert!(
        out.starts_with("persistence off: nothing is kept on disk"),
        "{out}"
    );
    let metrics = broker.metrics().await;
    assert_eq!(metrics.value("mqhost_persistence_enabled", &[]), 0.0);
    assert_eq!(metrics.get("mqhost_persistence_log_bytes", &[]), None);
}
