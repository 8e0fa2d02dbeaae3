//! Since when the client's bytes under tungstenite belong to a message not
//! yet whole, for `mqtt.packet_timeout`.
//!
//! tungstenite keeps the frames of a message until its last one, so the
//! session, which times the packets it reads, never sees a message begun
//! and left unfinished. [`Watched`] wraps the socket under tungstenite and
//! follows the frame headers in what tungstenite reads from it: payloads
//! are skipped, not looked at, and what the frames mean (and whether they
//! are valid) stays tungstenite's to say. Noting when bytes arrive is not
//! enough: one read can bring the end of a message and the start of the
//! next, and only the frame boundaries tell a read that ends between
//! messages from one that ends inside one.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// The longest frame header: 2 bytes, 8 of extended length, 4 of mask.
const MAX_HEADER: usize = 14;

/// The socket under tungstenite, and where its bytes stand.
#[derive(Debug)]
pub(super) struct Watched<IO> {
    io: IO,
    frames: Frames,
    partial_since: Option<Instant>,
}

impl<IO> Watched<IO> {
    /// Wraps `io`; `early` are bytes read before (behind the upgrade
    /// request), which tungstenite is given directly.
    pub(super) fn new(io: IO, early: &[u8]) -> Self {
        let mut watched = Watched {
            io,
            frames: Frames::default(),
            partial_since: None,
        };
        watched.note(early);
        watched
    }

    /// When the first bytes of the message not yet whole arrived; `None`
    /// when the bytes read so far make whole messages.
    ///
    /// Like the session's own timing of packets, a message that begins in
    /// the read that ends the one before it counts from that read: a client
    /// that keeps sending is never timed over its whole stream.
    pub(super) fn partial_since(&self) -> Option<Instant> {
        self.partial_since
    }

