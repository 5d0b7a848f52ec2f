//! Connections, DICOM detection, PDU and DIMSE decoding, events and PHI.

use crate::capture::{PacketSink, guard};
use crate::dataset;
use crate::names::{command_name, sop_class_name, status_name};
use crate::net::tcp_segment;
use crate::tcp::{Chunk, Reassembler};
use crate::{
    Analysis, Dimse, Event, IssueKind, MAX_DATASET_BYTES, MAX_PDU_LENGTH, MAX_TCP_BUFFERED,
    PhiSeen, WireIssue,
};
use dicom_ul::pdu::{
    AbortRQSource, AssociationRJResult, PDataValueType, Pdu, PresentationContextResultReason,
    read_pdu,
};
use pcap_file::DataLink;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

/// Largest command set accepted (they are a few hundred bytes in practice).
const MAX_COMMAND_BYTES: usize = 1024 * 1024;
/// Largest A-ASSOCIATE PDU length considered plausible by the detection heuristic.
const MAX_ASSOCIATE_LENGTH: u32 = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// Not (yet) recognised: each delivered chunk start is tested.
    Seeking,
    Dicom,
    Tls,
}

#[derive(Debug, Default)]
struct Fragments {
    data: Vec<u8>,
    /// Too big: ignore the rest until the last fragment.
    dropped: bool,
}

#[derive(Debug)]
struct Dir {
    tcp: Reassembler,
    mode: Mode,
    buf: Vec<u8>,
    /// Stream offset of `buf[0]`.
    buf_offset: u64,
    /// PDV reassembly by (presentation context id, is command).
    pdv: HashMap<(u8, bool), Fragments>,
}

impl Dir {
    fn new() -> Self {
        Dir {
            tcp: Reassembler::new(MAX_TCP_BUFFERED),
            mode: Mode::Seeking,
            buf: Vec::new(),
            buf_offset: 0,
            pdv: HashMap::new(),
        }
    }
}

#[derive(Debug)]
struct Conn {
    index: u32,
    /// Endpoints: direction 0 is `ends[0] -> ends[1]`.
    ends: [SocketAddr; 2],
    dirs: [Dir; 2],
    calling: Option<String>,
    called: Option<String>,
    /// Abstract syntax proposed per presentation context id.
    proposed: HashMap<u8, String>,
    /// Transfer syntax accepted per presentation context id.
    accepted: HashMap<u8, String>,
    dicom: bool,
    tls_reported: bool,
}

/// Where and when something happened.
struct Here {
    no: u64,
    time: f64,
    rel: f64,
}

#[derive(Default)]
pub(crate) struct Analyzer {
    out: Analysis,
    first_time: Option<Duration>,
    by_key: HashMap<(SocketAddr, SocketAddr), usize>,
    conns: Vec<Conn>,
    last: Option<(u64, f64, f64)>,
    /// Unsupported link types already reported (once each, not once per packet).
    unsupported_links: Vec<String>,
}

fn addr(a: &SocketAddr) -> String {
    a.to_string()
}

impl PacketSink for Analyzer {
    fn packet(&mut self, no: u64, ts: Duration, link: DataLink, data: &[u8]) {
        self.out.packets += 1;
        let t0 = *self.first_time.get_or_insert(ts);
        let time = ts.as_secs_f64();
        let rel = if ts >= t0 {
            (ts - t0).as_secs_f64()
        } else {
            -(t0 - ts).as_secs_f64()
        };
        let here = Here { no, time, rel };
        self.last = Some((no, time, rel));
        let seg = match tcp_segment(link, data) {
            Ok(Some(seg)) => seg,
            Ok(None) => return,
            Err(msg) => {
                if msg.starts_with("unsupported link type") {
                    if self.unsupported_links.contains(&msg) {
                        return;
                    }
                    self.unsupported_links.push(msg.clone());
                }
                self.out.errors.push(WireIssue {
                    kind: IssueKind::Packet,
                    packet: Some(no),
                    stream: None,
                    direction: None,
                    offset: None,
                    time: Some(time),
                    message: msg,
                });
                return;
            }
        };
        let key = if seg.src <= seg.dst {
            (seg.src, seg.dst)
        } else {
            (seg.dst, seg.src)
        };
        let mut ci = match self.by_key.get(&key) {
            Some(&ci) => ci,
            None => self.new_conn(key, [seg.src, seg.dst]),
        };
        let d = usize::from(self.conns[ci].ends[0] != seg.src);
        // A SYN with another ISN on a known 4-tuple starts a new connection (port reuse).
        if seg.syn {
            let data_seq = seg.seq.wrapping_add(1);
            if matches!(self.conns[ci].dirs[d].tcp.base(), Some(b) if b != data_seq) {
                self.flush_conn(ci, &here);
                ci = self.new_conn(key, [seg.src, seg.dst]);
            }
        }
        let d = usize::from(self.conns[ci].ends[0] != seg.src);
        let mut chunks = Vec::new();
        let mut issues = Vec::new();
        self.conns[ci].dirs[d]
            .tcp
            .segment(seg.seq, seg.syn, seg.payload, &mut chunks, &mut issues);
        let _ = (seg.fin, seg.rst);
        self.tcp_issues(ci, d, &here, issues);
        for chunk in chunks {
            self.feed(ci, d, chunk, &here);
        }
    }

