//! A submission that runs code inside the PACS cannot forge its grade or write on the host:
//! `lab run` on `tests/labs/forged-evidence.yaml`, whose Lua tries to replace the curl and
//! bash the engine runs inside the PACS with fakes that forge the instance list and answer
//! the stored-instance probe with a forged digest and path-traversal ids.

use std::path::{Path, PathBuf};

mod common;
use common::{files_under, lab, only_run, report, runs_dir};

#[test]
fn a_lua_that_replaces_the_pacs_tools_forges_nothing_and_writes_nothing_outside() {
    let dir = runs_dir("forgery");
    let traversal = format!(
        "dicom-range-pwned-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/labs/forged-evidence.yaml");
    let lab_file = dir.join("forged-evidence.yaml");
    std::fs::write(
        &lab_file,
        std::fs::read_to_string(&fixture)
            .unwrap()
            .replace("TRAVERSAL", &traversal),
    )
    .unwrap();
    let runs = dir.join("runs");
    std::fs::create_dir_all(&runs).unwrap();
    let out = lab()
        .arg("run")
        .arg(&lab_file)
        .arg("--runs-dir")
        .arg(&runs)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let run = only_run(&runs);

    // Nothing landed where the traversal ids point, on the host.
    let targets = [
        PathBuf::from(format!("/tmp/{traversal}.dcm")),
        PathBuf::from(format!("/tmp/{traversal}")),
    ];
    for t in &targets {
        assert!(
            !t.exists(),
            "{} was written; stdout:\n{stdout}",
            t.display()
        );
    }

    // The cheat ran and failed: Orthanc is not root in its container.
    let log = std::fs::read_to_string(run.join("logs/pacs.log")).unwrap();
    assert!(log.contains("CHEAT-FAILED"), "the Lua did not run?\n{log}");
    assert!(!log.contains("CHEAT-OK"), "the Lua replaced a tool:\n{log}");

    // The grade is the real state: one instance, not the forged two, and no forged tags.
    let report = report(&run);
    let outcome = |id: &str| {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("no check {id} in {report}"))["outcome"]
            .clone()
    };
    assert_eq!(outcome("forged-count"), "not-met", "{stdout}\n{stderr}");
    assert_eq!(outcome("store-ok"), "met", "{stdout}\n{stderr}");
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let tags = std::fs::read_to_string(run.join("pacs/pacs/tags.json")).unwrap();
    assert!(
        !tags.contains("FORGED") && !tags.contains(&"0".repeat(64)),
        "{tags}"
    );

    // And the run directory holds only what a run writes, under names the engine chose.
    let files = files_under(&run);
    for f in &files {
        let expected = [
            "report.json",
            "report.html",
            "junit.xml",
            "report.sarif",
            "SHA256SUMS",
            "scenario.yaml",
            "addresses.json",
            "logs/",
            "pacs/pacs/instances.json",
            "pacs/pacs/system.json",
            "pacs/pacs/statistics.json",
            "pacs/pacs/tags.json",
            "pacs/pacs/files.json",
        ]
        .iter()
        .any(|e| f == e || (e.ends_with('/') && f.starts_with(e)));
        let kept_instance = f
            .strip_prefix("pacs/pacs/instances/")
            .and_then(|n| n.strip_suffix(".dcm"))
            .is_some_and(|id| {
                id.len() == 44 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
            });
        assert!(
            expected || kept_instance,
            "unexpected file {f} in the run dir: {files:?}"
        );
    }
    assert!(
        files.iter().any(|f| f.starts_with("pacs/pacs/instances/")),
        "{files:?}"
    );
}
