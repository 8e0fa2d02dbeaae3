//! `noop`: a plugin that asks for every hook point and does nothing in any
//! of them. `scripts/bench` runs mqhost with it against mqhost without it:
//! the difference is the cost of dispatching every hook across the plugin
//! boundary (the host's lock-free check, the ABI call, `catch_unwind`),
//! with no work of the plugin's own to hide it.
#![forbid(unsafe_code)]

use mqhost_plugin_api::{
    export_plugin, ClientEvent, ConfigError, DeliveryEvent, HookSet, Host, MessageEvent,
    MqhostPlugin, PluginConfig, SessionEvent, SubscriptionEvent, Verdict,
};

/// The plugin: no state, no configuration keys.
pub struct Noop;

impl MqhostPlugin for Noop {
    fn start(_host: Host, _config: &PluginConfig<'_>) -> Result<Self, ConfigError> {
        Ok(Noop)
    }

    fn hooks(&self) -> HookSet {
        HookSet::ALL
    }

    // Each hook is spelled out, although the defaults do the same, so the
    // plugin keeps taking every point if a default ever changes.
    fn on_client_connected(&self, _client: &ClientEvent<'_>) {}
    fn on_client_disconnected(&self, _client: &ClientEvent<'_>) {}
    fn on_session_created(&self, _session: &SessionEvent<'_>) {}
    fn on_session_subscribed(&self, _subscription: &SubscriptionEvent<'_>) {}
    fn on_session_unsubscribed(&self, _subscription: &SubscriptionEvent<'_>) {}
    fn on_message_publish(&self, _message: &MessageEvent<'_>) -> Verdict {
        Verdict::CONTINUE
    }
    fn on_message_delivered(&self, _delivery: &DeliveryEvent<'_>) {}
    fn on_message_acked(&self, _delivery: &DeliveryEvent<'_>) {}
}

export_plugin!(
    name: "noop",
    plugin: Noop,
    description: "Takes every hook and does nothing (benchmarks)"
);
