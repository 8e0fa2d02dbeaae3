//! Placeholder until the WebSocket transport lands.
use tokio::io::{AsyncRead, AsyncWrite};

#[derive(Debug)]
pub struct WsRefusal;

impl std::fmt::Display for WsRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebSocket listeners are not available in this build")
    }
}

pub async fn accept<IO: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    _io: IO,
    _mqtt_path: &str,
    _max_message: usize,
) -> Result<IO, WsRefusal> {
    Err(WsRefusal)
}
