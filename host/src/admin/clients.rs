//! Clients, sessions and a client's subscriptions, as EMQX's API shows
//! them:
//!
//! - `GET /api/v1/clients`: connected clients, by client id, paged,
//!   filtered by client id and user name (substrings) and address (a
//!   prefix of the IP address);
//! - `GET /api/v1/clients/ID`: one client (its session, also offline);
//! - `GET /api/v1/sessions`: every session, connected or not;
//! - `GET|POST /api/v1/clients/ID/subscriptions|subscribe|unsubscribe`.
//!
//! Listings read what each session publishes of itself
//! (`SessionHandle::view`) without waking it, on a blocking thread: a
//! broker of many sessions may have one runtime thread. A client's
//! subscriptions are asked of its session through its mailbox.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::Uri;
use axum::Extension;
use mqhost_codec::{reason, QoS};
use serde_json::{json, Value};
use tokio::sync::oneshot;

use super::api::{error, last_segments, ok, AdminState, Caller, Reply};
use super::body;
use super::query::Query;
use super::time::rfc3339;
use crate::broker::session::{SessionEvent, SessionHandle, SessionView, SubscriptionView};
use crate::broker::topic;
use crate::escape::escaped;

/// How long a session may take to answer: one waiting for a plugin's
/// access answer reads its mailbox once that comes (`auth.timeout`, 5 s by
/// default, at most an hour; an administrator should not wait that long).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// Which sessions a listing shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    /// Connected clients (`/clients`).
    Connected,
    /// Every session (`/sessions`).
    All,
}

/// The filters of a listing.
#[derive(Debug, Default)]
struct Filters {
    clientid: Option<String>,
    username: Option<String>,
    ip_address: Option<String>,
}

impl Filters {
    fn from_query(query: &Query) -> Result<Filters, String> {
        let ip_address = query.get("ip_address").map(str::to_owned);
        if let Some(ip) = &ip_address {
            // An IPv4 or IPv6 address, whole or its beginning.
            if !ip
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b'.' || b == b':')
            {
                return Err(format!(
                    "ip_address must be an IP address or its beginning, got {ip:?}"
                ));
            }
        }
        Ok(Filters {
            clientid: query.get("clientid").map(str::to_owned),
            username: query.get("username").map(str::to_owned),
            ip_address: ip_address.map(|ip| ip.to_ascii_lowercase()),
        })
    }

    fn keep(&self, view: &SessionView) -> bool {
        let client = &view.client;
        self.clientid
            .as_deref()
            .is_none_or(|part| client.client_id.contains(part))
            && self.username.as_deref().is_none_or(|part| {
                client
                    .username
                    .as_deref()
                    .is_some_and(|name| name.contains(part))
            })
            && self
                .ip_address
                .as_deref()
                .is_none_or(|prefix| ip_address(view).starts_with(prefix))
    }
}

/// The client's IP address as shown (an IPv4-mapped IPv6 one as IPv4).
fn ip_address(view: &SessionView) -> String {
    view.client.peer.ip().to_canonical().to_string()
}

/// The protocol level EMQX shows: 3 for 3.1, 4 for 3.1.1, 5.
fn proto_ver(version: mqhost_codec::ProtocolVersion) -> u8 {
    match version {
        mqhost_codec::ProtocolVersion::V3_1 => 3,
        mqhost_codec::ProtocolVersion::V3_1_1 => 4,
        mqhost_codec::ProtocolVersion::V5 => 5,
    }
}

/// One session as JSON: its client as of the last connection, and its
/// figures.
fn session_json(view: &SessionView) -> Value {
    let client = &view.client;
    let listener = &client.listener;
    json!({
        "clientid": &*client.client_id,
        "username": client.username,
        "ip_address": ip_address(view),
        "port": client.peer.port(),
        "listener": format!("{}:{}", listener.transport.as_str(), listener.name),
        "proto_ver": proto_ver(client.protocol),
        "proto_name": crate::broker::session::protocol_name(client.protocol),
        "connected": view.connected,
        "connected_at": rfc3339(client.connected_at.saturating_mul(1000)),
        "disconnected_at": view.detached_at_ms.map(rfc3339),
        "keepalive": client.keep_alive,
        "clean_start": client.clean_start,
        "session_expiry_interval": view.expiry,
        "expires_at": view.expires_at_ms().map(rfc3339),
        "subscriptions_cnt": view.subscriptions,
        "inflight_cnt": view.inflight,
        "mqueue_len": view.queued,
    })
}

