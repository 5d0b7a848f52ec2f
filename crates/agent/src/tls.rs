//! DICOM TLS (PS3.15 Annex B) for the client: certificates from files, rustls with the ring
//! provider chosen explicitly (no process-wide default, so no "Could not automatically
//! determine the process-level CryptoProvider" panic), TLS 1.2 and/or 1.3, mutual TLS.
//!
//! The rustls configuration is built per connection around material loaded once, so that
//! each association records whether *its* server asked for a client certificate: that is how
//! a TLS 1.3 refusal, which arrives after the handshake and which dicom-ul's async path
//! reports as "TLS not enabled, but peer seems to be sending TLS data", is told apart and
//! put into words.

use crate::error::AgentError;
use rustls::client::ResolvesClientCert;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, SignatureScheme};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Which TLS versions to offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsVersion {
    /// TLS 1.2 and 1.3 (the server picks; PS3.15 BCP 195 profiles allow both).
    #[default]
    Any,
    V1_2,
    V1_3,
}

impl fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsVersion::Any => "any",
            TlsVersion::V1_2 => "1.2",
            TlsVersion::V1_3 => "1.3",
        })
    }
}

/// Where the TLS material comes from (the command line's view).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// PEM file with the CA certificate(s) that must have signed the server's certificate.
    pub ca: PathBuf,
    /// PEM certificate chain of the client (mutual TLS), with `key`.
    pub cert: Option<PathBuf>,
    /// PEM private key of the client (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
    /// The name the server's certificate must carry (SAN); defaults to the host.
    pub server_name: Option<String>,
    pub version: TlsVersion,
}

/// Loaded and checked TLS client material, shared by all associations of a run.
pub struct TlsClient {
    roots: Arc<RootCertStore>,
    identity: Option<Arc<CertifiedKey>>,
    /// As given (`None`: use the peer's host name).
    pub server_name: Option<String>,
    pub version: TlsVersion,
}

impl fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsClient")
            .field("roots", &self.roots.len())
            .field("client_certificate", &self.identity.is_some())
            .field("server_name", &self.server_name)
            .field("version", &self.version)
            .finish()
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_pem_certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, AgentError> {
    let bytes = std::fs::read(path)
        .map_err(|e| AgentError::other(format!("cannot read {what} {}: {e}", path.display())))?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| {
            AgentError::other(format!(
                "{what} {} is not a valid PEM certificate file: {e}",
                path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(AgentError::other(format!(
            "{what} {} holds no certificate (expected '-----BEGIN CERTIFICATE-----')",
            path.display()
        )));
    }
    Ok(certs)
}

impl TlsClient {
    /// Load and check the files. Errors name the file and what is wrong with it.
    pub fn load(files: &TlsFiles) -> Result<TlsClient, AgentError> {
        let mut roots = RootCertStore::empty();
        for c in read_pem_certs(&files.ca, "the CA file (--ca)")? {
            roots.add(c).map_err(|e| {
                AgentError::other(format!(
                    "the CA file (--ca) {} holds a certificate rustls cannot use as a trust \
                     anchor: {e}",
                    files.ca.display()
                ))
            })?;
        }
        let identity = match (&files.cert, &files.key) {
            (None, None) => None,
            (Some(_), None) | (None, Some(_)) => {
                return Err(AgentError::other(
                    "mutual TLS needs both --cert (the client certificate) and --key (its \
                     private key)",
                ));
            }
            (Some(cert), Some(key)) => {
                let chain = read_pem_certs(cert, "the client certificate (--cert)")?;
                let kbytes = std::fs::read(key).map_err(|e| {
                    AgentError::other(format!(
                        "cannot read the private key (--key) {}: {e}",
                        key.display()
                    ))
                })?;
                let der = PrivateKeyDer::from_pem_slice(&kbytes).map_err(|e| {
                    AgentError::other(format!(
                        "the private key (--key) {} is not a PEM private key: {e}",
                        key.display()
                    ))
                })?;
                let signing = provider().key_provider.load_private_key(der).map_err(|e| {
                    AgentError::other(format!(
                        "the private key (--key) {} cannot be used: {e}",
                        key.display()
                    ))
                })?;
                let ck = CertifiedKey::new(chain, signing);
                ck.keys_match().map_err(|e| {
                    AgentError::other(format!(
                        "the private key (--key) {} does not belong to the certificate \
                         (--cert) {}: {e}",
                        key.display(),
                        cert.display()
                    ))
                })?;
                Some(Arc::new(ck))
            }
        };
        Ok(TlsClient {
            roots: Arc::new(roots),
            identity,
            server_name: files.server_name.clone(),
            version: files.version,
        })
    }

    /// Whether a client certificate is configured.
    pub fn has_client_cert(&self) -> bool {
        self.identity.is_some()
    }

    /// The name checked against the server certificate.
    pub fn name_for(&self, host: &str) -> String {
        self.server_name.clone().unwrap_or_else(|| host.to_string())
    }

    /// A rustls configuration for one connection, and the flag its server sets when it asks
    /// for a client certificate.
    pub fn config(&self) -> Result<(Arc<ClientConfig>, Arc<AtomicBool>), AgentError> {
        let versions: &[&'static rustls::SupportedProtocolVersion] = match self.version {
            TlsVersion::Any => &[&rustls::version::TLS13, &rustls::version::TLS12],
            TlsVersion::V1_2 => &[&rustls::version::TLS12],
            TlsVersion::V1_3 => &[&rustls::version::TLS13],
        };
        let asked = Arc::new(AtomicBool::new(false));
        let cfg = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(versions)
            .map_err(|e| AgentError::other(format!("TLS configuration error: {e}")))?
            .with_root_certificates(self.roots.clone())
            .with_client_cert_resolver(Arc::new(Recorder {
                identity: self.identity.clone(),
                asked: asked.clone(),
            }));
        Ok((Arc::new(cfg), asked))
    }

    /// Check the server name early, with words (dicom-ul would say "invalid server name").
    pub fn check_name(name: &str) -> Result<(), AgentError> {
        ServerName::try_from(name.to_string())
            .map(|_| ())
            .map_err(|e| {
                AgentError::other(format!(
                    "'{name}' cannot be used as a TLS server name ({e}): give --server-name \
                     with a DNS name or IP address from the server certificate"
                ))
            })
    }
}

/// Hands out the client certificate (if any) and records that the server asked for one.
#[derive(Debug)]
struct Recorder {
    identity: Option<Arc<CertifiedKey>>,
    asked: Arc<AtomicBool>,
}

impl ResolvesClientCert for Recorder {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        self.asked.store(true, Ordering::SeqCst);
        self.identity.clone()
    }

    fn has_certs(&self) -> bool {
        self.identity.is_some()
    }
}

/// What the handshake settled on, for the JSON line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsInfo {
    /// "TLSv1.3" or "TLSv1.2".
    pub version: String,
    /// The IANA name of the cipher suite, e.g. "TLS_AES_256_GCM_SHA384".
    pub cipher: String,
    /// Whether we presented a client certificate.
    pub client_certificate: bool,
}

