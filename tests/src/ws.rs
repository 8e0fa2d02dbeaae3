//! MQTT over WebSocket from the client's side: a byte-level client that
//! chooses how its packets are cut into frames and messages, and a way to
//! run Python paho-mqtt scripts.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use mqhost_codec::{decode, encode, Packet, ProtocolVersion};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

use crate::raw::WAIT;

/// A WebSocket client speaking MQTT bytes in binary messages.
pub struct WsClient {
    ws: WebSocketStream<TcpStream>,
    version: ProtocolVersion,
    /// Bytes received and not yet decoded: packets may span messages.
    buf: BytesMut,
}

/// Opens a WebSocket to `path` at `addr`, offering `subprotocol`: the
/// HTTP status of a refusal as the error.
pub async fn open(
    addr: SocketAddr,
    path: &str,
    subprotocol: &str,
    version: ProtocolVersion,
) -> Result<WsClient, u16> {
    let tcp = TcpStream::connect(addr).await.expect("connect to broker");
    tcp.set_nodelay(true).unwrap();
    let mut request = format!("ws://{addr}{path}")
        .into_client_request()
        .expect("request");
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", subprotocol.parse().unwrap());
    match tokio::time::timeout(WAIT, tokio_tungstenite::client_async(request, tcp)).await {
        Ok(Ok((ws, _))) => Ok(WsClient {
            ws,
            version,
            buf: BytesMut::new(),
        }),
        Ok(Err(WsError::Http(response))) => Err(response.status().as_u16()),
        Ok(Err(error)) => panic!("WebSocket handshake failed: {error}"),
        Err(_) => panic!("no WebSocket handshake within {WAIT:?}"),
    }
}

/// `packet` encoded for `version`.
pub fn encoded(packet: &Packet, version: ProtocolVersion) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode(packet, version, &mut out).expect("encode");
    out.to_vec()
}

impl WsClient {
    /// Sends `bytes` as one binary message.
    pub async fn send_message(&mut self, bytes: &[u8]) {
        self.ws
            .send(Message::binary(bytes.to_vec()))
            .await
            .expect("send to broker");
    }

    /// Sends `bytes` as binary messages of `size` bytes each.
    pub async fn send_in_messages(&mut self, bytes: &[u8], size: usize) {
        for chunk in bytes.chunks(size) {
            self.send_message(chunk).await;
        }
    }

    /// Sends `bytes` as one binary message cut into frames of `size`
    /// bytes (a first frame, then continuation frames).
    pub async fn send_in_frames(&mut self, bytes: &[u8], size: usize) {
        let chunks: Vec<&[u8]> = bytes.chunks(size).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let opcode = if i == 0 { Data::Binary } else { Data::Continue };
            let last = i + 1 == chunks.len();
            let frame = Frame::message(chunk.to_vec(), OpCode::Data(opcode), last);
            self.ws
                .send(Message::Frame(frame))
                .await
                .expect("send to broker");
        }
    }

    /// Sends `bytes` as the first frame of a binary message that is not
    /// finished (FIN clear): the rest of the message is never sent.
    pub async fn send_unfinished_message(&mut self, bytes: &[u8]) {
        let frame = Frame::message(bytes.to_vec(), OpCode::Data(Data::Binary), false);
        self.ws
            .send(Message::Frame(frame))
            .await
            .expect("send to broker");
    }

    /// Sends a text message, which MQTT does not allow.
    pub async fn send_text(&mut self, text: &str) {
        self.ws
            .send(Message::text(text))
            .await
            .expect("send to broker");
    }

    /// Sends a packet as one message.
    pub async fn send(&mut self, packet: &Packet) {
        let bytes = encoded(packet, self.version);
        self.send_message(&bytes).await;
    }

    /// The next packet within [`WAIT`]; `None` when the connection closed.
    pub async fn recv(&mut self) -> Option<Packet> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match decode(&mut self.buf, Some(self.version), u32::MAX) {
                Ok(Some(packet)) => return Some(packet),
                Ok(None) => {}
                Err(e) => panic!("broker sent a malformed packet: {e}"),
            }
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => panic!("no packet within {WAIT:?}"),
                Ok(Some(Ok(Message::Binary(bytes)))) => self.buf.extend_from_slice(&bytes),
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
                Ok(Some(Ok(Message::Text(text)))) => panic!("broker sent a text message: {text}"),
                Ok(Some(Ok(Message::Close(_) | Message::Frame(_))))
                | Ok(Some(Err(_)))
                | Ok(None) => return None,
            }
        }
    }
}

/// How long a paho script may run before it is stopped: a bound for a
/// broken broker, never reached by a working one.
const PAHO_TIMEOUT: Duration = Duration::from_secs(60);

/// [`python_with_paho`](crate::python_with_paho), stopped after
/// [`PAHO_TIMEOUT`].
pub fn paho_python() -> Command {
    let python = crate::python_with_paho();
    let mut command = Command::new("timeout");
    command
        .arg(PAHO_TIMEOUT.as_secs().to_string())
        .arg(python.get_program());
    command
}
