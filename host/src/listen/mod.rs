//! Listeners: every `listener.<transport>.<name>` of the configuration
//! bound, its connections admitted within its limits, its transport (TCP,
//! TLS, WebSocket, both) spoken, and each connection handed to
//! [`connect`](crate::broker::connect) as a stream of MQTT bytes.
//!
//! - [`gate`]: connections at once and per second.
//! - [`tls`]: certificates, client certificate checks, reloads.
//! - [`ws`]: the WebSocket upgrade and MQTT bytes in binary messages.

pub mod gate;
pub mod tls;
pub mod ws;

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::broker::connect::{self, Accepted};
use crate::broker::connection::{Reader, Writer};
use crate::broker::metrics::listener::{ListenerMetrics, Refused};
use crate::broker::metrics::Metrics;
use crate::broker::Broker;
use crate::config::listeners::{ListenerSpec, Transport};
use crate::hooks::decide::PeerCert;
use gate::{Gate, Over, Slot};
use tls::TlsAcceptor;

/// How long a TLS handshake and a WebSocket upgrade may take together,
/// before the CONNECT's own time starts.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How much larger than `mqtt.max_packet_size` a WebSocket message may be.
const WS_MESSAGE_SLACK: usize = 64 * 1024;
/// Descriptors kept back from clients, for plugins, Redis connections,
/// watched files and the admin API.
const RESERVED_FILES: u64 = 256;

/// A listener whose socket is bound and whose certificates are read.
pub struct Bound {
    spec: Arc<ListenerSpec>,
    socket: TcpListener,
    tls: Option<Arc<TlsAcceptor>>,
    gate: Arc<Gate>,
    /// The broker's descriptor budget, which every listener draws on.
    budget: Arc<Gate>,
    status: Arc<ListenerStatus>,
}

/// A bound listener as the admin API shows it: its settings, the address
/// it bound, its connections and what it turned away. The counters are
/// the broker's (`broker::metrics::listener`), which `/metrics` shows
/// too, with every reason a connection ended before its CONNACK.
#[derive(Debug)]
pub struct ListenerStatus {
    pub spec: Arc<ListenerSpec>,
    /// The address bound (the port chosen, when 0 was asked for).
    pub addr: SocketAddr,
    gate: Arc<Gate>,
    counters: Arc<ListenerMetrics>,
}

impl ListenerStatus {
    /// Connections open now, handshakes under way included.
    pub fn open(&self) -> u64 {
        self.gate.open()
    }

    /// The most connections open at once (`max_connections`, or less
    /// when the open-file limit allows less).
    pub fn max(&self) -> u64 {
        self.gate.max()
    }

    /// Connections let in since the start.
    pub fn accepted(&self) -> u64 {
        self.counters.accepted_total()
    }

    /// Connections closed at once for `max_connections` (or the open-file
    /// budget) since the start.
    pub fn refused_over_limit(&self) -> u64 {
        self.counters.refused_total(Refused::MaxConnections)
    }

    /// Connections closed at once for `max_conn_rate` since the start.
    pub fn refused_over_rate(&self) -> u64 {
        self.counters.refused_total(Refused::MaxConnRate)
    }

    /// The listener's counters.
    pub fn counters(&self) -> &Arc<ListenerMetrics> {
        &self.counters
    }
}

impl Bound {
    /// What the admin API shows of this listener.
    pub fn status(&self) -> Arc<ListenerStatus> {
        Arc::clone(&self.status)
    }

    /// The address actually bound (port 0 picks a free one).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// The listener's configuration.
    pub fn spec(&self) -> &Arc<ListenerSpec> {
        &self.spec
    }
}