    fn issue(&mut self, kind: IssueKind, no: Option<u64>, offset: Option<u64>, message: String) {
        self.out.errors.push(WireIssue {
            kind,
            packet: no,
            stream: None,
            direction: None,
            offset,
            time: None,
            message,
        });
    }
}

impl Analyzer {
    /// A new connection; direction 0 goes from `ends[0]` (the sender of its first packet).
    fn new_conn(&mut self, key: (SocketAddr, SocketAddr), ends: [SocketAddr; 2]) -> usize {
        let index = self.conns.len() as u32;
        self.conns.push(Conn {
            index,
            ends,
            dirs: [Dir::new(), Dir::new()],
            calling: None,
            called: None,
            proposed: HashMap::new(),
            accepted: HashMap::new(),
            dicom: false,
            tls_reported: false,
        });
        self.by_key.insert(key, self.conns.len() - 1);
        self.conns.len() - 1
    }

    fn dir_name(&self, ci: usize, d: usize) -> (String, String) {
        let c = &self.conns[ci];
        (addr(&c.ends[d]), addr(&c.ends[1 - d]))
    }

    fn push_issue(
        &mut self,
        kind: IssueKind,
        ci: usize,
        d: usize,
        offset: u64,
        here: &Here,
        message: String,
    ) {
        let (s, t) = self.dir_name(ci, d);
        self.out.errors.push(WireIssue {
            kind,
            packet: Some(here.no),
            stream: Some(self.conns[ci].index),
            direction: Some(format!("{s} -> {t}")),
            offset: Some(offset),
            time: Some(here.time),
            message,
        });
    }

    fn tcp_issues(&mut self, ci: usize, d: usize, here: &Here, issues: Vec<(u64, String)>) {
        for (off, msg) in issues {
            self.push_issue(IssueKind::Tcp, ci, d, off, here, msg);
        }
    }

    /// Deliver what is still buffered (after gaps) for both directions of a connection.
    fn flush_conn(&mut self, ci: usize, here: &Here) {
        for d in 0..2 {
            let mut chunks = Vec::new();
            let mut issues = Vec::new();
            self.conns[ci].dirs[d].tcp.finish(&mut chunks, &mut issues);
            self.tcp_issues(ci, d, here, issues);
            for chunk in chunks {
                self.feed(ci, d, chunk, here);
            }
            let dir = &self.conns[ci].dirs[d];
            if dir.mode == Mode::Dicom && !dir.buf.is_empty() {
                let (off, n) = (dir.buf_offset, dir.buf.len());
                self.push_issue(
                    IssueKind::Pdu,
                    ci,
                    d,
                    off,
                    here,
                    format!("capture ends inside a PDU ({n} bytes of it seen)"),
                );
            }
            let dir = &mut self.conns[ci].dirs[d];
            dir.buf = Vec::new();
            dir.pdv.clear();
        }
    }

    pub(crate) fn finish(mut self) -> Analysis {
        let (no, time, rel) = self.last.unwrap_or((0, 0.0, 0.0));
        let here = Here { no, time, rel };
        for ci in 0..self.conns.len() {
            self.flush_conn(ci, &here);
        }
        self.out.dicom_streams = self.conns.iter().filter(|c| c.dicom).count() as u32;
        self.out
    }

