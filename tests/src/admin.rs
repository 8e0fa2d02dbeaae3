//! Requests to a broker's admin API written byte for byte, as a browser,
//! a script or an attacker would send them, over TCP or TLS.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// An HTTP response as received.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Header names in lower case, with their values.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }
}

/// A request's text: the request line, `headers` as given, a
/// Content-Length for `body`, `Connection: close`, and `body`.
pub fn request_text(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut text = format!("{method} {path} HTTP/1.1\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    text
}

/// Sends `request` on `io` and reads the response until the server
/// closes.
pub async fn exchange<IO>(mut io: IO, request: &str) -> Response
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    io.write_all(request.as_bytes())
        .await
        .expect("send the request");
    let mut bytes = Vec::new();
    // A TLS server may close without close_notify after its response.
    let _ = io.read_to_end(&mut bytes).await;
    parse(&String::from_utf8_lossy(&bytes))
}

fn parse(response: &str) -> Response {
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("malformed response {response:?}"));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("malformed status line in {head:?}"));
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Response {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// Adds admin `name` with `password` through `mqhost admins add`, as an
/// operator would (the password on standard input), for the broker whose
/// configuration file is `conf`: the admins file goes to `data/admins`
/// beside it.
pub fn add_admin(conf: &std::path::Path, name: &str, password: &str) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(crate::mqhost_binary())
        .arg("admins")
        .arg("--config")
        .arg(conf)
        .args(["add", name])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mqhost admins");
    let _ = child
        .stdin
        .take()
        .expect("stdin piped")
        .write_all(format!("{password}\n").as_bytes());
    let output = child.wait_with_output().expect("wait for mqhost admins");
    assert!(
        output.status.success(),
        "mqhost admins add {name}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
