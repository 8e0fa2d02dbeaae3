//! The plugin's way to Redis: one shared connection (redis-link's
//! [`ConnCell`]) on which lookups are pipelined, at most `auth.redis.pool`
//! at once, each bounded by `query_timeout`; and whether Redis answers,
//! said in the log once per outage rather than once per client.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use mqhost_plugin_api::Host;
use mqhost_redis_link::{is_transient, needs_new_connection, ConnCell, LinkConfig};
use redis::{Cmd, Value};
use serde_json::{json, Value as Json};
use tokio::sync::Semaphore;

use crate::stats::{inc, Stats};

/// After a connection attempt failed, lookups fail at once for this long
/// rather than each trying again: a Redis that is down answers quickly,
/// and one whose address does not answer at all does not hold every
/// client for `query_timeout`.
const RETRY_AFTER: Duration = Duration::from_millis(500);

/// Why a lookup has no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// No reply within `query_timeout`.
    Timeout,
    /// Redis cannot be reached or the connection broke.
    Unreachable(String),
    /// Redis answered with an error.
    Server(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Timeout => f.write_str("no answer within auth.redis.query_timeout"),
            Failure::Unreachable(reason) => write!(f, "unreachable: {reason}"),
            Failure::Server(reason) => write!(f, "error reply: {reason}"),
        }
    }
}

/// A connection to one Redis deployment, as `link` describes it. A
/// reload with the same settings keeps it; other settings make a new one.
pub(crate) struct Link {
    pub(crate) config: LinkConfig,
    cell: ConnCell,
    permits: Semaphore,
    /// Until when lookups fail at once, and why.
    retry_at: Mutex<Option<(Instant, String)>>,
    health: Health,
}

impl Link {
    pub(crate) fn new(config: LinkConfig) -> Link {
        Link {
            permits: Semaphore::new(config.pool_size),
            config,
            cell: ConnCell::new(),
            retry_at: Mutex::new(None),
            health: Health::default(),
        }
    }

    /// Sends `cmds` (pipelined when several) and returns their replies,
    /// in order, within `timeout` (waiting for a turn and connecting
    /// included). A reply that is an error is a [`Failure::Server`] when
    /// it is the first; later ones are left to the caller. Counts the
    /// outcome in `stats` and tells `host` when Redis goes away or comes
    /// back.
    pub(crate) async fn query(
        &self,
        cmds: &[Cmd],
        timeout: Duration,
        stats: &Stats,
        host: &Host,
    ) -> Result<Vec<Value>, Failure> {
        inc(&stats.lookups);
        let mut used = None;
        let attempt = self.attempt(cmds, &mut used);
        let result = match tokio::time::timeout(timeout, attempt).await {
            Ok(result) => result,
            Err(_) => {
                // A connection that sat on a request that long may be
                // half open: the next lookup connects afresh.
                if used.is_some() {
                    self.cell.invalidate(used).await;
                }
                Err(Failure::Timeout)
            }
        };
        match &result {
            Ok(_) => self.health.answered(host, &self.config),
            Err(failure) => {
                inc(match failure {
                    Failure::Timeout => &stats.timeouts,
                    _ => &stats.failures,
                });
                self.health.failed(host, &self.config, failure);
            }
        }
        result
    }

    async fn attempt(&self, cmds: &[Cmd], used: &mut Option<u64>) -> Result<Vec<Value>, Failure> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| Failure::Unreachable("the plugin is stopping".to_owned()))?;
        let (generation, mut conn) = self.conn().await?;
        *used = Some(generation);
        let replies = match cmds {
            [cmd] => conn.query(cmd).await.map(|value| vec![value]),
            _ => conn.query_many(cmds.to_vec()).await,
        };
        let replies = match replies {
            Ok(replies) => replies,
            Err(error) => {
                self.cell.invalidate(Some(generation)).await;
                return Err(Failure::Unreachable(error.to_string()));
            }
        };
        if let Some(Value::ServerError(error)) = replies.first() {
            if needs_new_connection(error.code()) {
                self.cell.invalidate(Some(generation)).await;
            }
            return Err(Failure::Server(server_error_text(error)));
        }
        Ok(replies)
    }

    /// The shared connection, made if there is none, unless an attempt
    /// failed a moment ago.
    async fn conn(&self) -> Result<(u64, mqhost_redis_link::Conn), Failure> {
        if let Some((until, reason)) = &*self.retry_at() {
            if Instant::now() < *until {
                return Err(Failure::Unreachable(reason.clone()));
            }
        }
        match self.cell.get(|| self.config.clone()).await {
            Ok(conn) => Ok(conn),
            Err(error) => {
                let reason = format!("cannot connect to {}: {error}", self.config.target());
                *self.retry_at() = Some((Instant::now() + RETRY_AFTER, reason.clone()));
                Err(Failure::Unreachable(reason))
            }
        }
    }

    fn retry_at(&self) -> std::sync::MutexGuard<'_, Option<(Instant, String)>> {
        self.retry_at.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What the stats say of the link.
    pub(crate) fn describe(&self) -> Json {
        json!({
            "server": self.config.target(),
            "up": !self.health.down.load(Ordering::Relaxed),
            "pool": self.config.pool_size,
        })
    }
}

/// Whether a server error is one the same command survives later (a
/// failover, a loading replica), as opposed to one about the data (a key
/// of the wrong type) or the command.
pub(crate) fn is_outage(failure: &Failure) -> bool {
    match failure {
        Failure::Timeout | Failure::Unreachable(_) => true,
        Failure::Server(text) => is_transient(text.split(' ').next().unwrap_or_default()),
    }
}

fn server_error_text(error: &redis::ServerError) -> String {
    match error.details() {
        Some(details) => format!("{} {details}", error.code()),
        None => error.code().to_owned(),
    }
}

/// Whether Redis answers, to log an outage when it begins and ends.
#[derive(Default)]
struct Health {
    down: AtomicBool,
    /// Lookups that failed since the outage began.
    failed: AtomicU64,
}

impl Health {
    fn failed(&self, host: &Host, link: &LinkConfig, failure: &Failure) {
        if !is_outage(failure) {
            return;
        }
        self.failed.fetch_add(1, Ordering::Relaxed);
        if !self.down.swap(true, Ordering::AcqRel) {
            host.warn(&format!(
                "Redis {}: {failure}; lookups get auth.redis.failed_action's answer until it \
                 answers again",
                link.target()
            ));
        }
    }

    fn answered(&self, host: &Host, link: &LinkConfig) {
        if self.down.load(Ordering::Relaxed) && self.down.swap(false, Ordering::AcqRel) {
            let failed = self.failed.swap(0, Ordering::Relaxed);
            host.info(&format!(
                "Redis {} answers again ({failed} lookups failed meanwhile)",
                link.target()
            ));
        }
    }
}
