//! [`RedisPersistence`]: Paho's persistence callbacks as commands on one
//! Redis hash, over one connection that is made again after it breaks.

use std::time::Duration;

use paho_mqtt::ClientPersistence;
use redis::{ConnectionInfo, FromRedisValue, RedisResult};

use crate::error::is_connection_error;
use crate::{Error, RedisPersistenceBuilder};

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
/// and tries once more; a call that cannot reach Redis fails with a
/// persistence error, and the next call tries to connect again. No call
/// panics, and none waits longer than the
/// [timeout](RedisPersistenceBuilder::timeout) for any one step.
pub struct RedisPersistence {
    /// Where and how to connect: address, user, password, database.
    info: ConnectionInfo,
    /// Start of the hash name; [`open`](ClientPersistence::open) adds the
    /// client id and server URI.
    prefix: String,
    /// Limit for connecting and for each command.
    timeout: Duration,
    /// The hash of the client Paho opened the store for; `None` before
    /// `open` and after `close`.
    hash: Option<String>,
    /// The connection; `None` until first needed and after an error that
    /// broke it.
    connection: Option<redis::Connection>,
}

impl std::fmt::Debug for RedisPersistence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisPersistence")
            .field("server", &self.server())
            .field("database", &self.info.redis_settings().db())
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("hash", &self.hash)
            .field("connected", &self.connection.is_some())
            .finish()
    }
}

impl RedisPersistence {
    /// A builder for a store: address or socket, password, database, hash
    /// prefix, timeout. `RedisPersistence::builder().build()` is a store on
    /// the Redis at `127.0.0.1:6379`.
    pub fn builder() -> RedisPersistenceBuilder {
        RedisPersistenceBuilder::new()
    }

    pub(crate) fn from_parts(info: ConnectionInfo, prefix: String, timeout: Duration) -> Self {
        RedisPersistence {
            info,
            prefix,
            timeout,
            hash: None,
            connection: None,
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

    /// How many records the store holds (`HLEN`): QoS 1 and 2 messages
    /// not yet acknowledged, and Paho's bookkeeping for them.
    ///
    /// # Errors
    ///
    /// [`Error::NotOpen`] before `open`; [`Error::Redis`] when Redis fails.
    pub fn len(&mut self) -> Result<usize, Error> {
        self.run("HLEN", None, |hash| {
            let mut cmd = redis::cmd("HLEN");
            cmd.arg(hash);
            cmd
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

    /// Whether the store holds a record under `key` (`HEXISTS`).
    ///
    /// # Errors
    ///
    /// [`Error::NotOpen`] before `open`; [`Error::Redis`] when Redis fails.
    pub fn contains(&mut self, key: &str) -> Result<bool, Error> {
        self.run("HEXISTS", Some(key), |hash| {
            let mut cmd = redis::cmd("HEXISTS");
            cmd.arg(hash).arg(key);
            cmd
        })
    }

    /// Runs one command on the open hash. A connection that turns out to
    /// be broken is replaced and the command sent once more: every command
    /// the store sends may be repeated without harm.
    fn run<T: FromRedisValue>(
        &mut self,
        command: &'static str,
        key: Option<&str>,
        make: impl Fn(&str) -> redis::Cmd,
    ) -> Result<T, Error> {
        let Some(hash) = self.hash.clone() else {
            return Err(Error::NotOpen { command });
        };
        let cmd = make(&hash);
        let result = match self.query(&cmd) {
            // A connection made before this call broke (Redis restarted or
            // closed it): connect afresh and try once more. A timeout is
            // not retried, so one call never waits twice.
            (Err(error), false) if is_connection_error(&error) && !error.is_timeout() => {
                self.query(&cmd).0
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

    /// Sends `cmd`, connecting first if needed. Returns the result and
    /// whether the connection was made for this call. Drops the connection
    /// when the error says it is unusable.
    fn query<T: FromRedisValue>(&mut self, cmd: &redis::Cmd) -> (RedisResult<T>, bool) {
        let fresh = self.connection.is_none();
        let result = self.connection().and_then(|conn| cmd.query(conn));
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

    /// Logs a failed call and turns it into what Paho understands.
    fn report<T>(&self, result: Result<T, Error>) -> paho_mqtt::Result<T> {
        result.map_err(|error| {
            log::warn!("paho persistence: {error}");
            error.into()
        })
    }
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
        let result = self.run::<()>("PING", None, |_| redis::cmd("PING"));
        self.report(result)
    }

    /// Drops the connection. The hash stays, so a client created later
    /// finds the messages still in flight.
    fn close(&mut self) -> paho_mqtt::Result<()> {
        self.connection = None;
        self.hash = None;
        Ok(())
    }

    /// `HSET hash key value`, the buffers joined into one value.
    fn put(&mut self, key: &str, buffers: Vec<&[u8]>) -> paho_mqtt::Result<()> {
        let value = buffers.concat();
        let result = self.run::<()>("HSET", Some(key), |hash| {
            let mut cmd = redis::cmd("HSET");
            cmd.arg(hash).arg(key).arg(&value);
            cmd
        });
        self.report(result)
    }

    /// `HGET hash key`; a key with no record is an error, as Paho expects.
    fn get(&mut self, key: &str) -> paho_mqtt::Result<Vec<u8>> {
        let result = self
            .run::<Option<Vec<u8>>>("HGET", Some(key), |hash| {
                let mut cmd = redis::cmd("HGET");
                cmd.arg(hash).arg(key);
                cmd
            })
            .and_then(|value| {
                value.ok_or_else(|| Error::Missing {
                    hash: self.hash.clone().unwrap_or_default(),
                    key: key.to_owned(),
                })
            });
        self.report(result)
    }

    /// `HDEL hash key`. Removing a key with no record succeeds, so a
    /// removal repeated after a lost reply is no error.
    fn remove(&mut self, key: &str) -> paho_mqtt::Result<()> {
        let result = self.run::<()>("HDEL", Some(key), |hash| {
            let mut cmd = redis::cmd("HDEL");
            cmd.arg(hash).arg(key);
            cmd
        });
        self.report(result)
    }

    /// `HKEYS hash`. A field that is not UTF-8 or holds a NUL byte was not
    /// written by Paho and is skipped (with a warning), because Paho's
    /// keys are C strings.
    fn keys(&mut self) -> paho_mqtt::Result<Vec<String>> {
        let result = self
            .run::<Vec<Vec<u8>>>("HKEYS", None, |hash| {
                let mut cmd = redis::cmd("HKEYS");
                cmd.arg(hash);
                cmd
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
        self.report(result)
    }

    /// `DEL hash`.
    fn clear(&mut self) -> paho_mqtt::Result<()> {
        let result = self.run::<()>("DEL", None, |hash| {
            let mut cmd = redis::cmd("DEL");
            cmd.arg(hash);
            cmd
        });
        self.report(result)
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
