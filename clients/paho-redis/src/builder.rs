//! [`RedisPersistenceBuilder`]: where the Redis server is, how to log in,
//! which database, how the hash is named, and how long to wait.
//!
//! Nothing here touches the network: the store connects when Paho opens it.

use std::path::PathBuf;
use std::time::Duration;

use redis::{ConnectionAddr, IntoConnectionInfo};

use crate::{Error, RedisPersistence};

/// The hash name prefix used unless [`RedisPersistenceBuilder::prefix`]
/// sets another.
pub const DEFAULT_PREFIX: &str = "paho:";

/// How long connecting, and each command, may take unless
/// [`RedisPersistenceBuilder::timeout`] says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// How many keys' writes a store holds in memory while Redis is away,
/// unless [`RedisPersistenceBuilder::max_held_writes`] says otherwise.
pub const DEFAULT_MAX_HELD_WRITES: usize = 10_000;

/// Where the Redis server is, as the caller last said.
#[derive(Clone, Debug)]
enum Address {
    /// A `redis://` or `redis+unix://` URL, parsed by [`build`](RedisPersistenceBuilder::build).
    Url(String),
    /// A host and port.
    Tcp(String, u16),
    /// The path of a UNIX domain socket.
    Unix(PathBuf),
}

/// Configures a [`RedisPersistence`]; made by [`RedisPersistence::builder`].
///
/// The address is whichever of [`url`](Self::url), [`tcp`](Self::tcp) and
/// [`unix_socket`](Self::unix_socket) was called last (default:
/// `127.0.0.1:6379`). [`username`](Self::username),
/// [`password`](Self::password) and [`database`](Self::database) override
/// what a URL says, whatever the order of the calls.
///
/// ```
/// use mqhost_paho_redis::RedisPersistence;
/// use std::time::Duration;
///
/// let store = RedisPersistence::builder()
///     .unix_socket("/run/redis/redis-server.sock")
///     .password("s3cret")
///     .database(2)
///     .prefix("gateway:")
///     .timeout(Duration::from_millis(500))
///     .build()
///     .expect("a valid configuration");
/// # drop(store);
/// ```
#[derive(Clone)]
pub struct RedisPersistenceBuilder {
    /// Where to connect.
    address: Address,
    /// ACL user name, if the server wants one (Redis 6 and later).
    username: Option<String>,
    /// Password for `AUTH`, if the server wants one.
    password: Option<String>,
    /// Database number for `SELECT`.
    database: Option<i64>,
    /// Start of every hash name.
    prefix: String,
    /// Limit for connecting and for each command.
    timeout: Duration,
    /// Most keys whose writes are held in memory while Redis is away.
    max_held_writes: usize,
}

impl Default for RedisPersistenceBuilder {
    fn default() -> Self {
        RedisPersistenceBuilder {
            address: Address::Tcp("127.0.0.1".into(), 6379),
            username: None,
            password: None,
            database: None,
            prefix: DEFAULT_PREFIX.into(),
            timeout: DEFAULT_TIMEOUT,
            max_held_writes: DEFAULT_MAX_HELD_WRITES,
        }
    }
}

impl std::fmt::Debug for RedisPersistenceBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisPersistenceBuilder")
            .field("address", &self.address)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("database", &self.database)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("max_held_writes", &self.max_held_writes)
            .finish()
    }
}

