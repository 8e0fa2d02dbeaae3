//! The client side of the admin API, for `mqhost ctl`: one request on
//! its own connection, over TLS when the API speaks it, with the token.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use axum::http::{Method, Request};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::token::Token;

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the answer may take: a plugin may be slow to start.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest answer read.
const MAX_ANSWER: usize = 16 << 20;

/// Where the API is and how to speak to it.
pub struct Target {
    pub addr: SocketAddr,
    pub token: Token,
    /// TLS, verifying the API's certificate for its IP address against
    /// these CAs; None for plain HTTP.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

/// A TLS client configuration trusting the CA certificates in `cafile`.
pub fn tls_config(cafile: &Path) -> Result<Arc<rustls::ClientConfig>, String> {
    let name = cafile.display();
    let bytes = std::fs::read(cafile).map_err(|e| format!("cannot read {name}: {e}"))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&bytes) {
        let cert = cert.map_err(|e| format!("{name}: not valid PEM: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("{name}: not usable as a CA: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!("{name}: no certificate in it"));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Sends one request, with `body` as JSON if any, and returns (status,
/// body).
pub fn send(
    target: &Target,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Result<(u16, String), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    runtime.block_on(async {
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(target.addr))
            .await
            .map_err(|_| "connecting timed out".to_owned())?
            .map_err(|e| e.to_string())?;
        let exchange = async {
            match &target.tls {
                Some(config) => {
                    let name = ServerName::IpAddress(target.addr.ip().into());
                    let stream = tokio_rustls::TlsConnector::from(Arc::clone(config))
                        .connect(name, stream)
                        .await
                        .map_err(|e| format!("TLS: {e}"))?;
                    exchange(stream, target, method, path, body).await
                }
                None => exchange(stream, target, method, path, body).await,
            }
        };
        tokio::time::timeout(ANSWER_TIMEOUT, exchange)
            .await
            .map_err(|_| "no answer in time".to_owned())?
    })
}

async fn exchange<IO>(
    io: IO,
    target: &Target,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Result<(u16, String), String>
where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let method = Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
    let mut request = Request::builder()
        .method(method.clone())
        .uri(path)
        .header(HOST, target.addr.to_string())
        .header(AUTHORIZATION, format!("Bearer {}", target.token.as_str()));
    // The API refuses a request that changes something unless it says
    // JSON, body or not.
    if method != Method::GET && method != Method::HEAD {
        request = request.header(CONTENT_TYPE, "application/json");
    }
    let body = Full::new(Bytes::from(body.unwrap_or_default().to_owned()));
    let request = request.body(body).map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = Limited::new(response.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| format!("reading the answer: {e}"))?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}
