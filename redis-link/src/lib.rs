//! Connections to Redis for mqhost's plugins: one copy of the settings
//! that say how to reach a single server, the master a sentinel names, or
//! a cluster, over TCP or TLS.
//!
//! - [`settings`]: [`LinkConfig`], what a connection needs (type,
//!   servers, sentinel master, database, user, password, TLS files, how
//!   many requests at once), each setting parsed from its text;
//! - [`keys`]: what a plugin's file calls those settings, as a table of
//!   names after a prefix ([`LinkKeys`]), so that the Redis backend's
//!   `backend.redis.<pool>.pool_size` and EMQX 4's `auth.redis.pool`
//!   fill the same setting;
//! - [`server`]: one `host[:port]` and the list parser.

pub mod keys;
pub mod server;
pub mod settings;

pub use keys::{LinkKeys, Names, Setting};
pub use server::{parse_server, parse_servers, Server};
pub use settings::{LinkConfig, PoolKind, Secret, Tls, DEFAULT_POOL_SIZE};
