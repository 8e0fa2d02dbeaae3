//! Reading a listener's PEM files into a rustls server configuration,
//! with errors that name the file and say what is wrong with it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedProtocolVersion};

use crate::config::listeners::{TlsSettings, TlsVersion, Verify};

/// What was read from one file: its bytes, or why it could not be read.
type Read = Result<Vec<u8>, String>;

/// The contents of a listener's files, as read at one moment. Kept with
/// the configuration built from them, so that a reread that finds the
/// same bytes changes nothing and a bad file is reported once.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Files {
    cert: Read,
    key: Read,
    ca: Option<Read>,
}

/// The file names, checked present once.
pub(super) struct Paths {
    cert: PathBuf,
    key: PathBuf,
    /// Only with `verify_peer`: with `verify_none` the CAs are not used.
    ca: Option<PathBuf>,
}

impl Paths {
    pub(super) fn of(settings: &TlsSettings) -> Result<Paths, String> {
        let (Some(cert), Some(key)) = (&settings.certfile, &settings.keyfile) else {
            return Err("needs a certfile and a keyfile".to_owned());
        };
        let ca = match settings.verify {
            Verify::None => None,
            Verify::Peer => match &settings.cacertfile {
                Some(ca) => Some(ca.clone()),
                None => return Err("verify_peer needs a cacertfile".to_owned()),
            },
        };
        Ok(Paths {
            cert: cert.clone(),
            key: key.clone(),
            ca,
        })
    }

    /// Every file, for the watcher.
    pub(super) fn all(&self) -> impl Iterator<Item = &Path> {
        [Some(&self.cert), Some(&self.key), self.ca.as_ref()]
            .into_iter()
            .flatten()
            .map(PathBuf::as_path)
    }

    /// Reads every file now.
    pub(super) fn read(&self) -> Files {
        let read = |path: &Path| std::fs::read(path).map_err(|error| error.to_string());
        Files {
            cert: read(&self.cert),
            key: read(&self.key),
            ca: self.ca.as_deref().map(read),
        }
    }
}

/// Builds the configuration `settings` asks for from `files`, read from
/// `paths`.
pub(super) fn server_config(
    settings: &TlsSettings,
    paths: &Paths,
    files: &Files,
) -> Result<Arc<ServerConfig>, String> {
    let chain = certificates(&paths.cert, &files.cert, "certfile")?;
    let key = private_key(&paths.key, &files.key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: Vec<&'static SupportedProtocolVersion> = settings
        .versions
        .iter()
        .map(|v| match v {
            TlsVersion::V1_2 => &rustls::version::TLS12,
            TlsVersion::V1_3 => &rustls::version::TLS13,
        })
        .collect();
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|error| format!("tls_versions: {error}"))?;
    let builder = match (&paths.ca, &files.ca) {
        (Some(path), Some(ca)) => {
            let verifier = client_verifier(path, ca, settings.fail_if_no_peer_cert, provider)?;
            builder.with_client_cert_verifier(verifier)
        }
        _ => builder.with_no_client_auth(),
    };
    let config = builder.with_single_cert(chain, key).map_err(|error| {
        let (cert, key) = (paths.cert.display(), paths.key.display());
        match error {
            rustls::Error::InconsistentKeys(_) => {
                format!("keyfile {key} does not match the certificate in certfile {cert}")
            }
            rustls::Error::InvalidCertificate(error) => {
                format!("certfile {cert}: the first certificate is unusable: {error}")
            }
            error => format!("keyfile {key}: {error}"),
        }
    })?;
    Ok(Arc::new(config))
}

/// The certificates in a PEM file, in order; at least one.
fn certificates(
    path: &Path,
    read: &Read,
    what: &str,
) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = contents(path, read, what)?;
    let chain = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("{what} {}: not valid PEM: {error}", path.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "{what} {}: no certificate in it (expected PEM \"BEGIN CERTIFICATE\" sections)",
            path.display()
        ));
    }
    Ok(chain)
}

/// The first private key in a PEM file.
fn private_key(path: &Path, read: &Read) -> Result<PrivateKeyDer<'static>, String> {
    let bytes = contents(path, read, "keyfile")?;
    PrivateKeyDer::from_pem_slice(bytes).map_err(|error| {
        let path = path.display();
        match error {
            pem::Error::NoItemsFound if contains(bytes, b"ENCRYPTED") => {
                format!(
                    "keyfile {path}: the key is encrypted; it must be stored without a passphrase"
                )
            }
            pem::Error::NoItemsFound => format!(
                "keyfile {path}: no private key in it (expected PEM PKCS#8, PKCS#1 or SEC1)"
            ),
            error => format!("keyfile {path}: not valid PEM: {error}"),
        }
    })
}

/// Checks client certificates against the CAs in `cacertfile`: one that
/// does not chain is refused; none at all only with
/// `fail_if_no_peer_cert`.
fn client_verifier(
    path: &Path,
    read: &Read,
    fail_if_no_peer_cert: bool,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, String> {
    let mut roots = RootCertStore::empty();
    for (n, ca) in certificates(path, read, "cacertfile")?
        .into_iter()
        .enumerate()
    {
        roots.add(ca).map_err(|error| {
            format!(
                "cacertfile {}: certificate {} is not usable as a CA: {error}",
                path.display(),
                n + 1
            )
        })?;
    }
    let mut builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
    if !fail_if_no_peer_cert {
        builder = builder.allow_unauthenticated();
    }
    builder
        .build()
        .map_err(|error| format!("cacertfile {}: {error}", path.display()))
}

fn contents<'a>(path: &Path, read: &'a Read, what: &str) -> Result<&'a [u8], String> {
    read.as_deref()
        .map_err(|error| format!("{what} {}: {error}", path.display()))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
