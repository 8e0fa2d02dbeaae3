//! The writer of one pool: takes the commands queued in the pool's arena
//! (all of them, in one swap), sends them in pipelined batches, and only
//! sends the next batch once Redis has answered this one.
//!
//! That one ordered queue and one batch in flight is what keeps writes to
//! the same key in order (a message's ack never overtakes its store), and
//! what makes retries simple: a batch whose reply never came (the
//! connection broke) is sent again, whole, after reconnecting; a command
//! refused for a passing reason (`READONLY` after a failover, `LOADING`
//! after a restart) is sent again with everything after it. A slow server
//! is waited for: there is no response timeout.
//!
//! Single and sentinel pools write over the writer's own connection
//! ([`super::raw`]), commands encoded straight into one buffer. On a
//! cluster a batch is split by slot and sent to the nodes that own them
//! ([`cluster`]).

mod cluster;

use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mqhost_redis_link::{is_transient, needs_new_connection, server_address, PoolKind};
use redis::cluster_async::ClusterConnection;
use tokio::sync::watch;

use super::batch::Batch;
use super::coalesce::Coalescer;
use super::raw::RawConn;
use super::shared::PoolShared;
use super::unpack::Unpacker;
use super::SharedConfig;
use crate::resp::RespBuf;
use cluster::Group;

/// Commands in one batch at most: enough for Redis to work without
/// waiting for the next batch, few enough that the writer's buffers stay
/// small (memory touched for the first time costs more than a batch's
/// round trip).
pub(crate) const MAX_BATCH_COMMANDS: usize = 2048;
/// Bytes in one batch at most (roughly): large payloads make small batches.
pub(crate) const MAX_BATCH_BYTES: usize = 8 << 20;
/// First wait before reconnecting; doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(50);
/// Longest wait between connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// At most one "Redis refused a command" line per this interval.
const ERROR_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Where the writes go.
enum Link {
    /// The writer's own connection to the server or master.
    Raw(RawConn),
    /// A cluster connection (routes by slot, follows failovers).
    Cluster(ClusterConnection),
}

/// The batch being sent, encoded for its link.
enum Pending {
    /// Nothing.
    Empty,
    /// For a raw link.
    Resp(RespBuf),
    /// For a cluster link.
    Groups(Vec<Group>),
}

/// The batch after the one on the wire, encoded ahead.
struct NextBatch {
    /// Its commands in [`Writer::taken`].
    cmds: Range<usize>,
    buf: RespBuf,
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
pub(crate) struct Writer {
    shared: Arc<PoolShared>,
    settings: watch::Receiver<SharedConfig>,
    /// Whether the pool still exists (its settings can still change).
    settings_open: bool,
    config: SharedConfig,
    link: Option<Link>,
    /// What was taken from the queue: commands and packed events.
    queued: Batch,
    /// The first entry of `queued` not yet in `taken`.
    queued_cursor: usize,
    /// Commands made from `queued`, a few batches at a time, sent batch
    /// by batch: memory reused from batch to batch.
    taken: Batch,
    unpacker: Unpacker,
    /// Whether `taken` holds commands the unpacker did not join, which the
    /// coalescer may.
    taken_mixed: bool,
    /// The first command of `taken` not yet in a batch.
    cursor: usize,
    /// The current batch's commands in `taken`, kept to encode them again
    /// should the pool's type change under them (a reload).
    current: Range<usize>,
    coalescer: Coalescer,
    /// The batch after the current one, encoded while Redis answers the
    /// current one (raw links only).
    next: Option<NextBatch>,
    /// Buffers of answered batches, for the next ones.
    spare: Vec<RespBuf>,
    pending: Pending,
    backoff: Duration,
    /// When the connection was lost (or first refused), for log lines.
    down_since: Option<Instant>,
    connected_once: bool,
    last_error_log: Option<Instant>,
    errors_since_log: u64,
}

impl Writer {
    /// A writer for the pool, fed by its queue.
    pub(crate) fn new(shared: Arc<PoolShared>, settings: watch::Receiver<SharedConfig>) -> Writer {
        let config = settings.borrow().clone();
        Writer {
            shared,
            settings,
            settings_open: true,
            config,
            link: None,
            queued: Batch::default(),
            queued_cursor: 0,
            taken: Batch::default(),
            unpacker: Unpacker::default(),
            taken_mixed: false,
            cursor: 0,
            current: 0..0,
            coalescer: Coalescer::default(),
            next: None,
            spare: Vec::new(),
            pending: Pending::Empty,
            backoff: MIN_BACKOFF,
            down_since: None,
            connected_once: false,
            last_error_log: None,
            errors_since_log: 0,
        }
    }

