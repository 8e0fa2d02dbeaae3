//! The admin listener: checked and bound at start, then an accept loop
//! that hands each connection (after its TLS handshake, if any) to hyper's
//! HTTP/1.1 with the API's routes.
//!
//! Bounded everywhere a client could hold it: [`MAX_CONNECTIONS`] at once
//! (the same gate as MQTT listeners), a TLS handshake in
//! [`HANDSHAKE_TIMEOUT`], a request head in [`HEADER_TIMEOUT`] (also how
//! long an idle kept-alive connection stays), a head of at most
//! [`MAX_HEAD`] bytes, a body of 64 KiB, a connection for
//! [`CONNECTION_LIFETIME`]. A failed accept backs off as the MQTT
//! listeners' do.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;

use super::api::{self, AdminState};
use super::dashboard;
use super::guard::Hosts;
use super::token::{self, admins_file, Origin};
use crate::broker::Broker;
use crate::config::host::AdminConfig;
use crate::config::listeners::TlsSettings;
use crate::config::HostConfig;
use crate::listen::gate::Gate;
use crate::listen::tls::TlsAcceptor;
use crate::listen::{AcceptBackoff, ListenerStatus};
use crate::plugins::PluginManager;

/// Admin connections open at once; more are closed when accepted.
pub const MAX_CONNECTIONS: u64 = 32;
/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request's head may take to arrive, counted from the end of
/// the previous response on a kept-alive connection.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest request head (hyper's smallest buffer).
const MAX_HEAD: usize = 16 * 1024;
/// How long one connection may last, whatever it does.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(300);

fn invalid(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, message)
}

/// The TLS the admin settings ask for: None for plain HTTP; an error
/// naming the key when they cannot be used. Plain HTTP off loopback needs
/// `admin.allow_plaintext`.
fn transport(addr: SocketAddr, admin: &AdminConfig) -> std::io::Result<Option<Arc<TlsAcceptor>>> {
    let tls = match (&admin.certfile, &admin.keyfile) {
        (Some(cert), Some(key)) => {
            let settings = TlsSettings {
                certfile: Some(cert.clone()),
                keyfile: Some(key.clone()),
                ..TlsSettings::default()
            };
            let acceptor = TlsAcceptor::load("admin", &settings)
                .map_err(|e| invalid(format!("admin: {e}")))?;
            Some(acceptor)
        }
        (Some(_), None) => return Err(invalid("admin.certfile needs admin.keyfile".into())),
        (None, Some(_)) => return Err(invalid("admin.keyfile needs admin.certfile".into())),
        (None, None) => None,
    };
    if tls.is_none() && !addr.ip().is_loopback() {
        if !admin.allow_plaintext {
            return Err(invalid(format!(
                "admin.listener = {addr} is not a loopback address: give admin.certfile and admin.keyfile for HTTPS, or set admin.allow_plaintext = on to serve plain HTTP there"
            )));
        }
        tracing::warn!(
            "admin API on {addr} speaks plain HTTP off loopback (admin.allow_plaintext = on): its token and passwords cross the network readable"
        );
    }
    Ok(tls)
}

/// Starts the admin API if `admin.listener` is on: checks its settings,
/// reads or makes its token, binds, logs the address, and serves until
/// the runtime stops. An error names the key at fault.
pub async fn start(
    config: &HostConfig,
    broker: &Arc<Broker>,
    plugins: &Arc<PluginManager>,
    listeners: Vec<Arc<ListenerStatus>>,
) -> std::io::Result<()> {
    let Some(addr) = config.admin.listener else {
        return Ok(());
    };
    let tls = transport(addr, &config.admin)?;
    let token_file = config.admin_token_file();
    let path = token_file.clone();
    let (token, origin) = tokio::task::spawn_blocking(move || token::load_or_create(&path))
        .await
        .map_err(|e| invalid(format!("admin.token_file: {e}")))?
        .map_err(|e| invalid(format!("admin.token_file: {e}")))?;
    if origin == Origin::Created {
        tracing::info!("admin token written to {}", token_file.display());
    }
    let socket = TcpListener::bind(addr).await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot listen on {addr} (admin.listener): {e}"),
        )
    })?;
    let local = socket.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!("admin listener bound to {local}");
    tracing::debug!("admin API at {scheme}://{local}/api/v1/");
    let hosts = Hosts::new(local, tls.is_some(), config.admin.allowed_hosts.clone());
    let state = AdminState::new(
        Arc::clone(broker),
        Arc::clone(plugins),
        token,
        admins_file(&token_file),
        hosts,
        tls.is_some(),
        listeners,
    );
    if let Some(tls) = &tls {
        tokio::spawn(Arc::clone(tls).watch());
    }
    // The dashboard's routes beside the API's, each behind the guard.
    let app = dashboard::router(Arc::clone(&state)).merge(api::router(state));
    tokio::spawn(accept(socket, tls, app));
    Ok(())
}

/// Accepts connections forever.
async fn accept(socket: TcpListener, tls: Option<Arc<TlsAcceptor>>, app: axum::Router) {
    let gate = Gate::new(MAX_CONNECTIONS, None);
    let mut backoff = AcceptBackoff::new("admin");
    loop {
        let (stream, peer) = match socket.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                backoff.pause(&error).await;
                continue;
            }
        };
        let Ok(slot) = gate.admit() else {
            drop(stream);
            if gate.should_warn() {
                tracing::warn!(%peer, "admin listener refused a connection: {MAX_CONNECTIONS} are open");
            }
            continue;
        };
        let (tls, app) = (tls.clone(), app.clone());
        tokio::spawn(async move {
            let _slot = slot;
            let served = tokio::time::timeout(CONNECTION_LIFETIME, async {
                match tls {
                    Some(tls) => {
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(stream)).await {
                            Ok(Ok((stream, _))) => http(stream, app).await,
                            Ok(Err(error)) => {
                                tracing::debug!(%peer, %error, "admin TLS handshake failed")
                            }
                            Err(_) => tracing::debug!(%peer, "admin TLS handshake took too long"),
                        }
                    }
                    None => http(stream, app).await,
                }
            })
            .await;
            if served.is_err() {
                tracing::debug!(%peer, "admin connection closed after {CONNECTION_LIFETIME:?}");
            }
        });
    }
}

/// HTTP/1.1 on one connection until it closes.
async fn http<IO>(io: IO, app: axum::Router)
where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let served = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_HEAD)
        .serve_connection(TokioIo::new(io), TowerToHyperService::new(app))
        .await;
    if let Err(error) = served {
        tracing::debug!(%error, "admin connection ended");
    }
}
