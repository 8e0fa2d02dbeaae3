//! `ssl` listeners of the real broker, with real TLS clients: Mosquitto's
//! command-line clients, Python paho-mqtt and `openssl s_client`.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mqhost_tests::certs::{Installed, TestCerts, Usage};
use mqhost_tests::plugins::TempDir;
use mqhost_tests::{python_with_paho, require, tool, Broker};

/// `listener.ssl.<name>` on a free loopback port with `certs`' server
/// certificate, plus `keys` (`verify`, ...) for it: the settings to pass to
/// [`Broker::start_with`].
fn ssl_listener(
    name: &str,
    cert: &Path,
    key: &Path,
    keys: &[(&str, &str)],
) -> Vec<(String, String)> {
    let key_of = |k: &str| format!("listener.ssl.{name}.{k}");
    let mut sets = vec![
        (format!("listener.ssl.{name}"), "127.0.0.1:0".to_owned()),
        (key_of("certfile"), cert.display().to_string()),
        (key_of("keyfile"), key.display().to_string()),
    ];
    sets.extend(keys.iter().map(|(k, v)| (key_of(k), v.to_string())));
    sets
}

fn start(sets: &[Vec<(String, String)>]) -> Broker {
    let sets: Vec<(&str, &str)> = sets
        .iter()
        .flatten()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    Broker::start_with(&sets)
}

/// `mosquitto_pub` or `mosquitto_sub` to `addr` over TLS, trusting `ca`,
/// with a client certificate if given.
fn mosquitto(name: &str, addr: SocketAddr, ca: &Path, client: Option<(&Path, &Path)>) -> Command {
    let mut command = tool(name);
    command
        .args(["-h", "127.0.0.1", "-p", &addr.port().to_string()])
        .arg("--cafile")
        .arg(ca);
    if let Some((cert, key)) = client {
        command.arg("--cert").arg(cert).arg("--key").arg(key);
    }
    command
}

