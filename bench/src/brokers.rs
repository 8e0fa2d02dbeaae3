//! The brokers under test: how each is configured and started on a free
//! loopback port, with a TLS or WebSocket listener beside the plain one
//! when the scenario uses one, and what the bench reads from its process
//! (resident memory, CPU time).

use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::access;
use crate::certs::Certs;
use crate::client::Error;
use crate::scrape;
use crate::transport::{Endpoint, Transport};

/// Settings both brokers get, so neither is throttled by a default the
/// other does not have.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// QoS 1/2 messages in flight to one subscriber.
    pub inflight: u32,
    /// Messages mqhost queues per session beyond the window (0: no
    /// limit); it holds publishers back before its queue is full.
    pub mqhost_queued: u32,
    /// The same for Mosquitto, which has no flow control towards
    /// publishers: any bound a fast publisher outruns drops messages.
    pub mosquitto_queued: u32,
}

/// Which broker, and how.
#[derive(Debug, Clone)]
pub enum Flavour {
    /// `mqhost` with these plugin libraries enabled (configuration text
    /// for each) and these extra `--set` overrides.
    Mqhost {
        plugins: Vec<(PathBuf, String)>,
        sets: Vec<(String, String)>,
    },
    /// Mosquitto, with `persistence true` (its database in the broker's
    /// directory, saved when it stops and every `autosave_interval`) or
    /// `persistence false`.
    Mosquitto { persistent: bool },
}

/// A broker as the report names it.
#[derive(Debug, Clone)]
pub struct BrokerSpec {
    /// Name in tables and JSON: `mqhost`, `mosquitto`, `mqhost+noop`.
    pub name: String,
    pub flavour: Flavour,
    /// With the bench's password and ACL files ([`access`]) and anonymous
    /// clients refused; without, anonymous clients are let in and nothing
    /// is checked.
    pub access: bool,
    /// mqhost only: with its admin API on, `GET /metrics` scraped every
    /// second while the load runs ([`crate::scrape`]).
    pub scraped: bool,
    /// How clients reach it: over TLS or WebSocket, through a listener of
    /// that kind beside the plain one.
    pub transport: Transport,
}

/// Where to find the programs.
#[derive(Debug, Clone)]
pub struct Programs {
    pub mqhost: PathBuf,
    pub mosquitto: PathBuf,
}

/// A running broker, killed when dropped.
pub struct Running {
    child: Child,
    /// How it was started, to start it again on the same state.
    program: PathBuf,
    args: Vec<String>,
    /// Where the scenario's clients connect, and how.
    pub endpoint: Endpoint,
    /// Where to scrape it, when it is to be scraped.
    pub scrape: Option<scrape::Target>,
    dir: PathBuf,
}

/// A loopback port nobody listens on now: bound, read and let go, for a
/// server to take right after.
pub fn free_port() -> Result<u16, Error> {
    Ok(free_ports::<1>()?[0])
}

/// `N` different free loopback ports, as [`free_port`].
fn free_ports<const N: usize>() -> Result<[u16; N], Error> {
    let mut held = Vec::with_capacity(N);
    let mut ports = [0; N];
    for port in &mut ports {
        let listener =
            TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
        *port = listener.local_addr().map_err(|e| e.to_string())?.port();
        held.push(listener);
    }
    Ok(ports)
}

/// The listener a scenario's clients use besides the plain one: its
/// port, its transport, and for TLS the certificate both brokers serve.
#[derive(Debug, Clone, Copy)]
struct Extra<'a> {
    port: u16,
    transport: Transport,
    certs: Option<&'a Certs>,
}

