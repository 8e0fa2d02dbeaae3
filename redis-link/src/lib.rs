//! Connections to Redis for mqhost's plugins: one copy of how to reach a
//! single server, the master a sentinel names, or a cluster, over TCP or
//! TLS, and of the settings that say so.
//!
//! - [`settings`]: [`LinkConfig`], what a connection needs (type,
//!   servers, sentinel master, database, user, password, TLS files, how
//!   many requests at once), each setting parsed from its text;
//! - [`keys`]: what a plugin's file calls those settings, as a table of
//!   names after a prefix ([`LinkKeys`]), so that the Redis backend's
//!   `backend.redis.<pool>.pool_size` and EMQX 4's `auth.redis.pool`
//!   fill the same setting;
//! - [`connect`]: [`Conn`] (a multiplexed connection to one server, or a
//!   cluster connection), pub/sub connections, the address of the server
//!   or master now; [`conn`]: requests on a [`Conn`];
//! - [`stream`]: a plain or TLS stream to one server, for protocol code
//!   of one's own;
//! - [`cell`]: a connection shared by concurrent requests and made again
//!   after it broke; [`errors`]: which server errors pass.
//!
//! Connecting is bounded ([`CONNECT_TIMEOUT`]); answers are waited for.
//! A request that must answer within a time (an authentication lookup)
//! brings its own bound:
//!
//! ```no_run
//! use std::time::Duration;
//! use mqhost_redis_link::{ConnCell, LinkConfig};
//!
//! async fn lookup(cell: &ConnCell, link: &LinkConfig, user: &str) -> Option<redis::Value> {
//!     let attempt = async {
//!         let (generation, mut conn) = cell.get(|| link.clone()).await?;
//!         let reply = conn.query(redis::cmd("HGET").arg(format!("mqtt_user:{user}")).arg("password")).await;
//!         if reply.is_err() {
//!             // Broken: the next request connects afresh.
//!             cell.invalidate(Some(generation)).await;
//!         }
//!         reply
//!     };
//!     tokio::time::timeout(Duration::from_secs(3), attempt).await.ok()?.ok()
//! }
//! ```
#![deny(unsafe_code)]

pub mod cell;
pub mod conn;
pub mod connect;
pub mod errors;
pub mod keys;
pub mod server;
pub mod settings;
pub mod stream;

pub use cell::ConnCell;
pub use conn::{Scanned, SCAN_PAGE};
pub use connect::{connect, connect_pubsub, server_address, Conn, Peer, CONNECT_TIMEOUT};
pub use errors::{is_transient, needs_new_connection};
pub use keys::{LinkKeys, Names, Setting, EMQX4_AUTH_REDIS};
pub use server::{parse_server, parse_servers, Server};
pub use settings::{LinkConfig, PoolKind, Secret, Tls, DEFAULT_POOL_SIZE};
pub use stream::{install_crypto_provider, open_stream, open_stream_marked, LowWater, Stream};
