//! Flow control from a subscriber's session back to the publishers that
//! fill it, so that a connected subscriber that keeps reading loses nothing
//! however fast its publishers are.
//!
//! Each session publishes its backlog (deliveries in its mailbox plus its
//! queue) in a [`Pressure`]. A delivery that leaves an online session's
//! backlog at or above the high-water mark tells the publisher's session,
//! which stops decoding and reading its socket, so TCP pushes back on the
//! publishing client, until that backlog falls below the low-water mark.
//!
//! Waiting is patient only while the subscriber makes progress: when its
//! session neither moves a message out of its queue nor writes to its
//! client for [`PATIENCE`], the
//! publisher goes on, and the subscriber is marked stalled (it no longer
//! holds anyone back, and its bounded queue drops what does not fit, as
//! without flow control) until its backlog falls below the low-water mark.
//! That also breaks cycles: two sessions that publish to each other and
//! both wait cannot wait for longer than that.
//!
//! Nothing here blocks a thread: a waiting publisher's task still handles
//! its mailbox and writes to its client while it does not read.
//!
//! The same figures tell a plugin how many more messages a session can
//! take ([`Pressure::room`]) before it delivers many at once.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// How long a publisher waits for a congested subscriber that makes no
/// progress at all: long enough for a client that pauses now and then
/// (a collection, a slow disk), short enough that a client that stopped
/// reading costs its publishers a second once.
pub const PATIENCE: Duration = Duration::from_secs(1);

/// High-water mark when queues have no bound.
const UNBOUNDED_HIGH_WATER: usize = 1000;

/// One session's backlog, shared with every session that delivers to it.
#[derive(Debug)]
pub struct Pressure {
    /// Deliveries sent to the mailbox and not yet taken out of it.
    mailbox: AtomicUsize,
    /// Length of the session's queue as the session last published it.
    queued: AtomicUsize,
    /// Messages the session has moved out of its queue plus writes to its
    /// client, ever: progress.
    progress: AtomicU64,
    /// A publisher waits for the backlog to fall.
    waiting: AtomicBool,
    /// The session made no progress while a publisher waited for it.
    stalled: AtomicBool,
    /// Signalled when the backlog falls below the low-water mark while
    /// someone waits.
    drained: Notify,
    high: usize,
    /// The queue's bound, `usize::MAX` for none, for [`room`](Self::room).
    /// It takes the place a stored low-water mark would have (that one is
    /// derived from `high`), so a session costs no more for it.
    limit: usize,
}

impl Pressure {
    /// Marks for a session whose queue holds at most `limit` messages
    /// (None: no bound): high at half the queue, low at a quarter, so a
    /// few publishers overshooting by one message each still fit.
    pub fn new(limit: Option<usize>) -> Self {
        let high = limit.map_or(UNBOUNDED_HIGH_WATER, |l| (l / 2).max(1));
        Pressure {
            mailbox: AtomicUsize::new(0),
            queued: AtomicUsize::new(0),
            progress: AtomicU64::new(0),
            waiting: AtomicBool::new(false),
            stalled: AtomicBool::new(false),
            drained: Notify::new(),
            high,
            limit: limit.unwrap_or(usize::MAX),
        }
    }

    /// The low-water mark: half the high one.
    fn low(&self) -> usize {
        self.high / 2
    }

    /// Messages waiting in the mailbox and the queue.
    pub fn backlog(&self) -> usize {
        self.mailbox.load(Ordering::Relaxed) + self.queued.load(Ordering::Relaxed)
    }

    /// How many more messages the session can take now: the queue's bound
    /// less the backlog (every message in the mailbox is on its way to the
    /// queue), `u64::MAX` when the queue has no bound. A reading, not a
    /// reservation: others may deliver meanwhile.
    pub fn room(&self) -> u64 {
        if self.limit == usize::MAX {
            return u64::MAX;
        }
        self.limit.saturating_sub(self.backlog()) as u64
    }

    /// A delivery goes into the mailbox. Returns whether the sender should
    /// wait before routing more (when `online`).
    pub fn sent(&self, online: bool) -> bool {
        let backlog =
            self.mailbox.fetch_add(1, Ordering::Relaxed) + 1 + self.queued.load(Ordering::Relaxed);
        online && backlog >= self.high && !self.stalled.load(Ordering::Relaxed)
    }

    /// A delivery that was counted by [`sent`](Self::sent) never reached
    /// the mailbox (the session had ended).
    pub fn unsent(&self) {
        self.mailbox.fetch_sub(1, Ordering::Relaxed);
    }

    /// The session took a delivery out of its mailbox.
    pub fn received(&self) {
        self.mailbox.fetch_sub(1, Ordering::Relaxed);
    }

