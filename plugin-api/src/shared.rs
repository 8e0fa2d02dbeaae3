//! Shared subscriptions across the nodes of a cluster (since 1.6): the
//! groups another node serves for one message, which a cluster plugin
//! names at `message.publish` so that one member of each group in the
//! whole cluster gets the message, not one per node.

use abi_stable::std_types::{RString, RVec};
use abi_stable::StableAbi;

/// The shared subscriptions (`$share/group/filter`, as subscribed) that
/// another node serves for one message: this node then gives the message
/// to none of their members here. A plugin fills it in
/// [`MqhostPlugin::on_message_publish_shared`](crate::MqhostPlugin::on_message_publish_shared);
/// the host starts every message with an empty one, and what several
/// plugins name adds up.
///
/// A name that is not a shared subscription, or that no session here
/// has, changes nothing.
///
/// ```
/// use mqhost_plugin_api::ServedElsewhere;
///
/// let mut elsewhere = ServedElsewhere::new();
/// assert!(elsewhere.is_empty());
/// elsewhere.push("$share/workers/jobs/#");
/// elsewhere.push("$share/workers/jobs/#"); // once is enough
/// assert!(elsewhere.contains("$share/workers/jobs/#"));
/// assert_eq!(elsewhere.iter().collect::<Vec<_>>(), ["$share/workers/jobs/#"]);
/// ```
#[repr(C)]
#[derive(StableAbi, Debug, Default, Clone, PartialEq, Eq)]
pub struct ServedElsewhere {
    /// The shared subscriptions named, each once.
    filters: RVec<RString>,
}

impl ServedElsewhere {
    /// None named yet.
    ///
    /// ```
    /// use mqhost_plugin_api::ServedElsewhere;
    ///
    /// assert_eq!(ServedElsewhere::new().len(), 0);
    /// ```
    pub fn new() -> ServedElsewhere {
        ServedElsewhere::default()
    }

    /// Names a shared subscription, `$share/group/filter` as its members
    /// subscribed, that another node serves for this message.
    ///
    /// ```
    /// use mqhost_plugin_api::ServedElsewhere;
    ///
    /// let mut elsewhere = ServedElsewhere::new();
    /// elsewhere.push("$share/g/sensors/+");
    /// assert_eq!(elsewhere.len(), 1);
    /// ```
    pub fn push(&mut self, shared_filter: &str) {
        if !self.contains(shared_filter) {
            self.filters.push(RString::from(shared_filter));
        }
    }

    /// Whether `shared_filter` was named.
    ///
    /// ```
    /// use mqhost_plugin_api::ServedElsewhere;
    ///
    /// let mut elsewhere = ServedElsewhere::new();
    /// elsewhere.push("$share/g/t");
    /// assert!(elsewhere.contains("$share/g/t"));
    /// assert!(!elsewhere.contains("$share/h/t"));
    /// ```
    pub fn contains(&self, shared_filter: &str) -> bool {
        self.filters.iter().any(|f| f.as_str() == shared_filter)
    }

    /// The shared subscriptions named, in the order named.
    ///
    /// ```
    /// use mqhost_plugin_api::ServedElsewhere;
    ///
    /// let mut elsewhere = ServedElsewhere::new();
    /// elsewhere.push("$share/a/t");
    /// elsewhere.push("$share/b/t");
    /// assert_eq!(elsewhere.iter().collect::<Vec<_>>(), ["$share/a/t", "$share/b/t"]);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.filters.iter().map(RString::as_str)
    }

    /// How many were named.
    ///
    /// ```
    /// use mqhost_plugin_api::ServedElsewhere;
    ///
    /// let mut elsewhere = ServedElsewhere::new();
    /// elsewhere.push("$share/a/t");
    /// assert_eq!(elsewhere.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.filters.len()
    }

    /// Whether none was named: the host then serves every group here, as
    /// it does without a cluster.
    ///
    /// ```
    /// use mqhost_plugin_api::ServedElsewhere;
    ///
    /// assert!(ServedElsewhere::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.filters.is_empty()
    }
}
