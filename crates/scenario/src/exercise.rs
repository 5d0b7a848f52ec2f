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

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{Problem, ScenarioError, did_you_mean};
use crate::raw::RawLab;
use crate::tree::{self, YKind, YNode};
use crate::validate::{Ctx, Node, NodeKind, Scenario, Variant};

/// Node fields an exercise may hand to students.
pub const EDITABLE_FIELDS: &[&str] = &["config", "tls", "aet", "version", "verbose", "lua"];
/// How a parameter can be drawn per student (`params.<name>.per_student`).
pub const DRAWS: &[&str] = &["patient-name", "patient-id", "ae-title", "secret", "port"];
/// What a student id may look like (it names files and runs).
pub const STUDENT_ID: &str = "^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$";

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
        NodeKind::Orthanc { .. } => &["config", "tls", "aet", "version", "verbose", "lua"],
        NodeKind::Modality { .. } => &["tls", "aet"],
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
const FAMILY: &[&str] = &[
    "ABARA",
    "BELTRAN",
    "CASTELLO",
    "DUVAL",
    "EKWUEME",
    "FONTAINE",
    "GALLO",
    "HALVORSEN",
    "IBARRA",
    "JANSSEN",
    "KOWALCZYK",
    "LINDQVIST",
    "MORETTI",
    "NAKASHIMA",
    "OKAFOR",
    "PELLETIER",
    "QUINTERO",
    "ROSSETTI",
    "SATO",
    "TAVARES",
    "URIBE",
    "VASQUEZ",
    "WINTERBOTTOM",
    "XAVIER",
    "YAMADA",
    "ZIELINSKI",
    "ACHTERBERG",
    "BRANDAO",
    "CIRILLO",
    "DRAGOMIR",
    "ESPOSITO",
    "FARKAS",
];
const GIVEN: &[&str] = &[
    "ADA", "BRUNO", "CLARA", "DMITRI", "ELENA", "FARID", "GRETA", "HUGO", "INES", "JONAS", "KAI",
    "LUCIA", "MATEO", "NINA", "OSKAR", "PALOMA", "QUENTIN", "ROSA", "SVEN", "TALIA", "UMBERTO",
    "VERA", "WANDA", "XENIA", "YUSUF", "ZOE", "AMARA", "BORIS", "CELINE", "DARIO",
];
const ALNUM: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// A parameter's value for one student: the same seed, student and parameter always give
/// the same value, and different students (almost always) different ones.
pub fn draw(seed: &str, student: &str, param: &str, how: &str) -> String {
    let mut h = Sha256::new();
    for part in [seed, student, param] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let d = h.finalize();
    let n = u64::from_le_bytes(d[..8].try_into().expect("8 bytes"));
    let chars = |count: usize, skip: usize| -> String {
        d[skip..skip + count]
            .iter()
            .map(|b| ALNUM[*b as usize % ALNUM.len()] as char)
            .collect()
    };
    match how {
        "patient-name" => format!(
            "{}^{}",
            FAMILY[(n % FAMILY.len() as u64) as usize],
            GIVEN[((n >> 20) % GIVEN.len() as u64) as usize]
        ),
        "patient-id" => format!("DR-{:06}", n % 1_000_000),
        "ae-title" => format!("MOD{}", chars(6, 8)),
        "secret" => chars(20, 8),
        "port" => (20_000 + n % 10_000).to_string(),
        other => unreachable!("per_student `{other}` passed the schema"),
    }
}

/// Every per-student parameter of an exercise, drawn for `student`.
pub fn draws_for(
    instructor: &Scenario,
    student: &str,
) -> Result<BTreeMap<String, String>, ScenarioError> {
    if instructor.per_student.is_empty() {
        return Ok(BTreeMap::new());
    }
    let Some(seed) = instructor.exercise.as_ref().and_then(|e| e.seed.as_deref()) else {
        return Err(ScenarioError::single(
            Problem::new(
                &instructor.file,
                "parameters are drawn per student, but the exercise has no `seed`",
            )
            .hint("add `exercise.seed: <a secret of yours>`; it makes the draws reproducible"),
        ));
    };
    Ok(instructor
        .per_student
        .iter()
        .map(|(k, how)| (k.clone(), draw(seed, student, k, how)))
        .collect())
}

