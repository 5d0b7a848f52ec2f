//! `rest-probe`, `rest-write`, `upload-polyglot` and `fingerprint` against a tiny fake
//! Orthanc (a std TcpListener thread answering canned Orthanc-like JSON) on 127.0.0.1.
//! The real Orthanc is exercised by the engine's labs.

mod common;

use common::*;
use serde_json::json;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

fn json_line(bytes: &[u8]) -> serde_json::Value {
    let s = String::from_utf8_lossy(bytes);
    serde_json::from_str(s.lines().last().unwrap_or("{}"))
        .unwrap_or_else(|e| panic!("not a JSON line ({e}): {s}"))
}

#[derive(Default)]
struct State {
    /// Stored instances: (id, bytes).
    instances: Vec<(String, Vec<u8>)>,
    /// Every request: (method, path, authorization header).
    log: Vec<(String, String, Option<String>)>,
}

struct FakeOrthanc {
    port: u16,
    state: Arc<Mutex<State>>,
}

/// Answer requests until the test ends (the thread dies with the process); at most 500.
fn fake_orthanc(version: &str, require_auth: bool, write_enabled: bool) -> FakeOrthanc {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let state = Arc::new(Mutex::new(State::default()));
    let st = state.clone();
    let version = version.to_string();
    std::thread::spawn(move || {
        for conn in l.incoming().take(500) {
            let Ok(mut s) = conn else { continue };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            if r.read_line(&mut line).is_err() {
                continue;
            }
            let mut parts = line.split_whitespace();
            let method = parts.next().unwrap_or("").to_string();
            let path = parts.next().unwrap_or("").to_string();
            let (mut len, mut auth) = (0usize, None);
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                    break;
                }
                let (k, v) = h.split_once(':').unwrap_or((&h, ""));
                match k.trim().to_ascii_lowercase().as_str() {
                    "content-length" => len = v.trim().parse().unwrap_or(0),
                    "authorization" => auth = Some(v.trim().to_string()),
                    _ => {}
                }
            }
            let mut body = vec![0u8; len];
            r.read_exact(&mut body).unwrap();
            let mut st = st.lock().unwrap();
            st.log.push((method.clone(), path.clone(), auth.clone()));
            let ok_auth = auth.as_deref() == Some("Basic b3J0aGFuYzpvcnRoYW5j");
            let (status, ctype, out): (u16, &str, Vec<u8>) = if require_auth && !ok_auth {
                (401, "text/plain", b"Unauthorized".to_vec())
            } else {
                let seg: Vec<&str> = path.trim_start_matches('/').split('/').collect();
                let find = |id: &str| st.instances.iter().find(|(i, _)| i == id).cloned();
                match (method.as_str(), seg.as_slice()) {
                    ("GET", ["system"]) => (
                        200,
                        "application/json",
                        json!({"Version": version, "DicomAet": "ORTHANC", "Name": "FAKE"})
                            .to_string()
                            .into_bytes(),
                    ),
                    ("GET", ["patients"]) => (200, "application/json", b"[\"p1\"]".to_vec()),
                    ("GET", ["patients", "p1"]) => (
                        200,
                        "application/json",
                        json!({"MainDicomTags": {"PatientName": "DOE^JANE"}})
                            .to_string()
                            .into_bytes(),
                    ),
                    ("GET", ["instances"]) => {
                        let ids: Vec<&String> = st.instances.iter().map(|(i, _)| i).collect();
                        (200, "application/json", json!(ids).to_string().into_bytes())
                    }
                    ("POST", ["instances"]) => {
                        if body.len() > 132 && &body[128..132] == b"DICM" {
                            let id = format!("inst-{}", st.instances.len() + 1);
                            st.instances.push((id.clone(), body.clone()));
                            (
                                200,
                                "application/json",
                                json!({"ID": id, "Status": "Success"}).to_string().into_bytes(),
                            )
                        } else {
                            (400, "application/json", b"{\"Message\":\"Bad file format\"}".to_vec())
                        }
                    }
                    ("GET", ["instances", id, "file"]) => match find(id) {
                        Some((_, b)) => (200, "application/dicom", b),
                        None => (404, "text/plain", b"Unknown resource".to_vec()),
                    },
                    ("GET", ["instances", id, "simplified-tags"]) => match find(id) {
                        Some(_) => (
                            200,
                            "application/json",
                            json!({"PatientName": "DOE^JANE"}).to_string().into_bytes(),
                        ),
                        None => (404, "text/plain", b"Unknown resource".to_vec()),
                    },
                    ("POST", ["instances", id, "export"]) => match find(id) {
                        Some((_, b)) if write_enabled => {
                            let target = PathBuf::from(String::from_utf8_lossy(&body).to_string());
                            std::fs::write(&target, &b).unwrap();
                            (200, "application/json", b"{}".to_vec())
                        }
                        Some(_) => (
                            403,
                            "application/json",
                            b"{\"Message\":\"The REST API is not allowed to write to the filesystem\"}"
                                .to_vec(),
                        ),
                        None => (404, "text/plain", b"Unknown resource".to_vec()),
                    },
                    _ => (404, "text/plain", b"Unknown resource".to_vec()),
                }
            };
            drop(st);
            let _ = write!(
                s,
                "HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                out.len()
            );
            let _ = s.write_all(&out);
        }
    });
    FakeOrthanc { port, state }
}

