//! How the bench's clients reach a broker: plain TCP, TLS (rustls, ring
//! provider) or WebSocket (tungstenite), all as one byte stream
//! ([`Stream`]) that the client reads and writes the same way.
//!
//! The TLS client resumes no session: every connection pays a full
//! handshake, as a fleet of devices coming back after a broker restart
//! would. It checks only that the broker presents the run's certificate
//! ([`crate::certs`]), byte for byte, and verifies no signature: the
//! broker's side of the handshake is the same either way, and the
//! generator's, on the same two cores, would otherwise bound the
//! connection rate it measures (two ECDSA verifications per connection
//! took it from about 300 to 450 µs of CPU, more than the broker's).
//!
//! The WebSocket client asks for `/mqtt` with the `mqtt` subprotocol and
//! sends each write (a batch of MQTT packets, up to the client's write
//! batch) as one binary message.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use futures_util::{Sink, Stream as _};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::Resumption;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

use crate::client::Error;

/// A scenario's transport, as the report names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Tls,
    WebSocket,
}

impl Transport {
    /// Its name in results: `tcp`, `tls`, `ws`.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
            Transport::WebSocket => "ws",
        }
    }
}

/// Where a client connects, and how.
#[derive(Clone)]
pub struct Endpoint {
    pub addr: SocketAddr,
    how: How,
}

#[derive(Clone)]
enum How {
    Tcp,
    Tls(Arc<ClientConfig>),
    WebSocket,
}

/// The path both brokers serve MQTT over WebSocket at (any path does for
/// Mosquitto).
pub const WS_PATH: &str = "/mqtt";

impl Endpoint {
    pub fn tcp(addr: SocketAddr) -> Endpoint {
        Endpoint {
            addr,
            how: How::Tcp,
        }
    }

    /// TLS to `addr`, whose certificate must be the one in PEM file
    /// `cert`.
    pub fn tls(addr: SocketAddr, cert: &Path) -> Result<Endpoint, Error> {
        let expected =
            CertificateDer::from_pem_file(cert).map_err(|e| format!("{}: {e}", cert.display()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let pinned = Pinned {
            cert: expected,
            schemes: provider
                .signature_verification_algorithms
                .supported_schemes(),
        };
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(pinned))
            .with_no_client_auth();
        config.resumption = Resumption::disabled();
        Ok(Endpoint {
            addr,
            how: How::Tls(Arc::new(config)),
        })
    }

    pub fn websocket(addr: SocketAddr) -> Endpoint {
        Endpoint {
            addr,
            how: How::WebSocket,
        }
    }

    /// Connects, completing the TLS or WebSocket handshake if any.
    pub async fn open(&self) -> Result<Stream, Error> {
        let addr = self.addr;
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect to {addr}: {e}"))?;
        let _ = tcp.set_nodelay(true);
        match &self.how {
            How::Tcp => Ok(Stream::Tcp(tcp)),
            How::Tls(config) => {
                let name = ServerName::IpAddress(addr.ip().into());
                let tls = TlsConnector::from(Arc::clone(config))
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("TLS handshake with {addr}: {e}"))?;
                Ok(Stream::Tls(Box::new(tls)))
            }
            How::WebSocket => {
                let ws_error = |e: WsError| format!("WebSocket handshake with {addr}: {e}");
                let mut request = format!("ws://{addr}{WS_PATH}")
                    .into_client_request()
                    .map_err(ws_error)?;
                request
                    .headers_mut()
                    .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("mqtt"));
                let (ws, _) = tokio_tungstenite::client_async_with_config(
                    request,
                    tcp,
                    Some(WebSocketConfig::default()),
                )
                .await
                .map_err(ws_error)?;
                Ok(Stream::WebSocket(Box::new(WsBytes {
                    ws,
                    message: Bytes::new(),
                    unflushed: false,
                    eof: false,
                })))
            }
        }
    }
}

/// The generator's check of a broker's certificate: that it is the run's,
/// and nothing more (see the module documentation).
#[derive(Debug)]
struct Pinned {
    cert: CertificateDer<'static>,
    schemes: Vec<SignatureScheme>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.cert.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "the broker's certificate is not the run's".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes.clone()
    }
}

/// An open connection to a broker, whatever the transport.
pub enum Stream {
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    WebSocket(Box<WsBytes<TcpStream>>),
}

impl Stream {
    /// The TCP connection underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Tcp(tcp) => tcp,
            Stream::Tls(tls) => tls.get_ref().0,
            Stream::WebSocket(ws) => ws.ws.get_ref(),
        }
    }

    /// The TLS version and cipher suite agreed, for the results.
    pub fn tls_parameters(&self) -> Option<String> {
        let Stream::Tls(tls) = self else { return None };
        let session = tls.get_ref().1;
        Some(format!(
            "{:?} {:?}",
            session.protocol_version()?,
            session.negotiated_cipher_suite()?.suite()
        ))
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::WebSocket(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Stream::WebSocket(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::WebSocket(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::WebSocket(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// MQTT bytes over WebSocket binary messages: reads yield the messages'
/// payloads one after the other, each write is one message. Pings are
/// answered by tungstenite.
pub struct WsBytes<S> {
    ws: WebSocketStream<S>,
    /// What is left of the message being read.
    message: Bytes,
    /// A message was handed to tungstenite and may not be out yet.
    unflushed: bool,
    /// The broker closed.
    eof: bool,
}

fn ws_io(e: WsError) -> io::Error {
    match e {
        WsError::Io(e) => e,
        other => io::Error::other(other),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsBytes<S> {
    /// Writes out what the last write left in tungstenite's buffer.
    fn poll_unflushed(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.unflushed {
            ready!(Pin::new(&mut self.ws).poll_flush(cx)).map_err(ws_io)?;
            self.unflushed = false;
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WsBytes<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // A pending tail goes out while the caller waits to read.
        if let Poll::Ready(Err(e)) = this.poll_unflushed(cx) {
            return Poll::Ready(Err(e));
        }
        let start = buf.filled().len();
        // As many messages as are in and fit: one read per batch the
        // broker wrote, not per message.
        while buf.remaining() > 0 {
            if !this.message.is_empty() {
                let n = this.message.len().min(buf.remaining());
                buf.put_slice(&this.message[..n]);
                this.message.advance(n);
                continue;
            }
            if this.eof {
                break;
            }
            let next = match Pin::new(&mut this.ws).poll_next(cx) {
                Poll::Pending if buf.filled().len() > start => break,
                Poll::Pending => return Poll::Pending,
                Poll::Ready(next) => next,
            };
            match next {
                Some(Ok(Message::Binary(bytes))) => this.message = bytes,
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Ok(Message::Close(_)))
                | None
                | Some(Err(WsError::ConnectionClosed | WsError::AlreadyClosed)) => this.eof = true,
                Some(Ok(Message::Text(_))) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "text message from the broker",
                    )))
                }
                Some(Err(e)) => return Poll::Ready(Err(ws_io(e))),
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WsBytes<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // One message in tungstenite's hands at a time: the broker's pace
        // holds the writer back as a socket would.
        ready!(this.poll_unflushed(cx))?;
        let mut ws = Pin::new(&mut this.ws);
        ready!(ws.as_mut().poll_ready(cx)).map_err(ws_io)?;
        ws.as_mut()
            .start_send(Message::Binary(Bytes::copy_from_slice(buf)))
            .map_err(ws_io)?;
        this.unflushed = true;
        if let Poll::Ready(result) = this.poll_unflushed(cx) {
            result?;
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_unflushed(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().ws)
            .poll_close(cx)
            .map_err(ws_io)
    }
}
