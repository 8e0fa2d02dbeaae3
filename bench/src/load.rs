//! The loads: publishers and subscribers that count and check every
//! message, paced or unbounded, and a crowd of idle connections.
//!
//! Every payload carries its publisher's index, a sequence number and the
//! time it was encoded, so a subscriber knows exactly which messages it got,
//! in which order, and how long each took. A run in which any subscriber
//! misses a message it subscribed to fails, naming the first one missing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use mqhost_codec::{encode, encode_publish, Packet, PubAck, PublishProperties, PublishView, QoS};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::client::{drive, Conn, Error, Login, Role, Session, VERSION, WRITE_BATCH};
use crate::transport::Endpoint;

/// Bytes of every payload: index (4), sequence (8), timestamp (8), filler.
pub const PAYLOAD_LEN: usize = 64;
/// A run with no message delivered for this long is over: what is missing
/// by then is lost.
const STALL: Duration = Duration::from_secs(5);
/// Handshakes under way at once while a load sets up.
const SETUP_CONCURRENCY: usize = 100;

/// The instant payload timestamps count from (nanoseconds).
fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

fn stamp(at: Instant) -> u64 {
    at.saturating_duration_since(base()).as_nanos() as u64
}

fn ack(packet_id: u16) -> PubAck {
    PubAck {
        packet_id,
        reason: 0,
        properties: Default::default(),
    }
}

fn push(packet: &Packet, wbuf: &mut BytesMut) {
    // Acknowledgements always encode.
    let _ = encode(packet, VERSION, wbuf);
}

// === Publisher ===

/// Sends `total` messages to its topics in turn, keeping at most `window`
/// QoS 1/2 messages unacknowledged; paced at `rate` messages per second if
/// set.
pub(crate) struct Publisher {
    index: u32,
    topics: Vec<String>,
    qos: QoS,
    total: u64,
    sent: u64,
    completed: u64,
    free_ids: Vec<u16>,
    pacing: Option<(Instant, f64)>,
    properties: PublishProperties,
}

impl Publisher {
    pub(crate) fn new(index: u32, topic: String, qos: QoS, total: u64, window: usize) -> Self {
        Publisher::cycling(index, vec![topic], qos, total, window)
    }

    /// A publisher that sends its messages to `topics` one after the
    /// other, round and round.
    pub(crate) fn cycling(
        index: u32,
        topics: Vec<String>,
        qos: QoS,
        total: u64,
        window: usize,
    ) -> Self {
        let window = window.clamp(1, 65535) as u16;
        Publisher {
            index,
            topics,
            qos,
            total,
            sent: 0,
            completed: 0,
            free_ids: (1..=window).rev().collect(),
            pacing: None,
            properties: PublishProperties::default(),
        }
    }

    /// Messages due by `now` under pacing (all of them when unpaced).
    fn due(&self, now: Instant) -> u64 {
        match self.pacing {
            Some((start, rate)) => {
                let due = (now.saturating_duration_since(start).as_secs_f64() * rate) as u64 + 1;
                due.min(self.total)
            }
            None => self.total,
        }
    }
}

impl Role for Publisher {
    fn fill(&mut self, wbuf: &mut BytesMut) {
        let now = Instant::now();
        let due = self.due(now);
        let mut payload = [0x2Au8; PAYLOAD_LEN];
        payload[0..4].copy_from_slice(&self.index.to_le_bytes());
        while self.sent < due && wbuf.len() < WRITE_BATCH {
            let packet_id = if self.qos == QoS::AtMostOnce {
                0
            } else {
                match self.free_ids.pop() {
                    Some(id) => id,
                    None => break,
                }
            };
            payload[4..12].copy_from_slice(&self.sent.to_le_bytes());
            let at = if self.pacing.is_some() {
                Instant::now()
            } else {
                now
            };
            payload[12..20].copy_from_slice(&stamp(at).to_le_bytes());
            let view = PublishView {
                dup: false,
                qos: self.qos,
                retain: false,
                topic: &self.topics[(self.sent % self.topics.len() as u64) as usize],
                packet_id,
                payload: &payload,
                properties: &self.properties,
                topic_alias: None,
                message_expiry_interval: None,
                subscription_identifiers: &[],
            };
            let _ = encode_publish(&view, VERSION, wbuf);
            self.sent += 1;
            if self.qos == QoS::AtMostOnce {
                self.completed += 1;
            }
        }
    }

