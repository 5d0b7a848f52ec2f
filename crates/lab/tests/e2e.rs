//! End to end: the real `lab` binary against the real Docker daemon, real Orthanc and the
//! real agent. Each test asserts what the run left behind and that nothing of it remains.

use std::io::{BufRead, BufReader};

mod common;
use common::{check, expect_exit, lab, lab_in, leftovers, only_run, report, runs_dir};
use std::path::Path;
use std::process::{Command, Stdio};

#[test]
fn plaintext_store_passes_and_leaves_nothing_running() {
    let dir = runs_dir("plaintext");
    let out = lab_in(
        &dir,
        &["run", "plaintext-store", "-p", "patient=E2E^STUDENT"],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("PASS: 4/4 checks met"), "{stdout}");

    let run = only_run(&dir);
    let r = report(&run);
    assert_eq!(r["verdict"], "pass");
    assert_eq!(r["schema"], "dicom-range/report/v1");
    let store = check(&r, "store-ok");
    assert_eq!(
        (store["outcome"].as_str(), store["observed"].as_str()),
        (Some("met"), Some("1 instance(s)"))
    );
    let phi = check(&r, "phi-visible");
    assert_eq!(phi["outcome"], "met");
    assert_eq!(phi["finding"], true);
    assert!(
        phi["details"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d == "PatientName = E2E^STUDENT"),
        "{phi}"
    );
    assert_eq!(check(&r, "paper-sequence")["outcome"], "met");
    assert!(
        r["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["ok"] == true)
    );

    for f in [
        "capture.pcapng",
        "timeline.json",
        "scenario.yaml",
        "SHA256SUMS",
        "logs/pacs.log",
        "logs/modality.log",
        "logs/sniffer.log",
        "pacs/pacs/instances.json",
    ] {
        assert!(run.join(f).is_file(), "{f} missing from {}", run.display());
    }
    assert!(
        std::fs::read_to_string(run.join("scenario.yaml"))
            .unwrap()
            .contains("E2E^STUDENT")
    );
    assert!(
        std::fs::read_to_string(run.join("logs/pacs.log"))
            .unwrap()
            .contains("ORTHANC")
    );
    // The capture is real: decode it independently of the report.
    let analysis = wire::analyze_file(&run.join("capture.pcapng")).unwrap();
    assert!(
        analysis
            .phi
            .iter()
            .any(|p| p.keyword == "PatientName" && p.value == "E2E^STUDENT")
    );
    assert!(analysis.step_labels().contains(&"C-STORE-RSP Success"));

    let run_id = r["run_id"].as_str().unwrap();
    assert_eq!(leftovers(run_id), "", "objects of {run_id} remain");

    // Grading again offline, from the evidence alone, gives the same verdict, written
    // beside the run's own record: its report and SHA256SUMS are not rewritten, and `lab
    // verify` still checks what the run saved.
    let sums_before = std::fs::read(run.join("SHA256SUMS")).unwrap();
    let report_before = std::fs::read(run.join("report.json")).unwrap();
    let again = lab().arg("report").arg(&run).output().unwrap();
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
    assert!(String::from_utf8_lossy(&again.stdout).contains("regrade"));
    assert_eq!(std::fs::read(run.join("SHA256SUMS")).unwrap(), sums_before);
    assert_eq!(
        std::fs::read(run.join("report.json")).unwrap(),
        report_before
    );
    let regraded: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("regrade/report.json")).unwrap()).unwrap();
    assert_eq!(regraded["verdict"], r["verdict"]);
    assert_eq!(regraded["checks"], r["checks"]);
    let verify = lab().arg("verify").arg(&run).output().unwrap();
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );

    // Grading a hostile capture (sequences nested 10,000 deep) ends in a verdict with the
    // issue in the report, not in a stack overflow (exit 134 before the nesting limit).
    std::fs::write(
        run.join("capture.pcapng"),
        wire::fuzzing::deep_nesting_capture(10_000),
    )
    .unwrap();
    let hostile = lab().arg("report").arg(&run).output().unwrap();
    assert!(
        matches!(hostile.status.code(), Some(0 | 1)),
        "{:?}\n{}",
        hostile.status,
        String::from_utf8_lossy(&hostile.stderr)
    );
    let html = std::fs::read_to_string(run.join("regrade/report.html")).unwrap();
    assert!(
        html.contains("nest deeper than 64"),
        "no nesting issue in report.html"
    );
}

