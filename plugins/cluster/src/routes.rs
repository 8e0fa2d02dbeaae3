//! Routes: which filters this node's sessions subscribe to (kept in
//! Redis for the others), and which filters every other node's do (this
//! node's copy, kept current by notifications). Pure: no I/O.
//!
//! A shared subscription (`$share/group/filter`) is not a route: each
//! node tells the others how many of its sessions are members of the
//! group, and the node where a message is published chooses, among the
//! nodes with members (itself included), the one that serves the group
//! for that message ([`Remote::serve_groups`]). Turns are weighted by
//! members: in each cycle of as many messages as the group has members
//! in the cluster, a node gets as many as it has members, and the host's
//! own round robin there gives each member one. So every member gets an
//! equal share wherever it is, which a round robin over nodes would not
//! give a node with more members than another.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use mqhost_plugin_api::topic;

/// A change of this node's routes, for Redis and the other nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// The first session here subscribed to the filter.
    Added(String),
    /// The last one left it.
    Removed(String),
    /// How many sessions here are members of a shared subscription
    /// (`$share/group/filter`) now; 0 when the last one left.
    Members(String, u32),
}

/// This node's routes: each filter with the sessions subscribed to it,
/// shared subscriptions included.
#[derive(Default)]
pub(crate) struct Local {
    counts: HashMap<String, u32>,
    by_client: HashMap<String, HashSet<String>>,
}

/// Whether a filter is routed between nodes (a shared subscription is a
/// group with members instead).
fn routed(filter: &str) -> bool {
    !topic::is_shared(filter)
}

impl Local {
    /// `client` subscribed to `filter`; a change when it is the filter's
    /// first here, or a shared subscription's new count.
    pub(crate) fn subscribe(&mut self, client: &str, filter: &str) -> Option<Change> {
        let filters = self.by_client.entry(client.to_owned()).or_default();
        if !filters.insert(filter.to_owned()) {
            return None;
        }
        let count = self.counts.entry(filter.to_owned()).or_insert(0);
        *count += 1;
        if !routed(filter) {
            return Some(Change::Members(filter.to_owned(), *count));
        }
        (*count == 1).then(|| Change::Added(filter.to_owned()))
    }

    /// `client` left `filter`; a change when it was the filter's last, or
    /// a shared subscription's new count.
    pub(crate) fn unsubscribe(&mut self, client: &str, filter: &str) -> Option<Change> {
        let filters = self.by_client.get_mut(client)?;
        if !filters.remove(filter) {
            return None;
        }
        if filters.is_empty() {
            self.by_client.remove(client);
        }
        self.release(filter)
    }

    /// `client`'s session ended: every filter of it goes.
    pub(crate) fn end_session(&mut self, client: &str) -> Vec<Change> {
        let filters = self.by_client.remove(client).unwrap_or_default();
        filters.iter().filter_map(|f| self.release(f)).collect()
    }

    fn release(&mut self, filter: &str) -> Option<Change> {
        let count = self.counts.get_mut(filter)?;
        *count -= 1;
        let left = *count;
        if left == 0 {
            self.counts.remove(filter);
        }
        if !routed(filter) {
            return Some(Change::Members(filter.to_owned(), left));
        }
        (left == 0).then(|| Change::Removed(filter.to_owned()))
    }

    /// Whether `client` has routes here (its session may still exist).
    pub(crate) fn has_client(&self, client: &str) -> bool {
        self.by_client.contains_key(client)
    }

    /// How many sessions here are members of `shared_filter`.
    pub(crate) fn members(&self, shared_filter: &str) -> u32 {
        self.counts.get(shared_filter).copied().unwrap_or(0)
    }

    /// How many distinct filters, shared subscriptions included.
    pub(crate) fn len(&self) -> usize {
        self.counts.len()
    }

    /// The changes that make what Redis holds of this node (its route set
    /// `stored_routes`, its members hash `stored_members`) what this node
    /// has: after a failover the new master may lack the last changes the
    /// old one took. Routes first, then member counts, each sorted.
    pub(crate) fn repair(
        &self,
        stored_routes: &HashSet<String>,
        stored_members: &HashMap<String, String>,
    ) -> Vec<Change> {
        let mut routes = Vec::new();
        let mut members = Vec::new();
        for (filter, &count) in &self.counts {
            if !routed(filter) {
                let stored = stored_members.get(filter).and_then(|c| c.parse().ok());
                if stored != Some(count) {
                    members.push(Change::Members(filter.clone(), count));
                }
            } else if !stored_routes.contains(filter) {
                routes.push(Change::Added(filter.clone()));
            }
        }
        for filter in stored_routes {
            if !self.counts.contains_key(filter) {
                routes.push(Change::Removed(filter.clone()));
            }
        }
        for group in stored_members.keys() {
            if !self.counts.contains_key(group) {
                members.push(Change::Members(group.clone(), 0));
            }
        }
        let key = |change: &Change| format!("{change:?}");
        routes.sort_by_key(key);
        members.sort_by_key(key);
        routes.extend(members);
        routes
    }
}