    /// Runs until the pool is gone and its queue is empty.
    pub(crate) async fn run(mut self) {
        loop {
            if matches!(self.pending, Pending::Empty) {
                if self.cursor >= self.taken.len() {
                    self.taken.clear();
                    self.taken_mixed = false;
                    self.cursor = 0;
                    if !self.unpack_queued() {
                        self.queued.clear();
                        self.queued_cursor = 0;
                        let shared = Arc::clone(&self.shared);
                        let got = tokio::select! {
                            changed = self.settings.changed(), if self.settings_open => {
                                match changed {
                                    Ok(()) => self.apply_settings(),
                                    Err(_) => self.settings_open = false,
                                }
                                continue;
                            }
                            got = shared.queue.take(&mut self.queued) => got,
                        };
                        if !got {
                            break;
                        }
                        self.unpack_queued();
                    }
                }
                self.current = self.next_chunk();
                self.encode(self.config.link.kind);
                continue;
            }
            if self.settings_open && self.settings.has_changed().unwrap_or(false) {
                self.apply_settings();
            }
            if self.link.is_none() {
                self.connect().await;
                continue;
            }
            match self.send().await {
                Sent::Done => {
                    self.backoff = MIN_BACKOFF;
                    let stats = &self.shared.stats;
                    stats
                        .queued
                        .fetch_sub(self.taken.carried(self.current.clone()), Ordering::Relaxed);
                    self.current = self.current.end..self.current.end;
                    self.pending = Pending::Empty;
                    if let Some(next) = self.next.take() {
                        self.current = next.cmds;
                        self.pending = Pending::Resp(next.buf);
                    }
                }
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
            if self.link.take().is_some() {
                self.shared.host.info(&format!(
                    "pool {}: connection settings changed, reconnecting to {}",
                    self.shared.name,
                    new.link.target()
                ));
            }
            self.shared.stats.connected.store(false, Ordering::Relaxed);
        }
        self.config = new;
    }

    /// Moves entries of `queued` into `taken`, as commands, up to twice
    /// the batch limits (a batch on the wire and the next one encoded);
    /// false when none were left. Their bytes leave the queue's count
    /// here.
    fn unpack_queued(&mut self) -> bool {
        if self.queued_cursor >= self.queued.len() {
            return false;
        }
        // On a cluster the keys of one joined command would span slots.
        let join = self.config.link.kind != PoolKind::Cluster;
        let unpacked = self.unpacker.unpack(
            &self.queued,
            &mut self.queued_cursor,
            &mut self.taken,
            join,
            2 * MAX_BATCH_COMMANDS,
            2 * MAX_BATCH_BYTES,
        );
        self.taken_mixed |= unpacked.mixed;
        self.shared
            .stats
            .queued_bytes
            .fetch_sub(unpacked.bytes, Ordering::Relaxed);
        true
    }

    /// The next batch's commands in `taken`, within the batch limits.
    fn next_chunk(&mut self) -> Range<usize> {
        let chunk = self
            .taken
            .chunk(self.cursor, MAX_BATCH_COMMANDS, MAX_BATCH_BYTES);
        self.cursor = chunk.end;
        chunk
    }

    /// Encodes the batch after the one on the wire, if commands wait, for
    /// a raw link.
    fn prepare_next(&mut self) {
        if self.next.is_some() || self.cursor >= self.taken.len() {
            return;
        }
        let cmds = self.next_chunk();
        let buf = self.encode_resp(cmds.clone());
        self.next = Some(NextBatch { cmds, buf });
    }

    /// Encodes the current batch for a link to a pool of `kind`.
    fn encode(&mut self, kind: PoolKind) {
        self.pending = if kind == PoolKind::Cluster {
            Pending::Groups(cluster::encode(&self.taken, self.current.clone()))
        } else {
            Pending::Resp(self.encode_resp(self.current.clone()))
        };
    }

    /// Commands `cmds` of `taken`, coalesced, for a raw link.
    fn encode_resp(&mut self, cmds: Range<usize>) -> RespBuf {
        let mut buf = self.spare.pop().unwrap_or_default();
        buf.clear();
        if self.taken_mixed {
            self.coalescer.encode(&self.taken, cmds, &mut buf);
        } else {
            // Joined already: nothing left for the coalescer to find.
            self.taken.encode_into(cmds, &mut buf);
        }
        buf
    }

    async fn connect(&mut self) {
        let config = self.config.clone();
        let result = match config.link.kind {
            PoolKind::Cluster => cluster::connect(&config)
                .await
                .map(|(cluster, peer)| (Link::Cluster(cluster), peer)),
            PoolKind::Single | PoolKind::Sentinel => match server_address(&config.link).await {
                Ok((host, port)) => RawConn::connect(&host, port, &config)
                    .await
                    .map(|raw| {
                        let peer = raw.peer.clone();
                        (Link::Raw(raw), peer)
                    })
                    .map_err(|e| e.to_string()),
                Err(error) => Err(error.to_string()),
            },
        };
        match result {
            Ok((link, peer)) => {
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
                // The batch was encoded for the pool type of its time; a
                // reload may have changed it.
                let fits = matches!(
                    (&link, &self.pending),
                    (Link::Raw(_), Pending::Resp(_)) | (Link::Cluster(_), Pending::Groups(_))
                );
                if !fits {
                    self.encode(config.link.kind);
                }
                self.link = Some(link);
                self.backoff = MIN_BACKOFF;
            }
            Err(error) => {
                if self.down_since.is_none() {
                    self.down_since = Some(Instant::now());
                    self.shared.host.warn(&format!(
                        "pool {}: cannot connect to {}: {error}; writes wait in the queue \
                         ({} commands) and connection attempts go on",
                        self.shared.name,
                        config.link.target(),
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
        self.link = None;
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

    /// Sends the pending batch and keeps what must be sent again.
    async fn send(&mut self) -> Sent {
        self.shared.stats.batches.fetch_add(1, Ordering::Relaxed);
        let link = self.link.take();
        let pending = std::mem::replace(&mut self.pending, Pending::Empty);
        match (link, pending) {
            (Some(Link::Raw(mut raw)), Pending::Resp(mut buf)) => {
                // Redis works through this batch while the next one is
                // encoded; it is written once this one is answered.
                let result = match raw.write(&buf).await {
                    Ok(()) => {
                        self.prepare_next();
                        raw.replies(&buf).await
                    }
                    Err(error) => Err(error),
                };
                self.link = Some(Link::Raw(raw));
                let sent = buf.len();
                match result {
                    Ok(replies) => {
                        let mut retry_from = None;
                        for error in &replies.errors {
                            if is_transient(&error.code) {
                                retry_from = Some((error.index, error.code.clone()));
                                break;
                            }
                            let command = buf.command_name(error.index);
                            self.refused(&command, &error.code, &error.detail);
                        }
                        let Some((index, code)) = retry_from else {
                            self.answered(buf.carried(sent));
                            if self.spare.len() < 2 {
                                self.spare.push(buf);
                            }
                            return Sent::Done;
                        };
                        self.answered(buf.carried(index));
                        self.resent(buf.carried(sent) - buf.carried(index));
                        buf.keep_from(index);
                        self.pending = Pending::Resp(buf);
                        Sent::Retry {
                            reconnect: needs_new_connection(&code),
                            reason: format!("Redis answered {code}"),
                        }
                    }
                    Err(error) => {
                        self.resent(buf.carried(sent));
                        self.pending = Pending::Resp(buf);
                        Sent::Retry {
                            reconnect: true,
                            reason: error.to_string(),
                        }
                    }
                }
            }
            (Some(Link::Cluster(cluster)), Pending::Groups(groups)) => {
                self.link = Some(Link::Cluster(cluster.clone()));
                let outcome = cluster::send(cluster, groups).await;
                for refusal in &outcome.refused {
                    self.refused(&refusal.command, &refusal.code, &refusal.detail);
                }
                self.answered(outcome.answered);
                self.resent(outcome.resent);
                match outcome.retry {
                    None => Sent::Done,
                    Some(retry) => {
                        self.pending = Pending::Groups(retry.groups);
                        Sent::Retry {
                            reconnect: retry.reconnect,
                            reason: retry.reason,
                        }
                    }
                }
            }
            // A batch encoded for another link (`connect` re-encodes, so
            // this does not happen); encode it again and retry.
            (link, pending) => {
                self.link = link;
                self.pending = pending;
                self.encode(self.config.link.kind);
                Sent::Retry {
                    reconnect: false,
                    reason: "pool type changed".to_owned(),
                }
            }
        }
    }

    /// A command Redis refused for good: counted, and logged now and then.
    fn refused(&mut self, command: &str, code: &str, detail: &str) {
        self.shared.stats.errors.fetch_add(1, Ordering::Relaxed);
        self.errors_since_log += 1;
        let due = self
            .last_error_log
            .is_none_or(|at| at.elapsed() >= ERROR_LOG_INTERVAL);
        if due {
            self.shared.host.warn(&format!(
                "pool {}: Redis refused {command}: {code} {detail} ({} refused commands since \
                 the last such line)",
                self.shared.name, self.errors_since_log
            ));
            self.last_error_log = Some(Instant::now());
            self.errors_since_log = 0;
        }
    }

    /// `count` commands were answered.
    fn answered(&self, count: usize) {
        self.shared
            .stats
            .written
            .fetch_add(count as u64, Ordering::Relaxed);
    }

    /// `count` commands go out again.
    fn resent(&self, count: usize) {
        self.shared
            .stats
            .resent
            .fetch_add(count as u64, Ordering::Relaxed);
    }
}
