//! TLS both ways, with rustls and the `ring` provider: the push client's configuration
//! (`push.tls_verify`, `push.ca_file`), the HTTPS listener's (`server.tls_cert`/`tls_key`), and
//! the certificate `--tls-self-signed` generates for localhost.
//!
//! Only configuration lives here; the listener's handshakes are in [`crate::server`], the pushes
//! in [`crate::push::transport`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// Why a TLS configuration could not be built; the message names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read `{path}`: {reason}")]
    File { path: String, reason: String },
    #[error("`{path}` holds no PEM certificate (expected `-----BEGIN CERTIFICATE-----`)")]
    NoCertificate { path: String },
    #[error("`{path}` holds no PEM private key (PKCS#8, PKCS#1 or SEC1)")]
    NoKey { path: String },
    #[error("`{path}`: {reason}")]
    Rejected { path: String, reason: String },
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(String),
}

/// The one provider Dialtone uses: ring (aws-lc-rs needs cmake and builds slowly).
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| TlsError::File {
        path: shown.clone(),
        reason: e.to_string(),
    })?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Rejected {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate { path: shown });
    }
    Ok(certs)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| TlsError::File {
        path: shown.clone(),
        reason: e.to_string(),
    })?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|_| TlsError::NoKey { path: shown })
}

/// The push client's TLS: with `verify`, the system's trust store plus `ca_file` (a PEM bundle,
/// e.g. mkcert's root or a test CA); without, any certificate is accepted, as the platform does
/// by default (`push.tls_verify = false`). HTTP/1.1 only, like the plain pushes.
pub fn client_config(
    verify: bool,
    ca_file: Option<&Path>,
) -> Result<rustls::ClientConfig, TlsError> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    let mut config = if verify {
        let mut roots = rustls::RootCertStore::empty();
        // A machine without a trust store (a bare container) can still trust `ca_file`; the
        // certificates that do not parse are skipped, as browsers do.
        let native = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(native.certs);
        if let Some(path) = ca_file {
            for cert in certificates(path)? {
                roots.add(cert).map_err(|e| TlsError::Rejected {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
            }
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
            .with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The listener's TLS from a PEM certificate chain and its private key.
pub fn server_config(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, TlsError> {
    let chain = certificates(cert)?;
    let key_der = private_key(key)?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Generate(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| TlsError::Rejected {
            path: format!("{} with {}", cert.display(), key.display()),
            reason: e.to_string(),
        })?;
    // Dialtone serves HTTP/1.1 only (hyper's http1 server): say so, so clients do not try h2.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Where `--tls-self-signed` wrote its certificate and key.
#[derive(Debug, Clone)]
pub struct SelfSigned {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Generates a certificate for `localhost`, `127.0.0.1` and `::1` (plus `extra_host`, the
/// listen address when it is another one) and writes it, with its key, into `dir`: a client
/// trusts `cert.pem` as its CA (`curl --cacert`, `requests(verify=…)`). A new one at every
/// start; the key file is readable by its owner only.
pub fn self_signed(dir: &Path, extra_host: Option<String>) -> Result<SelfSigned, TlsError> {
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    names.extend(extra_host.filter(|h| !names.contains(h)));
    let generated =
        rcgen::generate_simple_self_signed(names).map_err(|e| TlsError::Generate(e.to_string()))?;
    let write_error = |path: &Path, e: std::io::Error| TlsError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(|e| write_error(dir, e))?;
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, generated.cert.pem()).map_err(|e| write_error(&cert, e))?;
    write_private(&key, generated.signing_key.serialize_pem().as_bytes())
        .map_err(|e| write_error(&key, e))?;
    Ok(SelfSigned { cert, key })
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// `push.tls_verify = false`: any certificate, any name. Handshake signatures are still
/// checked (a peer must hold the key of the certificate it shows), so the connection is
/// encrypted to whoever answered.
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Makes ring the process's rustls provider, once: reqwest, built without a provider of its
/// own (no aws-lc-rs), needs one before any client is built. Idempotent.
pub fn install_provider() {
    if CryptoProvider::get_default().is_none() {
        // Losing a race to another thread installing the same provider is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// A reqwest client builder for Dialtone's own clients (`dialtone call`, `tail`, the control
/// verbs, tests): http and https, certificates checked against the system's trust store.
pub fn http_client_builder() -> reqwest::ClientBuilder {
    install_provider();
    reqwest::Client::builder()
}

/// [`http_client_builder`] with reqwest's defaults.
pub fn http_client() -> reqwest::Client {
    http_client_builder()
        .build()
        .expect("a client with default settings and a crypto provider always builds")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("dialtone-tls-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_generated_certificate_and_key_make_a_server_config_and_a_trusting_client() {
        let made = self_signed(&scratch("pair"), Some("192.0.2.7".into())).expect("generated");
        server_config(&made.cert, &made.key).expect("the pair loads");
        client_config(true, Some(&made.cert)).expect("trusted as a CA file");
    }

    #[test]
    fn files_that_are_missing_or_hold_the_wrong_thing_are_named_in_the_error() {
        let made = self_signed(&scratch("wrong"), None).expect("generated");
        let missing = Path::new("/nonexistent/cert.pem");
        let e = server_config(missing, &made.key).expect_err("no such file");
        assert!(e.to_string().contains("/nonexistent/cert.pem"), "{e}");
        let e = server_config(&made.cert, &made.cert).expect_err("a certificate is no key");
        assert!(matches!(e, TlsError::NoKey { .. }), "{e}");
        let e = server_config(&made.key, &made.key).expect_err("a key is no certificate");
        assert!(matches!(e, TlsError::NoCertificate { .. }), "{e}");
        let e = client_config(true, Some(&made.key)).expect_err("a key is no CA");
        assert!(e.to_string().contains("key.pem"), "{e}");
    }
}
