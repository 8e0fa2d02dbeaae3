//! `mqhost ctl`: control a running broker through its admin API.
//!
//! See [`USAGE`]. The configuration is `--config FILE`, else
//! `etc/mqhost.conf` when it exists, else the defaults. The admin address
//! is `--admin`, else its `admin.listener`; the token is read from
//! `--token-file`, else from its `admin.token_file`. When it gives the API
//! a certificate (`admin.certfile`), or `--cacert` is given, the request
//! goes over TLS, the API's certificate checked against `--cacert`.
//!
//! Output is for people (tables, `key: value` lines) unless `--json` asks
//! for the API's own answer. The exit status is for scripts: 0 done, 1
//! the broker refused (its message on standard error), 2 a usage error, 3
//! the broker cannot be reached or the token is refused.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::client::{self, Target};
use super::path::percent_encode;
use super::token;
use crate::config::{self, HostConfig};

/// Exit status: the broker refused.
pub const EXIT_REFUSED: u8 = 1;
/// Exit status: the command line is wrong.
pub const EXIT_USAGE: u8 = 2;
/// Exit status: the broker cannot be reached, or the token is refused.
pub const EXIT_UNREACHABLE: u8 = 3;

/// What went wrong, and the exit status to leave with.
#[derive(Debug)]
pub struct CtlError {
    /// For standard error.
    pub message: String,
    /// For standard output all the same (the API's answer, with `--json`).
    pub output: String,
    /// [`EXIT_REFUSED`], [`EXIT_USAGE`] or [`EXIT_UNREACHABLE`].
    pub status: u8,
}

fn usage(message: impl Into<String>) -> CtlError {
    CtlError {
        message: message.into(),
        output: String::new(),
        status: EXIT_USAGE,
    }
}

fn refused(message: impl Into<String>) -> CtlError {
    CtlError {
        message: message.into(),
        output: String::new(),
        status: EXIT_REFUSED,
    }
}

fn unreachable(message: impl Into<String>) -> CtlError {
    CtlError {
        message: message.into(),
        output: String::new(),
        status: EXIT_UNREACHABLE,
    }
}

/// Usage of `mqhost ctl`.
pub const USAGE: &str = "\
Usage: mqhost ctl [OPTIONS] COMMAND
Commands:
  status
  clients list [--clientid TEXT] [--username TEXT] [--ip PREFIX] [--page N] [--limit N]
  clients show ID
  clients kick ID
  sessions list [--clientid TEXT] [--username TEXT] [--ip PREFIX] [--page N] [--limit N]
  subscriptions ID
  subscriptions ID add TOPIC QOS
  subscriptions ID remove TOPIC
  retained list [--topic FILTER] [--page N] [--limit N]
  retained show TOPIC
  retained delete TOPIC
  publish TOPIC PAYLOAD [--qos N] [--retain] [--base64]
  plugins list
  plugins load|unload|reload NAME
  plugins config show NAME
  plugins config check NAME FILE     (FILE - is standard input)
  plugins config set NAME FILE [--unchecked]
  listeners
  config
  cluster status
  persistence
Options:
  --config FILE      the broker's configuration (default: etc/mqhost.conf if
                     it exists), for admin.listener and admin.token_file
  --admin ADDR       the admin API's address, instead of admin.listener
  --token-file FILE  the token file, instead of admin.token_file
  --cacert FILE      speak TLS, checking the API's certificate against the
                     CAs in FILE (needed when admin.certfile is set)
  --json             print the API's JSON answer instead of a table
  --                 what follows is not an option (a payload such as -1)
Exit status: 0 done; 1 the broker refused (its message on standard error);
2 usage error; 3 the broker cannot be reached or the token is refused.
";

/// Options a command may take: flags and options with a value.
const FLAGS: &[&str] = &["--json", "--retain", "--base64", "--unchecked"];
const VALUED: &[&str] = &[
    "--clientid",
    "--username",
    "--ip",
    "--page",
    "--limit",
    "--topic",
    "--qos",
];

/// The command line, split.
#[derive(Debug, Default)]
struct Args<'a> {
    words: Vec<&'a str>,
    flags: Vec<&'a str>,
    options: Vec<(&'a str, &'a str)>,
}

