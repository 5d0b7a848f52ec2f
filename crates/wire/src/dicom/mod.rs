//! Connections, DICOM detection, PDU and DIMSE decoding, events and PHI.
//!
//! This file holds the per-connection state and the analyser; `stream` follows each TCP
//! direction (reassembly, detection, PDU framing, connection life), `pdu` turns PDUs and
//! DIMSE messages into events, associations and PHI, `detect` tells DICOM and TLS from
//! anything else.

mod detect;
mod pdu;
mod stream;

use crate::tcp::Reassembler;
use crate::tls::TlsDir;
use crate::{Dimse, DimseTiming, LatencyStats, MAX_TCP_BUFFERED, Sink};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::{Index, IndexMut};
use std::time::Duration;

/// Largest command set accepted (they are a few hundred bytes in practice).
const MAX_COMMAND_BYTES: usize = 1024 * 1024;

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

#[cfg(test)]
mod tests {
    use super::detect::{Detect, detect};

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
