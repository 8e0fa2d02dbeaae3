//! `cluster`: an mqhost plugin that makes the brokers sharing a Redis (and
//! a `cluster.name`) one cluster (`etc/plugins/cluster.conf`, described in
//! `docs/cluster.md`). Redis is the only thing the nodes share: no seed
//! list, no consensus of our own.
//!
//! # Layout
//!
//! - `config`: the properties file → a checked configuration;
//! - `keys`: the names of the cluster's keys and channels;
//! - `membership`: heartbeats, the refusal of a second live node with one
//!   `node.name`, the members up and down;
//! - `routes`: this node's filters and the other nodes' (pure);
//! - `wire`: the bus's batches of messages (pure);
//! - `bus`: routes and messages between nodes over Redis pub/sub;
//! - `handover`: a client's session moved here from the node that has it;
//! - `retained`: the cluster's retained messages in Redis, for nodes that
//!   join later;
//! - `status`: the figures and the member list the admin API shows.
//!
//! # Threads
//!
//! The plugin runs its own tokio runtime (the host's is another copy of
//! tokio and is never used). `start` waits there until this node holds
//! its name, so that a node refused by the cluster never serves a
//! client; then a task beats every second, and the `bus` tasks move
//! routes and messages. Hooks run on broker threads and return at once:
//! `message.publish` matches the topic against the other nodes' routes,
//! chooses the node that serves each shared subscription with members
//! elsewhere, and queues the message for those nodes; the subscription
//! hooks queue route changes; `session.resuming` starts a task that asks
//! the other nodes for the client's session and answers the hook later.

#![forbid(unsafe_code)]

mod bus;
mod config;
mod handover;
mod keys;
mod membership;
mod retained;
mod routes;
mod status;
mod wire;

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use mqhost_plugin_api::{
    ClientEvent, ConfigError, Decision, HookSet, Host, HostError, MessageEvent, MqhostPlugin,
    PluginConfig, Reply, ResumeEvent, ServedElsewhere, SubscriptionEvent, Verdict,
};
use mqhost_redis_link::{Conn, ConnCell};
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, watch, Notify};

use config::Config;
use keys::Keys;
use membership::{AcquireError, Refreshed, HEARTBEAT_EVERY};
use status::Status;

/// Threads of the plugin's runtime: waits on Redis, little work.
const RUNTIME_THREADS: usize = 2;

/// How long `stop` waits for the goodbye (heartbeat and members entry).
const STOP_WAIT: Duration = Duration::from_secs(2);

/// What the plugin's tasks share with its hooks and the admin API.
pub(crate) struct Shared {
    host: Host,
    config: Config,
    keys: Keys,
    /// This node's `node.name`.
    node: String,
    /// This instance's token in its heartbeat: tells it from an earlier
    /// or a duplicate instance with the same name.
    token: String,
    /// The connection for commands, made again after it broke.
    cell: ConnCell,
    status: Status,
    /// This node's routes.
    local_routes: Mutex<routes::Local>,
    /// Changes of them and clients connected here, for the route writer.
    route_changes: mpsc::UnboundedSender<bus::News>,
    /// Clients that left with routes: their sessions may have ended.
    left: Mutex<HashSet<String>>,
    /// Rung when a client with routes leaves: its session, if it ends
    /// with the connection, has ended by the time the sweeper looks.
    sweep_soon: Notify,
    /// The other nodes' routes.
    remote_routes: RwLock<routes::Remote>,
    /// Messages waiting for other nodes, and the sender's bell.
    outbox: Mutex<bus::Outbox>,
    wake_sender: Notify,
    /// The other nodes up, as the last beat read them.
    up: watch::Sender<Vec<String>>,
    /// The plugin's runtime, for work started from hooks.
    runtime: tokio::runtime::Handle,
    /// Sessions asked of the other nodes, waiting for their answers.
    asked: Mutex<handover::Asked>,
}

