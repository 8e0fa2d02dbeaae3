//! The suite: every scenario (quick or full sizes), the figures each one
//! reports, and the brokers it compares with the limits they share.

use std::path::{Path, PathBuf};

use mqhost_codec::QoS;

use crate::access;
use crate::brokers::{BrokerSpec, Flavour, Limits};
use crate::cli::Options;
use crate::client::{Login, Session};
use crate::load::MessageLoad;
use crate::redis;
use crate::report::Metric;
use crate::transport::Transport;

/// The brokers' windows and queues: the same in-flight window for both;
/// mqhost keeps its default queue bound, Mosquitto gets none, since it
/// would drop what a fast publisher sends beyond it.
pub const LIMITS: Limits = Limits {
    inflight: 1000,
    mqhost_queued: 1000,
    mosquitto_queued: 0,
};
/// QoS 1/2 messages each publisher keeps unacknowledged.
pub const WINDOW: usize = 1000;

/// What a scenario runs.
pub enum Work {
    Messages(MessageLoad),
    Connections(usize),
    /// Persistent sessions, each with messages queued while it is away;
    /// then the broker stopped and started again on what it stored
    /// ([`crate::restart`]).
    Restart {
        sessions: usize,
        per_session: u64,
    },
}

pub struct Scenario {
    pub key: &'static str,
    pub title: String,
    pub description: String,
    pub work: Work,
    /// The broker the figures are about, then the one it is compared with.
    pub subject: BrokerSpec,
    pub reference: BrokerSpec,
    /// Why it cannot run here, if it cannot.
    pub skip: Option<String>,
    /// At least this many rounds, whatever the mode says: for a
    /// comparison that must tell a few percent apart.
    pub min_rounds: usize,
    /// `redis-server` to start for the subject, whose plugin configuration
    /// names it as `{redis_server}`: the scenario's rounds then run until
    /// Redis has done the plugin's work.
    pub redis: Option<PathBuf>,
    /// What every client sends in CONNECT, to both brokers alike.
    pub login: Option<Login>,
    /// Users [`redis::Server::add_users`] stores in the subject's Redis
    /// before each of its runs (0: none).
    pub redis_users: usize,
    /// What each client of a connection scenario subscribes to once
    /// connected, to both brokers alike.
    pub subscribe: Option<&'static str>,
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

/// Redis's own CPU for each message the plugin stored and consumed: the
/// ceiling of the Redis row on one core, to set the broker's figure
/// against.
const REDIS_CPU_PER_MESSAGE: Metric = Metric {
    key: "redis_cpu_us_per_msg",
    label: "Redis CPU per message",
    unit: "µs",
    higher_is_better: false,
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

const RESTART: Metric = Metric {
    key: "restart_ms",
    label: "restart time",
    unit: "ms",
    higher_is_better: false,
};

impl Scenario {
    /// Whether either broker is reached over `transport`.
    pub fn uses(&self, transport: Transport) -> bool {
        self.subject.transport == transport || self.reference.transport == transport
    }

    pub fn metrics(&self) -> Vec<Metric> {
        match &self.work {
            Work::Messages(load) if load.latency => LATENCY.to_vec(),
            Work::Messages(_) if self.redis.is_some() => {
                vec![
                    THROUGHPUT,
                    MQTT_RATE,
                    REDIS_COMMANDS,
                    CPU_PER_MESSAGE,
                    REDIS_CPU_PER_MESSAGE,
                ]
            }
            Work::Messages(_) => vec![THROUGHPUT, CPU_PER_MESSAGE],
            Work::Connections(_) => CONNECTIONS.to_vec(),
            Work::Restart { .. } => vec![RESTART],
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
        access: false,
        scraped: false,
        transport: Transport::Tcp,
    }
}

fn mosquitto() -> BrokerSpec {
    BrokerSpec {
        name: "mosquitto".to_owned(),
        flavour: Flavour::Mosquitto { persistent: false },
        access: false,
        scraped: false,
        transport: Transport::Tcp,
    }
}

/// Mosquitto with `persistence true`.
fn mosquitto_persistent() -> BrokerSpec {
    BrokerSpec {
        name: "mosquitto-persistent".to_owned(),
        flavour: Flavour::Mosquitto { persistent: true },
        ..mosquitto()
    }
}

/// `load` with every client asking for a persistent session.
fn persistent(mut load: MessageLoad) -> MessageLoad {
    load.session = Session::Persistent;
    load
}

/// `broker` reached over `transport`, through a listener of that kind
/// beside its plain one.
fn over(transport: Transport, broker: BrokerSpec) -> BrokerSpec {
    BrokerSpec {
        transport,
        ..broker
    }
}

/// `broker` with the bench's password and ACL files, anonymous clients
/// refused.
fn with_access(broker: BrokerSpec) -> BrokerSpec {
    BrokerSpec {
        access: true,
        ..broker
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

/// The suite. Message counts are the same for both brokers; quick mode
/// sizes them so that Mosquitto's runs take two or three seconds here.
pub fn suite(options: &Options) -> Vec<Scenario> {
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
        login: None,
        redis_users: 0,
        subscribe: None,
    };
    // mqhost against itself under the qos1 load: runs of a second or
    // more, and more rounds, to tell a few percent apart on a shared
    // machine.
    let against_plain = |key, title: &str, description: String, subject, skip, login| Scenario {
        key,
        title: title.to_owned(),
        description,
        work: Work::Messages(MessageLoad::pairs(
            1,
            QoS::AtLeastOnce,
            size(1_000_000, 3_000_000),
            WINDOW,
        )),
        subject,
        reference: plain(),
        skip,
        min_rounds: size(5, 7) as usize,
        redis: None,
        login,
        redis_users: 0,
        subscribe: None,
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
        // PBKDF2 is slow on purpose: what it costs each connection.
        Scenario {
            subject: with_access(plain()),
            reference: with_access(mosquitto()),
            login: Some(access::login()),
            ..versus(
                "auth",
                "10,000 connections with user and password",
                "as idle, each client with user name and password, checked against a \
                 password file of $7$ (PBKDF2-SHA512) lines written by mqhost passwd; \
                 the ACL file of the access scenario; anonymous clients refused"
                    .into(),
                Work::Connections(10_000),
            )
        },
        // qos1 and idle over the other transports, both brokers alike.
        Scenario {
            subject: over(Transport::Tls, plain()),
            reference: over(Transport::Tls, mosquitto()),
            ..versus(
                "qos1-tls",
                "QoS 1, 1 → 1, TLS",
                format!(
                    "as qos1, over TLS 1.3 (rustls client; the version and cipher suite \
                     agreed are in each round's details); both brokers serve the same \
                     self-signed ECDSA P-256 certificate; {WINDOW} in flight"
                ),
                Work::Messages(MessageLoad::pairs(
                    1,
                    QoS::AtLeastOnce,
                    size(150_000, 500_000),
                    WINDOW,
                )),
            )
        },
        Scenario {
            subject: over(Transport::WebSocket, plain()),
            reference: over(Transport::WebSocket, mosquitto()),
            ..versus(
                "qos1-ws",
                "QoS 1, 1 → 1, WebSocket",
                format!(
                    "as qos1, over WebSocket (path /mqtt, subprotocol mqtt), each write of \
                     the client one binary message; {WINDOW} in flight"
                ),
                Work::Messages(MessageLoad::pairs(
                    1,
                    QoS::AtLeastOnce,
                    size(150_000, 500_000),
                    WINDOW,
                )),
            )
        },
        Scenario {
            subject: over(Transport::Tls, plain()),
            reference: over(Transport::Tls, mosquitto()),
            ..versus(
                "idle-tls",
                "10,000 connections over TLS",
                "as idle, over TLS 1.3, each connection a full handshake (no session \
                 resumed) with the ECDSA P-256 certificate both brokers serve; the \
                 generator checks that certificate's bytes but no signature, to leave \
                 the cores to the broker"
                    .into(),
                Work::Connections(10_000),
            )
        },
    ];

    // What TLS costs mqhost: its qos1-tls against its qos1, as long and
    // as many rounds as the plugin scenarios, since mqhost's quick qos1
    // runs last a fifth of a second.
    list.push(against_plain(
        "tls-cost",
        "QoS 1, 1 → 1, TLS against TCP",
        "mqhost reached over TLS (as in qos1-tls) against mqhost over plain TCP, the same load"
            .into(),
        over(Transport::Tls, mqhost("mqhost-tls", Vec::new(), &[])),
        None,
        None,
    ));

    let noop = options.bin_dir.join("libmqhost_noop.so");
    list.push(against_plain(
        "noop",
        "QoS 1, 1 → 1, no-op plugin",
        "mqhost with a plugin that takes every hook and does nothing, against mqhost without plugins".into(),
        mqhost("mqhost+noop", vec![(noop.clone(), String::new())], &[]),
        (!noop.exists()).then(|| format!("{} is not built", noop.display())),
        None,
    ));

    list.push(against_plain(
        "access",
        "QoS 1, 1 → 1, access control",
        format!(
            "mqhost with a password file and an ACL file of {} rules (the bench's user \
             one of the later blocks, its grant last in it), every client connecting \
             with user and password, against mqhost without access control given the \
             same CONNECTs",
            access::ACL_RULES
        ),
        with_access(mqhost("mqhost+access", Vec::new(), &[])),
        None,
        Some(access::login()),
    ));

    // What metrics cost the message path: the admin API on and GET
    // /metrics every second while the qos1 load runs, against mqhost
    // with neither. The counters are there in both: what this measures
    // is the scrape, which reads every counter, beside the load.
    list.push(against_plain(
        "metrics",
        "QoS 1, 1 → 1, /metrics scraped every second",
        "mqhost with its admin API on and GET /metrics asked at the start and every second \
         of the run (with the token, as Prometheus would), against mqhost without the admin \
         API; each answer checked"
            .into(),
        BrokerSpec {
            scraped: true,
            ..mqhost("mqhost+scrape", Vec::new(), &[])
        },
        None,
        None,
    ));

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
        redis: redis_server.clone(),
        login: None,
        redis_users: 0,
        subscribe: None,
    });

    // The auth_redis plugin's cost per connection: each client its own
    // user, found in Redis with a salted SHA-256 password and ten rules,
    // the SUBSCRIBE allowed only by the last of them (acl.nomatch = deny,
    // anonymous clients refused), against mqhost without access control
    // given the same CONNECTs and SUBSCRIBEs.
    let auth_redis = options.bin_dir.join("libmqhost_auth_redis.so");
    let auth_redis_skip = if !auth_redis.exists() {
        Some(format!(
            "{} is not built (plugins/auth-redis)",
            auth_redis.display()
        ))
    } else if redis_server.is_none() {
        Some("no redis-server on PATH or at /usr/bin/redis-server".to_owned())
    } else {
        None
    };
    let connections: usize = 10_000;
    list.push(Scenario {
        key: "auth-redis",
        title: format!("{connections} connections, auth_redis plugin"),
        description: format!(
            "as idle, each client its own user of {connections} stored in a private \
             redis-server (salt,sha256 password, an ACL of {} rules in a hash), then one \
             SUBSCRIBE that only the last rule allows (acl.nomatch = deny); against \
             mqhost without access control given the same CONNECTs and SUBSCRIBEs",
            redis::AUTH_ACL_RULES
        ),
        work: Work::Connections(connections),
        subject: mqhost(
            "mqhost+auth_redis",
            vec![(auth_redis, redis::AUTH_PLUGIN_CONF.to_owned())],
            &[("mqtt.allow_anonymous", "off"), ("acl.nomatch", "deny")],
        ),
        reference: plain(),
        skip: auth_redis_skip,
        min_rounds: 0,
        redis: redis_server,
        login: Some(Login {
            username: redis::AUTH_USER_PREFIX.to_owned(),
            password: redis::AUTH_PASSWORD.to_owned(),
            numbered: true,
        }),
        redis_users: connections,
        subscribe: Some(redis::AUTH_TOPIC),
    });
    // The same clients against Mosquitto, neither broker checking them:
    // what auth-redis's subject compares with beside mqhost.
    list.push(Scenario {
        login: Some(Login {
            username: redis::AUTH_USER_PREFIX.to_owned(),
            password: redis::AUTH_PASSWORD.to_owned(),
            numbered: true,
        }),
        subscribe: Some(redis::AUTH_TOPIC),
        ..versus(
            "connect-sub",
            &format!("{connections} connections, each subscribing once"),
            "as auth-redis without the plugin: mqhost against Mosquitto, neither \
             checking logins or topics"
                .into(),
            Work::Connections(connections),
        )
    });

    // Durable state: persistent sessions on both sides, mqhost's store on
    // (its default, persistence.sync = interval) against Mosquitto's
    // persistence, and against mqhost with its store off.
    let durable_pairs = || {
        persistent(MessageLoad::pairs(
            1,
            QoS::AtLeastOnce,
            size(150_000, 500_000),
            WINDOW,
        ))
    };
    let durable_fan_in = || {
        persistent(MessageLoad::fan_in(
            10,
            QoS::AtLeastOnce,
            size(10_000, 50_000),
            WINDOW,
        ))
    };
    let store_off = || mqhost("mqhost-store-off", Vec::new(), &[("persistence", "off")]);
    for (key, title, what, work) in [
        (
            "durable",
            "QoS 1, 1 → 1, persistent sessions",
            "as qos1, both clients with persistent sessions (clean session 0)",
            durable_pairs(),
        ),
        (
            "durable-fanin",
            "fan-in 10 → 1, QoS 1, persistent sessions",
            "as fanin, every client with a persistent session (clean session 0)",
            durable_fan_in(),
        ),
    ] {
        list.push(Scenario {
            reference: mosquitto_persistent(),
            ..versus(
                key,
                title,
                format!(
                    "{what}: mqhost with its store on (the default: each acknowledged \
                     message written before its PUBACK, flushed to the disk every second) \
                     against Mosquitto with persistence true (saved in memory, written \
                     every autosave_interval and when it stops)"
                ),
                Work::Messages(work),
            )
        });
    }
    for (key, title, work) in [
        (
            "durable-cost",
            "QoS 1, 1 → 1, persistent sessions, store on against off",
            durable_pairs(),
        ),
        (
            "durable-fanin-cost",
            "fan-in 10 → 1, QoS 1, persistent sessions, store on against off",
            durable_fan_in(),
        ),
    ] {
        list.push(Scenario {
            reference: store_off(),
            min_rounds: size(5, 7) as usize,
            ..versus(
                key,
                title,
                "the load of the scenario of that name without -cost: mqhost with its \
                 store on (the default) against mqhost with persistence = off: what \
                 keeping every acknowledged message costs"
                    .into(),
                Work::Messages(work),
            )
        });
    }
    list.push(Scenario {
        reference: mosquitto_persistent(),
        ..versus(
            "restart",
            "restart with 10,000 sessions and 100,000 queued messages",
            "10,000 persistent sessions, each subscribed at QoS 1 to a topic of its own \
             and disconnected, then 100,000 QoS 1 messages published to them (10 each, \
             every one acknowledged); then mqhost killed with SIGKILL, Mosquitto stopped \
             with SIGTERM (which saves its database; a SIGKILL would lose everything \
             since its last autosave), and each started again on what it left: the time \
             from the start until it accepts connections. The first session then \
             reconnects and must find its session and its 10 messages, else the round \
             fails."
                .into(),
            Work::Restart {
                sessions: 10_000,
                per_session: 10,
            },
        )
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
            login: None,
            redis_users: 0,
            subscribe: None,
        });
    }

    if let Some(only) = &options.only {
        list.retain(|s| only.iter().any(|k| k == s.key));
    }
    list
}
