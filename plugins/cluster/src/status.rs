//! What the admin API shows of the cluster (`GET /api/v1/cluster`, the
//! plugin's stats, `mqhost ctl cluster status`): the members as this node
//! last read them, and this node's figures. Numbers become Prometheus
//! samples (`mqhost_plugin_…`), so each node exposes its own.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde_json::{json, Value};

use crate::membership::{Figures, Member};
use crate::{lock, Shared};

/// The bus's figures.
#[derive(Default)]
pub(crate) struct BusFigures {
    /// Messages queued for other nodes (one per node).
    pub(crate) forwarded: AtomicU64,
    /// Messages dropped because a node's outbox was full.
    pub(crate) dropped: AtomicU64,
    /// Batches Redis took, and batches lost with their connection.
    pub(crate) batches_sent: AtomicU64,
    pub(crate) batches_lost: AtomicU64,
    /// Commands this node sent for routes and messages.
    pub(crate) redis_commands: AtomicU64,
    /// Batches and messages received from other nodes.
    pub(crate) batches_received: AtomicU64,
    pub(crate) received: AtomicU64,
    /// Received messages the host refused, and batches that did not read.
    pub(crate) refused: AtomicU64,
    pub(crate) bad_batches: AtomicU64,
    /// Failed attempts at writing route changes.
    pub(crate) route_errors: AtomicU64,
    /// Routes of other nodes known here.
    pub(crate) remote_routes: AtomicU64,
    /// Shared subscriptions other nodes have members of, one per node.
    pub(crate) remote_groups: AtomicU64,
    /// Messages whose shared subscription another node's members serve,
    /// one per group and message.
    pub(crate) shared_elsewhere: AtomicU64,
    /// Connections here ended because their client connected elsewhere.
    pub(crate) taken_over: AtomicU64,
    /// Sessions moved here from another node, and from here to another.
    pub(crate) sessions_moved_in: AtomicU64,
    pub(crate) sessions_moved_out: AtomicU64,
    /// Clients that started without their session: a node did not
    /// answer within the wait.
    pub(crate) handovers_unanswered: AtomicU64,
    /// Age of the last message received, at its arrival, milliseconds.
    pub(crate) lag_ms: AtomicU64,
}

/// The figures the tasks keep.
#[derive(Default)]
pub(crate) struct Status {
    pub(crate) bus: BusFigures,
    /// Distinct filters of this node's sessions.
    pub(crate) routes: AtomicU64,
    members: Mutex<Vec<Member>>,
    heartbeat_errors: AtomicU64,
    /// Clients connected to this node now.
    clients: AtomicU64,
}

impl Status {
    /// Takes a new reading of the members; says what changed since the
    /// last, as log lines.
    pub(crate) fn set_members(&self, members: Vec<Member>) -> Vec<String> {
        let mut current = lock(&self.members);
        let changes = changes(&current, &members);
        *current = members;
        changes
    }

    /// The members as last read.
    pub(crate) fn members(&self) -> Vec<Member> {
        lock(&self.members).clone()
    }

    /// A client connected (+1) or left (-1).
    pub(crate) fn client_moved(&self, connected: bool) {
        if connected {
            self.clients.fetch_add(1, Ordering::Relaxed);
        } else {
            // Saturating: a client connected before the plugin started
            // may leave after.
            let _ = self
                .clients
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        }
    }

    /// This node's figures, for its beat.
    pub(crate) fn figures(&self) -> Figures {
        Figures {
            clients: self.clients.load(Ordering::Relaxed),
            routes: self.routes.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn count_heartbeat_error(&self) {
        self.heartbeat_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// The JSON object of the stats and of `GET /api/v1/cluster`.
    pub(crate) fn to_json(&self, shared: &Shared) -> Value {
        let members = self.members();
        let up = members.iter().filter(|m| m.up).count();
        let nodes: Vec<Value> = members
            .iter()
            .map(|member| {
                json!({
                    "name": member.name,
                    "status": if member.up { "up" } else { "down" },
                    "last_seen_ms": member.last_seen_ms,
                    "clients": member.figures.clients,
                    "routes": member.figures.routes,
                    "this_node": member.name == shared.node,
                })
            })
            .collect();
        json!({
            "cluster": shared.config.name,
            "node": shared.node,
            "redis": shared.config.link.target(),
            "nodes_up": up,
            "nodes_down": members.len() - up,
            "nodes": nodes,
            "clients": self.clients.load(Ordering::Relaxed),
            "routes": self.routes.load(Ordering::Relaxed),
            "heartbeat_errors": self.heartbeat_errors.load(Ordering::Relaxed),
            "bus": self.bus.to_json(),
        })
    }
}

impl BusFigures {
    fn to_json(&self) -> Value {
        let read = |n: &AtomicU64| n.load(Ordering::Relaxed);
        json!({
            "forwarded": read(&self.forwarded),
            "dropped": read(&self.dropped),
            "batches_sent": read(&self.batches_sent),
            "batches_lost": read(&self.batches_lost),
            "redis_commands": read(&self.redis_commands),
            "batches_received": read(&self.batches_received),
            "received": read(&self.received),
            "refused": read(&self.refused),
            "bad_batches": read(&self.bad_batches),
            "route_errors": read(&self.route_errors),
            "remote_routes": read(&self.remote_routes),
            "remote_groups": read(&self.remote_groups),
            "shared_elsewhere": read(&self.shared_elsewhere),
            "lag_ms": read(&self.lag_ms),
            "taken_over": read(&self.taken_over),
            "sessions_moved_in": read(&self.sessions_moved_in),
            "sessions_moved_out": read(&self.sessions_moved_out),
            "handovers_unanswered": read(&self.handovers_unanswered),
        })
    }
}

/// Log lines for the difference between two readings.
fn changes(before: &[Member], after: &[Member]) -> Vec<String> {
    let mut lines = Vec::new();
    for member in after {
        match before.iter().find(|m| m.name == member.name) {
            None if member.up => lines.push(format!("cluster node {} joined", member.name)),
            Some(old) if old.up && !member.up => {
                lines.push(format!("cluster node {} is down", member.name))
            }
            Some(old) if !old.up && member.up => {
                lines.push(format!("cluster node {} is up again", member.name))
            }
            _ => {}
        }
    }
    for member in before {
        if !after.iter().any(|m| m.name == member.name) {
            lines.push(format!("cluster node {} left", member.name));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, up: bool) -> Member {
        Member {
            name: name.to_owned(),
            up,
            last_seen_ms: 1,
            figures: Default::default(),
        }
    }

    #[test]
    fn joins_deaths_returns_and_departures_are_told() {
        let before = [member("a", true), member("b", true), member("c", false)];
        let after = [
            member("a", true),
            member("b", false),
            member("c", true),
            member("d", true),
        ];
        assert_eq!(
            changes(&before, &after),
            [
                "cluster node b is down",
                "cluster node c is up again",
                "cluster node d joined"
            ]
        );
        assert_eq!(
            changes(&after, &after[..1]),
            [
                "cluster node b left",
                "cluster node c left",
                "cluster node d left"
            ]
        );
    }
}
