//! Logging: installs the global `tracing` subscriber that writes to stderr.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs a stderr logger at `level` (`error`, `warn`, `info`, `debug` or
/// `trace`, or any `RUST_LOG`-style directive).
///
/// A non-empty `RUST_LOG` environment variable takes precedence over `level`;
/// if it cannot be parsed, `level` is used and a warning says so. Lines carry
/// a timestamp and the target module; colours are used only when stderr is a
/// terminal and `NO_COLOR` is not set. Only the first call has an effect.
pub fn init(level: &str) {
    let from_env = std::env::var("RUST_LOG")
        .ok()
        .filter(|value| !value.trim().is_empty());
    let (filter, bad_env) = match from_env {
        Some(value) => match EnvFilter::try_new(&value) {
            Ok(filter) => (filter, None),
            Err(e) => (EnvFilter::new(level), Some((value, e))),
        },
        None => (EnvFilter::new(level), None),
    };
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let installed = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(true)
        .with_env_filter(filter)
        .try_init()
        .is_ok();
    if let (true, Some((value, e))) = (installed, bad_env) {
        tracing::warn!("ignoring RUST_LOG={value:?} ({e}); using log level {level}");
    }
}
