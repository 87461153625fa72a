//! A self-signed certificate for the standalone simulator, and its SHA-256
//! fingerprint in PVE's `AA:BB:…` form (what users paste into
//! `PVE_FINGERPRINT`).

use std::sync::Arc;

use sha2::{Digest, Sha256};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A generated identity: acceptor plus fingerprint and PEM certificate.
pub struct Identity {
    /// Accepts TLS connections with the certificate.
    pub acceptor: TlsAcceptor,
    /// SHA-256 of the DER certificate, `AA:BB:…`.
    pub fingerprint: String,
    /// The certificate as PEM (usable as a CA file).
    pub cert_pem: String,
}

/// The SHA-256 fingerprint of `der`, the way PVE shows fingerprints.
pub fn fingerprint(der: &[u8]) -> String {
    crate::pve::tls::format_fingerprint(&Sha256::digest(der))
}

/// Generates a certificate for `localhost` and `127.0.0.1`.
pub fn generate() -> Result<Identity, String> {
    crate::pve::install_crypto_provider();
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
    let certified = rcgen::generate_simple_self_signed(names).map_err(|e| e.to_string())?;
    let der: CertificateDer<'static> = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der()));
    let config = ServerConfig::builder_with_provider(Arc::new(tokio_rustls::rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(vec![der.clone()], key)
        .map_err(|e| e.to_string())?;
    Ok(Identity {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        fingerprint: fingerprint(&der),
        cert_pem: certified.cert.pem(),
    })
}
