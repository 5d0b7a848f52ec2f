//! DICOM TLS against a real TLS peer on 127.0.0.1: dcmtk's storescp (OpenSSL) with
//! certificates made here by rcgen (a CA, a server certificate with SANs, a client
//! certificate, and a second, untrusted CA). Skipped when storescp is not installed.

mod common;

use common::*;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ca(name: &str) -> (rcgen::Certificate, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    (p.self_signed(&key).unwrap(), key)
}

fn leaf(
    cn: &str,
    sans: &[&str],
    eku: ExtendedKeyUsagePurpose,
    issuer: &(rcgen::Certificate, KeyPair),
    dir: &Path,
    stem: &str,
) {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(
        sans.iter()
            .filter(|s| s.parse::<std::net::IpAddr>().is_err())
            .map(|s| s.to_string())
            .collect::<Vec<_>>(),
    )
    .unwrap();
    for s in sans {
        if let Ok(ip) = s.parse() {
            p.subject_alt_names.push(SanType::IpAddress(ip));
        }
    }
    p.distinguished_name.push(DnType::CommonName, cn);
    p.extended_key_usages = vec![eku];
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let cert = p.signed_by(&key, &issuer.0, &issuer.1).unwrap();
    std::fs::write(dir.join(format!("{stem}.pem")), cert.pem()).unwrap();
    std::fs::write(dir.join(format!("{stem}.key")), key.serialize_pem()).unwrap();
}

/// ca.pem (trusted), other-ca.pem (not), server.{pem,key} for "pacs" and 127.0.0.1,
/// client.{pem,key} signed by the trusted CA, rogue.{pem,key} signed by the other CA.
fn pki() -> Pki {
    let dir = temp_dir("pki");
    let good = ca("dicom-range test CA");
    let other = ca("some other CA");
    std::fs::write(dir.join("ca.pem"), good.0.pem()).unwrap();
    std::fs::write(dir.join("other-ca.pem"), other.0.pem()).unwrap();
    leaf(
        "pacs",
        &["pacs", "127.0.0.1"],
        ExtendedKeyUsagePurpose::ServerAuth,
        &good,
        &dir,
        "server",
    );
    leaf(
        "MODALITY",
        &["modality"],
        ExtendedKeyUsagePurpose::ClientAuth,
        &good,
        &dir,
        "client",
    );
    leaf(
        "ROGUE",
        &["rogue"],
        ExtendedKeyUsagePurpose::ClientAuth,
        &other,
        &dir,
        "rogue",
    );
    Pki { dir }
}

/// storescp in TLS mode, requiring a client certificate signed by ca.pem.
///
/// DCMTK's default profile (non-downgrading BCP 195, also Orthanc's) offers TLS 1.2 only with
/// RSA suites; rcgen with ring makes ECDSA keys, so the ECDSA suite of BCP 195 is added with
/// `+cs` for TLS 1.2 (TLS 1.3 suites do not depend on the key type).
fn tls_scp(pki: &Pki) -> Option<StoreScp> {
    let key = pki.path("server.key");
    let cert = pki.path("server.pem");
    let ca = pki.path("ca.pem");
    let scp = StoreScp::start(&[
        "+tls",
        &key,
        &cert,
        "+cf",
        &ca,
        "-rc",
        "+cs",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    ])?;
    scp.wait_listening();
    Some(scp)
}

fn agent(args: &[&str]) -> (Output, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_lab-agent"))
        .args(args)
        .output()
        .unwrap();
    let line = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(line.lines().last().unwrap_or("{}"))
        .unwrap_or_else(|e| panic!("not one JSON line ({e}): {out:?}"));
    (out, v)
}

