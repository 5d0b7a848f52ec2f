//! Reports of a run, from its graded checks: `report.json` (versioned schema) and the
//! terminal summary.
//!
//! Owns the report document ([`RunReport`]) and how it is rendered. It does not grade
//! (that is `checks`) nor run anything; it can be rebuilt from a run directory at any time.

use std::fmt::Write as _;

use checks::{CheckResult, Outcome};
use serde::{Deserialize, Serialize};

/// Version of the `report.json` schema; bumped on any incompatible change.
pub const REPORT_SCHEMA: &str = "dicom-range/report/v1";

/// The verdict of a whole run, and its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Every check met its expectation (exit 0).
    Pass,
    /// At least one check did not (exit 1).
    Fail,
    /// The lab could not be run or graded (exit 2).
    Error,
}

impl Verdict {
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Pass => 0,
            Verdict::Fail => 1,
            Verdict::Error => 2,
        }
    }

    /// From check results: any error wins, then any unmet check.
    pub fn of(checks: &[CheckResult]) -> Verdict {
        if checks.iter().any(|c| c.outcome == Outcome::Error) {
            Verdict::Error
        } else if checks.iter().any(|c| c.outcome == Outcome::NotMet) {
            Verdict::Fail
        } else {
            Verdict::Pass
        }
    }
}

/// One step of the lab as it ran.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepRecord {
    pub index: usize,
    /// The step's id in the lab (`step-<index>` when the lab gives none).
    #[serde(default)]
    pub id: String,
    pub node: String,
    pub action: String,
    pub ok: bool,
    pub exit_code: i64,
    pub elapsed_ms: u64,
    /// The agent's JSON result line, when it printed one.
    pub result: Option<serde_json::Value>,
    /// Why it failed, in words.
    pub error: Option<String>,
}

/// `report.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunReport {
    pub schema: String,
    pub run_id: String,
    pub lab: String,
    pub title: String,
    pub threat: String,
    pub variant: String,
    pub mitre: Vec<String>,
    pub started_at: String,
    pub duration_s: f64,
    pub verdict: Verdict,
    /// Why the run could not complete, when it could not.
    pub error: Option<String>,
    pub steps: Vec<StepRecord>,
    pub checks: Vec<CheckResult>,
    /// Evidence files, relative to the run directory.
    pub evidence: Vec<String>,
}

/// A short summary for a terminal; `color` only when writing to a TTY.
pub fn terminal_summary(r: &RunReport, run_dir: &str, color: bool) -> String {
    let paint = |code: &str, s: &str| {
        if color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{} ({}, {}) run {}",
        r.lab, r.threat, r.variant, r.run_id
    );
    for s in &r.steps {
        let mark = if s.ok {
            paint("32", "ok  ")
        } else {
            paint("31", "FAIL")
        };
        let _ = writeln!(
            out,
            "  step {} {:<8} {} {:>6} ms{}",
            s.index,
            s.action,
            mark,
            s.elapsed_ms,
            s.error
                .as_ref()
                .map(|e| format!("  {e}"))
                .unwrap_or_default()
        );
    }
    let width = r.checks.iter().map(|c| c.id.len()).max().unwrap_or(0);
    for c in &r.checks {
        let mark = match c.outcome {
            Outcome::Met => paint("32", "met    "),
            Outcome::NotMet => paint("31", "NOT MET"),
            Outcome::Error => paint("33", "ERROR  "),
        };
        let mitre = c
            .mitre
            .as_ref()
            .map(|m| format!(" [{m}]"))
            .unwrap_or_default();
        let _ = writeln!(out, "  check {:<width$} {mark} {}{mitre}", c.id, c.observed);
        if c.outcome != Outcome::Met {
            let _ = writeln!(out, "  {:<width$}         expected: {}", "", c.expected);
        }
    }
    if let Some(e) = &r.error {
        let _ = writeln!(out, "  {} {e}", paint("31", "error:"));
    }
    let verdict = match r.verdict {
        Verdict::Pass => paint("1;32", "PASS"),
        Verdict::Fail => paint("1;31", "FAIL"),
        Verdict::Error => paint("1;33", "ERROR"),
    };
    let met = r
        .checks
        .iter()
        .filter(|c| c.outcome == Outcome::Met)
        .count();
    let _ = writeln!(
        out,
        "{verdict}: {met}/{} checks met in {:.1} s",
        r.checks.len(),
        r.duration_s
    );
    let _ = writeln!(
        out,
        "evidence: {run_dir}/ (capture.pcapng opens in Wireshark; report.json; logs/)"
    );
    out
}
