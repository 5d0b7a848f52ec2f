//! Names for a capture's endpoints, given from outside it (as a hosts file gives Wireshark
//! names): a capture says only addresses and the AE titles peers present, and an AE title
//! is a claim anyone can make. [`Hosts`] names an endpoint by who owns its address and
//! shows its AE title as what it claims, saying whose title that is when it is another
//! host's: an on-path proxy that keeps the modality's calling title is named as itself,
//! claiming the modality's title.
//!
//! `wire` still knows no labs: the caller (a run's address map) says who is who.

use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

use crate::{Association, Event};

/// One host: its name, its addresses, its own AE title.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub name: String,
    pub addresses: Vec<IpAddr>,
    pub aet: Option<String>,
}

/// Who is who on a capture's network.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hosts {
    hosts: Vec<Host>,
}

/// One end of a connection, named.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// `"ip:port"` as the capture has it.
    pub address: String,
    /// The host that owns the address; none when no known host does.
    pub node: Option<String>,
    /// The AE title this end presented: the calling title for the requestor, the called
    /// one for the acceptor (which its A-ASSOCIATE-AC repeats). None when not seen (TLS).
    pub aet: Option<String>,
    /// The host whose own AE title that is, the owner of the address first when several
    /// share it.
    pub aet_node: Option<String>,
}

impl Hosts {
    pub fn new(hosts: Vec<Host>) -> Hosts {
        Hosts { hosts }
    }

    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// The host owning the address of `endpoint` (`"ip:port"`, `"[ip]:port"` or an ip).
    pub fn owner(&self, endpoint: &str) -> Option<&str> {
        let ip = ip_of(endpoint)?;
        self.hosts
            .iter()
            .find(|h| h.addresses.contains(&ip))
            .map(|h| h.name.as_str())
    }

    /// `address`, presenting AE title `aet`, named.
    pub fn endpoint(&self, address: &str, aet: Option<&str>) -> Endpoint {
        let node = self.owner(address);
        let aet_node = aet.and_then(|aet| {
            let mut with = self.hosts.iter().filter(|h| h.aet.as_deref() == Some(aet));
            let first = with.clone().next()?;
            Some(
                with.find(|h| Some(h.name.as_str()) == node)
                    .unwrap_or(first),
            )
        });
        Endpoint {
            address: address.to_string(),
            node: node.map(str::to_string),
            aet: aet.map(str::to_string),
            aet_node: aet_node.map(|h| h.name.clone()),
        }
    }

    /// The two ends of an association: the requestor with its calling title, the
    /// acceptor with the called one.
    pub fn ends(&self, a: &Association) -> (Endpoint, Endpoint) {
        (
            self.endpoint(&a.client, a.calling_aet.as_deref()),
            self.endpoint(&a.server, a.called_aet.as_deref()),
        )
    }

    /// `e` with the hosts owning its source and destination (a timeline line).
    pub fn event<'a>(&'a self, e: &'a Event) -> NamedEvent<'a> {
        NamedEvent {
            event: e,
            src_node: self.owner(&e.src),
            dst_node: self.owner(&e.dst),
        }
    }

    /// `a` with the hosts owning its ends and those whose AE titles they presented.
    pub fn association<'a>(&'a self, a: &'a Association) -> NamedAssociation<'a> {
        let (client, server) = self.ends(a);
        NamedAssociation {
            association: a,
            client_node: client.node,
            server_node: server.node,
            calling_aet_node: client.aet_node,
            called_aet_node: server.aet_node,
        }
    }
}

impl Endpoint {
    /// The address without its port.
    pub fn ip(&self) -> String {
        ip_of(&self.address)
            .map(|ip| ip.to_string())
            .unwrap_or_else(|| self.address.clone())
    }

    /// The owner of the address, or `unknown host <ip>`.
    pub fn name(&self) -> String {
        match &self.node {
            Some(n) => n.clone(),
            None => format!("unknown host {}", self.ip()),
        }
    }

    /// Whether the AE title presented is another host's own: the lesson of an on-path
    /// proxy, whose titles say "modality" while its address is its own.
    pub fn impersonates(&self) -> bool {
        self.aet_node.is_some() && self.aet_node != self.node
    }

