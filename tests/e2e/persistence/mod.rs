//! Durable state: the real broker killed with SIGKILL in the middle of
//! QoS 1 and QoS 2 traffic and started again on the same directory loses
//! nothing it acknowledged; a directory another broker holds is refused.
//!
//! - [`status`]: what the admin API, `mqhost ctl` and `/metrics` show.
//! - [`disk_full`]: the store on a small tmpfs that fills up, and past a
//!   file-size limit.

mod disk_full;
mod status;

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use mqhost_codec::{decode, encode, Packet, ProtocolVersion, PubAck, QoS};
use mqhost_tests::plugins::TempDir;
use mqhost_tests::raw::{connect_packet, publish, RawClient};
use mqhost_tests::Broker;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn start_on(dir: &Path) -> Broker {
    Broker::start_with(&[
        ("persistence.dir", &dir.display().to_string()),
        // Even without a flush to the disk, kill -9 loses nothing.
        ("persistence.sync", "none"),
        // The promise covers what the queue bound keeps: no bound here.
        ("mqtt.max_queued_messages", "0"),
    ])
}

pub(super) fn ack(packet_id: u16) -> PubAck {
    PubAck {
        packet_id,
        reason: 0,
        properties: Default::default(),
    }
}

pub(super) async fn connect_kept(addr: SocketAddr, id: &str) -> (RawClient, bool) {
    let mut connect = connect_packet(ProtocolVersion::V3_1_1, id);
    connect.clean_start = false;
    let (client, connack) = RawClient::connect_with(addr, connect).await;
    assert_eq!(connack.reason, 0);
    (client, connack.session_present)
}

/// Publishes `q1/<n>` at QoS 1 and `q2/<n>` at QoS 2 as fast as the broker
/// acknowledges, 64 at a time, until the connection breaks. Returns the
/// sequence numbers acknowledged (PUBACK; PUBREC for QoS 2).
async fn publish_until_killed(addr: SocketAddr) -> (BTreeSet<u32>, BTreeSet<u32>) {
    let client = RawClient::connect(addr, ProtocolVersion::V3_1_1, "pub").await;
    let (mut stream, mut buf) = client.into_parts();
    let (mut acked1, mut acked2) = (BTreeSet::new(), BTreeSet::new());
    let mut next = 1u32;
    let mut out = BytesMut::new();
    loop {
        let mut sent: HashMap<u16, (QoS, u32)> = HashMap::new();
        out.clear();
        for i in 0..64u16 {
            let qos = if i % 2 == 0 {
                QoS::AtLeastOnce
            } else {
                QoS::ExactlyOnce
            };
            let topic = if qos == QoS::AtLeastOnce { "q1" } else { "q2" };
            let packet_id = i + 1;
            let p = publish(topic, next.to_string().as_bytes(), qos, packet_id);
            encode(&Packet::Publish(p), ProtocolVersion::V3_1_1, &mut out).unwrap();
            sent.insert(packet_id, (qos, next));
            next += 1;
        }
        if stream.write_all(&out).await.is_err() {
            return (acked1, acked2);
        }
        let mut waiting = sent.len();
        while waiting > 0 {
            match decode(&mut buf, Some(ProtocolVersion::V3_1_1), u32::MAX) {
                Ok(Some(Packet::PubAck(a))) => {
                    acked1.insert(sent[&a.packet_id].1);
                    waiting -= 1;
                }
                Ok(Some(Packet::PubRec(a))) => {
                    acked2.insert(sent[&a.packet_id].1);
                    let mut rel = BytesMut::new();
                    encode(
                        &Packet::PubRel(ack(a.packet_id)),
                        ProtocolVersion::V3_1_1,
                        &mut rel,
                    )
                    .unwrap();
                    if stream.write_all(&rel).await.is_err() {
                        return (acked1, acked2);
                    }
                }
                Ok(Some(Packet::PubComp(_))) => waiting -= 1,
                Ok(Some(other)) => panic!("unexpected {other:?}"),
                Ok(None) => match stream.read_buf(&mut buf).await {
                    Ok(0) | Err(_) => return (acked1, acked2),
                    Ok(_) => {}
                },
                Err(e) => panic!("malformed: {e}"),
            }
        }
    }
}