#[test]
fn tls_store_hides_the_exchange_and_still_stores() {
    let dir = runs_dir("tls");
    let out = lab_in(&dir, &["run", "tls-store", "-p", "patient=TLS^STUDENT"]);
    expect_exit(&out, 0);
    let run = only_run(&dir);
    let r = report(&run);
    assert_eq!(check(&r, "store-ok")["observed"], "1 instance(s)");
    assert_eq!(check(&r, "phi-hidden")["finding"], false);
    assert_eq!(check(&r, "dicom-hidden")["finding"], false);
    // The agent said what TLS it negotiated, with a client certificate (mutual TLS).
    let store = &r["steps"][1]["result"]["tls"];
    assert!(
        store["version"]
            .as_str()
            .unwrap_or("")
            .starts_with("TLSv1."),
        "{store}"
    );
    assert_eq!(store["client_certificate"], true, "{store}");
    // The patient name is nowhere in the capture's bytes, not even by accident.
    let capture = std::fs::read(run.join("capture.pcapng")).unwrap();
    assert!(capture.len() > 10_000, "the capture is suspiciously small");
    assert!(!capture.windows(11).any(|w| w == b"TLS^STUDENT"));
    for f in ["pki/ca.pem", "pki/pacs.pem", "pki/modality.pem"] {
        assert!(run.join(f).is_file(), "{f} missing");
    }
    assert_eq!(leftovers(r["run_id"].as_str().unwrap()), "");
}

#[test]
fn unmet_expectations_exit_1_and_say_what_was_seen() {
    let dir = runs_dir("wrong");
    let out = lab_in(&dir, &["run", "tests/fixtures/wrong-expectations.yaml"]);
    let stdout = expect_exit(&out, 1);
    let r = report(&only_run(&dir));
    assert_eq!(r["verdict"], "fail");
    assert_eq!(check(&r, "store-ok")["outcome"], "not-met");
    assert_eq!(check(&r, "store-ok")["observed"], "1 instance(s)");
    assert_eq!(check(&r, "phi-visible")["outcome"], "not-met");
    assert_eq!(check(&r, "phi-visible")["finding"], true);
    assert_eq!(check(&r, "paper-sequence")["outcome"], "met");
    assert!(
        stdout.contains("NOT MET") && stdout.contains("expected: 2 instance(s)"),
        "{stdout}"
    );
    assert_eq!(leftovers(r["run_id"].as_str().unwrap()), "");
}

#[test]
fn keep_leaves_a_failed_lab_up_until_lab_down() {
    let dir = runs_dir("keep");
    let out = lab_in(
        &dir,
        &["run", "tests/fixtures/wrong-expectations.yaml", "--keep"],
    );
    assert_eq!(out.status.code(), Some(1));
    let r = report(&only_run(&dir));
    let run_id = r["run_id"].as_str().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("lab down {run_id}")));
    assert!(!leftovers(run_id).is_empty(), "--keep removed the lab");
    // Teardown from labels alone: no scenario file, no run directory.
    let down = lab()
        .current_dir("/")
        .args(["down", run_id])
        .output()
        .unwrap();
    assert_eq!(
        down.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    assert!(
        String::from_utf8_lossy(&down.stdout).contains("removed 3 container(s) and 1 network(s)")
    );
    assert_eq!(leftovers(run_id), "");
}

#[test]
fn ctrl_c_saves_evidence_and_tears_down() {
    let dir = runs_dir("interrupt");
    let mut child = lab()
        .args(["run", "plaintext-store", "--runs-dir"])
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "lab ended before the steps:\n{seen}"
        );
        seen.push_str(&line);
        if line.contains("==> step 1 ") {
            break;
        }
    }
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(2), "{seen}");
    let run = only_run(&dir);
    let r = report(&run);
    assert_eq!(r["verdict"], "error");
    assert!(
        r["error"].as_str().unwrap().starts_with("interrupted"),
        "{}",
        r["error"]
    );
    assert!(run.join("scenario.yaml").is_file());
    assert!(
        run.join("logs/pacs.log").is_file(),
        "node logs were not saved"
    );
    assert_eq!(leftovers(r["run_id"].as_str().unwrap()), "");
}

