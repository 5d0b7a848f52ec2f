//! Offline DICOM network analysis of a packet capture.
//!
//! `wire` owns: reading pcap and pcapng files (Ethernet, Linux SLL/SLL2, raw IP and BSD
//! loopback link types), TCP reassembly per connection and direction, detecting DICOM
//! upper-layer traffic on any port by PDU heuristics, decoding PDUs (with `dicom-ul`) and
//! DIMSE command sets (with `dicom-object`), remembering the negotiated presentation
//! contexts, parsing data sets to report PHI readable in clear, summarising each
//! association (duration, bytes, PDU counts, request-to-response latency), reading the TLS
//! hellos (SNI, offered and chosen version, cipher), and rendering a Wireshark-like
//! timeline (table or JSON lines, see [`JsonLines`]).
//!
//! `wire` does not own: capturing packets, containers, labs or checks. It knows no Docker
//! and reads any capture, not only the ones this project records. It never fails because
//! of what is *inside* a capture: malformed packets, segments, PDUs or data sets become
//! [`WireIssue`] entries in [`Analysis::errors`]; only an unreadable file or an unknown
//! file format is a [`WireError`].
//!
//! Memory: the capture is read as a stream through one reusable buffer
//! ([`analyze_reader`]); a connection's state is freed when it ends (FIN both ways, RST,
//! or a new SYN on its 4-tuple) and its buffers when its association ends (A-RELEASE-RP,
//! A-ABORT, A-ASSOCIATE-RJ); of a data set only what precedes the top-level Pixel Data is
//! kept (the PHI is there). With a streaming [`Sink`] (as `lab inspect` uses) memory does
//! not grow with the capture; [`analyze_file`] keeps every result. Per TCP direction,
//! out-of-order bytes, one PDU and one data set prefix are bounded by the constants below,
//! whatever the input says.

mod capture;
mod dataset;
mod dicom;
mod elements;
mod hosts;
mod names;
mod net;
mod output;
mod tcp;
mod terminal;
mod tls;

#[doc(hidden)]
pub mod fuzzing;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

pub use dataset::{check_command, check_dataset, check_whole_dataset};
pub use elements::{ElementHeader, TopLevelElements, read_header, top_level_elements};
pub use hosts::{Endpoint, Host, Hosts, NamedAssociation, NamedEvent};
pub use names::{command_name, sop_class_name, status_name};
pub use output::{JsonLines, TIMELINE_SCHEMA, Table, association_text};
pub use terminal::{terminal_safe, terminal_text};

/// Largest PDU the decoder accepts (PDU length field); bigger ones are an issue.
pub const MAX_PDU_LENGTH: u32 = 16 * 1024 * 1024;
/// Largest data set (sum of its PDV fragments) that is parsed for PHI.
pub const MAX_DATASET_BYTES: usize = 64 * 1024 * 1024;
/// Deepest nesting of sequences and items (together) a data set may have before it is
/// parsed: `dicom-object` recurses once per level, and 10,000 levels overflow any stack.
/// Real objects nest a handful of levels (structured reports reach about 10).
pub const MAX_NESTING: usize = 64;
/// Largest number of out-of-order bytes buffered per TCP direction before resyncing.
pub const MAX_TCP_BUFFERED: usize = 64 * 1024 * 1024;

/// What can make a whole analysis fail (everything else is a [`WireIssue`]).
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("cannot read capture {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("not a pcap or pcapng capture (first bytes {0:02x?})")]
    UnknownFormat(Vec<u8>),
    #[error("invalid {format} header: {message}")]
    BadHeader {
        format: &'static str,
        message: String,
    },
}

/// Result of analysing one capture.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// In capture order (time of the packet that completed the PDU).
    pub events: Vec<Event>,
    /// PHI readable in clear in DICOM data sets.
    pub phi: Vec<PhiSeen>,
    /// Malformed things seen; never fatal.
    pub errors: Vec<WireIssue>,
    /// Packets (records) read from the capture.
    pub packets: u64,
    /// TCP connections in which at least one direction carried DICOM PDUs.
    pub dicom_streams: u32,
    /// One summary per association, in the order they ended.
    #[serde(default)]
    pub associations: Vec<Association>,
}

/// Receives the results of an analysis as they are found, in capture order: the
/// streaming interface ([`analyze_reader`]). [`Analysis`] is the sink that keeps all.
pub trait Sink {
    fn event(&mut self, event: Event);
    fn phi(&mut self, phi: PhiSeen);
    fn issue(&mut self, issue: WireIssue);
    /// Called when an association ends (release, abort, reject, connection closed or end
    /// of capture).
    fn association(&mut self, association: Association);
}

impl Sink for Analysis {
    fn event(&mut self, event: Event) {
        self.events.push(event);
    }
    fn phi(&mut self, phi: PhiSeen) {
        self.phi.push(phi);
    }
    fn issue(&mut self, issue: WireIssue) {
        self.errors.push(issue);
    }
    fn association(&mut self, association: Association) {
        self.associations.push(association);
    }
}

