//! The timeline of a capture recorded by a real `lab run plaintext-store`.

use std::path::PathBuf;

fn fixture() -> wire::Analysis {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/plaintext-store.pcapng");
    wire::analyze_file(&path).expect("the fixture decodes")
}

#[test]
fn plaintext_store_shows_the_papers_listings_10_to_13() {
    let a = fixture();
    assert!(a.errors.is_empty(), "{:?}", a.errors);
    assert_eq!(a.dicom_streams, 2);
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
    let rq = a
        .events
        .iter()
        .find(|e| e.stream == 1 && e.label == "A-ASSOCIATE-RQ")
        .unwrap();
    assert_eq!(rq.info, "A-ASSOCIATE request MODALITY --> ORTHANC");
    assert_eq!(
        (rq.calling_aet.as_deref(), rq.called_aet.as_deref()),
        (Some("MODALITY"), Some("ORTHANC"))
    );
    let store = a.events.iter().find(|e| e.label == "C-STORE-RQ").unwrap();
    let dimse = store.dimse.as_ref().unwrap();
    assert_eq!(
        dimse.sop_class_uid.as_deref(),
        Some("1.2.840.10008.5.1.4.1.1.12.1")
    );
    assert_eq!(dimse.message_id, Some(1));
    assert_eq!(store.info, "P-DATA, C-STORE-RQ ID=1");
    let rsp = a
        .events
        .iter()
        .find(|e| e.label == "C-STORE-RSP Success")
        .unwrap();
    assert_eq!(rsp.info, "P-DATA, C-STORE-RSP ID=1 (Success)");
    assert!(rsp.time >= store.time);
}

#[test]
fn plaintext_store_leaks_the_patient_name() {
    let a = fixture();
    let name = a
        .phi
        .iter()
        .find(|p| p.keyword == "PatientName")
        .expect("PatientName in clear");
    assert_eq!(name.value, "DOE^JANE");
    assert_eq!(name.stream, 1);
}
