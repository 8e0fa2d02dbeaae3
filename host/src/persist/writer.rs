//! The writer: one thread that owns the log. Records submitted from any
//! thread wait in one queue; the writer takes everything queued at once,
//! writes it in one `write` (group commit), flushes it to the disk as
//! `persistence.sync` says, and only then tells whoever waits that their
//! records are stored. Errors (disk full, I/O errors) are counted and
//! logged and the batch is tried again; nothing panics and no client's
//! thread ever waits on the disk.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::image::Image;
use super::live;
use super::record::Record;
use super::SyncMode;

/// How long a failing disk is left alone before the next try.
const RETRY: Duration = Duration::from_secs(1);

/// Bytes of records kept for a retry while the disk refuses them; beyond
/// this the writer keeps only its state, and writes it whole (compaction)
/// once the disk takes writes again.
const MAX_PENDING: usize = 64 << 20;

/// Someone to tell once every record up to a ticket is stored.
pub type Waiter = Box<dyn FnOnce() + Send>;

/// Records on their way to the writer.
#[derive(Default)]
struct Queue {
    records: Vec<Record>,
    /// The writer waits on the condition variable: a submitter wakes it.
    sleeping: bool,
    stop: bool,
}

/// What the writer and everyone else share.
#[derive(Default)]
pub struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    /// Tickets handed out: one per record submitted, in queue order.
    submitted: AtomicU64,
    /// Every record up to this ticket is stored.
    stored: AtomicU64,
    waiters: Mutex<Vec<(u64, Waiter)>>,
    pub stats: Stats,
}

/// Figures for the admin API and `/metrics`.
#[derive(Default)]
pub struct Stats {
    /// Bytes in the log file.
    pub log_bytes: AtomicU64,
    pub records_written: AtomicU64,
    pub batches: AtomicU64,
    pub fsyncs: AtomicU64,
    /// Writes (and flushes) the disk refused.
    pub write_errors: AtomicU64,
    /// Records dropped from the retry buffer while the disk refused writes
    /// (kept in the state, written again by the next compaction).
    pub records_not_stored: AtomicU64,
    pub compactions: AtomicU64,
    /// The disk refuses writes now.
    pub failing: AtomicBool,
    /// Sessions, deliveries, retained messages and message bodies held.
    pub sessions: AtomicU64,
    pub deliveries: AtomicU64,
    pub retained: AtomicU64,
    pub messages: AtomicU64,
    /// The last error, for the admin API.
    pub last_error: Mutex<Option<String>>,
}

impl Shared {
    /// Queues `record`; returns its ticket.
    pub fn submit(&self, record: Record) -> u64 {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        queue.records.push(record);
        let ticket = self.submitted.fetch_add(1, Ordering::Relaxed) + 1;
        if queue.sleeping {
            queue.sleeping = false;
            self.wake.notify_one();
        }
        ticket
    }

    /// The ticket of the last record submitted.
    pub fn submitted(&self) -> u64 {
        self.submitted.load(Ordering::Acquire)
    }

    /// Whether every record up to `ticket` is stored.
    pub fn is_stored(&self, ticket: u64) -> bool {
        self.stored.load(Ordering::Acquire) >= ticket
    }

    /// Calls `waiter` once every record up to `ticket` is stored: at once
    /// (returning false) if they are, otherwise later from the writer.
    pub fn when_stored(&self, ticket: u64, waiter: Waiter) -> bool {
        let mut waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        if self.is_stored(ticket) {
            drop(waiters);
            waiter();
            return false;
        }
        waiters.push((ticket, waiter));
        true
    }

    /// Asks the writer to write what is queued and stop.
    pub fn stop(&self) {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        queue.stop = true;
        self.wake.notify_one();
    }

    /// Everything queued, and whether to stop; waits up to `timeout` for
    /// something to come.
    fn take(&self, timeout: Duration) -> (Vec<Record>, u64, bool) {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if queue.records.is_empty() && !queue.stop {
            queue.sleeping = true;
            queue = self
                .wake
                .wait_timeout(queue, timeout)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            queue.sleeping = false;
        }
        let records = std::mem::take(&mut queue.records);
        (records, self.submitted.load(Ordering::Relaxed), queue.stop)
    }

    fn mark_stored(&self, ticket: u64) {
        if self.stored.load(Ordering::Relaxed) >= ticket {
            return;
        }
        self.stored.store(ticket, Ordering::Release);
        let due: Vec<Waiter> = {
            let mut waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
            let mut due = Vec::new();
            let mut i = 0;
            while i < waiters.len() {
                if waiters[i].0 <= ticket {
                    due.push(waiters.swap_remove(i).1);
                } else {
                    i += 1;
                }
            }
            due
        };
        for waiter in due {
            waiter();
        }
    }
}

/// The writer's own state.
pub struct Writer {
    pub shared: Arc<Shared>,
    pub dir: PathBuf,
    pub file: File,
    /// End of the last record written whole.
    pub len: u64,
    pub image: Image,
    pub sync: SyncMode,
    /// Compact once the log is this long.
    pub compact_at: u64,
    /// The smallest `compact_at`.
    pub compact_min: u64,
}

