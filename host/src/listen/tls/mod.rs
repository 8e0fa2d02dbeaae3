//! TLS for `ssl` and `wss` listeners: the handshake, the client
//! certificate's subject, and certificates reloaded when their files
//! change.
//!
//! - [`load`]: PEM files to a rustls configuration, errors naming the file.
//! - [`identity`]: the subject of a verified client certificate.
//!
//! TLS 1.2 and 1.3 with rustls and its ring provider. With `verify_none`
//! no client certificate is asked for. With `verify_peer` one is asked
//! for and must chain to `cacertfile`; a client that sends none is let in
//! (without a [`PeerCert`]) unless `fail_if_no_peer_cert` is on. The
//! caller bounds the handshake in time.
//!
//! A reload swaps the configuration that new handshakes take; connections
//! already up keep theirs. Each configuration has its own session cache,
//! so a session from before a reload is not resumed after it: a changed
//! CA file is never bypassed by resumption.

mod identity;
mod load;

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;

use crate::config::listeners::TlsSettings;
use crate::dir_watch::{parent_dir, DirWatch};
pub use crate::hooks::decide::PeerCert;

/// How often the files are reread when no change was seen: a file system
/// that drops events still gets a renewed certificate served within 3 s.
const RESCAN: Duration = Duration::from_secs(2);

/// A listener's TLS: the current configuration, replaced when the files
/// change.
pub struct TlsAcceptor {
    /// What the files belong to, as log lines name it: the key prefix
    /// (`listener.ssl.name`, `admin`).
    key: String,
    settings: TlsSettings,
    paths: load::Paths,
    config: Mutex<Arc<ServerConfig>>,
    /// What the files held when last read, used or not.
    seen: Mutex<load::Files>,
}

impl TlsAcceptor {
    /// Reads the PEM files that the keys under `key` (`listener.ssl.name`,
    /// `admin`) name; an error names the file and what is wrong (missing,
    /// no certificate in it, key does not match, bad CA), and the caller
    /// the key.
    pub fn load(key: &str, settings: &TlsSettings) -> Result<Arc<TlsAcceptor>, String> {
        let paths = load::Paths::of(settings)?;
        let files = paths.read();
        let config = load::server_config(settings, &paths, &files)?;
        Ok(Arc::new(TlsAcceptor {
            key: key.to_owned(),
            settings: settings.clone(),
            paths,
            config: Mutex::new(config),
            seen: Mutex::new(files),
        }))
    }

    /// Watches the files and reloads them when they change, so that new
    /// handshakes use a new certificate within 3 s (connections already up
    /// are untouched). A bad or half-written file keeps the configuration
    /// in use and is logged, naming the file, once per content. Runs until
    /// the task is aborted.
    pub async fn watch(self: Arc<Self>) {
        let dirs: Vec<_> = self.paths.all().map(parent_dir).collect();
        let what = format!("{}'s TLS files", self.key);
        let mut watch = DirWatch::new(&what, dirs, RESCAN);
        loop {
            watch.changed().await;
            let this = Arc::clone(&self);
            // Reading files: not on a broker thread.
            let outcome = tokio::task::spawn_blocking(move || this.reload()).await;
            match outcome {
                Ok(Reload::Swapped) => tracing::info!(
                    "{}: TLS certificate reloaded; new connections use it",
                    self.key
                ),
                Ok(Reload::Kept(why)) => {
                    tracing::warn!("{}: keeping the TLS certificate in use: {why}", self.key)
                }
                Ok(Reload::Unchanged) | Err(_) => {}
            }
        }
    }

    /// The TLS handshake on an accepted stream; returns the stream and,
    /// when the client sent a certificate that verified, its subject.
    pub async fn accept<IO>(&self, io: IO) -> io::Result<(TlsStream<IO>, Option<PeerCert>)>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(&*lock(&self.config)));
        let stream = acceptor.accept(io).await?;
        // Only a verifying configuration asks for a certificate, and
        // rustls has refused any that did not verify.
        let peer = match stream.get_ref().1.peer_certificates() {
            Some([leaf, ..]) => Some(
                identity::peer_cert(leaf)
                    .map_err(|why| io::Error::new(io::ErrorKind::InvalidData, why))?,
            ),
            _ => None,
        };
        Ok((stream, peer))
    }

    /// Rereads the files now (the watcher does this when they change):
    /// builds and swaps in a new configuration when they changed and are
    /// good; keeps the one in use when they are not.
    pub fn reload(&self) -> Reload {
        let files = self.paths.read();
        let mut seen = lock(&self.seen);
        if *seen == files {
            return Reload::Unchanged;
        }
        let outcome = match load::server_config(&self.settings, &self.paths, &files) {
            Ok(config) => {
                *lock(&self.config) = config;
                Reload::Swapped
            }
            Err(why) => Reload::Kept(why),
        };
        *seen = files;
        outcome
    }
}

/// What [`TlsAcceptor::reload`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    /// The files hold what they held at the last reading.
    Unchanged,
    /// New handshakes take the new files.
    Swapped,
    /// The files changed but cannot be used (the reason names the file);
    /// the configuration in use stays. Said once per content.
    Kept(String),
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