fn tls_args<'a>(port: &'a str, pki: &'a Pki, extra: &[&'a str]) -> Vec<String> {
    let mut v: Vec<String> = [
        "--host",
        "127.0.0.1",
        "--port",
        port,
        "--called",
        "ORTHANC",
        "--tls",
        "--ca",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push(pki.path("ca.pem"));
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn run(sub: &str, args: &[String]) -> (Output, serde_json::Value) {
    let mut all = vec![sub];
    all.extend(args.iter().map(String::as_str));
    agent(&all)
}

#[test]
fn mutual_tls_echo_and_store_in_1_3_and_1_2() {
    let pki = pki();
    let Some(scp) = tls_scp(&pki) else { return };
    let port = scp.port.to_string();
    let (cert, key) = (pki.path("client.pem"), pki.path("client.key"));
    for (version, expect) in [("1.3", "TLSv1.3"), ("1.2", "TLSv1.2")] {
        let args = tls_args(
            &port,
            &pki,
            &[
                "--cert",
                &cert,
                "--key",
                &key,
                "--server-name",
                "pacs",
                "--tls-version",
                version,
            ],
        );
        let (out, v) = run("echo", &args);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        assert_eq!(v["ok"], true);
        assert_eq!(v["tls"]["version"], expect, "{v}");
        assert!(
            v["tls"]["cipher"].as_str().unwrap().starts_with("TLS_"),
            "{v}"
        );
        assert_eq!(v["tls"]["client_certificate"], true);

        let mut store = args.clone();
        store.extend(
            [
                "--modality",
                "CT",
                "--syntax",
                "explicit-le",
                "--instances",
                "2",
                "--rows",
                "32",
                "--cols",
                "32",
                "--seed",
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        store.push(if version == "1.3" { "13" } else { "12" }.into());
        let (out, v) = run("store", &store);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        assert_eq!(v["stored"], 2, "{v}");
        assert_eq!(v["tls"]["version"], expect);
        for i in v["instances"].as_array().unwrap() {
            let uid = i["sop_instance_uid"].as_str().unwrap();
            assert!(
                scp.files().iter().any(|f| f.contains(uid)),
                "storescp did not write {uid}"
            );
        }
    }
    // The IP SAN works too when no --server-name is given (the host is 127.0.0.1).
    let args = tls_args(&port, &pki, &["--cert", &cert, "--key", &key]);
    let (out, _) = run("echo", &args);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[test]
fn client_without_certificate_is_refused_in_words() {
    let pki = pki();
    let Some(scp) = tls_scp(&pki) else { return };
    let port = scp.port.to_string();
    for version in ["1.3", "1.2"] {
        let args = tls_args(
            &port,
            &pki,
            &["--server-name", "pacs", "--tls-version", version],
        );
        let (out, v) = run("echo", &args);
        assert_eq!(out.status.code(), Some(3), "TLS {version}: {out:?}");
        assert_eq!(v["ok"], false);
        let msg = v["error"].as_str().unwrap();
        assert!(
            msg.contains("requires a client certificate") && msg.contains("--cert"),
            "TLS {version}: {msg}"
        );
    }
}

#[test]
fn client_certificate_from_another_ca_is_refused() {
    let pki = pki();
    let Some(scp) = tls_scp(&pki) else { return };
    let port = scp.port.to_string();
    let (cert, key) = (pki.path("rogue.pem"), pki.path("rogue.key"));
    for version in ["1.3", "1.2"] {
        let args = tls_args(
            &port,
            &pki,
            &[
                "--cert",
                &cert,
                "--key",
                &key,
                "--server-name",
                "pacs",
                "--tls-version",
                version,
            ],
        );
        let (out, v) = run("echo", &args);
        assert_eq!(out.status.code(), Some(3), "TLS {version}: {out:?}");
        let msg = v["error"].as_str().unwrap();
        assert!(msg.contains("client certificate"), "TLS {version}: {msg}");
    }
}

#[test]
fn untrusted_server_and_wrong_name_are_refused_by_us() {
    let pki = pki();
    let Some(scp) = tls_scp(&pki) else { return };
    let port = scp.port.to_string();
    let (cert, key) = (pki.path("client.pem"), pki.path("client.key"));

    // Trusting another CA: our side refuses the server.
    let mut args = vec![
        "--host".to_string(),
        "127.0.0.1".into(),
        "--port".into(),
        port.clone(),
        "--tls".into(),
        "--ca".into(),
        pki.path("other-ca.pem"),
        "--cert".into(),
        cert.clone(),
        "--key".into(),
        key.clone(),
    ];
    let (out, v) = run("echo", &args);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let msg = v["error"].as_str().unwrap();
    assert!(
        msg.contains("we refused the TLS server certificate") && msg.contains("--ca"),
        "{msg}"
    );

    // A name the certificate does not carry.
    args[6] = pki.path("ca.pem");
    args.extend(["--server-name".to_string(), "orthanc.example".into()]);
    let (out, v) = run("echo", &args);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let msg = v["error"].as_str().unwrap();
    assert!(
        msg.contains("not valid for the name 'orthanc.example'") && msg.contains("--server-name"),
        "{msg}"
    );
}

#[test]
fn plain_and_tls_mismatches_are_explained() {
    let pki = pki();
    // Plain client to a TLS port.
    let Some(tls) = tls_scp(&pki) else { return };
    let port = tls.port.to_string();
    let (out, v) = agent(&[
        "echo",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--timeout-secs",
        "5",
    ]);
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    let msg = v["error"].as_str().unwrap();
    assert!(msg.contains("TLS"), "{msg}");

    // TLS client to a plain port.
    let plain = StoreScp::start(&[]).unwrap();
    plain.wait_listening();
    let port = plain.port.to_string();
    let args = tls_args(
        &port,
        &pki,
        &["--server-name", "pacs", "--timeout-secs", "5"],
    );
    let (out, v) = run("echo", &args);
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    let msg = v["error"].as_str().unwrap();
    assert!(msg.contains("plain DICOM") || msg.contains("TLS"), "{msg}");

    // Bad usage: TLS files without --tls, --tls without --ca, --cert without --key.
    let (out, v) = agent(&["echo", "--host", "127.0.0.1", "--ca", "x.pem"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(v["error"].as_str().unwrap().contains("add --tls"));
    let (out, v) = agent(&["echo", "--host", "127.0.0.1", "--tls"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(v["error"].as_str().unwrap().contains("--ca"));
    let ca = pki.path("ca.pem");
    let cert = pki.path("client.pem");
    let (out, v) = agent(&[
        "echo",
        "--host",
        "127.0.0.1",
        "--tls",
        "--ca",
        &ca,
        "--cert",
        &cert,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(v["error"].as_str().unwrap().contains("--key"));
}
