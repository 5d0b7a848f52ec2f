//! Who each connection of the capture is between, named by the node that owns each
//! address (the run's `addresses.json`), the AE titles shown as what the ends claimed. One
//! list for every rendering: the sequence diagrams, `report.json`'s `associations`, the
//! terminal summary.
//!
//! A title says nothing of who sent it: an on-path proxy keeps the modality's calling
//! title, and naming ends by title would draw the proxy as the modality. The address is
//! what the network delivered to; the title is a claim.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use wire::{Analysis, Endpoint, Event, Host, Hosts};

use rundir::{AddressMap, RunDir};

/// At most this many connections are listed in `report.json` (a flood makes thousands);
/// every event of the others is in `timeline.json`.
pub const MAX_CONNECTIONS: usize = 1000;

/// One TCP connection carrying DICOM or TLS, in order of first appearance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    /// The capture's TCP stream index.
    pub stream: u32,
    /// The association requestor (sender of the A-ASSOCIATE-RQ or ClientHello; else of
    /// the first PDU seen), with its calling AE title.
    pub client: Endpoint,
    /// The acceptor, with the called AE title.
    pub server: Endpoint,
    /// Every event of it is TLS: no AE title could be read.
    #[serde(default)]
    pub tls: bool,
}

/// The hosts of a run's address map, for `wire` to name addresses with.
pub fn hosts(map: &AddressMap) -> Hosts {
    Hosts::new(
        map.nodes
            .iter()
            .map(|n| Host {
                name: n.node.clone(),
                addresses: n
                    .addresses
                    .iter()
                    .map(|a| std::net::IpAddr::V4(a.ipv4))
                    .collect(),
                aet: n.aet.clone(),
            })
            .collect(),
    )
}

/// The hosts of `run`'s address map; none when the run has no map (an older run), so
/// every address is then an unknown host.
pub fn run_hosts(run: &RunDir) -> Hosts {
    run.read_addresses().map(|m| hosts(&m)).unwrap_or_default()
}

/// The connections of `a` with their ends named, in order of first appearance, the first
/// [`MAX_CONNECTIONS`] of them. One pass over the events: a flood has thousands of streams.
pub fn connections(a: &Analysis, hosts: &Hosts) -> Vec<Connection> {
    let mut by_stream: HashMap<u32, Vec<&Event>> = HashMap::new();
    let mut order: Vec<u32> = Vec::new();
    for e in &a.events {
        let events = by_stream.entry(e.stream).or_default();
        if events.is_empty() {
            order.push(e.stream);
        }
        events.push(e);
    }
    let summaries: HashMap<u32, &wire::Association> =
        a.associations.iter().rev().map(|x| (x.stream, x)).collect();
    order
        .into_iter()
        .take(MAX_CONNECTIONS)
        .map(|stream| {
            named(
                stream,
                &by_stream[&stream],
                summaries.get(&stream).copied(),
                hosts,
            )
        })
        .collect()
}

/// The connection of `stream` (drawn beyond the named ones).
pub(crate) fn connection(a: &Analysis, stream: u32, hosts: &Hosts) -> Connection {
    let events: Vec<&Event> = a.events.iter().filter(|e| e.stream == stream).collect();
    let summary = a.associations.iter().find(|x| x.stream == stream);
    named(stream, &events, summary, hosts)
}

