mod common;

use common::*;
use dicom_ul::pdu::Pdu;
use wire::{IssueKind, analyze_bytes, analyze_file, render_table};

const STORE_STEPS: [&str; 6] = [
    "A-ASSOCIATE-RQ",
    "A-ASSOCIATE-AC",
    "C-STORE-RQ",
    "C-STORE-RSP Success",
    "A-RELEASE-RQ",
    "A-RELEASE-RP",
];

fn phi_value<'a>(a: &'a wire::Analysis, keyword: &str) -> Option<&'a str> {
    a.phi
        .iter()
        .find(|p| p.keyword == keyword)
        .map(|p| p.value.as_str())
}

#[test]
fn full_store_association() {
    let conv = store_conversation(50123, 104, "Doe^Jane");
    let a = analyze_bytes(&write_pcap(&conv.frames)).unwrap();
    assert!(a.errors.is_empty(), "{:#?}", a.errors);
    assert_eq!(a.packets, conv.frames.len() as u64);
    assert_eq!(a.dicom_streams, 1);
    assert_eq!(a.step_labels(), STORE_STEPS);
    // all events including the three data-set P-DATA PDUs (40 KB in 16 KB PDVs)
    let labels: Vec<&str> = a.events.iter().map(|e| e.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "A-ASSOCIATE-RQ",
            "A-ASSOCIATE-AC",
            "C-STORE-RQ",
            "P-DATA",
            "P-DATA",
            "P-DATA",
            "C-STORE-RSP Success",
            "A-RELEASE-RQ",
            "A-RELEASE-RP"
        ]
    );
    let rq = &a.events[0];
    assert_eq!(rq.info, "A-ASSOCIATE request MODALITY --> ORTHANC");
    assert_eq!(rq.calling_aet.as_deref(), Some("MODALITY"));
    assert_eq!(rq.called_aet.as_deref(), Some("ORTHANC"));
    assert_eq!(rq.src, "127.0.0.1:50123");
    assert_eq!(rq.dst, "127.0.0.1:104");
    assert_eq!(rq.pdu, "A-ASSOCIATE-RQ");
    assert_eq!(a.events[1].info, "A-ASSOCIATE accept");
    assert_eq!(a.events[1].src, "127.0.0.1:104");
    assert_eq!(a.events[2].info, "P-DATA, C-STORE-RQ ID=1");
    let d = a.events[2].dimse.as_ref().unwrap();
    assert_eq!(d.command, "C-STORE-RQ");
    assert_eq!(d.message_id, Some(1));
    assert_eq!(d.sop_class_uid.as_deref(), Some(XA_STORAGE));
    assert_eq!(d.sop_instance_uid.as_deref(), Some(SOP_INSTANCE));
    assert_eq!(
        a.events[3].info,
        "P-DATA, X-Ray Angiographic Image Storage Fragment"
    );
    assert_eq!(
        a.events[5].info,
        "P-DATA, X-Ray Angiographic Image Storage Last Fragment"
    );
    assert_eq!(a.events[6].info, "P-DATA, C-STORE-RSP ID=1 (Success)");
    let rsp = a.events[6].dimse.as_ref().unwrap();
    assert_eq!((rsp.responded_id, rsp.status), (Some(1), Some(0)));
    assert_eq!(rsp.status_name.as_deref(), Some("Success"));
    assert_eq!(a.events[7].info, "A-RELEASE request");
    assert_eq!(a.events[8].info, "A-RELEASE response");
    assert!(a.events.iter().all(|e| e.stream == 0 && e.pdu != "TLS"));
    // times: absolute from the packets, relative to the first packet, non-decreasing
    assert!((a.events[0].time - 1_700_000_000.001).abs() < 1e-6);
    assert!((a.events[0].rel_time - 0.00075).abs() < 1e-9);
    assert!(a.events.windows(2).all(|w| w[0].time <= w[1].time));
    // PHI in clear
    assert_eq!(phi_value(&a, "PatientName"), Some("Doe^Jane"));
    assert_eq!(phi_value(&a, "PatientID"), Some("PID-42"));
    assert_eq!(phi_value(&a, "PatientBirthDate"), Some("19700101"));
    assert_eq!(phi_value(&a, "PatientSex"), Some("F"));
    assert_eq!(phi_value(&a, "AccessionNumber"), Some("ACC123"));
    assert_eq!(phi_value(&a, "InstitutionName"), Some("General Hospital"));
    assert_eq!(phi_value(&a, "StudyDescription"), None);
    assert_eq!(a.phi.len(), 6);
    // PHI time is that of the packet completing the data set (the last data-set PDU)
    assert_eq!(a.phi[0].time, a.events[5].time);
}

