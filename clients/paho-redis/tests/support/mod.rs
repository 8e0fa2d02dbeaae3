//! What the tests run against, all real:
//!
//! - [`RedisServer`]: a private `redis-server` on a free TCP port or a UNIX
//!   socket, stopped and started again at will, killed when dropped.
//! - [`Link`]: a TCP relay between a Paho client and mqhost that, for one
//!   connection, stops passing packets after CONNACK: a network that
//!   stalls while messages are in flight.
//! - [`Publisher`]: the `redis_persist_pub` example in a child process, so
//!   it can be killed with SIGKILL.
//! - [`Subscriber`]: a Paho client subscribed on the broker, counting what
//!   it receives.

#![allow(dead_code)] // each test file uses part of this module

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use mqhost_paho_redis::{RedisPersistence, RedisPersistenceBuilder};
use mqhost_tests::plugins::TempDir;
use paho_mqtt as mqtt;

/// Polls until a check holds, shared with the broker's end-to-end tests.
pub use mqhost_tests::redis::wait_until;

/// A private `redis-server` from the broker's test harness (no RDB, no
/// AOF, its own directory, killed when dropped), reached by the store over
/// TCP or, for [`RedisServer::unix`], over a UNIX socket in that
/// directory.
pub struct RedisServer {
    server: mqhost_tests::redis::RedisServer,
    socket: Option<PathBuf>,
    password: Option<String>,
    _dir: TempDir,
}

impl RedisServer {
    /// A server on a free loopback TCP port.
    pub fn tcp() -> RedisServer {
        RedisServer::start(false, None)
    }

    /// A server the store reaches over a UNIX socket. It has a TCP port
    /// too, which the store is never told about.
    pub fn unix() -> RedisServer {
        RedisServer::start(true, None)
    }

    /// A TCP server that wants `password` (`requirepass`).
    pub fn tcp_with_password(password: &str) -> RedisServer {
        RedisServer::start(false, Some(password))
    }

    fn start(unix: bool, password: Option<&str>) -> RedisServer {
        let dir = TempDir::new();
        let socket = unix.then(|| dir.path().join("redis.sock"));
        let mut extra: Vec<String> = Vec::new();
        if let Some(socket) = &socket {
            extra.extend([
                "--unixsocketperm".into(),
                "700".into(),
                "--unixsocket".into(),
            ]);
            extra.push(socket.display().to_string());
        }
        if let Some(password) = password {
            extra.extend(["--requirepass".into(), password.into()]);
        }
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        RedisServer {
            server: mqhost_tests::redis::RedisServer::start_in(dir.path(), &extra, false),
            socket,
            password: password.map(str::to_owned),
            _dir: dir,
        }
    }

    /// Starts the server again, on the same port and socket.
    pub fn restart(&mut self) {
        self.server.restart();
    }

    /// Kills the server (SIGKILL, as a crash would) and waits for it.
    pub fn stop(&mut self) {
        self.server.kill();
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing is
    /// answered.
    pub fn pause(&self) {
        self.server.pause();
    }

    /// Lets a [paused](Self::pause) server go on (SIGCONT).
    pub fn resume(&self) {
        self.server.resume();
    }

    /// The URL a store should use (TCP or `redis+unix://`), with the
    /// password if there is one.
    pub fn url(&self) -> String {
        match (&self.socket, &self.password) {
            (None, None) => self.server.url(),
            (None, Some(p)) => format!("redis://:{p}@{}/", self.server.addr()),
            (Some(path), None) => format!("redis+unix://{}", path.display()),
            (Some(path), Some(p)) => format!("redis+unix://{}?pass={p}", path.display()),
        }
    }

    /// The TCP port, for a server the store reaches over TCP.
    pub fn port(&self) -> Option<u16> {
        self.socket.is_none().then(|| self.server.port())
    }

    /// A builder pointed at this server (no password set).
    pub fn builder(&self) -> RedisPersistenceBuilder {
        match &self.socket {
            None => RedisPersistence::builder().tcp("127.0.0.1", self.server.port()),
            Some(path) => RedisPersistence::builder().unix_socket(path),
        }
    }

    /// Arguments for the example to use this server.
    pub fn example_args(&self) -> Vec<String> {
        match &self.socket {
            None => vec!["--redis".into(), self.url()],
            Some(path) => vec!["--unix".into(), path.display().to_string()],
        }
    }

    /// A direct connection for the test's own inspection.
    pub fn connection(&self) -> redis::RedisResult<redis::Connection> {
        redis::Client::open(self.url().as_str())?
            .get_connection_with_timeout(Duration::from_secs(2))
    }

    /// Runs one command on database 0 and returns its reply.
    pub fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> T {
        let mut conn = self.connection().expect("connect to the test redis-server");
        cmd.query(&mut conn).expect("query the test redis-server")
    }

    /// The fields of `hash`, sorted.
    pub fn fields(&self, hash: &str) -> Vec<String> {
        let mut fields: Vec<String> = self.query(redis::cmd("HKEYS").arg(hash));
        fields.sort();
        fields
    }
}

/// What a [`Link`] does to one connection once the broker has sent CONNACK.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Stall {
    /// Nothing more passes either way: the broker never sees the
    /// publishes, the client never hears back.
    Blackhole,
    /// The publishes reach the broker; PUBACK, PUBREC and PUBCOMP never
    /// come back (PINGRESP does).
    DropAcks,
    /// The publishes and PUBREL reach the broker, PUBREC comes back (so
    /// the client sends PUBREL), PUBACK and PUBCOMP never do.
    DropFinalAcks,
}

