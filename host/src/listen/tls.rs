//! Placeholder until the TLS acceptor lands.
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::config::listeners::TlsSettings;
use crate::hooks::decide::PeerCert;

pub struct TlsAcceptor;

impl TlsAcceptor {
    pub fn load(_listener_id: &str, _settings: &TlsSettings) -> Result<Arc<TlsAcceptor>, String> {
        Err("TLS listeners are not available in this build".to_owned())
    }

    pub async fn watch(self: Arc<Self>) {}

    pub async fn accept<IO: AsyncRead + AsyncWrite + Unpin>(
        &self,
        io: IO,
    ) -> std::io::Result<(IO, Option<PeerCert>)> {
        Ok((io, None))
    }
}
