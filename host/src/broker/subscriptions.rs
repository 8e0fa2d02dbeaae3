//! The subscription tree: every subscription (plain and shared) indexed by the
//! levels of its topic filter, so that finding the subscribers of a PUBLISH
//! only visits branches that can match its topic.
//!
//! The router keeps one [`SubscriptionTree`] behind a read-write lock.
//! Matching runs for every PUBLISH under the read lock, so it takes `&self`,
//! does not allocate for topics of ordinary depth, and keeps the round-robin
//! position of shared groups in atomics. Subscribing and unsubscribing take
//! the write lock and keep the tree free of empty nodes.
//!
//! Filters come straight from clients and may be up to 65535 bytes long, i.e.
//! up to 65536 levels deep, so no operation here recurses over levels (a deep
//! enough recursion would overflow the stack of the task running it).

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Subscriptions of sessions (identified by `K`) to topic filters, each with
/// its data `V`, answering which of them a published topic reaches.
pub struct SubscriptionTree<K, V> {
    root: Node<K, V>,
    /// Number of (filter, key) subscriptions, shared members included.
    len: usize,
}

/// One level of the filter tree. The root stands for "no level yet".
struct Node<K, V> {
    /// Children reached by a literal level (the empty level included).
    literal: HashMap<Box<str>, Node<K, V>>,
    /// Child reached by a `+` level.
    plus: Option<Box<Node<K, V>>>,
    /// Subscriptions whose filter ends at this node. Boxed because most nodes
    /// are interior and carry none, which keeps nodes small.
    here: Option<Box<Subscribers<K, V>>>,
    /// Subscriptions whose filter is this node's path followed by `#`.
    hash: Option<Box<Subscribers<K, V>>>,
}

/// The subscriptions attached to one filter.
struct Subscribers<K, V> {
    plain: HashMap<K, V>,
    /// Shared groups on this filter, by group name.
    shared: HashMap<Box<str>, SharedGroup<K, V>>,
}

/// The members of one share group on one filter. Never left empty.
struct SharedGroup<K, V> {
    /// The filter, as in `$share/{group}/{filter}`: which group this is
    /// when a cluster leaves some groups to other nodes.
    filter: Box<str>,
    /// Members; picks rotate through this order. Removal moves the last
    /// member into the gap, which only shifts whose turn comes next.
    members: Vec<(K, V)>,
    /// Position of each member in `members`.
    index: HashMap<K, usize>,
    /// Where the next round-robin pick starts; atomic because picks happen
    /// while the tree is only read-locked.
    next: AtomicUsize,
}

/// Which subscriber set of a node a filter's subscriptions live in.
#[derive(Clone, Copy)]
enum Slot {
    Here,
    Hash,
}

/// Where the subscriptions of `filter` are stored: the node reached by the
/// levels of the returned path (`None` = the root) and the slot there.
fn locate(filter: &str) -> (Option<&str>, Slot) {
    if filter == "#" {
        (None, Slot::Hash)
    } else if let Some(path) = filter.strip_suffix("/#") {
        (Some(path), Slot::Hash)
    } else {
        (Some(filter), Slot::Here)
    }
}

/// The levels of an optional path; `None` has no levels.
fn levels(path: Option<&str>) -> impl Iterator<Item = &str> {
    path.into_iter().flat_map(|p| p.split('/'))
}

/// Splits off the first level of a topic; the remainder is `None` when the
/// level was the last one.
fn split_level(topic: &str) -> (&str, Option<&str>) {
    match topic.split_once('/') {
        Some((level, rest)) => (level, Some(rest)),
        None => (topic, None),
    }
}

impl<K, V> Default for Subscribers<K, V> {
    fn default() -> Self {
        Subscribers {
            plain: HashMap::new(),
            shared: HashMap::new(),
        }
    }
}

impl<K, V> Subscribers<K, V> {
    fn is_empty(&self) -> bool {
        self.plain.is_empty() && self.shared.is_empty()
    }
}

impl<K: Eq + Hash + Clone, V> SharedGroup<K, V> {
    fn new(filter: &str) -> Self {
        SharedGroup {
            filter: filter.into(),
            members: Vec::new(),
            index: HashMap::new(),
            next: AtomicUsize::new(0),
        }
    }

    fn insert(&mut self, key: K, value: V) -> Option<V> {
        if let Some(&i) = self.index.get(&key) {
            return Some(std::mem::replace(&mut self.members[i].1, value));
        }
        self.index.insert(key.clone(), self.members.len());
        self.members.push((key, value));
        None
    }

    fn remove(&mut self, key: &K) -> Option<V> {
        let i = self.index.remove(key)?;
        let (_, value) = self.members.swap_remove(i);
        if let Some((moved, _)) = self.members.get(i) {
            if let Some(pos) = self.index.get_mut(moved) {
                *pos = i;
            }
        }
        Some(value)
    }

