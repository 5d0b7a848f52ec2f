//! The typed lab the engine runs: what `validate` produces from a raw lab file, and the
//! names the format allows (threats, check kinds, Orthanc versions).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

pub const API_VERSION: &str = "dicom-range/v1";

/// The threats of the paper's section 5.5; a lab's `metadata.threat` is one of them.
pub const THREATS: &[&str] = &[
    "insecure-communication",
    "weak-authentication",
    "outdated-software",
    "insufficient-training",
    "unprotected-networks",
    "data-manipulation",
    "unauthorized-access",
    "lack-of-intrusion-detection",
    "auditing",
];

/// Orthanc versions there is an image recipe for.
pub const ORTHANC_VERSIONS: &[&str] = &["1.10.1", "1.12.7"];

pub const CHECK_KINDS: &[&str] = &[
    "pacs.instances",
    "pacs.file_written",
    "pacs.data_altered",
    "pacs.signatures",
    "attack.succeeded",
    "ids.alerts",
    "log.lines",
    "capture.phi_in_clear",
    "capture.dicom_in_clear",
    "capture.sequence",
];

/// A validated lab, ready to run.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    pub file: String,
    pub metadata: Metadata,
    /// The value of every parameter after `-p` overrides.
    pub params: BTreeMap<String, String>,
    pub networks: Vec<Network>,
    pub nodes: Vec<Node>,
    pub steps: Vec<Step>,
    pub checks: Vec<Check>,
    /// Present when the lab is an exercise (`variant: exercise`).
    pub exercise: Option<Exercise>,
    /// What to look for in Wireshark, when the lab says (`lab explain`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wireshark: Option<Wireshark>,
    /// Parameters `lab pack` draws per student, and how.
    pub per_student: BTreeMap<String, String>,
    /// The file's text with parameters substituted: saved with a run, so that grading
    /// later needs nothing but the run directory.
    #[serde(skip)]
    pub resolved_text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Metadata {
    pub name: String,
    pub title: String,
    pub threat: String,
    pub variant: Variant,
    pub pair: Option<String>,
    pub mitre: Vec<String>,
    pub description: Option<String>,
    /// Where `pair` is written (line, column), for catalog-level messages.
    #[serde(skip)]
    pub pair_at: Option<(u64, u64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    Vulnerable,
    Hardened,
    /// A lab a student must make pass by editing the parts its `exercise` section names.
    Exercise,
}

#[derive(Debug, Clone, Serialize)]
pub struct Network {
    pub name: String,
    pub internal: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Node {
    pub name: String,
    pub kind: NodeKind,
    /// What its `limits:` sets over the engine's defaults.
    pub limits: crate::NodeLimits,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum NodeKind {
    Orthanc {
        version: String,
        aet: String,
        networks: Vec<String>,
        config: BTreeMap<String, serde_json::Value>,
        /// DICOM TLS on the DICOM port, when set.
        tls: Option<PacsTls>,
        /// A Lua script Orthanc runs (hooks such as OnStoredInstance), when set.
        lua: Option<String>,
        /// Orthanc logs at INFO level (`--verbose`): every association, every store.
        verbose: bool,
    },
    Modality {
        aet: String,
        networks: Vec<String>,
        /// The modality speaks DICOM TLS, when set.
        tls: Option<ClientTls>,
        /// What speaks DICOM: lab-agent, or the paper's pynetdicom script.
        #[serde(rename = "impl")]
        implementation: ModalityImpl,
        /// The modality signs each instance it stores with a DICOM digital signature
        /// (PS3.15 Annex C, DCMTK's dcmsign) under a certificate from the run's CA.
        sign: bool,
    },
    /// lab-agent with the attacker's tools; `daemon` is its main process when set.
    Attacker {
        aet: String,
        networks: Vec<String>,
        daemon: Option<Daemon>,
        /// The agent image, or the toolbox (nmap, tcpdump, tshark, dcmtk and lab-agent).
        image: AttackerImage,
    },
    Sniffer {
        tap: String,
    },
    /// lab-agent watching a network and raising alerts (never sending a packet).
    Ids {
        tap: String,
        /// The rules that are on, each with its threshold; `None`: every rule at its default.
        rules: Option<Vec<(protocol::IdsRule, u64)>>,
    },
}

/// What speaks DICOM in a modality node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModalityImpl {
    /// lab-agent (Rust, dicom-ul): every action, TLS.
    #[default]
    LabAgent,
    /// The paper's script (Python, pynetdicom 2.0.2): echo and store, no TLS.
    Pynetdicom,
}

impl ModalityImpl {
    pub const NAMES: &'static [&'static str] = &["lab-agent", "pynetdicom"];

    /// Its name in a lab file (`NAMES` is in declaration order).
    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// The image an attacker node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttackerImage {
    /// dicom-range/agent: lab-agent only.
    #[default]
    Agent,
    /// dicom-range/toolbox: lab-agent plus nmap, tcpdump, tshark and dcmtk (the paper's
    /// "Kali" box); needed by the nmap actions.
    Toolbox,
}

impl AttackerImage {
    pub const NAMES: &'static [&'static str] = &["agent", "toolbox"];

    /// Its name in a lab file (`NAMES` is in declaration order).
    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// A long-running attacker process (the on-path proxy), started with the lab.
#[derive(Debug, Clone, Serialize)]
pub struct Daemon {
    pub action: String,
    pub with: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct PacsTls {
    pub require_client_certificate: bool,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct ClientTls {
    pub client_certificate: bool,
}

impl Node {
    pub fn networks(&self) -> &[String] {
        match &self.kind {
            NodeKind::Orthanc { networks, .. }
            | NodeKind::Modality { networks, .. }
            | NodeKind::Attacker { networks, .. } => networks,
            NodeKind::Sniffer { .. } | NodeKind::Ids { .. } => &[],
        }
    }

    pub fn aet(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Orthanc { aet, .. }
            | NodeKind::Modality { aet, .. }
            | NodeKind::Attacker { aet, .. } => Some(aet),
            NodeKind::Sniffer { .. } | NodeKind::Ids { .. } => None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// 1-based position in the file, used in messages ("step 2").
    pub index: usize,
    /// The step's `id`, or `step-<index>`; checks name steps by it.
    pub id: String,
    pub node: String,
    pub action: Action,
    /// The on-path attacker the traffic goes through (its proxy daemon), when set.
    pub via: Option<String>,
    pub expect: StepExpect,
}

/// How a step must end for the lab to pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepExpect {
    Success,
    Failure,
    /// Either; what happened is graded by checks (attack steps).
    Any,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum Action {
    Echo {
        to: String,
    },
    Store {
        to: String,
        study: Study,
    },
    /// Any other lab-agent action (find, aet-scan, rest-probe, ...), with its options.
    Agent {
        verb: String,
        to: String,
        with: BTreeMap<String, serde_json::Value>,
    },
}

impl Action {
    pub fn verb(&self) -> &str {
        match self {
            Action::Echo { .. } => "echo",
            Action::Store { .. } => "store",
            Action::Agent { verb, .. } => verb,
        }
    }

    pub fn target(&self) -> &str {
        match self {
            Action::Echo { to } | Action::Store { to, .. } | Action::Agent { to, .. } => to,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Study {
    pub modality: String,
    pub instances: u32,
    pub syntax: Syntax,
    pub patient: String,
    pub patient_id: String,
    pub seed: u64,
    pub rows: u16,
    pub cols: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Syntax {
    JpegBaseline,
    ExplicitLe,
}

impl Syntax {
    pub fn as_str(self) -> &'static str {
        match self {
            Syntax::JpegBaseline => "jpeg-baseline",
            Syntax::ExplicitLe => "explicit-le",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub id: String,
    pub kind: CheckKind,
    pub mitre: Option<String>,
    pub description: Option<String>,
    /// Exercises: graded by the instructor only, never shown to students.
    pub hidden: bool,
    /// Exercises: what meeting the check is worth.
    pub points: u32,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind")]
pub enum CheckKind {
    /// The PACS holds exactly `equals` instances at the end of the run.
    #[serde(rename = "pacs.instances")]
    PacsInstances { node: String, equals: u64 },
    /// Patient data readable in clear in the capture: a finding, or none.
    #[serde(rename = "capture.phi_in_clear")]
    PhiInClear { expect: Expectation },
    /// DICOM PDUs readable on the wire (not inside TLS): a finding, or none.
    #[serde(rename = "capture.dicom_in_clear")]
    DicomInClear { expect: Expectation },
    /// These labels appear in this order in the capture's DICOM timeline.
    #[serde(rename = "capture.sequence")]
    Sequence { expect: Vec<String> },
    /// An attack step (or attacker daemon) reported success: a finding, or none.
    #[serde(rename = "attack.succeeded")]
    AttackSucceeded {
        step: Option<String>,
        node: Option<String>,
        expect: Expectation,
    },
    /// The IDS raised between `min` and `max` alerts of `rule` (any rule when `None`)
    /// whose source is node `from` (any source when `None`).
    #[serde(rename = "ids.alerts")]
    IdsAlerts {
        node: String,
        rule: Option<String>,
        from: Option<String>,
        min: u64,
        max: Option<u64>,
    },
    /// A file at `path` exists in the PACS container at the end (an arbitrary file write).
    #[serde(rename = "pacs.file_written")]
    PacsFileWritten {
        node: String,
        path: String,
        expect: Expectation,
    },
    /// A stored instance's PatientName differs from what the modality sent.
    #[serde(rename = "pacs.data_altered")]
    PacsDataAltered { node: String, expect: Expectation },
    /// What DCMTK's `dcmsign --verify` says of every archived instance's signatures.
    #[serde(rename = "pacs.signatures")]
    PacsSignatures {
        node: String,
        expect: SignatureExpect,
    },
    /// Lines of a node's log containing `contains`: between `min` and `max`.
    #[serde(rename = "log.lines")]
    LogLines {
        node: String,
        contains: String,
        min: Option<u64>,
        max: Option<u64>,
    },
}

/// What `pacs.signatures` expects of every archived instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureExpect {
    /// Signed, and every signature verifies against the run's CA.
    Valid,
    /// Signed, and a signature fails: the instance changed after it was signed.
    Broken,
    /// No signature at all: nothing can tell an altered instance from the original.
    Unsigned,
}

impl SignatureExpect {
    pub const NAMES: &'static [&'static str] = &["valid", "broken", "unsigned"];
    pub const ALL: [SignatureExpect; 3] = [
        SignatureExpect::Valid,
        SignatureExpect::Broken,
        SignatureExpect::Unsigned,
    ];

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// What a security check is expected to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Expectation {
    Finding,
    None,
}

/// The `wireshark:` section of a lab: display filters and the packets to expand.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Wireshark {
    pub filters: Vec<DisplayFilter>,
    pub expand: Vec<String>,
}

/// A Wireshark display filter and what the packets it keeps show.
#[derive(Debug, Clone, Serialize)]
pub struct DisplayFilter {
    pub filter: String,
    pub shows: String,
    /// A preference the filter needs (`name:value`, tshark's `-o`): Wireshark 4.0 makes
    /// DICOM tags filterable fields only with `dicom.tag_tree:TRUE`.
    pub preference: Option<String>,
}

/// The `exercise:` section of a lab.
#[derive(Debug, Clone, Serialize)]
pub struct Exercise {
    pub brief: String,
    pub edits: Vec<Edit>,
    /// Node -> field -> value: the reference solution (instructor only).
    pub solution: Option<BTreeMap<String, BTreeMap<String, Value>>>,
    /// The secret per-student values are drawn from (instructor only).
    #[serde(skip)]
    pub seed: Option<String>,
    /// Whose file this is (written by `lab pack`).
    pub student: Option<String>,
}

/// One node the student configures, and which of its fields.
#[derive(Debug, Clone, Serialize)]
pub struct Edit {
    pub node: String,
    pub fields: Vec<String>,
    /// When `version` is editable: the versions a submission may choose (empty: any known).
    pub versions: Vec<String>,
}
