//! write_all + SHA256SUMS: every report written, every file covered, tampering found.

mod common;

use std::process::Command;

use common::plaintext_run;

#[test]
fn reports_and_sums_cover_the_run_and_verify() {
    let (dir, r) = plaintext_run("sums");
    common::write_record(&dir, &r).unwrap();
    for f in report::REPORT_FILES {
        assert!(dir.join(f).exists(), "{f} written");
    }
    assert!(
        matches!(report::verify_sums(&dir), Err(e) if e.kind() == std::io::ErrorKind::NotFound),
        "no SHA256SUMS yet"
    );
    let covered = report::write_sums(&dir).unwrap();
    for f in report::REPORT_FILES.iter().chain(&[
        "capture.pcapng",
        "scenario.yaml",
        "logs/pacs.log",
        "pacs/pacs/instances.json",
    ]) {
        assert!(covered.iter().any(|c| c == f), "{f} covered: {covered:?}");
    }
    assert!(!covered.iter().any(|c| c == report::SUMS_FILE));

    let v = report::verify_sums(&dir).unwrap();
    assert!(v.is_ok(), "{v:?}");
    assert_eq!(v.ok, covered);
    assert!(v.unlisted.is_empty(), "{v:?}");

    // GNU coreutils agrees with the format.
    if !common::missing("sha256sum", "apt-get install coreutils") {
        let out = Command::new("sha256sum")
            .args(["-c", "--quiet", report::SUMS_FILE])
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }

    // Regenerating gives the same report.json (generated reports are not evidence).
    let json1 = std::fs::read(dir.join("report.json")).unwrap();
    let mut again = r.clone();
    again.evidence = report::evidence_files(&dir).unwrap();
    common::write_record(&dir, &again).unwrap();
    assert_eq!(json1, std::fs::read(dir.join("report.json")).unwrap());
    let doc: serde_json::Value = serde_json::from_slice(&json1).unwrap();
    let evidence: Vec<&str> = doc["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(evidence.contains(&"capture.pcapng"));
    assert!(
        !evidence
            .iter()
            .any(|f| report::REPORT_FILES.contains(f) || *f == report::SUMS_FILE)
    );
    report::write_sums(&dir).unwrap();

    // Tampering, deletion, additions and hostile lines.
    std::fs::write(dir.join("logs/pacs.log"), "W: nothing to see here\n").unwrap();
    std::fs::remove_file(dir.join("capture.pcapng")).unwrap();
    std::fs::write(dir.join("added-later.txt"), "x").unwrap();
    let mut sums = std::fs::read_to_string(dir.join(report::SUMS_FILE)).unwrap();
    sums.push_str(&format!(
        "{}  ../../etc/passwd\nnot a checksum line\n",
        "0".repeat(64)
    ));
    std::fs::write(dir.join(report::SUMS_FILE), sums).unwrap();
    let v = report::verify_sums(&dir).unwrap();
    assert!(!v.is_ok());
    assert_eq!(v.mismatched, ["logs/pacs.log"]);
    assert_eq!(v.missing, ["capture.pcapng"]);
    assert_eq!(v.unlisted, ["added-later.txt"]);
    assert_eq!(v.invalid.len(), 2, "{:?}", v.invalid);
    assert!(v.ok.iter().any(|f| f == "report.html"));
}

#[test]
fn write_all_without_capture_or_scenario_still_writes_every_report() {
    let (dir, r) = plaintext_run("sums-bare");
    std::fs::remove_file(dir.join("capture.pcapng")).unwrap();
    std::fs::remove_file(dir.join("scenario.yaml")).unwrap();
    common::write_record(&dir, &r).unwrap();
    let page = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(page.contains("no sequence to draw"));
    assert!(page.contains("no topology to draw"));
    for f in report::REPORT_FILES {
        assert!(dir.join(f).exists(), "{f} written");
    }
}

/// A run directory handed to `lab verify` may be hostile: a listed name that is a symbolic
/// link (to /dev/zero, which would never end, or to a host file) is missing evidence, never
/// read; a huge SHA256SUMS is refused before it is read whole.
#[test]
fn verify_never_reads_through_symbolic_links_and_bounds_the_sums_file() {
    let (dir, r) = plaintext_run("sums-links");
    common::write_record(&dir, &r).unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.join("zero")).unwrap();
    std::os::unix::fs::symlink("/etc", dir.join("etc")).unwrap();
    let sums = format!(
        "{z}  zero\n{z}  etc/hostname\n{z}  report.json\n",
        z = "0".repeat(64)
    );
    std::fs::write(dir.join(report::SUMS_FILE), sums).unwrap();
    let v = report::verify_sums(&dir).unwrap();
    assert_eq!(v.missing, vec!["zero", "etc/hostname"], "{v:?}");
    assert_eq!(v.mismatched, vec!["report.json"], "{v:?}");

    let f = std::fs::File::create(dir.join(report::SUMS_FILE)).unwrap();
    f.set_len(report::MAX_SUMS_BYTES + 1).unwrap();
    let e = report::verify_sums(&dir).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidData, "{e}");
}