    fn feed(&mut self, ci: usize, d: usize, chunk: Chunk, here: &Here) {
        let dir = &mut self.conns[ci].dirs[d];
        if chunk.gap_before {
            let was_dicom = dir.mode == Mode::Dicom;
            dir.buf.clear();
            dir.pdv.clear();
            if dir.mode != Mode::Tls {
                dir.mode = Mode::Seeking;
            }
            if was_dicom {
                self.push_issue(
                    IssueKind::Pdu,
                    ci,
                    d,
                    chunk.offset,
                    here,
                    "bytes missing before this point: PDU boundaries lost, looking for the next PDU".into(),
                );
            }
        }
        let dir = &mut self.conns[ci].dirs[d];
        match dir.mode {
            Mode::Tls => return,
            Mode::Seeking => {
                if dir.buf.is_empty() {
                    dir.buf_offset = chunk.offset;
                }
                dir.buf.extend_from_slice(&chunk.data);
                match detect(&dir.buf) {
                    Detect::NeedMore => return,
                    Detect::No => {
                        dir.buf.clear();
                        return;
                    }
                    Detect::Tls => {
                        dir.mode = Mode::Tls;
                        dir.buf = Vec::new();
                        if !self.conns[ci].tls_reported {
                            self.conns[ci].tls_reported = true;
                            let (src, dst) = self.dir_name(ci, d);
                            let stream = self.conns[ci].index;
                            self.out.events.push(Event {
                                time: here.time,
                                rel_time: here.rel,
                                stream,
                                src,
                                dst,
                                pdu: "TLS".into(),
                                label: "TLS".into(),
                                info: "TLS handshake".into(),
                                calling_aet: None,
                                called_aet: None,
                                dimse: None,
                            });
                        }
                        return;
                    }
                    Detect::Dicom => {
                        dir.mode = Mode::Dicom;
                        self.conns[ci].dicom = true;
                    }
                }
            }
            Mode::Dicom => {
                if dir.buf.is_empty() {
                    dir.buf_offset = chunk.offset;
                }
                dir.buf.extend_from_slice(&chunk.data);
            }
        }
        self.decode_pdus(ci, d, here);
    }

    fn decode_pdus(&mut self, ci: usize, d: usize, here: &Here) {
        let mut start = 0usize;
        loop {
            let dir = &mut self.conns[ci].dirs[d];
            let b = &dir.buf[start..];
            if b.len() < 6 {
                break;
            }
            let offset = dir.buf_offset + start as u64;
            let ty = b[0];
            let len = u32::from_be_bytes([b[2], b[3], b[4], b[5]]);
            if !(1..=7).contains(&ty) || b[1] != 0 || len > MAX_PDU_LENGTH {
                let msg = if len > MAX_PDU_LENGTH && (1..=7).contains(&ty) {
                    format!(
                        "PDU type 0x{ty:02x} claims {len} bytes, more than the {MAX_PDU_LENGTH} accepted; looking for the next PDU"
                    )
                } else {
                    format!(
                        "invalid PDU header {:02x?}; looking for the next PDU",
                        &b[..6]
                    )
                };
                dir.buf.clear();
                dir.pdv.clear();
                dir.mode = Mode::Seeking;
                self.push_issue(IssueKind::Pdu, ci, d, offset, here, msg);
                return;
            }
            let total = 6 + len as usize;
            if b.len() < total {
                break;
            }
            let result = guard("dicom-ul read_pdu", || {
                read_pdu(&b[..total], MAX_PDU_LENGTH, false)
            });
            start += total;
            match result {
                Ok(Ok(Some(pdu))) => self.on_pdu(ci, d, pdu, offset, here),
                Ok(Ok(None)) => self.push_issue(
                    IssueKind::Pdu,
                    ci,
                    d,
                    offset,
                    here,
                    format!("PDU type 0x{ty:02x} of {len} bytes could not be decoded (incomplete)"),
                ),
                Ok(Err(e)) => self.push_issue(
                    IssueKind::Pdu,
                    ci,
                    d,
                    offset,
                    here,
                    format!("PDU type 0x{ty:02x} of {len} bytes does not decode: {e}"),
                ),
                Err(msg) => self.push_issue(IssueKind::Pdu, ci, d, offset, here, msg),
            }
        }
        let dir = &mut self.conns[ci].dirs[d];
        if start > 0 {
            dir.buf.drain(..start);
            dir.buf_offset += start as u64;
        }
    }

