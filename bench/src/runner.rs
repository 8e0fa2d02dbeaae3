//! Running the suite: each scenario round after round, each broker in
//! turn (A B A B), a fresh broker process for every run; and `--against`,
//! each load once against a broker already running.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use serde_json::{json, Value};

use crate::access;
use crate::brokers::{self, BrokerSpec, Flavour, Programs};
use crate::certs::Certs;
use crate::cli::Options;
use crate::client::{Conn, Error, Login};
use crate::load::{self, MessageLoad};
use crate::redis;
use crate::report::{Round, ScenarioResult};
use crate::restart;
use crate::scenarios::{self, Scenario, Work, LIMITS};
use crate::scrape;
use crate::transport::{Endpoint, Transport};

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

/// Runs one broker once under the scenario's load; `redis` is the server
/// its plugin writes to, for the subject of the Redis scenario; `certs`
/// what a TLS listener serves.
fn run_once(
    runtime: &tokio::runtime::Runtime,
    scenario: &Scenario,
    broker: &BrokerSpec,
    (programs, work_dir, certs): (&Programs, &Path, Option<&Certs>),
    mut redis: Option<&mut redis::Server>,
) -> Result<(BTreeMap<&'static str, f64>, Value), Error> {
    // Before the broker starts, so that its plugin finds an empty Redis.
    if let Some(server) = redis.as_deref_mut() {
        server.reset()?;
        server.add_users(scenario.redis_users)?;
    }
    let mut running = broker.start(programs, LIMITS, work_dir, certs)?;
    let pid = running.pid();
    let endpoint = &running.endpoint.clone();
    // A broker that let anyone in would measure nothing of what the
    // access scenarios are about.
    if broker.access {
        runtime.block_on(Conn::expect_refused(endpoint, &access::wrong_login()))?;
    }
    let login = scenario.login.as_ref();
    let cpu_before = brokers::cpu_seconds(pid)?;
    // The generator's own CPU time, to tell whether it or the broker was
    // the bound (TLS handshakes cost the client as much as the server).
    let generator = std::process::id();
    let generator_before = brokers::cpu_seconds(generator)?;
    let mut values = BTreeMap::new();
    let result = match &scenario.work {
        Work::Messages(load) => {
            let scraper = running.scrape.clone().map(scrape::Scraper::start);
            let outcome = run_messages(runtime, load, login, endpoint, pid, cpu_before, redis);
            let scraped = scraper.map(scrape::Scraper::stop).transpose();
            outcome.and_then(|(v, mut details)| {
                values = v;
                if let Some(scraped) = scraped? {
                    details["scrapes"] = json!(scraped.scrapes);
                    details["scrape_bytes"] = json!(scraped.bytes);
                    details["scrape_slowest_ms"] = json!(scraped.slowest.as_secs_f64() * 1e3);
                }
                Ok(details)
            })
        }
        Work::Connections(count) => connections_runtime()
            .and_then(|runtime| {
                runtime.block_on(load::run_connections(
                    endpoint,
                    *count,
                    login,
                    scenario.subscribe,
                    || brokers::rss_kib(pid),
                ))
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
                    "tls": o.tls,
                })
            }),
        Work::Restart {
            sessions,
            per_session,
        } => runtime
            .block_on(restart::fill(endpoint, *sessions, *per_session))
            .and_then(|filled| {
                // Mosquitto keeps nothing a SIGKILL interrupts.
                let graceful = matches!(broker.flavour, Flavour::Mosquitto { .. });
                let rss_kib = brokers::rss_kib(pid).ok();
                let took = running.restart(&broker.name, graceful)?;
                let stored_bytes = running.disk_bytes();
                runtime.block_on(restart::check(endpoint, *per_session))?;
                values.insert("restart_ms", took.as_secs_f64() * 1e3);
                Ok(json!({
                    "sessions": sessions,
                    "messages": *sessions as u64 * per_session,
                    "fill_s": filled.as_secs_f64(),
                    "rss_before_restart_kib": rss_kib,
                    "stored_bytes": stored_bytes,
                    "stopped_with": if graceful { "SIGTERM" } else { "SIGKILL" },
                }))
            }),
    };
    let generator_cpu =
        brokers::cpu_seconds(generator).unwrap_or(generator_before) - generator_before;
    let result = result.map(|mut details| {
        details["generator_cpu_s"] = json!(generator_cpu);
        details
    });
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

/// A message load, every client sending `login`, against the broker at
/// `endpoint` (process `pid`, which had used `cpu_before` seconds): its
/// figures and details. With `redis`, the round lasts until Redis has
/// stored and consumed every message, and throughput and CPU are counted
/// to there.
fn run_messages(
    runtime: &tokio::runtime::Runtime,
    load: &MessageLoad,
    login: Option<&Login>,
    endpoint: &Endpoint,
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
    let o = runtime.block_on(load::run_messages(endpoint, load, login))?;
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
        values.insert("p50_us", o.latency_us(0.50));
        values.insert("p99_us", o.latency_us(0.99));
        values.insert("max_us", o.latency_us(1.0));
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
        "tls": o.tls,
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
    let redis_cpu_s = drained.stats.cpu_s - before.cpu_s;
    values.insert(
        "redis_cpu_us_per_msg",
        redis_cpu_s * 1e6 / o.delivered.max(1) as f64,
    );
    json!({
        "to_drained_s": to_drained,
        "drain_s": (to_drained - o.elapsed.as_secs_f64()).max(0.0),
        "commands": drained.stats.listed_since(before),
        "commands_total": commands,
        "redis_cpu_s": redis_cpu_s,
    })
}

/// Runs `scenario` for `rounds` rounds (or its minimum), each broker in
/// turn; `certs` is what TLS listeners serve (None where it could not be
/// made, which fails a TLS scenario's rounds).
pub fn run_scenario(
    runtime: &tokio::runtime::Runtime,
    scenario: &Scenario,
    rounds: usize,
    programs: &Programs,
    work_dir: &Path,
    certs: Option<&Certs>,
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
            let outcome = run_once(
                runtime,
                scenario,
                broker,
                (programs, work_dir, certs),
                redis,
            );
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

/// `--against`: each load once against a running broker's plain
/// listener; scenarios over other transports are left out.
pub fn drive_against(
    runtime: &tokio::runtime::Runtime,
    options: &Options,
    addr: std::net::SocketAddr,
) -> ExitCode {
    let mut failed = false;
    let endpoint = &Endpoint::tcp(addr);
    for scenario in scenarios::suite(options) {
        if scenario.subject.transport != Transport::Tcp {
            println!(
                "{}: skipped (over {}; --against drives a plain listener)",
                scenario.key,
                scenario.subject.transport.name()
            );
            continue;
        }
        let load = match &scenario.work {
            Work::Messages(load) => load,
            Work::Connections(count) => {
                let outcome = connections_runtime().and_then(|runtime| {
                    runtime.block_on(load::run_connections(
                        endpoint,
                        *count,
                        scenario.login.as_ref(),
                        scenario.subscribe,
                        || Ok(0),
                    ))
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
            Work::Restart { .. } => {
                println!(
                    "{}: skipped (it restarts the broker it measures)",
                    scenario.key
                );
                continue;
            }
        };
        match runtime.block_on(load::run_messages(endpoint, load, scenario.login.as_ref())) {
            Ok(o) => {
                let latency = if o.latencies.is_empty() {
                    String::new()
                } else {
                    format!(
                        ", latency p50 {:.1} us, p99 {:.1} us, max {:.1} us",
                        o.latency_us(0.5),
                        o.latency_us(0.99),
                        o.latency_us(1.0)
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
