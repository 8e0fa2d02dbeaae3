//! `mqhost-bench`: drives mqhost and Mosquitto with the same load in the
//! same run and reports medians and ratios. `scripts/bench` builds
//! everything and calls it; see `--help`.
//!
//! # Layout
//!
//! - `main`: the command line, the suite of scenarios (quick or full), and
//!   the run order: for each scenario, round after round, each broker in
//!   turn (A B A B), a fresh broker process for every run.
//! - [`brokers`]: starting mqhost (with plugins) and Mosquitto on free
//!   loopback ports with the same limits; their memory and CPU time.
//! - [`client`]: a lean MQTT 3.1.1 client over `mqhost-codec`.
//! - [`load`]: publishers and subscribers that verify every message, paced
//!   or unbounded, and idle connections.
//! - [`redis`]: the Redis scenario's private `redis-server`, the plugin's
//!   configuration for it, and a tiny RESP client that waits until Redis
//!   has stored and consumed every message.
//! - [`report`]: medians, ratios, the Markdown table, the JSON file.

#![forbid(unsafe_code)]

mod brokers;
mod client;
mod load;
mod redis;
mod report;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use mqhost_codec::QoS;
use serde_json::{json, Value};

use brokers::{BrokerSpec, Flavour, Limits, Programs};
use client::Error;
use load::MessageLoad;
use report::{Metric, Round, ScenarioResult};

const USAGE: &str = "\
usage: mqhost-bench [--quick | --full] [--out DIR] [--bin-dir DIR] [--mosquitto PATH]
                    [--rounds N] [--only KEY,KEY...] [--threads N] [--revision TEXT]
       mqhost-bench --against ADDR [--only KEY,KEY...] [--quick | --full]

Runs every scenario against mqhost and Mosquitto, alternating brokers
round by round, and writes DIR/<date>-<mode>.json and .md (DIR defaults to
bench/results). --bin-dir holds mqhost and the plugin libraries
(target/release). --only runs the scenarios named: qos0, qos1, qos2,
fanin, fanout, pairs, latency, idle, noop, redis, and qos1-2threads (full
mode only). --threads sets the load generator's threads for message loads
(default 1); connection scenarios use one per core.

--against drives a broker already running at ADDR (host:port) with each
load once and prints what it measured, nothing else: for
profiling a broker with perf or valgrind while the load runs.

The redis scenario starts a private redis-server (from PATH, else
/usr/bin/redis-server) on a free loopback port, nothing saved to disk,
for mqhost with the Redis backend plugin (libmqhost_redis.so in
--bin-dir), and stops it afterwards; without the server or the plugin,
the scenario is skipped. Each round runs until Redis has stored and
deleted every message and holds no key (60 s at most, else the round
fails): throughput counts to there, mqtt_rate to the last MQTT delivery,
redis_cmds_per_s is Redis's commands over the time throughput counts.

Environment: MQHOST_BENCH_REDIS_CONF names a configuration file for the
Redis plugin to use instead of the bench's own; {redis_server} in it
stands for the private server's host:port, which the rounds check.";

/// The brokers' windows and queues: the same in-flight window for both;
/// mqhost keeps its default queue bound, Mosquitto gets none, since it
/// would drop what a fast publisher sends beyond it.
const LIMITS: Limits = Limits {
    inflight: 1000,
    mqhost_queued: 1000,
    mosquitto_queued: 0,
};
/// QoS 1/2 messages each publisher keeps unacknowledged.
const WINDOW: usize = 1000;

struct Options {
    full: bool,
    out: PathBuf,
    bin_dir: PathBuf,
    mosquitto: PathBuf,
    rounds: Option<usize>,
    only: Option<Vec<String>>,
    threads: usize,
    revision: String,
    against: Option<std::net::SocketAddr>,
}

