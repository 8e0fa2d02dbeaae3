//! A Paho MQTT publisher that keeps its QoS 1 and 2 messages in Redis while
//! they are in transit.
//!
//! ```text
//! redis_persist_pub [--broker URI] [--redis URL | --unix PATH]
//!                   [--client-id ID] [--topic TOPIC]
//!                   [--qos1 N] [--qos2 N] [--v5] [--delay SECS]
//!                   [--hold | --resume]
//! ```
//!
//! - By default it connects (clean session off), publishes `--qos1`
//!   messages at QoS 1 and `--qos2` at QoS 2 (one of each unless told),
//!   waits until the broker has acknowledged them all, and disconnects.
//! - `--v5` speaks MQTT 5.0 (clean start off, session expiry one hour)
//!   instead of 3.1.1 (clean session off).
//! - `--delay SECS` waits that long between connecting and publishing:
//!   time to stop the broker by hand.
//! - `--hold` publishes without waiting and then stays connected forever:
//!   stop the broker (or pull the cable), kill it with `kill -9`, and the
//!   messages it had in flight are left in Redis.
//! - `--resume` publishes nothing: it connects with the same client id and
//!   store, lets Paho send again what Redis holds, waits until the store is
//!   empty, and disconnects.
//!
//! Defaults: broker `tcp://localhost:1883`, Redis `redis://127.0.0.1:6379/`,
//! client id `rust_redis_pub`, topic `test/redis`. Payloads are
//! `qos1-<n>` and `qos2-<n>`.
//!
//! A crash, by hand, with mqhost (`scripts/run`) on port 1883, a Redis on
//! 6379 and a subscriber:
//!
//! ```sh
//! redis-server --port 6379 --save '' &
//! mosquitto_sub -t 'test/#' -q 2 -v &
//! cargo build -p mqhost-paho-redis --examples
//! pub=target/debug/examples/redis_persist_pub
//! $pub --qos2 3                      # publishes, all acknowledged
//! $pub --delay 5 --hold &            # freeze the broker within 5 s:
//! kill -STOP "$(pgrep -x mqhost)"
//! sleep 6; kill -9 %%                # crash with messages in flight
//! redis-cli hkeys paho:rust_redis_pub:localhost:1883   # s-1, s-2
//! kill -CONT "$(pgrep -x mqhost)"
//! $pub --resume                      # sends them again; the hash empties
//! ```

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mqhost_paho_redis::{RedisPersistence, RedisPersistenceBuilder};
use paho_mqtt as mqtt;
use paho_mqtt::ClientPersistence;

/// What the command line asked for.
struct Options {
    broker: String,
    store: RedisPersistenceBuilder,
    client_id: String,
    topic: String,
    qos1: usize,
    qos2: usize,
    v5: bool,
    delay: Duration,
    mode: Mode,
}

#[derive(PartialEq)]
enum Mode {
    /// Publish, wait for every acknowledgement, disconnect.
    Publish,
    /// Publish, then stay connected without waiting, until killed.
    Hold,
    /// Publish nothing; wait until Paho has sent what the store holds.
    Resume,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        broker: "tcp://localhost:1883".into(),
        store: RedisPersistence::builder(),
        client_id: "rust_redis_pub".into(),
        topic: "test/redis".into(),
        qos1: 1,
        qos2: 1,
        v5: false,
        delay: Duration::ZERO,
        mode: Mode::Publish,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--broker" => options.broker = value()?,
            "--redis" => options.store = options.store.url(value()?),
            "--unix" => options.store = options.store.unix_socket(value()?),
            "--client-id" => options.client_id = value()?,
            "--topic" => options.topic = value()?,
            "--qos1" => options.qos1 = value()?.parse().map_err(|e| format!("--qos1: {e}"))?,
            "--qos2" => options.qos2 = value()?.parse().map_err(|e| format!("--qos2: {e}"))?,
            "--v5" => options.v5 = true,
            "--delay" => {
                let secs: f64 = value()?.parse().map_err(|e| format!("--delay: {e}"))?;
                options.delay =
                    Duration::try_from_secs_f64(secs).map_err(|e| format!("--delay: {e}"))?;
            }
            "--hold" => options.mode = Mode::Hold,
            "--resume" => options.mode = Mode::Resume,
            "--help" | "-h" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(options)
}

