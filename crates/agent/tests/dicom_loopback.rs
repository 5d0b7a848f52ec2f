//! Real associations against dcmtk's storescp on 127.0.0.1.
//! Skipped (with the reason printed) when storescp is not installed: `apt-get install -y dcmtk`.

mod common;

use agent::FailureKind;
use agent::client::{self, Peer, Transport};
use agent::synth::{self, Modality, StudySpec, Syntax};
use common::*;
use std::process::{Command, Stdio};
use std::time::Duration;

fn peer(port: u16) -> Peer {
    Peer {
        host: "127.0.0.1".into(),
        port,
        calling: "MODALITY".into(),
        called: "ORTHANC".into(),
        timeout: Duration::from_secs(10),
        transport: Transport::Plain,
        user: None,
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn echo_and_store_against_storescp() {
    let Some(scp) = StoreScp::start(&[]) else {
        return;
    };
    let rt = rt();
    let p = peer(scp.port);

    let echo = rt.block_on(client::echo(&p, Duration::from_secs(10)));
    assert_eq!(echo.result, Ok(0), "C-ECHO failed: {:?}", echo.result);

    // The paper's case: XA, JPEG Baseline, plus a CT series in Explicit VR LE.
    for (modality, syntax) in [
        (Modality::Xa, Syntax::JpegBaseline),
        (Modality::Ct, Syntax::ExplicitLe),
        (Modality::Xa, Syntax::ExplicitLe),
    ] {
        let spec = StudySpec {
            modality,
            syntax,
            instances: 3,
            rows: 128,
            cols: 96,
            ..Default::default()
        };
        let instances = synth::generate(&spec).unwrap();
        let report = rt.block_on(client::store(&p, &instances));
        assert!(
            report.error.is_none(),
            "{modality}/{syntax}: {:?}",
            report.error
        );
        assert_eq!(report.results.len(), 3);
        let files = scp.files();
        for (r, inst) in report.results.iter().zip(&instances) {
            assert_eq!(r.status, 0);
            assert_eq!(r.sop_instance_uid, inst.sop_instance_uid);
            assert!(r.bytes > 0);
            assert!(
                files.iter().any(|f| f.contains(&r.sop_instance_uid)),
                "storescp did not write {} (files: {files:?})",
                r.sop_instance_uid
            );
        }
    }

    // What storescp wrote is the instance we generated, JPEG fragment included.
    let spec = StudySpec {
        rows: 128,
        cols: 96,
        instances: 3,
        ..Default::default()
    };
    let first = &synth::generate(&spec).unwrap()[0];
    let f = scp
        .files()
        .into_iter()
        .find(|f| f.starts_with("XA.") && f.contains(&first.sop_instance_uid))
        .unwrap();
    let obj = dicom_object::open_file(scp.dir.join(f)).unwrap();
    assert_eq!(
        obj.meta().transfer_syntax().trim_end_matches('\0'),
        "1.2.840.10008.1.2.4.50"
    );
    let pd = obj.element(dicom_dictionary_std::tags::PIXEL_DATA).unwrap();
    let sent = first
        .dataset
        .element(dicom_dictionary_std::tags::PIXEL_DATA)
        .unwrap();
    assert_eq!(pd.value().fragments(), sent.value().fragments());
}

#[test]
fn rejected_association_is_refused_in_words() {
    let Some(scp) = StoreScp::start(&["--refuse"]) else {
        return;
    };
    scp.wait_listening();
    let echo = rt().block_on(client::echo(&peer(scp.port), Duration::ZERO));
    let err = echo.result.unwrap_err();
    assert_eq!(err.kind, FailureKind::Refused, "{err}");
    assert_eq!(err.exit_code(), 3);
    assert!(err.message.contains("rejected-"), "{err}");
    assert!(err.message.contains("service-"), "{err}");
}

#[test]
fn closed_port_is_unreachable() {
    let port = free_port();
    let echo = rt().block_on(client::echo(&peer(port), Duration::ZERO));
    assert_eq!(echo.attempts, 1);
    let err = echo.result.unwrap_err();
    assert_eq!(err.kind, FailureKind::Unreachable, "{err}");
    assert!(err.message.contains("connection refused"), "{err}");
}

#[test]
fn wait_secs_retries_until_the_scp_listens() {
    if missing_prerequisite(
        !on_path("storescp"),
        "dcmtk's storescp",
        "apt-get install -y dcmtk",
    ) {
        return;
    }
    let port = free_port();
    let dir = temp_dir("late-scp");
    let starter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1200));
        StoreScp::start_at(port, &dir, &[])
    });
    let echo = rt().block_on(client::echo(&peer(port), Duration::from_secs(15)));
    let _scp = starter.join().unwrap();
    assert_eq!(echo.result, Ok(0), "{:?}", echo.result);
    assert!(echo.attempts > 1, "attempts = {}", echo.attempts);
}

fn agent_bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lab-agent"))
}

#[test]
fn cli_prints_one_json_line_and_exit_codes() {
    let Some(scp) = StoreScp::start(&[]) else {
        return;
    };
    let port = scp.port.to_string();
    let common = [
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--calling",
        "MODALITY",
        "--called",
        "ORTHANC",
    ];

    let out = agent_bin()
        .arg("echo")
        .args(common)
        .args(["--wait-secs", "10"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["action"], "echo");
    assert_eq!(v["ok"], true);
    assert_eq!(v["status"], 0);
    assert_eq!(v["status_name"], "Success");

    let save = temp_dir("save");
    let out = agent_bin()
        .arg("store")
        .args(common)
        .args([
            "--modality",
            "XA",
            "--instances",
            "2",
            "--syntax",
            "jpeg-baseline",
        ])
        .args([
            "--patient",
            "DOE^JANE",
            "--seed",
            "7",
            "--rows",
            "64",
            "--cols",
            "64",
        ])
        .arg("--save-dir")
        .arg(&save)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], true);
    let list = v["instances"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    for i in list {
        assert_eq!(i["status"], 0);
        assert_eq!(i["sop_class_uid"], "1.2.840.10008.5.1.4.1.1.12.1");
        let uid = i["sop_instance_uid"].as_str().unwrap();
        assert!(save.join(format!("{uid}.dcm")).is_file());
    }
    let _ = std::fs::remove_dir_all(&save);

    // Unreachable: exit 4, ok false, words.
    let closed = free_port().to_string();
    let out = agent_bin()
        .args(["echo", "--host", "127.0.0.1", "--port", &closed])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert!(v["error"].as_str().unwrap().contains("refused"));

    // Bad option value: exit 1 with words (CT cannot be JPEG Baseline).
    let out = agent_bin()
        .arg("store")
        .args(common)
        .args(["--modality", "CT", "--syntax", "jpeg-baseline"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
}

#[test]
fn cli_rejected_exits_3() {
    let Some(scp) = StoreScp::start(&["--refuse"]) else {
        return;
    };
    scp.wait_listening();
    let port = scp.port.to_string();
    let out = agent_bin()
        .args(["echo", "--host", "127.0.0.1", "--port", &port])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert!(v["error"].as_str().unwrap().contains("rejected"));
}

#[test]
fn idle_exits_0_on_sigterm() {
    let mut child = agent_bin()
        .arg("idle")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "idle exited on its own"
    );
    sigterm(&child);
    let start = std::time::Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            assert_eq!(st.code(), Some(0));
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "idle ignored SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