impl BrokerSpec {
    /// Starts the broker in a fresh directory under `work`, with a
    /// listener for its transport (TLS serving `certs`) besides the plain
    /// one, and waits until both accept connections.
    pub fn start(
        &self,
        programs: &Programs,
        limits: Limits,
        work: &Path,
        certs: Option<&Certs>,
    ) -> Result<Running, Error> {
        let transport = self.transport;
        let [port, extra_port, admin_port] = free_ports()?;
        let admin: SocketAddr = ([127, 0, 0, 1], admin_port).into();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let extra = (transport != Transport::Tcp).then_some(Extra {
            port: extra_port,
            transport,
            certs,
        });
        let served: SocketAddr = ([127, 0, 0, 1], extra.map_or(port, |e| e.port)).into();
        let endpoint = match transport {
            Transport::Tcp => Endpoint::tcp(served),
            Transport::Tls => {
                Endpoint::tls(served, &certs.ok_or("TLS without certificates")?.cert)?
            }
            Transport::WebSocket => Endpoint::websocket(served),
        };
        let dir = work.join(format!("{}-{port}", self.name.replace('+', "-")));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let files = if self.access {
            Some(access::write_files(&dir, &programs.mqhost)?)
        } else {
            None
        };
        let command = match &self.flavour {
            Flavour::Mqhost { plugins, sets } => {
                let plugin_dir = dir.join("plugins");
                let etc_dir = dir.join("etc");
                fs::create_dir_all(&plugin_dir).map_err(|e| e.to_string())?;
                fs::create_dir_all(&etc_dir).map_err(|e| e.to_string())?;
                // mqhost refuses a plugins directory or library its group
                // or others may write to: whatever the umask, they may not.
                let mode = || fs::Permissions::from_mode(0o755);
                fs::set_permissions(&plugin_dir, mode()).map_err(|e| e.to_string())?;
                for (library, config) in plugins {
                    let file = library.file_name().ok_or("plugin path has no file name")?;
                    let installed = plugin_dir.join(file);
                    fs::copy(library, &installed)
                        .map_err(|e| format!("{}: {e}", library.display()))?;
                    fs::set_permissions(&installed, mode()).map_err(|e| e.to_string())?;
                    let name = plugin_name(library);
                    fs::write(etc_dir.join(format!("{name}.conf")), config)
                        .map_err(|e| e.to_string())?;
                }
                let mut all: Vec<(String, String)> = vec![
                    ("listener.tcp.default".into(), addr.to_string()),
                    ("admin.listener".into(), "off".into()),
                    ("log.level".into(), "warn".into()),
                    ("sys.interval".into(), "0".into()),
                    ("mqtt.max_inflight".into(), limits.inflight.to_string()),
                    ("mqtt.receive_maximum".into(), limits.inflight.to_string()),
                    // The publishers speak 3.1.1, which cannot be told a
                    // Receive Maximum: their window of QoS 2 PUBLISHes
                    // awaiting PUBREL must fit (Mosquitto has no such bound).
                    ("mqtt.max_awaiting_rel".into(), limits.inflight.to_string()),
                    (
                        "mqtt.max_queued_messages".into(),
                        limits.mqhost_queued.to_string(),
                    ),
                    ("plugins.dir".into(), plugin_dir.display().to_string()),
                    // Its own store: nothing left from an earlier run.
                    (
                        "persistence.dir".into(),
                        dir.join("data").display().to_string(),
                    ),
                    ("plugins.etc_dir".into(), etc_dir.display().to_string()),
                ];
                if let Some(files) = &files {
                    all.extend([
                        (
                            "auth.password_file".into(),
                            files.password_file.display().to_string(),
                        ),
                        ("acl.file".into(), files.acl_file.display().to_string()),
                        ("mqtt.allow_anonymous".into(), "off".into()),
                    ]);
                }
                if self.scraped {
                    // The broker makes the token file at its first start.
                    all.extend([
                        ("admin.listener".into(), admin.to_string()),
                        (
                            "admin.token_file".into(),
                            dir.join("admin.token").display().to_string(),
                        ),
                    ]);
                }
                all.extend(mqhost_listener(extra)?);
                all.extend(sets.iter().cloned());
                let mut args = vec!["--config".to_owned(), "/dev/null".to_owned()];
                for (key, value) in all {
                    args.extend(["--set".to_owned(), format!("{key}={value}")]);
                }
                (programs.mqhost.clone(), args)
            }
            Flavour::Mosquitto { persistent } => {
                let config = dir.join("mosquitto.conf");
                let store = persistent.then_some(dir.as_path());
                let text = mosquitto_config(port, limits, files.as_ref(), store)
                    + &mosquitto_listener(extra)?;
                fs::write(&config, text).map_err(|e| e.to_string())?;
                let args = vec!["-c".to_owned(), config.display().to_string()];
                (programs.mosquitto.clone(), args)
            }
        };
        let (program, args) = command;
        let child = spawn(&program, &args, &dir)?;
        let mut running = Running {
            child,
            program,
            args,
            endpoint,
            scrape: None,
            dir,
        };
        running.wait_ready(&self.name, addr)?;
        running.wait_ready(&self.name, served)?;
        if self.scraped && matches!(self.flavour, Flavour::Mqhost { .. }) {
            running.wait_ready(&self.name, admin)?;
            let file = running.dir.join("admin.token");
            let token =
                fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            running.scrape = Some(scrape::Target {
                admin,
                token: token.trim().to_owned(),
            });
        }
        Ok(running)
    }
}

