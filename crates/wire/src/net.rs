//! Link, IP and TCP headers: from a captured frame to a TCP segment.

use etherparse::{EtherType, NetSlice, SlicedPacket, TransportSlice};
use pcap_file::DataLink;
use std::net::{IpAddr, SocketAddr};

/// The part of a TCP segment reassembly needs.
#[derive(Debug)]
pub(crate) struct Segment<'a> {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
    pub syn: bool,
    pub fin: bool,
    pub rst: bool,
    pub payload: &'a [u8],
}

/// `Ok(None)`: a readable frame that is not a TCP segment (ARP, UDP, IP fragment...).
pub(crate) fn tcp_segment(link: DataLink, data: &[u8]) -> Result<Option<Segment<'_>>, String> {
    let sliced = match link {
        DataLink::ETHERNET => SlicedPacket::from_ethernet(data),
        DataLink::LINUX_SLL => SlicedPacket::from_linux_sll(data),
        DataLink::LINUX_SLL2 => {
            // SLL2: protocol type (2), reserved (2), ifindex (4), arphrd (2), pkttype (1),
            // addr len (1), addr (8) = 20 bytes.
            if data.len() < 20 {
                return Err(format!("Linux SLL2 frame too short ({} bytes)", data.len()));
            }
            let proto = u16::from_be_bytes([data[0], data[1]]);
            SlicedPacket::from_ether_type(EtherType(proto), &data[20..])
        }
        DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 => SlicedPacket::from_ip(data),
        DataLink::NULL | DataLink::LOOP => {
            // BSD loopback: 4-byte address family in host (NULL) or network (LOOP) order.
            if data.len() < 4 {
                return Err(format!("loopback frame too short ({} bytes)", data.len()));
            }
            SlicedPacket::from_ip(&data[4..])
        }
        other => return Err(format!("unsupported link type {other:?}")),
    };
    let sliced = sliced.map_err(|e| e.to_string())?;
    let (src_ip, dst_ip): (IpAddr, IpAddr) = match &sliced.net {
        Some(NetSlice::Ipv4(v4)) => (
            v4.header().source_addr().into(),
            v4.header().destination_addr().into(),
        ),
        Some(NetSlice::Ipv6(v6)) => (
            v6.header().source_addr().into(),
            v6.header().destination_addr().into(),
        ),
        _ => return Ok(None),
    };
    let Some(TransportSlice::Tcp(tcp)) = &sliced.transport else {
        return Ok(None);
    };
    Ok(Some(Segment {
        src: SocketAddr::new(src_ip, tcp.source_port()),
        dst: SocketAddr::new(dst_ip, tcp.destination_port()),
        seq: tcp.sequence_number(),
        syn: tcp.syn(),
        fin: tcp.fin(),
        rst: tcp.rst(),
        payload: tcp.payload(),
    }))
}
