//! The writer: one thread that owns the log. Records submitted from any
//! thread wait in one queue; the writer takes everything queued at once,
//! writes it in one `write` (group commit), flushes it to the disk as
//! `persistence.sync` says, and only then tells whoever waits that their
//! records are stored. Errors (disk full, I/O errors) are counted and
//! logged and the batch is tried again; nothing panics and no client's
//! thread ever waits on the disk.

use std::cell::Cell;
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::image::Image;
use super::live;
use super::record::Record;
use super::stats::Stats;
use super::SyncMode;
use crate::broker::message::unix_millis;

/// How long a failing disk is left alone before the next try.
const RETRY: Duration = Duration::from_secs(1);

/// While the disk keeps refusing writes, how often the log says so again
/// (the first refusal is always logged).
const REMIND: Duration = Duration::from_secs(60);

/// Bytes of records kept for a retry while the disk refuses them; beyond
/// this the writer keeps only its state, and writes it whole (compaction)
/// once the disk takes writes again.
const MAX_PENDING: usize = 64 << 20;

/// The most records an emptied batch may hold room for and still be
/// handed back for reuse.
const SPARE_MAX: usize = 1 << 16;

/// Someone to tell once every record up to a ticket is stored.
pub type Waiter = Box<dyn FnOnce() + Send>;

/// Records on their way to the writer.
#[derive(Default)]
struct Queue {
    /// In ticket order: `records[i]` has ticket `taken + 1 + i`; None is a
    /// record struck out before the writer took it.
    records: Vec<Option<Record>>,
    /// The writer's last batch, emptied and handed back, so that the
    /// queue does not grow a new vector from nothing for every batch.
    spare: Vec<Option<Record>>,
    /// The ticket of the last record the writer took.
    taken: u64,
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

thread_local! {
    /// The last ticket this thread was given, and by which store (its
    /// address): a publisher waits for the records its own PUBLISH made,
    /// not for those other threads submitted meanwhile.
    static LAST_HERE: Cell<(usize, u64)> = const { Cell::new((0, 0)) };
}

impl Shared {
    /// Queues `record`; returns its ticket.
    pub fn submit(&self, record: Record) -> u64 {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        queue.records.push(Some(record));
        // Under the queue's lock, so that tickets follow the queue's order.
        let ticket = self.submitted.fetch_add(1, Ordering::Relaxed) + 1;
        if queue.sleeping {
            queue.sleeping = false;
            self.wake.notify_one();
        }
        drop(queue);
        LAST_HERE.with(|last| last.set((self.identity(), ticket)));
        ticket
    }

    /// Ends a delivery whose records have `tickets`, the first the one
    /// that queued it (0: never recorded). While the writer has not taken
    /// that one, none of them needs writing: they are struck out of the
    /// queue, and the delivery never reaches the disk (a subscriber that
    /// acknowledges before the batch is written costs the log nothing).
    /// Otherwise the record `done` makes is queued.
    pub fn finish(&self, tickets: &[u64], done: impl FnOnce() -> Record) {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let taken = queue.taken;
        if tickets.first().is_some_and(|&first| first > taken) {
            for &ticket in tickets.iter().filter(|&&t| t > taken) {
                let slot = usize::try_from(ticket - taken - 1)
                    .ok()
                    .and_then(|i| queue.records.get_mut(i));
                if let Some(slot) = slot {
                    *slot = None;
                }
            }
            drop(queue);
            self.stats.struck.fetch_add(1, Ordering::Relaxed);
            return;
        }
        drop(queue);
        self.submit(done());
    }

    /// The ticket of the last record submitted.
    pub fn submitted(&self) -> u64 {
        self.submitted.load(Ordering::Acquire)
    }

    /// The ticket of the last record this thread submitted (0: none).
    pub fn submitted_here(&self) -> u64 {
        let (store, ticket) = LAST_HERE.with(Cell::get);
        if store == self.identity() {
            ticket
        } else {
            0
        }
    }

