//! The resource limits and capabilities of every container a run starts, in one place:
//! `lab run` (`run.rs`, `lifecycle.rs`) and `lab export compose` (`export.rs`) both read
//! them from here, so a compose project runs within the same bounds as a run.
//!
//! Every container gets a memory limit with no swap on top, a process limit, a CPU weight
//! and a bounded json-file log; `runtime` also drops every capability but the role's own
//! and sets `no-new-privileges`. The defaults are generous: every lab of the catalog runs
//! well inside them (a PACS's memory holds its 4 GiB storage tmpfs, which counts against
//! it as it fills). A node's `limits:` in the lab file overrides them (`scenario::limit_rules`
//! bounds what it may say). When a node meets a limit, the run ends as an error (exit 2)
//! whose text names the node and the limit: see `hits`.

use runtime::{LimitState, Limits};
use scenario::limit_rules::format_size;
use scenario::{Node, NodeKind};

use crate::orthanc;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// How many log files Docker keeps per container (each at most a `1 / LOG_FILES` share of
/// the node's log size).
pub const LOG_FILES: u32 = 2;

/// The largest capture a sniffer (or an attacker's `sniff`) writes unless its `limits.capture`
/// says otherwise; it stops capturing there, and the report says so.
pub const DEFAULT_CAPTURE_BYTES: u64 = GIB;

/// What a container is for: its defaults and its capabilities follow from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Pacs,
    Modality,
    Attacker,
    /// A sniffer or an IDS: taps a lab bridge from the host's network namespace.
    Tap,
    /// A helper in a node's network namespace removing its gateway routes.
    RouteHelper,
    /// `lab up`'s web UI forwarder, in a PACS's network namespace.
    UiForwarder,
    /// `lab capture`: a live capture of a lab bridge from the host's namespace.
    LiveCapture,
    /// DCMTK's `dcmsign --verify` over a PACS's archived files, on no network at all.
    Verifier,
}

/// A limit's value in a lab's terms: total log bytes rather than per-file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeBudget {
    pub memory: u64,
    pub pids: u32,
    pub cpu_shares: u32,
    pub log_size: u64,
}

impl Role {
    pub fn of(kind: &NodeKind) -> Role {
        match kind {
            NodeKind::Orthanc { .. } => Role::Pacs,
            NodeKind::Modality { .. } => Role::Modality,
            NodeKind::Attacker { .. } => Role::Attacker,
            NodeKind::Sniffer { .. } | NodeKind::Ids { .. } => Role::Tap,
        }
    }

    /// The defaults of the role.
    pub fn defaults(self) -> NodeBudget {
        match self {
            // The storage tmpfs, full, and a gigabyte for Orthanc itself.
            Role::Pacs => NodeBudget {
                memory: orthanc::STORAGE_BYTES + GIB,
                pids: 1024,
                cpu_shares: 1024,
                log_size: 64 * MIB,
            },
            // A store of 10 000 synthetic images, pynetdicom included.
            Role::Modality => NodeBudget {
                memory: 2 * GIB,
                pids: 512,
                cpu_shares: 1024,
                log_size: 16 * MIB,
            },
            // Half the weight of the nodes it attacks: a flood slows the lab, not the host.
            Role::Attacker => NodeBudget {
                memory: 2 * GIB,
                pids: 512,
                cpu_shares: 512,
                log_size: 16 * MIB,
            },
            Role::Tap => NodeBudget {
                memory: 512 * MIB,
                pids: 128,
                cpu_shares: 1024,
                log_size: 16 * MIB,
            },
            Role::RouteHelper | Role::UiForwarder | Role::LiveCapture => NodeBudget {
                memory: 128 * MIB,
                pids: 64,
                cpu_shares: 256,
                log_size: 2 * MIB,
            },
            // dcmsign holds one archived file (at most 32 MiB) and its copy in memory.
            Role::Verifier => NodeBudget {
                memory: 256 * MIB,
                pids: 64,
                cpu_shares: 256,
                log_size: 2 * MIB,
            },
        }
    }

    /// The only capabilities the role keeps (every other one is dropped).
    pub fn capabilities(self) -> &'static [&'static str] {
        match self {
            // Its start: hand the storage tmpfs to the `orthanc` user (chown, reaching it
            // through /var/lib/orthanc, which is the `orthanc` user's own, mode 0750: the
            // search needs DAC_READ_SEARCH), then become that user for good (setpriv:
            // setgid, setgroups, setuid), which leaves Orthanc and its Lua none of them.
            // The engine's probes run as root and keep them (they read, never write).
            Role::Pacs => &["CHOWN", "DAC_READ_SEARCH", "SETGID", "SETUID"],
            Role::Modality => &[],
            // Raw frames for arp-spoof (libpcap's sendpacket) and its own `sniff`.
            Role::Attacker => &["NET_RAW"],
            // A promiscuous capture: libpcap opens an AF_PACKET socket (NET_RAW) and asks
            // promiscuous mode with PACKET_ADD_MEMBERSHIP, which needs no NET_ADMIN.
            Role::Tap | Role::LiveCapture => &["NET_RAW"],
            // SIOCDELRT on the node's routing table.
            Role::RouteHelper => &["NET_ADMIN"],
            Role::UiForwarder | Role::Verifier => &[],
        }
    }
}