/// Prints the store's warnings (and Paho's) on stderr: the store reports
/// what Redis said through the `log` crate, since Paho itself only learns
/// "persistence error". An application would use its own logger.
struct StderrLog;

impl log::Log for StderrLog {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::Level::Warn
    }

    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            eprintln!("{}: {}", record.level(), record.args());
        }
    }

    fn flush(&self) {}
}

/// Prints a progress line at once (the tests read them through a pipe).
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn run(options: Options) -> Result<(), Box<dyn std::error::Error>> {
    let store = options.store.build()?;
    // Persistence needs a client id: Paho names the store after it. The
    // client is created for the MQTT version it connects with: Paho encodes
    // the messages it restores from the store for the version given here,
    // and a 5.0 encoding sent on a 3.1.1 connection corrupts them.
    let create = if options.v5 {
        mqtt::CreateOptionsBuilder::new()
    } else {
        mqtt::CreateOptionsBuilder::new_v3()
    };
    let client = mqtt::AsyncClient::new(
        create
            .server_uri(&options.broker)
            .client_id(&options.client_id)
            .user_persistence(store)
            .finalize(),
    )?;

    // Keep the session: the broker then remembers it after a crash, and
    // both sides agree on which packet ids are still in flight.
    let connect = if options.v5 {
        mqtt::ConnectOptionsBuilder::new_v5()
            .clean_start(false)
            .properties(mqtt::properties! {
                mqtt::PropertyCode::SessionExpiryInterval => 3600
            })
            .keep_alive_interval(Duration::from_secs(60))
            .finalize()
    } else {
        mqtt::ConnectOptionsBuilder::new_v3()
            .clean_session(false)
            .keep_alive_interval(Duration::from_secs(60))
            .finalize()
    };
    let response = client.connect(connect).wait()?;
    let session_present = response
        .connect_response()
        .is_some_and(|r| r.session_present);
    say(&format!("connected (session present: {session_present})"));

    match options.mode {
        Mode::Resume => {
            // A second store on the same hash, to watch Paho empty it.
            let mut watch = options.store.build()?;
            watch.open(&options.client_id, &options.broker)?;
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let left = watch.len()?;
                if left == 0 {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(format!("{left} records still in the store after 30 s").into());
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            say("store empty");
        }
        Mode::Publish | Mode::Hold => {
            if !options.delay.is_zero() {
                say(&format!("publishing in {:?}", options.delay));
                std::thread::sleep(options.delay);
            }
            let messages = (1..=options.qos1)
                .map(|n| (mqtt::QOS_1, format!("qos1-{n}")))
                .chain((1..=options.qos2).map(|n| (mqtt::QOS_2, format!("qos2-{n}"))));
            let mut tokens = Vec::new();
            for (qos, payload) in messages {
                tokens.push(client.publish(mqtt::Message::new(&options.topic, payload, qos)));
            }
            say(&format!("published {}", tokens.len()));
            if options.mode == Mode::Hold {
                say("holding; kill me");
                loop {
                    std::thread::sleep(Duration::from_secs(3600));
                }
            }
            for token in tokens {
                token.wait()?;
            }
            say("all acknowledged");
        }
    }
    client.disconnect(None).wait()?;
    say("disconnected");
    Ok(())
}

/// Runs the publisher with `args` (without the program name); returns
/// the exit status.
pub fn cli(args: impl IntoIterator<Item = String>) -> u8 {
    let options = match parse_args(args) {
        Ok(options) => options,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("redis_persist_pub: {message}");
            }
            eprintln!(
                "usage: redis_persist_pub [--broker URI] [--redis URL | --unix PATH] \
                 [--client-id ID] [--topic TOPIC] [--qos1 N] [--qos2 N] [--v5] \
                 [--delay SECS] [--hold | --resume]"
            );
            return 2;
        }
    };
    match run(options) {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("redis_persist_pub: {error}");
            1
        }
    }
}

fn main() -> ExitCode {
    if log::set_logger(&StderrLog).is_ok() {
        log::set_max_level(log::LevelFilter::Warn);
    }
    ExitCode::from(cli(std::env::args().skip(1)))
}