impl<'a> Args<'a> {
    fn flag(&self, name: &str) -> bool {
        self.flags.contains(&name)
    }

    fn option(&self, name: &str) -> Option<&'a str> {
        self.options
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }

    /// Refuses options the command does not take.
    fn only(&self, allowed: &[&str]) -> Result<(), CtlError> {
        let given = self
            .flags
            .iter()
            .chain(self.options.iter().map(|(name, _)| name));
        for name in given {
            if *name != "--json" && !allowed.contains(name) {
                return Err(usage(format!(
                    "{name} does not apply to this command\n{USAGE}"
                )));
            }
        }
        Ok(())
    }
}

/// Where to reach the API, from the options.
#[derive(Debug, Default)]
struct Connection {
    admin: Option<SocketAddr>,
    config_file: Option<PathBuf>,
    token_file: Option<PathBuf>,
    cacert: Option<PathBuf>,
}

fn split(args: &[String]) -> Result<(Connection, Args<'_>), CtlError> {
    let mut connection = Connection::default();
    let mut parsed = Args::default();
    let mut iter = args.iter();
    let mut words_only = false;
    while let Some(arg) = iter.next() {
        let arg = arg.as_str();
        if words_only || !arg.starts_with("--") {
            parsed.words.push(arg);
            continue;
        }
        let mut value = |what: &str| {
            iter.next()
                .map(String::as_str)
                .ok_or_else(|| usage(format!("{arg} needs {what}")))
        };
        match arg {
            "--" => words_only = true,
            "--admin" => {
                let text = value("an address")?;
                connection.admin =
                    Some(config::properties::parse_socket_addr(text).map_err(usage)?);
            }
            "--config" => connection.config_file = Some(PathBuf::from(value("a file")?)),
            "--token-file" => connection.token_file = Some(PathBuf::from(value("a file")?)),
            "--cacert" => connection.cacert = Some(PathBuf::from(value("a file")?)),
            flag if FLAGS.contains(&flag) => parsed.flags.push(flag),
            option if VALUED.contains(&option) => {
                let text = value("a value")?;
                parsed.options.push((option, text));
            }
            other => return Err(usage(format!("unknown option {other}\n{USAGE}"))),
        }
    }
    Ok((connection, parsed))
}

/// Runs `mqhost ctl ARGS`; returns what to print.
pub fn run(args: &[String]) -> Result<String, CtlError> {
    if matches!(args, [arg] if arg == "-h" || arg == "--help") {
        return Ok(USAGE.to_owned());
    }
    let (connection, args) = split(args)?;
    // A command is known before anything is read or sent.
    let command = Command::parse(&args)?;
    let target = target(connection)?;
    let ctl = Ctl {
        target,
        json: args.flag("--json"),
    };
    ctl.run(command)
}

