//! JUnit XML against Jenkins' junit-10.xsd (with xmllint) and SARIF against the OASIS
//! SARIF 2.1.0 JSON schema, both committed under tests/schemas/.

mod common;

use std::process::Command;

use checks::Outcome;
use common::{hardened_failure, missing, plaintext_run, schemas, temp_dir};

#[test]
fn junit_is_valid_and_says_what_was_expected_and_seen() {
    let (_, pass) = plaintext_run("junit");
    assert_eq!(pass.verdict, report::Verdict::Pass, "{:#?}", pass.checks);
    let bad = hardened_failure(pass.clone());
    let xml = report::junit(&[pass.clone(), bad.clone()]);

    // Structure, parsed.
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suites: Vec<_> = root
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suites.len(), 2, "a testsuite per lab run");
    let s0 = suites[0];
    assert_eq!(s0.attribute("name"), Some("plaintext-store"));
    assert_eq!(s0.attribute("id"), Some(pass.run_id.as_str()));
    assert_eq!(
        s0.attribute("tests"),
        Some(pass.checks.len().to_string().as_str())
    );
    assert_eq!(s0.attribute("failures"), Some("0"));
    assert_eq!(s0.attribute("errors"), Some("0"));
    assert_eq!(s0.attribute("time"), Some("2.102"));
    let cases: Vec<_> = s0
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(
        cases
            .iter()
            .map(|c| c.attribute("name").unwrap())
            .collect::<Vec<_>>(),
        pass.checks
            .iter()
            .map(|c| c.id.as_str())
            .collect::<Vec<_>>(),
        "a testcase per check, named by check id"
    );
    assert!(
        cases
            .iter()
            .all(|c| c.attribute("classname") == Some("plaintext-store"))
    );
    assert!(cases.iter().all(|c| {
        !c.children()
            .any(|n| n.has_tag_name("failure") || n.has_tag_name("error"))
    }));

    let s1 = suites[1];
    assert_eq!(s1.attribute("name"), Some("tls-store"));
    assert_eq!(s1.attribute("failures"), Some("1"));
    // the check that could not be evaluated + the run's own error
    assert_eq!(s1.attribute("errors"), Some("2"));
    assert_eq!(
        s1.attribute("tests"),
        Some((bad.checks.len() + 1).to_string().as_str())
    );
    let case = |name: &str| {
        s1.children()
            .find(|n| n.has_tag_name("testcase") && n.attribute("name") == Some(name))
            .unwrap_or_else(|| panic!("testcase {name}"))
    };
    let failure = case("phi-visible")
        .children()
        .find(|n| n.has_tag_name("failure"))
        .expect("a failure for the unmet check");
    let msg = failure.attribute("message").unwrap();
    assert!(msg.contains("expected no patient data readable"), "{msg}");
    assert!(msg.contains("observed finding: 8 PHI value(s)"), "{msg}");
    assert!(case("store-ok").children().any(|n| n.has_tag_name("error")));
    let run_error = case(report::RUN_TESTCASE)
        .children()
        .find(|n| n.has_tag_name("error"))
        .unwrap();
    assert!(
        run_error
            .attribute("message")
            .unwrap()
            .contains("<association aborted> & \"no retry\""),
        "escaped and read back intact"
    );

    // Against the published schema.
    if missing("xmllint", "apt-get install libxml2-utils") {
        return;
    }
    let dir = temp_dir("junit-xsd");
    let file = dir.join("junit.xml");
    std::fs::write(&file, &xml).unwrap();
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(schemas().join("junit-10.xsd"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "junit.xml does not validate against junit-10.xsd:\n{}\n{xml}",
        String::from_utf8_lossy(&out.stderr)
    );
    // and the schema is really applied: a testsuite without its counts is rejected
    let broken = xml.replacen(" failures=\"0\"", "", 1);
    std::fs::write(&file, &broken).unwrap();
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(schemas().join("junit-10.xsd"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "xmllint accepted an invalid document"
    );
}

#[test]
fn junit_survives_hostile_text() {
    let (_, mut r) = plaintext_run("junit-hostile");
    r.checks[0].id = "a\"b<c>&d]]>".into();
    r.checks[0].outcome = Outcome::NotMet;
    r.checks[0].observed = "PatientName = \u{0}EVIL\u{1b}[31m</failure><injected/>".into();
    r.lab = "lab'\n\"x".into();
    let xml = report::junit(&[r.clone()]);
    let doc = roxmltree::Document::parse(&xml).expect("still well-formed");
    assert!(!doc.descendants().any(|n| n.has_tag_name("injected")));
    let case = doc
        .descendants()
        .find(|n| n.has_tag_name("testcase"))
        .unwrap();
    assert_eq!(case.attribute("name"), Some("a\"b<c>&d]]>"));
    let suite = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .unwrap();
    assert_eq!(suite.attribute("name"), Some("lab'\n\"x"));
    let msg = case
        .children()
        .find(|n| n.has_tag_name("failure"))
        .unwrap()
        .attribute("message")
        .unwrap();
    assert!(
        msg.contains("\\u{0}EVIL\\u{1b}[31m</failure><injected/>"),
        "{msg}"
    );
}

fn sarif_validator() -> jsonschema::Validator {
    let schema: serde_json::Value =
        serde_json::from_slice(&std::fs::read(schemas().join("sarif-schema-2.1.0.json")).unwrap())
            .unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the SARIF schema compiles")
}

fn assert_valid(v: &jsonschema::Validator, doc: &serde_json::Value) {
    let errors: Vec<String> = v
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "SARIF does not validate:\n{}\n{}",
        errors.join("\n"),
        serde_json::to_string_pretty(doc).unwrap()
    );
}

