//! Capture files: pcap and pcapng records, with their link type and timestamp.

use crate::{IssueKind, WireError};
use pcap_file::DataLink;
use pcap_file::pcap::PcapParser;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::{Block, PcapNgParser};
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

pub(crate) fn for_each_packet(data: &[u8], sink: &mut impl PacketSink) -> Result<(), WireError> {
    let magic: Vec<u8> = data.iter().take(4).copied().collect();
    if magic.len() == 4 && PCAP_MAGICS.iter().any(|m| m[..] == magic[..]) {
        read_pcap(data, sink)
    } else if magic[..] == PCAPNG_MAGIC[..] {
        read_pcapng(data, sink)
    } else {
        Err(WireError::UnknownFormat(magic))
    }
}

fn read_pcap(data: &[u8], sink: &mut impl PacketSink) -> Result<(), WireError> {
    let (mut rest, parser) = match guard("pcap parser", || PcapParser::new(data)) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            return Err(WireError::BadHeader {
                format: "pcap",
                message: e.to_string(),
            });
        }
        Err(message) => {
            return Err(WireError::BadHeader {
                format: "pcap",
                message,
            });
        }
    };
    let link = parser.header().datalink;
    let mut no = 0u64;
    while !rest.is_empty() {
        no += 1;
        let offset = (data.len() - rest.len()) as u64;
        match guard("pcap parser", || parser.next_packet(rest)) {
            Ok(Ok((r, pkt))) => {
                rest = r;
                sink.packet(no, pkt.timestamp, link, &pkt.data);
            }
            Ok(Err(e)) => {
                sink.issue(
                    IssueKind::Capture,
                    Some(no),
                    Some(offset),
                    format!("unreadable pcap record, rest of the file ignored: {e}"),
                );
                break;
            }
            Err(msg) => {
                sink.issue(IssueKind::Capture, Some(no), Some(offset), msg);
                break;
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

fn read_pcapng(data: &[u8], sink: &mut impl PacketSink) -> Result<(), WireError> {
    let (mut rest, mut parser) = match guard("pcapng parser", || PcapNgParser::new(data)) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            return Err(WireError::BadHeader {
                format: "pcapng",
                message: e.to_string(),
            });
        }
        Err(message) => {
            return Err(WireError::BadHeader {
                format: "pcapng",
                message,
            });
        }
    };
    let mut no = 0u64;
    let mut last_time = Duration::ZERO;
    while !rest.is_empty() {
        let offset = (data.len() - rest.len()) as u64;
        let block = match guard("pcapng parser", || parser.next_block(rest)) {
            Ok(Ok((r, block))) => {
                rest = r;
                block
            }
            Ok(Err(e)) => {
                sink.issue(
                    IssueKind::Capture,
                    Some(no + 1),
                    Some(offset),
                    format!("unreadable pcapng block, rest of the file ignored: {e}"),
                );
                break;
            }
            Err(msg) => {
                sink.issue(IssueKind::Capture, Some(no + 1), Some(offset), msg);
                break;
            }
        };
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
            _ => continue,
        };
        no += 1;
        let Some(idb) = parser.interfaces().get(iface as usize) else {
            sink.issue(
                IssueKind::Capture,
                Some(no),
                Some(offset),
                format!("packet refers to undeclared interface {iface}"),
            );
            continue;
        };
        let mut tsresol = 6u8;
        let mut tsoffset = 0u64;
        for opt in &idb.options {
            match opt {
                InterfaceDescriptionOption::IfTsResol(r) => tsresol = *r,
                InterfaceDescriptionOption::IfTsOffset(o) => tsoffset = *o,
                _ => {}
            }
        }
        let time = match raw_ts {
            Some(raw) => pcapng_time(raw, tsresol, tsoffset),
            None => last_time,
        };
        last_time = time;
        sink.packet(no, time, idb.linktype, pkt_data);
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
