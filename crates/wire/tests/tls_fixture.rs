//! A real TLS capture (DCMTK 3.6.7 over OpenSSL 3, and openssl s_client with SNI, see
//! tests/fixtures/README.md): the timeline says what was negotiated, no DICOM is read.

use std::path::Path;

#[test]
fn dcmtk_tls_echo_and_openssl_client_with_sni() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dcmtk-tls.pcap");
    let a = wire::analyze_file(&path).unwrap();
    assert!(a.errors.is_empty(), "{:#?}", a.errors);
    assert_eq!(a.dicom_streams, 0, "nothing readable as DICOM");
    assert!(a.phi.is_empty());
    assert!(a.associations.is_empty());
    let timeline: Vec<(u32, &str)> = a
        .events
        .iter()
        .map(|e| (e.stream, e.info.as_str()))
        .collect();
    assert_eq!(
        timeline,
        [
            (0, "TLS ClientHello versions=TLS1.3,TLS1.2"),
            (0, "TLS ServerHello TLS1.3 TLS_AES_256_GCM_SHA384"),
            (
                1,
                "TLS ClientHello SNI=pacs versions=TLS1.3,TLS1.2,TLS1.1,TLS1.0"
            ),
            (1, "TLS HelloRetryRequest TLS1.3 TLS_AES_256_GCM_SHA384"),
            (1, "TLS ServerHello TLS1.3 TLS_AES_256_GCM_SHA384"),
        ]
    );
    assert!(a.events.iter().all(|e| e.pdu == "TLS" && e.label == "TLS"));
    assert_eq!(a.events[0].src, "127.0.0.1:50286");
    assert_eq!(a.events[1].src, "127.0.0.1:41112");
}
