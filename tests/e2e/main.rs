//! End-to-end tests: each starts its own `mqhost` on a free port and
//! drives it with real MQTT clients over TCP.

mod access;
mod access_files;
mod access_plugins;
mod acl;
mod admin;
mod admin_api;
mod auth_redis;
mod cluster;
mod config;
mod conformance;
mod connect;
mod ctl;
mod dashboard;
mod delivery;
mod flow;
mod kick;
mod limits;
mod listeners;
mod malformed;
mod memory;
mod metrics;
mod persistence;
mod plugin_trust;
mod plugins;
mod redis;
mod retained;
mod session;
mod subscribe;
mod sys;
mod tls;
mod tls_acceptor;
mod tools;
mod v5;
mod websocket;
mod will;
