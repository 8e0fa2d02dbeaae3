//! Configuration: the properties file format and the broker's settings.
//!
//! * [`properties`] owns the `key = value` text format and value helpers;
//!   it is independent of the rest of the host so plugins can reuse it.

pub mod properties;

pub use properties::{ConfigError, Entry, Properties};
