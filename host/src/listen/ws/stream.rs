//! MQTT bytes over WebSocket binary messages, as the byte stream a
//! session reads and writes.
//!
//! MQTT does not align its packets with WebSocket frames or messages
//! (MQTT-6.0.0-2): reads yield the payloads of binary messages one after
//! the other, and each write goes out as one binary message. Frames,
//! masking, fragmentation, pings and the closing handshake are
//! tungstenite's; this is only the adapter between its message stream and
//! sink and `AsyncRead`/`AsyncWrite`.
//!
//! One thing tungstenite cannot do is time a message: it keeps a message's
//! bytes until the message is whole, where the session cannot see them.
//! `mqtt.packet_timeout` applies to them here (see [`super::partial`]).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use futures_util::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;
use tokio_tungstenite::tungstenite::error::Error as WsError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::partial::Watched;
use crate::broker::connection::PacketTimedOut;

/// Bytes one write puts in one message at most: a larger write is taken
/// in parts (a short write). tungstenite keeps its write buffer at the
/// largest frame it has sent, for as long as the connection lasts, so this
/// is also what a connection that was once busy holds for writing. MQTT
/// packets may be split anywhere.
pub const WRITE_CHUNK: usize = 16 * 1024;
/// tungstenite's read buffer, held by every connection from the start: a
/// busy client's reads fill it, an idle one's memory is mostly this.
const READ_BUFFER: usize = 8 * 1024;
/// Control messages (pings, pongs) handled in one read before it yields:
/// a client that sends nothing else cannot keep the task busy.
const CONTROL_PER_READ: usize = 64;

/// A WebSocket connection carrying MQTT; see the module documentation.
pub struct MqttOverWs<IO> {
    ws: WebSocketStream<Watched<IO>>,
    /// What is left of the binary message being read.
    message: Bytes,
    /// How reading ended, if it did.
    read_end: Option<ReadEnd>,
    /// A message was given to tungstenite and may not have reached the
    /// socket yet.
    unflushed: bool,
    /// The close frame to send when the stream is shut down, once a read
    /// failed and it could not be sent at once.
    close_code: Option<CloseCode>,
    /// A close frame has been handed to tungstenite.
    close_sent: bool,
    /// The subprotocol agreed in the handshake.
    subprotocol: &'static str,
    /// `mqtt.packet_timeout`: how long a message may take once begun.
    packet_timeout: Duration,
    /// Runs while a message is begun and not whole; boxed and only then,
    /// as an idle connection should hold little.
    packet_timer: Option<Pin<Box<Sleep>>>,
}

impl<IO> std::fmt::Debug for MqttOverWs<IO> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttOverWs")
            .field("subprotocol", &self.subprotocol)
            .field("read_end", &self.read_end)
            .field("unread", &self.message.len())
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, Debug)]
enum ReadEnd {
    /// The client closed (close frame or end of stream): reads return 0.
    Eof,
    /// The client broke the protocol: reads fail. Reading on after an
    /// error could make tungstenite read a frame whose size it refused.
    Failed(io::ErrorKind),
    /// A message was not whole within `mqtt.packet_timeout`: reads fail
    /// with [`PacketTimedOut`].
    TimedOut,
}

impl ReadEnd {
    fn error(self) -> Option<io::Error> {
        match self {
            ReadEnd::Eof => None,
            ReadEnd::Failed(kind) => Some(io::Error::new(kind, "WebSocket protocol error")),
            ReadEnd::TimedOut => Some(PacketTimedOut.into()),
        }
    }
}

