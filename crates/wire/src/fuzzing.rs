//! Entry points for the cargo-fuzz targets (`crates/wire/fuzz`); not a stable API.

use crate::Analysis;
use crate::capture::PacketSink;
use crate::tcp::Reassembler;
use dicom_ul::pdu::{PDataValue, PDataValueType, Pdu, write_pdu};
use pcap_file::DataLink;
use std::time::Duration;

/// Feed `data` as the client-to-server byte stream of one TCP connection (split into
/// segments at the positions `cuts` gives), then the server's reply stream, through
/// DICOM detection, PDU, DIMSE and data set decoding.
pub fn pdu_stream(client: &[u8], server: &[u8], cuts: &[u8]) -> Analysis {
    let mut out = Analysis::default();
    let mut a = crate::dicom::Analyzer::new(&mut out);
    let c = ([10, 0, 0, 1], 40000u16);
    let s = ([10, 0, 0, 2], 104u16);
    let mut no = 0u64;
    let mut seq = [1000u32, 5000u32];
    let mut cut = cuts.iter().cycle();
    for (from_client, bytes) in [(true, client), (false, server)] {
        let mut rest = bytes;
        while !rest.is_empty() {
            let n = if cuts.is_empty() {
                rest.len()
            } else {
                1 + usize::from(*cut.next().unwrap_or(&255)) * 8
            }
            .min(rest.len())
            .min(1460);
            let (seg, r) = rest.split_at(n);
            rest = r;
            let (src, dst) = if from_client { (c, s) } else { (s, c) };
            let i = usize::from(!from_client);
            let frame = tcp_frame(src, dst, seq[i], seg);
            seq[i] = seq[i].wrapping_add(seg.len() as u32);
            no += 1;
            a.packet(no, Duration::from_millis(no), DataLink::ETHERNET, &frame);
        }
    }
    a.finish();
    out
}

/// Feed `(seq, syn, payload)` segments to one TCP direction's reassembler; returns the
/// delivered bytes and the number of issues.
pub fn reassemble(segments: &[(u32, bool, &[u8])], limit: usize) -> (Vec<u8>, usize) {
    let mut r = Reassembler::new(limit);
    let mut chunks = Vec::new();
    let mut issues = Vec::new();
    let mut delivered = Vec::new();
    let mut last_end = 0u64;
    for (seq, syn, payload) in segments {
        r.segment(*seq, *syn, payload, &mut chunks, &mut issues);
        for c in chunks.drain(..) {
            assert!(c.offset >= last_end, "chunks go backwards");
            last_end = c.offset + c.data.len() as u64;
            delivered.extend_from_slice(&c.data);
        }
    }
    r.finish(&mut chunks, &mut issues);
    for c in chunks.drain(..) {
        assert!(c.offset >= last_end, "chunks go backwards");
        last_end = c.offset + c.data.len() as u64;
        delivered.extend_from_slice(&c.data);
    }
    (delivered, issues.len())
}

