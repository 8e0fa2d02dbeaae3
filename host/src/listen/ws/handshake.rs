//! The HTTP side of a WebSocket connection: reads the upgrade request,
//! decides, and answers with 101 or an HTTP error.
//!
//! The request is read and judged here rather than by tungstenite's server
//! handshake because that one answers nothing at all to a request that is
//! not an upgrade (a browser or `curl` opening the address) and sees no
//! difference between a wrong path and a bad request. The WebSocket
//! protocol itself, frames and all, stays tungstenite's.

use std::fmt;
use std::time::Duration;

use base64::Engine;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use super::stream::MqttOverWs;
use crate::escape::escaped;

/// Most bytes an upgrade request may take, request line and headers: a
/// browser sends its cookies for the host along, and 16 KiB is what
/// common HTTP servers allow.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024;
/// Room for the upgrade request at first, doubled as it fills up to
/// [`MAX_REQUEST_BYTES`]: most requests fit, and a client that stalls in
/// its request holds little.
const FIRST_REQUEST_BYTES: usize = 1024;
/// Most header lines in an upgrade request.
const MAX_HEADERS: usize = 64;
/// How long a refused client is given to read our answer and close before
/// the socket is dropped (see [`linger`]).
const LINGER: Duration = Duration::from_secs(1);
/// Most bytes read and thrown away while lingering.
const LINGER_BYTES: usize = 64 * 1024;

/// The subprotocol of MQTT 3.1.1 and 5.0 (MQTT 5.0 section 6, MQTT 3.1.1
/// section 6).
const MQTT: &str = "mqtt";
/// The subprotocol MQTT 3.1 clients offer.
const MQTT_V31: &str = "mqttv3.1";

/// Why an upgrade failed, for the log. When the request was read whole,
/// the HTTP answer has been written already.
#[derive(Debug)]
pub enum WsRefusal {
    /// The connection failed while the request was read or answered.
    Io(std::io::Error),
    /// The client closed before its request was whole; nothing answered.
    Closed,
    /// Not HTTP (400).
    Malformed,
    /// The request or its header count is over the bound (431).
    TooLarge,
    /// Another path than the listener's (404). The path as the client
    /// sent it.
    NotFound(String),
    /// Not a WebSocket upgrade request (400); what is missing.
    NotUpgrade(&'static str),
    /// A WebSocket version other than 13 (426).
    Version,
    /// Neither `mqtt` nor `mqttv3.1` among the offered subprotocols (400).
    NoSubprotocol,
}

impl fmt::Display for WsRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WsRefusal::Io(error) => write!(
                f,
                "connection failed during the WebSocket handshake: {error}"
            ),
            WsRefusal::Closed => f.write_str("closed before a whole HTTP request"),
            WsRefusal::Malformed => f.write_str("not an HTTP request (400)"),
            WsRefusal::TooLarge => f.write_str("HTTP request too large (431)"),
            // The path is the client's: escaped, and cut.
            WsRefusal::NotFound(path) => write!(f, "no MQTT at path {} (404)", escaped(path)),
            WsRefusal::NotUpgrade(why) => write!(f, "not a WebSocket upgrade: {why} (400)"),
            WsRefusal::Version => f.write_str("WebSocket version other than 13 (426)"),
            WsRefusal::NoSubprotocol => {
                f.write_str("no mqtt or mqttv3.1 WebSocket subprotocol offered (400)")
            }
        }
    }
}

impl std::error::Error for WsRefusal {}

