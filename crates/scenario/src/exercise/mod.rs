//! Exercises: labs a student makes pass by editing the parts the instructor names.
//!
//! An exercise is a lab with `variant: exercise` and an `exercise:` section: what the
//! student may edit (`edit`), the reference solution and the seed of per-student values
//! (both for the instructor only), and checks, some of them `hidden`. Three operations live
//! here, all on text and data, never on Docker:
//! - [`draw`]: a parameter's value for one student, reproducible from the seed;
//! - [`pack`]: the instructor's file turned into one student's file, edited in place so the
//!   instructor's comments survive, without hidden checks, seed or solution;
//! - [`overlay`]: a submission graded as data: only the editable fields are taken from it
//!   and put into the instructor's lab; everything else (steps, attacks, checks, images) is
//!   the instructor's.
//!
//! This file holds the section's model and its validation; `draw`, `pack` and `overlay`
//! the three operations.

mod draw;
mod overlay;
mod pack;

pub use draw::{draw, draws_for};
pub use overlay::{Graded, apply_solution, overlay};
pub use pack::pack;

/// The section's types live with the rest of the typed lab (`model`).
pub use crate::model::{Edit, Exercise};

use crate::context::Ctx;
use crate::error::{Problem, did_you_mean};
use crate::model::{Node, NodeKind, Variant};
use crate::raw::RawLab;
use crate::tree::{YKind, YNode};

/// Node fields an exercise may hand to students, by node kind. What a submission can
/// reach through each is in docs/instructors.md; `networks` only among the instructor's
/// own networks (checked by `overlay`), `rules` only the IDS's rules and thresholds.
const PACS_FIELDS: &[&str] = &[
    "config", "tls", "aet", "version", "verbose", "lua", "networks",
];
const MODALITY_FIELDS: &[&str] = &["tls", "aet", "networks"];
const IDS_FIELDS: &[&str] = &["rules"];
/// Every field any node kind may hand out (for the schema).
pub const EDITABLE_FIELDS: &[&str] = &[
    "config", "tls", "aet", "version", "verbose", "lua", "networks", "rules",
];
/// How a parameter can be drawn per student (`params.<name>.per_student`).
pub const DRAWS: &[&str] = &["patient-name", "patient-id", "ae-title", "secret", "port"];
/// What a student id may look like (it names files and runs).
pub const STUDENT_ID: &str = "^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$";

impl Exercise {
    /// `nodes.<node>.<field>` for every editable field, for messages.
    pub fn editable_paths(&self) -> Vec<String> {
        self.edits
            .iter()
            .flat_map(|e| {
                e.fields
                    .iter()
                    .map(move |f| format!("nodes.{}.{f}", e.node))
            })
            .collect()
    }
}

fn fields_of(kind: &NodeKind) -> &'static [&'static str] {
    match kind {
        NodeKind::Orthanc { .. } => PACS_FIELDS,
        NodeKind::Modality { .. } => MODALITY_FIELDS,
        NodeKind::Ids { .. } => IDS_FIELDS,
        _ => &[],
    }
}