/// The certificates of a TLS listener.
fn tls_certs<'a>(extra: Extra<'a>) -> Result<&'a Certs, Error> {
    extra
        .certs
        .ok_or_else(|| "a TLS listener needs certificates".to_owned())
}

/// mqhost's settings for the scenario's listener, if it has one.
fn mqhost_listener(extra: Option<Extra>) -> Result<Vec<(String, String)>, Error> {
    let Some(extra) = extra else {
        return Ok(Vec::new());
    };
    let addr = format!("127.0.0.1:{}", extra.port);
    Ok(match extra.transport {
        Transport::Tcp => Vec::new(),
        Transport::Tls => {
            let certs = tls_certs(extra)?;
            vec![
                ("listener.ssl.bench".into(), addr),
                (
                    "listener.ssl.bench.certfile".into(),
                    certs.cert.display().to_string(),
                ),
                (
                    "listener.ssl.bench.keyfile".into(),
                    certs.key.display().to_string(),
                ),
            ]
        }
        // Its path is the default, /mqtt.
        Transport::WebSocket => vec![("listener.ws.bench".into(), addr)],
    })
}

/// Mosquitto's lines for the scenario's listener, if it has one: they
/// follow the plain listener's, which Mosquitto 2.0 needs beside a
/// WebSocket one.
fn mosquitto_listener(extra: Option<Extra>) -> Result<String, Error> {
    let Some(extra) = extra else {
        return Ok(String::new());
    };
    let listener = format!("listener {} 127.0.0.1\n", extra.port);
    Ok(match extra.transport {
        Transport::Tcp => String::new(),
        Transport::Tls => {
            let certs = tls_certs(extra)?;
            format!(
                "{listener}certfile {}\nkeyfile {}\n",
                certs.cert.display(),
                certs.key.display()
            )
        }
        Transport::WebSocket => format!("{listener}protocol websockets\n"),
    })
}

/// A plugin's NAME from its library file: `libmqhost_noop.so` is `noop`.
pub fn plugin_name(library: &Path) -> String {
    let stem = library
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    stem.trim_start_matches("lib")
        .trim_start_matches("mqhost_")
        .to_owned()
}

/// The name of the user the bench runs as (`root` if `id` cannot tell).
fn current_user() -> String {
    Command::new("id")
        .arg("-un")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "root".to_owned())
}

/// Starts `program` with `args`, its output appended to `dir`/broker.log.
fn spawn(program: &Path, args: &[String], dir: &Path) -> Result<Child, Error> {
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("broker.log"))
        .map_err(|e| e.to_string())?;
    Command::new(program)
        .args(args)
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", program.display()))
}

