//! `lab-agent ids` on the loopback interface: an AET scan, an association flood and a clear
//! store against `lab-agent serve` on 127.0.0.1 raise the matching alerts (printed and
//! appended to the alerts file); the summary comes at SIGTERM. Needs CAP_NET_RAW (root);
//! noted and not run otherwise (under `CI=true`: a failure with the hint).

mod common;

use common::*;
use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::time::{Duration, Instant};

fn alerts_in(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn ids_alerts_on_scan_flood_and_phi_over_lo() {
    let dir = temp_dir("ids");
    let alerts = dir.join("alerts.jsonl");
    let mut ids = agent()
        .args(["ids", "--iface", "lo", "--window-secs", "30"])
        .arg("--alerts")
        .arg(&alerts)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(ids.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    if first.is_empty() {
        let mut err = String::new();
        ids.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        let _ = ids.wait();
        if missing_prerequisite(
            err.contains("permission denied"),
            "CAP_NET_RAW for capturing on lo",
            &format!("run the tests as root: {err}"),
        ) {
            return;
        }
        panic!("ids did not start: {err}");
    }
    assert!(first.contains("\"capturing\""), "{first}");
    let mut ids = Guard(ids);

    let recv = dir.join("recv");
    let port = free_port();
    let mut serve = agent()
        .args(["serve", "--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--aet", "ORTHANC", "--timeout-secs", "10"])
        .arg("--out")
        .arg(&recv)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(serve.stdout.take().unwrap()).lines();
    assert!(lines.next().unwrap().unwrap().contains("listening"));
    std::thread::spawn(move || for _ in lines {});
    let _serve = Guard(serve);
    let p = port.to_string();

    let ok = |args: &[&str]| {
        let o = agent().args(args).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{o:?}");
    };
    ok(&[
        "aet-scan",
        "--host",
        "127.0.0.1",
        "--port",
        &p,
        "--called",
        "A,B,C,D,E,F",
    ]);
    ok(&[
        "flood",
        "--host",
        "127.0.0.1",
        "--port",
        &p,
        "--associations",
        "60",
        "--concurrency",
        "4",
        "--max-secs",
        "10",
        "--hold-ms",
        "0",
    ]);
    ok(&[
        "store",
        "--host",
        "127.0.0.1",
        "--port",
        &p,
        "--rows",
        "32",
        "--cols",
        "32",
        "--patient",
        "DOE^JANE",
        "--summary",
    ]);

    // Alerts arrive within the capture's block timeout and the analysis; wait, bounded.
    let want = ["aet-brute-force", "association-flood", "phi-in-clear"];
    let start = Instant::now();
    loop {
        let got = alerts_in(&alerts);
        if want.iter().all(|r| got.iter().any(|a| a["rule"] == *r)) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "missing alerts, got {got:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    sigterm(&ids.0);
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert_eq!(ids.0.wait().unwrap().code(), Some(0), "{rest}");
    let last: serde_json::Value = serde_json::from_str(rest.lines().last().unwrap()).unwrap();
    assert_eq!(last["event"], "stopped");
    let got = alerts_in(&alerts);
    assert_eq!(last["alerts"].as_u64().unwrap() as usize, got.len());
    let brute = got.iter().find(|a| a["rule"] == "aet-brute-force").unwrap();
    assert_eq!(brute["event"], "alert");
    assert_eq!(brute["source"], "127.0.0.1");
    assert!(brute["count"].as_u64().unwrap() >= 5);
    assert!(brute["first"].as_f64().unwrap() <= brute["last"].as_f64().unwrap());
    let flood = got
        .iter()
        .find(|a| a["rule"] == "association-flood")
        .unwrap();
    assert!(flood["count"].as_u64().unwrap() >= 50);
    // No C-FIND was sent: no sweep alert.
    assert!(!got.iter().any(|a| a["rule"] == "c-find-sweep"));
    // The IDS never copies PHI into its log.
    assert!(
        !std::fs::read_to_string(&alerts)
            .unwrap()
            .contains("DOE^JANE")
    );
    let _ = std::fs::remove_dir_all(&dir);
}
