//! The TCP listener: accepts connections and starts a task for each.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use super::{connect, Broker};

/// Binds `addr` and logs the address actually bound (port 0 picks a free
/// port, and tests read it from this line).
pub async fn bind(name: &str, addr: SocketAddr) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind(addr).await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot listen on {addr} (listener.tcp.{name}): {e}"),
        )
    })?;
    let bound = listener.local_addr()?;
    tracing::info!("listener tcp:{name} bound to {bound}");
    Ok(listener)
}

/// Accepts connections forever.
pub async fn serve(broker: Arc<Broker>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                tokio::spawn(connect::serve(Arc::clone(&broker), stream, peer));
            }
            Err(error) => {
                // Usually out of file descriptors: wait for some to close
                // instead of spinning.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