/// One command, its arguments checked.
#[derive(Debug)]
enum Command {
    Status,
    Clients {
        which: &'static str,
        query: Vec<(&'static str, String)>,
    },
    ClientShow(String),
    ClientKick(String),
    Subscriptions(String),
    Subscribe {
        client: String,
        topic: String,
        qos: u8,
    },
    Unsubscribe {
        client: String,
        topic: String,
    },
    RetainedList(Vec<(&'static str, String)>),
    RetainedShow(String),
    RetainedDelete(String),
    Publish {
        topic: String,
        payload: String,
        base64: bool,
        qos: u8,
        retain: bool,
    },
    PluginsList,
    PluginAction {
        action: String,
        name: String,
    },
    ConfigShow(String),
    ConfigCheck {
        name: String,
        file: String,
    },
    ConfigSet {
        name: String,
        file: String,
        unchecked: bool,
    },
    Listeners,
    Config,
    ClusterStatus,
    Persistence,
}

fn qos(text: &str) -> Result<u8, CtlError> {
    match text {
        "0" | "1" | "2" => Ok(text.as_bytes()[0] - b'0'),
        _ => Err(usage(format!("QoS must be 0, 1 or 2, got {text:?}"))),
    }
}

/// Whether `text` could be a plugin's NAME.
fn is_word(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// NAME FILE, or FILE NAME when only the second is a word.
fn name_and_file(first: &str, second: &str) -> (String, String) {
    if !is_word(first) && is_word(second) {
        (second.to_owned(), first.to_owned())
    } else {
        (first.to_owned(), second.to_owned())
    }
}

impl Command {
    fn parse(args: &Args<'_>) -> Result<Command, CtlError> {
        let listing = |names: &[(&'static str, &'static str)]| -> Result<Vec<(&'static str, String)>, CtlError> {
            let allowed: Vec<&str> = names.iter().map(|(option, _)| *option).collect();
            args.only(&allowed)?;
            Ok(names
                .iter()
                .filter_map(|(option, param)| Some((*param, args.option(option)?.to_owned())))
                .collect())
        };
        const CLIENT_FILTERS: &[(&str, &str)] = &[
            ("--clientid", "clientid"),
            ("--username", "username"),
            ("--ip", "ip_address"),
            ("--page", "page"),
            ("--limit", "limit"),
        ];
        let none = || args.only(&[]);
        let command = match args.words.as_slice() {
            ["status"] => none().map(|()| Command::Status)?,
            ["clients", "list"] => Command::Clients {
                which: "clients",
                query: listing(CLIENT_FILTERS)?,
            },
            ["sessions", "list"] | ["sessions"] => Command::Clients {
                which: "sessions",
                query: listing(CLIENT_FILTERS)?,
            },
            ["clients", "show", id] => none().map(|()| Command::ClientShow((*id).to_owned()))?,
            ["clients", "kick", id] => none().map(|()| Command::ClientKick((*id).to_owned()))?,
            ["subscriptions", id] => none().map(|()| Command::Subscriptions((*id).to_owned()))?,
            ["subscriptions", id, "add", topic, level] => {
                none()?;
                Command::Subscribe {
                    client: (*id).to_owned(),
                    topic: (*topic).to_owned(),
                    qos: qos(level)?,
                }
            }
            ["subscriptions", id, "remove", topic] => none().map(|()| Command::Unsubscribe {
                client: (*id).to_owned(),
                topic: (*topic).to_owned(),
            })?,
            ["retained", "list"] | ["retained"] => Command::RetainedList(listing(&[
                ("--topic", "topic"),
                ("--page", "page"),
                ("--limit", "limit"),
            ])?),
            ["retained", "show", topic] => {
                none().map(|()| Command::RetainedShow((*topic).to_owned()))?
            }
            ["retained", "delete", topic] => {
                none().map(|()| Command::RetainedDelete((*topic).to_owned()))?
            }
            ["publish", topic, payload] => {
                args.only(&["--qos", "--retain", "--base64"])?;
                Command::Publish {
                    topic: (*topic).to_owned(),
                    payload: (*payload).to_owned(),
                    base64: args.flag("--base64"),
                    qos: args.option("--qos").map_or(Ok(0), qos)?,
                    retain: args.flag("--retain"),
                }
            }
            ["plugins", "list"] | ["plugins"] => none().map(|()| Command::PluginsList)?,
            ["plugins", action @ ("load" | "unload" | "reload"), name] => {
                none().map(|()| Command::PluginAction {
                    action: (*action).to_owned(),
                    name: (*name).to_owned(),
                })?
            }
            ["plugins", "config", "show", name] => {
                none().map(|()| Command::ConfigShow((*name).to_owned()))?
            }
            ["plugins", "config", "check", first, second] => {
                none()?;
                let (name, file) = name_and_file(first, second);
                Command::ConfigCheck { name, file }
            }
            ["plugins", "config", "set", first, second] => {
                args.only(&["--unchecked"])?;
                let (name, file) = name_and_file(first, second);
                Command::ConfigSet {
                    name,
                    file,
                    unchecked: args.flag("--unchecked"),
                }
            }
            ["listeners"] => none().map(|()| Command::Listeners)?,
            ["config"] => none().map(|()| Command::Config)?,
            ["cluster", "status"] | ["cluster"] => none().map(|()| Command::ClusterStatus)?,
            ["persistence"] => none().map(|()| Command::Persistence)?,
            [] => return Err(usage(format!("no command given\n{USAGE}"))),
            words => {
                return Err(usage(format!(
                    "unknown command: {}\n{USAGE}",
                    words.join(" ")
                )))
            }
        };
        Ok(command)
    }
}

/// Where the API is, its token, and whether to speak TLS, from the
/// options and the configuration.
fn target(connection: Connection) -> Result<Target, CtlError> {
    let Connection {
        admin,
        config_file,
        token_file,
        cacert,
    } = connection;
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
        unreachable(format!(
            "{e} (the broker writes it at its start; give its admin.token_file with --config or --token-file)"
        ))
    })?;
    let tls = match cacert {
        Some(cafile) => Some(client::tls_config(&cafile).map_err(usage)?),
        None if config.admin.certfile.is_some() && admin.is_none() => {
            return Err(usage(
                "the admin API speaks HTTPS (admin.certfile): give the CA that signed its certificate with --cacert FILE",
            ))
        }
        None => None,
    };
    Ok(Target { addr, token, tls })
}

/// A configured `mqhost ctl`.
struct Ctl {
    target: Target,
    json: bool,
}

/// The API's answer to a request it took.
struct Answer {
    status: u16,
    body: Value,
}

impl Ctl {
    /// Sends one request; a refusal is an error with the API's message
    /// (and, with `--json`, its answer on standard output).
    fn request(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Answer, CtlError> {
        let answer = self.send(method, path, body)?;
        self.judge(answer)
    }

    /// Sends one request and reads its answer, whatever its status.
    fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Answer, CtlError> {
        let text = body.map(Value::to_string);
        let (status, answer) =
            client::send(&self.target, method, path, text.as_deref()).map_err(|e| {
                unreachable(format!(
                    "cannot reach the broker's admin API at {}: {e}",
                    self.target.addr
                ))
            })?;
        let body: Value = if status == 204 {
            Value::Null
        } else {
            serde_json::from_str(&answer).map_err(|_| {
                refused(format!(
                    "the admin API answered {status} with a body that is not JSON"
                ))
            })?
        };
        Ok(Answer { status, body })
    }

    /// The answer when it says done, else the error it says.
    fn judge(&self, answer: Answer) -> Result<Answer, CtlError> {
        if (200..300).contains(&answer.status) {
            return Ok(answer);
        }
        let message = answer.body["error"]
            .as_str()
            .unwrap_or("request failed")
            .to_owned();
        let mut error = match answer.status {
            // The token, or the address the API is known by.
            401 => unreachable(format!("authentication failed: {message}")),
            421 => unreachable(message),
            _ => refused(message),
        };
        if self.json {
            error.output = pretty(&answer.body);
        }
        Err(error)
    }

    fn get(&self, path: &str) -> Result<Value, CtlError> {
        self.request("GET", path, None).map(|answer| answer.body)
    }

    /// The answer, as JSON when asked, else as `human` writes it.
    fn show(&self, body: &Value, human: impl FnOnce(&Value) -> String) -> String {
        if self.json {
            pretty(body)
        } else {
            human(body)
        }
    }

    /// A change made: `done` for people; with `--json`, the answer (or
    /// `{"ok": true}` for one without a body).
    fn done(&self, answer: &Answer, done: String) -> String {
        if !self.json {
            return format!("{done}\n");
        }
        if answer.status == 204 {
            pretty(&json!({ "ok": true }))
        } else {
            pretty(&answer.body)
        }
    }

    fn run(&self, command: Command) -> Result<String, CtlError> {
        match command {
            Command::Status => {
                let body = self.get("/api/v1/status")?;
                Ok(self.show(&body, fields))
            }
            Command::Clients { which, query } => {
                let body = self.get(&format!("/api/v1/{which}{}", query_string(&query)))?;
                Ok(self.show(&body, |body| clients_table(body, which)))
            }
            Command::ClientShow(id) => {
                let body = self.get(&format!("/api/v1/clients/{}", percent_encode(&id)))?;
                Ok(self.show(&body, fields))
            }
            Command::ClientKick(id) => {
                let path = format!("/api/v1/clients/{}", percent_encode(&id));
                let answer = self.request("DELETE", &path, None)?;
                Ok(self.done(&answer, format!("client {id} kicked")))
            }
            Command::Subscriptions(id) => {
                let path = format!("/api/v1/clients/{}/subscriptions", percent_encode(&id));
                let body = self.get(&path)?;
                Ok(self.show(&body, subscriptions_table))
            }
            Command::Subscribe { client, topic, qos } => {
                let path = format!("/api/v1/clients/{}/subscribe", percent_encode(&client));
                let answer =
                    self.request("POST", &path, Some(&json!({"topic": topic, "qos": qos})))?;
                Ok(self.done(
                    &answer,
                    format!("{client} subscribed to {topic} at QoS {qos}"),
                ))
            }
            Command::Unsubscribe { client, topic } => {
                let path = format!("/api/v1/clients/{}/unsubscribe", percent_encode(&client));
                let answer = self.request("POST", &path, Some(&json!({"topic": topic})))?;
                Ok(self.done(&answer, format!("{client} unsubscribed from {topic}")))
            }
            Command::RetainedList(query) => {
                let body = self.get(&format!("/api/v1/retained{}", query_string(&query)))?;
                Ok(self.show(&body, retained_table))
            }
            Command::RetainedShow(topic) => {
                let body = self.get(&format!("/api/v1/retained/{}", percent_encode(&topic)))?;
                Ok(self.show(&body, retained_message))
            }
            Command::RetainedDelete(topic) => {
                let path = format!("/api/v1/retained/{}", percent_encode(&topic));
                let answer = self.request("DELETE", &path, None)?;
                Ok(self.done(&answer, format!("retained message on {topic} deleted")))
            }
            Command::Publish {
                topic,
                payload,
                base64,
                qos,
                retain,
            } => {
                let body = json!({
                    "topic": topic,
                    "payload": payload,
                    "encoding": if base64 { "base64" } else { "plain" },
                    "qos": qos,
                    "retain": retain,
                });
                let answer = self.request("POST", "/api/v1/publish", Some(&body))?;
                let id = answer.body["id"].as_str().unwrap_or("?");
                let receivers = answer.body["receivers"].as_u64().unwrap_or(0);
                Ok(self.done(
                    &answer,
                    format!("published {id} to {topic} ({receivers} receivers)"),
                ))
            }
            Command::PluginsList => {
                let body = self.get("/api/v1/plugins")?;
                Ok(self.show(&body, plugins_table))
            }
            Command::PluginAction { action, name } => {
                let path = format!("/api/v1/plugins/{}/{action}", percent_encode(&name));
                let answer = self.request("POST", &path, None)?;
                let done = match action.as_str() {
                    "load" => "loaded",
                    "unload" => "unloaded",
                    _ => "reloaded",
                };
                Ok(self.done(&answer, format!("plugin {name} {done}")))
            }
            Command::ConfigShow(name) => {
                let body =
                    self.get(&format!("/api/v1/plugins/{}/config", percent_encode(&name)))?;
                Ok(self.show(&body, |body| {
                    let text = body["text"].as_str().unwrap_or_default().to_owned();
                    if body["exists"] == false {
                        format!(
                            "## {} does not exist\n",
                            body["path"].as_str().unwrap_or("?")
                        )
                    } else {
                        text
                    }
                }))
            }
            Command::ConfigCheck { name, file } => {
                let text = read_file(&file)?;
                let path = format!("/api/v1/plugins/{}/config/validate", percent_encode(&name));
                let answer = self.request("POST", &path, Some(&json!({ "text": text })))?;
                self.checked(
                    &answer,
                    &name,
                    &file,
                    format!("{file}: plugin {name} takes it"),
                )
            }
            Command::ConfigSet {
                name,
                file,
                unchecked,
            } => {
                let text = read_file(&file)?;
                let path = format!("/api/v1/plugins/{}/config", percent_encode(&name));
                let body = json!({ "text": text, "unchecked": unchecked });
                let answer = self.send("PUT", &path, Some(&body))?;
                if matches!(answer.status, 422 | 501) {
                    // Refused by the plugin, or not checkable: the answer
                    // says why, as a check's does.
                    return self.checked(&answer, &name, &file, String::new());
                }
                let answer = self.judge(answer)?;
                let written = answer.body["path"].as_str().unwrap_or("?").to_owned();
                let mut done = format!(
                    "{written} written; plugin {name} is {}",
                    answer.body["state"].as_str().unwrap_or("not running")
                );
                if let Some(error) = answer.body["last_config_error"].as_str() {
                    done.push_str(&format!("\nbut it refused the new configuration: {error}"));
                }
                self.checked(&answer, &name, &file, done)
            }
            Command::Listeners => {
                let body = self.get("/api/v1/listeners")?;
                Ok(self.show(&body, listeners_table))
            }
            Command::ClusterStatus => {
                let body = self.get("/api/v1/cluster")?;
                Ok(self.show(&body, cluster_table))
            }
            Command::Persistence => {
                let body = self.get("/api/v1/persistence")?;
                Ok(self.show(&body, persistence_text))
            }
            Command::Config => {
                let body = self.get("/api/v1/config")?;
                Ok(self.show(&body, |body| {
                    body.as_object()
                        .into_iter()
                        .flatten()
                        .map(|(key, value)| format!("{key} = {}\n", value.as_str().unwrap_or("")))
                        .collect()
                }))
            }
        }
    }

    /// A check's outcome: warnings, and a refusal (exit 1) when the
    /// plugin refused the text or cannot check it.
    fn checked(
        &self,
        answer: &Answer,
        name: &str,
        file: &str,
        done: String,
    ) -> Result<String, CtlError> {
        let body = &answer.body;
        let warnings: String = body["warnings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|w| format!("warning: {w}\n"))
            .collect();
        match body["ok"].as_bool() {
            Some(true) => Ok(if self.json {
                pretty(body)
            } else {
                format!("{done}\n{warnings}")
            }),
            Some(false) => {
                let errors: Vec<String> = body["errors"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|e| config_error(file, e))
                    .collect();
                Err(CtlError {
                    message: format!("plugin {name} refuses it:\n{}", errors.join("\n")),
                    output: if self.json { pretty(body) } else { warnings },
                    status: EXIT_REFUSED,
                })
            }
            None => Err(CtlError {
                message: format!("plugin {name} cannot check a configuration without applying it"),
                output: if self.json {
                    pretty(body)
                } else {
                    String::new()
                },
                status: EXIT_REFUSED,
            }),
        }
    }
}

/// `file:line: key: message`, as the broker logs it.
fn config_error(file: &str, error: &Value) -> String {
    let mut text = file.to_owned();
    if let Some(line) = error["line"].as_u64().filter(|&l| l > 0) {
        text.push_str(&format!(":{line}"));
    }
    if let Some(key) = error["key"].as_str().filter(|k| !k.is_empty()) {
        text.push_str(&format!(": {key}"));
    }
    text.push_str(&format!(": {}", error["message"].as_str().unwrap_or("")));
    text
}

/// A file's text; `-` is standard input.
fn read_file(file: &str) -> Result<String, CtlError> {
    let read = if file == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map(|_| text)
    } else {
        std::fs::read_to_string(Path::new(file))
    };
    read.map_err(|e| usage(format!("cannot read {file}: {e}")))
}

fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

fn query_string(params: &[(&str, String)]) -> String {
    let pairs: Vec<String> = params
        .iter()
        .map(|(name, value)| format!("{name}={}", percent_encode(value)))
        .collect();
    if pairs.is_empty() {
        String::new()
    } else {
        format!("?{}", pairs.join("&"))
    }
}

/// A JSON value as a table cell.
fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(text) if text.is_empty() => "-".to_owned(),
        Value::String(text) => text.clone(),
        Value::Bool(true) => "yes".to_owned(),
        Value::Bool(false) => "no".to_owned(),
        other => other.to_string(),
    }
}

/// Columns as wide as their widest cell; the last one unpadded.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, text) in widths.iter_mut().zip(row) {
            *width = (*width).max(text.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut out = String::new();
        for (i, (text, width)) in cells.iter().zip(&widths).enumerate() {
            if i == last {
                out.push_str(text);
            } else {
                out.push_str(text);
                out.push_str(&" ".repeat(width - text.chars().count() + 2));
            }
        }
        out.trim_end().to_owned() + "\n"
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// `key: value` lines, keys aligned, objects and lists as JSON.
fn fields(body: &Value) -> String {
    let Some(fields) = body.as_object() else {
        return pretty(body);
    };
    let width = fields.keys().map(|k| k.len()).max().unwrap_or(0);
    fields
        .iter()
        .map(|(key, value)| format!("{key:<width$}  {}\n", cell(value)))
        .collect()
}

/// The paging line under a listing.
fn paging(meta: &Value, what: &str) -> String {
    let count = meta["count"].as_u64().unwrap_or(0);
    let limit = meta["limit"].as_u64().unwrap_or(1).max(1);
    let pages = count.div_ceil(limit).max(1);
    format!(
        "{count} {what}, page {} of {pages}\n",
        meta["page"].as_u64().unwrap_or(1)
    )
}

fn clients_table(body: &Value, which: &str) -> String {
    let rows: Vec<Vec<String>> = body["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            vec![
                cell(&c["clientid"]),
                cell(&c["username"]),
                format!("{}:{}", cell(&c["ip_address"]), cell(&c["port"])),
                cell(&c["listener"]),
                cell(&c["proto_name"]),
                cell(&c["connected"]),
                cell(&c["subscriptions_cnt"]),
                cell(&c["inflight_cnt"]),
                cell(&c["mqueue_len"]),
                cell(&c["connected_at"]),
            ]
        })
        .collect();
    let mut out = table(
        &[
            "CLIENTID",
            "USERNAME",
            "ADDRESS",
            "LISTENER",
            "MQTT",
            "CONNECTED",
            "SUBS",
            "INFLIGHT",
            "QUEUED",
            "CONNECTED_AT",
        ],
        &rows,
    );
    out.push_str(&paging(&body["meta"], which));
    out
}

