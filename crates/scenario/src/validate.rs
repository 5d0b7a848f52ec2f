//! Stage two: what the lab says must make sense. Every reference resolves, every action
//! suits its node, every check can be graded in this lab. All problems are collected.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_saphyr::{Location, Spanned};

use crate::error::{Problem, ScenarioError, did_you_mean};
use crate::raw::{RawCheck, RawExpect, RawLab, RawNode};

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
/// Orthanc configuration keys the engine sets itself, with what to write instead.
const ENGINE_OWNED_ORTHANC_KEYS: &[(&str, &str)] = &[
    (
        "DicomPort",
        "the lab's nodes and the engine reach the PACS on DICOM port 4242; leave it out",
    ),
    (
        "HttpPort",
        "the engine reads the PACS's state on REST port 8042; leave it out",
    ),
    ("DicomAet", "write the node's `aet` instead"),
];

pub const ORTHANC_VERSIONS: &[&str] = &["1.10.1", "1.12.7"];

pub const CHECK_KINDS: &[&str] = &[
    "pacs.instances",
    "pacs.file_written",
    "pacs.data_altered",
    "attack.succeeded",
    "ids.alerts",
    "log.lines",
    "capture.phi_in_clear",
    "capture.dicom_in_clear",
    "capture.sequence",
];
const NODE_KINDS: &[&str] = &["orthanc", "modality", "attacker", "sniffer", "ids"];

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
    pub exercise: Option<crate::exercise::Exercise>,
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
    /// The IDS raised at least `min` alerts of `rule`.
    #[serde(rename = "ids.alerts")]
    IdsAlerts {
        node: String,
        rule: String,
        min: u64,
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
    /// Lines of a node's log containing `contains`: between `min` and `max`.
    #[serde(rename = "log.lines")]
    LogLines {
        node: String,
        contains: String,
        min: Option<u64>,
        max: Option<u64>,
    },
}

/// What a security check is expected to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Expectation {
    Finding,
    None,
}

pub(crate) struct Ctx<'a> {
    pub(crate) file: &'a str,
    pub(crate) problems: Vec<Problem>,
}

impl Ctx<'_> {
    pub(crate) fn at(&mut self, loc: Location, message: impl Into<String>) -> &mut Problem {
        self.problems.push(Problem::at(self.file, loc, message));
        self.problems.last_mut().expect("just pushed")
    }

    pub(crate) fn one_of<'a>(
        &mut self,
        what: &str,
        got: &Spanned<String>,
        allowed: impl IntoIterator<Item = &'a str> + Clone,
    ) -> bool {
        if allowed.clone().into_iter().any(|a| a == got.value) {
            return true;
        }
        let all: Vec<&str> = allowed.clone().into_iter().collect();
        let hint = match did_you_mean(&got.value, allowed) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("{what}s are: {}", all.join(", ")),
        };
        self.at(got.referenced, format!("unknown {what} `{}`", got.value))
            .hint = Some(hint);
        false
    }
}

