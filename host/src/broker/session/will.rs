//! Wills: the message a client leaves to be published when its connection
//! ends without a normal DISCONNECT, at once or after its delay.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Session;
use crate::broker::message::{unix_millis, Message};

/// A will waiting for its delay to pass.
pub(super) struct PendingWill {
    pub(super) at: Instant,
    pub(super) message: Arc<Message>,
}

impl Session {
    pub(super) fn will_message(&self, will: mqhost_codec::LastWill) -> Arc<Message> {
        let mut properties = mqhost_codec::PublishProperties {
            payload_format_indicator: will.properties.payload_format_indicator,
            message_expiry_interval: will.properties.message_expiry_interval,
            content_type: will.properties.content_type,
            response_topic: will.properties.response_topic,
            correlation_data: will.properties.correlation_data,
            user_properties: will.properties.user_properties,
            ..Default::default()
        };
        let expires_at = properties
            .message_expiry_interval
            .take()
            .map(|secs| Instant::now() + Duration::from_secs(u64::from(secs)));
        properties.message_expiry_interval = None;
        Arc::new(Message {
            id: self.broker.next_message_id(),
            topic: Arc::from(will.topic.as_str()),
            payload: will.payload,
            qos: will.qos,
            retain: will.retain,
            properties,
            from: Arc::clone(&self.client_id),
            from_session: Some(self.handle.id()),
            timestamp_ms: unix_millis(),
            expires_at,
        })
    }

    pub(super) fn publish_pending_will(&mut self) {
        if let Some(will) = self.pending_will.take() {
            self.record(crate::persist::Record::WillClear);
            self.broker.publish(will.message);
        }
    }
}
