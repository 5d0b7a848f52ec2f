//! Connections, DICOM detection, PDU and DIMSE decoding, events and PHI.

use crate::capture::{PacketSink, guard};
use crate::dataset;
use crate::names::{command_name, sop_class_name, status_name};
use crate::net::tcp_segment;
use crate::tcp::{Chunk, Reassembler};
use crate::tls::{TlsDir, TlsOutcome};
use crate::{
    Association, Dimse, DimseTiming, Event, IssueKind, LatencyStats, MAX_DATASET_BYTES,
    MAX_PDU_LENGTH, MAX_TCP_BUFFERED, PhiSeen, Sink, Totals, WireIssue,
};
use dicom_ul::pdu::{
    AbortRQSource, AssociationRJResult, PDataValueType, Pdu, PresentationContextResultReason,
    read_pdu,
};
use pcap_file::DataLink;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::{Index, IndexMut};
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

/// Largest number of request/response timings kept per association (the aggregate
/// statistics count them all).
const MAX_TIMINGS: usize = 10_000;
/// Closed connections are remembered (so that their last ACKs do not start a new stream)
/// for this many seconds of capture time, then forgotten.
const TOMBSTONE_SECS: f64 = 300.0;

#[derive(Debug, Default)]
struct Fragments {
    data: Vec<u8>,
    /// Too big: ignore the rest until the last fragment.
    dropped: bool,
    /// A data set whose top-level Pixel Data was reached: `data` holds everything before
    /// it and the following fragments are not kept.
    prefix_done: bool,
    /// Length at which to look for the Pixel Data again.
    next_check: usize,
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
    /// Sequence number just after this direction's FIN, once seen.
    fin_seq: Option<u32>,
    tls: Option<Box<TlsDir>>,
}

impl Dir {
    fn new() -> Self {
        Dir {
            tcp: Reassembler::new(MAX_TCP_BUFFERED),
            mode: Mode::Seeking,
            buf: Vec::new(),
            buf_offset: 0,
            pdv: HashMap::new(),
            fin_seq: None,
            tls: None,
        }
    }

    /// Everything up to the FIN was delivered.
    fn finished(&self) -> bool {
        match (self.fin_seq, self.tcp.next_seq()) {
            (Some(fin), Some(next)) => fin.wrapping_sub(next) as i32 <= 0,
            (Some(_), None) => true,
            _ => false,
        }
    }

    /// Drop the PDV buffers of a direction whose association is over (the PDU buffer
    /// is given back by `decode_pdus` once empty).
    fn release_buffers(&mut self) {
        self.pdv = HashMap::new();
    }
}

/// State of the association carried by a connection, for its [`Association`] summary.
#[derive(Debug)]
struct AssocState {
    /// Direction index of the A-ASSOCIATE-RQ sender (the association requestor).
    client: usize,
    start: f64,
    end: f64,
    /// The A-ASSOCIATE-RQ was not in the capture.
    partial: bool,
    bytes: [u64; 2],
    pdus: [u64; 2],
    pdu_counts: [u64; 7],
    /// Outstanding requests by (requesting direction, message id): index in `timings`
    /// (or `usize::MAX` when the list was full), command, request time.
    pending: HashMap<(usize, u16), (usize, String, f64)>,
    timings: Vec<DimseTiming>,
    stats: Vec<LatencyStats>,
}

impl AssocState {
    fn new(client: usize, start: f64, partial: bool) -> Self {
        AssocState {
            client,
            start,
            end: start,
            partial,
            bytes: [0; 2],
            pdus: [0; 2],
            pdu_counts: [0; 7],
            pending: HashMap::new(),
            timings: Vec::new(),
            stats: Vec::new(),
        }
    }

    fn stats_of(&mut self, command: &str) -> &mut LatencyStats {
        let i = match self.stats.iter().position(|s| s.command == command) {
            Some(i) => i,
            None => {
                self.stats.push(LatencyStats {
                    command: command.to_string(),
                    requests: 0,
                    answered: 0,
                    min: None,
                    mean: None,
                    max: None,
                });
                self.stats.len() - 1
            }
        };
        &mut self.stats[i]
    }