    fn event(
        &self,
        ci: usize,
        d: usize,
        here: &Here,
        pdu: &str,
        label: String,
        info: String,
    ) -> Event {
        let (src, dst) = self.dir_name(ci, d);
        Event {
            time: here.time,
            rel_time: here.rel,
            stream: self.conns[ci].index,
            src,
            dst,
            pdu: pdu.into(),
            label,
            info,
            calling_aet: None,
            called_aet: None,
            dimse: None,
        }
    }

    fn on_pdu(&mut self, ci: usize, d: usize, pdu: Pdu, offset: u64, here: &Here) {
        match pdu {
            Pdu::AssociationRQ(rq) => {
                let c = &mut self.conns[ci];
                c.calling = Some(rq.calling_ae_title.clone());
                c.called = Some(rq.called_ae_title.clone());
                c.proposed = rq
                    .presentation_contexts
                    .iter()
                    .map(|pc| (pc.id, pc.abstract_syntax.clone()))
                    .collect();
                c.accepted.clear();
                let mut e = self.event(
                    ci,
                    d,
                    here,
                    "A-ASSOCIATE-RQ",
                    "A-ASSOCIATE-RQ".into(),
                    format!(
                        "A-ASSOCIATE request {} --> {}",
                        rq.calling_ae_title, rq.called_ae_title
                    ),
                );
                e.calling_aet = Some(rq.calling_ae_title);
                e.called_aet = Some(rq.called_ae_title);
                self.out.events.push(e);
            }
            Pdu::AssociationAC(ac) => {
                self.conns[ci].accepted = ac
                    .presentation_contexts
                    .iter()
                    .filter(|pc| pc.reason == PresentationContextResultReason::Acceptance)
                    .map(|pc| (pc.id, pc.transfer_syntax.clone()))
                    .collect();
                let mut e = self.event(
                    ci,
                    d,
                    here,
                    "A-ASSOCIATE-AC",
                    "A-ASSOCIATE-AC".into(),
                    "A-ASSOCIATE accept".into(),
                );
                e.calling_aet = Some(ac.calling_ae_title);
                e.called_aet = Some(ac.called_ae_title);
                self.out.events.push(e);
            }
            Pdu::AssociationRJ(rj) => {
                let result = match rj.result {
                    AssociationRJResult::Permanent => "rejected-permanent",
                    AssociationRJResult::Transient => "rejected-transient",
                };
                let mut e = self.event(
                    ci,
                    d,
                    here,
                    "A-ASSOCIATE-RJ",
                    "A-ASSOCIATE-RJ".into(),
                    format!("A-ASSOCIATE reject ({result}, {:?})", rj.source),
                );
                e.calling_aet = self.conns[ci].calling.clone();
                e.called_aet = self.conns[ci].called.clone();
                self.out.events.push(e);
            }
            Pdu::PData { data } => self.on_pdata(ci, d, data, offset, here),
            Pdu::ReleaseRQ => {
                let e = self.event(
                    ci,
                    d,
                    here,
                    "A-RELEASE-RQ",
                    "A-RELEASE-RQ".into(),
                    "A-RELEASE request".into(),
                );
                self.out.events.push(e);
            }
            Pdu::ReleaseRP => {
                let e = self.event(
                    ci,
                    d,
                    here,
                    "A-RELEASE-RP",
                    "A-RELEASE-RP".into(),
                    "A-RELEASE response".into(),
                );
                self.out.events.push(e);
            }
            Pdu::AbortRQ { source } => {
                let src = match source {
                    AbortRQSource::ServiceUser => "service-user".to_string(),
                    AbortRQSource::ServiceProvider(r) => format!("service-provider, {r:?}"),
                    AbortRQSource::Reserved => "reserved".to_string(),
                };
                let e = self.event(
                    ci,
                    d,
                    here,
                    "A-ABORT",
                    "A-ABORT".into(),
                    format!("A-ABORT ({src})"),
                );
                self.out.events.push(e);
            }
            Pdu::Unknown { pdu_type, .. } => self.push_issue(
                IssueKind::Pdu,
                ci,
                d,
                offset,
                here,
                format!("unknown PDU type 0x{pdu_type:02x}"),
            ),
        }
    }