    /// The next member in round-robin order for which `eligible` holds, or
    /// the next member at all if none does.
    fn pick(&self, eligible: &impl Fn(&K, &V) -> bool) -> &(K, V) {
        let n = self.members.len();
        // Concurrent pickers each get their own start position.
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        for offset in 0..n {
            let member = &self.members[(start + offset) % n];
            if eligible(&member.0, &member.1) {
                // Continue after the chosen member, so that skipped members
                // do not make the one after them get picked twice in a row.
                if offset > 0 {
                    self.next.fetch_add(offset, Ordering::Relaxed);
                }
                return member;
            }
        }
        &self.members[start]
    }
}

impl<K, V> Default for Node<K, V> {
    fn default() -> Self {
        Node {
            literal: HashMap::new(),
            plus: None,
            here: None,
            hash: None,
        }
    }
}

impl<K, V> Node<K, V> {
    fn is_empty(&self) -> bool {
        self.literal.is_empty() && self.plus.is_none() && self.here.is_none() && self.hash.is_none()
    }

    fn child_count(&self) -> usize {
        self.literal.len() + usize::from(self.plus.is_some())
    }

    fn child(&self, level: &str) -> Option<&Node<K, V>> {
        if level == "+" {
            self.plus.as_deref()
        } else {
            self.literal.get(level)
        }
    }

    fn child_mut(&mut self, level: &str) -> Option<&mut Node<K, V>> {
        if level == "+" {
            self.plus.as_deref_mut()
        } else {
            self.literal.get_mut(level)
        }
    }

    fn child_or_insert(&mut self, level: &str) -> &mut Node<K, V> {
        if level == "+" {
            return self.plus.get_or_insert_with(Box::default);
        }
        // Look up first so that an existing level does not cost a key allocation.
        if !self.literal.contains_key(level) {
            self.literal.insert(level.into(), Node::default());
        }
        self.literal
            .get_mut(level)
            .expect("child was just inserted")
    }

    fn slot_mut(&mut self, slot: Slot) -> &mut Option<Box<Subscribers<K, V>>> {
        match slot {
            Slot::Here => &mut self.here,
            Slot::Hash => &mut self.hash,
        }
    }

    fn descend_mut<'a>(&mut self, path: impl Iterator<Item = &'a str>) -> Option<&mut Node<K, V>> {
        let mut node = self;
        for level in path {
            node = node.child_mut(level)?;
        }
        Some(node)
    }

    /// Moves this node's children into `out`, leaving it childless.
    fn take_children(&mut self, out: &mut Vec<Node<K, V>>) {
        out.extend(self.literal.drain().map(|(_, child)| child));
        if let Some(plus) = self.plus.take() {
            out.push(*plus);
        }
    }
}

impl<K, V> Drop for Node<K, V> {
    fn drop(&mut self) {
        // The default drop would recurse once per level; flatten it instead.
        if self.child_count() == 0 {
            return;
        }
        let mut pending = Vec::new();
        self.take_children(&mut pending);
        while let Some(mut node) = pending.pop() {
            node.take_children(&mut pending);
            // `node` is dropped here with no children left.
        }
    }
}

/// A pending visit during matching: `node` has consumed the topic up to
/// `rest`, which holds the remaining levels (`None` = topic fully consumed).
struct Frame<'a, K, V> {
    node: &'a Node<K, V>,
    rest: Option<&'a str>,
}

impl<K, V> Clone for Frame<'_, K, V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K, V> Copy for Frame<'_, K, V> {}

/// Frames kept inline during matching; the stack never holds more than one
/// frame per topic level plus one, so only very deep topics spill to the heap.
const INLINE_FRAMES: usize = 32;

/// A LIFO stack of frames that lives on the call stack until it outgrows
/// [`INLINE_FRAMES`], so that matching usually does not allocate.
struct FrameStack<'a, K, V> {
    inline: [Option<Frame<'a, K, V>>; INLINE_FRAMES],
    inline_len: usize,
    /// Frames pushed after `inline` filled up; always popped first.
    spill: Vec<Frame<'a, K, V>>,
}

impl<'a, K, V> FrameStack<'a, K, V> {
    fn new() -> Self {
        FrameStack {
            inline: [None; INLINE_FRAMES],
            inline_len: 0,
            spill: Vec::new(),
        }
    }

    fn push(&mut self, frame: Frame<'a, K, V>) {
        if self.inline_len < INLINE_FRAMES {
            self.inline[self.inline_len] = Some(frame);
            self.inline_len += 1;
        } else {
            self.spill.push(frame);
        }
    }

