//! Grace periods for plugin calls: knowing that no thread is inside a call
//! to a plugin, without making each call pay for it.
//!
//! Stopping a plugin must wait until no call to it is under way and make
//! sure none starts after, or an event could reach a plugin that already
//! drained. Hook calls sit on the broker's hottest path, where a shared
//! counter's two atomic read-modify-writes per call cost a no-op plugin
//! taking every hook about 8% of QoS 1 throughput.
//!
//! So each thread that calls plugins owns a [`Slot`] that only it writes,
//! with plain stores: how deep it is in plugin calls, and how many
//! outermost calls it has finished. A caller marks itself inside, then
//! reads whether the plugin is closed; a closer marks the plugin closed,
//! then reads every slot. Both sides store then load, which needs a full
//! fence between the two on both sides (Dekker). membarrier(2) lets the
//! closer run that fence on every thread of the process at once, so a
//! caller only has to keep the compiler from reordering: the asymmetric
//! fence of the kernel's RCU and of folly. Where membarrier is missing,
//! callers run a real fence.
//!
//! This module holds the host's second `unsafe`: the membarrier system call.
#![allow(unsafe_code)]

use std::sync::atomic::{compiler_fence, fence, AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, Once};
use std::time::Duration;

/// One thread's record of its plugin calls, on a cache line of its own
/// because the thread writes it on every call.
#[repr(align(64))]
struct Slot {
    /// Nesting depth: a plugin may call the host, which may call plugins.
    depth: AtomicU32,
    /// Outermost calls finished.
    exits: AtomicU64,
    /// A live thread owns this slot.
    owned: AtomicBool,
}

impl Slot {
    const fn new() -> Slot {
        Slot {
            depth: AtomicU32::new(0),
            exits: AtomicU64::new(0),
            owned: AtomicBool::new(false),
        }
    }
}

/// Every slot ever handed out, with its index; slots are leaked and reused
/// by later threads, so a `&'static Slot` stays valid.
static SLOTS: Mutex<Vec<&'static Slot>> = Mutex::new(Vec::new());

/// For calls from a thread whose thread-locals are already gone (during
/// its exit): shared, so entered with read-modify-writes.
static SHARED: Slot = Slot::new();

/// Callers need a real fence: membarrier is not available.
static FENCED: AtomicBool = AtomicBool::new(true);
static PREPARE: Once = Once::new();

/// The calling thread's slot, released when the thread exits.
struct Owned {
    slot: &'static Slot,
    index: usize,
}

impl Owned {
    fn claim() -> Owned {
        let mut slots = SLOTS.lock().unwrap_or_else(|e| e.into_inner());
        let free = slots.iter().position(|s| {
            s.owned
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        });
        let index = free.unwrap_or_else(|| {
            let slot: &'static Slot = Box::leak(Box::new(Slot::new()));
            slot.owned.store(true, Ordering::Relaxed);
            slots.push(slot);
            slots.len() - 1
        });
        Owned {
            slot: slots[index],
            index,
        }
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        self.slot.owned.store(false, Ordering::Release);
    }
}

thread_local! {
    static OWNED: Owned = Owned::claim();
}

/// Decides, once and before any plugin call, whether callers may rely on
/// membarrier. Call it before a plugin can be called.
pub fn prepare() {
    PREPARE.call_once(|| FENCED.store(!membarrier::register(), Ordering::SeqCst));
}

/// A plugin call under way on this thread; dropping it ends the call.
pub struct Inside {
    slot: &'static Slot,
    /// The thread's slot index, or None on the shared slot.
    index: Option<usize>,
}

/// Marks the calling thread inside a plugin call. Read the plugin's closed
/// flag after this, and call the plugin only while the guard lives.
#[inline]
pub fn enter() -> Inside {
    let own = OWNED.try_with(|owned| (owned.slot, owned.index));
    let inside = match own {
        Ok((slot, index)) => {
            let depth = slot.depth.load(Ordering::Relaxed);
            slot.depth.store(depth + 1, Ordering::Relaxed);
            Inside {
                slot,
                index: Some(index),
            }
        }
        Err(_) => {
            SHARED.depth.fetch_add(1, Ordering::SeqCst);
            Inside {
                slot: &SHARED,
                index: None,
            }
        }
    };
    if FENCED.load(Ordering::Relaxed) {
        fence(Ordering::SeqCst);
    } else {
        compiler_fence(Ordering::SeqCst);
    }
    inside
}

impl Inside {
    /// The thread's slot index, for per-thread counters; None on the shared
    /// slot.
    pub fn index(&self) -> Option<usize> {
        self.index
    }
}

impl Drop for Inside {
    #[inline]
    fn drop(&mut self) {
        let slot = self.slot;
        if self.index.is_none() {
            slot.depth.fetch_sub(1, Ordering::Release);
            return;
        }
        let depth = slot.depth.load(Ordering::Relaxed) - 1;
        slot.depth.store(depth, Ordering::Release);
        if depth == 0 {
            let exits = slot.exits.load(Ordering::Relaxed);
            slot.exits.store(exits + 1, Ordering::Release);
        }
    }
}

/// Returns once every call that may have missed a closed flag stored
/// before this has returned: any call that starts later reads the flag.
/// Blocks the thread; calls return in microseconds.
pub fn synchronize() {
    // Once registration succeeded the expedited barrier cannot fail (its
    // only errors are an unknown or unregistered command), so callers'
    // compiler fences are always met by it; the fence is for the fenced
    // mode and for form's sake.
    if FENCED.load(Ordering::SeqCst) || !membarrier::barrier() {
        fence(Ordering::SeqCst);
    }
    let slots: Vec<&'static Slot> = SLOTS.lock().unwrap_or_else(|e| e.into_inner()).clone();
    for slot in slots {
        let exits = slot.exits.load(Ordering::Acquire);
        while slot.depth.load(Ordering::Acquire) != 0 && slot.exits.load(Ordering::Acquire) == exits
        {
            std::thread::sleep(Duration::from_micros(50));
        }
    }
    while SHARED.depth.load(Ordering::Acquire) != 0 {
        std::thread::sleep(Duration::from_micros(50));
    }
}

