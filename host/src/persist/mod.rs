//! Durable state: what a broker killed with `kill -9` (or a power loss,
//! with `persistence.sync`) finds again at its next start: sessions that
//! outlive their connection with their subscriptions, queues, in-flight
//! windows, inbound QoS 2 ids and delayed wills, and retained messages.
//!
//! A write-ahead log of our own, chosen by measurement (see
//! `docs/persistence.md`): one file of checksummed records, appended by
//! one writer thread in batches, compacted when it grows.
//!
//! # Layout
//!
//! - [`lock`]: one broker per directory.
//! - [`format`]: the log's header and version.
//! - [`record`]: one change, encoded and decoded (CRC per record,
//!   bounded lengths).
//! - [`image`]: the state the records make.
//! - [`recover`]: reading the log at start, cutting off a damaged tail.
//! - [`live`]: appending, and compaction.
//! - [`writer`]: the thread that writes, with group commit and the sync
//!   modes; disk errors counted, never fatal.
//! - [`stats`]: the writer's figures, for the admin API and `/metrics`.
//! - [`transfer`]: one session as bytes, to move it to another broker.

pub mod format;
pub mod image;
pub mod live;
pub mod lock;
pub mod record;
pub mod recover;
pub mod stats;
pub mod transfer;
pub mod writer;

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

pub use image::{Image, SessionImage, Stage};
pub use record::Record;
pub use recover::Report;
use writer::{Shared, Waiter, Writer};

/// `persistence.sync`: when the log is flushed to the disk. Whatever the
/// mode, a record is written to the file (the kernel's, which survives
/// the process) before it counts as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// Never: the kernel writes when it likes; power loss may lose up to
    /// its writeback delay.
    None,
    /// Once a second at most (while anything was written).
    Interval,
    /// After every batch, before its acknowledgements go.
    Always,
}

impl SyncMode {
    /// Parses `none`, `interval` or `always`.
    pub fn parse(value: &str) -> Result<SyncMode, String> {
        match value {
            "none" => Ok(SyncMode::None),
            "interval" => Ok(SyncMode::Interval),
            "always" => Ok(SyncMode::Always),
            _ => Err("expected none, interval or always".to_owned()),
        }
    }

    /// The word the configuration uses.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncMode::None => "none",
            SyncMode::Interval => "interval",
            SyncMode::Always => "always",
        }
    }
}

/// The smallest log that is compacted.
const COMPACT_MIN: u64 = 64 << 20;

/// The open store: submit records from any thread; the writer thread
/// stores them in order.
pub struct Store {
    shared: Arc<Shared>,
    dir: PathBuf,
    sync: SyncMode,
    report: Report,
    thread: Mutex<Option<JoinHandle<()>>>,
    _lock: lock::DirLock,
}

impl Store {
    /// Locks `dir`, reads its log, and starts the writer. Returns the
    /// store and the state it found, for the broker to restore.
    pub fn open(dir: &Path, sync: SyncMode) -> Result<(Store, Image), String> {
        Store::open_with(dir, sync, COMPACT_MIN)
    }

    /// [`Store::open`] with the log compacted from `compact_min` bytes.
    pub fn open_with(
        dir: &Path,
        sync: SyncMode,
        compact_min: u64,
    ) -> Result<(Store, Image), String> {
        // Private: the store holds every client's messages.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create persistence.dir {}: {e}", dir.display()))?;
        let lock = lock::lock(dir)?;
        let recovered = recover::recover(dir)?;
        let shared = Arc::new(Shared::default());
        let stats = &shared.stats;
        stats.held(recovered.len, &recovered.image);
        stats
            .log_records
            .store(recovered.report.records, Ordering::Relaxed);
        let image = recovered.image;
        let writer = Writer {
            shared: Arc::clone(&shared),
            dir: dir.to_path_buf(),
            file: recovered.file,
            len: recovered.len,
            image: image.clone(),
            sync,
            compact_at: compact_min.max(recovered.len.saturating_mul(2)),
            compact_min,
        };
        let thread = std::thread::Builder::new()
            .name("mqhost-store".to_owned())
            .spawn(move || writer.run())
            .map_err(|e| format!("cannot start the store's writer: {e}"))?;
        Ok((
            Store {
                shared,
                dir: dir.to_path_buf(),
                sync,
                report: recovered.report,
                thread: Mutex::new(Some(thread)),
                _lock: lock,
            },
            image,
        ))
    }

    /// Queues `record`; returns its ticket (see [`Store::when_stored`]).
    pub fn submit(&self, record: Record) -> u64 {
        self.shared.submit(record)
    }

    /// Ends a delivery whose records have `tickets`, the first the one
    /// that queued it: struck out of the queue if the writer has not
    /// taken that one yet, else the record `done` makes is queued.
    pub fn finish(&self, tickets: &[u64], done: impl FnOnce() -> Record) {
        self.shared.finish(tickets, done)
    }

    /// The ticket of the last record submitted, by any thread.
    pub fn submitted(&self) -> u64 {
        self.shared.submitted()
    }

    /// The ticket of the last record this thread submitted (0: none):
    /// what a publisher waits for is what its own PUBLISH recorded.
    pub fn submitted_here(&self) -> u64 {
        self.shared.submitted_here()
    }

