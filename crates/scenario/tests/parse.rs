//! The scenario parser on the real catalog and on broken files, asserting message and place.

use std::collections::BTreeMap;
use std::path::PathBuf;

use scenario::{Action, CheckKind, Expectation, NodeKind, Problem, parse_str};

fn labs_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../labs")
}

fn problems(text: &str) -> Vec<Problem> {
    parse_str("lab.yaml", text, &BTreeMap::new())
        .expect_err("must be rejected")
        .problems
}

const GOOD: &str = r#"apiVersion: dicom-range/v1
kind: Lab
metadata:
  name: t
  title: T
  threat: insecure-communication
  variant: hardened
networks:
  clinical: {}
nodes:
  pacs: { kind: orthanc, aet: ORTHANC, networks: [clinical] }
  modality: { kind: modality, networks: [clinical] }
  sniffer: { kind: sniffer, tap: clinical }
steps:
  - { node: modality, action: echo, to: pacs }
checks:
  - { id: n, kind: pacs.instances, equals: 0 }
"#;

#[test]
fn every_lab_in_the_catalog_validates() {
    let mut n = 0;
    for entry in std::fs::read_dir(labs_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            scenario::load(&path, &BTreeMap::new()).unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
    }
    assert!(n >= 1, "no lab found in {}", labs_dir().display());
}

#[test]
fn plaintext_store_resolves_as_the_paper_describes() {
    let o = BTreeMap::from([("patient".to_string(), "ROE^RICHARD".to_string())]);
    let s = scenario::load(&labs_dir().join("plaintext-store.yaml"), &o).unwrap();
    assert_eq!(s.metadata.name, "plaintext-store");
    assert!(
        matches!(s.nodes.iter().find(|n| n.name == "pacs").unwrap().kind, NodeKind::Orthanc { ref aet, .. } if aet == "ORTHANC")
    );
    match &s.steps[1].action {
        Action::Store { to, study } => {
            assert_eq!(to, "pacs");
            assert_eq!(study.patient, "ROE^RICHARD");
            assert_eq!(study.modality, "XA");
        }
        other => panic!("step 2 is {other:?}"),
    }
    assert!(s.checks.iter().any(|c| matches!(
        c.kind,
        CheckKind::PhiInClear {
            expect: Expectation::Finding
        }
    )));
    assert!(s.resolved_text.contains("ROE^RICHARD"));
}

#[test]
fn a_minimal_lab_parses() {
    parse_str("lab.yaml", GOOD, &BTreeMap::new()).unwrap();
}

#[test]
fn malformed_yaml_names_line_and_column() {
    let p = problems("apiVersion: dicom-range/v1\nkind: Lab\nmetadata: [unclosed\n");
    assert_eq!(p.len(), 1);
    assert!(p[0].line.is_some() && p[0].column.is_some(), "{p:?}");
    assert!(p[0].to_string().starts_with("lab.yaml:"), "{}", p[0]);
}

#[test]
fn unknown_key_suggests_the_right_one() {
    let p = problems(&GOOD.replace("networks:\n  clinical", "netwrks:\n  clinical"));
    assert_eq!(p[0].line, Some(8), "{p:?}");
    assert_eq!(p[0].message, "unknown key `netwrks` in the top level");
    assert_eq!(p[0].hint.as_deref(), Some("did you mean `networks`?"));
}

#[test]
fn undefined_node_lists_the_nodes() {
    let p = problems(&GOOD.replace("to: pacs }", "to: pacs2 }"));
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].message.contains("node `pacs2` is not defined"),
        "{}",
        p[0]
    );
    assert_eq!(p[0].hint.as_deref(), Some("did you mean `pacs`?"));
    assert_eq!(p[0].line, Some(15));
}

