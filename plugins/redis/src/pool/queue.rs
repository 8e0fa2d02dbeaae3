//! A pool's write queue: one arena ([`Batch`]) that hooks write their
//! commands into under a lock, and that the writer swaps out whole.
//!
//! A hook's cost is then the lock and the copy of its arguments, on the
//! broker's thread, with no allocation once the arena has grown; the
//! writer takes everything queued in one swap and frees nothing per
//! command.

use std::sync::atomic::Ordering;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

use super::batch::{Batch, MAX_COMMAND_BYTES};
use crate::stats::PoolStats;

/// The queue shared by a pool's handle (hooks) and its writer.
#[derive(Default)]
pub(crate) struct WriteQueue {
    state: Mutex<State>,
    /// Signalled when the queue stops being empty, and when it closes.
    ready: Notify,
}

#[derive(Default)]
struct State {
    batch: Batch,
    /// The pool is gone: the writer ends once the queue is empty.
    closed: bool,
}

/// What a push added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pushed {
    /// Commands.
    pub(crate) commands: usize,
    /// Bytes, as encoded.
    pub(crate) bytes: usize,
}

impl WriteQueue {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues what `emit` writes, `commands` commands once written (a
    /// packed event stands for its function's), and counts it in `stats`
    /// (under the lock, so the writer never counts it answered first);
    /// None, with nothing queued, when it passes what the arena's offsets
    /// can address.
    pub(crate) fn push(
        &self,
        stats: &PoolStats,
        commands: usize,
        emit: impl FnOnce(&mut Batch),
    ) -> Option<Pushed> {
        let mut state = self.state();
        let was_empty = state.batch.is_empty();
        let mark = state.batch.mark();
        let (entries, bytes) = (state.batch.len(), state.batch.byte_len());
        emit(&mut state.batch);
        // Offsets within a block are u32: a write that large (a payload
        // repeated by a raw command) is refused whole.
        if state.batch.byte_len() - bytes > MAX_COMMAND_BYTES {
            state.batch.truncate(mark);
            return None;
        }
        let pushed = Pushed {
            commands: if state.batch.len() > entries {
                commands
            } else {
                0
            },
            bytes: state.batch.byte_len() - bytes,
        };
        stats.queued.fetch_add(pushed.commands, Ordering::Relaxed);
        stats
            .queued_bytes
            .fetch_add(pushed.bytes, Ordering::Relaxed);
        drop(state);
        if was_empty && pushed.commands > 0 {
            self.ready.notify_one();
        }
        Some(pushed)
    }

    /// Moves everything queued into `into` (which the writer has emptied),
    /// waiting for something to be queued; false once the queue is closed
    /// and empty.
    pub(crate) async fn take(&self, into: &mut Batch) -> bool {
        loop {
            {
                let mut state = self.state();
                if !state.batch.is_empty() {
                    std::mem::swap(&mut state.batch, into);
                    return true;
                }
                if state.closed {
                    return false;
                }
            }
            // A notification sent since the check above is kept for this
            // wait, so none is lost.
            self.ready.notified().await;
        }
    }

    /// No more pushes will come: the writer finishes the queue and ends.
    pub(crate) fn close(&self) {
        self.state().closed = true;
        self.ready.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::CommandSink;

    fn set(batch: &mut Batch) {
        batch.begin(3);
        batch.arg(b"SET");
        batch.arg(b"k");
        batch.arg(b"v");
    }

    #[tokio::test]
    async fn the_writer_takes_what_hooks_pushed_then_ends_when_closed() {
        let queue = std::sync::Arc::new(WriteQueue::default());
        let stats = PoolStats::default();
        let pushed = queue.push(&stats, 1, set).unwrap();
        assert_eq!(pushed.commands, 1);
        queue.push(&stats, 1, set).unwrap();
        let mut taken = Batch::default();
        assert!(queue.take(&mut taken).await);
        assert_eq!(taken.len(), 2);
        assert_eq!(pushed.bytes * 2, taken.byte_len());
        assert_eq!(stats.queued.load(Ordering::Relaxed), 2);

        let waiter = {
            let queue = queue.clone();
            tokio::spawn(async move {
                let mut taken = Batch::default();
                let got = queue.take(&mut taken).await;
                (got, taken.len())
            })
        };
        queue.push(&stats, 1, set).unwrap();
        assert_eq!(waiter.await.unwrap(), (true, 1));
        queue.close();
        let mut taken = Batch::default();
        assert!(!queue.take(&mut taken).await);
    }

    #[test]
    fn a_push_that_writes_nothing_queues_nothing() {
        let queue = WriteQueue::default();
        let stats = PoolStats::default();
        let pushed = queue.push(&stats, 1, |_| {}).unwrap();
        assert_eq!(
            pushed,
            Pushed {
                commands: 0,
                bytes: 0
            }
        );
    }
}
