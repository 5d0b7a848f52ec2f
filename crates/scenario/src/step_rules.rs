//! What a step may say: which node kinds run which actions, what each action is aimed at,
//! and which options (`with:`) it takes. The engine turns a validated step into one
//! `lab-agent <verb> ...` command line; anything accepted here must map onto one.

use std::collections::BTreeMap;

/// Modalities of the synthetic studies lab-agent generates.
pub const STUDY_MODALITIES: &[&str] = &["XA", "CT", "MR", "CR", "US"];

use serde_json::Value;

use crate::context::{Ctx, one_line_text, or_none, reference, valid_name};
use crate::error::did_you_mean;
use crate::model::{Action, Node, NodeKind, Step, StepExpect, Study, Syntax};
use crate::raw::RawStep;

/// Long-running attacker processes (`daemon:` of an attacker node).
pub const DAEMONS: &[&str] = &["proxy", "sniff"];

/// The options (`with:`) each daemon takes.
const DAEMON_OPTIONS: &[(&str, &[(&str, Arg)])] = &[
    (
        "proxy",
        &[
            ("upstream", Arg::Text),
            ("rewrite_patient", Arg::Text),
            ("tamper_pixels", Arg::Flag),
        ],
    ),
    ("sniff", &[]),
];

/// Check a daemon's `with:` options (reported at its `action`, since `with` holds plain
/// values). `daemon` is known to be one of [`DAEMONS`].
pub(crate) fn check_daemon(
    cx: &mut Ctx,
    node: &str,
    action: &serde_saphyr::Spanned<String>,
    with: &BTreeMap<String, Value>,
) {
    let options = DAEMON_OPTIONS
        .iter()
        .find(|(d, _)| *d == action.value)
        .map(|(_, o)| *o)
        .unwrap_or(&[]);
    check_options(
        cx,
        action.referenced,
        &format!("node `{node}`: daemon `{}`", action.value),
        options,
        with,
    );
}

/// Each option known to `options` and of the right kind; `what` starts each message.
fn check_options(
    cx: &mut Ctx,
    at: serde_saphyr::Location,
    what: &str,
    options: &[(&str, Arg)],
    with: &BTreeMap<String, Value>,
) {
    let allowed: Vec<&str> = options.iter().map(|(k, _)| *k).collect();
    for (key, value) in with {
        match options.iter().find(|(k, _)| k == key) {
            None => {
                let p = cx.at(at, format!("{what} takes no option `{key}`"));
                p.hint = Some(match did_you_mean(key, allowed.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None if allowed.is_empty() => "it takes no options".to_string(),
                    None => format!("its options are: {}", allowed.join(", ")),
                });
            }
            Some((_, arg)) => {
                let fits = match arg {
                    Arg::Text => value.is_string() || value.is_number(),
                    Arg::Number => value.as_u64().is_some(),
                    Arg::Flag => value.is_boolean(),
                    Arg::List | Arg::Repeated => value
                        .as_array()
                        .is_some_and(|a| a.iter().all(|v| v.is_string())),
                };
                if !fits {
                    let want = match arg {
                        Arg::Text => "text",
                        Arg::Number => "a whole number",
                        Arg::Flag => "true or false",
                        Arg::List | Arg::Repeated => "a list of text values",
                    };
                    cx.at(at, format!("{what}: option `{key}` must be {want}"));
                }
            }
        }
    }
}

/// Actions run by nmap's NSE scripts, in the toolbox image.
pub const NMAP_ACTIONS: &[&str] = &["dicom-ping", "dicom-brute"];

/// Actions that are aimed at no PACS (no `to:`).
const UNAIMED: &[&str] = &["harvest"];

/// The kind of option value an action takes.
#[derive(Clone, Copy)]
enum Arg {
    Text,
    Number,
    Flag,
    /// A list of text values, passed comma-separated.
    List,
    /// A list of text values, each passed with its own flag.
    Repeated,
}

struct ActionRule {
    verb: &'static str,
    /// Node kinds that may run it.
    by: &'static [&'static str],
    options: &'static [(&'static str, Arg)],
}

