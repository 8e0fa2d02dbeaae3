//! Named listeners, as EMQX 4 names them: `listener.<transport>.<name> =
//! address`, and per-listener keys `listener.<transport>.<name>.<key>`.
//!
//! The keys of one listener are a small table of their own
//! ([`LISTENER_KEYS`]); which transports a key applies to is part of it, so
//! `listener.tcp.x.certfile` is an error that says why.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

use super::host::resolve_against;
use super::properties::{parse_bool, parse_socket_addr, parse_u32, parse_u64};

/// What a listener speaks below MQTT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// `tcp`: MQTT over plain TCP.
    Tcp,
    /// `ssl`: MQTT over TLS.
    Ssl,
    /// `ws`: MQTT over WebSocket.
    Ws,
    /// `wss`: MQTT over WebSocket over TLS.
    Wss,
}

impl Transport {
    /// Every transport, in the order the docs list them.
    pub const ALL: [Transport; 4] = [
        Transport::Tcp,
        Transport::Ssl,
        Transport::Ws,
        Transport::Wss,
    ];

    /// The name in keys, logs and plugin events.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Ssl => "ssl",
            Transport::Ws => "ws",
            Transport::Wss => "wss",
        }
    }

    /// Whether connections are TLS.
    pub fn tls(self) -> bool {
        matches!(self, Transport::Ssl | Transport::Wss)
    }

    /// Whether MQTT travels in WebSocket frames.
    pub fn websocket(self) -> bool {
        matches!(self, Transport::Ws | Transport::Wss)
    }

    fn from_name(name: &str) -> Option<Transport> {
        Transport::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// `.verify`: whether client certificates are asked for and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// `verify_none`: no client certificate is asked for.
    None,
    /// `verify_peer`: a client certificate is asked for and must chain to
    /// `.cacertfile`; its absence is tolerated unless
    /// `.fail_if_no_peer_cert` is on.
    Peer,
}

/// `.peer_cert_as_username`: which part of a verified client certificate
/// replaces the CONNECT user name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertField {
    /// `cn`: the subject's common name.
    Cn,
    /// `dn`: the whole subject, e.g. `CN=dev-1,O=Acme`.
    Dn,
}

/// A TLS protocol version a listener accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// `tlsv1.2`.
    V1_2,
    /// `tlsv1.3`.
    V1_3,
}

/// The TLS settings of an `ssl` or `wss` listener. Paths are resolved
/// against the config file's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// `.certfile`: the server's certificate chain (PEM), leaf first.
    pub certfile: Option<PathBuf>,
    /// `.keyfile`: the server's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub keyfile: Option<PathBuf>,
    /// `.cacertfile`: the CAs client certificates must chain to (PEM).
    pub cacertfile: Option<PathBuf>,
    /// `.verify`.
    pub verify: Verify,
    /// `.fail_if_no_peer_cert`: with `verify_peer`, refuse a client that
    /// sends no certificate.
    pub fail_if_no_peer_cert: bool,
    /// `.peer_cert_as_username`.
    pub peer_cert_as_username: Option<CertField>,
    /// `.tls_versions`: accepted versions, never empty.
    pub versions: Vec<TlsVersion>,
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings {
            certfile: None,
            keyfile: None,
            cacertfile: None,
            verify: Verify::None,
            fail_if_no_peer_cert: false,
            peer_cert_as_username: None,
            versions: vec![TlsVersion::V1_2, TlsVersion::V1_3],
        }
    }
}

/// The most connections a listener takes when `.max_connections` is not
/// written down (the open-file limit may lower it when the broker starts).
pub const DEFAULT_MAX_CONNECTIONS: u64 = 1_000_000;
/// `.mqtt_path` when not written down.
pub const DEFAULT_MQTT_PATH: &str = "/mqtt";

/// One listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerSpec {
    /// What it speaks.
    pub transport: Transport,
    /// Its name, the last part of `listener.<transport>.<name>`.
    pub name: String,
    /// `transport.name`.
    id: String,
    /// Where it listens; `None` when turned off (`= off`).
    pub address: Option<SocketAddr>,
    /// `.max_connections`: connections open at once.
    pub max_connections: u64,
    /// `.max_conn_rate`: connections accepted per second; `None` is no limit.
    pub max_conn_rate: Option<NonZeroU32>,
    /// TLS settings (`ssl` and `wss` only).
    pub tls: TlsSettings,
    /// `.mqtt_path`: the HTTP path WebSocket clients connect to (`ws` and
    /// `wss` only).
    pub mqtt_path: String,
}

