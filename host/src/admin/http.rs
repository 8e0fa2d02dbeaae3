//! One request, one response, then close: the admin API is for a person or
//! a script, a few requests at a time, so nothing more of HTTP is needed.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Largest request accepted (head and body).
const MAX_REQUEST: usize = 64 * 1024;
/// How long a client may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A parsed request.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
}

/// A response: status code and JSON body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

/// Reads a request from `stream`; None when it is malformed, too large,
/// or too slow.
pub async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<Request> {
    let mut buf = Vec::with_capacity(1024);
    let head_end = tokio::time::timeout(REQUEST_TIMEOUT, async {
        loop {
            if let Some(end) = find_head_end(&buf) {
                return Some(end);
            }
            if buf.len() >= MAX_REQUEST {
                return None;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await
    .ok()??;
    parse_head(std::str::from_utf8(&buf[..head_end]).ok()?)
}

/// Writes `response` and closes.
pub async fn write_response(stream: &mut tokio::net::TcpStream, response: &Response) {
    let _ = stream.write_all(response_text(response).as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// A response as sent. A 204 has neither body nor Content-Length
/// (RFC 9110 8.6).
fn response_text(response: &Response) -> String {
    let status = response.status;
    let phrase = reason_phrase(status);
    if status == 204 {
        return format!("HTTP/1.1 204 {phrase}\r\nConnection: close\r\n\r\n");
    }
    format!(
        "HTTP/1.1 {status} {phrase}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        response.body.len(),
        response.body
    )
}

/// Characters a path segment carries as they are: RFC 3986's unreserved.
fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// `text` as one path segment: every byte but the unreserved ones as
/// `%XX`, so `/`, `+`, `#`, `?`, spaces and UTF-8 survive the trip.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for &byte in text.as_bytes() {
        if is_unreserved(byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A percent-encoded path segment decoded; None when a `%` is not
/// followed by two hex digits or the bytes are not UTF-8. `+` is a plus
/// sign: it means a space only in form data, never in a path.
pub fn percent_decode(segment: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(segment.len());
    let mut rest = segment.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == b'%' {
            let hex = tail
                .get(..2)
                .filter(|h| h.iter().all(u8::is_ascii_hexdigit))?;
            let hex = std::str::from_utf8(hex).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(byte);
            rest = tail;
        }
    }
    String::from_utf8(bytes).ok()
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n")
}

/// The request line of a request head; headers are not needed.
fn parse_head(head: &str) -> Option<Request> {
    let line = head.lines().next()?;
    let mut parts = line.split(' ');
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let version = parts.next()?;
    if !version.starts_with("HTTP/1.") || parts.next().is_some() {
        return None;
    }
    Some(Request { method, path })
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        _ => "Error",
    }
}

/// Sends one request and returns (status, body): the client side, for
/// `mqhost ctl`.
pub fn send(addr: SocketAddr, method: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("malformed HTTP response"))?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("malformed HTTP status line"))?;
    Ok((status, body.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_line_is_parsed() {
        assert_eq!(
            parse_head("POST /api/v1/plugins/redis/reload HTTP/1.1\r\nHost: x"),
            Some(Request {
                method: "POST".into(),
                path: "/api/v1/plugins/redis/reload".into()
            })
        );
    }

    #[test]
    fn path_segments_survive_encoding() {
        for text in [
            "a/b",
            "+/#",
            "with space",
            "température/°C",
            "100%",
            "a?b=c&d",
            "",
        ] {
            let encoded = percent_encode(text);
            assert!(
                encoded.bytes().all(|b| is_unreserved(b) || b == b'%'),
                "{encoded}"
            );
            assert_eq!(percent_decode(&encoded).as_deref(), Some(text));
        }
        assert_eq!(percent_encode("a/b c+#"), "a%2Fb%20c%2B%23");
        assert_eq!(percent_encode("é"), "%C3%A9");
    }

    #[test]
    fn decoding_takes_either_case_and_keeps_plus_signs() {
        assert_eq!(percent_decode("%c3%a9%2f").as_deref(), Some("é/"));
        assert_eq!(percent_decode("a+b").as_deref(), Some("a+b"));
        assert_eq!(percent_decode("plain").as_deref(), Some("plain"));
    }

    #[test]
    fn broken_escapes_and_non_utf8_are_refused() {
        for bad in ["%", "%2", "a%zz", "%+1", "%FF", "%C3"] {
            assert_eq!(percent_decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn no_content_has_no_body_and_no_length() {
        let text = response_text(&Response {
            status: 204,
            body: String::new(),
        });
        assert_eq!(text, "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
        let text = response_text(&Response {
            status: 404,
            body: "{}".into(),
        });
        assert!(text.starts_with("HTTP/1.1 404 Not Found\r\n"), "{text}");
        assert!(text.contains("Content-Length: 2\r\n"), "{text}");
    }

    #[test]
    fn garbage_is_not_a_request() {
        assert_eq!(parse_head("hello"), None);
        assert_eq!(parse_head("GET / SPDY/3"), None);
        assert_eq!(parse_head("GET / HTTP/1.1 extra"), None);
    }
}
