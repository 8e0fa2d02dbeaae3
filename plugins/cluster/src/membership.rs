//! Who is in the cluster, kept in Redis and nowhere else: no seed list, no
//! protocol between nodes.
//!
//! A node holds its name by a heartbeat key (`…:node:<node.name>`) that
//! holds its instance token and lives [`HEARTBEAT_TTL`]; it refreshes the
//! key every [`HEARTBEAT_EVERY`]. The key is taken with `SET NX`, so a
//! second live node with the same name cannot take it and is refused
//! ([`acquire`]); a node that died leaves a key that runs out within the
//! TTL, after which its name is free again. The members hash remembers
//! every node that joined, when it was last seen alive and its figures
//! then (clients, routes), so that a node that died shows as `down` rather
//! than vanishing; one that stopped in order leaves the hash.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mqhost_redis_link::Conn;
use redis::{RedisResult, Value};

use crate::keys::Keys;

/// How long a heartbeat lives without a refresh: a dead node is seen as
/// down at most this long (plus one round of [`HEARTBEAT_EVERY`]) after it
/// died.
pub(crate) const HEARTBEAT_TTL: Duration = Duration::from_secs(3);

/// How often a node refreshes its heartbeat and reads the members.
pub(crate) const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);

/// How long a node that died stays listed as down.
pub(crate) const FORGET_AFTER: Duration = Duration::from_secs(3600);

/// Refreshes the heartbeat if it holds our token, takes it again if it ran
/// out (Redis was away longer than the TTL), and says whether another
/// node took it meanwhile: 1 refreshed, 2 taken again, 0 held by another.
const REFRESH: &str = "local v = redis.call('GET', KEYS[1]) \
    if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end \
    if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 2 end \
    return 0";

/// Deletes the heartbeat only if it is still ours.
const RELEASE: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
    return redis.call('DEL', KEYS[1]) end return 0";

/// One node as the members hash and its heartbeat show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    /// Its `node.name`.
    pub(crate) name: String,
    /// Whether its heartbeat lives.
    pub(crate) up: bool,
    /// When it was last seen alive, Unix milliseconds.
    pub(crate) last_seen_ms: u64,
    /// Its figures when it was last seen.
    pub(crate) figures: Figures,
}

/// What a node says of itself at each beat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Figures {
    /// Clients connected to it.
    pub(crate) clients: u64,
    /// Distinct filters its sessions subscribe to.
    pub(crate) routes: u64,
}

/// What [`refresh`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refreshed {
    /// The heartbeat was ours and lives on.
    Held,
    /// It had run out and is ours again.
    Retaken,
    /// Another instance holds our name now.
    Lost,
}

/// Unix milliseconds now.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Why a node could not take its name.
#[derive(Debug)]
pub(crate) enum AcquireError {
    /// Another live instance holds it: its token.
    Held(String),
    /// Redis did not answer as expected.
    Redis(String),
}