    fn identity(&self) -> usize {
        std::ptr::from_ref(self) as usize
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
    fn take(&self, timeout: Duration) -> (Vec<Option<Record>>, u64, bool) {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if queue.records.is_empty() && !queue.stop {
            // Let the threads that submit run once before sleeping: what
            // they queue meanwhile is taken without a wake-up (a futex
            // call on their side, a context switch on this one).
            drop(queue);
            std::thread::yield_now();
            queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        }
        if queue.records.is_empty() && !queue.stop {
            queue.sleeping = true;
            queue = self
                .wake
                .wait_timeout(queue, timeout)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            queue.sleeping = false;
        }
        let spare = std::mem::take(&mut queue.spare);
        let records = std::mem::replace(&mut queue.records, spare);
        queue.taken = self.submitted.load(Ordering::Relaxed);
        (records, queue.taken, queue.stop)
    }

    /// Hands an emptied batch back to the queue for reuse.
    fn give_back(&self, mut records: Vec<Option<Record>>) {
        records.clear();
        // One batch after a long stall may be huge: not kept.
        if records.capacity() > SPARE_MAX {
            return;
        }
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if records.capacity() > queue.spare.capacity() {
            queue.spare = records;
        }
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
        // Encoded records not yet in the file, how many, and the ticket
        // they end at.
        let mut pending: Vec<u8> = Vec::new();
        let mut pending_records = 0u64;
        let mut pending_ticket = 0u64;
        let mut lost_records = false;
        let mut last_sync = Instant::now();
        let mut unsynced = false;
        let mut last_log: Option<Instant> = None;
        loop {
            let stats = &self.shared.stats;
            let timeout = if stats.failing.load(Ordering::Relaxed) {
                RETRY
            } else {
                Duration::from_millis(200)
            };
            let (records, ticket, stop) = self.shared.take(timeout);

            for record in records.iter().flatten() {
                if lost_records || pending.len() > MAX_PENDING {
                    if !lost_records {
                        stats
                            .records_not_stored
                            .fetch_add(pending_records, Ordering::Relaxed);
                        pending.clear();
                        pending_records = 0;
                        lost_records = true;
                    }
                    self.image.apply(record);
                    stats.records_not_stored.fetch_add(1, Ordering::Relaxed);
                } else {
                    pending_records += live::append(record, &mut self.image, &mut pending);
                }
            }
            if !records.is_empty() {
                pending_ticket = ticket;
            }
            stats
                .records_waiting
                .store(pending_records, Ordering::Relaxed);
            self.shared.give_back(records);
            let writing = lost_records || !pending.is_empty();
            let wrote = if lost_records {
                // The log misses records: only a whole new one mends it.
                self.compact().map(|()| lost_records = false)
            } else if pending.is_empty() {
                Ok(())
            } else {
                self.write(&pending, pending_records).map(|()| {
                    pending.clear();
                    pending_records = 0;
                })
            };
            match wrote {
                Ok(()) => {
                    self.shared
                        .stats
                        .records_waiting
                        .store(0, Ordering::Relaxed);
                    self.wrote_again();
                    unsynced |= writing;
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
                    // Figures first: whoever hears its records are stored
                    // finds them counted.
                    self.publish_sizes();
                    self.shared.mark_stored(pending_ticket);
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
                    self.publish_sizes();
                    if stop {
                        tracing::error!(dir = %self.dir.display(), "store stopped with records not written");
                        return;
                    }
                    std::thread::sleep(RETRY);
                }
            }
        }
    }

    /// Appends `bytes`, which hold `records`; a write cut short is cut off
    /// the file again, so the next try starts at a record's end.
    fn write(&mut self, bytes: &[u8], records: u64) -> std::io::Result<()> {
        if let Err(error) = self.file.write_all(bytes) {
            let _ = self.file.set_len(self.len);
            let _ = self.file.seek(SeekFrom::Start(self.len));
            return Err(error);
        }
        self.len += bytes.len() as u64;
        let stats = &self.shared.stats;
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats.records_written.fetch_add(records, Ordering::Relaxed);
        stats.log_records.fetch_add(records, Ordering::Relaxed);
        Ok(())
    }

    fn compact(&mut self) -> std::io::Result<()> {
        let started = Instant::now();
        let compacted = live::compact(&self.dir, &self.image)?;
        let took = started.elapsed();
        let before = self.len;
        self.file = compacted.file;
        self.len = compacted.len;
        self.image = compacted.image;
        self.compact_at = self.compact_min.max(self.len.saturating_mul(2));
        let stats = &self.shared.stats;
        stats
            .log_records
            .store(compacted.records, Ordering::Relaxed);
        stats
            .last_compaction_took_ms
            .store(took.as_millis() as u64, Ordering::Relaxed);
        stats
            .last_compaction_ms
            .store(unix_millis(), Ordering::Relaxed);
        // Last: whoever sees the count sees the figures above.
        stats.compactions.fetch_add(1, Ordering::Release);
        tracing::info!(
            before_bytes = before,
            after_bytes = self.len,
            millis = took.as_millis() as u64,
            "store log compacted"
        );
        Ok(())
    }

    /// Counts a refused write; logs the first of a spell of them, and
    /// reminds every [`REMIND`] while it lasts (never once per message).
    fn failed(&self, error: &std::io::Error, last_log: &mut Option<Instant>) {
        let stats = &self.shared.stats;
        let started = stats.refused(error, unix_millis());
        let remind = matches!(last_log, Some(at) if at.elapsed() >= REMIND);
        if !started && !remind {
            return;
        }
        *last_log = Some(Instant::now());
        if started {
            tracing::error!(
                dir = %self.dir.display(),
                %error,
                "store cannot write: QoS 1/2 acknowledgements wait until it can; trying again every second"
            );
        } else {
            tracing::error!(
                dir = %self.dir.display(),
                %error,
                failed_writes = stats.write_errors.load(Ordering::Relaxed),
                records_waiting = stats.records_waiting.load(Ordering::Relaxed),
                "store still cannot write"
            );
        }
    }

    /// Ends a spell of refused writes, if one was on, saying so.
    fn wrote_again(&self) {
        if let Some(millis) = self.shared.stats.wrote(unix_millis()) {
            tracing::warn!(
                dir = %self.dir.display(),
                refused_for_ms = millis,
                failed_writes = self.shared.stats.write_errors.load(Ordering::Relaxed),
                "store writes again"
            );
        }
    }

    fn publish_sizes(&self) {
        self.shared.stats.held(self.len, &self.image);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::message::Delivery;
    use crate::test_support;

    fn enqueue(client: &Arc<str>, seq: u64) -> Record {
        let message = Arc::new(test_support::message(u128::from(seq), "t", "x"));
        Record::Enqueue {
            client: Arc::clone(client),
            seq,
            delivery: Delivery {
                seq,
                ..Delivery::new(message, mqhost_codec::QoS::AtLeastOnce, false, Vec::new())
            },
        }
    }

    fn done(client: &Arc<str>, seq: u64) -> impl FnOnce() -> Record {
        let client = Arc::clone(client);
        move || Record::Done { client, seq }
    }

    /// What the writer would take now: which records, None for those
    /// struck out.
    fn taken(shared: &Shared) -> Vec<Option<&'static str>> {
        let (records, _, _) = shared.take(Duration::ZERO);
        records
            .iter()
            .map(|r| {
                r.as_ref().map(|r| match r {
                    Record::Enqueue { .. } => "enqueue",
                    Record::Sent { .. } => "sent",
                    Record::Done { .. } => "done",
                    Record::Session { .. } => "session",
                    _ => "other",
                })
            })
            .collect()
    }

    #[test]
    fn a_delivery_finished_before_the_writer_took_it_is_never_written() {
        let shared = Shared::default();
        let client: Arc<str> = Arc::from("c");
        let queued = shared.submit(enqueue(&client, 1));
        let sent = shared.submit(Record::Sent {
            client: Arc::clone(&client),
            seq: 1,
            packet_id: 7,
        });
        shared.submit(Record::Session {
            client: Arc::clone(&client),
            username: None,
            expiry: 60,
            detached_ms: 0,
        });
        shared.finish(&[queued, sent, 0], done(&client, 1));
        assert_eq!(taken(&shared), [None, None, Some("session")]);
        assert_eq!(shared.stats.struck.load(Ordering::Relaxed), 1);
        // The tickets still count: a PUBACK waiting for them is let go.
        assert_eq!(shared.submitted(), 3);
    }

    #[test]
    fn a_delivery_the_writer_took_is_finished_by_a_record() {
        let shared = Shared::default();
        let client: Arc<str> = Arc::from("c");
        let queued = shared.submit(enqueue(&client, 1));
        assert_eq!(taken(&shared), [Some("enqueue")]);
        let sent = shared.submit(Record::Sent {
            client: Arc::clone(&client),
            seq: 1,
            packet_id: 7,
        });
        shared.finish(&[queued, sent, 0], done(&client, 1));
        // The Sent record stays: the log has the delivery, and must hear
        // its end after it.
        assert_eq!(taken(&shared), [Some("sent"), Some("done")]);
        // Never recorded at all: nothing to strike, nothing struck.
        shared.finish(&[0, 0, 0], done(&client, 2));
        assert_eq!(taken(&shared), [Some("done")]);
        assert_eq!(shared.stats.struck.load(Ordering::Relaxed), 0);
    }
}
