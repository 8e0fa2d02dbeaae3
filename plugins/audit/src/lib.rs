//! `audit`: an mqhost plugin that appends one JSON line per event to a file.
//!
//! This first part holds the plugin's building blocks: its configuration,
//! MQTT topic filters for `audit.drop_topics`, and JSON line writing.

pub mod config;
pub mod json;
pub mod topic;
