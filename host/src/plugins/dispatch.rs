//! Calling a loaded plugin: [`Instance`] guards every call (a panicking or
//! stopped plugin is never called again), counts events and errors, and
//! drops the plugin once it has stopped;
//! [`PluginHook`] turns the broker's hook calls into the plugin's ABI
//! events.
//!
//! This module holds `unsafe` for the plugin's drop: dropping it through a
//! shared instance once [`grace`] proves no call can reach it.
#![allow(unsafe_code)]

use std::cell::UnsafeCell;
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use mqhost_codec::{QoS, SubscriptionOptions};
use mqhost_plugin_api::abi_stable::std_types::{ROption, RResult, RSlice, RStr, Tuple2};
use mqhost_plugin_api::{
    ClientEvent, ConfigError, DeliveryEvent, HookSet, ListenerEvent, MessageEvent, MessageId,
    MessageProperties, PluginBox, PluginConfig, PluginError, ResumeEvent, SessionEvent,
    SubscriptionEvent, Verdict,
};

use mqhost_plugin_api::abi_stable::sabi_trait::TD_Opaque;
use mqhost_plugin_api::{
    Action, AuthenticateEvent, AuthorizeEvent, Decision as PluginDecision, ReplySink, ReplySink_TO,
};
use tokio::sync::oneshot;

use super::calls::{CallStats, Point};
use super::grace;
use crate::access::Access;
use crate::broker::message::{unix_millis, Message};
use crate::hooks::decide::{
    Answer, AuthenticateRequest, AuthorizeRequest, Decision, ResumeRequest,
};
use crate::hooks::{ClientInfo, HookHandler, PublishVerdict, ServedElsewhere};

/// One running instance of a plugin.
pub struct Instance {
    /// The plugin's NAME.
    pub name: Arc<str>,
    /// Dropped by [`Instance::stop`] (or, never stopped, with the
    /// instance); read only through [`Instance::plugin`].
    plugin: UnsafeCell<ManuallyDrop<PluginBox>>,
    node: Arc<str>,
    /// No call starts once this is set; [`Instance::stop`] sets it, waits
    /// out the calls under way ([`grace`]), then stops the plugin, so no
    /// call is under way while the plugin drains.
    closed: AtomicBool,
    /// Serialises [`Instance::stop`]; set once the plugin has stopped and
    /// been dropped.
    stopped: Mutex<bool>,
    failed: AtomicBool,
    /// Hook calls per point, and how long a sample of them took.
    calls: CallStats,
    errors: AtomicU64,
    /// Calls that panicked (the first marks the plugin failed).
    panics: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Instance {
    /// Wraps a freshly created plugin.
    pub fn new(name: &str, plugin: PluginBox, node: &str) -> Arc<Instance> {
        grace::prepare();
        Arc::new(Instance {
            name: Arc::from(name),
            plugin: UnsafeCell::new(ManuallyDrop::new(plugin)),
            node: Arc::from(node),
            closed: AtomicBool::new(false),
            stopped: Mutex::new(false),
            failed: AtomicBool::new(false),
            calls: CallStats::default(),
            errors: AtomicU64::new(0),
            panics: AtomicU64::new(0),
            last_error: Mutex::new(None),
        })
    }

    /// The plugin, while it is not dropped.
    ///
    /// # Safety
    ///
    /// Only while `closed` is unset and a [`grace`] guard is held (a call),
    /// or from [`Instance::stop`] before it drops the plugin: `stop` sets
    /// `closed` and waits out every guard before dropping it.
    #[inline]
    unsafe fn plugin(&self) -> &PluginBox {
        &*self.plugin.get()
    }

    /// Calls the plugin unless it failed or stopped; an error is counted
    /// and logged, and a panic marks the plugin failed for good. A hook
    /// call (`point`) is counted, and maybe timed ([`CallStats`]).
    #[inline]
    fn call<T>(
        &self,
        point: Option<Point>,
        call: impl FnOnce(&PluginBox) -> RResult<T, PluginError>,
    ) -> Option<T> {
        if self.failed.load(Ordering::Relaxed) {
            return None;
        }
        let inside = grace::enter();
        if self.closed.load(Ordering::Relaxed) {
            return None;
        }
        let timing = point.map(|point| self.calls.start(&inside, point));
        // SAFETY: `closed` was unset after the guard was taken.
        let result = call(unsafe { self.plugin() });
        if let Some(timing) = timing {
            self.calls.finish(timing);
        }
        drop(inside);
        match result {
            RResult::ROk(value) => Some(value),
            RResult::RErr(error) => {
                self.record_error(&error);
                None
            }
        }
    }

    #[cold]
    fn record_error(&self, error: &PluginError) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let text = error.to_string();
        if error.panicked {
            self.panics.fetch_add(1, Ordering::Relaxed);
            if !self.failed.swap(true, Ordering::Relaxed) {
                tracing::error!(plugin = %self.name, "{text}; the plugin is marked failed and no longer called");
            }
        } else {
            tracing::warn!(plugin = %self.name, "{text}");
        }
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(text);
    }

