//! `ids`: a passive intrusion detection system on the tap. It captures with libpcap (the
//! same way as [`crate::sniff`]; it never sends a packet), streams the packets as a pcap byte
//! stream into the `wire` analyser running on another thread (so the DICOM timeline is
//! built incrementally, with wire's TCP reassembly and PDU decoding), and applies rules over
//! a sliding window per source address:
//!
//! | rule | fires when, from one source within the window |
//! |---|---|
//! | `aet-brute-force` | >= 5 A-ASSOCIATE-RJ for AE-title reasons (called or calling AE title not recognized) |
//! | `c-find-sweep` | >= 10 C-FIND-RQ |
//! | `association-flood` | >= 50 A-ASSOCIATE-RQ |
//! | `phi-in-clear` | a PatientName readable in a clear data set (threshold 1) |
//! | `pe-preamble` | a DICOM file whose 128-byte preamble starts as a Windows (`MZ`) or Linux (`\x7fELF`) executable, in any TCP payload (CVE-2019-11687; threshold 1) |
//!
//! An alert is one JSON line, printed and appended to the alerts file:
//! `{"event":"alert","rule":..,"source":"10.213.0.5","count":N,"first":t,"last":t,...}`
//! (times in seconds since the Unix epoch, from the packets). After an alert, the same rule
//! and source stay quiet for one window (then alert again if the activity goes on).
//! A preamble never crosses a DICOM association (only data sets do): a polyglot travels as
//! a file, over HTTP (Orthanc's `POST /instances`), mail or shares. So `pe-preamble` looks
//! at packets, as a signature IDS does, before the DICOM analysis: it matches where the
//! 132 bytes of preamble and `DICM` sit in one TCP segment, which is where a file's
//! beginning lands. TIFF preambles (legitimate, PS3.10 7.5) do not fire.
//!
//! Bounded: the channel between capture and analysis holds at most [`CHANNEL_CHUNKS`]
//! chunks (the capture waits when the analyser lags; the kernel buffer absorbs bursts),
//! each rule tracks at most [`MAX_SOURCES`] sources and [`MAX_TIMES`] times per source.

use anyhow::{Context, Result, anyhow};
use protocol::IdsRule;
use protocol::result::AlertDetail;
use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::{Duration, Instant};

pub const CHANNEL_CHUNKS: usize = 1024;
pub const MAX_SOURCES: usize = 10_000;
pub const MAX_TIMES: usize = 100_000;
const SEND_EVERY: Duration = Duration::from_millis(50);
const IDLE_SLEEP: Duration = Duration::from_millis(5);
/// How long the capture is still read after the stop signal (> the 100 ms block timeout).
const DRAIN: Duration = Duration::from_millis(300);

/// Which rules are on, and the count within the window that fires each.
#[derive(Debug, Clone)]
pub struct Thresholds {
    on: HashMap<IdsRule, usize>,
}

impl Thresholds {
    pub fn from_options(opts: &protocol::attack::IdsOptions) -> Thresholds {
        let on = IdsRule::ALL
            .iter()
            .filter_map(|&r| Some((r, opts.threshold(r)?.max(1) as usize)))
            .collect();
        Thresholds { on }
    }

    /// The threshold of `rule`, or `None` when it is off.
    fn of(&self, rule: IdsRule) -> Option<usize> {
        self.on.get(&rule).copied()
    }
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds::from_options(&protocol::argv::defaults())
    }
}

#[derive(Debug, Clone)]
pub struct IdsOptions {
    pub iface: String,
    pub alerts: PathBuf,
    pub window: Duration,
    pub snaplen: u32,
    pub thresholds: Thresholds,
}

/// One alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub rule: IdsRule,
    pub source: String,
    pub count: usize,
    pub first: f64,
    pub last: f64,
    /// Rule-specific details (target, called AE title, keyword, preamble).
    pub detail: AlertDetail,
}

impl Alert {
    /// The alert's JSON line.
    pub fn to_line(&self, window: Duration) -> protocol::result::Alert {
        let d = self.detail.clone();
        protocol::result::Alert {
            count: self.count as u64,
            event: protocol::result::tags::Alert,
            first: self.first,
            keyword: d.keyword,
            last: self.last,
            last_called_aet: d.last_called_aet,
            preamble: d.preamble,
            rule: self.rule.name().to_string(),
            source: self.source.clone(),
            target: d.target,
            window_secs: window.as_secs_f64(),
        }
    }
}

