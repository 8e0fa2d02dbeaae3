//! Moving routes and messages between nodes over Redis pub/sub.
//!
//! - The **route writer** keeps this node's routes in its set in Redis,
//!   and its members of shared subscriptions in its groups hash, and
//!   tells the other nodes of each change on the route channel
//!   (`+node\nfilter`, `-node\nfilter`, `Mnode\ncount\n$share/g/f`;
//!   `0node` when a node starts afresh), and of each client that connects
//!   here (`Cnode\nclient`):
//!   a node where that client is connected ends its connection with
//!   0x8E (Session taken over), so a client id is connected once in the
//!   cluster.
//!   When the listener's connection is made again (Redis may have failed
//!   over to a replica that lacks the last writes), the writer reads
//!   what Redis holds of this node and writes what differs
//!   (`News::Repair`).
//! - The **listener** holds one pub/sub connection subscribed to the
//!   route channel and to this node's bus channel. It keeps the copy of
//!   the other nodes' routes and members (a node's set and hash are read
//!   when it comes up, forgotten when it goes down) and hands the
//!   messages that arrive to the host's `publish_local_shared`, which
//!   runs no `message.publish` hook (a message crosses once and never
//!   goes round) and serves, of this node's shared subscriptions, those
//!   the sending node chose this one for.
//!   A snapshot is read on the listener's own task, between
//!   notifications, so a notification is never applied before a
//!   snapshot older than it.
//! - The **sender** sends each node's outbox (the messages the
//!   `message.publish` hook found a route to that node for, encoded by
//!   `wire`) as one `PUBLISH` per batch: whatever queued while the
//!   previous batch was on its way goes together.
//!
//! Pub/sub delivers at most once: a message in a batch that Redis did not
//! take, or that reached a node whose connection broke, is lost and
//! counted. Messages from one publisher keep their order: the hook queues
//! them in order and one sender sends the batches one after the other.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use mqhost_plugin_api::MessageEvent;
use mqhost_redis_link::connect_pubsub;
use redis::Value;
use tokio::sync::{mpsc, watch};

use crate::membership::now_ms;
use crate::routes::Change;
use crate::{lock, wire, Shared};

/// What the route writer tells the other nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum News {
    /// A change of this node's routes.
    Route(Change),
    /// A client connected here: it is connected nowhere else.
    Claim(String),
    /// A retained message published here: its topic, and the message to
    /// keep (None: clear it).
    Retained(String, Option<Vec<u8>>),
    /// Redis may have lost changes (the bus reconnected, perhaps to a new
    /// master): read what it holds of this node and write what differs.
    Repair,
}

/// DISCONNECT's Session taken over.
const SESSION_TAKEN_OVER: u8 = 0x8E;

/// A batch is closed at this size and the next one started.
const BATCH_BYTES: usize = 1 << 20;

/// What may wait for one node while Redis is away; beyond, messages are
/// dropped and counted.
const OUTBOX_BYTES: usize = 64 << 20;

/// How long to wait before connecting again.
const RETRY: Duration = Duration::from_secs(1);

/// The messages waiting for each node, in batches.
#[derive(Default)]
pub(crate) struct Outbox {
    batches: HashMap<String, (Vec<Vec<u8>>, usize)>,
}

/// A node a message goes to, and the shared subscriptions it serves for
/// it (none when it has only routes for it).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Target<'a> {
    pub(crate) node: &'a str,
    pub(crate) groups: Vec<&'a str>,
}

