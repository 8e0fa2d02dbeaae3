//! A pool: one Redis deployment (single, sentinel or cluster) and the
//! tasks that talk to it, all on the plugin's runtime:
//!
//! - [`queue`]: the ordered, bounded write queue, one arena of commands
//!   ([`batch`]) that hooks write into, the message path's as packed
//!   events ([`record`]);
//! - [`writer`]: sends the queue in pipelined batches (see there for
//!   ordering and retries), made into commands ([`unpack`]) and coalesced
//!   ([`coalesce`]) on single and sentinel pools;
//! - [`lookup`]: reads that deliver or subscribe through the host, in
//!   order per client;
//! - [`channel`]: the SUB/UNSUB channel.
//!
//! What the tasks share with the handle is [`shared::PoolShared`].
//!
//! A [`PoolHandle`] is what hooks see: queuing writes never waits on
//! Redis. The
//! tasks follow the pool's settings through a watch channel, so a reload
//! that changes them reconnects this pool and no other, and keeps its
//! queue. When the last handle goes (the pool left the configuration, or
//! the plugin stops), the writer finishes its queue and the other tasks
//! end.

pub(crate) mod batch;
pub(crate) mod channel;
pub(crate) mod coalesce;
pub(crate) mod lookup;
pub(crate) mod queue;
pub(crate) mod raw;
pub(crate) mod record;
pub(crate) mod shared;
pub(crate) mod unpack;
pub(crate) mod writer;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use mqhost_plugin_api::Host;
use serde_json::Value;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::PoolConfig;
use crate::stats::PoolStats;
use batch::Batch;
use lookup::Lookup;
use shared::{unix_millis, PoolShared};

/// A pool's settings as its tasks see them: shared, so that a reconnect
/// uses the settings of the moment.
pub(crate) type SharedConfig = Arc<PoolConfig>;

/// Lookups waiting at most per pool; beyond, they are dropped and counted.
pub(crate) const MAX_QUEUED_LOOKUPS: usize = 100_000;
/// At most one "queue full" line per this many milliseconds.
const OVERFLOW_LOG_INTERVAL_MS: u64 = 5_000;

/// The hooks' side of a pool.
pub(crate) struct PoolHandle {
    /// Shared with the tasks.
    pub(crate) shared: Arc<PoolShared>,
    lookups: mpsc::UnboundedSender<Lookup>,
    settings: watch::Sender<SharedConfig>,
}

/// A started pool: its handle and its writer, which the plugin waits for
/// when it stops.
pub(crate) struct Started {
    /// For hooks.
    pub(crate) handle: Arc<PoolHandle>,
    /// Ends once the pool is dropped and its queue is written.
    pub(crate) writer: JoinHandle<()>,
}

impl Drop for PoolHandle {
    /// The pool left the configuration (or the plugin stops): its writer
    /// finishes the queue and ends.
    fn drop(&mut self) {
        self.shared.queue.close();
    }
}

impl PoolHandle {
    /// Starts the pool's tasks on `runtime`. Connecting happens there; a
    /// Redis that is not up yet only delays the writes.
    pub(crate) fn start(config: PoolConfig, host: Host, runtime: &Handle) -> Started {
        let shared = Arc::new(PoolShared {
            name: config.name.clone(),
            stats: PoolStats::default(),
            limit: AtomicUsize::new(config.max_queued_commands),
            limit_bytes: AtomicUsize::new(config.max_queued_bytes as usize),
            lookups_waiting: AtomicUsize::new(0),
            host,
            overflow_logged_ms: AtomicU64::new(0),
            queue: Default::default(),
        });
        let (settings, settings_rx) = watch::channel(Arc::new(config));
        let (lookups, lookups_rx) = mpsc::unbounded_channel();
        let writer =
            runtime.spawn(writer::Writer::new(Arc::clone(&shared), settings_rx.clone()).run());
        runtime.spawn(lookup::run(
            Arc::clone(&shared),
            lookups_rx,
            settings_rx.clone(),
        ));
        runtime.spawn(channel::run(Arc::clone(&shared), settings_rx));
        Started {
            handle: Arc::new(PoolHandle {
                shared,
                lookups,
                settings,
            }),
            writer,
        }
    }

    /// The pool's settings now.
    pub(crate) fn config(&self) -> SharedConfig {
        self.settings.borrow().clone()
    }

    /// Hands new settings to the pool's tasks (they reconnect if the
    /// connection settings differ).
    pub(crate) fn update(&self, config: PoolConfig) {
        self.shared
            .limit
            .store(config.max_queued_commands, Ordering::Relaxed);
        self.shared
            .limit_bytes
            .store(config.max_queued_bytes as usize, Ordering::Relaxed);
        self.settings.send_replace(Arc::new(config));
    }

    /// Queues the `count` commands of about `bytes` bytes that `emit`
    /// writes, or counts them as overflow when the queue is full. Never
    /// waits on Redis.
    pub(crate) fn write(&self, count: usize, bytes: usize, emit: impl FnOnce(&mut Batch)) {
        let stats = &self.shared.stats;
        let limit = self.shared.limit.load(Ordering::Relaxed);
        let limit_bytes = self.shared.limit_bytes.load(Ordering::Relaxed);
        let queued = stats.queued.load(Ordering::Relaxed);
        let queued_bytes = stats.queued_bytes.load(Ordering::Relaxed);
        let fits = queued + count <= limit && queued_bytes + bytes <= limit_bytes;
        if !fits || self.shared.queue.push(stats, count, emit).is_none() {
            stats.overflow.fetch_add(count as u64, Ordering::Relaxed);
            self.log_overflow(limit, limit_bytes);
        }
    }

    fn log_overflow(&self, limit: usize, limit_bytes: usize) {
        let now = unix_millis();
        let last = self.shared.overflow_logged_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) < OVERFLOW_LOG_INTERVAL_MS
            || self
                .shared
                .overflow_logged_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        self.shared.host.warn(&format!(
            "pool {}: write queue full ({} of max_queued_commands = {limit}, {} bytes of \
             max_queued_bytes = {limit_bytes}); new writes are dropped until Redis catches up \
             ({} commands dropped so far)",
            self.shared.name,
            self.shared.stats.queued.load(Ordering::Relaxed),
            self.shared.stats.queued_bytes.load(Ordering::Relaxed),
            self.shared.stats.overflow.load(Ordering::Relaxed)
        ));
    }

    /// Queues a lookup, or counts it as overflow.
    pub(crate) fn lookup(&self, lookup: Lookup) {
        let waiting = self.shared.lookups_waiting.fetch_add(1, Ordering::Relaxed);
        if waiting >= MAX_QUEUED_LOOKUPS {
            self.shared.lookups_waiting.fetch_sub(1, Ordering::Relaxed);
            self.shared
                .stats
                .lookup_overflow
                .fetch_add(1, Ordering::Relaxed);
            return;
        }
        if self.lookups.send(lookup).is_err() {
            self.shared.lookups_waiting.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// The pool's figures.
    pub(crate) fn stats(&self) -> Value {
        let config = self.config();
        self.shared.stats.to_json(
            config.link.kind.name(),
            &config.link.describe_servers(),
            self.shared.limit.load(Ordering::Relaxed),
            self.shared.limit_bytes.load(Ordering::Relaxed),
        )
    }
}
