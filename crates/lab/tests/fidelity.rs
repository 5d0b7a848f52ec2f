//! Fidelity (issue 6, item 5): the paper's own modality (pynetdicom, `impl: pynetdicom`)
//! and lab-agent, each in the same lab against the same Orthanc 1.10.1, put the same DICOM
//! exchange on the wire. Both labs run for real (`lab run`); both captures are read with
//! `wire`; the PDU and DIMSE sequences (PDU types, DIMSE commands, statuses, SOP class) must
//! be equal. What may differ, and is asserted precisely:
//! - how many P-DATA fragments carry the one data set: each sender cuts it at its own
//!   fragment size within the PACS's maximum PDU length, so fragment runs are compared as
//!   one "data set" step, and each side must have at least one;
//! - who the requestor says it is: the A-ASSOCIATE-RQ's implementation class UID and
//!   version name (pynetdicom 2.0.2: 1.2.826.0.1.3680043.9.3811.2.0.2 / PYNETDICOM_202;
//!   lab-agent: dicom-ul's, version name "DICOM-rs ..."), while the PACS's accept names
//!   DCMTK in both (OFFIS_DCMTK_367, Orthanc 1.10.1 on bookworm).
//!
//! Ports, addresses, times, UIDs of instances and lengths are not compared.

use std::path::{Path, PathBuf};

mod common;
use common::{expect_exit, lab, only_run, runs_dir};

/// Runs one lab into its own runs folder; returns its run directory.
fn run(lab_name: &str) -> PathBuf {
    let dir = runs_dir(&format!("fidelity-{lab_name}"));
    let out = lab()
        .args(["run", lab_name, "--runs-dir"])
        .arg(&dir)
        .output()
        .expect("lab binary");
    expect_exit(&out, 0);
    only_run(&dir)
}

/// The exchange as comparable steps: PDU labels, with DIMSE command, status and SOP class
/// for P-DATA commands, and each run of data-set fragments folded into one step. Also
/// returns the fragment count of each folded run.
fn sequence(a: &wire::Analysis) -> (Vec<String>, Vec<usize>) {
    let mut seq: Vec<String> = Vec::new();
    let mut fragments = Vec::new();
    for e in &a.events {
        if e.label == "P-DATA" {
            if seq.last().map(String::as_str) == Some("data set") {
                *fragments.last_mut().unwrap() += 1;
            } else {
                seq.push("data set".into());
                fragments.push(1);
            }
            continue;
        }
        let step = match &e.dimse {
            Some(d) => format!(
                "{} status={:?} sop_class={}",
                d.command,
                d.status_name,
                d.sop_class_uid.as_deref().unwrap_or("-")
            ),
            None => e.label.clone(),
        };
        seq.push(format!("{} [{}]", step, e.pdu));
    }
    (seq, fragments)
}

/// (implementation class UID, implementation version name) items of the A-ASSOCIATE PDUs
/// in a capture, in order: user-information sub-items 0x52 and 0x55 (PS3.8 D.3.3.2-3).
fn implementation_items(capture: &Path) -> Vec<(u8, String)> {
    let bytes = std::fs::read(capture).unwrap();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 4 < bytes.len() {
        let (ty, reserved) = (bytes[i], bytes[i + 1]);
        let len = u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]) as usize;
        if (ty == 0x52 || ty == 0x55)
            && reserved == 0
            && (1..=64).contains(&len)
            && let Some(v) = bytes.get(i + 4..i + 4 + len)
        {
            let text = String::from_utf8_lossy(v)
                .trim_end_matches('\0')
                .to_string();
            let fits = if ty == 0x52 {
                text.len() > 2 && text.chars().all(|c| c.is_ascii_digit() || c == '.')
            } else {
                len <= 16 && text.chars().all(|c| c.is_ascii_graphic() || c == ' ')
            };
            if fits {
                out.push((ty, text));
                i += 4 + len;
                continue;
            }
        }
        i += 1;
    }
    out
}