pub(crate) fn validate(
    file: &str,
    raw: RawLab,
    params: BTreeMap<String, String>,
    per_student: BTreeMap<String, String>,
    resolved_text: String,
) -> Result<Scenario, ScenarioError> {
    let mut cx = Ctx {
        file,
        problems: Vec::new(),
    };

    if raw.api_version.value != API_VERSION {
        cx.at(
            raw.api_version.referenced,
            format!("apiVersion `{}` is not supported", raw.api_version.value),
        )
        .hint = Some(format!("write `apiVersion: {API_VERSION}`"));
    }
    if raw.kind.value != "Lab" {
        cx.at(
            raw.kind.referenced,
            format!("kind `{}` is not supported", raw.kind.value),
        )
        .hint = Some("write `kind: Lab`".into());
    }

    let m = &raw.metadata;
    if !valid_name(&m.name.value) {
        cx.at(
            m.name.referenced,
            format!("lab name `{}` is not a valid name", m.name.value),
        )
        .hint = Some(
            "use lowercase letters, digits and '-', 1 to 40 characters, starting with a letter"
                .into(),
        );
    }
    cx.one_of("threat", &m.threat, THREATS.iter().copied());
    let variant = match m.variant.value.as_str() {
        "vulnerable" => Variant::Vulnerable,
        "hardened" => Variant::Hardened,
        "exercise" => Variant::Exercise,
        _ => {
            cx.one_of(
                "variant",
                &m.variant,
                ["vulnerable", "hardened", "exercise"],
            );
            Variant::Vulnerable
        }
    };
    for id in &m.mitre {
        if !valid_mitre(&id.value) {
            cx.at(
                id.referenced,
                format!("`{}` is not a MITRE mitigation id", id.value),
            )
            .hint = Some("ids look like M1041 (Enterprise) or M0930 (ICS)".into());
        }
    }
    let metadata = Metadata {
        name: m.name.value.clone(),
        title: one_line_text(&mut cx, "metadata.title", Some(&m.title)).unwrap_or_default(),
        threat: m.threat.value.clone(),
        variant,
        pair: m.pair.as_ref().map(|p| p.value.clone()),
        pair_at: m
            .pair
            .as_ref()
            .map(|p| (p.referenced.line(), p.referenced.column())),
        mitre: m.mitre.iter().map(|s| s.value.clone()).collect(),
        description: text(&mut cx, "metadata.description", m.description.as_ref()),
    };

    let network_names: Vec<&str> = raw.networks.keys().map(String::as_str).collect();
    let mut networks = Vec::new();
    for (name, net) in &raw.networks {
        if !valid_name(name) || name.len() > 20 {
            cx.at(
                net.defined,
                format!("network name `{name}` is not a valid name"),
            )
            .hint = Some("use lowercase letters, digits and '-', at most 20 characters".into());
        }
        if !net.value.internal.value {
            cx.at(
                net.value.internal.referenced,
                format!("network `{name}` must be internal"),
            )
            .hint =
                Some("lab networks reach nothing outside the lab; remove `internal: false`".into());
        }
        networks.push(Network {
            name: name.clone(),
            internal: true,
        });
    }

    let node_names: Vec<&str> = raw.nodes.keys().map(String::as_str).collect();
    let mut nodes = Vec::new();
    for (name, node) in &raw.nodes {
        if !valid_name(name) {
            cx.at(
                node.defined,
                format!("node name `{name}` is not a valid name"),
            )
            .hint = Some("use lowercase letters, digits and '-', starting with a letter".into());
        }
        let limits = crate::limit_rules::node_limits(
            &mut cx,
            name,
            &node.value.kind.value,
            node.value.limits.as_ref(),
        );
        if let Some(kind) = node_kind(&mut cx, name, &node.value, &network_names) {
            nodes.push(Node {
                name: name.clone(),
                kind,
                limits,
            });
        }
    }
    if nodes
        .iter()
        .filter(|n| matches!(n.kind, NodeKind::Sniffer { .. }))
        .count()
        > 1
    {
        cx.problems
            .push(Problem::new(file, "a lab has at most one sniffer for now"));
    }

    let mut steps = Vec::new();
    for (i, s) in raw.steps.iter().enumerate() {
        if let Some(step) = crate::step_rules::step(&mut cx, i + 1, s, &node_names, &nodes) {
            steps.push(step);
        }
    }

    let mut seen_ids = BTreeSet::new();
    let mut checks = Vec::new();
    for c in &raw.checks {
        if !seen_ids.insert(c.id.value.clone()) {
            cx.at(
                c.id.referenced,
                format!("check id `{}` is used twice", c.id.value),
            );
        }
        if let Some(kind) = crate::check_rules::check_kind(&mut cx, c, &nodes, &steps) {
            if let Some(m) = &c.mitre
                && !valid_mitre(&m.value)
            {
                cx.at(
                    m.referenced,
                    format!("`{}` is not a MITRE mitigation id", m.value),
                );
            }
            checks.push(Check {
                id: c.id.value.clone(),
                kind,
                mitre: c.mitre.as_ref().map(|m| m.value.clone()),
                description: text(
                    &mut cx,
                    &format!("check `{}`: description", c.id.value),
                    c.description.as_ref(),
                ),
                hidden: c.hidden.unwrap_or(false),
                points: c.points.as_ref().map(|p| p.value).unwrap_or(1),
            });
        }
    }
    // The variant is a promise the checks must keep: a vulnerable lab demonstrates its
    // weakness (some check expects a finding), a hardened one shows none.
    let expects_finding = |c: &RawCheck| matches!(c.expect.as_ref().map(|e| &e.value), Some(RawExpect::One(s)) if s == "finding");
    match variant {
        Variant::Vulnerable
            if !raw.checks.is_empty() && !raw.checks.iter().any(expects_finding) =>
        {
            cx.at(
                m.variant.referenced,
                "a vulnerable lab must demonstrate its weakness, but no check expects `finding`",
            )
            .hint = Some(
                "add a security check with `expect: finding`, or make the lab `variant: hardened`"
                    .into(),
            );
        }
        Variant::Hardened | Variant::Exercise => {
            for c in raw.checks.iter().filter(|c| expects_finding(c)) {
                let loc = c
                    .expect
                    .as_ref()
                    .map(|e| e.referenced)
                    .unwrap_or(c.id.referenced);
                cx.at(
                    loc,
                    format!(
                        "check `{}` expects a finding, but the lab is hardened",
                        c.id.value
                    ),
                )
                .hint = Some(
                    "a hardened lab (or an exercise's goal) shows the mitigation working: expect `none`"
                        .into(),
                );
            }
        }
        Variant::Vulnerable => {}
    }
    let exercise = crate::exercise::validate(&mut cx, &raw, variant, &nodes);
    if raw.checks.is_empty() {
        cx.problems.push(
            Problem::new(file, "the lab has no checks, so it can never pass or fail")
                .hint("add a `checks:` list; see docs/scenarios.md"),
        );
    }

    if cx.problems.is_empty() {
        Ok(Scenario {
            file: file.to_string(),
            metadata,
            params,
            networks,
            nodes,
            steps,
            checks,
            exercise,
            per_student,
            resolved_text,
        })
    } else {
        Err(ScenarioError {
            problems: cx.problems,
        })
    }
}