/// The IP part of `"ip:port"` / `"[ip]:port"`.
pub fn ip_of(addr: &str) -> String {
    let host = addr.rsplit_once(':').map(|(h, _)| h).unwrap_or(addr);
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_string()
}

#[derive(Default)]
struct Track {
    times: VecDeque<f64>,
    last_alert: Option<f64>,
}

/// The rules, fed with wire's events; pure logic (no I/O), so it is tested offline.
pub struct Detector {
    window: f64,
    th: Thresholds,
    tracks: HashMap<(IdsRule, String), Track>,
    /// TCP stream -> client address (from its A-ASSOCIATE-RQ), for PHI alerts.
    clients: HashMap<u32, (String, String)>,
}

impl Detector {
    pub fn new(window: Duration, th: Thresholds) -> Detector {
        Detector {
            window: window.as_secs_f64().max(0.001),
            th,
            tracks: HashMap::new(),
            clients: HashMap::new(),
        }
    }

    fn hit(&mut self, rule: IdsRule, source: &str, t: f64, detail: AlertDetail) -> Option<Alert> {
        let threshold = self.th.of(rule)?;
        if self.tracks.len() >= MAX_SOURCES && !self.tracks.contains_key(&(rule, source.into())) {
            // Forget sources that have been quiet for a window; if still full, drop this hit.
            let w = self.window;
            self.tracks
                .retain(|_, tr| tr.times.back().is_some_and(|&l| t - l <= w));
            if self.tracks.len() >= MAX_SOURCES {
                return None;
            }
        }
        let tr = self.tracks.entry((rule, source.to_string())).or_default();
        tr.times.push_back(t);
        while tr
            .times
            .front()
            .is_some_and(|&f| t - f > self.window || tr.times.len() > MAX_TIMES)
        {
            tr.times.pop_front();
        }
        let count = tr.times.len();
        let quiet = tr.last_alert.is_none_or(|l| t - l >= self.window);
        if count >= threshold && quiet {
            tr.last_alert = Some(t);
            return Some(Alert {
                rule,
                source: source.to_string(),
                count,
                first: *tr.times.front().unwrap_or(&t),
                last: t,
                detail,
            });
        }
        None
    }

    /// Feed one timeline event.
    pub fn event(&mut self, e: &wire::Event) -> Vec<Alert> {
        let mut out = Vec::new();
        let mut detail = AlertDetail::default();
        match e.label.as_str() {
            "A-ASSOCIATE-RQ" => {
                if self.clients.len() > 100_000 {
                    self.clients.clear();
                }
                self.clients
                    .insert(e.stream, (ip_of(&e.src), e.dst.clone()));
                detail.target = Some(e.dst.clone());
                let src = ip_of(&e.src);
                out.extend(self.hit(IdsRule::AssociationFlood, &src, e.time, detail));
            }
            "A-ASSOCIATE-RJ" if e.info.contains("AETitleNotRecognized") => {
                detail.target = Some(e.src.clone());
                if let Some(c) = &e.called_aet {
                    detail.last_called_aet = Some(c.trim().to_string());
                }
                let src = ip_of(&e.dst);
                out.extend(self.hit(IdsRule::AetBruteForce, &src, e.time, detail));
            }
            _ => {
                if e.dimse.as_ref().is_some_and(|d| d.command == "C-FIND-RQ") {
                    detail.target = Some(e.dst.clone());
                    let src = ip_of(&e.src);
                    out.extend(self.hit(IdsRule::CFindSweep, &src, e.time, detail));
                }
            }
        }
        out
    }

    /// Feed one PHI finding. The value is not copied into the alert (an IDS log is no
    /// place for more PHI).
    pub fn phi(&mut self, p: &wire::PhiSeen) -> Vec<Alert> {
        if p.keyword != "PatientName" {
            return vec![];
        }
        let (src, target) = self
            .clients
            .get(&p.stream)
            .cloned()
            .unwrap_or_else(|| ("unknown".into(), "unknown".into()));
        let detail = AlertDetail {
            target: Some(target),
            keyword: Some(p.keyword.clone()),
            ..Default::default()
        };
        self.hit(IdsRule::PhiInClear, &src, p.time, detail)
            .into_iter()
            .collect()
    }