/// One student's file: the instructor's text with the student's parameter values as
/// defaults, `exercise.student` set, and the hidden checks, the seed and the solution cut
/// out. Edited in place, so the instructor's comments and layout survive.
pub fn pack(
    instructor_text: &str,
    instructor: &Scenario,
    student: &str,
) -> Result<String, ScenarioError> {
    let fail = |msg: String| {
        ScenarioError::single(
            Problem::new(&instructor.file, msg)
                .hint("write the `params`, `checks` and `exercise` sections in block style"),
        )
    };
    if instructor.exercise.is_none() {
        return Err(ScenarioError::single(
            Problem::new(
                &instructor.file,
                "this lab is not an exercise; there is nothing to pack",
            )
            .hint("exercises have `variant: exercise` and an `exercise:` section"),
        ));
    }
    if !valid_student_id(student) {
        return Err(ScenarioError::single(
            Problem::new(
                &instructor.file,
                format!("`{student}` is not a valid student id"),
            )
            .hint("letters, digits, '.', '_' and '-', at most 40, starting with a letter or digit"),
        ));
    }
    let values = draws_for(instructor, student)?;
    let root =
        tree::parse(instructor_text).ok_or_else(|| fail("the file does not parse".into()))?;
    let YKind::Map(sections) = &root.kind else {
        return Err(fail("the file is not a mapping".into()));
    };
    let lines = LineIndex::new(instructor_text);
    // Where the section after `key` starts: the end of everything `key` holds.
    let section_end = |key: &str| -> usize {
        let i = sections.iter().position(|(k, _)| scalar(k) == Some(key));
        i.and_then(|i| sections.get(i + 1))
            .map(|(k, _)| lines.start_of(k.line))
            .unwrap_or(instructor_text.len())
    };
    let mut edits: Vec<(usize, usize, String)> = Vec::new();

    if let Some(params) = entry(sections, "params").and_then(map_of) {
        for (name, value) in &values {
            let decl = params
                .iter()
                .find(|(k, _)| scalar(k) == Some(name))
                .and_then(|(_, v)| map_of(v));
            let default = decl.and_then(|d| d.iter().find(|(k, _)| scalar(k) == Some("default")));
            match default {
                Some((_, v)) if matches!(v.kind, YKind::Scalar(_)) => {
                    edits.push((v.start, v.end, format!("\"{value}\"")))
                }
                _ => {
                    return Err(fail(format!(
                        "parameter `{name}` is drawn per student but has no `default:` to replace"
                    )));
                }
            }
        }
    }

    if let Some(YNode {
        kind: YKind::Seq(items),
        ..
    }) = entry(sections, "checks")
    {
        let end = section_end("checks");
        for (i, item) in items.iter().enumerate() {
            let hidden = map_of(item)
                .and_then(|m| m.iter().find(|(k, _)| scalar(k) == Some("hidden")))
                .and_then(|(_, v)| scalar(v))
                == Some("true");
            if hidden {
                let next = items
                    .get(i + 1)
                    .map(|n| lines.start_of(n.line))
                    .unwrap_or(end);
                if next <= lines.start_of(item.line) {
                    return Err(fail("two checks share a line".into()));
                }
                edits.push((lines.start_of(item.line), next, String::new()));
            }
        }
    }

    let Some(exercise) = entry(sections, "exercise").and_then(map_of) else {
        return Err(fail("no `exercise:` mapping found".into()));
    };
    let ex_key_line = sections
        .iter()
        .find(|(k, _)| scalar(k) == Some("exercise"))
        .map(|(k, _)| k.line)
        .unwrap_or(0);
    let end = section_end("exercise");
    let mut student_done = false;
    for (i, (k, v)) in exercise.iter().enumerate() {
        if k.line == ex_key_line {
            return Err(fail(
                "the `exercise:` section is written on one line".into(),
            ));
        }
        let next = exercise
            .get(i + 1)
            .map(|(n, _)| lines.start_of(n.line))
            .unwrap_or(end);
        match scalar(k) {
            Some("seed" | "solution") => edits.push((lines.start_of(k.line), next, String::new())),
            Some("student") => {
                edits.push((v.start, v.end, format!("\"{student}\"")));
                student_done = true;
            }
            _ => {}
        }
    }
    if !student_done {
        let (first, _) = exercise
            .first()
            .ok_or_else(|| fail("`exercise:` is empty".into()))?;
        let at = lines.start_of(first.line);
        let indent = " ".repeat(first.column.saturating_sub(1) as usize);
        edits.push((at, at, format!("{indent}student: \"{student}\"\n")));
    }

    edits.sort_by_key(|(start, end, _)| (*start, *end));
    let mut out = String::with_capacity(instructor_text.len() + 512);
    let editable = instructor
        .exercise
        .as_ref()
        .map(|e| e.editable_paths().join(", "))
        .unwrap_or_default();
    out.push_str(&format!(
        "# Exercise `{}` for student {student}.\n# Edit only: {editable}.\n# Try it with `lab check <this file>`; hand in this file.\n",
        instructor.metadata.name
    ));
    let mut at = 0;
    for (start, end, with) in edits {
        if start < at {
            return Err(fail("overlapping edits while packing".into()));
        }
        out.push_str(&instructor_text[at..start]);
        out.push_str(&with);
        at = end;
    }
    out.push_str(&instructor_text[at..]);

    // The packed file must be a valid lab that keeps no instructor secret.
    let packed = crate::parse_str(&format!("{student}.yaml"), &out, &BTreeMap::new())?;
    let ex = packed.exercise.as_ref().expect("packed from an exercise");
    if packed.checks.iter().any(|c| c.hidden) || ex.seed.is_some() || ex.solution.is_some() {
        return Err(fail(
            "packing left an instructor secret in the student's file".into(),
        ));
    }
    if values.iter().any(|(k, v)| packed.params.get(k) != Some(v)) {
        return Err(fail("packing did not set every drawn parameter".into()));
    }
    Ok(out)
}

