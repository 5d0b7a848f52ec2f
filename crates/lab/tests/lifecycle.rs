//! `lab up`, `status`, `logs`, `exec`, `capture`, `gc` and `down --all` (scoped to this
//! test's runs folder) on the real daemon, against a real Orthanc.

mod common;

use common::*;
use std::process::Command;

/// `lab up` leaves the lab running and says how to reach it; the host reaches the web UI
/// and the DICOM port; status, logs, exec and a live capture work on it; gc leaves a kept
/// run alone; `down --all --runs-dir` removes it and nothing of it remains.
#[test]
fn up_then_look_inside_then_down() {
    let dir = runs_dir("up");
    let out = lab_in(&dir, &["up", "plaintext-store", "-p", "patient=UP^STUDENT"]);
    let stdout = expect_exit(&out, 0);
    let id = only_run(&dir)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let result = std::panic::catch_unwind(|| look_inside(&dir, &id, &stdout));
    // Scoped to this test's folder: other runs on the daemon are not touched.
    let down = lab_in(&dir, &["down", "--all"]);
    let said = expect_exit(&down, 0);
    result.unwrap();
    assert!(
        said.contains("removed 3 container(s) and 1 network(s)"),
        "{said}"
    );
    assert_eq!(leftovers(&id), "");
}