impl ListenerSpec {
    fn new(transport: Transport, name: &str) -> ListenerSpec {
        ListenerSpec {
            transport,
            name: name.to_owned(),
            id: format!("{}.{name}", transport.as_str()),
            address: None,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_conn_rate: None,
            tls: TlsSettings::default(),
            mqtt_path: DEFAULT_MQTT_PATH.to_owned(),
        }
    }

    /// The `tcp.default` listener on `address`, with default limits.
    pub fn tcp_default(address: SocketAddr) -> ListenerSpec {
        let mut spec = ListenerSpec::new(Transport::Tcp, "default");
        spec.address = Some(address);
        spec
    }

    /// `transport.name`, as logs and plugin events name the listener.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// `listener.*` settings: every listener written down, in the order first
/// named (`tcp.default` first: it exists unless turned off).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    /// The listeners, turned off ones included (their `address` is `None`).
    pub listeners: Vec<ListenerSpec>,
}

impl ListenerConfig {
    /// Only the `tcp.default` listener, on `address`.
    pub fn tcp_default(address: SocketAddr) -> ListenerConfig {
        ListenerConfig {
            listeners: vec![ListenerSpec::tcp_default(address)],
        }
    }

    /// The listeners that are on.
    pub fn active(&self) -> impl Iterator<Item = &ListenerSpec> {
        self.listeners.iter().filter(|l| l.address.is_some())
    }

    /// The listener `transport.name`, created (off) if not yet named.
    fn entry(&mut self, transport: Transport, name: &str) -> &mut ListenerSpec {
        let at = match self
            .listeners
            .iter()
            .position(|l| l.transport == transport && l.name == name)
        {
            Some(at) => at,
            None => {
                self.listeners.push(ListenerSpec::new(transport, name));
                self.listeners.len() - 1
            }
        };
        &mut self.listeners[at]
    }

    /// Sets `listener.<rest>`: an address, or a per-listener key.
    /// `Ok(false)` when `rest` is not of that shape (the caller reports an
    /// unknown key).
    pub(super) fn set(&mut self, rest: &str, value: &str, base: &Path) -> Result<bool, String> {
        let mut parts = rest.splitn(3, '.');
        let (Some(transport), Some(name)) = (parts.next(), parts.next()) else {
            return Ok(false);
        };
        let Some(transport) = Transport::from_name(transport) else {
            return Ok(false);
        };
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(format!(
                "a listener's name is letters, digits, '_' and '-', got {name:?}"
            ));
        }
        match parts.next() {
            None => {
                self.entry(transport, name).address = if value.eq_ignore_ascii_case("off") {
                    None
                } else {
                    Some(parse_socket_addr(value)?)
                };
                Ok(true)
            }
            Some(key) => {
                let Some(spec) = LISTENER_KEYS.iter().find(|k| k.name == key) else {
                    return Ok(false);
                };
                if !spec.transports.contains(&transport) {
                    let on: Vec<&str> = spec.transports.iter().map(|t| t.as_str()).collect();
                    return Err(format!(
                        "{key} applies to {} listeners, not {}",
                        on.join(" and "),
                        transport.as_str()
                    ));
                }
                (spec.apply)(self.entry(transport, name), value, base)?;
                Ok(true)
            }
        }
    }

    /// Checks what single keys cannot: settings of a listener that is not
    /// there, TLS listeners without a certificate, and settings that would
    /// trust what was not verified.
    pub fn check(&self) -> Result<(), String> {
        for l in &self.listeners {
            let id = format!("listener.{}", l.id());
            if l.address.is_none() {
                if *l != ListenerSpec::new(l.transport, &l.name) && l.id != "tcp.default" {
                    return Err(format!("{id} has settings but no address"));
                }
                continue;
            }
            if !l.transport.tls() {
                continue;
            }
            let tls = &l.tls;
            if tls.certfile.is_none() || tls.keyfile.is_none() {
                return Err(format!("{id} needs {id}.certfile and {id}.keyfile"));
            }
            if tls.verify == Verify::Peer && tls.cacertfile.is_none() {
                return Err(format!(
                    "{id}.verify = verify_peer needs {id}.cacertfile, the CAs client certificates must chain to"
                ));
            }
            if tls.verify == Verify::None && tls.fail_if_no_peer_cert {
                return Err(format!(
                    "{id}.fail_if_no_peer_cert needs {id}.verify = verify_peer: with verify_none no certificate is asked for"
                ));
            }
            if tls.verify == Verify::None && tls.cacertfile.is_some() {
                return Err(format!(
                    "{id}.cacertfile is set but {id}.verify = verify_none asks for no client certificate: set verify_peer, or remove cacertfile"
                ));
            }
            if tls.verify == Verify::None && tls.peer_cert_as_username.is_some() {
                return Err(format!(
                    "{id}.peer_cert_as_username needs {id}.verify = verify_peer: an unverified certificate names no one"
                ));
            }
        }
        Ok(())
    }
}