#[test]
fn all_problems_are_reported_at_once() {
    let text = GOOD
        .replace("tap: clinical", "tap: lan")
        .replace("threat: insecure-communication", "threat: insecure-comms")
        .replace("kind: pacs.instances", "kind: pacs.instance");
    let p = problems(&text);
    assert_eq!(p.len(), 3, "{p:?}");
    assert!(
        p.iter()
            .any(|p| p.message.contains("taps network `lan`") && p.line == Some(13))
    );
    assert!(
        p.iter()
            .any(|p| p.message.contains("`insecure-comms`") && p.line == Some(6))
    );
    assert!(
        p.iter()
            .any(|p| p.hint.as_deref() == Some("did you mean `pacs.instances`?"))
    );
}

#[test]
fn capture_checks_need_a_sniffer() {
    let text = GOOD.replace("  sniffer: { kind: sniffer, tap: clinical }\n", "")
        + "  - { id: phi, kind: capture.phi_in_clear, expect: finding }\n";
    let p = problems(&text);
    assert!(
        p.iter().any(|p| p.message.contains("has no sniffer")),
        "{p:?}"
    );
}

#[test]
fn alias_bombs_are_refused() {
    // Anchors nested ten deep would expand to 10^12 strings; the parser's budget stops it.
    let mut bomb = String::from("    config:\n      a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 0..12 {
        let prev = if i == 0 {
            "a".to_string()
        } else {
            format!("b{}", i - 1)
        };
        let refs = vec![format!("*{prev}"); 10].join(", ");
        bomb.push_str(&format!("      b{i}: &b{i} [{refs}]\n"));
    }
    let text = GOOD.replace(
        "  pacs: { kind: orthanc, aet: ORTHANC, networks: [clinical] }\n",
        &format!("  pacs:\n    kind: orthanc\n    networks: [clinical]\n{bomb}"),
    );
    let p = problems(&text);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].message.to_lowercase().contains("alias")
            || p[0].message.to_lowercase().contains("budget"),
        "{}",
        p[0]
    );
}

#[test]
fn parsing_never_panics_on_mangled_input() {
    let bytes = GOOD.as_bytes();
    let mut seed: u64 = 0x9e3779b97f4a7c15;
    for _ in 0..600 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut v = bytes.to_vec();
        for k in 0..(seed % 6 + 1) {
            let pos = ((seed >> (k * 8)) as usize) % v.len();
            const NASTY: &[u8] = b"{}[]:,&*-\n \"'#|>!%@`x0";
            v[pos] = NASTY[((seed >> (k * 3)) as usize) % NASTY.len()];
        }
        let text = String::from_utf8_lossy(&v);
        let _ = parse_str("fuzz.yaml", &text, &BTreeMap::new());
    }
}

/// The broken corpus: each file in tests/broken/ says on its first line where its first
/// problem is and what it says (`# expect: LINE:COL text`), and on its second line
/// (`# hint: text`) what the hint must contain.
#[test]
fn every_broken_scenario_fails_where_and_how_it_says() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/broken");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 30, "only {} broken scenarios", files.len());
    let mut failures = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let mut lines = text.lines();
        let expect = lines
            .next()
            .unwrap()
            .strip_prefix("# expect: ")
            .expect("first line is `# expect: `");
        let hint = lines.next().unwrap().strip_prefix("# hint: ");
        let (place, message) = expect.split_once(' ').unwrap_or((expect, ""));
        let (line, col) = place.split_once(':').unwrap();
        let (line, col): (u64, u64) = (line.parse().unwrap(), col.parse().unwrap());
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let err = match parse_str(&name, &text, &BTreeMap::new()) {
            Ok(_) => {
                failures.push(format!("{name}: accepted"));
                continue;
            }
            Err(e) => e,
        };
        let found = err.problems.iter().any(|p| {
            p.line == Some(line)
                && p.column == Some(col)
                && p.message.contains(message)
                && hint.is_none_or(|h| p.hint.as_deref().is_some_and(|x| x.contains(h)))
        });
        if !found {
            failures.push(format!(
                "{name}: wanted {line}:{col} {message:?} hint {hint:?}, got:\n{err}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
