//! What each kind of lab node becomes: one module per kind (`pacs`, `modality`,
//! `attacker`, `tap`), each turning a lab file's node into one [`NodeSpec`]. Both `lab run`
//! (`run::up`, which adds the run's names, labels and networks) and `lab export compose`
//! (`export`, which writes a compose service) consume it, so the exported project cannot
//! drift from what a run starts.
//!
//! Not here: the run's names and labels (`plan`), readiness probing (`run::ready`), or
//! what is saved once the run ends (`run::collect`).

mod attacker;
mod modality;
mod pacs;
mod tap;

use std::collections::BTreeMap;

use scenario::{Node, NodeKind, Scenario};

use crate::EngineError;
use crate::images::Image;
use crate::limits::{NodeBudget, Role};
use crate::pki::{Identity, RunCa};

pub(crate) use attacker::{ATTACKER_CAPTURE, passdb_name};

/// A file a node writes inside its container that is evidence, and where the run
/// directory keeps it (copied out, at most `max` bytes, once the node has stopped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Output {
    pub inner: &'static str,
    pub dest: std::path::PathBuf,
    pub max: u64,
}

/// The evidence file `node` writes, if its kind writes one: a sniffer's capture, an
/// IDS's alerts, an attacker `sniff` daemon's own capture.
pub(crate) fn output(node: &Node, run: &rundir::RunDir) -> Option<Output> {
    match &node.kind {
        NodeKind::Sniffer { .. } | NodeKind::Ids { .. } => Some(tap::output(node, run)),
        NodeKind::Attacker {
            daemon: Some(d), ..
        } if d.action == "sniff" => Some(Output {
            inner: ATTACKER_CAPTURE,
            dest: run.join(&rundir::RunDir::attacker_capture(&node.name)),
            max: crate::save::MAX_CAPTURE_BYTES,
        }),
        _ => None,
    }
}

/// Where a lab-agent node (a TLS modality, an attacker's nmap lists) finds its files.
pub(crate) const AGENT_FILES_DIR: &str = "/etc/lab-agent";

/// A container's worth of a lab node, before a run gives it names.
#[derive(Debug, Clone)]
pub(crate) struct NodeSpec {
    pub image: Image,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    /// Put into the container before it starts (`lab run`), or written into the compose
    /// project's folder and mounted read-only (`lab export compose`).
    pub files: Vec<NodeFile>,
    /// In-memory file systems: (mount point, tmpfs options).
    pub tmpfs: Vec<(String, String)>,
    pub placement: Placement,
    /// Namespaced kernel settings (an on-path attacker forwards what it attracts).
    pub sysctls: BTreeMap<String, String>,
    pub role: Role,
    pub budget: NodeBudget,
    pub ready: Ready,
    /// Started once the lab is ready (taps: the capture holds the exchange, not probes).
    pub after_ready: bool,
}

/// One file a node starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NodeFile {
    pub dir: String,
    pub name: String,
    pub bytes: Vec<u8>,
}

impl NodeFile {
    fn new(dir: &str, name: &str, bytes: impl Into<Vec<u8>>) -> NodeFile {
        NodeFile {
            dir: dir.into(),
            name: name.into(),
            bytes: bytes.into(),
        }
    }
}

/// Where a node sits on the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Placement {
    /// On these lab networks, answering to its node name on each.
    Networks(Vec<String>),
    /// In the host's network namespace, tapping the bridge of this lab network; its
    /// output goes to `/evidence` in the container.
    Tap { network: String },
}

/// How a started node shows it is ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ready {
    /// As soon as it runs.
    Started,
    /// A PACS: REST `/system` answers, then a C-ECHO from a modality on its network.
    Pacs,
    /// Its log holds lab-agent's ready line (a daemon's or a tap's first JSON line:
    /// `protocol::result::is_ready_line`).
    Line,
}

