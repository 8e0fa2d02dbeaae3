//! A disk that refuses the store's writes. The store's directory on a
//! 2 MiB tmpfs that fills up: the broker goes on serving everyone whose
//! messages need no disk, holds the QoS 1/2 acknowledgements that do (as
//! `docs/persistence.md` says), counts and logs the refusals once, and
//! once space is freed writes again, sends what it held, and keeps it
//! across a `kill -9`. And a file-size limit, an I/O error the kernel
//! signals as well.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mqhost_codec::{Packet, ProtocolVersion, QoS};
use mqhost_tests::raw::{publish, RawClient};
use mqhost_tests::tmpfs::Tmpfs;
use mqhost_tests::Broker;
use tokio::sync::mpsc;

use super::status::{figure, offline_subscriber, status};
use super::{ack, connect_kept, drain};

/// Bytes of each message: the disk fills after some sixty of them.
const SIZE: usize = 8192;
/// The library publisher's in-flight window, and how many it publishes.
const WINDOW: u16 = 10;
const LIBRARY_MESSAGES: u16 = 30;
/// The Receive Maximum the broker announces to 5.0 clients.
const RECEIVE_MAXIMUM: u16 = 4;
/// How long an acknowledgement that needs no disk may take.
const PROMPT: Duration = Duration::from_secs(2);
/// How long the broker may take to notice the space freed (it tries
/// again every second).
const RECOVERY: Duration = Duration::from_secs(10);

/// Message `n`: its number, zero-padded to [`SIZE`] bytes.
fn numbered(topic: &str, n: u16, qos: QoS) -> Packet {
    let payload = format!("{n:0>SIZE$}");
    Packet::Publish(publish(topic, payload.as_bytes(), qos, n))
}

/// A clean 3.x client subscribed to `filter`, whose messages' topics a
/// task reads as they come, so that it never holds the broker back.
async fn watcher(
    broker: &Broker,
    id: &str,
    filter: &str,
    qos: QoS,
) -> mpsc::UnboundedReceiver<String> {
    let mut client = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, id).await;
    client.subscribe(filter, qos).await;
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(Some(packet)) = client.recv_within(Duration::from_secs(60)).await {
            if let Packet::Publish(p) = packet {
                if p.qos == QoS::AtLeastOnce
                    && !client.try_send(Packet::PubAck(ack(p.packet_id))).await
                {
                    return;
                }
                if tx.send(p.topic.clone()).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

/// What a real client library publishing at QoS 1 went through.
#[derive(Default)]
struct Library {
    acknowledged: AtomicUsize,
    /// Its event loop reported an error (the connection broke).
    failed: AtomicBool,
}

/// A rumqttc (3.1.1) client with an in-flight window of [`WINDOW`]
/// publishing messages `first..first + count` at QoS 1 on `full/lib/<n>`,
/// as an application would; its PUBACKs counted.
async fn library_publisher(broker: &Broker, first: u16, count: u16) -> Arc<Library> {
    let mut options = rumqttc::MqttOptions::new("lib-pub", "127.0.0.1", broker.port());
    options.set_keep_alive(Duration::from_secs(5));
    options.set_inflight(WINDOW);
    options.set_max_packet_size(2 * SIZE, 2 * SIZE);
    let (client, mut events) = rumqttc::AsyncClient::new(options, 10);
    let seen = Arc::new(Library::default());
    let library = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            match events.poll().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_))) => {
                    library.acknowledged.fetch_add(1, Ordering::Relaxed);
                }
                Ok(_) => {}
                Err(_) => {
                    library.failed.store(true, Ordering::Relaxed);
                    return;
                }
            }
        }
    });
    tokio::spawn(async move {
        for n in first..first + count {
            let payload = format!("{n:0>SIZE$}");
            let topic = format!("full/lib/{n}");
            if client
                .publish(topic, rumqttc::QoS::AtLeastOnce, false, payload)
                .await
                .is_err()
            {
                return;
            }
        }
    });
    seen
}

