//! Following each TCP direction: the packet entry point, reassembly, DICOM/TLS detection,
//! PDU framing, and the life of connections and associations.

use super::detect::{Detect, detect};
use super::{
    Analyzer, Conn, Dir, Entry, Here, Key, MAX_TIMINGS, Mode, Slab, TOMBSTONE_SECS, addr, micros,
};
use crate::capture::{PacketSink, guard};
use crate::net::tcp_segment;
use crate::tcp::Chunk;
use crate::tls::TlsOutcome;
use crate::{Association, IssueKind, MAX_PDU_LENGTH, Sink, Totals, WireIssue};
use dicom_ul::pdu::read_pdu;
use pcap_file::DataLink;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

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
    pub(super) fn forget_closed(&mut self, now: f64) {
        self.by_key
            .retain(|_, e| !matches!(e, Entry::Closed(at) if now - *at > TOMBSTONE_SECS));
    }

    /// A new connection; direction 0 goes from `ends[0]` (the sender of its first packet).
    pub(super) fn new_conn(&mut self, key: Key, ends: [SocketAddr; 2]) -> usize {
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
    pub(super) fn close_conn(&mut self, ci: usize, key: Key, here: &Here) {
        self.flush_conn(ci, here);
        self.end_association(ci, "connection closed", here.time);
        self.conns.remove(ci);
        self.by_key.insert(key, Entry::Closed(here.time));
    }

    /// Emit the summary of the connection's association, if one is open.
    pub(super) fn end_association(&mut self, ci: usize, outcome: &str, time: f64) {
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

    pub(super) fn dir_name(&self, ci: usize, d: usize) -> (String, String) {
        let c = &self.conns[ci];
        (addr(&c.ends[d]), addr(&c.ends[1 - d]))
    }

    pub(super) fn push_issue(
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

    pub(super) fn tcp_issues(
        &mut self,
        ci: usize,
        d: usize,
        here: &Here,
        issues: Vec<(u64, String)>,
    ) {
        for (off, msg) in issues {
            self.push_issue(IssueKind::Tcp, ci, d, off, here, msg);
        }
    }

    /// Deliver what is still buffered (after gaps) for both directions of a connection.
    pub(super) fn flush_conn(&mut self, ci: usize, here: &Here) {
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

    pub(super) fn feed(&mut self, ci: usize, d: usize, chunk: Chunk, here: &Here) {
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

    pub(super) fn feed_tls(&mut self, ci: usize, d: usize, data: &[u8], here: &Here) {
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

    pub(super) fn decode_pdus(&mut self, ci: usize, d: usize, here: &Here) {
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
}
