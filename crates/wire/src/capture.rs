//! Capture files: pcap and pcapng records, with their link type and timestamp.

use crate::{IssueKind, WireError};
use pcap_file::DataLink;
use pcap_file::PcapError;
use pcap_file::pcap::PcapParser;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::{Block, PcapNgParser};
use std::io::{ErrorKind, Read};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

/// Receives the records of a capture in file order.
pub(crate) trait PacketSink {
    /// `no` is the 1-based record number, `time` since the Unix epoch.
    fn packet(&mut self, no: u64, time: Duration, link: DataLink, data: &[u8]);
    fn issue(&mut self, kind: IssueKind, no: Option<u64>, offset: Option<u64>, message: String);
}

/// Run `f`, turning a panic of a third-party parser into an error message.
pub(crate) fn guard<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        format!("{what} panicked: {msg}")
    })
}

const PCAP_MAGICS: [[u8; 4]; 4] = [
    [0xa1, 0xb2, 0xc3, 0xd4],
    [0xd4, 0xc3, 0xb2, 0xa1],
    [0xa1, 0xb2, 0x3c, 0x4d],
    [0x4d, 0x3c, 0xb2, 0xa1],
];
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// Bytes read from the file at a time; the buffer grows only for records bigger than this.
const READ_CHUNK: usize = 1 << 20;
/// Largest record (pcap packet or pcapng block) accepted; bigger ones end the reading.
const MAX_RECORD: usize = 32 << 20;

/// One reusable read buffer over a reader: `buf[pos..len]` is unparsed input, `consumed`
/// is the file offset of `buf[pos]`.
struct Input<R> {
    reader: R,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
    consumed: u64,
    eof: bool,
}

enum Fill {
    More,
    Eof,
    TooBig,
}

impl<R: Read> Input<R> {
    fn new(reader: R) -> Self {
        Input {
            reader,
            buf: vec![0; READ_CHUNK],
            pos: 0,
            len: 0,
            consumed: 0,
            eof: false,
        }
    }

    fn avail(&self) -> &[u8] {
        &self.buf[self.pos..self.len]
    }

    fn consume(&mut self, n: usize) {
        self.pos += n;
        self.consumed += n as u64;
    }