/// Everything a session gets until a second of silence, acknowledged as
/// it comes (QoS 2 through PUBREC, PUBREL, PUBCOMP): `(topic, n)`, with
/// repeats.
pub(super) async fn drain(client: &mut RawClient) -> Vec<(String, u32)> {
    let mut got = Vec::new();
    loop {
        match client.recv_within(Duration::from_secs(1)).await {
            Ok(Some(Packet::Publish(p))) => {
                let n: u32 = std::str::from_utf8(&p.payload).unwrap().parse().unwrap();
                got.push((p.topic.clone(), n));
                // The broker may be killed under the reader's feet.
                let answered = match p.qos {
                    QoS::AtLeastOnce => client.try_send(Packet::PubAck(ack(p.packet_id))).await,
                    QoS::ExactlyOnce => client.try_send(Packet::PubRec(ack(p.packet_id))).await,
                    QoS::AtMostOnce => true,
                };
                if !answered {
                    return got;
                }
            }
            Ok(Some(Packet::PubRel(r))) => {
                if !client.try_send(Packet::PubComp(ack(r.packet_id))).await {
                    return got;
                }
            }
            Ok(Some(other)) => panic!("unexpected {other:?}"),
            Ok(None) | Err(()) => return got,
        }
    }
}

fn pseudo_random(round: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    (nanos ^ round.wrapping_mul(0x9E37_79B9_7F4A_7C15)) % 400
}

/// Ten times: an offline and an online persistent subscriber, a
/// publisher at full speed, SIGKILL at a random moment, a restart on the
/// same directory. Every acknowledged QoS 1 message reaches both (at
/// least once), every acknowledged QoS 2 message reaches the offline one
/// exactly once, sessions come back with Session Present, the retained
/// message is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_survive_kill_9_at_random_moments() {
    let started = Instant::now();
    for round in 0..10u64 {
        let dir = TempDir::new();
        let mut broker = start_on(dir.path());
        let (mut offline, present) = connect_kept(broker.addr(), "offline").await;
        assert!(!present);
        offline.subscribe("q1", QoS::AtLeastOnce).await;
        offline.subscribe("q2", QoS::ExactlyOnce).await;
        offline.disconnect().await;
        let (mut online, _) = connect_kept(broker.addr(), "online").await;
        online.subscribe("q1", QoS::AtLeastOnce).await;
        let mut retainer = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "r").await;
        let mut retained = publish("state", b"kept", QoS::AtLeastOnce, 1);
        retained.retain = true;
        retainer.send(Packet::Publish(retained)).await;
        assert!(matches!(retainer.recv().await, Some(Packet::PubAck(_))));

        // The online subscriber reads (acknowledging) while the publisher runs.
        let reader = tokio::spawn(async move { drain(&mut online).await });
        let publisher = tokio::spawn(publish_until_killed(broker.addr()));
        tokio::time::sleep(Duration::from_millis(50 + pseudo_random(round))).await;
        broker.kill();
        let (acked1, acked2) = publisher.await.unwrap();
        let before: Vec<(String, u32)> = reader.await.unwrap();

        let broker = start_on(dir.path());
        let (mut offline, present) = connect_kept(broker.addr(), "offline").await;
        assert!(present, "round {round}: Session Present after the restart");
        let got = drain(&mut offline).await;
        let q1: BTreeSet<u32> = got
            .iter()
            .filter(|(t, _)| t == "q1")
            .map(|(_, n)| *n)
            .collect();
        let q2: Vec<u32> = got
            .iter()
            .filter(|(t, _)| t == "q2")
            .map(|(_, n)| *n)
            .collect();
        let q2_set: BTreeSet<u32> = q2.iter().copied().collect();
        assert!(
            acked1.is_subset(&q1),
            "round {round}: QoS 1 acknowledged but lost: {:?}",
            acked1.difference(&q1).take(5).collect::<Vec<_>>()
        );
        assert!(
            acked2.is_subset(&q2_set),
            "round {round}: QoS 2 acknowledged but lost: {:?}",
            acked2.difference(&q2_set).take(5).collect::<Vec<_>>()
        );
        assert_eq!(
            q2.len(),
            q2_set.len(),
            "round {round}: a QoS 2 message came twice"
        );

        let (mut online, present) = connect_kept(broker.addr(), "online").await;
        assert!(
            present,
            "round {round}: the online subscriber's session too"
        );
        let mut seen: BTreeSet<u32> = before.iter().map(|(_, n)| *n).collect();
        seen.extend(drain(&mut online).await.into_iter().map(|(_, n)| n));
        assert!(
            acked1.is_subset(&seen),
            "round {round}: the online subscriber lost {:?}",
            acked1.difference(&seen).take(5).collect::<Vec<_>>()
        );

        let mut fresh = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "late").await;
        fresh.subscribe("state", QoS::AtLeastOnce).await;
        let kept = fresh.recv_publish().await;
        assert_eq!(&kept.payload[..], b"kept");
        assert!(kept.retain);
        eprintln!(
            "round {round}: {} QoS 1 and {} QoS 2 acknowledged before the kill, all delivered",
            acked1.len(),
            acked2.len()
        );
    }
    assert!(started.elapsed() < Duration::from_secs(90));
}

