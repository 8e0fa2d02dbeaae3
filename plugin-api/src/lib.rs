//! The stable ABI between the mqhost broker and its plugins.
//!
//! A plugin is a `cdylib` that depends on this crate alone, implements
//! [`MqhostPlugin`], and exports itself with [`export_plugin!`]. The host
//! loads it from its plugins directory when `etc/plugins/NAME.conf` enables
//! it, hands it that file, and calls the hooks it asked for. The plugin
//! calls back through [`Host`] (deliver to a client, subscribe a client,
//! publish, log).
//!
//! Everything that crosses the boundary is an `abi_stable` type: no std
//! collection, no tokio type, no future, no panic. A plugin owns its
//! threads; hooks copy what they need and return at once.
//!
//! # Layout
//!
//! - [`types`]: hook sets, verdicts, log levels, message ids, errors.
//! - [`decision`]: the access decision hooks (`client.authenticate`,
//!   `client.authorize`), their events, and [`Reply`] for answers that
//!   come later.
//! - [`events`]: the data of each hook point, borrowed for one call.
//! - [`host`]: [`HostApi`], what the host offers, and [`Host`], its Rust face.
//! - [`plugin`]: [`MqhostPlugin`], what a plugin implements, and [`Plugin`],
//!   the guarded ABI object the host holds.
//! - [`module`]: the root module a library exports, and [`export_plugin!`].
//! - [`properties`]: the `key = value` configuration format, shared with
//!   the host so a file means the same to both.
// @since 1.7 begin
//! - [`handover`]: sessions that move between a cluster's nodes: the
//!   `session.resuming` hook point and sessions taken out as bytes
//!   (since 1.7).
// @since 1.7 end
// @since 1.6 begin
//! - [`shared`]: shared subscriptions across a cluster's nodes: the
//!   groups another node serves for a message (since 1.6).
// @since 1.6 end
//! - [`topic`]: MQTT topic names and filters: validation, shared
//!   subscriptions, matching, exactly as the broker applies them.
//! - [`testing`]: a recording host and event builders, for a plugin's unit
//!   tests.
//!
//! # Versioning
//!
//! The interface version is this crate's version. The host refuses a plugin
//! built against another major version, naming both; a plugin built against
//! an older minor version loads, because the root module and the trait
//! vtables are prefix types that later versions only extend.
//!
//! # Example
//!
//! A plugin that drops every message whose topic starts with `blocked/`:
//!
//! ```
//! use mqhost_plugin_api::{
//!     export_plugin, ConfigError, HookSet, Host, MessageEvent, MqhostPlugin, PluginConfig, Verdict,
//! };
//!
//! pub struct Blocker {
//!     host: Host,
//! }
//!
//! impl MqhostPlugin for Blocker {
//!     fn start(host: Host, _config: &PluginConfig<'_>) -> Result<Self, ConfigError> {
//!         host.info("blocking blocked/#");
//!         Ok(Blocker { host })
//!     }
//!
//!     fn hooks(&self) -> HookSet {
//!         HookSet::MESSAGE_PUBLISH
//!     }
//!
//!     fn on_message_publish(&self, message: &MessageEvent<'_>) -> Verdict {
//!         if message.topic.as_str().starts_with("blocked/") {
//!             self.host.debug("dropped a message");
//!             Verdict::DROP
//!         } else {
//!             Verdict::CONTINUE
//!         }
//!     }
//! }
//!
//! export_plugin!(name: "blocker", plugin: Blocker);
//! # fn main() {}
//! ```

#![deny(missing_docs)]

// @since 1.2 begin
pub mod decision;
// @since 1.2 end
pub mod events;
pub mod host;
pub mod module;
pub mod plugin;
pub mod properties;
// @since 1.7 begin
pub mod handover;
// @since 1.7 end
// @since 1.6 begin
pub mod shared;
// @since 1.6 end
pub mod testing;
pub mod topic;
pub mod types;

/// The `abi_stable` this interface is built on, for the code
/// [`export_plugin!`] generates.
///
/// ```
/// // Rarely needed in plugin code: the ABI types of an event's fields.
/// use mqhost_plugin_api::abi_stable::std_types::RStr;
///
/// let name: RStr<'_> = RStr::from_str("audit");
/// assert_eq!(name.as_str(), "audit");
/// ```
pub use abi_stable;

pub use events::{
    ClientEvent, DeliveryEvent, MessageEvent, MessageProperties, PluginConfig, SessionEvent,
    SubscriptionEvent,
};
pub use host::{Host, HostApi, HostApiBox, HostApi_TO, OutMessage};
pub use module::{PluginModule, PluginModuleRef};
pub use plugin::{guard, MqhostPlugin, Plugin, PluginBox, Plugin_TO};
pub use types::{ConfigError, HookSet, HostError, LogLevel, MessageId, PluginError, Verdict};
// @since 1.2 begin
pub use decision::{
    Action, AuthenticateEvent, AuthorizeEvent, Decision, Reply, ReplySink, ReplySinkBox,
    ReplySink_TO,
};
// @since 1.2 end
// @since 1.3 begin
pub use events::ListenerEvent;
// @since 1.3 end
// @since 1.4 begin
pub use types::ConfigCheck;
// @since 1.4 end
// @since 1.6 begin
pub use shared::ServedElsewhere;
// @since 1.6 end
// @since 1.7 begin
pub use handover::{
    session_receiver, ResumeEvent, SessionReceiver, SessionReceiverBox, SessionReceiver_TO,
};
// @since 1.7 end

/// The interface version plugins are built against (this crate's version).
///
/// ```
/// let major = mqhost_plugin_api::INTERFACE_VERSION.split('.').next().unwrap();
/// assert_eq!(major, "1");
/// ```
pub const INTERFACE_VERSION: &str = env!("CARGO_PKG_VERSION");

impl From<&properties::PropertiesError> for ConfigError {
    /// Keeps the line and key of a properties error; the file is the
    /// host's to add.
    fn from(error: &properties::PropertiesError) -> ConfigError {
        ConfigError::at(
            error.line.unwrap_or(0) as u32,
            error.key.clone().unwrap_or_default(),
            error.message.clone(),
        )
    }
}
