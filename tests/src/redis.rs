//! Real Redis for tests: a private `redis-server` on a free loopback port
//! without persistence, and the sentinel and cluster topologies built from
//! such servers, each also over TLS with [`TestCerts`]. Every process is
//! killed when its value is dropped.
//!
//! Redis cannot listen on port 0, so a free port is found by binding a
//! listener to `127.0.0.1:0` and releasing it; if another process takes it
//! before `redis-server` does, the start is retried on another port.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::certs::TestCerts;
use crate::plugins::TempDir;

/// How long a server may take to answer PING after starting.
const READY: Duration = Duration::from_secs(10);

/// Fails the test with a clear message when a Redis program is not
/// installed.
fn require(binary: &str) {
    crate::require(binary, "redis-server redis-tools");
}

/// A port nobody listens on now. With `bus`, port + 10000 (a cluster
/// node's bus port) is free too.
pub fn free_port(bus: bool) -> u16 {
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        let port = listener.local_addr().unwrap().port();
        if !bus {
            return port;
        }
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

/// A `redis-server` process, killed when dropped.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    tls_port: Option<u16>,
    dir: PathBuf,
    args: Vec<String>,
    _temp: Option<TempDir>,
}

impl RedisServer {
    /// A server without persistence on a free port.
    pub fn start() -> RedisServer {
        RedisServer::start_with(&[])
    }

    /// A server with extra `redis-server` arguments (`["--appendonly",
    /// "yes"]`).
    pub fn start_with(extra: &[&str]) -> RedisServer {
        let temp = TempDir::new();
        let dir = temp.path().to_path_buf();
        let mut server = RedisServer::start_in(&dir, extra, false);
        server._temp = Some(temp);
        server
    }

    /// A server whose files go to `dir` (kept by the caller); `bus` asks
    /// for a port whose cluster bus port is free too.
    pub fn start_in(dir: &Path, extra: &[&str], bus: bool) -> RedisServer {
        RedisServer::launch(dir, extra, bus, None)
    }

    /// [`RedisServer::start_in`] for a server that also speaks TLS, as
    /// [`RedisServer::start_tls`] describes. With `bus`, the bus port of
    /// the TLS port is the free one: under `--tls-cluster yes` the bus
    /// follows the TLS port.
    pub fn start_in_tls(dir: &Path, extra: &[&str], bus: bool, certs: &TestCerts) -> RedisServer {
        RedisServer::launch(dir, extra, bus, Some(certs))
    }

    fn launch(dir: &Path, extra: &[&str], bus: bool, certs: Option<&TestCerts>) -> RedisServer {
        require("redis-server");
        for _ in 0..10 {
            let port = free_port(bus && certs.is_none());
            let mut args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
            let tls_port = certs.map(|certs| {
                let tls_port = loop {
                    let tls_port = free_port(bus);
                    if tls_port != port {
                        break tls_port;
                    }
                };
                args.extend(certs.server_args(tls_port));
                tls_port
            });
            let mut server = RedisServer {
                child: None,
                port,
                tls_port,
                dir: dir.to_path_buf(),
                args,
                _temp: None,
            };
            // A taken port (plain or TLS) makes the process exit: retry
            // with other ones.
            if server.spawn() {
                return server;
            }
        }
        panic!("redis-server would not start; see {}", dir.display());
    }

    /// Starts the process on `self.port`; false if it did not come up
    /// (the port was taken meanwhile).
    fn spawn(&mut self) -> bool {
        let port = self.port.to_string();
        let log = self.dir.join(format!("redis-{port}.log"));
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &port, "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(&log)
            .args(["--daemonize", "no", "--protected-mode", "no"])
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = command.spawn().expect("start redis-server");
        let deadline = Instant::now() + READY;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return false;
            }
            if self.ping(child.id()) {
                self.child = Some(child);
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// Whether process `pid` answers on the port. Another test's server
    /// may hold the port while this one, which could not bind it, has not
    /// exited yet: its PING answer must not count.
    fn ping(&self, pid: u32) -> bool {
        let Ok(client) = redis::Client::open(self.url()) else {
            return false;
        };
        let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_millis(500)) else {
            return false;
        };
        match redis::cmd("INFO").arg("server").query::<String>(&mut conn) {
            Ok(info) => info.lines().any(|l| l == format!("process_id:{pid}")),
            // Up, and asking for a password (--requirepass).
            Err(error) => error.code() == Some("NOAUTH"),
        }
    }