const ACTIONS: &[ActionRule] = &[
    ActionRule {
        verb: "echo",
        by: &["modality", "attacker"],
        options: &[],
    },
    ActionRule {
        verb: "store",
        by: &["modality", "attacker"],
        options: &[],
    },
    ActionRule {
        verb: "find",
        by: &["modality", "attacker"],
        options: &[
            ("level", Arg::Text),
            ("match", Arg::Repeated),
            ("limit", Arg::Number),
        ],
    },
    ActionRule {
        verb: "get",
        by: &["modality", "attacker"],
        options: &[
            ("level", Arg::Text),
            ("match", Arg::Repeated),
            ("out", Arg::Text),
        ],
    },
    ActionRule {
        verb: "move",
        by: &["modality", "attacker"],
        options: &[
            ("level", Arg::Text),
            ("match", Arg::Repeated),
            ("dest", Arg::Text),
        ],
    },
    ActionRule {
        verb: "aet-scan",
        by: &["attacker"],
        options: &[
            ("called", Arg::List),
            ("random_probe", Arg::Flag),
            ("max", Arg::Number),
            ("delay_ms", Arg::Number),
        ],
    },
    ActionRule {
        verb: "fingerprint",
        by: &["attacker"],
        options: &[],
    },
    ActionRule {
        verb: "rest-probe",
        by: &["attacker"],
        options: &[
            ("user", Arg::Text),
            ("password", Arg::Text),
            ("download", Arg::Flag),
        ],
    },
    ActionRule {
        verb: "rest-write",
        by: &["attacker"],
        options: &[
            ("path", Arg::Text),
            ("user", Arg::Text),
            ("password", Arg::Text),
        ],
    },
    ActionRule {
        verb: "upload-polyglot",
        by: &["attacker"],
        options: &[
            ("preamble", Arg::Text),
            ("user", Arg::Text),
            ("password", Arg::Text),
        ],
    },
    ActionRule {
        verb: "arp-spoof",
        by: &["attacker"],
        options: &[
            ("victim", Arg::Text),
            ("both_ways", Arg::Flag),
            ("count", Arg::Number),
            ("interval_ms", Arg::Number),
        ],
    },
    ActionRule {
        verb: "dicom-ping",
        by: &["attacker"],
        options: &[("called", Arg::Text)],
    },
    ActionRule {
        verb: "dicom-brute",
        by: &["attacker"],
        options: &[("called", Arg::List)],
    },
    ActionRule {
        verb: "harvest",
        by: &["attacker"],
        options: &[],
    },
    ActionRule {
        verb: "flood",
        by: &["attacker"],
        options: &[
            ("associations", Arg::Number),
            ("concurrency", Arg::Number),
            ("max_secs", Arg::Number),
        ],
    },
];

/// Every action a step may name.
pub fn verbs() -> Vec<&'static str> {
    ACTIONS.iter().map(|a| a.verb).collect()
}

/// The command-line flags of an action's `with:` options, in a stable order.
pub fn agent_flags(verb: &str, with: &BTreeMap<String, Value>) -> Vec<String> {
    let Some(rule) = ACTIONS.iter().find(|a| a.verb == verb) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (key, arg) in rule.options {
        let Some(v) = with.get(*key) else { continue };
        let flag = format!("--{}", key.replace('_', "-"));
        let text = |v: &Value| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        match (arg, v) {
            (Arg::Flag, Value::Bool(true)) => out.push(flag),
            (Arg::Flag, _) => {}
            (Arg::List, Value::Array(items)) => {
                out.push(flag);
                out.push(items.iter().map(text).collect::<Vec<_>>().join(","));
            }
            (Arg::Repeated, Value::Array(items)) => {
                for item in items {
                    out.push(flag.clone());
                    out.push(text(item));
                }
            }
            (_, v) => {
                out.push(flag);
                out.push(text(v));
            }
        }
    }
    out
}

fn kind_name(kind: &NodeKind) -> &'static str {
    match kind {
        NodeKind::Orthanc { .. } => "orthanc",
        NodeKind::Modality { .. } => "modality",
        NodeKind::Attacker { .. } => "attacker",
        NodeKind::Sniffer { .. } => "sniffer",
        NodeKind::Ids { .. } => "ids",
    }
}

