//! `auth_redis`: an mqhost plugin that authenticates clients and checks
//! their topics against users and ACLs kept in Redis, in the layout and
//! with the configuration keys of EMQX 4's `emqx_auth_redis`
//! (`etc/plugins/auth_redis.conf`, described in `docs/auth-redis.md`).
//!
//! # Layout
//!
//! - [`hash`]: password hashes, as EMQX 4 computes them;
//! - [`template`]: the lookup commands and their placeholders;
//! - [`acl`]: the rules an ACL lookup returns, and what they allow;
//! - `config`: the properties file → a checked configuration;
//! - `link`: the connection to Redis, lookups bounded by
//!   `query_timeout` and the pool size, outages logged once;
//! - `authn`, `authz`: the two hook points' replies and answers, and the
//!   rules kept per client;
//! - `stats`: figures for the admin API.
//!
//! # Threads
//!
//! Hooks run on broker threads and return at once: they fill in the
//! command and hand the lookup to the plugin's own tokio runtime,
//! answering [`Decision::PENDING`]; the lookup answers through the
//! [`Reply`] when Redis has. Only the client concerned waits. bcrypt and
//! pbkdf2 checks run on the runtime's blocking threads, as many at once
//! as there are cores. The host's runtime is never used (its tokio is
//! another copy with other thread-locals).

#![forbid(unsafe_code)]

pub mod acl;
mod authn;
mod authz;
mod config;
pub mod hash;
mod link;
mod stats;
pub mod template;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use mqhost_plugin_api::{
    export_plugin, Action, AuthenticateEvent, AuthorizeEvent, ClientEvent, ConfigError, Decision,
    HookSet, Host, MqhostPlugin, PluginConfig, Reply,
};
use mqhost_redis_link::PoolKind;
use serde_json::json;
use tokio::runtime::Runtime;

use acl::Access;
use authn::{Outcome, Stored};
use authz::RulesCache;
use config::{Config, FailedAction};
use link::{Failure, Link};
use stats::{add, inc, Stats, Throttle};
use template::Client;

/// Threads of the plugin's runtime: lookups are waits, not work.
const RUNTIME_THREADS: usize = 1;
/// How often a repeated problem with stored data is logged.
const LOG_PERIOD: Duration = Duration::from_secs(60);

/// The configuration in force and the link it uses, swapped whole by a
/// reload.
struct Active {
    config: Config,
    link: Arc<Link>,
    /// Moves on at each reload: rules kept under an older one are stale.
    generation: u64,
}

impl Active {
    fn failed_answer(&self) -> Decision {
        match self.config.failed_action {
            FailedAction::Ignore => Decision::IGNORE,
            FailedAction::Deny => Decision::DENY,
        }
    }
}

/// What the lookups share: counters, log limits, kept rules.
struct Shared {
    host: Host,
    stats: Stats,
    rules: RulesCache,
    /// Lines about stored data that cannot be used, or replies of the
    /// wrong shape: at most one per [`LOG_PERIOD`] each.
    bad_data_log: Throttle,
    error_reply_log: Throttle,
}

/// The plugin, public only because `export_plugin!` names it.
pub struct AuthRedis {
    shared: Arc<Shared>,
    /// Taken by `stop`.
    runtime: Mutex<Option<Runtime>>,
    handle: tokio::runtime::Handle,
    active: RwLock<Arc<Active>>,
    generation: AtomicU64,
    /// One reconfiguration at a time.
    reconfiguring: Mutex<()>,
}

