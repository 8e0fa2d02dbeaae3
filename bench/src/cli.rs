//! The command line: [`USAGE`] (what `--help` prints) and [`Options`].

use std::path::PathBuf;

pub const USAGE: &str = "\
usage: mqhost-bench [--quick | --full] [--out DIR] [--bin-dir DIR] [--mosquitto PATH]
                    [--rounds N] [--only KEY,KEY...] [--threads N] [--revision TEXT]
       mqhost-bench --against ADDR [--only KEY,KEY...] [--quick | --full]

Runs every scenario against mqhost and Mosquitto, alternating brokers
round by round, and writes DIR/<date>-<mode>.json and .md (DIR defaults to
bench/results). --bin-dir holds mqhost and the plugin libraries
(target/release). --only runs the scenarios named: qos0, qos1, qos2,
fanin, fanout, pairs, latency, idle, auth, qos1-tls, qos1-ws, idle-tls,
tls-cost, noop, access, metrics, redis, auth-redis, connect-sub,
durable, durable-fanin, durable-cost, durable-fanin-cost, restart, and
qos1-2threads (full mode only). --threads sets
the load generator's threads for message loads (default 1); connection
scenarios use one per core.

qos1-tls, qos1-ws and idle-tls are qos1 and idle over TLS and WebSocket:
each broker gets a TLS listener (mqhost: listener.ssl.bench with certfile
and keyfile; Mosquitto: a second listener with certfile and keyfile) or
a WebSocket one (listener.ws.bench; Mosquitto: protocol websockets)
beside its plain listener. Both serve one self-signed ECDSA P-256
certificate made with openssl for the run (the TLS scenarios are skipped
without openssl). The TLS client resumes no session and checks that the
broker presents that certificate but verifies no signature, so that its
share of each handshake leaves the cores to the broker; the WebSocket
client asks for /mqtt with the mqtt subprotocol and sends each batch of
packets as one binary message. tls-cost is mqhost over TLS against
mqhost over TCP under the qos1 load, as long and as many rounds as noop:
its ratio is what TLS costs mqhost.

metrics is the qos1 load on mqhost with its admin API on and GET
/metrics asked (with the token the broker wrote) at the start and every
second of the run, each answer checked, against mqhost without the admin
API, as long and as many rounds as noop: its ratio is what scraping
costs the message path (the goal: at least 0.97). The scrapes, their
bytes and the slowest answer are in each round's details.

access and auth run with access control: a password file holding the
bench's user (written by `mqhost passwd`, read by both brokers), an ACL
file of 1,000 rules in which that user has one of the later blocks, and
anonymous clients refused (mqhost: auth.password_file, acl.file,
mqtt.allow_anonymous off; Mosquitto: password_file, acl_file,
allow_anonymous false). Every client sends user name and password, and a
refused CONNECT fails the round; before each round the broker must refuse
a wrong password. access is the qos1 load on mqhost with access control
against mqhost without (which gets the same CONNECTs), as long and as
many rounds as noop; auth is the idle scenario's 10,000 connections with
access control on both mqhost and Mosquitto.

--against drives a broker already running at ADDR (host:port, a plain
listener) with each load once and prints what it measured, nothing else:
for profiling a broker with perf or valgrind while the load runs. The
TLS and WebSocket scenarios are left out.

durable and durable-fanin are qos1 and fanin with every client asking
for a persistent session (clean session 0): mqhost with its store on, as
it ships (persistence.dir in the broker's directory, persistence.sync
interval), against Mosquitto with persistence true (persistence_location
the broker's directory, autosave_interval as it ships). durable-cost and
durable-fanin-cost are the same loads on mqhost with its store on against
mqhost with persistence = off, as long and as many rounds as noop.
restart gives each broker 10,000 persistent sessions subscribed at QoS 1
to topics of their own and 100,000 QoS 1 messages queued for them, stops
it (mqhost with SIGKILL, Mosquitto with SIGTERM, which saves its
database) and times its start on what it left until it accepts
connections; a session must then come back with Session Present and its
10 messages, else the round fails. Every mqhost of the bench keeps its
store in its own directory, removed after the run.

The redis scenario starts a private redis-server (from PATH, else
/usr/bin/redis-server) on a free loopback port, nothing saved to disk,
for mqhost with the Redis backend plugin (libmqhost_redis.so in
--bin-dir), and stops it afterwards; without the server or the plugin,
the scenario is skipped. Each round runs until Redis has stored and
deleted every message and holds no key (60 s at most, else the round
fails): throughput counts to there, mqtt_rate to the last MQTT delivery,
redis_cmds_per_s is Redis's commands over the time throughput counts,
redis_cpu_us_per_msg Redis's own CPU (used_cpu_user + used_cpu_sys) per
message: the ceiling of the row on one core, beside the broker's.

auth-redis is mqhost with the auth_redis plugin (libmqhost_auth_redis.so
in --bin-dir) against mqhost without access control, 10,000 connections:
before each of the plugin's rounds the private redis-server gets 10,000
users (HSET mqtt_user:<u> password <sha256 of salt and password> salt
<salt>, HSET mqtt_acl:<u> with 10 rules), each client logs in as its own
user and then subscribes once to a topic only its last rule allows
(mqtt.allow_anonymous off, acl.nomatch deny, so a refusal fails the
round). connect-sub is the same clients against mqhost and Mosquitto,
neither checking them: the two give the plugin's rate beside both.

Environment: MQHOST_BENCH_REDIS_CONF names a configuration file for the
Redis plugin to use instead of the bench's own; {redis_server} in it
stands for the private server's host:port, which the rounds check.";

pub struct Options {
    pub full: bool,
    pub out: PathBuf,
    pub bin_dir: PathBuf,
    pub mosquitto: PathBuf,
    pub rounds: Option<usize>,
    pub only: Option<Vec<String>>,
    pub threads: usize,
    pub revision: String,
    pub against: Option<std::net::SocketAddr>,
}

pub fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        full: false,
        out: PathBuf::from("bench/results"),
        bin_dir: PathBuf::from("target/release"),
        mosquitto: PathBuf::from("/usr/sbin/mosquitto"),
        rounds: None,
        only: None,
        threads: 1,
        revision: String::new(),
        against: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--quick" => options.full = false,
            "--full" => options.full = true,
            "--out" => options.out = value("--out")?.into(),
            "--bin-dir" => options.bin_dir = value("--bin-dir")?.into(),
            "--mosquitto" => options.mosquitto = value("--mosquitto")?.into(),
            "--revision" => options.revision = value("--revision")?,
            "--against" => {
                options.against = Some(
                    value("--against")?
                        .parse()
                        .map_err(|_| "--against needs host:port")?,
                )
            }
            "--rounds" => {
                options.rounds = Some(
                    value("--rounds")?
                        .parse()
                        .map_err(|_| "--rounds needs a number")?,
                )
            }
            "--threads" => {
                options.threads = value("--threads")?
                    .parse()
                    .map_err(|_| "--threads needs a number")?
            }
            "--only" => {
                options.only = Some(
                    value("--only")?
                        .split(',')
                        .map(|s| s.trim().to_owned())
                        .collect(),
                )
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other}\n\n{USAGE}")),
        }
    }
    Ok(options)
}
