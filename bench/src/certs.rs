//! The TLS scenarios' certificate: self-signed, for 127.0.0.1, made once
//! per run with the `openssl` command. Both brokers serve the same
//! certificate and key, so that their handshakes do the same
//! cryptography: ECDSA P-256, as small devices mostly use. The generator
//! checks only that it is this certificate (see [`crate::transport`]), so
//! no CA is needed.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::client::Error;

/// The server's certificate and key, PEM files.
#[derive(Debug, Clone)]
pub struct Certs {
    /// The certificate, for IP 127.0.0.1 and localhost.
    pub cert: PathBuf,
    /// Its key, unencrypted.
    pub key: PathBuf,
}

impl Certs {
    /// Makes the certificate and key in `dir` (created if missing).
    pub fn generate(dir: &Path) -> Result<Certs, Error> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let args = [
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-subj",
            "/CN=mqhost-bench",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ];
        let output = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .map_err(|e| format!("cannot run openssl: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "openssl {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        let key = dir.join("server.key");
        // Mosquitto started as root reads its files as the user it
        // switches to (`mosquitto`): a throwaway key may be readable by all.
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644))
            .map_err(|e| format!("{}: {e}", key.display()))?;
        Ok(Certs {
            cert: dir.join("server.crt"),
            key,
        })
    }
}