/// One Ethernet/IPv4/TCP frame (minimal headers, checksums left zero).
pub fn tcp_frame(src: ([u8; 4], u16), dst: ([u8; 4], u16), seq: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(54 + payload.len());
    f.extend([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00]);
    let total = (20 + 20 + payload.len()) as u16;
    f.extend([0x45, 0, 0, 0]);
    f[16..18].copy_from_slice(&total.to_be_bytes());
    f.extend([0, 0, 0x40, 0, 64, 6, 0, 0]);
    f.extend(src.0);
    f.extend(dst.0);
    f.extend(src.1.to_be_bytes());
    f.extend(dst.1.to_be_bytes());
    f.extend(seq.to_be_bytes());
    f.extend(0u32.to_be_bytes());
    f.extend([0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

/// `depth` undefined-length sequences (Referenced Series Sequence, Explicit VR Little
/// Endian), each holding one undefined-length item holding the next, closed properly:
/// 36 bytes a level, the hostile data set of the hardening tests.
pub fn deep_nesting_dataset(depth: usize) -> Vec<u8> {
    let mut data = Vec::with_capacity(depth * 36);
    for _ in 0..depth {
        data.extend([
            0x08, 0, 0x40, 0x11, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
        ]);
        data.extend([0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
    }
    for _ in 0..depth {
        data.extend([0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0]);
        data.extend([0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
    }
    data
}

/// A pcap file of one well-formed association (A-ASSOCIATE-RQ/AC, C-STORE-RQ, its data set,
/// release) whose data set nests `depth` undefined-length sequences (each with one item)
/// under a PatientName: the hostile capture of the hardening tests. 10,000 levels are
/// 360 KB of data set, enough to overflow any stack of a parser that recurses per level.
pub fn deep_nesting_capture(depth: usize) -> Vec<u8> {
    use dicom_ul::pdu::{
        AssociationAC, AssociationRQ, PresentationContextProposed, PresentationContextResult,
        PresentationContextResultReason, UserVariableItem,
    };
    const XA: &str = "1.2.840.10008.5.1.4.1.1.12.1";
    const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
    let rq = Pdu::AssociationRQ(AssociationRQ {
        protocol_version: 1,
        calling_ae_title: "MODALITY".into(),
        called_ae_title: "ORTHANC".into(),
        application_context_name: "1.2.840.10008.3.1.1.1".into(),
        presentation_contexts: vec![PresentationContextProposed {
            id: 1,
            abstract_syntax: XA.into(),
            transfer_syntaxes: vec![EXPLICIT_LE.into()],
        }],
        user_variables: vec![UserVariableItem::MaxLength(16384)],
    });
    let ac = Pdu::AssociationAC(AssociationAC {
        protocol_version: 1,
        calling_ae_title: "MODALITY".into(),
        called_ae_title: "ORTHANC".into(),
        application_context_name: "1.2.840.10008.3.1.1.1".into(),
        presentation_contexts: vec![PresentationContextResult {
            id: 1,
            reason: PresentationContextResultReason::Acceptance,
            transfer_syntax: EXPLICIT_LE.into(),
        }],
        user_variables: vec![UserVariableItem::MaxLength(16384)],
    });
    // implicit VR little endian command set: (tag, value) pairs
    let implicit = |out: &mut Vec<u8>, group: u16, elem: u16, value: &[u8]| {
        out.extend(group.to_le_bytes());
        out.extend(elem.to_le_bytes());
        out.extend((value.len() as u32).to_le_bytes());
        out.extend(value);
    };
    let mut command = Vec::new();
    implicit(&mut command, 0, 0x0002, b"1.2.840.10008.5.1.4.1.1.12.1\0");
    implicit(&mut command, 0, 0x0100, &1u16.to_le_bytes());
    implicit(&mut command, 0, 0x0110, &1u16.to_le_bytes());
    implicit(&mut command, 0, 0x0700, &0u16.to_le_bytes());
    implicit(&mut command, 0, 0x0800, &0u16.to_le_bytes());
    implicit(&mut command, 0, 0x1000, b"1.2.826.0.1.3680043.2.1125.9\0");
    let mut response = Vec::new();
    implicit(&mut response, 0, 0x0002, b"1.2.840.10008.5.1.4.1.1.12.1\0");
    implicit(&mut response, 0, 0x0100, &0x8001u16.to_le_bytes());
    implicit(&mut response, 0, 0x0120, &1u16.to_le_bytes());
    implicit(&mut response, 0, 0x0800, &0x0101u16.to_le_bytes());
    implicit(&mut response, 0, 0x0900, &0u16.to_le_bytes());
    // explicit VR little endian data set
    let mut data = vec![0x10, 0, 0x10, 0, b'P', b'N', 8, 0];
    data.extend(b"Doe^Deep");
    data.extend(deep_nesting_dataset(depth));
    let pdata = |bytes: &[u8], command: bool| -> Vec<u8> {
        let chunks: Vec<&[u8]> = bytes.chunks(16_000).collect();
        let n = chunks.len();
        let mut out = Vec::new();
        for (i, c) in chunks.into_iter().enumerate() {
            let pdu = Pdu::PData {
                data: vec![PDataValue {
                    presentation_context_id: 1,
                    value_type: if command {
                        PDataValueType::Command
                    } else {
                        PDataValueType::Data
                    },
                    is_last: i + 1 == n,
                    data: c.to_vec(),
                }],
            };
            write_pdu(&mut out, &pdu).expect("a P-DATA PDU is written to memory");
        }
        out
    };
    let pdu = |p: &Pdu| {
        let mut out = Vec::new();
        write_pdu(&mut out, p).expect("a PDU is written to memory");
        out
    };
    let client = ([10, 0, 0, 1], 40000u16);
    let server = ([10, 0, 0, 2], 104u16);
    let mut seq = [1000u32, 5000u32];
    let mut w = pcap_file::pcap::PcapWriter::new(Vec::new()).expect("a pcap header is written");
    let mut time = Duration::from_secs(1_700_000_000);
    let mut send = |from_client: bool, bytes: &[u8]| {
        for seg in bytes.chunks(1460) {
            let (src, dst) = if from_client {
                (client, server)
            } else {
                (server, client)
            };
            let i = usize::from(!from_client);
            let frame = tcp_frame(src, dst, seq[i], seg);
            seq[i] = seq[i].wrapping_add(seg.len() as u32);
            time += Duration::from_micros(100);
            let packet = pcap_file::pcap::PcapPacket::new(time, frame.len() as u32, &frame);
            w.write_packet(&packet)
                .expect("a packet is written to memory");
        }
    };
    send(true, &pdu(&rq));
    send(false, &pdu(&ac));
    send(true, &pdata(&command, true));
    send(true, &pdata(&data, false));
    send(false, &pdata(&response, true));
    send(true, &pdu(&Pdu::ReleaseRQ));
    send(false, &pdu(&Pdu::ReleaseRP));
    w.into_writer()
}
