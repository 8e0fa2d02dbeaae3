//! The admin API, the broker's most sensitive door (it loads code), probed
//! as a browser, a script on another site or someone on the network
//! would: each attack must fail against a real broker over real sockets,
//! and the same request done right must succeed, so that each refusal is
//! the check's and not an accident.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mqhost_tests::admin::{add_admin, exchange, request_text, Response};
use mqhost_tests::certs::TestCerts;
use mqhost_tests::plugins::{workspace_library, PluginDirs, TempDir};
use mqhost_tests::{mqhost_binary, Broker};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WAIT: Duration = Duration::from_secs(10);

/// The headers `mqhost ctl` sends: the API's own Host and the token.
fn proper(broker: &Broker) -> (String, String) {
    (
        broker.admin_addr().to_string(),
        format!("Bearer {}", broker.admin_token()),
    )
}

/// The token with its first character changed: as long, and wrong.
fn wrong_token(token: &str) -> String {
    let first = if token.starts_with('0') { '1' } else { '0' };
    format!("{first}{}", &token[1..])
}

/// State of plugin `name` as the API lists it.
async fn plugin_state(broker: &Broker, name: &str) -> String {
    let (status, body) = broker.admin_request("GET", "/api/v1/plugins").await;
    assert_eq!(status, 200, "{body}");
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    list["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no plugin {name} in {body}"))["state"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Runs the broker with `sets` (and free loopback ports) and waits for
/// it to exit, as one that refuses its configuration does; one still
/// running after 20 s fails the test.
fn run_to_exit(sets: &[(&str, &str)]) -> Output {
    let mut command = Command::new(mqhost_binary());
    command.args(["--config", "/dev/null"]);
    let data = mqhost_tests::plugins::TempDir::new();
    let store = data.path().join("data").display().to_string();
    let defaults = [
        ("persistence.dir", store.as_str()),
        ("listener.tcp.default", "127.0.0.1:0"),
        ("plugins.dir", "/nonexistent/mqhost-test-plugins"),
        ("plugins.etc_dir", "/nonexistent/mqhost-test-etc"),
    ];
    for (key, value) in defaults.iter().chain(sets) {
        command.arg("--set").arg(format!("{key}={value}"));
    }
    let mut child = command
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mqhost");
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "mqhost started when it should have refused:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn admin_requests_without_the_token_or_with_a_wrong_one_are_refused() {
    let broker = Broker::start();
    let (host, bearer) = proper(&broker);
    let token = broker.admin_token();
    let wrong = format!("Bearer {}", wrong_token(&token));
    for path in ["/api/v1/status", "/api/v1/plugins", "/metrics", "/api/v1/x"] {
        let none = broker.admin_send("GET", path, &[("Host", &host)], "").await;
        assert_eq!(none.status, 401, "{path} without a token: {}", none.body);
        assert!(none.json()["error"].is_string(), "{}", none.body);
        assert_eq!(none.header("www-authenticate"), Some("Bearer"));
        let bad = broker
            .admin_send(
                "GET",
                path,
                &[("Host", &host), ("Authorization", &wrong)],
                "",
            )
            .await;
        assert_eq!(bad.status, 401, "{path} with a wrong token: {}", bad.body);
    }
    // Nor a prefix of it, nor the token in another scheme.
    for authorization in [
        format!("Bearer {}", &token[..32]),
        format!("Basic {token}"),
        token.clone(),
    ] {
        let response = broker
            .admin_send(
                "GET",
                "/api/v1/status",
                &[("Host", &host), ("Authorization", &authorization)],
                "",
            )
            .await;
        assert_eq!(response.status, 401, "{authorization}: {}", response.body);
    }
    // A change without the token does not happen.
    let kick = broker
        .admin_send(
            "DELETE",
            "/api/v1/clients/someone",
            &[("Host", &host), ("Content-Type", "application/json")],
            "",
        )
        .await;
    assert_eq!(kick.status, 401, "{}", kick.body);

    let good = broker
        .admin_send(
            "GET",
            "/api/v1/status",
            &[("Host", &host), ("Authorization", &bearer)],
            "",
        )
        .await;
    assert_eq!(good.status, 200, "{}", good.body);
    assert!(good.json()["uptime"].is_u64(), "{}", good.body);
}

#[tokio::test]
async fn admin_refuses_a_host_that_is_not_its_own() {
    let broker = Broker::start_with(&[("admin.allowed_hosts", "mqhost.example")]);
    let (host, bearer) = proper(&broker);
    let port = broker.admin_addr().port();
    // DNS rebinding: the attacker's name, pointed at this machine, with
    // the token (as if it had leaked) still refused.
    for foreign in [
        format!("rebind.example:{port}"),
        format!("127.0.0.2:{port}"),
        "127.0.0.1".to_owned(),
        format!("mqhost.example.evil:{port}"),
    ] {
        let response = broker
            .admin_send(
                "GET",
                "/api/v1/status",
                &[("Host", &foreign), ("Authorization", &bearer)],
                "",
            )
            .await;
        assert_eq!(response.status, 421, "{foreign}: {}", response.body);
        assert!(response.json()["error"].is_string());
    }
    // The host named in an absolute-form target counts too.
    let absolute = format!("http://rebind.example:{port}/api/v1/status");
    let response = broker
        .admin_send(
            "GET",
            &absolute,
            &[("Host", &host), ("Authorization", &bearer)],
            "",
        )
        .await;
    assert_eq!(response.status, 421, "{}", response.body);
    let no_host = broker
        .admin_send("GET", "/api/v1/status", &[("Authorization", &bearer)], "")
        .await;
    assert!(
        no_host.status == 421 || no_host.status == 400,
        "{}",
        no_host.status
    );
    for own in [
        host.clone(),
        format!("localhost:{port}"),
        "mqhost.example".to_owned(),
        "MQHOST.example:8443".to_owned(),
    ] {
        let response = broker
            .admin_send(
                "GET",
                "/api/v1/status",
                &[("Host", &own), ("Authorization", &bearer)],
                "",
            )
            .await;
        assert_eq!(response.status, 200, "{own}: {}", response.body);
    }
}

#[tokio::test]
async fn admin_refuses_a_cross_site_post_that_would_load_a_plugin() {
    let dirs = PluginDirs::new();
    dirs.install(&workspace_library("mqhost-probe"));
    dirs.write_config(
        "probe",
        &format!(
            "probe.file = {}\nplugin.enable = off\n",
            dirs.file("events.log").display()
        ),
    );
    let broker = Broker::start_with_plugins(&dirs, &[]);
    let (host, bearer) = proper(&broker);
    assert_eq!(plugin_state(&broker, "probe").await, "disabled");
    let load = "/api/v1/plugins/probe/load";

    // What a page on another site can send without a preflight: a
    // text/plain or form POST, without credentials; then with them.
    for headers in [
        vec![("Host", host.as_str()), ("Content-Type", "text/plain")],
        vec![
            ("Host", host.as_str()),
            ("Content-Type", "text/plain"),
            ("Authorization", bearer.as_str()),
        ],
        vec![
            ("Host", host.as_str()),
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Authorization", bearer.as_str()),
        ],
        vec![("Host", host.as_str()), ("Authorization", bearer.as_str())],
    ] {
        let response = broker.admin_send("POST", load, &headers, "{}").await;
        assert_eq!(response.status, 415, "{headers:?}: {}", response.body);
    }
    // JSON, with the token, but from another site's page.
    for origin in ["http://evil.example", "null", "http://127.0.0.1:1"] {
        let response = broker
            .admin_send(
                "POST",
                load,
                &[
                    ("Host", &host),
                    ("Authorization", &bearer),
                    ("Content-Type", "application/json"),
                    ("Origin", origin),
                ],
                "",
            )
            .await;
        assert_eq!(response.status, 403, "{origin}: {}", response.body);
    }
    assert_eq!(plugin_state(&broker, "probe").await, "disabled");

    // The same request from the API's own page goes through.
    let own_origin = format!("http://{host}");
    let response = broker
        .admin_send(
            "POST",
            load,
            &[
                ("Host", &host),
                ("Authorization", &bearer),
                ("Content-Type", "application/json; charset=utf-8"),
                ("Origin", &own_origin),
            ],
            "",
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.json(), serde_json::json!({ "ok": true }));
    assert_eq!(plugin_state(&broker, "probe").await, "running");
}

#[tokio::test]
async fn admin_bounds_request_bodies() {
    let broker = Broker::start();
    let (host, bearer) = proper(&broker);
    let big = "x".repeat(64 * 1024 + 1);
    let response = broker
        .admin_send(
            "POST",
            "/api/v1/login",
            &[
                ("Host", &host),
                ("Authorization", &bearer),
                ("Content-Type", "application/json"),
            ],
            &big,
        )
        .await;
    assert_eq!(response.status, 413, "{}", response.body);
}

async fn login(broker: &Broker, user: &str, password: &str) -> Response {
    let host = broker.admin_addr().to_string();
    let body = serde_json::json!({ "username": user, "password": password }).to_string();
    broker
        .admin_send(
            "POST",
            "/api/v1/login",
            &[("Host", &host), ("Content-Type", "application/json")],
            &body,
        )
        .await
}

#[tokio::test]
async fn admin_login_takes_the_right_password_only_and_sets_a_strict_cookie() {
    let dir = TempDir::new();
    let conf = dir.path().join("mqhost.conf");
    std::fs::write(&conf, "").unwrap();
    add_admin(&conf, "alice", "correct horse");
    let admins = dir.path().join("data/admins");
    let mode = std::fs::metadata(&admins).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(std::fs::read_to_string(&admins)
        .unwrap()
        .starts_with("alice:$7$"));
    let token_file = dir.path().join("data/admin.token");
    let broker = Broker::start_with(&[("admin.token_file", token_file.to_str().unwrap())]);
    let host = broker.admin_addr().to_string();

    for (user, password) in [("alice", "wrong"), ("bob", "correct horse")] {
        let response = login(&broker, user, password).await;
        assert_eq!(response.status, 401, "{user}: {}", response.body);
        assert_eq!(response.header("set-cookie"), None);
    }

    let response = login(&broker, "alice", "correct horse").await;
    assert_eq!(response.status, 200, "{}", response.body);
    let set_cookie = response.header("set-cookie").expect("a session cookie");
    let attributes: Vec<&str> = set_cookie.split(';').map(str::trim).collect();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(attributes.contains(&attribute), "{set_cookie}");
    }
    let cookie = attributes[0].to_owned();
    assert!(cookie.starts_with("mqhost_session="), "{set_cookie}");

    let with_cookie = |cookie: String| {
        let host = host.clone();
        let broker = &broker;
        async move {
            broker
                .admin_send(
                    "GET",
                    "/api/v1/status",
                    &[("Host", &host), ("Cookie", &cookie)],
                    "",
                )
                .await
        }
    };
    let status = with_cookie(cookie.clone()).await;
    assert_eq!(status.status, 200, "{}", status.body);
    let forged = with_cookie(format!("mqhost_session={}", "0".repeat(64))).await;
    assert_eq!(forged.status, 401, "{}", forged.body);

    let logout = broker
        .admin_send(
            "POST",
            "/api/v1/logout",
            &[
                ("Host", &host),
                ("Cookie", &cookie),
                ("Content-Type", "application/json"),
            ],
            "",
        )
        .await;
    assert_eq!(logout.status, 204, "{}", logout.body);
    let after = with_cookie(cookie).await;
    assert_eq!(after.status, 401, "{}", after.body);
}

