//! Management: an HTTP API on `admin.listener` (loopback by default) and
//! `mqhost ctl`, the command line that uses it.
//!
//! - [`http`]: just enough HTTP/1.1 to serve and send one JSON request
//!   per connection.
//! - [`api`]: the routes: list plugins, load, unload, reload one, status,
//!   kick a client.
//! - [`ctl`]: `mqhost ctl plugins list|load|unload|reload NAME`, `status`,
//!   `clients kick ID`.

pub mod api;
pub mod ctl;
pub mod http;
