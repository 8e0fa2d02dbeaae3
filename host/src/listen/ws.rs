//! MQTT over WebSocket (RFC 6455; MQTT 5.0 and 3.1.1 section 6).
//!
//! [`accept`] reads and answers the HTTP upgrade request on a connection
//! (TCP, or TLS for `wss`: whatever lies below is the caller's) and gives
//! back a [`MqttOverWs`], a byte stream of MQTT packets that a session
//! reads and writes as it does a TCP socket.
//!
//! - `handshake`: the upgrade request, its checks and the HTTP answers.
//! - `stream`: binary messages as `AsyncRead`/`AsyncWrite`.
//! - `partial`: since when a message has been begun and not whole, for
//!   `mqtt.packet_timeout`.

mod handshake;
mod partial;
mod stream;
#[cfg(test)]
mod tests;

pub use handshake::{accept, WsRefusal, MAX_REQUEST_BYTES};
pub use stream::{MqttOverWs, WRITE_CHUNK};
