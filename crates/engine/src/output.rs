//! What the CLI writes that is not a run directory: the files a user asks for (scores,
//! JUnit, SARIF, JSON), each written whole or not at all, and engine values as JSON text.

use std::path::Path;

use crate::EngineError;

/// Writes a file the user asked for (scores, JUnit, JSON) whole or not at all.
pub fn write_output(path: &Path, body: String) -> Result<(), EngineError> {
    // The error names the file already.
    report::write_atomic(path, body.as_bytes()).map_err(|source| EngineError::Io {
        what: "saving output".into(),
        source,
    })
}

/// `value` as one line of JSON (`lab status --json`, `lab list --json`).
pub fn json_line(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).expect("json")
}

/// `value` as indented JSON (`lab show --json`, `lab schema`).
pub fn json_pretty(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value).expect("json")
}