fn node_kind(cx: &mut Ctx, name: &str, node: &RawNode, networks: &[&str]) -> Option<NodeKind> {
    if !cx.one_of("node kind", &node.kind, NODE_KINDS.iter().copied()) {
        return None;
    }
    let kind = node.kind.value.as_str();
    let mut attached = Vec::new();
    for net in &node.networks {
        if networks.contains(&net.value.as_str()) {
            attached.push(net.value.clone());
        } else {
            let p = cx.at(
                net.referenced,
                format!(
                    "node `{name}` joins network `{}`, which is not defined",
                    net.value
                ),
            );
            p.hint = Some(match did_you_mean(&net.value, networks.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("networks are: {}", or_none(networks)),
            });
        }
    }
    let unwanted = |cx: &mut Ctx, key: &str, loc: Option<Location>| {
        if let Some(loc) = loc {
            cx.at(
                loc,
                format!("`{key}` does not apply to a node of kind {kind}"),
            );
        }
    };
    let aet = |cx: &mut Ctx, default: &str| -> String {
        match &node.aet {
            Some(a) if valid_aet(&a.value) => a.value.clone(),
            Some(a) => {
                cx.at(a.referenced, format!("AE title `{}` is not valid", a.value))
                    .hint = Some(
                    "an AE title has 1 to 16 characters, no backslash and no control characters"
                        .into(),
                );
                a.value.clone()
            }
            None => default.to_string(),
        }
    };
    let tls = node.tls.as_ref().map(|t| (&t.value, t.referenced));
    let is = |kinds: &[&str]| kinds.contains(&kind);
    if !is(&["orthanc"]) {
        unwanted(cx, "version", node.version.as_ref().map(|t| t.referenced));
        if node.config.is_some() || node.lua.is_some() || node.verbose.is_some() {
            cx.at(
                node.kind.referenced,
                format!(
                    "`config`, `lua` and `verbose` apply to PACS nodes, not to `{name}` ({kind})"
                ),
            );
        }
    }
    if !is(&["orthanc", "modality"]) {
        unwanted(cx, "tls", tls.map(|(_, loc)| loc));
    }
    if !is(&["modality"]) {
        unwanted(
            cx,
            "impl",
            node.implementation.as_ref().map(|t| t.referenced),
        );
    }
    if !is(&["attacker"]) {
        unwanted(cx, "image", node.image.as_ref().map(|t| t.referenced));
    }
    if !is(&["attacker"]) && node.daemon.is_some() {
        cx.at(
            node.kind.referenced,
            format!("`daemon` applies to attacker nodes, not to `{name}` ({kind})"),
        );
    }
    if is(&["sniffer", "ids"]) {
        unwanted(cx, "aet", node.aet.as_ref().map(|t| t.referenced));
        if let Some(n) = node.networks.first() {
            cx.at(
                n.referenced,
                format!(
                    "a{} joins no network; it taps one",
                    if kind == "ids" { "n ids" } else { " sniffer" }
                ),
            )
            .hint = Some("write `tap: <network>` instead of `networks:`".into());
        }
        let Some(tap) = &node.tap else {
            cx.at(
                node.kind.referenced,
                format!("{kind} `{name}` has no `tap`"),
            )
            .hint = Some(format!(
                "add `tap: <network>` (networks: {})",
                or_none(networks)
            ));
            return None;
        };
        if !networks.contains(&tap.value.as_str()) {
            cx.at(
                tap.referenced,
                format!(
                    "{kind} `{name}` taps network `{}`, which is not defined",
                    tap.value
                ),
            )
            .hint = Some(format!("networks are: {}", or_none(networks)));
        }
        return Some(if kind == "ids" {
            NodeKind::Ids {
                tap: tap.value.clone(),
            }
        } else {
            NodeKind::Sniffer {
                tap: tap.value.clone(),
            }
        });
    }
    unwanted(cx, "tap", node.tap.as_ref().map(|t| t.referenced));
    if node.networks.is_empty() {
        cx.at(
            node.kind.referenced,
            format!("node `{name}` joins no network"),
        )
        .hint = Some(format!(
            "add `networks: [{}]`",
            networks.first().unwrap_or(&"clinical")
        ));
    }
    match kind {
        "orthanc" => {
            if let Some(v) = &node.version {
                cx.one_of("Orthanc version", v, ORTHANC_VERSIONS.iter().copied());
            }
            if let Some((t, loc)) = tls
                && t.client_certificate.is_some()
            {
                cx.at(loc, format!("`tls.client_certificate` is for modalities; on PACS `{name}` write `require_client_certificate`"));
            }
            // The engine, the sniffer's filter and every node reach the PACS on the ports it
            // sets, and its AE title comes from `aet`: a config that moves them breaks the lab
            // in ways no check explains.
            for (key, instead) in ENGINE_OWNED_ORTHANC_KEYS {
                if node.config.as_ref().is_some_and(|c| c.contains_key(*key)) {
                    cx.at(
                        node.kind.referenced,
                        format!("PACS `{name}`: `config` may not set `{key}`"),
                    )
                    .hint = Some((*instead).to_string());
                }
            }
            Some(NodeKind::Orthanc {
                version: node
                    .version
                    .as_ref()
                    .map(|v| v.value.clone())
                    .unwrap_or_else(|| ORTHANC_VERSIONS[0].into()),
                aet: aet(cx, "ORTHANC"),
                networks: attached,
                config: node.config.clone().unwrap_or_default(),
                tls: tls.map(|(t, _)| PacsTls {
                    require_client_certificate: t.require_client_certificate.unwrap_or(true),
                }),
                lua: node.lua.clone(),
                verbose: node.verbose.unwrap_or(true),
            })
        }
        "modality" => {
            if let Some((t, loc)) = tls
                && t.require_client_certificate.is_some()
            {
                cx.at(loc, format!("`tls.require_client_certificate` is for PACS nodes; on modality `{name}` write `client_certificate`"));
            }
            let implementation = match node.implementation.as_ref() {
                None => ModalityImpl::LabAgent,
                Some(i) if i.value == "pynetdicom" => ModalityImpl::Pynetdicom,
                Some(i) if i.value == "lab-agent" => ModalityImpl::LabAgent,
                Some(i) => {
                    cx.one_of("modality impl", i, ModalityImpl::NAMES.iter().copied());
                    ModalityImpl::LabAgent
                }
            };
            if let (ModalityImpl::Pynetdicom, Some((_, loc))) = (implementation, tls) {
                cx.at(
                    loc,
                    format!(
                        "modality `{name}` runs the paper's pynetdicom script, which speaks no TLS"
                    ),
                )
                .hint = Some("remove `tls`, or use `impl: lab-agent` for DICOM TLS".into());
            }
            Some(NodeKind::Modality {
                aet: aet(cx, "MODALITY"),
                networks: attached,
                tls: tls.map(|(t, _)| ClientTls {
                    client_certificate: t.client_certificate.unwrap_or(true),
                }),
                implementation,
            })
        }
        _ => {
            let daemon = node.daemon.as_ref().and_then(|d| {
                let known = cx.one_of(
                    "daemon action",
                    &d.action,
                    crate::step_rules::DAEMONS.iter().copied(),
                );
                if known {
                    crate::step_rules::check_daemon(cx, name, &d.action, &d.with);
                }
                known.then(|| Daemon {
                    action: d.action.value.clone(),
                    with: d.with.clone(),
                })
            });
            let image = match node.image.as_ref() {
                None => AttackerImage::Agent,
                Some(i) if i.value == "toolbox" => AttackerImage::Toolbox,
                Some(i) if i.value == "agent" => AttackerImage::Agent,
                Some(i) => {
                    cx.one_of("attacker image", i, AttackerImage::NAMES.iter().copied());
                    AttackerImage::Agent
                }
            };
            Some(NodeKind::Attacker {
                aet: aet(cx, "ECHOSCU"),
                networks: attached,
                daemon,
                image,
            })
        }
    }
}