impl Shared {
    /// Forgets every other node's routes (the listener reads them again).
    fn remote_routes_clear(&self) {
        *self
            .remote_routes
            .write()
            .unwrap_or_else(PoisonError::into_inner) = routes::Remote::default();
    }

    /// Applies a change of this node's routes.
    fn route_changed(&self, change: Option<routes::Change>, routes: usize) {
        self.status.routes.store(routes as u64, Ordering::Relaxed);
        if let Some(change) = change {
            let _ = self.route_changes.send(bus::News::Route(change));
        }
    }

    /// Sessions that ended since they left: their routes go. A session
    /// still here (offline, persistent) keeps its routes.
    fn sweep_ended_sessions(&self) {
        let left: Vec<String> = lock(&self.left).iter().cloned().collect();
        for client in left {
            if self.host.is_connected(&client) {
                lock(&self.left).remove(&client);
                continue;
            }
            if self.host.session_room(&client) == Err(HostError::NO_SUCH_CLIENT) {
                lock(&self.left).remove(&client);
                let mut local = lock(&self.local_routes);
                let changes = local.end_session(&client);
                let count = local.len();
                drop(local);
                for change in changes {
                    self.route_changed(Some(change), count);
                }
            }
        }
    }

    /// The shared connection, connecting if there is none.
    async fn conn(&self) -> Result<(u64, Conn), String> {
        self.cell
            .get(|| self.config.link.clone())
            .await
            .map_err(|e| e.to_string())
    }
}

/// The plugin, public only because `export_plugin!` names it.
pub struct Cluster {
    shared: Arc<Shared>,
    /// Taken by `stop`.
    runtime: Mutex<Option<Runtime>>,
    /// Tells the tasks to end.
    stopping: watch::Sender<bool>,
    /// The heartbeat task, waited for before the goodbye: a beat still
    /// on its way would take the heartbeat again after it.
    beat: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Drop for Cluster {
    /// A plugin dropped without `stop` (it failed) lets its runtime go in
    /// the background rather than wait on a broker thread.
    fn drop(&mut self) {
        if let Some(runtime) = lock(&self.runtime).take() {
            runtime.shutdown_background();
        }
    }
}

/// An instance token: the process, and the time it started in
/// nanoseconds, which two instances on one machine do not share.
fn instance_token() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{}:{nanos}", std::process::id())
}

