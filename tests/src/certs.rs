//! Certificates for TLS tests, made with the `openssl` command.
//!
//! [`TestCerts::generate`] makes a CA and, signed by it, a server
//! certificate for 127.0.0.1 and localhost and a client certificate (P-256
//! keys, valid two days). [`TestCerts::issue`] signs more with the same
//! CA: a client with a chosen subject, a renewed server certificate. A
//! certificate from another CA is one from another `generate()`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::plugins::TempDir;

/// What a certificate is for: its extended key usage, and for a server
/// the names it answers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// A server at 127.0.0.1 and localhost.
    Server,
    /// A TLS client.
    Client,
}

/// A CA and certificates it signed, in a temporary directory.
pub struct TestCerts {
    dir: TempDir,
    /// The CA certificate (PEM).
    pub ca: PathBuf,
    /// The server's certificate, subject `/CN=mqhost-test-server`.
    pub server_cert: PathBuf,
    /// The server's key.
    pub server_key: PathBuf,
    /// The client's certificate, subject `/CN=mqhost-test-client`.
    pub client_cert: PathBuf,
    /// The client's key.
    pub client_key: PathBuf,
}

/// Key options for `openssl req`: a fresh P-256 key, not encrypted.
const NEW_KEY: [&str; 5] = [
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
];

impl TestCerts {
    /// Makes a fresh set in a temporary directory.
    pub fn generate() -> TestCerts {
        crate::require("openssl", "openssl");
        let dir = TempDir::new();
        openssl(
            dir.path(),
            &[
                &["req", "-x509"][..],
                &NEW_KEY,
                &["-keyout", "ca.key", "-out", "ca.crt"],
                &["-subj", "/CN=mqhost-test-ca", "-days", "2"],
            ]
            .concat(),
        );
        let mut certs = TestCerts {
            ca: dir.path().join("ca.crt"),
            server_cert: PathBuf::new(),
            server_key: PathBuf::new(),
            client_cert: PathBuf::new(),
            client_key: PathBuf::new(),
            dir,
        };
        (certs.server_cert, certs.server_key) =
            certs.issue("server", "/CN=mqhost-test-server", Usage::Server);
        (certs.client_cert, certs.client_key) =
            certs.issue("client", "/CN=mqhost-test-client", Usage::Client);
        certs
    }

    /// Signs a new certificate with this CA, for `subject` in openssl's
    /// `-subj` form (`/O=Acme/CN=dev-1`, most general part first), with a
    /// new key: `<name>.crt` and `<name>.key` in [`TestCerts::dir`],
    /// returned in that order.
    pub fn issue(&self, name: &str, subject: &str, usage: Usage) -> (PathBuf, PathBuf) {
        let dir = self.dir.path();
        let (key, csr, crt, ext) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.crt"),
            format!("{name}.ext"),
        );
        // Extensions make version 3 certificates, which rustls requires.
        let extensions = match usage {
            Usage::Server => {
                "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
            }
            Usage::Client => "extendedKeyUsage=clientAuth\n",
        };
        std::fs::write(dir.join(&ext), extensions).expect("write the extensions");
        openssl(
            dir,
            &[
                &["req"][..],
                &NEW_KEY,
                &["-keyout", &key, "-out", &csr, "-subj", subject],
            ]
            .concat(),
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &crt,
                "-days",
                "2",
                "-extfile",
                &ext,
            ],
        );
        (dir.join(crt), dir.join(key))
    }

    /// The directory the files are in (removed when this is dropped).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// Runs `openssl` in `dir`; fails the test with its error output.
fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A server's certificate and key where a listener reads them, in a
/// directory of their own, replaced the way certificate tools do it:
/// written beside, then renamed over.
pub struct Installed {
    dir: TempDir,
}

impl Installed {
    /// `cert.pem` and `key.pem` with the contents of `cert` and `key`.
    pub fn new(cert: &Path, key: &Path) -> Installed {
        let installed = Installed {
            dir: TempDir::new(),
        };
        installed.replace_cert(&std::fs::read(cert).expect("read the certificate"));
        installed.replace_key(&std::fs::read(key).expect("read the key"));
        installed
    }

    /// The certificate's path.
    pub fn cert(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    /// The key's path.
    pub fn key(&self) -> PathBuf {
        self.dir.path().join("key.pem")
    }

    /// Replaces the certificate with `contents`, whatever they are.
    pub fn replace_cert(&self, contents: &[u8]) {
        replace(&self.cert(), contents);
    }

    /// Replaces the key with `contents`, whatever they are.
    pub fn replace_key(&self, contents: &[u8]) {
        replace(&self.key(), contents);
    }
}

fn replace(path: &Path, contents: &[u8]) {
    let mut temp = path.as_os_str().to_owned();
    temp.push(".tmp");
    std::fs::write(&temp, contents).expect("write beside");
    std::fs::rename(&temp, path).expect("rename over");
}