fn subscriptions_table(body: &Value) -> String {
    let rows: Vec<Vec<String>> = body
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            ["topic", "qos", "nl", "rap", "rh", "subid"]
                .iter()
                .map(|k| cell(&s[*k]))
                .collect()
        })
        .collect();
    table(&["TOPIC", "QOS", "NL", "RAP", "RH", "SUBID"], &rows)
}

/// The cluster's nodes, then this node's other figures.
fn cluster_table(body: &Value) -> String {
    let rows: Vec<Vec<String>> = body["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|node| {
            let name = cell(&node["name"]);
            let marked = if node["this_node"] == true {
                format!("{name} (this node)")
            } else {
                name
            };
            let mut row = vec![marked, cell(&node["status"])];
            row.extend(["clients", "routes"].iter().map(|k| cell(&node[*k])));
            row
        })
        .collect();
    let mut out = format!(
        "cluster {} on Redis {}\n",
        cell(&body["cluster"]),
        cell(&body["redis"])
    );
    out.push_str(&table(&["NODE", "STATUS", "CLIENTS", "ROUTES"], &rows));
    let mut rest = body.clone();
    if let Some(fields) = rest.as_object_mut() {
        for key in ["cluster", "redis", "nodes"] {
            fields.remove(key);
        }
    }
    out.push_str(&fields(&rest));
    out
}

