//! Requests on a [`Conn`], whatever the pool type: one command, several
//! in order, and a SCAN over every master.

use redis::aio::ConnectionLike;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, Pipeline, RedisError, RedisResult, Value};

use crate::connect::Conn;

impl Conn {
    /// Sends one command; a server error comes back as
    /// `Value::ServerError`, a connection problem as `Err`.
    pub async fn query(&mut self, cmd: &Cmd) -> RedisResult<Value> {
        match self {
            Conn::Single(conn) => conn.req_packed_command(cmd).await,
            Conn::Cluster(conn) => conn.req_packed_command(cmd).await,
        }
    }

    /// Sends several commands and returns their replies in order:
    /// pipelined on one server, concurrently on a cluster (each routed by
    /// its key).
    pub async fn query_many(&mut self, cmds: Vec<Cmd>) -> RedisResult<Vec<Value>> {
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
    pub async fn scan(&mut self, pattern: &str) -> RedisResult<Vec<Vec<u8>>> {
        let found = self.scan_bounded(pattern, |_| true, usize::MAX).await?;
        Ok(found.keys)
    }

    /// The first `limit` keys matching a glob `pattern` that `keep`
    /// accepts, from every master, SCANned [`SCAN_PAGE`] at a time; the
    /// accepted keys beyond `limit` are only counted. Memory stays within
    /// `limit` keys and a page, however large the keyspace.
    pub async fn scan_bounded(
        &mut self,
        pattern: &str,
        mut keep: impl FnMut(&[u8]) -> bool,
        limit: usize,
    ) -> RedisResult<Scanned> {
        let mut found = Scanned::default();
        match self {
            Conn::Single(conn) => {
                scan_one(
                    pattern,
                    |cmd| {
                        let mut conn = conn.clone();
                        async move { conn.req_packed_command(&cmd).await }
                    },
                    &mut keep,
                    limit,
                    &mut found,
                )
                .await?;
            }
            Conn::Cluster(conn) => {
                let nodes = conn
                    .req_packed_command(&redis::cmd("CLUSTER").arg("NODES").clone())
                    .await?;
                for (host, port) in masters(&nodes) {
                    let conn = conn.clone();
                    scan_one(
                        pattern,
                        |cmd| {
                            let mut conn = conn.clone();
                            let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                                host: host.clone(),
                                port,
                            });
                            async move { conn.route_command(cmd, route).await }
                        },
                        &mut keep,
                        limit,
                        &mut found,
                    )
                    .await?;
                }
                // A key moving between masters during the scan can be
                // seen twice.
                found.keys.sort();
                found.keys.dedup();
            }
        }
        Ok(found)
    }
}

/// Keys per `SCAN` call (its `COUNT`): how much one call makes Redis walk
/// and one reply holds.
pub const SCAN_PAGE: usize = 1000;

/// What [`Conn::scan_bounded`] found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Scanned {
    /// The keys kept, at most the limit.
    pub keys: Vec<Vec<u8>>,
    /// Keys accepted beyond the limit, counted and dropped.
    pub beyond: u64,
}

/// SCANs one server to the end, a page at a time.
async fn scan_one<F, Fut>(
    pattern: &str,
    mut send: F,
    keep: &mut impl FnMut(&[u8]) -> bool,
    limit: usize,
    found: &mut Scanned,
) -> RedisResult<()>
where
    F: FnMut(Cmd) -> Fut,
    Fut: std::future::Future<Output = RedisResult<Value>>,
{
    let mut cursor: u64 = 0;
    loop {
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(SCAN_PAGE);
        let reply = send(cmd).await?;
        let (next, page): (u64, Vec<Vec<u8>>) =
            redis::from_redis_value(reply.extract_error()?).map_err(RedisError::from)?;
        for key in page {
            if !keep(&key) {
                continue;
            }
            if found.keys.len() < limit {
                found.keys.push(key);
            } else {
                found.beyond += 1;
            }
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

/// The masters in a `CLUSTER NODES` reply that are not failing and
/// serve slots: a master without slots (a new node not yet given any, or
/// one emptied for removal) holds no keys, and the cluster client has no
/// connection to it, so asking it would fail the whole scan.
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
            // Fields 4 to 8: master id, ping, pong, epoch, link state;
            // then the slot ranges, if any.
            fields.nth(4)?;
            fields.find(|f| !f.is_empty())?;
            // ip:port@cport[,hostname]
            let address = address.split(['@', ',']).next()?;
            let (host, port) = address.rsplit_once(':')?;
            Some((host.to_owned(), port.parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masters_are_read_from_cluster_nodes() {
        let reply = Value::BulkString(
            b"a1 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460\n\
              b2 127.0.0.1:30002@40002,host.example master - 0 0 2 connected 5461-10922\n\
              c3 127.0.0.1:30003@40003 master,fail - 0 0 3 connected\n\
              d4 127.0.0.1:30004@40004 slave a1 0 0 1 connected\n\
              e5 127.0.0.1:30005@40005 master - 0 0 4 connected\n"
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
}
