//! A lean MQTT 3.1.1 client over `mqhost-codec`: the handshakes (CONNECT,
//! SUBSCRIBE) as plain request and answer, then a [`drive`] loop that keeps
//! a connection's reads and writes going at once while a [`Role`] decides
//! what to send and checks what arrives.
//!
//! The loop batches: a role fills the write buffer with as many packets as
//! it may, and every read takes whatever the socket holds (up to 256 KiB),
//! so the generator spends few system calls per message and stays out of
//! the way of the broker it measures. The connection is TCP, TLS or
//! WebSocket ([`crate::transport`]); over TLS a write batch is encrypted
//! as a few records, over WebSocket it is one binary message.

use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use mqhost_codec::{
    decode, encode, Connect, ConnectProperties, Packet, ProtocolVersion, QoS, Subscribe,
    SubscribeProperties, SubscriptionOptions,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

use crate::transport::{Endpoint, Stream};

/// Every client speaks 3.1.1: both brokers know it equally well, and it has
/// no properties to encode or skip.
pub const VERSION: ProtocolVersion = ProtocolVersion::V3_1_1;

/// Largest packet accepted from a broker.
const MAX_PACKET: u32 = 1 << 20;
/// Read buffer growth: a read asks for at least this much room.
const READ_CHUNK: usize = 256 * 1024;
/// A role stops filling the write buffer at this size and lets it drain.
pub const WRITE_BATCH: usize = 64 * 1024;

/// A failed run: what went wrong, in one sentence.
pub type Error = String;

/// The error of a read that found the connection closed.
const CLOSED: &str = "broker closed the connection";

/// What a client's CONNECT asks of its session (3.1.1's Clean Session).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Session {
    /// A new session, gone when the connection closes.
    Clean,
    /// The session the broker keeps for this client id, or a new one that
    /// the broker keeps after the connection closes.
    Persistent,
}

/// One connection with its buffers.
pub struct Conn {
    pub stream: Stream,
    rbuf: BytesMut,
    wbuf: BytesMut,
}

/// A user name and password, sent in every CONNECT of a load that has one.
#[derive(Debug, Clone)]
pub struct Login {
    pub username: String,
    pub password: String,
    /// Each client its own user: client `i` sends `{username}{i}`.
    pub numbered: bool,
}

impl Login {
    /// What client `i` of a load sends.
    pub fn for_client(&self, i: usize) -> Login {
        let mut login = self.clone();
        if self.numbered {
            login.username = format!("{}{i}", self.username);
        }
        login
    }
}

impl Conn {
    /// Opens a connection to `endpoint` and completes CONNECT/CONNACK with
    /// a clean session, the given keep alive and `login`; a refused CONNECT
    /// is an error, so that a load never measures refusals.
    pub async fn connect(
        endpoint: &Endpoint,
        client_id: &str,
        keep_alive: u16,
        login: Option<&Login>,
    ) -> Result<Conn, Error> {
        Conn::connect_session(endpoint, client_id, keep_alive, login, Session::Clean)
            .await
            .map(|(conn, _)| conn)
    }

    /// As [`connect`](Self::connect), with a clean or a persistent
    /// session; also whether the broker had the session (Session Present).
    pub async fn connect_session(
        endpoint: &Endpoint,
        client_id: &str,
        keep_alive: u16,
        login: Option<&Login>,
        session: Session,
    ) -> Result<(Conn, bool), Error> {
        match Conn::handshake(endpoint, client_id, keep_alive, login, session).await? {
            (conn, 0, present) => Ok((conn, present)),
            (_, code, _) => Err(format!(
                "{client_id}: CONNACK refused with code {code:#04x}"
            )),
        }
    }

