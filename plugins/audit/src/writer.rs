//! The writer thread: the only place the audit log touches the disk.
//!
//! Hooks run on broker threads and must return in microseconds, so they
//! only format a line and hand it to a bounded channel; this thread appends
//! the lines to the file through a buffer. It flushes whenever the channel
//! is momentarily empty, so lines reach the file within moments under a
//! light load and in large writes under a heavy one. When the channel is
//! full the line is counted as dropped instead of blocking the broker.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;

/// Buffer between the channel and the file: large writes, few syscalls.
const BUFFER_BYTES: usize = 64 * 1024;

/// What the hooks and the plugin send to the writer thread, in order.
#[derive(Debug)]
pub enum Command {
    /// A formatted line, `\n` included.
    Line(String),
    /// Continue in another, already opened, file. Sent through the same
    /// channel as the lines so that every line queued before it goes to the
    /// old file and every line after it to the new one.
    Reopen {
        /// The new file, opened for appending.
        file: File,
        /// Its path, for messages.
        path: PathBuf,
    },
}

/// Counters shared by the hooks, the writer thread and `stats()`.
#[derive(Debug, Default)]
pub struct Stats {
    /// Lines flushed to the file.
    pub lines_written: AtomicU64,
    /// Lines lost: the channel was full, the writer had stopped, or the
    /// file refused them.
    pub lines_dropped: AtomicU64,
    /// Failed writes and flushes.
    pub write_errors: AtomicU64,
}

/// Owns the channel to the writer thread and the thread itself. Every
/// method takes `&self`: hooks on many broker threads queue lines at once.
#[derive(Debug)]
pub struct Writer {
    /// Read-locked to queue (uncontended but for `stop`), write-locked
    /// once to close the channel.
    sender: RwLock<Option<SyncSender<Command>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    stats: Arc<Stats>,
}

impl Writer {
    /// Starts a writer thread appending to `file` (at `path`), with a queue
    /// of `capacity` lines. `report` receives the thread's warnings (failed
    /// writes, dropped lines); it is called only when something changes,
    /// never once per line.
    pub fn start(
        file: File,
        path: PathBuf,
        capacity: usize,
        report: impl Fn(String) + Send + 'static,
    ) -> std::io::Result<Writer> {
        let (sender, receiver) = mpsc::sync_channel(capacity);
        let stats = Arc::new(Stats::default());
        let thread_stats = Arc::clone(&stats);
        let thread = std::thread::Builder::new()
            .name("audit-writer".to_owned())
            .spawn(move || run(receiver, Output::new(file, path), &thread_stats, &report))?;
        Ok(Writer {
            sender: RwLock::new(Some(sender)),
            thread: Mutex::new(Some(thread)),
            stats,
        })
    }

    /// Queues a line without waiting; returns false (and counts the line
    /// as dropped) when the queue is full or the writer has stopped.
    pub fn line(&self, line: String) -> bool {
        let sender = self.sender.read().unwrap_or_else(PoisonError::into_inner);
        let sent = match &*sender {
            Some(sender) => match sender.try_send(Command::Line(line)) {
                Ok(()) => true,
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
            },
            None => false,
        };
        if !sent {
            self.stats.lines_dropped.fetch_add(1, Ordering::Relaxed);
        }
        sent
    }

    /// Switches to `file` after the lines already queued. Waits for room
    /// in the queue: unlike a line, a reopen must not be lost, and it comes
    /// from a reconfiguration, not from a broker thread in a hook.
    pub fn reopen(&self, file: File, path: PathBuf) -> bool {
        let sender = self.sender.read().unwrap_or_else(PoisonError::into_inner);
        match &*sender {
            Some(sender) => sender.send(Command::Reopen { file, path }).is_ok(),
            None => false,
        }
    }

    /// Closes the queue and waits until the thread has written and flushed
    /// every line queued. Further lines are counted as dropped. Calling it
    /// again does nothing.
    pub fn stop(&self) {
        // Dropping the only sender ends the thread's receive loop once the
        // queue is empty.
        let sender = self
            .sender
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(sender);
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            // A panic on the writer thread has nothing left to clean up.
            let _ = thread.join();
        }
    }

    /// The shared counters.
    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }
}

impl Drop for Writer {
    /// A plugin dropped without `stop()` still writes out what it queued,
    /// and no thread outlives it.
    fn drop(&mut self) {
        self.stop();
    }
}

/// The open file and what has not been flushed to it yet.
struct Output {
    out: BufWriter<File>,
    path: PathBuf,
    /// Lines in the buffer, counted as written once a flush succeeds.
    pending: u64,
    /// Whether the last write or flush failed: errors are reported on the
    /// change, not for each line.
    failing: bool,
}

impl Output {
    fn new(file: File, path: PathBuf) -> Output {
        Output {
            out: BufWriter::with_capacity(BUFFER_BYTES, file),
            path,
            pending: 0,
            failing: false,
        }
    }

    fn write(&mut self, line: &str, stats: &Stats, report: &dyn Fn(String)) {
        match self.out.write_all(line.as_bytes()) {
            Ok(()) => self.pending += 1,
            Err(error) => {
                stats.lines_dropped.fetch_add(1, Ordering::Relaxed);
                self.failed(error, stats, report);
            }
        }
    }

