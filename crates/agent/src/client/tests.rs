use super::*;

#[test]
fn status_names() {
    assert_eq!(status_name(0), "Success");
    assert!(status_is_ok(0xB000));
    assert!(!status_is_ok(0xA700));
    assert!(!status_is_ok(0x0122));
    assert!(status_name(0xC123).starts_with("Error"));
}

#[test]
fn rejection_in_words() {
    use dicom_ul::pdu::AssociationRJServiceUserReason;
    let rj = AssociationRJ {
        result: AssociationRJResult::Permanent,
        source: AssociationRJSource::ServiceUser(
            AssociationRJServiceUserReason::CalledAETitleNotRecognized,
        ),
    };
    assert_eq!(
        describe_rejection(&rj),
        "rejected-permanent by service-user: called AE title not recognized"
    );
}

#[test]
fn find_identifier_has_level_and_keys() {
    let q = FindQuery {
        level: FindLevel::Study,
        keys: vec![(tags::PATIENT_NAME, "DOE*".into())],
        limit: 10,
    };
    let m = to_json_map(&find_identifier(&q));
    assert_eq!(m["QueryRetrieveLevel"], "STUDY");
    assert_eq!(m["PatientName"], "DOE*");
    assert_eq!(m["StudyInstanceUID"], "");
}