pub fn valid_student_id(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.len() <= 40
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Stage two for the `exercise:` section and the check fields only exercises use.
pub(crate) fn validate(
    cx: &mut Ctx,
    raw: &RawLab,
    variant: Variant,
    nodes: &[Node],
) -> Option<Exercise> {
    if variant != Variant::Exercise {
        for c in raw.checks.iter().filter(|c| c.hidden == Some(true)) {
            cx.at(
                c.id.referenced,
                format!(
                    "check `{}` is hidden, but the lab is not an exercise",
                    c.id.value
                ),
            )
            .hint = Some("hidden checks belong to exercises (`variant: exercise`)".into());
        }
    }
    let Some(ex) = &raw.exercise else {
        if variant == Variant::Exercise {
            cx.at(
                raw.metadata.variant.referenced,
                "an exercise needs an `exercise:` section saying what the student edits",
            )
            .hint = Some("add `exercise: { brief: ..., edit: [{ node: pacs, fields: [config] }] }`; see docs/instructors.md".into());
        }
        return None;
    };
    if variant != Variant::Exercise {
        cx.at(
            ex.referenced,
            "an `exercise:` section makes this lab an exercise",
        )
        .hint = Some("set `metadata.variant: exercise`".into());
    }
    let ex = &ex.value;
    if ex.edit.is_empty() {
        cx.problems.push(
            Problem::new(cx.file, "the exercise gives the student nothing to edit")
                .hint("list at least one node and its fields under `exercise.edit`"),
        );
    }
    let node_names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    let mut edits: Vec<Edit> = Vec::new();
    for e in &ex.edit {
        let e = &e.value;
        let Some(node) = nodes.iter().find(|n| n.name == e.node.value) else {
            let p = cx.at(
                e.node.referenced,
                format!(
                    "exercise.edit names node `{}`, which the lab does not have",
                    e.node.value
                ),
            );
            p.hint = Some(
                match did_you_mean(&e.node.value, node_names.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("nodes: {}", node_names.join(", ")),
                },
            );
            continue;
        };
        if edits.iter().any(|x| x.node == node.name) {
            cx.at(
                e.node.referenced,
                format!("node `{}` is listed twice in exercise.edit", node.name),
            )
            .hint = Some("list all its fields in one entry".into());
        }
        let allowed = fields_of(&node.kind);
        for f in &e.fields {
            if !allowed.contains(&f.value.as_str()) {
                cx.at(
                    f.referenced,
                    format!(
                        "`{}` of node `{}` cannot be handed to students",
                        f.value, node.name
                    ),
                )
                .hint = Some(if allowed.is_empty() {
                    format!("a {} node has no editable fields", node.kind_name())
                } else {
                    format!(
                        "editable on a {} node: {}",
                        node.kind_name(),
                        allowed.join(", ")
                    )
                });
            }
        }
        let fields: Vec<String> = e.fields.iter().map(|f| f.value.clone()).collect();
        if let Some(v) = &e.versions
            && !fields.iter().any(|f| f == "version")
            && let Some(first) = v.first()
        {
            cx.at(first.referenced, "`versions` limits an editable `version`")
                .hint = Some("add `version` to `fields`, or remove `versions`".into());
        }
        edits.push(Edit {
            node: node.name.clone(),
            fields,
            versions: e
                .versions
                .iter()
                .flatten()
                .map(|v| v.value.clone())
                .collect(),
        });
    }
    if let Some(sol) = &ex.solution {
        for (node, fields) in &sol.value {
            match edits.iter().find(|e| &e.node == node) {
                None => {
                    cx.at(
                        sol.referenced,
                        format!("the solution changes node `{node}`, which students cannot edit"),
                    )
                    .hint = Some("a solution may only set what `exercise.edit` hands out".into());
                }
                Some(edit) => {
                    for f in fields.keys().filter(|f| !edit.fields.contains(f)) {
                        cx.at(
                            sol.referenced,
                            format!("the solution sets `{f}` of node `{node}`, which students cannot edit"),
                        )
                        .hint = Some(format!("editable: {}", edit.fields.join(", ")));
                    }
                }
            }
        }
    }
    if let Some(s) = &ex.student
        && !valid_student_id(&s.value)
    {
        cx.at(
            s.referenced,
            format!("`{}` is not a valid student id", s.value),
        )
        .hint = Some("letters, digits, '.', '_' and '-', at most 40".into());
    }
    Some(Exercise {
        brief: ex.brief.clone(),
        edits,
        solution: ex.solution.as_ref().map(|s| s.value.clone()),
        seed: ex.seed.as_ref().map(|s| s.value.clone()),
        student: ex.student.as_ref().map(|s| s.value.clone()),
    })
}

impl Node {
    fn kind_name(&self) -> &'static str {
        match self.kind {
            NodeKind::Orthanc { .. } => "orthanc",
            NodeKind::Modality { .. } => "modality",
            NodeKind::Attacker { .. } => "attacker",
            NodeKind::Sniffer { .. } => "sniffer",
            NodeKind::Ids { .. } => "ids",
        }
    }
}

// Synthetic names only: never real people.

pub(super) fn scalar(n: &YNode) -> Option<&str> {
    match &n.kind {
        YKind::Scalar(s) => Some(s),
        _ => None,
    }
}

pub(super) fn map_of(n: &YNode) -> Option<&[(YNode, YNode)]> {
    match &n.kind {
        YKind::Map(m) => Some(m),
        _ => None,
    }
}

pub(super) fn entry<'a>(map: &'a [(YNode, YNode)], key: &str) -> Option<&'a YNode> {
    map.iter()
        .find(|(k, _)| scalar(k) == Some(key))
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Scenario;
    use std::collections::BTreeMap;

    #[test]
    fn draws_are_reproducible_and_differ_between_students() {
        let a = draw("s3cret", "alice", "patient", "patient-name");
        assert_eq!(a, draw("s3cret", "alice", "patient", "patient-name"));
        let names: std::collections::BTreeSet<String> = (0..20)
            .map(|i| draw("s3cret", &format!("s{i:02}"), "patient", "patient-name"))
            .collect();
        assert!(names.len() >= 15, "too many collisions: {names:?}");
        assert_ne!(a, draw("other-seed", "alice", "patient", "patient-name"));
        let aet = draw("s", "bob", "aet", "ae-title");
        assert!(aet.len() <= 16 && aet.starts_with("MOD"), "{aet}");
        let port: u16 = draw("s", "bob", "p", "port").parse().unwrap();
        assert!((20_000..30_000).contains(&port));
        assert_eq!(draw("s", "bob", "k", "secret").len(), 20);
    }

    const EXERCISE: &str = r#"apiVersion: dicom-range/v1
