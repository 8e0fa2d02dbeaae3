//! The hook points a rule can name, and their host flags and names.

use mqhost_plugin_api::HookSet;

/// The eight hook points a rule can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum HookPoint {
    /// `client.connected`.
    ClientConnected,
    /// `client.disconnected`.
    ClientDisconnected,
    /// `session.created`.
    SessionCreated,
    /// `session.subscribed`.
    SessionSubscribed,
    /// `session.unsubscribed`.
    SessionUnsubscribed,
    /// `message.publish`.
    MessagePublish,
    /// `message.delivered` (EMQX also spells it `message.deliver`).
    MessageDelivered,
    /// `message.acked`.
    MessageAcked,
}

impl HookPoint {
    /// Every hook point, in the order of [`HookPoint::index`].
    pub(crate) const ALL: [HookPoint; 8] = [
        HookPoint::ClientConnected,
        HookPoint::ClientDisconnected,
        HookPoint::SessionCreated,
        HookPoint::SessionSubscribed,
        HookPoint::SessionUnsubscribed,
        HookPoint::MessagePublish,
        HookPoint::MessageDelivered,
        HookPoint::MessageAcked,
    ];

    /// The EMQX name, as in `backend.redis.hook.<name>.<n>`.
    pub(crate) fn name(self) -> &'static str {
        // Every hook point is one of the host's, which all have names.
        self.hook_set().name().unwrap_or_default()
    }

    /// The hook point called `name` (`message.deliver` is accepted for
    /// `message.delivered`, as EMQX's documentation writes it).
    pub(crate) fn from_name(name: &str) -> Option<HookPoint> {
        let name = match name {
            "message.deliver" => "message.delivered",
            name => name,
        };
        let set = HookSet::from_name(name)?;
        HookPoint::ALL
            .into_iter()
            .find(|hook| hook.hook_set() == set)
    }

    /// Position in [`HookPoint::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// The host's flag for this hook point.
    pub(crate) fn hook_set(self) -> HookSet {
        match self {
            HookPoint::ClientConnected => HookSet::CLIENT_CONNECTED,
            HookPoint::ClientDisconnected => HookSet::CLIENT_DISCONNECTED,
            HookPoint::SessionCreated => HookSet::SESSION_CREATED,
            HookPoint::SessionSubscribed => HookSet::SESSION_SUBSCRIBED,
            HookPoint::SessionUnsubscribed => HookSet::SESSION_UNSUBSCRIBED,
            HookPoint::MessagePublish => HookSet::MESSAGE_PUBLISH,
            HookPoint::MessageDelivered => HookSet::MESSAGE_DELIVERED,
            HookPoint::MessageAcked => HookSet::MESSAGE_ACKED,
        }
    }

    /// Whether a rule's `topic` means something here: message hooks match
    /// the message topic, subscription hooks the filter.
    pub(crate) fn has_topic(self) -> bool {
        matches!(
            self,
            HookPoint::SessionSubscribed
                | HookPoint::SessionUnsubscribed
                | HookPoint::MessagePublish
                | HookPoint::MessageDelivered
                | HookPoint::MessageAcked
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_deliver_is_an_alias() {
        for hook in HookPoint::ALL {
            assert_eq!(HookPoint::from_name(hook.name()), Some(hook));
        }
        assert_eq!(
            HookPoint::from_name("message.deliver"),
            Some(HookPoint::MessageDelivered)
        );
        assert_eq!(HookPoint::from_name("message.published"), None);
    }

    #[test]
    fn each_hook_point_is_one_host_flag() {
        let all = HookPoint::ALL
            .into_iter()
            .fold(HookSet::NONE, |set, hook| set | hook.hook_set());
        assert_eq!(all, HookSet::ALL);
        for (index, hook) in HookPoint::ALL.into_iter().enumerate() {
            assert_eq!(hook.index(), index);
            assert!(!hook.name().is_empty());
        }
    }
}
