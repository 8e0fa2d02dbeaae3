//! The start of a connection: read CONNECT, check it, agree the session's
//! terms, and hand the connection to its session (new, resumed or taken
//! over). Refusals are answered with the CONNACK code the client's protocol
//! version understands.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use mqhost_codec::{
    decode_limited, encode, encoded_len, reason, ConnAck, ConnAckProperties, Connect, DecodeError,
    Packet, ProtocolVersion,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

use super::connection::{Connection, PacketTimedOut, Reader, Writer, READ_MIN};
use super::metrics::listener::Refused;
use super::metrics::{self, Metrics};
use super::session::{unix_secs, Attach, Session, SessionEvent};
use super::topic;
use super::Broker;
use crate::access::decider::{Login, Question};
use crate::access::{self, Access};
use crate::config::listeners::{CertField, ListenerSpec};
use crate::escape::escaped;
use crate::hooks::decide::{AuthenticateRequest, Decision, PeerCert, ResumeRequest, Step};
use crate::hooks::ClientInfo;

/// How long a new connection may take to send its CONNECT.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts to hand a connection to its session while other connections
/// race for the same client id.
const HANDOVER_ATTEMPTS: usize = 100;

const CONNACK_TOO_LARGE: &str = "CONNACK larger than the client's Maximum Packet Size";

/// Whether `packet` may be sent to a client that announced `limit` as its
/// Maximum Packet Size: never a packet larger (MQTT 5.0 3.1.2.24).
fn fits(packet: &Packet, version: ProtocolVersion, limit: Option<u32>) -> bool {
    limit.is_none_or(|limit| encoded_len(packet, version) <= limit as usize)
}

