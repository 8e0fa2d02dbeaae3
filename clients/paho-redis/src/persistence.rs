//! [`RedisPersistence`]: Paho's persistence callbacks as commands on one
//! Redis hash, over one connection that is made again after it breaks, with
//! a bounded backlog of writes that carries the client through a Redis
//! outage.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use paho_mqtt::ClientPersistence;
use redis::{ConnectionInfo, RedisResult};

use crate::error::is_connection_error;
use crate::{Error, RedisPersistenceBuilder};

/// How long after a failure the store waits before it tries Redis again
/// for writes; meanwhile writes go straight to the backlog, so a Redis
/// that hangs costs at most one timeout per interval.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// A Paho persistence store in one Redis hash.
///
/// Register it with a client through
/// [`paho_mqtt::CreateOptionsBuilder::user_persistence`]; Paho then keeps
/// every QoS 1 and 2 message in it until the broker has acknowledged it, and
/// a client created later with the same client id and server URI sends
/// again what the store still holds.
///
/// One store serves one client: Paho opens it with the client id and the
/// server URI, and every record of that client lives in the hash
/// `{prefix}{client_id}:{server_uri}` (see the [crate docs](crate)).
///
/// The store holds one connection, made when Paho opens the store. A call
/// that finds the connection broken (Redis restarted, say) makes a new one
/// and sends its command once more. When Redis cannot take a write
/// (`put`, `remove`, `clear`), the write is held in memory, newest per key,
/// and the call succeeds; the held writes go to Redis in one transaction
/// as soon as it answers again (tried by the next call at least
/// [`RETRY_INTERVAL`] after the last failure, by any read, and at
/// `close`). At most [`max_held_writes`](RedisPersistenceBuilder::max_held_writes)
/// keys are held; past that, writes fail. A `get` of a held key is
/// answered from memory (Paho reads a queued publish back just before it
/// sends it); other reads (`get`, `keys`, `contains_key`,
/// [`len`](Self::len)), which Paho makes when it creates a client, fail
/// while Redis is away. No call panics, and none waits longer than the
/// [timeout](RedisPersistenceBuilder::timeout) for any one step.
pub struct RedisPersistence {
    /// Where and how to connect: address, user, password, database.
    info: ConnectionInfo,
    /// Start of the hash name; [`open`](ClientPersistence::open) adds the
    /// client id and server URI.
    prefix: String,
    /// Limit for connecting and for each command.
    timeout: Duration,
    /// Most keys the backlog may hold; 0 makes every failed write an error.
    max_held: usize,
    /// The hash of the client Paho opened the store for; `None` before
    /// `open` and after `close`.
    hash: Option<String>,
    /// The connection; `None` until first needed and after an error that
    /// broke it.
    connection: Option<redis::Connection>,
    /// Writes Redis has not taken yet.
    backlog: Backlog,
}

/// Writes that Redis could not take when they were made, kept until it
/// answers again.
#[derive(Default)]
struct Backlog {
    /// The hash was deleted after the last write Redis took.
    cleared: bool,
    /// Per key, the newest write: the value to set, or `None` to delete.
    writes: BTreeMap<String, Option<Vec<u8>>>,
    /// When Redis last failed the store; writes wait for
    /// [`RETRY_INTERVAL`] after it before they try Redis again.
    failed_at: Option<Instant>,
}

impl Backlog {
    fn is_empty(&self) -> bool {
        !self.cleared && self.writes.is_empty()
    }

    fn retry_due(&self, now: Instant) -> bool {
        self.failed_at
            .is_none_or(|at| now.duration_since(at) >= RETRY_INTERVAL)
    }
}

impl std::fmt::Debug for RedisPersistence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisPersistence")
            .field("server", &self.server())
            .field("database", &self.info.redis_settings().db())
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("max_held_writes", &self.max_held)
            .field("hash", &self.hash)
            .field("connected", &self.connection.is_some())
            .field("held_writes", &self.backlog.writes.len())
            .finish()
    }
}

impl RedisPersistence {
    /// A builder for a store: address or socket, password, database, hash
    /// prefix, timeout, backlog. `RedisPersistence::builder().build()` is a
    /// store on the Redis at `127.0.0.1:6379`.
    pub fn builder() -> RedisPersistenceBuilder {
        RedisPersistenceBuilder::new()
    }

    pub(crate) fn from_parts(
        info: ConnectionInfo,
        prefix: String,
        timeout: Duration,
        max_held: usize,
    ) -> Self {
        RedisPersistence {
            info,
            prefix,
            timeout,
            max_held,
            hash: None,
            connection: None,
            backlog: Backlog::default(),
        }
    }

