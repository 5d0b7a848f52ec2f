//! The lab scenario: what a lab file may say, and whether what it says makes sense.
//!
//! Owns the scenario format (`apiVersion: dicom-range/v1`): the raw YAML types parsed with
//! serde-saphyr under limits (`raw`), parameter substitution (`params`), and semantic
//! validation into the typed [`Scenario`] the engine runs (`validate`). Parsing goes in
//! two stages, as ripgrep does with its arguments: raw (shape only, every unknown key an
//! error) and then validated (references between nodes, networks, steps and checks).
//! Every problem carries the file, line and column and, where one helps, a hint; all the
//! problems of a file are reported together.
//!
//! It does not own how a lab is run (`engine`), how checks are graded (`checks`) or where
//! lab files are found on disk beyond reading one path (`engine::catalog`).

mod check_rules;
mod context;
mod error;
pub mod exercise;
pub mod limit_rules;
mod model;
mod params;
mod raw;
pub mod roster;
pub mod schema;
pub mod step_rules;
mod tree;
mod validate;
pub mod wireshark;

pub use error::{Problem, ScenarioError};
pub use limit_rules::NodeLimits;
pub use model::{
    Action, AttackerImage, Check, CheckKind, ClientTls, Daemon, DisplayFilter, Expectation,
    Metadata, ModalityImpl, Network, Node, NodeKind, ORTHANC_VERSIONS, PacsTls, Scenario,
    SignatureExpect, Step, StepExpect, Study, Syntax, Variant, Wireshark,
};

use std::collections::BTreeMap;
use std::path::Path;

/// The largest lab file accepted; real ones are a few kilobytes.
pub const MAX_FILE_BYTES: usize = 256 * 1024;

/// Reads, substitutes parameters in, parses and validates one lab file.
///
/// `overrides` are `-p key=value` settings; each must name a declared parameter.
pub fn load(path: &Path, overrides: &BTreeMap<String, String>) -> Result<Scenario, ScenarioError> {
    let file = path.display().to_string();
    let text = std::fs::read(path).map_err(|e| {
        ScenarioError::single(Problem::new(
            &file,
            format!("cannot read the lab file: {e}"),
        ))
    })?;
    if text.len() > MAX_FILE_BYTES {
        return Err(ScenarioError::single(Problem::new(
            &file,
            format!(
                "the file is {} bytes; a lab file may hold at most {MAX_FILE_BYTES}",
                text.len()
            ),
        )));
    }
    let text = String::from_utf8(text).map_err(|e| {
        ScenarioError::single(Problem::new(&file, format!("the file is not UTF-8: {e}")))
    })?;
    parse_str(&file, &text, overrides)
}

/// Parses and validates lab text; `file` names it in messages.
pub fn parse_str(
    file: &str,
    text: &str,
    overrides: &BTreeMap<String, String>,
) -> Result<Scenario, ScenarioError> {
    let params::Substituted {
        text: resolved_text,
        values: params,
        per_student,
    } = params::substitute(file, text, overrides)?;
    // Shape first, over a located tree, so every unknown key is reported at once; the
    // typed parse then stops at most at one remaining problem.
    let mut problems = tree::parse(&resolved_text)
        .map(|t| schema::lint(file, &t))
        .unwrap_or_default();
    let raw = match raw::parse(file, &resolved_text) {
        Ok(raw) => raw,
        // The lint has said it better (and all of it) when it found anything.
        Err(e) if problems.is_empty() => return Err(e),
        Err(_) => return Err(ScenarioError { problems }),
    };
    match validate::validate(file, raw, params, per_student, resolved_text) {
        Ok(s) if problems.is_empty() => Ok(s),
        Ok(_) => Err(ScenarioError { problems }),
        Err(e) => {
            // Both passes may see the same value (an unknown threat); say it once.
            for p in e.problems {
                if !problems
                    .iter()
                    .any(|q| q.line.is_some() && (q.line, q.column) == (p.line, p.column))
                {
                    problems.push(p);
                }
            }
            problems.sort_by_key(|p| (p.line, p.column));
            Err(ScenarioError { problems })
        }
    }
}

/// Reads a parameters file: a YAML mapping of parameter names to values.
pub fn load_params_file(path: &Path) -> Result<BTreeMap<String, String>, ScenarioError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        ScenarioError::single(Problem::new(
            &file,
            format!("cannot read the parameters file: {e}"),
        ))
    })?;
    if text.len() > MAX_FILE_BYTES {
        return Err(ScenarioError::single(Problem::new(
            &file,
            "the parameters file is too large",
        )));
    }
    let opts = raw::options().expect("static options");
    serde_saphyr::from_str_with_options::<BTreeMap<String, String>>(&text, opts).map_err(|e| {
        let mut p = Problem::new(
            &file,
            format!(
                "not a mapping of parameter names to values: {}",
                e.without_snippet()
            ),
        );
        if let Some(loc) = e.location() {
            p.line = Some(loc.line());
            p.column = Some(loc.column());
        }
        ScenarioError::single(p.hint("write one `name: value` per line, e.g. `patient: DOE^JOHN`"))
    })
}

/// Parses `key=value` as given to `-p`.
pub fn parse_override(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!(
            "`{s}` is not key=value (for example: -p patient=DOE^JOHN)"
        )),
    }
}