    /// Whether every record up to `ticket` is stored.
    pub fn is_stored(&self, ticket: u64) -> bool {
        self.shared.is_stored(ticket)
    }

    /// Calls `waiter` once every record up to `ticket` is stored: at once
    /// when they are (and returns false), else from the writer's thread.
    pub fn when_stored(&self, ticket: u64, waiter: Waiter) -> bool {
        self.shared.when_stored(ticket, waiter)
    }

    /// Writes what is queued, flushes it to the disk and stops the
    /// writer. Records submitted afterwards are not stored.
    pub fn close(&self) {
        self.shared.stop();
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The sync mode.
    pub fn sync(&self) -> SyncMode {
        self.sync
    }

    /// What reading the log at start found.
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// The writer's figures.
    pub fn stats(&self) -> &stats::Stats {
        &self.shared.stats
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::broker::message::{Delivery, Message};
    use crate::test_support::{self, TestDir};

    fn message(id: u128, size: usize) -> Arc<Message> {
        Arc::new(test_support::message(id, "t", vec![7; size]))
    }

    fn enqueue(client: &Arc<str>, seq: u64) -> Record {
        Record::Enqueue {
            client: Arc::clone(client),
            seq,
            delivery: Delivery {
                seq,
                ..Delivery::new(
                    message(u128::from(seq), 200),
                    mqhost_codec::QoS::AtLeastOnce,
                    false,
                    Vec::new(),
                )
            },
        }
    }

    /// Waiters hear once their records are stored; what was stored is
    /// there at the next open, compacted or not.
    #[test]
    fn stored_records_are_found_again_after_compactions() {
        let dir = TestDir::new("store-reopen");
        let path = dir.path().join("data");
        let client: Arc<str> = Arc::from("c");
        let (log_bytes, log_records) = {
            let (store, image) = Store::open_with(&path, SyncMode::Interval, 64 << 10).unwrap();
            assert!(image.sessions.is_empty());
            store.submit(Record::Session {
                client: Arc::clone(&client),
                username: None,
                expiry: 100,
                detached_ms: 0,
            });
            let heard = Arc::new(AtomicUsize::new(0));
            for seq in 1..=2000 {
                store.submit(enqueue(&client, seq));
                // Half acknowledged: the log grows, the state does not.
                if seq % 2 == 0 {
                    store.submit(Record::Done {
                        client: Arc::clone(&client),
                        seq,
                    });
                }
            }
            let ticket = store.submitted();
            let h = Arc::clone(&heard);
            store.when_stored(
                ticket,
                Box::new(move || {
                    h.fetch_add(1, Ordering::Relaxed);
                }),
            );
            let start = Instant::now();
            while heard.load(Ordering::Relaxed) == 0 {
                assert!(start.elapsed() < Duration::from_secs(10));
                std::thread::sleep(Duration::from_millis(5));
            }
            assert!(store.is_stored(ticket));
            // Compaction follows the batch that made the log too long.
            while store.stats().compactions.load(Ordering::Relaxed) == 0 {
                assert!(start.elapsed() < Duration::from_secs(10));
                std::thread::sleep(Duration::from_millis(5));
            }
            store.close();
            let written = store.stats().snapshot();
            assert!(written.last_compaction.is_some(), "{written:?}");
            assert_eq!(written.sessions, 1);
            assert_eq!(written.deliveries, 1000);
            (written.log_bytes, written.log_records)
        };
        let (store, image) = Store::open(&path, SyncMode::None).unwrap();
        // The figures the writer kept are what the next start reads.
        assert_eq!(store.report().records, log_records);
        assert_eq!(store.stats().snapshot().log_bytes, log_bytes);
        let session = &image.sessions["c"];
        assert_eq!(session.expiry, 100);
        assert_eq!(session.deliveries.len(), 1000);
        assert!(session.deliveries.keys().all(|seq| seq % 2 == 1));
        assert_eq!(image.message_count(), 1000);
    }

    /// A publisher waits for its own records, not for those another
    /// thread submitted meanwhile.
    #[test]
    fn a_thread_knows_the_ticket_of_its_own_last_record() {
        let dir = TestDir::new("store-here");
        let (store, _) = Store::open(&dir.path().join("a"), SyncMode::None).unwrap();
        assert_eq!(store.submitted_here(), 0);
        let mine = store.submit(Record::Unretain(Arc::from("a")));
        let (theirs, seen_there) = std::thread::scope(|s| {
            s.spawn(|| {
                let ticket = store.submit(Record::Unretain(Arc::from("b")));
                (ticket, store.submitted_here())
            })
            .join()
            .unwrap()
        });
        assert_eq!(seen_there, theirs);
        assert!(theirs > mine);
        assert_eq!(store.submitted_here(), mine);
        // Another store's tickets are not this one's.
        let (other, _) = Store::open(&dir.path().join("b"), SyncMode::None).unwrap();
        other.submit(Record::Unretain(Arc::from("c")));
        assert_eq!(store.submitted_here(), 0);
    }

    #[test]
    fn a_second_store_on_the_same_dir_is_refused() {
        let dir = TestDir::new("store-twice");
        let path = dir.path().join("data");
        let (_store, _) = Store::open(&path, SyncMode::None).unwrap();
        let error = Store::open(&path, SyncMode::None).err().unwrap();
        assert!(
            error.contains("in use by another running broker"),
            "{error}"
        );
    }
}