    fn on_packet(
        &mut self,
        packet: Packet,
        _now: Instant,
        wbuf: &mut BytesMut,
    ) -> Result<(), Error> {
        match packet {
            Packet::PubAck(a) if self.qos == QoS::AtLeastOnce => {
                self.free_ids.push(a.packet_id);
                self.completed += 1;
            }
            Packet::PubRec(r) if self.qos == QoS::ExactlyOnce => {
                push(&Packet::PubRel(ack(r.packet_id)), wbuf);
            }
            Packet::PubComp(c) if self.qos == QoS::ExactlyOnce => {
                self.free_ids.push(c.packet_id);
                self.completed += 1;
            }
            other => return Err(format!("publisher got an unexpected {}", other.name())),
        }
        Ok(())
    }

    fn done(&self) -> bool {
        self.completed == self.total
    }

    fn next_fill_at(&self) -> Option<Instant> {
        let (start, rate) = self.pacing?;
        (self.sent < self.total).then(|| start + Duration::from_secs_f64(self.sent as f64 / rate))
    }
}

// === Subscriber ===

/// Receives from a set of publishers, acknowledging as the QoS asks, and
/// records which sequence numbers arrived.
struct Subscriber {
    /// Slot of each publisher index in `seen`, None for publishers this
    /// subscriber does not hear.
    slot_of: Vec<Option<usize>>,
    /// One bit per sequence number, per publisher heard.
    seen: Vec<Vec<u64>>,
    /// Next sequence number expected from each publisher, for ordering.
    next: Vec<u64>,
    per_publisher: u64,
    expected: u64,
    received: u64,
    duplicates: u64,
    out_of_order: u64,
    last_at: Option<Instant>,
    /// Latency of every message in nanoseconds, when measured.
    latencies: Option<Vec<u64>>,
    progress: Arc<AtomicU64>,
}

impl Subscriber {
    fn new(
        publishers: usize,
        hears: &[usize],
        per_publisher: u64,
        latencies: bool,
        progress: Arc<AtomicU64>,
    ) -> Self {
        let mut slot_of = vec![None; publishers];
        for (slot, &p) in hears.iter().enumerate() {
            slot_of[p] = Some(slot);
        }
        let words = per_publisher.div_ceil(64) as usize;
        Subscriber {
            slot_of,
            seen: vec![vec![0; words]; hears.len()],
            next: vec![0; hears.len()],
            per_publisher,
            expected: per_publisher * hears.len() as u64,
            received: 0,
            duplicates: 0,
            out_of_order: 0,
            last_at: None,
            latencies: latencies.then(|| Vec::with_capacity(per_publisher as usize)),
            progress,
        }
    }

    /// The first message missing, as (publisher slot, sequence), if any.
    fn first_missing(&self) -> Option<(usize, u64)> {
        for (slot, bits) in self.seen.iter().enumerate() {
            for seq in 0..self.per_publisher {
                if bits[(seq / 64) as usize] & (1 << (seq % 64)) == 0 {
                    return Some((slot, seq));
                }
            }
        }
        None
    }

    fn record(&mut self, payload: &[u8], now: Instant) -> Result<(), Error> {
        if payload.len() < 20 {
            return Err(format!("payload of {} bytes is not ours", payload.len()));
        }
        let word = |range: std::ops::Range<usize>| {
            let mut bytes = [0u8; 8];
            bytes[..range.len()].copy_from_slice(&payload[range]);
            u64::from_le_bytes(bytes)
        };
        let index = word(0..4) as usize;
        let seq = word(4..12);
        let sent_at = word(12..20);
        let Some(slot) = self.slot_of.get(index).copied().flatten() else {
            return Err(format!(
                "message from publisher {index}, which it did not subscribe to"
            ));
        };
        if seq >= self.per_publisher {
            return Err(format!(
                "sequence {seq} out of range from publisher {index}"
            ));
        }
        let (w, bit) = ((seq / 64) as usize, 1u64 << (seq % 64));
        if self.seen[slot][w] & bit != 0 {
            self.duplicates += 1;
            return Ok(());
        }
        self.seen[slot][w] |= bit;
        if seq != self.next[slot] {
            self.out_of_order += 1;
        }
        self.next[slot] = seq + 1;
        self.received += 1;
        self.last_at = Some(now);
        self.progress.fetch_add(1, Ordering::Relaxed);
        if let Some(latencies) = self.latencies.as_mut() {
            latencies.push(stamp(now).saturating_sub(sent_at));
        }
        Ok(())
    }
}

