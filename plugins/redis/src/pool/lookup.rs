//! Lookups: the functions that read Redis and then act through the host.
//!
//! - `on_subscribe_lookup`: `HGETALL mqtt:sub:${clientid}`, then subscribe
//!   the client to each filter.
//! - `on_retain_lookup`: `HGETALL mqtt:retain:${filter}` (or, for a
//!   wildcard filter, the matching retained topics), delivered with the
//!   retain flag: no more than the pool's `retain_lookup_max`, nor than
//!   the subscriber's session can take when the lookup starts
//!   (`session_room`); what is left is counted, not read.
//! - `on_message_fetch_for_queue`, `..._for_pubsub`, `..._for_keep_latest`:
//!   stored messages, delivered oldest first with their original id,
//!   topic, QoS, publisher and time, so their acks find them.
//!
//! Lookups of one client run one after another in the order their events
//! came (a SUBSCRIBE's fetches deliver in filter order); lookups of
//! different clients run at once, up to the pool's `pool_size`. Every
//! delivery happens after the reads, so a lookup retried after a lost
//! connection never delivers twice. The host delivers through the
//! session, after the SUBACK the hook followed.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mqhost_plugin_api::abi_stable::std_types::ROption;
use mqhost_plugin_api::{topic, Host, HostError, MessageId, OutMessage};
use mqhost_redis_link::{is_transient, Conn, ConnCell};
use redis::{cmd, Cmd, RedisError, RedisResult, Value};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::{Id, JoinSet};

use super::shared::{unix_millis, PoolShared};
use super::SharedConfig;
use crate::event::{Event, SubscriptionData};
use crate::functions::acked::acked_key;
use crate::functions::keys;
use crate::functions::message::{latest_key, msg_key, retain_key, RETAIN_PREFIX};
use crate::functions::Function;
use crate::scan;

/// How long a lookup keeps trying while Redis is away before it is given
/// up (and counted in `lookup_failures`).
pub(crate) const PATIENCE: Duration = Duration::from_secs(30);

/// How long one attempt at a lookup may wait for Redis.
pub(crate) const READ_PATIENCE: Duration = Duration::from_secs(10);
/// On a cluster, an id in a topic's index whose message hash is missing is
/// removed only when it is older than this: the index and the hash live in
/// different slots, written at once, so for a moment (longer while a
/// failover holds a slot) the index can name a message not written yet.
pub(crate) const MISSING_GRACE: Duration = Duration::from_secs(120);

/// Whether an indexed id without its message may be removed: its message
/// expired or was consumed, rather than not written yet. Ids carry their
/// publish time (microseconds, high 64 bits); one that does not parse is
/// not ours and goes.
fn stale(id: &str, now_ms: u64) -> bool {
    MessageId::from_base62(id)
        .is_none_or(|id| now_ms.saturating_sub(id.high / 1000) > MISSING_GRACE.as_millis() as u64)
}

/// Keys read per pipeline of `HGETALL`s: what one read holds in replies
/// besides the messages it keeps.
const READ_PAGE: usize = 100;

/// A lookup to run: the function and its event.
#[derive(Debug, Clone)]
pub(crate) struct Lookup {
    /// Which function.
    pub(crate) function: Function,
    /// The event that triggered it.
    pub(crate) event: Event<'static>,
}

/// A message read back from one of the message hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stored {
    /// The id the broker can carry: present when the stored text is the
    /// broker's own 22-character form, so acks name the same key.
    pub(crate) id: Option<MessageId>,
    /// Publisher.
    pub(crate) from: String,
    /// QoS as published.
    pub(crate) qos: u8,
    /// Topic.
    pub(crate) topic: String,
    /// Payload.
    pub(crate) payload: Vec<u8>,
    /// Publish time, Unix milliseconds (0: unknown).
    pub(crate) ts_ms: u64,
}

/// What a lookup found, to act on once every read is done.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// Messages to deliver, in order, with the QoS granted and whether to
    /// set the retain flag.
    pub(crate) deliveries: Vec<(Stored, u8, bool)>,
    /// Filters to subscribe the client to, with their QoS.
    pub(crate) subscriptions: Vec<(String, u8)>,
    /// Retained messages found beyond what the lookup could take (the
    /// pool's `retain_lookup_max`, or the session's room).
    pub(crate) skipped: u64,
}

/// The pool's read connection, shared by its lookups and reconnected on
/// demand with the pool's settings of the moment.
struct ReadConn {
    settings: watch::Receiver<SharedConfig>,
    cell: ConnCell,
}

