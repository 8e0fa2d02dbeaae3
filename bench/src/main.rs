//! `mqhost-bench`: drives mqhost and Mosquitto with the same load in the
//! same run and reports medians and ratios. `scripts/bench` builds
//! everything and calls it; see `--help`.
//!
//! # Layout
//!
//! - `main`: runs the suite and writes the results.
//! - [`cli`]: the command line and `--help`.
//! - [`scenarios`]: the suite of scenarios (quick or full), their figures,
//!   and the limits both brokers share.
//! - [`runner`]: the run order: for each scenario, round after round, each
//!   broker in turn (A B A B), a fresh broker process for every run; and
//!   `--against`.
//! - [`machine`]: what the results say about the machine and the run.
//! - [`access`]: the access-control scenarios' password and ACL files,
//!   the same for both brokers, and the login their clients send.
//! - [`brokers`]: starting mqhost (with plugins) and Mosquitto on free
//!   loopback ports with the same limits (and, with access control, the
//!   same files), with a TLS or WebSocket listener when the scenario uses
//!   one; their memory and CPU time.
//! - [`certs`]: the TLS scenarios' certificate, made with `openssl` once
//!   per run.
//! - [`client`]: a lean MQTT 3.1.1 client over `mqhost-codec`.
//! - [`transport`]: the client's connection: TCP, TLS (rustls) or
//!   WebSocket (tungstenite), as one byte stream.
//! - [`load`]: publishers and subscribers that verify every message, paced
//!   or unbounded, and idle connections.
//! - [`redis`]: the Redis scenarios' private `redis-server`, the plugins'
//!   configurations for it, the auth-redis scenario's users, and a tiny
//!   RESP client that waits until Redis has stored and consumed every
//!   message.
//! - [`restart`]: the restart scenario's stored sessions and the check
//!   that the broker kept them.
//! - [`report`]: medians, ratios, the Markdown table, the JSON file.

#![forbid(unsafe_code)]

mod access;
mod brokers;
mod certs;
mod cli;
mod client;
mod load;
mod machine;
mod redis;
mod report;
mod restart;
mod runner;
mod scenarios;
mod scrape;
mod transport;

use std::process::ExitCode;

use serde_json::json;

use brokers::Programs;
use certs::Certs;
use cli::parse_args;
use machine::{cpu_model, mosquitto_version, read_trimmed, utc_now};
use report::ScenarioResult;
use runner::{drive_against, run_scenario};
use scenarios::{LIMITS, WINDOW};
use transport::Transport;

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

    let mut suite = scenarios::suite(&options);
    // One certificate for the whole run, if a scenario
    // uses TLS; without them (no openssl), those scenarios are skipped.
    let mut certs = None;
    if suite.iter().any(|s| s.uses(Transport::Tls)) {
        match Certs::generate(&work_dir.join("certs")) {
            Ok(made) => certs = Some(made),
            Err(e) => {
                for scenario in suite.iter_mut() {
                    if scenario.uses(Transport::Tls) && scenario.skip.is_none() {
                        scenario.skip = Some(format!("no certificates: {e}"));
                    }
                }
            }
        }
    }
    let mut results = Vec::new();
    for scenario in &suite {
        results.push(run_scenario(
            &runtime,
            scenario,
            rounds,
            &programs,
            &work_dir,
            certs.as_ref(),
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
