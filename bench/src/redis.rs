//! The Redis scenario's own Redis: a private `redis-server` on a free
//! loopback port, the Redis plugin's configuration pointing at it, and a
//! tiny RESP client over `std::net::TcpStream` that reads what Redis did.
//!
//! The MQTT side of the load can finish long before the plugin has written
//! (and deleted) every message's keys, so the bench waits until Redis has
//! seen every command it should and holds no key, and times the round up to
//! there: a figure that stops at the last MQTT delivery would flatter a
//! plugin that only queues its writes.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::brokers::free_port;
use crate::client::Error;

/// What stands for the private server's `host:port` in the plugin's
/// configuration (ours, or the one MQHOST_BENCH_REDIS_CONF names).
pub const SERVER_PLACEHOLDER: &str = "{redis_server}";

/// The plugin's configuration: one pool on the private server, queues large
/// enough that no write is ever dropped, every QoS 1 message stored at
/// publish and consumed by its acknowledgement.
pub const PLUGIN_CONF: &str = r##"# Written by mqhost-bench.
backend.redis.pool1.type = single
backend.redis.pool1.server = {redis_server}
backend.redis.pool1.max_queued_commands = 10000000
backend.redis.pool1.max_queued_bytes = 4000000000
backend.redis.hook.message.publish.1 = {"topic": "#", "action": {"function": "on_message_publish"}, "expired_time" : 3600, "pool": "pool1"}
backend.redis.hook.message.acked.1 = {"topic": "#", "action": {"function": "on_message_acked_for_queue"}, "pool": "pool1"}
"##;

/// The auth_redis plugin's configuration for the auth-redis scenario:
/// salted SHA-256 passwords and each user's rules read from the private
/// server, rules kept for the connection (the default).
pub const AUTH_PLUGIN_CONF: &str = r##"# Written by mqhost-bench.
plugin.enable = on
auth.redis.type = single
auth.redis.server = {redis_server}
auth.redis.auth_cmd = HMGET mqtt_user:%u password salt
auth.redis.password_hash = salt,sha256
auth.redis.acl_cmd = HGETALL mqtt_acl:%u
"##;

/// What the auth-redis scenario's users are called (`bench-user-{i}`) and
/// their password.
pub const AUTH_USER_PREFIX: &str = "bench-user-";
pub const AUTH_PASSWORD: &str = "bench-redis-9Kp4";
/// Rules per user; the last grants [`AUTH_TOPIC`].
pub const AUTH_ACL_RULES: usize = 10;
/// What each client of the auth-redis scenario subscribes to.
pub const AUTH_TOPIC: &str = "bench/idle/status";

/// How often the bench asks Redis whether it has drained.
const POLL: Duration = Duration::from_millis(5);
/// How long Redis has to drain once the MQTT load is over.
const DRAIN_LIMIT: Duration = Duration::from_secs(60);
/// How long `redis-server` has to accept connections.
const START_LIMIT: Duration = Duration::from_secs(10);
/// The commands whose calls the round's details list.
const COMMANDS: [&str; 6] = ["hmset", "hset", "expire", "zadd", "del", "zrem"];

/// `redis-server` on PATH, else `/usr/bin/redis-server`; None when neither
/// exists, which skips the scenario.
pub fn find_server() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("redis-server"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        let fallback = PathBuf::from("/usr/bin/redis-server");
        fallback.is_file().then_some(fallback)
    })
}

/// The plugin's configuration for a server at `addr`.
pub fn plugin_conf(template: &str, addr: SocketAddr) -> String {
    template.replace(SERVER_PLACEHOLDER, &addr.to_string())
}

// === RESP ===

/// One RESP reply; arrays never come back to the commands the bench sends.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Status(String),
    Error(String),
    Integer(i64),
    Bulk(Option<Vec<u8>>),
}