/// What a node's spec depends on beyond its own lab-file entry.
pub(crate) struct Context<'a> {
    pub scenario: &'a Scenario,
    /// TLS identities from the run's CA, by node.
    pub identities: &'a BTreeMap<String, Identity>,
    /// The engine's REST account on every PACS (`lab run`); an exported compose project
    /// has none, so REST stays as the lab configures it.
    pub grader_password: Option<&'a str>,
    /// The bridge interface of a lab network, by its lab name.
    pub bridge: &'a dyn Fn(&str) -> String,
}

/// The spec of `node`.
pub(crate) fn spec(cx: &Context, node: &Node) -> NodeSpec {
    let mut spec = match &node.kind {
        NodeKind::Orthanc { .. } => pacs::spec(cx, node),
        NodeKind::Modality { .. } => modality::spec(cx, node),
        NodeKind::Attacker { .. } => attacker::spec(cx, node),
        NodeKind::Sniffer { .. } | NodeKind::Ids { .. } => tap::spec(cx, node),
    };
    spec.role = Role::of(&node.kind);
    spec.budget = NodeBudget::of(node);
    spec
}

impl NodeSpec {
    /// The fields every kind shares, from `node`: its image, no files, its role.
    fn base(node: &Node, cmd: Vec<String>) -> NodeSpec {
        NodeSpec {
            image: crate::images::of_node(&node.kind),
            cmd,
            env: Vec::new(),
            files: Vec::new(),
            tmpfs: Vec::new(),
            placement: Placement::Networks(node.networks().to_vec()),
            sysctls: BTreeMap::new(),
            role: Role::of(&node.kind),
            budget: NodeBudget::of(node),
            ready: Ready::Started,
            after_ready: false,
        }
    }
}

/// The command line of a node that waits to be `docker exec`ed into.
fn idle() -> Vec<String> {
    protocol::Command::Idle.to_argv()
}

/// TLS identities by node name.
pub(crate) type Identities = BTreeMap<String, Identity>;

/// The key of a signing modality's document-signing identity among [`Identities`] (and
/// the stem of its files in `pki/`): a dot, which no node name has, keeps it apart.
pub(crate) fn signer_key(node: &str) -> String {
    format!("{node}.signer")
}

/// Where a signing modality finds its signing certificate and key (`AGENT_FILES_DIR`).
pub(crate) const SIGNER_PREFIX: &str = "signer";

/// A CA named `ca_name` and a certificate for every node of the lab that speaks TLS (a
/// server certificate for a PACS, a client one for a modality) or signs its instances;
/// None when none does.
pub(crate) fn identities(
    scenario: &Scenario,
    ca_name: &str,
) -> Result<Option<(RunCa, Identities)>, EngineError> {
    let tls_nodes: Vec<(&str, bool)> = scenario
        .nodes
        .iter()
        .filter_map(|n| match &n.kind {
            NodeKind::Orthanc { tls: Some(_), .. } => Some((n.name.as_str(), true)),
            NodeKind::Modality { tls: Some(_), .. } => Some((n.name.as_str(), false)),
            _ => None,
        })
        .collect();
    let signers: Vec<&str> = scenario
        .nodes
        .iter()
        .filter(|n| matches!(n.kind, NodeKind::Modality { sign: true, .. }))
        .map(|n| n.name.as_str())
        .collect();
    if tls_nodes.is_empty() && signers.is_empty() {
        return Ok(None);
    }
    let ca = RunCa::new(ca_name)?;
    let mut ids = BTreeMap::new();
    for (name, server) in tls_nodes {
        ids.insert(name.to_string(), ca.issue(name, server)?);
    }
    for name in signers {
        ids.insert(signer_key(name), ca.issue_signer(name)?);
    }
    Ok(Some((ca, ids)))
}

