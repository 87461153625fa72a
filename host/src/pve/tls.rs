//! How the client trusts the Proxmox node's certificate.
//!
//! Verification is on by default against the system's roots. A
//! self-signed node is trusted either through its CA bundle
//! (`PVE_CA_FILE`, e.g. `/etc/pve/pve-root-ca.pem`) or by pinning the
//! SHA-256 fingerprint of its certificate (`PVE_FINGERPRINT`, as shown under
//! Node > System > Certificates). Turning verification off is possible but
//! loud.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

use super::ConfigError;

/// The trust setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsMode {
    /// System roots (the default).
    System,
    /// Only the certificates in this PEM bundle.
    CaFile(PathBuf),
    /// Exactly the certificate with this SHA-256 fingerprint (32 bytes).
    Fingerprint(Vec<u8>),
    /// No verification (`PVE_VERIFY_SSL=false`).
    Insecure,
}

impl TlsMode {
    /// How the node's certificate is trusted, for people (`proxmcp doctor`).
    pub fn describe(&self) -> String {
        match self {
            TlsMode::System => "certificates checked against the system's CA store".into(),
            TlsMode::CaFile(ca) => format!("certificates checked against {}", ca.display()),
            TlsMode::Fingerprint(_) => "certificate pinned by fingerprint (PVE_FINGERPRINT)".into(),
            TlsMode::Insecure => {
                "NOT verified (PVE_VERIFY_SSL=false): pin the node's certificate with PVE_FINGERPRINT".into()
            }
        }
    }
}

/// Parses a fingerprint written as PVE shows it (`AA:BB:…`), also accepting
/// lowercase and no separators.
pub fn parse_fingerprint(text: &str) -> Result<Vec<u8>, ConfigError> {
    let hex_text: String = text.trim().chars().filter(|c| *c != ':').collect();
    let bytes = hex::decode(&hex_text).ok().filter(|b| b.len() == 32);
    bytes.ok_or_else(|| {
        ConfigError::BadFingerprint(format!(
            "{text:?} is not a SHA-256 fingerprint; copy it from Node > System > Certificates (32 bytes as AA:BB:CC:…), or run `openssl x509 -noout -fingerprint -sha256 -in /etc/pve/local/pve-ssl.pem` on the node"
        ))
    })
}

/// Formats fingerprint bytes as `AA:BB:…`.
pub fn format_fingerprint(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

/// Applies `mode` to a reqwest client builder.
pub fn configure(builder: reqwest::ClientBuilder, mode: &TlsMode) -> Result<reqwest::ClientBuilder, ConfigError> {
    match mode {
        TlsMode::System => Ok(builder),
        TlsMode::Insecure => {
            tracing::warn!(
                "PVE_VERIFY_SSL=false: the Proxmox certificate is not checked, so anyone on the path can read the API token; prefer PVE_FINGERPRINT or PVE_CA_FILE"
            );
            Ok(builder.tls_danger_accept_invalid_certs(true))
        }
        TlsMode::CaFile(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| ConfigError::CaFile(format!("cannot read {}: {e}; check PVE_CA_FILE", path.display())))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| ConfigError::CaFile(format!("{} is not a PEM certificate bundle: {e}", path.display())))?;
            if certs.is_empty() {
                return Err(ConfigError::CaFile(format!(
                    "{} holds no certificate; point PVE_CA_FILE at the cluster CA (/etc/pve/pve-root-ca.pem on a node)",
                    path.display()
                )));
            }
            Ok(builder.tls_certs_only(certs))
        }
        TlsMode::Fingerprint(pin) => {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let verifier = Arc::new(PinnedVerifier { pin: pin.clone(), provider: provider.clone() });
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| ConfigError::Http(e.to_string()))?
                .dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth();
            Ok(builder.use_preconfigured_tls(config))
        }
    }
}

/// Accepts exactly the certificate whose SHA-256 matches the pin; the
/// handshake signatures are still verified, so the peer must hold the key.
#[derive(Debug)]
struct PinnedVerifier {
    pin: Vec<u8>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let seen = Sha256::digest(end_entity.as_ref());
        if seen.as_slice() == self.pin.as_slice() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "certificate fingerprint mismatch: the node presented {}, but PVE_FINGERPRINT pins {}; if the node's certificate was renewed on purpose, update PVE_FINGERPRINT",
                format_fingerprint(&seen),
                format_fingerprint(&self.pin)
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_in_pve_form_and_plain_hex() {
        let pve = "AA:".repeat(31) + "AA";
        assert_eq!(parse_fingerprint(&pve).unwrap(), vec![0xAA; 32]);
        assert_eq!(parse_fingerprint(&"bb".repeat(32)).unwrap(), vec![0xBB; 32]);
        assert!(parse_fingerprint("AA:BB").is_err());
        assert!(parse_fingerprint(&"ZZ".repeat(32)).is_err());
        assert_eq!(format_fingerprint(&[0xAB, 0x01]), "AB:01");
    }
}