impl FakeOrthanc {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn run(args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let o = agent().args(args).output().unwrap();
    (o.status.code(), json_line(&o.stdout))
}

#[test]
fn rest_probe_reads_data_without_credentials_and_downloads() {
    let f = fake_orthanc("1.10.1", false, false);
    // An instance to download: upload one first (a TIFF preamble, legitimate).
    let (code, v) = run(&["upload-polyglot", "--url", &f.url(), "--preamble", "tiff"]);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["success"], true);
    let (code, v) = run(&["rest-probe", "--url", &f.url(), "--download"]);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["action"], "rest-probe");
    assert_eq!(v["success"], true);
    assert_eq!(v["orthanc_version"], "1.10.1");
    assert_eq!(v["dicom_aet"], "ORTHANC");
    assert_eq!(v["status"]["/system"], 200);
    assert_eq!(v["status"]["/patients"], 200);
    assert_eq!(v["patients"], 1);
    assert_eq!(v["instances"], 1);
    assert_eq!(v["patient_names"], json!(["DOE^JANE"]));
    assert!(v["downloaded_bytes"].as_u64().unwrap() > 132);
    assert_eq!(v["download_is_dicom"], true);
    assert_eq!(v["error"], serde_json::Value::Null);
}

#[test]
fn rest_probe_with_auth_required() {
    let f = fake_orthanc("1.12.7", true, false);
    let (code, v) = run(&["rest-probe", "--url", &f.url()]);
    assert_eq!(code, Some(0), "an HTTP 401 is a result, not an error: {v}");
    assert_eq!(v["success"], false);
    assert_eq!(v["status"]["/system"], 401);
    assert_eq!(v["status"]["/patients"], 401);
    assert_eq!(v["patients"], serde_json::Value::Null);
    assert!(v["error"].as_str().unwrap().contains("401"));
    let (code, v) = run(&[
        "rest-probe",
        "--url",
        &f.url(),
        "--user",
        "orthanc",
        "--password",
        "orthanc",
    ]);
    assert_eq!(code, Some(0));
    assert_eq!(v["success"], true, "{v}");
    assert_eq!(v["authenticated"], true);
    assert_eq!(v["orthanc_version"], "1.12.7");
}

#[test]
fn rest_probe_unreachable_exits_4() {
    let port = free_port();
    let (code, v) = run(&["rest-probe", "--url", &format!("http://127.0.0.1:{port}")]);
    assert_eq!(code, Some(4), "{v}");
    assert_eq!(v["success"], false);
    assert!(v["error"].is_string());
}