impl MqhostPlugin for Cluster {
    fn start(host: Host, plugin_config: &PluginConfig<'_>) -> Result<Self, ConfigError> {
        let config = config::parse(plugin_config.text.as_str(), plugin_config.source.as_str())?;
        for warning in &config.warnings {
            host.warn(warning);
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(RUNTIME_THREADS)
            .thread_name("mqhost-cluster")
            .enable_all()
            .build()
            .map_err(|e| ConfigError::new(format!("cannot start the plugin's runtime: {e}")))?;
        let node = host.node_name();
        let (route_changes, changes_rx) = mpsc::unbounded_channel();
        let (up, up_rx) = watch::channel(Vec::new());
        let shared = Arc::new(Shared {
            keys: Keys::new(&config.name),
            token: instance_token(),
            cell: ConnCell::new(),
            status: Status::default(),
            local_routes: Mutex::default(),
            route_changes,
            left: Mutex::default(),
            sweep_soon: Notify::new(),
            remote_routes: RwLock::default(),
            outbox: Mutex::default(),
            wake_sender: Notify::new(),
            up,
            runtime: runtime.handle().clone(),
            asked: Mutex::default(),
            node,
            config,
            host,
        });
        runtime.block_on(join(&shared))?;
        let (stopping, stop_rx) = watch::channel(false);
        let beat = runtime.spawn(beat(Arc::clone(&shared), stop_rx.clone()));
        runtime.spawn(bus::write_routes(Arc::clone(&shared), changes_rx));
        runtime.spawn(sweep(Arc::clone(&shared), stop_rx.clone()));
        runtime.spawn(bus::send(Arc::clone(&shared), stop_rx.clone()));
        runtime.spawn(bus::listen(Arc::clone(&shared), up_rx, stop_rx));
        shared.host.info(&format!(
            "plugin started: node {} joined cluster {} on Redis {}",
            shared.node,
            shared.config.name,
            shared.config.link.target()
        ));
        Ok(Cluster {
            shared,
            runtime: Mutex::new(Some(runtime)),
            stopping,
            beat: Mutex::new(Some(beat)),
        })
    }

    fn hooks(&self) -> HookSet {
        HookSet::CLIENT_CONNECTED
            | HookSet::CLIENT_DISCONNECTED
            | HookSet::SESSION_SUBSCRIBED
            | HookSet::SESSION_UNSUBSCRIBED
            | HookSet::MESSAGE_PUBLISH
            | HookSet::SESSION_RESUMING
    }

    /// Brings the client's session here from the node that has it (Clean
    /// Start 0), or has that node discard it (Clean Start 1).
    fn on_session_resuming(&self, event: &ResumeEvent<'_>, reply: Reply) -> Decision {
        handover::resuming(
            &self.shared,
            event.client_id.as_str(),
            event.clean_start,
            reply,
        )
    }

    /// Counted, and claimed: a connection with this id on another node
    /// ends.
    fn on_client_connected(&self, client: &ClientEvent<'_>) {
        self.shared.status.client_moved(true);
        let claim = bus::News::Claim(client.client_id.to_string());
        let _ = self.shared.route_changes.send(claim);
    }

    fn on_client_disconnected(&self, client: &ClientEvent<'_>) {
        self.shared.status.client_moved(false);
        let id = client.client_id.as_str();
        if lock(&self.shared.local_routes).has_client(id) {
            lock(&self.shared.left).insert(id.to_owned());
            self.shared.sweep_soon.notify_one();
        }
    }

    fn on_session_subscribed(&self, subscription: &SubscriptionEvent<'_>) {
        let mut local = lock(&self.shared.local_routes);
        let change = local.subscribe(
            subscription.client_id.as_str(),
            subscription.filter.as_str(),
        );
        let count = local.len();
        drop(local);
        self.shared.route_changed(change, count);
    }

    fn on_session_unsubscribed(&self, subscription: &SubscriptionEvent<'_>) {
        let mut local = lock(&self.shared.local_routes);
        let change = local.unsubscribe(
            subscription.client_id.as_str(),
            subscription.filter.as_str(),
        );
        let count = local.len();
        drop(local);
        self.shared.route_changed(change, count);
    }

    /// Queues the message for every other node with a matching route, or
    /// for every other node up when it is retained (each keeps the
    /// cluster's retained messages), and chooses who serves each shared
    /// subscription with members on other nodes: a group another node
    /// serves goes to it in the message's frame, and the host here leaves
    /// it alone. A group with members here only costs nothing more. `$SYS`
    /// topics stay on their node.
    fn on_message_publish_shared(
        &self,
        message: &MessageEvent<'_>,
        elsewhere: &mut ServedElsewhere,
    ) -> Verdict {
        let topic = message.topic.as_str();
        if topic.starts_with("$SYS") {
            return Verdict::CONTINUE;
        }
        let up = message.retain.then(|| self.shared.up.borrow().clone());
        {
            let remote = self
                .shared
                .remote_routes
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            let nodes = match &up {
                Some(up) => up.iter().map(String::as_str).collect(),
                None => remote.nodes_for(topic),
            };
            let mut targets: Vec<bus::Target<'_>> = nodes
                .into_iter()
                .map(|node| bus::Target {
                    node,
                    groups: Vec::new(),
                })
                .collect();
            let local = lock(&self.shared.local_routes);
            let mut handed = 0;
            remote.serve_groups(
                topic,
                |group| local.members(group),
                |group, node| {
                    let Some(node) = node else { return };
                    elsewhere.push(group);
                    handed += 1;
                    match targets.iter_mut().find(|t| t.node == node) {
                        Some(target) => target.groups.push(group),
                        None => targets.push(bus::Target {
                            node,
                            groups: vec![group],
                        }),
                    }
                },
            );
            drop(local);
            if handed > 0 {
                self.shared
                    .status
                    .bus
                    .shared_elsewhere
                    .fetch_add(handed, Ordering::Relaxed);
            }
            bus::forward(&self.shared, message, &targets);
        }
        if message.retain {
            let (topic, stored) = retained::entry(&self.shared.node, message);
            let _ = self
                .shared
                .route_changes
                .send(bus::News::Retained(topic, stored));
        }
        Verdict::CONTINUE
    }

    fn reconfigure(&self, plugin_config: &PluginConfig<'_>) -> Result<(), ConfigError> {
        let config = config::parse(plugin_config.text.as_str(), plugin_config.source.as_str())?;
        if config.name != self.shared.config.name || config.link != self.shared.config.link {
            return Err(ConfigError::new(
                "cluster.name and cluster.redis.* take effect when the plugin starts: \
                 reload the plugin (mqhost ctl plugins reload cluster) or restart the broker",
            ));
        }
        Ok(())
    }

    fn check_config(plugin_config: &PluginConfig<'_>) -> Option<Result<Vec<String>, ConfigError>> {
        Some(
            config::parse(plugin_config.text.as_str(), plugin_config.source.as_str())
                .map(|config| config.warnings),
        )
    }

    fn stats(&self) -> String {
        self.shared.status.to_json(&self.shared).to_string()
    }

    fn stop(&self) {
        let _ = self.stopping.send(true);
        let Some(runtime) = lock(&self.runtime).take() else {
            return;
        };
        let shared = Arc::clone(&self.shared);
        let beat = lock(&self.beat).take();
        let left = runtime.block_on(async move {
            // A beat under way ends within its own bound (two beats).
            if let Some(beat) = beat {
                let _ = tokio::time::timeout(HEARTBEAT_EVERY * 3, beat).await;
            }
            let leave = async {
                let (_, mut conn) = shared.conn().await?;
                membership::release(&mut conn, &shared.keys, &shared.node, &shared.token).await
            };
            tokio::time::timeout(STOP_WAIT, leave)
                .await
                .unwrap_or_else(|_| Err("Redis did not answer in time".to_owned()))
        });
        runtime.shutdown_timeout(STOP_WAIT);
        match left {
            Ok(()) => self.shared.host.info(&format!(
                "node {} left cluster {}",
                self.shared.node, self.shared.config.name
            )),
            Err(error) => self.shared.host.warn(&format!(
                "node {} stopped without telling cluster {} ({error}): the others show it down",
                self.shared.node, self.shared.config.name
            )),
        }
    }
}

/// Takes this node's name in the cluster, or says why not in one sentence.
async fn join(shared: &Shared) -> Result<(), ConfigError> {
    let (_, mut conn) = shared.conn().await.map_err(|error| {
        ConfigError::new(format!(
            "cannot reach the cluster's Redis at {}: {error}",
            shared.config.link.target()
        ))
    })?;
    let figures = shared.status.figures();
    match membership::acquire(
        &mut conn,
        &shared.keys,
        &shared.node,
        &shared.token,
        figures,
    )
    .await
    {
        Ok(()) => {}
        Err(AcquireError::Held(holder)) => {
            return Err(ConfigError::new(format!(
                "node.name {:?} is already taken in cluster {:?} by a live node \
                 (instance {holder}); give this node another node.name",
                shared.node, shared.config.name
            )))
        }
        Err(AcquireError::Redis(error)) => {
            return Err(ConfigError::new(format!(
                "cannot join cluster {:?} on Redis {}: {error}",
                shared.config.name,
                shared.config.link.target()
            )))
        }
    }
    bus::start_afresh(shared).await.map_err(|error| {
        ConfigError::new(format!("cannot clear this node's old routes: {error}"))
    })?;
    let kept = retained::catch_up(shared).await.map_err(|error| {
        ConfigError::new(format!(
            "cannot read the cluster's retained messages: {error}"
        ))
    })?;
    if kept > 0 {
        shared.host.info(&format!(
            "{kept} retained messages of the cluster kept here"
        ));
    }
    if let Ok(members) = membership::members(&mut conn, &shared.keys).await {
        shared.set_members(members);
    }
    Ok(())
}

impl Shared {
    /// Takes a reading of the members; tells the listener who is up.
    fn set_members(&self, members: Vec<membership::Member>) -> Vec<String> {
        let up: Vec<String> = members
            .iter()
            .filter(|m| m.up && m.name != self.node)
            .map(|m| m.name.clone())
            .collect();
        self.up.send_if_modified(|current| {
            let changed = *current != up;
            if changed {
                *current = up;
            }
            changed
        });
        self.status.set_members(members)
    }
}

/// How long after a client with routes left the sweeper looks for its
/// session: one that ends with its connection is gone by then, and its
/// routes and group memberships go at once rather than at the next beat
/// (a shared subscription's turns would otherwise still come to this node
/// for a member it no longer has).
const SWEEP_AFTER: Duration = Duration::from_millis(50);

/// Sweeps ended sessions soon after clients with routes leave; the beat
/// sweeps too, for sessions that expire later.
async fn sweep(shared: Arc<Shared>, mut stopping: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = shared.sweep_soon.notified() => {}
            _ = stopping.changed() => return,
        }
        tokio::time::sleep(SWEEP_AFTER).await;
        shared.sweep_ended_sessions();
    }
}

