//! One client's network connection as a session holds it: the socket
//! halves, their buffers, and what was agreed at CONNECT.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use mqhost_codec::{encode, Disconnect, DisconnectProperties, LastWill, Packet, ProtocolVersion};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use crate::escape::escaped;
use crate::hooks::ClientInfo;

/// The read half of a client's stream (TCP, TLS, WebSocket).
pub type Reader = Box<dyn AsyncRead + Send + Unpin>;
/// The write half of a client's stream.
pub type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// How long a closing connection may take to flush its last bytes and
/// see the client close its side.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Room for the next read of an idle connection: most of what an idle
/// connection holds.
pub const READ_MIN: usize = 512;
/// Room for the next read of a busy publisher: one system call brings
/// hundreds of small packets.
pub const READ_MAX: usize = 64 * 1024;
/// A write buffer that grew past this is given back once written out, so
/// a subscriber that had a burst does not hold its peak for ever.
const WRITE_KEEP: usize = 64 * 1024;

/// Why a read fails when the transport holds back bytes of a packet begun
/// (a WebSocket message not yet whole, which the session never sees) and
/// they did not come whole within `mqtt.packet_timeout`. The session closes
/// the connection for it as for a packet it holds unfinished itself.
#[derive(Debug, Clone, Copy)]
pub struct PacketTimedOut;

impl PacketTimedOut {
    /// Whether a read failed for this reason. (Its kind alone does not
    /// tell: the socket's own read errors may be `TimedOut` too.)
    pub fn is(error: &std::io::Error) -> bool {
        error
            .get_ref()
            .is_some_and(|inner| inner.is::<PacketTimedOut>())
    }
}

impl std::fmt::Display for PacketTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("packet not whole within mqtt.packet_timeout")
    }
}

impl std::error::Error for PacketTimedOut {}

impl From<PacketTimedOut> for std::io::Error {
    fn from(timed_out: PacketTimedOut) -> Self {
        std::io::Error::new(std::io::ErrorKind::TimedOut, timed_out)
    }
}

/// A connected client.
pub struct Connection {
    pub reader: Reader,
    pub writer: Writer,
    /// Bytes read and not yet decoded.
    pub read_buf: BytesMut,
    /// Room the next read gets: doubles after a read that filled it,
    /// halves after a small one, between [`READ_MIN`] and [`READ_MAX`].
    pub read_size: usize,
    /// Encoded packets not yet written.
    pub write_buf: BytesMut,
    /// Bytes were written since the last flush.
    pub unflushed: bool,
    /// Who the client is, for hooks, logs and the admin API (shared with
    /// the session's handle, which shows it to the API).
    pub info: Arc<ClientInfo>,
    /// Keep alive in force, in seconds (0: none).
    pub keep_alive: u16,
    /// When the last packet arrived, for keep alive.
    pub last_packet: Instant,
    /// When the first bytes of a packet not yet whole arrived, for
    /// `mqtt.packet_timeout`; `None` while the read buffer holds no part
    /// of a packet.
    pub partial_since: Option<Instant>,
    /// The client's Receive Maximum: most QoS 1/2 messages in flight to it.
    pub receive_maximum: u16,
    /// Largest packet the client accepts.
    pub max_packet_size: u32,
    /// Topic aliases the client accepts from us.
    pub topic_alias_maximum: u16,
    /// Aliases the client set for its publishes.
    pub inbound_aliases: HashMap<u16, Arc<str>>,
    /// The topic of the client's last PUBLISH without an alias: a client
    /// mostly publishes to the same few topics, and the next message to
    /// this one shares it instead of allocating it anew.
    pub last_topic: Option<Arc<str>>,
    /// Aliases we set for our publishes to it.
    pub outbound_aliases: HashMap<Arc<str>, u16>,
    /// Will message, removed by a normal DISCONNECT (boxed: most
    /// connections have none, and every byte here is held per connection).
    pub will: Option<Box<LastWill>>,
}

impl Connection {
    /// Protocol version agreed at CONNECT.
    pub fn version(&self) -> ProtocolVersion {
        self.info.protocol
    }