pub(crate) fn step(
    cx: &mut Ctx,
    index: usize,
    s: &RawStep,
    node_names: &[&str],
    nodes: &[Node],
) -> Option<Step> {
    let kind_of = |n: &str| nodes.iter().find(|x| x.name == n).map(|x| &x.kind);
    let here = format!("step {index}");
    let node_ok = reference(cx, &s.node, node_names, &here);
    let verbs: Vec<&str> = ACTIONS.iter().map(|a| a.verb).collect();
    let rule = ACTIONS.iter().find(|a| a.verb == s.action.value);
    if rule.is_none() {
        cx.one_of("action", &s.action, verbs.iter().copied());
    }
    let actor = if node_ok {
        kind_of(&s.node.value).map(kind_name)
    } else {
        None
    };
    if let (Some(rule), Some(actor)) = (rule, actor)
        && !rule.by.contains(&actor)
    {
        cx.at(
            s.node.referenced,
            format!(
                "{here}: node `{}` ({actor}) cannot run `{}`",
                s.node.value, rule.verb
            ),
        )
        .hint = Some(format!(
            "`{}` is run by a node of kind {}",
            rule.verb,
            rule.by.join(" or ")
        ));
    }
    let unaimed = UNAIMED.contains(&s.action.value.as_str());
    let to = match &s.to {
        Some(to) if unaimed => {
            cx.at(
                to.referenced,
                format!(
                    "{here}: `{}` is aimed at no node; remove `to`",
                    s.action.value
                ),
            );
            String::new()
        }
        None if unaimed => String::new(),
        Some(to) => {
            if reference(cx, to, node_names, &here)
                && !matches!(kind_of(&to.value), Some(NodeKind::Orthanc { .. }))
            {
                cx.at(
                    to.referenced,
                    format!("{here}: `to: {}` is not a PACS", to.value),
                )
                .hint = Some("`to` names a node of kind orthanc".into());
            }
            to.value.clone()
        }
        None => {
            cx.at(
                s.action.referenced,
                format!("{here}: `{}` needs `to: <pacs node>`", s.action.value),
            );
            String::new()
        }
    };
    if let Some(via) = &s.via
        && reference(cx, via, node_names, &here)
        && !matches!(
            kind_of(&via.value),
            Some(NodeKind::Attacker {
                daemon: Some(d),
                ..
            }) if d.action == "proxy"
        )
    {
        cx.at(
            via.referenced,
            format!(
                "{here}: `via: {}` is not an attacker running a proxy",
                via.value
            ),
        )
        .hint = Some("`via` names an attacker node with `daemon: { action: proxy }`".into());
    }
    let expect = match s.expect.as_ref().map(|e| (e.value.as_str(), e.referenced)) {
        None if actor == Some("attacker") => StepExpect::Any,
        None | Some(("success", _)) => StepExpect::Success,
        Some(("failure", _)) => StepExpect::Failure,
        Some(("any", _)) => StepExpect::Any,
        Some(_) => {
            cx.one_of(
                "step expectation",
                s.expect.as_ref().expect("some"),
                ["success", "failure", "any"],
            );
            StepExpect::Success
        }
    };
    let id = match &s.id {
        Some(id) if valid_name(&id.value) => id.value.clone(),
        Some(id) => {
            cx.at(
                id.referenced,
                format!("{here}: step id `{}` is not a valid name", id.value),
            )
            .hint = Some("use lowercase letters, digits and '-'".into());
            id.value.clone()
        }
        None => format!("step-{index}"),
    };
    let rule = rule?;
    let with = s.with.as_ref().map(|w| w.value.clone()).unwrap_or_default();
    actor_fits(
        cx,
        &here,
        s,
        rule.verb,
        kind_of(&s.node.value),
        node_names,
        nodes,
    );
    if let Some(w) = &s.with {
        check_options(
            cx,
            w.referenced,
            &format!("{here}: `{}`", rule.verb),
            rule.options,
            &w.value,
        );
    }
    let action = match rule.verb {
        "echo" | "store" if s.with.is_some() => {
            cx.at(
                s.action.referenced,
                format!("{here}: `{}` takes no `with:` options", rule.verb),
            );
            return None;
        }
        "echo" => {
            if s.study.is_some() {
                cx.at(
                    s.action.referenced,
                    format!("{here}: `study` does not apply to echo"),
                );
            }
            Action::Echo { to }
        }
        "store" => {
            let Some(st) = &s.study else {
                cx.at(
                    s.action.referenced,
                    format!("{here}: store needs a `study`"),
                )
                .hint = Some(
                    "for example: study: { modality: XA, instances: 1, syntax: jpeg-baseline }"
                        .into(),
                );
                return None;
            };
            cx.one_of(
                "study modality",
                &st.modality,
                STUDY_MODALITIES.iter().copied(),
            );
            // 8-bit JPEG Baseline suits the paper's XA and ultrasound; CT, MR and CR carry
            // 12 to 16 bits and go native.
            let native_only = matches!(st.modality.value.as_str(), "CT" | "MR" | "CR");
            let syntax = match st.syntax.as_ref().map(|s| s.value.as_str()) {
                None if native_only => Syntax::ExplicitLe,
                Some("jpeg-baseline") if native_only => {
                    cx.at(
                        st.syntax.as_ref().expect("some").referenced,
                        format!(
                            "{here}: a {} study cannot be JPEG Baseline (8-bit); its pixels have 12 to 16 bits",
                            st.modality.value
                        ),
                    )
                    .hint = Some("use `syntax: explicit-le`, or leave `syntax` out".into());
                    Syntax::ExplicitLe
                }
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
                    format!("{here}: instances must be 1 to 10000, not {}", st.instances),
                );
            }
            Action::Store {
                to,
                study: Study {
                    modality: st.modality.value.clone(),
                    instances: st.instances,
                    syntax,
                    patient: one_line_text(
                        cx,
                        &format!("{here}: study.patient"),
                        st.patient.as_ref(),
                    )
                    .unwrap_or_else(|| "DOE^JANE".into()),
                    patient_id: one_line_text(
                        cx,
                        &format!("{here}: study.patient_id"),
                        st.patient_id.as_ref(),
                    )
                    .unwrap_or_else(|| "DR-0001".into()),
                    seed: st.seed.unwrap_or(1),
                    rows: st.rows.unwrap_or(512),
                    cols: st.cols.unwrap_or(512),
                },
            }
        }
        verb => {
            if s.study.is_some() {
                cx.at(
                    s.action.referenced,
                    format!("{here}: `study` does not apply to {verb}"),
                );
            }
            Action::Agent {
                verb: verb.to_string(),
                to,
                with,
            }
        }
    };
    Some(Step {
        index,
        id,
        node: s.node.value.clone(),
        action,
        via: s.via.as_ref().map(|v| v.value.clone()),
        expect,
    })
}

