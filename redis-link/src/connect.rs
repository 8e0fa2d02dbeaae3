//! Connections of each pool type, behind one [`Conn`] type: a multiplexed
//! connection to one server (single, or the master a sentinel names) or a
//! cluster connection that routes by key; and a pub/sub connection.
//!
//! Connecting is bounded ([`CONNECT_TIMEOUT`]); answering is not: a slow
//! server that keeps its connection open is waited for, and a dead one
//! closes the socket or refuses the next connection. A caller that wants
//! an answer within a time wraps its request in `tokio::time::timeout`.

use std::time::Duration;

use redis::aio::{MultiplexedConnection, PubSub};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClientBuilder, SentinelServerType};
use redis::{
    AsyncConnectionConfig, Client, ClientTlsConfig, ConnectionAddr, ConnectionInfo, ErrorKind,
    IntoConnectionInfo, RedisConnectionInfo, RedisError, RedisResult, TlsCertificates, TlsMode,
};

use crate::server::Server;
use crate::settings::{LinkConfig, PoolKind};

/// How long one connection attempt may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// A connection to a pool's Redis, of any type. Cheap to clone: clones
/// share the connection.
#[derive(Clone)]
pub enum Conn {
    /// One server (single, or the master a sentinel named).
    Single(MultiplexedConnection),
    /// A Redis Cluster.
    Cluster(ClusterConnection),
}

/// What a connection reached, for log lines.
pub type Peer = String;

/// The handshake settings of a link (database, user, password).
fn redis_info(link: &LinkConfig) -> RedisConnectionInfo {
    let mut info = RedisConnectionInfo::default()
        .set_db(i64::from(link.database))
        // CLIENT SETINFO is answered with an error before Redis 7.2;
        // leaving it out keeps older servers' logs clean.
        .set_skip_set_lib_name();
    if let Some(username) = &link.username {
        info = info.set_username(username);
    }
    if let Some(password) = &link.password {
        info = info.set_password(&password.0);
    }
    info
}

/// The address of `host:port` for this link: TLS when `ssl` is on, with
/// the host name verified against the certificate.
fn address(link: &LinkConfig, host: &str, port: u16) -> ConnectionAddr {
    if link.ssl {
        ConnectionAddr::TcpTls {
            host: host.to_owned(),
            port,
            insecure: false,
            tls_params: None,
        }
    } else {
        ConnectionAddr::Tcp(host.to_owned(), port)
    }
}

/// Where to connect for one server of the link.
fn connection_info(link: &LinkConfig, server: &Server) -> RedisResult<ConnectionInfo> {
    let addr = address(link, &server.host, server.port_or(link.kind));
    Ok(addr
        .into_connection_info()?
        .set_redis_settings(redis_info(link)))
}

/// The link's TLS files, read now (so that renewed certificates are used
/// at the next connection): the CA to trust instead of the system's, and
/// the client certificate for servers that ask for one.
fn tls_certificates(link: &LinkConfig) -> RedisResult<TlsCertificates> {
    let read = |path: &str| {
        std::fs::read(path).map_err(|e| {
            RedisError::from((
                ErrorKind::InvalidClientConfig,
                "cannot read a TLS file",
                format!("{path}: {e}"),
            ))
        })
    };
    let root_cert = link.tls.cafile.as_deref().map(read).transpose()?;
    let client_tls = match (&link.tls.certfile, &link.tls.keyfile) {
        (Some(cert), Some(key)) => Some(ClientTlsConfig {
            client_cert: read(cert)?,
            client_key: read(key)?,
        }),
        _ => None,
    };
    Ok(TlsCertificates {
        client_tls,
        root_cert,
    })
}

/// A client for one server, with the link's TLS settings.
fn client_for(link: &LinkConfig, info: ConnectionInfo) -> RedisResult<Client> {
    if link.ssl {
        Client::build_with_tls(info, tls_certificates(link)?)
    } else {
        Client::open(info)
    }
}

fn async_config() -> AsyncConnectionConfig {
    AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(None)
}

/// `host:port` of a client, for logs.
fn describe(client: &Client) -> Peer {
    match client.get_connection_info().addr() {
        ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
            format!("{host}:{port}")
        }
        other => other.to_string(),
    }
}