    /// The hook points the plugin wants now.
    pub fn hooks(&self) -> HookSet {
        self.call(None, |p| p.hooks()).unwrap_or(HookSet::NONE)
    }

    /// Hands the plugin a new configuration. The outer None means the
    /// plugin failed while doing so.
    pub fn reconfigure(&self, config: &PluginConfig<'_>) -> Option<Result<(), ConfigError>> {
        self.call(None, |p| p.reconfigure(config))
            .map(RResult::into_result)
    }

    /// The plugin's own figures, a JSON object as text.
    pub fn stats(&self) -> String {
        self.call(None, |p| p.stats())
            .map(|s| s.into_string())
            .unwrap_or_else(|| "{}".to_owned())
    }

    /// Waits for calls under way, stops the plugin (it drains its queues),
    /// drops it, and refuses every later call. Blocks: run it on a
    /// blocking thread.
    pub fn stop(&self) {
        let mut stopped = self.stopped.lock().unwrap_or_else(|e| e.into_inner());
        if *stopped {
            return;
        }
        self.closed.store(true, Ordering::SeqCst);
        grace::synchronize();
        if !self.failed.load(Ordering::Relaxed) {
            // SAFETY: not dropped yet (`stopped` is unset, and we hold it).
            if let RResult::RErr(error) = unsafe { self.plugin() }.stop() {
                self.record_error(&error);
            }
        }
        // SAFETY: no call is under way and none starts (`closed` is set and
        // every guard was waited out); `stopped`, set below under the same
        // lock, keeps this from running twice.
        unsafe { self.release() };
        *stopped = true;
    }

    /// Drops the plugin here, on the thread that stopped it, right after it
    /// drained: not wherever the last reference to this instance goes,
    /// which may be a broker thread's cached handler list long after.
    ///
    /// A panic in the plugin's `Drop` cannot unwind through the ABI's
    /// destructor (abi_stable aborts), so catching it is the plugin side's
    /// part, as for every other call.
    ///
    /// # Safety
    ///
    /// Once, with no call under way and none to come.
    unsafe fn release(&self) {
        ManuallyDrop::drop(&mut *self.plugin.get());
        tracing::debug!(plugin = %self.name, "plugin dropped");
    }

    /// Whether a panic put the plugin out of service.
    pub fn has_failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    /// Whether it was stopped.
    pub fn is_stopped(&self) -> bool {
        *self.stopped.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hook events handed to the plugin.
    pub fn events(&self) -> u64 {
        self.calls.total()
    }

    /// Hook calls per point and their latency.
    pub fn calls(&self) -> &CallStats {
        &self.calls
    }

    /// Errors the plugin returned (panics included).
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// Calls that panicked.
    pub fn panics(&self) -> u64 {
        self.panics.load(Ordering::Relaxed)
    }

    /// The last error, as one sentence.
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

// SAFETY: `Instance` is shared between threads; its only field that is not
// `Sync` by itself is the plugin cell, read through `Instance::plugin` and
// dropped once by `Instance::release` under the rules written there. The
// plugin itself is `Send + Sync`.
unsafe impl Sync for Instance {}

impl Drop for Instance {
    /// An instance that was never stopped (its plugin failed to be set up
    /// after creation, or the broker exits) drops its plugin now.
    fn drop(&mut self) {
        let stopped = self.stopped.get_mut().unwrap_or_else(|e| e.into_inner());
        if !*stopped {
            *stopped = true;
            // SAFETY: `&mut self`: no call can be under way.
            unsafe { self.release() };
        }
    }
}

/// The broker's hook handler for one plugin instance.
pub struct PluginHook(pub Arc<Instance>);

fn opt_str(value: Option<&str>) -> ROption<RStr<'_>> {
    value.map(RStr::from_str).into()
}

fn listener_event(info: &ClientInfo) -> ListenerEvent<'_> {
    ListenerEvent {
        name: RStr::from_str(info.listener.id()),
        protocol: RStr::from_str(info.listener.transport.as_str()),
    }
}

