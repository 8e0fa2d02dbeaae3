pub mod broker;
pub mod cli;
pub mod config;
pub mod logging;
