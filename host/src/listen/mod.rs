//! Listeners: how clients reach the broker.
//!
//! - [`ws`]: MQTT over WebSocket, the HTTP upgrade and the byte stream.

pub mod ws;