    fn flush(&mut self, stats: &Stats, report: &dyn Fn(String)) {
        match self.out.flush() {
            Ok(()) => {
                stats
                    .lines_written
                    .fetch_add(self.pending, Ordering::Relaxed);
                self.pending = 0;
                if self.failing {
                    self.failing = false;
                    report(format!("writing to {} again", self.path.display()));
                }
            }
            Err(error) => self.failed(error, stats, report),
        }
    }

    fn failed(&mut self, error: std::io::Error, stats: &Stats, report: &dyn Fn(String)) {
        stats.write_errors.fetch_add(1, Ordering::Relaxed);
        if !self.failing {
            self.failing = true;
            report(format!(
                "cannot write to {}: {error}; lines are being dropped",
                self.path.display()
            ));
        }
    }

    /// Flushes and gives the file up; what could not be flushed is counted
    /// as dropped and discarded.
    fn close(mut self, stats: &Stats, report: &dyn Fn(String)) {
        self.flush(stats, report);
        if self.pending > 0 {
            stats
                .lines_dropped
                .fetch_add(self.pending, Ordering::Relaxed);
        }
        // into_parts does not try to flush again, unlike dropping.
        let _ = self.out.into_parts();
    }
}

/// The writer thread's loop: until every sender is gone and the queue is
/// empty.
fn run(receiver: Receiver<Command>, mut output: Output, stats: &Stats, report: &dyn Fn(String)) {
    let mut dropped_seen = 0;
    loop {
        let command = match receiver.try_recv() {
            Ok(command) => command,
            Err(TryRecvError::Empty) => {
                // The queue is empty for now: the moment to flush, and to
                // say whether hooks had to drop lines meanwhile.
                output.flush(stats, report);
                let dropped = stats.lines_dropped.load(Ordering::Relaxed);
                if dropped != dropped_seen {
                    report(format!(
                        "{} audit lines dropped so far ({} since the last report)",
                        dropped,
                        dropped - dropped_seen
                    ));
                    dropped_seen = dropped;
                }
                match receiver.recv() {
                    Ok(command) => command,
                    Err(_) => break,
                }
            }
            Err(TryRecvError::Disconnected) => break,
        };
        match command {
            Command::Line(line) => output.write(&line, stats, report),
            Command::Reopen { file, path } => {
                output.close(stats, report);
                output = Output::new(file, path);
            }
        }
    }
    output.close(stats, report);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    use crate::tests::TempFile;

    fn open(path: &std::path::Path) -> File {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap()
    }

    #[test]
    fn stop_writes_every_queued_line() {
        let tmp = TempFile::new("writer-stop");
        let writer = Writer::start(open(tmp.path()), tmp.path().into(), 1 << 16, |_| {}).unwrap();
        for i in 0..10_000 {
            assert!(writer.line(format!("{{\"n\":{i}}}\n")));
        }
        writer.stop();
        let text = std::fs::read_to_string(tmp.path()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 10_000);
        assert_eq!(lines[9_999], "{\"n\":9999}");
        assert_eq!(writer.stats().lines_written.load(Ordering::Relaxed), 10_000);
        assert_eq!(writer.stats().lines_dropped.load(Ordering::Relaxed), 0);
        // After stop, lines are refused and counted.
        assert!(!writer.line("late\n".to_owned()));
        assert_eq!(writer.stats().lines_dropped.load(Ordering::Relaxed), 1);
        writer.stop();
    }

    #[test]
    fn lines_reach_the_file_without_stop() {
        let tmp = TempFile::new("writer-flush");
        let writer = Writer::start(open(tmp.path()), tmp.path().into(), 16, |_| {}).unwrap();
        writer.line("one\n".to_owned());
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::fs::read_to_string(tmp.path()).unwrap() != "one\n" {
            assert!(Instant::now() < deadline, "the line was not flushed");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn reopen_keeps_the_order() {
        let first = TempFile::new("writer-first");
        let second = TempFile::new("writer-second");
        let writer = Writer::start(open(first.path()), first.path().into(), 4, |_| {}).unwrap();
        writer.line("a\n".to_owned());
        assert!(writer.reopen(open(second.path()), second.path().into()));
        writer.line("b\n".to_owned());
        writer.stop();
        assert_eq!(std::fs::read_to_string(first.path()).unwrap(), "a\n");
        assert_eq!(std::fs::read_to_string(second.path()).unwrap(), "b\n");
        assert_eq!(writer.stats().lines_written.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_full_queue_drops_instead_of_blocking() {
        // A read-only handle makes every write fail; the thread still
        // drains the queue, and with one slot the hooks outrun it.
        let tmp = TempFile::new("writer-full");
        open(tmp.path());
        let read_only = File::open(tmp.path()).unwrap();
        let reports = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&reports);
        let writer = Writer::start(read_only, tmp.path().into(), 1, move |m| {
            sink.lock().unwrap().push(m)
        })
        .unwrap();
        let started = Instant::now();
        let accepted = (0..1000).filter(|i| writer.line(format!("{i}\n"))).count();
        assert!(started.elapsed() < Duration::from_secs(1));
        writer.stop();
        let stats = writer.stats();
        assert_eq!(stats.lines_written.load(Ordering::Relaxed), 0);
        assert_eq!(stats.lines_dropped.load(Ordering::Relaxed), 1000);
        assert!(accepted >= 1);
        assert!(stats.write_errors.load(Ordering::Relaxed) >= 1);
        let reports = reports.lock().unwrap();
        // Reported once, not once per line.
        assert_eq!(
            reports
                .iter()
                .filter(|m| m.starts_with("cannot write"))
                .count(),
            1,
            "{reports:?}"
        );
    }
}