impl Writer {
    /// The thread's body; returns once stopped, everything written.
    pub fn run(mut self) {
        // Encoded records not yet in the file, and the ticket they end at.
        let mut pending: Vec<u8> = Vec::new();
        let mut pending_ticket = 0u64;
        let mut lost_records = false;
        let mut last_sync = Instant::now();
        let mut unsynced = false;
        let mut last_log: Option<Instant> = None;
        loop {
            let timeout = if self.shared.stats.failing.load(Ordering::Relaxed) {
                RETRY
            } else {
                Duration::from_millis(200)
            };
            let (records, ticket, stop) = self.shared.take(timeout);
            for record in &records {
                if lost_records || pending.len() > MAX_PENDING {
                    if !lost_records {
                        pending.clear();
                        lost_records = true;
                    }
                    self.image.apply(record);
                    self.shared
                        .stats
                        .records_not_stored
                        .fetch_add(1, Ordering::Relaxed);
                } else {
                    live::append(record, &mut self.image, &mut pending);
                }
            }
            if !records.is_empty() {
                pending_ticket = ticket;
                self.shared
                    .stats
                    .records_written
                    .fetch_add(records.len() as u64, Ordering::Relaxed);
            }
            drop(records);
            let wrote = if lost_records {
                // The log misses records: only a whole new one mends it.
                self.compact().map(|()| {
                    lost_records = false;
                    pending.clear();
                })
            } else if pending.is_empty() {
                Ok(())
            } else {
                self.write(&pending).map(|()| pending.clear())
            };
            match wrote {
                Ok(()) => {
                    if self.shared.stats.failing.swap(false, Ordering::Relaxed) {
                        tracing::warn!(dir = %self.dir.display(), "store writes again");
                    }
                    if pending_ticket > 0 {
                        unsynced = true;
                    }
                    let sync_now = match self.sync {
                        SyncMode::Always => unsynced,
                        SyncMode::Interval => {
                            unsynced && last_sync.elapsed() >= Duration::from_secs(1)
                        }
                        SyncMode::None => false,
                    } || (stop && unsynced);
                    if sync_now {
                        if let Err(error) = self.file.sync_data() {
                            self.failed(&error, &mut last_log);
                            continue;
                        }
                        self.shared.stats.fsyncs.fetch_add(1, Ordering::Relaxed);
                        last_sync = Instant::now();
                        unsynced = false;
                    }
                    self.shared.mark_stored(pending_ticket);
                    self.publish_sizes();
                    if self.len >= self.compact_at {
                        if let Err(error) = self.compact() {
                            self.failed(&error, &mut last_log);
                            // Tried again once the log grew as much again.
                            self.compact_at = self.len.saturating_mul(2);
                        }
                    }
                    if stop {
                        return;
                    }
                }
                Err(error) => {
                    self.failed(&error, &mut last_log);
                    if stop {
                        tracing::error!(dir = %self.dir.display(), "store stopped with records not written");
                        return;
                    }
                    std::thread::sleep(RETRY);
                }
            }
        }
    }

    /// Appends `bytes`; a write cut short is cut off the file again, so
    /// the next try starts at a record's end.
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if let Err(error) = self.file.write_all(bytes) {
            let _ = self.file.set_len(self.len);
            let _ = self.file.seek(SeekFrom::Start(self.len));
            return Err(error);
        }
        self.len += bytes.len() as u64;
        self.shared.stats.batches.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn compact(&mut self) -> std::io::Result<()> {
        let started = Instant::now();
        let compacted = live::compact(&self.dir, &self.image)?;
        let before = self.len;
        self.file = compacted.file;
        self.len = compacted.len;
        self.image = compacted.image;
        self.compact_at = self.compact_min.max(self.len.saturating_mul(2));
        self.shared
            .stats
            .compactions
            .fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            before_bytes = before,
            after_bytes = self.len,
            millis = started.elapsed().as_millis() as u64,
            "store log compacted"
        );
        Ok(())
    }

    fn failed(&self, error: &std::io::Error, last_log: &mut Option<Instant>) {
        let stats = &self.shared.stats;
        stats.write_errors.fetch_add(1, Ordering::Relaxed);
        stats.failing.store(true, Ordering::Relaxed);
        *stats.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(error.to_string());
        let quiet = matches!(last_log, Some(at) if at.elapsed() < Duration::from_secs(10));
        if !quiet {
            *last_log = Some(Instant::now());
            tracing::error!(
                dir = %self.dir.display(),
                %error,
                "store cannot write: QoS 1/2 acknowledgements wait until it can; trying again every second"
            );
        }
    }

    fn publish_sizes(&self) {
        let stats = &self.shared.stats;
        stats.log_bytes.store(self.len, Ordering::Relaxed);
        stats
            .sessions
            .store(self.image.sessions.len() as u64, Ordering::Relaxed);
        stats
            .deliveries
            .store(self.image.deliveries as u64, Ordering::Relaxed);
        stats
            .retained
            .store(self.image.retained.len() as u64, Ordering::Relaxed);
        stats
            .messages
            .store(self.image.message_count() as u64, Ordering::Relaxed);
    }
}
