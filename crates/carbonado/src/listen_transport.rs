//! The `line_receiver_transport` / `line_receiver_tls_*` keys shared by `[cache]` and `[relay]`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use ingest::ListenTransport;
use transport::tls::ServerFiles;
use transport::Compression;

/// The four keys as written.
pub struct LineReceiverKeys<'a> {
    /// `line_receiver_transport`.
    pub transport: &'a str,
    /// `line_receiver_tls_cert_file`.
    pub cert_file: &'a str,
    /// `line_receiver_tls_key_file`.
    pub key_file: &'a str,
    /// `line_receiver_tls_client_ca_file`.
    pub client_ca_file: &'a str,
}

fn opt_path(base: &Path, p: &str) -> Option<PathBuf> {
    (!p.is_empty()).then(|| crate::relay_role::resolve(base, Path::new(p)))
}

/// Builds the wrapping of `[section] line_receiver`, reading the TLS files now so that
/// `check-config` reports unusable ones.
pub fn build(
    section: &str,
    base: &Path,
    k: &LineReceiverKeys<'_>,
) -> anyhow::Result<ListenTransport> {
    let compression: Compression = k
        .transport
        .parse()
        .with_context(|| format!("[{section}] line_receiver_transport"))?;
    let tls = match (opt_path(base, k.cert_file), opt_path(base, k.key_file)) {
        (None, None) => {
            if !k.client_ca_file.is_empty() {
                bail!("[{section}] line_receiver_tls_client_ca_file needs line_receiver_tls_cert_file");
            }
            None
        }
        (Some(cert_file), key) => Some(
            ServerFiles {
                key_file: key.unwrap_or_else(|| cert_file.clone()),
                cert_file,
                client_ca_file: opt_path(base, k.client_ca_file),
            }
            .acceptor()
            .with_context(|| format!("[{section}] line_receiver TLS"))?,
        ),
        (None, Some(_)) => {
            bail!("[{section}] line_receiver_tls_key_file needs line_receiver_tls_cert_file")
        }
    };
    Ok(ListenTransport { compression, tls })
}