    /// The hash name for a client: `{prefix}{client_id}:{server_uri}`,
    /// with any `scheme://` removed from the front of `server_uri` as Paho
    /// removes it before it opens the store. So `tcp://127.0.0.1:1883`
    /// and `127.0.0.1:1883` name the same hash.
    pub fn hash_name_for(&self, client_id: &str, server_uri: &str) -> String {
        let address = server_uri
            .split_once("://")
            .map_or(server_uri, |(_, rest)| rest);
        format!("{}{client_id}:{address}", self.prefix)
    }

    /// The hash the store works on, once Paho (or the caller) has opened
    /// it.
    pub fn hash_name(&self) -> Option<&str> {
        self.hash.as_deref()
    }

    /// The Redis server, as `host:port` or a socket path.
    pub fn server(&self) -> String {
        self.info.addr().to_string()
    }

    /// How many keys have writes held in memory because Redis could not
    /// take them (0 while Redis is well).
    pub fn held_writes(&self) -> usize {
        self.backlog.writes.len()
    }

    /// How many records the store holds (`HLEN`): QoS 1 and 2 messages
    /// not yet acknowledged, and Paho's bookkeeping for them. Writes held
    /// in memory are sent first.
    ///
    /// # Errors
    ///
    /// [`Error::NotOpen`] before `open`; [`Error::Redis`] when Redis fails.
    pub fn len(&mut self) -> Result<usize, Error> {
        self.read("HLEN", None, |conn, hash| {
            redis::cmd("HLEN").arg(hash).query(conn)
        })
    }

    /// Whether the store holds no records: everything Paho sent has been
    /// acknowledged.
    ///
    /// # Errors
    ///
    /// As for [`len`](Self::len).
    pub fn is_empty(&mut self) -> Result<bool, Error> {
        self.len().map(|n| n == 0)
    }

    /// Whether the store holds a record under `key` (`HEXISTS`). Writes
    /// held in memory are sent first.
    ///
    /// # Errors
    ///
    /// [`Error::NotOpen`] before `open`; [`Error::Redis`] when Redis fails.
    pub fn contains(&mut self, key: &str) -> Result<bool, Error> {
        self.read("HEXISTS", Some(key), |conn, hash| {
            redis::cmd("HEXISTS").arg(hash).arg(key).query(conn)
        })
    }

    /// Sends the held writes to Redis now, in one transaction. Does
    /// nothing when none are held.
    ///
    /// # Errors
    ///
    /// [`Error::NotOpen`] before `open`; [`Error::Redis`] when Redis fails
    /// (the writes stay held).
    pub fn flush(&mut self) -> Result<(), Error> {
        if self.backlog.is_empty() {
            return Ok(());
        }
        let cleared = self.backlog.cleared;
        let writes = std::mem::take(&mut self.backlog.writes);
        let result = self.run("MULTI", None, |conn, hash| {
            let mut pipe = redis::pipe();
            pipe.atomic();
            if cleared {
                pipe.cmd("DEL").arg(hash).ignore();
            }
            for (key, value) in &writes {
                match value {
                    Some(value) => pipe.cmd("HSET").arg(hash).arg(key).arg(value).ignore(),
                    None => pipe.cmd("HDEL").arg(hash).arg(key).ignore(),
                };
            }
            pipe.query::<()>(conn)
        });
        match result {
            Ok(()) => {
                log::info!(
                    "paho persistence: Redis {} answers again; wrote {} held records to hash {:?}",
                    self.server(),
                    writes.len(),
                    self.hash.as_deref().unwrap_or_default()
                );
                self.backlog = Backlog::default();
                Ok(())
            }
            Err(error) => {
                self.backlog.writes = writes;
                self.backlog.failed_at = Some(Instant::now());
                Err(error)
            }
        }
    }

    /// A read: sends held writes first, so Redis answers for everything
    /// Paho wrote.
    fn read<T>(
        &mut self,
        command: &'static str,
        key: Option<&str>,
        exec: impl Fn(&mut redis::Connection, &str) -> RedisResult<T>,
    ) -> Result<T, Error> {
        self.flush()?;
        self.run(command, key, exec)
    }

