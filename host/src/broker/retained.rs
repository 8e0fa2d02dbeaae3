//! The retained-message store: at most one retained value per topic name,
//! indexed by topic levels so that a wildcard lookup (on SUBSCRIBE) only
//! visits branches that can match the filter instead of every topic.
//!
//! Topic names come straight from clients and may have up to 65536 levels,
//! so no operation here recurses over levels.

use std::collections::HashMap;
use std::fmt;

/// Retained values of type `V`, one per topic name.
pub struct RetainedStore<V> {
    root: Node<V>,
    /// Number of stored values.
    len: usize,
}

/// One level of the topic tree. The root stands for "no level yet" and never
/// holds a value.
struct Node<V> {
    children: HashMap<Box<str>, Node<V>>,
    value: Option<V>,
}

impl<V> Default for Node<V> {
    fn default() -> Self {
        Node {
            children: HashMap::new(),
            value: None,
        }
    }
}

impl<V> Node<V> {
    fn is_empty(&self) -> bool {
        self.children.is_empty() && self.value.is_none()
    }

    fn descend(&self, topic: &str) -> Option<&Node<V>> {
        let mut node = self;
        for level in topic.split('/') {
            node = node.children.get(level)?;
        }
        Some(node)
    }

    fn descend_mut<'a>(&mut self, levels: impl Iterator<Item = &'a str>) -> Option<&mut Node<V>> {
        let mut node = self;
        for level in levels {
            node = node.children.get_mut(level)?;
        }
        Some(node)
    }
}

impl<V> Drop for Node<V> {
    fn drop(&mut self) {
        // The default drop would recurse once per level; flatten it instead.
        if self.children.is_empty() {
            return;
        }
        let mut pending: Vec<Node<V>> = self.children.drain().map(|(_, n)| n).collect();
        while let Some(mut node) = pending.pop() {
            pending.extend(node.children.drain().map(|(_, n)| n));
            // `node` is dropped here with no children left.
        }
    }
}

/// Whether a child of the root must be skipped by a wildcard: topics whose
/// first level starts with `$` are not matched by a leading `+` or `#`.
fn hidden_from_wildcard(node_is_root: bool, level: &str) -> bool {
    node_is_root && level.starts_with('$')
}