#[test]
fn rest_write_uploads_a_carrier_then_exports_to_the_path() {
    let f = fake_orthanc("1.10.1", false, true);
    let dir = temp_dir("rest-write");
    let target = dir.join("dicom-range-pwned.txt");
    let (code, v) = run(&[
        "rest-write",
        "--url",
        &f.url(),
        "--path",
        target.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["action"], "rest-write");
    assert_eq!(v["success"], true);
    assert_eq!(v["http_status"], 200);
    assert_eq!(v["uploaded"], true);
    assert_eq!(v["path"], target.to_str().unwrap());
    let written = std::fs::read(&target).unwrap();
    assert_eq!(&written[128..132], b"DICM");
    let st = f.state.lock().unwrap();
    assert!(
        st.log
            .iter()
            .any(|(m, p, _)| m == "POST" && p == "/instances/inst-1/export")
    );
    drop(st);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn rest_write_refused_when_the_route_is_disabled() {
    let f = fake_orthanc("1.12.7", false, false);
    let (code, v) = run(&[
        "rest-write",
        "--url",
        &f.url(),
        "--path",
        "/tmp/nope-never-written",
    ]);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["success"], false);
    assert_eq!(v["http_status"], 403);
    assert!(v["error"].as_str().unwrap().contains("403"));
    assert!(!std::path::Path::new("/tmp/nope-never-written").exists());
    // Relative paths are refused before any request.
    let (code, _) = run(&["rest-write", "--url", &f.url(), "--path", "relative.txt"]);
    assert_eq!(code, Some(1));
}

#[test]
fn upload_polyglot_sends_pe_and_elf_preambles() {
    let f = fake_orthanc("1.10.1", false, false);
    for (p, magic) in [("pe", &b"MZ"[..]), ("elf", &b"\x7fELF"[..])] {
        let (code, v) = run(&["upload-polyglot", "--url", &f.url(), "--preamble", p]);
        assert_eq!(code, Some(0), "{v}");
        assert_eq!(v["action"], "upload-polyglot");
        assert_eq!(v["success"], true);
        assert_eq!(v["http_status"], 200);
        assert_eq!(v["preamble"], p);
        let id = v["orthanc_id"].as_str().unwrap().to_string();
        let st = f.state.lock().unwrap();
        let (_, bytes) = st.instances.iter().find(|(i, _)| *i == id).unwrap();
        assert!(bytes.starts_with(magic));
        assert_eq!(&bytes[128..132], b"DICM");
    }
}

#[test]
fn fingerprint_flags_orthanc_and_dcmtk_versions() {
    let f = fake_orthanc("1.10.1", false, false);
    let Some(scp) = StoreScp::start(&[]) else {
        return;
    };
    scp.wait_listening();
    let (code, v) = run(&[
        "fingerprint",
        "--host",
        "127.0.0.1",
        "--port",
        &scp.port.to_string(),
        "--url",
        &f.url(),
    ]);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["action"], "fingerprint");
    assert_eq!(v["success"], true);
    assert_eq!(v["orthanc_version"], "1.10.1");
    assert!(
        v["implementation_version_name"]
            .as_str()
            .unwrap()
            .starts_with("OFFIS_DCMTK_")
    );
    let ids: Vec<&str> = v["known_vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"CVE-2023-33466"), "{v}");
    let k = &v["known_vulnerabilities"][0];
    for key in ["id", "component", "fixed_in", "why"] {
        assert!(k[key].is_string(), "{v}");
    }
    // A patched Orthanc and no DICOM listener: REST alone, nothing known.
    let f = fake_orthanc("1.12.7", false, false);
    let (code, v) = run(&[
        "fingerprint",
        "--host",
        "127.0.0.1",
        "--port",
        &free_port().to_string(),
        "--url",
        &f.url(),
    ]);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["success"], false);
    assert_eq!(v["orthanc_version"], "1.12.7");
    assert!(v["dicom_error"].is_string());
}