/// One other node's filters: exact ones looked up, wildcard ones matched.
#[derive(Default, Debug)]
struct NodeRoutes {
    exact: HashSet<String>,
    wild: HashSet<String>,
}

impl NodeRoutes {
    fn add(&mut self, filter: &str) {
        if topic::has_wildcards(filter) {
            self.wild.insert(filter.to_owned());
        } else {
            self.exact.insert(filter.to_owned());
        }
    }

    fn remove(&mut self, filter: &str) {
        self.exact.remove(filter);
        self.wild.remove(filter);
    }

    fn matches(&self, name: &str) -> bool {
        self.exact.contains(name) || self.wild.iter().any(|f| topic::matches(f, name))
    }

    fn len(&self) -> usize {
        self.exact.len() + self.wild.len()
    }
}

/// A shared subscription with members on other nodes.
#[derive(Debug)]
struct Group {
    /// The topics it is about (the filter after `$share/group/`).
    filter: String,
    /// Members on each other node, never 0; ordered by node name, so that
    /// turns go round the nodes in one order.
    members: BTreeMap<String, u32>,
    /// The next turn. Atomic: the hook chooses under the read lock.
    turn: AtomicU64,
}

/// The other nodes' routes and shared subscription members, as this node
/// knows them.
#[derive(Default, Debug)]
pub(crate) struct Remote {
    nodes: HashMap<String, NodeRoutes>,
    /// By `$share/group/filter`.
    groups: HashMap<String, Group>,
}

impl Remote {
    pub(crate) fn add(&mut self, node: &str, filter: &str) {
        if routed(filter) {
            self.nodes.entry(node.to_owned()).or_default().add(filter);
        }
    }

    pub(crate) fn remove(&mut self, node: &str, filter: &str) {
        if let Some(routes) = self.nodes.get_mut(node) {
            routes.remove(filter);
        }
    }

    /// `node` has `count` members of `shared_filter` now (0: none). A name
    /// that is not a shared subscription is ignored.
    pub(crate) fn set_members(&mut self, node: &str, shared_filter: &str, count: u32) {
        let Ok(Some(shared)) = topic::parse_shared(shared_filter) else {
            return;
        };
        if count == 0 {
            if let Some(group) = self.groups.get_mut(shared_filter) {
                group.members.remove(node);
                if group.members.is_empty() {
                    self.groups.remove(shared_filter);
                }
            }
            return;
        }
        let group = self
            .groups
            .entry(shared_filter.to_owned())
            .or_insert_with(|| Group {
                filter: shared.filter.to_owned(),
                members: BTreeMap::new(),
                turn: AtomicU64::new(0),
            });
        group.members.insert(node.to_owned(), count);
    }

    /// Forgets every route and member of `node` (it died, or restarted
    /// afresh).
    pub(crate) fn forget(&mut self, node: &str) {
        self.nodes.remove(node);
        self.groups.retain(|_, group| {
            group.members.remove(node);
            !group.members.is_empty()
        });
    }

    /// The nodes with a route matching topic `name`, each once.
    pub(crate) fn nodes_for(&self, name: &str) -> Vec<&str> {
        self.nodes
            .iter()
            .filter(|(_, routes)| routes.matches(name))
            .map(|(node, _)| node.as_str())
            .collect()
    }