fn look_inside(dir: &std::path::Path, id: &str, up_stdout: &str) {
    assert!(
        up_stdout.contains(&format!("the lab is up: run {id}")),
        "{up_stdout}"
    );
    // The endpoints printed, e.g. `web UI:  http://10.213.3.2:8043/app/explorer.html`.
    let web = up_stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("web UI:"))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .unwrap_or_else(|| panic!("{up_stdout}"));
    let ip = web
        .trim_start_matches("http://")
        .split(':')
        .next()
        .unwrap()
        .to_string();
    assert!(ip.starts_with("10.213."), "{web}");
    assert!(
        up_stdout.contains(&format!("DICOM:   {ip}:4242")),
        "{up_stdout}"
    );

    // The web UI answers the host, through the forwarder, with Orthanc's own REST.
    let system = Command::new("curl")
        .args(["-sf", "--max-time", "10"])
        .arg(web.replace("/app/explorer.html", "/system"))
        .output()
        .unwrap();
    let body = expect_exit(&system, 0);
    assert!(body.contains("\"Version\" : \"1.10.1"), "{body}");
    let page = Command::new("curl")
        .args([
            "-sf",
            "--max-time",
            "10",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
        ])
        .arg(&web)
        .output()
        .unwrap();
    assert_eq!(expect_exit(&page, 0), "200");
    // ...and it holds the image the lab stored.
    let patients = Command::new("curl")
        .args(["-sf", "--max-time", "10"])
        .arg(web.replace("/app/explorer.html", "/patients?expand"))
        .output()
        .unwrap();
    assert!(expect_exit(&patients, 0).contains("UP^STUDENT"));
    // Another node of the lab does not get in through the forwarder (host only).
    let from_lab = lab()
        .args([
            "exec",
            id,
            "modality",
            "--",
            "lab-agent",
            "rest-probe",
            "--url",
        ])
        .arg(format!("http://pacs:{}", 8043))
        .output()
        .unwrap();
    assert_ne!(from_lab.status.code(), Some(0));
    assert!(
        !String::from_utf8_lossy(&from_lab.stdout).contains("1.10.1"),
        "a lab node read the REST API through the forwarder"
    );

    // The DICOM port answers the host directly (dcmtk's echoscu, as a user would).
    let have_echoscu = Command::new("echoscu").arg("--version").output().is_ok();
    assert!(
        have_echoscu || std::env::var("CI").as_deref() != Ok("true"),
        "echoscu is not installed (scripts/install-prereqs.sh installs dcmtk)"
    );
    if have_echoscu {
        let echo = Command::new("echoscu")
            .args(["-to", "10", "-aec", "ORTHANC", &ip, "4242"])
            .output()
            .unwrap();
        expect_exit(&echo, 0);
    } else {
        eprintln!(
            "echoscu missing (scripts/install-prereqs.sh installs dcmtk): DICOM from the host not checked"
        );
    }

    // status: the run, its nodes, healthy, kept on purpose.
    let status = expect_exit(&lab_in(dir, &["status", "--json"]), 0);
    let runs: Vec<serde_json::Value> = status
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(runs.len(), 1, "{status}");
    let r = &runs[0];
    assert_eq!(
        (r["run"].as_str(), r["lab"].as_str()),
        (Some(id), Some("plaintext-store"))
    );
    assert_eq!(r["health"], "healthy", "{r}");
    assert_eq!(r["kept"], true);
    let nodes: Vec<&str> = r["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["node"].as_str().unwrap())
        .collect();
    assert_eq!(nodes, ["modality", "pacs", "pacs-ui"], "{r}");
    let table = expect_exit(&lab().args(["status"]).output().unwrap(), 0);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with(id) && l.contains("3/3") && l.contains("healthy")),
        "{table}"
    );

    // gc leaves a kept run alone although `lab up` has exited.
    let gc = expect_exit(&lab_in(dir, &["gc"]), 0);
    assert!(gc.contains("nothing to collect"), "{gc}");
    assert_ne!(leftovers(id), "");

    // logs: Orthanc's start-up, prefixed by node when several.
    let logs = expect_exit(&lab().args(["logs", id]).output().unwrap(), 0);
    assert!(
        logs.lines()
            .any(|l| l.starts_with("pacs") && l.contains("Orthanc has started")),
        "{logs}"
    );
    // One node: its stdout to stdout, its stderr (where Orthanc logs) to stderr.
    let one = lab().args(["logs", id, "pacs"]).output().unwrap();
    expect_exit(&one, 0);
    let err = String::from_utf8_lossy(&one.stderr);
    assert!(
        err.contains("Orthanc has started") && !err.contains("pacs       |"),
        "{err}"
    );
    let bad = lab().args(["logs", id, "nosuch"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("its nodes: modality, pacs"));

    // exec: output through, the command's exit code out.
    let echo = lab_exec(id, "modality", &["lab-agent", "echo", "--host", "pacs"]);
    assert!(expect_exit(&echo, 0).contains("\"status_name\":\"Success\""));
    let seven = lab_exec(
        id,
        "modality",
        &["sh", "-c", "echo out; echo err >&2; exit 7"],
    );
    assert_eq!(expect_exit(&seven, 7), "out\n");
    assert_eq!(String::from_utf8_lossy(&seven.stderr), "err\n");

    // The PACS keeps its store on a bounded tmpfs, not in the container layer (which may be
    // fuse-overlayfs, where Orthanc's writes and fsyncs were the limit of every store).
    let storage = lab_exec(id, "pacs", &["df", "-T", "/var/lib/orthanc/lab-db"]);
    let df = expect_exit(&storage, 0);
    let line = df.lines().last().unwrap_or_default().to_string();
    assert!(
        line.starts_with("tmpfs ") && line.contains(" 4194304 "),
        "{df}"
    );

    // capture: live pcapng on stdout while the modality stores again.
    let mut cap = Running::spawn(lab().args(["capture", id]));
    cap.wait_for("\"capturing\"", 60);
    let store = lab_exec(
        id,
        "modality",
        &[
            "lab-agent",
            "store",
            "--host",
            "pacs",
            "--patient",
            "LIVE^CAPTURE",
        ],
    );
    assert!(expect_exit(&store, 0).contains("\"ok\":true"));
    let live = dir.join("live.pcapng");
    let analysis = stop_live_capture(cap, &live);
    assert!(
        analysis.phi.iter().any(|p| p.value == "LIVE^CAPTURE"),
        "{} bytes, {:?}",
        std::fs::metadata(&live).map(|m| m.len()).unwrap_or(0),
        analysis.phi
    );
    // A reader that goes away (Wireshark closed) ends the capture although the lab is
    // quiet: `head` takes the pcapng header and leaves.
    let t0 = std::time::Instant::now();
    let piped = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "timeout 60 '{}' capture {id} 2>/dev/null | head -c 10 | wc -c",
            env!("CARGO_BIN_EXE_lab")
        ))
        .env("CI", "true")
        .output()
        .unwrap();
    assert_eq!(expect_exit(&piped, 0).trim(), "10");
    assert!(
        t0.elapsed() < std::time::Duration::from_secs(45),
        "lab capture outlived its reader"
    );
    // `lab capture` killed outright leaves its helper; gc removes it (its owner is gone)
    // and still leaves the kept lab alone.
    let mut killed = Running::spawn(lab().args(["capture", id]));
    killed.wait_for("\"capturing\"", 60);
    killed.signal("KILL");
    killed.finish();
    let capture_helpers = || {
        docker(&[
            "ps",
            "-a",
            "-q",
            "--filter",
            &format!("label=dicom-range.run={id}"),
            "--filter",
            "label=dicom-range.helper=capture",
        ])
    };
    assert_ne!(capture_helpers(), "", "the killed capture left no helper?");
    let gc = expect_exit(&lab_in(dir, &["gc"]), 0);
    assert!(
        gc.contains("a `lab capture` helper whose process is gone"),
        "{gc}"
    );
    assert_eq!(capture_helpers(), "");
    let status = expect_exit(&lab_in(dir, &["status"]), 0);
    assert!(
        status.contains(id) && status.contains("healthy"),
        "{status}"
    );
    // The capture helpers are gone with the captures.
    assert_eq!(capture_helpers(), "");
}

/// Commands on a run that does not exist say so, with the runs that do.
#[test]
fn unknown_runs_are_named() {
    for args in [
        &["logs", "nosuch-0000"][..],
        &["exec", "nosuch-0000", "pacs", "--", "true"][..],
        &["capture", "nosuch-0000"][..],
    ] {
        let out = lab().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("nosuch-0000"), "{args:?}: {err}");
    }
}
