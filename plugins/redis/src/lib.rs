//! `redis`: an mqhost plugin that keeps client state, subscriptions and
//! messages in Redis, as EMQX 4's Redis backend did, with the mosquitto
//! Redis fork's online hash and expiry check.
//!
//! The behaviour, function by function, is `shared/spec/redis-backend.md`;
//! the configuration (`etc/plugins/redis.conf`) is described in
//! [`config`] and commented in the repository's copy of the file.
//!
//! # Layout
//!
//! - [`config`]: the properties file → a checked [`config::Config`]
//!   (pools, rules, legacy and compatibility keys).
//! - [`rules`]: hook points and the ordered rules of each.
//! - [`hook`]: the hook points rules name.
//! - [`scan`]: topic filters as `SCAN MATCH` patterns (every other topic
//!   rule is `mqhost_plugin_api::topic`).
//! - [`event`]: hook events as rules see them (message events borrowed,
//!   the others copied once for lookups).
//! - [`functions`]: the spec's write functions, event → commands (pure).
//! - [`commands`]: raw command templates and their placeholders.
//! - [`resp`]: commands encoded straight into the protocol, and replies
//!   scanned without building values (the write path's hot loop).
//! - [`pool`]: a Redis deployment: connections, the ordered bounded write
//!   queue and its pipelining writer, the lookups that deliver or
//!   subscribe through the host, and the SUB/UNSUB channel.
//! - [`stats`]: figures for the admin API.
//!
//! # Threads
//!
//! Hooks run on broker threads and return at once: they match rules and
//! write the rules' commands into the pools' queues, or push lookups (or
//! drop a message for the expiry check). All Redis I/O runs on the plugin's own
//! tokio runtime, built in `start` on threads of its own; the host's
//! runtime is never used (its tokio is another copy with other
//! thread-locals).

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub(crate) mod commands;
pub(crate) mod config;
pub(crate) mod event;
pub(crate) mod functions;
pub(crate) mod hook;
pub(crate) mod pool;
pub(crate) mod resp;
pub(crate) mod rules;
pub(crate) mod scan;
pub(crate) mod stats;

use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mqhost_plugin_api::{
    export_plugin, topic, ClientEvent, ConfigError, DeliveryEvent, HookSet, Host, MessageEvent,
    MqhostPlugin, PluginConfig, SessionEvent, SubscriptionEvent, Verdict,
};
use serde_json::{json, Map, Value};
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

use config::Config;
use event::{ClientData, DeliveryData, Event, MessageData, SessionData, SubscriptionData};
use functions::{expiry, Function, Kind, Shape};
use hook::HookPoint;
use pool::lookup::Lookup;
use pool::shared::PoolShared;
use pool::PoolHandle;
use rules::{Action, Rule};

/// Threads of the plugin's runtime: one for the writers' formatting and
/// replies, one so lookups and the channel never wait behind them.
pub(crate) const RUNTIME_THREADS: usize = 2;
/// How long `stop` waits for queued writes to reach Redis.
pub(crate) const STOP_DRAIN: Duration = Duration::from_secs(5);

/// The configuration in force and the pools it uses.
struct Active {
    config: Config,
    /// `config.pools`' handles, same order (a rule's `pool_index`).
    pools: Vec<Arc<PoolHandle>>,
}

impl Active {
    fn empty() -> Active {
        Active {
            config: Config {
                pools: Vec::new(),
                rules: rules::RuleSet::default(),
                warnings: Vec::new(),
            },
            pools: Vec::new(),
        }
    }

    fn pool(&self, rule: &Rule) -> Option<&Arc<PoolHandle>> {
        rule.pool.as_ref()?;
        self.pools.get(rule.pool_index)
    }
}

/// A writer the plugin waits for when it stops, with its pool's figures.
struct WriterTask {
    shared: Arc<PoolShared>,
    task: JoinHandle<()>,
}

/// The plugin, public only because `export_plugin!` names it.
pub struct RedisBackend {
    host: Host,
    /// Taken by `stop`.
    runtime: Mutex<Option<Runtime>>,
    handle: tokio::runtime::Handle,
    /// Swapped whole by `reconfigure`; hooks clone the `Arc` and work on a
    /// consistent rule set even while a reload happens.
    active: RwLock<Arc<Active>>,
    /// Every writer started, including those of pools a reload removed
    /// (they finish their queue first).
    writers: Mutex<Vec<WriterTask>>,
    /// One reconfiguration at a time.
    reconfiguring: Mutex<()>,
}