#[tokio::test]
async fn admin_token_file_is_made_private() {
    let broker = Broker::start();
    let file = broker.admin_token_file();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(file), 0o600);
    assert_eq!(mode(file.parent().unwrap()), 0o700);
    let token = broker.admin_token();
    assert_eq!(token.len(), 64);
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()), "{token}");
    assert!(broker
        .wait_for_log("admin token written to ", WAIT)
        .is_some());
}

#[test]
fn admin_refuses_a_token_file_others_may_read_or_that_is_a_link() {
    let dir = TempDir::new();
    let token = "ab".repeat(32);
    let loose = dir.path().join("loose.token");
    std::fs::write(&loose, &token).unwrap();
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();

    let target = dir.path().join("target.token");
    std::fs::write(&target, &token).unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
    let link = dir.path().join("link.token");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let dangling = dir.path().join("dangling.token");
    let nowhere = dir.path().join("nowhere");
    std::os::unix::fs::symlink(&nowhere, &dangling).unwrap();

    for (file, why) in [
        (&loose, "mode 644"),
        (&link, "symbolic link"),
        (&dangling, "symbolic link"),
    ] {
        let output = run_to_exit(&[
            ("admin.listener", "127.0.0.1:0"),
            ("admin.token_file", file.to_str().unwrap()),
        ]);
        assert!(!output.status.success());
        let text = stderr(&output);
        assert!(
            text.contains("admin.token_file") && text.contains(why),
            "{}: {text}",
            file.display()
        );
    }
    // Nothing was written through the link, nor the loose file reused.
    assert!(!nowhere.exists());
    assert_eq!(std::fs::read_to_string(&target).unwrap(), token);
    assert_eq!(
        std::fs::metadata(&loose).unwrap().permissions().mode() & 0o777,
        0o644
    );
}