    fn on_pdata(
        &mut self,
        ci: usize,
        d: usize,
        values: Vec<dicom_ul::pdu::PDataValue>,
        offset: u64,
        here: &Here,
    ) {
        let mut commands: Vec<Dimse> = Vec::new();
        let mut fragment_info: Option<String> = None;
        for pdv in values {
            let is_cmd = pdv.value_type == PDataValueType::Command;
            let pcid = pdv.presentation_context_id;
            let limit = if is_cmd {
                MAX_COMMAND_BYTES
            } else {
                MAX_DATASET_BYTES
            };
            let dir = &mut self.conns[ci].dirs[d];
            let frags = dir.pdv.entry((pcid, is_cmd)).or_default();
            let mut too_big = false;
            if !frags.dropped {
                if frags.data.len() + pdv.data.len() > limit {
                    frags.dropped = true;
                    frags.data = Vec::new();
                    too_big = true;
                } else {
                    frags.data.extend_from_slice(&pdv.data);
                }
            }
            if too_big {
                self.push_issue(
                    if is_cmd {
                        IssueKind::Dimse
                    } else {
                        IssueKind::Dataset
                    },
                    ci,
                    d,
                    offset,
                    here,
                    format!(
                        "{} on presentation context {pcid} larger than {limit} bytes; not analysed",
                        if is_cmd { "command set" } else { "data set" }
                    ),
                );
            }
            if !pdv.is_last {
                if fragment_info.is_none() {
                    fragment_info = Some(if is_cmd {
                        "P-DATA, Command Fragment".into()
                    } else {
                        format!("P-DATA, {} Fragment", self.context_name(ci, pcid))
                    });
                }
                continue;
            }
            let frags = self.conns[ci].dirs[d]
                .pdv
                .remove(&(pcid, is_cmd))
                .unwrap_or_default();
            if frags.dropped {
                continue;
            }
            if is_cmd {
                match dataset::parse_command(&frags.data) {
                    Ok(cmd) => commands.push(to_dimse(cmd)),
                    Err(msg) => self.push_issue(
                        IssueKind::Dimse,
                        ci,
                        d,
                        offset,
                        here,
                        format!(
                            "command set on presentation context {pcid} does not decode: {msg}"
                        ),
                    ),
                }
            } else {
                if fragment_info.is_none() {
                    fragment_info = Some(format!(
                        "P-DATA, {} Last Fragment",
                        self.context_name(ci, pcid)
                    ));
                }
                let ts = match self.conns[ci].accepted.get(&pcid) {
                    Some(ts) => ts.clone(),
                    None => dataset::guess_ts(&frags.data).to_string(),
                };
                match dataset::parse_phi(&frags.data, &ts) {
                    Ok(found) => {
                        let stream = self.conns[ci].index;
                        self.out
                            .phi
                            .extend(found.into_iter().map(|(kw, value)| PhiSeen {
                                stream,
                                time: here.time,
                                keyword: kw.to_string(),
                                value,
                            }));
                    }
                    Err(msg) => self.push_issue(
                        IssueKind::Dataset,
                        ci,
                        d,
                        offset,
                        here,
                        format!("data set on presentation context {pcid}: {msg}"),
                    ),
                }
            }
        }
        if commands.is_empty() {
            let info = fragment_info.unwrap_or_else(|| "P-DATA".into());
            let e = self.event(ci, d, here, "P-DATA-TF", "P-DATA".into(), info);
            self.out.events.push(e);
        }
        for dimse in commands {
            let (label, info) = dimse_texts(&dimse);
            let mut e = self.event(ci, d, here, "P-DATA-TF", label, info);
            e.dimse = Some(dimse);
            self.out.events.push(e);
        }
    }

    fn context_name(&self, ci: usize, pcid: u8) -> String {
        match self.conns[ci].proposed.get(&pcid) {
            Some(uid) => sop_class_name(uid)
                .map(str::to_string)
                .unwrap_or_else(|| uid.clone()),
            None => format!("presentation context {pcid}"),
        }
    }
}

fn to_dimse(cmd: dataset::Command) -> Dimse {
    let field = cmd.field.unwrap_or(0);
    let command = command_name(field)
        .map(str::to_string)
        .unwrap_or_else(|| format!("DIMSE 0x{field:04X}"));
    Dimse {
        command,
        message_id: cmd.message_id,
        responded_id: cmd.responded_id,
        status_name: cmd.status.and_then(status_name).map(str::to_string),
        status: cmd.status,
        sop_class_uid: cmd.sop_class_uid,
        sop_instance_uid: cmd.sop_instance_uid,
    }
}

