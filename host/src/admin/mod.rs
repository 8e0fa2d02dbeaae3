//! Management: an HTTP API on `admin.listener` (loopback by default),
//! `mqhost ctl`, the command line that uses it, and `mqhost admins`.
//!
//! - [`serve`]: the listener: settings checked, token read or made, TLS,
//!   the accept loop and its bounds, hyper's HTTP/1.1.
//! - [`guard`]: what every request must pass: its Host, its Origin and
//!   Content-Type when it changes something, the token or a session.
//! - [`api`]: the routes (axum), and the ones it keeps: status, plugin
//!   actions, kick, login, logout. The others, by subject: [`clients`]
//!   (clients, sessions, subscriptions), [`retained`] (retained messages,
//!   publish), [`plugin_config`] (a plugin's file: read, check, write, by
//!   [`replace`]), [`info`] (listeners, the effective configuration),
//!   [`persistence`] (the durable store's state and figures);
//!   their requests read through [`query`] and [`body`], their times
//!   written by [`time`].
//! - [`dashboard`]: the web dashboard at `/`, its files built in.
//! - [`token`]: the bearer token and its file.
//! - [`admins`]: admin users' passwords, and `mqhost admins`.
//! - [`sessions`]: login sessions and their cookie.
//! - [`path`]: percent-encoded path segments.
//! - [`ctl`]: `mqhost ctl`, the same over [`client`]: clients,
//!   subscriptions, retained messages, publish, plugins, status.

pub mod admins;
pub mod api;
pub mod body;
mod client;
pub mod clients;
pub mod ctl;
pub mod dashboard;
pub mod guard;
pub mod info;
pub mod path;
pub mod persistence;
pub mod plugin_config;
pub mod query;
pub mod replace;
pub mod retained;
pub mod serve;
pub mod sessions;
pub mod time;
pub mod token;