/// A submission, graded as data: the instructor's lab with the editable fields taken from
/// the student's file, and the student's parameter values drawn again from the seed (what
/// the student wrote in `params` does not count).
pub struct Graded {
    pub scenario: Scenario,
    pub student: String,
    /// Parts of the submission that differ from the instructor's lab outside what the
    /// student may edit: not used, reported so the student knows.
    pub ignored: Vec<String>,
}

/// Reads a submission against its exercise. `fallback_student` (the file's stem) names the
/// student when the file does not say.
pub fn overlay(
    instructor_text: &str,
    instructor: &Scenario,
    submission_file: &str,
    submission_text: &str,
    fallback_student: &str,
) -> Result<Graded, ScenarioError> {
    let Some(exercise) = &instructor.exercise else {
        return Err(ScenarioError::single(Problem::new(
            &instructor.file,
            "this lab is not an exercise; there is nothing to grade against",
        )));
    };
    // The submission is a lab of its own first: its problems are reported in its lines.
    let submitted = crate::parse_str(submission_file, submission_text, &BTreeMap::new())?;
    let one = |msg: String, hint: &str| {
        ScenarioError::single(Problem::new(submission_file, msg).hint(hint.to_string()))
    };
    if submitted.metadata.name != instructor.metadata.name {
        return Err(one(
            format!(
                "this file is lab `{}`, not the exercise `{}`",
                submitted.metadata.name, instructor.metadata.name
            ),
            "hand in the file you were given, edited",
        ));
    }
    let student = submitted
        .exercise
        .as_ref()
        .and_then(|e| e.student.clone())
        .unwrap_or_else(|| fallback_student.to_string());
    if !valid_student_id(&student) {
        return Err(one(
            format!("`{student}` is not a valid student id"),
            "set `exercise.student` to your id, as in the file you were given",
        ));
    }

    let mut lab = yaml_value(&instructor.file, instructor_text)?;
    let sub = yaml_value(submission_file, submission_text)?;
    for edit in &exercise.edits {
        for field in &edit.fields {
            let theirs = sub
                .pointer(&format!("/nodes/{}/{field}", edit.node))
                .cloned();
            // Keeping the instructor's version is always allowed; choosing another one
            // must pick from the exercise's list.
            let ours = lab.pointer(&format!("/nodes/{}/{field}", edit.node));
            if field == "version" && !edit.versions.is_empty() && theirs.as_ref() != ours {
                let v = theirs
                    .as_ref()
                    .and_then(Value::as_str)
                    .unwrap_or(crate::validate::ORTHANC_VERSIONS[0]);
                if !edit.versions.iter().any(|a| a == v) {
                    return Err(one(
                        format!(
                            "node `{}` asks for Orthanc version `{v}`, which this exercise does not allow",
                            edit.node
                        ),
                        &format!("allowed: {}", edit.versions.join(", ")),
                    ));
                }
            }
            let node = lab
                .pointer_mut(&format!("/nodes/{}", edit.node))
                .and_then(Value::as_object_mut)
                .expect("validated: the node exists");
            match theirs {
                Some(v) => node.insert(field.clone(), v),
                None => node.remove(field),
            };
        }
    }
    let ignored = ignored_changes(&lab, &sub, exercise);
    if let Some(ex) = lab.get_mut("exercise").and_then(Value::as_object_mut) {
        ex.insert("student".into(), Value::String(student.clone()));
    }
    let params = draws_for(instructor, &student)?;
    let text = serde_json::to_string_pretty(&lab).expect("a JSON value");
    let scenario = crate::parse_str(
        &format!("{submission_file} (graded as {})", instructor.file),
        &text,
        &params,
    )?;
    Ok(Graded {
        scenario,
        student,
        ignored,
    })
}

