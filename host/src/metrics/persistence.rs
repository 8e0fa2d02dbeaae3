//! The durable store's figures (`mqhost_persistence_*`), from the same
//! snapshot as `GET /api/v1/persistence`. With `persistence = off` only
//! `mqhost_persistence_enabled` (0) is written.

use super::Out;
use crate::persist::Store;

pub(super) fn figures(store: Option<&Store>, out: &mut Out<'_>) -> std::fmt::Result {
    out.gauge(
        "mqhost_persistence_enabled",
        "1 with persistence = on, else 0.",
        u64::from(store.is_some()),
    )?;
    let Some(store) = store else {
        return Ok(());
    };
    let s = store.stats().snapshot();
    out.gauge(
        "mqhost_persistence_refusing_writes",
        "1 while the disk refuses the store's writes (full, I/O error), else 0.",
        u64::from(s.failing_since_ms.is_some()),
    )?;
    out.gauge(
        "mqhost_persistence_log_bytes",
        "Bytes in the store's log file.",
        s.log_bytes,
    )?;
    out.gauge(
        "mqhost_persistence_log_records",
        "Records in the store's log file (message bodies included).",
        s.log_records,
    )?;
    out.gauge(
        "mqhost_persistence_sessions",
        "Sessions the store holds.",
        s.sessions,
    )?;
    out.gauge(
        "mqhost_persistence_queued_messages",
        "Messages queued or in flight for sessions that the store holds.",
        s.deliveries,
    )?;
    out.gauge(
        "mqhost_persistence_retained_messages",
        "Retained messages the store holds.",
        s.retained,
    )?;
    out.counter(
        "mqhost_persistence_batches_written",
        "Writes to the log, each a batch of records (group commit).",
        s.batches,
    )?;
    out.counter(
        "mqhost_persistence_records_written",
        "Records written to the log since start.",
        s.records_written,
    )?;
    out.counter(
        "mqhost_persistence_syncs",
        "Flushes of the log to the disk (persistence.sync).",
        s.fsyncs,
    )?;
    out.counter(
        "mqhost_persistence_compactions",
        "Times the log was written anew with the state alone.",
        s.compactions,
    )?;
    if let Some((_, took_ms)) = s.last_compaction {
        out.gauge(
            "mqhost_persistence_last_compaction_seconds",
            "How long the last compaction took.",
            took_ms as f64 / 1000.0,
        )?;
    }
    out.counter(
        "mqhost_persistence_write_errors",
        "Writes and flushes the disk refused; each is tried again a second later.",
        s.write_errors,
    )?;
    out.gauge(
        "mqhost_persistence_records_waiting",
        "Records waiting for the disk to take them (their acknowledgements wait too).",
        s.records_waiting,
    )?;
    out.counter(
        "mqhost_persistence_records_not_stored",
        "Records dropped from the retry buffer (over 64 MiB) while the disk refused writes; kept in memory and written by the compaction that follows.",
        s.records_not_stored,
    )?;
    out.counter(
        "mqhost_persistence_deliveries_never_written",
        "Deliveries to durable sessions acknowledged by their subscriber before the writer took their records, which were then never written.",
        s.struck,
    )
}
