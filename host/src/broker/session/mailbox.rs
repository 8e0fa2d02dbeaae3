//! A session's mailbox: how the router, other sessions, the registry and
//! plugins reach a session's task.
//!
//! Many senders, one receiver. The queue sits behind a mutex; the receiver
//! swaps the whole queue for its own empty one and handles the batch
//! without the lock, so a burst costs one lock on its side, and senders
//! wake the receiver only when it waits. An idle mailbox holds no
//! allocation at all, which matters at tens of thousands of idle
//! connections.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use super::SessionEvent;

/// The sending side, shared by every handle of the session.
#[derive(Default)]
pub struct Mailbox {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    queue: VecDeque<SessionEvent>,
    /// The receiver, when it found the queue empty and waits.
    waker: Option<Waker>,
    /// The session ended: nothing more is accepted.
    closed: bool,
}

impl Mailbox {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `event`; gives it back when the mailbox is closed.
    pub fn send(&self, event: SessionEvent) -> Result<(), SessionEvent> {
        let mut state = self.lock();
        if state.closed {
            return Err(event);
        }
        state.queue.push_back(event);
        let waker = state.waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Closes the mailbox and hands back what was still in it.
    pub fn close(&self) -> VecDeque<SessionEvent> {
        let mut state = self.lock();
        state.closed = true;
        state.waker = None;
        std::mem::take(&mut state.queue)
    }
}

/// The receiving side: the session's own batch, taken from the mailbox.
#[derive(Default)]
pub struct Inbox {
    batch: VecDeque<SessionEvent>,
}

impl Inbox {
    /// The next event, if one is here or in the mailbox now.
    pub fn try_next(&mut self, mailbox: &Mailbox) -> Option<SessionEvent> {
        if self.batch.is_empty() {
            let mut state = mailbox.lock();
            std::mem::swap(&mut state.queue, &mut self.batch);
        }
        self.batch.pop_front()
    }

    /// Events taken from the mailbox and not handled yet.
    pub fn into_remaining(self) -> VecDeque<SessionEvent> {
        self.batch
    }

    /// Waits for the next event.
    #[cfg(test)]
    pub async fn next(&mut self, mailbox: &Mailbox) -> SessionEvent {
        std::future::poll_fn(|cx| self.poll_next(mailbox, cx)).await
    }

    /// The next event, or Pending with this task's waker registered.
    pub fn poll_next(&mut self, mailbox: &Mailbox, cx: &mut Context<'_>) -> Poll<SessionEvent> {
        if let Some(event) = self.batch.pop_front() {
            return Poll::Ready(event);
        }
        let mut state = mailbox.lock();
        if state.queue.is_empty() {
            // Registered under the lock senders take: no wake-up is lost.
            match &state.waker {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                _ => state.waker = Some(cx.waker().clone()),
            }
            return Poll::Pending;
        }
        std::mem::swap(&mut state.queue, &mut self.batch);
        drop(state);
        match self.batch.pop_front() {
            Some(event) => Poll::Ready(event),
            None => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::oneshot;

    fn discard() -> SessionEvent {
        SessionEvent::Discard(oneshot::channel().0)
    }

    #[tokio::test]
    async fn events_arrive_in_order_and_a_closed_mailbox_refuses_more() {
        let mailbox = Mailbox::default();
        let mut inbox = Inbox::default();
        assert!(inbox.try_next(&mailbox).is_none());
        mailbox.send(SessionEvent::Shutdown).ok().unwrap();
        mailbox.send(discard()).ok().unwrap();
        assert!(matches!(inbox.next(&mailbox).await, SessionEvent::Shutdown));
        mailbox.send(SessionEvent::Shutdown).ok().unwrap();
        assert!(matches!(
            inbox.try_next(&mailbox),
            Some(SessionEvent::Discard(_))
        ));
        let left = mailbox.close();
        assert_eq!(left.len(), 1);
        assert!(mailbox.send(SessionEvent::Shutdown).is_err());
    }

    #[tokio::test]
    async fn a_waiting_receiver_is_woken_by_a_send_from_another_task() {
        let mailbox = std::sync::Arc::new(Mailbox::default());
        let sender = std::sync::Arc::clone(&mailbox);
        let mut inbox = Inbox::default();
        let send = tokio::spawn(async move {
            tokio::task::yield_now().await;
            sender.send(SessionEvent::Shutdown).ok().unwrap();
        });
        let event = tokio::time::timeout(std::time::Duration::from_secs(5), inbox.next(&mailbox))
            .await
            .expect("woken");
        assert!(matches!(event, SessionEvent::Shutdown));
        send.await.unwrap();
    }
}