    /// Feed one TCP segment's payload (`pe-preamble`).
    pub fn segment(&mut self, t: f64, src: &str, dst: &str, payload: &[u8]) -> Vec<Alert> {
        let Some(kind) = executable_preamble(payload) else {
            return vec![];
        };
        let detail = AlertDetail {
            target: Some(dst.to_string()),
            preamble: Some(kind.to_string()),
            ..Default::default()
        };
        self.hit(IdsRule::PePreamble, src, t, detail)
            .into_iter()
            .collect()
    }
}

/// `pe` or `elf` when `bytes` hold a DICOM file header (`DICM` after 128 bytes of
/// preamble) whose preamble begins as an executable.
pub fn executable_preamble(bytes: &[u8]) -> Option<&'static str> {
    let mut from = 128;
    while let Some(i) = bytes
        .get(from..)
        .and_then(|rest| rest.windows(4).position(|w| w == b"DICM"))
    {
        let at = from + i;
        let preamble = &bytes[at - 128..at];
        if preamble.starts_with(b"MZ") {
            return Some("pe");
        }
        if preamble.starts_with(b"\x7fELF") {
            return Some("elf");
        }
        from = at + 1;
    }
    None
}

/// The source and destination ("ip:port") and TCP payload of an Ethernet frame.
fn tcp_segment(frame: &[u8]) -> Option<(String, String, &[u8])> {
    let p = etherparse::SlicedPacket::from_ethernet(frame).ok()?;
    let (src, dst) = match p.net? {
        etherparse::NetSlice::Ipv4(ip) => (
            ip.header().source_addr().to_string(),
            ip.header().destination_addr().to_string(),
        ),
        etherparse::NetSlice::Ipv6(ip) => (
            ip.header().source_addr().to_string(),
            ip.header().destination_addr().to_string(),
        ),
        _ => return None,
    };
    match p.transport? {
        etherparse::TransportSlice::Tcp(tcp) => Some((
            src,
            format!("{dst}:{}", tcp.destination_port()),
            tcp.payload(),
        )),
        _ => None,
    }
}

