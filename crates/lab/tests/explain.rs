//! `lab explain`: what a student reads, and whether the Wireshark filters it prints work.
//! The filters are checked on real captures of the labs with tshark (Wireshark's own
//! dissectors and filter compiler): each must compile and keep at least one packet.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

fn explain_json(lab_name: &str) -> serde_json::Value {
    let out = lab()
        .args(["explain", "--json", lab_name])
        .output()
        .unwrap();
    serde_json::from_str(&expect_exit(&out, 0)).unwrap()
}

#[test]
fn explain_tells_a_lab_without_the_docs() {
    let out = lab().args(["explain", "plaintext-store"]).output().unwrap();
    let text = expect_exit(&out, 0);
    for part in [
        "plaintext-store: A modality sends an X-ray angiogram to the PACS in clear text",
        "MITRE M1041",
        "Nodes:",
        "the PACS: Orthanc 1.10.1, AE title ORTHANC, DICOM port 4242, plain DICOM",
        "captures every packet of network clinical into capture.pcapng",
        "1. modality: C-ECHO to pacs",
        "2. modality: C-STORE of 1 synthetic XA image(s) (jpeg-baseline, patient DOE^JANE) to pacs",
        "In Wireshark",
        "dicom contains \"DOE^JANE\"",
        "dicom.tag == 0x00100010",
        "(needs the preference dicom.tag_tree = TRUE",
        "Expand:",
        "phi-visible (capture.phi_in_clear), MITRE M1041",
        "The patient's name can be read from the capture",
        "expected here: readable, the weakness shows",
    ] {
        assert!(text.contains(part), "no `{part}` in:\n{text}");
    }
    // The lab's own section, not the derived hints.
    assert!(!text.contains("hints derived"), "{text}");

    // A lab without a section gets hints from its nodes: a REST attack shows HTTP.
    let e = explain_json("rest-open");
    assert_eq!(e["wireshark_derived"], true);
    let filters: Vec<&str> = e["wireshark"]["filters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["filter"].as_str().unwrap())
        .collect();
    assert!(
        filters.contains(&"http.request") && filters.contains(&"dicom"),
        "{filters:?}"
    );
    // A TLS lab's derived hints are about TLS, not DICOM in clear.
    let e = explain_json("tls-tamper-proof");
    let text = e["wireshark"].to_string();
    assert!(
        text.contains("tls.handshake.type == 1") && !text.contains("\"dicom\""),
        "{text}"
    );
}

#[test]
fn explain_hides_an_exercises_hidden_checks_and_shows_points() {
    let e = explain_json("turn-on-dicom-tls");
    let ids: Vec<&str> = e["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(!ids.is_empty(), "{e}");
    // `no-plaintext-service` is the exercise's hidden check; `phi-hidden` a public one.
    assert!(ids.contains(&"phi-hidden"), "{ids:?}");
    assert!(
        !ids.contains(&"no-plaintext-service"),
        "a hidden check is shown: {ids:?}"
    );
    assert!(
        e["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["points"].as_u64() > Some(0)),
        "{e}"
    );
    assert!(e["brief"].as_str().is_some_and(|b| !b.is_empty()), "{e}");
    let out = lab()
        .args(["explain", "turn-on-dicom-tls"])
        .output()
        .unwrap();
    let text = expect_exit(&out, 0);
    assert!(
        text.contains("Your task:") && text.contains("point(s)"),
        "{text}"
    );
    assert!(!text.contains("no-plaintext-service"), "{text}");

    let out = lab().args(["explain", "no-such-lab"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(err.contains("no lab named `no-such-lab`"), "{err}");
}

/// The packets `filter` keeps in `capture`, by tshark (with the preference the filter
/// needs); an error when it does not compile.
fn tshark_count(capture: &Path, filter: &str, preference: Option<&str>) -> Result<usize, String> {
    let mut tshark = Command::new("tshark");
    if let Some(p) = preference {
        tshark.args(["-o", p]);
    }
    let out = tshark
        .arg("-r")
        .arg(capture)
        .args(["-Y", filter, "-T", "fields", "-e", "frame.number"])
        .output()
        .map_err(|e| format!("tshark: {e} (scripts/install-prereqs.sh installs it)"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    Ok(String::from_utf8_lossy(&out.stdout).lines().count())
}

#[test]
fn every_filter_explain_prints_keeps_packets_of_the_labs_capture() {
    // The four labs with their own `wireshark:` section and two with derived hints (REST in
    // clear, DICOM TLS).
    let labs = [
        "plaintext-store",
        "tls-store",
        "proxy-tamper",
        "aet-any-accepted",
        "rest-open",
        "tls-tamper-proof",
    ];
    let dir = runs_dir("explain-filters");
    let mut args = vec!["test", "-j", "2"];
    args.extend(labs);
    let out = lab_in(&dir, &args);
    expect_exit(&out, 0);
    let mut failures = Vec::new();
    let mut checked = 0;
    for run in runs_in(&dir) {
        let name = report(&run)["lab"]
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| panic!("no lab name in {}", run.display()));
        let capture = run.join("capture.pcapng");
        assert!(capture.is_file(), "{}", capture.display());
        let e = explain_json(&name);
        for f in e["wireshark"]["filters"].as_array().unwrap() {
            let filter = f["filter"].as_str().unwrap();
            checked += 1;
            match tshark_count(&capture, filter, f["preference"].as_str()) {
                Ok(0) => failures.push(format!("{name}: `{filter}` keeps no packet")),
                Ok(_) => {}
                Err(e) => failures.push(format!("{name}: `{filter}`: {e}")),
            }
        }
    }
    assert!(checked >= 25, "only {checked} filters checked");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The check itself can fail: tshark refuses a filter Wireshark does not know.
    let plaintext = runs_in(&dir)
        .into_iter()
        .find(|r| report(r)["lab"] == "plaintext-store")
        .unwrap();
    let capture = plaintext.join("capture.pcapng");
    assert!(tshark_count(&capture, "dicom.no_such_field == 1", None).is_err());
    // ... and the preference matters: without it no DICOM tag is a field.
    assert_eq!(tshark_count(&capture, "dicom.tag", None), Ok(0));
}