#[test]
fn out_of_order_and_retransmitted_segments_give_the_same_result() {
    let conv = store_conversation(50124, 104, "Doe^Jane");
    let reference = analyze_bytes(&write_pcap(&conv.frames)).unwrap();
    let mut frames = conv.frames.clone();
    // swap pairs of frames in the middle (the data set), duplicate a few, and re-send an
    // overlapping copy of one segment
    for i in (8..frames.len() - 12).step_by(5) {
        frames.swap(i, i + 1);
    }
    let dup: Vec<_> = [10usize, 20, 30]
        .iter()
        .map(|&i| frames[i].clone())
        .collect();
    for (k, f) in dup.into_iter().enumerate() {
        frames.insert(12 + k * 11, f);
    }
    // a segment that arrives twice late, after everything else of its direction
    let late = frames[15].clone();
    let pos = frames.len() - 4;
    frames.insert(pos, late);
    let a = analyze_bytes(&write_pcap(&frames)).unwrap();
    assert!(a.errors.is_empty(), "{:#?}", a.errors);
    assert_eq!(a.step_labels(), STORE_STEPS);
    assert_eq!(a.step_labels(), reference.step_labels());
    assert_eq!(a.phi.len(), reference.phi.len());
    assert_eq!(phi_value(&a, "PatientName"), Some("Doe^Jane"));
}

#[test]
fn dicom_on_a_non_standard_port_and_two_streams() {
    let c1 = store_conversation(40000, 31337, "First^Patient");
    let mut c2 = store_conversation(40001, 8443, "Second^Patient");
    // second conversation later in time
    for f in &mut c2.frames {
        f.time += std::time::Duration::from_secs(1);
    }
    let mut frames = c1.frames.clone();
    frames.extend(c2.frames);
    let a = analyze_bytes(&write_pcap(&frames)).unwrap();
    assert!(a.errors.is_empty(), "{:#?}", a.errors);
    assert_eq!(a.dicom_streams, 2);
    assert_eq!(a.step_labels_of(0), STORE_STEPS);
    assert_eq!(a.step_labels_of(1), STORE_STEPS);
    assert_eq!(a.events.last().unwrap().dst, "127.0.0.1:40001");
    let names: Vec<(u32, &str)> = a
        .phi
        .iter()
        .filter(|p| p.keyword == "PatientName")
        .map(|p| (p.stream, p.value.as_str()))
        .collect();
    assert_eq!(names, [(0, "First^Patient"), (1, "Second^Patient")]);
}

#[test]
fn rejected_association() {
    let mut c = Conversation::new(50200, 11112);
    c.handshake();
    c.send(true, &pdu_bytes(&associate_rq("MODALITY", "WRONG_AE")));
    c.send(false, &pdu_bytes(&associate_rj()));
    c.close();
    let a = analyze_bytes(&write_pcap(&c.frames)).unwrap();
    assert!(a.errors.is_empty(), "{:#?}", a.errors);
    assert_eq!(a.step_labels(), ["A-ASSOCIATE-RQ", "A-ASSOCIATE-RJ"]);
    let rj = &a.events[1];
    assert_eq!(rj.pdu, "A-ASSOCIATE-RJ");
    assert!(
        rj.info
            .starts_with("A-ASSOCIATE reject (rejected-permanent"),
        "{}",
        rj.info
    );
    assert_eq!(rj.called_aet.as_deref(), Some("WRONG_AE"));
    assert!(a.phi.is_empty());
}