/// Queues `message` for every target: called from the hook.
pub(crate) fn forward(shared: &Shared, message: &MessageEvent<'_>, targets: &[Target<'_>]) {
    if targets.is_empty() {
        return;
    }
    {
        let mut outbox = lock(&shared.outbox);
        for Target { node, groups } in targets {
            let (batches, bytes) = match outbox.batches.get_mut(*node) {
                Some(entry) => entry,
                None => outbox.batches.entry((*node).to_owned()).or_default(),
            };
            if *bytes >= OUTBOX_BYTES {
                shared.status.bus.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            if batches.last().is_none_or(|b| b.len() >= BATCH_BYTES) {
                let mut batch = Vec::with_capacity(256);
                wire::start_batch(&mut batch, &shared.node);
                batches.push(batch);
            }
            if let Some(batch) = batches.last_mut() {
                let before = batch.len();
                wire::put_message(batch, message, groups);
                *bytes += batch.len() - before;
            }
        }
    }
    shared
        .status
        .bus
        .forwarded
        .fetch_add(targets.len() as u64, Ordering::Relaxed);
    shared.wake_sender.notify_one();
}

/// The sender: until told to stop.
pub(crate) async fn send(shared: Arc<Shared>, mut stopping: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = shared.wake_sender.notified() => {}
            _ = stopping.changed() => return,
        }
        let taken = std::mem::take(&mut lock(&shared.outbox).batches);
        let mut commands = Vec::new();
        for (node, (batches, _)) in taken {
            let channel = shared.keys.bus(&node);
            for batch in batches {
                let mut cmd = redis::cmd("PUBLISH");
                cmd.arg(&channel).arg(batch);
                commands.push(cmd);
            }
        }
        if commands.is_empty() {
            continue;
        }
        let count = commands.len() as u64;
        let sent = match shared.conn().await {
            Ok((generation, mut conn)) => match conn.query_many(commands).await {
                Ok(_) => true,
                Err(error) => {
                    shared.cell.invalidate(Some(generation)).await;
                    shared
                        .host
                        .warn(&format!("a batch for other nodes was lost: {error}"));
                    false
                }
            },
            Err(error) => {
                shared
                    .host
                    .warn(&format!("a batch for other nodes was lost: {error}"));
                false
            }
        };
        let bus = &shared.status.bus;
        bus.redis_commands.fetch_add(count, Ordering::Relaxed);
        if sent {
            bus.batches_sent.fetch_add(count, Ordering::Relaxed);
        } else {
            bus.batches_lost.fetch_add(count, Ordering::Relaxed);
        }
    }
}

/// The route writer: this node's route changes, into Redis and to the
/// others, in the order they happened.
pub(crate) async fn write_routes(shared: Arc<Shared>, mut changes: mpsc::UnboundedReceiver<News>) {
    while let Some(first) = changes.recv().await {
        let mut pending = vec![first];
        while let Ok(more) = changes.try_recv() {
            pending.push(more);
        }
        // Sent in order, one at a time per change pair: a filter added
        // and removed in one burst ends removed.
        loop {
            let written = match with_repairs(&shared, &pending).await {
                Ok(expanded) => write_changes(&shared, &expanded).await,
                Err(error) => Err(error),
            };
            match written {
                Ok(()) => break,
                Err(error) => {
                    shared
                        .status
                        .bus
                        .route_errors
                        .fetch_add(1, Ordering::Relaxed);
                    shared
                        .host
                        .warn(&format!("route changes not written yet: {error}"));
                    tokio::time::sleep(RETRY).await;
                }
            }
        }
    }
}

/// `pending` with each [`News::Repair`] replaced by the changes it takes,
/// read from Redis and this node's routes at this point of the order.
async fn with_repairs(shared: &Shared, pending: &[News]) -> Result<Vec<News>, String> {
    let mut expanded = Vec::with_capacity(pending.len());
    for news in pending {
        if *news != News::Repair {
            expanded.push(news.clone());
            continue;
        }
        let (routes, members): (HashSet<String>, _) = read_node(shared, &shared.node).await?;
        let changes = lock(&shared.local_routes).repair(&routes, &members);
        if !changes.is_empty() {
            shared.host.warn(&format!(
                "Redis had lost {} of this node's route changes: written again",
                changes.len()
            ));
        }
        expanded.extend(changes.into_iter().map(News::Route));
    }
    Ok(expanded)
}