/// Reads the HTTP upgrade request on `io` (at most [`MAX_REQUEST_BYTES`];
/// how long it may take is the caller's to bound) and answers it: 404 when
/// its path is not `mqtt_path` (the query string does not count), 400 for
/// a request that is not a WebSocket upgrade or offers no MQTT
/// subprotocol, 426 for a WebSocket version other than 13, and otherwise
/// 101 with the subprotocol `mqtt`, or `mqttv3.1` when only that is
/// offered. Messages and frames from the client are bounded by
/// `max_message` bytes, and a message begun must be whole within
/// `packet_timeout`.
pub async fn accept<IO>(
    mut io: IO,
    mqtt_path: &str,
    max_message: usize,
    packet_timeout: Duration,
) -> Result<MqttOverWs<IO>, WsRefusal>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut buf = vec![0u8; FIRST_REQUEST_BYTES];
    let mut filled = 0;
    let (end, decision) = loop {
        if filled == buf.len() {
            // Less than MAX_REQUEST_BYTES: a full one was refused below.
            buf.resize((buf.len() * 2).min(MAX_REQUEST_BYTES), 0);
        }
        let read = io.read(&mut buf[filled..]).await.map_err(WsRefusal::Io)?;
        if read == 0 {
            return Err(WsRefusal::Closed);
        }
        let searched_from = filled.saturating_sub(3);
        filled += read;
        // Parsing only once the blank line is in keeps a client that sends
        // its request a byte at a time from costing a parse per byte.
        if !ends_head(&buf[searched_from..filled]) {
            if filled == MAX_REQUEST_BYTES {
                break (filled, Err(WsRefusal::TooLarge));
            }
            continue;
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&buf[..filled]) {
            Ok(httparse::Status::Complete(end)) => break (end, decide(&request, mqtt_path)),
            Ok(httparse::Status::Partial) if filled < MAX_REQUEST_BYTES => continue,
            Ok(httparse::Status::Partial) | Err(httparse::Error::TooManyHeaders) => {
                break (filled, Err(WsRefusal::TooLarge))
            }
            Err(_) => break (filled, Err(WsRefusal::Malformed)),
        }
    };
    match decision {
        Ok(accepted) => {
            io.write_all(switching_protocols(&accepted).as_bytes())
                .await
                .map_err(WsRefusal::Io)?;
            io.flush().await.map_err(WsRefusal::Io)?;
            // A client must wait for our answer before it sends frames
            // (RFC 6455 section 4.1), but one that did not loses nothing.
            let early = buf[end..filled].to_vec();
            Ok(MqttOverWs::new(io, early, accepted.subprotocol, max_message, packet_timeout).await)
        }
        Err(refusal) => {
            // The answer is best effort: the client may be gone already.
            if io.write_all(&refusal_response(&refusal)).await.is_ok() {
                let _ = io.shutdown().await;
                linger(&mut io).await;
            }
            Err(refusal)
        }
    }
}

/// Whether `bytes` hold the blank line that ends an HTTP head (httparse
/// takes a bare LF for CRLF, so both count).
fn ends_head(bytes: &[u8]) -> bool {
    bytes.windows(4).any(|w| w == b"\r\n\r\n") || bytes.windows(2).any(|w| w == b"\n\n")
}

/// What an accepted request agreed.
struct Accepted {
    /// `Sec-WebSocket-Key` as sent.
    key: String,
    /// The subprotocol chosen among those offered.
    subprotocol: &'static str,
}

/// Judges a whole request: its path first, so that whatever is asked of
/// another path gets 404, then the upgrade itself.
fn decide(request: &httparse::Request<'_, '_>, mqtt_path: &str) -> Result<Accepted, WsRefusal> {
    // httparse fills these in for a complete request; a missing one can
    // only be a malformed request.
    let (Some(method), Some(target), Some(version)) =
        (request.method, request.path, request.version)
    else {
        return Err(WsRefusal::Malformed);
    };
    let path = path_of(target);
    if path != mqtt_path {
        return Err(WsRefusal::NotFound(path.to_owned()));
    }
    if method != "GET" {
        return Err(WsRefusal::NotUpgrade("method is not GET"));
    }
    if version < 1 {
        return Err(WsRefusal::NotUpgrade("HTTP/1.0"));
    }
    let headers = request.headers.iter();
    if !tokens(headers.clone(), "Connection").any(|t| t.eq_ignore_ascii_case("upgrade")) {
        return Err(WsRefusal::NotUpgrade("no Connection: Upgrade"));
    }
    if !tokens(headers.clone(), "Upgrade").any(|t| t.eq_ignore_ascii_case("websocket")) {
        return Err(WsRefusal::NotUpgrade("no Upgrade: websocket"));
    }
    if !tokens(headers.clone(), "Sec-WebSocket-Version").any(|t| t == "13") {
        return Err(WsRefusal::Version);
    }
    let mut keys = tokens(headers.clone(), "Sec-WebSocket-Key");
    let key = match (keys.next(), keys.next()) {
        (Some(key), None) if is_key(key) => key.to_owned(),
        _ => return Err(WsRefusal::NotUpgrade("no valid Sec-WebSocket-Key")),
    };
    // RFC 6455 says the client lists subprotocols in its order of
    // preference, but MQTT says the server returns "mqtt" (MQTT-6.0.0-4):
    // "mqtt" whenever it is offered, "mqttv3.1" for 3.1 clients otherwise.
    // Names compare exactly: a client checks the answer against what it
    // sent, byte for byte.
    let offered = || tokens(headers.clone(), "Sec-WebSocket-Protocol");
    let subprotocol = if offered().any(|t| t == MQTT) {
        MQTT
    } else if offered().any(|t| t == MQTT_V31) {
        MQTT_V31
    } else {
        return Err(WsRefusal::NoSubprotocol);
    };
    Ok(Accepted { key, subprotocol })
}