impl Drop for AuthRedis {
    /// A plugin that failed is dropped without `stop`, possibly on a broker
    /// thread: the runtime is let go in the background rather than waited
    /// for.
    fn drop(&mut self) {
        if let Some(runtime) = lock(&self.runtime).take() {
            runtime.shutdown_background();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl AuthRedis {
    fn active(&self) -> Arc<Active> {
        Arc::clone(&self.active.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn describe(config: &Config) -> String {
        let part = |name: &str, template: &Option<template::Template>| match template {
            Some(t) => format!("{name} {t}"),
            None => format!("no {name}"),
        };
        format!(
            "Redis {} (pool {}, query_timeout {:?}, failed_action {}); {} with {}; {}; {}",
            config.link.target(),
            config.link.pool_size,
            config.query_timeout,
            config.failed_action.name(),
            part("auth_cmd", &config.auth_cmd),
            config.password_hash,
            part("super_cmd", &config.super_cmd),
            part("acl_cmd", &config.acl_cmd),
        )
    }

    /// Counts an answer and returns it.
    fn count(shared: &Shared, decision: Decision) -> Decision {
        inc(match decision {
            Decision::ALLOW | Decision::ALLOW_SUPERUSER => &shared.stats.allowed,
            Decision::DENY => &shared.stats.denied,
            _ => &shared.stats.ignored,
        });
        decision
    }
}

impl MqhostPlugin for AuthRedis {
    fn start(host: Host, plugin_config: &PluginConfig<'_>) -> Result<Self, ConfigError> {
        let config = config::parse(plugin_config.text.as_str(), plugin_config.source.as_str())?;
        // The redis crate's TLS takes rustls' process-wide provider; this
        // library's copy of rustls has none set yet.
        mqhost_redis_link::install_crypto_provider();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(RUNTIME_THREADS)
            // bcrypt and pbkdf2 checks: one per core at most, the rest wait.
            .max_blocking_threads(cores)
            .thread_name("mqhost-auth-redis")
            .enable_all()
            .build()
            .map_err(|e| ConfigError::new(format!("cannot start the plugin's runtime: {e}")))?;
        for warning in &config.warnings {
            host.warn(warning);
        }
        host.info(&AuthRedis::describe(&config));
        let link = Arc::new(Link::new(config.link.clone()));
        Ok(AuthRedis {
            shared: Arc::new(Shared {
                host,
                stats: Stats::default(),
                rules: RulesCache::new(),
                bad_data_log: Throttle::new(LOG_PERIOD),
                error_reply_log: Throttle::new(LOG_PERIOD),
            }),
            handle: runtime.handle().clone(),
            runtime: Mutex::new(Some(runtime)),
            active: RwLock::new(Arc::new(Active {
                config,
                link,
                generation: 1,
            })),
            generation: AtomicU64::new(1),
            reconfiguring: Mutex::new(()),
        })
    }

    fn hooks(&self) -> HookSet {
        let active = self.active();
        let mut hooks = HookSet::NONE;
        if active.config.auth_cmd.is_some() {
            hooks = hooks | HookSet::CLIENT_AUTHENTICATE;
        }
        if active.config.acl_cmd.is_some() {
            // Disconnects forget the client's kept rules.
            hooks = hooks | HookSet::CLIENT_AUTHORIZE | HookSet::CLIENT_DISCONNECTED;
        }
        hooks
    }

    fn on_client_authenticate(&self, request: &AuthenticateEvent<'_>, reply: Reply) -> Decision {
        let shared = &self.shared;
        let active = self.active();
        let Some(auth_cmd) = &active.config.auth_cmd else {
            return Decision::IGNORE;
        };
        let client = Client {
            client_id: request.client_id.as_str(),
            username: request.username.into_option().map(|u| u.as_str()),
            cert_common_name: request.cert_common_name.into_option().map(|c| c.as_str()),
            cert_subject: request.cert_subject.into_option().map(|s| s.as_str()),
        };
        let Ok(args) = auth_cmd.render(&client) else {
            // No user name for %u (say): nothing to look up.
            inc(&shared.stats.skipped);
            return AuthRedis::count(shared, Decision::IGNORE);
        };
        let mut cmds = vec![command(&args)];
        if let Some(Ok(args)) = active.config.super_cmd.as_ref().map(|t| t.render(&client)) {
            cmds.push(command(&args));
        }
        // The client's rules come in the same round trip, kept for its
        // first topic questions (see `authz`): a login that subscribes
        // costs one lookup, not two in a row. Not on a cluster, where the
        // commands of a login go to different nodes and an error of one
        // would fail the others.
        let acl_at = match &active.config.acl_cmd {
            Some(acl_cmd)
                if !active.config.acl_cache_ttl.is_zero()
                    && active.config.link.kind != PoolKind::Cluster =>
            {
                acl_cmd.render(&client).ok().map(|args| {
                    cmds.push(command(&args));
                    cmds.len() - 1
                })
            }
            _ => None,
        };
        // MQTT 3.1.1 lets a client send a user name without a password:
        // it is checked as an empty one.
        let password: Arc<[u8]> = request
            .password
            .into_option()
            .map_or_else(|| Arc::from(&[][..]), |p| Arc::from(p.as_slice()));
        let shared = Arc::clone(shared);
        let client_id = client.client_id.to_owned();
        let username = client.username.map(str::to_owned);
        self.handle.spawn(async move {
            let asked = Instant::now();
            let (outcome, acl_reply) =
                authenticate(&shared, &active, &cmds, password, acl_at).await;
            log_outcome(&shared, &client_id, &outcome);
            if let (Outcome::Allowed { .. }, Some(reply)) = (&outcome, acl_reply) {
                let client = Client {
                    client_id: &client_id,
                    username: username.as_deref(),
                    cert_common_name: None,
                    cert_subject: None,
                };
                if let Ok(rules) = read_rules(&shared, &reply, &client) {
                    inc(&shared.stats.prefetched);
                    shared.rules.put(
                        &client_id,
                        username.as_deref(),
                        active.generation,
                        active.config.acl_cache_ttl,
                        rules,
                        asked,
                    );
                }
            }
            match &outcome {
                Outcome::Allowed { superuser: true } => inc(&shared.stats.superusers),
                Outcome::NotFound => inc(&shared.stats.not_found),
                Outcome::Unusable(_) => inc(&shared.stats.bad_hashes),
                _ => {}
            }
            let decision = outcome.decision(active.failed_answer());
            reply.send(AuthRedis::count(&shared, decision));
        });
        Decision::PENDING
    }

    fn on_client_authorize(&self, request: &AuthorizeEvent<'_>, reply: Reply) -> Decision {
        let access = match request.action {
            Action::PUBLISH => Access::Publish,
            Action::SUBSCRIBE => Access::Subscribe,
            _ => return Decision::IGNORE,
        };
        let shared = &self.shared;
        let active = self.active();
        let Some(acl_cmd) = &active.config.acl_cmd else {
            return Decision::IGNORE;
        };
        let client = Client {
            client_id: request.client_id.as_str(),
            username: request.username.into_option().map(|u| u.as_str()),
            cert_common_name: None,
            cert_subject: None,
        };
        let (topic, qos, retain) = (request.topic.as_str(), request.qos, request.retain);
        let ttl = active.config.acl_cache_ttl;
        if let Some(rules) =
            shared
                .rules
                .get(client.client_id, client.username, active.generation, ttl)
        {
            inc(&shared.stats.cached);
            return AuthRedis::count(shared, answer(rules.allows(access, topic, qos, retain)));
        }
        let Ok(args) = acl_cmd.render(&client) else {
            inc(&shared.stats.skipped);
            return AuthRedis::count(shared, Decision::IGNORE);
        };
        let cmd = command(&args);
        let shared = Arc::clone(shared);
        let client_id = client.client_id.to_owned();
        let username = client.username.map(str::to_owned);
        let topic = topic.to_owned();
        self.handle.spawn(async move {
            let client = Client {
                client_id: &client_id,
                username: username.as_deref(),
                cert_common_name: None,
                cert_subject: None,
            };
            let asked = Instant::now();
            let decision = match fetch_rules(&shared, &active, &cmd, &client).await {
                Ok(rules) => {
                    let allowed = rules.allows(access, &topic, qos, retain);
                    shared.rules.put(
                        &client_id,
                        username.as_deref(),
                        active.generation,
                        active.config.acl_cache_ttl,
                        rules,
                        asked,
                    );
                    answer(allowed)
                }
                Err(None) => Decision::IGNORE,
                Err(Some(failure)) => {
                    shared.host.debug(&format!(
                        "ACL lookup for {client_id} failed ({failure}): {}",
                        active.config.failed_action.name()
                    ));
                    active.failed_answer()
                }
            };
            reply.send(AuthRedis::count(&shared, decision));
        });
        Decision::PENDING
    }

    fn on_client_disconnected(&self, client: &ClientEvent<'_>) {
        self.shared.rules.remove(client.client_id.as_str());
    }

    /// The parser `start` and `reconfigure` use, alone: it reads the text
    /// and touches nothing.
    fn check_config(plugin_config: &PluginConfig<'_>) -> Option<Result<Vec<String>, ConfigError>> {
        Some(
            config::parse(plugin_config.text.as_str(), plugin_config.source.as_str())
                .map(|config| config.warnings),
        )
    }

    fn reconfigure(&self, plugin_config: &PluginConfig<'_>) -> Result<(), ConfigError> {
        let config = config::parse(plugin_config.text.as_str(), plugin_config.source.as_str())?;
        let _one = lock(&self.reconfiguring);
        let current = self.active();
        let link = if current.link.config == config.link {
            Arc::clone(&current.link)
        } else {
            self.shared.host.info(&format!(
                "connection settings changed: connecting to {}",
                config.link.target()
            ));
            // The old link's connection closes once its last lookups end.
            Arc::new(Link::new(config.link.clone()))
        };
        for warning in &config.warnings {
            self.shared.host.warn(warning);
        }
        self.shared.host.info(&AuthRedis::describe(&config));
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        *self.active.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(Active {
            config,
            link,
            generation,
        });
        // The host drops the answers it kept; the rules kept here go too.
        self.shared.rules.clear();
        Ok(())
    }

    fn stats(&self) -> String {
        let active = self.active();
        let mut redis = active.link.describe();
        redis["clients_with_rules"] = json!(self.shared.rules.len());
        self.shared.stats.to_json(redis).to_string()
    }

    fn stop(&self) {
        if let Some(runtime) = lock(&self.runtime).take() {
            // Lookups under way end: their clients get the host's
            // answer for a dropped reply (ignore).
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

/// The Redis command for rendered arguments (the name first).
fn command(args: &[String]) -> redis::Cmd {
    let mut cmd = redis::cmd(&args[0]);
    for arg in &args[1..] {
        cmd.arg(arg.as_bytes());
    }
    cmd
}

fn answer(allowed: bool) -> Decision {
    if allowed {
        Decision::ALLOW
    } else {
        Decision::IGNORE
    }
}

/// Looks the user up and checks the password; with the reply at `acl_at`
/// (the client's rules, asked in the same pipeline).
async fn authenticate(
    shared: &Shared,
    active: &Active,
    cmds: &[redis::Cmd],
    password: Arc<[u8]>,
    acl_at: Option<usize>,
) -> (Outcome, Option<redis::Value>) {
    let config = &active.config;
    let mut replies = match active
        .link
        .query(cmds, config.query_timeout, &shared.stats, &shared.host)
        .await
    {
        Ok(replies) => replies,
        Err(failure) => return (Outcome::Failed(failure), None),
    };
    let acl = acl_at
        .filter(|&at| at < replies.len())
        .map(|at| replies.swap_remove(at));
    let (hash, salt) = match replies.first().map(authn::stored) {
        Some(Stored::Password { hash, salt }) => (hash, salt),
        Some(Stored::NotFound) | None => return (Outcome::NotFound, None),
        Some(Stored::Unexpected(what)) => return (Outcome::Unexpected(what), None),
    };
    // The superuser reply is the second, when there is one: the ACL
    // reply, last, was taken out above.
    let outcome = match authn::verify(config.password_hash, password, hash, salt).await {
        Ok(true) => Outcome::Allowed {
            superuser: replies.get(1).is_some_and(authn::is_superuser),
        },
        Ok(false) => Outcome::WrongPassword,
        Err(unusable) => Outcome::Unusable(unusable),
    };
    (outcome, acl)
}

/// Logs what deserves it: unusable stored data (at most once a period),
/// error replies other than outages (the link logs those).
fn log_outcome(shared: &Shared, client_id: &str, outcome: &Outcome) {
    match outcome {
        Outcome::Unusable(reason) => {
            if let Some(held) = shared.bad_data_log.allow() {
                shared.host.warn(&format!(
                    "client {client_id}: {reason}; refused{}",
                    held_back(held)
                ));
            }
        }
        Outcome::Unexpected(what) => {
            if let Some(held) = shared.bad_data_log.allow() {
                shared.host.warn(&format!(
                    "client {client_id}: auth.redis.auth_cmd returned {what}, not a password; \
                     ignored{}",
                    held_back(held)
                ));
            }
        }
        Outcome::Failed(failure @ Failure::Server(_)) if !link::is_outage(failure) => {
            if let Some(held) = shared.error_reply_log.allow() {
                shared.host.warn(&format!(
                    "client {client_id}: authentication lookup: {failure}{}",
                    held_back(held)
                ));
            }
        }
        _ => {}
    }
}

fn held_back(held: u64) -> String {
    if held == 0 {
        String::new()
    } else {
        format!(" ({held} more such lines held back)")
    }
}

/// A client's rules from Redis. `Err(None)`: the reply is not rules
/// (ignored); `Err(Some(..))`: the lookup failed.
async fn fetch_rules(
    shared: &Shared,
    active: &Active,
    cmd: &redis::Cmd,
    client: &Client<'_>,
) -> Result<Arc<acl::AclRules>, Option<Failure>> {
    let config = &active.config;
    let replies = active
        .link
        .query(
            std::slice::from_ref(cmd),
            config.query_timeout,
            &shared.stats,
            &shared.host,
        )
        .await
        .map_err(|failure| {
            if let Failure::Server(_) = &failure {
                if !link::is_outage(&failure) {
                    if let Some(held) = shared.error_reply_log.allow() {
                        shared.host.warn(&format!(
                            "client {}: ACL lookup: {failure}{}",
                            client.client_id,
                            held_back(held)
                        ));
                    }
                }
            }
            Some(failure)
        })?;
    let reply = replies.into_iter().next().unwrap_or(redis::Value::Nil);
    read_rules(shared, &reply, client)
}

/// A client's rules from an `acl_cmd` reply, bad fields counted and
/// logged; `Err(None)` for a reply that is not a hash's fields.
fn read_rules(
    shared: &Shared,
    reply: &redis::Value,
    client: &Client<'_>,
) -> Result<Arc<acl::AclRules>, Option<Failure>> {
    let Some(rules) = authz::rules(reply, client) else {
        if let Some(held) = shared.bad_data_log.allow() {
            shared.host.warn(&format!(
                "client {}: auth.redis.acl_cmd did not return a hash's fields and values; \
                 ignored{}",
                client.client_id,
                held_back(held)
            ));
        }
        return Err(None);
    };
    let bad = rules.bad() + rules.over_limit();
    if bad > 0 {
        add(&shared.stats.bad_rules, bad as u64);
        if let Some(held) = shared.bad_data_log.allow() {
            shared.host.warn(&format!(
                "client {}: {} ACL rules could not be read and {} were past the first {}; \
                 skipped{}",
                client.client_id,
                rules.bad(),
                rules.over_limit(),
                acl::MAX_RULES,
                held_back(held)
            ));
        }
    }
    Ok(Arc::new(rules))
}

export_plugin!(
    name: "auth_redis",
    plugin: AuthRedis,
    description: "Authenticates clients and checks their topics against users and ACLs in Redis (EMQX auth_redis)"
);

#[cfg(test)]
mod check_config_tests {
    use mqhost_plugin_api::testing::plugin_config;

    use super::*;

    /// The check is the parser alone: the shipped file passes, a bad value
    /// is refused with its line and key, and nothing connects for it.
    #[test]
    fn a_text_is_checked_by_the_parser_start_uses() {
        let shipped = include_str!("../../../etc/plugins/auth_redis.conf");
        let checked = AuthRedis::check_config(&plugin_config(shipped).build());
        assert!(matches!(checked, Some(Ok(_))), "{checked:?}");
        let bad = shipped.replace(
            "auth.redis.query_timeout = 3s",
            "auth.redis.query_timeout = soon",
        );
        let Some(Err(error)) = AuthRedis::check_config(&plugin_config(&bad).build()) else {
            panic!("a query timeout of soon was taken");
        };
        assert_eq!(error.key.as_str(), "auth.redis.query_timeout");
        assert!(error.line > 0);
    }
}