/// Counts kept per calling thread, so that counting costs a plain load
/// and store on a line no other thread writes: `N` of them, one per hook
/// point, side by side.
pub struct ThreadCounter<const N: usize = 1> {
    cells: Box<[Cells<N>]>,
}

#[repr(align(64))]
struct Cells<const N: usize>([AtomicU64; N]);

impl<const N: usize> Default for Cells<N> {
    fn default() -> Self {
        Cells([const { AtomicU64::new(0) }; N])
    }
}

/// Threads with an index below this count on a cell of their own; the
/// others share the last cell with read-modify-writes.
const OWN_CELLS: usize = 63;

impl<const N: usize> Default for ThreadCounter<N> {
    fn default() -> Self {
        ThreadCounter {
            cells: (0..=OWN_CELLS).map(|_| Cells::default()).collect(),
        }
    }
}

impl<const N: usize> ThreadCounter<N> {
    /// Counts one in counter `i`, on behalf of the thread that holds
    /// `inside`; returns the count on that thread's cell so far (which
    /// an ended thread may have begun, or, for threads without a cell of
    /// their own, the shared cell's).
    #[inline]
    pub fn add(&self, inside: &Inside, i: usize) -> u64 {
        match inside.index() {
            Some(index) if index < OWN_CELLS => {
                let cell = &self.cells[index].0[i];
                let count = cell.load(Ordering::Relaxed) + 1;
                cell.store(count, Ordering::Relaxed);
                count
            }
            _ => self.cells[OWN_CELLS].0[i].fetch_add(1, Ordering::Relaxed) + 1,
        }
    }

    /// Counter `i`'s total so far.
    pub fn sum(&self, i: usize) -> u64 {
        self.cells
            .iter()
            .map(|c| c.0[i].load(Ordering::Relaxed))
            .sum()
    }

    /// Every counter's total so far.
    pub fn total(&self) -> u64 {
        (0..N).map(|i| self.sum(i)).sum()
    }
}

#[cfg(target_os = "linux")]
mod membarrier {
    const CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
    const CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;

    fn call(command: libc::c_long) -> bool {
        // SAFETY: membarrier takes plain integers and touches no memory of
        // ours; an unknown command or an old kernel answers -1.
        unsafe {
            libc::syscall(
                libc::SYS_membarrier,
                command,
                0 as libc::c_long,
                0 as libc::c_long,
            ) == 0
        }
    }

    /// Whether this process may use expedited barriers from now on.
    pub fn register() -> bool {
        call(CMD_REGISTER_PRIVATE_EXPEDITED)
    }

    /// A full memory barrier on every running thread of the process.
    pub fn barrier() -> bool {
        call(CMD_PRIVATE_EXPEDITED)
    }
}

#[cfg(not(target_os = "linux"))]
mod membarrier {
    pub fn register() -> bool {
        false
    }

    pub fn barrier() -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    #[test]
    fn synchronize_waits_for_a_call_under_way() {
        prepare();
        let closed = Arc::new(AtomicBool::new(false));
        let entered = Arc::new(AtomicBool::new(false));
        let finished = Arc::new(AtomicBool::new(false));
        let caller = {
            let (entered, finished) = (entered.clone(), finished.clone());
            std::thread::spawn(move || {
                let _inside = enter();
                entered.store(true, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(200));
                finished.store(true, Ordering::SeqCst);
            })
        };
        while !entered.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        closed.store(true, Ordering::SeqCst);
        synchronize();
        assert!(finished.load(Ordering::SeqCst), "returned during the call");
        caller.join().unwrap();
    }

    #[test]
    fn nested_calls_end_with_the_outermost() {
        prepare();
        let entered = Arc::new(AtomicBool::new(false));
        let release = Arc::new(AtomicBool::new(false));
        let finished = Arc::new(AtomicBool::new(false));
        let caller = {
            let (entered, release, finished) = (entered.clone(), release.clone(), finished.clone());
            std::thread::spawn(move || {
                let outer = enter();
                drop(enter());
                entered.store(true, Ordering::SeqCst);
                while !release.load(Ordering::SeqCst) {
                    std::thread::yield_now();
                }
                finished.store(true, Ordering::SeqCst);
                drop(outer);
            })
        };
        while !entered.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        let releaser = {
            let release = release.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(100));
                release.store(true, Ordering::SeqCst);
            })
        };
        synchronize();
        assert!(
            finished.load(Ordering::SeqCst),
            "returned inside the outer call"
        );
        caller.join().unwrap();
        releaser.join().unwrap();
    }

    #[test]
    fn counts_from_many_threads_add_up() {
        prepare();
        let counter = Arc::new(ThreadCounter::<2>::default());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let counter = counter.clone();
                std::thread::spawn(move || {
                    // A thread's count goes up by one a call (it may start
                    // from what an ended thread left on its cell).
                    let first = counter.add(&enter(), 1);
                    for n in 1..10_000 {
                        assert_eq!(counter.add(&enter(), 1), first + n);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(counter.sum(0), 0);
        assert_eq!(counter.sum(1), 80_000);
        assert_eq!(counter.total(), 80_000);
    }
}