kind: Lab
metadata:
  name: ex
  title: An exercise
  threat: insufficient-training
  variant: exercise
params:
  patient:
    default: "DOE^JANE"
    per_student: patient-name
exercise:
  brief: Secure it.
  edit:
    - node: pacs
      fields: [config, version]
      versions: ["1.12.7"]
  solution:
    pacs: { version: "1.12.7" }
  seed: "s3cret"
networks:
  clinical: {}
nodes:
  pacs: { kind: orthanc, aet: ORTHANC, networks: [clinical] }
  modality: { kind: modality, networks: [clinical] }
steps:
  - node: modality
    action: store
    to: pacs
    study: { modality: XA, patient: "${params.patient}" }
checks:
  - { id: stored, kind: pacs.instances, equals: 1 }
  - { id: secret-check, kind: pacs.instances, equals: 1, hidden: true, points: 3 }
"#;

    fn instructor() -> Scenario {
        crate::parse_str("ex.yaml", EXERCISE, &BTreeMap::new()).unwrap()
    }

    #[test]
    fn pack_then_overlay_round_trip() {
        let lab = instructor();
        let packed = pack(EXERCISE, &lab, "s01").unwrap();
        assert!(
            !packed.contains("secret-check") && !packed.contains("s3cret"),
            "{packed}"
        );
        let want = draw("s3cret", "s01", "patient", "patient-name");
        assert!(packed.contains(&format!("default: \"{want}\"")), "{packed}");

        // Untouched: graded as the instructor's lab, with the student's patient.
        let g = overlay(EXERCISE, &lab, "s01.yaml", &packed, "fallback").unwrap();
        assert_eq!(g.student, "s01");
        assert!(g.ignored.is_empty(), "{:?}", g.ignored);
        assert_eq!(g.scenario.params["patient"], want);
        assert!(
            g.scenario
                .checks
                .iter()
                .any(|c| c.id == "secret-check" && c.hidden)
        );

        // The solution, applied to the handout, asks for the allowed version.
        let solved = apply_solution(&packed, "ex.yaml", EXERCISE).unwrap();
        let g = overlay(EXERCISE, &lab, "s01.yaml", &solved, "fallback").unwrap();
        let version = g.scenario.nodes.iter().find_map(|n| match &n.kind {
            NodeKind::Orthanc { version, .. } => Some(version.clone()),
            _ => None,
        });
        assert_eq!(version.as_deref(), Some("1.12.7"));
    }

    #[test]
    fn overlay_refuses_a_version_the_exercise_does_not_allow() {
        let lab = instructor();
        let packed = pack(EXERCISE, &lab, "s01").unwrap();
        let other = packed.replace(
            "pacs: { kind: orthanc, aet: ORTHANC,",
            "pacs: { kind: orthanc, version: \"1.10.1\", aet: ORTHANC,",
        );
        assert_ne!(other, packed);
        let err = overlay(EXERCISE, &lab, "s01.yaml", &other, "s01")
            .err()
            .unwrap();
        let text = err.to_string();
        assert!(
            text.contains("does not allow") && text.contains("1.12.7"),
            "{text}"
        );
    }

    #[test]
    fn overlay_takes_only_editable_fields_and_names_the_rest() {
        let lab = instructor();
        let packed = pack(EXERCISE, &lab, "s01").unwrap();
        let tampered = packed
            .replace("aet: ORTHANC", "aet: EVIL")
            .replace("equals: 1 }", "equals: 0 }")
            .replace("student: \"s01\"", "student: \"s02\"");
        let g = overlay(EXERCISE, &lab, "x.yaml", &tampered, "x").unwrap();
        assert_eq!(g.student, "s02");
        assert_eq!(g.ignored, ["checks", "nodes.pacs.aet"]);
        assert_eq!(
            g.scenario
                .nodes
                .iter()
                .find(|n| n.name == "pacs")
                .unwrap()
                .aet(),
            Some("ORTHANC")
        );
        // s02's values, drawn again, not what the file says.
        assert_eq!(
            g.scenario.params["patient"],
            draw("s3cret", "s02", "patient", "patient-name")
        );

        let wrong_lab = packed.replace("name: ex", "name: other");
        let err = overlay(EXERCISE, &lab, "x.yaml", &wrong_lab, "x")
            .err()
            .unwrap();
        assert!(err.to_string().contains("not the exercise `ex`"), "{err}");
    }

    #[test]
    fn networks_and_ids_rules_are_editable_within_the_instructors_bounds() {
        let ex = EXERCISE
            .replace(
                "      fields: [config, version]\n      versions: [\"1.12.7\"]\n",
                "      fields: [networks]\n    - node: modality\n      fields: [networks]\n    - node: ids\n      fields: [rules]\n",
            )
            .replace("    pacs: { version: \"1.12.7\" }\n", "    pacs: { networks: [clinical] }\n")
            .replace("  clinical: {}\n", "  clinical: {}\n  guest: {}\n")
            .replace(
                "  modality: { kind: modality, networks: [clinical] }\n",
                "  modality: { kind: modality, networks: [guest] }\n  ids: { kind: ids, tap: clinical, rules: { phi-in-clear: 1 } }\n",
            );
        let lab = crate::parse_str("ex.yaml", &ex, &BTreeMap::new()).unwrap();
        let packed = pack(&ex, &lab, "s01").unwrap();
        let graded = |text: &str| overlay(&ex, &lab, "x.yaml", text, "x");
        let g = graded(
            &packed
                .replace("networks: [guest] }", "networks: [clinical] }")
                .replace(
                    "rules: { phi-in-clear: 1 }",
                    "rules: { aet-brute-force: 5, association-flood: 50 }",
                ),
        )
        .unwrap();
        let node = |name: &str| g.scenario.nodes.iter().find(|n| n.name == name).unwrap();
        assert_eq!(node("modality").networks(), ["clinical"]);
        let NodeKind::Ids { rules, .. } = &node("ids").kind else {
            panic!()
        };
        assert_eq!(
            rules.as_deref(),
            Some(
                &[
                    (protocol::IdsRule::AetBruteForce, 5),
                    (protocol::IdsRule::AssociationFlood, 50)
                ][..]
            )
        );
        // A network of the student's own making is refused, even one they declared.
        let own = packed
            .replace("  guest: {}\n", "  guest: {}\n  mine: {}\n")
            .replace("networks: [guest] }", "networks: [mine] }");
        let err = graded(&own).err().unwrap().to_string();
        assert!(
            err.contains("`mine`") && err.contains("clinical, guest"),
            "{err}"
        );
        let err = graded(&packed.replace("networks: [guest] }", "networks: [] }"))
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("x.yaml:") && err.contains("joins no network"),
            "{err}"
        );
        // Rules are checked where the student wrote them.
        let err = graded(&packed.replace("phi-in-clear: 1", "phi-in-clear: 0, ftp-login: 3"))
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("x.yaml:")
                && err.contains("ftp-login")
                && err.contains("phi-in-clear: 0 is out of range"),
            "{err}"
        );
        // The sniffer's or an attacker's placement stays the instructor's.
        let bad = ex.replace("      fields: [networks]\n    - node: modality", "      fields: [networks]\n    - node: ids\n      fields: [networks]\n    - node: modality");
        let err = crate::parse_str("ex.yaml", &bad, &BTreeMap::new())
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("`networks` of node `ids` cannot be handed to students"),
            "{err}"
        );
    }

    #[test]
    fn pack_refuses_an_exercise_section_on_one_line() {
        let flow = EXERCISE.replace(
            "exercise:\n  brief: Secure it.\n  edit:\n    - node: pacs\n      fields: [config, version]\n      versions: [\"1.12.7\"]\n  solution:\n    pacs: { version: \"1.12.7\" }\n  seed: \"s3cret\"\n",
            "exercise: { brief: Secure it., seed: s3cret, edit: [{ node: pacs, fields: [config] }] }\n",
        );
        assert_ne!(flow, EXERCISE);
        let lab = crate::parse_str("ex.yaml", &flow, &BTreeMap::new()).unwrap();
        let err = pack(&flow, &lab, "s01").err().unwrap();
        assert!(err.to_string().contains("block style"), "{err}");
    }

    #[test]
    fn student_ids() {
        assert!(valid_student_id("s001"));
        assert!(valid_student_id("jane.doe-2"));
        assert!(!valid_student_id("../etc"));
        assert!(!valid_student_id(""));
        assert!(!valid_student_id(&"a".repeat(41)));
    }
}