impl Role for Subscriber {
    fn fill(&mut self, _wbuf: &mut BytesMut) {}

    fn on_packet(
        &mut self,
        packet: Packet,
        now: Instant,
        wbuf: &mut BytesMut,
    ) -> Result<(), Error> {
        match packet {
            Packet::Publish(p) => {
                self.record(&p.payload, now)?;
                match p.qos {
                    QoS::AtMostOnce => {}
                    QoS::AtLeastOnce => push(&Packet::PubAck(ack(p.packet_id)), wbuf),
                    QoS::ExactlyOnce => push(&Packet::PubRec(ack(p.packet_id)), wbuf),
                }
            }
            Packet::PubRel(r) => push(&Packet::PubComp(ack(r.packet_id)), wbuf),
            Packet::PingResp => {}
            other => return Err(format!("subscriber got an unexpected {}", other.name())),
        }
        Ok(())
    }

    fn done(&self) -> bool {
        self.received == self.expected
    }
}

// === Message loads ===

/// Who publishes where and who hears whom.
#[derive(Debug, Clone)]
pub struct MessageLoad {
    /// Topic of each publisher.
    pub topics: Vec<String>,
    /// Filters of each subscriber.
    pub filters: Vec<Vec<String>>,
    /// Publishers each subscriber hears.
    pub hears: Vec<Vec<usize>>,
    pub qos: QoS,
    /// Messages each publisher sends.
    pub per_publisher: u64,
    /// QoS 1/2 messages a publisher keeps unacknowledged.
    pub window: usize,
    /// Messages per second of each publisher; None is as fast as it can.
    pub rate: Option<f64>,
    /// Measure latency (from the payload's timestamp).
    pub latency: bool,
    /// The session every client of the load asks for.
    pub session: Session,
}

impl MessageLoad {
    /// `pairs` publishers, each heard by its own subscriber on its own topic.
    pub fn pairs(pairs: usize, qos: QoS, per_publisher: u64, window: usize) -> Self {
        MessageLoad {
            topics: (0..pairs).map(|i| format!("bench/pair/{i}")).collect(),
            filters: (0..pairs)
                .map(|i| vec![format!("bench/pair/{i}")])
                .collect(),
            hears: (0..pairs).map(|i| vec![i]).collect(),
            qos,
            per_publisher,
            window,
            rate: None,
            latency: false,
            session: Session::Clean,
        }
    }

    /// `publishers` publishers on topics of their own, one subscriber to all
    /// through a wildcard.
    pub fn fan_in(publishers: usize, qos: QoS, per_publisher: u64, window: usize) -> Self {
        MessageLoad {
            topics: (0..publishers).map(|i| format!("bench/in/{i}")).collect(),
            filters: vec![vec!["bench/in/+".to_owned()]],
            hears: vec![(0..publishers).collect()],
            qos,
            per_publisher,
            window,
            rate: None,
            latency: false,
            session: Session::Clean,
        }
    }

    /// One publisher heard by `subscribers` subscribers.
    pub fn fan_out(subscribers: usize, qos: QoS, messages: u64, window: usize) -> Self {
        MessageLoad {
            topics: vec!["bench/out".to_owned()],
            filters: vec![vec!["bench/out".to_owned()]; subscribers],
            hears: vec![vec![0]; subscribers],
            qos,
            per_publisher: messages,
            window,
            rate: None,
            latency: false,
            session: Session::Clean,
        }
    }

    /// Messages all subscribers together must receive.
    pub fn expected(&self) -> u64 {
        self.hears.iter().map(|h| h.len() as u64).sum::<u64>() * self.per_publisher
    }
}

/// What a message load measured.
#[derive(Debug, Clone)]
pub struct MessageOutcome {
    /// When the publishers were let go: a backend's work after the load
    /// is timed from here too.
    pub started: Instant,
    /// Messages received, all subscribers together.
    pub delivered: u64,
    /// From the first publish to the last message received.
    pub elapsed: Duration,
    pub duplicates: u64,
    pub out_of_order: u64,
    /// Latencies in nanoseconds, sorted (latency loads only).
    pub latencies: Vec<u64>,
    /// The TLS version and cipher suite, over TLS.
    pub tls: Option<String>,
}