    /// A write (`HSET`, `HDEL`): straight to Redis while it is well;
    /// otherwise held in memory, newest per key, while there is room.
    fn write(
        &mut self,
        command: &'static str,
        key: &str,
        value: Option<Vec<u8>>,
    ) -> Result<(), Error> {
        if self.hash.is_none() {
            return Err(Error::NotOpen { command });
        }
        if self.backlog.is_empty() {
            let result = self.run(command, Some(key), |conn, hash| match &value {
                Some(value) => redis::cmd("HSET").arg(hash).arg(key).arg(value).query(conn),
                None => redis::cmd("HDEL").arg(hash).arg(key).query(conn),
            });
            match result {
                Err(error) if self.max_held > 0 => {
                    log::warn!(
                        "paho persistence: {error}; holding writes in memory until Redis answers"
                    );
                    self.backlog.failed_at = Some(Instant::now());
                }
                other => return other,
            }
        }
        if self.backlog.writes.len() >= self.max_held && !self.backlog.writes.contains_key(key) {
            return Err(Error::BacklogFull {
                hash: self.hash.clone().unwrap_or_default(),
                server: self.server(),
                held: self.backlog.writes.len(),
            });
        }
        self.backlog.writes.insert(key.to_owned(), value);
        if self.backlog.retry_due(Instant::now()) {
            // Still failing is no news: the write is held either way.
            let _ = self.flush();
        }
        Ok(())
    }

    /// Runs `exec` on the open hash. A connection that turns out to be
    /// broken is replaced and `exec` run once more: every command the
    /// store sends may be repeated without harm.
    fn run<T>(
        &mut self,
        command: &'static str,
        key: Option<&str>,
        exec: impl Fn(&mut redis::Connection, &str) -> RedisResult<T>,
    ) -> Result<T, Error> {
        let Some(hash) = self.hash.clone() else {
            return Err(Error::NotOpen { command });
        };
        let result = match self.attempt(&hash, &exec) {
            // A connection made before this call broke (Redis restarted or
            // closed it): connect afresh and try once more. A timeout is
            // not retried, so one call never waits twice.
            (Err(error), false) if is_connection_error(&error) && !error.is_timeout() => {
                self.attempt(&hash, &exec).0
            }
            (result, _) => result,
        };
        result.map_err(|source| Error::Redis {
            command,
            hash,
            key: key.map(str::to_owned),
            server: self.server(),
            source,
        })
    }

    /// Runs `exec`, connecting first if needed. Returns the result and
    /// whether the connection was made for this call. Drops the connection
    /// when the error says it is unusable.
    fn attempt<T>(
        &mut self,
        hash: &str,
        exec: &impl Fn(&mut redis::Connection, &str) -> RedisResult<T>,
    ) -> (RedisResult<T>, bool) {
        let fresh = self.connection.is_none();
        let result = self.connection().and_then(|conn| exec(conn, hash));
        if let Err(error) = &result {
            if is_connection_error(error) {
                self.connection = None;
            }
        }
        (result, fresh)
    }

    /// The connection, made now if there is none.
    fn connection(&mut self) -> RedisResult<&mut redis::Connection> {
        let conn = match self.connection.take() {
            Some(conn) => conn,
            None => {
                let conn = redis::Client::open(self.info.clone())?
                    .get_connection_with_timeout(self.timeout)?;
                conn.set_read_timeout(Some(self.timeout))?;
                conn.set_write_timeout(Some(self.timeout))?;
                conn
            }
        };
        Ok(self.connection.insert(conn))
    }
}

/// Logs a failed call and turns it into what Paho understands.
fn report<T>(result: Result<T, Error>) -> paho_mqtt::Result<T> {
    result.map_err(|error| {
        log::warn!("paho persistence: {error}");
        error.into()
    })
}

/// What the store must answer to `contains_key` so that the Paho C library
/// understands `present`.
///
/// The C library's `Persistence_containskey` returns 0 when the key is
/// present and an error code when it is not. paho-mqtt's bridge
/// (`UserPersistence::on_contains_key`, 0.14 and all releases before it)
/// passes the Rust `bool` through as 1 for `true` and 0 for `false`, so an
/// honest answer reaches C inverted. The C library asks only while it
/// restores messages at client creation: for each sent PUBLISH, "was its
/// PUBREL sent?". Inverted, a QoS 2 message whose PUBLISH was never
/// acknowledged gets a PUBREL instead of its PUBLISH and is lost, and one
/// whose PUBREL was sent is published again. So the store answers the
/// negation, which the bridge turns into what C expects. The test
/// `bridge_reports_presence_to_paho_c_as_zero` holds this to the bridge's
/// actual behaviour and fails if a paho-mqtt release changes it.
fn answer_for_paho(present: bool) -> bool {
    !present
}

impl ClientPersistence for RedisPersistence {
    /// Names the hash after the client and connects to Redis (`PING`), so
    /// a Redis that cannot be reached fails the client's creation.
    fn open(&mut self, client_id: &str, server_uri: &str) -> paho_mqtt::Result<()> {
        self.hash = Some(self.hash_name_for(client_id, server_uri));
        self.connection = None;
        self.backlog = Backlog::default();
        report(self.run::<()>("PING", None, |conn, _| redis::cmd("PING").query(conn)))
    }