    /// Fails unless the broker refuses a CONNECT with `login`: proof that
    /// it checks passwords before a load counts on it.
    pub async fn expect_refused(endpoint: &Endpoint, login: &Login) -> Result<(), Error> {
        match Conn::handshake(endpoint, "bench-refused", 60, Some(login), Session::Clean).await {
            Ok((_, 0, _)) => Err(format!(
                "the broker accepted user {:?} with a wrong password: access control is not in force",
                login.username
            )),
            Ok(_) => Ok(()),
            // Refused by closing at once, as a 3.1.1 broker may.
            Err(e) if e == CLOSED => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// CONNECT, then the CONNACK's return code (0: accepted) and Session
    /// Present.
    async fn handshake(
        endpoint: &Endpoint,
        client_id: &str,
        keep_alive: u16,
        login: Option<&Login>,
        session: Session,
    ) -> Result<(Conn, u8, bool), Error> {
        let stream = endpoint.open().await?;
        let mut conn = Conn {
            stream,
            rbuf: BytesMut::with_capacity(256),
            wbuf: BytesMut::with_capacity(256),
        };
        let connect = Connect {
            protocol: VERSION,
            clean_start: session == Session::Clean,
            keep_alive,
            client_id: client_id.to_owned(),
            will: None,
            username: login.map(|l| l.username.clone()),
            password: login.map(|l| Bytes::copy_from_slice(l.password.as_bytes())),
            properties: ConnectProperties::default(),
        };
        conn.send(&Packet::Connect(Box::new(connect))).await?;
        match conn.recv().await? {
            Packet::ConnAck(ack) => Ok((conn, ack.reason, ack.session_present)),
            other => Err(format!(
                "{client_id}: expected CONNACK, got {}",
                other.name()
            )),
        }
    }

    /// Subscribes to `filters` at `qos` and waits for a SUBACK granting all.
    pub async fn subscribe(&mut self, filters: &[String], qos: QoS) -> Result<(), Error> {
        let options = SubscriptionOptions {
            qos,
            no_local: false,
            retain_as_published: false,
            retain_handling: 0,
        };
        let subscribe = Subscribe {
            packet_id: 1,
            filters: filters.iter().map(|f| (f.clone(), options)).collect(),
            properties: SubscribeProperties::default(),
        };
        self.send(&Packet::Subscribe(subscribe)).await?;
        match self.recv().await? {
            Packet::SubAck(ack) if ack.reasons.iter().all(|&r| r == qos as u8) => Ok(()),
            Packet::SubAck(ack) => Err(format!("SUBACK {:?} for {filters:?}", ack.reasons)),
            other => Err(format!("expected SUBACK, got {}", other.name())),
        }
    }

    pub async fn send(&mut self, packet: &Packet) -> Result<(), Error> {
        self.wbuf.clear();
        encode(packet, VERSION, &mut self.wbuf).map_err(|e| format!("encode: {e:?}"))?;
        self.stream
            .write_all(&self.wbuf)
            .await
            .map_err(|e| format!("write: {e}"))?;
        // TLS and WebSocket hold what was written until flushed.
        self.stream
            .flush()
            .await
            .map_err(|e| format!("write: {e}"))?;
        self.wbuf.clear();
        Ok(())
    }

    pub async fn recv(&mut self) -> Result<Packet, Error> {
        loop {
            if let Some(packet) = decode(&mut self.rbuf, Some(VERSION), MAX_PACKET)
                .map_err(|e| format!("malformed packet from broker: {e}"))?
            {
                return Ok(packet);
            }
            self.rbuf.reserve(1024);
            match self.stream.read_buf(&mut self.rbuf).await {
                Ok(0) => return Err(CLOSED.to_owned()),
                Ok(_) => {}
                Err(e) => return Err(format!("read: {e}")),
            }
        }
    }
}

/// What one end of a load does on its connection.
pub trait Role {
    /// Appends what may be sent now to `wbuf` (stopping near
    /// [`WRITE_BATCH`]).
    fn fill(&mut self, wbuf: &mut BytesMut);
    /// Handles one packet from the broker; `now` is when the read that
    /// brought it returned. May append answers to `wbuf`.
    fn on_packet(&mut self, packet: Packet, now: Instant, wbuf: &mut BytesMut)
        -> Result<(), Error>;
    /// Whether the role has nothing left to send or wait for.
    fn done(&self) -> bool;
    /// When [`fill`](Self::fill) will have more to send although nothing
    /// arrived (a paced publisher); None when only the broker's packets
    /// open the window.
    fn next_fill_at(&self) -> Option<Instant> {
        None
    }
}

/// Runs `role` on `conn` until it is done or `stop` turns true, reading
/// and writing at once so that neither side of the connection waits for
/// the other.
pub async fn drive<R: Role>(
    conn: Conn,
    role: &mut R,
    stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    let Conn {
        mut stream,
        rbuf,
        wbuf,
    } = conn;
    match &mut stream {
        // TCP's halves borrow the socket, with no lock between them.
        Stream::Tcp(tcp) => {
            let (reader, writer) = tcp.split();
            drive_halves(reader, writer, false, rbuf, wbuf, role, stop).await
        }
        _ => {
            let (reader, writer) = tokio::io::split(stream);
            drive_halves(reader, writer, true, rbuf, wbuf, role, stop).await
        }
    }
}

/// [`drive`] on the connection's halves; `flushes`: whether the writer
/// holds what it was given until flushed (TLS, WebSocket).
async fn drive_halves<R: Role>(
    mut reader: impl AsyncRead + Unpin,
    mut writer: impl AsyncWrite + Unpin,
    flushes: bool,
    mut rbuf: BytesMut,
    mut wbuf: BytesMut,
    role: &mut R,
    mut stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    enum Wake {
        /// Some bytes written, or None: flushed.
        Wrote(std::io::Result<Option<usize>>),
        Read(std::io::Result<usize>),
        Tick,
        Stop,
    }
    // Written since the last flush, on a writer that needs flushing.
    let mut unflushed = false;
    loop {
        if wbuf.len() < WRITE_BATCH {
            role.fill(&mut wbuf);
        }
        if role.done() && wbuf.is_empty() && !unflushed {
            return Ok(());
        }
        if rbuf.capacity() - rbuf.len() < READ_CHUNK / 4 {
            rbuf.reserve(READ_CHUNK);
        }
        let tick = role.next_fill_at();
        let wake = tokio::select! {
            biased;
            result = reader.read_buf(&mut rbuf) => Wake::Read(result),
            result = write_or_flush(&mut writer, &wbuf), if !wbuf.is_empty() || unflushed => {
                Wake::Wrote(result)
            }
            _ = sleep_until_opt(tick), if tick.is_some() => Wake::Tick,
            _ = stop.wait_for(|stop| *stop) => Wake::Stop,
        };
        match wake {
            Wake::Wrote(Ok(Some(0))) => return Err("broker stopped accepting writes".to_owned()),
            Wake::Wrote(Ok(Some(n))) => {
                wbuf.advance(n);
                unflushed = flushes;
            }
            Wake::Wrote(Ok(None)) => unflushed = false,
            Wake::Wrote(Err(e)) => return Err(format!("write: {e}")),
            Wake::Read(Ok(0)) => return Err(CLOSED.to_owned()),
            Wake::Read(Ok(_)) => {
                let now = Instant::now();
                while let Some(packet) = decode(&mut rbuf, Some(VERSION), MAX_PACKET)
                    .map_err(|e| format!("malformed packet from broker: {e}"))?
                {
                    role.on_packet(packet, now, &mut wbuf)?;
                }
            }
            Wake::Read(Err(e)) => return Err(format!("read: {e}")),
            Wake::Tick => {}
            Wake::Stop => return Ok(()),
        }
    }
}

/// Writes what `wbuf` holds, or with nothing to write flushes.
async fn write_or_flush(
    writer: &mut (impl AsyncWrite + Unpin),
    wbuf: &[u8],
) -> std::io::Result<Option<usize>> {
    if wbuf.is_empty() {
        writer.flush().await.map(|()| None)
    } else {
        writer.write(wbuf).await.map(Some)
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