/// A connection to Redis, one command at a time.
pub struct Client {
    stream: BufReader<TcpStream>,
    /// Commands sent so far: Redis counts them too, and the bench takes
    /// them out of the commands it credits to the plugin.
    pub sent: u64,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Result<Client, Error> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))
            .map_err(|e| format!("Redis at {addr}: {e}"))?;
        // A Redis that stops answering fails the round, not the bench.
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .and_then(|()| stream.set_nodelay(true))
            .map_err(|e| e.to_string())?;
        Ok(Client {
            stream: BufReader::new(stream),
            sent: 0,
        })
    }

    /// Sends `args` as a RESP array of bulk strings and reads the reply.
    pub fn command(&mut self, args: &[&str]) -> Result<Reply, Error> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        let stream = self.stream.get_mut();
        stream
            .write_all(&out)
            .and_then(|()| stream.flush())
            .map_err(|e| format!("Redis {}: {e}", args.join(" ")))?;
        self.sent += 1;
        self.read_reply()
            .map_err(|e| format!("Redis {}: {e}", args.join(" ")))
    }

    /// Sends `commands` at once, then reads every reply: any error reply
    /// fails the lot.
    pub fn pipeline(&mut self, commands: &[Vec<String>]) -> Result<(), Error> {
        let mut out = Vec::new();
        for args in commands {
            out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
            for arg in args {
                out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
                out.extend_from_slice(arg.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
        }
        let stream = self.stream.get_mut();
        stream
            .write_all(&out)
            .and_then(|()| stream.flush())
            .map_err(|e| format!("Redis pipeline: {e}"))?;
        self.sent += commands.len() as u64;
        for args in commands {
            if let Reply::Error(e) = self.read_reply()? {
                return Err(format!("Redis {}: {e}", args.join(" ")));
            }
        }
        Ok(())
    }

    /// A command that must succeed with a status reply (`+OK`, `+PONG`).
    pub fn status(&mut self, args: &[&str]) -> Result<String, Error> {
        match self.command(args)? {
            Reply::Status(s) => Ok(s),
            other => Err(format!("Redis {}: unexpected {other:?}", args.join(" "))),
        }
    }

    /// A command that must answer with an integer (DBSIZE).
    pub fn integer(&mut self, args: &[&str]) -> Result<i64, Error> {
        match self.command(args)? {
            Reply::Integer(n) => Ok(n),
            other => Err(format!("Redis {}: unexpected {other:?}", args.join(" "))),
        }
    }

    /// `INFO section` as its `name:value` lines.
    pub fn info(&mut self, section: &str) -> Result<BTreeMap<String, String>, Error> {
        match self.command(&["INFO", section])? {
            Reply::Bulk(Some(text)) => Ok(parse_info(&String::from_utf8_lossy(&text))),
            other => Err(format!("Redis INFO {section}: unexpected {other:?}")),
        }
    }

    /// One line without its CRLF.
    fn read_line(&mut self) -> Result<String, Error> {
        let mut line = String::new();
        let n = self
            .stream
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed".to_owned());
        }
        line.strip_suffix("\r\n")
            .map(str::to_owned)
            .ok_or_else(|| format!("reply line not ended by CRLF: {line:?}"))
    }

    fn read_reply(&mut self) -> Result<Reply, Error> {
        let line = self.read_line()?;
        let (kind, rest) = line.split_at_checked(1).ok_or("empty reply line")?;
        let number = |text: &str| {
            text.parse::<i64>()
                .map_err(|_| format!("bad number in reply: {line:?}"))
        };
        match kind {
            "+" => Ok(Reply::Status(rest.to_owned())),
            "-" => Ok(Reply::Error(rest.to_owned())),
            ":" => Ok(Reply::Integer(number(rest)?)),
            "$" => {
                let Ok(len) = usize::try_from(number(rest)?) else {
                    return Ok(Reply::Bulk(None));
                };
                let mut body = vec![0; len + 2];
                self.stream
                    .read_exact(&mut body)
                    .map_err(|e| e.to_string())?;
                body.truncate(len);
                Ok(Reply::Bulk(Some(body)))
            }
            _ => Err(format!("unsupported reply {line:?}")),
        }
    }
}

/// `name:value` lines of an INFO reply; `# Section` lines and blanks
/// skipped.
fn parse_info(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
        .collect()
}

/// `calls` of each command in `INFO commandstats`, by lower-case name.
fn command_calls(info: &BTreeMap<String, String>) -> BTreeMap<String, u64> {
    info.iter()
        .filter_map(|(key, value)| {
            let name = key.strip_prefix("cmdstat_")?;
            let calls = value
                .split(',')
                .find_map(|f| f.strip_prefix("calls="))?
                .parse()
                .ok()?;
            Some((name.to_owned(), calls))
        })
        .collect()
}

// === Server ===

/// What Redis had done at one moment; rounds report differences.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Calls by command name (`hmset`, `del`, ...).
    pub calls: BTreeMap<String, u64>,
    /// `total_commands_processed`.
    pub commands: u64,
    /// `used_cpu_user` + `used_cpu_sys`, seconds.
    pub cpu_s: f64,
    /// Commands the bench itself had sent by then.
    pub own: u64,
}

