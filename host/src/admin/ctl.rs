//! `mqhost ctl`: control a running broker through its admin API.
//!
//! ```text
//! mqhost ctl [--admin ADDR | --config FILE] plugins list
//! mqhost ctl [--admin ADDR | --config FILE] plugins load|unload|reload NAME
//! mqhost ctl [--admin ADDR | --config FILE] status
//! mqhost ctl [--admin ADDR | --config FILE] clients kick ID
//! ```
//!
//! The admin address is `--admin`, else `admin.listener` of `--config`
//! (or of `etc/mqhost.conf` when it exists), else the default.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use serde_json::Value;

use super::http;
use crate::config::{self, HostConfig};

/// What went wrong, and the exit status to leave with.
pub struct CtlError {
    pub message: String,
    /// 2 for usage errors, 1 for failures.
    pub status: u8,
}

fn usage(message: impl Into<String>) -> CtlError {
    CtlError {
        message: message.into(),
        status: 2,
    }
}

fn failure(message: impl Into<String>) -> CtlError {
    CtlError {
        message: message.into(),
        status: 1,
    }
}

/// Usage of `mqhost ctl`.
pub const USAGE: &str = "\
Usage:
  mqhost ctl [--admin ADDR | --config FILE] plugins list
  mqhost ctl [--admin ADDR | --config FILE] plugins load|unload|reload NAME
  mqhost ctl [--admin ADDR | --config FILE] status
  mqhost ctl [--admin ADDR | --config FILE] clients kick ID
";

/// Runs `mqhost ctl ARGS`; returns what to print.
pub fn run(args: &[String]) -> Result<String, CtlError> {
    let mut admin: Option<SocketAddr> = None;
    let mut config_file: Option<PathBuf> = None;
    let mut rest: Vec<&str> = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--admin" => {
                let value = args
                    .next()
                    .ok_or_else(|| usage("--admin needs an address"))?;
                admin = Some(config::properties::parse_socket_addr(value).map_err(usage)?);
            }
            "--config" => {
                config_file = Some(PathBuf::from(
                    args.next().ok_or_else(|| usage("--config needs a file"))?,
                ));
            }
            other => rest.push(other),
        }
    }
    let admin = match admin {
        Some(addr) => addr,
        None => admin_from_config(config_file)?,
    };
    match rest.as_slice() {
        ["plugins", "list"] => list(admin),
        ["plugins", action @ ("load" | "unload" | "reload"), name] => act(admin, action, name),
        ["status"] => {
            let body = request(admin, "GET", "/api/v1/status")?;
            Ok(format!("{body}\n"))
        }
        ["clients", "kick", client_id] => {
            let path = format!("/api/v1/clients/{}", http::percent_encode(client_id));
            request(admin, "DELETE", &path)?;
            Ok(format!("client {client_id} kicked\n"))
        }
        _ => Err(usage(format!("unknown command\n{USAGE}"))),
    }
}

fn admin_from_config(file: Option<PathBuf>) -> Result<SocketAddr, CtlError> {
    let path = config::locate(file.as_deref());
    let config = HostConfig::load(path.as_deref(), &[]).map_err(|e| usage(e.to_string()))?;
    let mut addr = config
        .admin
        .listener
        .ok_or_else(|| usage("admin.listener is off in the configuration"))?;
    if addr.ip().is_unspecified() {
        addr.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    Ok(addr)
}

fn request(admin: SocketAddr, method: &str, path: &str) -> Result<Value, CtlError> {
    let (status, body) = http::send(admin, method, path).map_err(|e| {
        failure(format!(
            "cannot reach the broker's admin API at {admin}: {e}"
        ))
    })?;
    if status == 204 {
        return Ok(Value::Null);
    }
    let value: Value = serde_json::from_str(&body).map_err(|_| {
        failure(format!(
            "the admin API answered {status} with a body that is not JSON"
        ))
    })?;
    if status != 200 {
        let message = value["error"].as_str().unwrap_or("request failed");
        return Err(failure(message.to_owned()));
    }
    Ok(value)
}

fn list(admin: SocketAddr) -> Result<String, CtlError> {
    let body = request(admin, "GET", "/api/v1/plugins")?;
    let mut out = format!(
        "{:<16} {:<10} {:<9} {:>9} {:>7}  {}\n",
        "NAME", "VERSION", "STATE", "EVENTS", "ERRORS", "HOOKS"
    );
    for plugin in body["plugins"].as_array().into_iter().flatten() {
        let text = |key: &str| plugin[key].as_str().unwrap_or("-").to_owned();
        let hooks: Vec<&str> = plugin["hooks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        out.push_str(&format!(
            "{:<16} {:<10} {:<9} {:>9} {:>7}  {}\n",
            text("name"),
            text("version"),
            text("state"),
            plugin["events"].as_u64().unwrap_or(0),
            plugin["errors"].as_u64().unwrap_or(0),
            hooks.join(",")
        ));
        for key in ["last_error", "last_config_error"] {
            if let Some(error) = plugin[key].as_str() {
                out.push_str(&format!("  {key}: {error}\n"));
            }
        }
        // The plugin's own figures, as it reports them.
        if plugin["stats"].as_object().is_some_and(|s| !s.is_empty()) {
            out.push_str(&format!("  stats: {}\n", plugin["stats"]));
        }
    }
    Ok(out)
}

fn act(admin: SocketAddr, action: &str, name: &str) -> Result<String, CtlError> {
    request(admin, "POST", &format!("/api/v1/plugins/{name}/{action}"))?;
    let done = match action {
        "load" => "loaded",
        "unload" => "unloaded",
        _ => "reloaded",
    };
    Ok(format!("plugin {name} {done}\n"))
}
