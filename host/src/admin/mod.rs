//! Management: an HTTP API on `admin.listener` (loopback by default),
//! `mqhost ctl`, the command line that uses it, and `mqhost admins`.
//!
//! - [`serve`]: the listener: settings checked, token read or made, TLS,
//!   the accept loop and its bounds, hyper's HTTP/1.1.
//! - [`guard`]: what every request must pass: its Host, its Origin and
//!   Content-Type when it changes something, the token or a session.
//! - [`api`]: the routes (axum): status, plugins, kick, login, logout.
//! - [`dashboard`]: the web dashboard at `/`, its files built in.
//! - [`token`]: the bearer token and its file.
//! - [`admins`]: admin users' passwords, and `mqhost admins`.
//! - [`sessions`]: login sessions and their cookie.
//! - [`path`]: percent-encoded path segments.
//! - [`ctl`]: `mqhost ctl plugins list|load|unload|reload NAME`, `status`,
//!   `clients kick ID`, over [`client`].

pub mod admins;
pub mod api;
mod client;
pub mod ctl;
pub mod dashboard;
pub mod guard;
pub mod path;
pub mod serve;
pub mod sessions;
pub mod token;