/// The store: on or off, where, its state in words, then its figures.
fn persistence_text(body: &Value) -> String {
    if body["enabled"] != true {
        return "persistence off: nothing is kept on disk; sessions and retained messages \
                last until the broker stops\n"
            .to_owned();
    }
    let mut out = format!(
        "persistence on, in {} (sync {})\n",
        cell(&body["dir"]),
        cell(&body["sync"])
    );
    out.push_str(&match body["state"].as_str() {
        Some("ok") => "state: ok\n".to_owned(),
        _ => format!(
            "state: REFUSING WRITES since {}: {}\n",
            cell(&body["refusing_writes_since"]),
            cell(&body["last_error"])
        ),
    });
    let mut rest = body.clone();
    if let Some(fields) = rest.as_object_mut() {
        for key in ["enabled", "dir", "sync", "state", "refusing_writes_since"] {
            fields.remove(key);
        }
    }
    out.push_str(&fields(&rest));
    out
}

fn retained_table(body: &Value) -> String {
    let rows: Vec<Vec<String>> = body["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            [
                "topic",
                "qos",
                "payload_size",
                "from_clientid",
                "published_at",
            ]
            .iter()
            .map(|k| cell(&m[*k]))
            .collect()
        })
        .collect();
    let mut out = table(&["TOPIC", "QOS", "SIZE", "FROM", "PUBLISHED_AT"], &rows);
    out.push_str(&paging(&body["meta"], "retained messages"));
    out
}