    /// The session's queue now holds `queued` messages, and its progress
    /// counter stands at `progress`. Wakes waiting publishers once the
    /// backlog is low.
    pub fn update(&self, queued: usize, progress: u64) {
        self.queued.store(queued, Ordering::Relaxed);
        self.progress.store(progress, Ordering::Relaxed);
        if self.backlog() < self.low() {
            if self.stalled.load(Ordering::Relaxed) {
                self.stalled.store(false, Ordering::Relaxed);
            }
            if self.waiting.load(Ordering::Relaxed) {
                self.release();
            }
        }
    }

    /// Wakes every waiting publisher (the session went offline or ended).
    pub fn release(&self) {
        self.waiting.store(false, Ordering::SeqCst);
        self.drained.notify_waiters();
    }

    /// Progress so far, for [`Pause`].
    fn progress(&self) -> u64 {
        self.progress.load(Ordering::Relaxed)
    }

    /// Returns once the backlog is below the low-water mark or at `until`.
    async fn wait_below_low(&self, until: Instant) {
        let notified = self.drained.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        self.waiting.store(true, Ordering::SeqCst);
        if self.backlog() < self.low() {
            return;
        }
        let _ = tokio::time::timeout_at(until.into(), notified).await;
    }
}

/// A publisher's session waiting for a congested subscriber.
pub struct Pause {
    on: super::SessionHandle,
    /// The subscriber's progress when last looked at.
    progress: u64,
    /// When to look again.
    until: Instant,
    /// The wait under way, kept between polls (it holds the wake-up it
    /// registered).
    waiting: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

/// What a waiting publisher does next.
pub enum AfterPause {
    /// Go on reading.
    Resume,
    /// The subscriber is making progress: keep waiting.
    Wait,
}

impl Pause {
    /// Waits for `on`, which reported congestion.
    pub fn new(on: super::SessionHandle) -> Self {
        let progress = on.pressure().progress();
        Pause {
            on,
            progress,
            until: Instant::now() + PATIENCE,
            waiting: None,
        }
    }

    /// Ready when it is time to look at the subscriber again.
    pub fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let waiting = self.waiting.get_or_insert_with(|| {
            let (on, until) = (self.on.clone(), self.until);
            Box::pin(async move { on.pressure().wait_below_low(until).await })
        });
        ready!(waiting.as_mut().poll(cx));
        self.waiting = None;
        Poll::Ready(())
    }

    /// Decides, after [`poll_wait`](Self::poll_wait) was ready, whether to
    /// go on.
    pub fn check(&mut self) -> AfterPause {
        let pressure = self.on.pressure();
        if !self.on.is_online() || pressure.backlog() < pressure.low() {
            return AfterPause::Resume;
        }
        let progress = pressure.progress();
        if progress != self.progress {
            self.progress = progress;
            self.until = Instant::now() + PATIENCE;
            return AfterPause::Wait;
        }
        // No progress for PATIENCE: stop holding publishers back for it.
        pressure.stalled.store(true, Ordering::Relaxed);
        AfterPause::Resume
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_follow_the_queue_bound() {
        let p = Pressure::new(Some(1000));
        assert_eq!((p.high, p.low()), (500, 250));
        let p = Pressure::new(Some(1));
        assert_eq!((p.high, p.low()), (1, 0));
        let p = Pressure::new(None);
        assert_eq!((p.high, p.low()), (1000, 500));
    }

    #[test]
    fn room_is_the_bound_less_the_mailbox_and_the_queue() {
        let p = Pressure::new(Some(5));
        assert_eq!(p.room(), 5);
        p.sent(true);
        p.sent(false);
        assert_eq!(p.room(), 3, "two in the mailbox");
        p.received();
        p.update(1, 0);
        assert_eq!(p.room(), 3, "one moved on to the queue");
        p.update(4, 0);
        assert_eq!(p.room(), 0, "one in the mailbox, four queued");
        p.sent(false);
        assert_eq!(p.room(), 0, "never below nothing");
        p.received();
        p.received();
        p.update(0, 4);
        assert_eq!(p.room(), 5);
        let unbounded = Pressure::new(None);
        unbounded.update(5000, 0);
        assert_eq!(unbounded.room(), u64::MAX);
    }

    #[test]
    fn congestion_is_reported_at_the_high_water_mark_of_online_sessions_only() {
        let p = Pressure::new(Some(8));
        assert!(!p.sent(true));
        assert!(!p.sent(true));
        assert!(!p.sent(true));
        assert!(p.sent(true), "fourth message reaches high water (4)");
        assert!(!p.sent(false), "an offline session holds nobody back");
        p.received();
        p.received();
        p.received();
        p.received();
        p.received();
        p.update(5, 0);
        assert!(p.sent(true));
    }

    #[test]
    fn a_stalled_session_holds_nobody_back_until_it_drains() {
        let p = Pressure::new(Some(8));
        p.update(6, 0);
        p.stalled.store(true, Ordering::Relaxed);
        assert!(!p.sent(true));
        p.received();
        p.update(1, 5);
        assert!(!p.stalled.load(Ordering::Relaxed));
        p.update(6, 5);
        assert!(p.sent(true));
    }
}