#[test]
fn admin_bare_port_binds_loopback_only() {
    let broker = Broker::start_with(&[("admin.listener", "0")]);
    assert!(
        broker.admin_addr().ip().is_loopback(),
        "{}",
        broker.admin_addr()
    );
    assert_eq!(broker.admin_addr().ip().to_string(), "127.0.0.1");
}

#[tokio::test]
async fn admin_off_loopback_needs_tls_or_plaintext_allowed() {
    let output = run_to_exit(&[("admin.listener", "0.0.0.0:0")]);
    assert!(!output.status.success());
    let text = stderr(&output);
    for key in ["admin.listener", "admin.certfile", "admin.allow_plaintext"] {
        assert!(text.contains(key), "{key}: {text}");
    }

    let broker = Broker::start_with(&[
        ("admin.listener", "0.0.0.0:0"),
        ("admin.allow_plaintext", "on"),
    ]);
    assert!(broker
        .wait_for_log("speaks plain HTTP off loopback", WAIT)
        .is_some());
    let (status, body) = broker.admin_request("GET", "/api/v1/status").await;
    assert_eq!(status, 200, "{body}");
}

/// A rustls client trusting `ca`.
fn tls_client(ca: &Path) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

#[tokio::test]
async fn admin_over_tls_serves_a_tls_client_and_ctl() {
    let certs = TestCerts::generate();
    let broker = Broker::start_with(&[
        ("admin.listener", "0.0.0.0:0"),
        ("admin.certfile", certs.server_cert.to_str().unwrap()),
        ("admin.keyfile", certs.server_key.to_str().unwrap()),
    ]);
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", broker.admin_addr().port())
        .parse()
        .unwrap();
    let bearer = format!("Bearer {}", broker.admin_token());
    let host = addr.to_string();
    let request = request_text(
        "GET",
        "/api/v1/status",
        &[("Host", &host), ("Authorization", &bearer)],
        "",
    );

    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let tls = tls_client(&certs.ca).connect(name, tcp).await.unwrap();
    let response = exchange(tls, &request).await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert!(response.json()["uptime"].is_u64());

    // Plain HTTP gets no answer from it.
    let mut plain = tokio::net::TcpStream::connect(addr).await.unwrap();
    plain.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer).await;
    assert!(!answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");

    // A client that trusts another CA refuses it.
    let other = TestCerts::generate();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    assert!(tls_client(&other.ca).connect(name, tcp).await.is_err());

    let output = Command::new(mqhost_binary())
        .args([
            "ctl",
            "--config",
            "/dev/null",
            "--admin",
            &host,
            "--token-file",
        ])
        .arg(broker.admin_token_file())
        .arg("--cacert")
        .arg(&certs.ca)
        .arg("status")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("uptime"));
}