impl ReadConn {
    /// The connection, connecting first if there is none.
    async fn get(&self) -> RedisResult<(u64, Conn)> {
        self.cell.get(|| self.settings.borrow().link.clone()).await
    }

    /// Drops the connection if it is still `generation` (a failed lookup
    /// should not close the one a concurrent lookup just made).
    async fn invalidate(&self, generation: Option<u64>) {
        self.cell.invalidate(generation).await;
    }
}

/// Runs a pool's lookups until the pool is dropped.
pub(crate) async fn run(
    shared: Arc<PoolShared>,
    mut rx: mpsc::UnboundedReceiver<Lookup>,
    mut settings: watch::Receiver<SharedConfig>,
) {
    let mut config = settings.borrow().clone();
    let read = Arc::new(ReadConn {
        settings: settings.clone(),
        cell: ConnCell::new(),
    });
    let mut limit = Arc::new(Semaphore::new(config.link.pool_size));
    // Per client: the lookups waiting behind the one running.
    let mut waiting: HashMap<String, VecDeque<Lookup>> = HashMap::new();
    let mut running: JoinSet<()> = JoinSet::new();
    let mut running_for: HashMap<Id, String> = HashMap::new();
    let mut open = true;
    let mut settings_open = true;

    let spawn = |running: &mut JoinSet<()>,
                 running_for: &mut HashMap<Id, String>,
                 limit: &Arc<Semaphore>,
                 lookup: Lookup| {
        let client = lookup.event.client_id().to_owned();
        let task = perform(
            Arc::clone(&shared),
            Arc::clone(&read),
            Arc::clone(limit),
            lookup,
        );
        let handle = running.spawn(task);
        running_for.insert(handle.id(), client);
    };

    loop {
        if !open && running.is_empty() {
            break;
        }
        tokio::select! {
            lookup = rx.recv(), if open => match lookup {
                Some(lookup) => {
                    let client = lookup.event.client_id().to_owned();
                    match waiting.get_mut(&client) {
                        Some(queue) => queue.push_back(lookup),
                        None => {
                            waiting.insert(client, VecDeque::new());
                            spawn(&mut running, &mut running_for, &limit, lookup);
                        }
                    }
                }
                None => open = false,
            },
            Some(done) = running.join_next_with_id() => {
                let id = match done {
                    Ok((id, ())) => id,
                    Err(error) => error.id(),
                };
                if let Some(client) = running_for.remove(&id) {
                    let next = waiting.get_mut(&client).and_then(VecDeque::pop_front);
                    match next {
                        Some(lookup) => spawn(&mut running, &mut running_for, &limit, lookup),
                        None => {
                            waiting.remove(&client);
                        }
                    }
                }
            },
            changed = settings.changed(), if settings_open => match changed {
                Ok(()) => {
                    let new = settings.borrow_and_update().clone();
                    if !new.same_connection(&config) {
                        read.invalidate(None).await;
                    }
                    if new.link.pool_size != config.link.pool_size {
                        limit = Arc::new(Semaphore::new(new.link.pool_size));
                    }
                    config = new;
                }
                Err(_) => settings_open = false,
            },
        }
    }
}