impl Stall {
    /// Whether a packet of this type from the broker is dropped.
    fn drops_down(self, packet_type: u8) -> bool {
        const PUBACK: u8 = 4;
        const PUBREC: u8 = 5;
        const PUBCOMP: u8 = 7;
        match self {
            Stall::Blackhole => true,
            Stall::DropAcks => matches!(packet_type, PUBACK | PUBREC | PUBCOMP),
            Stall::DropFinalAcks => matches!(packet_type, PUBACK | PUBCOMP),
        }
    }
}

/// A TCP relay to `target`. Connections pass untouched, except the next
/// one after [`stall_next`](Link::stall_next), which is stalled as asked
/// once CONNACK has passed. A stalled connection is never closed towards
/// the broker, as a network that just stopped would not close it.
pub struct Link {
    addr: SocketAddr,
    stall_next: Arc<Mutex<Option<Stall>>>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
    done: Arc<AtomicBool>,
}

impl Link {
    pub fn to(target: SocketAddr) -> Link {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind link");
        let addr = listener.local_addr().expect("link address");
        let link = Link {
            addr,
            stall_next: Arc::default(),
            streams: Arc::default(),
            done: Arc::default(),
        };
        let (stall_next, streams, done) = (
            Arc::clone(&link.stall_next),
            Arc::clone(&link.streams),
            Arc::clone(&link.done),
        );
        thread::spawn(move || {
            for client in listener.incoming() {
                if done.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(broker) = TcpStream::connect(target) else {
                    continue;
                };
                let stall = stall_next.lock().unwrap().take();
                relay(client, broker, stall, &streams);
            }
        });
        link
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stalls the next connection once CONNACK has passed.
    pub fn stall_next(&self, stall: Stall) {
        *self.stall_next.lock().unwrap() = Some(stall);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        for stream in self.streams.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
        // Wake the accept loop so it sees `done`.
        let _ = TcpStream::connect(self.addr);
    }
}

/// Starts the two copying threads of one relayed connection.
fn relay(
    client: TcpStream,
    broker: TcpStream,
    stall: Option<Stall>,
    streams: &Arc<Mutex<Vec<TcpStream>>>,
) {
    let (Ok(client_r), Ok(broker_r)) = (client.try_clone(), broker.try_clone()) else {
        return;
    };
    if let (Ok(c), Ok(b)) = (client.try_clone(), broker.try_clone()) {
        streams.lock().unwrap().extend([c, b]);
    }
    // Set once CONNACK is on its way to the client: from then on the
    // stall applies.
    let stalled = Arc::new(AtomicBool::new(false));

    // Client to broker: whole byte chunks; dropped only by a Blackhole.
    let up_stalled = Arc::clone(&stalled);
    let mut up_to = broker;
    thread::spawn(move || {
        let mut client_r = client_r;
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = match client_r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if up_stalled.load(Ordering::SeqCst) && stall == Some(Stall::Blackhole) {
                continue;
            }
            if up_to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        // A stalled link does not tell the broker the client is gone.
        if !up_stalled.load(Ordering::SeqCst) {
            let _ = up_to.shutdown(Shutdown::Write);
        }
    });

    // Broker to client: whole MQTT packets, so single ones can be dropped.
    let mut down_to = client;
    thread::spawn(move || {
        let mut broker_r = broker_r;
        let mut pending: Vec<u8> = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = match broker_r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            pending.extend_from_slice(&buf[..n]);
            while let Some(len) = packet_len(&pending) {
                let packet: Vec<u8> = pending.drain(..len).collect();
                let packet_type = packet[0] >> 4;
                let pass = match stall {
                    None => true,
                    Some(_) if packet_type == 2 => {
                        // CONNACK: the stall starts before the client can
                        // answer it.
                        stalled.store(true, Ordering::SeqCst);
                        true
                    }
                    Some(stall) => {
                        !(stalled.load(Ordering::SeqCst) && stall.drops_down(packet_type))
                    }
                };
                if pass && down_to.write_all(&packet).is_err() {
                    return;
                }
            }
        }
        if !stalled.load(Ordering::SeqCst) {
            let _ = down_to.shutdown(Shutdown::Write);
        }
    });
}