fn run(command: &mut Command) -> Output {
    command
        .stdin(Stdio::null())
        .output()
        .expect("run the client")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn mosquitto_clients_speak_mqtt_over_tls_in_the_versions_allowed() {
    let certs = TestCerts::generate();
    let (cert, key) = (&certs.server_cert, &certs.server_key);
    let broker = start(&[
        ssl_listener("secure", cert, key, &[]),
        ssl_listener("modern", cert, key, &[("tls_versions", "tlsv1.3")]),
    ]);
    let secure = broker.listener("ssl:secure");
    let modern = broker.listener("ssl:modern");
    for version in ["tlsv1.2", "tlsv1.3"] {
        let published = run(mosquitto("mosquitto_pub", secure, &certs.ca, None).args([
            "--tls-version",
            version,
            "-t",
            &format!("tls/{version}"),
            "-m",
            version,
            "-q",
            "1",
            "-r",
        ]));
        assert!(
            published.status.success(),
            "{version}: {}",
            text(&published)
        );
    }
    // The retained messages, read back over TLS on another listener.
    let received = run(mosquitto("mosquitto_sub", modern, &certs.ca, None)
        .args(["-t", "tls/#", "-C", "2", "-W", "10", "-v"]));
    assert!(received.status.success(), "{}", text(&received));
    let mut lines: Vec<String> = String::from_utf8_lossy(&received.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    assert_eq!(lines, ["tls/tlsv1.2 tlsv1.2", "tls/tlsv1.3 tlsv1.3"]);
    // mosquitto's --tls-version is a minimum: openssl s_client offers one
    // version only.
    for (listener, flag, taken) in [
        (secure, "-tls1_2", true),
        (secure, "-tls1_3", true),
        (modern, "-tls1_2", false),
        (modern, "-tls1_3", true),
    ] {
        let output = s_client(listener, &certs.ca, &[flag]);
        assert_eq!(
            output.status.success(),
            taken,
            "{listener} {flag}: {}",
            text(&output)
        );
    }
}

#[test]
fn a_client_that_trusts_another_ca_refuses_the_listener() {
    let certs = TestCerts::generate();
    let other = TestCerts::generate();
    let broker = start(&[ssl_listener(
        "secure",
        &certs.server_cert,
        &certs.server_key,
        &[],
    )]);
    let refused = run(mosquitto(
        "mosquitto_pub",
        broker.listener("ssl:secure"),
        &other.ca,
        None,
    )
    .args(["-t", "tls/x", "-m", "x"]));
    assert!(!refused.status.success());
    assert!(text(&refused).contains("TLS error"), "{}", text(&refused));
    // The client told the broker why.
    assert!(broker
        .wait_for_log("received fatal alert: UnknownCA", Duration::from_secs(5))
        .is_some());
}

#[test]
fn verify_peer_refuses_certificates_of_other_cas_and_missing_ones_as_set() {
    let certs = TestCerts::generate();
    let other = TestCerts::generate();
    let ca = certs.ca.display().to_string();
    let peer = |fail: &'static str| {
        [
            ("verify", "verify_peer"),
            ("cacertfile", ca.as_str()),
            ("fail_if_no_peer_cert", fail),
        ]
    };
    let (cert, key) = (&certs.server_cert, &certs.server_key);
    let broker = start(&[
        ssl_listener("strict", cert, key, &peer("on")),
        ssl_listener("lenient", cert, key, &peer("off")),
    ]);
    let own = Some((certs.client_cert.as_path(), certs.client_key.as_path()));
    let foreign = Some((other.client_cert.as_path(), other.client_key.as_path()));
    for (listener, client, taken) in [
        ("ssl:strict", own, true),
        ("ssl:strict", None, false),
        ("ssl:strict", foreign, false),
        ("ssl:lenient", own, true),
        ("ssl:lenient", None, true),
        ("ssl:lenient", foreign, false),
    ] {
        // QoS 1: the PUBACK shows the connection was taken, TLS 1.3
        // showing a refused certificate only after its handshake.
        let output = run(mosquitto(
            "mosquitto_pub",
            broker.listener(listener),
            &certs.ca,
            client,
        )
        .args(["-t", "tls/x", "-m", "x", "-q", "1"]));
        let what = match client {
            None => "no certificate",
            Some(_) if client == own => "a certificate of its CA",
            Some(_) => "a certificate of another CA",
        };
        assert_eq!(
            output.status.success(),
            taken,
            "{listener} with {what}: {}",
            text(&output)
        );
    }
    // The broker says why, in its debug log.
    let logs = broker.logs().join("\n");
    assert!(logs.contains("peer sent no certificates"), "{logs}");
    assert!(logs.contains("invalid peer certificate"), "{logs}");
}

#[test]
fn peer_cert_as_username_replaces_the_user_name_the_client_gives() {
    let certs = TestCerts::generate();
    let (device_cert, device_key) = certs.issue("dev-1", "/O=Acme/CN=dev-1", Usage::Client);
    for (field, user) in [("cn", "dev-1"), ("dn", "CN=dev-1,O=Acme")] {
        let acl = TempDir::new();
        let acl_file = acl.path().join("acl");
        std::fs::write(
            &acl_file,
            format!(
                "user reader\ntopic readwrite devices/#\n\
                 user {user}\ntopic write devices/dev-1/#\n\
                 user mallory\ntopic write devices/mallory/#\n"
            ),
        )
        .unwrap();
        let ca = certs.ca.display().to_string();
        let acl_path = acl_file.display().to_string();
        let broker = start(&[
            vec![("acl.file".to_owned(), acl_path)],
            ssl_listener(
                "devices",
                &certs.server_cert,
                &certs.server_key,
                &[
                    ("verify", "verify_peer"),
                    ("cacertfile", &ca),
                    ("fail_if_no_peer_cert", "on"),
                    ("peer_cert_as_username", field),
                ],
            ),
        ]);
        // A reader on the plain listener sees what gets through.
        let reader = Subscriber::start(
            tool("mosquitto_sub")
                .args(["-h", "127.0.0.1", "-p", &broker.port().to_string()])
                .args([
                    "-u",
                    "reader",
                    "-t",
                    "devices/#",
                    "-C",
                    "2",
                    "-W",
                    "20",
                    "-v",
                ]),
        );
        let devices = broker.listener("ssl:devices");
        for topic in ["devices/mallory/x", "devices/dev-1/x"] {
            // The device says it is mallory; its certificate says dev-1.
            // Mallory's topic is refused (how depends on acl.deny_action),
            // so only dev-1's status matters.
            let output = run(mosquitto(
                "mosquitto_pub",
                devices,
                &certs.ca,
                Some((&device_cert, &device_key)),
            )
            .args(["-u", "mallory", "-t", topic, "-m", "sent", "-q", "1"]));
            if topic == "devices/dev-1/x" {
                assert!(output.status.success(), "{field}: {}", text(&output));
            }
        }
        let end = run(tool("mosquitto_pub")
            .args(["-h", "127.0.0.1", "-p", &broker.port().to_string()])
            .args(["-u", "reader", "-t", "devices/end", "-m", "sent", "-q", "1"]));
        assert!(end.status.success(), "{}", text(&end));
        let mut received = reader.finish();
        received.sort();
        assert_eq!(
            received,
            ["devices/dev-1/x sent", "devices/end sent"],
            "{field}"
        );
    }
}

/// A `mosquitto_sub` that has its subscription in place (it was told
/// `-d`: its SUBACK report says so) and whose messages are collected as
/// they come.
struct Subscriber {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
}

impl Subscriber {
    fn start(sub: &mut Command) -> Subscriber {
        require("stdbuf", "coreutils");
        // Line-buffered, so that the report comes as it happens.
        let mut child = Command::new("stdbuf")
            .arg("-oL")
            .arg(sub.get_program())
            .args(sub.get_args())
            .arg("-d")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start mosquitto_sub");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let subscriber = Subscriber { child, lines };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match subscriber.lines.recv_timeout(left) {
                Ok(line) if line.ends_with(" received SUBACK") => return subscriber,
                Ok(_) => {}
                Err(_) => panic!("mosquitto_sub got no SUBACK"),
            }
        }
    }

    /// The messages printed until `mosquitto_sub` exits (its `-C` count
    /// reached, or its `-W` time out).
    fn finish(mut self) -> Vec<String> {
        let status = self.child.wait().unwrap();
        let messages: Vec<String> = self
            .lines
            .iter()
            // The rest of `-d`'s report.
            .filter(|l| !l.starts_with("Client ") && !l.starts_with("Subscribed (mid"))
            .collect();
        assert!(
            status.success(),
            "mosquitto_sub: {status}, got {messages:?}"
        );
        messages
    }
}

