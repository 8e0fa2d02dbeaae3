//! The host's side of [`HostApi`]: what a plugin may ask of the broker.
//!
//! Every call is synchronous and cheap: it looks a session up (and may read
//! its figures), or sends an event into a session's mailbox, or routes a
//! message, exactly as a client's packet would. None of it needs the caller to be on a broker
//! thread, so plugins call it from their own threads.

use std::sync::{Arc, Weak};
use std::time::Instant;

use bytes::Bytes;
use mqhost_codec::{PublishProperties, QoS};
use mqhost_plugin_api::abi_stable::sabi_trait::TD_Opaque;
use mqhost_plugin_api::abi_stable::std_types::{RArc, RResult, RSlice, RStr, RString, RVec};
use mqhost_plugin_api::{
    HostApi, HostApiBox, HostApi_TO, HostError, LogLevel, MessageEvent, OutMessage,
    SessionReceiverBox,
};

use crate::broker::message::{unix_millis, Message, MessageId};
use crate::broker::router::{shared_parts, Groups};
use crate::broker::session::handover::{self, PutError};
use crate::broker::session::{Delivery, SessionEvent};
use crate::broker::{topic, Broker, KickError};

/// One plugin's handle on the broker. It holds the broker weakly: the
/// broker holds the plugin, and a plugin outliving the broker gets
/// [`HostError::SHUTTING_DOWN`].
#[derive(Clone)]
pub struct BrokerHost {
    broker: Weak<Broker>,
    plugin: Arc<str>,
    /// The broker's runtime, where a session put in starts its task:
    /// plugins call from threads of their own.
    runtime: Option<tokio::runtime::Handle>,
}

impl BrokerHost {
    /// The ABI object to hand to plugin `plugin`.
    pub fn new_box(broker: &Arc<Broker>, plugin: &str) -> HostApiBox {
        let host = BrokerHost {
            broker: Arc::downgrade(broker),
            plugin: Arc::from(plugin),
            runtime: tokio::runtime::Handle::try_current().ok(),
        };
        HostApi_TO::from_ptr(RArc::new(host), TD_Opaque)
    }

    fn broker(&self) -> Result<Arc<Broker>, HostError> {
        self.broker.upgrade().ok_or(HostError::SHUTTING_DOWN)
    }

    /// The broker's form of a plugin's message.
    fn message(&self, broker: &Broker, out: &OutMessage<'_>) -> Result<Arc<Message>, HostError> {
        let topic = out.topic.as_str();
        topic::validate_topic_name(topic).map_err(|_| HostError::INVALID_TOPIC)?;
        let qos = QoS::try_from(out.qos).map_err(|_| HostError::INVALID_QOS)?;
        let id = out
            .id
            .into_option()
            .map(|id| MessageId(id.as_u128()))
            .unwrap_or_else(|| broker.next_message_id());
        let from: Arc<str> = if out.from.is_empty() {
            Arc::from(&*self.plugin)
        } else {
            Arc::from(out.from.as_str())
        };
        let properties = PublishProperties {
            user_properties: out
                .user_properties
                .iter()
                .map(|pair| (pair.0.to_string(), pair.1.to_string()))
                .collect(),
            ..PublishProperties::default()
        };
        Ok(Arc::new(Message {
            id,
            topic: Arc::from(topic),
            payload: Bytes::copy_from_slice(out.payload.as_slice()),
            qos,
            retain: out.retain,
            properties,
            from,
            from_session: None,
            timestamp_ms: if out.timestamp_ms == 0 {
                unix_millis()
            } else {
                out.timestamp_ms
            },
            expires_at: None::<Instant>,
        }))
    }

