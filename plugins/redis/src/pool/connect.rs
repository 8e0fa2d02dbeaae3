//! Connections of each pool type, behind one [`Conn`] type: a multiplexed
//! connection to one server (single, or the master a sentinel names) or a
//! cluster connection that routes by key.
//!
//! No response timeout anywhere: a slow server that keeps its connection
//! open is waited for (spec, section 7), and a dead one closes the socket
//! or refuses the next connection.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionLike, MultiplexedConnection, PubSub};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::sentinel::{SentinelClientBuilder, SentinelServerType};
use redis::{
    AsyncConnectionConfig, Client, ClientTlsConfig, Cmd, ConnectionAddr, ConnectionInfo, ErrorKind,
    IntoConnectionInfo, Pipeline, RedisConnectionInfo, RedisError, RedisResult, TlsCertificates,
    TlsMode, Value,
};

use mqhost_redis_link::{PoolKind, Server};

use crate::config::PoolConfig;

/// How long one connection attempt may take.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// A connection to a pool's Redis, of any type. Cheap to clone: clones
/// share the connection.
#[derive(Clone)]
pub(crate) enum Conn {
    /// One server (single, or the master a sentinel named).
    Single(MultiplexedConnection),
    /// A Redis Cluster.
    Cluster(ClusterConnection),
}

/// What a connection reached, for log lines.
pub(crate) type Peer = String;

/// The handshake settings of a pool (database, user, password).
fn redis_info(pool: &PoolConfig) -> RedisConnectionInfo {
    let mut info = RedisConnectionInfo::default()
        .set_db(i64::from(pool.link.database))
        // CLIENT SETINFO is answered with an error before Redis 7.2;
        // leaving it out keeps older servers' logs clean.
        .set_skip_set_lib_name();
    if let Some(username) = &pool.link.username {
        info = info.set_username(username);
    }
    if let Some(password) = &pool.link.password {
        info = info.set_password(&password.0);
    }
    info
}

