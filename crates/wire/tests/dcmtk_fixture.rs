//! A real exchange recorded on loopback with DCMTK (see tests/fixtures/README.md).

use std::path::Path;
use wire::analyze_file;

fn fixture() -> wire::Analysis {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dcmtk-loopback.pcap");
    analyze_file(&path).expect("fixture analyses")
}

#[test]
fn dcmtk_echo_store_and_refused_association() {
    let a = fixture();
    assert!(a.errors.is_empty(), "{:#?}", a.errors);
    assert_eq!(a.packets, 50);
    assert_eq!(a.dicom_streams, 3);
    assert_eq!(
        a.step_labels_of(0),
        [
            "A-ASSOCIATE-RQ",
            "A-ASSOCIATE-AC",
            "C-ECHO-RQ",
            "C-ECHO-RSP Success",
            "A-RELEASE-RQ",
            "A-RELEASE-RP"
        ]
    );
    assert_eq!(
        a.step_labels_of(1),
        [
            "A-ASSOCIATE-RQ",
            "A-ASSOCIATE-AC",
            "C-STORE-RQ",
            "C-STORE-RSP Success",
            "A-RELEASE-RQ",
            "A-RELEASE-RP"
        ]
    );
    assert_eq!(a.step_labels_of(2), ["A-ASSOCIATE-RQ", "A-ASSOCIATE-RJ"]);

    let rq = &a.events[0];
    assert_eq!(rq.info, "A-ASSOCIATE request MODALITY --> ORTHANC");
    assert_eq!(rq.dst, "127.0.0.1:41104");
    assert!(rq.rel_time >= 0.0 && rq.rel_time < 0.01);

    let store = a
        .events
        .iter()
        .find(|e| e.label == "C-STORE-RQ")
        .and_then(|e| e.dimse.clone())
        .unwrap();
    assert_eq!(
        store.sop_class_uid.as_deref(),
        Some("1.2.840.10008.5.1.4.1.1.7")
    );
    assert_eq!(store.message_id, Some(1));
    assert!(a.events.iter().any(|e| {
        e.stream == 1
            && e.label == "P-DATA"
            && e.info
                .starts_with("P-DATA, Secondary Capture Image Storage")
    }));

    let phi: Vec<(&str, &str)> = a
        .phi
        .iter()
        .map(|p| (p.keyword.as_str(), p.value.as_str()))
        .collect();
    assert_eq!(
        phi,
        [
            ("PatientName", "Doe^Jane"),
            ("PatientID", "PID-0042"),
            ("PatientBirthDate", "19700101"),
            ("PatientSex", "F"),
            ("AccessionNumber", "ACC-7"),
            ("InstitutionName", "Range Hospital"),
            ("ReferringPhysicianName", "House^Gregory"),
            ("StudyDescription", "Angio test"),
        ]
    );
    assert!(a.phi.iter().all(|p| p.stream == 1));

    // serialises for timeline.json and back
    let json = serde_json::to_string(&a).unwrap();
    let back: wire::Analysis = serde_json::from_str(&json).unwrap();
    assert_eq!(back, a);
}