/// `target_text` (the instructor's lab, or a student's handout) with the reference
/// solution of the instructor's exercise applied, as lab text (JSON, which is YAML): what
/// `lab test` runs for an exercise, and what a perfect submission holds. The solution is
/// read unsubstituted, so `${params.x}` in it takes the target's (the student's) values.
pub fn apply_solution(
    target_text: &str,
    instructor_file: &str,
    instructor_text: &str,
) -> Result<String, ScenarioError> {
    let instructor = yaml_value(instructor_file, instructor_text)?;
    let solution = instructor
        .pointer("/exercise/solution")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            ScenarioError::single(
                Problem::new(instructor_file, "the exercise has no reference `solution`")
                    .hint("add `exercise.solution: { <node>: { <field>: <value> } }`"),
            )
        })?;
    let mut lab = yaml_value(instructor_file, target_text)?;
    for (node, fields) in solution {
        let target = lab
            .pointer_mut(&format!("/nodes/{node}"))
            .and_then(Value::as_object_mut)
            .ok_or_else(|| {
                ScenarioError::single(Problem::new(
                    instructor_file,
                    format!("the solution names node `{node}`, which the lab does not have"),
                ))
            })?;
        for (field, value) in fields.as_object().into_iter().flatten() {
            target.insert(field.clone(), value.clone());
        }
    }
    Ok(serde_json::to_string_pretty(&lab).expect("a JSON value"))
}

fn ignored_changes(lab: &Value, sub: &Value, exercise: &Exercise) -> Vec<String> {
    let mut out = Vec::new();
    for section in ["networks", "steps"] {
        if lab.get(section) != sub.get(section) {
            out.push(section.to_string());
        }
    }
    let public = |v: &Value| -> Vec<Value> {
        v.get("checks")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter(|c| c.get("hidden") != Some(&Value::Bool(true)))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    };
    if public(lab) != public(sub) {
        out.push("checks".into());
    }
    let empty = serde_json::Map::new();
    let nodes = |v: &Value| {
        v.get("nodes")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let (ours, theirs) = (nodes(lab), nodes(sub));
    for name in ours
        .keys()
        .chain(theirs.keys().filter(|k| !ours.contains_key(*k)))
    {
        let a = ours.get(name).and_then(Value::as_object).unwrap_or(&empty);
        let b = theirs
            .get(name)
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        if !theirs.contains_key(name) || !ours.contains_key(name) {
            out.push(format!("nodes.{name}"));
            continue;
        }
        let editable: &[String] = exercise
            .edits
            .iter()
            .find(|e| &e.node == name)
            .map(|e| e.fields.as_slice())
            .unwrap_or(&[]);
        for field in a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))) {
            if !editable.contains(field) && a.get(field) != b.get(field) {
                out.push(format!("nodes.{name}.{field}"));
            }
        }
    }
    out
}

/// A lab file as plain data, under the same limits as the strict parse.
fn yaml_value(file: &str, text: &str) -> Result<Value, ScenarioError> {
    let opts = crate::raw::options().expect("static options");
    serde_saphyr::from_str_with_options::<Value>(text, opts)
        .map_err(|e| ScenarioError::single(Problem::new(file, format!("reading the file: {e}"))))
}

fn scalar(n: &YNode) -> Option<&str> {
    match &n.kind {
        YKind::Scalar(s) => Some(s),
        _ => None,
    }
}

fn map_of(n: &YNode) -> Option<&[(YNode, YNode)]> {
    match &n.kind {
        YKind::Map(m) => Some(m),
        _ => None,
    }
}

fn entry<'a>(map: &'a [(YNode, YNode)], key: &str) -> Option<&'a YNode> {
    map.iter()
        .find(|(k, _)| scalar(k) == Some(key))
        .map(|(_, v)| v)
}

/// Byte offset of each line's start (lines counted from 1, as the parser does).
struct LineIndex(Vec<usize>);

impl LineIndex {
    fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex(starts)
    }

    fn start_of(&self, line: u64) -> usize {
        let i = (line as usize).saturating_sub(1);
        self.0
            .get(i)
            .copied()
            .unwrap_or(*self.0.last().unwrap_or(&0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
