//! Configuration: the properties file format and the broker's settings.
//!
//! * [`properties`] owns the `key = value` text format and value helpers;
//!   it is independent of the rest of the host so plugins can reuse it.
//! * [`host`] owns [`HostConfig`] and its sections: the settings as typed values.
//! * [`keys`] owns the table of keys the broker understands, each with its
//!   one written default, and setting a key from its text.
//! * [`listeners`] owns named listeners and their per-listener keys.
//! * [`load`] owns loading a file plus `--set` overrides into a [`HostConfig`].
//! * `suggest` finds the known key a misspelt one was meant to be.
//!
//! The reference for every key is `docs/configuration.md`, and the shipped
//! defaults are in `etc/mqhost.conf`.

pub mod host;
pub mod keys;
pub mod listeners;
pub mod load;
mod suggest;
pub use mqhost_plugin_api::properties;

use std::path::{Path, PathBuf};

pub use host::{HostConfig, LogLevel};
pub use properties::{Entry, Properties, PropertiesError};

/// The config file used when `--config` is not given, relative to the
/// current directory, if it exists there.
pub const DEFAULT_CONFIG_PATH: &str = "etc/mqhost.conf";

/// The config file to load: `explicit` if given, else [`DEFAULT_CONFIG_PATH`]
/// if that file exists, else `None` (built-in defaults).
pub fn locate(explicit: Option<&Path>) -> Option<PathBuf> {
    match explicit {
        Some(path) => Some(path.to_path_buf()),
        None => {
            let default = Path::new(DEFAULT_CONFIG_PATH);
            default.is_file().then(|| default.to_path_buf())
        }
    }
}