/// What the acting node must be for some actions: the pynetdicom modality runs echo and
/// store only; nmap actions need the toolbox image; `harvest` reads a `sniff` daemon's
/// capture; `arp-spoof` names its victim among the lab's modality and PACS nodes.
fn actor_fits(
    cx: &mut Ctx,
    here: &str,
    s: &RawStep,
    verb: &str,
    actor: Option<&NodeKind>,
    node_names: &[&str],
    nodes: &[Node],
) {
    let at = s.action.referenced;
    let name = &s.node.value;
    match actor {
        Some(NodeKind::Modality {
            implementation: crate::ModalityImpl::Pynetdicom,
            ..
        }) if !matches!(verb, "echo" | "store") => {
            cx.at(
                at,
                format!("{here}: modality `{name}` runs the paper's pynetdicom script, which does echo and store only, not `{verb}`"),
            )
            .hint = Some("use `impl: lab-agent` for this node".into());
        }
        Some(NodeKind::Attacker { image, daemon, .. }) => {
            if NMAP_ACTIONS.contains(&verb) && *image != crate::AttackerImage::Toolbox {
                cx.at(
                    at,
                    format!("{here}: `{verb}` runs nmap, which is in the toolbox image, not in attacker `{name}`'s"),
                )
                .hint = Some(format!("add `image: toolbox` to node `{name}`"));
            }
            if verb == "harvest" && daemon.as_ref().is_none_or(|d| d.action != "sniff") {
                cx.at(
                    at,
                    format!("{here}: `harvest` reads the attacker's own capture, but `{name}` captures nothing"),
                )
                .hint = Some(format!("add `daemon: {{ action: sniff }}` to node `{name}`"));
            }
        }
        _ => {}
    }
    if verb == "arp-spoof" {
        let victim = s
            .with
            .as_ref()
            .and_then(|w| w.value.get("victim"))
            .and_then(|v| v.as_str());
        let loc = s.with.as_ref().map(|w| w.referenced).unwrap_or(at);
        match victim {
            None => {
                cx.at(loc, format!("{here}: `arp-spoof` needs `with: {{ victim: <node> }}`, the node whose ARP cache is poisoned"))
                    .hint = Some("for example: with: { victim: modality }".into());
            }
            Some(v) => {
                let fits = nodes.iter().any(|n| {
                    n.name == v
                        && matches!(n.kind, NodeKind::Modality { .. } | NodeKind::Orthanc { .. })
                });
                if !fits {
                    cx.at(
                        loc,
                        format!(
                            "{here}: the victim `{v}` is not a modality or PACS node of the lab"
                        ),
                    )
                    .hint = Some(format!("nodes are: {}", or_none(node_names)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_become_flags_in_a_stable_order() {
        let with: BTreeMap<String, Value> = serde_json::from_str(
            r#"{"random_probe": true, "called": ["ORTHANC", "PACS"], "max": 50, "delay_ms": 0}"#,
        )
        .unwrap();
        assert_eq!(
            agent_flags("aet-scan", &with),
            [
                "--called",
                "ORTHANC,PACS",
                "--random-probe",
                "--max",
                "50",
                "--delay-ms",
                "0"
            ]
        );
        let with: BTreeMap<String, Value> =
            serde_json::from_str(r#"{"match": ["PatientName=*", "PatientID="]}"#).unwrap();
        assert_eq!(
            agent_flags("find", &with),
            ["--match", "PatientName=*", "--match", "PatientID="]
        );
    }
}
