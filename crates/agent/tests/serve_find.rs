//! `lab-agent serve` against dcmtk's echoscu/storescu, a parallel `store` into `serve`, and
//! `lab-agent find` against dcmtk's dcmqrscp, all on 127.0.0.1. Skipped when dcmtk is not
//! installed.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn json_line(bytes: &[u8]) -> serde_json::Value {
    let s = String::from_utf8_lossy(bytes);
    serde_json::from_str(s.lines().last().unwrap_or("{}"))
        .unwrap_or_else(|e| panic!("not a JSON line ({e}): {s}"))
}

/// `lab-agent serve` on 127.0.0.1 as LABSCP, writing to `out`, stopping after
/// `max_associations`; returns once it says it listens, with its port and its stdout lines.
fn serve(
    out: &std::path::Path,
    max_associations: &str,
) -> (
    Guard,
    u16,
    std::io::Lines<BufReader<std::process::ChildStdout>>,
) {
    let port = free_port();
    let mut child = agent()
        .args(["serve", "--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--aet", "LABSCP", "--max-associations", max_associations])
        .args(["--timeout-secs", "10"])
        .arg("--out")
        .arg(out)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let guard = Guard(child);
    let first: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first["event"], "listening");
    assert_eq!(first["port"], port);
    (guard, port, lines)
}