fn parse_args() -> Result<Options, String> {
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

/// What a scenario runs.
enum Work {
    Messages(MessageLoad),
    Connections(usize),
}

struct Scenario {
    key: &'static str,
    title: String,
    description: String,
    work: Work,
    /// The broker the figures are about, then the one it is compared with.
    subject: BrokerSpec,
    reference: BrokerSpec,
    /// Why it cannot run here, if it cannot.
    skip: Option<String>,
    /// At least this many rounds, whatever the mode says: for a
    /// comparison that must tell a few percent apart.
    min_rounds: usize,
    /// `redis-server` to start for the subject, whose plugin configuration
    /// names it as `{redis_server}`: the scenario's rounds then run until
    /// Redis has done the plugin's work.
    redis: Option<PathBuf>,
}

const THROUGHPUT: Metric = Metric {
    key: "throughput",
    label: "throughput",
    unit: "msg/s",
    higher_is_better: true,
};
/// The subject's rate on the MQTT side alone, when a backend's work is
/// timed beyond it.
const MQTT_RATE: Metric = Metric {
    key: "mqtt_rate",
    label: "MQTT rate",
    unit: "msg/s",
    higher_is_better: true,
};
const REDIS_COMMANDS: Metric = Metric {
    key: "redis_cmds_per_s",
    label: "Redis commands",
    unit: "cmd/s",
    higher_is_better: true,
};
const CPU_PER_MESSAGE: Metric = Metric {
    key: "cpu_us_per_msg",
    label: "broker CPU per message",
    unit: "µs",
    higher_is_better: false,
};
const LATENCY: [Metric; 3] = [
    Metric {
        key: "p50_us",
        label: "latency p50",
        unit: "µs",
        higher_is_better: false,
    },
    Metric {
        key: "p99_us",
        label: "latency p99",
        unit: "µs",
        higher_is_better: false,
    },
    Metric {
        key: "max_us",
        label: "latency max",
        unit: "µs",
        higher_is_better: false,
    },
];
const CONNECTIONS: [Metric; 3] = [
    Metric {
        key: "bytes_per_connection",
        label: "memory per idle connection",
        unit: "B",
        higher_is_better: false,
    },
    Metric {
        key: "connect_rate",
        label: "connection rate",
        unit: "conn/s",
        higher_is_better: true,
    },
    Metric {
        key: "cpu_us_per_connection",
        label: "broker CPU per connection",
        unit: "µs",
        higher_is_better: false,
    },
];

impl Scenario {
    fn metrics(&self) -> Vec<Metric> {
        match &self.work {
            Work::Messages(load) if load.latency => LATENCY.to_vec(),
            Work::Messages(_) if self.redis.is_some() => {
                vec![THROUGHPUT, MQTT_RATE, REDIS_COMMANDS, CPU_PER_MESSAGE]
            }
            Work::Messages(_) => vec![THROUGHPUT, CPU_PER_MESSAGE],
            Work::Connections(_) => CONNECTIONS.to_vec(),
        }
    }
}

fn mqhost(name: &str, plugins: Vec<(PathBuf, String)>, sets: &[(&str, &str)]) -> BrokerSpec {
    BrokerSpec {
        name: name.to_owned(),
        flavour: Flavour::Mqhost {
            plugins,
            sets: sets
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        },
    }
}

fn mosquitto() -> BrokerSpec {
    BrokerSpec {
        name: "mosquitto".to_owned(),
        flavour: Flavour::Mosquitto,
    }
}

/// The Redis plugin's configuration, `{redis_server}` standing for the
/// private server: the bench's own, or the file MQHOST_BENCH_REDIS_CONF
/// names (an error, which skips the scenario, if it cannot be read).
fn redis_plugin_conf() -> Result<String, String> {
    match std::env::var_os("MQHOST_BENCH_REDIS_CONF") {
        None => Ok(redis::PLUGIN_CONF.to_owned()),
        Some(path) => std::fs::read_to_string(&path).map_err(|e| {
            format!(
                "MQHOST_BENCH_REDIS_CONF names {}, which cannot be read: {e}",
                Path::new(&path).display()
            )
        }),
    }
}

/// `spec` with its plugins' configurations pointed at the Redis server at
/// `addr`, whose port is only known once the server runs.
fn with_redis(spec: &BrokerSpec, addr: std::net::SocketAddr) -> BrokerSpec {
    let mut spec = spec.clone();
    if let Flavour::Mqhost { plugins, .. } = &mut spec.flavour {
        for (_, config) in plugins.iter_mut() {
            *config = redis::plugin_conf(config, addr);
        }
    }
    spec
}

/// The suite. Message counts are the same for both brokers; quick mode
/// sizes them so that Mosquitto's runs take two or three seconds here.
fn scenarios(options: &Options) -> Vec<Scenario> {
    let full = options.full;
    let size = |quick: u64, full_size: u64| if full { full_size } else { quick };
    let plain = || mqhost("mqhost", Vec::new(), &[]);
    let versus = |key, title: &str, description: String, work| Scenario {
        key,
        title: title.to_owned(),
        description,
        work,
        subject: plain(),
        reference: mosquitto(),
        skip: None,
        min_rounds: 0,
        redis: None,
    };
    let mut list = vec![
        versus(
            "qos0",
            "QoS 0, 1 → 1",
            "one publisher, one subscriber, QoS 0, 64-byte payloads, as fast as possible".into(),
            Work::Messages(MessageLoad::pairs(
                1,
                QoS::AtMostOnce,
                size(300_000, 1_000_000),
                WINDOW,
            )),
        ),
        versus(
            "qos1",
            "QoS 1, 1 → 1",
            format!(
                "one publisher, one subscriber, QoS 1, {WINDOW} in flight, as fast as possible"
            ),
            Work::Messages(MessageLoad::pairs(
                1,
                QoS::AtLeastOnce,
                size(150_000, 500_000),
                WINDOW,
            )),
        ),
        versus(
            "qos2",
            "QoS 2, 1 → 1",
            format!(
                "one publisher, one subscriber, QoS 2, {WINDOW} in flight, as fast as possible"
            ),
            Work::Messages(MessageLoad::pairs(
                1,
                QoS::ExactlyOnce,
                size(60_000, 200_000),
                WINDOW,
            )),
        ),
        versus(
            "fanin",
            "fan-in 10 → 1, QoS 1",
            "ten publishers on topics of their own, one subscriber to bench/in/+".into(),
            Work::Messages(MessageLoad::fan_in(
                10,
                QoS::AtLeastOnce,
                size(10_000, 50_000),
                WINDOW,
            )),
        ),
        versus(
            "fanout",
            "fan-out 1 → 1000, QoS 1",
            "one publisher, 1000 subscribers to its topic; throughput counts deliveries".into(),
            Work::Messages(MessageLoad::fan_out(
                1000,
                QoS::AtLeastOnce,
                size(100, 500),
                WINDOW,
            )),
        ),
        versus(
            "pairs",
            "100 pairs, QoS 1",
            "100 publishers each heard by a subscriber of its own".into(),
            Work::Messages(MessageLoad::pairs(
                100,
                QoS::AtLeastOnce,
                size(1_000, 5_000),
                WINDOW,
            )),
        ),
        {
            let rate = 20_000.0;
            let seconds = size(3, 10);
            let mut load = MessageLoad::pairs(1, QoS::AtLeastOnce, rate as u64 * seconds, WINDOW);
            load.rate = Some(rate);
            load.latency = true;
            versus(
                "latency",
                "latency at 20k msg/s, QoS 1",
                format!(
                    "one publisher at 20,000 msg/s for {seconds} s, one subscriber; \
                     latency from the timestamp in the payload to the read that brought it"
                ),
                Work::Messages(load),
            )
        },
        versus(
            "idle",
            "10,000 idle connections",
            "10,000 clients connect (100 at a time, the generator on one thread per core), then stay idle; broker RSS before and after"
                .into(),
            Work::Connections(10_000),
        ),
    ];

    let noop = options.bin_dir.join("libmqhost_noop.so");
    list.push(Scenario {
        key: "noop",
        title: "QoS 1, 1 → 1, no-op plugin".to_owned(),
        description: "mqhost with a plugin that takes every hook and does nothing, against mqhost without plugins".into(),
        // mqhost against itself: runs of a second or more, and more
        // rounds, to tell a few percent apart on a shared machine.
        work: Work::Messages(MessageLoad::pairs(1, QoS::AtLeastOnce, size(1_000_000, 3_000_000), WINDOW)),
        subject: mqhost("mqhost+noop", vec![(noop.clone(), String::new())], &[]),
        reference: plain(),
        skip: (!noop.exists()).then(|| format!("{} is not built", noop.display())),
        min_rounds: size(5, 7) as usize,
        redis: None,
    });

    let redis = options.bin_dir.join("libmqhost_redis.so");
    let redis_server = redis::find_server();
    let redis_conf = redis_plugin_conf();
    let redis_skip = if !redis.exists() {
        Some(format!("{} is not built (plugins/redis)", redis.display()))
    } else if redis_server.is_none() {
        Some("no redis-server on PATH or at /usr/bin/redis-server".to_owned())
    } else {
        redis_conf.as_ref().err().cloned()
    };
    list.push(Scenario {
        key: "redis",
        title: "QoS 1, 1 → 1, Redis backend".to_owned(),
        description: "mqhost with the Redis backend storing every QoS 1 message in a private redis-server and deleting it at its ack, timed until Redis has done both for every message, against mqhost without plugins".into(),
        work: Work::Messages(MessageLoad::pairs(1, QoS::AtLeastOnce, size(50_000, 200_000), WINDOW)),
        subject: mqhost("mqhost+redis", vec![(redis, redis_conf.unwrap_or_default())], &[]),
        reference: plain(),
        skip: redis_skip,
        min_rounds: 0,
        redis: redis_server,
    });

    if full {
        list.push(Scenario {
            key: "qos1-2threads",
            title: "QoS 1, 1 → 1, mqhost on 2 threads".to_owned(),
            description: "as qos1, with node.worker_threads = 2 (not the default)".into(),
            work: Work::Messages(MessageLoad::pairs(1, QoS::AtLeastOnce, 1_000_000, WINDOW)),
            subject: mqhost(
                "mqhost-2threads",
                Vec::new(),
                &[("node.worker_threads", "2")],
            ),
            reference: mosquitto(),
            skip: None,
            min_rounds: 0,
            redis: None,
        });
    }

    if let Some(only) = &options.only {
        list.retain(|s| only.iter().any(|k| k == s.key));
    }
    list
}

/// Runs one broker once under the scenario's load; `redis` is the server
/// its plugin writes to, for the subject of the Redis scenario.
fn run_once(
    runtime: &tokio::runtime::Runtime,
    scenario: &Scenario,
    broker: &BrokerSpec,
    programs: &Programs,
    work_dir: &Path,
    mut redis: Option<&mut redis::Server>,
) -> Result<(BTreeMap<&'static str, f64>, Value), Error> {
    // Before the broker starts, so that its plugin finds an empty Redis.
    if let Some(server) = redis.as_deref_mut() {
        server.reset()?;
    }
    let running = broker.start(programs, LIMITS, work_dir)?;
    let pid = running.pid();
    let addr = running.addr;
    let cpu_before = brokers::cpu_seconds(pid)?;
    let mut values = BTreeMap::new();
    let result = match &scenario.work {
        Work::Messages(load) => {
            run_messages(runtime, load, addr, pid, cpu_before, redis).map(|(v, details)| {
                values = v;
                details
            })
        }
        Work::Connections(count) => connections_runtime()
            .and_then(|runtime| {
                runtime.block_on(load::run_connections(addr, *count, || {
                    brokers::rss_kib(pid)
                }))
            })
            .map(|o| {
                let cpu = brokers::cpu_seconds(pid).unwrap_or(cpu_before) - cpu_before;
                values.insert("bytes_per_connection", o.bytes_per_connection());
                values.insert("connect_rate", o.rate);
                values.insert(
                    "cpu_us_per_connection",
                    cpu * 1e6 / o.connections.max(1) as f64,
                );
                json!({
                    "connections": o.connections,
                    "rss_before_kib": o.rss_before_kib,
                    "rss_after_kib": o.rss_after_kib,
                    "connect_rate": o.rate,
                    "broker_cpu_s": cpu,
                })
            }),
    };
    let result = result.map_err(|e| {
        let log = running.log();
        let tail: Vec<&str> = log.lines().rev().take(5).collect();
        if tail.is_empty() {
            e
        } else {
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            format!("{e}\n  broker log ends:\n    {}", tail.join("\n    "))
        }
    });
    drop(running);
    result.map(|details| (values, details))
}

/// A message load against the broker at `addr` (process `pid`, which had
/// used `cpu_before` seconds): its figures and details. With `redis`, the
/// round lasts until Redis has stored and consumed every message, and
/// throughput and CPU are counted to there.
fn run_messages(
    runtime: &tokio::runtime::Runtime,
    load: &MessageLoad,
    addr: std::net::SocketAddr,
    pid: u32,
    cpu_before: f64,
    redis: Option<&mut redis::Server>,
) -> Result<(BTreeMap<&'static str, f64>, Value), Error> {
    let backend = match redis {
        Some(server) => {
            let before = server.stats()?;
            Some((server, before))
        }
        None => None,
    };
    let o = runtime.block_on(load::run_messages(addr, load))?;
    let drained = match backend {
        Some((server, before)) => {
            let published = load.per_publisher * load.topics.len() as u64;
            let drained = server.wait_drained(&before, published)?;
            Some((before, drained))
        }
        None => None,
    };
    let cpu = brokers::cpu_seconds(pid).unwrap_or(cpu_before) - cpu_before;
    let mut values = BTreeMap::new();
    if load.latency {
        let at = |q: f64| {
            let i = ((o.latencies.len() as f64 * q) as usize).min(o.latencies.len() - 1);
            o.latencies[i] as f64 / 1000.0
        };
        values.insert("p50_us", at(0.50));
        values.insert("p99_us", at(0.99));
        values.insert("max_us", at(1.0));
    } else {
        values.insert("throughput", o.rate());
        values.insert("cpu_us_per_msg", cpu * 1e6 / o.delivered.max(1) as f64);
    }
    let mut details = json!({
        "delivered": o.delivered,
        "elapsed_s": o.elapsed.as_secs_f64(),
        "rate": o.rate(),
        "duplicates": o.duplicates,
        "out_of_order": o.out_of_order,
        "broker_cpu_s": cpu,
        "broker_rss_kib": brokers::rss_kib(pid).ok(),
    });
    if let Some((before, drained)) = drained {
        details["redis"] = redis_figures(&o, &before, &drained, &mut values);
    }
    Ok((values, details))
}

/// The figures of a round timed until Redis drained: throughput to there
/// (replacing the MQTT-side figure, which becomes `mqtt_rate`), Redis's
/// commands per second over the same time; and its details for the JSON.
fn redis_figures(
    o: &load::MessageOutcome,
    before: &redis::Stats,
    drained: &redis::Drained,
    values: &mut BTreeMap<&'static str, f64>,
) -> Value {
    let to_drained = drained.at.duration_since(o.started).as_secs_f64().max(1e-9);
    let commands = drained.stats.commands_since(before);
    values.insert("throughput", o.delivered as f64 / to_drained);
    values.insert("mqtt_rate", o.rate());
    values.insert("redis_cmds_per_s", commands as f64 / to_drained);
    json!({
        "to_drained_s": to_drained,
        "drain_s": (to_drained - o.elapsed.as_secs_f64()).max(0.0),
        "commands": drained.stats.listed_since(before),
        "commands_total": commands,
        "redis_cpu_s": drained.stats.cpu_s - before.cpu_s,
    })
}

fn run_scenario(
    runtime: &tokio::runtime::Runtime,
    scenario: &Scenario,
    rounds: usize,
    programs: &Programs,
    work_dir: &Path,
) -> ScenarioResult {
    let mut result = ScenarioResult {
        key: scenario.key.to_owned(),
        title: scenario.title.clone(),
        description: scenario.description.clone(),
        subject: scenario.subject.name.clone(),
        reference: scenario.reference.name.clone(),
        metrics: scenario.metrics(),
        rounds: Vec::new(),
        skipped: scenario.skip.clone(),
    };
    if let Some(why) = &scenario.skip {
        eprintln!("{}: skipped ({why})", scenario.key);
        return result;
    }
    // One Redis for all the scenario's rounds, emptied before each.
    let mut server = match scenario
        .redis
        .as_deref()
        .map(|p| redis::Server::start(p, work_dir))
    {
        None => None,
        Some(Ok(server)) => Some(server),
        Some(Err(e)) => {
            eprintln!("{}: FAILED: {e}", scenario.key);
            result.rounds.push(Round {
                round: 0,
                broker: scenario.subject.name.clone(),
                values: BTreeMap::new(),
                details: Value::Null,
                error: Some(e),
            });
            return result;
        }
    };
    let subject = match &server {
        Some(server) => with_redis(&scenario.subject, server.addr),
        None => scenario.subject.clone(),
    };
    for round in 0..rounds.max(scenario.min_rounds) {
        for (broker, redis) in [(&subject, server.as_mut()), (&scenario.reference, None)] {
            let outcome = run_once(runtime, scenario, broker, programs, work_dir, redis);
            let (values, details, error) = match outcome {
                Ok((values, details)) => (values, details, None),
                Err(e) => (BTreeMap::new(), Value::Null, Some(e)),
            };
            let shown: Vec<String> = values.iter().map(|(k, v)| format!("{k}={v:.1}")).collect();
            match &error {
                None => eprintln!(
                    "{} round {} {}: {}",
                    scenario.key,
                    round + 1,
                    broker.name,
                    shown.join(" ")
                ),
                Some(e) => eprintln!(
                    "{} round {} {}: FAILED: {e}",
                    scenario.key,
                    round + 1,
                    broker.name
                ),
            }
            result.rounds.push(Round {
                round,
                broker: broker.name.clone(),
                values,
                details,
                error,
            });
        }
    }
    result
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// CPU model, as /proc/cpuinfo names it.
fn cpu_model() -> String {
    read_trimmed("/proc/cpuinfo")
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_default()
}

fn mosquitto_version(path: &Path) -> String {
    std::process::Command::new(path)
        .arg("-h")
        .output()
        .ok()
        .map(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            text.lines().next().unwrap_or_default().trim().to_owned()
        })
        .unwrap_or_default()
}

/// UTC date and time as `YYYY-MM-DDTHH:MM:SSZ` (civil calendar from days).
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// The generator's runtime for connection scenarios: one thread per core.
/// With one thread the generator, not the broker, is what runs out of
/// CPU (its core busy, the broker's not), and the figure then measures how
/// the generator batches: a broker that answers sooner leaves it fewer
/// connections per wake, so more wakes per connection.
fn connections_runtime() -> Result<tokio::runtime::Runtime, Error> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))
}