/// The client of the server to use now: the single server, or the master
/// the sentinels name (asked afresh on every connection, so a failover is
/// followed).
async fn server_client(link: &LinkConfig) -> RedisResult<Client> {
    match link.kind {
        PoolKind::Single | PoolKind::Cluster => {
            let server = link.servers.first().ok_or_else(no_server)?;
            client_for(link, connection_info(link, server)?)
        }
        PoolKind::Sentinel => {
            let sentinels: Vec<ConnectionAddr> = link
                .servers
                .iter()
                .map(|s| address(link, &s.host, s.port_or(PoolKind::Sentinel)))
                .collect();
            let mut builder = SentinelClientBuilder::new(
                sentinels,
                link.sentinel.clone().unwrap_or_default(),
                SentinelServerType::Master,
            )?
            .set_client_to_redis_db(i64::from(link.database));
            if let Some(username) = &link.username {
                builder = builder.set_client_to_redis_username(username);
            }
            if let Some(password) = &link.password {
                builder = builder.set_client_to_redis_password(&password.0);
            }
            if link.ssl {
                // Sentinels and servers alike speak TLS in a TLS pool.
                let certificates = tls_certificates(link)?;
                builder = builder
                    .set_client_to_redis_tls_mode(TlsMode::Secure)
                    .set_client_to_redis_certificates(certificates.clone())
                    .set_client_to_sentinel_tls_mode(TlsMode::Secure)
                    .set_client_to_sentinel_certificates(certificates);
            }
            builder.build()?.async_get_client().await
        }
    }
}

/// The server a connection of one's own goes to (see
/// [`crate::open_stream`]): the single server, or the master the
/// sentinels name now.
pub async fn server_address(link: &LinkConfig) -> RedisResult<(String, u16)> {
    let lookup = async {
        let client = server_client(link).await?;
        match client.get_connection_info().addr() {
            ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
                Ok((host.clone(), *port))
            }
            other => Err(RedisError::from((
                ErrorKind::InvalidClientConfig,
                "unsupported address",
                other.to_string(),
            ))),
        }
    };
    tokio::time::timeout(CONNECT_TIMEOUT * 3, lookup)
        .await
        .unwrap_or_else(|_| Err(timeout_error()))
}

fn no_server() -> RedisError {
    RedisError::from((ErrorKind::InvalidClientConfig, "no server configured"))
}

/// Connects for reads and writes.
pub async fn connect(link: &LinkConfig) -> RedisResult<(Conn, Peer)> {
    let attempt = async {
        match link.kind {
            PoolKind::Single | PoolKind::Sentinel => {
                let client = server_client(link).await?;
                let peer = describe(&client);
                let conn = client
                    .get_multiplexed_async_connection_with_config(&async_config())
                    .await?;
                Ok((Conn::Single(conn), peer))
            }
            PoolKind::Cluster => {
                let nodes = link
                    .servers
                    .iter()
                    .map(|s| connection_info(link, s))
                    .collect::<RedisResult<Vec<_>>>()?;
                let mut builder = ClusterClient::builder(nodes)
                    .connection_timeout(CONNECT_TIMEOUT)
                    .retries(3);
                if let Some(username) = &link.username {
                    builder = builder.username(username);
                }
                if let Some(password) = &link.password {
                    builder = builder.password(&password.0);
                }
                if link.ssl {
                    builder = builder.tls(TlsMode::Secure).certs(tls_certificates(link)?);
                }
                let conn = builder.build()?.get_async_connection().await?;
                Ok((Conn::Cluster(conn), link.describe_servers()))
            }
        }
    };
    // Sentinel lookups and cluster discovery have several steps; bound the
    // whole so a black-holed address cannot stall a retry loop.
    tokio::time::timeout(CONNECT_TIMEOUT * 3, attempt)
        .await
        .unwrap_or_else(|_| Err(timeout_error()))
}

fn timeout_error() -> RedisError {
    RedisError::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "connection attempt timed out",
    ))
}

/// Connects a pub/sub listener: to the server (single), the master
/// (sentinel), or the first cluster node that answers (a plain SUBSCRIBE
/// on any node of a cluster receives PUBLISH sent to any other).
pub async fn connect_pubsub(link: &LinkConfig) -> RedisResult<(PubSub, Peer)> {
    let attempt = async {
        match link.kind {
            PoolKind::Single | PoolKind::Sentinel => {
                let client = server_client(link).await?;
                let peer = describe(&client);
                Ok((client.get_async_pubsub().await?, peer))
            }
            PoolKind::Cluster => {
                let mut last = no_server();
                for server in &link.servers {
                    let client = client_for(link, connection_info(link, server)?)?;
                    let peer = describe(&client);
                    let result = tokio::time::timeout(CONNECT_TIMEOUT, client.get_async_pubsub())
                        .await
                        .unwrap_or_else(|_| Err(timeout_error()));
                    match result {
                        Ok(pubsub) => return Ok((pubsub, peer)),
                        Err(error) => last = error,
                    }
                }
                Err(last)
            }
        }
    };
    tokio::time::timeout(CONNECT_TIMEOUT * 3, attempt)
        .await
        .unwrap_or_else(|_| Err(timeout_error()))
}