fn client_event<'a>(
    info: &'a ClientInfo,
    peer: &'a str,
    node: &'a str,
    reason: &'a str,
) -> ClientEvent<'a> {
    ClientEvent {
        client_id: RStr::from_str(&info.client_id),
        username: opt_str(info.username.as_deref()),
        peer: RStr::from_str(peer),
        protocol: info.protocol.level(),
        clean_start: info.clean_start,
        keep_alive: info.keep_alive,
        node: RStr::from_str(node),
        timestamp_ms: unix_millis(),
        reason: RStr::from_str(reason),
    }
}

type Pairs<'a> = Vec<Tuple2<RStr<'a>, RStr<'a>>>;

fn user_pairs(message: &Message) -> Pairs<'_> {
    message
        .properties
        .user_properties
        .iter()
        .map(|(k, v)| Tuple2(RStr::from_str(k), RStr::from_str(v)))
        .collect()
}

fn message_event<'a>(
    message: &'a Message,
    pairs: &'a Pairs<'a>,
    node: &'a str,
) -> MessageEvent<'a> {
    let props = &message.properties;
    MessageEvent {
        id: MessageId::from_u128(message.id.0),
        topic: RStr::from_str(&message.topic),
        payload: RSlice::from_slice(&message.payload),
        qos: message.qos as u8,
        retain: message.retain,
        from: RStr::from_str(&message.from),
        timestamp_ms: message.timestamp_ms,
        properties: MessageProperties {
            payload_format_indicator: props.payload_format_indicator.into(),
            message_expiry_interval: message
                .expires_at
                .and_then(|_| message.remaining_expiry(std::time::Instant::now()))
                .into(),
            content_type: opt_str(props.content_type.as_deref()),
            response_topic: opt_str(props.response_topic.as_deref()),
            correlation_data: props
                .correlation_data
                .as_deref()
                .map(RSlice::from_slice)
                .into(),
            user_properties: RSlice::from_slice(pairs),
        },
        node: RStr::from_str(node),
    }
}

fn delivery_event<'a>(
    client_id: &'a str,
    message: &'a Message,
    qos: QoS,
    pairs: &'a Pairs<'a>,
    node: &'a str,
) -> DeliveryEvent<'a> {
    DeliveryEvent {
        client_id: RStr::from_str(client_id),
        qos: qos as u8,
        message: message_event(message, pairs, node),
    }
}

fn subscription_event<'a>(
    client_id: &'a str,
    filter: &'a str,
    options: Option<SubscriptionOptions>,
    is_new: bool,
    node: &'a str,
) -> SubscriptionEvent<'a> {
    SubscriptionEvent {
        client_id: RStr::from_str(client_id),
        filter: RStr::from_str(filter),
        qos: options.map_or(0, |o| o.qos as u8),
        no_local: options.is_some_and(|o| o.no_local),
        retain_as_published: options.is_some_and(|o| o.retain_as_published),
        retain_handling: options.map_or(0, |o| o.retain_handling),
        is_new,
        node: RStr::from_str(node),
    }
}

/// The host's end of a plugin's [`mqhost_plugin_api::Reply`]: the answer
/// goes to whoever waits on the channel; dropping it unanswered closes the
/// channel, which the waiter reads as "ignore".
struct ReplyTo(oneshot::Sender<Decision>);

impl ReplySink for ReplyTo {
    fn send(self, decision: PluginDecision) {
        // The waiter may be gone (timed out, client left): nothing to do.
        let _ = self.0.send(host_decision(decision));
    }
}

/// A plugin's answer in the host's terms; one this host does not know,
/// and `PENDING` sent as an answer, count as ignore.
fn host_decision(decision: PluginDecision) -> Decision {
    match decision {
        PluginDecision::ALLOW => Decision::Allow,
        PluginDecision::ALLOW_SUPERUSER => Decision::AllowSuperuser,
        PluginDecision::DENY => Decision::Deny,
        _ => Decision::Ignore,
    }
}

impl PluginHook {
    /// Calls a decision hook with a fresh reply: the answer now, or, when
    /// the plugin says pending, the channel its reply will answer on. A
    /// failed or stopped plugin ignores.
    fn decide(
        &self,
        point: Point,
        call: impl FnOnce(
            &PluginBox,
            mqhost_plugin_api::ReplySinkBox,
        ) -> RResult<PluginDecision, PluginError>,
    ) -> Answer {
        let (tx, rx) = oneshot::channel();
        let sink = ReplySink_TO::from_value(ReplyTo(tx), TD_Opaque);
        match self.0.call(Some(point), |p| call(p, sink)) {
            Some(PluginDecision::PENDING) => Answer::Later(rx),
            Some(decision) => Answer::Now(host_decision(decision)),
            None => Answer::Now(Decision::Ignore),
        }
    }
}

