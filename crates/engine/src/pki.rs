//! The per-run certificate authority of TLS labs: a CA made fresh for each run, a server
//! certificate per PACS (its node name as the DNS name, since rustls checks names) and a
//! client certificate per modality. Nothing outlives the run but the PEM files saved as
//! evidence in `runs/<id>/pki/`.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

use crate::EngineError;

/// PEM files of one party: its certificate, its key, and the CA that signed it.
#[derive(Debug, Clone)]
pub struct Identity {
    pub cert_pem: String,
    pub key_pem: String,
    pub ca_pem: String,
}

pub struct RunCa {
    cert: rcgen::Certificate,
    key: KeyPair,
}

fn err(what: &str) -> impl FnOnce(rcgen::Error) -> EngineError + '_ {
    move |e| EngineError::Pki {
        what: what.into(),
        why: e.to_string(),
    }
}

impl RunCa {
    pub fn new(run_id: &str) -> Result<RunCa, EngineError> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(err("CA"))?;
        params
            .distinguished_name
            .push(DnType::CommonName, format!("dicom-range run {run_id} CA"));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().map_err(err("CA key"))?;
        let cert = params.self_signed(&key).map_err(err("CA"))?;
        Ok(RunCa { cert, key })
    }

    pub fn ca_pem(&self) -> String {
        self.cert.pem()
    }

    /// A certificate for `name` (also its DNS name) signed by this CA.
    pub fn issue(&self, name: &str, server: bool) -> Result<Identity, EngineError> {
        let mut params =
            CertificateParams::new(vec![name.to_string()]).map_err(err("certificate"))?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![if server {
            ExtendedKeyUsagePurpose::ServerAuth
        } else {
            ExtendedKeyUsagePurpose::ClientAuth
        }];
        let key = KeyPair::generate().map_err(err("key"))?;
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .map_err(err("certificate"))?;
        Ok(Identity {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            ca_pem: self.ca_pem(),
        })
    }

    /// A document-signing certificate for `name` (a modality signing its instances):
    /// digital signature and non-repudiation, no TLS use.
    pub fn issue_signer(&self, name: &str) -> Result<Identity, EngineError> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(err("signer"))?;
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} (instance signer)"));
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::ContentCommitment,
        ];
        let key = KeyPair::generate().map_err(err("signer key"))?;
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .map_err(err("signer"))?;
        Ok(Identity {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            ca_pem: self.ca_pem(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issues_pem_certificates_signed_by_the_run_ca() {
        let ca = RunCa::new("t-0000").unwrap();
        let id = ca.issue("pacs", true).unwrap();
        assert!(id.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(id.key_pem.contains("PRIVATE KEY"));
        assert_eq!(id.ca_pem, ca.ca_pem());
        assert_ne!(id.cert_pem, id.ca_pem);
    }
}