impl<V: Clone> Default for RetainedStore<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V> fmt::Debug for RetainedStore<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetainedStore")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl<V: Clone> RetainedStore<V> {
    /// An empty store.
    pub fn new() -> Self {
        RetainedStore {
            root: Node::default(),
            len: 0,
        }
    }

    /// Stores `value` as the retained value of `topic`, returning the value
    /// it replaces, if any. `topic` must be a valid topic name.
    pub fn insert(&mut self, topic: &str, value: V) -> Option<V> {
        debug_assert!(
            super::topic::validate_topic_name(topic).is_ok(),
            "invalid topic name {topic:?}"
        );
        let mut node = &mut self.root;
        for level in topic.split('/') {
            // Look up first so that an existing level does not cost a key allocation.
            if !node.children.contains_key(level) {
                node.children.insert(level.into(), Node::default());
            }
            node = node
                .children
                .get_mut(level)
                .expect("child was just inserted");
        }
        let previous = node.value.replace(value);
        if previous.is_none() {
            self.len += 1;
        }
        previous
    }

    /// Removes and returns the retained value of `topic`, if any.
    pub fn remove(&mut self, topic: &str) -> Option<V> {
        let node = self.root.descend_mut(topic.split('/'))?;
        let removed = node.value.take()?;
        let now_empty = node.is_empty();
        self.len -= 1;
        if now_empty {
            self.prune(topic);
        }
        Some(removed)
    }

    /// The retained value of exactly `topic` (no wildcard interpretation).
    pub fn get(&self, topic: &str) -> Option<&V> {
        self.root.descend(topic)?.value.as_ref()
    }

    /// Clones of every retained value whose topic matches `filter` under
    /// [`super::topic::matches`], in unspecified order. `filter` must be a
    /// valid filter; a leading `+` or `#` does not match `$` topics.
    pub fn matching(&self, filter: &str) -> Vec<V> {
        let mut out = Vec::new();
        // Pending (node, remaining filter levels); `None` = filter consumed.
        let mut stack: Vec<(&Node<V>, Option<&str>)> = vec![(&self.root, Some(filter))];
        while let Some((node, rest)) = stack.pop() {
            let Some(rest) = rest else {
                out.extend(node.value.clone());
                continue;
            };
            let is_root = std::ptr::eq(node, &self.root);
            let (level, rest) = match rest.split_once('/') {
                Some((level, rest)) => (level, Some(rest)),
                None => (rest, None),
            };
            match level {
                "#" => {
                    // `x/#` matches `x` itself and everything below it.
                    out.extend(node.value.clone());
                    for (level, child) in &node.children {
                        if !hidden_from_wildcard(is_root, level) {
                            collect_subtree(child, &mut out);
                        }
                    }
                }
                "+" => {
                    for (level, child) in &node.children {
                        if !hidden_from_wildcard(is_root, level) {
                            stack.push((child, rest));
                        }
                    }
                }
                _ => {
                    if let Some(child) = node.children.get(level) {
                        stack.push((child, rest));
                    }
                }
            }
        }
        out
    }

    /// Removes every value for which `keep(topic, value)` is false and
    /// returns how many were removed; `keep` sees each value once.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &V) -> bool) -> usize {
        // Collect first and remove afterwards, so that pruning empty branches
        // reuses `remove` instead of a second, post-order traversal.
        let mut doomed = Vec::new();
        let mut topic = String::new();
        // Pending (node, level, length of the parent's topic in `topic`,
        // whether the node is a first level and so has no '/' before it).
        let mut stack: Vec<(&Node<V>, &str, usize, bool)> = self
            .root
            .children
            .iter()
            .map(|(level, child)| (child, &**level, 0, true))
            .collect();
        while let Some((node, level, parent_len, first)) = stack.pop() {
            // Depth-first order means the buffer still holds the parent's
            // topic, possibly followed by a finished sibling branch.
            topic.truncate(parent_len);
            if !first {
                topic.push('/');
            }
            topic.push_str(level);
            if let Some(value) = &node.value {
                if !keep(&topic, value) {
                    doomed.push(topic.clone());
                }
            }
            let len = topic.len();
            stack.extend(
                node.children
                    .iter()
                    .map(|(level, child)| (child, &**level, len, false)),
            );
        }
        for topic in &doomed {
            self.remove(topic);
        }
        doomed.len()
    }

    /// Number of retained values.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True iff no value is retained.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of nodes below the root; lets tests check that removal prunes.
    #[cfg(test)]
    pub(crate) fn node_count(&self) -> usize {
        let mut count = 0;
        let mut stack = vec![&self.root];
        while let Some(node) = stack.pop() {
            count += node.children.len();
            stack.extend(node.children.values());
        }
        count
    }

    /// Removes the empty node of `topic` together with every ancestor that
    /// existed only to lead to it. The root is never removed.
    fn prune(&mut self, topic: &str) {
        // The deepest node on the path that must stay: the root, or one with
        // a value or with children off the path.
        let mut keep_depth = 0;
        let mut node = &self.root;
        for (depth, level) in topic.split('/').enumerate() {
            if depth > 0 && (node.value.is_some() || node.children.len() > 1) {
                keep_depth = depth;
            }
            match node.children.get(level) {
                Some(child) => node = child,
                None => return,
            }
        }
        if !node.is_empty() {
            return;
        }
        let mut levels = topic.split('/');
        let Some(keep) = self.root.descend_mut(levels.by_ref().take(keep_depth)) else {
            return;
        };
        if let Some(level) = levels.next() {
            keep.children.remove(level);
        }
    }
}

/// Appends clones of the values of `node` and all its descendants.
fn collect_subtree<V: Clone>(node: &Node<V>, out: &mut Vec<V>) {
    let mut stack = vec![node];
    while let Some(node) = stack.pop() {
        out.extend(node.value.clone());
        stack.extend(node.children.values());
    }
}

#[cfg(test)]
mod tests {
    use super::super::topic;
    use super::super::topic_gen::test_support::Generator;
    use super::*;

    fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
        v.sort_unstable();
        v
    }

    fn store_of(topics: &[&'static str]) -> RetainedStore<&'static str> {
        let mut store = RetainedStore::new();
        for topic in topics {
            store.insert(topic, *topic);
        }
        store
    }

    #[test]
    fn insert_replaces_and_returns_previous_value() {
        let mut store = RetainedStore::new();
        assert_eq!(store.insert("a/b", 1), None);
        assert_eq!(store.insert("a/b", 2), Some(1));
        assert_eq!(store.insert("a", 3), None);
        assert_eq!(store.len(), 2);
        assert_eq!(store.get("a/b"), Some(&2));
        assert_eq!(store.get("a"), Some(&3));
    }

    #[test]
    fn get_finds_only_the_exact_topic() {
        let store = store_of(&["a/b"]);
        assert_eq!(store.get("a/b"), Some(&"a/b"));
        for topic in ["a", "a/b/c", "a//b", "a/b/", "b"] {
            assert_eq!(store.get(topic), None, "{topic:?}");
        }
        // Wildcards are not interpreted by `get`.
        assert_eq!(store.get("a/+"), None);
        assert_eq!(store.get("#"), None);
    }

    #[test]
    fn remove_returns_value_and_forgets_it() {
        let mut store = store_of(&["a/b", "a/b/c"]);
        assert_eq!(store.remove("a/b"), Some("a/b"));
        assert_eq!(store.remove("a/b"), None);
        assert_eq!(store.remove("x/y"), None);
        assert_eq!(store.get("a/b"), None);
        assert_eq!(store.get("a/b/c"), Some(&"a/b/c"));
        assert_eq!(store.len(), 1);
        assert_eq!(store.remove("a/b/c"), Some("a/b/c"));
        assert!(store.is_empty());
        assert_eq!(store.node_count(), 0);
    }

    #[test]
    fn literal_filter_matches_only_its_topic() {
        let store = store_of(&["a/b", "a/b/c", "a", "a//b"]);
        assert_eq!(store.matching("a/b"), ["a/b"]);
        assert_eq!(store.matching("a//b"), ["a//b"]);
        assert!(store.matching("b").is_empty());
    }

    #[test]
    fn plus_matches_exactly_one_level() {
        let store = store_of(&["a", "a/b", "a/c", "a/", "a/b/c", "x/b"]);
        assert_eq!(sorted(store.matching("a/+")), ["a/", "a/b", "a/c"]);
        assert_eq!(sorted(store.matching("+/b")), ["a/b", "x/b"]);
        assert_eq!(sorted(store.matching("+")), ["a"]);
        assert_eq!(sorted(store.matching("+/+/+")), ["a/b/c"]);
    }

    #[test]
    fn hash_matches_parent_level() {
        let store = store_of(&["a", "a/b", "a/b/c", "b"]);
        assert_eq!(sorted(store.matching("a/#")), ["a", "a/b", "a/b/c"]);
        assert_eq!(sorted(store.matching("a/b/#")), ["a/b", "a/b/c"]);
    }

    #[test]
    fn hash_matches_everything_below() {
        let store = store_of(&["a", "a/b", "/x", "b/c/d"]);
        assert_eq!(sorted(store.matching("#")), ["/x", "a", "a/b", "b/c/d"]);
        assert_eq!(sorted(store.matching("+/#")), ["/x", "a", "a/b", "b/c/d"]);
        assert_eq!(sorted(store.matching("/#")), ["/x"]);
    }

    #[test]
    fn dollar_topics_not_matched_by_leading_wildcard() {
        let store = store_of(&["$SYS/uptime", "$SYS", "a/$x", "a"]);
        assert_eq!(sorted(store.matching("#")), ["a", "a/$x"]);
        assert_eq!(sorted(store.matching("+")), ["a"]);
        assert_eq!(sorted(store.matching("+/+")), ["a/$x"]);
        assert_eq!(sorted(store.matching("$SYS/#")), ["$SYS", "$SYS/uptime"]);
        assert_eq!(sorted(store.matching("$SYS/+")), ["$SYS/uptime"]);
        assert_eq!(sorted(store.matching("a/+")), ["a/$x"]);
    }

    #[test]
    fn retain_removes_rejected_values_and_counts_them() {
        let mut store = store_of(&["a", "a/b", "/x", "a//b", "$SYS/y", "keep/me"]);
        let mut seen = Vec::new();
        let removed = store.retain(|topic, value| {
            // Each value is offered under its own topic.
            assert_eq!(topic, *value);
            seen.push(topic.to_owned());
            topic.starts_with("keep")
        });
        assert_eq!(removed, 5);
        assert_eq!(
            sorted(seen),
            ["$SYS/y", "/x", "a", "a//b", "a/b", "keep/me"]
        );
        assert_eq!(store.len(), 1);
        assert_eq!(store.matching("#"), ["keep/me"]);
        assert_eq!(store.node_count(), 2);
        assert_eq!(store.retain(|_, _| true), 0);
    }

    #[test]
    fn empty_nodes_are_pruned_after_churn() {
        let mut store = store_of(&["keep/me"]);
        let topic = |i: usize| format!("t/{}/{i}/x", i % 7);
        for i in 0..1000 {
            store.insert(&topic(i), "churn");
        }
        assert!(store.node_count() > 2000);
        // Half goes through `remove`, the rest through `retain` (expiry).
        for i in 0..500 {
            assert_eq!(store.remove(&topic(i)), Some("churn"));
        }
        assert_eq!(store.retain(|topic, _| topic == "keep/me"), 500);
        assert_eq!(store.node_count(), 2);
        assert_eq!(store.len(), 1);
        assert_eq!(store.get("keep/me"), Some(&"keep/me"));
    }

    #[test]
    fn pruning_keeps_nodes_still_in_use() {
        let mut store = store_of(&["a/b/c/d", "a/b", "a/x"]);
        assert_eq!(store.node_count(), 5); // a, b, c, d, x
        store.remove("a/b/c/d");
        assert_eq!(store.node_count(), 3);
        assert_eq!(store.get("a/b"), Some(&"a/b"));
        store.remove("a/b");
        assert_eq!(store.node_count(), 2);
        assert_eq!(store.matching("a/#"), ["a/x"]);
    }

    #[test]
    fn very_deep_topics_do_not_exhaust_the_stack() {
        // 60000 levels: recursion over levels would overflow a test thread's
        // stack, so this checks that every operation iterates.
        let deep = "/".repeat(59_999);
        let mut store = RetainedStore::new();
        store.insert(&deep, 1);
        store.insert("a", 2);
        assert_eq!(store.get(&deep), Some(&1));
        assert_eq!(sorted(store.matching("#")), [1, 2]);
        assert_eq!(store.matching(&format!("{deep}/#")), [1]);
        assert_eq!(store.retain(|topic, _| topic.len() == 59_999), 1);
        assert_eq!(store.remove(&deep), Some(1));
        assert_eq!(store.node_count(), 0);
        store.insert(&deep, 3);
        drop(store);
    }

    #[test]
    fn store_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<RetainedStore<std::sync::Arc<[u8]>>>();
    }

    #[test]
    fn matching_agrees_with_brute_force() {
        let mut rng = Generator::new(0xface);
        let mut topics: Vec<String> = (0..300).map(|_| rng.topic()).collect();
        topics.sort_unstable();
        topics.dedup();
        let filters: Vec<String> = (0..300).map(|_| rng.filter()).collect();

        let mut store = RetainedStore::new();
        for topic in &topics {
            store.insert(topic, topic.clone());
        }
        assert_eq!(store.len(), topics.len());
        let check = |store: &RetainedStore<String>, live: &[&String]| {
            let mut total = 0;
            for filter in &filters {
                let got = sorted(store.matching(filter));
                let want: Vec<String> = sorted(
                    live.iter()
                        .filter(|t| topic::matches(filter, t))
                        .map(|t| (*t).clone())
                        .collect(),
                );
                assert_eq!(got, want, "filter {filter:?}");
                total += got.len();
            }
            total
        };
        let all: Vec<&String> = topics.iter().collect();
        let total = check(&store, &all);
        // Guard against a generator that rarely produces matches.
        assert!(total > 1000, "only {total} matches");

        // Removing a pseudo-random half must leave exactly the rest.
        let doomed: Vec<bool> = topics.iter().map(|_| rng.below(2) == 0).collect();
        let removed = store.retain(|topic, _| {
            let i = topics.binary_search_by(|t| t.as_str().cmp(topic)).unwrap();
            !doomed[i]
        });
        let live: Vec<&String> = topics
            .iter()
            .zip(&doomed)
            .filter(|(_, &d)| !d)
            .map(|(t, _)| t)
            .collect();
        assert_eq!(removed, topics.len() - live.len());
        assert_eq!(store.len(), live.len());
        check(&store, &live);
    }
}
