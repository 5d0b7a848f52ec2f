//! `lab-agent proxy` on 127.0.0.1: `store` -> proxy -> `serve` (and dcmtk's storescp): the
//! stored files carry the rewritten PatientName and still parse; TLS bytes pass untouched
//! and are reported; the summary comes at SIGTERM.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Stdio};

fn json_line(bytes: &[u8]) -> serde_json::Value {
    let s = String::from_utf8_lossy(bytes);
    serde_json::from_str(s.lines().last().unwrap_or("{}"))
        .unwrap_or_else(|e| panic!("not a JSON line ({e}): {s}"))
}

fn serve(out: &std::path::Path) -> (Guard, u16) {
    let port = free_port();
    let mut child = agent()
        .args(["serve", "--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--aet", "ORTHANC", "--timeout-secs", "10"])
        .arg("--out")
        .arg(out)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(lines.next().unwrap().unwrap().contains("listening"));
    std::thread::spawn(move || for _ in lines {});
    (Guard(child), port)
}

/// Start the proxy towards `upstream`; returns it (stdout to read the summary) and its port.
fn proxy(upstream: u16) -> (Child, BufReader<std::process::ChildStdout>, u16) {
    let port = free_port();
    let mut child = agent()
        .args(["proxy", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--upstream", &format!("127.0.0.1:{upstream}")])
        .args(["--rewrite-patient", "ATTACKER^EVE", "--max-secs", "60"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let v: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(v["event"], "listening", "{first}");
    (child, out, port)
}

fn summary(child: Child, mut out: BufReader<std::process::ChildStdout>) -> serde_json::Value {
    sigterm(&child);
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    let mut child = child;
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{rest}");
    json_line(rest.as_bytes())
}

fn patient_names(dir: &std::path::Path) -> Vec<String> {
    let mut names = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let obj = dicom_object::open_file(&p).unwrap_or_else(|e| panic!("{p:?}: {e}"));
        names.push(
            obj.element_by_name("PatientName")
                .unwrap()
                .to_str()
                .unwrap()
                .trim()
                .to_string(),
        );
    }
    names
}

fn store(port: u16, extra: &[&str]) -> serde_json::Value {
    let o = agent()
        .args(["store", "--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--patient", "DOE^JANE", "--summary"])
        .args(extra)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    json_line(&o.stdout)
}

#[test]
fn proxy_rewrites_patient_name_between_store_and_serve() {
    let recv = temp_dir("proxy-recv");
    let (_s, up) = serve(&recv);
    let (child, out, port) = proxy(up);
    let _guard_pid = child.id();
    // JPEG (explicit VR LE data set) and native CT large enough to span many PDUs.
    store(port, &["--instances", "2", "--rows", "64", "--cols", "64"]);
    store(
        port,
        &[
            "--instances",
            "1",
            "--modality",
            "CT",
            "--syntax",
            "explicit-le",
            "--rows",
            "400",
            "--cols",
            "400",
        ],
    );
    let v = summary(child, out);
    assert_eq!(v["action"], "proxy");
    assert_eq!(v["success"], true);
    assert_eq!(v["associations"], 2);
    assert_eq!(v["rewritten"], 3, "{v}");
    assert_eq!(v["tls_seen"], false);
    assert_eq!(v["original_names"], serde_json::json!(["DOE^JANE"]));
    let names = patient_names(&recv);
    assert_eq!(names.len(), 3);
    assert!(names.iter().all(|n| n == "ATTACKER^EVE"), "{names:?}");
    let _ = std::fs::remove_dir_all(&recv);
}

#[test]
fn proxy_rewrites_towards_dcmtk_storescp() {
    let Some(scp) = StoreScp::start(&[]) else {
        return;
    };
    scp.wait_listening();
    let (child, out, port) = proxy(scp.port);
    store(port, &["--instances", "1", "--rows", "64", "--cols", "64"]);
    let v = summary(child, out);
    assert_eq!(v["rewritten"], 1, "{v}");
    std::thread::sleep(std::time::Duration::from_millis(200));
    let names = patient_names(&scp.dir);
    assert_eq!(names, vec!["ATTACKER^EVE".to_string()]);
}

#[test]
fn proxy_passes_tls_untouched() {
    // A raw TCP "server" that echoes what it gets.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let up = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = l.accept() {
            let mut buf = [0u8; 64];
            if let Ok(n) = s.read(&mut buf) {
                let _ = s.write_all(&buf[..n]);
            }
        }
    });
    let (child, out, port) = proxy(up);
    let hello = [0x16u8, 0x03, 0x01, 0x00, 0x04, 1, 2, 3, 4];
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    c.write_all(&hello).unwrap();
    let mut back = [0u8; 9];
    c.read_exact(&mut back).unwrap();
    assert_eq!(back, hello);
    drop(c);
    let v = summary(child, out);
    assert_eq!(v["tls_seen"], true);
    assert_eq!(v["success"], false);
    assert_eq!(v["rewritten"], 0);
}
