//! `mqhost ctl`: control a running broker through its admin API.
//!
//! ```text
//! mqhost ctl [OPTIONS] plugins list
//! mqhost ctl [OPTIONS] plugins load|unload|reload NAME
//! mqhost ctl [OPTIONS] status
//! mqhost ctl [OPTIONS] clients kick ID
//! ```
//!
//! The configuration is `--config FILE`, else `etc/mqhost.conf` when it
//! exists, else the defaults. The admin address is `--admin`, else its
//! `admin.listener`; the token is read from `--token-file`, else from its
//! `admin.token_file`. When it gives the API a certificate
//! (`admin.certfile`), or `--cacert` is given, the request goes over TLS,
//! the API's certificate checked against `--cacert`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use serde_json::Value;

use super::client::{self, Target};
use super::path::percent_encode;
use super::token;
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
  mqhost ctl [OPTIONS] plugins list
  mqhost ctl [OPTIONS] plugins load|unload|reload NAME
  mqhost ctl [OPTIONS] status
  mqhost ctl [OPTIONS] clients kick ID
Options:
  --config FILE      the broker's configuration (default: etc/mqhost.conf if
                     it exists), for admin.listener and admin.token_file
  --admin ADDR       the admin API's address, instead of admin.listener
  --token-file FILE  the token file, instead of admin.token_file
  --cacert FILE      speak TLS, checking the API's certificate against the
                     CAs in FILE (needed when admin.certfile is set)
";

/// Runs `mqhost ctl ARGS`; returns what to print.
pub fn run(args: &[String]) -> Result<String, CtlError> {
    if matches!(args, [arg] if arg == "-h" || arg == "--help") {
        return Ok(USAGE.to_owned());
    }
    let mut admin: Option<SocketAddr> = None;
    let mut config_file: Option<PathBuf> = None;
    let mut token_file: Option<PathBuf> = None;
    let mut cacert: Option<PathBuf> = None;
    let mut rest: Vec<&str> = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |what: &str| {
            args.next()
                .ok_or_else(|| usage(format!("{arg} needs {what}")))
        };
        match arg.as_str() {
            "--admin" => {
                let text = value("an address")?;
                admin = Some(config::properties::parse_socket_addr(text).map_err(usage)?);
            }
            "--config" => config_file = Some(PathBuf::from(value("a file")?)),
            "--token-file" => token_file = Some(PathBuf::from(value("a file")?)),
            "--cacert" => cacert = Some(PathBuf::from(value("a file")?)),
            other => rest.push(other),
        }
    }
    let target = target(admin, config_file, token_file, cacert)?;
    let admin = &target;
    match rest.as_slice() {
        ["plugins", "list"] => list(admin),
        ["plugins", action @ ("load" | "unload" | "reload"), name] => act(admin, action, name),
        ["status"] => {
            let body = request(admin, "GET", "/api/v1/status")?;
            Ok(format!("{body}\n"))
        }
        ["clients", "kick", client_id] => {
            let path = format!("/api/v1/clients/{}", percent_encode(client_id));
            request(admin, "DELETE", &path)?;
            Ok(format!("client {client_id} kicked\n"))
        }
        _ => Err(usage(format!("unknown command\n{USAGE}"))),
    }
}

/// Where the API is, its token, and whether to speak TLS, from the
/// options and the configuration.
fn target(
    admin: Option<SocketAddr>,
    config_file: Option<PathBuf>,
    token_file: Option<PathBuf>,
    cacert: Option<PathBuf>,
) -> Result<Target, CtlError> {
    let path = config::locate(config_file.as_deref());
    let config = HostConfig::load(path.as_deref(), &[]).map_err(|e| usage(e.to_string()))?;
    let mut addr = match admin {
        Some(addr) => addr,
        None => config
            .admin
            .listener
            .ok_or_else(|| usage("admin.listener is off in the configuration"))?,
    };
    // Bound to every interface, or a bare port: this machine's loopback.
    if addr.ip().is_unspecified() {
        addr.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    let token_file = token_file.unwrap_or_else(|| config.admin_token_file());
    let token = token::read(&token_file).map_err(|e| {
        failure(format!(
            "{e} (the broker writes it at its start; give its admin.token_file with --config or --token-file)"
        ))
    })?;
    let tls = match cacert {
        Some(cafile) => Some(client::tls_config(&cafile).map_err(failure)?),
        None if config.admin.certfile.is_some() && admin.is_none() => {
            return Err(usage(
                "the admin API speaks HTTPS (admin.certfile): give the CA that signed its certificate with --cacert FILE",
            ))
        }
        None => None,
    };
    Ok(Target { addr, token, tls })
}

fn request(admin: &Target, method: &str, path: &str) -> Result<Value, CtlError> {
    let (status, body) = client::send(admin, method, path).map_err(|e| {
        failure(format!(
            "cannot reach the broker's admin API at {}: {e}",
            admin.addr
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

fn list(admin: &Target) -> Result<String, CtlError> {
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

fn act(admin: &Target, action: &str, name: &str) -> Result<String, CtlError> {
    let path = format!("/api/v1/plugins/{}/{action}", percent_encode(name));
    request(admin, "POST", &path)?;
    let done = match action {
        "load" => "loaded",
        "unload" => "unloaded",
        _ => "reloaded",
    };
    Ok(format!("plugin {name} {done}\n"))
}