/// The heartbeat, every [`HEARTBEAT_EVERY`] until told to stop.
async fn beat(shared: Arc<Shared>, mut stopping: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(HEARTBEAT_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stopping.changed() => return,
        }
        match one_beat(&shared).await {
            Ok(()) => {
                if failing {
                    shared.host.info("the cluster's Redis answers again");
                    failing = false;
                }
            }
            Err(error) => {
                shared.status.count_heartbeat_error();
                if !failing {
                    shared.host.error(&format!(
                        "cluster heartbeat failed (other nodes will see this one down after {}s): {error}",
                        membership::HEARTBEAT_TTL.as_secs()
                    ));
                    failing = true;
                }
            }
        }
    }
}

async fn one_beat(shared: &Shared) -> Result<(), String> {
    let (generation, mut conn) = shared.conn().await?;
    let work = async {
        let figures = shared.status.figures();
        match membership::refresh(&mut conn, &shared.keys, &shared.node, &shared.token, figures)
            .await?
        {
            Refreshed::Held => {}
            Refreshed::Retaken => shared.host.warn(
                "this node's heartbeat had run out (Redis was away): the other nodes saw it down",
            ),
            Refreshed::Lost => shared.host.error(&format!(
                "another instance now holds node.name {:?} in cluster {:?}: two nodes share one name",
                shared.node, shared.config.name
            )),
        }
        membership::members(&mut conn, &shared.keys).await
    };
    match tokio::time::timeout(HEARTBEAT_EVERY * 2, work).await {
        Ok(Ok(members)) => {
            for change in shared.set_members(members) {
                shared.host.info(&change);
            }
            shared.sweep_ended_sessions();
            Ok(())
        }
        Ok(Err(error)) => {
            shared.cell.invalidate(Some(generation)).await;
            Err(error)
        }
        Err(_) => {
            shared.cell.invalidate(Some(generation)).await;
            Err("Redis did not answer within 2 s".to_owned())
        }
    }
}

mqhost_plugin_api::export_plugin!(name: "cluster", plugin: Cluster);
