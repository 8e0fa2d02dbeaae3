//! The crate's error type: what went wrong, on which hash and key, at which
//! Redis, as one sentence.
//!
//! Paho's persistence callbacks can only report failure as a number to the C
//! library, so [`crate::RedisPersistence`] logs these errors (with the `log`
//! crate, at `warn`) and hands Paho [`paho_mqtt::Error::PersistenceError`].
//! The inherent methods of [`crate::RedisPersistence`] return them as they
//! are.

use std::fmt;

/// An error from the Redis persistence store.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The builder was given something it cannot connect with: a URL that
    /// does not parse, or a scheme this build does not support (`rediss://`).
    Config {
        /// What was wrong, for example `Redis URL did not parse`.
        reason: String,
        /// The URL or address as given.
        input: String,
    },
    /// The store was used before Paho opened it, or after it closed it.
    NotOpen {
        /// The Redis command that was attempted (`HSET`, `HKEYS`, ...).
        command: &'static str,
    },
    /// Redis could not be reached, refused the connection (password,
    /// database), timed out, or failed the command.
    Redis {
        /// The Redis command that failed (`HSET`, `HKEYS`, ...), or
        /// `connect`.
        command: &'static str,
        /// The hash the store works on.
        hash: String,
        /// The field (Paho's key), when the command has one.
        key: Option<String>,
        /// The Redis server, as `host:port` or a socket path.
        server: String,
        /// What the Redis client reported.
        source: redis::RedisError,
    },
    /// Redis has been away so long that the most writes the store may hold
    /// in memory are held ([`max_held_writes`](crate::RedisPersistenceBuilder::max_held_writes)).
    BacklogFull {
        /// The hash the store works on.
        hash: String,
        /// The Redis server, as `host:port` or a socket path.
        server: String,
        /// How many keys have writes held.
        held: usize,
    },
    /// `HGET` found no record under the key.
    Missing {
        /// The hash the store works on.
        hash: String,
        /// The field (Paho's key) that was asked for.
        key: String,
    },
}

impl Error {
    /// Whether Redis could not be reached, or the connection broke or
    /// timed out: the kind of error the next call may not see again,
    /// because the store reconnects.
    pub fn is_connection_error(&self) -> bool {
        match self {
            Error::Redis { source, .. } => is_connection_error(source),
            Error::BacklogFull { .. } => true,
            _ => false,
        }
    }
}

/// Whether a Redis error means the connection is gone or unusable, so the
/// store should drop it and connect afresh next time.
pub(crate) fn is_connection_error(error: &redis::RedisError) -> bool {
    error.is_io_error()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_timeout()
        || error.is_unrecoverable_error()
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config { reason, input } => {
                write!(f, "cannot use Redis address {input:?}: {reason}")
            }
            Error::NotOpen { command } => write!(
                f,
                "{command} on a Redis persistence store that Paho has not opened (or has closed)"
            ),
            Error::Redis {
                command,
                hash,
                key,
                server,
                source,
            } => {
                write!(f, "{command} ")?;
                if let Some(key) = key {
                    write!(f, "of {key:?} ")?;
                }
                write!(f, "on hash {hash:?} at Redis {server} failed: {source}")
            }
            Error::BacklogFull { hash, server, held } => write!(
                f,
                "Redis {server} is unavailable and {held} writes for hash {hash:?} are already \
                 held in memory, the most allowed"
            ),
            Error::Missing { hash, key } => {
                write!(f, "no record {key:?} in Redis hash {hash:?}")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Redis { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<Error> for paho_mqtt::Error {
    /// Every store error is a persistence error to Paho: the C library
    /// sees only "failed".
    fn from(_: Error) -> Self {
        paho_mqtt::Error::PersistenceError
    }
}