    fn request(&mut self, d: usize, dimse: &Dimse, time: f64) {
        let Some(id) = dimse.message_id else { return };
        let command = dimse.command.trim_end_matches("-RQ").to_string();
        self.stats_of(&command).requests += 1;
        let idx = if self.timings.len() < MAX_TIMINGS {
            self.timings.push(DimseTiming {
                command: command.clone(),
                message_id: id,
                request_time: time,
                response_time: None,
                latency: None,
                responses: 0,
                status: None,
                status_name: None,
            });
            self.timings.len() - 1
        } else {
            usize::MAX
        };
        self.pending.insert((d, id), (idx, command, time));
    }

    fn response(&mut self, d: usize, dimse: &Dimse, time: f64) {
        let Some(id) = dimse.responded_id else { return };
        let key = (1 - d, id);
        let pending_status = matches!(dimse.status, Some(0xFF00 | 0xFF01));
        let Some((idx, _, _)) = self.pending.get(&key) else {
            return;
        };
        let idx = *idx;
        if let Some(t) = self.timings.get_mut(idx) {
            t.responses += 1;
            if !pending_status {
                t.status = dimse.status;
                t.status_name = dimse.status_name.clone();
            }
        }
        if pending_status {
            return;
        }
        let Some((idx, command, req_time)) = self.pending.remove(&key) else {
            return;
        };
        let latency = micros(time - req_time).max(0.0);
        if let Some(t) = self.timings.get_mut(idx) {
            t.response_time = Some(time);
            t.latency = Some(latency);
        }
        let s = self.stats_of(&command);
        let n = s.answered as f64;
        s.answered += 1;
        s.min = Some(s.min.map_or(latency, |m| m.min(latency)));
        s.max = Some(s.max.map_or(latency, |m| m.max(latency)));
        s.mean = Some((s.mean.unwrap_or(0.0) * n + latency) / (n + 1.0));
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
    assoc: Option<AssocState>,
}

/// The open connections, by slot; freed slots are reused.
#[derive(Default)]
struct Slab {
    items: Vec<Option<Box<Conn>>>,
    free: Vec<usize>,
    open: u32,
    peak: u32,
}

impl Slab {
    fn insert(&mut self, c: Conn) -> usize {
        self.open += 1;
        self.peak = self.peak.max(self.open);
        match self.free.pop() {
            Some(i) => {
                self.items[i] = Some(Box::new(c));
                i
            }
            None => {
                self.items.push(Some(Box::new(c)));
                self.items.len() - 1
            }
        }
    }

    fn remove(&mut self, i: usize) -> Option<Box<Conn>> {
        let c = self.items.get_mut(i)?.take();
        if c.is_some() {
            self.free.push(i);
            self.open -= 1;
        }
        c
    }

    fn live(&self) -> Vec<usize> {
        (0..self.items.len())
            .filter(|&i| self.items[i].is_some())
            .collect()
    }
}

impl Index<usize> for Slab {
    type Output = Conn;
    fn index(&self, i: usize) -> &Conn {
        self.items[i].as_deref().expect("live connection slot")
    }
}

impl IndexMut<usize> for Slab {
    fn index_mut(&mut self, i: usize) -> &mut Conn {
        self.items[i].as_deref_mut().expect("live connection slot")
    }
}

/// What a 4-tuple refers to.
#[derive(Debug, Clone, Copy)]
enum Entry {
    Open(usize),
    /// Closed at this capture time; its stray segments are ignored until a new SYN.
    Closed(f64),
}

type Key = (SocketAddr, SocketAddr);

/// Where and when something happened.
struct Here {
    no: u64,
    time: f64,
    rel: f64,
}

pub(crate) struct Analyzer<'s, S: Sink> {
    out: &'s mut S,
    first_time: Option<Duration>,
    by_key: HashMap<Key, Entry>,
    conns: Slab,
    /// Connections seen so far (the next stream index).
    streams: u32,
    dicom_streams: u32,
    packets: u64,
    last: Option<(u64, f64, f64)>,
    /// Unsupported link types already reported (once each, not once per packet).
    unsupported_links: Vec<String>,
}

