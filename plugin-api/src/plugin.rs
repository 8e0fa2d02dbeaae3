//! The plugin's side of the boundary: [`Plugin`], the ABI trait the host
//! calls, and [`MqhostPlugin`], the plain Rust trait a plugin implements.
//! [`guard`] joins them, catching every panic on the plugin's side.
#![allow(non_local_definitions)] // emitted by #[sabi_trait] on current rustc

use std::panic::{catch_unwind, AssertUnwindSafe};

use abi_stable::sabi_trait;
use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RBox, RResult, RString};

use crate::events::{
    ClientEvent, DeliveryEvent, MessageEvent, PluginConfig, SessionEvent, SubscriptionEvent,
};
use crate::host::Host;
use crate::types::{ConfigError, HookSet, PluginError, Verdict};
// @since 1.2 begin
use crate::decision::{AuthenticateEvent, AuthorizeEvent, Decision, Reply, ReplySinkBox};
// @since 1.2 end
// @since 1.3 begin
use crate::events::ListenerEvent;
// @since 1.3 end
// @since 1.6 begin
use crate::shared::ServedElsewhere;
// @since 1.6 end
// @since 1.7 begin
use crate::handover::ResumeEvent;
// @since 1.7 end

/// What a plugin does, in plain Rust. Implement the hooks you want and list
/// them in [`hooks`](Self::hooks); the others keep their no-op defaults and
/// are never called. Every hook runs on a broker thread and must return in
/// microseconds: copy what you need into your own queue and do I/O on your
/// own threads.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use mqhost_plugin_api::{ConfigError, HookSet, Host, MessageEvent, MqhostPlugin, PluginConfig, Verdict};
///
/// struct Counter {
///     seen: AtomicU64,
/// }
///
/// impl MqhostPlugin for Counter {
///     fn start(_host: Host, _config: &PluginConfig<'_>) -> Result<Self, ConfigError> {
///         Ok(Counter { seen: AtomicU64::new(0) })
///     }
///     fn hooks(&self) -> HookSet {
///         HookSet::MESSAGE_PUBLISH
///     }
///     fn on_message_publish(&self, _message: &MessageEvent<'_>) -> Verdict {
///         self.seen.fetch_add(1, Ordering::Relaxed);
///         Verdict::CONTINUE
///     }
/// }
/// ```
pub trait MqhostPlugin: Send + Sync + Sized + 'static {
    /// Builds the plugin from its configuration file. An error here keeps
    /// the plugin from loading and is shown as `file:line: key: message`.
    fn start(host: Host, config: &PluginConfig<'_>) -> Result<Self, ConfigError>;

    /// The hook points to call.
    fn hooks(&self) -> HookSet;

    /// `client.connected`.
    fn on_client_connected(&self, _client: &ClientEvent<'_>) {}
    /// `client.disconnected`.
    fn on_client_disconnected(&self, _client: &ClientEvent<'_>) {}
    /// `session.created`.
    fn on_session_created(&self, _session: &SessionEvent<'_>) {}
    /// `session.subscribed`.
    fn on_session_subscribed(&self, _subscription: &SubscriptionEvent<'_>) {}
    /// `session.unsubscribed`.
    fn on_session_unsubscribed(&self, _subscription: &SubscriptionEvent<'_>) {}
    /// `message.publish`: [`Verdict::DROP`] keeps the message from being
    /// routed or stored.
    fn on_message_publish(&self, _message: &MessageEvent<'_>) -> Verdict {
        Verdict::CONTINUE
    }
    /// `message.delivered`.
    fn on_message_delivered(&self, _delivery: &DeliveryEvent<'_>) {}
    /// `message.acked`.
    fn on_message_acked(&self, _delivery: &DeliveryEvent<'_>) {}

    /// The configuration file changed: validate the new text and switch to
    /// it atomically, or return the error and keep the old configuration.
    fn reconfigure(&self, _config: &PluginConfig<'_>) -> Result<(), ConfigError> {
        Ok(())
    }

    /// Figures for the admin API, as a JSON object.
    fn stats(&self) -> String {
        "{}".to_owned()
    }

    /// The plugin is being disabled or replaced: finish queued work, then
    /// stop. No hook is called after this.
    fn stop(&self) {}

    // @since 1.2 begin
    /// `client.authenticate` (since 1.2): may this client connect? Answer
    /// at once, or return [`Decision::PENDING`] and answer through `reply`
    /// later (see [`decision`](crate::decision)). Asked only when
    /// [`hooks`](Self::hooks) includes
    /// [`HookSet::CLIENT_AUTHENTICATE`].
    fn on_client_authenticate(&self, _request: &AuthenticateEvent<'_>, _reply: Reply) -> Decision {
        Decision::IGNORE
    }

    /// `client.authorize` (since 1.2): may this client publish to,
    /// subscribe to, or (with [`HookSet::CLIENT_AUTHORIZE_READ`]) receive
    /// from this topic? Answered as
    /// [`on_client_authenticate`](Self::on_client_authenticate) is.
    /// Answers are cached per client by the host (`acl.cache`).
    fn on_client_authorize(&self, _request: &AuthorizeEvent<'_>, _reply: Reply) -> Decision {
        Decision::IGNORE
    }
    // @since 1.2 end

    // @since 1.3 begin
    /// `client.connected` with the listener the client came in on (since
    /// 1.3). The host calls this one; by default it calls
    /// [`on_client_connected`](Self::on_client_connected), so a plugin
    /// implements whichever it needs.
    ///
    /// ```
    /// use mqhost_plugin_api::testing::client_event;
    /// use mqhost_plugin_api::{ClientEvent, ConfigError, HookSet, Host, ListenerEvent, MqhostPlugin, PluginConfig};
    ///
    /// struct TlsOnly(Host);
    ///
    /// impl MqhostPlugin for TlsOnly {
    ///     fn start(host: Host, _config: &PluginConfig<'_>) -> Result<Self, ConfigError> {
    ///         Ok(TlsOnly(host))
    ///     }
    ///     fn hooks(&self) -> HookSet {
    ///         HookSet::CLIENT_CONNECTED
    ///     }
    ///     fn on_client_connected_via(&self, client: &ClientEvent<'_>, listener: &ListenerEvent<'_>) {
    ///         if !listener.is_tls() {
    ///             self.0.warn(&format!("{} connected in clear on {}", client.client_id, listener.name));
    ///         }
    ///     }
    /// }
    /// # let _ = client_event("dev-1").build();
    /// ```
    fn on_client_connected_via(&self, client: &ClientEvent<'_>, _listener: &ListenerEvent<'_>) {
        self.on_client_connected(client)
    }

    /// `client.disconnected` with the listener (since 1.3); by default
    /// calls [`on_client_disconnected`](Self::on_client_disconnected).
    fn on_client_disconnected_via(&self, client: &ClientEvent<'_>, _listener: &ListenerEvent<'_>) {
        self.on_client_disconnected(client)
    }
    // @since 1.3 end

    // @since 1.4 begin
    /// Checks a configuration text as [`start`](Self::start) and
    /// [`reconfigure`](Self::reconfigure) would, without applying it
    /// (since 1.4): the admin API's `config/validate`, and its check
    /// before it writes a new file. No instance is asked (the plugin may
    /// not be running), so this must only read: no connection, no thread,
    /// no file written, nothing logged.
    ///
    /// `Some(Ok(warnings))` when the text would be taken (with what a
    /// running plugin would log as warnings), `Some(Err(error))` when it
    /// would be refused, and `None`, the default, when the plugin cannot
    /// tell without applying it (the host then says so, and asks to be
    /// told twice before it writes the file).
    ///
    /// ```
    /// use mqhost_plugin_api::testing::plugin_config;
    /// use mqhost_plugin_api::{properties, ConfigError, HookSet, Host, MqhostPlugin, PluginConfig};
    ///
    /// struct Greeter {
    ///     text: String,
    /// }
    ///
    /// /// The one parser `start`, `reconfigure` and the check share.
    /// fn parse(config: &PluginConfig<'_>) -> Result<(String, Vec<String>), ConfigError> {
    ///     let props = properties::parse(config.text.as_str(), config.source.as_str())
    ///         .map_err(|e| ConfigError::from(&e))?;
    ///     let text = props.value("greeter.text").unwrap_or("hello").to_owned();
    ///     let mut warnings = Vec::new();
    ///     if text.is_empty() {
    ///         warnings.push("greeter.text is empty: clients get an empty greeting".to_owned());
    ///     }
    ///     Ok((text, warnings))
    /// }
    ///
    /// impl MqhostPlugin for Greeter {
    ///     fn start(_host: Host, config: &PluginConfig<'_>) -> Result<Self, ConfigError> {
    ///         Ok(Greeter { text: parse(config)?.0 })
    ///     }
    ///     fn hooks(&self) -> HookSet {
    ///         HookSet::NONE
    ///     }
    ///     fn check_config(config: &PluginConfig<'_>) -> Option<Result<Vec<String>, ConfigError>> {
    ///         Some(parse(config).map(|(_, warnings)| warnings))
    ///     }
    /// }
    ///
    /// let checked = Greeter::check_config(&plugin_config("greeter.text =\n").build());
    /// assert_eq!(checked.unwrap().unwrap().len(), 1);
    /// let refused = Greeter::check_config(&plugin_config("greeter.text\n").build());
    /// assert!(refused.unwrap().is_err());
    /// ```
    fn check_config(_config: &PluginConfig<'_>) -> Option<Result<Vec<String>, ConfigError>> {
        None
    }
    // @since 1.4 end

    // @since 1.6 begin
    /// `message.publish` with the shared subscriptions of this message
    /// (since 1.6): as [`on_message_publish`](Self::on_message_publish),
    /// and the plugin may name in `elsewhere` the shared subscriptions
    /// (`$share/group/filter`) that another node serves for this message;
    /// this node then hands it to none of their members here. A cluster
    /// plugin uses it so that one member of a group in the whole cluster
    /// gets each message. The host calls this one; by default it calls
    /// [`on_message_publish`](Self::on_message_publish) and names none.
    ///
    /// ```
    /// use mqhost_plugin_api::testing::{message_event, plugin_config, GuardedPlugin, TestHost};
    /// use mqhost_plugin_api::{ConfigError, HookSet, Host, MessageEvent, MqhostPlugin, PluginConfig, ServedElsewhere, Verdict};
    ///
    /// /// Leaves group `remote` to another node, whatever the message.
    /// struct Elsewhere;
    ///
    /// impl MqhostPlugin for Elsewhere {
    ///     fn start(_host: Host, _config: &PluginConfig<'_>) -> Result<Self, ConfigError> {
    ///         Ok(Elsewhere)
    ///     }
    ///     fn hooks(&self) -> HookSet {
    ///         HookSet::MESSAGE_PUBLISH
    ///     }
    ///     fn on_message_publish_shared(
    ///         &self,
    ///         message: &MessageEvent<'_>,
    ///         elsewhere: &mut ServedElsewhere,
    ///     ) -> Verdict {
    ///         elsewhere.push(&format!("$share/remote/{}", message.topic));
    ///         Verdict::CONTINUE
    ///     }
    /// }
    ///
    /// let plugin = GuardedPlugin::start::<Elsewhere>(&TestHost::new(), &plugin_config("").build()).unwrap();
    /// let mut elsewhere = ServedElsewhere::new();
    /// let verdict = plugin.on_message_publish_shared(&message_event("jobs/1").build(), &mut elsewhere);
    /// assert_eq!(verdict.unwrap(), Verdict::CONTINUE);
    /// assert!(elsewhere.contains("$share/remote/jobs/1"));
    /// ```
    fn on_message_publish_shared(
        &self,
        message: &MessageEvent<'_>,
        _elsewhere: &mut ServedElsewhere,
    ) -> Verdict {
        self.on_message_publish(message)
    }
    // @since 1.6 end

    // @since 1.7 begin
    /// `session.resuming` (since 1.7): an authenticated client is about
    /// to get its session here, with or without Clean Start. A plugin that
    /// keeps sessions elsewhere (another node of a cluster) brings the
    /// session here with [`Host::put_session`] before it answers; the
    /// client then resumes it. The answer itself only says "done": any
    /// [`Decision`] but [`Decision::PENDING`] goes on at once, and a
    /// pending one when its [`Reply`] is sent or dropped, or after
    /// `auth.timeout`. Asked only when [`hooks`](Self::hooks) includes
    /// [`HookSet::SESSION_RESUMING`].
    ///
    /// ```
    /// use mqhost_plugin_api::abi_stable::std_types::RStr;
    /// use mqhost_plugin_api::testing::{plugin_config, GuardedPlugin, ReplyProbe, TestHost};
    /// use mqhost_plugin_api::{ConfigError, Decision, HookSet, Host, MqhostPlugin, PluginConfig, Reply, ResumeEvent};
    ///
    /// /// Counts the clients that come back for their sessions.
    /// struct Returns(std::sync::atomic::AtomicU64);
    ///
    /// impl MqhostPlugin for Returns {
    ///     fn start(_host: Host, _config: &PluginConfig<'_>) -> Result<Self, ConfigError> {
    ///         Ok(Returns(Default::default()))
    ///     }
    ///     fn hooks(&self) -> HookSet {
    ///         HookSet::SESSION_RESUMING
    ///     }
    ///     fn on_session_resuming(&self, event: &ResumeEvent<'_>, _reply: Reply) -> Decision {
    ///         if !event.clean_start {
    ///             self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    ///         }
    ///         Decision::IGNORE
    ///     }
    /// }
    ///
    /// let plugin = GuardedPlugin::start::<Returns>(&TestHost::new(), &plugin_config("").build()).unwrap();
    /// let event = ResumeEvent {
    ///     client_id: RStr::from_str("sensor-1"),
    ///     clean_start: false,
    ///     protocol: 5,
    ///     node: RStr::from_str("n1"),
    /// };
    /// let (reply, _answer) = ReplyProbe::new();
    /// assert_eq!(plugin.on_session_resuming(&event, reply).unwrap(), Decision::IGNORE);
    /// ```
    fn on_session_resuming(&self, _event: &ResumeEvent<'_>, _reply: Reply) -> Decision {
        Decision::IGNORE
    }
    // @since 1.7 end
}

/// The ABI face of a loaded plugin, as the host sees it. Plugin authors do
/// not implement this: [`export_plugin!`](crate::export_plugin) wraps an
/// [`MqhostPlugin`] in it. Every method returns an error value instead of
/// unwinding.
///
/// ```
/// use mqhost_plugin_api::testing::{message_event, plugin_config, TestHost};
/// use mqhost_plugin_api::{guard, ConfigError, HookSet, Host, MqhostPlugin, PluginConfig, PluginBox, Verdict};
///
/// struct Open;
///
/// impl MqhostPlugin for Open {
///     fn start(_host: Host, _config: &PluginConfig<'_>) -> Result<Self, ConfigError> {
///         Ok(Open)
///     }
///     fn hooks(&self) -> HookSet {
///         HookSet::MESSAGE_PUBLISH
///     }
/// }
///
/// let plugin: PluginBox = guard::<Open>(TestHost::new().host().api().clone(), &plugin_config("").build()).unwrap();
/// // What the host calls: every answer is an RResult.
/// assert_eq!(plugin.on_message_publish(&message_event("a").build()).unwrap(), Verdict::CONTINUE);
/// ```
#[sabi_trait]
pub trait Plugin: Send + Sync {
    /// See [`MqhostPlugin::hooks`].
    fn hooks(&self) -> RResult<HookSet, PluginError>;
    /// `client.connected`.
    fn on_client_connected(&self, client: &ClientEvent<'_>) -> RResult<(), PluginError>;
    /// `client.disconnected`.
    fn on_client_disconnected(&self, client: &ClientEvent<'_>) -> RResult<(), PluginError>;
    /// `session.created`.
    fn on_session_created(&self, session: &SessionEvent<'_>) -> RResult<(), PluginError>;
    /// `session.subscribed`.
    fn on_session_subscribed(
        &self,
        subscription: &SubscriptionEvent<'_>,
    ) -> RResult<(), PluginError>;
    /// `session.unsubscribed`.
    fn on_session_unsubscribed(
        &self,
        subscription: &SubscriptionEvent<'_>,
    ) -> RResult<(), PluginError>;
    /// `message.publish`.
    fn on_message_publish(&self, message: &MessageEvent<'_>) -> RResult<Verdict, PluginError>;
    /// `message.delivered`.
    fn on_message_delivered(&self, delivery: &DeliveryEvent<'_>) -> RResult<(), PluginError>;
    /// `message.acked`.
    fn on_message_acked(&self, delivery: &DeliveryEvent<'_>) -> RResult<(), PluginError>;
    /// See [`MqhostPlugin::reconfigure`]; the outer error is a panic.
    fn reconfigure(
        &self,
        config: &PluginConfig<'_>,
    ) -> RResult<RResult<(), ConfigError>, PluginError>;
    /// See [`MqhostPlugin::stats`].
    fn stats(&self) -> RResult<RString, PluginError>;
    /// See [`MqhostPlugin::stop`].
    #[sabi(last_prefix_field)]
    fn stop(&self) -> RResult<(), PluginError>;

    // @since 1.2 begin
    /// See [`MqhostPlugin::on_client_authenticate`]. A plugin built
    /// against an older interface lacks it: abi_stable then runs this
    /// default, which ignores.
    fn on_client_authenticate(
        &self,
        _request: &AuthenticateEvent<'_>,
        _reply: ReplySinkBox,
    ) -> RResult<Decision, PluginError> {
        RResult::ROk(Decision::IGNORE)
    }
    /// See [`MqhostPlugin::on_client_authorize`]; defaults as
    /// `on_client_authenticate` does.
    fn on_client_authorize(
        &self,
        _request: &AuthorizeEvent<'_>,
        _reply: ReplySinkBox,
    ) -> RResult<Decision, PluginError> {
        RResult::ROk(Decision::IGNORE)
    }
    // @since 1.2 end

    // @since 1.3 begin
    /// See [`MqhostPlugin::on_client_connected_via`]. A plugin built
    /// against an older interface lacks it: abi_stable then runs this
    /// default, which calls what that plugin has.
    fn on_client_connected_via(
        &self,
        client: &ClientEvent<'_>,
        _listener: &ListenerEvent<'_>,
    ) -> RResult<(), PluginError> {
        self.on_client_connected(client)
    }
    /// See [`MqhostPlugin::on_client_disconnected_via`]; defaults as
    /// `on_client_connected_via` does.
    fn on_client_disconnected_via(
        &self,
        client: &ClientEvent<'_>,
        _listener: &ListenerEvent<'_>,
    ) -> RResult<(), PluginError> {
        self.on_client_disconnected(client)
    }
    // @since 1.3 end

    // @since 1.6 begin
    /// See [`MqhostPlugin::on_message_publish_shared`]. A plugin built
    /// against an older interface lacks it: abi_stable then runs this
    /// default, which calls that plugin's `on_message_publish` and names
    /// no group.
    fn on_message_publish_shared(
        &self,
        message: &MessageEvent<'_>,
        _elsewhere: &mut ServedElsewhere,
    ) -> RResult<Verdict, PluginError> {
        self.on_message_publish(message)
    }
    // @since 1.6 end

    // @since 1.7 begin
    /// See [`MqhostPlugin::on_session_resuming`]. A plugin built against
    /// an older interface lacks it: abi_stable then runs this default,
    /// which goes on at once.
    fn on_session_resuming(
        &self,
        _event: &ResumeEvent<'_>,
        _reply: ReplySinkBox,
    ) -> RResult<Decision, PluginError> {
        RResult::ROk(Decision::IGNORE)
    }
    // @since 1.7 end
}

/// A loaded plugin instance, owned by the host.
///
/// ```
/// use mqhost_plugin_api::testing::{plugin_config, TestHost};
/// use mqhost_plugin_api::{guard, ConfigError, HookSet, Host, MqhostPlugin, PluginConfig, PluginBox};
///
/// struct Quiet;
///
/// impl MqhostPlugin for Quiet {
///     fn start(_host: Host, _config: &PluginConfig<'_>) -> Result<Self, ConfigError> {
///         Ok(Quiet)
///     }
///     fn hooks(&self) -> HookSet {
///         HookSet::NONE
///     }
/// }
///
/// let plugin: PluginBox = guard::<Quiet>(TestHost::new().host().api().clone(), &plugin_config("").build()).unwrap();
/// assert_eq!(plugin.hooks().unwrap(), HookSet::NONE);
/// ```
pub type PluginBox = Plugin_TO<'static, RBox<()>>;

/// Runs `call`, turning a panic into a [`PluginError`] marked `panicked`.
pub(crate) fn guarded<T>(call: impl FnOnce() -> T) -> RResult<T, PluginError> {
    match catch_unwind(AssertUnwindSafe(call)) {
        Ok(value) => RResult::ROk(value),
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_owned());
            RResult::RErr(PluginError {
                message: RString::from(message),
                panicked: true,
            })
        }
    }
}

/// An [`MqhostPlugin`] behind the [`Plugin`] ABI, with every call guarded,
/// its drop included: a panic there would otherwise unwind into
/// abi_stable's destructor, which aborts the broker.
struct Guarded<T> {
    /// Always `Some` until dropped, so the drop can run inside [`guarded`].
    plugin: Option<T>,
    /// To report a panic in the plugin's drop.
    host: Host,
}

impl<T> Guarded<T> {
    fn plugin(&self) -> &T {
        match &self.plugin {
            Some(plugin) => plugin,
            None => unreachable!("a plugin is only taken when dropped"),
        }
    }
}

impl<T> Drop for Guarded<T> {
    fn drop(&mut self) {
        let plugin = self.plugin.take();
        if let RResult::RErr(error) = guarded(move || drop(plugin)) {
            self.host.error(&format!("{error} while being dropped"));
        }
    }
}

impl<T: MqhostPlugin> Plugin for Guarded<T> {
    fn hooks(&self) -> RResult<HookSet, PluginError> {
        guarded(|| self.plugin().hooks())
    }
    fn on_client_connected(&self, client: &ClientEvent<'_>) -> RResult<(), PluginError> {
        guarded(|| self.plugin().on_client_connected(client))
    }
    fn on_client_disconnected(&self, client: &ClientEvent<'_>) -> RResult<(), PluginError> {
        guarded(|| self.plugin().on_client_disconnected(client))
    }
    fn on_session_created(&self, session: &SessionEvent<'_>) -> RResult<(), PluginError> {
        guarded(|| self.plugin().on_session_created(session))
    }
    fn on_session_subscribed(
        &self,
        subscription: &SubscriptionEvent<'_>,
    ) -> RResult<(), PluginError> {
        guarded(|| self.plugin().on_session_subscribed(subscription))
    }
    fn on_session_unsubscribed(
        &self,
        subscription: &SubscriptionEvent<'_>,
    ) -> RResult<(), PluginError> {
        guarded(|| self.plugin().on_session_unsubscribed(subscription))
    }
    fn on_message_publish(&self, message: &MessageEvent<'_>) -> RResult<Verdict, PluginError> {
        guarded(|| self.plugin().on_message_publish(message))
    }
    fn on_message_delivered(&self, delivery: &DeliveryEvent<'_>) -> RResult<(), PluginError> {
        guarded(|| self.plugin().on_message_delivered(delivery))
    }
    fn on_message_acked(&self, delivery: &DeliveryEvent<'_>) -> RResult<(), PluginError> {
        guarded(|| self.plugin().on_message_acked(delivery))
    }
    fn reconfigure(
        &self,
        config: &PluginConfig<'_>,
    ) -> RResult<RResult<(), ConfigError>, PluginError> {
        guarded(|| self.plugin().reconfigure(config).into())
    }
    fn stats(&self) -> RResult<RString, PluginError> {
        guarded(|| RString::from(self.plugin().stats()))
    }
    fn stop(&self) -> RResult<(), PluginError> {
        guarded(|| self.plugin().stop())
    }
    // @since 1.2 begin
    fn on_client_authenticate(
        &self,
        request: &AuthenticateEvent<'_>,
        reply: ReplySinkBox,
    ) -> RResult<Decision, PluginError> {
        guarded(|| {
            self.plugin()
                .on_client_authenticate(request, Reply::new(reply))
        })
    }
    fn on_client_authorize(
        &self,
        request: &AuthorizeEvent<'_>,
        reply: ReplySinkBox,
    ) -> RResult<Decision, PluginError> {
        guarded(|| {
            self.plugin()
                .on_client_authorize(request, Reply::new(reply))
        })
    }
    // @since 1.2 end
    // @since 1.3 begin
    fn on_client_connected_via(
        &self,
        client: &ClientEvent<'_>,
        listener: &ListenerEvent<'_>,
    ) -> RResult<(), PluginError> {
        guarded(|| self.plugin().on_client_connected_via(client, listener))
    }
    fn on_client_disconnected_via(
        &self,
        client: &ClientEvent<'_>,
        listener: &ListenerEvent<'_>,
    ) -> RResult<(), PluginError> {
        guarded(|| self.plugin().on_client_disconnected_via(client, listener))
    }
    // @since 1.3 end
    // @since 1.6 begin
    fn on_message_publish_shared(
        &self,
        message: &MessageEvent<'_>,
        elsewhere: &mut ServedElsewhere,
    ) -> RResult<Verdict, PluginError> {
        guarded(|| self.plugin().on_message_publish_shared(message, elsewhere))
    }
    // @since 1.6 end
    // @since 1.7 begin
    fn on_session_resuming(
        &self,
        event: &ResumeEvent<'_>,
        reply: ReplySinkBox,
    ) -> RResult<Decision, PluginError> {
        guarded(|| self.plugin().on_session_resuming(event, Reply::new(reply)))
    }
    // @since 1.7 end
}

/// Starts an [`MqhostPlugin`] and wraps it for the host; a panic in
/// `start` becomes an error. Called by the code
/// [`export_plugin!`](crate::export_plugin) generates.
///
/// ```
/// use mqhost_plugin_api::testing::{plugin_config, TestHost};
/// use mqhost_plugin_api::{guard, ConfigError, HookSet, Host, MqhostPlugin, PluginConfig};
///
/// struct Broken;
///
/// impl MqhostPlugin for Broken {
///     fn start(_host: Host, _config: &PluginConfig<'_>) -> Result<Self, ConfigError> {
///         panic!("no configuration")
///     }
///     fn hooks(&self) -> HookSet {
///         HookSet::NONE
///     }
/// }
///
/// let host = TestHost::new().host();
/// let error = guard::<Broken>(host.api().clone(), &plugin_config("").build())
///     .into_result()
///     .err()
///     .unwrap();
/// assert_eq!(error.message.as_str(), "the plugin panicked while starting");
/// ```
pub fn guard<T: MqhostPlugin>(
    host: crate::HostApiBox,
    config: &PluginConfig<'_>,
) -> RResult<PluginBox, ConfigError> {
    let host = Host::new(host);
    let started = catch_unwind(AssertUnwindSafe(|| T::start(host.clone(), config)));
    match started {
        Ok(Ok(plugin)) => RResult::ROk(Plugin_TO::from_value(
            Guarded {
                plugin: Some(plugin),
                host,
            },
            TD_Opaque,
        )),
        Ok(Err(error)) => RResult::RErr(error),
        Err(_) => RResult::RErr(ConfigError::new("the plugin panicked while starting")),
    }
}