fn action(access: Access) -> Action {
    match access {
        Access::Write => Action::PUBLISH,
        Access::Subscribe => Action::SUBSCRIBE,
        Access::Read => Action::READ,
    }
}

impl HookHandler for PluginHook {
    fn authenticate(&self, request: &AuthenticateRequest) -> Answer {
        let peer = request.peer.to_string();
        let event = AuthenticateEvent {
            client_id: RStr::from_str(&request.client_id),
            username: opt_str(request.username.as_deref()),
            password: request.password.as_deref().map(RSlice::from_slice).into(),
            peer: RStr::from_str(&peer),
            protocol: request.protocol.level(),
            listener: RStr::from_str(request.listener.id()),
            cert_common_name: opt_str(request.cert.as_ref().and_then(|c| c.common_name.as_deref())),
            cert_subject: opt_str(request.cert.as_ref().map(|c| c.subject.as_str())),
            node: RStr::from_str(&self.0.node),
        };
        self.decide(Point::CLIENT_AUTHENTICATE, |p, reply| {
            p.on_client_authenticate(&event, reply)
        })
    }

    fn authorize(&self, request: &AuthorizeRequest) -> Answer {
        let peer = request.peer.to_string();
        let event = AuthorizeEvent {
            client_id: RStr::from_str(&request.client_id),
            username: opt_str(request.username.as_deref()),
            peer: RStr::from_str(&peer),
            action: action(request.access),
            topic: RStr::from_str(&request.topic),
            qos: request.qos as u8,
            retain: request.retain,
            node: RStr::from_str(&self.0.node),
        };
        self.decide(Point::CLIENT_AUTHORIZE, |p, reply| {
            p.on_client_authorize(&event, reply)
        })
    }

    fn resuming(&self, request: &ResumeRequest) -> Answer {
        let event = ResumeEvent {
            client_id: RStr::from_str(&request.client_id),
            clean_start: request.clean_start,
            protocol: request.protocol.level(),
            node: RStr::from_str(&self.0.node),
        };
        self.decide(Point::SESSION_RESUMING, |p, reply| {
            p.on_session_resuming(&event, reply)
        })
    }

    fn client_connected(&self, client: &ClientInfo) {
        let peer = client.peer.to_string();
        let event = client_event(client, &peer, &self.0.node, "");
        let listener = listener_event(client);
        self.0.call(Some(Point::CLIENT_CONNECTED), |p| {
            p.on_client_connected_via(&event, &listener)
        });
    }

    fn client_disconnected(&self, client: &ClientInfo, reason: &str) {
        let peer = client.peer.to_string();
        let event = client_event(client, &peer, &self.0.node, reason);
        let listener = listener_event(client);
        self.0.call(Some(Point::CLIENT_DISCONNECTED), |p| {
            p.on_client_disconnected_via(&event, &listener)
        });
    }

    fn session_created(&self, client_id: &str, username: Option<&str>, resumed: bool) {
        let event = SessionEvent {
            client_id: RStr::from_str(client_id),
            username: opt_str(username),
            node: RStr::from_str(&self.0.node),
            resumed,
        };
        self.0.call(Some(Point::SESSION_CREATED), |p| {
            p.on_session_created(&event)
        });
    }

    fn session_subscribed(
        &self,
        client_id: &str,
        filter: &str,
        options: SubscriptionOptions,
        is_new: bool,
    ) {
        let event = subscription_event(client_id, filter, Some(options), is_new, &self.0.node);
        self.0.call(Some(Point::SESSION_SUBSCRIBED), |p| {
            p.on_session_subscribed(&event)
        });
    }

    fn session_unsubscribed(&self, client_id: &str, filter: &str) {
        let event = subscription_event(client_id, filter, None, false, &self.0.node);
        self.0.call(Some(Point::SESSION_UNSUBSCRIBED), |p| {
            p.on_session_unsubscribed(&event)
        });
    }

    fn message_publish(
        &self,
        message: &Arc<Message>,
        elsewhere: &mut ServedElsewhere,
    ) -> PublishVerdict {
        let pairs = user_pairs(message);
        let event = message_event(message, &pairs, &self.0.node);
        match self.0.call(Some(Point::MESSAGE_PUBLISH), |p| {
            p.on_message_publish_shared(&event, elsewhere)
        }) {
            Some(Verdict::DROP) => PublishVerdict::Drop,
            _ => PublishVerdict::Continue,
        }
    }