/// Runs one lookup, retrying while Redis is away, within [`PATIENCE`].
async fn perform(
    shared: Arc<PoolShared>,
    read: Arc<ReadConn>,
    limit: Arc<Semaphore>,
    lookup: Lookup,
) {
    let started = Instant::now();
    let _permit = limit.acquire_owned().await;
    let deadline = Instant::now() + PATIENCE;
    let mut backoff = Duration::from_millis(50);
    loop {
        // Asked again on each attempt: the session's room changes while
        // Redis is away.
        let retain_max = read.settings.borrow().retain_lookup_max;
        let Some(retain_max) = retain_bound(&shared.host, &lookup, retain_max) else {
            // The session is gone: nothing to read, nobody to deliver to.
            shared.stats.lookups.fetch_add(1, Ordering::Relaxed);
            break;
        };
        let (generation, result) = match read.get().await {
            Ok((generation, mut conn)) => {
                // Reads are retried, so a request that hangs (a cluster
                // connection during a failover) is abandoned after a while.
                let found =
                    tokio::time::timeout(READ_PATIENCE, find(&mut conn, &lookup, retain_max))
                        .await
                        .unwrap_or_else(|_| {
                            Err(RedisError::from(std::io::Error::new(
                                std::io::ErrorKind::TimedOut,
                                "no answer to a lookup",
                            )))
                        });
                (Some(generation), found)
            }
            Err(error) => (None, Err(error)),
        };
        match result {
            Ok(outcome) => {
                shared
                    .stats
                    .retain_lookup_skipped
                    .fetch_add(outcome.skipped, Ordering::Relaxed);
                act(&shared, &lookup, outcome);
                shared.stats.lookups.fetch_add(1, Ordering::Relaxed);
                shared.stats.lookup_micros.fetch_add(
                    u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
                    Ordering::Relaxed,
                );
                break;
            }
            Err(error) => {
                read.invalidate(generation).await;
                if Instant::now() >= deadline {
                    shared.stats.lookup_failures.fetch_add(1, Ordering::Relaxed);
                    shared.host.warn(&format!(
                        "pool {}: {} for client {} given up after {}s: {error}",
                        shared.name,
                        lookup.function.name(),
                        lookup.event.client_id(),
                        PATIENCE.as_secs()
                    ));
                    break;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
    shared.lookups_waiting.fetch_sub(1, Ordering::Relaxed);
}

/// How many retained messages the lookup may read now: at most the
/// pool's `retain_lookup_max`, and, for a retained lookup, no more than
/// its client's session can take, so that what is read is delivered
/// rather than dropped by a full queue. A host that cannot tell
/// (`UNSUPPORTED`) sets no bound of its own. None when the session is
/// gone (or the broker stopping): the lookup has nothing to do.
fn retain_bound(host: &Host, lookup: &Lookup, retain_max: usize) -> Option<usize> {
    if lookup.function != Function::RetainLookup {
        return Some(retain_max);
    }
    match host.session_room(lookup.event.client_id()) {
        Ok(room) => Some(retain_max.min(usize::try_from(room).unwrap_or(usize::MAX))),
        Err(HostError::UNSUPPORTED) => Some(retain_max),
        Err(_) => None,
    }
}

/// Does what the lookup found: subscribe, then deliver, in order.
fn act(shared: &PoolShared, lookup: &Lookup, outcome: Outcome) {
    let client = lookup.event.client_id();
    for (filter, qos) in &outcome.subscriptions {
        if let Err(error) = shared.host.subscribe(client, filter, *qos) {
            if error == HostError::NO_SUCH_CLIENT {
                return;
            }
            shared.host.warn(&format!(
                "pool {}: cannot subscribe {client} to {filter:?} from mqtt:sub:{client}: {error}",
                shared.name
            ));
        }
    }
    for (message, qos, retain) in &outcome.deliveries {
        let mut out = OutMessage::new(&message.topic, &message.payload, *qos);
        out.retain = *retain;
        out.id = match message.id {
            Some(id) => ROption::RSome(id),
            None => ROption::RNone,
        };
        out.from = message.from.as_str().into();
        out.timestamp_ms = message.ts_ms;
        match shared.host.deliver(client, &out) {
            Ok(()) => {
                shared.stats.delivered.fetch_add(1, Ordering::Relaxed);
            }
            // The client left: the rest would go nowhere either.
            Err(HostError::NO_SUCH_CLIENT) => return,
            Err(error) => shared.host.warn(&format!(
                "pool {}: {} could not deliver {} to {client}: {error}",
                shared.name,
                lookup.function.name(),
                message.topic
            )),
        }
    }
}

/// The reads (and the few writes) of a lookup; a retained lookup reads at
/// most `retain_max` messages and counts the others it finds in
/// `skipped`. An `Err` is worth retrying (the connection failed, or Redis
/// said to try again); a command Redis refuses for good reads as nothing.
pub(crate) async fn find(
    conn: &mut Conn,
    lookup: &Lookup,
    retain_max: usize,
) -> RedisResult<Outcome> {
    let mut outcome = Outcome::default();
    match (lookup.function, &lookup.event) {
        (Function::SubscribeLookup, event) => {
            let client = event.client_id();
            let reply = check(
                conn.query(cmd("HGETALL").arg(format!("mqtt:sub:{client}")))
                    .await?,
            )?;
            let mut subscriptions: Vec<(String, u8)> = hash_fields(reply)
                .into_iter()
                .filter_map(|(filter, qos)| {
                    let qos = std::str::from_utf8(&qos).ok()?.trim().parse::<u8>().ok()?;
                    (qos <= 2 && topic::validate_filter(topic::strip_share(&filter)).is_ok())
                        .then_some((filter, qos))
                })
                .collect();
            subscriptions.sort();
            outcome.subscriptions = subscriptions;
        }
        (Function::RetainLookup, Event::Subscription(sub)) => {
            let wanted = match sub.retain_handling {
                0 => true,
                1 => sub.is_new,
                _ => false,
            };
            if !wanted || sub.shared {
                return Ok(outcome);
            }
            let keys: Vec<String> = if topic::has_wildcards(&sub.filter) {
                // Paged, matched exactly as each page comes, and only the
                // first `retain_max` matches kept: the pattern is only the
                // filter's literal prefix, and `#` matches everything.
                let pattern = scan::pattern(RETAIN_PREFIX, &sub.filter);
                let found = conn
                    .scan_bounded(
                        &pattern,
                        |key| {
                            std::str::from_utf8(key).ok().is_some_and(|key| {
                                key.strip_prefix(RETAIN_PREFIX)
                                    .is_some_and(|t| topic::matches(&sub.filter, t))
                            })
                        },
                        retain_max,
                    )
                    .await?;
                outcome.skipped = found.beyond;
                let mut keys: Vec<String> = found
                    .keys
                    .into_iter()
                    .filter_map(|key| String::from_utf8(key).ok())
                    .collect();
                keys.sort();
                keys
            } else if retain_max == 0 {
                // No room: whether there was a message to skip is all
                // that is read.
                let key = retain_key(&sub.filter);
                let exists = check(conn.query(cmd("EXISTS").arg(&key)).await?)?;
                outcome.skipped = u64::from(matches!(exists, Value::Int(n) if n > 0));
                Vec::new()
            } else {
                vec![retain_key(&sub.filter)]
            };
            for message in read_messages(conn, &keys, sub).await?.into_iter().flatten() {
                let qos = message.qos.min(sub.qos);
                outcome.deliveries.push((message, qos, true));
            }
        }
        (Function::FetchForQueue, Event::Subscription(sub)) => {
            // `mqtt:msg:${filter}` would be a message's hash (functions::keys).
            if sub.qos == 0 || !sub.is_new || keys::id_like(&sub.filter) {
                return Ok(outcome);
            }
            let set = msg_key(&sub.filter);
            let ids = strings(check(
                conn.query(cmd("ZRANGE").arg(&set).arg(0).arg(-1)).await?,
            )?);
            let keys: Vec<String> = ids.iter().map(|id| msg_key(id)).collect();
            let messages = read_messages(conn, &keys, sub).await?;
            // Elsewhere a message's hash is written before its index entry,
            // in one ordered pipeline.
            let cluster = matches!(conn, Conn::Cluster(_));
            let now_ms = unix_millis();
            let gone: Vec<&String> = ids
                .iter()
                .zip(&messages)
                .filter(|(id, m)| m.is_none() && (!cluster || stale(id, now_ms)))
                .map(|(id, _)| id)
                .collect();
            if !gone.is_empty() {
                check(conn.query(cmd("ZREM").arg(&set).arg(gone)).await?)?;
            }
            for message in messages.into_iter().flatten() {
                let qos = message.qos.min(sub.qos);
                outcome.deliveries.push((message, qos, false));
            }
        }
        (Function::FetchForPubsub, Event::Subscription(sub)) => {
            // The index could be a message's hash, the position another
            // client's (functions::keys).
            if sub.qos == 0
                || !sub.is_new
                || keys::id_like(&sub.filter)
                || keys::splits_acked_key(&sub.client_id)
            {
                return Ok(outcome);
            }
            let set = msg_key(&sub.filter);
            let acked = acked_key(&sub.client_id, &sub.filter);
            let last = check(conn.query(cmd("GET").arg(&acked)).await?)?;
            match bytes(&last) {
                None => {
                    // First subscription: start from now. NX, so an ack
                    // that raced ahead of this lookup is not overwritten.
                    let newest = strings(check(
                        conn.query(cmd("ZRANGE").arg(&set).arg(-1).arg(-1)).await?,
                    )?);
                    let start = newest.into_iter().next().unwrap_or_else(|| "0".to_owned());
                    check(
                        conn.query(cmd("SET").arg(&acked).arg(start).arg("NX"))
                            .await?,
                    )?;
                }
                Some(last) => {
                    let last = String::from_utf8_lossy(&last).into_owned();
                    let ids: Vec<String> = strings(check(
                        conn.query(cmd("ZRANGE").arg(&set).arg(0).arg(-1)).await?,
                    )?)
                    .into_iter()
                    .filter(|id| *id > last)
                    .collect();
                    let keys: Vec<String> = ids.iter().map(|id| msg_key(id)).collect();
                    for message in read_messages(conn, &keys, sub).await?.into_iter().flatten() {
                        let qos = message.qos.min(sub.qos);
                        outcome.deliveries.push((message, qos, false));
                    }
                }
            }
        }
        (Function::FetchForKeepLatest, Event::Subscription(sub)) => {
            if sub.qos == 0 || !sub.is_new {
                return Ok(outcome);
            }
            let keys = [latest_key(&sub.filter)];
            for message in read_messages(conn, &keys, sub).await?.into_iter().flatten() {
                let qos = message.qos.min(sub.qos);
                outcome.deliveries.push((message, qos, false));
            }
        }
        _ => {}
    }
    Ok(outcome)
}

/// `HGETALL` of each key, pipelined [`READ_PAGE`] at a time, so the
/// replies held at once are one page's; None where the hash is gone (or
/// is not a message).
async fn read_messages(
    conn: &mut Conn,
    keys: &[String],
    sub: &SubscriptionData,
) -> RedisResult<Vec<Option<Stored>>> {
    let mut messages = Vec::with_capacity(keys.len());
    for page in keys.chunks(READ_PAGE) {
        let cmds: Vec<Cmd> = page
            .iter()
            .map(|key| {
                let mut c = cmd("HGETALL");
                c.arg(key);
                c
            })
            .collect();
        for reply in conn.query_many(cmds).await? {
            messages.push(stored(hash_fields(check(reply)?), &sub.filter));
        }
    }
    Ok(messages)
}

/// A reply, or an `Err` when Redis asked to try again later.
fn check(value: Value) -> RedisResult<Value> {
    match value {
        Value::ServerError(error) if is_transient(error.code()) => Err(RedisError::from(error)),
        other => Ok(other),
    }
}

/// The bytes of a string reply.
fn bytes(value: &Value) -> Option<Vec<u8>> {
    match value {
        Value::BulkString(bytes) => Some(bytes.clone()),
        Value::SimpleString(text) => Some(text.clone().into_bytes()),
        Value::VerbatimString { text, .. } => Some(text.clone().into_bytes()),
        Value::Int(n) => Some(n.to_string().into_bytes()),
        Value::Okay => Some(b"OK".to_vec()),
        _ => None,
    }
}

/// The strings of an array reply.
fn strings(value: Value) -> Vec<String> {
    match value {
        Value::Array(items) | Value::Set(items) => items
            .iter()
            .filter_map(bytes)
            .filter_map(|b| String::from_utf8(b).ok())
            .collect(),
        _ => Vec::new(),
    }
}

/// The field/value pairs of an `HGETALL` reply (RESP2 array or RESP3 map).
pub(crate) fn hash_fields(value: Value) -> Vec<(String, Vec<u8>)> {
    let pairs: Vec<(Value, Value)> = match value {
        Value::Map(pairs) => pairs,
        Value::Array(items) => {
            let mut pairs = Vec::with_capacity(items.len() / 2);
            let mut items = items.into_iter();
            while let (Some(k), Some(v)) = (items.next(), items.next()) {
                pairs.push((k, v));
            }
            pairs
        }
        _ => Vec::new(),
    };
    pairs
        .into_iter()
        .filter_map(|(k, v)| {
            let key = String::from_utf8(bytes(&k)?).ok()?;
            Some((key, bytes(&v)?))
        })
        .collect()
}

/// A stored message from its hash fields; None for an empty hash. A hash
/// without a topic takes the subscription's filter when that is a topic.
pub(crate) fn stored(fields: Vec<(String, Vec<u8>)>, filter: &str) -> Option<Stored> {
    if fields.is_empty() {
        return None;
    }
    let fields: HashMap<String, Vec<u8>> = fields.into_iter().collect();
    let text = |name: &str| {
        fields
            .get(name)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    };
    let topic = match text("topic") {
        Some(topic) if !topic.is_empty() => topic,
        _ if !topic::has_wildcards(filter) => filter.to_owned(),
        _ => return None,
    };
    let id = text("id")
        .and_then(|id| MessageId::from_base62(&id).filter(|parsed| parsed.to_base62() == id));
    Some(Stored {
        id,
        from: text("from").unwrap_or_default(),
        qos: text("qos")
            .and_then(|q| q.trim().parse::<u8>().ok())
            .map_or(0, |q| q.min(2)),
        topic,
        payload: fields.get("payload").cloned().unwrap_or_default(),
        ts_ms: text("ts").and_then(|t| t.trim().parse().ok()).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use mqhost_plugin_api::testing::{subscription_event, HostCall, Operation, TestHost};

    use super::*;

    fn lookup(function: Function, client: &str) -> Lookup {
        let event = subscription_event(client, "a/+").build();
        Lookup {
            function,
            event: Event::Subscription(Arc::new(SubscriptionData::new(&event))),
        }
    }

    #[test]
    fn a_retained_lookup_reads_no_more_than_the_session_can_take() {
        let test_host = TestHost::new();
        let host = test_host.host();
        let retained = lookup(Function::RetainLookup, "sub");
        test_host.set_session_room("sub", 5);
        assert_eq!(retain_bound(&host, &retained, 1000), Some(5));
        assert_eq!(retain_bound(&host, &retained, 3), Some(3));
        test_host.set_session_room("sub", 0);
        assert_eq!(retain_bound(&host, &retained, 1000), Some(0));
        test_host.set_session_room("sub", u64::MAX);
        assert_eq!(retain_bound(&host, &retained, 1000), Some(1000));
        // A host without the call: the pool's bound alone.
        test_host.set_answer(Operation::SessionRoom, Err(HostError::UNSUPPORTED));
        assert_eq!(retain_bound(&host, &retained, 1000), Some(1000));
        // No session: nothing to read.
        test_host.set_answer(Operation::SessionRoom, Err(HostError::NO_SUCH_CLIENT));
        assert_eq!(retain_bound(&host, &retained, 1000), None);
    }

    #[test]
    fn other_lookups_do_not_ask_the_host() {
        let test_host = TestHost::new();
        let host = test_host.host();
        for function in [Function::SubscribeLookup, Function::FetchForQueue] {
            assert_eq!(retain_bound(&host, &lookup(function, "sub"), 7), Some(7));
        }
        assert!(!test_host
            .calls()
            .iter()
            .any(|call| matches!(call, HostCall::SessionRoom { .. })));
    }

    #[test]
    fn only_old_or_foreign_ids_without_a_message_are_stale() {
        let now_ms = 1_800_000_000_000u64;
        let id = |ms: u64| {
            MessageId {
                high: ms * 1000,
                low: 7,
            }
            .to_base62()
        };
        assert!(!stale(&id(now_ms - 1_000), now_ms));
        assert!(!stale(&id(now_ms + 5_000), now_ms));
        assert!(stale(&id(now_ms - 121_000), now_ms));
        assert!(stale("not-an-id", now_ms));
    }

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn a_stored_hash_becomes_a_message_with_its_id() {
        let id = MessageId::from_u128(12345).to_base62();
        let reply = Value::Array(
            [
                "id",
                &id,
                "from",
                "test",
                "qos",
                "1",
                "topic",
                "queue/a",
                "retain",
                "false",
                "payload",
                "Hello world!",
                "ts",
                "1481685802123",
            ]
            .iter()
            .map(|s| bulk(s))
            .collect(),
        );
        let message = stored(hash_fields(reply), "queue/a").unwrap();
        assert_eq!(
            message,
            Stored {
                id: Some(MessageId::from_u128(12345)),
                from: "test".into(),
                qos: 1,
                topic: "queue/a".into(),
                payload: b"Hello world!".to_vec(),
                ts_ms: 1481685802123,
            }
        );
    }

    #[test]
    fn foreign_ids_are_not_carried_and_empty_hashes_are_gone() {
        // The seed's older, shorter id format would not name the same key
        // once written back in the 22-character form.
        let fields = vec![
            ("id".to_owned(), b"6P9NLcJ65VXBbC22sYb4".to_vec()),
            ("payload".to_owned(), b"x".to_vec()),
        ];
        let message = stored(fields, "topic").unwrap();
        assert_eq!(message.id, None);
        assert_eq!(message.topic, "topic");
        assert_eq!(stored(Vec::new(), "topic"), None);
        assert_eq!(stored(vec![("payload".into(), b"x".to_vec())], "a/+"), None);
    }

    #[test]
    fn resp3_maps_are_read_too() {
        let reply = Value::Map(vec![
            (bulk("topic1"), bulk("1")),
            (bulk("topic2"), bulk("2")),
        ]);
        assert_eq!(
            hash_fields(reply),
            [
                ("topic1".to_owned(), b"1".to_vec()),
                ("topic2".to_owned(), b"2".to_vec())
            ]
        );
    }
}