/// Waits for `topic` among what a watcher got.
async fn expect_topic(rx: &mut mpsc::UnboundedReceiver<String>, topic: &str) {
    let deadline = tokio::time::Instant::now() + PROMPT;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(got)) if got == topic => return,
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => panic!("{topic} was not delivered within {PROMPT:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_holds_only_the_acknowledgements_that_need_it() {
    let Some(tmpfs) = Tmpfs::for_test(
        "2m",
        "a_full_disk_holds_only_the_acknowledgements_that_need_it",
    ) else {
        return;
    };
    // Three quarters of the disk taken: the store gets the rest.
    let filler = tmpfs.path().join("filler");
    std::fs::write(&filler, vec![0u8; 1536 << 10]).unwrap();
    let data = tmpfs.path().join("data");
    let start = || {
        Broker::start_with(&[
            ("persistence.dir", &data.display().to_string()),
            ("mqtt.max_queued_messages", "0"),
            ("mqtt.receive_maximum", &RECEIVE_MAXIMUM.to_string()),
        ])
    };
    let mut broker = start();
    offline_subscriber(&broker, "keeper", "full/#").await;
    let mut qos0 = watcher(&broker, "qos0-watcher", "full/#", QoS::AtMostOnce).await;
    let mut other = watcher(&broker, "other-watcher", "free/#", QoS::AtLeastOnce).await;

    // QoS 1 at the offline session, one at a time, until a PUBACK waits.
    let mut publisher = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "pub").await;
    let mut n = 0u16;
    let waiting = loop {
        n += 1;
        assert!(n < 300, "the disk never filled");
        publisher
            .send(numbered(&format!("full/{n}"), n, QoS::AtLeastOnce))
            .await;
        match publisher.recv_within(PROMPT).await {
            Ok(Some(Packet::PubAck(a))) => assert_eq!(a.packet_id, n),
            Err(()) => break n,
            other => panic!("expected PUBACK {n}, got {other:?}"),
        }
    };
    let stored_before = waiting - 1;
    assert!(stored_before >= 20, "only {stored_before} fitted");

    // The store says it refuses writes, and why; /metrics and ctl too.
    let refusing = status(&broker).await;
    assert_eq!(refusing["state"], "refusing_writes", "{refusing}");
    assert!(refusing["refusing_writes_since"].is_string(), "{refusing}");
    let error = refusing["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("No space left on device"), "{refusing}");
    assert!(figure(&refusing, "write_errors") >= 1, "{refusing}");
    // The message's body and its place in the queue wait for the disk.
    assert!(figure(&refusing, "records_waiting") >= 2, "{refusing}");
    let metrics = broker.metrics().await;
    assert_eq!(
        metrics.value("mqhost_persistence_refusing_writes", &[]),
        1.0
    );
    assert!(metrics.value("mqhost_persistence_write_errors_total", &[]) >= 1.0);
    assert!(metrics.value("mqhost_persistence_records_waiting", &[]) >= 2.0);
    let (ok, out, err) = broker.ctl(&["persistence"]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("state: REFUSING WRITES since ") && out.contains("No space left on device"),
        "{out}"
    );

    // Routing goes on: the QoS 0 subscriber got the message whose
    // acknowledgement waits.
    expect_topic(&mut qos0, &format!("full/{waiting}")).await;
    // A QoS 1 publisher whose messages no persistent session keeps is
    // answered at once, as is QoS 0, and their subscriber served.
    let mut free = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "free-pub").await;
    for i in 1..=3u16 {
        free.send(Packet::Publish(publish(
            "free/1",
            b"q1",
            QoS::AtLeastOnce,
            i,
        )))
        .await;
        match free.recv_within(PROMPT).await {
            Ok(Some(Packet::PubAck(a))) => assert_eq!(a.packet_id, i),
            other => panic!("free/1: expected PUBACK {i} at once, got {other:?}"),
        }
        expect_topic(&mut other, "free/1").await;
        free.send(Packet::Publish(publish(
            "free/0",
            b"q0",
            QoS::AtMostOnce,
            0,
        )))
        .await;
        expect_topic(&mut other, "free/0").await;
    }
    // A QoS 2 PUBLISH for the offline session: its PUBREC waits too.
    let mut exactly = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "pub2").await;
    exactly.send(numbered("full/q2", 1, QoS::ExactlyOnce)).await;
    assert!(
        exactly.recv_within(PROMPT).await.is_err(),
        "a PUBREC went before its message was stored"
    );
    // The waiting publisher may go on sending; its session answers pings.
    for extra in waiting + 1..=waiting + 3 {
        publisher
            .send(numbered(&format!("full/{extra}"), extra, QoS::AtLeastOnce))
            .await;
    }
    publisher.send(Packet::PingReq).await;
    match publisher.recv_within(PROMPT).await {
        Ok(Some(Packet::PingResp)) => {}
        other => panic!("expected PINGRESP, got {other:?}"),
    }
    let last = waiting + 3;
    // A client library fills its in-flight window and waits, connected.
    let library = library_publisher(&broker, 1001, LIBRARY_MESSAGES).await;
    // Its window's worth reaches the broker, a body and a queue entry
    // each, beside the five messages above; then it sends no more.
    let window_full = 2 * (5 + usize::from(WINDOW)) as u64;
    let deadline = Instant::now() + RECOVERY;
    while figure(&status(&broker).await, "records_waiting") < window_full {
        assert!(
            Instant::now() < deadline && !library.failed.load(Ordering::Relaxed),
            "the library's window never reached the broker: {}",
            status(&broker).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Refused again every second, logged once.
    let deadline = Instant::now() + RECOVERY;
    while figure(&status(&broker).await, "write_errors") < 3 {
        assert!(Instant::now() < deadline, "the store stopped trying");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        broker.count_logs("store cannot write"),
        1,
        "{:#?}",
        broker.logs()
    );
    assert!(broker.is_running());
    assert_eq!(library.acknowledged.load(Ordering::Relaxed), 0);
    assert!(!library.failed.load(Ordering::Relaxed));
    assert_eq!(
        figure(&status(&broker).await, "records_waiting"),
        window_full,
        "the library kept to its window"
    );
    // A 5.0 client that goes beyond the Receive Maximum it was told,
    // counting the PUBACKs the store holds, is disconnected (0x93), as
    // when it has too many QoS 2 PUBLISHes unanswered.
    let mut eager = RawClient::connect(broker.addr(), ProtocolVersion::V5, "v5-pub").await;
    for id in 2001..=2000 + RECEIVE_MAXIMUM + 1 {
        eager
            .send(numbered(&format!("full/v5/{id}"), id, QoS::AtLeastOnce))
            .await;
    }
    let seen = eager.expect_closed().await;
    assert!(
        matches!(seen.as_slice(), [Packet::Disconnect(d)] if d.reason == 0x93),
        "{seen:?}"
    );
    let held = status(&broker).await;
    eprintln!(
        "disk full after {stored_before} messages of {SIZE} bytes ({} bytes of log); \
         {} refused writes, {} records waiting, one log line",
        figure(&held, "log_bytes"),
        figure(&held, "write_errors"),
        figure(&held, "records_waiting")
    );

    // Space freed: the store writes again, and what waited goes out in order.
    std::fs::remove_file(&filler).unwrap();
    for expected in waiting..=last {
        match publisher.recv_within(RECOVERY).await {
            Ok(Some(Packet::PubAck(a))) => assert_eq!(a.packet_id, expected),
            other => panic!("expected PUBACK {expected} once space was freed, got {other:?}"),
        }
    }
    match exactly.recv_within(RECOVERY).await {
        Ok(Some(Packet::PubRec(a))) => assert_eq!(a.packet_id, 1),
        other => panic!("expected PUBREC once space was freed, got {other:?}"),
    }
    exactly.send(Packet::PubRel(ack(1))).await;
    assert!(matches!(exactly.recv().await, Some(Packet::PubComp(_))));
    assert!(broker
        .wait_for_log("store writes again", RECOVERY)
        .is_some());
    // The library's window moves again, to its last message.
    let deadline = Instant::now() + RECOVERY;
    while library.acknowledged.load(Ordering::Relaxed) < usize::from(LIBRARY_MESSAGES) {
        assert!(
            Instant::now() < deadline && !library.failed.load(Ordering::Relaxed),
            "the library publisher got {} PUBACKs of {LIBRARY_MESSAGES}",
            library.acknowledged.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let recovered = status(&broker).await;
    assert_eq!(recovered["state"], "ok", "{recovered}");
    assert_eq!(recovered["refusing_writes_since"], serde_json::Value::Null);
    assert_eq!(figure(&recovered, "records_waiting"), 0, "{recovered}");
    assert_eq!(figure(&recovered, "records_not_stored"), 0, "{recovered}");
    // The error stays on record.
    assert!(recovered["last_error"].is_string(), "{recovered}");
    assert_eq!(
        figure(&recovered, "queued_messages"),
        u64::from(last) + 1 + u64::from(LIBRARY_MESSAGES) + u64::from(RECEIVE_MAXIMUM),
        "{recovered}"
    );
    assert_eq!(
        broker
            .metrics()
            .await
            .value("mqhost_persistence_refusing_writes", &[]),
        0.0
    );

    // All of it is kept: killed and started again, the offline session
    // gets every message, those acknowledged late included.
    broker.kill();
    let broker = start();
    let (mut keeper, present) = connect_kept(broker.addr(), "keeper").await;
    assert!(present);
    let got = drain(&mut keeper).await;
    let numbers: BTreeSet<u32> = got
        .iter()
        .filter(|(topic, _)| topic != "full/q2")
        .map(|(_, n)| *n)
        .collect();
    let sent: BTreeSet<u32> = (1..=u32::from(last))
        .chain(1001..1001 + u32::from(LIBRARY_MESSAGES))
        .chain(2001..=2000 + u32::from(RECEIVE_MAXIMUM))
        .collect();
    assert_eq!(
        numbers, sent,
        "the offline session's messages after the restart"
    );
    assert!(got.iter().any(|(topic, _)| topic == "full/q2"));
    drop(broker);
    drop(tmpfs);
}

/// A store in `dir` whose offline session keeps every message.
fn file_limit_settings(dir: &mqhost_tests::plugins::TempDir) -> [(&'static str, String); 2] {
    [
        (
            "persistence.dir",
            dir.path().join("data").display().to_string(),
        ),
        ("mqtt.max_queued_messages", "0".to_owned()),
    ]
}

/// A broker with `sets` under a file-size limit, an offline persistent
/// session on `full/#`, and a 3.x publisher that published to it at
/// QoS 1 until a PUBACK did not come: the store refuses writes. The
/// number of that PUBLISH.
async fn at_the_file_size_limit(sets: &[(&str, &str)]) -> (Broker, RawClient, u16) {
    let mut broker = Broker::start_under(&["prlimit", "--fsize=262144"], sets);
    offline_subscriber(&broker, "keeper", "full/#").await;
    let mut publisher = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "pub").await;
    let mut n = 0u16;
    loop {
        n += 1;
        assert!(n < 100, "the limit was never reached");
        publisher
            .send(numbered(&format!("full/{n}"), n, QoS::AtLeastOnce))
            .await;
        match publisher.recv_within(PROMPT).await {
            Ok(Some(Packet::PubAck(a))) => assert_eq!(a.packet_id, n),
            Err(()) => return (broker, publisher, n),
            other => {
                tokio::time::sleep(Duration::from_millis(500)).await;
                panic!(
                    "expected PUBACK {n}, got {other:?}; the broker {}",
                    if broker.is_running() {
                        "runs"
                    } else {
                        "has died"
                    }
                )
            }
        }
    }
}

/// An I/O error of another kind: a file-size limit (`ulimit -f`, here
/// through `prlimit`) that the log reaches. The broker is not killed by
/// the signal the kernel sends with it; the store refuses writes as on a
/// full disk, says why, and serves everyone else; stopped, it exits
/// cleanly, and what it acknowledged is there at the next start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_size_limit_is_an_io_error_the_broker_survives() {
    let dir = mqhost_tests::plugins::TempDir::new();
    let sets = file_limit_settings(&dir);
    let sets: Vec<(&str, &str)> = sets.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (mut broker, _publisher, waiting) = at_the_file_size_limit(&sets).await;
    assert!(
        broker.is_running(),
        "the broker died at the file-size limit"
    );
    let refusing = status(&broker).await;
    assert_eq!(refusing["state"], "refusing_writes", "{refusing}");
    let error = refusing["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("File too large"), "{refusing}");
    let mut free = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "free-pub").await;
    free.send(Packet::Publish(publish(
        "free/1",
        b"q1",
        QoS::AtLeastOnce,
        1,
    )))
    .await;
    assert!(
        matches!(free.recv_within(PROMPT).await, Ok(Some(Packet::PubAck(_)))),
        "a PUBLISH that records nothing waited for the store"
    );
    assert_eq!(
        broker.count_logs("store cannot write"),
        1,
        "{:#?}",
        broker.logs()
    );

    // Stopped, it exits cleanly, saying what it could not write.
    assert!(broker.stop().success(), "{:#?}", broker.logs());
    assert!(broker.count_logs("store stopped with records not written") == 1);
    let broker = Broker::start_with(&sets);
    let (mut keeper, present) = connect_kept(broker.addr(), "keeper").await;
    assert!(present);
    let got: BTreeSet<u32> = drain(&mut keeper)
        .await
        .into_iter()
        .map(|(_, n)| n)
        .collect();
    let acknowledged: BTreeSet<u32> = (1..u32::from(waiting)).collect();
    assert!(
        acknowledged.is_subset(&got),
        "acknowledged before the limit but lost: {:?}",
        acknowledged.difference(&got).collect::<Vec<_>>()
    );
}

/// A 3.x client, told no window, keeps publishing at QoS 1 while the
/// store refuses writes and its PUBACKs wait: past 65,535 unanswered
/// PUBLISHes (it must be reusing packet ids still in use) it is
/// disconnected, and the broker serves the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_3x_publisher_cannot_pile_up_held_acknowledgements_without_bound() {
    let dir = mqhost_tests::plugins::TempDir::new();
    let sets = file_limit_settings(&dir);
    let sets: Vec<(&str, &str)> = sets.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (mut broker, mut publisher, _) = at_the_file_size_limit(&sets).await;
    // Then small PUBLISHes, packet ids round and round, in big writes.
    let mut bytes = bytes::BytesMut::new();
    for i in 0..70_000u32 {
        let id = (i % 65_535) as u16 + 1;
        let packet = Packet::Publish(publish("full/more", b"x", QoS::AtLeastOnce, id));
        mqhost_codec::encode(&packet, ProtocolVersion::V3_1_1, &mut bytes).unwrap();
    }
    for chunk in bytes.chunks(64 * 1024) {
        if !publisher.try_send_bytes(chunk).await {
            break;
        }
    }
    publisher.expect_closed().await;
    assert!(broker.is_running());
    assert!(
        broker
            .wait_for_log("packet_ids_in_use", Duration::from_secs(10))
            .is_some(),
        "{:#?}",
        broker.logs()
    );
    let mut other = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "other").await;
    other
        .send(Packet::Publish(publish(
            "free/1",
            b"q1",
            QoS::AtLeastOnce,
            1,
        )))
        .await;
    assert!(matches!(
        other.recv_within(PROMPT).await,
        Ok(Some(Packet::PubAck(_)))
    ));
}

