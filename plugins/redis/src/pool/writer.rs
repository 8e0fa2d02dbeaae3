//! The writer of one pool: takes jobs from the pool's queue in order,
//! builds their commands into one pipelined batch, sends it, and only
//! takes the next batch once Redis has answered this one.
//!
//! That one ordered queue and one batch in flight is what keeps writes to
//! the same key in order (a message's ack never overtakes its store), and
//! what makes retries simple: a batch whose reply never came (the
//! connection broke) is sent again, whole, after reconnecting; a command
//! refused for a passing reason (`READONLY` after a failover, `LOADING`
//! after a restart) is sent again with everything after it. A slow server
//! is waited for: there is no response timeout.
//!
//! On a cluster, a batch is split by slot: each slot's commands go as one
//! pipeline to the node that owns it, all slots at once, and the batch is
//! done when every slot is.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::cluster_routing::{Route, SingleNodeRoutingInfo, SlotAddr};
use redis::{Arg, Cmd, Pipeline, RedisError, Value};
use tokio::sync::{mpsc, watch};

use super::connect::{self, is_transient, needs_new_connection, Conn, SharedConfig};
use super::job::Queued;
use super::PoolShared;
use crate::config::PoolKind;

/// Commands in one batch at most.
pub const MAX_BATCH_COMMANDS: usize = 8192;
/// Bytes in one batch at most (roughly): large payloads make small batches.
pub const MAX_BATCH_BYTES: usize = 8 << 20;
/// First wait before reconnecting; doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(50);
/// Longest wait between connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// At most one "Redis refused a command" line per this interval.
const ERROR_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Commands for one destination: the whole batch (single, sentinel), or
/// one slot's share of it (cluster).
struct Group {
    /// The slot's route on a cluster; None elsewhere, or for commands
    /// without a key.
    route: Option<Route>,
    pipe: Pipeline,
}

/// How sending a batch went.
enum Sent {
    /// Everything answered (some commands may have been refused for good).
    Done,
    /// Some commands wait to be sent again; `reconnect` when the
    /// connection itself is no longer right.
    Retry { reconnect: bool, reason: String },
}

/// A pool's writer task.
pub struct Writer {
    shared: Arc<PoolShared>,
    rx: mpsc::UnboundedReceiver<Queued>,
    settings: watch::Receiver<SharedConfig>,
    /// Whether the pool still exists (its settings can still change).
    settings_open: bool,
    config: SharedConfig,
    conn: Option<Conn>,
    /// The batch being sent.
    pending: Vec<Group>,
    backoff: Duration,
    /// When the connection was lost (or first refused), for log lines.
    down_since: Option<Instant>,
    connected_once: bool,
    last_error_log: Option<Instant>,
    errors_since_log: u64,
}

impl Writer {
    /// A writer for the pool, fed by `rx`.
    pub fn new(
        shared: Arc<PoolShared>,
        rx: mpsc::UnboundedReceiver<Queued>,
        settings: watch::Receiver<SharedConfig>,
    ) -> Writer {
        let config = settings.borrow().clone();
        Writer {
            shared,
            rx,
            settings,
            settings_open: true,
            config,
            conn: None,
            pending: Vec::new(),
            backoff: MIN_BACKOFF,
            down_since: None,
            connected_once: false,
            last_error_log: None,
            errors_since_log: 0,
        }
    }

