//! The sniffer on the loopback interface `lo`. Needs CAP_NET_RAW (root); skipped with the
//! reason printed otherwise. Traffic: one TCP connection on 127.0.0.1.

mod common;

use agent::sniff::{self, SniffOptions};
use common::*;
use pcap_file::DataLink;
use pcap_file::pcapng::{Block, PcapNgReader};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const MARKER: &[u8] = b"dicom-range-sniffer-test-marker";

/// Send MARKER over a fresh TCP connection on 127.0.0.1 and read it back on the server side.
fn loopback_traffic() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut buf = vec![0u8; 3 * MARKER.len()];
        s.read_exact(&mut buf).unwrap();
        buf
    });
    let mut c = TcpStream::connect(addr).unwrap();
    for _ in 0..3 {
        c.write_all(MARKER).unwrap();
        c.flush().unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(server.join().unwrap(), MARKER.repeat(3));
}

/// (interfaces' link types, packets with MARKER, packet count)
fn read_pcapng(path: &Path) -> (Vec<DataLink>, usize, usize) {
    let data = std::fs::read(path).unwrap();
    let mut r = PcapNgReader::new(&data[..]).expect("not a pcapng file");
    let (mut with_marker, mut packets) = (0, 0);
    while let Some(b) = r.next_block() {
        if let Block::EnhancedPacket(p) = b.expect("corrupt pcapng block") {
            packets += 1;
            assert_eq!(p.interface_id, 0);
            assert!(
                p.timestamp > Duration::from_secs(1_600_000_000),
                "timestamp in the past"
            );
            if p.data.windows(MARKER.len()).any(|w| w == MARKER) {
                with_marker += 1;
            }
        }
    }
    let links = r.interfaces().iter().map(|i| i.linktype).collect();
    (links, with_marker, packets)
}

fn skip_if_no_permission(msg: &str) -> bool {
    missing_prerequisite(
        msg.contains("permission denied"),
        "CAP_NET_RAW for capturing on lo",
        &format!("run the tests as root: {msg}"),
    )
}

#[test]
fn library_captures_loopback_traffic_to_pcapng() {
    let dir = temp_dir("sniff");
    let out = dir.join("lo.pcapng");
    let opts = SniffOptions {
        iface: "lo".into(),
        out: out.clone(),
        snaplen: 262_144,
        max_bytes: None,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel();
    let flag = stop.clone();
    let h =
        std::thread::spawn(move || sniff::run(&opts, flag, move || tx.send(()).unwrap(), |_| {}));
    if rx.recv_timeout(Duration::from_secs(10)).is_err() {
        let err = h.join().unwrap().unwrap_err();
        if skip_if_no_permission(&format!("{err:#}")) {
            return;
        }
        panic!("capture did not start: {err:#}");
    }
    loopback_traffic();
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::SeqCst);
    let stats = h.join().unwrap().unwrap();
    let (links, with_marker, packets) = read_pcapng(&out);
    assert_eq!(links, vec![DataLink::ETHERNET], "lo is DLT_EN10MB on Linux");
    assert!(with_marker >= 3, "marker seen in {with_marker} packets");
    assert_eq!(packets as u64, stats.packets);
    assert!(stats.bytes > 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unknown_interface_is_explained() {
    let dir = temp_dir("sniff-bad");
    let opts = SniffOptions {
        iface: "nosuchif0".into(),
        out: dir.join("x.pcapng"),
        snaplen: 65535,
        max_bytes: None,
    };
    let err = sniff::run(&opts, Arc::new(AtomicBool::new(true)), || {}, |_| {}).unwrap_err();
    let msg = format!("{err:#}");
    if skip_if_no_permission(&msg) {
        return;
    }
    assert!(msg.contains("nosuchif0"), "{msg}");
    assert!(msg.contains("no such network interface"), "{msg}");
    let _ = std::fs::remove_dir_all(&dir);
}

type Lines = std::io::Lines<BufReader<std::process::ChildStdout>>;

/// `lab-agent sniff --iface lo <extra> --out <out>`, with its stdout's lines and its first
/// line; `None` when the capture is not permitted here (see `missing_prerequisite`).
fn start_sniff(
    extra: &[&str],
    out: &Path,
) -> Option<(std::process::Child, Lines, serde_json::Value)> {
    let mut child = agent()
        .args(["sniff", "--iface", "lo"])
        .args(extra)
        .arg("--out")
        .arg(out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    if first["event"] == "error" {
        let msg = first["error"].as_str().unwrap_or_default().to_string();
        let _ = child.wait();
        if skip_if_no_permission(&msg) {
            return None;
        }
        panic!("sniff failed: {msg}");
    }
    Some((child, lines, first))
}

#[test]
fn cli_sniff_readiness_line_then_stopped_on_sigterm() {
    let dir = temp_dir("sniff-cli");
    let out = dir.join("cli.pcapng");
    let Some((mut child, mut lines, first)) = start_sniff(&[], &out) else {
        return;
    };
    assert_eq!(first["event"], "capturing");
    assert_eq!(first["iface"], "lo");
    loopback_traffic();
    std::thread::sleep(Duration::from_millis(100));
    sigterm(&child);
    let last: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(last["event"], "stopped");
    let (_, with_marker, packets) = read_pcapng(&out);
    assert_eq!(last["packets"].as_u64().unwrap(), packets as u64);
    assert!(with_marker >= 3);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sends `total` bytes over one TCP connection on 127.0.0.1.
fn bulk_traffic(total: usize) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut sink = Vec::new();
        s.read_to_end(&mut sink).unwrap();
        sink.len()
    });
    let mut c = TcpStream::connect(addr).unwrap();
    let chunk = MARKER.repeat(1024);
    let mut sent = 0;
    while sent < total {
        c.write_all(&chunk).unwrap();
        sent += chunk.len();
    }
    drop(c);
    assert_eq!(server.join().unwrap(), sent);
}

#[test]
fn cli_sniff_stops_capturing_at_max_bytes_and_says_so() {
    let dir = temp_dir("sniff-max");
    let out = dir.join("max.pcapng");
    let max: u64 = 64 * 1024;
    let Some((mut child, mut lines, first)) = start_sniff(&["--max-bytes", &max.to_string()], &out)
    else {
        return;
    };
    assert_eq!(first["event"], "capturing");
    // Far more than the cap: 8 MiB.
    bulk_traffic(8 << 20);
    let limit: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(limit["event"], "capture_limit", "{limit}");
    assert_eq!(limit["max_bytes"], max);
    // Full, not dead: it waits for its stop signal like any sniffer.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the sniffer exited at its cap"
    );
    sigterm(&child);
    let last: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert_eq!(last["event"], "stopped");
    assert_eq!(last["capture_limit_hit"], true);
    let size = std::fs::metadata(&out).unwrap().len();
    assert!(
        size <= max,
        "the capture holds {size} bytes, over its cap of {max}"
    );
    assert!(size > max / 2, "the capture stopped early: {size} bytes");
    // Whole blocks only: the file still reads to its end.
    let (_, _, packets) = read_pcapng(&out);
    assert_eq!(last["packets"].as_u64().unwrap(), packets as u64);
    assert!(packets > 0);
    let _ = std::fs::remove_dir_all(&dir);
}