    fn pop(&mut self) -> Option<Frame<'a, K, V>> {
        if let Some(frame) = self.spill.pop() {
            return Some(frame);
        }
        if self.inline_len == 0 {
            return None;
        }
        self.inline_len -= 1;
        self.inline[self.inline_len].take()
    }
}

impl<K: Eq + Hash + Clone, V> Default for SubscriptionTree<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K, V> fmt::Debug for SubscriptionTree<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscriptionTree")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl<K: Eq + Hash + Clone, V> SubscriptionTree<K, V> {
    /// An empty tree.
    pub fn new() -> Self {
        SubscriptionTree {
            root: Node::default(),
            len: 0,
        }
    }

    /// Adds or replaces the subscription of `key` to `filter`; returns the
    /// previous value, so `Some` means the subscription already existed.
    ///
    /// `filter` must be valid (see [`super::topic::validate_filter`]) and not
    /// a `$share/...` filter: split those with [`super::topic::parse_shared`]
    /// and use [`Self::insert_shared`].
    pub fn insert(&mut self, filter: &str, key: K, value: V) -> Option<V> {
        let previous = self.subscribers_or_insert(filter).plain.insert(key, value);
        if previous.is_none() {
            self.len += 1;
        }
        previous
    }

    /// The value of `key`'s subscription to `filter`, if it has one
    /// (`filter` as for [`Self::insert`]).
    pub fn get(&self, filter: &str, key: &K) -> Option<&V> {
        self.subscribers(filter)?.plain.get(key)
    }

    /// The value of `key` as a member of share group `group` on `filter`,
    /// if it is one (the parts as for [`Self::insert_shared`]).
    pub fn get_shared(&self, group: &str, filter: &str, key: &K) -> Option<&V> {
        let members = self.subscribers(filter)?.shared.get(group)?;
        let &i = members.index.get(key)?;
        members.members.get(i).map(|(_, value)| value)
    }

    /// The subscriptions attached to `filter`, if any.
    fn subscribers(&self, filter: &str) -> Option<&Subscribers<K, V>> {
        let (path, slot) = locate(filter);
        let mut node = &self.root;
        for level in levels(path) {
            node = node.child(level)?;
        }
        match slot {
            Slot::Here => node.here.as_deref(),
            Slot::Hash => node.hash.as_deref(),
        }
    }

    /// Removes the subscription of `key` to `filter` and returns its value,
    /// or `None` if there was none.
    pub fn remove(&mut self, filter: &str, key: &K) -> Option<V> {
        self.remove_with(filter, |subs| subs.plain.remove(key))
    }

    /// Adds or replaces `key` as a member of share group `group` on `filter`
    /// (the parts of `$share/{group}/{filter}`); returns the previous value,
    /// so `Some` means `key` was already a member.
    ///
    /// `group` and `filter` must be as produced by
    /// [`super::topic::parse_shared`].
    pub fn insert_shared(&mut self, group: &str, filter: &str, key: K, value: V) -> Option<V> {
        debug_assert!(
            !group.is_empty() && !group.contains(['/', '+', '#']),
            "invalid share group {group:?}"
        );
        let subs = self.subscribers_or_insert(filter);
        if !subs.shared.contains_key(group) {
            subs.shared.insert(group.into(), SharedGroup::new(filter));
        }
        let group = subs.shared.get_mut(group).expect("group was just inserted");
        let previous = group.insert(key, value);
        if previous.is_none() {
            self.len += 1;
        }
        previous
    }

    /// Removes `key` from share group `group` on `filter` and returns its
    /// value, or `None` if it was not a member. A group without members
    /// ceases to exist.
    pub fn remove_shared(&mut self, group: &str, filter: &str, key: &K) -> Option<V> {
        self.remove_with(filter, |subs| {
            let members = subs.shared.get_mut(group)?;
            let value = members.remove(key)?;
            if members.members.is_empty() {
                subs.shared.remove(group);
            }
            Some(value)
        })
    }

    /// Calls `visit` once per (key, value) of every plain subscription whose
    /// filter matches `topic` (a key subscribed through several matching
    /// filters is visited once per filter), and once per matching share
    /// group with one member chosen round-robin among those for which
    /// `eligible` holds, or among all members if it holds for none.
    ///
    /// The order of visits is unspecified. `topic` must be a valid topic
    /// name. Filters whose first level is `+` or `#` do not match topics
    /// starting with `$`.
    pub fn for_each_match(
        &self,
        topic: &str,
        eligible: impl Fn(&K, &V) -> bool,
        visit: impl FnMut(&K, &V),
    ) {
        self.for_each_match_serving(topic, |_, _| true, eligible, visit);
    }

    /// [`Self::for_each_match`], where a matching share group is visited
    /// only when `serves(group, filter)` holds (the parts of
    /// `$share/{group}/{filter}`): a group another node of a cluster
    /// serves for this message is left alone, its round-robin position
    /// included.
    pub fn for_each_match_serving(
        &self,
        topic: &str,
        serves: impl Fn(&str, &str) -> bool,
        eligible: impl Fn(&K, &V) -> bool,
        mut visit: impl FnMut(&K, &V),
    ) {
        let mut visit_all = |subs: &Option<Box<Subscribers<K, V>>>| {
            let Some(subs) = subs else { return };
            for (key, value) in &subs.plain {
                visit(key, value);
            }
            for (name, group) in &subs.shared {
                if !serves(name, &group.filter) {
                    continue;
                }
                let (key, value) = group.pick(&eligible);
                visit(key, value);
            }
        };

        // The root is handled apart because the `$` rule only concerns
        // wildcards at the first level.
        let dollar = topic.starts_with('$');
        let mut stack = FrameStack::new();
        let (level, rest) = split_level(topic);
        if let Some(child) = self.root.literal.get(level) {
            stack.push(Frame { node: child, rest });
        }
        if !dollar {
            visit_all(&self.root.hash);
            if let Some(child) = &self.root.plus {
                stack.push(Frame { node: child, rest });
            }
        }

        while let Some(Frame { node, rest }) = stack.pop() {
            // `x/#` matches `x` itself as well as everything below it.
            visit_all(&node.hash);
            let Some(rest) = rest else {
                visit_all(&node.here);
                continue;
            };
            let (level, rest) = split_level(rest);
            if let Some(child) = node.literal.get(level) {
                stack.push(Frame { node: child, rest });
            }
            if let Some(child) = &node.plus {
                stack.push(Frame { node: child, rest });
            }
        }
    }

    /// Number of subscriptions, each member of a share group counting as one.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True iff there are no subscriptions.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of nodes below the root; lets tests check that removal prunes.
    #[cfg(test)]
    pub(crate) fn node_count(&self) -> usize {
        let mut count = 0;
        let mut stack = vec![&self.root];
        while let Some(node) = stack.pop() {
            count += node.child_count();
            stack.extend(node.literal.values());
            stack.extend(node.plus.as_deref());
        }
        count
    }

    /// The subscriber set of `filter`, creating nodes as needed.
    fn subscribers_or_insert(&mut self, filter: &str) -> &mut Subscribers<K, V> {
        debug_assert!(
            super::topic::validate_filter(filter).is_ok(),
            "invalid filter {filter:?}"
        );
        let (path, slot) = locate(filter);
        let mut node = &mut self.root;
        for level in levels(path) {
            node = node.child_or_insert(level);
        }
        node.slot_mut(slot).get_or_insert_with(Box::default)
    }

    /// Removes one subscription from the subscriber set of `filter` with
    /// `take`, then drops whatever part of the tree became empty.
    fn remove_with(
        &mut self,
        filter: &str,
        take: impl FnOnce(&mut Subscribers<K, V>) -> Option<V>,
    ) -> Option<V> {
        let (path, slot) = locate(filter);
        let node = self.root.descend_mut(levels(path))?;
        let subs = node.slot_mut(slot);
        let removed = take(subs.as_deref_mut()?)?;
        if subs.as_deref().is_some_and(Subscribers::is_empty) {
            *subs = None;
        }
        self.len -= 1;
        if node.is_empty() {
            self.prune(path);
        }
        Some(removed)
    }

    /// Removes the empty node at the end of `path` together with every
    /// ancestor that existed only to lead to it. The root is never removed.
    fn prune(&mut self, path: Option<&str>) {
        // Find the deepest node on the path that must stay: the root, or one
        // with subscriptions or with children off the path. Everything below
        // it on the path leads only to the empty node, so cut there.
        let mut keep_depth = 0;
        let mut node = &self.root;
        for (depth, level) in levels(path).enumerate() {
            if depth > 0 && (node.here.is_some() || node.hash.is_some() || node.child_count() > 1) {
                keep_depth = depth;
            }
            match node.child(level) {
                Some(child) => node = child,
                None => return,
            }
        }
        if !node.is_empty() {
            return;
        }
        let mut path_levels = levels(path);
        let Some(keep) = self.root.descend_mut(path_levels.by_ref().take(keep_depth)) else {
            return;
        };
        match path_levels.next() {
            Some("+") => keep.plus = None,
            Some(level) => {
                keep.literal.remove(level);
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::topic;
    use super::super::topic_gen::test_support::Generator;
    use super::*;

    /// Keys of plain subscriptions matching `topic`, sorted, duplicates kept.
    fn matching_keys<V>(tree: &SubscriptionTree<u32, V>, topic: &str) -> Vec<u32> {
        let mut keys = Vec::new();
        tree.for_each_match(topic, |_, _| true, |k, _| keys.push(*k));
        keys.sort_unstable();
        keys
    }

    #[test]
    fn insert_returns_previous_value_only_when_replacing() {
        let mut tree = SubscriptionTree::new();
        assert_eq!(tree.insert("a/b", 1, "qos0"), None);
        assert_eq!(tree.insert("a/b", 1, "qos1"), Some("qos0"));
        assert_eq!(tree.insert("a/b", 2, "qos0"), None);
        assert_eq!(tree.insert("a/+", 1, "qos2"), None);
        assert_eq!(tree.len(), 3);
        let mut seen = Vec::new();
        tree.for_each_match("a/b", |_, _| true, |k, v| seen.push((*k, *v)));
        seen.sort_unstable();
        assert_eq!(seen, [(1, "qos1"), (1, "qos2"), (2, "qos0")]);
    }

    #[test]
    fn a_subscription_is_found_by_its_filter_not_by_matching() {
        let mut tree = SubscriptionTree::new();
        tree.insert("a/+", 1, "plus");
        tree.insert("#", 1, "all");
        tree.insert("a/#", 2, "under");
        tree.insert_shared("g", "a/b", 1, "shared");
        assert_eq!(tree.get("a/+", &1), Some(&"plus"));
        assert_eq!(tree.get("#", &1), Some(&"all"));
        assert_eq!(tree.get("a/#", &2), Some(&"under"));
        assert_eq!(tree.get("a/#", &1), None);
        // A topic that the filter matches is not the filter.
        assert_eq!(tree.get("a/b", &1), None);
        assert_eq!(tree.get("a/+/c", &1), None);
        assert_eq!(tree.get_shared("g", "a/b", &1), Some(&"shared"));
        assert_eq!(tree.get_shared("h", "a/b", &1), None);
        assert_eq!(tree.get_shared("g", "a/b", &2), None);
    }

    #[test]
    fn remove_returns_value_and_stops_matching() {
        let mut tree = SubscriptionTree::new();
        tree.insert("a/b", 1, 10);
        tree.insert("a/b", 2, 20);
        assert_eq!(tree.remove("a/b", &1), Some(10));
        assert_eq!(tree.remove("a/b", &1), None);
        assert_eq!(tree.remove("a/c", &2), None);
        assert_eq!(tree.remove("a/b/c", &2), None);
        assert_eq!(matching_keys(&tree, "a/b"), [2]);
        assert_eq!(tree.len(), 1);
        assert_eq!(tree.remove("a/b", &2), Some(20));
        assert!(tree.is_empty());
        assert_eq!(matching_keys(&tree, "a/b"), [] as [u32; 0]);
    }

    #[test]
    fn literal_filter_matches_only_its_topic() {
        let mut tree = SubscriptionTree::new();
        tree.insert("a/b", 1, ());
        assert_eq!(matching_keys(&tree, "a/b"), [1]);
        for topic in ["a", "a/b/c", "a/bb", "b/a", "a//b", "/a/b"] {
            assert_eq!(matching_keys(&tree, topic), [] as [u32; 0], "{topic:?}");
        }
    }

    #[test]
    fn plus_matches_exactly_one_level() {
        let mut tree = SubscriptionTree::new();
        tree.insert("a/+/c", 1, ());
        tree.insert("+", 2, ());
        assert_eq!(matching_keys(&tree, "a/b/c"), [1]);
        assert_eq!(matching_keys(&tree, "a//c"), [1]);
        assert_eq!(matching_keys(&tree, "a/b/d"), [] as [u32; 0]);
        assert_eq!(matching_keys(&tree, "a/b/c/d"), [] as [u32; 0]);
        assert_eq!(matching_keys(&tree, "x"), [2]);
        assert_eq!(matching_keys(&tree, "x/y"), [] as [u32; 0]);
    }

    #[test]
    fn hash_matches_parent_level() {
        let mut tree = SubscriptionTree::new();
        tree.insert("a/b/#", 1, ());
        assert_eq!(matching_keys(&tree, "a/b"), [1]);
        assert_eq!(matching_keys(&tree, "a"), [] as [u32; 0]);
    }

    #[test]
    fn hash_matches_all_descendants() {
        let mut tree = SubscriptionTree::new();
        tree.insert("a/#", 1, ());
        tree.insert("#", 2, ());
        assert_eq!(matching_keys(&tree, "a/b"), [1, 2]);
        assert_eq!(matching_keys(&tree, "a/b/c/d"), [1, 2]);
        assert_eq!(matching_keys(&tree, "a/"), [1, 2]);
        assert_eq!(matching_keys(&tree, "b"), [2]);
        assert_eq!(matching_keys(&tree, "/"), [2]);
    }

    #[test]
    fn empty_levels_are_levels() {
        let mut tree = SubscriptionTree::new();
        tree.insert("a//b", 1, ());
        tree.insert("/+", 2, ());
        tree.insert("a/+", 3, ());
        assert_eq!(matching_keys(&tree, "a//b"), [1]);
        assert_eq!(matching_keys(&tree, "/x"), [2]);
        assert_eq!(matching_keys(&tree, "/"), [2]);
        assert_eq!(matching_keys(&tree, "a/"), [3]);
    }

    #[test]
    fn dollar_topics_not_matched_by_leading_wildcard() {
        let mut tree = SubscriptionTree::new();
        tree.insert("#", 1, ());
        tree.insert("+/x", 2, ());
        tree.insert("+/#", 3, ());
        tree.insert("$SYS/#", 4, ());
        tree.insert("$SYS/+", 5, ());
        tree.insert_shared("g", "#", 6, ());
        tree.insert_shared("g", "+/x", 7, ());
        assert_eq!(matching_keys(&tree, "$SYS/x"), [4, 5]);
        assert_eq!(matching_keys(&tree, "$SYS"), [4]);
        assert_eq!(matching_keys(&tree, "a/x"), [1, 2, 3, 6, 7]);
        // `$` only matters at the start of the topic.
        assert_eq!(matching_keys(&tree, "a/$x"), [1, 3, 6]);
    }

    #[test]
    fn key_with_several_matching_filters_is_visited_once_per_filter() {
        let mut tree = SubscriptionTree::new();
        tree.insert("a/b", 1, "exact");
        tree.insert("a/+", 1, "plus");
        tree.insert("#", 1, "hash");
        tree.insert("a/c", 1, "other");
        let mut values = Vec::new();
        tree.for_each_match("a/b", |_, _| true, |_, v| values.push(*v));
        values.sort_unstable();
        assert_eq!(values, ["exact", "hash", "plus"]);
    }

    /// Keys visited through shared groups for `count` publishes to `topic`.
    fn shared_picks(
        tree: &SubscriptionTree<u32, ()>,
        topic: &str,
        count: usize,
        eligible: impl Fn(&u32) -> bool,
    ) -> Vec<u32> {
        let mut picks = Vec::new();
        for _ in 0..count {
            let before = picks.len();
            tree.for_each_match(topic, |k, _| eligible(k), |k, _| picks.push(*k));
            assert_eq!(picks.len(), before + 1, "one visit per publish");
        }
        picks
    }

    #[test]
    fn shared_group_delivers_to_one_member_round_robin() {
        let mut tree = SubscriptionTree::new();
        for key in [1, 2, 3] {
            assert_eq!(tree.insert_shared("workers", "jobs/+", key, ()), None);
        }
        assert_eq!(tree.len(), 3);
        let picks = shared_picks(&tree, "jobs/x", 9, |_| true);
        // Every member gets every third message, in a fixed rotation.
        for key in [1, 2, 3] {
            assert_eq!(picks.iter().filter(|&&k| k == key).count(), 3);
        }
        assert_eq!(picks[0..3], picks[3..6]);
        assert_eq!(picks[3..6], picks[6..9]);
    }

    #[test]
    fn shared_round_robin_skips_ineligible_members() {
        let mut tree = SubscriptionTree::new();
        for key in [1, 2, 3, 4] {
            tree.insert_shared("g", "t", key, ());
        }
        let picks = shared_picks(&tree, "t", 30, |&k| k != 2);
        assert!(!picks.contains(&2));
        // The remaining members share the load evenly.
        for key in [1, 3, 4] {
            assert_eq!(picks.iter().filter(|&&k| k == key).count(), 10, "{picks:?}");
        }
    }

    #[test]
    fn shared_falls_back_to_all_members_when_none_is_eligible() {
        let mut tree = SubscriptionTree::new();
        for key in [1, 2] {
            tree.insert_shared("g", "t", key, ());
        }
        let picks = shared_picks(&tree, "t", 4, |_| false);
        assert_eq!(picks.iter().filter(|&&k| k == 1).count(), 2);
        assert_eq!(picks.iter().filter(|&&k| k == 2).count(), 2);
    }

    #[test]
    fn shared_groups_are_distinct_per_group_and_filter() {
        let mut tree = SubscriptionTree::new();
        tree.insert_shared("g1", "a/+", 1, ());
        tree.insert_shared("g1", "a/+", 2, ());
        tree.insert_shared("g2", "a/+", 3, ());
        tree.insert_shared("g1", "a/b", 4, ());
        tree.insert("a/+", 5, ());
        let mut picks = Vec::new();
        tree.for_each_match("a/b", |_, _| true, |k, _| picks.push(*k));
        picks.sort_unstable();
        // One of {1, 2} for g1 on a/+, 3 for g2, 4 for g1 on a/b, 5 plain.
        assert_eq!(picks.len(), 4, "{picks:?}");
        assert!(picks[0] == 1 || picks[0] == 2);
        assert_eq!(picks[1..], [3, 4, 5]);
    }

    #[test]
    fn shared_member_insert_replaces_and_remove_forgets() {
        let mut tree = SubscriptionTree::new();
        assert_eq!(tree.insert_shared("g", "t", 1, "a"), None);
        assert_eq!(tree.insert_shared("g", "t", 1, "b"), Some("a"));
        assert_eq!(tree.insert_shared("g", "t", 2, "c"), None);
        assert_eq!(tree.len(), 2);
        // Plain and shared subscriptions of the same key and filter are separate.
        assert_eq!(tree.insert("t", 1, "plain"), None);
        assert_eq!(tree.remove_shared("g", "t", &1), Some("b"));
        assert_eq!(tree.remove_shared("g", "t", &1), None);
        assert_eq!(tree.remove_shared("other", "t", &2), None);
        assert_eq!(tree.remove_shared("g", "u", &2), None);
        let mut seen = Vec::new();
        tree.for_each_match("t", |_, _| true, |k, v| seen.push((*k, *v)));
        seen.sort_unstable();
        assert_eq!(seen, [(1, "plain"), (2, "c")]);
        assert_eq!(tree.remove_shared("g", "t", &2), Some("c"));
        assert_eq!(tree.remove("t", &1), Some("plain"));
        assert!(tree.is_empty());
        assert_eq!(tree.node_count(), 0);
    }

    #[test]
    fn shared_group_keeps_rotating_after_a_member_leaves() {
        let mut tree = SubscriptionTree::new();
        for key in [1, 2, 3, 4] {
            tree.insert_shared("g", "t", key, ());
        }
        shared_picks(&tree, "t", 3, |_| true);
        tree.remove_shared("g", "t", &2);
        let picks = shared_picks(&tree, "t", 6, |_| true);
        for key in [1, 3, 4] {
            assert_eq!(picks.iter().filter(|&&k| k == key).count(), 2, "{picks:?}");
        }
    }

    /// A group another node serves gets nothing here, and its rotation
    /// stays where it was; plain subscribers and other groups as usual.
    #[test]
    fn groups_served_elsewhere_are_skipped_without_turning() {
        let mut tree = SubscriptionTree::new();
        tree.insert("jobs/+", 0, ());
        for key in [1, 2] {
            tree.insert_shared("g", "jobs/+", key, ());
        }
        tree.insert_shared("g", "jobs/#", 3, ());
        tree.insert_shared("h", "jobs/+", 4, ());
        let visits = |serves: &dyn Fn(&str, &str) -> bool| {
            let mut keys = Vec::new();
            tree.for_each_match_serving("jobs/1", serves, |_, _| true, |k, _| keys.push(*k));
            keys.sort_unstable();
            keys
        };
        let elsewhere = |group: &str, filter: &str| !(group == "g" && filter == "jobs/+");
        assert_eq!(visits(&elsewhere), [0, 3, 4]);
        assert_eq!(visits(&elsewhere), [0, 3, 4]);
        // Served here again: the rotation starts where it stood.
        assert_eq!(visits(&|_, _| true), [0, 1, 3, 4]);
        assert_eq!(visits(&|_, _| true), [0, 2, 3, 4]);
    }

    #[test]
    fn empty_nodes_are_pruned_after_churn() {
        let mut tree = SubscriptionTree::new();
        tree.insert("keep/me", 0, ());
        let baseline = tree.node_count();
        for i in 0..1000u32 {
            let filter = format!("t/{}/+/{}/#", i % 7, i);
            tree.insert(&filter, i, ());
            let shared = format!("s/{i}/x");
            tree.insert_shared("g", &shared, i, ());
        }
        assert!(tree.node_count() > baseline + 1000);
        for i in 0..1000u32 {
            let filter = format!("t/{}/+/{}/#", i % 7, i);
            assert_eq!(tree.remove(&filter, &i), Some(()));
            let shared = format!("s/{i}/x");
            assert_eq!(tree.remove_shared("g", &shared, &i), Some(()));
        }
        assert_eq!(tree.node_count(), baseline);
        assert_eq!(tree.len(), 1);
        assert_eq!(matching_keys(&tree, "keep/me"), [0]);
    }

    #[test]
    fn pruning_keeps_nodes_still_in_use() {
        let mut tree = SubscriptionTree::new();
        tree.insert("a/b/c/d", 1, ());
        tree.insert("a/b", 2, ());
        tree.insert("a/+/x", 3, ());
        tree.insert("a/b/#", 4, ());
        assert_eq!(tree.node_count(), 6); // a, b, c, d, +, x
        tree.remove("a/b/c/d", &1);
        assert_eq!(tree.node_count(), 4); // a, b, +, x
        assert_eq!(matching_keys(&tree, "a/b"), [2, 4]);
        tree.remove("a/b", &2);
        // `a/b` still carries the `#` subscription.
        assert_eq!(tree.node_count(), 4);
        tree.remove("a/b/#", &4);
        assert_eq!(tree.node_count(), 3); // a, +, x
        assert_eq!(matching_keys(&tree, "a/b/x"), [3]);
        tree.remove("a/+/x", &3);
        assert_eq!(tree.node_count(), 0);
        // A root `#` subscription lives on the root itself.
        tree.insert("#", 5, ());
        assert_eq!(tree.node_count(), 0);
        assert_eq!(tree.remove("#", &5), Some(()));
        assert!(tree.is_empty());
    }

    #[test]
    fn very_deep_filters_do_not_exhaust_the_stack() {
        // 60000 levels: recursion over levels would overflow a test thread's
        // stack, so this checks that insert, match, remove and drop iterate.
        let deep = "/".repeat(59_999);
        let deep_hash = format!("{deep}/#");
        let mut tree = SubscriptionTree::new();
        tree.insert(&deep, 1, ());
        tree.insert(&deep_hash, 2, ());
        tree.insert("+/+/#", 3, ());
        assert_eq!(matching_keys(&tree, &deep), [1, 2, 3]);
        assert_eq!(tree.remove(&deep, &1), Some(()));
        assert_eq!(tree.remove(&deep_hash, &2), Some(()));
        assert_eq!(tree.node_count(), 2); // the two `+` levels
        tree.insert(&deep, 1, ());
        drop(tree);
    }

    #[test]
    fn tree_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<SubscriptionTree<u64, String>>();
    }

    /// Checks every topic against `tree`, which holds plain subscription `i`
    /// and a membership `SHARED + i` of group "g" for each live filter `i`.
    fn check_against_brute_force(
        tree: &SubscriptionTree<u32, ()>,
        filters: &[String],
        live: &[bool],
        topics: &[String],
    ) -> usize {
        const SHARED: u32 = 1_000_000;
        let mut total = 0;
        for topic in topics {
            let mut got_plain = Vec::new();
            let mut got_groups = Vec::new();
            tree.for_each_match(
                topic,
                |_, _| true,
                |&k, _| match k.checked_sub(SHARED) {
                    Some(i) => got_groups.push(filters[i as usize].as_str()),
                    None => got_plain.push(k),
                },
            );
            got_plain.sort_unstable();
            got_groups.sort_unstable();
            let want_plain: Vec<u32> = (0..filters.len())
                .filter(|&i| live[i] && topic::matches(&filters[i], topic))
                .map(|i| i as u32)
                .collect();
            assert_eq!(got_plain, want_plain, "topic {topic:?}");
            // Identical filter strings share one group, which is visited once.
            let mut want_groups: Vec<&str> = want_plain
                .iter()
                .map(|&i| filters[i as usize].as_str())
                .collect();
            want_groups.sort_unstable();
            want_groups.dedup();
            assert_eq!(got_groups, want_groups, "topic {topic:?}");
            total += got_plain.len();
        }
        total
    }

    #[test]
    fn matching_agrees_with_brute_force() {
        const SHARED: u32 = 1_000_000;
        let mut rng = Generator::new(0x5eed);
        let filters: Vec<String> = (0..300).map(|_| rng.filter()).collect();
        let topics: Vec<String> = (0..300).map(|_| rng.topic()).collect();

        let mut tree = SubscriptionTree::new();
        let mut live = vec![true; filters.len()];
        for (i, filter) in filters.iter().enumerate() {
            tree.insert(filter, i as u32, ());
            tree.insert_shared("g", filter, SHARED + i as u32, ());
        }
        let total = check_against_brute_force(&tree, &filters, &live, &topics);
        // Guard against a generator that rarely produces matches.
        assert!(total > 1000, "only {total} matches");

        // Removal must not disturb the remaining subscriptions.
        for i in (0..filters.len()).filter(|_| rng.below(2) == 0) {
            assert_eq!(tree.remove(&filters[i], &(i as u32)), Some(()));
            assert_eq!(
                tree.remove_shared("g", &filters[i], &(SHARED + i as u32)),
                Some(())
            );
            live[i] = false;
        }
        check_against_brute_force(&tree, &filters, &live, &topics);
        assert_eq!(tree.len(), 2 * live.iter().filter(|&&l| l).count());
    }
}
