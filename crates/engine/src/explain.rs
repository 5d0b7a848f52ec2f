//! `lab explain`: a lab told for a student reading without the docs. What it shows, its
//! nodes and steps, what to look for in Wireshark (the lab's own `wireshark:` section, or
//! hints derived from its nodes and steps) and what each check means. Hidden checks are
//! never part of it: a student may run this on an exercise.

use scenario::{
    Action, Check, CheckKind, DisplayFilter, Expectation, NodeKind, Scenario, Variant, Wireshark,
};
use serde::Serialize;

/// Everything `lab explain` prints, in order.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub name: String,
    pub title: String,
    pub threat: String,
    pub variant: String,
    pub mitre: Vec<String>,
    pub pair: Option<String>,
    pub description: Option<String>,
    /// An exercise's brief (the situation and the goal).
    pub brief: Option<String>,
    pub nodes: Vec<NodeRole>,
    pub steps: Vec<String>,
    pub wireshark: Wireshark,
    /// The lab has no `wireshark:` section: the hints come from its nodes and steps.
    pub wireshark_derived: bool,
    /// The lab keeps a capture (it has a sniffer): where Wireshark's hints apply.
    pub captures: bool,
    pub checks: Vec<CheckMeaning>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NodeRole {
    pub name: String,
    pub role: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckMeaning {
    pub id: String,
    pub kind: String,
    /// The lab's own words for the check, when it has them.
    pub description: Option<String>,
    /// What the kind of check looks at, and what passing means here.
    pub meaning: String,
    pub mitre: Option<String>,
    pub points: u32,
}

pub fn explain(s: &Scenario) -> Explanation {
    let m = &s.metadata;
    Explanation {
        name: m.name.clone(),
        title: m.title.clone(),
        threat: m.threat.clone(),
        variant: format!("{:?}", m.variant).to_lowercase(),
        mitre: m.mitre.clone(),
        pair: m.pair.clone(),
        description: m.description.clone(),
        brief: s.exercise.as_ref().map(|e| e.brief.clone()),
        nodes: s
            .nodes
            .iter()
            .map(|n| NodeRole {
                name: n.name.clone(),
                role: role(&n.kind),
            })
            .collect(),
        steps: s.steps.iter().map(step_line).collect(),
        wireshark: s.wireshark.clone().unwrap_or_else(|| derived_wireshark(s)),
        wireshark_derived: s.wireshark.is_none(),
        captures: s
            .nodes
            .iter()
            .any(|n| matches!(n.kind, NodeKind::Sniffer { .. })),
        checks: s
            .checks
            .iter()
            .filter(|c| !c.hidden)
            .map(|c| check_meaning(c, m.variant))
            .collect(),
    }
}

fn role(kind: &NodeKind) -> String {
    let on = |nets: &[String]| nets.join(", ");
    match kind {
        NodeKind::Orthanc {
            version,
            aet,
            networks,
            tls,
            ..
        } => {
            let tls = match tls {
                Some(t) if t.require_client_certificate => {
                    ", DICOM TLS with client certificates (mutual TLS)"
                }
                Some(_) => ", DICOM TLS",
                None => ", plain DICOM",
            };
            format!(
                "the PACS: Orthanc {version}, AE title {aet}, DICOM port 4242{tls}, on {}",
                on(networks)
            )
        }
        NodeKind::Modality {
            aet,
            networks,
            tls,
            implementation,
            sign,
        } => format!(
            "a modality ({}), AE title {aet}{}{}, on {}",
            implementation.as_str(),
            if tls.is_some() { ", DICOM TLS" } else { "" },
            if *sign {
                ", signs every image it stores (DICOM digital signatures)"
            } else {
                ""
            },
            on(networks)
        ),
        NodeKind::Attacker {
            aet,
            networks,
            daemon,
            image,
        } => format!(
            "the attacker ({} image), AE title {aet}, on {}{}",
            image.as_str(),
            on(networks),
            daemon
                .as_ref()
                .map(|d| format!("; runs `{}` for the whole lab", d.action))
                .unwrap_or_default()
        ),
        NodeKind::Sniffer { tap } => {
            format!("captures every packet of network {tap} into capture.pcapng")
        }
        NodeKind::Ids { tap, rules } => {
            let rules = match rules {
                None => "every rule at its default threshold".to_string(),
                Some(r) => r
                    .iter()
                    .map(|(rule, threshold)| format!("{rule} at {threshold}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            format!(
                "an IDS watching network {tap} ({rules}); its alerts go to ids/ (it never sends)"
            )
        }
    }
}

fn step_line(st: &scenario::Step) -> String {
    let what = match &st.action {
        Action::Echo { to } => format!("C-ECHO to {to} (is the PACS there?)"),
        Action::Store { to, study } => format!(
            "C-STORE of {} synthetic {} image(s) ({}, patient {}) to {to}",
            study.instances,
            study.modality,
            study.syntax.as_str(),
            study.patient
        ),
        Action::Agent { verb, to, .. } => format!("{verb} against {to}"),
    };
    let via = st
        .via
        .as_ref()
        .map(|v| format!(", through {v}"))
        .unwrap_or_default();
    let expect = match st.expect {
        scenario::StepExpect::Success => "",
        scenario::StepExpect::Failure => " (expected to fail)",
        scenario::StepExpect::Any => " (graded by the checks)",
    };
    format!("{}: {what}{via}{expect}", st.node)
}

fn expectation(e: Expectation, finding: &str, none: &str) -> String {
    match e {
        Expectation::Finding => format!("expected here: {finding}"),
        Expectation::None => format!("expected here: {none}"),
    }
}

fn check_meaning(c: &Check, variant: Variant) -> CheckMeaning {
    let meaning = match &c.kind {
        CheckKind::PacsInstances { node, equals } => format!(
            "counts the images {node} holds at the end of the run; expected here: exactly {equals} (clinical traffic still works)"
        ),
        CheckKind::PhiInClear { expect } => format!(
            "looks for patient data (names, IDs, birth dates) readable in the capture's DICOM data sets; {}",
            expectation(
                *expect,
                "readable, the weakness shows",
                "nothing readable, the mitigation works"
            )
        ),
        CheckKind::DicomInClear { expect } => format!(
            "looks for DICOM PDUs (AE titles, commands) readable on the wire rather than inside TLS; {}",
            expectation(*expect, "readable", "none, all of it is encrypted")
        ),
        CheckKind::Sequence { expect } => format!(
            "the capture's DICOM timeline holds these messages in this order: {}",
            expect.join(", ")
        ),
        CheckKind::AttackSucceeded { step, node, expect } => {
            let who = step
                .as_ref()
                .map(|s| format!("step {s}"))
                .or_else(|| node.as_ref().map(|n| format!("{n}'s daemon")))
                .unwrap_or_else(|| "the attack".into());
            format!(
                "reads what {who} reported; {}",
                expectation(*expect, "the attack worked", "the attack was stopped")
            )
        }
        CheckKind::IdsAlerts {
            node,
            rule,
            from,
            min,
            max,
        } => {
            let count = match max {
                Some(max) => format!("between {min} and {max}"),
                None => format!("at least {min}"),
            };
            let rule = rule
                .as_ref()
                .map(|r| format!("of rule {r}"))
                .unwrap_or_else(|| "of any rule".into());
            let from = from
                .as_ref()
                .map(|f| format!(" about traffic from {f}"))
                .unwrap_or_default();
            format!("{node} raised {count} alert(s) {rule}{from}")
        }
        CheckKind::PacsFileWritten { node, path, expect } => format!(
            "looks for {path} inside {node}'s container (an arbitrary file write); {}",
            expectation(*expect, "it is there", "it is not")
        ),
        CheckKind::PacsDataAltered { node, expect } => format!(
            "compares what {node} archived with what the modality sent (PatientName, pixels); {}",
            expectation(
                *expect,
                "they differ, the data was tampered with",
                "identical"
            )
        ),
        CheckKind::PacsSignatures { node, expect } => {
            let what = match expect {
                scenario::SignatureExpect::Valid => {
                    "signed, and every signature verifies: the image is what the modality sent"
                }
                scenario::SignatureExpect::Broken => {
                    "signed, but a signature fails: the image changed after it was signed"
                }
                scenario::SignatureExpect::Unsigned => {
                    "no signature at all: nothing tells an altered image from the original"
                }
            };
            format!(
                "verifies the DICOM digital signatures of every image {node} archived (DCMTK's dcmsign); expected here: {what}"
            )
        }
        CheckKind::LogLines {
            node,
            contains,
            min,
            max,
        } => {
            let bounds = match (min, max) {
                (Some(a), Some(b)) => format!("between {a} and {b}"),
                (Some(a), None) => format!("at least {a}"),
                (None, Some(b)) => format!("at most {b}"),
                (None, None) => "any number of".into(),
            };
            format!("{node}'s log has {bounds} line(s) containing \"{contains}\"")
        }
    };
    CheckMeaning {
        id: c.id.clone(),
        kind: kind_name(&c.kind).to_string(),
        description: c.description.clone(),
        meaning,
        mitre: c.mitre.clone(),
        // Points only mean something where `lab grade` adds them up.
        points: if variant == Variant::Exercise {
            c.points
        } else {
            0
        },
    }
}

/// The check's `kind:` as the lab file writes it (serde's tag of `CheckKind`).
fn kind_name(k: &CheckKind) -> String {
    serde_json::to_value(k)
        .ok()
        .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(String::from))
        .unwrap_or_default()
}

/// Hints for a lab without a `wireshark:` section, from what its nodes and steps do.
/// Every filter here is valid in Wireshark 4.0; the catalog's captures are checked with
/// tshark (crates/lab/tests/explain.rs).
pub fn derived_wireshark(s: &Scenario) -> Wireshark {
    let f = |filter: &str, shows: &str| DisplayFilter {
        filter: filter.into(),
        shows: shows.into(),
        preference: None,
    };
    let tls = s.nodes.iter().any(|n| {
        matches!(
            n.kind,
            NodeKind::Orthanc { tls: Some(_), .. } | NodeKind::Modality { tls: Some(_), .. }
        )
    });
    let verbs: Vec<&str> = s.steps.iter().map(|st| st.action.verb()).collect();
    let daemons: Vec<&str> = s
        .nodes
        .iter()
        .filter_map(|n| match &n.kind {
            NodeKind::Attacker {
                daemon: Some(d), ..
            } => Some(d.action.as_str()),
            _ => None,
        })
        .collect();
    let mut w = Wireshark::default();
    if tls {
        w.filters.push(f(
            "tls.handshake.type == 1",
            "the ClientHello: the modality opens DICOM TLS to port 4242",
        ));
        w.filters.push(f(
            "tls.app_data",
            "Application Data: the DICOM exchange, encrypted (the filter `dicom` keeps nothing readable)",
        ));
        w.expand.push(
            "the ServerHello: Transport Layer Security > Handshake Protocol: the version and cipher suite chosen".into(),
        );
    } else {
        w.filters.push(f(
            "dicom",
            "every DICOM PDU: associations, commands, data sets, releases",
        ));
        w.filters.push(f(
            "dicom.pdu.type == 1",
            "the A-ASSOCIATE requests: calling and called AE titles in clear",
        ));
        w.expand.push(
            "an A-ASSOCIATE request: DICOM > A-ASSOCIATE request: the calling and called AE titles, the presentation contexts".into(),
        );
    }
    if verbs
        .iter()
        .any(|v| v.starts_with("rest-") || *v == "upload-polyglot")
    {
        w.filters.push(f(
            "http.request",
            "the attacker's requests to Orthanc's REST API (port 8042)",
        ));
        w.expand
            .push("an HTTP response: its status code says whether the PACS let it in".into());
    }
    if daemons.contains(&"arp-spoof") || verbs.contains(&"arp-spoof") {
        w.filters
            .push(f("arp", "the forged ARP replies of the attacker"));
    }
    if verbs.contains(&"flood") {
        w.filters.push(f(
            "tcp.flags.syn == 1 && tcp.flags.ack == 0",
            "the connection attempts of the flood",
        ));
    }
    w
}