    /// For each shared subscription matching topic `name` that has
    /// members on other nodes, takes a turn and calls `chosen` with its
    /// name and the node whose turn it is: `None` for this node, which
    /// has `here(name)` members. A group with members here only is not
    /// this map's business: the host serves it without asking.
    pub(crate) fn serve_groups<'a>(
        &'a self,
        name: &str,
        here: impl Fn(&str) -> u32,
        mut chosen: impl FnMut(&'a str, Option<&'a str>),
    ) {
        for (shared_filter, group) in &self.groups {
            if !topic::matches(&group.filter, name) {
                continue;
            }
            let local = u64::from(here(shared_filter));
            let total = local + group.members.values().map(|&n| u64::from(n)).sum::<u64>();
            let mut turn = group.turn.fetch_add(1, Ordering::Relaxed) % total;
            if turn < local {
                chosen(shared_filter, None);
                continue;
            }
            turn -= local;
            for (node, &count) in &group.members {
                if turn < u64::from(count) {
                    chosen(shared_filter, Some(node));
                    break;
                }
                turn -= u64::from(count);
            }
        }
    }

    /// How many routes of other nodes are known.
    pub(crate) fn len(&self) -> usize {
        self.nodes.values().map(NodeRoutes::len).sum()
    }

    /// How many (shared subscription, node) memberships of other nodes
    /// are known.
    pub(crate) fn groups_len(&self) -> usize {
        self.groups.values().map(|g| g.members.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_is_a_route_from_its_first_subscriber_to_its_last() {
        let mut local = Local::default();
        assert_eq!(
            local.subscribe("a", "t/#"),
            Some(Change::Added("t/#".into()))
        );
        assert_eq!(local.subscribe("a", "t/#"), None);
        assert_eq!(local.subscribe("b", "t/#"), None);
        assert_eq!(local.unsubscribe("a", "t/#"), None);
        assert_eq!(local.unsubscribe("a", "t/#"), None);
        assert_eq!(local.subscribe("b", "x"), Some(Change::Added("x".into())));
        let mut ended = local.end_session("b");
        ended.sort_by_key(|c| format!("{c:?}"));
        assert_eq!(
            ended,
            [Change::Removed("t/#".into()), Change::Removed("x".into())]
        );
        assert_eq!(local.len(), 0);
        assert!(!local.has_client("b"));
        assert_eq!(
            local.subscribe("c", "$share/g/t"),
            Some(Change::Members("$share/g/t".into(), 1))
        );
    }

    #[test]
    fn remote_routes_match_exact_and_wildcard_filters_once_per_node() {
        let mut remote = Remote::default();
        remote.add("n2", "a/b");
        remote.add("n2", "a/+");
        remote.add("n3", "#");
        remote.add("n3", "$share/g/a/b");
        let mut nodes = remote.nodes_for("a/b");
        nodes.sort();
        assert_eq!(nodes, ["n2", "n3"]);
        assert_eq!(remote.nodes_for("$SYS/x"), Vec::<&str>::new());
        remote.remove("n3", "#");
        assert_eq!(remote.nodes_for("z"), Vec::<&str>::new());
        remote.forget("n2");
        assert_eq!(remote.len(), 0);
    }

    #[test]
    fn shared_subscriptions_count_their_members_here() {
        let mut local = Local::default();
        let group = "$share/g/jobs/+";
        let members = |n| Some(Change::Members(group.into(), n));
        assert_eq!(local.subscribe("a", group), members(1));
        assert_eq!(local.subscribe("a", group), None);
        assert_eq!(local.subscribe("b", group), members(2));
        assert_eq!(local.members(group), 2);
        assert_eq!(local.unsubscribe("a", group), members(1));
        assert_eq!(local.end_session("b"), [Change::Members(group.into(), 0)]);
        assert_eq!(local.members(group), 0);
        assert_eq!(local.len(), 0);
    }

    /// Who serves `name` for `count` messages, with `here` members here.
    fn turns(remote: &Remote, name: &str, here: u32, count: usize) -> Vec<(String, String)> {
        let mut picks = Vec::new();
        for _ in 0..count {
            remote.serve_groups(
                name,
                |_| here,
                |group, node| picks.push((group.to_owned(), node.unwrap_or("here").to_owned())),
            );
        }
        picks
    }

    #[test]
    fn a_group_is_served_by_its_nodes_in_turn_by_members() {
        let mut remote = Remote::default();
        remote.set_members("n2", "$share/g/jobs/+", 1);
        remote.set_members("n3", "$share/g/jobs/+", 2);
        remote.set_members("n3", "not shared", 5);
        let picks = turns(&remote, "jobs/1", 1, 8);
        let served: Vec<&str> = picks.iter().map(|(_, node)| node.as_str()).collect();
        // Each cycle of 4 (the group's members): 1 here, 1 on n2, 2 on n3.
        assert_eq!(served, ["here", "n2", "n3", "n3", "here", "n2", "n3", "n3"]);
        assert!(picks.iter().all(|(group, _)| group == "$share/g/jobs/+"));
        assert!(turns(&remote, "other/1", 1, 1).is_empty());
        // Without members here, the others share it.
        let served = turns(&remote, "jobs/2", 0, 3);
        assert_eq!(served.len(), 3);
        assert!(served.iter().all(|(_, node)| node != "here"), "{served:?}");
        // A node gone is never chosen again.
        remote.forget("n3");
        let served = turns(&remote, "jobs/3", 0, 3);
        assert!(served.iter().all(|(_, node)| node == "n2"), "{served:?}");
        remote.set_members("n2", "$share/g/jobs/+", 0);
        assert!(turns(&remote, "jobs/4", 1, 1).is_empty());
        assert_eq!(remote.groups_len(), 0);
    }

    #[test]
    fn what_redis_lost_of_this_node_is_written_again_and_what_it_kept_too_long_removed() {
        let mut local = Local::default();
        local.subscribe("a", "kept");
        local.subscribe("a", "lost");
        local.subscribe("a", "$share/g/t");
        local.subscribe("b", "$share/g/t");
        local.subscribe("a", "$share/h/t");
        let stored_routes: HashSet<String> = ["kept", "stale"].map(String::from).into();
        let stored_members: HashMap<String, String> = [
            ("$share/g/t", "1"),
            ("$share/h/t", "1"),
            ("$share/old/t", "4"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into();
        assert_eq!(
            local.repair(&stored_routes, &stored_members),
            [
                Change::Added("lost".into()),
                Change::Removed("stale".into()),
                Change::Members("$share/g/t".into(), 2),
                Change::Members("$share/old/t".into(), 0),
            ]
        );
        assert!(Local::default()
            .repair(&HashSet::new(), &HashMap::new())
            .is_empty());
    }
}