    /// Read more input after what is unparsed (moving it to the front, growing the
    /// buffer when it is full).
    fn fill(&mut self) -> std::io::Result<Fill> {
        if self.eof {
            return Ok(Fill::Eof);
        }
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.len, 0);
            self.len -= self.pos;
            self.pos = 0;
        }
        if self.len == self.buf.len() {
            if self.buf.len() >= MAX_RECORD {
                return Ok(Fill::TooBig);
            }
            let n = (self.buf.len() * 2).min(MAX_RECORD);
            self.buf.resize(n, 0);
        }
        loop {
            match self.reader.read(&mut self.buf[self.len..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(Fill::Eof);
                }
                Ok(n) => {
                    self.len += n;
                    return Ok(Fill::More);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Make sure at least `n` bytes are unparsed (false at end of input).
    fn want(&mut self, n: usize) -> std::io::Result<bool> {
        while self.len - self.pos < n {
            match self.fill()? {
                Fill::More => {}
                Fill::Eof | Fill::TooBig => return Ok(false),
            }
        }
        Ok(true)
    }
}

/// What to do when a parser says its input is incomplete.
enum Refill {
    Again,
    /// End of file inside a record.
    Truncated,
    /// Record bigger than [`MAX_RECORD`].
    TooBig,
}

fn refill<R: Read>(input: &mut Input<R>) -> Result<Refill, std::io::Error> {
    Ok(match input.fill()? {
        Fill::More => Refill::Again,
        Fill::Eof => Refill::Truncated,
        Fill::TooBig => Refill::TooBig,
    })
}

pub(crate) fn for_each_packet<R: Read>(
    reader: R,
    sink: &mut impl PacketSink,
) -> Result<(), ReadError> {
    let mut input = Input::new(reader);
    input.want(4).map_err(ReadError::Io)?;
    let magic: Vec<u8> = input.avail().iter().take(4).copied().collect();
    if magic.len() == 4 && PCAP_MAGICS.iter().any(|m| m[..] == magic[..]) {
        read_pcap(&mut input, sink)
    } else if magic[..] == PCAPNG_MAGIC[..] {
        read_pcapng(&mut input, sink)
    } else {
        Err(ReadError::Wire(WireError::UnknownFormat(magic)))
    }
}

/// A fatal reading problem: an I/O error, or a [`WireError`] without a path.
pub(crate) enum ReadError {
    Io(std::io::Error),
    Wire(WireError),
}

fn bad_header(format: &'static str, message: String) -> ReadError {
    ReadError::Wire(WireError::BadHeader { format, message })
}

fn end_issue(sink: &mut impl PacketSink, what: Refill, no: u64, offset: u64, kind: &str) {
    let msg = match what {
        Refill::TooBig => format!(
            "{kind} larger than {MAX_RECORD} bytes (or malformed), rest of the file ignored"
        ),
        _ => format!("capture file ends inside a {kind} (truncated file)"),
    };
    sink.issue(IssueKind::Capture, Some(no), Some(offset), msg);
}

fn read_pcap<R: Read>(input: &mut Input<R>, sink: &mut impl PacketSink) -> Result<(), ReadError> {
    input.want(24).map_err(ReadError::Io)?;
    let avail = input.avail();
    let parser = match guard("pcap parser", || PcapParser::new(avail)) {
        Ok(Ok((rest, parser))) => {
            let used = avail.len() - rest.len();
            input.consume(used);
            parser
        }
        Ok(Err(PcapError::IncompleteBuffer)) => {
            return Err(bad_header("pcap", "file shorter than its header".into()));
        }
        Ok(Err(e)) => return Err(bad_header("pcap", e.to_string())),
        Err(message) => return Err(bad_header("pcap", message)),
    };
    let link = parser.header().datalink;
    let mut no = 0u64;
    loop {
        if input.avail().is_empty() && !input.want(1).map_err(ReadError::Io)? {
            break;
        }
        no += 1;
        let offset = input.consumed;
        loop {
            let avail = &input.buf[input.pos..input.len];
            match guard("pcap parser", || parser.next_packet(avail)) {
                Ok(Ok((rest, pkt))) => {
                    let used = avail.len() - rest.len();
                    sink.packet(no, pkt.timestamp, link, &pkt.data);
                    input.consume(used);
                    break;
                }
                Ok(Err(PcapError::IncompleteBuffer)) => {
                    match refill(input).map_err(ReadError::Io)? {
                        Refill::Again => continue,
                        other => {
                            end_issue(sink, other, no, offset, "pcap record");
                            return Ok(());
                        }
                    }
                }
                Ok(Err(e)) => {
                    sink.issue(
                        IssueKind::Capture,
                        Some(no),
                        Some(offset),
                        format!("unreadable pcap record, rest of the file ignored: {e}"),
                    );
                    return Ok(());
                }
                Err(msg) => {
                    sink.issue(IssueKind::Capture, Some(no), Some(offset), msg);
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}

/// Timestamp of a pcapng packet: the raw 64-bit count (pcap-file hands it over as
/// nanoseconds without applying `if_tsresol`) converted with the interface's resolution.
fn pcapng_time(raw: u128, tsresol: u8, tsoffset: u64) -> Duration {
    let t = if tsresol & 0x80 == 0 {
        let exp = u32::from(tsresol.min(30));
        let div = 10u128.pow(exp);
        let secs = u64::try_from(raw / div).unwrap_or(u64::MAX);
        let nanos = ((raw % div) * 1_000_000_000 / div) as u32;
        Duration::new(secs, nanos)
    } else {
        let exp = i32::from(tsresol & 0x7f);
        Duration::try_from_secs_f64(raw as f64 / 2f64.powi(exp)).unwrap_or(Duration::MAX)
    };
    t.saturating_add(Duration::from_secs(tsoffset))
}

fn read_pcapng<R: Read>(input: &mut Input<R>, sink: &mut impl PacketSink) -> Result<(), ReadError> {
    let mut parser = loop {
        let avail = input.avail();
        match guard("pcapng parser", || PcapNgParser::new(avail)) {
            Ok(Ok((rest, parser))) => {
                let used = avail.len() - rest.len();
                input.consume(used);
                break parser;
            }
            Ok(Err(PcapError::IncompleteBuffer)) => match refill(input).map_err(ReadError::Io)? {
                Refill::Again => continue,
                _ => {
                    return Err(bad_header(
                        "pcapng",
                        "file ends inside the section header block".into(),
                    ));
                }
            },
            Ok(Err(e)) => return Err(bad_header("pcapng", e.to_string())),
            Err(message) => return Err(bad_header("pcapng", message)),
        }
    };
    let mut no = 0u64;
    let mut last_time = Duration::ZERO;
    // Resolution and offset per interface, refreshed when interfaces are (re)declared.
    let mut iface_ts: Vec<(DataLink, u8, u64)> = Vec::new();
    loop {
        if input.avail().is_empty() && !input.want(1).map_err(ReadError::Io)? {
            break;
        }
        let offset = input.consumed;
        loop {
            let avail = &input.buf[input.pos..input.len];
            let block = match guard("pcapng parser", || parser.next_block(avail)) {
                Ok(Ok((rest, block))) => (avail.len() - rest.len(), block),
                Ok(Err(PcapError::IncompleteBuffer)) => {
                    match refill(input).map_err(ReadError::Io)? {
                        Refill::Again => continue,
                        other => {
                            end_issue(sink, other, no + 1, offset, "pcapng block");
                            return Ok(());
                        }
                    }
                }
                Ok(Err(e)) => {
                    sink.issue(
                        IssueKind::Capture,
                        Some(no + 1),
                        Some(offset),
                        format!("unreadable pcapng block, rest of the file ignored: {e}"),
                    );
                    return Ok(());
                }
                Err(msg) => {
                    sink.issue(IssueKind::Capture, Some(no + 1), Some(offset), msg);
                    return Ok(());
                }
            };
            let (used, block) = block;
            // (interface id, raw timestamp or None, data)
            let (iface, raw_ts, pkt_data) = match &block {
                Block::EnhancedPacket(epb) => (
                    epb.interface_id,
                    Some(epb.timestamp.as_nanos()),
                    &epb.data[..],
                ),
                Block::SimplePacket(spb) => (0, None, &spb.data[..]),
                Block::Packet(pb) => (
                    u32::from(pb.interface_id),
                    Some(u128::from(pb.timestamp)),
                    &pb.data[..],
                ),
                Block::SectionHeader(_) | Block::InterfaceDescription(_) => {
                    iface_ts = parser
                        .interfaces()
                        .iter()
                        .map(|idb| {
                            let mut tsresol = 6u8;
                            let mut tsoffset = 0u64;
                            for opt in &idb.options {
                                match opt {
                                    InterfaceDescriptionOption::IfTsResol(r) => tsresol = *r,
                                    InterfaceDescriptionOption::IfTsOffset(o) => tsoffset = *o,
                                    _ => {}
                                }
                            }
                            (idb.linktype, tsresol, tsoffset)
                        })
                        .collect();
                    input.consume(used);
                    break;
                }
                _ => {
                    input.consume(used);
                    break;
                }
            };
            no += 1;
            let Some(&(linktype, tsresol, tsoffset)) = iface_ts.get(iface as usize) else {
                sink.issue(
                    IssueKind::Capture,
                    Some(no),
                    Some(offset),
                    format!("packet refers to undeclared interface {iface}"),
                );
                input.consume(used);
                break;
            };
            let time = match raw_ts {
                Some(raw) => pcapng_time(raw, tsresol, tsoffset),
                None => last_time,
            };
            last_time = time;
            sink.packet(no, time, linktype, pkt_data);
            input.consume(used);
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcapng_resolutions() {
        let ms = Duration::from_millis;
        assert_eq!(pcapng_time(1_500_000, 6, 0), ms(1500));
        assert_eq!(pcapng_time(1_500_000_000, 9, 0), ms(1500));
        assert_eq!(pcapng_time(3, 0x81, 10), ms(11_500));
        // absurd resolutions and offsets do not overflow or panic
        pcapng_time(u128::from(u64::MAX), 127, u64::MAX);
        pcapng_time(u128::from(u64::MAX), 0xff, u64::MAX);
        pcapng_time(u128::from(u64::MAX), 0, u64::MAX);
    }
}
