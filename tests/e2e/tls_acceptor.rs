//! The TLS acceptor of `ssl` and `wss` listeners, driven directly over
//! loopback sockets by a rustls client in the test: TLS versions, client
//! certificates and their subject, errors in the files, and certificates
//! reloaded from disk.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mqhost::config::listeners::{CertField, TlsSettings, TlsVersion, Verify};
use mqhost::listen::tls::{PeerCert, Reload, TlsAcceptor};
use mqhost_tests::certs::{Installed, TestCerts, Usage};
use rustls::client::ResolvesClientCert;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::sign::CertifiedKey;
use rustls::{
    ClientConfig, ProtocolVersion, RootCertStore, SignatureScheme, SupportedProtocolVersion,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const BOTH: &[&SupportedProtocolVersion] = &[&rustls::version::TLS12, &rustls::version::TLS13];

/// What the server made of one connection: the version and the client's
/// subject, or why the handshake failed.
type Outcome = Result<(ProtocolVersion, Option<PeerCert>), String>;

/// A loopback server that hands each connection to the acceptor, reports
/// the outcome, and echoes what a connection that came up sends.
struct Server {
    addr: SocketAddr,
    outcomes: mpsc::UnboundedReceiver<Outcome>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start(acceptor: Arc<TlsAcceptor>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, outcomes) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                let (socket, _) = listener.accept().await.unwrap();
                let (acceptor, tx) = (Arc::clone(&acceptor), tx.clone());
                tokio::spawn(async move {
                    let (mut stream, peer) = match acceptor.accept(socket).await {
                        Ok(accepted) => accepted,
                        Err(error) => {
                            let _ = tx.send(Err(error.to_string()));
                            return;
                        }
                    };
                    let version = stream.get_ref().1.protocol_version().unwrap();
                    let _ = tx.send(Ok((version, peer)));
                    let mut buf = [0u8; 1024];
                    while let Ok(n @ 1..) = stream.read(&mut buf).await {
                        if stream.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Server {
            addr,
            outcomes,
            task,
        }
    }

    async fn outcome(&mut self) -> Outcome {
        tokio::time::timeout(Duration::from_secs(10), self.outcomes.recv())
            .await
            .expect("the server reports every connection")
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A client certificate that records whether the server asked for one.
#[derive(Debug)]
struct ClientCert {
    key: Option<Arc<CertifiedKey>>,
    asked: AtomicBool,
}

impl ResolvesClientCert for ClientCert {
    fn resolve(&self, _: &[&[u8]], _: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        self.asked.store(true, Ordering::SeqCst);
        self.key.clone()
    }

    fn has_certs(&self) -> bool {
        self.key.is_some()
    }
}

/// A TLS client trusting `ca`, with a client certificate if given.
struct Client {
    config: Arc<ClientConfig>,
    cert: Arc<ClientCert>,
}

impl Client {
    fn new(
        ca: &Path,
        cert: Option<(&Path, &Path)>,
        versions: &[&'static SupportedProtocolVersion],
    ) -> Client {
        let mut roots = RootCertStore::empty();
        for ca in pem_certs(ca) {
            roots.add(ca).unwrap();
        }
        let key = cert.map(|(cert, key)| {
            let key = PrivateKeyDer::from_pem_file(key).unwrap();
            let key = rustls::crypto::ring::sign::any_supported_type(&key).unwrap();
            Arc::new(CertifiedKey::new(pem_certs(cert), key))
        });
        let cert = Arc::new(ClientCert {
            key,
            asked: AtomicBool::new(false),
        });
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_client_cert_resolver(Arc::clone(&cert) as Arc<dyn ResolvesClientCert>);
        Client {
            config: Arc::new(config),
            cert,
        }
    }

    /// Connects, then checks the connection carries bytes both ways:
    /// with TLS 1.3 a refused client certificate shows only then. Returns
    /// the open stream.
    async fn connect(
        &self,
        addr: SocketAddr,
    ) -> io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(addr).await?;
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let mut stream = tokio_rustls::TlsConnector::from(Arc::clone(&self.config))
            .connect(name, tcp)
            .await?;
        echo(&mut stream).await?;
        Ok(stream)
    }

    /// The certificate a new connection's server presents.
    async fn server_cert(&self, addr: SocketAddr) -> io::Result<CertificateDer<'static>> {
        let stream = self.connect(addr).await?;
        Ok(stream.get_ref().1.peer_certificates().unwrap()[0].clone())
    }

    fn was_asked(&self) -> bool {
        self.cert.asked.load(Ordering::SeqCst)
    }
}

async fn echo(stream: &mut tokio_rustls::client::TlsStream<TcpStream>) -> io::Result<()> {
    stream.write_all(b"ping").await?;
    let mut back = [0u8; 4];
    stream.read_exact(&mut back).await?;
    assert_eq!(&back, b"ping");
    Ok(())
}

fn pem_certs(path: &Path) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(path)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn settings(certs: &TestCerts, verify: Verify) -> TlsSettings {
    TlsSettings {
        certfile: Some(certs.server_cert.clone()),
        keyfile: Some(certs.server_key.clone()),
        cacertfile: Some(certs.ca.clone()),
        verify,
        ..TlsSettings::default()
    }
}

fn load(settings: &TlsSettings) -> Arc<TlsAcceptor> {
    TlsAcceptor::load("listener.ssl.test", settings).unwrap_or_else(|error| panic!("{error}"))
}

#[tokio::test]
async fn tls_versions_are_accepted_and_refused_as_set() {
    let certs = TestCerts::generate();
    let (v12, v13) = (&rustls::version::TLS12, &rustls::version::TLS13);
    for server in [
        vec![TlsVersion::V1_2],
        vec![TlsVersion::V1_3],
        vec![TlsVersion::V1_2, TlsVersion::V1_3],
    ] {
        let mut settings = settings(&certs, Verify::None);
        settings.versions = server.clone();
        let mut listener = Server::start(load(&settings)).await;
        for (client, version, setting) in [
            (v12, ProtocolVersion::TLSv1_2, TlsVersion::V1_2),
            (v13, ProtocolVersion::TLSv1_3, TlsVersion::V1_3),
        ] {
            let connected = Client::new(&certs.ca, None, &[client])
                .connect(listener.addr)
                .await;
            let outcome = listener.outcome().await;
            if server.contains(&setting) {
                assert!(connected.is_ok(), "{server:?} {version:?}: {connected:?}");
                assert_eq!(outcome.unwrap().0, version, "{server:?}");
            } else {
                assert!(connected.is_err(), "{server:?} let {version:?} in");
                let error = outcome.unwrap_err();
                assert!(
                    error.contains("incompatible"),
                    "{server:?} {version:?}: {error}"
                );
            }
        }
    }
}

#[tokio::test]
async fn verify_peer_gives_the_subject_of_a_certificate_that_chains() {
    let certs = TestCerts::generate();
    let mut settings = settings(&certs, Verify::Peer);
    settings.fail_if_no_peer_cert = true;
    settings.peer_cert_as_username = Some(CertField::Dn);
    let mut server = Server::start(load(&settings)).await;
    for (subject, common_name, dn) in [
        ("/O=Acme/CN=dev-1", Some("dev-1"), "CN=dev-1,O=Acme"),
        (
            "/C=SE/O=Acme, Inc./OU=Floor 3/CN=dev 2",
            Some("dev 2"),
            "CN=dev 2,OU=Floor 3,O=Acme\\, Inc.,C=SE",
        ),
        ("/O=Acme/OU=no name", None, "OU=no name,O=Acme"),
    ] {
        let (cert, key) = certs.issue("device", subject, Usage::Client);
        for versions in [&[&rustls::version::TLS12][..], &[&rustls::version::TLS13]] {
            let client = Client::new(&certs.ca, Some((&cert, &key)), versions);
            client.connect(server.addr).await.unwrap();
            let (_, peer) = server.outcome().await.unwrap();
            assert_eq!(
                peer,
                Some(PeerCert {
                    common_name: common_name.map(str::to_owned),
                    subject: dn.to_owned(),
                }),
                "{subject} {versions:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_client_certificate_from_another_ca_is_always_refused() {
    let certs = TestCerts::generate();
    let other = TestCerts::generate();
    for fail_if_no_peer_cert in [false, true] {
        let mut settings = settings(&certs, Verify::Peer);
        settings.fail_if_no_peer_cert = fail_if_no_peer_cert;
        let mut server = Server::start(load(&settings)).await;
        for versions in [&[&rustls::version::TLS12][..], &[&rustls::version::TLS13]] {
            let stranger = Client::new(
                &certs.ca,
                Some((&other.client_cert, &other.client_key)),
                versions,
            );
            assert!(stranger.connect(server.addr).await.is_err());
            let error = server.outcome().await.unwrap_err();
            // Both CAs have the same name: the signature is what fails.
            assert!(
                error.contains("invalid peer certificate"),
                "fail_if_no_peer_cert {fail_if_no_peer_cert} {versions:?}: {error}"
            );
        }
        // The same client with a certificate of the listener's CA is in.
        let known = Client::new(
            &certs.ca,
            Some((&certs.client_cert, &certs.client_key)),
            BOTH,
        );
        known.connect(server.addr).await.unwrap();
        server.outcome().await.unwrap();
    }
}

#[tokio::test]
async fn no_client_certificate_is_refused_only_with_fail_if_no_peer_cert() {
    let certs = TestCerts::generate();
    for fail_if_no_peer_cert in [false, true] {
        let mut settings = settings(&certs, Verify::Peer);
        settings.fail_if_no_peer_cert = fail_if_no_peer_cert;
        let mut server = Server::start(load(&settings)).await;
        for versions in [&[&rustls::version::TLS12][..], &[&rustls::version::TLS13]] {
            let anonymous = Client::new(&certs.ca, None, versions);
            let connected = anonymous.connect(server.addr).await;
            let outcome = server.outcome().await;
            assert!(anonymous.was_asked(), "verify_peer asks for a certificate");
            if fail_if_no_peer_cert {
                assert!(connected.is_err());
                let error = outcome.unwrap_err();
                assert!(error.contains("certificate"), "{versions:?}: {error}");
            } else {
                connected.unwrap();
                assert_eq!(outcome.unwrap().1, None, "{versions:?}");
            }
        }
    }
}

#[tokio::test]
async fn verify_none_asks_for_no_client_certificate() {
    let certs = TestCerts::generate();
    let mut server = Server::start(load(&settings(&certs, Verify::None))).await;
    for versions in [&[&rustls::version::TLS12][..], &[&rustls::version::TLS13]] {
        let client = Client::new(
            &certs.ca,
            Some((&certs.client_cert, &certs.client_key)),
            versions,
        );
        client.connect(server.addr).await.unwrap();
        assert_eq!(server.outcome().await.unwrap().1, None);
        assert!(
            !client.was_asked(),
            "{versions:?}: a certificate was asked for"
        );
    }
}

#[tokio::test]
async fn what_is_not_a_handshake_is_refused_without_harm() {
    let certs = TestCerts::generate();
    let mut server = Server::start(load(&settings(&certs, Verify::Peer))).await;
    // A plain MQTT CONNECT, an HTTP request, a record header announcing
    // more than will come, and bytes from a fixed pseudo-random sequence.
    let mut inputs: Vec<Vec<u8>> = vec![
        b"\x10\x10\x00\x04MQTT\x04\x02\x00\x3c\x00\x04test".to_vec(),
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        vec![0x16, 0x03, 0x01, 0xff, 0xff, 0x01, 0x00],
    ];
    let mut seed: u32 = 0x1234_5678;
    for n in 0..50 {
        let mut bytes = vec![0x16, 0x03, 0x03];
        bytes.extend((0..n * 7).map(|_| {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (seed >> 16) as u8
        }));
        inputs.push(bytes);
    }
    for input in inputs {
        let mut tcp = TcpStream::connect(server.addr).await.unwrap();
        tcp.write_all(&input).await.unwrap();
        tcp.shutdown().await.unwrap();
        assert!(server.outcome().await.is_err(), "{input:?} was taken");
    }
    // And the listener still serves.
    Client::new(&certs.ca, None, BOTH)
        .connect(server.addr)
        .await
        .unwrap();
    server.outcome().await.unwrap();
}

#[test]
fn loading_names_the_file_and_what_is_wrong_with_it() {
    let certs = TestCerts::generate();
    let dir = certs.dir();
    let fake_ca = dir.join("fake-ca.pem");
    std::fs::write(
        &fake_ca,
        "-----BEGIN CERTIFICATE-----\nAAECAw==\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let encrypted = dir.join("encrypted.key");
    std::fs::write(
        &encrypted,
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAECAw==\n-----END ENCRYPTED PRIVATE KEY-----\n",
    )
    .unwrap();
    let missing = dir.join("missing.pem");
    type Change = Box<dyn Fn(&mut TlsSettings)>;
    let path = |p: &Path| Some(p.to_path_buf());
    let cases: Vec<(Change, String)> = vec![
        (
            Box::new({
                let missing = missing.clone();
                move |s| s.certfile = path(&missing)
            }),
            format!("certfile {}: No such file", missing.display()),
        ),
        (
            Box::new({
                let key = certs.server_key.clone();
                move |s| s.certfile = path(&key)
            }),
            format!(
                "certfile {}: no certificate in it",
                certs.server_key.display()
            ),
        ),
        (
            Box::new({
                let cert = certs.server_cert.clone();
                move |s| s.keyfile = path(&cert)
            }),
            format!(
                "keyfile {}: no private key in it",
                certs.server_cert.display()
            ),
        ),
        (
            Box::new({
                let encrypted = encrypted.clone();
                move |s| s.keyfile = path(&encrypted)
            }),
            format!("keyfile {}: the key is encrypted", encrypted.display()),
        ),
        (
            Box::new({
                let key = certs.client_key.clone();
                move |s| s.keyfile = path(&key)
            }),
            format!(
                "keyfile {} does not match the certificate in certfile {}",
                certs.client_key.display(),
                certs.server_cert.display()
            ),
        ),
        (
            Box::new({
                let key = certs.server_key.clone();
                move |s| s.cacertfile = path(&key)
            }),
            format!(
                "cacertfile {}: no certificate in it",
                certs.server_key.display()
            ),
        ),
        (
            Box::new({
                let fake_ca = fake_ca.clone();
                move |s| s.cacertfile = path(&fake_ca)
            }),
            format!(
                "cacertfile {}: certificate 1 is not usable as a CA",
                fake_ca.display()
            ),
        ),
    ];
    for (change, expected) in cases {
        let mut settings = settings(&certs, Verify::Peer);
        change(&mut settings);
        let error = TlsAcceptor::load("listener.ssl.test", &settings)
            .err()
            .unwrap_or_else(|| panic!("loaded despite {expected:?}"));
        assert!(
            error.contains(&expected),
            "expected {expected:?} in {error:?}"
        );
    }
    // With verify_none the CA file is not read.
    let mut settings = settings(&certs, Verify::None);
    settings.cacertfile = Some(missing);
    load(&settings);
}

fn installed_settings(installed: &Installed) -> TlsSettings {
    TlsSettings {
        certfile: Some(installed.cert()),
        keyfile: Some(installed.key()),
        ..TlsSettings::default()
    }
}

fn der(cert: &Path) -> CertificateDer<'static> {
    pem_certs(cert).remove(0)
}

#[tokio::test]
async fn a_replaced_certificate_serves_new_handshakes_within_3s() {
    let certs = TestCerts::generate();
    let installed = Installed::new(&certs.server_cert, &certs.server_key);
    let acceptor = load(&installed_settings(&installed));
    let watch = tokio::spawn(Arc::clone(&acceptor).watch());
    let mut server = Server::start(acceptor).await;
    let client = Client::new(&certs.ca, None, BOTH);
    assert_eq!(
        client.server_cert(server.addr).await.unwrap(),
        der(&certs.server_cert)
    );
    server.outcome().await.unwrap();
    let mut kept = client.connect(server.addr).await.unwrap();
    server.outcome().await.unwrap();

    let (cert, key) = certs.issue("renewed", "/CN=mqhost-test-renewed", Usage::Server);
    // The certificate first and the key after, as tools do: in between
    // the two do not match, and the old pair must go on serving.
    installed.replace_cert(&std::fs::read(&cert).unwrap());
    let replaced = Instant::now();
    installed.replace_key(&std::fs::read(&key).unwrap());
    let renewed = der(&cert);
    loop {
        let presented = client.server_cert(server.addr).await.unwrap();
        server.outcome().await.unwrap();
        if presented == renewed {
            break;
        }
        assert_eq!(presented, der(&certs.server_cert));
        assert!(
            replaced.elapsed() < Duration::from_secs(3),
            "the renewed certificate was not served within 3 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The connection made before is untouched.
    echo(&mut kept).await.unwrap();
    assert_eq!(
        kept.get_ref().1.peer_certificates().unwrap()[0],
        der(&certs.server_cert)
    );
    watch.abort();
}

#[tokio::test]
async fn a_bad_or_half_written_file_keeps_the_certificate_in_use() {
    let certs = TestCerts::generate();
    let installed = Installed::new(&certs.server_cert, &certs.server_key);
    let acceptor = load(&installed_settings(&installed));
    let mut server = Server::start(Arc::clone(&acceptor)).await;
    let client = Client::new(&certs.ca, None, BOTH);
    let (cert, key) = certs.issue("renewed", "/CN=mqhost-test-renewed", Usage::Server);
    let new_cert = std::fs::read(&cert).unwrap();
    let cert_path = installed.cert().display().to_string();
    let key_path = installed.key().display().to_string();
    assert_eq!(acceptor.reload(), Reload::Unchanged);
    for (contents, expected) in [
        (
            &b"garbage\n"[..],
            format!("certfile {cert_path}: no certificate in it"),
        ),
        (
            &new_cert[..new_cert.len() / 2],
            format!("certfile {cert_path}: not valid PEM"),
        ),
        (
            &new_cert[..],
            format!("keyfile {key_path} does not match the certificate in certfile {cert_path}"),
        ),
    ] {
        installed.replace_cert(contents);
        match acceptor.reload() {
            Reload::Kept(why) => assert!(why.contains(&expected), "{why:?}, not {expected:?}"),
            other => panic!("{other:?} after writing {expected:?}"),
        }
        // Said once, and the old certificate still serves.
        assert_eq!(acceptor.reload(), Reload::Unchanged);
        assert_eq!(
            client.server_cert(server.addr).await.unwrap(),
            der(&certs.server_cert)
        );
        server.outcome().await.unwrap();
    }
    installed.replace_key(&std::fs::read(&key).unwrap());
    assert_eq!(acceptor.reload(), Reload::Swapped);
    assert_eq!(client.server_cert(server.addr).await.unwrap(), der(&cert));
    server.outcome().await.unwrap();
}

/// The log lines written on this thread while it is kept.
struct Logs {
    text: Arc<std::sync::Mutex<Vec<u8>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

impl Logs {
    /// Captures this thread's log lines: the watcher's, in a
    /// current-thread runtime.
    fn capture() -> Logs {
        use tracing_subscriber::util::SubscriberInitExt;
        let text = Arc::new(std::sync::Mutex::new(Vec::new()));
        let writer = Arc::clone(&text);
        let guard = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || Line(Arc::clone(&writer)))
            .finish()
            .set_default();
        Logs {
            text,
            _guard: guard,
        }
    }

    /// Waits until a line contains `needle`; false after 10 s.
    async fn wait_for(&self, needle: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if String::from_utf8_lossy(&self.text.lock().unwrap()).contains(needle) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }
}

struct Line(Arc<std::sync::Mutex<Vec<u8>>>);

impl io::Write for Line {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_watcher_says_why_a_bad_file_is_not_used_and_takes_the_next_good_one() {
    let logs = Logs::capture();
    let certs = TestCerts::generate();
    let installed = Installed::new(&certs.server_cert, &certs.server_key);
    let acceptor = load(&installed_settings(&installed));
    let watch = tokio::spawn(Arc::clone(&acceptor).watch());
    let mut server = Server::start(acceptor).await;
    let client = Client::new(&certs.ca, None, BOTH);
    installed.replace_cert(b"-----BEGIN CERTIFICATE-----\nnot base64");
    let expected = format!(
        "listener.ssl.test: keeping the TLS certificate in use: certfile {}: not valid PEM",
        installed.cert().display()
    );
    assert!(logs.wait_for(&expected).await, "no warning {expected:?}");
    assert_eq!(
        client.server_cert(server.addr).await.unwrap(),
        der(&certs.server_cert)
    );
    server.outcome().await.unwrap();

    let (cert, key) = certs.issue("renewed", "/CN=mqhost-test-renewed", Usage::Server);
    installed.replace_key(&std::fs::read(&key).unwrap());
    installed.replace_cert(&std::fs::read(&cert).unwrap());
    assert!(
        logs.wait_for("listener.ssl.test: TLS certificate reloaded")
            .await,
        "the good pair was not taken"
    );
    assert_eq!(client.server_cert(server.addr).await.unwrap(), der(&cert));
    server.outcome().await.unwrap();
    assert!(!watch.is_finished());
    watch.abort();
}