/// Counters of a streaming analysis.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Packets (records) read from the capture.
    pub packets: u64,
    /// TCP connections in which at least one direction carried DICOM PDUs.
    pub dicom_streams: u32,
    /// TCP connections seen.
    pub streams: u32,
    /// Largest number of connections open (state held) at the same time.
    pub peak_open_connections: u32,
}

/// Summary of one association (one DICOM TCP connection, in practice).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Association {
    pub stream: u32,
    /// `"ip:port"` of the association requestor (sender of the A-ASSOCIATE-RQ; when that
    /// is not in the capture, the sender of the first PDU seen).
    pub client: String,
    pub server: String,
    pub calling_aet: Option<String>,
    pub called_aet: Option<String>,
    /// Time (seconds since the Unix epoch) of the A-ASSOCIATE-RQ (or first PDU seen).
    pub start: f64,
    /// Time of the last PDU of the association.
    pub end: f64,
    /// `end - start`, seconds.
    pub duration: f64,
    /// `released`, `aborted`, `rejected`, `connection closed` (without release),
    /// `capture ended`, or `superseded by a new A-ASSOCIATE-RQ`.
    pub outcome: String,
    /// The capture does not hold the start of the association.
    pub partial: bool,
    /// Bytes of whole PDUs (headers included) sent by each side.
    pub bytes_from_client: u64,
    pub bytes_from_server: u64,
    pub pdus_from_client: u64,
    pub pdus_from_server: u64,
    /// PDU counts by PDU type name (`P-DATA-TF` ...), types not seen left out.
    pub pdu_counts: BTreeMap<String, u64>,
    /// Requests that got no final response before the association ended.
    pub unanswered: u64,
    /// Request-to-final-response latency per DIMSE service (`C-STORE` ...).
    pub latency: Vec<LatencyStats>,
    /// Each request with its final response, in request order (at most 10 000).
    pub dimse: Vec<DimseTiming>,
    /// More requests than the `dimse` list keeps (the `latency` statistics count all).
    pub timings_dropped: bool,
}

/// Latency statistics of one DIMSE service in an association (seconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyStats {
    /// `C-STORE`, `C-ECHO`, ...
    pub command: String,
    pub requests: u64,
    /// Requests with a final (non-pending) response.
    pub answered: u64,
    pub min: Option<f64>,
    pub mean: Option<f64>,
    pub max: Option<f64>,
}

/// One DIMSE request and its final response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DimseTiming {
    /// `C-STORE`, `C-FIND`, ...
    pub command: String,
    pub message_id: u16,
    /// Time of the PDU that completed the request's command set.
    pub request_time: f64,
    /// Time of the final response (status other than Pending).
    pub response_time: Option<f64>,
    /// `response_time - request_time`, seconds.
    pub latency: Option<f64>,
    /// Responses seen, pending ones included.
    pub responses: u32,
    pub status: Option<u16>,
    pub status_name: Option<String>,
}

impl Analysis {
    /// Labels of the events in order, without the `P-DATA` data-set fragments: the
    /// sequence a check's `expect:` list is meant to be compared with.
    pub fn step_labels(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter(|e| e.label != "P-DATA")
            .map(|e| e.label.as_str())
            .collect()
    }

    /// The PHI seen in clear as `Keyword = value` lines, sorted, each once.
    pub fn phi_lines(&self) -> Vec<String> {
        let mut seen: Vec<String> = self
            .phi
            .iter()
            .map(|p| format!("{} = {}", p.keyword, p.value))
            .collect();
        seen.sort();
        seen.dedup();
        seen
    }

    /// Same as [`Analysis::step_labels`], restricted to one TCP stream.
    pub fn step_labels_of(&self, stream: u32) -> Vec<&str> {
        self.events
            .iter()
            .filter(|e| e.stream == stream && e.label != "P-DATA")
            .map(|e| e.label.as_str())
            .collect()
    }
}

/// One decoded PDU (or one DIMSE message, or a TLS notice).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Seconds since the Unix epoch, from the packet timestamp.
    pub time: f64,
    /// Seconds since the first packet of the capture.
    pub rel_time: f64,
    /// TCP connection index, 0-based in order of appearance.
    pub stream: u32,
    /// `"ip:port"` (IPv6 as `"[ip]:port"`).
    pub src: String,
    pub dst: String,
    /// `A-ASSOCIATE-RQ`, `A-ASSOCIATE-AC`, `A-ASSOCIATE-RJ`, `P-DATA-TF`, `A-RELEASE-RQ`,
    /// `A-RELEASE-RP`, `A-ABORT`, or `TLS`.
    pub pdu: String,
    /// Canonical step name used by sequence checks (`C-STORE-RQ`, `C-STORE-RSP Success`,
    /// `P-DATA` for data-set fragments, the PDU name otherwise).
    pub label: String,
    /// Wireshark-like Info column text.
    pub info: String,
    pub calling_aet: Option<String>,
    pub called_aet: Option<String>,
    /// For P-DATA events carrying a complete command set.
    pub dimse: Option<Dimse>,
    /// 1-based record number (Wireshark's frame number) of the packet that completed
    /// the PDU.
    #[serde(default)]
    pub packet: u64,
    /// Offset of the PDU in its TCP direction's byte stream (events from one PDU share
    /// it; with `stream` and `src` it identifies the PDU).
    #[serde(default)]
    pub pdu_offset: u64,
}

