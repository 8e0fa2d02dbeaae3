//! What every request to the admin API must pass before a route sees it,
//! in this order:
//!
//! 1. `Host` names this API: the listener's own `ip:port` (any IP address
//!    at its port when it is bound to all interfaces), `localhost:port`
//!    on loopback, or a name of `admin.allowed_hosts` (at any port).
//!    Otherwise 421: a page whose name was made to point at this machine
//!    (DNS rebinding) is not served.
//! 2. A body over [`MAX_BODY`] by its `Content-Length`: 413.
//! 3. A request that may change something (any method but GET and HEAD)
//!    carries no `Origin`, or one whose host passes the same test (else
//!    403), and `Content-Type: application/json` (else 415): a form or
//!    a `text/plain` fetch from another site cannot be one, and a JSON one
//!    from another site needs a CORS preflight this API never grants.
//! 4. Authentication: `Authorization: Bearer TOKEN`, compared in constant
//!    time, or the cookie of a login session. Otherwise 401. Only the
//!    login itself and the dashboard's page and assets
//!    ([`dashboard::is_public`]), which hold nothing but code, go without.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, HOST, ORIGIN};
use axum::http::uri::Authority;
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::api::{error, AdminState, Caller, LOGIN_PATH};
use super::dashboard;
use super::sessions::{cookie, COOKIE as SESSION_COOKIE};

/// The largest request body accepted.
pub const MAX_BODY: usize = 64 * 1024;

/// The names a request may address the API by.
#[derive(Debug, Clone)]
pub struct Hosts {
    /// The listener's address as bound.
    addr: SocketAddr,
    /// Whether it speaks TLS: the port a `Host` without one means.
    tls: bool,
    /// `admin.allowed_hosts`, lower case.
    names: Vec<String>,
}

impl Hosts {
    /// The names of a listener bound to `addr`.
    pub fn new(addr: SocketAddr, tls: bool, names: Vec<String>) -> Hosts {
        Hosts { addr, tls, names }
    }

    /// Whether a `Host` header value names this API.
    pub fn allows_host(&self, value: &str) -> bool {
        let default_port = if self.tls { 443 } else { 80 };
        self.allows_authority(value, default_port)
    }

    /// Whether an `Origin` header value is a page of this API's own
    /// (`http://` or `https://`, the host as for `Host`).
    pub fn allows_origin(&self, value: &str) -> bool {
        let Some((scheme, rest)) = value.split_once("://") else {
            return false;
        };
        let default_port = match scheme.to_ascii_lowercase().as_str() {
            "http" => 80,
            "https" => 443,
            _ => return false,
        };
        self.allows_authority(rest, default_port)
    }

    fn allows_authority(&self, value: &str, default_port: u16) -> bool {
        // A user part, a path or anything after the authority: not a host.
        if value.is_empty() || value.contains(['@', '/', '?', '#', ' ']) {
            return false;
        }
        let Ok(authority) = value.parse::<Authority>() else {
            return false;
        };
        let port = authority.port_u16().unwrap_or(default_port);
        self.allows(&authority.host().to_ascii_lowercase(), port)
    }

    fn allows(&self, host: &str, port: u16) -> bool {
        if self.names.iter().any(|name| name == host) {
            return true;
        }
        if port != self.addr.port() {
            return false;
        }
        let local = self.addr.ip();
        if host == "localhost" {
            return local.is_loopback() || local.is_unspecified();
        }
        let ip = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(v6) => v6.parse::<Ipv6Addr>().ok().map(IpAddr::V6),
            None => host.parse::<IpAddr>().ok(),
        };
        // An IP address cannot be rebound: on a listener bound to every
        // interface, any of the machine's addresses is its own.
        ip.is_some_and(|ip| ip == local || local.is_unspecified())
    }
}

/// Methods that change nothing.
fn is_safe(method: &Method) -> bool {
    method == Method::GET || method == Method::HEAD
}

/// Whether a `Content-Type` is JSON (parameters such as `charset`
/// allowed).
pub fn is_json(value: &str) -> bool {
    value
        .split(';')
        .next()
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// The token of `Authorization: Bearer TOKEN`.
fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    let value = headers.get(AUTHORIZATION)?.as_bytes();
    let space = value.iter().position(|&b| b == b' ')?;
    let (scheme, token) = value.split_at(space);
    scheme
        .eq_ignore_ascii_case(b"bearer")
        .then(|| token.trim_ascii())
}

/// The session id in the request's cookies.
pub fn session_id(headers: &HeaderMap) -> Option<&str> {
    let values = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok());
    cookie(values, SESSION_COOKIE)
}

fn header(headers: &HeaderMap, name: impl axum::http::header::AsHeaderName) -> Option<&str> {
    headers
        .get(name)
        .and_then(|v: &HeaderValue| v.to_str().ok())
}