/// The sessions a listing shows, by client id, and its page.
fn listing(state: &AdminState, which: Which, uri: &Uri, allowed: &[&str]) -> Reply {
    let query = match Query::parse(uri.query(), allowed) {
        Ok(query) => query,
        Err(message) => return error(400, &message),
    };
    let (paging, filters) = match query
        .paging()
        .and_then(|p| Ok((p, Filters::from_query(&query)?)))
    {
        Ok(found) => found,
        Err(message) => return error(400, &message),
    };
    let mut views: Vec<SessionView> = state
        .broker
        .registry
        .all()
        .iter()
        .map(SessionHandle::view)
        .filter(|view| which == Which::All || view.connected)
        .filter(|view| filters.keep(view))
        .collect();
    views.sort_by(|a, b| a.client.client_id.cmp(&b.client.client_id));
    let (page, meta) = paging.cut(views);
    let data: Vec<Value> = page.iter().map(session_json).collect();
    ok(json!({ "data": data, "meta": meta }))
}

/// Runs a listing off the runtime's threads.
async fn blocking(
    state: Arc<AdminState>,
    job: impl FnOnce(&AdminState) -> Reply + Send + 'static,
) -> Reply {
    tokio::task::spawn_blocking(move || job(&state))
        .await
        .unwrap_or_else(|_| error(500, "the listing failed"))
}

pub async fn list_clients(State(state): State<Arc<AdminState>>, uri: Uri) -> Reply {
    blocking(state, move |state| {
        listing(
            state,
            Which::Connected,
            &uri,
            &["page", "limit", "clientid", "username", "ip_address"],
        )
    })
    .await
}

pub async fn list_sessions(State(state): State<Arc<AdminState>>, uri: Uri) -> Reply {
    blocking(state, move |state| {
        listing(
            state,
            Which::All,
            &uri,
            &["page", "limit", "clientid", "username", "ip_address"],
        )
    })
    .await
}

/// The client id in segment `from_end` of the path (1 is the last).
fn client_id(uri: &Uri, from_end: usize) -> Result<String, Reply> {
    last_segments(uri, from_end)
        .and_then(|segments| segments.into_iter().next())
        .ok_or_else(|| error(400, "the client id is not valid percent-encoded UTF-8"))
}

/// The session of `client_id`, or 404.
fn session(state: &AdminState, client_id: &str) -> Result<SessionHandle, Reply> {
    state
        .broker
        .registry
        .get(client_id)
        .ok_or_else(|| error(404, &format!("no session with client id {client_id:?}")))
}

pub async fn show_client(State(state): State<Arc<AdminState>>, uri: Uri) -> Reply {
    let found = client_id(&uri, 1).and_then(|id| session(&state, &id));
    match found {
        Ok(session) => ok(session_json(&session.view())),
        Err(reply) => reply,
    }
}

fn subscription_json(view: &SubscriptionView) -> Value {
    json!({
        "topic": view.filter,
        "qos": view.options.qos as u8,
        "nl": u8::from(view.options.no_local),
        "rap": u8::from(view.options.retain_as_published),
        "rh": view.options.retain_handling,
        "subid": view.identifier,
    })
}

/// Sends `event` to the session and waits for its answer.
async fn ask<T>(
    session: &SessionHandle,
    event: impl FnOnce(oneshot::Sender<T>) -> SessionEvent,
) -> Result<T, Reply> {
    let (reply, answer) = oneshot::channel();
    let gone = || {
        error(
            404,
            &format!("the session of {:?} ended", session.client_id()),
        )
    };
    session.send(event(reply)).map_err(|_| gone())?;
    match tokio::time::timeout(ANSWER_TIMEOUT, answer).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(_)) => Err(gone()),
        Err(_) => Err(error(
            504,
            "the session did not answer in time (it may wait for a plugin's access answer)",
        )),
    }
}

pub async fn list_subscriptions(State(state): State<Arc<AdminState>>, uri: Uri) -> Reply {
    let session = match client_id(&uri, 2).and_then(|id| session(&state, &id)) {
        Ok(session) => session,
        Err(reply) => return reply,
    };
    match ask(&session, SessionEvent::Subscriptions).await {
        Ok(views) => ok(Value::Array(views.iter().map(subscription_json).collect())),
        Err(reply) => reply,
    }
}

/// A topic filter as a SUBSCRIBE may carry it: the filter, or the filter
/// of a `$share/GROUP/...`.
fn check_filter(filter: &str) -> Result<(), Reply> {
    let inner = match topic::parse_shared(filter) {
        Ok(Some(shared)) => shared.filter,
        Ok(None) => filter,
        Err(e) => return Err(error(400, &format!("topic {filter:?}: {e}"))),
    };
    topic::validate_filter(inner).map_err(|e| error(400, &format!("topic {filter:?}: {e}")))
}

/// The status for a subscription the session refused with `code`.
fn refusal_status(code: u8) -> u16 {
    match code {
        reason::NOT_AUTHORIZED => 403,
        reason::QUOTA_EXCEEDED | reason::UNSPECIFIED_ERROR => 409,
        _ => 400,
    }
}

