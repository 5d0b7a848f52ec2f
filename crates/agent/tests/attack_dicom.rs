//! The DICOM attacker tools on 127.0.0.1 only: `aet-scan` against dcmtk's storescp (accepts
//! any called AE title) and against `lab-agent serve` (checks it), `flood` against `serve`,
//! and the unreachable case. dcmtk tests are skipped when dcmtk is not installed.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::process::Stdio;

fn json_line(bytes: &[u8]) -> serde_json::Value {
    let s = String::from_utf8_lossy(bytes);
    serde_json::from_str(s.lines().last().unwrap_or("{}"))
        .unwrap_or_else(|e| panic!("not a JSON line ({e}): {s}"))
}

/// `lab-agent serve` on 127.0.0.1 with AE title ORTHANC (called AE title checked).
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
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains("listening"), "{first}");
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (Guard(child), port)
}

#[test]
fn aet_scan_against_serve_tells_accepted_from_rejected() {
    let out = temp_dir("scan-serve");
    let (_g, port) = serve(&out);
    let o = agent()
        .args([
            "aet-scan",
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
        ])
        .args(["--called", "PACS,ORTHANC,ANY-SCP", "--random-probe"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let v = json_line(&o.stdout);
    assert_eq!(v["action"], "aet-scan");
    assert_eq!(v["success"], true);
    assert_eq!(v["any_aet_accepted"], false);
    assert_eq!(v["accepted"], serde_json::json!(["ORTHANC"]));
    let rejected = v["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 2, "{v}");
    for r in rejected {
        assert_eq!(r["reason"], "called AE title not recognized", "{v}");
    }
    assert_eq!(v["attempts"], 4);
    assert_eq!(v["implementation_version_name"], "DICOM-rs 0.10.1");
    assert!(
        v["implementation_class_uid"]
            .as_str()
            .unwrap()
            .starts_with("2.25.")
    );
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn aet_scan_against_storescp_finds_any_aet_accepted_and_dcmtk_version() {
    let Some(scp) = StoreScp::start(&[]) else {
        return;
    };
    scp.wait_listening();
    let o = agent()
        .args([
            "aet-scan",
            "--host",
            "127.0.0.1",
            "--port",
            &scp.port.to_string(),
        ])
        .args(["--called", "WHATEVER", "--random-probe", "--max", "2"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let v = json_line(&o.stdout);
    assert_eq!(v["success"], true);
    assert_eq!(v["any_aet_accepted"], true);
    assert_eq!(v["accepted"], serde_json::json!(["WHATEVER"]));
    assert_eq!(v["random_probe"]["released"], true);
    let name = v["implementation_version_name"].as_str().unwrap();
    assert!(name.starts_with("OFFIS_DCMTK_"), "{v}");
    assert!(
        v["implementation_class_uid"]
            .as_str()
            .unwrap()
            .starts_with("1.2.276.0.7230010.3")
    );
}

#[test]
fn aet_scan_unreachable_exits_4() {
    let port = free_port();
    let o = agent()
        .args([
            "aet-scan",
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
        ])
        .args(["--called", "ORTHANC"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(4), "{o:?}");
    let v = json_line(&o.stdout);
    assert_eq!(v["success"], false);
    assert!(v["error"].as_str().unwrap().contains("refused"));
}

#[test]
fn aet_scan_max_bounds_attempts() {
    let out = temp_dir("scan-max");
    let (_g, port) = serve(&out);
    let o = agent()
        .args([
            "aet-scan",
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
        ])
        .args(["--called", "A,B,C,D,E,F", "--max", "3"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let v = json_line(&o.stdout);
    assert_eq!(v["attempts"], 3);
    assert_eq!(v["truncated"], true);
    assert_eq!(v["success"], false);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn flood_against_serve_is_bounded() {
    let out = temp_dir("flood");
    let (_g, port) = serve(&out);
    let o = agent()
        .args(["flood", "--host", "127.0.0.1", "--port", &port.to_string()])
        .args([
            "--associations",
            "30",
            "--concurrency",
            "5",
            "--max-secs",
            "10",
        ])
        .args(["--hold-ms", "10"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let v = json_line(&o.stdout);
    assert_eq!(v["action"], "flood");
    assert_eq!(v["success"], true);
    assert_eq!(v["attempted"], 30);
    assert_eq!(v["accepted"], 30, "{v}");
    assert_eq!(v["rejected"], 0);
    assert_eq!(v["failed"], 0);
    // Wrong called AE title: every association is rejected, the flood still ran.
    let o = agent()
        .args(["flood", "--host", "127.0.0.1", "--port", &port.to_string()])
        .args([
            "--called",
            "NOPE",
            "--associations",
            "5",
            "--concurrency",
            "2",
        ])
        .args(["--max-secs", "5"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let v = json_line(&o.stdout);
    assert_eq!(v["rejected"], 5, "{v}");
    // Limits are enforced by the command line.
    let o = agent()
        .args(["flood", "--host", "127.0.0.1", "--associations", "5000"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&out);
}