/// The checks, as middleware around every route.
pub async fn check(
    State(state): State<Arc<AdminState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    // An absolute-form target (`GET http://host/...`) names a host too,
    // and HTTP lets it win over the header: both must pass.
    let target = request.uri().authority().map(Authority::as_str);
    let host = header(headers, HOST).or(target);
    let named = host.is_some_and(|host| state.hosts.allows_host(host))
        && target.is_none_or(|target| state.hosts.allows_host(target));
    if !named {
        return error(
            421,
            "the Host header names no address of this API (see admin.allowed_hosts)",
        )
        .into_response();
    }
    let length = header(headers, CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
    if length.is_some_and(|length| length > MAX_BODY as u64) {
        return error(413, "the request body is larger than 64 KiB").into_response();
    }
    if !is_safe(request.method()) {
        if let Some(origin) = headers.get(ORIGIN) {
            let allowed = origin
                .to_str()
                .is_ok_and(|origin| state.hosts.allows_origin(origin));
            if !allowed {
                return error(403, "requests from another site's pages are refused")
                    .into_response();
            }
        }
        if !header(headers, CONTENT_TYPE).is_some_and(is_json) {
            return error(
                415,
                "a request that changes something must be sent as Content-Type: application/json",
            )
            .into_response();
        }
    }
    let caller = if let Some(token) = bearer(headers) {
        state.token.matches(token).then_some(Caller::Token)
    } else {
        session_id(headers)
            .and_then(|id| state.sessions.user(id))
            .map(Caller::Admin)
    };
    match caller {
        Some(caller) => {
            request.extensions_mut().insert(caller);
        }
        None if request.uri().path() == LOGIN_PATH => {}
        None if dashboard::is_public(request.uri().path()) => {}
        None => {
            let mut response =
                error(401, "authentication required: a bearer token or a login").into_response();
            response
                .headers_mut()
                .insert("www-authenticate", HeaderValue::from_static("Bearer"));
            return response;
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(addr: &str, names: &[&str]) -> Hosts {
        Hosts::new(
            addr.parse().unwrap(),
            false,
            names.iter().map(|n| n.to_string()).collect(),
        )
    }

    #[test]
    fn a_loopback_listener_answers_to_its_address_and_localhost() {
        let hosts = hosts("127.0.0.1:8081", &[]);
        for ok in ["127.0.0.1:8081", "localhost:8081", "LOCALHOST:8081"] {
            assert!(hosts.allows_host(ok), "{ok}");
        }
        for refused in [
            "evil.example:8081",
            "127.0.0.1:8082",
            "127.0.0.1",
            "localhost",
            "10.0.0.1:8081",
            "[::1]:8081",
            "user@127.0.0.1:8081",
            "127.0.0.1:8081/x",
            "",
        ] {
            assert!(!hosts.allows_host(refused), "{refused}");
        }
    }

    #[test]
    fn listed_names_match_at_any_port_and_unspecified_takes_any_address() {
        let hosts = hosts("0.0.0.0:8443", &["broker.example"]);
        assert!(hosts.allows_host("broker.example"));
        assert!(hosts.allows_host("Broker.Example:443"));
        assert!(hosts.allows_host("10.1.2.3:8443"));
        assert!(hosts.allows_host("localhost:8443"));
        assert!(!hosts.allows_host("10.1.2.3:80"));
        assert!(!hosts.allows_host("rebound.example:8443"));
        let v6 = super::tests::hosts("[::1]:9000", &[]);
        assert!(v6.allows_host("[::1]:9000"));
        assert!(!v6.allows_host("[::2]:9000"));
    }

    #[test]
    fn an_origin_is_a_scheme_and_an_allowed_host() {
        let hosts = hosts("127.0.0.1:8081", &["a.example"]);
        assert!(hosts.allows_origin("http://127.0.0.1:8081"));
        assert!(hosts.allows_origin("https://a.example"));
        assert!(hosts.allows_origin("http://localhost:8081"));
        for refused in [
            "null",
            "http://evil.example:8081",
            "http://127.0.0.1",
            "file://a.example",
            "http://a.example/path",
            "a.example",
        ] {
            assert!(!hosts.allows_origin(refused), "{refused}");
        }
    }

    #[test]
    fn json_is_recognised_with_parameters_and_in_any_case() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(!is_json("text/plain"));
        assert!(!is_json("application/jsonx"));
        assert!(!is_json("multipart/form-data; boundary=application/json"));
    }

    #[test]
    fn a_bearer_token_is_taken_from_its_header() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer(&headers), None);
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
        assert_eq!(bearer(&headers), Some(&b"abc"[..]));
        headers.insert(AUTHORIZATION, HeaderValue::from_static("bearer  abc "));
        assert_eq!(bearer(&headers), Some(&b"abc"[..]));
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&headers), None);
    }
}
