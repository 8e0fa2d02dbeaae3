//! Rules: what runs at each hook point, in order, for which topics, on
//! which pool. Built by [`crate::config`], read by every hook call.

use std::sync::Arc;

use mqhost_plugin_api::HookSet;

use mqhost_plugin_api::topic;

use crate::commands::Commands;
use crate::functions::Function;
use crate::hook::HookPoint;

/// What a rule does.
#[derive(Debug, Clone)]
pub(crate) enum Action {
    /// One of the spec's functions.
    Function(Function),
    /// Raw Redis commands with placeholders.
    Commands(Arc<Commands>),
}

/// One `backend.redis.hook.<hookpoint>.<n>` line, checked.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    /// Where it runs.
    pub(crate) hook: HookPoint,
    /// `<n>`: rules of a hook point run in this order.
    pub(crate) order: u64,
    /// Topic filter; None runs the rule for every event.
    pub(crate) filter: Option<String>,
    /// What it does.
    pub(crate) action: Action,
    /// The pool it writes to and reads from; None only for functions that
    /// need no Redis (`on_message_expiry_check`).
    pub(crate) pool: Option<String>,
    /// Position of `pool` among the configuration's pools (sorted by
    /// name), so hooks reach the pool without a lookup by name.
    pub(crate) pool_index: usize,
    /// TTL in seconds of keys written by `message.publish` functions.
    pub(crate) ttl: u64,
}

impl Rule {
    /// Whether the rule applies to an event about `topic` (a message
    /// topic, or a subscription filter without its `$share/` prefix).
    pub(crate) fn applies_to(&self, topic: &str) -> bool {
        self.filter
            .as_deref()
            .is_none_or(|filter| topic::matches(filter, topic))
    }
}

/// Every rule, by hook point, in order.
#[derive(Debug, Clone, Default)]
pub(crate) struct RuleSet {
    by_hook: [Vec<Rule>; 8],
}

impl RuleSet {
    /// A rule set from rules in any order: they are sorted by `<n>`.
    pub(crate) fn new(rules: Vec<Rule>) -> RuleSet {
        let mut set = RuleSet::default();
        for rule in rules {
            set.by_hook[rule.hook.index()].push(rule);
        }
        for list in &mut set.by_hook {
            list.sort_by_key(|rule| rule.order);
        }
        set
    }

    /// The rules of `hook`, in order.
    pub(crate) fn for_hook(&self, hook: HookPoint) -> &[Rule] {
        &self.by_hook[hook.index()]
    }

    /// Every rule.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Rule> {
        self.by_hook.iter().flatten()
    }

    /// How many rules there are.
    pub(crate) fn len(&self) -> usize {
        self.by_hook.iter().map(Vec::len).sum()
    }

    /// The hook points some rule needs.
    pub(crate) fn hooks(&self) -> HookSet {
        HookPoint::ALL
            .into_iter()
            .filter(|hook| !self.for_hook(*hook).is_empty())
            .fold(HookSet::NONE, |set, hook| set | hook.hook_set())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(hook: HookPoint, order: u64, filter: Option<&str>) -> Rule {
        Rule {
            hook,
            order,
            filter: filter.map(str::to_owned),
            action: Action::Function(Function::MessagePublish),
            pool: Some("pool1".into()),
            pool_index: 0,
            ttl: 7200,
        }
    }

    #[test]
    fn rules_run_in_the_order_of_their_number() {
        let set = RuleSet::new(vec![
            rule(HookPoint::MessagePublish, 10, None),
            rule(HookPoint::MessagePublish, 2, None),
            rule(HookPoint::MessageAcked, 1, None),
        ]);
        let orders: Vec<u64> = set
            .for_hook(HookPoint::MessagePublish)
            .iter()
            .map(|r| r.order)
            .collect();
        assert_eq!(orders, [2, 10]);
        assert_eq!(set.len(), 3);
        assert_eq!(
            set.hooks(),
            HookSet::MESSAGE_PUBLISH | HookSet::MESSAGE_ACKED
        );
    }

    #[test]
    fn a_rule_without_topic_applies_to_everything() {
        assert!(rule(HookPoint::MessagePublish, 1, None).applies_to("$SYS/x"));
        let queue = rule(HookPoint::MessagePublish, 1, Some("queue/#"));
        assert!(queue.applies_to("queue/a"));
        assert!(!queue.applies_to("pubsub/a"));
    }
}
