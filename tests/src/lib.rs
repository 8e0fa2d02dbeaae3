//! Test harness: starts the real `mqhost` binary on an ephemeral port and
//! gives tests clients to talk to it.
//!
//! - [`Broker`]: a running `mqhost` process, its address and its log.
//! - [`raw`]: a byte-level MQTT client built on the codec, for tests that
//!   check exact packets, reason codes and protocol violations.
//! - [`plugins`]: plugin directories for a test, the plugin libraries the
//!   workspace built, and plugins built outside the workspace.
//! - [`redis`]: private `redis-server`s, sentinel and cluster topologies.
//! - [`certs`]: a CA and certificates it signed, for TLS tests.
//! - [`metrics`]: `GET /metrics` fetched, parsed and checked as a
//!   scraper would.
//! - [`mosquitto`]: a private Mosquitto, the peer some tests compare with.
//! - [`ws`]: MQTT over WebSocket: a byte-level client, and paho-mqtt.
//! - [`admin`]: requests to the admin API written byte for byte.
//! - [`tmpfs`]: a small tmpfs of a test's own, a disk that fills up.
//!
//! The binary is looked up next to the test executable (`target/<profile>/
//! mqhost`), so `cargo build` must have built it: `scripts/test` does.

pub mod admin;
pub mod certs;
pub mod metrics;
pub mod mosquitto;
pub mod plugins;
pub mod raw;
pub mod redis;
pub mod tmpfs;
pub mod ws;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The directory cargo built into: `target/<profile>`.
pub fn build_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/e2e-<hash> -> target/<profile>
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("test executable lives in target/<profile>/deps")
        .to_path_buf()
}

/// Path of the `mqhost` binary built alongside the tests.
pub fn mqhost_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("MQHOST_BIN") {
        return PathBuf::from(path);
    }
    let binary = build_dir().join("mqhost");
    assert!(
        binary.exists(),
        "{} is missing: build it first (`cargo build -p mqhost`, which scripts/test does)",
        binary.display()
    );
    binary
}

/// The log lines a broker wrote, shared with the thread that reads them.
#[derive(Default)]
struct Log {
    lines: Mutex<Vec<String>>,
    grew: Condvar,
}

/// Resident memory of a process, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// Resident now (`VmRSS`).
    pub resident_kib: u64,
    /// The most that was ever resident (`VmHWM`): what a burst cost even
    /// once it was freed.
    pub peak_kib: u64,
}

/// A running `mqhost` process, killed when dropped.
pub struct Broker {
    child: Child,
    addr: SocketAddr,
    admin: Option<SocketAddr>,
    /// The admin API's token file: the broker's private one unless the
    /// test set `admin.token_file`.
    token_file: PathBuf,
    log: Arc<Log>,
    /// The broker's own `TMPDIR`, where it may copy plugin libraries
    /// before loading them: removed after the process is killed, which
    /// gives it no chance to remove its copies itself.
    _tmp: plugins::TempDir,
    /// Where its admin token goes.
    _state: plugins::TempDir,
    /// The `TMPDIR` it runs with: its own, or one a test gave.
    tmp_dir: PathBuf,
}

impl Broker {
    /// Starts `mqhost` with the default configuration on a free loopback
    /// port.
    pub fn start() -> Broker {
        Broker::start_with(&[])
    }

    /// Starts `mqhost` with extra `--set KEY=VALUE` overrides.
    pub fn start_with(sets: &[(&str, &str)]) -> Broker {
        Broker::start_under(&[], sets)
    }

    /// Starts `mqhost` through a launcher command (for example `prlimit`
    /// with its options), with extra `--set KEY=VALUE` overrides.
    pub fn start_under(launcher: &[&str], sets: &[(&str, &str)]) -> Broker {
        Broker::launch(launcher, &[], sets)
    }

