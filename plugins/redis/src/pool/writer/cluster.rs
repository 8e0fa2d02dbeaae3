//! The writer's cluster link: a batch split by slot, each slot's commands
//! one pipeline to the node that owns it, all slots at once; the batch is
//! done when every slot is. The wait is bounded: a cluster connection made
//! during a failover can keep a request pending for good, so an
//! unanswered batch goes again on a new connection.

use std::collections::HashMap;
use std::ops::Range;
use std::time::Duration;

use mqhost_redis_link::{is_transient, needs_new_connection, Conn};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, SingleNodeRoutingInfo, SlotAddr};
use redis::{Arg, Cmd, Pipeline, RedisError, Value};

use crate::pool::batch::Batch;
use crate::pool::SharedConfig;
use crate::resp::CmdList;

/// How long a cluster batch may stay unanswered before it is sent again on
/// a new cluster connection.
const CLUSTER_PATIENCE: Duration = Duration::from_secs(10);

/// Commands for one cluster slot (or, for commands without a key, any
/// master).
pub(super) struct Group {
    route: Option<Route>,
    pipe: Pipeline,
}

/// A cluster connection for a cluster pool, and whom it reached.
pub(super) async fn connect(config: &SharedConfig) -> Result<(ClusterConnection, String), String> {
    match mqhost_redis_link::connect(&config.link).await {
        Ok((Conn::Cluster(cluster), peer)) => Ok((cluster, peer)),
        // `connect` makes a cluster connection for a cluster pool.
        Ok((Conn::Single(_), _)) => Err("not a cluster connection".to_owned()),
        Err(error) => Err(error.to_string()),
    }
}

/// Commands `cmds` of `batch`, as the pipelines of their slots.
pub(super) fn encode(batch: &Batch, cmds: Range<usize>) -> Vec<Group> {
    let mut list = CmdList::default();
    batch.replay(cmds, &mut list);
    group(list.cmds.into_iter().flat_map(split_keys).collect())
}

/// A `DEL` of many keys as one `DEL` per key: keys of many slots cannot
/// share a command. The writer joins deletes only for single and sentinel
/// pools; a reload that makes the pool a cluster can still find some
/// joined.
fn split_keys(cmd: Cmd) -> Vec<Cmd> {
    let args: Vec<&[u8]> = cmd
        .args_iter()
        .filter_map(|arg| match arg {
            Arg::Simple(bytes) => Some(bytes),
            _ => None,
        })
        .collect();
    match args.split_first() {
        Some((name, keys)) if name.eq_ignore_ascii_case(b"DEL") && keys.len() > 1 => keys
            .iter()
            .map(|key| {
                let mut one = redis::cmd("DEL");
                one.arg(*key);
                one
            })
            .collect(),
        _ => vec![cmd],
    }
}

/// A command Redis refused for good.
pub(super) struct Refusal {
    /// The command's name (never its arguments).
    pub(super) command: String,
    /// The error code, such as `WRONGTYPE`.
    pub(super) code: String,
    /// The rest of the error.
    pub(super) detail: String,
}

/// What must be sent again, and why.
pub(super) struct Retry {
    /// Each slot's commands from the first one not done.
    pub(super) groups: Vec<Group>,
    /// Whether the connection itself is no longer right.
    pub(super) reconnect: bool,
    /// The first failure, for the log.
    pub(super) reason: String,
}

/// How sending a cluster batch went, for the writer to count and log.
#[derive(Default)]
pub(super) struct Outcome {
    /// Commands answered (refused ones included).
    pub(super) answered: usize,
    /// Commands that go out again.
    pub(super) resent: usize,
    /// Commands refused for good.
    pub(super) refused: Vec<Refusal>,
    /// None when every slot is done.
    pub(super) retry: Option<Retry>,
}

impl Outcome {
    /// `group` goes again: the first failure decides the reason logged;
    /// any failure that needs a new connection makes the whole retry need
    /// one.
    fn again(&mut self, group: Group, reconnect: bool, reason: String) {
        self.resent += group.pipe.len();
        match &mut self.retry {
            None => {
                self.retry = Some(Retry {
                    groups: vec![group],
                    reconnect,
                    reason,
                })
            }
            Some(retry) => {
                retry.groups.push(group);
                retry.reconnect |= reconnect;
            }
        }
    }
}