/// Binds every listener that is on, reading TLS certificates first, and
/// logs the addresses bound (port 0 picks a free port, and tests read it
/// from these lines). An error names the listener.
pub async fn bind_all(listeners: &[ListenerSpec]) -> std::io::Result<Vec<Bound>> {
    // One budget for all listeners together: each alone could otherwise
    // take what is kept back for the rest of the broker.
    let files =
        crate::open_files::soft_limit().map(|files| files.saturating_sub(RESERVED_FILES).max(1));
    let budget = Gate::new(files.unwrap_or(u64::MAX), None);
    let mut bound = Vec::new();
    for spec in listeners {
        let Some(address) = spec.address else {
            continue;
        };
        let id = spec.id();
        let tls = if spec.transport.tls() {
            let acceptor =
                TlsAcceptor::load(&format!("listener.{id}"), &spec.tls).map_err(|e| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!("listener.{id}: {e}"),
                    )
                })?;
            Some(acceptor)
        } else {
            None
        };
        let socket = TcpListener::bind(address).await.map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cannot listen on {address} (listener.{id}): {e}"),
            )
        })?;
        let max = spec.max_connections.min(budget.max());
        if max < spec.max_connections
            && spec.max_connections != crate::config::listeners::DEFAULT_MAX_CONNECTIONS
        {
            tracing::warn!(
                "listener {}:{} takes at most {max} connections, not {}: the open-file limit allows no more",
                spec.transport.as_str(),
                spec.name,
                spec.max_connections
            );
        }
        let gate = Gate::new(max, spec.max_conn_rate.map(|r| r.get()));
        tracing::info!(
            "listener {}:{} bound to {}",
            spec.transport.as_str(),
            spec.name,
            socket.local_addr()?
        );
        let spec = Arc::new(spec.clone());
        let status = Arc::new(ListenerStatus {
            spec: Arc::clone(&spec),
            addr: socket.local_addr()?,
            gate: Arc::clone(&gate),
            counters: Arc::new(ListenerMetrics::new(id, Some(Arc::clone(&gate)))),
        });
        bound.push(Bound {
            spec,
            socket,
            tls,
            gate,
            budget: Arc::clone(&budget),
            status,
        });
    }
    Ok(bound)
}

/// Accepts connections on every bound listener until the tasks are
/// aborted; certificate watchers run beside them.
pub fn serve_all(broker: &Arc<Broker>, bound: Vec<Bound>) -> Vec<JoinHandle<()>> {
    let mut tasks = Vec::new();
    for listener in bound {
        // Before the first accept, so that no connection goes uncounted.
        broker
            .metrics
            .add_listener(Arc::clone(listener.status.counters()));
        if let Some(tls) = &listener.tls {
            tasks.push(tokio::spawn(Arc::clone(tls).watch()));
        }
        tasks.push(tokio::spawn(serve(Arc::clone(broker), listener)));
    }
    tasks
}

/// Waiting after an accept failed, usually for want of file descriptors:
/// for some to close rather than spinning on the error, and saying so once
/// a minute at most. Every accept loop (MQTT listeners, the admin API)
/// goes through one.
pub struct AcceptBackoff {
    /// The listener, as log lines name it.
    name: String,
    last_warning: Option<Instant>,
}

impl AcceptBackoff {
    /// How long to wait before accepting again.
    const PAUSE: Duration = Duration::from_millis(100);
    /// How often the failure is logged at most.
    const WARN_EVERY: Duration = Duration::from_secs(60);

    /// For the listener log lines call `name`.
    pub fn new(name: impl Into<String>) -> AcceptBackoff {
        AcceptBackoff {
            name: name.into(),
            last_warning: None,
        }
    }

    /// Logs `error` if it is time to, then waits before the next accept.
    pub async fn pause(&mut self, error: &std::io::Error) {
        if self
            .last_warning
            .is_none_or(|at| at.elapsed() >= Self::WARN_EVERY)
        {
            tracing::warn!(%error, listener = %self.name, "accept failed; retrying every 100 ms");
            self.last_warning = Some(Instant::now());
        }
        tokio::time::sleep(Self::PAUSE).await;
    }
}

/// Accepts connections forever.
async fn serve(broker: Arc<Broker>, listener: Bound) {
    let listener = Arc::new(listener);
    let mut backoff = AcceptBackoff::new(listener.spec.id());
    loop {
        match listener.socket.accept().await {
            Ok((stream, peer)) => match admit(&listener) {
                Ok(slots) => {
                    listener.status.counters.accepted();
                    tokio::spawn(start(
                        Arc::clone(&broker),
                        Arc::clone(&listener),
                        stream,
                        peer,
                        slots,
                    ));
                }
                Err(over) => turn_away(&broker, &listener, stream, peer, over),
            },
            Err(error) => backoff.pause(&error).await,
        }
    }
}

/// A place in the broker's budget and in the listener's limits.
type Slots = (Slot, Slot);

fn admit(listener: &Bound) -> Result<Slots, Over> {
    let budget = listener.budget.admit()?;
    let own = listener.gate.admit()?;
    Ok((budget, own))
}

