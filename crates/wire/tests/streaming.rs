//! Streaming reading, connection life cycle, association summaries, TLS hellos and the
//! JSON lines output.

mod common;

use common::*;
use dicom_ul::pdu::Pdu;
use std::io::Read;
use wire::{Analysis, analyze_bytes, analyze_reader};

/// A reader handing out 1 to 7 bytes per call: every record straddles reads.
struct Dribble<'a> {
    data: &'a [u8],
    n: usize,
}

impl Read for Dribble<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.n = self.n % 7 + 1;
        let k = self.n.min(buf.len()).min(self.data.len());
        buf[..k].copy_from_slice(&self.data[..k]);
        self.data = &self.data[k..];
        Ok(k)
    }
}

fn analyze_dribbled(data: &[u8]) -> (Analysis, wire::Totals) {
    let mut a = Analysis::default();
    let t = analyze_reader(Dribble { data, n: 0 }, &mut a).unwrap();
    a.packets = t.packets;
    a.dicom_streams = t.dicom_streams;
    (a, t)
}

#[test]
fn reading_in_tiny_pieces_gives_the_same_analysis() {
    let conv = store_conversation(50123, 104, "Doe^Jane");
    for file in [write_pcap(&conv.frames), write_pcapng(&conv.frames)] {
        let whole = analyze_bytes(&file).unwrap();
        let (dribbled, _) = analyze_dribbled(&file);
        assert_eq!(dribbled, whole);
        assert_eq!(whole.step_labels().len(), 6);
        // a truncated file: the complete records are analysed, the last one is an issue
        let cut = &file[..file.len() - 10];
        let (a, _) = analyze_dribbled(cut);
        assert_eq!(a.packets, conv.frames.len() as u64 - 1);
        assert!(
            a.errors
                .iter()
                .any(|e| e.message.contains("truncated file")),
            "{:#?}",
            a.errors
        );
    }
}

#[test]
fn association_summary_of_a_store() {
    let conv = store_conversation(50123, 104, "Doe^Jane");
    let (a, totals) = analyze_dribbled(&write_pcap(&conv.frames));
    assert_eq!(
        totals.streams, 1,
        "the last ACK after both FINs is no new stream"
    );
    assert_eq!(a.associations.len(), 1);
    let s = &a.associations[0];
    assert_eq!(s.stream, 0);
    assert_eq!(s.outcome, "released");
    assert!(!s.partial);
    assert_eq!(s.client, "127.0.0.1:50123");
    assert_eq!(s.server, "127.0.0.1:104");
    assert_eq!(s.calling_aet.as_deref(), Some("MODALITY"));
    assert_eq!(s.called_aet.as_deref(), Some("ORTHANC"));
    let counts: Vec<(&str, u64)> = s.pdu_counts.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(
        counts,
        [
            ("A-ASSOCIATE-AC", 1),
            ("A-ASSOCIATE-RQ", 1),
            ("A-RELEASE-RP", 1),
            ("A-RELEASE-RQ", 1),
            ("P-DATA-TF", 5),
        ]
    );
    assert_eq!((s.pdus_from_client, s.pdus_from_server), (6, 3));
    // every byte each side sent on the connection is a PDU byte
    let mut sent = [0u64; 2];
    for f in &conv.frames {
        let p = etherparse::SlicedPacket::from_ethernet(&f.data).unwrap();
        let Some(etherparse::TransportSlice::Tcp(t)) = p.transport else {
            continue;
        };
        sent[usize::from(t.source_port() == 104)] += t.payload().len() as u64;
    }
    assert_eq!(
        (s.bytes_from_client, s.bytes_from_server),
        (sent[0], sent[1])
    );
    // duration from the A-ASSOCIATE-RQ to the A-RELEASE-RP
    let first = &a.events[0];
    let last = a.events.last().unwrap();
    assert_eq!(s.start, first.time);
    assert_eq!(s.end, last.time);
    assert!((s.duration - (last.time - first.time)).abs() < 1e-6);
    // C-STORE latency: from the request command to its response
    let rq = a.events.iter().find(|e| e.label == "C-STORE-RQ").unwrap();
    let rsp = a
        .events
        .iter()
        .find(|e| e.label == "C-STORE-RSP Success")
        .unwrap();
    assert_eq!(s.dimse.len(), 1);
    let t = &s.dimse[0];
    assert_eq!((t.command.as_str(), t.message_id), ("C-STORE", 1));
    assert_eq!(t.status_name.as_deref(), Some("Success"));
    let expected = rsp.time - rq.time;
    assert!(expected > 0.0);
    assert!((t.latency.unwrap() - expected).abs() < 1e-6);
    assert_eq!(s.latency.len(), 1);
    assert_eq!((s.latency[0].requests, s.latency[0].answered), (1, 1));
    assert_eq!(s.latency[0].min, t.latency);
    assert_eq!(s.unanswered, 0);
    // events know their PDU: the three data-set P-DATA PDUs have distinct offsets
    let mut offsets: Vec<u64> = a
        .events
        .iter()
        .filter(|e| e.label == "P-DATA")
        .map(|e| e.pdu_offset)
        .collect();
    offsets.dedup();
    assert_eq!(offsets.len(), 3);
}