#[test]
fn echo_and_failed_store_status_names() {
    let mut c = Conversation::new(50300, 4242);
    c.handshake();
    c.send(true, &pdu_bytes(&associate_rq("SCU", "SCP")));
    c.send(false, &pdu_bytes(&associate_ac("SCU", "SCP")));
    for p in pdata(1, true, &store_rq_command(7), 100) {
        c.send(true, &p); // command set split over several PDVs / PDUs
    }
    for p in pdata(1, false, &xa_dataset("X^Y", 10), 16_000) {
        c.send(true, &p);
    }
    for p in pdata(1, true, &store_rsp_command(7, 0xA700), 16_000) {
        c.send(false, &p);
    }
    for p in pdata(1, true, &store_rsp_command(7, 0xD123), 16_000) {
        c.send(false, &p);
    }
    c.send(
        true,
        &pdu_bytes(&Pdu::AbortRQ {
            source: dicom_ul::pdu::AbortRQSource::ServiceUser,
        }),
    );
    let a = analyze_bytes(&write_pcap(&c.frames)).unwrap();
    assert!(a.errors.is_empty(), "{:#?}", a.errors);
    assert_eq!(
        a.step_labels(),
        [
            "A-ASSOCIATE-RQ",
            "A-ASSOCIATE-AC",
            "C-STORE-RQ",
            "C-STORE-RSP Refused: Out of Resources",
            "C-STORE-RSP 0xD123",
            "A-ABORT"
        ]
    );
    let frag = a
        .events
        .iter()
        .find(|e| e.info == "P-DATA, Command Fragment")
        .expect("command fragment event");
    assert_eq!(frag.label, "P-DATA");
    assert!(
        a.events
            .iter()
            .any(|e| e.info == "P-DATA, C-STORE-RSP ID=7 (0xD123)")
    );
}