impl Drop for RedisBackend {
    /// A plugin that failed is dropped without `stop`, possibly on a broker
    /// thread: dropping a tokio runtime as is would wait there for its
    /// workers, so the runtime is let go in the background instead.
    fn drop(&mut self) {
        if let Some(runtime) = lock(&self.runtime).take() {
            runtime.shutdown_background();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Unix seconds now.
fn unix_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl RedisBackend {
    fn active(&self) -> Arc<Active> {
        Arc::clone(&self.active.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// The configuration in force, borrowed for one hook call: the read
    /// lock alone, without an `Arc` clone and drop, which on the message
    /// path were two more atomic read-modify-writes per hook.
    fn in_force(&self) -> std::sync::RwLockReadGuard<'_, Arc<Active>> {
        self.active.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts or keeps the pools `config` names: a pool whose settings did
    /// not change keeps its connections and queue; a changed one gets the
    /// new settings (its tasks reconnect, its queue stays).
    fn pools_for(&self, config: &Config, current: &Active) -> Vec<Arc<PoolHandle>> {
        config
            .pools
            .iter()
            .map(|pool| {
                let existing = current
                    .config
                    .pools
                    .iter()
                    .position(|p| p.name == pool.name)
                    .and_then(|i| current.pools.get(i));
                match existing {
                    Some(handle) => {
                        if *handle.config() != *pool {
                            handle.update(pool.clone());
                        }
                        Arc::clone(handle)
                    }
                    None => {
                        let started =
                            PoolHandle::start(pool.clone(), self.host.clone(), &self.handle);
                        lock(&self.writers).push(WriterTask {
                            shared: Arc::clone(&started.handle.shared),
                            task: started.writer,
                        });
                        started.handle
                    }
                }
            })
            .collect()
    }

    /// Runs the rules of `hook` for an event about `topic` (a message
    /// topic or a subscription filter; None for client and session
    /// events). `make` copies the event, once, when a rule needs it.
    fn run_rules<'a>(
        &self,
        active: &Active,
        hook: HookPoint,
        topic: Option<&str>,
        shape: Shape,
        make: impl FnOnce() -> Event<'a>,
    ) {
        let rules = active.config.rules.for_hook(hook);
        if rules.is_empty() {
            return;
        }
        // Made on first use, once, whatever the number of rules (only
        // client, session and subscription events copy anything).
        let event = std::cell::LazyCell::new(make);
        for rule in rules {
            if let Some(topic) = topic {
                if !rule.applies_to(topic) {
                    continue;
                }
            }
            let Some(pool) = active.pool(rule) else {
                continue;
            };
            match &rule.action {
                Action::Function(function) => match function.kind() {
                    Kind::Write => {
                        let count = function.command_count(shape);
                        if count == 0 {
                            continue;
                        }
                        let event = &*event;
                        if *function == Function::ClientOnlineHash {
                            if let Event::Client(client) = event {
                                self.host.info(&functions::client::online_log_line(
                                    &client.client_id,
                                    client.connected,
                                ));
                            }
                        }
                        pool.write(count, event.size_hint(), |batch| {
                            // The message path's events wait packed; the
                            // writer makes their commands.
                            let packed = pool::record::pack(*function, rule.ttl, event, |parts| {
                                batch.record(parts)
                            });
                            if !packed {
                                function.emit(event, rule.ttl, batch)
                            }
                        });
                    }
                    Kind::Lookup => {
                        if let Some(event) = event.to_owned_event() {
                            pool.lookup(Lookup {
                                function: *function,
                                event,
                            });
                        }
                    }
                    Kind::Check => {}
                },
                Action::Commands(commands) => {
                    let event = &*event;
                    pool.write(commands.len(), event.size_hint(), |batch| {
                        commands.emit(event, batch)
                    });
                }
            }
        }
    }

    /// The expiry check of `message.publish` rules: whether to drop.
    fn expired(&self, active: &Active, message: &MessageEvent<'_>) -> bool {
        let checks = active
            .config
            .rules
            .for_hook(HookPoint::MessagePublish)
            .iter()
            .filter(|r| matches!(r.action, Action::Function(Function::MessageExpiryCheck)))
            .filter(|r| r.applies_to(message.topic.as_str()));
        let mut checks = checks.peekable();
        if checks.peek().is_none() {
            return false;
        }
        let Some(expired_at) = expiry::expired_at(message.payload.as_slice()) else {
            return false;
        };
        let now = unix_secs();
        let expired = expiry::has_expired(expired_at, now);
        let line = expiry::log_line(expired_at, now);
        if expired {
            self.host.info(&line);
            self.host.info(expiry::EXPIRED_LINE);
        } else {
            self.host.debug(&line);
        }
        expired
    }
}

impl MqhostPlugin for RedisBackend {
    fn start(host: Host, plugin_config: &PluginConfig<'_>) -> Result<Self, ConfigError> {
        let config = config::parse(plugin_config.text.as_str(), plugin_config.source.as_str())?;
        // The redis crate's TLS takes rustls' process-wide provider; this is
        // the plugin's own copy of rustls, so nobody else sets it. A second
        // start (a replaced instance) finds it set already.
        mqhost_redis_link::install_crypto_provider();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(RUNTIME_THREADS)
            .thread_name("mqhost-redis")
            .enable_all()
            .build()
            .map_err(|e| ConfigError::new(format!("cannot start the plugin's runtime: {e}")))?;
        let backend = RedisBackend {
            host: host.clone(),
            handle: runtime.handle().clone(),
            runtime: Mutex::new(Some(runtime)),
            active: RwLock::new(Arc::new(Active::empty())),
            writers: Mutex::new(Vec::new()),
            reconfiguring: Mutex::new(()),
        };
        let pools = backend.pools_for(&config, &Active::empty());
        for warning in &config.warnings {
            host.warn(warning);
        }
        host.info(&config.describe());
        *backend
            .active
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(Active { config, pools });
        Ok(backend)
    }

    fn hooks(&self) -> HookSet {
        self.active().config.rules.hooks()
    }

    fn on_client_connected(&self, client: &ClientEvent<'_>) {
        self.run_rules(
            &self.in_force(),
            HookPoint::ClientConnected,
            None,
            Shape::default(),
            || Event::Client(Arc::new(ClientData::new(client, true))),
        );
    }

    fn on_client_disconnected(&self, client: &ClientEvent<'_>) {
        self.run_rules(
            &self.in_force(),
            HookPoint::ClientDisconnected,
            None,
            Shape::default(),
            || Event::Client(Arc::new(ClientData::new(client, false))),
        );
    }

    fn on_session_created(&self, session: &SessionEvent<'_>) {
        self.run_rules(
            &self.in_force(),
            HookPoint::SessionCreated,
            None,
            Shape::default(),
            || Event::Session(Arc::new(SessionData::new(session))),
        );
    }

    fn on_session_subscribed(&self, subscription: &SubscriptionEvent<'_>) {
        let filter = topic::strip_share(subscription.filter.as_str());
        self.run_rules(
            &self.in_force(),
            HookPoint::SessionSubscribed,
            Some(filter),
            Shape::default(),
            || Event::Subscription(Arc::new(SubscriptionData::new(subscription))),
        );
    }

    fn on_session_unsubscribed(&self, subscription: &SubscriptionEvent<'_>) {
        let filter = topic::strip_share(subscription.filter.as_str());
        self.run_rules(
            &self.in_force(),
            HookPoint::SessionUnsubscribed,
            Some(filter),
            Shape::default(),
            || Event::Subscription(Arc::new(SubscriptionData::new(subscription))),
        );
    }

    fn on_message_publish(&self, message: &MessageEvent<'_>) -> Verdict {
        // Checked first: a message the check drops is neither routed nor
        // stored, whatever the order of the rules.
        let active = self.in_force();
        if self.expired(&active, message) {
            return Verdict::DROP;
        }
        let shape = Shape::of_message(
            message.qos,
            message.retain,
            message.payload.is_empty(),
            message.topic.as_str(),
        );
        self.run_rules(
            &active,
            HookPoint::MessagePublish,
            Some(message.topic.as_str()),
            shape,
            || Event::Message(MessageData::new(message)),
        );
        Verdict::CONTINUE
    }

    fn on_message_delivered(&self, delivery: &DeliveryEvent<'_>) {
        self.run_rules(
            &self.in_force(),
            HookPoint::MessageDelivered,
            Some(delivery.message.topic.as_str()),
            Shape::default(),
            || Event::Delivery(DeliveryData::new(delivery)),
        );
    }

    fn on_message_acked(&self, delivery: &DeliveryEvent<'_>) {
        self.run_rules(
            &self.in_force(),
            HookPoint::MessageAcked,
            Some(delivery.message.topic.as_str()),
            Shape::of_delivery(delivery.client_id.as_str(), delivery.message.topic.as_str()),
            || Event::Delivery(DeliveryData::new(delivery)),
        );
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
        let pools = self.pools_for(&config, &current);
        for warning in &config.warnings {
            self.host.warn(warning);
        }
        let removed: Vec<&str> = current
            .config
            .pools
            .iter()
            .filter(|p| config.pool(&p.name).is_none())
            .map(|p| p.name.as_str())
            .collect();
        if !removed.is_empty() {
            self.host.info(&format!(
                "pools no longer configured: {}; their queued writes are still sent",
                removed.join(", ")
            ));
        }
        self.host.info(&config.describe());
        *self.active.write().unwrap_or_else(PoisonError::into_inner) =
            Arc::new(Active { config, pools });
        // Writers of removed pools that finished are forgotten.
        lock(&self.writers).retain(|w| !w.task.is_finished());
        Ok(())
    }

    fn stats(&self) -> String {
        let active = self.active();
        let mut pools = Map::new();
        for (config, handle) in active.config.pools.iter().zip(&active.pools) {
            pools.insert(config.name.clone(), handle.stats());
        }
        json!({
            "pools": Value::Object(pools),
            "rules": active.config.rules.len(),
        })
        .to_string()
    }

    fn stop(&self) {
        // Dropping the pools closes their queues: the writers send what is
        // left and end.
        *self.active.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(Active::empty());
        let Some(runtime) = lock(&self.runtime).take() else {
            return;
        };
        let writers: Vec<WriterTask> = lock(&self.writers).drain(..).collect();
        let started = Instant::now();
        let left: Vec<Arc<PoolShared>> = runtime.block_on(async {
            let mut left = Vec::new();
            for writer in writers {
                let remaining = STOP_DRAIN.saturating_sub(started.elapsed());
                let mut task = writer.task;
                if tokio::time::timeout(remaining, &mut task).await.is_err() {
                    task.abort();
                    left.push(writer.shared);
                }
            }
            left
        });
        for shared in left {
            let queued = shared
                .stats
                .queued
                .load(std::sync::atomic::Ordering::Relaxed);
            self.host.warn(&format!(
                "pool {}: stopped with {queued} commands not written (Redis did not take them \
                 within {}s)",
                shared.name,
                STOP_DRAIN.as_secs()
            ));
        }
        runtime.shutdown_timeout(Duration::from_secs(1));
    }
}

export_plugin!(
    name: "redis",
    plugin: RedisBackend,
    description: "Stores client state, subscriptions and messages in Redis (EMQX Redis backend)"
);

#[cfg(test)]
mod check_config_tests {
    use mqhost_plugin_api::testing::plugin_config;

    use super::*;

    /// The check is the parser alone: the shipped file passes, a bad value
    /// is refused with its line and key, and nothing is started for it.
    #[test]
    fn a_text_is_checked_by_the_parser_start_uses() {
        let shipped = include_str!("../../../etc/plugins/redis.conf");
        let checked = RedisBackend::check_config(&plugin_config(shipped).build());
        assert!(matches!(checked, Some(Ok(_))), "{checked:?}");
        let bad = shipped.replace(
            "backend.redis.pool1.pool_size = 8",
            "backend.redis.pool1.pool_size = many",
        );
        let Some(Err(error)) = RedisBackend::check_config(&plugin_config(&bad).build()) else {
            panic!("a pool size of many was taken");
        };
        assert_eq!(error.key.as_str(), "backend.redis.pool1.pool_size");
        assert!(error.line > 0);
    }
}