/// Seconds rounded to the microsecond (what captures record; also survives a JSON
/// round trip exactly).
fn micros(secs: f64) -> f64 {
    (secs * 1e6).round() / 1e6
}

fn addr(a: &SocketAddr) -> String {
    a.to_string()
}

impl<S: Sink> PacketSink for Analyzer<'_, S> {
    fn packet(&mut self, no: u64, ts: Duration, link: DataLink, data: &[u8]) {
        self.packets += 1;
        if self.packets.is_multiple_of(65_536) {
            self.forget_closed(ts.as_secs_f64());
        }
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
                self.out.issue(WireIssue {
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
            Some(&Entry::Open(ci)) => ci,
            Some(&Entry::Closed(_)) if !seg.syn => return,
            _ => self.new_conn(key, [seg.src, seg.dst]),
        };
        let d = usize::from(self.conns[ci].ends[0] != seg.src);
        // A SYN with another ISN on a known 4-tuple starts a new connection (port reuse).
        if seg.syn {
            let data_seq = seg.seq.wrapping_add(1);
            if matches!(self.conns[ci].dirs[d].tcp.base(), Some(b) if b != data_seq) {
                self.close_conn(ci, key, &here);
                ci = self.new_conn(key, [seg.src, seg.dst]);
            }
        }
        let d = usize::from(self.conns[ci].ends[0] != seg.src);
        let mut chunks = Vec::new();
        let mut issues = Vec::new();
        self.conns[ci].dirs[d]
            .tcp
            .segment(seg.seq, seg.syn, seg.payload, &mut chunks, &mut issues);
        if seg.fin && self.conns[ci].dirs[d].fin_seq.is_none() {
            let syn = u32::from(seg.syn);
            self.conns[ci].dirs[d].fin_seq = Some(
                seg.seq
                    .wrapping_add(syn)
                    .wrapping_add(seg.payload.len() as u32),
            );
        }
        self.tcp_issues(ci, d, &here, issues);
        for chunk in chunks {
            self.feed(ci, d, chunk, &here);
        }
        let c = &self.conns[ci];
        if seg.rst || (c.dirs[0].finished() && c.dirs[1].finished()) {
            self.close_conn(ci, key, &here);
        }
    }

    fn issue(&mut self, kind: IssueKind, no: Option<u64>, offset: Option<u64>, message: String) {
        self.out.issue(WireIssue {
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

impl<'s, S: Sink> Analyzer<'s, S> {
    pub(crate) fn new(out: &'s mut S) -> Self {
        Analyzer {
            out,
            first_time: None,
            by_key: HashMap::new(),
            conns: Slab::default(),
            streams: 0,
            dicom_streams: 0,
            packets: 0,
            last: None,
            unsupported_links: Vec::new(),
        }
    }

    /// Forget connections closed long ago (bounded memory on long captures).
    fn forget_closed(&mut self, now: f64) {
        self.by_key
            .retain(|_, e| !matches!(e, Entry::Closed(at) if now - *at > TOMBSTONE_SECS));
    }

    /// A new connection; direction 0 goes from `ends[0]` (the sender of its first packet).
    fn new_conn(&mut self, key: Key, ends: [SocketAddr; 2]) -> usize {
        let index = self.streams;
        self.streams = self.streams.saturating_add(1);
        let ci = self.conns.insert(Conn {
            index,
            ends,
            dirs: [Dir::new(), Dir::new()],
            calling: None,
            called: None,
            proposed: HashMap::new(),
            accepted: HashMap::new(),
            dicom: false,
            tls_reported: false,
            assoc: None,
        });
        self.by_key.insert(key, Entry::Open(ci));
        ci
    }

    /// The connection ended (FIN both ways, RST, or a new SYN on its 4-tuple): deliver
    /// what is left, emit its association summary and free it.
    fn close_conn(&mut self, ci: usize, key: Key, here: &Here) {
        self.flush_conn(ci, here);
        self.end_association(ci, "connection closed", here.time);
        self.conns.remove(ci);
        self.by_key.insert(key, Entry::Closed(here.time));
    }

    /// Emit the summary of the connection's association, if one is open.
    fn end_association(&mut self, ci: usize, outcome: &str, time: f64) {
        let c = &mut self.conns[ci];
        let Some(mut a) = c.assoc.take() else { return };
        a.end = a.end.max(time);
        let (client, server) = (a.client, 1 - a.client);
        let mut unanswered: Vec<_> = a.pending.drain().map(|(_, v)| v).collect();
        unanswered.sort_by(|x, y| x.2.total_cmp(&y.2));
        let names = [
            "A-ASSOCIATE-RQ",
            "A-ASSOCIATE-AC",
            "A-ASSOCIATE-RJ",
            "P-DATA-TF",
            "A-RELEASE-RQ",
            "A-RELEASE-RP",
            "A-ABORT",
        ];
        let summary = Association {
            stream: c.index,
            client: addr(&c.ends[client]),
            server: addr(&c.ends[server]),
            calling_aet: c.calling.clone(),
            called_aet: c.called.clone(),
            start: a.start,
            end: a.end,
            duration: micros(a.end - a.start).max(0.0),
            outcome: outcome.to_string(),
            partial: a.partial,
            bytes_from_client: a.bytes[client],
            bytes_from_server: a.bytes[server],
            pdus_from_client: a.pdus[client],
            pdus_from_server: a.pdus[server],
            pdu_counts: names
                .iter()
                .zip(a.pdu_counts)
                .filter(|(_, n)| *n > 0)
                .map(|(k, n)| (k.to_string(), n))
                .collect(),
            unanswered: unanswered.len() as u64,
            latency: a
                .stats
                .into_iter()
                .map(|mut s| {
                    s.mean = s.mean.map(micros);
                    s
                })
                .collect(),
            timings_dropped: a.timings.len() >= MAX_TIMINGS,
            dimse: a.timings,
        };
        self.out.association(summary);
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
        self.out.issue(WireIssue {
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
            dir.release_buffers();
        }
    }

    pub(crate) fn finish(mut self) -> Totals {
        let (no, time, rel) = self.last.unwrap_or((0, 0.0, 0.0));
        let here = Here { no, time, rel };
        let mut live = self.conns.live();
        live.sort_by_key(|&ci| self.conns[ci].index);
        for ci in live {
            self.flush_conn(ci, &here);
            self.end_association(ci, "capture ended", time);
            self.conns.remove(ci);
        }
        Totals {
            packets: self.packets,
            dicom_streams: self.dicom_streams,
            streams: self.streams,
            peak_open_connections: self.conns.peak,
        }
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
            Mode::Tls => {
                self.feed_tls(ci, d, &chunk.data, here);
                return;
            }
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
                        let data = std::mem::take(&mut dir.buf);
                        dir.tls = Some(Box::default());
                        self.feed_tls(ci, d, &data, here);
                        return;
                    }
                    Detect::Dicom => {
                        dir.mode = Mode::Dicom;
                        if !self.conns[ci].dicom {
                            self.conns[ci].dicom = true;
                            self.dicom_streams += 1;
                        }
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

    fn feed_tls(&mut self, ci: usize, d: usize, data: &[u8], here: &Here) {
        let Some(tls) = self.conns[ci].dirs[d].tls.as_mut() else {
            return;
        };
        for outcome in tls.feed(data) {
            let info = match outcome {
                TlsOutcome::Nothing => continue,
                TlsOutcome::Hello(h) => h.info(),
                // only that TLS is used, once per connection
                TlsOutcome::Unreadable(_) if self.conns[ci].tls_reported => continue,
                TlsOutcome::Unreadable(_) => "TLS handshake".to_string(),
            };
            self.conns[ci].tls_reported = true;
            let e = self.event(ci, d, here, "TLS", "TLS".into(), info);
            self.out.event(e);
        }
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
            self.count_pdu(ci, d, ty, total as u64, here);
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
        if dir.buf.is_empty() && dir.buf.capacity() > 64 * 1024 {
            dir.buf = Vec::new();
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
            packet: here.no,
            pdu_offset: 0,
        }
    }

    fn emit(&mut self, mut e: Event, offset: u64) {
        e.pdu_offset = offset;
        self.out.event(e);
    }

    /// The association is over: its buffers are no longer needed.
    fn release(&mut self, ci: usize) {
        for dir in &mut self.conns[ci].dirs {
            dir.release_buffers();
        }
    }

    /// Account one complete PDU of `total` bytes in the association summary.
    fn count_pdu(&mut self, ci: usize, d: usize, ty: u8, total: u64, here: &Here) {
        if ty == 1 {
            // an A-ASSOCIATE-RQ starts a new association
            self.end_association(ci, "superseded by a new A-ASSOCIATE-RQ", here.time);
            self.conns[ci].assoc = Some(AssocState::new(d, here.time, false));
        }
        let c = &mut self.conns[ci];
        let a = c
            .assoc
            .get_or_insert_with(|| AssocState::new(d, here.time, true));
        a.end = here.time;
        a.bytes[d] += total;
        a.pdus[d] += 1;
        a.pdu_counts[usize::from(ty - 1)] += 1;
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
                e.pdu_offset = offset;
                self.out.event(e);
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
                e.pdu_offset = offset;
                self.out.event(e);
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
                e.pdu_offset = offset;
                self.out.event(e);
                self.end_association(ci, "rejected", here.time);
                self.release(ci);
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
                self.emit(e, offset);
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
                self.emit(e, offset);
                self.end_association(ci, "released", here.time);
                self.release(ci);
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
                self.emit(e, offset);
                self.end_association(ci, "aborted", here.time);
                self.release(ci);
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
        // PHI found in the data sets this PDU completes, emitted after its event
        let mut phi: Vec<PhiSeen> = Vec::new();
        for pdv in values {
            let is_cmd = pdv.value_type == PDataValueType::Command;
            let pcid = pdv.presentation_context_id;
            let limit = if is_cmd {
                MAX_COMMAND_BYTES
            } else {
                MAX_DATASET_BYTES
            };
            let enc = if is_cmd {
                None
            } else {
                let ts = self.conns[ci].accepted.get(&pcid).map(String::as_str);
                Some(ts.map_or_else(
                    || {
                        let frags = self.conns[ci].dirs[d].pdv.get(&(pcid, false));
                        let head = frags.map_or(&pdv.data[..], |f| &f.data[..]);
                        dataset::encoding(dataset::guess_ts(head))
                    },
                    dataset::encoding,
                ))
            };
            let dir = &mut self.conns[ci].dirs[d];
            let frags = dir.pdv.entry((pcid, is_cmd)).or_default();
            let mut too_big = false;
            if !frags.dropped && !frags.prefix_done {
                if frags.data.len() + pdv.data.len() > limit {
                    frags.dropped = true;
                    frags.data = Vec::new();
                    too_big = true;
                } else {
                    frags.data.extend_from_slice(&pdv.data);
                    // Keep only what precedes the top-level Pixel Data (the PHI is
                    // there); look for it each time the buffer doubles.
                    if let Some(Some((explicit, big))) = enc
                        && frags.data.len() >= frags.next_check
                    {
                        match dataset::prescan(&frags.data, explicit, big) {
                            Ok(p) if p < frags.data.len() => {
                                frags.data.truncate(p);
                                frags.data.shrink_to_fit();
                                frags.prefix_done = true;
                            }
                            _ => frags.next_check = (frags.data.len() * 2).max(16 * 1024),
                        }
                    }
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
                    Ok(cmd) => {
                        let dimse = to_dimse(cmd);
                        if let Some(a) = self.conns[ci].assoc.as_mut() {
                            if dimse.command.ends_with("-RSP") {
                                a.response(d, &dimse, here.time);
                            } else {
                                a.request(d, &dimse, here.time);
                            }
                        }
                        commands.push(dimse);
                    }
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
                        phi.extend(found.into_iter().map(|(kw, value)| PhiSeen {
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
            self.emit(e, offset);
        }
        for dimse in commands {
            let (label, info) = dimse_texts(&dimse);
            let mut e = self.event(ci, d, here, "P-DATA-TF", label, info);
            e.dimse = Some(dimse);
            self.emit(e, offset);
        }
        for p in phi {
            self.out.phi(p);
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