#[test]
fn closed_connections_are_freed() {
    let mut frames = Vec::new();
    for i in 0..40u16 {
        frames.extend(store_conversation(40000 + i, 104, "Doe^Jane").frames);
    }
    // one connection left open (no FIN): summarised at the end of the capture
    let mut open = Conversation::new(39999, 104);
    open.handshake();
    open.send(true, &pdu_bytes(&associate_rq("MODALITY", "ORTHANC")));
    open.send(false, &pdu_bytes(&associate_ac("MODALITY", "ORTHANC")));
    for p in pdata(1, true, &store_rq_command(7), 16_000) {
        open.send(true, &p);
    }
    frames.extend(open.frames);
    let mut a = Analysis::default();
    let t = analyze_reader(&write_pcap(&frames)[..], &mut a).unwrap();
    assert_eq!(t.streams, 41);
    assert_eq!(t.dicom_streams, 41);
    assert_eq!(
        t.peak_open_connections, 1,
        "each connection freed at its end"
    );
    assert_eq!(a.associations.len(), 41);
    assert!(a.associations[..40].iter().all(|s| s.outcome == "released"));
    let last = &a.associations[40];
    assert_eq!(last.outcome, "capture ended");
    assert_eq!(last.unanswered, 1);
    assert_eq!(last.latency[0].answered, 0);
    assert_eq!(last.dimse[0].latency, None);
}

#[test]
fn reset_and_abort_end_associations() {
    let mut c = Conversation::new(50900, 104);
    c.handshake();
    c.send(true, &pdu_bytes(&associate_rq("MODALITY", "ORTHANC")));
    c.send(false, &pdu_bytes(&associate_ac("MODALITY", "ORTHANC")));
    c.send(
        false,
        &pdu_bytes(&Pdu::AbortRQ {
            source: dicom_ul::pdu::AbortRQSource::ServiceUser,
        }),
    );
    let mut rj = Conversation::new(50901, 104);
    rj.handshake();
    rj.send(true, &pdu_bytes(&associate_rq("MODALITY", "WRONG")));
    rj.send(false, &pdu_bytes(&associate_rj()));
    let mut frames = c.frames;
    frames.extend(rj.frames);
    let a = analyze_bytes(&write_pcap(&frames)).unwrap();
    let outcomes: Vec<&str> = a.associations.iter().map(|s| s.outcome.as_str()).collect();
    assert_eq!(outcomes, ["aborted", "rejected"]);
}

