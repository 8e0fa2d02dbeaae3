//! Retained messages and publishing:
//!
//! - `GET /api/v1/retained?topic=FILTER`: the built-in store's messages
//!   whose topic matches FILTER (`#` by default, which, as in MQTT, leaves
//!   out `$` topics), by topic, paged;
//! - `GET|DELETE /api/v1/retained/TOPIC`: one message, with its payload;
//!   its removal (nothing is published, and a plugin's store is not
//!   touched). TOPIC is percent-encoded, `/` as `%2F` or as it is;
//! - `POST /api/v1/publish`: a message published as a client's PUBLISH
//!   would be (topic rules, `mqtt.max_packet_size`, hooks, the retained
//!   store, routing), from no client.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::Uri;
use axum::Extension;
use base64::Engine;
use bytes::Bytes;
use mqhost_codec::QoS;
use serde_json::{json, Value};

use super::api::{error, ok, AdminState, Caller, Reply};
use super::body;
use super::path::percent_decode;
use super::query::Query;
use super::time::rfc3339;
use crate::access::{dollar_topic_denied, Access};
use crate::broker::message::Message;
use crate::broker::topic;
use crate::escape::escaped;

/// The path before a retained message's topic.
pub const RETAINED_PREFIX: &str = "/api/v1/retained/";
/// The most payload bytes one answer carries; a larger payload is cut
/// and said to be.
pub const MAX_PAYLOAD_SHOWN: usize = 1 << 20;

/// The summary of one retained message, as listed.
fn summary(message: &Message) -> Value {
    json!({
        "topic": &*message.topic,
        "id": message.id.to_base62(),
        "qos": message.qos as u8,
        "payload_size": message.payload.len(),
        "from_clientid": &*message.from,
        "published_at": rfc3339(message.timestamp_ms),
        "expires_at": message.expires_at.map(|at| {
            let left = at.saturating_duration_since(Instant::now());
            rfc3339(crate::broker::message::unix_millis().saturating_add(left.as_millis() as u64))
        }),
    })
}

/// The summary with the payload: base64 always, UTF-8 text when it is.
fn detail(message: &Message) -> Value {
    let mut value = summary(message);
    let shown = &message.payload[..message.payload.len().min(MAX_PAYLOAD_SHOWN)];
    let truncated = shown.len() < message.payload.len();
    // A cut may fall inside a character: the text stops before it.
    let text = match std::str::from_utf8(shown) {
        Ok(text) => Some(text),
        Err(e) if truncated && e.error_len().is_none() => {
            std::str::from_utf8(&shown[..e.valid_up_to()]).ok()
        }
        Err(_) => None,
    };
    if let Some(fields) = value.as_object_mut() {
        fields.insert(
            "payload".into(),
            base64::engine::general_purpose::STANDARD
                .encode(shown)
                .into(),
        );
        fields.insert("payload_utf8".into(), text.into());
        fields.insert("truncated".into(), truncated.into());
    }
    value
}

pub async fn list(State(state): State<Arc<AdminState>>, uri: Uri) -> Reply {
    let query = match Query::parse(uri.query(), &["page", "limit", "topic"]) {
        Ok(query) => query,
        Err(message) => return error(400, &message),
    };
    let paging = match query.paging() {
        Ok(paging) => paging,
        Err(message) => return error(400, &message),
    };
    let filter = query.get("topic").unwrap_or("#").to_owned();
    if let Err(e) = topic::validate_filter(&filter) {
        return error(400, &format!("topic {filter:?}: {e}"));
    }
    // The store may be large: walked off the runtime's threads.
    let listed = tokio::task::spawn_blocking(move || {
        let mut found = state.broker.router.retained_for(&filter);
        found.sort_by(|a, b| a.topic.cmp(&b.topic));
        let (page, meta) = paging.cut(found);
        let data: Vec<Value> = page.iter().map(|m| summary(m)).collect();
        json!({ "data": data, "meta": meta })
    })
    .await;
    match listed {
        Ok(body) => ok(body),
        Err(_) => error(500, "listing retained messages failed"),
    }
}

/// The topic named by the path after [`RETAINED_PREFIX`].
fn topic_of(uri: &Uri) -> Result<String, Reply> {
    let raw = uri.path().strip_prefix(RETAINED_PREFIX).unwrap_or("");
    let topic = percent_decode(raw)
        .ok_or_else(|| error(400, "the topic is not valid percent-encoded UTF-8"))?;
    topic::validate_topic_name(&topic).map_err(|e| error(400, &format!("topic {topic:?}: {e}")))?;
    Ok(topic)
}

pub async fn show(State(state): State<Arc<AdminState>>, uri: Uri) -> Reply {
    let topic = match topic_of(&uri) {
        Ok(topic) => topic,
        Err(reply) => return reply,
    };
    match state.broker.router.retained_get(&topic) {
        Some(message) => ok(detail(&message)),
        None => error(404, &format!("no retained message on {topic:?}")),
    }
}

pub async fn delete(
    State(state): State<Arc<AdminState>>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
) -> Reply {
    let topic = match topic_of(&uri) {
        Ok(topic) => topic,
        Err(reply) => return reply,
    };
    if state.broker.remove_retained(&topic) {
        tracing::info!(topic = %escaped(&topic), by = %caller, "retained message deleted through the admin API");
        Reply {
            status: 204,
            body: None,
        }
    } else {
        error(404, &format!("no retained message on {topic:?}"))
    }
}

/// What a publish asks for, checked.
struct Publish {
    topic: String,
    payload: Bytes,
    qos: QoS,
    retain: bool,
    expiry: Option<u32>,
}