impl<IO> MqttOverWs<IO>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    /// Wraps `io` after a completed handshake; `early` holds bytes the
    /// client sent after its request, before our answer.
    pub(super) async fn new(
        io: IO,
        early: Vec<u8>,
        subprotocol: &'static str,
        max_message: usize,
        packet_timeout: Duration,
    ) -> Self {
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER)
            // Each message goes to the socket as it is sent: the session
            // writes whole batches of packets, and does not flush.
            .write_buffer_size(0)
            // One message, a pong and a close frame: `poll_write` waits for
            // the previous message to be written before it takes another.
            .max_write_buffer_size(WRITE_CHUNK + 1024)
            .max_message_size(Some(max_message))
            .max_frame_size(Some(max_message));
        let io = Watched::new(io, &early);
        let ws = if early.is_empty() {
            WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await
        } else {
            WebSocketStream::from_partially_read(io, early, Role::Server, Some(config)).await
        };
        MqttOverWs {
            ws,
            message: Bytes::new(),
            read_end: None,
            unflushed: false,
            close_code: None,
            close_sent: false,
            subprotocol,
            packet_timeout,
            packet_timer: None,
        }
    }

    /// The subprotocol agreed in the handshake: `mqtt` or `mqttv3.1`.
    pub fn subprotocol(&self) -> &'static str {
        self.subprotocol
    }

    /// Writes out what an earlier write left in tungstenite's buffer.
    /// Called from reads too: the session writes and reads but does not
    /// flush, and the tail of its last write would otherwise wait there
    /// for its next one.
    fn poll_unflushed(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.unflushed {
            ready!(Pin::new(&mut self.ws).poll_flush(cx)).map_err(write_error)?;
            self.unflushed = false;
        }
        Poll::Ready(Ok(()))
    }

    /// Reading ends for `end` (the client broke the protocol, or took too
    /// long): tells the client why with a close frame, now if the socket
    /// takes it, else when the stream is shut down.
    fn fail(&mut self, cx: &mut Context<'_>, code: CloseCode, end: ReadEnd) {
        self.read_end = Some(end);
        self.close_code = Some(code);
        let mut ws = Pin::new(&mut self.ws);
        if let Poll::Ready(Ok(())) = ws.as_mut().poll_ready(cx) {
            let _ = ws.as_mut().start_send(close_message(code));
            self.close_sent = true;
            self.unflushed = true;
            let _ = self.poll_unflushed(cx);
        }
    }

    /// Whether a message begun has not been whole for too long; if so,
    /// reading fails from now on.
    fn timed_out(&mut self, cx: &mut Context<'_>) -> bool {
        if self.poll_packet_timer(cx).is_pending() {
            return false;
        }
        self.packet_timer = None;
        self.fail(cx, CloseCode::Policy, ReadEnd::TimedOut);
        true
    }

    /// Ready once a message begun has not been whole for
    /// `mqtt.packet_timeout`. The timer goes once no message is begun.
    ///
    /// A message that begins as the one before it ends leaves the timer as
    /// it was, earlier than it should be: reset at every read, it would
    /// cost a busy client a timer update a read. When it goes off early it
    /// is set again for the message now begun; since that one began later,
    /// the timer is never late.
    fn poll_packet_timer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(since) = self.ws.get_ref().partial_since() else {
            self.packet_timer = None;
            return Poll::Pending;
        };
        let deadline = since + self.packet_timeout;
        let timer = self
            .packet_timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        loop {
            ready!(timer.as_mut().poll(cx));
            if timer.deadline() >= deadline {
                return Poll::Ready(());
            }
            timer.as_mut().reset(deadline);
        }
    }
}

impl<IO> AsyncRead for MqttOverWs<IO>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        // A failed flush shows on the next write; here it only must not
        // keep the read from going on.
        let _ = this.poll_unflushed(cx);
        let mut control = 0;
        loop {
            if !this.message.is_empty() {
                let n = this.message.len().min(buf.remaining());
                buf.put_slice(&this.message[..n]);
                this.message.advance(n);
                return Poll::Ready(Ok(()));
            }
            if let Some(end) = this.read_end {
                return Poll::Ready(end.error().map_or(Ok(()), Err));
            }
            if control == CONTROL_PER_READ {
                // Control frames may come between the fragments of a
                // message: a client sending them without pause must not
                // keep its message from being timed.
                if this.timed_out(cx) {
                    continue;
                }
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let next = match Pin::new(&mut this.ws).poll_next(cx) {
                Poll::Ready(next) => next,
                Poll::Pending if this.timed_out(cx) => continue,
                Poll::Pending => return Poll::Pending,
            };
            match next {
                Some(Ok(Message::Binary(payload))) => {
                    // Empty messages count with control ones: they take
                    // a turn and bring nothing.
                    control += usize::from(payload.is_empty());
                    this.message = payload;
                }
                // tungstenite has queued the pong; it goes out with the
                // next read or write.
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => control += 1,
                // The client's close: its answer goes out when the stream
                // is shut down, as the session does on end of stream.
                Some(Ok(Message::Close(_))) | None => this.read_end = Some(ReadEnd::Eof),
                // MQTT-6.0.0-1: anything but binary data closes the
                // connection.
                Some(Ok(Message::Text(_) | Message::Frame(_))) => this.fail(
                    cx,
                    CloseCode::Unsupported,
                    ReadEnd::Failed(io::ErrorKind::InvalidData),
                ),
                Some(Err(error)) => match close_code_for(&error) {
                    Some(code) => this.fail(cx, code, ReadEnd::Failed(io::ErrorKind::InvalidData)),
                    None => {
                        let error = read_error(error);
                        this.read_end = Some(ReadEnd::Failed(error.kind()));
                        return Poll::Ready(Err(error));
                    }
                },
            }
        }
    }
}