    /// The AE title as a claim: `AET MODALITY, its own`, `claims AET MODALITY, the AE title
    /// of modality`, `claims AET X`; None when no title was seen.
    pub fn claim(&self) -> Option<String> {
        let aet = self.aet.as_deref()?;
        Some(match &self.aet_node {
            Some(owner) if self.node.as_ref() == Some(owner) => format!("AET {aet}, its own"),
            Some(owner) => format!("claims AET {aet}, the AE title of {owner}"),
            None => format!("claims AET {aet}"),
        })
    }
}

/// `attacker 10.0.0.4:51234 (claims AET MODALITY, the AE title of modality)`. Not escaped:
/// AE titles come from the capture, and a terminal shows this through `terminal_safe`.
impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.node {
            Some(n) => write!(f, "{n} {}", self.address)?,
            None => write!(f, "unknown host {}", self.address)?,
        }
        match self.claim() {
            Some(c) => write!(f, " ({c})"),
            None => Ok(()),
        }
    }
}

/// A timeline event with the hosts that own its addresses (null when none does).
#[derive(Debug, Serialize)]
pub struct NamedEvent<'a> {
    #[serde(flatten)]
    pub event: &'a Event,
    pub src_node: Option<&'a str>,
    pub dst_node: Option<&'a str>,
}

/// An association summary with the hosts behind its ends and behind the AE titles they
/// presented: `client_node` differing from `calling_aet_node` is a borrowed title.
#[derive(Debug, Serialize)]
pub struct NamedAssociation<'a> {
    #[serde(flatten)]
    pub association: &'a Association,
    pub client_node: Option<String>,
    pub server_node: Option<String>,
    pub calling_aet_node: Option<String>,
    pub called_aet_node: Option<String>,
}

fn ip_of(endpoint: &str) -> Option<IpAddr> {
    endpoint
        .parse::<SocketAddr>()
        .map(|s| s.ip())
        .ok()
        .or_else(|| endpoint.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lab() -> Hosts {
        let host = |name: &str, ip: &str, aet: Option<&str>| Host {
            name: name.into(),
            addresses: vec![ip.parse().unwrap()],
            aet: aet.map(str::to_string),
        };
        Hosts::new(vec![
            host("pacs", "10.213.0.2", Some("ORTHANC")),
            host("modality", "10.213.0.3", Some("MODALITY")),
            host("attacker", "10.213.0.4", Some("ATTACKER")),
        ])
    }

    /// The proxy keeps the modality's calling title: the address names it, the title is
    /// shown as the modality's, claimed by the attacker.
    #[test]
    fn an_address_names_its_owner_whatever_title_it_claims() {
        let e = lab().endpoint("10.213.0.4:51234", Some("MODALITY"));
        assert_eq!(e.node.as_deref(), Some("attacker"));
        assert_eq!(e.aet_node.as_deref(), Some("modality"));
        assert!(e.impersonates());
        assert_eq!(
            e.to_string(),
            "attacker 10.213.0.4:51234 (claims AET MODALITY, the AE title of modality)"
        );
        let own = lab().endpoint("10.213.0.3:40000", Some("MODALITY"));
        assert!(!own.impersonates());
        assert_eq!(
            own.to_string(),
            "modality 10.213.0.3:40000 (AET MODALITY, its own)"
        );
    }

    #[test]
    fn an_address_no_host_owns_is_an_unknown_host() {
        let e = lab().endpoint("[fd00::9]:104", Some("ORTHANC"));
        assert_eq!(e.node, None);
        assert_eq!(e.name(), "unknown host fd00::9");
        assert!(e.impersonates());
        let hidden = lab().endpoint("10.213.0.2:4242", None);
        assert_eq!(hidden.to_string(), "pacs 10.213.0.2:4242");
        assert!(!hidden.impersonates());
        let nobody = Hosts::default().endpoint("10.0.0.1:1", Some("X"));
        assert_eq!(nobody.to_string(), "unknown host 10.0.0.1:1 (claims AET X)");
    }
}
