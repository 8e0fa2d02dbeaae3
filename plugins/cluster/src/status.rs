//! What the admin API shows of the cluster (`GET /api/v1/cluster`, the
//! plugin's stats, `mqhost ctl cluster status`): the members as this node
//! last read them, and this node's figures. Numbers become Prometheus
//! samples (`mqhost_plugin_…`), so each node exposes its own.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde_json::{json, Value};

use crate::membership::{Figures, Member};
use crate::{lock, Shared};

/// The figures the tasks keep.
#[derive(Default)]
pub(crate) struct Status {
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
            routes: 0,
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
            "heartbeat_errors": self.heartbeat_errors.load(Ordering::Relaxed),
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