#[test]
fn sarif_is_valid_with_a_rule_per_kind_and_findings_as_results() {
    let (_, pass) = plaintext_run("sarif");
    let bad = hardened_failure(pass.clone());
    let doc = report::sarif(&[pass.clone(), bad.clone()]);
    let v = sarif_validator();
    assert_valid(&v, &doc);

    // The validator does reject what is not SARIF.
    let mut broken = doc.clone();
    broken["runs"][0]["results"][0]["level"] = "catastrophic".into();
    assert!(!v.is_valid(&broken), "the schema is really applied");

    assert_eq!(doc["version"], "2.1.0");
    let runs = doc["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    let driver = &runs[0]["tool"]["driver"];
    assert_eq!(driver["name"], "dicom-range");
    let rule_ids: Vec<&str> = driver["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    for c in &pass.checks {
        assert!(rule_ids.contains(&c.kind.as_str()), "a rule for {}", c.kind);
    }
    for r in driver["rules"].as_array().unwrap() {
        assert!(
            r["shortDescription"]["text"]
                .as_str()
                .is_some_and(|t| !t.is_empty())
        );
        assert!(r["help"]["text"].as_str().is_some_and(|t| !t.is_empty()));
    }

    // Vulnerable lab: its two findings (PHI and DICOM in clear), expected: warnings.
    let findings: Vec<&checks::CheckResult> = pass
        .checks
        .iter()
        .filter(|c| c.finding == Some(true))
        .collect();
    assert_eq!(findings.len(), 2, "{:#?}", pass.checks);
    let results = runs[0]["results"].as_array().unwrap();
    assert_eq!(results.len(), findings.len(), "results only for findings");
    for (res, c) in results.iter().zip(&findings) {
        assert_eq!(res["ruleId"], c.kind.as_str());
        assert_eq!(res["level"], "warning");
        assert_eq!(res["properties"]["mitre"], serde_json::json!(["M1041"]));
        assert_eq!(res["properties"]["expected"], true);
        let loc = &res["locations"][0]["physicalLocation"]["artifactLocation"];
        assert_eq!(loc["uri"], "scenario.yaml");
        assert_eq!(loc["uriBaseId"], report::RUN_DIR_BASE);
        let rule = &driver["rules"][res["ruleIndex"].as_u64().unwrap() as usize];
        assert_eq!(rule["id"], res["ruleId"]);
    }

    // Hardened lab leaking PHI: an error.
    let results = runs[1]["results"].as_array().unwrap();
    let phi = results
        .iter()
        .find(|r| r["ruleId"] == "capture.phi_in_clear")
        .unwrap();
    assert_eq!(phi["level"], "error");
    assert_eq!(phi["properties"]["expected"], false);
    assert_eq!(runs[1]["invocations"][0]["executionSuccessful"], false);
}

#[test]
fn written_sarif_points_at_the_check_line_and_validates() {
    let (dir, r) = plaintext_run("sarif-file");
    common::write_record(&dir, &r).unwrap();
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.sarif")).unwrap()).unwrap();
    assert_valid(&sarif_validator(), &doc);
    let text = std::fs::read_to_string(dir.join("scenario.yaml")).unwrap();
    for res in doc["runs"][0]["results"].as_array().unwrap() {
        let line = res["locations"][0]["physicalLocation"]["region"]["startLine"]
            .as_u64()
            .expect("a line");
        let check = res["properties"]["check"].as_str().unwrap();
        let at = text.lines().nth(line as usize - 1).unwrap();
        assert!(at.contains(&format!("id: {check}")), "line {line}: {at}");
    }
}