/// The length of the first complete MQTT packet in `buf`, if there is one.
fn packet_len(buf: &[u8]) -> Option<usize> {
    let mut remaining = 0usize;
    for (i, byte) in buf.iter().skip(1).take(4).enumerate() {
        remaining |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            let total = 1 + (i + 1) + remaining;
            return (buf.len() >= total).then_some(total);
        }
    }
    None
}

/// The environment variable that carries the example's arguments to the
/// child process, one per line.
pub const PUBLISHER_ARGS: &str = "PAHO_REDIS_PUBLISHER_ARGS";

/// The name of the ignored test that runs the example in the child (see
/// `publisher_process` in `crash_recovery.rs`).
pub const PUBLISHER_TEST: &str = "publisher_process";

/// The output lines of a child process, shared with the thread reading
/// them.
#[derive(Default)]
struct Lines {
    lines: Mutex<Vec<String>>,
    grew: Condvar,
}

/// The `redis_persist_pub` example in a child process; SIGKILLed when
/// dropped.
///
/// The child is this test executable again, running only the ignored test
/// [`PUBLISHER_TEST`], which runs the example's code with the arguments
/// in [`PUBLISHER_ARGS`]. So the example tested is always the one just
/// built, whichever targets cargo was asked to build.
pub struct Publisher {
    child: Child,
    out: Arc<Lines>,
}

impl Publisher {
    pub fn spawn(args: &[String]) -> Publisher {
        let exe = std::env::current_exe().expect("test executable path");
        let mut child = Command::new(exe)
            .args([PUBLISHER_TEST, "--exact", "--ignored", "--nocapture"])
            .args(["--test-threads", "1"])
            .env(PUBLISHER_ARGS, args.join("\n"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start redis_persist_pub");
        let out = Arc::new(Lines::default());
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let out = Arc::clone(&out);
            thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    out.lines.lock().unwrap().push(line);
                    out.grew.notify_all();
                }
            });
        }
        Publisher { child, out }
    }

    /// Everything the child printed so far.
    pub fn output(&self) -> String {
        self.out.lines.lock().unwrap().join("\n")
    }

    /// Waits until a line contains `needle`; panics with the output if it
    /// does not come.
    pub fn expect_line(&self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        let mut lines = self.out.lines.lock().unwrap();
        loop {
            if let Some(line) = lines.iter().find(|l| l.contains(needle)) {
                return line.clone();
            }
            let now = Instant::now();
            if now >= deadline {
                panic!(
                    "publisher did not print {needle:?} within {timeout:?}; it printed:\n{}",
                    lines.join("\n")
                );
            }
            lines = self.out.grew.wait_timeout(lines, deadline - now).unwrap().0;
        }
    }

    /// Kills the process with SIGKILL: no disconnect, no cleanup.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the process to exit; panics unless it exits with 0.
    pub fn expect_success(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for publisher") {
                assert!(
                    status.success(),
                    "publisher failed ({status}):\n{}",
                    self.output()
                );
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "publisher still running after {timeout:?}:\n{}",
                    self.output()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A Paho client subscribed on the broker (directly, not through a
/// [`Link`]) that counts each payload it receives.
pub struct Subscriber {
    client: mqtt::Client,
    received: Arc<Mutex<BTreeMap<String, usize>>>,
}

impl Subscriber {
    pub fn connect(broker: SocketAddr, filter: &str) -> Subscriber {
        let client = mqtt::Client::new(
            mqtt::CreateOptionsBuilder::new()
                .server_uri(format!("tcp://{broker}"))
                .client_id(format!("subscriber-{}", std::process::id()))
                .persistence(mqtt::PersistenceType::None)
                .finalize(),
        )
        .expect("create subscriber");
        let messages = client.start_consuming();
        client
            .connect(
                mqtt::ConnectOptionsBuilder::new_v3()
                    .clean_session(true)
                    .finalize(),
            )
            .expect("subscriber connects");
        client
            .subscribe(filter, mqtt::QOS_2)
            .expect("subscriber subscribes");
        let received: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
        let counts = Arc::clone(&received);
        thread::spawn(move || {
            // Ends when the client is dropped (the channel closes).
            for message in messages.iter().flatten() {
                *counts
                    .lock()
                    .unwrap()
                    .entry(message.payload_str().into_owned())
                    .or_default() += 1;
            }
        });
        Subscriber { client, received }
    }

    /// Each payload received so far, with how many times.
    pub fn received(&self) -> BTreeMap<String, usize> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until every payload in `expected` has arrived at least once.
    pub fn wait_for_all(&self, expected: &[String], timeout: Duration) -> bool {
        wait_until(timeout, || {
            let received = self.received();
            expected.iter().all(|p| received.contains_key(p))
        })
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.client.disconnect(None);
    }
}