impl Stats {
    /// Calls of `name` since `before`.
    pub fn calls_since(&self, before: &Stats, name: &str) -> u64 {
        let at = |s: &Stats| s.calls.get(name).copied().unwrap_or(0);
        at(self).saturating_sub(at(before))
    }

    /// Commands Redis processed since `before`, the bench's own left out.
    pub fn commands_since(&self, before: &Stats) -> u64 {
        let all = self.commands.saturating_sub(before.commands);
        all.saturating_sub(self.own.saturating_sub(before.own))
    }

    /// Calls of the commands the round's details list, since `before`.
    pub fn listed_since(&self, before: &Stats) -> BTreeMap<&'static str, u64> {
        COMMANDS
            .iter()
            .map(|&name| (name, self.calls_since(before, name)))
            .collect()
    }

    /// Hashes written since `before`: HMSET or HSET, whichever the plugin
    /// sends.
    fn hashes_since(&self, before: &Stats) -> u64 {
        self.calls_since(before, "hmset") + self.calls_since(before, "hset")
    }
}

/// When Redis had finished the round's work, and what it had done.
pub struct Drained {
    pub at: Instant,
    pub stats: Stats,
}

/// A private `redis-server`, killed when dropped.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    dir: PathBuf,
    client: Client,
}

impl Server {
    /// Starts `program` in a fresh directory under `work` on a free
    /// loopback port, with nothing saved to disk, and waits until it
    /// answers PING.
    pub fn start(program: &Path, work: &Path) -> Result<Server, Error> {
        let port = free_port()?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let dir = work.join(format!("redis-{port}"));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let log = fs::File::create(dir.join("redis.log")).map_err(|e| e.to_string())?;
        let child = Command::new(program)
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
        Self::wait_ready(child, addr, dir)
    }

