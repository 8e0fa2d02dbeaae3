//! The writer's own connection to one Redis server (a single pool's, or
//! the master a sentinel names): a TCP stream that takes a batch of
//! commands already encoded in RESP and reads back exactly as many replies,
//! keeping only the errors; over TLS when the pool says `ssl = on`. The
//! `redis` crate still finds the master
//! (sentinel), and serves lookups, the channel and clusters; this is the
//! hot path only (see [`crate::resp`]).

use std::io;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::connect::CONNECT_TIMEOUT;
use crate::config::PoolConfig;
use crate::resp::{CommandSink, ReplyScanner, RespBuf};

/// A plain or TLS byte stream.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Read buffer growth step.
const READ_CHUNK: usize = 64 * 1024;

/// A connection carrying pipelined batches.
pub(crate) struct RawConn {
    stream: Box<dyn Stream>,
    /// Replies read but not yet scanned.
    input: Vec<u8>,
    /// `host:port`, for log lines.
    pub(crate) peer: String,
}

impl RawConn {
    /// Connects to `host:port` and logs in as the pool says (`AUTH`,
    /// `SELECT`).
    pub(crate) async fn connect(host: &str, port: u16, pool: &PoolConfig) -> io::Result<RawConn> {
        let timed_out = || io::Error::new(io::ErrorKind::TimedOut, "connection attempt timed out");
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host, port)))
            .await
            .map_err(|_| timed_out())??;
        tcp.set_nodelay(true)?;
        let stream: Box<dyn Stream> = if pool.link.ssl {
            let connector = TlsConnector::from(tls_config(pool)?);
            let name = ServerName::try_from(host.to_owned())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            let tls = tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, tcp))
                .await
                .map_err(|_| timed_out())??;
            Box::new(tls)
        } else {
            Box::new(tcp)
        };
        let mut conn = RawConn {
            stream,
            input: Vec::with_capacity(READ_CHUNK),
            peer: format!("{host}:{port}"),
        };
        let mut hello = RespBuf::new();
        if let Some(password) = &pool.link.password {
            match &pool.link.username {
                Some(username) => {
                    hello.begin(3);
                    hello.arg(b"AUTH");
                    hello.arg(username.as_bytes());
                }
                None => {
                    hello.begin(2);
                    hello.arg(b"AUTH");
                }
            }
            hello.arg(password.0.as_bytes());
        }
        if pool.link.database != 0 {
            hello.begin(2);
            hello.arg(b"SELECT");
            hello.arg_u64(u64::from(pool.link.database));
        }
        if !hello.is_empty() {
            let replies = tokio::time::timeout(CONNECT_TIMEOUT, conn.send(&hello))
                .await
                .map_err(|_| {
                    io::Error::new(io::ErrorKind::TimedOut, "no answer to AUTH/SELECT")
                })??;
            if let Some(error) = replies.errors.first() {
                // The reply never repeats the password; the command name
                // says which step failed.
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!(
                        "{} refused: {} {}",
                        hello.command_name(error.index),
                        error.code,
                        error.detail
                    ),
                ));
            }
        }
        Ok(conn)
    }

    /// Writes `batch` and reads its replies, all of them: a slow server is
    /// waited for. An `Err` means the connection is gone; which commands
    /// were applied is unknown.
    pub(crate) async fn send(&mut self, batch: &RespBuf) -> io::Result<ReplyScanner> {
        self.write(batch).await?;
        self.replies(batch).await
    }

    /// Writes `batch`; [`RawConn::replies`] reads what Redis answers.
    pub(crate) async fn write(&mut self, batch: &RespBuf) -> io::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        self.stream.write_all(batch.bytes()).await
    }

    /// Reads the replies to `batch`, just written, all of them.
    pub(crate) async fn replies(&mut self, batch: &RespBuf) -> io::Result<ReplyScanner> {
        let mut scanner = ReplyScanner::default();
        if batch.is_empty() {
            return Ok(scanner);
        }
        loop {
            let used = scanner
                .scan(&self.input)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            if used == self.input.len() {
                self.input.clear();
            } else {
                self.input.drain(..used);
            }
            if scanner.done >= batch.len() {
                return Ok(scanner);
            }
            self.input.reserve(READ_CHUNK);
            if self.stream.read_buf(&mut self.input).await? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "Redis closed the connection",
                ));
            }
        }
    }
}

/// The TLS settings of a pool: its CA (or the system's roots) and its
/// client certificate, read now so that renewed files are used.
fn tls_config(pool: &PoolConfig) -> io::Result<Arc<ClientConfig>> {
    let bad = |path: &str, e: &dyn std::fmt::Display| {
        io::Error::new(io::ErrorKind::InvalidData, format!("{path}: {e}"))
    };
    let mut roots = RootCertStore::empty();
    match &pool.link.tls.cafile {
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
    let config = match (&pool.link.tls.certfile, &pool.link.tls.keyfile) {
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
