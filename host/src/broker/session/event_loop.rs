//! The session's task: one future that waits on the session's sources
//! (socket, mailbox, pause, timer) polled by hand, and dispatches what woke
//! it. This is the hot path of every connection.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use mqhost_codec::SubscriptionOptions;
use tokio::io::AsyncWrite;

use super::pressure::AfterPause;
use super::{Attach, CloseReason, Session, SessionEvent, Successor};
use crate::access::Access;
use crate::broker::connection::PacketTimedOut;
use crate::broker::metrics::Metrics;
use crate::escape::escaped;
use crate::hooks::decide::Decision;

/// A publisher's task yields after a read that made at most this many
/// deliveries, so that the receivers forward before it acknowledges: that
/// is what latency under light load is made of. A read that made more is a
/// busy moment, where letting receivers batch more serves better.
const YIELD_MAX_DELIVERIES: usize = 64;

/// Most mailbox events handled before the socket gets another turn.
const EVENT_BATCH: usize = 256;

/// The sources a connected session waits on: write, read, pause, mailbox,
/// keep alive.
const SOURCES: u8 = 5;

enum Wake {
    Decided(Decision),
    Read(std::io::Result<usize>),
    Wrote(std::io::Result<usize>),
    Event(SessionEvent),
    KeepAlive,
    Expired,
    WillDue,
    PauseOver,
}

impl Session {
    /// The session's task: takes its first connection, then serves until
    /// the session ends. (One future holds the session: an idle
    /// connection's memory is mostly this future.)
    ///
    /// Not an `async fn`: that would copy `self` from its argument into
    /// the body's state, holding the session twice in every task.
    #[allow(clippy::manual_async_fn)]
    pub(super) fn run(mut self, first: Option<Box<Attach>>) -> impl Future<Output = ()> + Send {
        async move {
            if let Some(first) = first {
                self.attach(first, false);
            }
            loop {
                let wake = self.wait().await;
                let keep_going = match wake {
                    Wake::Decided(decision) => match self.on_decided(decision) {
                        Ok(()) => true,
                        Err(reason) => self.detach(reason),
                    },
                    Wake::Read(result) => {
                        let keep_going = self.on_read(result);
                        let routed = std::mem::take(&mut self.routed);
                        if routed > 0 && routed as usize <= YIELD_MAX_DELIVERIES {
                            // Let the receivers forward what this read routed
                            // before this task writes the acknowledgements:
                            // forwarding is on the latency path, acking is not.
                            tokio::task::yield_now().await;
                        }
                        keep_going
                    }
                    Wake::Wrote(result) => self.on_wrote(result),
                    Wake::Event(event) => {
                        let mut keep_going = self.on_event(event);
                        for _ in 0..EVENT_BATCH {
                            if !keep_going {
                                break;
                            }
                            match self.inbox.try_next(&self.handle.shared.mailbox) {
                                Some(event) => keep_going = self.on_event(event),
                                None => break,
                            }
                        }
                        keep_going
                    }
                    Wake::KeepAlive => {
                        let reason = self.overdue();
                        if reason == CloseReason::PacketTimeout {
                            Metrics::count(&self.broker.metrics.packets_timed_out);
                        }
                        self.detach(reason)
                    }
                    Wake::Expired => {
                        Metrics::count(&self.broker.metrics.sessions_expired);
                        false
                    }
                    Wake::WillDue => {
                        self.publish_pending_will();
                        true
                    }
                    Wake::PauseOver => self.on_pause_over(),
                };
                if !keep_going {
                    break;
                }
            }
            self.end();
        }
    }

    /// Waits for the next thing to do. The sources are polled by hand, not
    /// through `select!`, which would hold a future for each in every
    /// session's task (an idle connection's memory is mostly that task)
    /// and arm a new keep alive timer at every wake.
    async fn wait(&mut self) -> Wake {
        self.turn = (self.turn + 1) % SOURCES;
        std::future::poll_fn(|cx| self.poll_wake(cx)).await
    }

    fn poll_wake(&mut self, cx: &mut Context<'_>) -> Poll<Wake> {
        if let Some(awaiting) = self.awaiting.as_mut() {
            if let Poll::Ready(decision) = awaiting.waiting.answer.as_mut().poll(cx) {
                return Poll::Ready(Wake::Decided(decision));
            }
            // Only writes go on meanwhile: the client's next packets and
            // the mailbox wait their turn, and keep alive does not run
            // out on a client that is waiting for the broker.
            return match self.conn {
                Some(_) => self.poll_write(cx),
                None => Poll::Pending,
            };
        }
        if self.conn.is_none() {
            return self.poll_detached(cx);
        }
        for i in 0..SOURCES {
            let ready = match (self.turn + i) % SOURCES {
                0 => self.poll_write(cx),
                1 => self.poll_read(cx),
                2 => self.poll_pause(cx),
                3 => self.poll_event(cx),
                _ => self.poll_keep_alive(cx),
            };
            if ready.is_ready() {
                return ready;
            }
        }
        Poll::Pending
    }

