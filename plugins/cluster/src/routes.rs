//! Routes: which filters this node's sessions subscribe to (kept in
//! Redis for the others), and which filters every other node's do (this
//! node's copy, kept current by notifications). Pure: no I/O.
//!
//! Shared subscriptions (`$share/…`) are not routes yet: a group is
//! served by the members on the node where a message is published.

use std::collections::{HashMap, HashSet};

use mqhost_plugin_api::topic;

/// A change of this node's routes, for Redis and the other nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// The first session here subscribed to the filter.
    Added(String),
    /// The last one left it.
    Removed(String),
}

/// This node's routes: each filter with the sessions subscribed to it.
#[derive(Default)]
pub(crate) struct Local {
    counts: HashMap<String, u32>,
    by_client: HashMap<String, HashSet<String>>,
}

/// Whether a filter is routed between nodes.
fn routed(filter: &str) -> bool {
    !topic::is_shared(filter)
}

impl Local {
    /// `client` subscribed to `filter`; a change when it is the filter's
    /// first here.
    pub(crate) fn subscribe(&mut self, client: &str, filter: &str) -> Option<Change> {
        if !routed(filter) {
            return None;
        }
        let filters = self.by_client.entry(client.to_owned()).or_default();
        if !filters.insert(filter.to_owned()) {
            return None;
        }
        let count = self.counts.entry(filter.to_owned()).or_insert(0);
        *count += 1;
        (*count == 1).then(|| Change::Added(filter.to_owned()))
    }

    /// `client` left `filter`; a change when it was the filter's last.
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
        if *count == 0 {
            self.counts.remove(filter);
            return Some(Change::Removed(filter.to_owned()));
        }
        None
    }

    /// Whether `client` has routes here (its session may still exist).
    pub(crate) fn has_client(&self, client: &str) -> bool {
        self.by_client.contains_key(client)
    }

    /// How many distinct filters.
    pub(crate) fn len(&self) -> usize {
        self.counts.len()
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

/// The other nodes' routes, as this node knows them.
#[derive(Default, Debug)]
pub(crate) struct Remote {
    nodes: HashMap<String, NodeRoutes>,
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

    /// Forgets every route of `node` (it died, or restarted afresh).
    pub(crate) fn forget(&mut self, node: &str) {
        self.nodes.remove(node);
    }

    /// The nodes with a route matching topic `name`, each once.
    pub(crate) fn nodes_for(&self, name: &str) -> Vec<&str> {
        self.nodes
            .iter()
            .filter(|(_, routes)| routes.matches(name))
            .map(|(node, _)| node.as_str())
            .collect()
    }

    /// How many routes of other nodes are known.
    pub(crate) fn len(&self) -> usize {
        self.nodes.values().map(NodeRoutes::len).sum()
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
        assert_eq!(local.subscribe("c", "$share/g/t"), None);
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
}