/// Reads and checks `{"topic", "payload", "encoding", "qos", "retain",
/// "message_expiry_interval"}` as a PUBLISH's would be.
fn read_publish(fields: &body::Fields, max_packet_size: u32) -> Result<Publish, Reply> {
    let topic = fields.string("topic")?.to_owned();
    if let Err(e) = topic::validate_topic_name(&topic) {
        return Err(error(400, &format!("topic {topic:?}: {e}")));
    }
    if dollar_topic_denied(&topic, Access::Write) {
        return Err(error(
            403,
            &format!("{topic:?} is the broker's: nobody publishes there"),
        ));
    }
    let text = fields.optional_string("payload")?.unwrap_or("");
    let payload = match fields.optional_string("encoding")?.unwrap_or("plain") {
        "plain" => Bytes::copy_from_slice(text.as_bytes()),
        "base64" => base64::engine::general_purpose::STANDARD
            .decode(text)
            .map(Bytes::from)
            .map_err(|e| error(400, &format!("payload is not base64: {e}")))?,
        other => {
            return Err(error(
                400,
                &format!("encoding must be plain or base64, got {other:?}"),
            ))
        }
    };
    let qos = QoS::try_from(fields.number("qos", 0..=2, 0)? as u8).unwrap_or(QoS::AtMostOnce);
    let retain = fields.boolean("retain", false)?;
    let expiry = match fields.0.get("message_expiry_interval") {
        None | Some(Value::Null) => None,
        Some(_) => {
            Some(fields.number("message_expiry_interval", 1..=u64::from(u32::MAX), 0)? as u32)
        }
    };
    // A PUBLISH's size: fixed header (at most 5 bytes), topic and its
    // length, packet id, and the payload.
    let size = 5 + 2 + topic.len() + 2 + payload.len();
    if size > max_packet_size as usize {
        return Err(error(
            413,
            &format!(
                "a PUBLISH of this topic and payload would be {size} bytes; mqtt.max_packet_size is {max_packet_size}"
            ),
        ));
    }
    Ok(Publish {
        topic,
        payload,
        qos,
        retain,
        expiry,
    })
}

pub async fn publish(
    State(state): State<Arc<AdminState>>,
    Extension(caller): Extension<Caller>,
    body: Body,
) -> Reply {
    let fields = match body::object(body).await {
        Ok(fields) => fields,
        Err(reply) => return reply,
    };
    let broker = &state.broker;
    let request = match read_publish(&fields, broker.config.mqtt.max_packet_size) {
        Ok(request) => request,
        Err(reply) => return reply,
    };
    let id = broker.next_message_id();
    let message = Arc::new(Message {
        id,
        topic: Arc::from(request.topic.as_str()),
        payload: request.payload,
        qos: request.qos,
        retain: request.retain,
        properties: Default::default(),
        from: Arc::from(""),
        from_session: None,
        timestamp_ms: id.unix_millis(),
        expires_at: request
            .expiry
            .map(|secs| Instant::now() + Duration::from_secs(u64::from(secs))),
    });
    let routed = broker.publish(message);
    tracing::info!(topic = %escaped(&request.topic), by = %caller, receivers = routed.receivers, "message published through the admin API");
    ok(json!({ "id": id.to_base62(), "receivers": routed.receivers }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(value: Value) -> body::Fields {
        match value {
            Value::Object(map) => body::Fields(map),
            _ => unreachable!(),
        }
    }

    #[test]
    fn a_publish_is_checked_as_a_client_s_would_be() {
        let read = |v: Value| read_publish(&fields(v), 64).map_err(|r| r.status);
        let ok = read(json!({"topic": "a/b", "payload": "aGk=", "encoding": "base64", "qos": 1, "retain": true})).unwrap();
        assert_eq!(&ok.payload[..], b"hi");
        assert_eq!(ok.qos, QoS::AtLeastOnce);
        assert!(ok.retain);
        assert_eq!(read(json!({"topic": "a/+"})).err(), Some(400));
        assert_eq!(read(json!({"topic": ""})).err(), Some(400));
        assert_eq!(read(json!({"topic": "$SYS/x"})).err(), Some(403));
        assert_eq!(read(json!({"topic": "a", "qos": 3})).err(), Some(400));
        assert_eq!(read(json!({"topic": "a", "qos": "1"})).err(), Some(400));
        assert_eq!(
            read(json!({"topic": "a", "encoding": "hex"})).err(),
            Some(400)
        );
        assert_eq!(
            read(json!({"topic": "a", "payload": "!", "encoding": "base64"})).err(),
            Some(400)
        );
        assert_eq!(
            read(json!({"topic": "a", "payload": "x".repeat(60)})).err(),
            Some(413)
        );
        assert_eq!(read(json!({"payload": "x"})).err(), Some(400));
    }

    #[test]
    fn a_large_payload_is_cut_before_a_character_it_would_split() {
        let mut payload = "a".repeat(MAX_PAYLOAD_SHOWN - 1).into_bytes();
        payload.extend_from_slice("é".as_bytes());
        let message = Message {
            id: crate::broker::message::MessageId(0),
            topic: Arc::from("t"),
            payload: Bytes::from(payload),
            qos: QoS::AtMostOnce,
            retain: true,
            properties: Default::default(),
            from: Arc::from("c"),
            from_session: None,
            timestamp_ms: 0,
            expires_at: None,
        };
        let value = detail(&message);
        assert_eq!(value["truncated"], true);
        assert_eq!(value["payload_size"], MAX_PAYLOAD_SHOWN + 1);
        assert_eq!(
            value["payload_utf8"].as_str().unwrap().len(),
            MAX_PAYLOAD_SHOWN - 1
        );
    }
}
