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

/// A plain stream's receive low-water mark: how many bytes must wait in
/// the socket before a read is woken. A pipeline's replies arrive as
/// Redis works through its commands, a few hundred bytes at a time; a
/// reader that knows how many bytes they take at least can ask to be
/// woken once for all of them instead of once per arrival (each wake an
/// epoll_wait and a read, which cost more than the scanning).
///
/// Only for plain TCP: over TLS the socket holds records, part of which
/// the TLS layer may already have read, so no count of bytes still to
/// come can be promised.
#[derive(Debug)]
pub struct LowWater {
    fd: std::os::fd::RawFd,
    current: usize,
}

impl LowWater {
    /// Wakes reads only once `bytes` (at least 1) are waiting; a value
    /// above what will ever arrive would keep the reader waiting for
    /// good: pass a lower bound of what is owed.
    pub fn set(&mut self, bytes: usize) -> io::Result<()> {
        let bytes = bytes.max(1);
        if bytes == self.current {
            return Ok(());
        }
        let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
        // SAFETY: `fd` is the stream's socket, open as long as the stream
        // this mark was made with (its owner keeps both); the option is
        // an int, passed by pointer with its size.
        #[allow(unsafe_code)]
        let done = unsafe {
            libc::setsockopt(
                self.fd,
                libc::SOL_SOCKET,
                libc::SO_RCVLOWAT,
                std::ptr::addr_of!(value).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if done != 0 {
            return Err(io::Error::last_os_error());
        }
        self.current = bytes;
        Ok(())
    }
}

/// Connects to `host:port`, without delay on small writes, and makes the
/// TLS handshake when the link says `ssl = on` (the host name checked
/// against the certificate). Each step is bounded by [`CONNECT_TIMEOUT`].
/// Logging in (`AUTH`, `SELECT`) is the caller's.
pub async fn open_stream(link: &LinkConfig, host: &str, port: u16) -> io::Result<Box<dyn Stream>> {
    open_stream_marked(link, host, port)
        .await
        .map(|(stream, _)| stream)
}

/// [`open_stream`], and the stream's low-water mark when it is plain
/// TCP.
pub async fn open_stream_marked(
    link: &LinkConfig,
    host: &str,
    port: u16,
) -> io::Result<(Box<dyn Stream>, Option<LowWater>)> {
    let timed_out = || io::Error::new(io::ErrorKind::TimedOut, "connection attempt timed out");
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host, port)))
        .await
        .map_err(|_| timed_out())??;
    tcp.set_nodelay(true)?;
    if !link.ssl {
        let mark = LowWater {
            fd: std::os::fd::AsRawFd::as_raw_fd(&tcp),
            current: 1,
        };
        return Ok((Box::new(tcp), Some(mark)));
    }
    let connector = TlsConnector::from(tls_config(link)?);
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let tls = tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, tcp))
        .await
        .map_err(|_| timed_out())??;
    Ok((Box::new(tls), None))
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