    /// A server that also speaks TLS, on [`RedisServer::tls_port`], with
    /// `certs`' server certificate and requiring a client certificate
    /// signed by their CA (see [`TestCerts::server_args`]). The plain
    /// port stays, for the test's own checks.
    pub fn start_tls(certs: &TestCerts) -> RedisServer {
        let temp = TempDir::new();
        let mut server = RedisServer::start_in_tls(temp.path(), &[], false, certs);
        server._temp = Some(temp);
        server
    }

    /// Its TLS port, if it has one.
    pub fn tls_port(&self) -> Option<u16> {
        self.tls_port
    }

    /// `127.0.0.1:<TLS port>`; panics if it has no TLS port.
    pub fn tls_addr(&self) -> String {
        format!(
            "127.0.0.1:{}",
            self.tls_port.expect("a server started with TLS")
        )
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`, as the plugin's `server` setting wants it.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// A connection to it (database 0).
    pub fn client(&self) -> redis::Connection {
        self.client_db(0)
    }

    /// Waits until every replica of this master has acknowledged all it
    /// was sent: each `slaveN:...,offset=` of `INFO replication` reaches
    /// `master_repl_offset`. (`WAIT` cannot say so for writes made over
    /// other connections: it counts only the asking client's own writes.)
    pub fn wait_replicas_synced(&self, timeout: Duration) -> bool {
        let mut conn = self.client();
        wait_until(timeout, || {
            let info: String = redis::cmd("INFO")
                .arg("replication")
                .query(&mut conn)
                .unwrap_or_default();
            let Some(master) = info.lines().find_map(|l| {
                l.strip_prefix("master_repl_offset:")?
                    .trim()
                    .parse::<u64>()
                    .ok()
            }) else {
                return false;
            };
            // slave0:ip=127.0.0.1,port=7001,state=online,offset=1234,lag=0
            let replicas: Vec<u64> = info
                .lines()
                .filter(|l| l.starts_with("slave"))
                .filter_map(|l| {
                    l.split(',')
                        .find_map(|p| p.strip_prefix("offset=")?.parse().ok())
                })
                .collect();
            !replicas.is_empty() && replicas.iter().all(|&offset| offset >= master)
        })
    }

    /// A connection to database `db`.
    pub fn client_db(&self, db: u32) -> redis::Connection {
        let client = redis::Client::open(format!("{}{db}", self.url())).unwrap();
        client
            .get_connection_with_timeout(Duration::from_secs(5))
            .expect("connect to the test redis-server")
    }

    /// The process id, for signals.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Sends a signal (`STOP`, `CONT`, `KILL`).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} redis-server");
    }

    /// Freezes the process: connections stay open, nothing is answered.
    pub fn pause(&self) {
        self.signal("STOP");
    }

    /// Thaws a paused process.
    pub fn resume(&self) {
        self.signal("CONT");
    }

    /// Kills the process (as a crash would) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, with the same arguments.
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + READY;
        while !self.spawn() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not restart on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether it still runs.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// The lines of its log file.
    pub fn log(&self) -> Vec<String> {
        let path = self.dir.join(format!("redis-{}.log", self.port));
        std::fs::File::open(path)
            .map(|f| BufReader::new(f).lines().map_while(Result::ok).collect())
            .unwrap_or_default()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_ref() {
            // A paused process does not die of SIGTERM; SIGKILL always works.
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(child.id().to_string())
                .status();
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }
}

/// Polls `check` every 20 ms until it is true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A master, a replica and a sentinel watching them (master name
/// `mymaster`, down after 1 s). Started with TLS, every process also
/// listens on a TLS port and replication and the sentinel's links to the
/// data nodes go over TLS: the sentinel names the TLS ports.
pub struct RedisSentinel {
    /// The master at start.
    pub master: RedisServer,
    /// Its replica.
    pub replica: RedisServer,
    /// The sentinel (`redis-server --sentinel`).
    pub sentinel: RedisServer,
    _dir: TempDir,
}

/// The master name the sentinel topology uses.
pub const MASTER_NAME: &str = "mymaster";

impl RedisSentinel {
    /// Starts the three processes and waits until the sentinel knows the
    /// replica.
    pub fn start() -> RedisSentinel {
        RedisSentinel::launch(None)
    }

    /// [`RedisSentinel::start`] over TLS with `certs`: the plain ports
    /// stay for the test's own checks, but the sentinel monitors the
    /// master's TLS port, the replica replicates from it, and each
    /// announces its TLS port, so a client that asks the sentinel is sent
    /// to TLS ports only.
    pub fn start_tls(certs: &TestCerts) -> RedisSentinel {
        RedisSentinel::launch(Some(certs))
    }

    fn launch(certs: Option<&TestCerts>) -> RedisSentinel {
        let dir = TempDir::new();
        let start = |extra: &[&str]| match certs {
            Some(certs) => RedisServer::start_in_tls(
                dir.path(),
                &[extra, &["--tls-replication", "yes"]].concat(),
                false,
                certs,
            ),
            None => RedisServer::start_in(dir.path(), extra, false),
        };
        let master = start(&["--repl-diskless-sync-delay", "0"]);
        // The port replication and the sentinel use: the TLS one if any.
        let master_port = master.tls_port().unwrap_or(master.port());
        let replica = start(&["--replicaof", "127.0.0.1", &master_port.to_string()]);
        // Sentinel rewrites its configuration file: it must be its own.
        let sentinel_port = free_port(false);
        let conf = dir.path().join(format!("sentinel-{sentinel_port}.conf"));
        std::fs::write(
            &conf,
            format!(
                "sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} 1\n\
                 sentinel down-after-milliseconds {MASTER_NAME} 1000\n\
                 sentinel failover-timeout {MASTER_NAME} 3000\n\
                 sentinel parallel-syncs {MASTER_NAME} 1\n"
            ),
        )
        .unwrap();
        let sentinel = match certs {
            Some(certs) => {
                let tls_port = loop {
                    let tls_port = free_port(false);
                    if tls_port != sentinel_port {
                        break tls_port;
                    }
                };
                let mut args = certs.server_args(tls_port);
                // The sentinel's own links to master and replica: TLS.
                args.extend(["--tls-replication".to_owned(), "yes".to_owned()]);
                let mut sentinel =
                    RedisServer::start_sentinel(dir.path(), &conf, sentinel_port, &args);
                sentinel.tls_port = Some(tls_port);
                sentinel
            }
            None => RedisServer::start_sentinel(dir.path(), &conf, sentinel_port, &[]),
        };
        let topology = RedisSentinel {
            master,
            replica,
            sentinel,
            _dir: dir,
        };
        let known = wait_until(Duration::from_secs(20), || {
            let mut conn = topology.sentinel.client();
            let replicas: Vec<redis::Value> = redis::cmd("SENTINEL")
                .arg("REPLICAS")
                .arg(MASTER_NAME)
                .query(&mut conn)
                .unwrap_or_default();
            !replicas.is_empty() && topology.replica_in_sync()
        });
        assert!(known, "the sentinel did not discover the replica");
        topology
    }

    /// Whether the replica's link to the master is up.
    pub fn replica_in_sync(&self) -> bool {
        let mut conn = self.replica.client();
        let info: String = redis::cmd("INFO")
            .arg("replication")
            .query(&mut conn)
            .unwrap_or_default();
        info.contains("master_link_status:up")
    }

    /// The master's port as the sentinel names it now.
    pub fn current_master_port(&self) -> Option<u16> {
        let mut conn = self.sentinel.client();
        let addr: Vec<String> = redis::cmd("SENTINEL")
            .arg("GET-MASTER-ADDR-BY-NAME")
            .arg(MASTER_NAME)
            .query(&mut conn)
            .ok()?;
        addr.get(1)?.parse().ok()
    }
}

impl RedisServer {
    /// Starts `redis-server <conf> --sentinel` on `port`, with `extra`
    /// arguments.
    fn start_sentinel(dir: &Path, conf: &Path, port: u16, extra: &[String]) -> RedisServer {
        require("redis-server");
        let mut server = RedisServer {
            child: None,
            port,
            tls_port: None,
            dir: dir.to_path_buf(),
            args: extra.to_vec(),
            _temp: None,
        };
        let log = dir.join(format!("redis-{port}.log"));
        let child = Command::new("redis-server")
            .arg(conf)
            .arg("--sentinel")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .arg("--logfile")
            .arg(&log)
            .args(["--daemonize", "no", "--protected-mode", "no"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server --sentinel");
        server.child = Some(child);
        assert!(
            wait_until(READY, || server.ping(server.pid())),
            "the sentinel did not start; see {}",
            log.display()
        );
        server
    }
}

/// The cluster node timeout once a test cluster stands: a killed master
/// is replaced within a few seconds.
const FAILOVER_NODE_TIMEOUT: Duration = Duration::from_secs(1);

/// Waits up to `timeout` for `child` to exit and returns what it wrote;
/// None (the child killed) if it is still running then.
fn wait_for_output(mut child: Child, timeout: Duration) -> Option<std::process::Output> {
    let exited = wait_until(timeout, || !matches!(child.try_wait(), Ok(None)));
    if !exited {
        let _ = child.kill();
        let _ = child.wait();
        return None;
    }
    child.wait_with_output().ok()
}

/// A Redis Cluster of three masters, each with one replica, built with
/// `redis-cli --cluster create`. Node timeout 1 s once built, so a killed
/// master is replaced within a few seconds. Started with TLS, every node also
/// listens on a TLS port, and the cluster bus and replication go over
/// TLS.
pub struct RedisCluster {
    /// The six nodes (masters first at creation).
    pub nodes: Vec<RedisServer>,
    _dir: TempDir,
}

impl RedisCluster {
    /// Starts the nodes, creates the cluster and waits until every node
    /// says `cluster_state:ok`.
    pub fn start() -> RedisCluster {
        RedisCluster::launch(None)
    }

    /// [`RedisCluster::start`] over TLS with `certs` (`--tls-cluster yes`,
    /// `--tls-replication yes`): the nodes meet on their TLS ports, and a
    /// TLS client is told TLS ports (`CLUSTER SLOTS`, `MOVED`), a plain
    /// client plain ones. The plain ports stay for the test's own checks.
    pub fn start_tls(certs: &TestCerts) -> RedisCluster {
        RedisCluster::launch(Some(certs))
    }

    fn launch(certs: Option<&TestCerts>) -> RedisCluster {
        require("redis-cli");
        let dir = TempDir::new();
        let mut nodes = Vec::new();
        for index in 0..6 {
            // Each node in a directory of its own, for its nodes.conf.
            let node_dir = dir.path().join(format!("node{index}"));
            std::fs::create_dir_all(&node_dir).unwrap();
            let extra = [
                "--cluster-enabled",
                "yes",
                // Lowered to FAILOVER_NODE_TIMEOUT once the cluster
                // stands: a handshake must finish within the node timeout,
                // and a busy machine can take more than 1 s for it. A
                // handshake that times out is dropped for good and
                // `redis-cli --cluster create` waits forever for the
                // nodes to join.
                "--cluster-node-timeout",
                "10000",
                // Replicas sync at once rather than after 5 s: a
                // replica that never synced cannot take over.
                "--repl-diskless-sync-delay",
                "0",
            ];
            nodes.push(match certs {
                Some(certs) => RedisServer::start_in_tls(
                    &node_dir,
                    &[
                        &extra[..],
                        &["--tls-cluster", "yes", "--tls-replication", "yes"],
                    ]
                    .concat(),
                    true,
                    certs,
                ),
                None => RedisServer::start_in(&node_dir, &extra, true),
            });
        }
        let mut command = Command::new("redis-cli");
        match certs {
            Some(certs) => {
                command.arg("--tls").args(certs.client_args());
                command.arg("--cluster").arg("create");
                for node in &nodes {
                    command.arg(node.tls_addr());
                }
            }
            None => {
                command.arg("--cluster").arg("create");
                for node in &nodes {
                    command.arg(node.addr());
                }
            }
        }
        let output = command
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run redis-cli --cluster create");
        let output = wait_for_output(output, Duration::from_secs(60))
            .unwrap_or_else(|| panic!("redis-cli --cluster create still waits after 60 s"));
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let cluster = RedisCluster { nodes, _dir: dir };
        assert!(
            cluster.wait_ok(Duration::from_secs(30)),
            "the cluster did not reach cluster_state:ok"
        );
        let synced = wait_until(Duration::from_secs(30), || {
            let replicas = cluster
                .nodes
                .iter()
                .filter(|node| {
                    let mut conn = node.client();
                    let info: String = redis::cmd("INFO")
                        .arg("replication")
                        .query(&mut conn)
                        .unwrap_or_default();
                    info.contains("master_link_status:up")
                })
                .count();
            replicas == 3
        });
        assert!(synced, "the cluster's replicas did not sync");
        for node in &cluster.nodes {
            let _: () = redis::cmd("CONFIG")
                .arg("SET")
                .arg("cluster-node-timeout")
                .arg(FAILOVER_NODE_TIMEOUT.as_millis() as u64)
                .query(&mut node.client())
                .expect("lower the cluster node timeout");
        }
        cluster
    }

    /// Waits until every running node reports `cluster_state:ok` and
    /// agrees on three masters.
    pub fn wait_ok(&self, timeout: Duration) -> bool {
        wait_until(timeout, || {
            self.nodes.iter().all(|node| {
                let Ok(client) = redis::Client::open(node.url()) else {
                    return true;
                };
                let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_millis(300))
                else {
                    // A killed node does not count.
                    return true;
                };
                let info: String = redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query(&mut conn)
                    .unwrap_or_default();
                info.contains("cluster_state:ok")
            })
        })
    }

    /// `host:port,...` of every node, for the plugin's `server` setting.
    pub fn servers(&self) -> String {
        self.nodes
            .iter()
            .map(RedisServer::addr)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `host:port,...` of every node's TLS port.
    pub fn tls_servers(&self) -> String {
        self.nodes
            .iter()
            .map(RedisServer::tls_addr)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A cluster client (routes each command to the node owning its key).
    pub fn client(&self) -> redis::cluster::ClusterConnection {
        let urls: Vec<String> = self.nodes.iter().map(RedisServer::url).collect();
        redis::cluster::ClusterClient::builder(urls)
            .connection_timeout(Duration::from_secs(2))
            .build()
            .unwrap()
            .get_connection()
            .expect("connect to the test cluster")
    }

    /// The index of the node that is master of `key`'s slot now.
    pub fn master_of(&self, key: &str) -> usize {
        for (index, node) in self.nodes.iter().enumerate() {
            let Ok(client) = redis::Client::open(node.url()) else {
                continue;
            };
            let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_millis(300))
            else {
                continue;
            };
            let role: Vec<redis::Value> = redis::cmd("ROLE").query(&mut conn).unwrap_or_default();
            let is_master =
                matches!(role.first(), Some(redis::Value::BulkString(b)) if b == b"master");
            if !is_master {
                continue;
            }
            // EXISTS on the owner answers; elsewhere it is MOVED.
            let owns: redis::RedisResult<i64> = redis::cmd("EXISTS").arg(key).query(&mut conn);
            if owns.is_ok() {
                return index;
            }
        }
        panic!("no master owns {key}");
    }
}

// The arguments Redis programs take for these certificates.
impl TestCerts {
    /// `redis-server` arguments for a TLS port with these certificates:
    /// the server certificate, the CA that client certificates must be
    /// signed by (`--tls-auth-clients yes`), and the client certificate
    /// for the server's own outgoing TLS links (replication, sentinel,
    /// cluster bus), which the peer checks as a client certificate.
    pub fn server_args(&self, tls_port: u16) -> Vec<String> {
        let path = |p: &Path| p.display().to_string();
        [
            "--tls-port".to_owned(),
            tls_port.to_string(),
            "--tls-cert-file".to_owned(),
            path(&self.server_cert),
            "--tls-key-file".to_owned(),
            path(&self.server_key),
            "--tls-client-cert-file".to_owned(),
            path(&self.client_cert),
            "--tls-client-key-file".to_owned(),
            path(&self.client_key),
            "--tls-ca-cert-file".to_owned(),
            path(&self.ca),
            "--tls-auth-clients".to_owned(),
            "yes".to_owned(),
        ]
        .to_vec()
    }

    /// `redis-cli` arguments to connect with these certificates (with
    /// `--tls`).
    pub fn client_args(&self) -> Vec<String> {
        let path = |p: &Path| p.display().to_string();
        [
            "--cacert".to_owned(),
            path(&self.ca),
            "--cert".to_owned(),
            path(&self.client_cert),
            "--key".to_owned(),
            path(&self.client_key),
        ]
        .to_vec()
    }
}