/// Closes a connection over a limit: counted always, logged at most once
/// a second.
fn turn_away(broker: &Broker, listener: &Bound, stream: TcpStream, peer: SocketAddr, over: Over) {
    drop(stream);
    let (counter, refused, limit) = match over {
        Over::Connections => (
            &broker.metrics.connections_over_limit,
            Refused::MaxConnections,
            "max_connections",
        ),
        Over::Rate => (
            &broker.metrics.connections_over_rate,
            Refused::MaxConnRate,
            "max_conn_rate",
        ),
    };
    Metrics::count(counter);
    listener.status.counters.refused(refused);
    if listener.gate.should_warn() {
        tracing::warn!(
            %peer,
            "listener {}:{} refused a connection: {limit} reached ({} open); further refusals this second are counted, not logged",
            listener.spec.transport.as_str(),
            listener.spec.name,
            listener.gate.open()
        );
    }
}

/// Speaks the listener's transport on a new connection and hands it on.
async fn start(
    broker: Arc<Broker>,
    listener: Arc<Bound>,
    stream: TcpStream,
    peer: SocketAddr,
    slots: Slots,
) {
    let _ = stream.set_nodelay(true);
    let spec = &listener.spec;
    // A WebSocket message may carry the end of one packet and the start
    // of the next: room for a whole packet and then some.
    let max_message = broker.config.mqtt.max_packet_size as usize + WS_MESSAGE_SLACK;
    let packet_timeout = broker.config.mqtt.packet_timeout;
    let opened = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
        match (spec.transport, &listener.tls) {
            (Transport::Tcp, _) => {
                let (reader, writer) = stream.into_split();
                Ok(halves(reader, writer, None))
            }
            (Transport::Ws, _) => {
                let ws = ws::accept(stream, &spec.mqtt_path, max_message, packet_timeout).await?;
                let (reader, writer) = tokio::io::split(ws);
                Ok(halves(reader, writer, None))
            }
            (Transport::Ssl, Some(tls)) => {
                let (stream, cert) = tls.accept(stream).await?;
                let (reader, writer) = tokio::io::split(stream);
                Ok(halves(reader, writer, cert))
            }
            (Transport::Wss, Some(tls)) => {
                let (stream, cert) = tls.accept(stream).await?;
                let ws = ws::accept(stream, &spec.mqtt_path, max_message, packet_timeout).await?;
                let (reader, writer) = tokio::io::split(ws);
                Ok(halves(reader, writer, cert))
            }
            (Transport::Ssl | Transport::Wss, None) => Err(HandshakeError::from(
                "a TLS listener without certificates".to_owned(),
            )),
        }
    })
    .await;
    let (reader, writer, cert) = match opened {
        Ok(Ok(opened)) => opened,
        Ok(Err(error)) => {
            handshake_failed(&broker, &listener);
            tracing::debug!(%peer, listener = %spec.id(), %error, "handshake failed");
            return;
        }
        Err(_) => {
            handshake_failed(&broker, &listener);
            tracing::debug!(%peer, listener = %spec.id(), "handshake took too long");
            return;
        }
    };
    connect::serve(
        broker,
        Accepted {
            reader: Box::new(Held {
                inner: reader,
                _slots: slots,
            }),
            writer,
            peer,
            listener: Arc::clone(spec),
            cert,
        },
    )
    .await;
}

fn handshake_failed(broker: &Broker, listener: &Bound) {
    Metrics::count(&broker.metrics.connections_handshake_failed);
    listener.status.counters.refused(Refused::Handshake);
}

type Opened = (Reader, Writer, Option<PeerCert>);

fn halves(
    reader: impl AsyncRead + Send + Unpin + 'static,
    writer: impl AsyncWrite + Send + Unpin + 'static,
    cert: Option<PeerCert>,
) -> Opened {
    (Box::new(reader), Box::new(writer), cert)
}

/// Why a TLS handshake or WebSocket upgrade failed, for the debug log.
#[derive(Debug)]
struct HandshakeError(String);

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for HandshakeError {
    fn from(text: String) -> Self {
        HandshakeError(text)
    }
}

impl From<std::io::Error> for HandshakeError {
    fn from(error: std::io::Error) -> Self {
        HandshakeError(error.to_string())
    }
}

impl From<ws::WsRefusal> for HandshakeError {
    fn from(refusal: ws::WsRefusal) -> Self {
        HandshakeError(refusal.to_string())
    }
}

/// The read half of a connection, holding its place at the listener's
/// gate for as long as the connection lives.
struct Held {
    inner: Reader,
    _slots: Slots,
}

impl AsyncRead for Held {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}