    /// Connects once Redis answers PING; on failure the process is killed
    /// (by `Server`'s drop, or here when there is no `Server` yet).
    fn wait_ready(mut child: Child, addr: SocketAddr, dir: PathBuf) -> Result<Server, Error> {
        let deadline = Instant::now() + START_LIMIT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let log = fs::read_to_string(dir.join("redis.log")).unwrap_or_default();
                let _ = fs::remove_dir_all(&dir);
                return Err(format!(
                    "redis-server exited ({status}) before accepting connections:\n{log}"
                ));
            }
            if let Ok(mut client) = Client::connect(addr) {
                if client.status(&["PING"]).is_ok() {
                    return Ok(Server {
                        child,
                        addr,
                        dir,
                        client,
                    });
                }
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                let _ = fs::remove_dir_all(&dir);
                return Err(format!(
                    "redis-server did not answer on {addr} within {} s",
                    START_LIMIT.as_secs()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stores `count` users as the auth-redis scenario's plugin reads them:
    /// `mqtt_user:<u>` with `salt` and `password` = hex SHA-256 of salt then
    /// password, and `mqtt_acl:<u>` with [`AUTH_ACL_RULES`] topic filters,
    /// only the last of which matches [`AUTH_TOPIC`]. Sent pipelined, a
    /// thousand commands at a time.
    pub fn add_users(&mut self, count: usize) -> Result<(), Error> {
        use sha2::{Digest, Sha256};
        let mut batch: Vec<Vec<String>> = Vec::new();
        for i in 0..count {
            let user = format!("{AUTH_USER_PREFIX}{i}");
            let salt = format!("s{i:06x}");
            let digest = Sha256::digest(format!("{salt}{AUTH_PASSWORD}").as_bytes());
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            batch.push(vec![
                "HSET".to_owned(),
                format!("mqtt_user:{user}"),
                "password".to_owned(),
                hex,
                "salt".to_owned(),
                salt,
            ]);
            let mut acl = vec!["HSET".to_owned(), format!("mqtt_acl:{user}")];
            for rule in 1..AUTH_ACL_RULES {
                let access = ["1", "2", "3"][rule % 3];
                acl.extend([format!("devices/{user}/r{rule}/#"), access.to_owned()]);
            }
            acl.extend([AUTH_TOPIC.to_owned(), "1".to_owned()]);
            batch.push(acl);
            if batch.len() >= 1000 || i + 1 == count {
                self.client.pipeline(&batch)?;
                batch.clear();
            }
        }
        Ok(())
    }

    /// Empties the database and zeroes the command statistics, so that a
    /// round starts where the one before did not leave off.
    pub fn reset(&mut self) -> Result<(), Error> {
        self.client.status(&["FLUSHALL"])?;
        self.client.status(&["CONFIG", "RESETSTAT"])?;
        Ok(())
    }

    /// Command calls, commands processed and CPU time now.
    pub fn stats(&mut self) -> Result<Stats, Error> {
        let own = self.client.sent;
        let calls = command_calls(&self.client.info("commandstats")?);
        let stats = self.client.info("stats")?;
        let cpu = self.client.info("cpu")?;
        let number = |info: &BTreeMap<String, String>, key: &str| {
            info.get(key)
                .and_then(|v| v.parse::<f64>().ok())
                .ok_or_else(|| format!("Redis INFO has no {key}"))
        };
        Ok(Stats {
            calls,
            commands: number(&stats, "total_commands_processed")? as u64,
            cpu_s: number(&cpu, "used_cpu_user")? + number(&cpu, "used_cpu_sys")?,
            own,
        })
    }

    /// Polls until, since `before`, Redis has written at least `published`
    /// message hashes and holds no key: every message stored and consumed
    /// (their TTL is an hour, so none expired). DEL calls are no measure:
    /// the plugin coalesces a batch's DELs into one. Fails after a minute,
    /// saying what was missing.
    pub fn wait_drained(&mut self, before: &Stats, published: u64) -> Result<Drained, Error> {
        let deadline = Instant::now() + DRAIN_LIMIT;
        loop {
            let now = Stats {
                calls: command_calls(&self.client.info("commandstats")?),
                ..Stats::default()
            };
            let keys = self.client.integer(&["DBSIZE"])?;
            let at = Instant::now();
            let hashes = now.hashes_since(before);
            if hashes >= published && keys == 0 {
                let stats = self.stats()?;
                return Ok(Drained { at, stats });
            }
            if at >= deadline {
                return Err(format!(
                    "Redis not drained {} s after the MQTT load: HMSET/HSET {hashes} of \
                     {published}, {keys} keys left",
                    DRAIN_LIMIT.as_secs()
                ));
            }
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commandstats_give_calls_by_name() {
        let info = parse_info(
            "# Commandstats\r\n\
             cmdstat_hmset:calls=12,usec=40,usec_per_call=3.33,rejected_calls=0,failed_calls=0\r\n\
             cmdstat_config|resetstat:calls=1,usec=5,usec_per_call=5.00\r\n\
             \r\n",
        );
        let calls = command_calls(&info);
        assert_eq!(calls.get("hmset"), Some(&12));
        assert_eq!(calls.get("config|resetstat"), Some(&1));
        assert_eq!(calls.len(), 2);
    }

    #[test]
    fn commands_go_as_arrays_and_each_kind_of_reply_is_read() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // Every reply at once, after the first request; then the other
        // four requests, which must look the same.
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut requests = vec![Vec::new(); 5];
            for (i, request) in requests.iter_mut().enumerate() {
                request.resize(b"*2\r\n$4\r\nINFO\r\n$5\r\nstats\r\n".len(), 0);
                stream.read_exact(request).unwrap();
                if i == 0 {
                    stream
                        .write_all(b"+OK\r\n-ERR no\r\n:-7\r\n$5\r\na\r\nb:\r\n$-1\r\n")
                        .unwrap();
                }
            }
            requests
        });
        let mut client = Client::connect(addr).unwrap();
        let replies: Vec<Reply> = (0..5)
            .map(|_| client.command(&["INFO", "stats"]).unwrap())
            .collect();
        for request in server.join().unwrap() {
            assert_eq!(request, b"*2\r\n$4\r\nINFO\r\n$5\r\nstats\r\n");
        }
        assert_eq!(
            replies,
            [
                Reply::Status("OK".into()),
                Reply::Error("ERR no".into()),
                Reply::Integer(-7),
                Reply::Bulk(Some(b"a\r\nb:".to_vec())),
                Reply::Bulk(None),
            ]
        );
        assert_eq!(client.sent, 5);
    }

    #[test]
    fn own_commands_are_not_credited_to_the_plugin() {
        let before = Stats {
            commands: 10,
            own: 3,
            ..Stats::default()
        };
        let after = Stats {
            commands: 110,
            own: 8,
            ..Stats::default()
        };
        assert_eq!(after.commands_since(&before), 95);
    }

    #[test]
    fn the_placeholder_becomes_the_server() {
        let conf = plugin_conf(PLUGIN_CONF, ([127, 0, 0, 1], 6400).into());
        assert!(conf.contains("backend.redis.pool1.server = 127.0.0.1:6400\n"));
        assert!(!conf.contains(SERVER_PLACEHOLDER));
    }
}