impl TlsInfo {
    pub fn of(conn: &rustls::ClientConnection, client_certificate: bool) -> TlsInfo {
        let version = match conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_string(),
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_string(),
            Some(v) => format!("{v:?}"),
            None => "unknown".into(),
        };
        let cipher = conn
            .negotiated_cipher_suite()
            .map(|c| {
                // rustls names TLS 1.3 suites "TLS13_..."; the IANA name is "TLS_...".
                c.suite()
                    .as_str()
                    .map(|s| s.replacen("TLS13_", "TLS_", 1))
                    .unwrap_or_else(|| format!("{:?}", c.suite()))
            })
            .unwrap_or_else(|| "unknown".into());
        TlsInfo {
            version,
            cipher,
            client_certificate,
        }
    }

    /// The session as a result line shows it.
    pub fn to_result(&self) -> protocol::result::Tls {
        protocol::result::Tls {
            cipher: self.cipher.clone(),
            client_certificate: self.client_certificate,
            version: self.version.clone(),
        }
    }
}

/// Put a rustls error seen during the handshake into words: who refused, and why.
///
/// `server_name` is the name checked against the certificate; `asked` whether the server
/// asked for a client certificate; `have_cert` whether we had one to give.
pub fn describe_handshake_error(
    e: &rustls::Error,
    at: &str,
    server_name: &str,
    asked: bool,
    have_cert: bool,
) -> String {
    use rustls::{AlertDescription as A, CertificateError as C, Error as E};
    match e {
        E::InvalidCertificate(c) => {
            let why = match c {
                C::UnknownIssuer => "it is not signed by a CA from --ca".to_string(),
                C::NotValidForName | C::NotValidForNameContext { .. } => format!(
                    "it is not valid for the name '{server_name}' (give --server-name with a \
                     name from the certificate's subject alternative names)"
                ),
                C::Expired | C::ExpiredContext { .. } => "it has expired".to_string(),
                C::NotValidYet | C::NotValidYetContext { .. } => {
                    "it is not valid yet (check the clocks)".to_string()
                }
                C::Revoked => "it is revoked".to_string(),
                C::BadSignature => "its signature does not verify".to_string(),
                other => format!("{other:?}"),
            };
            format!("we refused the TLS server certificate of {at}: {why}")
        }
        E::AlertReceived(alert) => {
            let why = match alert {
                A::HandshakeFailure | A::CertificateRequired if asked && !have_cert => {
                    "it requires a client certificate and we have none (give --cert and --key)"
                        .to_string()
                }
                A::BadCertificate
                | A::UnknownCA
                | A::CertificateUnknown
                | A::UnsupportedCertificate
                | A::CertificateExpired
                | A::CertificateRevoked
                | A::AccessDenied
                    if have_cert =>
                {
                    format!("it rejected our client certificate ({alert:?})")
                }
                A::ProtocolVersion => {
                    "no TLS version in common (see --tls-version; DICOM TLS profiles need 1.2 \
                     or later)"
                        .to_string()
                }
                A::HandshakeFailure => {
                    "no cipher suite or signature scheme in common, or a client certificate \
                     is required (HandshakeFailure; note that DCMTK and Orthanc offer TLS 1.2 \
                     with RSA certificates only, while TLS 1.3 works with any key type)"
                        .to_string()
                }
                other => format!("alert {other:?}"),
            };
            format!("{at} refused the TLS handshake: {why}")
        }
        E::PeerIncompatible(p) => {
            format!("{at} and we have no TLS parameters in common ({p:?}): see --tls-version")
        }
        E::InvalidMessage(_) | E::InappropriateMessage { .. } => format!(
            "{at} did not answer with TLS ({e}): it probably speaks plain DICOM on this port \
             (drop --tls)"
        ),
        other => format!("TLS handshake with {at} failed: {other}"),
    }
}