impl MessageOutcome {
    /// Messages received per second.
    pub fn rate(&self) -> f64 {
        self.delivered as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The latency at quantile `q` (0 to 1), in microseconds; latency
    /// loads only, which always have some.
    pub fn latency_us(&self, q: f64) -> f64 {
        let last = self.latencies.len() - 1;
        let i = ((self.latencies.len() as f64 * q) as usize).min(last);
        self.latencies[i] as f64 / 1000.0
    }
}

/// Connects `count` clients named `prefix{i}`, a bounded number at a time,
/// each with `login` if there is one (its own user when the login is
/// numbered).
pub(crate) async fn connect_all(
    endpoint: &Endpoint,
    prefix: &str,
    count: usize,
    keep_alive: u16,
    login: Option<&Login>,
    session: Session,
) -> Result<Vec<Conn>, Error> {
    connect_all_then(endpoint, prefix, count, (keep_alive, session), login, None).await
}

/// As [`connect_all`], each client then subscribing to `subscribe` (at QoS
/// 0, the SUBACK granting it) if given, before it counts as connected.
async fn connect_all_then(
    endpoint: &Endpoint,
    prefix: &str,
    count: usize,
    (keep_alive, session): (u16, Session),
    login: Option<&Login>,
    subscribe: Option<&str>,
) -> Result<Vec<Conn>, Error> {
    let mut conns: Vec<Option<Conn>> = (0..count).map(|_| None).collect();
    let mut next = 0;
    let mut tasks = JoinSet::new();
    while next < count || !tasks.is_empty() {
        while next < count && tasks.len() < SETUP_CONCURRENCY {
            let id = format!("{prefix}{next}");
            let i = next;
            let login = login.map(|l| l.for_client(i));
            let endpoint = endpoint.clone();
            let filters = subscribe.map(|f| vec![f.to_owned()]);
            tasks.spawn(async move {
                let conn =
                    Conn::connect_session(&endpoint, &id, keep_alive, login.as_ref(), session)
                        .await
                        .map(|(conn, _)| conn);
                let conn = match (conn, filters) {
                    (Ok(mut conn), Some(filters)) => conn
                        .subscribe(&filters, QoS::AtMostOnce)
                        .await
                        .map(|()| conn)
                        .map_err(|e| format!("{id}: {e}")),
                    (conn, _) => conn,
                };
                (i, conn)
            });
            next += 1;
        }
        if let Some(joined) = tasks.join_next().await {
            let (i, conn) = joined.map_err(|e| e.to_string())?;
            conns[i] = Some(conn?);
        }
    }
    Ok(conns.into_iter().flatten().collect())
}

/// Runs a message load against the broker at `endpoint`: subscribers first,
/// then publishers, then everything at once, every client with `login`;
/// fails if a message is lost.
pub async fn run_messages(
    endpoint: &Endpoint,
    load: &MessageLoad,
    login: Option<&Login>,
) -> Result<MessageOutcome, Error> {
    let mut subscribers = connect_all(
        endpoint,
        "bench-sub-",
        load.filters.len(),
        300,
        login,
        load.session,
    )
    .await?;
    for (conn, filters) in subscribers.iter_mut().zip(&load.filters) {
        conn.subscribe(filters, load.qos).await?;
    }
    let publishers = connect_all(
        endpoint,
        "bench-pub-",
        load.topics.len(),
        300,
        login,
        load.session,
    )
    .await?;
    let tls = publishers.first().and_then(|c| c.stream.tls_parameters());

    let progress = Arc::new(AtomicU64::new(0));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut sub_tasks = JoinSet::new();
    for (i, conn) in subscribers.into_iter().enumerate() {
        let role = Subscriber::new(
            load.topics.len(),
            &load.hears[i],
            load.per_publisher,
            load.latency,
            Arc::clone(&progress),
        );
        let mut role = role;
        let stop = stop_rx.clone();
        sub_tasks.spawn(async move {
            let result = drive(conn, &mut role, stop).await;
            (i, result, role)
        });
    }
    let start = Instant::now();
    let mut pub_tasks = JoinSet::new();
    for (i, (conn, topic)) in publishers.into_iter().zip(&load.topics).enumerate() {
        let mut role = Publisher::new(
            i as u32,
            topic.clone(),
            load.qos,
            load.per_publisher,
            load.window,
        );
        role.pacing = load.rate.map(|rate| (start, rate));
        let stop = stop_rx.clone();
        pub_tasks.spawn(async move { drive(conn, &mut role, stop).await.map(|()| i) });
    }

    // Watchdog: a load that stops making progress is stopped, and what is
    // missing then is lost.
    let watchdog = {
        let progress = Arc::clone(&progress);
        let expected = load.expected();
        tokio::spawn(async move {
            let mut last = (0, Instant::now());
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let now = progress.load(Ordering::Relaxed);
                if now >= expected {
                    return;
                }
                if now != last.0 {
                    last = (now, Instant::now());
                } else if last.1.elapsed() >= STALL {
                    let _ = stop_tx.send(true);
                    return;
                }
            }
        })
    };