/// A QoS 1 message sent but not acknowledged when the broker was killed
/// comes again after the restart with DUP, is let go by its PUBACK, and
/// does not come a third time.
#[tokio::test]
async fn an_unacknowledged_qos1_delivery_comes_back_with_dup_after_kill_9() {
    let dir = TempDir::new();
    let mut broker = start_on(dir.path());
    let (mut sub, _) = connect_kept(broker.addr(), "slow").await;
    sub.subscribe("q1", QoS::AtLeastOnce).await;
    let mut publisher = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "p").await;
    publisher
        .send(Packet::Publish(publish("q1", b"once", QoS::AtLeastOnce, 1)))
        .await;
    // The PUBACK says it is stored.
    assert!(matches!(publisher.recv().await, Some(Packet::PubAck(_))));
    let first = sub.recv_publish().await;
    assert!(!first.dup);
    broker.kill();

    let broker = start_on(dir.path());
    let (mut sub, present) = connect_kept(broker.addr(), "slow").await;
    assert!(present);
    let again = sub.recv_publish().await;
    assert!(
        again.dup,
        "a delivery that may have gone before carries DUP"
    );
    assert_eq!(again.qos, QoS::AtLeastOnce);
    assert_eq!(&again.payload[..], b"once");
    sub.puback(again.packet_id).await;
    sub.expect_silence(Duration::from_millis(300)).await;
    drop(sub);
    let (mut sub, present) = connect_kept(broker.addr(), "slow").await;
    assert!(present);
    sub.expect_silence(Duration::from_millis(300)).await;
}

/// A second broker on a directory in use exits non-zero, naming it.
#[test]
fn a_second_broker_on_the_same_directory_is_refused() {
    let dir = TempDir::new();
    let _first = start_on(dir.path());
    let output = std::process::Command::new(mqhost_tests::mqhost_binary())
        .args([
            "--config",
            "/dev/null",
            "--set",
            "listener.tcp.default=127.0.0.1:0",
        ])
        .args([
            "--set",
            "admin.listener=off",
            "--set",
            "plugins.dir=/nonexistent",
        ])
        .arg("--set")
        .arg(format!("persistence.dir={}", dir.path().display()))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("is in use by another running broker")
            && stderr.contains(&dir.path().display().to_string()),
        "{stderr}"
    );
}

/// A data file cut at a random byte, and one with a flipped byte: the
/// broker starts, keeps what came before the damage, and says what it lost.
#[tokio::test]
async fn a_damaged_store_starts_with_what_came_before_the_damage() {
    for damage in ["cut", "flip"] {
        let dir = TempDir::new();
        let mut broker = start_on(dir.path());
        let mut client = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "p").await;
        for i in 0..50u16 {
            let mut p = publish(
                &format!("r/{i}"),
                i.to_string().as_bytes(),
                QoS::AtLeastOnce,
                i + 1,
            );
            p.retain = true;
            client.send(Packet::Publish(p)).await;
            assert!(matches!(client.recv().await, Some(Packet::PubAck(_))));
        }
        broker.kill();
        let log = dir.path().join("store.log");
        let mut bytes = std::fs::read(&log).unwrap();
        let at = 16 + (pseudo_random(7) as usize * 7919) % (bytes.len() - 16);
        match damage {
            "cut" => bytes.truncate(at),
            _ => bytes[at] ^= 0x20,
        }
        std::fs::write(&log, &bytes).unwrap();
        let broker = start_on(dir.path());
        // A cut may fall between two records: a shorter log, whole, with
        // nothing to warn about; a flipped byte always is damage.
        assert!(
            damage == "cut"
                || broker
                    .wait_for_log("store log damaged", Duration::from_secs(5))
                    .is_some(),
            "{damage} at {at}: no warning"
        );
        let mut reader = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "s").await;
        reader.subscribe("r/#", QoS::AtMostOnce).await;
        let got = drain(&mut reader).await.len();
        assert!(got < 50, "{damage} at {at}: {got} retained after damage");
    }
}