/// Python paho-mqtt: a round trip with a client certificate, then a
/// connection that trusts another CA, and one without a certificate.
/// Works with paho 1.x and 2.x.
const PAHO: &str = r#"
import signal, ssl, sys, time
import paho.mqtt.client as mqtt

signal.alarm(30)
port = int(sys.argv[1])
ca, cert, key, wrong_ca = sys.argv[2:6]

def client():
    try:
        return mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="")
    except AttributeError:
        return mqtt.Client(client_id="")

def connect(tls):
    c = client()
    c.tls_set(**tls)
    acks = []
    c.on_connect = lambda c, u, flags, rc, *more: acks.append(rc)
    try:
        c.connect("127.0.0.1", port)
        deadline = time.time() + 10
        while not acks and time.time() < deadline:
            if c.loop(0.1) != 0:
                break
    except (ssl.SSLError, OSError) as e:
        return None, "refused (%s)" % e.__class__.__name__
    if acks and acks[0] == 0:
        return c, "connected"
    return None, "refused"

good = {"ca_certs": ca, "certfile": cert, "keyfile": key}
c, said = connect(good)
print("good:", said)
got = []
c.on_message = lambda c, u, m: got.append("%s %s" % (m.topic, m.payload.decode()))
c.subscribe("paho/tls", qos=1)
c.publish("paho/tls", "over tls", qos=1)
deadline = time.time() + 10
while not got and time.time() < deadline:
    c.loop(0.1)
print("message:", got)
c.disconnect()
print("wrong CA:", connect({"ca_certs": wrong_ca, "certfile": cert, "keyfile": key})[1])
print("no certificate:", connect({"ca_certs": ca})[1])
"#;

#[test]
fn python_paho_over_tls_with_a_client_certificate() {
    let certs = TestCerts::generate();
    let other = TestCerts::generate();
    let ca = certs.ca.display().to_string();
    let broker = start(&[ssl_listener(
        "secure",
        &certs.server_cert,
        &certs.server_key,
        &[
            ("verify", "verify_peer"),
            ("cacertfile", &ca),
            ("fail_if_no_peer_cert", "on"),
        ],
    )]);
    let output = run(python_with_paho()
        .args(["-c", PAHO])
        .arg(broker.listener("ssl:secure").port().to_string())
        .args([&certs.ca, &certs.client_cert, &certs.client_key, &other.ca]));
    let said = text(&output);
    assert!(output.status.success(), "{said}");
    let lines: Vec<&str> = said.lines().collect();
    assert_eq!(
        lines[..3],
        [
            "good: connected",
            "message: ['paho/tls over tls']",
            "wrong CA: refused (SSLCertVerificationError)"
        ],
        "{said}"
    );
    assert!(lines[3].starts_with("no certificate: refused"), "{said}");
}

/// A TLS handshake by `openssl s_client`, verifying the server against
/// `ca`, with `extra` options.
fn s_client(addr: SocketAddr, ca: &Path, extra: &[&str]) -> Output {
    require("openssl", "openssl");
    run(Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &addr.to_string(),
            "-verify_return_error",
        ])
        .arg("-CAfile")
        .arg(ca)
        .args(extra))
}

