//! Errors about one entry of the file, as the host shows them
//! (`file:line: key: message`).

use mqhost_plugin_api::properties::Entry;
use mqhost_plugin_api::ConfigError;

/// The 1-based line of an entry, as the ABI wants it.
pub(crate) fn line_of(entry: &Entry) -> u32 {
    u32::try_from(entry.line).unwrap_or(u32::MAX)
}

/// An error about `entry`, naming its line and key.
pub(crate) fn error_at(entry: &Entry, message: impl Into<String>) -> ConfigError {
    ConfigError::at(line_of(entry), entry.key.as_str(), message)
}