    /// Writes the write buffer; once it is all written, flushes what the
    /// transport may hold back (TLS records, WebSocket frames), which a
    /// client waiting for its last packet would otherwise wait for until
    /// the next write. A flushed plain TCP socket answers at once.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> Poll<Wake> {
        let Some(conn) = self.conn.as_mut() else {
            return Poll::Pending;
        };
        if !conn.write_buf.is_empty() {
            return Pin::new(&mut conn.writer)
                .poll_write(cx, &conn.write_buf)
                .map(Wake::Wrote);
        }
        if conn.unflushed {
            match Pin::new(&mut conn.writer).poll_flush(cx) {
                Poll::Ready(Ok(())) => conn.unflushed = false,
                Poll::Ready(Err(error)) => return Poll::Ready(Wake::Wrote(Err(error))),
                Poll::Pending => {}
            }
        }
        Poll::Pending
    }

    /// While paused the client's bytes wait in the socket.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Wake> {
        match self.conn.as_mut() {
            Some(conn) if self.paused.is_none() => conn.poll_read(cx).map(Wake::Read),
            _ => Poll::Pending,
        }
    }

    fn poll_pause(&mut self, cx: &mut Context<'_>) -> Poll<Wake> {
        match self.paused.as_mut() {
            Some(pause) => pause.poll_wait(cx).map(|()| Wake::PauseOver),
            None => Poll::Pending,
        }
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Wake> {
        self.inbox
            .poll_next(&self.handle.shared.mailbox, cx)
            .map(Wake::Event)
    }

    /// The earlier of the keep alive deadline and the packet timeout of a
    /// packet begun. A paused client is alive and its bytes wait in the
    /// socket: neither applies.
    fn poll_keep_alive(&mut self, cx: &mut Context<'_>) -> Poll<Wake> {
        let timeout = self.broker.config.mqtt.packet_timeout;
        let deadline = match (&self.conn, &self.paused) {
            (Some(conn), None) => conn
                .keep_alive_deadline()
                .into_iter()
                .chain(conn.packet_deadline(timeout))
                .min(),
            _ => None,
        };
        self.timer
            .poll_until(cx, deadline)
            .map(|()| Wake::KeepAlive)
    }

    /// Which deadline ran out: a packet left unfinished, or keep alive.
    fn overdue(&self) -> CloseReason {
        let timeout = self.broker.config.mqtt.packet_timeout;
        let unfinished = self
            .conn
            .as_ref()
            .and_then(|conn| conn.packet_deadline(timeout))
            .is_some_and(|at| at <= Instant::now());
        if unfinished {
            CloseReason::PacketTimeout
        } else {
            CloseReason::KeepAliveTimeout
        }
    }

    /// Without a connection: the mailbox, expiry and a delayed will.
    fn poll_detached(&mut self, cx: &mut Context<'_>) -> Poll<Wake> {
        if let Poll::Ready(wake) = self.poll_event(cx) {
            return Poll::Ready(wake);
        }
        let expires_at = (self.expiry != u32::MAX)
            .then(|| self.detached_at + Duration::from_secs(u64::from(self.expiry)));
        let will_at = self.pending_will.as_ref().map(|w| w.at);
        let next = expires_at.into_iter().chain(will_at).min();
        std::task::ready!(self.timer.poll_until(cx, next));
        if will_at.is_some_and(|at| at <= Instant::now()) {
            Poll::Ready(Wake::WillDue)
        } else {
            Poll::Ready(Wake::Expired)
        }
    }

    fn on_read(&mut self, result: std::io::Result<usize>) -> bool {
        match result {
            Err(error) if PacketTimedOut::is(&error) => {
                Metrics::count(&self.broker.metrics.packets_timed_out);
                self.detach(CloseReason::PacketTimeout)
            }
            Ok(0) | Err(_) => self.detach(CloseReason::Lost),
            Ok(read) => {
                let local = self.broker.metrics.local();
                local.add(&local.counters.bytes_read, read as u64);
                if let Some(conn) = self.conn.as_mut() {
                    conn.after_read(read);
                }
                match self.decode_and_handle() {
                    Ok(()) => {
                        self.pump();
                        true
                    }
                    Err(reason) => self.detach(reason),
                }
            }
        }
    }

    /// A congested subscriber drained, made progress, or made none for too
    /// long: go on reading, or wait some more.
    fn on_pause_over(&mut self) -> bool {
        let Some(pause) = self.paused.as_mut() else {
            return true;
        };
        if let AfterPause::Wait = pause.check() {
            return true;
        }
        self.paused = None;
        if let Some(conn) = self.conn.as_mut() {
            conn.last_packet = Instant::now();
        }
        // Packets read before the pause are still in the buffer.
        match self.decode_and_handle() {
            Ok(()) => {
                self.pump();
                true
            }
            Err(reason) => self.detach(reason),
        }
    }

    fn on_wrote(&mut self, result: std::io::Result<usize>) -> bool {
        match result {
            Ok(0) | Err(_) => self.detach(CloseReason::Lost),
            Ok(written) => {
                let local = self.broker.metrics.local();
                local.add(&local.counters.bytes_written, written as u64);
                if let Some(conn) = self.conn.as_mut() {
                    conn.after_write(written);
                }
                self.progress += 1;
                // Room in the write buffer may let queued messages out.
                self.pump();
                self.publish_pressure();
                true
            }
        }
    }

    fn on_event(&mut self, event: SessionEvent) -> bool {
        match event {
            SessionEvent::Deliver(delivery) => {
                self.handle.shared.pressure.received();
                self.enqueue(delivery);
                self.pump();
                true
            }
            SessionEvent::Attach(attach, reply) => {
                if self.conn.is_some() && self.expiry == 0 {
                    // A session that was to end with its connection (3.x
                    // clean session, 5.0 expiry 0) ends with the takeover,
                    // will and all; the newcomer starts a new session once
                    // this one is unregistered (3.1.2.4, 3.1.2.11.2).
                    self.detach(CloseReason::TakenOver);
                    self.successors.push(Successor::Attach(attach, reply));
                    return false;
                }
                if let Some(old) = self.conn.as_mut() {
                    // The session goes on with a new connection made
                    // before any will delay ran out, so the old will is
                    // never sent (MQTT 5.0 3.1.2.5; Mosquitto agrees, also
                    // for a will without delay and for 3.x).
                    old.will = None;
                    self.detach(CloseReason::TakenOver);
                }
                self.attach(attach, true);
                let _ = reply.send(None);
                true
            }
            SessionEvent::Discard(reply) => {
                self.successors.push(Successor::Discard(reply));
                if self.conn.is_some() {
                    self.expiry = 0;
                    self.detach(CloseReason::TakenOver);
                }
                false
            }
            SessionEvent::Subscribe { filter, qos, reply } => {
                let options = SubscriptionOptions {
                    qos,
                    no_local: false,
                    retain_as_published: false,
                    retain_handling: 0,
                };
                // An order from a plugin or the operator: only the
                // built-in rules apply, as they do to everyone.
                let (broker, client, _) = self.asking();
                let allowed = broker.access.authorize(client, &filter, Access::Subscribe);
                let outcome = match self.subscribe_filter(&filter, options, None, allowed) {
                    Ok(Ok(is_new)) => {
                        self.after_subscribe(&filter, options, None, is_new);
                        self.pump();
                        Ok(is_new)
                    }
                    Ok(Err(code)) => Err(code),
                    // Only a malformed filter; callers check theirs first.
                    Err(_) => Err(mqhost_codec::reason::TOPIC_FILTER_INVALID),
                };
                if let Err(code) = outcome {
                    tracing::warn!(client_id = %escaped(&self.client_id), filter = %escaped(&filter), code = format_args!("{code:#04x}"), "subscription refused");
                }
                if let Some(reply) = reply {
                    let _ = reply.send(outcome);
                }
                true
            }
            SessionEvent::Unsubscribe { filter, reply } => {
                let existed = self.unsubscribe_filter(&filter);
                if existed {
                    self.broker
                        .hooks
                        .session_unsubscribed(&self.client_id, &filter);
                }
                if let Some(reply) = reply {
                    let _ = reply.send(existed);
                }
                true
            }
            SessionEvent::Subscriptions(reply) => {
                let _ = reply.send(self.subscription_views());
                true
            }
            SessionEvent::Disconnect { reason } => {
                if self.conn.is_none() {
                    // The client left before the order arrived.
                    return true;
                }
                self.detach(CloseReason::Kicked { code: reason })
            }
            SessionEvent::Stored => {
                self.on_stored();
                true
            }
            SessionEvent::Take(taker) => {
                if self.conn.is_some() {
                    self.detach(CloseReason::TakenOver);
                }
                self.successors.push(Successor::Take(taker));
                false
            }
            SessionEvent::Shutdown => {
                if self.conn.is_some() {
                    self.detach(CloseReason::Shutdown);
                }
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size_of_output<F: FnOnce(Session, Option<Box<Attach>>) -> R, R>(_: F) -> usize {
        std::mem::size_of::<R>()
    }

    /// An idle connection's memory is mostly its task's future, so the
    /// future must hold the session once, not a copy beside it.
    #[test]
    fn the_task_holds_the_session_once() {
        let session = std::mem::size_of::<Session>();
        let task = size_of_output(Session::run);
        assert!(task < 2 * session, "task {task} bytes, session {session}");
    }
}