pub(crate) fn reference(
    cx: &mut Ctx,
    r: &Spanned<String>,
    node_names: &[&str],
    context: &str,
) -> bool {
    if node_names.contains(&r.value.as_str()) {
        return true;
    }
    let hint = match did_you_mean(&r.value, node_names.iter().copied()) {
        Some(s) => format!("did you mean `{s}`?"),
        None => format!("nodes are: {}", or_none(node_names)),
    };
    cx.at(
        r.referenced,
        format!("{context}: node `{}` is not defined", r.value),
    )
    .hint = Some(hint);
    false
}

pub(crate) fn or_none(v: &[&str]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// A character free text may not hold: C0 controls (but line breaks and tabs where
/// `lines` allows them), DEL, C1 controls and the bidirectional controls. Free text ends
/// up in terminals, in the comment heading a generated compose file and in a README: a
/// line break there starts a key of its own, an escape sequence drives the terminal.
fn refused_in_text(c: char, lines: bool) -> bool {
    match c {
        '\n' | '\t' => !lines,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => true,
        '\u{061c}'
        | '\u{200e}'
        | '\u{200f}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}' => true,
        _ => false,
    }
}

fn check_text(cx: &mut Ctx, field: &str, v: &Spanned<String>, lines: bool) {
    if let Some(c) = v.value.chars().find(|&c| refused_in_text(c, lines)) {
        let what = match c {
            '\n' => "a line break".to_string(),
            '\t' => "a tab".to_string(),
            '\r' => "a carriage return".to_string(),
            '\u{1b}' => "an escape character (a terminal control sequence)".to_string(),
            c => format!("the control character U+{:04X}", c as u32),
        };
        cx.at(v.referenced, format!("{field} contains {what}")).hint = Some(if lines {
            "free text may hold line breaks and tabs, no other control characters; remove it".into()
        } else {
            "write it on one line of plain text, without control characters".into()
        });
    }
}

/// One line of free text (a title, a patient name), refused (with the problem noted)
/// when it holds a control character or a line break.
pub(crate) fn one_line_text(
    cx: &mut Ctx,
    field: &str,
    v: Option<&Spanned<String>>,
) -> Option<String> {
    let v = v?;
    check_text(cx, field, v, false);
    Some(v.value.clone())
}

/// Free text that may span lines (a description).
pub(crate) fn text(cx: &mut Ctx, field: &str, v: Option<&Spanned<String>>) -> Option<String> {
    let v = v?;
    check_text(cx, field, v, true);
    Some(v.value.clone())
}

pub(crate) fn valid_name(s: &str) -> bool {
    (1..=40).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn valid_aet(s: &str) -> bool {
    (1..=16).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii() && !c.is_ascii_control() && c != '\\')
        && !s.trim().is_empty()
}

pub(crate) fn valid_mitre(s: &str) -> bool {
    s.len() == 5 && s.starts_with('M') && s[1..].chars().all(|c| c.is_ascii_digit())
}