    /// The broker's form of a message another node published, with every
    /// property it had there.
    fn forwarded(event: &MessageEvent<'_>) -> Result<Arc<Message>, HostError> {
        let topic = event.topic.as_str();
        topic::validate_topic_name(topic).map_err(|_| HostError::INVALID_TOPIC)?;
        let qos = QoS::try_from(event.qos).map_err(|_| HostError::INVALID_QOS)?;
        let props = &event.properties;
        let expiry = props.message_expiry_interval.into_option();
        let properties = PublishProperties {
            payload_format_indicator: props.payload_format_indicator.into_option(),
            content_type: props.content_type.into_option().map(|s| s.to_string()),
            response_topic: props.response_topic.into_option().map(|s| s.to_string()),
            correlation_data: props
                .correlation_data
                .into_option()
                .map(|data| Bytes::copy_from_slice(data.as_slice())),
            user_properties: props
                .user_properties
                .iter()
                .map(|pair| (pair.0.to_string(), pair.1.to_string()))
                .collect(),
            ..PublishProperties::default()
        };
        Ok(Arc::new(Message {
            id: MessageId(event.id.as_u128()),
            topic: Arc::from(topic),
            payload: Bytes::copy_from_slice(event.payload.as_slice()),
            qos,
            retain: event.retain,
            properties,
            from: Arc::from(event.from.as_str()),
            from_session: None,
            timestamp_ms: event.timestamp_ms,
            expires_at: expiry
                .map(|secs| Instant::now() + std::time::Duration::from_secs(u64::from(secs))),
        }))
    }

    fn send(&self, client_id: RStr<'_>, event: SessionEvent) -> Result<(), HostError> {
        let broker = self.broker()?;
        let session = broker
            .registry
            .get(client_id.as_str())
            .ok_or(HostError::NO_SUCH_CLIENT)?;
        session.send(event).map_err(|_| HostError::NO_SUCH_CLIENT)
    }
}

impl HostApi for BrokerHost {
    fn node_name(&self) -> RString {
        self.broker()
            .map(|b| RString::from(b.node_name()))
            .unwrap_or_default()
    }

    fn is_connected(&self, client_id: RStr<'_>) -> bool {
        self.broker()
            .ok()
            .and_then(|b| b.registry.get(client_id.as_str()))
            .is_some_and(|session| session.is_online())
    }

    fn deliver(&self, client_id: RStr<'_>, out: &OutMessage<'_>) -> RResult<(), HostError> {
        let result = self.broker().and_then(|broker| {
            let message = self.message(&broker, out)?;
            let (qos, retain) = (message.qos, message.retain);
            let delivery = Delivery::new(message, qos, retain, Vec::new());
            self.send(client_id, SessionEvent::Deliver(delivery))
        });
        result.into()
    }

    fn publish(&self, out: &OutMessage<'_>) -> RResult<(), HostError> {
        let result = self.broker().and_then(|broker| {
            let message = self.message(&broker, out)?;
            broker.publish(message);
            Ok(())
        });
        result.into()
    }

    fn subscribe(&self, client_id: RStr<'_>, filter: RStr<'_>, qos: u8) -> RResult<(), HostError> {
        let result = valid_filter(filter).and_then(|()| {
            let qos = QoS::try_from(qos).map_err(|_| HostError::INVALID_QOS)?;
            self.send(
                client_id,
                SessionEvent::Subscribe {
                    filter: filter.to_string(),
                    qos,
                    reply: None,
                },
            )
        });
        result.into()
    }

    fn unsubscribe(&self, client_id: RStr<'_>, filter: RStr<'_>) -> RResult<(), HostError> {
        let result = valid_filter(filter).and_then(|()| {
            self.send(
                client_id,
                SessionEvent::Unsubscribe {
                    filter: filter.to_string(),
                    reply: None,
                },
            )
        });
        result.into()
    }

    fn log(&self, level: LogLevel, message: RStr<'_>) {
        let plugin = &*self.plugin;
        let message = message.as_str();
        match level {
            LogLevel::ERROR => tracing::error!(target: "mqhost::plugin", plugin, "{message}"),
            LogLevel::WARN => tracing::warn!(target: "mqhost::plugin", plugin, "{message}"),
            LogLevel::INFO => tracing::info!(target: "mqhost::plugin", plugin, "{message}"),
            LogLevel::DEBUG => tracing::debug!(target: "mqhost::plugin", plugin, "{message}"),
            _ => tracing::trace!(target: "mqhost::plugin", plugin, "{message}"),
        }
    }