#[test]
fn garbage_and_absurd_lengths_become_errors() {
    // 1. a non-DICOM stream (HTTP-like) is ignored silently
    let mut http = Conversation::new(50400, 80);
    http.handshake();
    http.send(true, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    // 2. DICOM stream: valid RQ, then a PDU header with an invalid type
    let mut bad_type = Conversation::new(50401, 104);
    bad_type.handshake();
    let rq = pdu_bytes(&associate_rq("A", "B"));
    bad_type.send(true, &rq);
    bad_type.send(true, &[0x09, 0x00, 0, 0, 0, 4, 1, 2, 3, 4]);
    // 3. DICOM stream: AC then a P-DATA claiming ~4 GiB, then nothing
    let mut absurd = Conversation::new(50402, 104);
    absurd.handshake();
    absurd.send(true, &pdu_bytes(&associate_rq("A", "B")));
    absurd.send(false, &pdu_bytes(&associate_ac("A", "B")));
    absurd.send(
        true,
        &[0x04, 0x00, 0xFF, 0xFF, 0xFF, 0xF0, 0, 0, 0, 9, 1, 3],
    );
    // 4. a PDU that is framed right but does not decode (A-ABORT with bad source)
    absurd.send(false, &[0x07, 0x00, 0, 0, 0, 4, 0, 0, 9, 9]);
    // 5. a data set whose element length lies (claims 0xFFFFFFF0 bytes)
    let mut liar = Conversation::new(50403, 104);
    liar.handshake();
    liar.send(true, &pdu_bytes(&associate_rq("A", "B")));
    liar.send(false, &pdu_bytes(&associate_ac("A", "B")));
    let mut ds = xa_dataset("Liar^Len", 4);
    // PatientName is after InstitutionName; corrupt the first element's length instead
    ds[6..8].copy_from_slice(&[0xFF, 0xFF]);
    for p in pdata(1, false, &ds, 16_000) {
        liar.send(true, &p);
    }
    let mut frames = http.frames.clone();
    frames.extend(bad_type.frames.clone());
    frames.extend(absurd.frames.clone());
    frames.extend(liar.frames.clone());
    let mut pcap = write_pcap(&frames);
    // 6. truncated last record
    pcap.extend_from_slice(&[0x01, 0x02, 0x03]);
    let a = analyze_bytes(&pcap).unwrap();

    assert_eq!(a.dicom_streams, 3);
    let by_stream = |s: u32| -> Vec<&wire::WireIssue> {
        a.errors.iter().filter(|e| e.stream == Some(s)).collect()
    };
    assert!(by_stream(0).is_empty(), "http stream: {:#?}", by_stream(0));
    let s1 = by_stream(1);
    assert_eq!(s1.len(), 1, "{s1:#?}");
    assert_eq!(s1[0].kind, IssueKind::Pdu);
    assert_eq!(s1[0].offset, Some(rq.len() as u64));
    assert!(
        s1[0].message.contains("invalid PDU header"),
        "{}",
        s1[0].message
    );
    assert_eq!(
        s1[0].direction.as_deref(),
        Some("127.0.0.1:50401 -> 127.0.0.1:104")
    );
    let s2 = by_stream(2);
    assert!(
        s2.iter()
            .any(|e| e.kind == IssueKind::Pdu && e.message.contains("claims 4294967280 bytes")),
        "{s2:#?}"
    );
    assert!(
        s2.iter()
            .any(|e| e.kind == IssueKind::Pdu && e.message.contains("does not decode")),
        "{s2:#?}"
    );
    let s3 = by_stream(3);
    assert!(s3.iter().any(|e| e.kind == IssueKind::Dataset), "{s3:#?}");
    assert!(phi_value(&a, "PatientName").is_none());
    assert!(a.errors.iter().any(|e| e.kind == IssueKind::Capture));
    // the valid PDUs before the garbage are still there
    assert_eq!(a.step_labels_of(1), ["A-ASSOCIATE-RQ"]);
    assert_eq!(a.step_labels_of(2), ["A-ASSOCIATE-RQ", "A-ASSOCIATE-AC"]);
}

#[test]
fn not_a_capture_is_an_error() {
    assert!(matches!(
        analyze_bytes(b"hello world"),
        Err(wire::WireError::UnknownFormat(_))
    ));
    assert!(analyze_bytes(b"").is_err());
    // a pcap magic with a cut header
    assert!(matches!(
        analyze_bytes(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0]),
        Err(wire::WireError::BadHeader { .. })
    ));
    let missing = std::path::Path::new("/nonexistent/capture.pcap");
    assert!(matches!(
        analyze_file(missing),
        Err(wire::WireError::Io { .. })
    ));
}

#[test]
fn pcapng_with_nanosecond_timestamps() {
    let conv = store_conversation(50500, 104, "Ng^Patient");
    let ng = write_pcapng(&conv.frames);
    let a = analyze_bytes(&ng).unwrap();
    assert!(a.errors.is_empty(), "{:#?}", a.errors);
    assert_eq!(a.step_labels(), STORE_STEPS);
    assert_eq!(phi_value(&a, "PatientName"), Some("Ng^Patient"));
    let p = analyze_bytes(&write_pcap(&conv.frames)).unwrap();
    for (x, y) in a.events.iter().zip(&p.events) {
        assert!((x.time - y.time).abs() < 1e-6);
        assert!((x.rel_time - y.rel_time).abs() < 1e-9);
    }
    // from a file too, and rendered
    let path = std::env::temp_dir().join(format!("wire-test-{}.pcapng", std::process::id()));
    std::fs::write(&path, &ng).unwrap();
    let f = analyze_file(&path).unwrap();
    std::fs::remove_file(&path).ok();
    assert_eq!(f, a);
    let table = render_table(&f);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), f.events.len());
    assert!(lines[0].contains("0.000750"), "{}", lines[0]);
    assert!(
        lines[0].contains("127.0.0.1:50500 -> 127.0.0.1:104")
            && lines[0].ends_with("A-ASSOCIATE request MODALITY --> ORTHANC"),
        "{}",
        lines[0]
    );
    assert!(lines[0].trim_start().starts_with("1 "));
}