impl<IO> AsyncWrite for MqttOverWs<IO>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    /// Takes up to [`WRITE_CHUNK`] bytes as one binary message once
    /// tungstenite accepts it, which is once the previous message is out.
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let mut ws = Pin::new(&mut this.ws);
        ready!(ws.as_mut().poll_ready(cx)).map_err(write_error)?;
        let n = buf.len().min(WRITE_CHUNK);
        ws.as_mut()
            .start_send(Message::Binary(Bytes::copy_from_slice(&buf[..n])))
            .map_err(write_error)?;
        this.unflushed = true;
        // The message is ours now whatever the flush says: a pending flush
        // has the task woken when the socket takes more, and an error
        // shows on the next call.
        let _ = this.poll_unflushed(cx);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(Pin::new(&mut this.ws).poll_flush(cx)).map_err(write_error)?;
        this.unflushed = false;
        Poll::Ready(Ok(()))
    }

    /// Sends a close frame (1000, or the code of the client's protocol
    /// error), answers a close from the client, then ends the TCP stream:
    /// the server closes first (RFC 6455 section 7.1.1).
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let mut ws = Pin::new(&mut this.ws);
        if !this.close_sent {
            let code = this.close_code.unwrap_or(CloseCode::Normal);
            let sent = match ready!(ws.as_mut().poll_ready(cx)) {
                Ok(()) => ws.as_mut().start_send(close_message(code)),
                Err(error) => Err(error),
            };
            match sent {
                // Closed already, by the client or by an error: what is
                // left is to flush the answer.
                Ok(())
                | Err(WsError::ConnectionClosed | WsError::AlreadyClosed)
                | Err(WsError::Protocol(_)) => {}
                Err(error) => return Poll::Ready(Err(write_error(error))),
            }
            this.close_sent = true;
        }
        match ready!(ws.as_mut().poll_close(cx)) {
            Ok(()) | Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => {}
            Err(error) => return Poll::Ready(Err(write_error(error))),
        }
        this.unflushed = false;
        Pin::new(this.ws.get_mut()).poll_shutdown(cx)
    }
}

fn close_message(code: CloseCode) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: match code {
            CloseCode::Unsupported => "MQTT is carried in binary messages".into(),
            CloseCode::Size => "message too large".into(),
            CloseCode::Policy => "message not whole within the packet timeout".into(),
            _ => "".into(),
        },
    }))
}

/// The close code that tells the client what it did wrong, for the errors
/// that are the client's (RFC 6455 section 7.4.1); `None` for the others.
fn close_code_for(error: &WsError) -> Option<CloseCode> {
    match error {
        WsError::Capacity(_) => Some(CloseCode::Size),
        WsError::Protocol(_) => Some(CloseCode::Protocol),
        WsError::Utf8(_) => Some(CloseCode::Invalid),
        _ => None,
    }
}

fn read_error(error: WsError) -> io::Error {
    match error {
        WsError::Io(error) => error,
        WsError::ConnectionClosed | WsError::AlreadyClosed => io::ErrorKind::UnexpectedEof.into(),
        other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
    }
}

fn write_error(error: WsError) -> io::Error {
    match error {
        WsError::Io(error) => error,
        WsError::ConnectionClosed | WsError::AlreadyClosed => io::ErrorKind::BrokenPipe.into(),
        WsError::Protocol(_) => io::Error::new(io::ErrorKind::BrokenPipe, error.to_string()),
        other => io::Error::other(other.to_string()),
    }
}