/// From the association summary when there is one, else from the first request (or the
/// first event) of the stream.
fn named(
    stream: u32,
    events: &[&Event],
    summary: Option<&wire::Association>,
    hosts: &Hosts,
) -> Connection {
    let tls = !events.is_empty() && events.iter().all(|e| e.pdu.starts_with("TLS"));
    let (client, server) = match summary {
        Some(x) => hosts.ends(x),
        None => {
            let rq = events
                .iter()
                .find(|e| e.pdu == "A-ASSOCIATE-RQ" || e.info.contains("ClientHello"));
            match rq.or(events.first()) {
                Some(e0) => (
                    hosts.endpoint(&e0.src, rq.and_then(|e| e.calling_aet.as_deref())),
                    hosts.endpoint(&e0.dst, rq.and_then(|e| e.called_aet.as_deref())),
                ),
                None => (hosts.endpoint("", None), hosts.endpoint("", None)),
            }
        }
    };
    Connection {
        stream,
        client,
        server,
        tls,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rundir::{ADDRESSES_SCHEMA, NetworkAddress, NodeAddresses};

    pub(crate) fn proxy_map() -> AddressMap {
        let node = |name: &str, kind: &str, aet: Option<&str>, ip: &str| NodeAddresses {
            node: name.into(),
            kind: kind.into(),
            role: kind.into(),
            aet: aet.map(str::to_string),
            addresses: vec![NetworkAddress {
                network: "clinical".into(),
                ipv4: ip.parse().unwrap(),
            }],
        };
        AddressMap {
            schema: ADDRESSES_SCHEMA.into(),
            nodes: vec![
                node("pacs", "orthanc", Some("ORTHANC"), "10.213.0.2"),
                node("modality", "modality", Some("MODALITY"), "10.213.0.3"),
                node("attacker", "attacker", Some("ATTACKER"), "10.213.0.4"),
            ],
        }
    }

    /// proxy-tamper's two associations: the modality to the attacker (which answers as
    /// ORTHANC), the attacker (calling itself MODALITY) to the PACS.
    pub(crate) fn proxy_analysis() -> Analysis {
        let assoc = |stream: u32, client: &str, server: &str| wire::Association {
            stream,
            client: client.into(),
            server: server.into(),
            calling_aet: Some("MODALITY".into()),
            called_aet: Some("ORTHANC".into()),
            end: 1.0,
            duration: 1.0,
            outcome: "released".into(),
            ..Default::default()
        };
        let event = |stream: u32, src: &str, dst: &str, pdu: &str| wire::Event {
            time: f64::from(stream),
            rel_time: f64::from(stream),
            stream,
            src: src.into(),
            dst: dst.into(),
            pdu: pdu.into(),
            label: pdu.into(),
            info: pdu.into(),
            calling_aet: Some("MODALITY".into()),
            called_aet: Some("ORTHANC".into()),
            dimse: None,
            packet: 1,
            pdu_offset: 0,
        };
        let (m, a, a2, p) = (
            "10.213.0.3:40000",
            "10.213.0.4:104",
            "10.213.0.4:51000",
            "10.213.0.2:4242",
        );
        Analysis {
            events: vec![
                event(0, m, a, "A-ASSOCIATE-RQ"),
                event(1, a2, p, "A-ASSOCIATE-RQ"),
                event(1, p, a2, "A-ASSOCIATE-AC"),
                event(0, a, m, "A-ASSOCIATE-AC"),
            ],
            associations: vec![assoc(1, a2, p), assoc(0, m, a)],
            packets: 4,
            dicom_streams: 2,
            ..Default::default()
        }
    }

    #[test]
    fn the_proxy_is_named_by_its_address_in_both_associations() {
        let c = connections(&proxy_analysis(), &hosts(&proxy_map()));
        assert_eq!(c.iter().map(|c| c.stream).collect::<Vec<_>>(), [0, 1]);
        // The modality to the proxy, which answers to the PACS's title.
        assert_eq!(c[0].client.node.as_deref(), Some("modality"));
        assert!(!c[0].client.impersonates());
        assert_eq!(c[0].server.node.as_deref(), Some("attacker"));
        assert_eq!(c[0].server.aet_node.as_deref(), Some("pacs"));
        assert!(c[0].server.impersonates());
        // The proxy to the PACS, calling itself MODALITY.
        assert_eq!(c[1].client.node.as_deref(), Some("attacker"));
        assert_eq!(
            c[1].client.claim().as_deref(),
            Some("claims AET MODALITY, the AE title of modality")
        );
        assert_eq!(c[1].server.node.as_deref(), Some("pacs"));
        assert!(!c[1].server.impersonates());
    }

    #[test]
    fn without_a_map_every_address_is_an_unknown_host() {
        let c = connections(&proxy_analysis(), &Hosts::default());
        assert_eq!(c[1].client.name(), "unknown host 10.213.0.4");
        assert_eq!(c[1].client.claim().as_deref(), Some("claims AET MODALITY"));
    }

    /// A flood's thousands of connections: the first `MAX_CONNECTIONS` are named.
    #[test]
    fn connections_stop_at_their_cap() {
        let mut a = proxy_analysis();
        let e = a.events[0].clone();
        a.associations.clear();
        a.events = (0..MAX_CONNECTIONS as u32 + 5)
            .map(|stream| wire::Event {
                stream,
                ..e.clone()
            })
            .collect();
        let c = connections(&a, &hosts(&proxy_map()));
        assert_eq!(c.len(), MAX_CONNECTIONS);
        assert_eq!(c[7].stream, 7);
        assert_eq!(c[7].client.node.as_deref(), Some("modality"));
        assert_eq!(c[7].server.node.as_deref(), Some("attacker"));
    }
}
