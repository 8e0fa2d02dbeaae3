//! The names of everything the cluster keeps in Redis, in one place: every
//! key and channel of cluster `<name>` starts with `mqhost:cluster:<name>:`,
//! so that clusters sharing a Redis never meet.

/// The keys and channels of one cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    /// The keys of cluster `name`.
    pub(crate) fn new(name: &str) -> Keys {
        Keys {
            prefix: format!("mqhost:cluster:{name}:"),
        }
    }

    /// The heartbeat of `node`: a string holding the node's instance
    /// token, with a TTL its node keeps refreshing.
    pub(crate) fn heartbeat(&self, node: &str) -> String {
        format!("{}node:{node}", self.prefix)
    }

    /// A hash of every node that joined: node name → the Unix milliseconds
    /// it was last seen alive.
    pub(crate) fn members(&self) -> String {
        format!("{}members", self.prefix)
    }

    /// A set of `node`'s routes: the filters its sessions subscribe to.
    pub(crate) fn routes(&self, node: &str) -> String {
        format!("{}routes:{node}", self.prefix)
    }

    /// A hash of the shared subscriptions `node`'s sessions are members
    /// of: `$share/group/filter` → how many members.
    pub(crate) fn groups(&self, node: &str) -> String {
        format!("{}groups:{node}", self.prefix)
    }

    /// The channel on which nodes tell each other of route changes.
    pub(crate) fn route_channel(&self) -> String {
        format!("{}routes", self.prefix)
    }

    /// A hash of the cluster's retained messages: topic → the message.
    pub(crate) fn retained(&self) -> String {
        format!("{}retained", self.prefix)
    }

    /// The channel on which `node` is asked for sessions, and answered.
    pub(crate) fn handover(&self, node: &str) -> String {
        format!("{}handover:{node}", self.prefix)
    }

    /// The channel on which `node` receives the messages it has routes for.
    pub(crate) fn bus(&self, node: &str) -> String {
        format!("{}bus:{node}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_under_the_clusters_prefix() {
        let keys = Keys::new("east");
        assert_eq!(keys.heartbeat("n1"), "mqhost:cluster:east:node:n1");
        assert_eq!(keys.members(), "mqhost:cluster:east:members");
        assert_eq!(keys.routes("n1"), "mqhost:cluster:east:routes:n1");
        assert_eq!(keys.groups("n1"), "mqhost:cluster:east:groups:n1");
        assert_eq!(keys.route_channel(), "mqhost:cluster:east:routes");
        assert_eq!(keys.bus("n1"), "mqhost:cluster:east:bus:n1");
        assert_eq!(keys.handover("n1"), "mqhost:cluster:east:handover:n1");
    }
}