/// Parses `.tls_versions` in EMQX's form: `tlsv1.2,tlsv1.3`.
pub fn parse_tls_versions(value: &str) -> Result<Vec<TlsVersion>, String> {
    let mut versions = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let version = match item.to_ascii_lowercase().as_str() {
            "tlsv1.2" => TlsVersion::V1_2,
            "tlsv1.3" => TlsVersion::V1_3,
            "tlsv1" | "tlsv1.1" | "sslv3" => {
                return Err(format!(
                    "{item} is not supported: it is unsafe (use tlsv1.2 or tlsv1.3)"
                ))
            }
            _ => return Err(format!("expected tlsv1.2 and/or tlsv1.3, got {item:?}")),
        };
        if !versions.contains(&version) {
            versions.push(version);
        }
    }
    if versions.is_empty() {
        return Err("expected at least one of tlsv1.2, tlsv1.3".to_owned());
    }
    versions.sort();
    Ok(versions)
}

/// Sets one per-listener key.
type Apply = fn(&mut ListenerSpec, &str, &Path) -> Result<(), String>;

/// One per-listener key: `listener.<transport>.<name>.<name>`.
pub struct ListenerKey {
    /// The key's last part, e.g. `certfile`.
    pub name: &'static str,
    /// The listeners it applies to.
    pub transports: &'static [Transport],
    /// The value type, as named in `docs/configuration.md`.
    pub kind: &'static str,
    /// The default, as written in a config file.
    pub default: &'static str,
    /// What the key means, in one line.
    pub doc: &'static str,
    apply: Apply,
}

const ALL: &[Transport] = &Transport::ALL;
const TLS: &[Transport] = &[Transport::Ssl, Transport::Wss];
const WEBSOCKET: &[Transport] = &[Transport::Ws, Transport::Wss];

fn path(value: &str, base: &Path) -> Option<PathBuf> {
    (!value.is_empty()).then(|| resolve_against(base, value))
}