    fn disconnect(&self, client_id: RStr<'_>, reason: u8) -> RResult<(), HostError> {
        let result = self.broker().and_then(|broker| {
            broker
                .kick(client_id.as_str(), reason)
                .map_err(|error| match error {
                    KickError::InvalidReason => HostError::INVALID_REASON,
                    KickError::NotConnected => HostError::NO_SUCH_CLIENT,
                })
        });
        result.into()
    }

    /// Read from the session's own figures (see `session::pressure`),
    /// without a message to the session: the answer comes at once, and a
    /// session pays nothing for it between calls.
    fn session_room(&self, client_id: RStr<'_>) -> RResult<u64, HostError> {
        let result = self.broker().and_then(|broker| {
            broker
                .registry
                .get(client_id.as_str())
                .map(|session| session.room())
                .ok_or(HostError::NO_SUCH_CLIENT)
        });
        result.into()
    }

    fn publish_local(&self, event: &MessageEvent<'_>, route: bool) -> RResult<u32, HostError> {
        let result = self.broker().and_then(|broker| {
            let message = Self::forwarded(event)?;
            let routed = broker.publish_local(message, route.then_some(Groups::All));
            Ok(u32::try_from(routed.receivers).unwrap_or(u32::MAX))
        });
        result.into()
    }

    fn publish_local_shared(
        &self,
        event: &MessageEvent<'_>,
        groups: RSlice<'_, RStr<'_>>,
    ) -> RResult<u32, HostError> {
        let result = self.broker().and_then(|broker| {
            let only = groups
                .iter()
                .map(|name| shared_parts(name.as_str()).ok_or(HostError::INVALID_TOPIC))
                .collect::<Result<Vec<_>, _>>()?;
            let message = Self::forwarded(event)?;
            let routed = broker.publish_local(message, Some(Groups::Only(&only)));
            Ok(u32::try_from(routed.receivers).unwrap_or(u32::MAX))
        });
        result.into()
    }

    fn take_session(
        &self,
        client_id: RStr<'_>,
        receiver: SessionReceiverBox,
    ) -> RResult<(), HostError> {
        let taker: handover::Taker = Box::new(move |bytes| {
            receiver.receive(match bytes {
                Some(bytes) => RResult::ROk(RVec::from(bytes)),
                None => RResult::RErr(HostError::NO_SUCH_CLIENT),
            })
        });
        self.send(client_id, SessionEvent::Take(taker)).into()
    }

    fn put_session(&self, client_id: RStr<'_>, session: RSlice<'_, u8>) -> RResult<(), HostError> {
        let result = self.broker().and_then(|broker| {
            let runtime = self.runtime.as_ref().ok_or(HostError::SHUTTING_DOWN)?;
            let _inside = runtime.enter();
            let client_id = client_id.as_str();
            handover::put(&broker, client_id, session.as_slice()).map_err(|error| match error {
                PutError::Exists => HostError::SESSION_EXISTS,
                PutError::Invalid(why) => {
                    tracing::warn!(plugin = &*self.plugin, client_id = %crate::escape::escaped(client_id), "session refused: {why}");
                    HostError::INVALID_SESSION
                }
            })
        });
        result.into()
    }
}

fn valid_filter(filter: RStr<'_>) -> Result<(), HostError> {
    let filter = filter.as_str();
    let inner = match topic::parse_shared(filter) {
        Ok(Some(shared)) => shared.filter,
        Ok(None) => filter,
        Err(_) => return Err(HostError::INVALID_TOPIC),
    };
    topic::validate_filter(inner).map_err(|_| HostError::INVALID_TOPIC)
}
