//! Every check kind graded through the public API (`Evidence::load`, `grade`) against the
//! run directories under `tests/fixtures/`: met, not met, and evidence missing (an error,
//! never a pass or a fail). See `tests/fixtures/README.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use checks::{CheckResult, Evidence, Outcome, grade};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The run directory `run` as the engine would leave it, its capture (when it has one)
/// taken from wire's fixtures; graded against `tests/fixtures/scenario.yaml`.
fn graded(run: &str) -> BTreeMap<String, CheckResult> {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join(run), dir.path());
    let capture = match run {
        "met" => Some("plaintext-store.pcapng"),
        "not-met" => Some("dcmtk-tls.pcap"),
        _ => None,
    };
    if let Some(c) = capture {
        let wire = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wire/tests/fixtures");
        std::fs::copy(wire.join(c), dir.path().join(rundir::CAPTURE_FILE)).unwrap();
    }
    let text = std::fs::read_to_string(fixtures().join("scenario.yaml")).unwrap();
    let lab = scenario::parse_str("scenario.yaml", &text, &BTreeMap::new()).unwrap();
    let evidence = Evidence::load(dir.path());
    grade(&lab, &evidence)
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect()
}

/// Check `id` (of `kind`) is met in `met/`, not met in `not-met/` and an error in
/// `missing/`, whose observation says the evidence is unknown. For a security check,
/// `finding` is what the met and not-met runs demonstrated.
fn case(id: &str, kind: &str, finding: Option<(bool, bool)>) {
    for (run, outcome) in [
        ("met", Outcome::Met),
        ("not-met", Outcome::NotMet),
        ("missing", Outcome::Error),
    ] {
        let results = graded(run);
        let r = results
            .get(id)
            .unwrap_or_else(|| panic!("{run}: no result for `{id}` in {results:#?}"));
        assert_eq!(r.kind, kind, "{run}: {r:#?}");
        assert_eq!(r.outcome, outcome, "{run}: {r:#?}");
        assert!(!r.expected.is_empty(), "{run}: {r:#?}");
        let want_finding = match (run, finding) {
            ("met", Some((met, _))) => Some(met),
            ("not-met", Some((_, not_met))) => Some(not_met),
            _ => None,
        };
        assert_eq!(r.finding, want_finding, "{run}: {r:#?}");
        if run == "missing" {
            assert!(r.observed.starts_with("unknown: "), "{run}: {r:#?}");
        }
    }
}

#[test]
fn pacs_instances() {
    case("stored", "pacs.instances", None);
}

#[test]
fn capture_phi_in_clear() {
    case("phi", "capture.phi_in_clear", Some((true, false)));
    let met = &graded("met")["phi"];
    assert!(
        met.details.iter().any(|d| d == "PatientName = DOE^JANE"),
        "{met:#?}"
    );
}

#[test]
fn capture_dicom_in_clear() {
    case("dicom", "capture.dicom_in_clear", Some((true, false)));
}

#[test]
fn capture_sequence() {
    case("sequence", "capture.sequence", None);
    let not_met = &graded("not-met")["sequence"];
    assert!(
        not_met.observed.contains("`A-ASSOCIATE-RQ` never followed"),
        "{not_met:#?}"
    );
}

#[test]
fn attack_succeeded() {
    case("attack", "attack.succeeded", Some((true, false)));
}

#[test]
fn ids_alerts() {
    case("alerts", "ids.alerts", None);
    let met = &graded("met")["alerts"];
    assert_eq!(met.details.len(), 1, "{met:#?}");
}

#[test]
fn pacs_file_written() {
    case("file", "pacs.file_written", Some((true, false)));
}

#[test]
fn pacs_data_altered() {
    case("altered", "pacs.data_altered", Some((true, false)));
    let met = &graded("met")["altered"];
    assert!(met.details[0].contains("ATTACKER^EVE"), "{met:#?}");
}

#[test]
fn pacs_signatures() {
    // Broken is what the fixture expects; a valid signature is not it; neither is a finding
    // (only unsigned instances are).
    case("signed", "pacs.signatures", Some((false, false)));
    let met = graded("met");
    let r = &met["signed"];
    assert!(
        r.observed.contains("1.2.276.0.7230010.3.1.4.1.1.1")
            && r.observed.contains("document corrupted"),
        "the broken signature is named: {r:#?}"
    );
    assert!(r.details[0].contains("MAC ID 0, SHA256"), "{r:#?}");
}

#[test]
fn log_lines() {
    case("audit", "log.lines", None);
    // Two audit lines where at most one is expected: the upper bound is applied.
    let not_met = &graded("not-met")["audit"];
    assert_eq!(not_met.observed, "2 line(s)", "{not_met:#?}");
}

/// Steps are graded too: one that ended as the lab expects adds nothing, one that did not
/// (or did not run) is not met.
#[test]
fn step_outcomes() {
    let step_ids = |run: &str| -> Vec<(String, Outcome)> {
        graded(run)
            .into_values()
            .filter(|r| r.kind == "step")
            .map(|r| (r.id, r.outcome))
            .collect()
    };
    assert_eq!(step_ids("met"), []);
    assert_eq!(
        step_ids("not-met"),
        [("step:store".into(), Outcome::NotMet)]
    );
    // An attack step may end either way (its `expect` is `any`): only the store counts.
    assert_eq!(
        step_ids("missing"),
        [("step:store".into(), Outcome::NotMet)]
    );
}
