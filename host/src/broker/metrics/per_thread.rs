//! Counters on the message path, kept per thread.
//!
//! A QoS 1 message costs the broker under a microsecond of CPU, and it is
//! counted about ten times on its way (packets and bytes in and out, the
//! message received and delivered). A shared atomic's read-modify-write
//! costs a locked instruction each time, and a cache line bouncing
//! between cores when several threads count: together a few percent of
//! throughput. So each thread that counts claims a shard of its own, on
//! cache lines no other thread writes, and adds to it with a plain load
//! and store; a scrape sums the shards. Threads beyond [`OWN_SHARDS`]
//! share one more shard with read-modify-writes.
//!
//! A thread gives its shard back when it exits; the next thread to claim
//! it goes on from the figures left there (the release of the claim
//! publishes them), so nothing counted is ever lost.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Threads that may have a shard of their own at once: more than the
/// broker's worker threads plus its plugins' runtimes will ever be.
pub const OWN_SHARDS: usize = 64;

/// Which shards are taken, process-wide: every [`PerThread`] has the same
/// number of shards, and a thread has the same index in all of them.
static TAKEN: [AtomicBool; OWN_SHARDS] = [const { AtomicBool::new(false) }; OWN_SHARDS];

/// Not yet claimed: the thread has not counted yet.
const UNCLAIMED: usize = usize::MAX;

thread_local! {
    /// The thread's shard index once claimed ([`OWN_SHARDS`]: the shared
    /// one). Constant-initialised and without a destructor, so reading it
    /// is one load, and it can be read while the thread is exiting.
    static INDEX: Cell<usize> = const { Cell::new(UNCLAIMED) };
    /// Gives the shard back when the thread exits; made at the claim.
    static RELEASE: Release = const { Release };
}

/// Gives the thread's shard back when the thread's locals are dropped.
struct Release;

impl Drop for Release {
    fn drop(&mut self) {
        let index = INDEX.replace(OWN_SHARDS);
        if let Some(taken) = TAKEN.get(index) {
            taken.store(false, Ordering::Release);
        }
    }
}

/// The calling thread's shard index.
#[inline]
fn index() -> usize {
    let index = INDEX.get();
    if index != UNCLAIMED {
        return index;
    }
    claim()
}

#[cold]
fn claim() -> usize {
    let free = TAKEN.iter().position(|taken| {
        taken
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    });
    let index = match free {
        // Registers the release; a thread whose locals are already being
        // dropped cannot, and must not keep a shard it would never give
        // back.
        Some(index) if RELEASE.try_with(|_| ()).is_ok() => index,
        Some(index) => {
            TAKEN[index].store(false, Ordering::Release);
            OWN_SHARDS
        }
        None => OWN_SHARDS,
    };
    INDEX.set(index);
    index
}

/// One shard, on cache lines of its own.
#[repr(align(64))]
#[derive(Default)]
struct Padded<T>(T);

/// A `T` of counters per thread.
pub struct PerThread<T> {
    shards: Box<[Padded<T>]>,
}

impl<T: Default> Default for PerThread<T> {
    fn default() -> Self {
        PerThread {
            shards: (0..=OWN_SHARDS).map(|_| Padded::default()).collect(),
        }
    }
}

impl<T> PerThread<T> {
    /// The calling thread's shard, to count on.
    #[inline]
    pub fn local(&self) -> Local<'_, T> {
        let index = index();
        Local {
            counters: &self.shards[index].0,
            owned: index < OWN_SHARDS,
        }
    }

    /// The sum of one counter over every shard.
    pub fn sum(&self, counter: impl Fn(&T) -> &AtomicU64) -> u64 {
        self.shards
            .iter()
            .map(|shard| counter(&shard.0).load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }
}

/// A thread's shard: the counters, and whether this thread alone writes
/// them.
pub struct Local<'a, T> {
    pub counters: &'a T,
    owned: bool,
}

impl<T> Local<'_, T> {
    /// Adds `n` to `counter`, one of this shard's.
    #[inline]
    pub fn add(&self, counter: &AtomicU64, n: u64) {
        if self.owned {
            // Only this thread writes here: no read-modify-write needed.
            counter.store(
                counter.load(Ordering::Relaxed).wrapping_add(n),
                Ordering::Relaxed,
            );
        } else {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[derive(Default)]
    struct One {
        n: AtomicU64,
    }

    #[test]
    fn counts_from_many_threads_add_up() {
        let counters = Arc::new(PerThread::<One>::default());
        // More threads than shards, some ending while others count, so
        // that shards change hands and the shared shard is used.
        let threads: Vec<_> = (0..2 * OWN_SHARDS)
            .map(|_| {
                let counters = Arc::clone(&counters);
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        let local = counters.local();
                        local.add(&local.counters.n, 1);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(counters.sum(|c| &c.n), 2 * OWN_SHARDS as u64 * 1000);
    }

    #[test]
    fn a_thread_keeps_its_shard() {
        let counters = PerThread::<One>::default();
        let first = counters.local().counters as *const One;
        let second = counters.local().counters as *const One;
        assert_eq!(first, second);
    }
}