    let mut outcome = MessageOutcome {
        started: start,
        delivered: 0,
        elapsed: Duration::ZERO,
        duplicates: 0,
        out_of_order: 0,
        latencies: Vec::new(),
        tls,
    };
    let mut first_error: Option<Error> = None;
    let mut end = start;
    let mut losses = Vec::new();
    while let Some(joined) = sub_tasks.join_next().await {
        let (i, result, role) = joined.map_err(|e| e.to_string())?;
        if let Err(e) = result {
            first_error.get_or_insert(format!("subscriber {i}: {e}"));
        }
        outcome.delivered += role.received;
        outcome.duplicates += role.duplicates;
        outcome.out_of_order += role.out_of_order;
        if let Some(at) = role.last_at {
            end = end.max(at);
        }
        if let Some((slot, seq)) = role.first_missing() {
            let publisher = load.hears[i][slot];
            losses.push(format!(
                "subscriber {i} lost {} of {} (first missing: publisher {publisher}, sequence {seq})",
                role.expected - role.received,
                role.expected
            ));
        }
        if let Some(latencies) = role.latencies {
            outcome.latencies.extend(latencies);
        }
    }
    watchdog.abort();
    while let Some(joined) = pub_tasks.join_next().await {
        if let Err(e) = joined.map_err(|e| e.to_string())? {
            first_error.get_or_insert(format!("publisher: {e}"));
        }
    }
    outcome.elapsed = end - start;
    outcome.latencies.sort_unstable();
    if !losses.is_empty() {
        let total = load.expected() - outcome.delivered;
        let shown: Vec<&str> = losses.iter().take(3).map(String::as_str).collect();
        return Err(format!(
            "{total} of {} messages lost: {}{}{}",
            load.expected(),
            shown.join("; "),
            if losses.len() > 3 { "; ..." } else { "" },
            first_error.map(|e| format!(" ({e})")).unwrap_or_default()
        ));
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    if load.qos == QoS::ExactlyOnce && outcome.duplicates > 0 {
        return Err(format!(
            "{} QoS 2 messages delivered twice",
            outcome.duplicates
        ));
    }
    Ok(outcome)
}

// === Idle connections ===

/// What the idle-connection load measured.
#[derive(Debug, Clone, Default)]
pub struct ConnectOutcome {
    pub connections: usize,
    /// Connections per second, CONNECT to CONNACK, `concurrency` at a time.
    pub rate: f64,
    /// Broker resident memory before and after, in KiB.
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
    /// The TLS version and cipher suite, over TLS.
    pub tls: Option<String>,
}

impl ConnectOutcome {
    /// Broker memory per idle connection, in bytes.
    pub fn bytes_per_connection(&self) -> f64 {
        (self.rss_after_kib.saturating_sub(self.rss_before_kib) * 1024) as f64
            / self.connections.max(1) as f64
    }
}

/// Opens `count` connections (CONNECT with `login`, CONNACK, then, with
/// `subscribe`, a SUBSCRIBE to it and its SUBACK, then nothing) and
/// measures the rate and the broker's memory growth (`rss` reads it in
/// KiB).
pub async fn run_connections(
    endpoint: &Endpoint,
    count: usize,
    login: Option<&Login>,
    subscribe: Option<&str>,
    rss: impl Fn() -> Result<u64, Error>,
) -> Result<ConnectOutcome, Error> {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_before_kib = rss()?;
    let start = Instant::now();
    let conns = connect_all_then(
        endpoint,
        "bench-idle-",
        count,
        (600, Session::Clean),
        login,
        subscribe,
    )
    .await?;
    let elapsed = start.elapsed();
    // Let the broker finish what each CONNECT set off.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let rss_after_kib = rss()?;
    let tls = conns.first().and_then(|c| c.stream.tls_parameters());
    for conn in &conns {
        // A reset, not a close: no TIME_WAIT left to use up ports for
        // the next round.
        let _ = conn.stream.tcp().set_zero_linger();
    }
    drop(conns);
    Ok(ConnectOutcome {
        connections: count,
        rate: count as f64 / elapsed.as_secs_f64(),
        rss_before_kib,
        rss_after_kib,
        tls,
    })
}
