//! The scenario tooling of the CLI (no Docker needed): validate, list, show, schema.

use std::path::Path;
use std::process::Command;

fn lab(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lab"))
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn validate_accepts_the_catalog_and_locates_every_problem() {
    let (code, out, _) = lab(&["validate"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("ok    labs/plaintext-store.yaml")
            && out.contains("ok    labs/tls-store.yaml"),
        "{out}"
    );

    let (code, out, err) = lab(&[
        "validate",
        "crates/scenario/tests/broken/01-unknown-top-key.yaml",
        "crates/scenario/tests/broken/16-tap-unknown-network.yaml",
    ]);
    assert_eq!(code, Some(2));
    assert!(
        out.contains("01-unknown-top-key.yaml:13:1: unknown key `netwrks` in the top level"),
        "{out}"
    );
    assert!(out.contains("hint: did you mean `networks`?"), "{out}");
    assert!(
        out.contains("16-tap-unknown-network.yaml:18:34: sniffer `sniffer` taps network `lan`"),
        "{out}"
    );
    assert!(err.contains("2 of 2 lab file(s) have problems"), "{err}");

    // A folder stands for its labs, as in `lab test labs/`.
    let broken =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenario/tests/broken"))
            .unwrap()
            .count();
    let (code, _, err) = lab(&["validate", "crates/scenario/tests/broken/"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains(&format!("{broken} of {broken} lab file(s) have problems")),
        "{err}"
    );
}

#[test]
fn list_json_has_one_object_per_lab() {
    let (code, out, _) = lab(&["list", "--json"]);
    assert_eq!(code, Some(0));
    let rows: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let plain = rows
        .iter()
        .find(|r| r["name"] == "plaintext-store")
        .expect("plaintext-store listed");
    assert_eq!(plain["variant"], "vulnerable");
    assert_eq!(plain["pair"], "tls-store");
    assert_eq!(plain["mitre"][0], "M1041");
}

#[test]
fn show_substitutes_parameters_from_a_file_and_the_command_line() {
    let dir = std::env::temp_dir().join(format!("lab-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let params = dir.join("student.yaml");
    std::fs::write(&params, "patient: FILE^STUDENT\n").unwrap();
    let (code, out, _) = lab(&[
        "show",
        "plaintext-store",
        "--params",
        params.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0));
    assert!(out.contains("patient: \"FILE^STUDENT\""), "{out}");
    let (_, out, _) = lab(&[
        "show",
        "plaintext-store",
        "--params",
        params.to_str().unwrap(),
        "-p",
        "patient=CLI^WINS",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["params"]["patient"], "CLI^WINS");
    assert_eq!(v["steps"][1]["action"]["study"]["patient"], "CLI^WINS");
    let (code, _, err) = lab(&["show", "plaintext-store", "-p", "patiant=X"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("parameter `patiant` (set with -p) is not declared")
            && err.contains("did you mean `patient`?"),
        "{err}"
    );
}

#[test]
fn schema_command_prints_the_committed_schema() {
    let (code, out, _) = lab(&["schema"]);
    assert_eq!(code, Some(0));
    let committed = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/scenario.schema.json"),
    )
    .unwrap();
    assert_eq!(out, committed);
}

#[test]
fn the_test_fixture_labs_stay_valid() {
    // The e2e tests' own labs must keep up with the format, or they fail for the wrong reason.
    let (code, out, _) = lab(&[
        "validate",
        "crates/lab/tests/fixtures/wrong-expectations.yaml",
    ]);
    assert_eq!(code, Some(0), "{out}");
}

#[test]
fn inspect_reports_deep_nesting_as_an_issue_instead_of_overflowing() {
    // One well-formed association whose data set nests sequences 10,000 deep: before the
    // nesting limit `lab inspect` aborted with a stack overflow (exit 134).
    let dir = std::env::temp_dir().join(format!("lab-cli-deep-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let capture = dir.join("deep.pcap");
    std::fs::write(&capture, wire::fuzzing::deep_nesting_capture(10_000)).unwrap();
    for json in [false, true] {
        let mut args = vec!["inspect", capture.to_str().unwrap()];
        if json {
            args.push("--json");
        }
        let (code, out, err) = lab(&args);
        assert_eq!(code, Some(0), "{out}\n{err}");
        assert!(out.contains("C-STORE-RQ"), "{out}");
        assert!(out.contains("nest deeper than 64"), "{out}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A title made to add a key to the generated compose file, and a patient name that
/// would clear the screen, are refused where they are written (file, line, field, fix);
/// `lab export compose` writes nothing for such a lab, and the message printed shows the
/// escape character instead of sending it to the terminal.
#[test]
fn free_text_with_control_characters_is_refused_before_export() {
    let title = "crates/scenario/tests/broken/55-title-injects-a-compose-key.yaml";
    let (code, out, _) = lab(&["validate", title]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains(
            "55-title-injects-a-compose-key.yaml:7:10: metadata.title contains a line break"
        ),
        "{out}"
    );
    assert!(
        out.contains("hint: write it on one line of plain text"),
        "{out}"
    );

    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("export-refused");
    let _ = std::fs::remove_dir_all(&dir);
    let (code, _, err) = lab(&["export", "compose", title, "--out", dir.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("metadata.title contains a line break"),
        "{err}"
    );
    assert!(!dir.join("docker-compose.yml").exists());

    let patient = "crates/scenario/tests/broken/56-patient-name-clears-the-screen.yaml";
    let (code, out, _) = lab(&["validate", patient]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("study.patient contains an escape character"),
        "{out}"
    );
    assert!(!out.contains('\x1b'), "{out:?}");
}
