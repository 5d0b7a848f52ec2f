//! A real run directory for the report tests: the capture recorded by a real
//! `lab run plaintext-store` (wire's fixture), the lab file as it ran, a PACS snapshot,
//! and checks graded by `checks` from that evidence.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use checks::Outcome;
use report::{REPORT_SCHEMA, RunReport, StepRecord, Verdict};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn schemas() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemas")
}

/// A fresh, empty directory under the target dir.
pub fn temp_dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("report-tests")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A run directory of plaintext-store, graded from its evidence: `(dir, report)`.
pub fn plaintext_run(name: &str) -> (PathBuf, RunReport) {
    let dir = temp_dir(name);
    let root = root();
    std::fs::copy(
        root.join("crates/wire/tests/fixtures/plaintext-store.pcapng"),
        dir.join("capture.pcapng"),
    )
    .unwrap();
    let scenario = scenario::load(&root.join("labs/plaintext-store.yaml"), &BTreeMap::new())
        .expect("the catalog's lab loads");
    std::fs::write(dir.join("scenario.yaml"), &scenario.resolved_text).unwrap();
    std::fs::create_dir_all(dir.join("pacs/pacs")).unwrap();
    std::fs::write(
        dir.join("pacs/pacs/instances.json"),
        r#"["6944dc87-1fe3ab37-29453cec-88a9ff42-1ac9ed37"]"#,
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    std::fs::write(dir.join("logs/pacs.log"), "W: Orthanc has started\n").unwrap();
    std::fs::write(
        dir.join("logs/modality.log"),
        "{\"action\":\"store\",\"ok\":true}\n",
    )
    .unwrap();

    let steps = vec![step(1, "echo", 57), step(2, "store", 88)];
    let lines: String = steps
        .iter()
        .map(|s| format!("{}\n", serde_json::to_string(s).unwrap()))
        .collect();
    std::fs::write(dir.join("logs/steps.jsonl"), lines).unwrap();

    // Who owned which address when the capture was recorded.
    std::fs::write(
        dir.join("addresses.json"),
        r#"{"schema":"dicom-range/addresses/v1","nodes":[
            {"node":"modality","kind":"modality","role":"modality","aet":"MODALITY",
             "addresses":[{"network":"clinical","ipv4":"10.213.0.2"}]},
            {"node":"pacs","kind":"orthanc","role":"pacs","aet":"ORTHANC",
             "addresses":[{"network":"clinical","ipv4":"10.213.0.3"}]},
            {"node":"sniffer","kind":"sniffer","role":"tap","addresses":[]}]}"#,
    )
    .unwrap();

    let evidence = checks::Evidence::load(&dir);
    let checks = checks::grade(&scenario, &evidence);
    let hosts = report::run_hosts(&report::RunDir::new(&dir));
    let associations = report::connections(evidence.capture.as_ref().unwrap(), &hosts);
    let report = RunReport {
        schema: REPORT_SCHEMA.into(),
        run_id: format!("{}-{name}", scenario.metadata.name),
        lab: scenario.metadata.name.clone(),
        title: scenario.metadata.title.clone(),
        threat: scenario.metadata.threat.clone(),
        variant: "vulnerable".into(),
        mitre: scenario.metadata.mitre.clone(),
        started_at: "2026-11-25T12:23:14.270789296Z".into(),
        duration_s: 2.10229255,
        verdict: Verdict::of(&checks),
        error: None,
        notes: Vec::new(),
        steps,
        checks,
        associations,
        evidence: report::evidence_files(&dir).unwrap(),
    };
    (dir, report)
}

fn step(index: usize, action: &str, ms: u64) -> StepRecord {
    StepRecord {
        index,
        id: format!("step-{index}"),
        node: "modality".into(),
        action: action.into(),
        ok: true,
        exit_code: 0,
        elapsed_ms: ms,
        result: Some(serde_json::json!({ "action": action, "ok": true })),
        error: None,
    }
}

/// The same run seen as if the lab were the hardened one: the PHI finding is unexpected
/// (not met), one check could not be evaluated, and the run recorded an error.
pub fn hardened_failure(mut r: RunReport) -> RunReport {
    r.lab = "tls-store".into();
    r.run_id = "tls-store-0bad".into();
    r.variant = "hardened".into();
    for c in &mut r.checks {
        match c.kind.as_str() {
            "capture.phi_in_clear" => {
                c.expected = "no patient data readable in the capture (none)".into();
                c.outcome = Outcome::NotMet;
            }
            "pacs.instances" => {
                c.outcome = Outcome::Error;
                c.observed = "unknown: no state of PACS `pacs` was saved".into();
            }
            _ => {}
        }
    }
    r.verdict = Verdict::Error;
    r.error = Some("step 2 (store) failed: <association aborted> & \"no retry\"".into());
    r
}

/// Whether a program can be run (`prog --version` starts).
/// Whether a test must stop for want of `prog`: under `CI=true` a failure with the install
/// hint (CI installs every prerequisite, so a missing one is a broken setup, never a pass);
/// on a developer's machine the reason is printed and the test returns early.
pub fn missing(prog: &str, hint: &str) -> bool {
    if have(prog) {
        return false;
    }
    assert_ne!(
        std::env::var("CI").as_deref(),
        Ok("true"),
        "{prog} is not installed: {hint}"
    );
    eprintln!("not run here: {prog} is not installed ({hint})");
    true
}

pub fn have(prog: &str) -> bool {
    std::process::Command::new(prog)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok()
}

/// Writes a run's own record (the reports beside its evidence), as `lab run` does.
#[allow(dead_code)]
pub fn write_record(dir: &std::path::Path, r: &RunReport) -> std::io::Result<()> {
    let run = report::RunDir::new(dir);
    report::write_all(&run, &run.record(), r)
}