/// The path of a request target: without its query, and without scheme
/// and authority when a proxy sent the absolute form.
fn path_of(target: &str) -> &str {
    let path = match target.split_once("://") {
        Some((_, rest)) if !target.starts_with('/') => {
            rest.find('/').map_or("/", |slash| &rest[slash..])
        }
        _ => target,
    };
    path.split(['?', '#']).next().unwrap_or(path)
}

/// The comma-separated tokens of every header called `name`, trimmed; a
/// value that is not text has none.
fn tokens<'h>(
    headers: impl Iterator<Item = &'h httparse::Header<'h>> + 'h,
    name: &'static str,
) -> impl Iterator<Item = &'h str> + 'h {
    headers
        .filter(move |h| h.name.eq_ignore_ascii_case(name))
        .filter_map(|h| std::str::from_utf8(h.value).ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|token| !token.is_empty())
}

/// A `Sec-WebSocket-Key` must be 16 bytes in base64 (RFC 6455 section 4.1).
fn is_key(key: &str) -> bool {
    base64::engine::general_purpose::STANDARD
        .decode(key)
        .is_ok_and(|bytes| bytes.len() == 16)
}

fn switching_protocols(accepted: &Accepted) -> String {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\n\
         Upgrade: websocket\r\n\
         Connection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\
         Sec-WebSocket-Protocol: {}\r\n\r\n",
        derive_accept_key(accepted.key.as_bytes()),
        accepted.subprotocol
    )
}