/// A decoded DIMSE command set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dimse {
    /// e.g. `"C-STORE-RQ"`.
    pub command: String,
    pub message_id: Option<u16>,
    pub responded_id: Option<u16>,
    pub status: Option<u16>,
    pub status_name: Option<String>,
    pub sop_class_uid: Option<String>,
    pub sop_instance_uid: Option<String>,
}

/// A PHI attribute readable in clear in a data set on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhiSeen {
    pub stream: u32,
    pub time: f64,
    /// DICOM keyword, e.g. `"PatientName"`.
    pub keyword: String,
    pub value: String,
}

/// Which layer an issue comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueKind {
    /// The capture file itself (truncated record, bad block, unknown link type).
    Capture,
    /// Link / IP / TCP headers that could not be sliced.
    Packet,
    /// TCP reassembly (gaps, buffer bound reached, segments out of window).
    Tcp,
    /// DICOM upper layer: bad PDU header, PDU that does not decode, oversized PDU.
    Pdu,
    /// DIMSE command sets and PDV reassembly.
    Dimse,
    /// Data sets (unparsable, oversized, unsupported transfer syntax).
    Dataset,
}

/// Something malformed (or not analysable) in the capture. Never fatal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireIssue {
    pub kind: IssueKind,
    /// 1-based record number in the capture, when known.
    pub packet: Option<u64>,
    /// TCP stream index, when known.
    pub stream: Option<u32>,
    /// `"src -> dst"` of the direction, when known.
    pub direction: Option<String>,
    /// Byte offset: in the TCP direction's byte stream for stream issues, in the file for
    /// capture issues.
    pub offset: Option<u64>,
    pub time: Option<f64>,
    pub message: String,
}

/// Analyse a pcap or pcapng file (detected by magic number), keeping every result.
/// The file is read as a stream; memory grows with the number of results only.
pub fn analyze_file(path: &Path) -> Result<Analysis, WireError> {
    let mut analysis = Analysis::default();
    let totals = analyze_file_with(path, &mut analysis)?;
    analysis.packets = totals.packets;
    analysis.dicom_streams = totals.dicom_streams;
    Ok(analysis)
}

/// Analyse a pcap or pcapng file, handing results to `sink` as they are found.
pub fn analyze_file_with(path: &Path, sink: &mut impl Sink) -> Result<Totals, WireError> {
    let file = std::fs::File::open(path).map_err(|source| WireError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    analyze_reader(file, sink).map_err(|e| match e {
        WireError::Io { source, .. } => WireError::Io {
            path: path.to_path_buf(),
            source,
        },
        other => other,
    })
}

/// Analyse a pcap or pcapng capture read from `reader` (one reusable buffer, no
/// look-ahead beyond one record), handing results to `sink` as they are found.
pub fn analyze_reader(reader: impl Read, sink: &mut impl Sink) -> Result<Totals, WireError> {
    let mut analyzer = dicom::Analyzer::new(sink);
    match capture::for_each_packet(reader, &mut analyzer) {
        Ok(()) => Ok(analyzer.finish()),
        Err(capture::ReadError::Wire(e)) => Err(e),
        Err(capture::ReadError::Io(source)) => Err(WireError::Io {
            path: PathBuf::new(),
            source,
        }),
    }
}

/// Analyse a pcap or pcapng capture held in memory.
pub fn analyze_bytes(data: &[u8]) -> Result<Analysis, WireError> {
    let mut analysis = Analysis::default();
    let totals = analyze_reader(data, &mut analysis)?;
    analysis.packets = totals.packets;
    analysis.dicom_streams = totals.dicom_streams;
    Ok(analysis)
}

/// One line per event: index, relative time (6 decimals), `src -> dst`, info.
pub fn render_table(analysis: &Analysis) -> String {
    let mut out = String::new();
    let w_src = analysis
        .events
        .iter()
        .map(|e| e.src.len())
        .max()
        .unwrap_or(0);
    let w_dst = analysis
        .events
        .iter()
        .map(|e| e.dst.len())
        .max()
        .unwrap_or(0);
    for (i, e) in analysis.events.iter().enumerate() {
        out.push_str(&format!(
            "{:>4} {:>12.6} {:<w_src$} -> {:<w_dst$} {}\n",
            i + 1,
            e.rel_time,
            e.src,
            e.dst,
            e.info,
        ));
    }
    out
}