/// After a TLS 1.3 handshake the server checks our certificate and, if it does not like it,
/// closes the connection: we learn it only when reading the A-ASSOCIATE answer.
pub fn describe_post_handshake_close(at: &str, asked: bool, have_cert: bool) -> String {
    match (asked, have_cert) {
        (true, false) => format!(
            "{at} refused the TLS connection: it requires a client certificate and we have \
             none (give --cert and --key); it closed the connection after the handshake"
        ),
        (true, true) => format!(
            "{at} refused our client certificate: it closed the TLS connection after the \
             handshake (is the client certificate signed by a CA the PACS trusts?)"
        ),
        (false, _) => format!(
            "{at} closed the TLS connection after the handshake, before answering the \
             association request"
        ),
    }
}

/// Find a rustls error in an error's causes.
pub fn find_rustls_error<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a rustls::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        if let Some(r) = c.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        if let Some(io) = c.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && let Some(r) = inner.downcast_ref::<rustls::Error>()
        {
            return Some(r);
        }
        cur = c.source();
    }
    None
}

impl From<protocol::TlsVersion> for TlsVersion {
    fn from(v: protocol::TlsVersion) -> Self {
        match v {
            protocol::TlsVersion::Any => TlsVersion::Any,
            protocol::TlsVersion::V1_2 => TlsVersion::V1_2,
            protocol::TlsVersion::V1_3 => TlsVersion::V1_3,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse() {
        let parse = |s: &str| s.parse::<protocol::TlsVersion>().map(TlsVersion::from);
        assert_eq!(parse("1.2"), Ok(TlsVersion::V1_2));
        assert_eq!(parse("1.3"), Ok(TlsVersion::V1_3));
        assert!(parse("1.1").unwrap_err().contains("1.2"));
    }

    #[test]
    fn handshake_errors_in_words() {
        let e = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let m = describe_handshake_error(&e, "pacs:4242", "pacs", false, false);
        assert!(m.starts_with("we refused"), "{m}");
        assert!(m.contains("--ca"), "{m}");
        let e = rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure);
        let m = describe_handshake_error(&e, "pacs:4242", "pacs", true, false);
        assert!(m.contains("requires a client certificate"), "{m}");
    }

    #[test]
    fn missing_files_are_named() {
        let err = TlsClient::load(&TlsFiles {
            ca: "/nonexistent/ca.pem".into(),
            cert: None,
            key: None,
            server_name: None,
            version: TlsVersion::Any,
        })
        .unwrap_err();
        assert!(err.message.contains("--ca"), "{err}");
        assert!(err.message.contains("/nonexistent/ca.pem"), "{err}");
    }
}