fn refusal_text(code: u8) -> &'static str {
    match code {
        reason::NOT_AUTHORIZED => "not authorized",
        reason::QUOTA_EXCEEDED | reason::UNSPECIFIED_ERROR => {
            "refused (mqtt.max_subscriptions reached, or an unspecified error)"
        }
        reason::TOPIC_FILTER_INVALID => "the topic filter is not valid",
        reason::SHARED_SUBSCRIPTIONS_NOT_SUPPORTED => {
            "shared subscriptions are off (mqtt.shared_subscription)"
        }
        reason::WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED => {
            "wildcard subscriptions are off (mqtt.wildcard_subscription)"
        }
        _ => "refused",
    }
}

/// The session of `/clients/{id}/...` and the valid filter in the body's
/// `topic`, with the body's other fields: what subscribe and unsubscribe
/// both read first (the session checked before the body is).
async fn session_and_filter(
    state: &AdminState,
    uri: &Uri,
    body: Body,
) -> Result<(SessionHandle, body::Fields, String), Reply> {
    let session = client_id(uri, 2).and_then(|id| session(state, &id))?;
    let fields = body::object(body).await?;
    let topic = fields.string("topic")?.to_owned();
    check_filter(&topic)?;
    Ok((session, fields, topic))
}

/// `{"topic", "qos"}`: subscribes the client as a SUBSCRIBE would
/// (access rules included), without a SUBACK; retained messages follow.
pub async fn subscribe(
    State(state): State<Arc<AdminState>>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
    body: Body,
) -> Reply {
    let (session, fields, topic) = match session_and_filter(&state, &uri, body).await {
        Ok(found) => found,
        Err(reply) => return reply,
    };
    let qos = match fields.number("qos", 0..=2, 0) {
        Ok(qos) => qos as u8,
        Err(reply) => return reply,
    };
    let qos = QoS::try_from(qos).unwrap_or(QoS::AtMostOnce);
    let filter = topic.clone();
    let outcome = ask(&session, |reply| SessionEvent::Subscribe {
        filter,
        qos,
        reply: Some(reply),
    })
    .await;
    match outcome {
        Ok(Ok(is_new)) => {
            tracing::info!(client_id = %escaped(session.client_id()), filter = %escaped(&topic), by = %caller, "subscribed through the admin API");
            ok(json!({ "topic": topic, "qos": qos as u8, "new": is_new }))
        }
        Ok(Err(code)) => error(
            refusal_status(code),
            &format!(
                "subscription to {topic:?} {} (reason code {code:#04x})",
                refusal_text(code)
            ),
        ),
        Err(reply) => reply,
    }
}

/// `{"topic"}`: removes one of the client's subscriptions, as an
/// UNSUBSCRIBE would; 404 when it had none to that filter.
pub async fn unsubscribe(
    State(state): State<Arc<AdminState>>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
    body: Body,
) -> Reply {
    let (session, _, topic) = match session_and_filter(&state, &uri, body).await {
        Ok(found) => found,
        Err(reply) => return reply,
    };
    let filter = topic.clone();
    match ask(&session, |reply| SessionEvent::Unsubscribe {
        filter,
        reply: Some(reply),
    })
    .await
    {
        Ok(true) => {
            tracing::info!(client_id = %escaped(session.client_id()), filter = %escaped(&topic), by = %caller, "unsubscribed through the admin API");
            ok(json!({ "topic": topic }))
        }
        Ok(false) => error(
            404,
            &format!("{:?} has no subscription to {topic:?}", session.client_id()),
        ),
        Err(reply) => reply,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_map_to_statuses_a_script_can_tell_apart() {
        assert_eq!(refusal_status(reason::NOT_AUTHORIZED), 403);
        assert_eq!(refusal_status(reason::QUOTA_EXCEEDED), 409);
        assert_eq!(
            refusal_status(reason::WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED),
            400
        );
    }

    #[test]
    fn filters_are_checked_as_a_subscribe_would_check_them() {
        for good in ["a/+/c", "#", "$share/g/a/#", "$SYS/#"] {
            assert!(check_filter(good).is_ok(), "{good}");
        }
        for bad in ["a/#/c", "", "a+", "$share/g", "$share//a", "a\u{0}b"] {
            assert!(check_filter(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_ip_filter_is_an_address_or_its_beginning() {
        let query = |q: &str| Query::parse(Some(q), &["ip_address"]).unwrap();
        assert!(Filters::from_query(&query("ip_address=127.0.")).is_ok());
        assert!(Filters::from_query(&query("ip_address=%3A%3A1")).is_ok());
        assert!(Filters::from_query(&query("ip_address=a*")).is_err());
    }
}