    /// Reads what the client sent. An idle connection holds no read
    /// buffer: while the last read was small and all of it was decoded,
    /// the next lands on the stack first and is copied.
    pub fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        if self.read_buf.is_empty() && self.read_size == READ_MIN {
            let mut room = [0u8; READ_MIN];
            let mut buf = ReadBuf::new(&mut room);
            ready!(Pin::new(&mut self.reader).poll_read(cx, &mut buf))?;
            self.read_buf.extend_from_slice(buf.filled());
            return Poll::Ready(Ok(buf.filled().len()));
        }
        if self.read_buf.capacity() - self.read_buf.len() < self.read_size {
            self.read_buf.reserve(self.read_size);
        }
        let read = self.reader.read_buf(&mut self.read_buf);
        std::pin::pin!(read).poll(cx)
    }

    /// Sizes the next read after one that brought `read` bytes.
    pub fn after_read(&mut self, read: usize) {
        if read >= self.read_size {
            self.read_size = (self.read_size * 2).min(READ_MAX);
        } else if read < self.read_size / 4 {
            self.read_size = (self.read_size / 2).max(READ_MIN);
        }
    }

    /// After decoding stopped for want of bytes (`decoded`: whether it
    /// decoded packets first). What is left in the read buffer is the
    /// start of a packet: it began arriving now if packets were decoded
    /// before it, and when it was first seen otherwise.
    ///
    /// An emptied read buffer much larger than the next read needs is
    /// given back (payloads still routed keep their part of it alive), and
    /// a quiet connection's whole buffer, since its next read lands on the
    /// stack (see [`Connection::poll_read`]).
    pub fn after_decode(&mut self, decoded: bool) {
        self.partial_since = match (self.read_buf.is_empty(), self.partial_since) {
            (true, _) => None,
            (false, Some(since)) if !decoded => Some(since),
            (false, _) => Some(Instant::now()),
        };
        let idle = self.read_size == READ_MIN;
        if self.read_buf.is_empty() && (idle || self.read_buf.capacity() > 2 * self.read_size) {
            self.read_buf = BytesMut::new();
        }
    }

    /// `written` bytes of the write buffer went out.
    pub fn after_write(&mut self, written: usize) {
        self.write_buf.advance(written);
        self.unflushed = true;
        if self.write_buf.is_empty() && self.write_buf.capacity() > WRITE_KEEP {
            self.write_buf = BytesMut::new();
        }
    }

    /// Encodes `packet` onto the write buffer. A packet the codec refuses
    /// is a broker bug, not the client's: it is logged and skipped.
    pub fn send(&mut self, packet: &Packet) {
        if let Err(error) = encode(packet, self.info.protocol, &mut self.write_buf) {
            tracing::error!(client_id = %escaped(&self.info.client_id), ?error, "could not encode packet");
        }
    }

    /// When the client must have sent something by: 1.5 times its keep alive.
    pub fn keep_alive_deadline(&self) -> Option<Instant> {
        (self.keep_alive > 0)
            .then(|| self.last_packet + Duration::from_millis(u64::from(self.keep_alive) * 1500))
    }

    /// When the packet the client began must be whole by: `timeout` after
    /// its first bytes, whatever the keep alive.
    pub fn packet_deadline(&self, timeout: Duration) -> Option<Instant> {
        self.partial_since.map(|since| since + timeout)
    }

    /// Writes what is buffered, plus a DISCONNECT with `reason` for a 5.0
    /// client, then closes the socket. Runs on its own task so that a
    /// client that stopped reading cannot hold up its session. Says how
    /// long the DISCONNECT is (0: none sent), and how many bytes are left
    /// to write, it included.
    pub fn close(mut self, reason: Option<u8>) -> (usize, usize) {
        let before = self.write_buf.len();
        if let (Some(reason), true) = (reason, self.info.protocol.is_v5()) {
            self.send(&Packet::Disconnect(Disconnect {
                reason,
                properties: DisconnectProperties::default(),
            }));
        }
        let disconnect = self.write_buf.len() - before;
        let left = self.write_buf.len();
        tokio::spawn(async move {
            let close = async {
                self.writer.write_all(&self.write_buf).await?;
                self.writer.shutdown().await?;
                // Lingering close: a client may still be sending (PUBRELs
                // for the PUBRECs it has not read yet). Reading until it
                // closes keeps the kernel from answering with a reset that
                // would destroy our last packets in the client's buffer.
                // A small sink: it lives in this task's future, and a
                // broker restart closes every connection at once.
                let mut sink = [0u8; 256];
                while self.reader.read(&mut sink).await? > 0 {}
                Ok::<(), std::io::Error>(())
            };
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, close).await;
        });
        (disconnect, left)
    }

    /// The peer's address.
    pub fn peer(&self) -> SocketAddr {
        self.info.peer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::listeners::ListenerSpec;

    fn connection() -> Connection {
        Connection {
            reader: Box::new(tokio::io::empty()),
            writer: Box::new(tokio::io::sink()),
            read_buf: BytesMut::new(),
            read_size: READ_MIN,
            write_buf: BytesMut::new(),
            unflushed: false,
            info: Arc::new(ClientInfo {
                client_id: Arc::from("c"),
                username: None,
                peer: "127.0.0.1:1".parse().unwrap(),
                listener: Arc::new(ListenerSpec::tcp_default("127.0.0.1:1883".parse().unwrap())),
                protocol: ProtocolVersion::V3_1_1,
                clean_start: true,
                keep_alive: 0,
                connected_at: 0,
            }),
            keep_alive: 0,
            last_packet: Instant::now(),
            partial_since: None,
            receive_maximum: u16::MAX,
            max_packet_size: u32::MAX,
            topic_alias_maximum: 0,
            inbound_aliases: HashMap::new(),
            last_topic: None,
            outbound_aliases: HashMap::new(),
            will: None,
        }
    }

    #[test]
    fn a_packet_begun_has_a_deadline_until_it_is_whole() {
        let timeout = Duration::from_secs(30);
        let mut conn = connection();
        conn.after_decode(false);
        assert_eq!(conn.packet_deadline(timeout), None);

        // The first bytes of a packet: its deadline starts.
        conn.read_buf.extend_from_slice(&[0x30, 0x10]);
        conn.after_decode(false);
        let first = conn.packet_deadline(timeout).expect("deadline");
        // More bytes of the same packet do not move it.
        conn.read_buf.extend_from_slice(&[0, 1]);
        conn.after_decode(false);
        assert_eq!(conn.packet_deadline(timeout), Some(first));

        // A packet decoded, and the next one begun: a new deadline.
        conn.after_decode(true);
        assert!(conn.packet_deadline(timeout).is_some_and(|at| at >= first));
        // Nothing left over: none.
        conn.read_buf.clear();
        conn.after_decode(true);
        assert_eq!(conn.packet_deadline(timeout), None);
    }
}