fn vec16(data: &[u8]) -> Vec<u8> {
    let mut v = (data.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(data);
    v
}

fn tls_record(handshake_type: u8, body: &[u8]) -> Vec<u8> {
    let mut hs = vec![handshake_type, 0];
    hs.extend((body.len() as u16).to_be_bytes());
    hs.extend_from_slice(body);
    let mut r = vec![0x16, 3, 1];
    r.extend(vec16(&hs));
    r
}

#[test]
fn tls_hellos_say_what_was_negotiated() {
    // ClientHello: SNI "pacs", supported_versions TLS1.3, TLS1.2
    let mut ch = vec![3, 3];
    ch.extend([1u8; 32]);
    ch.push(0);
    ch.extend(vec16(&[0x13, 0x02, 0xc0, 0x30]));
    ch.extend([1, 0]);
    let mut sni = vec![0u8];
    sni.extend(vec16(b"pacs"));
    let mut exts = vec![0, 0];
    exts.extend(vec16(&vec16(&sni)));
    exts.extend([0, 43]);
    exts.extend(vec16(&[4, 3, 4, 3, 3]));
    ch.extend(vec16(&exts));
    // ServerHello: TLS1.3, TLS_AES_256_GCM_SHA384
    let mut sh = vec![3, 3];
    sh.extend([2u8; 32]);
    sh.push(0);
    sh.extend([0x13, 0x02, 0]);
    sh.extend(vec16(&[0, 43, 0, 2, 3, 4]));

    let mut c = Conversation::new(50950, 2762);
    c.mss = 50; // the hello spans many segments
    c.handshake();
    c.send(true, &tls_record(1, &ch));
    c.send(false, &tls_record(2, &sh));
    c.send(false, &[0x17, 3, 3, 0, 4, 1, 2, 3, 4]);
    // encrypted application data that happens to look like a PDU is not decoded
    c.send(true, &pdu_bytes(&Pdu::ReleaseRQ));
    c.close();
    let a = analyze_bytes(&write_pcap(&c.frames)).unwrap();
    let infos: Vec<&str> = a.events.iter().map(|e| e.info.as_str()).collect();
    assert_eq!(
        infos,
        [
            "TLS ClientHello SNI=pacs versions=TLS1.3,TLS1.2",
            "TLS ServerHello TLS1.3 TLS_AES_256_GCM_SHA384"
        ]
    );
    assert!(a.events.iter().all(|e| e.pdu == "TLS" && e.label == "TLS"));
    assert_eq!(a.events[0].src, "127.0.0.1:50950");
    assert_eq!(a.dicom_streams, 0);
    assert!(a.errors.is_empty(), "{:#?}", a.errors);
}

#[test]
fn json_lines_and_table_stream_everything() {
    let conv = store_conversation(50123, 104, "Doe^Jane");
    let file = write_pcap(&conv.frames);
    let whole = analyze_bytes(&file).unwrap();

    let mut sink = wire::JsonLines::new(Vec::new());
    let totals = analyze_reader(&file[..], &mut sink).unwrap();
    let out = String::from_utf8(sink.finish(&totals).unwrap()).unwrap();
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let count = |ty: &str| lines.iter().filter(|v| v["type"] == ty).count();
    assert_eq!(count("event"), whole.events.len());
    assert_eq!(count("phi"), whole.phi.len());
    assert_eq!(count("association"), 1);
    assert_eq!(count("issue"), 0);
    let last = lines.last().unwrap();
    assert_eq!(last["type"], "totals");
    assert_eq!(last["packets"], conv.frames.len() as u64);
    // an event line is the Event itself plus its type
    let first: wire::Event = serde_json::from_value(lines[0].clone()).unwrap();
    assert_eq!(first, whole.events[0]);

    let mut table = wire::Table::new(Vec::new());
    let totals = analyze_reader(&file[..], &mut table).unwrap();
    let text = String::from_utf8(table.finish(&totals).unwrap()).unwrap();
    assert!(text.contains("A-ASSOCIATE request MODALITY --> ORTHANC"));
    assert!(text.contains("PHI in clear (stream 0): PatientName = Doe^Jane"));
    assert!(text.contains("association (stream 0) MODALITY -> ORTHANC"));
    assert!(text.contains("C-STORE: 1 request(s), 1 answered"));
}

#[test]
fn phi_found_before_megabytes_of_pixel_data() {
    let mut c = Conversation::new(51000, 104);
    c.mss = 1460;
    c.handshake();
    c.send(true, &pdu_bytes(&associate_rq("MODALITY", "ORTHANC")));
    c.send(false, &pdu_bytes(&associate_ac("MODALITY", "ORTHANC")));
    for p in pdata(1, true, &store_rq_command(1), 16_378) {
        c.send(true, &p);
    }
    let ds = xa_dataset("Big^Image", 3 * 1024 * 1024);
    for p in pdata(1, false, &ds, 16_378) {
        c.send(true, &p);
    }
    let a = analyze_bytes(&write_pcap(&c.frames)).unwrap();
    assert!(a.errors.is_empty(), "{:#?}", a.errors);
    let names: Vec<&str> = a
        .phi
        .iter()
        .filter(|p| p.keyword == "PatientName")
        .map(|p| p.value.as_str())
        .collect();
    assert_eq!(names, ["Big^Image"]);
    // reported when the data set completes (its last fragment), not before
    let last_frag = a
        .events
        .iter()
        .rfind(|e| e.info.ends_with("Last Fragment"))
        .unwrap();
    assert_eq!(a.phi[0].time, last_frag.time);
}
