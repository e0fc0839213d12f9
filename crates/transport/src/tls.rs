//! TLS settings built from PEM files, with the `ring` provider (no process-wide default is
//! installed, so embedding programs keep their own).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::TransportError;

pub use tokio_rustls::{TlsAcceptor, TlsConnector};

// ring builds without cmake; its lack of post-quantum key exchange is what the deprecation
// notes, and carbon-c-relay (OpenSSL) offers none either.
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn file_err(path: &Path, reason: impl std::fmt::Display) -> TransportError {
    TransportError::TlsFile {
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

/// All certificates in a PEM file (a chain or a CA bundle).
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TransportError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_err(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_err(path, e))?;
    if certs.is_empty() {
        return Err(file_err(path, "no certificate in the file"));
    }
    Ok(certs)
}

/// The first private key in a PEM file (PKCS#8, PKCS#1 or SEC1; may share the file with its
/// certificate, as carbon-c-relay's `ssl <pemfile>` does).
pub fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TransportError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| file_err(path, e))
}

fn roots(ca_file: Option<&Path>) -> Result<RootCertStore, TransportError> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            for c in read_certs(path)? {
                roots.add(c).map_err(|e| file_err(path, e))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                tracing::debug!("system CA certificates: {e}");
            }
            let (added, _ignored) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(TransportError::TlsConfig(
                    "no system CA certificates found; configure a CA file".into(),
                ));
            }
        }
    }
    Ok(roots)
}

/// Client side of a TLS connection to a destination.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ClientFiles {
    /// CA certificates the server's certificate must chain to; none: the system's.
    pub ca_file: Option<PathBuf>,
    /// Client certificate (chain) presented when the server asks for one.
    pub cert_file: Option<PathBuf>,
    /// Key of `cert_file` (may be the same file).
    pub key_file: Option<PathBuf>,
}

impl ClientFiles {
    /// A connector verifying servers against the configured (or system) CAs.
    pub fn connector(&self) -> Result<TlsConnector, TransportError> {
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TransportError::TlsConfig(e.to_string()))?
            .with_root_certificates(roots(self.ca_file.as_deref())?);
        let cfg = match (&self.cert_file, &self.key_file) {
            (Some(c), Some(k)) => builder
                .with_client_auth_cert(read_certs(c)?, read_key(k)?)
                .map_err(|e| file_err(k, e))?,
            (None, None) => builder.with_no_client_auth(),
            _ => {
                return Err(TransportError::TlsConfig(
                    "a client certificate needs both a certificate and a key file".into(),
                ))
            }
        };
        Ok(TlsConnector::from(Arc::new(cfg)))
    }
}

/// Server side of TLS listeners.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ServerFiles {
    /// Certificate chain presented to clients.
    pub cert_file: PathBuf,
    /// Its private key (may be the same file).
    pub key_file: PathBuf,
    /// When set, clients must present a certificate chaining to one of these CAs.
    pub client_ca_file: Option<PathBuf>,
}

impl ServerFiles {
    /// An acceptor for these files.
    pub fn acceptor(&self) -> Result<TlsAcceptor, TransportError> {
        let builder = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TransportError::TlsConfig(e.to_string()))?;
        let builder = match &self.client_ca_file {
            Some(ca) => {
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots(Some(ca))?),
                    provider(),
                )
                .build()
                .map_err(|e| file_err(ca, e))?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut cfg = builder
            .with_single_cert(read_certs(&self.cert_file)?, read_key(&self.key_file)?)
            .map_err(|e| file_err(&self.key_file, e))?;
        // Metric senders only write. TLS 1.3 session tickets sent after the handshake would sit
        // unread in such a client's socket, and closing a socket with unread data sends a reset,
        // which makes our kernel drop the sender's last bytes before we read them.
        cfg.send_tls13_tickets = 0;
        Ok(TlsAcceptor::from(Arc::new(cfg)))
    }
}

/// The name a destination's certificate is checked against: its IP address or host name.
pub fn server_name(host: &str) -> Result<ServerName<'static>, TransportError> {
    ServerName::try_from(host.to_owned())
        .map_err(|e| TransportError::TlsConfig(format!("destination host {host:?}: {e}")))
}