#[test]
fn capture_starting_mid_association() {
    let conv = store_conversation(50600, 104, "Mid^Stream");
    // drop the handshake and the association negotiation: start at the C-STORE-RQ
    let a_full = analyze_bytes(&write_pcap(&conv.frames)).unwrap();
    let skip = 5; // SYN, SYN-ACK, ACK, RQ, AC
    let a = analyze_bytes(&write_pcap(&conv.frames[skip..])).unwrap();
    assert!(a.errors.is_empty(), "{:#?}", a.errors);
    assert_eq!(&a.step_labels()[..], &a_full.step_labels()[2..]);
    // transfer syntax unknown: guessed from the data set encoding
    assert_eq!(phi_value(&a, "PatientName"), Some("Mid^Stream"));
    // and starting in the middle of the data set: the data set is lost, the rest is not
    let a = analyze_bytes(&write_pcap(&conv.frames[8..])).unwrap();
    assert!(
        a.step_labels()
            .ends_with(&["C-STORE-RSP Success", "A-RELEASE-RQ", "A-RELEASE-RP"])
    );
}

#[test]
fn tls_is_noticed_not_decoded() {
    let mut c = Conversation::new(50700, 2762);
    c.handshake();
    let mut hello = vec![0x16, 0x03, 0x01, 0x00, 0x40, 0x01];
    hello.extend(vec![0u8; 0x3f]);
    c.send(true, &hello);
    let mut server_hello = vec![0x16, 0x03, 0x03, 0x00, 0x10, 0x02];
    server_hello.extend(vec![0u8; 0x0f]);
    c.send(false, &server_hello);
    // application data that happens to look like a PDU must not be decoded
    c.send(true, &pdu_bytes(&Pdu::ReleaseRQ));
    let a = analyze_bytes(&write_pcap(&c.frames)).unwrap();
    assert_eq!(a.events.len(), 1);
    assert_eq!(a.events[0].pdu, "TLS");
    assert_eq!(a.events[0].label, "TLS");
    assert_eq!(a.events[0].info, "TLS handshake");
    assert_eq!(a.dicom_streams, 0);
    assert!(a.errors.is_empty());
}

#[test]
fn big_single_pdu_over_many_segments() {
    let mut c = Conversation::new(50800, 104);
    c.mss = 1460;
    c.handshake();
    c.send(true, &pdu_bytes(&associate_rq("A", "B")));
    c.send(false, &pdu_bytes(&associate_ac("A", "B")));
    for p in pdata(1, true, &store_rq_command(1), 1 << 20) {
        c.send(true, &p);
    }
    for p in pdata(1, false, &xa_dataset("Big^Pdu", 600_000), 1 << 20) {
        c.send(true, &p);
    }
    let a = analyze_bytes(&write_pcap(&c.frames)).unwrap();
    assert!(a.errors.is_empty(), "{:#?}", a.errors);
    assert_eq!(phi_value(&a, "PatientName"), Some("Big^Pdu"));
    assert_eq!(a.events.last().unwrap().label, "P-DATA");
}