    /// Runs until the pool is gone and its queue is empty.
    pub async fn run(mut self) {
        loop {
            if self.pending.is_empty() {
                let first = tokio::select! {
                    changed = self.settings.changed(), if self.settings_open => {
                        match changed {
                            Ok(()) => self.apply_settings(),
                            Err(_) => self.settings_open = false,
                        }
                        continue;
                    }
                    job = self.rx.recv() => match job {
                        Some(job) => job,
                        None => break,
                    },
                };
                self.build_batch(first);
                continue;
            }
            if self.settings_open && self.settings.has_changed().unwrap_or(false) {
                self.apply_settings();
            }
            let Some(mut conn) = self.conn.clone() else {
                self.connect().await;
                continue;
            };
            match self.send(&mut conn).await {
                Sent::Done => self.backoff = MIN_BACKOFF,
                Sent::Retry { reconnect, reason } => {
                    if reconnect {
                        self.lost(&reason);
                    }
                    tokio::time::sleep(self.backoff).await;
                    self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        self.shared.stats.connected.store(false, Ordering::Relaxed);
    }

    /// Takes a settings change: a pool that now connects differently
    /// drops its connection and reconnects before the next batch.
    fn apply_settings(&mut self) {
        let new = self.settings.borrow_and_update().clone();
        if !new.same_connection(&self.config) {
            if self.conn.take().is_some() {
                self.shared.host.info(&format!(
                    "pool {}: connection settings changed, reconnecting to {} ({})",
                    self.shared.name,
                    new.describe_servers(),
                    new.kind.name()
                ));
            }
            self.shared.stats.connected.store(false, Ordering::Relaxed);
        }
        self.config = new;
    }

    /// Fills a batch: `first`, then whatever else is queued, within the
    /// batch limits, grouped by destination.
    fn build_batch(&mut self, first: Queued) {
        let mut cmds: Vec<Cmd> = Vec::with_capacity(first.count.max(16));
        let mut bytes = first.job.size_hint();
        first.job.emit(&mut cmds);
        while cmds.len() < MAX_BATCH_COMMANDS && bytes < MAX_BATCH_BYTES {
            match self.rx.try_recv() {
                Ok(queued) => {
                    bytes += queued.job.size_hint();
                    queued.job.emit(&mut cmds);
                }
                Err(_) => break,
            }
        }
        self.pending = group(cmds, self.config.kind);
    }

    async fn connect(&mut self) {
        let config = self.config.clone();
        match connect::connect(&config).await {
            Ok((conn, peer)) => {
                let queued = self.shared.stats.queued.load(Ordering::Relaxed);
                let message = match self.down_since.take() {
                    Some(since) => format!(
                        "pool {}: connected to {peer} after {:.1}s; sending {queued} queued commands",
                        self.shared.name,
                        since.elapsed().as_secs_f64()
                    ),
                    None => format!("pool {}: connected to {peer}", self.shared.name),
                };
                self.shared.host.info(&message);
                if self.connected_once {
                    self.shared.stats.reconnects.fetch_add(1, Ordering::Relaxed);
                }
                self.connected_once = true;
                self.shared.stats.connected.store(true, Ordering::Relaxed);
                // Groups were made for the pool type of their time; a
                // reload may have changed it.
                if self.pending.iter().any(|g| g.route.is_some())
                    != (config.kind == PoolKind::Cluster)
                {
                    let cmds = take_cmds(&mut self.pending);
                    self.pending = group(cmds, config.kind);
                }
                self.conn = Some(conn);
                self.backoff = MIN_BACKOFF;
            }
            Err(error) => {
                if self.down_since.is_none() {
                    self.down_since = Some(Instant::now());
                    self.shared.host.warn(&format!(
                        "pool {}: cannot connect to {} ({}): {error}; writes wait in the queue \
                         ({} commands) and connection attempts go on",
                        self.shared.name,
                        config.describe_servers(),
                        config.kind.name(),
                        self.shared.stats.queued.load(Ordering::Relaxed)
                    ));
                }
                tokio::time::sleep(self.backoff).await;
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
            }
        }
    }

    /// The connection broke: log it once and connect again.
    fn lost(&mut self, reason: &str) {
        self.conn = None;
        self.shared.stats.connected.store(false, Ordering::Relaxed);
        if self.down_since.is_none() {
            self.down_since = Some(Instant::now());
            self.shared.host.warn(&format!(
                "pool {}: lost the connection to Redis ({reason}); writes wait in the queue \
                 ({} commands) and are sent again after reconnecting",
                self.shared.name,
                self.shared.stats.queued.load(Ordering::Relaxed)
            ));
        }
    }

    /// Sends the pending groups, all at once, and keeps what must be sent
    /// again.
    async fn send(&mut self, conn: &mut Conn) -> Sent {
        let groups = std::mem::take(&mut self.pending);
        let results: Vec<Result<Vec<Value>, RedisError>> = match conn {
            Conn::Single(single) => {
                let mut results = Vec::with_capacity(groups.len());
                for group in &groups {
                    results.push(
                        single
                            .send_packed_commands(&group.pipe, 0, group.pipe.len())
                            .await,
                    );
                }
                results
            }
            Conn::Cluster(cluster) => {
                let requests = groups.iter().map(|group| {
                    let mut cluster = cluster.clone();
                    let route = match group.route {
                        Some(route) => SingleNodeRoutingInfo::SpecificNode(route),
                        None => SingleNodeRoutingInfo::RandomPrimary,
                    };
                    let pipe = group.pipe.clone();
                    let count = pipe.len();
                    async move { cluster.route_pipeline(pipe, 0, count, route).await }
                });
                futures_util::future::join_all(requests).await
            }
        };
        self.shared.stats.batches.fetch_add(1, Ordering::Relaxed);

        let mut outcome = Sent::Done;
        for (group, result) in groups.into_iter().zip(results) {
            let sent = group.pipe.len();
            match result {
                Ok(values) => {
                    let retry_from = self.check_replies(&group.pipe, &values);
                    let done = retry_from.as_ref().map_or(sent, |(index, _)| *index);
                    self.finished(done);
                    if let Some((index, code)) = retry_from {
                        let rest = sent - index;
                        self.shared
                            .stats
                            .resent
                            .fetch_add(rest as u64, Ordering::Relaxed);
                        let reconnect = needs_new_connection(&code)
                            || matches!(code.as_str(), "MOVED" | "ASK" | "CLUSTERDOWN");
                        merge(&mut outcome, reconnect, format!("Redis answered {code}"));
                        let mut pipe = Pipeline::with_capacity(rest);
                        for cmd in group.pipe.cmd_iter().skip(index) {
                            pipe.add_command(cmd.clone());
                        }
                        self.pending.push(Group {
                            route: group.route,
                            pipe,
                        });
                    }
                }
                Err(error) => {
                    self.shared
                        .stats
                        .resent
                        .fetch_add(sent as u64, Ordering::Relaxed);
                    merge(&mut outcome, true, error.to_string());
                    self.pending.push(group);
                }
            }
        }
        outcome
    }

    /// Counts answered commands; finds the first one refused for a passing
    /// reason (to send again from there) and logs those refused for good.
    fn check_replies(&mut self, pipe: &Pipeline, values: &[Value]) -> Option<(usize, String)> {
        for (index, value) in values.iter().enumerate() {
            let Value::ServerError(error) = value else {
                continue;
            };
            let code = error.code();
            if is_transient(code) || code == "MOVED" || code == "ASK" {
                return Some((index, code.to_owned()));
            }
            self.shared.stats.errors.fetch_add(1, Ordering::Relaxed);
            self.errors_since_log += 1;
            let due = self
                .last_error_log
                .is_none_or(|at| at.elapsed() >= ERROR_LOG_INTERVAL);
            if due {
                let command = pipe
                    .cmd_iter()
                    .nth(index)
                    .map(command_name)
                    .unwrap_or_default();
                self.shared.host.warn(&format!(
                    "pool {}: Redis refused {command}: {} {} ({} refused commands since the \
                     last such line)",
                    self.shared.name,
                    code,
                    error.details().unwrap_or(""),
                    self.errors_since_log
                ));
                self.last_error_log = Some(Instant::now());
                self.errors_since_log = 0;
            }
        }
        // A short reply (it cannot happen with a correct server) leaves the
        // missing commands unanswered: send them again.
        (values.len() < pipe.len()).then(|| (values.len(), "a short reply".to_owned()))
    }

    /// `count` commands left the queue for good.
    fn finished(&self, count: usize) {
        self.shared.stats.queued.fetch_sub(count, Ordering::Relaxed);
        self.shared
            .stats
            .written
            .fetch_add(count as u64, Ordering::Relaxed);
    }
}

/// The first failure decides the reason logged; any failure that needs a
/// new connection makes the whole outcome need one.
fn merge(outcome: &mut Sent, reconnect: bool, reason: String) {
    match outcome {
        Sent::Done => *outcome = Sent::Retry { reconnect, reason },
        Sent::Retry { reconnect: r, .. } => *r |= reconnect,
    }
}

/// The command's name, for log lines (never its arguments: they may hold
/// payloads).
fn command_name(cmd: &Cmd) -> String {
    match cmd.args_iter().next() {
        Some(Arg::Simple(name)) => String::from_utf8_lossy(name).into_owned(),
        _ => String::new(),
    }
}

/// The key a command touches: its first argument, which is the key for
/// every command the functions send and for nearly every raw one.
fn key_of(cmd: &Cmd) -> Option<&[u8]> {
    match cmd.args_iter().nth(1) {
        Some(Arg::Simple(key)) => Some(key),
        _ => None,
    }
}

/// Groups commands by destination, keeping their order within each.
fn group(cmds: Vec<Cmd>, kind: PoolKind) -> Vec<Group> {
    if kind != PoolKind::Cluster {
        let mut pipe = Pipeline::with_capacity(cmds.len());
        for cmd in cmds {
            pipe.add_command(cmd);
        }
        return vec![Group { route: None, pipe }];
    }
    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<Option<Route>, usize> = HashMap::new();
    for cmd in cmds {
        let route = key_of(&cmd).map(|key| Route::with_key(key, SlotAddr::Master));
        let slot = *index.entry(route).or_insert_with(|| {
            groups.push(Group {
                route,
                pipe: Pipeline::new(),
            });
            groups.len() - 1
        });
        groups[slot].pipe.add_command(cmd);
    }
    groups
}

/// Every command of `groups`, in order (for regrouping).
fn take_cmds(groups: &mut Vec<Group>) -> Vec<Cmd> {
    groups
        .drain(..)
        .flat_map(|g| g.pipe.cmd_iter().cloned().collect::<Vec<_>>())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::words;

    fn set(key: &str, value: &str) -> Cmd {
        let mut cmd = redis::cmd("SET");
        cmd.arg(key).arg(value);
        cmd
    }

    #[test]
    fn single_pools_send_one_pipeline_in_order() {
        let groups = group(
            vec![set("a", "1"), set("b", "2"), set("a", "3")],
            PoolKind::Single,
        );
        assert_eq!(groups.len(), 1);
        let sent: Vec<Vec<String>> = groups[0].pipe.cmd_iter().map(words).collect();
        assert_eq!(
            sent,
            [["SET", "a", "1"], ["SET", "b", "2"], ["SET", "a", "3"]]
        );
    }

    #[test]
    fn cluster_batches_keep_each_key_in_order() {
        let cmds = vec![
            set("mqtt:msg:1", "store"),
            set("other", "x"),
            set("mqtt:msg:1", "ack"),
            redis::cmd("PING"),
        ];
        let mut groups = group(cmds, PoolKind::Cluster);
        assert_eq!(groups.len(), 3);
        let first: Vec<Vec<String>> = groups[0].pipe.cmd_iter().map(words).collect();
        assert_eq!(
            first,
            [["SET", "mqtt:msg:1", "store"], ["SET", "mqtt:msg:1", "ack"]]
        );
        assert!(groups[2].route.is_none());
        assert_eq!(take_cmds(&mut groups).len(), 4);
    }
}