/// Reads the pcap byte stream the capture thread sends; EOF when the sender is dropped.
struct ChannelReader {
    rx: Receiver<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos >= self.cur.len() {
            match self.rx.recv() {
                Ok(c) => {
                    self.cur = c;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Where alerts go: stdout (through `emit`) and the alerts file (none when fuzzed).
pub(crate) struct AlertSink {
    pub(crate) det: Detector,
    file: Option<std::fs::File>,
    window: Duration,
    emit: fn(&protocol::result::Alert),
    alerts: u64,
    write_error: Option<String>,
}

impl AlertSink {
    pub(crate) fn new(
        det: Detector,
        file: Option<std::fs::File>,
        window: Duration,
        emit: fn(&protocol::result::Alert),
    ) -> AlertSink {
        AlertSink {
            det,
            file,
            window,
            emit,
            alerts: 0,
            write_error: None,
        }
    }

    pub(crate) fn alerts(&self) -> u64 {
        self.alerts
    }

    fn raise(&mut self, alerts: Vec<Alert>) {
        for a in alerts {
            let line = a.to_line(self.window);
            (self.emit)(&line);
            if let Some(f) = &mut self.file
                && let Err(e) =
                    writeln!(f, "{}", protocol::result::to_line(&line)).and_then(|_| f.flush())
            {
                self.write_error.get_or_insert(e.to_string());
            }
            self.alerts += 1;
        }
    }
}

impl wire::Sink for AlertSink {
    fn event(&mut self, event: wire::Event) {
        let a = self.det.event(&event);
        self.raise(a);
    }
    fn phi(&mut self, phi: wire::PhiSeen) {
        let a = self.det.phi(&phi);
        self.raise(a);
    }
    fn issue(&mut self, _issue: wire::WireIssue) {}
    fn association(&mut self, _association: wire::Association) {}
}

/// The analysis thread's work: the pcap byte stream through wire's analyser (TCP
/// reassembly, PDU and DIMSE decoding, data sets walked by `wire::check_dataset` before
/// they are parsed) into the rules. Any error ends the analysis, never the process.
pub(crate) fn analyse(pcap: impl Read, sink: &mut AlertSink) -> Result<(), String> {
    wire::analyze_reader(pcap, sink)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The capture thread's packet rules on one Ethernet frame.
pub(crate) fn packet(rules: &mut AlertSink, t: f64, frame: &[u8]) {
    if let Some((src, dst, payload)) = tcp_segment(frame) {
        let alerts = rules.det.segment(t, &src, &dst, payload);
        rules.raise(alerts);
    }
}

/// What the IDS did.
#[derive(Debug, Clone, Copy, Default)]
pub struct IdsStats {
    pub packets: u64,
    pub alerts: u64,
}

pub(crate) fn pcap_header(linktype: u32, snaplen: u32) -> Vec<u8> {
    let mut h = Vec::with_capacity(24);
    h.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&4u16.to_le_bytes());
    h.extend_from_slice(&0i32.to_le_bytes());
    h.extend_from_slice(&0u32.to_le_bytes());
    h.extend_from_slice(&snaplen.to_le_bytes());
    h.extend_from_slice(&linktype.to_le_bytes());
    h
}

/// Capture and detect until `stop`. `on_ready` runs once the capture is open.
pub fn run(
    opts: &IdsOptions,
    stop: Arc<AtomicBool>,
    on_ready: impl FnOnce(),
    emit: fn(&protocol::result::Alert),
) -> Result<IdsStats> {
    let snaplen = i32::try_from(opts.snaplen.clamp(64, 262_144)).unwrap_or(262_144);
    let cap = pcap::Capture::from_device(opts.iface.as_str())
        .map_err(|e| crate::sniff::explain_open_error(&opts.iface, &e))?
        // Not immediate mode: with immediate mode and a non-blocking TPACKET_V3 capture,
        // bursts lose packets (seen on lo: 21 of 60 packets of an AET scan, tcpdump saw
        // all). Without it libpcap hands over each ring block at the 100 ms timeout.
        .immediate_mode(false)
        .promisc(true)
        .snaplen(snaplen)
        .timeout(100)
        .open()
        .map_err(|e| crate::sniff::explain_open_error(&opts.iface, &e))?;
    let mut cap = cap.setnonblock().with_context(|| {
        format!(
            "cannot switch the capture on '{}' to non-blocking",
            opts.iface
        )
    })?;
    let linktype = cap.get_datalink().0 as u32;
    if let Some(dir) = opts.alerts.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the directory {}", dir.display()))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&opts.alerts)
        .with_context(|| format!("cannot open the alerts file {}", opts.alerts.display()))?;

    // Packet rules run here, on the capture thread, with their own detector; they append to
    // the same alerts file (each alert one write of one line, O_APPEND).
    let mut packet_rules = AlertSink::new(
        Detector::new(opts.window, opts.thresholds.clone()),
        Some(file.try_clone().context("cannot share the alerts file")?),
        opts.window,
        emit,
    );
    let ethernet = linktype == 1;
    let (tx, rx): (SyncSender<Vec<u8>>, Receiver<Vec<u8>>) = sync_channel(CHANNEL_CHUNKS);
    let mut sink = AlertSink::new(
        Detector::new(opts.window, opts.thresholds.clone()),
        Some(file),
        opts.window,
        emit,
    );
    let analyser = std::thread::spawn(move || {
        let reader = ChannelReader {
            rx,
            cur: Vec::new(),
            pos: 0,
        };
        let r = analyse(reader, &mut sink);
        (r, sink.alerts, sink.write_error)
    });
    tx.send(pcap_header(linktype, snaplen as u32))
        .map_err(|_| anyhow!("the analyser stopped"))?;
    on_ready();

    let mut packets = 0u64;
    let mut pending: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut last_send = Instant::now();
    let mut stopping: Option<Instant> = None;
    let mut capture_error = None;
    loop {
        if stopping.is_none() && stop.load(Ordering::SeqCst) {
            stopping = Some(Instant::now());
        }
        match cap.next_packet() {
            Ok(p) => {
                let sec = p.header.ts.tv_sec.max(0) as u32;
                let usec = p.header.ts.tv_usec.max(0) as u32;
                pending.extend_from_slice(&sec.to_le_bytes());
                pending.extend_from_slice(&usec.to_le_bytes());
                pending.extend_from_slice(&(p.data.len() as u32).to_le_bytes());
                pending.extend_from_slice(&p.header.len.to_le_bytes());
                pending.extend_from_slice(p.data);
                packets += 1;
                if ethernet {
                    packet(&mut packet_rules, sec as f64 + usec as f64 / 1e6, p.data);
                }
            }
            Err(pcap::Error::TimeoutExpired) => {
                // Drain for longer than the block timeout: the last block is handed over.
                if stopping.is_some_and(|s| s.elapsed() >= DRAIN) {
                    break;
                }
                std::thread::sleep(IDLE_SLEEP);
            }
            Err(e) => {
                capture_error = Some(anyhow!("capture on '{}' failed: {e}", opts.iface));
                break;
            }
        }
        if !pending.is_empty() && (pending.len() >= 64 * 1024 || last_send.elapsed() >= SEND_EVERY)
        {
            if tx.send(std::mem::take(&mut pending)).is_err() {
                break; // the analyser ended (malformed stream): stop capturing
            }
            last_send = Instant::now();
        }
    }
    if !pending.is_empty() {
        let _ = tx.send(pending);
    }
    drop(tx);
    let (r, alerts, write_error) = analyser
        .join()
        .map_err(|_| anyhow!("the analysis thread crashed"))?;
    let alerts = alerts + packet_rules.alerts;
    let write_error = write_error.or(packet_rules.write_error);
    if let Some(e) = capture_error {
        return Err(e);
    }
    r.map_err(|e| anyhow!("analysis failed: {e}"))?;
    if let Some(e) = write_error {
        return Err(anyhow!(
            "cannot write the alerts file {}: {e}",
            opts.alerts.display()
        ));
    }
    Ok(IdsStats { packets, alerts })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(t: f64, label: &str, src: &str, dst: &str, info: &str, cmd: Option<&str>) -> wire::Event {
        wire::Event {
            time: t,
            rel_time: 0.0,
            stream: (t * 10.0) as u32,
            src: src.into(),
            dst: dst.into(),
            pdu: label.into(),
            label: label.into(),
            info: info.into(),
            calling_aet: None,
            called_aet: Some("GUESS".into()),
            dimse: cmd.map(|c| wire::Dimse {
                command: c.into(),
                message_id: Some(1),
                responded_id: None,
                status: None,
                status_name: None,
                sop_class_uid: None,
                sop_instance_uid: None,
            }),
            packet: 0,
            pdu_offset: 0,
        }
    }

    const RJ: &str =
        "A-ASSOCIATE reject (rejected-permanent, ServiceUser(CalledAETitleNotRecognized))";

    #[test]
    fn brute_force_needs_five_aet_rejections_in_the_window() {
        let mut d = Detector::new(Duration::from_secs(10), Thresholds::default());
        let mut alerts = Vec::new();
        for i in 0..4 {
            alerts.extend(d.event(&ev(
                100.0 + i as f64,
                "A-ASSOCIATE-RJ",
                "10.0.0.2:4242",
                "10.0.0.5:40000",
                RJ,
                None,
            )));
        }
        // Another reason and another source do not count.
        alerts.extend(d.event(&ev(104.0, "A-ASSOCIATE-RJ", "10.0.0.2:4242", "10.0.0.5:40001", "A-ASSOCIATE reject (rejected-transient, ServiceProviderPresentation(TemporaryCongestion))", None)));
        alerts.extend(d.event(&ev(
            104.5,
            "A-ASSOCIATE-RJ",
            "10.0.0.2:4242",
            "10.0.0.6:40001",
            RJ,
            None,
        )));
        assert!(alerts.is_empty());
        alerts.extend(d.event(&ev(
            105.0,
            "A-ASSOCIATE-RJ",
            "10.0.0.2:4242",
            "10.0.0.5:40002",
            RJ,
            None,
        )));
        assert_eq!(alerts.len(), 1);
        let a = &alerts[0];
        assert_eq!(
            (a.rule, a.source.as_str(), a.count),
            (IdsRule::AetBruteForce, "10.0.0.5", 5)
        );
        assert_eq!((a.first, a.last), (100.0, 105.0));
        // Quiet for a window, then again.
        assert!(
            d.event(&ev(
                106.0,
                "A-ASSOCIATE-RJ",
                "10.0.0.2:4242",
                "10.0.0.5:1",
                RJ,
                None
            ))
            .is_empty()
        );
        // Old ones slide out of the window: at 116 only 106.. remain (2), no alert.
        assert!(
            d.event(&ev(
                116.0,
                "A-ASSOCIATE-RJ",
                "10.0.0.2:4242",
                "10.0.0.5:1",
                RJ,
                None
            ))
            .is_empty()
        );
    }

    #[test]
    fn rules_a_lab_turns_off_stay_quiet_and_thresholds_are_the_labs() {
        use protocol::attack::IdsOptions;
        let th =
            Thresholds::from_options(&IdsOptions::with_rules(&[(IdsRule::AssociationFlood, 3)]));
        let mut d = Detector::new(Duration::from_secs(10), th);
        let rq = |t: f64| {
            ev(
                t,
                "A-ASSOCIATE-RQ",
                "10.0.0.8:6000",
                "10.0.0.2:4242",
                "",
                None,
            )
        };
        assert!(d.event(&rq(1.0)).is_empty());
        assert!(d.event(&rq(1.1)).is_empty());
        let third = d.event(&rq(1.2));
        assert_eq!((third.len(), third[0].count), (1, 3));
        // Brute force is off: ten AE-title rejections raise nothing.
        let rejected: usize = (0..10)
            .map(|i| {
                d.event(&ev(
                    2.0 + i as f64,
                    "A-ASSOCIATE-RJ",
                    "10.0.0.2:4242",
                    "10.0.0.5:1",
                    RJ,
                    None,
                ))
                .len()
            })
            .sum();
        assert_eq!(rejected, 0);
    }

    #[test]
    fn sweep_flood_and_phi() {
        let mut d = Detector::new(Duration::from_secs(10), Thresholds::default());
        let mut n = 0;
        for i in 0..10 {
            n += d
                .event(&ev(
                    1.0 + i as f64 * 0.1,
                    "C-FIND-RQ",
                    "10.0.0.7:5000",
                    "10.0.0.2:4242",
                    "",
                    Some("C-FIND-RQ"),
                ))
                .len();
        }
        assert_eq!(n, 1);
        let mut flood = Vec::new();
        for i in 0..60 {
            flood.extend(d.event(&ev(
                2.0 + i as f64 * 0.01,
                "A-ASSOCIATE-RQ",
                "10.0.0.8:6000",
                "10.0.0.2:4242",
                "",
                None,
            )));
        }
        assert_eq!(flood.len(), 1);
        assert_eq!(flood[0].count, 50);
        assert_eq!(
            flood[0].to_line(Duration::from_secs(10)).rule,
            "association-flood"
        );
        // PHI: the stream of the last RQ (t = 2.59 -> stream 25) belongs to 10.0.0.8.
        let phi = d.phi(&wire::PhiSeen {
            stream: 25,
            time: 3.0,
            keyword: "PatientName".into(),
            value: "DOE^JANE".into(),
        });
        assert_eq!(phi.len(), 1);
        let v = serde_json::to_value(phi[0].to_line(Duration::from_secs(10))).unwrap();
        assert_eq!(v["rule"], "phi-in-clear");
        assert_eq!(v["source"], "10.0.0.8");
        assert!(v.get("value").is_none());
        assert!(
            d.phi(&wire::PhiSeen {
                stream: 25,
                time: 3.0,
                keyword: "PatientID".into(),
                value: "1".into()
            })
            .is_empty()
        );
    }

    #[test]
    fn executable_preambles_fire_and_tiff_does_not() {
        let file = |preamble: &[u8]| {
            let mut f = b"POST /instances HTTP/1.1\r\nContent-Length: 999\r\n\r\n".to_vec();
            let mut p = preamble.to_vec();
            p.resize(128, 0);
            f.extend_from_slice(&p);
            f.extend_from_slice(b"DICM\x02\x00\x00\x00UL");
            f
        };
        assert_eq!(executable_preamble(&file(b"MZ\x90\x00")), Some("pe"));
        assert_eq!(executable_preamble(&file(b"\x7fELF\x02")), Some("elf"));
        assert_eq!(executable_preamble(&file(b"II*\x00")), None);
        assert_eq!(executable_preamble(&file(b"")), None);
        assert_eq!(executable_preamble(b"DICM"), None);
        // A DICM that is not 128 bytes after MZ does not fire.
        assert_eq!(executable_preamble(b"MZ....DICM"), None);

        let mut d = Detector::new(Duration::from_secs(10), Thresholds::default());
        let a = d.segment(1.0, "10.213.0.5", "10.213.0.2:8042", &file(b"MZ"));
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].rule, IdsRule::PePreamble);
        assert_eq!(a[0].detail.preamble.as_deref(), Some("pe"));
        // Quiet for a window after an alert, from the same source.
        assert!(
            d.segment(2.0, "10.213.0.5", "10.213.0.2:8042", &file(b"MZ"))
                .is_empty()
        );
        assert!(
            d.segment(2.0, "10.213.0.5", "10.213.0.2:8042", &file(b"II*"))
                .is_empty()
        );
    }

    #[test]
    fn addresses() {
        assert_eq!(ip_of("10.0.0.1:4242"), "10.0.0.1");
        assert_eq!(ip_of("[fe80::1]:4242"), "fe80::1");
    }
}