    /// Starts `mqhost` through `launcher` (may be empty) with environment
    /// variables `env` (a `TMPDIR` there replaces the broker's own) and
    /// `--set` overrides `sets`.
    fn launch(launcher: &[&str], env: &[(&str, &str)], sets: &[(&str, &str)]) -> Broker {
        let mut command = match launcher.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(mqhost_binary());
                command
            }
            None => Command::new(mqhost_binary()),
        };
        // A private empty config: the tests state every setting they rely on.
        command.args(["--config", "/dev/null"]);
        let tmp = plugins::TempDir::new();
        // Apart from TMPDIR, which tests inspect for what the broker left.
        let state = plugins::TempDir::new();
        let token_file = state.path().join("data/admin.token");
        let mut all: Vec<(String, String)> = vec![
            ("listener.tcp.default".into(), "127.0.0.1:0".into()),
            ("admin.listener".into(), "127.0.0.1:0".into()),
            ("admin.token_file".into(), token_file.display().to_string()),
            // Its own store: brokers run side by side.
            (
                "persistence.dir".into(),
                state.path().join("data").display().to_string(),
            ),
            ("log.level".into(), "debug".into()),
            // No stray plugins from the current directory.
            (
                "plugins.dir".into(),
                "/nonexistent/mqhost-test-plugins".into(),
            ),
            (
                "plugins.etc_dir".into(),
                "/nonexistent/mqhost-test-etc".into(),
            ),
        ];
        all.extend(sets.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        for (key, value) in &all {
            command.arg("--set").arg(format!("{key}={value}"));
        }
        let tmp_dir = env
            .iter()
            .find(|(key, _)| *key == "TMPDIR")
            .map_or_else(|| tmp.path().to_path_buf(), |(_, dir)| PathBuf::from(dir));
        // The last word on the token file is the broker's.
        let token_file = all
            .iter()
            .rev()
            .find(|(key, _)| key == "admin.token_file")
            .map_or(token_file, |(_, value)| PathBuf::from(value));
        command
            .env("TMPDIR", &tmp_dir)
            .envs(env.iter().copied())
            .env_remove("RUST_LOG")
            // A plugin's panic hook would symbolise a backtrace on the
            // broker thread that called the plugin, holding up that
            // client's session for seconds on a busy machine.
            .env_remove("RUST_BACKTRACE")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("start mqhost");
        let stderr = child.stderr.take().expect("stderr piped");
        let log = Arc::new(Log::default());
        let writer = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if std::env::var_os("MQHOST_TEST_LOG").is_some() {
                    eprintln!("[mqhost] {line}");
                }
                writer.lines.lock().unwrap().push(line);
                writer.grew.notify_all();
            }
        });
        let mut broker = Broker {
            child,
            addr: "127.0.0.1:0".parse().unwrap(),
            admin: None,
            token_file,
            log,
            _tmp: tmp,
            _state: state,
            tmp_dir,
        };
        broker
            .wait_for_log("accepting connections on ", Duration::from_secs(20))
            .unwrap_or_else(|| panic!("mqhost did not start:\n{}", broker.logs().join("\n")));
        if let Some(addr) = broker.try_listener("tcp:default") {
            broker.addr = addr;
        }
        broker.admin = broker
            .logs()
            .iter()
            .find(|l| l.contains("admin listener bound to "))
            .map(|l| bound_address(l));
        broker
    }

    /// Starts `mqhost` with plugins from `dirs`, plus `sets`.
    pub fn start_with_plugins(dirs: &plugins::PluginDirs, sets: &[(&str, &str)]) -> Broker {
        Broker::start_with_plugins_env(dirs, &[], sets)
    }

    /// [`Broker::start_with_plugins`] with environment variables `env` (a
    /// `TMPDIR` there replaces the broker's own).
    pub fn start_with_plugins_env(
        dirs: &plugins::PluginDirs,
        env: &[(&str, &str)],
        sets: &[(&str, &str)],
    ) -> Broker {
        let plugins = dirs.plugins.display().to_string();
        let etc = dirs.etc.display().to_string();
        let mut all = vec![
            ("plugins.dir", plugins.as_str()),
            ("plugins.etc_dir", etc.as_str()),
        ];
        all.extend_from_slice(sets);
        Broker::launch(&[], env, &all)
    }

    /// The `TMPDIR` the broker runs with.
    pub fn tmp_dir(&self) -> &std::path::Path {
        &self.tmp_dir
    }

    /// Address of the admin API.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin.expect("admin listener on")
    }

    /// Address the listener `transport:name` (`ssl:secure`) bound, if it
    /// is on.
    pub fn try_listener(&self, id: &str) -> Option<SocketAddr> {
        let needle = format!("listener {id} bound to ");
        self.logs()
            .iter()
            .find(|l| l.contains(&needle))
            .map(|l| bound_address(l))
    }

    /// Address the listener `transport:name` (`ssl:secure`) bound.
    pub fn listener(&self, id: &str) -> SocketAddr {
        self.try_listener(id)
            .unwrap_or_else(|| panic!("no listener {id}:\n{}", self.logs().join("\n")))
    }

    /// Address the `tcp:default` listener bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Port the broker listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every log line so far.
    pub fn logs(&self) -> Vec<String> {
        self.log.lines.lock().unwrap().clone()
    }

    /// Waits until a log line contains `needle`; returns that line.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let mut lines = self.log.lines.lock().unwrap();
        loop {
            if let Some(line) = lines.iter().find(|l| l.contains(needle)) {
                return Some(line.clone());
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            lines = self.log.grew.wait_timeout(lines, deadline - now).unwrap().0;
        }
    }

    /// Waits until at least `count` log lines contain `needle`.
    pub fn wait_for_logs(&self, needle: &str, count: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut lines = self.log.lines.lock().unwrap();
        loop {
            if lines.iter().filter(|l| l.contains(needle)).count() >= count {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            lines = self.log.grew.wait_timeout(lines, deadline - now).unwrap().0;
        }
    }

    /// How many log lines contain `needle`.
    pub fn count_logs(&self, needle: &str) -> usize {
        self.log
            .lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// The admin API's token file.
    pub fn admin_token_file(&self) -> &std::path::Path {
        &self.token_file
    }

    /// The admin API's token, as the broker wrote it.
    pub fn admin_token(&self) -> String {
        std::fs::read_to_string(&self.token_file)
            .unwrap_or_else(|e| panic!("reading {}: {e}", self.token_file.display()))
            .trim()
            .to_owned()
    }

    /// Runs `mqhost ctl --admin ADDR --token-file FILE ARGS...` against
    /// this broker: whether it succeeded, its standard output and its
    /// standard error.
    pub fn ctl(&self, args: &[&str]) -> (bool, String, String) {
        let (status, out, err) = self.ctl_status(args);
        (status == Some(0), out, err)
    }

    /// [`Broker::ctl`] with the exit status (None when a signal ended it).
    pub fn ctl_status(&self, args: &[&str]) -> (Option<i32>, String, String) {
        let out = Command::new(mqhost_binary())
            .arg("ctl")
            .arg("--config")
            .arg("/dev/null")
            .arg("--admin")
            .arg(self.admin_addr().to_string())
            .arg("--token-file")
            .arg(&self.token_file)
            .args(args)
            .output()
            .expect("run mqhost ctl");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// One request to the admin API, `path` sent as it is, as `mqhost
    /// ctl` sends it (the token; JSON when it changes something): the
    /// status and the body.
    pub async fn admin_request(&self, method: &str, path: &str) -> (u16, String) {
        let response = self.admin_call(method, path, "").await;
        (response.status, response.body)
    }

    /// [`Broker::admin_request`] with `body` (JSON, or empty for none),
    /// the whole response.
    pub async fn admin_call(&self, method: &str, path: &str, body: &str) -> admin::Response {
        let host = self.admin_addr().to_string();
        let authorization = format!("Bearer {}", self.admin_token());
        let mut headers = vec![
            ("Host", host.as_str()),
            ("Authorization", authorization.as_str()),
        ];
        if method != "GET" && method != "HEAD" {
            headers.push(("Content-Type", "application/json"));
        }
        self.admin_send(method, path, &headers, body).await
    }

    /// One request to the admin API with exactly `headers` (a Host among
    /// them, or not) and `body`.
    pub async fn admin_send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> admin::Response {
        let stream = tokio::net::TcpStream::connect(self.admin_addr())
            .await
            .expect("connect to the admin API");
        admin::exchange(stream, &admin::request_text(method, path, headers, body)).await
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process's memory now and at its peak, from `/proc/PID/status`.
    pub fn memory(&self) -> Memory {
        let path = format!("/proc/{}/status", self.pid());
        let status =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
        let kib = |field: &str| -> u64 {
            status
                .lines()
                .find_map(|line| line.strip_prefix(field))
                .and_then(|rest| rest.trim().strip_suffix("kB"))
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or_else(|| panic!("no {field} in {path}"))
        };
        Memory {
            resident_kib: kib("VmRSS:"),
            peak_kib: kib("VmHWM:"),
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends SIGKILL, which gives the broker no chance to clean up, and
    /// waits for the process to end.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        self.child.wait().expect("wait for mqhost")
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn bound_address(line: &str) -> SocketAddr {
    line.rsplit("bound to ")
        .next()
        .unwrap()
        .trim()
        .parse()
        .expect("bound address")
}

/// Runs a command-line tool (mosquitto_pub, mosquitto_sub) and fails the
/// test with a clear message if it is not installed.
pub fn tool(name: &str) -> Command {
    require(name, "mosquitto-clients");
    Command::new(name)
}

/// A Python 3 that has paho-mqtt (Debian's python3-paho-mqtt): `python3`
/// on the PATH if it has paho, else Debian's own `/usr/bin/python3`
/// (another Python installed beside it may come first on the PATH).
pub fn python_with_paho() -> Command {
    static FOUND: std::sync::OnceLock<Option<&'static str>> = std::sync::OnceLock::new();
    let found = FOUND.get_or_init(|| {
        ["python3", "/usr/bin/python3"].into_iter().find(|python| {
            Command::new(python)
                .args(["-c", "import paho.mqtt.client"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
    });
    let python = found.unwrap_or_else(|| {
        panic!("paho-mqtt is not installed (apt-get install python3-paho-mqtt; .ci/run does)")
    });
    Command::new(python)
}

/// Fails the test with a clear message when `binary` is not installed;
/// the Debian `package` has it.
pub fn require(binary: &str, package: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {binary}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "{binary} is not installed (apt-get install {package}; .ci/run does)"
    );
}

/// When the broker wrote a log line, from the line's own timestamp
/// (`2026-01-31T12:34:56.123456Z`, UTC, as its logger writes it): for
/// timings measured by the broker's clock rather than by when the test
/// got to read the line.
pub fn logged_at(line: &str) -> SystemTime {
    parse_timestamp(line).unwrap_or_else(|| panic!("no timestamp at the start of {line:?}"))
}

fn parse_timestamp(line: &str) -> Option<SystemTime> {
    let stamp = line.split_whitespace().next()?.strip_suffix('Z')?;
    let (date, time) = stamp.split_once('T')?;
    let (clock, fraction) = time.split_once('.').unwrap_or((time, "0"));
    let numbers = |text: &str, separator| -> Option<Vec<i64>> {
        text.split(separator).map(|n| n.parse().ok()).collect()
    };
    let (date, clock) = (numbers(date, '-')?, numbers(clock, ':')?);
    let (&[year, month, day], &[hour, minute, second]) = (&date[..], &clock[..]) else {
        return None;
    };
    let nanos: u32 = format!("{fraction:0<9}").get(..9)?.parse().ok()?;
    // Days since 1970-01-01 in the proleptic Gregorian calendar (Howard
    // Hinnant's days_from_civil).
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second;
    Some(UNIX_EPOCH + Duration::new(u64::try_from(seconds).ok()?, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_timestamp_is_read_to_the_microsecond() {
        let line = "2026-12-03T09:47:36.285449Z  INFO mqhost::plugins::manager: plugin started";
        assert_eq!(
            logged_at(line),
            UNIX_EPOCH + Duration::new(1_796_291_256, 285_449_000)
        );
        assert_eq!(
            logged_at("2024-02-29T23:59:59.5Z DEBUG x"),
            UNIX_EPOCH + Duration::new(1_709_251_199, 500_000_000)
        );
        assert!(parse_timestamp("[mqhost] no time").is_none());
    }
}