fn write_pcap_linktype(frames: &[Frame], link: pcap_file::DataLink) -> Vec<u8> {
    let header = pcap_file::pcap::PcapHeader {
        datalink: link,
        ..Default::default()
    };
    let mut w = pcap_file::pcap::PcapWriter::with_header(Vec::new(), header).unwrap();
    for f in frames {
        w.write_packet(&pcap_file::pcap::PcapPacket::new(
            f.time,
            f.data.len() as u32,
            &f.data,
        ))
        .unwrap();
    }
    w.into_writer()
}

#[test]
fn linux_sll_sll2_and_raw_ip_link_types() {
    use pcap_file::DataLink;
    let conv = store_conversation(50900, 104, "Link^Types");
    // the Ethernet frames without their 14-byte Ethernet header
    let ip: Vec<Frame> = conv
        .frames
        .iter()
        .map(|f| Frame {
            time: f.time,
            data: f.data[14..].to_vec(),
        })
        .collect();
    let with_prefix = |prefix: &[u8]| -> Vec<Frame> {
        ip.iter()
            .map(|f| {
                let mut data = prefix.to_vec();
                data.extend(&f.data);
                Frame { time: f.time, data }
            })
            .collect()
    };
    // SLL: packet type, ARPHRD, address length, address (8), protocol
    let sll = [0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00];
    // SLL2: protocol, reserved, ifindex, ARPHRD, packet type, address length, address (8)
    let sll2 = [
        0x08, 0x00, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0,
    ];
    let cases = [
        (DataLink::RAW, ip.clone()),
        (DataLink::IPV4, ip.clone()),
        (DataLink::LINUX_SLL, with_prefix(&sll)),
        (DataLink::LINUX_SLL2, with_prefix(&sll2)),
        (DataLink::NULL, with_prefix(&2u32.to_le_bytes())),
    ];
    for (link, frames) in cases {
        let a = analyze_bytes(&write_pcap_linktype(&frames, link)).unwrap();
        assert!(a.errors.is_empty(), "{link:?}: {:#?}", a.errors);
        assert_eq!(a.step_labels(), STORE_STEPS, "{link:?}");
        assert_eq!(phi_value(&a, "PatientName"), Some("Link^Types"), "{link:?}");
    }
    // an unsupported link type is reported once, not fatal
    let a = analyze_bytes(&write_pcap_linktype(&ip, DataLink::USB_LINUX)).unwrap();
    assert_eq!(a.errors.len(), 1);
    assert_eq!(a.packets, ip.len() as u64);
    assert!(a.errors[0].message.contains("unsupported link type"));
    assert!(a.events.is_empty());
}

#[test]
fn sequences_nested_ten_thousand_deep_are_an_issue_not_a_crash() {
    // Before the nesting limit this overflowed the stack (an abort, exit 134) inside
    // dicom-object; it runs on a small stack so a regression fails here, not by luck.
    let capture = wire::fuzzing::deep_nesting_capture(10_000);
    let a = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || analyze_bytes(&capture).unwrap())
        .unwrap()
        .join()
        .unwrap();
    let labels: Vec<&str> = a.events.iter().map(|e| e.label.as_str()).collect();
    assert!(labels.contains(&"C-STORE-RQ"), "{labels:?}");
    assert!(labels.contains(&"C-STORE-RSP Success"), "{labels:?}");
    let issue = a
        .errors
        .iter()
        .find(|e| e.message.contains("nest deeper than 64"))
        .unwrap_or_else(|| panic!("no nesting issue in {:#?}", a.errors));
    assert!(issue.message.contains("offset"), "{issue:?}");
    // the PHI before the deep part is not read from a data set that could not be checked
    assert!(a.phi.is_empty(), "{:?}", a.phi);
}

#[test]
fn nesting_at_the_limit_is_read() {
    // 31 sequence+item pairs are 62 levels: within the limit, parsed, PHI found
    let a = analyze_bytes(&wire::fuzzing::deep_nesting_capture(31)).unwrap();
    assert!(a.errors.is_empty(), "{:#?}", a.errors);
    assert_eq!(phi_value(&a, "PatientName"), Some("Doe^Deep"));
}