/// The address of `host:port` for this pool: TLS when `ssl` is on, with
/// the host name verified against the certificate.
fn address(pool: &PoolConfig, host: &str, port: u16) -> ConnectionAddr {
    if pool.link.ssl {
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

/// Where to connect for one server of the pool.
fn connection_info(pool: &PoolConfig, server: &Server) -> RedisResult<ConnectionInfo> {
    let addr = address(pool, &server.host, server.port_or(pool.link.kind));
    Ok(addr
        .into_connection_info()?
        .set_redis_settings(redis_info(pool)))
}

/// The pool's TLS files, read now (so that renewed certificates are used
/// at the next connection): the CA to trust instead of the system's, and
/// the client certificate for servers that ask for one.
pub(crate) fn tls_certificates(pool: &PoolConfig) -> RedisResult<TlsCertificates> {
    let read = |path: &str| {
        std::fs::read(path).map_err(|e| {
            RedisError::from((
                ErrorKind::InvalidClientConfig,
                "cannot read a TLS file",
                format!("{path}: {e}"),
            ))
        })
    };
    let root_cert = pool.link.tls.cafile.as_deref().map(read).transpose()?;
    let client_tls = match (&pool.link.tls.certfile, &pool.link.tls.keyfile) {
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

/// A client for one server, with the pool's TLS settings.
fn client_for(pool: &PoolConfig, info: ConnectionInfo) -> RedisResult<Client> {
    if pool.link.ssl {
        Client::build_with_tls(info, tls_certificates(pool)?)
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
async fn server_client(pool: &PoolConfig) -> RedisResult<Client> {
    match pool.link.kind {
        PoolKind::Single | PoolKind::Cluster => {
            let server = pool.link.servers.first().ok_or_else(no_server)?;
            client_for(pool, connection_info(pool, server)?)
        }
        PoolKind::Sentinel => {
            let sentinels: Vec<ConnectionAddr> = pool
                .link
                .servers
                .iter()
                .map(|s| address(pool, &s.host, s.port_or(PoolKind::Sentinel)))
                .collect();
            let mut builder = SentinelClientBuilder::new(
                sentinels,
                pool.link.sentinel.clone().unwrap_or_default(),
                SentinelServerType::Master,
            )?
            .set_client_to_redis_db(i64::from(pool.link.database));
            if let Some(username) = &pool.link.username {
                builder = builder.set_client_to_redis_username(username);
            }
            if let Some(password) = &pool.link.password {
                builder = builder.set_client_to_redis_password(&password.0);
            }
            if pool.link.ssl {
                // Sentinels and servers alike speak TLS in a TLS pool.
                let certificates = tls_certificates(pool)?;
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

/// The server the writer's own connection goes to: the single server, or
/// the master the sentinels name now.
pub(crate) async fn write_address(pool: &PoolConfig) -> RedisResult<(String, u16)> {
    let lookup = async {
        let client = server_client(pool).await?;
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
pub(crate) async fn connect(pool: &PoolConfig) -> RedisResult<(Conn, Peer)> {
    let attempt = async {
        match pool.link.kind {
            PoolKind::Single | PoolKind::Sentinel => {
                let client = server_client(pool).await?;
                let peer = describe(&client);
                let conn = client
                    .get_multiplexed_async_connection_with_config(&async_config())
                    .await?;
                Ok((Conn::Single(conn), peer))
            }
            PoolKind::Cluster => {
                let nodes = pool
                    .link
                    .servers
                    .iter()
                    .map(|s| connection_info(pool, s))
                    .collect::<RedisResult<Vec<_>>>()?;
                let mut builder = ClusterClient::builder(nodes)
                    .connection_timeout(CONNECT_TIMEOUT)
                    .retries(3);
                if let Some(username) = &pool.link.username {
                    builder = builder.username(username);
                }
                if let Some(password) = &pool.link.password {
                    builder = builder.password(&password.0);
                }
                if pool.link.ssl {
                    builder = builder.tls(TlsMode::Secure).certs(tls_certificates(pool)?);
                }
                let conn = builder.build()?.get_async_connection().await?;
                Ok((Conn::Cluster(conn), pool.link.describe_servers()))
            }
        }
    };
    // Sentinel lookups and cluster discovery have several steps; bound the
    // whole so a black-holed address cannot stall the retry loop.
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

/// Connects a SUB/UNSUB listener: to the server (single), the master
/// (sentinel), or the first cluster node that answers (a plain SUBSCRIBE
/// on any node of a cluster receives PUBLISH sent to any other).
pub(crate) async fn connect_pubsub(pool: &PoolConfig) -> RedisResult<(PubSub, Peer)> {
    let attempt = async {
        match pool.link.kind {
            PoolKind::Single | PoolKind::Sentinel => {
                let client = server_client(pool).await?;
                let peer = describe(&client);
                Ok((client.get_async_pubsub().await?, peer))
            }
            PoolKind::Cluster => {
                let mut last = no_server();
                for server in &pool.link.servers {
                    let client = client_for(pool, connection_info(pool, server)?)?;
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

impl Conn {
    /// Sends one command; a server error comes back as
    /// `Value::ServerError`, a connection problem as `Err`.
    pub(crate) async fn query(&mut self, cmd: &Cmd) -> RedisResult<Value> {
        match self {
            Conn::Single(conn) => conn.req_packed_command(cmd).await,
            Conn::Cluster(conn) => conn.req_packed_command(cmd).await,
        }
    }

    /// Sends several commands and returns their replies in order:
    /// pipelined on one server, concurrently on a cluster (each routed by
    /// its key).
    pub(crate) async fn query_many(&mut self, cmds: Vec<Cmd>) -> RedisResult<Vec<Value>> {
        match self {
            Conn::Single(conn) => {
                if cmds.is_empty() {
                    return Ok(Vec::new());
                }
                let count = cmds.len();
                let mut pipe = Pipeline::with_capacity(count);
                for cmd in cmds {
                    pipe.add_command(cmd);
                }
                conn.send_packed_commands(&pipe, 0, count).await
            }
            Conn::Cluster(conn) => {
                let requests = cmds.into_iter().map(|cmd| {
                    let mut conn = conn.clone();
                    async move { conn.req_packed_command(&cmd).await }
                });
                futures_util::future::join_all(requests)
                    .await
                    .into_iter()
                    .collect()
            }
        }
    }

    /// Every key matching a glob `pattern`, from every master.
    pub(crate) async fn scan(&mut self, pattern: &str) -> RedisResult<Vec<Vec<u8>>> {
        match self {
            Conn::Single(conn) => {
                scan_one(pattern, |cmd| {
                    let mut conn = conn.clone();
                    async move { conn.req_packed_command(&cmd).await }
                })
                .await
            }
            Conn::Cluster(conn) => {
                let nodes = conn
                    .req_packed_command(&redis::cmd("CLUSTER").arg("NODES").clone())
                    .await?;
                let mut keys = Vec::new();
                for (host, port) in masters(&nodes) {
                    let conn = conn.clone();
                    let found = scan_one(pattern, |cmd| {
                        let mut conn = conn.clone();
                        let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                            host: host.clone(),
                            port,
                        });
                        async move { conn.route_command(cmd, route).await }
                    })
                    .await?;
                    keys.extend(found);
                }
                keys.sort();
                keys.dedup();
                Ok(keys)
            }
        }
    }
}

/// SCANs one server to the end.
async fn scan_one<F, Fut>(pattern: &str, mut send: F) -> RedisResult<Vec<Vec<u8>>>
where
    F: FnMut(Cmd) -> Fut,
    Fut: std::future::Future<Output = RedisResult<Value>>,
{
    let mut keys = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000);
        let reply = send(cmd).await?;
        let (next, batch): (u64, Vec<Vec<u8>>) =
            redis::from_redis_value(reply.extract_error()?).map_err(RedisError::from)?;
        keys.extend(batch);
        if next == 0 {
            return Ok(keys);
        }
        cursor = next;
    }
}

/// The masters in a `CLUSTER NODES` reply that are not failing.
fn masters(nodes: &Value) -> Vec<(String, u16)> {
    let text = match nodes {
        Value::BulkString(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        Value::VerbatimString { text, .. } => text.clone(),
        Value::SimpleString(text) => text.clone(),
        _ => return Vec::new(),
    };
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let _id = fields.next()?;
            let address = fields.next()?;
            let flags = fields.next()?;
            let flags: Vec<&str> = flags.split(',').collect();
            if !flags.contains(&"master") || flags.iter().any(|f| f.starts_with("fail")) {
                return None;
            }
            // ip:port@cport[,hostname]
            let address = address.split(['@', ',']).next()?;
            let (host, port) = address.rsplit_once(':')?;
            Some((host.to_owned(), port.parse().ok()?))
        })
        .collect()
}

/// Server errors after which the same commands succeed later, or on
/// another server: the writer keeps them and sends them again.
pub(crate) fn is_transient(code: &str) -> bool {
    matches!(
        code,
        "READONLY"
            | "LOADING"
            | "MASTERDOWN"
            | "CLUSTERDOWN"
            | "TRYAGAIN"
            | "BUSY"
            | "NOREPLICAS"
            | "MISCONF"
            | "NOAUTH"
            | "OOM"
    )
}

/// Whether a server error means this connection talks to the wrong server
/// now (a demoted master), so the next attempt must connect afresh.
pub(crate) fn needs_new_connection(code: &str) -> bool {
    matches!(code, "READONLY" | "MASTERDOWN" | "NOAUTH")
}

/// Shared so that a reconnect uses the settings of the moment.
pub(crate) type SharedConfig = Arc<PoolConfig>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masters_are_read_from_cluster_nodes() {
        let reply = Value::BulkString(
            b"a1 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460\n\
              b2 127.0.0.1:30002@40002,host.example master - 0 0 2 connected 5461-10922\n\
              c3 127.0.0.1:30003@40003 master,fail - 0 0 3 connected\n\
              d4 127.0.0.1:30004@40004 slave a1 0 0 1 connected\n"
                .to_vec(),
        );
        assert_eq!(
            masters(&reply),
            [
                ("127.0.0.1".to_owned(), 30001),
                ("127.0.0.1".to_owned(), 30002)
            ]
        );
    }

    #[test]
    fn readonly_is_transient_and_wrongtype_is_not() {
        assert!(is_transient("READONLY"));
        assert!(needs_new_connection("READONLY"));
        assert!(!is_transient("WRONGTYPE"));
        assert!(!is_transient("ERR"));
    }
}
