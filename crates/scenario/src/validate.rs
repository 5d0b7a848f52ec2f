//! Stage two: what the lab says must make sense. Every reference resolves, every action
//! suits its node, every check can be graded in this lab. All problems are collected.

use std::collections::{BTreeMap, BTreeSet};

use protocol::IdsRule;
use serde_saphyr::{Location, Spanned};

use crate::context::{Ctx, one_line_text, or_none, text, valid_aet, valid_mitre, valid_name};
use crate::error::{Problem, ScenarioError, did_you_mean};
use crate::model::{
    API_VERSION, AttackerImage, Check, ClientTls, Daemon, Metadata, ModalityImpl, Network, Node,
    NodeKind, ORTHANC_VERSIONS, PacsTls, Scenario, THREATS, Variant,
};
use crate::raw::{RawCheck, RawExpect, RawLab, RawNode};

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

const NODE_KINDS: &[&str] = &["orthanc", "modality", "attacker", "sniffer", "ids"];

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
    let wireshark = raw
        .wireshark
        .as_ref()
        .map(|w| crate::wireshark::validate(&mut cx, w));
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
            wireshark,
            per_student,
            resolved_text,
        })
    } else {
        Err(ScenarioError {
            problems: cx.problems,
        })
    }
}

/// An IDS's `rules:`: each a rule of lab-agent's IDS with a threshold in range, in the
/// order lab-agent lists them.
fn ids_rules(
    cx: &mut Ctx,
    name: &str,
    rules: &Spanned<BTreeMap<String, u64>>,
) -> Vec<(IdsRule, u64)> {
    let names: Vec<&str> = IdsRule::ALL.iter().map(|r| r.name()).collect();
    for (rule, n) in &rules.value {
        let Ok(known) = rule.parse::<IdsRule>() else {
            let hint = match did_you_mean(rule, names.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("rules are: {}", names.join(", ")),
            };
            cx.at(
                rules.referenced,
                format!("IDS `{name}` has no rule `{rule}`"),
            )
            .hint = Some(hint);
            continue;
        };
        if !(1..=IdsRule::MAX_THRESHOLD).contains(n) {
            cx.at(
                rules.referenced,
                format!(
                    "IDS `{name}`: rule `{known}` fires at {n}, outside 1 to {}",
                    IdsRule::MAX_THRESHOLD
                ),
            )
            .hint = Some(format!(
                "a threshold is a count within the window (default {})",
                known.default_threshold()
            ));
        }
    }
    IdsRule::ALL
        .iter()
        .filter_map(|&r| Some((r, *rules.value.get(r.name())?)))
        .collect()
}

fn node_kind(cx: &mut Ctx, name: &str, node: &RawNode, networks: &[&str]) -> Option<NodeKind> {
    if !cx.one_of("node kind", &node.kind, NODE_KINDS.iter().copied()) {
        return None;
    }
    let kind = node.kind.value.as_str();
    let mut attached = Vec::new();
    for net in &node.networks {
        if attached.contains(&net.value) {
            cx.at(
                net.referenced,
                format!("node `{name}` joins network `{}` twice", net.value),
            )
            .hint = Some("list each network once".into());
        } else if networks.contains(&net.value.as_str()) {
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
    if !is(&["modality"]) {
        unwanted(cx, "sign", node.sign.as_ref().map(|t| t.referenced));
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
    if !is(&["ids"]) {
        unwanted(cx, "rules", node.rules.as_ref().map(|t| t.referenced));
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
                rules: node.rules.as_ref().map(|r| ids_rules(cx, name, r)),
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
            let sign = node.sign.as_ref().is_some_and(|s| s.value);
            if let (ModalityImpl::Pynetdicom, Some(s)) = (implementation, &node.sign)
                && s.value
            {
                cx.at(
                    s.referenced,
                    format!(
                        "modality `{name}` runs the paper's pynetdicom script, which signs nothing"
                    ),
                )
                .hint = Some("remove `sign`, or use `impl: lab-agent`".into());
            }
            Some(NodeKind::Modality {
                aet: aet(cx, "MODALITY"),
                networks: attached,
                tls: tls.map(|(t, _)| ClientTls {
                    client_certificate: t.client_certificate.unwrap_or(true),
                }),
                implementation,
                sign,
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
