//! One timer per session, for whichever of its deadlines comes next (keep
//! alive or a packet's timeout while connected; expiry or a delayed will
//! while not).
//!
//! The keep alive deadline moves with every packet. Re-arming a tokio
//! timer takes the timer wheel's lock, so the timer is only moved when it
//! fires early (the deadline moved on meanwhile: it is set again) or must
//! fire sooner than it is set to.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use tokio::time::Sleep;

/// A session's timer; it allocates only once first needed.
#[derive(Default)]
pub struct Timer {
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Timer {
    /// Ready once `at` has passed; never ready without a deadline.
    pub fn poll_until(&mut self, cx: &mut Context<'_>, at: Option<Instant>) -> Poll<()> {
        let Some(at) = at else {
            return Poll::Pending;
        };
        let at_tokio = tokio::time::Instant::from_std(at);
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at_tokio)));
        if sleep.deadline() > at_tokio {
            sleep.as_mut().reset(at_tokio);
        }
        loop {
            ready!(sleep.as_mut().poll(cx));
            if Instant::now() >= at {
                return Poll::Ready(());
            }
            // Set for a deadline that has since moved on.
            sleep.as_mut().reset(at_tokio);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn until(timer: &mut Timer, at: Option<Instant>) {
        std::future::poll_fn(|cx| timer.poll_until(cx, at)).await
    }

    #[tokio::test]
    async fn fires_at_a_deadline_that_moved_later() {
        let mut timer = Timer::default();
        let start = Instant::now();
        // Far enough that a loaded machine cannot reach it before the
        // first poll: the test is about order, not speed.
        let first = start + Duration::from_secs(1);
        // Armed for the first deadline, then asked for a later one.
        let early = tokio::time::timeout(Duration::from_millis(5), until(&mut timer, Some(first)));
        assert!(early.await.is_err());
        let later = first + Duration::from_millis(50);
        until(&mut timer, Some(later)).await;
        assert!(Instant::now() >= later);
    }

    #[tokio::test]
    async fn fires_at_a_deadline_that_moved_sooner() {
        let mut timer = Timer::default();
        let start = Instant::now();
        let far = tokio::time::timeout(
            Duration::from_millis(5),
            until(&mut timer, Some(start + Duration::from_secs(60))),
        );
        assert!(far.await.is_err());
        let soon = start + Duration::from_millis(30);
        tokio::time::timeout(Duration::from_secs(5), until(&mut timer, Some(soon)))
            .await
            .expect("the timer was moved sooner");
        assert!(Instant::now() >= soon);
    }

    #[tokio::test]
    async fn without_a_deadline_it_never_fires() {
        let mut timer = Timer::default();
        let never = tokio::time::timeout(Duration::from_millis(30), until(&mut timer, None));
        assert!(never.await.is_err());
    }
}
