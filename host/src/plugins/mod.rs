//! Plugins: libraries built against `mqhost-plugin-api`, loaded at run time.
//!
//! - [`library`]: finding and loading a library file (through a private
//!   copy), checking its interface version and layout.
//! - [`trust`]: refusing a library its owner or others could change.
//! - [`private`]: the private copies: sealed memfds, or a private
//!   directory.
//! - [`dispatch`]: a running instance, its guarded calls and counters, and
//!   the hook handler that feeds it the broker's events.
//! - [`grace`]: knowing that no call to a plugin is under way, cheaply.
//! - [`calls`]: hook calls per point, and their latency, sampled.
//! - [`host_api`]: what a plugin may ask of the broker.
//! - [`manager`]: which plugins run, kept in line with the directories.
//! - [`watch`]: watching the directories and reconciling after changes.

pub mod calls;
pub mod dispatch;
pub mod grace;
pub mod host_api;
pub mod library;
pub mod manager;
pub mod private;
pub mod trust;
pub mod watch;

pub use manager::{ActionError, PluginManager};