/// (label, info) of a DIMSE message.
fn dimse_texts(d: &Dimse) -> (String, String) {
    let is_rsp = d.command.ends_with("-RSP");
    if is_rsp {
        let status = match (&d.status_name, d.status) {
            (Some(n), _) => n.clone(),
            (None, Some(s)) => format!("0x{s:04X}"),
            (None, None) => "no status".into(),
        };
        let id = d
            .responded_id
            .map(|i| format!(" ID={i}"))
            .unwrap_or_default();
        (
            format!("{} {status}", d.command),
            format!("P-DATA, {}{id} ({status})", d.command),
        )
    } else {
        let id = d.message_id.map(|i| format!(" ID={i}")).unwrap_or_default();
        (d.command.clone(), format!("P-DATA, {}{id}", d.command))
    }
}

enum Detect {
    NeedMore,
    No,
    Dicom,
    Tls,
}

/// Does this buffer start with a DICOM PDU (or a TLS record)?
fn detect(b: &[u8]) -> Detect {
    if b.len() >= 3 && b[0] == 0x16 && b[1] == 0x03 && b[2] <= 0x04 {
        return Detect::Tls;
    }
    if b.len() < 6 {
        return if b.is_empty() || (1..=7).contains(&b[0]) || b[0] == 0x16 {
            Detect::NeedMore
        } else {
            Detect::No
        };
    }
    let ty = b[0];
    let len = u32::from_be_bytes([b[2], b[3], b[4], b[5]]);
    if !(1..=7).contains(&ty) || b[1] != 0 {
        return Detect::No;
    }
    match ty {
        1 | 2 => {
            if !(68..=MAX_ASSOCIATE_LENGTH).contains(&len) {
                return Detect::No;
            }
            if b.len() < 8 {
                return Detect::NeedMore;
            }
            if b[6] == 0 && b[7] & 1 == 1 {
                Detect::Dicom
            } else {
                Detect::No
            }
        }
        3 | 5 | 6 | 7 => {
            if len == 4 {
                Detect::Dicom
            } else {
                Detect::No
            }
        }
        _ => {
            // P-DATA-TF: the first PDV item must fit, with an odd context id and a
            // message control header using only its two low bits.
            if !(6..=MAX_PDU_LENGTH).contains(&len) {
                return Detect::No;
            }
            if b.len() < 12 {
                return Detect::NeedMore;
            }
            let item = u32::from_be_bytes([b[6], b[7], b[8], b[9]]);
            if item >= 2 && item <= len - 4 && b[10] & 1 == 1 && b[11] <= 3 {
                Detect::Dicom
            } else {
                Detect::No
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_heuristics() {
        assert!(matches!(detect(&[0x16, 0x03, 0x01, 0, 5]), Detect::Tls));
        assert!(matches!(detect(b"GET / HTTP/1.1\r\n"), Detect::No));
        assert!(matches!(
            detect(&[5, 0, 0, 0, 0, 4, 0, 0, 0, 0]),
            Detect::Dicom
        ));
        assert!(matches!(
            detect(&[5, 0, 0, 0, 0, 5, 0, 0, 0, 0]),
            Detect::No
        ));
        assert!(matches!(detect(&[1, 0, 0, 0, 0, 0xcd]), Detect::NeedMore));
        assert!(matches!(
            detect(&[1, 0, 0, 0, 0, 0xcd, 0, 1]),
            Detect::Dicom
        ));
        assert!(matches!(detect(&[1, 0, 0, 0, 0, 0xcd, 0, 2]), Detect::No));
        assert!(matches!(
            detect(&[1, 0, 0xff, 0, 0, 0xcd, 0, 1]),
            Detect::No
        ));
        // P-DATA: item length 0x4a, pcid 1, header 3
        let p = [4, 0, 0, 0, 0, 0x4e, 0, 0, 0, 0x4a, 1, 3];
        assert!(matches!(detect(&p), Detect::Dicom));
        let mut bad = p;
        bad[10] = 2; // even context id
        assert!(matches!(detect(&bad), Detect::No));
    }
}
