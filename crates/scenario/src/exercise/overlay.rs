//! `overlay`: a submission read as data, only its editable fields entering the
//! instructor's lab; and `apply_solution`, the reference solution as a submission.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::{Problem, ScenarioError};
use crate::model::{ORTHANC_VERSIONS, Scenario};

use super::{Exercise, draws_for, valid_student_id};

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
                    .unwrap_or(ORTHANC_VERSIONS[0]);
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
            if field == "networks"
                && let Some(v) = &theirs
            {
                let ours: Vec<&str> = lab
                    .get("networks")
                    .and_then(Value::as_object)
                    .map(|m| m.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                chosen_networks(&edit.node, v, &ours).map_err(|(msg, hint)| one(msg, &hint))?;
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

/// A submission's `networks` for `node`: a non-empty list of the instructor's networks, each
/// once. The student places a node; they never create a network (the `networks:` section
/// is the instructor's, and every lab network is internal), so nothing they write reaches
/// the host or another lab.
fn chosen_networks(node: &str, v: &Value, ours: &[&str]) -> Result<(), (String, String)> {
    let hint = || format!("choose among this exercise's networks: {}", ours.join(", "));
    let Some(list) = v
        .as_array()
        .filter(|l| !l.is_empty() && l.len() <= ours.len())
    else {
        return Err((
            format!(
                "node `{node}`: `networks` must list between 1 and {} of the exercise's networks",
                ours.len()
            ),
            hint(),
        ));
    };
    let mut seen = Vec::new();
    for item in list {
        let name = item.as_str().unwrap_or_default();
        if !ours.contains(&name) {
            let shown = item
                .as_str()
                .map_or_else(|| item.to_string(), str::to_string);
            return Err((
                format!("node `{node}` joins network `{shown}`, which this exercise does not have"),
                hint(),
            ));
        }
        if seen.contains(&name) {
            return Err((
                format!("node `{node}` joins network `{name}` twice"),
                hint(),
            ));
        }
        seen.push(name);
    }
    Ok(())
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