    /// Sends any held writes, then drops the connection. The hash stays,
    /// so a client created later finds the messages still in flight.
    fn close(&mut self) -> paho_mqtt::Result<()> {
        let held = self.backlog.writes.len();
        let result = self.flush();
        self.connection = None;
        self.hash = None;
        self.backlog = Backlog::default();
        result.map_err(|error| {
            log::error!("paho persistence: {error}; {held} held writes are lost");
            error.into()
        })
    }

    /// `HSET hash key value`, the buffers joined into one value; held in
    /// memory while Redis cannot take it.
    fn put(&mut self, key: &str, buffers: Vec<&[u8]>) -> paho_mqtt::Result<()> {
        report(self.write("HSET", key, Some(buffers.concat())))
    }

    /// `HGET hash key`; a key with no record is an error, as Paho expects.
    /// A key with a write held in memory is answered from it: Paho reads a
    /// queued publish back from the store just before it sends it, so
    /// this read is on the publishing path.
    fn get(&mut self, key: &str) -> paho_mqtt::Result<Vec<u8>> {
        let missing = |hash: &Option<String>| Error::Missing {
            hash: hash.clone().unwrap_or_default(),
            key: key.to_owned(),
        };
        if self.hash.is_some() {
            if let Some(held) = self.backlog.writes.get(key) {
                return report(held.clone().ok_or_else(|| missing(&self.hash)));
            }
            if self.backlog.cleared {
                return report(Err(missing(&self.hash)));
            }
        }
        let result = self
            .run("HGET", Some(key), |conn, hash| {
                redis::cmd("HGET")
                    .arg(hash)
                    .arg(key)
                    .query::<Option<Vec<u8>>>(conn)
            })
            .and_then(|value| value.ok_or_else(|| missing(&self.hash)));
        report(result)
    }

    /// `HDEL hash key`; held in memory while Redis cannot take it.
    /// Removing a key with no record succeeds, so a removal repeated after
    /// a lost reply is no error.
    fn remove(&mut self, key: &str) -> paho_mqtt::Result<()> {
        report(self.write("HDEL", key, None))
    }

    /// `HKEYS hash`. A field that is not UTF-8 or holds a NUL byte was not
    /// written by Paho and is skipped (with a warning), because Paho's
    /// keys are C strings.
    fn keys(&mut self) -> paho_mqtt::Result<Vec<String>> {
        let result = self
            .read("HKEYS", None, |conn, hash| {
                redis::cmd("HKEYS").arg(hash).query::<Vec<Vec<u8>>>(conn)
            })
            .map(|fields| {
                fields
                    .into_iter()
                    .filter_map(|field| match String::from_utf8(field) {
                        Ok(key) if !key.contains('\0') => Some(key),
                        Ok(key) => {
                            log::warn!("paho persistence: skipping field {key:?}: it holds NUL");
                            None
                        }
                        Err(e) => {
                            log::warn!(
                                "paho persistence: skipping field {:?}: not UTF-8",
                                String::from_utf8_lossy(e.as_bytes())
                            );
                            None
                        }
                    })
                    .collect()
            });
        report(result)
    }

    /// `DEL hash`; held in memory while Redis cannot take it.
    fn clear(&mut self) -> paho_mqtt::Result<()> {
        if self.hash.is_none() {
            return report(Err(Error::NotOpen { command: "DEL" }));
        }
        self.backlog.writes.clear();
        self.backlog.cleared = true;
        if self.backlog.retry_due(Instant::now()) {
            if let Err(error) = self.flush() {
                if self.max_held == 0 {
                    self.backlog = Backlog::default();
                    return report(Err(error));
                }
                log::warn!(
                    "paho persistence: {error}; holding writes in memory until Redis answers"
                );
            }
        }
        Ok(())
    }

    /// `HEXISTS hash key`, answered the way paho-mqtt's bridge needs so
    /// that the C library reads it right: **`false` when the key is
    /// present**, `true` when it is absent or Redis fails (C then takes
    /// the key as absent). Call [`RedisPersistence::contains`] for the
    /// plain answer. See "Paho's `contains_key`" in the crate docs.
    fn contains_key(&mut self, key: &str) -> bool {
        let present = match self.contains(key) {
            Ok(present) => present,
            Err(error) => {
                log::warn!("paho persistence: {error}");
                false
            }
        };
        answer_for_paho(present)
    }
}