/// `--against`: each message load once against a running broker.
fn drive_against(
    runtime: &tokio::runtime::Runtime,
    options: &Options,
    addr: std::net::SocketAddr,
) -> ExitCode {
    let mut failed = false;
    for scenario in scenarios(options) {
        let load = match &scenario.work {
            Work::Messages(load) => load,
            Work::Connections(count) => {
                let outcome = connections_runtime().and_then(|runtime| {
                    runtime.block_on(load::run_connections(addr, *count, || Ok(0)))
                });
                match outcome {
                    Ok(o) => println!("{}: {:.0} connections/s", scenario.key, o.rate),
                    Err(e) => {
                        failed = true;
                        println!("{}: FAILED: {e}", scenario.key);
                    }
                }
                continue;
            }
        };
        match runtime.block_on(load::run_messages(addr, load)) {
            Ok(o) => {
                let at = |q: f64| {
                    let i = ((o.latencies.len() as f64 * q) as usize).min(o.latencies.len() - 1);
                    o.latencies[i] as f64 / 1000.0
                };
                let latency = if o.latencies.is_empty() {
                    String::new()
                } else {
                    format!(
                        ", latency p50 {:.1} us, p99 {:.1} us, max {:.1} us",
                        at(0.5),
                        at(0.99),
                        at(1.0)
                    )
                };
                println!(
                    "{}: {} messages in {:.3} s, {:.0} msg/s{latency}",
                    scenario.key,
                    o.delivered,
                    o.elapsed.as_secs_f64(),
                    o.rate()
                )
            }
            Err(e) => {
                failed = true;
                println!("{}: FAILED: {e}", scenario.key);
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let programs = Programs {
        mqhost: options.bin_dir.join("mqhost"),
        mosquitto: options.mosquitto.clone(),
    };
    for program in [&programs.mqhost, &programs.mosquitto] {
        if !program.exists() {
            eprintln!(
                "{} does not exist (scripts/bench builds and installs what is needed)",
                program.display()
            );
            return ExitCode::from(2);
        }
    }
    let mode = if options.full { "full" } else { "quick" };
    let rounds = options.rounds.unwrap_or(if options.full { 5 } else { 3 });
    let runtime = if options.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(options.threads)
            .enable_all()
            .build()
    }
    .expect("tokio runtime");
    if let Some(addr) = options.against {
        return drive_against(&runtime, &options, addr);
    }
    let work_dir = std::env::temp_dir().join(format!("mqhost-bench-{}", std::process::id()));
    let started = utc_now();
    let load_before = read_trimmed("/proc/loadavg");

    let mut results = Vec::new();
    for scenario in scenarios(&options) {
        results.push(run_scenario(
            &runtime, &scenario, rounds, &programs, &work_dir,
        ));
    }
    let _ = std::fs::remove_dir_all(&work_dir);

    let header = json!({
        "started": started,
        "finished": utc_now(),
        "mode": mode,
        "rounds": rounds,
        "revision": options.revision,
        "machine": {
            "nproc": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "cpu_model": cpu_model(),
            "kernel": read_trimmed("/proc/sys/kernel/osrelease"),
            "loadavg_before": load_before,
            "loadavg_after": read_trimmed("/proc/loadavg"),
        },
        "mosquitto": mosquitto_version(&programs.mosquitto),
        "settings": {
            "payload_bytes": load::PAYLOAD_LEN,
            "protocol": "3.1.1",
            "publisher_window": WINDOW,
            "broker_inflight": LIMITS.inflight,
            "mqhost_max_queued_messages": LIMITS.mqhost_queued,
            "mosquitto_max_queued_messages": LIMITS.mosquitto_queued,
            "generator_threads": options.threads,
        },
    });
    let table = report::markdown(&results);
    let document = report::json(header, &results);
    let stamp = started.replace(':', "");
    if let Err(e) = std::fs::create_dir_all(&options.out) {
        eprintln!("{}: {e}", options.out.display());
        return ExitCode::FAILURE;
    }
    let json_path = options.out.join(format!("{stamp}-{mode}.json"));
    let md_path = options.out.join(format!("{stamp}-{mode}.md"));
    let pretty = serde_json::to_string_pretty(&document).unwrap_or_default();
    let load_1min = load_before.split(' ').next().unwrap_or("?");
    let md = format!(
        "mqhost-bench {mode}, {rounds} rounds, {started}, revision {}; nproc {}, {}, \
         Linux {}; load average {load_1min} at start; {}\n\n{table}",
        if options.revision.is_empty() {
            "unknown"
        } else {
            &options.revision
        },
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        cpu_model(),
        read_trimmed("/proc/sys/kernel/osrelease"),
        mosquitto_version(&programs.mosquitto),
    );
    if let Err(e) =
        std::fs::write(&json_path, pretty + "\n").and_then(|()| std::fs::write(&md_path, &md))
    {
        eprintln!("cannot write results: {e}");
        return ExitCode::FAILURE;
    }
    println!("{md}");
    println!("Every figure: {}", json_path.display());

    let failures: Vec<String> = results.iter().flat_map(ScenarioResult::failures).collect();
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("\n{} run(s) failed:", failures.len());
        for failure in failures {
            eprintln!("- {failure}");
        }
        ExitCode::FAILURE
    }
}
