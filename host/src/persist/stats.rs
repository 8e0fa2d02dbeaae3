//! The store's figures: kept by the writer as it works (relaxed atomics,
//! one writer, many readers), read whole as a [`Snapshot`] by the admin
//! API (`GET /api/v1/persistence`, `mqhost ctl persistence`) and by
//! `/metrics`, so both show the same figures.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use super::image::Image;

/// The writer's figures, updated as it writes.
#[derive(Default)]
pub struct Stats {
    /// Bytes in the log file, up to the end of its last whole record.
    pub log_bytes: AtomicU64,
    /// Records in the log file (message bodies included).
    pub log_records: AtomicU64,
    /// Records written since start, and the writes (batches) that held them.
    pub records_written: AtomicU64,
    pub batches: AtomicU64,
    pub fsyncs: AtomicU64,
    /// Writes (and flushes) the disk refused.
    pub write_errors: AtomicU64,
    /// Records encoded, waiting for the disk to take them.
    pub records_waiting: AtomicU64,
    /// Records dropped from the retry buffer while the disk refused writes
    /// (kept in the state, written again by the next compaction).
    pub records_not_stored: AtomicU64,
    /// Deliveries finished before the writer took their records, which
    /// were then never written.
    pub struck: AtomicU64,
    pub compactions: AtomicU64,
    /// When the last compaction ended (Unix ms, 0: none yet) and how long
    /// it took (ms).
    pub last_compaction_ms: AtomicU64,
    pub last_compaction_took_ms: AtomicU64,
    /// The disk refuses writes now, since this time (Unix ms).
    pub failing: AtomicBool,
    pub failing_since_ms: AtomicU64,
    /// Sessions, deliveries, retained messages and message bodies held.
    pub sessions: AtomicU64,
    pub deliveries: AtomicU64,
    pub retained: AtomicU64,
    pub messages: AtomicU64,
    /// The last error and when it came (Unix ms).
    pub last_error: Mutex<Option<(u64, String)>>,
}

/// The figures at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub log_bytes: u64,
    pub log_records: u64,
    pub records_written: u64,
    pub batches: u64,
    pub fsyncs: u64,
    pub write_errors: u64,
    pub records_waiting: u64,
    pub records_not_stored: u64,
    pub struck: u64,
    pub compactions: u64,
    /// The last compaction: when it ended (Unix ms) and how long it took
    /// (ms).
    pub last_compaction: Option<(u64, u64)>,
    /// While the disk refuses writes: since when (Unix ms).
    pub failing_since_ms: Option<u64>,
    pub sessions: u64,
    pub deliveries: u64,
    pub retained: u64,
    pub messages: u64,
    /// The last error (Unix ms, text), even once writes work again.
    pub last_error: Option<(u64, String)>,
}

impl Stats {
    /// The figures now.
    pub fn snapshot(&self) -> Snapshot {
        let get = |v: &AtomicU64| v.load(Ordering::Relaxed);
        let compacted_at = get(&self.last_compaction_ms);
        Snapshot {
            log_bytes: get(&self.log_bytes),
            log_records: get(&self.log_records),
            records_written: get(&self.records_written),
            batches: get(&self.batches),
            fsyncs: get(&self.fsyncs),
            write_errors: get(&self.write_errors),
            records_waiting: get(&self.records_waiting),
            records_not_stored: get(&self.records_not_stored),
            struck: get(&self.struck),
            compactions: get(&self.compactions),
            last_compaction: (compacted_at != 0)
                .then(|| (compacted_at, get(&self.last_compaction_took_ms))),
            failing_since_ms: self
                .failing
                .load(Ordering::Relaxed)
                .then(|| get(&self.failing_since_ms)),
            sessions: get(&self.sessions),
            deliveries: get(&self.deliveries),
            retained: get(&self.retained),
            messages: get(&self.messages),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }

    /// Notes what the log holds: `len` bytes making the state `image`.
    pub fn held(&self, len: u64, image: &Image) {
        let set = |v: &AtomicU64, n: usize| v.store(n as u64, Ordering::Relaxed);
        self.log_bytes.store(len, Ordering::Relaxed);
        set(&self.sessions, image.sessions.len());
        set(&self.deliveries, image.deliveries);
        set(&self.retained, image.retained.len());
        set(&self.messages, image.message_count());
    }

    /// Notes a refused write: returns true when it starts a spell of
    /// refusals (writes worked before it).
    pub fn refused(&self, error: &std::io::Error, now_ms: u64) -> bool {
        self.write_errors.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((now_ms, error.to_string()));
        let started = !self.failing.swap(true, Ordering::Relaxed);
        if started {
            self.failing_since_ms.store(now_ms, Ordering::Relaxed);
        }
        started
    }

    /// Notes a write that worked: returns how long the spell of refusals
    /// it ends lasted (ms), if one did.
    pub fn wrote(&self, now_ms: u64) -> Option<u64> {
        if !self.failing.swap(false, Ordering::Relaxed) {
            return None;
        }
        let since = self.failing_since_ms.swap(0, Ordering::Relaxed);
        Some(now_ms.saturating_sub(since))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spell_of_refusals_has_a_start_and_an_end() {
        let stats = Stats::default();
        assert_eq!(stats.snapshot().failing_since_ms, None);
        let full = std::io::Error::from_raw_os_error(28);
        assert!(stats.refused(&full, 1_000));
        assert!(!stats.refused(&full, 2_000));
        let snapshot = stats.snapshot();
        assert_eq!(snapshot.failing_since_ms, Some(1_000));
        assert_eq!(snapshot.write_errors, 2);
        let (at, text) = snapshot.last_error.unwrap();
        assert_eq!(at, 2_000);
        assert!(text.contains("os error 28"), "{text}");
        assert_eq!(stats.wrote(4_500), Some(3_500));
        assert_eq!(stats.wrote(5_000), None);
        let snapshot = stats.snapshot();
        assert_eq!(snapshot.failing_since_ms, None);
        // The last error stays for whoever looks later.
        assert!(snapshot.last_error.is_some());
    }
}