/// Why no session got this connection.
enum Refusal {
    /// Close without a word (no CONNECT, malformed, timeout).
    Close(Refused, &'static str),
    /// Answer CONNACK with this 5.0 reason code, in the client's version,
    /// if it fits the client's Maximum Packet Size.
    ConnAck(ProtocolVersion, u8, &'static str),
}

/// A connection whose transport is open (TLS handshake done, WebSocket
/// upgraded): a stream of MQTT bytes.
pub struct Accepted {
    pub reader: Reader,
    pub writer: Writer,
    pub peer: SocketAddr,
    /// The listener it came in on.
    pub listener: Arc<ListenerSpec>,
    /// The client certificate, when the listener verified one.
    pub cert: Option<PeerCert>,
}

/// Serves one accepted connection until it belongs to a session.
pub async fn serve(broker: Arc<Broker>, accepted: Accepted) {
    let Accepted {
        mut reader,
        mut writer,
        peer,
        listener,
        cert,
    } = accepted;
    let mut read_buf = BytesMut::with_capacity(4096);
    let connect = tokio::time::timeout(
        CONNECT_TIMEOUT,
        read_connect(&mut reader, &mut read_buf, &broker),
    )
    .await
    .unwrap_or(Err(Refusal::Close(
        Refused::ConnectTimeout,
        "no CONNECT in time",
    )));
    let limit = connect
        .as_ref()
        .ok()
        .and_then(|connect| connect.properties.maximum_packet_size);
    let attach = match connect {
        Ok(connect) => accept(&broker, *connect, peer, Arc::clone(&listener), cert).await,
        Err(refusal) => Err(refusal),
    };
    let attach = match attach {
        Ok(attach) => attach,
        Err(refusal) => {
            refuse(&broker, &listener, &mut writer, peer, refusal, limit).await;
            return;
        }
    };
    // An idle connection should hold little: the session sizes its reads,
    // and the write buffer grows with what is sent.
    if read_buf.is_empty() {
        read_buf = BytesMut::new();
    }
    let mut attach = Box::new(Attach {
        conn: Connection {
            reader,
            writer,
            read_buf,
            write_buf: BytesMut::new(),
            ..attach.conn
        },
        ..*attach
    });
    for _ in 0..HANDOVER_ATTEMPTS {
        match hand_over(&broker, attach).await {
            Ok(()) => return,
            Err(back) => attach = back,
        }
    }
    tracing::warn!(client_id = %escaped(&attach.conn.info.client_id), "could not settle the session for this client id");
    let mut conn = attach.conn;
    refuse(
        &broker,
        &listener,
        &mut conn.writer,
        peer,
        Refusal::ConnAck(conn.info.protocol, reason::SERVER_BUSY, "session busy"),
        limit,
    )
    .await;
}

/// Reads until the first packet is complete; it must be a CONNECT.
async fn read_connect(
    reader: &mut Reader,
    buf: &mut BytesMut,
    broker: &Broker,
) -> Result<Box<Connect>, Refusal> {
    let limits = broker.config.mqtt.decode_limits();
    loop {
        let before = buf.len();
        match decode_limited(buf, None, limits) {
            Ok(Some(Packet::Connect(connect))) => {
                let bytes = before - buf.len();
                broker.metrics.local().packet_in(metrics::CONNECT, bytes);
                return Ok(connect);
            }
            Ok(Some(_)) => {
                return Err(Refusal::Close(
                    Refused::Malformed,
                    "first packet is not CONNECT",
                ))
            }
            Ok(None) => {}
            Err(DecodeError::UnsupportedProtocolVersion(_)) => {
                // Answered in 3.1.1 form: return code 1, "unacceptable
                // protocol version", which 3.x and 5.0 clients both read.
                return Err(Refusal::ConnAck(
                    ProtocolVersion::V3_1_1,
                    reason::UNSUPPORTED_PROTOCOL_VERSION,
                    "unsupported protocol version",
                ));
            }
            Err(error @ DecodeError::TooManyUserProperties) => {
                broker.metrics.decode_refused(&error);
                // Only a 5.0 CONNECT has User Properties.
                return Err(Refusal::ConnAck(
                    ProtocolVersion::V5,
                    reason::QUOTA_EXCEEDED,
                    "too many user properties",
                ));
            }
            Err(error) => {
                broker.metrics.decode_refused(&error);
                return Err(match error {
                    DecodeError::PacketTooLarge => {
                        Refusal::Close(Refused::TooLarge, "CONNECT too large")
                    }
                    _ => Refusal::Close(Refused::Malformed, "malformed CONNECT"),
                });
            }
        }
        buf.reserve(4096);
        match reader.read_buf(buf).await {
            Err(error) if PacketTimedOut::is(&error) => {
                Metrics::count(&broker.metrics.packets_timed_out);
                return Err(Refusal::Close(
                    Refused::ConnectTimeout,
                    "CONNECT not whole within packet_timeout",
                ));
            }
            Ok(0) | Err(_) => {
                return Err(Refusal::Close(
                    Refused::ConnectClosed,
                    "closed before CONNECT",
                ))
            }
            Ok(read) => {
                let local = broker.metrics.local();
                local.add(&local.counters.bytes_read, read as u64);
            }
        }
    }
}

/// Checks a CONNECT against the configuration and the access sources, and
/// decides the terms of the session. The returned connection has
/// placeholder socket halves. Waits only when a plugin answers later.
async fn accept(
    broker: &Arc<Broker>,
    mut connect: Connect,
    peer: SocketAddr,
    listener: Arc<ListenerSpec>,
    cert: Option<PeerCert>,
) -> Result<Box<Attach>, Refusal> {
    let config = &broker.config;
    let version = connect.protocol;
    let v5 = version.is_v5();
    let refuse = |code, why| Err(Refusal::ConnAck(version, code, why));
    let props = &connect.properties;

    if props.authentication_method.is_some() {
        return refuse(
            reason::BAD_AUTHENTICATION_METHOD,
            "enhanced authentication is not supported",
        );
    }
    let mut connack = ConnAckProperties::default();
    let client_id: Arc<str> = if connect.client_id.is_empty() {
        // 3.1 requires an id; 3.1.1 allows none only with a clean session.
        if version == ProtocolVersion::V3_1 || (!v5 && !connect.clean_start) {
            return refuse(reason::CLIENT_IDENTIFIER_NOT_VALID, "empty client id");
        }
        let assigned = format!("mqhost-{}", broker.next_message_id().to_base62());
        if v5 {
            connack.assigned_client_identifier = Some(assigned.clone());
        }
        Arc::from(assigned)
    } else if connect.client_id.len() > usize::from(config.mqtt.max_clientid_len) {
        Metrics::count(&broker.metrics.clients_id_too_long);
        return refuse(reason::CLIENT_IDENTIFIER_NOT_VALID, "client id too long");
    } else {
        Arc::from(connect.client_id.as_str())
    };
    if let Some(will) = &connect.will {
        if topic::validate_topic_name(&will.topic).is_err() {
            return refuse(reason::TOPIC_NAME_INVALID, "invalid will topic");
        }
    }
    // On a listener whose certificates name the clients, the name is the
    // verified certificate's, never what the client says of itself: a
    // client without one is anonymous, whatever its CONNECT says.
    let named_by_certificate = match listener.tls.peer_cert_as_username {
        Some(field) => {
            connect.username = cert.as_ref().and_then(|cert| match field {
                CertField::Cn => cert.common_name.clone(),
                CertField::Dn => Some(cert.subject.clone()),
            });
            connect.password = None;
            connect.username.is_some()
        }
        None => false,
    };
    // Before any session is touched: a refused client neither creates nor
    // takes over one.
    let loopback = listener.address.is_some_and(|a| a.ip().is_loopback());
    let request = AuthenticateRequest {
        client_id: Arc::clone(&client_id),
        username: connect.username.clone(),
        password: connect.password.as_deref().map(<[u8]>::to_vec),
        peer,
        protocol: version,
        listener: Arc::clone(&listener),
        cert: cert.clone(),
    };
    let plugins = match broker.hooks.authenticate(request, broker.access.patience()) {
        Step::Ready(decision) => decision,
        Step::Pending(answer) => answer.await,
    };
    // A name from a verified certificate is authenticated, as Mosquitto's
    // use_identity_as_username: after the plugins, which may still refuse
    // it, and in place of the password file, which it has no password for.
    let plugins = if named_by_certificate && !plugins.is_final() {
        Decision::Allow
    } else {
        plugins
    };
    // A password hash costs what its file line asks for (PBKDF2 rounds):
    // computed off the threads that serve clients.
    let login =
        if plugins.is_final() || connect.username.is_none() || !broker.access.has_password_file() {
            broker.access.conclude_login(
                plugins,
                connect.username.as_deref(),
                connect.password.as_deref(),
                loopback,
            )
        } else {
            let broker = Arc::clone(broker);
            let username = connect.username.clone();
            let password = connect.password.clone();
            tokio::task::spawn_blocking(move || {
                broker.access.conclude_login(
                    plugins,
                    username.as_deref(),
                    password.as_deref(),
                    loopback,
                )
            })
            .await
            .unwrap_or(Login::NotAuthorized)
        };
    let superuser = match login {
        Login::Accepted { superuser } => superuser,
        Login::BadCredentials => {
            return refuse(
                reason::BAD_USER_NAME_OR_PASSWORD,
                "bad user name or password",
            )
        }
        Login::NotAuthorized => return refuse(reason::NOT_AUTHORIZED, "not authorized"),
    };
    let mut will = connect.will;
    if let Some(will_message) = will.as_ref() {
        let client = access::decider::Client {
            client_id: &client_id,
            username: connect.username.as_deref(),
            peer,
            superuser,
        };
        let topic = will_message.topic.as_str();
        let question = Question {
            topic,
            access: Access::Write,
            qos: will_message.qos,
            retain: will_message.retain,
        };
        if !broker
            .access
            .authorize_with_plugins(&broker.hooks, client, question)
            .await
        {
            // As Mosquitto: the client connects, without its will.
            tracing::info!(client_id = %escaped(&client_id), topic = %escaped(topic), "will dropped: the client may not publish to its topic");
            will = None;
        }
    }

    // A plugin that keeps sessions elsewhere (a cluster's other nodes)
    // brings this client's here now, so that the hand-over below finds
    // it. What it answers is no verdict: the client was let in above.
    let resuming = ResumeRequest {
        client_id: Arc::clone(&client_id),
        clean_start: connect.clean_start,
        protocol: version,
    };
    if let Step::Pending(done) = broker.hooks.resuming(resuming, broker.access.patience()) {
        done.await;
    }

    // A client asking for more than the limit (or for none) gets the
    // limit. A 5.0 client is told so as Server Keep Alive; a 3.x client
    // cannot be told and is held to it all the same, as EMQX does, so
    // that a silent 3.x connection cannot outlive the limit.
    let mut keep_alive = connect.keep_alive;
    if let Some(max) = config.mqtt.max_keepalive {
        if keep_alive == 0 || keep_alive > max.get() {
            Metrics::count(&broker.metrics.clients_keepalive_clamped);
            keep_alive = max.get();
            if v5 {
                connack.server_keep_alive = Some(keep_alive);
            }
        }
    }

    let session_expiry = if v5 {
        let asked = props.session_expiry_interval.unwrap_or(0);
        let granted = asked.min(config.mqtt.max_session_expiry);
        if granted != asked {
            connack.session_expiry_interval = Some(granted);
        }
        granted
    } else if connect.clean_start {
        0
    } else {
        config.mqtt.max_session_expiry
    };

    if v5 {
        // Only what differs from the specification's defaults (retain,
        // wildcards, shared subscriptions and subscription identifiers
        // all available): a client's Maximum Packet Size covers CONNACK.
        connack.receive_maximum = Some(config.mqtt.receive_maximum);
        connack.maximum_packet_size = Some(config.mqtt.max_packet_size);
        connack.topic_alias_maximum = Some(config.mqtt.max_topic_alias);
        connack.wildcard_subscription_available = (!config.mqtt.wildcard_subscription).then_some(0);
        connack.shared_subscription_available = (!config.mqtt.shared_subscription).then_some(0);
        let success = Packet::ConnAck(ConnAck {
            session_present: false,
            reason: reason::SUCCESS,
            properties: connack.clone(),
        });
        if !fits(&success, version, props.maximum_packet_size) {
            return Err(Refusal::Close(Refused::TooLarge, CONNACK_TOO_LARGE));
        }
    }

    let info = Arc::new(ClientInfo {
        client_id,
        username: connect.username,
        peer,
        listener,
        protocol: version,
        clean_start: connect.clean_start,
        keep_alive,
        connected_at: unix_secs(),
    });
    Ok(Box::new(Attach {
        conn: Connection {
            reader: Box::new(tokio::io::empty()),
            writer: Box::new(tokio::io::sink()),
            read_buf: BytesMut::new(),
            read_size: READ_MIN,
            write_buf: BytesMut::new(),
            unflushed: false,
            info,
            keep_alive,
            last_packet: Instant::now(),
            partial_since: None,
            receive_maximum: props.receive_maximum.unwrap_or(u16::MAX),
            max_packet_size: props.maximum_packet_size.unwrap_or(u32::MAX),
            topic_alias_maximum: if v5 {
                props.topic_alias_maximum.unwrap_or(0)
            } else {
                0
            },
            inbound_aliases: HashMap::new(),
            last_topic: None,
            outbound_aliases: HashMap::new(),
            will: will.map(Box::new),
        },
        clean_start: connect.clean_start,
        session_expiry,
        connack,
        superuser,
    }))
}

/// One attempt to give the connection to the session of its client id.
/// Gives the connection back when the session changed under us.
async fn hand_over(broker: &Arc<Broker>, attach: Box<Attach>) -> Result<(), Box<Attach>> {
    let client_id = Arc::clone(&attach.conn.info.client_id);
    let Some(existing) = broker.registry.get(&client_id) else {
        return Session::start(Arc::clone(broker), attach);
    };
    if attach.clean_start {
        let (done, gone) = oneshot::channel();
        if existing.send(SessionEvent::Discard(done)).is_ok() {
            let _ = gone.await;
        } else {
            broker.registry.remove_if(&client_id, existing.id());
        }
        return Err(attach);
    }
    let (reply, outcome) = oneshot::channel();
    match existing.send(SessionEvent::Attach(attach, reply)) {
        Ok(()) => match outcome.await {
            Ok(None) | Err(_) => Ok(()),
            Ok(Some(back)) => Err(back),
        },
        Err(SessionEvent::Attach(back, _)) => {
            // The session's task is gone without unregistering (it cannot
            // have ended normally, which unregisters first).
            broker.registry.remove_if(&client_id, existing.id());
            Err(back)
        }
        Err(_) => Ok(()),
    }
}

/// Answers a refused connection and closes it; counts it against its
/// listener.
async fn refuse(
    broker: &Broker,
    listener: &ListenerSpec,
    writer: &mut Writer,
    peer: SocketAddr,
    refusal: Refusal,
    limit: Option<u32>,
) {
    let counted = match &refusal {
        Refusal::Close(why, _) => *why,
        Refusal::ConnAck(_, code, _) => Refused::for_connack(*code),
    };
    broker.metrics.listener(listener.id()).refused(counted);
    match refusal {
        Refusal::Close(_, why) => {
            tracing::debug!(%peer, why, "connection closed before CONNACK")
        }
        Refusal::ConnAck(version, code, why) => {
            tracing::info!(%peer, why, code = format_args!("{code:#04x}"), "connection refused");
            let mut buf = BytesMut::new();
            let connack = Packet::ConnAck(ConnAck {
                session_present: false,
                reason: code,
                properties: ConnAckProperties::default(),
            });
            if !fits(&connack, version, limit) {
                tracing::debug!(%peer, why = CONNACK_TOO_LARGE, "connection closed before CONNACK");
            } else if encode(&connack, version, &mut buf).is_ok() {
                let local = broker.metrics.local();
                local.packet_out(metrics::CONNACK, buf.len());
                local.add(&local.counters.bytes_written, buf.len() as u64);
                let _ = tokio::time::timeout(Duration::from_secs(2), writer.write_all(&buf)).await;
            }
        }
    }
    let _ = writer.shutdown().await;
}