/// The subject of the certificate a new TLS connection is shown, as
/// `openssl s_client` prints it; `None` if the connection failed.
fn presented(addr: SocketAddr, ca: &Path) -> Option<String> {
    let output = s_client(addr, ca, &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let subject = stdout.lines().find_map(|l| l.strip_prefix("subject="));
    (output.status.success()).then(|| subject.unwrap_or_default().to_owned())
}

#[test]
fn a_certificate_renewed_on_disk_serves_new_clients_and_connected_ones_stay() {
    let certs = TestCerts::generate();
    let installed = Installed::new(&certs.server_cert, &certs.server_key);
    let broker = start(&[ssl_listener(
        "secure",
        &installed.cert(),
        &installed.key(),
        &[],
    )]);
    let addr = broker.listener("ssl:secure");
    let first = presented(addr, &certs.ca).expect("a TLS connection");
    assert!(first.contains("mqhost-test-server"), "{first}");
    let subscriber = Subscriber::start(mosquitto("mosquitto_sub", addr, &certs.ca, None).args([
        "-t",
        "renewal/#",
        "-C",
        "1",
        "-W",
        "30",
        "-v",
    ]));

    let (cert, key) = certs.issue("renewed", "/CN=mqhost-test-renewed", Usage::Server);
    installed.replace_cert(&std::fs::read(&cert).unwrap());
    installed.replace_key(&std::fs::read(&key).unwrap());
    let replaced = Instant::now();
    loop {
        let subject = presented(addr, &certs.ca).expect("a TLS connection");
        if subject.contains("mqhost-test-renewed") {
            break;
        }
        assert!(
            replaced.elapsed() < Duration::from_secs(3),
            "still {subject} 3 s after the renewal"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // A new client over the new certificate reaches the one connected
    // over the old.
    let published = run(mosquitto("mosquitto_pub", addr, &certs.ca, None).args([
        "-t",
        "renewal/done",
        "-m",
        "renewed",
        "-q",
        "1",
    ]));
    assert!(published.status.success(), "{}", text(&published));
    assert_eq!(subscriber.finish(), ["renewal/done renewed"]);
    assert!(broker
        .wait_for_log(
            "listener.ssl.secure: TLS certificate reloaded",
            Duration::from_secs(5)
        )
        .is_some());
}

/// With `peer_cert_as_username` the certificate is what names a client on
/// that listener. With `fail_if_no_peer_cert` off (the default) a client
/// may come without one; it must not then name itself with CONNECT's user
/// name, or it takes the ACL of any user, certificate-named ones included.
#[test]
fn peer_cert_as_username_without_a_certificate_does_not_take_the_connect_user_name() {
    let certs = TestCerts::generate();
    let (device_cert, device_key) = certs.issue("dev-1", "/O=Acme/CN=dev-1", Usage::Client);
    let acl = TempDir::new();
    let acl_file = acl.path().join("acl");
    std::fs::write(
        &acl_file,
        "user dev-1\ntopic readwrite devices/dev-1/#\nuser admin\ntopic readwrite #\n",
    )
    .unwrap();
    let ca = certs.ca.display().to_string();
    let broker = start(&[
        vec![("acl.file".to_owned(), acl_file.display().to_string())],
        ssl_listener(
            "devices",
            &certs.server_cert,
            &certs.server_key,
            &[
                ("verify", "verify_peer"),
                ("cacertfile", &ca),
                ("peer_cert_as_username", "cn"),
            ],
        ),
    ]);
    let devices = broker.listener("ssl:devices");
    // No certificate, user name "admin" (no password: the listener is on
    // loopback, where anonymous clients are let in). Either outcome of a
    // fix passes: refused, or connected without that name.
    let mut sub = mosquitto("mosquitto_sub", devices, &certs.ca, None);
    sub.args([
        "-u",
        "admin",
        "-t",
        "devices/#",
        "-C",
        "1",
        "-W",
        "5",
        "-v",
        "-d",
    ]);
    let mut child = Command::new("stdbuf")
        .arg("-oL")
        .arg(sub.get_program())
        .args(sub.get_args())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start mosquitto_sub");
    let (tx, lines) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // Its subscription in place, or the client gone.
    let mut got = Vec::new();
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(20)) {
        let subscribed = line.ends_with(" received SUBACK");
        got.push(line);
        if subscribed {
            break;
        }
    }
    let output = run(mosquitto(
        "mosquitto_pub",
        devices,
        &certs.ca,
        Some((&device_cert, &device_key)),
    )
    .args(["-t", "devices/dev-1/secret", "-m", "secret", "-q", "1"]));
    assert!(output.status.success(), "{}", text(&output));
    let _ = child.wait();
    got.extend(lines.try_iter());
    let got = got.join("\n");
    assert!(
        !got.contains("devices/dev-1/secret"),
        "a client without a certificate took the user name admin: {got:?}"
    );
}