async fn write_changes(shared: &Shared, pending: &[News]) -> Result<(), String> {
    let (generation, mut conn) = shared.conn().await?;
    let routes = shared.keys.routes(&shared.node);
    let groups = shared.keys.groups(&shared.node);
    let channel = shared.keys.route_channel();
    let superseded = superseded_counts(pending);
    for (index, news) in pending.iter().enumerate() {
        if let News::Retained(topic, message) = news {
            let mut cmd = redis::cmd(if message.is_some() { "HSET" } else { "HDEL" });
            cmd.arg(shared.keys.retained()).arg(topic);
            if let Some(bytes) = message {
                cmd.arg(bytes.as_slice());
            }
            query_counted(shared, &mut conn, generation, &cmd).await?;
            continue;
        }
        let (write, sign, subject) = match news {
            News::Route(Change::Added(filter)) => (Some("SADD"), '+', filter.clone()),
            News::Route(Change::Removed(filter)) => (Some("SREM"), '-', filter.clone()),
            News::Route(Change::Members(filter, count)) => {
                // A later count of the same group in this burst says it.
                if superseded.contains(&(index, filter.as_str())) {
                    continue;
                }
                let write = if *count == 0 { "HDEL" } else { "HSET" };
                (Some(write), 'M', format!("{count}\n{filter}"))
            }
            News::Claim(client) => (None, 'C', client.clone()),
            News::Retained(..) | News::Repair => continue,
        };
        let mut tell = redis::cmd("PUBLISH");
        tell.arg(&channel)
            .arg(format!("{sign}{}\n{subject}", shared.node));
        // The set (or hash) first, then the news: a node that reads it
        // after the news finds the change in it.
        let write = write.map(|command| {
            let mut cmd = redis::cmd(command);
            match news {
                News::Route(Change::Members(filter, count)) => {
                    cmd.arg(&groups).arg(filter);
                    if *count > 0 {
                        cmd.arg(*count);
                    }
                }
                _ => {
                    cmd.arg(&routes).arg(&subject);
                }
            }
            cmd
        });
        for cmd in write.into_iter().chain([tell]) {
            query_counted(shared, &mut conn, generation, &cmd).await?;
        }
    }
    Ok(())
}

/// The member counts in `pending` that a later count of the same group
/// replaces, by index: a burst of members joining is one write.
fn superseded_counts(pending: &[News]) -> HashSet<(usize, &str)> {
    let mut last: HashMap<&str, usize> = HashMap::new();
    let mut superseded = HashSet::new();
    for (index, news) in pending.iter().enumerate() {
        if let News::Route(Change::Members(filter, _)) = news {
            if let Some(earlier) = last.insert(filter.as_str(), index) {
                superseded.insert((earlier, filter.as_str()));
            }
        }
    }
    superseded
}

