//! lab-agent against the real PACS: Orthanc 1.10.1 (the `dicom-range/orthanc:1.10.1` image the
//! engine builds) in a container on an internal Docker network made for each test, labelled
//! `dicom-range.run=agent-test-<hex>` and removed at the end (also when a test fails).
//! Traffic goes only to that container, and back from it to a `serve` bound on the network's
//! gateway address (the C-MOVE destination).
//!
//! The image is built with `lab images build` (the `lab` binary next to `lab-agent`) when
//! missing; without Docker these tests fail and say so.

mod common;

use common::*;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const IMAGE: &str = "dicom-range/orthanc:1.10.1";

fn agent_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_lab-agent"))
}

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("the docker CLI is needed for these tests");
    assert!(
        out.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn ensure_image() {
    let have = Command::new("docker")
        .args(["image", "inspect", IMAGE])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("the docker CLI is needed for these tests")
        .success();
    if have {
        return;
    }
    let lab = agent_bin().with_file_name("lab");
    assert!(
        lab.is_file(),
        "{IMAGE} is missing and {} is not built: run `cargo build --workspace` then \
         `lab images build`",
        lab.display()
    );
    let st = Command::new(&lab)
        .args(["images", "build", "-q"])
        .env("CI", "true")
        .status()
        .unwrap();
    assert!(st.success(), "`lab images build` failed");
}

/// One Orthanc 1.10.1 container on its own internal network; removed on drop.
struct Orthanc {
    name: String,
    net: String,
    ip: String,
    /// The host's address on the network (where a `serve` can listen for C-MOVE).
    gateway: String,
    dir: PathBuf,
}

impl Drop for Orthanc {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "-f", &self.name])
            .output();
        let _ = Command::new("docker")
            .args(["network", "rm", &self.net])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Orthanc {
    /// `config(gateway)` gives the orthanc.json; `files` are written next to it
    /// (certificates), all mounted read-only at /etc/orthanc-lab/.
    fn start(config: impl Fn(&str) -> Value, files: &[(&str, String)]) -> Orthanc {
        ensure_image();
        let id = format!(
            "{:04x}",
            (std::process::id() as u64
                ^ std::time::UNIX_EPOCH.elapsed().unwrap().as_nanos() as u64)
                % 65536
        );
        let run = format!("agent-test-{id}");
        let net = format!("dicom-range-{run}");
        docker(&[
            "network",
            "create",
            "--internal",
            "--label",
            &format!("dicom-range.run={run}"),
            "--label",
            "dicom-range.lab=agent-orthanc-interop",
            &net,
        ]);
        let dir = temp_dir("orthanc-conf");
        let mut o = Orthanc {
            name: format!("{net}-pacs"),
            net,
            ip: String::new(),
            gateway: String::new(),
            dir,
        };
        o.gateway = docker(&[
            "network",
            "inspect",
            "-f",
            "{{(index .IPAM.Config 0).Gateway}}",
            &o.net,
        ]);
        let mut cfg = config(&o.gateway);
        let base = json!({
            "Name": "agent-interop",
            "DicomAet": "ORTHANC",
            "DicomPort": 4242,
            "HttpPort": 8042,
            "StorageDirectory": "/var/lib/orthanc/lab-db",
            "IndexDirectory": "/var/lib/orthanc/lab-db",
        });
        for (k, v) in base.as_object().unwrap() {
            cfg[k] = v.clone();
        }
        std::fs::write(o.dir.join("orthanc.json"), cfg.to_string()).unwrap();
        for (name, text) in files {
            std::fs::write(o.dir.join(name), text).unwrap();
        }
        // Orthanc in the container reads these as another user.
        Command::new("chmod")
            .args(["-R", "a+rX"])
            .arg(&o.dir)
            .status()
            .unwrap();
        docker(&[
            "run",
            "-d",
            "--name",
            &o.name,
            "--network",
            &o.net,
            "--label",
            &format!("dicom-range.run={run}"),
            "--label",
            "dicom-range.node=pacs",
            "-v",
            &format!("{}:/etc/orthanc-lab:ro", o.dir.display()),
            IMAGE,
            "Orthanc",
            "/etc/orthanc-lab/",
        ]);
        o.ip = docker(&[
            "inspect",
            "-f",
            &format!(
                "{{{{(index .NetworkSettings.Networks \"{}\").IPAddress}}}}",
                o.net
            ),
            &o.name,
        ]);
        o
    }

    fn logs(&self) -> String {
        let out = Command::new("docker")
            .args(["logs", "--tail", "30", &self.name])
            .output()
            .unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}

fn agent(args: &[&str]) -> (Output, Value) {
    let out = Command::new(agent_bin()).args(args).output().unwrap();
    let line = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(line.lines().last().unwrap_or("{}"))
        .unwrap_or_else(|e| panic!("not one JSON line ({e}): {out:?}"));
    (out, v)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn move_and_get_against_orthanc_1_10_1() {
    let dest_port = free_port();
    let pacs = Orthanc::start(
        |gw| {
            json!({
                "DicomModalities": {
                    "receiver": ["STORESCP", gw, dest_port],
                    "modality": ["MODALITY", gw, 104],
                },
            })
        },
        &[],
    );
    let ip = pacs.ip.as_str();
    let (out, v) = agent(&["echo", "--host", ip, "--wait-secs", "60"]);
    assert_eq!(out.status.code(), Some(0), "{v}\n{}", pacs.logs());

    // An MR series, sent with a user identity (Orthanc 1.10.1 accepts and ignores it).
    let (out, v) = agent(&[
        "store",
        "--host",
        ip,
        "--modality",
        "MR",
        "--syntax",
        "explicit-le",
        "--instances",
        "3",
        "--rows",
        "64",
        "--cols",
        "64",
        "--patient",
        "RETRIEVE^TEST",
        "--patient-id",
        "RT-1",
        "--seed",
        "11",
        "--username",
        "modality",
        "--password",
        "secret",
    ]);
    assert_eq!(out.status.code(), Some(0), "{v}");
    assert_eq!(v["stored"], 3);

    let (out, v) = agent(&[
        "find",
        "--host",
        ip,
        "--level",
        "study",
        "-k",
        "PatientID=RT-1",
    ]);
    assert_eq!(out.status.code(), Some(0), "{v}");
    assert_eq!(v["count"], 1, "{v}");
    let study = v["matches"][0]["StudyInstanceUID"]
        .as_str()
        .unwrap()
        .to_string();
    let key = format!("StudyInstanceUID={study}");

    // C-GET: the three instances come back on our association.
    let got = temp_dir("cget");
    let (out, v) = agent(&[
        "get",
        "--host",
        ip,
        "--level",
        "study",
        "-k",
        &key,
        "--out",
        got.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{v}\n{}", pacs.logs());
    assert_eq!(v["status"], 0, "{v}");
    assert_eq!(v["completed"], 3, "{v}");
    assert_eq!(v["received"], 3, "{v}");
    let files: Vec<PathBuf> = std::fs::read_dir(&got)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "dcm"))
        .collect();
    assert_eq!(files.len(), 3, "{files:?}");
    for f in &files {
        let obj = dicom_object::open_file(f).unwrap();
        assert_eq!(
            obj.meta().media_storage_sop_class_uid(),
            dicom_dictionary_std::uids::MR_IMAGE_STORAGE
        );
        let id = obj
            .element(dicom_dictionary_std::tags::PATIENT_ID)
            .unwrap()
            .to_str()
            .unwrap()
            .trim()
            .to_string();
        assert_eq!(id, "RT-1");
    }

    // C-MOVE to a storage SCP on the host, which Orthanc knows as STORESCP.
    let recv = temp_dir("cmove");
    let mut child = Command::new(agent_bin())
        .args([
            "serve",
            "--bind",
            &pacs.gateway,
            "--port",
            &dest_port.to_string(),
        ])
        .args([
            "--aet",
            "STORESCP",
            "--max-associations",
            "1",
            "--timeout-secs",
            "20",
        ])
        .arg("--out")
        .arg(&recv)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let _guard = Guard(child);
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first["event"], "listening", "{first}");
    let (out, v) = agent(&[
        "move", "--host", ip, "--level", "study", "-k", &key, "--dest", "STORESCP",
    ]);
    assert_eq!(out.status.code(), Some(0), "{v}\n{}", pacs.logs());
    assert_eq!(v["completed"], 3, "{v}");
    assert_eq!(v["failed"], 0, "{v}");
    let assoc: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(assoc["calling"], "ORTHANC", "{assoc}");
    assert_eq!(assoc["stored"], 3, "{assoc}");
    assert_eq!(std::fs::read_dir(&recv).unwrap().count(), 3);

    // A destination Orthanc does not know: refused (exit 3), and the fix in words.
    let (out, v) = agent(&[
        "move", "--host", ip, "--level", "study", "-k", &key, "--dest", "NOWHERE",
    ]);
    assert_eq!(out.status.code(), Some(3), "{v}");
    assert!(stderr(&out).contains("DicomModalities"), "{}", stderr(&out));

    let _ = std::fs::remove_dir_all(&got);
    let _ = std::fs::remove_dir_all(&recv);
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

/// (certificate PEM, key PEM) for `name`, signed by `issuer`.
fn leaf(
    name: &str,
    eku: ExtendedKeyUsagePurpose,
    issuer: &(rcgen::Certificate, KeyPair),
) -> (String, String) {
    leaf_with(name, eku, issuer, KeyPair::generate().unwrap())
}

/// An RSA 2048 key: ring (rcgen's backend) signs with RSA keys but cannot make them, so
/// openssl makes it (PKCS #8 PEM).
fn rsa_key() -> KeyPair {
    let out = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .output()
        .expect("openssl (scripts/install-prereqs.sh installs it)");
    assert!(out.status.success(), "{out:?}");
    let pem = String::from_utf8(out.stdout).unwrap();
    KeyPair::from_pkcs8_pem_and_sign_algo(&pem, &rcgen::PKCS_RSA_SHA256).unwrap()
}

fn leaf_with(
    name: &str,
    eku: ExtendedKeyUsagePurpose,
    issuer: &(rcgen::Certificate, KeyPair),
    key: KeyPair,
) -> (String, String) {
    let mut p = CertificateParams::new(vec![name.to_string()]).unwrap();
    p.distinguished_name.push(DnType::CommonName, name);
    p.extended_key_usages = vec![eku];
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let cert = p.signed_by(&key, &issuer.0, &issuer.1).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// Orthanc in DICOM TLS mode requiring a client certificate, with this server certificate,
/// key and trusted CA.
fn tls_orthanc(server_pem: String, server_key: String, ca_pem: String) -> Orthanc {
    Orthanc::start(
        |_| {
            json!({
                "DicomTlsEnabled": true,
                "DicomTlsCertificate": "/etc/orthanc-lab/server.pem",
                "DicomTlsPrivateKey": "/etc/orthanc-lab/server.key",
                "DicomTlsTrustedCertificates": "/etc/orthanc-lab/ca.pem",
                "DicomTlsRemoteCertificateRequired": true,
            })
        },
        &[
            ("server.pem", server_pem),
            ("server.key", server_key),
            ("ca.pem", ca_pem),
        ],
    )
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn tls_against_orthanc_1_10_1_mutual_and_refused_client_certificates() {
    let good = ca("agent interop CA");
    let other = ca("another CA");
    let (server_pem, server_key) = leaf("pacs", ExtendedKeyUsagePurpose::ServerAuth, &good);
    let (client_pem, client_key) = leaf("modality", ExtendedKeyUsagePurpose::ClientAuth, &good);
    let (rogue_pem, rogue_key) = leaf("rogue", ExtendedKeyUsagePurpose::ClientAuth, &other);
    let pacs = tls_orthanc(server_pem, server_key, good.0.pem());
    let pki = temp_dir("orthanc-pki");
    let ca_pem = write(&pki, "ca.pem", &good.0.pem());
    let client_pem = write(&pki, "client.pem", &client_pem);
    let client_key = write(&pki, "client.key", &client_key);
    let rogue_pem = write(&pki, "rogue.pem", &rogue_pem);
    let rogue_key = write(&pki, "rogue.key", &rogue_key);
    let ip = pacs.ip.as_str();
    let tls = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "--host",
            ip,
            "--tls",
            "--ca",
            &ca_pem,
            "--server-name",
            "pacs",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let run = |cmd: &str, args: Vec<String>| {
        let mut all = vec![cmd.to_string()];
        all.extend(args);
        let refs: Vec<&str> = all.iter().map(|s| s.as_str()).collect();
        agent(&refs)
    };

    // Mutual TLS: echo (waiting for Orthanc to start), then a store.
    let (out, v) = run(
        "echo",
        tls(&[
            "--cert",
            &client_pem,
            "--key",
            &client_key,
            "--wait-secs",
            "60",
        ]),
    );
    assert_eq!(out.status.code(), Some(0), "{v}\n{}", pacs.logs());
    assert!(
        v["tls"]["version"].as_str().unwrap_or("").contains("1.3"),
        "{v}"
    );
    let (out, v) = run(
        "store",
        tls(&[
            "--cert",
            &client_pem,
            "--key",
            &client_key,
            "--modality",
            "US",
            "--instances",
            "2",
            "--rows",
            "64",
            "--cols",
            "64",
        ]),
    );
    assert_eq!(out.status.code(), Some(0), "{v}\n{}", pacs.logs());
    assert_eq!(v["stored"], 2, "{v}");

    // TLS 1.2: Orthanc 1.10.1 (DCMTK's BCP 195 profile) offers it with RSA suites only, and
    // these certificates are ECDSA: refused, and the reason is given.
    let (out, v) = run(
        "echo",
        tls(&[
            "--cert",
            &client_pem,
            "--key",
            &client_key,
            "--tls-version",
            "1.2",
        ]),
    );
    assert_eq!(out.status.code(), Some(3), "{v}");
    assert!(
        stderr(&out).contains("RSA certificates only"),
        "{}",
        stderr(&out)
    );

    // No client certificate: Orthanc refuses, we say so (exit 3, refused).
    let (out, v) = run("echo", tls(&[]));
    assert_eq!(out.status.code(), Some(3), "{v}");
    let msg = stderr(&out);
    assert!(msg.contains("requires a client certificate"), "{msg}");

    // A client certificate from a CA Orthanc does not trust: refused as well.
    let (out, v) = run("echo", tls(&["--cert", &rogue_pem, "--key", &rogue_key]));
    assert_eq!(out.status.code(), Some(3), "{v}");
    let msg = stderr(&out);
    assert!(msg.contains("refused our client certificate"), "{msg}");

    // Plain DICOM to the TLS port: explained, and not taken for success.
    let (out, v) = agent(&["echo", "--host", ip]);
    assert_ne!(out.status.code(), Some(0), "{v}");
    assert!(stderr(&out).contains("TLS"), "{}", stderr(&out));

    let _ = std::fs::remove_dir_all(&pki);
}

/// TLS 1.2 against Orthanc 1.10.1: DCMTK's BCP 195 profile offers it with RSA key exchange
/// suites only, so with RSA certificates (and the agent limited to 1.2) the association comes
/// up in TLS 1.2, mutual, and a store goes through.
#[test]
fn tls_1_2_against_orthanc_1_10_1_with_rsa_certificates() {
    let ca = ca("agent interop CA (RSA leaves)");
    let (server_pem, server_key) =
        leaf_with("pacs", ExtendedKeyUsagePurpose::ServerAuth, &ca, rsa_key());
    let (client_pem, client_key) = leaf_with(
        "modality",
        ExtendedKeyUsagePurpose::ClientAuth,
        &ca,
        rsa_key(),
    );
    let pacs = tls_orthanc(server_pem, server_key, ca.0.pem());
    let pki = temp_dir("orthanc-pki-rsa");
    let ca_pem = write(&pki, "ca.pem", &ca.0.pem());
    let client_pem = write(&pki, "client.pem", &client_pem);
    let client_key = write(&pki, "client.key", &client_key);
    let ip = pacs.ip.as_str();
    let tls12 = [
        "--host",
        ip,
        "--tls",
        "--ca",
        &ca_pem,
        "--server-name",
        "pacs",
        "--cert",
        &client_pem,
        "--key",
        &client_key,
        "--tls-version",
        "1.2",
    ];
    let mut echo = vec!["echo"];
    echo.extend(tls12);
    echo.extend(["--wait-secs", "60"]);
    let (out, v) = agent(&echo);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{v}\n{}\n{}",
        stderr(&out),
        pacs.logs()
    );
    assert!(
        v["tls"]["version"].as_str().unwrap_or("").contains("1.2"),
        "{v}"
    );
    let mut store = vec!["store"];
    store.extend(tls12);
    store.extend([
        "--modality",
        "CT",
        "--syntax",
        "explicit-le",
        "--instances",
        "2",
    ]);
    store.extend(["--rows", "64", "--cols", "64"]);
    let (out, v) = agent(&store);
    assert_eq!(out.status.code(), Some(0), "{v}\n{}", pacs.logs());
    assert_eq!(v["stored"], 2, "{v}");
    let _ = std::fs::remove_dir_all(&pki);
}
