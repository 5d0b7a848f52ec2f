//! `pack`: the instructor's file turned into one student's, edited in place (byte offsets
//! of the located tree) so the instructor's comments and layout survive.

use std::collections::BTreeMap;

use crate::error::{Problem, ScenarioError};
use crate::model::Scenario;
use crate::schema::SCHEMA_FILE;
use crate::tree::{self, YKind, YNode};

use super::{draws_for, entry, map_of, scalar, valid_student_id};

/// The comment that tells YAML editors (yaml-language-server) which schema a file follows.
const MODELINE: &str = "# yaml-language-server:";

/// One student's file: the instructor's text with the student's parameter values as
/// defaults, `exercise.student` set, the hidden checks, the seed and the solution cut out,
/// and a schema modeline naming [`SCHEMA_FILE`] in the same folder. Edited in place, so the instructor's comments and layout survive.
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

    // The instructor's schema modeline points into the project's docs/, which the student
    // does not have; the header's own points at the copy `lab pack` writes beside the file.
    let mut at = 0;
    for line in instructor_text.split_inclusive('\n') {
        let t = line.trim_start();
        if !(t.starts_with('#') || t.is_empty()) {
            break;
        }
        if t.starts_with(MODELINE) {
            edits.push((at, at + line.len(), String::new()));
        }
        at += line.len();
    }

    edits.sort_by_key(|(start, end, _)| (*start, *end));
    let mut out = String::with_capacity(instructor_text.len() + 512);
    let editable = instructor
        .exercise
        .as_ref()
        .map(|e| e.editable_paths().join(", "))
        .unwrap_or_default();
    out.push_str(&format!(
        "{MODELINE} $schema={SCHEMA_FILE}\n# Exercise `{}` for student {student}.\n# Edit only: {editable}.\n# Try it with `lab check <this file>`; hand in this file.\n",
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