impl RedisPersistenceBuilder {
    /// A builder with the defaults: `127.0.0.1:6379`, no password,
    /// database 0, prefix [`DEFAULT_PREFIX`], timeout [`DEFAULT_TIMEOUT`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Connects to the server a Redis URL names, with the password, user
    /// and database it carries:
    ///
    /// - `redis://[[user]:password@]host[:port][/database]`
    /// - `redis+unix:///path/to/redis.sock[?db=N][&user=U][&pass=P]`
    ///   (also `unix:///path...`)
    ///
    /// The URL is checked by [`build`](Self::build). `rediss://` (TLS) is
    /// refused: a store on the same device has no use for it.
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.address = Address::Url(url.into());
        self
    }

    /// Connects by TCP to `host:port`.
    pub fn tcp(mut self, host: impl Into<String>, port: u16) -> Self {
        self.address = Address::Tcp(host.into(), port);
        self
    }

    /// Connects through the UNIX domain socket at `path` (Redis's
    /// `unixsocket` setting): the recommended set-up for a Redis on the
    /// same device.
    pub fn unix_socket(mut self, path: impl Into<PathBuf>) -> Self {
        self.address = Address::Unix(path.into());
        self
    }

    /// Logs in as this ACL user (Redis 6 and later); needs a
    /// [`password`](Self::password).
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// Authenticates with this password (`AUTH`, Redis's `requirepass`).
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// Uses this database number (`SELECT`); 0 unless set here or in the
    /// URL.
    pub fn database(mut self, database: i64) -> Self {
        self.database = Some(database);
        self
    }

    /// Starts every hash name with `prefix` instead of [`DEFAULT_PREFIX`].
    /// The hash of a client is `{prefix}{client_id}:{server_uri}`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Gives up on connecting, and on each command, after `timeout`
    /// (default [`DEFAULT_TIMEOUT`]). Paho calls the store with its own
    /// lock held, so a Redis that hangs stalls the client for at most this
    /// long per call. A zero duration is taken as the default.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Holds the writes of at most `keys` keys in memory while Redis cannot
    /// take them (default [`DEFAULT_MAX_HELD_WRITES`]); they go to Redis
    /// when it answers again. Past that, writes fail. 0 makes every write
    /// Redis cannot take fail at once.
    ///
    /// Held writes exist only in the client's memory: if the client dies
    /// before Redis is back, they are lost. And a Redis that restarts
    /// without its own persistence (RDB, AOF) comes back empty; the client
    /// carries on with the messages in its memory, but a crash before they
    /// are acknowledged loses them.
    ///
    /// Failing is not the safer choice with paho-mqtt 0.14: when a publish
    /// cannot be persisted, the C library keeps the message queued but
    /// reports failure, and the Rust side frees what the C library still
    /// refers to, which corrupts the client's memory.
    pub fn max_held_writes(mut self, keys: usize) -> Self {
        self.max_held_writes = keys;
        self
    }

    /// Checks the configuration and makes the store. Does not connect:
    /// Paho opens the store when the client is created.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the URL does not parse or asks for TLS.
    pub fn build(&self) -> Result<RedisPersistence, Error> {
        let (info, input) = match &self.address {
            Address::Url(url) => (url.as_str().into_connection_info(), url.clone()),
            Address::Tcp(host, port) => (
                ConnectionAddr::Tcp(host.clone(), *port).into_connection_info(),
                format!("{host}:{port}"),
            ),
            Address::Unix(path) => (
                ConnectionAddr::Unix(path.clone()).into_connection_info(),
                path.display().to_string(),
            ),
        };
        let info = info.map_err(|e| Error::Config {
            reason: e.to_string(),
            input: input.clone(),
        })?;
        if !info.addr().is_supported() || matches!(info.addr(), ConnectionAddr::TcpTls { .. }) {
            return Err(Error::Config {
                reason: "TLS to Redis is not supported; use a local Redis by TCP or UNIX socket"
                    .into(),
                input,
            });
        }
        let mut redis = info.redis_settings().clone();
        if let Some(username) = &self.username {
            redis = redis.set_username(username);
        }
        if let Some(password) = &self.password {
            redis = redis.set_password(password);
        }
        if let Some(database) = self.database {
            redis = redis.set_db(database);
        }
        let timeout = if self.timeout.is_zero() {
            DEFAULT_TIMEOUT
        } else {
            self.timeout
        };
        Ok(RedisPersistence::from_parts(
            info.set_redis_settings(redis),
            self.prefix.clone(),
            timeout,
            self.max_held_writes,
        ))
    }
}