impl NodeBudget {
    /// A node's budget: its role's defaults under what its `limits:` sets.
    pub fn of(node: &Node) -> NodeBudget {
        let d = Role::of(&node.kind).defaults();
        let l = &node.limits;
        NodeBudget {
            memory: l.memory.unwrap_or(d.memory),
            pids: l.pids.unwrap_or(d.pids),
            cpu_shares: l.cpu_shares.unwrap_or(d.cpu_shares),
            log_size: l.log_size.unwrap_or(d.log_size),
        }
    }

    /// The runtime's terms.
    pub fn limits(self) -> Limits {
        Limits {
            memory: self.memory,
            pids: self.pids,
            cpu_shares: self.cpu_shares,
            log_bytes: (self.log_size / u64::from(LOG_FILES)).max(MIB / 2),
            log_files: LOG_FILES,
        }
    }

    /// The same limits as docker compose keys (file format 2.4).
    pub fn compose_keys(self, role: Role) -> serde_json::Map<String, serde_json::Value> {
        let l = self.limits();
        let json = serde_json::json!({
            "mem_limit": l.memory,
            "memswap_limit": l.memory,
            "pids_limit": l.pids,
            "cpu_shares": l.cpu_shares,
            "logging": {
                "driver": "json-file",
                "options": { "max-size": l.log_bytes.to_string(), "max-file": l.log_files.to_string() },
            },
            "security_opt": ["no-new-privileges:true"],
            "cap_drop": ["ALL"],
            "cap_add": role.capabilities(),
        });
        match json {
            serde_json::Value::Object(m) => m,
            _ => unreachable!("a literal object"),
        }
    }
}

/// The largest capture a node writes (sniffer, attacker `sniff`).
pub fn capture_bytes(node: &Node) -> u64 {
    node.limits.capture.unwrap_or(DEFAULT_CAPTURE_BYTES)
}

impl Role {
    /// Capabilities as the runtime takes them.
    pub fn caps(self) -> Vec<String> {
        self.capabilities().iter().map(|c| c.to_string()).collect()
    }

    /// The role's default limits in the runtime's terms (helpers have no lab file entry).
    pub fn limits(self) -> Limits {
        self.defaults().limits()
    }
}

/// What a node's state says of its limits, in words naming the node and the limit; None
/// when it met none. `log_tail` is the end of its log, read when it has stopped: a process
/// that could not fork says so there, and the stopped container no longer counts processes.
pub fn hits(node: &str, budget: NodeBudget, state: &LimitState, log_tail: &str) -> Vec<String> {
    let mut out = Vec::new();
    let memory = format_size(budget.memory);
    if state.oom_killed {
        out.push(if state.running {
            format!(
                "node `{node}` hit its memory limit ({memory}): the kernel killed a process in it"
            )
        } else {
            format!("node `{node}` was killed by its memory limit ({memory})")
        });
    }
    let pids = budget.pids;
    let at_pids = state
        .pids_current
        .is_some_and(|c| c + u64::from((pids / 50).max(2)) >= u64::from(pids));
    if at_pids {
        out.push(format!(
            "node `{node}` hit its pids limit ({pids} processes): {} running, no more can start",
            state.pids_current.unwrap_or(0)
        ));
    } else if !state.running && fork_failed(log_tail) {
        out.push(format!(
            "node `{node}` stopped after it could not start a process or thread: it hit its pids limit ({pids} processes)"
        ));
    }
    out
}

/// Whether a log ends with the words of a failed fork or thread creation (EAGAIN).
fn fork_failed(log_tail: &str) -> bool {
    const SIGNS: &[&str] = &[
        "Cannot fork",
        "fork: Resource temporarily unavailable",
        "fork: retry",
        "thread_resource_error",
        "Resource temporarily unavailable",
    ];
    SIGNS.iter().any(|s| log_tail.contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(oom: bool, running: bool, pids: Option<u64>) -> LimitState {
        LimitState {
            oom_killed: oom,
            running,
            pids_current: pids,
            pids_limit: pids.map(|_| 128),
        }
    }

    #[test]
    fn a_limit_met_is_named_with_the_node_and_its_value() {
        let b = NodeBudget {
            memory: 256 * MIB,
            pids: 128,
            cpu_shares: 1024,
            log_size: 16 * MIB,
        };
        assert_eq!(
            hits("pacs", b, &state(true, false, None), ""),
            ["node `pacs` was killed by its memory limit (256 MiB)"]
        );
        assert!(
            hits("pacs", b, &state(false, true, Some(128)), "")[0]
                .starts_with("node `pacs` hit its pids limit (128 processes)")
        );
        assert!(
            hits("pacs", b, &state(false, false, None), "x\nCannot fork\n")[0]
                .contains("pids limit (128 processes)")
        );
        assert!(hits("pacs", b, &state(false, true, Some(40)), "").is_empty());
        assert!(hits("pacs", b, &state(false, false, None), "bye\n").is_empty());
    }

    #[test]
    fn the_pacs_default_holds_its_storage() {
        let d = Role::Pacs.defaults();
        assert!(d.memory > orthanc::STORAGE_BYTES);
        assert!(
            orthanc::STORAGE_TMPFS.contains(&format!("size={}g", orthanc::STORAGE_BYTES >> 30))
        );
    }
}