#[test]
fn ctl_reads_the_token_file_its_config_names() {
    let dir = TempDir::new();
    let conf = dir.path().join("mqhost.conf");
    std::fs::write(&conf, "").unwrap();
    let token_file = dir.path().join("data/admin.token");
    let broker = Broker::start_with(&[("admin.token_file", token_file.to_str().unwrap())]);
    let admin = broker.admin_addr().to_string();
    let ctl = |args: &[&str]| {
        Command::new(mqhost_binary())
            .arg("ctl")
            .args(args)
            .output()
            .unwrap()
    };

    // The token is found beside the configuration: data/admin.token.
    let output = ctl(&[
        "--config",
        conf.to_str().unwrap(),
        "--admin",
        &admin,
        "status",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("uptime"));
    let output = ctl(&[
        "--config",
        conf.to_str().unwrap(),
        "--admin",
        &admin,
        "plugins",
        "load",
        "nosuch",
    ]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("no plugin library named nosuch"),
        "{}",
        stderr(&output)
    );

    // Without the token file, or with another token, it is refused.
    let missing = dir.path().join("missing.token");
    let output = ctl(&[
        "--config",
        "/dev/null",
        "--admin",
        &admin,
        "--token-file",
        missing.to_str().unwrap(),
        "status",
    ]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("missing.token"),
        "{}",
        stderr(&output)
    );
    let other = dir.path().join("other.token");
    std::fs::write(&other, wrong_token(&broker.admin_token())).unwrap();
    let output = ctl(&[
        "--config",
        "/dev/null",
        "--admin",
        &admin,
        "--token-file",
        other.to_str().unwrap(),
        "status",
    ]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("authentication required"),
        "{}",
        stderr(&output)
    );
}
