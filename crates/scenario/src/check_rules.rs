//! What a check may say, and whether it can be graded in this lab: the evidence it reads
//! must exist (a sniffer for capture checks, an IDS for alerts, the step it names).

use crate::context::{Ctx, or_none, reference};
use crate::model::{CHECK_KINDS, CheckKind, Expectation, Node, NodeKind, SignatureExpect, Step};
use crate::raw::{RawCheck, RawExpect};

pub(crate) fn check_kind(
    cx: &mut Ctx,
    c: &RawCheck,
    nodes: &[Node],
    steps: &[Step],
) -> Option<CheckKind> {
    if !cx.one_of("check kind", &c.kind, CHECK_KINDS.iter().copied()) {
        return None;
    }
    let id = c.id.value.as_str();
    let kind = c.kind.value.as_str();
    let node_names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    let of_kind = |f: fn(&NodeKind) -> bool| -> Vec<&str> {
        nodes
            .iter()
            .filter(|n| f(&n.kind))
            .map(|n| n.name.as_str())
            .collect()
    };
    let orthancs = of_kind(|k| matches!(k, NodeKind::Orthanc { .. }));
    if kind.starts_with("capture.") && of_kind(|k| matches!(k, NodeKind::Sniffer { .. })).is_empty()
    {
        cx.at(
            c.kind.referenced,
            format!("check `{id}` reads the capture, but the lab has no sniffer"),
        )
        .hint = Some("add a node `sniffer: { kind: sniffer, tap: <network> }`".into());
    }
    let outcome = |cx: &mut Ctx| -> Option<Expectation> {
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
    // The node a check looks at, of the kinds given; defaults to the only one.
    let node_of = |cx: &mut Ctx, candidates: &[&str], what: &str| -> Option<String> {
        match &c.node {
            Some(n) => {
                if reference(cx, n, &node_names, &format!("check `{id}`"))
                    && !candidates.contains(&n.value.as_str())
                {
                    cx.at(
                        n.referenced,
                        format!("check `{id}`: node `{}` is not {what}", n.value),
                    )
                    .hint = Some(format!("{what}: {}", or_none(candidates)));
                }
                Some(n.value.clone())
            }
            None if candidates.len() == 1 => Some(candidates[0].to_string()),
            None => {
                cx.at(
                    c.kind.referenced,
                    format!(
                        "check `{id}`: which node? add `node:` ({what}: {})",
                        or_none(candidates)
                    ),
                );
                None
            }
        }
    };
    match kind {
        "pacs.instances" => {
            let node = node_of(cx, &orthancs, "a PACS")?;
            let Some(equals) = c.equals else {
                cx.at(
                    c.kind.referenced,
                    format!("check `{id}` needs `equals: <count>`"),
                );
                return None;
            };
            Some(CheckKind::PacsInstances { node, equals })
        }
        "pacs.file_written" => {
            let node = node_of(cx, &orthancs, "a PACS")?;
            let Some(path) = c.path.clone().filter(|p| p.starts_with('/')) else {
                cx.at(
                    c.kind.referenced,
                    format!(
                        "check `{id}` needs `path: /absolute/path` (the file the attack writes)"
                    ),
                );
                return None;
            };
            Some(CheckKind::PacsFileWritten {
                node,
                path,
                expect: outcome(cx)?,
            })
        }
        "pacs.data_altered" => {
            let node = node_of(cx, &orthancs, "a PACS")?;
            Some(CheckKind::PacsDataAltered {
                node,
                expect: outcome(cx)?,
            })
        }
        "pacs.signatures" => {
            let node = node_of(cx, &orthancs, "a PACS")?;
            let expect = match c.expect.as_ref().map(|e| (&e.value, e.referenced)) {
                Some((RawExpect::One(s), loc)) => {
                    let found = SignatureExpect::ALL.into_iter().find(|e| e.name() == s);
                    if found.is_none() {
                        cx.at(
                            loc,
                            format!(
                                "check `{id}`: expect must be one of {}",
                                SignatureExpect::NAMES.join(", ")
                            ),
                        );
                    }
                    found?
                }
                Some((_, loc)) => {
                    cx.at(
                        loc,
                        format!(
                            "check `{id}`: expect must be one of {}",
                            SignatureExpect::NAMES.join(", ")
                        ),
                    );
                    return None;
                }
                None => {
                    cx.at(c.kind.referenced, format!("check `{id}` has no `expect`"))
                        .hint = Some(format!(
                        "write `expect: <{}>` (what every archived instance's signature is)",
                        SignatureExpect::NAMES.join("|")
                    ));
                    return None;
                }
            };
            Some(CheckKind::PacsSignatures { node, expect })
        }
        "attack.succeeded" => {
            let step = match &c.step {
                Some(s) if steps.iter().any(|x| x.id == s.value) => Some(s.value.clone()),
                Some(s) => {
                    let ids: Vec<&str> = steps.iter().map(|x| x.id.as_str()).collect();
                    cx.at(
                        s.referenced,
                        format!("check `{id}`: step `{}` is not defined", s.value),
                    )
                    .hint = Some(format!("step ids: {}", or_none(&ids)));
                    None
                }
                None => None,
            };
            let daemons = of_kind(|k| {
                matches!(
                    k,
                    NodeKind::Attacker {
                        daemon: Some(_),
                        ..
                    }
                )
            });
            let node = match (&step, &c.node) {
                (Some(_), None) => None,
                (None, Some(_)) => Some(node_of(cx, &daemons, "an attacker running a daemon")?),
                _ => {
                    cx.at(c.kind.referenced, format!("check `{id}` needs either `step: <step id>` or `node: <attacker with a daemon>`"));
                    return None;
                }
            };
            Some(CheckKind::AttackSucceeded {
                step,
                node,
                expect: outcome(cx)?,
            })
        }
        "ids.alerts" => {
            let ids = of_kind(|k| matches!(k, NodeKind::Ids { .. }));
            let node = node_of(cx, &ids, "an IDS")?;
            // Without `rule`, every alert counts; without `from`, every source.
            if let Some(rule) = &c.rule {
                cx.one_of("IDS rule", rule, ids_rule_names());
            }
            let from = c.from.as_ref().and_then(|f| {
                let talking =
                    of_kind(|k| !matches!(k, NodeKind::Sniffer { .. } | NodeKind::Ids { .. }));
                if !reference(cx, f, &node_names, &format!("check `{id}`")) {
                    return None;
                }
                if !talking.contains(&f.value.as_str()) {
                    cx.at(
                        f.referenced,
                        format!(
                            "check `{id}`: `{}` sends nothing an IDS could see (it is a tap)",
                            f.value
                        ),
                    )
                    .hint = Some(format!("nodes that send: {}", or_none(&talking)));
                }
                Some(f.value.clone())
            });
            if let (Some(min), Some(max)) = (c.min, c.max)
                && min > max
            {
                cx.at(
                    c.kind.referenced,
                    format!("check `{id}`: `min` ({min}) is more than `max` ({max})"),
                );
            }
            Some(CheckKind::IdsAlerts {
                node,
                rule: c.rule.as_ref().map(|r| r.value.clone()),
                from,
                // `max` alone (no false alerts: `max: 0`) asks for no minimum.
                min: c.min.unwrap_or(if c.max.is_some() { 0 } else { 1 }),
                max: c.max,
            })
        }
        "log.lines" => {
            let node = node_of(cx, &node_names, "a node")?;
            let Some(contains) = c.contains.clone().filter(|s| !s.is_empty()) else {
                cx.at(
                    c.kind.referenced,
                    format!("check `{id}` needs `contains: <text>`"),
                );
                return None;
            };
            if c.min.is_none() && c.max.is_none() {
                cx.at(
                    c.kind.referenced,
                    format!("check `{id}` needs `min:` and/or `max:` (how many lines)"),
                );
            }
            Some(CheckKind::LogLines {
                node,
                contains,
                min: c.min,
                max: c.max,
            })
        }
        "capture.phi_in_clear" => Some(CheckKind::PhiInClear {
            expect: outcome(cx)?,
        }),
        "capture.dicom_in_clear" => Some(CheckKind::DicomInClear {
            expect: outcome(cx)?,
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

pub(crate) fn ids_rule_names() -> Vec<&'static str> {
    protocol::IdsRule::ALL.iter().map(|r| r.name()).collect()
}