fn retained_message(body: &Value) -> String {
    let mut summary = body.clone();
    if let Some(fields) = summary.as_object_mut() {
        fields.remove("payload");
        fields.remove("payload_utf8");
    }
    let mut out = self::fields(&summary);
    // Text a terminal shows as it is: no control characters but spacing.
    let printable = |text: &&str| {
        !text
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r'))
    };
    match body["payload_utf8"].as_str().filter(printable) {
        Some(text) => out.push_str(&format!("payload (text):\n{text}\n")),
        None => out.push_str(&format!(
            "payload (base64):\n{}\n",
            body["payload"].as_str().unwrap_or_default()
        )),
    }
    out
}

fn listeners_table(body: &Value) -> String {
    let rows: Vec<Vec<String>> = body
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| {
            vec![
                cell(&l["id"]),
                cell(&l["bind"]),
                format!(
                    "{}/{}",
                    cell(&l["current_connections"]),
                    cell(&l["max_connections"])
                ),
                cell(&l["accepted"]),
                cell(&l["refused_over_limit"]),
                cell(&l["refused_over_rate"]),
            ]
        })
        .collect();
    table(
        &[
            "LISTENER",
            "BIND",
            "CONNECTIONS",
            "ACCEPTED",
            "OVER_LIMIT",
            "OVER_RATE",
        ],
        &rows,
    )
}