    fn message_delivered(&self, client_id: &str, message: &Arc<Message>, qos: QoS) {
        let pairs = user_pairs(message);
        let event = delivery_event(client_id, message, qos, &pairs, &self.0.node);
        self.0.call(Some(Point::MESSAGE_DELIVERED), |p| {
            p.on_message_delivered(&event)
        });
    }

    fn message_acked(&self, client_id: &str, message: &Arc<Message>, qos: QoS) {
        let pairs = user_pairs(message);
        let event = delivery_event(client_id, message, qos, &pairs, &self.0.node);
        self.0
            .call(Some(Point::MESSAGE_ACKED), |p| p.on_message_acked(&event));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use mqhost_plugin_api::{guard, Host, MqhostPlugin};

    use super::*;
    use crate::broker::Broker;
    use crate::config::HostConfig;
    use crate::plugins::host_api::BrokerHost;

    static DROPS: AtomicUsize = AtomicUsize::new(0);
    static PANICKING_DROPS: AtomicUsize = AtomicUsize::new(0);

    /// A plugin that counts its drops, and panics in its Drop when its
    /// configuration text says so.
    struct Counted {
        panic_on_drop: bool,
    }

    impl MqhostPlugin for Counted {
        fn start(_host: Host, config: &PluginConfig<'_>) -> Result<Self, ConfigError> {
            Ok(Counted {
                panic_on_drop: config.text.as_str() == "panic on drop",
            })
        }
        fn hooks(&self) -> HookSet {
            HookSet::NONE
        }
    }

    impl Drop for Counted {
        fn drop(&mut self) {
            if self.panic_on_drop {
                PANICKING_DROPS.fetch_add(1, Ordering::SeqCst);
                panic!("asked to panic on drop");
            }
            DROPS.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counted_instance(broker: &Arc<Broker>, text: &str) -> Arc<Instance> {
        let config = PluginConfig {
            name: RStr::from_str("counted"),
            source: RStr::from_str("counted.conf"),
            text: RStr::from_str(text),
        };
        let host = BrokerHost::new_box(broker, "counted");
        match guard::<Counted>(host, &config) {
            RResult::ROk(plugin) => Instance::new("counted", plugin, "node"),
            RResult::RErr(error) => panic!("{error}"),
        }
    }

    #[test]
    fn a_plugin_answer_the_host_does_not_know_counts_as_ignore() {
        assert_eq!(host_decision(PluginDecision::ALLOW), Decision::Allow);
        assert_eq!(host_decision(PluginDecision::DENY), Decision::Deny);
        assert_eq!(
            host_decision(PluginDecision::ALLOW_SUPERUSER),
            Decision::AllowSuperuser
        );
        // PENDING sent through a reply, and values of a later interface.
        for unknown in [
            PluginDecision::PENDING,
            PluginDecision(5),
            PluginDecision(255),
        ] {
            assert_eq!(host_decision(unknown), Decision::Ignore, "{unknown}");
        }
    }

    #[test]
    fn the_plugin_is_dropped_when_stopped_or_else_with_its_instance() {
        let broker = Broker::new(HostConfig::default());

        let instance = counted_instance(&broker, "");
        let cached = Arc::clone(&instance);
        instance.stop();
        // Dropped by stop, though a handler list still holds the instance.
        assert_eq!(DROPS.load(Ordering::SeqCst), 1);
        assert!(cached.is_stopped());
        assert_eq!(cached.hooks(), HookSet::NONE);
        assert_eq!(cached.stats(), "{}");
        instance.stop();
        drop((instance, cached));
        assert_eq!(DROPS.load(Ordering::SeqCst), 1);

        drop(counted_instance(&broker, ""));
        assert_eq!(DROPS.load(Ordering::SeqCst), 2);
    }

    /// A panic in a plugin's Drop would reach abi_stable's destructor,
    /// which aborts the process; plugin-api's guard catches it there, as it
    /// does for every other call.
    #[test]
    fn a_panic_in_the_plugins_drop_is_contained() {
        let broker = Broker::new(HostConfig::default());
        let instance = counted_instance(&broker, "panic on drop");
        instance.stop();
        assert_eq!(PANICKING_DROPS.load(Ordering::SeqCst), 1);
        assert!(instance.is_stopped());
    }
}