/// More than the writer keeps for a retry (64 MiB) comes while the disk
/// is full: it keeps the state alone and counts what it could not write;
/// once space is freed it writes the whole state as a new log before the
/// PUBACKs that waited go, and nothing acknowledged is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_the_retry_buffer_the_whole_state_is_written_anew() {
    const BIG: usize = 256 << 10;
    const MESSAGES: u16 = 300;
    let Some(tmpfs) = Tmpfs::for_test(
        "128m",
        "beyond_the_retry_buffer_the_whole_state_is_written_anew",
    ) else {
        return;
    };
    let data = tmpfs.path().join("data");
    let start = || {
        Broker::start_with(&[
            ("persistence.dir", &data.display().to_string()),
            ("mqtt.max_queued_messages", "0"),
        ])
    };
    let mut broker = start();
    offline_subscriber(&broker, "keeper", "big/#").await;
    // Every byte left taken.
    let filler = tmpfs.path().join("filler");
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 1 << 20];
        while file.write_all(&chunk).is_ok() {}
    }

    // The publisher sends everything at once and counts its PUBACKs.
    let publisher = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "big-pub").await;
    let (mut stream, mut buf) = publisher.into_parts();
    let (acks_tx, mut acks) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut out = bytes::BytesMut::new();
        for n in 1..=MESSAGES {
            out.clear();
            // Zero-padded by hand: format! widths stop at 65535.
            let digits = n.to_string();
            let payload = "0".repeat(BIG - digits.len()) + &digits;
            let packet = publish(&format!("big/{n}"), payload.as_bytes(), QoS::AtLeastOnce, n);
            mqhost_codec::encode(&Packet::Publish(packet), ProtocolVersion::V3_1_1, &mut out)
                .unwrap();
            if stream.write_all(&out).await.is_err() {
                return;
            }
        }
        loop {
            match mqhost_codec::decode(&mut buf, Some(ProtocolVersion::V3_1_1), u32::MAX) {
                Ok(Some(Packet::PubAck(a))) => {
                    let _ = acks_tx.send(a.packet_id);
                }
                Ok(Some(_)) | Err(_) => return,
                Ok(None) => match stream.read_buf(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                },
            }
        }
    });

    // Past 64 MiB waiting, the records are counted as not stored.
    let deadline = Instant::now() + Duration::from_secs(60);
    let refusing = loop {
        let now = status(&broker).await;
        if figure(&now, "records_not_stored") > 0 && figure(&now, "queued_messages") > 0 {
            break now;
        }
        assert!(
            Instant::now() < deadline,
            "nothing was dropped from the retry buffer: {now}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(refusing["state"], "refusing_writes", "{refusing}");
    assert!(
        acks.try_recv().is_err(),
        "a PUBACK went before its message was stored"
    );
    let metrics = broker.metrics().await;
    assert!(metrics.value("mqhost_persistence_records_not_stored_total", &[]) > 0.0);

    // Space freed: the state is written whole, then every PUBACK goes.
    std::fs::remove_file(&filler).unwrap();
    for expected in 1..=MESSAGES {
        match tokio::time::timeout(Duration::from_secs(60), acks.recv()).await {
            Ok(Some(id)) => assert_eq!(id, expected),
            other => panic!("expected PUBACK {expected} once space was freed, got {other:?}"),
        }
    }
    let written = status(&broker).await;
    assert_eq!(written["state"], "ok", "{written}");
    assert!(figure(&written, "compactions") >= 1, "{written}");
    assert!(written["last_compaction_at"].is_string(), "{written}");
    assert_eq!(
        figure(&written, "queued_messages"),
        u64::from(MESSAGES),
        "{written}"
    );
    assert!(
        figure(&written, "log_bytes") >= u64::from(MESSAGES) * BIG as u64,
        "{written}"
    );
    eprintln!(
        "{} records not stored while the disk was full; the state written anew: {} bytes, \
         {} records, in {} ms",
        figure(&written, "records_not_stored"),
        figure(&written, "log_bytes"),
        figure(&written, "log_records"),
        figure(&written, "last_compaction_ms")
    );

    broker.kill();
    let broker = start();
    let (mut keeper, present) = connect_kept(broker.addr(), "keeper").await;
    assert!(present);
    let got: BTreeSet<u32> = drain(&mut keeper)
        .await
        .into_iter()
        .map(|(_, n)| n)
        .collect();
    assert_eq!(got, (1..=u32::from(MESSAGES)).collect::<BTreeSet<u32>>());
    drop(broker);
    drop(tmpfs);
}
