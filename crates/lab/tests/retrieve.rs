//! The agent's `get` step through the whole engine: `lab run` on the fixture
//! `tests/labs/retrieve-get.yaml` (real Orthanc 1.10.1, real agent image, real capture).
//! The modality stores a CT series, then C-GETs it back; the capture shows the PACS's
//! C-STORE sub-operations on the modality's own association.

mod common;
use common::{check, expect_exit, report};
use std::path::{Path, PathBuf};
use std::process::Command;

#[test]
fn a_get_step_retrieves_the_stored_series_through_the_engine() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("e2e-runs")
        .join("retrieve-get");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let lab_file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/labs/retrieve-get.yaml");
    let out = Command::new(env!("CARGO_BIN_EXE_lab"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CI", "true")
        .arg("run")
        .arg(&lab_file)
        .arg("--runs-dir")
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = expect_exit(&out, 0);
    assert!(stdout.contains("PASS: 2/2 checks met"), "{stdout}");
    let run = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let seq = check(&report(&run), "get-sequence").clone();
    assert_eq!(seq["outcome"], "met", "{seq}");
}