/// Every per-listener key.
pub static LISTENER_KEYS: &[ListenerKey] = &[
    ListenerKey {
        name: "max_connections",
        transports: ALL,
        kind: "integer",
        default: "1000000",
        doc: "Connections the listener holds at once (never more than the open-file limit allows, less a reserve); one more is closed at once, counted and logged.",
        apply: |l, v, _| {
            l.max_connections = parse_u64(v, 1..=u64::from(u32::MAX))?;
            Ok(())
        },
    },
    ListenerKey {
        name: "max_conn_rate",
        transports: ALL,
        kind: "integer",
        default: "0",
        doc: "Connections accepted per second, 0 for no limit; one beyond it is closed at once, counted and logged.",
        apply: |l, v, _| {
            l.max_conn_rate = NonZeroU32::new(parse_u32(v, 0..=u32::MAX)?);
            Ok(())
        },
    },
    ListenerKey {
        name: "certfile",
        transports: TLS,
        kind: "path",
        default: "",
        doc: "The server's certificate chain, PEM, leaf first; reloaded when the file changes.",
        apply: |l, v, base| {
            l.tls.certfile = path(v, base);
            Ok(())
        },
    },
    ListenerKey {
        name: "keyfile",
        transports: TLS,
        kind: "path",
        default: "",
        doc: "The server's private key, PEM (PKCS#8, PKCS#1 or SEC1); reloaded when the file changes.",
        apply: |l, v, base| {
            l.tls.keyfile = path(v, base);
            Ok(())
        },
    },
    ListenerKey {
        name: "cacertfile",
        transports: TLS,
        kind: "path",
        default: "",
        doc: "The CAs client certificates must chain to, PEM; needed by verify_peer.",
        apply: |l, v, base| {
            l.tls.cacertfile = path(v, base);
            Ok(())
        },
    },
    ListenerKey {
        name: "verify",
        transports: TLS,
        kind: "verify_peer | verify_none",
        default: "verify_none",
        doc: "verify_peer asks for a client certificate and refuses one that does not chain to cacertfile; verify_none asks for none.",
        apply: |l, v, _| {
            l.tls.verify = match v.to_ascii_lowercase().as_str() {
                "verify_peer" => Verify::Peer,
                "verify_none" => Verify::None,
                _ => return Err(format!("expected verify_peer or verify_none, got {v:?}")),
            };
            Ok(())
        },
    },
    ListenerKey {
        name: "fail_if_no_peer_cert",
        transports: TLS,
        kind: "boolean",
        default: "off",
        doc: "With verify_peer, refuse a client that sends no certificate (without it, only a certificate that does not verify is refused).",
        apply: |l, v, _| {
            l.tls.fail_if_no_peer_cert = parse_bool(v)?;
            Ok(())
        },
    },
    ListenerKey {
        name: "peer_cert_as_username",
        transports: TLS,
        kind: "cn | dn | off",
        default: "off",
        doc: "Use the verified client certificate's common name (cn) or whole subject (dn) as the user name, in place of CONNECT's; needs verify_peer.",
        apply: |l, v, _| {
            l.tls.peer_cert_as_username = match v.to_ascii_lowercase().as_str() {
                "cn" => Some(CertField::Cn),
                "dn" => Some(CertField::Dn),
                "off" | "" => None,
                _ => return Err(format!("expected cn, dn or off, got {v:?}")),
            };
            Ok(())
        },
    },
    ListenerKey {
        name: "tls_versions",
        transports: TLS,
        kind: "list",
        default: "tlsv1.2,tlsv1.3",
        doc: "TLS versions accepted: tlsv1.2, tlsv1.3 or both.",
        apply: |l, v, _| {
            l.tls.versions = parse_tls_versions(v)?;
            Ok(())
        },
    },
    ListenerKey {
        name: "mqtt_path",
        transports: WEBSOCKET,
        kind: "string",
        default: DEFAULT_MQTT_PATH,
        doc: "The HTTP path WebSocket clients connect to; any other path gets 404.",
        apply: |l, v, _| {
            if !v.starts_with('/') || v.bytes().any(|b| b.is_ascii_control() || b == b' ') {
                return Err(format!("expected a path such as /mqtt, got {v:?}"));
            }
            l.mqtt_path = v.to_owned();
            Ok(())
        },
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    fn config(lines: &[(&str, &str)]) -> Result<ListenerConfig, String> {
        let mut config = ListenerConfig::tcp_default("0.0.0.0:1883".parse().unwrap());
        for (key, value) in lines {
            let rest = key.strip_prefix("listener.").unwrap();
            if !config.set(rest, value, Path::new("etc"))? {
                return Err(format!("unknown key {key}"));
            }
        }
        config.check()?;
        Ok(config)
    }

    #[test]
    fn named_listeners_keep_their_order_and_settings() {
        let c = config(&[
            ("listener.ssl.external", "8883"),
            ("listener.ssl.external.certfile", "certs/cert.pem"),
            ("listener.ssl.external.keyfile", "/abs/key.pem"),
            ("listener.ssl.external.tls_versions", "tlsv1.3"),
            ("listener.ws.browser", "127.0.0.1:8083"),
            ("listener.ws.browser.mqtt_path", "/ws"),
            ("listener.ws.browser.max_conn_rate", "100"),
        ])
        .unwrap();
        let ids: Vec<&str> = c.active().map(ListenerSpec::id).collect();
        assert_eq!(ids, ["tcp.default", "ssl.external", "ws.browser"]);
        let ssl = &c.listeners[1];
        assert_eq!(
            ssl.tls.certfile.as_deref(),
            Some(Path::new("etc/certs/cert.pem"))
        );
        assert_eq!(ssl.tls.keyfile.as_deref(), Some(Path::new("/abs/key.pem")));
        assert_eq!(ssl.tls.versions, [TlsVersion::V1_3]);
        assert_eq!(c.listeners[2].mqtt_path, "/ws");
        assert_eq!(c.listeners[2].max_conn_rate, NonZeroU32::new(100));
    }

    #[test]
    fn the_default_listener_can_be_turned_off() {
        let c = config(&[("listener.tcp.default", "off")]).unwrap();
        assert_eq!(c.active().count(), 0);
    }

    #[test]
    fn settings_that_do_not_fit_are_refused_with_the_reason() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("listener.tcp.x", "1"), ("listener.tcp.x.certfile", "a")],
                "applies to ssl and wss",
            ),
            (
                &[
                    ("listener.ws.x", "1"),
                    ("listener.ws.x.verify", "verify_peer"),
                ],
                "applies to ssl and wss",
            ),
            (&[("listener.ssl.x", "1")], "needs listener.ssl.x.certfile"),
            (
                &[("listener.ssl.x.certfile", "a")],
                "has settings but no address",
            ),
            (
                &[
                    ("listener.ssl.x", "1"),
                    ("listener.ssl.x.certfile", "a"),
                    ("listener.ssl.x.keyfile", "b"),
                    ("listener.ssl.x.verify", "verify_peer"),
                ],
                "needs listener.ssl.x.cacertfile",
            ),
            (
                &[
                    ("listener.ssl.x", "1"),
                    ("listener.ssl.x.certfile", "a"),
                    ("listener.ssl.x.keyfile", "b"),
                    ("listener.ssl.x.peer_cert_as_username", "cn"),
                ],
                "an unverified certificate names no one",
            ),
            (&[("listener.ssl.x.tls_versions", "tlsv1.1")], "unsafe"),
            (&[("listener.ws.x.mqtt_path", "mqtt")], "expected a path"),
            (
                &[
                    ("listener.ssl.x", "1"),
                    ("listener.ssl.x.certfile", "a"),
                    ("listener.ssl.x.keyfile", "b"),
                    ("listener.ssl.x.cacertfile", "c"),
                ],
                "asks for no client certificate",
            ),
            (&[("listener.tcp.a b", "1")], "a listener's name"),
            (&[("listener.tcp.x", "host:1")], "expected an address"),
        ];
        for (lines, expected) in cases {
            let error = config(lines).unwrap_err();
            assert!(error.contains(expected), "{lines:?}: {error}");
        }
    }

    #[test]
    fn unknown_shapes_are_left_to_the_caller() {
        let mut c = ListenerConfig::tcp_default("0.0.0.0:1883".parse().unwrap());
        for rest in ["tcp", "udp.x", "tcp.x.nonsense"] {
            assert_eq!(c.set(rest, "1", Path::new("")), Ok(false), "{rest}");
        }
    }

    #[test]
    fn every_listener_key_is_documented_with_its_default() {
        let docs = include_str!("../../../docs/configuration.md");
        let section = docs
            .split("## Listeners")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .expect("docs/configuration.md has a Listeners section");
        for key in LISTENER_KEYS {
            let row = section
                .lines()
                .find(|l| l.starts_with(&format!("| `{}` |", key.name)))
                .unwrap_or_else(|| panic!("{} is not in the Listeners table", key.name));
            if !key.default.is_empty() {
                assert!(
                    row.contains(&format!("`{}`", key.default)),
                    "{}: {row}",
                    key.name
                );
            }
        }
    }

    #[test]
    fn tls_versions_take_emqx_form() {
        assert_eq!(
            parse_tls_versions("tlsv1.3, TLSv1.2").unwrap(),
            [TlsVersion::V1_2, TlsVersion::V1_3]
        );
        assert!(parse_tls_versions("").is_err());
    }
}