/// Sends a cluster batch: every slot's pipeline at once.
pub(super) async fn send(cluster: ClusterConnection, groups: Vec<Group>) -> Outcome {
    let requests = groups.iter().map(|group| {
        let mut cluster = cluster.clone();
        let route = match group.route {
            Some(route) => SingleNodeRoutingInfo::SpecificNode(route),
            None => SingleNodeRoutingInfo::RandomPrimary,
        };
        let pipe = group.pipe.clone();
        let count = pipe.len();
        async move { cluster.route_pipeline(pipe, 0, count, route).await }
    });
    let mut outcome = Outcome::default();
    // A cluster connection made while a failover is under way can keep a
    // request pending for good; past this wait the batch is sent again on
    // a fresh connection (its writes are idempotent, raw commands aside).
    let results: Vec<Result<Vec<Value>, RedisError>> = match tokio::time::timeout(
        CLUSTER_PATIENCE,
        futures_util::future::join_all(requests),
    )
    .await
    {
        Ok(results) => results,
        Err(_) => {
            let reason = format!(
                "no answer from the cluster within {}s",
                CLUSTER_PATIENCE.as_secs()
            );
            for group in groups {
                outcome.again(group, true, reason.clone());
            }
            return outcome;
        }
    };
    for (group, result) in groups.into_iter().zip(results) {
        let sent = group.pipe.len();
        match result {
            Ok(values) => {
                let retry_from = check_values(&group.pipe, &values, &mut outcome.refused);
                let done = retry_from.as_ref().map_or(sent, |(index, _)| *index);
                outcome.answered += done;
                if let Some((index, code)) = retry_from {
                    let reconnect = needs_new_connection(&code)
                        || matches!(code.as_str(), "MOVED" | "ASK" | "CLUSTERDOWN");
                    let mut pipe = Pipeline::with_capacity(sent - index);
                    for cmd in group.pipe.cmd_iter().skip(index) {
                        pipe.add_command(cmd.clone());
                    }
                    let rest = Group {
                        route: group.route,
                        pipe,
                    };
                    outcome.again(rest, reconnect, format!("Redis answered {code}"));
                }
            }
            Err(error) => outcome.again(group, true, error.to_string()),
        }
    }
    outcome
}

/// Finds the first command refused for a passing reason (to send again
/// from there) and adds those refused for good to `refused`.
fn check_values(
    pipe: &Pipeline,
    values: &[Value],
    refused: &mut Vec<Refusal>,
) -> Option<(usize, String)> {
    for (index, value) in values.iter().enumerate() {
        let Value::ServerError(error) = value else {
            continue;
        };
        let code = error.code();
        if is_transient(code) || code == "MOVED" || code == "ASK" {
            return Some((index, code.to_owned()));
        }
        refused.push(Refusal {
            command: pipe
                .cmd_iter()
                .nth(index)
                .map(command_name)
                .unwrap_or_default(),
            code: code.to_owned(),
            detail: error.details().unwrap_or("").to_owned(),
        });
    }
    // A short reply (it cannot happen with a correct server) leaves the
    // missing commands unanswered: send them again.
    (values.len() < pipe.len()).then(|| (values.len(), "a short reply".to_owned()))
}

/// The command's name, for log lines (never its arguments: they may hold
/// payloads).
fn command_name(cmd: &Cmd) -> String {
    match cmd.args_iter().next() {
        Some(Arg::Simple(name)) => String::from_utf8_lossy(name).into_owned(),
        _ => String::new(),
    }
}

/// The key a command touches: its first argument, which is the key for
/// every command the functions send and for nearly every raw one.
fn key_of(cmd: &Cmd) -> Option<&[u8]> {
    match cmd.args_iter().nth(1) {
        Some(Arg::Simple(key)) => Some(key),
        _ => None,
    }
}

/// Groups a cluster batch by slot, keeping the order within each.
fn group(cmds: Vec<Cmd>) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<Option<Route>, usize> = HashMap::new();
    for cmd in cmds {
        let route = key_of(&cmd).map(|key| Route::with_key(key, SlotAddr::Master));
        let slot = *index.entry(route).or_insert_with(|| {
            groups.push(Group {
                route,
                pipe: Pipeline::new(),
            });
            groups.len() - 1
        });
        groups[slot].pipe.add_command(cmd);
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::words;

    fn set(key: &str, value: &str) -> Cmd {
        let mut cmd = redis::cmd("SET");
        cmd.arg(key).arg(value);
        cmd
    }

    #[test]
    fn a_delete_of_many_keys_goes_to_each_key_s_slot() {
        let mut del = redis::cmd("DEL");
        del.arg("mqtt:msg:a").arg("mqtt:msg:b");
        let split: Vec<Vec<String>> = split_keys(del).iter().map(words).collect();
        assert_eq!(split, [["DEL", "mqtt:msg:a"], ["DEL", "mqtt:msg:b"]]);
        assert_eq!(split_keys(set("k", "v")).len(), 1);
    }

    #[test]
    fn cluster_batches_keep_each_key_in_order() {
        let cmds = vec![
            set("mqtt:msg:1", "store"),
            set("other", "x"),
            set("mqtt:msg:1", "ack"),
            redis::cmd("PING"),
        ];
        let groups = group(cmds);
        assert_eq!(groups.len(), 3);
        let first: Vec<Vec<String>> = groups[0].pipe.cmd_iter().map(words).collect();
        assert_eq!(
            first,
            [["SET", "mqtt:msg:1", "store"], ["SET", "mqtt:msg:1", "ack"]]
        );
        assert!(groups[2].route.is_none());
        assert_eq!(command_name(&set("a", "b")), "SET");
    }
}
