//! A Redis persistence store for the [Eclipse Paho MQTT Rust
//! client](https://github.com/eclipse-paho/paho.mqtt.rust) (`paho-mqtt`).
//!
//! # Why Redis
//!
//! Paho keeps QoS 1 and QoS 2 messages in a persistence store while they
//! are in transit, so that a client that crashes sends them again after it
//! restarts. Out of the box that store is a directory of files. On a
//! flash-based device, an IoT gateway say, a write per message wears the
//! flash out early. A Redis running on the same device keeps the messages
//! in RAM, outside the client's process: the client may crash and restart,
//! and what it had in flight is still there.
//!
//! Paho lets an application register its own store: anything that
//! implements [`paho_mqtt::ClientPersistence`]. Its callbacks are the
//! operations of a key/value store, and map nearly one to one onto Redis
//! hash commands. [`RedisPersistence`] keeps each client's records in one
//! hash:
//!
//! | Paho callback    | Redis                                   |
//! |------------------|-----------------------------------------|
//! | `open()`         | connect (and `PING`), name the hash     |
//! | `close()`        | disconnect                              |
//! | `put()`          | `HSET hash key value`                   |
//! | `get()`          | `HGET hash key`                         |
//! | `remove()`       | `HDEL hash key`                         |
//! | `keys()`         | `HKEYS hash`                            |
//! | `clear()`        | `DEL hash`                              |
//! | `contains_key()` | `HEXISTS hash key`                      |
//!
//! # Use it locally
//!
//! Redis as an MQTT persistence store makes sense in production on a device
//! or gateway when the Redis server runs **on the same device**, reached by
//! `localhost` or, better, a UNIX domain socket (Redis's `unixsocket`
//! setting). A remote Redis does not: the store must be there exactly when
//! the network to the broker is not, and every message would cross the
//! network twice more.
//!
//! ```no_run
//! use mqhost_paho_redis::RedisPersistence;
//! use paho_mqtt as mqtt;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = RedisPersistence::builder()
//!     .unix_socket("/run/redis/redis-server.sock")
//!     .build()?;
//! let client = mqtt::AsyncClient::new(
//!     // new_v3(): created for the version it connects with (see below).
//!     mqtt::CreateOptionsBuilder::new_v3()
//!         .server_uri("tcp://broker.local:1883")
//!         // Persistence needs a client id: it names the store.
//!         .client_id("gateway-7")
//!         .user_persistence(store)
//!         .finalize(),
//! )?;
//! // Keep the session (clean session off) so the broker and the store
//! // agree on what is in flight after a restart.
//! let options = mqtt::ConnectOptionsBuilder::new_v3()
//!     .clean_session(false)
//!     .finalize();
//! client.connect(options).wait()?;
//! client
//!     .publish(mqtt::Message::new("gateway/readings", "21.5", mqtt::QOS_2))
//!     .wait()?;
//! # Ok(())
//! # }
//! ```
//!
//! `examples/redis_persist_pub.rs` is a runnable publisher, with a way to
//! crash it on purpose and watch the next run send what was in flight.
//!
//! # The hash
//!
//! Paho opens the store with the client id and the server URI; the hash is
//! named `{prefix}{client_id}:{server_uri}`, the prefix `paho:` unless
//! [`RedisPersistenceBuilder::prefix`] sets another. Paho strips the scheme
//! from the URI first, so a client `gateway-7` of `tcp://broker.local:1883`
//! keeps its records in `paho:gateway-7:broker.local:1883`. A restarted
//! client must use the same client id and server URI to find them. The
//! fields are Paho's keys (`s-12` for a sent PUBLISH with packet id 12,
//! `sc-12` once its PUBREL is sent, `c-3` for a command queued before it
//! was sent, ...), the values Paho's serialized packets.
//!
//! # When Redis is away
//!
//! Nothing panics. Every error is logged with the `log` crate (`warn`,
//! naming the command, hash, key and server) and reaches Paho as
//! [`paho_mqtt::Error::PersistenceError`], which is all the C library can
//! take. What fails depends on when:
//!
//! - **Client creation** opens the store and reads it back; a Redis that
//!   cannot be reached then fails the creation, and the application may
//!   try again.
//! - **While the client runs**, Paho writes (`put`, `remove`) for every
//!   QoS 1 and 2 message, and reads a queued publish back (`get`) just
//!   before it sends it. A write Redis cannot take is held in memory,
//!   newest per key, and the call succeeds; a read of a held key is
//!   answered from memory. The held writes go to Redis in one transaction
//!   when it answers again: tried by the next write at least
//!   [`RETRY_INTERVAL`] (one second) after the last failure, by any other
//!   read, and at `close`. So a Redis that restarts, or is killed and
//!   restarted by its supervisor, costs the client nothing but the
//!   durability of those writes while it is away. At most
//!   [`max_held_writes`](RedisPersistenceBuilder::max_held_writes) keys
//!   are held (10 000 by default); past that writes fail, and
//!   `max_held_writes(0)` makes every write fail at once.
//! - A broken connection (Redis restarted between two calls) is replaced
//!   and the command sent again within the same call; every command the
//!   store sends may be repeated without harm.
//!
//! Failing a write is not the safer choice with paho-mqtt 0.14: when a
//! publish cannot be persisted, the C library keeps the message queued but
//! reports failure, and the Rust side frees what the C library still
//! refers to; the client's memory is corrupted (glibc aborts it later).
//! That is why writes are held rather than failed by default.
//!
//! Connecting and each command give up after the
//! [timeout](RedisPersistenceBuilder::timeout) (one second by default),
//! because Paho holds its own lock while it calls the store; after a
//! failure, writes skip Redis for [`RETRY_INTERVAL`], so a Redis that
//! hangs costs at most one timeout per interval.
//!
//! Redis itself keeps the data only in RAM unless told otherwise: messages
//! survive a crash of the client, not a reboot of the device, nor a restart
//! of Redis (after which the client carries on with what it has in its own
//! memory). That is the trade the flash-wear argument makes; configure
//! Redis's own persistence (RDB, AOF) if those must not lose them either.
//!
//! # The MQTT version
//!
//! Create the client for the MQTT version it connects with:
//! `CreateOptionsBuilder::new_v3()` for 3.1.1, `new()` for 5.0. Paho
//! encodes the messages it restores from the store for the version given at
//! creation; `CreateOptionsBuilder::new()` says 5.0, and its encoding sent
//! on a 3.1.1 connection puts a stray zero byte at the front of every
//! resent payload.
//!
//! # Paho's `contains_key`
//!
//! The Paho C library reads 0 from `contains_key` as "present", but
//! paho-mqtt's bridge hands it the Rust `bool` as 1 for `true`. With an
//! honest answer, a QoS 2 message restored after a crash gets a PUBREL
//! instead of its PUBLISH and is lost. The store therefore answers the
//! trait's `contains_key` inverted, which the bridge turns into what C
//! expects; [`RedisPersistence::contains`] gives the plain answer. A test
//! holds this to the bridge's behaviour, so a paho-mqtt release that fixes
//! the bridge fails the tests instead of losing messages.
//!
//! # Features
//!
//! - `bundled` (default): builds the Paho C library from source, which needs
//!   `cmake` and a C compiler (Debian: `apt-get install cmake gcc`).
//! - `ssl`: TLS to the MQTT broker; also needs the OpenSSL headers
//!   (`libssl-dev`). Not needed for the store, which speaks plain Redis to
//!   a local server.
//!
//! # Layout
//!
//! - [`RedisPersistenceBuilder`] (`builder.rs`): address, credentials,
//!   database, hash prefix, timeout; never touches the network.
//! - [`RedisPersistence`] (`persistence.rs`): the store, its connection,
//!   the backlog of writes held through an outage, and the
//!   `ClientPersistence` callbacks.
//! - [`Error`] (`error.rs`): what failed, where, as one sentence.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod builder;
mod error;
mod persistence;

pub use builder::{
    RedisPersistenceBuilder, DEFAULT_MAX_HELD_WRITES, DEFAULT_PREFIX, DEFAULT_TIMEOUT,
};
pub use error::Error;
pub use persistence::{RedisPersistence, RETRY_INTERVAL};