/// The identity files of a TLS node (`<prefix>.pem`, `<prefix>.key`, `ca.pem`) in `dir`.
fn identity_files(id: &Identity, dir: &str, prefix: &str) -> Vec<NodeFile> {
    vec![
        NodeFile::new(dir, &format!("{prefix}.pem"), id.cert_pem.as_bytes()),
        NodeFile::new(dir, &format!("{prefix}.key"), id.key_pem.as_bytes()),
        NodeFile::new(dir, "ca.pem", id.ca_pem.as_bytes()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_support::lab;

    fn specs(s: &Scenario, grader: Option<&str>) -> BTreeMap<String, NodeSpec> {
        let ids = identities(s, "test")
            .unwrap()
            .map(|(_, i)| i)
            .unwrap_or_default();
        let bridge = |net: &str| format!("br-{net}");
        let cx = Context {
            scenario: s,
            identities: &ids,
            grader_password: grader,
            bridge: &bridge,
        };
        s.nodes
            .iter()
            .map(|n| (n.name.clone(), spec(&cx, n)))
            .collect()
    }

    #[test]
    fn every_kind_has_its_role_place_and_readiness() {
        let s = lab("plaintext-store");
        let specs = specs(&s, Some("pw"));
        assert_eq!(specs["pacs"].role, Role::Pacs);
        assert_eq!(specs["pacs"].ready, Ready::Pacs);
        assert!(matches!(&specs["pacs"].placement, Placement::Networks(n) if n == &["clinical"]));
        assert_eq!(specs["modality"].cmd, idle());
        assert_eq!(specs["sniffer"].role, Role::Tap);
        assert!(specs["sniffer"].after_ready);
        assert!(specs["sniffer"].cmd.contains(&"br-clinical".to_string()));
        assert!(
            matches!(&specs["sniffer"].placement, Placement::Tap { network } if network == "clinical")
        );
    }

    #[test]
    fn the_grader_account_is_only_in_a_run() {
        let s = lab("rest-locked");
        let run = specs(&s, Some("secret-pw"));
        let exported = specs(&s, None);
        let config = |spec: &NodeSpec| {
            let f = spec
                .files
                .iter()
                .find(|f| f.name == "orthanc.json")
                .unwrap();
            String::from_utf8(f.bytes.clone()).unwrap()
        };
        let (node, _) = run.iter().find(|(_, sp)| sp.role == Role::Pacs).unwrap();
        assert!(config(&run[node]).contains(crate::orthanc::GRADER_USER));
        assert!(
            run[node]
                .files
                .iter()
                .any(|f| f.bytes == b"secret-pw".to_vec()
                    || String::from_utf8_lossy(&f.bytes).contains("secret-pw"))
        );
        assert!(!config(&exported[node]).contains(crate::orthanc::GRADER_USER));
        assert!(
            !exported[node]
                .files
                .iter()
                .any(|f| String::from_utf8_lossy(&f.bytes).contains("secret-pw"))
        );
    }

    #[test]
    fn tls_nodes_get_their_identities() {
        let s = lab("tls-store");
        let specs = specs(&s, None);
        let names = |n: &str| -> Vec<String> {
            specs[n]
                .files
                .iter()
                .map(|f| format!("{}/{}", f.dir, f.name))
                .collect()
        };
        let pacs = names("pacs");
        assert!(pacs.iter().any(|f| f.ends_with("/server.pem")), "{pacs:?}");
        let modality = names("modality");
        assert!(
            modality.contains(&format!("{AGENT_FILES_DIR}/client.key")),
            "{modality:?}"
        );
    }

    #[test]
    fn a_signing_modality_gets_its_signer_identity_and_the_toolbox() {
        let s = lab("signed-tamper-evident");
        let specs = specs(&s, None);
        let files: Vec<String> = specs["modality"]
            .files
            .iter()
            .map(|f| format!("{}/{}", f.dir, f.name))
            .collect();
        for f in ["signer.pem", "signer.key", "ca.pem"] {
            assert!(
                files.contains(&format!("{AGENT_FILES_DIR}/{f}")),
                "{files:?}"
            );
        }
        assert_eq!(specs["modality"].image, Image::Toolbox);
        assert_eq!(specs["modality"].role, Role::Modality);
        // The verifier's image is needed, also where no node signs.
        let unsigned = lab("unsigned-tamper");
        assert!(crate::images::needed_by(&unsigned).contains(&Image::Toolbox));
        assert!(!crate::images::needed_by(&lab("proxy-tamper")).contains(&Image::Toolbox));
    }
}
