//! mqhost: an MQTT 3.1 / 3.1.1 / 5.0 broker whose behaviour is extended by
//! plugins.
//!
//! # Layout
//!
//! - [`access`]: password and ACL files, and `mqhost passwd`.
//! - [`admin`]: the management HTTP API and `mqhost ctl`.
//! - [`cli`]: the command line.
//! - [`config`]: the properties format and the host configuration.
//! - [`dir_watch`]: waiting for files to change, for reloads.
//! - [`escape`]: client-controlled text made safe for log lines.
//! - [`logging`]: tracing to stderr.
//! - [`metrics`]: the figures in the Prometheus text format, for
//!   `GET /metrics`.
//! - [`open_files`]: the open-file limit and descriptor table, set up
//!   before the runtime starts.
//! - [`server`]: starts the listeners and `$SYS`, stops on a signal.
//! - [`listen`]: listeners (TCP, TLS, WebSocket), their limits.
//! - [`broker`]: connections, sessions, routing, retained store.
//! - [`hooks`]: hook points for extensions.
//! - [`plugins`]: loading, configuring and calling plugin libraries.
//! - [`persist`]: durable state, a write-ahead log that survives kill -9.
#![deny(unsafe_code)]

pub mod access;
pub mod admin;
pub mod broker;
pub mod cli;
pub mod config;
pub mod dir_watch;
pub mod escape;
pub mod hooks;
pub mod listen;
pub mod logging;
pub mod metrics;
pub mod open_files;
pub mod persist;
pub mod plugins;
pub mod server;
#[cfg(test)]
mod test_support;