/// At join: this node's routes and members from an earlier life go, and
/// the others are told to forget them.
pub(crate) async fn start_afresh(shared: &Shared) -> Result<(), String> {
    let (_, mut conn) = shared.conn().await?;
    for key in [
        shared.keys.routes(&shared.node),
        shared.keys.groups(&shared.node),
    ] {
        conn.query(redis::cmd("DEL").arg(key))
            .await
            .map_err(|e| e.to_string())?;
    }
    conn.query(
        redis::cmd("PUBLISH")
            .arg(shared.keys.route_channel())
            .arg(format!("0{}", shared.node)),
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(())
}

/// The listener: until told to stop, connecting again after a break.
pub(crate) async fn listen(
    shared: Arc<Shared>,
    mut up: watch::Receiver<Vec<String>>,
    mut stopping: watch::Receiver<bool>,
) {
    let mut failing = false;
    let mut reconnecting = false;
    loop {
        let outcome = tokio::select! {
            outcome = listen_once(&shared, &mut up, reconnecting) => outcome,
            _ = stopping.changed() => return,
        };
        reconnecting = true;
        if !failing {
            shared.host.warn(&format!(
                "the cluster bus lost its Redis connection, connecting again: {outcome}"
            ));
            failing = true;
        }
        // What the others said meanwhile was missed: their routes are
        // read afresh once connected.
        shared.remote_routes_clear();
        tokio::select! {
            _ = tokio::time::sleep(RETRY) => {}
            _ = stopping.changed() => return,
        }
    }
}

/// One connection's life; returns why it ended. A connection made again
/// (`reconnecting`) has the route writer repair what Redis holds of this
/// node: if Redis failed over, its new master may lack the last changes.
async fn listen_once(
    shared: &Arc<Shared>,
    up: &mut watch::Receiver<Vec<String>>,
    reconnecting: bool,
) -> String {
    let (mut pubsub, _) = match connect_pubsub(&shared.config.link).await {
        Ok(connected) => connected,
        Err(error) => return error.to_string(),
    };
    let route_channel = shared.keys.route_channel();
    let bus = shared.keys.bus(&shared.node);
    let handover = shared.keys.handover(&shared.node);
    for channel in [&route_channel, &bus, &handover] {
        if let Err(error) = pubsub.subscribe(channel).await {
            return error.to_string();
        }
    }
    if reconnecting {
        let _ = shared.route_changes.send(News::Repair);
    }
    let mut loaded: HashSet<String> = HashSet::new();
    let mut messages = pubsub.on_message();
    up.mark_changed();
    loop {
        tokio::select! {
            message = messages.next() => {
                let Some(message) = message else {
                    return "the subscription ended".to_owned();
                };
                let payload = message.get_payload_bytes();
                if message.get_channel_name() == route_channel {
                    on_route_news(shared, payload, &mut loaded);
                } else if message.get_channel_name() == handover {
                    crate::handover::on_note(shared, payload);
                } else {
                    deliver(shared, payload);
                }
            }
            changed = up.changed() => {
                if changed.is_err() {
                    return "stopping".to_owned();
                }
                let nodes = up.borrow_and_update().clone();
                if let Err(error) = sync_nodes(shared, &nodes, &mut loaded).await {
                    return error;
                }
            }
        }
    }
}

/// Reads the routes of nodes newly up, forgets those of nodes gone.
async fn sync_nodes(
    shared: &Shared,
    up: &[String],
    loaded: &mut HashSet<String>,
) -> Result<(), String> {
    let gone: Vec<String> = loaded.iter().filter(|n| !up.contains(n)).cloned().collect();
    for node in gone {
        loaded.remove(&node);
        lock_write(shared).forget(&node);
    }
    for node in up {
        if *node == shared.node || loaded.contains(node) {
            continue;
        }
        let (filters, members): (Vec<String>, _) = read_node(shared, node).await?;
        let mut remote = lock_write(shared);
        for filter in &filters {
            remote.add(node, filter);
        }
        for (group, count) in &members {
            // Redis is shared: a count that does not read is no member.
            remote.set_members(node, group, count.parse().unwrap_or(0));
        }
        loaded.insert(node.clone());
    }
    count_remote(
        shared,
        &shared
            .remote_routes
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    Ok(())
}

/// Sends `cmd`, counted among the bus's Redis commands; a connection
/// that failed is let go, so that the next command makes a new one.
async fn query_counted(
    shared: &Shared,
    conn: &mut mqhost_redis_link::Conn,
    generation: u64,
    cmd: &redis::Cmd,
) -> Result<(), String> {
    if let Err(error) = conn.query(cmd).await {
        shared.cell.invalidate(Some(generation)).await;
        return Err(error.to_string());
    }
    shared
        .status
        .bus
        .redis_commands
        .fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// What Redis holds of `node`: its routes (the filters), and its members
/// per shared group (counts as Redis has them).
async fn read_node<R: redis::FromRedisValue + Default>(
    shared: &Shared,
    node: &str,
) -> Result<(R, HashMap<String, String>), String> {
    let (generation, mut conn) = shared.conn().await?;
    let routes = read_snapshot(
        shared,
        &mut conn,
        generation,
        "SMEMBERS",
        shared.keys.routes(node),
    )
    .await?;
    let members = read_snapshot(
        shared,
        &mut conn,
        generation,
        "HGETALL",
        shared.keys.groups(node),
    )
    .await?;
    Ok((routes, members))
}

/// One key of a node's snapshot; a reply of another shape reads as empty.
async fn read_snapshot<T: redis::FromRedisValue + Default>(
    shared: &Shared,
    conn: &mut mqhost_redis_link::Conn,
    generation: u64,
    command: &str,
    key: String,
) -> Result<T, String> {
    match conn.query(redis::cmd(command).arg(key)).await {
        Ok(Value::ServerError(error)) => Err(format!("{error:?}")),
        Ok(value) => Ok(redis::from_redis_value(value).unwrap_or_default()),
        Err(error) => {
            shared.cell.invalidate(Some(generation)).await;
            Err(error.to_string())
        }
    }
}

/// The figures of what is known of the other nodes.
fn count_remote(shared: &Shared, remote: &crate::routes::Remote) {
    let bus = &shared.status.bus;
    bus.remote_routes
        .store(remote.len() as u64, Ordering::Relaxed);
    bus.remote_groups
        .store(remote.groups_len() as u64, Ordering::Relaxed);
}

fn lock_write(shared: &Shared) -> std::sync::RwLockWriteGuard<'_, crate::routes::Remote> {
    shared
        .remote_routes
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A route change another node told of.
fn on_route_news(shared: &Shared, payload: &[u8], loaded: &mut HashSet<String>) {
    let Ok(text) = std::str::from_utf8(payload) else {
        return;
    };
    let mut chars = text.chars();
    let sign = chars.next();
    let rest = chars.as_str();
    let (node, filter) = rest.split_once('\n').unwrap_or((rest, ""));
    if node == shared.node {
        return;
    }
    let mut remote = lock_write(shared);
    match sign {
        Some('+') => remote.add(node, filter),
        Some('-') => remote.remove(node, filter),
        Some('M') => {
            if let Some((count, group)) = filter.split_once('\n') {
                remote.set_members(node, group, count.parse().unwrap_or(0));
            }
        }
        Some('0') => {
            remote.forget(node);
            // Its set is empty now: nothing to read when it shows up.
            loaded.insert(node.to_owned());
        }
        Some('C') => {
            drop(remote);
            if shared.host.is_connected(filter)
                && shared.host.disconnect(filter, SESSION_TAKEN_OVER).is_ok()
            {
                shared.status.bus.taken_over.fetch_add(1, Ordering::Relaxed);
                shared.host.info(&format!(
                    "client {filter:?} connected to node {node}: its connection here ends (0x8E)"
                ));
            }
            return;
        }
        _ => {}
    }
    count_remote(shared, &remote);
}

/// A batch for this node: each message published here.
fn deliver(shared: &Shared, payload: &[u8]) {
    let bus = &shared.status.bus;
    let batch = match wire::read_batch(payload) {
        Ok(batch) => batch,
        Err(error) => {
            if bus.bad_batches.fetch_add(1, Ordering::Relaxed) == 0 {
                shared
                    .host
                    .warn(&format!("a batch on the cluster bus was refused: {error}"));
            }
            return;
        }
    };
    bus.batches_received.fetch_add(1, Ordering::Relaxed);
    let mut last_ms = 0;
    for frame in &batch.frames {
        let event = frame.event(batch.node);
        let published = match &frame.groups {
            Some(groups) => shared.host.publish_local_shared(&event, groups),
            None => shared.host.publish_local(&event, true),
        };
        if published.is_err() {
            bus.refused.fetch_add(1, Ordering::Relaxed);
        }
        last_ms = frame.timestamp_ms;
    }
    bus.received
        .fetch_add(batch.frames.len() as u64, Ordering::Relaxed);
    if last_ms > 0 {
        bus.lag_ms
            .store(now_ms().saturating_sub(last_ms), Ordering::Relaxed);
    }
}
