//! Parameters: declared in the file's `params` section, overridden with `-p key=value`,
//! substituted wherever `${params.key}` appears, before the strict parse.
//!
//! Substitution is textual so that a parameter may stand anywhere a scalar may. To keep it
//! from changing the file's structure, a value may not hold quotes, backslashes, newlines
//! or `#`, and it is checked before it is put in.

use crate::raw::ParamDecl;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::error::{Problem, ScenarioError, did_you_mean};

#[derive(Debug, Deserialize)]
struct ParamsOnly {
    #[serde(default)]
    params: BTreeMap<String, Spanned<ParamDecl>>,
}

/// A lab's text once its parameters are in.
#[derive(Debug)]
pub(crate) struct Substituted {
    pub text: String,
    /// The value of every parameter.
    pub values: BTreeMap<String, String>,
    /// The parameters `lab pack` draws per student, and how (`per_student`).
    pub per_student: BTreeMap<String, String>,
}

/// Returns the text with every `${params.key}` replaced, and the value of every parameter.
pub(crate) fn substitute(
    file: &str,
    text: &str,
    overrides: &BTreeMap<String, String>,
) -> Result<Substituted, ScenarioError> {
    let mut problems = Vec::new();
    // A syntax error here is reported again, better located, by the strict parse; so on
    // failure carry on with no declarations and let that parse speak.
    let decls = match crate::raw::options()
        .map(|o| serde_saphyr::from_str_with_options::<ParamsOnly>(text, o))
    {
        Some(Ok(p)) => p.params,
        // Not even readable YAML: nothing can be substituted, and the strict parse will say
        // what is wrong, with its location.
        _ => {
            return Ok(Substituted {
                text: text.to_string(),
                values: BTreeMap::new(),
                per_student: BTreeMap::new(),
            });
        }
    };

    for key in overrides.keys() {
        if !decls.contains_key(key) {
            let mut p = Problem::new(
                file,
                format!("parameter `{key}` (set with -p) is not declared in this lab"),
            );
            p = match did_you_mean(key, decls.keys().map(String::as_str)) {
                Some(s) => p.hint(format!("did you mean `{s}`?")),
                None if decls.is_empty() => p.hint("this lab declares no parameters"),
                None => p.hint(format!("declared parameters: {}", join(decls.keys()))),
            };
            problems.push(p);
        }
    }

    let mut values = BTreeMap::new();
    for (key, decl) in &decls {
        let value = overrides
            .get(key)
            .cloned()
            .or_else(|| decl.value.default.clone());
        match value {
            Some(v) => {
                if let Err(why) = check_value(&v) {
                    problems.push(
                        Problem::at(
                            file,
                            decl.referenced,
                            format!("parameter `{key}` = {v:?}: {why}"),
                        )
                        .hint("use plain text: letters, digits, ^ . - _ / : and spaces"),
                    );
                }
                values.insert(key.clone(), v);
            }
            None => problems.push(
                Problem::at(
                    file,
                    decl.referenced,
                    format!("parameter `{key}` has no default and was not set"),
                )
                .hint(format!("give it a `default:` or run with -p {key}=VALUE")),
            ),
        }
    }

    let mut out = String::with_capacity(text.len());
    for (line_no, line) in text.split_inclusive('\n').enumerate() {
        // Comment lines are left alone: they may well talk about `${params.x}`.
        if line.trim_start().starts_with('#') {
            out.push_str(line);
            continue;
        }
        let mut rest = line;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let column = line.len() - rest.len() + start + 1;
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                problems.push(
                    located(file, line_no, column, "`${` without a closing `}`")
                        .hint("write a parameter as ${params.NAME}"),
                );
                out.push_str(&rest[start..]);
                rest = "";
                break;
            };
            let reference = &after[..end];
            match reference.strip_prefix("params.") {
                Some(key) if values.contains_key(key) => out.push_str(&values[key]),
                Some(key) if decls.contains_key(key) => {} // reported above: declared, unset
                Some(key) => {
                    let p = located(
                        file,
                        line_no,
                        column,
                        format!("parameter `{key}` is not declared"),
                    );
                    problems.push(match did_you_mean(key, decls.keys().map(String::as_str)) {
                        Some(s) => p.hint(format!("did you mean `{s}`?")),
                        None => p.hint(format!(
                            "declare it under `params:` (declared: {})",
                            join(decls.keys())
                        )),
                    });
                }
                None => problems.push(
                    located(
                        file,
                        line_no,
                        column,
                        format!("`${{{reference}}}` is not a parameter reference"),
                    )
                    .hint("write a parameter as ${params.NAME}"),
                ),
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
    }

    let per_student = decls
        .iter()
        .filter_map(|(k, d)| Some((k.clone(), d.value.per_student.as_ref()?.value.clone())))
        .collect();
    if problems.is_empty() {
        Ok(Substituted {
            text: out,
            values,
            per_student,
        })
    } else {
        Err(ScenarioError { problems })
    }
}

fn located(file: &str, line_no: usize, column: usize, message: impl Into<String>) -> Problem {
    let mut p = Problem::new(file, message);
    p.line = Some(line_no as u64 + 1);
    p.column = Some(column as u64);
    p
}

fn check_value(v: &str) -> Result<(), &'static str> {
    if v.len() > 256 {
        return Err("longer than 256 characters");
    }
    if v.chars().any(|c| {
        c.is_control()
            || matches!(
                c,
                '"' | '\''
                    | '\\'
                    | '#'
                    | '{'
                    | '}'
                    | '['
                    | ']'
                    | ','
                    | '&'
                    | '*'
                    | '!'
                    | '|'
                    | '>'
                    | '%'
                    | '@'
                    | '`'
            )
    }) {
        return Err("holds a character that could change the file's structure");
    }
    if v.contains(": ") || v.starts_with(['-', '?', ' ']) || v.ends_with(' ') {
        return Err("could be read as YAML structure");
    }
    Ok(())
}

fn join<'a>(keys: impl Iterator<Item = &'a String>) -> String {
    let v: Vec<&str> = keys.map(String::as_str).collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAB: &str = "params:\n  patient: { default: \"DOE^JANE\" }\nx: \"${params.patient}\"\n";

    #[test]
    fn default_then_override() {
        let Substituted {
            text: t, values: v, ..
        } = substitute("f", LAB, &BTreeMap::new()).unwrap();
        assert!(t.contains("x: \"DOE^JANE\""));
        assert_eq!(v["patient"], "DOE^JANE");
        let o = BTreeMap::from([("patient".to_string(), "ROE^RICHARD".to_string())]);
        let t = substitute("f", LAB, &o).unwrap().text;
        assert!(t.contains("x: \"ROE^RICHARD\""));
    }

    #[test]
    fn undeclared_reference_is_located() {
        let err = substitute("f", "params: {}\nx: ${params.nope}\n", &BTreeMap::new()).unwrap_err();
        assert_eq!(err.problems.len(), 1);
        assert_eq!(
            (err.problems[0].line, err.problems[0].column),
            (Some(2), Some(4))
        );
    }

    #[test]
    fn undeclared_override_and_structural_value_are_errors() {
        let o = BTreeMap::from([("patiant".to_string(), "A".to_string())]);
        let err = substitute("f", LAB, &o).unwrap_err();
        assert!(err.problems[0].hint.as_deref().unwrap().contains("patient"));
        let o = BTreeMap::from([("patient".to_string(), "A\"\nevil: 1".to_string())]);
        assert!(substitute("f", LAB, &o).is_err());
    }
}