fn generate(dir: &std::path::Path, modality: &str, syntax: &str, n: &str, seed: &str) {
    let out = agent()
        .args(["generate", "--modality", modality, "--syntax", syntax])
        .args([
            "--instances",
            n,
            "--rows",
            "64",
            "--cols",
            "64",
            "--seed",
            seed,
        ])
        .arg("--out")
        .arg(dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = json_line(&out.stdout);
    assert_eq!(v["files"].as_u64().unwrap().to_string(), n);
}

#[test]
fn dcmtk_echoscu_and_storescu_against_serve() {
    if missing_prerequisite(
        !on_path("storescu") || !on_path("echoscu"),
        "dcmtk (echoscu, storescu)",
        "apt-get install -y dcmtk",
    ) {
        return;
    }
    let src = temp_dir("serve-src");
    generate(&src.join("xa"), "XA", "jpeg-baseline", "2", "5");
    generate(&src.join("ct"), "CT", "explicit-le", "3", "6");
    let out_dir = temp_dir("serve-out");
    let (guard, port, mut lines) = serve(&out_dir, "4");

    let p = port.to_string();
    // 1. C-ECHO from dcmtk.
    let st = Command::new("echoscu")
        .args([
            "-aet",
            "DCMTK",
            "-aec",
            "LABSCP",
            "-to",
            "10",
            "127.0.0.1",
            &p,
        ])
        .status()
        .unwrap();
    assert!(st.success(), "echoscu failed");
    // 2. JPEG Baseline XA (the paper's case) and 3. native CT, one association each.
    // (storescu proposes JPEG Baseline only when told to: -xy.)
    for sub in ["xa", "ct"] {
        let out = Command::new("storescu")
            .args([
                "-aet",
                "DCMTK",
                "-aec",
                "LABSCP",
                "-to",
                "10",
                "-xy",
                "127.0.0.1",
                &p,
            ])
            .arg("+sd")
            .arg(src.join(sub))
            .output()
            .unwrap();
        assert!(out.status.success(), "storescu {sub}: {out:?}");
    }
    // 4. Wrong called AE title: rejected.
    let st = Command::new("echoscu")
        .args([
            "-aet",
            "DCMTK",
            "-aec",
            "NOTME",
            "-to",
            "10",
            "127.0.0.1",
            &p,
        ])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(!st.success(), "echoscu to a wrong AE title was accepted");

    let mut events = Vec::new();
    for _ in 0..4 {
        let l = lines.next().expect("serve stopped early").unwrap();
        events.push(serde_json::from_str::<serde_json::Value>(&l).unwrap());
    }
    // Lines come when associations end: sort them out by content.
    let ok: Vec<_> = events.iter().filter(|e| e["ok"] == true).collect();
    assert_eq!(ok.len(), 3, "{events:?}");
    assert!(ok.iter().all(|e| e["calling"] == "DCMTK"), "{events:?}");
    assert_eq!(
        ok.iter()
            .map(|e| e["echoes"].as_u64().unwrap())
            .sum::<u64>(),
        1
    );
    assert_eq!(
        ok.iter()
            .map(|e| e["stored"].as_u64().unwrap())
            .sum::<u64>(),
        5
    );
    let rejected: Vec<_> = events.iter().filter(|e| e["ok"] == false).collect();
    assert_eq!(rejected.len(), 1, "{events:?}");
    assert!(
        rejected[0]["error"]
            .as_str()
            .unwrap()
            .contains("not established"),
        "{:?}",
        rejected[0]
    );

    // serve exits by itself after --max-associations.
    let mut guard = guard;
    let start = Instant::now();
    loop {
        if let Some(st) = guard.0.try_wait().unwrap() {
            assert_eq!(st.code(), Some(0));
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "serve did not stop"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // What was written is what was sent: same SOP instance UIDs, same pixel bytes.
    for sub in ["xa", "ct"] {
        for f in std::fs::read_dir(src.join(sub)).unwrap() {
            let f = f.unwrap();
            let name = f.file_name();
            let sent = dicom_object::open_file(f.path()).unwrap();
            let got = dicom_object::open_file(out_dir.join(&name))
                .unwrap_or_else(|e| panic!("{name:?} not received: {e}"));
            assert_eq!(sent.meta().transfer_syntax(), got.meta().transfer_syntax());
            let px = dicom_dictionary_std::tags::PIXEL_DATA;
            assert_eq!(
                sent.element(px).unwrap().to_bytes().ok(),
                got.element(px).unwrap().to_bytes().ok()
            );
            assert_eq!(
                sent.element(px).unwrap().value().fragments(),
                got.element(px).unwrap().value().fragments()
            );
        }
    }
    let _ = std::fs::remove_dir_all(&src);
    let _ = std::fs::remove_dir_all(&out_dir);
}

/// dcmqrscp with one read-write storage area; its configuration is written here.
fn dcmqrscp(dir: &std::path::Path, port: u16) -> Guard {
    let db = dir.join("db");
    std::fs::create_dir_all(&db).unwrap();
    let cfg = dir.join("dcmqrscp.cfg");
    std::fs::write(
        &cfg,
        format!(
            "NetworkTCPPort = {port}\nMaxPDUSize = 16384\nMaxAssociations = 16\n\
             HostTable BEGIN\nHostTable END\nVendorTable BEGIN\nVendorTable END\n\
             AETable BEGIN\nQRSCP {} RW (100, 256mb) ANY\nAETable END\n",
            db.display()
        ),
    )
    .unwrap();
    let child = Command::new("dcmqrscp")
        .args(["-c"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Guard(child)
}

#[test]
fn store_in_parallel_then_find_against_dcmqrscp() {
    if missing_prerequisite(
        !on_path("dcmqrscp"),
        "dcmtk's dcmqrscp",
        "apt-get install -y dcmtk",
    ) {
        return;
    }
    let dir = temp_dir("qr");
    let port = free_port();
    let _qr = dcmqrscp(&dir, port);
    let p = port.to_string();
    let peer = ["--host", "127.0.0.1", "--port", &p, "--called", "QRSCP"];

    let out = agent()
        .arg("echo")
        .args(peer)
        .args(["--wait-secs", "10"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    // Two patients, each over one association: dcmqrscp forks a process per association and
    // names its files by the clock, so parallel associations into it race each other ("DB:
    // Cannot open file", status 0xC000). The parallel store goes to lab-agent serve below.
    let store = |peer: &[&str], name: &str, id: &str, seed: &str, assocs: &str| {
        let out = agent()
            .arg("store")
            .args(peer)
            .args([
                "--modality",
                "CT",
                "--syntax",
                "explicit-le",
                "--instances",
                "4",
            ])
            .args([
                "--rows",
                "32",
                "--cols",
                "32",
                "--patient",
                name,
                "--patient-id",
                id,
            ])
            .args(["--seed", seed, "--associations", assocs])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let v = json_line(&out.stdout);
        assert_eq!(v["stored"], 4);
        assert_eq!(v["associations"].as_u64().unwrap().to_string(), assocs);
        assert!(v["peak_rss_kib"].as_u64().unwrap() > 0);
        assert!(v.get("warnings").is_none(), "{v}");
    };
    store(&peer, "DOE^JANE", "PID-1", "1", "1");
    store(&peer, "ROE^RICHARD", "PID-2", "2", "1");

    // The second study again, over 3 parallel associations into serve: all 4 arrive.
    let out_dir = temp_dir("parallel-out");
    let (scp, scp_port, _) = serve(&out_dir, "4");
    let sp = scp_port.to_string();
    store(
        &["--host", "127.0.0.1", "--port", &sp, "--called", "LABSCP"],
        "ROE^RICHARD",
        "PID-2",
        "2",
        "3",
    );
    drop(scp);
    let received = std::fs::read_dir(&out_dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "dcm"))
        })
        .count();
    assert_eq!(received, 4, "files in {}", out_dir.display());
    let _ = std::fs::remove_dir_all(&out_dir);

    // Patient level, universal match: both patients.
    let out = agent()
        .arg("find")
        .args(peer)
        .args(["--level", "patient", "-k", "PatientName=*"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = json_line(&out.stdout);
    assert_eq!(v["count"], 2, "{v}");
    let mut names: Vec<_> = v["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["PatientName"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["DOE^JANE", "ROE^RICHARD"]);

    // Study level with a matching key: one study, with its UID.
    let out = agent()
        .arg("find")
        .args(peer)
        .args(["--level", "study", "-k", "PatientID=PID-2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = json_line(&out.stdout);
    assert_eq!(v["count"], 1, "{v}");
    let m = &v["matches"][0];
    assert_eq!(m["PatientName"], "ROE^RICHARD");
    assert!(m["StudyInstanceUID"].as_str().unwrap().starts_with("2.25."));

    // --limit 1: one match read, then C-CANCEL.
    let out = agent()
        .arg("find")
        .args(peer)
        .args(["--level", "patient", "--limit", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = json_line(&out.stdout);
    assert_eq!(v["count"], 1, "{v}");
    assert_eq!(v["cancelled"], true);

    // An unknown keyword is refused before any traffic.
    let out = agent()
        .arg("find")
        .args(peer)
        .args(["-k", "PatientNmae=X"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        json_line(&out.stdout)["error"]
            .as_str()
            .unwrap()
            .contains("PatientNmae")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A peer that takes one association and resets the others (here `serve` that stops after
/// one): the store goes through the one, says the others did not come up, and succeeds.
#[test]
fn extra_associations_that_never_come_up_are_warnings_when_one_carries_the_store() {
    let out_dir = temp_dir("one-assoc-out");
    let (_scp, port, _) = serve(&out_dir, "1");
    let p = port.to_string();
    let out = agent()
        .args([
            "store",
            "--host",
            "127.0.0.1",
            "--port",
            &p,
            "--called",
            "LABSCP",
        ])
        .args([
            "--modality",
            "CT",
            "--syntax",
            "explicit-le",
            "--instances",
            "6",
        ])
        .args(["--rows", "32", "--cols", "32", "--associations", "3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = json_line(&out.stdout);
    assert_eq!(v["stored"], 6, "{v}");
    assert_eq!(v["associations"], 1, "{v}");
    let warnings = v["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 2, "{v}");
    assert!(
        warnings
            .iter()
            .all(|w| w.as_str().unwrap().contains("did not come up")),
        "{v}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning: association"));
    let _ = std::fs::remove_dir_all(&out_dir);
}
