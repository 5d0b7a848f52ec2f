//! Entry points for the cargo-fuzz targets (`crates/wire/fuzz`); not a stable API.

use crate::Analysis;
use crate::capture::PacketSink;
use crate::tcp::Reassembler;
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
