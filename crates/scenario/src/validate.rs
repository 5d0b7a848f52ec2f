//! Stage two: what the lab says must make sense. Every reference resolves, every action
//! suits its node, every check can be graded in this lab. All problems are collected.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_saphyr::{Location, Spanned};

use crate::error::{Problem, ScenarioError, did_you_mean};
use crate::raw::{RawCheck, RawExpect, RawLab, RawNode, RawStep};

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
pub const ORTHANC_VERSIONS: &[&str] = &["1.10.1"];

pub const CHECK_KINDS: &[&str] = &[
    "pacs.instances",
    "capture.phi_in_clear",
    "capture.dicom_in_clear",
    "capture.sequence",
];
const NODE_KINDS: &[&str] = &["orthanc", "modality", "sniffer"];
const ACTIONS: &[&str] = &["echo", "store"];

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
    },
    Modality {
        aet: String,
        networks: Vec<String>,
        /// The modality speaks DICOM TLS, when set.
        tls: Option<ClientTls>,
    },
    Sniffer {
        tap: String,
    },
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
            NodeKind::Orthanc { networks, .. } | NodeKind::Modality { networks, .. } => networks,
            NodeKind::Sniffer { .. } => &[],
        }
    }

    pub fn aet(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Orthanc { aet, .. } | NodeKind::Modality { aet, .. } => Some(aet),
            NodeKind::Sniffer { .. } => None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// 1-based position in the file, used in messages ("step 2").
    pub index: usize,
    pub node: String,
    pub action: Action,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum Action {
    Echo { to: String },
    Store { to: String, study: Study },
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
}

/// What a security check is expected to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Expectation {
    Finding,
    None,
}

struct Ctx<'a> {
    file: &'a str,
    problems: Vec<Problem>,
}