#[test]
fn an_unknown_lab_lists_the_labs() {
    let out = lab().args(["run", "plaintext-stor"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no lab named `plaintext-stor`") && err.contains("plaintext-store"),
        "{err}"
    );
}

#[test]
fn malformed_yaml_names_file_line_and_column() {
    let out = lab()
        .args(["run", "tests/fixtures/malformed.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tests/fixtures/malformed.yaml:5:"), "{err}");
}

#[test]
fn docker_unreachable_is_exit_2_with_the_fix() {
    let out = lab()
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .args(["run", "plaintext-store", "--runs-dir"])
        .arg(runs_dir("nodocker"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Docker daemon is not reachable") && err.contains("fix:"),
        "{err}"
    );
}

/// The whole catalog as CI runs it: every lab, vulnerable and hardened, meets its
/// expectations; the JUnit report has a testcase per check and no failure.
#[test]
fn the_whole_catalog_meets_its_expectations() {
    let dir = runs_dir("catalog");
    let junit = dir.join("junit.xml");
    let sarif = dir.join("findings.sarif");
    let out = lab()
        .args(["test", "-j", "3", "--runs-dir"])
        .arg(&dir)
        .arg("--junit")
        .arg(&junit)
        .arg("--sarif")
        .arg(&sarif)
        .output()
        .unwrap();
    let stdout = expect_exit(&out, 0);
    // Every lab file and every exercise (run with its reference solution).
    let yaml_in = |dir: &Path| {
        std::fs::read_dir(dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "yaml")
            })
            .count()
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../labs");
    let labs = yaml_in(&root) + yaml_in(&root.join("exercises"));
    assert!(labs >= 21, "{labs} labs");
    assert!(
        stdout.contains(&format!("{labs} of {labs} lab(s) met every expectation")),
        "{stdout}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testsuite ").count(), labs, "{xml}");
    assert!(
        !xml.contains("<failure") && !xml.contains("<error"),
        "{xml}"
    );
    let sarif: serde_json::Value = serde_json::from_slice(&std::fs::read(&sarif).unwrap()).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    // Vulnerable labs show findings; every one of them is expected (level warning).
    let results: Vec<&serde_json::Value> = sarif["runs"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["results"].as_array().unwrap())
        .collect();
    assert!(results.len() >= 7, "{} findings", results.len());
    assert!(
        results.iter().all(|r| r["level"] == "warning"),
        "an unexpected finding: {sarif}"
    );
    // Nothing of any run remains.
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            assert_eq!(leftovers(&path.file_name().unwrap().to_string_lossy()), "");
        }
    }
}

/// `lab export compose` writes a compose project that really runs: the modality stores
/// into the exported Orthanc, the exported sniffer captures it, and `down` leaves nothing.
#[test]
fn an_exported_compose_file_runs_the_lab() {
    if Command::new("docker-compose")
        .arg("version")
        .output()
        .is_err()
    {
        let hint = "docker-compose is not installed (scripts/install-prereqs.sh installs it)";
        assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "{hint}");
        eprintln!("not run here: {hint}");
        return;
    }
    let dir = runs_dir("compose");
    let out = lab()
        .args(["export", "compose", "plaintext-store", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = std::fs::read_to_string(dir.join("docker-compose.yml")).unwrap();
    assert!(
        file.contains("internal: true")
            && file.contains("dicom-range.run: compose-plaintext-store"),
        "{file}"
    );
    // The images must exist: a run builds them.
    assert_eq!(
        lab()
            .args(["images", "build"])
            .output()
            .unwrap()
            .status
            .code(),
        Some(0)
    );

    let compose = |args: &[&str]| {
        Command::new("docker-compose")
            .current_dir(&dir)
            .args(["-p", "e2ecompose"])
            .args(args)
            .output()
            .unwrap()
    };
    let up = compose(&["up", "-d"]);
    let result = std::panic::catch_unwind(|| {
        assert!(
            up.status.success(),
            "{}",
            String::from_utf8_lossy(&up.stderr)
        );
        let echo = compose(&[
            "exec",
            "-T",
            "modality",
            "lab-agent",
            "echo",
            "--host",
            "pacs",
            "--wait-secs",
            "60",
        ]);
        assert!(
            echo.status.success(),
            "{}",
            String::from_utf8_lossy(&echo.stdout)
        );
        let store = compose(&[
            "exec",
            "-T",
            "modality",
            "lab-agent",
            "store",
            "--host",
            "pacs",
            "--patient",
            "COMPOSE^TEST",
        ]);
        let stdout = String::from_utf8_lossy(&store.stdout);
        assert!(
            store.status.success() && stdout.contains("\"ok\":true"),
            "{stdout}"
        );
        // The exported PACS keeps its store on the same tmpfs as a lab run's.
        let df = compose(&["exec", "-T", "pacs", "df", "-T", "/var/lib/orthanc/lab-db"]);
        let df = String::from_utf8_lossy(&df.stdout);
        assert!(
            df.lines().last().is_some_and(|l| l.starts_with("tmpfs ")),
            "{df}"
        );
    });
    let down = compose(&["down", "-t", "10"]);
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    result.unwrap();
    assert_eq!(leftovers("compose-plaintext-store"), "");
    let capture = dir.join("evidence/sniffer/capture.pcapng");
    let analysis = wire::analyze_file(&capture).expect("the exported sniffer wrote a capture");
    assert!(
        analysis.phi.iter().any(|p| p.value == "COMPOSE^TEST"),
        "{:?}",
        analysis.phi
    );
}
