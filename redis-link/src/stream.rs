//! A plain byte stream to one server, over TLS when the link says
//! `ssl = on`, for a plugin that speaks the protocol itself (the Redis
//! backend's writer); and the TLS provider the redis crate needs.

use std::io;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::connect::CONNECT_TIMEOUT;
use crate::settings::LinkConfig;

/// A plain or TLS byte stream.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Makes rustls' ring provider the process's (its copy of rustls: each
/// plugin library links its own), which the redis crate's TLS takes.
/// Call it once before connecting; later calls find it set and do
/// nothing.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Connects to `host:port`, without delay on small writes, and makes the
/// TLS handshake when the link says `ssl = on` (the host name checked
/// against the certificate). Each step is bounded by [`CONNECT_TIMEOUT`].
/// Logging in (`AUTH`, `SELECT`) is the caller's.
pub async fn open_stream(link: &LinkConfig, host: &str, port: u16) -> io::Result<Box<dyn Stream>> {
    let timed_out = || io::Error::new(io::ErrorKind::TimedOut, "connection attempt timed out");
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host, port)))
        .await
        .map_err(|_| timed_out())??;
    tcp.set_nodelay(true)?;
    if !link.ssl {
        return Ok(Box::new(tcp));
    }
    let connector = TlsConnector::from(tls_config(link)?);
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let tls = tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, tcp))
        .await
        .map_err(|_| timed_out())??;
    Ok(Box::new(tls))
}

/// The TLS settings of a link: its CA (or the system's roots) and its
/// client certificate, read now so that renewed files are used.
fn tls_config(link: &LinkConfig) -> io::Result<Arc<ClientConfig>> {
    let bad = |path: &str, e: &dyn std::fmt::Display| {
        io::Error::new(io::ErrorKind::InvalidData, format!("{path}: {e}"))
    };
    let mut roots = RootCertStore::empty();
    match &link.tls.cafile {
        Some(path) => {
            for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(path, &e))? {
                let cert = cert.map_err(|e| bad(path, &e))?;
                roots.add(cert).map_err(|e| bad(path, &e))?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                // A system certificate rustls cannot use is skipped, as
                // every TLS client does.
                let _ = roots.add(cert);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_root_certificates(roots);
    let config = match (&link.tls.certfile, &link.tls.keyfile) {
        (Some(certfile), Some(keyfile)) => {
            let certs = CertificateDer::pem_file_iter(certfile)
                .map_err(|e| bad(certfile, &e))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bad(certfile, &e))?;
            let key = PrivateKeyDer::from_pem_file(keyfile).map_err(|e| bad(keyfile, &e))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| bad(certfile, &e))?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}
