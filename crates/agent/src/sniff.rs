//! The sniffer: libpcap live capture on one interface, written as pcapng.
//!
//! The capture is opened non-blocking (libpcap would otherwise block in `next_packet` and
//! never see the stop flag), not in immediate mode (which lost packets in bursts: see
//! `run`), then polled with a short sleep when idle.
//! The file has one Interface Description Block (link type from the capture,
//! `if_tsresol` = 9, i.e. nanoseconds, which is what pcap-file writes in every Enhanced
//! Packet Block). The writer is flushed about every 200 ms; at stop the packets still
//! buffered by the kernel are drained, then the file is flushed and fsynced.

use anyhow::{Context, Result, anyhow};
use pcap_file::DataLink;
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use std::borrow::Cow;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What to capture and where to write it.
#[derive(Debug, Clone)]
pub struct SniffOptions {
    pub iface: String,
    pub out: PathBuf,
    pub snaplen: u32,
    /// The largest file written: at the first packet that would go past it, capturing
    /// stops (the file ends on a whole block, so it stays a valid pcapng) and the process
    /// waits for its stop signal.
    pub max_bytes: Option<u64>,
}

/// Totals written to the file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SniffStats {
    pub packets: u64,
    /// Captured bytes (the packet data written, not counting pcapng framing).
    pub bytes: u64,
    /// The file reached `max_bytes`: packets after that point were not written.
    pub limit_hit: bool,
}

/// The size of the Enhanced Packet Block that holds `len` bytes of packet data (no
/// options): 28 bytes of header, the data padded to 4, the 4-byte trailing length.
fn epb_size(len: usize) -> u64 {
    32 + len.div_ceil(4) as u64 * 4
}

const FLUSH_EVERY: Duration = Duration::from_millis(200);
const IDLE_SLEEP: Duration = Duration::from_millis(5);
/// How long the capture is still read after the stop signal (> the 100 ms block timeout).
const DRAIN: Duration = Duration::from_millis(300);

/// Turn a libpcap open error into words with the fix.
pub(crate) fn explain_open_error(iface: &str, e: &pcap::Error) -> anyhow::Error {
    let text = e.to_string();
    let lower = text.to_ascii_lowercase();
    if lower.contains("permission") || lower.contains("operation not permitted") {
        anyhow!(
            "cannot capture on '{iface}': permission denied ({text}). Capturing needs the \
             CAP_NET_RAW capability: run as root, or start the container with \
             --cap-add NET_RAW (promiscuous mode needs nothing more)"
        )
    } else if lower.contains("no such device") || lower.contains("doesn't exist") {
        let known = pcap::Device::list()
            .map(|l| l.into_iter().map(|d| d.name).collect::<Vec<_>>().join(", "))
            .unwrap_or_default();
        anyhow!(
            "cannot capture on '{iface}': no such network interface. Interfaces here: [{known}]. \
             In a lab, the sniffer taps the bridge of the lab network (see `ip link`)"
        )
    } else {
        anyhow!("cannot open a capture on '{iface}': {text}")
    }
}

/// Capture until `stop` becomes true. `on_ready` runs once the capture is open and the file
/// header is written (the CLI prints the readiness line there).
pub fn run(
    opts: &SniffOptions,
    stop: Arc<AtomicBool>,
    on_ready: impl FnOnce(),
    on_limit: impl FnOnce(&SniffStats),
) -> Result<SniffStats> {
    let snaplen = i32::try_from(opts.snaplen.clamp(64, 262_144)).unwrap_or(262_144);
    let cap = pcap::Capture::from_device(opts.iface.as_str())
        .map_err(|e| explain_open_error(&opts.iface, &e))?
        // Not immediate mode: with immediate mode and a non-blocking TPACKET_V3 capture,
        // bursts lose packets (measured on lo: 47 of the 60 packets of a 6-association AET
        // scan, while tcpdump saw all 60). Without it libpcap hands over each ring block at
        // the 100 ms timeout, and the drain at stop waits longer than that.
        .immediate_mode(false)
        .promisc(true)
        .snaplen(snaplen)
        .timeout(100)
        .open()
        .map_err(|e| explain_open_error(&opts.iface, &e))?;
    let mut cap = cap.setnonblock().with_context(|| {
        format!(
            "cannot switch the capture on '{}' to non-blocking",
            opts.iface
        )
    })?;
    let linktype = cap.get_datalink();

    if let Some(dir) = opts.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the directory {}", dir.display()))?;
    }
    let file = File::create(&opts.out)
        .with_context(|| format!("cannot create the capture file {}", opts.out.display()))?;
    let mut writer = PcapNgWriter::new(Counting {
        inner: BufWriter::with_capacity(256 * 1024, file),
        written: 0,
    })
    .context("cannot write the pcapng section header")?;
    let idb = InterfaceDescriptionBlock {
        linktype: DataLink::from(linktype.0 as u32),
        snaplen: snaplen as u32,
        options: vec![
            InterfaceDescriptionOption::IfName(Cow::Owned(opts.iface.clone())),
            InterfaceDescriptionOption::IfTsResol(9),
        ],
    };
    writer
        .write_pcapng_block(idb)
        .context("cannot write the pcapng interface description")?;
    writer
        .get_mut()
        .flush()
        .context("cannot write the capture file")?;
    on_ready();

    let mut stats = SniffStats::default();
    let mut last_flush = Instant::now();
    let mut stopping: Option<Instant> = None;
    let max = opts.max_bytes.unwrap_or(u64::MAX);
    loop {
        if stopping.is_none() && stop.load(Ordering::SeqCst) {
            stopping = Some(Instant::now()); // drain what is still buffered, then stop
        }
        match cap.next_packet() {
            Ok(p) => {
                if writer.get_ref().written + epb_size(p.data.len()) > max {
                    stats.limit_hit = true;
                    break;
                }
                let ts = Duration::new(p.header.ts.tv_sec.max(0) as u64, 0)
                    + Duration::from_micros(p.header.ts.tv_usec.max(0) as u64);
                let epb = EnhancedPacketBlock {
                    interface_id: 0,
                    timestamp: ts,
                    original_len: p.header.len,
                    data: Cow::Borrowed(p.data),
                    options: vec![],
                };
                writer
                    .write_pcapng_block(epb)
                    .context("cannot write a packet to the capture file")?;
                stats.packets += 1;
                stats.bytes += p.data.len() as u64;
            }
            Err(pcap::Error::TimeoutExpired) => {
                // Longer than the block timeout, so the last ring block is handed over.
                if stopping.is_some_and(|s| s.elapsed() >= DRAIN) {
                    break;
                }
                std::thread::sleep(IDLE_SLEEP);
            }
            Err(e) => {
                // Keep what was captured so far.
                let _ = writer.get_mut().flush();
                return Err(anyhow!("capture on '{}' failed: {e}", opts.iface));
            }
        }
        if last_flush.elapsed() >= FLUSH_EVERY {
            writer
                .get_mut()
                .flush()
                .context("cannot write the capture file")?;
            last_flush = Instant::now();
        }
    }
    let mut buf = writer.into_inner().inner;
    buf.flush().context("cannot write the capture file")?;
    buf.get_ref()
        .sync_all()
        .context("cannot fsync the capture file")?;
    drop(buf);
    if stats.limit_hit {
        // The capture is whole up to here; the node stays up (it is not dead, only full)
        // until it is stopped like any other sniffer.
        drop(cap);
        on_limit(&stats);
        while !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(stats)
}

/// A writer that counts what went through it: the capture file's size so far.
struct Counting<W> {
    inner: W,
    written: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