    fn note(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let ended = self.frames.feed(bytes);
        self.partial_since = if self.frames.between_messages() {
            None
        } else if ended || self.partial_since.is_none() {
            Some(Instant::now())
        } else {
            self.partial_since
        };
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Watched<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
        this.note(&buf.filled()[before..]);
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watched<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// Frame boundaries in a client's byte stream (RFC 6455 section 5.2).
#[derive(Debug, Default)]
struct Frames {
    /// The header of the next frame, as much of it as has come.
    header: [u8; MAX_HEADER],
    header_len: usize,
    /// The first header byte (FIN and opcode) of the frame whose payload
    /// is being skipped.
    first: u8,
    /// Payload bytes of that frame still to come.
    payload_left: u64,
    /// A data frame without FIN came and the message's last frame has not.
    fragmented: bool,
}

impl Frames {
    /// Follows `bytes`; whether a data message ended in them. Control
    /// frames, which may come between the fragments of a message, end
    /// none.
    fn feed(&mut self, mut bytes: &[u8]) -> bool {
        let mut ended = false;
        while !bytes.is_empty() {
            if self.payload_left > 0 {
                let skip = usize::try_from(self.payload_left)
                    .map_or(bytes.len(), |left| left.min(bytes.len()));
                bytes = &bytes[skip..];
                self.payload_left -= skip as u64;
                if self.payload_left == 0 {
                    ended |= self.frame_done();
                }
                continue;
            }
            let wanted = header_len(&self.header[..self.header_len]);
            let take = (wanted - self.header_len).min(bytes.len());
            self.header[self.header_len..self.header_len + take].copy_from_slice(&bytes[..take]);
            self.header_len += take;
            bytes = &bytes[take..];
            // Two bytes tell how long the header is: it may be whole at
            // two, or want more.
            let header = &self.header[..self.header_len];
            if self.header_len == header_len(header) {
                self.first = header[0];
                self.payload_left = payload_len(header);
                self.header_len = 0;
                if self.payload_left == 0 {
                    ended |= self.frame_done();
                }
            }
        }
        ended
    }

    /// A frame is whole; whether it ended a data message.
    fn frame_done(&mut self) -> bool {
        let fin = self.first & 0x80 != 0;
        let control = self.first & 0x08 != 0;
        if control {
            return false;
        }
        self.fragmented = !fin;
        fin
    }

    /// Whether the bytes so far make whole messages: no frame begun, no
    /// message begun.
    fn between_messages(&self) -> bool {
        self.header_len == 0 && self.payload_left == 0 && !self.fragmented
    }
}

/// How long the header beginning with `header` is: 2 until its second
/// byte is in.
fn header_len(header: &[u8]) -> usize {
    let Some(&second) = header.get(1) else {
        return 2;
    };
    let extended = match second & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mask = if second & 0x80 != 0 { 4 } else { 0 };
    2 + extended + mask
}

/// The payload length of a whole header.
fn payload_len(header: &[u8]) -> u64 {
    match header[1] & 0x7F {
        126 => u64::from(u16::from_be_bytes([header[2], header[3]])),
        127 => {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&header[2..10]);
            u64::from_be_bytes(bytes)
        }
        len => u64::from(len),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame: `first` (FIN and opcode), then `payload`.
    fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![first];
        match payload.len() {
            len @ 0..=125 => out.push(0x80 | len as u8),
            len @ 126..=0xFFFF => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            len => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&[1, 2, 3, 4]);
        out.extend_from_slice(payload);
        out
    }

    const BINARY: u8 = 0x02;
    const CONTINUE: u8 = 0x00;
    const PING: u8 = 0x09;
    const FIN: u8 = 0x80;

    /// Feeds `stream` cut into pieces of `piece` bytes; after each, whether
    /// the stream stood between messages.
    fn boundaries(stream: &[u8], piece: usize) -> Vec<bool> {
        let mut frames = Frames::default();
        stream
            .chunks(piece)
            .map(|chunk| {
                frames.feed(chunk);
                frames.between_messages()
            })
            .collect()
    }

    #[test]
    fn whole_messages_cut_anywhere_end_between_messages() {
        let stream = [
            frame(FIN | BINARY, b"hello"),
            frame(FIN | BINARY, &[7; 300]),
            frame(FIN | PING, b""),
            frame(FIN | BINARY, &[8; 70_000]),
            frame(FIN | BINARY, b""),
        ]
        .concat();
        for piece in [1, 2, 3, 7, 14, 1000, stream.len()] {
            let after = boundaries(&stream, piece);
            assert_eq!(after.last(), Some(&true), "piece {piece}");
        }
        // Byte by byte, between messages exactly after each frame.
        let ends: Vec<usize> = boundaries(&stream, 1)
            .iter()
            .enumerate()
            .filter(|(_, &between)| between)
            .map(|(i, _)| i + 1)
            .collect();
        assert_eq!(
            ends,
            [11, 11 + 308, 11 + 308 + 6, stream.len() - 6, stream.len()]
        );
    }

    #[test]
    fn a_fragmented_message_is_partial_until_its_last_frame() {
        let mut frames = Frames::default();
        assert!(!frames.feed(&frame(BINARY, b"abc")));
        assert!(!frames.between_messages());
        // A ping between fragments ends no message.
        assert!(!frames.feed(&frame(FIN | PING, b"?")));
        assert!(!frames.between_messages());
        assert!(!frames.feed(&frame(CONTINUE, b"def")));
        assert!(!frames.between_messages());
        assert!(frames.feed(&frame(FIN | CONTINUE, b"g")));
        assert!(frames.between_messages());
    }

    #[test]
    fn a_read_ending_one_message_and_starting_the_next_is_partial() {
        let mut frames = Frames::default();
        let mut bytes = frame(FIN | BINARY, b"whole");
        bytes.extend_from_slice(&frame(FIN | BINARY, &[0; 1000])[..20]);
        assert!(frames.feed(&bytes));
        assert!(!frames.between_messages());
        // A header alone, announcing a large frame, is partial too.
        let mut frames = Frames::default();
        assert!(!frames.feed(&frame(FIN | BINARY, &[0; 70_000])[..14]));
        assert!(!frames.between_messages());
    }

    #[test]
    fn any_bytes_are_followed_without_panic() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..500 {
            let mut frames = Frames::default();
            for _ in 0..20 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let bytes = seed.to_le_bytes();
                frames.feed(&bytes[..(seed % 9) as usize]);
            }
        }
        // The largest length a header can announce.
        let mut frames = Frames::default();
        frames.feed(&[0x82, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
        frames.feed(&[0; 100]);
        assert!(!frames.between_messages());
    }

    #[tokio::test]
    async fn watched_reads_time_the_message_left_open() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let whole = frame(FIN | BINARY, b"ok");
        let open = frame(BINARY, b"open");
        let early = [whole.clone(), open[..3].to_vec()].concat();
        let (mut client, server) = tokio::io::duplex(64);
        let mut watched = Watched::new(server, &early);
        let since = watched
            .partial_since()
            .expect("partial from the early bytes");
        // The rest of the first fragment: still the same message.
        client.write_all(&open[3..]).await.unwrap();
        let mut buf = [0u8; 64];
        watched
            .read_exact(&mut buf[..open.len() - 3])
            .await
            .unwrap();
        assert_eq!(watched.partial_since(), Some(since));
        // Its last fragment: whole.
        let last = frame(FIN | CONTINUE, b"!");
        client.write_all(&last).await.unwrap();
        watched.read_exact(&mut buf[..last.len()]).await.unwrap();
        assert_eq!(watched.partial_since(), None);
        assert_eq!(Watched::new((), &whole).partial_since(), None);
    }
}
