//! TLS for `amqps://` connections: which CA to trust (a PEM file, or the
//! Mozilla roots bundled by `webpki-roots`), an optional client
//! certificate, and the name the broker's certificate must carry.
//!
//! The rustls configuration is built here (with the provider the program
//! installed, else ring) and handed to amqprs; reading the PEM files fails with
//! [`RpcError::Config`] naming the file, never with a panic.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use amqprs::tls::TlsAdaptor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

use crate::error::RpcError;

/// How to set up TLS (`amqps://`).
///
/// ```
/// use rpc_runtime::AmqpConfig;
///
/// let config = AmqpConfig::from_url(
///     "amqps://nova:secret@rabbit:5671/%2f?cacertfile=/etc/ssl/rabbit-ca.pem",
/// )?;
/// assert_eq!(config.port(), 5671);
/// assert!(config.tls_options().is_some());
/// # Ok::<(), rpc_runtime::RpcError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    ca_file: Option<PathBuf>,
    client_cert: Option<(PathBuf, PathBuf)>,
    server_name: Option<String>,
}

impl TlsOptions {
    /// TLS trusting the Mozilla roots (`webpki-roots`).
    pub fn new() -> Self {
        Self::default()
    }

    /// Trusts the CA certificates in this PEM file instead (RabbitMQ's
    /// `cacertfile`, oslo's `ssl_ca_file`).
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// Presents this client certificate and key (PEM files) to the broker.
    pub fn client_cert(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.client_cert = Some((cert.into(), key.into()));
        self
    }

    /// Expects the broker's certificate to name `name` instead of the host
    /// of the URL.
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// Sets the client certificate file, keeping the key file (URL options
    /// come one at a time).
    pub(super) fn with_client_cert_file(mut self, cert: PathBuf) -> Self {
        let key = self
            .client_cert
            .take()
            .map(|(_, key)| key)
            .unwrap_or_default();
        self.client_cert = Some((cert, key));
        self
    }

    /// Sets the client key file, keeping the certificate file.
    pub(super) fn with_client_key_file(mut self, key: PathBuf) -> Self {
        let cert = self
            .client_cert
            .take()
            .map(|(cert, _)| cert)
            .unwrap_or_default();
        self.client_cert = Some((cert, key));
        self
    }

    /// Checks that a client certificate comes with its key.
    pub(super) fn check(&self) -> Result<(), RpcError> {
        match &self.client_cert {
            Some((cert, key)) if cert.as_os_str().is_empty() || key.as_os_str().is_empty() => Err(
                RpcError::config("a client certificate needs both `certfile` and `keyfile`"),
            ),
            _ => Ok(()),
        }
    }

    /// The adaptor amqprs connects through, for a broker at `host`.
    pub(super) fn adaptor(&self, host: &str) -> Result<TlsAdaptor, RpcError> {
        let (connector, name) = self.connector(host)?;
        Ok(TlsAdaptor::new(connector, name))
    }

    /// The rustls connector for `host`, and the name its certificate must carry.
    pub(super) fn connector(
        &self,
        host: &str,
    ) -> Result<(tokio_rustls::TlsConnector, String), RpcError> {
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| RpcError::config(format!("TLS: {e}")))?
            .with_root_certificates(self.roots()?);
        let config = match &self.client_cert {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let chain = certificates(cert)?;
                let key = PrivateKeyDer::from_pem_file(key).map_err(|e| unreadable(key, e))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| RpcError::config(format!("TLS client certificate: {e}")))?
            }
        };
        let name = self.server_name.as_deref().unwrap_or(host).to_owned();
        Ok((tokio_rustls::TlsConnector::from(Arc::new(config)), name))
    }

    fn roots(&self) -> Result<RootCertStore, RpcError> {
        let mut roots = RootCertStore::empty();
        match &self.ca_file {
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            Some(path) => {
                for cert in certificates(path)? {
                    roots.add(cert).map_err(|e| {
                        RpcError::config(format!(
                            "TLS: a CA in {} is unusable: {e}",
                            path.display()
                        ))
                    })?;
                }
            }
        }
        Ok(roots)
    }
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, RpcError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| unreadable(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unreadable(path, e))?;
    if certs.is_empty() {
        return Err(RpcError::config(format!(
            "TLS: no certificate in {}",
            path.display()
        )));
    }
    Ok(certs)
}

fn unreadable(path: &Path, error: impl std::fmt::Display) -> RpcError {
    RpcError::config(format!("TLS: cannot read {}: {error}", path.display()))
}

/// The process's rustls provider when the program installed one
/// (`CryptoProvider::install_default`, e.g. aws-lc-rs for post-quantum key
/// exchange), else *ring*, which builds without a C toolchain's cmake.
/// rustls 0.23.48 deprecated *ring*'s provider for lacking post-quantum
/// algorithms; the choice stays the program's.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| {
            #[allow(deprecated)]
            let ring = rustls::crypto::ring::default_provider();
            Arc::new(ring)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_or_broken_files_are_config_errors() {
        let missing = TlsOptions::new().ca_file("/nonexistent/ca.pem");
        let err = missing.adaptor("h").err().expect("an error");
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
        let dir = std::env::temp_dir().join(format!("rpc-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let junk = dir.join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        let err = TlsOptions::new()
            .ca_file(&junk)
            .adaptor("h")
            .err()
            .expect("an error");
        assert!(matches!(err, RpcError::Config(_)), "{err:?}");
        let _ = std::fs::remove_dir_all(dir);
        assert!(TlsOptions::new().adaptor("h").is_ok(), "the bundled roots");
    }
}