#[test]
fn pynetdicom_and_lab_agent_put_the_same_exchange_on_the_wire() {
    let agent_run = run("plaintext-store");
    let pyn_run = run("plaintext-store-pynetdicom");
    let agent = wire::analyze_file(&agent_run.join("capture.pcapng")).unwrap();
    let pyn = wire::analyze_file(&pyn_run.join("capture.pcapng")).unwrap();

    let (agent_seq, agent_frags) = sequence(&agent);
    let (pyn_seq, pyn_frags) = sequence(&pyn);
    assert_eq!(
        agent_seq, pyn_seq,
        "the PDU/DIMSE sequences differ\nlab-agent:  {agent_seq:#?}\npynetdicom: {pyn_seq:#?}"
    );
    // The paper's exchange is all there: echo, then one XA store, each on its own
    // association, released.
    let expect_in_order = [
        "A-ASSOCIATE-RQ [A-ASSOCIATE-RQ]",
        "A-ASSOCIATE-AC [A-ASSOCIATE-AC]",
        "C-ECHO-RQ status=None sop_class=1.2.840.10008.1.1 [P-DATA-TF]",
        "C-ECHO-RSP status=Some(\"Success\") sop_class=1.2.840.10008.1.1 [P-DATA-TF]",
        "A-RELEASE-RQ [A-RELEASE-RQ]",
        "A-RELEASE-RP [A-RELEASE-RP]",
        "A-ASSOCIATE-RQ [A-ASSOCIATE-RQ]",
        "A-ASSOCIATE-AC [A-ASSOCIATE-AC]",
        "C-STORE-RQ status=None sop_class=1.2.840.10008.5.1.4.1.1.12.1 [P-DATA-TF]",
        "data set",
        "C-STORE-RSP status=Some(\"Success\") sop_class=1.2.840.10008.5.1.4.1.1.12.1 [P-DATA-TF]",
        "A-RELEASE-RQ [A-RELEASE-RQ]",
        "A-RELEASE-RP [A-RELEASE-RP]",
    ];
    assert_eq!(agent_seq, expect_in_order, "{agent_seq:#?}");
    // Fragmentation of the one data set is the sender's choice: at least one each.
    assert_eq!(agent_frags.len(), 1);
    assert_eq!(pyn_frags.len(), 1);
    assert!(agent_frags[0] >= 1 && pyn_frags[0] >= 1);
    eprintln!(
        "data-set fragments: lab-agent {}, pynetdicom {}",
        agent_frags[0], pyn_frags[0]
    );

    // The same patient data readable in both.
    let names = |a: &wire::Analysis| {
        let mut v: Vec<String> = a
            .phi
            .iter()
            .filter(|p| p.keyword == "PatientName")
            .map(|p| p.value.clone())
            .collect();
        v.dedup();
        v
    };
    assert_eq!(names(&agent), vec!["DOE^JANE".to_string()]);
    assert_eq!(names(&pyn), names(&agent));

    // Where they legitimately differ: who says it is speaking.
    let pyn_ids = implementation_items(&pyn_run.join("capture.pcapng"));
    let agent_ids = implementation_items(&agent_run.join("capture.pcapng"));
    let requestor = |ids: &[(u8, String)]| -> (String, String) {
        let uid = ids.iter().find(|(t, _)| *t == 0x52).map(|(_, v)| v.clone());
        let name = ids.iter().find(|(t, _)| *t == 0x55).map(|(_, v)| v.clone());
        (uid.unwrap_or_default(), name.unwrap_or_default())
    };
    assert_eq!(
        requestor(&pyn_ids),
        (
            "1.2.826.0.1.3680043.9.3811.2.0.2".to_string(),
            "PYNETDICOM_202".to_string()
        ),
        "{pyn_ids:?}"
    );
    let (agent_uid, agent_name) = requestor(&agent_ids);
    assert!(agent_name.starts_with("DICOM-rs"), "{agent_ids:?}");
    assert_ne!(agent_uid, requestor(&pyn_ids).0);
    // The PACS answers both as DCMTK (Orthanc 1.10.1 on bookworm).
    for ids in [&pyn_ids, &agent_ids] {
        assert!(
            ids.iter()
                .any(|(t, v)| *t == 0x55 && v == "OFFIS_DCMTK_367"),
            "{ids:?}"
        );
    }
}