impl Ctx<'_> {
    fn at(&mut self, loc: Location, message: impl Into<String>) -> &mut Problem {
        self.problems.push(Problem::at(self.file, loc, message));
        self.problems.last_mut().expect("just pushed")
    }

    fn one_of<'a>(
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
        _ => {
            cx.one_of("variant", &m.variant, ["vulnerable", "hardened"]);
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
        title: m.title.clone(),
        threat: m.threat.value.clone(),
        variant,
        pair: m.pair.as_ref().map(|p| p.value.clone()),
        pair_at: m
            .pair
            .as_ref()
            .map(|p| (p.referenced.line(), p.referenced.column())),
        mitre: m.mitre.iter().map(|s| s.value.clone()).collect(),
        description: m.description.clone(),
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
        if let Some(kind) = node_kind(&mut cx, name, &node.value, &network_names) {
            nodes.push(Node {
                name: name.clone(),
                kind,
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
        if let Some(step) = step(&mut cx, i + 1, s, &node_names, &nodes) {
            steps.push(step);
        }
    }

    let has_sniffer = nodes
        .iter()
        .any(|n| matches!(n.kind, NodeKind::Sniffer { .. }));
    let orthancs: Vec<&str> = nodes
        .iter()
        .filter(|n| matches!(n.kind, NodeKind::Orthanc { .. }))
        .map(|n| n.name.as_str())
        .collect();
    let mut seen_ids = BTreeSet::new();
    let mut checks = Vec::new();
    for c in &raw.checks {
        if !seen_ids.insert(c.id.value.clone()) {
            cx.at(
                c.id.referenced,
                format!("check id `{}` is used twice", c.id.value),
            );
        }
        if let Some(kind) = check_kind(&mut cx, c, has_sniffer, &orthancs, &node_names) {
            if let Some(m) = &c.mitre {
                if !valid_mitre(&m.value) {
                    cx.at(
                        m.referenced,
                        format!("`{}` is not a MITRE mitigation id", m.value),
                    );
                }
            }
            checks.push(Check {
                id: c.id.value.clone(),
                kind,
                mitre: c.mitre.as_ref().map(|m| m.value.clone()),
                description: c.description.clone(),
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
        Variant::Hardened => {
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
                .hint = Some("a hardened lab shows the mitigation working: expect `none`".into());
            }
        }
        Variant::Vulnerable => {}
    }
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
    match kind {
        "orthanc" => {
            unwanted(cx, "tap", node.tap.as_ref().map(|t| t.referenced));
            if let Some((t, loc)) = tls {
                if t.client_certificate.is_some() {
                    cx.at(loc, format!("`tls.client_certificate` is for modalities; on PACS `{name}` write `require_client_certificate`"));
                }
            }
            let version = node
                .version
                .as_ref()
                .map(|v| v.value.clone())
                .unwrap_or_else(|| ORTHANC_VERSIONS[0].into());
            if let Some(v) = &node.version {
                cx.one_of("Orthanc version", v, ORTHANC_VERSIONS.iter().copied());
            }
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
            Some(NodeKind::Orthanc {
                version,
                aet: aet(cx, "ORTHANC"),
                networks: attached,
                config: node.config.clone().unwrap_or_default(),
                tls: tls.map(|(t, _)| PacsTls {
                    require_client_certificate: t.require_client_certificate.unwrap_or(true),
                }),
            })
        }
        "modality" => {
            unwanted(cx, "tap", node.tap.as_ref().map(|t| t.referenced));
            unwanted(cx, "version", node.version.as_ref().map(|t| t.referenced));
            if node.config.is_some() {
                cx.at(
                    node.kind.referenced,
                    format!("`config` does not apply to node `{name}` of kind modality"),
                );
            }
            if node.networks.is_empty() {
                cx.at(
                    node.kind.referenced,
                    format!("node `{name}` joins no network"),
                );
            }
            if let Some((t, loc)) = tls {
                if t.require_client_certificate.is_some() {
                    cx.at(loc, format!("`tls.require_client_certificate` is for PACS nodes; on modality `{name}` write `client_certificate`"));
                }
            }
            Some(NodeKind::Modality {
                aet: aet(cx, "MODALITY"),
                networks: attached,
                tls: tls.map(|(t, _)| ClientTls {
                    client_certificate: t.client_certificate.unwrap_or(true),
                }),
            })
        }
        _ => {
            unwanted(cx, "aet", node.aet.as_ref().map(|t| t.referenced));
            unwanted(cx, "version", node.version.as_ref().map(|t| t.referenced));
            unwanted(cx, "tls", tls.map(|(_, loc)| loc));
            if let Some(n) = node.networks.first() {
                cx.at(n.referenced, "a sniffer joins no network; it taps one")
                    .hint = Some("write `tap: <network>` instead of `networks:`".into());
            }
            let Some(tap) = &node.tap else {
                cx.at(
                    node.kind.referenced,
                    format!("sniffer `{name}` has no `tap`"),
                )
                .hint = Some(format!(
                    "add `tap: <network>` (networks: {})",
                    or_none(networks)
                ));
                return None;
            };
            if !networks.contains(&tap.value.as_str()) {
                let p = cx.at(
                    tap.referenced,
                    format!(
                        "sniffer `{name}` taps network `{}`, which is not defined",
                        tap.value
                    ),
                );
                p.hint = Some(format!("networks are: {}", or_none(networks)));
            }
            Some(NodeKind::Sniffer {
                tap: tap.value.clone(),
            })
        }
    }
}

fn step(
    cx: &mut Ctx,
    index: usize,
    s: &RawStep,
    node_names: &[&str],
    nodes: &[Node],
) -> Option<Step> {
    let kind_of = |n: &str| nodes.iter().find(|x| x.name == n).map(|x| &x.kind);
    let node_ok = reference(cx, &s.node, node_names, &format!("step {index}"));
    let action_ok = cx.one_of("action", &s.action, ACTIONS.iter().copied());
    if node_ok && !matches!(kind_of(&s.node.value), Some(NodeKind::Modality { .. })) {
        cx.at(
            s.node.referenced,
            format!(
                "step {index}: node `{}` cannot run `{}`",
                s.node.value, s.action.value
            ),
        )
        .hint = Some("echo and store are run by a node of kind modality".into());
    }
    let to = match &s.to {
        Some(to) => {
            if reference(cx, to, node_names, &format!("step {index}"))
                && !matches!(kind_of(&to.value), Some(NodeKind::Orthanc { .. }))
            {
                cx.at(
                    to.referenced,
                    format!("step {index}: `to: {}` is not a PACS", to.value),
                )
                .hint = Some("`to` names a node of kind orthanc".into());
            }
            to.value.clone()
        }
        None => {
            cx.at(
                s.action.referenced,
                format!("step {index}: `{}` needs `to: <pacs node>`", s.action.value),
            );
            String::new()
        }
    };
    if !action_ok {
        return None;
    }
    let action = match s.action.value.as_str() {
        "echo" => {
            if s.study.is_some() {
                cx.at(
                    s.action.referenced,
                    format!("step {index}: `study` does not apply to echo"),
                );
            }
            Action::Echo { to }
        }
        _ => {
            let Some(st) = &s.study else {
                cx.at(
                    s.action.referenced,
                    format!("step {index}: store needs a `study`"),
                )
                .hint = Some(
                    "for example: study: { modality: XA, instances: 1, syntax: jpeg-baseline }"
                        .into(),
                );
                return None;
            };
            cx.one_of("study modality", &st.modality, ["XA", "CT"]);
            let syntax = match st.syntax.as_ref().map(|s| s.value.as_str()) {
                None | Some("jpeg-baseline") => Syntax::JpegBaseline,
                Some("explicit-le") => Syntax::ExplicitLe,
                Some(_) => {
                    cx.one_of(
                        "transfer syntax",
                        st.syntax.as_ref().expect("some"),
                        ["jpeg-baseline", "explicit-le"],
                    );
                    Syntax::JpegBaseline
                }
            };
            if !(1..=10_000).contains(&st.instances) {
                cx.at(
                    st.modality.referenced,
                    format!(
                        "step {index}: instances must be 1 to 10000, not {}",
                        st.instances
                    ),
                );
            }
            Action::Store {
                to,
                study: Study {
                    modality: st.modality.value.clone(),
                    instances: st.instances,
                    syntax,
                    patient: st.patient.clone().unwrap_or_else(|| "DOE^JANE".into()),
                    patient_id: st.patient_id.clone().unwrap_or_else(|| "DR-0001".into()),
                    seed: st.seed.unwrap_or(1),
                    rows: st.rows.unwrap_or(512),
                    cols: st.cols.unwrap_or(512),
                },
            }
        }
    };
    Some(Step {
        index,
        node: s.node.value.clone(),
        action,
    })
}

fn check_kind(
    cx: &mut Ctx,
    c: &RawCheck,
    has_sniffer: bool,
    orthancs: &[&str],
    node_names: &[&str],
) -> Option<CheckKind> {
    if !cx.one_of("check kind", &c.kind, CHECK_KINDS.iter().copied()) {
        return None;
    }
    let id = &c.id.value;
    let kind = c.kind.value.as_str();
    if kind.starts_with("capture.") && !has_sniffer {
        cx.at(
            c.kind.referenced,
            format!("check `{id}` reads the capture, but the lab has no sniffer"),
        )
        .hint = Some("add a node `sniffer: { kind: sniffer, tap: <network> }`".into());
    }
    let expect_outcome = |cx: &mut Ctx| -> Option<Expectation> {
        match c.expect.as_ref().map(|e| (&e.value, e.referenced)) {
            Some((RawExpect::One(s), _)) if s == "finding" => Some(Expectation::Finding),
            Some((RawExpect::One(s), _)) if s == "none" => Some(Expectation::None),
            Some((_, loc)) => {
                cx.at(
                    loc,
                    format!("check `{id}`: expect must be `finding` or `none`"),
                );
                None
            }
            None => {
                cx.at(c.kind.referenced, format!("check `{id}` has no `expect`"))
                    .hint =
                    Some("write `expect: finding` (the weakness shows) or `expect: none`".into());
                None
            }
        }
    };
    match kind {
        "pacs.instances" => {
            let node = match &c.node {
                Some(n) => {
                    if reference(cx, n, node_names, &format!("check `{id}`"))
                        && !orthancs.contains(&n.value.as_str())
                    {
                        cx.at(
                            n.referenced,
                            format!("check `{id}`: node `{}` is not a PACS", n.value),
                        );
                    }
                    n.value.clone()
                }
                None if orthancs.len() == 1 => orthancs[0].to_string(),
                None => {
                    cx.at(
                        c.kind.referenced,
                        format!("check `{id}`: which PACS? add `node:`"),
                    );
                    return None;
                }
            };
            let Some(equals) = c.equals else {
                cx.at(
                    c.kind.referenced,
                    format!("check `{id}` needs `equals: <count>`"),
                );
                return None;
            };
            Some(CheckKind::PacsInstances { node, equals })
        }
        "capture.phi_in_clear" => Some(CheckKind::PhiInClear {
            expect: expect_outcome(cx)?,
        }),
        "capture.dicom_in_clear" => Some(CheckKind::DicomInClear {
            expect: expect_outcome(cx)?,
        }),
        _ => match c.expect.as_ref().map(|e| (&e.value, e.referenced)) {
            Some((RawExpect::Many(v), _)) if !v.is_empty() => {
                Some(CheckKind::Sequence { expect: v.clone() })
            }
            Some((_, loc)) => {
                cx.at(loc, format!("check `{id}`: expect is a non-empty list of PDU or DIMSE labels")).hint =
                    Some("for example: [A-ASSOCIATE-RQ, A-ASSOCIATE-AC, C-STORE-RQ, C-STORE-RSP Success]".into());
                None
            }
            None => {
                cx.at(
                    c.kind.referenced,
                    format!("check `{id}` has no `expect` list"),
                );
                None
            }
        },
    }
}

fn reference(cx: &mut Ctx, r: &Spanned<String>, node_names: &[&str], context: &str) -> bool {
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

fn or_none(v: &[&str]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

fn valid_name(s: &str) -> bool {
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

fn valid_mitre(s: &str) -> bool {
    s.len() == 5 && s.starts_with('M') && s[1..].chars().all(|c| c.is_ascii_digit())
}