fn plugins_table(body: &Value) -> String {
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
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, CtlError> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let (_, parsed) = split(&args)?;
        Command::parse(&parsed)
    }

    #[test]
    fn commands_and_their_options_are_read() {
        let Command::Clients { which, query } =
            parse(&["clients", "list", "--username", "bob", "--limit", "5"]).unwrap()
        else {
            panic!()
        };
        assert_eq!(which, "clients");
        assert_eq!(
            query,
            vec![("username", "bob".to_owned()), ("limit", "5".to_owned())]
        );
        let Command::Publish {
            payload,
            qos,
            retain,
            ..
        } = parse(&["publish", "t", "--qos", "1", "--retain", "--", "-1"]).unwrap()
        else {
            panic!()
        };
        assert_eq!((payload.as_str(), qos, retain), ("-1", 1, true));
        let Command::ConfigSet { name, file, .. } =
            parse(&["plugins", "config", "set", "./redis.conf", "redis"]).unwrap()
        else {
            panic!()
        };
        assert_eq!((name.as_str(), file.as_str()), ("redis", "./redis.conf"));
        assert!(matches!(parse(&["persistence"]), Ok(Command::Persistence)));
        assert!(parse(&["persistence", "--limit", "1"]).is_err());
    }

    #[test]
    fn a_wrong_command_line_is_a_usage_error() {
        for args in [
            &["clients"][..],
            &["clients", "kick"],
            &["clients", "kick", "a", "b"],
            &["clients", "show", "a", "--retain"],
            &["publish", "t", "x", "--qos", "3"],
            &["subscriptions", "c", "add", "t", "x"],
            &["retained", "list", "--clientid", "x"],
            &["--bogus", "status"],
            &["status", "--limit"],
            &[],
        ] {
            let error = parse(args).unwrap_err();
            assert_eq!(error.status, EXIT_USAGE, "{args:?}");
        }
    }

    #[test]
    fn tables_fit_their_widest_cell() {
        let text = table(&["A", "LONG"], &[vec!["wide cell".into(), "x".into()]]);
        assert_eq!(text, "A          LONG\nwide cell  x\n");
    }

    #[test]
    fn query_strings_are_encoded() {
        assert_eq!(query_string(&[]), "");
        assert_eq!(
            query_string(&[("clientid", "a b/c".into()), ("page", "2".into())]),
            "?clientid=a%20b%2Fc&page=2"
        );
    }
}