/// Mosquitto's configuration: loopback only, windows and queues as large
/// as mqhost's; anonymous clients, or, with `files`, those files and
/// anonymous clients refused; persistence in `store`, or none.
pub fn mosquitto_config(
    port: u16,
    limits: Limits,
    files: Option<&access::Files>,
    store: Option<&Path>,
) -> String {
    let access = match files {
        None => "allow_anonymous true\n".to_owned(),
        Some(files) => format!(
            "allow_anonymous false\n\
             password_file {}\n\
             acl_file {}\n",
            files.password_file.display(),
            files.acl_file.display()
        ),
    };
    let persistence = match store {
        None => "persistence false\n".to_owned(),
        // Started as root, Mosquitto would become its own user, which may
        // not write in the bench's directory; mqhost runs as the bench's
        // user too.
        Some(dir) => format!(
            "persistence true\n\
             persistence_location {}/\n\
             user {}\n",
            dir.display(),
            current_user()
        ),
    };
    format!(
        "# Written by mqhost-bench.\n\
         listener {port} 127.0.0.1\n\
         {persistence}\
         {access}\
         max_inflight_messages {inflight}\n\
         max_queued_messages {queued}\n\
         max_queued_bytes 0\n\
         set_tcp_nodelay true\n\
         log_dest stderr\n\
         log_type error\n\
         log_type warning\n",
        inflight = limits.inflight,
        queued = limits.mosquitto_queued,
    )
}

impl Running {
    fn wait_ready(&mut self, name: &str, addr: SocketAddr) -> Result<(), Error> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = fs::read_to_string(self.dir.join("broker.log")).unwrap_or_default();
                return Err(format!(
                    "{name} exited ({status}) before accepting connections:\n{log}"
                ));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!("{name} did not listen on {addr} within 20 s"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the broker, with SIGKILL or, `graceful`, SIGTERM (and waits
    /// for it to exit), then starts it again on what it left: how long
    /// from the start until it accepted connections again.
    pub fn restart(&mut self, name: &str, graceful: bool) -> Result<Duration, Error> {
        if graceful {
            let pid = self.child.id().to_string();
            let status = Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .map_err(|e| format!("kill: {e}"))?;
            if !status.success() {
                return Err(format!("kill -TERM {pid} failed"));
            }
        } else {
            self.child.kill().map_err(|e| format!("kill: {e}"))?;
        }
        self.child.wait().map_err(|e| e.to_string())?;
        let started = Instant::now();
        self.child = spawn(&self.program, &self.args, &self.dir)?;
        let addr = self.endpoint.addr;
        self.wait_ready(name, addr)?;
        Ok(started.elapsed())
    }

    /// Bytes the broker's directory holds besides its log: its store.
    pub fn disk_bytes(&self) -> u64 {
        fn walk(dir: &Path) -> u64 {
            let Ok(entries) = fs::read_dir(dir) else {
                return 0;
            };
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    _ if e.file_name() == "broker.log" => 0,
                    Ok(m) if m.is_dir() => walk(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        }
        walk(&self.dir)
    }

    /// The broker's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The broker's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("broker.log")).unwrap_or_default()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Resident memory of process `pid` in KiB (`VmRSS`).
pub fn rss_kib(pid: u32) -> Result<u64, Error> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| e.to_string())?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("no VmRSS for process {pid}"))
}

/// CPU time (user + system) process `pid` has used, in seconds.
pub fn cpu_seconds(pid: u32) -> Result<f64, Error> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| e.to_string())?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of stat; 12 and 13 here.
    let per_second = clock_ticks();
    Ok((ticks(11) + ticks(12)) as f64 / per_second)
}

/// USER_HZ: 100 on every Linux this runs on (getconf CLK_TCK).
fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}