/// The HTTP answer to a refused request; a short text body says why, for
/// whoever opened the address by hand.
fn refusal_response(refusal: &WsRefusal) -> Vec<u8> {
    let (status, extra, body) = match refusal {
        WsRefusal::NotFound(_) => (
            "404 Not Found",
            "",
            "Not found: MQTT over WebSocket is served at another path.\n",
        ),
        WsRefusal::TooLarge => (
            "431 Request Header Fields Too Large",
            "",
            "Request too large.\n",
        ),
        WsRefusal::Version => (
            "426 Upgrade Required",
            "Sec-WebSocket-Version: 13\r\n",
            "Only WebSocket version 13 is served.\n",
        ),
        WsRefusal::NoSubprotocol => (
            "400 Bad Request",
            "",
            "MQTT over WebSocket needs the subprotocol mqtt (or mqttv3.1).\n",
        ),
        WsRefusal::NotUpgrade(_) => (
            "400 Bad Request",
            "",
            "MQTT is served here over WebSocket only.\n",
        ),
        WsRefusal::Malformed | WsRefusal::Io(_) | WsRefusal::Closed => {
            ("400 Bad Request", "", "Bad request.\n")
        }
    };
    format!(
        "HTTP/1.1 {status}\r\n{extra}Connection: close\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Reads until the refused client closes, for a bounded while: dropping a
/// socket with unread bytes (a request body, a pipelined request) makes
/// the kernel answer with a reset, which can destroy our answer before
/// the client has read it.
async fn linger<IO: AsyncRead + Unpin>(io: &mut IO) {
    let drain = async {
        let mut sink = [0u8; 1024];
        let mut drained = 0;
        while drained < LINGER_BYTES {
            match io.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(read) => drained += read,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_of_drops_query_and_authority() {
        assert_eq!(path_of("/mqtt"), "/mqtt");
        assert_eq!(path_of("/mqtt?x=1"), "/mqtt");
        assert_eq!(path_of("/mqtt#f"), "/mqtt");
        assert_eq!(path_of("http://host:8083/mqtt?x"), "/mqtt");
        assert_eq!(path_of("http://host:8083"), "/");
        assert_eq!(path_of("/a://b"), "/a://b");
        assert_eq!(path_of(""), "");
    }

    #[test]
    fn ends_head_sees_both_line_ends() {
        assert!(ends_head(b"GET / HTTP/1.1\r\n\r\n"));
        assert!(ends_head(b"GET / HTTP/1.1\n\n"));
        assert!(!ends_head(b"GET / HTTP/1.1\r\n"));
    }

    fn judge(request: &str) -> Result<&'static str, WsRefusal> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Request::new(&mut headers);
        assert!(parsed.parse(request.as_bytes()).unwrap().is_complete());
        decide(&parsed, "/mqtt").map(|a| a.subprotocol)
    }

    fn upgrade(path: &str, extra: &str) -> String {
        format!(
            "GET {path} HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\n\
             Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
        )
    }

    #[test]
    fn chooses_mqtt_over_mqttv31() {
        let both = upgrade("/mqtt", "Sec-WebSocket-Protocol: mqttv3.1, mqtt\r\n");
        assert_eq!(judge(&both).unwrap(), "mqtt");
        let split = upgrade(
            "/mqtt",
            "Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: mqtt\r\n",
        );
        assert_eq!(judge(&split).unwrap(), "mqtt");
        let v31 = upgrade("/mqtt?a=b", "Sec-WebSocket-Protocol: mqttv3.1\r\n");
        assert_eq!(judge(&v31).unwrap(), "mqttv3.1");
    }

    #[test]
    fn refuses_what_is_not_an_mqtt_upgrade() {
        let none = upgrade("/mqtt", "");
        assert!(matches!(judge(&none), Err(WsRefusal::NoSubprotocol)));
        let other = upgrade("/mqtt", "Sec-WebSocket-Protocol: MQTT, chat\r\n");
        assert!(matches!(judge(&other), Err(WsRefusal::NoSubprotocol)));
        let path = upgrade("/other", "Sec-WebSocket-Protocol: mqtt\r\n");
        assert!(matches!(judge(&path), Err(WsRefusal::NotFound(p)) if p == "/other"));
        let plain = "GET /mqtt HTTP/1.1\r\nHost: h\r\n\r\n";
        assert!(matches!(judge(plain), Err(WsRefusal::NotUpgrade(_))));
        let version = upgrade("/mqtt", "Sec-WebSocket-Protocol: mqtt\r\n")
            .replace("Version: 13", "Version: 8");
        assert!(matches!(judge(&version), Err(WsRefusal::Version)));
        let key = upgrade("/mqtt", "Sec-WebSocket-Protocol: mqtt\r\n")
            .replace("dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ=");
        assert!(matches!(judge(&key), Err(WsRefusal::NotUpgrade(_))));
        let post = upgrade("/mqtt", "Sec-WebSocket-Protocol: mqtt\r\n").replacen("GET", "POST", 1);
        assert!(matches!(judge(&post), Err(WsRefusal::NotUpgrade(_))));
        let http10 =
            upgrade("/mqtt", "Sec-WebSocket-Protocol: mqtt\r\n").replace("HTTP/1.1", "HTTP/1.0");
        assert!(matches!(judge(&http10), Err(WsRefusal::NotUpgrade(_))));
    }

    #[test]
    fn refusal_names_the_path_escaped() {
        let line = WsRefusal::NotFound("/a\nforged".into()).to_string();
        assert!(line.contains("/a\\nforged"), "{line}");
    }
}