/// Takes `node`'s heartbeat with `token`. A key left by a dead instance
/// runs out within [`HEARTBEAT_TTL`], so the attempt goes on for that long
/// (plus a beat) before it concludes that a live instance holds the name.
pub(crate) async fn acquire(
    conn: &mut Conn,
    keys: &Keys,
    node: &str,
    token: &str,
    figures: Figures,
) -> Result<(), AcquireError> {
    let key = keys.heartbeat(node);
    let deadline = tokio::time::Instant::now() + HEARTBEAT_TTL + HEARTBEAT_EVERY;
    loop {
        let reply = conn
            .query(
                redis::cmd("SET")
                    .arg(&key)
                    .arg(token)
                    .arg("NX")
                    .arg("PX")
                    .arg(HEARTBEAT_TTL.as_millis() as u64),
            )
            .await
            .map_err(|e| AcquireError::Redis(e.to_string()))?;
        match reply {
            Value::Okay => break,
            Value::Nil => {}
            Value::ServerError(error) => return Err(AcquireError::Redis(format!("{error:?}"))),
            other => return Err(AcquireError::Redis(format!("unexpected reply {other:?}"))),
        }
        if tokio::time::Instant::now() >= deadline {
            let holder = conn
                .query(redis::cmd("GET").arg(&key))
                .await
                .ok()
                .and_then(|v| redis::from_redis_value::<Option<String>>(v).ok().flatten())
                .unwrap_or_default();
            return Err(AcquireError::Held(holder));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    seen(conn, keys, node, figures)
        .await
        .map_err(|e| AcquireError::Redis(e.to_string()))
}

/// Records that `node` is alive now, with its figures, in the members
/// hash: `<unix ms> <clients> <routes>`.
async fn seen(conn: &mut Conn, keys: &Keys, node: &str, figures: Figures) -> RedisResult<()> {
    conn.query(
        redis::cmd("HSET")
            .arg(keys.members())
            .arg(node)
            .arg(format!(
                "{} {} {}",
                now_ms(),
                figures.clients,
                figures.routes
            )),
    )
    .await
    .map(drop)
}

/// One beat: refreshes the heartbeat and the members hash.
pub(crate) async fn refresh(
    conn: &mut Conn,
    keys: &Keys,
    node: &str,
    token: &str,
    figures: Figures,
) -> Result<Refreshed, String> {
    let reply = conn
        .query(
            redis::cmd("EVAL")
                .arg(REFRESH)
                .arg(1)
                .arg(keys.heartbeat(node))
                .arg(token)
                .arg(HEARTBEAT_TTL.as_millis() as u64),
        )
        .await
        .map_err(|e| e.to_string())?;
    let refreshed = match reply {
        Value::Int(1) => Refreshed::Held,
        Value::Int(2) => Refreshed::Retaken,
        Value::Int(0) => Refreshed::Lost,
        other => return Err(format!("unexpected reply to the heartbeat: {other:?}")),
    };
    if refreshed != Refreshed::Lost {
        seen(conn, keys, node, figures)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(refreshed)
}

/// Leaves in order: the heartbeat (if still ours) and the members entry go.
pub(crate) async fn release(
    conn: &mut Conn,
    keys: &Keys,
    node: &str,
    token: &str,
) -> Result<(), String> {
    conn.query(
        redis::cmd("EVAL")
            .arg(RELEASE)
            .arg(1)
            .arg(keys.heartbeat(node))
            .arg(token),
    )
    .await
    .map_err(|e| e.to_string())?;
    conn.query(redis::cmd("HDEL").arg(keys.members()).arg(node))
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Every member, up or down, by name; members down for longer than
/// [`FORGET_AFTER`] are removed from the hash on the way.
pub(crate) async fn members(conn: &mut Conn, keys: &Keys) -> Result<Vec<Member>, String> {
    let reply = conn
        .query(redis::cmd("HGETALL").arg(keys.members()))
        .await
        .map_err(|e| e.to_string())?;
    let listed = parse_members(reply)?;
    let checks = listed
        .iter()
        .map(|(name, _)| {
            let mut cmd = redis::cmd("EXISTS");
            cmd.arg(keys.heartbeat(name));
            cmd
        })
        .collect();
    let alive = conn.query_many(checks).await.map_err(|e| e.to_string())?;
    let now = now_ms();
    let mut members = Vec::with_capacity(listed.len());
    let mut forget = Vec::new();
    for ((name, (last_seen_ms, figures)), exists) in listed.into_iter().zip(alive) {
        let up = matches!(exists, Value::Int(n) if n > 0);
        if !up && now.saturating_sub(last_seen_ms) > FORGET_AFTER.as_millis() as u64 {
            forget.push(name);
            continue;
        }
        members.push(Member {
            name,
            up,
            last_seen_ms,
            figures,
        });
    }
    if !forget.is_empty() {
        let _ = conn
            .query(redis::cmd("HDEL").arg(keys.members()).arg(&forget))
            .await;
    }
    members.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(members)
}

/// When a member was last seen (Unix ms) and its figures then.
type Seen = (u64, Figures);

/// The members hash as (name, (last seen, figures)) pairs; a value that
/// does not read reads as seen at 0 (long gone) with no figures, never as
/// an error: the hash is shared and anyone may have written it.
fn parse_members(reply: Value) -> Result<Vec<(String, Seen)>, String> {
    let pairs: Vec<(String, String)> = redis::from_redis_value(reply)
        .map_err(|e| format!("the members hash is not a hash of strings: {e}"))?;
    Ok(pairs
        .into_iter()
        .map(|(name, value)| (name, parse_seen(&value)))
        .collect())
}

fn parse_seen(value: &str) -> Seen {
    let mut words = value.split(' ').map(|w| w.parse::<u64>().ok());
    let seen = words.next().flatten().unwrap_or(0);
    let clients = words.next().flatten().unwrap_or(0);
    let routes = words.next().flatten().unwrap_or(0);
    (seen, Figures { clients, routes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_read_from_a_flat_or_a_map_reply() {
        let flat = Value::Array(vec![
            Value::BulkString(b"n1".to_vec()),
            Value::BulkString(b"1700000000000".to_vec()),
            Value::BulkString(b"n2".to_vec()),
            Value::BulkString(b"garbage".to_vec()),
        ]);
        let none = Figures::default();
        assert_eq!(
            parse_members(flat).unwrap(),
            [
                ("n1".to_owned(), (1_700_000_000_000, none)),
                ("n2".to_owned(), (0, none))
            ]
        );
        let map = Value::Map(vec![(
            Value::BulkString(b"n1".to_vec()),
            Value::BulkString(b"5 7 9".to_vec()),
        )]);
        let figures = Figures {
            clients: 7,
            routes: 9,
        };
        assert_eq!(
            parse_members(map).unwrap(),
            [("n1".to_owned(), (5, figures))]
        );
        assert!(parse_members(Value::Int(3)).is_err());
    }
}
